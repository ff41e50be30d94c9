//! The headless backend: an offscreen output that presents at a steady
//! refresh, with no display and no GPU needed (lavapipe renders).
//!
//! Every refresh renders what changed ([`OutputFrames`]); a frame counts as
//! presented as soon as it is rendered, since nothing shows it but the
//! frame dump.

use drm_fourcc::DrmFourcc;
use smithay::output::Output;
use tracing::warn;

use super::OutputConfig;
use super::output::{OutputFrames, every_refresh};
use super::state::State;

/// Starts presenting `output`: a timer on `state`'s loop renders a frame
/// every refresh.
pub(crate) fn start(
    state: &mut State,
    output: &Output,
    config: &OutputConfig,
) -> anyhow::Result<()> {
    // The seat has its devices, as on a desktop, so that clients may ask
    // for them (wl_seat.get_pointer on a seat without one is a protocol
    // error); nothing moves them yet.
    state.add_input_devices();
    let mut frames = OutputFrames::new(
        &mut state.renderer,
        output,
        DrmFourcc::Xrgb8888,
        config.dump_frames.clone(),
    )?;
    every_refresh(state, frames.refresh(), move |state| {
        if frames.busy() {
            return;
        }
        let result = frames
            .render(state)
            .and_then(|shown| frames.finish(state, shown));
        if let Err(err) = result {
            warn!("headless output: {err:#}");
        }
    })
}
