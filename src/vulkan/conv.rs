//! Conversions: DRM fourcc ↔ `VkFormat`, and `vk::Result` → [`VulkanError`].
//!
//! # Formats
//!
//! A DRM fourcc names its components from the most significant bit of a
//! little-endian word (`drm_fourcc.h`: "[31:0] A:R:G:B 8:8:8:8 little
//! endian"), so `ARGB8888` is the bytes B, G, R, A in memory: Vulkan's
//! `B8G8R8A8_UNORM`, which names bytes in memory order. Packed Vulkan formats
//! (`*_PACK16`, `*_PACK32`) name bits from the most significant, like DRM:
//! `RGB565` is `R5G6B5_UNORM_PACK16`. The YUV formats map onto the
//! multi-planar formats whose planes come in the same order (`B` is Cb/U,
//! `R` is Cr/V).
//!
//! Formats of [`FormatInfo::all`](crate::dmabuf::FormatInfo::all) with no
//! equivalent are left out rather than emulated with a swizzle:
//! `RGBA8888`, `RGBX8888`, `BGRA8888`, `BGRX8888` (memory order A/X, B, G, R
//! and A/X, R, G, B), `NV21` (V before U in the chroma plane) and `YVU420`
//! (the V plane before the U plane).
//!
//! # Errors
//!
//! Each `map_*` function maps exactly the error codes the specification
//! lists for the calls it is named after; any other code becomes
//! [`VulkanError::Unexpected`] (wgpu-hal's `map_host_device_oom_err`).

use ash::vk;
use drm_fourcc::DrmFourcc;

use super::VulkanError;

/// What the alpha bits of a fourcc mean for its Vulkan format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alpha {
    /// The Vulkan format's alpha channel (or its lack of one) is the
    /// fourcc's.
    Native,
    /// An `X` format: the bits are padding with undefined contents. The
    /// Vulkan format has alpha there, so a view must swizzle `a` to `ONE`.
    Padding,
}

/// One row of the fourcc ↔ `VkFormat` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatMapping {
    /// The DRM format.
    pub fourcc: DrmFourcc,
    /// The Vulkan format with the same memory layout.
    pub format: vk::Format,
    /// Whether the fourcc's alpha bits are the Vulkan format's alpha.
    pub alpha: Alpha,
}

const fn map(fourcc: DrmFourcc, format: vk::Format, alpha: Alpha) -> FormatMapping {
    FormatMapping {
        fourcc,
        format,
        alpha,
    }
}

/// Every format of the crate's format table that has a Vulkan equivalent.
pub static FORMAT_MAPPINGS: [FormatMapping; 16] = [
    map(
        DrmFourcc::Argb8888,
        vk::Format::B8G8R8A8_UNORM,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Xrgb8888,
        vk::Format::B8G8R8A8_UNORM,
        Alpha::Padding,
    ),
    map(
        DrmFourcc::Abgr8888,
        vk::Format::R8G8B8A8_UNORM,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Xbgr8888,
        vk::Format::R8G8B8A8_UNORM,
        Alpha::Padding,
    ),
    map(
        DrmFourcc::Rgb565,
        vk::Format::R5G6B5_UNORM_PACK16,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Argb2101010,
        vk::Format::A2R10G10B10_UNORM_PACK32,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Xrgb2101010,
        vk::Format::A2R10G10B10_UNORM_PACK32,
        Alpha::Padding,
    ),
    map(
        DrmFourcc::Abgr2101010,
        vk::Format::A2B10G10R10_UNORM_PACK32,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Xbgr2101010,
        vk::Format::A2B10G10R10_UNORM_PACK32,
        Alpha::Padding,
    ),
    map(
        DrmFourcc::Abgr16161616f,
        vk::Format::R16G16B16A16_SFLOAT,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Xbgr16161616f,
        vk::Format::R16G16B16A16_SFLOAT,
        Alpha::Padding,
    ),
    map(DrmFourcc::R8, vk::Format::R8_UNORM, Alpha::Native),
    map(DrmFourcc::Gr88, vk::Format::R8G8_UNORM, Alpha::Native),
    map(
        DrmFourcc::Nv12,
        vk::Format::G8_B8R8_2PLANE_420_UNORM,
        Alpha::Native,
    ),
    map(
        DrmFourcc::P010,
        vk::Format::G10X6_B10X6R10X6_2PLANE_420_UNORM_3PACK16,
        Alpha::Native,
    ),
    map(
        DrmFourcc::Yuv420,
        vk::Format::G8_B8_R8_3PLANE_420_UNORM,
        Alpha::Native,
    ),
];

/// The Vulkan format with `fourcc`'s memory layout, and what its alpha bits
/// mean; `None` when Vulkan has no such format.
pub fn vk_format(fourcc: DrmFourcc) -> Option<FormatMapping> {
    FORMAT_MAPPINGS.iter().find(|m| m.fourcc == fourcc).copied()
}

/// The fourcc whose memory layout `format` has, with `alpha` choosing
/// between e.g. `ARGB8888` ([`Alpha::Native`]) and `XRGB8888`
/// ([`Alpha::Padding`]).
pub fn fourcc_for_vk_format(format: vk::Format, alpha: Alpha) -> Option<DrmFourcc> {
    FORMAT_MAPPINGS
        .iter()
        .find(|m| m.format == format && m.alpha == alpha)
        .map(|m| m.fourcc)
}

fn unexpected(call: &'static str, result: vk::Result) -> VulkanError {
    VulkanError::Unexpected { call, result }
}

/// `VK_ERROR_OUT_OF_HOST_MEMORY` alone: `vkEnumerateInstanceVersion`,
/// `vkCreateDebugUtilsMessengerEXT`.
pub(super) fn map_host_oom_err(call: &'static str, result: vk::Result) -> VulkanError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => VulkanError::OutOfHostMemory { call },
        result => unexpected(call, result),
    }
}

/// Host and device out-of-memory: `vkEnumerateDeviceExtensionProperties`
/// (with no layer name), `vkEnumerateInstanceLayerProperties`,
/// `vkEnumerateInstanceExtensionProperties` (no layer name),
/// `vkSetDebugUtilsObjectNameEXT`.
pub(super) fn map_host_device_oom_err(call: &'static str, result: vk::Result) -> VulkanError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => VulkanError::OutOfHostMemory { call },
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => VulkanError::OutOfDeviceMemory { call },
        result => unexpected(call, result),
    }
}

/// Host and device out-of-memory and `VK_ERROR_INITIALIZATION_FAILED`:
/// `vkEnumeratePhysicalDevices`.
pub(super) fn map_host_device_oom_and_init_err(
    call: &'static str,
    result: vk::Result,
) -> VulkanError {
    match result {
        vk::Result::ERROR_INITIALIZATION_FAILED => VulkanError::InitializationFailed { call },
        result => map_host_device_oom_err(call, result),
    }
}

/// Host and device out-of-memory and `VK_ERROR_DEVICE_LOST`:
/// `vkQueueSubmit`, `vkWaitForFences`, `vkGetFenceStatus`.
pub(super) fn map_host_device_oom_and_lost_err(
    call: &'static str,
    result: vk::Result,
) -> VulkanError {
    match result {
        vk::Result::ERROR_DEVICE_LOST => VulkanError::DeviceLost { call },
        result => map_host_device_oom_err(call, result),
    }
}

/// Host and device out-of-memory and `VK_ERROR_INVALID_EXTERNAL_HANDLE`:
/// `vkAllocateMemory` with an imported fd (its
/// `VK_ERROR_INVALID_OPAQUE_CAPTURE_ADDRESS` needs a capture address, which
/// this crate never passes), `vkGetMemoryFdPropertiesKHR` and
/// `vkImportSemaphoreFdKHR` (whose lists have host memory and the handle
/// only; a device out-of-memory is taken as the allocation's would be).
pub(super) fn map_import_err(call: &'static str, result: vk::Result) -> VulkanError {
    match result {
        vk::Result::ERROR_INVALID_EXTERNAL_HANDLE => VulkanError::InvalidExternalHandle { call },
        result => map_host_device_oom_err(call, result),
    }
}

/// `vkCreateImage`: out of memory, and
/// `VK_ERROR_INVALID_DRM_FORMAT_MODIFIER_PLANE_LAYOUT_EXT` for a client's
/// offsets and pitches the driver cannot use with the modifier. (Its
/// compression and capture-address errors need structures this crate never
/// chains.)
pub(super) fn map_create_image_err(result: vk::Result) -> VulkanError {
    const CALL: &str = "vkCreateImage";
    match result {
        vk::Result::ERROR_INVALID_DRM_FORMAT_MODIFIER_PLANE_LAYOUT_EXT => {
            VulkanError::InvalidPlaneLayout
        }
        result => map_host_device_oom_err(CALL, result),
    }
}

/// `vkGetSemaphoreFdKHR`: `VK_ERROR_TOO_MANY_OBJECTS` and host out-of-memory.
pub(super) fn map_export_err(call: &'static str, result: vk::Result) -> VulkanError {
    match result {
        vk::Result::ERROR_TOO_MANY_OBJECTS => VulkanError::TooManyObjects { call },
        result => map_host_oom_err(call, result),
    }
}

/// `vkMapMemory`: out of memory and `VK_ERROR_MEMORY_MAP_FAILED`.
pub(super) fn map_map_memory_err(result: vk::Result) -> VulkanError {
    const CALL: &str = "vkMapMemory";
    match result {
        vk::Result::ERROR_MEMORY_MAP_FAILED => VulkanError::MemoryMapFailed,
        result => map_host_device_oom_err(CALL, result),
    }
}

/// `vkCreateInstance`: out of memory, initialization failed, a layer or
/// extension not present, incompatible driver.
pub(super) fn map_create_instance_err(result: vk::Result) -> VulkanError {
    const CALL: &str = "vkCreateInstance";
    match result {
        vk::Result::ERROR_INCOMPATIBLE_DRIVER => VulkanError::IncompatibleDriver,
        vk::Result::ERROR_LAYER_NOT_PRESENT | vk::Result::ERROR_EXTENSION_NOT_PRESENT => {
            VulkanError::NotPresent { call: CALL, result }
        }
        result => map_host_device_oom_and_init_err(CALL, result),
    }
}

/// `vkCreateDevice`: out of memory, initialization failed, an extension or
/// feature not present, too many objects, device lost.
pub(super) fn map_create_device_err(result: vk::Result) -> VulkanError {
    const CALL: &str = "vkCreateDevice";
    match result {
        vk::Result::ERROR_EXTENSION_NOT_PRESENT | vk::Result::ERROR_FEATURE_NOT_PRESENT => {
            VulkanError::NotPresent { call: CALL, result }
        }
        vk::Result::ERROR_TOO_MANY_OBJECTS => VulkanError::TooManyObjects { call: CALL },
        vk::Result::ERROR_DEVICE_LOST => VulkanError::DeviceLost { call: CALL },
        result => map_host_device_oom_and_init_err(CALL, result),
    }
}

/// `vkGetPhysicalDeviceImageFormatProperties{,2}`: `Ok(false)` for
/// `VK_ERROR_FORMAT_NOT_SUPPORTED` (the combination asked about does not
/// exist), host and device out-of-memory as errors. (The image-usage
/// errors of `VK_KHR_video_queue` need a video profile in the chain, which
/// this crate never passes.)
pub(super) fn map_host_device_oom_and_format_err(
    call: &'static str,
    result: Result<(), vk::Result>,
) -> Result<bool, VulkanError> {
    match result {
        Ok(()) => Ok(true),
        Err(vk::Result::ERROR_FORMAT_NOT_SUPPORTED) => Ok(false),
        Err(result) => Err(map_host_device_oom_err(call, result)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dmabuf::FormatInfo;

    #[test]
    fn fourcc_to_vk_and_back() {
        for mapping in &FORMAT_MAPPINGS {
            let there = vk_format(mapping.fourcc);
            assert_eq!(there, Some(*mapping), "{}", mapping.fourcc);
            assert_eq!(
                fourcc_for_vk_format(mapping.format, mapping.alpha),
                Some(mapping.fourcc),
                "{:?}",
                mapping.format
            );
        }
    }

    #[test]
    fn each_vk_format_and_alpha_names_one_fourcc() {
        for (i, a) in FORMAT_MAPPINGS.iter().enumerate() {
            for b in &FORMAT_MAPPINGS[i + 1..] {
                assert_ne!(a.fourcc, b.fourcc, "{} mapped twice", a.fourcc);
                assert!(
                    (a.format, a.alpha) != (b.format, b.alpha),
                    "{} and {} both map to {:?}",
                    a.fourcc,
                    b.fourcc,
                    a.format
                );
            }
        }
    }

    #[test]
    fn mapped_formats_are_known_and_the_rest_have_no_equivalent() {
        let without = [
            DrmFourcc::Rgba8888,
            DrmFourcc::Rgbx8888,
            DrmFourcc::Bgra8888,
            DrmFourcc::Bgrx8888,
            DrmFourcc::Nv21,
            DrmFourcc::Yvu420,
        ];
        for mapping in &FORMAT_MAPPINGS {
            assert!(
                FormatInfo::of(mapping.fourcc).is_some(),
                "{} is not in FormatInfo",
                mapping.fourcc
            );
        }
        for info in FormatInfo::all() {
            assert_eq!(
                vk_format(info.fourcc()).is_none(),
                without.contains(&info.fourcc()),
                "{}",
                info.fourcc()
            );
        }
    }

    #[test]
    fn little_endian_memory_order() {
        let format = |f| vk_format(f).map(|m| m.format);
        assert_eq!(
            format(DrmFourcc::Argb8888),
            Some(vk::Format::B8G8R8A8_UNORM)
        );
        assert_eq!(
            format(DrmFourcc::Xbgr8888),
            Some(vk::Format::R8G8B8A8_UNORM)
        );
        assert_eq!(format(DrmFourcc::Gr88), Some(vk::Format::R8G8_UNORM));
        assert_eq!(
            format(DrmFourcc::Nv12),
            Some(vk::Format::G8_B8R8_2PLANE_420_UNORM)
        );
        assert_eq!(
            vk_format(DrmFourcc::Xrgb8888).map(|m| m.alpha),
            Some(Alpha::Padding)
        );
    }

    #[test]
    fn errors_map_only_what_each_call_may_return() {
        let r = vk::Result::ERROR_OUT_OF_DEVICE_MEMORY;
        assert!(matches!(
            map_host_oom_err("c", r),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_host_device_oom_err("c", r),
            VulkanError::OutOfDeviceMemory { call: "c" }
        ));
        assert!(matches!(
            map_host_device_oom_err("c", vk::Result::ERROR_INITIALIZATION_FAILED),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_host_device_oom_and_init_err("c", vk::Result::ERROR_INITIALIZATION_FAILED),
            VulkanError::InitializationFailed { call: "c" }
        ));
        assert!(matches!(
            map_host_device_oom_and_lost_err("c", vk::Result::ERROR_DEVICE_LOST),
            VulkanError::DeviceLost { call: "c" }
        ));
        assert!(matches!(
            map_import_err("c", vk::Result::ERROR_INVALID_EXTERNAL_HANDLE),
            VulkanError::InvalidExternalHandle { call: "c" }
        ));
        assert!(matches!(
            map_import_err("c", vk::Result::ERROR_DEVICE_LOST),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_export_err("c", vk::Result::ERROR_TOO_MANY_OBJECTS),
            VulkanError::TooManyObjects { call: "c" }
        ));
        assert!(matches!(
            map_export_err("c", vk::Result::ERROR_OUT_OF_DEVICE_MEMORY),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_map_memory_err(vk::Result::ERROR_MEMORY_MAP_FAILED),
            VulkanError::MemoryMapFailed
        ));
        assert!(matches!(
            map_create_instance_err(vk::Result::ERROR_INCOMPATIBLE_DRIVER),
            VulkanError::IncompatibleDriver
        ));
        assert!(matches!(
            map_create_instance_err(vk::Result::ERROR_FEATURE_NOT_PRESENT),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_create_device_err(vk::Result::ERROR_FEATURE_NOT_PRESENT),
            VulkanError::NotPresent { .. }
        ));
        assert!(matches!(
            map_create_device_err(vk::Result::ERROR_DEVICE_LOST),
            VulkanError::DeviceLost { .. }
        ));
        assert!(matches!(
            map_create_device_err(vk::Result::ERROR_INCOMPATIBLE_DRIVER),
            VulkanError::Unexpected { .. }
        ));
        assert!(matches!(
            map_host_device_oom_and_format_err("c", Err(vk::Result::ERROR_FORMAT_NOT_SUPPORTED)),
            Ok(false)
        ));
        assert!(matches!(
            map_host_device_oom_and_format_err("c", Ok(())),
            Ok(true)
        ));
        assert!(matches!(
            map_host_device_oom_and_format_err("c", Err(vk::Result::ERROR_DEVICE_LOST)),
            Err(VulkanError::Unexpected { .. })
        ));
    }
}
