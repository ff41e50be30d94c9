//! Window activation: `xdg_activation_v1`, on smithay's implementation.
//!
//! A client asks for a token, hands it to another client (a launcher to
//! the app it starts, a terminal to the browser a link opens), and that
//! client activates its window with it. What stops any client from
//! stealing the keyboard is the policy here, the one niri and anvil
//! follow in spirit:
//! * a token is valid only if the client that asked for it has the
//!   keyboard focus at that moment: the user is working in it, so the
//!   activation it passes on is the user's will. Others get a token
//!   string like any, which activates nothing;
//! * a token activates once, within [`TOKEN_LIFETIME`];
//! * activation gives the window the keyboard, which raises it.

use std::time::Duration;

use smithay::delegate_xdg_activation;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{DisplayHandle, Resource};
use smithay::wayland::xdg_activation::{
    XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
};
use tracing::debug;

use super::state::State;

/// How long a token may wait for its activation.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(10);

/// Makes the `xdg_activation_v1` global; its state.
pub(crate) fn create_global(display: &DisplayHandle) -> XdgActivationState {
    XdgActivationState::new::<State>(display)
}

impl XdgActivationHandler for State {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.activation
    }

    fn token_created(&mut self, _token: XdgActivationToken, data: XdgActivationTokenData) -> bool {
        // Tokens nobody used are dropped as new ones come.
        self.activation
            .retain_tokens(|_, data| data.timestamp.elapsed() < TOKEN_LIFETIME);
        let focused = self.keyboard_focus().and_then(|surface| surface.client());
        let valid = data.client_id.is_some() && data.client_id == focused.map(|c| c.id());
        debug!(valid, "activation token made");
        valid
    }

    fn request_activation(
        &mut self,
        token: XdgActivationToken,
        data: XdgActivationTokenData,
        surface: WlSurface,
    ) {
        self.activation.remove_token(&token);
        if data.timestamp.elapsed() >= TOKEN_LIFETIME {
            debug!("activation with an expired token: ignored");
            return;
        }
        let window = self.space.elements().find(|window| {
            window
                .toplevel()
                .is_some_and(|t| t.wl_surface() == &surface)
        });
        if window.is_none() {
            debug!("activation of a surface that is no mapped toplevel: ignored");
            return;
        }
        self.focus(surface);
    }
}

delegate_xdg_activation!(State);
