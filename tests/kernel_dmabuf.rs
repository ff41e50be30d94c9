//! Kernel truth for `dmabridge::dmabuf`: validation, ownership and bracketed
//! CPU access on real dma-bufs (udmabuf), inside the test guest.
//!
//! A closed fd is not tested here: the API takes `OwnedFd`, which safe code
//! cannot hold closed, so that refusal ([`ParamsError::FdQuery`]) is only
//! reachable when unsafe code elsewhere breaks I/O safety.

mod common;

use std::os::fd::{AsFd, OwnedFd};

use dmabridge::alloc::Udmabuf;
use dmabridge::dmabuf::{
    Access, AccessError, Dmabuf, DmabufFlags, DmabufParams, OwnershipState, ParamsError,
    ParamsProtocolError, probe,
};
use dmabridge::sync::SyncFile;
use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::fs::MemfdFlags;
use rustix::io::Errno;

const LINEAR: u64 = 0;
const W: u32 = 64;
const H: u32 = 64;
/// An ARGB8888 image of W × H, tightly packed.
const ARGB_STRIDE: u32 = W * 4;
const ARGB_SIZE: u64 = ARGB_STRIDE as u64 * H as u64;
/// NV12 of W × H: Y rows of W bytes, then H/2 UV rows of W bytes.
const NV12_UV_OFFSET: u32 = W * H;
const NV12_SIZE: u64 = (W * H + W * H / 2) as u64;

fn udmabuf(size: u64) -> OwnedFd {
    Udmabuf::open().unwrap().alloc(size).unwrap()
}

fn dup(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().unwrap()
}

fn argb(fd: OwnedFd) -> Result<Dmabuf, ParamsError> {
    let mut params = DmabufParams::new();
    params.add(0, fd, 0, ARGB_STRIDE, LINEAR)?;
    params.create(
        W as i32,
        H as i32,
        DrmFourcc::Argb8888 as u32,
        DmabufFlags::empty(),
    )
}

fn nv12(y: OwnedFd, uv: OwnedFd, uv_offset: u32) -> Result<Dmabuf, ParamsError> {
    let mut params = DmabufParams::new();
    params.add(0, y, 0, W, LINEAR)?;
    params.add(1, uv, uv_offset, W, LINEAR)?;
    params.create(
        W as i32,
        H as i32,
        DrmFourcc::Nv12 as u32,
        DmabufFlags::Y_INVERT,
    )
}

#[test]
fn single_plane_argb8888_is_accepted() {
    common::require_guest();
    let buf = argb(udmabuf(ARGB_SIZE)).unwrap();
    assert_eq!(buf.format(), DrmFourcc::Argb8888);
    assert_eq!(buf.modifier(), DrmModifier::Linear);
    assert_eq!((buf.width(), buf.height()), (W, H));
    assert_eq!(buf.planes().len(), 1);
    assert_eq!(
        (buf.planes()[0].offset(), buf.planes()[0].stride()),
        (0, ARGB_STRIDE)
    );
    assert!(!buf.is_disjoint());
    assert_eq!(buf.ownership(), OwnershipState::UnownedUnmapped);
}

#[test]
fn two_plane_nv12_in_one_buffer_is_accepted() {
    common::require_guest();
    let fd = udmabuf(NV12_SIZE);
    let mut buf = nv12(dup(&fd), fd, NV12_UV_OFFSET).unwrap();
    assert_eq!(buf.flags(), DmabufFlags::Y_INVERT);
    assert!(!buf.is_disjoint(), "a dup refers to the same buffer");
    let access = buf.begin_cpu_access(Access::Read).unwrap();
    assert_eq!(access.plane(0).len(), (W * H) as usize);
    assert_eq!(
        access.plane(1).len(),
        (W * H / 2) as usize,
        "UV: H/2 rows of W bytes"
    );
}

#[test]
fn nv12_in_two_buffers_is_disjoint() {
    common::require_guest();
    let buf = nv12(udmabuf(u64::from(W * H)), udmabuf(u64::from(W * H / 2)), 0).unwrap();
    assert!(buf.is_disjoint());
}

fn assert_refused(result: Result<Dmabuf, ParamsError>, code: ParamsProtocolError) -> ParamsError {
    let err = result.map(|_| ()).unwrap_err();
    assert_eq!(err.protocol_error(), code, "{err:?}");
    err
}

#[test]
fn pipe_is_refused() {
    common::require_guest();
    let (reader, _writer) = rustix::pipe::pipe().unwrap();
    let err = assert_refused(argb(reader), ParamsProtocolError::InvalidWlBuffer);
    assert!(matches!(err, ParamsError::NotDmabuf { plane: 0, .. }));
}

#[test]
fn memfd_is_refused() {
    common::require_guest();
    let memfd = rustix::fs::memfd_create("kernel-dmabuf", MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memfd, ARGB_SIZE).unwrap();
    let err = assert_refused(argb(memfd), ParamsProtocolError::InvalidWlBuffer);
    assert!(matches!(err, ParamsError::NotDmabuf { plane: 0, .. }));
}

#[test]
fn too_small_udmabuf_is_refused() {
    common::require_guest();
    let err = assert_refused(
        argb(udmabuf(ARGB_SIZE / 2)),
        ParamsProtocolError::OutOfBounds,
    );
    assert!(
        matches!(err, ParamsError::PlaneOutOfBounds { plane: 0, end: ARGB_SIZE, fd_size }
            if fd_size < ARGB_SIZE),
        "{err:?}"
    );
}

#[test]
fn plane_beyond_its_fd_is_refused() {
    common::require_guest();
    // The UV plane starts inside the buffer but its last row lies past it.
    let fd = udmabuf(NV12_SIZE);
    let size = rustix::fs::seek(&fd, rustix::fs::SeekFrom::End(0)).unwrap();
    let uv_offset = u32::try_from(size).unwrap() - W;
    let err = assert_refused(
        nv12(dup(&fd), fd, uv_offset),
        ParamsProtocolError::OutOfBounds,
    );
    assert!(
        matches!(err, ParamsError::PlaneOutOfBounds { plane: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn wrong_plane_count_is_refused() {
    common::require_guest();
    let mut params = DmabufParams::new();
    params.add(0, udmabuf(NV12_SIZE), 0, W, LINEAR).unwrap();
    let result = params.create(
        W as i32,
        H as i32,
        DrmFourcc::Nv12 as u32,
        DmabufFlags::empty(),
    );
    let err = assert_refused(result, ParamsProtocolError::Incomplete);
    assert!(matches!(
        err,
        ParamsError::PlaneCount {
            expected: 2,
            got: 1,
            ..
        }
    ));
}

#[test]
fn cpu_write_is_visible_through_a_dup() {
    common::require_guest();
    let fd = udmabuf(ARGB_SIZE);
    let mut reader = argb(dup(&fd)).unwrap();
    let mut writer = argb(fd).unwrap();
    {
        let mut access = writer.begin_cpu_access(Access::Write).unwrap();
        for (i, byte) in access.plane_mut(0).unwrap().iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
    }
    assert_eq!(writer.ownership(), OwnershipState::CpuOwnedCpuMapped);
    let access = reader.begin_cpu_access(Access::Read).unwrap();
    let plane = access.plane(0);
    assert_eq!(plane.len(), ARGB_SIZE as usize);
    assert!(
        plane
            .iter()
            .enumerate()
            .all(|(i, byte)| *byte == (i % 251) as u8)
    );
}

#[test]
fn read_access_refuses_mutable_planes() {
    common::require_guest();
    let mut buf = argb(udmabuf(ARGB_SIZE)).unwrap();
    let mut access = buf.begin_cpu_access(Access::Read).unwrap();
    assert_eq!(
        access.plane_mut(0).map(|_| ()),
        Err(AccessError::NotWritable)
    );
}

#[test]
fn cpu_access_while_device_mapped_follows_the_state_machine() {
    common::require_guest();
    let mut buf = argb(udmabuf(ARGB_SIZE)).unwrap();
    buf.map_device().unwrap();
    assert_eq!(buf.ownership(), OwnershipState::DeviceOwnedDeviceMapped);
    {
        let mut access = buf.begin_cpu_access(Access::ReadWrite).unwrap();
        access.plane_mut(0).unwrap()[0] = 0xab;
    }
    // mmap then begin, end: the device owns it again, CPU mapping cached.
    assert_eq!(buf.ownership(), OwnershipState::DeviceOwnedCpuDeviceMapped);
    {
        let access = buf.begin_cpu_access(Access::Read).unwrap();
        assert_eq!(access.plane(0)[0], 0xab);
    }
    buf.unmap_device().unwrap();
    assert_eq!(buf.ownership(), OwnershipState::CpuOwnedCpuMapped);
    assert!(buf.unmap_device().is_err(), "no device mapping is left");
}

#[test]
fn guard_ends_access_on_unwind() {
    common::require_guest();
    let mut buf = argb(udmabuf(ARGB_SIZE)).unwrap();
    buf.map_device().unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let access = buf.begin_cpu_access(Access::Write).unwrap();
        assert_eq!(access.access(), Access::Write);
        panic!("a panic while the CPU owns the buffer");
    }));
    assert!(unwound.is_err());
    // end_cpu_access ran during the unwind: the device owns the buffer again
    // (without it the state would still be CPU-Owned CPU/Device-Mapped).
    assert_eq!(buf.ownership(), OwnershipState::DeviceOwnedCpuDeviceMapped);
    drop(buf.begin_cpu_access(Access::Read).unwrap());
    buf.unmap_device().unwrap();
}

#[test]
fn kernel_refuses_end_without_start() {
    common::require_guest();
    // A fresh udmabuf: no START was ever issued on it.
    let fd = udmabuf(ARGB_SIZE);
    assert_eq!(probe::sync_end_without_start(fd.as_fd()), Err(Errno::INVAL));
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "released in state")]
fn releasing_a_device_mapped_buffer_is_a_bug() {
    common::require_guest();
    let mut buf = argb(udmabuf(ARGB_SIZE)).unwrap();
    buf.map_device().unwrap();
    drop(buf);
}

/// Every allocator that exists in the guest makes buffers that pass the
/// client validation and hold what is written through the CPU bracket; GBM
/// exports read-only fds, so there the write bracket must be refused.
#[test]
fn every_allocator_makes_valid_buffers() {
    use dmabridge::alloc::{DmaHeap, DmabufAllocator, GbmDevice, NodeKind, Vgem, drm_nodes};
    common::require_guest();
    let mut allocators: Vec<(String, Box<dyn DmabufAllocator>)> = vec![
        ("udmabuf".into(), Box::new(Udmabuf::open().unwrap())),
        (
            "system heap".into(),
            Box::new(DmaHeap::open_system().unwrap()),
        ),
        ("vgem".into(), Box::new(Vgem::open().unwrap())),
    ];
    let cards: Vec<_> = drm_nodes()
        .into_iter()
        .filter(|n| n.kind == NodeKind::Primary)
        .collect();
    assert!(
        cards.iter().any(|n| n.driver == "virtio_gpu") && cards.iter().any(|n| n.driver == "vgem"),
        "the guest has vgem and virtio-gpu cards: {cards:?}"
    );
    for node in &cards {
        let gbm = GbmDevice::open(&node.path).unwrap();
        allocators.push((format!("gbm on {}", node.driver), Box::new(gbm)));
    }
    for (name, allocator) in &allocators {
        for format in [DrmFourcc::Xrgb8888, DrmFourcc::Nv12] {
            let mut buf = match allocator.allocate(format, 67, 45) {
                Ok(buf) => buf,
                // Dumb buffers have one plane.
                Err(dmabridge::alloc::AllocError::UnsupportedFormat { .. })
                    if name == "vgem" && format == DrmFourcc::Nv12 =>
                {
                    continue;
                }
                // Mesa's GBM without a render driver (kms_swrast) lays out
                // packed formats only.
                Err(dmabridge::alloc::AllocError::Gbm { .. })
                    if name.starts_with("gbm") && format == DrmFourcc::Nv12 =>
                {
                    continue;
                }
                Err(err) => panic!("{name} {format}: {err:?}"),
            };
            assert_eq!((buf.width(), buf.height(), buf.format()), (67, 45, format));
            let writable = match buf.begin_cpu_access(Access::Write) {
                Ok(mut access) => {
                    access.plane_mut(0).unwrap().fill(0x5a);
                    true
                }
                Err(AccessError::ReadOnly) => false,
                Err(err) => panic!("{name} {format}: {err:?}"),
            };
            assert_eq!(
                writable,
                !name.starts_with("gbm"),
                "{name}: writable export"
            );
            let access = buf.begin_cpu_access(Access::Read).unwrap();
            if writable {
                assert!(
                    access.plane(0).iter().all(|&b| b == 0x5a),
                    "{name} {format}"
                );
            }
            drop(access);
            assert_eq!(buf.ownership(), OwnershipState::CpuOwnedCpuMapped);
        }
    }
}

/// The implicit fence of a buffer whose planes lie in two dma-bufs is the
/// merge of both: a vgem write fence on the chroma buffer alone holds a
/// reader of the whole buffer until it signals.
#[test]
fn disjoint_buffer_fence_is_the_merge_of_its_planes() {
    use dmabridge::alloc::{FenceAccess, Vgem};
    use dmabridge::sync::SyncAccess;
    common::require_guest();
    let y = udmabuf(NV12_SIZE);
    let uv = udmabuf(NV12_SIZE);
    let vgem = Vgem::open().unwrap();
    let gem = vgem.import_prime_fd(uv.as_fd()).unwrap();
    let buf = nv12(y, uv, 0).unwrap();
    assert!(buf.is_disjoint());
    assert!(
        buf.export_sync_file(SyncAccess::Read)
            .unwrap()
            .is_signalled()
            .unwrap()
    );

    let fence = vgem.attach_fence(&gem, FenceAccess::Write).unwrap();
    let pending = buf.export_sync_file(SyncAccess::Read).unwrap();
    assert!(
        !pending.is_signalled().unwrap(),
        "the chroma plane's writer is pending"
    );
    vgem.signal(fence).unwrap();
    assert!(pending.is_signalled().unwrap());
    assert!(
        buf.export_sync_file(SyncAccess::Read)
            .unwrap()
            .is_signalled()
            .unwrap()
    );
}

/// A fence imported as a writer into a buffer holds every later user of the
/// buffer, through another Dmabuf of the same memory too, until it signals.
#[test]
fn imported_fence_holds_later_users_of_the_buffer() {
    use dmabridge::alloc::{FenceAccess, Vgem};
    use dmabridge::sync::SyncAccess;
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let producer = vgem.alloc(W, H, DrmFourcc::Argb8888, 32).unwrap();
    let fence = vgem.attach_fence(&producer, FenceAccess::Write).unwrap();
    let producer_fence = SyncFile::export_from_dmabuf(producer.dmabuf(), SyncAccess::Read).unwrap();

    let fd = udmabuf(ARGB_SIZE);
    let target = argb(dup(&fd)).unwrap();
    let other_view = argb(fd).unwrap();
    target
        .import_sync_file(&producer_fence, SyncAccess::Write)
        .unwrap();
    let read = other_view.export_sync_file(SyncAccess::Read).unwrap();
    let write = other_view.export_sync_file(SyncAccess::Write).unwrap();
    assert!(!read.is_signalled().unwrap());
    assert!(!write.is_signalled().unwrap());
    vgem.signal(fence).unwrap();
    assert!(read.is_signalled().unwrap());
    assert!(write.is_signalled().unwrap());
}
