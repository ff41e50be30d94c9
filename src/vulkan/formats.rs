//! The importable table: which (fourcc, modifier) pairs a device imports,
//! how, with which usages and up to which size. This is what a compositor
//! advertises to its clients; every row was confirmed by the driver, none is
//! assumed.
//!
//! * With `VK_EXT_image_drm_format_modifier`: every modifier the driver lists
//!   for the format (`VkDrmFormatModifierPropertiesListEXT`) whose tiling
//!   features allow sampling and transfer reads, and for which `vkGetPhysicalDeviceImageFormatProperties2`
//!   with a `DMA_BUF` external-image query reports the handle type
//!   importable: [`ImportPath::Image`].
//! * Without it, only LINEAR single-plane buffers, imported as a `VkBuffer`
//!   and copied into an image of the device's choosing (a LINEAR external
//!   image would get the driver's row pitch, not the client's stride):
//!   [`ImportPath::Buffer`], when `vkGetPhysicalDeviceExternalBufferProperties`
//!   says `DMA_BUF` imports and an optimally tiled image of the format can be
//!   copied into, sampled and read back.

use ash::vk;
use drm_fourcc::{DrmFourcc, DrmModifier};
use tracing::debug;

use super::conv::{map_host_device_oom_and_format_err, vk_format};
use super::{Capabilities, Instance, VulkanError};
use crate::dmabuf::FormatInfo;

/// How a dma-buf of a table row becomes something the device samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportPath {
    /// Imported as a `VkImage` with the client's modifier, offsets and
    /// strides (`VkImageDrmFormatModifierExplicitCreateInfoEXT`): zero copies.
    Image,
    /// Imported as a `VkBuffer` and copied into a device image with
    /// `vkCmdCopyBufferToImage` (`bufferRowLength` = stride / bpp), which
    /// honours any stride. LINEAR only.
    Buffer,
}

bitflags::bitflags! {
    /// What an imported buffer of a table row can be used for.
    ///
    /// For [`ImportPath::Image`] these are the image's usages. For
    /// [`ImportPath::Buffer`], `SAMPLED` and `TRANSFER_SRC` apply to the
    /// device image the buffer is copied into, and `TRANSFER_DST` means the
    /// client's buffer can be written back by a copy.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ImportUsage: u32 {
        /// Sampled in a shader. Every row has it.
        const SAMPLED = 1 << 0;
        /// Source of transfers (readback, copies). Every row has it.
        const TRANSFER_SRC = 1 << 1;
        /// Destination of transfers.
        const TRANSFER_DST = 1 << 2;
        /// Rendered to as a colour attachment.
        const COLOR_ATTACHMENT = 1 << 3;
    }
}

/// One importable (fourcc, modifier) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportableFormat {
    /// The DRM format.
    pub fourcc: DrmFourcc,
    /// The Vulkan format it imports as.
    pub format: vk::Format,
    /// The modifier.
    pub modifier: DrmModifier,
    /// How many memory planes (fds, offsets, strides) a buffer of this pair
    /// has: `drmFormatModifierPlaneCount` on the image path, the format's
    /// plane count on the buffer path.
    pub planes: u32,
    /// How it imports.
    pub path: ImportPath,
    /// What an import can be used for; at least `SAMPLED | TRANSFER_SRC`.
    pub usage: ImportUsage,
    /// The largest image of this pair the driver allows.
    pub max_extent: vk::Extent2D,
    /// The format features of the pair: the modifier's tiling features on
    /// the image path (`DISJOINT`, the chroma sample locations and the
    /// YCbCr filters of a multi-planar format among them), the optimal
    /// tiling features of the device image on the buffer path.
    pub features: vk::FormatFeatureFlags,
}

/// The usage every row must allow.
const BASE_USAGE: ImportUsage = ImportUsage::SAMPLED.union(ImportUsage::TRANSFER_SRC);

impl ImportUsage {
    fn image_usage(self) -> vk::ImageUsageFlags {
        let mut usage = vk::ImageUsageFlags::empty();
        for (ours, theirs) in [
            (ImportUsage::SAMPLED, vk::ImageUsageFlags::SAMPLED),
            (ImportUsage::TRANSFER_SRC, vk::ImageUsageFlags::TRANSFER_SRC),
            (ImportUsage::TRANSFER_DST, vk::ImageUsageFlags::TRANSFER_DST),
            (
                ImportUsage::COLOR_ATTACHMENT,
                vk::ImageUsageFlags::COLOR_ATTACHMENT,
            ),
        ] {
            if self.contains(ours) {
                usage |= theirs;
            }
        }
        usage
    }

    /// The format features these usages need.
    fn features(self) -> vk::FormatFeatureFlags {
        let mut features = vk::FormatFeatureFlags::empty();
        for (ours, theirs) in [
            (ImportUsage::SAMPLED, vk::FormatFeatureFlags::SAMPLED_IMAGE),
            (
                ImportUsage::TRANSFER_SRC,
                vk::FormatFeatureFlags::TRANSFER_SRC,
            ),
            (
                ImportUsage::TRANSFER_DST,
                vk::FormatFeatureFlags::TRANSFER_DST,
            ),
            (
                ImportUsage::COLOR_ATTACHMENT,
                vk::FormatFeatureFlags::COLOR_ATTACHMENT,
            ),
        ] {
            if self.contains(ours) {
                features |= theirs;
            }
        }
        features
    }
}

/// The importable table of `physical`, in [`FormatInfo::all`] order.
pub(super) fn probe(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    caps: &Capabilities,
) -> Result<Vec<ImportableFormat>, VulkanError> {
    if !caps.external_memory_dma_buf {
        debug!("no VK_EXT_external_memory_dma_buf: nothing imports");
        return Ok(Vec::new());
    }
    let mut table = Vec::new();
    for info in FormatInfo::all() {
        let Some(mapping) = vk_format(info.fourcc()) else {
            continue;
        };
        if caps.drm_format_modifier {
            let modifiers = modifiers(instance, physical, mapping.format);
            if modifiers.is_empty() {
                debug!(fourcc = %mapping.fourcc, "the driver lists no modifier");
            }
            for props in modifiers {
                if let Some(row) =
                    image_row(instance, physical, mapping.fourcc, mapping.format, props)?
                {
                    table.push(row);
                }
            }
        } else if let Some(row) = buffer_row(instance, physical, info, mapping.format)? {
            table.push(row);
        }
    }
    Ok(table)
}

/// The modifiers the driver lists for `format`, with their plane counts and
/// tiling features.
///
/// Asked through `VkDrmFormatModifierPropertiesListEXT`, not the `…List2EXT`
/// of `VkFormatFeatureFlags2`: every driver with the extension fills the
/// first, lavapipe (Mesa 25) fills only it, and the features checked here
/// (sampled, transfer, colour attachment) all lie in the 32-bit flags.
fn modifiers(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    format: vk::Format,
) -> Vec<vk::DrmFormatModifierPropertiesEXT> {
    let vk = instance.ash();
    let mut list = vk::DrmFormatModifierPropertiesListEXT::default();
    let mut props = vk::FormatProperties2::default().push_next(&mut list);
    // SAFETY: the device has VK_EXT_image_drm_format_modifier, so the list
    // may be chained (VUID-VkFormatProperties2-pNext-pNext); a null array
    // asks for the count.
    unsafe { vk.get_physical_device_format_properties2(physical, format, &mut props) };
    let count = list.drm_format_modifier_count as usize;
    let mut out = vec![vk::DrmFormatModifierPropertiesEXT::default(); count];
    if out.is_empty() {
        return out;
    }
    let mut list =
        vk::DrmFormatModifierPropertiesListEXT::default().drm_format_modifier_properties(&mut out);
    let mut props = vk::FormatProperties2::default().push_next(&mut list);
    // SAFETY: as above; the array has room for the count the driver gave
    // and the list says so (drmFormatModifierCount = its length).
    unsafe { vk.get_physical_device_format_properties2(physical, format, &mut props) };
    let written = list.drm_format_modifier_count as usize;
    out.truncate(written);
    out
}

/// A row for `props.drm_format_modifier` when the driver confirms that a
/// dma-buf of it imports as an image with at least [`BASE_USAGE`].
fn image_row(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    fourcc: DrmFourcc,
    format: vk::Format,
    props: vk::DrmFormatModifierPropertiesEXT,
) -> Result<Option<ImportableFormat>, VulkanError> {
    let modifier = DrmModifier::from(props.drm_format_modifier);
    let features = props.drm_format_modifier_tiling_features;
    if !features.contains(BASE_USAGE.features()) {
        debug!(%fourcc, ?modifier, ?features, "modifier cannot be sampled and read");
        return Ok(None);
    }
    let Some(limits) = image_import(
        instance,
        physical,
        format,
        props.drm_format_modifier,
        BASE_USAGE,
    )?
    else {
        debug!(%fourcc, ?modifier, "dma-buf image import refused");
        return Ok(None);
    };
    let mut usage = BASE_USAGE;
    for extra in [ImportUsage::TRANSFER_DST, ImportUsage::COLOR_ATTACHMENT] {
        if features.contains(extra.features())
            && image_import(
                instance,
                physical,
                format,
                props.drm_format_modifier,
                BASE_USAGE | extra,
            )?
            .is_some()
        {
            usage |= extra;
        }
    }
    Ok(Some(ImportableFormat {
        fourcc,
        format,
        modifier,
        planes: props.drm_format_modifier_plane_count,
        path: ImportPath::Image,
        usage,
        max_extent: vk::Extent2D {
            width: limits.max_extent.width,
            height: limits.max_extent.height,
        },
        features,
    }))
}

/// The limits of a 2D image of `format` and `modifier` with `usage` imported
/// from a dma-buf, or `None` when the driver refuses the combination or does
/// not report `DMA_BUF` importable for it.
fn image_import(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    format: vk::Format,
    modifier: u64,
    usage: ImportUsage,
) -> Result<Option<vk::ImageFormatProperties>, VulkanError> {
    let mut external_info = vk::PhysicalDeviceExternalImageFormatInfo::default()
        .handle_type(vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT);
    let mut modifier_info = vk::PhysicalDeviceImageDrmFormatModifierInfoEXT::default()
        .drm_format_modifier(modifier)
        .sharing_mode(vk::SharingMode::EXCLUSIVE);
    let info = vk::PhysicalDeviceImageFormatInfo2::default()
        .format(format)
        .ty(vk::ImageType::TYPE_2D)
        .tiling(vk::ImageTiling::DRM_FORMAT_MODIFIER_EXT)
        .usage(usage.image_usage())
        .push_next(&mut external_info)
        .push_next(&mut modifier_info);
    let mut external = vk::ExternalImageFormatProperties::default();
    let mut props = vk::ImageFormatProperties2::default().push_next(&mut external);
    // SAFETY: tiling DRM_FORMAT_MODIFIER_EXT comes with
    // VkPhysicalDeviceImageDrmFormatModifierInfoEXT in the chain
    // (VUID-VkPhysicalDeviceImageFormatInfo2-tiling-02249), whose sharing
    // mode is EXCLUSIVE so no queue family list is read; DMA_BUF_EXT is a
    // handle type of VK_EXT_external_memory_dma_buf, which the device has;
    // usage is non-zero (VUID-VkPhysicalDeviceImageFormatInfo2-usage-requiredbitmask).
    let result = unsafe {
        instance
            .ash()
            .get_physical_device_image_format_properties2(physical, &info, &mut props)
    };
    if !map_host_device_oom_and_format_err("vkGetPhysicalDeviceImageFormatProperties2", result)? {
        return Ok(None);
    }
    let limits = props.image_format_properties;
    let memory = external.external_memory_properties;
    let importable = memory
        .external_memory_features
        .contains(vk::ExternalMemoryFeatureFlags::IMPORTABLE)
        && memory
            .compatible_handle_types
            .contains(vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT);
    Ok(importable.then_some(limits))
}

/// A LINEAR row on the buffer path, when `format` is single-plane, a
/// dma-buf imports as a transfer-source buffer, and an optimally tiled image
/// of the format can receive the copy, be sampled and be read back.
fn buffer_row(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    info: &FormatInfo,
    format: vk::Format,
) -> Result<Option<ImportableFormat>, VulkanError> {
    let fourcc = info.fourcc();
    if info.plane_count() != 1 {
        debug!(%fourcc, "multi-plane formats need the modifier extension");
        return Ok(None);
    }
    let vk = instance.ash();
    // SAFETY: `physical` was enumerated from this instance and `format` is a
    // core format.
    let features = unsafe { vk.get_physical_device_format_properties(physical, format) }
        .optimal_tiling_features;
    let needed = vk::FormatFeatureFlags::SAMPLED_IMAGE
        | vk::FormatFeatureFlags::TRANSFER_DST
        | vk::FormatFeatureFlags::TRANSFER_SRC;
    if !features.contains(needed) {
        debug!(%fourcc, ?features, "cannot copy into, sample and read an image of this format");
        return Ok(None);
    }
    let image_usage = vk::ImageUsageFlags::SAMPLED
        | vk::ImageUsageFlags::TRANSFER_DST
        | vk::ImageUsageFlags::TRANSFER_SRC;
    let mut limits = vk::ImageFormatProperties::default();
    // SAFETY: a plain optimal-tiling 2D query; `limits` is written on success.
    let result = unsafe {
        vk.get_physical_device_image_format_properties(
            physical,
            format,
            vk::ImageType::TYPE_2D,
            vk::ImageTiling::OPTIMAL,
            image_usage,
            vk::ImageCreateFlags::empty(),
        )
    }
    .map(|props| limits = props);
    if !map_host_device_oom_and_format_err("vkGetPhysicalDeviceImageFormatProperties", result)? {
        debug!(%fourcc, "no optimal-tiling image of this format");
        return Ok(None);
    }
    if !buffer_importable(instance, physical, vk::BufferUsageFlags::TRANSFER_SRC) {
        debug!(%fourcc, "dma-buf buffer import refused");
        return Ok(None);
    }
    let mut usage = BASE_USAGE;
    if buffer_importable(
        instance,
        physical,
        vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST,
    ) {
        usage |= ImportUsage::TRANSFER_DST;
    }
    Ok(Some(ImportableFormat {
        fourcc,
        format,
        modifier: DrmModifier::Linear,
        planes: 1,
        path: ImportPath::Buffer,
        usage,
        max_extent: vk::Extent2D {
            width: limits.max_extent.width,
            height: limits.max_extent.height,
        },
        features,
    }))
}

/// Whether `vkGetPhysicalDeviceExternalBufferProperties` reports a dma-buf
/// importable as a buffer with `usage`.
fn buffer_importable(
    instance: &Instance,
    physical: vk::PhysicalDevice,
    usage: vk::BufferUsageFlags,
) -> bool {
    let info = vk::PhysicalDeviceExternalBufferInfo::default()
        .usage(usage)
        .handle_type(vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT);
    let mut props = vk::ExternalBufferProperties::default();
    // SAFETY: external buffer queries are core in 1.1; DMA_BUF_EXT is defined
    // by VK_EXT_external_memory_dma_buf, which the device has; usage is
    // non-zero (VUID-VkPhysicalDeviceExternalBufferInfo-usage-requiredbitmask).
    unsafe {
        instance
            .ash()
            .get_physical_device_external_buffer_properties(physical, &info, &mut props);
    };
    let memory = props.external_memory_properties;
    memory
        .external_memory_features
        .contains(vk::ExternalMemoryFeatureFlags::IMPORTABLE)
        && memory
            .compatible_handle_types
            .contains(vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT)
}
