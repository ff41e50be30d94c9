//! The headless compositor serving real clients in their own processes, on
//! lavapipe: what they draw reaches the dumped frames, a client's exit
//! status becomes the compositor's, a missing `XDG_RUNTIME_DIR` is made
//! privately, an unchanged scene costs no frame, and
//! malformed dma-buf requests get the protocol's errors while a
//! well-behaved client keeps getting frame callbacks, only an
//! xdg-activation token from the client with the keyboard moves it,
//! windows that no longer fit side by side are cascaded where they are
//! seen, popups are kept on the output as their positioner allows, a popup
//! grab needs a press and ends with a click outside (input through the
//! embedded server), and an input method writes into the text input of
//! the window with the keyboard, and only while it has it.

#[path = "support/compositor.rs"]
mod support;
#[path = "support/wire.rs"]
mod wire;

use std::time::Duration;

use dmabridge::compositor::OutputConfig;
use dmabridge::compositor::embedded::Server;
use smithay::backend::input::ButtonState;
use smithay::utils::Transform;
use support::{Rgb, Session};
use wire::{
    Arg, Wire, ack, buffer, constraint, motions, relative_motions, relative_motions_until,
    toplevel, wait_for, xdg_surface,
};

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// Rendering is exact but the background is 0.1 × 255 = 25.5, rounded
/// either way.
const TOLERANCE: u8 = 1;

#[test]
fn an_shm_client_draws_the_test_card() {
    let mut session = Session::start((320, 240), &[CLIENT, "--size", "256x192", "--frames", "3"]);
    let status = session.wait(Duration::from_secs(120));
    assert!(status.success(), "the client failed: {status}");
    session.assert_shows_cards((320, 240), &[(0, (256, 192))], TOLERANCE);
}

/// An 8K window's first buffer goes up in bands of rows over several
/// refreshes before the window shows it: the rows meet where the bands do.
#[test]
fn an_8k_window_uploaded_in_bands_shows_its_test_card() {
    let args = [CLIENT, "--size", "7680x4320", "--frames", "1"];
    let mut session = Session::start((64, 1200), &args);
    let status = session.wait(Duration::from_secs(120));
    assert!(status.success(), "the client failed: {status}");
    session.assert_shows_cards((64, 1200), &[(0, (7680, 4320))], TOLERANCE);
}

#[test]
fn the_compositor_exits_with_its_clients_status() {
    let mut session = Session::start((64, 64), &[CLIENT, "--no-such-option"]);
    let status = session.wait(Duration::from_secs(60));
    // clap exits with 2 on a usage error.
    assert_eq!(status.code(), Some(2));
}

/// README's main job where no session manager made an `XDG_RUNTIME_DIR`
/// (a container, a CI job): the compositor makes a private one, says
/// where, serves its client there, and removes it when done.
#[test]
fn without_a_runtime_dir_the_compositor_makes_a_private_one() {
    let tmp = support::fresh_dir();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dmabridge"))
        .args([
            "run", "--size", "64x64", "--", CLIENT, "--size", "32x32", "--frames", "2",
        ])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("DISPLAY")
        .env("TMPDIR", &tmp)
        .output()
        .expect("running dmabridge");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout
        .lines()
        .find_map(|line| line.strip_prefix("XDG_RUNTIME_DIR="))
        .unwrap_or_else(|| panic!("no XDG_RUNTIME_DIR line in {stdout:?}"));
    assert!(
        dir.starts_with(tmp.to_str().unwrap()),
        "{dir} is not under TMPDIR"
    );
    assert!(stdout.contains("WAYLAND_DISPLAY=wayland-"), "{stdout:?}");
    assert!(!std::path::Path::new(dir).exists(), "{dir} was left behind");
}

#[test]
fn an_unchanged_scene_presents_no_new_frame() {
    let mut session = Session::start((64, 64), &[]);
    // Thirty refreshes at 30 Hz.
    std::thread::sleep(Duration::from_secs(1));
    assert!(session.is_running());
    assert_eq!(
        session.frames().len(),
        1,
        "only the first frame has damage: {:?}",
        session.frames()
    );
}

#[test]
fn malformed_dmabuf_params_get_the_protocol_error_and_others_keep_their_frames() {
    let mut session = Session::start((320, 240), &[]);
    let (mut good, lines) = session.spawn_client(&["--size", "64x64", "--frames", "0"]);
    lines.expect("frame 1", Duration::from_secs(60));
    // Each case with the error codes the protocol allows in answer.
    let cases: [(&str, &[u32]); 9] = [
        ("plane-index", &[1]),
        ("plane-set", &[2]),
        ("incomplete", &[3]),
        ("invalid-format", &[4]),
        ("invalid-dimensions", &[5]),
        ("out-of-bounds", &[6]),
        ("already-used", &[0]),
        ("not-dmabuf", &[7]),
        // A modifier the compositor did not advertise: refused as a format
        // or as a failed import.
        ("unsupported-modifier", &[4, 7]),
    ];
    for (case, codes) in cases {
        let out = session
            .client(&["--hostile", case])
            .output()
            .expect("running the hostile client");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{case}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            codes
                .iter()
                .any(|code| stdout.contains(&format!("error {code} zwp_linux_buffer_params_v1"))),
            "{case}: {stdout}"
        );
        // The well-behaved client's next frame still comes.
        let _ = lines.drain();
        lines.expect("frame", Duration::from_secs(10));
        assert!(session.is_running(), "the compositor died after {case}");
    }
    good.kill().unwrap();
    good.wait().unwrap();
}

/// An xdg-activation token made by a client that never had the keyboard
/// (a raw client with no surface at all).
fn token_of_an_unfocused_client(session: &Session) -> String {
    let mut w = Wire::connect(&session.dir().join("runtime"), session.socket());
    let activation = w.bind("xdg_activation_v1", 1);
    let token = w.new_id();
    w.send(activation, 1, &[Arg::NewId(token)]); // get_activation_token
    w.send(token, 3, &[]); // commit
    w.roundtrip();
    let done = w
        .events_of(token)
        .find(|e| e.opcode == 0)
        .expect("xdg_activation_token_v1.done");
    done.string(0)
}

#[test]
fn only_a_token_from_the_client_with_the_keyboard_activates_a_window() {
    const PATIENCE: Duration = Duration::from_secs(60);
    let session = Session::start((320, 240), &[]);
    let good = session.dir().join("good-token");
    let bad = session.dir().join("bad-token");
    let (good_path, bad_path) = (good.to_str().unwrap(), bad.to_str().unwrap());
    // A maps first and takes the keyboard; B maps next and takes it.
    let (mut a, a_lines) =
        session.spawn_client(&["--size", "64x64", "--stay", "--activate-with", good_path]);
    a_lines.expect("keyboard enter", PATIENCE);
    let (mut b, b_lines) = session.spawn_client(&[
        "--size",
        "64x64",
        "--stay",
        "--activation-token-out",
        good_path,
        "--activate-with",
        bad_path,
    ]);
    b_lines.expect("keyboard enter", PATIENCE);
    a_lines.expect("keyboard leave", PATIENCE);

    // B, with the keyboard, makes a token; A activates with it and gets
    // the keyboard back.
    b_lines.expect("token written", PATIENCE);
    a_lines.expect("activation requested", PATIENCE);
    a_lines.expect("keyboard enter", PATIENCE);
    b_lines.expect("keyboard leave", PATIENCE);

    // B, now without it, activates with a token of a client that never
    // had it: nothing moves.
    let token = token_of_an_unfocused_client(&session);
    std::fs::write(&bad, token).unwrap();
    b_lines.expect("activation requested", PATIENCE);
    std::thread::sleep(Duration::from_secs(1));
    let moved: Vec<String> = a_lines
        .drain()
        .into_iter()
        .chain(b_lines.drain())
        .filter(|line| line.starts_with("keyboard"))
        .collect();
    assert_eq!(moved, Vec::<String>::new(), "the keyboard moved");
    for child in [&mut a, &mut b] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Whether the newest dumped frame shows the input method's popup of
/// `dmabridge-client --input-popup` (colour 0x123456) at `at`.
fn shows_input_popup(session: &Session, at: (u32, u32)) -> bool {
    session
        .frames()
        .last()
        .is_some_and(|frame| Rgb::load(frame).pixel(at.0, at.1) == [0x12, 0x34, 0x56])
}

/// Waits at most `timeout` until [`shows_input_popup`] is `shown`.
fn wait_for_input_popup(session: &Session, at: (u32, u32), shown: bool, timeout: Duration) {
    let deadline = std::time::Instant::now() + timeout;
    while shows_input_popup(session, at) != shown {
        assert!(
            std::time::Instant::now() < deadline,
            "the input method's popup is {}shown at {at:?} (frames in {})",
            if shown { "not " } else { "still " },
            session.dir().display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_input_method_writes_into_the_text_input_with_the_keyboard_only() {
    const PATIENCE: Duration = Duration::from_secs(60);
    const TEXT: &str = "grüße, wörld";
    let session = Session::start((320, 240), &[]);
    let (mut im, im_lines) = session.spawn_client(&["--input-method", TEXT, "--input-popup"]);
    im_lines.expect("input method ready", PATIENCE);

    // The seat has its input method: a second one is unavailable.
    let second = session
        .client(&["--input-method", "other"])
        .output()
        .expect("running a second input method");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(second.status.success(), "{stdout}");
    assert!(stdout.contains("input method unavailable"), "{stdout}");

    // The window with a text input maps first, at the origin, and takes
    // the keyboard: its text input enables itself, the input method is
    // activated for it and commits its text.
    let (mut writer, writer_lines) =
        session.spawn_client(&["--text-input", "--size", "64x64", "--stay"]);
    writer_lines.expect("text-input enter", PATIENCE);
    im_lines.expect("input method activate", PATIENCE);
    // Spellcheck (2), email (6).
    assert_eq!(
        im_lines.expect("content type", PATIENCE),
        "content type 2 6"
    );
    im_lines.expect("committed", PATIENCE);
    assert_eq!(
        writer_lines.expect("commit_string", PATIENCE),
        format!("commit_string {TEXT}")
    );
    // The popup is under the text cursor (10, 20, 2×16): its middle.
    let popup_at = (10 + 8, 20 + 16 + 8);
    wait_for_input_popup(&session, popup_at, true, PATIENCE);

    // Another window takes the keyboard: the text input leaves, the input
    // method is deactivated and its popup goes.
    let (mut other, other_lines) = session.spawn_client(&["--size", "64x64", "--stay"]);
    other_lines.expect("keyboard enter", PATIENCE);
    writer_lines.expect("text-input leave", PATIENCE);
    im_lines.expect("input method deactivate", PATIENCE);
    wait_for_input_popup(&session, popup_at, false, PATIENCE);

    // Exactly the one text was committed, and nothing else written.
    std::thread::sleep(Duration::from_millis(500));
    let written: Vec<String> = writer_lines
        .drain()
        .into_iter()
        .filter(|l| l.starts_with("commit_string") || l.starts_with("preedit_string"))
        .chain(
            im_lines
                .drain()
                .into_iter()
                .filter(|l| l.starts_with("committed")),
        )
        .collect();
    assert_eq!(written, Vec::<String>::new(), "more text was written");
    for child in [&mut im, &mut writer, &mut other] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A popup of `parent` (an xdg_surface) of `size`, whose positioner has
/// `anchor_rect` and then each `(request, value)` of `settings` (anchor,
/// gravity, constraint adjustment: requests 3, 4 and 5); (xdg_popup, its
/// wl_surface). Neither grabbed nor committed yet.
fn popup(
    w: &mut Wire,
    parent: u32,
    size: (i32, i32),
    anchor_rect: [i32; 4],
    settings: &[(u16, u32)],
) -> (u32, u32) {
    let (wm_base, surface, xdg) = xdg_surface(w);
    let positioner = w.new_id();
    w.send(wm_base, 1, &[Arg::NewId(positioner)]);
    w.send(positioner, 1, &[Arg::Int(size.0), Arg::Int(size.1)]);
    w.send(positioner, 2, &anchor_rect.map(Arg::Int));
    for &(request, value) in settings {
        w.send(positioner, request, &[Arg::Uint(value)]);
    }
    let popup = w.new_id();
    let args = [
        Arg::NewId(popup),
        Arg::Object(parent),
        Arg::Object(positioner),
    ];
    w.send(xdg, 2, &args);
    (popup, surface)
}

/// The `xdg_popup.configure` a raw client gets for a 100×50 popup whose
/// anchor is the 10×10 square at (280, 200) of its parent (a toplevel at
/// the output's origin), placed below and right of that square's corner,
/// with `adjustment` (`xdg_positioner.constraint_adjustment` bits).
fn popup_configure(session: &Session, adjustment: u32) -> [i32; 4] {
    let mut w = Wire::connect(&session.dir().join("runtime"), session.socket());
    let (parent_surface, parent, _) = toplevel(&mut w);
    w.send(parent_surface, 6, &[]);
    // Anchor and gravity bottom_right (8).
    let settings = [(3, 8), (4, 8), (5, adjustment)];
    let (popup, surface) = popup(&mut w, parent, (100, 50), [280, 200, 10, 10], &settings);
    w.send(surface, 6, &[]);
    w.roundtrip();
    assert_eq!(w.error(), None);
    let configure = w
        .events_of(popup)
        .find(|e| e.opcode == 0)
        .expect("xdg_popup.configure");
    [0, 1, 2, 3].map(|n| configure.word(n) as i32)
}

#[test]
fn popups_are_kept_on_the_output_as_their_positioner_allows() {
    // Where the positioner puts it, the popup would reach (390, 260), past
    // the 320×240 output.
    let session = Session::start((320, 240), &[]);
    // No adjustment allowed: it stays where asked.
    assert_eq!(popup_configure(&session, 0), [290, 210, 100, 50]);
    // slide_x | slide_y: moved in until it fits.
    assert_eq!(popup_configure(&session, 1 | 2), [220, 190, 100, 50]);
    // flip_x | flip_y: to the other side of the anchor square.
    assert_eq!(popup_configure(&session, 4 | 8), [180, 150, 100, 50]);
    // resize_x | resize_y: cut to what is left of the output.
    assert_eq!(popup_configure(&session, 16 | 32), [290, 210, 30, 30]);
}

/// `BTN_LEFT` from `linux/input-event-codes.h`.
const BTN_LEFT: u32 = 0x110;

/// A 50×30 popup of `parent` (an xdg_surface) at its top left, grabbing
/// `seat` with `serial`, then committed; the xdg_popup.
fn grabbing_popup(w: &mut Wire, parent: u32, seat: u32, serial: u32) -> u32 {
    let (popup, surface) = popup(w, parent, (50, 30), [0, 0, 1, 1], &[]);
    w.send(popup, 1, &[Arg::Object(seat), Arg::Uint(serial)]);
    w.send(surface, 6, &[]);
    popup
}

/// The embedded compositor (a 320×240 output) with a raw client whose
/// 100×100 window is at the output's origin; (server, client, wl_seat,
/// wl_pointer, the window's wl_surface and xdg_surface).
fn embedded_with_a_window() -> (Server, Wire, u32, u32, u32, u32) {
    let server = Server::start(OutputConfig {
        size: (320, 240),
        refresh_hz: 60.0,
        scale: 1.0,
        transform: Transform::Normal,
        dump_frames: None,
    })
    .expect("starting the embedded compositor");
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    server.remote().insert_client(theirs).unwrap();
    let mut w = Wire::over(ours);
    let seat = w.bind("wl_seat", 9);
    let pointer = w.new_id();
    w.send(seat, 0, &[Arg::NewId(pointer)]);
    let (surface, xdg, _) = toplevel(&mut w);
    w.send(surface, 6, &[]);
    ack(&mut w, xdg);
    let window = buffer(&mut w, 100, 100);
    w.send(surface, 1, &[Arg::Object(window), Arg::Int(0), Arg::Int(0)]);
    w.send(surface, 6, &[]);
    w.roundtrip();
    (server, w, seat, pointer, surface, xdg)
}

/// A command returns once the compositor applied it and the events it
/// made are on the client's socket, so that a roundtrip begun after it is
/// answered after them: each motion here is read without waiting and
/// without a roundtrip.
#[test]
fn a_command_returns_once_its_events_were_sent() {
    let (server, mut w, _, pointer, _, _) = embedded_with_a_window();
    let remote = server.remote();
    remote.pointer_to((5.0, 50.0).into()).unwrap();
    wait_for(&mut w, pointer, 0).expect("the pointer entered the window");
    for x in 10..50 {
        remote.pointer_to((f64::from(x), 50.0).into()).unwrap();
        w.read(Duration::ZERO);
        assert_eq!(motions(&w, pointer).last(), Some(&(x, 50)), "at x = {x}");
    }
    assert_eq!(w.error(), None);
    server.stop().unwrap();
}

#[test]
fn a_popup_grab_needs_a_press_and_a_click_outside_dismisses_the_popup() {
    let (server, mut w, seat, pointer, _, parent) = embedded_with_a_window();
    let remote = server.remote();

    // A grab naming no press is denied: the popup is dismissed at once.
    let denied = grabbing_popup(&mut w, parent, seat, 12345);
    assert!(wait_for(&mut w, denied, 1).is_some(), "no popup_done");

    // A click on the window; a popup grabbing with its serial stays.
    remote.pointer_to((50.0, 50.0).into()).unwrap();
    remote
        .pointer_button(BTN_LEFT, ButtonState::Pressed)
        .unwrap();
    let serial = wait_for(&mut w, pointer, 3)
        .expect("the click reached the window")
        .word(0);
    let popup = grabbing_popup(&mut w, parent, seat, serial);
    remote
        .pointer_button(BTN_LEFT, ButtonState::Released)
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    w.roundtrip();
    assert_eq!(w.events_of(popup).filter(|e| e.opcode == 1).count(), 0);
    assert_eq!(w.error(), None);

    // A click outside the window and the popup dismisses it.
    remote.pointer_to((250.0, 200.0).into()).unwrap();
    remote
        .pointer_button(BTN_LEFT, ButtonState::Pressed)
        .unwrap();
    remote
        .pointer_button(BTN_LEFT, ButtonState::Released)
        .unwrap();
    assert!(wait_for(&mut w, popup, 1).is_some(), "no popup_done");
    assert_eq!(w.error(), None);
    server.stop().unwrap();
}

#[test]
fn relative_motion_is_reported_and_a_locked_or_confined_pointer_stays_put() {
    let (server, mut w, _, pointer, surface, _) = embedded_with_a_window();
    let remote = server.remote();
    let manager = w.bind("zwp_relative_pointer_manager_v1", 1);
    let relative = w.new_id();
    w.send(manager, 1, &[Arg::NewId(relative), Arg::Object(pointer)]);
    remote.pointer_to((50.0, 50.0).into()).unwrap();
    remote.pointer_by((10.0, 0.0).into()).unwrap();
    wait_for(&mut w, relative, 0).expect("relative motion");
    assert_eq!(relative_motions(&w, relative), [(10, 0)]);
    assert_eq!(motions(&w, pointer).last(), Some(&(60, 50)));

    // Locked, the pointer stays; the motion is still told.
    let lock = constraint(&mut w, 1, surface, pointer);
    let moved = motions(&w, pointer).len();
    remote.pointer_by((5.0, 5.0).into()).unwrap();
    remote.pointer_by((-3.0, 0.0).into()).unwrap();
    assert_eq!(
        relative_motions_until(&mut w, relative, 3),
        [(10, 0), (5, 5), (-3, 0)]
    );
    assert_eq!(
        motions(&w, pointer).len(),
        moved,
        "the locked pointer moved"
    );

    // Unlocked, then confined to the window: it stops at its last pixel.
    w.send(lock, 0, &[]);
    constraint(&mut w, 2, surface, pointer);
    remote.pointer_by((1000.0, 0.0).into()).unwrap();
    relative_motions_until(&mut w, relative, 4);
    assert_eq!(motions(&w, pointer).last(), Some(&(99, 50)));
    assert_eq!(w.error(), None);
    server.stop().unwrap();
}

#[test]
fn windows_that_do_not_fit_side_by_side_are_cascaded_on_the_output() {
    // Three 200×100 windows on a 320×240 output: the first at the top
    // left, the next two cascaded 32 pixels apart, the newest on top.
    let session = Session::start((320, 240), &[]);
    let colours = [
        ("ffff0000", [255, 0, 0]),
        ("ff00ff00", [0, 255, 0]),
        ("ff0000ff", [0, 0, 255]),
    ];
    let mut clients = Vec::new();
    for (argb, _) in colours {
        let (child, lines) =
            session.spawn_client(&["--size", "200x100", "--color", argb, "--stay"]);
        lines.expect("staying", Duration::from_secs(60));
        clients.push(child);
    }
    // A refresh at 30 Hz for the last window to be drawn.
    std::thread::sleep(Duration::from_millis(500));
    let frame = Rgb::load(session.frames().last().expect("a frame"));
    let [red, green, blue] = colours.map(|(_, rgb)| rgb);
    let background = Rgb::background((320, 240)).pixel(0, 0);
    for ((x, y), want) in [
        ((10, 10), red),
        ((40, 40), green),
        ((250, 150), blue),
        ((300, 20), background),
    ] {
        let got = frame.pixel(x, y);
        assert!(
            got.iter()
                .zip(want)
                .all(|(g, w)| g.abs_diff(w) <= TOLERANCE),
            "({x}, {y}) is {got:?}, not {want:?}"
        );
    }
    for mut child in clients {
        let _ = child.kill();
        let _ = child.wait();
    }
}
