//! The fences of a submission, where a job or a draw batch touches a
//! client's dma-buf or carries sync_files.
//!
//! Implicit synchronization, in the kernel's terms:
//!
//! * Before the GPU reads a source dma-buf, its writers' fences
//!   (`export_sync_file(Read)`) must have signalled; before it writes a
//!   destination dma-buf, every user's (`export_sync_file(Write)`). Where
//!   the device imports SYNC_FD semaphore payloads
//!   ([`Capabilities::semaphore_sync_fd`](crate::vulkan::Capabilities::semaphore_sync_fd)),
//!   the submission waits on them on the GPU. Where it cannot,
//!   [`Copier::submit`] waits for them on the CPU before it submits, which
//!   blocks: the compositor layer waits for the same fences first, on its
//!   event loop (a [`FenceSource`](crate::sync::FenceSource) per fence), and
//!   submits once they signalled, so that wait finds them signalled and the
//!   event loop never blocks.
//! * Where the device exports SYNC_FD payloads, the job's completion
//!   becomes a sync_file that is added to the destination as a write fence
//!   and to the source as a read fence, so the buffers' other users wait
//!   for the job. Where it cannot, nothing tells them: the caller waits for
//!   the [`CopyCompletion`] before it hands the destination on.
//!
//! Explicit synchronization: a job may carry acquire sync_files
//! ([`CopyJob::acquire`](super::CopyJob::acquire)), waited for like the
//! implicit fences, and its completion hands out the same release sync_file
//! ([`CopyCompletion::release_fence`]) where the device exports SYNC_FD.

use std::sync::Arc;

use tracing::debug;

use super::import::lock;
use super::{Copier, CopyCompletion, CopyError};
use crate::dmabuf::SharedDmabuf;
use crate::sync::{SyncAccess, SyncFile};
use crate::vulkan::Commands;

impl Copier {
    /// Submits `commands`; with `export`, also as a sync_file that is added
    /// to each of `dmabufs` as a fence of its access, so their other users
    /// wait for the work, and that the completion carries.
    pub(super) fn submit_exporting(
        &mut self,
        mut commands: Commands,
        name: &std::ffi::CStr,
        export: bool,
        dmabufs: &[(&SharedDmabuf, SyncAccess)],
    ) -> Result<CopyCompletion, CopyError> {
        if export {
            commands.signal_sync_file()?;
        }
        let work = commands.submit(name)?;
        let done = if export {
            work.export_sync_file()?
        } else {
            None
        };
        let fence = self.track(work)?;
        if let Some(done) = &done {
            for &(dmabuf, access) in dmabufs {
                lock(dmabuf).import_sync_file(done, access)?;
            }
        }
        Ok(CopyCompletion {
            fence,
            sync_file: export.then(|| done.map(Arc::new)),
        })
    }

    /// Makes the job wait for `dmabuf`'s implicit fences that `access` must
    /// wait for, as [`wait_fence`](Self::wait_fence) does.
    pub(super) fn wait_implicit(
        &self,
        commands: &mut Commands,
        dmabuf: &SharedDmabuf,
        access: SyncAccess,
        cpu: CpuWait,
    ) -> Result<(), CopyError> {
        let fence = lock(dmabuf).export_sync_file(access)?;
        self.wait_fence(commands, fence, cpu)
    }

    /// Makes the job wait for `fence` (a dma-buf's implicit fence or an
    /// acquire fence): on the GPU where SYNC_FD imports, else on the CPU
    /// now, or not at all (an error) where `cpu` refuses to block.
    pub(super) fn wait_fence(
        &self,
        commands: &mut Commands,
        fence: SyncFile,
        cpu: CpuWait,
    ) -> Result<(), CopyError> {
        if fence.is_signalled()? {
            return Ok(());
        }
        if self.device.capabilities().semaphore_sync_fd.import {
            commands.wait_sync_file(fence)?;
        } else if cpu == CpuWait::Refuse {
            return Err(CopyError::UnsignalledFence);
        } else {
            // Blocks; the compositor layer waited for this fence on its event
            // loop before submitting (module documentation). No timeout: the
            // outcome is Signalled.
            debug!("waiting for a fence on the CPU");
            let _signalled = fence.wait(None)?;
        }
        Ok(())
    }
}

/// Whether a job may block the calling thread on a dma-buf's fence that
/// the GPU cannot wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CpuWait {
    /// Wait on the CPU (the copy path: the caller waited first).
    Block,
    /// Refuse the job instead (a frame, which must not block).
    Refuse,
}
