//! The GPU copy between real dma-bufs (udmabuf), inside the test guest,
//! where lavapipe imports and exports SYNC_FD semaphore payloads.
//!
//! * A copy between udmabufs gives what `copy::reference` gives.
//! * A source with a pending write fence (vgem) is not read before the fence
//!   signals: the bytes its producer writes just before signalling are the
//!   ones the destination shows.
//! * Importing a buffer again creates no Vulkan object, and an import is
//!   released (the dma-buf unmapped) once its owner let go of it.
//! * A LINEAR source imported as an image with its modifier (explicit
//!   offsets and row pitches, disjoint planes bound one by one, NV12 with a
//!   YCbCr conversion) gives the same bytes as the buffer path; a plain
//!   copy of one into a device buffer moves the staged rows unchanged.
//! * An unsupported modifier, an undersized buffer and an out-of-bounds
//!   rectangle are each refused with their typed error before anything
//!   reaches the driver: no Vulkan object, no submission, no device mapping.
//! * After a job, the destination's exported READ fence does not signal
//!   before the job finished, also while the job waits for a pending source
//!   fence.
//! * The same through the buffer-copy protocol, between processes:
//!   `dmabridge-client --copy-dmabuf` against `dmabridge run` copies
//!   between udmabufs (and `wl_shm`, and from NV12 where the device offers
//!   it) as the reference does, a pending source fence and a pending
//!   acquire fence each hold the copy, and the release fence and the
//!   destination's implicit fence have signalled by `done`; the client
//!   checks each itself. With virtio-gpu's timeline syncobjs
//!   (`--copy-timeline`, version 2): an unsignalled acquire point holds the
//!   copy until the client signals it, the release point signals by `done`
//!   and by `failed` and not before, a release point not after the
//!   acquire point is `conflicting_points`, and an acquire point beside an
//!   acquire fence is `conflicting_acquire`.
//!
//! Every test ends by checking that the validation layer reported no error.

mod common;
#[path = "support/compositor.rs"]
mod compositor;
#[path = "support/vulkan.rs"]
mod fixture;
#[path = "support/copy.rs"]
mod support;

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dmabridge::alloc::{DmabufAllocator, FenceAccess, LinearLayout, PlaneSpan, Udmabuf, Vgem};
use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
use dmabridge::copy::{
    Copier, CopyError, CopyJob, CopyPlan, CopyRequest, Filter, ImageDesc, PlanError, PlaneDesc,
    Size, Surface, Transform,
};
use dmabridge::dmabuf::{
    Access, Dmabuf, DmabufFlags, DmabufParams, FormatInfo, OwnershipState, SharedDmabuf,
};
use dmabridge::sync::{SyncAccess, SyncFile, WaitOutcome};
use dmabridge::vulkan::{ImportPath, VulkanError};
use drm_fourcc::{DrmFourcc, DrmModifier};

/// The byte destination buffers are filled with before a copy.
const SENTINEL: u8 = 0xa5;

/// Runs `f` with a copier on lavapipe; the fixture checks that the
/// validation layer reported no error.
fn on_gpu(f: impl FnOnce(&mut Copier)) {
    fixture::on_device(|device| {
        let caps = device.capabilities();
        assert!(
            caps.semaphore_sync_fd.import && caps.semaphore_sync_fd.export,
            "lavapipe in the guest has SYNC_FD semaphores"
        );
        let mut copier = Copier::new(Arc::clone(device)).expect("creating the copier");
        f(&mut copier);
    });
}

fn shared(dmabuf: Dmabuf) -> SharedDmabuf {
    Arc::new(Mutex::new(dmabuf))
}

/// Fills each plane of `dmabuf` with `fill(plane index, length)`, through a
/// CPU-access bracket.
fn write(dmabuf: &SharedDmabuf, fill: impl Fn(usize, usize) -> Vec<u8>) {
    let mut dmabuf = dmabuf.lock().unwrap();
    let planes = dmabuf.planes().len();
    let mut access = dmabuf.begin_cpu_access(Access::Write).unwrap();
    for i in 0..planes {
        let bytes = access.plane_mut(i).unwrap();
        let len = bytes.len();
        bytes.copy_from_slice(&fill(i, len));
    }
}

/// Each plane's bytes (from its offset, `stride × rows`), read through a
/// CPU-access bracket.
fn read(dmabuf: &SharedDmabuf) -> Vec<Vec<u8>> {
    let mut dmabuf = dmabuf.lock().unwrap();
    let planes = dmabuf.planes().len();
    let access = dmabuf.begin_cpu_access(Access::Read).unwrap();
    (0..planes).map(|i| access.plane(i).to_vec()).collect()
}

fn strides(dmabuf: &SharedDmabuf) -> Vec<usize> {
    let dmabuf = dmabuf.lock().unwrap();
    dmabuf
        .planes()
        .iter()
        .map(|p| p.stride() as usize)
        .collect()
}

fn format(dmabuf: &SharedDmabuf) -> DrmFourcc {
    dmabuf.lock().unwrap().format()
}

/// Copies `src` onto `dst` as `request` says, waits, and checks every byte
/// of the destination's plane against the reference, within `tolerance`.
fn copy_and_compare(
    copier: &mut Copier,
    request: CopyRequest,
    src: &SharedDmabuf,
    dst: &SharedDmabuf,
    tolerance: u8,
) {
    let plan = CopyPlan::new(request).expect("a valid request");
    let src_bytes = read(src);
    let dst_bytes = read(dst);
    let job = CopyJob::new(&plan, Surface::Dmabuf(src), Surface::Dmabuf(dst));
    copier
        .submit(&job)
        .expect("submitting")
        .wait()
        .expect("waiting");

    let src_strides = strides(src);
    let view = if format(src) == DrmFourcc::Nv12 {
        ImageView::nv12(
            request.src_size,
            &src_bytes[0],
            src_strides[0],
            &src_bytes[1],
            src_strides[1],
        )
    } else {
        ImageView::packed(format(src), request.src_size, &src_bytes[0], src_strides[0])
    }
    .expect("source view");
    let mut want = dst_bytes[0].clone();
    let mut out = ImageViewMut::packed(format(dst), request.dst_size, &mut want, strides(dst)[0])
        .expect("destination view");
    reference::copy(&plan, &view, &mut out).expect("sizes match");
    let got = &read(dst)[0];
    let bad = (0..got.len())
        .filter(|&i| got[i].abs_diff(want[i]) > tolerance)
        .count();
    assert_eq!(
        bad, 0,
        "{bad} bytes differ from the reference by more than {tolerance}"
    );
}

#[test]
fn copies_between_udmabufs_match_the_reference() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap();
    let argb = shared(udmabuf.allocate(DrmFourcc::Argb8888, 67, 45).unwrap());
    let dst = shared(udmabuf.allocate(DrmFourcc::Xbgr8888, 80, 80).unwrap());
    // NV12 with its planes in two udmabufs: a disjoint buffer, imported as
    // two VkBuffers.
    let (w, h) = (67u32, 45u32);
    let chroma_stride = w.div_ceil(2) * 2;
    let mut params = DmabufParams::new();
    let luma = udmabuf.alloc(u64::from(w * h)).unwrap();
    let chroma = udmabuf
        .alloc(u64::from(chroma_stride * h.div_ceil(2)))
        .unwrap();
    let linear = DrmModifier::Linear.into();
    params.add(0, luma, 0, w, linear).unwrap();
    params.add(1, chroma, 0, chroma_stride, linear).unwrap();
    let nv12 = shared(
        params
            .create(67, 45, DrmFourcc::Nv12 as u32, DmabufFlags::empty())
            .unwrap(),
    );
    assert!(nv12.lock().unwrap().is_disjoint());
    write(&argb, |i, len| {
        dmabridge::copy::reference::noise(11 + i as u32, len)
    });
    write(&nv12, |i, len| {
        dmabridge::copy::reference::noise(23 + i as u32, len)
    });
    write(&dst, |_, len| vec![SENTINEL; len]);

    on_gpu(|copier| {
        // A quarter turn into the middle of the destination: exact.
        copy_and_compare(
            copier,
            CopyRequest {
                src_size: Size::new(67, 45),
                dst_size: Size::new(80, 80),
                src_rect: support::rect(0, 0, 67, 45),
                dst_rect: support::rect(5, 7, 45, 67),
                transform: Transform::_90,
                filter: None,
            },
            &argb,
            &dst,
            0,
        );
        // NV12, flipped and stretched bilinearly over part of what the
        // first copy wrote: ±1.
        copy_and_compare(
            copier,
            CopyRequest {
                src_size: Size::new(67, 45),
                dst_size: Size::new(80, 80),
                src_rect: support::rect(3, 2, 50, 40),
                dst_rect: support::rect(20, 1, 59, 71),
                transform: Transform::Flipped270,
                filter: Some(Filter::Linear),
            },
            &nv12,
            &dst,
            1,
        );
    });
}

/// A `w`×`h` ARGB8888 udmabuf, with its fd and the memfd behind it (which
/// a producer writes as its device would, outside a CPU bracket), and its
/// plane's layout.
fn with_memfd(udmabuf: &Udmabuf, w: u32, h: u32) -> (SharedDmabuf, OwnedFd, OwnedFd, PlaneSpan) {
    let layout = LinearLayout::new(DrmFourcc::Argb8888, w, h).unwrap();
    let plane = layout.planes()[0];
    let (fd, memfd) = udmabuf.alloc_with_memfd(layout.size()).unwrap();
    let mut params = DmabufParams::new();
    let plane_fd: OwnedFd = fd.try_clone().unwrap();
    params
        .add(
            0,
            plane_fd,
            plane.offset,
            plane.stride,
            DrmModifier::Linear.into(),
        )
        .unwrap();
    let src = shared(
        params
            .create(
                w as i32,
                h as i32,
                DrmFourcc::Argb8888 as u32,
                DmabufFlags::empty(),
            )
            .unwrap(),
    );
    (src, fd, memfd, plane)
}

#[test]
fn a_pending_write_fence_holds_the_copy_back() {
    common::require_guest();
    let (w, h) = (64u32, 32u32);
    let udmabuf = Udmabuf::open().unwrap();
    let (src, fd, memfd, plane) = with_memfd(&udmabuf, w, h);
    let dst = shared(udmabuf.allocate(DrmFourcc::Argb8888, w, h).unwrap());
    let fresh_bytes = move || dmabridge::copy::reference::noise(2, (plane.stride * h) as usize);
    let fresh = fresh_bytes();
    write(&src, |_, len| dmabridge::copy::reference::noise(1, len));
    write(&dst, |_, len| vec![SENTINEL; len]);

    let vgem = Vgem::open().unwrap();
    let gem = vgem.import_prime_fd(fd.as_fd()).unwrap();

    on_gpu(|copier| {
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(64, 32),
            dst_size: Size::new(64, 32),
            src_rect: support::rect(0, 0, 64, 32),
            dst_rect: support::rect(0, 0, 64, 32),
            transform: Transform::Normal,
            filter: None,
        })
        .unwrap();
        let job = CopyJob::new(&plan, Surface::Dmabuf(&src), Surface::Dmabuf(&dst));
        // llvmpipe compiles the shader on its first dispatch, which takes
        // seconds in the guest: a first copy gets that out of the way, so
        // that an unsynchronized copy below would run long before the
        // producer writes.
        copier
            .submit(&job)
            .expect("submitting")
            .wait()
            .expect("waiting");

        // The producer: vgem puts a write fence on the source; later it
        // writes new bytes the way its device would (through the memory,
        // without the CPU bracket, which would wait for its own fence) and
        // then signals.
        let fence = vgem.attach_fence(&gem, FenceAccess::Write).unwrap();
        let producer = std::thread::spawn(move || {
            // Far longer than the copy takes when nothing holds it back, far
            // shorter than vgem's 10 s fence timeout.
            std::thread::sleep(Duration::from_millis(1500));
            let fresh = fresh_bytes();
            let written = rustix::io::pwrite(&memfd, &fresh, u64::from(plane.offset)).unwrap();
            assert_eq!(written, fresh.len());
            vgem.signal(fence).unwrap();
            drop(gem);
        });
        let done = copier.submit(&job).expect("submitting");
        producer.join().expect("the producer");
        done.wait().expect("waiting");
    });
    let got = &read(&dst)[0];
    let stride = plane.stride as usize;
    let row = w as usize * 4;
    for y in 0..h as usize {
        let line = &got[y * stride..y * stride + row];
        assert_eq!(
            line,
            &fresh[y * stride..y * stride + row],
            "row {y} is not what the producer wrote before signalling"
        );
    }
}

#[test]
fn imports_are_made_once_and_released_with_their_buffer() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap();
    let src = shared(udmabuf.allocate(DrmFourcc::Xrgb8888, 32, 16).unwrap());
    let dst = shared(udmabuf.allocate(DrmFourcc::Argb8888, 32, 16).unwrap());
    let released = (Arc::downgrade(&src), Arc::downgrade(&dst));
    on_gpu(|copier| {
        assert_eq!(copier.import_objects_created(), 0);
        copier.import(&src).expect("importing");
        // One buffer: a VkBuffer and its VkDeviceMemory.
        assert_eq!(copier.import_objects_created(), 2);
        copier.import(&src).expect("importing again");
        assert_eq!(copier.import_objects_created(), 2);

        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(32, 16),
            dst_size: Size::new(32, 16),
            src_rect: support::rect(0, 0, 32, 16),
            dst_rect: support::rect(0, 0, 32, 16),
            transform: Transform::_180,
            filter: None,
        })
        .unwrap();
        for _ in 0..3 {
            let job = CopyJob::new(&plan, Surface::Dmabuf(&src), Surface::Dmabuf(&dst));
            copier
                .submit(&job)
                .expect("submitting")
                .wait()
                .expect("waiting");
        }
        // The destination was imported by the first copy, once.
        assert_eq!(copier.import_objects_created(), 4);
        assert_eq!(copier.cached_imports(), 2);
        assert_eq!(
            src.lock().unwrap().ownership(),
            OwnershipState::DeviceOwnedDeviceMapped
        );

        // The owner lets go: the import goes, and with it the dma-buf, after
        // its unmap_device (a Dmabuf dropped while mapped is a debug panic).
        drop((src, dst));
        assert_eq!(copier.collect().expect("collecting"), 0);
        assert_eq!(copier.cached_imports(), 0);
        assert!(released.0.upgrade().is_none() && released.1.upgrade().is_none());
    });
}

/// A LINEAR dma-buf of `format` whose planes each lie in their own
/// udmabuf (`disjoint`) or one after another in one, with rows `pad` bytes
/// longer than they need to be and the first plane `lead` bytes in.
fn padded(
    udmabuf: &Udmabuf,
    format: DrmFourcc,
    (w, h): (u32, u32),
    pad: u32,
    lead: u32,
    disjoint: bool,
) -> SharedDmabuf {
    let spans: Vec<(u32, u32)> = FormatInfo::of(format)
        .unwrap()
        .planes()
        .iter()
        .map(|p| (p.row_bytes(w) as u32 + pad, p.height(h)))
        .collect();
    let sizes: Vec<u64> = spans
        .iter()
        .map(|&(stride, rows)| u64::from(stride) * u64::from(rows))
        .collect();
    let linear = DrmModifier::Linear.into();
    let mut params = DmabufParams::new();
    if disjoint {
        for (i, (&(stride, _), &size)) in spans.iter().zip(&sizes).enumerate() {
            let fd = udmabuf.alloc(size + u64::from(lead)).unwrap();
            params.add(i as u32, fd, lead, stride, linear).unwrap();
        }
    } else {
        let total = u64::from(lead) + sizes.iter().sum::<u64>();
        let fd = udmabuf.alloc(total).unwrap();
        let mut offset = u64::from(lead);
        for (i, (&(stride, _), &size)) in spans.iter().zip(&sizes).enumerate() {
            params
                .add(
                    i as u32,
                    fd.try_clone().unwrap(),
                    offset as u32,
                    stride,
                    linear,
                )
                .unwrap();
            offset += size;
        }
    }
    shared(
        params
            .create(w as i32, h as i32, format as u32, DmabufFlags::empty())
            .unwrap(),
    )
}

#[test]
fn linear_sources_imported_as_images_copy_like_buffers() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap();
    let size = (67, 45);
    // Rows longer than they need to be and planes away from the start of
    // their buffer: the image gets the client's offsets and pitches.
    let sources = [
        (
            "ARGB8888",
            padded(&udmabuf, DrmFourcc::Argb8888, size, 64, 256, false),
        ),
        (
            "XBGR8888",
            padded(&udmabuf, DrmFourcc::Xbgr8888, size, 4, 4096, false),
        ),
    ];
    let nv12 = padded(&udmabuf, DrmFourcc::Nv12, size, 17, 64, true);
    let request = CopyRequest {
        src_size: Size::new(67, 45),
        dst_size: Size::new(80, 80),
        src_rect: support::rect(2, 3, 60, 40),
        dst_rect: support::rect(5, 7, 40, 60),
        transform: Transform::_90,
        filter: None,
    };
    fixture::on_device(|device| {
        let copier = &mut Copier::new(Arc::clone(device)).unwrap();
        copier.set_linear_source_import(ImportPath::Image);
        // The same copies through the buffer path, with a copier of its own
        // (the first one's import cache would hand back the images).
        let mut by_buffer_copier = Copier::new(Arc::clone(device)).unwrap();
        for (seed, (name, src)) in sources.iter().enumerate() {
            write(src, |i, len| {
                dmabridge::copy::reference::noise(31 + 7 * seed as u32 + i as u32, len)
            });
            let by_image = shared(udmabuf.allocate(DrmFourcc::Xrgb8888, 80, 80).unwrap());
            write(&by_image, |_, len| vec![SENTINEL; len]);
            let before = copier.import_objects_created();
            copy_and_compare(copier, request, src, &by_image, 0);
            // The destination's buffer and memory, the image and its memory.
            assert_eq!(copier.import_objects_created() - before, 4, "{name}");

            let by_buffer = shared(udmabuf.allocate(DrmFourcc::Xrgb8888, 80, 80).unwrap());
            write(&by_buffer, |_, len| vec![SENTINEL; len]);
            copy_and_compare(&mut by_buffer_copier, request, src, &by_buffer, 0);
            assert!(
                read(&by_image) == read(&by_buffer),
                "{name}: the paths differ"
            );
        }

        // Lavapipe lists no YUV format among its modifiers, so NV12 does not
        // import as an image: the typed refusal, before any Vulkan object.
        assert!(
            !device
                .importable_formats()
                .iter()
                .any(|r| r.fourcc == DrmFourcc::Nv12),
            "lavapipe learnt NV12 images: test the YCbCr import here"
        );
        let dst = shared(udmabuf.allocate(DrmFourcc::Xrgb8888, 80, 80).unwrap());
        let before = copier.import_objects_created();
        let plan = CopyPlan::new(request).unwrap();
        let job = CopyJob::new(&plan, Surface::Dmabuf(&nv12), Surface::Dmabuf(&dst));
        assert!(matches!(
            copier.submit(&job),
            Err(CopyError::Vulkan(VulkanError::UnsupportedModifier {
                fourcc: DrmFourcc::Nv12,
                modifier: 0
            }))
        ));
        assert_eq!(copier.import_objects_created(), before);
        assert_eq!(
            nv12.lock().unwrap().ownership(),
            OwnershipState::UnownedUnmapped
        );
    });
}

#[test]
fn a_plain_copy_from_an_image_source_moves_its_staged_rows() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap();
    // ARGB8888 onto itself, unscaled and upright: the rows staged from the
    // image go to the device buffer by transfers, not through the shader.
    let src = padded(&udmabuf, DrmFourcc::Argb8888, (67, 45), 64, 256, false);
    write(&src, |i, len| {
        dmabridge::copy::reference::noise(57 + i as u32, len)
    });
    let plan = CopyPlan::new(CopyRequest {
        src_size: Size::new(67, 45),
        dst_size: Size::new(40, 30),
        src_rect: support::rect(3, 5, 20, 10),
        dst_rect: support::rect(7, 2, 20, 10),
        transform: Transform::Normal,
        filter: None,
    })
    .unwrap();
    let dst_desc = ImageDesc {
        format: DrmFourcc::Argb8888,
        width: 40,
        height: 30,
        planes: vec![PlaneDesc {
            offset: 16,
            stride: 40 * 4 + 8,
        }],
    };
    let len = 16 + 168 * 30;
    on_gpu(|copier| {
        copier.set_linear_source_import(ImportPath::Image);
        let dst = copier.create_buffer(len as u64).unwrap();
        copier
            .upload(&dst, &vec![SENTINEL; len])
            .unwrap()
            .wait()
            .unwrap();
        let job = CopyJob::new(
            &plan,
            Surface::Dmabuf(&src),
            Surface::Buffer {
                buffer: &dst,
                desc: &dst_desc,
            },
        );
        let done = copier.submit(&job).unwrap();
        // The job's fence became the source's read fence, as on the shader
        // path.
        assert!(done.sync_file().is_some());
        done.wait().unwrap();
        let got = copier.readback(&dst).unwrap().wait().unwrap();

        let src_bytes = read(&src);
        let view = ImageView::packed(
            DrmFourcc::Argb8888,
            plan.request().src_size,
            &src_bytes[0],
            strides(&src)[0],
        )
        .unwrap();
        let mut want = vec![SENTINEL; len];
        let mut out = ImageViewMut::packed(
            DrmFourcc::Argb8888,
            plan.request().dst_size,
            &mut want[16..],
            168,
        )
        .unwrap();
        reference::copy(&plan, &view, &mut out).unwrap();
        assert!(
            got[..len] == want[..],
            "the staged rows differ from the reference"
        );
    });
}

#[test]
fn refused_jobs_reach_no_driver() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap();
    let (w, h) = (32u32, 16u32);
    // An X-tiled modifier on a udmabuf: valid to the protocol (non-LINEAR
    // strides are the driver's business), unknown to lavapipe.
    let x_tiled = DrmModifier::I915_x_tiled.into();
    let mut params = DmabufParams::new();
    let fd = udmabuf.alloc(u64::from(w * h * 4)).unwrap();
    params.add(0, fd, 0, w * 4, x_tiled).unwrap();
    let tiled = shared(
        params
            .create(
                w as i32,
                h as i32,
                DrmFourcc::Argb8888 as u32,
                DmabufFlags::empty(),
            )
            .unwrap(),
    );
    let dst = shared(udmabuf.allocate(DrmFourcc::Argb8888, w, h).unwrap());
    write(&dst, |_, len| vec![SENTINEL; len]);
    let whole = |w: u32, h: u32| CopyRequest {
        src_size: Size::new(w as i32, h as i32),
        dst_size: Size::new(w as i32, h as i32),
        src_rect: support::rect(0, 0, w as i32, h as i32),
        dst_rect: support::rect(0, 0, w as i32, h as i32),
        transform: Transform::Normal,
        filter: None,
    };

    let states = [&tiled, &dst].map(|d| d.lock().unwrap().ownership());
    on_gpu(|copier| {
        let nothing_reached_the_driver = |copier: &mut Copier| {
            assert_eq!(copier.import_objects_created(), 0);
            assert_eq!(copier.cached_imports(), 0);
            assert_eq!(copier.collect().unwrap(), 0, "nothing was submitted");
            // No device mapping was recorded, or one was undone.
            assert_eq!(
                states,
                [&tiled, &dst].map(|d| d.lock().unwrap().ownership())
            );
        };

        // Unsupported modifier: refused by the importable table.
        let plan = CopyPlan::new(whole(w, h)).unwrap();
        let job = CopyJob::new(&plan, Surface::Dmabuf(&tiled), Surface::Dmabuf(&dst));
        match copier.submit(&job) {
            Err(CopyError::Vulkan(VulkanError::UnsupportedModifier { fourcc, modifier })) => {
                assert_eq!(fourcc, DrmFourcc::Argb8888);
                assert_eq!(modifier, u64::from(DrmModifier::I915_x_tiled));
            }
            other => panic!("expected UnsupportedModifier, got {other:?}"),
        }
        nothing_reached_the_driver(copier);

        // Undersized buffer: a description that needs more bytes than the
        // buffer has.
        let small = copier.create_buffer(u64::from(w * h * 4) - 4).unwrap();
        let big = copier.create_buffer(u64::from(w * h * 4)).unwrap();
        let desc = ImageDesc {
            format: DrmFourcc::Argb8888,
            width: w,
            height: h,
            planes: vec![PlaneDesc {
                offset: 0,
                stride: w * 4,
            }],
        };
        let job = CopyJob::new(
            &plan,
            Surface::Buffer {
                buffer: &small,
                desc: &desc,
            },
            Surface::Buffer {
                buffer: &big,
                desc: &desc,
            },
        );
        match copier.submit(&job) {
            Err(CopyError::PlaneOutOfBounds { end, size, .. }) => {
                assert_eq!(
                    (end, size),
                    (u64::from(w * h * 4), u64::from(w * h * 4) - 4)
                );
            }
            other => panic!("expected PlaneOutOfBounds, got {other:?}"),
        }
        nothing_reached_the_driver(copier);

        // Out-of-bounds rectangle: no plan, so no job.
        let mut request = whole(w, h);
        request.src_rect = support::rect(1, 0, w as i32, h as i32);
        assert!(matches!(
            CopyPlan::new(request),
            Err(PlanError::RectOutOfBounds { .. })
        ));
        nothing_reached_the_driver(copier);
    });
    assert!(read(&dst)[0].iter().all(|&b| b == SENTINEL));
}

#[test]
fn acquire_fences_hold_the_job_and_release_fences_follow_it() {
    common::require_guest();
    let (w, h) = (64u32, 32u32);
    let udmabuf = Udmabuf::open().unwrap();
    let (src, _fd, memfd, plane) = with_memfd(&udmabuf, w, h);
    let dst = shared(udmabuf.allocate(DrmFourcc::Argb8888, w, h).unwrap());
    let fresh_bytes = move || dmabridge::copy::reference::noise(4, (plane.stride * h) as usize);
    let fresh = fresh_bytes();
    write(&src, |_, len| dmabridge::copy::reference::noise(3, len));
    write(&dst, |_, len| vec![SENTINEL; len]);

    // The acquire fence: a pending vgem write fence on a buffer the job does
    // not touch, so only explicit synchronization can hold the job back.
    let vgem = Vgem::open().unwrap();
    let other = vgem.alloc(16, 16, DrmFourcc::Argb8888, 32).unwrap();

    on_gpu(|copier| {
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(w as i32, h as i32),
            dst_size: Size::new(w as i32, h as i32),
            src_rect: support::rect(0, 0, w as i32, h as i32),
            dst_rect: support::rect(0, 0, w as i32, h as i32),
            transform: Transform::Normal,
            filter: None,
        })
        .unwrap();
        let job = CopyJob::new(&plan, Surface::Dmabuf(&src), Surface::Dmabuf(&dst));
        // The shader's first dispatch compiles it (seconds in the guest).
        copier.submit(&job).unwrap().wait().unwrap();

        // Attached only now: vgem signals a fence by itself after 10 s.
        let fence = vgem.attach_fence(&other, FenceAccess::Write).unwrap();
        let acquire = [SyncFile::export_from_dmabuf(other.dmabuf(), SyncAccess::Read).unwrap()];
        assert!(!acquire[0].is_signalled().unwrap());

        // The producer writes the source and then signals the acquire fence.
        let producer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            let written = rustix::io::pwrite(&memfd, &fresh_bytes(), u64::from(plane.offset));
            assert_eq!(written.unwrap(), (plane.stride * h) as usize);
            let signalled_at = std::time::Instant::now();
            vgem.signal(fence).unwrap();
            drop(other);
            signalled_at
        });
        let done = copier.submit(&job.acquire(&acquire)).expect("submitting");
        // Neither the destination's READ fence nor the release fence may
        // signal before the job completed.
        let read_fence = dst
            .lock()
            .unwrap()
            .export_sync_file(SyncAccess::Read)
            .unwrap();
        let release = done
            .release_fence()
            .expect("lavapipe in the guest exports SYNC_FD");
        for fence in [Some(&read_fence), release.as_ref()].into_iter().flatten() {
            if fence.is_signalled().unwrap() {
                assert!(done.is_done().unwrap(), "a fence signalled before the job");
            }
        }
        assert_eq!(read_fence.wait(None).unwrap(), WaitOutcome::Signalled);
        let readable_at = std::time::Instant::now();
        assert!(
            done.is_done().unwrap(),
            "the READ fence signalled before the job"
        );
        if let Some(release) = release {
            assert_eq!(release.wait(None).unwrap(), WaitOutcome::Signalled);
        }
        let signalled_at = producer.join().expect("the producer");
        assert!(
            readable_at >= signalled_at,
            "the job ran before its acquire fence"
        );
        done.wait().unwrap();
    });
    let got = &read(&dst)[0];
    let (stride, row) = (plane.stride as usize, w as usize * 4);
    for y in 0..h as usize {
        assert_eq!(
            &got[y * stride..y * stride + row],
            &fresh[y * stride..y * stride + row],
            "row {y} is not what the producer wrote before signalling"
        );
    }
}

#[test]
fn buffer_copies_between_dmabufs_match_the_reference_and_wait_for_their_fences() {
    common::require_guest();
    let session = compositor::Session::start((64, 64), &[]);
    let out = session
        .client(&["--copy-dmabuf"])
        .output()
        .expect("running dmabridge-client --copy-dmabuf");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tally = stdout
        .lines()
        .find(|l| l.starts_with("copies "))
        .unwrap_or_default();
    // 9 dma-buf to dma-buf, one each way between wl_shm and dma-buf, and 2
    // from NV12 where the device converts it.
    assert!(
        tally == "copies 11 mismatched 0" || tally == "copies 13 mismatched 0",
        "{stdout}"
    );
    for line in ["fenced source held", "acquire held", "release checked"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no {line:?}:\n{stdout}"
        );
    }
    // The same compositor: timeline points. The client's last check ends
    // its connection with a protocol error, which it expects.
    let out = session
        .client(&["--copy-timeline"])
        .output()
        .expect("running dmabridge-client --copy-timeline");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "acquire point held",
        "release point signalled",
        "release point signalled on failure",
        "conflicting_points raised",
        "conflicting_acquire raised",
    ] {
        assert!(stdout.lines().any(|l| l == line), "no {line:?}:\n{stdout}");
    }
}
