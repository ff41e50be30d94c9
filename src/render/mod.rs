//! A smithay renderer on dmabridge's copy engine.
//!
//! [`VulkanRenderer`] implements smithay 0.7's renderer traits
//! ([`Renderer`], [`Frame`](smithay::backend::renderer::Frame),
//! [`ImportMem`](smithay::backend::renderer::ImportMem) and
//! [`ImportMemWl`](smithay::backend::renderer::ImportMemWl),
//! [`ImportDma`](smithay::backend::renderer::ImportDma) and
//! [`ImportDmaWl`](smithay::backend::renderer::ImportDmaWl), [`Bind`] for
//! its own textures and for LINEAR dma-bufs, [`Offscreen`],
//! [`ExportMem`](smithay::backend::renderer::ExportMem)), so a compositor
//! drives it with `smithay::desktop::space::render_output` or an
//! `OutputDamageTracker` like any other smithay renderer. It is not a
//! rasterizer: every texture and framebuffer is a storage buffer, and
//! every draw is a job of the [`Copier`] that copies buffers
//! ([`crate::copy`]), extended with blending.
//!
//! # How a frame becomes jobs
//!
//! Each call on a frame (`clear`, `draw_solid`, `render_texture_from_to`)
//! becomes one [`DrawPlan`](crate::copy::DrawPlan) for each of its damage rectangles, checked when
//! the call is made: the rectangle is clipped to the element's destination
//! rectangle and the output, carried into framebuffer pixels by the frame's
//! transformation, and only the pixels of that clip are ever written. A
//! destination rectangle reaching too far beyond the output for a plan is
//! cut to the part near it, with the matching part of the source; a draw
//! that still cannot be planned, or that the copier refuses when the frame
//! is submitted, is skipped with a warning (once a texture) and the rest of
//! the frame is drawn (`render/frame.rs`). A texture's buffer transform, composed with the output's, is one of the
//! eight [`Transform`]s the copy engine already knows; its source rectangle
//! may be fractional (`wp_viewporter`). `finish` records every draw of the
//! frame, in order, into one command buffer ([`Copier::submit_draws`]):
//! compute dispatches, where the draws of one texture over several damage
//! rectangles share one of each shader (one a band where a texture or the
//! target is larger than a storage buffer binding may be, such as a
//! 6000×6000 `wl_shm` buffer on lavapipe), or, for a solid colour that replaces what
//! it covers (`clear`) in a target that takes transfers, a buffer fill of
//! its rows (`vkCmdFillBuffer`), a barrier only before a draw that overlaps
//! one written since the last barrier, one submission. The command buffer
//! and its descriptor pools are reused from frame to frame. A frame with
//! nothing to draw submits nothing and returns a signalled sync point
//! (smithay's damage tracker does not even start a frame without damage,
//! and clears only what no opaque element covers).
//!
//! A draw that replaces what it covers with a texture's pixels as they are
//! (opaque content at alpha 1, untransformed, unscaled, from a device
//! buffer of the target's format) is a copy of bytes, which a transfer
//! does far faster than the shader on a CPU device: `finish` submits it as
//! a copy job (`vkCmdCopyBuffer`, `copy/plain.rs`) between the batches of
//! the draws before and after it, on the same queue, in order
//! ([`FrameCounters`] counts which way each draw went).
//!
//! `finish` returns a [`SyncPoint`] over a [`RenderFence`]; where the device
//! exports SYNC_FD semaphore payloads, it exports a sync_file, which is also
//! added to the implicit fences of the dma-bufs the frame read or wrote.
//! Nothing in the render path blocks: a client dma-buf whose fence has not
//! signalled, on a device that cannot wait for it on the GPU, fails the
//! frame ([`crate::copy::CopyError::UnsignalledFence`])
//! instead of blocking. Only `wait` on a sync point of another renderer,
//! which smithay's contract asks for, may block, and only where that fence
//! cannot be handed to the GPU.
//!
//! # Textures from `wl_shm` buffers
//!
//! A surface keeps its shm texture from commit to commit
//! (`render/shm_cache.rs`): a commit of a buffer of the same size and format is
//! uploaded into it, only the rows and columns its damage covers. Where the
//! device imports host memory and the pool's memfd is sealed against
//! shrinking, the surface keeps the pool imported and the device copies
//! each damaged rectangle straight from it: one copy of each pixel. Any
//! other pool is copied by the CPU, under smithay's SIGBUS protection, into
//! staging memory the surface keeps, then by one transfer; neither way
//! creates a Vulkan object once the surface has its texture
//! ([`VulkanRenderer::shm_buffers_created`] counts them, and
//! [`VulkanRenderer::shm_uploads`] which way each commit went). The price
//! is up to two staging buffers as large as the texture per surface, or
//! an import (no memory, a mapping) of its pool.
//!
//! # Colour
//!
//! smithay's convention: colours and texels are premultiplied by their
//! alpha, and a draw over the framebuffer gives `src + dst × (1 − src.α)`.
//! The global alpha of a draw multiplies the whole (premultiplied) source.
//! X formats (XRGB8888, XBGR8888) read with alpha 1 and store alpha 0xff,
//! except that a pixel drawn whole from one X format into another keeps its
//! padding byte (the copy engine's rule, `copy/reference.rs`). A
//! draw whose clip lies inside one of the element's opaque regions, at
//! alpha 1, replaces the destination instead of blending. Textures are
//! sampled as the renderer's filters say: the upscale filter when the
//! destination is larger than the source, the downscale filter otherwise,
//! nearest for a 1:1 draw from whole pixels.
//!
//! # Not supported
//!
//! * Sources other than ARGB8888, XRGB8888, ABGR8888, XBGR8888 (memory,
//!   shm and dma-buf) and NV12 (shm and dma-buf; an NV12 shm buffer is
//!   copied whole at each commit, `import_shm_whole`); targets other than
//!   the four packed formats.
//! * Dma-bufs with a modifier other than LINEAR (the copy engine reads rows
//!   of a buffer), or the implicit modifier of an exporter whose layout is
//!   unknown (`dmabuf::exporter`). Y-inverted dma-bufs are read bottom row
//!   first, by the draw itself.
//! * Memory imports marked `flipped`.
//! * Debug flags are stored and reported, not drawn (no tint).

mod capture;
mod export;
mod fence;
mod frame;
mod import;
#[expect(
    unsafe_code,
    reason = "the slice over a wl_shm pool smithay lends as a raw pointer"
)]
mod shm;
mod shm_cache;
mod texture;

use std::sync::Arc;

use drm_fourcc::{DrmFourcc, DrmModifier};
use smithay::backend::allocator::dmabuf::{Dmabuf as SmithayDmabuf, WeakDmabuf};
use smithay::backend::allocator::format::FormatSet;
use smithay::backend::allocator::{Buffer as _, Format};
use smithay::backend::renderer::sync::SyncPoint;
use smithay::backend::renderer::{
    Bind, ContextId, DebugFlags, Offscreen, Renderer, RendererSuper, Texture, TextureFilter,
};
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::utils::{Buffer as BufferCoord, Physical, Size, Transform};

use crate::copy::{
    Copier, CopyCompletion, CopyError, DeviceBuffer, DrawError, ImageDesc, MAX_EXTENT, PlaneDesc,
};
use crate::dmabuf::{ParamsError, exporter};
use crate::vulkan::{Device, Presented, Swapchain};

pub use capture::{CaptureTarget, PendingCapture, WriteBackError};
pub use fence::RenderFence;
pub use frame::VulkanFrame;
use import::Copies;
pub use import::{ShmPool, ShmUpload};
pub use texture::{VulkanFramebuffer, VulkanMapping, VulkanTexture};

/// The renderer's texture type, under the name smithay's traits use.
pub type TextureId = VulkanTexture;

/// The target type of a frame.
pub type Framebuffer<'a> = VulkanFramebuffer<'a>;

/// The packed formats the renderer reads from memory and renders into.
const PACKED: [DrmFourcc; 4] = [
    DrmFourcc::Argb8888,
    DrmFourcc::Xrgb8888,
    DrmFourcc::Abgr8888,
    DrmFourcc::Xbgr8888,
];

/// Why the renderer refused or failed. Every refusal happens before
/// anything is recorded.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The copy engine refused a job (formats, layouts, sizes) or a Vulkan
    /// call failed.
    #[error(transparent)]
    Copy(#[from] CopyError),
    /// A readback's region was refused.
    #[error(transparent)]
    Plan(#[from] crate::copy::PlanError),
    /// A draw's rectangles, alpha or colour were refused.
    #[error(transparent)]
    Draw(#[from] DrawError),
    /// A dma-buf failed the checks of `zwp_linux_buffer_params_v1`.
    #[error(transparent)]
    Params(#[from] ParamsError),
    /// A format the renderer does not read or write here (see the module
    /// documentation).
    #[error("format {format} is not supported here")]
    UnsupportedFormat {
        /// The format.
        format: DrmFourcc,
    },
    /// A `wl_shm` format without a DRM fourcc the renderer reads.
    #[error("wl_shm format {format:?} is not supported")]
    UnsupportedShmFormat {
        /// The format.
        format: wl_shm::Format,
    },
    /// A dma-buf's modifier is neither LINEAR nor the implicit modifier
    /// of an exporter whose buffers are all linear.
    #[error(
        "dma-buf modifier {modifier:?} is not supported: only LINEAR, or the implicit \
         modifier of udmabuf and dma-heap buffers and, where every DRM device makes only \
         linear buffers, of DRM buffers"
    )]
    UnsupportedModifier {
        /// The modifier.
        modifier: DrmModifier,
    },
    /// A texture that cannot be shown in a window: not in device memory,
    /// or not of the swapchain's format.
    #[error("only an offscreen texture of the window's format can be presented")]
    NotPresentable,
    /// A memory import marked flipped.
    #[error("flipped memory imports are not supported")]
    Flipped,
    /// A size is empty or larger than [`MAX_EXTENT`].
    #[error("size {width}×{height} is empty or larger than {MAX_EXTENT}")]
    InvalidSize {
        /// The width asked for.
        width: i32,
        /// The height asked for.
        height: i32,
    },
    /// Fewer bytes were given than the image needs.
    #[error("{len} bytes given, {needed} needed")]
    DataTooShort {
        /// The bytes given.
        len: usize,
        /// The bytes needed.
        needed: usize,
    },
    /// A region is not inside its texture.
    #[error("region is not inside the {width}×{height} texture")]
    RegionOutOfBounds {
        /// The texture's width.
        width: u32,
        /// The texture's height.
        height: u32,
    },
    /// `update_memory` on a texture that is not in device memory (an
    /// imported dma-buf).
    #[error("only textures imported from memory can be updated")]
    NotUpdatable,
    /// A dma-buf that the device cannot import, whose texture is a copy
    /// the CPU makes at each commit, was asked for where the device must
    /// read or write the buffer itself (a target, a capture's or a copy's
    /// buffer).
    #[error("the device cannot import this dma-buf: only its copy can be drawn")]
    NotImported,
    /// CPU access to a dma-buf the device cannot import was refused.
    #[error("reading a dma-buf the device cannot import")]
    DmabufAccess(#[source] crate::dmabuf::AccessError),
    /// `render` was given an output size other than its framebuffer's.
    #[error("output size {width}×{height} is not the framebuffer's")]
    OutputSize {
        /// The output width asked for.
        width: i32,
        /// The output height asked for.
        height: i32,
    },
    /// A `wl_shm` buffer could not be read (smithay posted the protocol
    /// error to the client).
    #[error("reading a wl_shm buffer")]
    Shm(#[from] smithay::wayland::shm::BufferAccessError),
    /// A `wl_shm` buffer's layout reaches past its pool.
    #[error("wl_shm buffer does not fit its pool")]
    ShmLayout,
    /// Duplicating a dma-buf's fd failed (`EMFILE`).
    #[error("duplicating a dma-buf fd")]
    Dup(#[source] std::io::Error),
    /// Waiting for a sync point was interrupted.
    #[error("waiting for a sync point was interrupted")]
    Interrupted,
    /// A sync point's exported fd was not a sync_file.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// A mapping's readback failed before; its bytes are gone.
    #[error("the mapping's readback failed")]
    MappingFailed,
}

/// What a renderer's frames submitted, counted from its creation: how a
/// frame's work reached the GPU ([`VulkanRenderer::frame_counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameCounters {
    /// Submissions to the device's queue: draw batches and transfers.
    pub submissions: u64,
    /// Draws the copy shader carried out (blends, colours, transforms,
    /// scaling).
    pub shader_draws: u64,
    /// Draws carried out as transfers: textures that replace what they
    /// cover, untransformed and unscaled, in the target's format.
    pub transfers: u64,
    /// Solid colours that replace what they cover (`clear`), written as
    /// buffer fills where the target takes transfers, not by the shader.
    pub fills: u64,
    /// Pixels written with a solid colour (`clear`, `draw_solid`).
    pub filled_pixels: u64,
    /// Textures blended over a clear of the same frame without reading
    /// the target: the clear leaves their pixels out, and they blend over
    /// its colour.
    pub blends_onto_fills: u64,
}

/// How a renderer's `wl_shm` commits, and the dma-bufs it copies, reached
/// their textures, counted from its creation
/// ([`VulkanRenderer::shm_uploads`]; `render/shm_cache.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShmUploads {
    /// Pools imported for the device to read in place.
    pub pool_imports: u64,
    /// Commits the device copied straight from their pool.
    pub from_pool: u64,
    /// Commits the CPU copied into staging memory, and the device from
    /// there.
    pub staged: u64,
    /// Commits of dma-bufs the device cannot import, copied by the CPU
    /// inside a read bracket into staging memory, and from there into
    /// their texture (`render/import.rs`).
    pub dmabuf_copies: u64,
}

/// The texture of a client's dma-buf.
#[derive(Debug)]
enum DmabufTexture {
    /// The device reads the dma-buf itself.
    Imported(VulkanTexture),
    /// The device cannot import the dma-buf, but the CPU can map it for
    /// reading (a read-only export, where the device maps what it
    /// imports, as lavapipe does): each commit copies it into a texture
    /// in device memory.
    Copied {
        dmabuf: crate::dmabuf::SharedDmabuf,
        kept: shm_cache::CachedTexture,
    },
}

/// A smithay renderer over the copy engine; see the module documentation.
///
/// Fields are in destruction order: cached textures, then the copier
/// (which waits for the work in flight), the device last.
#[derive(Debug)]
pub struct VulkanRenderer {
    /// The textures of client dma-bufs, by smithay's buffer; dropped once
    /// the buffer is.
    dmabuf_textures: Vec<(WeakDmabuf, DmabufTexture)>,
    /// Device and staging buffers created by `wl_shm` imports so far.
    shm_buffers_created: u64,
    /// What frames submitted so far.
    frame_counters: FrameCounters,
    /// How `wl_shm` commits were uploaded so far.
    shm_uploads: ShmUploads,
    /// The last band of rows uploaded ahead, until it completed
    /// ([`band_ahead_in_flight`](Self::band_ahead_in_flight)).
    band_ahead: Option<CopyCompletion>,
    /// Host-visible buffers kept for `wl_shm` captures (`capture.rs`).
    capture_buffers: Vec<DeviceBuffer>,
    /// `wl_shm` pools imported for buffer copies to read in place
    /// (`capture.rs`).
    source_pools: shm_cache::PoolImports,
    /// Every DRM device of the machine makes only linear buffers, so a
    /// DRM-exported dma-buf with the implicit modifier is linear
    /// ([`exporter::drm_exports_linear`]).
    drm_exports_linear: bool,
    copier: Copier,
    context: ContextId<VulkanTexture>,
    upscale: TextureFilter,
    downscale: TextureFilter,
    debug: DebugFlags,
    device: Arc<Device>,
}

impl VulkanRenderer {
    /// A renderer on `device`: builds the copy pipeline.
    pub fn new(device: Arc<Device>) -> Result<Self, RenderError> {
        Ok(Self {
            dmabuf_textures: Vec::new(),
            shm_buffers_created: 0,
            frame_counters: FrameCounters::default(),
            shm_uploads: ShmUploads::default(),
            band_ahead: None,
            capture_buffers: Vec::new(),
            source_pools: shm_cache::PoolImports::new(capture::SOURCE_POOLS),
            drm_exports_linear: exporter::drm_exports_linear(&crate::alloc::drm_nodes()),
            copier: Copier::new(Arc::clone(&device))?,
            context: ContextId::new(),
            upscale: TextureFilter::Linear,
            downscale: TextureFilter::Linear,
            debug: DebugFlags::empty(),
            device,
        })
    }

    /// The device the renderer draws with.
    pub fn device(&self) -> &Arc<Device> {
        &self.device
    }

    /// How many Vulkan objects dma-buf imports have created so far
    /// (re-importing a buffer creates none).
    pub fn import_objects_created(&self) -> u64 {
        self.copier.import_objects_created()
    }

    /// Shows `texture`, an offscreen texture of this renderer in the
    /// swapchain's format, in the swapchain's window: the texture is copied
    /// into the next image, after every frame rendered into it so far.
    pub(crate) fn present(
        &mut self,
        texture: &VulkanTexture,
        swapchain: &mut Swapchain,
    ) -> Result<Presented, RenderError> {
        let (buffer, desc) = texture
            .device_buffer()
            .filter(|(_, desc)| desc.format == swapchain.fourcc())
            .ok_or(RenderError::NotPresentable)?;
        swapchain
            .present(
                buffer.vulkan(),
                desc.planes[0].stride,
                desc.width,
                desc.height,
            )
            .map_err(|err| RenderError::Copy(err.into()))
    }

    /// How many device and staging buffers `wl_shm` imports have created
    /// so far: two for a surface's first buffer, or one of another size or
    /// format; none when a commit is uploaded into the surface's texture
    /// through staging memory no earlier upload still reads (one when the
    /// GPU is so far behind that both of the surface's are).
    pub fn shm_buffers_created(&self) -> u64 {
        self.shm_buffers_created
    }

    /// What the renderer's frames submitted so far.
    pub fn frame_counters(&self) -> FrameCounters {
        self.frame_counters
    }

    /// How the renderer's `wl_shm` commits were uploaded so far.
    pub fn shm_uploads(&self) -> ShmUploads {
        self.shm_uploads
    }

    /// Releases completed work and forgets dma-bufs smithay dropped.
    fn cleanup(&mut self) -> Result<(), RenderError> {
        self.dmabuf_textures.retain(|(weak, _)| !weak.is_gone());
        self.copier.collect()?;
        Ok(())
    }

    /// A texture in device memory of `format` and `size`, contents
    /// undefined; tightly packed rows.
    fn create_texture(
        &mut self,
        format: DrmFourcc,
        size: Size<i32, BufferCoord>,
    ) -> Result<VulkanTexture, RenderError> {
        self.create_texture_rows(format, size, false)
    }

    /// A texture in device memory for `format` pixels of `size`, stored
    /// bottom row first where `y_inverted`.
    fn create_texture_rows(
        &mut self,
        format: DrmFourcc,
        size: Size<i32, BufferCoord>,
        y_inverted: bool,
    ) -> Result<VulkanTexture, RenderError> {
        if !PACKED.contains(&format) {
            return Err(RenderError::UnsupportedFormat { format });
        }
        let (width, height) = checked_size(size)?;
        let stride = width * 4;
        let buffer = self
            .copier
            .create_buffer(u64::from(stride) * u64::from(height))?;
        let desc = ImageDesc {
            format,
            width,
            height,
            planes: vec![PlaneDesc { offset: 0, stride }],
        };
        Ok(VulkanTexture::from_buffer(buffer, desc, y_inverted))
    }

    /// The LINEAR rows of the device's importable table whose formats are
    /// in `formats`.
    fn linear_formats(&self, formats: &[DrmFourcc]) -> FormatSet {
        self.device
            .importable_formats()
            .iter()
            .filter(|row| row.modifier == DrmModifier::Linear && formats.contains(&row.fourcc))
            .map(|row| Format {
                code: row.fourcc,
                modifier: row.modifier,
            })
            .collect()
    }
}

/// `size` as unsigned pixels, when it holds pixels and fits [`MAX_EXTENT`].
fn checked_size(size: Size<i32, BufferCoord>) -> Result<(u32, u32), RenderError> {
    let fits = |n: i32| (1..=MAX_EXTENT).contains(&n);
    match (u32::try_from(size.w), u32::try_from(size.h)) {
        (Ok(w), Ok(h)) if fits(size.w) && fits(size.h) => Ok((w, h)),
        _ => Err(RenderError::InvalidSize {
            width: size.w,
            height: size.h,
        }),
    }
}

impl RendererSuper for VulkanRenderer {
    type Error = RenderError;
    type TextureId = VulkanTexture;
    type Framebuffer<'buffer> = VulkanFramebuffer<'buffer>;
    type Frame<'frame, 'buffer>
        = VulkanFrame<'frame, 'buffer>
    where
        'buffer: 'frame;
}

impl Renderer for VulkanRenderer {
    fn context_id(&self) -> ContextId<VulkanTexture> {
        self.context.clone()
    }

    fn downscale_filter(&mut self, filter: TextureFilter) -> Result<(), RenderError> {
        self.downscale = filter;
        Ok(())
    }

    fn upscale_filter(&mut self, filter: TextureFilter) -> Result<(), RenderError> {
        self.upscale = filter;
        Ok(())
    }

    fn set_debug_flags(&mut self, flags: DebugFlags) {
        self.debug = flags;
    }

    fn debug_flags(&self) -> DebugFlags {
        self.debug
    }

    fn render<'frame, 'buffer>(
        &'frame mut self,
        framebuffer: &'frame mut VulkanFramebuffer<'buffer>,
        output_size: Size<i32, Physical>,
        dst_transform: Transform,
    ) -> Result<VulkanFrame<'frame, 'buffer>, RenderError>
    where
        'buffer: 'frame,
    {
        let texture = framebuffer.texture();
        if i64::from(output_size.w) != i64::from(texture.width())
            || i64::from(output_size.h) != i64::from(texture.height())
        {
            return Err(RenderError::OutputSize {
                width: output_size.w,
                height: output_size.h,
            });
        }
        self.cleanup()?;
        Ok(VulkanFrame::new(
            self,
            framebuffer,
            output_size,
            dst_transform,
        ))
    }

    fn wait(&mut self, sync: &SyncPoint) -> Result<(), RenderError> {
        if sync.get::<RenderFence>().is_some() {
            // Ours: later submissions on the device's one queue follow it.
            return Ok(());
        }
        sync.wait().map_err(|_| RenderError::Interrupted)
    }

    fn cleanup_texture_cache(&mut self) -> Result<(), RenderError> {
        self.cleanup()
    }
}

impl Bind<VulkanTexture> for VulkanRenderer {
    fn bind<'a>(
        &mut self,
        target: &'a mut VulkanTexture,
    ) -> Result<VulkanFramebuffer<'a>, RenderError> {
        if !PACKED.contains(&target.fourcc()) {
            return Err(RenderError::UnsupportedFormat {
                format: target.fourcc(),
            });
        }
        Ok(VulkanFramebuffer::new(target.clone()))
    }

    fn supported_formats(&self) -> Option<FormatSet> {
        Some(
            PACKED
                .iter()
                .map(|&code| Format {
                    code,
                    modifier: DrmModifier::Linear,
                })
                .collect(),
        )
    }
}

impl Bind<SmithayDmabuf> for VulkanRenderer {
    fn bind<'a>(
        &mut self,
        target: &'a mut SmithayDmabuf,
    ) -> Result<VulkanFramebuffer<'a>, RenderError> {
        let format = target.format().code;
        if !PACKED.contains(&format) {
            return Err(RenderError::UnsupportedFormat { format });
        }
        let texture = self.import_smithay_dmabuf(target, Copies::No)?;
        Ok(VulkanFramebuffer::new(texture))
    }

    fn supported_formats(&self) -> Option<FormatSet> {
        Some(self.linear_formats(&PACKED))
    }
}

impl Offscreen<VulkanTexture> for VulkanRenderer {
    fn create_buffer(
        &mut self,
        format: DrmFourcc,
        size: Size<i32, BufferCoord>,
    ) -> Result<VulkanTexture, RenderError> {
        self.create_texture(format, size)
    }
}
