//! X11 applications through Xwayland, started when the first X11 client
//! connects.
//!
//! * At start the compositor takes an X11 display (its lock file in
//!   `/tmp`, its socket in `/tmp/.X11-unix` and the abstract socket of the
//!   same name) and prints it as `DISPLAY=:N`. Xwayland does not run yet:
//!   the sockets are watched on the event loop, and a client that
//!   connects waits in their backlog. The first connection spawns
//!   Xwayland (`-rootless`) with those sockets (`-listenfd`), as a
//!   Wayland client of its own over a socket pair; it accepts the waiting
//!   client once it runs. When Xwayland exits, the sockets are watched
//!   again, so the next X11 client starts it anew. Where Xwayland cannot
//!   start (not installed, or it fails before it is ready), the display
//!   is closed, so that X11 clients fail at once rather than wait.
//! * Once Xwayland is ready, smithay's window manager ([`X11Wm`]) runs on
//!   the privileged X11 connection. An X11 window that asks to be mapped
//!   becomes a [`Window`] like an xdg toplevel: placed by
//!   [`State::arrange`], listed in ext-foreign-toplevel-list (its title
//!   and its class as the app id), capturable, and given the keyboard
//!   when it shows something or is clicked (the X input focus follows,
//!   as its input model asks). Its size is its own; its place is the
//!   compositor's, and the X server is told it. Override-redirect windows
//!   (menus, tooltips) are shown where X puts them, above the others,
//!   and are not listed.
//! * Xwayland names each window's `wl_surface` over xwayland-shell-v1
//!   (Xwayland 23.1 and later; the global only Xwayland sees), which
//!   smithay pairs, or by its protocol id (`WL_SURFACE_ID`, Debian 12's
//!   Xwayland 22), which is paired here ([`State::pair_when_named`]).
//!   Xwayland holds every X11 client's buffers, so the per-client limits
//!   let it hold [`XWAYLAND_SHARE`] times as much as a Wayland client.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use smithay::delegate_xwayland_shell;
use smithay::desktop::Window;
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{Interest, Mode, PostAction, RegistrationToken};
use smithay::reexports::wayland_server::Client;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point, Rectangle};
use smithay::wayland::selection::SelectionTarget;
use smithay::wayland::xwayland_shell::{XWaylandShellHandler, XWaylandShellState};
use smithay::xwayland::xwm::{Reorder, ResizeEdge, WmWindowProperty, XwmId};
use smithay::xwayland::{X11Sockets, X11Surface, X11Wm, XWayland, XWaylandEvent, XwmHandler};
use tracing::{info, warn};

use super::limits::{ClientLimits, XWAYLAND_SHARE};
use super::state::State;

/// Where X11 sockets live; X clients look for `X<n>` there.
const SOCKET_DIR: &str = "/tmp/.X11-unix";

/// How often a mapped X11 window is looked at until Xwayland named its
/// surface ([`State::pair_when_named`]).
const PAIRING_RETRY: Duration = Duration::from_millis(5);

/// The compositor's X11 display: its sockets, and Xwayland while it runs.
pub(crate) struct Xwayland {
    sockets: X11Sockets,
    /// The sources watching the sockets for a first client, enabled while
    /// Xwayland does not run.
    watches: Vec<RegistrationToken>,
    server: Option<Server>,
}

/// A running Xwayland.
struct Server {
    /// The Xwayland process on the loop, until it is ready.
    source: RegistrationToken,
    /// Xwayland as a Wayland client.
    client: Client,
    /// The window manager, once Xwayland is ready.
    wm: Option<X11Wm>,
}

impl std::fmt::Debug for Xwayland {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xwayland")
            .field("display", &self.sockets.display_number())
            .field("running", &self.server.is_some())
            .finish_non_exhaustive()
    }
}

/// Takes the first free X11 display, binds its sockets and waits for a
/// client on them; the display's number.
pub(crate) fn listen(state: &mut State) -> anyhow::Result<u32> {
    ensure_socket_dir()?;
    let sockets = X11Sockets::bind(None, true).context("binding the X11 sockets")?;
    let number = sockets.display_number();
    let mut watches = Vec::new();
    for listener in sockets.listeners() {
        let fd = listener
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating an X11 socket")?;
        let token = state
            .handle
            .insert_source(
                Generic::new(fd, Interest::READ, Mode::Level),
                |_, _, state| {
                    // A client waits: Xwayland will accept it. This source
                    // is disabled by returning; the others here.
                    state.start_xwayland();
                    Ok(PostAction::Disable)
                },
            )
            .map_err(|err| anyhow::anyhow!("watching an X11 socket: {err}"))?;
        watches.push(token);
    }
    info!(
        display = number,
        "X11 clients can connect; Xwayland starts with the first"
    );
    state.xwayland = Some(Xwayland {
        sockets,
        watches,
        server: None,
    });
    Ok(number)
}

/// Makes `/tmp/.X11-unix` where no X server made it yet, writable by
/// everyone and sticky, as X servers make it.
fn ensure_socket_dir() -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o1777).create(SOCKET_DIR) {
        Ok(()) => std::fs::set_permissions(SOCKET_DIR, std::fs::Permissions::from_mode(0o1777))
            .with_context(|| format!("making {SOCKET_DIR} writable")),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("creating {SOCKET_DIR}")),
    }
}

impl State {
    /// Spawns Xwayland on the display's sockets, unless it runs.
    fn start_xwayland(&mut self) {
        let Some(xwayland) = self.xwayland.as_mut() else {
            return;
        };
        if xwayland.server.is_some() {
            return;
        }
        for token in &xwayland.watches {
            // The source that fired also disables itself, by returning.
            if let Err(err) = self.handle.disable(token) {
                warn!(%err, "cannot stop watching an X11 socket");
            }
        }
        info!("an X11 client connected: starting Xwayland");
        let spawned = XWayland::spawn_on(
            &self.display,
            &xwayland.sockets,
            std::iter::empty::<(&str, &str)>(),
            Stdio::null(),
            Stdio::null(),
            |data| {
                data.insert_if_missing_threadsafe(|| ClientLimits::with_share(XWAYLAND_SHARE));
            },
        );
        let (process, client) = match spawned {
            Ok(spawned) => spawned,
            Err(err) => {
                warn!(%err, "cannot start Xwayland");
                // Not from inside the callback of a source it removes.
                self.handle.insert_idle(|state| state.xwayland_failed());
                return;
            }
        };
        let inserted = self
            .handle
            .insert_source(process, |event, _, state| match event {
                XWaylandEvent::Ready { x11_socket, .. } => state.xwayland_ready(x11_socket),
                XWaylandEvent::Error => {
                    warn!("Xwayland exited while starting");
                    // Not from inside this source's own callback.
                    state.handle.insert_idle(|state| state.xwayland_failed());
                }
            });
        match inserted {
            Ok(source) => {
                xwayland.server = Some(Server {
                    source,
                    client,
                    wm: None,
                });
            }
            Err(err) => {
                warn!(%err, "cannot watch Xwayland");
                self.handle.insert_idle(|state| state.xwayland_failed());
            }
        }
    }

    /// Xwayland is ready: the window manager takes its X11 connection.
    fn xwayland_ready(&mut self, x11_socket: UnixStream) {
        let Some(server) = self.xwayland.as_mut().and_then(|x| x.server.as_mut()) else {
            return;
        };
        match X11Wm::start_wm(self.handle.clone(), x11_socket, server.client.clone()) {
            Ok(wm) => {
                info!("Xwayland is ready");
                server.wm = Some(wm);
            }
            Err(err) => {
                warn!(%err, "cannot start the X11 window manager");
                self.handle.insert_idle(|state| state.xwayland_failed());
            }
        }
    }

    /// Xwayland exited, or could not start: what it had goes, and the
    /// sockets are watched for the next client.
    fn xwayland_gone(&mut self) {
        let Some(xwayland) = self.xwayland.as_mut() else {
            return;
        };
        if let Some(server) = xwayland.server.take() {
            // Dropping the process's source disconnects its client.
            self.handle.remove(server.source);
        }
        for token in &xwayland.watches {
            if let Err(err) = self.handle.enable(token) {
                warn!(%err, "cannot watch an X11 socket again");
            }
        }
        let gone: Vec<Window> = self
            .space
            .elements()
            .filter(|w| w.x11_surface().is_some())
            .cloned()
            .collect();
        for window in gone {
            self.window_gone(&window);
        }
    }

    /// Xwayland could not start: the X11 display is closed (clients that
    /// wait on it fail), rather than watched for a client that would
    /// start it again at once, and again.
    fn xwayland_failed(&mut self) {
        self.xwayland_gone();
        if let Some(xwayland) = self.xwayland.take() {
            for token in xwayland.watches {
                self.handle.remove(token);
            }
        }
        warn!("X11 clients are refused from now on");
    }

    /// Gives the X input focus to the X11 window that now has the
    /// keyboard (`focused`), after taking it from the one that had it, and
    /// raises it among the X windows.
    pub(crate) fn x11_focus_changed(&mut self, focused: Option<&Window>) {
        let x11 = |w: &Window| w.x11_surface().cloned();
        let losing: Vec<X11Surface> = self
            .space
            .elements()
            .filter(|w| Some(*w) != focused)
            .filter_map(x11)
            .filter(X11Surface::is_activated)
            .collect();
        for surface in losing {
            let _ = surface.set_activated(false);
            surface.set_input_focus(false);
        }
        let Some(surface) = focused.and_then(x11) else {
            return;
        };
        if surface.is_activated() {
            return;
        }
        let _ = surface.set_activated(true);
        surface.set_input_focus(true);
        if let Some(wm) = self.x11_wm()
            && let Err(err) = wm.raise_window(&surface)
        {
            warn!(%err, "cannot raise an X11 window");
        }
    }

    /// Pairs the X11 window `surface`, just mapped, with its `wl_surface`
    /// once both the surface and its naming exist. Xwayland 22 (Debian 12)
    /// names it by protocol id (`WL_SURFACE_ID`, an X client message the
    /// window manager only records), in no fixed order with the
    /// surface's creation and commits on the Wayland connection, so the
    /// pairing is tried every [`PAIRING_RETRY`] until it is done or the
    /// window is unmapped or gone.
    fn pair_when_named(&mut self, surface: X11Surface) {
        let inserted = self
            .handle
            .insert_source(Timer::immediate(), move |_, _, state| {
                state.pair_x11_window(&surface);
                let shown = surface.alive() && state.x11_window(&surface).is_some();
                if surface.wl_surface().is_some() || !shown {
                    TimeoutAction::Drop
                } else {
                    TimeoutAction::ToDuration(PAIRING_RETRY)
                }
            });
        if let Err(err) = inserted {
            warn!(%err, "cannot pair an X11 window with its surface");
        }
    }

    /// Pairs the X11 window `surface` with the `wl_surface` Xwayland
    /// named for it, if both exist by now, and gives the window the
    /// keyboard if that surface shows something already.
    fn pair_x11_window(&mut self, surface: &X11Surface) {
        if surface.wl_surface().is_some() {
            return;
        }
        #[expect(
            deprecated,
            reason = "Xwayland 22 names surfaces only by id, having no xwayland-shell-v1"
        )]
        let Some(id) = surface.wl_surface_id() else {
            return;
        };
        let Some(client) = self.xwayland.as_ref().and_then(|x| x.server.as_ref()) else {
            return;
        };
        let Ok(wl_surface) = client
            .client
            .object_from_protocol_id::<WlSurface>(&self.display, id)
        else {
            return;
        };
        if surface.pair_with_surface_id(&wl_surface)
            && let Some(window) = self.x11_window(surface)
        {
            self.focus_when_mapped(&window);
        }
    }

    fn x11_wm(&mut self) -> Option<&mut X11Wm> {
        self.xwayland.as_mut()?.server.as_mut()?.wm.as_mut()
    }

    /// The window in the space that shows `surface`.
    fn x11_window(&self, surface: &X11Surface) -> Option<Window> {
        self.space
            .elements()
            .find(|w| w.x11_surface() == Some(surface))
            .cloned()
    }
}

impl XwmHandler for State {
    fn xwm_state(&mut self, _xwm: XwmId) -> &mut X11Wm {
        self.x11_wm()
            .expect("X11 events come only while the window manager runs")
    }

    fn new_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn new_override_redirect_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn map_window_request(&mut self, _xwm: XwmId, surface: X11Surface) {
        if let Err(err) = surface.set_mapped(true) {
            warn!(%err, "cannot map an X11 window");
            return;
        }
        let window = Window::new_x11_window(surface.clone());
        self.add_toplevel(window.clone());
        if let Some(location) = self.space.element_location(&window) {
            window_moved(&window, location);
        }
        self.pair_when_named(surface);
    }

    fn mapped_override_redirect_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        let location = surface.geometry().loc;
        self.space
            .map_element(Window::new_x11_window(surface.clone()), location, false);
        self.pair_when_named(surface);
    }

    fn unmapped_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        if let Some(window) = self.x11_window(&surface) {
            self.window_gone(&window);
        }
        if !surface.is_override_redirect() {
            let _ = surface.set_mapped(false);
        }
    }

    fn destroyed_window(&mut self, _xwm: XwmId, surface: X11Surface) {
        if let Some(window) = self.x11_window(&surface) {
            self.window_gone(&window);
        }
    }

    fn configure_request(
        &mut self,
        _xwm: XwmId,
        surface: X11Surface,
        _x: Option<i32>,
        _y: Option<i32>,
        w: Option<u32>,
        h: Option<u32>,
        _reorder: Option<Reorder>,
    ) {
        // The size is the client's to choose; the place is the
        // compositor's.
        let mut geometry = surface.geometry();
        if let Some(w) = w {
            geometry.size.w = i32::try_from(w).unwrap_or(i32::MAX);
        }
        if let Some(h) = h {
            geometry.size.h = i32::try_from(h).unwrap_or(i32::MAX);
        }
        if let Some(location) = self
            .x11_window(&surface)
            .and_then(|w| self.space.element_location(&w))
        {
            geometry.loc = location;
        }
        if let Err(err) = surface.configure(geometry) {
            warn!(%err, "cannot configure an X11 window");
        }
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        surface: X11Surface,
        geometry: Rectangle<i32, Logical>,
        _above: Option<u32>,
    ) {
        if let Some(window) = self.x11_window(&surface) {
            if surface.is_override_redirect() {
                self.space.map_element(window, geometry.loc, false);
            } else {
                // Its size may have changed, and the row with it.
                self.arrange();
            }
        }
    }

    fn property_notify(&mut self, _xwm: XwmId, surface: X11Surface, property: WmWindowProperty) {
        if matches!(property, WmWindowProperty::Title | WmWindowProperty::Class)
            && let Some(window) = self.x11_window(&surface)
        {
            self.update_toplevel_handle(&window);
        }
    }

    // Windows are neither moved nor resized by the compositor.
    fn resize_request(
        &mut self,
        _xwm: XwmId,
        _window: X11Surface,
        _button: u32,
        _edge: ResizeEdge,
    ) {
    }

    fn move_request(&mut self, _xwm: XwmId, _window: X11Surface, _button: u32) {}

    fn allow_selection_access(&mut self, _xwm: XwmId, _selection: SelectionTarget) -> bool {
        false
    }

    fn disconnected(&mut self, _xwm: XwmId) {
        info!("Xwayland exited");
        // The window manager is dropped outside its own source's callback.
        self.handle.insert_idle(|state| state.xwayland_gone());
    }
}

/// Tells an X11 window that it is at `location` now: X clients place
/// their menus in root coordinates.
pub(crate) fn window_moved(window: &Window, location: Point<i32, Logical>) {
    if let Some(surface) = window.x11_surface() {
        let size = surface.geometry().size;
        if let Err(err) = surface.configure(Rectangle::new(location, size)) {
            warn!(%err, "cannot move an X11 window");
        }
    }
}

/// An X11 window's title and app id (its `WM_CLASS` class), as
/// ext-foreign-toplevel-list names them; `None` for other windows.
pub(crate) fn names(window: &Window) -> Option<(String, String)> {
    window.x11_surface().map(|s| (s.title(), s.class()))
}

impl XWaylandShellHandler for State {
    fn xwayland_shell_state(&mut self) -> &mut XWaylandShellState {
        &mut self.xwayland_shell
    }
}

delegate_xwayland_shell!(State);
