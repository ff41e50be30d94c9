//! What the renderer draws from and into: [`VulkanTexture`] (a device
//! buffer or an imported dma-buf), the [`VulkanFramebuffer`] a frame is
//! rendered into, and the [`VulkanMapping`] a readback leaves in host
//! memory.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::{Texture, TextureMapping};

use super::RenderError;
use crate::copy::{self, DeviceBuffer, ImageDesc, Readback, Surface};
use crate::dmabuf::SharedDmabuf;

/// A texture of the renderer: cheap to clone (an `Arc` inside), and its
/// storage lives as long as any clone or any frame that draws it.
#[derive(Debug, Clone)]
pub struct VulkanTexture(Arc<TextureInner>);

#[derive(Debug)]
struct TextureInner {
    storage: Storage,
    format: DrmFourcc,
    width: u32,
    height: u32,
    /// Whether a frame skipped a draw of this texture and said so: the
    /// warning is logged once a texture, not every frame.
    refused: AtomicBool,
    /// The picture is stored bottom row first (a dma-buf made with
    /// `Y_INVERT`, as GL clients draw them).
    y_inverted: bool,
}

/// Where a texture's pixels are.
#[derive(Debug)]
enum Storage {
    /// Device memory: uploaded pixels, or an offscreen target.
    Buffer {
        buffer: DeviceBuffer,
        desc: ImageDesc,
    },
    /// A client's LINEAR dma-buf, imported by the copier on first use.
    Dmabuf(SharedDmabuf),
}

impl VulkanTexture {
    /// A texture over a device buffer holding an image described by
    /// `desc`; `y_inverted`: stored bottom row first.
    pub(super) fn from_buffer(buffer: DeviceBuffer, desc: ImageDesc, y_inverted: bool) -> Self {
        Self(Arc::new(TextureInner {
            format: desc.format,
            width: desc.width,
            height: desc.height,
            storage: Storage::Buffer { buffer, desc },
            refused: AtomicBool::new(false),
            y_inverted,
        }))
    }

    /// Whether `other` is a clone of this texture: the same storage.
    pub fn same_as(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// A texture over a validated dma-buf.
    /// A texture over an imported dma-buf; `y_inverted`: its picture is
    /// stored bottom row first.
    pub(super) fn from_dmabuf(dmabuf: SharedDmabuf, y_inverted: bool) -> Self {
        let (format, width, height) = {
            let locked = dmabuf.lock().unwrap_or_else(PoisonError::into_inner);
            (locked.format(), locked.width(), locked.height())
        };
        Self(Arc::new(TextureInner {
            storage: Storage::Dmabuf(dmabuf),
            format,
            width,
            height,
            refused: AtomicBool::new(false),
            y_inverted,
        }))
    }

    /// Where the picture's rows `y..y + height` are stored, and the
    /// transform that turns them upright again: themselves and `Normal`,
    /// or for a y-inverted texture the mirrored rows and a vertical flip.
    pub(super) fn stored_rows(&self, y: f64, height: f64) -> (f64, copy::Transform) {
        if self.0.y_inverted {
            (
                f64::from(self.0.height) - y - height,
                copy::Transform::Flipped180,
            )
        } else {
            (y, copy::Transform::Normal)
        }
    }

    /// Records that a frame skipped a draw of this texture; whether it is
    /// the first time (the one to log).
    pub(super) fn first_refusal(&self) -> bool {
        !self.0.refused.swap(true, Ordering::Relaxed)
    }

    /// The texture as one side of a copy or draw.
    pub(super) fn surface(&self) -> Surface<'_> {
        match &self.0.storage {
            Storage::Buffer { buffer, desc } => Surface::Buffer { buffer, desc },
            Storage::Dmabuf(dmabuf) => Surface::Dmabuf(dmabuf),
        }
    }

    /// The device buffer and its description, for a texture in device
    /// memory (`None` for a dma-buf).
    pub(super) fn device_buffer(&self) -> Option<(&DeviceBuffer, &ImageDesc)> {
        match &self.0.storage {
            Storage::Buffer { buffer, desc } => Some((buffer, desc)),
            Storage::Dmabuf(_) => None,
        }
    }

    /// The pixel format.
    pub fn fourcc(&self) -> DrmFourcc {
        self.0.format
    }
}

impl Texture for VulkanTexture {
    fn width(&self) -> u32 {
        self.0.width
    }

    fn height(&self) -> u32 {
        self.0.height
    }

    fn format(&self) -> Option<DrmFourcc> {
        Some(self.0.format)
    }
}

/// The target of a frame: a texture bound with [`Bind`](smithay::backend::renderer::Bind),
/// borrowed for as long as the binding lasts.
#[derive(Debug)]
pub struct VulkanFramebuffer<'a> {
    texture: VulkanTexture,
    target: PhantomData<&'a mut ()>,
}

impl VulkanFramebuffer<'_> {
    /// A framebuffer drawing into `texture`.
    pub(super) fn new(texture: VulkanTexture) -> Self {
        Self {
            texture,
            target: PhantomData,
        }
    }

    /// The texture drawn into.
    pub fn texture(&self) -> &VulkanTexture {
        &self.texture
    }
}

impl Texture for VulkanFramebuffer<'_> {
    fn width(&self) -> u32 {
        self.texture.width()
    }

    fn height(&self) -> u32 {
        self.texture.height()
    }

    fn format(&self) -> Option<DrmFourcc> {
        Some(self.texture.fourcc())
    }
}

/// Pixels read back from a texture ([`ExportMem`](smithay::backend::renderer::ExportMem)):
/// tightly packed rows of `format`. The readback runs on the GPU when the
/// mapping is made; the first [`map_texture`](smithay::backend::renderer::ExportMem::map_texture)
/// waits for it.
#[derive(Debug)]
pub struct VulkanMapping {
    width: u32,
    height: u32,
    format: DrmFourcc,
    pending: Mutex<Option<Readback>>,
    bytes: OnceLock<Vec<u8>>,
}

impl VulkanMapping {
    /// A mapping of a `width × height` region of `format` whose bytes
    /// `readback` brings to host memory.
    pub(super) fn new(width: u32, height: u32, format: DrmFourcc, readback: Readback) -> Self {
        Self {
            width,
            height,
            format,
            pending: Mutex::new(Some(readback)),
            bytes: OnceLock::new(),
        }
    }

    /// The bytes, waiting for the readback the first time.
    pub(super) fn bytes(&self) -> Result<&[u8], RenderError> {
        if let Some(bytes) = self.bytes.get() {
            return Ok(bytes);
        }
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(RenderError::MappingFailed)?;
        let mut bytes = pending.wait()?;
        // The readback buffer is whole words; the mapping is the rows.
        bytes.truncate(self.width as usize * self.height as usize * 4);
        Ok(self.bytes.get_or_init(|| bytes))
    }
}

impl Texture for VulkanMapping {
    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn format(&self) -> Option<DrmFourcc> {
        Some(self.format)
    }
}

impl TextureMapping for VulkanMapping {
    fn flipped(&self) -> bool {
        false
    }
}
