//! Allocators as producers of validated [`Dmabuf`]s.
//!
//! Every buffer an allocator hands out goes through
//! [`DmabufParams`](crate::dmabuf::DmabufParams), the same checks a client's
//! buffer meets, so tests and clients built on these allocators exercise the
//! real validation path.

use std::os::fd::OwnedFd;

use drm_fourcc::{DrmFourcc, DrmModifier};

use crate::dmabuf::{Dmabuf, DmabufFlags, DmabufParams, FormatInfo};

use super::{AllocError, DmaHeap, GbmDevice, Udmabuf, Vgem};

/// Row pitch of the buffers laid out here, in bytes: a multiple of 256, the
/// strictest linear pitch alignment of current GPUs (AMD; Intel and lavapipe
/// need 64).
pub const LINEAR_PITCH_ALIGN: u32 = 256;

/// Offset alignment of the second and later planes of a buffer laid out
/// here: one page.
pub const PLANE_OFFSET_ALIGN: u64 = 4096;

/// The largest width or height an allocator here accepts.
pub const MAX_DIMENSION: u32 = 16384;

/// Something that makes dma-bufs of a given format and size.
pub trait DmabufAllocator {
    /// A new `width` × `height` buffer of `format`, validated like a client's
    /// buffer, un-owned and un-mapped.
    fn allocate(&self, format: DrmFourcc, width: u32, height: u32) -> Result<Dmabuf, AllocError>;
}

/// Where each plane of a linear buffer lies when all planes share one
/// allocation: plane after plane, rows padded to [`LINEAR_PITCH_ALIGN`],
/// planes starting on [`PLANE_OFFSET_ALIGN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinearLayout {
    planes: Vec<PlaneSpan>,
    size: u64,
}

/// Offset and stride of one plane of a [`LinearLayout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaneSpan {
    /// Byte offset of the plane's first row.
    pub offset: u32,
    /// Bytes from one row to the next.
    pub stride: u32,
}

impl LinearLayout {
    /// The layout of a `width` × `height` buffer of `format`.
    pub fn new(format: DrmFourcc, width: u32, height: u32) -> Result<Self, AllocError> {
        check_dimensions(width, height)?;
        let info = FormatInfo::of(format).ok_or(AllocError::UnsupportedFormat { format })?;
        let mut planes = Vec::with_capacity(info.plane_count());
        let mut size = 0u64;
        for layout in info.planes() {
            let offset = size.next_multiple_of(PLANE_OFFSET_ALIGN);
            let stride = layout
                .row_bytes(width)
                .next_multiple_of(u64::from(LINEAR_PITCH_ALIGN));
            size = offset + stride * u64::from(layout.height(height));
            // Bounded by MAX_DIMENSION: at most 16384 × 8 bytes a row, so
            // neither number comes near u32::MAX for the formats known.
            let too_large = || AllocError::InvalidDimensions { width, height };
            planes.push(PlaneSpan {
                offset: u32::try_from(offset).map_err(|_| too_large())?,
                stride: u32::try_from(stride).map_err(|_| too_large())?,
            });
        }
        Ok(Self { planes, size })
    }

    /// The planes, in plane-index order.
    pub fn planes(&self) -> &[PlaneSpan] {
        &self.planes
    }

    /// Bytes the allocation needs.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Validates `fd`, holding this layout, as a [`Dmabuf`].
    fn into_dmabuf(
        self,
        fd: OwnedFd,
        format: DrmFourcc,
        width: u32,
        height: u32,
    ) -> Result<Dmabuf, AllocError> {
        let planes = self
            .planes
            .iter()
            .map(|span| Ok((fd.try_clone().map_err(AllocError::Dup)?, *span)))
            .collect::<Result<Vec<_>, AllocError>>()?;
        dmabuf_from_planes(format, width, height, DrmModifier::Linear, planes)
    }
}

fn check_dimensions(width: u32, height: u32) -> Result<(), AllocError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(AllocError::InvalidDimensions { width, height });
    }
    Ok(())
}

/// Runs the planes through [`DmabufParams`], as a client's `add` and
/// `create` requests would.
fn dmabuf_from_planes(
    format: DrmFourcc,
    width: u32,
    height: u32,
    modifier: DrmModifier,
    planes: impl IntoIterator<Item = (OwnedFd, PlaneSpan)>,
) -> Result<Dmabuf, AllocError> {
    let mut params = DmabufParams::new();
    for (index, (fd, span)) in (0u32..).zip(planes) {
        params.add(index, fd, span.offset, span.stride, modifier.into())?;
    }
    // check_dimensions bounds both by MAX_DIMENSION, far below i32::MAX.
    let to_i32 =
        |v: u32| i32::try_from(v).map_err(|_| AllocError::InvalidDimensions { width, height });
    Ok(params.create(
        to_i32(width)?,
        to_i32(height)?,
        format as u32,
        DmabufFlags::empty(),
    )?)
}

impl DmabufAllocator for Udmabuf {
    fn allocate(&self, format: DrmFourcc, width: u32, height: u32) -> Result<Dmabuf, AllocError> {
        let layout = LinearLayout::new(format, width, height)?;
        let fd = self.alloc(layout.size())?;
        layout.into_dmabuf(fd, format, width, height)
    }
}

impl DmabufAllocator for DmaHeap {
    fn allocate(&self, format: DrmFourcc, width: u32, height: u32) -> Result<Dmabuf, AllocError> {
        let layout = LinearLayout::new(format, width, height)?;
        let fd = self.alloc(layout.size())?;
        layout.into_dmabuf(fd, format, width, height)
    }
}

/// Dumb buffers: single-plane formats only, laid out by the kernel.
impl DmabufAllocator for Vgem {
    fn allocate(&self, format: DrmFourcc, width: u32, height: u32) -> Result<Dmabuf, AllocError> {
        check_dimensions(width, height)?;
        let info = FormatInfo::of(format).ok_or(AllocError::UnsupportedFormat { format })?;
        let [plane] = info.planes() else {
            return Err(AllocError::UnsupportedFormat { format });
        };
        let buffer = self.alloc(width, height, format, plane.bytes_per_pixel() * 8)?;
        let span = PlaneSpan {
            offset: 0,
            stride: buffer.stride(),
        };
        dmabuf_from_planes(
            format,
            width,
            height,
            DrmModifier::Linear,
            [(buffer.into_dmabuf(), span)],
        )
    }
}

/// Linear buffers laid out by the driver behind GBM.
impl DmabufAllocator for GbmDevice {
    fn allocate(&self, format: DrmFourcc, width: u32, height: u32) -> Result<Dmabuf, AllocError> {
        check_dimensions(width, height)?;
        let buffer = self.alloc(width, height, format, &[])?;
        let planes = buffer.planes.into_iter().map(|plane| {
            let span = PlaneSpan {
                offset: plane.offset,
                stride: plane.stride,
            };
            (plane.fd, span)
        });
        dmabuf_from_planes(format, width, height, buffer.modifier, planes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_formats_get_one_aligned_plane() {
        let layout = LinearLayout::new(DrmFourcc::Xrgb8888, 67, 45).unwrap();
        assert_eq!(
            layout.planes(),
            [PlaneSpan {
                offset: 0,
                stride: 512
            }]
        );
        assert_eq!(layout.size(), 512 * 45);
    }

    #[test]
    fn nv12_chroma_follows_luma_on_a_page() {
        let layout = LinearLayout::new(DrmFourcc::Nv12, 67, 45).unwrap();
        // Luma: 67 bytes a row → 256, 45 rows. Chroma: 34 pairs × 2 bytes →
        // 256, 23 rows, starting on the next page.
        assert_eq!(
            layout.planes(),
            [
                PlaneSpan {
                    offset: 0,
                    stride: 256
                },
                PlaneSpan {
                    offset: 12288,
                    stride: 256
                }
            ]
        );
        assert_eq!(layout.size(), 12288 + 256 * 23);
    }

    #[test]
    fn every_known_format_has_a_layout_within_its_size() {
        for info in FormatInfo::all() {
            let layout = LinearLayout::new(info.fourcc(), 33, 17).unwrap();
            assert_eq!(
                layout.planes().len(),
                info.plane_count(),
                "{}",
                info.fourcc()
            );
            for (span, plane) in layout.planes().iter().zip(info.planes()) {
                assert_eq!(span.stride % LINEAR_PITCH_ALIGN, 0);
                assert!(u64::from(span.stride) >= plane.row_bytes(33));
                let end =
                    u64::from(span.offset) + u64::from(span.stride) * u64::from(plane.height(17));
                assert!(end <= layout.size());
            }
        }
    }

    #[test]
    fn bad_dimensions_and_formats_are_refused() {
        for (w, h) in [
            (0, 1),
            (1, 0),
            (MAX_DIMENSION + 1, 1),
            (1, MAX_DIMENSION + 1),
        ] {
            assert!(matches!(
                LinearLayout::new(DrmFourcc::Argb8888, w, h),
                Err(AllocError::InvalidDimensions { .. })
            ));
        }
        assert!(matches!(
            LinearLayout::new(DrmFourcc::Yuyv, 8, 8),
            Err(AllocError::UnsupportedFormat { .. })
        ));
    }
}
