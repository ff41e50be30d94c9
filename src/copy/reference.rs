//! The CPU reference for copies: carries out a [`CopyPlan`] one destination
//! pixel at a time.
//!
//! This is the definition the GPU path is tested against, written to be
//! obviously right rather than fast. What it does, a shader must do:
//!
//! # Sampling
//!
//! Pixel `(i, j)` of `dst_rect` samples the source at
//! `c = plan.src_coord((i + 0.5, j + 0.5))`, which lies inside `src_rect` or
//! on its border. `src_rect` is the request's: for a fractional source
//! ([`CopyPlan::with_source`]) the whole pixels the fractional rectangle
//! touches, which is what samples are clamped to. With `src_rect` covering
//! columns `x0 ..= x1` and rows `y0 ..= y1`:
//!
//! * [`Filter::Nearest`]: the texel `(floor(c.x), floor(c.y))`, each clamped
//!   to `x0 ..= x1`, `y0 ..= y1`. The clamp only acts when `f32` rounding put
//!   `c` on the far border.
//! * [`Filter::Linear`]: bilinear interpolation of the texels
//!   `floor(c − 0.5)` and `floor(c − 0.5) + 1` on each axis, weighted by the
//!   fraction of `c − 0.5`, where a texel index outside `src_rect` is clamped
//!   to its nearest edge: `VK_SAMPLER_ADDRESS_MODE_CLAMP_TO_EDGE`, at the
//!   border of `src_rect` instead of the image's. A shader gets the same by
//!   clamping `c` to `[x0 + 0.5, x1 + 0.5] × [y0 + 0.5, y1 + 0.5]` first.
//!   No pixel outside `src_rect` contributes.
//!
//! Channels are filtered as stored: premultiplied alpha, as Wayland's
//! formats carry it, and non-linear values, as a `UNORM` view samples them.
//! Arithmetic is `f32`, rounded to the nearest integer once, when written.
//!
//! # Formats
//!
//! Sources are ARGB8888, XRGB8888, ABGR8888, XBGR8888 or NV12; destinations
//! one of the four packed formats. Pixels are converted through R, G, B, A:
//! an X format reads as opaque (alpha 0xff whatever the padding holds).
//!
//! An X format's fourth byte is padding, which means nothing
//! (`drm_fourcc.h`'s `x`). An unscaled copy from an X format into an X
//! format moves whole pixels, so each keeps its padding byte, as pixman's
//! copies do: a copy of XRGB8888 onto itself leaves every byte as it was,
//! and transfers can do it (`plain.rs`). Any other copy into an X format
//! writes 0xff there.
//!
//! NV12 is BT.601 limited range (luma 16–235, chroma 16–240), converted to
//! R′G′B′ on the 0–255 scale and clamped there, alpha opaque:
//!
//! ```text
//! R = 1.164384 (Y − 16)                       + 1.596027 (Cr − 128)
//! G = 1.164384 (Y − 16) − 0.391762 (Cb − 128) − 0.812968 (Cr − 128)
//! B = 1.164384 (Y − 16) + 2.017232 (Cb − 128)
//! ```
//!
//! Its chroma is sampled nearest: pixel `(x, y)` takes the Cb, Cr pair
//! `(x / 2, y / 2)` (integer division), each pair covering its 2×2 block.
//! The filter then applies to the converted pixels.
//!
//! Only pixels inside `dst_rect` are written.

mod image;

pub use image::{ImageError, ImageView, ImageViewMut};

use super::geometry::{Buffer, Point, Rect};
use super::plan::{CopyPlan, Filter, Side};

/// Copies `src` into `dst` as `plan` says, writing only `dst_rect`.
///
/// Refuses images whose sizes are not the plan's, before writing anything.
pub fn copy(
    plan: &CopyPlan,
    src: &ImageView<'_>,
    dst: &mut ImageViewMut<'_>,
) -> Result<(), ImageError> {
    let request = plan.request();
    let mismatch = |side, (width, height), (plan_width, plan_height)| ImageError::SizeMismatch {
        side,
        width,
        height,
        plan_width,
        plan_height,
    };
    let (have, want) = (src.size(), request.src_size);
    if have != want {
        return Err(mismatch(Side::Source, (have.w, have.h), (want.w, want.h)));
    }
    let (have, want) = (dst.size(), request.dst_size);
    if have != want {
        return Err(mismatch(
            Side::Destination,
            (have.w, have.h),
            (want.w, want.h),
        ));
    }
    let (rect, area) = (request.src_rect, request.dst_rect);
    // Unscaled, each destination pixel is one source pixel whatever the
    // filter: between X formats it takes that pixel's padding along.
    let keeps_padding = !plan.needs_scaling() && dst.is_padded();
    for y in area.loc.y..area.loc.y + area.size.h {
        for x in area.loc.x..area.loc.x + area.size.w {
            let c = plan.src_coord(Point::new(x as f32 + 0.5, y as f32 + 0.5));
            let rgba = match plan.filter() {
                Filter::Nearest => nearest(src, rect, c),
                Filter::Linear => bilinear(src, rect, c),
            };
            let (x, y) = (index(x), index(y));
            dst.put(x, y, rgba);
            if keeps_padding {
                let (from_x, from_y) = nearest_texel(c, rect);
                if let Some(byte) = src.padding(from_x, from_y) {
                    dst.put_padding(x, y, byte);
                }
            }
        }
    }
    Ok(())
}

/// A coordinate of a validated rectangle as an index.
fn index(i: i32) -> usize {
    usize::try_from(i).expect("validated rectangles have no negative coordinate")
}

/// Index `i` clamped into `start .. start + len`.
fn clamp_into(i: i32, start: i32, len: i32) -> usize {
    index(i.clamp(start, start + len - 1))
}

/// The texel under `c`, clamped into `rect`.
fn nearest_texel(c: Point<f32, Buffer>, rect: Rect<i32, Buffer>) -> (usize, usize) {
    (
        clamp_into(c.x.floor() as i32, rect.loc.x, rect.size.w),
        clamp_into(c.y.floor() as i32, rect.loc.y, rect.size.h),
    )
}

fn nearest(src: &ImageView<'_>, rect: Rect<i32, Buffer>, c: Point<f32, Buffer>) -> [f32; 4] {
    let (x, y) = nearest_texel(c, rect);
    src.texel(x, y)
}

/// Along one axis: the two texels around `c`, clamped into
/// `start .. start + len`, and the weight of the second.
fn taps(c: f32, start: i32, len: i32) -> (usize, usize, f32) {
    let t = c - 0.5;
    let first = t.floor();
    let i = first as i32;
    (
        clamp_into(i, start, len),
        clamp_into(i + 1, start, len),
        t - first,
    )
}

fn bilinear(src: &ImageView<'_>, rect: Rect<i32, Buffer>, c: Point<f32, Buffer>) -> [f32; 4] {
    let (x0, x1, fx) = taps(c.x, rect.loc.x, rect.size.w);
    let (y0, y1, fy) = taps(c.y, rect.loc.y, rect.size.h);
    let (top_left, top_right) = (src.texel(x0, y0), src.texel(x1, y0));
    let (bottom_left, bottom_right) = (src.texel(x0, y1), src.texel(x1, y1));
    std::array::from_fn(|k| {
        let top = top_left[k] * (1.0 - fx) + top_right[k] * fx;
        let bottom = bottom_left[k] * (1.0 - fx) + bottom_right[k] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// `len` bytes of deterministic noise from `seed` (xorshift32): inputs
/// for checking a copy against this reference, alike in every process that
/// asks with the same seed.
pub fn noise(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[1]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use drm_fourcc::DrmFourcc;
    use proptest::prelude::*;

    use super::*;
    use crate::copy::{CopyRequest, Dest, Size, Transform};

    fn rect<S>(x: i32, y: i32, w: i32, h: i32) -> Rect<i32, S> {
        Rect::new(Point::new(x, y), Size::new(w, h))
    }

    /// Bytes of a packed image from its 32-bit words, row by row.
    fn bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// Copies a tightly packed `src_w`-wide source (of `src`'s words) onto a
    /// `dst_size` destination filled with `Z`, and returns the destination.
    fn run(
        src: &[u32],
        src_w: i32,
        formats: (DrmFourcc, DrmFourcc),
        dst_size: (i32, i32),
        change: impl FnOnce(&mut CopyRequest),
    ) -> Vec<u32> {
        let src_size = Size::new(src_w, src.len() as i32 / src_w);
        let mut request = CopyRequest {
            src_size,
            dst_size: Size::new(dst_size.0, dst_size.1),
            src_rect: Rect::new(Point::new(0, 0), src_size),
            dst_rect: rect(0, 0, dst_size.0, dst_size.1),
            transform: Transform::Normal,
            filter: None,
        };
        change(&mut request);
        let plan = CopyPlan::new(request).expect("valid request");
        let src = bytes(src);
        let stride = src_w as usize * 4;
        let src = ImageView::packed(formats.0, src_size, &src, stride).expect("source");
        let mut out = bytes(&vec![Z; (dst_size.0 * dst_size.1) as usize]);
        let stride = dst_size.0 as usize * 4;
        let size = Size::new(dst_size.0, dst_size.1);
        let mut dst = ImageViewMut::packed(formats.1, size, &mut out, stride).expect("dest");
        copy(&plan, &src, &mut dst).expect("sizes match");
        words(&out)
    }

    const ARGB: (DrmFourcc, DrmFourcc) = (DrmFourcc::Argb8888, DrmFourcc::Argb8888);

    // Six distinct pixels, and Z for destination pixels never written.
    const A: u32 = 0xff00_000a;
    const B: u32 = 0xff00_000b;
    const C: u32 = 0xff00_000c;
    const D: u32 = 0xff00_000d;
    const E: u32 = 0xff00_000e;
    const F: u32 = 0xff00_000f;
    const Z: u32 = 0x1234_5678;

    /// The 3×2 source
    /// ```text
    /// a b c
    /// d e f
    /// ```
    const SOURCE: [u32; 6] = [A, B, C, D, E, F];

    #[test]
    fn all_eight_transforms_on_an_asymmetric_image() {
        #[rustfmt::skip]
        let expect: [(Transform, (i32, i32), &[u32]); 8] = [
            (Transform::Normal, (3, 2), &[
                A, B, C,
                D, E, F]),
            (Transform::_90, (2, 3), &[
                C, F,
                B, E,
                A, D]),
            (Transform::_180, (3, 2), &[
                F, E, D,
                C, B, A]),
            (Transform::_270, (2, 3), &[
                D, A,
                E, B,
                F, C]),
            (Transform::Flipped, (3, 2), &[
                C, B, A,
                F, E, D]),
            (Transform::Flipped90, (2, 3), &[
                A, D,
                B, E,
                C, F]),
            (Transform::Flipped180, (3, 2), &[
                D, E, F,
                A, B, C]),
            (Transform::Flipped270, (2, 3), &[
                F, C,
                E, B,
                D, A]),
        ];
        for (transform, (w, h), shown) in expect {
            for filter in [None, Some(Filter::Linear)] {
                // Into a 5×5 destination at (1, 2): the rest stays Z.
                let out = run(&SOURCE, 3, ARGB, (5, 5), |r| {
                    r.dst_rect = rect(1, 2, w, h);
                    r.transform = transform;
                    r.filter = filter;
                });
                for (i, pixel) in out.iter().enumerate() {
                    let (x, y) = (i as i32 % 5 - 1, i as i32 / 5 - 2);
                    let want = if (0..w).contains(&x) && (0..h).contains(&y) {
                        shown[(y * w + x) as usize]
                    } else {
                        Z
                    };
                    assert_eq!(
                        *pixel, want,
                        "{transform:?} {filter:?} at ({x}, {y}) of the rect"
                    );
                }
            }
        }
    }

    #[test]
    fn a_sub_rectangle_reads_only_its_pixels() {
        // e f of the source, turned a half turn: f e.
        let out = run(&SOURCE, 3, ARGB, (2, 1), |r| {
            r.src_rect = rect(1, 1, 2, 1);
            r.transform = Transform::_180;
        });
        assert_eq!(out, [F, E]);
    }

    #[test]
    fn nearest_upscale_repeats_pixels() {
        let out = run(&[A, B], 2, ARGB, (4, 2), |r| {
            r.filter = Some(Filter::Nearest)
        });
        assert_eq!(out, [A, A, B, B, A, A, B, B]);
    }

    #[test]
    fn nearest_downscale_takes_the_texel_right_of_centre() {
        // Destination centres 0.5, 1.5 sample source 1.0, 3.0: texels 1, 3.
        let out = run(&[A, B, C, D], 4, ARGB, (2, 1), |r| {
            r.filter = Some(Filter::Nearest)
        });
        assert_eq!(out, [B, D]);
    }

    #[test]
    fn bilinear_upscale_interpolates_and_clamps_at_the_edge() {
        // Red 0 and 255 stretched over four pixels: centres sample 0.25,
        // 0.75, 1.25, 1.75, so red is 0 (clamped), 63.75, 191.25, 255
        // (clamped), rounded.
        let out = run(&[0xff00_0000, 0xffff_0000], 2, ARGB, (4, 1), |r| {
            r.filter = Some(Filter::Linear)
        });
        assert_eq!(out, [0xff00_0000, 0xff40_0000, 0xffbf_0000, 0xffff_0000]);
    }

    #[test]
    fn bilinear_never_bleeds_in_from_outside_the_source_rect() {
        // The centre texel of a 3×3 image, stretched to 4×4: every sample
        // near its edges would reach a neighbour without the clamp.
        #[rustfmt::skip]
        let src = [
            A, B, C,
            D, E, F,
            A, B, C,
        ];
        let out = run(&src, 3, ARGB, (4, 4), |r| {
            r.src_rect = rect(1, 1, 1, 1);
            r.filter = Some(Filter::Linear);
        });
        assert_eq!(out, [E; 16]);
    }

    #[test]
    fn formats_convert_on_the_way() {
        let pixel = 0x8011_2233; // ARGB8888: A 0x80, R 0x11, G 0x22, B 0x33.
        let to = |format| run(&[pixel], 1, (DrmFourcc::Argb8888, format), (1, 1), |_| ())[0];
        assert_eq!(to(DrmFourcc::Argb8888), 0x8011_2233);
        assert_eq!(to(DrmFourcc::Xrgb8888), 0xff11_2233);
        assert_eq!(to(DrmFourcc::Abgr8888), 0x8033_2211);
        assert_eq!(to(DrmFourcc::Xbgr8888), 0xff33_2211);
        // An X source's padding, whatever it holds, reads as opaque.
        let from_x = run(
            &[0x0011_2233],
            1,
            (DrmFourcc::Xrgb8888, DrmFourcc::Abgr8888),
            (1, 1),
            |_| (),
        );
        assert_eq!(from_x, [0xff33_2211]);
    }

    #[test]
    fn unscaled_copies_between_x_formats_keep_each_pixels_padding() {
        // XRGB8888 with padding 0x12 and 0x34.
        let src = [0x1211_2233, 0x3444_5566];
        let xrgb = (DrmFourcc::Xrgb8888, DrmFourcc::Xrgb8888);
        assert_eq!(run(&src, 2, xrgb, (2, 1), |_| ()), src);
        // Turned, into the other channel order: each pixel keeps its own.
        let mut turned = run(
            &src,
            2,
            (DrmFourcc::Xrgb8888, DrmFourcc::Xbgr8888),
            (1, 2),
            |r| r.transform = Transform::_90,
        );
        turned.sort_unstable();
        assert_eq!(turned, [0x1233_2211, 0x3466_5544]);
        // Scaled, a pixel is not one source pixel: 0xff.
        let scaled = run(&src, 2, xrgb, (4, 1), |r| r.filter = Some(Filter::Nearest));
        assert!(scaled.iter().all(|w| w >> 24 == 0xff), "{scaled:x?}");
        // Into an A format, alpha is opaque.
        let to_argb = run(
            &src,
            2,
            (DrmFourcc::Xrgb8888, DrmFourcc::Argb8888),
            (2, 1),
            |_| (),
        );
        assert_eq!(to_argb, [0xff11_2233, 0xff44_5566]);
    }

    #[test]
    fn conversions_round_trip_through_copies() {
        let formats = [
            DrmFourcc::Argb8888,
            DrmFourcc::Xrgb8888,
            DrmFourcc::Abgr8888,
            DrmFourcc::Xbgr8888,
        ];
        let has_alpha = |f| matches!(f, DrmFourcc::Argb8888 | DrmFourcc::Abgr8888);
        let src = [0x8011_2233, 0x40aa_bbcc];
        for from in formats {
            for to in formats {
                let there = run(&src, 2, (from, to), (2, 1), |_| ());
                let back = run(&there, 2, (to, from), (2, 1), |_| ());
                // Between X formats the padding travels with its pixel.
                let want = if has_alpha(from) == has_alpha(to) {
                    src
                } else {
                    src.map(|p| p | 0xff00_0000)
                };
                assert_eq!(back, want, "{from} → {to} → {from}");
            }
        }
    }

    /// Copies a flat NV12 image of `w × h` with one Y, Cb, Cr onto an
    /// ABGR8888 destination scaled to `dst`, and returns its R, G, B, A
    /// bytes.
    fn nv12_flat((y, cb, cr): (u8, u8, u8), (w, h): (i32, i32), dst: (i32, i32)) -> Vec<[u8; 4]> {
        let (w2, h2) = ((w as usize).div_ceil(2), (h as usize).div_ceil(2));
        let luma = vec![y; w as usize * h as usize];
        let chroma: Vec<u8> = [cb, cr].repeat(w2 * h2);
        let size = Size::new(w, h);
        let src = ImageView::nv12(size, &luma, w as usize, &chroma, w2 * 2).expect("nv12");
        let plan = CopyPlan::new(CopyRequest {
            src_size: size,
            dst_size: Size::new(dst.0, dst.1),
            src_rect: Rect::new(Point::new(0, 0), size),
            dst_rect: rect(0, 0, dst.0, dst.1),
            transform: Transform::_90,
            filter: Some(Filter::Linear),
        })
        .expect("valid request");
        let mut out = vec![0; (dst.0 * dst.1 * 4) as usize];
        let size = Size::new(dst.0, dst.1);
        let stride = dst.0 as usize * 4;
        let mut view =
            ImageViewMut::packed(DrmFourcc::Abgr8888, size, &mut out, stride).expect("dst");
        copy(&plan, &src, &mut view).expect("sizes match");
        out.chunks_exact(4)
            .map(|p| [p[0], p[1], p[2], p[3]])
            .collect()
    }

    #[test]
    fn nv12_flat_colours_convert_with_bt601_limited_range() {
        let expect = [
            ((16, 128, 128), [0, 0, 0, 255]),
            ((235, 128, 128), [255, 255, 255, 255]),
            // 1.164384 × 110 = 128.08.
            ((126, 128, 128), [128, 128, 128, 255]),
            // R 255.6 (clamped), G 0.68, B 0.19.
            ((82, 90, 240), [255, 1, 0, 255]),
            // R 0.18, G 255.4 (clamped), B 0.93.
            ((145, 54, 34), [0, 255, 1, 255]),
            // R 0.38, G −1.1 (clamped), B 255.3 (clamped).
            ((41, 240, 110), [0, 0, 255, 255]),
        ];
        for (yuv, rgba) in expect {
            // Odd sizes, a quarter turn and a bilinear stretch: flat stays flat.
            for pixel in nv12_flat(yuv, (3, 5), (7, 4)) {
                assert_eq!(pixel, rgba, "{yuv:?}");
            }
        }
    }

    #[test]
    fn nv12_chroma_is_nearest_per_2x2_block() {
        // 4×2: the left block grey (Cb = Cr = 128), the right one red-ish
        // (Cb 90, Cr 240); luma 126 throughout.
        let luma = [126u8; 8];
        let chroma = [128u8, 128, 90, 240];
        let size = Size::new(4, 2);
        let src = ImageView::nv12(size, &luma, 4, &chroma, 4).expect("nv12");
        let plan = CopyPlan::new(CopyRequest {
            src_size: size,
            dst_size: Size::new(4, 2),
            src_rect: Rect::new(Point::new(0, 0), size),
            dst_rect: rect(0, 0, 4, 2),
            transform: Transform::Normal,
            filter: None,
        })
        .expect("valid request");
        let mut out = [0u8; 32];
        let mut dst =
            ImageViewMut::packed(DrmFourcc::Abgr8888, Size::new(4, 2), &mut out, 16).expect("dst");
        copy(&plan, &src, &mut dst).expect("sizes match");
        // 128.08 + 1.596027 × 112 = 306.8 → 255; 128.08 + 14.89 − 91.05 =
        // 51.92 → 52; 128.08 − 76.65 = 51.42 → 51.
        let (grey, red) = ([128, 128, 128, 255], [255, 52, 51, 255]);
        for row in out.chunks_exact(16) {
            let pixels: Vec<&[u8]> = row.chunks_exact(4).collect();
            assert_eq!(pixels, [&grey[..], &grey, &red, &red]);
        }
    }

    #[test]
    fn images_of_another_size_than_the_plan_are_refused() {
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(2, 2),
            dst_size: Size::new(2, 2),
            src_rect: rect(0, 0, 2, 2),
            dst_rect: rect(0, 0, 2, 2),
            transform: Transform::Normal,
            filter: None,
        })
        .expect("valid request");
        let small = [0u8; 8];
        let mut out = [7u8; 16];
        let src = ImageView::packed(DrmFourcc::Argb8888, Size::new(1, 2), &small, 4).expect("src");
        let mut dst =
            ImageViewMut::packed(DrmFourcc::Argb8888, Size::new(2, 2), &mut out, 8).expect("dst");
        assert_eq!(
            copy(&plan, &src, &mut dst),
            Err(ImageError::SizeMismatch {
                side: Side::Source,
                width: 1,
                height: 2,
                plan_width: 2,
                plan_height: 2
            })
        );
        let big = [0u8; 16];
        let src = ImageView::packed(DrmFourcc::Argb8888, Size::new(2, 2), &big, 8).expect("src");
        let mut out = [7u8; 8];
        let mut dst =
            ImageViewMut::packed(DrmFourcc::Argb8888, Size::new(2, 1), &mut out, 8).expect("dst");
        assert_eq!(
            copy(&plan, &src, &mut dst),
            Err(ImageError::SizeMismatch {
                side: Side::Destination,
                width: 2,
                height: 1,
                plan_width: 2,
                plan_height: 2
            })
        );
        assert_eq!(out, [7; 8], "nothing written");
    }

    /// A buffer size and a rectangle `(x, y, w, h)` inside it, small enough
    /// to copy whole.
    fn buffer_and_rect() -> impl Strategy<Value = ((i32, i32), (i32, i32, i32, i32))> {
        (1..10i32, 1..10i32)
            .prop_flat_map(|(w, h)| (Just((w, h)), 0..w, 0..h))
            .prop_flat_map(|((w, h), x, y)| {
                (Just((w, h)), (Just(x), Just(y), 1..=w - x, 1..=h - y))
            })
    }

    proptest! {
        /// Any accepted plan, carried out: no out-of-bounds index (it would
        /// panic), every nearest texel and bilinear tap inside `src_rect`,
        /// and no destination pixel outside `dst_rect` touched.
        #[test]
        fn accepted_plans_stay_inside_both_rects(
            (src_size, s) in buffer_and_rect(),
            (dst_size, d) in buffer_and_rect(),
            transform in proptest::sample::select(Transform::ALL.to_vec()),
            linear in any::<bool>(),
            seed in any::<u32>(),
        ) {
            let src_rect: Rect<i32, Buffer> = rect(s.0, s.1, s.2, s.3);
            let dst_rect: Rect<i32, Dest> = rect(d.0, d.1, d.2, d.3);
            let plan = CopyPlan::new(CopyRequest {
                src_size: Size::new(src_size.0, src_size.1),
                dst_size: Size::new(dst_size.0, dst_size.1),
                src_rect,
                dst_rect,
                transform,
                filter: Some(if linear { Filter::Linear } else { Filter::Nearest }),
            });
            prop_assert!(plan.is_ok());
            let plan = plan.unwrap();
            let inside = |x: usize, y: usize| {
                (s.0..s.0 + s.2).contains(&(x as i32)) && (s.1..s.1 + s.3).contains(&(y as i32))
            };
            for y in d.1..d.1 + d.3 {
                for x in d.0..d.0 + d.2 {
                    let c = plan.src_coord(Point::new(x as f32 + 0.5, y as f32 + 0.5));
                    let (nx, ny) = nearest_texel(c, src_rect);
                    prop_assert!(inside(nx, ny));
                    let (x0, x1, _) = taps(c.x, s.0, s.2);
                    let (y0, y1, _) = taps(c.y, s.1, s.3);
                    prop_assert!(inside(x0, y0) && inside(x1, y1));
                }
            }
            let src: Vec<u32> = (0..src_size.0 * src_size.1).map(|i| seed.wrapping_mul(i as u32 + 1)).collect();
            let out = run(&src, src_size.0, ARGB, dst_size, |r| {
                r.src_rect = src_rect;
                r.dst_rect = dst_rect;
                r.transform = transform;
                r.filter = Some(if linear { Filter::Linear } else { Filter::Nearest });
            });
            for (i, pixel) in out.iter().enumerate() {
                let (x, y) = (i as i32 % dst_size.0, i as i32 / dst_size.0);
                let written = (d.0..d.0 + d.2).contains(&x) && (d.1..d.1 + d.3).contains(&y);
                prop_assert!(written || *pixel == Z, "({}, {}) touched", x, y);
            }
        }
    }
}
