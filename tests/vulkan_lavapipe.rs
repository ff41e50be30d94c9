//! The Vulkan device on lavapipe, on the build host.
//!
//! Lavapipe (Mesa 25) switches on `VK_EXT_image_drm_format_modifier`,
//! `VK_KHR_external_semaphore_fd` and `VK_KHR_external_fence_fd` only when
//! `/dev/udmabuf` opens; the build machines have none, so here the table is
//! LINEAR on the buffer path and SYNC_FD is absent. `kernel_vulkan` checks
//! the other side inside the test guest.

#[path = "support/vulkan.rs"]
mod fixture;

use std::path::Path;
use std::sync::Arc;

use dmabridge::vulkan::{
    Capabilities, Device, DeviceType, ExternalHandleSupport, ImportPath, ImportUsage, Instance,
    MIN_API_VERSION, NodeId, VulkanError, vk_format,
};
use drm_fourcc::{DrmFourcc, DrmModifier};

/// Whether lavapipe's run-time condition for the modifier and SYNC_FD
/// extensions holds on this machine (it opens the node read-write).
fn udmabuf_opens() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/udmabuf")
        .is_ok()
}

#[test]
fn instance_and_device_come_up_on_lavapipe() {
    fixture::on_device(|device| {
        let caps = device.capabilities();
        assert_eq!(caps.device_type, DeviceType::Cpu);
        assert_eq!(caps.driver_name, "llvmpipe");
        assert!(
            caps.driver_info.starts_with("Mesa "),
            "{}",
            caps.driver_info
        );
        assert!(caps.api_version >= MIN_API_VERSION);
        assert!(device.instance().api_version() >= MIN_API_VERSION);
    });
}

#[test]
fn capabilities_are_what_lavapipe_has_here() {
    let udmabuf = udmabuf_opens();
    fixture::on_device(|device| {
        let caps: &Capabilities = device.capabilities();
        assert!(caps.external_memory_dma_buf);
        assert!(caps.queue_family_foreign);
        assert!(caps.timeline_semaphore);
        assert!(caps.synchronization2);
        assert!(caps.sampler_ycbcr_conversion);
        // Lavapipe has no VK_EXT_physical_device_drm.
        assert_eq!(caps.drm_nodes, None);
        assert_eq!(caps.drm_format_modifier, udmabuf);
        let sync_fd = ExternalHandleSupport {
            import: udmabuf,
            export: udmabuf,
        };
        assert_eq!(caps.semaphore_sync_fd, sync_fd);
        assert_eq!(caps.fence_sync_fd, sync_fd);
        assert!(caps.has_extension(c"VK_KHR_external_memory_fd"));
        assert!(!caps.has_extension(c"VK_EXT_physical_device_drm"));
    });
}

#[test]
fn table_lists_linear_rgb_on_the_path_the_driver_allows() {
    let path = if udmabuf_opens() {
        ImportPath::Image
    } else {
        ImportPath::Buffer
    };
    fixture::on_device(|device| {
        let table = device.importable_formats();
        for fourcc in [DrmFourcc::Argb8888, DrmFourcc::Xrgb8888] {
            let row = table
                .iter()
                .find(|r| r.fourcc == fourcc && r.modifier == DrmModifier::Linear)
                .unwrap_or_else(|| panic!("{fourcc} LINEAR is missing from {table:#?}"));
            assert_eq!(row.path, path, "{fourcc}");
            assert_eq!(row.planes, 1);
            assert_eq!(
                Some(row.format),
                vk_format(fourcc).map(|m| m.format),
                "{fourcc}"
            );
            assert!(
                row.usage
                    .contains(ImportUsage::SAMPLED | ImportUsage::TRANSFER_SRC)
            );
            assert!(row.max_extent.width >= 4096 && row.max_extent.height >= 4096);
        }
        for (i, a) in table.iter().enumerate() {
            if a.path == ImportPath::Buffer {
                assert_eq!(a.modifier, DrmModifier::Linear);
                assert_eq!(a.planes, 1);
                assert!(!a.usage.contains(ImportUsage::COLOR_ATTACHMENT));
            }
            for b in &table[i + 1..] {
                assert!(
                    (a.fourcc, a.modifier) != (b.fourcc, b.modifier),
                    "{} {:?} listed twice",
                    a.fourcc,
                    a.modifier
                );
            }
        }
    });
}

#[test]
fn a_node_must_be_a_device_some_vulkan_device_drives() {
    fixture::log_to_test_output();
    let instance = Arc::new(Instance::new().expect("creating the Vulkan instance"));
    // /dev/null is a character device (1:3) that no Vulkan device reports.
    match Device::new(Arc::clone(&instance), Some(Path::new("/dev/null"))) {
        Err(VulkanError::NoDeviceForNode { id, .. }) => {
            assert_eq!(id, NodeId { major: 1, minor: 3 });
        }
        other => panic!("expected NoDeviceForNode, got {other:?}"),
    }
    match Device::new(Arc::clone(&instance), Some(Path::new("/"))) {
        Err(VulkanError::NotANode { .. }) => {}
        other => panic!("expected NotANode, got {other:?}"),
    }
    match Device::new(
        Arc::clone(&instance),
        Some(Path::new("/dev/dri/renderD999")),
    ) {
        Err(VulkanError::Node { errno, .. }) => assert_eq!(errno, rustix::io::Errno::NOENT),
        other => panic!("expected Node(ENOENT), got {other:?}"),
    }
    assert_eq!(instance.validation_errors(), 0);
}
