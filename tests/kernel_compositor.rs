//! The compositor with real dma-bufs and fences, inside the test guest:
//! a udmabuf client's frame reaches the output, and a commit whose buffer
//! carries a pending write fence (vgem) is held until the fence signals
//! while another client's frames keep coming. The same holds for capture:
//! an ext-image-copy-capture frame into a client's udmabuf waits for the
//! buffer's pending write fence, delays no one else, and is `ready` only
//! once the copy's own fence on the buffer signalled; the test is the
//! capture client, in process.

mod common;
#[path = "support/compositor.rs"]
mod support;

use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use dmabridge::alloc::{DmabufAllocator as _, FenceAccess, NodeKind, Udmabuf, Vgem, drm_nodes};
use dmabridge::dmabuf::Access;
use dmabridge::sync::{SyncAccess, SyncFile};
use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use support::{CLEAR, Lines, Rgb, Session};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_callback::{self, WlCallback},
    wl_output::{self, WlOutput},
    wl_registry::{self, WlRegistry},
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum, delegate_noop};
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_image_capture_source_v1::ExtImageCaptureSourceV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1},
    ext_image_copy_capture_manager_v1::{self, ExtImageCopyCaptureManagerV1},
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};

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
    wait_for_content(&session);
    // The other client: shm, committing as fast as frame callbacks come.
    let (mut other, other_lines) =
        session.spawn_client(&["--size", "32x32", "--frames", "0", "--color", "ff0000ff"]);
    other_lines.expect("frame 2", Duration::from_secs(120));
    // Its pace with nothing held, over as long as the hold will last.
    let _ = other_lines.drain();
    std::thread::sleep(CAPTURE_HOLD);
    let baseline = frame_lines(&other_lines.drain());

    // 1. The session and what it accepts.
    let stream = UnixStream::connect(session.dir().join("runtime").join(session.socket()))
        .expect("connecting to the compositor");
    let conn = Connection::from_socket(stream).expect("a Wayland connection");
    let (globals, mut queue) = registry_queue_init::<Capturer>(&conn).expect("the registry");
    let qh = queue.handle();
    let wl_output: WlOutput = globals.bind(&qh, 1..=4, ()).expect("wl_output");
    let sources: ExtOutputImageCaptureSourceManagerV1 = globals
        .bind(&qh, 1..=1, ())
        .expect("ext_output_image_capture_source_manager_v1");
    let manager: ExtImageCopyCaptureManagerV1 = globals
        .bind(&qh, 1..=1, ())
        .expect("ext_image_copy_capture_manager_v1");
    let linux_dmabuf: ZwpLinuxDmabufV1 = globals
        .bind(&qh, 3..=5, ())
        .expect("zwp_linux_dmabuf_v1 v3 or later");
    let source = sources.create_source(&wl_output, &qh, ());
    let capture = manager.create_session(
        &source,
        ext_image_copy_capture_manager_v1::Options::empty(),
        &qh,
        (),
    );
    let mut capturer = Capturer::default();
    assert!(
        dispatch_until(
            &conn,
            &mut queue,
            &mut capturer,
            Duration::from_secs(60),
            |c| { c.constraints_done }
        ),
        "no `done` after the session's constraints: {capturer:?}"
    );
    assert!(!capturer.stopped, "the output's session stopped");
    let (width, height) = capturer.buffer_size.expect("a buffer_size event");
    assert_eq!((width, height), output, "buffer_size");
    let device = capturer
        .dmabuf_device
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
        capturer.dmabuf_formats.first().map(|(format, _)| *format),
        Some(xrgb),
        "XRGB8888 first among the dmabuf_format events: {:x?}",
        capturer.dmabuf_formats
    );
    assert!(
        capturer
            .dmabuf_formats
            .iter()
            .any(|(format, modifiers)| *format == xrgb && modifiers.contains(&linear)),
        "XRGB8888 with the LINEAR modifier: {:x?}",
        capturer.dmabuf_formats
    );

    // 2. The destination: a udmabuf of the session's size, LINEAR.
    let mut destination = Udmabuf::open()
        .unwrap()
        .allocate(DrmFourcc::Xrgb8888, width, height)
        .expect("a udmabuf for the capture");
    let plane = &destination.planes()[0];
    let stride = plane.stride();
    let params = linux_dmabuf.create_params(&qh, ());
    params.add(
        plane.fd(),
        0,
        plane.offset(),
        stride,
        (linear >> 32) as u32,
        linear as u32,
    );
    let buffer = params.create_immed(
        width as i32,
        height as i32,
        xrgb,
        zwp_linux_buffer_params_v1::Flags::empty(),
        &qh,
        (),
    );
    params.destroy();
    queue.roundtrip(&mut capturer).expect("a round trip");
    assert!(
        !capturer.params_failed,
        "the compositor refused the dma-buf"
    );

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

    let frame = capture.create_frame(&qh, ());
    frame.attach_buffer(&buffer);
    frame.damage_buffer(0, 0, width as i32, height as i32);
    frame.capture();
    // Whether the compositor's loop stays free while the copy is held.
    let _sync = conn.display().sync(&qh, ());
    let _ = other_lines.drain();
    let mut watch = Watch::new();
    let ended = watch.run(&conn, &mut queue, &mut capturer, &other_lines, CAPTURE_HOLD);
    let during_hold = watch.clone();
    assert!(
        !ended,
        "the frame ended while its buffer's write fence was pending: {:?}",
        capturer.frame
    );
    assert!(
        fenced_at.elapsed() < Duration::from_secs(8),
        "the hold ran too close to vgem's own fence timeout: {:?}",
        fenced_at.elapsed()
    );
    vgem.signal(fence).expect("signalling the vgem fence");
    let signalled = watch.start.elapsed();
    let ended = watch.run(
        &conn,
        &mut queue,
        &mut capturer,
        &other_lines,
        Duration::from_secs(60),
    );
    let delivered = watch.start.elapsed() - signalled;
    assert!(
        ended,
        "no `ready` within 60 s of the signal: {:?}",
        capturer.frame
    );
    // transform normal, damage (the session's first frame: all of it),
    // presentation_time, then ready, and nothing else.
    let events = &capturer.frame;
    assert_eq!(
        events.last(),
        Some(&FrameEvent::Ready),
        "the frame's events: {events:?}"
    );
    assert!(
        events.contains(&FrameEvent::Transform(wl_output::Transform::Normal)),
        "{events:?}"
    );
    assert!(
        events.contains(&FrameEvent::Damage(0, 0, width as i32, height as i32)),
        "{events:?}"
    );
    let ready_at = events.len() - 1;
    let position = |wanted: fn(&FrameEvent) -> bool| {
        events
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("{events:?}"))
    };
    assert!(
        position(|e| matches!(e, FrameEvent::Transform(_))) < ready_at
            && position(|e| matches!(e, FrameEvent::Damage(..))) < ready_at
            && position(|e| matches!(e, FrameEvent::PresentationTime)) < ready_at,
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, FrameEvent::Failed(_))),
        "{events:?}"
    );

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
    conn.flush().unwrap();
    other.kill().unwrap();
    other.wait().unwrap();
    card.kill().unwrap();
    card.wait().unwrap();
}

/// Waits until a dumped frame shows more than the background.
fn wait_for_content(session: &Session) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !session
        .frames()
        .iter()
        .any(|frame| Rgb::load(frame).has_content())
    {
        assert!(Instant::now() < deadline, "no frame shows the client");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the test saw while it waited for a capture: when, after the
/// capture request, the other client printed each `frame N` and the
/// compositor answered the `wl_display.sync` sent with the request.
#[derive(Debug, Clone)]
struct Watch {
    start: Instant,
    other_frames: Vec<Duration>,
    synced: Option<Duration>,
}

impl Watch {
    /// Slices of this length between looks at the other client.
    const SLICE: Duration = Duration::from_millis(100);

    fn new() -> Self {
        Self {
            start: Instant::now(),
            other_frames: Vec::new(),
            synced: None,
        }
    }

    /// Dispatches until the frame ended, at most `timeout`, noting the
    /// other client's frames and the sync's answer as they come; whether
    /// the frame ended.
    fn run(
        &mut self,
        conn: &Connection,
        queue: &mut EventQueue<Capturer>,
        capturer: &mut Capturer,
        other: &Lines,
        timeout: Duration,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ended = dispatch_until(conn, queue, capturer, left.min(Self::SLICE), |c| {
                c.frame.iter().any(FrameEvent::ends)
            });
            let now = self.start.elapsed();
            let frames = frame_lines(&other.drain());
            self.other_frames.extend(std::iter::repeat_n(now, frames));
            if capturer.synced && self.synced.is_none() {
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

/// Dispatches `queue` until `done` holds, at most `timeout`; whether it
/// held. The connection's fd is polled, so nothing blocks past the timeout.
fn dispatch_until(
    conn: &Connection,
    queue: &mut EventQueue<Capturer>,
    state: &mut Capturer,
    timeout: Duration,
    done: impl Fn(&Capturer) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    let failed = |err: &dyn std::fmt::Debug| -> ! {
        panic!(
            "the connection failed: {err:?}, protocol error {:?}",
            conn.protocol_error()
        )
    };
    loop {
        if let Err(err) = queue.dispatch_pending(state) {
            failed(&err);
        }
        if done(state) {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if let Err(err) = conn.flush() {
            failed(&err);
        }
        let Some(guard) = queue.prepare_read() else {
            continue;
        };
        let timeout = Timespec::try_from(left).unwrap();
        let polled = {
            let fd = guard.connection_fd();
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            rustix::event::poll(&mut fds, Some(&timeout))
        };
        match polled {
            Ok(0) | Err(Errno::INTR) => drop(guard),
            Ok(_) => {
                if let Err(err) = guard.read() {
                    failed(&err);
                }
            }
            Err(err) => panic!("poll on the Wayland connection: {err}"),
        }
    }
}

/// What the in-process capture client heard.
#[derive(Debug, Default)]
struct Capturer {
    buffer_size: Option<(u32, u32)>,
    dmabuf_device: Option<u64>,
    /// Each `dmabuf_format` event: the fourcc and its modifiers.
    dmabuf_formats: Vec<(u32, Vec<u64>)>,
    constraints_done: bool,
    stopped: bool,
    params_failed: bool,
    /// The `wl_display.sync` sent with the capture request was answered.
    synced: bool,
    /// The frame's events, in order.
    frame: Vec<FrameEvent>,
}

/// An `ext_image_copy_capture_frame_v1` event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FrameEvent {
    Transform(wl_output::Transform),
    Damage(i32, i32, i32, i32),
    PresentationTime,
    Ready,
    Failed(u32),
}

impl FrameEvent {
    /// Whether the frame is over.
    fn ends(&self) -> bool {
        matches!(self, Self::Ready | Self::Failed(_))
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for Capturer {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ExtImageCopyCaptureSessionV1, ()> for Capturer {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureSessionV1,
        event: ext_image_copy_capture_session_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_image_copy_capture_session_v1::Event;
        match event {
            Event::BufferSize { width, height } => state.buffer_size = Some((width, height)),
            Event::DmabufDevice { device } => {
                let bytes: [u8; 8] = device.as_slice().try_into().expect("a 64-bit dev_t");
                state.dmabuf_device = Some(u64::from_ne_bytes(bytes));
            }
            Event::DmabufFormat { format, modifiers } => {
                let modifiers = modifiers
                    .chunks_exact(8)
                    .map(|m| u64::from_ne_bytes(m.try_into().unwrap()))
                    .collect();
                state.dmabuf_formats.push((format, modifiers));
            }
            Event::Done => state.constraints_done = true,
            Event::Stopped => state.stopped = true,
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, ()> for Capturer {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureFrameV1,
        event: ext_image_copy_capture_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use ext_image_copy_capture_frame_v1::Event;
        let event = match event {
            Event::Transform {
                transform: WEnum::Value(transform),
            } => FrameEvent::Transform(transform),
            Event::Transform {
                transform: WEnum::Unknown(raw),
            } => panic!("an unknown transform {raw}"),
            Event::Damage {
                x,
                y,
                width,
                height,
            } => FrameEvent::Damage(x, y, width, height),
            Event::PresentationTime { .. } => FrameEvent::PresentationTime,
            Event::Ready => FrameEvent::Ready,
            Event::Failed { reason } => FrameEvent::Failed(reason.into()),
            _ => return,
        };
        state.frame.push(event);
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for Capturer {
    fn event(
        state: &mut Self,
        _: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_linux_buffer_params_v1::Event::Failed = event {
            state.params_failed = true;
        }
    }
}

impl Dispatch<WlCallback, ()> for Capturer {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.synced = true;
        }
    }
}

delegate_noop!(Capturer: ignore WlOutput);
delegate_noop!(Capturer: ignore WlBuffer);
delegate_noop!(Capturer: ignore ZwpLinuxDmabufV1);
delegate_noop!(Capturer: ExtOutputImageCaptureSourceManagerV1);
delegate_noop!(Capturer: ExtImageCaptureSourceV1);
delegate_noop!(Capturer: ExtImageCopyCaptureManagerV1);
