//! The headless backend: an offscreen output that presents at a steady
//! refresh, with no display and no GPU needed (lavapipe renders).
//!
//! Every refresh it renders the space into an offscreen texture through
//! smithay's [`OutputDamageTracker`] (an unchanged scene costs no GPU work),
//! then sends frame callbacks and presentation feedback, and, with
//! `--dump-frames`, writes each new frame as a PNG.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::default_primary_scanout_output_compare;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::desktop::space::render_output;
use smithay::desktop::utils::{
    OutputPresentationFeedback, surface_primary_scanout_output,
    update_surface_primary_scanout_output,
};
use smithay::output::Output;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::utils::Size;
use smithay::wayland::presentation::Refresh;
use tracing::{debug, warn};

use super::dump::FrameDump;
use super::state::State;
use crate::render::{VulkanRenderer, VulkanTexture};

/// The colour of the output where no window is.
const CLEAR: [f32; 4] = [0.1, 0.1, 0.1, 1.0];

/// The offscreen output and what it needs to render.
pub(crate) struct Headless {
    target: VulkanTexture,
    damage: OutputDamageTracker,
    /// Frames presented so far (wp_presentation's sequence).
    sequence: u64,
    /// Whether the target holds a previous frame (buffer age 1) or nothing
    /// yet (age 0).
    drawn: bool,
    refresh: Duration,
    dump: Option<FrameDump>,
}

impl Headless {
    /// An offscreen output of `output`'s mode.
    pub(crate) fn new(
        renderer: &mut VulkanRenderer,
        output: &Output,
        refresh: Duration,
        dump: Option<(PathBuf, u64)>,
    ) -> anyhow::Result<Self> {
        let mode = output.current_mode().context("the output has a mode")?;
        let target = renderer
            .create_buffer(DrmFourcc::Xrgb8888, Size::from((mode.size.w, mode.size.h)))
            .context("creating the offscreen output image")?;
        Ok(Self {
            target,
            damage: OutputDamageTracker::from_output(output),
            sequence: 0,
            drawn: false,
            refresh,
            dump: dump.map(|(dir, every)| FrameDump::new(dir, every)),
        })
    }

    /// Starts presenting: a timer on `state`'s loop renders a frame every
    /// refresh.
    pub(crate) fn start(mut self, state: &State) -> anyhow::Result<()> {
        let mut next = Instant::now();
        state
            .handle
            .insert_source(Timer::immediate(), move |_, _, state| {
                if let Err(err) = self.present(state) {
                    warn!("headless output: {err:#}");
                }
                // Deadline by deadline, so the refresh does not drift.
                next += self.refresh;
                let now = Instant::now();
                if next < now {
                    next = now;
                }
                TimeoutAction::ToInstant(next)
            })
            .map_err(|err| anyhow::anyhow!("inserting the refresh timer: {err}"))?;
        Ok(())
    }

    /// One refresh: render what changed, tell the clients, dump the frame.
    fn present(&mut self, state: &mut State) -> anyhow::Result<()> {
        let age = usize::from(self.drawn);
        let output = state.output.clone();
        let rendered = {
            let mut framebuffer = state
                .renderer
                .bind(&mut self.target)
                .context("binding the output image")?;
            let result = render_output::<_, WaylandSurfaceRenderElement<VulkanRenderer>, _, _>(
                &output,
                &mut state.renderer,
                &mut framebuffer,
                1.0,
                age,
                [&state.space],
                &[],
                &mut self.damage,
                CLEAR,
            )
            .map_err(|err| anyhow::anyhow!("rendering the output: {err:?}"))?;
            for window in state.space.elements() {
                window.with_surfaces(|surface, states| {
                    update_surface_primary_scanout_output(
                        surface,
                        &output,
                        states,
                        &result.states,
                        default_primary_scanout_output_compare,
                    );
                });
            }
            result.damage.is_some()
        };
        self.drawn = true;
        let now = state.clock.now();

        if rendered {
            self.sequence += 1;
            let mut feedback = OutputPresentationFeedback::new(&output);
            for window in state.space.elements() {
                window.take_presentation_feedback(
                    &mut feedback,
                    surface_primary_scanout_output,
                    // Always composited, never scanned out directly.
                    |_, _| wp_presentation_feedback::Kind::empty(),
                );
            }
            feedback.presented(
                now,
                Refresh::fixed(self.refresh),
                self.sequence,
                wp_presentation_feedback::Kind::empty(),
            );
            if let Some(dump) = &mut self.dump {
                dump.frame(&mut state.renderer, &self.target, self.sequence)?;
            }
            debug!(sequence = self.sequence, "frame presented");
        }
        for window in state.space.elements() {
            window.send_frame(
                &output,
                now,
                Some(Duration::ZERO),
                surface_primary_scanout_output,
            );
        }
        state.space.refresh();
        state.popups.cleanup();
        Ok(())
    }
}
