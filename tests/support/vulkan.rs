//! The Vulkan fixture shared by the test binaries that need a device.

use std::sync::{Arc, Mutex, PoisonError};

use dmabridge::vulkan::{Device, Instance};

/// Shows Vulkan's messages (validation errors included) in a failing test's
/// output.
pub(crate) fn log_to_test_output() {
    let _already = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
}

/// Held while a test uses Vulkan. Run side by side in the guest, the copy
/// tests' instances and devices crashed the process once in about 25 runs
/// (SIGSEGV, not reproduced under gdb, never on the host); concurrent
/// instance and device creation with the validation layer is a known source
/// of such crashes (gfx-rs/wgpu#10010), so the tests of a binary take turns.
static GPU: Mutex<()> = Mutex::new(());

/// Runs `f` on the CPU device (lavapipe), then checks that no validation
/// error occurred from instance creation to instance destruction.
pub(crate) fn on_device(f: impl FnOnce(&Arc<Device>)) {
    let _turn = GPU.lock().unwrap_or_else(PoisonError::into_inner);
    log_to_test_output();
    let instance = Arc::new(Instance::new().expect("creating the Vulkan instance"));
    assert!(
        instance.validation_enabled(),
        "VK_LAYER_KHRONOS_validation is not installed (tools/setup installs vulkan-validationlayers)"
    );
    let device = Arc::new(Device::new(Arc::clone(&instance), None).expect("creating the device"));
    f(&device);
    drop(device);
    assert_eq!(instance.validation_errors(), 0, "validation errors");
}
