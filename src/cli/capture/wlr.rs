//! Capture through wlr-screencopy-unstable-v1 (zwlr_screencopy_manager_v1,
//! versions 1 to 3): the fallback where ext-image-copy-capture-v1 is not
//! offered.
//!
//! Each frame is a new `zwlr_screencopy_frame_v1` from `capture_output`.
//! Its buffer parameters are complete at `buffer_done` (version 3) or at
//! the `buffer` event itself (versions 1 and 2, where `wl_shm` is always
//! offered). The first frame is taken with `copy`; later ones with
//! `copy_with_damage` (version 2 and up), which waits for the output to
//! change and reports what did.
//!
//! The buffer holds the output's framebuffer as scanned out: the output's
//! `wl_output.transform` applied, and rows bottom-up when `flags` says
//! `y_invert`. Both are undone on the CPU, as grim does, so the image is
//! upright.

use anyhow::{Context, bail};
use tracing::debug;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::{Connection, Dispatch, Proxy, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1,
};

use super::{Client, Damage, Frame, Request, ShmBuffer, State, shm_fourcc};

/// The manager's interface name.
pub(super) const MANAGER: &str = "zwlr_screencopy_manager_v1";

/// What the current frame has sent.
#[derive(Debug, Default)]
pub(super) struct Events {
    /// The `buffer` event: format, width, height, stride.
    shm: Option<(WEnum<wl_shm::Format>, u32, u32, u32)>,
    buffer_done: bool,
    y_invert: bool,
    damage: Vec<Damage>,
    ready: bool,
    failed: bool,
}

/// Captures `request.frames` frames of output `output`; the last one's
/// pixels, y-inversion undone.
pub(super) fn capture(
    client: &mut Client,
    shm: &WlShm,
    output: usize,
    request: Request,
) -> anyhow::Result<Frame> {
    let manager: ZwlrScreencopyManagerV1 = client
        .bind(3)
        .context("binding zwlr_screencopy_manager_v1")?;
    let result = frames(client, shm, &manager, output, request);
    manager.destroy();
    result
}

fn frames(
    client: &mut Client,
    shm: &WlShm,
    manager: &ZwlrScreencopyManagerV1,
    output: usize,
    request: Request,
) -> anyhow::Result<Frame> {
    let wl_output = client.state.outputs[output].output.clone();
    let mut buffer: Option<ShmBuffer> = None;
    for n in 1..=request.frames {
        client.state.wlr = Events::default();
        let frame = manager.capture_output(i32::from(request.cursor), &wl_output, &client.qh, ());
        let damaged = with_damage(&frame, n);
        let result = copy_one(client, shm, &frame, n, &mut buffer);
        frame.destroy();
        let events = result?;
        let shm_buffer = buffer.as_ref().expect("copied into it");
        let size = (shm_buffer.width, shm_buffer.height);
        if events.damage.is_empty() && !damaged {
            // A plain copy reports no damage and copies everything.
            let (width, height) = (size.0.into(), size.1.into());
            let whole = Damage {
                x: 0,
                y: 0,
                width,
                height,
            };
            request.lines.frame(n, size, &[whole])?;
        } else {
            request.lines.frame(n, size, &events.damage)?;
        }
        if n == request.frames {
            return Ok(Frame {
                buffer: buffer.take().expect("copied into it"),
                y_invert: events.y_invert,
                transform: client.state.outputs[output].transform,
            });
        }
    }
    unreachable!("the last frame returns")
}

/// Whether frame `n` is taken with `copy_with_damage`: every frame after
/// the first, where the frame's version has it.
fn with_damage(frame: &ZwlrScreencopyFrameV1, n: u32) -> bool {
    n > 1 && frame.version() >= 2
}

/// Waits for `frame`'s buffer parameters, (re)allocates `buffer` to match,
/// and copies into it; the frame's events once it is ready.
fn copy_one(
    client: &mut Client,
    shm: &WlShm,
    frame: &ZwlrScreencopyFrameV1,
    n: u32,
    buffer: &mut Option<ShmBuffer>,
) -> anyhow::Result<Events> {
    let version = frame.version();
    client.wait(&format!("frame {n}'s buffer parameters"), |state| {
        let events = &state.wlr;
        events.failed
            || if version >= 3 {
                events.buffer_done
            } else {
                events.shm.is_some()
            }
    })?;
    if client.state.wlr.failed {
        bail!("the compositor failed frame {n} before its copy");
    }
    let (format, width, height, stride) = client
        .state
        .wlr
        .shm
        .context("the compositor offers no wl_shm buffer for this output")?;
    let Some(fourcc) = shm_fourcc(format) else {
        bail!(
            "the compositor's shm format {format:?} is not one the client reads \
             (XRGB8888, ARGB8888, XBGR8888, ABGR8888)"
        );
    };
    let WEnum::Value(wl_format) = format else {
        unreachable!("shm_fourcc knows only defined formats");
    };
    if !buffer
        .as_ref()
        .is_some_and(|b| b.fits(fourcc, (width, height), stride))
    {
        // The old buffer goes before the new one is made.
        drop(buffer.take());
        *buffer = Some(ShmBuffer::new(
            client,
            shm,
            (fourcc, wl_format),
            (width, height),
            stride,
        )?);
    }
    let wl_buffer = &buffer.as_ref().expect("allocated above").buffer;
    if with_damage(frame, n) {
        frame.copy_with_damage(wl_buffer);
    } else {
        frame.copy(wl_buffer);
    }
    client.wait(&format!("frame {n}"), |state| {
        state.wlr.ready || state.wlr.failed
    })?;
    let events = std::mem::take(&mut client.state.wlr);
    debug!(frame = n, version, ?events, "frame done");
    if !events.ready {
        bail!("the compositor failed frame {n}");
    }
    Ok(events)
}

impl Dispatch<ZwlrScreencopyFrameV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let events = &mut state.wlr;
        match event {
            zwlr_screencopy_frame_v1::Event::Buffer {
                format,
                width,
                height,
                stride,
            } => events.shm = Some((format, width, height, stride)),
            zwlr_screencopy_frame_v1::Event::BufferDone => events.buffer_done = true,
            zwlr_screencopy_frame_v1::Event::Flags { flags } => {
                events.y_invert = match flags {
                    WEnum::Value(flags) => flags.contains(zwlr_screencopy_frame_v1::Flags::YInvert),
                    WEnum::Unknown(bits) => bits & 1 != 0,
                };
            }
            zwlr_screencopy_frame_v1::Event::Damage {
                x,
                y,
                width,
                height,
            } => events.damage.push(Damage {
                x: x.into(),
                y: y.into(),
                width: width.into(),
                height: height.into(),
            }),
            zwlr_screencopy_frame_v1::Event::Ready { .. } => events.ready = true,
            zwlr_screencopy_frame_v1::Event::Failed => events.failed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ZwlrScreencopyManagerV1);
