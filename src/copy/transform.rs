//! The eight `wl_output.transform` values, and what one does to a copy.

use super::geometry::Size;

/// A `wl_output.transform` value. The discriminant is the protocol's value.
///
/// # Convention
///
/// A copy's transform is applied to the **source region's content** to give
/// what the destination rectangle shows: `_90` shows the source rotated 90°
/// counter-clockwise (as seen on screen, y down), `Flipped` shows it mirrored
/// left to right, `Flipped90` mirrored and then rotated 90°
/// counter-clockwise. That is the wording of `wl_output.transform` ("flip
/// around a vertical axis" first, then rotate counter-clockwise), read as an
/// operation on pixels.
///
/// `wl_surface.set_buffer_transform` names "the transformation that the
/// client has already applied to the content of the buffer", and "the
/// compositor applies the inverse of this transformation whenever it uses the
/// buffer contents". So, from the compositor's side:
///
/// * copying a client buffer with buffer transform `B` into surface
///   orientation (upright) takes `B.invert()`;
/// * rendering upright content into the framebuffer of an output whose
///   transform is `O` takes `O`, the transform a client pre-applies when it
///   sets buffer transform `O` for that output;
/// * so a client buffer with `B == O` goes to that output with
///   `B.invert().compose(O) == Normal`: a plain copy, which is the
///   optimisation the protocol describes.
///
/// Cross-check with Weston: `weston_transformed_coord` maps a surface point
/// to the buffer point showing it, for buffer transform `_90` as
/// `(sy, width − sx)`. That is this type's `_90` taking surface content to
/// buffer content, so the compositor's buffer-to-surface copy is the
/// inverse, [`Transform::_270`]. The tests check all eight against Weston's
/// table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transform {
    /// No transform.
    Normal = 0,
    /// Rotated 90° counter-clockwise.
    _90 = 1,
    /// Rotated 180°.
    _180 = 2,
    /// Rotated 270° counter-clockwise (90° clockwise).
    _270 = 3,
    /// Mirrored around the vertical axis.
    Flipped = 4,
    /// Mirrored, then rotated 90° counter-clockwise (a transpose).
    Flipped90 = 5,
    /// Mirrored, then rotated 180° (mirrored around the horizontal axis).
    Flipped180 = 6,
    /// Mirrored, then rotated 270° counter-clockwise (an anti-transpose).
    Flipped270 = 7,
}

/// An affine map of the unit square onto itself with integer coefficients:
/// `(u, v) ↦ (m[0][0]·u + m[0][1]·v + m[0][2], m[1][0]·u + m[1][1]·v + m[1][2])`,
/// `u` across and `v` down, both in `[0, 1]` over the whole region.
pub(super) type UnitMap = [[i8; 3]; 2];

impl Transform {
    /// The eight transforms, in protocol order.
    pub const ALL: [Transform; 8] = [
        Self::Normal,
        Self::_90,
        Self::_180,
        Self::_270,
        Self::Flipped,
        Self::Flipped90,
        Self::Flipped180,
        Self::Flipped270,
    ];

    /// The transform a client sent as a `wl_output.transform` value, or
    /// `None` for a value the enum does not define (the protocol layer raises
    /// `wl_surface.invalid_transform` for it).
    pub fn from_wl(value: u32) -> Option<Self> {
        Self::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// Quarter turns counter-clockwise after the flip, 0 to 3.
    fn quarter_turns(self) -> u8 {
        self as u8 & 3
    }

    /// Whether the content is mirrored before it is rotated.
    fn is_flipped(self) -> bool {
        self as u8 & 4 != 0
    }

    /// The transform that flips (or not) and then turns `quarter_turns`
    /// times counter-clockwise.
    fn from_parts(flipped: bool, quarter_turns: u8) -> Self {
        Self::ALL[usize::from(quarter_turns % 4) + if flipped { 4 } else { 0 }]
    }

    /// The transform that undoes this one: `t.compose(t.invert())` is
    /// `Normal`. A mirror is its own inverse; a turn is undone by the
    /// opposite turn.
    pub fn invert(self) -> Self {
        if self.is_flipped() {
            self
        } else {
            Self::from_parts(false, 4 - self.quarter_turns())
        }
    }

    /// The transform with the effect of applying `self` and then `then`
    /// (wlroots' `wlr_output_transform_compose` order).
    pub fn compose(self, then: Self) -> Self {
        // A turn of k followed by a flip equals the flip followed by a turn
        // of -k, so `then`'s flip reverses the direction of `self`'s turns.
        let turns = if then.is_flipped() {
            then.quarter_turns() + 4 - self.quarter_turns()
        } else {
            then.quarter_turns() + self.quarter_turns()
        };
        Self::from_parts(self.is_flipped() != then.is_flipped(), turns)
    }

    /// The size content of `size` has once transformed: width and height
    /// swap under an odd number of quarter turns.
    pub fn transformed_size<T, S>(self, size: Size<T, S>) -> Size<T, S> {
        if self.quarter_turns() % 2 == 1 {
            Size::new(size.h, size.w)
        } else {
            size
        }
    }

    /// Where this transform sends a point of the region, both in unit
    /// coordinates of their region (see [`UnitMap`]).
    pub(super) fn unit_map(self) -> UnitMap {
        match self {
            Self::Normal => [[1, 0, 0], [0, 1, 0]],
            Self::_90 => [[0, 1, 0], [-1, 0, 1]],
            Self::_180 => [[-1, 0, 1], [0, -1, 1]],
            Self::_270 => [[0, -1, 1], [1, 0, 0]],
            Self::Flipped => [[-1, 0, 1], [0, 1, 0]],
            Self::Flipped90 => [[0, 1, 0], [1, 0, 0]],
            Self::Flipped180 => [[1, 0, 0], [0, -1, 1]],
            Self::Flipped270 => [[0, -1, 1], [-1, 0, 1]],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type P = (i8, i8);

    /// The corners of the unit square.
    const CORNERS: [P; 4] = [(0, 0), (1, 0), (0, 1), (1, 1)];

    fn apply(m: UnitMap, (u, v): P) -> P {
        (
            m[0][0] * u + m[0][1] * v + m[0][2],
            m[1][0] * u + m[1][1] * v + m[1][2],
        )
    }

    /// The protocol's two primitives on the unit square (y down).
    fn flip((u, v): P) -> P {
        (1 - u, v)
    }

    /// A quarter turn counter-clockwise on screen: the top-right corner
    /// becomes the top-left one.
    fn quarter_turn((u, v): P) -> P {
        (v, 1 - u)
    }

    #[test]
    fn from_wl_takes_the_protocol_values() {
        for (value, t) in (0u32..).zip(Transform::ALL) {
            assert_eq!(Transform::from_wl(value), Some(t));
            assert_eq!(t as u32, value);
        }
        assert_eq!(Transform::from_wl(8), None);
        assert_eq!(Transform::from_wl(u32::MAX), None);
    }

    #[test]
    fn unit_maps_are_the_protocol_definition() {
        for t in Transform::ALL {
            for corner in CORNERS {
                let mut p = if t.is_flipped() { flip(corner) } else { corner };
                for _ in 0..t.quarter_turns() {
                    p = quarter_turn(p);
                }
                assert_eq!(apply(t.unit_map(), corner), p, "{t:?} at {corner:?}");
            }
        }
    }

    /// Weston's `weston_transformed_coord` (surface point to buffer point,
    /// surface `width × height`), divided by the buffer's extent: the buffer
    /// is `height` wide under odd quarter turns.
    fn weston_surface_to_buffer(t: Transform, (u, v): P) -> P {
        match t {
            Transform::Normal => (u, v),
            Transform::Flipped => (1 - u, v),
            Transform::_90 => (v, 1 - u),
            Transform::Flipped90 => (v, u),
            Transform::_180 => (1 - u, 1 - v),
            Transform::Flipped180 => (u, 1 - v),
            Transform::_270 => (1 - v, u),
            Transform::Flipped270 => (1 - v, 1 - u),
        }
    }

    #[test]
    fn buffer_transform_agrees_with_weston() {
        for t in Transform::ALL {
            for corner in CORNERS {
                let weston = weston_surface_to_buffer(t, corner);
                assert_eq!(apply(t.unit_map(), corner), weston, "{t:?}");
            }
        }
    }

    #[test]
    fn compose_applies_first_then_second() {
        for a in Transform::ALL {
            for b in Transform::ALL {
                for corner in CORNERS {
                    let twice = apply(b.unit_map(), apply(a.unit_map(), corner));
                    assert_eq!(
                        apply(a.compose(b).unit_map(), corner),
                        twice,
                        "{a:?}, {b:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn invert_and_compose_laws() {
        for a in Transform::ALL {
            assert_eq!(a.invert().invert(), a);
            assert_eq!(a.compose(a.invert()), Transform::Normal, "{a:?}");
            assert_eq!(a.invert().compose(a), Transform::Normal, "{a:?}");
            assert_eq!(a.compose(Transform::Normal), a);
            assert_eq!(Transform::Normal.compose(a), a);
            for b in Transform::ALL {
                assert_eq!(a.compose(b).invert(), b.invert().compose(a.invert()));
                for c in Transform::ALL {
                    assert_eq!(a.compose(b).compose(c), a.compose(b.compose(c)));
                }
            }
        }
    }

    #[test]
    fn inverse_of_each_transform() {
        use Transform::*;
        let expect = [
            (Normal, Normal),
            (_90, _270),
            (_180, _180),
            (_270, _90),
            (Flipped, Flipped),
            (Flipped90, Flipped90),
            (Flipped180, Flipped180),
            (Flipped270, Flipped270),
        ];
        for (t, inverse) in expect {
            assert_eq!(t.invert(), inverse, "{t:?}");
        }
    }

    #[test]
    fn buffer_transform_matching_the_output_is_a_plain_copy() {
        for t in Transform::ALL {
            assert_eq!(t.invert().compose(t), Transform::Normal);
        }
        assert_eq!(Transform::_90.compose(Transform::_90), Transform::_180);
        assert_eq!(
            Transform::Flipped.compose(Transform::_90),
            Transform::Flipped90
        );
        assert_eq!(
            Transform::_90.compose(Transform::Flipped),
            Transform::Flipped270
        );
    }

    #[test]
    fn odd_turns_swap_width_and_height() {
        let size: Size<i32, super::super::geometry::Buffer> = Size::new(3, 2);
        for t in Transform::ALL {
            let expect = if t as u32 % 2 == 1 { (2, 3) } else { (3, 2) };
            let out = t.transformed_size(size);
            assert_eq!((out.w, out.h), expect, "{t:?}");
        }
    }
}
