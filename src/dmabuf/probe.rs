//! Kernel probes: calls that report how the running kernel behaves, for the
//! kernel tests and for diagnostics. They read and write no buffer bytes and
//! are not an access path: to touch a dma-buf's bytes, use
//! [`Dmabuf::begin_cpu_access`](super::Dmabuf::begin_cpu_access).

use std::os::fd::BorrowedFd;

use super::sys::{self, SyncFlags};

/// Issues `DMA_BUF_IOCTL_SYNC` with `DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ` on
/// `fd` without a START before it, and returns the kernel's answer.
///
/// This is the one call in the crate that issues an END without its START,
/// which [`CpuAccess`](super::CpuAccess) exists to rule out. udmabuf refuses
/// it with EINVAL while no START was ever issued on the buffer (it has no
/// scatter list to sync yet); another exporter may accept it and run its
/// end-of-access cache maintenance, which changes no bytes. ENOTTY: `fd` is
/// not a dma-buf.
pub fn sync_end_without_start(fd: BorrowedFd<'_>) -> rustix::io::Result<()> {
    sys::sync(fd, SyncFlags::END | SyncFlags::READ)
}
