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
//!   [`MAX_GAP`] (a window whose first buffer is over 128 MiB is allowed
//!   [`FIRST_UPLOAD_GAP`] for its first upload);
//! * the compositor still runs and accepts a new client.
//!
//! Cases share a compositor where one cannot disturb the next (a client's
//! protocol error ends only that client); the flood cases each get one of
//! their own, since they measure the process's file descriptors and
//! memory.

#[path = "support/compositor.rs"]
mod support;
#[path = "support/wire.rs"]
mod wire;

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

/// The longest gap a window whose first buffer is larger than 128 MiB may
/// cause: the frame that shows it waits for its first upload, every byte
/// touched for the first time. From a pool that is not sealed, two copies
/// through staging memory, one on the event loop: 250–350 ms here (a
/// 6000×6000 buffer: 144 MB). From a sealed pool, which the device reads
/// in place, one transfer on lavapipe's queue thread: up to about 260 ms
/// here. Later commits upload only their damage. This bound catches a
/// freeze, not the hitch.
const FIRST_UPLOAD_GAP: Duration = Duration::from_secs(1);

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
    /// The longest gap allowed between the observer's frames.
    max_gap: Duration,
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
            max_gap: MAX_GAP,
            _alone: alone,
        }
    }

    fn connect(&self) -> Wire {
        Wire::connect(&self.session.dir().join("runtime"), self.session.socket())
    }

    /// Asserts that the observer got frames without a gap over `max_gap`
    /// since the last check, and one recently.
    fn assert_observer_drew(&mut self, case: &str) {
        // At least one more frame must come, however the case went.
        let deadline = Instant::now() + self.max_gap * 4;
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
                gap <= self.max_gap,
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

/// Requests that panicked a dependency or the compositor's own
/// arithmetic, and the spec's errors for the misuse a conforming
/// compositor must refuse.
#[test]
fn malformed_requests_get_the_spec_error_and_harm_no_one() {
    let mut stage = Stage::start();

    stage.run("wl_shm_pool.resize(0)", |w| {
        let (_, pool) = pool(w, 4096);
        w.send(pool, 2, &[Arg::Int(0)]);
        Some((pool, 2)) // wl_shm.invalid_fd
    });
    stage.run("wl_shm_pool.resize(-1)", |w| {
        let (_, pool) = pool(w, 4096);
        w.send(pool, 2, &[Arg::Int(-1)]);
        Some((pool, 2))
    });
    stage.run("wl_shm_pool.create_buffer with an unknown format", |w| {
        let (_, pool) = pool(w, 4096);
        let buffer = w.new_id();
        let args = [
            Arg::NewId(buffer),
            Arg::Int(0),
            Arg::Int(4),
            Arg::Int(4),
            Arg::Int(16),
            Arg::Uint(0x3231_564e), // NV12: not a wl_shm format here
        ];
        w.send(pool, 0, &args);
        Some((pool, 0)) // wl_shm.invalid_format
    });
    stage.run("xdg_toplevel.set_title(NULL)", |w| {
        let (_, _, toplevel) = toplevel(w);
        w.send(toplevel, 2, &[Arg::Str(None)]);
        Some((1, INVALID_METHOD))
    });
    stage.run("wl_registry.bind with a NULL interface", |w| {
        let name = w.global("wl_compositor").unwrap().name;
        let id = w.new_id();
        let registry = w.registry();
        let args = [
            Arg::Uint(name),
            Arg::Str(None),
            Arg::Uint(1),
            Arg::NewId(id),
        ];
        w.send(registry, 0, &args);
        Some((1, INVALID_METHOD))
    });
    stage.run("a message shorter than its header", |w| {
        w.send_raw(&[1, 0, 0, 0, 0, 0, 4, 0], &[]);
        Some((1, INVALID_METHOD))
    });
    stage.run("an opcode wl_display does not have", |w| {
        w.send(1, 7, &[]);
        Some((1, INVALID_METHOD))
    });
    stage.run("a request to an object that does not exist", |w| {
        w.send(4000, 0, &[]);
        Some((1, 0)) // wl_display.invalid_object
    });
    stage.run("wl_surface.set_buffer_transform(8)", |w| {
        let (_, surface) = surface(w);
        w.send(surface, 7, &[Arg::Int(8)]);
        Some((surface, 1)) // wl_surface.invalid_transform
    });
    stage.run("wl_surface.set_buffer_scale(0)", |w| {
        let (_, surface) = surface(w);
        w.send(surface, 8, &[Arg::Int(0)]);
        Some((surface, 0)) // wl_surface.invalid_scale
    });
    stage.run("xdg_surface.get_toplevel twice", |w| {
        let (_, xdg, _) = toplevel(w);
        let again = w.new_id();
        w.send(xdg, 1, &[Arg::NewId(again)]);
        Some((xdg, 2)) // xdg_surface.already_constructed
    });
    stage.run(
        "zxdg_decoration_manager_v1.get_toplevel_decoration twice",
        |w| {
            let (_, _, toplevel) = toplevel(w);
            let manager = w.bind("zxdg_decoration_manager_v1", 1);
            for _ in 0..2 {
                let decoration = w.new_id();
                w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
            }
            // zxdg_toplevel_decoration_v1.already_constructed, on the manager
            // (the new object does not exist yet), as wlroots raises it.
            Some((manager, 1))
        },
    );
    stage.run_any("a decoration for a toplevel whose wl_surface went", |w| {
        let (surface, _, toplevel) = toplevel(w);
        let manager = w.bind("zxdg_decoration_manager_v1", 1);
        w.send(surface, 0, &[]);
        let decoration = w.new_id();
        w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
        w.roundtrip();
    });
    stage.run_any("decoration requests after the wl_surface went", |w| {
        let (surface, _, toplevel) = toplevel(w);
        let manager = w.bind("zxdg_decoration_manager_v1", 1);
        let decoration = w.new_id();
        w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
        w.send(surface, 0, &[]);
        w.send(decoration, 1, &[Arg::Uint(2)]);
        w.send(decoration, 2, &[]);
        w.roundtrip();
    });
    stage.run("xdg_activation_token_v1.set_app_id after commit", |w| {
        let activation = w.bind("xdg_activation_v1", 1);
        let token = w.new_id();
        w.send(activation, 1, &[Arg::NewId(token)]);
        w.send(token, 3, &[]);
        w.send(token, 1, &[Arg::Str(Some("late"))]);
        Some((token, 0)) // xdg_activation_token_v1.already_used
    });
    stage.run("a buffer committed to an xdg_surface without a role", |w| {
        let (_, surface, xdg) = xdg_surface(w);
        let picture = buffer(w, 8, 8);
        w.send(
            surface,
            1,
            &[Arg::Object(picture), Arg::Int(0), Arg::Int(0)],
        );
        w.send(surface, 6, &[]);
        Some((xdg, 3)) // xdg_surface.unconfigured_buffer
    });
    stage.run("xdg_surface.ack_configure of a serial never sent", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        w.roundtrip();
        w.send(xdg, 4, &[Arg::Uint(0xdead_beef)]);
        Some((xdg, 4)) // xdg_surface.invalid_serial
    });
    stage.run("xdg_surface.set_window_geometry of zero size", |w| {
        let (_, xdg, _) = toplevel(w);
        w.send(
            xdg,
            3,
            &[Arg::Int(0), Arg::Int(0), Arg::Int(0), Arg::Int(0)],
        );
        Some((xdg, 5)) // xdg_surface.invalid_size
    });
    stage.run("wl_subsurface of a surface under itself", |w| {
        let (_, surface) = surface(w);
        let subcompositor = w.bind("wl_subcompositor", 1);
        let sub = w.new_id();
        let args = [Arg::NewId(sub), Arg::Object(surface), Arg::Object(surface)];
        w.send(subcompositor, 1, &args);
        Some((subcompositor, 1)) // wl_subcompositor.bad_parent
    });
    stage.run("zwp_linux_buffer_params_v1 with plane 1 alone", |w| {
        let dmabuf = w.bind("zwp_linux_dmabuf_v1", 3);
        let params = w.new_id();
        w.send(dmabuf, 1, &[Arg::NewId(params)]);
        let fd = memfd(4096);
        let add = [
            Arg::Fd(fd.as_fd()),
            Arg::Uint(1),
            Arg::Uint(0),
            Arg::Uint(64),
            Arg::Uint(0),
            Arg::Uint(0),
        ];
        w.send(params, 1, &add);
        let buffer = w.new_id();
        let create = [
            Arg::NewId(buffer),
            Arg::Int(16),
            Arg::Int(16),
            Arg::Uint(0x3432_5241), // ARGB8888
            Arg::Uint(0),
        ];
        w.send(params, 3, &create);
        Some((params, 3)) // zwp_linux_buffer_params_v1.incomplete
    });

    stage.run("a 63x63 buffer at scale 2", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        ack(w, xdg);
        let buffer = buffer(w, 63, 63);
        w.send(surface, 8, &[Arg::Int(2)]);
        w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(surface, 6, &[]);
        Some((surface, 2)) // wl_surface.invalid_size
    });
    stage.run(
        "xdg_wm_base.get_xdg_surface on a surface with a buffer",
        |w| {
            let (_, surface) = surface(w);
            let buffer = buffer(w, 16, 16);
            w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
            w.send(surface, 6, &[]);
            let wm_base = w.bind("xdg_wm_base", 6);
            let xdg = w.new_id();
            w.send(wm_base, 2, &[Arg::NewId(xdg), Arg::Object(surface)]);
            Some((wm_base, 4)) // xdg_wm_base.invalid_surface_state
        },
    );
    stage.run("a buffer committed before the first ack_configure", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        let buffer = buffer(w, 16, 16);
        w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(surface, 6, &[]);
        Some((xdg, 3)) // xdg_surface.unconfigured_buffer
    });
    stage.run("xdg_toplevel min size over its max size", |w| {
        let (surface, _, toplevel) = toplevel(w);
        w.send(toplevel, 7, &[Arg::Int(100), Arg::Int(100)]);
        w.send(toplevel, 8, &[Arg::Int(200), Arg::Int(50)]);
        w.send(surface, 6, &[]);
        Some((toplevel, 2)) // xdg_toplevel.invalid_size
    });
    stage.run("xdg_surface.get_popup with an incomplete positioner", |w| {
        let (_, xdg, _) = mapped(w, 16, 16);
        let (wm_base, _, popup_xdg) = xdg_surface(w);
        let positioner = w.new_id();
        w.send(wm_base, 1, &[Arg::NewId(positioner)]);
        // An anchor rectangle but no size.
        let anchor = [Arg::Int(0), Arg::Int(0), Arg::Int(4), Arg::Int(4)];
        w.send(positioner, 2, &anchor);
        let popup = w.new_id();
        let args = [Arg::NewId(popup), Arg::Object(xdg), Arg::Object(positioner)];
        w.send(popup_xdg, 2, &args);
        Some((wm_base, 5)) // xdg_wm_base.invalid_positioner
    });
    stage.run("a popup gets its first configure", |w| {
        let (_, xdg, _) = mapped(w, 16, 16);
        let (wm_base, popup_surface, popup_xdg) = xdg_surface(w);
        let positioner = w.new_id();
        w.send(wm_base, 1, &[Arg::NewId(positioner)]);
        w.send(positioner, 1, &[Arg::Int(10), Arg::Int(10)]);
        let anchor = [Arg::Int(0), Arg::Int(0), Arg::Int(4), Arg::Int(4)];
        w.send(positioner, 2, &anchor);
        let popup = w.new_id();
        let args = [Arg::NewId(popup), Arg::Object(xdg), Arg::Object(positioner)];
        w.send(popup_xdg, 2, &args);
        w.send(popup_surface, 6, &[]);
        w.roundtrip();
        let configured = w.events_of(popup).any(|e| e.opcode == 0)
            && w.events_of(popup_xdg).any(|e| e.opcode == 0);
        assert!(configured, "the popup got no configure");
        None
    });
    stage.run("a second wp_viewport for a surface", |w| {
        let (_, surface) = surface(w);
        let viewporter = w.bind("wp_viewporter", 1);
        for _ in 0..2 {
            let viewport = w.new_id();
            w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        }
        Some((viewporter, 0)) // wp_viewporter.viewport_exists
    });
    stage.run("wl_seat.get_touch without the capability", |w| {
        let seat = w.bind("wl_seat", 7);
        let touch = w.new_id();
        w.send(seat, 2, &[Arg::NewId(touch)]);
        Some((seat, 0)) // wl_seat.missing_capability
    });

    // Legal however extreme: no error, and nobody's frames stop.
    stage.run("a viewport destination near i32::MAX", |w| {
        let (surface, _, _) = mapped(w, 16, 16);
        let viewporter = w.bind("wp_viewporter", 1);
        let viewport = w.new_id();
        w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        w.send(viewport, 2, &[Arg::Int(i32::MAX), Arg::Int(i32::MAX)]);
        w.send(surface, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("a subsurface placed near i32::MAX", |w| {
        let (parent, _, _) = mapped(w, 16, 16);
        let (_, child) = surface(w);
        let subcompositor = w.bind("wl_subcompositor", 1);
        let sub = w.new_id();
        let args = [Arg::NewId(sub), Arg::Object(child), Arg::Object(parent)];
        w.send(subcompositor, 1, &args);
        w.send(sub, 1, &[Arg::Int(i32::MAX), Arg::Int(i32::MAX)]);
        let buffer = buffer(w, 16, 16);
        w.send(child, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(child, 6, &[]);
        w.send(parent, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("a window 20000 pixels wide through its viewport", |w| {
        let (surface, _, _) = mapped(w, 16, 16);
        let viewporter = w.bind("wp_viewporter", 1);
        let viewport = w.new_id();
        w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        w.send(viewport, 2, &[Arg::Int(20000), Arg::Int(100)]);
        w.send(surface, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("xdg_toplevel.set_min_size(-1, -1)", |w| {
        let (_, _, toplevel) = toplevel(w);
        w.send(toplevel, 8, &[Arg::Int(-1), Arg::Int(-1)]);
        Some((toplevel, 2)) // xdg_toplevel.invalid_size
    });
    stage.run("wp_cursor_shape_device_v1.set_shape(9999)", |w| {
        let device = cursor_shape_device(w, 2);
        w.send(device, 1, &[Arg::Uint(0), Arg::Uint(9999)]);
        Some((device, 1)) // wp_cursor_shape_device_v1.invalid_shape
    });
    stage.run(
        "wp_cursor_shape_device_v1.set_shape(dnd_ask) at version 1",
        |w| {
            let device = cursor_shape_device(w, 1);
            w.send(device, 1, &[Arg::Uint(0), Arg::Uint(35)]);
            Some((device, 1))
        },
    );
    stage.finish();
}

/// A `dmabridge_buffer_copy_v1` from a new `src_size` buffer to a new
/// `dst_size` one (ARGB8888, each in a pool of its own); (manager, copy).
fn buffer_copy(wire: &mut Wire, src_size: (i32, i32), dst_size: (i32, i32)) -> (u32, u32) {
    let src = buffer(wire, src_size.0, src_size.1);
    let dst = buffer(wire, dst_size.0, dst_size.1);
    let manager = wire.bind("dmabridge_buffer_copy_manager_v1", 1);
    let copy = wire.new_id();
    wire.send(
        manager,
        1,
        &[Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)],
    );
    (manager, copy)
}

/// `dmabridge_buffer_copy_v1` opcodes.
mod copy_op {
    pub(super) const SET_SOURCE: u16 = 1;
    pub(super) const SET_DESTINATION: u16 = 2;
    pub(super) const SET_TRANSFORM: u16 = 3;
    pub(super) const SET_FILTER: u16 = 4;
    pub(super) const SET_ACQUIRE: u16 = 5;
    pub(super) const SET_RELEASE: u16 = 6;
    pub(super) const SUBMIT: u16 = 7;
    /// Events.
    pub(super) const RELEASE: u16 = 0;
    pub(super) const DONE: u16 = 1;
    pub(super) const FAILED: u16 = 2;
}

/// Four ints as wl_fixed, the way `set_source` takes its rectangle.
fn fixed_rect(x: i32, y: i32, w: i32, h: i32) -> [Arg<'static>; 4] {
    [x, y, w, h].map(|v| Arg::Fixed(v * 256))
}

/// Four ints, the way `set_destination` takes its rectangle.
fn int_rect(x: i32, y: i32, w: i32, h: i32) -> [Arg<'static>; 4] {
    [x, y, w, h].map(Arg::Int)
}

/// Every protocol error dmabridge-buffer-copy-v1 names, raised on the
/// object it names; copies whose buffers go away fail without one; and a
/// client that keeps large copies queued costs the others no frame.
#[test]
fn buffer_copy_misuse_gets_the_spec_error_and_a_copy_flood_delays_no_one() {
    use copy_op::*;
    let mut stage = Stage::start();
    stage.run("buffer copy: one wl_buffer on both sides", |w| {
        let buffer = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(buffer), Arg::Object(buffer)];
        w.send(manager, 1, &args);
        Some((manager, 0)) // same_buffer
    });
    stage.run("buffer copy: an empty source rectangle", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(0, 0, 0, 4));
        Some((copy, 1)) // invalid_size
    });
    stage.run("buffer copy: a negative destination height", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_DESTINATION, &int_rect(0, 0, 4, -1));
        Some((copy, 1)) // invalid_size
    });
    stage.run("buffer copy: a source on half a pixel", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        let mut rect = fixed_rect(0, 0, 4, 4);
        rect[0] = Arg::Fixed(128);
        w.send(copy, SET_SOURCE, &rect);
        Some((copy, 3)) // fractional_source
    });
    stage.run("buffer copy: a source reaching past its buffer", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(4, 4, 8, 8));
        w.send(copy, SET_DESTINATION, &int_rect(0, 0, 8, 8));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 2)) // out_of_bounds
    });
    stage.run("buffer copy: a destination left of its buffer", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(0, 0, 4, 4));
        w.send(copy, SET_DESTINATION, &int_rect(-1, 0, 4, 4));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 2)) // out_of_bounds
    });
    stage.run("buffer copy: buffers of two sizes, no rectangles", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (16, 16));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 6)) // no_filter
    });
    stage.run("buffer copy: a turned copy that scales, no filter", |w| {
        let (_, copy) = buffer_copy(w, (8, 4), (8, 4));
        w.send(copy, SET_TRANSFORM, &[Arg::Int(1)]);
        w.send(copy, SUBMIT, &[]);
        Some((copy, 6)) // no_filter: 8×4 turned is 4×8
    });
    stage.run("buffer copy: transform 8", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_TRANSFORM, &[Arg::Int(8)]);
        Some((copy, 4)) // invalid_transform
    });
    stage.run("buffer copy: filter 2", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_FILTER, &[Arg::Uint(2)]);
        Some((copy, 5)) // invalid_filter
    });
    stage.run("buffer copy: an acquire fence that is a memfd", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        let fd = memfd(4096);
        w.send(copy, SET_ACQUIRE, &[Arg::Fd(fd.as_fd())]);
        Some((copy, 7)) // invalid_fence
    });
    stage.run("buffer copy: set_filter after submit", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, SET_FILTER, &[Arg::Uint(0)]);
        Some((copy, 0)) // already_submitted
    });
    stage.run("buffer copy: submit twice", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, SUBMIT, &[]);
        Some((copy, 0)) // already_submitted
    });
    stage.run("buffer copy: a source destroyed before submit", |w| {
        let src = buffer(w, 8, 8);
        let dst = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
        w.send(manager, 1, &args);
        w.send(src, 0, &[]);
        w.send(copy, SUBMIT, &[]);
        let failed = wait_for(w, copy, FAILED).expect("failed");
        assert_eq!(failed.word(0), 1, "buffer_gone");
        None
    });
    stage.run("buffer copy: a destination destroyed after submit", |w| {
        let src = buffer(w, 64, 64);
        let dst = buffer(w, 64, 64);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
        w.send(manager, 1, &args);
        w.send(copy, SUBMIT, &[]);
        w.send(dst, 0, &[]);
        // Whichever the compositor reached first: one answer, no error.
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.events_of(copy).count() == 0 && Instant::now() < deadline {
            w.roundtrip();
        }
        let answers: Vec<u16> = w.events_of(copy).map(|e| e.opcode).collect();
        assert!(
            answers == [DONE] || answers == [FAILED],
            "answers: {answers:?}"
        );
        None
    });
    stage.run("buffer copy: 65 copy objects", |w| {
        let src = buffer(w, 8, 8);
        let dst = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        for _ in 0..65 {
            let copy = w.new_id();
            let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
            w.send(manager, 1, &args);
        }
        Some((1, NO_MEMORY))
    });
    stage.run("buffer copy: set_release", |w| {
        let (_, copy) = buffer_copy(w, (64, 64), (64, 64));
        w.send(copy, SET_RELEASE, &[]);
        w.send(copy, SUBMIT, &[]);
        wait_for(w, copy, DONE).expect("done");
        // The release fence, where the device exports one, comes first.
        let events: Vec<u16> = w.events_of(copy).map(|e| e.opcode).collect();
        assert!(
            events == [DONE] || events == [RELEASE, DONE],
            "events: {events:?}"
        );
        None
    });
    stage.run("buffer copy: a copy object destroyed after submit", |w| {
        let (_, copy) = buffer_copy(w, (64, 64), (64, 64));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, 0, &[]);
        w.roundtrip();
        None
    });

    // Sixteen 1024×1024 copies, turned and filtered, queued all along.
    let (mut flooder, lines) = stage.session.spawn_client(&["--copy-flood", "3"]);
    lines.expect("flooding", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(60);
    let flooded = loop {
        stage.assert_observer_drew("a flood of buffer copies");
        if let Some(line) = lines.drain().into_iter().find(|l| l.starts_with("flooded")) {
            break line;
        }
        assert!(Instant::now() < deadline, "the flood did not end");
    };
    assert!(flooder.wait().unwrap().success(), "the flooder failed");
    let copies: u64 = flooded["flooded ".len()..].parse().unwrap();
    assert!(copies > 16, "only {copies} copies were done");
    stage.finish();
}

/// Windows of any size the protocol allows are drawn, and cost the
/// others no frame: buffers larger than the device's storage-buffer range
/// go through in bands.
#[test]
fn oversized_windows_do_not_stall_the_others() {
    // Each window stays until a frame of it was drawn: its first upload
    // happens while the observer is watched.
    let until_drawn = |w: &mut Wire, surface: u32, name: &str| {
        let callback = w.new_id();
        w.send(surface, 3, &[Arg::NewId(callback)]);
        w.send(surface, 6, &[]);
        assert!(wait_for(w, callback, 0).is_some(), "{name}: never drawn");
    };
    let mut stage = Stage::start();
    let name = "a 3840x2160 wl_shm window";
    stage.run(name, |w| {
        let (surface, ..) = mapped(w, 3840, 2160);
        until_drawn(w, surface, name);
        None
    });
    // A pool sealed against shrinking is read in place: one transfer of
    // the first buffer on the device and no copy on the event loop; the
    // others' frames still wait for that transfer (FIRST_UPLOAD_GAP).
    stage.max_gap = FIRST_UPLOAD_GAP;
    for (width, height) in [(6000, 6000), (7680, 4320)] {
        let name = format!("a {width}x{height} wl_shm window, sealed pool");
        stage.run(&name, |w| {
            let fd = sealed_memfd((width * height * 4) as u64);
            let (surface, ..) = mapped_from(w, fd.as_fd(), width, height);
            until_drawn(w, surface, &name);
            None
        });
    }
    for (width, height) in [(6000, 6000), (7680, 4320)] {
        let name = format!("a {width}x{height} wl_shm window");
        stage.run(&name, |w| {
            let (surface, ..) = mapped(w, width, height);
            until_drawn(w, surface, &name);
            None
        });
    }
    stage.finish();
}

/// `wl_shm.error.invalid_fd`.
const SHM_INVALID_FD: u32 = 2;

/// A client truncates the file of the pool its window shows, then commits
/// the window again. An unsealed pool is read by the CPU under smithay's
/// SIGBUS guard, which turns the fault into `invalid_fd` on the buffer for
/// that client alone. A pool sealed against shrinking, which the device
/// reads in place, cannot be truncated (the kernel refuses), and the
/// window keeps being drawn. The compositor survives both, and nobody else
/// notices.
#[test]
fn a_client_truncating_its_pool_harms_no_one() {
    let mut stage = Stage::start();
    for sealed in [false, true] {
        let name = if sealed {
            "truncating a sealed pool under a window"
        } else {
            "truncating an unsealed pool under a window"
        };
        stage.run(name, |w| {
            let (surface, xdg, _) = toplevel(w);
            w.send(surface, 6, &[]);
            ack(w, xdg);
            let (width, height) = (64, 64);
            let size = width * height * 4;
            let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
            let fd = memfd_create("hostile", flags).unwrap();
            rustix::fs::ftruncate(&fd, size as u64).unwrap();
            if sealed {
                rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
            }
            let (_, pool) = pool_in(w, fd.as_fd(), size);
            let buffer = w.new_id();
            let format_argb = 0;
            let args = [
                Arg::NewId(buffer),
                Arg::Int(0),
                Arg::Int(width),
                Arg::Int(height),
                Arg::Int(width * 4),
                Arg::Uint(format_argb),
            ];
            w.send(pool, 0, &args);
            // Attach, damage, a frame callback, commit: until it was drawn.
            let commit = |w: &mut Wire| {
                w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
                let whole = [Arg::Int(0), Arg::Int(0), Arg::Int(width), Arg::Int(height)];
                w.send(surface, 9, &whole);
                let callback = w.new_id();
                w.send(surface, 3, &[Arg::NewId(callback)]);
                w.send(surface, 6, &[]);
                callback
            };
            let drawn = commit(w);
            assert!(wait_for(w, drawn, 0).is_some(), "{name}: the first frame");
            let truncated = rustix::fs::ftruncate(&fd, 0);
            assert_eq!(truncated.is_err(), sealed, "{name}: {truncated:?}");
            let again = commit(w);
            let deadline = Instant::now() + Duration::from_secs(10);
            while w.error().is_none() && w.events_of(again).next().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{name}: neither drawn nor refused"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            (!sealed).then_some((buffer, SHM_INVALID_FD))
        });
    }
    stage.finish();
}

/// The process's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Asserts that the compositor `pid` holds about the `before` file
/// descriptors it held before a client that is now gone.
fn assert_fds_back(pid: u32, before: usize) {
    std::thread::sleep(Duration::from_millis(200));
    let after = open_fds(pid);
    assert!(
        after <= before + 4,
        "the compositor holds {after} fds, {before} before the client"
    );
}

/// The process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A client that attaches file descriptors to requests that take none is
/// disconnected before it can exhaust the compositor's, and what it held
/// is given back.
#[test]
fn a_flood_of_stray_fds_disconnects_only_the_flooder() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);
    stage.run("wl_display.sync with 28 fds, over and over", |w| {
        let fds: Vec<OwnedFd> = (0..28).map(|_| memfd(4096)).collect();
        let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        for _ in 0..200 {
            let callback = w.new_id();
            let (bytes, _) = wire::encode(1, 0, &[Arg::NewId(callback)]);
            w.send_raw(&bytes, &borrowed);
        }
        Some((1, IMPLEMENTATION))
    });
    stage.finish();
    // The flooder is gone: its descriptors and memory with it.
    assert_fds_back(pid, fds_before);
    let rss_after = rss_kib(pid);
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "the compositor's RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// A client that holds more pools, surfaces or captures than any client
/// needs is disconnected with `no_memory`, and what it held is given back.
#[test]
fn clients_holding_too_much_are_disconnected() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    let fds_before = open_fds(pid);
    stage.run("wl_shm.create_pool, 1000 times", |w| {
        let shm = w.bind("wl_shm", 1);
        let fd = memfd(4096);
        for _ in 0..1000 {
            let pool = w.new_id();
            let args = [Arg::NewId(pool), Arg::Fd(fd.as_fd()), Arg::Int(4096)];
            w.send(shm, 0, &args);
        }
        Some((1, NO_MEMORY))
    });
    assert_fds_back(pid, fds_before);
    // Pools are mapped but never touched here, so they cost address space
    // only; the cap is on what they could make the renderer copy.
    stage.run("wl_shm pools of 1.5 GiB and 768 MiB", |w| {
        pool(w, 3 << 29);
        pool(w, 3 << 28);
        Some((1, NO_MEMORY))
    });
    stage.run("wl_shm_pool.resize past 2 GiB in all", |w| {
        pool(w, 3 << 29);
        let (_, small) = pool(w, 1 << 28);
        w.send(small, 2, &[Arg::Int(3 << 28)]);
        Some((1, NO_MEMORY))
    });
    stage.run(
        "wl_shm pools of 2 GiB in all, made and destroyed twice",
        |w| {
            for _ in 0..2 {
                let (_, big) = pool(w, 3 << 29);
                let (_, small) = pool(w, 1 << 28);
                w.send(small, 2, &[Arg::Int(1 << 29)]);
                w.send(big, 1, &[]);
                w.send(small, 1, &[]);
            }
            None
        },
    );
    assert_fds_back(pid, fds_before);
    stage.run("100000 wl_display.sync in a row", |w| {
        // Legal one by one; the flood must not hold the loop.
        for _ in 0..100_000 {
            let id = w.new_id();
            w.send(1, 0, &[Arg::NewId(id)]);
        }
        None
    });
    stage.run("200000 wl_surface.set_buffer_scale in one write", |w| {
        // Requests without replies, written faster than any server
        // dispatches them: the loop must still give the others their turn.
        let compositor = w.bind("wl_compositor", 6);
        let surface = w.new_id();
        w.send(compositor, 0, &[Arg::NewId(surface)]);
        let (one, _) = wire::encode(surface, 8, &[Arg::Int(1)]);
        w.send_raw(&one.repeat(200_000), &[]);
        None
    });
    stage.run("wl_compositor.create_surface, 1100 times", |w| {
        let compositor = w.bind("wl_compositor", 6);
        for _ in 0..1100 {
            let surface = w.new_id();
            w.send(compositor, 0, &[Arg::NewId(surface)]);
        }
        Some((1, NO_MEMORY))
    });
    stage.run(
        "zwlr_screencopy_manager_v1.capture_output, 100 times",
        |w| {
            let output = w.bind("wl_output", 4);
            let screencopy = w.bind("zwlr_screencopy_manager_v1", 3);
            for _ in 0..100 {
                let frame = w.new_id();
                let args = [Arg::NewId(frame), Arg::Int(0), Arg::Object(output)];
                w.send(screencopy, 0, &args);
            }
            Some((1, NO_MEMORY))
        },
    );
    stage.run(
        "as many surfaces as a client may hold, made and destroyed twice",
        |w| {
            // What is destroyed no longer counts.
            let compositor = w.bind("wl_compositor", 6);
            for _ in 0..2 {
                let surfaces: Vec<u32> = (0..1024).map(|_| w.new_id()).collect();
                for &surface in &surfaces {
                    w.send(compositor, 0, &[Arg::NewId(surface)]);
                }
                for &surface in &surfaces {
                    w.send(surface, 0, &[]);
                }
            }
            None
        },
    );
    stage.finish();
}

/// With no file descriptor left to accept a client with, the compositor
/// neither spins nor stops: it turns connections away while it must, and
/// accepts them again once descriptors are free.
#[test]
fn running_out_of_fds_turns_clients_away_without_spinning() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    // Lower the compositor's limit to just above what it holds now and
    // keeps in reserve, so that a few clients use up what is left.
    let open = open_fds(pid) as u64;
    let limit = rustix::process::Rlimit {
        current: Some(open + 64 + 8),
        maximum: Some(open + 64 + 8),
    };
    rustix::process::prlimit(
        Some(rustix::process::Pid::from_raw(pid as i32).unwrap()),
        rustix::process::Resource::Nofile,
        limit,
    )
    .expect("prlimit on the compositor");
    let mut held: Vec<Wire> = Vec::new();
    for _ in 0..16 {
        let mut wire = stage.connect();
        wire.roundtrip();
        held.push(wire);
    }
    let turned_away = held.iter().filter(|w| w.is_closed()).count();
    assert!(
        turned_away > 0,
        "every client was accepted: the limit did not bite"
    );
    // While turning clients away, the compositor does not spin: it uses
    // well under a core.
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu(pid) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    let share = ticks as f64 / ticks_per_second as f64 / start.elapsed().as_secs_f64();
    assert!(
        share < 0.6,
        "the compositor used {share:.2} of a core while out of fds"
    );
    stage.assert_observer_drew("out of fds");
    // Clients leave: new ones are accepted again.
    held.clear();
    std::thread::sleep(Duration::from_millis(300));
    let mut newcomer = stage.connect();
    newcomer.roundtrip();
    assert!(
        !newcomer.is_closed(),
        "no client accepted after fds were freed"
    );
    assert!(stage.session.is_running());
}

/// Random requests, well-formed on the wire, to every global the
/// compositor advertises and every object made from them: each client
/// sends up to [`REQUESTS_PER_CLIENT`] of them, drawn from each request's
/// signature with values chosen to hurt (0, -1, `i32::MAX`, NULL strings,
/// objects of the wrong interface, ids never made, memfds), until the
/// compositor ends it with an error or it runs out. The compositor must
/// survive every client, and the observer keep its frames.
///
/// `DMABRIDGE_FUZZ_CLIENTS` (default 40) and `DMABRIDGE_FUZZ_SEED` (default
/// a fixed one, so that CI is repeatable) set the run; a failing seed and
/// client are printed to replay it.
#[test]
fn random_requests_to_every_global_harm_no_one() {
    let clients: u64 = env_number("DMABRIDGE_FUZZ_CLIENTS", 40);
    let seed: u64 = env_number("DMABRIDGE_FUZZ_SEED", 0x5eed_d15a_b1e5);
    let mut stage = Stage::start();
    // The errors the clients got, by (interface, code), as a summary.
    let mut errors = std::collections::BTreeMap::<String, u32>::new();
    for client in 0..clients {
        let mut rng = Rng(seed ^ client.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let name = format!("fuzz client {client} of seed {seed:#x}");
        let mut outcome = None;
        stage.max_gap = FIRST_UPLOAD_GAP;
        stage.run_any(&name, |w| {
            outcome = fuzz_client(w, &mut rng);
        });
        if let Some(error) = outcome {
            *errors.entry(error).or_default() += 1;
        }
    }
    // The summary for a long run (shown with --nocapture).
    let summary = format!("{clients} clients, errors they got: {errors:?}\n");
    std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes()).unwrap();
    stage.finish();
}

/// How many requests one fuzzing client sends at most.
const REQUESTS_PER_CLIENT: usize = 40;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            v.strip_prefix("0x")
                .map_or(v.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
        })
        .unwrap_or(default)
}

/// xorshift64*: small, seeded, and good enough to pick requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn int(&mut self) -> i32 {
        const HURT: [i32; 10] = [
            0,
            1,
            -1,
            2,
            64,
            4096,
            i32::MAX,
            i32::MIN,
            i32::MAX - 1,
            16384,
        ];
        match self.below(3) {
            0 => HURT[self.below(HURT.len())],
            1 => self.below(512) as i32,
            _ => self.next() as i32,
        }
    }
}

/// The server-side description of every global's interface, by name.
fn interfaces() -> Vec<&'static Interface> {
    use smithay::reexports::wayland_protocols::ext::foreign_toplevel_list::v1::server::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;
    use smithay::reexports::wayland_protocols::ext::image_capture_source::v1::server::{
        ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
        ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
    };
    use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1;
    use smithay::reexports::wayland_protocols::wp::cursor_shape::v1::server::wp_cursor_shape_manager_v1::WpCursorShapeManagerV1;
    use smithay::reexports::wayland_protocols::wp::linux_dmabuf::zv1::server::zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1;
    use smithay::reexports::wayland_protocols::wp::linux_drm_syncobj::v1::server::wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1;
    use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation::WpPresentation;
    use smithay::reexports::wayland_protocols::wp::single_pixel_buffer::v1::server::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1;
    use smithay::reexports::wayland_protocols::wp::viewporter::server::wp_viewporter::WpViewporter;
    use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_decoration_manager_v1::ZxdgDecorationManagerV1;
    use smithay::reexports::wayland_protocols::xdg::activation::v1::server::xdg_activation_v1::XdgActivationV1;
    use smithay::reexports::wayland_protocols::wp::relative_pointer::zv1::server::zwp_relative_pointer_manager_v1::ZwpRelativePointerManagerV1;
    use smithay::reexports::wayland_protocols::wp::pointer_constraints::zv1::server::zwp_pointer_constraints_v1::ZwpPointerConstraintsV1;
    use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
    use smithay::reexports::wayland_protocols::xdg::xdg_output::zv1::server::zxdg_output_manager_v1::ZxdgOutputManagerV1;
    use smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1;
    use smithay::reexports::wayland_server::protocol::{
        wl_compositor::WlCompositor, wl_data_device_manager::WlDataDeviceManager,
        wl_output::WlOutput, wl_seat::WlSeat, wl_shm::WlShm, wl_subcompositor::WlSubcompositor,
    };
    use smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::zwp_primary_selection_device_manager_v1::ZwpPrimarySelectionDeviceManagerV1;
    use dmabridge::protocols::buffer_copy::server::dmabridge_buffer_copy_manager_v1::DmabridgeBufferCopyManagerV1;
    use smithay::reexports::wayland_server::Resource;
    vec![
        WlCompositor::interface(),
        WlSubcompositor::interface(),
        WlShm::interface(),
        WlOutput::interface(),
        WlSeat::interface(),
        WlDataDeviceManager::interface(),
        ZwpPrimarySelectionDeviceManagerV1::interface(),
        XdgWmBase::interface(),
        ZxdgOutputManagerV1::interface(),
        ZwpLinuxDmabufV1::interface(),
        WpLinuxDrmSyncobjManagerV1::interface(),
        WpPresentation::interface(),
        WpViewporter::interface(),
        WpSinglePixelBufferManagerV1::interface(),
        ZxdgDecorationManagerV1::interface(),
        XdgActivationV1::interface(),
        ZwpRelativePointerManagerV1::interface(),
        ZwpPointerConstraintsV1::interface(),
        ExtForeignToplevelListV1::interface(),
        ExtOutputImageCaptureSourceManagerV1::interface(),
        ExtForeignToplevelImageCaptureSourceManagerV1::interface(),
        ExtImageCopyCaptureManagerV1::interface(),
        ZwlrScreencopyManagerV1::interface(),
        WpCursorShapeManagerV1::interface(),
        DmabridgeBufferCopyManagerV1::interface(),
    ]
}

/// One fuzzing client's run: binds every global, then sends random
/// requests. Returns the error it got, as `interface.code`, if any.
fn fuzz_client(w: &mut Wire, rng: &mut Rng) -> Option<String> {
    let known = interfaces();
    let mut objects: Vec<(u32, &'static Interface, u32)> = Vec::new();
    let globals = w.globals.clone();
    for global in &globals {
        let interface = known
            .iter()
            .find(|i| i.name == global.interface)
            .unwrap_or_else(|| panic!("{} is advertised but not fuzzed", global.interface));
        let version = global.version.min(interface.version);
        objects.push((w.bind(&global.interface, version), interface, version));
    }
    let memfd = memfd(65536);
    let mut strings = Vec::new();
    for _ in 0..REQUESTS_PER_CLIENT {
        let (id, interface, version) = objects[rng.below(objects.len())];
        let requests: Vec<(u16, &MessageDesc)> = interface
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.since <= version && (r.child_interface.is_some() || !has_new_id(r)))
            // Mostly requests whose object arguments exist, so that the
            // client lives long enough to reach deeper states.
            .filter(|(_, r)| satisfiable(r, &objects) || rng.below(16) == 0)
            .map(|(i, r)| (i as u16, r))
            .collect();
        if requests.is_empty() {
            continue;
        }
        let (opcode, request) = requests[rng.below(requests.len())];
        strings.clear();
        for _ in request.signature {
            strings.push("x".repeat(rng.below(3) * rng.below(40)));
        }
        let mut args = Vec::new();
        let mut made = None;
        let mut object_args = 0;
        for (n, kind) in request.signature.iter().enumerate() {
            args.push(match kind {
                ArgumentType::Int => Arg::Int(rng.int()),
                ArgumentType::Uint => Arg::Uint(rng.int() as u32),
                ArgumentType::Fixed => Arg::Fixed(rng.int()),
                ArgumentType::Str(_) if rng.below(8) == 0 => Arg::Str(None),
                ArgumentType::Str(_) => Arg::Str(Some(&strings[n])),
                ArgumentType::Array => Arg::Array(&[7; 16][..rng.below(17)]),
                ArgumentType::Fd => Arg::Fd(memfd.as_fd()),
                ArgumentType::Object(_) => {
                    // Mostly an object of the interface the request wants,
                    // so that requests get past the type check.
                    let wanted = request.arg_interfaces.get(object_args).map(|i| i.name);
                    object_args += 1;
                    let fitting: Vec<u32> = objects
                        .iter()
                        .filter(|(_, i, _)| Some(i.name) == wanted)
                        .map(|(o, _, _)| *o)
                        .collect();
                    Arg::Object(match rng.below(32) {
                        0 => 0,
                        1 => 9999,
                        2 | 3 => objects[rng.below(objects.len())].0,
                        _ if fitting.is_empty() => objects[rng.below(objects.len())].0,
                        _ => fitting[rng.below(fitting.len())],
                    })
                }
                ArgumentType::NewId => {
                    let id = w.new_id();
                    made = request.child_interface.map(|i| (id, i, version));
                    Arg::NewId(id)
                }
            });
        }
        w.send(id, opcode, &args);
        if request.is_destructor {
            objects.retain(|(o, _, _)| *o != id);
        }
        objects.extend(made);
        if rng.below(8) == 0 {
            w.roundtrip();
            if w.is_closed() {
                break;
            }
        }
    }
    let error = w.error()?;
    let interface = match objects.iter().find(|(o, _, _)| *o == error.object) {
        _ if error.object == 1 => "wl_display",
        Some((_, interface, _)) => interface.name,
        None => "a destroyed object",
    };
    Some(format!("{interface}.{}", error.code))
}

/// Whether an object of each interface `request` takes exists.
fn satisfiable(request: &MessageDesc, objects: &[(u32, &'static Interface, u32)]) -> bool {
    request
        .arg_interfaces
        .iter()
        .all(|wanted| objects.iter().any(|(_, i, _)| i.name == wanted.name))
}

/// Whether `request` makes an object of an interface it does not name
/// (`wl_registry.bind`): those the fuzzer cannot follow.
fn has_new_id(request: &MessageDesc) -> bool {
    request
        .signature
        .iter()
        .any(|a| matches!(a, ArgumentType::NewId))
}
