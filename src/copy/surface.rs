//! The two sides of a copy: what a buffer holds ([`ImageDesc`], a
//! [`PlaneDesc`] a plane), a buffer of device memory ([`DeviceBuffer`]),
//! and a side of a job, such a buffer or a client's dma-buf ([`Surface`]),
//! with its buffers found once the job is submitted (`Resolved`).

use std::borrow::Cow;
use std::sync::Arc;

use drm_fourcc::DrmFourcc;

use super::CopyError;
use crate::dmabuf::SharedDmabuf;
use crate::vulkan::{Buffer, ImportedImage};

/// Where one plane lies in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlaneDesc {
    /// Byte offset of the plane's first row.
    pub offset: u64,
    /// Bytes from one row to the next.
    pub stride: u32,
}

/// What a buffer of a copy holds: format, size and the planes' layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageDesc {
    /// The pixel format.
    pub format: DrmFourcc,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One entry a plane, in plane order: one for the packed formats, two
    /// (Y, then interleaved CbCr) for NV12.
    pub planes: Vec<PlaneDesc>,
}

/// A buffer in device memory that copies read and write, created by
/// [`Copier::create_buffer`](super::Copier::create_buffer). Its contents are
/// undefined until uploaded to or written by a copy.
///
/// Dropping it while a job uses it is safe: the job holds the buffer until
/// it completed.
#[derive(Debug, Clone)]
pub struct DeviceBuffer {
    pub(super) buffer: Arc<Buffer>,
}

impl DeviceBuffer {
    /// The size in bytes, a multiple of 4.
    pub fn size(&self) -> u64 {
        self.buffer.size()
    }

    /// Whether a job or a reader other than this handle still holds the
    /// buffer (the copier releases a job's buffers once it collected it).
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.buffer) > 1
    }

    /// Calls `f` with the bytes of a buffer made by
    /// [`Copier::create_host_buffer`](super::Copier::create_host_buffer), in
    /// place. The caller reads only after the completion of a job that wrote
    /// it with [`CopyJob::for_host`](super::CopyJob::for_host).
    pub fn read_host<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, CopyError> {
        if !self.buffer.is_mapped() {
            return Err(CopyError::NotHostVisible);
        }
        Ok(self.buffer.read_with(f)?)
    }

    /// The Vulkan buffer, for presenting it to a window
    /// ([`Swapchain::present`](crate::vulkan::Swapchain::present)).
    pub(crate) fn vulkan(&self) -> &Arc<Buffer> {
        &self.buffer
    }
}

/// One side of a [`CopyJob`](super::CopyJob).
#[derive(Debug, Clone, Copy)]
pub enum Surface<'a> {
    /// A buffer of device memory, and what it holds.
    Buffer {
        /// The buffer.
        buffer: &'a DeviceBuffer,
        /// Its format, size and plane layout.
        desc: &'a ImageDesc,
    },
    /// A client's dma-buf, with the format, size, modifier and layout it was
    /// validated with; imported on first use (see the module documentation).
    /// A destination must be LINEAR.
    Dmabuf(&'a SharedDmabuf),
}

impl Surface<'_> {
    /// Whether both sides name the same buffer.
    pub(super) fn same_as(&self, other: &Surface<'_>) -> bool {
        match (self, other) {
            (Self::Buffer { buffer: a, .. }, Surface::Buffer { buffer: b, .. }) => {
                Arc::ptr_eq(&a.buffer, &b.buffer)
            }
            (Self::Dmabuf(a), Surface::Dmabuf(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// A side of a job with its buffers found: a dma-buf's from the import
/// cache.
#[derive(Debug)]
pub(super) struct Resolved<'a> {
    pub(super) desc: Cow<'a, ImageDesc>,
    /// The buffer of each plane of `desc`, in plane order.
    pub(super) planes: Vec<Arc<Buffer>>,
    /// The dma-buf, whose implicit fences the job takes part in.
    pub(super) dmabuf: Option<&'a SharedDmabuf>,
    /// The imported buffers the job acquires from the foreign queue family.
    pub(super) foreign: Vec<Arc<Buffer>>,
    /// An image the job first copies into `planes[0]` (a transient buffer).
    pub(super) staged: Option<Arc<ImportedImage>>,
}

impl Resolved<'_> {
    /// The size of each plane's buffer.
    pub(super) fn sizes(&self) -> Vec<u64> {
        self.planes.iter().map(|b| b.size()).collect()
    }
}
