//! Memory layout of the pixel formats a client may share: planes, bytes per
//! pixel and chroma subsampling.
//!
//! The numbers follow the kernel's `drm_format_info` table
//! (`drivers/gpu/drm/drm_fourcc.c`): `cpp` is [`PlaneLayout::bytes_per_pixel`],
//! `hsub`/`vsub` apply to every plane but the first. A format missing here is
//! refused by [`DmabufParams::create`](super::DmabufParams::create) with
//! `invalid_format`, since its planes could not be bounds-checked.

use drm_fourcc::DrmFourcc;

/// Layout of one plane of a format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneLayout {
    bytes_per_pixel: u32,
    hsub: u32,
    vsub: u32,
}

impl PlaneLayout {
    /// A plane with one sample per pixel.
    const fn full(bytes_per_pixel: u32) -> Self {
        Self {
            bytes_per_pixel,
            hsub: 1,
            vsub: 1,
        }
    }

    /// A chroma plane with one sample per `hsub` × `vsub` pixels.
    const fn subsampled(bytes_per_pixel: u32, hsub: u32, vsub: u32) -> Self {
        Self {
            bytes_per_pixel,
            hsub,
            vsub,
        }
    }

    /// Bytes of one sample of this plane (two bytes for NV12's interleaved UV).
    pub fn bytes_per_pixel(&self) -> u32 {
        self.bytes_per_pixel
    }

    /// Horizontal subsampling: pixels of the image per sample of this plane.
    pub fn hsub(&self) -> u32 {
        self.hsub
    }

    /// Vertical subsampling: rows of the image per row of this plane.
    pub fn vsub(&self) -> u32 {
        self.vsub
    }

    /// Samples in one row of this plane for an image `width` pixels wide
    /// (rounded up: a 5-pixel-wide NV12 image has 3 UV samples per row).
    pub fn width(&self, width: u32) -> u32 {
        width.div_ceil(self.hsub)
    }

    /// Rows of this plane for an image `height` rows high (rounded up).
    pub fn height(&self, height: u32) -> u32 {
        height.div_ceil(self.vsub)
    }

    /// Bytes of pixel data in one row of this plane, the least a LINEAR
    /// stride can be. Cannot overflow: at most `u32::MAX × 8`.
    pub fn row_bytes(&self, width: u32) -> u64 {
        u64::from(self.width(width)) * u64::from(self.bytes_per_pixel)
    }
}

/// A format this crate can validate: its fourcc and the layout of each plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatInfo {
    fourcc: DrmFourcc,
    planes: &'static [PlaneLayout],
}

const ONE_BYTE: &[PlaneLayout] = &[PlaneLayout::full(1)];
const TWO_BYTES: &[PlaneLayout] = &[PlaneLayout::full(2)];
const FOUR_BYTES: &[PlaneLayout] = &[PlaneLayout::full(4)];
const EIGHT_BYTES: &[PlaneLayout] = &[PlaneLayout::full(8)];
/// NV12/NV21: Y, then interleaved 2×2-subsampled UV (or VU) byte pairs.
const SEMI_PLANAR_8: &[PlaneLayout] = &[PlaneLayout::full(1), PlaneLayout::subsampled(2, 2, 2)];
/// P010: 16-bit Y, then interleaved 2×2-subsampled 16-bit UV pairs.
const SEMI_PLANAR_16: &[PlaneLayout] = &[PlaneLayout::full(2), PlaneLayout::subsampled(4, 2, 2)];
/// YUV420/YVU420: Y, then two 2×2-subsampled chroma planes.
const PLANAR_420: &[PlaneLayout] = &[
    PlaneLayout::full(1),
    PlaneLayout::subsampled(1, 2, 2),
    PlaneLayout::subsampled(1, 2, 2),
];

const fn info(fourcc: DrmFourcc, planes: &'static [PlaneLayout]) -> FormatInfo {
    FormatInfo { fourcc, planes }
}

static FORMATS: [FormatInfo; 22] = [
    info(DrmFourcc::Argb8888, FOUR_BYTES),
    info(DrmFourcc::Xrgb8888, FOUR_BYTES),
    info(DrmFourcc::Abgr8888, FOUR_BYTES),
    info(DrmFourcc::Xbgr8888, FOUR_BYTES),
    info(DrmFourcc::Rgba8888, FOUR_BYTES),
    info(DrmFourcc::Rgbx8888, FOUR_BYTES),
    info(DrmFourcc::Bgra8888, FOUR_BYTES),
    info(DrmFourcc::Bgrx8888, FOUR_BYTES),
    info(DrmFourcc::Rgb565, TWO_BYTES),
    info(DrmFourcc::Argb2101010, FOUR_BYTES),
    info(DrmFourcc::Xrgb2101010, FOUR_BYTES),
    info(DrmFourcc::Abgr2101010, FOUR_BYTES),
    info(DrmFourcc::Xbgr2101010, FOUR_BYTES),
    info(DrmFourcc::Abgr16161616f, EIGHT_BYTES),
    info(DrmFourcc::Xbgr16161616f, EIGHT_BYTES),
    info(DrmFourcc::R8, ONE_BYTE),
    info(DrmFourcc::Gr88, TWO_BYTES),
    info(DrmFourcc::Nv12, SEMI_PLANAR_8),
    info(DrmFourcc::Nv21, SEMI_PLANAR_8),
    info(DrmFourcc::P010, SEMI_PLANAR_16),
    info(DrmFourcc::Yuv420, PLANAR_420),
    info(DrmFourcc::Yvu420, PLANAR_420),
];

impl FormatInfo {
    /// The layout of `fourcc`, or `None` when this crate does not know it.
    pub fn of(fourcc: DrmFourcc) -> Option<&'static FormatInfo> {
        FORMATS.iter().find(|info| info.fourcc == fourcc)
    }

    /// Every format this crate can validate, for advertising to clients.
    pub fn all() -> &'static [FormatInfo] {
        &FORMATS
    }

    /// The format's fourcc.
    pub fn fourcc(&self) -> DrmFourcc {
        self.fourcc
    }

    /// The layout of each plane, in plane-index order.
    pub fn planes(&self) -> &'static [PlaneLayout] {
        self.planes
    }

    /// How many planes a buffer of this format has.
    pub fn plane_count(&self) -> usize {
        self.planes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(fourcc: DrmFourcc) -> &'static [PlaneLayout] {
        FormatInfo::of(fourcc).map_or(&[], FormatInfo::planes)
    }

    /// Total bytes of a tightly packed image (stride = row bytes).
    fn packed_size(fourcc: DrmFourcc, width: u32, height: u32) -> u64 {
        layout(fourcc)
            .iter()
            .map(|plane| plane.row_bytes(width) * u64::from(plane.height(height)))
            .sum()
    }

    #[test]
    fn every_format_appears_once() {
        for (i, a) in FORMATS.iter().enumerate() {
            for b in &FORMATS[i + 1..] {
                assert_ne!(a.fourcc, b.fourcc, "{} listed twice", a.fourcc);
            }
        }
    }

    #[test]
    fn plane_counts() {
        for fourcc in [DrmFourcc::Argb8888, DrmFourcc::Rgb565, DrmFourcc::R8] {
            assert_eq!(FormatInfo::of(fourcc).map(FormatInfo::plane_count), Some(1));
        }
        for fourcc in [DrmFourcc::Nv12, DrmFourcc::Nv21, DrmFourcc::P010] {
            assert_eq!(FormatInfo::of(fourcc).map(FormatInfo::plane_count), Some(2));
        }
        for fourcc in [DrmFourcc::Yuv420, DrmFourcc::Yvu420] {
            assert_eq!(FormatInfo::of(fourcc).map(FormatInfo::plane_count), Some(3));
        }
    }

    #[test]
    fn unknown_formats_are_absent() {
        assert_eq!(FormatInfo::of(DrmFourcc::Yuyv), None);
        assert_eq!(FormatInfo::of(DrmFourcc::Nv16), None);
    }

    #[test]
    fn bytes_per_pixel_of_packed_formats() {
        let expect = [
            (DrmFourcc::Xrgb8888, 4),
            (DrmFourcc::Abgr2101010, 4),
            (DrmFourcc::Rgb565, 2),
            (DrmFourcc::Gr88, 2),
            (DrmFourcc::R8, 1),
            (DrmFourcc::Abgr16161616f, 8),
            (DrmFourcc::Xbgr16161616f, 8),
        ];
        for (fourcc, bpp) in expect {
            assert_eq!(layout(fourcc), &[PlaneLayout::full(bpp)], "{fourcc}");
        }
    }

    #[test]
    fn yuv_420_sizes_are_one_and_a_half_times_luma() {
        assert_eq!(
            packed_size(DrmFourcc::Nv12, 1920, 1080),
            1920 * 1080 * 3 / 2
        );
        assert_eq!(
            packed_size(DrmFourcc::Yuv420, 1920, 1080),
            1920 * 1080 * 3 / 2
        );
        assert_eq!(packed_size(DrmFourcc::P010, 1920, 1080), 1920 * 1080 * 3);
    }

    #[test]
    fn odd_sizes_round_chroma_up() {
        let uv = layout(DrmFourcc::Nv12)[1];
        assert_eq!((uv.width(5), uv.height(3)), (3, 2));
        assert_eq!(uv.row_bytes(5), 6);
        let u = layout(DrmFourcc::Yvu420)[2];
        assert_eq!((u.width(1), u.height(1), u.row_bytes(7)), (1, 1, 4));
    }

    #[test]
    fn row_bytes_cannot_overflow() {
        assert_eq!(
            PlaneLayout::full(8).row_bytes(u32::MAX),
            u64::from(u32::MAX) * 8
        );
    }
}
