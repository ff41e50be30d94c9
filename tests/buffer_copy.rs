//! dmabridge-buffer-copy-v1 end to end: `dmabridge run` (headless) and
//! `dmabridge-client --copy` as separate processes on a real socket. The
//! client copies between `wl_shm` buffers of every pair of the four packed
//! formats, under each of the eight transforms, exact and scaled with
//! either filter, from a rectangle of noise into a rectangle of a
//! destination that holds noise, and compares every destination byte with
//! the library's CPU reference (`copy::reference`): exact, or ±1 per
//! channel for linear filtering. A pixel written outside its rectangle, a
//! wrong turn, a wrong conversion or a `done` sent before the pixels
//! arrived fails the client, and with it this test.
//!
//! The protocol's errors, buffers that go away mid-copy and a flood of
//! copies next to a drawing client are hostile cases (`tests/hostile/`),
//! where an observer's frames are watched throughout.

#[path = "support/compositor.rs"]
mod support;

use support::Session;

#[test]
fn every_transform_and_format_pair_matches_the_cpu_reference() {
    let session = Session::start((64, 64), &[]);
    let out = session
        .client(&["--copy"])
        .output()
        .expect("running dmabridge-client --copy");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mismatches: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("mismatch"))
        .collect();
    assert!(
        out.status.success() && mismatches.is_empty(),
        "{}\n{}",
        mismatches.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    // 16 format pairs × 8 transforms × (exact, nearest, linear).
    assert!(
        stdout.lines().any(|l| l == "copies 384 mismatched 0"),
        "{stdout}"
    );
}
