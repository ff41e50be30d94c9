//! The GPU copy against `memcpy` of the same bytes, in one run.
//!
//! Images at 1920×1080 and 3840×2160, copied whole between device buffers
//! by [`Copier`] and, as the yardstick, `copy_from_slice` between two host
//! buffers of the same size. The copies: ARGB8888 unchanged (`identity`)
//! and XRGB8888 unchanged (`identity-x`), both plain copies (buffer
//! transfers; an X format keeps its padding); in the shader, XRGB8888
//! under each of the seven other transforms (`rot90` … `flip270`) and
//! ARGB8888 into ABGR8888 unchanged (`swizzle`). One GPU
//! iteration is a whole job as a compositor sees it: checking, recording,
//! submitting and waiting for the fence. At the end a table gives each
//! copy's mean time, its time over `memcpy`'s of that size, and its
//! throughput relative to `memcpy`'s (the inverse); then the same from the
//! process's CPU time (all its threads, lavapipe's included), which other
//! load on the machine disturbs far less than wall time.
//!
//! Then draw batches at 1920×1080, as a compositor's frame over its damage:
//! one texture drawn over many clips in one batch against the same texture
//! over one clip of as many pixels, replacing the target (XRGB8888) and
//! blending over it (ARGB8888): the frame split into 64 tiles against the
//! whole frame, and 256 scattered 32 × 16 rectangles off the grid of
//! blocks against one 256 × 512 rectangle. The last table gives each
//! batch's time over its baseline's.
//!
//! `cargo bench --bench copy`; release builds run without the validation
//! layer. See docs/PERFORMANCE.md for the measured table.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dmabridge::copy::{
    Blend, Copier, CopyJob, CopyPlan, CopyRequest, Dest, Draw, DrawPlan, DrawRequest, DrawSource,
    Filter, ImageDesc, PlaneDesc, Point, Rect, Size, Surface, Transform,
};
use dmabridge::vulkan::{Device, Instance};
use drm_fourcc::DrmFourcc;

const SIZES: [(u32, u32); 2] = [(1920, 1080), (3840, 2160)];

/// Each copy: its name, source and destination formats, and transform.
const COPIES: [(&str, DrmFourcc, DrmFourcc, Transform); 10] = {
    use DrmFourcc::{Abgr8888 as Abgr, Argb8888 as Argb, Xrgb8888 as Xrgb};
    [
        ("identity", Argb, Argb, Transform::Normal),
        ("identity-x", Xrgb, Xrgb, Transform::Normal),
        ("swizzle", Argb, Abgr, Transform::Normal),
        ("rot90", Xrgb, Xrgb, Transform::_90),
        ("rot180", Xrgb, Xrgb, Transform::_180),
        ("rot270", Xrgb, Xrgb, Transform::_270),
        ("flip", Xrgb, Xrgb, Transform::Flipped),
        ("flip90", Xrgb, Xrgb, Transform::Flipped90),
        ("flip180", Xrgb, Xrgb, Transform::Flipped180),
        ("flip270", Xrgb, Xrgb, Transform::Flipped270),
    ]
};

/// A draw batch: its name, its clips in a 1920×1080 target, and the batch
/// it is measured against.
type Batch = (&'static str, Vec<Rect<i32, Dest>>, &'static str);

/// The draw batches.
fn batches() -> [Batch; 4] {
    let rect = |x, y, w, h| Rect::new(Point::new(x, y), Size::new(w, h));
    [
        ("whole", vec![rect(0, 0, 1920, 1080)], "whole"),
        (
            "tiles-64",
            (0..64)
                .map(|i| rect((i % 8) * 240, (i / 8) * 135, 240, 135))
                .collect(),
            "whole",
        ),
        ("one-256x512", vec![rect(3, 5, 256, 512)], "one-256x512"),
        (
            "scattered-256",
            (0..256)
                .map(|i| rect((i % 16) * 120 + 3, (i / 16) * 67 + 5, 32, 16))
                .collect(),
            "one-256x512",
        ),
    ]
}

/// Wall time, CPU time and iterations of one benchmark.
#[derive(Default, Clone, Copy)]
struct Total {
    wall: Duration,
    cpu: Duration,
    iters: u64,
}

/// The totals of each benchmark, for the ratio tables.
#[derive(Default)]
struct Totals(BTreeMap<(u32, String), Total>);

impl Totals {
    /// Runs `iters` iterations of `f`, adds their times to the benchmark's
    /// and returns their wall time.
    fn time(&mut self, width: u32, name: &str, iters: u64, mut f: impl FnMut()) -> Duration {
        let (start, cpu_start) = (Instant::now(), process_cpu_time());
        for _ in 0..iters {
            f();
        }
        let (wall, cpu) = (start.elapsed(), process_cpu_time() - cpu_start);
        let entry = self.0.entry((width, name.to_owned())).or_default();
        entry.wall += wall;
        entry.cpu += cpu;
        entry.iters += iters;
        wall
    }

    /// The mean wall and CPU time of a benchmark, if it ran (a filter on
    /// the command line may have left it out).
    fn mean(&self, width: u32, name: &str) -> Option<(Duration, Duration)> {
        let total = self.0.get(&(width, name.to_owned()))?;
        let iters = u32::try_from(total.iters.max(1)).unwrap_or(u32::MAX);
        Some((total.wall / iters, total.cpu / iters))
    }
}

/// CPU time of the whole process so far: every thread's, lavapipe's too.
fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn packed(format: DrmFourcc, width: u32, height: u32) -> ImageDesc {
    ImageDesc {
        format,
        width,
        height,
        planes: vec![PlaneDesc {
            offset: 0,
            stride: width * 4,
        }],
    }
}

fn bench(c: &mut Criterion) {
    let instance = Arc::new(Instance::new().expect("creating the Vulkan instance"));
    let device = Arc::new(Device::new(instance, None).expect("creating the device"));
    let mut copier = Copier::new(device).expect("creating the copier");
    let mut totals = Totals::default();

    for (w, h) in SIZES {
        let len = (w * h * 4) as usize;
        let pattern: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let src = copier.create_buffer(len as u64).expect("a buffer");
        let dst = copier.create_buffer(len as u64).expect("a buffer");
        copier
            .upload(&src, &pattern)
            .expect("uploading")
            .wait()
            .expect("waiting");
        let mut host_dst = vec![0u8; len];

        let mut group = c.benchmark_group(format!("copy-{w}x{h}"));
        group.throughput(Throughput::Bytes(len as u64));
        group.sample_size(20);
        group.bench_function("memcpy", |b| {
            b.iter_custom(|iters| {
                totals.time(w, "memcpy", iters, || {
                    host_dst.copy_from_slice(black_box(&pattern));
                    black_box(&mut host_dst);
                })
            });
        });
        for (name, src_format, dst_format, transform) in COPIES {
            let seen = transform.transformed_size(Size::new(w as i32, h as i32));
            let src_desc = packed(src_format, w, h);
            let dst_desc = packed(dst_format, seen.w as u32, seen.h as u32);
            let plan = CopyPlan::new(CopyRequest {
                src_size: Size::new(w as i32, h as i32),
                dst_size: Size::new(seen.w, seen.h),
                src_rect: Rect::new(Point::new(0, 0), Size::new(w as i32, h as i32)),
                dst_rect: Rect::new(Point::new(0, 0), seen),
                transform,
                filter: None,
            })
            .expect("a valid request");
            let job = CopyJob::new(
                &plan,
                Surface::Buffer {
                    buffer: &src,
                    desc: &src_desc,
                },
                Surface::Buffer {
                    buffer: &dst,
                    desc: &dst_desc,
                },
            );
            // Once untimed: lavapipe compiles the shader on its first use.
            copier
                .submit(&job)
                .expect("submitting")
                .wait()
                .expect("waiting");
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    totals.time(w, name, iters, || {
                        copier
                            .submit(&job)
                            .expect("submitting")
                            .wait()
                            .expect("waiting");
                    })
                });
            });
        }
        group.finish();
    }

    draws(c, &mut copier, &mut totals);

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n{:<11} {:<10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "size", "copy", "mean", "memcpy", "time", "throughput", "cpu", "memcpy", "cpu thr."
    )
    .expect("writing to stdout");
    for (w, h) in SIZES {
        let Some((memcpy, memcpy_cpu)) = totals.mean(w, "memcpy") else {
            continue;
        };
        for (name, ..) in COPIES {
            let Some((mean, cpu)) = totals.mean(w, name) else {
                continue;
            };
            writeln!(
                out,
                "{:<11} {:<10} {:>10.2?} {:>10.2?} {:>7.2}× {:>9.3}× {:>10.2?} {:>10.2?} {:>9.3}×",
                format!("{w}x{h}"),
                name,
                mean,
                memcpy,
                mean.as_secs_f64() / memcpy.as_secs_f64(),
                memcpy.as_secs_f64() / mean.as_secs_f64(),
                cpu,
                memcpy_cpu,
                memcpy_cpu.as_secs_f64() / cpu.as_secs_f64(),
            )
            .expect("writing to stdout");
        }
    }
    writeln!(
        out,
        "\n{:<22} {:>10} {:>10} {:>10} {:>8}",
        "draws 1920x1080", "mean", "baseline", "cpu", "time"
    )
    .expect("writing to stdout");
    for blend in ["replace", "over"] {
        for (batch, _, baseline) in batches() {
            let name = format!("{blend}-{batch}");
            let (Some((mean, cpu)), Some((base, _))) = (
                totals.mean(1920, &name),
                totals.mean(1920, &format!("{blend}-{baseline}")),
            ) else {
                continue;
            };
            writeln!(
                out,
                "{:<22} {:>10.2?} {:>10.2?} {:>10.2?} {:>7.2}×",
                name,
                mean,
                base,
                cpu,
                mean.as_secs_f64() / base.as_secs_f64(),
            )
            .expect("writing to stdout");
        }
    }
}

/// The draw batches ([`batches`]), replacing and blending, timed whole:
/// checking, recording, submitting, waiting.
fn draws(c: &mut Criterion, copier: &mut Copier, totals: &mut Totals) {
    let (w, h) = (1920, 1080);
    let len = (w * h * 4) as u64;
    let texture = copier.create_buffer(len).expect("a buffer");
    let target = copier.create_buffer(len).expect("a buffer");
    let pattern: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    for buffer in [&texture, &target] {
        copier
            .upload(buffer, &pattern)
            .expect("uploading")
            .wait()
            .expect("waiting");
    }
    let mut group = c.benchmark_group(format!("draws-{w}x{h}"));
    group.sample_size(20);
    for (blend, format) in [
        (Blend::Replace, DrmFourcc::Xrgb8888),
        (Blend::Over, DrmFourcc::Argb8888),
    ] {
        let texture_desc = packed(format, w, h);
        let target_desc = packed(DrmFourcc::Xrgb8888, w, h);
        for (batch, clips, _) in batches() {
            let plans: Vec<DrawPlan> = clips
                .iter()
                .map(|&clip| draw_plan((w as i32, h as i32), clip, blend))
                .collect();
            let source = Surface::Buffer {
                buffer: &texture,
                desc: &texture_desc,
            };
            let draws: Vec<Draw<'_>> = plans
                .iter()
                .map(|plan| Draw::new(plan, Some(source)))
                .collect();
            let target = Surface::Buffer {
                buffer: &target,
                desc: &target_desc,
            };
            let mut submit = || {
                let batch = copier
                    .submit_draws(target, &draws, Vec::new())
                    .expect("submitting");
                batch.completion.wait().expect("waiting");
            };
            // Once untimed, for the pipelines' first use.
            submit();
            let name = format!("{blend:?}-{batch}").to_lowercase();
            group.bench_function(&name, |b| {
                b.iter_custom(|iters| totals.time(w, &name, iters, &mut submit));
            });
        }
    }
    group.finish();
}

/// An upright, unscaled draw of a whole `size` texture over a target of the
/// same size, clipped to `clip`, at alpha 1.
fn draw_plan(size: (i32, i32), clip: Rect<i32, Dest>, blend: Blend) -> DrawPlan {
    let whole = Size::new(size.0, size.1);
    DrawPlan::new(DrawRequest {
        dst_size: whole,
        dst_rect: Rect::new(Point::new(0, 0), whole),
        clip,
        source: DrawSource::Texture {
            size: Size::new(size.0, size.1),
            rect: Rect::new(
                Point::new(0.0, 0.0),
                Size::new(size.0 as f64, size.1 as f64),
            ),
            transform: Transform::Normal,
            filter: Filter::Nearest,
        },
        blend,
        alpha: 1.0,
    })
    .expect("a valid draw")
}

criterion_group!(benches, bench);
criterion_main!(benches);
