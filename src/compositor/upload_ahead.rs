//! Large `wl_shm` buffers uploaded ahead of the commit that shows them, a
//! band of rows a refresh, so that no other client's frame waits for them.
//!
//! A surface's first buffer of a size (or one of a new size) goes to the
//! device whole: every byte copied, every page of the new texture touched
//! for the first time. For an 8K window (133 MB) that is a quarter of a
//! second on a CPU device, and frames are drawn on the same queue, so every
//! client's frame would wait for it. Instead, a commit that attaches such a
//! buffer (larger than [`LARGE`]) is held, like one waiting for a fence
//! (`State::block_until_ready`): the buffer's rows go up [`BAND`] bytes at a
//! time, one band each refresh, into the texture the surface keeps for that
//! size, and the commit is applied once the last band was submitted. Its
//! import then uploads nothing more (`ShmUpload::Ahead`). Meanwhile the
//! surface shows what it showed before, and the others' frames go on.
//!
//! The client may not write a buffer it committed until the compositor
//! releases it, so the rows read across several refreshes are one frame. A
//! later commit of the surface (with a new buffer, or the same buffer
//! again) makes the texture forget it was uploaded ahead, and that
//! commit's import uploads what its damage covers as usual. A surface has
//! at most one buffer uploaded ahead at a time: a commit made meanwhile
//! waits behind the held one and is uploaded by its import, whole, so that
//! a client alternating sizes cannot make two uploads replace each other's
//! texture band after band.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::{self, BufferAssignment, SurfaceAttributes, with_states};
use smithay::wayland::shm::with_buffer_contents;
use tracing::{debug, warn};

use super::state::{FlagBlocker, State};

/// Buffers larger than this are uploaded ahead when their surface has no
/// texture of their size and format.
const LARGE: usize = 16 << 20;

/// The bytes of rows uploaded each refresh.
const BAND: usize = 8 << 20;

/// How long between bands where the output's mode names no refresh.
const DEFAULT_PACE: Duration = Duration::from_micros(16_667);

impl State {
    /// Holds `surface`'s pending commit while its buffer is uploaded ahead,
    /// where that buffer is large and new to the surface; whether it was
    /// held. Any pending new buffer makes the texture forget what was
    /// uploaded ahead before.
    pub(super) fn upload_ahead(&mut self, surface: &WlSurface) -> bool {
        let Some(client) = surface.client() else {
            return false;
        };
        let buffer = with_states(surface, |states| {
            let mut attributes = states.cached_state.get::<SurfaceAttributes>();
            match attributes.pending().buffer.as_ref() {
                Some(BufferAssignment::NewBuffer(buffer)) => Some(buffer.clone()),
                _ => None,
            }
        });
        let Some(buffer) = buffer else {
            return false;
        };
        let large = with_states(surface, |states| {
            self.renderer.forget_shm_ahead(&states.data_map);
            // One upload ahead at a time: a commit after the one being
            // uploaded waits behind it, and its import uploads it.
            let uploading = states
                .data_map
                .get_or_insert_threadsafe(UploadingAhead::default);
            !uploading.0.load(Ordering::Acquire)
                && self
                    .renderer
                    .shm_upload_is_large(&buffer, &states.data_map, LARGE)
        });
        let Some(rows) = large.then(|| band_rows(&buffer)).flatten() else {
            return false;
        };
        uploading_ahead(surface, true);
        let blocker = FlagBlocker::default();
        let uploaded = Arc::clone(&blocker.0);
        let held = surface.clone();
        let pace = self
            .output
            .current_mode()
            .and_then(|mode| u64::try_from(mode.refresh).ok().filter(|&mhz| mhz > 0))
            .map_or(DEFAULT_PACE, |mhz| {
                Duration::from_nanos(1_000_000_000_000 / mhz)
            });
        let mut next = 0;
        let (height, band) = rows;
        debug!(buffer = ?buffer.id(), height, band, "uploading a large wl_shm buffer ahead");
        let inserted = self
            .handle
            .insert_source(Timer::immediate(), move |_, _, state| {
                let rows = next..(next + band).min(height);
                let done = match state.upload_band(&held, &buffer, rows.clone()) {
                    Ok(()) => rows.end >= height,
                    Err(err) => {
                        // The commit goes ahead: its import fails or
                        // succeeds as it would have.
                        debug!(%err, "stopped uploading a wl_shm buffer ahead");
                        true
                    }
                };
                if !done {
                    next = rows.end;
                    return TimeoutAction::ToDuration(pace);
                }
                uploaded.store(true, Ordering::Release);
                uploading_ahead(&held, false);
                state.blocker_cleared(&client);
                TimeoutAction::Drop
            });
        match inserted {
            Ok(_) => {
                compositor::add_blocker(surface, blocker);
                true
            }
            Err(err) => {
                warn!(%err, "cannot upload a wl_shm buffer ahead");
                uploading_ahead(surface, false);
                false
            }
        }
    }

    /// Uploads `rows` of `buffer`, committed to `surface`, ahead.
    fn upload_band(
        &mut self,
        surface: &WlSurface,
        buffer: &WlBuffer,
        rows: Range<usize>,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(surface.is_alive() && buffer.is_alive(), "gone");
        with_states(surface, |states| {
            self.renderer
                .upload_shm_ahead(buffer, &states.data_map, rows)
        })?;
        Ok(())
    }
}

/// Set in a surface's data map while one of its buffers is uploaded
/// ahead.
#[derive(Debug, Default)]
struct UploadingAhead(AtomicBool);

/// Marks `surface` as having a buffer uploaded ahead, or no longer.
fn uploading_ahead(surface: &WlSurface, on: bool) {
    if !surface.is_alive() {
        return;
    }
    with_states(surface, |states| {
        let uploading = states
            .data_map
            .get_or_insert_threadsafe(UploadingAhead::default);
        uploading.0.store(on, Ordering::Release);
    });
}

/// The height of `buffer` and how many of its rows make a band of about
/// [`BAND`] bytes.
fn band_rows(buffer: &WlBuffer) -> Option<(usize, usize)> {
    with_buffer_contents(buffer, |_, _, data| {
        let height = usize::try_from(data.height).ok()?;
        let stride = usize::try_from(data.stride).ok().filter(|&s| s > 0)?;
        Some((height, (BAND / stride).max(1)))
    })
    .ok()
    .flatten()
}
