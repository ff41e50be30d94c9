//! Kernel fences.
//!
//! A [`SyncFile`] owns a sync_file fd: one kernel `dma_fence` (or a merged
//! set) that signals when some device finished with a buffer. Fences move
//! between sync_files and a dma-buf's implicit-sync reservation object with
//! [`SyncFile::export_from_dmabuf`] and [`SyncFile::import_into_dmabuf`]
//! (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE` / `_IMPORT_SYNC_FILE`, Linux 6.0), and
//! combine with [`SyncFile::merge`].
//!
//! Waiting: [`SyncFile::wait`] blocks, for tools and tests;
//! [`FenceSource`] is the event-loop way, a calloop source that fires once
//! when the fence signals.
//!
//! A kernel without an ioctl answers `ENOTTY`, reported as
//! [`SyncError::Unsupported`] and logged at `debug`: callers fall back to
//! implicit synchronization.

mod source;
mod sync_file;
#[expect(unsafe_code, reason = "sync_file and dma-buf fence ioctls")]
mod sys;

pub use source::FenceSource;
pub use sync_file::{
    FenceInfo, FenceStatus, SyncAccess, SyncError, SyncFile, SyncFileInfo, WaitOutcome,
};
