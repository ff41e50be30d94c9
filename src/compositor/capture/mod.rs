//! Screen capture's core, free of protocol objects: sessions on a source,
//! the buffer constraints they announce, the damage each one has not yet
//! delivered, and the frames in flight. `ext.rs` (ext-image-copy-capture-v1
//! with ext-image-capture-source-v1) and `wlr.rs` (wlr-screencopy-v1) are
//! thin layers over it: they turn requests into calls here and hear back
//! through [`SessionSink`] and [`FrameSink`] (and, for cursor sessions,
//! [`CursorSink`], `cursor.rs`). `constraints.rs` says what a session
//! accepts, `area.rs` what it reads of the output and which way up.
//!
//! The rules it keeps:
//!
//! * **A capture is a copy job.** The source image (the output's last frame,
//!   or a toplevel's surfaces at the output's scale, or the cursor's
//!   image at its own size) is copied into the
//!   client's buffer by [`VulkanRenderer::capture`]: the client asks for a
//!   result and never programs the copy.
//! * **A buffer is checked before the GPU sees it.** Its size, format,
//!   stride and modifier must be those of the session's constraints, else
//!   the frame fails with [`Failure::BufferConstraints`].
//! * **`ready` follows the fence.** The frame's sink hears `ready` only once
//!   the job's completion signalled and, for `wl_shm`, its rows were
//!   written into the client's pool: a writer thread waits for each job
//!   and does that copy, then wakes the loop through a channel. No capture
//!   blocks the loop, and none delays another client's frames.
//! * **Damage is in the client's buffer.** Each session accumulates the
//!   output's damage in the coordinates of the buffer it delivers (after
//!   the transform, inside the region), clipped to the buffer, never
//!   negative. The first frame of a session is whole; a frame that waits
//!   for damage starts at the first frame rendered with some.
//! * **Orientation.** ext-image-copy-capture delivers upright images
//!   ([`Orientation::Upright`], transform normal): the output's transform
//!   is undone on the GPU. wlr-screencopy delivers the framebuffer as
//!   scanned out ([`Orientation::Framebuffer`]), as wlroots does, since its
//!   clients (grim) rotate by `wl_output.transform` themselves.

mod area;
mod constraints;
mod cursor;
pub(crate) mod ext;
pub(crate) mod wlr;

pub(crate) use self::area::undo;
use self::area::{OutputArea, add_damage};
use self::constraints::check_buffer;
pub(crate) use self::constraints::{Constraints, DmabufConstraints, SHM_FORMATS};
pub(crate) use self::cursor::{CursorId, CursorPlace, CursorSink};

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::Offscreen;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::element::{AsRenderElements, RenderElement};
use smithay::desktop::Window;
use smithay::reexports::calloop::LoopHandle;
use smithay::reexports::calloop::channel;
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::utils::{Buffer as BufferCoord, Logical, Physical, Point, Rectangle, Size, Transform};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::shm::{shm_format_to_fourcc, with_buffer_contents};
use tracing::{debug, warn};

use super::state::{State, implicit_fence};
use crate::render::{CaptureTarget, PendingCapture, VulkanRenderer, VulkanTexture, WriteBackError};
use crate::sync::{FenceSource, SyncAccess};

/// What a session captures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// The output.
    Output,
    /// One toplevel's surfaces, composed at their own size, whatever covers
    /// them on the output.
    Toplevel(Window),
    /// The pointer's cursor image, at its own size.
    Cursor,
}

/// Which way up a session's images are delivered (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Orientation {
    /// Upright: the output's transform undone.
    Upright,
    /// As the output's framebuffer holds it.
    Framebuffer,
}

/// Why a frame failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The buffer does not match the session's latest constraints.
    BufferConstraints,
    /// The source went away, or the session was destroyed.
    Stopped,
    /// The buffer went away, or no longer fits its pool, before it was
    /// written.
    BufferGone,
    /// The copy failed.
    Unknown,
}

/// A delivered frame, as its sink hears of it.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    /// What changed since the session's previous frame, in buffer
    /// coordinates, inside the buffer.
    pub(crate) damage: Vec<Rectangle<i32, BufferCoord>>,
    /// When the captured content was presented, on `CLOCK_MONOTONIC`.
    pub(crate) presented: Duration,
}

/// How the core speaks to a session's protocol object.
pub(crate) trait SessionSink {
    /// The constraints, first or changed.
    fn constraints(&self, constraints: &Constraints);
    /// The source went away: the session will deliver nothing more.
    fn stopped(&self);
}

/// How the core speaks to a frame's protocol object.
pub(crate) trait FrameSink {
    /// The copy completed; the buffer holds the frame.
    fn ready(&self, captured: &Captured);
    /// The frame failed.
    fn failed(&self, reason: Failure);
}

/// A session's handle, held by its protocol object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SessionId(u64);

/// A frame a client asked for that has not been copied yet.
struct Request {
    /// The protocol object that asked.
    owner: ObjectId,
    buffer: WlBuffer,
    /// Whether to wait for damage (every ext frame after the first, wlr's
    /// `copy_with_damage`), or copy now (wlr's `copy`).
    on_damage: bool,
    /// A dma-buf destination's implicit fences are pending: the copy waits
    /// for them on the loop, so that submitting it blocks nothing.
    fenced: bool,
    sink: Box<dyn FrameSink>,
}

struct Session {
    source: Source,
    orientation: Orientation,
    /// Part of the output (framebuffer pixels) for a region capture.
    region: Option<Rectangle<i32, Logical>>,
    /// Whether the cursor is painted into the output's picture
    /// (`paint_cursors`, `overlay_cursor`).
    cursors: bool,
    /// Damage not yet delivered, in buffer coordinates; `None`: all of it.
    damage: Option<Vec<Rectangle<i32, BufferCoord>>>,
    /// The constraints last sent.
    constraints: Constraints,
    waiting: Option<Request>,
    sink: Option<Box<dyn SessionSink>>,
    stopped: bool,
    /// No protocol object holds the session any more: it goes once its
    /// waiting frame went.
    orphan: bool,
}

/// A copy on the GPU, waiting for the writer to tell its sink.
struct InFlight {
    captured: Captured,
    sink: Box<dyn FrameSink>,
}

/// What the writer thread finishes: a submitted capture, and the buffer
/// its pixels go to.
struct WriteBack {
    flight: u64,
    pending: PendingCapture,
    buffer: WlBuffer,
}

/// The writer thread's word on a capture: delivered, or why not.
type Finished = (u64, Result<(), WriteBackError>);

/// Every capture session and frame in flight.
pub(crate) struct Capture {
    sessions: HashMap<SessionId, Session>,
    in_flight: HashMap<u64, InFlight>,
    next_id: u64,
    /// The output's last frame, and when it was presented.
    image: Option<(VulkanTexture, Duration)>,
    dmabuf: Option<DmabufConstraints>,
    /// Hands submitted captures to the writer thread.
    writer: mpsc::Sender<WriteBack>,
    /// The cursor sessions, by id.
    cursor_sinks: Vec<(u64, Box<dyn CursorSink>)>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("sessions", &self.sessions.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

impl Capture {
    /// The capture core on `handle`'s loop; dma-buf destinations where
    /// `dmabuf` says.
    pub(crate) fn new(
        handle: &LoopHandle<'static, State>,
        dmabuf: Option<DmabufConstraints>,
    ) -> anyhow::Result<Self> {
        let (finished, receiver) = channel::channel::<Finished>();
        handle
            .insert_source(receiver, |event, (), state| {
                if let channel::Event::Msg((flight, result)) = event {
                    state.capture_finished(flight, result);
                }
            })
            .map_err(|err| anyhow::anyhow!("inserting the capture channel: {err}"))?;
        let (writer, jobs) = mpsc::channel::<WriteBack>();
        std::thread::Builder::new()
            .name("capture writer".into())
            .spawn(move || write_back(&jobs, &finished))
            .map_err(|err| anyhow::anyhow!("starting the capture writer: {err}"))?;
        Ok(Self {
            sessions: HashMap::new(),
            in_flight: HashMap::new(),
            next_id: 0,
            image: None,
            dmabuf,
            writer,
            cursor_sinks: Vec::new(),
        })
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

impl State {
    /// A new session on `source`; its sink hears the constraints at once.
    pub(crate) fn capture_session(
        &mut self,
        source: Source,
        orientation: Orientation,
        region: Option<Rectangle<i32, Logical>>,
        cursors: bool,
        sink: Option<Box<dyn SessionSink>>,
    ) -> SessionId {
        let id = SessionId(self.capture.next_id());
        let constraints = self.capture_constraints(&source, orientation, region);
        if let Some(sink) = &sink {
            sink.constraints(&constraints);
        }
        let stopped =
            matches!(&source, Source::Toplevel(w) if !self.space.elements().any(|e| e == w));
        if stopped && let Some(sink) = &sink {
            sink.stopped();
        }
        self.capture.sessions.insert(
            id,
            Session {
                source,
                orientation,
                region,
                cursors,
                damage: None,
                constraints,
                waiting: None,
                sink,
                stopped,
                orphan: false,
            },
        );
        id
    }

    /// The constraints of a session: its buffer size, the formats.
    fn capture_constraints(
        &self,
        source: &Source,
        orientation: Orientation,
        region: Option<Rectangle<i32, Logical>>,
    ) -> Constraints {
        let size = match source {
            Source::Output => self.capture_area(orientation, region).size(),
            Source::Toplevel(window) => {
                let size = self.toplevel_capture_size(window);
                Size::from((size.w, size.h))
            }
            Source::Cursor => self.cursor_size(),
        };
        Constraints {
            size,
            shm_formats: SHM_FORMATS.to_vec(),
            dmabuf: self.capture.dmabuf.clone(),
        }
    }

    /// What a session of `orientation` and `region` reads of the output.
    fn capture_area(
        &self,
        orientation: Orientation,
        region: Option<Rectangle<i32, Logical>>,
    ) -> OutputArea {
        OutputArea::new(&self.output, orientation, region)
    }

    /// The constraints `id` last announced.
    pub(crate) fn capture_session_constraints(&self, id: SessionId) -> Option<Constraints> {
        self.capture
            .sessions
            .get(&id)
            .map(|s| s.constraints.clone())
    }

    /// The session is gone: a frame still waiting fails as stopped.
    pub(crate) fn capture_session_destroyed(&mut self, id: SessionId) {
        if let Some(session) = self.capture.sessions.remove(&id)
            && let Some(request) = session.waiting
        {
            request.sink.failed(Failure::Stopped);
        }
    }

    /// The client's frame object `owner` is gone: forget its request, if
    /// it still waits (a copy already on the GPU finishes and tells no
    /// one).
    pub(crate) fn capture_frame_destroyed(&mut self, id: SessionId, owner: &ObjectId) {
        if let Some(session) = self.capture.sessions.get_mut(&id)
            && session.waiting.as_ref().is_some_and(|r| &r.owner == owner)
        {
            session.waiting = None;
            if session.orphan {
                self.capture.sessions.remove(&id);
            }
        }
    }

    /// No protocol object holds `id` any more: it goes now, or once its
    /// waiting frame was copied.
    pub(crate) fn capture_session_orphaned(&mut self, id: SessionId) {
        if let Some(session) = self.capture.sessions.get_mut(&id) {
            if session.waiting.is_some() {
                session.orphan = true;
            } else {
                self.capture.sessions.remove(&id);
            }
        }
    }

    /// Whether `id` has a frame waiting to be copied.
    pub(crate) fn capture_is_waiting(&self, id: SessionId) -> bool {
        self.capture
            .sessions
            .get(&id)
            .is_some_and(|s| s.waiting.is_some())
    }

    /// A client asks for a frame into `buffer`: checked against the
    /// session's constraints, then copied at once or, with `on_damage` (and
    /// after the session's first frame), at the first frame with damage.
    /// `stride_exact`: a `wl_shm` stride must be exactly a row (wlr, which
    /// announces it), not just at least one.
    pub(crate) fn capture_frame(
        &mut self,
        id: SessionId,
        owner: ObjectId,
        buffer: WlBuffer,
        on_damage: bool,
        stride_exact: bool,
        sink: Box<dyn FrameSink>,
    ) {
        debug!(?id, on_damage, "capture asked for");
        let Some(session) = self.capture.sessions.get_mut(&id) else {
            sink.failed(Failure::Stopped);
            return;
        };
        if session.stopped {
            sink.failed(Failure::Stopped);
            return;
        }
        if let Err(why) = check_buffer(&buffer, &session.constraints, stride_exact) {
            debug!(why, "capture buffer refused");
            sink.failed(Failure::BufferConstraints);
            return;
        }
        if let Some(old) = session.waiting.replace(Request {
            owner,
            buffer,
            on_damage,
            fenced: false,
            sink,
        }) {
            old.sink.failed(Failure::Unknown);
        }
        self.capture_start(id);
    }

    /// The output rendered a frame into `image`, with `damage` in
    /// framebuffer pixels (`None`: nothing changed), presented `now`: every
    /// session takes the damage, and waiting frames that can go, go.
    pub(crate) fn capture_output_frame(
        &mut self,
        image: &VulkanTexture,
        damage: Option<&[Rectangle<i32, Physical>]>,
        now: Duration,
    ) {
        let new_image = self
            .capture
            .image
            .as_ref()
            .is_none_or(|(old, _)| !old.same_as(image));
        if damage.is_none() && !new_image {
            return;
        }
        self.capture.image = Some((image.clone(), now));
        let ids: Vec<SessionId> = self.capture.sessions.keys().copied().collect();
        for id in ids {
            let session = &self.capture.sessions[&id];
            // A toplevel's damage comes from its commits.
            if session.source != Source::Output {
                continue;
            }
            let added = match damage {
                Some(rects) if !new_image => self
                    .capture_area(session.orientation, session.region)
                    .damage(rects),
                _ => None,
            };
            let session = self.capture.sessions.get_mut(&id).expect("looked up above");
            if new_image {
                // Another image (the first, or after a resize): all of it.
                session.damage = None;
            } else if let (Some(undelivered), Some(added)) = (&mut session.damage, added) {
                add_damage(undelivered, added);
            }
            self.capture_start(id);
        }
    }

    /// A surface of `window` committed: its sessions are damaged whole.
    pub(crate) fn capture_window_committed(&mut self, window: &Window) {
        self.capture_source_damaged(&Source::Toplevel(window.clone()));
    }

    /// The cursor moved or changed: output sessions that paint it are
    /// damaged whole, and their waiting frames go.
    fn capture_cursor_painted_damaged(&mut self) {
        self.capture_damage_whole(|s| s.source == Source::Output && s.cursors);
    }

    /// `source` changed (not the output, whose damage comes with its
    /// frames): its sessions are damaged whole, and waiting frames go.
    fn capture_source_damaged(&mut self, source: &Source) {
        self.capture_damage_whole(|s| &s.source == source);
    }

    /// The sessions `which` picks are damaged whole, and their waiting
    /// frames go.
    fn capture_damage_whole(&mut self, which: impl Fn(&Session) -> bool) {
        let ids: Vec<SessionId> = self
            .capture
            .sessions
            .iter()
            .filter(|(_, s)| which(s))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(session) = self.capture.sessions.get_mut(&id) {
                session.damage = None;
            }
            self.capture_start(id);
        }
    }

    /// The output's mode or transform changed, or a toplevel's size: every
    /// session whose constraints changed hears the new ones, and a frame
    /// waiting with a buffer that no longer fits fails.
    pub(crate) fn capture_constraints_changed(&mut self) {
        let ids: Vec<SessionId> = self.capture.sessions.keys().copied().collect();
        for id in ids {
            let session = &self.capture.sessions[&id];
            if session.stopped {
                continue;
            }
            let constraints =
                self.capture_constraints(&session.source, session.orientation, session.region);
            let session = self.capture.sessions.get_mut(&id).expect("looked up above");
            if constraints == session.constraints {
                continue;
            }
            if let Some(sink) = &session.sink {
                sink.constraints(&constraints);
            }
            session.constraints = constraints;
            session.damage = None;
            if let Some(request) = session.waiting.take() {
                request.sink.failed(Failure::BufferConstraints);
            }
        }
    }

    /// A toplevel went away: its sessions stop.
    pub(crate) fn capture_window_closed(&mut self, window: &Window) {
        for session in self.capture.sessions.values_mut() {
            if session.source != Source::Toplevel(window.clone()) || session.stopped {
                continue;
            }
            session.stopped = true;
            if let Some(sink) = &session.sink {
                sink.stopped();
            }
            if let Some(request) = session.waiting.take() {
                request.sink.failed(Failure::Stopped);
            }
        }
    }

    /// Copies the waiting frame of `id` if it may go now.
    fn capture_start(&mut self, id: SessionId) {
        let Some(session) = self.capture.sessions.get_mut(&id) else {
            return;
        };
        let damaged = session.damage.as_ref().is_none_or(|d| !d.is_empty());
        let may_go = session
            .waiting
            .as_ref()
            .is_some_and(|r| (damaged || !r.on_damage) && !r.fenced);
        if !may_go {
            return;
        }
        if self.capture_hold_for_fence(id) {
            return;
        }
        let Some(session) = self.capture.sessions.get_mut(&id) else {
            return;
        };
        let source = session.source.clone();
        let (orientation, region, cursors) = (session.orientation, session.region, session.cursors);
        let size = session.constraints.size;
        // The source image, and the part of it to read.
        let (image, presented, transform, area) = match &source {
            Source::Output => {
                let Some((mut image, presented)) = self.capture.image.clone() else {
                    // No frame rendered yet: the first one starts it.
                    return;
                };
                if cursors {
                    match self.render_output_with_cursor() {
                        Ok(Some(painted)) => image = painted,
                        Ok(None) => {}
                        Err(err) => warn!("painting the cursor into a capture: {err:#}"),
                    }
                }
                let area = self.capture_area(orientation, region);
                (image, presented, area.content_transform(), area.framebuffer)
            }
            Source::Toplevel(_) | Source::Cursor => match self.render_source(&source) {
                Ok(image) => {
                    let area = Rectangle::from_size(size);
                    let now = Duration::from(self.clock.now());
                    (image, now, Transform::Normal, area)
                }
                Err(err) => {
                    warn!("capturing a toplevel or the cursor: {err:#}");
                    let session = self.capture.sessions.get_mut(&id).expect("looked up above");
                    if let Some(request) = session.waiting.take() {
                        request.sink.failed(Failure::Unknown);
                    }
                    return;
                }
            },
        };
        let session = self.capture.sessions.get_mut(&id).expect("looked up above");
        let request = session.waiting.take().expect("checked above");
        let orphan = session.orphan;
        let damage = match session.damage.replace(Vec::new()) {
            Some(rects) => rects,
            None => vec![Rectangle::from_size(size)],
        };
        if orphan {
            self.capture.sessions.remove(&id);
        }
        let shm = with_buffer_contents(&request.buffer, |_, _, data| data).ok();
        let dmabuf = get_dmabuf(&request.buffer).ok().cloned();
        let target = match (&shm, &dmabuf) {
            (Some(data), _) => CaptureTarget::Shm {
                format: shm_format_to_fourcc(data.format).unwrap_or(DrmFourcc::Xrgb8888),
                width: data.width as u32,
                height: data.height as u32,
                stride: data.stride as u32,
            },
            (None, Some(dmabuf)) => CaptureTarget::Dmabuf(dmabuf),
            (None, None) => {
                request.sink.failed(Failure::BufferConstraints);
                return;
            }
        };
        let pending = match self.renderer.capture(&image, area, transform, target) {
            Ok(pending) => pending,
            Err(err) => {
                warn!(%err, "capture copy refused");
                request.sink.failed(Failure::Unknown);
                return;
            }
        };
        let captured = Captured { damage, presented };
        self.capture_write_back(pending, request.buffer, captured, request.sink);
    }

    /// Hands a submitted copy into `buffer` to the writer thread, which
    /// waits for its job and writes a `wl_shm` buffer's pixels; `sink`
    /// hears `ready` with `captured`, or `failed`, on the loop once that
    /// is done. The one path by which a copy into a client's buffer is
    /// completed: screen capture and the buffer-copy protocol use it.
    pub(crate) fn capture_write_back(
        &mut self,
        pending: PendingCapture,
        buffer: WlBuffer,
        captured: Captured,
        sink: Box<dyn FrameSink>,
    ) {
        let flight = self.capture.next_id();
        debug!(flight, "capture submitted");
        let job = WriteBack {
            flight,
            pending,
            buffer,
        };
        if self.capture.writer.send(job).is_err() {
            warn!("the capture writer is gone");
            sink.failed(Failure::Unknown);
            return;
        }
        self.capture
            .in_flight
            .insert(flight, InFlight { captured, sink });
    }

    /// Whether the waiting frame of `id` must first wait for its dma-buf's
    /// implicit fences (a client still reading or writing it): then a
    /// fence source on the loop starts it once they signalled. The copy
    /// job would wait for them on the GPU, but a driver that exports its
    /// own fence only after its queue drained (lavapipe) would then block
    /// the loop, and every later job would queue behind the held one.
    fn capture_hold_for_fence(&mut self, id: SessionId) -> bool {
        let Some(request) = self
            .capture
            .sessions
            .get_mut(&id)
            .and_then(|s| s.waiting.as_mut())
        else {
            return false;
        };
        let Ok(dmabuf) = get_dmabuf(&request.buffer) else {
            return false;
        };
        let fence = match implicit_fence(dmabuf, SyncAccess::Write) {
            Ok(Some(fence)) if !fence.is_signalled().unwrap_or(true) => fence,
            Ok(_) => return false,
            Err(err) => {
                debug!(%err, "no implicit fence on a capture destination");
                return false;
            }
        };
        let owner = request.owner.clone();
        let inserted = self
            .handle
            .insert_source(FenceSource::new(fence), move |_, (), state| {
                let request = state
                    .capture
                    .sessions
                    .get_mut(&id)
                    .and_then(|s| s.waiting.as_mut())
                    .filter(|r| r.owner == owner);
                if let Some(request) = request {
                    request.fenced = false;
                    state.capture_start(id);
                }
            });
        match inserted {
            Ok(_) => {
                request.fenced = true;
                true
            }
            Err(err) => {
                warn!(%err, "cannot watch a capture destination's fence");
                false
            }
        }
    }

    /// The writer finished `flight`: the sink hears `ready`, or `failed`.
    fn capture_finished(&mut self, flight: u64, result: Result<(), WriteBackError>) {
        let Some(done) = self.capture.in_flight.remove(&flight) else {
            return;
        };
        match result {
            Ok(()) => {
                debug!(flight, "capture delivered");
                done.sink.ready(&done.captured);
            }
            Err(err) => {
                debug!(%err, flight, "capture not delivered");
                done.sink.failed(match err {
                    WriteBackError::BufferGone | WriteBackError::Layout => Failure::BufferGone,
                    WriteBackError::Render(_) => Failure::Unknown,
                });
            }
        }
    }

    /// A toplevel's surfaces, or the cursor's image, composed at their own
    /// size into a new texture.
    fn render_source(&mut self, source: &Source) -> anyhow::Result<VulkanTexture> {
        match source {
            Source::Toplevel(window) => {
                let scale = self.output.current_scale().fractional_scale();
                let size = self.toplevel_capture_size(window);
                let origin = window.geometry().loc;
                let location = Point::<i32, Logical>::from((-origin.x, -origin.y))
                    .to_physical_precise_round(scale);
                let elements: Vec<WaylandSurfaceRenderElement<VulkanRenderer>> =
                    window.render_elements(&mut self.renderer, location, scale.into(), 1.0);
                self.render_offscreen(size, scale, &elements)
            }
            Source::Cursor => self.render_cursor(),
            Source::Output => anyhow::bail!("the output's image is rendered every refresh"),
        }
    }

    /// The size of a toplevel's capture: its window geometry at the
    /// output's scale, in the output's pixels (at least 1×1), as it is
    /// shown there.
    fn toplevel_capture_size(&self, window: &Window) -> Size<i32, Physical> {
        let scale = self.output.current_scale().fractional_scale();
        let size: Size<i32, Physical> = window.geometry().size.to_physical_precise_round(scale);
        Size::from((size.w.max(1), size.h.max(1)))
    }

    /// `elements` rendered at `scale` into a new transparent ARGB8888
    /// texture of `size`.
    pub(crate) fn render_offscreen(
        &mut self,
        size: Size<i32, Physical>,
        scale: f64,
        elements: &[impl RenderElement<VulkanRenderer>],
    ) -> anyhow::Result<VulkanTexture> {
        let mut texture = self
            .renderer
            .create_buffer(DrmFourcc::Argb8888, (size.w, size.h).into())?;
        let mut tracker = OutputDamageTracker::new(size, scale, Transform::Normal);
        let mut framebuffer =
            smithay::backend::renderer::Bind::bind(&mut self.renderer, &mut texture)?;
        tracker
            .render_output(&mut self.renderer, &mut framebuffer, 0, elements, [0.0; 4])
            .map_err(|err| anyhow::anyhow!("rendering offscreen: {err:?}"))?;
        drop(framebuffer);
        Ok(texture)
    }
}

/// The writer thread: waits for each capture's job to complete, in the
/// order they were submitted (the order the queue runs them), writes a
/// `wl_shm` capture's rows into the client's pool, and tells the loop. The
/// waits and the copies into client memory (milliseconds at 1080p) happen
/// here, never on the loop. It ends when the compositor drops the sender.
fn write_back(jobs: &mpsc::Receiver<WriteBack>, finished: &channel::Sender<Finished>) {
    for job in jobs {
        let result = job.pending.finish(&job.buffer);
        if finished.send((job.flight, result)).is_err() {
            return;
        }
    }
}
