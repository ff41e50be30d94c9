//! The geometry of one draw of a frame: a source (a solid colour, or a
//! rectangle of a texture with a transform) mapped onto a destination
//! rectangle, blended, and written only inside a clip rectangle.
//!
//! A draw is a copy job extended for composition: where a [`CopyPlan`](super::CopyPlan)
//! writes its whole destination rectangle with the source's pixels, a
//! [`DrawPlan`] may place its destination rectangle partly outside the
//! buffer (a window half off screen), writes only its clip rectangle (the
//! damage), reads the source rectangle in fractional buffer pixels
//! (`wp_viewporter`), multiplies by a global alpha and blends over what the
//! destination holds. Everything is checked in [`DrawPlan::new`], before
//! anything is recorded: the clip lies inside both the buffer and the
//! destination rectangle, and the samples stay inside the texture.
//!
//! A destination rectangle may reach at most [`MAX_EXTENT`] beyond the
//! buffer's edges, which keeps the shader's `f32` arithmetic exact. One
//! that reaches further (a `wp_viewport` destination far larger than the
//! output, an element placed near the ends of `i32`) is not refused by its
//! caller but cut first: [`clip_destination`] keeps the part within
//! [`CLIP_MARGIN`] of the buffer, and the part of the source rectangle that
//! the transform maps onto it, so the pixels drawn are those of the whole
//! rectangle.

use super::geometry::{Buffer, Dest, Point, Rect, Size};
use super::plan::{
    Filter, MAX_EXTENT, PlanError, Side, check_buffer, check_rect, matrix, matrix_f64,
    touched_pixels,
};
use super::transform::Transform;

/// How a draw's pixels combine with what the destination holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Blend {
    /// The source replaces the destination (`clear`, opaque content).
    Replace,
    /// Premultiplied "over": `src + dst × (1 − src.alpha)`.
    Over,
}

/// What a draw reads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DrawSource {
    /// One colour everywhere: premultiplied red, green, blue, alpha, each in
    /// `[0, 1]`.
    Solid([f32; 4]),
    /// A rectangle of a texture of `size` pixels, in its buffer pixels
    /// (fractional: `wp_viewporter` crops to any point), shown under
    /// `transform` (the [`Transform`] convention: applied to the content)
    /// and sampled with `filter`.
    Texture {
        /// The texture's size in pixels.
        size: Size<i32, Buffer>,
        /// The rectangle read.
        rect: Rect<f64, Buffer>,
        /// What is done to the content on its way to the destination.
        transform: Transform,
        /// How samples between texel centres are read.
        filter: Filter,
    },
}

/// One draw as a frame asks for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawRequest {
    /// Size of the destination buffer, in pixels.
    pub dst_size: Size<i32, Dest>,
    /// The rectangle the whole source is shown in. It may reach outside the
    /// buffer, up to [`MAX_EXTENT`] beyond each edge.
    pub dst_rect: Rect<i32, Dest>,
    /// The pixels written: inside both `dst_rect` and the buffer. Every
    /// other pixel is left alone.
    pub clip: Rect<i32, Dest>,
    /// What is drawn.
    pub source: DrawSource,
    /// How it combines with the destination.
    pub blend: Blend,
    /// Multiplies the (premultiplied) source, in `[0, 1]`.
    pub alpha: f32,
}

/// Why a [`DrawRequest`] was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DrawError {
    /// The destination buffer or the texture has no pixel or is too large,
    /// or the clip rectangle is empty or not inside the destination buffer.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The destination rectangle is empty, or reaches further than
    /// [`MAX_EXTENT`] beyond an edge of the buffer.
    #[error("destination rectangle {width}×{height} at ({x}, {y}) is empty or too far out")]
    DestinationRect {
        /// Its left edge.
        x: i32,
        /// Its top edge.
        y: i32,
        /// Its width.
        width: i32,
        /// Its height.
        height: i32,
    },
    /// The clip rectangle is not inside the destination rectangle.
    #[error("clip rectangle is not inside the destination rectangle")]
    ClipOutsideRect,
    /// The source rectangle is empty, not finite, or not inside its texture.
    #[error("source rectangle {width}×{height} at ({x}, {y}) is not inside its texture")]
    SourceRect {
        /// Its left edge.
        x: f64,
        /// Its top edge.
        y: f64,
        /// Its width.
        width: f64,
        /// Its height.
        height: f64,
    },
    /// The alpha multiplier or a colour component is not a number in
    /// `[0, 1]`.
    #[error("{what} {value} is not in [0, 1]")]
    OutOfUnitRange {
        /// `alpha` or `colour`.
        what: &'static str,
        /// The value.
        value: f32,
    },
}

/// How far a source rectangle may pass the texture's edge, in pixels, and
/// still count as inside: the rounding of a logical-to-buffer conversion.
/// Samples are clamped to the texture regardless.
const SOURCE_SLACK: f64 = 1.0 / 256.0;

/// A validated draw: which pixels are written and where each one samples.
///
/// The map has [`CopyPlan::matrix`](super::CopyPlan::matrix)'s layout and
/// input: a point relative to the top-left corner of the destination
/// rectangle (not of the clip), to absolute source pixels. Samples are
/// clamped to [`src_bounds`](Self::src_bounds), the texels the source
/// rectangle touches.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawPlan {
    request: DrawRequest,
    matrix: [f32; 6],
    src_bounds: Rect<i32, Buffer>,
}

impl DrawPlan {
    /// Validates `request` and computes its map: the destination buffer,
    /// the destination rectangle, the clip, the alpha, then the source.
    pub fn new(request: DrawRequest) -> Result<Self, DrawError> {
        check_buffer(Side::Destination, request.dst_size)?;
        check_destination_rect(request.dst_rect, request.dst_size)?;
        check_rect(Side::Destination, request.clip, request.dst_size)?;
        if !contains(request.dst_rect, request.clip) {
            return Err(DrawError::ClipOutsideRect);
        }
        unit("alpha", request.alpha)?;
        let (matrix, src_bounds) = match request.source {
            DrawSource::Solid(colour) => {
                for value in colour {
                    unit("colour", value)?;
                }
                (
                    [0.0; 6],
                    Rect::new(super::Point::new(0, 0), Size::new(1, 1)),
                )
            }
            DrawSource::Texture {
                size,
                rect,
                transform,
                ..
            } => {
                check_buffer(Side::Source, size)?;
                let bounds = source_bounds(rect, size)?;
                (matrix(rect, transform, request.dst_rect.size), bounds)
            }
        };
        Ok(Self {
            request,
            matrix,
            src_bounds,
        })
    }

    /// The request this plan was made from.
    pub fn request(&self) -> &DrawRequest {
        &self.request
    }

    /// The destination-to-source map (zero for a solid colour).
    pub fn matrix(&self) -> [f32; 6] {
        self.matrix
    }

    /// The texels samples are clamped to: the source rectangle rounded out
    /// to whole pixels, inside the texture.
    pub fn src_bounds(&self) -> Rect<i32, Buffer> {
        self.src_bounds
    }
}

/// Checks that `rect` holds pixels and reaches at most [`MAX_EXTENT`]
/// beyond each edge of the buffer, so that every number the shader forms
/// from it stays far inside `f32`'s exact integers.
fn check_destination_rect(rect: Rect<i32, Dest>, buffer: Size<i32, Dest>) -> Result<(), DrawError> {
    let (x, y, width, height) = (rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
    let within = |start: i32, len: i32, extent: i32| {
        let (start, len, extent) = (i64::from(start), i64::from(len), i64::from(extent));
        let max = i64::from(MAX_EXTENT);
        len > 0 && start >= -max && start + len <= extent + max
    };
    if within(x, width, buffer.w) && within(y, height, buffer.h) {
        Ok(())
    } else {
        Err(DrawError::DestinationRect {
            x,
            y,
            width,
            height,
        })
    }
}

/// How far beyond each edge of the buffer [`clip_destination`] keeps a
/// destination rectangle: well inside [`MAX_EXTENT`], and wide enough that
/// the samples of the pixels inside the buffer, bilinear ones included,
/// come from the same texels as for the whole rectangle unless a texel
/// spans thousands of pixels.
pub const CLIP_MARGIN: i32 = MAX_EXTENT / 2;

/// The destination rectangle and source of a draw of `source` shown in
/// `dst_rect` (any rectangle, in `i64` so that its far edge exists) on a
/// buffer of `dst_size`, which [`DrawPlan::new`] accepts: `dst_rect` as it
/// is where it reaches at most [`MAX_EXTENT`] beyond the buffer; else the
/// part of it within [`CLIP_MARGIN`] of the buffer, with, for a texture,
/// the part of the source rectangle the transform maps onto that part.
/// `None` when nothing of `dst_rect` is that close to the buffer, or the
/// part of the source is too thin to be a rectangle in `f64`.
pub fn clip_destination(
    dst_rect: Rect<i64, Dest>,
    dst_size: Size<i32, Dest>,
    source: DrawSource,
) -> Option<(Rect<i32, Dest>, DrawSource)> {
    let (x, y, w, h) = (
        dst_rect.loc.x,
        dst_rect.loc.y,
        dst_rect.size.w,
        dst_rect.size.h,
    );
    let to_i32 = |x: i64, y: i64, w: i64, h: i64| {
        let [x, y, w, h] = [x, y, w, h].map(|v| i32::try_from(v).ok());
        Some(Rect::new(Point::new(x?, y?), Size::new(w?, h?)))
    };
    let max = i64::from(MAX_EXTENT);
    let within = |start: i64, len: i64, extent: i32| {
        len > 0 && start >= -max && start.saturating_add(len) <= i64::from(extent) + max
    };
    if within(x, w, dst_size.w) && within(y, h, dst_size.h) {
        return Some((to_i32(x, y, w, h)?, source));
    }
    let margin = i64::from(CLIP_MARGIN);
    let cut = |start: i64, len: i64, extent: i32| {
        let first = start.max(-margin);
        let end = start.saturating_add(len).min(i64::from(extent) + margin);
        (len > 0 && end > first).then_some((first, end - first))
    };
    let (cx, cw) = cut(x, w, dst_size.w)?;
    let (cy, ch) = cut(y, h, dst_size.h)?;
    let clipped = to_i32(cx, cy, cw, ch)?;
    let DrawSource::Texture {
        size,
        rect,
        transform,
        filter,
    } = source
    else {
        return Some((clipped, source));
    };
    // The corners of the part kept, relative to the whole rectangle, mapped
    // to the source (exact in f64: every number is below 2³³).
    let [a, d, b, e, c, f] = matrix_f64(rect, transform, (w as f64, h as f64));
    let corners = [(cx - x, cy - y), (cx + cw - x, cy + ch - y)]
        .map(|(px, py)| (px as f64, py as f64))
        .map(|(px, py)| (a * px + b * py + c, d * px + e * py + f));
    let [(x0, y0), (x1, y1)] = corners;
    let left = x0.min(x1).max(rect.loc.x);
    let right = x0.max(x1).min(rect.loc.x + rect.size.w);
    let top = y0.min(y1).max(rect.loc.y);
    let bottom = y0.max(y1).min(rect.loc.y + rect.size.h);
    if right <= left || bottom <= top {
        return None;
    }
    let part = Rect::new(Point::new(left, top), Size::new(right - left, bottom - top));
    Some((
        clipped,
        DrawSource::Texture {
            size,
            rect: part,
            transform,
            filter,
        },
    ))
}

/// Whether `inner` lies inside `outer`, in arithmetic that cannot overflow.
fn contains<S>(outer: Rect<i32, S>, inner: Rect<i32, S>) -> bool {
    let edges = |r: Rect<i32, S>| {
        let (x, y) = (i64::from(r.loc.x), i64::from(r.loc.y));
        (x, y, x + i64::from(r.size.w), y + i64::from(r.size.h))
    };
    let (ox0, oy0, ox1, oy1) = edges(outer);
    let (ix0, iy0, ix1, iy1) = edges(inner);
    ix0 >= ox0 && iy0 >= oy0 && ix1 <= ox1 && iy1 <= oy1
}

/// Refuses a value that is not a number in `[0, 1]`.
fn unit(what: &'static str, value: f32) -> Result<(), DrawError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(DrawError::OutOfUnitRange { what, value })
    }
}

/// The whole texels a source rectangle touches, after checking that it is
/// finite, not empty, and inside the texture (within [`SOURCE_SLACK`]).
fn source_bounds(
    rect: Rect<f64, Buffer>,
    size: Size<i32, Buffer>,
) -> Result<Rect<i32, Buffer>, DrawError> {
    let (x, y, width, height) = (rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
    let refused = DrawError::SourceRect {
        x,
        y,
        width,
        height,
    };
    let fits = |start: f64, len: f64, extent: i32| {
        start.is_finite()
            && len.is_finite()
            && len > 0.0
            && start >= -SOURCE_SLACK
            && start + len <= f64::from(extent) + SOURCE_SLACK
    };
    if !fits(x, width, size.w) || !fits(y, height, size.h) {
        return Err(refused);
    }
    // Inside the texture, which is at most MAX_EXTENT wide, give or take
    // the slack: clamped into it.
    let touched = touched_pixels(rect);
    let span = |first: i32, len: i32, extent: i32| {
        let start = first.clamp(0, extent - 1);
        let end = (first + len).clamp(start + 1, extent);
        (start, end - start)
    };
    let (bx, bw) = span(touched.loc.x, touched.size.w, size.w);
    let (by, bh) = span(touched.loc.y, touched.size.h, size.h);
    Ok(Rect::new(super::Point::new(bx, by), Size::new(bw, bh)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::Point;

    fn rect<T, S>(x: T, y: T, w: T, h: T) -> Rect<T, S> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    fn texture(rect: Rect<f64, Buffer>, transform: Transform) -> DrawSource {
        DrawSource::Texture {
            size: Size::new(4, 4),
            rect,
            transform,
            filter: Filter::Nearest,
        }
    }

    fn request(source: DrawSource) -> DrawRequest {
        DrawRequest {
            dst_size: Size::new(8, 8),
            dst_rect: rect(-2, 0, 4, 4),
            clip: rect(0, 0, 2, 4),
            source,
            blend: Blend::Over,
            alpha: 1.0,
        }
    }

    #[test]
    fn a_destination_rect_may_leave_the_buffer_but_the_clip_may_not() {
        let plan = DrawPlan::new(request(DrawSource::Solid([0.0; 4])));
        assert!(plan.is_ok());
        let mut outside = request(DrawSource::Solid([0.0; 4]));
        outside.clip = rect(-1, 0, 2, 4);
        assert!(matches!(
            DrawPlan::new(outside),
            Err(DrawError::Plan(PlanError::NegativeOrigin { .. }))
        ));
        let mut beyond = request(DrawSource::Solid([0.0; 4]));
        beyond.clip = rect(0, 0, 3, 4);
        assert_eq!(DrawPlan::new(beyond), Err(DrawError::ClipOutsideRect));
        let mut far = request(DrawSource::Solid([0.0; 4]));
        far.dst_rect = rect(-MAX_EXTENT - 1, 0, MAX_EXTENT + 3, 4);
        assert!(matches!(
            DrawPlan::new(far),
            Err(DrawError::DestinationRect { .. })
        ));
    }

    #[test]
    fn source_rects_and_factors_are_checked() {
        for bad in [
            rect(0.0, 0.0, 4.5, 4.0),
            rect(-0.5, 0.0, 1.0, 1.0),
            rect(0.0, 0.0, 0.0, 1.0),
            rect(f64::NAN, 0.0, 1.0, 1.0),
        ] {
            assert!(matches!(
                DrawPlan::new(request(texture(bad, Transform::Normal))),
                Err(DrawError::SourceRect { .. })
            ));
        }
        let mut dim = request(DrawSource::Solid([0.0; 4]));
        dim.alpha = 1.5;
        assert!(matches!(
            DrawPlan::new(dim),
            Err(DrawError::OutOfUnitRange { what: "alpha", .. })
        ));
        assert!(matches!(
            DrawPlan::new(request(DrawSource::Solid([0.0, f32::NAN, 0.0, 1.0]))),
            Err(DrawError::OutOfUnitRange { what: "colour", .. })
        ));
    }

    #[test]
    fn fractional_sources_round_out_to_whole_texels() {
        let plan = DrawPlan::new(request(texture(
            rect(0.5, 1.25, 2.0, 2.5),
            Transform::Normal,
        )))
        .expect("inside the texture");
        assert_eq!(plan.src_bounds(), rect(0, 1, 3, 3));
        // Half a texel per destination pixel, from the rectangle's corner.
        assert_eq!(plan.matrix(), [0.5, 0.0, 0.0, 0.625, 0.5, 1.25]);
    }

    /// The pixels a clipped draw keeps sample where those of the whole
    /// rectangle did, under every transform; inside the margin nothing is
    /// cut.
    #[test]
    fn far_reaching_destinations_are_cut_to_the_part_near_the_buffer() {
        let dst_size = Size::new(16, 12);
        let src = rect(0.5, 1.0, 3.0, 2.0);
        let whole = rect(-40_000_i64, -3, 80_000, 20);
        for transform in Transform::ALL {
            let source = texture(src, transform);
            let (clipped, part) = clip_destination(whole, dst_size, source).expect("visible");
            assert_eq!(clipped, rect(-CLIP_MARGIN, -3, 16 + 2 * CLIP_MARGIN, 20));
            let DrawSource::Texture { rect: part, .. } = part else {
                panic!("a texture stays a texture");
            };
            let seen = transform.transformed_size(Size::<f64, Dest>::new(3.0, 2.0));
            let full = matrix_f64(src, transform, (80_000.0, 20.0));
            let cut = matrix_f64(part, transform, (f64::from(clipped.size.w), 20.0));
            for (px, py) in [(0.5, 0.5), (7.5, 4.5), (15.5, 11.5)] {
                let map = |m: [f64; 6], (x, y): (f64, f64)| {
                    (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])
                };
                let a = map(full, (px + 40_000.0, py + 3.0));
                let b = map(cut, (px + f64::from(CLIP_MARGIN), py + 3.0));
                assert!(
                    (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9,
                    "{transform:?} {seen:?}: {a:?} against {b:?}"
                );
            }
        }
        let near = rect(-100_i64, 0, 200, 12);
        let source = texture(src, Transform::_90);
        assert_eq!(
            clip_destination(near, dst_size, source),
            Some((rect(-100, 0, 200, 12), source))
        );
        let gone = rect(i64::from(i32::MAX) - 5, 0, 100, 12);
        assert_eq!(clip_destination(gone, dst_size, source), None);
        let solid = DrawSource::Solid([1.0; 4]);
        let (clipped, _) =
            clip_destination(rect(-5, i64::from(i32::MIN), 10, 1 << 33), dst_size, solid)
                .expect("visible");
        assert_eq!(clipped, rect(-5, -CLIP_MARGIN, 10, 12 + 2 * CLIP_MARGIN));
    }

    #[test]
    fn integer_draws_match_the_copy_plans_map() {
        use crate::copy::{CopyPlan, CopyRequest};
        for transform in Transform::ALL {
            let dst = transform.transformed_size(Size::<i32, Buffer>::new(3, 2));
            let copy = CopyPlan::new(CopyRequest {
                src_size: Size::new(4, 4),
                dst_size: Size::new(8, 8),
                src_rect: rect(1, 1, 3, 2),
                dst_rect: rect(2, 3, dst.w, dst.h),
                transform,
                filter: None,
            })
            .expect("a valid copy");
            let draw = DrawPlan::new(DrawRequest {
                dst_size: Size::new(8, 8),
                dst_rect: rect(2, 3, dst.w, dst.h),
                clip: rect(2, 3, dst.w, dst.h),
                source: texture(rect(1.0, 1.0, 3.0, 2.0), transform),
                blend: Blend::Replace,
                alpha: 1.0,
            })
            .expect("a valid draw");
            assert_eq!(draw.matrix(), copy.matrix(), "{transform:?}");
        }
    }
}
