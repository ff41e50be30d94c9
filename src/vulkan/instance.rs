//! The Vulkan instance: the loader, `VK_EXT_debug_utils` and, in debug
//! builds, the validation layer; with the window system's surface
//! extensions for a window's swapchain (the nested backend).

use std::ffi::{CStr, c_char};
use std::sync::Arc;

use ash::vk;
use raw_window_handle::RawDisplayHandle;
use tracing::debug;

use super::conv::{
    map_create_instance_err, map_host_device_oom_and_init_err, map_host_device_oom_err,
    map_host_oom_err,
};
use super::debug::{MessageCounts, Messenger, messenger_info};
use super::{ApiVersion, MIN_API_VERSION, VulkanError};

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";

/// The highest Vulkan version this crate uses; the instance asks for the
/// lower of this and the loader's version.
const MAX_API_VERSION: u32 = vk::API_VERSION_1_3;

/// A Vulkan instance with its loader.
///
/// Fields are in destruction order: the messenger (destroyed in `Drop`
/// before the instance), the instance (destroyed in `Drop`), the message
/// counts the messenger's callback points at, and the loader library last.
pub struct Instance {
    messenger: Option<Messenger>,
    debug_utils: bool,
    validation: bool,
    /// Whether `VK_KHR_surface` and a window system's surface extension are
    /// enabled.
    surfaces: bool,
    api_version: ApiVersion,
    instance: ash::Instance,
    counts: Arc<MessageCounts>,
    /// The loader's entry points; keeps libvulkan loaded until everything
    /// above is gone.
    entry: ash::Entry,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("handle", &self.instance.handle())
            .field("api_version", &self.api_version)
            .field("validation", &self.validation)
            .field("messenger", &self.messenger)
            .finish_non_exhaustive()
    }
}

impl Instance {
    /// Loads `libvulkan.so.1` and creates an instance. `VK_EXT_debug_utils`
    /// is enabled when the loader offers it; in debug builds
    /// `VK_LAYER_KHRONOS_validation` is too when it is installed (Debian:
    /// `vulkan-validationlayers`).
    pub fn new() -> Result<Self, VulkanError> {
        Self::with_extensions(&[])
    }

    /// An instance that can also make surfaces for windows of `display`
    /// (`VK_KHR_surface` and the window system's surface extension), else
    /// as [`new`](Self::new).
    pub fn for_display(display: RawDisplayHandle) -> Result<Self, VulkanError> {
        let extensions = ash_window::enumerate_required_extensions(display)
            .map_err(|r| map_host_device_oom_err("vkEnumerateInstanceExtensionProperties", r))?;
        let names: Vec<&CStr> = extensions
            .iter()
            .map(|&name| {
                // SAFETY: ash-window's lists hold the `NAME`s of ash's
                // extension modules: static, NUL-terminated strings.
                unsafe { CStr::from_ptr(name) }
            })
            .collect();
        Self::with_extensions(&names)
    }

    fn with_extensions(surface_extensions: &[&CStr]) -> Result<Self, VulkanError> {
        // SAFETY: loading the system's Vulkan loader runs its initialisers;
        // libvulkan is a well-behaved shared library, and the Entry keeps it
        // loaded until it is dropped, after the instance (field order).
        let entry = unsafe { ash::Entry::load() }.map_err(VulkanError::Loader)?;
        // SAFETY: vkEnumerateInstanceVersion has no preconditions.
        let loader_version = unsafe { entry.try_enumerate_instance_version() }
            .map_err(|r| map_host_oom_err("vkEnumerateInstanceVersion", r))?
            .unwrap_or(vk::API_VERSION_1_0);
        if loader_version < MIN_API_VERSION.0 {
            return Err(VulkanError::TooOld {
                what: "the Vulkan loader".to_owned(),
                found: ApiVersion(loader_version),
            });
        }
        let api_version = ApiVersion(loader_version.min(MAX_API_VERSION));

        // SAFETY: no layer name is passed, so this lists the loader's and
        // implicit layers' extensions.
        let extensions = unsafe { entry.enumerate_instance_extension_properties(None) }
            .map_err(|r| map_host_device_oom_err("vkEnumerateInstanceExtensionProperties", r))?;
        let has = |name: &CStr| {
            extensions
                .iter()
                .any(|e| e.extension_name_as_c_str() == Ok(name))
        };
        let debug_utils = has(ash::ext::debug_utils::NAME);
        if let Some(missing) = surface_extensions.iter().find(|&&name| !has(name)) {
            return Err(VulkanError::MissingInstanceExtension {
                extension: missing.to_str().unwrap_or("?").to_owned(),
            });
        }
        let surfaces = !surface_extensions.is_empty();
        let validation = cfg!(debug_assertions) && {
            // SAFETY: vkEnumerateInstanceLayerProperties has no preconditions.
            let layers = unsafe { entry.enumerate_instance_layer_properties() }
                .map_err(|r| map_host_device_oom_err("vkEnumerateInstanceLayerProperties", r))?;
            let present = layers
                .iter()
                .any(|l| l.layer_name_as_c_str() == Ok(VALIDATION_LAYER));
            if !present {
                debug!("{VALIDATION_LAYER:?} is not installed; running without validation");
            }
            present
        };

        let counts = Arc::new(MessageCounts::default());
        let layers: Vec<*const c_char> = if validation {
            vec![VALIDATION_LAYER.as_ptr()]
        } else {
            Vec::new()
        };
        let instance_extensions: Vec<*const c_char> = debug_utils
            .then_some(ash::ext::debug_utils::NAME)
            .iter()
            .chain(surface_extensions)
            .map(|name| name.as_ptr())
            .collect();
        let app = vk::ApplicationInfo::default()
            .application_name(c"dmabridge")
            .engine_name(c"dmabridge")
            .api_version(api_version.0);
        let mut during_creation = messenger_info(&counts);
        let mut info = vk::InstanceCreateInfo::default()
            .application_info(&app)
            .enabled_layer_names(&layers)
            .enabled_extension_names(&instance_extensions);
        if debug_utils {
            // Messages of vkCreateInstance and vkDestroyInstance themselves
            // reach a messenger chained here (VK_EXT_debug_utils).
            info = info.push_next(&mut during_creation);
        }
        // SAFETY: every pointer in `info` (names, layers, extensions, the
        // chained messenger info) outlives the call; the layers and
        // extensions were listed as available just above
        // (VUID-vkCreateInstance-ppEnabledExtensionNames-01388); the chained
        // messenger's user data is `counts`, kept alive by this Instance
        // until after vkDestroyInstance.
        let instance =
            unsafe { entry.create_instance(&info, None) }.map_err(map_create_instance_err)?;

        let messenger = if debug_utils {
            let loader = ash::ext::debug_utils::Instance::new(&entry, &instance);
            // SAFETY: the instance was created with VK_EXT_debug_utils
            // enabled (VUID-vkCreateDebugUtilsMessengerEXT-instance-parameter);
            // the user data outlives the messenger (destroyed in Drop before
            // `counts` is released).
            match unsafe { loader.create_debug_utils_messenger(&messenger_info(&counts), None) } {
                Ok(handle) => Some(Messenger::new(loader, handle)),
                Err(r) => {
                    // SAFETY: nothing was created from the instance yet, and
                    // no other thread has it (VUID-vkDestroyInstance-instance-00629).
                    unsafe { instance.destroy_instance(None) };
                    return Err(map_host_oom_err("vkCreateDebugUtilsMessengerEXT", r));
                }
            }
        } else {
            None
        };
        debug!(
            %api_version,
            validation,
            debug_utils,
            surfaces,
            "Vulkan instance created"
        );
        Ok(Self {
            messenger,
            debug_utils,
            validation,
            surfaces,
            api_version,
            instance,
            counts,
            entry,
        })
    }

    /// The API version the instance was created for.
    pub fn api_version(&self) -> ApiVersion {
        self.api_version
    }

    /// Whether `VK_LAYER_KHRONOS_validation` is enabled on this instance.
    pub fn validation_enabled(&self) -> bool {
        self.validation
    }

    /// Validation messages of ERROR severity received so far: each is a
    /// misuse of Vulkan by this crate. Tests assert zero.
    pub fn validation_errors(&self) -> u64 {
        self.counts.validation_errors()
    }

    /// The instance's function table.
    pub fn ash(&self) -> &ash::Instance {
        &self.instance
    }

    /// Whether window surfaces can be made (see [`for_display`](Self::for_display)).
    pub(super) fn surfaces(&self) -> bool {
        self.surfaces
    }

    /// The loader's entry points.
    pub(super) fn entry(&self) -> &ash::Entry {
        &self.entry
    }

    /// Whether `VK_EXT_debug_utils` is enabled (debug names can be set).
    pub(super) fn debug_utils(&self) -> bool {
        self.debug_utils
    }

    /// Every physical device the loader lists.
    pub(super) fn physical_devices(&self) -> Result<Vec<vk::PhysicalDevice>, VulkanError> {
        // SAFETY: the instance is valid for as long as `self`.
        unsafe { self.instance.enumerate_physical_devices() }
            .map_err(|r| map_host_device_oom_and_init_err("vkEnumeratePhysicalDevices", r))
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(messenger) = &self.messenger {
            // SAFETY: called once, before the instance is destroyed below;
            // `&mut self` excludes other users.
            unsafe { messenger.destroy() };
        }
        // SAFETY: every child object is gone: Devices hold an Arc<Instance>,
        // so this runs after the last one was destroyed, and the messenger
        // was destroyed above (VUID-vkDestroyInstance-instance-00629). No
        // allocator was given at creation (VUID-vkDestroyInstance-instance-00631).
        unsafe { self.instance.destroy_instance(None) };
        debug!(
            validation_errors = self.counts.validation_errors(),
            "Vulkan instance destroyed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a message through the instance's own messenger, as a layer
    /// would.
    fn submit(instance: &Instance, types: vk::DebugUtilsMessageTypeFlagsEXT) {
        let loader = ash::ext::debug_utils::Instance::new(&instance.entry, &instance.instance);
        let data = vk::DebugUtilsMessengerCallbackDataEXT::default()
            .message_id_name(c"dmabridge-test")
            .message(c"a deliberate test message");
        // SAFETY: the instance has VK_EXT_debug_utils enabled (checked by the
        // caller); the callback data's strings outlive the call.
        unsafe {
            loader.submit_debug_utils_message(
                vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
                types,
                &data,
            );
        };
    }

    #[test]
    fn validation_errors_are_counted_and_other_errors_are_not() {
        let instance = Instance::new().expect("creating the instance");
        assert!(
            instance.debug_utils(),
            "the loader lacks VK_EXT_debug_utils"
        );
        assert_eq!(instance.validation_errors(), 0);
        submit(&instance, vk::DebugUtilsMessageTypeFlagsEXT::GENERAL);
        assert_eq!(instance.validation_errors(), 0);
        submit(&instance, vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION);
        assert_eq!(instance.validation_errors(), 1);
    }
}
