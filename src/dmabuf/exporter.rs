//! Which kernel driver exported a dma-buf, and what that says of a buffer
//! shared with the implicit modifier (`DRM_FORMAT_MOD_INVALID`: "the layout
//! the driver would pick"), which no Vulkan device here can be told.
//!
//! The exporter's name is `exp_name` in `/proc/self/fdinfo/<fd>`. Two
//! exporters only ever make linear buffers: `udmabuf` (pages of a memfd)
//! and the dma-heaps (`system`, `system-uncached`, `reserved` and
//! `linux,cma`: plain memory). Buffers from a DRM driver all say `drm`
//! (drm_prime exports under the DRM core's module name), so a dumb buffer
//! cannot be told from a tiled one, and their implicit layout stays
//! unknown.

use std::os::fd::{AsRawFd, BorrowedFd};

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

/// Whether every buffer `exporter` makes is linear, so that the implicit
/// modifier means LINEAR.
pub fn implicitly_linear(exporter: &str) -> bool {
    matches!(
        exporter,
        "udmabuf" | "system" | "system-uncached" | "reserved" | "linux,cma"
    )
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
    fn only_plain_memory_exporters_are_implicitly_linear() {
        for linear in ["udmabuf", "system", "system-uncached"] {
            assert!(implicitly_linear(linear), "{linear}");
        }
        for unknown in ["drm", "i915", "amdgpu", ""] {
            assert!(!implicitly_linear(unknown), "{unknown}");
        }
    }
}
