//! ext-image-copy-capture-v1 over ext-image-capture-source-v1: the
//! protocol layer of [`super`].
//!
//! Globals: `ext_image_copy_capture_manager_v1`,
//! `ext_output_image_capture_source_manager_v1` and
//! `ext_foreign_toplevel_image_capture_source_manager_v1` (its handles
//! come from `ext_foreign_toplevel_list_v1`, see `state.rs`).
//!
//! Every error the protocol names is raised on the object it names:
//! `invalid_option` (manager: an option bit the enum lacks),
//! `duplicate_frame` (session: a frame while one exists), `no_buffer`,
//! `invalid_buffer_damage` and `already_captured` (frame), and
//! `duplicate_session` (cursor session). A buffer that does not match the
//! constraints fails the frame with `buffer_constraints`; a source that
//! went away, or that never was (a closed toplevel), with `stopped`.
//!
//! Images are delivered upright with transform `normal`. A cursor session
//! on the output reports the pointer's cursor (`enter`, `position` of its
//! hotspot in upright output pixels, `hotspot`, `leave`) while it has an
//! image that touches the output; its capture session delivers that image
//! (the surface the client set with `wl_pointer.set_cursor`) at its own
//! size, 1×1 and transparent while there is none. A named cursor has no
//! image (no cursor theme is loaded). With `paint_cursors`, an output
//! session's frames show that cursor image where the pointer is.

use std::sync::{Mutex, OnceLock, PoisonError};

use smithay::output::Output;
use smithay::reexports::wayland_protocols::ext::image_capture_source::v1::server::{
    ext_foreign_toplevel_image_capture_source_manager_v1::{
        self, ExtForeignToplevelImageCaptureSourceManagerV1,
    },
    ext_image_capture_source_v1::{self, ExtImageCaptureSourceV1},
    ext_output_image_capture_source_manager_v1::{self, ExtOutputImageCaptureSourceManagerV1},
};
use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::{
    ext_image_copy_capture_cursor_session_v1::{self, ExtImageCopyCaptureCursorSessionV1},
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1},
    ext_image_copy_capture_manager_v1::{self, ExtImageCopyCaptureManagerV1},
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};
use smithay::reexports::wayland_server::backend::{ClientId, ObjectId};
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use smithay::wayland::foreign_toplevel_list::ForeignToplevelHandle;

use super::super::limits::{self, Held};
use super::{
    Captured, Constraints, CursorId, CursorPlace, CursorSink, Failure, FrameSink, Orientation,
    SessionId, SessionSink, Source,
};
use crate::compositor::state::State;

/// Makes the three globals.
pub(crate) fn create_globals(dh: &DisplayHandle) {
    dh.create_global::<State, ExtImageCopyCaptureManagerV1, _>(1, ());
    dh.create_global::<State, ExtOutputImageCaptureSourceManagerV1, _>(1, ());
    dh.create_global::<State, ExtForeignToplevelImageCaptureSourceManagerV1, _>(1, ());
}

/// What an `ext_image_capture_source_v1` captures: `None` for a source
/// made from something already gone.
#[derive(Debug)]
pub(crate) struct SourceData(Option<Source>);

/// A session's core handle (`None`: its source was gone from the start),
/// and its live frame, if any.
#[derive(Debug)]
pub(crate) struct SessionData {
    /// Set once, right after the object is made (its sink needs it).
    id: OnceLock<Option<SessionId>>,
    frame: Mutex<Option<ObjectId>>,
}

impl SessionData {
    fn new() -> Self {
        Self {
            id: OnceLock::new(),
            frame: Mutex::new(None),
        }
    }

    fn id(&self) -> Option<SessionId> {
        self.id.get().copied().flatten()
    }
}

/// A frame's state, as the client built it.
#[derive(Debug)]
pub(crate) struct FrameData {
    session: Option<SessionId>,
    /// The session object, whose `frame` slot this frame holds.
    owner: ExtImageCopyCaptureSessionV1,
    inner: Mutex<FrameState>,
}

#[derive(Debug, Default)]
struct FrameState {
    buffer: Option<WlBuffer>,
    captured: bool,
}

/// What a cursor session knows: its core handle (`None` for a source
/// other than the output, whose cursor it never reports), and whether its
/// capture session was made.
#[derive(Debug, Default)]
pub(crate) struct CursorSessionData {
    id: OnceLock<Option<CursorId>>,
    session_created: Mutex<bool>,
}

/// A cursor session's events, sent only when what they say changed.
struct CursorEvents {
    cursor: ExtImageCopyCaptureCursorSessionV1,
    sent: Mutex<Option<CursorPlace>>,
}

impl CursorSink for CursorEvents {
    fn report(&self, place: Option<CursorPlace>) {
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        match (*sent, place) {
            (None, None) => {}
            (Some(_), None) => self.cursor.leave(),
            (before, Some(now)) => {
                // `enter` only when the cursor enters, before its position
                // and hotspot; afterwards each only when it changed.
                if before.is_none() {
                    self.cursor.enter();
                }
                if before.map(|b| b.position) != Some(now.position) {
                    self.cursor.position(now.position.x, now.position.y);
                }
                if before.map(|b| b.hotspot) != Some(now.hotspot) {
                    self.cursor.hotspot(now.hotspot.x, now.hotspot.y);
                }
            }
        }
        *sent = place;
    }
}

struct SessionEvents(ExtImageCopyCaptureSessionV1);

impl SessionSink for SessionEvents {
    fn constraints(&self, constraints: &Constraints) {
        send_constraints(&self.0, constraints);
    }

    fn stopped(&self) {
        self.0.stopped();
    }
}

/// Sends a whole batch of constraints, ended by `done`.
fn send_constraints(session: &ExtImageCopyCaptureSessionV1, constraints: &Constraints) {
    let size = constraints.size;
    session.buffer_size(size.w.max(1) as u32, size.h.max(1) as u32);
    for format in &constraints.shm_formats {
        session.shm_format(*format);
    }
    if let Some(dmabuf) = &constraints.dmabuf {
        session.dmabuf_device(dmabuf.device.to_ne_bytes().to_vec());
        let linear = u64::from(drm_fourcc::DrmModifier::Linear)
            .to_ne_bytes()
            .to_vec();
        for format in &dmabuf.formats {
            session.dmabuf_format(*format as u32, linear.clone());
        }
    }
    session.done();
}

struct FrameEvents(ExtImageCopyCaptureFrameV1);

impl FrameSink for FrameEvents {
    fn ready(&self, captured: &Captured) {
        self.0
            .transform(smithay::reexports::wayland_server::protocol::wl_output::Transform::Normal);
        for rect in &captured.damage {
            self.0
                .damage(rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
        }
        let (hi, lo, nsec) = split_time(captured.presented);
        self.0.presentation_time(hi, lo, nsec);
        self.0.ready();
    }

    fn failed(&self, reason: Failure) {
        self.0.failed(match reason {
            Failure::BufferConstraints => {
                ext_image_copy_capture_frame_v1::FailureReason::BufferConstraints
            }
            Failure::Stopped => ext_image_copy_capture_frame_v1::FailureReason::Stopped,
            Failure::BufferGone | Failure::Unknown => {
                ext_image_copy_capture_frame_v1::FailureReason::Unknown
            }
        });
    }
}

/// A monotonic time as the protocol's `tv_sec_hi`, `tv_sec_lo`, `tv_nsec`.
pub(crate) fn split_time(time: std::time::Duration) -> (u32, u32, u32) {
    let secs = time.as_secs();
    ((secs >> 32) as u32, secs as u32, time.subsec_nanos())
}

impl GlobalDispatch<ExtImageCopyCaptureManagerV1, ()> for State {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ExtImageCopyCaptureManagerV1>,
        _: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<ExtImageCopyCaptureManagerV1, ()> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        manager: &ExtImageCopyCaptureManagerV1,
        request: ext_image_copy_capture_manager_v1::Request,
        _: &(),
        dh: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_manager_v1::{Error, Options, Request};
        let creates = matches!(
            request,
            Request::CreateSession { .. } | Request::CreatePointerCursorSession { .. }
        );
        if creates && !limits::hold_or_disconnect(dh, client, Held::Capture) {
            return;
        }
        match request {
            Request::CreateSession {
                session,
                source,
                options,
            } => {
                let Some(options) = Options::from_bits(options.into()) else {
                    manager.post_error(Error::InvalidOption, "unknown option bits");
                    return;
                };
                let source = source.data::<SourceData>().and_then(|s| s.0.clone());
                let session = init.init(session, SessionData::new());
                let id = match source {
                    Some(source) => Some(state.capture_session(
                        source,
                        Orientation::Upright,
                        None,
                        options.contains(Options::PaintCursors),
                        Some(Box::new(SessionEvents(session.clone()))),
                    )),
                    None => {
                        session.stopped();
                        None
                    }
                };
                if let Some(data) = session.data::<SessionData>() {
                    let _ = data.id.set(id);
                }
            }
            Request::CreatePointerCursorSession {
                session, source, ..
            } => {
                let on_output = source
                    .data::<SourceData>()
                    .is_some_and(|s| s.0 == Some(Source::Output));
                let cursor = init.init(session, CursorSessionData::default());
                let id = on_output.then(|| {
                    state.capture_cursor_session(Box::new(CursorEvents {
                        cursor: cursor.clone(),
                        sent: Mutex::new(None),
                    }))
                });
                if let Some(data) = cursor.data::<CursorSessionData>() {
                    let _ = data.id.set(id);
                }
            }
            Request::Destroy => {}
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureSessionV1, SessionData> for State {
    fn request(
        _: &mut Self,
        _: &Client,
        session: &ExtImageCopyCaptureSessionV1,
        request: ext_image_copy_capture_session_v1::Request,
        data: &SessionData,
        _: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_session_v1::{Error, Request};
        match request {
            Request::CreateFrame { frame } => {
                let mut live = data.frame.lock().unwrap_or_else(PoisonError::into_inner);
                if live.is_some() {
                    session.post_error(
                        Error::DuplicateFrame,
                        "create_frame before the previous frame was destroyed",
                    );
                    return;
                }
                let frame = init.init(
                    frame,
                    FrameData {
                        session: data.id(),
                        owner: session.clone(),
                        inner: Mutex::new(FrameState::default()),
                    },
                );
                *live = Some(frame.id());
            }
            Request::Destroy => {}
            _ => {}
        }
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        _: &ExtImageCopyCaptureSessionV1,
        data: &SessionData,
    ) {
        state.release_held(client, Held::Capture);
        if let Some(id) = data.id() {
            state.capture_session_destroyed(id);
        }
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, FrameData> for State {
    fn request(
        state: &mut Self,
        _: &Client,
        frame: &ExtImageCopyCaptureFrameV1,
        request: ext_image_copy_capture_frame_v1::Request,
        data: &FrameData,
        _: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_frame_v1::{Error, FailureReason, Request};
        let mut inner = data.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match request {
            Request::AttachBuffer { buffer } => {
                if inner.captured {
                    frame.post_error(Error::AlreadyCaptured, "attach_buffer after capture");
                    return;
                }
                inner.buffer = Some(buffer);
            }
            Request::DamageBuffer {
                x,
                y,
                width,
                height,
            } => {
                if inner.captured {
                    frame.post_error(Error::AlreadyCaptured, "damage_buffer after capture");
                    return;
                }
                if x < 0 || y < 0 || width <= 0 || height <= 0 {
                    frame.post_error(
                        Error::InvalidBufferDamage,
                        format!("damage {x},{y} {width}×{height}"),
                    );
                }
                // Every capture rewrites the whole buffer, which covers any
                // damage the client names.
            }
            Request::Capture => {
                if inner.captured {
                    frame.post_error(Error::AlreadyCaptured, "capture sent twice");
                    return;
                }
                let Some(buffer) = inner.buffer.clone() else {
                    frame.post_error(Error::NoBuffer, "capture without attach_buffer");
                    return;
                };
                inner.captured = true;
                drop(inner);
                match data.session {
                    Some(id) => state.capture_frame(
                        id,
                        frame.id(),
                        buffer,
                        true,
                        false,
                        Box::new(FrameEvents(frame.clone())),
                    ),
                    None => frame.failed(FailureReason::Stopped),
                }
            }
            Request::Destroy => {}
            _ => {}
        }
    }

    fn destroyed(
        state: &mut Self,
        _: ClientId,
        frame: &ExtImageCopyCaptureFrameV1,
        data: &FrameData,
    ) {
        if let Some(session) = data.owner.data::<SessionData>() {
            let mut live = session.frame.lock().unwrap_or_else(PoisonError::into_inner);
            if live.as_ref() == Some(&frame.id()) {
                *live = None;
            }
        }
        if let Some(id) = data.session {
            state.capture_frame_destroyed(id, &frame.id());
        }
    }
}

impl Dispatch<ExtImageCopyCaptureCursorSessionV1, CursorSessionData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        cursor: &ExtImageCopyCaptureCursorSessionV1,
        request: ext_image_copy_capture_cursor_session_v1::Request,
        data: &CursorSessionData,
        dh: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use ext_image_copy_capture_cursor_session_v1::{Error, Request};
        match request {
            Request::GetCaptureSession { session } => {
                let mut created = data
                    .session_created
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if *created {
                    cursor.post_error(Error::DuplicateSession, "get_capture_session sent twice");
                    return;
                }
                if !limits::hold_or_disconnect(dh, client, Held::Capture) {
                    return;
                }
                *created = true;
                // Frames of the cursor's image, at its own size.
                let session = init.init(session, SessionData::new());
                let id = state.capture_session(
                    Source::Cursor,
                    Orientation::Upright,
                    None,
                    false,
                    Some(Box::new(SessionEvents(session.clone()))),
                );
                if let Some(data) = session.data::<SessionData>() {
                    let _ = data.id.set(Some(id));
                }
            }
            Request::Destroy => {}
            _ => {}
        }
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        _: &ExtImageCopyCaptureCursorSessionV1,
        data: &CursorSessionData,
    ) {
        state.release_held(client, Held::Capture);
        if let Some(Some(id)) = data.id.get() {
            state.capture_cursor_session_destroyed(*id);
        }
    }
}

impl GlobalDispatch<ExtOutputImageCaptureSourceManagerV1, ()> for State {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ExtOutputImageCaptureSourceManagerV1>,
        _: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<ExtOutputImageCaptureSourceManagerV1, ()> for State {
    fn request(
        state: &mut Self,
        _: &Client,
        _: &ExtOutputImageCaptureSourceManagerV1,
        request: ext_output_image_capture_source_manager_v1::Request,
        _: &(),
        _: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use ext_output_image_capture_source_manager_v1::Request;
        if let Request::CreateSource { source, output } = request {
            let ours = Output::from_resource(&output).is_some_and(|o| o == state.output);
            init.init(source, SourceData(ours.then_some(Source::Output)));
        }
    }
}

impl GlobalDispatch<ExtForeignToplevelImageCaptureSourceManagerV1, ()> for State {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ExtForeignToplevelImageCaptureSourceManagerV1>,
        _: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<ExtForeignToplevelImageCaptureSourceManagerV1, ()> for State {
    fn request(
        state: &mut Self,
        _: &Client,
        _: &ExtForeignToplevelImageCaptureSourceManagerV1,
        request: ext_foreign_toplevel_image_capture_source_manager_v1::Request,
        _: &(),
        _: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use ext_foreign_toplevel_image_capture_source_manager_v1::Request;
        if let Request::CreateSource {
            source,
            toplevel_handle,
        } = request
        {
            let window = ForeignToplevelHandle::from_resource(&toplevel_handle)
                .and_then(|handle| state.window_of_handle(&handle));
            init.init(source, SourceData(window.map(Source::Toplevel)));
        }
    }
}

impl Dispatch<ExtImageCaptureSourceV1, SourceData> for State {
    fn request(
        _: &mut Self,
        _: &Client,
        _: &ExtImageCaptureSourceV1,
        _: ext_image_capture_source_v1::Request,
        _: &SourceData,
        _: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
    }
}
