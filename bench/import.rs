//! Importing a client's dma-buf that the copier has not seen, against
//! using one it imported before.
//!
//! Each iteration of `new` validates nothing and allocates nothing inside
//! the timed part: a fresh 1920×1080 XRGB8888 udmabuf is allocated and
//! validated first, then [`Copier::import`] imports it (dup'd fds, the
//! Vulkan objects, the device mapping) and the time of that call alone is
//! counted; the copier then lets it go. `cached` imports one buffer once
//! and times [`Copier::import`] on it again: a cache lookup. Both run for
//! the buffer path (the default for LINEAR) and the image path. At the end
//! the Vulkan objects each re-import created are printed, and must be 0.
//!
//! It needs `/dev/udmabuf`, so it runs inside the test guest: the binary
//! is called `kernel_import`, which `tools/cargo-runner` sends there.
//! `cargo bench --bench kernel_import`; warm-up and measurement are short
//! so that it finishes in an emulated guest. See docs/PERFORMANCE.md.

use std::hint::black_box;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use dmabridge::alloc::{DmabufAllocator, Udmabuf};
use dmabridge::copy::Copier;
use dmabridge::dmabuf::SharedDmabuf;
use dmabridge::vulkan::{Device, ImportPath, Instance};
use drm_fourcc::DrmFourcc;

const SIZE: (u32, u32) = (1920, 1080);

fn buffer(udmabuf: &Udmabuf) -> SharedDmabuf {
    let dmabuf = udmabuf
        .allocate(DrmFourcc::Xrgb8888, SIZE.0, SIZE.1)
        .expect("allocating a udmabuf");
    Arc::new(Mutex::new(dmabuf))
}

fn bench(c: &mut Criterion) {
    let udmabuf = Udmabuf::open().expect("/dev/udmabuf (run inside the test guest)");
    let instance = Arc::new(Instance::new().expect("creating the Vulkan instance"));
    let device = Arc::new(Device::new(instance, None).expect("creating the device"));
    let mut reimports = Vec::new();
    for (name, path) in [("buffer", ImportPath::Buffer), ("image", ImportPath::Image)] {
        let mut copier = Copier::new(Arc::clone(&device)).expect("creating the copier");
        copier.set_linear_source_import(path);
        let mut group = c.benchmark_group(format!("import-{name}"));
        group.bench_function("new", |b| {
            b.iter_custom(|iters| {
                let mut time = Duration::ZERO;
                for _ in 0..iters {
                    let dmabuf = buffer(&udmabuf);
                    let start = Instant::now();
                    copier.import(black_box(&dmabuf)).expect("importing");
                    time += start.elapsed();
                    drop(dmabuf);
                    copier.collect().expect("releasing the import");
                }
                time
            });
        });
        let dmabuf = buffer(&udmabuf);
        copier.import(&dmabuf).expect("importing");
        let before = copier.import_objects_created();
        group.bench_function("cached", |b| {
            b.iter(|| copier.import(black_box(&dmabuf)).expect("importing again"));
        });
        group.finish();
        reimports.push((name, copier.import_objects_created() - before));
    }
    let mut out = std::io::stdout().lock();
    for (name, created) in reimports {
        writeln!(
            out,
            "{name} path: Vulkan objects created by re-imports: {created}"
        )
        .expect("writing to stdout");
        assert_eq!(created, 0, "a re-import created Vulkan objects");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    targets = bench
}
criterion_main!(benches);
