//! Which kernel driver exported a dma-buf, and what that says of a buffer
//! shared with the implicit modifier (`DRM_FORMAT_MOD_INVALID`: "the layout
//! the driver would pick"), which no Vulkan device here can be told.
//!
//! The exporter's name is `exp_name` in `/proc/self/fdinfo/<fd>`. Two
//! exporters only ever make linear buffers: `udmabuf` (pages of a memfd)
//! and the dma-heaps (`system`, `system-uncached`, `reserved` and
//! `linux,cma`: plain memory). Buffers from a DRM driver all say `drm`
//! (drm_prime exports under the DRM core's module name), so which driver
//! made one cannot be told. Where every DRM device of the machine has a
//! driver that makes nothing but linear buffers (vgem, vkms, simpledrm, a
//! virtio-gpu without 3D: the virtual and firmware devices of VMs and CI
//! machines, where Mesa's GBM shares dumb buffers with the implicit
//! modifier), a `drm` buffer is linear too. With a real GPU present its
//! implicit layout stays unknown.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::alloc::DrmNode;

/// The name of the driver that exported the dma-buf `fd`; `None` when
/// `fd` is no dma-buf or the kernel does not say.
pub fn exporter(fd: BorrowedFd<'_>) -> Option<String> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).ok()?;
    exporter_in(&info).map(str::to_owned)
}

/// `exp_name` in the text of an fdinfo file.
fn exporter_in(fdinfo: &str) -> Option<&str> {
    fdinfo
        .lines()
        .find_map(|line| line.strip_prefix("exp_name:"))
        .map(str::trim)
}

/// Whether a dma-buf exported by some DRM driver is linear whichever it
/// was: there is at least one DRM device, and each makes only linear
/// buffers ([`DrmNode::linear_only`]).
pub fn drm_exports_linear(nodes: &[DrmNode]) -> bool {
    !nodes.is_empty() && nodes.iter().all(|node| node.linear_only)
}

/// Whether every buffer `exporter` makes is linear, so that the implicit
/// modifier means LINEAR; `drm_linear`: what [`drm_exports_linear`] said
/// of this machine's DRM devices.
pub fn implicitly_linear(exporter: &str, drm_linear: bool) -> bool {
    match exporter {
        "udmabuf" | "system" | "system-uncached" | "reserved" | "linux,cma" => true,
        "drm" => drm_linear,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn the_exporter_is_read_from_fdinfo() {
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1055\nsize:\t4096\ncount:\t1\nexp_name:\tudmabuf\n";
        assert_eq!(exporter_in(info), Some("udmabuf"));
        assert_eq!(exporter_in("pos:\t0\nflags:\t02\n"), None);
    }

    #[test]
    fn a_file_that_is_no_dmabuf_has_no_exporter() {
        let memfd = rustix::fs::memfd_create("not-a-dmabuf", rustix::fs::MemfdFlags::CLOEXEC)
            .expect("a memfd");
        assert_eq!(exporter(memfd.as_fd()), None);
    }

    #[test]
    fn plain_memory_exporters_are_implicitly_linear() {
        for drm_linear in [false, true] {
            for linear in ["udmabuf", "system", "system-uncached"] {
                assert!(implicitly_linear(linear, drm_linear), "{linear}");
            }
            for unknown in ["i915", "amdgpu", ""] {
                assert!(!implicitly_linear(unknown, drm_linear), "{unknown}");
            }
        }
    }

    #[test]
    fn drm_buffers_are_implicitly_linear_only_among_linear_drivers() {
        let node = |driver: &str, linear_only| DrmNode {
            path: format!("/dev/dri/{driver}").into(),
            kind: crate::alloc::NodeKind::Render,
            driver: driver.into(),
            syncobj: false,
            syncobj_timeline: false,
            atomic: false,
            linear_only,
        };
        assert!(drm_exports_linear(&[node("vgem", true)]));
        assert!(drm_exports_linear(&[
            node("vgem", true),
            node("virtio_gpu", true)
        ]));
        assert!(!drm_exports_linear(&[
            node("vgem", true),
            node("amdgpu", false)
        ]));
        assert!(
            !drm_exports_linear(&[]),
            "no DRM device: nothing to vouch for"
        );
        assert!(implicitly_linear("drm", true));
        assert!(!implicitly_linear("drm", false));
    }
}
