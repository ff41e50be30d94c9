//! The Vulkan device inside the test guest, where `/dev/udmabuf` exists and
//! lavapipe (Mesa 25) therefore exposes `VK_EXT_image_drm_format_modifier`,
//! `VK_KHR_external_semaphore_fd` and `VK_KHR_external_fence_fd`.
//!
//! Lavapipe's first start in the guest takes about 4 s (LLVM load); the tests
//! share nothing, so each pays for its own instance (about 1 s after the
//! first).

mod common;
#[path = "support/vulkan.rs"]
mod fixture;

use std::path::Path;
use std::sync::Arc;

use dmabridge::alloc::{NodeKind, drm_nodes};
use dmabridge::vulkan::{
    Device, DeviceType, ExternalHandleSupport, ImportPath, ImportUsage, Instance, VulkanError,
};
use drm_fourcc::{DrmFourcc, DrmModifier};

#[test]
fn modifiers_and_sync_fd_are_detected() {
    common::require_guest();
    fixture::on_device(|device| {
        let caps = device.capabilities();
        assert_eq!(caps.device_type, DeviceType::Cpu);
        assert!(caps.drm_format_modifier);
        assert!(caps.external_memory_dma_buf);
        let both = ExternalHandleSupport {
            import: true,
            export: true,
        };
        assert_eq!(caps.semaphore_sync_fd, both);
        assert_eq!(caps.fence_sync_fd, both);
        assert!(caps.timeline_semaphore);
        assert!(caps.synchronization2);
    });
}

#[test]
fn table_lists_linear_argb_via_the_image_path() {
    common::require_guest();
    fixture::on_device(|device| {
        let table = device.importable_formats();
        for fourcc in [DrmFourcc::Argb8888, DrmFourcc::Xrgb8888] {
            let row = table
                .iter()
                .find(|r| r.fourcc == fourcc && r.modifier == DrmModifier::Linear)
                .unwrap_or_else(|| panic!("{fourcc} LINEAR is missing from {table:#?}"));
            assert_eq!(row.path, ImportPath::Image, "{fourcc}");
            assert_eq!(row.planes, 1);
            assert!(
                row.usage
                    .contains(ImportUsage::SAMPLED | ImportUsage::TRANSFER_SRC)
            );
            assert!(row.max_extent.width >= 4096 && row.max_extent.height >= 4096);
        }
        assert!(
            table.iter().all(|r| r.path == ImportPath::Image),
            "with the modifier extension every row imports as an image"
        );
    });
}

#[test]
fn a_drm_node_matches_no_device_without_physical_device_drm() {
    common::require_guest();
    fixture::log_to_test_output();
    let node = drm_nodes()
        .into_iter()
        .find(|n| n.kind == NodeKind::Render)
        .expect("the guest has render nodes (vgem, virtio-gpu)");
    let instance = Arc::new(Instance::new().expect("creating the Vulkan instance"));
    match Device::new(Arc::clone(&instance), Some(Path::new(&node.path))) {
        Err(VulkanError::NoDeviceForNode { id, .. }) => {
            assert_eq!(id.major, 226, "{}", node.path.display());
            assert!(id.minor >= 128, "{}", node.path.display());
        }
        other => panic!("expected NoDeviceForNode (lavapipe reports no DRM node), got {other:?}"),
    }
    assert_eq!(instance.validation_errors(), 0);
}
