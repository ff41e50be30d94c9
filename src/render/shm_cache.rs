//! A surface's `wl_shm` texture, kept from commit to commit.
//!
//! A client that commits a new frame into an shm buffer of the same size
//! and format as before gets its pixels uploaded into the texture its
//! surface already has, and only the pixels its damage covers: smithay
//! hands the renderer the buffer damage since the commit the texture was
//! last brought up to date with (its "renderer seen" commit), so the
//! texture plus those pixels is the new frame. The texture, and what its
//! uploads go through, live in the surface's data map, for each renderer,
//! and go away with the surface; a buffer of another size or format
//! replaces them.
//!
//! An upload is one copy of each damaged pixel where it can be: the
//! surface keeps its pool imported as host memory that the device reads in
//! place ([`Copier::import_host_memory`](crate::copy::Copier::import_host_memory)),
//! and each damaged rectangle is a transfer from the pool into the texture.
//! That needs the pool's file sealed against shrinking: the device's
//! threads read it outside the SIGBUS protection of smithay's reads, so a
//! client truncating an unsealed file would crash the compositor. Every
//! other pool (unsealed, not a memfd, or a device without
//! `VK_EXT_external_memory_host`) is copied by the CPU, under that
//! protection, into staging memory, and from there by one transfer.
//!
//! Overwriting a texture that frames submitted earlier still read is safe:
//! the upload is submitted to the same queue after them, behind a barrier
//! whose first scope is every earlier command, so the GPU writes the new
//! pixels only once those frames read the old ones. The staging memory is
//! written by the CPU, so it is reused only once no submitted upload reads
//! it any more ([`Staging::bytes_mut`]); a surface keeps two, and makes new
//! staging memory when neither is free.

use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::{Mutex, PoisonError};

use smithay::backend::renderer::ContextId;
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::utils::{Buffer as BufferCoord, Rectangle};

use super::VulkanTexture;
use crate::copy::{DeviceBuffer, Staging};

/// What a surface keeps in its data map: its shm texture for each renderer
/// that imported one.
#[derive(Debug, Default)]
pub(super) struct SurfaceShmTextures(Mutex<Vec<CachedTexture>>);

impl SurfaceShmTextures {
    /// Takes the texture of the renderer `context` out of the cache, if
    /// there is one; [`put`](Self::put) returns it.
    pub(super) fn take(&self, context: &ContextId<VulkanTexture>) -> Option<CachedTexture> {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let index = cached.iter().position(|c| &c.context == context)?;
        Some(cached.swap_remove(index))
    }

    /// Whether the texture of the renderer `context` is kept and `matches`.
    pub(super) fn holds(
        &self,
        context: &ContextId<VulkanTexture>,
        matches: impl Fn(&CachedTexture) -> bool,
    ) -> bool {
        let cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cached.iter().any(|c| &c.context == context && matches(c))
    }

    /// Forgets, for every renderer, that `buffer` was uploaded ahead.
    pub(super) fn forget_ahead(&self, buffer: &ObjectId) {
        let mut cached = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        for kept in cached.iter_mut() {
            if kept.ahead.as_ref() == Some(buffer) {
                kept.ahead = None;
            }
        }
    }

    /// Keeps `texture` until the surface's next commit.
    pub(super) fn put(&self, texture: CachedTexture) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(texture);
    }
}

/// How much staging memory a surface keeps. A commit's upload is queued
/// behind the frames submitted before it, which a CPU device may still be
/// drawing when the next commit comes, so one staging buffer is often
/// still being read; with two, the next commit usually finds one free.
const STAGING_KEPT: usize = 2;

/// A surface's texture in device memory and the staging memory of its
/// uploads, for one renderer.
#[derive(Debug)]
pub(super) struct CachedTexture {
    pub(super) context: ContextId<VulkanTexture>,
    pub(super) texture: VulkanTexture,
    /// Whether no commit's import has filled the texture yet: the first
    /// one uploads every pixel, whatever its damage.
    pub(super) fresh: bool,
    /// The buffer whose pixels were all uploaded ahead of the commit that
    /// shows it (`ShmUpload::Ahead`), until that commit's import.
    pub(super) ahead: Option<ObjectId>,
    /// Oldest first, at most [`STAGING_KEPT`].
    pub(super) staging: Vec<Staging>,
    /// The pools of the last commits, imported for the device to read in
    /// place, or refused: at most [`POOLS_KEPT`].
    pub(super) pools: PoolImports,
}

/// How many pools a surface keeps imported. A client that draws into two
/// buffers in turn often gives each a pool of its own (a file each), so
/// two imports kept let it alternate without importing again.
const POOLS_KEPT: usize = 2;

/// `wl_shm` pools as the device reads them, by file: each import (or its
/// refusal), least recently used first, at most a number of them. A kept
/// import maps the client's file until it is let go of, even after the
/// client closed it.
#[derive(Debug)]
pub(super) struct PoolImports {
    kept: Vec<PoolImport>,
    capacity: usize,
}

/// A pool as the device reads it: which file, how many bytes of it, and
/// the import (`None`: refused, so copied by the CPU).
#[derive(Debug)]
struct PoolImport {
    /// The file's device and inode: the same file while the import maps it.
    file: (u64, u64),
    len: usize,
    buffer: Option<DeviceBuffer>,
}

impl PoolImports {
    /// None kept yet, at most `capacity` later.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            kept: Vec::new(),
            capacity,
        }
    }

    /// The pool in `fd`, of `len` bytes, imported for the device to read
    /// in place: a kept import of the same file and size (now the most
    /// recently used), else the one `import` makes, kept in place of the
    /// least recently used beyond the capacity. `None` where the file
    /// cannot be imported, which is kept too.
    pub(super) fn get_or_import(
        &mut self,
        fd: BorrowedFd<'_>,
        len: usize,
        import: impl FnOnce() -> Option<DeviceBuffer>,
    ) -> Option<DeviceBuffer> {
        let stat = rustix::fs::fstat(fd).ok()?;
        let file = (stat.st_dev, stat.st_ino);
        let known = self
            .kept
            .iter()
            .position(|pool| pool.file == file && pool.len == len);
        let pool = match known {
            Some(at) => self.kept.remove(at),
            None => {
                if self.kept.len() >= self.capacity {
                    self.kept.remove(0);
                }
                PoolImport {
                    file,
                    len,
                    buffer: import(),
                }
            }
        };
        let buffer = pool.buffer.clone();
        self.kept.push(pool);
        buffer
    }
}

impl CachedTexture {
    /// `texture`, of the renderer `context`, new: no commit filled it yet.
    pub(super) fn new(context: ContextId<VulkanTexture>, texture: VulkanTexture) -> Self {
        Self {
            context,
            texture,
            fresh: true,
            ahead: None,
            staging: Vec::new(),
            pools: PoolImports::new(POOLS_KEPT),
        }
    }

    /// The index of staging memory that no submitted upload reads, if
    /// there is one.
    pub(super) fn free_staging(&mut self) -> Option<usize> {
        self.staging
            .iter_mut()
            .position(|s| s.bytes_mut().is_some())
    }

    /// Keeps `staging`, letting go of the oldest beyond [`STAGING_KEPT`]
    /// (freed once its upload completed); its index.
    pub(super) fn add_staging(&mut self, staging: Staging) -> usize {
        if self.staging.len() >= STAGING_KEPT {
            self.staging.remove(0);
        }
        self.staging.push(staging);
        self.staging.len() - 1
    }
}

/// A run of pixels in one row of an image: row `y`, columns `x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) y: usize,
    pub(super) x: Range<usize>,
}

/// Damage rectangles beyond which a commit's damage is uploaded as the
/// rectangle bounding them all.
const MAX_DAMAGE_RECTS: usize = 64;

/// The pixels of a `width × height` image that `damage` covers, each
/// rectangle clipped to the image: runs in row order, left to right, none
/// overlapping or touching another in its row. No damage at all stands for
/// "unknown" (smithay's convention): every pixel.
pub(super) fn damaged_spans(
    width: usize,
    height: usize,
    damage: &[Rectangle<i32, BufferCoord>],
) -> Vec<Span> {
    let whole = (0..height).map(|y| Span { y, x: 0..width });
    if damage.is_empty() {
        return whole.collect();
    }
    // Clipped to the image, so every number is in 0..=width or 0..=height.
    let (w, h) = (clamp_i32(width), clamp_i32(height));
    let image = Rectangle::<i32, BufferCoord>::from_size((w, h).into());
    let rects: Vec<(Range<usize>, Range<usize>)> = damage
        .iter()
        .filter_map(|r| r.intersection(image))
        .filter(|r| !r.is_empty())
        .map(|r| {
            let (x, y) = (to_usize(r.loc.x), to_usize(r.loc.y));
            (y..y + to_usize(r.size.h), x..x + to_usize(r.size.w))
        })
        .collect();
    let top = rects.iter().map(|(rows, _)| rows.start).min().unwrap_or(0);
    let bottom = rects.iter().map(|(rows, _)| rows.end).max().unwrap_or(0);
    if rects.len() > MAX_DAMAGE_RECTS {
        // The work below grows with rows × rectangles; a client's damage
        // list is unbounded, so past a few dozen it is taken as its bounds.
        let left = rects.iter().map(|(_, x)| x.start).min().unwrap_or(0);
        let right = rects.iter().map(|(_, x)| x.end).max().unwrap_or(0);
        return (top..bottom).map(|y| Span { y, x: left..right }).collect();
    }
    let mut spans: Vec<Span> = Vec::new();
    for y in top..bottom {
        let mut runs: Vec<Range<usize>> = rects
            .iter()
            .filter(|(rows, _)| rows.contains(&y))
            .map(|(_, columns)| columns.clone())
            .collect();
        runs.sort_by_key(|run| run.start);
        for run in runs {
            match spans.last_mut() {
                Some(last) if last.y == y && run.start <= last.x.end => {
                    last.x.end = last.x.end.max(run.end);
                }
                _ => spans.push(Span { y, x: run }),
            }
        }
    }
    spans
}

/// `spans` (in row order, as [`damaged_spans`] makes them) as rectangles,
/// rows and columns: runs of the same columns in consecutive rows become
/// one rectangle.
pub(super) fn damaged_rects(spans: &[Span]) -> Vec<(Range<usize>, Range<usize>)> {
    let mut rects: Vec<(Range<usize>, Range<usize>)> = Vec::new();
    for span in spans {
        let below = rects
            .iter_mut()
            .find(|(rows, columns)| rows.end == span.y && *columns == span.x);
        match below {
            Some((rows, _)) => rows.end += 1,
            None => rects.push((span.y..span.y + 1, span.x.clone())),
        }
    }
    rects
}

/// The byte ranges `spans` cover in tightly packed rows of `width` pixels
/// of 4 bytes, in order, with ranges that meet merged (whole rows in a row
/// become one range).
pub(super) fn byte_ranges(width: usize, spans: &[Span]) -> Vec<Range<u64>> {
    let row = width as u64 * 4;
    let mut ranges: Vec<Range<u64>> = Vec::new();
    for span in spans {
        let at = span.y as u64 * row;
        let range = at + span.x.start as u64 * 4..at + span.x.end as u64 * 4;
        match ranges.last_mut() {
            Some(last) if last.end == range.start => last.end = range.end,
            _ => ranges.push(range),
        }
    }
    ranges
}

/// A size that [`checked_size`](super::checked_size) let through, as
/// smithay's `i32`.
fn clamp_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// A coordinate clipped to an image, which is not negative.
fn to_usize(n: i32) -> usize {
    usize::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: i32, y: i32, w: i32, h: i32) -> Rectangle<i32, BufferCoord> {
        Rectangle::new((x, y).into(), (w, h).into())
    }

    fn span(y: usize, x: Range<usize>) -> Span {
        Span { y, x }
    }

    #[test]
    fn no_damage_is_every_pixel_and_whole_rows_merge_into_one_range() {
        let spans = damaged_spans(4, 3, &[]);
        assert_eq!(spans, vec![span(0, 0..4), span(1, 0..4), span(2, 0..4)]);
        assert_eq!(byte_ranges(4, &spans), vec![0..48]);
        let full = damaged_spans(4, 3, &[rect(0, 0, 4, 3)]);
        assert_eq!(full, spans);
    }

    #[test]
    fn damage_is_clipped_to_the_image() {
        let spans = damaged_spans(4, 3, &[rect(-2, 2, 3, 5), rect(10, 0, 2, 2)]);
        assert_eq!(spans, vec![span(2, 0..1)]);
        assert_eq!(byte_ranges(4, &spans), vec![32..36]);
        assert!(damaged_spans(4, 3, &[rect(4, 0, 1, 1), rect(1, 1, 0, 2)]).is_empty());
    }

    #[test]
    fn overlapping_and_touching_rectangles_become_disjoint_runs() {
        let damage = [rect(1, 0, 2, 2), rect(2, 1, 3, 2), rect(6, 1, 1, 1)];
        let spans = damaged_spans(8, 4, &damage);
        assert_eq!(
            spans,
            vec![span(0, 1..3), span(1, 1..5), span(1, 6..7), span(2, 2..5)]
        );
        let row = 32;
        assert_eq!(
            byte_ranges(8, &spans),
            vec![
                4..12,
                row + 4..row + 20,
                row + 24..row + 28,
                2 * row + 8..2 * row + 20
            ]
        );
    }

    #[test]
    fn a_flood_of_rectangles_is_uploaded_as_their_bounds() {
        // Two pixels, (2, 1) and (4, 2), each named many times over.
        let flood: Vec<_> = (0..=MAX_DAMAGE_RECTS as i32)
            .map(|i| {
                if i % 2 == 0 {
                    rect(2, 1, 1, 1)
                } else {
                    rect(4, 2, 1, 1)
                }
            })
            .collect();
        assert_eq!(
            damaged_spans(8, 4, &flood),
            vec![span(1, 2..5), span(2, 2..5)]
        );
        // Up to the limit, the damage stays exact.
        assert_eq!(
            damaged_spans(8, 4, &flood[..MAX_DAMAGE_RECTS]),
            vec![span(1, 2..3), span(2, 4..5)]
        );
    }

    #[test]
    fn runs_of_the_same_columns_in_consecutive_rows_are_one_rectangle() {
        assert_eq!(damaged_rects(&damaged_spans(4, 3, &[])), vec![(0..3, 0..4)]);
        // Two overlapping rectangles: where their rows meet, one run;
        // below a gap, a rectangle of its own.
        let damage = [rect(1, 0, 2, 3), rect(3, 2, 2, 2), rect(1, 5, 2, 1)];
        assert_eq!(
            damaged_rects(&damaged_spans(8, 8, &damage)),
            vec![(0..2, 1..3), (2..3, 1..5), (3..4, 3..5), (5..6, 1..3)]
        );
    }

    #[test]
    fn a_run_ending_a_row_merges_with_one_starting_the_next() {
        let spans = damaged_spans(4, 2, &[rect(2, 0, 2, 1), rect(0, 1, 1, 1)]);
        assert_eq!(byte_ranges(4, &spans), vec![8..20]);
    }
}
