//! The nested backend: the output is a window on the user's desktop (an X11
//! or Wayland host, through winit), shown through a Vulkan swapchain.
//!
//! * Frames are rendered as headless ([`OutputFrames`]), then copied into
//!   the window's next swapchain image
//!   ([`VulkanRenderer::present`](crate::render::VulkanRenderer::present)). A
//!   frame the swapchain has no free image for stays pending and is shown
//!   at a later refresh; nothing waits for the host.
//! * A resized window resizes the output: a new mode, a new offscreen
//!   image, a new swapchain, and a configure of the new size to every
//!   toplevel.
//! * The host draws the cursor the client under the pointer chose
//!   (`nested/cursor.rs`).
//! * Keyboard and pointer input in the window go to the seat
//!   ([`State`]'s input methods), which sends them to the focused client;
//!   a click focuses the window under the pointer. Closing the window stops
//!   the compositor.
//! * On a Wayland desktop, text selections cross between the clients and
//!   the desktop (`nested/clipboard.rs`).
//! * The desktop's input method writes into the nested text input that is
//!   enabled (`nested/ime.rs`).
//!
//! winit runs inside the compositor's event loop: its fd is a calloop
//! source, and it is pumped without blocking whenever that fd is readable
//! and at every refresh (events already read off the connection do not make
//! the fd readable again).

#[expect(
    unsafe_code,
    reason = "the desktop's wl_display, handed to smithay-clipboard"
)]
pub(super) mod clipboard;
mod cursor;
mod ime;

use std::cell::RefCell;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, bail};
use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
use smithay::backend::input::{Axis, AxisSource, ButtonState, KeyState};
use smithay::input::pointer::AxisFrame;
use smithay::output::Output;
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{Interest, Mode as PollMode, PostAction};
use smithay::utils::{Logical, Physical, Point, Size};
use tracing::{debug, info, warn};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::{
    DeviceEvent, DeviceId, ElementState, MouseButton, MouseScrollDelta, WindowEvent,
};
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::platform::pump_events::{EventLoopExtPumpEvents, PumpStatus};
use winit::platform::scancode::PhysicalKeyExtScancode;
use winit::window::{CursorGrabMode, Window, WindowId};

use self::clipboard::Bridge;
use self::cursor::HostCursor;
use self::ime::HostIme;
use super::OutputConfig;
use super::capture;
use super::output::{OutputFrames, every_refresh};
use super::state::State;
use crate::vulkan::{Presented, Swapchain};

/// Linux input event codes of the mouse buttons
/// (`linux/input-event-codes.h`), which wl_pointer.button carries.
const BTN_LEFT: u32 = 0x110;
const BTN_RIGHT: u32 = 0x111;
const BTN_MIDDLE: u32 = 0x112;
const BTN_SIDE: u32 = 0x113;
const BTN_EXTRA: u32 = 0x114;

/// Scroll distance of one wheel detent, in wl_pointer.axis units, as
/// libinput reports a wheel click.
const WHEEL_STEP: f64 = 15.0;

/// The host's event loop and the compositor's window in it.
pub(crate) struct Host {
    /// The bridge to the desktop's selections (a Wayland desktop): it uses
    /// the event loop's connection from its thread.
    clipboard: Option<Bridge>,
    /// Always there, but left undropped where the bridge did not stop.
    event_loop: Option<EventLoop<()>>,
    app: WinitApp,
}

impl Drop for Host {
    fn drop(&mut self) {
        let stopped = self.clipboard.take().is_none_or(Bridge::stop);
        if !stopped {
            warn!("the desktop clipboard's thread is still loading: its connection stays open");
            std::mem::forget(self.event_loop.take());
        }
    }
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("window", &self.app.window.as_ref().map(Window::id))
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Connects to the desktop (`WAYLAND_DISPLAY` or `DISPLAY`, as winit
    /// chooses) and opens a window of `size` pixels.
    pub(crate) fn open(size: (u32, u32)) -> anyhow::Result<Self> {
        let event_loop = EventLoop::new()
            .context("connecting to the desktop (is DISPLAY or WAYLAND_DISPLAY set?)")?;
        // Before the window, so that the clipboard's keyboard hears its
        // first focus.
        let clipboard = Bridge::start(&event_loop).unwrap_or_else(|err| {
            warn!("no selections shared with the desktop: {err:#}");
            None
        });
        let mut host = Self {
            clipboard,
            event_loop: Some(event_loop),
            app: WinitApp {
                size,
                window: None,
                error: None,
                events: Vec::new(),
                motion: Vec::new(),
            },
        };
        // The first pump delivers `resumed`, where the window is made.
        host.pump();
        if let Some(err) = host.app.error.take() {
            return Err(err).context("opening the window");
        }
        if host.app.window.is_none() {
            bail!("the desktop did not let the window be made");
        }
        Ok(host)
    }

    /// The desktop's display, for the Vulkan instance's surface extensions.
    pub(crate) fn display_handle(&self) -> anyhow::Result<RawDisplayHandle> {
        Ok(self
            .event_loop()
            .display_handle()
            .context("the desktop's display handle")?
            .as_raw())
    }

    /// The window's inner size in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        let size = self.window().inner_size();
        (size.width, size.height)
    }

    fn event_loop(&self) -> &EventLoop<()> {
        self.event_loop
            .as_ref()
            .expect("the event loop is taken only on drop")
    }

    fn window(&self) -> &Window {
        self.app
            .window
            .as_ref()
            .expect("the window is made in Host::open")
    }

    /// Hands winit what the desktop sent, without blocking; whether winit
    /// still runs.
    fn pump(&mut self) -> bool {
        let status = self
            .event_loop
            .as_mut()
            .expect("the event loop is taken only on drop")
            .pump_app_events(Some(Duration::ZERO), &mut self.app);
        matches!(status, PumpStatus::Continue)
    }
}

/// What winit calls while it is pumped: it makes the window when the loop
/// starts, and queues the window's events for the compositor.
struct WinitApp {
    size: (u32, u32),
    window: Option<Window>,
    error: Option<winit::error::OsError>,
    events: Vec<WindowEvent>,
    /// Raw mouse motion (winit sends it while the window has the focus).
    motion: Vec<(f64, f64)>,
}

impl ApplicationHandler for WinitApp {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.window.is_some() {
            return;
        }
        let attributes = Window::default_attributes()
            .with_title("dmabridge")
            .with_inner_size(PhysicalSize::new(self.size.0, self.size.1));
        match event_loop.create_window(attributes) {
            Ok(window) => self.window = Some(window),
            Err(err) => self.error = Some(err),
        }
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        self.events.push(event);
    }

    fn device_event(&mut self, _: &ActiveEventLoop, _: DeviceId, event: DeviceEvent) {
        if let DeviceEvent::MouseMotion { delta } = event {
            self.motion.push(delta);
        }
    }
}

/// The nested output: its frames, the swapchain showing them and the
/// window. Fields are in drop order: the swapchain goes before the window
/// its surface belongs to.
struct Nested {
    frames: OutputFrames,
    swapchain: Swapchain,
    host: Host,
    /// The cursor the host shows over the window.
    cursor: HostCursor,
    /// Whether the window has the desktop's input method.
    ime: HostIme,
    /// The host's pointer is grabbed for a pointer constraint.
    grabbed: bool,
    /// A frame was rendered but not shown yet.
    unshown: bool,
}

/// Starts showing `output` in `host`'s window: the window's events and a
/// refresh timer go on `state`'s loop.
pub(crate) fn start(
    mut host: Host,
    state: &mut State,
    output: &Output,
    config: &OutputConfig,
) -> anyhow::Result<()> {
    let swapchain = Swapchain::new(state.renderer.device(), host.window(), host.size())
        .context("making the window's swapchain")?;
    let frames = OutputFrames::new(
        &mut state.renderer,
        output,
        swapchain.fourcc(),
        config.dump_frames.clone(),
    )?;
    state.add_input_devices();
    let ime = HostIme::start(state);
    if let Some(bridge) = &mut host.clipboard {
        clipboard::install(bridge, state)?;
    }
    let fd = host
        .event_loop()
        .as_fd()
        .try_clone_to_owned()
        .context("duplicating winit's fd")?;
    let refresh = frames.refresh();
    let nested = Rc::new(RefCell::new(Nested {
        frames,
        swapchain,
        host,
        cursor: HostCursor::default(),
        ime,
        grabbed: false,
        unshown: true,
    }));
    info!(size = ?nested.borrow().host.size(), "nested window open");
    let on_fd = Rc::clone(&nested);
    state
        .handle
        .insert_source(
            Generic::new(fd, Interest::READ, PollMode::Level),
            move |_, _, state| {
                on_fd.borrow_mut().dispatch(state);
                Ok(PostAction::Continue)
            },
        )
        .map_err(|err| anyhow::anyhow!("inserting winit's fd: {err}"))?;
    every_refresh(state, refresh, move |state| {
        let mut nested = nested.borrow_mut();
        nested.dispatch(state);
        if let Err(err) = nested.refresh(state) {
            warn!("nested output: {err:#}");
        }
    })
}

impl Nested {
    /// Pumps winit and handles the window's events.
    fn dispatch(&mut self, state: &mut State) {
        if !self.host.pump() {
            info!("the desktop closed the connection");
            state.signal.stop();
        }
        for event in std::mem::take(&mut self.host.app.events) {
            if let Err(err) = self.window_event(state, event) {
                warn!("nested window: {err:#}");
            }
        }
        for (dx, dy) in std::mem::take(&mut self.host.app.motion) {
            state.pointer_raw_motion(self.upright_delta(state, (dx, dy)));
        }
        self.grab_for_constraint(state);
        self.ime.follow(self.host.window(), state);
    }

    /// `delta` on the window turned the way the output's picture is (the
    /// output's transform undone), in logical pixels (at the output's
    /// scale).
    fn upright_delta(&self, state: &State, (dx, dy): (f64, f64)) -> Point<f64, Logical> {
        let to_upright = capture::undo(state.output.current_transform().invert());
        // A delta turns as a point about the origin of a zero-sized area.
        let delta: Point<f64, Physical> =
            to_upright.transform_point_in(Point::from((dx, dy)), &Size::from((0.0, 0.0)));
        delta.to_logical(state.output.current_scale().fractional_scale())
    }

    /// Locks the host's pointer while a pointer constraint is active, and
    /// lets it go after, where the host can lock it (a Wayland desktop; X
    /// cannot, and a confining X grab was seen to deliver raw motion twice). The
    /// constraint holds the compositor's pointer either way.
    fn grab_for_constraint(&mut self, state: &State) {
        let constrained = state.pointer_constrained();
        if constrained == self.grabbed {
            return;
        }
        let mode = if constrained {
            CursorGrabMode::Locked
        } else {
            CursorGrabMode::None
        };
        let grabbed = self.host.window().set_cursor_grab(mode);
        if let Err(err) = grabbed {
            // Not asked again until the constraint changes.
            debug!(%err, constrained, "the host's pointer grab did not change");
        }
        self.grabbed = constrained;
    }

    /// One refresh: render what changed, show it if the swapchain takes
    /// it, tell the clients.
    fn refresh(&mut self, state: &mut State) -> anyhow::Result<()> {
        self.cursor
            .update(&self.host, state)
            .context("showing the cursor")?;
        if self.frames.busy() {
            return Ok(());
        }
        self.unshown |= self.frames.render(state)?;
        let mut shown = false;
        if self.unshown {
            match state
                .renderer
                .present(self.frames.target(), &mut self.swapchain)
                .context("presenting to the window")?
            {
                Presented::Queued => {
                    self.unshown = false;
                    shown = true;
                }
                Presented::Busy => debug!("swapchain busy; frame kept for the next refresh"),
                Presented::OutOfDate => self.swapchain.resize(self.host.size())?,
            }
        }
        self.frames.finish(state, shown)
    }

    fn window_event(&mut self, state: &mut State, event: WindowEvent) -> anyhow::Result<()> {
        match event {
            WindowEvent::CloseRequested => {
                info!("window closed");
                state.signal.stop();
            }
            WindowEvent::Resized(size) => self.resize(state, (size.width, size.height))?,
            WindowEvent::RedrawRequested => self.unshown = true,
            WindowEvent::Focused(focused) => clipboard::window_focused(state, focused),
            WindowEvent::KeyboardInput {
                event,
                is_synthetic: false,
                ..
            } if !event.repeat => {
                // winit's scancode is the evdev code; xkb's keycode is 8 more.
                if let Some(code) = event.physical_key.to_scancode() {
                    state.key(code + 8, key_state(event.state));
                }
            }
            // A constraint moves the pointer by raw motion instead.
            WindowEvent::CursorMoved { .. } if state.pointer_constrained() => {}
            WindowEvent::CursorMoved { position, .. } => {
                // The window shows the framebuffer; the pointer's place on
                // the output is in upright logical coordinates: turned, then
                // divided by the output's scale.
                let framebuffer = self.host.size();
                let framebuffer = Size::<f64, Physical>::from((
                    f64::from(framebuffer.0),
                    f64::from(framebuffer.1),
                ));
                let to_upright = capture::undo(state.output.current_transform().invert());
                let at = to_upright.transform_point_in(
                    Point::<f64, Physical>::from((position.x, position.y)),
                    &framebuffer,
                );
                state
                    .pointer_motion(at.to_logical(state.output.current_scale().fractional_scale()));
            }
            WindowEvent::CursorLeft { .. } => state.pointer_left(),
            WindowEvent::MouseInput {
                state: pressed,
                button,
                ..
            } => {
                if let Some(code) = button_code(button) {
                    let pressed = match pressed {
                        ElementState::Pressed => ButtonState::Pressed,
                        ElementState::Released => ButtonState::Released,
                    };
                    state.pointer_button(code, pressed);
                }
            }
            WindowEvent::MouseWheel { delta, .. } => state.pointer_axis(axis_frame(delta)),
            WindowEvent::Ime(ime) => HostIme::event(state, ime),
            _ => {}
        }
        Ok(())
    }

    /// The window is now `size`: the output, its image and the swapchain
    /// follow, and the windows are configured to the new size.
    fn resize(&mut self, state: &mut State, size: (u32, u32)) -> anyhow::Result<()> {
        if size.0 == 0 || size.1 == 0 {
            // Minimised: keep the output as it is until it is shown again.
            return Ok(());
        }
        if !state.resize_output(size)? {
            return Ok(());
        }
        let output = state.output.clone();
        self.frames.resize(&mut state.renderer, &output)?;
        self.swapchain.resize(size)?;
        self.unshown = true;
        info!(?size, "window resized");
        Ok(())
    }
}

fn key_state(state: ElementState) -> KeyState {
    match state {
        ElementState::Pressed => KeyState::Pressed,
        ElementState::Released => KeyState::Released,
    }
}

/// The evdev code of a mouse button, where it has one.
fn button_code(button: MouseButton) -> Option<u32> {
    match button {
        MouseButton::Left => Some(BTN_LEFT),
        MouseButton::Right => Some(BTN_RIGHT),
        MouseButton::Middle => Some(BTN_MIDDLE),
        MouseButton::Back => Some(BTN_SIDE),
        MouseButton::Forward => Some(BTN_EXTRA),
        MouseButton::Other(_) => None,
    }
}

/// A wl_pointer axis frame of a wheel turn (in detents) or a touchpad
/// scroll (in pixels). winit's deltas point where the content moves;
/// wl_pointer's where the view moves, so the signs flip.
fn axis_frame(delta: MouseScrollDelta) -> AxisFrame {
    // The seat stamps the time.
    let time = 0;
    match delta {
        MouseScrollDelta::LineDelta(x, y) => {
            let (x, y) = (-f64::from(x), -f64::from(y));
            let mut frame = AxisFrame::new(time).source(AxisSource::Wheel);
            if x != 0.0 {
                frame = frame
                    .value(Axis::Horizontal, x * WHEEL_STEP)
                    .v120(Axis::Horizontal, (x * 120.0) as i32);
            }
            if y != 0.0 {
                frame = frame
                    .value(Axis::Vertical, y * WHEEL_STEP)
                    .v120(Axis::Vertical, (y * 120.0) as i32);
            }
            frame
        }
        MouseScrollDelta::PixelDelta(position) => AxisFrame::new(time)
            .source(AxisSource::Finger)
            .value(Axis::Horizontal, -position.x)
            .value(Axis::Vertical, -position.y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mouse_buttons_map_to_evdev_codes() {
        assert_eq!(button_code(MouseButton::Left), Some(0x110));
        assert_eq!(button_code(MouseButton::Right), Some(0x111));
        assert_eq!(button_code(MouseButton::Middle), Some(0x112));
        assert_eq!(button_code(MouseButton::Other(9)), None);
    }

    #[test]
    fn a_wheel_detent_down_scrolls_the_view_down() {
        let frame = axis_frame(MouseScrollDelta::LineDelta(0.0, -1.0));
        assert_eq!(frame.axis, (0.0, WHEEL_STEP));
        assert_eq!(frame.v120, Some((0, 120)));
        assert_eq!(frame.source, Some(AxisSource::Wheel));
    }
}
