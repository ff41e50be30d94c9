//! The logical device: which physical device, its capabilities and
//! importable table, and one queue.
//!
//! Objects made from the device elsewhere in this module (buffers, pipelines,
//! command buffers, fences, semaphores) each hold an `Arc<Device>`, so the device is
//! destroyed after the last of them.

use std::ffi::{CStr, c_char};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use ash::vk;
use rustix::fs::FileType;
use tracing::{debug, debug_span};

use super::conv::{
    map_create_device_err, map_host_device_oom_and_lost_err, map_host_device_oom_err,
};
use super::formats::{self, ImportableFormat};
use super::{Capabilities, DeviceType, Instance, NodeId, VulkanError};

/// Extensions without which a device is of no use here.
const REQUIRED_EXTENSIONS: [&CStr; 2] = [
    ash::khr::external_memory_fd::NAME,
    ash::ext::external_memory_dma_buf::NAME,
];

/// Extensions enabled when the device has them.
const OPTIONAL_EXTENSIONS: [&CStr; 6] = [
    ash::ext::image_drm_format_modifier::NAME,
    ash::ext::queue_family_foreign::NAME,
    ash::khr::external_semaphore_fd::NAME,
    ash::khr::external_fence_fd::NAME,
    ash::ext::physical_device_drm::NAME,
    ash::ext::external_memory_host::NAME,
];

/// `VK_EXT_external_memory_host`'s function table and the device's
/// `minImportedHostPointerAlignment`.
struct MemoryHost {
    table: ash::ext::external_memory_host::Device,
    alignment: u64,
}

/// The device's queue and the last timeline value submitted on it.
#[derive(Debug)]
struct Queue {
    raw: vk::Queue,
    last: u64,
}

/// A logical Vulkan device for importing dma-bufs.
///
/// Fields are in destruction order: the device is destroyed in `Drop`, and
/// the instance it was created from is released after it.
pub struct Device {
    device: ash::Device,
    /// `VK_KHR_external_memory_fd`, a required extension.
    memory_fd: ash::khr::external_memory_fd::Device,
    /// `VK_KHR_external_semaphore_fd`, where the device has it.
    semaphore_fd: Option<ash::khr::external_semaphore_fd::Device>,
    /// `VK_EXT_debug_utils` object names, where the instance has it.
    names: Option<ash::ext::debug_utils::Device>,
    /// `VK_EXT_external_memory_host`, where the device has it.
    memory_host: Option<MemoryHost>,
    /// `VK_KHR_swapchain`, where the instance makes surfaces and the device
    /// has the extension.
    swapchain: Option<ash::khr::swapchain::Device>,
    physical: vk::PhysicalDevice,
    queue_family: u32,
    /// The one queue and the last value its submissions signal on
    /// `timeline`; the mutex is the queue's external synchronization
    /// (`vkQueueSubmit`: "Host access to queue must be externally
    /// synchronized") and keeps the values in submission order.
    queue: Mutex<Queue>,
    /// A timeline semaphore every [`submit_signalling`](Self::submit_signalling)
    /// signals with the next value: one object tells which submissions
    /// completed, instead of a fence each.
    timeline: vk::Semaphore,
    memory: vk::PhysicalDeviceMemoryProperties,
    limits: vk::PhysicalDeviceLimits,
    caps: Capabilities,
    formats: Vec<ImportableFormat>,
    instance: Arc<Instance>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("handle", &self.device.handle())
            .field("name", &self.caps.device_name)
            .field("queue_family", &self.queue_family)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// Chooses a physical device and creates a logical device on it.
    ///
    /// With `node` (a `/dev/dri/cardN` or `renderDN`), the device whose
    /// `VK_EXT_physical_device_drm` primary or render numbers are the node's
    /// `st_rdev`; a device without that extension matches no node. Without
    /// it, the first CPU device (lavapipe), else the first device. Devices
    /// older than Vulkan 1.2 are not considered.
    pub fn new(instance: Arc<Instance>, node: Option<&Path>) -> Result<Self, VulkanError> {
        let mut candidates = Vec::new();
        for physical in instance.physical_devices()? {
            match Capabilities::probe(&instance, physical) {
                Ok(caps) => candidates.push((physical, caps)),
                Err(VulkanError::TooOld { what, found }) => {
                    debug!(device = what, %found, "skipping a device older than Vulkan 1.2");
                }
                Err(err) => return Err(err),
            }
        }
        let chosen = match node {
            Some(path) => {
                let id = node_id(path)?;
                candidates
                    .into_iter()
                    .find(|(_, caps)| caps.drm_nodes.is_some_and(|n| n.contains(id)))
                    .ok_or_else(|| VulkanError::NoDeviceForNode {
                        path: path.to_owned(),
                        id,
                    })?
            }
            None => {
                let cpu = candidates
                    .iter()
                    .position(|(_, caps)| caps.device_type == DeviceType::Cpu)
                    .unwrap_or(0);
                if cpu >= candidates.len() {
                    return Err(VulkanError::NoDevice);
                }
                candidates.swap_remove(cpu)
            }
        };
        let (physical, caps) = chosen;
        Self::create(instance, physical, caps)
    }

    fn create(
        instance: Arc<Instance>,
        physical: vk::PhysicalDevice,
        caps: Capabilities,
    ) -> Result<Self, VulkanError> {
        let _span = debug_span!("vulkan device", name = %caps.device_name).entered();
        for extension in REQUIRED_EXTENSIONS {
            if !caps.has_extension(extension) {
                return Err(VulkanError::MissingExtension {
                    device: caps.device_name.clone(),
                    extension: extension.to_str().unwrap_or("?"),
                });
            }
        }
        // Vulkan 1.2 requires it, but a driver's word is checked anyway.
        if !caps.timeline_semaphore {
            return Err(VulkanError::MissingFeature {
                device: caps.device_name.clone(),
                feature: "timelineSemaphore",
            });
        }
        let vk = instance.ash();
        // SAFETY: `physical` was enumerated from this instance.
        let families = unsafe { vk.get_physical_device_queue_family_properties(physical) };
        let queue_family = [vk::QueueFlags::GRAPHICS, vk::QueueFlags::COMPUTE]
            .iter()
            .find_map(|&flag| families.iter().position(|f| f.queue_flags.contains(flag)))
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| VulkanError::NoQueueFamily {
                device: caps.device_name.clone(),
            })?;

        let sync2_extension = caps.api_version.0 < vk::API_VERSION_1_3
            && caps.has_extension(ash::khr::synchronization2::NAME);
        let mut extensions: Vec<*const c_char> = REQUIRED_EXTENSIONS
            .iter()
            .chain(OPTIONAL_EXTENSIONS.iter().filter(|e| caps.has_extension(e)))
            .map(|e| e.as_ptr())
            .collect();
        if sync2_extension {
            extensions.push(ash::khr::synchronization2::NAME.as_ptr());
        }
        // VK_KHR_swapchain needs VK_KHR_surface on the instance.
        let swapchain = instance.surfaces() && caps.has_extension(ash::khr::swapchain::NAME);
        if swapchain {
            extensions.push(ash::khr::swapchain::NAME.as_ptr());
        }
        let priorities = [1.0];
        let queues = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let mut ycbcr = vk::PhysicalDeviceSamplerYcbcrConversionFeatures::default()
            .sampler_ycbcr_conversion(caps.sampler_ycbcr_conversion);
        let mut timeline =
            vk::PhysicalDeviceTimelineSemaphoreFeatures::default().timeline_semaphore(true);
        let mut sync2 = vk::PhysicalDeviceSynchronization2Features::default()
            .synchronization2(caps.synchronization2);
        let mut info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queues)
            .enabled_extension_names(&extensions)
            .push_next(&mut ycbcr)
            .push_next(&mut timeline);
        if caps.synchronization2 {
            info = info.push_next(&mut sync2);
        }
        // SAFETY: every extension enabled is listed by the device
        // (VUID-vkCreateDevice-ppEnabledExtensionNames-01387), each once;
        // every feature enabled was reported by vkGetPhysicalDeviceFeatures2
        // (VUID-vkCreateDevice-pNext-pNext); the synchronization2 structure is
        // chained only with Vulkan 1.3 or its extension enabled; the queue
        // family index is below the family count and the one queue asked for
        // is within its queueCount, which is at least 1
        // (VUID-VkDeviceQueueCreateInfo-queueFamilyIndex-00381,
        // VUID-VkDeviceQueueCreateInfo-queueCount-00382).
        let device =
            unsafe { vk.create_device(physical, &info, None) }.map_err(map_create_device_err)?;
        // SAFETY: one queue of `queue_family` was created with the device
        // (VUID-vkGetDeviceQueue-queueFamilyIndex-00384, -queueIndex-00385).
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        // SAFETY: `physical` was enumerated from this instance.
        let memory = unsafe { vk.get_physical_device_memory_properties(physical) };
        // SAFETY: as above.
        let limits = unsafe { vk.get_physical_device_properties(physical) }.limits;
        let memory_fd = ash::khr::external_memory_fd::Device::new(vk, &device);
        let semaphore_fd = caps
            .has_extension(ash::khr::external_semaphore_fd::NAME)
            .then(|| ash::khr::external_semaphore_fd::Device::new(vk, &device));
        let names = instance
            .debug_utils()
            .then(|| ash::ext::debug_utils::Device::new(vk, &device));
        let swapchain = swapchain.then(|| ash::khr::swapchain::Device::new(vk, &device));
        let memory_host = caps
            .has_extension(ash::ext::external_memory_host::NAME)
            .then(|| {
                let mut host = vk::PhysicalDeviceExternalMemoryHostPropertiesEXT::default();
                let mut properties = vk::PhysicalDeviceProperties2::default().push_next(&mut host);
                // SAFETY: `physical` was enumerated from this instance, which
                // is Vulkan 1.1 or later (1.2 is required of every device);
                // the chained structure belongs to an extension the device
                // has (VUID-VkPhysicalDeviceProperties2-pNext-pNext).
                unsafe { vk.get_physical_device_properties2(physical, &mut properties) };
                MemoryHost {
                    table: ash::ext::external_memory_host::Device::new(vk, &device),
                    alignment: host.min_imported_host_pointer_alignment,
                }
            });
        let mut this = Self {
            device,
            memory_fd,
            semaphore_fd,
            names,
            memory_host,
            swapchain,
            physical,
            queue_family,
            queue: Mutex::new(Queue {
                raw: queue,
                last: 0,
            }),
            timeline: vk::Semaphore::null(),
            memory,
            limits,
            caps,
            formats: Vec::new(),
            instance,
        };
        // Set after construction so that a failure below destroys the device.
        let mut timeline_type = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(0);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut timeline_type);
        // SAFETY: the timelineSemaphore feature is enabled (checked above)
        // (VUID-VkSemaphoreTypeCreateInfo-timelineSemaphore-03252).
        this.timeline = unsafe { this.device.create_semaphore(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateSemaphore", r))?;
        this.name_objects()?;
        this.formats = formats::probe(&this.instance, physical, &this.caps)?;
        debug!(
            driver = this.caps.driver_name,
            queue_family,
            importable = this.formats.len(),
            "Vulkan device created"
        );
        Ok(this)
    }

    /// Gives the device, its queue and its timeline debug names for
    /// validation messages and tools.
    fn name_objects(&self) -> Result<(), VulkanError> {
        let queue = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .raw;
        self.set_name(self.device.handle(), c"dmabridge device")?;
        self.set_name(queue, c"dmabridge queue")?;
        self.set_name(self.timeline, c"dmabridge timeline")
    }

    /// Names `object`, a handle of this device, for validation messages and
    /// tools; nothing happens without `VK_EXT_debug_utils`.
    pub(super) fn set_name<H: vk::Handle>(
        &self,
        object: H,
        name: &CStr,
    ) -> Result<(), VulkanError> {
        let Some(names) = &self.names else {
            return Ok(());
        };
        let info = vk::DebugUtilsObjectNameInfoEXT::default()
            .object_handle(object)
            .object_name(name);
        // SAFETY: the instance has VK_EXT_debug_utils enabled; the caller's
        // object belongs to this device and the type is set from the handle's
        // type by `object_handle` (VUID-VkDebugUtilsObjectNameInfoEXT-objectType-02590).
        unsafe { names.set_debug_utils_object_name(&info) }
            .map_err(|r| map_host_device_oom_err("vkSetDebugUtilsObjectNameEXT", r))
    }

    /// The device's function table.
    pub(super) fn raw(&self) -> &ash::Device {
        &self.device
    }

    /// `VK_KHR_external_memory_fd`'s function table.
    pub(super) fn memory_fd(&self) -> &ash::khr::external_memory_fd::Device {
        &self.memory_fd
    }

    /// `VK_KHR_external_semaphore_fd`'s function table, where the device
    /// has the extension.
    pub(super) fn semaphore_fd(&self) -> Option<&ash::khr::external_semaphore_fd::Device> {
        self.semaphore_fd.as_ref()
    }

    /// `VK_EXT_external_memory_host`'s function table, where the device
    /// has the extension.
    pub(super) fn memory_host(&self) -> Option<&ash::ext::external_memory_host::Device> {
        self.memory_host.as_ref().map(|host| &host.table)
    }

    /// `minImportedHostPointerAlignment`, where the device imports host
    /// memory (`VK_EXT_external_memory_host`): what the address and size of
    /// an import are multiples of.
    pub(crate) fn host_import_alignment(&self) -> Option<u64> {
        self.memory_host.as_ref().map(|host| host.alignment)
    }

    /// `VkPhysicalDeviceLimits` of the device.
    pub(super) fn limits(&self) -> &vk::PhysicalDeviceLimits {
        &self.limits
    }

    /// `maxStorageBufferRange`: the largest buffer a shader binds whole.
    pub(crate) fn max_storage_buffer_range(&self) -> u64 {
        u64::from(self.limits.max_storage_buffer_range)
    }

    /// `minStorageBufferOffsetAlignment`: what a storage buffer binding's
    /// offset is a multiple of (a power of two).
    pub(crate) fn min_storage_buffer_offset_alignment(&self) -> u64 {
        self.limits.min_storage_buffer_offset_alignment
    }

    /// `maxComputeWorkGroupCount[0]`: the most workgroups of a dispatch
    /// across, at least 65,535.
    pub(crate) fn max_workgroups_x(&self) -> u32 {
        self.limits.max_compute_work_group_count[0]
    }

    /// The first memory type among `allowed` (a `memoryTypeBits` mask) that
    /// has every property of `required`, and the properties it has.
    pub(super) fn memory_type(
        &self,
        allowed: u32,
        required: vk::MemoryPropertyFlags,
    ) -> Option<(u32, vk::MemoryPropertyFlags)> {
        let count = self
            .memory
            .memory_type_count
            .min(vk::MAX_MEMORY_TYPES as u32);
        (0..count).find_map(|i| {
            let flags = self.memory.memory_types[i as usize].property_flags;
            (allowed & (1 << i) != 0 && flags.contains(required)).then_some((i, flags))
        })
    }

    /// Submits `submits` to the device's queue, holding the queue's lock.
    ///
    /// # Safety
    ///
    /// Every command buffer, semaphore and the fence in the call belong to
    /// this device and meet the valid-usage rules of `vkQueueSubmit`:
    /// command buffers recorded and not pending elsewhere, wait semaphores
    /// with a pending or imported signal, an unsignalled fence.
    pub(super) unsafe fn submit(
        &self,
        submits: &[vk::SubmitInfo<'_>],
        fence: vk::Fence,
    ) -> Result<(), VulkanError> {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the caller meets the rules for the submitted objects; the
        // queue belongs to this device and the lock held is its external
        // synchronization (VUID-vkQueueSubmit-queue-parameter and the host
        // synchronization rules of vkQueueSubmit).
        unsafe { self.device.queue_submit(queue.raw, submits, fence) }
            .map_err(|r| map_host_device_oom_and_lost_err("vkQueueSubmit", r))
    }

    /// Submits `cmd` to the device's queue, waiting for `waits` at
    /// `wait_stage`, signalling the binary semaphore `signal` if given, and
    /// signalling the device's timeline with a new value, which is
    /// returned: the submission completed once
    /// [`timeline_reached`](Self::timeline_reached) says so.
    ///
    /// # Safety
    ///
    /// `cmd` is an executable command buffer of this device, not pending
    /// elsewhere; each wait semaphore is this device's and has a pending or
    /// imported signal that nothing else waits on; `signal` is this
    /// device's, unsignalled, with no pending signal.
    pub(super) unsafe fn submit_signalling(
        &self,
        cmd: vk::CommandBuffer,
        waits: &[vk::Semaphore],
        wait_stage: vk::PipelineStageFlags,
        signal: Option<vk::Semaphore>,
    ) -> Result<u64, VulkanError> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let value = queue.last + 1;
        let stages = vec![wait_stage; waits.len()];
        let wait_values = vec![0; waits.len()];
        let signals: Vec<vk::Semaphore> = std::iter::once(self.timeline).chain(signal).collect();
        let signal_values: Vec<u64> = std::iter::once(value).chain(signal.map(|_| 0)).collect();
        let mut values = vk::TimelineSemaphoreSubmitInfo::default()
            .wait_semaphore_values(&wait_values)
            .signal_semaphore_values(&signal_values);
        let cmds = [cmd];
        let info = [vk::SubmitInfo::default()
            .wait_semaphores(waits)
            .wait_dst_stage_mask(&stages)
            .command_buffers(&cmds)
            .signal_semaphores(&signals)
            .push_next(&mut values)];
        // SAFETY: the caller meets the rules for the command buffer and the
        // binary semaphores (whose values in the timeline structure are
        // ignored); the timeline's new value is greater than every value
        // signalled or pending on it, since every signal of it is made here
        // under the queue's lock (VUID-VkSubmitInfo-pSignalSemaphores-03242);
        // the lock is the queue's external synchronization.
        unsafe {
            self.device
                .queue_submit(queue.raw, &info, vk::Fence::null())
                .map_err(|r| map_host_device_oom_and_lost_err("vkQueueSubmit", r))?;
        }
        queue.last = value;
        Ok(value)
    }

    /// Whether the submission that signals `value` on the device's
    /// timeline completed (`vkGetSemaphoreCounterValue`).
    pub(super) fn timeline_reached(&self, value: u64) -> Result<bool, VulkanError> {
        // SAFETY: the timeline semaphore is this device's.
        let reached = unsafe { self.device.get_semaphore_counter_value(self.timeline) }
            .map_err(|r| map_host_device_oom_and_lost_err("vkGetSemaphoreCounterValue", r))?;
        Ok(reached >= value)
    }

    /// Blocks until the device's timeline reaches `value` or `timeout`
    /// passed (`None`: no limit); whether it reached it.
    pub(super) fn wait_timeline(
        &self,
        value: u64,
        timeout: Option<std::time::Duration>,
    ) -> Result<bool, VulkanError> {
        let nanos = timeout.map_or(u64::MAX, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
        });
        let semaphores = [self.timeline];
        let values = [value];
        let info = vk::SemaphoreWaitInfo::default()
            .semaphores(&semaphores)
            .values(&values);
        // SAFETY: the timeline semaphore is this device's; `value` was
        // returned by `submit_signalling`, so a signal of it was submitted
        // (a wait for a value never signalled would only time out).
        match unsafe { self.device.wait_semaphores(&info, nanos) } {
            Ok(()) => Ok(true),
            Err(vk::Result::TIMEOUT) => Ok(false),
            Err(r) => Err(map_host_device_oom_and_lost_err("vkWaitSemaphores", r)),
        }
    }

    /// Presents to the device's queue (`vkQueuePresentKHR`), holding the
    /// queue's lock; whether the swapchain is suboptimal. `None` without
    /// `VK_KHR_swapchain`.
    ///
    /// # Safety
    ///
    /// `info` meets the valid-usage rules of `vkQueuePresentKHR`: each
    /// swapchain is this device's, each image index was acquired and not yet
    /// presented, each wait semaphore has a pending signal.
    pub(super) unsafe fn present(
        &self,
        info: &vk::PresentInfoKHR<'_>,
    ) -> Option<Result<bool, vk::Result>> {
        let swapchain = self.swapchain.as_ref()?;
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the caller meets the rules for `info`; the queue is this
        // device's, can present (checked when the swapchain's surface was
        // made) and the lock is its external synchronization.
        Some(unsafe { swapchain.queue_present(queue.raw, info) })
    }

    /// Blocks until the device's queue is idle (`vkQueueWaitIdle`).
    pub(super) fn wait_idle(&self) -> Result<(), VulkanError> {
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: the queue is this device's; the lock is its external
        // synchronization.
        unsafe { self.device.queue_wait_idle(queue.raw) }
            .map_err(|r| map_host_device_oom_and_lost_err("vkQueueWaitIdle", r))
    }

    /// `VK_KHR_swapchain`'s function table, where it is enabled.
    pub(super) fn swapchain(&self) -> Option<&ash::khr::swapchain::Device> {
        self.swapchain.as_ref()
    }

    /// The physical device the device was created on.
    pub(super) fn physical(&self) -> vk::PhysicalDevice {
        self.physical
    }

    /// What the device offers for sharing dma-bufs.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// Every (fourcc, modifier) pair a dma-buf can be imported with, in
    /// [`FormatInfo::all`](crate::dmabuf::FormatInfo::all) order.
    pub fn importable_formats(&self) -> &[ImportableFormat] {
        &self.formats
    }

    /// The instance the device was created from.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// The family of the device's one queue: graphics if the device has
    /// it, else compute.
    pub fn queue_family(&self) -> u32 {
        self.queue_family
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if self.timeline != vk::Semaphore::null() {
            // SAFETY: every submission that signals it completed: whoever
            // submitted holds an `Arc<Device>` until its fence reached its
            // value, so none is pending (VUID-vkDestroySemaphore-semaphore-05149).
            unsafe { self.device.destroy_semaphore(self.timeline, None) };
        }
        // SAFETY: every object created from the device holds an
        // `Arc<Device>` and destroys itself once its last use completed, so
        // none outlives the device (VUID-vkDestroyDevice-device-05137) and no
        // submitted work is pending; `&mut self` excludes other users. No
        // allocator was given (VUID-vkDestroyDevice-device-00379).
        unsafe { self.device.destroy_device(None) };
    }
}

/// The device number of a DRM node.
fn node_id(path: &Path) -> Result<NodeId, VulkanError> {
    let stat = rustix::fs::stat(path).map_err(|errno| VulkanError::Node {
        path: path.to_owned(),
        errno,
    })?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::CharacterDevice {
        return Err(VulkanError::NotANode {
            path: path.to_owned(),
        });
    }
    Ok(NodeId {
        major: rustix::fs::major(stat.st_rdev),
        minor: rustix::fs::minor(stat.st_rdev),
    })
}
