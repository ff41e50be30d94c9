//! The GPU copy against `memcpy` of the same bytes, in one run.
//!
//! Images at 1920×1080 and 3840×2160, copied whole between device buffers
//! by [`Copier`] and, as the yardstick, `copy_from_slice` between two host
//! buffers of the same size. The copies: ARGB8888 unchanged (`identity`)
//! and XRGB8888 unchanged (`identity-x`), both plain copies (buffer
//! transfers; an X format keeps its padding), and XRGB8888 mirrored
//! (`flip`) and turned a quarter (`rot90`), in the shader. One GPU
//! iteration is a whole job as a compositor sees it: checking, recording,
//! submitting and waiting for the fence. At the end a table gives each
//! copy's mean time, its time over `memcpy`'s of that size, and its
//! throughput relative to `memcpy`'s (the inverse).
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
    Copier, CopyJob, CopyPlan, CopyRequest, ImageDesc, PlaneDesc, Point, Rect, Size, Surface,
    Transform,
};
use dmabridge::vulkan::{Device, Instance};
use drm_fourcc::DrmFourcc;

const SIZES: [(u32, u32); 2] = [(1920, 1080), (3840, 2160)];

const COPIES: [(&str, DrmFourcc, Transform); 4] = [
    ("identity", DrmFourcc::Argb8888, Transform::Normal),
    ("identity-x", DrmFourcc::Xrgb8888, Transform::Normal),
    ("flip", DrmFourcc::Xrgb8888, Transform::Flipped),
    ("rot90", DrmFourcc::Xrgb8888, Transform::_90),
];

/// Total time and iterations of each benchmark, for the ratio table.
#[derive(Default)]
struct Totals(BTreeMap<(u32, String), (Duration, u64)>);

impl Totals {
    fn add(&mut self, width: u32, name: &str, time: Duration, iters: u64) {
        let entry = self.0.entry((width, name.to_owned())).or_default();
        entry.0 += time;
        entry.1 += iters;
    }

    /// The mean time of a benchmark, if it ran (a filter on the command
    /// line may have left it out).
    fn mean(&self, width: u32, name: &str) -> Option<Duration> {
        let &(time, iters) = self.0.get(&(width, name.to_owned()))?;
        Some(time / u32::try_from(iters.max(1)).unwrap_or(u32::MAX))
    }
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
                let start = Instant::now();
                for _ in 0..iters {
                    host_dst.copy_from_slice(black_box(&pattern));
                    black_box(&mut host_dst);
                }
                let time = start.elapsed();
                totals.add(w, "memcpy", time, iters);
                time
            });
        });
        for (name, format, transform) in COPIES {
            let seen = transform.transformed_size(Size::new(w as i32, h as i32));
            let src_desc = packed(format, w, h);
            let dst_desc = packed(format, seen.w as u32, seen.h as u32);
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
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        copier
                            .submit(&job)
                            .expect("submitting")
                            .wait()
                            .expect("waiting");
                    }
                    let time = start.elapsed();
                    totals.add(w, name, time, iters);
                    time
                });
            });
        }
        group.finish();
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n{:<11} {:<10} {:>12} {:>12} {:>8} {:>10}",
        "size", "copy", "mean", "memcpy", "time", "throughput"
    )
    .expect("writing to stdout");
    for (w, h) in SIZES {
        let Some(memcpy) = totals.mean(w, "memcpy") else {
            continue;
        };
        for (name, _, _) in COPIES {
            let Some(mean) = totals.mean(w, name) else {
                continue;
            };
            writeln!(
                out,
                "{:<11} {:<10} {:>12.3?} {:>12.3?} {:>7.2}× {:>9.3}×",
                format!("{w}x{h}"),
                name,
                mean,
                memcpy,
                mean.as_secs_f64() / memcpy.as_secs_f64(),
                memcpy.as_secs_f64() / mean.as_secs_f64()
            )
            .expect("writing to stdout");
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
