//! The headless compositor serving real clients in their own processes, on
//! lavapipe: what they draw reaches the dumped frames, a client's exit
//! status becomes the compositor's, a missing `XDG_RUNTIME_DIR` is made
//! privately, an unchanged scene costs no frame, and
//! malformed dma-buf requests get the protocol's errors while a
//! well-behaved client keeps getting frame callbacks.

#[path = "support/compositor.rs"]
mod support;

use std::time::Duration;

use support::Session;

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
