//! A screen-capture client for tests, spoken on the wire with
//! wayland-client: one connection to a compositor's socket with
//! ext-image-copy-capture-v1 (over its output and foreign-toplevel sources
//! and ext-foreign-toplevel-list-v1) and wlr-screencopy-unstable-v1
//! version 3 bound; `wl_shm` buffers over memfds that the test reads back;
//! `wl_buffer`s over dma-bufs through zwp-linux-dmabuf-v1, for tests that
//! allocate them (the kernel tests); an xdg toplevel of its own, to capture
//! and to close; `wl_display.sync` markers; and every event the connection
//! received, recorded by object, so that a test asserts on what each
//! session, frame and callback heard.
//!
//! What the specs require is for the tests to check. The client panics
//! where it cannot go on: a failed connection, a missing global, a
//! dma-buf the compositor refused, or constraints, a `buffer_done`, a
//! configure or a toplevel that does not come in time (within [`TIMEOUT`]
//! unless the caller says how long).
#![allow(
    dead_code,
    reason = "each test binary uses its own part of this client"
)]

use std::io::ErrorKind;
use std::net::Shutdown;
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use dmabridge::dmabuf::Dmabuf;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{MemfdFlags, memfd_create};
use rustix::time::{ClockId, clock_gettime};
use wayland_client::backend::{ObjectId, WaylandError};
use wayland_client::globals::{GlobalList, GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_output::{self, WlOutput},
    wl_pointer::{self, WlPointer},
    wl_registry::WlRegistry,
    wl_seat::WlSeat,
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface,
};
use wayland_client::{
    Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop, event_created_child,
};
use wayland_protocols::ext::foreign_toplevel_list::v1::client::{
    ext_foreign_toplevel_handle_v1::{self as toplevel_handle, ExtForeignToplevelHandleV1},
    ext_foreign_toplevel_list_v1::{self as toplevel_list, ExtForeignToplevelListV1},
};
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
    ext_image_capture_source_v1::ExtImageCaptureSourceV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_cursor_session_v1::{
        self as cursor, ExtImageCopyCaptureCursorSessionV1,
    },
    ext_image_copy_capture_frame_v1::{self as frame, ExtImageCopyCaptureFrameV1},
    ext_image_copy_capture_manager_v1::{self as manager, ExtImageCopyCaptureManagerV1},
    ext_image_copy_capture_session_v1::{self as session, ExtImageCopyCaptureSessionV1},
};
use wayland_protocols::wp::cursor_shape::v1::client::{
    wp_cursor_shape_device_v1::{self as cursor_shape_device, WpCursorShapeDeviceV1},
    wp_cursor_shape_manager_v1::WpCursorShapeManagerV1,
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1::{self as buffer_params, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::XdgToplevel,
    xdg_wm_base::{self, XdgWmBase},
};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1::{self as wlr_frame, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1,
};

/// How long anything that must happen may take, on a loaded CI machine.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the global of `I`, of a version in `version`.
fn bind<I>(globals: &GlobalList, qh: &QueueHandle<Recorder>, version: RangeInclusive<u32>) -> I
where
    I: Proxy + 'static,
    Recorder: Dispatch<I, ()>,
{
    globals
        .bind(qh, version.clone(), ())
        .unwrap_or_else(|err| panic!("binding {} {version:?}: {err}", I::interface().name))
}

/// Now on `CLOCK_MONOTONIC`, the clock presentation times are on.
pub(crate) fn monotonic_now() -> Duration {
    let now = clock_gettime(ClockId::Monotonic);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A timestamp as the protocols split it.
fn timestamp(hi: u32, lo: u32, nsec: u32) -> Duration {
    Duration::new((u64::from(hi) << 32) | u64::from(lo), nsec)
}

/// A window of this process's own, to capture and to close.
pub(crate) struct Window {
    surface: WlSurface,
    xdg: XdgSurface,
    toplevel: XdgToplevel,
    _buffer: ShmBuffer,
}

impl Window {
    /// Destroys the toplevel: the window closes.
    pub(crate) fn close(self) {
        self.toplevel.destroy();
        self.xdg.destroy();
        self.surface.destroy();
    }
}

/// A `wl_shm` buffer over a memfd of its own, which the test reads back.
pub(crate) struct ShmBuffer {
    pub(crate) buffer: WlBuffer,
    width: i32,
    height: i32,
    stride: i32,
    pool: WlShmPool,
    memory: OwnedFd,
    len: usize,
}

impl ShmBuffer {
    /// Destroys the `wl_buffer` and its pool.
    pub(crate) fn destroy(&self) {
        self.buffer.destroy();
        self.pool.destroy();
    }

    /// The buffer's bytes, as the compositor wrote them.
    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut bytes = vec![0; self.len];
        let read = rustix::io::pread(&self.memory, &mut bytes, 0).unwrap();
        assert_eq!(read, self.len);
        bytes
    }

    /// The pixel at `(x, y)`, read as XRGB8888: [B, G, R].
    pub(crate) fn pixel(&self, x: i32, y: i32) -> [u8; 3] {
        let at = (y * self.stride + x * 4) as usize;
        let bytes = self.bytes();
        [bytes[at], bytes[at + 1], bytes[at + 2]]
    }

    /// How many pixels of the rectangle `(x, y, width, height)`, read as
    /// XRGB8888, differ from `bgr` by more than `tolerance` in a channel.
    pub(crate) fn count_unlike(
        &self,
        (x0, y0, w, h): (i32, i32, i32, i32),
        bgr: [u8; 3],
        tolerance: u8,
    ) -> usize {
        let bytes = self.bytes();
        let mut unlike = 0;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let at = (y * self.stride + x * 4) as usize;
                if bytes[at..at + 3]
                    .iter()
                    .zip(bgr)
                    .any(|(a, b)| a.abs_diff(b) > tolerance)
                {
                    unlike += 1;
                }
            }
        }
        unlike
    }
}

/// One connection to the compositor, with the capture globals bound and
/// every event it received.
pub(crate) struct Client {
    conn: Connection,
    /// The connection's socket, to hang up abruptly.
    socket: UnixStream,
    queue: EventQueue<Recorder>,
    pub(crate) qh: QueueHandle<Recorder>,
    globals: GlobalList,
    pub(crate) state: Recorder,
    output: WlOutput,
    shm: WlShm,
    pub(crate) ext: ExtImageCopyCaptureManagerV1,
    output_sources: ExtOutputImageCaptureSourceManagerV1,
    pub(crate) toplevel_sources: ExtForeignToplevelImageCaptureSourceManagerV1,
    wlr: ZwlrScreencopyManagerV1,
    _toplevels: ExtForeignToplevelListV1,
    /// The output's size, in buffer pixels.
    output_size: (i32, i32),
}

impl Client {
    /// Connects to the compositor's socket at `path`, whose output is
    /// `output_size` (width, height) big.
    pub(crate) fn connect(path: &Path, output_size: (u32, u32)) -> Self {
        let stream = UnixStream::connect(path)
            .unwrap_or_else(|err| panic!("connecting to {}: {err}", path.display()));
        let socket = stream.try_clone().unwrap();
        let conn = Connection::from_socket(stream).unwrap();
        let (globals, queue) = registry_queue_init::<Recorder>(&conn).unwrap();
        let qh = queue.handle();
        let mut client = Self {
            output: bind(&globals, &qh, 1..=4),
            shm: bind(&globals, &qh, 1..=1),
            ext: bind(&globals, &qh, 1..=1),
            output_sources: bind(&globals, &qh, 1..=1),
            toplevel_sources: bind(&globals, &qh, 1..=1),
            wlr: bind(&globals, &qh, 3..=3),
            _toplevels: bind(&globals, &qh, 1..=1),
            conn,
            socket,
            queue,
            qh,
            globals,
            state: Recorder::default(),
            output_size: (output_size.0 as i32, output_size.1 as i32),
        };
        client.roundtrip();
        client
    }

    /// Every global the compositor offers, with its version.
    pub(crate) fn offered(&self) -> Vec<(String, u32)> {
        self.globals.contents().with_list(|list| {
            list.iter()
                .map(|global| (global.interface.clone(), global.version))
                .collect()
        })
    }

    pub(crate) fn bind<I>(&self, version: RangeInclusive<u32>) -> I
    where
        I: Proxy + 'static,
        Recorder: Dispatch<I, ()>,
    {
        bind(&self.globals, &self.qh, version)
    }

    /// Why the connection failed, for a panic.
    fn lost(&self, err: impl std::fmt::Display) -> String {
        format!(
            "the connection failed: {err}; protocol error: {:?}",
            self.conn.protocol_error()
        )
    }

    pub(crate) fn roundtrip(&mut self) {
        if let Err(err) = self.queue.roundtrip(&mut self.state) {
            panic!("{}", self.lost(err));
        }
    }

    /// A `wl_display.sync`: its `done` ([`Recorder::synced`]) says that the
    /// compositor read every request sent before it.
    pub(crate) fn sync(&self) -> WlCallback {
        self.conn.display().sync(&self.qh, ())
    }

    /// The protocol error the last requests earned.
    pub(crate) fn expect_protocol_error(
        &mut self,
    ) -> wayland_client::backend::protocol::ProtocolError {
        let result = self.queue.roundtrip(&mut self.state);
        assert!(result.is_err(), "the compositor accepted it");
        self.conn
            .protocol_error()
            .unwrap_or_else(|| panic!("no protocol error, but {result:?}"))
    }

    /// Dispatches events until `done` holds, at most `timeout`; whether it
    /// holds. The connection's fd is polled, so nothing blocks past the
    /// deadline.
    pub(crate) fn wait_until(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Recorder) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if let Err(err) = self.queue.dispatch_pending(&mut self.state) {
                panic!("{}", self.lost(err));
            }
            if done(&self.state) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            if let Err(err) = self.queue.flush() {
                panic!("{}", self.lost(err));
            }
            let Some(guard) = self.queue.prepare_read() else {
                continue;
            };
            let readable = {
                let fd = guard.connection_fd();
                let mut fds = [PollFd::new(&fd, PollFlags::IN)];
                let timeout = Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                };
                match rustix::event::poll(&mut fds, Some(&timeout)) {
                    Ok(n) => n > 0,
                    Err(rustix::io::Errno::INTR) => false,
                    Err(err) => panic!("polling the connection: {err}"),
                }
            };
            if readable {
                match guard.read() {
                    Ok(_) => {}
                    Err(WaylandError::Io(err)) if err.kind() == ErrorKind::WouldBlock => {}
                    Err(err) => panic!("{}", self.lost(err)),
                }
            }
        }
    }

    /// Hangs up at once, whatever is in flight.
    pub(crate) fn hang_up(self) {
        let _ = self.conn.flush();
        self.socket.shutdown(Shutdown::Both).unwrap();
    }

    /// A `wl_shm` buffer of `format`, zeroed.
    pub(crate) fn shm_buffer(
        &self,
        width: i32,
        height: i32,
        stride: i32,
        format: wl_shm::Format,
    ) -> ShmBuffer {
        let len = (stride * height) as usize;
        let memory = memfd_create("capture-test", MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&memory, len as u64).unwrap();
        let pool = self
            .shm
            .create_pool(memory.as_fd(), len as i32, &self.qh, ());
        let buffer = pool.create_buffer(0, width, height, stride, format, &self.qh, ());
        ShmBuffer {
            buffer,
            width,
            height,
            stride,
            pool,
            memory,
            len,
        }
    }

    /// A `wl_shm` buffer for the whole output, as both protocols announce
    /// it first: XRGB8888, a stride of one row.
    pub(crate) fn output_buffer(&self) -> ShmBuffer {
        let (width, height) = self.output_size;
        self.shm_buffer(width, height, width * 4, wl_shm::Format::Xrgb8888)
    }

    /// A `wl_buffer` over every plane of `dmabuf`, with its format,
    /// modifier, size and flags, made by zwp_linux_dmabuf_v1's
    /// `create_immed` (version 3 or later: `add` carries the modifier).
    /// The params live through a round trip, so that a `failed` reaches
    /// them; it panics if the compositor refused the dma-buf.
    pub(crate) fn dmabuf_buffer(&mut self, dmabuf: &Dmabuf) -> WlBuffer {
        let linux_dmabuf: ZwpLinuxDmabufV1 = self.bind(3..=5);
        let params = linux_dmabuf.create_params(&self.qh, ());
        let modifier = u64::from(dmabuf.modifier());
        for (index, plane) in (0..).zip(dmabuf.planes()) {
            params.add(
                plane.fd(),
                index,
                plane.offset(),
                plane.stride(),
                (modifier >> 32) as u32,
                modifier as u32,
            );
        }
        let buffer = params.create_immed(
            dmabuf.width() as i32,
            dmabuf.height() as i32,
            dmabuf.format() as u32,
            buffer_params::Flags::from_bits_retain(dmabuf.flags().bits()),
            &self.qh,
            (),
        );
        self.roundtrip();
        let failed = self
            .state
            .of(&params.id())
            .any(|e| matches!(e, Event::Params(buffer_params::Event::Failed)));
        params.destroy();
        linux_dmabuf.destroy();
        assert!(!failed, "the compositor refused the dma-buf");
        buffer
    }

    pub(crate) fn output_source(&self) -> ExtImageCaptureSourceV1 {
        self.output_sources
            .create_source(&self.output, &self.qh, ())
    }

    /// A session on `source`, its first constraints received.
    pub(crate) fn session_on(
        &mut self,
        source: &ExtImageCaptureSourceV1,
    ) -> ExtImageCopyCaptureSessionV1 {
        self.session_within(source, TIMEOUT)
    }

    /// A session on `source`, its first constraints received within
    /// `timeout` (a slow machine, such as the test guest under TCG, wants
    /// more than [`TIMEOUT`]).
    pub(crate) fn session_within(
        &mut self,
        source: &ExtImageCaptureSourceV1,
        timeout: Duration,
    ) -> ExtImageCopyCaptureSessionV1 {
        let session = self
            .ext
            .create_session(source, manager::Options::empty(), &self.qh, ());
        let announced = self.wait_until(timeout, |s| {
            s.announced(&session)
                .constraints
                .contains(&Constraint::Done)
        });
        assert!(
            announced,
            "no constraints: {:?}",
            self.state.announced(&session)
        );
        session
    }

    /// A session on the output, its first constraints received.
    pub(crate) fn output_session(&mut self) -> ExtImageCopyCaptureSessionV1 {
        let source = self.output_source();
        self.session_on(&source)
    }

    /// A new frame of `session` into `buffer`, damaged whole and captured.
    pub(crate) fn ext_capture(
        &self,
        session: &ExtImageCopyCaptureSessionV1,
        buffer: &ShmBuffer,
    ) -> ExtImageCopyCaptureFrameV1 {
        self.ext_capture_into(session, &buffer.buffer, (buffer.width, buffer.height))
    }

    /// A new frame of `session` into `buffer` of `(width, height)`, of any
    /// kind (a dma-buf's), damaged whole and captured.
    pub(crate) fn ext_capture_into(
        &self,
        session: &ExtImageCopyCaptureSessionV1,
        buffer: &WlBuffer,
        (width, height): (i32, i32),
    ) -> ExtImageCopyCaptureFrameV1 {
        let frame = session.create_frame(&self.qh, ());
        frame.attach_buffer(buffer);
        frame.damage_buffer(0, 0, width, height);
        frame.capture();
        frame
    }

    /// A frame of a new output session with a good buffer, captured.
    pub(crate) fn captured_output_frame(&mut self) -> ExtImageCopyCaptureFrameV1 {
        let session = self.output_session();
        let buffer = self.output_buffer();
        self.ext_capture(&session, &buffer)
    }

    /// A frame of a new output session with a good buffer, damaged by
    /// `[x, y, width, height]`; returns the frame's id.
    pub(crate) fn damage_output_frame(&mut self, [x, y, width, height]: [i32; 4]) -> ObjectId {
        let session = self.output_session();
        let buffer = self.output_buffer();
        let frame = session.create_frame(&self.qh, ());
        frame.attach_buffer(&buffer.buffer);
        frame.damage_buffer(x, y, width, height);
        frame.id()
    }

    /// What `frame` heard once it ended, or after `timeout`.
    pub(crate) fn ext_end(
        &mut self,
        frame: &ExtImageCopyCaptureFrameV1,
        timeout: Duration,
    ) -> ExtFrame {
        self.wait_until(timeout, |s| s.ext_frame(frame).ended());
        self.state.ext_frame(frame)
    }

    /// A wlr frame of the output, or of `[x, y, width, height]` of it,
    /// whose buffer types were all announced.
    pub(crate) fn wlr_frame(&mut self, region: Option<[i32; 4]>) -> ZwlrScreencopyFrameV1 {
        let frame = match region {
            None => self.wlr.capture_output(0, &self.output, &self.qh, ()),
            Some([x, y, width, height]) => {
                self.wlr
                    .capture_output_region(0, &self.output, x, y, width, height, &self.qh, ())
            }
        };
        let announced = self.wait_until(TIMEOUT, |s| {
            let got = s.wlr_frame(&frame);
            got.events.contains(&"buffer_done") || got.failed
        });
        assert!(
            announced,
            "no buffer_done: {:?}",
            self.state.wlr_frame(&frame)
        );
        frame
    }

    /// What `frame` heard once it ended, or after `timeout`.
    pub(crate) fn wlr_end(&mut self, frame: &ZwlrScreencopyFrameV1, timeout: Duration) -> WlrFrame {
        self.wait_until(timeout, |s| s.wlr_frame(frame).ended());
        self.state.wlr_frame(frame)
    }

    /// Maps an xdg toplevel of `width`×`height` filled with `argb`.
    pub(crate) fn open_window(&mut self, width: i32, height: i32, argb: u32) -> Window {
        let compositor: WlCompositor = self.bind(4..=6);
        let wm_base: XdgWmBase = self.bind(1..=6);
        let surface = compositor.create_surface(&self.qh, ());
        let xdg = wm_base.get_xdg_surface(&surface, &self.qh, ());
        let toplevel = xdg.get_toplevel(&self.qh, ());
        toplevel.set_title("capture test".into());
        surface.commit();
        let configured = self.wait_until(TIMEOUT, |s| {
            s.of(&xdg.id()).any(|e| matches!(e, Event::XdgConfigure))
        });
        assert!(configured, "the window was not configured");
        let buffer = self.fill(&surface, width, height, argb);
        Window {
            surface,
            xdg,
            toplevel,
            _buffer: buffer,
        }
    }

    /// Commits a new buffer of `width`×`height` filled with `argb` to
    /// `window`: it takes that size.
    pub(crate) fn redraw(&mut self, window: &mut Window, width: i32, height: i32, argb: u32) {
        window._buffer = self.fill(&window.surface, width, height, argb);
    }

    /// A buffer of `width`×`height` filled with `argb`, attached to
    /// `surface`, damaged whole and committed.
    fn fill(&mut self, surface: &WlSurface, width: i32, height: i32, argb: u32) -> ShmBuffer {
        let buffer = self.shm_buffer(width, height, width * 4, wl_shm::Format::Argb8888);
        let pixels: Vec<u8> = std::iter::repeat_n(argb.to_le_bytes(), (width * height) as usize)
            .flatten()
            .collect();
        let written = rustix::io::pwrite(&buffer.memory, &pixels, 0).unwrap();
        assert_eq!(written, pixels.len());
        surface.attach(Some(&buffer.buffer), 0, 0);
        surface.damage_buffer(0, 0, width, height);
        surface.commit();
        self.roundtrip();
        buffer
    }

    /// The seat's pointer, and a cursor session for it on the output.
    pub(crate) fn cursor_session(&self) -> (WlPointer, ExtImageCopyCaptureCursorSessionV1) {
        let seat: WlSeat = self.bind(1..=7);
        let pointer = seat.get_pointer(&self.qh, ());
        let source = self.output_source();
        let cursor = self
            .ext
            .create_pointer_cursor_session(&source, &pointer, &self.qh, ());
        (pointer, cursor)
    }

    /// Once `pointer` entered one of this client's surfaces (within
    /// `timeout`), sets its cursor: a `width`×`height` surface filled with
    /// `argb`, with its hotspot at `hotspot`. The surface and its buffer.
    pub(crate) fn set_cursor(
        &mut self,
        pointer: &WlPointer,
        (width, height): (i32, i32),
        argb: u32,
        hotspot: (i32, i32),
        timeout: Duration,
    ) -> (WlSurface, ShmBuffer) {
        let entered = self.wait_until(timeout, |s| s.pointer_entered(pointer).is_some());
        assert!(entered, "the pointer did not enter the client's surface");
        let serial = self.state.pointer_entered(pointer).expect("entered");
        let compositor: WlCompositor = self.bind(4..=6);
        let surface = compositor.create_surface(&self.qh, ());
        pointer.set_cursor(serial, Some(&surface), hotspot.0, hotspot.1);
        let buffer = self.fill(&surface, width, height, argb);
        (surface, buffer)
    }

    /// Once `pointer` entered one of this client's surfaces (within
    /// `timeout`), names its cursor `shape` through wp-cursor-shape-v1.
    pub(crate) fn set_cursor_shape(
        &mut self,
        pointer: &WlPointer,
        shape: cursor_shape_device::Shape,
        timeout: Duration,
    ) -> WpCursorShapeDeviceV1 {
        let entered = self.wait_until(timeout, |s| s.pointer_entered(pointer).is_some());
        assert!(entered, "the pointer did not enter the client's surface");
        let serial = self.state.pointer_entered(pointer).expect("entered");
        let manager: WpCursorShapeManagerV1 = self.bind(1..=2);
        let device = manager.get_pointer(pointer, &self.qh, ());
        device.set_shape(serial, shape);
        self.roundtrip();
        device
    }

    /// Once `pointer` entered one of this client's surfaces (within
    /// `timeout`), hides its cursor (`wl_pointer.set_cursor` without a
    /// surface).
    pub(crate) fn hide_cursor(&mut self, pointer: &WlPointer, timeout: Duration) {
        let entered = self.wait_until(timeout, |s| s.pointer_entered(pointer).is_some());
        assert!(entered, "the pointer did not enter the client's surface");
        let serial = self.state.pointer_entered(pointer).expect("entered");
        pointer.set_cursor(serial, None, 0, 0);
        self.roundtrip();
    }

    /// The one toplevel's handle, once the list announced all of it.
    pub(crate) fn toplevel_handle(&mut self) -> ExtForeignToplevelHandleV1 {
        let announced = self.wait_until(TIMEOUT, |s| {
            s.toplevels.len() == 1
                && s.of(&s.toplevels[0].id())
                    .any(|e| matches!(e, Event::Toplevel(toplevel_handle::Event::Done)))
        });
        assert!(
            announced,
            "no single toplevel announced: {:?}",
            self.state.toplevels
        );
        self.state.toplevels[0].clone()
    }
}

/// Every event a client received, in order, by object.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    events: Vec<(ObjectId, Event)>,
    /// The handles ext-foreign-toplevel-list announced.
    toplevels: Vec<ExtForeignToplevelHandleV1>,
}

#[derive(Debug)]
enum Event {
    Session(session::Event),
    Frame(frame::Event),
    Wlr(wlr_frame::Event),
    Toplevel(toplevel_handle::Event),
    Params(buffer_params::Event),
    Callback(wl_callback::Event),
    Pointer(wl_pointer::Event),
    Cursor(cursor::Event),
    XdgConfigure,
}

/// An ext session's constraint events, dma-buf ones left out (they
/// depend on the machine's DRM device).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Constraint {
    Size(u32, u32),
    Shm(WEnum<wl_shm::Format>),
    Done,
}

/// An ext session's dma-buf constraint events.
#[derive(Debug, Default)]
pub(crate) struct DmabufConstraints {
    /// `dmabuf_device`: the `dev_t` of the device to allocate on.
    pub(crate) device: Option<u64>,
    /// Each `dmabuf_format`, in order: the fourcc and its modifiers.
    pub(crate) formats: Vec<(u32, Vec<u64>)>,
}

/// What an ext session announced.
#[derive(Debug, PartialEq)]
pub(crate) struct Announced {
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) stopped: bool,
}

/// What an ext frame heard.
#[derive(Debug, Default)]
pub(crate) struct ExtFrame {
    /// Every event's name, in order.
    pub(crate) events: Vec<&'static str>,
    pub(crate) transforms: Vec<WEnum<wl_output::Transform>>,
    pub(crate) damage: Vec<[i32; 4]>,
    pub(crate) presented: Option<Duration>,
    pub(crate) ready: bool,
    pub(crate) failed: Option<WEnum<frame::FailureReason>>,
}

impl ExtFrame {
    pub(crate) fn ended(&self) -> bool {
        self.ready || self.failed.is_some()
    }
}

/// What a wlr frame heard.
#[derive(Debug, Default)]
pub(crate) struct WlrFrame {
    /// Every event's name, in order.
    pub(crate) events: Vec<&'static str>,
    /// Each `buffer` event: format, width, height, stride.
    pub(crate) buffers: Vec<(WEnum<wl_shm::Format>, u32, u32, u32)>,
    pub(crate) flags: Option<u32>,
    pub(crate) ready: Option<Duration>,
    pub(crate) failed: bool,
}

impl WlrFrame {
    pub(crate) fn ended(&self) -> bool {
        self.ready.is_some() || self.failed
    }
}

impl Recorder {
    /// The events of the object `id`.
    fn of<'a>(&'a self, id: &'a ObjectId) -> impl Iterator<Item = &'a Event> + 'a {
        self.events
            .iter()
            .filter(move |(object, _)| object == id)
            .map(|(_, event)| event)
    }

    pub(crate) fn announced(&self, session: &ExtImageCopyCaptureSessionV1) -> Announced {
        let mut announced = Announced {
            constraints: Vec::new(),
            stopped: false,
        };
        for event in self.of(&session.id()) {
            let Event::Session(event) = event else {
                continue;
            };
            match event {
                session::Event::BufferSize { width, height } => announced
                    .constraints
                    .push(Constraint::Size(*width, *height)),
                session::Event::ShmFormat { format } => {
                    announced.constraints.push(Constraint::Shm(*format));
                }
                session::Event::Done => announced.constraints.push(Constraint::Done),
                session::Event::Stopped => announced.stopped = true,
                _ => {}
            }
        }
        announced
    }

    /// The dma-buf constraints `session` announced; what [`Self::announced`]
    /// leaves out.
    pub(crate) fn dmabuf_constraints(
        &self,
        session: &ExtImageCopyCaptureSessionV1,
    ) -> DmabufConstraints {
        let mut got = DmabufConstraints::default();
        for event in self.of(&session.id()) {
            match event {
                Event::Session(session::Event::DmabufDevice { device }) => {
                    let bytes: [u8; 8] = device.as_slice().try_into().expect("a 64-bit dev_t");
                    got.device = Some(u64::from_ne_bytes(bytes));
                }
                Event::Session(session::Event::DmabufFormat { format, modifiers }) => {
                    let modifiers = modifiers
                        .chunks_exact(8)
                        .map(|m| u64::from_ne_bytes(m.try_into().unwrap()))
                        .collect();
                    got.formats.push((*format, modifiers));
                }
                _ => {}
            }
        }
        got
    }

    pub(crate) fn ext_frame(&self, frame: &ExtImageCopyCaptureFrameV1) -> ExtFrame {
        let mut got = ExtFrame::default();
        for event in self.of(&frame.id()) {
            let Event::Frame(event) = event else {
                continue;
            };
            let name = match event {
                frame::Event::Transform { transform } => {
                    got.transforms.push(*transform);
                    "transform"
                }
                frame::Event::Damage {
                    x,
                    y,
                    width,
                    height,
                } => {
                    got.damage.push([*x, *y, *width, *height]);
                    "damage"
                }
                frame::Event::PresentationTime {
                    tv_sec_hi,
                    tv_sec_lo,
                    tv_nsec,
                } => {
                    got.presented = Some(timestamp(*tv_sec_hi, *tv_sec_lo, *tv_nsec));
                    "presentation_time"
                }
                frame::Event::Ready => {
                    got.ready = true;
                    "ready"
                }
                frame::Event::Failed { reason } => {
                    got.failed = Some(*reason);
                    "failed"
                }
                _ => "unknown",
            };
            got.events.push(name);
        }
        got
    }

    pub(crate) fn wlr_frame(&self, frame: &ZwlrScreencopyFrameV1) -> WlrFrame {
        let mut got = WlrFrame::default();
        for event in self.of(&frame.id()) {
            let Event::Wlr(event) = event else {
                continue;
            };
            let name = match event {
                wlr_frame::Event::Buffer {
                    format,
                    width,
                    height,
                    stride,
                } => {
                    got.buffers.push((*format, *width, *height, *stride));
                    "buffer"
                }
                wlr_frame::Event::LinuxDmabuf { .. } => "linux_dmabuf",
                wlr_frame::Event::BufferDone => "buffer_done",
                wlr_frame::Event::Flags { flags } => {
                    got.flags = Some(match flags {
                        WEnum::Value(flags) => flags.bits(),
                        WEnum::Unknown(bits) => *bits,
                    });
                    "flags"
                }
                wlr_frame::Event::Damage { .. } => "damage",
                wlr_frame::Event::Ready {
                    tv_sec_hi,
                    tv_sec_lo,
                    tv_nsec,
                } => {
                    got.ready = Some(timestamp(*tv_sec_hi, *tv_sec_lo, *tv_nsec));
                    "ready"
                }
                wlr_frame::Event::Failed => {
                    got.failed = true;
                    "failed"
                }
                _ => "unknown",
            };
            got.events.push(name);
        }
        got
    }

    /// Whether the compositor answered the `wl_display.sync` `callback`.
    pub(crate) fn synced(&self, callback: &WlCallback) -> bool {
        self.of(&callback.id())
            .any(|e| matches!(e, Event::Callback(wl_callback::Event::Done { .. })))
    }

    /// The serial of `pointer`'s latest `enter`, if it entered.
    pub(crate) fn pointer_entered(&self, pointer: &WlPointer) -> Option<u32> {
        self.of(&pointer.id())
            .filter_map(|e| match e {
                Event::Pointer(wl_pointer::Event::Enter { serial, .. }) => Some(*serial),
                _ => None,
            })
            .last()
    }

    /// What a cursor session reported, in order: `enter`, `leave`,
    /// `position x y` and `hotspot x y`.
    pub(crate) fn cursor_reports(
        &self,
        session: &ExtImageCopyCaptureCursorSessionV1,
    ) -> Vec<String> {
        self.of(&session.id())
            .filter_map(|e| match e {
                Event::Cursor(cursor::Event::Enter) => Some("enter".to_owned()),
                Event::Cursor(cursor::Event::Leave) => Some("leave".to_owned()),
                Event::Cursor(cursor::Event::Position { x, y }) => {
                    Some(format!("position {x} {y}"))
                }
                Event::Cursor(cursor::Event::Hotspot { x, y }) => Some(format!("hotspot {x} {y}")),
                _ => None,
            })
            .collect()
    }

    /// Whether the toplevel `handle` was announced closed.
    pub(crate) fn closed(&self, handle: &ExtForeignToplevelHandleV1) -> bool {
        self.of(&handle.id())
            .any(|e| matches!(e, Event::Toplevel(toplevel_handle::Event::Closed)))
    }
}

/// Records the events of the objects the cases look at.
macro_rules! record {
    ($($interface:ty => $variant:ident,)*) => {$(
        impl Dispatch<$interface, ()> for Recorder {
            fn event(
                state: &mut Self,
                proxy: &$interface,
                event: <$interface as Proxy>::Event,
                _: &(),
                _: &Connection,
                _: &QueueHandle<Self>,
            ) {
                state.events.push((proxy.id(), Event::$variant(event)));
            }
        }
    )*};
}

record! {
    ExtImageCopyCaptureSessionV1 => Session,
    ExtImageCopyCaptureFrameV1 => Frame,
    ZwlrScreencopyFrameV1 => Wlr,
    ExtForeignToplevelHandleV1 => Toplevel,
    ZwpLinuxBufferParamsV1 => Params,
    WlCallback => Callback,
    WlPointer => Pointer,
    ExtImageCopyCaptureCursorSessionV1 => Cursor,
}

impl Dispatch<WlRegistry, GlobalListContents> for Recorder {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: <WlRegistry as Proxy>::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<ExtForeignToplevelListV1, ()> for Recorder {
    fn event(
        state: &mut Self,
        _: &ExtForeignToplevelListV1,
        event: toplevel_list::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let toplevel_list::Event::Toplevel { toplevel } = event {
            state.toplevels.push(toplevel);
        }
    }

    event_created_child!(Recorder, ExtForeignToplevelListV1, [
        toplevel_list::EVT_TOPLEVEL_OPCODE => (ExtForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<XdgWmBase, ()> for Recorder {
    fn event(
        _: &mut Self,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for Recorder {
    fn event(
        state: &mut Self,
        xdg: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg.ack_configure(serial);
            state.events.push((xdg.id(), Event::XdgConfigure));
        }
    }
}

delegate_noop!(Recorder: ignore WlOutput);
delegate_noop!(Recorder: ignore WlShm);
delegate_noop!(Recorder: WlShmPool);
delegate_noop!(Recorder: ignore WlBuffer);
delegate_noop!(Recorder: WlCompositor);
delegate_noop!(Recorder: ignore WlSurface);
delegate_noop!(Recorder: ignore WlSeat);
delegate_noop!(Recorder: ignore XdgToplevel);
delegate_noop!(Recorder: ExtImageCopyCaptureManagerV1);
delegate_noop!(Recorder: ExtImageCaptureSourceV1);
delegate_noop!(Recorder: ExtOutputImageCaptureSourceManagerV1);
delegate_noop!(Recorder: ExtForeignToplevelImageCaptureSourceManagerV1);
delegate_noop!(Recorder: ZwlrScreencopyManagerV1);
delegate_noop!(Recorder: ignore ZwpLinuxDmabufV1);
delegate_noop!(Recorder: WpCursorShapeManagerV1);
delegate_noop!(Recorder: WpCursorShapeDeviceV1);
