//! The Vulkan device that imports clients' dma-bufs, and what it can import.
//!
//! [`Instance`] loads the Vulkan loader and routes every message of
//! `VK_EXT_debug_utils` into `tracing`; in debug builds (tests included) it
//! enables `VK_LAYER_KHRONOS_validation` when the layer is installed and
//! counts validation errors, so a test asserts
//! [`Instance::validation_errors`] is zero. [`Device`] chooses a physical
//! device, probes its [`Capabilities`] and the table of
//! [`ImportableFormat`]s, and creates the logical device.
//!
//! # Extensions
//!
//! Vulkan 1.2 is the floor (external memory, `vkGetPhysicalDevice*2`,
//! driver properties and timeline semaphores are core there).
//!
//! Required of a device, else [`VulkanError::MissingExtension`]:
//! * `VK_KHR_external_memory_fd`: import memory from an fd at all;
//! * `VK_EXT_external_memory_dma_buf`: the fd is a dma-buf (the only handle
//!   type a Wayland client shares).
//!
//! Enabled when present, and reported in [`Capabilities`]:
//! * `VK_EXT_image_drm_format_modifier`: import a dma-buf as an image with
//!   the client's modifier, offsets and strides. Without it only LINEAR
//!   buffers import, through a `VkBuffer` and a copy ([`ImportPath::Buffer`]),
//!   since the driver would pick its own row pitch for an image.
//! * `VK_EXT_queue_family_foreign`: the ownership transfer to and from
//!   `VK_QUEUE_FAMILY_FOREIGN_EXT` that hands a dma-buf back to its producer.
//! * `VK_KHR_external_semaphore_fd`, `VK_KHR_external_fence_fd`: SYNC_FD
//!   payloads, the bridge to the kernel's implicit fences and sync_files.
//!   Whether SYNC_FD works is asked with
//!   `vkGetPhysicalDeviceExternal{Semaphore,Fence}Properties`, never by
//!   creating an object (lavapipe creates an exportable semaphore even where
//!   it cannot export one).
//! * `VK_EXT_physical_device_drm`: the DRM node numbers, to match a device
//!   to `/dev/dri/renderDN`.
//! * `VK_KHR_synchronization2` (core in 1.3).
//!
//! Required feature: `timelineSemaphore` (core and required in 1.2). Every
//! submission signals the device's one timeline semaphore with the next
//! value, and that value is how the crate knows the work completed.
//!
//! Instance extension: `VK_EXT_debug_utils` when present (messages and
//! object names). For a window ([`Instance::for_display`]): `VK_KHR_surface`
//! and the window system's surface extension, and then `VK_KHR_swapchain`
//! on the device when it has it.
//!
//! `unsafe` is allowed in this module's files that call Vulkan, each block
//! with a `SAFETY:` comment naming the valid-usage rules it meets.

#[expect(
    unsafe_code,
    reason = "buffer and memory creation, mapping, flushing and invalidation"
)]
mod buffer;
#[expect(
    unsafe_code,
    reason = "vkGetPhysicalDevice* property and feature queries"
)]
mod caps;
#[expect(
    unsafe_code,
    reason = "compute pipelines, command recording, submission and fences"
)]
mod compute;
mod conv;
#[expect(
    unsafe_code,
    reason = "the debug-utils messenger callback and its lifetime"
)]
mod debug;
#[expect(
    unsafe_code,
    reason = "vkCreateDevice, vkDestroyDevice and device queries"
)]
mod device;
#[expect(
    unsafe_code,
    reason = "vkGetPhysicalDevice*FormatProperties* and external buffer queries"
)]
mod formats;
#[expect(
    unsafe_code,
    reason = "mapping a sealed memfd for the device to read in place"
)]
mod host;
#[expect(
    unsafe_code,
    reason = "images over imported dma-bufs, their memory, YCbCr conversions"
)]
mod image;
mod import;
#[expect(
    unsafe_code,
    reason = "loading libvulkan, vkCreateInstance, vkDestroyInstance"
)]
mod instance;
#[expect(unsafe_code, reason = "semaphore creation, SYNC_FD import and export")]
mod semaphore;
#[expect(
    unsafe_code,
    reason = "surfaces, swapchains, presentation and their command buffers"
)]
mod swapchain;

use std::fmt;
use std::path::PathBuf;

use ash::vk;

use crate::dmabuf::OwnershipError;
use crate::sync::SyncError;

pub(crate) use buffer::{Buffer, BufferKind};
pub use caps::{Capabilities, DeviceType, DrmNodeIds, ExternalHandleSupport, NodeId};
pub(crate) use compute::{
    Barrier, Binding, BufferRegion, Commands, ComputePipeline, Fence, Ownership, Submitted,
};
pub use conv::{Alpha, FORMAT_MAPPINGS, FormatMapping, fourcc_for_vk_format, vk_format};
pub use device::Device;
pub use formats::{ImportPath, ImportUsage, ImportableFormat};
pub(crate) use host::HostRegion;
pub(crate) use image::ImportedImage;
pub(crate) use import::{ImportCache, ImportedPlane};
pub use instance::Instance;
pub(crate) use swapchain::{Presented, Swapchain};

/// The lowest Vulkan version of the loader and of a device.
pub const MIN_API_VERSION: ApiVersion = ApiVersion(vk::API_VERSION_1_2);

/// A Vulkan version number as `VK_MAKE_API_VERSION` packs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion(pub u32);

impl ApiVersion {
    /// The major version.
    pub fn major(self) -> u32 {
        vk::api_version_major(self.0)
    }

    /// The minor version.
    pub fn minor(self) -> u32 {
        vk::api_version_minor(self.0)
    }

    /// The patch version.
    pub fn patch(self) -> u32 {
        vk::api_version_patch(self.0)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major(), self.minor(), self.patch())
    }
}

/// Errors of the Vulkan layer. A `vk::Result` becomes one of these through
/// the narrow mapping functions of `conv.rs`: each call maps only the codes
/// the specification allows it to return, anything else is
/// [`VulkanError::Unexpected`].
#[derive(Debug, thiserror::Error)]
pub enum VulkanError {
    /// `libvulkan.so.1` could not be loaded, or it lacks
    /// `vkGetInstanceProcAddr`: the Vulkan loader is not installed (Debian:
    /// `libvulkan1`).
    #[error("loading the Vulkan loader")]
    Loader(#[source] ash::LoadingError),
    /// The loader (`vkEnumerateInstanceVersion`) or the chosen device
    /// implements an older Vulkan than [`MIN_API_VERSION`].
    #[error("{what} implements Vulkan {found}, {MIN_API_VERSION} is needed")]
    TooOld {
        /// The loader, or the device's name.
        what: String,
        /// The version it reports.
        found: ApiVersion,
    },
    /// `VK_ERROR_OUT_OF_HOST_MEMORY`: the driver could not allocate memory.
    #[error("{call}: out of host memory")]
    OutOfHostMemory {
        /// The Vulkan command.
        call: &'static str,
    },
    /// `VK_ERROR_OUT_OF_DEVICE_MEMORY`: the device could not allocate memory.
    #[error("{call}: out of device memory")]
    OutOfDeviceMemory {
        /// The Vulkan command.
        call: &'static str,
    },
    /// `VK_ERROR_INITIALIZATION_FAILED` from `vkCreateInstance`,
    /// `vkEnumeratePhysicalDevices` or `vkCreateDevice`: the driver could not
    /// start for an implementation-specific reason.
    #[error("{call}: initialization failed")]
    InitializationFailed {
        /// The Vulkan command.
        call: &'static str,
    },
    /// `VK_ERROR_INCOMPATIBLE_DRIVER` from `vkCreateInstance`: no installed
    /// driver (ICD) supports the requested API version, or none is installed
    /// (Debian: `mesa-vulkan-drivers`).
    #[error("vkCreateInstance: no compatible Vulkan driver is installed")]
    IncompatibleDriver,
    /// `VK_ERROR_LAYER_NOT_PRESENT`, `VK_ERROR_EXTENSION_NOT_PRESENT` or
    /// `VK_ERROR_FEATURE_NOT_PRESENT`: something this crate enabled only after
    /// the implementation listed it was refused; the loader or driver
    /// contradicts itself.
    #[error("{call}: {result} although it was listed as available")]
    NotPresent {
        /// The Vulkan command.
        call: &'static str,
        /// Which of the three codes.
        result: vk::Result,
    },
    /// `VK_ERROR_TOO_MANY_OBJECTS` from `vkCreateDevice`: the driver's limit
    /// on logical devices is reached.
    #[error("{call}: too many objects")]
    TooManyObjects {
        /// The Vulkan command.
        call: &'static str,
    },
    /// `VK_ERROR_DEVICE_LOST`: the device hung or was removed.
    #[error("{call}: device lost")]
    DeviceLost {
        /// The Vulkan command.
        call: &'static str,
    },
    /// A code the specification does not allow for this call: a driver bug.
    #[error("{call} returned {result}, which the specification does not allow")]
    Unexpected {
        /// The Vulkan command.
        call: &'static str,
        /// What it returned.
        result: vk::Result,
    },
    /// The loader lists no physical device of at least [`MIN_API_VERSION`].
    #[error("no Vulkan device of version {MIN_API_VERSION} or later")]
    NoDevice,
    /// The DRM node asked for could not be inspected (`stat`): `ENOENT` when
    /// it does not exist, `EACCES` without permission.
    #[error("inspecting {}", path.display())]
    Node {
        /// The node asked for.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        errno: rustix::io::Errno,
    },
    /// The path asked for is not a character device, so not a DRM node.
    #[error("{} is not a device node", path.display())]
    NotANode {
        /// The path asked for.
        path: PathBuf,
    },
    /// No Vulkan device reports the node's numbers through
    /// `VK_EXT_physical_device_drm` (as primary or render node). Devices
    /// without that extension (lavapipe) match no node.
    #[error("no Vulkan device drives {} ({id})", path.display())]
    NoDeviceForNode {
        /// The node asked for.
        path: PathBuf,
        /// Its device number.
        id: NodeId,
    },
    /// The Vulkan loader lacks an instance extension asked for: a window
    /// system's surface extension, for a swapchain.
    #[error("the Vulkan loader lacks {extension}")]
    MissingInstanceExtension {
        /// The extension's name.
        extension: String,
    },
    /// The device cannot present to a window: the instance was made without
    /// surface extensions, the device lacks `VK_KHR_swapchain`, or its queue
    /// cannot present to the window's surface.
    #[error("the Vulkan device cannot present to this window: {reason}")]
    CannotPresent {
        /// What is missing.
        reason: &'static str,
    },
    /// The chosen device lacks an extension this crate cannot work without
    /// (see the module documentation).
    #[error("{device} lacks {extension}")]
    MissingExtension {
        /// The device's name.
        device: String,
        /// The extension's name.
        extension: &'static str,
    },
    /// The chosen device lacks a feature this crate cannot work without.
    #[error("{device} lacks the {feature} feature")]
    MissingFeature {
        /// The device's name.
        device: String,
        /// The feature's name in `VkPhysicalDevice*Features`.
        feature: &'static str,
    },
    /// The chosen device has no queue family with graphics or compute.
    #[error("{device} has no graphics or compute queue family")]
    NoQueueFamily {
        /// The device's name.
        device: String,
    },
    /// `VK_ERROR_MEMORY_MAP_FAILED` from `vkMapMemory`, or a mapping at
    /// address null: the host could not map device memory.
    #[error("vkMapMemory: the memory could not be mapped")]
    MemoryMapFailed,
    /// No memory type allowed for the object has the properties it needs
    /// (host-visible memory for a staging buffer).
    #[error("no memory type fits the {what}")]
    NoMemoryType {
        /// The object memory was sought for.
        what: &'static str,
    },
    /// `VK_ERROR_INVALID_EXTERNAL_HANDLE`: the driver refused an fd
    /// (`vkAllocateMemory` with an imported dma-buf, `vkGetMemoryFdPropertiesKHR`,
    /// `vkImportSemaphoreFdKHR`); lavapipe refuses a dma-buf that does not
    /// map read-write.
    #[error("{call}: the driver refused the fd")]
    InvalidExternalHandle {
        /// The Vulkan command.
        call: &'static str,
    },
    /// Duplicating a dma-buf fd for an import failed (`EMFILE`).
    #[error("duplicating a dma-buf fd")]
    Dup(#[source] std::io::Error),
    /// A dma-buf's modifier is not LINEAR: its planes cannot be read as
    /// rows of a buffer.
    #[error("only LINEAR dma-bufs import as buffers, not modifier {modifier:#x}")]
    NotLinear {
        /// The buffer's modifier.
        modifier: u64,
    },
    /// A dma-buf's (fourcc, modifier) pair is not a row of the device's
    /// importable table on the image path: the driver cannot import it as
    /// an image (or the device lacks `VK_EXT_image_drm_format_modifier`).
    /// Nothing was handed to the driver.
    #[error("{fourcc} with modifier {modifier:#x} does not import as an image on this device")]
    UnsupportedModifier {
        /// The buffer's format.
        fourcc: drm_fourcc::DrmFourcc,
        /// The buffer's modifier.
        modifier: u64,
    },
    /// A dma-buf has another number of planes than the driver's
    /// `drmFormatModifierPlaneCount` for its format and modifier.
    #[error("modifier {modifier:#x} has {expected} memory planes, the dma-buf {got}")]
    ModifierPlanes {
        /// The buffer's modifier.
        modifier: u64,
        /// The driver's plane count.
        expected: u32,
        /// The dma-buf's.
        got: usize,
    },
    /// The device imports the format and modifier as an image, but not in
    /// the way this dma-buf needs: `what` is "planes in separate buffers"
    /// (no `DISJOINT` feature) or "a YCbCr conversion" (no
    /// `samplerYcbcrConversion`, or no chroma sample location for the
    /// modifier).
    #[error("{fourcc} with modifier {modifier:#x} cannot be imported with {what}")]
    ImageImportUnsupported {
        /// The buffer's format.
        fourcc: drm_fourcc::DrmFourcc,
        /// The buffer's modifier.
        modifier: u64,
        /// What the device lacks.
        what: &'static str,
    },
    /// `VK_ERROR_INVALID_DRM_FORMAT_MODIFIER_PLANE_LAYOUT_EXT` from
    /// `vkCreateImage`: the driver cannot use the client's offsets and
    /// pitches with its modifier.
    #[error("vkCreateImage: the driver refused the planes' offsets and pitches")]
    InvalidPlaneLayout,
    /// A plane of a dma-buf ends past the end of its fd. Validation refuses
    /// such a buffer; the import checks again before the GPU sees it.
    #[error("plane {plane} ends at byte {end}, past its dma-buf of {size}")]
    PlaneOutsideFd {
        /// The plane.
        plane: usize,
        /// `offset + stride × rows`.
        end: u64,
        /// The fd's size.
        size: u64,
    },
    /// The driver needs more memory for a buffer or image over a dma-buf
    /// than the dma-buf has (its memory requirement rounds the size up, or
    /// the image's planes reach past the fd).
    #[error("an import of a dma-buf of {size} bytes needs {needed}")]
    ImportTooSmall {
        /// `VkMemoryRequirements::size`.
        needed: u64,
        /// The dma-buf's size.
        size: u64,
    },
    /// The ownership state machine refused the import's `map_device`: the
    /// buffer is in a state where a device may not map it.
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
    /// A SYNC_FD semaphore payload was to be imported or exported where
    /// [`Capabilities::semaphore_sync_fd`] says the device cannot.
    #[error("the device cannot {what} SYNC_FD semaphore payloads")]
    SyncFdUnsupported {
        /// `import` or `export`.
        what: &'static str,
    },
    /// A sync_file exported by the driver was not one.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Host memory was to be imported for the device to read in place
    /// where that is not safe: the file is not a memfd sealed against
    /// shrinking, or holds fewer bytes than asked for (`vulkan/host.rs`).
    #[error(
        "{len} bytes of a file of {size} bytes (sealed against shrinking: {sealed}) \
         are not safe to import"
    )]
    HostMemoryUnsafe {
        /// The bytes asked for.
        len: u64,
        /// The file's size.
        size: u64,
        /// Whether the file is sealed against shrinking.
        sealed: bool,
    },
    /// Mapping a file for a host memory import failed (`mmap`).
    #[error("mapping a file for the device to read in place")]
    HostMemoryMap(#[source] std::io::Error),
    /// Host memory was to be imported on a device without
    /// `VK_EXT_external_memory_host`.
    #[error("the device cannot import host memory")]
    HostMemoryUnsupported,
    /// A number exceeds a limit of `VkPhysicalDeviceLimits`.
    #[error("{value} exceeds the device's {limit} of {max}")]
    LimitExceeded {
        /// The limit's name in `VkPhysicalDeviceLimits`.
        limit: &'static str,
        /// The number asked for.
        value: u64,
        /// The device's limit.
        max: u64,
    },
}
