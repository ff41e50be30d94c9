//! Text input: `zwp_text_input_v3` for applications and
//! `zwp_input_method_v2` for the input method that writes into them, on
//! smithay's implementations, as sway and niri offer them.
//!
//! The seat's one text input focus is its keyboard focus: smithay moves
//! it on every `wl_keyboard` enter and leave, sends the focused client's
//! text inputs `enter` while an input method is connected, and takes an
//! input method off (`deactivate`, then `done`) when the keyboard leaves
//! the window it was writing into. An application's text input is the
//! active one from the `commit` that enabled it; what it commits
//! (content type, surrounding text) reaches the input method, and what
//! the input method commits (`commit_string`, `set_preedit_string`,
//! `delete_surrounding_text`, then `commit`) reaches that text input,
//! ending in its `done`. A second input method on the seat is told
//! `unavailable` and stays inert (smithay, with the fix in
//! `patches/smithay-0.7.0.patch`; see docs/limits.md).
//!
//! An input method's popup (`zwp_input_popup_surface_v2`, a candidate
//! list) is drawn above the window with the text input, below the text
//! cursor's rectangle that the application set. A surface that already
//! has another role is the `zwp_input_method_v2` error 0 (the protocol
//! names the error but gives it no enum). The globals exist only where
//! the seat has a keyboard, since an input method takes the keyboard's
//! keymap and may grab it (`grab_keyboard`: the keys then go to the
//! input method, not to the focused window).

use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::element::surface::{
    WaylandSurfaceRenderElement, render_elements_from_surface_tree,
};
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::input_method::{InputMethodHandler, InputMethodManagerState, PopupSurface};
use smithay::wayland::text_input::TextInputManagerState;
use smithay::{delegate_input_method_manager, delegate_text_input_manager};

use super::state::State;
use crate::render::VulkanRenderer;

/// Makes the `zwp_text_input_manager_v3` and `zwp_input_method_manager_v2`
/// globals; for a seat that has a keyboard.
pub(crate) fn create_globals(display: &DisplayHandle) {
    // The states only hold their globals' ids, which nothing removes.
    let _ = TextInputManagerState::new::<State>(display);
    // Any client may be the input method, as on sway: the first to ask.
    let _ = InputMethodManagerState::new::<State, _>(display, |_| true);
}

impl State {
    /// The input method's popup as render elements, in the output's
    /// pixels, under the text cursor's rectangle of the window it is
    /// for; none while there is no popup or it has no parent.
    pub(crate) fn input_popup_elements(
        &mut self,
    ) -> Vec<WaylandSurfaceRenderElement<VulkanRenderer>> {
        let Some(popup) = self.input_popup.as_ref().filter(|p| p.alive()) else {
            return Vec::new();
        };
        let Some(parent) = popup.get_parent() else {
            return Vec::new();
        };
        // Where the window is now: it may have moved since the popup came.
        let origin = self.parent_geometry(&parent.surface).loc;
        let cursor = popup.text_input_rectangle();
        let at = origin + cursor.loc + Point::<i32, Logical>::from((0, cursor.size.h));
        let scale = self.output.current_scale().fractional_scale();
        let surface = popup.wl_surface().clone();
        render_elements_from_surface_tree(
            &mut self.renderer,
            &surface,
            at.to_physical_precise_round(scale),
            scale,
            1.0,
            Kind::Unspecified,
        )
    }
}

impl InputMethodHandler for State {
    fn new_popup(&mut self, surface: PopupSurface) {
        self.input_popup = Some(surface);
    }

    fn dismiss_popup(&mut self, surface: PopupSurface) {
        if self.input_popup.as_ref() == Some(&surface) {
            self.input_popup = None;
        }
    }

    // The popup's place is read from it at each frame.
    fn popup_repositioned(&mut self, _surface: PopupSurface) {}

    /// Where `parent`'s surface has its origin on the output, and its
    /// window's size (the text cursor's rectangle is in surface
    /// coordinates).
    fn parent_geometry(&self, parent: &WlSurface) -> Rectangle<i32, Logical> {
        let Some(window) = self.window_of(parent) else {
            return Rectangle::default();
        };
        let geometry = window.geometry();
        let location = self.space.element_location(&window).unwrap_or_default();
        Rectangle::new(location - geometry.loc, geometry.size)
    }
}

delegate_text_input_manager!(State);
delegate_input_method_manager!(State);
