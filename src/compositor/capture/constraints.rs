//! What a capture session accepts: the buffer size, and the `wl_shm` and
//! dma-buf formats, in the order clients should prefer them; and the check
//! every client buffer passes before the GPU sees it.

use drm_fourcc::{DrmFourcc, DrmModifier};
use smithay::backend::allocator::Buffer as _;
use smithay::reexports::wayland_server::protocol::{wl_buffer::WlBuffer, wl_shm};
use smithay::utils::{Buffer as BufferCoord, Size};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::shm::with_buffer_contents;

use crate::render::VulkanRenderer;

/// The `wl_shm` formats a capture can be written in, in the order clients
/// should prefer them (they take the first): the output's own layout
/// first. These are the formats `wl_shm` advertises.
pub(crate) const SHM_FORMATS: [wl_shm::Format; 4] = [
    wl_shm::Format::Xrgb8888,
    wl_shm::Format::Argb8888,
    wl_shm::Format::Xbgr8888,
    wl_shm::Format::Abgr8888,
];

/// The dma-buf formats a capture can be written in, in the same order.
const DMABUF_FORMATS: [DrmFourcc; 4] = [
    DrmFourcc::Xrgb8888,
    DrmFourcc::Argb8888,
    DrmFourcc::Xbgr8888,
    DrmFourcc::Abgr8888,
];

/// The buffers a session accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Constraints {
    /// The size every buffer must have.
    pub(crate) size: Size<i32, BufferCoord>,
    /// The `wl_shm` formats, in order of preference; any stride of at least
    /// a row (ext) or exactly a row (wlr, which announces it).
    pub(crate) shm_formats: Vec<wl_shm::Format>,
    /// The dma-buf device and formats (LINEAR only), where a DRM device is
    /// known.
    pub(crate) dmabuf: Option<DmabufConstraints>,
}

/// Where and in which formats a dma-buf destination must be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DmabufConstraints {
    /// The DRM device's `dev_t`.
    pub(crate) device: u64,
    /// The formats the device writes as LINEAR, in order of preference.
    pub(crate) formats: Vec<DrmFourcc>,
}

impl DmabufConstraints {
    /// The capture formats among the renderer's LINEAR dma-buf formats, on
    /// `device`; `None` when there are none.
    pub(crate) fn new(device: u64, renderer: &VulkanRenderer) -> Option<Self> {
        let importable = smithay::backend::renderer::ImportDma::dmabuf_formats(renderer);
        let formats: Vec<DrmFourcc> = DMABUF_FORMATS
            .into_iter()
            .filter(|&code| {
                importable
                    .iter()
                    .any(|f| f.code == code && f.modifier == DrmModifier::Linear)
            })
            .collect();
        (!formats.is_empty()).then_some(Self { device, formats })
    }
}

/// Why `buffer` does not meet `constraints`, if it does not.
pub(super) fn check_buffer(
    buffer: &WlBuffer,
    constraints: &Constraints,
    stride_exact: bool,
) -> Result<(), &'static str> {
    let size = constraints.size;
    if let Ok(data) = with_buffer_contents(buffer, |_, _, data| data) {
        if (data.width, data.height) != (size.w, size.h) {
            return Err("wl_shm buffer of another size");
        }
        if !constraints.shm_formats.contains(&data.format) {
            return Err("wl_shm format not offered");
        }
        let row = i64::from(size.w) * 4;
        let stride = i64::from(data.stride);
        if stride < row || (stride_exact && stride != row) || stride % 4 != 0 {
            return Err("wl_shm stride not offered");
        }
        return Ok(());
    }
    if let Ok(dmabuf) = get_dmabuf(buffer) {
        let Some(offered) = &constraints.dmabuf else {
            return Err("no dma-buf destinations here");
        };
        if dmabuf.size() != size {
            return Err("dma-buf of another size");
        }
        let format = dmabuf.format();
        if !offered.formats.contains(&format.code) || format.modifier != DrmModifier::Linear {
            return Err("dma-buf format or modifier not offered");
        }
        return Ok(());
    }
    Err("neither wl_shm nor dma-buf")
}
