//! One output's frames, whatever shows them: each refresh renders the
//! space into an offscreen texture through smithay's
//! [`OutputDamageTracker`] (an unchanged scene costs no GPU work), then
//! sends presentation feedback and frame callbacks (a refresh that finds
//! the previous frame still on the GPU is skipped), and, with
//! `--dump-frames`, writes each new frame as a PNG. The headless backend
//! stops there; the nested one also copies the texture into its window.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::default_primary_scanout_output_compare;
use smithay::backend::renderer::element::surface::WaylandSurfaceRenderElement;
use smithay::backend::renderer::sync::SyncPoint;
use smithay::backend::renderer::{Bind, Offscreen};
use smithay::desktop::space::render_output;
use smithay::desktop::utils::{
    OutputPresentationFeedback, send_frames_surface_tree, surface_primary_scanout_output,
    update_surface_primary_scanout_output,
};
use smithay::output::Output;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::utils::Size;
use smithay::wayland::presentation::Refresh;
use tracing::debug;

use super::dump::FrameDump;
use super::state::State;
use crate::render::{VulkanRenderer, VulkanTexture};

/// The colour of the output where no window is.
pub(crate) const CLEAR: [f32; 4] = [0.1, 0.1, 0.1, 1.0];

/// The offscreen image of an output and what renders into it.
pub(crate) struct OutputFrames {
    target: VulkanTexture,
    damage: OutputDamageTracker,
    /// Frames presented so far (wp_presentation's sequence).
    sequence: u64,
    /// Whether the target holds a previous frame (buffer age 1) or nothing
    /// yet (age 0).
    drawn: bool,
    refresh: Duration,
    dump: Option<FrameDump>,
    /// The last frame's completion on the GPU.
    in_flight: SyncPoint,
}

impl OutputFrames {
    /// An offscreen image of `output`'s mode, with pixels in `format`'s
    /// layout.
    pub(crate) fn new(
        renderer: &mut VulkanRenderer,
        output: &Output,
        format: DrmFourcc,
        dump: Option<(PathBuf, u64)>,
    ) -> anyhow::Result<Self> {
        let mode = output.current_mode().context("the output has a mode")?;
        let refresh = Duration::from_secs_f64(1000.0 / f64::from(mode.refresh.max(1)));
        let target = renderer
            .create_buffer(format, Size::from((mode.size.w, mode.size.h)))
            .context("creating the output's offscreen image")?;
        Ok(Self {
            target,
            damage: OutputDamageTracker::from_output(output),
            sequence: 0,
            drawn: false,
            refresh,
            dump: dump.map(|(dir, every)| FrameDump::new(dir, every)),
            in_flight: SyncPoint::signaled(),
        })
    }

    /// Follows a change of `output`'s mode: a new image of the new size,
    /// drawn from scratch. The presentation sequence goes on.
    pub(crate) fn resize(
        &mut self,
        renderer: &mut VulkanRenderer,
        output: &Output,
    ) -> anyhow::Result<()> {
        let format = smithay::backend::renderer::Texture::format(&self.target)
            .context("the output image has a format")?;
        let resized = Self::new(renderer, output, format, None)?;
        self.target = resized.target;
        self.damage = resized.damage;
        self.refresh = resized.refresh;
        self.drawn = false;
        Ok(())
    }

    /// The image the frames are rendered into.
    pub(crate) fn target(&self) -> &VulkanTexture {
        &self.target
    }

    /// The time between two refreshes.
    pub(crate) fn refresh(&self) -> Duration {
        self.refresh
    }

    /// Whether the last frame is still being rendered by the GPU. A refresh
    /// that finds it so is skipped whole, frame callbacks included, so
    /// clients are paced by what the GPU manages and at most one frame is
    /// in flight, however slow the device.
    pub(crate) fn busy(&self) -> bool {
        !self.in_flight.is_reached()
    }

    /// Renders what changed since the last frame into the image; whether
    /// anything was drawn.
    pub(crate) fn render(&mut self, state: &mut State) -> anyhow::Result<bool> {
        let age = usize::from(self.drawn);
        let output = state.output.clone();
        let mut framebuffer = state
            .renderer
            .bind(&mut self.target)
            .context("binding the output image")?;
        // Drawn over the windows: the drag's icon above the input
        // method's popup.
        let mut overlay = state.dnd_icon_elements();
        overlay.extend(state.input_popup_elements());
        let result = render_output::<_, WaylandSurfaceRenderElement<VulkanRenderer>, _, _>(
            &output,
            &mut state.renderer,
            &mut framebuffer,
            1.0,
            age,
            [&state.space],
            &overlay,
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
        let damage = result.damage.cloned();
        self.drawn = true;
        self.in_flight = result.sync;
        drop(framebuffer);
        // Capture sessions read this frame next (their copies follow it on
        // the queue), and take its damage.
        let now = Duration::from(state.clock.now());
        state.capture_output_frame(&self.target, damage.as_deref(), now);
        Ok(damage.is_some())
    }

    /// Tells the clients about the refresh: presentation feedback for a
    /// frame that was `shown`, and the frame dump, then frame callbacks to
    /// every window.
    pub(crate) fn finish(&mut self, state: &mut State, shown: bool) -> anyhow::Result<()> {
        let output = state.output.clone();
        let now = state.clock.now();
        if shown {
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
        let icon = state.selections.dnd_icon.as_ref().map(|icon| &icon.surface);
        let popup = state.input_popup.as_ref().map(|popup| popup.wl_surface());
        for surface in icon.into_iter().chain(popup) {
            let throttle = Some(Duration::ZERO);
            send_frames_surface_tree(surface, &output, now, throttle, |_, _| Some(output.clone()));
        }
        state.space.refresh();
        state.popups.cleanup();
        Ok(())
    }
}

/// Calls `tick` on `state`'s loop now and then every `refresh`, deadline
/// by deadline so the refresh does not drift; a late tick moves the next
/// deadline rather than bunching ticks up.
pub(crate) fn every_refresh(
    state: &State,
    refresh: Duration,
    mut tick: impl FnMut(&mut State) + 'static,
) -> anyhow::Result<()> {
    let mut next = Instant::now();
    state
        .handle
        .insert_source(Timer::immediate(), move |_, _, state| {
            tick(state);
            next += refresh;
            let now = Instant::now();
            if next < now {
                next = now;
            }
            TimeoutAction::ToInstant(next)
        })
        .map_err(|err| anyhow::anyhow!("inserting the refresh timer: {err}"))?;
    Ok(())
}
