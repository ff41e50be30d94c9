//! The renderer (`render::VulkanRenderer`) driven by smithay's
//! `OutputDamageTracker`, on lavapipe on the build host, into an offscreen
//! ARGB8888 texture that is read back and compared with pixels computed
//! here.
//!
//! Tolerance, per 8-bit channel: exact for solid fills and for textures
//! drawn 1:1 or scaled with the nearest filter; ±1 where colours blend (the
//! shader blends in `f32`, the expectation is computed in `f64`).
//!
//! A failed comparison writes `<name>-actual.png` and `<name>-expected.png`
//! under `target/render-failures/` (`$CARGO_TARGET_DIR` when set). Every
//! test ends by checking that the validation layer reported no error.

#[path = "support/vulkan.rs"]
mod fixture;

use std::path::PathBuf;
use std::sync::Arc;

use std::os::fd::{AsFd, OwnedFd};

use dmabridge::render::{ShmPool, ShmUpload, VulkanRenderer, VulkanTexture};
use smithay::backend::allocator::Fourcc;
use smithay::backend::renderer::damage::OutputDamageTracker;
use smithay::backend::renderer::element::memory::{
    MemoryRenderBuffer, MemoryRenderBufferRenderElement,
};
use smithay::backend::renderer::element::solid::SolidColorRenderElement;
use smithay::backend::renderer::element::texture::{TextureBuffer, TextureRenderElement};
use smithay::backend::renderer::element::{Id, Kind, render_elements};
use smithay::backend::renderer::utils::CommitCounter;
use smithay::backend::renderer::{
    Bind, Color32F, ImportMem, Offscreen, Renderer, Texture, TextureFilter,
};
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::reexports::wayland_server::protocol::wl_shm;
use smithay::utils::user_data::UserDataMap;
use smithay::utils::{Logical, Physical, Point, Rectangle, Size, Transform};
use smithay::wayland::shm::BufferData;

render_elements! {
    Element<=VulkanRenderer>;
    Solid=SolidColorRenderElement,
    Memory=MemoryRenderBufferRenderElement<VulkanRenderer>,
    Texture=TextureRenderElement<VulkanTexture>,
}

/// The output, in pixels.
const W: i32 = 16;
const H: i32 = 12;

/// A pixel as the ARGB8888 framebuffer stores it: B, G, R, A.
type Pixel = [u8; 4];

/// Opaque blue, the clear colour.
const BLUE: Pixel = [255, 0, 0, 255];
const CLEAR: Color32F = Color32F::new(0.0, 0.0, 1.0, 1.0);

/// Stored where a test checks that nothing was written.
const SENTINEL: Pixel = [0xa5, 0x5a, 0x3c, 0xc3];

/// An image: rows of pixels.
type Image = Vec<Vec<Pixel>>;

/// Runs `f` with a renderer on lavapipe.
fn on_renderer(f: impl FnOnce(&mut VulkanRenderer)) {
    fixture::on_device(|device| {
        let mut renderer = VulkanRenderer::new(Arc::clone(device)).expect("creating the renderer");
        f(&mut renderer);
    });
}

/// A new W×H ARGB8888 offscreen target.
fn target(renderer: &mut VulkanRenderer) -> VulkanTexture {
    renderer
        .create_buffer(Fourcc::Argb8888, (W, H).into())
        .expect("creating the target")
}

/// Renders `elements` into `target` with `tracker` at buffer age `age`;
/// the damage the tracker reported (`None`: nothing rendered) and whether
/// the sync point holds a fence.
fn render(
    renderer: &mut VulkanRenderer,
    tracker: &mut OutputDamageTracker,
    target: &mut VulkanTexture,
    age: usize,
    elements: &[Element],
) -> (Option<Vec<Rectangle<i32, Physical>>>, bool) {
    let mut framebuffer = renderer.bind(target).expect("binding the target");
    let result = tracker
        .render_output(renderer, &mut framebuffer, age, elements, CLEAR)
        .expect("rendering");
    let fenced = result.sync.contains_fence();
    result.sync.wait().expect("waiting for the frame");
    (result.damage.cloned(), fenced)
}

/// The target's pixels.
fn read(renderer: &mut VulkanRenderer, target: &VulkanTexture) -> Image {
    let bytes = renderer.read_pixels(target).expect("reading back");
    assert_eq!(bytes.len(), (W * H * 4) as usize, "tightly packed rows");
    bytes
        .chunks_exact(W as usize * 4)
        .map(|row| row.chunks_exact(4).map(|p| p.try_into().unwrap()).collect())
        .collect()
}

/// Fills the target with [`SENTINEL`].
fn fill_sentinel(renderer: &mut VulkanRenderer, target: &VulkanTexture) {
    let bytes: Vec<u8> = SENTINEL.repeat((W * H) as usize);
    renderer
        .update_memory(target, &bytes, Rectangle::from_size((W, H).into()))
        .expect("filling the target");
}

/// An image of the clear colour.
fn cleared() -> Image {
    vec![vec![BLUE; W as usize]; H as usize]
}

fn failure_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("render-failures")
}

/// Writes `image` as an RGBA PNG.
fn write_png(path: &std::path::Path, image: &Image) {
    let file = std::fs::File::create(path).expect("creating a PNG");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), W as u32, H as u32);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let rgba: Vec<u8> = image
        .iter()
        .flatten()
        .flat_map(|&[b, g, r, a]| [r, g, b, a])
        .collect();
    encoder
        .write_header()
        .and_then(|mut w| w.write_image_data(&rgba))
        .expect("writing a PNG");
}

/// Compares every pixel within `tolerance` per channel; on a difference
/// writes both images and fails.
fn compare(name: &str, actual: &Image, expected: &Image, tolerance: u8) {
    let off: Vec<(usize, usize)> = (0..H as usize)
        .flat_map(|y| (0..W as usize).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            actual[y][x]
                .iter()
                .zip(expected[y][x])
                .any(|(&a, e)| a.abs_diff(e) > tolerance)
        })
        .collect();
    if off.is_empty() {
        return;
    }
    let dir = failure_dir();
    std::fs::create_dir_all(&dir).expect("creating the failure directory");
    write_png(&dir.join(format!("{name}-actual.png")), actual);
    write_png(&dir.join(format!("{name}-expected.png")), expected);
    let (x, y) = off[0];
    panic!(
        "{name}: {} pixels differ by more than {tolerance}, first ({x}, {y}): {:?} instead of {:?}; images in {}",
        off.len(),
        actual[y][x],
        expected[y][x],
        dir.display()
    );
}

fn solid(rect: Rectangle<i32, Physical>, colour: Color32F) -> Element {
    Element::Solid(SolidColorRenderElement::new(
        Id::new(),
        rect,
        CommitCounter::default(),
        colour,
        Kind::Unspecified,
    ))
}

/// A memory texture of `pixels` (rows of B, G, R, A, premultiplied).
fn memory(pixels: &[Vec<Pixel>], transform: Transform) -> MemoryRenderBuffer {
    let size = (pixels[0].len() as i32, pixels.len() as i32);
    let bytes: Vec<u8> = pixels.iter().flatten().flatten().copied().collect();
    MemoryRenderBuffer::from_slice(&bytes, Fourcc::Argb8888, size, 1, transform, None)
}

/// An element at `at` showing `pixels` read as `format`, imported with
/// [`ImportMem`]; with `opaque`, its whole area is declared opaque, so the
/// renderer replaces what is under it. (smithay 0.7's memory element scales
/// the opaque region of a buffer turned by 90° by the wrong ratio, which
/// leaves pixels beside it neither cleared nor drawn; its texture element
/// carries the region through the buffer transform as surfaces do.)
fn imported_element(
    renderer: &mut VulkanRenderer,
    pixels: &[Vec<Pixel>],
    transform: Transform,
    format: Fourcc,
    opaque: bool,
    at: (i32, i32),
) -> Element {
    let size = (pixels[0].len() as i32, pixels.len() as i32);
    let bytes: Vec<u8> = pixels.iter().flatten().flatten().copied().collect();
    let opaque = opaque.then(|| vec![Rectangle::from_size(Size::from(size))]);
    let buffer =
        TextureBuffer::from_memory(renderer, &bytes, format, size, false, 1, transform, opaque)
            .expect("importing the texture");
    Element::Texture(TextureRenderElement::from_texture_buffer(
        Point::<f64, Physical>::from((f64::from(at.0), f64::from(at.1))),
        &buffer,
        None,
        None,
        None,
        Kind::Unspecified,
    ))
}

/// An element showing `buffer` at `at`, at `alpha`; when `scaled` is
/// given, its source rectangle (logical) shown at a size.
fn texture_element(
    renderer: &mut VulkanRenderer,
    buffer: &MemoryRenderBuffer,
    at: (i32, i32),
    alpha: Option<f32>,
    scaled: Option<(Rectangle<f64, Logical>, Size<i32, Logical>)>,
) -> Element {
    let (src, size) = (scaled.map(|s| s.0), scaled.map(|s| s.1));
    Element::Memory(
        MemoryRenderBufferRenderElement::from_buffer(
            renderer,
            Point::<f64, Physical>::from((f64::from(at.0), f64::from(at.1))),
            buffer,
            alpha,
            src,
            size,
            Kind::Unspecified,
        )
        .expect("importing the texture"),
    )
}

/// A 3×2 texture of six distinct opaque colours.
fn six() -> Vec<Vec<Pixel>> {
    vec![
        vec![[0, 0, 200, 255], [0, 200, 0, 255], [200, 0, 0, 255]],
        vec![[10, 20, 30, 255], [40, 50, 60, 255], [70, 80, 90, 255]],
    ]
}

#[test]
fn solid_fills_cover_exactly_their_rectangles() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let red = Rectangle::new((2, 3).into(), (5, 4).into());
        let green = Rectangle::new((6, 5).into(), (7, 6).into());
        // The first element is on top.
        let elements = [
            solid(green, Color32F::new(0.0, 1.0, 0.0, 1.0)),
            solid(red, Color32F::new(1.0, 0.0, 0.0, 1.0)),
        ];
        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 0, &elements);
        assert!(damage.is_some() && fenced, "a first frame renders");
        let mut want = cleared();
        for (rect, pixel) in [(red, [0, 0, 255, 255]), (green, [0, 255, 0, 255])] {
            for y in rect.loc.y..rect.loc.y + rect.size.h {
                for x in rect.loc.x..rect.loc.x + rect.size.w {
                    want[y as usize][x as usize] = pixel;
                }
            }
        }
        compare("solid", &read(renderer, &target), &want, 0);
    });
}

#[test]
fn textures_show_under_every_buffer_transform() {
    on_renderer(|renderer| every_transform(renderer, Fourcc::Argb8888, false, &six()));
}

/// An opaque X-format texture replaces what is under it (the shader moves
/// whole words): its padding, zero here, reads as opaque alpha.
#[test]
fn opaque_textures_replace_under_every_buffer_transform() {
    let padded: Vec<Vec<Pixel>> = six()
        .into_iter()
        .map(|row| row.into_iter().map(|[b, g, r, _]| [b, g, r, 0]).collect())
        .collect();
    on_renderer(|renderer| every_transform(renderer, Fourcc::Xrgb8888, true, &padded));
}

/// Draws `pixels` read as `format` (declared `opaque` or not) under each
/// buffer transform and compares with smithay's own map from a surface
/// pixel to the buffer pixel that shows it; every pixel shown is opaque.
fn every_transform(
    renderer: &mut VulkanRenderer,
    format: Fourcc,
    opaque: bool,
    pixels: &[Vec<Pixel>],
) {
    for transform in [
        Transform::Normal,
        Transform::_90,
        Transform::_180,
        Transform::_270,
        Transform::Flipped,
        Transform::Flipped90,
        Transform::Flipped180,
        Transform::Flipped270,
    ] {
        let mut target = target(renderer);
        // A pixel neither cleared nor drawn shows as the sentinel.
        fill_sentinel(renderer, &target);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let at = (4, 3);
        let element = imported_element(renderer, pixels, transform, format, opaque, at);
        render(renderer, &mut tracker, &mut target, 0, &[element]);
        let logical: Size<f64, Logical> = transform.transform_size(Size::from((3.0, 2.0)));
        let mut want = cleared();
        for j in 0..logical.h as i32 {
            for i in 0..logical.w as i32 {
                let texel = Rectangle::<f64, Logical>::new(
                    (f64::from(i), f64::from(j)).into(),
                    (1.0, 1.0).into(),
                )
                .to_buffer(1.0, transform, &logical);
                let (bx, by) = (texel.loc.x as usize, texel.loc.y as usize);
                let [b, g, r, _] = pixels[by][bx];
                want[(at.1 + j) as usize][(at.0 + i) as usize] = [b, g, r, 255];
            }
        }
        compare(
            &format!("transform-{format:?}-{transform:?}"),
            &read(renderer, &target),
            &want,
            0,
        );
    }
}

/// `src + dst × (1 − src.α)` per channel, with `src` scaled by `alpha`.
fn over(src: Pixel, alpha: f64, dst: Pixel) -> Pixel {
    let a = f64::from(src[3]) * alpha / 255.0;
    std::array::from_fn(|c| {
        (f64::from(src[c]) * alpha + f64::from(dst[c]) * (1.0 - a)).round() as u8
    })
}

#[test]
fn translucent_textures_blend_over_a_solid_colour() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        // Premultiplied: half-transparent orange, and an opaque grey.
        let half: Pixel = [0, 64, 128, 128];
        let grey: Pixel = [90, 90, 90, 255];
        let buffer = memory(&[vec![half, grey]], Transform::Normal);
        let yellow_rect = Rectangle::new((0, 0).into(), (W, H / 2).into());
        let yellow = Color32F::new(1.0, 1.0, 0.0, 1.0);
        let elements = [
            texture_element(renderer, &buffer, (3, 2), None, None),
            texture_element(renderer, &buffer, (3, 8), Some(0.5), None),
            solid(yellow_rect, yellow),
        ];
        render(renderer, &mut tracker, &mut target, 0, &elements);
        let mut want = cleared();
        for row in want.iter_mut().take((H / 2) as usize) {
            row.fill([0, 255, 255, 255]);
        }
        want[2][3] = over(half, 1.0, [0, 255, 255, 255]);
        want[2][4] = grey;
        // Global alpha 0.5 over the clear colour.
        want[8][3] = over(half, 0.5, BLUE);
        want[8][4] = over(grey, 0.5, BLUE);
        compare("blend", &read(renderer, &target), &want, 1);
    });
}

#[test]
fn nearest_filter_scales_by_whole_texels() {
    on_renderer(|renderer| {
        renderer
            .upscale_filter(TextureFilter::Nearest)
            .expect("setting the filter");
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let pixels = six();
        let buffer = memory(&pixels, Transform::Normal);
        let at = (1, 2);
        let whole = Rectangle::from_size((3.0, 2.0).into());
        let element = texture_element(renderer, &buffer, at, None, Some((whole, (9, 4).into())));
        render(renderer, &mut tracker, &mut target, 0, &[element]);
        let mut want = cleared();
        for j in 0..4 {
            for i in 0..9 {
                want[(at.1 + j) as usize][(at.0 + i) as usize] =
                    pixels[(j / 2) as usize][(i / 3) as usize];
            }
        }
        compare("nearest", &read(renderer, &target), &want, 0);
    });
}

#[test]
fn an_unchanged_scene_renders_nothing() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let rect = Rectangle::new((2, 2).into(), (4, 4).into());
        let elements = [solid(rect, Color32F::new(1.0, 0.0, 0.0, 1.0))];
        let (damage, _) = render(renderer, &mut tracker, &mut target, 0, &elements);
        assert!(damage.is_some());
        fill_sentinel(renderer, &target);
        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 1, &elements);
        assert_eq!(damage, None, "no damage");
        assert!(!fenced, "nothing was submitted");
        let want = vec![vec![SENTINEL; W as usize]; H as usize];
        compare("unchanged", &read(renderer, &target), &want, 0);
    });
}

/// An opaque texture drawn upright and 1:1 in the target's format is a
/// copy of its bytes: a transfer, not the shader, and the clear leaves out
/// what it covers. The same texture without an opaque region is blended by
/// the shader over the clear's colour, which leaves it out too. A frame without damage then
/// submits nothing at all.
#[test]
fn opaque_upright_textures_are_transfers_and_nothing_under_them_is_cleared() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let pixels: Image = (0..4)
            .map(|y| (0..5).map(|x| pattern(x * 40, y * 50)).collect())
            .collect();
        let (opaque_at, translucent_at) = ((2, 3), (9, 6));
        let argb = Fourcc::Argb8888;
        let elements = [
            imported_element(renderer, &pixels, Transform::Normal, argb, true, opaque_at),
            imported_element(
                renderer,
                &pixels,
                Transform::Normal,
                argb,
                false,
                translucent_at,
            ),
        ];
        let before = renderer.frame_counters();
        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 0, &elements);
        assert!(damage.is_some() && fenced);
        let after = renderer.frame_counters();
        assert_eq!(after.transfers - before.transfers, 1, "{after:?}");
        assert_eq!(
            after.filled_pixels - before.filled_pixels,
            (W * H - 2 * 5 * 4) as u64,
            "neither texture's pixels are cleared"
        );
        // The clear is buffer fills; the translucent texture, at least one
        // dispatch, which blends over the clear's colour where the clear
        // leaves it out.
        assert!(after.fills > before.fills, "{after:?}");
        assert!(after.shader_draws > before.shader_draws);
        assert_eq!(after.blends_onto_fills - before.blends_onto_fills, 1);
        let mut want = cleared();
        for (left, top) in [opaque_at, translucent_at] {
            for (y, row) in pixels.iter().enumerate() {
                for (x, &pixel) in row.iter().enumerate() {
                    want[y + top as usize][x + left as usize] = pixel;
                }
            }
        }
        compare("opaque-transfer", &read(renderer, &target), &want, 0);

        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 1, &elements);
        assert_eq!(damage, None);
        assert!(!fenced);
        assert_eq!(renderer.frame_counters(), after, "nothing submitted");
    });
}

/// A texture drawn into itself is refused and skipped, as the copy shader
/// refuses it, even where its draw would be a transfer (opaque, upright,
/// 1:1): the rest of the frame is drawn.
#[test]
fn an_opaque_texture_drawn_into_itself_is_skipped_and_the_rest_is_drawn() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        fill_sentinel(renderer, &target);
        let itself = Element::Texture(TextureRenderElement::from_static_texture(
            Id::new(),
            renderer.context_id(),
            Point::<f64, Physical>::from((0.0, 0.0)),
            target.clone(),
            1,
            Transform::Normal,
            None,
            None,
            None,
            Some(vec![Rectangle::from_size((W, H).into())]),
            Kind::Unspecified,
        ));
        let green_rect = Rectangle::new((9, 7).into(), (4, 3).into());
        let elements = [solid(green_rect, Color32F::new(0.0, 1.0, 0.0, 1.0)), itself];
        let before = renderer.frame_counters();
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 0, &elements);
        assert!(damage.is_some() && fenced, "the frame is rendered");
        assert_eq!(renderer.frame_counters().transfers, before.transfers);
        // Nothing cleared under the opaque texture, which was not drawn.
        let mut want = vec![vec![SENTINEL; W as usize]; H as usize];
        for row in &mut want[7..10] {
            row[9..13].fill([0, 255, 0, 255]);
        }
        compare("itself", &read(renderer, &target), &want, 0);
    });
}

#[test]
fn a_moved_element_redraws_only_the_damage() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let id = Id::new();
        let red = Color32F::new(1.0, 0.0, 0.0, 1.0);
        let place = |x, commit: CommitCounter| {
            Element::Solid(SolidColorRenderElement::new(
                id.clone(),
                Rectangle::new((x, 3).into(), (3, 3).into()),
                commit,
                red,
                Kind::Unspecified,
            ))
        };
        let commit = CommitCounter::default();
        render(renderer, &mut tracker, &mut target, 0, &[place(1, commit)]);
        fill_sentinel(renderer, &target);
        let moved = Rectangle::<i32, Physical>::new((9, 3).into(), (3, 3).into());
        let (damage, fenced) = render(renderer, &mut tracker, &mut target, 1, &[place(9, commit)]);
        let damage = damage.expect("moving an element damages the output");
        assert!(fenced);
        let old = Rectangle::<i32, Physical>::new((1, 3).into(), (3, 3).into());
        let covered = |r: Rectangle<i32, Physical>| damage.iter().any(|d| d.contains_rect(r));
        assert!(covered(old) && covered(moved), "damage {damage:?}");
        let mut want = vec![vec![SENTINEL; W as usize]; H as usize];
        for d in &damage {
            for y in d.loc.y..d.loc.y + d.size.h {
                for x in d.loc.x..d.loc.x + d.size.w {
                    let point = Point::from((x, y));
                    want[y as usize][x as usize] = if moved.contains(point) {
                        [0, 0, 255, 255]
                    } else {
                        BLUE
                    };
                }
            }
        }
        let sentinels = want.iter().flatten().filter(|&&p| p == SENTINEL).count();
        assert!(
            sentinels > 0,
            "the damage {damage:?} is not the whole output"
        );
        compare("moved", &read(renderer, &target), &want, 0);
    });
}

#[test]
fn memory_imports_refuse_what_they_cannot_read() {
    on_renderer(|renderer| {
        let short = renderer.import_memory(&[0; 15], Fourcc::Argb8888, (2, 2).into(), false);
        assert!(matches!(
            short,
            Err(dmabridge::render::RenderError::DataTooShort {
                len: 15,
                needed: 16
            })
        ));
        let format = renderer.import_memory(&[0; 16], Fourcc::Rgb565, (2, 2).into(), false);
        assert!(matches!(
            format,
            Err(dmabridge::render::RenderError::UnsupportedFormat { .. })
        ));
        let empty = renderer.import_memory(&[], Fourcc::Argb8888, (0, 2).into(), false);
        assert!(matches!(
            empty,
            Err(dmabridge::render::RenderError::InvalidSize { .. })
        ));
    });
}

/// A W×H XRGB8888 `wl_shm` buffer's layout: rows of `STRIDE` bytes (more
/// than a row's 4 × W) from byte `OFFSET` of the pool on.
const OFFSET: usize = 8;
const STRIDE: usize = W as usize * 4 + 12;

fn shm_data() -> BufferData {
    BufferData {
        offset: OFFSET as i32,
        width: W,
        height: H,
        stride: STRIDE as i32,
        format: wl_shm::Format::Argb8888,
    }
}

/// A pool of `bytes` the renderer knows no file of, as a caller with only
/// the mapping.
fn in_memory(bytes: &[u8]) -> ShmPool<'_> {
    ShmPool { bytes, fd: None }
}

/// A pool of `bytes` in the file `fd`, as smithay lends both.
fn in_file<'a>(bytes: &'a [u8], fd: &'a OwnedFd) -> ShmPool<'a> {
    ShmPool {
        bytes,
        fd: Some(fd.as_fd()),
    }
}

/// A memfd holding `bytes`, sealed against shrinking where `sealed`.
fn memfd_pool(bytes: &[u8], sealed: bool) -> OwnedFd {
    use rustix::fs::{MemfdFlags, SealFlags};
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    let fd = rustix::fs::memfd_create("pool", flags).expect("memfd_create");
    assert_eq!(
        rustix::io::pwrite(&fd, bytes, 0).expect("writing"),
        bytes.len()
    );
    if sealed {
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).expect("sealing");
    }
    fd
}

/// Writes `image` into `pool` with [`shm_data`]'s layout.
fn write_shm(pool: &mut [u8], image: &Image) {
    for (y, row) in image.iter().enumerate() {
        let at = OFFSET + y * STRIDE;
        let bytes: Vec<u8> = row.iter().flatten().copied().collect();
        pool[at..at + bytes.len()].copy_from_slice(&bytes);
    }
}

#[test]
fn shm_commits_reuse_the_surfaces_texture_and_upload_only_the_damage() {
    on_renderer(|renderer| {
        let surface = UserDataMap::new();
        let mut pool = vec![0; OFFSET + STRIDE * H as usize];
        let first: Image = (0..H as u8)
            .map(|y| (0..W as u8).map(|x| [x * 10, y * 20, 100, 255]).collect())
            .collect();
        write_shm(&mut pool, &first);
        let texture = renderer
            .import_shm_bytes(
                in_memory(&pool),
                shm_data(),
                Some(&surface),
                ShmUpload::damage(&[]),
            )
            .expect("importing the first commit");
        assert_eq!(
            renderer.shm_buffers_created(),
            2,
            "a texture and its staging"
        );
        compare("shm-first", &read(renderer, &texture), &first, 0);

        // The client repaints everything, but says only two rectangles
        // changed: only those reach the texture.
        let second: Image = vec![vec![[1, 2, 3, 255]; W as usize]; H as usize];
        write_shm(&mut pool, &second);
        let damage = [
            Rectangle::new((2, 1).into(), (5, 3).into()),
            Rectangle::new((4, 3).into(), (20, 2).into()),
        ];
        let updated = renderer
            .import_shm_bytes(
                in_memory(&pool),
                shm_data(),
                Some(&surface),
                ShmUpload::damage(&damage),
            )
            .expect("importing the second commit");
        assert_eq!(renderer.shm_buffers_created(), 2, "the texture is reused");
        let mut want = first.clone();
        for (y, row) in want.iter_mut().enumerate() {
            for (x, pixel) in row.iter_mut().enumerate() {
                let (x, y) = (x as i32, y as i32);
                if damage.iter().any(|d| d.contains((x, y))) {
                    *pixel = [1, 2, 3, 255];
                }
            }
        }
        compare("shm-damaged", &read(renderer, &updated), &want, 0);
        // The first texture is that same texture.
        compare("shm-same", &read(renderer, &texture), &want, 0);

        // Another surface, and a buffer of another size, get textures of
        // their own.
        let other = UserDataMap::new();
        let _other = renderer
            .import_shm_bytes(
                in_memory(&pool),
                shm_data(),
                Some(&other),
                ShmUpload::damage(&damage),
            )
            .expect("importing another surface's buffer");
        assert_eq!(renderer.shm_buffers_created(), 4);
        let smaller = BufferData {
            height: H - 1,
            ..shm_data()
        };
        let resized = renderer
            .import_shm_bytes(
                in_memory(&pool),
                smaller,
                Some(&surface),
                ShmUpload::damage(&damage),
            )
            .expect("importing a smaller buffer");
        assert_eq!(renderer.shm_buffers_created(), 6);
        assert_eq!(resized.height(), H as u32 - 1);
    });
}

/// A buffer uploaded ahead of the commit that shows it, in bands of rows:
/// the bands make the whole image, the commit's import of that buffer
/// uploads nothing more, and a commit of another buffer uploads all of
/// its pixels again, whatever its damage.
#[test]
fn a_buffer_uploaded_ahead_in_bands_is_not_uploaded_again() {
    on_renderer(|renderer| {
        let surface = UserDataMap::new();
        let mut pool = vec![0; OFFSET + STRIDE * H as usize];
        let first: Image = (0..H as u8)
            .map(|y| (0..W as u8).map(|x| [x * 10, y * 20, 100, 255]).collect())
            .collect();
        write_shm(&mut pool, &first);
        let buffer = ObjectId::null();
        for rows in [0..5, 5..10, 10..H as usize] {
            let upload = ShmUpload::Ahead {
                buffer: &buffer,
                rows,
            };
            renderer
                .import_shm_bytes(in_memory(&pool), shm_data(), Some(&surface), upload)
                .expect("uploading a band ahead");
        }
        let staged = renderer.shm_uploads().staged;
        assert_eq!(staged, 3, "a band an upload");

        // Bytes the client may not write before the release: the commit
        // of the buffer uploaded ahead does not read them again.
        let second: Image = vec![vec![[1, 2, 3, 255]; W as usize]; H as usize];
        write_shm(&mut pool, &second);
        let commit = ShmUpload::Commit {
            buffer: Some(&buffer),
            damage: &[],
        };
        let texture = renderer
            .import_shm_bytes(in_memory(&pool), shm_data(), Some(&surface), commit)
            .expect("importing the commit uploaded ahead");
        compare("ahead-bands", &read(renderer, &texture), &first, 0);

        // The next commit uploads its damage as usual.
        let damage = [Rectangle::new((0, 0).into(), (1, 1).into())];
        let texture = renderer
            .import_shm_bytes(
                in_memory(&pool),
                shm_data(),
                Some(&surface),
                ShmUpload::damage(&damage),
            )
            .expect("importing the next commit");
        let mut want = first.clone();
        want[0][0] = [1, 2, 3, 255];
        compare("ahead-next", &read(renderer, &texture), &want, 0);

        // The same buffer was committed again before the commit uploaded
        // ahead was shown: the texture forgets it, and the import uploads
        // every pixel.
        let other = UserDataMap::new();
        write_shm(&mut pool, &first);
        let upload = ShmUpload::Ahead {
            buffer: &buffer,
            rows: 0..H as usize,
        };
        renderer
            .import_shm_bytes(in_memory(&pool), shm_data(), Some(&other), upload)
            .expect("uploading ahead");
        assert!(renderer.holds_shm_ahead(&other));
        renderer.forget_shm_ahead(&other, &buffer);
        assert!(!renderer.holds_shm_ahead(&other));
        write_shm(&mut pool, &second);
        let commit = ShmUpload::Commit {
            buffer: Some(&buffer),
            damage: &damage,
        };
        let texture = renderer
            .import_shm_bytes(in_memory(&pool), shm_data(), Some(&other), commit)
            .expect("importing after the texture forgot");
        compare("ahead-forgotten", &read(renderer, &texture), &second, 0);
    });
}

/// A pool in a memfd sealed against shrinking is imported once and read
/// by the device in place, each commit's damage one copy from it, and two
/// pools a client alternates between stay imported; one
/// that is not sealed, which a client could truncate under the device's
/// threads, is copied through staging memory instead.
#[test]
fn sealed_pools_are_read_in_place_and_unsealed_ones_through_staging() {
    on_renderer(|renderer| {
        let mut pool = vec![0; OFFSET + STRIDE * H as usize];
        let first: Image = (0..H as u8)
            .map(|y| (0..W as u8).map(|x| [x * 10, y * 20, 100, 255]).collect())
            .collect();
        write_shm(&mut pool, &first);
        let sealed = memfd_pool(&pool, true);
        let surface = UserDataMap::new();
        let texture = renderer
            .import_shm_bytes(
                in_file(&pool, &sealed),
                shm_data(),
                Some(&surface),
                ShmUpload::damage(&[]),
            )
            .expect("importing the first commit");
        let uploads = renderer.shm_uploads();
        assert_eq!(
            (uploads.pool_imports, uploads.from_pool, uploads.staged),
            (1, 1, 0)
        );
        assert_eq!(renderer.shm_buffers_created(), 1, "a texture, no staging");
        compare("pool-first", &read(renderer, &texture), &first, 0);

        // The client draws into its file; only the damage reaches the
        // texture, through the same import.
        let second: Image = vec![vec![[1, 2, 3, 255]; W as usize]; H as usize];
        write_shm(&mut pool, &second);
        assert_eq!(
            rustix::io::pwrite(&sealed, &pool, 0).expect("drawing"),
            pool.len()
        );
        let damage = [Rectangle::new((2, 1).into(), (5, 3).into())];
        renderer
            .import_shm_bytes(
                in_file(&pool, &sealed),
                shm_data(),
                Some(&surface),
                ShmUpload::damage(&damage),
            )
            .expect("importing the second commit");
        let uploads = renderer.shm_uploads();
        assert_eq!(
            (uploads.pool_imports, uploads.from_pool, uploads.staged),
            (1, 2, 0)
        );
        let mut want = first.clone();
        for row in &mut want[1..4] {
            row[2..7].fill([1, 2, 3, 255]);
        }
        compare("pool-damaged", &read(renderer, &texture), &want, 0);

        // A client drawing into two pools in turn: the second is imported
        // once, and each stays imported while the client alternates.
        let other_pool = memfd_pool(&pool, true);
        for (turn, file) in [&other_pool, &sealed, &other_pool, &sealed]
            .into_iter()
            .enumerate()
        {
            renderer
                .import_shm_bytes(
                    in_file(&pool, file),
                    shm_data(),
                    Some(&surface),
                    ShmUpload::damage(&damage),
                )
                .expect("importing a commit from either pool");
            let uploads = renderer.shm_uploads();
            assert_eq!(
                (uploads.pool_imports, uploads.from_pool, uploads.staged),
                (2, 3 + turn as u64, 0),
                "turn {turn}"
            );
        }
        compare("pool-alternating", &read(renderer, &texture), &want, 0);

        let unsealed = memfd_pool(&pool, false);
        let other = UserDataMap::new();
        let copied = renderer
            .import_shm_bytes(
                in_file(&pool, &unsealed),
                shm_data(),
                Some(&other),
                ShmUpload::damage(&[]),
            )
            .expect("importing from an unsealed pool");
        let uploads = renderer.shm_uploads();
        assert_eq!(
            (uploads.pool_imports, uploads.from_pool, uploads.staged),
            (2, 6, 1)
        );
        compare("pool-unsealed", &read(renderer, &copied), &second, 0);
    });
}

#[test]
fn shm_buffers_of_every_advertised_format_import_in_that_format() {
    on_renderer(|renderer| {
        let image: Image = (0..H as u8)
            .map(|y| (0..W as u8).map(|x| [x * 10, y * 20, 100, 255]).collect())
            .collect();
        let mut pool = vec![0; OFFSET + STRIDE * H as usize];
        write_shm(&mut pool, &image);
        let formats: Vec<Fourcc> = renderer.mem_formats().collect();
        assert_eq!(
            formats,
            [
                Fourcc::Argb8888,
                Fourcc::Xrgb8888,
                Fourcc::Abgr8888,
                Fourcc::Xbgr8888
            ]
        );
        for fourcc in formats {
            let data = BufferData {
                format: smithay::wayland::shm::fourcc_to_shm_format(fourcc).unwrap(),
                ..shm_data()
            };
            let texture = renderer
                .import_shm_bytes(in_memory(&pool), data, None, ShmUpload::damage(&[]))
                .unwrap_or_else(|err| panic!("importing {fourcc}: {err}"));
            assert_eq!(texture.fourcc(), fourcc);
            // The bytes land unchanged; the copy engine's golden tests
            // check what each format's channels mean.
            compare(
                &format!("shm-{fourcc}"),
                &read(renderer, &texture),
                &image,
                0,
            );
        }
    });
}

/// The pixel at `(x, y)` of [`big_shm`]'s pattern: its low coordinate
/// bytes and a mix of the high ones, opaque.
fn pattern(x: usize, y: usize) -> Pixel {
    let high = ((x >> 8) as u8).wrapping_mul(8) ^ ((y >> 8) as u8);
    [x as u8, y as u8, high, 255]
}

/// A `w × h` ARGB8888 `wl_shm` buffer of [`pattern`], tightly packed,
/// imported as a surface's texture.
fn big_shm(renderer: &mut VulkanRenderer, (w, h): (usize, usize)) -> VulkanTexture {
    let mut pool = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        pool.extend((0..w).flat_map(|x| pattern(x, y)));
    }
    let data = BufferData {
        offset: 0,
        width: w as i32,
        height: h as i32,
        stride: (w * 4) as i32,
        format: wl_shm::Format::Argb8888,
    };
    renderer
        .import_shm_bytes(
            in_memory(&pool),
            data,
            Some(&UserDataMap::new()),
            ShmUpload::damage(&[]),
        )
        .expect("importing a large shm buffer")
}

/// An element showing `texture` (shown under the buffer `transform`) at
/// `at`: its `src` rectangle (logical) at `size`, where given. (smithay
/// 0.7's texture element carries a `src` through the buffer transform
/// within `size` rather than the texture's own logical size, so a turned
/// texture is shown whole, and scaled by the output's scale instead.)
fn static_element(
    renderer: &VulkanRenderer,
    texture: &VulkanTexture,
    transform: Transform,
    at: (i32, i32),
    src: Option<Rectangle<f64, Logical>>,
    size: Option<(i32, i32)>,
) -> Element {
    Element::Texture(TextureRenderElement::from_static_texture(
        Id::new(),
        renderer.context_id(),
        Point::<f64, Physical>::from((f64::from(at.0), f64::from(at.1))),
        texture.clone(),
        1,
        transform,
        None,
        src,
        size.map(Size::from),
        None,
        Kind::Unspecified,
    ))
}

/// Textures past lavapipe's 128 MiB `maxStorageBufferRange` (6000×6000
/// ARGB8888 is 144 MB) are drawn in bands, and those just within it (8K)
/// whole: shrunk into the output under a few buffer transforms, where
/// every output pixel shows the texel under its centre (nearest filter,
/// rows near the end of the buffer included), and a corner shown 1:1.
#[test]
fn textures_larger_than_a_storage_binding_render_in_bands() {
    on_renderer(|renderer| {
        let nearest = TextureFilter::Nearest;
        renderer
            .upscale_filter(nearest)
            .expect("setting the filter");
        renderer
            .downscale_filter(nearest)
            .expect("setting the filter");
        for (w, h) in [(6000, 6000), (7680, 4320)] {
            let texture = big_shm(renderer, (w, h));
            for transform in [Transform::Normal, Transform::_90, Transform::Flipped180] {
                let logical: Size<f64, Logical> =
                    transform.transform_size(Size::from((w as f64, h as f64)));
                let element = static_element(renderer, &texture, transform, (0, 0), None, None);
                let mut target = target(renderer);
                // Logical pixels so small that the texture fills the output.
                let scale = (f64::from(W) / logical.w, f64::from(H) / logical.h);
                let mut tracker = OutputDamageTracker::new((W, H), scale, Transform::Normal);
                render(renderer, &mut tracker, &mut target, 0, &[element]);
                let want: Image = (0..H)
                    .map(|j| {
                        (0..W)
                            .map(|i| {
                                // The centre of output pixel (i, j) on the
                                // surface, carried to the buffer.
                                let centre = Point::<f64, Logical>::from((
                                    (f64::from(i) + 0.5) * logical.w / f64::from(W),
                                    (f64::from(j) + 0.5) * logical.h / f64::from(H),
                                ));
                                let texel = Rectangle::new(centre, (0.0, 0.0).into())
                                    .to_buffer(1.0, transform, &logical);
                                pattern(texel.loc.x as usize, texel.loc.y as usize)
                            })
                            .collect()
                    })
                    .collect();
                compare(
                    &format!("big-{w}x{h}-{transform:?}"),
                    &read(renderer, &target),
                    &want,
                    0,
                );
            }
            // The bottom-right corner, 1:1: the last rows of the buffer.
            let corner = Rectangle::new(
                ((w - W as usize) as f64, (h - H as usize) as f64).into(),
                (f64::from(W), f64::from(H)).into(),
            );
            let element = static_element(
                renderer,
                &texture,
                Transform::Normal,
                (0, 0),
                Some(corner),
                Some((W, H)),
            );
            let mut target = target(renderer);
            let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
            render(renderer, &mut tracker, &mut target, 0, &[element]);
            let want: Image = (0..H as usize)
                .map(|j| {
                    (0..W as usize)
                        .map(|i| pattern(w - W as usize + i, h - H as usize + j))
                        .collect()
                })
                .collect();
            compare(
                &format!("big-{w}x{h}-corner"),
                &read(renderer, &target),
                &want,
                0,
            );
        }
    });
}

/// Destination rectangles that reach far past what a plan accepts (a
/// viewport destination 30000 pixels wide, elements 2·10⁹ pixels wide
/// starting at −10⁹) are cut to the part near the output, and that part
/// shows what the whole would: the texel boundary of the 30000-wide one
/// falls between columns 7 and 8.
#[test]
fn destinations_reaching_far_outside_the_output_draw_their_visible_part() {
    on_renderer(|renderer| {
        renderer
            .upscale_filter(TextureFilter::Nearest)
            .expect("setting the filter");
        let mut target = target(renderer);
        fill_sentinel(renderer, &target);
        let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
        let pixels = six();
        let buffer = memory(&pixels, Transform::Normal);
        let whole = Rectangle::from_size((3.0, 2.0).into());
        let red = Color32F::new(1.0, 0.0, 0.0, 1.0);
        let far = 1_000_000_000;
        let elements = [
            // Columns 0..10000 of the 30000 show texel column 0.
            texture_element(
                renderer,
                &buffer,
                (-9992, 2),
                None,
                Some((whole, (30_000, 8).into())),
            ),
            texture_element(
                renderer,
                &buffer,
                (-far, 0),
                None,
                Some((whole, (2 * far, 1).into())),
            ),
            solid(Rectangle::new((-far, 10).into(), (2 * far, 2).into()), red),
        ];
        render(renderer, &mut tracker, &mut target, 0, &elements);
        let mut want = cleared();
        // Row 0: the middle of the 2·10⁹-wide texture, texel (1, 1).
        want[0].fill(pixels[1][1]);
        for (j, row) in want.iter_mut().enumerate().skip(2).take(8) {
            for (i, pixel) in row.iter_mut().enumerate() {
                *pixel = pixels[(j - 2) / 4][usize::from(i >= 8)];
            }
        }
        for row in &mut want[10..12] {
            row.fill([0, 0, 255, 255]);
        }
        compare("far-destinations", &read(renderer, &target), &want, 0);
    });
}

/// An element whose draw cannot be planned (its source rectangle lies
/// outside its texture) is skipped; the frame succeeds and every other
/// element is drawn, in this frame and the next.
#[test]
fn an_undrawable_element_is_skipped_and_the_rest_of_the_frame_is_drawn() {
    on_renderer(|renderer| {
        let mut target = target(renderer);
        let pixels = six();
        let buffer = memory(&pixels, Transform::Normal);
        let outside = Rectangle::new((1.0, 0.0).into(), (5.0, 2.0).into());
        let green = Color32F::new(0.0, 1.0, 0.0, 1.0);
        let green_rect = Rectangle::new((9, 7).into(), (4, 3).into());
        let elements = [
            texture_element(
                renderer,
                &buffer,
                (1, 1),
                None,
                Some((outside, (5, 2).into())),
            ),
            texture_element(renderer, &buffer, (4, 6), None, None),
            solid(green_rect, green),
        ];
        for _frame in 0..2 {
            let mut tracker = OutputDamageTracker::new((W, H), 1.0, Transform::Normal);
            fill_sentinel(renderer, &target);
            let (damage, fenced) = render(renderer, &mut tracker, &mut target, 0, &elements);
            assert!(damage.is_some() && fenced, "the frame is rendered");
            let mut want = cleared();
            for (j, row) in pixels.iter().enumerate() {
                for (i, &pixel) in row.iter().enumerate() {
                    want[6 + j][4 + i] = pixel;
                }
            }
            for row in &mut want[7..10] {
                row[9..13].fill([0, 255, 0, 255]);
            }
            compare("undrawable", &read(renderer, &target), &want, 0);
        }
    });
}
