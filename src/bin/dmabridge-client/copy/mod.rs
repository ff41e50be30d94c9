//! `--copy`: copies between `wl_shm` buffers through
//! dmabridge-buffer-copy-v1, every result checked against the library's
//! CPU reference ([`dmabridge::copy::reference`]).
//!
//! For each pair of the four packed formats, each of the eight transforms
//! and three kinds of copy (exact without a filter, scaled nearest,
//! scaled linear), a source of noise (its X formats' padding bytes
//! included) is copied from a rectangle inside it to a rectangle inside a
//! destination that holds noise too, so that a pixel written outside the
//! rectangle shows. The destination is read back after `done` and
//! compared with what the reference makes of the same bytes: exactly, or
//! within ±1 per channel for linear filtering (the shader converts in
//! `f32`, the reference in `f64`). Each case prints `copy SRC DST
//! TRANSFORM FILTER ok` or `mismatch …`; the last line is `copies N
//! mismatched M`, and the exit status is non-zero when M is.
//!
//! `--copy-nv12` does the same from an NV12 `wl_shm` source into each
//! packed format (`run_nv12`), within ±1 per channel (the shader converts
//! NV12 in `f32`, the reference in `f64`).
//!
//! `--copy-fractional` does the same from an ARGB8888 source rectangle whose
//! edges cut pixels (version 2 of the protocol), at its own size and
//! scaled, with either filter (`run_fractional`).
//!
//! `--copy-dmabuf` does the same with udmabufs (`run_dmabuf`), NV12
//! sources included, and checks the fences that guard them.
//!
//! `--copy-timeline` checks version 2's timeline points
//! (`run_timeline`): a copy waits for its acquire point, its release point
//! is signalled by `done` and by `failed`, a release point not after the
//! acquire point is `conflicting_points`, and an acquire point beside an
//! acquire fence is `conflicting_acquire`.
//!
//! `--copy-bench WxH` times a turned copy through the protocol against the
//! same copy in a plain loop on the client's CPU.
//!
//! `--copy-flood SECS` instead keeps [`FLOOD_DEPTH`] large scaled copies
//! queued for SECS seconds and prints `flooded N`: a compositor that does
//! the copies off its loop keeps every other client's frames coming.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dmabridge::alloc::{DmabufAllocator as _, FenceAccess, Udmabuf, Vgem};
use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
use dmabridge::copy::{CopyPlan, CopyRequest, Filter, Point, Rect, Size, Transform};
use dmabridge::dmabuf::{Access, Dmabuf};
use dmabridge::protocols::buffer_copy::client::{
    dmabridge_buffer_copy_manager_v1::DmabridgeBufferCopyManagerV1,
    dmabridge_buffer_copy_v1::{self, DmabridgeBufferCopyV1},
};
use dmabridge::sync::{SyncAccess, SyncFile};
use drm_fourcc::DrmFourcc;
use wayland_client::backend::WaylandError;
use wayland_client::globals::{GlobalList, registry_queue_init};
use wayland_client::protocol::wl_buffer::WlBuffer;
use wayland_client::protocol::wl_output;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::{
    Connection, Dispatch, DispatchError, EventQueue, QueueHandle, WEnum, delegate_noop,
};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1, zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};
use wayland_protocols::wp::linux_drm_syncobj::v1::client::wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1;

use crate::app::App;
use crate::explicit_sync::import_timeline;
use crate::say;
use crate::shm::shm_image;

mod fenced;

pub(crate) use fenced::{run_dmabuf, run_timeline};

/// The copies `--copy-flood` keeps queued at once.
pub(crate) const FLOOD_DEPTH: usize = 16;

/// How a copy object's submitted copy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `done`.
    Done,
    /// `failed` with this reason.
    Failed(u32),
}

impl Dispatch<DmabridgeBufferCopyV1, u64> for App {
    fn event(
        app: &mut Self,
        _: &DmabridgeBufferCopyV1,
        event: dmabridge_buffer_copy_v1::Event,
        id: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        use dmabridge_buffer_copy_v1::Event;
        match event {
            Event::Done { .. } => app.copies.push((*id, Answer::Done)),
            Event::Failed { reason } => {
                let reason = match reason {
                    WEnum::Value(reason) => reason as u32,
                    WEnum::Unknown(value) => value,
                };
                app.copies.push((*id, Answer::Failed(reason)));
            }
            Event::Release { fence } => app.releases.push((*id, fence)),
            _ => {}
        }
    }
}

delegate_noop!(App: ignore DmabridgeBufferCopyManagerV1);

/// The four packed formats, as fourcc and as `wl_shm` format.
const FORMATS: [(DrmFourcc, wl_shm::Format); 4] = [
    (DrmFourcc::Argb8888, wl_shm::Format::Argb8888),
    (DrmFourcc::Xrgb8888, wl_shm::Format::Xrgb8888),
    (DrmFourcc::Abgr8888, wl_shm::Format::Abgr8888),
    (DrmFourcc::Xbgr8888, wl_shm::Format::Xbgr8888),
];

/// The source buffer's size and the rectangle read from it.
const SRC: (i32, i32) = (40, 30);
const SRC_RECT: (i32, i32, i32, i32) = (3, 2, 24, 16);
/// The source rectangle of `--copy-fractional`: every edge inside a pixel.
const SRC_FRACTIONAL: (f64, f64, f64, f64) = (2.5, 1.75, 23.25, 15.5);
/// The destination buffer's size, where an exact copy lands and the
/// rectangle a scaled copy fills.
const DST: (i32, i32) = (50, 44);
const DST_AT: (i32, i32) = (5, 7);
const DST_SCALED: (i32, i32, i32, i32) = (1, 2, 37, 29);

/// Where an image's bytes are: a `wl_shm` pool's memfd (the buffer's
/// offset in it, and the stride of each of its planes, which follow one
/// another), or a udmabuf.
enum Storage {
    Shm {
        fd: OwnedFd,
        offset: usize,
        stride: usize,
    },
    Dmabuf(Dmabuf),
}

/// A client buffer whose bytes the client keeps access to: each plane's
/// bytes and stride.
struct Image {
    storage: Storage,
    buffer: WlBuffer,
    fourcc: DrmFourcc,
    size: (i32, i32),
}

impl Image {
    /// A `wl_shm` buffer holding `bytes`, rows tightly packed.
    fn shm(
        shm: &WlShm,
        qh: &QueueHandle<App>,
        (fourcc, format): (DrmFourcc, wl_shm::Format),
        size: (i32, i32),
        bytes: &[u8],
    ) -> anyhow::Result<Self> {
        let (w, h) = (size.0 as u32, size.1 as u32);
        let (fd, buffer) = shm_image(shm, qh, (0, w, h, w * 4), format, bytes)?;
        Ok(Self {
            storage: Storage::Shm {
                fd,
                offset: 0,
                stride: w as usize * 4,
            },
            buffer,
            fourcc,
            size,
        })
    }

    /// An NV12 `wl_shm` buffer at `offset` in its pool, both planes
    /// `stride` bytes a row, the CbCr plane right after the Y plane (the
    /// layout `wl_shm` takes NV12 in), filled with noise: the Y plane's
    /// from `seed`, the CbCr plane's from `seed + 2` (`noise` seeds with
    /// `seed | 1`, so `seed + 1` could give the same bytes).
    fn shm_nv12(
        shm: &WlShm,
        qh: &QueueHandle<App>,
        size: (i32, i32),
        (offset, stride): (usize, usize),
        seed: u32,
    ) -> anyhow::Result<Self> {
        let rows = size.1 as usize;
        let mut pool = vec![0; offset];
        pool.extend(reference::noise(seed, stride * rows));
        pool.extend(reference::noise(seed + 2, stride * rows.div_ceil(2)));
        let layout = (offset as u32, size.0 as u32, rows as u32, stride as u32);
        let (fd, buffer) = shm_image(shm, qh, layout, wl_shm::Format::Nv12, &pool)?;
        Ok(Self {
            storage: Storage::Shm { fd, offset, stride },
            buffer,
            fourcc: DrmFourcc::Nv12,
            size,
        })
    }

    /// A LINEAR udmabuf of `fourcc`, shared through linux-dmabuf, its
    /// planes filled with noise from `seed`.
    fn udmabuf(
        linux_dmabuf: &ZwpLinuxDmabufV1,
        qh: &QueueHandle<App>,
        fourcc: DrmFourcc,
        size: (i32, i32),
        seed: u32,
    ) -> anyhow::Result<Self> {
        let dmabuf = Udmabuf::open()?.allocate(fourcc, size.0 as u32, size.1 as u32)?;
        let params = linux_dmabuf.create_params(qh, ());
        let modifier = u64::from(dmabuf.modifier());
        for (index, plane) in (0..).zip(dmabuf.planes()) {
            params.add(
                plane.fd(),
                index,
                plane.offset(),
                plane.stride(),
                (modifier >> 32) as u32,
                modifier as u32,
            );
        }
        let buffer = params.create_immed(
            size.0,
            size.1,
            fourcc as u32,
            zwp_linux_buffer_params_v1::Flags::empty(),
            qh,
            (),
        );
        params.destroy();
        let mut image = Self {
            storage: Storage::Dmabuf(dmabuf),
            buffer,
            fourcc,
            size,
        };
        let planes: Vec<Vec<u8>> = image
            .read()?
            .iter()
            .enumerate()
            .map(|(n, plane)| reference::noise(seed + n as u32, plane.len()))
            .collect();
        image.write(&planes)?;
        Ok(image)
    }

    /// Each plane's stride.
    fn strides(&self) -> Vec<usize> {
        match &self.storage {
            Storage::Shm { stride, .. } => vec![*stride; planes(self.fourcc)],
            Storage::Dmabuf(dmabuf) => dmabuf
                .planes()
                .iter()
                .map(|p| p.stride() as usize)
                .collect(),
        }
    }

    /// Replaces each plane's bytes (a dma-buf's through a CPU write
    /// bracket).
    fn write(&mut self, planes: &[Vec<u8>]) -> anyhow::Result<()> {
        let spans = self.shm_planes();
        match &mut self.storage {
            Storage::Shm { fd, .. } => {
                for (bytes, (at, _)) in planes.iter().zip(spans) {
                    if rustix::io::pwrite(&*fd, bytes, at as u64)? != bytes.len() {
                        bail!("short write to the shm pool");
                    }
                }
            }
            Storage::Dmabuf(dmabuf) => {
                let mut access = dmabuf.begin_cpu_access(Access::Write)?;
                for (n, bytes) in planes.iter().enumerate() {
                    access.plane_mut(n)?.copy_from_slice(bytes);
                }
            }
        }
        Ok(())
    }

    /// Each plane's bytes (a dma-buf's through a CPU read bracket, which
    /// waits for its writers' fences).
    fn read(&mut self) -> anyhow::Result<Vec<Vec<u8>>> {
        let spans = self.shm_planes();
        match &mut self.storage {
            Storage::Shm { fd, .. } => spans
                .into_iter()
                .map(|(at, len)| {
                    let mut bytes = vec![0; len];
                    if rustix::io::pread(&*fd, &mut bytes, at as u64)? != len {
                        bail!("short read from the shm pool");
                    }
                    Ok(bytes)
                })
                .collect(),
            Storage::Dmabuf(dmabuf) => {
                let access = dmabuf.begin_cpu_access(Access::Read)?;
                Ok((0..planes(self.fourcc))
                    .map(|n| access.plane(n).to_vec())
                    .collect())
            }
        }
    }

    /// Where each plane of a `wl_shm` image lies in its pool: (first byte,
    /// length). Empty for a dma-buf.
    fn shm_planes(&self) -> Vec<(usize, usize)> {
        let Storage::Shm { offset, stride, .. } = self.storage else {
            return Vec::new();
        };
        let rows = self.size.1 as usize;
        let luma = (offset, stride * rows);
        let chroma = (offset + stride * rows, stride * rows.div_ceil(2));
        [luma, chroma][..planes(self.fourcc)].to_vec()
    }

    /// The udmabuf, for its fences.
    fn dmabuf(&self) -> Option<&Dmabuf> {
        match &self.storage {
            Storage::Shm { .. } => None,
            Storage::Dmabuf(dmabuf) => Some(dmabuf),
        }
    }
}

/// How many planes a format of this client has.
fn planes(fourcc: DrmFourcc) -> usize {
    if fourcc == DrmFourcc::Nv12 { 2 } else { 1 }
}

fn rect<S>((x, y, w, h): (i32, i32, i32, i32)) -> Rect<i32, S> {
    Rect::new(Point::new(x, y), Size::new(w, h))
}

/// One copy as the protocol is asked for it.
struct Case {
    /// The source rectangle, as `set_source` takes it.
    source: (f64, f64, f64, f64),
    transform: Transform,
    filter: Option<Filter>,
    dst_rect: (i32, i32, i32, i32),
}

impl Case {
    /// The plan the compositor makes of this case: a source rectangle on
    /// whole pixels plans as one given in pixels.
    fn plan(&self) -> anyhow::Result<CopyPlan> {
        let (x, y, w, h) = self.source;
        let request = CopyRequest {
            src_size: Size::new(SRC.0, SRC.1),
            dst_size: Size::new(DST.0, DST.1),
            src_rect: rect(SRC_RECT),
            dst_rect: rect(self.dst_rect),
            transform: self.transform,
            filter: self.filter,
        };
        let source = Rect::new(Point::new(x, y), Size::new(w, h));
        Ok(CopyPlan::with_source(request, source)?)
    }

    fn name(&self, src: &Image, dst: &Image) -> String {
        format!(
            "{} {} {:?} {:?}",
            src.fourcc, dst.fourcc, self.transform, self.filter
        )
    }
}

/// The cases for each format pair: exact, then scaled nearest and linear,
/// under each transform.
fn cases() -> Vec<Case> {
    let (x, y, w, h) = SRC_RECT;
    let source = (f64::from(x), f64::from(y), f64::from(w), f64::from(h));
    let mut cases = Vec::new();
    for transform in Transform::ALL {
        let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(
            SRC_RECT.2, SRC_RECT.3,
        ));
        cases.push(Case {
            source,
            transform,
            filter: None,
            dst_rect: (DST_AT.0, DST_AT.1, seen.w, seen.h),
        });
        for filter in [Filter::Nearest, Filter::Linear] {
            cases.push(Case {
                source,
                transform,
                filter: Some(filter),
                dst_rect: DST_SCALED,
            });
        }
    }
    cases
}

/// `--copy-fractional`'s cases: [`SRC_FRACTIONAL`] under each transform,
/// onto a rectangle of its size (rounded down) and a scaled one, with
/// either filter (a fractional source needs one).
fn fractional_cases() -> Vec<Case> {
    let (_, _, w, h) = SRC_FRACTIONAL;
    let mut cases = Vec::new();
    for transform in Transform::ALL {
        let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(
            w as i32, h as i32,
        ));
        for dst_rect in [(DST_AT.0, DST_AT.1, seen.w, seen.h), DST_SCALED] {
            for filter in [Filter::Nearest, Filter::Linear] {
                cases.push(Case {
                    source: SRC_FRACTIONAL,
                    transform,
                    filter: Some(filter),
                    dst_rect,
                });
            }
        }
    }
    cases
}

/// Binds the manager at `version` or later, or says why not.
fn manager(
    globals: &GlobalList,
    qh: &QueueHandle<App>,
    version: u32,
) -> anyhow::Result<DmabridgeBufferCopyManagerV1> {
    globals.bind(qh, version..=2, ()).with_context(|| {
        format!("the compositor has no dmabridge_buffer_copy_manager_v1 v{version}")
    })
}

/// Describes the copy `case` from `src` to `dst` on a new copy object
/// named `id`, not yet submitted.
fn describe(
    manager: &DmabridgeBufferCopyManagerV1,
    qh: &QueueHandle<App>,
    (src, dst): (&Image, &Image),
    case: &Case,
    id: u64,
) -> DmabridgeBufferCopyV1 {
    let copy = manager.copy(&src.buffer, &dst.buffer, qh, id);
    let (x, y, w, h) = case.source;
    copy.set_source(x, y, w, h);
    let (x, y, w, h) = case.dst_rect;
    copy.set_destination(x, y, w, h);
    let transform = wl_output::Transform::try_from(case.transform as u32)
        .expect("the eight transforms are wl_output's");
    copy.set_transform(transform);
    match case.filter {
        Some(Filter::Nearest) => copy.set_filter(dmabridge_buffer_copy_v1::Filter::Nearest),
        Some(Filter::Linear) => copy.set_filter(dmabridge_buffer_copy_v1::Filter::Linear),
        None => {}
    }
    copy
}

/// Waits for the answer to copy `id`.
fn answer(queue: &mut EventQueue<App>, app: &mut App, id: u64) -> anyhow::Result<Answer> {
    loop {
        if let Some(at) = app.copies.iter().position(|(i, _)| *i == id) {
            return Ok(app.copies.remove(at).1);
        }
        queue.blocking_dispatch(app)?;
    }
}

/// The copies asked for so far and those that did not match.
#[derive(Debug, Default)]
struct Tally {
    copies: u64,
    mismatched: u64,
}

impl Tally {
    /// Copies `src` into `dst` as `case` says and checks the result: the
    /// destination's bytes are rewritten from `dst_planes` first, and
    /// compared with the reference's copy of `src_planes` into them.
    fn check(
        &mut self,
        session: (
            &DmabridgeBufferCopyManagerV1,
            &mut EventQueue<App>,
            &mut App,
        ),
        (src, src_planes): (&Image, &[Vec<u8>]),
        (dst, dst_planes): (&mut Image, &[Vec<u8>]),
        case: &Case,
    ) -> anyhow::Result<()> {
        let (manager, queue, app) = session;
        dst.write(dst_planes)?;
        self.copies += 1;
        let copy = describe(manager, &queue.handle(), (src, dst), case, self.copies);
        copy.submit();
        let answer = answer(queue, app, self.copies)?;
        copy.destroy();
        let name = case.name(src, dst);
        let verdict = match answer {
            Answer::Done => compare((src, src_planes), (dst, dst_planes), case)?,
            Answer::Failed(reason) => Some(format!("failed {reason}")),
        };
        match verdict {
            None => say(format_args!("copy {name} ok")),
            Some(why) => {
                say(format_args!("mismatch {name}: {why}"));
                self.mismatched += 1;
            }
        }
        Ok(())
    }

    /// Checks each of `cases` from `src` into a `wl_shm` destination of
    /// each packed format holding noise.
    fn check_each_destination(
        &mut self,
        (manager, queue, app): (
            &DmabridgeBufferCopyManagerV1,
            &mut EventQueue<App>,
            &mut App,
        ),
        shm: &WlShm,
        src: (&Image, &[Vec<u8>]),
        cases: &[Case],
    ) -> anyhow::Result<()> {
        let qh = queue.handle();
        let dst_bytes = vec![reference::noise(2, (DST.0 * DST.1 * 4) as usize)];
        for dst_format in FORMATS {
            let mut dst = Image::shm(shm, &qh, dst_format, DST, &dst_bytes[0])?;
            for case in cases {
                let session = (manager, &mut *queue, &mut *app);
                self.check(session, src, (&mut dst, &dst_bytes), case)?;
            }
            dst.buffer.destroy();
        }
        Ok(())
    }

    /// Prints the tally; an error when a copy mismatched.
    fn finish(&self) -> anyhow::Result<()> {
        let Self { copies, mismatched } = self;
        say(format_args!("copies {copies} mismatched {mismatched}"));
        if *mismatched > 0 {
            bail!("{mismatched} of {copies} copies differ from the reference");
        }
        Ok(())
    }
}

/// `--copy`: every format pair, transform and filter, checked.
pub(crate) fn run(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    check_shm_copies(globals, shm, (queue, app), (1, &FORMATS), &cases())
}

/// `--copy-fractional`: a source rectangle off whole pixels, from an
/// ARGB8888 `wl_shm` buffer into each packed format, checked.
pub(crate) fn run_fractional(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    let fractional = fractional_cases();
    check_shm_copies(globals, shm, (queue, app), (2, &FORMATS[..1]), &fractional)
}

/// Each of `cases` from a `wl_shm` source of noise in each of
/// `src_formats` into each packed format, through a manager of at least
/// `version`, checked against the reference.
fn check_shm_copies(
    globals: &GlobalList,
    shm: &WlShm,
    (queue, app): (&mut EventQueue<App>, &mut App),
    (version, src_formats): (u32, &[(DrmFourcc, wl_shm::Format)]),
    cases: &[Case],
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh, version)?;
    let src_bytes = vec![reference::noise(1, (SRC.0 * SRC.1 * 4) as usize)];
    let mut tally = Tally::default();
    for &src_format in src_formats {
        let src = Image::shm(shm, &qh, src_format, SRC, &src_bytes[0])?;
        let session = (&manager, &mut *queue, &mut *app);
        tally.check_each_destination(session, shm, (&src, &src_bytes), cases)?;
        src.buffer.destroy();
    }
    tally.finish()
}

/// Where `--copy-nv12`'s source lies in its pool: an offset, and a stride
/// wider than its width, so that a reader that ignores either shows.
const NV12_LAYOUT: (usize, usize) = (64, 48);

/// `--copy-nv12`: an NV12 `wl_shm` source into each packed format, under
/// each transform, exact and scaled, checked.
pub(crate) fn run_nv12(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh, 1)?;
    let mut src = Image::shm_nv12(shm, &qh, SRC, NV12_LAYOUT, 8)?;
    let src_planes = src.read()?;
    let mut tally = Tally::default();
    let session = (&manager, &mut *queue, &mut *app);
    tally.check_each_destination(session, shm, (&src, &src_planes), &cases())?;
    src.buffer.destroy();
    tally.finish()
}

/// What differs between the destination's bytes and the reference's copy
/// of `case` into `dst_before`, if anything.
fn compare(
    (src, src_planes): (&Image, &[Vec<u8>]),
    (dst, dst_before): (&mut Image, &[Vec<u8>]),
    case: &Case,
) -> anyhow::Result<Option<String>> {
    let plan = case.plan()?;
    let size = Size::new(src.size.0, src.size.1);
    let strides = src.strides();
    let view = match src.fourcc {
        DrmFourcc::Nv12 => {
            ImageView::nv12(size, &src_planes[0], strides[0], &src_planes[1], strides[1])?
        }
        fourcc => ImageView::packed(fourcc, size, &src_planes[0], strides[0])?,
    };
    let stride = dst.strides()[0];
    let mut want = dst_before[0].clone();
    let mut out = ImageViewMut::packed(
        dst.fourcc,
        Size::new(dst.size.0, dst.size.1),
        &mut want,
        stride,
    )?;
    reference::copy(&plan, &view, &mut out)?;
    let got = dst.read()?.swap_remove(0);
    // Bilinear filtering and NV12's conversion are computed in f32 on the
    // device and in f64 by the reference.
    let tolerance = match plan.filter() {
        _ if src.fourcc == DrmFourcc::Nv12 => 1,
        Filter::Linear if plan.needs_scaling() => 1,
        _ => 0,
    };
    let row = dst.size.0 as usize * 4;
    let differs = got.iter().zip(&want).enumerate().position(|(at, (g, w))| {
        // Bytes between rows are no pixel's.
        at % stride < row && g.abs_diff(*w) > tolerance
    });
    Ok(differs.map(|at| {
        format!(
            "pixel ({}, {}) byte {}: got {} want {}",
            at % stride / 4,
            at / stride,
            at % 4,
            got[at],
            want[at]
        )
    }))
}

/// `--copy-bench WxH`: [`BENCH_ROUNDS`] copies of a `WxH` ARGB8888
/// `wl_shm` buffer into an XRGB8888 one, turned by 90°, through the
/// protocol (submit to `done`, timed in the client) and by a plain loop on
/// the client's CPU; prints `protocol WxH median MS min MS` and `cpu …`,
/// and fails if the two results differ.
pub(crate) fn bench(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
    (w, h): (u32, u32),
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh, 1)?;
    let (w, h) = (w as usize, h as usize);
    let bytes = reference::noise(7, w * h * 4);
    let src = Image::shm(shm, &qh, FORMATS[0], (w as i32, h as i32), &bytes)?;
    let blank = vec![0u8; w * h * 4];
    let mut dst = Image::shm(shm, &qh, FORMATS[1], (h as i32, w as i32), &blank)?;
    let mut protocol = Vec::new();
    for round in 0..BENCH_ROUNDS {
        let copy = manager.copy(&src.buffer, &dst.buffer, &qh, round);
        copy.set_transform(wl_output::Transform::_90);
        let start = Instant::now();
        copy.submit();
        if answer(queue, app, round)? != Answer::Done {
            bail!("copy {round} failed");
        }
        protocol.push(start.elapsed());
        copy.destroy();
    }
    let mut cpu = Vec::new();
    let mut turned = vec![0u32; w * h];
    let pixels: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
        .collect();
    for _ in 0..BENCH_ROUNDS {
        let start = Instant::now();
        // Turned 90° counter-clockwise: destination (x, y) shows source
        // (w - 1 - y, x); XRGB8888's padding byte written as 0xff.
        for (y, row) in turned.chunks_exact_mut(h).enumerate() {
            for (x, out) in row.iter_mut().enumerate() {
                *out = pixels[x * w + (w - 1 - y)] | 0xff00_0000;
            }
        }
        cpu.push(start.elapsed());
    }
    let got = dst.read()?.swap_remove(0);
    let want: Vec<u8> = turned.iter().flat_map(|p| p.to_le_bytes()).collect();
    if got != want {
        bail!("the protocol's copy and the CPU's differ");
    }
    for (name, mut times) in [("protocol", protocol), ("cpu", cpu)] {
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        say(format_args!(
            "{name} {w}x{h} median {:.2} ms min {:.2} ms",
            ms(times[times.len() / 2]),
            ms(times[0])
        ));
    }
    Ok(())
}

/// The copies `--copy-bench` times, each way.
const BENCH_ROUNDS: u64 = 15;

/// `--copy-flood SECS`: [`FLOOD_DEPTH`] scaled, turned, linear copies of a
/// 1024×1024 buffer kept queued for `secs` seconds.
pub(crate) fn flood(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
    secs: u64,
) -> anyhow::Result<()> {
    const SIDE: i32 = 1024;
    let qh = queue.handle();
    let manager = manager(globals, &qh, 1)?;
    let bytes = reference::noise(3, (SIDE * SIDE * 4) as usize);
    let src = Image::shm(shm, &qh, FORMATS[0], (SIDE, SIDE), &bytes)?;
    let dsts = (0..FLOOD_DEPTH)
        .map(|_| Image::shm(shm, &qh, FORMATS[1], (SIDE, SIDE), &bytes))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let submit_one = |slot: usize, id: u64| {
        let copy = manager.copy(&src.buffer, &dsts[slot].buffer, &qh, id);
        copy.set_source(0.0, 0.0, 700.0, 900.0);
        copy.set_transform(wl_output::Transform::_90);
        copy.set_filter(dmabridge_buffer_copy_v1::Filter::Linear);
        copy.submit();
        copy
    };
    // Each copy in flight: its id, its destination, its object.
    let mut in_flight: Vec<(u64, usize, DmabridgeBufferCopyV1)> = (0..FLOOD_DEPTH)
        .map(|slot| (slot as u64, slot, submit_one(slot, slot as u64)))
        .collect();
    say(format_args!("flooding"));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut next = FLOOD_DEPTH as u64;
    let mut done = 0u64;
    while !in_flight.is_empty() {
        queue.blocking_dispatch(app)?;
        for (id, answer) in std::mem::take(&mut app.copies) {
            if answer != Answer::Done {
                bail!("flood copy {id}: {answer:?}");
            }
            done += 1;
            let at = in_flight
                .iter()
                .position(|(i, _, _)| *i == id)
                .context("an answer to no copy")?;
            let (_, slot, copy) = in_flight.swap_remove(at);
            copy.destroy();
            if Instant::now() < deadline {
                in_flight.push((next, slot, submit_one(slot, next)));
                next += 1;
            }
        }
    }
    say(format_args!("flooded {done}"));
    Ok(())
}
