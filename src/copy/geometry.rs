//! Points, sizes and rectangles typed by the coordinate space they live in,
//! as smithay's `Point<N, Kind>`: a source-buffer rectangle cannot be handed
//! where a destination rectangle is expected.

use std::marker::PhantomData;

/// Coordinate space of the source buffer: pixels, origin at its top-left
/// corner, x to the right, y down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Buffer {}

/// Coordinate space of the destination buffer: pixels, origin at its
/// top-left corner, x to the right, y down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {}

/// A point in space `S`. In pixel coordinates, pixel `(i, j)` covers
/// `[i, i + 1) × [j, j + 1)` and its centre is `(i + 0.5, j + 0.5)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point<T, S> {
    /// Horizontal coordinate, growing to the right.
    pub x: T,
    /// Vertical coordinate, growing downwards.
    pub y: T,
    space: PhantomData<S>,
}

impl<T, S> Point<T, S> {
    /// The point `(x, y)`.
    pub const fn new(x: T, y: T) -> Self {
        Self {
            x,
            y,
            space: PhantomData,
        }
    }
}

/// A width and height in space `S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Size<T, S> {
    /// Width.
    pub w: T,
    /// Height.
    pub h: T,
    space: PhantomData<S>,
}

impl<T, S> Size<T, S> {
    /// The size `w × h`.
    pub const fn new(w: T, h: T) -> Self {
        Self {
            w,
            h,
            space: PhantomData,
        }
    }
}

/// A rectangle in space `S`: `[loc.x, loc.x + size.w) × [loc.y, loc.y + size.h)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect<T, S> {
    /// The top-left corner.
    pub loc: Point<T, S>,
    /// The extent.
    pub size: Size<T, S>,
}

impl<T, S> Rect<T, S> {
    /// The rectangle at `loc` of extent `size`.
    pub const fn new(loc: Point<T, S>, size: Size<T, S>) -> Self {
        Self { loc, size }
    }
}

impl<S: Copy> Rect<i32, S> {
    /// The pixels both rectangles cover; `None` where they share none.
    pub(crate) fn intersection(&self, other: &Self) -> Option<Self> {
        let span = |a0: i32, al: i32, b0: i32, bl: i32| {
            let start = a0.max(b0);
            let end = (i64::from(a0) + i64::from(al)).min(i64::from(b0) + i64::from(bl));
            // Between two ends that are each at or past `start`.
            (end > i64::from(start)).then(|| (start, (end - i64::from(start)) as i32))
        };
        let (x, w) = span(self.loc.x, self.size.w, other.loc.x, other.size.w)?;
        let (y, h) = span(self.loc.y, self.size.h, other.loc.y, other.size.h)?;
        Some(Self::new(Point::new(x, y), Size::new(w, h)))
    }

    /// The number of pixels covered; 0 for an empty or negative extent.
    pub(crate) fn area(&self) -> i64 {
        i64::from(self.size.w.max(0)) * i64::from(self.size.h.max(0))
    }

    /// The pixels of this rectangle outside `hole`, as at most four
    /// rectangles that share none: the rows above and below the hole, then
    /// the parts left and right of it. For rectangles whose far edges
    /// lie in `i32`, as a checked clip's do (inside its buffer).
    pub(crate) fn subtract(&self, hole: &Self) -> Vec<Self> {
        let Some(cut) = self.intersection(hole) else {
            return vec![*self];
        };
        let end = |r: &Self| (r.loc.x + r.size.w, r.loc.y + r.size.h);
        let ((x0, y0), (x1, y1)) = ((self.loc.x, self.loc.y), end(self));
        let ((cx0, cy0), (cx1, cy1)) = ((cut.loc.x, cut.loc.y), end(&cut));
        let rect = |x: i32, y: i32, right: i32, bottom: i32| {
            Self::new(Point::new(x, y), Size::new(right - x, bottom - y))
        };
        [
            rect(x0, y0, x1, cy0),
            rect(x0, cy1, x1, y1),
            rect(x0, cy0, cx0, cy1),
            rect(cx1, cy0, x1, cy1),
        ]
        .into_iter()
        .filter(|r| r.area() > 0)
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, Dest> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    #[test]
    fn intersections_and_areas() {
        let a = rect(0, 0, 10, 8);
        assert_eq!(a.intersection(&rect(4, 2, 10, 10)), Some(rect(4, 2, 6, 6)));
        assert_eq!(a.intersection(&rect(10, 0, 5, 5)), None, "edges touch");
        assert_eq!(a.intersection(&rect(-5, -5, 0, 100)), None, "empty");
        let far = rect(i32::MAX - 1, 0, i32::MAX, 1);
        assert_eq!(far.intersection(&far), Some(far), "no overflow");
        assert_eq!(a.area(), 80);
        assert_eq!(rect(0, 0, -3, 4).area(), 0);
    }

    #[test]
    fn a_hole_leaves_disjoint_pieces_covering_the_rest() {
        let whole = rect(2, 3, 20, 15);
        for hole in [
            rect(5, 6, 4, 3),
            rect(0, 0, 8, 8),
            rect(10, 10, 50, 50),
            rect(2, 3, 20, 15),
            rect(-10, 5, 100, 2),
            rect(30, 30, 5, 5),
        ] {
            let pieces = whole.subtract(&hole);
            assert!(pieces.len() <= 4);
            let cut = whole.intersection(&hole).map_or(0, |c| c.area());
            let sum: i64 = pieces.iter().map(Rect::area).sum();
            assert_eq!(sum, whole.area() - cut, "{hole:?}");
            for (i, p) in pieces.iter().enumerate() {
                assert_eq!(p.intersection(&whole), Some(*p), "inside: {hole:?}");
                assert_eq!(p.intersection(&hole), None, "outside the hole: {hole:?}");
                for q in &pieces[i + 1..] {
                    assert_eq!(p.intersection(q), None, "disjoint: {hole:?}");
                }
            }
        }
    }
}
