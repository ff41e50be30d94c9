//! Carrying out a [`CopyPlan`] on the GPU: a compute shader over storage
//! buffers (`shaders/copy.comp`).
//!
//! Both sides of a copy are buffers described by format, size and, for each
//! plane, a byte offset and a stride, so any layout a client sends works,
//! with or without `VK_EXT_image_drm_format_modifier`. For each pixel of the
//! destination rectangle the shader maps its centre through
//! [`CopyPlan::matrix`] (push constants), samples as
//! [`reference`](super::reference) defines (nearest, or bilinear clamped to
//! the source rectangle), converts the format and stores the packed pixel.
//! No pixel outside the destination rectangle is written.
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
//! A buffer larger than the device's `maxStorageBufferRange` (a 6000×6000
//! `wl_shm` buffer on lavapipe's 128 MiB) is bound in windows: the
//! destination rectangle (a draw's clip) is split into tiles whose source
//! and destination rows each fit one binding, one dispatch a tile
//! (`band.rs`). A buffer within the limit is bound whole and its copy is one
//! dispatch. Only a copy of which not even one row fits a binding is
//! refused ([`CopyError::BufferTooLarge`]), copies and draws alike.
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
//! [`Copier::submit_draws`] records the draws of a frame into one
//! submission; a draw it cannot carry out (its source does not import or
//! does not fit its plan) is skipped and reported in [`DrawBatch::refused`]
//! while the others are drawn: one client's buffer does not cost everyone
//! the frame (`batch.rs`). The frame (`render/frame.rs`) decides what to
//! do about it.
//! [`Copier::upload`] and [`Copier::readback`] move bytes between host
//! memory and a [`DeviceBuffer`] through host-visible staging buffers.
//!
//! # Dma-bufs
//!
//! A side of a copy may be a client's dma-buf ([`Surface::Dmabuf`]). A
//! LINEAR one's distinct buffers are imported as storage buffers the first
//! time (dup'd fds, dedicated allocations, [`Dmabuf::map_device`](crate::dmabuf::Dmabuf::map_device)).
//! A source whose layout the shader cannot address (any other modifier),
//! or a LINEAR source when [`Copier::set_linear_source_import`] asks for
//! [`ImportPath::Image`], is imported as an image with its modifier instead
//! and copied plane by plane into a transient device buffer
//! (`vkCmdCopyImageToBuffer`) in the same submission, before the shader
//! reads that buffer. Destinations are always LINEAR buffers. Either import
//! is cached by the [`SharedDmabuf`]: using it again creates no Vulkan
//! object ([`Copier::import_objects_created`] counts them). The
//! import is destroyed ([`Dmabuf::unmap_device`](crate::dmabuf::Dmabuf::unmap_device))
//! once the caller dropped its `SharedDmabuf` and the last job that used it
//! completed. Each job acquires the imported buffers and images from the
//! foreign queue family before it uses them and releases them after.
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
//! ([`CopyJob::acquire`]), waited for like the implicit fences, and its
//! completion hands out the same release sync_file
//! ([`CopyCompletion::release_fence`]) where the device exports SYNC_FD.

use std::borrow::Cow;
use std::os::fd::AsFd;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use drm_fourcc::{DrmFourcc, DrmModifier};
use tracing::{debug, debug_span};

use super::band::{self, Limits, Sampling, Tile, Window};
use super::geometry::{Dest, Rect};
use super::layout::{Layout, PushConstants, check};
use super::plain::PlainCopy;
use super::plan::{CopyPlan, Side};
use crate::dmabuf::SharedDmabuf;
use crate::sync::{SyncAccess, SyncError, SyncFile};
use crate::vulkan::{
    Barrier, Binding, Buffer, BufferKind, BufferRegion, Commands, ComputePipeline, Device, Fence,
    ImportCache, ImportPath, ImportedImage, ImportedPlane, Ownership, Submitted, VulkanError,
};

/// The copy shader, compiled from `shaders/copy.comp` by `build.rs`.
const COPY_SPIRV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/copy.comp.spv"));

/// Bindings of the copy shader: source planes 0 and 1, the destination.
const BINDINGS: u32 = 3;

/// The shader's workgroup is `WORKGROUP × WORKGROUP` invocations
/// (`local_size_x`, `local_size_y` in `shaders/copy.comp`).
const WORKGROUP: u32 = 8;

/// Each invocation of the shader writes `RUN` pixels of a row (`RUN` in
/// `shaders/copy.comp`), so a workgroup covers `WORKGROUP × RUN` columns
/// and `WORKGROUP` rows.
const RUN: u32 = 8;

/// Completed command buffers kept for reuse; more are destroyed.
const SPARE_COMMANDS: usize = 4;

/// Why a copy, upload or readback was refused or failed. Every refusal
/// happens before anything is recorded.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The format cannot be copied from (source) or to (destination): sources
    /// are ARGB8888, XRGB8888, ABGR8888, XBGR8888 or NV12, destinations one
    /// of the four packed formats.
    #[error("{side} format {format} is not supported")]
    UnsupportedFormat {
        /// The buffer.
        side: Side,
        /// Its format.
        format: DrmFourcc,
    },
    /// A description's size is not the one the plan was made for.
    #[error("{side} is {width}×{height}, the plan expects {plan_width}×{plan_height}")]
    SizeMismatch {
        /// The buffer.
        side: Side,
        /// The description's width.
        width: u32,
        /// The description's height.
        height: u32,
        /// The plan's width.
        plan_width: i32,
        /// The plan's height.
        plan_height: i32,
    },
    /// A description has another number of planes than its format.
    #[error("{side} has {got} planes, its format has {expected}")]
    PlaneCount {
        /// The buffer.
        side: Side,
        /// The format's plane count.
        expected: usize,
        /// The description's.
        got: usize,
    },
    /// A plane's stride is smaller than one row of it.
    #[error("{side} plane {plane} has stride {stride}, less than its row of {min} bytes")]
    StrideTooSmall {
        /// The buffer.
        side: Side,
        /// The plane.
        plane: usize,
        /// Its stride.
        stride: u32,
        /// The bytes of one of its rows.
        min: u64,
    },
    /// A plane's `offset + stride × rows` passes the end of its buffer
    /// (`end` saturates at `u64::MAX`).
    #[error("{side} plane {plane} ends at byte {end}, past its buffer of {size}")]
    PlaneOutOfBounds {
        /// The buffer.
        side: Side,
        /// The plane.
        plane: usize,
        /// Where the plane ends.
        end: u64,
        /// The buffer's size.
        size: u64,
    },
    /// Not even the bytes one pixel of the copy needs of a buffer (a row
    /// of a plane, with the alignment of its binding) fit in one binding of
    /// the shader: `maxStorageBufferRange`, or the limit
    /// [`Copier::set_binding_limit`] set. A buffer larger than that is
    /// otherwise drawn in bands (`band.rs`).
    #[error("{side} needs a binding of {size} bytes, more than the limit of {max}")]
    BufferTooLarge {
        /// The buffer.
        side: Side,
        /// The bytes its smallest binding would take.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The destination's offset or stride is not a multiple of 4: each
    /// destination pixel must be one whole 32-bit word of the storage
    /// buffer, since two invocations writing parts of one word would race.
    #[error("destination offset {offset} and stride {stride} must be multiples of 4")]
    UnalignedDestination {
        /// The destination's offset.
        offset: u64,
        /// The destination's stride.
        stride: u32,
    },
    /// The source and the destination are the same buffer.
    #[error("the source and the destination are the same buffer")]
    SameBuffer,
    /// A draw's plan names a solid colour but a texture was given, or a
    /// texture but none was given.
    #[error("a draw's source does not match its plan")]
    DrawSourceMismatch,
    /// A dma-buf's implicit fence has not signalled, the device cannot wait
    /// for it on the GPU, and the frame must not block: the caller waits for
    /// it on its event loop first ([`FenceSource`](crate::sync::FenceSource)).
    #[error("a dma-buf's fence has not signalled and the GPU cannot wait for it")]
    UnsignalledFence,
    /// [`DeviceBuffer::read_host`] on a buffer the host cannot read (one
    /// made by [`Copier::create_buffer`]).
    #[error("the buffer is not visible to the host")]
    NotHostVisible,
    /// [`Copier::create_buffer`] was asked for an empty buffer.
    #[error("a buffer of 0 bytes")]
    EmptyBuffer,
    /// [`Copier::upload`] was given more bytes than the buffer holds, or
    /// a range of [`Copier::upload_ranges`] ends past the staging memory
    /// or the buffer.
    #[error("{len} bytes do not fit a buffer of {size}")]
    UploadTooLarge {
        /// The bytes given.
        len: u64,
        /// The buffer's size.
        size: u64,
    },
    /// The ranges given to [`Copier::upload_ranges`] are not in order,
    /// overlap, or one is empty.
    #[error("upload ranges are not ordered, disjoint and non-empty")]
    UploadRanges,
    /// Duplicating a sync_file's fd failed (`EMFILE`).
    #[error("duplicating a sync_file")]
    Dup(#[source] std::io::Error),
    /// A Vulkan call failed, or a dma-buf could not be imported.
    #[error(transparent)]
    Vulkan(#[from] VulkanError),
    /// Moving a dma-buf's implicit fences failed (exporting the fences to
    /// wait for, waiting, or adding the job's fence). After submission the
    /// job still runs; the copier keeps it until it completed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

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
/// [`Copier::create_buffer`]. Its contents are undefined until uploaded to
/// or written by a copy.
///
/// Dropping it while a job uses it is safe: the job holds the buffer until
/// it completed.
#[derive(Debug, Clone)]
pub struct DeviceBuffer {
    buffer: Arc<Buffer>,
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
    /// [`Copier::create_host_buffer`], in place. The caller reads only after
    /// the completion of a job that wrote it with [`CopyJob::for_host`].
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

/// One side of a [`CopyJob`].
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
    fence: Arc<Fence>,
    /// The sync_file that signals when the work completed: `None` where
    /// the device cannot export SYNC_FD or the work was submitted without
    /// one; `Some(None)` where the driver reported the work complete when
    /// the sync_file was exported.
    sync_file: Option<Option<Arc<SyncFile>>>,
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

/// Host-visible memory that uploads are staged in, kept by its owner from
/// one upload to the next (a texture that is updated every frame), made by
/// [`Copier::create_staging`].
///
/// Its bytes can be written only while no submitted upload still reads
/// them: every submission holds the buffer until the copier collected it
/// after its fence signalled, and [`bytes_mut`](Self::bytes_mut) answers
/// `None` while one does.
#[derive(Debug)]
pub struct Staging {
    buffer: Arc<Buffer>,
}

impl Staging {
    /// The whole staging memory to write, or `None` while a submitted
    /// upload from it has not been collected ([`Copier::collect`]).
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Arc::get_mut(&mut self.buffer).map(Buffer::mapped_mut)
    }
}

/// A submitted readback of a [`DeviceBuffer`]: [`wait`](Self::wait) blocks
/// until the bytes arrived in host memory and returns them.
#[must_use = "the bytes are only available through wait()"]
#[derive(Debug)]
pub struct Readback {
    fence: Arc<Fence>,
    staging: Arc<Buffer>,
}

impl Readback {
    /// Blocks until the copy into host-visible memory completed, then
    /// returns the buffer's bytes (invalidated first where the memory is not
    /// host-coherent). Never call this on an event loop.
    pub fn wait(self) -> Result<Vec<u8>, CopyError> {
        self.fence.wait(None)?;
        Ok(self.staging.read()?)
    }
}

/// Carries out copies on one Vulkan device: owns the copy pipeline and the
/// work in flight.
///
/// Work in flight is released by [`collect`](Self::collect), which
/// [`submit`](Self::submit) also runs, once its fence signalled; its command
/// buffer and descriptor pools are kept for the next job. Dropping the
/// copier waits for what is still in flight.
#[derive(Debug)]
pub struct Copier {
    in_flight: Vec<Submitted>,
    spare: Vec<Commands>,
    imports: ImportCache,
    /// How a LINEAR source dma-buf is imported.
    linear_sources: ImportPath,
    /// At most this many bytes of a buffer are bound to a dispatch, below
    /// the device's limit ([`Copier::set_binding_limit`]).
    binding_limit: Option<u64>,
    pub(super) pipeline: Arc<ComputePipeline>,
    pub(super) device: Arc<Device>,
}

impl Copier {
    /// Builds the copy pipeline on `device`.
    pub fn new(device: Arc<Device>) -> Result<Self, CopyError> {
        let push_size = u32::try_from(PushConstants::SIZE).expect("a few dozen bytes");
        let pipeline =
            ComputePipeline::new(&device, COPY_SPIRV, BINDINGS, push_size, c"dmabridge copy")?;
        Ok(Self {
            in_flight: Vec::new(),
            spare: Vec::new(),
            imports: ImportCache::default(),
            linear_sources: ImportPath::Buffer,
            binding_limit: None,
            pipeline: Arc::new(pipeline),
            device,
        })
    }

    /// A new buffer of at least `size` bytes in device memory: rounded up to
    /// whole 32-bit words, the unit the copy shader reads, so that a plane
    /// ending inside the last word can be read whole.
    pub fn create_buffer(&self, size: u64) -> Result<DeviceBuffer, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size.next_multiple_of(4),
            BufferKind::Storage,
            c"dmabridge copy buffer",
        )?;
        Ok(DeviceBuffer {
            buffer: Arc::new(buffer),
        })
    }

    /// A new buffer of at least `size` bytes that copies write and the CPU
    /// then reads in place ([`DeviceBuffer::read_host`]): host-visible
    /// memory, cached where the device has it, mapped for its life. A
    /// readback without a transfer: for results the CPU consumes whole.
    pub fn create_host_buffer(&self, size: u64) -> Result<DeviceBuffer, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size.next_multiple_of(4),
            BufferKind::HostRead,
            c"dmabridge host-readable buffer",
        )?;
        Ok(DeviceBuffer {
            buffer: Arc::new(buffer),
        })
    }

    /// Writes `bytes` to the start of `buffer`, through a staging buffer.
    /// Later copies and readbacks see them (each records a barrier after
    /// earlier transfers and shader writes).
    pub fn upload(
        &mut self,
        buffer: &DeviceBuffer,
        bytes: &[u8],
    ) -> Result<CopyCompletion, CopyError> {
        self.upload_at(buffer, 0, bytes)
    }

    /// Writes `bytes` to `buffer` from byte `offset` on, through a staging
    /// buffer, like [`upload`](Self::upload).
    pub fn upload_at(
        &mut self,
        buffer: &DeviceBuffer,
        offset: u64,
        bytes: &[u8],
    ) -> Result<CopyCompletion, CopyError> {
        let len = bytes.len() as u64;
        if offset
            .checked_add(len)
            .is_none_or(|end| end > buffer.size())
        {
            return Err(CopyError::UploadTooLarge {
                len: offset.saturating_add(len),
                size: buffer.size(),
            });
        }
        if len == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let mut staging = Buffer::new(
            &self.device,
            len,
            BufferKind::Staging,
            c"dmabridge upload staging",
        )?;
        staging.write(0, bytes)?;
        let mut commands = self.commands(c"dmabridge upload")?;
        commands.barrier(Barrier::BeforeTransfer);
        commands.copy(
            &Arc::new(staging),
            &buffer.buffer,
            &[BufferRegion {
                src_offset: 0,
                dst_offset: offset,
                size: len,
            }],
        );
        let fence = self.track(commands.submit(c"dmabridge upload")?)?;
        Ok(CopyCompletion {
            fence,
            sync_file: None,
        })
    }

    /// New staging memory of `size` bytes (at least 1), for
    /// [`upload_ranges`](Self::upload_ranges).
    pub fn create_staging(&self, size: u64) -> Result<Staging, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size,
            BufferKind::Staging,
            c"dmabridge upload staging",
        )?;
        Ok(Staging {
            buffer: Arc::new(buffer),
        })
    }

    /// Copies the byte ranges `ranges` of `staging` (written through
    /// [`Staging::bytes_mut`]) to the same offsets of `buffer`, in one
    /// command, like [`upload`](Self::upload): later copies and readbacks
    /// see them, and the copy follows every job submitted before, so a
    /// buffer that earlier jobs still read is overwritten only after they
    /// read it. The ranges are in order, disjoint and non-empty; no range
    /// is nothing to do (`None`).
    pub fn upload_ranges(
        &mut self,
        staging: &Staging,
        buffer: &DeviceBuffer,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Option<CopyCompletion>, CopyError> {
        let ordered = ranges.iter().all(|r| r.start < r.end)
            && ranges.windows(2).all(|w| w[0].end <= w[1].start);
        if !ordered {
            return Err(CopyError::UploadRanges);
        }
        let Some(last) = ranges.last() else {
            return Ok(None);
        };
        let end = staging.buffer.size().min(buffer.size());
        if last.end > end {
            return Err(CopyError::UploadTooLarge {
                len: last.end,
                size: end,
            });
        }
        staging.buffer.flush()?;
        let mut commands = self.commands(c"dmabridge upload")?;
        // Orders the copy after earlier transfers and shaders, the reads of
        // `buffer` included: a write after a read needs only this execution
        // dependency, and a barrier's first scope is every command submitted
        // earlier to the queue.
        commands.barrier(Barrier::BeforeTransfer);
        let regions: Vec<BufferRegion> = ranges
            .iter()
            .map(|r| BufferRegion {
                src_offset: r.start,
                dst_offset: r.start,
                size: r.end - r.start,
            })
            .collect();
        commands.copy(&staging.buffer, &buffer.buffer, &regions);
        let fence = self.track(commands.submit(c"dmabridge upload")?)?;
        Ok(Some(CopyCompletion {
            fence,
            sync_file: None,
        }))
    }

    /// Reads all of `buffer` back into host memory, through a host-visible
    /// staging buffer, after the copies and uploads submitted before.
    pub fn readback(&mut self, buffer: &DeviceBuffer) -> Result<Readback, CopyError> {
        let staging = Arc::new(Buffer::new(
            &self.device,
            buffer.size(),
            BufferKind::Staging,
            c"dmabridge readback staging",
        )?);
        let mut commands = self.commands(c"dmabridge readback")?;
        commands.barrier(Barrier::BeforeTransfer);
        commands.copy(
            &buffer.buffer,
            &staging,
            &[BufferRegion {
                src_offset: 0,
                dst_offset: 0,
                size: buffer.size(),
            }],
        );
        commands.barrier(Barrier::ToHost);
        let fence = self.track(commands.submit(c"dmabridge readback")?)?;
        Ok(Readback { fence, staging })
    }

    /// Chooses how LINEAR source dma-bufs are imported from now on: as
    /// storage buffers the shader reads directly ([`ImportPath::Buffer`],
    /// the default), or as images with their modifier, copied into a
    /// transient buffer first ([`ImportPath::Image`], the path every other
    /// modifier takes; this makes it testable with LINEAR buffers).
    pub fn set_linear_source_import(&mut self, path: ImportPath) {
        self.linear_sources = path;
    }

    /// Imports `dmabuf` now rather than on its first copy (a compositor
    /// learns early whether a client's buffer imports), the way a copy
    /// source is imported. Cached: a buffer imported before creates no
    /// Vulkan object.
    pub fn import(&mut self, dmabuf: &SharedDmabuf) -> Result<(), CopyError> {
        if self.source_as_image(dmabuf) {
            self.imports.import_image(&self.device, dmabuf)?;
        } else {
            self.imports.import(&self.device, dmabuf)?;
        }
        Ok(())
    }

    /// Whether a source dma-buf is imported as an image: when the shader
    /// cannot address its layout (not LINEAR), or when asked to.
    fn source_as_image(&self, dmabuf: &SharedDmabuf) -> bool {
        lock(dmabuf).modifier() != DrmModifier::Linear || self.linear_sources == ImportPath::Image
    }

    /// How many Vulkan objects (buffers, images, memories, and a YUV
    /// image's conversion, sampler and view) dma-buf imports have created
    /// so far.
    pub fn import_objects_created(&self) -> u64 {
        self.imports.objects_created()
    }

    /// How many dma-buf imports the cache holds.
    pub fn cached_imports(&self) -> usize {
        self.imports.len()
    }

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
                commands.dispatch(&self.pipeline, &bindings, &push.bytes(), groups(&tile.clip))?;
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

    /// The dispatches that write `clip`: see `band.rs`. A solid colour
    /// (`sampling` is `None`) reads no plane of `src`.
    pub(super) fn tiles(
        &self,
        clip: Rect<i32, Dest>,
        sampling: Option<&Sampling>,
        src: &Layout,
        dst: &Layout,
    ) -> Result<Vec<Tile>, CopyError> {
        let max = self.binding_limit();
        let limits = Limits::new(max, self.device.min_storage_buffer_offset_alignment());
        let src_planes = if sampling.is_some() {
            &src.planes[..]
        } else {
            &[]
        };
        band::tiles(clip, sampling, src_planes, &dst.planes[0], limits).map_err(|err| {
            CopyError::BufferTooLarge {
                side: err.side,
                size: err.needed,
                max,
            }
        })
    }

    /// The most bytes of a buffer one binding holds: the device's
    /// `maxStorageBufferRange`, or less where
    /// [`set_binding_limit`](Self::set_binding_limit) asked for less.
    fn binding_limit(&self) -> u64 {
        let max = self.device.max_storage_buffer_range();
        self.binding_limit.map_or(max, |limit| limit.min(max))
    }

    /// Binds at most `bytes` of a buffer to one dispatch from now on, where
    /// that is less than the device's `maxStorageBufferRange`: larger
    /// buffers are then drawn in bands as on a device with that limit
    /// (`band.rs`). For tests and benchmarks, which exercise banding on
    /// small buffers; `None` goes back to the device's limit.
    pub fn set_binding_limit(&mut self, bytes: Option<u64>) {
        self.binding_limit = bytes;
    }

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

    /// A command buffer recording under `name`: a spare one, or a new one.
    pub(super) fn commands(&mut self, name: &std::ffi::CStr) -> Result<Commands, CopyError> {
        match self.spare.pop() {
            Some(mut commands) => {
                commands.restart(name)?;
                Ok(commands)
            }
            None => Ok(Commands::begin(&self.device, name)?),
        }
    }

    /// Finds the buffers of one side, importing a dma-buf if it is not in
    /// the cache yet: as an image for a source the shader cannot address
    /// (or any LINEAR source when asked to), as buffers otherwise.
    pub(super) fn resolve<'a>(
        &mut self,
        surface: Surface<'a>,
        side: Side,
    ) -> Result<Resolved<'a>, CopyError> {
        let dmabuf = match surface {
            Surface::Buffer { buffer, desc } => {
                return Ok(Resolved {
                    desc: Cow::Borrowed(desc),
                    planes: vec![Arc::clone(&buffer.buffer); desc.planes.len()],
                    dmabuf: None,
                    foreign: Vec::new(),
                    staged: None,
                });
            }
            Surface::Dmabuf(dmabuf) => dmabuf,
        };
        let linear = lock(dmabuf).modifier() == DrmModifier::Linear;
        let as_image =
            side == Side::Source && (!linear || self.linear_sources == ImportPath::Image);
        if as_image {
            let image = self.imports.import_image(&self.device, dmabuf)?;
            let staging = self.create_buffer(image.staging_size())?.buffer;
            let (width, height) = image.size();
            let planes = image.staging_planes();
            return Ok(Resolved {
                desc: Cow::Owned(image_desc(image.format(), width, height, &planes)),
                planes: vec![staging; planes.len()],
                dmabuf: Some(dmabuf),
                foreign: Vec::new(),
                staged: Some(image),
            });
        }
        let import = self.imports.import(&self.device, dmabuf)?;
        let (width, height) = import.size();
        Ok(Resolved {
            desc: Cow::Owned(image_desc(import.format(), width, height, import.planes())),
            planes: import
                .planes()
                .iter()
                .map(|p| Arc::clone(import.buffer(p.buffer)))
                .collect(),
            dmabuf: Some(dmabuf),
            foreign: import.buffers().to_vec(),
            staged: None,
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
    fn wait_fence(
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

    /// Releases the work whose fence signalled; returns how much is still in
    /// flight.
    /// Imports whose dma-buf nobody else holds any more leave the cache; they
    /// are destroyed once no job uses them.
    pub fn collect(&mut self) -> Result<usize, CopyError> {
        let mut error = None;
        let mut pending = Vec::with_capacity(self.in_flight.len());
        for work in self.in_flight.drain(..) {
            match work.is_done() {
                Ok(true) if self.spare.len() < SPARE_COMMANDS => match work.recycle() {
                    Ok(commands) => self.spare.push(commands),
                    Err(err) => {
                        error.get_or_insert(err);
                    }
                },
                Ok(true) => drop(work),
                Ok(false) => pending.push(work),
                Err(err) => {
                    error.get_or_insert(err);
                    pending.push(work);
                }
            }
        }
        self.in_flight = pending;
        self.imports.sweep();
        match error {
            Some(err) => Err(err.into()),
            None => Ok(self.in_flight.len()),
        }
    }

    /// Keeps `work` until it completed, releases what completed before, and
    /// returns the work's fence.
    fn track(&mut self, work: Submitted) -> Result<Arc<Fence>, CopyError> {
        let fence = work.fence();
        self.in_flight.push(work);
        self.collect()?;
        Ok(fence)
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

/// The three bindings of a dispatch of `tile` reading `src` and writing
/// `dst`. Plane 1 of a single-plane source is never read; plane 0 stands
/// in.
pub(super) fn bindings<'a>(
    src: &'a Resolved<'_>,
    dst: &'a Resolved<'_>,
    tile: &Tile,
) -> [Binding<'a>; 3] {
    let window = |w: Option<Window>| w.map(|w| (w.offset, w.range));
    let src0 = tile.src.first().copied().flatten();
    let (plane1, window1) = match src.planes.get(1) {
        Some(plane) => (plane, tile.src.get(1).copied().flatten()),
        None => (&src.planes[0], src0),
    };
    [
        Binding {
            buffer: &src.planes[0],
            window: window(src0),
        },
        Binding {
            buffer: plane1,
            window: window(window1),
        },
        Binding {
            buffer: &dst.planes[0],
            window: window(tile.dst),
        },
    ]
}

/// The workgroups that cover `rect`, which is not empty.
pub(super) fn groups<S>(rect: &Rect<i32, S>) -> [u32; 2] {
    let [w, h] = [rect.size.w, rect.size.h]
        .map(|n| u32::try_from(n).expect("validated rectangles are not empty"));
    [w.div_ceil(WORKGROUP * RUN), h.div_ceil(WORKGROUP)]
}

/// `dmabuf`, locked; a panic of another holder does not make it unusable
/// (every operation on it leaves it consistent).
fn lock(dmabuf: &SharedDmabuf) -> std::sync::MutexGuard<'_, crate::dmabuf::Dmabuf> {
    dmabuf.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The description of an imported dma-buf's planes.
fn image_desc(format: DrmFourcc, width: u32, height: u32, planes: &[ImportedPlane]) -> ImageDesc {
    ImageDesc {
        format,
        width,
        height,
        planes: planes
            .iter()
            .map(|p| PlaneDesc {
                offset: u64::from(p.offset),
                stride: p.stride,
            })
            .collect(),
    }
}
