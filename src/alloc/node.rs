//! The DRM nodes under `/dev/dri`: which exist, which driver runs each, and
//! what it supports.

use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use drm::{ClientCapability, Device as _, DriverCapability};
use tracing::debug;

use super::{AllocError, open_node, sys};

/// Where the DRM nodes live.
pub const DRI_DIR: &str = "/dev/dri";

/// An open DRM node, for the `drm` crate's ioctls.
#[derive(Debug)]
pub(super) struct Card(pub(super) OwnedFd);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl drm::Device for Card {}
impl drm::control::Device for Card {}

/// The two kinds of DRM node a client opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    /// `cardN`: modesetting and dumb buffers (`DRM_IOCTL_MODE_CREATE_DUMB`
    /// is refused on render nodes).
    Primary,
    /// `renderDN`: rendering only.
    Render,
}

/// A DRM node that opened, with what its driver says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrmNode {
    /// The device node.
    pub path: PathBuf,
    /// Primary or render node.
    pub kind: NodeKind,
    /// The driver's name (`DRM_IOCTL_VERSION`), e.g. `vgem`, `virtio_gpu`.
    pub driver: String,
    /// `DRM_CAP_SYNCOBJ`: DRM sync objects exist on this device.
    pub syncobj: bool,
    /// `DRM_CAP_SYNCOBJ_TIMELINE`: timeline syncobjs, which
    /// linux-drm-syncobj-v1 needs.
    pub syncobj_timeline: bool,
    /// `DRM_CLIENT_CAP_ATOMIC` is accepted: a KMS device with atomic
    /// modesetting (primary nodes only).
    pub atomic: bool,
    /// The driver makes only linear buffers: dumb buffers in system
    /// memory, no tiling hardware (vgem, vkms, simpledrm, a virtio-gpu
    /// without 3D).
    pub linear_only: bool,
}

impl DrmNode {
    /// Opens the node for its ioctls.
    pub(super) fn open(&self) -> Result<Card, AllocError> {
        open_node(&self.path).map(Card)
    }
}

/// Every DRM node that opens and answers `DRM_IOCTL_VERSION`, primary nodes
/// first, each kind in name order. None on a machine without DRM. Nodes that
/// fail are skipped and logged at `debug`.
pub fn drm_nodes() -> Vec<DrmNode> {
    let entries = match fs::read_dir(DRI_DIR) {
        Ok(entries) => entries,
        Err(err) => {
            debug!(?err, dir = DRI_DIR, "no DRM nodes");
            return Vec::new();
        }
    };
    let mut paths: Vec<(NodeKind, PathBuf)> = entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            Some((node_kind(&path)?, path))
        })
        .collect();
    paths.sort();
    paths
        .into_iter()
        .filter_map(|(kind, path)| describe(kind, path))
        .collect()
}

fn describe(kind: NodeKind, path: PathBuf) -> Option<DrmNode> {
    let card = match open_node(&path) {
        Ok(fd) => Card(fd),
        Err(err) => {
            debug!(?err, path = %path.display(), "skipping DRM node");
            return None;
        }
    };
    let driver = match card.get_driver() {
        Ok(driver) => driver.name().to_string_lossy().into_owned(),
        Err(err) => {
            debug!(?err, path = %path.display(), "DRM_IOCTL_VERSION failed");
            return None;
        }
    };
    let cap = |cap| card.get_driver_capability(cap).is_ok_and(|v| v != 0);
    let syncobj = cap(DriverCapability::SyncObj);
    let syncobj_timeline = cap(DriverCapability::TimelineSyncObj);
    let atomic = kind == NodeKind::Primary
        && card
            .set_client_capability(ClientCapability::Atomic, true)
            .is_ok();
    let linear_only = match driver.as_str() {
        "vgem" | "vkms" | "simpledrm" => true,
        "virtio_gpu" => sys::virtgpu_3d(card.as_fd()).is_ok_and(|three_d| !three_d),
        _ => false,
    };
    Some(DrmNode {
        path,
        kind,
        driver,
        syncobj,
        syncobj_timeline,
        atomic,
        linear_only,
    })
}

/// `cardN` or `renderDN`; anything else under `/dev/dri` (`by-path/`,
/// control nodes) is not a node a client opens.
fn node_kind(path: &Path) -> Option<NodeKind> {
    let name = path.file_name()?.to_str()?;
    let (kind, digits) = if let Some(digits) = name.strip_prefix("card") {
        (NodeKind::Primary, digits)
    } else {
        (NodeKind::Render, name.strip_prefix("renderD")?)
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_card_and_render_nodes_count() {
        assert_eq!(
            node_kind(Path::new("/dev/dri/card0")),
            Some(NodeKind::Primary)
        );
        assert_eq!(
            node_kind(Path::new("/dev/dri/renderD128")),
            Some(NodeKind::Render)
        );
        assert_eq!(node_kind(Path::new("/dev/dri/by-path")), None);
        assert_eq!(node_kind(Path::new("/dev/dri/card")), None);
        assert_eq!(node_kind(Path::new("/dev/dri/cardX")), None);
        assert!(NodeKind::Primary < NodeKind::Render);
    }
}
