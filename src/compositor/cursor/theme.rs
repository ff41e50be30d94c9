//! The images of named cursors (`CursorImageStatus::Named`, which
//! `wp_cursor_shape_device_v1.set_shape` sets): the xcursor theme that
//! `XCURSOR_THEME` names (default `default`, which Debian points at
//! Adwaita) at `XCURSOR_SIZE` pixels (default 24).
//!
//! * **Lazy.** The theme is looked up, and each icon's file read, the first
//!   time a cursor of that icon is needed; an image, once made, is kept.
//! * **Names.** cursor-icon's CSS name first (`text`), then the legacy X
//!   names (`xterm`, `ibeam`), the order libXcursor users (winit, wlroots)
//!   try them in. An icon the theme lacks takes the theme's `default`.
//! * **A built-in arrow** stands in where the theme has not even that (no
//!   theme installed); that is logged once.
//! * **Pixels** are ARGB8888, premultiplied: xcursor files store each pixel
//!   as a little-endian `0xAARRGGBB` word with premultiplied colour, so
//!   their bytes (B, G, R, A) are DRM's ARGB8888 as they are. (The xcursor
//!   crate names that file order `pixels_rgba`.)
//! * The image whose nominal size is nearest the one asked for is used; of
//!   an animated cursor, its first frame.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::element::memory::MemoryRenderBuffer;
use smithay::input::pointer::CursorIcon;
use smithay::utils::{Buffer as BufferCoord, Point, Size, Transform};
use tracing::{debug, info};

/// The nominal size when `XCURSOR_SIZE` is unset or not a size.
const DEFAULT_SIZE: u32 = 24;

/// One named cursor's image.
#[derive(Debug)]
pub(crate) struct ThemeImage {
    /// Its size in pixels.
    pub(crate) size: Size<i32, BufferCoord>,
    /// The hotspot, from the image's top left.
    pub(crate) hotspot: Point<i32, BufferCoord>,
    /// The pixels, ready for the renderer.
    pub(crate) buffer: MemoryRenderBuffer,
}

/// Pixels of an image, before they go to the renderer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pixels {
    size: (u32, u32),
    hotspot: (u32, u32),
    /// ARGB8888, premultiplied, rows packed.
    argb: Vec<u8>,
}

/// The cursor theme, and the images made from it so far.
#[derive(Debug)]
pub(crate) struct CursorTheme {
    name: String,
    size: u32,
    theme: OnceCell<xcursor::CursorTheme>,
    images: RefCell<HashMap<CursorIcon, Rc<ThemeImage>>>,
    /// Whether the built-in arrow's use was logged.
    fallback_logged: Cell<bool>,
}

impl CursorTheme {
    /// The theme `XCURSOR_THEME` and `XCURSOR_SIZE` name; nothing is read
    /// yet.
    pub(crate) fn from_env() -> Self {
        let name = std::env::var("XCURSOR_THEME")
            .ok()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let size = std::env::var("XCURSOR_SIZE")
            .ok()
            .and_then(|size| size.parse().ok())
            .filter(|&size| size > 0)
            .unwrap_or(DEFAULT_SIZE);
        Self {
            name,
            size,
            theme: OnceCell::new(),
            images: RefCell::new(HashMap::new()),
            fallback_logged: Cell::new(false),
        }
    }

    /// The image of `icon`: the theme's, its `default`, or the built-in
    /// arrow.
    pub(crate) fn image(&self, icon: CursorIcon) -> Rc<ThemeImage> {
        if let Some(image) = self.images.borrow().get(&icon) {
            return Rc::clone(image);
        }
        let pixels = self
            .load(icon)
            .or_else(|| self.load(CursorIcon::Default))
            .unwrap_or_else(|| {
                if !self.fallback_logged.replace(true) {
                    info!(
                        theme = %self.name,
                        "no xcursor theme found: named cursors are a built-in arrow"
                    );
                }
                arrow(self.size)
            });
        let image = Rc::new(ThemeImage::from(pixels));
        self.images.borrow_mut().insert(icon, Rc::clone(&image));
        image
    }

    /// `icon`'s image from the theme's files, if the theme has one.
    fn load(&self, icon: CursorIcon) -> Option<Pixels> {
        let theme = self
            .theme
            .get_or_init(|| xcursor::CursorTheme::load(&self.name));
        let path = std::iter::once(icon.name())
            .chain(icon.alt_names().iter().copied())
            .find_map(|name| theme.load_icon(name))?;
        let bytes = std::fs::read(&path)
            .inspect_err(|err| debug!(%err, path = %path.display(), "cannot read a cursor"))
            .ok()?;
        let pixels = nearest(&bytes, self.size);
        if pixels.is_none() {
            debug!(path = %path.display(), "not an xcursor file");
        }
        pixels
    }
}

impl From<Pixels> for ThemeImage {
    fn from(pixels: Pixels) -> Self {
        let size = Size::from((pixels.size.0 as i32, pixels.size.1 as i32));
        Self {
            size,
            hotspot: Point::from((pixels.hotspot.0 as i32, pixels.hotspot.1 as i32)),
            buffer: MemoryRenderBuffer::from_slice(
                &pixels.argb,
                DrmFourcc::Argb8888,
                size,
                1,
                Transform::Normal,
                None,
            ),
        }
    }
}

/// Of the images in the xcursor file `bytes`, the first whose nominal
/// size is nearest `size`.
fn nearest(bytes: &[u8], size: u32) -> Option<Pixels> {
    let images = xcursor::parser::parse_xcursor(bytes)?;
    let image = images
        .into_iter()
        .min_by_key(|image| image.size.abs_diff(size))?;
    Some(Pixels {
        size: (image.width, image.height),
        hotspot: (image.xhot, image.yhot),
        argb: image.pixels_rgba,
    })
}

/// The built-in arrow for a nominal `size`: a black triangle with a white
/// outline, its tip (the hotspot) at the top left.
fn arrow(size: u32) -> Pixels {
    let height = (size * 3 / 4).max(4);
    let width = height * 2 / 3 + 1;
    let inside = |x: i64, y: i64| x >= 0 && y >= 0 && y < i64::from(height) && 3 * x <= 2 * y;
    let mut argb = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..i64::from(height) {
        for x in 0..i64::from(width) {
            let edge =
                !(inside(x - 1, y) && inside(x + 1, y) && inside(x, y - 1) && inside(x, y + 1));
            let pixel = match (inside(x, y), edge) {
                (false, _) => [0, 0, 0, 0],
                (true, true) => [255, 255, 255, 255],
                (true, false) => [0, 0, 0, 255],
            };
            argb.extend_from_slice(&pixel);
        }
    }
    Pixels {
        size: (width, height),
        hotspot: (0, 0),
        argb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One image of a test's xcursor file, filled with one pixel word.
    struct Entry {
        nominal: u32,
        size: (u32, u32),
        hotspot: (u32, u32),
        pixel: u32,
    }

    fn entry(nominal: u32, size: (u32, u32), hotspot: (u32, u32), pixel: u32) -> Entry {
        Entry {
            nominal,
            size,
            hotspot,
            pixel,
        }
    }

    /// An xcursor file holding `images`.
    fn xcursor_file(images: &[Entry]) -> Vec<u8> {
        let words = |out: &mut Vec<u8>, words: &[u32]| {
            for word in words {
                out.extend_from_slice(&word.to_le_bytes());
            }
        };
        let mut file = Vec::new();
        // Header: magic, header size, version, table of contents length.
        file.extend_from_slice(b"Xcur");
        words(&mut file, &[16, 0x1_0000, images.len() as u32]);
        let mut position = 16 + 12 * images.len() as u32;
        for image in images {
            // Type (image), subtype (nominal size), position.
            words(&mut file, &[0xfffd_0002, image.nominal, position]);
            position += 36 + 4 * image.size.0 * image.size.1;
        }
        for image in images {
            let ((width, height), (x, y)) = (image.size, image.hotspot);
            let header = [36, 0xfffd_0002, image.nominal, 1, width, height, x, y, 0];
            words(&mut file, &header);
            words(&mut file, &vec![image.pixel; (width * height) as usize]);
        }
        file
    }

    #[test]
    fn xcursor_pixels_are_argb8888_bytes_as_stored() {
        // Half-transparent red, premultiplied: 0x80800000.
        let file = xcursor_file(&[entry(24, (2, 3), (1, 2), 0x8080_0000)]);
        let pixels = nearest(&file, 24).expect("a valid file");
        assert_eq!(pixels.size, (2, 3));
        assert_eq!(pixels.hotspot, (1, 2));
        // B, G, R, A.
        assert_eq!(&pixels.argb[..4], &[0x00, 0x00, 0x80, 0x80]);
        assert_eq!(pixels.argb.len(), 2 * 3 * 4);
    }

    #[test]
    fn the_nominal_size_nearest_the_one_asked_for_is_used() {
        let file = xcursor_file(&[
            entry(24, (24, 24), (4, 4), 0xff00_0000),
            entry(32, (32, 32), (5, 5), 0xff00_0000),
            entry(48, (48, 48), (8, 8), 0xff00_0000),
        ]);
        assert_eq!(nearest(&file, 24).unwrap().size, (24, 24));
        assert_eq!(nearest(&file, 30).unwrap().hotspot, (5, 5));
        assert_eq!(nearest(&file, 64).unwrap().size, (48, 48));
        assert_eq!(nearest(b"not a cursor", 24), None);
    }

    #[test]
    fn the_built_in_arrow_is_opaque_at_its_tip_and_outlined() {
        let arrow = arrow(24);
        assert_eq!(arrow.size, (13, 18));
        assert_eq!(arrow.hotspot, (0, 0));
        let pixel = |x: u32, y: u32| {
            let at = ((y * arrow.size.0 + x) * 4) as usize;
            [
                arrow.argb[at],
                arrow.argb[at + 1],
                arrow.argb[at + 2],
                arrow.argb[at + 3],
            ]
        };
        // The tip and the left edge are white, the inside black, the top
        // right transparent.
        assert_eq!(pixel(0, 0), [255; 4]);
        assert_eq!(pixel(0, 10), [255; 4]);
        assert_eq!(pixel(3, 10), [0, 0, 0, 255]);
        assert_eq!(pixel(12, 0), [0; 4]);
    }
}
