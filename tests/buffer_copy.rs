//! dmabridge-buffer-copy-v1 end to end: `dmabridge run` (headless) and
//! `dmabridge-client --copy` as separate processes on a real socket. The
//! client copies between `wl_shm` buffers of every pair of the four packed
//! formats, and from an NV12 `wl_shm` buffer into each of them
//! (`--copy-nv12`), under each of the eight transforms, exact and scaled
//! with either filter, and from a source rectangle whose edges cut pixels
//! (`--copy-fractional`, version 2), from a rectangle of noise into a rectangle of a
//! destination that holds noise, and compares every destination byte with
//! the library's CPU reference (`copy::reference`): exact, or ±1 per
//! channel for linear filtering and NV12 sources. A pixel written outside
//! its rectangle, a wrong turn, a wrong conversion or a `done` sent before
//! the pixels arrived fails the client, and with it this test.
//!
//! The protocol's errors, buffers that go away mid-copy and a flood of
//! copies next to a drawing client are hostile cases (`tests/hostile/`),
//! where an observer's frames are watched throughout.

#[path = "support/compositor.rs"]
mod support;

use support::Session;

/// Runs `dmabridge-client MODE` against `session` and checks that it made
/// `copies` copies, none of them different from the reference.
fn assert_copies_match(session: &Session, mode: &str, copies: u32) {
    let out = session
        .client(&[mode])
        .output()
        .unwrap_or_else(|err| panic!("running dmabridge-client {mode}: {err}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mismatches: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mismatch"))
        .collect();
    assert!(
        out.status.success() && mismatches.is_empty(),
        "{mode}: {}\n{}",
        mismatches.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    let tally = format!("copies {copies} mismatched 0");
    assert!(stdout.lines().any(|l| l == tally), "{mode}: {stdout}");
}

#[test]
fn every_transform_and_format_pair_matches_the_cpu_reference() {
    let session = Session::start((64, 64), &[]);
    // 16 format pairs × 8 transforms × (exact, nearest, linear).
    assert_copies_match(&session, "--copy", 384);
    // An NV12 wl_shm source (offset in its pool, stride wider than its
    // width) into each packed format: 4 × 8 × 3, within ±1 per channel.
    assert_copies_match(&session, "--copy-nv12", 96);
    // Version 2: an ARGB8888 source rectangle whose edges cut pixels, at
    // its own size and scaled, either filter, into each packed format:
    // 4 × 8 × 2 × 2.
    assert_copies_match(&session, "--copy-fractional", 128);
}
