//! The renderer (`render::VulkanRenderer`) with real dma-bufs (udmabuf),
//! inside the test guest:
//!
//! * a LINEAR dma-buf imported through smithay's `ImportDma` is drawn into
//!   an offscreen target with the pixels it holds;
//! * importing the same dma-buf again creates no Vulkan object;
//! * a dma-buf bound as the framebuffer receives the frame, read back
//!   through a CPU-access bracket.
//!
//! Every test ends by checking that the validation layer reported no error.

mod common;
#[path = "support/vulkan.rs"]
mod fixture;

use std::sync::Arc;

use dmabridge::alloc::{DmabufAllocator, Udmabuf};
use dmabridge::dmabuf::{Access, Dmabuf};
use dmabridge::render::VulkanRenderer;
use drm_fourcc::{DrmFourcc, DrmModifier};
use smithay::backend::allocator::dmabuf::{Dmabuf as SmithayDmabuf, DmabufFlags};
use smithay::backend::renderer::{Bind, Color32F, Frame, ImportDma, Offscreen, Renderer, Texture};
use smithay::utils::{Rectangle, Transform};

/// The source: 5×4.
const SRC: (u32, u32) = (5, 4);
/// The targets: 8×6.
const DST: (u32, u32) = (8, 6);
/// Where the source is drawn.
const AT: (i32, i32) = (2, 1);
/// Clear colour: opaque green, stored as ARGB8888 B, G, R, A.
const GREEN: [u8; 4] = [0, 255, 0, 255];

/// A distinct opaque pixel for each source position (B, G, R, A).
fn texel(x: u32, y: u32) -> [u8; 4] {
    [(x * 40) as u8, (y * 50) as u8, (x * 7 + y * 11) as u8, 255]
}

/// What the target holds after the frame at pixel (x, y).
fn expected(x: u32, y: u32) -> [u8; 4] {
    let (sx, sy) = (x as i32 - AT.0, y as i32 - AT.1);
    if (0..SRC.0 as i32).contains(&sx) && (0..SRC.1 as i32).contains(&sy) {
        texel(sx as u32, sy as u32)
    } else {
        GREEN
    }
}

/// A udmabuf of `format`, `w × h`, filled with `fill(x, y)` through a
/// CPU-access bracket.
fn allocate(format: DrmFourcc, (w, h): (u32, u32), fill: impl Fn(u32, u32) -> [u8; 4]) -> Dmabuf {
    let udmabuf = Udmabuf::open().expect("opening /dev/udmabuf");
    let mut dmabuf = udmabuf.allocate(format, w, h).expect("allocating");
    let stride = dmabuf.planes()[0].stride() as usize;
    let mut access = dmabuf.begin_cpu_access(Access::Write).expect("CPU access");
    let bytes = access.plane_mut(0).expect("writable");
    for y in 0..h {
        for x in 0..w {
            let at = y as usize * stride + x as usize * 4;
            bytes[at..at + 4].copy_from_slice(&fill(x, y));
        }
    }
    drop(access);
    dmabuf
}

/// The same buffer as smithay's dma-buf, over dups of its fds.
fn smithay_dmabuf(dmabuf: &Dmabuf) -> SmithayDmabuf {
    let size = (dmabuf.width() as i32, dmabuf.height() as i32);
    let mut builder = SmithayDmabuf::builder(
        size,
        dmabuf.format(),
        DrmModifier::Linear,
        DmabufFlags::empty(),
    );
    for (index, plane) in (0..).zip(dmabuf.planes()) {
        let fd = plane.fd().try_clone_to_owned().expect("dup");
        assert!(builder.add_plane(fd, index, plane.offset(), plane.stride()));
    }
    builder.build().expect("a dma-buf with its planes")
}

/// Clears `framebuffer` to green and draws `texture` at [`AT`], in one
/// frame; waits for it.
fn draw(
    renderer: &mut VulkanRenderer,
    framebuffer: &mut dmabridge::render::Framebuffer<'_>,
    texture: &dmabridge::render::VulkanTexture,
) {
    let output = Rectangle::from_size((DST.0 as i32, DST.1 as i32).into());
    let mut frame = renderer
        .render(framebuffer, output.size, Transform::Normal)
        .expect("starting a frame");
    frame
        .clear(Color32F::new(0.0, 1.0, 0.0, 1.0), &[output])
        .expect("clearing");
    let size = texture.size();
    let dst = Rectangle::new(AT.into(), (size.w, size.h).into());
    frame
        .render_texture_from_to(
            texture,
            Rectangle::from_size(size).to_f64(),
            dst,
            &[Rectangle::from_size(dst.size)],
            &[],
            Transform::Normal,
            1.0,
        )
        .expect("drawing the dma-buf");
    let sync = frame.finish().expect("submitting the frame");
    assert!(
        sync.is_exportable(),
        "lavapipe in the guest exports SYNC_FD"
    );
    sync.wait().expect("waiting for the frame");
}

#[test]
fn an_imported_dmabuf_is_drawn_and_imported_once() {
    common::require_guest();
    fixture::on_device(|device| {
        let mut renderer = VulkanRenderer::new(Arc::clone(device)).expect("renderer");
        let source = allocate(DrmFourcc::Argb8888, SRC, texel);
        let client = smithay_dmabuf(&source);
        assert!(
            renderer
                .dmabuf_formats()
                .iter()
                .any(|f| f.code == DrmFourcc::Argb8888 && f.modifier == DrmModifier::Linear),
            "LINEAR ARGB8888 is importable"
        );
        let texture = renderer.import_dmabuf(&client, None).expect("importing");
        let created = renderer.import_objects_created();
        assert!(
            created > 0,
            "the first import creates the buffer and memory"
        );
        let again = renderer
            .import_dmabuf(&client, None)
            .expect("importing again");
        assert_eq!(renderer.import_objects_created(), created, "cached");
        assert_eq!((again.width(), again.height()), SRC);

        let mut target = renderer
            .create_buffer(DrmFourcc::Argb8888, (DST.0 as i32, DST.1 as i32).into())
            .expect("offscreen target");
        let mut framebuffer = renderer.bind(&mut target).expect("binding");
        draw(&mut renderer, &mut framebuffer, &texture);
        drop(framebuffer);
        assert_eq!(
            renderer.import_objects_created(),
            created,
            "drawing imports nothing"
        );
        let pixels = renderer.read_pixels(&target).expect("reading back");
        for y in 0..DST.1 {
            for x in 0..DST.0 {
                let at = (y * DST.0 + x) as usize * 4;
                assert_eq!(pixels[at..at + 4], expected(x, y), "pixel ({x}, {y})");
            }
        }
    });
}

#[test]
fn a_dmabuf_framebuffer_receives_the_frame() {
    common::require_guest();
    fixture::on_device(|device| {
        let mut renderer = VulkanRenderer::new(Arc::clone(device)).expect("renderer");
        let source = allocate(DrmFourcc::Argb8888, SRC, texel);
        let texture = renderer
            .import_dmabuf(&smithay_dmabuf(&source), None)
            .expect("importing");
        let mut target = allocate(DrmFourcc::Argb8888, DST, |_, _| [0xa5; 4]);
        let mut client_target = smithay_dmabuf(&target);
        let mut framebuffer = renderer
            .bind(&mut client_target)
            .expect("binding a dma-buf");
        draw(&mut renderer, &mut framebuffer, &texture);
        drop(framebuffer);

        let stride = target.planes()[0].stride() as usize;
        let access = target.begin_cpu_access(Access::Read).expect("CPU access");
        let bytes = access.plane(0);
        for y in 0..DST.1 {
            for x in 0..DST.0 {
                let at = y as usize * stride + x as usize * 4;
                assert_eq!(bytes[at..at + 4], expected(x, y), "pixel ({x}, {y})");
            }
        }
    });
}
