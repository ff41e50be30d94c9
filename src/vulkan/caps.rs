//! What a physical device can do for dma-buf sharing, asked of the driver
//! through property, feature and external-handle queries only: no object is
//! created to find out (lavapipe creates a SYNC_FD-exportable semaphore even
//! where it cannot export one).

use std::ffi::CStr;
use std::fmt;

use ash::vk;

use super::conv::map_host_device_oom_err;
use super::{ApiVersion, Instance, MIN_API_VERSION, VulkanError};

/// `VkPhysicalDeviceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Software rendering on the CPU (lavapipe).
    Cpu,
    /// A GPU sharing memory with the CPU.
    IntegratedGpu,
    /// A GPU with its own memory.
    DiscreteGpu,
    /// A GPU of a virtual machine (virtio-gpu's venus).
    VirtualGpu,
    /// Anything else.
    Other,
}

impl DeviceType {
    fn from_vk(ty: vk::PhysicalDeviceType) -> Self {
        match ty {
            vk::PhysicalDeviceType::CPU => DeviceType::Cpu,
            vk::PhysicalDeviceType::INTEGRATED_GPU => DeviceType::IntegratedGpu,
            vk::PhysicalDeviceType::DISCRETE_GPU => DeviceType::DiscreteGpu,
            vk::PhysicalDeviceType::VIRTUAL_GPU => DeviceType::VirtualGpu,
            _ => DeviceType::Other,
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceType::Cpu => "cpu",
            DeviceType::IntegratedGpu => "integrated-gpu",
            DeviceType::DiscreteGpu => "discrete-gpu",
            DeviceType::VirtualGpu => "virtual-gpu",
            DeviceType::Other => "other",
        })
    }
}

/// A device number, `major:minor`, as `stat` reports it in `st_rdev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId {
    /// The major number (226 for DRM).
    pub major: u32,
    /// The minor number (0.. for `cardN`, 128.. for `renderDN`).
    pub minor: u32,
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// The DRM nodes of a device, from `VkPhysicalDeviceDrmPropertiesEXT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DrmNodeIds {
    /// The primary node (`cardN`), if the device has one.
    pub primary: Option<NodeId>,
    /// The render node (`renderDN`), if the device has one.
    pub render: Option<NodeId>,
}

impl DrmNodeIds {
    /// Whether `id` is one of these nodes.
    pub fn contains(&self, id: NodeId) -> bool {
        self.primary == Some(id) || self.render == Some(id)
    }
}

/// Whether an external handle type can be imported into and exported from
/// an object, from `vkGetPhysicalDeviceExternal{Semaphore,Fence}Properties`
/// and the presence of the extension that imports and exports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ExternalHandleSupport {
    /// The payload can be imported.
    pub import: bool,
    /// The payload can be exported.
    pub export: bool,
}

/// What a physical device offers for sharing dma-bufs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `VkPhysicalDeviceProperties::deviceName`.
    pub device_name: String,
    /// `VkPhysicalDeviceProperties::deviceType`.
    pub device_type: DeviceType,
    /// The Vulkan version the device implements.
    pub api_version: ApiVersion,
    /// `VkPhysicalDeviceDriverProperties::driverName`, e.g. `llvmpipe`.
    pub driver_name: String,
    /// `VkPhysicalDeviceDriverProperties::driverInfo`, e.g. the Mesa version.
    pub driver_info: String,
    /// The device's DRM nodes, when it has `VK_EXT_physical_device_drm`.
    pub drm_nodes: Option<DrmNodeIds>,
    /// `VK_EXT_image_drm_format_modifier`: dma-bufs import as images with
    /// the client's modifier and plane layout.
    pub drm_format_modifier: bool,
    /// `VK_EXT_external_memory_dma_buf`: dma-buf fds import as memory.
    pub external_memory_dma_buf: bool,
    /// `VK_EXT_queue_family_foreign`: ownership transfers to and from the
    /// producer of a dma-buf.
    pub queue_family_foreign: bool,
    /// SYNC_FD payloads of binary semaphores (`VK_KHR_external_semaphore_fd`
    /// and `vkGetPhysicalDeviceExternalSemaphoreProperties`).
    pub semaphore_sync_fd: ExternalHandleSupport,
    /// SYNC_FD payloads of fences (`VK_KHR_external_fence_fd` and
    /// `vkGetPhysicalDeviceExternalFenceProperties`).
    pub fence_sync_fd: ExternalHandleSupport,
    /// The `timelineSemaphore` feature.
    pub timeline_semaphore: bool,
    /// The `samplerYcbcrConversion` feature: sampling YUV images.
    pub sampler_ycbcr_conversion: bool,
    /// The `synchronization2` feature (Vulkan 1.3 or
    /// `VK_KHR_synchronization2`).
    pub synchronization2: bool,
    /// Every device extension, sorted.
    pub extensions: Vec<String>,
}

impl Capabilities {
    /// Whether the device lists extension `name`.
    pub fn has_extension(&self, name: &CStr) -> bool {
        name.to_str().is_ok_and(|name| {
            self.extensions
                .binary_search_by(|e| e.as_str().cmp(name))
                .is_ok()
        })
    }

    /// Asks the driver what `physical` can do. A device older than
    /// [`MIN_API_VERSION`] is [`VulkanError::TooOld`]: the queries below need
    /// Vulkan 1.2.
    pub(super) fn probe(
        instance: &Instance,
        physical: vk::PhysicalDevice,
    ) -> Result<Self, VulkanError> {
        let vk = instance.ash();
        // SAFETY: `physical` was enumerated from this instance
        // (VUID-vkGetPhysicalDeviceProperties-physicalDevice-parameter).
        let props = unsafe { vk.get_physical_device_properties(physical) };
        let device_name = c_text(props.device_name_as_c_str());
        let api_version = ApiVersion(props.api_version);
        if api_version < MIN_API_VERSION {
            return Err(VulkanError::TooOld {
                what: device_name,
                found: api_version,
            });
        }
        // SAFETY: as above; no layer name is passed.
        let mut extensions: Vec<String> =
            unsafe { vk.enumerate_device_extension_properties(physical) }
                .map_err(|r| map_host_device_oom_err("vkEnumerateDeviceExtensionProperties", r))?
                .iter()
                .map(|e| c_text(e.extension_name_as_c_str()))
                .collect();
        extensions.sort();
        let mut caps = Capabilities {
            device_name,
            device_type: DeviceType::from_vk(props.device_type),
            api_version,
            driver_name: String::new(),
            driver_info: String::new(),
            drm_nodes: None,
            drm_format_modifier: false,
            external_memory_dma_buf: false,
            queue_family_foreign: false,
            semaphore_sync_fd: ExternalHandleSupport::default(),
            fence_sync_fd: ExternalHandleSupport::default(),
            timeline_semaphore: false,
            sampler_ycbcr_conversion: false,
            synchronization2: false,
            extensions,
        };
        caps.drm_format_modifier = caps.has_extension(ash::ext::image_drm_format_modifier::NAME);
        caps.external_memory_dma_buf = caps.has_extension(ash::ext::external_memory_dma_buf::NAME)
            && caps.has_extension(ash::khr::external_memory_fd::NAME);
        caps.queue_family_foreign = caps.has_extension(ash::ext::queue_family_foreign::NAME);

        let has_drm = caps.has_extension(ash::ext::physical_device_drm::NAME);
        let mut driver = vk::PhysicalDeviceDriverProperties::default();
        let mut drm = vk::PhysicalDeviceDrmPropertiesEXT::default();
        let mut props2 = vk::PhysicalDeviceProperties2::default().push_next(&mut driver);
        if has_drm {
            props2 = props2.push_next(&mut drm);
        }
        // SAFETY: VkPhysicalDeviceDriverProperties is core in Vulkan 1.2,
        // which the device implements; VkPhysicalDeviceDrmPropertiesEXT is
        // chained only when the device lists VK_EXT_physical_device_drm
        // (VUID-VkPhysicalDeviceProperties2-pNext-pNext).
        unsafe { vk.get_physical_device_properties2(physical, &mut props2) };
        caps.driver_name = c_text(driver.driver_name_as_c_str());
        caps.driver_info = c_text(driver.driver_info_as_c_str());
        if has_drm {
            let id = |has: vk::Bool32, major: i64, minor: i64| {
                (has == vk::TRUE).then(|| NodeId {
                    major: u32::try_from(major).unwrap_or(u32::MAX),
                    minor: u32::try_from(minor).unwrap_or(u32::MAX),
                })
            };
            caps.drm_nodes = Some(DrmNodeIds {
                primary: id(drm.has_primary, drm.primary_major, drm.primary_minor),
                render: id(drm.has_render, drm.render_major, drm.render_minor),
            });
        }

        let sync2_available = api_version.0 >= vk::API_VERSION_1_3
            || caps.has_extension(ash::khr::synchronization2::NAME);
        let mut ycbcr = vk::PhysicalDeviceSamplerYcbcrConversionFeatures::default();
        let mut timeline = vk::PhysicalDeviceTimelineSemaphoreFeatures::default();
        let mut sync2 = vk::PhysicalDeviceSynchronization2Features::default();
        let mut features = vk::PhysicalDeviceFeatures2::default()
            .push_next(&mut ycbcr)
            .push_next(&mut timeline);
        if sync2_available {
            features = features.push_next(&mut sync2);
        }
        // SAFETY: the YCbCr (1.1) and timeline (1.2) feature structures are
        // core in the device's version; the synchronization2 one is chained
        // only where Vulkan 1.3 or VK_KHR_synchronization2 provides it
        // (VUID-VkPhysicalDeviceFeatures2-pNext-pNext).
        unsafe { vk.get_physical_device_features2(physical, &mut features) };
        caps.sampler_ycbcr_conversion = ycbcr.sampler_ycbcr_conversion == vk::TRUE;
        caps.timeline_semaphore = timeline.timeline_semaphore == vk::TRUE;
        caps.synchronization2 = sync2_available && sync2.synchronization2 == vk::TRUE;

        if caps.has_extension(ash::khr::external_semaphore_fd::NAME) {
            let info = vk::PhysicalDeviceExternalSemaphoreInfo::default()
                .handle_type(vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD);
            let mut props = vk::ExternalSemaphoreProperties::default();
            // SAFETY: external semaphore queries are core in 1.1; the SYNC_FD
            // handle type is asked about only where VK_KHR_external_semaphore_fd
            // defines it for this device.
            unsafe {
                vk.get_physical_device_external_semaphore_properties(physical, &info, &mut props);
            };
            caps.semaphore_sync_fd = support(
                props.compatible_handle_types,
                vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD,
                props.external_semaphore_features,
                vk::ExternalSemaphoreFeatureFlags::IMPORTABLE,
                vk::ExternalSemaphoreFeatureFlags::EXPORTABLE,
            );
        }
        if caps.has_extension(ash::khr::external_fence_fd::NAME) {
            let info = vk::PhysicalDeviceExternalFenceInfo::default()
                .handle_type(vk::ExternalFenceHandleTypeFlags::SYNC_FD);
            let mut props = vk::ExternalFenceProperties::default();
            // SAFETY: as for semaphores, with VK_KHR_external_fence_fd.
            unsafe {
                vk.get_physical_device_external_fence_properties(physical, &info, &mut props);
            };
            caps.fence_sync_fd = support(
                props.compatible_handle_types,
                vk::ExternalFenceHandleTypeFlags::SYNC_FD,
                props.external_fence_features,
                vk::ExternalFenceFeatureFlags::IMPORTABLE,
                vk::ExternalFenceFeatureFlags::EXPORTABLE,
            );
        }
        Ok(caps)
    }
}

/// Import needs the handle type importable; export needs it exportable and
/// compatible with itself (`VUID-VkExportSemaphoreCreateInfo-handleTypes-01124`,
/// `VUID-VkExportFenceCreateInfo-handleTypes-01446`).
fn support<H, F>(
    compatible: H,
    handle: H,
    features: F,
    import: F,
    export: F,
) -> ExternalHandleSupport
where
    H: Copy + PartialEq + std::ops::BitAnd<Output = H>,
    F: Copy + PartialEq + std::ops::BitAnd<Output = F>,
{
    ExternalHandleSupport {
        import: features & import == import,
        export: features & export == export && compatible & handle == handle,
    }
}

fn c_text<E>(s: Result<&CStr, E>) -> String {
    s.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
