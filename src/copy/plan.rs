//! The geometry of one copy: a validated [`CopyRequest`] and the map from
//! destination pixels to source coordinates that a blit or shader follows.
//!
//! Callers describe a whole copy at once, "copy this rectangle of X to that
//! rectangle of Y with this transform" (Russell King's rule for DMA APIs:
//! never a separate "set source" and "set destination"). [`CopyPlan::new`]
//! checks every number before anything else is computed, so a plan that
//! reads or writes outside its buffers cannot exist.

use super::geometry::{Buffer, Dest, Point, Rect, Size};
use super::transform::Transform;

/// The largest width or height of a buffer in a copy.
///
/// 16384 is `maxImageDimension2D` on common desktop GPUs; the executor still
/// checks the device's own limit. It also keeps every pixel coordinate of a
/// plan, and the sums [`CopyPlan::matrix`] makes, far inside the 24-bit
/// mantissa of an `f32` (2¹⁵ < 2²⁴), so a pixel centre `i + 0.5` is exact.
pub const MAX_EXTENT: i32 = 16384;

/// How the source is sampled when the copy scales.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// The texel under the sample point (`VK_FILTER_NEAREST`).
    Nearest,
    /// Bilinear interpolation of the four nearest texels (`VK_FILTER_LINEAR`),
    /// clamped to the edge of the source rectangle.
    Linear,
}

/// Which buffer of a copy a [`PlanError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The buffer read from.
    Source,
    /// The buffer written to.
    Destination,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source => "source",
            Self::Destination => "destination",
        })
    }
}

/// One copy as a caller asks for it: read `src_rect` of a buffer of
/// `src_size`, apply `transform` (see [`Transform`] for the convention),
/// scale to `dst_rect` of a buffer of `dst_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CopyRequest {
    /// Size of the source buffer, in pixels.
    pub src_size: Size<i32, Buffer>,
    /// Size of the destination buffer, in pixels.
    pub dst_size: Size<i32, Dest>,
    /// The pixels read.
    pub src_rect: Rect<i32, Buffer>,
    /// The pixels written; every other pixel of the destination is left
    /// alone.
    pub dst_rect: Rect<i32, Dest>,
    /// What is done to the source content on its way to `dst_rect`.
    pub transform: Transform,
    /// How to sample when the copy scales. `None` asks for an exact copy:
    /// a request that would scale is then refused rather than resampled.
    pub filter: Option<Filter>,
}

/// Why a [`CopyRequest`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A buffer's width or height is zero or negative.
    #[error("{side} buffer is {width}×{height}, which holds no pixel")]
    EmptyBuffer {
        /// The buffer.
        side: Side,
        /// Its width.
        width: i32,
        /// Its height.
        height: i32,
    },
    /// A buffer's width or height is larger than [`MAX_EXTENT`].
    #[error("{side} buffer is {width}×{height}, larger than {MAX_EXTENT} in a dimension")]
    BufferTooLarge {
        /// The buffer.
        side: Side,
        /// Its width.
        width: i32,
        /// Its height.
        height: i32,
    },
    /// A rectangle's width or height is zero or negative.
    #[error("{side} rectangle is {width}×{height}, which holds no pixel")]
    EmptyRect {
        /// The buffer the rectangle is in.
        side: Side,
        /// The rectangle's width.
        width: i32,
        /// The rectangle's height.
        height: i32,
    },
    /// A rectangle starts left of or above its buffer (a negative
    /// coordinate).
    #[error("{side} rectangle starts at ({x}, {y}), outside its buffer")]
    NegativeOrigin {
        /// The buffer the rectangle is in.
        side: Side,
        /// The rectangle's left edge.
        x: i32,
        /// The rectangle's top edge.
        y: i32,
    },
    /// A rectangle ends right of or below its buffer: `x + width` is more
    /// than the buffer's width or `y + height` more than its height. The sums
    /// are taken in `i64`, so one that overflows `i32` is refused here too.
    #[error(
        "{side} rectangle {width}×{height} at ({x}, {y}) does not fit in its \
         {buffer_width}×{buffer_height} buffer"
    )]
    RectOutOfBounds {
        /// The buffer the rectangle is in.
        side: Side,
        /// The rectangle's left edge.
        x: i32,
        /// The rectangle's top edge.
        y: i32,
        /// The rectangle's width.
        width: i32,
        /// The rectangle's height.
        height: i32,
        /// The buffer's width.
        buffer_width: i32,
        /// The buffer's height.
        buffer_height: i32,
    },
    /// The source rectangle, once transformed, differs in size from the
    /// destination rectangle, and the request names no [`Filter`].
    #[error(
        "copy scales {src_width}×{src_height} (transformed) to \
         {dst_width}×{dst_height} but names no filter"
    )]
    ScalingWithoutFilter {
        /// Width of the transformed source rectangle.
        src_width: i32,
        /// Height of the transformed source rectangle.
        src_height: i32,
        /// Width of the destination rectangle.
        dst_width: i32,
        /// Height of the destination rectangle.
        dst_height: i32,
    },
    /// The source rectangle does not lie on whole pixels
    /// ([`CopyPlan::with_source`]) and the request names no [`Filter`]:
    /// such a copy samples between texel centres, so it resamples.
    #[error("copy reads a source rectangle off whole pixels but names no filter")]
    FractionalWithoutFilter,
}

/// Checks that a `w × h` buffer holds pixels and is at most [`MAX_EXTENT`]
/// in each dimension.
pub(super) fn check_buffer<S>(side: Side, size: Size<i32, S>) -> Result<(), PlanError> {
    let (width, height) = (size.w, size.h);
    if width <= 0 || height <= 0 {
        return Err(PlanError::EmptyBuffer {
            side,
            width,
            height,
        });
    }
    if width > MAX_EXTENT || height > MAX_EXTENT {
        return Err(PlanError::BufferTooLarge {
            side,
            width,
            height,
        });
    }
    Ok(())
}

/// Checks that `rect` holds pixels and lies entirely inside `buffer`.
pub(super) fn check_rect<S>(
    side: Side,
    rect: Rect<i32, S>,
    buffer: Size<i32, S>,
) -> Result<(), PlanError> {
    let (x, y, width, height) = (rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
    if width <= 0 || height <= 0 {
        return Err(PlanError::EmptyRect {
            side,
            width,
            height,
        });
    }
    if x < 0 || y < 0 {
        return Err(PlanError::NegativeOrigin { side, x, y });
    }
    // Two i32s cannot overflow an i64.
    let right = i64::from(x) + i64::from(width);
    let bottom = i64::from(y) + i64::from(height);
    if right > i64::from(buffer.w) || bottom > i64::from(buffer.h) {
        return Err(PlanError::RectOutOfBounds {
            side,
            x,
            y,
            width,
            height,
            buffer_width: buffer.w,
            buffer_height: buffer.h,
        });
    }
    Ok(())
}

/// A validated copy: which destination pixels are written and where in the
/// source each one samples.
///
/// # The map
///
/// A destination pixel `(i, j)` of `dst_rect` samples the source at
/// [`src_coord`](Self::src_coord) of its centre `(i + 0.5, j + 0.5)`. The
/// destination rectangle stands for the whole source rectangle, transformed:
/// its corners map to the corners of `src_rect` as the [`Transform`] says,
/// and a scaled copy stretches each axis evenly. In exact arithmetic every
/// pixel centre lands strictly inside `src_rect`; evaluated in `f32` as
/// [`matrix`](Self::matrix) describes, it lands inside or on the border of
/// `src_rect`, never outside. How a coordinate becomes a value (which texels,
/// clamped how) is defined by [`reference`](super::reference).
///
/// # Fractional sources
///
/// [`with_source`](Self::with_source) plans a copy of a source rectangle in
/// fractional pixels, as `wp_viewporter` crops a surface: the map sends the
/// destination rectangle onto that rectangle, and the request's `src_rect`
/// becomes the whole pixels it touches, `floor(x) .. ceil(x + width)` on
/// each axis. Samples are clamped to those pixels, as for any copy, so a
/// sample near a fractional edge reads (nearest) or blends in (linear) the
/// pixel that edge cuts, and nothing beyond it.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyPlan {
    request: CopyRequest,
    /// The rectangle the map sends the destination rectangle onto:
    /// `src_rect`, or the fractional rectangle of
    /// [`with_source`](Self::with_source).
    source: Rect<f64, Buffer>,
    /// See [`CopyPlan::matrix`].
    matrix: [f32; 6],
}

impl CopyPlan {
    /// Validates `request` and computes its map. Every check comes first, in
    /// this order: both buffer sizes, then the source and destination
    /// rectangles, then scaling against the filter.
    pub fn new(request: CopyRequest) -> Result<Self, PlanError> {
        let r = request.src_rect;
        let source = Rect::new(
            Point::new(f64::from(r.loc.x), f64::from(r.loc.y)),
            Size::new(f64::from(r.size.w), f64::from(r.size.h)),
        );
        Self::plan(request, source)
    }

    /// As [`new`](Self::new), reading the rectangle `source` of fractional
    /// source pixels (see [Fractional sources](Self#fractional-sources)):
    /// `request.src_rect` is replaced by the whole pixels `source` touches,
    /// and checked as `new` checks it. Such a pixel lies inside the buffer
    /// exactly when `source` does, as the buffer's edges are whole. A
    /// `source` off whole pixels resamples, so it needs a filter
    /// ([`PlanError::FractionalWithoutFilter`]).
    pub fn with_source(
        mut request: CopyRequest,
        source: Rect<f64, Buffer>,
    ) -> Result<Self, PlanError> {
        let (w, h) = (source.size.w, source.size.h);
        let finite = [source.loc.x, source.loc.y, w, h]
            .iter()
            .all(|v| v.is_finite());
        // A NaN is not finite, so no comparison below meets one.
        if !finite || w <= 0.0 || h <= 0.0 {
            return Err(PlanError::EmptyRect {
                side: Side::Source,
                width: w as i32,
                height: h as i32,
            });
        }
        request.src_rect = touched_pixels(source);
        Self::plan(request, source)
    }

    /// Checks `request` and maps its destination rectangle onto `source`,
    /// whose touched pixels are `request.src_rect`.
    fn plan(request: CopyRequest, source: Rect<f64, Buffer>) -> Result<Self, PlanError> {
        check_buffer(Side::Source, request.src_size)?;
        check_buffer(Side::Destination, request.dst_size)?;
        check_rect(Side::Source, request.src_rect, request.src_size)?;
        check_rect(Side::Destination, request.dst_rect, request.dst_size)?;
        let plan = Self {
            request,
            source,
            matrix: matrix(source, request.transform, request.dst_rect.size),
        };
        if request.filter.is_none() {
            // A fractional source's touched pixels are not its size: it is
            // refused as fractional whatever its size.
            if plan.is_fractional() {
                return Err(PlanError::FractionalWithoutFilter);
            }
            if let Some((seen, dst)) = scaling(&request) {
                return Err(PlanError::ScalingWithoutFilter {
                    src_width: seen.w,
                    src_height: seen.h,
                    dst_width: dst.w,
                    dst_height: dst.h,
                });
            }
        }
        Ok(plan)
    }

    /// The request this plan was made from.
    pub fn request(&self) -> &CopyRequest {
        &self.request
    }

    /// The filter the copy samples with: the request's, or
    /// [`Filter::Nearest`] for an unscaled copy that names none. An unscaled
    /// copy maps each destination pixel centre exactly onto a source pixel
    /// centre, where both filters read that one texel.
    pub fn filter(&self) -> Filter {
        self.request.filter.unwrap_or(Filter::Nearest)
    }

    /// The rectangle of source pixels read: `src_rect`, or the fractional
    /// one [`with_source`](Self::with_source) was given.
    pub fn source(&self) -> Rect<f64, Buffer> {
        self.source
    }

    /// Whether the copy resamples: the transformed source rectangle differs
    /// in size from the destination rectangle, or the source rectangle is
    /// not on whole pixels. A copy that does not resample maps each
    /// destination pixel centre onto a source pixel centre.
    pub fn needs_scaling(&self) -> bool {
        scaling(&self.request).is_some() || self.is_fractional()
    }

    /// Whether the source rectangle is not on whole pixels.
    fn is_fractional(&self) -> bool {
        let r = self.request.src_rect;
        let s = self.source;
        (s.loc.x, s.loc.y, s.size.w, s.size.h)
            != (
                f64::from(r.loc.x),
                f64::from(r.loc.y),
                f64::from(r.size.w),
                f64::from(r.size.h),
            )
    }

    /// Whether the copy is a plain rectangle copy: no transform and no
    /// scaling. Geometry only: whether the two formats let it move bytes
    /// unchanged is decided with them (`plain.rs`).
    pub fn is_identity_blit(&self) -> bool {
        self.request.transform == Transform::Normal && !self.needs_scaling()
    }

    /// The 2×3 affine map from destination to source, as a shader takes it.
    ///
    /// * **Input:** a point of the destination relative to the top-left
    ///   corner of `dst_rect`, in destination pixels: pixel `(i, j)` of the
    ///   rectangle has its centre at `(i + 0.5, j + 0.5)`. In a fragment
    ///   shader that is `gl_FragCoord.xy - dst_rect.loc`.
    /// * **Output:** a point of the source buffer in source pixels, absolute
    ///   (`src_rect`'s offset is included), the unit `texelFetch` takes after
    ///   `floor` and a sampler with `unnormalizedCoordinates` takes as is.
    ///   Divide by `src_size` for a normalized sampler.
    /// * **Layout:** column-major, `[a, d, b, e, c, f]` for
    ///   `src.x = a·x + b·y + c`, `src.y = d·x + e·y + f`. That is GLSL's
    ///   `mat3x2` (three columns of two rows) in std430, the push constant
    ///   layout: 24 bytes, and `src = m * vec3(local, 1.0)`.
    ///
    /// The input is relative to `dst_rect` so that no term exceeds
    /// 2 × [`MAX_EXTENT`]: with absolute coordinates, `a·x` and `c` could
    /// both near 2²⁸ and cancel, leaving errors of whole pixels in `f32`.
    pub fn matrix(&self) -> [f32; 6] {
        self.matrix
    }

    /// Where the destination point `dst` (absolute destination pixels)
    /// samples the source: [`matrix`](Self::matrix) applied to `dst` minus
    /// `dst_rect`'s origin, in `f32` as a shader computes it. For a pixel
    /// centre of `dst_rect`, the result lies in `src_rect` or on its border.
    pub fn src_coord(&self, dst: Point<f32, Dest>) -> Point<f32, Buffer> {
        let [a, d, b, e, c, f] = self.matrix;
        let origin = self.request.dst_rect.loc;
        // Exact for pixel centres: integers and halves below 2 × MAX_EXTENT.
        let x = dst.x - origin.x as f32;
        let y = dst.y - origin.y as f32;
        Point::new(a * x + b * y + c, d * x + e * y + f)
    }
}

/// The transformed source rectangle's size and the destination rectangle's,
/// when the two differ.
fn scaling(request: &CopyRequest) -> Option<(Size<i32, Buffer>, Size<i32, Dest>)> {
    let seen = request.transform.transformed_size(request.src_rect.size);
    let dst = request.dst_rect.size;
    ((seen.w, seen.h) != (dst.w, dst.h)).then_some((seen, dst))
}

/// The whole pixels a rectangle touches: `floor(x) .. ceil(x + width)` on
/// each axis, each bound saturated to `i32` (a rectangle that far out is
/// refused by its check).
pub(super) fn touched_pixels<S>(rect: Rect<f64, S>) -> Rect<i32, S> {
    let span = |start: f64, len: f64| {
        let first = start.floor() as i32;
        let end = (start + len).ceil() as i64;
        (
            first,
            (end - i64::from(first)).clamp(0, i64::from(i32::MAX)) as i32,
        )
    };
    let (x, w) = span(rect.loc.x, rect.size.w);
    let (y, h) = span(rect.loc.y, rect.size.h);
    Rect::new(Point::new(x, y), Size::new(w, h))
}

/// The column-major destination-to-source map (see [`CopyPlan::matrix`]) of
/// a source rectangle shown under `transform` in a destination rectangle of
/// `dst` pixels, computed in `f64` and rounded once.
///
/// In unit coordinates of the two rectangles, the destination shows the
/// source under `transform`, so a destination point samples the source at
/// `transform.invert()` of itself. Scaling in and out of unit coordinates,
/// each coefficient is `±(source extent / destination extent)` or zero, and
/// each offset the source rectangle's edge, near or far.
///
/// For whole-pixel rectangles this is what the same arithmetic in `f32`
/// gives: a quotient or product of `f32` values computed in `f64` and
/// rounded once is the correctly rounded `f32` result, and integral edges
/// are exact. Why `f32` rounding cannot then leave `src_rect`: a pixel
/// centre's exact sample lies at least `0.5 × source extent / destination
/// extent` inside each edge, at least 2⁻¹⁵ of the source extent since
/// extents are at most [`MAX_EXTENT`]; the coefficient and its product carry
/// a relative error near 2⁻²³, so `coefficient × x` stays strictly between 0
/// and the source extent, and adding the integer edge `c` rounds to a value
/// between the two integer edges of `src_rect`, both of which `f32` holds
/// exactly. A fractional edge is rounded to `f32` too, which moves a sample
/// by far less than a pixel; the clamp to the touched pixels holds it in.
pub(super) fn matrix<S, D>(src: Rect<f64, S>, transform: Transform, dst: Size<i32, D>) -> [f32; 6] {
    matrix_f64(src, transform, (f64::from(dst.w), f64::from(dst.h))).map(|v| v as f32)
}

/// [`matrix`] in `f64`, for a destination rectangle of `dw × dh` pixels.
pub(super) fn matrix_f64<S>(
    src: Rect<f64, S>,
    transform: Transform,
    (dw, dh): (f64, f64),
) -> [f64; 6] {
    let m = transform.invert().unit_map();
    let (sw, sh) = (src.size.w, src.size.h);
    let a = f64::from(m[0][0]) * (sw / dw);
    let b = f64::from(m[0][1]) * (sw / dh);
    let c = src.loc.x + sw * f64::from(m[0][2]);
    let d = f64::from(m[1][0]) * (sh / dw);
    let e = f64::from(m[1][1]) * (sh / dh);
    let f = src.loc.y + sh * f64::from(m[1][2]);
    [a, d, b, e, c, f]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn rect<T, S>(x: T, y: T, w: T, h: T) -> Rect<T, S> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    /// A 3×2 source copied whole onto a 3×2 destination.
    fn request() -> CopyRequest {
        CopyRequest {
            src_size: Size::new(3, 2),
            dst_size: Size::new(3, 2),
            src_rect: rect(0, 0, 3, 2),
            dst_rect: rect(0, 0, 3, 2),
            transform: Transform::Normal,
            filter: None,
        }
    }

    fn plan(change: impl FnOnce(&mut CopyRequest)) -> Result<CopyPlan, PlanError> {
        let mut request = request();
        change(&mut request);
        CopyPlan::new(request)
    }

    fn refused(change: impl FnOnce(&mut CopyRequest)) -> PlanError {
        plan(change).expect_err("request must be refused")
    }

    #[test]
    fn empty_buffers_are_refused() {
        assert_eq!(
            refused(|r| r.src_size = Size::new(0, 2)),
            PlanError::EmptyBuffer {
                side: Side::Source,
                width: 0,
                height: 2
            }
        );
        assert_eq!(
            refused(|r| r.dst_size = Size::new(3, -1)),
            PlanError::EmptyBuffer {
                side: Side::Destination,
                width: 3,
                height: -1
            }
        );
    }

    #[test]
    fn oversized_buffers_are_refused() {
        assert_eq!(
            refused(|r| r.src_size = Size::new(MAX_EXTENT + 1, 2)),
            PlanError::BufferTooLarge {
                side: Side::Source,
                width: MAX_EXTENT + 1,
                height: 2
            }
        );
        assert_eq!(
            refused(|r| r.dst_size = Size::new(3, i32::MAX)),
            PlanError::BufferTooLarge {
                side: Side::Destination,
                width: 3,
                height: i32::MAX
            }
        );
        assert!(plan(|r| r.src_size = Size::new(MAX_EXTENT, MAX_EXTENT)).is_ok());
    }

    #[test]
    fn empty_rects_are_refused() {
        assert_eq!(
            refused(|r| r.src_rect = rect(0, 0, 0, 2)),
            PlanError::EmptyRect {
                side: Side::Source,
                width: 0,
                height: 2
            }
        );
        assert_eq!(
            refused(|r| r.dst_rect = rect(0, 0, 3, -5)),
            PlanError::EmptyRect {
                side: Side::Destination,
                width: 3,
                height: -5
            }
        );
    }

    #[test]
    fn negative_origins_are_refused() {
        assert_eq!(
            refused(|r| r.src_rect = rect(-1, 0, 3, 2)),
            PlanError::NegativeOrigin {
                side: Side::Source,
                x: -1,
                y: 0
            }
        );
        assert_eq!(
            refused(|r| r.dst_rect = rect(0, i32::MIN, 3, 2)),
            PlanError::NegativeOrigin {
                side: Side::Destination,
                x: 0,
                y: i32::MIN
            }
        );
    }

    #[test]
    fn rects_past_their_buffer_are_refused() {
        let out = |side, x, y, width, height| PlanError::RectOutOfBounds {
            side,
            x,
            y,
            width,
            height,
            buffer_width: 3,
            buffer_height: 2,
        };
        assert_eq!(
            refused(|r| r.src_rect = rect(1, 0, 3, 2)),
            out(Side::Source, 1, 0, 3, 2)
        );
        assert_eq!(
            refused(|r| r.dst_rect = rect(0, 1, 3, 2)),
            out(Side::Destination, 0, 1, 3, 2)
        );
        // x + width overflows i32: still refused, not wrapped to a small sum.
        assert_eq!(
            refused(|r| r.src_rect = rect(i32::MAX, 0, 1, 2)),
            out(Side::Source, i32::MAX, 0, 1, 2)
        );
        assert_eq!(
            refused(|r| r.dst_rect = rect(2, 1, i32::MAX, i32::MAX)),
            out(Side::Destination, 2, 1, i32::MAX, i32::MAX)
        );
        // Touching the far edges is inside.
        assert!(
            plan(|r| {
                r.src_rect = rect(2, 1, 1, 1);
                r.filter = Some(Filter::Nearest);
            })
            .is_ok()
        );
    }

    #[test]
    fn scaling_needs_a_filter() {
        let upscale = |r: &mut CopyRequest| {
            r.dst_size = Size::new(6, 4);
            r.dst_rect = rect(0, 0, 6, 4);
        };
        assert_eq!(
            refused(upscale),
            PlanError::ScalingWithoutFilter {
                src_width: 3,
                src_height: 2,
                dst_width: 6,
                dst_height: 4
            }
        );
        // 3×2 turned a quarter is 2×3: onto a 3×2 rectangle it would scale.
        assert_eq!(
            refused(|r| r.transform = Transform::_90),
            PlanError::ScalingWithoutFilter {
                src_width: 2,
                src_height: 3,
                dst_width: 3,
                dst_height: 2
            }
        );
        for filter in [Filter::Nearest, Filter::Linear] {
            let plan = plan(|r| {
                upscale(r);
                r.filter = Some(filter);
            });
            assert_eq!(plan.map(|p| p.filter()), Ok(filter));
        }
    }

    #[test]
    fn buffers_are_checked_before_rects_and_source_before_destination() {
        let err = refused(|r| {
            r.src_rect = rect(-1, 0, 3, 2);
            r.dst_size = Size::new(0, 0);
        });
        assert!(matches!(
            err,
            PlanError::EmptyBuffer {
                side: Side::Destination,
                ..
            }
        ));
        let err = refused(|r| {
            r.src_rect = rect(0, 0, 9, 9);
            r.dst_rect = rect(-1, 0, 3, 2);
        });
        assert!(matches!(
            err,
            PlanError::RectOutOfBounds {
                side: Side::Source,
                ..
            }
        ));
    }

    #[test]
    fn identity_and_scaling_predicates() {
        let p = plan(|_| ()).expect("plain copy");
        assert!(p.is_identity_blit() && !p.needs_scaling());
        assert_eq!(p.filter(), Filter::Nearest);

        let p = plan(|r| r.transform = Transform::_180).expect("half turn");
        assert!(!p.is_identity_blit() && !p.needs_scaling());

        let p = plan(|r| {
            r.transform = Transform::Flipped90;
            r.dst_size = Size::new(2, 3);
            r.dst_rect = rect(0, 0, 2, 3);
        })
        .expect("transpose");
        assert!(!p.is_identity_blit() && !p.needs_scaling());

        let p = plan(|r| {
            r.src_rect = rect(0, 0, 2, 2);
            r.filter = Some(Filter::Linear);
        })
        .expect("stretch");
        assert!(!p.is_identity_blit() && p.needs_scaling());
    }

    fn sample(p: &CopyPlan, x: f32, y: f32) -> (f32, f32) {
        let s = p.src_coord(Point::new(x, y));
        (s.x, s.y)
    }

    #[test]
    fn offsets_carry_over_unscaled() {
        let p = CopyPlan::new(CopyRequest {
            src_size: Size::new(8, 8),
            dst_size: Size::new(10, 10),
            src_rect: rect(1, 2, 3, 2),
            dst_rect: rect(4, 5, 3, 2),
            transform: Transform::Normal,
            filter: None,
        })
        .expect("inside both buffers");
        assert_eq!(sample(&p, 4.5, 5.5), (1.5, 2.5));
        assert_eq!(sample(&p, 6.5, 6.5), (3.5, 3.5));
    }

    #[test]
    fn quarter_turn_samples_the_top_right_first() {
        // Source   a b c    shown turned 90° counter-clockwise:   c f
        //          d e f                                           b e
        //                                                          a d
        let p = plan(|r| {
            r.transform = Transform::_90;
            r.dst_size = Size::new(2, 3);
            r.dst_rect = rect(0, 0, 2, 3);
        })
        .expect("quarter turn");
        assert_eq!(sample(&p, 0.5, 0.5), (2.5, 0.5)); // c
        assert_eq!(sample(&p, 1.5, 0.5), (2.5, 1.5)); // f
        assert_eq!(sample(&p, 0.5, 2.5), (0.5, 0.5)); // a
        assert_eq!(sample(&p, 1.5, 2.5), (0.5, 1.5)); // d
    }

    #[test]
    fn downscale_samples_between_texels() {
        let p = plan(|r| {
            r.src_size = Size::new(4, 4);
            r.src_rect = rect(0, 0, 4, 4);
            r.dst_size = Size::new(2, 2);
            r.dst_rect = rect(0, 0, 2, 2);
            r.filter = Some(Filter::Linear);
        })
        .expect("half size");
        assert_eq!(sample(&p, 0.5, 0.5), (1.0, 1.0));
        assert_eq!(sample(&p, 1.5, 1.5), (3.0, 3.0));
    }

    #[test]
    fn matrix_is_column_major_and_relative_to_dst_rect() {
        // Source rectangle 3×2 at (1, 1), turned a quarter and doubled onto
        // a 4×6 rectangle at (5, 7). Destination to source is the inverse,
        // a quarter turn clockwise: src.x = 4 − y/2, src.y = 1 + x/2.
        let p = CopyPlan::new(CopyRequest {
            src_size: Size::new(4, 3),
            dst_size: Size::new(9, 13),
            src_rect: rect(1, 1, 3, 2),
            dst_rect: rect(5, 7, 4, 6),
            transform: Transform::_90,
            filter: Some(Filter::Linear),
        })
        .expect("inside both buffers");
        assert_eq!(p.matrix(), [0.0, 0.5, -0.5, 0.0, 4.0, 1.0]);
        // The top-left destination pixel shows the source's top-right one.
        assert_eq!(sample(&p, 5.5, 7.5), (3.75, 1.25));
    }

    #[test]
    fn fractional_sources_map_onto_the_rect_and_read_the_pixels_it_touches() {
        let request = CopyRequest {
            src_size: Size::new(4, 4),
            dst_size: Size::new(4, 4),
            src_rect: rect(0, 0, 1, 1),
            dst_rect: rect(0, 0, 2, 2),
            transform: Transform::Normal,
            filter: Some(Filter::Nearest),
        };
        let p = CopyPlan::with_source(request, rect(0.5, 1.25, 2.0, 2.5)).expect("inside");
        assert_eq!(p.request().src_rect, rect(0, 1, 3, 3));
        assert_eq!(p.source(), rect(0.5, 1.25, 2.0, 2.5));
        assert_eq!(p.matrix(), [1.0, 0.0, 0.0, 1.25, 0.5, 1.25]);
        // Same size as the destination, yet between texel centres.
        assert!(p.needs_scaling() && !p.is_identity_blit());
        let exact = CopyRequest {
            filter: None,
            ..request
        };
        assert_eq!(
            CopyPlan::with_source(exact, rect(0.5, 0.0, 2.0, 2.0)),
            Err(PlanError::FractionalWithoutFilter)
        );
        // On whole pixels it is the integral plan.
        assert_eq!(
            CopyPlan::with_source(exact, rect(1.0, 1.0, 2.0, 2.0)),
            CopyPlan::new(CopyRequest {
                src_rect: rect(1, 1, 2, 2),
                ..exact
            })
        );
        // Touching a pixel past the edge is outside; ending on it is not.
        assert!(matches!(
            CopyPlan::with_source(request, rect(2.5, 0.0, 1.75, 1.0)),
            Err(PlanError::RectOutOfBounds { .. })
        ));
        assert!(CopyPlan::with_source(request, rect(2.5, 0.0, 1.5, 1.0)).is_ok());
        for empty in [rect(0.0, 0.0, 0.0, 1.0), rect(0.0, 0.0, f64::NAN, 1.0)] {
            assert!(matches!(
                CopyPlan::with_source(request, empty),
                Err(PlanError::EmptyRect { .. })
            ));
        }
    }

    /// A buffer extent: mostly small, sometimes up to the maximum.
    fn extent() -> impl Strategy<Value = i32> {
        prop_oneof![3 => 1..=8, 1 => 1..=MAX_EXTENT]
    }

    /// A buffer size and a rectangle `(x, y, w, h)` inside it.
    fn buffer_and_rect() -> impl Strategy<Value = ((i32, i32), (i32, i32, i32, i32))> {
        (extent(), extent())
            .prop_flat_map(|(w, h)| (Just((w, h)), 0..w, 0..h))
            .prop_flat_map(|((w, h), x, y)| {
                (Just((w, h)), (Just(x), Just(y), 1..=w - x, 1..=h - y))
            })
    }

    fn transform() -> impl Strategy<Value = Transform> {
        proptest::sample::select(Transform::ALL.to_vec())
    }

    /// A coordinate or extent a caller might send: mostly near a small
    /// buffer, sometimes extreme.
    fn number() -> impl Strategy<Value = i32> {
        prop_oneof![
            12 => -2..12,
            1 => Just(MAX_EXTENT),
            1 => Just(MAX_EXTENT + 1),
            1 => Just(i32::MAX),
            1 => Just(i32::MIN),
            1 => any::<i32>(),
        ]
    }

    fn any_request() -> impl Strategy<Value = CopyRequest> {
        (
            proptest::array::uniform12(number()),
            transform(),
            proptest::option::of(prop_oneof![Just(Filter::Nearest), Just(Filter::Linear)]),
        )
            .prop_map(|(n, transform, filter)| CopyRequest {
                src_size: Size::new(n[0], n[1]),
                dst_size: Size::new(n[2], n[3]),
                src_rect: rect(n[4], n[5], n[6], n[7]),
                dst_rect: rect(n[8], n[9], n[10], n[11]),
                transform,
                filter,
            })
    }

    /// Whether `rect` lies in `size`, in arithmetic that cannot overflow.
    fn inside<S>(rect: Rect<i32, S>, size: Size<i32, S>) -> bool {
        let (x, y, w, h) = (rect.loc.x, rect.loc.y, rect.size.w, rect.size.h);
        w > 0
            && h > 0
            && x >= 0
            && y >= 0
            && i128::from(x) + i128::from(w) <= i128::from(size.w)
            && i128::from(y) + i128::from(h) <= i128::from(size.h)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Accepted exactly when both rectangles hold pixels inside buffers
        /// of allowed size and the copy scales only with a filter; and a
        /// refusal's reason is true of the request.
        #[test]
        fn accepted_exactly_when_in_bounds(r in any_request()) {
            let allowed = |w: i32, h: i32| (1..=MAX_EXTENT).contains(&w) && (1..=MAX_EXTENT).contains(&h);
            let seen = r.transform.transformed_size(r.src_rect.size);
            let scales = (seen.w, seen.h) != (r.dst_rect.size.w, r.dst_rect.size.h);
            let valid = allowed(r.src_size.w, r.src_size.h)
                && allowed(r.dst_size.w, r.dst_size.h)
                && inside(r.src_rect, r.src_size)
                && inside(r.dst_rect, r.dst_size)
                && (r.filter.is_some() || !scales);
            match CopyPlan::new(r) {
                Ok(_) => prop_assert!(valid),
                Err(err) => {
                    prop_assert!(!valid);
                    match err {
                        PlanError::EmptyBuffer { width, height, .. }
                        | PlanError::EmptyRect { width, height, .. } => {
                            prop_assert!(width <= 0 || height <= 0);
                        }
                        PlanError::BufferTooLarge { width, height, .. } => {
                            prop_assert!(width > MAX_EXTENT || height > MAX_EXTENT);
                        }
                        PlanError::NegativeOrigin { x, y, .. } => prop_assert!(x < 0 || y < 0),
                        PlanError::RectOutOfBounds { side, .. } => {
                            let fits = match side {
                                Side::Source => inside(r.src_rect, r.src_size),
                                Side::Destination => inside(r.dst_rect, r.dst_size),
                            };
                            prop_assert!(!fits);
                        }
                        PlanError::ScalingWithoutFilter { .. } => {
                            prop_assert!(scales && r.filter.is_none());
                        }
                        // Whole-pixel requests are never fractional.
                        PlanError::FractionalWithoutFilter => prop_assert!(false),
                    }
                }
            }
        }

        /// Every destination pixel centre of an accepted plan samples inside
        /// the source rectangle (its border included), corners and one
        /// pixel picked at random.
        #[test]
        fn pixel_centres_sample_inside_the_source_rect(
            (src_size, s) in buffer_and_rect(),
            (dst_size, d) in buffer_and_rect(),
            transform in transform(),
            linear in any::<bool>(),
            pick in (0.0f64..1.0, 0.0f64..1.0),
        ) {
            let plan = CopyPlan::new(CopyRequest {
                src_size: Size::new(src_size.0, src_size.1),
                dst_size: Size::new(dst_size.0, dst_size.1),
                src_rect: rect(s.0, s.1, s.2, s.3),
                dst_rect: rect(d.0, d.1, d.2, d.3),
                transform,
                filter: Some(if linear { Filter::Linear } else { Filter::Nearest }),
            });
            prop_assert!(plan.is_ok());
            let plan = plan.unwrap();
            let (w, h) = (d.2, d.3);
            // Truncation picks a pixel index below w and h.
            let picked = ((pick.0 * f64::from(w)) as i32, (pick.1 * f64::from(h)) as i32);
            for (i, j) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1), picked] {
                let centre = Point::new((d.0 + i) as f32 + 0.5, (d.1 + j) as f32 + 0.5);
                let src = plan.src_coord(centre);
                prop_assert!(
                    (s.0 as f32..=(s.0 + s.2) as f32).contains(&src.x)
                        && (s.1 as f32..=(s.1 + s.3) as f32).contains(&src.y),
                    "pixel ({}, {}) samples {:?}", i, j, src
                );
            }
        }
    }
}
