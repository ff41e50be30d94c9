//! What one client may hold, and how the compositor keeps accepting
//! clients when file descriptors run short, so that no client can deny
//! service to the others.
//!
//! * Each client may hold at most [`MAX_SHM_POOLS`] `wl_shm` pools (each
//!   pins a file descriptor and a mapping) of [`MAX_SHM_BYTES`] in all
//!   (the memory an upload may read, and the renderer copy), [`MAX_DMABUFS`] dma-buf
//!   `wl_buffer`s and [`MAX_DMABUF_PARAMS`] unfinished
//!   `zwp_linux_buffer_params_v1` (each pins up to four file descriptors),
//!   [`MAX_SURFACES`] surfaces, [`MAX_CAPTURES`] capture sessions and
//!   frames and [`MAX_COPIES`] buffer-copy objects and unanswered copies.
//!   A client that asks for more is disconnected with
//!   `wl_display.error(no_memory)`.
//! * Xwayland holds what every X11 client asks for, so it may hold
//!   [`XWAYLAND_SHARE`] times as much; past that it is disconnected like
//!   any client (and started again for the next X11 client), so that X11
//!   clients together cannot pin more than that.
//! * File descriptors a client sends with requests that take none are
//!   capped by the carried patch of the Wayland server backend (see
//!   `docs/limits.md`).
//! * At start the process raises its soft `RLIMIT_NOFILE` to the hard
//!   limit ([`raise_fd_limit`]).
//! * New clients are accepted only while more than [`FD_RESERVE`]
//!   descriptors are free, so that those already connected keep getting
//!   frames (each frame's fences are descriptors too). A client turned
//!   away is accepted and closed at once: it sees its connection end
//!   instead of hanging.
//! * The listening socket keeps one spare file descriptor ([`Listener`]):
//!   when an accept fails for lack of descriptors anyway, the spare is
//!   closed, the waiting connection accepted and closed, and the spare
//!   opened again; with no spare left, the socket is not listened to for
//!   a moment. Either way the loop neither spins nor stops accepting.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustix::io::Errno;
use rustix::process::{Resource, getrlimit, setrlimit};
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_server::backend::protocol::ProtocolError;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId};
use smithay::reexports::wayland_server::{Client, DisplayHandle, ListeningSocket};
use smithay::xwayland::XWaylandClientData;
use tracing::{info, warn};

use super::state::{ClientState, State};

/// The most `wl_shm` pools one client may hold at once.
pub(crate) const MAX_SHM_POOLS: usize = 256;
/// The most bytes of `wl_shm` pools one client may hold at once: room for
/// several 8K windows (133 MB a buffer) with three buffers each.
pub(crate) const MAX_SHM_BYTES: usize = 2 << 30;
/// The most dma-buf `wl_buffer`s one client may hold at once.
pub(crate) const MAX_DMABUFS: usize = 512;
/// The most `zwp_linux_buffer_params_v1` one client may hold at once.
pub(crate) const MAX_DMABUF_PARAMS: usize = 64;
/// The most `wl_surface`s one client may hold at once.
pub(crate) const MAX_SURFACES: usize = 1024;
/// The most screen-capture sessions and wlr-screencopy frames one client
/// may hold at once: each may cost a copy of the output every refresh.
pub(crate) const MAX_CAPTURES: usize = 64;
/// The most `dmabridge_buffer_copy_v1` objects and unanswered copies one
/// client may hold at once: each copy waits for its fences or the device.
pub(crate) const MAX_COPIES: usize = 64;

/// How many clients' worth Xwayland may hold: it holds the buffers and
/// surfaces of every X11 client.
pub(crate) const XWAYLAND_SHARE: usize = 16;

/// File descriptors kept for the compositor's own work (sync_files,
/// imports, captures): a client is accepted only while more than this
/// many are free.
const FD_RESERVE: u64 = 64;

/// How long the compositor stops listening when not even its spare file
/// descriptor is left to turn a connection away with.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The `wl_display` error code for an exhausted resource.
const NO_MEMORY: u32 = 2;

/// What one client holds, counted against the limits above.
#[derive(Debug)]
pub(crate) struct ClientLimits {
    /// How many times the limits above this client may hold.
    share: usize,
    shm_pools: AtomicUsize,
    shm_bytes: AtomicUsize,
    dmabufs: AtomicUsize,
    dmabuf_params: AtomicUsize,
    surfaces: AtomicUsize,
    captures: AtomicUsize,
    copies: AtomicUsize,
}

/// What a client holds a limited amount of: one object of a kind, or
/// bytes of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Held {
    /// `wl_shm_pool`.
    ShmPool,
    /// This many bytes of `wl_shm` pools.
    ShmBytes(usize),
    /// A dma-buf `wl_buffer`.
    Dmabuf,
    /// `zwp_linux_buffer_params_v1`.
    DmabufParams,
    /// `wl_surface`.
    Surface,
    /// An ext-image-copy-capture session (of an image or a cursor) or a
    /// wlr-screencopy frame.
    Capture,
    /// A `dmabridge_buffer_copy_v1`, or a copy submitted and not yet
    /// answered (each counts once).
    Copy,
}

impl Held {
    fn limit(self) -> usize {
        match self {
            Self::ShmPool => MAX_SHM_POOLS,
            Self::ShmBytes(_) => MAX_SHM_BYTES,
            Self::Dmabuf => MAX_DMABUFS,
            Self::DmabufParams => MAX_DMABUF_PARAMS,
            Self::Surface => MAX_SURFACES,
            Self::Capture => MAX_CAPTURES,
            Self::Copy => MAX_COPIES,
        }
    }

    /// How much of its kind this is.
    fn amount(self) -> usize {
        match self {
            Self::ShmBytes(bytes) => bytes,
            _ => 1,
        }
    }

    /// What is counted, in the plural.
    fn name(self) -> &'static str {
        match self {
            Self::ShmPool => "wl_shm_pool objects",
            Self::ShmBytes(_) => "bytes of wl_shm pools",
            Self::Dmabuf => "dma-buf wl_buffer objects",
            Self::DmabufParams => "zwp_linux_buffer_params_v1 objects",
            Self::Surface => "wl_surface objects",
            Self::Capture => "screen-capture sessions or frames",
            Self::Copy => "buffer-copy objects and unanswered copies",
        }
    }
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self::with_share(1)
    }
}

impl ClientLimits {
    /// The limits of a client that may hold `share` times the limits
    /// above.
    pub(crate) fn with_share(share: usize) -> Self {
        Self {
            share,
            shm_pools: AtomicUsize::new(0),
            shm_bytes: AtomicUsize::new(0),
            dmabufs: AtomicUsize::new(0),
            dmabuf_params: AtomicUsize::new(0),
            surfaces: AtomicUsize::new(0),
            captures: AtomicUsize::new(0),
            copies: AtomicUsize::new(0),
        }
    }

    /// How much of `held`'s kind this client may hold.
    fn limit(&self, held: Held) -> usize {
        held.limit().saturating_mul(self.share)
    }

    fn counter(&self, held: Held) -> &AtomicUsize {
        match held {
            Held::ShmPool => &self.shm_pools,
            Held::ShmBytes(_) => &self.shm_bytes,
            Held::Dmabuf => &self.dmabufs,
            Held::DmabufParams => &self.dmabuf_params,
            Held::Surface => &self.surfaces,
            Held::Capture => &self.captures,
            Held::Copy => &self.copies,
        }
    }

    /// Counts `held` more; false (and nothing counted) when that would
    /// take the client past its limit.
    pub(crate) fn hold(&self, held: Held) -> bool {
        self.counter(held)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                n.checked_add(held.amount())
                    .filter(|&total| total <= self.limit(held))
            })
            .is_ok()
    }

    /// Counts `held` less.
    pub(crate) fn release(&self, held: Held) {
        let _ = self
            .counter(held)
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(held.amount()))
            });
    }
}

/// Counts one more `held` for `client`, which is about to make one; when
/// it already holds as many as it may, disconnects it (see
/// [`disconnect`]) and returns false: the request must then be dropped.
pub(crate) fn hold_or_disconnect(dh: &DisplayHandle, client: &Client, held: Held) -> bool {
    let data = dh.backend_handle().get_client_data(client.id()).ok();
    let Some(limits) = client_limits(data.as_deref()) else {
        return true;
    };
    let counted = limits.hold(held);
    if !counted {
        disconnect(dh, client, held, limits.limit(held));
    }
    counted
}

/// The limits a client's data keeps: a Wayland client's own, or those
/// put in Xwayland's when it was started.
fn client_limits(data: Option<&dyn ClientData>) -> Option<&ClientLimits> {
    let data = data?;
    if let Some(client) = data.downcast_ref::<ClientState>() {
        return Some(&client.limits);
    }
    data.downcast_ref::<XWaylandClientData>()?
        .user_data()
        .get::<ClientLimits>()
}

/// Disconnects `client` for asking for more `held` objects than the
/// `limit` it may hold, with `wl_display.error(no_memory)`.
fn disconnect(dh: &DisplayHandle, client: &Client, held: Held, limit: usize) {
    let message = format!("a client may hold at most {limit} {}", held.name());
    warn!(client = ?client.id(), "{message}: disconnecting it");
    client.kill(
        dh,
        ProtocolError {
            code: NO_MEMORY,
            object_id: 1,
            object_interface: "wl_display".into(),
            message,
        },
    );
}

/// Raises the soft limit on open file descriptors to the hard limit: each
/// client's socket, shm pools and dma-bufs are descriptors, and the
/// default soft limit (often 1024) is far below what a desktop's clients
/// hold.
pub(crate) fn raise_fd_limit() {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current == limit.maximum {
        return;
    }
    let from = limit.current;
    limit.current = limit.maximum;
    match setrlimit(Resource::Nofile, limit) {
        Ok(()) => info!(from, to = limit.maximum, "raised the open-file limit"),
        Err(err) => warn!(%err, "cannot raise the open-file limit"),
    }
}

/// The listening socket, with a spare file descriptor kept for accepting
/// when descriptors run out.
#[derive(Debug)]
pub(crate) struct Listener {
    socket: ListeningSocket,
    spare: Option<OwnedFd>,
    /// Whether running out of descriptors was logged since the last
    /// accept that succeeded.
    warned: bool,
}

impl Listener {
    pub(crate) fn new(socket: ListeningSocket) -> Self {
        Self {
            socket,
            spare: open_spare(),
            warned: false,
        }
    }

    /// The next waiting connection, if any. A connection that cannot be
    /// kept, for lack of file descriptors or because keeping it would eat
    /// into [`FD_RESERVE`], is closed at once.
    pub(crate) fn accept(&mut self) -> Accepted {
        loop {
            let err = match self.socket.accept() {
                Ok(Some(stream)) if reserved(stream.as_raw_fd()) => {
                    self.refusing("too few file descriptors left");
                    continue;
                }
                Ok(Some(stream)) => {
                    self.warned = false;
                    return Accepted::Client(stream);
                }
                Ok(None) => return Accepted::None,
                Err(err) => err,
            };
            if !matches!(
                Errno::from_io_error(&err),
                Some(Errno::MFILE | Errno::NFILE)
            ) {
                // The client gave up before it was accepted.
                warn!(%err, "cannot accept a client");
                return Accepted::None;
            }
            self.refusing("out of file descriptors");
            // With the spare closed, the waiting connection can be taken
            // off the queue; without a spare it stays, and the loop would
            // wake again at once.
            if self.spare.take().is_none() {
                return Accepted::Backoff;
            }
            drop(self.socket.accept());
            self.spare = open_spare();
        }
    }

    /// Logs, once until a client is accepted again, that clients are being
    /// turned away.
    fn refusing(&mut self, why: &str) {
        if !self.warned {
            warn!("{why}: refusing new clients");
            self.warned = true;
        }
    }
}

/// Whether `fd`, just opened, eats into the reserve: the kernel gives the
/// lowest free descriptor, so every one below `fd` is in use.
fn reserved(fd: RawFd) -> bool {
    let limit = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    u64::try_from(fd).is_ok_and(|fd| fd.saturating_add(FD_RESERVE) >= limit)
}

/// What [`Listener::accept`] found.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A new client.
    Client(UnixStream),
    /// No connection waits.
    None,
    /// A connection waits, but no file descriptor is free to accept it,
    /// not even the spare's: stop listening for a while.
    Backoff,
}

fn open_spare() -> Option<OwnedFd> {
    rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()
}

/// Stops taking connections for [`ACCEPT_BACKOFF`] (the caller disables
/// the socket's source), then listens again.
pub(crate) fn listen_later(state: &State) {
    let Some(token) = state.listener else {
        return;
    };
    let timer = Timer::from_duration(ACCEPT_BACKOFF);
    let inserted = state.handle.insert_source(timer, move |_, _, state| {
        if let Err(err) = state.handle.enable(&token) {
            warn!(%err, "cannot listen on the socket again");
        }
        TimeoutAction::Drop
    });
    if let Err(err) = inserted {
        warn!(%err, "cannot schedule listening again");
    }
}

impl State {
    /// Counts one `held` fewer for `client`, whose object was destroyed.
    pub(crate) fn release_held(&self, client: ClientId, held: Held) {
        let Ok(data) = self.display.backend_handle().get_client_data(client) else {
            return;
        };
        if let Some(limits) = client_limits(Some(data.as_ref())) {
            limits.release(held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_holds_up_to_its_limit_and_gets_back_what_it_releases() {
        let limits = ClientLimits::default();
        for _ in 0..MAX_SURFACES {
            assert!(limits.hold(Held::Surface));
        }
        assert!(!limits.hold(Held::Surface));
        limits.release(Held::Surface);
        assert!(limits.hold(Held::Surface));
        assert!(!limits.hold(Held::ShmBytes(MAX_SHM_BYTES + 1)));
        assert!(limits.hold(Held::ShmBytes(MAX_SHM_BYTES)));
        assert!(!limits.hold(Held::ShmBytes(1)));
    }

    #[test]
    fn xwayland_holds_its_share_and_no_more() {
        let limits = ClientLimits::with_share(XWAYLAND_SHARE);
        for _ in 0..MAX_CAPTURES * XWAYLAND_SHARE {
            assert!(limits.hold(Held::Capture));
        }
        assert!(!limits.hold(Held::Capture));
        assert!(limits.hold(Held::ShmBytes(MAX_SHM_BYTES * XWAYLAND_SHARE)));
        assert!(!limits.hold(Held::ShmBytes(1)));
        // Sizes near usize::MAX neither wrap nor pass.
        let limits = ClientLimits::with_share(usize::MAX);
        assert!(limits.hold(Held::ShmBytes(usize::MAX)));
        assert!(!limits.hold(Held::ShmBytes(1)));
    }
}
