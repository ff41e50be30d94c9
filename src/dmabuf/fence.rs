//! A [`Dmabuf`]'s implicit fences: the kernel's reservation object of every
//! distinct buffer behind its planes, as one [`SyncFile`].

use crate::sync::{SyncAccess, SyncError, SyncFile};

use super::buffer::Dmabuf;

impl Dmabuf {
    /// The fence that `access` must wait for before touching the buffer
    /// (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`): for [`SyncAccess::Read`] the
    /// pending writers, for [`SyncAccess::Write`] every pending reader and
    /// writer. A buffer whose planes lie in several dma-bufs gets the merge
    /// of each one's fence.
    pub fn export_sync_file(&self, access: SyncAccess) -> Result<SyncFile, SyncError> {
        let mut fds = self.backings.iter().map(|b| self.planes[b.plane].fd());
        let first = fds.next().expect("a Dmabuf has at least one plane");
        let mut fence = SyncFile::export_from_dmabuf(first, access)?;
        for fd in fds {
            let other = SyncFile::export_from_dmabuf(fd, access)?;
            fence = fence.merge(&other, "dmabridge-implicit")?;
        }
        Ok(fence)
    }

    /// Adds `fence` to every distinct buffer behind the planes
    /// (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`), so that later users of the buffer
    /// wait for it: as a writer ([`SyncAccess::Write`]) every later access
    /// waits, as a reader only later writers do.
    pub fn import_sync_file(&self, fence: &SyncFile, access: SyncAccess) -> Result<(), SyncError> {
        for backing in &self.backings {
            fence.import_into_dmabuf(self.planes[backing.plane].fd(), access)?;
        }
        Ok(())
    }
}
