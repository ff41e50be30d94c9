//! Misuse of dmabridge-buffer-copy-v1, and a flood of copies.

use super::*;

/// A `dmabridge_buffer_copy_v1` from a new `src_size` buffer to a new
/// `dst_size` one (ARGB8888, each in a pool of its own), through a manager
/// bound at version 1; (manager, copy).
fn buffer_copy(wire: &mut Wire, src_size: (i32, i32), dst_size: (i32, i32)) -> (u32, u32) {
    buffer_copy_at(wire, 1, src_size, dst_size)
}

/// [`buffer_copy`] through a manager bound at `version`.
fn buffer_copy_at(
    wire: &mut Wire,
    version: u32,
    src_size: (i32, i32),
    dst_size: (i32, i32),
) -> (u32, u32) {
    let src = buffer(wire, src_size.0, src_size.1);
    let dst = buffer(wire, dst_size.0, dst_size.1);
    let manager = wire.bind("dmabridge_buffer_copy_manager_v1", version);
    let copy = wire.new_id();
    wire.send(
        manager,
        1,
        &[Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)],
    );
    (manager, copy)
}

/// `dmabridge_buffer_copy_v1` opcodes.
mod copy_op {
    pub(super) const SET_SOURCE: u16 = 1;
    pub(super) const SET_DESTINATION: u16 = 2;
    pub(super) const SET_TRANSFORM: u16 = 3;
    pub(super) const SET_FILTER: u16 = 4;
    pub(super) const SET_ACQUIRE: u16 = 5;
    pub(super) const SET_RELEASE: u16 = 6;
    pub(super) const SUBMIT: u16 = 7;
    /// Events.
    pub(super) const RELEASE: u16 = 0;
    pub(super) const DONE: u16 = 1;
    pub(super) const FAILED: u16 = 2;
}

/// Four ints as wl_fixed, the way `set_source` takes its rectangle.
fn fixed_rect(x: i32, y: i32, w: i32, h: i32) -> [Arg<'static>; 4] {
    [x, y, w, h].map(|v| Arg::Fixed(v * 256))
}

/// Four ints, the way `set_destination` takes its rectangle.
fn int_rect(x: i32, y: i32, w: i32, h: i32) -> [Arg<'static>; 4] {
    [x, y, w, h].map(Arg::Int)
}

/// Every protocol error dmabridge-buffer-copy-v1 names, raised on the
/// object it names; copies whose buffers go away fail without one; and a
/// client that keeps large copies queued costs the others no frame.
#[test]
fn buffer_copy_misuse_gets_the_spec_error_and_a_copy_flood_delays_no_one() {
    use copy_op::*;
    let mut stage = Stage::start();
    stage.run("buffer copy: one wl_buffer on both sides", |w| {
        let buffer = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(buffer), Arg::Object(buffer)];
        w.send(manager, 1, &args);
        Some((manager, 0)) // same_buffer
    });
    stage.run("buffer copy: an empty source rectangle", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(0, 0, 0, 4));
        Some((copy, 1)) // invalid_size
    });
    stage.run("buffer copy: a negative destination height", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_DESTINATION, &int_rect(0, 0, 4, -1));
        Some((copy, 1)) // invalid_size
    });
    stage.run("buffer copy: a source on half a pixel, version 1", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        let mut rect = fixed_rect(0, 0, 4, 4);
        rect[0] = Arg::Fixed(128);
        w.send(copy, SET_SOURCE, &rect);
        Some((copy, 3)) // fractional_source
    });
    stage.run(
        "buffer copy: a source on half a pixel, version 2, no filter",
        |w| {
            let (_, copy) = buffer_copy_at(w, 2, (8, 8), (8, 8));
            let mut rect = fixed_rect(0, 0, 4, 4);
            rect[0] = Arg::Fixed(128);
            w.send(copy, SET_SOURCE, &rect);
            w.send(copy, SET_DESTINATION, &int_rect(0, 0, 4, 4));
            w.send(copy, SUBMIT, &[]);
            Some((copy, 6)) // no_filter: a fractional source resamples
        },
    );
    stage.run(
        "buffer copy: a source cutting a pixel past its buffer",
        |w| {
            let (_, copy) = buffer_copy_at(w, 2, (8, 8), (8, 8));
            // 4.5 + 3.75 = 8.25: the pixel at 8 is touched, and is not there.
            let rect = [4 * 256 + 128, 0, 3 * 256 + 192, 4 * 256].map(Arg::Fixed);
            w.send(copy, SET_SOURCE, &rect);
            w.send(copy, SET_FILTER, &[Arg::Uint(1)]);
            w.send(copy, SUBMIT, &[]);
            Some((copy, 2)) // out_of_bounds
        },
    );
    stage.run("buffer copy: a source reaching past its buffer", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(4, 4, 8, 8));
        w.send(copy, SET_DESTINATION, &int_rect(0, 0, 8, 8));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 2)) // out_of_bounds
    });
    stage.run("buffer copy: a destination left of its buffer", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_SOURCE, &fixed_rect(0, 0, 4, 4));
        w.send(copy, SET_DESTINATION, &int_rect(-1, 0, 4, 4));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 2)) // out_of_bounds
    });
    stage.run("buffer copy: buffers of two sizes, no rectangles", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (16, 16));
        w.send(copy, SUBMIT, &[]);
        Some((copy, 6)) // no_filter
    });
    stage.run("buffer copy: a turned copy that scales, no filter", |w| {
        let (_, copy) = buffer_copy(w, (8, 4), (8, 4));
        w.send(copy, SET_TRANSFORM, &[Arg::Int(1)]);
        w.send(copy, SUBMIT, &[]);
        Some((copy, 6)) // no_filter: 8×4 turned is 4×8
    });
    stage.run("buffer copy: transform 8", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_TRANSFORM, &[Arg::Int(8)]);
        Some((copy, 4)) // invalid_transform
    });
    stage.run("buffer copy: filter 2", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SET_FILTER, &[Arg::Uint(2)]);
        Some((copy, 5)) // invalid_filter
    });
    stage.run("buffer copy: an acquire fence that is a memfd", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        let fd = memfd(4096);
        w.send(copy, SET_ACQUIRE, &[Arg::Fd(fd.as_fd())]);
        Some((copy, 7)) // invalid_fence
    });
    stage.run("buffer copy: set_filter after submit", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, SET_FILTER, &[Arg::Uint(0)]);
        Some((copy, 0)) // already_submitted
    });
    stage.run("buffer copy: submit twice", |w| {
        let (_, copy) = buffer_copy(w, (8, 8), (8, 8));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, SUBMIT, &[]);
        Some((copy, 0)) // already_submitted
    });
    stage.run("buffer copy: a source destroyed before submit", |w| {
        let src = buffer(w, 8, 8);
        let dst = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
        w.send(manager, 1, &args);
        w.send(src, 0, &[]);
        w.send(copy, SUBMIT, &[]);
        let failed = wait_for(w, copy, FAILED).expect("failed");
        assert_eq!(failed.word(0), 1, "buffer_gone");
        None
    });
    stage.run("buffer copy: a destination destroyed after submit", |w| {
        let src = buffer(w, 64, 64);
        let dst = buffer(w, 64, 64);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
        w.send(manager, 1, &args);
        w.send(copy, SUBMIT, &[]);
        w.send(dst, 0, &[]);
        // Whichever the compositor reached first: one answer, no error.
        let deadline = Instant::now() + Duration::from_secs(10);
        while w.events_of(copy).count() == 0 && Instant::now() < deadline {
            w.roundtrip();
        }
        let answers: Vec<u16> = w.events_of(copy).map(|e| e.opcode).collect();
        assert!(
            answers == [DONE] || answers == [FAILED],
            "answers: {answers:?}"
        );
        None
    });
    stage.run("buffer copy: into an NV12 buffer", |w| {
        // NV12 is read, never written: the copy fails, no error.
        let src = buffer(w, 8, 8);
        let (_, pool) = pool(w, 8 * 12);
        let dst = w.new_id();
        // 8×8, stride 8: 64 bytes of Y, 32 of CbCr.
        let args = [
            Arg::NewId(dst),
            Arg::Int(0),
            Arg::Int(8),
            Arg::Int(8),
            Arg::Int(8),
            Arg::Uint(0x3231_564e), // NV12
        ];
        w.send(pool, 0, &args);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        let copy = w.new_id();
        let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
        w.send(manager, 1, &args);
        w.send(copy, SUBMIT, &[]);
        let failed = wait_for(w, copy, FAILED).expect("failed");
        assert_eq!(failed.word(0), 0, "unsupported");
        None
    });
    stage.run("buffer copy: 65 copy objects", |w| {
        let src = buffer(w, 8, 8);
        let dst = buffer(w, 8, 8);
        let manager = w.bind("dmabridge_buffer_copy_manager_v1", 1);
        for _ in 0..65 {
            let copy = w.new_id();
            let args = [Arg::NewId(copy), Arg::Object(src), Arg::Object(dst)];
            w.send(manager, 1, &args);
        }
        Some((1, NO_MEMORY))
    });
    stage.run("buffer copy: set_release", |w| {
        let (_, copy) = buffer_copy(w, (64, 64), (64, 64));
        w.send(copy, SET_RELEASE, &[]);
        w.send(copy, SUBMIT, &[]);
        wait_for(w, copy, DONE).expect("done");
        // The release fence, where the device exports one, comes first.
        let events: Vec<u16> = w.events_of(copy).map(|e| e.opcode).collect();
        assert!(
            events == [DONE] || events == [RELEASE, DONE],
            "events: {events:?}"
        );
        None
    });
    stage.run("buffer copy: a copy object destroyed after submit", |w| {
        let (_, copy) = buffer_copy(w, (64, 64), (64, 64));
        w.send(copy, SUBMIT, &[]);
        w.send(copy, 0, &[]);
        w.roundtrip();
        None
    });

    // Sixteen 1024×1024 copies, turned and filtered, queued all along.
    let (mut flooder, lines) = stage.session.spawn_client(&["--copy-flood", "3"]);
    lines.expect("flooding", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(60);
    let flooded = loop {
        stage.assert_observer_drew("a flood of buffer copies");
        if let Some(line) = lines.drain().into_iter().find(|l| l.starts_with("flooded")) {
            break line;
        }
        assert!(Instant::now() < deadline, "the flood did not end");
    };
    assert!(flooder.wait().unwrap().success(), "the flooder failed");
    let copies: u64 = flooded["flooded ".len()..].parse().unwrap();
    assert!(copies > 16, "only {copies} copies were done");
    stage.finish();
}
