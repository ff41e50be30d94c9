//! The nested backend in a private X server (Xvfb), presenting through a
//! Vulkan swapchain on lavapipe: the window shows what the client drew, a
//! resized window resizes the output and the client's configure, and
//! pointer and keyboard input in the window reach the focused client (raw
//! mouse motion as relative motion, held by a pointer lock) and
//! only it, and the window's cursor and the captured cursor are the one
//! the client chose. On a Wayland desktop too: nested in the headless compositor,
//! whose dumped frame shows the nested window, and text copied with
//! wl-clipboard's `wl-copy` on either side is pasted with `wl-paste` on the
//! other, through the clipboard and the primary selection. A GTK 4
//! application at output scale 2 draws at that scale and hears pointer
//! positions in logical pixels, and keys. Text dragged from one client
//! onto another is dropped there, and a drag released elsewhere is
//! cancelled. The desktop's input method writes into a nested client's
//! text input.

#[path = "support/capture_client.rs"]
mod capture_client;
#[path = "support/compositor.rs"]
mod support;
#[path = "support/wire.rs"]
mod wire;
#[path = "support/xvfb.rs"]
mod xvfb;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use capture_client::{Client, Constraint};
use smithay::input::pointer::CursorIcon;
use support::{CLEAR, Lines, Rgb, Session};
use wayland_client::protocol::wl_shm;
use wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_manager_v1 as manager;
use wayland_protocols::wp::cursor_shape::v1::client::wp_cursor_shape_device_v1::Shape;
use wire::{
    Arg, Wire, ack, buffer, constraint, motions, relative_motions_until, toplevel, wait_for,
};
use xvfb::Xvfb;

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// The window is a byte-exact copy of the output image; only the
/// background's 0.1 × 255 rounds either way.
const TOLERANCE: u8 = 1;

/// Time for lavapipe to start, render and present.
const PATIENCE: Duration = Duration::from_secs(60);

/// Xvfb's screen, larger than any window here.
const SCREEN: (u32, u32) = (1024, 768);

#[test]
fn the_window_shows_the_clients_test_card() {
    let x = Xvfb::start(SCREEN);
    let session = Session::start_nested(
        x.display(),
        (640, 480),
        &[CLIENT, "--size", "256x192", "--frames", "0"],
    );
    session.lines().expect("frame 2", PATIENCE);
    let window = x.window("dmabridge");
    let (wx, wy, w, h) = x.geometry(&window);
    assert_eq!((w, h), (640, 480), "the window has the output's size");
    let want = Rgb::expected((640, 480), &[(0, (256, 192))]);
    let bad = x.wait_for((wx, wy, w, h), &want, TOLERANCE, PATIENCE, session.dir());
    assert_eq!(
        bad,
        0,
        "{bad} pixels of the window differ (pictures in {})",
        session.dir().display()
    );
}

#[test]
fn a_resized_window_resizes_the_output_and_the_client() {
    let x = Xvfb::start(SCREEN);
    let session = Session::start_nested(
        x.display(),
        (640, 480),
        &[CLIENT, "--size", "256x192", "--frames", "0"],
    );
    let lines = session.lines();
    lines.expect("configured 640x480", PATIENCE);
    lines.expect("frame 2", PATIENCE);
    let window = x.window("dmabridge");
    // A screen-capture session on the output, before the resize.
    let socket = session.dir().join("runtime").join(session.socket());
    let mut capture = Client::connect(&socket, (640, 480));
    let capture_session = capture.output_session();
    x.xdotool(&["windowsize", "--sync", &window, "800", "500"]);
    // The toplevel is configured to the new size…
    lines.expect("configured 800x500", PATIENCE);
    // …the capture session announces it…
    let announced = capture.wait_until(PATIENCE, |s| {
        let constraints = s.announced(&capture_session).constraints;
        constraints.ends_with(&[Constraint::Done])
            && constraints.contains(&Constraint::Size(800, 500))
    });
    assert!(
        announced,
        "the capture session heard no new size: {:?}",
        capture.state.announced(&capture_session)
    );
    // …and the window shows the output at its new size.
    let (wx, wy, w, h) = x.geometry(&window);
    assert_eq!((w, h), (800, 500));
    let want = Rgb::expected((800, 500), &[(0, (256, 192))]);
    let bad = x.wait_for((wx, wy, w, h), &want, TOLERANCE, PATIENCE, session.dir());
    assert_eq!(
        bad,
        0,
        "{bad} pixels differ after the resize (pictures in {})",
        session.dir().display()
    );
    // The frames the output dumped follow the size too (the dump is
    // written after the frame was queued for the window).
    let deadline = std::time::Instant::now() + PATIENCE;
    let newest_size = || {
        let newest = session.frames().pop().expect("a dumped frame");
        let frame = Rgb::load(&newest);
        (frame.width, frame.height)
    };
    while newest_size() != (800, 500) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(newest_size(), (800, 500));
    // …and captures at it: the card at the top left of the new size.
    let buffer = capture.shm_buffer(800, 500, 800 * 4, wl_shm::Format::Xrgb8888);
    let frame = capture.ext_capture(&capture_session, &buffer);
    let got = capture.ext_end(&frame, PATIENCE);
    assert!(got.ready, "the capture after the resize: {got:?}");
    let background = [CLEAR[2], CLEAR[1], CLEAR[0]];
    let unlike = buffer.count_unlike((300, 250, 500, 250), background, TOLERANCE);
    assert_eq!(unlike, 0, "{unlike} pixels right of and below the card");
}

#[test]
fn input_goes_to_the_client_under_the_pointer_and_with_the_keyboard() {
    let x = Xvfb::start(SCREEN);
    // Two clients side by side: the left one started with the compositor,
    // the right one (x 256..512) beside it.
    let session = Session::start_nested(
        x.display(),
        (640, 480),
        &[
            CLIENT, "--size", "256x192", "--frames", "0", "--title", "left",
        ],
    );
    let left = session.lines();
    left.expect("frame 2", PATIENCE);
    let (_right_child, right) =
        session.spawn_client(&["--size", "256x192", "--frames", "0", "--title", "right"]);
    right.expect("frame 2", PATIENCE);
    // A new window takes the keyboard.
    left.expect("keyboard leave", PATIENCE);
    let window = x.window("dmabridge");
    // The X server's keyboard focus is the window (there is no window
    // manager to give it on a click).
    x.xdotool(&["windowfocus", "--sync", &window]);

    // The pointer over the left client at (40, 30): it gets enter at those
    // surface coordinates; a click gives it the keyboard back.
    x.xdotool(&["mousemove", "--window", &window, "40", "30"]);
    left.expect("pointer enter 40 30", PATIENCE);
    x.xdotool(&["click", "1"]);
    left.expect("keyboard enter", PATIENCE);
    left.expect("button 272 pressed", PATIENCE);
    left.expect("button 272 released", PATIENCE);
    // It hears the key (evdev KEY_A, 30)…
    x.xdotool(&["key", "a"]);
    left.expect("key 30 pressed", PATIENCE);
    left.expect("key 30 released", PATIENCE);
    // …and a wheel turn down (X button 5) scrolls its view down one step.
    x.xdotool(&["click", "5"]);
    left.expect("axis 0 15", PATIENCE);

    // The right client lost the keyboard and heard none of it.
    let heard = right.drain();
    assert!(
        heard.iter().any(|l| l == "keyboard leave"),
        "the right client keeps the keyboard: {heard:?}"
    );
    assert!(
        !heard
            .iter()
            .any(|l| l.starts_with("key ") || l.starts_with("button ") || l.starts_with("axis ")),
        "the right client heard input meant for the left one: {heard:?}"
    );
}

/// Moves the pointer in `window` to `(x, y)`, then on a pixel at a time,
/// until `lines` has a line that starts with `prefix`: the first motion
/// of a drag can reach the compositor before the drag does. Where the
/// pointer went across.
fn move_until(x: &Xvfb, window: &str, (px, py): (u32, u32), lines: &Lines, prefix: &str) -> u32 {
    for step in 0..50 {
        let to = (px + step).to_string();
        x.xdotool(&["mousemove", "--window", window, &to, &py.to_string()]);
        std::thread::sleep(Duration::from_millis(100));
        if lines.drain().iter().any(|line| line.starts_with(prefix)) {
            return px + step;
        }
    }
    panic!("no {prefix:?} line with the pointer at ({px}, {py}) and on");
}

/// `dmabridge-client --drag`'s icon colour (opaque orange) and size.
const ICON: ([u8; 3], u32) = ([255, 128, 0], 16);

/// Where the pointer is on that icon.
const ICON_HOTSPOT: (u32, u32) = (4, 6);

/// The top left corner of the drag icon in `frame`: the first pixel of
/// its colour that starts a whole square of it.
fn icon_corner(frame: &Rgb) -> Option<(u32, u32)> {
    let (colour, size) = ICON;
    let fits = |x: u32, y: u32| x + size <= frame.width && y + size <= frame.height;
    (0..frame.height)
        .flat_map(|y| (0..frame.width).map(move |x| (x, y)))
        .find(|&(x, y)| {
            fits(x, y)
                && (0..size).all(|dy| (0..size).all(|dx| frame.pixel(x + dx, y + dy) == colour))
        })
}

/// The newest frame `session` dumped once it is one that `wanted` picks,
/// waiting at most [`PATIENCE`].
fn newest_frame(session: &Session, wanted: impl Fn(&Rgb) -> bool) -> Rgb {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(frame) = session.frames().pop().map(|path| Rgb::load(&path))
            && wanted(&frame)
        {
            return frame;
        }
        assert!(
            Instant::now() < deadline,
            "no frame of the kind wanted in {}",
            session.dir().display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn text_dragged_onto_a_client_is_dropped_and_elsewhere_cancelled() {
    let x = Xvfb::start(SCREEN);
    // The dragging client on the left (x 0..256, y 0..192), the dropping
    // one beside it (x 256..512).
    let session = Session::start_nested(
        x.display(),
        (640, 480),
        &[
            CLIENT,
            "--size",
            "256x192",
            "--stay",
            "--title",
            "drag",
            "--drag",
            "dragged text",
        ],
    );
    let drag = session.lines();
    drag.expect("staying", PATIENCE);
    let (_target_child, target) =
        session.spawn_client(&["--size", "256x192", "--stay", "--title", "drop", "--drop"]);
    target.expect("staying", PATIENCE);
    let window = x.window("dmabridge");
    let press = || {
        x.xdotool(&["mousemove", "--window", &window, "100", "100"]);
        x.xdotool(&["mousedown", "1"]);
        drag.expect("drag started", PATIENCE);
    };

    // Onto the other client: the drag's icon follows the pointer, held
    // at its hotspot; the other client takes the text, the source hears
    // the drop and the finish, and the icon goes.
    press();
    let at = move_until(&x, &window, (300, 100), &target, "drop entered");
    // The frame of the last motion may come after the client heard it.
    let (hx, hy) = ICON_HOTSPOT;
    let held = Some((at - hx, 100 - hy));
    let deadline = Instant::now() + PATIENCE;
    let mut corner = None;
    while corner != held && Instant::now() < deadline {
        corner = icon_corner(&newest_frame(&session, |frame| {
            icon_corner(frame).is_some()
        }));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        corner, held,
        "the icon is not held at its hotspot under the pointer"
    );
    x.xdotool(&["mouseup", "1"]);
    target.expect("dropped dragged text", PATIENCE);
    target.expect("finish", PATIENCE);
    drag.expect("drag dropped", PATIENCE);
    drag.expect("drag finished", PATIENCE);
    newest_frame(&session, |frame| icon_corner(frame).is_none());

    // Onto the output's background, where no client is: cancelled. A
    // drag that had not ended would take no new press.
    press();
    x.xdotool(&["mousemove", "--window", &window, "100", "400"]);
    x.xdotool(&["mouseup", "1"]);
    let heard = drag.until("drag cancelled", PATIENCE);
    assert!(
        !heard.iter().any(|l| l == "drag dropped"),
        "a drop on no client was performed: {heard:?}"
    );

    // Back onto the source's own window, which declines: cancelled.
    press();
    move_until(&x, &window, (150, 120), drag, "drag entered");
    x.xdotool(&["mouseup", "1"]);
    drag.expect("drag cancelled", PATIENCE);
    let heard = target.drain();
    assert!(
        !heard.iter().any(|l| l.starts_with("drop")),
        "the dropping client heard the later drags: {heard:?}"
    );
}

/// A nested compositor on an X server of its own, with a client whose
/// opaque blue 200×150 window is at the output's top left, and a cursor
/// session on that client's pointer, known to the compositor before the
/// pointer moves. The fields keep each part alive for the test.
struct CursorStage {
    x: Xvfb,
    session: Session,
    client: Client,
    _window: capture_client::Window,
    pointer: wayland_client::protocol::wl_pointer::WlPointer,
    cursor: wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_cursor_session_v1::ExtImageCopyCaptureCursorSessionV1,
    /// The nested window's X id.
    window: String,
}

impl CursorStage {
    fn start() -> Self {
        let x = Xvfb::start(SCREEN);
        let session = Session::start_nested(x.display(), (640, 480), &[]);
        let socket = session.dir().join("runtime").join(session.socket());
        let mut client = Client::connect(&socket, (640, 480));
        let window = client.open_window(200, 150, 0xff00_00ff);
        let (pointer, cursor) = client.cursor_session();
        client.roundtrip();
        let x_window = x.window("dmabridge");
        Self {
            x,
            session,
            client,
            _window: window,
            pointer,
            cursor,
            window: x_window,
        }
    }
}

#[test]
fn a_cursor_session_reports_and_captures_the_cursor_a_client_set() {
    let CursorStage {
        x,
        session,
        mut client,
        _window,
        pointer,
        cursor,
        window,
    } = CursorStage::start();
    let image = cursor.get_capture_session(&client.qh, ());

    // The pointer over the window, with the default cursor (the theme's);
    // then the client sets an 8×6 red cursor with its hotspot at (2, 3).
    x.xdotool(&["mousemove", "--window", &window, "50", "60"]);
    let _cursor = client.set_cursor(&pointer, (8, 6), 0xffff_0000, (2, 3), PATIENCE);
    let reported = client.wait_until(PATIENCE, |s| {
        let reports = s.cursor_reports(&cursor);
        reports.first().is_some_and(|r| r == "enter")
            && reports.iter().any(|r| r == "position 50 60")
            && reports.last().is_some_and(|r| r == "hotspot 2 3")
    });
    assert!(reported, "{:?}", client.state.cursor_reports(&cursor));
    // The image session follows the cursor's size…
    let sized = client.wait_until(PATIENCE, |s| {
        let constraints = s.announced(&image).constraints;
        constraints.ends_with(&[Constraint::Done]) && constraints.contains(&Constraint::Size(8, 6))
    });
    assert!(sized, "{:?}", client.state.announced(&image));
    // …and captures its picture.
    let buffer = client.shm_buffer(8, 6, 8 * 4, wl_shm::Format::Argb8888);
    let frame = client.ext_capture(&image, &buffer);
    let got = client.ext_end(&frame, PATIENCE);
    assert!(got.ready, "{got:?}");
    let unlike = buffer.count_unlike((0, 0, 8, 6), [0, 0, 255], TOLERANCE);
    assert_eq!(
        unlike, 0,
        "{unlike} pixels of the captured cursor are not red"
    );

    // The window is on the output's picture.
    session.wait_for_content(PATIENCE);
    // The output's picture shows the cursor only where asked
    // (`paint_cursors`): its image's top left is the pointer less the
    // hotspot, (48, 57); elsewhere, and without the option, the window.
    let plain = client.output_session();
    let source = client.output_source();
    let painted =
        client
            .ext
            .create_session(&source, manager::Options::PaintCursors, &client.qh, ());
    let announced = client.wait_until(PATIENCE, |s| {
        s.announced(&painted)
            .constraints
            .contains(&Constraint::Done)
    });
    assert!(announced, "{:?}", client.state.announced(&painted));
    // Blue and red as XRGB8888 bytes (B, G, R).
    for (capture, under_cursor) in [(&plain, [255, 0, 0]), (&painted, [0, 0, 255])] {
        let buffer = client.shm_buffer(640, 480, 640 * 4, wl_shm::Format::Xrgb8888);
        let frame = client.ext_capture(capture, &buffer);
        let got = client.ext_end(&frame, PATIENCE);
        assert!(got.ready, "{got:?}");
        frame.destroy();
        let under = buffer.count_unlike((48, 57, 8, 6), under_cursor, TOLERANCE);
        assert_eq!(
            under, 0,
            "{under} pixels under the cursor are not {under_cursor:?}"
        );
        let beside = buffer.count_unlike((60, 70, 20, 20), [255, 0, 0], TOLERANCE);
        assert_eq!(
            beside, 0,
            "{beside} pixels beside the cursor are not the window's blue"
        );
    }

    // It moves, then leaves the output.
    x.xdotool(&["mousemove", "--window", &window, "70", "65"]);
    let moved = client.wait_until(PATIENCE, |s| {
        s.cursor_reports(&cursor).last().map(String::as_str) == Some("position 70 65")
    });
    assert!(moved, "{:?}", client.state.cursor_reports(&cursor));
    x.xdotool(&["mousemove", "900", "700"]);
    let left = client.wait_until(PATIENCE, |s| {
        s.cursor_reports(&cursor).last().map(String::as_str) == Some("leave")
    });
    assert!(left, "{:?}", client.state.cursor_reports(&cursor));
}

/// The default theme's image of `icon` at 24 pixels, the size the
/// compositor is given (`support/compositor.rs`).
fn theme_image(icon: CursorIcon) -> xcursor::parser::Image {
    let theme = xcursor::CursorTheme::load("default");
    let path = std::iter::once(icon.name())
        .chain(icon.alt_names().iter().copied())
        .find_map(|name| theme.load_icon(name))
        .unwrap_or_else(|| panic!("no {icon} cursor: is adwaita-icon-theme installed?"));
    let images = xcursor::parser::parse_xcursor(&std::fs::read(path).unwrap()).unwrap();
    images
        .into_iter()
        .find(|image| image.size == 24)
        .expect("a 24-pixel image")
}

#[test]
fn a_cursor_shape_is_reported_and_captured_as_the_themes_image() {
    let CursorStage {
        x,
        session,
        mut client,
        _window,
        pointer,
        cursor,
        window,
    } = CursorStage::start();
    let image = cursor.get_capture_session(&client.qh, ());

    // The pointer over the window; the client names the text cursor.
    x.xdotool(&["mousemove", "--window", &window, "50", "60"]);
    let _device = client.set_cursor_shape(&pointer, Shape::Text, PATIENCE);
    let text = theme_image(CursorIcon::Text);
    let hotspot = format!("hotspot {} {}", text.xhot, text.yhot);
    let reported = client.wait_until(PATIENCE, |s| {
        let reports = s.cursor_reports(&cursor);
        reports.iter().any(|r| r == "position 50 60") && reports.last() == Some(&hotspot)
    });
    assert!(reported, "{:?}", client.state.cursor_reports(&cursor));
    // The image session takes the theme image's size…
    let (width, height) = (text.width as i32, text.height as i32);
    let sized = client.wait_until(PATIENCE, |s| {
        let constraints = s.announced(&image).constraints;
        constraints.ends_with(&[Constraint::Done])
            && constraints.contains(&Constraint::Size(width as u32, height as u32))
    });
    assert!(sized, "{:?}", client.state.announced(&image));
    // …and captures its pixels: ARGB8888, premultiplied, as the theme's
    // file holds them.
    let buffer = client.shm_buffer(width, height, width * 4, wl_shm::Format::Argb8888);
    let frame = client.ext_capture(&image, &buffer);
    let got = client.ext_end(&frame, PATIENCE);
    assert!(got.ready, "{got:?}");
    let captured = buffer.bytes();
    let unlike = captured
        .iter()
        .zip(&text.pixels_rgba)
        .filter(|(a, b)| a.abs_diff(**b) > TOLERANCE)
        .count();
    assert_eq!(unlike, 0, "{unlike} bytes of the captured cursor differ");

    // An output capture with `paint_cursors` shows the image with its
    // hotspot at the pointer: every opaque pixel of it, over the window.
    session.wait_for_content(PATIENCE);
    let source = client.output_source();
    let painted =
        client
            .ext
            .create_session(&source, manager::Options::PaintCursors, &client.qh, ());
    let announced = client.wait_until(PATIENCE, |s| {
        s.announced(&painted)
            .constraints
            .contains(&Constraint::Done)
    });
    assert!(announced, "{:?}", client.state.announced(&painted));
    let buffer = client.shm_buffer(640, 480, 640 * 4, wl_shm::Format::Xrgb8888);
    let frame = client.ext_capture(&painted, &buffer);
    let got = client.ext_end(&frame, PATIENCE);
    assert!(got.ready, "{got:?}");
    let (left, top) = (50 - text.xhot as i32, 60 - text.yhot as i32);
    let mut opaque = 0;
    for y in 0..height {
        for x in 0..width {
            let at = ((y * width + x) * 4) as usize;
            let theme = &text.pixels_rgba[at..at + 4];
            if theme[3] != 255 {
                continue;
            }
            opaque += 1;
            let got = buffer.pixel(left + x, top + y);
            let want = [theme[0], theme[1], theme[2]];
            assert!(
                got.iter()
                    .zip(want)
                    .all(|(a, b)| a.abs_diff(b) <= TOLERANCE),
                "the painted cursor at ({x}, {y}) is {got:?}, not {want:?}"
            );
        }
    }
    assert!(opaque > 0, "the theme's text cursor has no opaque pixel");
}

#[test]
fn the_window_shows_the_cursor_the_client_chose() {
    let CursorStage {
        x,
        session: _session,
        mut client,
        _window,
        pointer,
        cursor: _cursor,
        window,
    } = CursorStage::start();
    x.xdotool(&["mousemove", "--window", &window, "50", "60"]);

    // The client's own cursor surface: the X server shows its pixels and
    // hotspot.
    let _cursor = client.set_cursor(&pointer, (8, 6), 0xffff_0000, (2, 3), PATIENCE);
    let (shown, red) = x.wait_for_cursor(PATIENCE, |c| {
        c.size == (8, 6) && c.hotspot == (2, 3) && c.pixels.iter().all(|&p| p == 0xffff_0000)
    });
    assert!(
        red,
        "the window's cursor is not the client's: {:?} at {:?}, {:?}",
        shown.size, shown.hotspot, shown.name
    );

    // A shape: the desktop's cursor of that name.
    let _device = client.set_cursor_shape(&pointer, Shape::Text, PATIENCE);
    let (shown, named) = x.wait_for_cursor(PATIENCE, |c| c.name == "text");
    assert!(
        named,
        "the window's cursor is not the text cursor: {:?} at {:?}, {:?}",
        shown.size, shown.hotspot, shown.name
    );

    // Hidden: nothing is drawn over the window.
    client.hide_cursor(&pointer, PATIENCE);
    let (shown, hidden) = x.wait_for_cursor(PATIENCE, |c| c.pixels.iter().all(|&p| p >> 24 == 0));
    assert!(
        hidden,
        "the window's cursor is not hidden: {:?} at {:?}, {:?}",
        shown.size, shown.hotspot, shown.name
    );
}

#[test]
fn the_window_opens_on_a_wayland_desktop() {
    // The desktop: the headless compositor, dumping its frames.
    let mut desktop = Session::start((800, 600), &[]);
    let mut nested = desktop
        .command(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["run", "--backend", "nested", "--size", "640x480", "--"])
        .args([CLIENT, "--size", "256x192", "--frames", "0"])
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the nested compositor");
    let lines = Lines::new(nested.stdout.take().unwrap());
    // The desktop configures the nested window to its own size, less the
    // window's title bar (drawn by the window itself: the desktop offers no
    // server-side decorations), and the nested output follows.
    let configured = lines.expect("configured", PATIENCE);
    let (width, height) = configured
        .trim_start_matches("configured ")
        .split_once('x')
        .map(|(w, h)| (w.parse::<u32>().unwrap(), h.parse::<u32>().unwrap()))
        .unwrap();
    assert_eq!(width, 800, "{configured}");
    assert!(height < 600, "{configured}");
    lines.expect("frame 3", PATIENCE);

    // The desktop's frame shows the nested output: the test card at the
    // top left of the window's content, below the title bar.
    let card = Rgb::expected((256, 192), &[(0, (256, 192))]);
    let found = (0..100).find_map(|_| {
        std::thread::sleep(Duration::from_millis(200));
        let newest = desktop.frames().pop()?;
        let frame = Rgb::load(&newest);
        (0..=600 - 192).find(|&top| {
            (0..192).all(|y| {
                (0..256).all(|x| {
                    let want = card.pixel(x, y);
                    let got = frame.pixel(x, top + y);
                    want.iter()
                        .zip(got)
                        .all(|(a, b)| a.abs_diff(b) <= TOLERANCE)
                })
            })
        })
    });
    let _ = nested.kill();
    let _ = nested.wait();
    let top = found.unwrap_or_else(|| {
        panic!(
            "no frame of the desktop shows the nested test card (frames in {})",
            desktop.dir().display()
        )
    });
    assert_eq!(top, 600 - height, "the card sits right below the title bar");
    assert!(desktop.is_running());
}

#[test]
fn the_desktops_input_method_writes_into_a_nested_text_input() {
    const TEXT: &str = "vom Desktop: ünïcödé";
    // The desktop (the headless compositor) has an input method.
    let desktop = Session::start((800, 600), &[]);
    let (mut input_method, im_lines) = desktop.spawn_client(&["--input-method", TEXT]);
    im_lines.expect("input method ready", PATIENCE);

    // The nested window takes the desktop's keyboard when it maps; its
    // client's text input is entered and enabled, so the window asks for
    // the desktop's input method, which commits its text.
    let mut nested = desktop
        .command(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["run", "--backend", "nested", "--size", "320x240", "--"])
        .args([CLIENT, "--text-input", "--size", "64x64", "--stay"])
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the nested compositor");
    let lines = Lines::new(nested.stdout.take().unwrap());
    lines.expect("text-input enter", PATIENCE);
    im_lines.expect("input method activate", PATIENCE);
    im_lines.expect("committed", PATIENCE);
    let committed = lines.expect("commit_string", PATIENCE);
    let _ = nested.kill();
    let _ = nested.wait();
    let _ = input_method.kill();
    let _ = input_method.wait();
    assert_eq!(committed, format!("commit_string {TEXT}"));
}

#[test]
fn raw_mouse_motion_is_relative_motion_and_a_lock_holds_the_pointer() {
    let x = Xvfb::start(SCREEN);
    let session = Session::start_nested(x.display(), (640, 480), &[]);
    let mut w = Wire::connect(&session.dir().join("runtime"), session.socket());
    let seat = w.bind("wl_seat", 9);
    let pointer = w.new_id();
    w.send(seat, 0, &[Arg::NewId(pointer)]);
    let manager = w.bind("zwp_relative_pointer_manager_v1", 1);
    let relative = w.new_id();
    w.send(manager, 1, &[Arg::NewId(relative), Arg::Object(pointer)]);
    let (surface, xdg, _) = toplevel(&mut w);
    w.send(surface, 6, &[]);
    ack(&mut w, xdg);
    let picture = buffer(&mut w, 200, 150);
    w.send(
        surface,
        1,
        &[Arg::Object(picture), Arg::Int(0), Arg::Int(0)],
    );
    w.send(surface, 6, &[]);
    w.roundtrip();
    let window = x.window("dmabridge");
    x.xdotool(&["mousemove", "--window", &window, "50", "60"]);
    wait_for(&mut w, pointer, 0).expect("wl_pointer.enter");

    // The mouse moves: the client hears it as relative motion too.
    x.xdotool(&["mousemove_relative", "--", "10", "0"]);
    let heard = relative_motions_until(&mut w, relative, 1);
    assert_eq!(heard, [(10, 0)]);

    // Locked: the host's pointer moves (X cannot lock it), the client's
    // does not; the motion is still told.
    constraint(&mut w, 1, surface, pointer);
    let moved = motions(&w, pointer).len();
    x.xdotool(&["mousemove_relative", "--", "20", "5"]);
    let heard = relative_motions_until(&mut w, relative, 2);
    assert_eq!(heard, [(10, 0), (20, 5)]);
    assert_eq!(
        motions(&w, pointer).len(),
        moved,
        "the locked pointer moved"
    );
    assert_eq!(w.error(), None);
}

/// The lines of `log` (a client's `WAYLAND_DEBUG` output) that `wanted`
/// picks, as the log is now.
fn debug_lines_now(log: &std::path::Path, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| wanted(l))
        .map(str::to_owned)
        .collect()
}

/// The lines of `log` that `wanted` picks, once there are more than
/// `seen`, waiting at most [`PATIENCE`].
fn debug_lines(log: &std::path::Path, seen: usize, wanted: impl Fn(&str) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let lines = debug_lines_now(log, &wanted);
        if lines.len() > seen {
            return lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no new line of the kind wanted in {}:\n{}",
            log.display(),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The numbers between the parentheses of a `WAYLAND_DEBUG` line, e.g.
/// `[3456, 100.0, 50.0]` of
/// `wl_pointer@12.enter(3456, wl_surface@3, 100.00000000, 50.00000000)`:
/// object arguments are left out.
fn debug_args(line: &str) -> Vec<f64> {
    let inside = line
        .split_once('(')
        .and_then(|(_, rest)| rest.rsplit_once(')'))
        .map_or("", |(args, _)| args);
    inside
        .split(", ")
        .filter_map(|arg| arg.parse().ok())
        .collect()
}

/// Whether a `WAYLAND_DEBUG` line is a pointer event that says where the
/// pointer is on the surface (enter or motion).
fn pointer_position(line: &str) -> bool {
    line.contains("wl_pointer@") && (line.contains(".enter(") || line.contains(".motion("))
}

#[test]
fn a_gtk4_application_draws_at_scale_2_and_hears_pointer_and_keyboard() {
    let x = Xvfb::start(SCREEN);
    // 640×480 pixels at scale 2: 320×240 logical.
    let session = Session::start_nested_with(x.display(), (640, 480), &["--scale", "2"], &[]);
    let log = session.dir().join("gtk.log");
    let mut gtk = session
        .command("gtk4-widget-factory")
        // Cairo draws without GL; the protocol log goes to stderr.
        .env("GDK_BACKEND", "wayland")
        .env("GSK_RENDERER", "cairo")
        .env("WAYLAND_DEBUG", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting gtk4-widget-factory (Debian package gtk-4-examples, installed by tools/setup)");
    // wl_output.scale is 2, and GTK draws its buffers at that scale.
    debug_lines(&log, 0, |l| {
        l.contains("wl_output@") && l.ends_with(".scale(2)")
    });
    debug_lines(&log, 0, |l| l.ends_with(".set_buffer_scale(2)"));
    session.wait_for_content(PATIENCE);
    let window = x.window("dmabridge");
    x.xdotool(&["windowfocus", "--sync", &window]);
    // The pointer at window pixels (100, 100), then (200, 160): the
    // surface hears it move by half that, in logical pixels. Each place
    // is the last one heard once a new one came and things settled (an
    // enter from where the pointer was when the window appeared may come
    // late).
    let mut at = Vec::new();
    for (px, py) in [("100", "100"), ("200", "160")] {
        let seen = debug_lines_now(&log, pointer_position).len();
        x.xdotool(&["mousemove", "--window", &window, px, py]);
        debug_lines(&log, seen, pointer_position);
        std::thread::sleep(Duration::from_millis(300));
        let lines = debug_lines_now(&log, pointer_position);
        let args = debug_args(lines.last().expect("a line"));
        at.push((args[1], args[2]));
    }
    assert_eq!(
        (at[1].0 - at[0].0, at[1].1 - at[0].1),
        (50.0, 30.0),
        "the pointer's places on the surface: {at:?}"
    );
    // The window has the keyboard: a key reaches it (evdev KEY_A, 30).
    x.xdotool(&["key", "a"]);
    debug_lines(&log, 0, |l| {
        l.contains("wl_keyboard@") && l.contains(".key(") && debug_args(l).get(2) == Some(&30.0)
    });
    let _ = gtk.kill();
    let _ = gtk.wait();
}

/// What `wl-paste` (of the primary selection with `primary`) made by
/// `command` printed.
fn paste(command: &dyn Fn(&str) -> Command, primary: bool) -> String {
    let mut paste = command("wl-paste");
    if primary {
        paste.arg("--primary");
    }
    let out = paste
        .arg("--no-newline")
        .stderr(Stdio::null())
        .output()
        .expect("running wl-paste (tools/setup installs wl-clipboard)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What `wl-paste` made by `command` prints, asked again until it is
/// `want` or [`PATIENCE`] passed.
fn pasted(command: &dyn Fn(&str) -> Command, primary: bool, want: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = paste(command, primary);
        if got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `wl-copy --foreground text` made by `command`, left running once it
/// holds the selection (the primary one with `primary`). wl-copy takes the
/// selection when its surface gets the keyboard; a `wl-paste` that maps
/// its surface first makes wl-copy's request stale and refused
/// (tests/compositor_clients.rs), so a paste that finds nothing starts a
/// fresh wl-copy.
fn copied(command: &dyn Fn(&str) -> Command, text: &str, primary: bool) -> Child {
    let flag: &[&str] = if primary { &["--primary"] } else { &[] };
    for attempt in 1..=8u64 {
        let mut copy = command("wl-copy")
            .args(flag)
            .args(["--foreground", text])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting wl-copy (tools/setup installs wl-clipboard)");
        std::thread::sleep(Duration::from_millis(300 * attempt.min(4)));
        if paste(command, primary) == text {
            return copy;
        }
        let _ = copy.kill();
        let _ = copy.wait();
    }
    panic!("wl-copy never held {text:?}");
}

/// Waits until `log` has `count` lines with `what`; whether it had.
fn logged(log: &std::path::Path, what: &str, count: usize) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().filter(|line| line.contains(what)).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn text_crosses_between_the_desktop_and_the_nested_compositor() {
    // The desktop (the headless compositor) holds text in both selections
    // before the nested compositor starts.
    let desktop = Session::start((800, 600), &[]);
    let on_desktop = |program: &str| desktop.command(program);
    let mut copies = vec![
        copied(&on_desktop, "copied on the desktop", false),
        copied(&on_desktop, "selected on the desktop", true),
    ];

    // The nested window takes the desktop's keyboard when it maps, and
    // loads the desktop's selections.
    let log = desktop.dir().join("nested.stderr");
    let mut nested = desktop
        .command(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["run", "--backend", "nested", "--size", "320x240"])
        .env(
            "RUST_LOG",
            "warn,dmabridge::compositor::nested::clipboard=debug",
        )
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("starting the nested compositor");
    let lines = Lines::new(nested.stdout.take().unwrap());
    let socket = lines
        .expect("WAYLAND_DISPLAY=", PATIENCE)
        .trim_start_matches("WAYLAND_DISPLAY=")
        .to_owned();
    let in_nested = |program: &str| {
        let mut command = desktop.command(program);
        command.env("WAYLAND_DISPLAY", &socket);
        command
    };
    let from_desktop = [
        pasted(&in_nested, false, "copied on the desktop"),
        pasted(&in_nested, true, "selected on the desktop"),
    ];

    // A nested client's text goes to the desktop while the nested window
    // has its keyboard: each copy waits until its text was offered to the
    // desktop, since a paste on the desktop takes that keyboard away.
    copies.push(
        in_nested("wl-copy")
            .args(["--foreground", "copied in the nested compositor"])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting wl-copy"),
    );
    let offered = logged(&log, "text offered to the desktop", 1);
    copies.push(
        in_nested("wl-copy")
            .args([
                "--primary",
                "--foreground",
                "selected in the nested compositor",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("starting wl-copy"),
    );
    let offered = offered && logged(&log, "text offered to the desktop", 2);
    let from_nested = [
        pasted(&on_desktop, false, "copied in the nested compositor"),
        pasted(&on_desktop, true, "selected in the nested compositor"),
    ];

    for mut child in copies.into_iter().chain([nested]) {
        let _ = child.kill();
        let _ = child.wait();
    }
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        from_desktop,
        ["copied on the desktop", "selected on the desktop"],
        "{log}"
    );
    assert!(offered, "no text was offered to the desktop:\n{log}");
    assert_eq!(
        from_nested,
        [
            "copied in the nested compositor",
            "selected in the nested compositor"
        ],
        "{log}"
    );
}
