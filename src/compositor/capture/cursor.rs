//! The pointer's cursor for screen capture: where its hotspot is on the
//! output and what its image is ([`State::cursor`]: the surface a client
//! set with `wl_pointer.set_cursor`, or the cursor theme's image of a
//! named cursor, the default one or a wp-cursor-shape-v1 shape), reported
//! to cursor sessions ([`CursorSink`]), captured by their image sessions
//! ([`Source::Cursor`](super::Source::Cursor)) and painted into output
//! captures that ask for it (`paint_cursors`).
//!
//! A hidden cursor (`wl_pointer.set_cursor` without a surface) has no
//! image: it is reported as no cursor, and nothing is painted.

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::desktop::space::render_output;
use smithay::utils::{Buffer as BufferCoord, Physical, Point, Rectangle, Size};

use super::Source;
use crate::compositor::output::CLEAR;
use crate::compositor::state::State;
use crate::render::VulkanTexture;

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

    /// The size of the cursor's image: 1×1 (and transparent) without one.
    pub(super) fn cursor_size(&self) -> Size<i32, BufferCoord> {
        self.cursor()
            .map(|cursor| cursor.size())
            .unwrap_or_else(|| Size::from((1, 1)))
    }

    /// Where the cursor is: `None` off the output or without an image, or
    /// when its image does not touch the output.
    fn cursor_place(&self) -> Option<CursorPlace> {
        if !self.pointer_on_output {
            return None;
        }
        let cursor = self.cursor()?;
        let (hotspot, size) = (cursor.hotspot(), cursor.size());
        let scale = self.output.current_scale().fractional_scale();
        let position = self
            .pointer_location
            .to_physical(scale)
            .to_i32_round::<i32>();
        let image = Rectangle::<i32, Physical>::new(
            (position.x - hotspot.x, position.y - hotspot.y).into(),
            (size.w, size.h).into(),
        );
        let mode = self.output.current_mode()?;
        let output =
            Rectangle::from_size(self.output.current_transform().transform_size(mode.size));
        image.overlaps(output).then_some(CursorPlace {
            position: (position.x, position.y).into(),
            hotspot,
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
        let Some(cursor) = self.cursor() else {
            return Ok(None);
        };
        let mode = self
            .output
            .current_mode()
            .ok_or_else(|| anyhow::anyhow!("the output has no mode"))?;
        let top_left = (
            place.position.x - place.hotspot.x,
            place.position.y - place.hotspot.y,
        );
        let cursor = cursor.elements(&mut self.renderer, top_left.into());
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
}
