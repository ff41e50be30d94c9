//! Screen capture as its clients see it: ext-image-copy-capture-v1 (over
//! ext-image-capture-source-v1 and ext-foreign-toplevel-list-v1) and
//! wlr-screencopy-unstable-v1 version 3, spoken by wayland-client
//! connections in this process to a real `dmabridge run` on a headless
//! output of 320×240.
//!
//! What the specs require, case by case:
//!
//! * every request they forbid gets the error they name, on the object
//!   they name, and costs no other client a frame or a capture;
//! * a buffer that misses the announced constraints fails its frame
//!   (`buffer_constraints`, wlr's `failed`) and is no protocol error;
//! * a session announces the output's size and its `wl_shm` formats; its
//!   first frame is whole, upright, stamped on `CLOCK_MONOTONIC`, and holds
//!   the output's pixels;
//! * an ext frame after the first may wait for damage, and on an idle
//!   output does, while wlr's `copy` copies at once;
//! * a toplevel source captures its window at the window's size, and stops
//!   once the window is closed;
//! * clients that abandon their captures halfway (a buffer destroyed, a
//!   connection hung up) leave the compositor running and a drawing client
//!   drawing.

#[path = "support/capture_client.rs"]
mod capture_client;
#[path = "support/compositor.rs"]
mod support;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::Child;
use std::time::{Duration, Instant};

use wayland_client::backend::ObjectId;
use wayland_client::protocol::{wl_output, wl_shm};
use wayland_client::{Proxy, WEnum};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_cursor_session_v1 as cursor, ext_image_copy_capture_frame_v1 as frame,
    ext_image_copy_capture_manager_v1 as manager, ext_image_copy_capture_session_v1 as session,
    ext_image_copy_capture_session_v1::ExtImageCopyCaptureSessionV1,
};
use wayland_protocols_wlr::screencopy::v1::client::zwlr_screencopy_frame_v1 as wlr_frame;

use capture_client::{Announced, Client, Constraint, Recorder, ShmBuffer, TIMEOUT, monotonic_now};
use support::{CLEAR, Lines, Session as Compositor};

/// The output's size, as `--size` takes it.
const OUTPUT: (u32, u32) = (320, 240);
/// The output's size, as buffers take it.
const W: i32 = OUTPUT.0 as i32;
const H: i32 = OUTPUT.1 as i32;

/// How long an ext frame on an idle output is watched for not completing.
const HELD: Duration = Duration::from_secs(1);

/// Rendering is exact but the background is 0.1 × 255 = 25.5, rounded
/// either way.
const TOLERANCE: u8 = 1;

/// `dmabridge-client`'s colour argument for opaque blue (0xAARRGGBB), and
/// that colour as XRGB8888 stores it, [B, G, R].
const BLUE_ARG: &str = "ff0000ff";
const BLUE: [u8; 3] = [255, 0, 0];

/// The background as XRGB8888 stores it, [B, G, R].
const BACKGROUND: [u8; 3] = [CLEAR[2], CLEAR[1], CLEAR[0]];

// ---------------------------------------------------------------------------
// Protocol errors

/// A request the spec forbids, and the error it names for it.
struct Misuse {
    name: &'static str,
    /// Sends the forbidden request; returns the object the error must be
    /// raised on.
    send: fn(&mut Client) -> ObjectId,
    interface: &'static str,
    code: u32,
}

#[test]
fn forbidden_capture_requests_are_the_errors_the_specs_name_and_others_keep_their_frames() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut others = Bystanders::start(&compositor);
    let misuses = [
        Misuse {
            name: "create_session with an unknown option bit",
            send: |c| {
                let source = c.output_source();
                let bad = manager::Options::from_bits_retain(2);
                let _session = c.ext.create_session(&source, bad, &c.qh, ());
                c.ext.id()
            },
            interface: "ext_image_copy_capture_manager_v1",
            code: manager::Error::InvalidOption as u32,
        },
        Misuse {
            name: "create_frame while the session's frame still exists",
            send: |c| {
                let session = c.output_session();
                let _first = session.create_frame(&c.qh, ());
                let _second = session.create_frame(&c.qh, ());
                session.id()
            },
            interface: "ext_image_copy_capture_session_v1",
            code: session::Error::DuplicateFrame as u32,
        },
        Misuse {
            name: "capture without attach_buffer",
            send: |c| {
                let session = c.output_session();
                let frame = session.create_frame(&c.qh, ());
                frame.capture();
                frame.id()
            },
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::NoBuffer as u32,
        },
        Misuse {
            name: "damage_buffer at a negative x",
            send: |c| c.damage_output_frame([-1, 0, 10, 10]),
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::InvalidBufferDamage as u32,
        },
        Misuse {
            name: "damage_buffer at a negative y",
            send: |c| c.damage_output_frame([0, -1, 10, 10]),
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::InvalidBufferDamage as u32,
        },
        Misuse {
            name: "damage_buffer of zero width",
            send: |c| c.damage_output_frame([0, 0, 0, 10]),
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::InvalidBufferDamage as u32,
        },
        Misuse {
            name: "damage_buffer of a negative height",
            send: |c| c.damage_output_frame([0, 0, 10, -1]),
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::InvalidBufferDamage as u32,
        },
        Misuse {
            name: "capture sent twice",
            send: |c| {
                let frame = c.captured_output_frame();
                frame.capture();
                frame.id()
            },
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::AlreadyCaptured as u32,
        },
        Misuse {
            name: "attach_buffer after capture",
            send: |c| {
                let frame = c.captured_output_frame();
                let buffer = c.output_buffer();
                frame.attach_buffer(&buffer.buffer);
                frame.id()
            },
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::AlreadyCaptured as u32,
        },
        Misuse {
            name: "damage_buffer after capture",
            send: |c| {
                let frame = c.captured_output_frame();
                frame.damage_buffer(0, 0, W, H);
                frame.id()
            },
            interface: "ext_image_copy_capture_frame_v1",
            code: frame::Error::AlreadyCaptured as u32,
        },
        Misuse {
            name: "get_capture_session sent twice on a cursor session",
            send: |c| {
                let (_pointer, cursor) = c.cursor_session();
                let _first = cursor.get_capture_session(&c.qh, ());
                let _second = cursor.get_capture_session(&c.qh, ());
                cursor.id()
            },
            interface: "ext_image_copy_capture_cursor_session_v1",
            code: cursor::Error::DuplicateSession as u32,
        },
        Misuse {
            name: "wlr copy sent twice on one frame",
            send: |c| {
                let frame = c.wlr_frame(None);
                let buffer = c.output_buffer();
                frame.copy(&buffer.buffer);
                frame.copy(&buffer.buffer);
                frame.id()
            },
            interface: "zwlr_screencopy_frame_v1",
            code: wlr_frame::Error::AlreadyUsed as u32,
        },
    ];
    let failures: Vec<String> = misuses
        .iter()
        .filter_map(|misuse| {
            check(misuse.name, || {
                let mut client = connect(&compositor);
                let culprit = (misuse.send)(&mut client);
                let error = client.expect_protocol_error();
                assert_eq!(
                    (error.object_interface.as_str(), error.code),
                    (misuse.interface, misuse.code),
                    "{error:?}"
                );
                assert_eq!(
                    error.object_id,
                    culprit.protocol_id(),
                    "raised on another object: {error:?}"
                );
                others.assert_served(&mut compositor);
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        misuses.len(),
        failures.join("\n")
    );
    others.stop();
}

// ---------------------------------------------------------------------------
// Buffers that miss the constraints

/// Which protocol a buffer is handed to.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    Ext,
    Wlr,
}

#[test]
fn a_buffer_that_misses_the_constraints_fails_its_frame_and_is_no_protocol_error() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    // (case, protocol, width, height, stride), all XRGB8888, the format
    // both announce first. wl_shm itself refuses a stride under a row and
    // formats other than ARGB8888 and XRGB8888 here, so size and stride
    // are what a client can get wrong.
    let cases = [
        (
            "an ext buffer one pixel too wide",
            Protocol::Ext,
            W + 1,
            H,
            (W + 1) * 4,
        ),
        (
            "an ext buffer one pixel too short",
            Protocol::Ext,
            W,
            H - 1,
            W * 4,
        ),
        (
            "an ext buffer one pixel too tall",
            Protocol::Ext,
            W,
            H + 1,
            W * 4,
        ),
        (
            "a wlr buffer with a stride a pixel longer than announced",
            Protocol::Wlr,
            W,
            H,
            (W + 1) * 4,
        ),
        (
            "a wlr buffer one pixel too wide",
            Protocol::Wlr,
            W + 1,
            H,
            (W + 1) * 4,
        ),
        (
            "a wlr buffer one pixel too short",
            Protocol::Wlr,
            W,
            H - 1,
            W * 4,
        ),
    ];
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|&(name, protocol, width, height, stride)| {
            check(name, || {
                let mut client = connect(&compositor);
                let bad = client.shm_buffer(width, height, stride, wl_shm::Format::Xrgb8888);
                let good = client.output_buffer();
                match protocol {
                    Protocol::Ext => {
                        let session = client.output_session();
                        let frame = client.ext_capture(&session, &bad);
                        let got = client.ext_end(&frame, TIMEOUT);
                        assert_eq!(
                            got.failed,
                            Some(WEnum::Value(frame::FailureReason::BufferConstraints)),
                            "{got:?}"
                        );
                        assert!(!got.ready, "{got:?}");
                        // As the spec suggests: the client reallocates and
                        // retries, on the same session.
                        frame.destroy();
                        let frame = client.ext_capture(&session, &good);
                        let got = client.ext_end(&frame, TIMEOUT);
                        assert!(got.ready, "the retry with a good buffer: {got:?}");
                    }
                    Protocol::Wlr => {
                        let frame = client.wlr_frame(None);
                        frame.copy(&bad.buffer);
                        let got = client.wlr_end(&frame, TIMEOUT);
                        assert!(got.failed && got.ready.is_none(), "{got:?}");
                        frame.destroy();
                        let frame = client.wlr_frame(None);
                        frame.copy(&good.buffer);
                        let got = client.wlr_end(&frame, TIMEOUT);
                        assert!(got.ready.is_some(), "the retry with a good buffer: {got:?}");
                    }
                }
                // No protocol error: the connection still works.
                client.roundtrip();
                assert!(compositor.is_running(), "the compositor died");
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// ext-image-copy-capture: a good capture, and waiting for damage

#[test]
fn the_first_ext_frame_of_the_output_is_whole_upright_monotonic_and_shows_the_background() {
    let started = monotonic_now();
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let offered = client.offered();
    for (interface, version) in [
        ("ext_image_copy_capture_manager_v1", 1),
        ("ext_output_image_capture_source_manager_v1", 1),
        ("ext_foreign_toplevel_image_capture_source_manager_v1", 1),
        ("ext_foreign_toplevel_list_v1", 1),
        ("zwlr_screencopy_manager_v1", 3),
    ] {
        assert!(
            offered.contains(&(interface.to_owned(), version)),
            "{interface} v{version} is not offered: {offered:?}"
        );
    }

    let session = client.output_session();
    assert_eq!(
        client.state.announced(&session),
        Announced {
            constraints: vec![
                Constraint::Size(OUTPUT.0, OUTPUT.1),
                Constraint::Shm(WEnum::Value(wl_shm::Format::Xrgb8888)),
                Constraint::Shm(WEnum::Value(wl_shm::Format::Argb8888)),
                Constraint::Shm(WEnum::Value(wl_shm::Format::Xbgr8888)),
                Constraint::Shm(WEnum::Value(wl_shm::Format::Abgr8888)),
                Constraint::Done,
            ],
            stopped: false,
        }
    );
    let buffer = client.output_buffer();
    let frame = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    let now = monotonic_now();

    assert!(got.ready, "{got:?}");
    assert_eq!(
        got.events.last(),
        Some(&"ready"),
        "ready comes last: {got:?}"
    );
    assert_eq!(
        got.transforms,
        [WEnum::Value(wl_output::Transform::Normal)],
        "{got:?}"
    );
    assert_eq!(
        got.damage,
        [[0, 0, W, H]],
        "the first frame is whole: {got:?}"
    );
    // CLOCK_MONOTONIC: after the compositor started, before the frame was
    // read. Wall-clock time (decades) or a clock of the compositor's own
    // (seconds since it started) would fall outside.
    let presented = got.presented.expect("a presentation_time");
    assert!(
        started <= presented && presented <= now,
        "presented at {presented:?}, not between {started:?} and {now:?} on CLOCK_MONOTONIC"
    );
    let unlike = buffer.count_unlike((0, 0, W, H), BACKGROUND, TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels are not the background");
    assert!(compositor.is_running());
}

#[test]
fn an_idle_output_holds_an_ext_frame_until_damage_but_a_wlr_copy_goes_at_once() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let session = client.output_session();
    let buffer = client.output_buffer();
    let first = client.ext_capture(&session, &buffer);
    assert!(client.ext_end(&first, TIMEOUT).ready);
    first.destroy();

    // Nothing changes on the output: the next frame waits, as the spec
    // allows for every frame but a session's first.
    let held = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&held, HELD);
    assert!(
        !got.ended(),
        "an ext frame on an idle output completed: {got:?}"
    );

    // wlr's copy does not wait for damage: it completes while the ext
    // frame, with still no damage, goes on waiting.
    let wlr = client.wlr_frame(None);
    let wlr_buffer = client.output_buffer();
    wlr.copy(&wlr_buffer.buffer);
    let copied = client.wlr_end(&wlr, TIMEOUT);
    assert!(copied.ready.is_some(), "{copied:?}");
    client.roundtrip();
    let got = client.state.ext_frame(&held);
    assert!(
        !got.ended(),
        "the ext frame completed without damage: {got:?}"
    );

    // A window appears: the held frame completes, with damage inside the
    // buffer, and the window shows in the frames that follow.
    let (mut drawing, _frames) =
        compositor.spawn_client(&["--size", "32x32", "--frames", "0", "--color", BLUE_ARG]);
    let got = client.ext_end(&held, TIMEOUT);
    assert!(
        got.ready,
        "the held frame did not complete on damage: {got:?}"
    );
    assert!(!got.damage.is_empty(), "{got:?}");
    for &[x, y, w, h] in &got.damage {
        assert!(
            x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= W && y + h <= H,
            "damage {x},{y} {w}×{h} is not inside the buffer: {got:?}"
        );
    }
    held.destroy();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let frame = client.ext_capture(&session, &buffer);
        let got = client.ext_end(&frame, TIMEOUT);
        assert!(got.ready, "{got:?}");
        frame.destroy();
        if buffer.pixel(0, 0) == BLUE {
            break;
        }
        assert!(Instant::now() < deadline, "no frame shows the window");
    }
    let background = buffer.count_unlike((32, 0, W - 32, H), BACKGROUND, TOLERANCE)
        + buffer.count_unlike((0, 32, 32, H - 32), BACKGROUND, TOLERANCE);
    assert_eq!(
        background, 0,
        "{background} pixels outside the window are not the background"
    );
    assert!(compositor.is_running());
    drawing.kill().unwrap();
    drawing.wait().unwrap();
}

#[test]
fn a_capture_into_each_shm_format_puts_the_channels_where_that_format_says() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    // Opaque, 0xAARRGGBB: every channel different.
    let _window = client.open_window(16, 16, 0xff20_40c0);
    let handle = client.toplevel_handle();
    let source = client
        .toplevel_sources
        .create_source(&handle, &client.qh, ());
    // The first three bytes of a pixel in memory: [B, G, R] for the
    // xRGB formats, [R, G, B] for the xBGR ones (little-endian words).
    for (format, first_three) in [
        (wl_shm::Format::Xrgb8888, [0xc0, 0x40, 0x20]),
        (wl_shm::Format::Argb8888, [0xc0, 0x40, 0x20]),
        (wl_shm::Format::Xbgr8888, [0x20, 0x40, 0xc0]),
        (wl_shm::Format::Abgr8888, [0x20, 0x40, 0xc0]),
    ] {
        // A session's first frame is whole; a second would wait for the
        // window to change.
        let session = client.session_on(&source);
        let buffer = client.shm_buffer(16, 16, 16 * 4, format);
        let frame = client.ext_capture(&session, &buffer);
        let got = client.ext_end(&frame, TIMEOUT);
        assert!(got.ready, "{format:?}: {got:?}");
        let unlike = buffer.count_unlike((0, 0, 16, 16), first_three, TOLERANCE);
        assert_eq!(unlike, 0, "{format:?}: {unlike} pixels are wrong");
        frame.destroy();
        buffer.destroy();
    }
    assert!(compositor.is_running());
}

// ---------------------------------------------------------------------------
// ext-image-copy-capture: toplevel sources

#[test]
fn a_toplevel_source_captures_its_window_at_the_window_size_and_follows_a_resize() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    // Opaque green, 0xAARRGGBB.
    let mut window = client.open_window(16, 16, 0xff00_ff00);
    let handle = client.toplevel_handle();
    let source = client
        .toplevel_sources
        .create_source(&handle, &client.qh, ());
    let session = client.session_on(&source);
    assert_eq!(
        client.state.announced(&session).constraints[0],
        Constraint::Size(16, 16),
        "the window's size"
    );
    let buffer = client.shm_buffer(16, 16, 16 * 4, wl_shm::Format::Xrgb8888);
    let frame = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    assert!(got.ready, "{got:?}");
    assert_eq!(
        got.damage,
        [[0, 0, 16, 16]],
        "the first frame is whole: {got:?}"
    );
    let unlike = buffer.count_unlike((0, 0, 16, 16), [0, 255, 0], TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels are not the window's green");
    frame.destroy();

    // The window grows and turns red: the session announces the new size
    // in a new batch, a buffer of the old size fails, one of the new size
    // holds the red window.
    client.redraw(&mut window, 24, 20, 0xffff_0000);
    let resized = client.wait_until(TIMEOUT, |s| {
        let constraints = s.announced(&session).constraints;
        constraints.ends_with(&[Constraint::Done])
            && constraints.contains(&Constraint::Size(24, 20))
    });
    let announced = client.state.announced(&session).constraints;
    assert!(resized, "no new constraints: {announced:?}");
    let second = announced[1..]
        .iter()
        .position(|c| *c == Constraint::Done)
        .map(|done| &announced[done + 2..]);
    assert_eq!(
        second.and_then(|batch| batch.first()),
        Some(&Constraint::Size(24, 20)),
        "a second batch starts with the new size: {announced:?}"
    );
    let frame = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    assert_eq!(
        got.failed,
        Some(WEnum::Value(frame::FailureReason::BufferConstraints)),
        "a buffer of the old size: {got:?}"
    );
    frame.destroy();
    let bigger = client.shm_buffer(24, 20, 24 * 4, wl_shm::Format::Xrgb8888);
    let frame = client.ext_capture(&session, &bigger);
    let got = client.ext_end(&frame, TIMEOUT);
    assert!(got.ready, "{got:?}");
    let unlike = bigger.count_unlike((0, 0, 24, 20), [0, 0, 255], TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels are not the window's red");
    assert!(compositor.is_running());
}

#[test]
fn a_pointer_off_the_output_has_a_cursor_session_report_nothing_but_the_cursor_image() {
    // Nothing moves the headless seat's pointer onto the output: the
    // session reports no position, yet the cursor has its image, the
    // theme's default arrow at XCURSOR_SIZE (24, as the test sets it).
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let (_pointer, cursor) = client.cursor_session();
    let session = cursor.get_capture_session(&client.qh, ());
    let announced = client.wait_until(TIMEOUT, |s| {
        s.announced(&session)
            .constraints
            .contains(&Constraint::Done)
    });
    assert!(announced, "{:?}", client.state.announced(&session));
    assert_eq!(
        client.state.announced(&session).constraints[0],
        Constraint::Size(24, 24),
        "the default cursor's image"
    );
    let buffer = client.shm_buffer(24, 24, 24 * 4, wl_shm::Format::Argb8888);
    let frame = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    assert!(got.ready, "the first frame is whole: {got:?}");
    let transparent = buffer.count_unlike((0, 0, 24, 24), [0, 0, 0], 0);
    assert!(transparent > 0, "the arrow has visible pixels");
    assert_eq!(client.state.cursor_reports(&cursor), Vec::<String>::new());
    assert!(compositor.is_running());
}

#[test]
fn a_closed_toplevel_stops_its_sessions_and_fails_their_frames_as_stopped() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let window = client.open_window(16, 16, 0xff00_ff00);
    let handle = client.toplevel_handle();
    let source = client
        .toplevel_sources
        .create_source(&handle, &client.qh, ());
    let session = client.session_on(&source);
    let Constraint::Size(w, h) = client.state.announced(&session).constraints[0] else {
        panic!(
            "no buffer_size first: {:?}",
            client.state.announced(&session)
        );
    };
    let buffer = client.shm_buffer(w as i32, h as i32, w as i32 * 4, wl_shm::Format::Xrgb8888);

    // The window closes under a live session.
    window.close();
    assert!(
        client.wait_until(TIMEOUT, |s| s.announced(&session).stopped),
        "the session did not stop: {:?}",
        client.state.announced(&session)
    );
    assert!(
        client.wait_until(TIMEOUT, |s| s.closed(&handle)),
        "the handle did not close"
    );
    let frame = client.ext_capture(&session, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    assert_eq!(
        got.failed,
        Some(WEnum::Value(frame::FailureReason::Stopped)),
        "{got:?}"
    );

    // A source made from the closed handle afterwards: stopped from the
    // start.
    let late = client
        .toplevel_sources
        .create_source(&handle, &client.qh, ());
    let late = client
        .ext
        .create_session(&late, manager::Options::empty(), &client.qh, ());
    assert!(
        client.wait_until(TIMEOUT, |s| s.announced(&late).stopped),
        "a session on a closed toplevel did not stop: {:?}",
        client.state.announced(&late)
    );
    let frame = client.ext_capture(&late, &buffer);
    let got = client.ext_end(&frame, TIMEOUT);
    assert_eq!(
        got.failed,
        Some(WEnum::Value(frame::FailureReason::Stopped)),
        "{got:?}"
    );
    client.roundtrip();
    assert!(compositor.is_running());
}

// ---------------------------------------------------------------------------
// wlr-screencopy

#[test]
fn a_wlr_frame_announces_the_output_as_xrgb8888_and_copies_it() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let frame = client.wlr_frame(None);
    let announced = client.state.wlr_frame(&frame);
    assert_eq!(
        announced.buffers,
        [(
            WEnum::Value(wl_shm::Format::Xrgb8888),
            OUTPUT.0,
            OUTPUT.1,
            OUTPUT.0 * 4
        )],
        "{announced:?}"
    );
    assert_eq!(announced.events.first(), Some(&"buffer"), "{announced:?}");
    assert_eq!(
        announced.events.last(),
        Some(&"buffer_done"),
        "{announced:?}"
    );

    let buffer = client.output_buffer();
    frame.copy(&buffer.buffer);
    let got = client.wlr_end(&frame, TIMEOUT);
    assert_eq!(got.flags, Some(0), "{got:?}");
    assert!(got.ready.is_some() && !got.failed, "{got:?}");
    assert_eq!(got.events.last(), Some(&"ready"), "{got:?}");
    assert!(
        got.events.ends_with(&["flags", "ready"]),
        "flags comes before ready: {got:?}"
    );
    let unlike = buffer.count_unlike((0, 0, W, H), BACKGROUND, TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels are not the background");
    assert!(compositor.is_running());
}

#[test]
fn a_wlr_region_frame_announces_the_region_size() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let mut client = connect(&compositor);
    let frame = client.wlr_frame(Some([10, 20, 30, 40]));
    let announced = client.state.wlr_frame(&frame);
    assert_eq!(
        announced.buffers,
        [(WEnum::Value(wl_shm::Format::Xrgb8888), 30, 40, 30 * 4)],
        "{announced:?}"
    );
    let buffer = client.shm_buffer(30, 40, 30 * 4, wl_shm::Format::Xrgb8888);
    frame.copy(&buffer.buffer);
    let got = client.wlr_end(&frame, TIMEOUT);
    assert!(got.ready.is_some(), "{got:?}");
    let unlike = buffer.count_unlike((0, 0, 30, 40), BACKGROUND, TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels are not the background");
    assert!(compositor.is_running());
}

// ---------------------------------------------------------------------------
// Hostile clients

#[test]
fn clients_that_abandon_their_captures_halfway_harm_neither_the_compositor_nor_others_frames() {
    let mut compositor = Compositor::start(OUTPUT, &[]);
    let (mut drawing, frames) =
        compositor.spawn_client(&["--size", "32x32", "--frames", "0", "--color", BLUE_ARG]);
    let first = latest_frame(&frames);
    let mut last = first;
    let mut failures = Vec::new();
    for round in 1..=3 {
        for (capture, abandon) in Capture::ALL
            .into_iter()
            .flat_map(|c| Abandon::ALL.map(|a| (c, a)))
        {
            let name = format!(
                "a client {} right after {} (round {round})",
                abandon.what(),
                capture.what()
            );
            failures.extend(check(&name, || {
                abandon_a_capture(&compositor, capture, abandon);
                assert!(compositor.is_running(), "the compositor died");
                let now = latest_frame(&frames);
                assert!(now > last, "the drawing client's frames stopped at {last}");
                last = now;
            }));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        last > first,
        "the drawing client got no frame in between: {first} then {last}"
    );
    drawing.kill().unwrap();
    drawing.wait().unwrap();
}

/// The capture a hostile client abandons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    /// An ext session's first frame, which goes at once.
    ExtFirst,
    /// An ext session's second frame, which may wait for damage.
    ExtSecond,
    /// wlr's `copy`, which goes at once.
    WlrCopy,
    /// wlr's `copy_with_damage` (the manager's first: it goes at once).
    WlrCopyWithDamage,
}

impl Capture {
    const ALL: [Self; 4] = [
        Self::ExtFirst,
        Self::ExtSecond,
        Self::WlrCopy,
        Self::WlrCopyWithDamage,
    ];

    fn what(self) -> &'static str {
        match self {
            Self::ExtFirst => "an ext session's first capture",
            Self::ExtSecond => "an ext session's second capture",
            Self::WlrCopy => "a wlr copy",
            Self::WlrCopyWithDamage => "a wlr copy_with_damage",
        }
    }
}

/// How a hostile client abandons its capture.
#[derive(Debug, Clone, Copy)]
enum Abandon {
    /// Destroys the buffer and its pool right away, then waits for the
    /// frame to end, as it must, ready or failed.
    DestroyBuffer,
    /// Hangs up right away.
    HangUp,
}

impl Abandon {
    const ALL: [Self; 2] = [Self::DestroyBuffer, Self::HangUp];

    fn what(self) -> &'static str {
        match self {
            Self::DestroyBuffer => "destroys its buffer and pool",
            Self::HangUp => "hangs up",
        }
    }
}

/// A new client on `compositor` starts `capture` and abandons it as
/// `abandon` says.
fn abandon_a_capture(compositor: &Compositor, capture: Capture, abandon: Abandon) {
    let mut client = connect(compositor);
    let buffer = client.output_buffer();
    let ended: Box<dyn Fn(&Recorder) -> bool> = match capture {
        Capture::ExtFirst | Capture::ExtSecond => {
            let session = client.output_session();
            if capture == Capture::ExtSecond {
                let first = client.ext_capture(&session, &buffer);
                assert!(client.ext_end(&first, TIMEOUT).ready, "the first frame");
                first.destroy();
            }
            let frame = client.ext_capture(&session, &buffer);
            Box::new(move |s| s.ext_frame(&frame).ended())
        }
        Capture::WlrCopy | Capture::WlrCopyWithDamage => {
            let frame = client.wlr_frame(None);
            if capture == Capture::WlrCopy {
                frame.copy(&buffer.buffer);
            } else {
                frame.copy_with_damage(&buffer.buffer);
            }
            Box::new(move |s| s.wlr_frame(&frame).ended())
        }
    };
    match abandon {
        Abandon::DestroyBuffer => {
            buffer.destroy();
            assert!(client.wait_until(TIMEOUT, ended), "the frame never ended");
        }
        Abandon::HangUp => client.hang_up(),
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// A capture client on `compositor`, whose output is [`OUTPUT`].
fn connect(compositor: &Compositor) -> Client {
    let socket = compositor.dir().join("runtime").join(compositor.socket());
    Client::connect(&socket, OUTPUT)
}

/// Runs one case of a table; its failure, named, instead of a panic.
fn check(name: &str, case: impl FnOnce()) -> Option<String> {
    let panic = catch_unwind(AssertUnwindSafe(case)).err()?;
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(a panic without a message)");
    Some(format!("{name}: {message}"))
}

/// The number of the next frame a `dmabridge-client` reports from now on.
fn latest_frame(frames: &Lines) -> u64 {
    let _ = frames.drain();
    let line = frames.expect("frame ", TIMEOUT);
    line.trim_start_matches("frame ")
        .parse()
        .unwrap_or_else(|_| panic!("not a frame line: {line:?}"))
}

/// What other clients do while one misbehaves: a `dmabridge-client`
/// drawing a window on every frame callback, and a capture client with an
/// ext session on the output that also copies through wlr.
struct Bystanders {
    drawing: Child,
    frames: Lines,
    capturing: Client,
    session: ExtImageCopyCaptureSessionV1,
    buffer: ShmBuffer,
}

impl Bystanders {
    fn start(compositor: &Compositor) -> Self {
        let (drawing, frames) =
            compositor.spawn_client(&["--size", "32x32", "--frames", "0", "--color", BLUE_ARG]);
        latest_frame(&frames);
        let mut capturing = connect(compositor);
        let session = capturing.output_session();
        let buffer = capturing.output_buffer();
        Self {
            drawing,
            frames,
            capturing,
            session,
            buffer,
        }
    }

    /// Checks that the compositor runs, the drawing client gets a new
    /// frame, and the capture client a new ext frame and a wlr copy.
    fn assert_served(&mut self, compositor: &mut Compositor) {
        assert!(compositor.is_running(), "the compositor died");
        latest_frame(&self.frames);
        let client = &mut self.capturing;
        let frame = client.ext_capture(&self.session, &self.buffer);
        let got = client.ext_end(&frame, TIMEOUT);
        assert!(got.ready, "a bystander's ext frame: {got:?}");
        frame.destroy();
        let frame = client.wlr_frame(None);
        frame.copy(&self.buffer.buffer);
        let got = client.wlr_end(&frame, TIMEOUT);
        assert!(got.ready.is_some(), "a bystander's wlr copy: {got:?}");
        frame.destroy();
    }

    fn stop(mut self) {
        self.drawing.kill().unwrap();
        self.drawing.wait().unwrap();
    }
}
