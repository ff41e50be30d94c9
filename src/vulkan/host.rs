//! Host memory the device reads in place (`VK_EXT_external_memory_host`):
//! a client's `wl_shm` pool, imported so that an upload from it is one
//! copy, from the pool into the texture, with no staging copy by the CPU.
//!
//! The device reads the memory on threads of its own (llvmpipe's) for as
//! long as the import lives, outside the SIGBUS protection that guards the
//! compositor's own reads of a pool: a client that truncated its file
//! under such a read would crash the process. So [`HostRegion::map`] maps
//! only a memfd sealed against shrinking (`F_SEAL_SHRINK`, memfd_create(2))
//! that holds at least the bytes asked for: none of them can go away. The
//! mapping is this process's own, read-only and shared, and lives until
//! the device memory over it is freed (the [`Buffer`](super::Buffer)
//! holding it releases it last).

use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use rustix::fs::SealFlags;
use rustix::mm::{MapFlags, ProtFlags};

use super::VulkanError;

/// A read-only shared mapping of the start of a sealed memfd, its length a
/// multiple of the device's import alignment.
#[derive(Debug)]
pub(crate) struct HostRegion {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is an address range handed to the device; this
// process never reads or writes through the pointer, and unmapping it takes
// ownership (`Drop`).
unsafe impl Send for HostRegion {}
// SAFETY: as above: shared references only read the address and length.
unsafe impl Sync for HostRegion {}

impl HostRegion {
    /// Maps the first `len` bytes of `fd`, rounded up to `alignment`
    /// (`minImportedHostPointerAlignment`, a power of two) and to whole
    /// pages, where `fd` is sealed against shrinking and holds at least
    /// `len` bytes; [`VulkanError::HostMemoryUnsafe`] otherwise.
    pub(crate) fn map(fd: BorrowedFd<'_>, len: u64, alignment: u64) -> Result<Self, VulkanError> {
        // F_GET_SEALS fails (EINVAL) on a file that is not a memfd.
        let sealed = rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK));
        let size = rustix::fs::fstat(fd).map_or(0, |stat| u64::try_from(stat.st_size).unwrap_or(0));
        if !sealed || size < len || len == 0 {
            return Err(VulkanError::HostMemoryUnsafe { len, size, sealed });
        }
        let page = rustix::param::page_size() as u64;
        let rounded = len
            .checked_next_multiple_of(alignment.max(page))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or(VulkanError::HostMemoryUnsafe { len, size, sealed })?;
        // SAFETY: a new mapping at an address the kernel chooses (no hint,
        // no MAP_FIXED) replaces no other; it is unmapped in `Drop` only.
        // The rounding may reach past the end of the file: the device reads
        // only the `len` bytes asked for, which the seal keeps in the file.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                rounded,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                0,
            )
        }
        .map_err(|errno| VulkanError::HostMemoryMap(errno.into()))?;
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(VulkanError::MemoryMapFailed)?;
        Ok(Self { ptr, len: rounded })
    }

    /// The start of the mapping, page-aligned.
    pub(super) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// The length of the mapping, a multiple of the import alignment.
    pub(super) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for HostRegion {
    fn drop(&mut self) {
        // SAFETY: the range is the mapping `map` made, unmapped once; the
        // device memory over it was freed before (the buffer holding the
        // region releases it after destroying its memory).
        if let Err(err) = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) } {
            tracing::error!(%err, "unmapping imported host memory");
        }
    }
}
