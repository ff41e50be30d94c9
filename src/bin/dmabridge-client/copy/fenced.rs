//! The fenced copies of `--copy-dmabuf` and `--copy-timeline`: dma-bufs
//! guarded by implicit and explicit fences, and linux-drm-syncobj-v1
//! timeline points, each copy held until its fences allow it.

use super::*;

/// How long a fenced copy is watched for an answer that must not come yet.
const HOLD: Duration = Duration::from_millis(1500);

/// `--copy-dmabuf`: copies with udmabufs on either side (LINEAR, through
/// linux-dmabuf), and the fences that guard them. Each check prints a line;
/// a failed one ends the run with an error.
///
/// * dma-buf to dma-buf (ARGB8888 to XBGR8888) under every transform,
///   scaled, `wl_shm` to dma-buf and back, and an NV12 dma-buf to `wl_shm`
///   where NV12 is offered, against the reference;
/// * a source carrying a pending write fence (vgem, moved into the
///   udmabuf): no answer until the fence is signalled, then the right
///   pixels (`fenced source held`);
/// * an explicit acquire fence (`set_acquire`, a pending vgem fence): the
///   same (`acquire held`);
/// * `set_release`: the release fence, where the compositor sends one, has
///   signalled by `done`, and so has the destination's implicit fence
///   (`release checked`).
pub(crate) fn run_dmabuf(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh, 1)?;
    let linux_dmabuf: ZwpLinuxDmabufV1 = globals
        .bind(&qh, 3..=3, ())
        .context("the compositor has no zwp_linux_dmabuf_v1")?;
    queue.roundtrip(app)?;
    let mut tally = Tally::default();
    let mut src = Image::udmabuf(&linux_dmabuf, &qh, DrmFourcc::Argb8888, SRC, 1)?;
    let src_planes = src.read()?;
    let mut dst = Image::udmabuf(&linux_dmabuf, &qh, DrmFourcc::Xbgr8888, DST, 2)?;
    let dst_planes = dst.read()?;
    let shm_bytes = vec![reference::noise(4, (SRC.0 * SRC.1 * 4) as usize)];
    let shm_src = Image::shm(shm, &qh, FORMATS[1], SRC, &shm_bytes[0])?;
    let shm_dst_bytes = [reference::noise(5, (DST.0 * DST.1 * 4) as usize)];
    let mut shm_dst = Image::shm(shm, &qh, FORMATS[0], DST, &shm_dst_bytes[0])?;
    // NV12 where the compositor's device converts it (it offers it).
    let mut nv12 = if app.dmabuf_formats.contains(&(DrmFourcc::Nv12 as u32)) {
        Some(Image::udmabuf(&linux_dmabuf, &qh, DrmFourcc::Nv12, SRC, 3)?)
    } else {
        say(format_args!("NV12 is not offered: no NV12 source"));
        None
    };
    let nv12_planes = nv12.as_mut().map(Image::read).transpose()?;
    // The wl_shm matrix covers every format pair; here each transform
    // once between dma-bufs, a scaled copy each way and a copy each way
    // between wl_shm and dma-buf: copies under TCG take a while.
    for (n, case) in cases().iter().enumerate() {
        let session = (&manager, &mut *queue, &mut *app);
        match (n % 3, case.transform) {
            (0, _) | (2, Transform::Normal) => {
                tally.check(session, (&src, &src_planes), (&mut dst, &dst_planes), case)?;
            }
            (1, Transform::_90) => {
                let dst = (&mut dst, &dst_planes[..]);
                tally.check(session, (&shm_src, &shm_bytes), dst, case)?;
            }
            (2, Transform::Flipped270) => {
                let dst = (&mut shm_dst, &shm_dst_bytes[..]);
                tally.check(session, (&src, &src_planes), dst, case)?;
            }
            (2, Transform::_90 | Transform::Flipped) => {
                if let (Some(nv12), Some(planes)) = (&nv12, &nv12_planes) {
                    let dst = (&mut shm_dst, &shm_dst_bytes[..]);
                    tally.check(session, (nv12, planes), dst, case)?;
                }
            }
            _ => {}
        }
    }
    tally.finish()?;

    let exact = &cases()[0];
    let vgem = Vgem::open().context("vgem")?;
    // A source whose producer has not finished: its write fence pending.
    let held = reference::noise(6, src_planes[0].len());
    src.write(std::slice::from_ref(&held))?;
    let fenced = vgem.alloc(64, 64, DrmFourcc::Xrgb8888, 32)?;
    let fence = vgem.attach_fence(&fenced, FenceAccess::Write)?;
    let write = SyncFile::export_from_dmabuf(fenced.dmabuf(), SyncAccess::Read)?;
    src.dmabuf()
        .context("a udmabuf")?
        .import_sync_file(&write, SyncAccess::Write)?;
    dst.write(&dst_planes)?;
    let copy = describe(&manager, &qh, (&src, &dst), exact, 1_000);
    copy.submit();
    hold(queue, app, 1_000, || vgem.signal(fence))?;
    expect_match((&src, &[held]), (&mut dst, &dst_planes), exact)?;
    copy.destroy();
    say(format_args!("fenced source held"));

    // An explicit acquire fence, pending.
    let fence = vgem.attach_fence(&fenced, FenceAccess::Write)?;
    let acquire = SyncFile::export_from_dmabuf(fenced.dmabuf(), SyncAccess::Read)?;
    dst.write(&dst_planes)?;
    let copy = describe(&manager, &qh, (&src, &dst), exact, 1_001);
    copy.set_acquire(acquire.as_fd());
    copy.submit();
    let src_planes = src.read()?;
    hold(queue, app, 1_001, || vgem.signal(fence))?;
    expect_match((&src, &src_planes), (&mut dst, &dst_planes), exact)?;
    copy.destroy();
    say(format_args!("acquire held"));

    // A release fence, and the destination's implicit fence.
    dst.write(&dst_planes)?;
    let copy = describe(&manager, &qh, (&src, &dst), exact, 1_002);
    copy.set_release();
    copy.submit();
    if answer(queue, app, 1_002)? != Answer::Done {
        bail!("the copy with a release fence failed");
    }
    copy.destroy();
    let released = app.releases.iter().find(|(id, _)| *id == 1_002);
    if let Some((_, fd)) = released {
        let fence = SyncFile::from_fd(fd.try_clone()?)?;
        if !fence.is_signalled()? {
            bail!("the release fence had not signalled at done");
        }
    }
    let readers = dst
        .dmabuf()
        .context("a udmabuf")?
        .export_sync_file(SyncAccess::Read)?;
    if !readers.is_signalled()? {
        bail!("the destination's write fence had not signalled at done");
    }
    expect_match((&src, &src_planes), (&mut dst, &dst_planes), exact)?;
    say(format_args!(
        "release checked ({})",
        if released.is_some() {
            "fence sent"
        } else {
            "no fence: the device had completed the copy"
        }
    ));
    Ok(())
}

/// Watches copy `id` for [`HOLD`] (round trips: the compositor keeps
/// answering), fails if it was answered, then calls `release` and waits
/// for `done`.
fn hold<E: std::error::Error + Send + Sync + 'static>(
    queue: &mut EventQueue<App>,
    app: &mut App,
    id: u64,
    release: impl FnOnce() -> Result<(), E>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    while start.elapsed() < HOLD {
        queue.roundtrip(app)?;
        if app.copies.iter().any(|(i, _)| *i == id) {
            bail!("copy {id} was answered while its fence was pending");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    release()?;
    match answer(queue, app, id)? {
        Answer::Done => Ok(()),
        Answer::Failed(reason) => bail!("copy {id} failed ({reason})"),
    }
}

/// `--copy-timeline`: linux-drm-syncobj-v1 timeline points for copies
/// between `wl_shm` buffers (version 2). Each check prints a line; a failed
/// one ends the run with an error.
///
/// * a copy whose acquire point is unsignalled: no answer until the client
///   signals it, and its release point unsignalled until then; at `done`
///   the release point has signalled and the destination holds the
///   reference's pixels (`acquire point held`, `release point signalled`);
/// * a copy whose destination was destroyed: `failed` with `buffer_gone`,
///   its release point signalled (`release point signalled on failure`);
/// * an acquire and a release point at one point of one timeline, on a
///   second connection: `conflicting_points` (`conflicting_points raised`);
/// * an acquire point and an acquire fence on one copy: the
///   `conflicting_acquire` protocol error, which ends the connection
///   (`conflicting_acquire raised`).
pub(crate) fn run_timeline(
    globals: &GlobalList,
    shm: &WlShm,
    queue: &mut EventQueue<App>,
    app: &mut App,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager = manager(globals, &qh, 2)?;
    let syncobj: WpLinuxDrmSyncobjManagerV1 = globals
        .bind(&qh, 1..=1, ())
        .context("the compositor has no wp_linux_drm_syncobj_manager_v1")?;
    let (timeline, object) = import_timeline(&syncobj, &qh)?;
    let split = |p: u64| ((p >> 32) as u32, p as u32);
    let src_bytes = [reference::noise(7, (SRC.0 * SRC.1 * 4) as usize)];
    let src = Image::shm(shm, &qh, FORMATS[0], SRC, &src_bytes[0])?;
    let dst_bytes = [reference::noise(8, (DST.0 * DST.1 * 4) as usize)];
    let mut dst = Image::shm(shm, &qh, FORMATS[1], DST, &dst_bytes[0])?;
    let exact = &cases()[0];

    // Points past 2³² check that both halves are read.
    let (acquire, release) = ((1 << 32) + 1, (1 << 32) + 2);
    let copy = describe(&manager, &qh, (&src, &dst), exact, 2_000);
    let (hi, lo) = split(acquire);
    copy.set_acquire_point(&object, hi, lo);
    let (hi, lo) = split(release);
    copy.set_release_point(&object, hi, lo);
    copy.submit();
    hold(queue, app, 2_000, || {
        // Still held: the release point must not have signalled yet.
        match timeline.wait(release, Duration::ZERO) {
            Ok(false) => timeline.signal(acquire).map_err(std::io::Error::other),
            Ok(true) => Err(std::io::Error::other(
                "the release point signalled before the acquire point",
            )),
            Err(err) => Err(std::io::Error::other(err)),
        }
    })?;
    say(format_args!("acquire point held"));
    if !timeline.wait(release, Duration::ZERO)? {
        bail!("the release point had not signalled at done");
    }
    expect_match((&src, &src_bytes), (&mut dst, &dst_bytes), exact)?;
    copy.destroy();
    say(format_args!("release point signalled"));

    // A copy that fails signals its release point too.
    let gone = Image::shm(shm, &qh, FORMATS[1], DST, &dst_bytes[0])?;
    let copy = describe(&manager, &qh, (&src, &gone), exact, 2_001);
    gone.buffer.destroy();
    let release = release + 2;
    let (hi, lo) = split(release);
    copy.set_release_point(&object, hi, lo);
    copy.submit();
    match answer(queue, app, 2_001)? {
        Answer::Failed(1) => {}
        other => bail!("a copy into a destroyed buffer answered {other:?}"),
    }
    if !timeline.wait(release, Duration::ZERO)? {
        bail!("the release point had not signalled at failed");
    }
    copy.destroy();
    say(format_args!("release point signalled on failure"));

    // A release point not after the acquire point on one timeline: a
    // protocol error, which ends a second connection.
    let conn = Connection::connect_to_env()?;
    let (other_globals, mut other_queue) = registry_queue_init::<App>(&conn)?;
    let mut other_app = App::default();
    let other_qh = other_queue.handle();
    let other_manager = self::manager(&other_globals, &other_qh, 2)?;
    let other_syncobj: WpLinuxDrmSyncobjManagerV1 = other_globals.bind(&other_qh, 1..=1, ())?;
    let other_object = other_syncobj.import_timeline(timeline.export()?.as_fd(), &other_qh, ());
    let other_shm: WlShm = other_globals.bind(&other_qh, 1..=1, ())?;
    let a = Image::shm(&other_shm, &other_qh, FORMATS[0], SRC, &src_bytes[0])?;
    let b = Image::shm(&other_shm, &other_qh, FORMATS[1], DST, &dst_bytes[0])?;
    let copy = describe(&other_manager, &other_qh, (&a, &b), exact, 1);
    copy.set_acquire_point(&other_object, 0, 9);
    copy.set_release_point(&other_object, 0, 9);
    copy.submit();
    let code = dmabridge_buffer_copy_v1::Error::ConflictingPoints;
    expect_copy_error(&mut other_queue, &mut other_app, code)?;
    say(format_args!("conflicting_points raised"));

    // Both kinds of acquire fence: a protocol error, this connection's end.
    // An idle udmabuf's fence: a sync_file, already signalled.
    let idle = Udmabuf::open()?.allocate(DrmFourcc::Argb8888, 16, 16)?;
    let signalled = idle.export_sync_file(SyncAccess::Read)?;
    let copy = describe(&manager, &qh, (&src, &dst), exact, 2_002);
    copy.set_acquire(signalled.as_fd());
    let (hi, lo) = split(acquire);
    copy.set_acquire_point(&object, hi, lo);
    copy.submit();
    expect_copy_error(
        queue,
        app,
        dmabridge_buffer_copy_v1::Error::ConflictingAcquire,
    )?;
    say(format_args!("conflicting_acquire raised"));
    Ok(())
}

/// Waits for the protocol error `code` on a `dmabridge_buffer_copy_v1`.
fn expect_copy_error(
    queue: &mut EventQueue<App>,
    app: &mut App,
    code: dmabridge_buffer_copy_v1::Error,
) -> anyhow::Result<()> {
    match queue.roundtrip(app) {
        Err(DispatchError::Backend(WaylandError::Protocol(err)))
            if err.code == code as u32 && err.object_interface == "dmabridge_buffer_copy_v1" =>
        {
            Ok(())
        }
        other => bail!("expected {code:?}, got {other:?}"),
    }
}

/// [`compare`], as an error.
fn expect_match(
    src: (&Image, &[Vec<u8>]),
    dst: (&mut Image, &[Vec<u8>]),
    case: &Case,
) -> anyhow::Result<()> {
    match compare(src, dst, case)? {
        None => Ok(()),
        Some(why) => bail!("the copy differs from the reference: {why}"),
    }
}
