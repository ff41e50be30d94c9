//! A frame of the renderer: the draws smithay asks for, planned as they
//! come and submitted together by `finish`.
//!
//! One element must not cost everyone the frame. An element's destination
//! rectangle is carried into framebuffer pixels in `i64`, so none
//! overflows, and one that reaches too far beyond the output for a plan is
//! cut to the part near it, with the matching part of its source
//! ([`copy::clip_destination`]): it is drawn as it would be whole. A draw
//! that still cannot be planned (a source rectangle outside its texture),
//! or that the copy engine refuses at submission ([`copy::DrawBatch`]: a
//! source that does not import), is skipped and the rest of the frame is
//! drawn; the skip is logged at WARN once a texture, naming the reason.

use std::marker::PhantomData;

use smithay::backend::renderer::sync::SyncPoint;
use smithay::backend::renderer::{Color32F, ContextId, Frame, Texture, TextureFilter};
use smithay::utils::{Buffer as BufferCoord, Physical, Rectangle, Size, Transform};
use tracing::{error, warn};

use super::{RenderError, RenderFence, VulkanFramebuffer, VulkanRenderer, VulkanTexture};
use crate::copy::{
    self, Blend, CopyCompletion, CopyJob, CopyPlan, CopyRequest, Dest, Draw, DrawPlan, DrawRequest,
    DrawSource, Filter,
};
use crate::sync::SyncFile;

/// A frame being rendered into a [`VulkanFramebuffer`]; see the module
/// documentation of [`render`](super).
#[derive(Debug)]
pub struct VulkanFrame<'frame, 'buffer> {
    renderer: &'frame mut VulkanRenderer,
    target: VulkanTexture,
    framebuffer: PhantomData<&'frame mut VulkanFramebuffer<'buffer>>,
    /// The framebuffer's size.
    output_size: Size<i32, Physical>,
    /// The size of the space smithay's rectangles are in: `output_size`
    /// under `transform`.
    logical_size: Size<i32, Physical>,
    /// What takes that space to the framebuffer.
    transform: Transform,
    /// The frame's draws, in order.
    draws: Vec<Queued>,
    /// Sync_files the submission waits for on the GPU.
    waits: Vec<SyncFile>,
    finished: bool,
}

impl<'frame, 'buffer> VulkanFrame<'frame, 'buffer> {
    pub(super) fn new(
        renderer: &'frame mut VulkanRenderer,
        framebuffer: &'frame mut VulkanFramebuffer<'buffer>,
        output_size: Size<i32, Physical>,
        transform: Transform,
    ) -> Self {
        Self {
            renderer,
            target: framebuffer.texture().clone(),
            framebuffer: PhantomData,
            output_size,
            logical_size: transform.transform_size(output_size),
            transform,
            draws: Vec::new(),
            waits: Vec::new(),
            finished: false,
        }
    }

    /// `rect` (in smithay's space) clipped to the output, in framebuffer
    /// pixels; `None` when nothing of it is on the output.
    fn on_output(&self, rect: Rectangle<i32, Physical>) -> Option<copy::Rect<i32, Dest>> {
        let visible = rect.intersection(Rectangle::from_size(self.logical_size))?;
        Some(self.to_framebuffer(visible))
    }

    /// `rect` carried from smithay's space into framebuffer pixels as
    /// smithay's `transform_rect_in` carries it, in `i64`: a rectangle
    /// reaching past `i32` (an element near its ends) does not overflow.
    fn to_framebuffer_wide(&self, rect: Rectangle<i32, Physical>) -> copy::Rect<i64, Dest> {
        let (x, y) = (i64::from(rect.loc.x), i64::from(rect.loc.y));
        let (w, h) = (i64::from(rect.size.w), i64::from(rect.size.h));
        let (aw, ah) = (
            i64::from(self.logical_size.w),
            i64::from(self.logical_size.h),
        );
        let (right, bottom) = (aw - x - w, ah - y - h);
        let (loc, size) = match self.transform {
            Transform::Normal => ((x, y), (w, h)),
            Transform::_90 => ((bottom, x), (h, w)),
            Transform::_180 => ((right, bottom), (w, h)),
            Transform::_270 => ((y, right), (h, w)),
            Transform::Flipped => ((right, y), (w, h)),
            Transform::Flipped90 => ((bottom, right), (h, w)),
            Transform::Flipped180 => ((x, bottom), (w, h)),
            Transform::Flipped270 => ((y, x), (h, w)),
        };
        copy::Rect::new(
            copy::Point::new(loc.0, loc.1),
            copy::Size::new(size.0, size.1),
        )
    }

    /// `rect` carried from smithay's space into framebuffer pixels.
    fn to_framebuffer(&self, rect: Rectangle<i32, Physical>) -> copy::Rect<i32, Dest> {
        let r = self.transform.transform_rect_in(rect, &self.logical_size);
        copy::Rect::new(
            copy::Point::new(r.loc.x, r.loc.y),
            copy::Size::new(r.size.w, r.size.h),
        )
    }

    /// The framebuffer's size as the copy engine types it.
    fn dst_size(&self) -> copy::Size<i32, Dest> {
        copy::Size::new(self.output_size.w, self.output_size.h)
    }

    /// Plans a draw of `source` (reading `texture`, if any) into `dst`
    /// (smithay's space) at `alpha`, clipped to each of `damage` (relative
    /// to `dst`), and queues it. `opaque` (relative to `dst`) is where the
    /// source has no translucent pixel. A draw that cannot be planned is
    /// skipped (module documentation).
    fn queue(
        &mut self,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque: &[Rectangle<i32, Physical>],
        (source, texture): (DrawSource, Option<&VulkanTexture>),
        alpha: f32,
    ) -> Result<(), RenderError> {
        let wide = self.to_framebuffer_wide(dst);
        let Some((dst_rect, source)) = copy::clip_destination(wide, self.dst_size(), source) else {
            // Nothing of it near the output, or a source part too thin to
            // sample: nothing visible to draw.
            return Ok(());
        };
        for damage in damage {
            // Past i32, a damage rectangle is nowhere near the output.
            let (Some(x), Some(y)) = (
                damage.loc.x.checked_add(dst.loc.x),
                damage.loc.y.checked_add(dst.loc.y),
            ) else {
                continue;
            };
            let Some(visible) = Rectangle::new((x, y).into(), damage.size).intersection(dst) else {
                continue;
            };
            let Some(clip) = self.on_output(visible) else {
                continue;
            };
            // Only inside a region the element says is opaque, at full
            // alpha, may blending be skipped.
            let local = visible
                .loc
                .x
                .checked_sub(dst.loc.x)
                .zip(visible.loc.y.checked_sub(dst.loc.y))
                .map(|(x, y)| Rectangle::new((x, y).into(), visible.size));
            let opaque_here = local.is_some_and(|l| opaque.iter().any(|o| o.contains_rect(l)));
            let blend = if alpha >= 1.0 && opaque_here {
                Blend::Replace
            } else {
                Blend::Over
            };
            let planned = DrawPlan::new(DrawRequest {
                dst_size: self.dst_size(),
                dst_rect,
                clip,
                source,
                blend,
                alpha,
            });
            match planned {
                Ok(plan) => {
                    let plain = texture.and_then(|t| self.plain_copy(&plan, t));
                    self.draws.push(Queued {
                        plan,
                        texture: texture.cloned(),
                        plain,
                    });
                }
                Err(err) => {
                    refused(texture, &err);
                    // The element's other damage rectangles fail alike.
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The filter for drawing `src` (buffer pixels, after `transform`) into
    /// `dst` pixels: nearest for a 1:1 draw from whole pixels, else the
    /// renderer's upscale or downscale filter.
    fn filter(
        &self,
        src: Rectangle<f64, BufferCoord>,
        transform: copy::Transform,
        dst: Rectangle<i32, Physical>,
    ) -> Filter {
        let seen = transform.transformed_size(copy::Size::<f64, Dest>::new(src.size.w, src.size.h));
        let whole = |v: f64| v.fract() == 0.0;
        let same = seen.w == f64::from(dst.size.w) && seen.h == f64::from(dst.size.h);
        if same && whole(src.loc.x) && whole(src.loc.y) {
            return Filter::Nearest;
        }
        let larger = f64::from(dst.size.w) * f64::from(dst.size.h) > seen.w * seen.h;
        let chosen = if larger {
            self.renderer.upscale
        } else {
            self.renderer.downscale
        };
        match chosen {
            TextureFilter::Linear => Filter::Linear,
            TextureFilter::Nearest => Filter::Nearest,
        }
    }

    /// The copy that carries out `plan`, a draw of `texture`, as a
    /// transfer, where the draw moves the texture's bytes unchanged: it
    /// replaces what it covers, untransformed, unscaled, from whole pixels,
    /// between device buffers of the same format (`copy/plain.rs` decides
    /// the rest when the job is submitted). `None` for every other draw.
    fn plain_copy(&self, plan: &DrawPlan, texture: &VulkanTexture) -> Option<CopyPlan> {
        let request = plan.request();
        let DrawSource::Texture {
            size,
            rect,
            transform: copy::Transform::Normal,
            ..
        } = request.source
        else {
            return None;
        };
        // A texture drawn into itself is refused by the draw batch, which
        // skips that draw alone.
        let device_buffers = texture.device_buffer().is_some()
            && self.target.device_buffer().is_some()
            && !texture.same_as(&self.target);
        let unscaled = rect.size.w == f64::from(request.dst_rect.size.w)
            && rect.size.h == f64::from(request.dst_rect.size.h);
        let whole = rect.loc.x.fract() == 0.0 && rect.loc.y.fract() == 0.0;
        if request.blend != Blend::Replace
            || request.alpha != 1.0
            || !device_buffers
            || texture.fourcc() != self.target.fourcc()
            || !unscaled
            || !whole
        {
            return None;
        }
        // Source pixels lie as far from the source rectangle's corner as
        // the clip's from the destination rectangle's; the plan checks
        // that they are inside the texture.
        let (clip, dst) = (request.clip, request.dst_rect);
        let src_x = rect.loc.x as i64 + i64::from(clip.loc.x) - i64::from(dst.loc.x);
        let src_y = rect.loc.y as i64 + i64::from(clip.loc.y) - i64::from(dst.loc.y);
        CopyPlan::new(CopyRequest {
            src_size: size,
            dst_size: request.dst_size,
            src_rect: copy::Rect::new(
                copy::Point::new(i32::try_from(src_x).ok()?, i32::try_from(src_y).ok()?),
                copy::Size::new(clip.size.w, clip.size.h),
            ),
            dst_rect: clip,
            transform: copy::Transform::Normal,
            filter: None,
        })
        .ok()
    }

    /// Submits the frame's draws, once: runs of draws as draw batches, and
    /// each draw that moves bytes unchanged as a transfer between them,
    /// all in order on the device's one queue, each submission behind a
    /// barrier after everything submitted before. The frame's fence is the
    /// last submission's. A frame that waits for sync_files draws
    /// everything in batches, which wait on the GPU (a transfer job would
    /// wait on the CPU).
    fn submit(&mut self) -> Result<SyncPoint, RenderError> {
        self.finished = true;
        let draws = std::mem::take(&mut self.draws);
        let transfers = self.waits.is_empty();
        let mut last = None;
        let mut start = 0;
        for (index, queued) in draws.iter().enumerate() {
            let (Some(copy), Some(texture), true) = (&queued.plain, &queued.texture, transfers)
            else {
                continue;
            };
            // The transfer follows the batch, and its fence the batch's.
            let _before = self.submit_batch(&draws[start..index])?;
            let job = CopyJob::new(copy, texture.surface(), self.target.surface());
            last = Some(self.renderer.copier.submit(&job)?);
            let counters = &mut self.renderer.frame_counters;
            counters.submissions += 1;
            counters.transfers += 1;
            start = index + 1;
        }
        if let Some(done) = self.submit_batch(&draws[start..])? {
            last = Some(done);
        }
        Ok(last.map_or_else(SyncPoint::signaled, |done| {
            SyncPoint::from(RenderFence::new(done))
        }))
    }

    /// Submits `draws`, a run of the frame's draws, as one draw batch,
    /// with the sync_files the frame waits for; `None` for no draws.
    fn submit_batch(&mut self, draws: &[Queued]) -> Result<Option<CopyCompletion>, RenderError> {
        if draws.is_empty() {
            return Ok(None);
        }
        let batch: Vec<Draw<'_>> = draws
            .iter()
            .map(|q| Draw::new(&q.plan, q.texture.as_ref().map(VulkanTexture::surface)))
            .collect();
        let waits = std::mem::take(&mut self.waits);
        let done = self
            .renderer
            .copier
            .submit_draws(self.target.surface(), &batch, waits)?;
        for (index, err) in &done.refused {
            refused(draws[*index].texture.as_ref(), err);
        }
        let counters = &mut self.renderer.frame_counters;
        counters.submissions += 1;
        for (index, queued) in draws.iter().enumerate() {
            if done.refused.iter().any(|(i, _)| *i == index) {
                continue;
            }
            if done.fills.contains(&index) {
                counters.fills += 1;
            } else {
                counters.shader_draws += 1;
            }
            let request = queued.plan.request();
            let pixels = request.clip.area().unsigned_abs();
            if let DrawSource::Solid(_) = request.source {
                counters.filled_pixels += pixels;
            }
            // Its clip came out of a fill of the batch.
            if done.onto_fills.contains(&index) {
                counters.filled_pixels = counters.filled_pixels.saturating_sub(pixels);
                counters.blends_onto_fills += 1;
            }
        }
        Ok(Some(done.completion))
    }
}

/// A draw of a frame.
#[derive(Debug)]
struct Queued {
    plan: DrawPlan,
    /// The texture it reads; `None` for a colour.
    texture: Option<VulkanTexture>,
    /// The same draw as a copy that moves the texture's bytes unchanged,
    /// where it is one ([`VulkanFrame::plain_copy`]).
    plain: Option<CopyPlan>,
}

/// The copy engine's transform that moves content as smithay's
/// `transform_rect_in` of `transform` moves rectangles: smithay's
/// rectangles flip, then turn clockwise, where the engine's turn
/// counter-clockwise (see [`copy::Transform`]).
pub(super) fn content_map(transform: Transform) -> copy::Transform {
    match transform {
        Transform::Normal => copy::Transform::Normal,
        Transform::_90 => copy::Transform::_270,
        Transform::_180 => copy::Transform::_180,
        Transform::_270 => copy::Transform::_90,
        Transform::Flipped => copy::Transform::Flipped,
        Transform::Flipped90 => copy::Transform::Flipped270,
        Transform::Flipped180 => copy::Transform::Flipped180,
        Transform::Flipped270 => copy::Transform::Flipped90,
    }
}

/// Logs that a draw of `texture` (`None`: a solid colour) was skipped for
/// `err`: once a texture, at WARN (a client's buffer or its surface state
/// asked for it).
fn refused(texture: Option<&VulkanTexture>, err: &dyn std::fmt::Display) {
    match texture {
        Some(texture) if texture.first_refusal() => warn!(
            %err,
            format = %texture.fourcc(),
            width = texture.width(),
            height = texture.height(),
            "skipping a texture that cannot be drawn; the rest of the frame is drawn"
        ),
        Some(_) => {}
        None => warn!(%err, "skipping a solid colour that cannot be drawn"),
    }
}

/// A colour's components, premultiplied as smithay keeps them.
fn components(colour: Color32F) -> [f32; 4] {
    [colour.r(), colour.g(), colour.b(), colour.a()]
}

impl Frame for VulkanFrame<'_, '_> {
    type Error = RenderError;
    type TextureId = VulkanTexture;

    fn context_id(&self) -> ContextId<VulkanTexture> {
        self.renderer.context.clone()
    }

    fn clear(
        &mut self,
        color: Color32F,
        at: &[Rectangle<i32, Physical>],
    ) -> Result<(), RenderError> {
        for &rect in at {
            let Some(clip) = self.on_output(rect) else {
                continue;
            };
            let plan = DrawPlan::new(DrawRequest {
                dst_size: self.dst_size(),
                dst_rect: clip,
                clip,
                source: DrawSource::Solid(components(color)),
                blend: Blend::Replace,
                alpha: 1.0,
            })?;
            self.draws.push(Queued {
                plan,
                texture: None,
                plain: None,
            });
        }
        Ok(())
    }

    fn draw_solid(
        &mut self,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        color: Color32F,
    ) -> Result<(), RenderError> {
        let whole = [Rectangle::from_size(dst.size)];
        let opaque: &[_] = if color.is_opaque() { &whole } else { &[] };
        let source = DrawSource::Solid(components(color));
        self.queue(dst, damage, opaque, (source, None), 1.0)
    }

    fn render_texture_from_to(
        &mut self,
        texture: &VulkanTexture,
        src: Rectangle<f64, BufferCoord>,
        dst: Rectangle<i32, Physical>,
        damage: &[Rectangle<i32, Physical>],
        opaque_regions: &[Rectangle<i32, Physical>],
        src_transform: Transform,
        alpha: f32,
    ) -> Result<(), RenderError> {
        // smithay carries a rectangle of the surface to the buffer with
        // `src_transform.transform_rect_in`, and one of its space to the
        // framebuffer with the frame's: the buffer's content reaches the
        // surface under the inverse of the first and the framebuffer under
        // the second.
        // A y-inverted texture's rows come from the mirrored place, turned
        // upright first.
        let (y, upright) = texture.stored_rows(src.loc.y, src.size.h);
        let transform = upright.compose(
            content_map(src_transform)
                .invert()
                .compose(content_map(self.transform)),
        );
        let size = texture.size();
        let source = DrawSource::Texture {
            size: copy::Size::new(size.w, size.h),
            rect: copy::Rect::new(
                copy::Point::new(src.loc.x, y),
                copy::Size::new(src.size.w, src.size.h),
            ),
            transform,
            filter: self.filter(src, transform, dst),
        };
        self.queue(dst, damage, opaque_regions, (source, Some(texture)), alpha)
    }

    fn transformation(&self) -> Transform {
        self.transform
    }

    fn wait(&mut self, sync: &SyncPoint) -> Result<(), RenderError> {
        if sync.get::<RenderFence>().is_some() || sync.is_reached() {
            // Ours: this frame's submission follows it on the same queue.
            return Ok(());
        }
        let gpu_waits = self.renderer.device.capabilities().semaphore_sync_fd.import;
        if gpu_waits && let Some(fd) = sync.export() {
            self.waits.push(SyncFile::from_fd(fd)?);
            return Ok(());
        }
        // smithay's contract: wait. Only a fence that cannot be handed to
        // the GPU gets here.
        sync.wait().map_err(|_| RenderError::Interrupted)
    }

    fn finish(mut self) -> Result<SyncPoint, RenderError> {
        self.submit()
    }
}

impl Drop for VulkanFrame<'_, '_> {
    fn drop(&mut self) {
        if !self.finished
            && let Err(err) = self.submit()
        {
            error!(%err, "submitting a frame dropped without finish");
        }
    }
}
