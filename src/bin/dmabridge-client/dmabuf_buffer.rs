//! `--buffer udmabuf`: the picture in a udmabuf dma-buf shared through
//! `zwp_linux_dmabuf_v1`, written through a CPU-access bracket or, for
//! `--hold-fence`, under a fence that is signalled later.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use dmabridge::alloc::{FenceAccess, LinearLayout, Udmabuf, Vgem};
use dmabridge::dmabuf::{Access, Dmabuf, DmabufFlags, DmabufParams};
use drm_fourcc::{DrmFourcc, DrmModifier};
use wayland_client::protocol::{wl_buffer::WlBuffer, wl_surface::WlSurface};
use wayland_client::{Connection, QueueHandle};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1, zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};

use crate::app::App;
use crate::explicit_sync::ExplicitSync;
use crate::say;

/// How a dma-buf is shared: its modifier, and whether its rows are stored
/// bottom first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sharing {
    pub(crate) modifier: DrmModifier,
    pub(crate) y_invert: bool,
}

/// A udmabuf dma-buf of ARGB8888 pixels, with the memfd behind it and, for
/// `--hold-fence`, the vgem device that fences it.
pub(crate) struct DmabufBuffer<'a> {
    manager: &'a ZwpLinuxDmabufV1,
    conn: &'a Connection,
    layout: LinearLayout,
    fd: OwnedFd,
    memfd: OwnedFd,
    w: u32,
    h: u32,
}

impl<'a> DmabufBuffer<'a> {
    pub(crate) fn new(
        manager: &'a ZwpLinuxDmabufV1,
        conn: &'a Connection,
        queue: &mut wayland_client::EventQueue<App>,
        app: &mut App,
        w: u32,
        h: u32,
    ) -> anyhow::Result<Self> {
        // Formats arrive after the bind (version 3's events, or feedback);
        // a round trip is enough for version 3, and the compositor checks
        // the buffer itself either way.
        queue.roundtrip(app)?;
        let layout = LinearLayout::new(DrmFourcc::Argb8888, w, h)?;
        let (fd, memfd) = Udmabuf::open()?.alloc_with_memfd(layout.size())?;
        Ok(Self {
            manager,
            conn,
            layout,
            fd,
            memfd,
            w,
            h,
        })
    }

    /// Writes `pixels`, creates the `wl_buffer` shared as `sharing` says,
    /// attaches and commits it; with `hold`, the write happens under a
    /// pending vgem write fence that is signalled after `hold`.
    pub(crate) fn fill_and_commit(
        self,
        surface: &WlSurface,
        qh: &QueueHandle<App>,
        pixels: &[u32],
        sharing: Sharing,
        hold: Option<Duration>,
        explicit: Option<&ExplicitSync>,
    ) -> anyhow::Result<WlBuffer> {
        let plane = self.layout.planes()[0];
        let mut rows = vec![0u8; (plane.stride * self.h) as usize];
        for (y, row) in pixels.chunks(self.w as usize).enumerate() {
            let stored = if sharing.y_invert {
                self.h as usize - 1 - y
            } else {
                y
            };
            let start = stored * plane.stride as usize;
            for (x, p) in row.iter().enumerate() {
                rows[start + 4 * x..start + 4 * x + 4].copy_from_slice(&p.to_le_bytes());
            }
        }
        let params = self.manager.create_params(qh, ());
        let modifier: u64 = sharing.modifier.into();
        params.add(
            self.fd.as_fd(),
            0,
            plane.offset,
            plane.stride,
            (modifier >> 32) as u32,
            modifier as u32,
        );
        let buffer = params.create_immed(
            self.w as i32,
            self.h as i32,
            DrmFourcc::Argb8888 as u32,
            if sharing.y_invert {
                zwp_linux_buffer_params_v1::Flags::YInvert
            } else {
                zwp_linux_buffer_params_v1::Flags::empty()
            },
            qh,
            (),
        );
        params.destroy();
        surface.attach(Some(&buffer), 0, 0);
        surface.damage_buffer(0, 0, self.w as i32, self.h as i32);
        let Some(hold) = hold else {
            write_through_bracket(&self.fd, &self.layout, self.w, self.h, &rows)?;
            if let Some(sync) = explicit {
                sync.timeline.signal(ExplicitSync::acquire(1))?;
            }
            return Ok(buffer);
        };
        // The producer's device holds the buffer: a fence, then the commit,
        // then (later) the bytes and the signal.
        let signal: Box<dyn FnOnce() -> anyhow::Result<()> + Send> = match explicit {
            Some(sync) => {
                let timeline = Arc::clone(&sync.timeline);
                Box::new(move || Ok(timeline.signal(ExplicitSync::acquire(1))?))
            }
            None => {
                let vgem = Vgem::open()?;
                let gem = vgem.import_prime_fd(self.fd.as_fd())?;
                let fence = vgem.attach_fence(&gem, FenceAccess::Write)?;
                Box::new(move || {
                    vgem.signal(fence)?;
                    drop(gem);
                    Ok(())
                })
            }
        };
        let committed = Instant::now();
        say(format_args!("fenced commit"));
        let memfd = self.memfd;
        let offset = u64::from(plane.offset);
        let conn = self.conn.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            std::thread::sleep(hold.saturating_sub(committed.elapsed()));
            // Written the way the fenced device would, through the memory and
            // not through a CPU bracket (which would wait for the fence).
            let written = rustix::io::pwrite(&memfd, &rows, offset)?;
            if written != rows.len() {
                bail!("short write to the udmabuf");
            }
            signal()?;
            say(format_args!("signalled"));
            conn.flush()?;
            Ok(())
        });
        Ok(buffer)
    }
}

/// Writes `rows` (plane 0's bytes from its offset) into the udmabuf through
/// a CPU write bracket, as any producer without a device of its own must.
fn write_through_bracket(
    fd: &OwnedFd,
    layout: &LinearLayout,
    w: u32,
    h: u32,
    rows: &[u8],
) -> anyhow::Result<()> {
    let plane = layout.planes()[0];
    let mut params = DmabufParams::new();
    params.add(
        0,
        fd.try_clone()?,
        plane.offset,
        plane.stride,
        DrmModifier::Linear.into(),
    )?;
    let mut dmabuf: Dmabuf = params.create(
        w as i32,
        h as i32,
        DrmFourcc::Argb8888 as u32,
        DmabufFlags::empty(),
    )?;
    let mut access = dmabuf.begin_cpu_access(Access::Write)?;
    access.plane_mut(0)?.copy_from_slice(rows);
    Ok(())
}
