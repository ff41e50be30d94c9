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
