//! What `dmabridge capture` does to a captured buffer once the compositor
//! has filled it, without Wayland: undo the y-inversion and the transform
//! the compositor reported, crop the region, scale, and drop to 8-bit RGB.
//!
//! The rule: every pixel operation goes through the crate's CPU reference
//! copy ([`dmabridge::copy::reference`]), the definition the GPU path is
//! tested against, so the transform convention and the bilinear filter
//! are the crate's and not a second copy of them. Only the row flip of
//! wlr-screencopy's `y_invert` and the final byte shuffle are written here.
//!
//! Coordinates of `--region` are in the upright image, the one written to
//! the file before scaling.

use std::borrow::Cow;
use std::io::Write;

use anyhow::{Context, bail};
use drm_fourcc::DrmFourcc;

use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
use dmabridge::copy::{Buffer, CopyPlan, CopyRequest, Dest, Filter, Point, Rect, Size, Transform};

/// The format every intermediate image is kept in: bytes R, G, B, X, so
/// that RGB is its first three bytes.
const UPRIGHT: DrmFourcc = DrmFourcc::Xbgr8888;

/// A rectangle asked for with `--region "X,Y WxH"`, in pixels of the
/// upright captured image; not yet clipped to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Region {
    pub(super) x: i32,
    pub(super) y: i32,
    pub(super) width: i32,
    pub(super) height: i32,
}

/// Parses `X,Y WxH` (grim's `-g` syntax): X and Y may be negative, W and H
/// are at least 1; any whitespace between the two halves.
pub(super) fn parse_region(s: &str) -> Result<Region, String> {
    const SYNTAX: &str = "expected \"X,Y WxH\"";
    let (at, size) = s.trim().split_once(char::is_whitespace).ok_or(SYNTAX)?;
    let (x, y) = at.split_once(',').ok_or(SYNTAX)?;
    let (width, height) = size.trim().split_once('x').ok_or(SYNTAX)?;
    let int = |v: &str| v.trim().parse::<i32>().map_err(|e| format!("{v:?}: {e}"));
    let region = Region {
        x: int(x)?,
        y: int(y)?,
        width: int(width)?,
        height: int(height)?,
    };
    if region.width < 1 || region.height < 1 {
        return Err("a region is at least 1x1".into());
    }
    Ok(region)
}

/// `region` clipped to a `width × height` image, or `None` where nothing of
/// it is left.
pub(super) fn clip(region: Region, width: i32, height: i32) -> Option<Rect<i32, Buffer>> {
    // In i64: x + width cannot overflow.
    let left = i64::from(region.x).max(0);
    let top = i64::from(region.y).max(0);
    let right = (i64::from(region.x) + i64::from(region.width)).min(i64::from(width));
    let bottom = (i64::from(region.y) + i64::from(region.height)).min(i64::from(height));
    if left >= right || top >= bottom {
        return None;
    }
    // All four now lie within 0 ..= the image's i32 size.
    let int = |v: i64| i32::try_from(v).expect("clipped to the image");
    Some(Rect::new(
        Point::new(int(left), int(top)),
        Size::new(int(right - left), int(bottom - top)),
    ))
}

/// A buffer as the compositor filled it.
#[derive(Debug, Clone)]
pub(super) struct Captured<'a> {
    /// ARGB8888, XRGB8888, ABGR8888 or XBGR8888.
    pub(super) format: DrmFourcc,
    pub(super) width: u32,
    pub(super) height: u32,
    /// Bytes from one row to the next.
    pub(super) stride: usize,
    pub(super) bytes: Cow<'a, [u8]>,
}

/// Reverses the order of the rows of a `height`-row image, a row every
/// `stride` bytes (wlr-screencopy's `y_invert` flag).
pub(super) fn flip_rows(bytes: &mut [u8], stride: usize, height: usize) {
    for top in 0..height / 2 {
        let bottom = height - 1 - top;
        let (upper, lower) = bytes.split_at_mut(bottom * stride);
        upper[top * stride..(top + 1) * stride].swap_with_slice(&mut lower[..stride]);
    }
}

/// What to do to a [`Captured`] buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Finish {
    /// The transform the compositor applied to the content (the ext frame's
    /// `transform` event, or the output's transform for wlr-screencopy);
    /// its inverse makes the image upright.
    pub(super) transform: Transform,
    /// The part of the upright image kept.
    pub(super) region: Option<Region>,
    /// The factor the kept part is scaled by, bilinearly.
    pub(super) scale: Option<f64>,
}

impl Finish {
    /// Whether the picture is kept as it came: upright, whole, unscaled.
    pub(super) fn is_plain(&self) -> bool {
        self.transform == Transform::Normal && self.region.is_none() && self.scale.is_none()
    }
}

/// An 8-bit RGB image, rows tightly packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rgb {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) pixels: Vec<u8>,
}

/// `u32` to `i32` for an image dimension.
fn dim(v: u32) -> anyhow::Result<i32> {
    i32::try_from(v).with_context(|| format!("image dimension {v} is too large"))
}

/// The dimension `v` as an index.
fn index(v: i32) -> usize {
    usize::try_from(v).expect("validated sizes are positive")
}

/// Runs one reference copy from `src` into a new UPRIGHT image of `dst`.
fn copy(request: CopyRequest, src: &ImageView<'_>) -> anyhow::Result<(Size<i32, Dest>, Vec<u8>)> {
    let plan = CopyPlan::new(request).context("planning the copy")?;
    let size = request.dst_size;
    let stride = index(size.w) * 4;
    let mut bytes = vec![0; stride * index(size.h)];
    let mut dst = ImageViewMut::packed(UPRIGHT, size, &mut bytes, stride)?;
    reference::copy(&plan, src, &mut dst)?;
    Ok((size, bytes))
}

/// The finished RGB image of `captured`: upright, cropped, scaled.
pub(super) fn finish(captured: &Captured<'_>, finish: Finish) -> anyhow::Result<Rgb> {
    let src_size = Size::<i32, Buffer>::new(dim(captured.width)?, dim(captured.height)?);
    let src = ImageView::packed(captured.format, src_size, &captured.bytes, captured.stride)
        .context("reading the captured buffer")?;
    // Upright, and in UPRIGHT's byte order, whatever the buffer's format.
    let undo = finish.transform.invert();
    if finish.is_plain() {
        let mut pixels = Vec::with_capacity(captured.width as usize * captured.height as usize * 3);
        let rows = plain_rows(captured, |row| {
            pixels.extend_from_slice(row);
            Ok(())
        });
        if rows.is_some() {
            return Ok(Rgb {
                width: captured.width,
                height: captured.height,
                pixels,
            });
        }
    }
    let (mut size, mut bytes) = copy(upright_request(src_size, undo), &src)?;
    if finish.region.is_some() || finish.scale.is_some() {
        let (kept, out) = finished_size(size.w, size.h, &finish)?;
        let filter = (out.w != kept.size.w || out.h != kept.size.h).then_some(Filter::Linear);
        let from = Size::<i32, Buffer>::new(size.w, size.h);
        let view = ImageView::packed(UPRIGHT, from, &bytes, index(size.w) * 4)?;
        (size, bytes) = copy(
            CopyRequest {
                src_size: from,
                dst_size: out,
                src_rect: kept,
                dst_rect: Rect::new(Point::new(0, 0), out),
                transform: Transform::Normal,
                filter,
            },
            &view,
        )
        .context("scaling the image")?;
    }
    let mut pixels = vec![0; bytes.len() / 4 * 3];
    for (rgb, pixel) in pixels.chunks_exact_mut(3).zip(bytes.chunks_exact(4)) {
        rgb.copy_from_slice(&pixel[..3]);
    }
    Ok(Rgb {
        width: size.w.unsigned_abs(),
        height: size.h.unsigned_abs(),
        pixels,
    })
}

/// The copy of a whole buffer of `src_size` into an upright picture: its
/// content turned by `undo`, the inverse of the compositor's transform.
pub(super) fn upright_request(src_size: Size<i32, Buffer>, undo: Transform) -> CopyRequest {
    let upright = undo.transformed_size(src_size);
    CopyRequest {
        src_size,
        dst_size: Size::new(upright.w, upright.h),
        src_rect: Rect::new(Point::new(0, 0), src_size),
        dst_rect: Rect::new(Point::new(0, 0), Size::new(upright.w, upright.h)),
        transform: undo,
        filter: None,
    }
}

/// The part of a `width × height` upright picture that `finish` keeps
/// (its region, clipped), and the size that part is scaled to.
pub(super) fn finished_size(
    width: i32,
    height: i32,
    finish: &Finish,
) -> anyhow::Result<(Rect<i32, Buffer>, Size<i32, Dest>)> {
    let kept = match finish.region {
        Some(region) => clip(region, width, height).with_context(|| {
            format!(
                "region {},{} {}x{} lies outside the {}x{} image",
                region.x, region.y, region.width, region.height, width, height
            )
        })?,
        None => Rect::new(Point::new(0, 0), Size::new(width, height)),
    };
    let scale = finish.scale.unwrap_or(1.0);
    // At least one pixel; a size past i32 saturates, and the plan refuses
    // it as larger than MAX_EXTENT.
    let scaled = |v: i32| (f64::from(v) * scale).round().max(1.0) as i32;
    Ok((kept, Size::new(scaled(kept.size.w), scaled(kept.size.h))))
}

/// The RGB rows of `captured`, top first, each handed to `row`, for the
/// common case of an upright buffer kept whole: a byte shuffle where the
/// reference copy would compute each pixel's source, with the same result
/// (colour channels kept as they are, premultiplied, as over black). `None`
/// for a format or layout this does not know, before any row.
fn plain_rows(
    captured: &Captured<'_>,
    mut row: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Option<std::io::Result<()>> {
    // Where R, G and B are in a pixel's four bytes (little-endian).
    let [r, g, b] = match captured.format {
        DrmFourcc::Xrgb8888 | DrmFourcc::Argb8888 => [2, 1, 0],
        DrmFourcc::Xbgr8888 | DrmFourcc::Abgr8888 => [0, 1, 2],
        _ => return None,
    };
    let (width, height) = (captured.width as usize, captured.height as usize);
    let stride = captured.stride;
    let needed = (stride * height.saturating_sub(1)).checked_add(width * 4)?;
    if stride < width * 4 || captured.bytes.len() < needed {
        return None;
    }
    let mut out = vec![0; width * 3];
    for line in captured.bytes.chunks(stride).take(height) {
        for (rgb, pixel) in out
            .chunks_exact_mut(3)
            .zip(line[..width * 4].chunks_exact(4))
        {
            rgb.copy_from_slice(&[pixel[r], pixel[g], pixel[b]]);
        }
        if let Err(err) = row(&out) {
            return Some(Err(err));
        }
    }
    Some(Ok(()))
}

/// Writes `captured` as a binary PPM straight from its buffer, a row at a
/// time, when `finish` keeps it as it came; `None` otherwise (then
/// [`finish`] and [`write_ppm`]).
pub(super) fn stream_ppm(
    mut out: impl Write,
    captured: &Captured<'_>,
    finish: &Finish,
) -> Option<std::io::Result<()>> {
    if !finish.is_plain() {
        return None;
    }
    let header = format!("P6\n{} {}\n255\n", captured.width, captured.height);
    let mut started = false;
    let written = plain_rows(captured, |row| {
        if !started {
            out.write_all(header.as_bytes())?;
            started = true;
        }
        out.write_all(row)
    })?;
    Some(written.and_then(|()| out.flush()))
}

/// Writes `image` as an 8-bit RGB PNG.
pub(super) fn write_png(out: impl Write, image: &Rgb) -> anyhow::Result<()> {
    let mut encoder = png::Encoder::new(out, image.width, image.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&image.pixels)?;
    writer.finish()?;
    Ok(())
}

/// Writes `image` as a binary PPM (netpbm's P6, maxval 255).
pub(super) fn write_ppm(mut out: impl Write, image: &Rgb) -> std::io::Result<()> {
    write!(out, "P6\n{} {}\n255\n", image.width, image.height)?;
    out.write_all(&image.pixels)?;
    out.flush()
}

/// Checks a `--scale` factor: finite and above zero.
pub(super) fn parse_scale(s: &str) -> Result<f64, String> {
    let scale: f64 = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err("a scale is a number above 0".into());
    }
    Ok(scale)
}

/// Refuses a buffer the compositor described with a stride too small for its
/// width or a size that does not fit in memory.
pub(super) fn buffer_len(width: u32, height: u32, stride: u32) -> anyhow::Result<usize> {
    if width == 0 || height == 0 {
        bail!("the compositor asked for a {width}x{height} buffer, which holds no pixel");
    }
    if u64::from(stride) < u64::from(width) * 4 {
        bail!("the compositor asked for stride {stride}, less than {width} pixels of 4 bytes");
    }
    let len = u64::from(stride) * u64::from(height);
    usize::try_from(len)
        .ok()
        .filter(|&len| i32::try_from(len).is_ok())
        .with_context(|| format!("a {width}x{height} buffer of stride {stride} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(x: i32, y: i32, width: i32, height: i32) -> Region {
        Region {
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn regions_parse_as_grim_writes_them_and_bad_ones_say_why() {
        assert_eq!(parse_region("10,20 30x40"), Ok(region(10, 20, 30, 40)));
        assert_eq!(parse_region(" -5,0   7x1 "), Ok(region(-5, 0, 7, 1)));
        assert!(parse_region("10,20").is_err());
        assert!(parse_region("10 20 30x40").is_err());
        assert!(parse_region("10,20 30").is_err());
        assert!(parse_region("10,20 0x40").is_err());
        assert!(parse_region("10,20 -3x40").is_err());
        assert!(parse_region("a,20 30x40").unwrap_err().contains("\"a\""));
    }

    #[test]
    fn scales_above_zero_parse_and_others_are_refused() {
        assert_eq!(parse_scale("0.5"), Ok(0.5));
        assert_eq!(parse_scale("2"), Ok(2.0));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(parse_scale(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_region_is_clipped_to_the_image_and_one_outside_is_none() {
        let rect = |x, y, w, h| Rect::new(Point::new(x, y), Size::new(w, h));
        assert_eq!(clip(region(1, 2, 3, 4), 10, 10), Some(rect(1, 2, 3, 4)));
        assert_eq!(clip(region(-2, -3, 5, 5), 10, 10), Some(rect(0, 0, 3, 2)));
        assert_eq!(clip(region(8, 9, 5, 5), 10, 10), Some(rect(8, 9, 2, 1)));
        assert_eq!(clip(region(10, 0, 5, 5), 10, 10), None);
        assert_eq!(clip(region(-5, 0, 5, 5), 10, 10), None);
        assert_eq!(
            clip(region(i32::MAX, i32::MAX, i32::MAX, i32::MAX), 10, 10),
            None
        );
    }

    #[test]
    fn flipping_rows_reverses_them_and_keeps_the_padding_past_the_width() {
        // Three rows of stride 3 (two pixel bytes and one padding byte each).
        let mut bytes = vec![1, 2, 0, 3, 4, 0, 5, 6, 9];
        flip_rows(&mut bytes, 3, 3);
        assert_eq!(bytes, [5, 6, 9, 3, 4, 0, 1, 2, 0]);
        let mut even = vec![1, 2, 3, 4];
        flip_rows(&mut even, 2, 2);
        assert_eq!(even, [3, 4, 1, 2]);
        let mut single = vec![7, 8];
        flip_rows(&mut single, 2, 1);
        assert_eq!(single, [7, 8]);
    }

    /// A one-row capture of `pixels` (each four bytes as stored) in
    /// `format`, with a stride of one extra pixel of junk.
    fn captured(format: DrmFourcc, pixels: &[[u8; 4]]) -> Captured<'static> {
        let mut bytes: Vec<u8> = pixels.iter().flatten().copied().collect();
        bytes.extend([0xee; 4]);
        Captured {
            format,
            width: pixels.len() as u32,
            height: 1,
            stride: bytes.len(),
            bytes: bytes.into(),
        }
    }

    const AS_IS: Finish = Finish {
        transform: Transform::Normal,
        region: None,
        scale: None,
    };

    #[test]
    fn all_four_formats_convert_to_rgb_by_their_little_endian_byte_order() {
        // R 0x11, G 0x22, B 0x33 in each format's byte order; the fourth
        // byte (alpha or padding) is dropped.
        let cases = [
            (DrmFourcc::Xrgb8888, [0x33, 0x22, 0x11, 0x00]),
            (DrmFourcc::Argb8888, [0x33, 0x22, 0x11, 0xff]),
            (DrmFourcc::Xbgr8888, [0x11, 0x22, 0x33, 0x7f]),
            (DrmFourcc::Abgr8888, [0x11, 0x22, 0x33, 0xff]),
        ];
        for (format, stored) in cases {
            let rgb = finish(&captured(format, &[stored, stored]), AS_IS).expect("converts");
            assert_eq!((rgb.width, rgb.height), (2, 1), "{format}");
            assert_eq!(rgb.pixels, [0x11, 0x22, 0x33, 0x11, 0x22, 0x33], "{format}");
        }
    }

    /// A `w × h` XBGR8888 capture whose pixel at (x, y) has red x, green y.
    fn ramp(w: u32, h: u32) -> Captured<'static> {
        let bytes: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| [x as u8, y as u8, 0, 0]))
            .collect();
        Captured {
            format: DrmFourcc::Xbgr8888,
            width: w,
            height: h,
            stride: w as usize * 4,
            bytes: bytes.into(),
        }
    }

    /// (red, green) of each pixel of `rgb`, row by row.
    fn coords(rgb: &Rgb) -> Vec<(u8, u8)> {
        rgb.pixels.chunks_exact(3).map(|p| (p[0], p[1])).collect()
    }

    #[test]
    fn a_region_crops_the_upright_image_clipped_at_its_edges() {
        let rgb = finish(
            &ramp(4, 3),
            Finish {
                region: Some(region(2, 1, 5, 5)),
                ..AS_IS
            },
        )
        .expect("crops");
        assert_eq!((rgb.width, rgb.height), (2, 2));
        assert_eq!(coords(&rgb), [(2, 1), (3, 1), (2, 2), (3, 2)]);
    }

    #[test]
    fn a_region_outside_the_image_is_an_error() {
        let err = finish(
            &ramp(4, 3),
            Finish {
                region: Some(region(4, 0, 1, 1)),
                ..AS_IS
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("outside the 4x3 image"), "{err}");
    }

    #[test]
    fn a_transformed_buffer_is_turned_upright_before_the_region_applies() {
        // The compositor turned the content 90° counter-clockwise: the 3×2
        // buffer shows a 2×3 upright image turned. Undoing it gives back
        // the upright image, which the region then addresses.
        let turned = ramp(3, 2);
        let rgb = finish(
            &turned,
            Finish {
                transform: Transform::_90,
                ..AS_IS
            },
        )
        .expect("turns");
        assert_eq!((rgb.width, rgb.height), (2, 3));
        // Upright pixel (x, y) is buffer pixel (y, 1 − x): the upright
        // top-left ended at the buffer's bottom-left.
        assert_eq!(
            coords(&rgb),
            [(0, 1), (0, 0), (1, 1), (1, 0), (2, 1), (2, 0)]
        );
        let cropped = finish(
            &turned,
            Finish {
                transform: Transform::_90,
                region: Some(region(1, 2, 1, 1)),
                scale: None,
            },
        )
        .expect("crops");
        assert_eq!(coords(&cropped), [(2, 0)]);
    }

    #[test]
    fn scaling_resizes_with_rounding_and_keeps_flat_colour_flat() {
        let flat = Captured {
            bytes: [0x10, 0x80, 0xf0, 0].repeat(6).into(),
            ..ramp(3, 2)
        };
        let rgb = finish(
            &flat,
            Finish {
                scale: Some(1.5),
                ..AS_IS
            },
        )
        .expect("scales");
        // 3 × 1.5 = 4.5 → 5 (rounded half away from zero), 2 × 1.5 = 3.
        assert_eq!((rgb.width, rgb.height), (5, 3));
        assert!(rgb.pixels.chunks_exact(3).all(|p| p == [0x10, 0x80, 0xf0]));
        let tiny = finish(
            &flat,
            Finish {
                scale: Some(0.01),
                ..AS_IS
            },
        )
        .expect("scales");
        assert_eq!((tiny.width, tiny.height), (1, 1), "never below one pixel");
    }

    #[test]
    fn ppm_is_a_p6_header_and_the_rgb_bytes() {
        let rgb = Rgb {
            width: 2,
            height: 1,
            pixels: vec![1, 2, 3, 4, 5, 6],
        };
        let mut out = Vec::new();
        write_ppm(&mut out, &rgb).expect("writes");
        assert_eq!(out, b"P6\n2 1\n255\n\x01\x02\x03\x04\x05\x06");
    }

    #[test]
    fn an_upright_whole_image_streams_as_ppm_row_by_row_without_padding() {
        let mut captured = ramp(5, 3);
        // A padded stride: two bytes after each row's pixels.
        let padded: Vec<u8> = captured
            .bytes
            .chunks(20)
            .flat_map(|row| row.iter().copied().chain([0xaa, 0xbb]))
            .collect();
        captured.bytes = padded.into();
        captured.stride = 22;
        let mut streamed = Vec::new();
        stream_ppm(&mut streamed, &captured, &AS_IS)
            .expect("an upright image kept whole streams")
            .expect("writes");
        // The ramp's pixel (x, y) is red x, green y; the padding is gone.
        let mut want = b"P6\n5 3\n255\n".to_vec();
        want.extend((0..3u8).flat_map(|y| (0..5u8).flat_map(move |x| [x, y, 0])));
        assert_eq!(streamed, want);
        let turned = Finish {
            transform: Transform::_90,
            ..AS_IS
        };
        assert!(stream_ppm(Vec::new(), &captured, &turned).is_none());
    }

    #[test]
    fn buffers_with_short_strides_or_no_pixels_are_refused() {
        assert_eq!(buffer_len(4, 2, 16).ok(), Some(32));
        assert_eq!(buffer_len(4, 2, 20).ok(), Some(40));
        assert!(buffer_len(4, 2, 15).is_err());
        assert!(buffer_len(0, 2, 16).is_err());
        assert!(buffer_len(65536, 65536, 262144).is_err());
    }
}
