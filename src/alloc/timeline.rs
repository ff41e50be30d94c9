//! [`Timeline`]: a DRM timeline syncobj, the fence a client hands a
//! compositor through linux-drm-syncobj-v1, with the producer's side of it
//! (signal a point) and the consumer's (ask whether a point signalled).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Duration;

use drm::control::{Device as _, syncobj};

use super::node::Card;
use super::{AllocError, open_node};

/// A timeline syncobj on an open DRM node.
#[derive(Debug)]
pub struct Timeline {
    card: Card,
    handle: syncobj::Handle,
}

impl Timeline {
    /// A new timeline on `node`, every point unsignalled
    /// (`DRM_IOCTL_SYNCOBJ_CREATE`). The node must support
    /// `DRM_CAP_SYNCOBJ_TIMELINE` ([`DrmNode::syncobj_timeline`](super::DrmNode::syncobj_timeline)).
    pub fn new(node: &Path) -> Result<Self, AllocError> {
        let card = Card(open_node(node)?);
        let handle = card
            .create_syncobj(false)
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_SYNCOBJ_CREATE",
                source,
            })?;
        Ok(Self { card, handle })
    }

    /// The syncobj as a fd, for `wp_linux_drm_syncobj_manager_v1.import_timeline`
    /// (`DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD`).
    pub fn export(&self) -> Result<OwnedFd, AllocError> {
        self.card
            .syncobj_to_fd(self.handle, false)
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_SYNCOBJ_HANDLE_TO_FD",
                source,
            })
    }

    /// Signals `point` from the CPU (`DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL`).
    pub fn signal(&self, point: u64) -> Result<(), AllocError> {
        self.card
            .syncobj_timeline_signal(&[self.handle], &[point])
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_SYNCOBJ_TIMELINE_SIGNAL",
                source,
            })
    }

    /// Waits up to `timeout` for `point` to signal (waiting also for a fence
    /// to be attached to it); whether it did.
    pub fn wait(&self, point: u64, timeout: Duration) -> Result<bool, AllocError> {
        // The ioctl takes an absolute CLOCK_MONOTONIC deadline.
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let now = Duration::new(now.tv_sec.unsigned_abs(), now.tv_nsec as u32);
        let deadline = i64::try_from((now + timeout).as_nanos()).unwrap_or(i64::MAX);
        match self
            .card
            .syncobj_timeline_wait(&[self.handle], &[point], deadline, true, true, false)
        {
            Ok(_) => Ok(true),
            Err(err) if err.raw_os_error() == Some(rustix::io::Errno::TIME.raw_os_error()) => {
                Ok(false)
            }
            Err(source) => Err(AllocError::Drm {
                op: "DRM_IOCTL_SYNCOBJ_TIMELINE_WAIT",
                source,
            }),
        }
    }
}

impl Drop for Timeline {
    fn drop(&mut self) {
        let _ = self.card.destroy_syncobj(self.handle);
    }
}
