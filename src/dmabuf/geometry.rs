//! Plane extent arithmetic: where a plane's bytes lie, checked without
//! overflow, in `u64`.

use super::format::PlaneLayout;
use super::params::ParamsError;

/// The largest byte offset a plane may end at: the range of the protocol's
/// 32-bit offsets, as wlroots enforces ("size overflow for plane"), so a
/// buffer accepted here is accepted there; and at most `isize::MAX`, the
/// largest mapping a slice can cover (the smaller one on 32-bit targets).
pub(super) const MAX_PLANE_END: u64 = if (isize::MAX as u64) < u32::MAX as u64 {
    isize::MAX as u64
} else {
    u32::MAX as u64
};

/// Where a plane's bytes lie in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlaneSpan {
    /// The plane's offset.
    pub(super) start: usize,
    /// `stride × plane height`.
    pub(super) len: usize,
    /// `start + len`, the least size the buffer must have.
    pub(super) end: u64,
}

/// The bytes plane `plane` spans in a `width × height` image: checks that the
/// stride is non-zero and, for LINEAR, holds a row of the plane, and that
/// `offset + stride × plane height` stays within [`MAX_PLANE_END`].
pub(super) fn plane_span(
    plane: u32,
    layout: PlaneLayout,
    width: u32,
    height: u32,
    offset: u32,
    stride: u32,
    linear: bool,
) -> Result<PlaneSpan, ParamsError> {
    let min = if linear {
        layout.row_bytes(width).max(1)
    } else {
        1
    };
    if u64::from(stride) < min {
        return Err(ParamsError::StrideTooSmall { plane, stride, min });
    }
    let rows = layout.height(height);
    let overflow = || ParamsError::PlaneOverflow {
        plane,
        offset,
        stride,
        rows,
    };
    let len = u64::from(stride)
        .checked_mul(u64::from(rows))
        .ok_or_else(overflow)?;
    let end = u64::from(offset)
        .checked_add(len)
        .filter(|end| *end <= MAX_PLANE_END)
        .ok_or_else(overflow)?;
    let (Ok(start), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
        return Err(overflow());
    };
    Ok(PlaneSpan { start, len, end })
}

/// Checks that a plane ending at byte `end` lies inside a buffer of
/// `fd_size` bytes.
pub(super) fn check_fits(plane: u32, end: u64, fd_size: u64) -> Result<(), ParamsError> {
    if end > fd_size {
        return Err(ParamsError::PlaneOutOfBounds {
            plane,
            end,
            fd_size,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::dmabuf::FormatInfo;

    /// What the checks must conclude, computed in `u128` where nothing
    /// overflows.
    #[derive(Debug, PartialEq, Eq)]
    enum Expected {
        StrideTooSmall,
        Overflow,
        OutOfBounds,
        Fits,
    }

    fn expected(
        layout: PlaneLayout,
        w: u32,
        h: u32,
        offset: u32,
        stride: u32,
        linear: bool,
        fd_size: u64,
    ) -> Expected {
        let row = u128::from(w.div_ceil(layout.hsub())) * u128::from(layout.bytes_per_pixel());
        let rows = u128::from(h.div_ceil(layout.vsub()));
        let end = u128::from(offset) + u128::from(stride) * rows;
        if stride == 0 || (linear && u128::from(stride) < row) {
            Expected::StrideTooSmall
        } else if end > u128::from(MAX_PLANE_END) {
            Expected::Overflow
        } else if end > u128::from(fd_size) {
            Expected::OutOfBounds
        } else {
            Expected::Fits
        }
    }

    fn outcome(result: Result<PlaneSpan, ParamsError>) -> Expected {
        match result {
            Ok(_) => Expected::Fits,
            Err(ParamsError::StrideTooSmall { .. }) => Expected::StrideTooSmall,
            Err(ParamsError::PlaneOverflow { .. }) => Expected::Overflow,
            Err(ParamsError::PlaneOutOfBounds { .. }) => Expected::OutOfBounds,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    fn layouts() -> impl Strategy<Value = PlaneLayout> {
        let all = FormatInfo::all()
            .iter()
            .flat_map(|f| f.planes().iter().copied());
        prop::sample::select(all.collect::<Vec<_>>())
    }

    /// Half the cases in a range where buffers fit, half anywhere.
    fn dimension() -> impl Strategy<Value = u32> {
        prop_oneof![1..=8192u32, 1..=i32::MAX as u32]
    }

    fn small_or_any_u32(small: u32) -> impl Strategy<Value = u32> {
        prop_oneof![0..=small, any::<u32>()]
    }

    fn fd_size() -> impl Strategy<Value = u64> {
        prop_oneof![0..=1u64 << 33, any::<u64>()]
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_planes_that_fit(
            layout in layouts(),
            w in dimension(),
            h in dimension(),
            offset in small_or_any_u32(1 << 24),
            stride in small_or_any_u32(1 << 16),
            linear: bool,
            fd_size in fd_size(),
        ) {
            let got = plane_span(0, layout, w, h, offset, stride, linear)
                .and_then(|span| check_fits(0, span.end, fd_size).map(|()| span));
            if let Ok(span) = got {
                prop_assert_eq!(span.start as u64, u64::from(offset));
                prop_assert_eq!(span.len as u64, u64::from(stride) * u64::from(layout.height(h)));
                prop_assert_eq!(span.end, span.start as u64 + span.len as u64);
            }
            prop_assert_eq!(
                outcome(got),
                expected(layout, w, h, offset, stride, linear, fd_size)
            );
        }

        #[test]
        fn tight_strides_fit_exactly(
            layout in layouts(),
            w in 1..4096u32,
            h in 1..4096u32,
            offset in 0..4096u32,
        ) {
            let stride = u32::try_from(layout.row_bytes(w)).unwrap();
            let span = plane_span(0, layout, w, h, offset, stride, true).unwrap();
            prop_assert!(check_fits(0, span.end, span.end).is_ok());
            prop_assert!(check_fits(0, span.end, span.end - 1).is_err());
        }
    }

    #[test]
    fn the_largest_plane_ends_at_4_gib() {
        let layout = FormatInfo::all()[0].planes()[0];
        let span = plane_span(0, layout, 16, 1 << 16, u32::MAX - (1 << 31), 1 << 15, true);
        assert_eq!(span.map(|s| s.end), Ok(u64::from(u32::MAX)));
        let span = plane_span(
            0,
            layout,
            16,
            1 << 16,
            u32::MAX - (1 << 31) + 1,
            1 << 15,
            true,
        );
        assert!(matches!(span, Err(ParamsError::PlaneOverflow { .. })));
    }
}
