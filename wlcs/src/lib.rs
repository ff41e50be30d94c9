//! The wlcs integration module: wlcs (the Wayland conformance suite) loads
//! this library and finds `wlcs_server_integration` in it
//! (`wlcs/display_server.h`), through which it starts and stops a
//! compositor for each test, connects its clients and drives the seat.
//!
//! Each wlcs display server is an `Integration`: the compositor's
//! embedded server ([`dmabridge::compositor::embedded`]) with a headless
//! output, the client sockets it handed out, and the touch slots it gave
//! its touch devices. `ffi` holds the C side: the structs of the wlcs
//! headers and the functions in them, each a call into `Integration`.
//!
//! See `docs/wlcs.md` for how to run wlcs and what passes.

#[expect(
    unsafe_code,
    reason = "the C interface of wlcs: its structs, callbacks and libwayland-client's"
)]
mod ffi;

use std::collections::HashMap;
use std::ffi::CStr;
use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::net::UnixStream;

use anyhow::Context;
use dmabridge::compositor::OutputConfig;
use dmabridge::compositor::embedded::{ClientKey, Remote, Server};
use smithay::utils::Transform;
use tracing::warn;

/// The globals the compositor advertises whatever the machine, by
/// protocol name and version: wlcs skips the tests of anything missing
/// here, and runs those of everything listed.
///
/// Two depend on the machine and are listed as they are without a DRM
/// render node: `zwp_linux_dmabuf_v1` is version 5 (not 3) where there is
/// one, and `wp_linux_drm_syncobj_manager_v1` exists only where its
/// device has timeline syncobjs.
pub const EXTENSIONS: &[(&CStr, u32)] = &[
    (c"wl_compositor", 6),
    (c"wl_subcompositor", 1),
    (c"wl_shm", 2),
    (c"wl_output", 4),
    (c"zxdg_output_manager_v1", 3),
    (c"xdg_wm_base", 6),
    (c"wl_seat", 9),
    (c"wl_data_device_manager", 3),
    (c"zwp_primary_selection_device_manager_v1", 1),
    (c"zwp_linux_dmabuf_v1", 3),
    (c"wp_presentation", 2),
    (c"wp_viewporter", 1),
    (c"wp_single_pixel_buffer_manager_v1", 1),
    (c"zxdg_decoration_manager_v1", 1),
    (c"xdg_activation_v1", 1),
    (c"wp_cursor_shape_manager_v1", 2),
    (c"zwp_relative_pointer_manager_v1", 1),
    (c"zwp_pointer_constraints_v1", 1),
    (c"ext_foreign_toplevel_list_v1", 1),
    (c"ext_image_copy_capture_manager_v1", 1),
    (c"ext_output_image_capture_source_manager_v1", 1),
    (c"ext_foreign_toplevel_image_capture_source_manager_v1", 1),
    (c"zwlr_screencopy_manager_v1", 3),
    (c"dmabridge_buffer_copy_manager_v1", 2),
    (c"wp_fractional_scale_manager_v1", 1),
    (c"wp_content_type_manager_v1", 1),
    (c"zwp_idle_inhibit_manager_v1", 1),
    (c"zwp_text_input_manager_v3", 1),
    (c"zwp_input_method_manager_v2", 1),
];

/// Logs to stderr, filtered by `RUST_LOG` as `dmabridge`'s are (warnings
/// without it); the first call in the process sets it up.
fn init_logging() {
    // Fails when a subscriber is already set: the first one stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
}

/// The output every test runs on: the size wlcs's own examples use, at a
/// refresh fast enough that frame callbacks keep tests short.
fn output() -> OutputConfig {
    OutputConfig {
        size: (1920, 1080),
        refresh_hz: 120.0,
        scale: 1.0,
        transform: Transform::Normal,
        dump_frames: None,
    }
}

/// One wlcs display server: a compositor while it runs, and what names
/// its clients and touch points.
#[derive(Debug, Default)]
pub(crate) struct Integration {
    server: Option<Server>,
    /// The client end of each socket handed out (which wlcs passes to
    /// `wl_display_connect_fd`, so `wl_display_get_fd` gives it back), and
    /// the client made of the server end.
    clients: HashMap<RawFd, ClientKey>,
    next_touch_slot: u32,
}

impl Integration {
    /// Starts the compositor; it sets itself up on its own thread.
    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.server.is_none(), "the compositor is already running");
        self.server = Some(Server::start(output()).context("starting the compositor's thread")?);
        Ok(())
    }

    /// Stops the compositor, once it is torn down; its clients' sockets
    /// are forgotten.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        self.clients.clear();
        match self.server.take() {
            Some(server) => server.stop(),
            None => Ok(()),
        }
    }

    /// A connected socket pair: the server end becomes a client of the
    /// compositor; the client end is returned, for wlcs to own.
    pub(crate) fn client_socket(&mut self) -> anyhow::Result<RawFd> {
        let remote = self.remote()?;
        let (ours, theirs) = UnixStream::pair().context("making a socket pair")?;
        let key = remote.insert_client(theirs)?;
        let fd = ours.into_raw_fd();
        self.clients.insert(fd, key);
        Ok(fd)
    }

    /// Places the toplevel of the client connected on `display_fd` whose
    /// wl_surface has the id `surface` with its top left at (`x`, `y`).
    pub(crate) fn place_window(
        &self,
        display_fd: RawFd,
        surface: u32,
        x: i32,
        y: i32,
    ) -> anyhow::Result<()> {
        let client = *self
            .clients
            .get(&display_fd)
            .with_context(|| format!("fd {display_fd} is no socket of this server"))?;
        self.remote()?
            .place_window(client, surface, (x, y).into())?;
        Ok(())
    }

    /// A handle on the running compositor.
    pub(crate) fn remote(&self) -> anyhow::Result<Remote> {
        self.server
            .as_ref()
            .map(Server::remote)
            .context("the compositor is not running")
    }

    /// A touch slot no other touch device of this server has.
    pub(crate) fn new_touch_slot(&mut self) -> u32 {
        let slot = self.next_touch_slot;
        self.next_touch_slot += 1;
        slot
    }
}

impl Drop for Integration {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            warn!("stopping the compositor: {err:#}");
        }
    }
}
