//! Hints a client gives about its surfaces: wp-content-type-v1 and
//! zwp-idle-inhibit-unstable-v1, on smithay's implementations.
//!
//! Both are offered so that clients may say what they mean, and both are
//! recorded, but nothing here acts on them. A surface's content type
//! (none, photo, video, game) is kept in its cached state, where smithay
//! puts it on commit; the compositor composites every surface the same
//! way whatever it says. An idle inhibitor is logged when it starts and
//! when it ends; the compositor never idles (it has no screen saver, no
//! blanking and no idle-notify), so there is nothing for it to hold off.

use smithay::reexports::wayland_server::DisplayHandle;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::content_type::ContentTypeState;
use smithay::wayland::idle_inhibit::{IdleInhibitHandler, IdleInhibitManagerState};
use smithay::{delegate_content_type, delegate_idle_inhibit};
use tracing::debug;

use super::state::State;

/// Makes the `wp_content_type_manager_v1` and
/// `zwp_idle_inhibit_manager_v1` globals.
pub(crate) fn create_globals(display: &DisplayHandle) {
    // The states only hold their globals' ids, which nothing removes.
    let _ = ContentTypeState::new::<State>(display);
    let _ = IdleInhibitManagerState::new::<State>(display);
}

impl IdleInhibitHandler for State {
    fn inhibit(&mut self, surface: WlSurface) {
        debug!(?surface, "idle inhibited (the compositor never idles)");
    }

    fn uninhibit(&mut self, surface: WlSurface) {
        debug!(?surface, "idle inhibitor gone");
    }
}

delegate_content_type!(State);
delegate_idle_inhibit!(State);
