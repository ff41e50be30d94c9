//! Capture through ext-image-copy-capture-v1, from an
//! ext-image-capture-source-v1 source (an output or a foreign toplevel).
//!
//! The session's buffer constraints (`buffer_size`, `shm_format`, closed by
//! `done`) are the only description of the buffer the client trusts: a
//! buffer is allocated from the latest complete batch, and a frame that
//! fails with `buffer_constraints` is retried once after a roundtrip has
//! brought in whatever constraints the compositor sent before it.
//!
//! Damage the client sends follows the protocol: the whole buffer on its
//! first capture (and after a failed one), nothing afterwards, since the
//! client never writes to it. The compositor's damage events are reported
//! as they came; the protocol promises full damage on a session's first
//! frame.

use anyhow::{Context, bail};
use tracing::debug;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum, delegate_noop};
use wayland_protocols::ext::image_capture_source::v1::client::{
    ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
    ext_image_capture_source_v1::ExtImageCaptureSourceV1,
    ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
};
use wayland_protocols::ext::image_copy_capture::v1::client::{
    ext_image_copy_capture_frame_v1::{self, ExtImageCopyCaptureFrameV1, FailureReason},
    ext_image_copy_capture_manager_v1::{self, ExtImageCopyCaptureManagerV1},
    ext_image_copy_capture_session_v1::{self, ExtImageCopyCaptureSessionV1},
};

use dmabridge::copy::Transform;

use super::{Client, Damage, Frame, Request, ShmBuffer, Source, State, shm_fourcc, transform_of};

/// The interfaces this path needs, by name.
pub(super) const COPY_MANAGER: &str = "ext_image_copy_capture_manager_v1";
pub(super) const OUTPUT_SOURCES: &str = "ext_output_image_capture_source_manager_v1";
pub(super) const TOPLEVEL_SOURCES: &str = "ext_foreign_toplevel_image_capture_source_manager_v1";

/// One batch of buffer constraints.
#[derive(Debug, Clone, Default)]
pub(super) struct Constraints {
    size: Option<(u32, u32)>,
    shm_formats: Vec<WEnum<wl_shm::Format>>,
}

/// What the session and its current frame have sent.
#[derive(Debug, Default)]
pub(super) struct Events {
    /// Constraints since the last `done`.
    pending: Constraints,
    /// The batch the last `done` closed.
    constraints: Option<Constraints>,
    stopped: bool,
    frame: FrameEvents,
}

/// What the current frame has sent.
#[derive(Debug, Default)]
struct FrameEvents {
    transform: Option<WEnum<wayland_client::protocol::wl_output::Transform>>,
    damage: Vec<Damage>,
    ready: bool,
    failed: Option<WEnum<FailureReason>>,
}

/// The buffer format and size a batch of constraints asks for: the first
/// `shm_format` the client reads, and the `buffer_size`.
fn choose(
    constraints: &Constraints,
) -> anyhow::Result<((drm_fourcc::DrmFourcc, wl_shm::Format), (u32, u32))> {
    let size = constraints
        .size
        .context("the compositor's buffer constraints name no buffer_size")?;
    let format = constraints
        .shm_formats
        .iter()
        .find_map(|&format| match (shm_fourcc(format), format) {
            (Some(fourcc), WEnum::Value(wl)) => Some((fourcc, wl)),
            _ => None,
        })
        .with_context(|| {
            format!(
                "the compositor offers no shm format the client reads \
                 (XRGB8888, ARGB8888, XBGR8888, ABGR8888); it offers {:?}",
                constraints.shm_formats
            )
        })?;
    Ok((format, size))
}

/// Captures `request.frames` frames from one session; the last one's pixels.
pub(super) fn capture(client: &mut Client, shm: &WlShm, request: Request) -> anyhow::Result<Frame> {
    let manager: ExtImageCopyCaptureManagerV1 =
        client.bind(1).context("binding the capture manager")?;
    let qh = client.qh.clone();
    let source: ExtImageCaptureSourceV1 = match request.source {
        Source::Output(i) => {
            let sources: ExtOutputImageCaptureSourceManagerV1 =
                client.bind(1).context("binding the output sources")?;
            let source = sources.create_source(&client.state.outputs[i].output, &qh, ());
            sources.destroy();
            source
        }
        Source::Toplevel(i) => {
            let sources: ExtForeignToplevelImageCaptureSourceManagerV1 =
                client.bind(1).context("binding the toplevel sources")?;
            let source = sources.create_source(&client.state.toplevels[i].handle, &qh, ());
            sources.destroy();
            source
        }
    };
    let options = if request.cursor {
        ext_image_copy_capture_manager_v1::Options::PaintCursors
    } else {
        ext_image_copy_capture_manager_v1::Options::empty()
    };
    client.state.ext = Events::default();
    let session = manager.create_session(&source, options, &qh, ());
    let result = frames(client, shm, &session, request);
    session.destroy();
    source.destroy();
    manager.destroy();
    result
}

fn frames(
    client: &mut Client,
    shm: &WlShm,
    session: &ExtImageCopyCaptureSessionV1,
    request: Request,
) -> anyhow::Result<Frame> {
    client.wait("the capture session's buffer constraints", |state| {
        state.ext.constraints.is_some() || state.ext.stopped
    })?;
    let mut buffer: Option<ShmBuffer> = None;
    // Whether the buffer's content is unknown to the compositor: a new
    // buffer, or one a failed capture may have half written.
    let mut fresh = true;
    for n in 1..=request.frames {
        let mut retried = false;
        let (transform, damage) = loop {
            if client.state.ext.stopped {
                bail!("the compositor stopped the capture session");
            }
            let constraints = client
                .state
                .ext
                .constraints
                .clone()
                .context("the session sent no buffer constraints")?;
            let (format, size) = choose(&constraints)?;
            debug!(?constraints, ?format, "buffer constraints");
            let stride = size.0.checked_mul(4).context("buffer_size is too wide")?;
            if !buffer
                .as_ref()
                .is_some_and(|b| b.fits(format.0, size, stride))
            {
                // The old buffer goes before the new one is made.
                drop(buffer.take());
                buffer = Some(ShmBuffer::new(client, shm, format, size, stride)?);
                fresh = true;
            }
            let shm_buffer = buffer.as_ref().expect("allocated above");
            client.state.ext.frame = FrameEvents::default();
            let frame = session.create_frame(&client.qh, ());
            frame.attach_buffer(&shm_buffer.buffer);
            if fresh {
                frame.damage_buffer(0, 0, size.0 as i32, size.1 as i32);
            }
            frame.capture();
            let waited = client.wait(&format!("frame {n}"), |state| {
                let frame = &state.ext.frame;
                frame.ready || frame.failed.is_some() || state.ext.stopped
            });
            frame.destroy();
            waited?;
            let events = std::mem::take(&mut client.state.ext.frame);
            debug!(frame = n, ?events, "frame done");
            if events.ready {
                let transform = match events.transform {
                    None => Transform::Normal,
                    Some(t) => transform_of(t)
                        .with_context(|| format!("frame {n} has an unknown transform {t:?}"))?,
                };
                fresh = false;
                break (transform, events.damage);
            }
            fresh = true;
            match events.failed {
                Some(WEnum::Value(FailureReason::BufferConstraints)) if !retried => {
                    retried = true;
                    // Constraints sent before the failure are in by now.
                    client.roundtrip("the session's new buffer constraints")?;
                }
                Some(WEnum::Value(FailureReason::BufferConstraints)) => bail!(
                    "the compositor failed frame {n} twice: the buffer does not match \
                     its constraints (buffer_constraints)"
                ),
                Some(WEnum::Value(FailureReason::Stopped)) => {
                    bail!("the compositor failed frame {n}: the session has stopped")
                }
                Some(WEnum::Value(FailureReason::Unknown)) => {
                    bail!("the compositor failed frame {n}: an unspecified runtime error (unknown)")
                }
                Some(reason) => {
                    bail!(
                        "the compositor failed frame {n} for a reason the protocol lacks: {reason:?}"
                    )
                }
                None => bail!("the compositor stopped the capture session"),
            }
        };
        let shm_buffer = buffer.as_ref().expect("captured into it");
        request
            .lines
            .frame(n, (shm_buffer.width, shm_buffer.height), &damage)?;
        if n == request.frames {
            return Ok(Frame {
                buffer: buffer.take().expect("captured into it"),
                y_invert: false,
                transform,
            });
        }
    }
    unreachable!("the last frame returns")
}

impl Dispatch<ExtImageCopyCaptureSessionV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureSessionV1,
        event: ext_image_copy_capture_session_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let ext = &mut state.ext;
        match event {
            ext_image_copy_capture_session_v1::Event::BufferSize { width, height } => {
                ext.pending.size = Some((width, height));
            }
            ext_image_copy_capture_session_v1::Event::ShmFormat { format } => {
                ext.pending.shm_formats.push(format);
            }
            ext_image_copy_capture_session_v1::Event::Done => {
                ext.constraints = Some(std::mem::take(&mut ext.pending));
            }
            ext_image_copy_capture_session_v1::Event::Stopped => ext.stopped = true,
            _ => {}
        }
    }
}

impl Dispatch<ExtImageCopyCaptureFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ExtImageCopyCaptureFrameV1,
        event: ext_image_copy_capture_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let frame = &mut state.ext.frame;
        match event {
            ext_image_copy_capture_frame_v1::Event::Transform { transform } => {
                frame.transform = Some(transform);
            }
            ext_image_copy_capture_frame_v1::Event::Damage {
                x,
                y,
                width,
                height,
            } => frame.damage.push(Damage {
                x: x.into(),
                y: y.into(),
                width: width.into(),
                height: height.into(),
            }),
            ext_image_copy_capture_frame_v1::Event::Ready => frame.ready = true,
            ext_image_copy_capture_frame_v1::Event::Failed { reason } => {
                frame.failed = Some(reason);
            }
            _ => {}
        }
    }
}

delegate_noop!(State: ExtImageCopyCaptureManagerV1);
delegate_noop!(State: ExtOutputImageCaptureSourceManagerV1);
delegate_noop!(State: ExtForeignToplevelImageCaptureSourceManagerV1);
delegate_noop!(State: ExtImageCaptureSourceV1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_readable_shm_format_in_the_compositors_order_is_chosen() {
        use wl_shm::Format;
        let constraints = Constraints {
            size: Some((64, 32)),
            shm_formats: vec![
                WEnum::Value(Format::Rgb565),
                WEnum::Unknown(0x1234),
                WEnum::Value(Format::Abgr8888),
                WEnum::Value(Format::Xrgb8888),
            ],
        };
        let ((fourcc, wl), size) = choose(&constraints).expect("one fits");
        assert_eq!(
            (fourcc, wl, size),
            (drm_fourcc::DrmFourcc::Abgr8888, Format::Abgr8888, (64, 32))
        );
        let none = Constraints {
            shm_formats: vec![WEnum::Value(Format::Rgb565)],
            ..constraints.clone()
        };
        assert!(choose(&none).is_err());
        let sizeless = Constraints {
            size: None,
            ..constraints
        };
        assert!(choose(&sizeless).is_err());
    }
}
