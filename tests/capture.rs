//! Screen capture from real clients in their own processes against the
//! headless compositor on lavapipe: grim 1.4 from Debian (wlr-screencopy,
//! which rotates by `wl_output.transform` itself) and `dmabridge capture`
//! (ext-image-copy-capture, wlr-screencopy as its fallback). What they
//! capture is compared with the picture the output shows: the dumped frame
//! turned upright, and the test cards drawn independently. At a
//! fractional output scale, both the output and a toplevel are captured
//! in the output's pixels.

#[path = "support/compositor.rs"]
mod support;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use smithay::utils::{Physical, Rectangle, Size, Transform};
use support::{Lines, Rgb, Session};

/// Rendering is exact but the background is 0.1 × 255 = 25.5, rounded
/// either way.
const TOLERANCE: u8 = 1;

/// The test card the client draws, and the output it draws on.
const CARD: (u32, u32) = (200, 120);
const OUTPUT: (u32, u32) = (320, 240);

/// Starts a compositor of [`OUTPUT`] with `options` and a client that
/// draws the test card of [`CARD`] once and keeps its window, and waits
/// until a frame showing it was presented.
fn output_with_card(options: &[&str]) -> (Session, std::process::Child) {
    let session = Session::start_with(OUTPUT, options, &[]);
    let size = format!("{}x{}", CARD.0, CARD.1);
    let (client, lines) = session.spawn_client(&["--size", &size, "--frames", "1", "--stay"]);
    lines.expect("staying", Duration::from_secs(60));
    session.wait_for_content(Duration::from_secs(60));
    (session, client)
}

/// Runs `program` with `args` against `session`; its stdout, once it
/// exited successfully within a minute.
fn capture_with(session: &Session, program: &str, args: &[&str]) -> Vec<u8> {
    capture_logged(session, program, args, &[]).0
}

/// [`capture_with`], with `env` set for the capture client; its output and
/// its standard error.
fn capture_logged(
    session: &Session,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Vec<u8>, String) {
    let mut child = session
        .command(program)
        .args(args)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {program}: {err}"));
    let mut err = String::new();
    let mut stderr = child.stderr.take().unwrap();
    // Both pipes at once: a client that fills one while the other is
    // read would block.
    let reader = std::thread::spawn(move || {
        stderr.read_to_string(&mut err).unwrap();
        err
    });
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let err = reader.join().unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{program} {args:?} failed: {status}\n{err}"
    );
    (out, err)
}

/// `dmabridge capture -o -` with `args`, its requests logged
/// (`WAYLAND_DEBUG`): the picture, and whether the compositor was asked
/// to finish it (a dmabridge-buffer-copy-v1 copy submitted and done).
fn dmabridge_capture_in_compositor(session: &Session, args: &[&str]) -> (Rgb, bool) {
    let mut all = vec!["capture", "-o", "-"];
    all.extend(args);
    let (out, log) = capture_logged(session, DMABRIDGE, &all, &[("WAYLAND_DEBUG", "1")]);
    let asked = log
        .lines()
        .any(|l| l.contains("-> dmabridge_buffer_copy_v1@") && l.ends_with(".submit()"));
    let done = log
        .lines()
        .any(|l| l.contains("dmabridge_buffer_copy_v1@") && l.contains(".done("));
    (parse_ppm(&out), asked && done)
}

/// A binary PPM (P6, 8 bits) as RGB.
fn parse_ppm(bytes: &[u8]) -> Rgb {
    // Header: "P6", width, height, maxval, each after whitespace, then one
    // whitespace byte and the pixels.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(std::str::from_utf8(&bytes[start..at]).unwrap().to_owned());
    }
    assert_eq!(fields[0], "P6", "not a binary PPM");
    assert_eq!(fields[3], "255", "not 8 bits a channel");
    let (width, height): (u32, u32) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    let pixels = &bytes[at + 1..];
    assert_eq!(pixels.len(), (width * height * 3) as usize, "PPM length");
    Rgb {
        width,
        height,
        bytes: pixels.to_vec(),
    }
}

/// `framebuffer`, the image of an output whose transform is `transform`,
/// as a person sees it: the framebuffer shows upright content turned by
/// the inverse of the output's transform (a panel turned 90° shows content
/// turned 270°), so each upright pixel is where that inverse puts it.
fn upright(framebuffer: &Rgb, transform: Transform) -> Rgb {
    let fb = Size::<i32, Physical>::from((framebuffer.width as i32, framebuffer.height as i32));
    let size = transform.invert().transform_size(fb);
    let mut bytes = Vec::with_capacity(framebuffer.bytes.len());
    for y in 0..size.h {
        for x in 0..size.w {
            let pixel = Rectangle::<i32, Physical>::new((x, y).into(), (1, 1).into());
            let at = transform.invert().transform_rect_in(pixel, &size).loc;
            bytes.extend(framebuffer.pixel(at.x as u32, at.y as u32));
        }
    }
    Rgb {
        width: size.w as u32,
        height: size.h as u32,
        bytes,
    }
}

/// Asserts that `got` is `want` within [`TOLERANCE`], leaving both
/// pictures in `dir` otherwise.
fn assert_same(got: &Rgb, want: &Rgb, dir: &Path, what: &str) {
    assert_eq!(
        (got.width, got.height),
        (want.width, want.height),
        "{what}: size"
    );
    let bad = got.count_differences(want, TOLERANCE, dir);
    assert_eq!(
        bad,
        0,
        "{what}: {bad} pixels differ (pictures in {})",
        dir.display()
    );
}

#[test]
fn grim_captures_the_output_upright_as_the_frame_dump_shows_it() {
    for (name, transform) in [
        ("normal", Transform::Normal),
        ("90", Transform::_90),
        ("flipped-270", Transform::Flipped270),
    ] {
        let (session, _client) = output_with_card(&["--transform", name]);
        let got = parse_ppm(&capture_with(&session, "grim", &["-t", "ppm", "-"]));
        let dumped = upright(&session.last_frame_with_content(), transform);
        assert_same(
            &got,
            &dumped,
            session.dir(),
            &format!("grim at {name} against the dump"),
        );
        let size = transform
            .invert()
            .transform_size(Size::<i32, Physical>::from((
                OUTPUT.0 as i32,
                OUTPUT.1 as i32,
            )));
        let drawn = Rgb::expected((size.w as u32, size.h as u32), &[(0, CARD)]);
        assert_same(
            &got,
            &drawn,
            session.dir(),
            &format!("grim at {name} against the card"),
        );
    }
}

const DMABRIDGE: &str = env!("CARGO_BIN_EXE_dmabridge");

/// `dmabridge capture` with `args`, writing a PPM to stdout: the picture.
fn dmabridge_capture(session: &Session, args: &[&str]) -> Rgb {
    let mut all = vec!["capture", "-o", "-"];
    all.extend(args);
    parse_ppm(&capture_with(session, DMABRIDGE, &all))
}

/// The part of `picture` at `at` of `size`.
fn crop(picture: &Rgb, at: (u32, u32), size: (u32, u32)) -> Rgb {
    let mut bytes = Vec::new();
    for y in at.1..at.1 + size.1 {
        for x in at.0..at.0 + size.0 {
            bytes.extend(picture.pixel(x, y));
        }
    }
    Rgb {
        width: size.0,
        height: size.1,
        bytes,
    }
}

#[test]
fn dmabridge_capture_gets_the_output_upright_through_either_protocol_under_every_transform() {
    for (name, transform) in [
        ("normal", Transform::Normal),
        ("90", Transform::_90),
        ("180", Transform::_180),
        ("270", Transform::_270),
        ("flipped", Transform::Flipped),
        ("flipped-90", Transform::Flipped90),
        ("flipped-180", Transform::Flipped180),
        ("flipped-270", Transform::Flipped270),
    ] {
        let (session, _client) = output_with_card(&["--transform", name]);
        let dumped = upright(&session.last_frame_with_content(), transform);
        for protocol in ["ext", "wlr"] {
            let got = dmabridge_capture(&session, &["--protocol", protocol]);
            let what = format!("{protocol} at {name}");
            assert_same(&got, &dumped, session.dir(), &what);
        }
    }
}

#[test]
fn regions_come_from_the_compositor_for_grim_and_for_dmabridge_capture() {
    // grim asks for the region (wlr-screencopy's capture_output_region, in
    // upright output coordinates); dmabridge capture captures the output
    // and asks the compositor to copy the region out of it
    // (dmabridge-buffer-copy-v1).
    let (session, _client) = output_with_card(&["--transform", "90"]);
    let whole = upright(&session.last_frame_with_content(), Transform::_90);
    let want = crop(&whole, (150, 60), (80, 100));
    let got = parse_ppm(&capture_with(
        &session,
        "grim",
        &["-t", "ppm", "-g", "150,60 80x100", "-"],
    ));
    assert_same(&got, &want, session.dir(), "grim's region");
    let (got, in_compositor) =
        dmabridge_capture_in_compositor(&session, &["--region", "150,60 80x100"]);
    assert!(in_compositor, "the region was not the compositor's copy");
    assert_same(&got, &want, session.dir(), "dmabridge capture's region");
    // wlr-screencopy hands over the output as its buffer holds it, turned:
    // the region is found in the turned picture, turned upright by the
    // same copy.
    let (got, in_compositor) = dmabridge_capture_in_compositor(
        &session,
        &["--protocol", "wlr", "--region", "150,60 80x100"],
    );
    assert!(
        in_compositor,
        "the wlr region was not the compositor's copy"
    );
    assert_same(&got, &want, session.dir(), "dmabridge capture's wlr region");
}

#[test]
fn a_scaled_capture_has_the_scaled_size_and_keeps_the_bars() {
    // Scaled by the compositor's copy job (dmabridge-buffer-copy-v1).
    let (session, _client) = output_with_card(&[]);
    let (got, in_compositor) = dmabridge_capture_in_compositor(&session, &["--scale", "0.5"]);
    assert!(
        in_compositor,
        "the picture was not scaled by the compositor"
    );
    assert_eq!((got.width, got.height), (OUTPUT.0 / 2, OUTPUT.1 / 2));
    let whole = session.last_frame_with_content();
    // The middle of each of the card's eight bars, at half the size.
    for bar in 0..8 {
        let x = CARD.0 * (2 * bar + 1) / 16;
        let want = whole.pixel(x, 20);
        let have = got.pixel(x / 2, 10);
        assert!(
            want.iter()
                .zip(have)
                .all(|(a, b)| a.abs_diff(b) <= TOLERANCE),
            "bar {bar}: {have:?}, not {want:?}"
        );
    }
}

#[test]
fn a_toplevel_is_captured_whole_where_the_output_shows_only_part_of_it() {
    // Windows sit left to right: the card's window from x = 200 on shows
    // only its first 120 columns on the 320-pixel output.
    let (session, _first) = output_with_card(&[]);
    let (_second, lines) = session.spawn_client(&[
        "--size",
        "300x100",
        "--frames",
        "1",
        "--stay",
        "--title",
        "partly-off",
    ]);
    lines.expect("staying", Duration::from_secs(60));
    let got = dmabridge_capture(&session, &["--toplevel", "partly-off"]);
    let want = Rgb::expected((300, 100), &[(0, (300, 100))]);
    assert_same(&got, &want, session.dir(), "the toplevel");
}

#[test]
fn at_a_fractional_scale_windows_are_drawn_and_captured_in_the_outputs_pixels() {
    // A 480×360 output at scale 1.5: 320×240 logical pixels, and
    // wl_output.scale 2 (rounded up) for clients that know no other.
    let session = Session::start_with((480, 360), &["--scale", "1.5"], &[]);
    let info = session
        .command("wayland-info")
        .output()
        .expect("running wayland-info (tools/setup installs wayland-utils)");
    let info = String::from_utf8_lossy(&info.stdout);
    for line in ["scale: 2,", "logical_width: 320, logical_height: 240"] {
        assert!(info.contains(line), "no {line:?} in\n{info}");
    }
    // A client that follows wp_fractional_scale_v1 is told 1.5 (180
    // 120ths) and draws its 160×100 window as a 240×150 buffer.
    let (_fractional, lines) = session.spawn_client(&[
        "--fractional-scale",
        "--size",
        "160x100",
        "--color",
        "ff0000ff",
        "--stay",
    ]);
    lines.expect("preferred scale 180", Duration::from_secs(60));
    lines.expect("staying", Duration::from_secs(60));
    // A client that does not: its 100×60 buffer is scaled to 150×90, and
    // its window placed beside the first at logical x 160, pixel 240.
    let (_plain, lines) = session.spawn_client(&[
        "--size", "100x60", "--color", "ffff0000", "--stay", "--title", "plain",
    ]);
    lines.expect("staying", Duration::from_secs(60));
    // A refresh at 30 Hz for the second window to be drawn.
    std::thread::sleep(Duration::from_millis(500));
    let mut want = Rgb::background((480, 360));
    want.fill((0, 0), (240, 150), [0, 0, 255]);
    want.fill((240, 0), (150, 90), [255, 0, 0]);
    session.assert_shows(&want, TOLERANCE);
    // Captures are in the output's pixels: the whole output through
    // either protocol, and a toplevel at the size it is shown.
    for protocol in ["ext", "wlr"] {
        let got = dmabridge_capture(&session, &["--protocol", protocol]);
        assert_same(&got, &want, session.dir(), protocol);
    }
    let got = dmabridge_capture(&session, &["--toplevel", "plain"]);
    let mut red = Rgb::background((150, 90));
    red.fill((0, 0), (150, 90), [255, 0, 0]);
    assert_same(&got, &red, session.dir(), "the plain toplevel");
}

#[test]
fn a_capture_of_an_idle_output_completes() {
    // No client: nothing is ever damaged after the first frame. Both
    // protocols' first frames still complete.
    let session = Session::start(OUTPUT, &[]);
    for protocol in ["ext", "wlr"] {
        let got = dmabridge_capture(&session, &["--protocol", protocol, "--timeout", "20"]);
        assert_same(&got, &Rgb::background(OUTPUT), session.dir(), protocol);
    }
    let got = parse_ppm(&capture_with(&session, "grim", &["-t", "ppm", "-"]));
    assert_same(&got, &Rgb::background(OUTPUT), session.dir(), "grim");
}

#[test]
fn later_frames_wait_for_damage_and_report_the_square_that_changed() {
    let upright_size = Size::<i32, Physical>::from((OUTPUT.1 as i32, OUTPUT.0 as i32));
    let square = Rectangle::<i32, Physical>::new((200, 0).into(), (32, 32).into());
    // wlr-screencopy reports damage in the framebuffer, ext in the upright
    // picture.
    let in_framebuffer = Transform::_90
        .invert()
        .transform_rect_in(square, &upright_size);
    for (protocol, size, damage) in [
        ("ext", upright_size, square),
        (
            "wlr",
            Size::from((OUTPUT.0 as i32, OUTPUT.1 as i32)),
            in_framebuffer,
        ),
    ] {
        let (session, _card) = output_with_card(&["--transform", "90"]);
        let out = session.dir().join(format!("{protocol}.png"));
        let mut capture = session
            .command(DMABRIDGE)
            .args(["capture", "--frames", "3", "--protocol", protocol, "-o"])
            .arg(&out)
            .spawn()
            .unwrap();
        let lines = Lines::new(capture.stdout.take().unwrap());
        let size = format!("{}x{}", size.w, size.h);
        let first = lines.expect("frame 1", Duration::from_secs(30));
        assert_eq!(
            first,
            format!("frame 1 {size} damage 0,0 {size}"),
            "{protocol}"
        );
        // Nothing changes: the second frame waits.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            lines.drain(),
            Vec::<String>::new(),
            "{protocol}: a frame without damage"
        );
        // A 32×32 window appears right of the card and redraws every frame.
        // Its appearance also restacks the card (damage smithay reports);
        // after that only the square changes.
        let (mut square, _) =
            session.spawn_client(&["--size", "32x32", "--frames", "0", "--color", "ff00ff00"]);
        let want = format!(
            "{},{} {}x{}",
            damage.loc.x, damage.loc.y, damage.size.w, damage.size.h
        );
        let second = lines.expect("frame 2", Duration::from_secs(30));
        assert!(second.contains(&want), "{protocol}: {second}");
        let third = lines.expect("frame 3", Duration::from_secs(30));
        assert_eq!(third, format!("frame 3 {size} damage {want}"), "{protocol}");
        assert!(capture.wait().unwrap().success());
        square.kill().unwrap();
        square.wait().unwrap();
    }
}
