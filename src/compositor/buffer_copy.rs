//! dmabridge-buffer-copy-v1 (`protocols/dmabridge-buffer-copy-v1.xml`):
//! a client asks for a copy between two of its buffers, and the
//! compositor does it as one job of the copy engine.
//!
//! Global: `dmabridge_buffer_copy_manager_v1`, version 2. A copy object
//! keeps the version its manager was bound with: at version 1 a source
//! rectangle off whole pixels is `fractional_source`; from version 2 it is
//! read as `wp_viewporter` reads one ([`CopyPlan::with_source`]), and
//! timeline points of linux-drm-syncobj-v1 may stand for the fences
//! (`set_acquire_point`, `set_release_point`).
//!
//! The rules it keeps:
//!
//! * **Checked before anything runs.** A zero or negative size, a
//!   fractional source at version 1, an unknown transform or filter and a
//!   fence that is not a sync_file are raised by the request that names
//!   them (`invalid_size`, `fractional_source`, `invalid_transform`,
//!   `invalid_filter`, `invalid_fence`); `submit` makes the description a
//!   [`CopyPlan`], and a rectangle outside its buffer (`out_of_bounds`) or
//!   a copy that resamples without a filter (`no_filter`) is refused there, before
//!   a command is recorded. Every request but `destroy` after `submit` is
//!   `already_submitted`; one buffer on both sides is the manager's
//!   `same_buffer`.
//! * **The loop never waits.** The fences that guard the buffers (a
//!   dma-buf source's writers, a dma-buf destination's readers and
//!   writers, the client's acquire fence) are watched on the event loop
//!   ([`FenceSource`]) and the job is submitted once they signalled, so
//!   the copier finds nothing to block on. An acquire point is waited for
//!   first, through the eventfd its timeline signals once the point has a
//!   fence and that fence signalled (smithay's `DrmSyncPointSource`).
//! * **Frames first.** At most [`ON_DEVICE`] copy is queued on the device
//!   at a time; the others wait on the loop, in the order they became
//!   ready. An output frame queued on the device runs after the work
//!   queued before it, and a device without kernel fences (lavapipe)
//!   finishes that work before it hands out the frame's sync_file: a
//!   client queuing many large copies would otherwise hold every frame
//!   back by all of them. The job's completion is waited
//!   for by screen capture's writer thread, which also writes a `wl_shm`
//!   destination's rectangle back through smithay's guarded mapping of its
//!   pool ([`State::capture_write_back`]), and `done` is sent from the
//!   loop once it did: never before the job's fence signalled.
//! * **Exactly one answer.** A submitted copy hears `done` or `failed`:
//!   `unsupported` for buffers the engine cannot read or write (a format
//!   pair it does not convert, such as anything into NV12, which `wl_shm`
//!   and linux-dmabuf offer as a source only; a non-LINEAR destination; a
//!   buffer that is neither `wl_shm` nor a dma-buf), `buffer_gone` for a buffer destroyed
//!   before its copy completed, `device_lost` when the device failed.
//!   A release point is signalled with every answer, right before it
//!   ([`Answer`]), even for a copy object destroyed meanwhile.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use smithay::backend::allocator::Buffer as _;
use smithay::reexports::calloop::{LoopHandle, channel};
use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource, WEnum,
};
use smithay::utils::{Clock, Monotonic};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::drm_syncobj::{DrmSyncPoint, DrmSyncobjTimelineData, DrmTimeline};
use smithay::wayland::shm::{shm_format_to_fourcc, with_buffer_contents};
use tracing::{debug, warn};

use super::capture::{Captured, Failure as CaptureFailure, FrameSink, ext::split_time};
use super::limits::{self, Held};
use super::state::{State, implicit_fence};
use crate::copy::{
    CopyError, CopyPlan, CopyRequest, Filter, PlanError, Point, Rect, Size, Transform,
};
use smithay::reexports::wayland_protocols::wp::linux_drm_syncobj::v1::server::wp_linux_drm_syncobj_timeline_v1::WpLinuxDrmSyncobjTimelineV1;
use crate::protocols::buffer_copy::server::{
    dmabridge_buffer_copy_manager_v1::{self, DmabridgeBufferCopyManagerV1},
    dmabridge_buffer_copy_v1::{self, DmabridgeBufferCopyV1, Error, Failure},
};
use crate::render::{CaptureTarget, RenderError};
use crate::sync::{FenceSource, SyncAccess, SyncFile};
use crate::vulkan::VulkanError;

/// The version offered.
const VERSION: u32 = 2;

/// The first version whose source rectangles may be fractional.
const FRACTIONAL_SINCE: u32 = 2;

/// The most buffer copies queued on the device at once (see the module
/// documentation).
const ON_DEVICE: usize = 1;

/// Submitted copies whose fences signalled, waiting for the device.
pub(crate) struct BufferCopies {
    waiting: VecDeque<Job>,
    on_device: usize,
    /// Told by each copy's sink when the copy left the device, with the
    /// client that asked for it.
    finished: channel::Sender<ClientId>,
}

impl std::fmt::Debug for BufferCopies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferCopies")
            .field("waiting", &self.waiting.len())
            .field("on_device", &self.on_device)
            .finish_non_exhaustive()
    }
}

impl BufferCopies {
    /// No copies yet, on `handle`'s loop.
    pub(crate) fn new(handle: &LoopHandle<'static, State>) -> anyhow::Result<Self> {
        let (finished, receiver) = channel::channel::<ClientId>();
        handle
            .insert_source(receiver, |event, (), state| {
                if let channel::Event::Msg(client) = event {
                    state.buffer_copies.on_device -= 1;
                    state.release_held(client, Held::Copy);
                    state.buffer_copy_next();
                }
            })
            .map_err(|err| anyhow::anyhow!("inserting the buffer-copy channel: {err}"))?;
        Ok(Self {
            waiting: VecDeque::new(),
            on_device: 0,
            finished,
        })
    }
}

/// Makes the global.
pub(crate) fn create_global(dh: &DisplayHandle) {
    dh.create_global::<State, DmabridgeBufferCopyManagerV1, _>(VERSION, ());
}

/// A copy object's description, as the client set it so far.
#[derive(Debug)]
struct Draft {
    source: WlBuffer,
    destination: WlBuffer,
    /// `None`: the whole buffer.
    src_rect: Option<Rect<f64, crate::copy::Buffer>>,
    dst_rect: Option<Rect<i32, crate::copy::Dest>>,
    transform: Transform,
    filter: Option<Filter>,
    acquire: Option<SyncFile>,
    release: bool,
    acquire_point: Option<(DrmTimeline, u64)>,
    release_point: Option<(DrmTimeline, u64)>,
}

/// A copy object: its description until `submit` takes it.
#[derive(Debug)]
pub(crate) struct CopyData(Mutex<Option<Draft>>);

/// Where a submitted copy's one answer goes: its object, and the release
/// point signalled right before the answer is sent.
#[derive(Clone)]
struct Answer {
    copy: DmabridgeBufferCopyV1,
    release_point: Option<DrmSyncPoint>,
}

impl Answer {
    fn done(&self, clock: &Clock<Monotonic>) {
        self.signal_release();
        let (hi, lo, nsec) = split_time(Duration::from(clock.now()));
        debug!(copy = ?self.copy.id(), "buffer copy done");
        self.copy.done(hi, lo, nsec);
    }

    fn failed(&self, reason: Failure) {
        self.signal_release();
        self.copy.failed(reason);
    }

    fn signal_release(&self) {
        if let Some(point) = &self.release_point
            && let Err(err) = point.signal()
        {
            warn!(%err, "cannot signal a buffer copy's release point");
        }
    }
}

/// A submitted copy whose plan holds: what the job is made of. Its client
/// holds one [`Held::Copy`] more until the copy is answered.
struct Job {
    client: ClientId,
    answer: Answer,
    source: WlBuffer,
    destination: WlBuffer,
    plan: CopyPlan,
    acquire: Vec<SyncFile>,
    release: bool,
}

/// Tells a copy object how its job ended, from the writer's word, and
/// the queue that the device has room for the next.
struct CopyEvents {
    client: ClientId,
    answer: Answer,
    clock: Clock<Monotonic>,
    finished: channel::Sender<ClientId>,
}

impl CopyEvents {
    fn left_device(&self) {
        // The receiver lives as long as the loop that calls this.
        let _ = self.finished.send(self.client.clone());
    }
}

impl FrameSink for CopyEvents {
    fn ready(&self, _: &Captured) {
        self.left_device();
        self.answer.done(&self.clock);
    }

    fn failed(&self, reason: CaptureFailure) {
        self.left_device();
        self.answer.failed(match reason {
            CaptureFailure::BufferConstraints => Failure::Unsupported,
            CaptureFailure::Stopped | CaptureFailure::BufferGone => Failure::BufferGone,
            CaptureFailure::Unknown => Failure::DeviceLost,
        });
    }
}

impl GlobalDispatch<DmabridgeBufferCopyManagerV1, ()> for State {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<DmabridgeBufferCopyManagerV1>,
        _: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<DmabridgeBufferCopyManagerV1, ()> for State {
    fn request(
        _: &mut Self,
        client: &Client,
        manager: &DmabridgeBufferCopyManagerV1,
        request: dmabridge_buffer_copy_manager_v1::Request,
        _: &(),
        dh: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use dmabridge_buffer_copy_manager_v1::Request;
        match request {
            Request::Copy {
                id,
                source,
                destination,
            } => {
                if source == destination {
                    manager.post_error(
                        dmabridge_buffer_copy_manager_v1::Error::SameBuffer,
                        "the source and the destination are one wl_buffer",
                    );
                    return;
                }
                if !limits::hold_or_disconnect(dh, client, Held::Copy) {
                    return;
                }
                init.init(
                    id,
                    CopyData(Mutex::new(Some(Draft {
                        source,
                        destination,
                        src_rect: None,
                        dst_rect: None,
                        transform: Transform::Normal,
                        filter: None,
                        acquire: None,
                        release: false,
                        acquire_point: None,
                        release_point: None,
                    }))),
                );
            }
            Request::Destroy => {}
        }
    }
}

impl Dispatch<DmabridgeBufferCopyV1, CopyData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        copy: &DmabridgeBufferCopyV1,
        request: dmabridge_buffer_copy_v1::Request,
        data: &CopyData,
        dh: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
        use dmabridge_buffer_copy_v1::Request;
        let mut draft = data.0.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(request, Request::Destroy) {
            return;
        }
        let Some(described) = draft.as_mut() else {
            copy.post_error(
                Error::AlreadySubmitted,
                "the copy was submitted: only destroy may follow",
            );
            return;
        };
        match request {
            Request::SetSource {
                x,
                y,
                width,
                height,
            } => {
                if width <= 0.0 || height <= 0.0 {
                    copy.post_error(Error::InvalidSize, "the source rectangle is empty");
                    return;
                }
                if copy.version() < FRACTIONAL_SINCE
                    && [x, y, width, height].iter().any(|v| v.fract() != 0.0)
                {
                    copy.post_error(
                        Error::FractionalSource,
                        "the source rectangle must lie on whole pixels",
                    );
                    return;
                }
                described.src_rect = Some(Rect::new(Point::new(x, y), Size::new(width, height)));
            }
            Request::SetDestination {
                x,
                y,
                width,
                height,
            } => {
                if width <= 0 || height <= 0 {
                    copy.post_error(Error::InvalidSize, "the destination rectangle is empty");
                    return;
                }
                described.dst_rect = Some(Rect::new(Point::new(x, y), Size::new(width, height)));
            }
            Request::SetTransform { transform } => {
                let known = match transform {
                    WEnum::Value(value) => Transform::from_wl(value as u32),
                    WEnum::Unknown(_) => None,
                };
                match known {
                    Some(transform) => described.transform = transform,
                    None => {
                        copy.post_error(Error::InvalidTransform, "not a wl_output.transform value")
                    }
                }
            }
            Request::SetFilter { filter } => match filter {
                WEnum::Value(dmabridge_buffer_copy_v1::Filter::Nearest) => {
                    described.filter = Some(Filter::Nearest);
                }
                WEnum::Value(dmabridge_buffer_copy_v1::Filter::Linear) => {
                    described.filter = Some(Filter::Linear);
                }
                _ => copy.post_error(Error::InvalidFilter, "not a filter value"),
            },
            Request::SetAcquire { fence } => match SyncFile::from_fd(fence) {
                Ok(fence) => described.acquire = Some(fence),
                Err(err) => copy.post_error(Error::InvalidFence, format!("acquire fence: {err}")),
            },
            Request::SetRelease => described.release = true,
            Request::SetAcquirePoint {
                timeline,
                point_hi,
                point_lo,
            } => described.acquire_point = timeline_point(&timeline, point_hi, point_lo),
            Request::SetReleasePoint {
                timeline,
                point_hi,
                point_lo,
            } => described.release_point = timeline_point(&timeline, point_hi, point_lo),
            Request::Submit => {
                let described = draft.take().expect("checked above");
                drop(draft);
                state.buffer_copy_submit((dh, client), copy, described);
            }
            // Handled above: destroy is the one request allowed after
            // submit.
            Request::Destroy => {}
        }
    }

    fn destroyed(state: &mut Self, client: ClientId, _: &DmabridgeBufferCopyV1, _: &CopyData) {
        state.release_held(client, Held::Copy);
    }
}

/// The timeline a `wp_linux_drm_syncobj_timeline_v1` imported and the
/// point `point_hi << 32 | point_lo` on it. Every such object carries its
/// timeline; `None` only for one of another global's making, which none
/// is.
fn timeline_point(
    timeline: &WpLinuxDrmSyncobjTimelineV1,
    point_hi: u32,
    point_lo: u32,
) -> Option<(DrmTimeline, u64)> {
    let data = timeline.data::<DrmSyncobjTimelineData>()?;
    Some((
        data.timeline().clone(),
        (u64::from(point_hi) << 32) | u64::from(point_lo),
    ))
}

/// A buffer's size in pixels: a `wl_shm` buffer's or a dma-buf's. `Err`
/// with the failure a copy of it gets otherwise.
fn buffer_size(buffer: &WlBuffer) -> Result<(i32, i32), Failure> {
    if !buffer.is_alive() {
        return Err(Failure::BufferGone);
    }
    if let Ok(data) = with_buffer_contents(buffer, |_, _, data| data) {
        return Ok((data.width, data.height));
    }
    match get_dmabuf(buffer) {
        Ok(dmabuf) => {
            let size = dmabuf.size();
            Ok((size.w, size.h))
        }
        Err(_) => Err(Failure::Unsupported),
    }
}

/// The failure a copy the renderer refused or failed gets.
fn render_failure(err: &RenderError) -> Failure {
    match err {
        RenderError::Copy(CopyError::Vulkan(VulkanError::DeviceLost { .. })) => Failure::DeviceLost,
        _ => Failure::Unsupported,
    }
}

impl State {
    /// `copy` was submitted as `draft` describes: planned (a misuse is the
    /// protocol error the XML names), then started once the fences that
    /// guard its buffers signalled.
    fn buffer_copy_submit(
        &mut self,
        (dh, client): (&DisplayHandle, &Client),
        copy: &DmabridgeBufferCopyV1,
        draft: Draft,
    ) {
        let answer = Answer {
            copy: copy.clone(),
            release_point: draft
                .release_point
                .as_ref()
                .map(|(timeline, point)| timeline.point(*point)),
        };
        let sizes = buffer_size(&draft.source).and_then(|src| {
            buffer_size(&draft.destination).map(|dst| (Size::new(src.0, src.1), dst))
        });
        let (src_size, (dst_w, dst_h)) = match sizes {
            Ok(sizes) => sizes,
            Err(failure) => {
                answer.failed(failure);
                return;
            }
        };
        let dst_size = Size::new(dst_w, dst_h);
        let whole = Rect::new(Point::new(0, 0), src_size);
        let request = CopyRequest {
            src_size,
            dst_size,
            src_rect: whole,
            dst_rect: draft
                .dst_rect
                .unwrap_or(Rect::new(Point::new(0, 0), dst_size)),
            transform: draft.transform,
            filter: draft.filter,
        };
        let planned = match draft.src_rect {
            // wl_fixed values: exact in f64.
            Some(source) => CopyPlan::with_source(request, source),
            None => CopyPlan::new(request),
        };
        let plan = match planned {
            Ok(plan) => plan,
            Err(err) => {
                match err {
                    PlanError::EmptyRect { .. } => {
                        copy.post_error(Error::InvalidSize, err.to_string())
                    }
                    PlanError::NegativeOrigin { .. } | PlanError::RectOutOfBounds { .. } => {
                        copy.post_error(Error::OutOfBounds, err.to_string());
                    }
                    PlanError::ScalingWithoutFilter { .. } | PlanError::FractionalWithoutFilter => {
                        copy.post_error(Error::NoFilter, err.to_string());
                    }
                    PlanError::EmptyBuffer { .. } | PlanError::BufferTooLarge { .. } => {
                        debug!(%err, "buffer copy refused");
                        answer.failed(Failure::Unsupported);
                    }
                }
                return;
            }
        };
        if draft.acquire.is_some() && draft.acquire_point.is_some() {
            copy.post_error(
                Error::ConflictingAcquire,
                "both an acquire fence and an acquire point",
            );
            return;
        }
        if let (Some((acquire, at)), Some((release, until))) =
            (&draft.acquire_point, &draft.release_point)
            && acquire == release
            && until <= at
        {
            copy.post_error(
                Error::ConflictingPoints,
                format!("release point {until} is not after acquire point {at} on one timeline"),
            );
            return;
        }
        // A copy waiting for its fences or the device is held like an
        // object, so that a client that destroys its copy objects after
        // submit cannot queue without bound.
        if !limits::hold_or_disconnect(dh, client, Held::Copy) {
            return;
        }
        let job = Job {
            client: client.id(),
            answer,
            source: draft.source,
            destination: draft.destination,
            plan,
            acquire: draft.acquire.into_iter().collect(),
            release: draft.release,
        };
        let Some((timeline, point)) = draft.acquire_point else {
            self.buffer_copy_wait_fences(job);
            return;
        };
        debug!(copy = ?copy.id(), point, "buffer copy waits for its acquire point");
        // Kept to answer with if the wait cannot start: the job goes into
        // the callback.
        let answer = job.answer.clone();
        // The blocker is for surface commits; the source alone tells the
        // loop once the point signalled.
        let inserted = timeline
            .point(point)
            .generate_blocker()
            .map_err(|err| err.to_string())
            .and_then(|(_blocker, source)| {
                let mut job = Some(job);
                self.handle
                    .insert_source(source, move |(), (), state| {
                        if let Some(job) = job.take() {
                            state.buffer_copy_wait_fences(job);
                        }
                        Ok(())
                    })
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = inserted {
            warn!(%err, "cannot wait for a buffer copy's acquire point");
            answer.failed(Failure::DeviceLost);
            self.release_held(client.id(), Held::Copy);
        }
    }

    /// Queues `job` once the sync_files that guard it signalled (see
    /// [`pending_fence`]), watching them on the loop meanwhile.
    fn buffer_copy_wait_fences(&mut self, job: Job) {
        let Some(fence) = pending_fence(&job) else {
            self.buffer_copies.waiting.push_back(job);
            self.buffer_copy_next();
            return;
        };
        debug!(copy = ?job.answer.copy.id(), "buffer copy waits for its fences");
        // Kept to answer with if the wait cannot start, as above.
        let (client, answer) = (job.client.clone(), job.answer.clone());
        let mut job = Some(job);
        let inserted = self
            .handle
            .insert_source(FenceSource::new(fence), move |_, (), state| {
                if let Some(job) = job.take() {
                    state.buffer_copies.waiting.push_back(job);
                    state.buffer_copy_next();
                }
            });
        if let Err(err) = inserted {
            warn!(%err, "cannot watch a buffer copy's fences");
            answer.failed(Failure::DeviceLost);
            self.release_held(client, Held::Copy);
        }
    }

    /// Starts waiting copies while the device has room for them.
    fn buffer_copy_next(&mut self) {
        while self.buffer_copies.on_device < ON_DEVICE {
            let Some(job) = self.buffer_copies.waiting.pop_front() else {
                return;
            };
            let client = job.client.clone();
            if self.buffer_copy_start(job) {
                self.buffer_copies.on_device += 1;
            } else {
                self.release_held(client, Held::Copy);
            }
        }
    }

    /// Submits `job`, whose fences signalled, and hands its completion to
    /// the writer thread; whether it reached the device (else its object
    /// heard `failed`).
    fn buffer_copy_start(&mut self, job: Job) -> bool {
        let Job {
            client,
            answer,
            source,
            destination,
            plan,
            acquire,
            release,
        } = job;
        if !source.is_alive() || !destination.is_alive() {
            answer.failed(Failure::BufferGone);
            return false;
        }
        let texture = match self.renderer.import_buffer(&source) {
            Ok(texture) => texture,
            Err(err) => {
                debug!(%err, "buffer copy source refused");
                answer.failed(render_failure(&err));
                return false;
            }
        };
        let shm = with_buffer_contents(&destination, |_, _, data| data).ok();
        let dmabuf = get_dmabuf(&destination).ok().cloned();
        let target = match (&shm, &dmabuf) {
            (Some(data), _) => match shm_format_to_fourcc(data.format) {
                Some(format) => CaptureTarget::Shm {
                    format,
                    width: data.width as u32,
                    height: data.height as u32,
                    stride: data.stride as u32,
                },
                None => {
                    answer.failed(Failure::Unsupported);
                    return false;
                }
            },
            (None, Some(dmabuf)) => CaptureTarget::Dmabuf(dmabuf),
            (None, None) => {
                answer.failed(Failure::Unsupported);
                return false;
            }
        };
        let pending = match self
            .renderer
            .copy_into(&texture, &plan, target, &acquire, release)
        {
            Ok(pending) => pending,
            Err(err) => {
                debug!(%err, "buffer copy refused");
                answer.failed(render_failure(&err));
                return false;
            }
        };
        if release {
            match pending.release_fence() {
                Ok(Some(fence)) => answer.copy.release(fence.as_fd()),
                Ok(None) => {}
                Err(err) => debug!(%err, "no release fence for a buffer copy"),
            }
        }
        debug!(copy = ?answer.copy.id(), "buffer copy submitted");
        let events = CopyEvents {
            client,
            answer,
            clock: Clock::new(),
            finished: self.buffer_copies.finished.clone(),
        };
        let captured = Captured {
            damage: Vec::new(),
            presented: Duration::ZERO,
        };
        self.capture_write_back(pending, destination, captured, Box::new(events));
        true
    }
}

/// The fences `job` must wait for that have not signalled yet, merged:
/// its acquire fence, a dma-buf source's writers, a dma-buf destination's
/// readers and writers. `None` when there is nothing to wait for.
fn pending_fence(job: &Job) -> Option<SyncFile> {
    let mut fences: Vec<SyncFile> = Vec::new();
    for fence in &job.acquire {
        if let Ok(fd) = fence.as_fd().try_clone_to_owned()
            && let Ok(fence) = SyncFile::from_fd(fd)
        {
            fences.push(fence);
        }
    }
    for (buffer, access) in [
        (&job.source, SyncAccess::Read),
        (&job.destination, SyncAccess::Write),
    ] {
        let Ok(dmabuf) = get_dmabuf(buffer) else {
            continue;
        };
        match implicit_fence(dmabuf, access) {
            Ok(Some(fence)) => fences.push(fence),
            Ok(None) => {}
            Err(err) => debug!(%err, "no implicit fence on a buffer copy's buffer"),
        }
    }
    let mut pending = fences
        .into_iter()
        .filter(|fence| !fence.is_signalled().unwrap_or(true));
    let first = pending.next()?;
    // A fence that cannot be merged is left to the copier, which waits
    // for it itself (on the device, or on the CPU where it must).
    Some(pending.fold(first, |merged, fence| {
        merged
            .merge(&fence, "dmabridge buffer copy")
            .unwrap_or_else(|err| {
                warn!(%err, "cannot merge a buffer copy's fences");
                merged
            })
    }))
}
