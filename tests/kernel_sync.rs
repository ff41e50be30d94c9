//! Kernel truth for `alloc` and `sync`: udmabuf, the system dma-heap, vgem
//! buffers and fences, sync_file export/import/merge/info, and `FenceSource`
//! on a real event loop. Runs inside the test guest only.

mod common;

use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use calloop::EventLoop;
use calloop::timer::{TimeoutAction, Timer};
use dmabridge::alloc::{AllocError, DmaHeap, FenceAccess, Udmabuf, Vgem, VgemBuffer};
use dmabridge::sync::{FenceSource, FenceStatus, SyncAccess, SyncError, SyncFile, WaitOutcome};
use drm_fourcc::DrmFourcc;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::fs::{SeekFrom, fstatfs, seek};

/// `DMA_BUF_MAGIC` from `<linux/magic.h>`.
const DMA_BUF_MAGIC: i64 = 0x444d_4142;

/// Long enough for the guest to notice a signal, far below vgem's 10 s
/// fence timeout.
const SETTLE: Duration = Duration::from_secs(1);

fn assert_dmabuf_of_size(fd: BorrowedFd<'_>, size: u64) {
    assert_eq!(fstatfs(fd).unwrap().f_type, DMA_BUF_MAGIC, "not a dma-buf");
    assert_eq!(seek(fd, SeekFrom::End(0)).unwrap(), size);
}

/// Whether `poll()` reports the fd readable right now: for a dma-buf, no
/// unsignalled write fence; for a sync_file, signalled.
fn readable(fd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    poll(
        &mut fds,
        Some(&Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        }),
    )
    .unwrap()
        == 1
}

fn vgem_buffer(vgem: &Vgem) -> VgemBuffer {
    vgem.alloc(64, 64, DrmFourcc::Argb8888, 32).unwrap()
}

#[test]
fn udmabuf_allocations_are_page_rounded_dmabufs() {
    common::require_guest();
    let page = rustix::param::page_size() as u64;
    let udmabuf = Udmabuf::open().unwrap();
    assert_dmabuf_of_size(udmabuf.alloc(4 * page).unwrap().as_fd(), 4 * page);
    assert_dmabuf_of_size(udmabuf.alloc(page + 1).unwrap().as_fd(), 2 * page);
    assert!(matches!(
        udmabuf.alloc(0),
        Err(AllocError::InvalidSize { size: 0 })
    ));
}

#[test]
fn system_heap_allocations_are_dmabufs() {
    common::require_guest();
    let page = rustix::param::page_size() as u64;
    let heap = DmaHeap::open_system().unwrap();
    assert_dmabuf_of_size(heap.alloc(3 * page).unwrap().as_fd(), 3 * page);
}

#[test]
fn vgem_buffers_are_dmabufs() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    assert!(buffer.stride() >= 64 * 4);
    assert!(buffer.size() >= u64::from(buffer.stride()) * 64);
    assert_dmabuf_of_size(buffer.dmabuf(), buffer.size());
}

#[test]
fn vgem_write_fence_holds_readers_until_signalled() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    assert!(readable(buffer.dmabuf()), "a fresh buffer has no fence");

    let fence = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap();
    let for_readers = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Read).unwrap();
    assert!(!for_readers.is_signalled().unwrap());
    assert!(!readable(buffer.dmabuf()));
    assert_eq!(
        for_readers.wait(Some(Duration::from_millis(50))).unwrap(),
        WaitOutcome::TimedOut
    );

    vgem.signal(fence.clone()).unwrap();
    assert_eq!(
        for_readers.wait(Some(SETTLE)).unwrap(),
        WaitOutcome::Signalled
    );
    assert!(readable(buffer.dmabuf()));

    let again = vgem.signal(fence).unwrap_err();
    assert!(
        matches!(again, AllocError::FenceNotFound { .. }),
        "{again:?}"
    );
}

#[test]
fn vgem_read_fence_holds_writers_only() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    let fence = vgem.attach_fence(&buffer, FenceAccess::Read).unwrap();

    let for_readers = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Read).unwrap();
    let for_writers = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Write).unwrap();
    assert!(
        for_readers.is_signalled().unwrap(),
        "readers do not wait for readers"
    );
    assert!(
        !for_writers.is_signalled().unwrap(),
        "writers wait for readers"
    );

    vgem.signal(fence).unwrap();
    assert_eq!(
        for_writers.wait(Some(SETTLE)).unwrap(),
        WaitOutcome::Signalled
    );
}

#[test]
fn vgem_conflicting_write_fence_is_refused() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    let first = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap();
    let err = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap_err();
    assert!(matches!(err, AllocError::FenceConflict), "{err:?}");
    vgem.signal(first).unwrap();
}

#[test]
fn imported_sync_file_follows_the_vgem_fence() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let producer = vgem_buffer(&vgem);
    let udmabuf = Udmabuf::open().unwrap();
    let idle = udmabuf.alloc(64 * 64 * 4).unwrap();
    let before = SyncFile::export_from_dmabuf(idle.as_fd(), SyncAccess::Read).unwrap();
    assert!(
        before.is_signalled().unwrap(),
        "an idle udmabuf exports a signalled fence"
    );

    let fence = vgem.attach_fence(&producer, FenceAccess::Write).unwrap();
    let rendered = SyncFile::export_from_dmabuf(producer.dmabuf(), SyncAccess::Read).unwrap();
    rendered
        .import_into_dmabuf(idle.as_fd(), SyncAccess::Write)
        .unwrap();

    let after = SyncFile::export_from_dmabuf(idle.as_fd(), SyncAccess::Read).unwrap();
    assert!(!after.is_signalled().unwrap());
    assert!(!readable(idle.as_fd()));

    vgem.signal(fence).unwrap();
    assert_eq!(after.wait(Some(SETTLE)).unwrap(), WaitOutcome::Signalled);
    assert!(readable(idle.as_fd()));
}

#[test]
fn vgem_fence_on_an_imported_udmabuf() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let udmabuf = Udmabuf::open().unwrap().alloc(4096).unwrap();
    let gem = vgem.import_prime_fd(udmabuf.as_fd()).unwrap();

    let fence = vgem.attach_fence(&gem, FenceAccess::Write).unwrap();
    let for_readers = SyncFile::export_from_dmabuf(udmabuf.as_fd(), SyncAccess::Read).unwrap();
    assert!(!for_readers.is_signalled().unwrap());

    vgem.signal(fence).unwrap();
    assert_eq!(
        for_readers.wait(Some(SETTLE)).unwrap(),
        WaitOutcome::Signalled
    );
}

#[test]
fn merge_of_pending_and_signalled_is_pending_until_both_are() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    let fence = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap();
    let pending = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Read).unwrap();
    let idle = Udmabuf::open().unwrap().alloc(4096).unwrap();
    let signalled = SyncFile::export_from_dmabuf(idle.as_fd(), SyncAccess::Read).unwrap();
    assert!(signalled.is_signalled().unwrap());

    let merged = pending.merge(&signalled, "merged").unwrap();
    assert!(!merged.is_signalled().unwrap());
    assert_eq!(merged.info().unwrap().name, "merged");

    vgem.signal(fence).unwrap();
    assert_eq!(merged.wait(Some(SETTLE)).unwrap(), WaitOutcome::Signalled);
}

#[test]
fn info_names_the_vgem_driver_and_timeline() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    let fence = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap();
    let sync_file = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Read).unwrap();

    // Names are read while the fence is pending: since Linux 6.17 a
    // signalled fence reports placeholder driver and timeline names.
    let info = sync_file.info().unwrap();
    assert_eq!(info.status, FenceStatus::Active);
    assert_eq!(info.fences.len(), 1, "{info:?}");
    assert_eq!(info.fences[0].driver, "vgem");
    assert_eq!(info.fences[0].timeline, "unbound");
    assert_eq!(info.fences[0].status, FenceStatus::Active);
    assert_eq!(info.fences[0].signalled_at, None);

    vgem.signal(fence).unwrap();
    assert_eq!(
        sync_file.wait(Some(SETTLE)).unwrap(),
        WaitOutcome::Signalled
    );
    let info = sync_file.info().unwrap();
    assert_eq!(info.status, FenceStatus::Signalled);
    assert_eq!(info.fences[0].status, FenceStatus::Signalled);
    assert!(info.fences[0].signalled_at.is_some());
}

#[test]
fn from_fd_accepts_sync_files_and_rejects_dmabufs() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap().alloc(4096).unwrap();
    let sync_file = SyncFile::export_from_dmabuf(udmabuf.as_fd(), SyncAccess::Write).unwrap();
    let sync_file = SyncFile::from_fd(sync_file.into_fd()).unwrap();
    assert!(sync_file.is_signalled().unwrap());

    let err = SyncFile::from_fd(udmabuf).unwrap_err();
    assert!(matches!(err, SyncError::NotASyncFile), "{err:?}");
}

#[derive(Default)]
struct LoopState {
    fired: Option<SyncFile>,
    ticks: usize,
}

#[test]
fn fence_source_fires_after_signal_while_the_loop_runs() {
    common::require_guest();
    let vgem = Vgem::open().unwrap();
    let buffer = vgem_buffer(&vgem);
    let fence = vgem.attach_fence(&buffer, FenceAccess::Write).unwrap();
    let sync_file = SyncFile::export_from_dmabuf(buffer.dmabuf(), SyncAccess::Read).unwrap();

    let mut event_loop = EventLoop::<LoopState>::try_new().unwrap();
    event_loop
        .handle()
        .insert_source(
            FenceSource::new(sync_file),
            |sync_file, &mut (), state: &mut LoopState| {
                assert!(state.fired.is_none(), "fired twice");
                state.fired = Some(sync_file);
            },
        )
        .unwrap();
    event_loop
        .handle()
        .insert_source(Timer::immediate(), |_, &mut (), state: &mut LoopState| {
            state.ticks += 1;
            TimeoutAction::ToDuration(Duration::from_millis(5))
        })
        .unwrap();

    let mut state = LoopState::default();
    for _ in 0..5 {
        event_loop
            .dispatch(Some(Duration::from_millis(20)), &mut state)
            .unwrap();
    }
    assert!(state.fired.is_none(), "fired before the fence signalled");
    assert!(
        state.ticks >= 3,
        "the loop stalled: {} timer ticks",
        state.ticks
    );

    vgem.signal(fence).unwrap();
    for _ in 0..50 {
        if state.fired.is_some() {
            break;
        }
        event_loop
            .dispatch(Some(Duration::from_millis(20)), &mut state)
            .unwrap();
    }
    let sync_file = state
        .fired
        .take()
        .expect("the source fired after the signal");
    assert!(sync_file.is_signalled().unwrap());
    for _ in 0..3 {
        event_loop
            .dispatch(Some(Duration::from_millis(5)), &mut state)
            .unwrap();
    }
    assert!(state.fired.is_none(), "fired twice");
}

#[test]
fn fence_source_fires_at_once_for_a_signalled_fence() {
    common::require_guest();
    let udmabuf = Udmabuf::open().unwrap().alloc(4096).unwrap();
    let sync_file = SyncFile::export_from_dmabuf(udmabuf.as_fd(), SyncAccess::Read).unwrap();

    let mut event_loop = EventLoop::<LoopState>::try_new().unwrap();
    event_loop
        .handle()
        .insert_source(
            FenceSource::new(sync_file),
            |sync_file, &mut (), state: &mut LoopState| {
                state.fired = Some(sync_file);
            },
        )
        .unwrap();
    let mut state = LoopState::default();
    event_loop
        .dispatch(Some(Duration::ZERO), &mut state)
        .unwrap();
    assert!(state.fired.is_some());
}
