//! What the compositor makes of a surface beyond one buffer, with
//! `dmabridge-client` in its own process on lavapipe: a subsurface is
//! composited at its offset and blended over its parent, a buffer of scale
//! 2 covers its logical size, an NV12 `wl_shm` buffer shows the colour of
//! its samples, and presentation feedback reports every commit at the
//! output's refresh.

#[path = "support/compositor.rs"]
mod support;

use std::time::Duration;

use support::{Rgb, Session};

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// The output, and the window's logical size in it (at `(0, 0)`).
const OUTPUT: (u32, u32) = (160, 120);
const WINDOW: (u32, u32) = (64, 48);

/// The parent's colour: opaque blue, `--color` 0xAARRGGBB.
const PARENT: &str = "ff0000ff";

/// The subsurface's 50% red (premultiplied 0x80800000) over the blue
/// parent: `src + dst × (1 − α)` with α = 128/255 gives red 128, blue
/// 255 × 127/255 = 127. The shader blends in `f32` and the background is
/// 0.1 × 255, so each channel may be off by one.
const BLENDED: [u8; 3] = [128, 0, 127];
const TOLERANCE: u8 = 1;

/// The frame of a window of [`WINDOW`] in [`PARENT`] with `--subsurface`:
/// the child, half the window's size, at a quarter of its width and
/// height.
fn window_with_subsurface() -> Rgb {
    let mut want = Rgb::background(OUTPUT);
    want.fill((0, 0), WINDOW, [0, 0, 255]);
    let (w, h) = WINDOW;
    want.fill((w / 4, h / 4), (w / 2, h / 2), BLENDED);
    want
}

/// Runs the client with `args` on a fresh compositor until it exits.
fn run_client(args: &[&str]) -> Session {
    let size = format!("{}x{}", WINDOW.0, WINDOW.1);
    let mut command = vec![CLIENT, "--size", &size, "--frames", "3"];
    command.extend(args);
    let mut session = Session::start(OUTPUT, &command);
    let status = session.wait(Duration::from_secs(120));
    assert!(status.success(), "the client failed: {status}");
    session
}

#[test]
fn a_subsurface_is_blended_over_its_parent_at_its_offset() {
    let session = run_client(&["--color", PARENT, "--subsurface"]);
    session.assert_shows(&window_with_subsurface(), TOLERANCE);
}

#[test]
fn buffers_of_scale_2_cover_the_logical_size() {
    // Every buffer twice the size in each direction, the subsurface's too:
    // the same picture as at scale 1, not one twice as large.
    let session = run_client(&["--color", PARENT, "--subsurface", "--scale", "2"]);
    session.assert_shows(&window_with_subsurface(), TOLERANCE);
}

#[test]
fn a_single_pixel_buffer_fills_its_viewport() {
    // The parent is a 1×1 wp_single_pixel_buffer_v1 stretched to the
    // window's size by its viewport; the subsurface blends over it as
    // over any buffer.
    let session = run_client(&[
        "--buffer",
        "single-pixel",
        "--color",
        PARENT,
        "--subsurface",
    ]);
    session.assert_shows(&window_with_subsurface(), TOLERANCE);
}

/// What the copy engine's CPU reference makes of a pixel of
/// `dmabridge-client --format nv12` (its `NV12_SAMPLES`: Y 0x90, Cb 0x50,
/// Cr 0xb0), as RGB.
fn nv12_colour() -> [u8; 3] {
    use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
    use dmabridge::copy::{CopyPlan, CopyRequest, Point, Rect, Size, Transform};
    let (y, cbcr) = ([0x90; 4], [0x50, 0xb0]);
    let src = ImageView::nv12(Size::new(2, 2), &y, 2, &cbcr, 2).expect("a 2×2 NV12 image");
    let mut bytes = [0; 16];
    let mut dst = ImageViewMut::packed(
        drm_fourcc::DrmFourcc::Xrgb8888,
        Size::new(2, 2),
        &mut bytes,
        8,
    )
    .expect("a 2×2 XRGB8888 image");
    let plan = CopyPlan::new(CopyRequest {
        src_size: Size::new(2, 2),
        dst_size: Size::new(2, 2),
        src_rect: Rect::new(Point::new(0, 0), Size::new(2, 2)),
        dst_rect: Rect::new(Point::new(0, 0), Size::new(2, 2)),
        transform: Transform::Normal,
        filter: None,
    })
    .expect("a 2×2 copy");
    reference::copy(&plan, &src, &mut dst).expect("the reference converts NV12");
    [bytes[2], bytes[1], bytes[0]]
}

#[test]
fn an_nv12_shm_buffer_shows_the_colour_of_its_samples() {
    // Its Y plane, then its CbCr plane in the same pool; opaque, so it
    // replaces the background under the window.
    let session = run_client(&["--format", "nv12"]);
    let mut want = Rgb::background(OUTPUT);
    want.fill((0, 0), WINDOW, nv12_colour());
    session.assert_shows(&want, TOLERANCE);
}

/// One `presented` line of the client: commit, time in nanoseconds,
/// refresh in nanoseconds, sequence.
#[derive(Debug, Clone, Copy)]
struct Presented {
    commit: u64,
    time: u128,
    refresh: u64,
    seq: u64,
}

/// Parses `presented COMMIT at SEC.NSEC refresh NS seq N`.
fn parse_presented(line: &str) -> Option<Presented> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [
        "presented",
        commit,
        "at",
        time,
        "refresh",
        refresh,
        "seq",
        seq,
    ] = words[..]
    else {
        return None;
    };
    let (sec, nsec) = time.split_once('.')?;
    Some(Presented {
        commit: commit.parse().ok()?,
        time: sec.parse::<u128>().ok()? * 1_000_000_000 + nsec.parse::<u128>().ok()?,
        refresh: refresh.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

#[test]
fn presentation_feedback_reports_each_commit_at_the_refresh() {
    const FRAMES: u64 = 12;
    // Session::start's output refreshes at 30 Hz.
    let refresh = 1_000_000_000 / 30;
    let frames = FRAMES.to_string();
    let mut session = Session::start(
        (64, 64),
        &[
            CLIENT,
            "--size",
            "32x32",
            "--presentation",
            "--frames",
            &frames,
        ],
    );
    let log = session.client_log_until("done", Duration::from_secs(120));
    let status = session.wait(Duration::from_secs(60));
    assert!(status.success(), "the client failed: {status}");
    let presented: Vec<Presented> = log.iter().filter_map(|l| parse_presented(l)).collect();
    let discarded = log.iter().filter(|l| l.starts_with("discarded")).count();
    // Each commit waits for the previous one's frame callback, so none is
    // replaced before it is shown.
    assert_eq!(
        (presented.len(), discarded),
        (FRAMES as usize, 0),
        "one answer a commit: {log:#?}"
    );
    for (p, commit) in presented.iter().zip(1..) {
        assert_eq!(p.commit, commit, "answers in commit order: {log:#?}");
        assert!(
            p.refresh.abs_diff(refresh) <= 1,
            "refresh {} ns, not the output's {refresh} ns",
            p.refresh
        );
    }
    let gaps: Vec<u128> = presented
        .windows(2)
        .map(|pair| {
            assert!(
                pair[1].seq > pair[0].seq && pair[1].time > pair[0].time,
                "sequence and time go forward: {pair:?}"
            );
            pair[1].time - pair[0].time
        })
        .collect();
    // A commit is presented at the refresh after the callback that let the
    // client draw it; a busy build machine may make the client miss one,
    // so the typical gap is what has to match.
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let refresh = u128::from(refresh);
    assert!(
        (refresh / 2..=refresh * 3 / 2).contains(&median),
        "median gap {median} ns, refresh {refresh} ns: {gaps:?}"
    );
}
