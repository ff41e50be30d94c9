//! The fast path of the copy shader (`shaders/turn.comp`): an unscaled copy
//! or draw that replaces whole words of a packed format with whole words of
//! a packed format, or blends them over the destination's at alpha 1,
//! under any transform, moved a 4×4 block at a time with no per-pixel
//! code. The general shader (`shaders/copy.comp`) does the
//! same to such blocks, among everything else; lavapipe runs the small
//! shader about three times faster (docs/PERFORMANCE.md).
//!
//! [`Turn::new`] decides from the general shader's push constants for one
//! dispatch whether the fast path applies and, if so, works out the block
//! addresses: every block of the clip must be a whole block on 16-byte
//! boundaries in both buffers, and every source pixel it reads must lie in
//! the source rectangle, so that the fast path reads exactly the words the
//! general shader would. Where that fails only for the clip's edges (a
//! clip or a source rectangle off the grid of blocks), the clip's inside
//! takes the fast path and each edge the general shader ([`Turn::split`]).

use super::geometry::{Dest, Point, Rect, Size};
use super::layout::{PushConstants, WordBlend};
use super::parts::Parts;

/// The side of a block in pixels, and the words of a 16-byte row.
const BLOCK: i32 = 4;

/// The blocks of a workgroup (`local_size` in `shaders/turn.comp`), and
/// how they lie: a run of 256 along a destination row, or, where the
/// transform transposes, [`TILE`] blocks across and down. Lavapipe runs a
/// workgroup's invocations in order on one thread and the workgroups
/// along x first, so either way a workgroup reads long runs of the
/// source's rows, and a transposing one writes whole 64-byte lines of the
/// destination's. Square workgroups of 8×8 blocks ran 2–3× slower at
/// 3840×2160 (docs/PERFORMANCE.md).
const GROUP: u32 = 256;

/// The blocks across and down of a transposing workgroup.
const TILE: [u32; 2] = [4, GROUP / 4];

/// What `shaders/turn.comp` takes for one clip: its part of a dispatch
/// (`parts.rs`) and the push constants, member by member, each 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Turn {
    /// The part: the blocks across and down (its `extent`), the 16-byte
    /// indices of the first destination row and the source row read first
    /// (its `first`).
    part: [u32; 4],
    /// `dst_row`.
    dst_row: u32,
    /// `src_block_x`, `src_block_y`, `src_row`.
    steps: [i32; 3],
    /// `transpose`, `reverse`, `keep`, `low`, `set`, `over`, `below`,
    /// `opaque`.
    words: [u32; 8],
}

impl Turn {
    /// The push constants' size: the part, `groups`, then the members
    /// above from `dst_row`.
    pub(super) const SIZE: usize = 4 * 17;

    /// The fast path's constants for the dispatch of `push` (one tile),
    /// or `None` where it does not apply to the whole clip.
    pub(super) fn new(push: &PushConstants) -> Option<Self> {
        let [dst_x, dst_y, _, _, src_x, src_y, src_w, src_h] = push.rects;
        let [
            src_offset,
            src_stride,
            _,
            _,
            dst_offset,
            dst_stride,
            src_format,
            dst_format,
            _,
        ] = push.words;
        let [clip_x, clip_y, clip_w, clip_h] = push.clip;
        // Whole words replacing the destination's or blended over them: no
        // filtering, no solid colour, no NV12 (which never has MODE_WORDS).
        let blend = push.word_blend()?;
        if clip_w % BLOCK != 0
            || clip_h % BLOCK != 0
            || clip_x % BLOCK != 0
            || clip_w <= 0
            || clip_h <= 0
        {
            return None;
        }
        // Steps of one pixel along an axis: the unscaled transforms.
        let [a, d, b, e, c, f] = push.matrix;
        let unit = |x: f32, y: f32| (x.abs() == 1.0 && y == 0.0) || (x == 0.0 && y.abs() == 1.0);
        if !unit(a, d) || !unit(b, e) {
            return None;
        }
        // Where the centre of destination pixel (x, y) samples, as the
        // general shader works it out; every centre must map onto a
        // texel's centre so that each pixel's texel is the first's plus
        // whole steps.
        let sample = |x: i32, y: i32| {
            let x = (x - dst_x) as f32 + 0.5;
            let y = (y - dst_y) as f32 + 0.5;
            (a * x + b * y + c, d * x + e * y + f)
        };
        let centred = |(x, y): (f32, f32)| x - x.floor() == 0.5 && y - y.floor() == 0.5;
        let (first, last) = (
            sample(clip_x, clip_y),
            sample(clip_x + clip_w - 1, clip_y + clip_h - 1),
        );
        if !centred(first) {
            return None;
        }
        // Every texel read lies in the source rectangle: the general
        // shader clamps there, the fast path does not.
        let texel = |v: f32| v.floor() as i64;
        let (x0, x1) = (texel(first.0.min(last.0)), texel(first.0.max(last.0)));
        let (y0, y1) = (texel(first.1.min(last.1)), texel(first.1.max(last.1)));
        if x0 < i64::from(src_x)
            || y0 < i64::from(src_y)
            || x1 >= i64::from(src_x) + i64::from(src_w)
            || y1 >= i64::from(src_y) + i64::from(src_h)
        {
            return None;
        }
        // The first block's source block: its top-left texel.
        let corner = sample(clip_x + BLOCK - 1, clip_y + BLOCK - 1);
        let sx = texel(first.0.min(corner.0));
        let sy = texel(first.1.min(corner.1));
        let aligned = |n: u32| n.is_multiple_of(16);
        if sx % i64::from(BLOCK) != 0
            || !aligned(src_offset)
            || !aligned(src_stride)
            || !aligned(dst_offset)
            || !aligned(dst_stride)
        {
            return None;
        }
        let transpose = a == 0.0;
        // The source rows are read in the order the destination's rows
        // (or, transposed, its columns) take them.
        let down = if transpose { d > 0.0 } else { e > 0.0 };
        let reverse = if transpose { b < 0.0 } else { a < 0.0 };
        let first_row = if down { sy } else { sy + 3 };
        // Offsets relative to a window wrap in 32 bits (band.rs); the
        // addresses they give inside the window do not.
        let address = |offset: u32, stride: u32, x: i64, y: i64| {
            offset
                .wrapping_add((y as u32).wrapping_mul(stride))
                .wrapping_add((x as u32).wrapping_mul(4))
                / 16
        };
        let src_first = address(src_offset, src_stride, sx, first_row);
        let dst_first = address(dst_offset, dst_stride, clip_x.into(), clip_y.into());
        // A source row in 16-byte units, and a block's four rows.
        let row = i32::try_from(src_stride / 16).ok()?;
        let rows = row.checked_mul(BLOCK)?;
        let step = |x: f32, y: f32| x as i32 + y as i32 * rows;
        // Formats 0-3 (layout.rs): bit 1 is the channel order, bit 0 an X
        // format; between an X format and one that is not, the fourth byte
        // is 0xff, as the general shader's replace_words makes it.
        let (keep, low) = if (src_format ^ dst_format) & 2 != 0 {
            (0xff00_ff00, 0xff)
        } else {
            (u32::MAX, 0)
        };
        // An X format's fourth byte. Replacing: 0xff between an X format
        // and one that is not, as the general shader's replace_words makes
        // it. Blending, as its over_words: an X source is opaque, and an X
        // destination gets 0xff.
        let x = |format: u32| if format & 1 != 0 { 0xff00_0000 } else { 0 };
        let (set, over, below, opaque) = match blend {
            WordBlend::Replace => (x(src_format ^ dst_format), 0, 0, 0),
            WordBlend::OverDestination => (x(src_format), 1, 0, x(dst_format)),
            WordBlend::OverWord(word) => (x(src_format), 2, word, x(dst_format)),
        };
        Some(Self {
            part: [
                (clip_w / BLOCK) as u32,
                (clip_h / BLOCK) as u32,
                dst_first,
                src_first,
            ],
            dst_row: dst_stride / 16,
            steps: [step(a, d), step(b, e), if down { row } else { -row }],
            words: [
                u32::from(transpose),
                u32::from(reverse),
                keep,
                low,
                set,
                over,
                below,
                opaque,
            ],
        })
    }

    /// The fast path for as much of the clip of `push` (one dispatch's)
    /// as it can take: the largest part whose blocks start one to three
    /// pixels in from the clip's top-left corner (or at it) where
    /// [`new`](Self::new) accepts it, and the edges around that part,
    /// left to the general shader. `None` where no such part exists.
    pub(super) fn split(push: &PushConstants) -> Option<(Self, Vec<Rect<i32, Dest>>)> {
        let [x, y, w, h] = push.clip;
        let clip = Rect::new(Point::new(x, y), Size::new(w, h));
        let inside = |(i, j): (i32, i32)| {
            let whole = |n: i32| n.div_euclid(BLOCK) * BLOCK;
            Rect::new(
                Point::new(x + i, y + j),
                Size::new(whole(w - i), whole(h - j)),
            )
        };
        let mut starts: Vec<(i32, i32)> = (0..BLOCK)
            .flat_map(|i| (0..BLOCK).map(move |j| (i, j)))
            .collect();
        starts.sort_by_key(|&start| std::cmp::Reverse(inside(start).area()));
        starts.into_iter().find_map(|start| {
            let part = inside(start);
            let turn = Self::new(&push.clipped(part))?;
            Some((turn, clip.subtract(&part)))
        })
    }

    /// Whether `other`'s clip can be a part of the same dispatch as this
    /// one's: everything but the part is the same.
    pub(super) fn shares_dispatch(&self, other: &Self) -> bool {
        Self {
            part: other.part,
            ..*self
        } == *other
    }

    /// The clip's workgroups, across and down: [`GROUP`] blocks each, in a
    /// run along the destination's rows, or in a [`TILE`] where the
    /// transform transposes.
    pub(super) fn groups(&self) -> [u32; 2] {
        let [blocks_x, blocks_y, ..] = self.part;
        if self.words[0] != 0 {
            [blocks_x.div_ceil(TILE[0]), blocks_y.div_ceil(TILE[1])]
        } else {
            [blocks_x.div_ceil(GROUP), blocks_y]
        }
    }

    /// Adds this clip to `parts`, for the shader built with `PARTS`.
    pub(super) fn add_to(&self, parts: &mut Parts) {
        let [blocks_x, blocks_y, dst_first, src_first] = self.part;
        parts.push(
            self.groups(),
            [0, 0, blocks_x, blocks_y, dst_first, src_first],
        );
    }

    /// The push constants of a dispatch of this clip alone (`groups` 0),
    /// or of `groups` workgroups of parts (the shader built with `PARTS`),
    /// each added by a [`Turn`] that [shares the
    /// dispatch](Self::shares_dispatch) with this one.
    pub(super) fn bytes(&self, groups: u32) -> [u8; Self::SIZE] {
        let words = self
            .part
            .into_iter()
            .chain([groups, self.dst_row])
            .chain(self.steps.iter().map(|&i| i.cast_unsigned()))
            .chain(self.words.iter().copied());
        let mut bytes = [0; Self::SIZE];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::band;
    use crate::copy::layout::Layout;
    use crate::copy::{CopyPlan, CopyRequest, Transform};

    /// A buffer's size and a rectangle of it.
    type Geometry = ((i32, i32), (i32, i32, i32, i32));

    /// The push constants of an XRGB8888 copy of `src_rect` of a
    /// `src_size` source, rows of `src_stride` bytes from `src_offset`, to
    /// `dst_rect` of a destination with rows of `dst_stride` bytes.
    fn push(
        (src, src_offset, src_stride): (Geometry, u64, u64),
        (dst, dst_stride): (Geometry, u64),
        transform: Transform,
    ) -> PushConstants {
        let ((sw, sh), (sx, sy, sw2, sh2)) = src;
        let ((dw, dh), (dx, dy, dw2, dh2)) = dst;
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(sw, sh),
            dst_size: Size::new(dw, dh),
            src_rect: Rect::new(Point::new(sx, sy), Size::new(sw2, sh2)),
            dst_rect: Rect::new(Point::new(dx, dy), Size::new(dw2, dh2)),
            transform,
            filter: None,
        })
        .expect("a valid request");
        let layout = |offset, stride, rows: i32| Layout {
            format: 1,
            planes: vec![band::Plane {
                offset,
                stride,
                row: stride,
                shift: 0,
                buffer_size: offset + stride * rows as u64,
            }],
        };
        PushConstants::new(
            &plan,
            &layout(src_offset, src_stride, sh),
            &layout(0, dst_stride, dh),
        )
    }

    #[test]
    fn whole_aligned_frames_take_the_fast_path_whole() {
        for transform in Transform::ALL {
            let seen =
                transform.transformed_size(Size::<i32, crate::copy::Buffer>::new(1920, 1080));
            let push = push(
                (((1920, 1080), (0, 0, 1920, 1080)), 0, 1920 * 4),
                (
                    ((seen.w, seen.h), (0, 0, seen.w, seen.h)),
                    seen.w as u64 * 4,
                ),
                transform,
            );
            let (turn, rest) = Turn::split(&push).expect("the fast path");
            assert!(rest.is_empty(), "{transform:?}: {rest:?}");
            assert_eq!(turn.part[..2], [seen.w as u32 / 4, seen.h as u32 / 4]);
        }
    }

    #[test]
    fn edges_off_the_grid_are_left_to_the_general_shader() {
        // Rows of 288 and 336 bytes from byte 32: on 16-byte boundaries.
        let constants = push(
            (((67, 45), (1, 2, 61, 39)), 32, 288),
            (((80, 76), (6, 3, 39, 61)), 336),
            Transform::_90,
        );
        let (turn, rest) = Turn::split(&constants).expect("the inside on the fast path");
        let inside = i64::from(turn.part[0] * turn.part[1]) * 16;
        assert!(!rest.is_empty());
        assert_eq!(inside + rest.iter().map(Rect::area).sum::<i64>(), 39 * 61);
        // The same source 4 bytes further on: no block lies on 16 bytes.
        let constants = push(
            (((67, 45), (1, 2, 61, 39)), 36, 288),
            (((80, 76), (6, 3, 39, 61)), 336),
            Transform::_90,
        );
        assert!(Turn::split(&constants).is_none());
    }
}
