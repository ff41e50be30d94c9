//! [`GbmDevice`]: buffers laid out by a real driver, through Mesa's GBM.
//!
//! A thin layer over the `gbm` crate: open a DRM node, create a buffer object
//! for a fourcc, and export every plane as a dma-buf with its offset and
//! stride plus the buffer's modifier. Whether a node has a GBM backend at all
//! depends on the Mesa build and the driver; [`GbmDevice::open`] reports it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use drm_fourcc::{DrmFourcc, DrmModifier};
use gbm::{BufferObject, BufferObjectFlags};

use super::{AllocError, open_node};

/// A GBM device on a DRM card or render node.
#[derive(Debug)]
pub struct GbmDevice {
    device: gbm::Device<OwnedFd>,
    path: PathBuf,
}

/// One plane of a [`GbmBuffer`].
#[derive(Debug)]
pub struct GbmPlane {
    /// The plane's dma-buf (planes may share the underlying memory).
    pub fd: OwnedFd,
    /// Byte offset of the plane in its dma-buf.
    pub offset: u32,
    /// Bytes per row.
    pub stride: u32,
}

/// A buffer allocated by GBM, exported plane by plane.
#[derive(Debug)]
pub struct GbmBuffer {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixel format.
    pub format: DrmFourcc,
    /// The layout the driver chose (`DRM_FORMAT_MOD_INVALID` when the driver
    /// does not say).
    pub modifier: DrmModifier,
    /// The planes, in plane-index order.
    pub planes: Vec<GbmPlane>,
}

impl GbmDevice {
    /// Opens `path` (e.g. `/dev/dri/renderD128`) and creates a GBM device on
    /// it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AllocError> {
        let path = path.as_ref();
        let fd = open_node(path)?;
        let device = gbm::Device::new(fd).map_err(|source| AllocError::Gbm {
            op: "gbm_create_device",
            source,
        })?;
        Ok(Self {
            device,
            path: path.to_owned(),
        })
    }

    /// The node that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The GBM backend's name (e.g. `drm`).
    pub fn backend_name(&self) -> &str {
        self.device.backend_name()
    }

    /// A buffer of `width` × `height` pixels of `format`.
    ///
    /// With no `modifiers` the buffer is linear (`GBM_BO_USE_LINEAR`, implicit
    /// modifier); otherwise the driver picks one of `modifiers`
    /// (`gbm_bo_create_with_modifiers2`, usage `GBM_BO_USE_RENDERING`) and
    /// [`GbmBuffer::modifier`] says which.
    pub fn alloc(
        &self,
        width: u32,
        height: u32,
        format: DrmFourcc,
        modifiers: &[DrmModifier],
    ) -> Result<GbmBuffer, AllocError> {
        let bo: BufferObject<()> = if modifiers.is_empty() {
            self.device
                .create_buffer_object(width, height, format, BufferObjectFlags::LINEAR)
                .map_err(|source| AllocError::Gbm {
                    op: "gbm_bo_create",
                    source,
                })?
        } else {
            self.device
                .create_buffer_object_with_modifiers2(
                    width,
                    height,
                    format,
                    modifiers.iter().copied(),
                    BufferObjectFlags::RENDERING,
                )
                .map_err(|source| AllocError::Gbm {
                    op: "gbm_bo_create_with_modifiers2",
                    source,
                })?
        };
        let planes = (0..bo.plane_count())
            .map(|plane| {
                let index = plane as i32;
                let fd = bo
                    .fd_for_plane(index)
                    .map_err(|_| AllocError::GbmExport { plane })?;
                Ok(GbmPlane {
                    fd,
                    offset: bo.offset(index),
                    stride: bo.stride_for_plane(index),
                })
            })
            .collect::<Result<Vec<_>, AllocError>>()?;
        Ok(GbmBuffer {
            width: bo.width(),
            height: bo.height(),
            format,
            modifier: bo.modifier(),
            planes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_reports_a_missing_node() {
        let path = "/dev/dri/dmabridge-no-such-node";
        let err = GbmDevice::open(path).unwrap_err();
        assert!(matches!(err, AllocError::NotPresent { .. }), "{err:?}");
    }
}
