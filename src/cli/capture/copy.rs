//! The picture made upright, cropped and scaled by the compositor, where
//! it offers dmabridge-buffer-copy-v1: one copy job from the captured
//! buffer into a second `wl_shm` buffer of the finished size, on the
//! compositor's device, instead of the reference copy on the client's CPU
//! ([`image::finish`](super::image::finish)). A compositor without the
//! protocol, or a copy it answers with `failed`, leaves the work to the
//! client.

use anyhow::{Context, bail};
use tracing::debug;
use wayland_client::protocol::{wl_output, wl_shm::WlShm};
use wayland_client::{Connection, Dispatch, QueueHandle, WEnum, delegate_noop};

use dmabridge::copy::{CopyPlan, Dest, Point, Size};
use dmabridge::protocols::buffer_copy::client::{
    dmabridge_buffer_copy_manager_v1::DmabridgeBufferCopyManagerV1,
    dmabridge_buffer_copy_v1::{self, DmabridgeBufferCopyV1, Filter},
};

use super::client::{Client, ShmBuffer, State};
use super::image::{self, Finish};

/// How the compositor answered the copy.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// Not answered yet.
    #[default]
    Pending,
    Done,
    /// `failed`, with its reason.
    Failed(u32),
}

/// `frame`'s picture as `finish` asks for it, in a new buffer of the same
/// format, copied by the compositor; `None` where there is nothing to do,
/// the compositor does not offer the protocol, or it could not do this
/// copy (the client then does it).
pub(super) fn finish_in_compositor(
    client: &mut Client,
    shm: &WlShm,
    frame: &ShmBuffer,
    finish: Finish,
) -> anyhow::Result<Option<ShmBuffer>> {
    if finish.is_plain() {
        return Ok(None);
    }
    let Some(manager) = client.bind::<DmabridgeBufferCopyManagerV1>(1) else {
        return Ok(None);
    };
    let size = |v: u32| i32::try_from(v).context("the captured buffer is too large");
    let src_size = Size::new(size(frame.width)?, size(frame.height)?);
    let undo = finish.transform.invert();
    let upright = undo.transformed_size(src_size);
    let (kept, out) = image::finished_size(upright.w, upright.h, &finish)?;
    // Where the kept part of the upright picture lies in the buffer: the
    // corners of `kept` through the whole picture's map, which is exact in
    // f32 for an unscaled transform.
    let whole = CopyPlan::new(image::upright_request(src_size, undo))
        .context("planning the upright picture")?;
    let corner = |x: i32, y: i32| whole.src_coord(Point::<f32, Dest>::new(x as f32, y as f32));
    let (a, b) = (
        corner(kept.loc.x, kept.loc.y),
        corner(kept.loc.x + kept.size.w, kept.loc.y + kept.size.h),
    );
    let (x, y) = (a.x.min(b.x) as f64, a.y.min(b.y) as f64);
    let (w, h) = ((a.x - b.x).abs() as f64, (a.y - b.y).abs() as f64);
    let scaled = (out.w, out.h) != (kept.size.w, kept.size.h);
    let transform = wl_output::Transform::try_from(undo as u32)
        .map_err(|()| anyhow::anyhow!("transform {undo:?} has no wl_output value"))?;

    let dst = ShmBuffer::new(
        client,
        shm,
        (frame.format, frame.wl_format),
        (out.w.unsigned_abs(), out.h.unsigned_abs()),
        out.w.unsigned_abs() * 4,
    )?;
    let copy = manager.copy(&frame.buffer, &dst.buffer, &client.qh, ());
    manager.destroy();
    copy.set_source(x, y, w, h);
    copy.set_destination(0, 0, out.w, out.h);
    copy.set_transform(transform);
    copy.set_filter(if scaled {
        Filter::Linear
    } else {
        Filter::Nearest
    });
    copy.submit();
    client.state.copy = Answer::Pending;
    let waited = client.wait("the compositor's copy of the picture", |state| {
        state.copy != Answer::Pending
    });
    copy.destroy();
    waited?;
    match client.state.copy {
        Answer::Done => {
            debug!(?kept, ?out, "the compositor finished the picture");
            Ok(Some(dst))
        }
        Answer::Failed(reason) => {
            debug!(
                reason,
                "the compositor could not copy the picture; copying here"
            );
            Ok(None)
        }
        Answer::Pending => bail!("the compositor's copy was not answered"),
    }
}

impl Dispatch<DmabridgeBufferCopyV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &DmabridgeBufferCopyV1,
        event: dmabridge_buffer_copy_v1::Event,
        (): &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.copy = match event {
            dmabridge_buffer_copy_v1::Event::Done { .. } => Answer::Done,
            dmabridge_buffer_copy_v1::Event::Failed { reason } => Answer::Failed(match reason {
                WEnum::Value(reason) => reason as u32,
                WEnum::Unknown(reason) => reason,
            }),
            // No release fence was asked for: there is none.
            _ => state.copy,
        };
    }
}

delegate_noop!(State: DmabridgeBufferCopyManagerV1);
