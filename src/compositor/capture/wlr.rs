//! wlr-screencopy-unstable-v1, version 3: the protocol layer of
//! [`super`] that wlroots' clients (grim, wf-recorder, wayvnc) speak.
//!
//! * A frame announces one `wl_shm` layout (XRGB8888, a stride of exactly
//!   one row), a `linux_dmabuf` format where dma-bufs can be written
//!   (version 3), then `buffer_done` (version 3).
//! * `copy` copies the output's current image at once, idle or not;
//!   `copy_with_damage` waits for damage and reports it. Damage is
//!   counted per manager object and region, since the previous copy of
//!   that manager, as the protocol defines it.
//! * A buffer of another size, stride or format gets `failed`; a
//!   `wl_buffer` that is neither `wl_shm` nor a dma-buf is the
//!   `invalid_buffer` error, and a second copy on one frame `already_used`.
//! * The image is the framebuffer as scanned out: a client applies
//!   `wl_output.transform` itself (grim does), and `flags` is 0 (never
//!   y-inverted). With `overlay_cursor`, the cursor image a client set is
//!   painted where the pointer is.

use std::sync::{Mutex, PoisonError};

use smithay::output::Output;
use smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::{self, ZwlrScreencopyManagerV1},
};
use smithay::reexports::wayland_server::backend::ClientId;
use smithay::reexports::wayland_server::protocol::{wl_output::WlOutput, wl_shm};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::dmabuf::get_dmabuf;
use smithay::wayland::shm::with_buffer_contents;

use super::super::limits::{self, Held};
use super::ext::split_time;
use super::{Captured, Failure, FrameSink, Orientation, SessionId, Source};
use crate::compositor::state::State;

/// The version offered.
const VERSION: u32 = 3;

/// Makes the global.
pub(crate) fn create_global(dh: &DisplayHandle) {
    dh.create_global::<State, ZwlrScreencopyManagerV1, _>(VERSION, ());
}

/// The part of the output a frame captures (`None` for all of it), and
/// whether it shows the cursor (`overlay_cursor`).
type Region = (Option<Rectangle<i32, Logical>>, bool);

/// A manager's sessions, one a region, which carry its damage from one
/// copy to the next.
#[derive(Debug, Default)]
pub(crate) struct ManagerData {
    sessions: Mutex<Vec<(Region, SessionId)>>,
}

/// A frame: its session (`None`: nothing to capture, it failed at once)
/// and whether a copy was asked for.
#[derive(Debug)]
pub(crate) struct FrameData {
    session: Option<SessionId>,
    used: Mutex<bool>,
}

struct FrameEvents {
    frame: ZwlrScreencopyFrameV1,
    with_damage: bool,
}

impl FrameSink for FrameEvents {
    fn ready(&self, captured: &Captured) {
        self.frame.flags(zwlr_screencopy_frame_v1::Flags::empty());
        if self.with_damage {
            for rect in &captured.damage {
                self.frame.damage(
                    rect.loc.x.max(0) as u32,
                    rect.loc.y.max(0) as u32,
                    rect.size.w.max(0) as u32,
                    rect.size.h.max(0) as u32,
                );
            }
        }
        let (hi, lo, nsec) = split_time(captured.presented);
        self.frame.ready(hi, lo, nsec);
    }

    fn failed(&self, _: Failure) {
        self.frame.failed();
    }
}

impl GlobalDispatch<ZwlrScreencopyManagerV1, ()> for State {
    fn bind(
        _: &mut Self,
        _: &DisplayHandle,
        _: &Client,
        resource: New<ZwlrScreencopyManagerV1>,
        _: &(),
        init: &mut DataInit<'_, Self>,
    ) {
        init.init(resource, ManagerData::default());
    }
}

impl Dispatch<ZwlrScreencopyManagerV1, ManagerData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        _: &ZwlrScreencopyManagerV1,
        request: zwlr_screencopy_manager_v1::Request,
        data: &ManagerData,
        dh: &DisplayHandle,
        init: &mut DataInit<'_, Self>,
    ) {
        use zwlr_screencopy_manager_v1::Request;
        let creates = matches!(
            request,
            Request::CaptureOutput { .. } | Request::CaptureOutputRegion { .. }
        );
        if creates && !limits::hold_or_disconnect(dh, client, Held::Capture) {
            return;
        }
        let (frame, output, region) = match request {
            Request::CaptureOutput {
                frame,
                output,
                overlay_cursor,
            } => (frame, output, (None, overlay_cursor != 0)),
            Request::CaptureOutputRegion {
                frame,
                output,
                x,
                y,
                width,
                height,
                overlay_cursor,
            } => (
                frame,
                output,
                (
                    // A negative size is an empty region, whose frame
                    // fails below.
                    Some(Rectangle::new(
                        (x, y).into(),
                        (width.max(0), height.max(0)).into(),
                    )),
                    overlay_cursor != 0,
                ),
            ),
            _ => return,
        };
        let session = state.screencopy_session(data, &output, region);
        let frame = init.init(
            frame,
            FrameData {
                session,
                used: Mutex::new(false),
            },
        );
        let constraints = session.and_then(|id| state.capture_session_constraints(id));
        let Some(constraints) = constraints.filter(|c| c.size.w > 0 && c.size.h > 0) else {
            frame.failed();
            return;
        };
        let (w, h) = (constraints.size.w as u32, constraints.size.h as u32);
        frame.buffer(wl_shm::Format::Xrgb8888, w, h, w * 4);
        if frame.version() >= 3 {
            if let Some(dmabuf) = &constraints.dmabuf
                && let Some(format) = dmabuf.formats.first()
            {
                frame.linux_dmabuf(*format as u32, w, h);
            }
            frame.buffer_done();
        }
    }

    fn destroyed(state: &mut Self, _: ClientId, _: &ZwlrScreencopyManagerV1, data: &ManagerData) {
        let sessions: Vec<SessionId> = data
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .map(|(_, id)| id)
            .collect();
        for id in sessions {
            state.capture_session_destroyed(id);
        }
    }
}

impl State {
    /// The session a new frame of `manager` on `output` and `region` uses:
    /// the manager's for that region, or, while that one has a frame
    /// waiting, a session of its own. `None` for another output or an
    /// empty region.
    fn screencopy_session(
        &mut self,
        manager: &ManagerData,
        output: &WlOutput,
        region: Region,
    ) -> Option<SessionId> {
        if Output::from_resource(output).is_none_or(|o| o != self.output) {
            return None;
        }
        let (area, cursors) = region;
        if area.is_some_and(|r| r.size.w <= 0 || r.size.h <= 0) {
            return None;
        }
        let mut sessions = manager
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let known = sessions.iter().position(|(r, _)| *r == region);
        if let Some(at) = known {
            let id = sessions[at].1;
            if !self.capture_is_waiting(id) {
                return Some(id);
            }
            // Its waiting frame keeps the old session alive until it is
            // delivered; the manager's damage goes on with the new one.
            sessions.remove(at);
            self.capture_session_orphaned(id);
        }
        let id = self.capture_session(
            Source::Output,
            Orientation::Framebuffer,
            area,
            cursors,
            None,
        );
        sessions.push((region, id));
        Some(id)
    }
}

impl Dispatch<ZwlrScreencopyFrameV1, FrameData> for State {
    fn request(
        state: &mut Self,
        _: &Client,
        frame: &ZwlrScreencopyFrameV1,
        request: zwlr_screencopy_frame_v1::Request,
        data: &FrameData,
        _: &DisplayHandle,
        _: &mut DataInit<'_, Self>,
    ) {
        use zwlr_screencopy_frame_v1::{Error, Request};
        let (buffer, with_damage) = match request {
            Request::Copy { buffer } => (buffer, false),
            Request::CopyWithDamage { buffer } => (buffer, true),
            _ => return,
        };
        let mut used = data.used.lock().unwrap_or_else(PoisonError::into_inner);
        if *used {
            frame.post_error(Error::AlreadyUsed, "frame already used to copy a buffer");
            return;
        }
        *used = true;
        drop(used);
        let known =
            with_buffer_contents(&buffer, |_, _, _| ()).is_ok() || get_dmabuf(&buffer).is_ok();
        if !known {
            frame.post_error(
                Error::InvalidBuffer,
                "neither a wl_shm nor a dma-buf buffer",
            );
            return;
        }
        let Some(id) = data.session else {
            frame.failed();
            return;
        };
        state.capture_frame(
            id,
            frame.id(),
            buffer,
            with_damage,
            true,
            Box::new(FrameEvents {
                frame: frame.clone(),
                with_damage,
            }),
        );
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        frame: &ZwlrScreencopyFrameV1,
        data: &FrameData,
    ) {
        state.release_held(client, Held::Capture);
        if let Some(id) = data.session {
            state.capture_frame_destroyed(id, &frame.id());
        }
    }
}
