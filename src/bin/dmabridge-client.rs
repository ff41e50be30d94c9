//! `dmabridge-client`: a Wayland client that draws a known picture, for tests
//! and for trying a compositor by hand.
//!
//! It opens one xdg toplevel, waits for its configure, and then commits
//! frames paced by frame callbacks: each frame is the test card of
//! [`dmabridge::testcard`], in a `wl_shm` buffer or in a dma-buf
//! made by udmabuf (`--buffer udmabuf`) and shared through
//! `zwp_linux_dmabuf_v1`. With `--hold-fence MS` the first dma-buf frame
//! carries a pending write fence (vgem) that is signalled only `MS`
//! milliseconds after the commit: a compositor that honours implicit sync
//! keeps showing the previous frame until then.
//!
//! `--implicit-modifier` shares that dma-buf with `DRM_FORMAT_MOD_INVALID`
//! instead of LINEAR.
//!
//! `--scale N` draws the picture into a buffer N times the size, declared
//! with `wl_surface.set_buffer_scale`: it covers the same logical size.
//! `--subsurface` adds a child `wl_subsurface` over the middle of the
//! window in a translucent colour ([`SUBSURFACE_COLOR`]), so that the
//! compositor's alpha blending shows. `--presentation` asks for
//! `wp_presentation` feedback on every commit.
//!
//! `--hostile CASE` instead sends one malformed `zwp_linux_buffer_params_v1`
//! request and checks that the compositor answers with the error the
//! protocol names for it (see [`Hostile`]).
//!
//! `--activation-token-out PATH` and `--activate-with PATH` pass an
//! xdg-activation token from one client to another through a file.
//!
//! Input from the compositor's seat is printed too: `keyboard enter`,
//! `key 30 pressed` (the evdev code), `pointer enter 12 34`, `pointer
//! motion 12 34` (surface coordinates), `button 272 pressed`, `axis 0 15`
//! (wl_pointer axis and value).
//!
//! Every event that matters is printed on stdout, one line each
//! (`configured 256x256`, `frame 3`, `error 4 zwp_linux_buffer_params_v1`,
//! `presented 3 at 12.000000000 refresh 33333333 seq 5`),
//! so a test can follow along. The exit status is 0 when the client did
//! what it was asked and, for `--hostile`, got the expected error.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use dmabridge::alloc::{FenceAccess, LinearLayout, NodeKind, Timeline, Udmabuf, Vgem, drm_nodes};
use dmabridge::dmabuf::{Access, Dmabuf, DmabufFlags, DmabufParams};
use dmabridge::testcard::test_card;
use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::fs::{MemfdFlags, memfd_create};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{
    wl_buffer::{self, WlBuffer},
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_keyboard::{self, WlKeyboard},
    wl_pointer::{self, WlPointer},
    wl_registry::WlRegistry,
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_subcompositor::WlSubcompositor,
    wl_subsurface::WlSubsurface,
    wl_surface::WlSurface,
};
use wayland_client::{Connection, Dispatch, QueueHandle, delegate_noop};
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_v1::{self, ZwpLinuxDmabufV1},
};
use wayland_protocols::wp::linux_drm_syncobj::v1::client::{
    wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1,
    wp_linux_drm_syncobj_surface_v1::WpLinuxDrmSyncobjSurfaceV1,
    wp_linux_drm_syncobj_timeline_v1::WpLinuxDrmSyncobjTimelineV1,
};
use wayland_protocols::wp::presentation_time::client::{
    wp_presentation::WpPresentation,
    wp_presentation_feedback::{self, WpPresentationFeedback},
};
use wayland_protocols::wp::single_pixel_buffer::v1::client::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1;
use wayland_protocols::wp::viewporter::client::{
    wp_viewport::WpViewport, wp_viewporter::WpViewporter,
};
use wayland_protocols::xdg::activation::v1::client::{
    xdg_activation_token_v1::{self, XdgActivationTokenV1},
    xdg_activation_v1::XdgActivationV1,
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};

/// A Wayland client that draws a known picture.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Window size, WIDTHxHEIGHT: the buffers' size at scale 1.
    #[arg(long, default_value = "256x256", value_parser = dmabridge::args::parse_size)]
    size: (u32, u32),
    /// Where the pixels live.
    #[arg(long, value_enum, default_value_t = BufferKind::Shm)]
    buffer: BufferKind,
    /// Frames to commit before exiting; 0 runs until the compositor goes
    /// away.
    #[arg(long, default_value_t = 1)]
    frames: u64,
    /// The window title (tests tell clients apart by it).
    #[arg(long, default_value = "dmabridge-client")]
    title: String,
    /// Fill with one colour, 0xAARRGGBB (premultiplied), instead of the test
    /// card.
    #[arg(long, value_parser = parse_color)]
    color: Option<u32>,
    /// With `--buffer udmabuf`: the first frame's buffer carries a vgem
    /// write fence that is signalled this many milliseconds after the
    /// commit; the picture is written just before the signal.
    #[arg(long, value_name = "MS")]
    hold_fence: Option<u64>,
    /// With `--buffer udmabuf`: explicit sync through linux-drm-syncobj-v1
    /// (a timeline on the first DRM render node that has them) instead of
    /// the dma-buf's implicit fences; `--hold-fence` then holds the first
    /// frame's acquire point. After the last frame the client waits for the
    /// release point of the frame before it and prints `released N`.
    #[arg(long)]
    explicit_sync: bool,
    /// With `--buffer udmabuf`: share the buffer with the implicit modifier
    /// (`DRM_FORMAT_MOD_INVALID`), as GBM does without explicit modifiers,
    /// instead of LINEAR.
    #[arg(long)]
    implicit_modifier: bool,
    /// With `--buffer udmabuf`: store the picture bottom row first and
    /// share it with `Y_INVERT`, as GL clients do.
    #[arg(long)]
    y_invert: bool,
    /// Send one malformed buffer-params request and expect its error.
    #[arg(long, value_enum)]
    hostile: Option<Hostile>,
    /// Buffer scale: the buffers are N times `--size` in each direction,
    /// which stays the window's size (wl_surface.set_buffer_scale).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    scale: u32,
    /// Add a wl_subsurface of half the window's size at a quarter of its
    /// width and height, filled with 50% red (premultiplied 0x80800000);
    /// always a wl_shm buffer.
    #[arg(long)]
    subsurface: bool,
    /// After the last frame, keep the window mapped, committing nothing
    /// more, until the compositor closes it or goes away (for tests that
    /// need a still window).
    #[arg(long)]
    stay: bool,
    /// Ask for wp_presentation feedback on every commit and print a line
    /// for each answer: `presented COMMIT at SEC.NSEC refresh NS seq N`
    /// or `discarded COMMIT`.
    #[arg(long)]
    presentation: bool,
    /// After the last frame, ask xdg_activation_v1 for a token (naming
    /// the surface, and the keyboard's enter serial if it has one) and
    /// write it to PATH.
    #[arg(long, value_name = "PATH")]
    activation_token_out: Option<PathBuf>,
    /// After the last frame, wait for a token in PATH and activate the
    /// window with it; prints `activation requested`.
    #[arg(long, value_name = "PATH")]
    activate_with: Option<PathBuf>,
}

/// The colour of `--subsurface`: red at 50% alpha, premultiplied.
const SUBSURFACE_COLOR: u32 = 0x8080_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BufferKind {
    /// A `wl_shm` pool over a memfd.
    Shm,
    /// A udmabuf dma-buf, shared through `zwp_linux_dmabuf_v1`.
    Udmabuf,
    /// A `wp_single_pixel_buffer_v1` of `--color` (black without one),
    /// stretched over the window by a `wp_viewport`; `--scale` must be 1.
    SinglePixel,
}

/// The malformed `zwp_linux_buffer_params_v1` requests, each with the error
/// the protocol requires in answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Hostile {
    /// `add` with plane index 4: `plane_idx`.
    PlaneIndex,
    /// `add` twice for plane 0: `plane_set`.
    PlaneSet,
    /// `create_immed` of ARGB8888 (one plane) with two planes:
    /// `incomplete`.
    Incomplete,
    /// `create_immed` with a fourcc nobody knows: `invalid_format`.
    InvalidFormat,
    /// `create_immed` of 0×0: `invalid_dimensions`.
    InvalidDimensions,
    /// A plane that ends past its fd: `out_of_bounds`.
    OutOfBounds,
    /// `create` twice on one params object: `already_used` (the first may
    /// fail on its own; the params are used either way).
    AlreadyUsed,
    /// A memfd where a dma-buf belongs: `create_immed` fails with
    /// `invalid_wl_buffer`.
    NotDmabuf,
    /// A modifier the compositor did not advertise: `invalid_wl_buffer`
    /// (or `invalid_format`).
    UnsupportedModifier,
}

impl Hostile {
    /// The `zwp_linux_buffer_params_v1.error` codes accepted in answer.
    fn expected(self) -> &'static [zwp_linux_buffer_params_v1::Error] {
        use zwp_linux_buffer_params_v1::Error as E;
        match self {
            Self::PlaneIndex => &[E::PlaneIdx],
            Self::PlaneSet => &[E::PlaneSet],
            Self::Incomplete => &[E::Incomplete],
            Self::InvalidFormat => &[E::InvalidFormat],
            Self::InvalidDimensions => &[E::InvalidDimensions],
            Self::OutOfBounds => &[E::OutOfBounds],
            Self::AlreadyUsed => &[E::AlreadyUsed],
            Self::NotDmabuf => &[E::InvalidWlBuffer],
            Self::UnsupportedModifier => &[E::InvalidWlBuffer, E::InvalidFormat],
        }
    }
}

fn parse_color(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| e.to_string())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let conn = Connection::connect_to_env().context("connecting to the compositor")?;
    let (globals, mut queue) = registry_queue_init::<App>(&conn)?;
    let qh = queue.handle();
    let compositor: WlCompositor = globals.bind(&qh, 4..=6, ())?;
    let shm: WlShm = globals.bind(&qh, 1..=1, ())?;
    let wm_base: XdgWmBase = globals.bind(&qh, 1..=6, ())?;
    let dmabuf: Option<ZwpLinuxDmabufV1> = globals.bind(&qh, 3..=5, ()).ok();
    // Its keyboard and pointer are asked for when it announces them.
    let seat: Option<WlSeat> = globals.bind(&qh, 1..=7, ()).ok();
    let presentation: Option<WpPresentation> = args
        .presentation
        .then(|| globals.bind(&qh, 1..=1, ()))
        .transpose()
        .context("the compositor has no wp_presentation")?;
    let mut app = App::default();

    if let Some(case) = args.hostile {
        let dmabuf = dmabuf.context("the compositor has no zwp_linux_dmabuf_v1")?;
        return hostile(&conn, &mut queue, &mut app, &dmabuf, case);
    }

    let surface = compositor.create_surface(&qh, ());
    let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg_surface.get_toplevel(&qh, ());
    toplevel.set_title(args.title.clone());
    surface.commit();
    while !app.configured {
        queue.blocking_dispatch(&mut app)?;
    }

    let explicit = if args.explicit_sync {
        let manager: WpLinuxDrmSyncobjManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .context("the compositor has no wp_linux_drm_syncobj_manager_v1")?;
        Some(ExplicitSync::new(&manager, &surface, &qh)?)
    } else {
        None
    };
    // The buffers' size: the window's, times the scale.
    let (w, h) = (args.size.0 * args.scale, args.size.1 * args.scale);
    surface.set_buffer_scale(args.scale as i32);
    let _child = if args.subsurface {
        let subcompositor: WlSubcompositor = globals
            .bind(&qh, 1..=1, ())
            .context("the compositor has no wl_subcompositor")?;
        Some(Subsurface::new(
            &compositor,
            &subcompositor,
            &shm,
            &qh,
            &surface,
            &args,
        )?)
    } else {
        None
    };
    let pixels: Vec<u32> = match args.color {
        Some(c) => vec![c; (w * h) as usize],
        None => test_card(w, h),
    };
    let buffer = match args.buffer {
        BufferKind::Shm => shm_buffer(&shm, &qh, w, h, &pixels)?,
        BufferKind::SinglePixel => {
            if args.scale != 1 {
                bail!("a single-pixel buffer is 1×1: it takes no --scale");
            }
            let manager: WpSinglePixelBufferManagerV1 = globals
                .bind(&qh, 1..=1, ())
                .context("the compositor has no wp_single_pixel_buffer_manager_v1")?;
            let viewporter: WpViewporter = globals
                .bind(&qh, 1..=1, ())
                .context("the compositor has no wp_viewporter")?;
            let viewport = viewporter.get_viewport(&surface, &qh, ());
            viewport.set_destination(w as i32, h as i32);
            // Each channel of the premultiplied colour, scaled from 8 bits
            // to the protocol's 32.
            let [a, r, g, b] = args.color.unwrap_or(0xff00_0000).to_be_bytes();
            let wide = |c: u8| u32::from(c) * 0x0101_0101;
            manager.create_u32_rgba_buffer(wide(r), wide(g), wide(b), wide(a), &qh, ())
        }
        BufferKind::Udmabuf => {
            let dmabuf = dmabuf.context("the compositor has no zwp_linux_dmabuf_v1")?;
            let sharing = Sharing {
                modifier: if args.implicit_modifier {
                    DrmModifier::Invalid
                } else {
                    DrmModifier::Linear
                },
                y_invert: args.y_invert,
            };
            DmabufBuffer::new(&dmabuf, &conn, &mut queue, &mut app, w, h)?.fill_and_commit(
                &surface,
                &qh,
                &pixels,
                sharing,
                args.hold_fence.map(Duration::from_millis),
                explicit.as_ref(),
            )?
        }
    };

    let mut frame = 0u64;
    let mut callback = None;
    loop {
        if callback.is_none() {
            frame += 1;
            if args.buffer != BufferKind::Udmabuf {
                surface.attach(Some(&buffer), 0, 0);
                surface.damage_buffer(0, 0, w as i32, h as i32);
            }
            if let Some(sync) = &explicit {
                sync.set_points(frame);
                if frame > 1 {
                    sync.timeline.signal(ExplicitSync::acquire(frame))?;
                }
            }
            callback = Some(surface.frame(&qh, ()));
            if let Some(presentation) = &presentation {
                presentation.feedback(&surface, &qh, frame);
            }
            surface.commit();
            say(format_args!("commit {frame}"));
        }
        queue.blocking_dispatch(&mut app)?;
        if app.closed {
            break;
        }
        if app.frame_done {
            app.frame_done = false;
            callback = None;
            say(format_args!("frame {frame}"));
            if args.frames != 0 && frame >= args.frames {
                if let Some(path) = &args.activation_token_out {
                    let activation: XdgActivationV1 = globals
                        .bind(&qh, 1..=1, ())
                        .context("the compositor has no xdg_activation_v1")?;
                    let token = activation.get_activation_token(&qh, ());
                    token.set_surface(&surface);
                    if let (Some(serial), Some(seat)) = (app.keyboard_serial, &seat) {
                        token.set_serial(serial, seat);
                    }
                    token.commit();
                    while app.activation_token.is_none() {
                        queue.blocking_dispatch(&mut app)?;
                    }
                    // Whole or not at all, for a reader that polls.
                    let partial = path.with_extension("partial");
                    std::fs::write(&partial, app.activation_token.as_deref().unwrap_or(""))?;
                    std::fs::rename(&partial, path)?;
                    say(format_args!("token written"));
                }
                if let Some(path) = &args.activate_with {
                    let activation: XdgActivationV1 = globals
                        .bind(&qh, 1..=1, ())
                        .context("the compositor has no xdg_activation_v1")?;
                    let deadline = Instant::now() + Duration::from_secs(60);
                    let token = loop {
                        if let Ok(token) = std::fs::read_to_string(path) {
                            break token;
                        }
                        if Instant::now() > deadline {
                            bail!("no token in {} within a minute", path.display());
                        }
                        std::thread::sleep(Duration::from_millis(20));
                        queue.roundtrip(&mut app)?;
                    };
                    activation.activate(token, &surface);
                    conn.flush()?;
                    say(format_args!("activation requested"));
                }
                if args.stay {
                    say(format_args!("staying"));
                    while !app.closed {
                        queue.blocking_dispatch(&mut app)?;
                    }
                }
                break;
            }
            // The buffer is the same every frame; attach it again so each
            // commit is a real frame.
            if args.buffer == BufferKind::Udmabuf {
                surface.attach(Some(&buffer), 0, 0);
                surface.damage_buffer(0, 0, w as i32, h as i32);
            }
        }
    }
    if let Some(sync) = &explicit
        && frame > 1
    {
        // Frame `frame` replaced the buffer of frame `frame - 1`, so the
        // compositor is done with that one.
        let point = ExplicitSync::release(frame - 1);
        if sync.timeline.wait(point, Duration::from_secs(10))? {
            say(format_args!("released {}", frame - 1));
        } else {
            bail!("release point {point} did not signal");
        }
    }
    toplevel.destroy();
    xdg_surface.destroy();
    surface.destroy();
    conn.flush()?;
    say(format_args!("done"));
    Ok(())
}

/// Prints one line of the client's progress on stdout, at once.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// A `wl_shm` buffer holding `pixels` (ARGB8888, tightly packed).
fn shm_buffer(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    w: u32,
    h: u32,
    pixels: &[u32],
) -> anyhow::Result<WlBuffer> {
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    let fd = memfd_create("dmabridge-client", MemfdFlags::CLOEXEC)?;
    rustix::fs::ftruncate(&fd, bytes.len() as u64)?;
    let written = rustix::io::pwrite(&fd, &bytes, 0)?;
    if written != bytes.len() {
        bail!("short write to the shm pool");
    }
    let pool: WlShmPool = shm.create_pool(fd.as_fd(), bytes.len() as i32, qh, ());
    let buffer = pool.create_buffer(
        0,
        w as i32,
        h as i32,
        (w * 4) as i32,
        wl_shm::Format::Argb8888,
        qh,
        (),
    );
    pool.destroy();
    Ok(buffer)
}

/// The child surface of `--subsurface`, kept for the client's life.
struct Subsurface {
    surface: WlSurface,
    role: WlSubsurface,
}

impl Subsurface {
    /// A synchronized subsurface of `parent` (`args.size`, logical) at a
    /// quarter of its width and height, half its size, its buffer at
    /// `args.scale` filled with [`SUBSURFACE_COLOR`] and committed: it
    /// appears with the parent's next commit.
    fn new(
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
        let buffer = shm_buffer(shm, qh, bw, bh, &vec![SUBSURFACE_COLOR; (bw * bh) as usize])?;
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

/// How a dma-buf is shared: its modifier, and whether its rows are stored
/// bottom first.
#[derive(Debug, Clone, Copy)]
struct Sharing {
    modifier: DrmModifier,
    y_invert: bool,
}

/// A udmabuf dma-buf of ARGB8888 pixels, with the memfd behind it and, for
/// `--hold-fence`, the vgem device that fences it.
struct DmabufBuffer<'a> {
    manager: &'a ZwpLinuxDmabufV1,
    conn: &'a Connection,
    layout: LinearLayout,
    fd: OwnedFd,
    memfd: OwnedFd,
    w: u32,
    h: u32,
}

impl<'a> DmabufBuffer<'a> {
    fn new(
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
    fn fill_and_commit(
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

/// linux-drm-syncobj-v1 for the surface: one timeline, frame `k` acquiring
/// at point `2k - 1` and releasing at `2k`.
struct ExplicitSync {
    timeline: Arc<Timeline>,
    object: WpLinuxDrmSyncobjTimelineV1,
    surface: WpLinuxDrmSyncobjSurfaceV1,
}

impl ExplicitSync {
    fn new(
        manager: &WpLinuxDrmSyncobjManagerV1,
        surface: &WlSurface,
        qh: &QueueHandle<App>,
    ) -> anyhow::Result<Self> {
        let node = drm_nodes()
            .into_iter()
            .find(|n| n.kind == NodeKind::Render && n.syncobj_timeline)
            .context("no DRM render node with timeline syncobjs")?;
        let timeline = Timeline::new(&node.path)?;
        let object = manager.import_timeline(timeline.export()?.as_fd(), qh, ());
        let surface = manager.get_surface(surface, qh, ());
        Ok(Self {
            timeline: Arc::new(timeline),
            object,
            surface,
        })
    }

    fn acquire(frame: u64) -> u64 {
        2 * frame - 1
    }

    fn release(frame: u64) -> u64 {
        2 * frame
    }

    /// Sets frame `frame`'s points for the next commit.
    fn set_points(&self, frame: u64) {
        let split = |p: u64| ((p >> 32) as u32, p as u32);
        let (hi, lo) = split(Self::acquire(frame));
        self.surface.set_acquire_point(&self.object, hi, lo);
        let (hi, lo) = split(Self::release(frame));
        self.surface.set_release_point(&self.object, hi, lo);
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

/// Sends the malformed request `case` and waits for the compositor's answer.
fn hostile(
    conn: &Connection,
    queue: &mut wayland_client::EventQueue<App>,
    app: &mut App,
    manager: &ZwpLinuxDmabufV1,
    case: Hostile,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let udmabuf = Udmabuf::open();
    let (w, h) = (64u32, 64u32);
    let stride = w * 4;
    let fd = || -> anyhow::Result<OwnedFd> {
        match &udmabuf {
            Ok(u) => Ok(u.alloc(u64::from(stride * h))?),
            Err(_) => {
                // Without udmabuf, validation cases still need a fd; only
                // the cases that reach the import need a real dma-buf.
                let fd = memfd_create("dmabridge-client", MemfdFlags::CLOEXEC)?;
                rustix::fs::ftruncate(&fd, u64::from(stride * h))?;
                Ok(fd)
            }
        }
    };
    let linear: u64 = DrmModifier::Linear.into();
    let (hi, lo) = ((linear >> 32) as u32, linear as u32);
    let argb = DrmFourcc::Argb8888 as u32;
    let none = zwp_linux_buffer_params_v1::Flags::empty();
    let params = manager.create_params(&qh, ());
    match case {
        Hostile::PlaneIndex => params.add(fd()?.as_fd(), 4, 0, stride, hi, lo),
        Hostile::PlaneSet => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
        }
        Hostile::Incomplete => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.add(fd()?.as_fd(), 1, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
        Hostile::InvalidFormat => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, 0x2020_2020, none, &qh, ());
        }
        Hostile::InvalidDimensions => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(0, 0, argb, none, &qh, ());
        }
        Hostile::OutOfBounds => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, 2 * h as i32, argb, none, &qh, ());
        }
        Hostile::AlreadyUsed => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.create(w as i32, h as i32, argb, none);
            params.create(w as i32, h as i32, argb, none);
        }
        Hostile::NotDmabuf => {
            let memfd = memfd_create("not-a-dmabuf", MemfdFlags::CLOEXEC)?;
            rustix::fs::ftruncate(&memfd, u64::from(stride * h))?;
            params.add(memfd.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
        Hostile::UnsupportedModifier => {
            // I915_FORMAT_MOD_X_TILED: no software device imports it.
            let tiled: u64 = DrmModifier::I915_x_tiled.into();
            params.add(
                fd()?.as_fd(),
                0,
                0,
                stride,
                (tiled >> 32) as u32,
                tiled as u32,
            );
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
    }
    loop {
        match queue.roundtrip(app) {
            Ok(_) => {
                if app.failed {
                    bail!("the compositor sent `failed` where a protocol error was expected");
                }
                if case == Hostile::PlaneIndex || case == Hostile::PlaneSet {
                    // Errors at `add` arrive with the round trip's reply.
                    continue;
                }
                bail!("the compositor accepted a malformed request ({case:?})");
            }
            Err(err) => {
                let Some(protocol) = conn.protocol_error() else {
                    return Err(err).context("the connection failed without a protocol error");
                };
                say(format_args!(
                    "error {} {}",
                    protocol.code, protocol.object_interface
                ));
                let expected = case.expected();
                if protocol.object_interface == "zwp_linux_buffer_params_v1"
                    && expected.iter().any(|e| *e as u32 == protocol.code)
                {
                    return Ok(());
                }
                bail!(
                    "expected {expected:?} on zwp_linux_buffer_params_v1, got {} on {}: {}",
                    protocol.code,
                    protocol.object_interface,
                    protocol.message
                );
            }
        }
    }
}

/// What the event handlers learned.
#[derive(Debug, Default)]
struct App {
    configured: bool,
    suggested: (i32, i32),
    frame_done: bool,
    closed: bool,
    failed: bool,
    keyboard: Option<WlKeyboard>,
    pointer: Option<WlPointer>,
    /// The serial of the last keyboard enter.
    keyboard_serial: Option<u32>,
    /// The xdg-activation token the compositor made, once it did.
    activation_token: Option<String>,
}

impl Dispatch<WlSeat, ()> for App {
    fn event(
        state: &mut Self,
        seat: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let wl_seat::Event::Capabilities {
            capabilities: wayland_client::WEnum::Value(caps),
        } = event
        else {
            return;
        };
        if caps.contains(wl_seat::Capability::Keyboard) && state.keyboard.is_none() {
            state.keyboard = Some(seat.get_keyboard(qh, ()));
        }
        if caps.contains(wl_seat::Capability::Pointer) && state.pointer.is_none() {
            state.pointer = Some(seat.get_pointer(qh, ()));
        }
    }
}

impl Dispatch<WlKeyboard, ()> for App {
    fn event(
        state: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Enter { serial, .. } => {
                state.keyboard_serial = Some(serial);
                say(format_args!("keyboard enter"));
            }
            wl_keyboard::Event::Leave { .. } => say(format_args!("keyboard leave")),
            wl_keyboard::Event::Key { key, state, .. } => {
                let state = match state {
                    wayland_client::WEnum::Value(wl_keyboard::KeyState::Pressed) => "pressed",
                    _ => "released",
                };
                say(format_args!("key {key} {state}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter {
                surface_x,
                surface_y,
                ..
            } => say(format_args!("pointer enter {surface_x} {surface_y}")),
            wl_pointer::Event::Leave { .. } => say(format_args!("pointer leave")),
            wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => say(format_args!("pointer motion {surface_x} {surface_y}")),
            wl_pointer::Event::Button { button, state, .. } => {
                let state = match state {
                    wayland_client::WEnum::Value(wl_pointer::ButtonState::Pressed) => "pressed",
                    _ => "released",
                };
                say(format_args!("button {button} {state}"));
            }
            wl_pointer::Event::Axis { axis, value, .. } => {
                let axis: u32 = axis.into();
                say(format_args!("axis {axis} {value}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<WlRegistry, GlobalListContents> for App {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: <WlRegistry as wayland_client::Proxy>::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<XdgWmBase, ()> for App {
    fn event(
        _: &mut Self,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for App {
    fn event(
        state: &mut Self,
        xdg_surface: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg_surface.ack_configure(serial);
            state.configured = true;
            say(format_args!(
                "configured {}x{}",
                state.suggested.0, state.suggested.1
            ));
        }
    }
}

impl Dispatch<XdgToplevel, ()> for App {
    fn event(
        state: &mut Self,
        _: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                state.suggested = (width, height);
            }
            xdg_toplevel::Event::Close => state.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, ()> for App {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.frame_done = true;
        }
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &ZwpLinuxBufferParamsV1,
        event: zwp_linux_buffer_params_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let zwp_linux_buffer_params_v1::Event::Failed = event {
            state.failed = true;
        }
    }
}

impl Dispatch<ZwpLinuxDmabufV1, ()> for App {
    fn event(
        _: &mut Self,
        _: &ZwpLinuxDmabufV1,
        _: zwp_linux_dmabuf_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<WlBuffer, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlBuffer,
        _: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<WpPresentationFeedback, u64> for App {
    /// Prints the answer to the feedback asked for with commit `commit`.
    fn event(
        _: &mut Self,
        _: &WpPresentationFeedback,
        event: wp_presentation_feedback::Event,
        commit: &u64,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wp_presentation_feedback::Event::Presented {
                tv_sec_hi,
                tv_sec_lo,
                tv_nsec,
                refresh,
                seq_hi,
                seq_lo,
                ..
            } => {
                let sec = (u64::from(tv_sec_hi) << 32) | u64::from(tv_sec_lo);
                let seq = (u64::from(seq_hi) << 32) | u64::from(seq_lo);
                say(format_args!(
                    "presented {commit} at {sec}.{tv_nsec:09} refresh {refresh} seq {seq}"
                ));
            }
            wp_presentation_feedback::Event::Discarded => {
                say(format_args!("discarded {commit}"));
            }
            _ => {}
        }
    }
}

impl Dispatch<XdgActivationTokenV1, ()> for App {
    fn event(
        state: &mut Self,
        _: &XdgActivationTokenV1,
        event: xdg_activation_token_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_activation_token_v1::Event::Done { token } = event {
            state.activation_token = Some(token);
        }
    }
}

impl Dispatch<WlShm, ()> for App {
    fn event(
        _: &mut Self,
        _: &WlShm,
        _: wl_shm::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(App: ignore WlCompositor);
delegate_noop!(App: ignore WlSurface);
delegate_noop!(App: ignore WlSubcompositor);
delegate_noop!(App: ignore WlSubsurface);
delegate_noop!(App: ignore WpPresentation);
delegate_noop!(App: ignore XdgActivationV1);
delegate_noop!(App: ignore WpSinglePixelBufferManagerV1);
delegate_noop!(App: ignore WpViewporter);
delegate_noop!(App: ignore WpViewport);
delegate_noop!(App: ignore WlShmPool);
delegate_noop!(App: ignore WpLinuxDrmSyncobjManagerV1);
delegate_noop!(App: ignore WpLinuxDrmSyncobjTimelineV1);
delegate_noop!(App: ignore WpLinuxDrmSyncobjSurfaceV1);
