//! The pointer's cursor image: what the focused client asked for
//! ([`SeatHandler::cursor_image`](smithay::input::SeatHandler::cursor_image)),
//! as a picture with a hotspot.
//!
//! * `wl_pointer.set_cursor` with a surface: that surface's tree, composed
//!   at its own size, its hotspot the one the client gave.
//! * A named cursor (the default one, or a shape a client chose with
//!   wp-cursor-shape-v1, `cursor_shape.rs`): the cursor theme's image
//!   (`theme.rs`).
//! * Hidden (`set_cursor` without a surface), or a surface that has no
//!   content or is gone: no image.
//!
//! Screen capture (`capture/cursor.rs`) reports and paints this image; the
//! nested backend hands it to the host's window (`nested/cursor.rs`). The image is
//! composed by the renderer, so a cursor surface's buffer may be `wl_shm`
//! or a dma-buf alike.

pub(crate) mod theme;

use std::rc::Rc;

use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::element::memory::MemoryRenderBufferRenderElement;
use smithay::backend::renderer::element::surface::{
    WaylandSurfaceRenderElement, render_elements_from_surface_tree,
};
use smithay::desktop::utils::bbox_from_surface_tree;
use smithay::input::pointer::{CursorImageStatus, CursorImageSurfaceData};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::render_elements;
use smithay::utils::{Buffer as BufferCoord, Logical, Physical, Point, Rectangle, Size};
use smithay::wayland::compositor::with_states;
use tracing::warn;

use self::theme::ThemeImage;
use super::state::State;
use crate::render::{VulkanRenderer, VulkanTexture};

render_elements! {
    /// What a cursor image is drawn from: a client's cursor surface, or a
    /// theme's image.
    pub(crate) CursorElement<=VulkanRenderer>;
    Surface=WaylandSurfaceRenderElement<VulkanRenderer>,
    Theme=MemoryRenderBufferRenderElement<VulkanRenderer>,
}

/// The cursor's image, while it has one.
#[derive(Debug, Clone)]
pub(crate) enum CursorImage {
    /// A client's surface tree, and its extent from the surface's origin.
    Surface {
        surface: WlSurface,
        extent: Rectangle<i32, Logical>,
    },
    /// A named cursor's image from the theme.
    Theme(Rc<ThemeImage>),
}

impl CursorImage {
    /// The image's size in pixels.
    pub(crate) fn size(&self) -> Size<i32, BufferCoord> {
        match self {
            Self::Surface { extent, .. } => (extent.size.w, extent.size.h).into(),
            Self::Theme(image) => image.size,
        }
    }

    /// The hotspot, from the image's top left.
    pub(crate) fn hotspot(&self) -> Point<i32, BufferCoord> {
        match self {
            Self::Surface { surface, extent } => {
                let hotspot = with_states(surface, |states| {
                    states
                        .data_map
                        .get::<CursorImageSurfaceData>()
                        .and_then(|data| data.lock().ok().map(|data| data.hotspot))
                        .unwrap_or_default()
                });
                (hotspot.x - extent.loc.x, hotspot.y - extent.loc.y).into()
            }
            Self::Theme(image) => image.hotspot,
        }
    }

    /// What draws the image with its top left at `top_left`.
    pub(crate) fn elements(
        &self,
        renderer: &mut VulkanRenderer,
        top_left: Point<i32, Physical>,
    ) -> Vec<CursorElement> {
        match self {
            Self::Surface { surface, extent } => render_elements_from_surface_tree(
                renderer,
                surface,
                (top_left.x - extent.loc.x, top_left.y - extent.loc.y),
                1.0,
                1.0,
                Kind::Cursor,
            )
            .into_iter()
            .map(CursorElement::Surface)
            .collect(),
            Self::Theme(image) => match MemoryRenderBufferRenderElement::from_buffer(
                renderer,
                top_left.to_f64(),
                &image.buffer,
                None,
                None,
                None,
                Kind::Cursor,
            ) {
                Ok(element) => vec![CursorElement::Theme(element)],
                Err(err) => {
                    warn!(%err, "cannot upload a cursor theme's image");
                    Vec::new()
                }
            },
        }
    }
}

impl State {
    /// The cursor's image, where it has one (see the module documentation).
    pub(crate) fn cursor(&self) -> Option<CursorImage> {
        match &self.cursor_image {
            CursorImageStatus::Hidden => None,
            CursorImageStatus::Named(icon) => {
                Some(CursorImage::Theme(self.cursor_theme.image(*icon)))
            }
            CursorImageStatus::Surface(surface) => {
                if !surface.is_alive() {
                    return None;
                }
                let extent = bbox_from_surface_tree(surface, (0, 0));
                (!extent.is_empty()).then(|| CursorImage::Surface {
                    surface: surface.clone(),
                    extent,
                })
            }
        }
    }

    /// The cursor's image changed: a new cursor, or a commit to its
    /// surfaces. Capture takes the change, and the nested window's cursor
    /// follows at its next refresh.
    pub(crate) fn cursor_image_changed(&mut self) {
        self.cursor_changes += 1;
        self.capture_cursor_changed(true);
    }

    /// Whether `surface` is the cursor's image.
    pub(crate) fn is_cursor_surface(&self, surface: &WlSurface) -> bool {
        matches!(&self.cursor_image, CursorImageStatus::Surface(cursor) if cursor == surface)
    }

    /// The cursor's image, composed at its own size into a new ARGB8888
    /// texture (premultiplied; transparent and 1×1 without an image).
    pub(crate) fn render_cursor(&mut self) -> anyhow::Result<VulkanTexture> {
        let cursor = self.cursor();
        let size = cursor
            .as_ref()
            .map(CursorImage::size)
            .unwrap_or_else(|| Size::from((1, 1)));
        let elements = match &cursor {
            Some(cursor) => cursor.elements(&mut self.renderer, Point::from((0, 0))),
            None => Vec::new(),
        };
        self.render_offscreen((size.w, size.h).into(), 1.0, &elements)
    }
}
