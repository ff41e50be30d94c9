//! The C side of the module: the structs of `wlcs/display_server.h`,
//! `wlcs/pointer.h` and `wlcs/touch.h` (version 3 of `WlcsDisplayServer`,
//! version 1 of the others), the exported `wlcs_server_integration`, and
//! the two libwayland-client functions that identify a client's surface.
//!
//! Each struct wlcs receives is the first field of a `#[repr(C)]` box of
//! ours, so the pointer wlcs passes back is the box's pointer. wlcs calls
//! every hook from one thread at a time; none of them unwinds (each error
//! is logged, and the hooks that return something return the failure
//! value the header names).

use std::ffi::{c_char, c_int, c_void};
use std::ptr;

use smithay::backend::input::ButtonState;
use tracing::error;

use crate::{EXTENSIONS, Integration};

/// libwayland-client's `wl_display`, opaque.
#[repr(C)]
struct WlDisplay {
    _opaque: [u8; 0],
}

/// libwayland-client's `wl_proxy` (a `wl_surface*` is one), opaque.
#[repr(C)]
struct WlProxy {
    _opaque: [u8; 0],
}

/// libwayland-client's 24.8 fixed-point number.
type WlFixed = i32;

// Resolved when wlcs loads the module: wlcs links libwayland-client, and
// the pointers it hands us are that library's.
unsafe extern "C" {
    fn wl_display_get_fd(display: *mut WlDisplay) -> c_int;
    fn wl_proxy_get_id(proxy: *mut WlProxy) -> u32;
}

#[repr(C)]
struct WlcsExtensionDescriptor {
    name: *const c_char,
    version: u32,
}

#[repr(C)]
struct WlcsIntegrationDescriptor {
    version: u32,
    num_extensions: usize,
    supported_extensions: *const WlcsExtensionDescriptor,
}

#[repr(C)]
struct WlcsDisplayServer {
    version: u32,
    start: unsafe extern "C" fn(*mut WlcsDisplayServer),
    stop: unsafe extern "C" fn(*mut WlcsDisplayServer),
    create_client_socket: unsafe extern "C" fn(*mut WlcsDisplayServer) -> c_int,
    position_window_absolute:
        unsafe extern "C" fn(*mut WlcsDisplayServer, *mut WlDisplay, *mut WlProxy, c_int, c_int),
    create_pointer: unsafe extern "C" fn(*mut WlcsDisplayServer) -> *mut WlcsPointer,
    create_touch: unsafe extern "C" fn(*mut WlcsDisplayServer) -> *mut WlcsTouch,
    get_descriptor:
        unsafe extern "C" fn(*const WlcsDisplayServer) -> *const WlcsIntegrationDescriptor,
    /// Optional, and not provided: `start` runs the loop on a thread of
    /// its own.
    start_on_this_thread: Option<unsafe extern "C" fn(*mut WlcsDisplayServer, *mut c_void)>,
}

#[repr(C)]
struct WlcsPointer {
    version: u32,
    move_absolute: unsafe extern "C" fn(*mut WlcsPointer, WlFixed, WlFixed),
    move_relative: unsafe extern "C" fn(*mut WlcsPointer, WlFixed, WlFixed),
    button_up: unsafe extern "C" fn(*mut WlcsPointer, c_int),
    button_down: unsafe extern "C" fn(*mut WlcsPointer, c_int),
    destroy: unsafe extern "C" fn(*mut WlcsPointer),
}

#[repr(C)]
struct WlcsTouch {
    version: u32,
    /// `wl_fixed_t` in the header, but wlcs passes whole pixels (its
    /// `Touch::down_at(int, int)` hands them on unconverted, and Mir's
    /// integration, the reference, reads them as `int`).
    touch_down: unsafe extern "C" fn(*mut WlcsTouch, c_int, c_int),
    touch_move: unsafe extern "C" fn(*mut WlcsTouch, c_int, c_int),
    touch_up: unsafe extern "C" fn(*mut WlcsTouch),
    destroy: unsafe extern "C" fn(*mut WlcsTouch),
}

/// The entry point wlcs looks up (`WlcsServerIntegration`, version 1).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct WlcsServerIntegration {
    version: u32,
    create_server: unsafe extern "C" fn(c_int, *const *const c_char) -> *mut WlcsDisplayServer,
    destroy_server: unsafe extern "C" fn(*mut WlcsDisplayServer),
}

/// The module's entry point, which wlcs finds by this name.
#[unsafe(no_mangle)]
pub(crate) static wlcs_server_integration: WlcsServerIntegration = WlcsServerIntegration {
    version: 1,
    create_server,
    destroy_server,
};

/// A `WlcsDisplayServer` and the integration behind it.
#[repr(C)]
struct DisplayServer {
    /// First, so that a pointer to it is a pointer to the whole.
    wlcs: WlcsDisplayServer,
    descriptor: WlcsIntegrationDescriptor,
    /// What `descriptor` points into; never changed after creation.
    extensions: Vec<WlcsExtensionDescriptor>,
    integration: Integration,
}

/// A `WlcsPointer`: every pointer moves the seat's one pointer.
#[repr(C)]
struct Pointer {
    wlcs: WlcsPointer,
    remote: dmabridge::compositor::embedded::Remote,
}

/// A `WlcsTouch`: a touch point of its own.
#[repr(C)]
struct Touch {
    wlcs: WlcsTouch,
    remote: dmabridge::compositor::embedded::Remote,
    slot: u32,
}

fn fixed(value: WlFixed) -> f64 {
    f64::from(value) / 256.0
}

/// Logs a hook's failure: wlcs sees only the effect (or the failure value
/// the header names), the log says why.
fn logged<T, E: Into<anyhow::Error>>(hook: &str, result: Result<T, E>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            error!("wlcs {hook}: {:#}", err.into());
            None
        }
    }
}

/// # Safety
/// `server` is a pointer `create_server` returned and `destroy_server` has
/// not freed, and no other reference to it is live (wlcs calls one hook
/// at a time).
unsafe fn display_server<'a>(server: *mut WlcsDisplayServer) -> &'a mut DisplayServer {
    // SAFETY: `server` points to the `wlcs` field of a live boxed
    // `DisplayServer`, its first field in a `#[repr(C)]` struct, so it is
    // the box's pointer; the caller ensures the borrow is unique.
    unsafe { &mut *server.cast::<DisplayServer>() }
}

unsafe extern "C" fn create_server(
    _argc: c_int,
    _argv: *const *const c_char,
) -> *mut WlcsDisplayServer {
    crate::init_logging();
    let extensions: Vec<WlcsExtensionDescriptor> = EXTENSIONS
        .iter()
        .map(|(name, version)| WlcsExtensionDescriptor {
            name: name.as_ptr(),
            version: *version,
        })
        .collect();
    let server = Box::new(DisplayServer {
        wlcs: WlcsDisplayServer {
            version: 3,
            start,
            stop,
            create_client_socket,
            position_window_absolute,
            create_pointer,
            create_touch,
            get_descriptor,
            start_on_this_thread: None,
        },
        descriptor: WlcsIntegrationDescriptor {
            version: 1,
            num_extensions: extensions.len(),
            supported_extensions: extensions.as_ptr(),
        },
        extensions,
        integration: Integration::default(),
    });
    Box::into_raw(server).cast()
}

unsafe extern "C" fn destroy_server(server: *mut WlcsDisplayServer) {
    // SAFETY: `server` came from `Box::into_raw` in `create_server` (the
    // box's pointer, as its first field is `wlcs`), and wlcs destroys a
    // server once, after its last other call.
    drop(unsafe { Box::from_raw(server.cast::<DisplayServer>()) });
}

unsafe extern "C" fn start(server: *mut WlcsDisplayServer) {
    // SAFETY: wlcs passes the server `create_server` made, one hook at a
    // time.
    let server = unsafe { display_server(server) };
    logged("start", server.integration.start());
}

unsafe extern "C" fn stop(server: *mut WlcsDisplayServer) {
    // SAFETY: as in `start`.
    let server = unsafe { display_server(server) };
    logged("stop", server.integration.stop());
}

unsafe extern "C" fn create_client_socket(server: *mut WlcsDisplayServer) -> c_int {
    // SAFETY: as in `start`.
    let server = unsafe { display_server(server) };
    logged("create_client_socket", server.integration.client_socket()).unwrap_or(-1)
}

unsafe extern "C" fn position_window_absolute(
    server: *mut WlcsDisplayServer,
    display: *mut WlDisplay,
    surface: *mut WlProxy,
    x: c_int,
    y: c_int,
) {
    // SAFETY: as in `start`.
    let server = unsafe { display_server(server) };
    // SAFETY: wlcs passes its live `wl_display` for a socket of ours and a
    // live `wl_surface` proxy of that display; both functions only read
    // them.
    let (fd, id) = unsafe { (wl_display_get_fd(display), wl_proxy_get_id(surface)) };
    logged(
        "position_window_absolute",
        server.integration.place_window(fd, id, x, y),
    );
}

unsafe extern "C" fn create_pointer(server: *mut WlcsDisplayServer) -> *mut WlcsPointer {
    // SAFETY: as in `start`.
    let server = unsafe { display_server(server) };
    let Some(remote) = logged("create_pointer", server.integration.remote()) else {
        return ptr::null_mut();
    };
    let pointer = Box::new(Pointer {
        wlcs: WlcsPointer {
            version: 1,
            move_absolute: pointer_move_absolute,
            move_relative: pointer_move_relative,
            button_up: pointer_button_up,
            button_down: pointer_button_down,
            destroy: pointer_destroy,
        },
        remote,
    });
    Box::into_raw(pointer).cast()
}

/// # Safety
/// `pointer` is a pointer `create_pointer` returned and `destroy` has not
/// freed.
unsafe fn pointer<'a>(pointer: *mut WlcsPointer) -> &'a Pointer {
    // SAFETY: `pointer` points to the `wlcs` field, first in the
    // `#[repr(C)]` `Pointer`, of a live box; only shared borrows are made.
    unsafe { &*pointer.cast::<Pointer>() }
}

unsafe extern "C" fn pointer_move_absolute(me: *mut WlcsPointer, x: WlFixed, y: WlFixed) {
    // SAFETY: wlcs passes a pointer device it has not destroyed.
    let me = unsafe { pointer(me) };
    logged(
        "pointer move_absolute",
        me.remote.pointer_to((fixed(x), fixed(y)).into()),
    );
}

unsafe extern "C" fn pointer_move_relative(me: *mut WlcsPointer, dx: WlFixed, dy: WlFixed) {
    // SAFETY: as in `pointer_move_absolute`.
    let me = unsafe { pointer(me) };
    logged(
        "pointer move_relative",
        me.remote.pointer_by((fixed(dx), fixed(dy)).into()),
    );
}

fn button(me: &Pointer, button: c_int, state: ButtonState) -> anyhow::Result<()> {
    let button = u32::try_from(button)?;
    Ok(me.remote.pointer_button(button, state)?)
}

unsafe extern "C" fn pointer_button_up(me: *mut WlcsPointer, code: c_int) {
    // SAFETY: as in `pointer_move_absolute`.
    let me = unsafe { pointer(me) };
    logged("pointer button_up", button(me, code, ButtonState::Released));
}

unsafe extern "C" fn pointer_button_down(me: *mut WlcsPointer, code: c_int) {
    // SAFETY: as in `pointer_move_absolute`.
    let me = unsafe { pointer(me) };
    logged(
        "pointer button_down",
        button(me, code, ButtonState::Pressed),
    );
}

unsafe extern "C" fn pointer_destroy(me: *mut WlcsPointer) {
    // SAFETY: `me` came from `Box::into_raw` in `create_pointer` and wlcs
    // destroys a device once, after its last other call.
    drop(unsafe { Box::from_raw(me.cast::<Pointer>()) });
}

unsafe extern "C" fn create_touch(server: *mut WlcsDisplayServer) -> *mut WlcsTouch {
    // SAFETY: as in `start`.
    let server = unsafe { display_server(server) };
    let Some(remote) = logged("create_touch", server.integration.remote()) else {
        return ptr::null_mut();
    };
    let touch = Box::new(Touch {
        wlcs: WlcsTouch {
            version: 1,
            touch_down,
            touch_move,
            touch_up,
            destroy: touch_destroy,
        },
        remote,
        slot: server.integration.new_touch_slot(),
    });
    Box::into_raw(touch).cast()
}

/// # Safety
/// `touch` is a pointer `create_touch` returned and `destroy` has not
/// freed.
unsafe fn touch<'a>(touch: *mut WlcsTouch) -> &'a Touch {
    // SAFETY: `touch` points to the `wlcs` field, first in the
    // `#[repr(C)]` `Touch`, of a live box; only shared borrows are made.
    unsafe { &*touch.cast::<Touch>() }
}

unsafe extern "C" fn touch_down(me: *mut WlcsTouch, x: c_int, y: c_int) {
    // SAFETY: wlcs passes a touch device it has not destroyed.
    let me = unsafe { touch(me) };
    logged(
        "touch_down",
        me.remote
            .touch_down(me.slot, (f64::from(x), f64::from(y)).into()),
    );
}

unsafe extern "C" fn touch_move(me: *mut WlcsTouch, x: c_int, y: c_int) {
    // SAFETY: as in `touch_down`.
    let me = unsafe { touch(me) };
    logged(
        "touch_move",
        me.remote
            .touch_motion(me.slot, (f64::from(x), f64::from(y)).into()),
    );
}

unsafe extern "C" fn touch_up(me: *mut WlcsTouch) {
    // SAFETY: as in `touch_down`.
    let me = unsafe { touch(me) };
    logged("touch_up", me.remote.touch_up(me.slot));
}

unsafe extern "C" fn touch_destroy(me: *mut WlcsTouch) {
    // SAFETY: `me` came from `Box::into_raw` in `create_touch` and wlcs
    // destroys a device once, after its last other call.
    drop(unsafe { Box::from_raw(me.cast::<Touch>()) });
}

unsafe extern "C" fn get_descriptor(
    server: *const WlcsDisplayServer,
) -> *const WlcsIntegrationDescriptor {
    // SAFETY: `server` points to the first field of a live boxed
    // `DisplayServer`; this reads the descriptor, which nothing changes.
    let server = unsafe { &*server.cast::<DisplayServer>() };
    &server.descriptor
}
