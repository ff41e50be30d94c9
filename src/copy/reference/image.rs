//! Images in CPU memory for the reference copy: packed 32-bit RGB formats
//! and NV12, each plane a byte slice with an explicit stride, and the pixel
//! conversions between them.

use drm_fourcc::DrmFourcc;

use crate::copy::geometry::{Buffer, Dest, Size};
use crate::copy::plan::Side;

/// Why an image could not be described or copied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A packed view was asked for in a format other than ARGB8888,
    /// XRGB8888, ABGR8888 or XBGR8888.
    #[error("format {fourcc} is not one of the reference's packed formats")]
    UnsupportedFormat {
        /// The format asked for.
        fourcc: DrmFourcc,
    },
    /// The image's width or height is zero or negative.
    #[error("image is {width}×{height}, which holds no pixel")]
    EmptyImage {
        /// The width given.
        width: i32,
        /// The height given.
        height: i32,
    },
    /// A plane's stride is smaller than the bytes of one of its rows.
    #[error("plane {plane} has stride {stride}, less than its row of {min} bytes")]
    StrideTooSmall {
        /// The plane (0 for packed formats and NV12's Y, 1 for NV12's UV).
        plane: usize,
        /// The stride given.
        stride: usize,
        /// The bytes in one row of the plane.
        min: u64,
    },
    /// A plane's slice is shorter than its stride times its rows.
    #[error("plane {plane} has {len} bytes, less than stride {stride} × {rows} rows")]
    TooShort {
        /// The plane (0 for packed formats and NV12's Y, 1 for NV12's UV).
        plane: usize,
        /// The slice's length.
        len: usize,
        /// The plane's stride.
        stride: usize,
        /// The plane's rows.
        rows: usize,
    },
    /// [`copy`](super::copy) was handed an image whose size is not the one
    /// in the plan.
    #[error("{side} image is {width}×{height}, the plan expects {plan_width}×{plan_height}")]
    SizeMismatch {
        /// Which image.
        side: Side,
        /// The image's width.
        width: i32,
        /// The image's height.
        height: i32,
        /// The width in the plan.
        plan_width: i32,
        /// The height in the plan.
        plan_height: i32,
    },
}

/// A packed format: one little-endian 32-bit word per pixel
/// (`drm_fourcc.h`: `[31:0] A:R:G:B 8:8:8:8 little endian` for ARGB8888).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packed {
    /// Bytes B, G, R, A.
    Argb8888,
    /// Bytes B, G, R, X.
    Xrgb8888,
    /// Bytes R, G, B, A.
    Abgr8888,
    /// Bytes R, G, B, X.
    Xbgr8888,
}

impl Packed {
    fn of(fourcc: DrmFourcc) -> Result<Self, ImageError> {
        match fourcc {
            DrmFourcc::Argb8888 => Ok(Self::Argb8888),
            DrmFourcc::Xrgb8888 => Ok(Self::Xrgb8888),
            DrmFourcc::Abgr8888 => Ok(Self::Abgr8888),
            DrmFourcc::Xbgr8888 => Ok(Self::Xbgr8888),
            fourcc => Err(ImageError::UnsupportedFormat { fourcc }),
        }
    }

    /// Byte offsets of R, G, B and A (or X) within a pixel.
    fn offsets(self) -> [usize; 4] {
        match self {
            Self::Argb8888 | Self::Xrgb8888 => [2, 1, 0, 3],
            Self::Abgr8888 | Self::Xbgr8888 => [0, 1, 2, 3],
        }
    }

    /// Whether the fourth byte is alpha rather than padding.
    fn has_alpha(self) -> bool {
        matches!(self, Self::Argb8888 | Self::Abgr8888)
    }

    /// R, G, B, A of a pixel's bytes; an X format reads as opaque.
    pub(super) fn decode(self, bytes: [u8; 4]) -> [u8; 4] {
        let [r, g, b, a] = self.offsets().map(|i| bytes[i]);
        [r, g, b, if self.has_alpha() { a } else { 0xff }]
    }

    /// The bytes of a pixel of R, G, B, A; an X format stores 0xff as its
    /// padding.
    pub(super) fn encode(self, [r, g, b, a]: [u8; 4]) -> [u8; 4] {
        let mut bytes = [0; 4];
        let a = if self.has_alpha() { a } else { 0xff };
        for (i, value) in self.offsets().into_iter().zip([r, g, b, a]) {
            bytes[i] = value;
        }
        bytes
    }
}

/// One plane: its bytes, a row every `stride` bytes.
#[derive(Debug, Clone, Copy)]
struct Plane<'a> {
    bytes: &'a [u8],
    stride: usize,
}

/// Width and height of a described image, both positive.
fn dims<S>(size: Size<i32, S>) -> Result<(usize, usize), ImageError> {
    let empty = ImageError::EmptyImage {
        width: size.w,
        height: size.h,
    };
    match (usize::try_from(size.w), usize::try_from(size.h)) {
        (Ok(w @ 1..), Ok(h @ 1..)) => Ok((w, h)),
        _ => Err(empty),
    }
}

/// Checks that a plane of `rows` rows of `min` bytes each fits its stride
/// and its slice.
fn check_plane(
    plane: usize,
    len: usize,
    stride: usize,
    min: u64,
    rows: usize,
) -> Result<(), ImageError> {
    // usize is at most 64 bits: neither comparison wraps.
    if (stride as u64) < min {
        return Err(ImageError::StrideTooSmall { plane, stride, min });
    }
    if (len as u128) < stride as u128 * rows as u128 {
        return Err(ImageError::TooShort {
            plane,
            len,
            stride,
            rows,
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Pixels<'a> {
    Packed { format: Packed, plane: Plane<'a> },
    Nv12 { y: Plane<'a>, uv: Plane<'a> },
}

/// A source image: packed RGB or NV12.
#[derive(Debug, Clone, Copy)]
pub struct ImageView<'a> {
    size: Size<i32, Buffer>,
    pixels: Pixels<'a>,
}

impl<'a> ImageView<'a> {
    /// A packed image of `fourcc` (ARGB8888, XRGB8888, ABGR8888 or
    /// XBGR8888): row `y` starts at byte `y × stride` of `bytes`, which must
    /// hold `stride × height` bytes.
    pub fn packed(
        fourcc: DrmFourcc,
        size: Size<i32, Buffer>,
        bytes: &'a [u8],
        stride: usize,
    ) -> Result<Self, ImageError> {
        let format = Packed::of(fourcc)?;
        let (w, h) = dims(size)?;
        check_plane(0, bytes.len(), stride, w as u64 * 4, h)?;
        let plane = Plane { bytes, stride };
        Ok(Self {
            size,
            pixels: Pixels::Packed { format, plane },
        })
    }

    /// An NV12 image: a plane of one luma byte per pixel, and a plane of
    /// Cb, Cr byte pairs, one pair per 2×2 pixels (`⌈w/2⌉ × ⌈h/2⌉` pairs).
    pub fn nv12(
        size: Size<i32, Buffer>,
        y: &'a [u8],
        y_stride: usize,
        uv: &'a [u8],
        uv_stride: usize,
    ) -> Result<Self, ImageError> {
        let (w, h) = dims(size)?;
        check_plane(0, y.len(), y_stride, w as u64, h)?;
        check_plane(
            1,
            uv.len(),
            uv_stride,
            w.div_ceil(2) as u64 * 2,
            h.div_ceil(2),
        )?;
        let y = Plane {
            bytes: y,
            stride: y_stride,
        };
        let uv = Plane {
            bytes: uv,
            stride: uv_stride,
        };
        Ok(Self {
            size,
            pixels: Pixels::Nv12 { y, uv },
        })
    }

    /// The image's size.
    pub fn size(&self) -> Size<i32, Buffer> {
        self.size
    }

    /// The padding byte of the pixel at column `x`, row `y`: its fourth
    /// byte in an X format; `None` in other formats.
    pub(super) fn padding(&self, x: usize, y: usize) -> Option<u8> {
        match self.pixels {
            Pixels::Packed { format, plane } if !format.has_alpha() => {
                Some(plane.bytes[y * plane.stride + x * 4 + 3])
            }
            _ => None,
        }
    }

    /// R, G, B, A of the pixel at column `x`, row `y`, on the 0–255 scale;
    /// NV12 pixels are converted and not rounded.
    pub(super) fn texel(&self, x: usize, y: usize) -> [f32; 4] {
        match self.pixels {
            Pixels::Packed { format, plane } => {
                let at = y * plane.stride + x * 4;
                let bytes = [0, 1, 2, 3].map(|i| plane.bytes[at + i]);
                format.decode(bytes).map(f32::from)
            }
            Pixels::Nv12 { y: luma, uv } => {
                let at = (y / 2) * uv.stride + (x / 2) * 2;
                let [r, g, b] = bt601_limited(
                    luma.bytes[y * luma.stride + x],
                    uv.bytes[at],
                    uv.bytes[at + 1],
                );
                [r, g, b, 255.0]
            }
        }
    }
}

/// Weights of red and blue in BT.601 luma (ITU-R BT.601, section 2.5.1).
const KR: f64 = 0.299;
const KB: f64 = 0.114;
const KG: f64 = 1.0 - KR - KB;
/// Limited ("video") range: luma spans 16–235, chroma 16–240 around 128.
const Y_SCALE: f64 = 255.0 / 219.0;
const C_SCALE: f64 = 255.0 / 224.0;

/// BT.601 limited-range Y′CbCr to R′G′B′ on the 0–255 scale, clamped (the
/// matrix in the [reference](super)'s documentation). The coefficients are
/// derived from `KR` and `KB` rather than typed in: `2 (1 − Kr)`,
/// `2 Kb (1 − Kb) / Kg`, `2 Kr (1 − Kr) / Kg` and `2 (1 − Kb)`, each scaled
/// from limited to full range.
fn bt601_limited(y: u8, cb: u8, cr: u8) -> [f32; 3] {
    let y = Y_SCALE * (f64::from(y) - 16.0);
    let cb = C_SCALE * (f64::from(cb) - 128.0);
    let cr = C_SCALE * (f64::from(cr) - 128.0);
    let r = y + 2.0 * (1.0 - KR) * cr;
    let g = y - 2.0 * KB * (1.0 - KB) / KG * cb - 2.0 * KR * (1.0 - KR) / KG * cr;
    let b = y + 2.0 * (1.0 - KB) * cb;
    [r, g, b].map(|v| v.clamp(0.0, 255.0) as f32)
}

/// A destination image in a packed format.
#[derive(Debug)]
pub struct ImageViewMut<'a> {
    size: Size<i32, Dest>,
    format: Packed,
    bytes: &'a mut [u8],
    stride: usize,
}

impl<'a> ImageViewMut<'a> {
    /// A packed image of `fourcc` (ARGB8888, XRGB8888, ABGR8888 or
    /// XBGR8888): row `y` starts at byte `y × stride` of `bytes`, which must
    /// hold `stride × height` bytes.
    pub fn packed(
        fourcc: DrmFourcc,
        size: Size<i32, Dest>,
        bytes: &'a mut [u8],
        stride: usize,
    ) -> Result<Self, ImageError> {
        let format = Packed::of(fourcc)?;
        let (w, h) = dims(size)?;
        check_plane(0, bytes.len(), stride, w as u64 * 4, h)?;
        Ok(Self {
            size,
            format,
            bytes,
            stride,
        })
    }

    /// The image's size.
    pub fn size(&self) -> Size<i32, Dest> {
        self.size
    }

    /// Whether the image is of an X format, whose fourth byte is padding.
    pub(super) fn is_padded(&self) -> bool {
        !self.format.has_alpha()
    }

    /// Stores R, G, B, A (0–255 scale) at column `x`, row `y`, each channel
    /// rounded to the nearest integer.
    pub(super) fn put(&mut self, x: usize, y: usize, rgba: [f32; 4]) {
        let rgba = rgba.map(|v| v.round().clamp(0.0, 255.0) as u8);
        let at = y * self.stride + x * 4;
        self.bytes[at..at + 4].copy_from_slice(&self.format.encode(rgba));
    }

    /// Sets the fourth byte of the pixel at column `x`, row `y`: its
    /// padding, in an X format.
    pub(super) fn put_padding(&mut self, x: usize, y: usize, byte: u8) {
        debug_assert!(
            self.is_padded(),
            "the fourth byte of {:?} is alpha",
            self.format
        );
        self.bytes[y * self.stride + x * 4 + 3] = byte;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Packed; 4] = [
        Packed::Argb8888,
        Packed::Xrgb8888,
        Packed::Abgr8888,
        Packed::Xbgr8888,
    ];

    #[test]
    fn memory_order_is_the_little_endian_word() {
        // ARGB8888 0x80112233: A 0x80, R 0x11, G 0x22, B 0x33.
        let word = 0x8011_2233u32.to_le_bytes();
        assert_eq!(word, [0x33, 0x22, 0x11, 0x80]);
        assert_eq!(Packed::Argb8888.decode(word), [0x11, 0x22, 0x33, 0x80]);
        assert_eq!(Packed::Xrgb8888.decode(word), [0x11, 0x22, 0x33, 0xff]);
        // ABGR8888 0x80332211: A 0x80, B 0x33, G 0x22, R 0x11.
        let word = 0x8033_2211u32.to_le_bytes();
        assert_eq!(word, [0x11, 0x22, 0x33, 0x80]);
        assert_eq!(Packed::Abgr8888.decode(word), [0x11, 0x22, 0x33, 0x80]);
        assert_eq!(Packed::Xbgr8888.decode(word), [0x11, 0x22, 0x33, 0xff]);
    }

    #[test]
    fn x_formats_write_opaque_padding() {
        let rgba = [0x11, 0x22, 0x33, 0x40];
        assert_eq!(Packed::Xrgb8888.encode(rgba), [0x33, 0x22, 0x11, 0xff]);
        assert_eq!(Packed::Xbgr8888.encode(rgba), [0x11, 0x22, 0x33, 0xff]);
        assert_eq!(Packed::Argb8888.encode(rgba), [0x33, 0x22, 0x11, 0x40]);
        assert_eq!(Packed::Abgr8888.encode(rgba), [0x11, 0x22, 0x33, 0x40]);
    }

    #[test]
    fn conversions_round_trip() {
        let rgba = [0x11, 0x22, 0x33, 0x40];
        for from in ALL {
            for to in ALL {
                let through = to.decode(to.encode(from.decode(from.encode(rgba))));
                let opaque = !from.has_alpha() || !to.has_alpha();
                let alpha = if opaque { 0xff } else { 0x40 };
                assert_eq!(through, [0x11, 0x22, 0x33, alpha], "{from:?} → {to:?}");
                // And back: what `to` holds reads the same in `from`.
                let back = from.decode(from.encode(through));
                assert_eq!(back, through, "{to:?} → {from:?}");
            }
        }
    }

    #[test]
    fn bt601_limited_range_end_points() {
        assert_eq!(bt601_limited(16, 128, 128), [0.0; 3]);
        assert_eq!(bt601_limited(235, 128, 128).map(f32::round), [255.0; 3]);
        // Out-of-range codes clamp.
        assert_eq!(bt601_limited(0, 128, 128), [0.0; 3]);
        assert_eq!(bt601_limited(255, 128, 128), [255.0; 3]);
    }

    #[test]
    fn derived_coefficients_match_the_published_ones() {
        let close = |a: f64, b: f64| (a - b).abs() < 5e-7;
        assert!(close(Y_SCALE, 1.164_384));
        assert!(close(C_SCALE * 2.0 * (1.0 - KR), 1.596_027));
        assert!(close(C_SCALE * 2.0 * KB * (1.0 - KB) / KG, 0.391_762));
        assert!(close(C_SCALE * 2.0 * KR * (1.0 - KR) / KG, 0.812_968));
        assert!(close(C_SCALE * 2.0 * (1.0 - KB), 2.017_232));
    }

    #[test]
    fn bad_descriptions_are_refused() {
        let bytes = [0u8; 64];
        let size = Size::new(2, 2);
        assert_eq!(
            ImageView::packed(DrmFourcc::Nv12, size, &bytes, 8).err(),
            Some(ImageError::UnsupportedFormat {
                fourcc: DrmFourcc::Nv12
            })
        );
        assert_eq!(
            ImageView::packed(DrmFourcc::Argb8888, Size::new(0, 2), &bytes, 8).err(),
            Some(ImageError::EmptyImage {
                width: 0,
                height: 2
            })
        );
        assert_eq!(
            ImageView::packed(DrmFourcc::Argb8888, size, &bytes, 7).err(),
            Some(ImageError::StrideTooSmall {
                plane: 0,
                stride: 7,
                min: 8
            })
        );
        assert_eq!(
            ImageView::packed(DrmFourcc::Argb8888, size, &bytes[..15], 8).err(),
            Some(ImageError::TooShort {
                plane: 0,
                len: 15,
                stride: 8,
                rows: 2
            })
        );
        // A stride so large that stride × rows overflows usize.
        assert_eq!(
            ImageView::packed(DrmFourcc::Argb8888, size, &bytes, usize::MAX).err(),
            Some(ImageError::TooShort {
                plane: 0,
                len: 64,
                stride: usize::MAX,
                rows: 2
            })
        );
        // 3×3 NV12: 2×2 chroma pairs, 4 bytes a row.
        assert_eq!(
            ImageView::nv12(Size::new(3, 3), &bytes, 3, &bytes, 3).err(),
            Some(ImageError::StrideTooSmall {
                plane: 1,
                stride: 3,
                min: 4
            })
        );
        assert_eq!(
            ImageView::nv12(Size::new(3, 3), &bytes, 3, &bytes[..7], 4).err(),
            Some(ImageError::TooShort {
                plane: 1,
                len: 7,
                stride: 4,
                rows: 2
            })
        );
        let mut out = [0u8; 64];
        assert_eq!(
            ImageViewMut::packed(DrmFourcc::Rgb565, Size::new(2, 2), &mut out, 8).err(),
            Some(ImageError::UnsupportedFormat {
                fourcc: DrmFourcc::Rgb565
            })
        );
    }
}
