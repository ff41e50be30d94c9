//! The compositor with real dma-bufs and fences, inside the test guest:
//! a udmabuf client's frame reaches the output, and a commit whose buffer
//! carries a pending write fence (vgem) is held until the fence signals
//! while another client's frames keep coming.

mod common;
#[path = "support/compositor.rs"]
mod support;

use std::time::{Duration, Instant};

use support::{Rgb, Session};

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// See tests/compositor_headless.rs.
const TOLERANCE: u8 = 1;

#[test]
fn a_udmabuf_client_draws_the_test_card() {
    common::require_guest();
    let mut session = Session::start(
        (320, 240),
        &[
            CLIENT, "--buffer", "udmabuf", "--size", "200x120", "--frames", "2",
        ],
    );
    let status = session.wait(Duration::from_secs(300));
    assert!(status.success(), "the client failed: {status}");
    session.assert_shows_cards((320, 240), &[(0, (200, 120))], TOLERANCE);
}

#[test]
fn a_fenced_commit_waits_for_its_fence_and_delays_no_one_else() {
    common::require_guest();
    let hold = Duration::from_secs(4);
    let session = Session::start((320, 240), &[]);
    // The other client: shm, committing as fast as frame callbacks come.
    let (mut other, other_lines) =
        session.spawn_client(&["--size", "32x32", "--frames", "0", "--color", "ff0000ff"]);
    other_lines.expect("frame 2", Duration::from_secs(120));
    // Its pace with nothing held, over as long as the hold will last: the
    // guest runs lavapipe under TCG, so the pace is measured, not assumed.
    let _ = other_lines.drain();
    std::thread::sleep(hold);
    let baseline = other_lines
        .drain()
        .iter()
        .filter(|l| l.starts_with("frame"))
        .count();

    let hold_ms = hold.as_millis().to_string();
    let (mut fenced, lines) = session.spawn_client(&[
        "--buffer",
        "udmabuf",
        "--size",
        "128x96",
        "--frames",
        "2",
        "--hold-fence",
        &hold_ms,
    ]);
    lines.expect("fenced commit", Duration::from_secs(60));
    let committed = Instant::now();
    let _ = other_lines.drain();
    lines.expect("signalled", hold + Duration::from_secs(30));
    let held = committed.elapsed();
    let others = other_lines
        .drain()
        .iter()
        .filter(|l| l.starts_with("frame"))
        .count();
    // The fenced commit's frame callback only comes once it was applied,
    // after the signal.
    lines.expect("frame 1", Duration::from_secs(60));
    assert!(
        held >= hold - Duration::from_millis(100),
        "held only {held:?}"
    );
    assert!(
        others >= 2 && 2 * others >= baseline,
        "the other client got {others} frame callbacks while the fence was pending, \
         {baseline} in as long before"
    );
    let status = fenced.wait().unwrap();
    assert!(status.success(), "the fenced client failed: {status}");

    // Windows sit left to right in the order they were mapped: the other
    // client's blue square, then the card the producer wrote just before
    // the signal. The fenced client has exited, and the newest frame may
    // already show its window gone: take the newest with both windows.
    let got = session
        .frames()
        .iter()
        .rev()
        .map(|path| Rgb::load(path))
        .find(|frame| frame.pixel(32 + 5, 5) == [255, 255, 255])
        .expect("a frame shows the card's first bar");
    assert_eq!(got.pixel(5, 5), [0, 0, 255], "the other client");
    assert_eq!(got.pixel(32 + 127, 5), [0, 0, 0], "the card's last bar");
    other.kill().unwrap();
    other.wait().unwrap();
}

#[test]
fn explicit_sync_holds_the_commit_until_the_acquire_point_and_signals_release() {
    common::require_guest();
    let hold = Duration::from_secs(3);
    let mut session = Session::start(
        (320, 240),
        &[
            CLIENT,
            "--buffer",
            "udmabuf",
            "--explicit-sync",
            "--size",
            "96x64",
            "--frames",
            "3",
            "--hold-fence",
            &hold.as_millis().to_string(),
        ],
    );
    let status = session.wait(Duration::from_secs(300));
    assert!(status.success(), "the client failed: {status}");
    let log = session.client_log();
    let position = |line: &str| {
        log.iter()
            .position(|l| l == line)
            .unwrap_or_else(|| panic!("no {line:?} in {log:?}"))
    };
    // The first frame is applied only once its acquire point signalled, and
    // the compositor signalled the release point of the buffer it replaced.
    assert!(position("signalled") < position("frame 1"), "{log:?}");
    position("released 2");
    let got = session.last_frame_with_content();
    assert_eq!(got.pixel(5, 5), [255, 255, 255], "the card's first bar");
    assert_eq!(got.pixel(95, 5), [0, 0, 0], "the card's last bar");
}
