//! The sync_file and dma-buf fence ioctls: all of the `unsafe` of [`crate::sync`].
//!
//! Struct layouts are copied from the kernel UAPI headers `<linux/dma-buf.h>`
//! and `<linux/sync_file.h>`; their sizes are asserted at compile time and the
//! opcodes are checked against the values the C headers produce in the tests
//! at the bottom of this file.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io;
use rustix::ioctl::{Opcode, Setter, Updater, ioctl, opcode};

/// `DMA_BUF_SYNC_READ` from `<linux/dma-buf.h>`.
pub(super) const DMA_BUF_SYNC_READ: u32 = 1;
/// `DMA_BUF_SYNC_WRITE` from `<linux/dma-buf.h>`.
pub(super) const DMA_BUF_SYNC_WRITE: u32 = 2;

/// `struct dma_buf_export_sync_file` from `<linux/dma-buf.h>`.
#[repr(C)]
struct DmaBufExportSyncFile {
    flags: u32,
    fd: i32,
}

/// `struct dma_buf_import_sync_file` from `<linux/dma-buf.h>`.
#[repr(C)]
struct DmaBufImportSyncFile {
    flags: u32,
    fd: i32,
}

/// `struct sync_merge_data` from `<linux/sync_file.h>`.
#[repr(C)]
struct SyncMergeData {
    name: [u8; 32],
    fd2: i32,
    fence: i32,
    flags: u32,
    pad: u32,
}

/// `struct sync_file_info` from `<linux/sync_file.h>`.
#[repr(C)]
#[derive(Default)]
pub(super) struct SyncFileInfo {
    pub(super) name: [u8; 32],
    pub(super) status: i32,
    flags: u32,
    num_fences: u32,
    pad: u32,
    sync_fence_info: u64,
}

/// `struct sync_fence_info` from `<linux/sync_file.h>`.
#[repr(C)]
#[derive(Clone, Default)]
pub(super) struct SyncFenceInfo {
    pub(super) obj_name: [u8; 32],
    pub(super) driver_name: [u8; 32],
    pub(super) status: i32,
    flags: u32,
    pub(super) timestamp_ns: u64,
}

const _: () = assert!(size_of::<DmaBufExportSyncFile>() == 8);
const _: () = assert!(size_of::<DmaBufImportSyncFile>() == 8);
const _: () = assert!(size_of::<SyncMergeData>() == 48);
const _: () = assert!(size_of::<SyncFileInfo>() == 56);
const _: () = assert!(size_of::<SyncFenceInfo>() == 80);

/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`: `_IOWR('b', 2, struct dma_buf_export_sync_file)`.
const DMA_BUF_IOCTL_EXPORT_SYNC_FILE: Opcode = opcode::read_write::<DmaBufExportSyncFile>(b'b', 2);
/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`: `_IOW('b', 3, struct dma_buf_import_sync_file)`.
const DMA_BUF_IOCTL_IMPORT_SYNC_FILE: Opcode = opcode::write::<DmaBufImportSyncFile>(b'b', 3);
/// `SYNC_IOC_MERGE`: `_IOWR('>', 3, struct sync_merge_data)`.
const SYNC_IOC_MERGE: Opcode = opcode::read_write::<SyncMergeData>(b'>', 3);
/// `SYNC_IOC_FILE_INFO`: `_IOWR('>', 4, struct sync_file_info)`.
const SYNC_IOC_FILE_INFO: Opcode = opcode::read_write::<SyncFileInfo>(b'>', 4);

/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`: a new sync_file holding the dma-buf's
/// current fences selected by `flags`.
pub(super) fn export_sync_file(dmabuf: BorrowedFd<'_>, flags: u32) -> io::Result<OwnedFd> {
    let mut arg = DmaBufExportSyncFile { flags, fd: -1 };
    // SAFETY: the opcode is `_IOWR('b', 2, struct dma_buf_export_sync_file)` and
    // `arg` is that struct (repr(C), u32 + s32, size asserted above); the kernel
    // reads `flags` and writes `fd` through the exclusive borrow. `dmabuf` is
    // borrowed from the caller for the duration of the call only.
    unsafe {
        ioctl(
            dmabuf,
            Updater::<DMA_BUF_IOCTL_EXPORT_SYNC_FILE, _>::new(&mut arg),
        )
    }?;
    // SAFETY: the ioctl succeeded, so the kernel installed a new sync_file fd in
    // this process' table and wrote it to `arg.fd`; nothing else refers to it,
    // so this `OwnedFd` is its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fd) })
}

/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`: adds the fence of `sync_file` to the
/// dma-buf's reservation object with the usage selected by `flags`.
pub(super) fn import_sync_file(
    dmabuf: BorrowedFd<'_>,
    flags: u32,
    sync_file: BorrowedFd<'_>,
) -> io::Result<()> {
    let arg = DmaBufImportSyncFile {
        flags,
        fd: sync_file.as_raw_fd(),
    };
    // SAFETY: the opcode is `_IOW('b', 3, struct dma_buf_import_sync_file)` and
    // `arg` is that struct (repr(C), u32 + s32, size asserted above); the kernel
    // only reads it. Both fds are borrowed from the caller and stay open for the
    // call; the kernel takes its own reference to the fence, not to the fd.
    unsafe {
        ioctl(
            dmabuf,
            Setter::<DMA_BUF_IOCTL_IMPORT_SYNC_FILE, _>::new(arg),
        )
    }
}

/// `SYNC_IOC_MERGE`: a new sync_file that signals once both `a` and `b` have.
pub(super) fn merge(a: BorrowedFd<'_>, b: BorrowedFd<'_>, name: [u8; 32]) -> io::Result<OwnedFd> {
    let mut arg = SyncMergeData {
        name,
        fd2: b.as_raw_fd(),
        fence: -1,
        flags: 0,
        pad: 0,
    };
    // SAFETY: the opcode is `_IOWR('>', 3, struct sync_merge_data)` and `arg` is
    // that struct (repr(C), char[32] + s32 + s32 + u32 + u32, size asserted
    // above); the kernel reads `name`/`fd2`/`flags`/`pad` and writes `fence`
    // through the exclusive borrow. `a` and `b` are borrowed for the call only.
    unsafe { ioctl(a, Updater::<SYNC_IOC_MERGE, _>::new(&mut arg)) }?;
    // SAFETY: the ioctl succeeded, so the kernel installed a new sync_file fd and
    // wrote it to `arg.fence`; nothing else refers to it, so this `OwnedFd` is
    // its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fence) })
}

/// `SYNC_IOC_FILE_INFO` asking for no per-fence records: the sync_file's name
/// and status, and in `.1` how many fences it holds.
pub(super) fn file_info_header(sync_file: BorrowedFd<'_>) -> io::Result<(SyncFileInfo, u32)> {
    let mut info = SyncFileInfo::default();
    // SAFETY: the opcode is `_IOWR('>', 4, struct sync_file_info)` and `info` is
    // that struct (repr(C), size 56 asserted above). With `num_fences` = 0 the
    // kernel writes only into `info` and never follows `sync_fence_info`.
    // `sync_file` is borrowed for the call only.
    unsafe { ioctl(sync_file, Updater::<SYNC_IOC_FILE_INFO, _>::new(&mut info)) }?;
    let count = info.num_fences;
    Ok((info, count))
}

/// `SYNC_IOC_FILE_INFO` with room for `count` per-fence records.
///
/// A sync_file's fences never change after creation, so `count` from
/// [`file_info_header`] is exact; a smaller count makes the kernel answer
/// `EINVAL`.
pub(super) fn file_info(
    sync_file: BorrowedFd<'_>,
    count: u32,
) -> io::Result<(SyncFileInfo, Vec<SyncFenceInfo>)> {
    let len = count as usize;
    let mut fences = vec![SyncFenceInfo::default(); len];
    let mut info = SyncFileInfo {
        num_fences: count,
        sync_fence_info: fences.as_mut_ptr() as u64,
        ..SyncFileInfo::default()
    };
    // SAFETY: the opcode is `_IOWR('>', 4, struct sync_file_info)` and `info` is
    // that struct (size asserted above). `sync_fence_info` points at `fences`, a
    // live, exclusively owned buffer of `count` repr(C) `struct sync_fence_info`
    // (size 80 asserted above, every bit pattern valid); the kernel writes at
    // most `num_fences` = `count` records into it and the Vec is neither moved
    // nor touched until the call returns.
    unsafe { ioctl(sync_file, Updater::<SYNC_IOC_FILE_INFO, _>::new(&mut info)) }?;
    fences.truncate((info.num_fences as usize).min(len));
    Ok((info, fences))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by a C program including `<linux/dma-buf.h>` and
    /// `<linux/sync_file.h>` (x86_64).
    #[test]
    fn opcodes_match_the_kernel_headers() {
        assert_eq!(DMA_BUF_IOCTL_EXPORT_SYNC_FILE, 0xc008_6202);
        assert_eq!(DMA_BUF_IOCTL_IMPORT_SYNC_FILE, 0x4008_6203);
        assert_eq!(SYNC_IOC_MERGE, 0xc030_3e03);
        assert_eq!(SYNC_IOC_FILE_INFO, 0xc038_3e04);
    }
}
