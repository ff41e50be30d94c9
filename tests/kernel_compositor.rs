//! The compositor with real dma-bufs and fences, inside the test guest:
//! a udmabuf client's frame reaches the output, shared with LINEAR or with
//! the implicit modifier (a udmabuf is linear), stored bottom row first
//! (`Y_INVERT`) and shown upright; a commit whose buffer
//! carries a pending write fence (vgem) is held until the fence signals
//! while another client's frames keep coming. The same holds for capture:
//! an ext-image-copy-capture frame into a client's udmabuf waits for the
//! buffer's pending write fence, delays no one else, and is `ready` only
//! once the copy's own fence on the buffer signalled; the test is the
//! capture client, in process (tests/support/capture_client.rs).

#[path = "support/capture_client.rs"]
mod capture_client;
mod common;
#[path = "support/compositor.rs"]
mod support;

use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use capture_client::{Client, Constraint};
use dmabridge::alloc::{DmabufAllocator as _, FenceAccess, NodeKind, Udmabuf, Vgem, drm_nodes};
use dmabridge::dmabuf::Access;
use dmabridge::sync::{SyncAccess, SyncFile};
use drm_fourcc::{DrmFourcc, DrmModifier};
use support::{CLEAR, Lines, Rgb, Session};
use wayland_client::WEnum;
use wayland_client::protocol::{wl_callback::WlCallback, wl_output};
use wayland_protocols::ext::image_copy_capture::v1::client::ext_image_copy_capture_frame_v1::ExtImageCopyCaptureFrameV1;

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// See tests/compositor_headless.rs.
const TOLERANCE: u8 = 1;

/// `dmabridge-client` with a 200×120 udmabuf window and `options`, two
/// frames: its test card reaches the output.
fn a_udmabuf_window_shows_the_test_card(options: &[&str]) {
    common::require_guest();
    let mut client = vec![
        CLIENT, "--buffer", "udmabuf", "--size", "200x120", "--frames", "2",
    ];
    client.extend(options);
    let mut session = Session::start((320, 240), &client);
    let status = session.wait(Duration::from_secs(300));
    assert!(status.success(), "the client failed: {status}");
    session.assert_shows_cards((320, 240), &[(0, (200, 120))], TOLERANCE);
}

#[test]
fn a_udmabuf_client_draws_the_test_card() {
    a_udmabuf_window_shows_the_test_card(&[]);
}

/// A udmabuf shared with the implicit modifier, as GBM shares buffers
/// without explicit modifiers, is read as the LINEAR buffer it is.
#[test]
fn a_udmabuf_with_the_implicit_modifier_is_drawn() {
    a_udmabuf_window_shows_the_test_card(&["--implicit-modifier"]);
}

/// A udmabuf stored bottom row first and shared with `Y_INVERT`, as GL
/// clients share theirs, is shown upright.
#[test]
fn a_y_inverted_udmabuf_is_drawn_upright() {
    a_udmabuf_window_shows_the_test_card(&["--y-invert"]);
}

/// A GL client from Debian's archive: weston's `simple-dmabuf-egl` on
/// Mesa's GBM over vgem, rendering in software (kms_swrast). It shares dumb
/// buffers with the implicit modifier, exported without `DRM_RDWR`, so
/// read-only, which lavapipe cannot import (it maps what it imports for
/// writing). The compositor takes them as the linear buffers they are
/// (every DRM device here makes only linear ones) and copies each commit
/// under a read bracket: the client's square is shown upright, in its
/// vertex colours, green at the top left, yellow at the top right, red at
/// the bottom left and blue at the bottom right.
#[test]
fn a_gbm_egl_client_on_vgem_is_drawn_upright() {
    common::require_guest();
    let vgem = drm_nodes()
        .into_iter()
        .find(|n| n.driver == "vgem" && n.kind == NodeKind::Primary)
        .expect("vgem's primary node (the guest loads vgem)");
    let session = Session::start((256, 256), &[]);
    let mut client = session
        .command("weston-simple-dmabuf-egl")
        .arg(format!("--drm-render-node={}", vgem.path.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting weston-simple-dmabuf-egl (tools/setup installs weston)");
    let errors = Lines::new(client.stderr.take().unwrap());
    // The first frame that draws the square compiles the copy shader's
    // blend under the guest's emulated CPU: allow for it.
    let deadline = Instant::now() + Duration::from_secs(240);
    let square = loop {
        let newest = session.frames().pop().map(|path| Rgb::load(&path));
        if let Some(square) = newest.as_ref().and_then(square_corners) {
            break square;
        }
        assert!(
            Instant::now() < deadline,
            "no frame shows the client's square: {:?}",
            errors.drain()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    client.kill().unwrap();
    client.wait().unwrap();
    let refused: Vec<String> = errors
        .drain()
        .into_iter()
        .filter(|line| line.contains("failed"))
        .collect();
    assert!(
        refused.is_empty(),
        "the client's buffers failed: {refused:?}"
    );
    let dominant = |[r, g, b]: [u8; 3]| {
        let max = r.max(g).max(b);
        [r == max, g == max, b == max]
    };
    let [top_left, top_right, bottom_left, bottom_right] = square;
    assert_eq!(
        dominant(top_left),
        [false, true, false],
        "green: {top_left:?}"
    );
    assert!(
        top_right[0] > 150 && top_right[1] > 150 && top_right[2] < 100,
        "yellow: {top_right:?}"
    );
    assert_eq!(
        dominant(bottom_left),
        [true, false, false],
        "red: {bottom_left:?}"
    );
    assert_eq!(
        dominant(bottom_right),
        [false, false, true],
        "blue: {bottom_right:?}"
    );
}

/// The colours just inside the corners of the bright square in `frame`
/// (pixels with a channel above 100, over the dark background): top left,
/// top right, bottom left, bottom right; `None` without one at least 32
/// pixels wide and high.
fn square_corners(frame: &Rgb) -> Option<[[u8; 3]; 4]> {
    let (width, height) = (frame.width, frame.height);
    let bright = |x, y| frame.pixel(x, y).iter().any(|&c| c > 100);
    let (mut left, mut top, mut right, mut bottom) = (width, height, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if bright(x, y) {
                (left, top) = (left.min(x), top.min(y));
                (right, bottom) = (right.max(x), bottom.max(y));
            }
        }
    }
    if right < left + 32 || bottom < top + 32 {
        return None;
    }
    let inset = 4;
    Some([
        frame.pixel(left + inset, top + inset),
        frame.pixel(right - inset, top + inset),
        frame.pixel(left + inset, bottom - inset),
        frame.pixel(right - inset, bottom - inset),
    ])
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

/// How long the capture's destination stays fenced, with no `ready` allowed.
/// vgem signals a fence itself about 10 s after it was attached, so this
/// stays well below that.
const CAPTURE_HOLD: Duration = Duration::from_secs(4);

#[test]
fn a_capture_into_a_dmabuf_waits_for_its_fence_and_holds_the_output_picture() {
    common::require_guest();
    let output = (320, 240);
    let session = Session::start(output, &[]);
    // The picture to capture: the test card, still.
    let (mut card, card_lines) =
        session.spawn_client(&["--size", "200x120", "--frames", "1", "--stay"]);
    card_lines.expect("staying", Duration::from_secs(120));
    session.wait_for_content(Duration::from_secs(120));
    // The other client: shm, committing as fast as frame callbacks come.
    let (mut other, other_lines) =
        session.spawn_client(&["--size", "32x32", "--frames", "0", "--color", "ff0000ff"]);
    other_lines.expect("frame 2", Duration::from_secs(120));
    // Its pace with nothing held, over as long as the hold will last.
    let _ = other_lines.drain();
    std::thread::sleep(CAPTURE_HOLD);
    let baseline = frame_lines(&other_lines.drain());

    // 1. The session and what it accepts.
    let mut client = Client::connect(
        &session.dir().join("runtime").join(session.socket()),
        output,
    );
    let source = client.output_source();
    let capture = client.session_within(&source, Duration::from_secs(60));
    let announced = client.state.announced(&capture);
    assert!(!announced.stopped, "the output's session stopped");
    let (width, height) = announced
        .constraints
        .iter()
        .find_map(|c| match c {
            Constraint::Size(width, height) => Some((*width, *height)),
            _ => None,
        })
        .expect("a buffer_size event");
    assert_eq!((width, height), output, "buffer_size");
    let dmabuf = client.state.dmabuf_constraints(&capture);
    let device = dmabuf
        .device
        .expect("a dmabuf_device event (the guest has DRM render nodes)");
    let render_nodes: Vec<(PathBuf, u64)> = drm_nodes()
        .into_iter()
        .filter(|n| n.kind == NodeKind::Render)
        .map(|n| {
            let rdev = std::fs::metadata(&n.path).unwrap().rdev();
            (n.path, rdev)
        })
        .collect();
    assert!(
        render_nodes.iter().any(|(_, rdev)| *rdev == device),
        "dmabuf_device {device:#x} is none of the render nodes {render_nodes:x?}"
    );
    let linear = u64::from(DrmModifier::Linear);
    let xrgb = DrmFourcc::Xrgb8888 as u32;
    assert_eq!(
        dmabuf.formats.first().map(|(format, _)| *format),
        Some(xrgb),
        "XRGB8888 first among the dmabuf_format events: {:x?}",
        dmabuf.formats
    );
    assert!(
        dmabuf
            .formats
            .iter()
            .any(|(format, modifiers)| *format == xrgb && modifiers.contains(&linear)),
        "XRGB8888 with the LINEAR modifier: {:x?}",
        dmabuf.formats
    );

    // 2. The destination: a udmabuf of the session's size, LINEAR, as a
    // wl_buffer the compositor accepted.
    let mut destination = Udmabuf::open()
        .unwrap()
        .allocate(DrmFourcc::Xrgb8888, width, height)
        .expect("a udmabuf for the capture");
    assert_eq!(destination.modifier(), DrmModifier::Linear);
    let stride = destination.planes()[0].stride();
    let buffer = client.dmabuf_buffer(&destination);

    // 3. The client's own pending write on it: a vgem fence moved into the
    // udmabuf with DMA_BUF_IOCTL_IMPORT_SYNC_FILE.
    let vgem = Vgem::open().expect("vgem (the guest loads it)");
    let fenced = vgem.alloc(64, 64, DrmFourcc::Xrgb8888, 32).unwrap();
    let fence = vgem.attach_fence(&fenced, FenceAccess::Write).unwrap();
    let fenced_at = Instant::now();
    let write = SyncFile::export_from_dmabuf(fenced.dmabuf(), SyncAccess::Read).unwrap();
    destination
        .import_sync_file(&write, SyncAccess::Write)
        .unwrap();
    assert!(
        !destination
            .export_sync_file(SyncAccess::Read)
            .unwrap()
            .is_signalled()
            .unwrap(),
        "the udmabuf carries the pending write fence"
    );

    let frame = client.ext_capture_into(&capture, &buffer, (width as i32, height as i32));
    // Whether the compositor's loop stays free while the copy is held.
    let sync = client.sync();
    let _ = other_lines.drain();
    let mut watch = Watch::new(&frame, &sync);
    let ended = watch.run(&mut client, &other_lines, CAPTURE_HOLD);
    let during_hold = watch.clone();
    assert!(
        !ended,
        "the frame ended while its buffer's write fence was pending: {:?}",
        client.state.ext_frame(&frame)
    );
    assert!(
        fenced_at.elapsed() < Duration::from_secs(8),
        "the hold ran too close to vgem's own fence timeout: {:?}",
        fenced_at.elapsed()
    );
    vgem.signal(fence).expect("signalling the vgem fence");
    let signalled = watch.start.elapsed();
    let ended = watch.run(&mut client, &other_lines, Duration::from_secs(60));
    let delivered = watch.start.elapsed() - signalled;
    let got = client.state.ext_frame(&frame);
    assert!(ended, "no `ready` within 60 s of the signal: {got:?}");
    // transform normal, damage (the session's first frame: all of it),
    // presentation_time, then ready, and nothing else.
    let events = &got.events;
    assert_eq!(events.last(), Some(&"ready"), "the frame's events: {got:?}");
    assert!(
        got.transforms
            .contains(&WEnum::Value(wl_output::Transform::Normal)),
        "{got:?}"
    );
    assert!(
        got.damage.contains(&[0, 0, width as i32, height as i32]),
        "{got:?}"
    );
    let ready_at = events.len() - 1;
    let position = |wanted: &str| {
        events
            .iter()
            .position(|e| *e == wanted)
            .unwrap_or_else(|| panic!("no {wanted}: {got:?}"))
    };
    assert!(
        position("transform") < ready_at
            && position("damage") < ready_at
            && position("presentation_time") < ready_at,
        "{got:?}"
    );
    assert!(got.failed.is_none(), "{got:?}");

    // 4. After ready the buffer's fences have signalled, and it holds the
    // output's picture.
    assert!(
        destination
            .export_sync_file(SyncAccess::Read)
            .unwrap()
            .is_signalled()
            .unwrap(),
        "a write fence on the udmabuf is still pending after `ready` \
         (ready came {delivered:?} after the signal)"
    );
    let got = {
        let access = destination.begin_cpu_access(Access::Read).unwrap();
        let bytes = access.plane(0);
        let mut rgb = Vec::with_capacity((width * height * 3) as usize);
        for row in bytes.chunks(stride as usize).take(height as usize) {
            for pixel in row[..(width * 4) as usize].chunks(4) {
                // XRGB8888 in memory: B, G, R, X.
                rgb.extend([pixel[2], pixel[1], pixel[0]]);
            }
        }
        Rgb {
            width,
            height,
            bytes: rgb,
        }
    };
    assert_eq!(got.pixel(5, 5), [255, 255, 255], "the card's first bar");
    let background = got.pixel(310, 230);
    assert!(
        background
            .iter()
            .zip(CLEAR)
            .all(|(a, b)| a.abs_diff(b) <= TOLERANCE),
        "the background: {background:?}"
    );
    // The whole picture: the card, then the other client's blue square, in
    // the order they were mapped.
    let mut want = Rgb::expected(output, &[(0, (200, 120))]);
    want.fill((200, 0), (32, 32), [0, 0, 255]);
    let bad = got.count_differences(&want, TOLERANCE, session.dir());
    assert_eq!(
        bad,
        0,
        "{bad} pixels of the capture differ (pictures in {})",
        session.dir().display()
    );

    // A capture never blocks the compositor's loop, nor delays another
    // client's frames. Checked last, so that a failure here shows that the
    // copy itself was right. Timings are from the capture request.
    let timings = format!(
        "the fence was signalled at {signalled:?} and the frame ended {delivered:?} later; \
         the compositor answered a wl_display.sync sent with the request at {:?}, \
         the other client's frame callbacks came at {:?}",
        watch.synced, watch.other_frames
    );
    assert!(
        during_hold.synced.is_some(),
        "the compositor's loop did not answer while the capture was held: {timings}"
    );
    let others = during_hold.other_frames.len();
    assert!(
        others >= 2 && 2 * others >= baseline,
        "the other client got {others} frame callbacks while the capture was held, \
         {baseline} in as long before: {timings}"
    );

    frame.destroy();
    capture.destroy();
    buffer.destroy();
    client.roundtrip();
    other.kill().unwrap();
    other.wait().unwrap();
    card.kill().unwrap();
    card.wait().unwrap();
}

/// What the test saw while it waited for a capture: when, after the
/// capture request, the other client printed each `frame N` and the
/// compositor answered the `wl_display.sync` sent with the request.
#[derive(Debug, Clone)]
struct Watch {
    /// The frame waited for.
    frame: ExtImageCopyCaptureFrameV1,
    /// The `wl_display.sync` sent with the capture request.
    sync: WlCallback,
    start: Instant,
    other_frames: Vec<Duration>,
    synced: Option<Duration>,
}

impl Watch {
    /// Slices of this length between looks at the other client.
    const SLICE: Duration = Duration::from_millis(100);

    fn new(frame: &ExtImageCopyCaptureFrameV1, sync: &WlCallback) -> Self {
        Self {
            frame: frame.clone(),
            sync: sync.clone(),
            start: Instant::now(),
            other_frames: Vec::new(),
            synced: None,
        }
    }

    /// Dispatches `client`'s events until the frame ended, at most
    /// `timeout`, noting the other client's frames and the sync's answer as
    /// they come; whether the frame ended.
    fn run(&mut self, client: &mut Client, other: &Lines, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ended =
                client.wait_until(left.min(Self::SLICE), |s| s.ext_frame(&self.frame).ended());
            let now = self.start.elapsed();
            let frames = frame_lines(&other.drain());
            self.other_frames.extend(std::iter::repeat_n(now, frames));
            if client.state.synced(&self.sync) && self.synced.is_none() {
                self.synced = Some(now);
            }
            if ended || left.is_zero() {
                return ended;
            }
        }
    }
}

/// How many of `lines` are a client's `frame N`.
fn frame_lines(lines: &[String]) -> usize {
    lines.iter().filter(|l| l.starts_with("frame")).count()
}
