//! Input on the seat: the keyboard, pointer and touch events the backends
//! (and the embedded server's test path) deliver, which surface hears
//! them, and the keyboard focus that clicks and touches move.

use std::time::Duration;

use smithay::backend::input::{ButtonState, KeyState};
use smithay::delegate_seat;
use smithay::desktop::WindowSurfaceType;
use smithay::input::keyboard::{FilterResult, XkbConfig};
use smithay::input::pointer::{AxisFrame, ButtonEvent, CursorImageStatus, MotionEvent};
use smithay::input::touch::{
    DownEvent as TouchDown, MotionEvent as TouchMotion, UpEvent as TouchUp,
};
use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, SERIAL_COUNTER};
use smithay::wayland::seat::WaylandFocus;
use tracing::warn;

use super::state::State;

impl State {
    /// Gives the seat a keyboard (the default xkb keymap, or the one
    /// `XKB_DEFAULT_*` names), with text input for it, and a pointer,
    /// for a backend with input.
    pub(crate) fn add_input_devices(&mut self) {
        match self.seat.add_keyboard(XkbConfig::default(), 200, 25) {
            Ok(_) => super::text_input::create_globals(&self.display),
            Err(err) => {
                warn!(%err, "no keyboard and no text input: the xkb keymap did not compile")
            }
        }
        self.seat.add_pointer();
    }

    /// Gives the seat a touchscreen, for a backend with touch input.
    pub(crate) fn add_touch(&mut self) {
        self.seat.add_touch();
    }

    /// A key went down or up: the focused client hears it. `keycode` is an
    /// xkb keycode (evdev code + 8).
    pub(crate) fn key(&mut self, keycode: u32, state: KeyState) {
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        if state == KeyState::Pressed {
            self.last_press = Some(serial);
        }
        let time = self.input_time();
        keyboard.input::<(), _>(self, keycode.into(), state, serial, time, |_, _, _| {
            FilterResult::Forward
        });
    }

    /// The pointer moved to `location` on the output: the surface under it
    /// gets enter and motion events, the one it left a leave event.
    pub(crate) fn pointer_motion(&mut self, location: Point<f64, Logical>) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        self.pointer_location = location;
        self.pointer_on_output = true;
        let focus = self.surface_under(location);
        let event = MotionEvent {
            location,
            serial: SERIAL_COUNTER.next_serial(),
            time: self.input_time(),
        };
        pointer.motion(self, focus, &event);
        pointer.frame(self);
        self.activate_pointer_constraint();
        self.capture_cursor_changed(false);
    }

    /// The pointer left the output.
    pub(crate) fn pointer_left(&mut self) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let event = MotionEvent {
            location: self.pointer_location,
            serial: SERIAL_COUNTER.next_serial(),
            time: self.input_time(),
        };
        pointer.motion(self, None, &event);
        pointer.frame(self);
        self.pointer_on_output = false;
        self.capture_cursor_changed(false);
    }

    /// A pointer button (an evdev code, `BTN_LEFT`…) went down or up. A
    /// press gives the keyboard to the window under the pointer.
    pub(crate) fn pointer_button(&mut self, button: u32, state: ButtonState) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        if state == ButtonState::Pressed {
            self.last_press = Some(serial);
            // A popup's grab decides what a click does while it holds the
            // pointer.
            if !pointer.is_grabbed() {
                self.activate_window_at(self.pointer_location);
            }
        }
        let event = ButtonEvent {
            serial,
            time: self.input_time(),
            button,
            state,
        };
        pointer.button(self, &event);
        pointer.frame(self);
    }

    /// A scroll: `frame` goes to the surface under the pointer.
    pub(crate) fn pointer_axis(&mut self, mut frame: AxisFrame) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        frame.time = self.input_time();
        pointer.axis(self, frame);
        pointer.frame(self);
    }

    /// The surface with the keyboard focus, if any.
    pub(crate) fn keyboard_focus(&self) -> Option<WlSurface> {
        self.seat.get_keyboard()?.current_focus()
    }

    /// Gives the keyboard to the window at `location`, if any: a click or
    /// a touch there.
    fn activate_window_at(&mut self, location: Point<f64, Logical>) {
        let window = self
            .space
            .element_under(location)
            .map(|(window, _)| window.clone())
            .filter(|window| self.is_toplevel(window));
        if let Some(surface) = window.as_ref().and_then(|w| w.wl_surface()) {
            self.focus(surface.into_owned());
        }
    }

    /// Touch point `slot` went down at `location` on the output: the
    /// surface under it gets this point's events until it goes up, and its
    /// window the keyboard.
    pub(crate) fn touch_down(&mut self, slot: u32, location: Point<f64, Logical>) {
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        self.activate_window_at(location);
        let focus = self.surface_under(location);
        let serial = SERIAL_COUNTER.next_serial();
        self.last_press = Some(serial);
        let event = TouchDown {
            slot: Some(slot).into(),
            location,
            serial,
            time: self.input_time(),
        };
        touch.down(self, focus, &event);
        touch.frame(self);
    }

    /// Touch point `slot` moved to `location` on the output; the surface it
    /// went down on hears it, wherever it is now.
    pub(crate) fn touch_motion(&mut self, slot: u32, location: Point<f64, Logical>) {
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        let focus = self.surface_under(location);
        let event = TouchMotion {
            slot: Some(slot).into(),
            location,
            time: self.input_time(),
        };
        touch.motion(self, focus, &event);
        touch.frame(self);
    }

    /// Touch point `slot` went up.
    pub(crate) fn touch_up(&mut self, slot: u32) {
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        let event = TouchUp {
            slot: Some(slot).into(),
            serial: SERIAL_COUNTER.next_serial(),
            time: self.input_time(),
        };
        touch.up(self, &event);
        touch.frame(self);
    }

    /// Gives the keyboard to `surface`'s client, and raises its window
    /// above the others.
    pub(crate) fn focus(&mut self, surface: WlSurface) {
        if let Some(window) = self.window_of(&surface) {
            self.space.raise_element(&window, false);
        }
        if let Some(keyboard) = self.seat.get_keyboard() {
            keyboard.set_focus(self, Some(surface), SERIAL_COUNTER.next_serial());
        }
    }

    /// The surface under `location`, and where that surface's origin is.
    pub(crate) fn surface_under(
        &self,
        location: Point<f64, Logical>,
    ) -> Option<(WlSurface, Point<f64, Logical>)> {
        let (window, origin) = self.space.element_under(location)?;
        window
            .surface_under(location - origin.to_f64(), WindowSurfaceType::ALL)
            .map(|(surface, at)| (surface, (at + origin).to_f64()))
    }

    /// An input event's timestamp: milliseconds of the monotonic clock,
    /// wrapping as wl_pointer and wl_keyboard times do.
    pub(crate) fn input_time(&self) -> u32 {
        Duration::from(self.clock.now()).as_millis() as u32
    }
}

impl SeatHandler for State {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<Self> {
        &mut self.seat_state
    }

    fn cursor_image(&mut self, _seat: &Seat<Self>, image: CursorImageStatus) {
        self.cursor_image = image;
        self.cursor_image_changed();
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        self.selection_focus_changed(seat, focused);
        self.activate(focused);
    }
}

delegate_seat!(State);
