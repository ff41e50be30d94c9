//! The event handlers: what the client learns from the compositor, and the
//! input and presentation events it prints.

use wayland_client::globals::GlobalListContents;
use wayland_client::protocol::{
    wl_buffer::{self, WlBuffer},
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_keyboard::{self, WlKeyboard},
    wl_pointer::{self, WlPointer},
    wl_registry::WlRegistry,
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_subcompositor::WlSubcompositor,
    wl_subsurface::WlSubsurface,
    wl_surface::WlSurface,
};
use wayland_client::{Connection, Dispatch, QueueHandle, delegate_noop};
use wayland_protocols::wp::fractional_scale::v1::client::{
    wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1,
    wp_fractional_scale_v1::{self, WpFractionalScaleV1},
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_v1::{self, ZwpLinuxDmabufV1},
};
use wayland_protocols::wp::linux_drm_syncobj::v1::client::{
    wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1,
    wp_linux_drm_syncobj_surface_v1::WpLinuxDrmSyncobjSurfaceV1,
    wp_linux_drm_syncobj_timeline_v1::WpLinuxDrmSyncobjTimelineV1,
};
use wayland_protocols::wp::presentation_time::client::{
    wp_presentation::WpPresentation,
    wp_presentation_feedback::{self, WpPresentationFeedback},
};
use wayland_protocols::wp::single_pixel_buffer::v1::client::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1;
use wayland_protocols::wp::viewporter::client::{
    wp_viewport::WpViewport, wp_viewporter::WpViewporter,
};
use wayland_protocols::xdg::activation::v1::client::{
    xdg_activation_token_v1::{self, XdgActivationTokenV1},
    xdg_activation_v1::XdgActivationV1,
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};

use crate::say;

/// The evdev code of the left mouse button.
const BTN_LEFT: u32 = 0x110;

/// What the event handlers learned.
#[derive(Debug, Default)]
pub(crate) struct App {
    pub(crate) configured: bool,
    suggested: (i32, i32),
    pub(crate) frame_done: bool,
    pub(crate) closed: bool,
    pub(crate) failed: bool,
    keyboard: Option<WlKeyboard>,
    pointer: Option<WlPointer>,
    /// The serial of the last keyboard enter.
    pub(crate) keyboard_serial: Option<u32>,
    /// The xdg-activation token the compositor made, once it did.
    pub(crate) activation_token: Option<String>,
    /// Answers to buffer copies not yet taken: the copy's id, and how it
    /// ended (`--copy`).
    pub(crate) copies: Vec<(u64, crate::copy::Answer)>,
    /// The formats zwp_linux_dmabuf_v1 (version 3) announced.
    pub(crate) dmabuf_formats: Vec<u32>,
    /// Release fences of buffer copies, by copy id.
    pub(crate) releases: Vec<(u64, std::os::fd::OwnedFd)>,
    /// The surface's preferred scale in 120ths (wp_fractional_scale_v1),
    /// once the compositor said it.
    pub(crate) preferred_scale: Option<u32>,
    /// The side of a drag and drop this client takes (`--drag`, `--drop`).
    pub(crate) dnd: Option<crate::dnd::Dnd>,
    /// The input method this client is (`--input-method`).
    pub(crate) input_method: Option<crate::text_input::InputMethod>,
    /// The window's text input (`--text-input`).
    pub(crate) text_input: Option<crate::text_input::TextInput>,
}

impl Dispatch<WlSeat, ()> for App {
    fn event(
        state: &mut Self,
        seat: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let wl_seat::Event::Capabilities {
            capabilities: wayland_client::WEnum::Value(caps),
        } = event
        else {
            return;
        };
        if caps.contains(wl_seat::Capability::Keyboard) && state.keyboard.is_none() {
            state.keyboard = Some(seat.get_keyboard(qh, ()));
        }
        if caps.contains(wl_seat::Capability::Pointer) && state.pointer.is_none() {
            state.pointer = Some(seat.get_pointer(qh, ()));
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        state: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Enter { serial, .. } => {
                state.keyboard_serial = Some(serial);
                say(format_args!("keyboard enter"));
            }
            wl_keyboard::Event::Leave { .. } => say(format_args!("keyboard leave")),
            wl_keyboard::Event::Key { key, state, .. } => {
                let state = match state {
                    wayland_client::WEnum::Value(wl_keyboard::KeyState::Pressed) => "pressed",
                    _ => "released",
                };
                say(format_args!("key {key} {state}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for App {
    fn event(
        app: &mut Self,
        _: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        conn: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter {
                surface_x,
                surface_y,
                ..
            } => say(format_args!("pointer enter {surface_x} {surface_y}")),
            wl_pointer::Event::Leave { .. } => say(format_args!("pointer leave")),
            wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => say(format_args!("pointer motion {surface_x} {surface_y}")),
            wl_pointer::Event::Button {
                serial,
                button,
                state,
                ..
            } => {
                let pressed = matches!(
                    state,
                    wayland_client::WEnum::Value(wl_pointer::ButtonState::Pressed)
                );
                let state = if pressed { "pressed" } else { "released" };
                say(format_args!("button {button} {state}"));
                if pressed
                    && button == BTN_LEFT
                    && let Some(dnd) = &app.dnd
                {
                    dnd.pressed(serial, conn, qh);
                }
            }
            wl_pointer::Event::Axis { axis, value, .. } => {
                let axis: u32 = axis.into();
                say(format_args!("axis {axis} {value}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for App {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: <WlRegistry as wayland_client::Proxy>::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<XdgWmBase, ()> for App {
    fn event(
        _: &mut Self,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        state: &mut Self,
        xdg_surface: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            state.configured = true;
            say(format_args!(
                "configured {}x{}",
                state.suggested.0, state.suggested.1
            ));
        }
    }
}

impl Dispatch<XdgToplevel, ()> for App {
    fn event(
        state: &mut Self,
        _: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                state.suggested = (width, height);
            }
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, ()> for App {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frame_done = true;
        }
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_linux_buffer_params_v1::Event::Failed = event {
            state.failed = true;
        }
    }
}

impl Dispatch<ZwpLinuxDmabufV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &ZwpLinuxDmabufV1,
        event: zwp_linux_dmabuf_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        // Version 3 announces its formats as events (later versions
        // through feedback, which this client does not ask for).
        let format = match event {
            zwp_linux_dmabuf_v1::Event::Format { format } => format,
            zwp_linux_dmabuf_v1::Event::Modifier { format, .. } => format,
            _ => return,
        };
        if !state.dmabuf_formats.contains(&format) {
            state.dmabuf_formats.push(format);
        }
    }
}

impl Dispatch<WlBuffer, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlBuffer,
        _: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<WpPresentationFeedback, u64> for App {
    /// Prints the answer to the feedback asked for with commit `commit`.
    fn event(
        _: &mut Self,
        _: &WpPresentationFeedback,
        event: wp_presentation_feedback::Event,
        commit: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wp_presentation_feedback::Event::Presented {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
                refresh,
                seq_hi,
                seq_lo,
                ..
            } => {
                let sec = (u64::from(tv_sec_hi) << 32) | u64::from(tv_sec_lo);
                let seq = (u64::from(seq_hi) << 32) | u64::from(seq_lo);
                say(format_args!(
                    "presented {commit} at {sec}.{tv_nsec:09} refresh {refresh} seq {seq}"
                ));
            }
            wp_presentation_feedback::Event::Discarded => {
                say(format_args!("discarded {commit}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<XdgActivationTokenV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &XdgActivationTokenV1,
        event: xdg_activation_token_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_activation_token_v1::Event::Done { token } = event {
            state.activation_token = Some(token);
        }
    }
}

impl Dispatch<WpFractionalScaleV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &WpFractionalScaleV1,
        event: wp_fractional_scale_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wp_fractional_scale_v1::Event::PreferredScale { scale } = event {
            say(format_args!("preferred scale {scale}"));
            state.preferred_scale = Some(scale);
        }
    }
}

impl Dispatch<WlShm, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlShm,
        _: wl_shm::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlSubcompositor);
delegate_noop!(App: ignore WlSubsurface);
delegate_noop!(App: ignore WpPresentation);
delegate_noop!(App: ignore XdgActivationV1);
delegate_noop!(App: ignore WpSinglePixelBufferManagerV1);
delegate_noop!(App: ignore WpViewporter);
delegate_noop!(App: ignore WpViewport);
delegate_noop!(App: ignore WpFractionalScaleManagerV1);
delegate_noop!(App: ignore WlShmPool);
delegate_noop!(App: ignore WpLinuxDrmSyncobjManagerV1);
delegate_noop!(App: ignore WpLinuxDrmSyncobjTimelineV1);
delegate_noop!(App: ignore WpLinuxDrmSyncobjSurfaceV1);
