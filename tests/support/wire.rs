//! A Wayland client that speaks the wire format by hand, so that it can
//! send what libwayland and wayland-client refuse to: NULL strings, sizes
//! and values no binding would pass, file descriptors attached to requests
//! that take none, and bytes that are no message at all.
//!
//! Requests are written as given ([`Wire::send`]); events are read as raw
//! messages and kept, and `wl_display.error` is recognised
//! ([`Wire::error`]). The client knows the registry's globals and binds
//! them by name.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of this client"
)]

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{MemfdFlags, SealFlags, memfd_create};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

/// How long a round trip may take before the compositor is taken for hung.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// One argument of a request, as the wire carries it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arg<'a> {
    Int(i32),
    Uint(u32),
    /// A 24.8 fixed-point number, raw.
    Fixed(i32),
    /// A string; `None` is the NULL string (length 0 on the wire).
    Str(Option<&'a str>),
    Array(&'a [u8]),
    /// An object id; 0 is null.
    Object(u32),
    NewId(u32),
    /// A file descriptor, sent beside the bytes.
    Fd(BorrowedFd<'a>),
}

/// A message the compositor sent.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) object: u32,
    pub(crate) opcode: u16,
    /// The arguments' bytes.
    pub(crate) body: Vec<u8>,
}

impl Event {
    /// The `n`th 32-bit word of the arguments.
    pub(crate) fn word(&self, n: usize) -> u32 {
        u32::from_ne_bytes(self.body[n * 4..n * 4 + 4].try_into().unwrap())
    }

    /// The string whose length word is the `n`th word of the arguments.
    pub(crate) fn string(&self, n: usize) -> String {
        let len = self.word(n) as usize;
        let start = (n + 1) * 4;
        let bytes = &self.body[start..start + len.saturating_sub(1)];
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// `wl_display.error`, as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProtocolError {
    /// The object the error is about.
    pub(crate) object: u32,
    pub(crate) code: u32,
    pub(crate) message: String,
}

/// A global the registry announced.
#[derive(Debug, Clone)]
pub(crate) struct Global {
    pub(crate) name: u32,
    pub(crate) interface: String,
    pub(crate) version: u32,
}

/// A connection to a compositor, spoken by hand.
pub(crate) struct Wire {
    stream: UnixStream,
    next_id: u32,
    registry: u32,
    pub(crate) globals: Vec<Global>,
    /// Every event received so far, in order.
    pub(crate) events: Vec<Event>,
    /// Bytes received that do not make a whole message yet.
    partial: Vec<u8>,
    error: Option<ProtocolError>,
    closed: bool,
}

impl Wire {
    /// Connects to `socket` in `runtime_dir` and reads the registry.
    pub(crate) fn connect(runtime_dir: &Path, socket: &str) -> Self {
        let stream = UnixStream::connect(runtime_dir.join(socket))
            .unwrap_or_else(|err| panic!("connecting to {socket}: {err}"));
        Self::over(stream)
    }

    /// Speaks over `stream`, connected to the compositor, and reads the
    /// registry.
    pub(crate) fn over(stream: UnixStream) -> Self {
        stream.set_nonblocking(true).unwrap();
        let mut wire = Self {
            stream,
            next_id: 2,
            registry: 0,
            globals: Vec::new(),
            events: Vec::new(),
            partial: Vec::new(),
            error: None,
            closed: false,
        };
        let registry = wire.new_id();
        wire.registry = registry;
        wire.send(1, 1, &[Arg::NewId(registry)]);
        wire.roundtrip();
        wire.globals = wire
            .events
            .iter()
            .filter(|e| e.object == registry && e.opcode == 0)
            .map(|e| Global {
                name: e.word(0),
                interface: e.string(1),
                version: e.word(2 + (e.word(1) as usize).div_ceil(4)),
            })
            .collect();
        wire
    }

    /// A fresh object id.
    pub(crate) fn new_id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The registry's object id.
    pub(crate) fn registry(&self) -> u32 {
        self.registry
    }

    /// The global implementing `interface`, if the compositor has one.
    pub(crate) fn global(&self, interface: &str) -> Option<&Global> {
        self.globals.iter().find(|g| g.interface == interface)
    }

    /// Binds `interface` at `version` (at most what the compositor offers);
    /// the new object's id.
    pub(crate) fn bind(&mut self, interface: &str, version: u32) -> u32 {
        let global = self
            .global(interface)
            .unwrap_or_else(|| panic!("the compositor has no {interface}"))
            .clone();
        let id = self.new_id();
        let iface = Arg::Str(Some(&global.interface));
        let version = Arg::Uint(version.min(global.version));
        let args = [Arg::Uint(global.name), iface, version, Arg::NewId(id)];
        self.send(self.registry, 0, &args);
        id
    }

    /// Writes a request. A write the compositor no longer reads (it
    /// disconnected the client) is dropped: the error says why.
    pub(crate) fn send(&mut self, object: u32, opcode: u16, args: &[Arg<'_>]) {
        let (bytes, fds) = encode(object, opcode, args);
        self.send_raw(&bytes, &fds);
    }

    /// Writes `bytes`, whatever they are, with `fds` beside them.
    pub(crate) fn send_raw(&mut self, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !fds.is_empty() {
            assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
        }
        let mut sent = 0;
        let deadline = Instant::now() + TIMEOUT;
        while sent < bytes.len() {
            let chunk = [IoSlice::new(&bytes[sent..])];
            let control = if sent == 0 {
                &mut control
            } else {
                &mut SendAncillaryBuffer::default()
            };
            match sendmsg(&self.stream, &chunk, control, SendFlags::NOSIGNAL) {
                Ok(n) => sent += n,
                Err(rustix::io::Errno::AGAIN) if Instant::now() < deadline => {
                    // The compositor reads slower than this client writes:
                    // take in what it sent meanwhile.
                    self.read(Duration::from_millis(10));
                }
                // The compositor hung up: what it said before is read by
                // the next round trip, which then sees the end.
                Err(_) => return,
            }
        }
    }

    /// `wl_display.sync`, then events until its callback is done, the
    /// compositor sent an error or hung up. Panics when none of them comes
    /// within [`TIMEOUT`].
    pub(crate) fn roundtrip(&mut self) {
        if self.closed {
            return;
        }
        let callback = self.new_id();
        self.send(1, 0, &[Arg::NewId(callback)]);
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = 0;
        loop {
            if self.events[seen..]
                .iter()
                .any(|e| e.object == callback && e.opcode == 0)
                || self.error.is_some()
                || self.closed
            {
                return;
            }
            seen = self.events.len();
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no answer to wl_display.sync in {TIMEOUT:?}"
            );
            self.read(left);
        }
    }

    /// The error the compositor sent, if it sent one (after a round trip).
    pub(crate) fn error(&mut self) -> Option<ProtocolError> {
        self.roundtrip();
        self.error.clone()
    }

    /// Whether the compositor closed the connection.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Events received for `object`, in order.
    pub(crate) fn events_of(&self, object: u32) -> impl Iterator<Item = &Event> {
        self.events.iter().filter(move |e| e.object == object)
    }

    /// Reads what has come, waiting at most `timeout` for something.
    pub(crate) fn read(&mut self, timeout: Duration) {
        let mut poll = [PollFd::new(&self.stream, PollFlags::IN)];
        let timeout = Timespec::try_from(timeout).unwrap();
        if !matches!(rustix::event::poll(&mut poll, Some(&timeout)), Ok(n) if n > 0) {
            return;
        }
        loop {
            let mut buf = [0u8; 4096];
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(28))];
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg(
                &self.stream,
                &mut iov,
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(msg) if msg.bytes == 0 => {
                    self.closed = true;
                    break;
                }
                Ok(msg) => {
                    // Descriptors the compositor sent (keymaps, format
                    // tables) are not needed: they close here.
                    for message in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(fds) = message {
                            drop(fds.collect::<Vec<OwnedFd>>());
                        }
                    }
                    self.partial.extend_from_slice(&buf[..msg.bytes]);
                }
                Err(err) if std::io::Error::from(err).kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed = true;
                    break;
                }
            }
        }
        self.parse();
    }

    fn parse(&mut self) {
        while self.partial.len() >= 8 {
            let word = |i: usize| u32::from_ne_bytes(self.partial[i..i + 4].try_into().unwrap());
            let (object, header) = (word(0), word(4));
            let size = (header >> 16) as usize;
            if size < 8 || self.partial.len() < size {
                break;
            }
            let event = Event {
                object,
                opcode: (header & 0xffff) as u16,
                body: self.partial[8..size].to_vec(),
            };
            self.partial.drain(..size);
            if event.object == 1 && event.opcode == 0 {
                self.error = Some(ProtocolError {
                    object: event.word(0),
                    code: event.word(1),
                    message: event.string(2),
                });
            }
            self.events.push(event);
        }
    }
}

impl AsFd for Wire {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// A request's bytes and the descriptors sent beside them.
pub(crate) fn encode<'a>(
    object: u32,
    opcode: u16,
    args: &[Arg<'a>],
) -> (Vec<u8>, Vec<BorrowedFd<'a>>) {
    let mut body = Vec::new();
    let mut fds = Vec::new();
    let padded = |body: &mut Vec<u8>, bytes: &[u8]| {
        body.extend_from_slice(bytes);
        body.resize(body.len().next_multiple_of(4), 0);
    };
    for arg in args {
        match *arg {
            Arg::Int(v) | Arg::Fixed(v) => body.extend_from_slice(&v.to_ne_bytes()),
            Arg::Uint(v) | Arg::Object(v) | Arg::NewId(v) => {
                body.extend_from_slice(&v.to_ne_bytes())
            }
            Arg::Str(None) => body.extend_from_slice(&0u32.to_ne_bytes()),
            Arg::Str(Some(s)) => {
                body.extend_from_slice(&(s.len() as u32 + 1).to_ne_bytes());
                let mut bytes = s.as_bytes().to_vec();
                bytes.push(0);
                padded(&mut body, &bytes);
            }
            Arg::Array(a) => {
                body.extend_from_slice(&(a.len() as u32).to_ne_bytes());
                padded(&mut body, a);
            }
            Arg::Fd(fd) => fds.push(fd),
        }
    }
    let size = (8 + body.len()) as u32;
    let mut bytes = Vec::with_capacity(size as usize);
    bytes.extend_from_slice(&object.to_ne_bytes());
    bytes.extend_from_slice(&((size << 16) | u32::from(opcode)).to_ne_bytes());
    bytes.extend_from_slice(&body);
    (bytes, fds)
}

// Objects most cases start from.

/// A memfd of `size` bytes, for `wl_shm` pools.
pub(crate) fn memfd(size: u64) -> OwnedFd {
    let fd = memfd_create("hostile", MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, size).unwrap();
    fd
}

/// A memfd of `size` bytes sealed against shrinking, as Qt's and GLFW's
/// pools are: the compositor's device may read it in place.
pub(crate) fn sealed_memfd(size: u64) -> OwnedFd {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let fd = memfd_create("hostile", flags).unwrap();
    rustix::fs::ftruncate(&fd, size).unwrap();
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
    fd
}

/// Binds `wl_shm` and makes a pool of `size` bytes; (shm, pool).
pub(crate) fn pool(wire: &mut Wire, size: i32) -> (u32, u32) {
    pool_in(wire, memfd(size as u64).as_fd(), size)
}

/// Binds `wl_shm` and makes a pool of the first `size` bytes of `fd`;
/// (shm, pool).
pub(crate) fn pool_in(wire: &mut Wire, fd: BorrowedFd<'_>, size: i32) -> (u32, u32) {
    let shm = wire.bind("wl_shm", 1);
    let pool = wire.new_id();
    wire.send(shm, 0, &[Arg::NewId(pool), Arg::Fd(fd), Arg::Int(size)]);
    (shm, pool)
}

/// An ARGB8888 buffer of `width`×`height` in a pool of its own.
pub(crate) fn buffer(wire: &mut Wire, width: i32, height: i32) -> u32 {
    buffer_in(
        wire,
        memfd((width * height * 4) as u64).as_fd(),
        width,
        height,
    )
}

/// An ARGB8888 buffer of `width`×`height` in a pool of its own, the first
/// bytes of `fd`.
pub(crate) fn buffer_in(wire: &mut Wire, fd: BorrowedFd<'_>, width: i32, height: i32) -> u32 {
    let (_, pool) = pool_in(wire, fd, width * height * 4);
    let buffer = wire.new_id();
    let args = [
        Arg::NewId(buffer),
        Arg::Int(0),
        Arg::Int(width),
        Arg::Int(height),
        Arg::Int(width * 4),
        Arg::Uint(0),
    ];
    wire.send(pool, 0, &args);
    buffer
}

/// A new `wl_surface`; (compositor, surface).
pub(crate) fn surface(wire: &mut Wire) -> (u32, u32) {
    let compositor = wire.bind("wl_compositor", 6);
    let surface = wire.new_id();
    wire.send(compositor, 0, &[Arg::NewId(surface)]);
    (compositor, surface)
}

/// An xdg surface over a new `wl_surface`; (wm_base, surface, xdg_surface).
pub(crate) fn xdg_surface(wire: &mut Wire) -> (u32, u32, u32) {
    let (_, surface) = surface(wire);
    let wm_base = wire.bind("xdg_wm_base", 6);
    let xdg = wire.new_id();
    wire.send(wm_base, 2, &[Arg::NewId(xdg), Arg::Object(surface)]);
    (wm_base, surface, xdg)
}

/// A toplevel; (surface, xdg_surface, toplevel).
pub(crate) fn toplevel(wire: &mut Wire) -> (u32, u32, u32) {
    let (_, surface, xdg) = xdg_surface(wire);
    let toplevel = wire.new_id();
    wire.send(xdg, 1, &[Arg::NewId(toplevel)]);
    (surface, xdg, toplevel)
}

/// Acknowledges the last configure `xdg` (an `xdg_surface`) received.
pub(crate) fn ack(wire: &mut Wire, xdg: u32) {
    wire.roundtrip();
    let serial = wire
        .events_of(xdg)
        .filter(|e| e.opcode == 0)
        .last()
        .expect("a configure")
        .word(0);
    wire.send(xdg, 4, &[Arg::Uint(serial)]);
}

// Input, as a client sees it.

/// Round trips until an event of `object` with `opcode` came, for at most
/// ten seconds; that event.
pub(crate) fn wait_for(w: &mut Wire, object: u32, opcode: u16) -> Option<Event> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(event) = w.events_of(object).find(|e| e.opcode == opcode) {
            return Some(event.clone());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
        w.roundtrip();
    }
}

/// The pointer's place in the surface after every `wl_pointer.motion`
/// `pointer` got so far, in whole pixels.
pub(crate) fn motions(w: &Wire, pointer: u32) -> Vec<(i32, i32)> {
    w.events_of(pointer)
        .filter(|e| e.opcode == 2)
        .map(|e| (e.word(1) as i32 / 256, e.word(2) as i32 / 256))
        .collect()
}

/// The `(dx, dy)` of every relative motion `relative` got so far.
pub(crate) fn relative_motions(w: &Wire, relative: u32) -> Vec<(i32, i32)> {
    w.events_of(relative)
        .filter(|e| e.opcode == 0)
        .map(|e| (e.word(2) as i32 / 256, e.word(3) as i32 / 256))
        .collect()
}

/// A persistent constraint of `surface` on `pointer`, made with request
/// `opcode` of `zwp_pointer_constraints_v1` (1: lock, 2: confine) and
/// waited for until it is active; the constraint.
pub(crate) fn constraint(w: &mut Wire, opcode: u16, surface: u32, pointer: u32) -> u32 {
    let constraints = w.bind("zwp_pointer_constraints_v1", 1);
    let constraint = w.new_id();
    let args = [
        Arg::NewId(constraint),
        Arg::Object(surface),
        Arg::Object(pointer),
        Arg::Object(0),
        Arg::Uint(2),
    ];
    w.send(constraints, opcode, &args);
    // `locked` and `confined` are both event 0.
    wait_for(w, constraint, 0).expect("the constraint became active");
    constraint
}

/// Round trips until `relative` got `count` relative motions, for at most
/// ten seconds; those motions.
pub(crate) fn relative_motions_until(w: &mut Wire, relative: u32, count: usize) -> Vec<(i32, i32)> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while relative_motions(w, relative).len() < count && Instant::now() < deadline {
        w.roundtrip();
    }
    w.roundtrip();
    relative_motions(w, relative)
}
