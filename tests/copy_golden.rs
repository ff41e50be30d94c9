//! The GPU copy (`copy::Copier`, `shaders/copy.comp`) against the CPU
//! reference (`copy::reference`), on lavapipe on the build host.
//!
//! Each case uploads a source of noise and a destination filled with a
//! sentinel into device buffers, copies, reads the whole destination buffer
//! back and compares every byte with what the reference makes of the same
//! bytes, padding, offsets and pixels outside the destination rectangle
//! included (the reference leaves those alone, so must the GPU).
//!
//! Tolerance, per 8-bit channel:
//! * exact for packed sources sampled nearest: the shader reads the same
//!   bytes and evaluates the plan's matrix in `f32` like the reference;
//! * ±1 for bilinear filtering, whose weighted sums the GPU may evaluate
//!   with fused multiply-adds, and for NV12 sources, whose BT.601
//!   conversion the shader does in `f32` and the reference in `f64`.
//!
//! A failed comparison writes `<name>-actual.png`, `<name>-expected.png` and
//! `<name>-diff.png` (red where a channel is off by more than the tolerance,
//! grey where within it) under `target/golden-failures/`. The reference is
//! computed on every run: there is no stored image to update.
//!
//! Every test ends by checking that the validation layer reported no error.

#[path = "support/vulkan.rs"]
mod fixture;
#[path = "support/copy.rs"]
mod support;

use std::path::PathBuf;
use std::sync::Arc;

use dmabridge::copy::reference::{self, ImageView, ImageViewMut};
use dmabridge::copy::{
    Copier, CopyError, CopyJob, CopyPlan, CopyRequest, DeviceBuffer, Filter, ImageDesc, PlaneDesc,
    Rect, Side, Size, Surface, Transform,
};
use drm_fourcc::DrmFourcc;

const PACKED: [DrmFourcc; 4] = [
    DrmFourcc::Argb8888,
    DrmFourcc::Xrgb8888,
    DrmFourcc::Abgr8888,
    DrmFourcc::Xbgr8888,
];

/// Every source format: the packed ones and NV12.
const SOURCES: [DrmFourcc; 5] = [
    DrmFourcc::Argb8888,
    DrmFourcc::Xrgb8888,
    DrmFourcc::Abgr8888,
    DrmFourcc::Xbgr8888,
    DrmFourcc::Nv12,
];

/// The byte destination buffers are filled with before a copy.
const SENTINEL: u8 = 0xa5;

/// Runs `f` with a copier on lavapipe; the fixture checks that the
/// validation layer reported no error.
fn on_gpu(f: impl FnOnce(&mut Copier)) {
    fixture::on_device(|device| {
        let mut copier = Copier::new(Arc::clone(device)).expect("creating the copier");
        f(&mut copier);
    });
}

/// A buffer's layout: where each plane starts and its stride.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// Offset of the first plane.
    offset: u64,
    /// Bytes added to each row beyond the plane's row.
    pad: u32,
}

/// The description of a `w × h` image of `format` laid out as `layout`
/// (NV12's chroma plane follows its luma plane at the same padding), and
/// the size of the buffer that holds it plus a few bytes of slack.
fn describe(format: DrmFourcc, (w, h): (u32, u32), layout: Layout) -> (ImageDesc, u64) {
    let shapes: &[(u32, u32)] = if format == DrmFourcc::Nv12 {
        &[(w, h), (w.div_ceil(2) * 2, h.div_ceil(2))]
    } else {
        &[(w * 4, h)]
    };
    let mut at = layout.offset;
    let planes = shapes
        .iter()
        .map(|&(row, rows)| {
            let stride = row + layout.pad;
            let plane = PlaneDesc { offset: at, stride };
            at += u64::from(stride) * u64::from(rows) + layout.offset;
            plane
        })
        .collect();
    let desc = ImageDesc {
        format,
        width: w,
        height: h,
        planes,
    };
    // The slack past the last plane must stay untouched too.
    (desc, at.next_multiple_of(4) + 8)
}

/// What one copy should do.
struct Case {
    name: String,
    plan: CopyPlan,
    src: ImageDesc,
    src_size: u64,
    dst: ImageDesc,
    dst_size: u64,
    /// Largest difference allowed per channel.
    tolerance: u8,
}

impl Case {
    fn new(
        name: String,
        request: CopyRequest,
        (src_format, src_layout): (DrmFourcc, Layout),
        (dst_format, dst_layout): (DrmFourcc, Layout),
    ) -> Self {
        let plan = CopyPlan::new(request).expect("a valid request");
        Self::planned(
            name,
            plan,
            (src_format, src_layout),
            (dst_format, dst_layout),
        )
    }

    /// A case of a plan made otherwise than from a request alone.
    fn planned(
        name: String,
        plan: CopyPlan,
        (src_format, src_layout): (DrmFourcc, Layout),
        (dst_format, dst_layout): (DrmFourcc, Layout),
    ) -> Self {
        let request = *plan.request();
        let size = |s: Size<i32, _>| (s.w as u32, s.h as u32);
        let (src, src_size) = describe(src_format, size(request.src_size), src_layout);
        let (dst, dst_size) = describe(
            dst_format,
            (request.dst_size.w as u32, request.dst_size.h as u32),
            dst_layout,
        );
        let linear = plan.filter() == Filter::Linear && plan.needs_scaling();
        let tolerance = u8::from(linear || src_format == DrmFourcc::Nv12);
        Self {
            name,
            plan,
            src,
            src_size,
            dst,
            dst_size,
            tolerance,
        }
    }
}

/// A packed `width × height` image of `format` at the start of its
/// buffer, its rows back to back.
fn unpadded(format: DrmFourcc, width: usize, height: usize) -> ImageDesc {
    ImageDesc {
        format,
        width: width as u32,
        height: height as u32,
        planes: vec![PlaneDesc {
            offset: 0,
            stride: width as u32 * 4,
        }],
    }
}

/// A draw that blends a whole `tw × th` texture at `alpha`, unscaled and
/// upright, at `at` of a `w × h` target, clipped to `clip`.
fn blend_whole_texture(
    (w, h): (usize, usize),
    (tw, th): (usize, usize),
    at: dmabridge::copy::Point<i32, dmabridge::copy::Dest>,
    clip: Rect<i32, dmabridge::copy::Dest>,
    alpha: f32,
) -> dmabridge::copy::DrawPlan {
    use dmabridge::copy::{Blend, DrawPlan, DrawRequest, DrawSource, Point};
    DrawPlan::new(DrawRequest {
        dst_size: Size::new(w as i32, h as i32),
        dst_rect: Rect::new(at, Size::new(tw as i32, th as i32)),
        clip,
        source: DrawSource::Texture {
            size: Size::new(tw as i32, th as i32),
            rect: Rect::new(Point::new(0.0, 0.0), Size::new(tw as f64, th as f64)),
            transform: Transform::Normal,
            filter: Filter::Nearest,
        },
        blend: Blend::Over,
        alpha,
    })
    .expect("a valid draw")
}

/// Draws `plan` from `texture` into `target` alone in a batch, which must
/// refuse nothing, and reads `target` back.
fn draw_and_read(
    copier: &mut Copier,
    plan: &dmabridge::copy::DrawPlan,
    (texture, texture_desc): (&DeviceBuffer, &ImageDesc),
    (target, target_desc): (&DeviceBuffer, &ImageDesc),
) -> Vec<u8> {
    let draws = [dmabridge::copy::Draw::new(
        plan,
        Some(Surface::Buffer {
            buffer: texture,
            desc: texture_desc,
        }),
    )];
    let target_surface = Surface::Buffer {
        buffer: target,
        desc: target_desc,
    };
    let batch = copier
        .submit_draws(target_surface, &draws, Vec::new())
        .expect("the batch is submitted");
    batch.completion.wait().expect("waiting for the batch");
    assert!(batch.refused.is_empty(), "{:?}", batch.refused);
    copier
        .readback(target)
        .expect("reading back")
        .wait()
        .expect("waiting for the readback")
}

fn upload(copier: &mut Copier, bytes: &[u8]) -> DeviceBuffer {
    let buffer = copier
        .create_buffer(bytes.len() as u64)
        .expect("creating a buffer");
    copier
        .upload(&buffer, bytes)
        .expect("uploading")
        .wait()
        .expect("waiting for the upload");
    buffer
}

/// The reference's result: `dst_bytes` after copying `src_bytes` as `case`
/// says.
fn expected(case: &Case, src_bytes: &[u8], dst_bytes: &[u8]) -> Vec<u8> {
    let request = case.plan.request();
    let plane = |desc: &ImageDesc, i: usize| {
        let p = desc.planes[i];
        (p.offset as usize, p.stride as usize)
    };
    let (off0, stride0) = plane(&case.src, 0);
    let src = if case.src.format == DrmFourcc::Nv12 {
        let (off1, stride1) = plane(&case.src, 1);
        ImageView::nv12(
            request.src_size,
            &src_bytes[off0..],
            stride0,
            &src_bytes[off1..],
            stride1,
        )
    } else {
        ImageView::packed(
            case.src.format,
            request.src_size,
            &src_bytes[off0..],
            stride0,
        )
    }
    .expect("source view");
    let mut out = dst_bytes.to_vec();
    let (off, stride) = plane(&case.dst, 0);
    let mut dst = ImageViewMut::packed(case.dst.format, request.dst_size, &mut out[off..], stride)
        .expect("destination view");
    reference::copy(&case.plan, &src, &mut dst).expect("sizes match");
    out
}

/// Runs `case` on the GPU and compares; on a mismatch writes the images and
/// returns what went wrong.
fn run(copier: &mut Copier, case: &Case, seed: u32) -> Result<(), String> {
    let src_bytes = dmabridge::copy::reference::noise(seed, case.src_size as usize);
    let dst_bytes = vec![SENTINEL; case.dst_size as usize];
    let src = upload(copier, &src_bytes);
    let dst = upload(copier, &dst_bytes);
    let job = CopyJob::new(
        &case.plan,
        Surface::Buffer {
            buffer: &src,
            desc: &case.src,
        },
        Surface::Buffer {
            buffer: &dst,
            desc: &case.dst,
        },
    );
    copier
        .submit(&job)
        .expect("submitting the copy")
        .wait()
        .expect("waiting for the copy");
    let actual = copier
        .readback(&dst)
        .expect("reading back")
        .wait()
        .expect("waiting for the readback");
    let want = expected(case, &src_bytes, &dst_bytes);
    compare(case, &actual, &want)
}

fn compare(case: &Case, actual: &[u8], want: &[u8]) -> Result<(), String> {
    assert_eq!(actual.len(), want.len());
    let bad: Vec<usize> = (0..actual.len())
        .filter(|&i| actual[i].abs_diff(want[i]) > case.tolerance)
        .collect();
    let Some(&first) = bad.first() else {
        return Ok(());
    };
    write_failure(case, actual, want);
    Err(format!(
        "{}: {} bytes off by more than {}; first at byte {first}: {:#04x}, want {:#04x}",
        case.name,
        bad.len(),
        case.tolerance,
        actual[first],
        want[first]
    ))
}

/// Writes `<name>-actual.png`, `-expected.png` and `-diff.png` of the
/// destination image under `target/golden-failures/`.
fn write_failure(case: &Case, actual: &[u8], want: &[u8]) {
    let dir = failure_dir();
    std::fs::create_dir_all(&dir).expect("creating target/golden-failures");
    let (w, h) = (case.dst.width, case.dst.height);
    let p = case.dst.planes[0];
    let pixels = |bytes: &[u8]| -> Vec<[u8; 4]> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| {
                let at = p.offset as usize + y as usize * p.stride as usize + x as usize * 4;
                rgba(case.dst.format, [0, 1, 2, 3].map(|i| bytes[at + i]))
            })
            .collect()
    };
    let (got, exp) = (pixels(actual), pixels(want));
    let diff: Vec<[u8; 4]> = got
        .iter()
        .zip(&exp)
        .map(|(a, b)| {
            let d = (0..4).map(|i| a[i].abs_diff(b[i])).max().unwrap_or(0);
            match d {
                0 => [0, 0, 0, 255],
                d if d <= case.tolerance => [96, 96, 96, 255],
                _ => [255, 0, 0, 255],
            }
        })
        .collect();
    for (suffix, image) in [("actual", &got), ("expected", &exp), ("diff", &diff)] {
        let path = dir.join(format!("{}-{suffix}.png", case.name));
        write_png(&path, w, h, image);
    }
}

fn failure_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent()
        .expect("the target directory")
        .join("golden-failures")
}

/// R, G, B, A of a packed pixel's bytes, X formats shown opaque.
fn rgba(format: DrmFourcc, [b0, b1, b2, b3]: [u8; 4]) -> [u8; 4] {
    match format {
        DrmFourcc::Argb8888 => [b2, b1, b0, b3],
        DrmFourcc::Xrgb8888 => [b2, b1, b0, 255],
        DrmFourcc::Abgr8888 => [b0, b1, b2, b3],
        DrmFourcc::Xbgr8888 => [b0, b1, b2, 255],
        other => panic!("{other} is not a destination format"),
    }
}

fn write_png(path: &std::path::Path, w: u32, h: u32, pixels: &[[u8; 4]]) {
    let file = std::fs::File::create(path).expect("creating a PNG file");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("writing the PNG header");
    writer
        .write_image_data(pixels.as_flattened())
        .expect("writing the PNG data");
}

/// Runs every case and fails with the list of those that did not match.
fn run_all(copier: &mut Copier, cases: &[Case]) {
    let failures: Vec<String> = (0u32..)
        .zip(cases)
        .filter_map(|(seed, case)| run(copier, case, seed.wrapping_mul(0x9e37_79b9) + 7).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed (images in {}):\n{}",
        failures.len(),
        cases.len(),
        failure_dir().display(),
        failures.join("\n")
    );
}

fn short(format: DrmFourcc) -> String {
    format.to_string().to_lowercase()
}

/// 67×45, odd on both axes: rows of packed pixels are not multiples of 64
/// bytes, NV12's last chroma pair covers a single column and row.
const ODD: (i32, i32) = (67, 45);

const PADDED_SOURCE: Layout = Layout {
    offset: 12,
    pad: 20,
};

const PADDED_DESTINATION: Layout = Layout { offset: 16, pad: 8 };

#[test]
fn every_transform_and_format_pair_unscaled() {
    let (w, h) = ODD;
    let mut cases = Vec::new();
    for transform in Transform::ALL {
        let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(w, h));
        for src in SOURCES {
            for dst in PACKED {
                let request = CopyRequest {
                    src_size: Size::new(w, h),
                    dst_size: Size::new(80, 76),
                    src_rect: support::rect(0, 0, w, h),
                    // Inside the destination, away from its edges.
                    dst_rect: support::rect(5, 7, seen.w, seen.h),
                    transform,
                    filter: None,
                };
                cases.push(Case::new(
                    format!("{transform:?}-{}-to-{}", short(src), short(dst)),
                    request,
                    (src, PADDED_SOURCE),
                    (dst, PADDED_DESTINATION),
                ));
            }
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

/// Rows that start on 16-byte boundaries, as most real buffers' do: the
/// shader moves 4×4 blocks of them as vectors. The source's rows of 67
/// pixels, the destination's of 80.
const ALIGNED_SOURCE: Layout = Layout {
    offset: 32,
    pad: 20,
};

const ALIGNED_DESTINATION: Layout = Layout {
    offset: 32,
    pad: 16,
};

#[test]
fn aligned_blocks_under_every_transform() {
    // A source rectangle of whole 4×4 blocks onto a destination rectangle
    // on the block grid: vector loads and stores throughout. The whole
    // 67×45 source onto an odd position: blocks cut by the clip, source
    // blocks off their grid, and a source plane off 16 bytes.
    let geometries = [
        (support::rect(0, 0, 64, 44), (4, 8), ALIGNED_SOURCE),
        (support::rect(0, 0, ODD.0, ODD.1), (5, 7), ALIGNED_SOURCE),
        (support::rect(0, 0, 64, 44), (8, 4), PADDED_SOURCE),
    ];
    let pairs = [
        (DrmFourcc::Argb8888, DrmFourcc::Argb8888),
        (DrmFourcc::Xrgb8888, DrmFourcc::Abgr8888),
        (DrmFourcc::Abgr8888, DrmFourcc::Xrgb8888),
        (DrmFourcc::Nv12, DrmFourcc::Xbgr8888),
    ];
    let mut cases = Vec::new();
    for (g, (src_rect, (x, y), src_layout)) in geometries.into_iter().enumerate() {
        for transform in Transform::ALL {
            let seen = transform.transformed_size(src_rect.size);
            for (src, dst) in pairs {
                let request = CopyRequest {
                    src_size: Size::new(ODD.0, ODD.1),
                    dst_size: Size::new(80, 76),
                    src_rect,
                    dst_rect: support::rect(x, y, seen.w, seen.h),
                    transform,
                    filter: None,
                };
                cases.push(Case::new(
                    format!("aligned{g}-{transform:?}-{}-to-{}", short(src), short(dst)),
                    request,
                    (src, src_layout),
                    (dst, ALIGNED_DESTINATION),
                ));
            }
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

/// The fast path's preconditions one by one (`copy/turn.rs`), for every
/// pair of packed formats under every transform: whole blocks on 16-byte
/// boundaries throughout; a source rectangle and a destination rectangle
/// off the grid of blocks (the inside on the fast path, the edges in the
/// general shader); a destination off 16 bytes (the general shader only);
/// and, bound in small windows, the grid cut into bands.
#[test]
fn fast_path_and_its_edges_under_every_transform_and_format_pair() {
    let unaligned_destination = Layout { offset: 4, pad: 16 };
    let geometries = [
        (
            "whole",
            support::rect(0, 0, 64, 44),
            (4, 8),
            ALIGNED_DESTINATION,
        ),
        (
            "edges",
            support::rect(1, 2, 61, 39),
            (6, 3),
            ALIGNED_DESTINATION,
        ),
        (
            "unaligned",
            support::rect(0, 0, 64, 44),
            (4, 8),
            unaligned_destination,
        ),
    ];
    let mut cases = Vec::new();
    let mut banded = Vec::new();
    for (name, src_rect, (x, y), dst_layout) in geometries {
        for transform in Transform::ALL {
            let seen = transform.transformed_size(src_rect.size);
            for src in PACKED {
                for dst in PACKED {
                    let request = CopyRequest {
                        src_size: Size::new(ODD.0, ODD.1),
                        dst_size: Size::new(80, 76),
                        src_rect,
                        dst_rect: support::rect(x, y, seen.w, seen.h),
                        transform,
                        filter: None,
                    };
                    let case = |prefix: &str| {
                        Case::new(
                            format!(
                                "{prefix}{name}-{transform:?}-{}-to-{}",
                                short(src),
                                short(dst)
                            ),
                            request,
                            (src, ALIGNED_SOURCE),
                            (dst, dst_layout),
                        )
                    };
                    cases.push(case("fast-"));
                    if name == "edges" && (src, dst) == (DrmFourcc::Argb8888, DrmFourcc::Xbgr8888) {
                        banded.push(case("fast-banded-"));
                    }
                }
            }
        }
    }
    on_gpu(|copier| {
        run_all(copier, &cases);
        copier.set_binding_limit(Some(4096));
        run_all(copier, &banded);
    });
}

/// An opaque surface under a buffer transform, as the compositor draws it
/// (unscaled, nearest, alpha 1, replacing what is under it): the draw takes
/// the fast path inside its clip and the general shader at the clip's
/// edges, and writes what the reference copy writes there, nothing outside.
/// A copy of the 64 × 44 top-left of an `ODD` source of `src_format` to
/// (4, 8) of an 80 × 76 XRGB8888 destination under `transform`, both with
/// rows on 16-byte boundaries: what [`odd_texture_draw`] draws.
fn odd_texture_case(name: String, transform: Transform, src_format: DrmFourcc) -> Case {
    let src_rect = support::rect(0, 0, 64, 44);
    let seen = transform.transformed_size(src_rect.size);
    Case::new(
        name,
        CopyRequest {
            src_size: Size::new(ODD.0, ODD.1),
            dst_size: Size::new(80, 76),
            src_rect,
            dst_rect: support::rect(4, 8, seen.w, seen.h),
            transform,
            filter: None,
        },
        (src_format, ALIGNED_SOURCE),
        (DrmFourcc::Xrgb8888, ALIGNED_DESTINATION),
    )
}

/// A draw of the 64 × 44 top-left of an `ODD` texture into `dst_rect` of
/// an 80 × 76 target under `transform`, clipped to `clip`, at alpha 1.
fn odd_texture_draw(
    dst_rect: Rect<i32, dmabridge::copy::Dest>,
    clip: Rect<i32, dmabridge::copy::Dest>,
    transform: Transform,
    blend: dmabridge::copy::Blend,
) -> dmabridge::copy::DrawPlan {
    use dmabridge::copy::{DrawPlan, DrawRequest, DrawSource, Point};
    DrawPlan::new(DrawRequest {
        dst_size: Size::new(80, 76),
        dst_rect,
        clip,
        source: DrawSource::Texture {
            size: Size::new(ODD.0, ODD.1),
            rect: Rect::new(Point::new(0.0, 0.0), Size::new(64.0, 44.0)),
            transform,
            filter: Filter::Nearest,
        },
        blend,
        alpha: 1.0,
    })
    .expect("a valid draw")
}

/// `dst_bytes` with the reference's copy of `case` (of its whole
/// rectangle) inside `clips` alone.
fn copied_within(
    case: &Case,
    src_bytes: &[u8],
    dst_bytes: &[u8],
    clips: &[Rect<i32, dmabridge::copy::Dest>],
) -> Vec<u8> {
    let copied = expected(case, src_bytes, dst_bytes);
    let mut want = dst_bytes.to_vec();
    let (offset, stride) = (
        case.dst.planes[0].offset as usize,
        case.dst.planes[0].stride as usize,
    );
    for clip in clips {
        for y in clip.loc.y..clip.loc.y + clip.size.h {
            let start = offset + y as usize * stride + clip.loc.x as usize * 4;
            let end = start + clip.size.w as usize * 4;
            want[start..end].copy_from_slice(&copied[start..end]);
        }
    }
    want
}

#[test]
fn opaque_transformed_draws_match_the_reference_inside_their_clip() {
    use dmabridge::copy::{Blend, Draw};
    on_gpu(|copier| {
        for transform in Transform::ALL {
            let case = odd_texture_case(
                format!("draw-{transform:?}"),
                transform,
                DrmFourcc::Xrgb8888,
            );
            let (seen, dst_rect) = (
                case.plan.request().dst_rect.size,
                case.plan.request().dst_rect,
            );
            // Off the grid of blocks on every side.
            let clip = support::rect(5, 11, seen.w - 3, seen.h - 6);
            let plan = odd_texture_draw(dst_rect, clip, transform, Blend::Replace);
            let src_bytes = reference::noise(7, case.src_size as usize);
            let dst_bytes = vec![SENTINEL; case.dst_size as usize];
            let (src, dst) = (upload(copier, &src_bytes), upload(copier, &dst_bytes));
            let source = Surface::Buffer {
                buffer: &src,
                desc: &case.src,
            };
            let target = Surface::Buffer {
                buffer: &dst,
                desc: &case.dst,
            };
            let batch = copier
                .submit_draws(target, &[Draw::new(&plan, Some(source))], Vec::new())
                .expect("the batch is submitted");
            assert!(batch.refused.is_empty());
            batch.completion.wait().expect("waiting for the batch");
            let actual = copier
                .readback(&dst)
                .expect("reading back")
                .wait()
                .expect("waiting for the readback");
            let want = copied_within(&case, &src_bytes, &dst_bytes, &[clip]);
            if let Err(err) = compare(&case, &actual, &want) {
                panic!("{err}");
            }
        }
    });
}

/// A texture drawn over many damage rectangles in one batch: each clip a
/// part of one dispatch of the fast path and one of the general shader
/// (its edges). Replacing, under every transform, the result is the
/// reference's copy inside each clip and the target's own bytes outside;
/// blending, it is what the same draws make one batch each.
#[test]
fn damage_rectangles_of_one_texture_are_one_dispatch_of_each_shader() {
    use dmabridge::copy::{Blend, Draw, DrawPlan};
    // Nine clips that share no pixel, in cells of 14 pixels, each off the
    // grid of blocks on some side: inside the destination rectangle of
    // every transform (it covers 44 × 44 from (4, 8) at least).
    let clips: Vec<Rect<i32, dmabridge::copy::Dest>> = (0..9)
        .map(|k| {
            let (x, y) = (4 + (k % 3) * 14 + k % 4, 8 + (k / 3) * 14 + (k + 1) % 4);
            support::rect(x, y, 14 - k % 4 - k % 3, 14 - (k + 1) % 4 - k % 2)
        })
        .collect();
    on_gpu(|copier| {
        for (transform, blend) in Transform::ALL
            .into_iter()
            .map(|t| (t, Blend::Replace))
            .chain([
                (Transform::_90, Blend::Over),
                (Transform::Normal, Blend::Over),
            ])
        {
            let src_format = match blend {
                Blend::Replace => DrmFourcc::Xrgb8888,
                Blend::Over => DrmFourcc::Argb8888,
            };
            let name = format!("damage-{transform:?}-{blend:?}");
            let case = odd_texture_case(name, transform, src_format);
            let dst_rect = case.plan.request().dst_rect;
            let plans: Vec<DrawPlan> = clips
                .iter()
                .map(|&clip| odd_texture_draw(dst_rect, clip, transform, blend))
                .collect();
            let src_bytes = reference::noise(7, case.src_size as usize);
            let dst_bytes = reference::noise(8, case.dst_size as usize);
            let src = upload(copier, &src_bytes);
            let source = Surface::Buffer {
                buffer: &src,
                desc: &case.src,
            };
            let draw = |copier: &mut Copier, draws: &[Draw<'_>], dst: &DeviceBuffer| {
                let target = Surface::Buffer {
                    buffer: dst,
                    desc: &case.dst,
                };
                let batch = copier
                    .submit_draws(target, draws, Vec::new())
                    .expect("the batch is submitted");
                assert!(batch.refused.is_empty());
                batch.completion.wait().expect("waiting for the batch");
                batch.dispatches
            };
            let draws: Vec<Draw<'_>> = plans.iter().map(|p| Draw::new(p, Some(source))).collect();
            let merged = upload(copier, &dst_bytes);
            let dispatches = draw(copier, &draws, &merged);
            assert_eq!(dispatches, 2, "{}: dispatches", case.name);
            let want = match blend {
                Blend::Replace => copied_within(&case, &src_bytes, &dst_bytes, &clips),
                Blend::Over => {
                    let apart = upload(copier, &dst_bytes);
                    for one in &draws {
                        draw(copier, std::slice::from_ref(one), &apart);
                    }
                    copier
                        .readback(&apart)
                        .expect("reading back")
                        .wait()
                        .expect("waiting for the readback")
                }
            };
            let actual = copier
                .readback(&merged)
                .expect("reading back")
                .wait()
                .expect("waiting for the readback");
            if let Err(err) = compare(&case, &actual, &want) {
                panic!("{err}");
            }
        }
    });
}

#[test]
fn scaled_copies_nearest_and_linear() {
    // A sub-rectangle stretched across and squeezed down, and a small one
    // blown up: every pixel centre lands between texels.
    let geometries: [(Rect<i32, _>, Rect<i32, _>); 2] = [
        (support::rect(3, 2, 50, 40), support::rect(4, 5, 73, 31)),
        (support::rect(1, 1, 9, 7), support::rect(2, 3, 60, 50)),
    ];
    let pairs = [
        (DrmFourcc::Argb8888, DrmFourcc::Xbgr8888),
        (DrmFourcc::Xrgb8888, DrmFourcc::Argb8888),
        (DrmFourcc::Abgr8888, DrmFourcc::Abgr8888),
        (DrmFourcc::Nv12, DrmFourcc::Argb8888),
    ];
    let mut cases = Vec::new();
    for (g, (src_rect, dst_rect)) in geometries.into_iter().enumerate() {
        for transform in Transform::ALL {
            for filter in [Filter::Nearest, Filter::Linear] {
                for (src, dst) in pairs {
                    let request = CopyRequest {
                        src_size: Size::new(ODD.0, ODD.1),
                        dst_size: Size::new(80, 60),
                        src_rect,
                        dst_rect,
                        transform,
                        filter: Some(filter),
                    };
                    cases.push(Case::new(
                        format!(
                            "scaled{g}-{transform:?}-{filter:?}-{}-to-{}",
                            short(src),
                            short(dst)
                        ),
                        request,
                        (src, PADDED_SOURCE),
                        (dst, PADDED_DESTINATION),
                    ));
                }
            }
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

/// Fractional source rectangles (`CopyPlan::with_source`, as
/// `wp_viewporter` crops): each edge cut inside a pixel, shown under every
/// transform, at its own size (which still samples between texel centres)
/// and scaled, with either filter. The shader clamps to the pixels the
/// rectangle touches as the reference does: nearest exactly, linear within
/// ±1 per channel.
#[test]
fn fractional_sources_nearest_and_linear() {
    use dmabridge::copy::Point;
    let sources: [Rect<f64, dmabridge::copy::Buffer>; 2] = [
        Rect::new(Point::new(2.5, 1.25), Size::new(24.0, 16.0)),
        Rect::new(Point::new(0.75, 3.5), Size::new(7.125, 5.375)),
    ];
    let pairs = [
        (DrmFourcc::Argb8888, DrmFourcc::Xbgr8888),
        (DrmFourcc::Nv12, DrmFourcc::Argb8888),
    ];
    let mut cases = Vec::new();
    for (g, source) in sources.into_iter().enumerate() {
        for transform in Transform::ALL {
            let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(
                source.size.w as i32,
                source.size.h as i32,
            ));
            let destinations = [
                ("own-size", support::rect(4, 5, seen.w, seen.h)),
                ("scaled", support::rect(2, 3, 61, 47)),
            ];
            for (size, dst_rect) in destinations {
                for filter in [Filter::Nearest, Filter::Linear] {
                    for (src, dst) in pairs {
                        let request = CopyRequest {
                            src_size: Size::new(ODD.0, ODD.1),
                            dst_size: Size::new(80, 60),
                            src_rect: support::rect(0, 0, 1, 1),
                            dst_rect,
                            transform,
                            filter: Some(filter),
                        };
                        let plan = CopyPlan::with_source(request, source).expect("inside");
                        cases.push(Case::planned(
                            format!(
                                "fractional{g}-{size}-{transform:?}-{filter:?}-{}-to-{}",
                                short(src),
                                short(dst)
                            ),
                            plan,
                            (src, PADDED_SOURCE),
                            (dst, PADDED_DESTINATION),
                        ));
                    }
                }
            }
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

/// Copies whose buffers are larger than a binding may be are carried out
/// in bands (`src/copy/band.rs`): with the binding limit lowered to 4 KiB,
/// both the 67×45 source (13 KB) and the destination (over 20 KB) are
/// bound a few rows at a time, through every transform, scaled or not,
/// and the result is still the reference's, byte for byte.
#[test]
fn banded_copies_match_the_reference_under_every_transform() {
    let (w, h) = ODD;
    let mut cases = Vec::new();
    for transform in Transform::ALL {
        let seen = transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(w, h));
        let geometries = [
            (
                "unscaled",
                support::rect(0, 0, w, h),
                (5, 7, seen.w, seen.h),
                None,
            ),
            (
                "linear",
                support::rect(3, 2, 50, 40),
                (4, 5, 73, 51),
                Some(Filter::Linear),
            ),
            (
                "nearest",
                support::rect(1, 1, 9, 7),
                (2, 3, 60, 50),
                Some(Filter::Nearest),
            ),
        ];
        for (name, src_rect, (x, y, dw, dh), filter) in geometries {
            for (src, dst) in [
                (DrmFourcc::Argb8888, DrmFourcc::Xbgr8888),
                (DrmFourcc::Nv12, DrmFourcc::Argb8888),
            ] {
                let request = CopyRequest {
                    src_size: Size::new(w, h),
                    dst_size: Size::new(80, 76),
                    src_rect,
                    dst_rect: support::rect(x, y, dw, dh),
                    transform,
                    filter,
                };
                cases.push(Case::new(
                    format!(
                        "banded-{name}-{transform:?}-{}-to-{}",
                        short(src),
                        short(dst)
                    ),
                    request,
                    (src, PADDED_SOURCE),
                    (dst, PADDED_DESTINATION),
                ));
            }
        }
    }
    on_gpu(|copier| {
        copier.set_binding_limit(Some(4096));
        run_all(copier, &cases);
    });
}

/// Where not even one row fits a binding, banding cannot help: the copy is
/// refused with a typed error before anything is recorded.
#[test]
fn a_row_larger_than_a_binding_is_refused() {
    on_gpu(|copier| {
        let src = upload(copier, &[1; 64]);
        let dst = upload(copier, &[SENTINEL; 128]);
        let desc = ImageDesc {
            format: DrmFourcc::Argb8888,
            width: 4,
            height: 4,
            planes: vec![PlaneDesc {
                offset: 0,
                stride: 16,
            }],
        };
        // Another format, so that the shader copies (a transfer needs no
        // binding).
        let wide = ImageDesc {
            format: DrmFourcc::Xbgr8888,
            planes: vec![PlaneDesc {
                offset: 0,
                stride: 32,
            }],
            ..desc.clone()
        };
        copier.set_binding_limit(Some(16));
        let err = submit(copier, (&src, &desc), (&dst, &wide)).expect_err("must be refused");
        assert!(
            matches!(
                err,
                CopyError::BufferTooLarge {
                    size: 20..,
                    max: 16,
                    ..
                }
            ),
            "{err:?}"
        );
        copier.set_binding_limit(None);
        submit(copier, (&src, &desc), (&dst, &wide)).expect("fits the device's limit");
    });
}

/// A batch of draws in which some cannot be carried out (a texture that
/// is the target itself, a texture whose description is not the size its
/// plan was made for) draws all the others and names the ones it skipped.
#[test]
fn a_batch_skips_the_draws_it_refuses_and_draws_the_others() {
    use dmabridge::copy::{Blend, Draw, DrawPlan, DrawRequest, DrawSource, Point};
    on_gpu(|copier| {
        let (w, h) = (8, 8);
        let target = upload(copier, &[SENTINEL; 8 * 8 * 4]);
        let desc = |width, height| unpadded(DrmFourcc::Argb8888, width, height);
        let target_desc = desc(w, h);
        let texture = upload(copier, &[7; 4 * 4 * 4]);
        // Described as 4×2, drawn as if it were 4×4.
        let short_desc = desc(4, 2);
        let plan = |rect: Rect<i32, _>, source| {
            DrawPlan::new(DrawRequest {
                dst_size: Size::new(8, 8),
                dst_rect: rect,
                clip: rect,
                source,
                blend: Blend::Replace,
                alpha: 1.0,
            })
            .expect("a valid draw")
        };
        let texture_source = DrawSource::Texture {
            size: Size::new(4, 4),
            rect: Rect::new(Point::new(0.0, 0.0), Size::new(4.0, 4.0)),
            transform: Transform::Normal,
            filter: Filter::Nearest,
        };
        let red = plan(
            support::rect(0, 0, 8, 8),
            DrawSource::Solid([1.0, 0.0, 0.0, 1.0]),
        );
        let itself = plan(support::rect(0, 0, 4, 4), texture_source);
        let short = plan(support::rect(4, 4, 4, 4), texture_source);
        let green = plan(
            support::rect(2, 2, 2, 2),
            DrawSource::Solid([0.0, 1.0, 0.0, 1.0]),
        );
        let target_surface = Surface::Buffer {
            buffer: &target,
            desc: &target_desc,
        };
        let draws = [
            Draw::new(&red, None),
            Draw::new(&itself, Some(target_surface)),
            Draw::new(
                &short,
                Some(Surface::Buffer {
                    buffer: &texture,
                    desc: &short_desc,
                }),
            ),
            Draw::new(&green, None),
        ];
        let batch = copier
            .submit_draws(target_surface, &draws, Vec::new())
            .expect("the batch is submitted");
        batch.completion.wait().expect("waiting for the batch");
        let refused: Vec<usize> = batch.refused.iter().map(|(i, _)| *i).collect();
        assert_eq!(refused, [1, 2], "{:?}", batch.refused);
        assert!(matches!(batch.refused[0].1, CopyError::SameBuffer));
        assert!(matches!(
            batch.refused[1].1,
            CopyError::SizeMismatch {
                side: Side::Source,
                ..
            }
        ));
        let bytes = copier
            .readback(&target)
            .expect("reading back")
            .wait()
            .expect("waiting for the readback");
        for y in 0..8 {
            for x in 0..8 {
                let at = (y * 8 + x) * 4;
                let green = (2..4).contains(&x) && (2..4).contains(&y);
                let want = if green {
                    [0, 255, 0, 255]
                } else {
                    [0, 0, 255, 255]
                };
                assert_eq!(bytes[at..at + 4], want, "pixel ({x}, {y})");
            }
        }
    });
}

#[test]
fn sources_at_any_byte_offset_and_stride() {
    // Offsets and strides that are not multiples of 4: packed pixels
    // straddle two 32-bit words of the storage buffer.
    let (w, h) = ODD;
    let mut cases = Vec::new();
    for (offset, pad) in [(1, 1), (2, 2), (3, 3), (5, 0), (0, 7)] {
        for src in SOURCES {
            let request = CopyRequest {
                src_size: Size::new(w, h),
                dst_size: Size::new(w, h),
                src_rect: support::rect(0, 0, w, h),
                dst_rect: support::rect(0, 0, w, h),
                transform: Transform::_180,
                filter: None,
            };
            cases.push(Case::new(
                format!("unaligned-{offset}-{pad}-{}", short(src)),
                request,
                (src, Layout { offset, pad }),
                (DrmFourcc::Abgr8888, Layout { offset: 0, pad: 0 }),
            ));
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

#[test]
fn plain_copies_of_sub_rectangles_and_whole_buffers() {
    // Unchanged bytes (a packed format onto itself, no scaling, upright or
    // with the rows mirrored; X formats keep their padding) are moved by
    // transfers: one a row of a sub-rectangle of padded buffers, or one in
    // all between whole unpadded buffers upright. ARGB8888 onto ABGR8888
    // converts.
    let (w, h) = ODD;
    let pairs = [
        (DrmFourcc::Argb8888, DrmFourcc::Argb8888),
        (DrmFourcc::Abgr8888, DrmFourcc::Abgr8888),
        (DrmFourcc::Xrgb8888, DrmFourcc::Xrgb8888),
        (DrmFourcc::Xbgr8888, DrmFourcc::Xbgr8888),
        (DrmFourcc::Argb8888, DrmFourcc::Abgr8888),
    ];
    let tight = Layout { offset: 0, pad: 0 };
    let geometries = [
        // A sub-rectangle at an offset, padded rows on both sides.
        (
            "sub",
            (w, h),
            support::rect(3, 5, 20, 10),
            (40, 30),
            support::rect(7, 2, 20, 10),
            PADDED_SOURCE,
            PADDED_DESTINATION,
        ),
        // Whole rows at odd places: an unaligned source offset and stride.
        (
            "rows",
            (w, h),
            support::rect(0, 11, w, 9),
            (w, 20),
            support::rect(0, 4, w, 9),
            Layout { offset: 1, pad: 3 },
            tight,
        ),
        // Whole rows of an unpadded source into padded rows: a transfer
        // a row, never one over the destination's padding.
        (
            "into-padded",
            (w, h),
            support::rect(0, 11, w, 9),
            (w, 20),
            support::rect(0, 4, w, 9),
            tight,
            PADDED_DESTINATION,
        ),
        // Whole buffers without padding: a single transfer.
        (
            "whole",
            (w, h),
            support::rect(0, 0, w, h),
            (w, h),
            support::rect(0, 0, w, h),
            tight,
            tight,
        ),
        // Whole unpadded buffers away from the start of theirs.
        (
            "offset",
            (w, h),
            support::rect(0, 0, w, h),
            (w, h),
            support::rect(0, 0, w, h),
            Layout { offset: 8, pad: 0 },
            Layout { offset: 4, pad: 0 },
        ),
    ];
    let mut cases = Vec::new();
    for (name, src_size, src_rect, dst_size, dst_rect, src_layout, dst_layout) in geometries {
        for (src, dst) in pairs {
            for filter in [None, Some(Filter::Linear)] {
                for transform in [Transform::Normal, Transform::Flipped180] {
                    let request = CopyRequest {
                        src_size: Size::new(src_size.0, src_size.1),
                        dst_size: Size::new(dst_size.0, dst_size.1),
                        src_rect,
                        dst_rect,
                        transform,
                        filter,
                    };
                    cases.push(Case::new(
                        format!(
                            "plain-{name}-{filter:?}-{transform:?}-{}-to-{}",
                            short(src),
                            short(dst)
                        ),
                        request,
                        (src, src_layout),
                        (dst, dst_layout),
                    ));
                }
            }
        }
    }
    on_gpu(|copier| run_all(copier, &cases));
}

/// A 4×4 ARGB8888 copy of `src` onto `dst` with the given descriptions.
fn submit(
    copier: &mut Copier,
    (src, src_desc): (&DeviceBuffer, &ImageDesc),
    (dst, dst_desc): (&DeviceBuffer, &ImageDesc),
) -> Result<(), CopyError> {
    let plan = CopyPlan::new(CopyRequest {
        src_size: Size::new(4, 4),
        dst_size: Size::new(4, 4),
        src_rect: support::rect(0, 0, 4, 4),
        dst_rect: support::rect(0, 0, 4, 4),
        transform: Transform::Normal,
        filter: None,
    })
    .expect("a valid request");
    let job = CopyJob::new(
        &plan,
        Surface::Buffer {
            buffer: src,
            desc: src_desc,
        },
        Surface::Buffer {
            buffer: dst,
            desc: dst_desc,
        },
    );
    copier
        .submit(&job)
        .map(|done| done.wait().expect("waiting"))
}

#[test]
fn bad_descriptions_are_refused_before_any_work() {
    on_gpu(|copier| {
        let src = upload(copier, &[1; 64]);
        let dst = upload(copier, &[SENTINEL; 128]);
        assert_eq!(copier.collect().expect("collecting"), 0);
        let packed = |format, offset, stride| ImageDesc {
            format,
            width: 4,
            height: 4,
            planes: vec![PlaneDesc { offset, stride }],
        };
        let good = packed(DrmFourcc::Argb8888, 0, 16);
        let refused = |copier: &mut Copier, src_desc: &ImageDesc, dst_desc: &ImageDesc| {
            submit(copier, (&src, src_desc), (&dst, dst_desc)).expect_err("must be refused")
        };

        // One byte too many: the last row ends past the 64-byte buffer.
        let err = refused(copier, &packed(DrmFourcc::Argb8888, 1, 16), &good);
        assert!(
            matches!(
                err,
                CopyError::PlaneOutOfBounds {
                    side: Side::Source,
                    plane: 0,
                    end: 65,
                    size: 64
                }
            ),
            "{err:?}"
        );
        let err = refused(copier, &good, &packed(DrmFourcc::Argb8888, 0, 40));
        assert!(
            matches!(
                err,
                CopyError::PlaneOutOfBounds {
                    side: Side::Destination,
                    end: 160,
                    size: 128,
                    ..
                }
            ),
            "{err:?}"
        );
        // An offset so large that offset + stride × rows overflows.
        let err = refused(
            copier,
            &packed(DrmFourcc::Argb8888, u64::MAX - 8, 16),
            &good,
        );
        assert!(
            matches!(err, CopyError::PlaneOutOfBounds { end: u64::MAX, .. }),
            "{err:?}"
        );
        let err = refused(copier, &packed(DrmFourcc::Argb8888, 0, 15), &good);
        assert!(
            matches!(
                err,
                CopyError::StrideTooSmall {
                    stride: 15,
                    min: 16,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = refused(copier, &good, &packed(DrmFourcc::Argb8888, 2, 16));
        assert!(
            matches!(
                err,
                CopyError::UnalignedDestination {
                    offset: 2,
                    stride: 16
                }
            ),
            "{err:?}"
        );
        let mut small = good.clone();
        small.width = 3;
        let err = refused(copier, &small, &good);
        assert!(
            matches!(
                err,
                CopyError::SizeMismatch {
                    side: Side::Source,
                    width: 3,
                    plan_width: 4,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = refused(copier, &good, &packed(DrmFourcc::Nv12, 0, 16));
        assert!(
            matches!(
                err,
                CopyError::UnsupportedFormat {
                    side: Side::Destination,
                    format: DrmFourcc::Nv12
                }
            ),
            "{err:?}"
        );
        let err = refused(copier, &packed(DrmFourcc::Rgb565, 0, 16), &good);
        assert!(
            matches!(
                err,
                CopyError::UnsupportedFormat {
                    side: Side::Source,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = refused(copier, &packed(DrmFourcc::Nv12, 0, 16), &good);
        assert!(
            matches!(
                err,
                CopyError::PlaneCount {
                    expected: 2,
                    got: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        let err = submit(copier, (&src, &good), (&src, &good)).expect_err("same buffer");
        assert!(matches!(err, CopyError::SameBuffer), "{err:?}");
        let err = copier.upload(&src, &[0; 65]).expect_err("too large");
        assert!(
            matches!(err, CopyError::UploadTooLarge { len: 65, size: 64 }),
            "{err:?}"
        );
        assert!(matches!(
            copier.create_buffer(0),
            Err(CopyError::EmptyBuffer)
        ));
        // Whole words: a plane ending in the last one is read whole.
        assert_eq!(copier.create_buffer(27).expect("a buffer").size(), 28);

        // Nothing was submitted, and the destination is untouched.
        assert_eq!(copier.collect().expect("collecting"), 0);
        let bytes = copier
            .readback(&dst)
            .expect("readback")
            .wait()
            .expect("waiting");
        assert_eq!(bytes, [SENTINEL; 128]);
        // The good description goes through, and writes only its 64 bytes.
        submit(copier, (&src, &good), (&dst, &good)).expect("a valid copy");
        let bytes = copier
            .readback(&dst)
            .expect("readback")
            .wait()
            .expect("waiting");
        assert_eq!(bytes[..64], [1; 64]);
        assert_eq!(bytes[64..], [SENTINEL; 64]);
    });
}

#[test]
fn work_in_flight_is_collected_once_done() {
    on_gpu(|copier| {
        let buffer = copier.create_buffer(1 << 20).expect("creating a buffer");
        let uploads: Vec<_> = (0..4)
            .map(|i| {
                copier
                    .upload(&buffer, &vec![i; 1 << 20])
                    .expect("uploading")
            })
            .collect();
        for upload in uploads {
            upload.wait().expect("waiting");
        }
        assert_eq!(copier.collect().expect("collecting"), 0);
        let bytes = copier
            .readback(&buffer)
            .expect("readback")
            .wait()
            .expect("waiting");
        assert!(bytes.iter().all(|&b| b == 3), "uploads ran in order");
    });
}

#[test]
fn translucent_draws_blend_over_what_the_destination_holds() {
    use dmabridge::copy::Point;
    // A 40×36 ARGB8888 texture of every alpha over a 64×48 destination
    // whose every pixel differs, alpha included, in each packed format:
    // whole blocks inside the clip read the destination as vectors, the
    // clip's edges (odd on every side) pixel by pixel. At alpha 0.75 the
    // shader blends in floats; at alpha 1 in integers, from source blocks
    // off the grid (at 9, 5) and on it (at 8, 4). Premultiplied colour: no
    // channel above alpha.
    let (tw, th, w, h) = (40usize, 36usize, 64usize, 48usize);
    // R, G, B, A.
    let texel = |x: usize, y: usize| -> [u8; 4] {
        let a = ((x * 7 + y * 13) % 256) as u8;
        let c = |k: usize| ((x * k + y * 3) % (usize::from(a) + 1)) as u8;
        [c(17), c(11), c(5), a]
    };
    let under = |x: usize, y: usize| -> [u8; 4] {
        [
            ((x + y) * 3) as u8,
            (y * 5) as u8,
            (x * 4) as u8,
            (x * y + 40) as u8,
        ]
    };
    // R, G, B, A as the bytes of `format`, and back; an X format's fourth
    // byte reads as opaque.
    let bytes_of = |format: DrmFourcc, [r, g, b, a]: [u8; 4]| match format {
        DrmFourcc::Argb8888 | DrmFourcc::Xrgb8888 => [b, g, r, a],
        _ => [r, g, b, a],
    };
    let rgba_of = |format: DrmFourcc, bytes: [u8; 4]| {
        let [r, g, b, a] = bytes_of(format, bytes);
        let x = matches!(format, DrmFourcc::Xrgb8888 | DrmFourcc::Xbgr8888);
        [r, g, b, if x { 255 } else { a }]
    };
    let texture: Vec<u8> = (0..th)
        .flat_map(|y| (0..tw).flat_map(move |x| bytes_of(DrmFourcc::Argb8888, texel(x, y))))
        .collect();
    let clip = support::rect(11, 6, 33, 29);
    on_gpu(|copier| {
        let texture_buffer = upload(copier, &texture);
        let texture_desc = unpadded(DrmFourcc::Argb8888, tw, th);
        let cases = [
            (0.75, Point::new(9, 5)),
            (1.0, Point::new(9, 5)),
            (1.0, Point::new(8, 4)),
        ];
        for format in PACKED {
            for (alpha, at) in cases {
                let target: Vec<u8> = (0..h)
                    .flat_map(|y| (0..w).flat_map(move |x| bytes_of(format, under(x, y))))
                    .collect();
                let target_buffer = upload(copier, &target);
                let target_desc = unpadded(format, w, h);
                let plan = blend_whole_texture((w, h), (tw, th), at, clip, alpha);
                let bytes = draw_and_read(
                    copier,
                    &plan,
                    (&texture_buffer, &texture_desc),
                    (&target_buffer, &target_desc),
                );
                let inside = |x: usize, y: usize| {
                    let (x, y) = (x as i32, y as i32);
                    (clip.loc.x..clip.loc.x + clip.size.w).contains(&x)
                        && (clip.loc.y..clip.loc.y + clip.size.h).contains(&y)
                };
                // Exact in integers (alpha 1), ±1 in floats.
                let tolerance = u8::from(alpha != 1.0);
                let x_format = matches!(format, DrmFourcc::Xrgb8888 | DrmFourcc::Xbgr8888);
                let mut wrong = Vec::new();
                for y in 0..h {
                    for x in 0..w {
                        let want = if inside(x, y) {
                            let src = texel(x - at.x as usize, y - at.y as usize);
                            let dst = rgba_of(format, bytes_of(format, under(x, y)));
                            let a = f64::from(src[3]) * f64::from(alpha) / 255.0;
                            let mut out = [0u8; 4];
                            for (c, out) in out.iter_mut().enumerate() {
                                *out = (f64::from(src[c]) * f64::from(alpha)
                                    + f64::from(dst[c]) * (1.0 - a))
                                    .round() as u8;
                            }
                            if x_format {
                                out[3] = 255;
                            }
                            bytes_of(format, out)
                        } else {
                            bytes_of(format, under(x, y))
                        };
                        let got = &bytes[(y * w + x) * 4..(y * w + x) * 4 + 4];
                        if got
                            .iter()
                            .zip(want)
                            .any(|(&g, w)| g.abs_diff(w) > tolerance)
                        {
                            wrong.push(((x, y), got.to_vec(), want));
                        }
                    }
                }
                assert!(
                    wrong.is_empty(),
                    "{format:?}, alpha {alpha} at {at:?}: {} pixels differ: {:?}",
                    wrong.len(),
                    &wrong[..wrong.len().min(8)]
                );
            }
        }
    });
}

/// A source that is not premultiplied (a channel above its alpha) blends
/// to more than a byte holds; each channel is clamped to 255, exactly as
/// the reference's integer blend does, on the block path (whole 4×4 blocks
/// read and written as vectors).
#[test]
fn blends_of_channels_above_alpha_saturate() {
    use dmabridge::copy::Point;
    let (w, h) = (8usize, 4usize);
    // B, G, R, A: the bytes of ARGB8888.
    let texel = |x: usize, y: usize| -> [u8; 4] {
        [
            (255 - x * 7) as u8,
            (200 + y * 10) as u8,
            (x * y * 9) as u8,
            ((x * 31 + y * 17) % 256) as u8,
        ]
    };
    let under =
        |x: usize, y: usize| -> [u8; 4] { [(200 + x) as u8, (100 + y * 30) as u8, 250, 128] };
    let bytes = |f: &dyn Fn(usize, usize) -> [u8; 4]| -> Vec<u8> {
        (0..h)
            .flat_map(|y| (0..w).flat_map(move |x| f(x, y)))
            .collect()
    };
    on_gpu(|copier| {
        let texture = upload(copier, &bytes(&texel));
        let target = upload(copier, &bytes(&under));
        let desc = unpadded(DrmFourcc::Argb8888, w, h);
        let plan = blend_whole_texture(
            (w, h),
            (w, h),
            Point::new(0, 0),
            support::rect(0, 0, 8, 4),
            1.0,
        );
        let got = draw_and_read(copier, &plan, (&texture, &desc), (&target, &desc));
        let mut clamped = 0;
        for y in 0..h {
            for x in 0..w {
                let (src, dst) = (texel(x, y), under(x, y));
                let inverse = 255 - u32::from(src[3]);
                let want = std::array::from_fn::<u8, 4, _>(|c| {
                    let sum = u32::from(src[c]) + (u32::from(dst[c]) * inverse + 127) / 255;
                    clamped += usize::from(sum > 255);
                    sum.min(255) as u8
                });
                let at = (y * w + x) * 4;
                assert_eq!(got[at..at + 4], want, "pixel ({x}, {y})");
            }
        }
        assert!(clamped > 8, "the pattern clamps only {clamped} channels");
    });
}

#[test]
fn scaled_nearest_draws_match_copies_of_the_same_geometry() {
    use dmabridge::copy::{Blend, Draw, DrawPlan, DrawRequest, DrawSource, Point};
    // A draw at alpha 1 with the nearest filter moves whole words, like a
    // copy; scaled, it must still sample each pixel on its own, whatever
    // the transform. The same geometry as a copy job is the expectation.
    let (sw, sh, w, h) = (20, 12, 64, 48);
    let source: Vec<u8> = (0..sw * sh * 4).map(|i| (i * 7 % 251) as u8).collect();
    let desc =
        |width: i32, height: i32| unpadded(DrmFourcc::Argb8888, width as usize, height as usize);
    let (src_desc, dst_desc) = (desc(sw, sh), desc(w, h));
    on_gpu(|copier| {
        let src = upload(copier, &source);
        for transform in Transform::ALL {
            let seen =
                transform.transformed_size(Size::<i32, dmabridge::copy::Buffer>::new(sw, sh));
            // Doubled, then stretched a little more across.
            let dst_rect = support::rect(4, 8, seen.w * 2 + 3, seen.h * 2);
            let drawn = upload(copier, &vec![0; (w * h * 4) as usize]);
            let copied = upload(copier, &vec![0; (w * h * 4) as usize]);
            let plan = DrawPlan::new(DrawRequest {
                dst_size: Size::new(w, h),
                dst_rect,
                clip: dst_rect,
                source: DrawSource::Texture {
                    size: Size::new(sw, sh),
                    rect: Rect::new(
                        Point::new(0.0, 0.0),
                        Size::new(f64::from(sw), f64::from(sh)),
                    ),
                    transform,
                    filter: Filter::Nearest,
                },
                blend: Blend::Replace,
                alpha: 1.0,
            })
            .expect("a valid draw");
            let source_surface = Surface::Buffer {
                buffer: &src,
                desc: &src_desc,
            };
            let batch = copier
                .submit_draws(
                    Surface::Buffer {
                        buffer: &drawn,
                        desc: &dst_desc,
                    },
                    &[Draw::new(&plan, Some(source_surface))],
                    Vec::new(),
                )
                .expect("the batch is submitted");
            batch.completion.wait().expect("waiting for the batch");
            let copy = CopyPlan::new(CopyRequest {
                src_size: Size::new(sw, sh),
                dst_size: Size::new(w, h),
                src_rect: support::rect(0, 0, sw, sh),
                dst_rect,
                transform,
                filter: Some(Filter::Nearest),
            })
            .expect("a valid copy");
            copier
                .submit(&CopyJob::new(
                    &copy,
                    source_surface,
                    Surface::Buffer {
                        buffer: &copied,
                        desc: &dst_desc,
                    },
                ))
                .expect("submitting the copy")
                .wait()
                .expect("waiting for the copy");
            let mut read = |buffer: &DeviceBuffer| {
                copier
                    .readback(buffer)
                    .expect("reading back")
                    .wait()
                    .expect("waiting for the readback")
            };
            let (drawn, copied) = (read(&drawn), read(&copied));
            assert!(drawn == copied, "{transform:?}");
        }
    });
}

#[test]
fn solid_fills_write_the_words_the_shader_writes() {
    use dmabridge::copy::{Blend, Draw, DrawPlan, DrawRequest, DrawSource};
    // Each colour at two alphas, one a row: on the left replacing (a
    // buffer fill), on the right blended over transparent black (the
    // shader), which leaves the colour as it is. Channels on and near the
    // halves where rounding turns.
    let colours: [[f32; 4]; 5] = [
        [1.0, 0.0, 0.0, 1.0],
        [0.5, 0.25, 0.75, 1.0],
        [0.5 / 255.0, 1.5 / 255.0, 254.5 / 255.0, 1.0],
        [0.1, 0.2, 0.3, 0.4],
        [0.0, 0.0, 0.0, 0.0],
    ];
    let rows: Vec<([f32; 4], f32)> = colours.iter().flat_map(|&c| [(c, 1.0), (c, 0.6)]).collect();
    let (w, h) = (16usize, rows.len());
    on_gpu(|copier| {
        for format in PACKED {
            let target = upload(copier, &vec![0; w * h * 4]);
            let desc = ImageDesc {
                format,
                width: w as u32,
                height: h as u32,
                planes: vec![PlaneDesc {
                    offset: 0,
                    stride: w as u32 * 4,
                }],
            };
            let plans: Vec<DrawPlan> = rows
                .iter()
                .enumerate()
                .flat_map(|(y, &(colour, alpha))| {
                    [(0, Blend::Replace), (8, Blend::Over)].map(|(x, blend)| {
                        let rect = support::rect(x, y as i32, 8, 1);
                        DrawPlan::new(DrawRequest {
                            dst_size: Size::new(w as i32, h as i32),
                            dst_rect: rect,
                            clip: rect,
                            source: DrawSource::Solid(colour),
                            blend,
                            alpha,
                        })
                        .expect("a valid draw")
                    })
                })
                .collect();
            let draws: Vec<Draw<'_>> = plans.iter().map(|p| Draw::new(p, None)).collect();
            let batch = copier
                .submit_draws(
                    Surface::Buffer {
                        buffer: &target,
                        desc: &desc,
                    },
                    &draws,
                    Vec::new(),
                )
                .expect("the batch is submitted");
            batch.completion.wait().expect("waiting for the batch");
            let replacing: Vec<usize> = (0..draws.len()).step_by(2).collect();
            assert_eq!(batch.fills, replacing, "{format:?}");
            let bytes = copier
                .readback(&target)
                .expect("reading back")
                .wait()
                .expect("waiting for the readback");
            for (y, row) in bytes.chunks_exact(w * 4).enumerate() {
                let (fill, shader) = row.split_at(w * 2);
                assert_eq!(fill, shader, "{format:?}, {:?}", rows[y]);
            }
        }
    });
}

#[test]
fn blends_over_a_fill_of_the_batch_match_blends_that_read_the_target() {
    use dmabridge::copy::reference::noise;
    use dmabridge::copy::{Blend, Draw, DrawPlan, DrawRequest, DrawSource, Point};
    // In one batch, a texture blended where fills of the batch of one
    // colour are the last things drawn under its whole clip blends over
    // that colour without reading the target, and the fills leave its clip
    // out. The result must be the bytes the same draws give one batch at a
    // time, where each blend reads the target: in every packed format, at
    // alpha 1 (integers, whole blocks) and 0.75 (floats, odd edges), with
    // translucent fill colours. Draws that straddle a fill's edge, overlap
    // a draw after the fills or lie over fills of two colours read the
    // target.
    let (tw, th, w, h) = (60, 46, 64, 48);
    let [a, b] = [[0.1, 0.3, 0.5, 0.6], [0.4, 0.2, 0.0, 1.0]];
    let fills = [
        (a, support::rect(4, 2, 56, 20)),
        (a, support::rect(4, 22, 56, 20)),
        (b, support::rect(44, 42, 16, 5)),
    ];
    // (alpha, clip): over the first fill; over the first two; across the
    // first fill's left edge; over the first draw; over the second and
    // third fills.
    let blends = [
        (1.0, support::rect(8, 4, 20, 16)),
        (0.75, support::rect(30, 14, 21, 13)),
        (1.0, support::rect(0, 10, 12, 10)),
        (1.0, support::rect(12, 12, 10, 10)),
        (1.0, support::rect(50, 40, 10, 6)),
    ];
    let texture = noise(7, tw * th * 4);
    on_gpu(|copier| {
        let texture_buffer = upload(copier, &texture);
        let texture_desc = unpadded(DrmFourcc::Argb8888, tw, th);
        for format in PACKED {
            let mut plans: Vec<DrawPlan> = fills
                .iter()
                .map(|&(colour, rect)| {
                    DrawPlan::new(DrawRequest {
                        dst_size: Size::new(w as i32, h as i32),
                        dst_rect: rect,
                        clip: rect,
                        source: DrawSource::Solid(colour),
                        blend: Blend::Replace,
                        alpha: 1.0,
                    })
                    .expect("a valid fill")
                })
                .collect();
            for (alpha, clip) in blends {
                plans.push(blend_whole_texture(
                    (w, h),
                    (tw, th),
                    Point::new(0, 1),
                    clip,
                    alpha,
                ));
            }
            let draws: Vec<Draw<'_>> = plans
                .iter()
                .map(|plan| {
                    let source = matches!(plan.request().source, DrawSource::Texture { .. })
                        .then_some(Surface::Buffer {
                            buffer: &texture_buffer,
                            desc: &texture_desc,
                        });
                    Draw::new(plan, source)
                })
                .collect();
            let target_desc = unpadded(format, w, h);
            let start = noise(11, w * h * 4);
            let mut results = Vec::new();
            for together in [true, false] {
                let target = upload(copier, &start);
                let surface = Surface::Buffer {
                    buffer: &target,
                    desc: &target_desc,
                };
                let batches: Vec<&[Draw<'_>]> = if together {
                    vec![&draws[..]]
                } else {
                    draws.chunks(1).collect()
                };
                let mut onto = Vec::new();
                for (first, batch) in batches.iter().enumerate() {
                    let done = copier
                        .submit_draws(surface, batch, Vec::new())
                        .expect("the batch is submitted");
                    done.completion.wait().expect("waiting for the batch");
                    assert!(done.refused.is_empty(), "{:?}", done.refused);
                    onto.extend(done.onto_fills.iter().map(|i| i + first));
                }
                let expected_onto: &[usize] = if together { &[3, 4] } else { &[] };
                assert_eq!(onto, expected_onto, "{format:?}, together: {together}");
                results.push(
                    copier
                        .readback(&target)
                        .expect("reading back")
                        .wait()
                        .expect("waiting for the readback"),
                );
            }
            let differ = results[0]
                .chunks_exact(4)
                .zip(results[1].chunks_exact(4))
                .enumerate()
                .filter(|(_, (a, b))| a != b)
                .map(|(i, (a, b))| ((i % w, i / w), a.to_vec(), b.to_vec()))
                .collect::<Vec<_>>();
            assert!(
                differ.is_empty(),
                "{format:?}: {} pixels differ (one batch, one at a time): {:?}",
                differ.len(),
                &differ[..differ.len().min(8)]
            );
        }
    });
}
