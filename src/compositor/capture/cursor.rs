//! The pointer's cursor for screen capture: where its hotspot is on the
//! output and what its image is (the surface a client set with
//! `wl_pointer.set_cursor`), reported to cursor sessions
//! ([`CursorSink`]) and captured by their image sessions
//! ([`Source::Cursor`](super::Source::Cursor)).
//!
//! A named cursor (`wl_pointer.set_cursor` with no surface is hidden;
//! a cursor shape) has no image here, since no cursor theme is loaded: it
//! is reported as no cursor.

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::element::surface::{
    WaylandSurfaceRenderElement, render_elements_from_surface_tree,
};
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::desktop::space::render_output;
use smithay::desktop::utils::bbox_from_surface_tree;
use smithay::input::pointer::{CursorImageStatus, CursorImageSurfaceData};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Buffer as BufferCoord, Logical, Point, Rectangle, Size};
use smithay::wayland::compositor::with_states;

use super::Source;
use crate::compositor::output::CLEAR;
use crate::compositor::state::State;
use crate::render::{VulkanRenderer, VulkanTexture};

/// Where the cursor is, as a cursor session reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CursorPlace {
    /// The hotspot, in upright output pixels.
    pub(crate) position: Point<i32, BufferCoord>,
    /// The hotspot's offset in the cursor image.
    pub(crate) hotspot: Point<i32, BufferCoord>,
}

/// How the core speaks to a cursor session's protocol object.
pub(crate) trait CursorSink {
    /// The cursor now: on the output with an image, or not (`None`).
    fn report(&self, place: Option<CursorPlace>);
}

/// A cursor session's handle, held by its protocol object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CursorId(u64);

impl State {
    /// A new cursor session; its sink hears where the cursor is at once.
    pub(crate) fn capture_cursor_session(&mut self, sink: Box<dyn CursorSink>) -> CursorId {
        let id = self.capture.next_id();
        sink.report(self.cursor_place());
        self.capture.cursor_sinks.push((id, sink));
        CursorId(id)
    }

    /// A cursor session is gone.
    pub(crate) fn capture_cursor_session_destroyed(&mut self, id: CursorId) {
        self.capture
            .cursor_sinks
            .retain(|(known, _)| *known != id.0);
    }

    /// The cursor moved (`image` false), or its image changed or was
    /// redrawn (`image` true): cursor sessions hear where it is, and the
    /// sessions capturing its image take the change.
    pub(crate) fn capture_cursor_changed(&mut self, image: bool) {
        let place = self.cursor_place();
        for (_, sink) in &self.capture.cursor_sinks {
            sink.report(place);
        }
        if image {
            self.capture_constraints_changed();
            self.capture_source_damaged(&Source::Cursor);
        }
        self.capture_cursor_painted_damaged();
    }

    /// Whether `surface` is the cursor's image.
    pub(crate) fn is_cursor_surface(&self, surface: &WlSurface) -> bool {
        self.cursor_surface()
            .is_some_and(|cursor| &cursor == surface)
    }

    /// The cursor's image surface, while it has one that lives.
    fn cursor_surface(&self) -> Option<WlSurface> {
        match &self.cursor_image {
            CursorImageStatus::Surface(surface) if surface.is_alive() => Some(surface.clone()),
            _ => None,
        }
    }

    /// The cursor image's extent (its surface tree), where there is one.
    fn cursor_extent(&self) -> Option<Rectangle<i32, Logical>> {
        let surface = self.cursor_surface()?;
        Some(bbox_from_surface_tree(&surface, (0, 0))).filter(|r| !r.is_empty())
    }

    /// The size of the cursor's image: 1×1 (and transparent) without one.
    pub(super) fn cursor_size(&self) -> Size<i32, BufferCoord> {
        let size = self
            .cursor_extent()
            .map(|extent| extent.size)
            .unwrap_or_else(|| Size::from((1, 1)));
        (size.w, size.h).into()
    }

    /// Where the cursor is: `None` off the output or without an image, or
    /// when its image does not touch the output.
    fn cursor_place(&self) -> Option<CursorPlace> {
        if !self.pointer_on_output {
            return None;
        }
        let surface = self.cursor_surface()?;
        let extent = self.cursor_extent()?;
        let hotspot = with_states(&surface, |states| {
            states
                .data_map
                .get::<CursorImageSurfaceData>()
                .and_then(|data| data.lock().ok().map(|data| data.hotspot))
                .unwrap_or_default()
        });
        let position = self.pointer_location.to_i32_round::<i32>();
        let image = Rectangle::new(position - hotspot + extent.loc, extent.size);
        let output = self.space.output_geometry(&self.output)?;
        image.overlaps(output).then_some(CursorPlace {
            position: (position.x, position.y).into(),
            hotspot: (hotspot.x - extent.loc.x, hotspot.y - extent.loc.y).into(),
        })
    }

    /// The output's picture with the cursor's image painted where the
    /// pointer is, rendered anew into a texture of the framebuffer's size
    /// and orientation (the output's own image holds no cursor); `None`
    /// while the cursor is not on the output.
    pub(super) fn render_output_with_cursor(&mut self) -> anyhow::Result<Option<VulkanTexture>> {
        let Some(place) = self.cursor_place() else {
            return Ok(None);
        };
        let (Some(surface), Some(extent)) = (self.cursor_surface(), self.cursor_extent()) else {
            return Ok(None);
        };
        let mode = self
            .output
            .current_mode()
            .ok_or_else(|| anyhow::anyhow!("the output has no mode"))?;
        // The surface's origin: the hotspot's place less the hotspot (which
        // `place` gives from the image's top left, `extent.loc` from the
        // origin).
        let origin = (
            place.position.x - place.hotspot.x - extent.loc.x,
            place.position.y - place.hotspot.y - extent.loc.y,
        );
        let cursor: Vec<WaylandSurfaceRenderElement<VulkanRenderer>> =
            render_elements_from_surface_tree(
                &mut self.renderer,
                &surface,
                origin,
                1.0,
                1.0,
                Kind::Cursor,
            );
        let mut texture = self
            .renderer
            .create_buffer(DrmFourcc::Xrgb8888, (mode.size.w, mode.size.h).into())?;
        let mut tracker = OutputDamageTracker::from_output(&self.output);
        let mut framebuffer = Bind::bind(&mut self.renderer, &mut texture)?;
        let output = self.output.clone();
        render_output(
            &output,
            &mut self.renderer,
            &mut framebuffer,
            1.0,
            0,
            [&self.space],
            &cursor,
            &mut tracker,
            CLEAR,
        )
        .map_err(|err| anyhow::anyhow!("rendering the output with its cursor: {err:?}"))?;
        drop(framebuffer);
        Ok(Some(texture))
    }

    /// The cursor's image, composed at its own size into a new texture
    /// (transparent, 1×1, without one).
    pub(super) fn render_cursor(&mut self) -> anyhow::Result<VulkanTexture> {
        let size = self.cursor_size();
        let elements: Vec<WaylandSurfaceRenderElement<VulkanRenderer>> =
            match (self.cursor_surface(), self.cursor_extent()) {
                (Some(surface), Some(extent)) => render_elements_from_surface_tree(
                    &mut self.renderer,
                    &surface,
                    (-extent.loc.x, -extent.loc.y),
                    1.0,
                    1.0,
                    Kind::Cursor,
                ),
                _ => Vec::new(),
            };
        self.render_offscreen((size.w, size.h).into(), &elements)
    }
}
