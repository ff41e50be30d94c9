//! Plain copies: when carrying out a [`CopyPlan`] moves bytes unchanged, so
//! that transfers (`vkCmdCopyBuffer`) can do it instead of the copy shader.
//!
//! A copy is plain when every byte it writes is a byte of the source, as it
//! was: no scaling (an unscaled copy reads single texels, so the filter
//! does not matter), no transform other than a mirror of the rows' order
//! (`Flipped180`: each row is kept whole, the rows are taken bottom up),
//! and the same packed format on both sides.
//! That holds for X formats too: an unscaled copy between them keeps each
//! pixel's padding byte (see [`reference`](super::reference)). Every other
//! pair of formats converts.
//!
//! A plain copy is then one run of bytes a row of the destination
//! rectangle, or a single run when both buffers hold the rectangle's rows
//! back to back (strides equal to a row of the rectangle, which means the
//! rectangle spans whole rows of both buffers and neither has padding) and
//! the rows keep their order.

use drm_fourcc::DrmFourcc;

use super::ImageDesc;
use super::plan::CopyPlan;
use super::transform::Transform;

/// Bytes of one pixel of the formats a plain copy moves.
const PIXEL_BYTES: u64 = 4;

/// A run of bytes a plain copy moves unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ByteRun {
    /// Where the run starts in the source buffer.
    pub(crate) src_offset: u64,
    /// Where it goes in the destination buffer.
    pub(crate) dst_offset: u64,
    /// Its length in bytes.
    pub(crate) len: u64,
}

/// A copy that moves bytes unchanged, as runs of bytes: the first run,
/// then each next one a stride further on the destination and a stride
/// further (or back, for a mirror of the rows) on the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainCopy {
    first: ByteRun,
    src_step: i64,
    dst_stride: u64,
    count: u64,
}

impl PlainCopy {
    /// The runs of bytes that carry out `plan` from `src` to `dst`, or
    /// `None` when the copy is not plain (see the module documentation).
    ///
    /// `src` and `dst` are descriptions the executor checked against the
    /// plan and their buffers, so every offset below lies inside a buffer.
    pub(crate) fn new(plan: &CopyPlan, src: &ImageDesc, dst: &ImageDesc) -> Option<Self> {
        let request = plan.request();
        let mirrored = match request.transform {
            Transform::Normal => false,
            Transform::Flipped180 => true,
            _ => return None,
        };
        if plan.needs_scaling() || src.format != dst.format || !keeps_bytes(src.format) {
            return None;
        }
        let (src_plane, dst_plane) = (src.planes.first()?, dst.planes.first()?);
        let (s, d) = (request.src_rect, request.dst_rect);
        let at = |offset: u64, stride: u32, x: i32, y: i32| {
            offset + coordinate(y) * u64::from(stride) + coordinate(x) * PIXEL_BYTES
        };
        let row = coordinate(d.size.w) * PIXEL_BYTES;
        let rows = coordinate(d.size.h);
        let (src_stride, dst_stride) = (u64::from(src_plane.stride), u64::from(dst_plane.stride));
        let back_to_back = src_stride == row && dst_stride == row && !mirrored;
        let (len, count) = if back_to_back {
            (row * rows, 1)
        } else {
            (row, rows)
        };
        // The destination's first row is the source rectangle's last where
        // the rows are mirrored.
        let (first_row, src_step) = if mirrored {
            (s.loc.y + s.size.h - 1, -i64::try_from(src_stride).ok()?)
        } else {
            (s.loc.y, i64::try_from(src_stride).ok()?)
        };
        Some(Self {
            first: ByteRun {
                src_offset: at(src_plane.offset, src_plane.stride, s.loc.x, first_row),
                dst_offset: at(dst_plane.offset, dst_plane.stride, d.loc.x, d.loc.y),
                len,
            },
            src_step,
            dst_stride,
            count,
        })
    }

    /// The runs, in order of destination rows.
    pub(crate) fn runs(&self) -> impl Iterator<Item = ByteRun> + '_ {
        (0..self.count).map(|i| ByteRun {
            // Inside the source buffer: the runs are its rectangle's rows.
            src_offset: self
                .first
                .src_offset
                .wrapping_add_signed(i as i64 * self.src_step),
            dst_offset: self.first.dst_offset + i * self.dst_stride,
            len: self.first.len,
        })
    }
}

/// Whether an unscaled copy of `format` onto itself leaves every byte as it
/// was: a packed format.
fn keeps_bytes(format: DrmFourcc) -> bool {
    matches!(
        format,
        DrmFourcc::Argb8888 | DrmFourcc::Xrgb8888 | DrmFourcc::Abgr8888 | DrmFourcc::Xbgr8888
    )
}

/// A coordinate or extent of a validated plan, which is not negative.
fn coordinate(i: i32) -> u64 {
    u64::try_from(i).expect("validated rectangles have no negative coordinate")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::copy::PlaneDesc;
    use crate::copy::reference::{self, ImageView, ImageViewMut};
    use crate::copy::{CopyRequest, Filter, Point, Rect, Size, Transform};

    const PACKED: [DrmFourcc; 4] = [
        DrmFourcc::Argb8888,
        DrmFourcc::Xrgb8888,
        DrmFourcc::Abgr8888,
        DrmFourcc::Xbgr8888,
    ];

    fn rect<S>(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, S> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    fn packed(format: DrmFourcc, (width, height): (u32, u32), offset: u64, pad: u32) -> ImageDesc {
        ImageDesc {
            format,
            width,
            height,
            planes: vec![PlaneDesc {
                offset,
                stride: width * 4 + pad,
            }],
        }
    }

    /// A 67×45 copy of a 20×10 rectangle between two padded buffers.
    fn sub_rect(change: impl FnOnce(&mut CopyRequest)) -> CopyPlan {
        let mut request = CopyRequest {
            src_size: Size::new(67, 45),
            dst_size: Size::new(40, 30),
            src_rect: rect(3, 5, 20, 10),
            dst_rect: rect(7, 2, 20, 10),
            transform: Transform::Normal,
            filter: None,
        };
        change(&mut request);
        CopyPlan::new(request).expect("a valid request")
    }

    fn plain(plan: &CopyPlan, src: DrmFourcc, dst: DrmFourcc) -> Option<PlainCopy> {
        let (s, d) = (plan.request().src_size, plan.request().dst_size);
        PlainCopy::new(
            plan,
            &packed(src, (s.w as u32, s.h as u32), 12, 20),
            &packed(dst, (d.w as u32, d.h as u32), 16, 8),
        )
    }

    #[test]
    fn a_sub_rectangle_is_one_run_a_row() {
        let plan = sub_rect(|_| ());
        for format in [DrmFourcc::Argb8888, DrmFourcc::Abgr8888] {
            let copy = plain(&plan, format, format).expect("a plain copy");
            let runs: Vec<ByteRun> = copy.runs().collect();
            // Rows 5 to 14 of the source from column 3, stride
            // 67 × 4 + 20 = 288, to rows 2 to 11 of the destination from
            // column 7, stride 40 × 4 + 8 = 168: 20 pixels each.
            let want: Vec<ByteRun> = (0..10)
                .map(|j| ByteRun {
                    src_offset: 12 + (5 + j) * 288 + 3 * 4,
                    dst_offset: 16 + (2 + j) * 168 + 7 * 4,
                    len: 80,
                })
                .collect();
            assert_eq!(runs, want);
        }
    }

    #[test]
    fn whole_unpadded_buffers_are_one_run() {
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(5, 3),
            dst_size: Size::new(5, 3),
            src_rect: rect(0, 0, 5, 3),
            dst_rect: rect(0, 0, 5, 3),
            transform: Transform::Normal,
            filter: None,
        })
        .expect("a valid request");
        let tight = |offset| packed(DrmFourcc::Argb8888, (5, 3), offset, 0);
        let copy = PlainCopy::new(&plan, &tight(8), &tight(4)).expect("a plain copy");
        let runs: Vec<ByteRun> = copy.runs().collect();
        assert_eq!(
            runs,
            [ByteRun {
                src_offset: 8,
                dst_offset: 4,
                len: 60
            }]
        );
        // Padding on either side splits the copy into rows again.
        let padded = packed(DrmFourcc::Argb8888, (5, 3), 0, 4);
        for (src, dst) in [(&padded, &tight(0)), (&tight(0), &padded)] {
            let copy = PlainCopy::new(&plan, src, dst).expect("a plain copy");
            assert_eq!(copy.runs().count(), 3);
            assert!(copy.runs().all(|r| r.len == 20));
        }
    }

    #[test]
    fn the_filter_of_an_unscaled_copy_does_not_matter() {
        for filter in [Filter::Nearest, Filter::Linear] {
            let plan = sub_rect(|r| r.filter = Some(filter));
            let format = DrmFourcc::Argb8888;
            assert!(plain(&plan, format, format).is_some(), "{filter:?}");
        }
    }

    #[test]
    fn a_mirror_of_the_rows_takes_them_bottom_up() {
        let plan = sub_rect(|r| r.transform = Transform::Flipped180);
        let format = DrmFourcc::Xrgb8888;
        let copy = plain(&plan, format, format).expect("a plain copy");
        let runs: Vec<ByteRun> = copy.runs().collect();
        // Rows 14 down to 5 of the source (see a_sub_rectangle_is_one_run_a_row).
        let want: Vec<ByteRun> = (0..10)
            .map(|j| ByteRun {
                src_offset: 12 + (14 - j) * 288 + 3 * 4,
                dst_offset: 16 + (2 + j) * 168 + 7 * 4,
                len: 80,
            })
            .collect();
        assert_eq!(runs, want);
        // Whole unpadded buffers still take a run a row.
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(5, 3),
            dst_size: Size::new(5, 3),
            src_rect: rect(0, 0, 5, 3),
            dst_rect: rect(0, 0, 5, 3),
            transform: Transform::Flipped180,
            filter: None,
        })
        .expect("a valid request");
        let tight = packed(format, (5, 3), 0, 0);
        let copy = PlainCopy::new(&plan, &tight, &tight).expect("a plain copy");
        let starts: Vec<u64> = copy.runs().map(|r| r.src_offset).collect();
        assert_eq!(starts, [40, 20, 0]);
    }

    #[test]
    fn other_transforms_and_scaling_are_never_plain() {
        for transform in Transform::ALL {
            let plan = sub_rect(|r| {
                r.transform = transform;
                // Square rectangles: every transform is unscaled.
                r.src_rect = rect(3, 5, 10, 10);
                r.dst_rect = rect(7, 2, 10, 10);
            });
            let format = DrmFourcc::Argb8888;
            let chosen = plain(&plan, format, format).is_some();
            let rows_kept_whole = matches!(transform, Transform::Normal | Transform::Flipped180);
            assert_eq!(chosen, rows_kept_whole, "{transform:?}");
        }
        for filter in [Filter::Nearest, Filter::Linear] {
            let plan = sub_rect(|r| {
                r.dst_rect = rect(7, 2, 21, 10);
                r.filter = Some(filter);
            });
            let format = DrmFourcc::Abgr8888;
            assert!(plain(&plan, format, format).is_none(), "{filter:?}");
        }
    }

    #[test]
    fn only_packed_formats_onto_themselves_are_plain() {
        let plan = sub_rect(|_| ());
        for src in PACKED {
            for dst in PACKED {
                assert_eq!(
                    plain(&plan, src, dst).is_some(),
                    src == dst,
                    "{src} to {dst}"
                );
            }
        }
        let nv12 = ImageDesc {
            format: DrmFourcc::Nv12,
            width: 67,
            height: 45,
            planes: vec![
                PlaneDesc {
                    offset: 0,
                    stride: 67,
                },
                PlaneDesc {
                    offset: 67 * 45,
                    stride: 68,
                },
            ],
        };
        let argb = packed(DrmFourcc::Argb8888, (40, 30), 0, 0);
        assert!(PlainCopy::new(&plan, &nv12, &argb).is_none());
    }

    /// A packed format, a buffer size, a rectangle in it and a layout.
    fn side() -> impl Strategy<Value = (DrmFourcc, (i32, i32), (i32, i32), u64, u32)> {
        (
            proptest::sample::select(PACKED.to_vec()),
            1..24i32,
            1..24i32,
        )
            .prop_flat_map(|(format, w, h)| {
                (
                    Just(format),
                    Just((w, h)),
                    (0..w, 0..h),
                    0..9u64,
                    prop_oneof![Just(0u32), 1..12u32],
                )
            })
    }

    proptest! {
        /// Whenever a copy is planned plain, upright or with its rows
        /// mirrored, moving its runs of bytes leaves
        /// the destination exactly as the reference does, padding, offsets
        /// and pixels outside the rectangle included.
        #[test]
        fn runs_do_what_the_reference_does(
            (src_format, src_size, src_at, src_offset, src_pad) in side(),
            (dst_format, dst_size, dst_at, dst_offset, dst_pad) in side(),
            same_format in any::<bool>(),
            mirrored in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let dst_format = if same_format { src_format } else { dst_format };
            // The largest rectangle that fits at both places.
            let w = (src_size.0 - src_at.0).min(dst_size.0 - dst_at.0);
            let h = (src_size.1 - src_at.1).min(dst_size.1 - dst_at.1);
            let plan = CopyPlan::new(CopyRequest {
                src_size: Size::new(src_size.0, src_size.1),
                dst_size: Size::new(dst_size.0, dst_size.1),
                src_rect: rect(src_at.0, src_at.1, w, h),
                dst_rect: rect(dst_at.0, dst_at.1, w, h),
                transform: if mirrored { Transform::Flipped180 } else { Transform::Normal },
                filter: None,
            })
            .expect("a valid request");
            let dims = |(w, h): (i32, i32)| (w as u32, h as u32);
            let src = packed(src_format, dims(src_size), src_offset, src_pad);
            let dst = packed(dst_format, dims(dst_size), dst_offset, dst_pad);
            let copy = PlainCopy::new(&plan, &src, &dst);
            prop_assert_eq!(copy.is_some(), src_format == dst_format && keeps_bytes(src_format));
            let Some(copy) = copy else { return Ok(()) };

            let len = |d: &ImageDesc| {
                (d.planes[0].offset + u64::from(d.planes[0].stride) * u64::from(d.height)) as usize
            };
            let mut state = seed | 1;
            let src_bytes: Vec<u8> = (0..len(&src))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[3]
                })
                .collect();
            let mut want = vec![0xa5; len(&dst)];
            let mut got = want.clone();
            let stride = |d: &ImageDesc| d.planes[0].stride as usize;
            let view = ImageView::packed(
                src_format,
                plan.request().src_size,
                &src_bytes[src_offset as usize..],
                stride(&src),
            )
            .expect("source view");
            let mut out = ImageViewMut::packed(
                dst_format,
                plan.request().dst_size,
                &mut want[dst_offset as usize..],
                stride(&dst),
            )
            .expect("destination view");
            reference::copy(&plan, &view, &mut out).expect("sizes match");
            for run in copy.runs() {
                let (from, to, n) = (run.src_offset as usize, run.dst_offset as usize, run.len as usize);
                got[to..to + n].copy_from_slice(&src_bytes[from..from + n]);
            }
            prop_assert_eq!(got, want);
        }
    }
}
