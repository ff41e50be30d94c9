//! `--subsurface`: a translucent child surface over the middle of the
//! window, so that the compositor's alpha blending shows.

use anyhow::bail;
use wayland_client::QueueHandle;
use wayland_client::protocol::{
    wl_compositor::WlCompositor, wl_shm, wl_shm::WlShm, wl_subcompositor::WlSubcompositor,
    wl_subsurface::WlSubsurface, wl_surface::WlSurface,
};

use crate::Args;
use crate::app::App;
use crate::shm::shm_buffer;

/// The colour of `--subsurface`: red at 50% alpha, premultiplied.
pub(crate) const SUBSURFACE_COLOR: u32 = 0x8080_0000;

/// The child surface of `--subsurface`, kept for the client's life.
pub(crate) struct Subsurface {
    surface: WlSurface,
    role: WlSubsurface,
}

impl Subsurface {
    /// A synchronized subsurface of `parent` (`args.size`, logical) at a
    /// quarter of its width and height, half its size, its buffer at
    /// `args.scale` filled with [`SUBSURFACE_COLOR`] and committed: it
    /// appears with the parent's next commit.
    pub(crate) fn new(
        compositor: &WlCompositor,
        subcompositor: &WlSubcompositor,
        shm: &WlShm,
        qh: &QueueHandle<App>,
        parent: &WlSurface,
        args: &Args,
    ) -> anyhow::Result<Self> {
        let (w, h) = (args.size.0 / 2, args.size.1 / 2);
        if w == 0 || h == 0 {
            bail!("--subsurface needs a window of at least 2x2");
        }
        let surface = compositor.create_surface(qh, ());
        let role = subcompositor.get_subsurface(&surface, parent, qh, ());
        role.set_position((args.size.0 / 4) as i32, (args.size.1 / 4) as i32);
        let (bw, bh) = (w * args.scale, h * args.scale);
        let buffer = shm_buffer(
            shm,
            qh,
            (bw, bh),
            wl_shm::Format::Argb8888,
            &vec![SUBSURFACE_COLOR; (bw * bh) as usize],
        )?;
        surface.set_buffer_scale(args.scale as i32);
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, bw as i32, bh as i32);
        surface.commit();
        Ok(Self { surface, role })
    }
}

impl Drop for Subsurface {
    fn drop(&mut self) {
        self.role.destroy();
        self.surface.destroy();
    }
}
