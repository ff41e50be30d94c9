//! `--explicit-sync`: linux-drm-syncobj-v1 instead of the dma-buf's
//! implicit fences.

use std::os::fd::AsFd;
use std::sync::Arc;

use anyhow::Context;
use dmabridge::alloc::{NodeKind, Timeline, drm_nodes};
use wayland_client::QueueHandle;
use wayland_client::protocol::wl_surface::WlSurface;
use wayland_protocols::wp::linux_drm_syncobj::v1::client::{
    wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1,
    wp_linux_drm_syncobj_surface_v1::WpLinuxDrmSyncobjSurfaceV1,
    wp_linux_drm_syncobj_timeline_v1::WpLinuxDrmSyncobjTimelineV1,
};

use crate::app::App;

/// A new timeline syncobj on the first render node that has them, and its
/// import as a `wp_linux_drm_syncobj_timeline_v1`.
pub(crate) fn import_timeline(
    manager: &WpLinuxDrmSyncobjManagerV1,
    qh: &QueueHandle<App>,
) -> anyhow::Result<(Timeline, WpLinuxDrmSyncobjTimelineV1)> {
    let node = drm_nodes()
        .into_iter()
        .find(|n| n.kind == NodeKind::Render && n.syncobj_timeline)
        .context("no DRM render node with timeline syncobjs")?;
    let timeline = Timeline::new(&node.path)?;
    let object = manager.import_timeline(timeline.export()?.as_fd(), qh, ());
    Ok((timeline, object))
}

/// linux-drm-syncobj-v1 for the surface: one timeline, frame `k` acquiring
/// at point `2k - 1` and releasing at `2k`.
pub(crate) struct ExplicitSync {
    pub(crate) timeline: Arc<Timeline>,
    object: WpLinuxDrmSyncobjTimelineV1,
    surface: WpLinuxDrmSyncobjSurfaceV1,
}

impl ExplicitSync {
    pub(crate) fn new(
        manager: &WpLinuxDrmSyncobjManagerV1,
        surface: &WlSurface,
        qh: &QueueHandle<App>,
    ) -> anyhow::Result<Self> {
        let (timeline, object) = import_timeline(manager, qh)?;
        let surface = manager.get_surface(surface, qh, ());
        Ok(Self {
            timeline: Arc::new(timeline),
            object,
            surface,
        })
    }

    pub(crate) fn acquire(frame: u64) -> u64 {
        2 * frame - 1
    }

    pub(crate) fn release(frame: u64) -> u64 {
        2 * frame
    }

    /// Sets frame `frame`'s points for the next commit.
    pub(crate) fn set_points(&self, frame: u64) {
        let split = |p: u64| ((p >> 32) as u32, p as u32);
        let (hi, lo) = split(Self::acquire(frame));
        self.surface.set_acquire_point(&self.object, hi, lo);
        let (hi, lo) = split(Self::release(frame));
        self.surface.set_release_point(&self.object, hi, lo);
    }
}
