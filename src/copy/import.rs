//! Dma-bufs as sides of a copy, imported once and cached.
//!
//! A side of a copy may be a client's dma-buf ([`Surface::Dmabuf`]). A
//! LINEAR one's distinct buffers are imported as storage buffers the first
//! time (dup'd fds, dedicated allocations, [`Dmabuf::map_device`](crate::dmabuf::Dmabuf::map_device)).
//! A source whose layout the shader cannot address (any other modifier),
//! or a LINEAR source when [`Copier::set_linear_source_import`] asks for
//! [`ImportPath::Image`], is imported as an image with its modifier instead
//! and copied plane by plane into a transient device buffer
//! (`vkCmdCopyImageToBuffer`) in the same submission, before the shader
//! reads that buffer. Destinations are always LINEAR buffers. Either import
//! is cached by the [`SharedDmabuf`]: using it again creates no Vulkan
//! object ([`Copier::import_objects_created`] counts them). The
//! import is destroyed ([`Dmabuf::unmap_device`](crate::dmabuf::Dmabuf::unmap_device))
//! once the caller dropped its `SharedDmabuf` and the last job that used it
//! completed. Each job acquires the imported buffers and images from the
//! foreign queue family before it uses them and releases them after.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError};

use drm_fourcc::{DrmFourcc, DrmModifier};

use super::plan::Side;
use super::surface::Resolved;
use super::{Copier, CopyError, ImageDesc, PlaneDesc, Surface};
use crate::dmabuf::SharedDmabuf;
use crate::vulkan::{ImportPath, ImportedPlane};

impl Copier {
    /// Chooses how LINEAR source dma-bufs are imported from now on: as
    /// storage buffers the shader reads directly ([`ImportPath::Buffer`],
    /// the default), or as images with their modifier, copied into a
    /// transient buffer first ([`ImportPath::Image`], the path every other
    /// modifier takes; this makes it testable with LINEAR buffers).
    pub fn set_linear_source_import(&mut self, path: ImportPath) {
        self.linear_sources = path;
    }

    /// Imports `dmabuf` now rather than on its first copy (a compositor
    /// learns early whether a client's buffer imports), the way a copy
    /// source is imported. Cached: a buffer imported before creates no
    /// Vulkan object.
    pub fn import(&mut self, dmabuf: &SharedDmabuf) -> Result<(), CopyError> {
        if self.source_as_image(dmabuf) {
            self.imports.import_image(&self.device, dmabuf)?;
        } else {
            self.imports.import(&self.device, dmabuf)?;
        }
        Ok(())
    }

    /// Whether a source dma-buf is imported as an image: when the shader
    /// cannot address its layout (not LINEAR), or when asked to.
    fn source_as_image(&self, dmabuf: &SharedDmabuf) -> bool {
        lock(dmabuf).modifier() != DrmModifier::Linear || self.linear_sources == ImportPath::Image
    }

    /// How many Vulkan objects (buffers, images, memories, and a YUV
    /// image's conversion, sampler and view) dma-buf imports have created
    /// so far.
    pub fn import_objects_created(&self) -> u64 {
        self.imports.objects_created()
    }

    /// How many dma-buf imports the cache holds.
    pub fn cached_imports(&self) -> usize {
        self.imports.len()
    }

    /// Finds the buffers of one side, importing a dma-buf if it is not in
    /// the cache yet: as an image for a source the shader cannot address
    /// (or any LINEAR source when asked to), as buffers otherwise.
    pub(super) fn resolve<'a>(
        &mut self,
        surface: Surface<'a>,
        side: Side,
    ) -> Result<Resolved<'a>, CopyError> {
        let dmabuf = match surface {
            Surface::Buffer { buffer, desc } => {
                return Ok(Resolved {
                    desc: Cow::Borrowed(desc),
                    planes: vec![Arc::clone(&buffer.buffer); desc.planes.len()],
                    dmabuf: None,
                    foreign: Vec::new(),
                    staged: None,
                });
            }
            Surface::Dmabuf(dmabuf) => dmabuf,
        };
        let linear = lock(dmabuf).modifier() == DrmModifier::Linear;
        let as_image =
            side == Side::Source && (!linear || self.linear_sources == ImportPath::Image);
        if as_image {
            let image = self.imports.import_image(&self.device, dmabuf)?;
            let staging = self.create_buffer(image.staging_size())?.buffer;
            let (width, height) = image.size();
            let planes = image.staging_planes();
            return Ok(Resolved {
                desc: Cow::Owned(image_desc(image.format(), width, height, &planes)),
                planes: vec![staging; planes.len()],
                dmabuf: Some(dmabuf),
                foreign: Vec::new(),
                staged: Some(image),
            });
        }
        let import = self.imports.import(&self.device, dmabuf)?;
        let (width, height) = import.size();
        Ok(Resolved {
            desc: Cow::Owned(image_desc(import.format(), width, height, import.planes())),
            planes: import
                .planes()
                .iter()
                .map(|p| Arc::clone(import.buffer(p.buffer)))
                .collect(),
            dmabuf: Some(dmabuf),
            foreign: import.buffers().to_vec(),
            staged: None,
        })
    }
}

/// `dmabuf`, locked; a panic of another holder does not make it unusable
/// (every operation on it leaves it consistent).
pub(super) fn lock(dmabuf: &SharedDmabuf) -> std::sync::MutexGuard<'_, crate::dmabuf::Dmabuf> {
    dmabuf.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The description of an imported dma-buf's planes.
fn image_desc(format: DrmFourcc, width: u32, height: u32, planes: &[ImportedPlane]) -> ImageDesc {
    ImageDesc {
        format,
        width,
        height,
        planes: planes
            .iter()
            .map(|p| PlaneDesc {
                offset: u64::from(p.offset),
                stride: p.stride,
            })
            .collect(),
    }
}
