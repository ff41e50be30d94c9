//! The parts of a dispatch. One dispatch of the copy shader or its fast
//! path writes one or more rectangles that share no pixel, and share
//! everything else (the buffers bound, the transform, the blend, the
//! formats): each is a part with workgroups of its own, and its rectangle
//! goes to the shader in the dispatch's parameters, not in the push
//! constants (`shaders/common.glsl`).
//!
//! Lavapipe spends 40–200 µs on each dispatch, waking its threads and
//! waiting for them, whatever the dispatch's size (docs/PERFORMANCE.md). A
//! frame drawn over many damage rectangles, or a fast-path draw with
//! edges left to the general shader, would pay that for each; with parts,
//! a batch's draws of one texture over its damage are one dispatch of each
//! shader ([`Copier::record`](super::Copier::record)).

/// The words of one workgroup's entry: its part's six (`origin`,
/// `extent`, `first`), its place in the part, one unused.
const ENTRY_WORDS: usize = 8;

/// The parts of one dispatch, as an entry for each workgroup: numbered row
/// by row through the dispatch's grid, the parts' one after another.
#[derive(Debug, Default)]
pub(super) struct Parts {
    entries: Vec<u32>,
    count: usize,
}

impl Parts {
    /// Adds a part of `groups` workgroups, across and down (neither 0 nor
    /// above 65,535), with the shader's own words for it: `origin`,
    /// `extent`, `first`.
    pub(super) fn push(&mut self, groups: [u32; 2], own: [u32; 6]) {
        assert!(
            groups.iter().all(|&n| n > 0 && n <= 0xffff),
            "{groups:?} workgroups in a part"
        );
        for y in 0..groups[1] {
            for x in 0..groups[0] {
                self.entries.extend(own);
                self.entries.extend([x | y << 16, 0]);
            }
        }
        self.count += 1;
    }

    /// How many parts there are.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// The workgroups of all the parts: the shaders' push constant
    /// `groups`.
    pub(super) fn groups(&self) -> u32 {
        u32::try_from(self.entries.len() / ENTRY_WORDS).expect("workgroups of a dispatch")
    }

    /// The dispatch's grid: every part's workgroups in rows of at most
    /// `max_x` (the device's `maxComputeWorkGroupCount`); the last row's
    /// workgroups past the last part's do nothing.
    pub(super) fn grid(&self, max_x: u32) -> [u32; 2] {
        let groups = self.groups();
        [groups.min(max_x), groups.div_ceil(max_x)]
    }

    /// The parameters of the dispatch: the entries one after another.
    pub(super) fn bytes(&self) -> Vec<u8> {
        self.entries.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_workgroup_has_its_part_and_place_row_by_row() {
        let mut parts = Parts::default();
        parts.push([3, 2], [1, 2, 3, 4, 5, 6]);
        parts.push([1, 1], [0; 6]);
        parts.push([2, 5], [9; 6]);
        assert_eq!((parts.count(), parts.groups()), (3, 17));
        let words: Vec<u32> = parts
            .bytes()
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
            .collect();
        let entries: Vec<(&[u32], u32, u32)> = words
            .chunks_exact(ENTRY_WORDS)
            .map(|e| (&e[..6], e[6] & 0xffff, e[6] >> 16))
            .collect();
        assert_eq!(entries.len(), 17);
        let first: &[u32] = &[1, 2, 3, 4, 5, 6];
        assert_eq!(
            entries[..6],
            [
                (first, 0, 0),
                (first, 1, 0),
                (first, 2, 0),
                (first, 0, 1),
                (first, 1, 1),
                (first, 2, 1)
            ]
        );
        assert_eq!(entries[6], (&[0; 6][..], 0, 0));
        let last: Vec<(u32, u32)> = entries[7..].iter().map(|&(_, x, y)| (x, y)).collect();
        assert_eq!(
            last,
            [
                (0, 0),
                (1, 0),
                (0, 1),
                (1, 1),
                (0, 2),
                (1, 2),
                (0, 3),
                (1, 3),
                (0, 4),
                (1, 4)
            ]
        );
        assert!(entries[7..].iter().all(|(own, ..)| *own == [9; 6]));
        assert_eq!(parts.grid(65_535), [17, 1]);
        // Rows of 5: the last row's 3 workgroups past the parts' do nothing.
        assert_eq!(parts.grid(5), [5, 4]);
    }
}
