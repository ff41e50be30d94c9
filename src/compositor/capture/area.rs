//! What a session reads of the output, and which way up: the region in
//! upright output pixels and in the framebuffer, the transform between
//! them, and the output's damage carried into the session's buffer.

use smithay::output::Output;
use smithay::utils::{Buffer as BufferCoord, Logical, Physical, Rectangle, Size, Transform};

use super::Orientation;

/// The part of the output a session reads, and how.
#[derive(Debug, Clone, Copy)]
pub(super) struct OutputArea {
    /// The output's transform.
    output: Transform,
    orientation: Orientation,
    /// The region in upright output pixels, inside the output.
    upright: Rectangle<i32, Physical>,
    /// The same region in the framebuffer.
    pub(super) framebuffer: Rectangle<i32, BufferCoord>,
}

impl OutputArea {
    /// What a session of `orientation` and `region` (upright logical
    /// coordinates, as wlr-screencopy gives it; `None` for all of it)
    /// reads of `output`: the region at the output's scale, in its pixels.
    pub(super) fn new(
        output: &Output,
        orientation: Orientation,
        region: Option<Rectangle<i32, Logical>>,
    ) -> Self {
        let framebuffer: Size<i32, Physical> = output
            .current_mode()
            .map(|mode| mode.size)
            .unwrap_or_else(|| Size::from((1, 1)));
        let transform = output.current_transform();
        let whole = Rectangle::<i32, Physical>::from_size(transform.transform_size(framebuffer));
        let upright = match region {
            Some(region) => region
                .to_physical_precise_round(output.current_scale().fractional_scale())
                .intersection(whole)
                .unwrap_or_default(),
            None => whole,
        };
        // The framebuffer holds upright content as smithay draws it: moved
        // by the output transform's `invert()` (a panel turned 90° shows it
        // turned 270°); `undo` of that takes it upright again.
        let read = transform.invert().transform_rect_in(upright, &whole.size);
        OutputArea {
            output: transform,
            orientation,
            upright,
            framebuffer: Rectangle::new(
                (read.loc.x, read.loc.y).into(),
                (read.size.w, read.size.h).into(),
            ),
        }
    }

    /// The size of the buffer the session delivers.
    pub(super) fn size(&self) -> Size<i32, BufferCoord> {
        let size = match self.orientation {
            Orientation::Upright => self.upright.size,
            Orientation::Framebuffer => self.output.invert().transform_size(self.upright.size),
        };
        (size.w, size.h).into()
    }

    /// The transform that takes the framebuffer's content to the session's
    /// orientation (smithay's sense, see [`VulkanRenderer::capture`]).
    pub(super) fn content_transform(&self) -> Transform {
        match self.orientation {
            Orientation::Upright => undo(self.output.invert()),
            Orientation::Framebuffer => Transform::Normal,
        }
    }

    /// Output damage (upright output pixels, as smithay's damage tracker
    /// reports it) in the session's buffer: clipped to the region, moved
    /// to its origin and, for the framebuffer orientation, turned as the
    /// framebuffer is; `None` when none of it falls inside.
    pub(super) fn damage(
        &self,
        rects: &[Rectangle<i32, Physical>],
    ) -> Option<Vec<Rectangle<i32, BufferCoord>>> {
        let inside: Vec<Rectangle<i32, BufferCoord>> = rects
            .iter()
            .filter_map(|r| r.intersection(self.upright))
            .filter(|r| !r.is_empty())
            .map(|r| {
                let moved = Rectangle::<i32, Physical>::new(
                    (r.loc.x - self.upright.loc.x, r.loc.y - self.upright.loc.y).into(),
                    r.size,
                );
                let turned = match self.orientation {
                    Orientation::Upright => moved,
                    Orientation::Framebuffer => self
                        .output
                        .invert()
                        .transform_rect_in(moved, &self.upright.size),
                };
                Rectangle::new(
                    (turned.loc.x, turned.loc.y).into(),
                    (turned.size.w, turned.size.h).into(),
                )
            })
            .collect();
        (!inside.is_empty()).then_some(inside)
    }
}

/// Damage rectangles a session keeps before it merges them into their
/// bounding box: a session whose client never asks for a frame must not
/// grow without bound.
pub(super) const MAX_DAMAGE_RECTS: usize = 16;

/// Adds `added` to the damage `undelivered`: a rectangle inside one already
/// there adds nothing, and one that covers others replaces them.
pub(super) fn add_damage(
    undelivered: &mut Vec<Rectangle<i32, BufferCoord>>,
    added: Vec<Rectangle<i32, BufferCoord>>,
) {
    for rect in added {
        if undelivered.iter().any(|known| known.contains_rect(rect)) {
            continue;
        }
        undelivered.retain(|known| !rect.contains_rect(*known));
        undelivered.push(rect);
    }
    if undelivered.len() > MAX_DAMAGE_RECTS {
        let bounds = undelivered
            .iter()
            .copied()
            .reduce(|a, b| a.merge(b))
            .expect("more than enough rectangles");
        *undelivered = vec![bounds];
    }
}

/// The transform whose `transform_rect_in` undoes that of `transform`.
///
/// smithay draws an output's upright content into its framebuffer with the
/// output transform's `invert()`, which for the flipped quarter turns is
/// not the inverse map: `Flipped90.invert()` is `Flipped270`, yet each of
/// them is its own inverse (a transpose, an anti-transpose). So turns undo
/// by turning back and flips by themselves.
pub(crate) fn undo(transform: Transform) -> Transform {
    if transform.flipped() {
        transform
    } else {
        transform.invert()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRANSFORMS: [Transform; 8] = [
        Transform::Normal,
        Transform::_90,
        Transform::_180,
        Transform::_270,
        Transform::Flipped,
        Transform::Flipped90,
        Transform::Flipped180,
        Transform::Flipped270,
    ];

    fn rect(x: i32, y: i32, w: i32, h: i32) -> Rectangle<i32, BufferCoord> {
        Rectangle::new((x, y).into(), (w, h).into())
    }

    #[test]
    fn damage_inside_known_damage_adds_nothing_and_covering_damage_replaces() {
        let mut damage = vec![rect(0, 0, 10, 10)];
        add_damage(&mut damage, vec![rect(2, 2, 3, 3), rect(0, 0, 10, 10)]);
        assert_eq!(damage, vec![rect(0, 0, 10, 10)]);
        add_damage(&mut damage, vec![rect(20, 0, 5, 5), rect(0, 0, 12, 12)]);
        assert_eq!(damage, vec![rect(20, 0, 5, 5), rect(0, 0, 12, 12)]);
    }

    #[test]
    fn too_many_rectangles_become_their_bounding_box() {
        let mut damage = Vec::new();
        let many = (0..=MAX_DAMAGE_RECTS as i32)
            .map(|i| rect(i * 10, i, 2, 2))
            .collect();
        add_damage(&mut damage, many);
        let last = MAX_DAMAGE_RECTS as i32;
        assert_eq!(damage, vec![rect(0, 0, last * 10 + 2, last + 2)]);
    }

    #[test]
    fn flipped_quarter_turns_undo_themselves_and_turns_turn_back() {
        let area = Size::<i32, Physical>::from((40, 30));
        let r = Rectangle::<i32, Physical>::new((3, 4).into(), (5, 6).into());
        for transform in TRANSFORMS {
            let there = transform.transform_rect_in(r, &area);
            let back = undo(transform).transform_rect_in(there, &transform.transform_size(area));
            assert_eq!(back, r, "{transform:?}");
        }
    }

    mod regions {
        use proptest::prelude::*;
        use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};

        use super::super::{Orientation, OutputArea};
        use super::TRANSFORMS;
        use smithay::utils::{Logical, Rectangle, Transform};

        fn output(w: i32, h: i32, transform: Transform, scale: f64) -> Output {
            let output = Output::new(
                "TEST-1".into(),
                PhysicalProperties {
                    size: (0, 0).into(),
                    subpixel: Subpixel::Unknown,
                    make: "test".into(),
                    model: "test".into(),
                },
            );
            let mode = Mode {
                size: (w, h).into(),
                refresh: 60_000,
            };
            output.change_current_state(
                Some(mode),
                Some(transform),
                Some(Scale::Fractional(scale)),
                None,
            );
            output
        }

        #[test]
        fn a_region_is_read_at_the_outputs_scale() {
            let output = output(300, 200, Transform::Normal, 1.5);
            let region = Rectangle::<i32, Logical>::new((10, 20).into(), (100, 40).into());
            let area = OutputArea::new(&output, Orientation::Upright, Some(region));
            assert_eq!(
                area.framebuffer,
                Rectangle::new((15, 30).into(), (150, 60).into())
            );
            assert_eq!(area.size(), (150, 60).into());
        }

        /// Client values: small, near the output, or anything an `i32`
        /// holds.
        fn coordinate() -> impl Strategy<Value = i32> {
            prop_oneof![-64..2000i32, Just(i32::MAX), Just(i32::MIN), any::<i32>()]
        }

        proptest! {
            /// Whatever region a client names (wlr's
            /// `capture_output_region` takes any `i32`s; negative sizes
            /// arrive as empty), the area is the part of it inside the
            /// output, in the framebuffer too, and its damage stays inside
            /// the session's buffer.
            #[test]
            fn any_region_reads_only_inside_the_output(
                (w, h) in (1..2000i32, 1..2000i32),
                transform in prop::sample::select(&TRANSFORMS[..]),
                scale in prop::sample::select(&[1.0, 1.25, 1.5, 2.0][..]),
                (x, y) in (coordinate(), coordinate()),
                (rw, rh) in (0..3000i32, 0..3000i32),
                upright: bool,
                damage in prop::collection::vec((coordinate(), coordinate(), 0..4000i32, 0..4000i32), 0..24),
            ) {
                let output = output(w, h, transform, scale);
                let orientation = if upright { Orientation::Upright } else { Orientation::Framebuffer };
                let region = Rectangle::<i32, Logical>::new((x, y).into(), (rw, rh).into());
                let area = OutputArea::new(&output, orientation, Some(region));
                let framebuffer = Rectangle::from_size((w, h).into());
                prop_assert!(area.framebuffer.is_empty() || framebuffer.contains_rect(area.framebuffer));
                let size = area.size();
                prop_assert_eq!(size.w * size.h, area.framebuffer.size.w * area.framebuffer.size.h);
                let rects: Vec<_> = damage
                    .into_iter()
                    .map(|(x, y, w, h)| Rectangle::new((x, y).into(), (w, h).into()))
                    .collect();
                let buffer = Rectangle::from_size(size);
                let mut kept = Vec::new();
                if let Some(delivered) = area.damage(&rects) {
                    for r in &delivered {
                        prop_assert!(buffer.contains_rect(*r), "{:?} outside {:?}", r, size);
                    }
                    super::add_damage(&mut kept, delivered);
                }
                prop_assert!(kept.len() <= super::MAX_DAMAGE_RECTS);
                for r in &kept {
                    prop_assert!(buffer.contains_rect(*r));
                }
            }
        }
    }
}
