//! X11 clients from Debian (x11-apps, x11-utils) through Xwayland:
//! `dmabridge run` prints `DISPLAY`, starts Xwayland only when the first
//! X11 client connects (and again after it was killed), shows the client's window where it places its
//! windows (headless, in the dumped frames; nested, in the window on an
//! Xvfb desktop), lists and captures it as a toplevel, and gives it
//! pointer and keyboard input from the nested window.

#[path = "support/compositor.rs"]
mod support;
#[path = "support/xvfb.rs"]
mod xvfb;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Rgb, Session};
use xvfb::Xvfb;

/// Time for lavapipe and Xwayland to start, render and present.
const PATIENCE: Duration = Duration::from_secs(60);

/// The compositor's children that are running Xwayland processes.
fn xwayland_children(compositor: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "PID (COMM) STATE PPID …"; COMM has no ')' here.
        let Some((comm, rest)) = stat.split_once(") ") else {
            continue;
        };
        let mut fields = rest.split(' ');
        let running = fields.next() != Some("Z");
        let parent = fields.next().and_then(|p| p.parse::<u32>().ok());
        if comm.ends_with("(Xwayland") && parent == Some(compositor) && running {
            found.push(pid);
        }
    }
    found
}

/// An X11 client of `display`, its stdout piped; it must be installed
/// (`tools/setup`).
fn x11_client(display: &str, args: &[&str]) -> Child {
    Command::new(args[0])
        .args(&args[1..])
        .env("DISPLAY", display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {} (tools/setup installs it): {err}", args[0]))
}

#[test]
fn xwayland_starts_with_the_first_x11_client_whose_window_is_shown_listed_and_captured() {
    let session = Session::start((640, 480), &[]);
    let display = session
        .x11_display()
        .expect("the compositor printed DISPLAY")
        .to_owned();
    assert!(
        display.starts_with(':'),
        "DISPLAY={display} is no local display"
    );
    // No X11 client yet: no Xwayland, however long it waits.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        xwayland_children(session.pid()),
        [],
        "Xwayland runs before an X11 client connected"
    );

    let mut xlogo = x11_client(&display, &["xlogo", "-geometry", "120x90"]);
    session.wait_for_content(PATIENCE);
    assert_eq!(
        xwayland_children(session.pid()).len(),
        1,
        "one Xwayland serves the X11 client"
    );
    // The window stands at the top left of the output, at its own size
    // (a black logo on white, once xlogo drew it and no new frame came
    // for a while): every pixel of it is drawn, and nothing beside or
    // below it.
    let deadline = Instant::now() + PATIENCE;
    let frame = loop {
        let presented = session.frames().len();
        std::thread::sleep(Duration::from_millis(300));
        let frame = session.last_frame_with_content();
        let logo = frame.bytes.chunks(3).any(|p| p == [0, 0, 0])
            && frame.bytes.chunks(3).any(|p| p == [255, 255, 255]);
        if logo && session.frames().len() == presented {
            break frame;
        }
        assert!(Instant::now() < deadline, "xlogo's window never settled");
    };
    assert_eq!(
        frame.drawn((0, 0, 120, 90)),
        120 * 90,
        "the window's pixels"
    );
    assert_eq!(frame.drawn((120, 0, 520, 480)), 0, "right of the window");
    assert_eq!(frame.drawn((0, 90, 120, 390)), 0, "below the window");

    // It is a toplevel of ext-foreign-toplevel-list: its WM_CLASS class as
    // the app id and its title; capturing it gives the window at its size.
    let list = session
        .command(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["capture", "--list"])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.lines()
            .any(|l| l.starts_with("toplevel ") && l.ends_with(" XLogo \"xlogo\"")),
        "xlogo is not listed: {list}"
    );
    let picture = session.dir().join("xlogo.png");
    let status = session
        .command(env!("CARGO_BIN_EXE_dmabridge"))
        .args(["capture", "--toplevel", "XLogo", "-o"])
        .arg(&picture)
        .status()
        .unwrap();
    assert!(status.success(), "capturing the X11 window: {status}");
    let captured = Rgb::load(&picture);
    assert_eq!((captured.width, captured.height), (120, 90));
    let shown = &frame;
    assert_eq!(
        captured,
        Rgb {
            width: 120,
            height: 90,
            bytes: (0..90)
                .flat_map(|y| (0..120).flat_map(move |x| shown.pixel(x, y)))
                .collect(),
        },
        "the capture is not the window as the output shows it"
    );
    xlogo.kill().unwrap();
    xlogo.wait().unwrap();

    // Xwayland killed, the next X11 client starts a new one.
    let first = xwayland_children(session.pid());
    let status = Command::new("kill")
        .args(first.iter().map(u32::to_string))
        .status();
    assert!(status.unwrap().success(), "killing Xwayland {first:?}");
    let deadline = Instant::now() + PATIENCE;
    while !xwayland_children(session.pid()).is_empty() {
        assert!(Instant::now() < deadline, "Xwayland did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let root = x11_client(&display, &["xwininfo", "-root"])
        .wait_with_output()
        .unwrap();
    let root = String::from_utf8_lossy(&root.stdout);
    assert!(
        root.contains("Width: 640"),
        "xwininfo saw no root window of the output's size: {root}"
    );
    let second = xwayland_children(session.pid());
    assert!(
        second.len() == 1 && second != first,
        "Xwayland {first:?}, then {second:?}"
    );
}

#[test]
fn an_x11_client_in_the_nested_window_is_shown_and_hears_the_pointer_and_keyboard() {
    let x = Xvfb::start((1024, 768));
    // xev, started by the compositor with its DISPLAY, prints what it
    // hears on the compositor's stdout (flushed at each event).
    let session = Session::start_nested(
        x.display(),
        (640, 480),
        &[
            "xev",
            "-geometry",
            "200x150",
            "-event",
            "button",
            "-event",
            "keyboard",
        ],
    );
    let lines = session.lines();
    session.wait_for_content(PATIENCE);
    let window = x.window("dmabridge");
    let (wx, wy, _, _) = x.geometry(&window);
    // xev's window (white, with a black-bordered square) at the output's
    // top left, on the desktop; the output's background beside it.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let screen = x.screenshot((wx, wy, 640, 480));
        if screen.drawn((0, 0, 200, 150)) == 200 * 150 {
            assert_eq!(screen.drawn((200, 0, 440, 480)), 0, "right of xev");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "xev's window is not shown on the desktop"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A click at (50, 40) of the window reaches xev there…
    x.xdotool(&["windowfocus", "--sync", &window]);
    x.xdotool(&["mousemove", "--window", &window, "50", "40"]);
    x.xdotool(&["click", "1"]);
    lines.expect("ButtonPress event", PATIENCE);
    let place = lines.expect("    root", PATIENCE);
    assert!(
        place.contains(" (50,40),"),
        "the press was not at (50,40): {place}"
    );
    lines.expect("ButtonRelease event", PATIENCE);
    // …and so does a key, as the X key it is (evdev KEY_A, X keycode 38).
    x.xdotool(&["key", "a"]);
    lines.expect("KeyPress event", PATIENCE);
    let key = lines.expect("    state", PATIENCE);
    assert!(
        key.contains("keycode 38 (keysym 0x61, a)"),
        "not the key a: {key}"
    );
    lines.expect("KeyRelease event", PATIENCE);
}
