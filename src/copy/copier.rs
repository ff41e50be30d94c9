//! Carrying out a [`CopyPlan`](super::CopyPlan) on the GPU: a compute
//! shader over storage buffers (`shaders/copy.comp`).
//!
//! Both sides of a copy are buffers described by format, size and, for each
//! plane, a byte offset and a stride, so any layout a client sends works,
//! with or without `VK_EXT_image_drm_format_modifier`. For each pixel of the
//! destination rectangle the shader maps its centre through
//! [`CopyPlan::matrix`](super::CopyPlan::matrix) (push constants), samples as
//! [`reference`](super::reference) defines (nearest, or bilinear clamped to
//! the source rectangle), converts the format and stores the packed pixel.
//! No pixel outside the destination rectangle is written. An unscaled copy
//! or draw of whole words (replacing, or blending at alpha 1) takes a small
//! shader of its own over
//! the 4×4 blocks that lie on 16-byte boundaries (`turn.rs`,
//! `shaders/turn.comp`); [`Copier::record`] chooses, for copies and draws
//! alike.
//!
//! A buffer larger than the device's `maxStorageBufferRange` (a 6000×6000
//! `wl_shm` buffer on lavapipe's 128 MiB) is bound in windows: the
//! destination rectangle (a draw's clip) is split into tiles whose source
//! and destination rows each fit one binding, one dispatch a tile
//! (`band.rs`). A buffer within the limit is bound whole and its copy is one
//! dispatch. Only a copy of which not even one row fits a binding is
//! refused ([`CopyError::BufferTooLarge`]), copies and draws alike.
//!
//! [`Copier::submit`] returns a [`CopyCompletion`](super::CopyCompletion)
//! holding the job's fence (`job.rs`).
//! [`Copier::submit_draws`] records the draws of a frame into one
//! submission, the draws of one texture over several clips as parts of
//! one dispatch of each shader (`parts.rs`); a draw it cannot carry out (its source does not import or
//! does not fit its plan) is skipped and reported in
//! [`DrawBatch::refused`](super::DrawBatch::refused) while the others are
//! drawn: one client's buffer does not cost everyone the frame
//! (`batch.rs`). The frame (`render/frame.rs`) decides what to do about it.
//! [`Copier::upload`] and [`Copier::readback`] move bytes between host
//! memory and a [`DeviceBuffer`](super::DeviceBuffer) through host-visible
//! staging buffers (`staging.rs`). A client's dma-buf is imported on first
//! use and cached (`import.rs`); the fences a submission waits for and
//! signals are in `fences.rs`.

use std::sync::Arc;

use super::CopyError;
use super::band::{self, Limits, Sampling, Tile, Window};
use super::geometry::{Dest, Point, Rect, Size};
use super::layout::{Layout, PushConstants};
use super::parts::Parts;
use super::surface::Resolved;
use super::turn::Turn;
use crate::vulkan::{
    Binding, Commands, ComputePipeline, Device, Fence, ImportCache, ImportPath, Submitted,
};

/// The copy shader, compiled from `shaders/copy.comp` by `build.rs`.
const COPY_SPIRV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/copy.comp.spv"));

/// Its fast path for whole blocks of words (`turn.rs`), from
/// `shaders/turn.comp`: for one clip, and for several (`parts.rs`).
const TURN_SPIRV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/turn.comp.spv"));
const TURN_PARTS_SPIRV: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/turn-parts.comp.spv"));

/// Bindings of the copy shader: source planes 0 and 1, the destination,
/// then source plane 0 and the destination again (the shader reads and
/// writes them as 16-byte vectors there).
pub(super) const BINDINGS: u32 = 5;

/// Completed command buffers kept for reuse; more are destroyed.
const SPARE_COMMANDS: usize = 4;

/// Carries out copies on one Vulkan device: owns the copy pipeline and the
/// work in flight.
///
/// Work in flight is released by [`collect`](Self::collect), which
/// [`submit`](Self::submit) also runs, once its fence signalled; its command
/// buffer and descriptor pools are kept for the next job. Dropping the
/// copier waits for what is still in flight.
#[derive(Debug)]
pub struct Copier {
    in_flight: Vec<Submitted>,
    spare: Vec<Commands>,
    pub(super) imports: ImportCache,
    /// How a LINEAR source dma-buf is imported.
    pub(super) linear_sources: ImportPath,
    /// At most this many bytes of a buffer are bound to a dispatch, below
    /// the device's limit ([`Copier::set_binding_limit`]).
    binding_limit: Option<u64>,
    pipeline: Arc<ComputePipeline>,
    /// The fast path's pipelines, with the same bindings: for one clip,
    /// and for several.
    turn: Arc<ComputePipeline>,
    turn_parts: Arc<ComputePipeline>,
    pub(super) device: Arc<Device>,
}

impl Copier {
    /// Builds the copy pipeline on `device`.
    pub fn new(device: Arc<Device>) -> Result<Self, CopyError> {
        let push_size = u32::try_from(PushConstants::SIZE).expect("a few dozen bytes");
        let pipeline =
            ComputePipeline::new(&device, COPY_SPIRV, BINDINGS, push_size, c"dmabridge copy")?;
        let push_size = u32::try_from(Turn::SIZE).expect("a few dozen bytes");
        let turn =
            ComputePipeline::new(&device, TURN_SPIRV, BINDINGS, push_size, c"dmabridge turn")?;
        let turn_parts = ComputePipeline::new(
            &device,
            TURN_PARTS_SPIRV,
            BINDINGS,
            push_size,
            c"dmabridge turn parts",
        )?;
        Ok(Self {
            in_flight: Vec::new(),
            spare: Vec::new(),
            imports: ImportCache::default(),
            linear_sources: ImportPath::Buffer,
            binding_limit: None,
            pipeline: Arc::new(pipeline),
            turn: Arc::new(turn),
            turn_parts: Arc::new(turn_parts),
            device,
        })
    }

    /// Records the dispatches of tiles of copies or draws that bind the
    /// same `bindings` and write disjoint pixels, `pushes` their push
    /// constants, which differ in their clip alone: the fast path over as
    /// much of each clip as it takes (`turn.rs`) and the copy shader over
    /// the rest, each clip a part of one dispatch of each shader
    /// (`parts.rs`). Returns how many dispatches it recorded.
    pub(super) fn record(
        &self,
        commands: &mut Commands,
        bindings: &[Binding<'_>],
        pushes: &[PushConstants],
    ) -> Result<usize, CopyError> {
        let Some(first) = pushes.first() else {
            return Ok(0);
        };
        // One fast-path dispatch for each set of constants besides the
        // parts: the same for clips of the same draw.
        let mut turns: Vec<(Turn, Parts)> = Vec::new();
        let mut general = Parts::default();
        for push in pushes {
            let [x, y, w, h] = push.clip;
            let clip = Rect::<i32, Dest>::new(Point::new(x, y), Size::new(w, h));
            let rest = match Turn::split(push) {
                Some((turn, rest)) => {
                    match turns.iter_mut().find(|(t, _)| t.shares_dispatch(&turn)) {
                        Some((_, parts)) => turn.add_to(parts),
                        None => {
                            let mut parts = Parts::default();
                            turn.add_to(&mut parts);
                            turns.push((turn, parts));
                        }
                    }
                    rest
                }
                None => vec![clip],
            };
            for part in rest {
                push.clipped(part).add_clip_to(&mut general);
            }
        }
        let max_x = self.device.max_workgroups_x();
        // The parts write disjoint pixels: no barrier between them.
        for (turn, parts) in &turns {
            if parts.count() == 1 {
                commands.dispatch(&self.turn, bindings, &turn.bytes(0), None, turn.groups())?;
            } else {
                let push = turn.bytes(parts.groups());
                let (parameters, grid) = (parts.bytes(), parts.grid(max_x));
                commands.dispatch(&self.turn_parts, bindings, &push, Some(&parameters), grid)?;
            }
        }
        if general.count() > 0 {
            let push = first.bytes(&general);
            let (parameters, grid) = (general.bytes(), general.grid(max_x));
            commands.dispatch(&self.pipeline, bindings, &push, Some(&parameters), grid)?;
        }
        Ok(turns.len() + usize::from(general.count() > 0))
    }

    /// The dispatches that write `clip`: see `band.rs`. A solid colour
    /// (`sampling` is `None`) reads no plane of `src`.
    pub(super) fn tiles(
        &self,
        clip: Rect<i32, Dest>,
        sampling: Option<&Sampling>,
        src: &Layout,
        dst: &Layout,
    ) -> Result<Vec<Tile>, CopyError> {
        let max = self.binding_limit();
        let limits = Limits::new(max, self.device.min_storage_buffer_offset_alignment());
        let src_planes = if sampling.is_some() {
            &src.planes[..]
        } else {
            &[]
        };
        band::tiles(clip, sampling, src_planes, &dst.planes[0], limits).map_err(|err| {
            CopyError::BufferTooLarge {
                side: err.side,
                size: err.needed,
                max,
            }
        })
    }

    /// The most bytes of a buffer one binding holds: the device's
    /// `maxStorageBufferRange`, or less where
    /// [`set_binding_limit`](Self::set_binding_limit) asked for less.
    fn binding_limit(&self) -> u64 {
        let max = self.device.max_storage_buffer_range();
        self.binding_limit.map_or(max, |limit| limit.min(max))
    }

    /// Binds at most `bytes` of a buffer to one dispatch from now on, where
    /// that is less than the device's `maxStorageBufferRange`: larger
    /// buffers are then drawn in bands as on a device with that limit
    /// (`band.rs`). For tests and benchmarks, which exercise banding on
    /// small buffers; `None` goes back to the device's limit.
    pub fn set_binding_limit(&mut self, bytes: Option<u64>) {
        self.binding_limit = bytes;
    }

    /// A command buffer recording under `name`: a spare one, or a new one.
    pub(super) fn commands(&mut self, name: &std::ffi::CStr) -> Result<Commands, CopyError> {
        match self.spare.pop() {
            Some(mut commands) => {
                commands.restart(name)?;
                Ok(commands)
            }
            None => Ok(Commands::begin(&self.device, name)?),
        }
    }

    /// Releases the work whose fence signalled; returns how much is still in
    /// flight.
    /// Imports whose dma-buf nobody else holds any more leave the cache; they
    /// are destroyed once no job uses them.
    pub fn collect(&mut self) -> Result<usize, CopyError> {
        let mut error = None;
        let mut pending = Vec::with_capacity(self.in_flight.len());
        for work in self.in_flight.drain(..) {
            match work.is_done() {
                Ok(true) if self.spare.len() < SPARE_COMMANDS => match work.recycle() {
                    Ok(commands) => self.spare.push(commands),
                    Err(err) => {
                        error.get_or_insert(err);
                    }
                },
                Ok(true) => drop(work),
                Ok(false) => pending.push(work),
                Err(err) => {
                    error.get_or_insert(err);
                    pending.push(work);
                }
            }
        }
        self.in_flight = pending;
        self.imports.sweep();
        match error {
            Some(err) => Err(err.into()),
            None => Ok(self.in_flight.len()),
        }
    }

    /// Keeps `work` until it completed, releases what completed before, and
    /// returns the work's fence.
    pub(super) fn track(&mut self, work: Submitted) -> Result<Arc<Fence>, CopyError> {
        let fence = work.fence();
        self.in_flight.push(work);
        self.collect()?;
        Ok(fence)
    }
}

/// The bindings of a dispatch of `tile` reading `src` and writing `dst`. Plane 1 of a single-plane source is never read; plane 0 stands
/// in.
pub(super) fn bindings<'a>(
    src: &'a Resolved<'_>,
    dst: &'a Resolved<'_>,
    tile: &Tile,
) -> [Binding<'a>; BINDINGS as usize] {
    let window = |w: Option<Window>| w.map(|w| (w.offset, w.range));
    let src0 = Binding {
        buffer: &src.planes[0],
        window: window(tile.src.first().copied().flatten()),
    };
    let src1 = match src.planes.get(1) {
        Some(plane) => Binding {
            buffer: plane,
            window: window(tile.src.get(1).copied().flatten()),
        },
        None => src0,
    };
    let dst = Binding {
        buffer: &dst.planes[0],
        window: window(tile.dst),
    };
    [src0, src1, dst, src0, dst]
}
