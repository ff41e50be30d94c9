//! Copy jobs: what [`Copier::submit`] checks and records, and the
//! [`CopyCompletion`] it returns.
//!
//! A caller asks for the whole copy at once, as a [`CopyJob`]: a plan and
//! both buffers with their descriptions. Everything is checked before
//! anything is recorded, so nothing out of bounds reaches the GPU: the
//! formats, the sizes against the plan, every plane's
//! `offset + stride × rows` against its buffer, and the destination's
//! alignment (its pixels are whole 32-bit words, so no two invocations
//! share a word). The source may have any offset and stride. Those checks,
//! and the push constants they become, are in `layout.rs`.
//!
//! A plain copy, one that moves bytes unchanged (no transform, no scaling,
//! a packed format onto itself; `plain.rs` decides), is recorded as
//! `vkCmdCopyBuffer` instead, one region a row of the destination rectangle
//! (one region in all when both buffers hold its rows back to back), after
//! the same checks. Transfers cannot touch an imported dma-buf's buffer
//! (it is a storage buffer only), so a job with one on either side takes
//! the shader; an image source's staging buffer takes transfers.
//!
//! [`Copier::submit`] returns a [`CopyCompletion`] holding the job's fence.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, debug_span};

use super::band::Sampling;
use super::copier::bindings;
use super::fences::CpuWait;
use super::layout::{PushConstants, check};
use super::plain::PlainCopy;
use super::plan::{CopyPlan, Side};
use super::{Copier, CopyError, Surface};
use crate::sync::{SyncAccess, SyncFile};
use crate::vulkan::{Barrier, Buffer, BufferRegion, Fence, Ownership, VulkanError};

/// "Copy this rectangle of X to that rectangle of Y with this transform",
/// asked for in one piece: the plan and both sides, handed to
/// [`Copier::submit`] together, with the explicit fences the job waits for.
#[derive(Debug, Clone, Copy)]
pub struct CopyJob<'a> {
    plan: &'a CopyPlan,
    src: Surface<'a>,
    dst: Surface<'a>,
    acquire: &'a [SyncFile],
    release: bool,
    host: bool,
}

impl<'a> CopyJob<'a> {
    /// The job of carrying out `plan` from `src` to `dst`. Checked when
    /// submitted.
    pub fn new(plan: &'a CopyPlan, src: Surface<'a>, dst: Surface<'a>) -> Self {
        Self {
            plan,
            src,
            dst,
            acquire: &[],
            release: false,
            host: false,
        }
    }

    /// The CPU reads the destination once the job completed (a buffer of
    /// [`Copier::create_host_buffer`]): the job makes its writes available
    /// to the host.
    pub fn for_host(mut self) -> Self {
        self.host = true;
        self
    }

    /// Explicit synchronization: the job does not touch either buffer
    /// before every fence of `fences` signalled (a client's acquire
    /// points, `linux-drm-syncobj-v1` style), on top of the dma-bufs'
    /// implicit fences. Waited for on the GPU where the device imports
    /// SYNC_FD semaphore payloads, else on the CPU in [`Copier::submit`].
    pub fn acquire(mut self, fences: &'a [SyncFile]) -> Self {
        self.acquire = fences;
        self
    }

    /// Asks for a release fence: [`CopyCompletion::release_fence`] gives a
    /// sync_file that signals when the job completed. A job with a dma-buf
    /// or an acquire fence has one without asking.
    pub fn release(mut self) -> Self {
        self.release = true;
        self
    }
}

/// The fence of a submitted copy or upload: [`wait`](Self::wait) blocks
/// until the GPU finished it.
///
/// Dropping it does not cancel or wait for anything: the [`Copier`] keeps
/// the work's resources until it completed.
#[must_use = "a completion is the only way to know when the GPU finished the work"]
#[derive(Debug, Clone)]
pub struct CopyCompletion {
    pub(super) fence: Arc<Fence>,
    /// The sync_file that signals when the work completed: `None` where
    /// the device cannot export SYNC_FD or the work was submitted without
    /// one; `Some(None)` where the driver reported the work complete when
    /// the sync_file was exported.
    pub(super) sync_file: Option<Option<Arc<SyncFile>>>,
}

impl CopyCompletion {
    /// The job's release fence (explicit synchronization): a new sync_file,
    /// the same fence as [`sync_file`](Self::sync_file), that signals once
    /// the job completed, for a consumer to wait on; `None` when the driver
    /// reported the job complete already when its fence was exported.
    /// [`VulkanError::SyncFdUnsupported`] where the device cannot export
    /// SYNC_FD payloads, and for work that asked for no release fence
    /// (uploads, and copies between device buffers without
    /// [`CopyJob::release`]).
    pub fn release_fence(&self) -> Result<Option<SyncFile>, CopyError> {
        let Some(exported) = &self.sync_file else {
            return Err(VulkanError::SyncFdUnsupported { what: "export" }.into());
        };
        let Some(fence) = exported else {
            return Ok(None);
        };
        let fd = fence.as_fd().try_clone_to_owned().map_err(CopyError::Dup)?;
        Ok(Some(SyncFile::from_fd(fd)?))
    }

    /// Whether the GPU finished the work, without blocking.
    pub fn is_done(&self) -> Result<bool, CopyError> {
        Ok(self.fence.is_done()?)
    }

    /// Blocks until the GPU finished the work. Never call this on an event
    /// loop.
    pub fn wait(self) -> Result<(), CopyError> {
        self.fence.wait(None)?;
        Ok(())
    }

    /// Blocks until the GPU finished the work or `timeout` passed; whether
    /// it finished.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, CopyError> {
        Ok(self.fence.wait(Some(timeout))?)
    }

    /// A sync_file that signals when the work completed, where the device
    /// exports SYNC_FD and the work was submitted with one (jobs that touch
    /// a dma-buf or an acquire fence, jobs that asked for a release fence,
    /// and draw batches); `None` otherwise, or when the work had
    /// completed by the time it was submitted.
    pub fn sync_file(&self) -> Option<&SyncFile> {
        self.sync_file.as_ref().and_then(Option::as_deref)
    }
}

impl Copier {
    /// Checks `job` and submits it: one dispatch of the copy shader over the
    /// destination rectangle, or a transfer of each of its rows for a plain
    /// copy (see the module documentation), after the copies and uploads
    /// submitted before, and after the implicit fences of the dma-bufs
    /// involved.
    pub fn submit(&mut self, job: &CopyJob<'_>) -> Result<CopyCompletion, CopyError> {
        let request = job.plan.request();
        let _span = debug_span!(
            "copy job",
            transform = ?request.transform,
            filter = ?job.plan.filter(),
        )
        .entered();
        if job.src.same_as(&job.dst) {
            return Err(CopyError::SameBuffer);
        }
        let src = self.resolve(job.src, Side::Source)?;
        let dst = self.resolve(job.dst, Side::Destination)?;
        let size = (request.src_size.w, request.src_size.h);
        let src_layout = check(Side::Source, &src.desc, size, &src.sizes())?;
        let size = (request.dst_size.w, request.dst_size.h);
        let dst_layout = check(Side::Destination, &dst.desc, size, &dst.sizes())?;
        // Imported dma-bufs do not allow transfers: a plain copy between
        // them goes through the shader like any other.
        let plain = PlainCopy::new(job.plan, &src.desc, &dst.desc)
            .filter(|_| src.planes[0].transfers() && dst.planes[0].transfers());
        let tiles = if plain.is_some() {
            Vec::new()
        } else {
            let sampling = Sampling {
                matrix: job.plan.matrix(),
                origin: request.dst_rect.loc,
                bounds: request.src_rect,
            };
            self.tiles(request.dst_rect, Some(&sampling), &src_layout, &dst_layout)?
        };
        debug!(src = %src.desc.format, dst = %dst.desc.format, tiles = tiles.len(), "copy checked");

        let mut commands = self.commands(c"dmabridge copy job")?;
        for (side, access) in [(&src, SyncAccess::Read), (&dst, SyncAccess::Write)] {
            if let Some(dmabuf) = side.dmabuf {
                self.wait_implicit(&mut commands, dmabuf, access, CpuWait::Block)?;
            }
        }
        for fence in job.acquire {
            let fd = fence.as_fd().try_clone_to_owned().map_err(CopyError::Dup)?;
            self.wait_fence(&mut commands, SyncFile::from_fd(fd)?, CpuWait::Block)?;
        }
        if let Some(image) = &src.staged {
            commands.stage_image(image, &src.planes[0]);
        }
        if let Some(plain) = &plain {
            // Neither buffer is an imported dma-buf, so there is no
            // ownership to acquire from the foreign queue family.
            let regions: Vec<BufferRegion> = plain
                .runs()
                .map(|run| BufferRegion {
                    src_offset: run.src_offset,
                    dst_offset: run.dst_offset,
                    size: run.len,
                })
                .collect();
            commands.barrier(Barrier::BeforeTransfer);
            commands.copy(&src.planes[0], &dst.planes[0], &regions);
        } else {
            let imported: Vec<&Arc<Buffer>> = src.foreign.iter().chain(&dst.foreign).collect();
            commands.barrier(Barrier::BeforeShader);
            for buffer in &imported {
                commands.foreign(buffer, Ownership::Acquire);
            }
            let push = PushConstants::new(job.plan, &src_layout, &dst_layout);
            // The tiles write disjoint pixels: no barrier between them.
            for tile in &tiles {
                let push = push.tile(tile, Some(&src_layout), &dst_layout);
                let bindings = bindings(&src, &dst, tile);
                self.record(&mut commands, &bindings, &[push])?;
            }
            for buffer in &imported {
                commands.foreign(buffer, Ownership::Release);
            }
        }
        if job.host {
            commands.barrier(Barrier::ToHost);
        }
        let wanted =
            job.release || !job.acquire.is_empty() || src.dmabuf.is_some() || dst.dmabuf.is_some();
        let export = wanted && self.device.capabilities().semaphore_sync_fd.export;
        let mut dmabufs = Vec::new();
        dmabufs.extend(dst.dmabuf.map(|d| (d, SyncAccess::Write)));
        dmabufs.extend(src.dmabuf.map(|d| (d, SyncAccess::Read)));
        let completion =
            self.submit_exporting(commands, c"dmabridge copy job", export, &dmabufs)?;
        debug!(plain = plain.is_some(), "copy submitted");
        Ok(completion)
    }
}
