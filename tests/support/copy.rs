//! Helpers shared by the copy tests.

use dmabridge::copy::{Point, Rect, Size};

/// A rectangle in coordinate space `S`.
pub(crate) fn rect<S>(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, S> {
    Rect::new(Point::new(x, y), Size::new(w, h))
}

/// Deterministic noise (xorshift32).
pub(crate) fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[1]
        })
        .collect()
}
