//! Helpers shared by the copy tests.

use dmabridge::copy::{Point, Rect, Size};

/// A rectangle in coordinate space `S`.
pub(crate) fn rect<S>(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, S> {
    Rect::new(Point::new(x, y), Size::new(w, h))
}
