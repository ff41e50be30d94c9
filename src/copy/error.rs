//! Why a copy, upload or readback was refused or failed: [`CopyError`].

use drm_fourcc::DrmFourcc;

use super::plan::Side;
use crate::sync::SyncError;
use crate::vulkan::VulkanError;

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
    /// Not even the bytes one pixel of the copy needs of a buffer (a row of a
    /// plane, with the alignment of its binding) fit in one binding of the
    /// shader: `maxStorageBufferRange`, or the limit
    /// [`Copier::set_binding_limit`](super::Copier::set_binding_limit) set. A
    /// buffer larger than that is otherwise drawn in bands (`band.rs`).
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
    /// [`DeviceBuffer::read_host`](super::DeviceBuffer::read_host) on a
    /// buffer the host cannot read (one made by
    /// [`Copier::create_buffer`](super::Copier::create_buffer)).
    #[error("the buffer is not visible to the host")]
    NotHostVisible,
    /// [`Copier::create_buffer`](super::Copier::create_buffer) was asked for
    /// an empty buffer.
    #[error("a buffer of 0 bytes")]
    EmptyBuffer,
    /// [`Copier::upload`](super::Copier::upload) was given more bytes than
    /// the buffer holds, or a range of
    /// [`Copier::upload_ranges`](super::Copier::upload_ranges) ends past the
    /// staging memory or the buffer.
    #[error("{len} bytes do not fit a buffer of {size}")]
    UploadTooLarge {
        /// The bytes given.
        len: u64,
        /// The buffer's size.
        size: u64,
    },
    /// The ranges given to
    /// [`Copier::upload_ranges`](super::Copier::upload_ranges) are not in
    /// order, overlap, or one is empty.
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
