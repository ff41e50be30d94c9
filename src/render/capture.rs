//! Capture into a client's buffer: a region of a texture (an output's
//! image, a window's) copied with a transform into a `wl_shm` or dma-buf
//! buffer the client owns, as one job of the copy engine. The caller asks
//! for the result ([`VulkanRenderer::capture`]) and is told when it is
//! there; it never programs the copy.
//!
//! * A dma-buf destination is written by the GPU through its import (it
//!   must be LINEAR, like every destination of the engine); the job waits
//!   for the buffer's implicit fences and adds its own, so a reader that
//!   honours implicit sync sees the finished copy.
//! * A `wl_shm` destination cannot be written by the device: the job writes
//!   a host-visible buffer laid out as the client's buffer (format and
//!   stride), ending with a barrier that makes its writes visible to the
//!   host; once it completed, [`PendingCapture::finish`] copies the rows
//!   from that buffer into the pool, through smithay's mapping of it, which
//!   guards against a client that shrank its file. Those buffers are kept
//!   for the next capture ([`SPARE_BUFFERS`] of them), so a steady stream
//!   of captures allocates nothing.
//!
//! Submitting waits for nothing: the caller finishes the capture off its
//! event loop ([`PendingCapture::finish`]), which waits for the job.
//!
//! [`VulkanRenderer::copy_into`] is the same path for any [`CopyPlan`]: a
//! destination rectangle smaller than the buffer, scaling, explicit
//! fences. Only the plan's destination rectangle of a `wl_shm` buffer is
//! written back; the rest of the client's pixels are left as they were.
//! [`VulkanRenderer::import_buffer`] makes a client's `wl_buffer` a
//! texture such a copy reads.

use drm_fourcc::DrmFourcc;
use smithay::backend::allocator::dmabuf::Dmabuf as SmithayDmabuf;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::utils::{Buffer as BufferCoord, Rectangle, Transform};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::shm::with_buffer_pool_fd;

use super::frame::content_map;
use super::import::{Copies, import_pool, shm_layout};
use super::shm::{with_shm_bytes, with_shm_bytes_mut};
use super::{PACKED, RenderError, VulkanRenderer, VulkanTexture, checked_size};
use crate::copy::{
    CopyCompletion, CopyError, CopyJob, CopyPlan, CopyRequest, Dest, DeviceBuffer, ImageDesc,
    PlaneDesc, Point, Rect, Size, Surface,
};
use crate::sync::SyncFile;

/// The client's buffer a capture is copied into.
#[derive(Debug, Clone, Copy)]
pub enum CaptureTarget<'a> {
    /// A `wl_shm` buffer of this layout (checked by the caller against the
    /// buffer itself; [`PendingCapture::finish`] checks it again).
    Shm {
        /// The pixel format, one of the four packed formats.
        format: DrmFourcc,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Bytes from one row to the next.
        stride: u32,
    },
    /// A client's LINEAR dma-buf.
    Dmabuf(&'a SmithayDmabuf),
}

/// Host-visible buffers kept for later `wl_shm` captures.
pub(super) const SPARE_BUFFERS: usize = 2;

/// `wl_shm` pools kept imported for buffer copies to read in place
/// ([`VulkanRenderer::import_buffer`]).
pub(super) const SOURCE_POOLS: usize = 4;

/// A submitted capture: done once [`finish`](Self::finish) returned.
#[must_use = "a capture is only done once finish returned"]
#[derive(Debug)]
pub struct PendingCapture {
    completion: CopyCompletion,
    /// For a `wl_shm` target: the host-visible buffer the job writes, and
    /// the layout of the picture in it.
    host: Option<(DeviceBuffer, ShmLayout)>,
}

/// Where a capture's rows lie in the bytes read back, and the pixels of
/// them that the job wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ShmLayout {
    format: DrmFourcc,
    width: u32,
    height: u32,
    stride: u32,
    written: Rect<i32, Dest>,
}

/// Why a finished `wl_shm` capture could not be written back.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    /// The readback or the copy before it failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The buffer is no longer a `wl_shm` buffer smithay knows (destroyed).
    #[error("the wl_shm buffer is gone")]
    BufferGone,
    /// The buffer's layout is not the one the capture was made for, or it
    /// no longer fits its pool.
    #[error("the wl_shm buffer's layout changed")]
    Layout,
}

impl PendingCapture {
    /// A sync_file that signals once the job completed on the device, for
    /// a capture submitted with a release fence asked for (see
    /// [`CopyCompletion::release_fence`]). For a `wl_shm` target it does
    /// not cover [`finish`](Self::finish)'s write-back.
    pub fn release_fence(&self) -> Result<Option<SyncFile>, CopyError> {
        self.completion.release_fence()
    }

    /// Waits for the capture's job to complete, then, for a `wl_shm`
    /// capture, copies its rows into `buffer`, the buffer the capture was
    /// made for (a dma-buf capture has nothing more to do). Blocks for as
    /// long as the GPU takes: call it off the event loop. The buffer may be
    /// used from any thread; smithay's mapping of its pool guards against a
    /// client that shrank its file meanwhile.
    pub fn finish(self, buffer: &WlBuffer) -> Result<(), WriteBackError> {
        self.completion.wait().map_err(RenderError::from)?;
        let Some((host, layout)) = self.host else {
            return Ok(());
        };
        host.read_host(|bytes| write_rows(buffer, bytes, layout))
            .map_err(RenderError::from)?
    }
}

/// Copies the rows of a capture in `bytes`, laid out as `layout`, into the
/// `wl_shm` buffer `buffer`.
fn write_rows(buffer: &WlBuffer, bytes: &[u8], layout: ShmLayout) -> Result<(), WriteBackError> {
    let written = with_shm_bytes_mut(buffer, |pool, data| {
        let same = data.width as u32 == layout.width
            && data.height as u32 == layout.height
            && data.stride as u32 == layout.stride
            && smithay::wayland::shm::shm_format_to_fourcc(data.format) == Some(layout.format);
        if !same {
            return Err(WriteBackError::Layout);
        }
        let len = layout.stride as usize * layout.height as usize;
        let start = usize::try_from(data.offset).map_err(|_| WriteBackError::Layout)?;
        let dst = start
            .checked_add(len)
            .and_then(|end| pool.get_mut(start..end))
            .ok_or(WriteBackError::Layout)?;
        let src = bytes.get(..len).ok_or(WriteBackError::Layout)?;
        // Only the pixels the job wrote: the bytes between rows of the
        // device buffer, and the pixels outside the plan's destination
        // rectangle, were never written and are not the client's to see.
        let row = layout.width as usize * 4;
        let stride = layout.stride as usize;
        // The session's check refused such strides already; the writer
        // thread must not panic on one all the same.
        if row == 0 || stride < row {
            return Err(WriteBackError::Layout);
        }
        let rect = layout.written;
        let (Ok(x), Ok(y), Ok(w), Ok(h)) = (
            usize::try_from(rect.loc.x),
            usize::try_from(rect.loc.y),
            usize::try_from(rect.size.w),
            usize::try_from(rect.size.h),
        ) else {
            return Err(WriteBackError::Layout);
        };
        let columns = x * 4..(x + w) * 4;
        if columns.end > row {
            return Err(WriteBackError::Layout);
        }
        let rows = dst.chunks_mut(stride).zip(src.chunks(stride)).skip(y);
        for (dst, src) in rows.take(h) {
            dst[columns.clone()].copy_from_slice(&src[columns.clone()]);
        }
        Ok(())
    });
    written.map_err(|_| WriteBackError::BufferGone)?
}

impl VulkanRenderer {
    /// Submits the copy of `region` of `source`, its content moved as
    /// smithay's `transform_rect_in` of `transform` moves rectangles (an
    /// output's framebuffer with the output's transform comes out
    /// upright), onto the whole of `target`, whose size must be the
    /// transformed region's. Refused before anything is recorded when a
    /// rectangle reaches outside its buffer or a format or size does not
    /// fit.
    pub fn capture(
        &mut self,
        source: &VulkanTexture,
        region: Rectangle<i32, BufferCoord>,
        transform: Transform,
        target: CaptureTarget<'_>,
    ) -> Result<PendingCapture, RenderError> {
        let size = smithay::backend::renderer::Texture::size(source);
        let (dst_w, dst_h) = match target {
            CaptureTarget::Shm { width, height, .. } => (width, height),
            CaptureTarget::Dmabuf(dmabuf) => {
                let size = smithay::backend::allocator::Buffer::size(dmabuf);
                checked_size(size)?
            }
        };
        let dst_size = Size::new(
            i32::try_from(dst_w).unwrap_or(i32::MAX),
            i32::try_from(dst_h).unwrap_or(i32::MAX),
        );
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(size.w, size.h),
            dst_size,
            src_rect: Rect::new(
                Point::new(region.loc.x, region.loc.y),
                Size::new(region.size.w, region.size.h),
            ),
            dst_rect: Rect::new(Point::new(0, 0), dst_size),
            transform: content_map(transform),
            filter: None,
        })?;
        self.copy_into(source, &plan, target, &[], false)
    }

    /// Submits the copy `plan` describes from `source` into `target`, whose
    /// size must be the plan's destination size: only the plan's
    /// destination rectangle is written. The job waits for `acquire` (and
    /// for a dma-buf's implicit fences); with `release`, its completion
    /// carries a release fence ([`PendingCapture::release_fence`]) where
    /// the device exports one. Refused before anything is recorded when a
    /// format or size does not fit.
    pub fn copy_into(
        &mut self,
        source: &VulkanTexture,
        plan: &CopyPlan,
        target: CaptureTarget<'_>,
        acquire: &[SyncFile],
        release: bool,
    ) -> Result<PendingCapture, RenderError> {
        let written = plan.request().dst_rect;
        self.cleanup()?;
        match target {
            CaptureTarget::Dmabuf(dmabuf) => {
                let texture = self.import_smithay_dmabuf(dmabuf, Copies::No)?;
                let job = CopyJob::new(plan, source.surface(), texture.surface());
                let completion = self.copier.submit(&with_fences(job, acquire, release))?;
                Ok(PendingCapture {
                    completion,
                    host: None,
                })
            }
            CaptureTarget::Shm {
                format,
                width,
                height,
                stride,
            } => {
                if !PACKED.contains(&format) {
                    return Err(RenderError::UnsupportedFormat { format });
                }
                let buffer = self.capture_buffer(u64::from(stride) * u64::from(height))?;
                let desc = ImageDesc {
                    format,
                    width,
                    height,
                    planes: vec![PlaneDesc { offset: 0, stride }],
                };
                let job = CopyJob::new(
                    plan,
                    source.surface(),
                    Surface::Buffer {
                        buffer: &buffer,
                        desc: &desc,
                    },
                );
                let completion =
                    self.copier
                        .submit(&with_fences(job.for_host(), acquire, release))?;
                Ok(PendingCapture {
                    completion,
                    host: Some((
                        buffer,
                        ShmLayout {
                            format,
                            width,
                            height,
                            stride,
                            written,
                        },
                    )),
                })
            }
        }
    }
}

/// `job` waiting for `acquire`, and asking for a release fence if
/// `release`.
fn with_fences<'a>(job: CopyJob<'a>, acquire: &'a [SyncFile], release: bool) -> CopyJob<'a> {
    let job = job.acquire(acquire);
    if release { job.release() } else { job }
}

impl VulkanRenderer {
    /// A client's `wl_buffer` as a texture a copy reads (packed or NV12):
    /// a dma-buf imported (cached by the buffer, like a surface's); a
    /// `wl_shm` buffer read in place from its pool where the device can
    /// import it (a memfd sealed against shrinking; the import is kept for
    /// later copies, for the four pools used last), else its
    /// planes copied into a new texture (the upload is ordered before
    /// later jobs on the queue).
    pub fn import_buffer(&mut self, buffer: &WlBuffer) -> Result<VulkanTexture, RenderError> {
        if let Ok(dmabuf) = get_dmabuf(buffer) {
            let dmabuf = dmabuf.clone();
            return self.import_smithay_dmabuf(&dmabuf, Copies::No);
        }
        let in_place = with_buffer_pool_fd(buffer, |fd, len, data| {
            let (desc, _) = shm_layout(data, len)?;
            let pool = self.source_pools.get_or_import(fd, len, || {
                import_pool(&self.copier, &mut self.shm_uploads, fd, len)
            });
            Ok::<_, RenderError>(pool.map(|pool| VulkanTexture::from_buffer(pool, desc, false)))
        })??;
        match in_place {
            Some(texture) => Ok(texture),
            None => with_shm_bytes(buffer, |bytes, data| {
                self.import_shm_whole(bytes, data, None)
            })?,
        }
    }

    /// A host-visible buffer of at least `size` bytes that no job or
    /// pending capture holds: a kept one where one fits, else a new one,
    /// which is kept in place of an idle one too small.
    fn capture_buffer(&mut self, size: u64) -> Result<DeviceBuffer, RenderError> {
        let fits = self
            .capture_buffers
            .iter()
            .find(|b| !b.in_use() && b.size() >= size);
        if let Some(buffer) = fits {
            return Ok(buffer.clone());
        }
        let buffer = self.copier.create_host_buffer(size)?;
        if self.capture_buffers.len() >= SPARE_BUFFERS {
            match self.capture_buffers.iter().position(|b| !b.in_use()) {
                Some(idle) => {
                    self.capture_buffers.remove(idle);
                }
                None => return Ok(buffer),
            }
        }
        self.capture_buffers.push(buffer.clone());
        Ok(buffer)
    }
}
