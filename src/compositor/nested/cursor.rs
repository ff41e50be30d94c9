//! The nested window's cursor: the host draws the cursor the client under
//! the pointer chose, over the window.
//!
//! * A named cursor (the default, or a wp-cursor-shape-v1 shape) is the
//!   host's own cursor of that name (`Window::set_cursor` with its
//!   [`CursorIcon`](smithay::input::pointer::CursorIcon)): the desktop's
//!   theme, at the desktop's size and scale, as every other window there.
//! * A client's cursor surface becomes a custom cursor of its pixels: the
//!   surface tree composed by the renderer at its own size
//!   ([`State::render_cursor`], as screen capture composes it) and read
//!   back, so a dma-buf cursor shows as a `wl_shm` one does. The readback
//!   waits for the GPU on the loop, once per change of the cursor's image
//!   (a cursor image is small: 24×24 to 64×64 pixels).
//! * Hidden, or a surface without content: the host cursor is hidden over
//!   the window.
//!
//! The host draws it rather than the compositor into the presented image,
//! so the cursor moves at the desktop's pace, costs no redraw of the
//! window, and is never in the output's image: captures get it only where
//! they ask (`paint_cursors`, cursor sessions).

use smithay::input::pointer::{CursorIcon, CursorImageStatus};
use tracing::warn;
use winit::window::CustomCursor;

use super::Host;
use crate::compositor::state::State;

/// What the host was last told.
#[derive(Debug, Default)]
pub(super) struct HostCursor {
    /// The [`State::cursor_changes`] count last shown.
    shown: Option<u64>,
}

impl HostCursor {
    /// Gives the host the cursor's latest image, if it changed.
    pub(super) fn update(&mut self, host: &Host, state: &mut State) -> anyhow::Result<()> {
        if self.shown == Some(state.cursor_changes) {
            return Ok(());
        }
        self.shown = Some(state.cursor_changes);
        let window = host.window();
        match state.cursor_image.clone() {
            CursorImageStatus::Hidden => window.set_cursor_visible(false),
            CursorImageStatus::Named(icon) => {
                window.set_cursor(icon);
                window.set_cursor_visible(true);
            }
            CursorImageStatus::Surface(_) => {
                let Some(cursor) = state.cursor() else {
                    window.set_cursor_visible(false);
                    return Ok(());
                };
                let (size, hotspot) = (cursor.size(), cursor.hotspot());
                let texture = state.render_cursor()?;
                let pixels = state.renderer.read_pixels(&texture)?;
                let clamp = |v: i32, max: i32| v.clamp(0, (max - 1).max(0)) as u16;
                let source = CustomCursor::from_rgba(
                    straight_rgba(&pixels),
                    size.w as u16,
                    size.h as u16,
                    clamp(hotspot.x, size.w),
                    clamp(hotspot.y, size.h),
                );
                match source {
                    Ok(source) => window.set_cursor(host.event_loop().create_custom_cursor(source)),
                    Err(err) => {
                        warn!(%err, ?size, "the host cannot show a client's cursor: the default");
                        window.set_cursor(CursorIcon::Default);
                    }
                }
                window.set_cursor_visible(true);
            }
        }
        Ok(())
    }
}

/// Premultiplied ARGB8888 pixels (bytes B, G, R, A) as the straight RGBA
/// that winit's custom cursors take.
fn straight_rgba(argb: &[u8]) -> Vec<u8> {
    argb.chunks_exact(4)
        .flat_map(|pixel| {
            let [b, g, r, a] = [pixel[0], pixel[1], pixel[2], pixel[3]];
            let straight = |c: u8| match a {
                0 => 0,
                _ => ((u32::from(c) * 255 + u32::from(a) / 2) / u32::from(a)).min(255) as u8,
            };
            [straight(r), straight(g), straight(b), a]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn premultiplied_argb_becomes_straight_rgba() {
        let argb = [
            0x00, 0x00, 0xff, 0xff, // opaque red
            0x40, 0x00, 0x00, 0x80, // half-transparent blue, premultiplied
            0x12, 0x34, 0x56, 0x00, // transparent
        ];
        assert_eq!(
            straight_rgba(&argb),
            [
                0xff, 0x00, 0x00, 0xff, //
                0x00, 0x00, 0x80, 0x80, //
                0x00, 0x00, 0x00, 0x00,
            ]
        );
    }
}
