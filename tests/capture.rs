//! Screen capture from real clients in their own processes against the
//! headless compositor on lavapipe: grim 1.4 from Debian (wlr-screencopy,
//! which rotates by `wl_output.transform` itself) and `dmabridge capture`
//! (ext-image-copy-capture, wlr-screencopy as its fallback). What they
//! capture is compared with the picture the output shows: the dumped frame
//! turned upright, and the test cards drawn independently.

#[path = "support/compositor.rs"]
mod support;

use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use smithay::utils::{Physical, Rectangle, Size, Transform};
use support::{Rgb, Session};

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
    wait_for_content(&session);
    (session, client)
}

/// Waits until a dumped frame shows more than the background.
fn wait_for_content(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !session
        .frames()
        .iter()
        .any(|frame| Rgb::load(frame).has_content())
    {
        assert!(Instant::now() < deadline, "no frame shows the client");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `program` with `args` against `session`; its stdout, once it
/// exited successfully within a minute.
fn capture_with(session: &Session, program: &str, args: &[&str]) -> Vec<u8> {
    let mut child = session
        .command(program)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {program}: {err}"));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{program} {args:?} failed: {status}\n{err}"
    );
    out
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
