//! Clients from Debian's archive against the headless compositor:
//! `wayland-info` (package wayland-utils) sees every global the compositor
//! promises, and weston's demo clients `weston-simple-shm` and
//! `weston-simple-damage` (package weston; the latter through wp_viewporter
//! and a buffer transform) run and reach the output; wl-clipboard's
//! `wl-copy` and `wl-paste` carry text through the clipboard and the
//! primary selection; the terminal foot runs and is told to draw its own
//! decorations. `tools/setup` installs these
//! packages.

#[path = "support/compositor.rs"]
mod support;

use std::process::Stdio;
use std::time::Duration;

use support::{Rgb, Session};

/// Runs `program` from Debian against `session` for `time`, then checks
/// that it was still running (no protocol error killed it) and stops it.
/// Returns what it wrote to stderr.
fn runs_for(session: &Session, program: &str, args: &[&str], time: Duration) -> String {
    runs_for_with(session, program, args, &[], time)
}

/// [`runs_for`] with `env` set for the program.
fn runs_for_with(
    session: &Session,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
    time: Duration,
) -> String {
    // A file rather than a pipe: a chatty program never blocks on it.
    let log = session.dir().join(format!("{program}.stderr"));
    let mut child = std::process::Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env("XDG_RUNTIME_DIR", session.dir().join("runtime"))
        .env("WAYLAND_DISPLAY", session.socket())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap_or_else(|err| panic!("starting {program} (tools/setup installs it): {err}"));
    std::thread::sleep(time);
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let stderr = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        exited.is_none(),
        "{program} exited early: {exited:?}\n{stderr}"
    );
    stderr
}

/// Whether the newest frame shows anything but the background.
fn last_frame_has_content(session: &Session) -> bool {
    Rgb::load(session.frames().last().expect("frames were dumped")).has_content()
}

#[test]
fn wayland_info_lists_every_global() {
    let session = Session::start((320, 240), &[]);
    let out = std::process::Command::new("wayland-info")
        .env("XDG_RUNTIME_DIR", session.dir().join("runtime"))
        .env("WAYLAND_DISPLAY", session.socket())
        .output()
        .expect("running wayland-info (tools/setup installs wayland-utils)");
    assert!(out.status.success(), "wayland-info failed");
    let info = String::from_utf8_lossy(&out.stdout);
    for global in [
        "wl_compositor",
        "wl_subcompositor",
        "wl_shm",
        "xdg_wm_base",
        "wl_output",
        "zxdg_output_manager_v1",
        "wl_seat",
        "zwp_linux_dmabuf_v1",
        "wp_presentation",
        "wp_viewporter",
        "wl_data_device_manager",
        "zwp_primary_selection_device_manager_v1",
        "zxdg_decoration_manager_v1",
        "wp_single_pixel_buffer_manager_v1",
        "xdg_activation_v1",
        "zwp_relative_pointer_manager_v1",
        "zwp_pointer_constraints_v1",
        "dmabridge_buffer_copy_manager_v1",
        "wp_fractional_scale_manager_v1",
        "wp_content_type_manager_v1",
        "zwp_idle_inhibit_manager_v1",
        "zwp_text_input_manager_v3",
        "zwp_input_method_manager_v2",
    ] {
        assert!(
            info.contains(&format!("'{global}'")),
            "no {global}:\n{info}"
        );
    }
    // wl_shm offers every format the renderer reads from memory: the two
    // every compositor must, and their RGBA-ordered twins.
    for fourcc in ["'AR24'", "'XR24'", "'AB24'", "'XB24'"] {
        assert!(info.contains(fourcc), "wl_shm lacks {fourcc}:\n{info}");
    }
}

#[test]
fn weston_simple_shm_runs_and_reaches_the_output() {
    let session = Session::start((320, 240), &[]);
    runs_for(&session, "weston-simple-shm", &[], Duration::from_secs(3));
    assert!(
        session.frames().len() > 5,
        "frames: {}",
        session.frames().len()
    );
    assert!(last_frame_has_content(&session));
}

#[test]
fn weston_simple_damage_with_a_viewport_and_a_transform() {
    let session = Session::start((320, 240), &[]);
    runs_for(
        &session,
        "weston-simple-damage",
        &["--use-viewport", "--transform=90"],
        Duration::from_secs(3),
    );
    assert!(
        session.frames().len() > 5,
        "frames: {}",
        session.frames().len()
    );
    assert!(last_frame_has_content(&session));
}

/// `wl-copy` serving `text` (in the primary selection with `primary`),
/// then `wl-paste` reading it back, each a client of its own; what was
/// pasted.
///
/// wl-copy takes the selection when its surface gets the keyboard. A
/// `wl-paste` that maps its own surface first takes the keyboard away, and
/// then wl-copy's request carries a stale serial and is rightly refused;
/// so each attempt gives wl-copy time to take the selection first, and a
/// refused attempt starts a fresh wl-copy.
fn copy_then_paste(session: &Session, text: &str, primary: bool) -> String {
    let flag: &[&str] = if primary { &["--primary"] } else { &[] };
    let mut pasted = String::new();
    for attempt in 1..=8u64 {
        let mut copy = session
            .command("wl-copy")
            .args(flag)
            .args(["--foreground", text])
            .spawn()
            .expect("starting wl-copy (tools/setup installs wl-clipboard)");
        std::thread::sleep(Duration::from_millis(300 * attempt.min(4)));
        let out = session
            .command("wl-paste")
            .args(flag)
            .arg("--no-newline")
            .output()
            .expect("running wl-paste");
        let _ = copy.kill();
        let _ = copy.wait();
        pasted = String::from_utf8_lossy(&out.stdout).into_owned();
        if pasted == text {
            break;
        }
    }
    pasted
}

#[test]
fn text_goes_through_the_clipboard_and_the_primary_selection() {
    let session = Session::start((320, 240), &[]);
    assert_eq!(
        copy_then_paste(&session, "copied through wl_data_device", false),
        "copied through wl_data_device"
    );
    assert_eq!(
        copy_then_paste(&session, "selected through zwp_primary_selection", true),
        "selected through zwp_primary_selection"
    );
    // The clipboard still holds its own text, separate from the primary
    // selection's, after its owner left: nothing (wl-copy is gone).
    let out = session
        .command("wl-paste")
        .arg("--no-newline")
        .output()
        .expect("running wl-paste");
    assert!(
        !out.status.success(),
        "a selection without an owner pasted {:?}",
        out.stdout
    );
}

#[test]
fn the_foot_terminal_runs_and_is_told_to_draw_its_decorations() {
    // foot exits at start without a clipboard ("no clipboard available").
    // It prefers server-side decorations; the compositor draws none, so
    // the answer must be client_side (1), and foot draws its own.
    let session = Session::start((640, 480), &[]);
    let log = runs_for_with(
        &session,
        "foot",
        &[],
        &[("WAYLAND_DEBUG", "1")],
        Duration::from_secs(3),
    );
    assert!(
        log.contains("zxdg_decoration_manager_v1") && log.contains(".get_toplevel_decoration("),
        "foot did not ask for decorations:\n{log}"
    );
    let modes: Vec<&str> = log
        .lines()
        .filter(|line| {
            line.contains("zxdg_toplevel_decoration_v1@") && line.contains(".configure(")
        })
        .collect();
    assert!(
        !modes.is_empty() && modes.iter().all(|line| line.contains(".configure(1)")),
        "decoration configures: {modes:?}"
    );
    assert!(last_frame_has_content(&session), "foot drew nothing");
}
