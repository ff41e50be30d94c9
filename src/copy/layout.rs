//! What the copy shader is told: each side of a copy checked against the
//! plan and its buffers into a [`Layout`] (format code, plane offsets and
//! strides), and the [`PushConstants`] block `shaders/copy.comp` reads.

use drm_fourcc::DrmFourcc;

use super::band::{self, Tile, Window};
use super::draw::{Blend, DrawPlan, DrawSource};
use super::geometry::{Dest, Rect};
use super::parts::Parts;
use super::plan::{CopyPlan, Filter, Side};
use super::{CopyError, ImageDesc};

/// The copy shader's workgroup is `WORKGROUP × WORKGROUP` invocations
/// (`local_size_x`, `local_size_y` in `shaders/copy.comp`).
const WORKGROUP: u32 = 8;

/// Each invocation of the copy shader writes a `BLOCK × BLOCK` block of
/// pixels, on a grid of multiples of `BLOCK` in destination pixels (`main`
/// in `shaders/copy.comp`).
const BLOCK: i32 = 4;

/// The shader's codes for NV12 (`FORMAT_NV12`) and a solid-colour source
/// (`FORMAT_SOLID`).
const FORMAT_NV12: u32 = 4;
const FORMAT_SOLID: u32 = 5;

/// The copy shader's code for a format (`FORMAT_*` in `shaders/copy.comp`).
fn shader_format(format: DrmFourcc) -> Option<u32> {
    match format {
        DrmFourcc::Argb8888 => Some(0),
        DrmFourcc::Xrgb8888 => Some(1),
        DrmFourcc::Abgr8888 => Some(2),
        DrmFourcc::Xbgr8888 => Some(3),
        DrmFourcc::Nv12 => Some(FORMAT_NV12),
        _ => None,
    }
}

/// The packed word the shader stores for a solid colour (`rgba`,
/// premultiplied, 0–1) at `alpha` replacing a pixel of the format with
/// shader code `format` (0–3), computed as `encode` in `shaders/copy.comp`
/// computes it, in `f32`: the same bits a fill writes.
pub(super) fn solid_word(rgba: [f32; 4], alpha: f32, format: u32) -> u32 {
    encoded_word(rgba.map(|v| v * 255.0 * alpha), format)
}

/// The packed word of `rgba` (0–255) in the format with shader code
/// `format`, as `encode` in `shaders/copy.comp` computes it.
fn encoded_word(rgba: [f32; 4], format: u32) -> u32 {
    let [r, g, b, a] = rgba.map(|v| {
        // Halves round up, as the shader's round_half_up.
        let whole = v.floor() + if v - v.floor() >= 0.5 { 1.0 } else { 0.0 };
        whole.clamp(0.0, 255.0) as u32
    });
    // Bit 0 of the code: an X format, whose fourth byte is 0xff.
    let a = if format & 1 == 1 { 255 } else { a };
    // Bit 1: red in the low byte.
    if format & 2 == 2 {
        r | (g << 8) | (b << 16) | (a << 24)
    } else {
        b | (g << 8) | (r << 16) | (a << 24)
    }
}

/// A checked side of a copy: the shader's format code and where each
/// plane lies in its buffer.
#[derive(Debug)]
pub(super) struct Layout {
    pub(super) format: u32,
    pub(super) planes: Vec<band::Plane>,
}

impl Layout {
    /// Plane `i`'s offset relative to `window` (see [`band::shader_offset`])
    /// and its stride, as the shader takes them.
    pub(super) fn shader_plane(&self, i: usize, window: Option<Window>) -> (u32, u32) {
        let plane = &self.planes[i];
        // Strides come from a `PlaneDesc`'s u32.
        let stride = u32::try_from(plane.stride).unwrap_or(u32::MAX);
        (band::shader_offset(plane.offset, window), stride)
    }
}

/// Checks one side of a copy against the plan's `size` and the size of
/// each plane's buffer (`buffer_sizes`, one a plane of `desc`). A buffer
/// larger than a binding may be is drawn in bands (`band.rs`).
pub(super) fn check(
    side: Side,
    desc: &ImageDesc,
    (plan_width, plan_height): (i32, i32),
    buffer_sizes: &[u64],
) -> Result<Layout, CopyError> {
    // NV12 is read, never written.
    let format = shader_format(desc.format)
        .filter(|_| side == Side::Source || desc.format != DrmFourcc::Nv12)
        .ok_or(CopyError::UnsupportedFormat {
            side,
            format: desc.format,
        })?;
    let (width, height) = (desc.width, desc.height);
    if i64::from(width) != i64::from(plan_width) || i64::from(height) != i64::from(plan_height) {
        return Err(CopyError::SizeMismatch {
            side,
            width,
            height,
            plan_width,
            plan_height,
        });
    }
    // (bytes a row, rows) of each plane.
    let (w, h) = (u64::from(width), u64::from(height));
    let shapes: &[(u64, u64)] = if desc.format == DrmFourcc::Nv12 {
        &[(w, h), (w.div_ceil(2) * 2, h.div_ceil(2))]
    } else {
        &[(w * 4, h)]
    };
    if desc.planes.len() != shapes.len() {
        return Err(CopyError::PlaneCount {
            side,
            expected: shapes.len(),
            got: desc.planes.len(),
        });
    }
    let mut planes = Vec::with_capacity(shapes.len());
    for (plane, ((p, &(row, rows)), &buffer_size)) in
        desc.planes.iter().zip(shapes).zip(buffer_sizes).enumerate()
    {
        if u64::from(p.stride) < row {
            return Err(CopyError::StrideTooSmall {
                side,
                plane,
                stride: p.stride,
                min: row,
            });
        }
        let end = p.offset.saturating_add(u64::from(p.stride) * rows);
        if end > buffer_size {
            return Err(CopyError::PlaneOutOfBounds {
                side,
                plane,
                end,
                size: buffer_size,
            });
        }
        planes.push(band::Plane {
            offset: p.offset,
            stride: u64::from(p.stride),
            row,
            shift: u32::from(plane > 0),
            buffer_size,
        });
    }
    let (offset, stride) = (desc.planes[0].offset, desc.planes[0].stride);
    if side == Side::Destination && (!offset.is_multiple_of(4) || !stride.is_multiple_of(4)) {
        return Err(CopyError::UnalignedDestination { offset, stride });
    }
    Ok(Layout { format, planes })
}

/// The push constants of `shaders/copy.comp`, member by member: every
/// member is 4 bytes, an 8-byte vector at a multiple of 8 or a 16-byte
/// vector at a multiple of 16, so std430 packs them back to back.
#[derive(Debug, Clone, Copy)]
pub(super) struct PushConstants {
    /// `m0`, `m1`, `m2`: the plan's matrix, column-major.
    pub(super) matrix: [f32; 6],
    /// `dst_origin`, `dst_extent`, `src_origin`, `src_extent`.
    pub(super) rects: [i32; 8],
    /// `src_offset0`, `src_stride0`, `src_offset1`, `src_stride1`,
    /// `dst_offset`, `dst_stride`, `src_format`, `dst_format`, `mode`.
    pub(super) words: [u32; 9],
    /// `alpha`.
    alpha: f32,
    /// The pixels written: origin and extent. Not a push constant: each
    /// clip is a part of its dispatch (`parts.rs`).
    pub(super) clip: [i32; 4],
    /// `colour`: premultiplied, 0–255.
    colour: [f32; 4],
}

/// What a draw of whole words does to the destination's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WordBlend {
    /// Replaces them.
    Replace,
    /// Blends over them, reading them.
    OverDestination,
    /// Blends over this word, which the destination holds throughout the
    /// clip (`MODE_ONTO_COLOUR`).
    OverWord(u32),
}

/// `MODE_LINEAR`, `MODE_OVER`, `MODE_WORDS` and `MODE_ONTO_COLOUR` of the
/// shader.
const MODE_LINEAR: u32 = 1;
const MODE_OVER: u32 = 2;
const MODE_WORDS: u32 = 4;
const MODE_ONTO_COLOUR: u32 = 8;

impl PushConstants {
    /// The push constants' size: the members above but the clip, then
    /// `groups`.
    pub(super) const SIZE: usize = 4 * (6 + 8 + 9 + 1 + 4 + 1);

    /// A copy: its destination rectangle is its clip, alpha 1, replace.
    pub(super) fn new(plan: &CopyPlan, src: &Layout, dst: &Layout) -> Self {
        let request = plan.request();
        let (s, d) = (request.src_rect, request.dst_rect);
        // An unscaled copy reads single texels whatever its filter; between
        // packed formats it moves whole words.
        let mode = match plan.filter() {
            _ if !plan.needs_scaling() && src.format != FORMAT_NV12 => MODE_WORDS,
            Filter::Nearest => 0,
            Filter::Linear => MODE_LINEAR,
        };
        Self {
            matrix: plan.matrix(),
            rects: [
                d.loc.x, d.loc.y, d.size.w, d.size.h, s.loc.x, s.loc.y, s.size.w, s.size.h,
            ],
            words: words(Some(src), dst, mode, None),
            alpha: 1.0,
            clip: [d.loc.x, d.loc.y, d.size.w, d.size.h],
            colour: [0.0; 4],
        }
    }

    /// A draw, reading `src` (`None` for a solid colour).
    pub(super) fn draw(plan: &DrawPlan, src: Option<&Layout>, dst: &Layout) -> Self {
        let request = plan.request();
        let (b, d, c) = (plan.src_bounds(), request.dst_rect, request.clip);
        let mut mode = match request.blend {
            Blend::Replace => 0,
            Blend::Over => MODE_OVER,
        };
        let mut colour = [0.0; 4];
        match request.source {
            DrawSource::Solid(rgba) => colour = rgba.map(|v| v * 255.0),
            DrawSource::Texture {
                filter: Filter::Linear,
                ..
            } => mode |= MODE_LINEAR,
            // Nearest texels of a packed source at alpha 1: the shader
            // moves whole words, as for a copy, replacing the destination
            // or blending over it in integers.
            DrawSource::Texture { .. }
                if request.alpha == 1.0 && src.is_some_and(|s| s.format != FORMAT_NV12) =>
            {
                mode |= MODE_WORDS;
            }
            DrawSource::Texture { .. } => {}
        }
        Self {
            matrix: plan.matrix(),
            rects: [
                d.loc.x, d.loc.y, d.size.w, d.size.h, b.loc.x, b.loc.y, b.size.w, b.size.h,
            ],
            words: words(src, dst, mode, None),
            alpha: request.alpha,
            clip: [c.loc.x, c.loc.y, c.size.w, c.size.h],
            colour,
        }
    }

    /// Whether the draw blends over what the destination holds, reading it.
    pub(super) fn reads_destination(&self) -> bool {
        self.words[8] & (MODE_OVER | MODE_ONTO_COLOUR) == MODE_OVER
    }

    /// How the draw writes whole words (`MODE_WORDS`): `None` where it
    /// does not.
    pub(super) fn word_blend(&self) -> Option<WordBlend> {
        let mode = self.words[8];
        match mode & !(MODE_OVER | MODE_ONTO_COLOUR) {
            MODE_WORDS => {}
            _ => return None,
        }
        Some(if mode & MODE_OVER == 0 {
            WordBlend::Replace
        } else if mode & MODE_ONTO_COLOUR == 0 {
            WordBlend::OverDestination
        } else {
            // The word the shader encodes the colour into (`below`).
            WordBlend::OverWord(encoded_word(self.colour, self.words[7]))
        })
    }

    /// The colour a solid draw writes (premultiplied, 0–255): its colour at
    /// its alpha, multiplied as the shader and [`solid_word`] multiply.
    pub(super) fn solid_colour(&self) -> [f32; 4] {
        self.colour.map(|v| v * self.alpha)
    }

    /// Makes a draw that blends over the destination blend over `colour`
    /// (a [`solid_colour`](Self::solid_colour)) instead, without reading
    /// the destination: for a clip where the destination holds that colour.
    pub(super) fn blend_onto(&mut self, colour: [f32; 4]) {
        self.words[8] |= MODE_ONTO_COLOUR;
        self.colour = colour;
    }

    /// These push constants for the dispatch of one tile of a banded draw:
    /// its pixels are the clip, its windows the planes' origins.
    pub(super) fn tile(&self, tile: &Tile, src: Option<&Layout>, dst: &Layout) -> Self {
        let c = tile.clip;
        Self {
            words: words(src, dst, self.words[8], Some(tile)),
            clip: [c.loc.x, c.loc.y, c.size.w, c.size.h],
            ..*self
        }
    }

    /// These push constants writing only `clip`, a part of their clip.
    pub(super) fn clipped(&self, clip: Rect<i32, Dest>) -> Self {
        Self {
            clip: [clip.loc.x, clip.loc.y, clip.size.w, clip.size.h],
            ..*self
        }
    }

    /// Adds the clip to `parts`, with its workgroups of
    /// `WORKGROUP × WORKGROUP` blocks of `BLOCK × BLOCK` pixels
    /// (`shaders/copy.comp`).
    pub(super) fn add_clip_to(&self, parts: &mut Parts) {
        let [x, y, w, h] = self.clip;
        // A clip lies in its buffer: no coordinate is negative, and the
        // blocks lie on a grid of multiples of BLOCK from the buffer's
        // corner.
        let workgroups = |start: i32, len: i32| {
            let (start, end) = (i64::from(start), i64::from(start) + i64::from(len));
            let block = i64::from(BLOCK);
            let blocks = (end + block - 1).div_euclid(block) - start.div_euclid(block);
            u32::try_from(blocks)
                .expect("validated rectangles are not empty")
                .div_ceil(WORKGROUP)
        };
        let own = [x, y, w, h].map(i32::cast_unsigned);
        parts.push(
            [workgroups(x, w), workgroups(y, h)],
            [own[0], own[1], own[2], own[3], 0, 0],
        );
    }

    /// The push constants of a dispatch of `parts`, each the clip of
    /// push constants that differ from these in their clip alone.
    pub(super) fn bytes(&self, parts: &Parts) -> [u8; Self::SIZE] {
        let words = self
            .matrix
            .iter()
            .map(|f| f.to_bits())
            .chain(self.rects.iter().map(|&i| i.cast_unsigned()))
            .chain(self.words.iter().copied())
            .chain(std::iter::once(self.alpha.to_bits()))
            .chain(self.colour.iter().map(|f| f.to_bits()))
            .chain(std::iter::once(parts.groups()));
        let mut bytes = [0; Self::SIZE];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        bytes
    }
}

/// The planes, formats and mode words of the push constants for a
/// dispatch that binds `tile`'s windows (`None`: whole buffers); a solid
/// colour (`src` is `None`) has no planes and `FORMAT_SOLID`.
fn words(src: Option<&Layout>, dst: &Layout, mode: u32, tile: Option<&Tile>) -> [u32; 9] {
    let src_window = |i: usize| tile.and_then(|t| t.src.get(i).copied().flatten());
    let (src0, src1, format) = match src {
        Some(src) => (
            src.shader_plane(0, src_window(0)),
            if src.planes.len() > 1 {
                src.shader_plane(1, src_window(1))
            } else {
                (0, 0)
            },
            src.format,
        ),
        None => ((0, 0), (0, 0), FORMAT_SOLID),
    };
    let dst0 = dst.shader_plane(0, tile.and_then(|t| t.dst));
    [
        src0.0, src0.1, src1.0, src1.1, dst0.0, dst0.1, format, dst.format, mode,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::PlaneDesc;
    use crate::copy::{CopyRequest, Point, Rect, Size, Transform};

    fn desc(format: DrmFourcc, (width, height): (u32, u32), planes: &[(u64, u32)]) -> ImageDesc {
        ImageDesc {
            format,
            width,
            height,
            planes: planes
                .iter()
                .map(|&(offset, stride)| PlaneDesc { offset, stride })
                .collect(),
        }
    }

    #[test]
    fn nv12_planes_are_checked_with_their_own_shape() {
        // 5×3: luma rows of 5 bytes, 2 chroma rows of 3 pairs (6 bytes).
        let good = desc(DrmFourcc::Nv12, (5, 3), &[(0, 5), (15, 6)]);
        let layout = check(Side::Source, &good, (5, 3), &[27, 27]).expect("fits exactly");
        assert_eq!(layout.format, 4);
        let planes: Vec<_> = (0..2).map(|i| layout.shader_plane(i, None)).collect();
        assert_eq!(planes, [(0, 5), (15, 6)]);
        assert_eq!([layout.planes[0].shift, layout.planes[1].shift], [0, 1]);
        let narrow = desc(DrmFourcc::Nv12, (5, 3), &[(0, 5), (15, 5)]);
        assert!(matches!(
            check(Side::Source, &narrow, (5, 3), &[64, 64]),
            Err(CopyError::StrideTooSmall {
                plane: 1,
                stride: 5,
                min: 6,
                ..
            })
        ));
        assert!(matches!(
            check(Side::Source, &good, (5, 3), &[26, 26]),
            Err(CopyError::PlaneOutOfBounds {
                plane: 1,
                end: 27,
                size: 26,
                ..
            })
        ));
    }

    #[test]
    fn only_the_destination_must_be_word_aligned() {
        let odd = desc(DrmFourcc::Xrgb8888, (2, 2), &[(3, 9)]);
        assert!(check(Side::Source, &odd, (2, 2), &[21]).is_ok());
        assert!(matches!(
            check(Side::Destination, &odd, (2, 2), &[21]),
            Err(CopyError::UnalignedDestination {
                offset: 3,
                stride: 9
            })
        ));
    }

    #[test]
    fn buffers_past_the_storage_range_are_checked_like_any_other() {
        // Planes past u32::MAX bytes into their buffer: the shader takes
        // their offsets relative to a window.
        let image = desc(DrmFourcc::Argb8888, (2, 2), &[(1 << 33, 8)]);
        let layout =
            check(Side::Destination, &image, (2, 2), &[(1 << 33) + 16]).expect("inside its buffer");
        let window = Window {
            offset: (1 << 33) - 16,
            range: 64,
        };
        assert_eq!(layout.shader_plane(0, Some(window)), (16, 8));
    }

    #[test]
    fn push_constants_follow_the_shader_block() {
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(4, 3),
            dst_size: Size::new(9, 13),
            src_rect: Rect::new(Point::new(1, 1), Size::new(3, 2)),
            dst_rect: Rect::new(Point::new(5, 7), Size::new(4, 6)),
            transform: Transform::_90,
            filter: Some(Filter::Linear),
        })
        .expect("a valid request");
        let plane = |offset, stride, shift| band::Plane {
            offset,
            stride,
            row: stride,
            shift,
            buffer_size: 4096,
        };
        let src = Layout {
            format: 4,
            planes: vec![plane(8, 12, 0), plane(48, 16, 1)],
        };
        let dst = Layout {
            format: 1,
            planes: vec![plane(4, 40, 0)],
        };
        let push = PushConstants::new(&plan, &src, &dst);
        let mut parts = Parts::default();
        push.add_clip_to(&mut parts);
        let bytes = push.bytes(&parts);
        let word = |offset: usize| {
            u32::from_ne_bytes(bytes[offset..offset + 4].try_into().expect("4 bytes"))
        };
        // m0, m1, m2 (vec2 each) at 0, 8, 16: the plan's matrix.
        let matrix: Vec<f32> = (0..6).map(|i| f32::from_bits(word(4 * i))).collect();
        assert_eq!(matrix, plan.matrix());
        // dst_origin, dst_extent, src_origin, src_extent (ivec2) at 24..56.
        let rects: Vec<u32> = (6..14).map(|i| word(4 * i)).collect();
        assert_eq!(rects, [5, 7, 4, 6, 1, 1, 3, 2]);
        // The planes, the formats and the mode at 56..92.
        let words: Vec<u32> = (14..23).map(|i| word(4 * i)).collect();
        assert_eq!(words, [8, 12, 48, 16, 4, 40, 4, 1, 1]);
        // Alpha 1, no colour, the one workgroup of the clip (the
        // destination rectangle), which is the part's.
        assert_eq!(f32::from_bits(word(92)), 1.0);
        assert!((24..28).all(|i| word(4 * i) == 0));
        assert_eq!(word(112), 1);
        assert_eq!(bytes.len(), 116);
        let entry: Vec<u32> = parts
            .bytes()
            .chunks_exact(4)
            .map(|b| u32::from_ne_bytes(b.try_into().expect("4 bytes")))
            .collect();
        assert_eq!(entry[..7], [5, 7, 4, 6, 0, 0, 0]);
    }
}
