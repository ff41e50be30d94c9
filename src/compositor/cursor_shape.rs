//! wp-cursor-shape-v1 (version 2): a client names its cursor instead of
//! drawing it. smithay's implementation turns `set_shape` into
//! [`CursorImageStatus::Named`](smithay::input::pointer::CursorImageStatus::Named)
//! for the seat's cursor, whose image comes from the cursor theme
//! (`cursor/theme.rs`).
//!
//! smithay 0.7 ignores a `set_shape` whose value is not a shape of the
//! device's version; the spec says `invalid_shape`, which is raised here
//! before smithay sees the request.
//!
//! smithay leaves a device uninitialised (which wayland-server answers
//! with a panic) when its `wl_pointer` belongs to a seat without a
//! pointer; the seat here is given its pointer before any client is
//! accepted (`State::add_input_devices`), so that cannot happen.
//!
//! No tablet global is advertised, so `get_tablet_tool_v2` cannot name a
//! tool and tablet cursors never reach [`TabletSeatHandler`].

use smithay::reexports::wayland_protocols::wp::cursor_shape::v1::server::{
    wp_cursor_shape_device_v1::{self, Shape, WpCursorShapeDeviceV1},
    wp_cursor_shape_manager_v1::WpCursorShapeManagerV1,
};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, Resource, WEnum, delegate_dispatch,
    delegate_global_dispatch,
};
use smithay::wayland::cursor_shape::{CursorShapeDeviceUserData, CursorShapeManagerState};
use smithay::wayland::tablet_manager::TabletSeatHandler;

use super::state::State;

/// Advertises `wp_cursor_shape_manager_v1`.
pub(crate) fn create_global(dh: &DisplayHandle) {
    CursorShapeManagerState::new::<State>(dh);
}

impl Dispatch<WpCursorShapeDeviceV1, CursorShapeDeviceUserData<State>> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        device: &WpCursorShapeDeviceV1,
        request: wp_cursor_shape_device_v1::Request,
        data: &CursorShapeDeviceUserData<State>,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if shape_is_valid(device, &request) {
            <CursorShapeManagerState as Dispatch<
                WpCursorShapeDeviceV1,
                CursorShapeDeviceUserData<State>,
                Self,
            >>::request(state, client, device, request, data, dh, data_init);
        }
    }
}

/// Whether `request` names no shape, or one of `device`'s version; if not,
/// raises `invalid_shape` and returns false.
fn shape_is_valid(
    device: &WpCursorShapeDeviceV1,
    request: &wp_cursor_shape_device_v1::Request,
) -> bool {
    let wp_cursor_shape_device_v1::Request::SetShape { shape, .. } = request else {
        return true;
    };
    let valid = match shape {
        WEnum::Value(shape) => since(*shape) <= device.version(),
        WEnum::Unknown(_) => false,
    };
    if !valid {
        device.post_error(
            wp_cursor_shape_device_v1::Error::InvalidShape,
            format!("{shape:?} is not a shape of version {}", device.version()),
        );
    }
    valid
}

/// The version that brought `shape`.
fn since(shape: Shape) -> u32 {
    match shape {
        Shape::DndAsk | Shape::AllResize => 2,
        _ => 1,
    }
}

impl TabletSeatHandler for State {}

delegate_global_dispatch!(State: [WpCursorShapeManagerV1: ()] => CursorShapeManagerState);
delegate_dispatch!(State: [WpCursorShapeManagerV1: ()] => CursorShapeManagerState);
