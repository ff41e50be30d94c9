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
//! `--copy-flood SECS` instead keeps [`FLOOD_DEPTH`] large scaled copies
//! queued for SECS seconds and prints `flooded N`: a compositor that does
//! the copies off its loop keeps every other client's frames coming.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
use dmabridge::copy::{CopyPlan, CopyRequest, Filter, Point, Rect, Size, Transform};
use dmabridge::protocols::buffer_copy::client::{
    dmabridge_buffer_copy_manager_v1::DmabridgeBufferCopyManagerV1,
    dmabridge_buffer_copy_v1::{self, DmabridgeBufferCopyV1},
};
use drm_fourcc::DrmFourcc;
use wayland_client::globals::GlobalList;
use wayland_client::protocol::wl_output;
use wayland_client::protocol::wl_shm::{self, WlShm};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum, delegate_noop};

use crate::app::App;
use crate::say;
use crate::shm::shm_image;

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
            // The fence is closed unused: done follows it.
            Event::Release { .. } => {}
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
/// The destination buffer's size, where an exact copy lands and the
/// rectangle a scaled copy fills.
const DST: (i32, i32) = (50, 44);
const DST_AT: (i32, i32) = (5, 7);
const DST_SCALED: (i32, i32, i32, i32) = (1, 2, 37, 29);

/// A `wl_shm` buffer the client keeps the memfd of.
struct ShmImage {
    fd: OwnedFd,
    buffer: wayland_client::protocol::wl_buffer::WlBuffer,
    fourcc: DrmFourcc,
    size: (i32, i32),
}

impl ShmImage {
    fn new(
        shm: &WlShm,
        qh: &QueueHandle<App>,
        (fourcc, format): (DrmFourcc, wl_shm::Format),
        size: (i32, i32),
        bytes: &[u8],
    ) -> anyhow::Result<Self> {
        let (w, h) = (size.0 as u32, size.1 as u32);
        let (fd, buffer) = shm_image(shm, qh, (w, h, w * 4), format, bytes)?;
        Ok(Self {
            fd,
            buffer,
            fourcc,
            size,
        })
    }

    fn stride(&self) -> usize {
        self.size.0 as usize * 4
    }

    fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        if rustix::io::pwrite(&self.fd, bytes, 0)? != bytes.len() {
            bail!("short write to the shm pool");
        }
        Ok(())
    }

    fn read(&self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = vec![0; self.stride() * self.size.1 as usize];
        if rustix::io::pread(&self.fd, &mut bytes, 0)? != bytes.len() {
            bail!("short read from the shm pool");
        }
        Ok(bytes)
    }
}

/// Deterministic noise (xorshift32).
fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[1]
        })
        .collect()
}

fn rect<S>((x, y, w, h): (i32, i32, i32, i32)) -> Rect<i32, S> {
    Rect::new(Point::new(x, y), Size::new(w, h))
}

/// One copy as the protocol is asked for it.
struct Case {
    transform: Transform,
    filter: Option<Filter>,
    dst_rect: (i32, i32, i32, i32),
}

impl Case {
    fn plan(&self) -> anyhow::Result<CopyPlan> {
        Ok(CopyPlan::new(CopyRequest {
            src_size: Size::new(SRC.0, SRC.1),
            dst_size: Size::new(DST.0, DST.1),
            src_rect: rect(SRC_RECT),
            dst_rect: rect(self.dst_rect),
            transform: self.transform,
            filter: self.filter,
        })?)
    }
}

/// The cases for each format pair: exact, then scaled nearest and linear,
/// under each transform.
fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for transform in Transform::ALL {
        let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(
            SRC_RECT.2, SRC_RECT.3,
        ));
        cases.push(Case {
            transform,
            filter: None,
            dst_rect: (DST_AT.0, DST_AT.1, seen.w, seen.h),
        });
        for filter in [Filter::Nearest, Filter::Linear] {
            cases.push(Case {
                transform,
                filter: Some(filter),
                dst_rect: DST_SCALED,
            });
        }
    }
    cases
}

/// Binds the manager, or says why not.
fn manager(
    globals: &GlobalList,
    qh: &QueueHandle<App>,
) -> anyhow::Result<DmabridgeBufferCopyManagerV1> {
    globals
        .bind(qh, 1..=1, ())
        .context("the compositor has no dmabridge_buffer_copy_manager_v1")
}

/// Asks for the copy `case` describes from `src` to `dst` on a new copy
/// object named `id`.
fn submit(
    manager: &DmabridgeBufferCopyManagerV1,
    qh: &QueueHandle<App>,
    (src, dst): (&ShmImage, &ShmImage),
    case: &Case,
    id: u64,
) -> DmabridgeBufferCopyV1 {
    let copy = manager.copy(&src.buffer, &dst.buffer, qh, id);
    let (x, y, w, h) = SRC_RECT;
    copy.set_source(f64::from(x), f64::from(y), f64::from(w), f64::from(h));
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
    copy.submit();
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

/// `--copy`: every format pair, transform and filter, checked.
pub(crate) fn run(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh)?;
    let src_bytes = noise(1, (SRC.0 * SRC.1 * 4) as usize);
    let dst_bytes = noise(2, (DST.0 * DST.1 * 4) as usize);
    let (mut copies, mut mismatched) = (0u64, 0u64);
    for src_format in FORMATS {
        let src = ShmImage::new(shm, &qh, src_format, SRC, &src_bytes)?;
        for dst_format in FORMATS {
            let dst = ShmImage::new(shm, &qh, dst_format, DST, &dst_bytes)?;
            for case in cases() {
                dst.write(&dst_bytes)?;
                copies += 1;
                let copy = submit(&manager, &qh, (&src, &dst), &case, copies);
                let answer = answer(queue, app, copies)?;
                copy.destroy();
                let name = format!(
                    "{} {} {:?} {:?}",
                    src.fourcc, dst.fourcc, case.transform, case.filter
                );
                if answer != Answer::Done {
                    say(format_args!("mismatch {name}: {answer:?}"));
                    mismatched += 1;
                    continue;
                }
                match compare(&src, &src_bytes, &dst, &dst_bytes, &case)? {
                    None => say(format_args!("copy {name} ok")),
                    Some(why) => {
                        say(format_args!("mismatch {name}: {why}"));
                        mismatched += 1;
                    }
                }
            }
            dst.buffer.destroy();
        }
        src.buffer.destroy();
    }
    say(format_args!("copies {copies} mismatched {mismatched}"));
    if mismatched > 0 {
        bail!("{mismatched} of {copies} copies differ from the reference");
    }
    Ok(())
}

/// What differs between the destination's bytes and the reference's copy
/// of `case` into `dst_before`, if anything.
fn compare(
    src: &ShmImage,
    src_bytes: &[u8],
    dst: &ShmImage,
    dst_before: &[u8],
    case: &Case,
) -> anyhow::Result<Option<String>> {
    let plan = case.plan()?;
    let view = ImageView::packed(
        src.fourcc,
        Size::new(src.size.0, src.size.1),
        src_bytes,
        src.stride(),
    )?;
    let mut want = dst_before.to_vec();
    let mut out = ImageViewMut::packed(
        dst.fourcc,
        Size::new(dst.size.0, dst.size.1),
        &mut want,
        dst.stride(),
    )?;
    reference::copy(&plan, &view, &mut out)?;
    let got = dst.read()?;
    let tolerance = match plan.filter() {
        Filter::Linear if plan.needs_scaling() => 1,
        _ => 0,
    };
    let differs = got
        .iter()
        .zip(&want)
        .position(|(g, w)| g.abs_diff(*w) > tolerance);
    Ok(differs.map(|at| {
        let (pixel, stride) = (at / 4, dst.size.0 as usize);
        format!(
            "pixel ({}, {}) byte {}: got {} want {}",
            pixel % stride,
            pixel / stride,
            at % 4,
            got[at],
            want[at]
        )
    }))
}

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
    let manager = manager(globals, &qh)?;
    let bytes = noise(3, (SIDE * SIDE * 4) as usize);
    let src = ShmImage::new(shm, &qh, FORMATS[0], (SIDE, SIDE), &bytes)?;
    let dsts = (0..FLOOD_DEPTH)
        .map(|_| ShmImage::new(shm, &qh, FORMATS[1], (SIDE, SIDE), &bytes))
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
