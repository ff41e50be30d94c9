//! The desktop's input method for nested clients: the window takes the
//! desktop's composed text (winit's IME events: `zwp_text_input_v3` on a
//! Wayland desktop, XIM on X11) and hands it to the nested text input that
//! is enabled, as an input method connected to the compositor would.
//!
//! smithay delivers text to a text input only on behalf of an input
//! method client, and ignores text inputs while none is connected. The
//! compositor tells it that it writes text itself
//! (`InputMethodHandle::set_compositor_input`, a carried smithay
//! addition; see docs/limits.md), so that the focused client's text
//! inputs are entered and may be enabled; then it sends the text through
//! smithay's public `TextInputHandle`: `preedit_string` or
//! `commit_string` on the active text input, and `done` with its serial.
//! The window asks the desktop for its input method only while a nested
//! text input is enabled (`Window::set_ime_allowed`). The text cursor's
//! rectangle is not passed on to the desktop (smithay keeps it private),
//! so a desktop's candidate popup is placed at the window's corner.

use smithay::wayland::input_method::InputMethodSeat;
use smithay::wayland::text_input::TextInputSeat;
use winit::event::Ime;
use winit::window::Window;

use crate::compositor::state::State;

/// Whether the window has the desktop's input method.
#[derive(Debug, Default)]
pub(super) struct HostIme {
    allowed: bool,
}

impl HostIme {
    /// The compositor writes the desktop's text into `state`'s text
    /// inputs from now on.
    pub(super) fn start(state: &State) -> Self {
        state.seat.input_method().set_compositor_input(true);
        Self::default()
    }

    /// Allows the desktop's input method on `window` while a nested text
    /// input is enabled, and stops it after.
    pub(super) fn follow(&mut self, window: &Window, state: &State) {
        let mut enabled = false;
        state
            .seat
            .text_input()
            .with_active_text_input(|_, _| enabled = true);
        if enabled != self.allowed {
            window.set_ime_allowed(enabled);
            self.allowed = enabled;
        }
    }

    /// The desktop's input method composed or committed text: it goes to
    /// the enabled nested text input, as one `done`.
    pub(super) fn event(state: &State, ime: Ime) {
        let text_input = state.seat.text_input();
        match ime {
            Ime::Preedit(text, cursor) => {
                // Byte offsets into the text; none: the cursor is hidden.
                let (begin, end) = cursor.map_or((-1, -1), |(begin, end)| {
                    let offset = |at: usize| i32::try_from(at).unwrap_or(i32::MAX);
                    (offset(begin), offset(end))
                });
                text_input.with_active_text_input(|ti, _| {
                    ti.preedit_string(Some(text.clone()), begin, end);
                });
            }
            Ime::Commit(text) => {
                text_input.with_active_text_input(|ti, _| ti.commit_string(Some(text.clone())));
            }
            Ime::Enabled | Ime::Disabled => return,
        }
        text_input.done(false);
    }
}
