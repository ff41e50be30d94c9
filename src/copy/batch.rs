//! Draw batches: the draws of a frame, each checked on its own and
//! recorded as dispatches into one command buffer, one submission
//! ([`Copier::submit_draws`]). A draw that cannot be carried out is
//! skipped and reported; only what concerns the whole batch fails it.

use std::sync::Arc;

use tracing::{debug, debug_span};

use super::band::{Sampling, Tile, Window};
use super::copier::{BINDINGS, bindings};
use super::draw::{Blend, DrawPlan, DrawSource};
use super::fences::CpuWait;
use super::geometry::{Dest, Rect};
use super::layout::{Layout, PushConstants, check, solid_word};
use super::parts::Parts;
use super::plan::Side;
use super::surface::Resolved;
use super::{Copier, CopyCompletion, CopyError, Surface};
use crate::dmabuf::SharedDmabuf;
use crate::sync::{SyncAccess, SyncFile};
use crate::vulkan::{Barrier, Binding, Buffer, Ownership};

impl Copier {
    /// Checks `draws` and submits them in order, as one command buffer in
    /// one submission: each as dispatches over its clip rectangle of
    /// `target` (one, or one a band where a buffer is larger than a binding
    /// may be: `band.rs`), with a barrier before a draw whose clip overlaps
    /// one written since the last barrier. The submission waits on the GPU
    /// for `waits` (sync_files the caller's frame must follow; the device
    /// must import SYNC_FD, [`CopyError::Vulkan`] otherwise) and for the
    /// implicit fences of the dma-bufs involved; where one has not
    /// signalled and the device cannot wait for it on the GPU, the batch is
    /// refused ([`CopyError::UnsignalledFence`]) rather than blocking.
    /// Where the device exports SYNC_FD, the completion carries a
    /// sync_file, which is also added to the dma-bufs' fences.
    ///
    /// A draw that cannot be carried out (its source does not import or
    /// does not match its plan, or the target is its source) is skipped
    /// and reported in [`DrawBatch::refused`]; the others are drawn. Only
    /// what concerns the whole batch (the target, the fences, Vulkan)
    /// fails it.
    pub fn submit_draws(
        &mut self,
        target: Surface<'_>,
        draws: &[Draw<'_>],
        waits: Vec<SyncFile>,
    ) -> Result<DrawBatch, CopyError> {
        let _span = debug_span!("draw batch", draws = draws.len()).entered();
        let dst = self.resolve(target, Side::Destination)?;
        let mut recorded = Vec::with_capacity(draws.len());
        let mut refused = Vec::new();
        let mut sources: Vec<Resolved<'_>> = Vec::new();
        for (index, draw) in draws.iter().enumerate() {
            match self.check_draw(draw, target, &dst, &mut sources) {
                Ok(checked) => recorded.push((index, checked)),
                Err(err) => {
                    debug!(index, %err, "draw refused");
                    refused.push((index, err));
                }
            }
        }

        let mut commands = self.commands(c"dmabridge draw batch")?;
        for fence in waits {
            commands.wait_sync_file(fence)?;
        }
        let mut dmabufs: Vec<(&SharedDmabuf, SyncAccess)> = Vec::new();
        if let Some(dmabuf) = dst.dmabuf {
            dmabufs.push((dmabuf, SyncAccess::Write));
        }
        for dmabuf in sources.iter().filter_map(|s| s.dmabuf) {
            if !dmabufs.iter().any(|(seen, _)| Arc::ptr_eq(seen, dmabuf)) {
                dmabufs.push((dmabuf, SyncAccess::Read));
            }
        }
        for &(dmabuf, access) in &dmabufs {
            self.wait_implicit(&mut commands, dmabuf, access, CpuWait::Refuse)?;
        }
        let mut imported: Vec<&Arc<Buffer>> = Vec::new();
        for side in std::iter::once(&dst).chain(&sources) {
            for buffer in &side.foreign {
                if !imported.iter().any(|seen| Arc::ptr_eq(seen, buffer)) {
                    imported.push(buffer);
                }
            }
        }
        for src in &sources {
            if let Some(image) = &src.staged {
                commands.stage_image(image, &src.planes[0]);
            }
        }
        commands.barrier(Barrier::BeforeShader);
        for buffer in &imported {
            commands.foreign(buffer, Ownership::Acquire);
        }
        let onto_fills = blend_onto_fills(&mut recorded);
        // Pixels written since the last barriers: a draw that overlaps one
        // waits for it. A barrier is recorded for both shader and transfer
        // work after it, as draws and fills interleave.
        let mut written: Vec<Rect<i32, Dest>> = Vec::new();
        let mut fills = Vec::new();
        let (plane, stride) = (
            dst.desc.planes[0].offset,
            u64::from(dst.desc.planes[0].stride),
        );
        if recorded.iter().any(|(_, checked)| checked.fill.is_some()) {
            commands.barrier(Barrier::BeforeTransfer);
        }
        // The tiles since the last barrier that bind the same buffers and
        // differ in their clip alone (a texture drawn over several damage
        // rectangles): recorded as one dispatch of each shader
        // (`parts.rs`) once a tile that differs or a barrier comes.
        let mut run: Option<Run<'_>> = None;
        let mut dispatches = 0;
        for (index, checked) in &recorded {
            if checked
                .writes()
                .any(|rect| written.iter().any(|w| w.intersection(rect).is_some()))
            {
                if let Some(run) = run.take() {
                    dispatches += self.record(&mut commands, &run.bindings, &run.pushes)?;
                }
                commands.barrier(Barrier::BeforeShader);
                commands.barrier(Barrier::BeforeTransfer);
                written.clear();
            }
            written.extend(checked.writes());
            if let Some(fill) = &checked.fill {
                let regions: Vec<(u64, u64)> = fill
                    .rects
                    .iter()
                    .flat_map(|rect| fill_regions(rect, plane, stride))
                    .collect();
                if !regions.is_empty() {
                    commands.fill(&dst.planes[0], &regions, fill.word);
                }
                fills.push(*index);
                continue;
            }
            // A solid colour reads no source: the destination stands in.
            let src = checked.source.as_ref().map_or(&dst, |(i, _)| &sources[*i]);
            let src_layout = checked.source.as_ref().map(|(_, layout)| layout);
            for tile in &checked.tiles {
                let push = checked.push.tile(tile, src_layout, &checked.dst_layout);
                let key = RunKey {
                    source: checked.source.as_ref().map(|(i, _)| *i),
                    src: tile.src.clone(),
                    dst: tile.dst,
                    constants: push.bytes(&Parts::default()),
                };
                if let Some(run) = &mut run
                    && run.key == key
                {
                    run.pushes.push(push);
                    continue;
                }
                if let Some(run) = run.take() {
                    dispatches += self.record(&mut commands, &run.bindings, &run.pushes)?;
                }
                let bindings = match src_layout {
                    Some(_) => bindings(src, &dst, tile),
                    None => {
                        let target = Binding {
                            buffer: &dst.planes[0],
                            window: tile.dst.map(|w| (w.offset, w.range)),
                        };
                        [target; BINDINGS as usize]
                    }
                };
                run = Some(Run {
                    key,
                    bindings,
                    pushes: vec![push],
                });
            }
        }
        if let Some(run) = run.take() {
            dispatches += self.record(&mut commands, &run.bindings, &run.pushes)?;
        }
        for buffer in &imported {
            commands.foreign(buffer, Ownership::Release);
        }
        let export = self.device.capabilities().semaphore_sync_fd.export;
        let completion =
            self.submit_exporting(commands, c"dmabridge draw batch", export, &dmabufs)?;
        debug!(refused = refused.len(), dispatches, "draw batch submitted");
        Ok(DrawBatch {
            completion,
            refused,
            fills,
            onto_fills,
            dispatches,
        })
    }

    /// Checks one draw of a batch into `target` (resolved as `dst`),
    /// resolving its source into `sources` unless a draw before read the
    /// same dma-buf.
    fn check_draw<'a>(
        &mut self,
        draw: &Draw<'a>,
        target: Surface<'_>,
        dst: &Resolved<'_>,
        sources: &mut Vec<Resolved<'a>>,
    ) -> Result<CheckedDraw, CopyError> {
        let request = draw.plan.request();
        let size = (request.dst_size.w, request.dst_size.h);
        let dst_layout = check(Side::Destination, &dst.desc, size, &dst.sizes())?;
        let (found, src_layout) = match (request.source, draw.source) {
            (DrawSource::Solid(_), None) => (None, None),
            (DrawSource::Texture { size, .. }, Some(surface)) => {
                if surface.same_as(&target) {
                    return Err(CopyError::SameBuffer);
                }
                // A source drawn more than once is resolved (and, a
                // dma-buf imported as an image, staged) once, and its
                // draws can share dispatches (`Run`).
                let known = match surface {
                    Surface::Dmabuf(dmabuf) => sources
                        .iter()
                        .position(|s| s.dmabuf.is_some_and(|seen| Arc::ptr_eq(seen, dmabuf))),
                    Surface::Buffer { buffer, desc } => sources.iter().position(|s| {
                        s.dmabuf.is_none()
                            && Arc::ptr_eq(&s.planes[0], &buffer.buffer)
                            && *s.desc == *desc
                    }),
                };
                let size = (size.w, size.h);
                match known {
                    Some(index) => {
                        let src = &sources[index];
                        let layout = check(Side::Source, &src.desc, size, &src.sizes())?;
                        (Some(Found::Known(index)), Some(layout))
                    }
                    None => {
                        let src = self.resolve(surface, Side::Source)?;
                        let layout = check(Side::Source, &src.desc, size, &src.sizes())?;
                        (Some(Found::Fresh(src)), Some(layout))
                    }
                }
            }
            _ => return Err(CopyError::DrawSourceMismatch),
        };
        let sampling = src_layout.as_ref().map(|_| Sampling {
            matrix: draw.plan.matrix(),
            origin: request.dst_rect.loc,
            bounds: draw.plan.src_bounds(),
        });
        let tiles = self.tiles(
            request.clip,
            sampling.as_ref(),
            src_layout.as_ref().unwrap_or(&dst_layout),
            &dst_layout,
        )?;
        let push = PushConstants::draw(draw.plan, src_layout.as_ref(), &dst_layout);
        // Checked: only now does a new source join the batch.
        let index = found.map(|found| match found {
            Found::Known(index) => index,
            Found::Fresh(src) => {
                sources.push(src);
                sources.len() - 1
            }
        });
        let source = index.zip(src_layout);
        let fill = match request.source {
            DrawSource::Solid(rgba)
                if request.blend == Blend::Replace && dst.planes[0].transfers() =>
            {
                Some(Fill {
                    word: solid_word(rgba, request.alpha, dst_layout.format),
                    rects: vec![request.clip],
                })
            }
            _ => None,
        };
        Ok(CheckedDraw {
            clip: request.clip,
            push,
            source,
            dst_layout,
            tiles,
            fill,
        })
    }
}

/// One draw of a batch ([`Copier::submit_draws`]): its plan and, for a
/// texture, the surface the plan's source rectangle is read from.
#[derive(Debug, Clone, Copy)]
pub struct Draw<'a> {
    plan: &'a DrawPlan,
    source: Option<Surface<'a>>,
}

impl<'a> Draw<'a> {
    /// A draw of `plan`, which reads `source`: `None` for a solid colour,
    /// the texture otherwise. Checked when submitted.
    pub fn new(plan: &'a DrawPlan, source: Option<Surface<'a>>) -> Self {
        Self { plan, source }
    }
}

/// What [`Copier::submit_draws`] did with a batch.
#[derive(Debug)]
pub struct DrawBatch {
    /// The submission of the draws that were drawn.
    pub completion: CopyCompletion,
    /// The draws that were skipped, by their index in the batch, with why.
    pub refused: Vec<(usize, CopyError)>,
    /// The draws of a solid colour that replaces what it covers, carried
    /// out as buffer fills (transfers, not the shader), by their index.
    pub fills: Vec<usize>,
    /// The draws that blend over a fill of the batch, by their index:
    /// where a fill is the last thing drawn under the whole clip of a
    /// draw that blends, the draw blends over the fill's colour without
    /// reading the target, and the fill leaves that clip out. Each of
    /// those pixels is written once, where it was written, read and
    /// written again.
    pub onto_fills: Vec<usize>,
    /// The compute dispatches recorded. The draws between two barriers
    /// that read the same source and differ in their clip alone (one
    /// texture over several damage rectangles) are one dispatch of the
    /// fast path and one of the general shader, or either alone.
    pub dispatches: usize,
}

/// Tiles of draws recorded as one dispatch of each shader: they bind the
/// same buffers and differ in their clip alone.
struct Run<'a> {
    key: RunKey,
    bindings: [Binding<'a>; BINDINGS as usize],
    pushes: Vec<PushConstants>,
}

/// What the tiles of a [`Run`] share: the source among the batch's
/// resolved ones (`None` for a solid colour), the windows bound, and the
/// push constants but the clip.
#[derive(PartialEq)]
struct RunKey {
    source: Option<usize>,
    src: Vec<Option<Window>>,
    dst: Option<Window>,
    constants: [u8; PushConstants::SIZE],
}

/// A draw of a batch, checked and ready to record.
#[derive(Debug)]
struct CheckedDraw {
    clip: Rect<i32, Dest>,
    push: PushConstants,
    /// The index of its source among the batch's resolved sources, and
    /// that source's layout; `None` for a solid colour.
    source: Option<(usize, Layout)>,
    dst_layout: Layout,
    /// Its dispatches.
    tiles: Vec<Tile>,
    /// A solid colour that replaces what it covers, where the target takes
    /// transfers: then the draw is `vkCmdFillBuffer`, not a dispatch.
    fill: Option<Fill>,
}

impl CheckedDraw {
    /// The pixels it writes: its clip, or what is left of a fill's.
    fn writes(&self) -> impl Iterator<Item = &Rect<i32, Dest>> {
        match &self.fill {
            Some(fill) => fill.rects.iter(),
            None => std::slice::from_ref(&self.clip).iter(),
        }
    }
}

/// A draw of a batch carried out as `vkCmdFillBuffer` of rows.
#[derive(Debug)]
struct Fill {
    /// The word each pixel gets.
    word: u32,
    /// The pixels it fills, which share none: its clip, less the clips
    /// of the draws that blend over its colour instead
    /// ([`blend_onto_fills`]).
    rects: Vec<Rect<i32, Dest>>,
}

/// The most pieces of a clip not yet found under fills that
/// [`blend_onto_fills`] follows before it leaves the draw as it is.
const MAX_UNCOVERED: usize = 32;

/// Finds the draws of `recorded` that blend over nothing but fills of the
/// batch: going back from the draw, every draw that wrote a pixel of its
/// clip last is a fill, all of the same word. Each of them blends over
/// that colour without reading the target (the shader's
/// `MODE_ONTO_COLOUR`), and the fills leave its clip out, so that those
/// pixels are written once. The result is the same, bit for bit: the
/// shader encodes the colour into the word the fills would have written.
/// Returns their indices in the batch.
fn blend_onto_fills(recorded: &mut [(usize, CheckedDraw)]) -> Vec<usize> {
    let mut onto = Vec::new();
    for at in 0..recorded.len() {
        let (before, rest) = recorded.split_at_mut(at);
        let (index, draw) = &mut rest[0];
        // A texture that blends over the target; a translucent colour's
        // push constants carry its own colour.
        if draw.source.is_none() || !draw.push.reads_destination() || draw.clip.area() == 0 {
            continue;
        }
        let clip = draw.clip;
        // The fills under the clip, latest first, until they cover it.
        let mut uncovered = vec![clip];
        let mut under: Vec<usize> = Vec::new();
        for (k, (_, earlier)) in before.iter().enumerate().rev() {
            if uncovered.is_empty() {
                break;
            }
            let touches = earlier
                .writes()
                .any(|w| uncovered.iter().any(|u| u.intersection(w).is_some()));
            if !touches {
                continue;
            }
            let same_fill = match (&earlier.fill, under.first()) {
                (Some(fill), Some(&first)) => before[first]
                    .1
                    .fill
                    .as_ref()
                    .is_some_and(|f| f.word == fill.word),
                (Some(_), None) => true,
                (None, _) => false,
            };
            // Past a few dozen pieces the clip is left to read the target:
            // the pieces grow with the fills that cut it.
            if !same_fill || uncovered.len() > MAX_UNCOVERED {
                break;
            }
            for w in earlier.writes() {
                uncovered = uncovered.iter().flat_map(|u| u.subtract(w)).collect();
            }
            under.push(k);
        }
        let Some(&first) = under.first() else {
            continue;
        };
        if !uncovered.is_empty() {
            continue;
        }
        let colour = before[first].1.push.solid_colour();
        for k in under {
            if let Some(fill) = &mut before[k].1.fill {
                fill.rects = fill.rects.iter().flat_map(|r| r.subtract(&clip)).collect();
            }
        }
        draw.push.blend_onto(colour);
        onto.push(*index);
    }
    onto
}

/// The source of a draw being checked: resolved for a draw before, or
/// just now.
#[derive(Debug)]
enum Found<'a> {
    Known(usize),
    Fresh(Resolved<'a>),
}

/// The byte ranges of `clip`'s rows in a plane at `offset` with rows of
/// `stride` bytes: one range where the rows lie back to back.
fn fill_regions(clip: &Rect<i32, Dest>, offset: u64, stride: u64) -> Vec<(u64, u64)> {
    // A checked clip lies in its buffer: no coordinate is negative.
    let [x, y, w, h] = [clip.loc.x, clip.loc.y, clip.size.w, clip.size.h]
        .map(|n| u64::try_from(n).expect("a checked clip"));
    let start = offset + y * stride + x * 4;
    if w * 4 == stride {
        vec![(start, stride * h)]
    } else {
        (0..h).map(|row| (start + row * stride, w * 4)).collect()
    }
}
