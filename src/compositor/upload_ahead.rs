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
//! later commit of the same buffer makes the texture forget it was
//! uploaded ahead (the client may have written it since its release), and
//! that commit's import uploads what its damage covers as usual.
//!
//! Frames and bands share the device's one queue, so a band is submitted
//! only once the last one (of any surface) completed: a frame then waits
//! behind one band at most, however slow the device.
//!
//! A surface uploads one buffer ahead at a time, into the one texture it
//! keeps. A large buffer committed while another is held waits its turn,
//! held too; its upload starts once the one before it was shown (its
//! commit imported, so that the two cannot replace each other's texture
//! band after band), or a few refreshes after it was uploaded where the
//! surface is not drawn.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::{self, BufferAssignment, SurfaceAttributes, with_states};
use smithay::wayland::shm::with_buffer_contents;
use tracing::{debug, warn};

use super::state::{FlagBlocker, State};
use crate::render::VulkanRenderer;

/// Buffers larger than this are uploaded ahead when their surface has no
/// texture of their size and format.
const LARGE: usize = 16 << 20;

/// The bytes of rows uploaded each refresh.
const BAND: usize = 8 << 20;

/// How long between bands where the output's mode names no refresh.
const DEFAULT_PACE: Duration = Duration::from_micros(16_667);

/// How many refreshes a buffer waiting its turn waits for the one
/// uploaded before it to be shown, where its surface is not drawn.
const WAIT_FOR_SHOWN: u32 = 8;

impl State {
    /// Holds `surface`'s pending commit while its buffer is uploaded ahead,
    /// where that buffer is large and new to the surface, or large and
    /// committed while another of the surface's commits is held so;
    /// whether it was held.
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
        let (turns, large) = with_states(surface, |states| {
            self.renderer
                .forget_shm_ahead(&states.data_map, &buffer.id());
            let turns = Arc::clone(&states.data_map.get_or_insert_threadsafe(Turns::default).0);
            let large = if turns.waiting() {
                VulkanRenderer::shm_buffer_is_large(&buffer, LARGE)
            } else {
                self.renderer
                    .shm_upload_is_large(&buffer, &states.data_map, LARGE)
            };
            (turns, large)
        });
        if !large {
            return false;
        }
        let turn = turns.take();
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
        let mut upload = Upload::Waiting { refreshes: 0 };
        let ours = Arc::clone(&turns);
        let inserted = self
            .handle
            .insert_source(Timer::immediate(), move |_, _, state| {
                if !ours.is(turn) {
                    return TimeoutAction::ToDuration(pace);
                }
                match state.upload_step(&held, &buffer, &mut upload) {
                    Step::Later => TimeoutAction::ToDuration(pace),
                    Step::Soon => TimeoutAction::ToDuration(pace / 4),
                    Step::Done => {
                        uploaded.store(true, Ordering::Release);
                        ours.next();
                        state.blocker_cleared(&client);
                        TimeoutAction::Drop
                    }
                }
            });
        match inserted {
            Ok(_) => {
                compositor::add_blocker(surface, blocker);
                true
            }
            Err(err) => {
                warn!(%err, "cannot upload a wl_shm buffer ahead");
                turns.next();
                false
            }
        }
    }

    /// Takes `upload` of `buffer`, committed to `surface`, one step on, its
    /// turn come.
    fn upload_step(&mut self, surface: &WlSurface, buffer: &WlBuffer, upload: &mut Upload) -> Step {
        if !surface.is_alive() || !buffer.is_alive() {
            return Step::Done;
        }
        let (next, height, band) = match upload {
            Upload::Bands { next, height, band } => (next, *height, *band),
            Upload::Waiting { refreshes } => {
                // The buffer uploaded before, in the one texture, is shown
                // first.
                let shown = with_states(surface, |states| {
                    !self.renderer.holds_shm_ahead(&states.data_map)
                });
                if !shown && *refreshes < WAIT_FOR_SHOWN {
                    *refreshes += 1;
                    return Step::Later;
                }
                // Its turn may have come after a buffer of its size was
                // shown.
                let large = with_states(surface, |states| {
                    self.renderer
                        .shm_upload_is_large(buffer, &states.data_map, LARGE)
                });
                let Some((height, band)) = large.then(|| band_rows(buffer)).flatten() else {
                    return Step::Done;
                };
                debug!(buffer = ?buffer.id(), height, band, "uploading a large wl_shm buffer ahead");
                *upload = Upload::Bands {
                    next: 0,
                    height,
                    band,
                };
                return self.upload_step(surface, buffer, upload);
            }
        };
        if self.renderer.band_ahead_in_flight() {
            return Step::Soon;
        }
        let rows = *next..(*next + band).min(height);
        let uploaded = with_states(surface, |states| {
            self.renderer
                .upload_shm_ahead(buffer, &states.data_map, rows.clone())
        });
        match uploaded {
            Ok(()) if rows.end < height => {
                *next = rows.end;
                Step::Later
            }
            Ok(()) => Step::Done,
            Err(err) => {
                // The commit goes ahead: its import fails or succeeds as
                // it would have.
                debug!(%err, "stopped uploading a wl_shm buffer ahead");
                Step::Done
            }
        }
    }
}

/// Where a buffer held for its upload ahead is.
#[derive(Debug)]
enum Upload {
    /// Waiting for the buffer uploaded before it to be shown, for
    /// `refreshes` so far.
    Waiting { refreshes: u32 },
    /// Going up: rows from `next` on are left, of `height`, `band` rows
    /// at a time.
    Bands {
        next: usize,
        height: usize,
        band: usize,
    },
}

/// What an upload ahead does next.
#[derive(Debug)]
enum Step {
    /// Goes on at the next refresh.
    Later,
    /// Goes on soon: the device is still uploading the last band.
    Soon,
    /// Finished: its commit may be applied.
    Done,
}

/// A surface's buffers held for their uploads ahead, in turns: each takes
/// the next number, and goes when it is served.
#[derive(Debug, Default)]
struct Turns(Arc<TurnCounter>);

#[derive(Debug, Default)]
struct TurnCounter {
    taken: AtomicU64,
    served: AtomicU64,
}

impl TurnCounter {
    /// A number of its own, for the next buffer held.
    fn take(&self) -> u64 {
        self.taken.fetch_add(1, Ordering::AcqRel)
    }

    /// Whether `turn` is being served.
    fn is(&self, turn: u64) -> bool {
        self.served.load(Ordering::Acquire) == turn
    }

    /// Serves the next turn.
    fn next(&self) {
        self.served.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether a buffer holds or waits for its turn.
    fn waiting(&self) -> bool {
        self.served.load(Ordering::Acquire) != self.taken.load(Ordering::Acquire)
    }
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
