//! Buffers larger than a shader can bind: a dispatch in bands.
//!
//! A storage buffer binding holds at most `maxStorageBufferRange` bytes
//! (128 MiB on lavapipe), less than a 6000×6000 ARGB8888 `wl_shm` buffer
//! or an NV12 frame of 16384 rows. A dispatch only reads the source rows
//! its clip rectangle samples and writes the destination rows of its clip,
//! so such a buffer is bound as a window: the bytes of those rows, from an
//! offset aligned to `minStorageBufferOffsetAlignment` (and to 4, the
//! shader's word), no more than the limit. The shader's byte addresses
//! stay as they are: each plane's offset is handed to it relative to its
//! window, in 32-bit arithmetic that wraps, so the address the shader forms
//! from it, the row and the column is the one inside the window for every
//! row the window holds.
//!
//! Which source rows a rectangle of destination pixels needs follows from
//! the plan's matrix: the map is affine, so its extremes over the pixel
//! centres are at the corners; two rows of slack on each side cover
//! bilinear filtering's second row and the `f32` rounding of the map on the
//! GPU, and the result is clamped to the source rectangle, as every sample
//! is. When the rows of the clip do not fit one window, the clip is halved
//! across the destination axis the source rows follow (rows, or columns
//! under a transform that turns by 90°) until every part fits; a buffer
//! within the limit is bound whole. Only a part one pixel thick that still
//! does not fit is refused ([`TooLarge`]): a plane whose one row, with its
//! alignment, passes the limit.
//!
//! Nothing here touches Vulkan; [`copier`](super::copier) binds what
//! [`tiles`] returns.

use super::geometry::{Buffer, Dest, Point, Rect};
use super::plan::Side;

/// The shader's word: windows start and end on multiples of it.
const WORD: u64 = 4;

/// Source rows added on each side of those a rectangle's corners sample:
/// bilinear filtering reads one row beyond `floor(c − 0.5)`, and the GPU's
/// `f32` map may round across a row boundary.
const ROW_SLACK: i64 = 2;

/// What the device lets a binding be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// The most bytes bound at once (`maxStorageBufferRange`, or less).
    pub(super) range: u64,
    /// What a binding's offset is a multiple of: a power of two, at least
    /// [`WORD`].
    pub(super) align: u64,
}

impl Limits {
    /// The limits of a device with `maxStorageBufferRange` `range` and
    /// `minStorageBufferOffsetAlignment` `align`.
    pub(super) fn new(range: u64, align: u64) -> Self {
        Self {
            range,
            align: align.max(WORD).next_power_of_two(),
        }
    }
}

/// Where one plane of a dispatch lies in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plane {
    /// Byte offset of its first row.
    pub(super) offset: u64,
    /// Bytes from one row to the next.
    pub(super) stride: u64,
    /// Bytes of one row that the shader reads (the last row's end).
    pub(super) row: u64,
    /// Image row `y` is plane row `y >> shift` (1 for NV12's chroma).
    pub(super) shift: u32,
    /// The size of the buffer the plane is in.
    pub(super) buffer_size: u64,
}

/// Bytes of a buffer bound to a dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    /// The first byte, a multiple of [`Limits::align`].
    pub(super) offset: u64,
    /// How many bytes, at most [`Limits::range`].
    pub(super) range: u64,
}

/// A plane's offset as the shader takes it: relative to the start of its
/// binding, modulo 2³² (the shader's address arithmetic wraps the same
/// way, so every address inside the window comes out right). A plane bound
/// whole lies in a buffer of at most `maxStorageBufferRange` bytes, a
/// `u32`, so there the offset is exact.
pub(super) fn shader_offset(offset: u64, window: Option<Window>) -> u32 {
    let relative = window.map_or(offset, |w| offset.wrapping_sub(w.offset));
    // Truncation is the wrap the shader's arithmetic repeats.
    (relative & u64::from(u32::MAX)) as u32
}

/// How a draw maps destination pixels to source coordinates: a plan's
/// matrix, the destination pixel its origin is, and the source rectangle
/// samples are clamped to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Sampling {
    /// The column-major map of [`CopyPlan::matrix`](super::CopyPlan::matrix).
    pub(super) matrix: [f32; 6],
    /// The top-left corner of the destination rectangle: the matrix maps a
    /// point relative to it.
    pub(super) origin: Point<i32, Dest>,
    /// Every sample is clamped into these texels.
    pub(super) bounds: Rect<i32, Buffer>,
}

/// One dispatch of a banded draw: the pixels it writes and what it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Tile {
    /// The destination pixels written, inside the draw's clip.
    pub(super) clip: Rect<i32, Dest>,
    /// The window of each source plane (`None`: the buffer bound whole).
    pub(super) src: Vec<Option<Window>>,
    /// The window of the destination (`None`: bound whole).
    pub(super) dst: Option<Window>,
}

/// A single row of a plane (with the slack its window needs) is larger
/// than a binding may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TooLarge {
    /// The buffer.
    pub(super) side: Side,
    /// The bytes its smallest window would take.
    pub(super) needed: u64,
}

/// The dispatches that write `clip` (not empty) of a draw that samples as
/// `sampling` (`None` for a solid colour, which reads nothing) from
/// `src` planes into `dst`, each binding at most `limits.range` bytes of a
/// buffer: the whole clip in one when every buffer fits whole.
pub(super) fn tiles(
    clip: Rect<i32, Dest>,
    sampling: Option<&Sampling>,
    src: &[Plane],
    dst: &Plane,
    limits: Limits,
) -> Result<Vec<Tile>, TooLarge> {
    let mut out = Vec::new();
    let job = Job {
        sampling,
        src,
        dst,
        limits,
    };
    job.split(clip, &mut out)?;
    Ok(out)
}

/// The fixed inputs of [`tiles`].
struct Job<'a> {
    sampling: Option<&'a Sampling>,
    src: &'a [Plane],
    dst: &'a Plane,
    limits: Limits,
}

impl Job<'_> {
    /// Pushes the tiles of `clip` onto `out`, halving it until each fits.
    fn split(&self, clip: Rect<i32, Dest>, out: &mut Vec<Tile>) -> Result<(), TooLarge> {
        let rows = i64::from(clip.loc.y)..i64::from(clip.loc.y) + i64::from(clip.size.h);
        let dst = window(self.dst, rows, self.limits);
        let src_rows = self.sampling.map(|s| source_rows(s, clip));
        let src: Vec<Result<Option<Window>, u64>> = match &src_rows {
            Some(rows) => self
                .src
                .iter()
                .map(|plane| window(plane, rows.clone(), self.limits))
                .collect(),
            None => Vec::new(),
        };
        let src_too_large = src.iter().find_map(|w| w.err());
        match (dst, src_too_large) {
            (Ok(dst), None) => {
                out.push(Tile {
                    clip,
                    src: src.into_iter().map(|w| w.ok().flatten()).collect(),
                    dst,
                });
                return Ok(());
            }
            (Err(needed), _) if clip.size.h < 2 => {
                return Err(TooLarge {
                    side: Side::Destination,
                    needed,
                });
            }
            _ => {}
        }
        // The destination's rows are its rows; the source's follow the
        // destination axis that the matrix's row coordinate depends on.
        let by_rows = match (dst, self.sampling) {
            (Err(_), _) | (_, None) => true,
            (Ok(_), Some(s)) => s.matrix[3].abs() >= s.matrix[1].abs(),
        };
        let length = if by_rows { clip.size.h } else { clip.size.w };
        if length < 2 {
            return Err(TooLarge {
                side: Side::Source,
                needed: src_too_large.unwrap_or(0),
            });
        }
        let half = length / 2;
        let (first, second) = if by_rows {
            (
                Rect::new(clip.loc, super::Size::new(clip.size.w, half)),
                Rect::new(
                    Point::new(clip.loc.x, clip.loc.y + half),
                    super::Size::new(clip.size.w, clip.size.h - half),
                ),
            )
        } else {
            (
                Rect::new(clip.loc, super::Size::new(half, clip.size.h)),
                Rect::new(
                    Point::new(clip.loc.x + half, clip.loc.y),
                    super::Size::new(clip.size.w - half, clip.size.h),
                ),
            )
        };
        self.split(first, out)?;
        self.split(second, out)
    }
}

/// The source rows (`start..end`, not empty) that the pixels of `clip` may
/// read: those under the corners' pixel centres with [`ROW_SLACK`], clamped
/// into the bounds as the samples are.
fn source_rows(sampling: &Sampling, clip: Rect<i32, Dest>) -> std::ops::Range<i64> {
    let [_, d, _, e, _, f] = sampling.matrix.map(f64::from);
    let relative = |start: i32, origin: i32, len: i32| {
        let first = f64::from(start) - f64::from(origin) + 0.5;
        [first, first + f64::from(len) - 1.0]
    };
    let xs = relative(clip.loc.x, sampling.origin.x, clip.size.w);
    let ys = relative(clip.loc.y, sampling.origin.y, clip.size.h);
    let rows = xs
        .iter()
        .flat_map(|&x| ys.iter().map(move |&y| d * x + e * y + f));
    let (low, high) = rows.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let top = i64::from(sampling.bounds.loc.y);
    let bottom = top + i64::from(sampling.bounds.size.h);
    // Clip coordinates are within a few MAX_EXTENT of zero and the matrix
    // is finite, so the rows are small; `as` saturates whatever happens.
    let first = (low.floor() as i64 - ROW_SLACK).clamp(top, bottom - 1);
    let last = (high.floor() as i64 + ROW_SLACK).clamp(first, bottom - 1);
    first..last + 1
}

/// The binding of `plane` for image rows `rows` (not empty): `Ok(None)`
/// when the whole buffer fits the limit, a window when those rows do, and
/// the bytes they would take when they do not.
fn window(
    plane: &Plane,
    rows: std::ops::Range<i64>,
    limits: Limits,
) -> Result<Option<Window>, u64> {
    if plane.buffer_size <= limits.range {
        return Ok(None);
    }
    // Rows are inside the image, so not negative and far below 2³².
    let first = u64::try_from(rows.start).unwrap_or(0) >> plane.shift;
    let last = u64::try_from(rows.end - 1).unwrap_or(0) >> plane.shift;
    let start = plane
        .offset
        .saturating_add(first.saturating_mul(plane.stride));
    // The last row's bytes, and one more word: a pixel at an unaligned
    // address is read as two words.
    let end = plane
        .offset
        .saturating_add(last.saturating_mul(plane.stride))
        .saturating_add(plane.row)
        .saturating_add(WORD);
    let offset = start - start % limits.align;
    let end = end
        .saturating_sub(offset)
        .next_multiple_of(WORD)
        .saturating_add(offset)
        .min(plane.buffer_size);
    let range = end.saturating_sub(offset);
    if range <= limits.range {
        Ok(Some(Window { offset, range }))
    } else {
        Err(range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::{DrawPlan, DrawRequest, DrawSource, Filter, Size, Transform};

    fn rect<S>(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, S> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    /// A tightly packed ARGB8888 image of `w × h` in a buffer of its own.
    fn packed(w: u64, h: u64) -> Plane {
        Plane {
            offset: 0,
            stride: w * 4,
            row: w * 4,
            shift: 0,
            buffer_size: w * 4 * h,
        }
    }

    /// The sampling of a texture draw of all of a `size` texture under
    /// `transform` onto `dst` of a 64×64 buffer.
    fn sampling(size: (i32, i32), transform: Transform, dst: Rect<i32, Dest>) -> Sampling {
        let plan = DrawPlan::new(DrawRequest {
            dst_size: Size::new(64, 64),
            dst_rect: dst,
            clip: dst,
            source: DrawSource::Texture {
                size: Size::new(size.0, size.1),
                rect: Rect::new(
                    Point::new(0.0, 0.0),
                    Size::new(f64::from(size.0), f64::from(size.1)),
                ),
                transform,
                filter: Filter::Linear,
            },
            blend: crate::copy::Blend::Over,
            alpha: 1.0,
        })
        .expect("a valid draw");
        Sampling {
            matrix: plan.matrix(),
            origin: dst.loc,
            bounds: plan.src_bounds(),
        }
    }

    const LIMITS: Limits = Limits {
        range: 4096,
        align: 16,
    };

    #[test]
    fn buffers_within_the_limit_are_bound_whole_in_one_dispatch() {
        let clip = rect(0, 0, 64, 64);
        let s = sampling((32, 32), Transform::_90, clip);
        let small = packed(32, 32);
        let tiles = tiles(clip, Some(&s), &[small], &packed(16, 16), LIMITS).expect("fits");
        assert_eq!(
            tiles,
            [Tile {
                clip,
                src: vec![None],
                dst: None
            }]
        );
    }

    /// Every tile's windows hold the bytes of every source row its pixels
    /// sample (computed here pixel by pixel) and of its destination rows;
    /// the tiles cover the clip once.
    #[test]
    fn every_transform_bands_along_the_axis_the_source_rows_follow() {
        let clip = rect(3, 5, 40, 36);
        let src = packed(40, 40); // 6400 bytes: more than the limit.
        let dst = Plane {
            offset: 8,
            stride: 64 * 4 + 16,
            row: 64 * 4,
            shift: 0,
            buffer_size: 8 + (64 * 4 + 16) * 64,
        };
        for transform in Transform::ALL {
            let s = sampling((40, 40), transform, rect(0, 2, 44, 44));
            let tiles = tiles(clip, Some(&s), &[src], &dst, LIMITS).expect("bands");
            assert!(tiles.len() > 1, "{transform:?}: banded");
            let mut covered = vec![0u8; 64 * 64];
            for tile in &tiles {
                let w = tile.src[0].expect("the source is windowed");
                let d = tile.dst.expect("the destination is windowed");
                for window in [w, d] {
                    assert!(window.range <= LIMITS.range && window.offset % 16 == 0);
                }
                let c = tile.clip;
                for y in c.loc.y..c.loc.y + c.size.h {
                    for x in c.loc.x..c.loc.x + c.size.w {
                        covered[(y * 64 + x) as usize] += 1;
                        let [a, dd, b, e, cc, f] = s.matrix;
                        let (px, py) = (x as f32 + 0.5, (y - 2) as f32 + 0.5);
                        let sx = a * px + b * py + cc;
                        let sy = dd * px + e * py + f;
                        // The rows bilinear filtering reads around the sample.
                        for row in [(sy - 0.5).floor(), (sy - 0.5).floor() + 1.0] {
                            let row = (row as i64).clamp(0, 39) as u64;
                            let column = ((sx - 0.5).floor() as i64).clamp(0, 38) as u64;
                            let at = row * src.stride + column * 4;
                            assert!(
                                at >= w.offset && at + 8 <= w.offset + w.range,
                                "{transform:?}: ({x}, {y}) reads row {row} outside {w:?}"
                            );
                        }
                        let at = dst.offset + y as u64 * dst.stride + x as u64 * 4;
                        assert!(at >= d.offset && at + 4 <= d.offset + d.range);
                    }
                }
            }
            for y in 0..64 {
                for x in 0..64 {
                    let inside = (3..43).contains(&x) && (5..41).contains(&y);
                    assert_eq!(covered[y * 64 + x], u8::from(inside), "{transform:?}");
                }
            }
        }
    }

    #[test]
    fn nv12_chroma_rows_are_half_the_luma_rows() {
        let luma = Plane {
            offset: 0,
            stride: 100,
            row: 100,
            shift: 0,
            buffer_size: 100 * 100 + 100 * 50,
        };
        let chroma = Plane {
            offset: 100 * 100,
            shift: 1,
            ..luma
        };
        let w = window(&chroma, 10..20, LIMITS)
            .expect("fits")
            .expect("windowed");
        // Chroma rows 5 ..= 9.
        assert_eq!(w.offset, (10_000 + 500) / 16 * 16);
        assert!(w.offset + w.range >= 10_000 + 900 + 100 + 4);
    }

    #[test]
    fn a_row_larger_than_the_limit_is_refused() {
        let clip = rect(0, 0, 8, 8);
        // One row of 8192 bytes, and the word of slack after it.
        let wide = packed(2048, 8);
        assert_eq!(
            tiles(clip, None, &[], &wide, LIMITS),
            Err(TooLarge {
                side: Side::Destination,
                needed: 8192 + 4,
            })
        );
        let s = sampling((8, 8), Transform::Normal, clip);
        assert!(matches!(
            tiles(clip, Some(&s), &[wide], &packed(8, 8), LIMITS),
            Err(TooLarge {
                side: Side::Source,
                ..
            })
        ));
    }

    #[test]
    fn offsets_relative_to_a_window_wrap_like_the_shader() {
        let w = Window {
            offset: 4096,
            range: 64,
        };
        assert_eq!(shader_offset(4100, Some(w)), 4);
        // A plane starting before its window: its address plus a later
        // row's wraps back into the window.
        let offset = shader_offset(16, Some(w));
        assert_eq!(offset.wrapping_add(64 * 64), 16 + 64 * 64 - 4096);
        assert_eq!(shader_offset(5_000_000_000, None), 705_032_704);
    }
}
