//! The fence behind a frame's [`SyncPoint`](smithay::backend::renderer::sync::SyncPoint).

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use smithay::backend::renderer::sync::{Fence, Interrupted};
use tracing::warn;

use crate::copy::CopyCompletion;

/// Signals when a frame's submission completed. Exportable as a sync_file
/// where the device exports SYNC_FD semaphore payloads.
#[derive(Debug)]
pub struct RenderFence {
    completion: CopyCompletion,
}

impl RenderFence {
    /// The fence of a submitted frame.
    pub(super) fn new(completion: CopyCompletion) -> Self {
        Self { completion }
    }
}

impl Fence for RenderFence {
    fn is_signaled(&self) -> bool {
        // A lost device completes everything: report it signalled rather
        // than have a caller wait forever.
        self.completion.is_done().unwrap_or_else(|err| {
            warn!(%err, "asking whether a frame completed");
            true
        })
    }

    fn wait(&self) -> Result<(), Interrupted> {
        match self.completion.wait_timeout(Duration::MAX) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Interrupted),
            Err(err) => {
                warn!(%err, "waiting for a frame");
                Err(Interrupted)
            }
        }
    }

    fn is_exportable(&self) -> bool {
        self.completion.sync_file().is_some()
    }

    fn export(&self) -> Option<OwnedFd> {
        let sync_file = self.completion.sync_file()?;
        sync_file
            .as_fd()
            .try_clone_to_owned()
            .inspect_err(|err| warn!(%err, "duplicating a frame's sync_file"))
            .ok()
    }
}
