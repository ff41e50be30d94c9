//! `VK_EXT_debug_utils`: messages of the loader, the driver and the
//! validation layer, routed into `tracing`, and validation errors counted.
//!
//! Levels follow the crate's contract: a validation error is a bug in this
//! crate (`error!`, and counted so the test that caused it fails); an error
//! from the loader or driver is the platform misbehaving (`warn!`);
//! warnings are `warn!`, info `debug!`, verbose `trace!`.

use std::ffi::{CStr, c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

use ash::vk;
use tracing::{debug, error, trace, warn};

/// Counts of the messages that must not happen.
#[derive(Debug, Default)]
pub(super) struct MessageCounts {
    validation_errors: AtomicU64,
}

impl MessageCounts {
    /// Validation messages of severity ERROR so far.
    pub(super) fn validation_errors(&self) -> u64 {
        self.validation_errors.load(Ordering::Relaxed)
    }
}

/// The messenger's create info, with `counts` as the callback's user data.
/// The caller keeps `counts` at the same address (behind an `Arc`) until the
/// messenger and the instance it was chained into are destroyed.
pub(super) fn messenger_info(counts: &MessageCounts) -> vk::DebugUtilsMessengerCreateInfoEXT<'_> {
    vk::DebugUtilsMessengerCreateInfoEXT::default()
        .message_severity(
            vk::DebugUtilsMessageSeverityFlagsEXT::ERROR
                | vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                | vk::DebugUtilsMessageSeverityFlagsEXT::INFO
                | vk::DebugUtilsMessageSeverityFlagsEXT::VERBOSE,
        )
        .message_type(
            vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
        )
        .pfn_user_callback(Some(callback))
        .user_data(std::ptr::from_ref(counts).cast_mut().cast())
}

/// A messenger and the function table that destroys it.
pub(super) struct Messenger {
    loader: ash::ext::debug_utils::Instance,
    handle: vk::DebugUtilsMessengerEXT,
}

impl std::fmt::Debug for Messenger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl Messenger {
    pub(super) fn new(
        loader: ash::ext::debug_utils::Instance,
        handle: vk::DebugUtilsMessengerEXT,
    ) -> Self {
        Self { loader, handle }
    }

    /// Destroys the messenger.
    ///
    /// # Safety
    ///
    /// Called once, before the instance it was created from is destroyed
    /// (`VUID-vkDestroyInstance-instance-00629`), with no other thread using
    /// the messenger (`vkDestroyDebugUtilsMessengerEXT` externally
    /// synchronizes it).
    pub(super) unsafe fn destroy(&self) {
        // SAFETY: the caller guarantees the instance is alive and that this
        // is the only use of the handle; no allocator was given at creation,
        // so none is given here (VUID-vkDestroyDebugUtilsMessengerEXT-messenger-01915).
        unsafe { self.loader.destroy_debug_utils_messenger(self.handle, None) };
    }
}

/// A string of the callback data, copied.
///
/// # Safety
///
/// `ptr` is null or points to a NUL-terminated string that stays valid for
/// the call.
unsafe fn text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller guarantees a NUL-terminated string valid for this
    // call; it is copied before returning.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// `PFN_vkDebugUtilsMessengerCallbackEXT`. Always returns `VK_FALSE`, as the
/// specification requires of applications.
unsafe extern "system" fn callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    user_data: *mut c_void,
) -> vk::Bool32 {
    if data.is_null() {
        return vk::FALSE;
    }
    // SAFETY: the implementation passes a valid callback-data structure for
    // the duration of the call.
    let data = unsafe { &*data };
    // SAFETY: the strings of VkDebugUtilsMessengerCallbackDataEXT are null
    // or NUL-terminated and valid for the duration of the callback.
    let (id, message) = unsafe { (text(data.p_message_id_name), text(data.p_message)) };
    let validation = types.contains(vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION);
    if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::ERROR) {
        if validation && layer_misread_modifier_features(&id, &message) {
            warn!(target: "vulkan", %id, "validation layer misread the modifier's features: {message}");
        } else if validation {
            if !user_data.is_null() {
                // SAFETY: user_data is the MessageCounts that `messenger_info`
                // was given; the Instance keeps it alive behind an Arc until
                // after the messenger and the instance are destroyed.
                let counts = unsafe { &*user_data.cast::<MessageCounts>() };
                counts.validation_errors.fetch_add(1, Ordering::Relaxed);
            }
            error!(target: "vulkan", %id, ?types, "{message}");
        } else {
            warn!(target: "vulkan", %id, ?types, "{message}");
        }
    } else if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::WARNING) {
        warn!(target: "vulkan", %id, ?types, "{message}");
    } else if severity.contains(vk::DebugUtilsMessageSeverityFlagsEXT::INFO) {
        debug!(target: "vulkan", %id, ?types, "{message}");
    } else {
        trace!(target: "vulkan", %id, ?types, "{message}");
    }
    vk::FALSE
}

/// Whether a validation error is the layer finding no format features at
/// all for an image of tiling `DRM_FORMAT_MODIFIER_EXT`.
///
/// For a Vulkan 1.3 device the layer (1.3.239) reads a modifier's features
/// from `VkDrmFormatModifierPropertiesList2EXT`, which lavapipe (Mesa 25)
/// leaves empty; it fills `VkDrmFormatModifierPropertiesListEXT`, from
/// which the importable table took the features every imported image is
/// checked against (`formats.rs`). An image of the table has at least
/// sampling and transfer reads, so "no feature" is the layer's misreading.
/// Any other features message still counts.
fn layer_misread_modifier_features(id: &str, message: &str) -> bool {
    id == "VUID-vkCmdCopyImageToBuffer-srcImage-01998"
        && message.contains("VkFormatFeatureFlags (0x0)")
        && message.contains("VK_IMAGE_TILING_DRM_FORMAT_MODIFIER_EXT")
}
