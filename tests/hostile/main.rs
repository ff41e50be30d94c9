//! Clients that do not play by the rules, against a real `dmabridge run`
//! (headless, 320×240 at 60 Hz), spoken on the wire by hand
//! (`support/wire.rs`) so that anything can be sent: NULL strings, values
//! no binding passes, stray file descriptors, floods.
//!
//! Each case connects a fresh hostile client next to a well-behaved
//! observer (`dmabridge-client` drawing frame after frame in its own
//! process) and asserts three things:
//!
//! * the hostile client gets the error the spec names, on the object it
//!   names (or, for requests that are legal however extreme, none);
//! * the observer's frame callbacks keep coming: no gap longer than
//!   [`MAX_GAP`], windows of 8K and more included;
//! * the compositor still runs and accepts a new client.
//!
//! Cases share a compositor where one cannot disturb the next (a client's
//! protocol error ends only that client); the flood cases each get one of
//! their own, since they measure the process's file descriptors and
//! memory.

#[path = "../support/compositor.rs"]
mod support;
#[path = "../support/wire.rs"]
mod wire;

mod copies;
mod fuzz;
mod malformed;
mod resources;

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Child;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rustix::fs::{MemfdFlags, SealFlags, memfd_create};
use smithay::reexports::wayland_server::backend::protocol::{ArgumentType, Interface, MessageDesc};
use support::{Lines, Session};
use wire::{
    Arg, Wire, ack, buffer, buffer_in, memfd, pool, pool_in, sealed_memfd, surface, toplevel,
    wait_for, xdg_surface,
};

/// The longest the observer may go without a frame callback while a
/// hostile client does its worst: the refresh (17 ms) plus 100 ms, and a
/// margin for this slow, shared CI machine, where lavapipe renders on two
/// CPU cores.
const MAX_GAP: Duration = Duration::from_millis(250);

/// `wl_display.error` codes.
const INVALID_METHOD: u32 = 1;
const NO_MEMORY: u32 = 2;
const IMPLEMENTATION: u32 = 3;

/// One stage at a time: the observer's pauses are measured against the
/// refresh, so the cases of other tests must not share the two CPU cores
/// of a build machine with it.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A compositor with an observer drawing in it.
struct Stage {
    session: Session,
    observer: Child,
    frames: Lines,
    /// When the observer's last frame callback was seen.
    last_frame: Instant,
    /// The cases that got the wrong error, or none.
    wrong: Vec<String>,
    /// Held until the compositor and the observer are gone (fields drop
    /// in order).
    _alone: MutexGuard<'static, ()>,
}

impl Stage {
    fn start() -> Self {
        let alone = ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner);
        let args = ["--refresh", "60", "--size", "320x240"].map(String::from);
        let session = Session::start_plain(&args);
        let (observer, frames) =
            session.spawn_client(&["--frames", "0", "--size", "64x64", "--title", "observer"]);
        frames.expect("frame 3", Duration::from_secs(30));
        Self {
            session,
            observer,
            frames,
            last_frame: Instant::now(),
            wrong: Vec::new(),
            _alone: alone,
        }
    }

    fn connect(&self) -> Wire {
        Wire::connect(&self.session.dir().join("runtime"), self.session.socket())
    }

    /// Asserts that the observer got frames without a gap over [`MAX_GAP`]
    /// since the last check, and one recently.
    fn assert_observer_drew(&mut self, case: &str) {
        // At least one more frame must come, however the case went.
        let deadline = Instant::now() + MAX_GAP * 4;
        let mut frames = Vec::new();
        while frames.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            frames.extend(
                self.frames
                    .drain_timed()
                    .into_iter()
                    .filter(|(_, line)| line.starts_with("frame ")),
            );
        }
        assert!(
            !frames.is_empty(),
            "{case}: the observer got no frame since the last check"
        );
        for (at, _) in frames {
            let gap = at.duration_since(self.last_frame);
            assert!(
                gap <= MAX_GAP,
                "{case}: the observer waited {gap:?} for a frame callback"
            );
            self.last_frame = at;
        }
    }

    /// Runs `case` in a fresh hostile client and checks the error it got,
    /// the observer and a new client. A wrong or missing error is recorded
    /// and the next case goes on ([`finish`](Self::finish) reports them
    /// all); a compositor that stops drawing or accepting fails at once.
    fn run(&mut self, name: &str, case: impl FnOnce(&mut Wire) -> Option<(u32, u32)>) {
        let mut outcome = None;
        self.run_any(name, |w| outcome = Some((case(w), w.error())));
        let (expected, got) = outcome.expect("the case ran");
        let matches = match (&expected, &got) {
            (Some((object, code)), Some(error)) => (error.object, error.code) == (*object, *code),
            (None, None) => true,
            _ => false,
        };
        if !matches {
            self.wrong.push(format!(
                "{name}: expected (object, code) {expected:?}, got {got:?}"
            ));
        }
    }

    /// Runs `case` in a fresh hostile client, whatever error it gets, and
    /// checks the observer and a new client.
    fn run_any(&mut self, name: &str, case: impl FnOnce(&mut Wire)) {
        // Frames seen before the case do not count against it.
        self.assert_observer_drew(&format!("before {name}"));
        let mut hostile = self.connect();
        case(&mut hostile);
        drop(hostile);
        self.assert_observer_drew(name);
        let mut newcomer = self.connect();
        newcomer.roundtrip();
        assert!(
            !newcomer.is_closed(),
            "{name}: a new client was not accepted"
        );
        assert!(self.session.is_running(), "{name}: the compositor exited");
    }

    /// Fails with every case that got the wrong answer.
    fn finish(&self) {
        assert!(self.wrong.is_empty(), "{}", self.wrong.join("\n"));
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = self.observer.kill();
        let _ = self.observer.wait();
    }
}

/// A wp_cursor_shape_device_v1 of a manager bound at `version`, for the
/// seat's pointer.
fn cursor_shape_device(wire: &mut Wire, version: u32) -> u32 {
    let seat = wire.bind("wl_seat", 7);
    let pointer = wire.new_id();
    wire.send(seat, 0, &[Arg::NewId(pointer)]);
    let manager = wire.bind("wp_cursor_shape_manager_v1", version);
    let device = wire.new_id();
    wire.send(manager, 1, &[Arg::NewId(device), Arg::Object(pointer)]);
    device
}

/// A toplevel that got and acknowledged its first configure and shows a
/// `width`×`height` buffer; (surface, xdg_surface, toplevel).
fn mapped(wire: &mut Wire, width: i32, height: i32) -> (u32, u32, u32) {
    mapped_from(
        wire,
        memfd((width * height * 4) as u64).as_fd(),
        width,
        height,
    )
}

/// [`mapped`], its buffer in the first bytes of `fd`.
fn mapped_from(wire: &mut Wire, fd: BorrowedFd<'_>, width: i32, height: i32) -> (u32, u32, u32) {
    let (surface, xdg, toplevel) = toplevel(wire);
    wire.send(surface, 6, &[]);
    ack(wire, xdg);
    let buffer = buffer_in(wire, fd, width, height);
    wire.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
    wire.send(
        surface,
        9,
        &[Arg::Int(0), Arg::Int(0), Arg::Int(width), Arg::Int(height)],
    );
    wire.send(surface, 6, &[]);
    (surface, xdg, toplevel)
}
