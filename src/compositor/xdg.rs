//! xdg-shell: smithay's implementation, with the compositor's handler
//! and the checks smithay leaves to the compositor.
//!
//! * Toplevels are mapped as they are made, sized to the output, and
//!   placed side by side while they fit, then cascaded
//!   ([`State::arrange`]); popups are placed where
//!   their positioner asks, flipped, slid or resized onto the output as
//!   far as the positioner's constraint adjustments allow, and configured
//!   after their first commit. A popup may grab the seat with the serial
//!   of the last press (key, button or touch); it then has the keyboard
//!   and the pointer, and a click outside its chain dismisses the chain.
//!   A grab denied dismisses the popup at once, as xdg-shell says.
//! * The toplevel with the keyboard is `activated`, and no other. Asking
//!   to be maximized or fullscreen (or to stop) is granted, and answered
//!   with a configure, as the protocol requires; the window keeps the
//!   output's size and its place.
//! * A commit with a buffer before the first `ack_configure` is
//!   `xdg_surface.unconfigured_buffer`; a minimum size larger than the
//!   maximum is `xdg_toplevel.invalid_size` (both checked at commit, when
//!   the state applies).
//! * `xdg_wm_base.get_xdg_surface` on a surface that has a buffer attached
//!   or committed is `invalid_surface_state`.
//!
//! The carried smithay patch (`docs/limits.md`) raises the errors smithay
//! gets wrong in its own request handlers.

use smithay::backend::renderer::utils::with_renderer_surface_state;
use smithay::desktop::{
    PopupKeyboardGrab, PopupKind, PopupPointerGrab, PopupUngrabStrategy, Window,
    find_popup_root_surface, get_popup_toplevel_coords,
};
use smithay::input::Seat;
use smithay::input::pointer::Focus;
use smithay::reexports::wayland_protocols::xdg::shell::server::{
    xdg_popup::XdgPopup,
    xdg_positioner::XdgPositioner,
    xdg_surface::XdgSurface,
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};
use smithay::reexports::wayland_server::protocol::{
    wl_output::WlOutput, wl_seat, wl_surface::WlSurface,
};
use smithay::reexports::wayland_server::{Client, DataInit, Dispatch, DisplayHandle, Resource};
use smithay::utils::{Logical, Rectangle, Serial};
use smithay::wayland::compositor::{BufferAssignment, SurfaceAttributes, with_states};
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, SurfaceCachedState, ToplevelSurface, XdgPopupSurfaceData,
    XdgPositionerUserData, XdgShellHandler, XdgShellState, XdgShellSurfaceUserData,
    XdgSurfaceUserData, XdgWmBaseUserData,
};
use tracing::{debug, warn};

use super::state::State;

/// Marks a window that was given the keyboard when it was first mapped.
struct FocusedWhenMapped;

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        let size = self.output_size();
        surface.with_pending_state(|state| state.size = size);
        self.add_toplevel(Window::new_wayland_window(surface));
        // It takes the keyboard, and is activated, once it shows something
        // ([`State::focus_when_mapped`]).
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        let window = self
            .space
            .elements()
            .find(|w| w.toplevel() == Some(&surface))
            .cloned();
        if let Some(window) = window {
            self.window_gone(&window);
        }
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        // Placed where the positioner asks, kept on the output as it allows;
        // configured after the client's first commit
        // ([`State::configure_new_popup`]).
        let geometry = self.place_popup(&surface, positioner);
        surface.with_pending_state(|state| state.geometry = geometry);
        if let Err(err) = self.popups.track_popup(surface.into()) {
            warn!(%err, "cannot track a popup");
        }
    }

    fn grab(&mut self, surface: PopupSurface, seat: wl_seat::WlSeat, serial: Serial) {
        if !self.grab_popup(&surface, &seat, serial) {
            // xdg-shell: a grab the compositor denies dismisses the popup.
            surface.send_popup_done();
        }
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        set_state(&surface, xdg_toplevel::State::Maximized, true);
    }

    fn unmaximize_request(&mut self, surface: ToplevelSurface) {
        set_state(&surface, xdg_toplevel::State::Maximized, false);
    }

    fn fullscreen_request(&mut self, surface: ToplevelSurface, _output: Option<WlOutput>) {
        set_state(&surface, xdg_toplevel::State::Fullscreen, true);
    }

    fn unfullscreen_request(&mut self, surface: ToplevelSurface) {
        set_state(&surface, xdg_toplevel::State::Fullscreen, false);
    }

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        let geometry = self.place_popup(&surface, positioner);
        surface.with_pending_state(|state| {
            state.geometry = geometry;
            state.positioner = positioner;
        });
        surface.send_repositioned(token);
    }
}

impl State {
    /// Gives `popup` the keyboard and the pointer until it is dismissed (a
    /// click outside its chain of popups dismisses them all), if the
    /// request names the last press (key, button or touch) on `seat`, as
    /// xdg-shell requires of a grab, and no other grab holds the seat;
    /// whether it was granted.
    fn grab_popup(&mut self, popup: &PopupSurface, seat: &wl_seat::WlSeat, serial: Serial) -> bool {
        let Some(seat) = Seat::<State>::from_resource(seat) else {
            return false;
        };
        if self.last_press != Some(serial) {
            debug!("a popup grab that names no recent press: denied");
            return false;
        }
        let kind = PopupKind::Xdg(popup.clone());
        let Ok(root) = find_popup_root_surface(&kind) else {
            return false;
        };
        let mut grab = match self.popups.grab_popup(root, kind, &seat, serial) {
            Ok(grab) => grab,
            Err(err) => {
                debug!(?err, "popup grab denied");
                return false;
            }
        };
        // Another popup of the chain may hold the seat already, taken with
        // the same press; anything else holding it wins.
        let ours = |held: &dyn Fn(Serial) -> bool| {
            held(serial) || grab.previous_serial().is_some_and(held)
        };
        let keyboard = seat.get_keyboard();
        let pointer = seat.get_pointer();
        let taken_by_other = keyboard
            .as_ref()
            .is_some_and(|k| k.is_grabbed() && !ours(&|s| k.has_grab(s)))
            || pointer
                .as_ref()
                .is_some_and(|p| p.is_grabbed() && !ours(&|s| p.has_grab(s)));
        if taken_by_other {
            grab.ungrab(PopupUngrabStrategy::All);
            return false;
        }
        if let Some(keyboard) = keyboard {
            keyboard.set_focus(self, grab.current_grab(), serial);
            keyboard.set_grab(self, PopupKeyboardGrab::new(&grab), serial);
        }
        if let Some(pointer) = pointer {
            pointer.set_grab(self, PopupPointerGrab::new(&grab), serial, Focus::Keep);
        }
        true
    }

    /// Where `popup` goes, relative to its parent's window geometry: where
    /// `positioner` puts it, moved by the adjustments the client allows
    /// (flip, slide, resize) to stay on the output, as xdg-shell asks of
    /// the compositor. A popup whose toplevel is not on the output goes
    /// where the positioner says.
    fn place_popup(
        &self,
        popup: &PopupSurface,
        positioner: PositionerState,
    ) -> Rectangle<i32, Logical> {
        let kind = PopupKind::Xdg(popup.clone());
        let window = find_popup_root_surface(&kind).ok().and_then(|root| {
            self.space
                .elements()
                .find(|w| w.toplevel().is_some_and(|t| t.wl_surface() == &root))
        });
        let (Some(window), Some(output)) = (window, self.space.output_geometry(&self.output))
        else {
            return positioner.get_geometry();
        };
        let Some(window) = self.space.element_geometry(window) else {
            return positioner.get_geometry();
        };
        // The output in the parent's coordinates: the toplevel's window
        // geometry, then each popup between it and this one.
        let mut target = output;
        target.loc -= window.loc + get_popup_toplevel_coords(&kind);
        positioner.get_unconstrained_geometry(target)
    }

    /// Checks what xdg-shell requires of a commit of `surface`, raising
    /// the error it names; whether the commit may go on.
    pub(crate) fn xdg_commit_allowed(&self, surface: &WlSurface) -> bool {
        let Some(toplevel) = self
            .xdg_shell
            .toplevel_surfaces()
            .iter()
            .find(|t| t.wl_surface() == surface)
        else {
            return true;
        };
        let has_buffer =
            with_renderer_surface_state(surface, |s| s.buffer().is_some()) == Some(true);
        if has_buffer && !toplevel.ensure_configured() {
            return false;
        }
        let (min, max) = with_states(surface, |states| {
            let mut cached = states.cached_state.get::<SurfaceCachedState>();
            let current = cached.current();
            (current.min_size, current.max_size)
        });
        let over = |min: i32, max: i32| max > 0 && min > max;
        if over(min.w, max.w) || over(min.h, max.h) {
            toplevel.xdg_toplevel().post_error(
                xdg_toplevel::Error::InvalidSize,
                format!("minimum size {min:?} is larger than the maximum {max:?}"),
            );
            return false;
        }
        true
    }

    /// Gives `window` the keyboard the first time it commits a buffer, as
    /// most desktops give a new window the keyboard: not before, since
    /// clients take an enter on a surface they have not drawn for a sign
    /// that it is shown (wl-clipboard's popup surface, for one).
    pub(crate) fn focus_when_mapped(&mut self, window: &Window) {
        if !self.is_toplevel(window) {
            return;
        }
        let Some(surface) = window.wl_surface().map(|s| s.into_owned()) else {
            return;
        };
        let mapped = with_renderer_surface_state(&surface, |s| s.buffer().is_some()) == Some(true);
        if mapped && window.user_data().insert_if_missing(|| FocusedWhenMapped) {
            self.focus(surface);
        }
    }

    /// Makes the toplevel whose surface has the keyboard, `focused`, the
    /// activated one (`xdg_toplevel.state`, or an X11 window's state and
    /// input focus), and every other not; each xdg toplevel whose state
    /// changed is configured (or will be, by its first configure).
    pub(crate) fn activate(&mut self, focused: Option<&WlSurface>) {
        let window = focused.and_then(|surface| self.window_of(surface));
        self.x11_focus_changed(window.as_ref());
        for window in self.space.elements() {
            let Some(toplevel) = window.toplevel() else {
                continue;
            };
            let active = focused == Some(toplevel.wl_surface());
            if window.set_activated(active) && toplevel.is_initial_configure_sent() {
                toplevel.send_pending_configure();
            }
        }
    }

    /// Sends a popup its first configure once the client committed it
    /// (the commit that gives the popup its role state).
    pub(crate) fn configure_new_popup(&self, surface: &WlSurface) {
        let Some(PopupKind::Xdg(popup)) = self.popups.find_popup(surface) else {
            return;
        };
        let sent = with_states(surface, |states| {
            states
                .data_map
                .get::<XdgPopupSurfaceData>()
                .is_some_and(|data| data.lock().is_ok_and(|d| d.initial_configure_sent))
        });
        if !sent && let Err(err) = popup.send_configure() {
            warn!(?err, "cannot configure a popup");
        }
    }
}

impl Dispatch<XdgWmBase, XdgWmBaseUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        wm_base: &XdgWmBase,
        request: xdg_wm_base::Request,
        data: &XdgWmBaseUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let xdg_wm_base::Request::GetXdgSurface { surface, .. } = &request {
            if has_buffer(surface) {
                wm_base.post_error(
                    xdg_wm_base::Error::InvalidSurfaceState,
                    "the surface already has a buffer",
                );
                return;
            }
        }
        <XdgShellState as Dispatch<XdgWmBase, XdgWmBaseUserData, Self>>::request(
            state, client, wm_base, request, data, dh, data_init,
        );
    }

    fn destroyed(
        state: &mut Self,
        client: smithay::reexports::wayland_server::backend::ClientId,
        wm_base: &XdgWmBase,
        data: &XdgWmBaseUserData,
    ) {
        <XdgShellState as Dispatch<XdgWmBase, XdgWmBaseUserData, Self>>::destroyed(
            state, client, wm_base, data,
        );
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [XdgWmBase: ()] => XdgShellState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [XdgPositioner: XdgPositionerUserData] => XdgShellState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [XdgPopup: XdgShellSurfaceUserData] => XdgShellState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [XdgSurface: XdgSurfaceUserData] => XdgShellState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [XdgToplevel: XdgShellSurfaceUserData] => XdgShellState);

/// Grants or takes back `state` (maximized or fullscreen), which the
/// client asked for, and answers with a configure as xdg-shell requires,
/// even when nothing changed. Every toplevel already has the output's
/// size, so the size stays; so does the window's place.
fn set_state(toplevel: &ToplevelSurface, state: xdg_toplevel::State, on: bool) {
    toplevel.with_pending_state(|pending| {
        if on {
            pending.states.set(state);
        } else {
            pending.states.unset(state);
        }
    });
    if toplevel.is_initial_configure_sent() {
        toplevel.send_configure();
    }
}

/// Whether `surface` has a buffer attached (pending) or committed.
fn has_buffer(surface: &WlSurface) -> bool {
    let attached = with_states(surface, |states| {
        matches!(
            states
                .cached_state
                .get::<SurfaceAttributes>()
                .pending()
                .buffer,
            Some(BufferAssignment::NewBuffer(_))
        )
    });
    attached || with_renderer_surface_state(surface, |s| s.buffer().is_some()) == Some(true)
}
