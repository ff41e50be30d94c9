//! Client dma-bufs imported as images with their modifier
//! (`VK_EXT_image_drm_format_modifier`), and what a copy needs of them.
//!
//! An [`ImportedImage`] is a `VkImage` of tiling `DRM_FORMAT_MODIFIER_EXT`
//! whose layout is the client's: the modifier and each plane's offset and
//! row pitch (`VkImageDrmFormatModifierExplicitCreateInfoEXT`). Its memory
//! is imported from dups of the dma-buf's fds:
//!
//! * planes in one buffer: one allocation dedicated to the image;
//! * planes in different buffers (a disjoint [`Dmabuf`](crate::dmabuf::Dmabuf)):
//!   the image is created `DISJOINT` and each memory plane gets its own
//!   allocation, bound with `VkBindImagePlaneMemoryInfo`. A disjoint image
//!   cannot have dedicated allocations
//!   (VUID-VkMemoryDedicatedAllocateInfo-image-01797).
//!
//! Nothing reaches the driver before the pair (fourcc, modifier) is found in
//! the device's importable table on the image path, the plane count and the
//! size fit that row, and every plane ends inside its fd (`lseek`); each
//! allocation's requirement is checked against its fd's size before the
//! import. A multi-planar (YUV) format is sampled through a
//! `VkSamplerYcbcrConversion` (BT.601, narrow range, like the copy shader),
//! created with the image together with an immutable sampler and a view;
//! a device that cannot convert the format for that modifier gets
//! [`VulkanError::ImageImportUnsupported`].
//!
//! A copy reads the image with `vkCmdCopyImageToBuffer`, one region a plane
//! aspect, into a buffer laid out as [`ImportedImage::staging_planes`] says
//! (`Commands::stage_image`), between a queue-family-foreign acquire and
//! release. The image is held by the commands that use it, so it is
//! destroyed, and the dma-buf unmapped, after the last of them completed.

use std::sync::Arc;

use ash::vk;
use drm_fourcc::{DrmFourcc, DrmModifier};
use tracing::{debug, debug_span};

use super::buffer::{Dedicated, import_memory};
use super::conv::{map_create_image_err, map_host_device_oom_err};
use super::import::{DeviceMapping, ImportedPlane, describe};
use super::{Device, ImportPath, VulkanError};
use crate::dmabuf::FormatInfo;

/// One plane aspect of an image as a copy to a buffer reads it.
#[derive(Debug, Clone, Copy)]
struct Aspect {
    aspect: vk::ImageAspectFlags,
    extent: vk::Extent2D,
    /// Where the aspect's rows go in the staging buffer (buffer 0).
    staged: ImportedPlane,
}

/// A dma-buf imported as an image; see the module documentation.
///
/// Fields are in destruction order: the Vulkan objects are destroyed in
/// `Drop`, then the device mapping is released (unmapping the dma-buf), the
/// device last.
pub(crate) struct ImportedImage {
    /// For a multi-planar format: the view, the immutable sampler and the
    /// conversion they sample through; null handles otherwise.
    view: vk::ImageView,
    sampler: vk::Sampler,
    conversion: vk::SamplerYcbcrConversion,
    image: vk::Image,
    memories: Vec<vk::DeviceMemory>,
    aspects: Vec<Aspect>,
    staging_size: u64,
    format: DrmFourcc,
    width: u32,
    height: u32,
    _mapping: Arc<DeviceMapping>,
    device: Arc<Device>,
}

impl std::fmt::Debug for ImportedImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedImage")
            .field("image", &self.image)
            .field("format", &self.format)
            .field("memories", &self.memories.len())
            .finish_non_exhaustive()
    }
}

/// What the importable table and the format say about a dma-buf, checked
/// before any Vulkan call.
struct Checked {
    format: vk::Format,
    features: vk::FormatFeatureFlags,
    ycbcr: bool,
}

impl ImportedImage {
    /// Imports `mapping`'s dma-buf as an image; the number of Vulkan objects
    /// created is added to `created`, also when a later step fails.
    pub(super) fn new(
        device: &Arc<Device>,
        mapping: &Arc<DeviceMapping>,
        created: &mut u64,
    ) -> Result<Self, VulkanError> {
        let (fourcc, modifier, width, height, disjoint, checked, (planes, fds)) = {
            let dmabuf = mapping.dmabuf();
            let _span = debug_span!("import dma-buf image", fourcc = %dmabuf.format()).entered();
            let (fourcc, modifier) = (dmabuf.format(), dmabuf.modifier());
            let checked = check(
                device,
                fourcc,
                modifier,
                dmabuf.planes().len(),
                (dmabuf.width(), dmabuf.height()),
                dmabuf.is_disjoint(),
            )?;
            (
                fourcc,
                modifier,
                dmabuf.width(),
                dmabuf.height(),
                dmabuf.is_disjoint(),
                checked,
                describe(&dmabuf)?,
            )
        };
        let info = FormatInfo::of(fourcc).expect("a validated dma-buf's format is known");
        let aspects = staging_layout(info, width, height);
        let staging_size = aspects.last().map_or(0, |a| {
            u64::from(a.staged.offset) + u64::from(a.staged.stride) * u64::from(a.extent.height)
        });

        let layouts: Vec<vk::SubresourceLayout> = planes
            .iter()
            .map(|p| vk::SubresourceLayout {
                offset: u64::from(p.offset),
                size: 0,
                row_pitch: u64::from(p.stride),
                array_pitch: 0,
                depth_pitch: 0,
            })
            .collect();
        let mut explicit = vk::ImageDrmFormatModifierExplicitCreateInfoEXT::default()
            .drm_format_modifier(modifier.into())
            .plane_layouts(&layouts);
        let mut external = vk::ExternalMemoryImageCreateInfo::default()
            .handle_types(vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT);
        let flags = if disjoint {
            vk::ImageCreateFlags::DISJOINT
        } else {
            vk::ImageCreateFlags::empty()
        };
        let create = vk::ImageCreateInfo::default()
            .flags(flags)
            .image_type(vk::ImageType::TYPE_2D)
            .format(checked.format)
            .extent(vk::Extent3D {
                width,
                height,
                depth: 1,
            })
            .mip_levels(1)
            .array_layers(1)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::DRM_FORMAT_MODIFIER_EXT)
            .usage(vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_SRC)
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
            .push_next(&mut explicit)
            .push_next(&mut external);
        let raw = device.raw();
        // SAFETY: the (format, modifier) pair is a row of the importable
        // table, which vkGetPhysicalDeviceImageFormatProperties2 confirmed
        // for a 2D DMA_BUF image with these usages, and the extent is within
        // its maxExtent (checked in `check`,
        // VUID-VkImageCreateInfo-pNext-02262, -extent-02252); tiling
        // DRM_FORMAT_MODIFIER_EXT comes with exactly one modifier structure
        // (VUID-VkImageCreateInfo-tiling-02261) whose plane count is the
        // modifier's (VUID-VkImageDrmFormatModifierExplicitCreateInfoEXT-drmFormatModifierPlaneCount-02265)
        // and whose layouts have size, arrayPitch and depthPitch 0 (-size-02267,
        // -arrayPitch-02268, -depthPitch-02269); DISJOINT only where the
        // modifier's features have it (-imageCreateFormatFeatures-02260);
        // external memory images start UNDEFINED (VUID-VkImageCreateInfo-pNext-01443).
        let image = unsafe { raw.create_image(&create, None) }.map_err(map_create_image_err)?;
        *created += 1;
        let mut this = Self {
            view: vk::ImageView::null(),
            sampler: vk::Sampler::null(),
            conversion: vk::SamplerYcbcrConversion::null(),
            image,
            memories: Vec::new(),
            aspects,
            staging_size,
            format: fourcc,
            width,
            height,
            _mapping: Arc::clone(mapping),
            device: Arc::clone(device),
        };
        // From here on a failure drops `this`, destroying what exists.
        if disjoint {
            this.bind_disjoint(&planes, &fds, created)?;
        } else {
            let (fd, size) = fds.into_iter().next().expect("a dma-buf has a buffer");
            // SAFETY: a non-disjoint image of this device
            // (VUID-vkGetImageMemoryRequirements-image-01588).
            let requirements = unsafe { raw.get_image_memory_requirements(image) };
            check_size(requirements.size, size)?;
            let memory = import_memory(device, fd, requirements, Dedicated::Image(image))?;
            this.memories.push(memory);
            *created += 1;
            // SAFETY: the image has no memory yet (VUID-vkBindImageMemory-image-07460),
            // is not disjoint (-image-01608); the memory was allocated for
            // its requirements, dedicated to it, at offset 0
            // (-memory-01047, -size-01049, -memory-02628).
            unsafe { raw.bind_image_memory(image, memory, 0) }
                .map_err(|r| map_host_device_oom_err("vkBindImageMemory", r))?;
        }
        if checked.ycbcr {
            this.create_conversion(checked.format, checked.features, created)?;
        }
        let name = std::ffi::CString::new(format!("dmabridge {fourcc} image"))
            .expect("no NUL in a format name");
        device.set_name(image, &name)?;
        debug!(%fourcc, ?modifier, width, height, disjoint, "dma-buf imported as an image");
        Ok(this)
    }

    /// Imports one allocation a memory plane, from a dup of the plane's
    /// buffer, and binds them all.
    fn bind_disjoint(
        &mut self,
        planes: &[ImportedPlane],
        fds: &[(std::os::fd::OwnedFd, u64)],
        created: &mut u64,
    ) -> Result<(), VulkanError> {
        let raw = self.device.raw();
        for (i, plane) in planes.iter().enumerate() {
            let mut aspect =
                vk::ImagePlaneMemoryRequirementsInfo::default().plane_aspect(memory_plane(i));
            let info = vk::ImageMemoryRequirementsInfo2::default()
                .image(self.image)
                .push_next(&mut aspect);
            let mut requirements = vk::MemoryRequirements2::default();
            // SAFETY: the image is disjoint, so a plane aspect is given
            // (VUID-VkImageMemoryRequirementsInfo2-image-01589); with tiling
            // DRM_FORMAT_MODIFIER_EXT it is MEMORY_PLANE_i_EXT with i below
            // the modifier's plane count, which is the dma-buf's
            // (VUID-VkImagePlaneMemoryRequirementsInfo-planeAspect-02282).
            unsafe { raw.get_image_memory_requirements2(&info, &mut requirements) };
            let requirements = requirements.memory_requirements;
            let (fd, size) = &fds[plane.buffer];
            check_size(requirements.size, *size)?;
            let fd = fd.try_clone().map_err(VulkanError::Dup)?;
            let memory = import_memory(&self.device, fd, requirements, Dedicated::None)?;
            self.memories.push(memory);
            *created += 1;
        }
        let mut aspects: Vec<_> = (0..planes.len())
            .map(|i| vk::BindImagePlaneMemoryInfo::default().plane_aspect(memory_plane(i)))
            .collect();
        let binds: Vec<_> = aspects
            .iter_mut()
            .zip(&self.memories)
            .map(|(aspect, &memory)| {
                vk::BindImageMemoryInfo::default()
                    .image(self.image)
                    .memory(memory)
                    .memory_offset(0)
                    .push_next(aspect)
            })
            .collect();
        // SAFETY: each memory plane of the disjoint image is bound once
        // (VUID-vkBindImageMemory2-pBindInfos-02858), with a
        // VkBindImagePlaneMemoryInfo naming MEMORY_PLANE_i_EXT
        // (VUID-VkBindImageMemoryInfo-image-07736, VUID-VkBindImagePlaneMemoryInfo-planeAspect-02284),
        // to memory allocated for that plane's requirements at offset 0.
        unsafe { raw.bind_image_memory2(&binds) }
            .map_err(|r| map_host_device_oom_err("vkBindImageMemory2", r))
    }

    /// Creates the YCbCr conversion, the immutable sampler and the view a
    /// shader samples the image through.
    fn create_conversion(
        &mut self,
        format: vk::Format,
        features: vk::FormatFeatureFlags,
        created: &mut u64,
    ) -> Result<(), VulkanError> {
        let raw = self.device.raw();
        let chroma = if features.contains(vk::FormatFeatureFlags::MIDPOINT_CHROMA_SAMPLES) {
            vk::ChromaLocation::MIDPOINT
        } else {
            vk::ChromaLocation::COSITED_EVEN
        };
        let info = vk::SamplerYcbcrConversionCreateInfo::default()
            .format(format)
            .ycbcr_model(vk::SamplerYcbcrModelConversion::YCBCR_601)
            .ycbcr_range(vk::SamplerYcbcrRange::ITU_NARROW)
            .x_chroma_offset(chroma)
            .y_chroma_offset(chroma)
            .chroma_filter(vk::Filter::NEAREST)
            .force_explicit_reconstruction(false);
        // SAFETY: the samplerYcbcrConversion feature is enabled and the
        // format's features for this modifier have the chroma location
        // chosen (checked in `check`: VUID-VkSamplerYcbcrConversionCreateInfo-xChromaOffset-01651);
        // the filter is NEAREST, which needs no feature (-chromaFilter-01657);
        // identity components.
        self.conversion = unsafe { raw.create_sampler_ycbcr_conversion(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateSamplerYcbcrConversion", r))?;
        *created += 1;
        let mut conversion = vk::SamplerYcbcrConversionInfo::default().conversion(self.conversion);
        let info = vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::NEAREST)
            .min_filter(vk::Filter::NEAREST)
            .mipmap_mode(vk::SamplerMipmapMode::NEAREST)
            .address_mode_u(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_v(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .push_next(&mut conversion);
        // SAFETY: a sampler with a YCbCr conversion: both filters equal the
        // conversion's chroma filter (VUID-VkSamplerCreateInfo-minFilter-01645),
        // clamp to edge, no anisotropy, normalized coordinates
        // (-addressModeU-01646).
        self.sampler = unsafe { raw.create_sampler(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateSampler", r))?;
        *created += 1;
        let mut conversion = vk::SamplerYcbcrConversionInfo::default().conversion(self.conversion);
        let info = vk::ImageViewCreateInfo::default()
            .image(self.image)
            .view_type(vk::ImageViewType::TYPE_2D)
            .format(format)
            .subresource_range(
                vk::ImageSubresourceRange::default()
                    .aspect_mask(vk::ImageAspectFlags::COLOR)
                    .level_count(1)
                    .layer_count(1),
            )
            .push_next(&mut conversion);
        // SAFETY: a view of the whole image, of its format, with the
        // conversion made for that format (VUID-VkImageViewCreateInfo-format-06415)
        // and identity components (-pNext-01970); the image has SAMPLED usage
        // and memory bound (-image-01020).
        self.view = unsafe { raw.create_image_view(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateImageView", r))?;
        *created += 1;
        Ok(())
    }

    /// The image's handle.
    pub(super) fn raw(&self) -> vk::Image {
        self.image
    }

    /// The regions of `vkCmdCopyImageToBuffer` that write every plane
    /// aspect to a buffer laid out as [`staging_planes`](Self::staging_planes).
    pub(super) fn copy_regions(&self) -> Vec<vk::BufferImageCopy> {
        self.aspects
            .iter()
            .map(|a| {
                vk::BufferImageCopy::default()
                    .buffer_offset(u64::from(a.staged.offset))
                    .image_subresource(
                        vk::ImageSubresourceLayers::default()
                            .aspect_mask(a.aspect)
                            .layer_count(1),
                    )
                    .image_extent(vk::Extent3D {
                        width: a.extent.width,
                        height: a.extent.height,
                        depth: 1,
                    })
            })
            .collect()
    }

    /// Where each plane lands in the buffer a copy reads the image into:
    /// rows packed tight, planes one after another from 4-byte aligned
    /// offsets, all in buffer 0.
    pub(crate) fn staging_planes(&self) -> Vec<ImportedPlane> {
        self.aspects.iter().map(|a| a.staged).collect()
    }

    /// The bytes of that buffer.
    pub(crate) fn staging_size(&self) -> u64 {
        self.staging_size
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

impl Drop for ImportedImage {
    fn drop(&mut self) {
        let raw = self.device.raw();
        // SAFETY: commands that use the image hold an Arc to it until their
        // fence signalled, so none is pending (VUID-vkDestroyImage-image-01000,
        // VUID-vkFreeMemory-memory-00677, VUID-vkDestroySampler-sampler-01082,
        // VUID-vkDestroyImageView-imageView-01026); the view and sampler go
        // before the conversion they use, the image before its memory. Null
        // handles (a failed construction) are ignored.
        unsafe {
            raw.destroy_image_view(self.view, None);
            raw.destroy_sampler(self.sampler, None);
            raw.destroy_sampler_ycbcr_conversion(self.conversion, None);
            raw.destroy_image(self.image, None);
            for &memory in &self.memories {
                raw.free_memory(memory, None);
            }
        }
    }
}

/// `VK_IMAGE_ASPECT_MEMORY_PLANE_i_BIT_EXT`.
fn memory_plane(i: usize) -> vk::ImageAspectFlags {
    [
        vk::ImageAspectFlags::MEMORY_PLANE_0_EXT,
        vk::ImageAspectFlags::MEMORY_PLANE_1_EXT,
        vk::ImageAspectFlags::MEMORY_PLANE_2_EXT,
        vk::ImageAspectFlags::MEMORY_PLANE_3_EXT,
    ][i]
}

/// An allocation of `needed` bytes does not import from a dma-buf of `size`.
fn check_size(needed: u64, size: u64) -> Result<(), VulkanError> {
    if needed > size {
        return Err(VulkanError::ImportTooSmall { needed, size });
    }
    Ok(())
}

/// Checks a dma-buf of `fourcc`, `modifier`, `planes` memory planes and
/// `size` against the device's importable table, before anything reaches
/// the driver.
fn check(
    device: &Device,
    fourcc: DrmFourcc,
    modifier: DrmModifier,
    planes: usize,
    (width, height): (u32, u32),
    disjoint: bool,
) -> Result<Checked, VulkanError> {
    let row = device
        .importable_formats()
        .iter()
        .find(|r| r.fourcc == fourcc && r.modifier == modifier && r.path == ImportPath::Image)
        .ok_or(VulkanError::UnsupportedModifier {
            fourcc,
            modifier: modifier.into(),
        })?;
    if row.planes as usize != planes {
        return Err(VulkanError::ModifierPlanes {
            modifier: modifier.into(),
            expected: row.planes,
            got: planes,
        });
    }
    for (value, max) in [
        (width, row.max_extent.width),
        (height, row.max_extent.height),
    ] {
        if value > max {
            return Err(VulkanError::LimitExceeded {
                limit: "maxExtent",
                value: u64::from(value),
                max: u64::from(max),
            });
        }
    }
    let unsupported = |what| VulkanError::ImageImportUnsupported {
        fourcc,
        modifier: modifier.into(),
        what,
    };
    if disjoint && !row.features.contains(vk::FormatFeatureFlags::DISJOINT) {
        return Err(unsupported("planes in separate buffers"));
    }
    let info = FormatInfo::of(fourcc).expect("a validated dma-buf's format is known");
    let ycbcr = info.plane_count() > 1;
    if ycbcr {
        let chroma = vk::FormatFeatureFlags::MIDPOINT_CHROMA_SAMPLES
            | vk::FormatFeatureFlags::COSITED_CHROMA_SAMPLES;
        if !device.capabilities().sampler_ycbcr_conversion || !row.features.intersects(chroma) {
            return Err(unsupported("a YCbCr conversion"));
        }
    }
    Ok(Checked {
        format: row.format,
        features: row.features,
        ycbcr,
    })
}

/// Each plane aspect of an image of `info`'s format and this size, and
/// where a copy puts it in a buffer: tight rows, 4-byte aligned planes.
fn staging_layout(info: &FormatInfo, width: u32, height: u32) -> Vec<Aspect> {
    let single = info.plane_count() == 1;
    let mut offset = 0u32;
    info.planes()
        .iter()
        .enumerate()
        .map(|(i, plane)| {
            let extent = vk::Extent2D {
                width: plane.width(width),
                height: plane.height(height),
            };
            // The image's size is within the importable row's maxExtent and
            // its planes inside a dma-buf, so these fit 32 bits.
            let stride = u32::try_from(plane.row_bytes(width)).expect("a plane row fits u32");
            let aspect = if single {
                vk::ImageAspectFlags::COLOR
            } else {
                [
                    vk::ImageAspectFlags::PLANE_0,
                    vk::ImageAspectFlags::PLANE_1,
                    vk::ImageAspectFlags::PLANE_2,
                ][i]
            };
            let staged = ImportedPlane {
                buffer: 0,
                offset,
                stride,
            };
            offset = (offset + stride * extent.height).next_multiple_of(4);
            Aspect {
                aspect,
                extent,
                staged,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nv12_stages_luma_then_aligned_chroma() {
        let info = FormatInfo::of(DrmFourcc::Nv12).expect("NV12 is known");
        let aspects = staging_layout(info, 5, 3);
        assert_eq!(aspects.len(), 2);
        assert_eq!(aspects[0].aspect, vk::ImageAspectFlags::PLANE_0);
        assert_eq!((aspects[0].extent.width, aspects[0].extent.height), (5, 3));
        assert_eq!((aspects[0].staged.offset, aspects[0].staged.stride), (0, 5));
        // 15 luma bytes, chroma from 16: 3 pairs a row, 2 rows.
        assert_eq!(aspects[1].aspect, vk::ImageAspectFlags::PLANE_1);
        assert_eq!((aspects[1].extent.width, aspects[1].extent.height), (3, 2));
        assert_eq!(
            (aspects[1].staged.offset, aspects[1].staged.stride),
            (16, 6)
        );
    }

    #[test]
    fn packed_formats_stage_one_colour_aspect() {
        let info = FormatInfo::of(DrmFourcc::Argb8888).expect("ARGB8888 is known");
        let aspects = staging_layout(info, 7, 2);
        assert_eq!(aspects.len(), 1);
        assert_eq!(aspects[0].aspect, vk::ImageAspectFlags::COLOR);
        assert_eq!(
            (aspects[0].staged.offset, aspects[0].staged.stride),
            (0, 28)
        );
    }
}
