//! Client dma-bufs imported as storage buffers, and the cache that imports
//! each buffer once, as buffers, as an image (`image.rs`) or both.
//!
//! A LINEAR [`Dmabuf`]'s distinct buffers (one, or one a plane for a
//! disjoint buffer) each become a `VkBuffer` over the whole dma-buf, with a
//! dedicated allocation imported from a dup of its fd; the shader addresses
//! each plane by its offset and stride, so any layout works, with or without
//! `VK_EXT_image_drm_format_modifier`. (A dma-buf is whole pages, so whole
//! 32-bit words, the unit the shader reads.)
//!
//! The first import of a dma-buf records [`Dmabuf::map_device`]; the record,
//! a [`DeviceMapping`], is held by every Vulkan object of its imports and
//! released after the last of them is destroyed, which is when
//! [`Dmabuf::unmap_device`] is called. Recorded commands hold those objects
//! until their fence signalled, so the unmapping waits for the last job that
//! used the import.
//!
//! [`ImportCache`] keys imports by the [`SharedDmabuf`] (the allocation
//! behind the `Arc`): importing a buffer again creates no Vulkan object. An
//! entry is dropped by [`ImportCache::sweep`] once nobody but the import
//! holds the dma-buf, i.e. its owner released it.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::sync::{Arc, PoisonError};

use drm_fourcc::{DrmFourcc, DrmModifier};
use tracing::{debug, debug_span, error};

use super::buffer::Buffer;
use super::image::ImportedImage;
use super::{Device, VulkanError};
use crate::dmabuf::{Dmabuf, SharedDmabuf};

/// The record that a dma-buf is mapped for the device: made by
/// [`Dmabuf::map_device`], released with [`Dmabuf::unmap_device`] when the
/// last buffer of the import (each holds an `Arc` to it) is destroyed.
#[derive(Debug)]
pub(crate) struct DeviceMapping {
    dmabuf: SharedDmabuf,
}

impl DeviceMapping {
    /// Records [`Dmabuf::map_device`] on `dmabuf`.
    fn new(dmabuf: &SharedDmabuf) -> Result<Arc<Self>, VulkanError> {
        dmabuf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_device()?;
        Ok(Arc::new(Self {
            dmabuf: Arc::clone(dmabuf),
        }))
    }

    /// The dma-buf, for reading its description; the lock must be let go
    /// before any Vulkan call, since a failure drops objects whose drop may
    /// take it.
    pub(super) fn dmabuf(&self) -> std::sync::MutexGuard<'_, Dmabuf> {
        self.dmabuf.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for DeviceMapping {
    fn drop(&mut self) {
        let mut dmabuf = self.dmabuf.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(err) = dmabuf.unmap_device() {
            error!(%err, "unmapping an imported dma-buf: its map_device was not counted");
        }
    }
}

/// Where one plane of an imported dma-buf lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ImportedPlane {
    /// Index into [`ImportedDmabuf::buffer`]'s buffers.
    pub(crate) buffer: usize,
    /// Byte offset of the plane's first row.
    pub(crate) offset: u32,
    /// Bytes from one row to the next.
    pub(crate) stride: u32,
}

/// A [`Dmabuf`] imported as storage buffers: one for each distinct buffer
/// behind its planes.
#[derive(Debug)]
pub(crate) struct ImportedDmabuf {
    buffers: Vec<Arc<Buffer>>,
    planes: Vec<ImportedPlane>,
    format: DrmFourcc,
    width: u32,
    height: u32,
}

impl ImportedDmabuf {
    /// Imports the buffers of `mapping`'s dma-buf into `device`; the number
    /// of Vulkan objects created is added to `created`, also when a later
    /// step fails.
    fn new(
        device: &Arc<Device>,
        mapping: &Arc<DeviceMapping>,
        created: &mut u64,
    ) -> Result<Self, VulkanError> {
        let (format, width, height, planes, fds) = {
            let dmabuf = mapping.dmabuf();
            let _span = debug_span!("import dma-buf", fourcc = %dmabuf.format()).entered();
            let modifier = dmabuf.modifier();
            if modifier != DrmModifier::Linear {
                return Err(VulkanError::NotLinear {
                    modifier: modifier.into(),
                });
            }
            let (planes, fds) = describe(&dmabuf)?;
            (
                dmabuf.format(),
                dmabuf.width(),
                dmabuf.height(),
                planes,
                fds,
            )
        };
        let mut buffers = Vec::with_capacity(fds.len());
        for (i, (fd, size)) in fds.into_iter().enumerate() {
            let name = CString::new(format!("dmabridge {format} buffer {i}"))
                .expect("no NUL in a format name");
            let buffer = Buffer::import_dmabuf(device, fd, size, Arc::clone(mapping), &name)?;
            // A VkBuffer and its VkDeviceMemory.
            *created += 2;
            buffers.push(Arc::new(buffer));
        }
        debug!(%format, width, height, buffers = buffers.len(), "dma-buf imported");
        Ok(Self {
            buffers,
            planes,
            format,
            width,
            height,
        })
    }

    /// The buffer of index `index` (see [`ImportedPlane::buffer`]).
    pub(crate) fn buffer(&self, index: usize) -> &Arc<Buffer> {
        &self.buffers[index]
    }

    /// Every buffer of the import.
    pub(crate) fn buffers(&self) -> &[Arc<Buffer>] {
        &self.buffers
    }

    /// The planes, in plane order.
    pub(crate) fn planes(&self) -> &[ImportedPlane] {
        &self.planes
    }

    /// The pixel format.
    pub(crate) fn format(&self) -> DrmFourcc {
        self.format
    }

    /// Width and height in pixels.
    pub(crate) fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// The planes of a dma-buf, and a dup of each distinct buffer's fd with its
/// size.
pub(super) type Described = (Vec<ImportedPlane>, Vec<(OwnedFd, u64)>);

/// The planes of `dmabuf` and a dup of each distinct buffer's fd with its
/// size, after checking that every plane ends inside its fd.
///
/// [`DmabufParams::create`](crate::dmabuf::DmabufParams::create) made the
/// same check; it is repeated here, cheaply, because an import that reached
/// past the fd's end would give the GPU memory that is not the buffer's.
pub(super) fn describe(dmabuf: &Dmabuf) -> Result<Described, VulkanError> {
    let sizes: Vec<u64> = dmabuf.buffers().map(|(_, size)| size).collect();
    let mut planes = Vec::with_capacity(dmabuf.planes().len());
    for (index, plane) in dmabuf.planes().iter().enumerate() {
        let buffer = plane.buffer_index();
        let size = sizes[buffer];
        if plane.end() > size {
            return Err(VulkanError::PlaneOutsideFd {
                plane: index,
                end: plane.end(),
                size,
            });
        }
        planes.push(ImportedPlane {
            buffer,
            offset: plane.offset(),
            stride: plane.stride(),
        });
    }
    let fds = dmabuf
        .buffers()
        .map(|(fd, size)| Ok((fd.try_clone_to_owned().map_err(VulkanError::Dup)?, size)))
        .collect::<Result<_, VulkanError>>()?;
    Ok((planes, fds))
}

/// The imports of one dma-buf, sharing its [`DeviceMapping`].
#[derive(Debug)]
struct Entry {
    mapping: Arc<DeviceMapping>,
    buffers: Option<Arc<ImportedDmabuf>>,
    image: Option<Arc<ImportedImage>>,
}

/// Imports of [`SharedDmabuf`]s, each made once; see the module
/// documentation.
#[derive(Debug, Default)]
pub(crate) struct ImportCache {
    /// Keyed by the address of the `Mutex<Dmabuf>` behind the `Arc`, which
    /// cannot be reused while the entry's [`DeviceMapping`] holds the `Arc`.
    entries: HashMap<usize, Entry>,
    created: u64,
}

impl ImportCache {
    /// The import of `dmabuf` as storage buffers: from the cache, or made
    /// now.
    pub(crate) fn import(
        &mut self,
        device: &Arc<Device>,
        dmabuf: &SharedDmabuf,
    ) -> Result<Arc<ImportedDmabuf>, VulkanError> {
        self.get_or_import(
            dmabuf,
            |entry| &mut entry.buffers,
            |mapping, created| ImportedDmabuf::new(device, mapping, created),
        )
    }

    /// The import of `dmabuf` as an image with its modifier: from the cache,
    /// or made now.
    pub(crate) fn import_image(
        &mut self,
        device: &Arc<Device>,
        dmabuf: &SharedDmabuf,
    ) -> Result<Arc<ImportedImage>, VulkanError> {
        self.get_or_import(
            dmabuf,
            |entry| &mut entry.image,
            |mapping, created| ImportedImage::new(device, mapping, created),
        )
    }

    /// The import in `dmabuf`'s entry that `slot` picks, made by `import`
    /// (with the entry's device mapping, made first if need be) when the
    /// slot is empty. A failed import leaves the cache as it was.
    fn get_or_import<T>(
        &mut self,
        dmabuf: &SharedDmabuf,
        slot: impl Fn(&mut Entry) -> &mut Option<Arc<T>>,
        import: impl FnOnce(&Arc<DeviceMapping>, &mut u64) -> Result<T, VulkanError>,
    ) -> Result<Arc<T>, VulkanError> {
        let key = Arc::as_ptr(dmabuf).addr();
        let mapping = match self.entries.get_mut(&key) {
            Some(entry) => {
                if let Some(import) = slot(entry) {
                    return Ok(Arc::clone(import));
                }
                Arc::clone(&entry.mapping)
            }
            None => DeviceMapping::new(dmabuf)?,
        };
        // On failure a new mapping is dropped here, unmapping the dma-buf.
        let made = Arc::new(import(&mapping, &mut self.created)?);
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            mapping,
            buffers: None,
            image: None,
        });
        *slot(entry) = Some(Arc::clone(&made));
        Ok(made)
    }

    /// Drops the imports whose dma-buf nobody else holds any more. Their
    /// Vulkan objects are destroyed, and the dma-buf unmapped, once the last
    /// job that uses them completed.
    pub(crate) fn sweep(&mut self) {
        self.entries
            .retain(|_, entry| Arc::strong_count(&entry.mapping.dmabuf) > 1);
    }

    /// How many dma-bufs the cache holds imports of.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many Vulkan objects (buffers, images, memories, YCbCr
    /// conversions, samplers, views) imports have created so far.
    pub(crate) fn objects_created(&self) -> u64 {
        self.created
    }
}
