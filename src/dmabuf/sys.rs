//! Every system call the dma-buf module makes, and all of its `unsafe`.
//!
//! Kernel interfaces: `include/uapi/linux/dma-buf.h` (`DMA_BUF_IOCTL_SYNC`),
//! `include/uapi/linux/magic.h` (`DMA_BUF_MAGIC`), and `dma_buf_llseek` /
//! `dma_buf_mmap_internal` in `drivers/dma-buf/dma-buf.c`.

use std::os::fd::BorrowedFd;
use std::ptr::{self, NonNull};

use rustix::fs::{FsWord, SeekFrom};
use rustix::io;
use rustix::ioctl::{Setter, ioctl, opcode};
use rustix::mm::{MapFlags, ProtFlags};

/// `f_type` of the dma-buf pseudo filesystem, as `fstatfs` reports it.
const DMA_BUF_MAGIC: FsWord = 0x444d_4142;

/// The filesystem magic of the file behind `fd` (`fstatfs(2)` `f_type`).
pub(super) fn fs_type(fd: BorrowedFd<'_>) -> io::Result<FsWord> {
    Ok(rustix::fs::fstatfs(fd)?.f_type)
}

/// Whether a filesystem magic is the dma-buf pseudo filesystem's.
pub(super) fn is_dmabuf_fs(fs_type: FsWord) -> bool {
    fs_type == DMA_BUF_MAGIC
}

/// Identity of the file behind `fd`: `(st_dev, st_ino)`. Two fds of the same
/// dma-buf (dups, or the same buffer sent twice) share it.
pub(super) fn inode(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    let stat = rustix::fs::fstat(fd)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Size in bytes of the buffer behind `fd`: `lseek(fd, 0, SEEK_END)`, which
/// `dma_buf_llseek` answers with the buffer's fixed size.
pub(super) fn size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    rustix::fs::seek(fd, SeekFrom::End(0))
}

bitflags::bitflags! {
    /// `struct dma_buf_sync.flags`. START is the absence of END.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(super) struct SyncFlags: u64 {
        /// `DMA_BUF_SYNC_READ`
        const READ = 1;
        /// `DMA_BUF_SYNC_WRITE`
        const WRITE = 2;
        /// `DMA_BUF_SYNC_END`
        const END = 4;
    }
}

/// `struct dma_buf_sync { __u64 flags; }`
#[repr(C)]
struct DmaBufSync {
    flags: u64,
}

/// `DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync)`
const DMA_BUF_IOCTL_SYNC: rustix::ioctl::Opcode = opcode::write::<DmaBufSync>(b'b', 0);

/// `ioctl(fd, DMA_BUF_IOCTL_SYNC, { flags })`: begins (no END flag) or ends
/// CPU access to the buffer behind `fd`. ENOTTY: `fd` is not a dma-buf.
pub(super) fn sync(fd: BorrowedFd<'_>, flags: SyncFlags) -> io::Result<()> {
    // SAFETY: DMA_BUF_IOCTL_SYNC is `_IOW('b', 0, struct dma_buf_sync)` and
    // `DmaBufSync` is that struct (`#[repr(C)]`, one `__u64`); the kernel only
    // reads it, for the duration of the call. `fd` is borrowed, so it stays
    // open until the call returns. On an fd that is not a dma-buf the opcode
    // is unknown and the kernel answers ENOTTY (or the driver's own
    // meaning of `('b', 0)`, which `DmabufParams::create` rules out by checking
    // `f_type` first).
    unsafe {
        ioctl(
            fd,
            Setter::<DMA_BUF_IOCTL_SYNC, _>::new(DmaBufSync {
                flags: flags.bits(),
            }),
        )
    }
}

/// A shared mapping of a whole dma-buf, or of a memfd sealed against
/// shrinking (`alloc::ShmFile`), unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    writable: bool,
}

// SAFETY: a `Mapping` owns its address range like a `Box<[u8]>` owns its
// allocation: nothing else in this process refers to it, and `munmap` may be
// called from any thread.
unsafe impl Send for Mapping {}
// SAFETY: `&Mapping` only hands out `&[u8]`; writing needs `&mut Mapping`.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0, `MAP_SHARED`, read-write; or
    /// read-only when the fd was not opened for writing (the kernel answers
    /// EACCES to `PROT_WRITE` on a shared mapping of such an fd).
    ///
    /// `len` must be the size [`size`] reported for `fd` (for a memfd: its
    /// size, sealed with `F_SEAL_SHRINK`), and non-zero.
    pub(crate) fn new(fd: BorrowedFd<'_>, len: usize) -> io::Result<Self> {
        match Self::map(fd, len, ProtFlags::READ | ProtFlags::WRITE) {
            Err(io::Errno::ACCESS) => Self::map(fd, len, ProtFlags::READ),
            other => other,
        }
    }

    fn map(fd: BorrowedFd<'_>, len: usize, prot: ProtFlags) -> io::Result<Self> {
        // SAFETY: a null hint without MAP_FIXED lets the kernel choose a free
        // range, so no existing mapping of this process is replaced. `fd` is
        // borrowed for the call; the mapping keeps its own reference to the
        // dma-buf file, so it stays valid after the caller closes the fd.
        let ptr = unsafe { rustix::mm::mmap(ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0)? };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(io::Errno::NOMEM)?;
        Ok(Self {
            ptr,
            len,
            writable: prot.contains(ProtFlags::WRITE),
        })
    }

    /// Whether the mapping was made with `PROT_WRITE`.
    pub(super) fn writable(&self) -> bool {
        self.writable
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr + len` is one live mapping owned by `self` (it is
        // unmapped only in `drop`), at least PROT_READ. A dma-buf's size is
        // fixed when it is exported and `len` is that size (`size`); a memfd
        // sealed with F_SEAL_SHRINK cannot be truncated below `len`; so no
        // page of the range can disappear and fault. The borrow of `self` keeps the mapping alive for the slice.
        // Another process (the client) may store to these pages meanwhile;
        // `DMA_BUF_IOCTL_SYNC` brackets and fences are the protocol that
        // orders such access, and a client breaking it makes us read torn
        // bytes (`u8` has no invalid values), never memory it does not own.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapped bytes, writable; `None` for a read-only mapping.
    pub(crate) fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        if !self.writable {
            return None;
        }
        // SAFETY: as in `bytes`; the range is PROT_WRITE (`writable`), and the
        // exclusive borrow of `self` makes this the only slice of it in this
        // process.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what `mmap` returned; the slices
        // handed out borrowed `self`, so none outlives this call.
        if let Err(err) = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) } {
            tracing::error!(?err, len = self.len, "munmap of a dma-buf mapping failed");
        }
    }
}
