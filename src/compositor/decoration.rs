//! Window decorations: `zxdg_decoration_manager_v1`, on smithay's
//! implementation.
//!
//! The compositor draws no title bars or borders: it has no font, no
//! theme and no move or resize grabs for them to drive. So whatever mode
//! a client asks for, it is told `client_side`, and a client that
//! prefers server-side decorations (foot, Qt, kitty…) knows at once to
//! draw its own, instead of guessing from the global's absence.

use smithay::delegate_xdg_decoration;
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::wayland::shell::xdg::ToplevelSurface;
use smithay::wayland::shell::xdg::decoration::{XdgDecorationHandler, XdgDecorationState};

use super::state::State;

/// The only mode the compositor can honour.
const MODE: Mode = Mode::ClientSide;

/// Makes the `zxdg_decoration_manager_v1` global.
pub(crate) fn create_global(display: &DisplayHandle) {
    // The state only holds the global's id, which nothing removes.
    let _ = XdgDecorationState::new::<State>(display);
}

/// Sets `toplevel`'s decoration mode to [`MODE`]. Once the toplevel had
/// its first configure, a configure follows: always when the client
/// `asked` (the protocol promises one in answer to `set_mode` and
/// `unset_mode`), else only if the mode changed. Before that, the first
/// configure carries the mode.
fn settle(toplevel: &ToplevelSurface, asked: bool) {
    toplevel.with_pending_state(|state| state.decoration_mode = Some(MODE));
    if !toplevel.is_initial_configure_sent() {
        return;
    }
    if asked {
        toplevel.send_configure();
    } else {
        toplevel.send_pending_configure();
    }
}

impl XdgDecorationHandler for State {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        settle(&toplevel, false);
    }

    fn request_mode(&mut self, toplevel: ToplevelSurface, _mode: Mode) {
        // The protocol lets the compositor decide.
        settle(&toplevel, true);
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        settle(&toplevel, true);
    }
}

delegate_xdg_decoration!(State);
