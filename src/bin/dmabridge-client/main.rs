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
//! `--format xrgb8888` shares the `wl_shm` buffer as XRGB8888, an opaque
//! window, instead of ARGB8888 (no opaque region, so blended). Its pool
//! is a memfd sealed against shrinking, as Qt and GLFW make theirs.
//!
//! `--scale N` draws the picture into a buffer N times the size, declared
//! with `wl_surface.set_buffer_scale`: it covers the same logical size.
//! `--fractional-scale` instead asks wp_fractional_scale_v1 for the
//! surface's preferred scale and draws the picture at it: a buffer of the
//! window's size times that scale, given the window's size by a
//! `wp_viewport`, so that it covers the output's pixels one to one.
//! `--subsurface` adds a child `wl_subsurface` over the middle of the
//! window in a translucent colour ([`SUBSURFACE_COLOR`]), so that the
//! compositor's alpha blending shows. `--presentation` asks for
//! `wp_presentation` feedback on every commit.
//!
//! [`SUBSURFACE_COLOR`]: subsurface::SUBSURFACE_COLOR
//!
//! `--hostile CASE` instead sends one malformed `zwp_linux_buffer_params_v1`
//! request and checks that the compositor answers with the error the
//! protocol names for it (see [`Hostile`]).
//!
//! `--copy` instead copies between `wl_shm` buffers through
//! dmabridge-buffer-copy-v1 with every format pair, transform and filter,
//! and checks each result against the CPU reference (`--copy-nv12`: from
//! an NV12 `wl_shm` source, `--copy-fractional`: from a source rectangle
//! off whole pixels, `--copy-timeline`: with timeline points);
//! `--copy-flood SECS`
//! keeps large copies queued for that long; `--copy-dmabuf` copies with
//! udmabufs and checks their fences (see `copy.rs`).
//!
//! `--activation-token-out PATH` and `--activate-with PATH` pass an
//! xdg-activation token from one client to another through a file.
//!
//! `--drag TEXT` starts a drag of `TEXT` from the window on a left-button
//! press, and `--drop` takes what is dropped on the window, through
//! `wl_data_device_manager` (see `dnd.rs`).
//!
//! `--input-method TEXT` is instead the seat's input method, which
//! commits TEXT into the text input it is activated for, and
//! `--text-input` gives the window a text input that prints what it is
//! sent, through `zwp_input_method_v2` and `zwp_text_input_v3` (see
//! `text_input.rs`).
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

mod app;
mod copy;
mod dmabuf_buffer;
mod dnd;
mod explicit_sync;
mod hostile;
mod shm;
mod subsurface;
mod text_input;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use dmabridge::testcard::test_card;
use drm_fourcc::DrmModifier;
use wayland_client::Connection;
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{
    wl_compositor::WlCompositor, wl_data_device_manager::WlDataDeviceManager, wl_seat::WlSeat,
    wl_shm, wl_shm::WlShm, wl_subcompositor::WlSubcompositor,
};
use wayland_protocols::wp::fractional_scale::v1::client::wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1;
use wayland_protocols::wp::linux_dmabuf::zv1::client::zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1;
use wayland_protocols::wp::linux_drm_syncobj::v1::client::wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1;
use wayland_protocols::wp::presentation_time::client::wp_presentation::WpPresentation;
use wayland_protocols::wp::single_pixel_buffer::v1::client::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1;
use wayland_protocols::wp::viewporter::client::wp_viewporter::WpViewporter;
use wayland_protocols::xdg::activation::v1::client::xdg_activation_v1::XdgActivationV1;
use wayland_protocols::xdg::shell::client::xdg_wm_base::XdgWmBase;

use app::App;
use dmabuf_buffer::{DmabufBuffer, Sharing};
use dnd::Dnd;
use explicit_sync::ExplicitSync;
use hostile::{Hostile, hostile};
use shm::{nv12_buffer, shm_buffer};
use subsurface::Subsurface;
use text_input::TextInput;

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
    /// With `--buffer shm`: the buffer's format. XRGB8888 makes the
    /// window opaque; ARGB8888 (the test card's alpha is 0xff everywhere)
    /// sets no opaque region, so a compositor blends it. NV12 fills the
    /// buffer with one colour, the samples `NV12_SAMPLES` (no `--color`).
    #[arg(long, value_enum, default_value_t = ShmFormat::Argb8888)]
    format: ShmFormat,
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
    /// Copy between wl_shm buffers through dmabridge-buffer-copy-v1 with
    /// every format pair, transform and filter, each result checked
    /// against the CPU reference; fails on a mismatch.
    #[arg(long)]
    copy: bool,
    /// As --copy, from an NV12 wl_shm source into each packed format.
    #[arg(long)]
    copy_nv12: bool,
    /// Check buffer copies' linux-drm-syncobj-v1 timeline points (acquire
    /// waited for, release signalled with every answer, misuse refused).
    #[arg(long)]
    copy_timeline: bool,
    /// As --copy, from an ARGB8888 source rectangle whose edges cut pixels
    /// (protocol version 2), with either filter.
    #[arg(long)]
    copy_fractional: bool,
    /// As --copy, with udmabufs (LINEAR, through linux-dmabuf) on either
    /// side, NV12 sources, and the fences that guard them (vgem).
    #[arg(long)]
    copy_dmabuf: bool,
    /// Time a turned WIDTHxHEIGHT copy through dmabridge-buffer-copy-v1
    /// against the same copy in a loop on this CPU.
    #[arg(long, value_name = "WIDTHxHEIGHT", value_parser = dmabridge::args::parse_size)]
    copy_bench: Option<(u32, u32)>,
    /// Keep large buffer copies queued for SECS seconds, then print
    /// `flooded N`.
    #[arg(long, value_name = "SECS")]
    copy_flood: Option<u64>,
    /// Send one malformed buffer-params request and expect its error.
    #[arg(long, value_enum)]
    hostile: Option<Hostile>,
    /// Buffer scale: the buffers are N times `--size` in each direction,
    /// which stays the window's size (wl_surface.set_buffer_scale).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=8))]
    scale: u32,
    /// Ask wp_fractional_scale_v1 for the surface's preferred scale (printed
    /// as `preferred scale N`, in 120ths) and draw at it: a buffer of the
    /// window's size times that scale, set to the window's size by a
    /// wp_viewport; `--scale` must be 1.
    #[arg(long)]
    fractional_scale: bool,
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
    /// Start a drag of TEXT (as `text/plain;charset=utf-8`, to be copied,
    /// with a 16×16 orange icon) on a left-button press on the window;
    /// prints `drag started`, then
    /// `drag dropped`, `drag finished` or `drag cancelled` as the
    /// compositor tells the drag's source (and `drag entered` when the
    /// drag comes over its own window, which declines it).
    #[arg(long, value_name = "TEXT", conflicts_with = "drop")]
    drag: Option<String>,
    /// Accept text dragged onto the window (`drop entered`); on the drop,
    /// read it and print `dropped TEXT`, then `finish` once the offer is
    /// finished.
    #[arg(long)]
    drop: bool,
    /// Instead of a window, be the seat's input method
    /// (zwp_input_method_v2): print `input method activate` and
    /// `deactivate`, and on each activation commit TEXT
    /// (`committed TEXT`).
    #[arg(long, value_name = "TEXT", conflicts_with = "text_input")]
    input_method: Option<String>,
    /// With `--input-method`: show a popup, a 16×16 square of 0xff123456,
    /// which the compositor places under the text cursor.
    #[arg(long, requires = "input_method")]
    input_popup: bool,
    /// Give the window a text input (zwp_text_input_v3), enabled while it
    /// has the keyboard; print `commit_string TEXT` and `preedit_string
    /// BEGIN END TEXT` as each `done` applies them.
    #[arg(long)]
    text_input: bool,
}

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ShmFormat {
    /// `WL_SHM_FORMAT_ARGB8888`.
    Argb8888,
    /// `WL_SHM_FORMAT_XRGB8888`.
    Xrgb8888,
    /// `WL_SHM_FORMAT_NV12`.
    Nv12,
}

impl From<ShmFormat> for wl_shm::Format {
    fn from(format: ShmFormat) -> Self {
        match format {
            ShmFormat::Argb8888 => Self::Argb8888,
            ShmFormat::Xrgb8888 => Self::Xrgb8888,
            ShmFormat::Nv12 => Self::Nv12,
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

    if args.copy {
        return copy::run(&globals, &shm, &mut queue, &mut app);
    }
    if args.copy_timeline {
        return copy::run_timeline(&globals, &shm, &mut queue, &mut app);
    }
    if args.copy_fractional {
        return copy::run_fractional(&globals, &shm, &mut queue, &mut app);
    }
    if args.copy_nv12 {
        return copy::run_nv12(&globals, &shm, &mut queue, &mut app);
    }
    if args.copy_dmabuf {
        return copy::run_dmabuf(&globals, &shm, &mut queue, &mut app);
    }
    if let Some(size) = args.copy_bench {
        return copy::bench(&globals, &shm, &mut queue, &mut app, size);
    }
    if let Some(secs) = args.copy_flood {
        return copy::flood(&globals, &shm, &mut queue, &mut app, secs);
    }
    if let Some(text) = args.input_method {
        let globals_used = (&compositor, &shm);
        let asked = (text, args.input_popup);
        return text_input::input_method(
            &globals,
            seat.as_ref(),
            globals_used,
            &mut queue,
            &mut app,
            asked,
        );
    }
    if let Some(case) = args.hostile {
        let dmabuf = dmabuf.context("the compositor has no zwp_linux_dmabuf_v1")?;
        return hostile(&conn, &mut queue, &mut app, &dmabuf, case);
    }

    let surface = compositor.create_surface(&qh, ());
    let xdg_surface = wm_base.get_xdg_surface(&surface, &qh, ());
    let toplevel = xdg_surface.get_toplevel(&qh, ());
    toplevel.set_title(args.title.clone());
    let fractional = if args.fractional_scale {
        if args.scale != 1 || args.buffer == BufferKind::SinglePixel {
            bail!("--fractional-scale draws a buffer of its own scale: it takes no --scale");
        }
        let manager: WpFractionalScaleManagerV1 = globals
            .bind(&qh, 1..=1, ())
            .context("the compositor has no wp_fractional_scale_manager_v1")?;
        Some(manager.get_fractional_scale(&surface, &qh, ()))
    } else {
        None
    };
    if args.drag.is_some() || args.drop {
        let manager: WlDataDeviceManager = globals
            .bind(&qh, 3..=3, ())
            .context("the compositor has no wl_data_device_manager version 3")?;
        let seat = seat.as_ref().context("the compositor has no wl_seat")?;
        let globals = (&compositor, &shm);
        app.dnd = Some(Dnd::new(
            manager,
            seat,
            &surface,
            args.drag.clone(),
            globals,
            &qh,
        )?);
    }
    if args.text_input {
        let seat = seat.as_ref().context("the compositor has no wl_seat")?;
        app.text_input = Some(TextInput::new(&globals, seat, &qh)?);
    }
    surface.commit();
    while !app.configured || (fractional.is_some() && app.preferred_scale.is_none()) {
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
    let (w, h) = match app.preferred_scale {
        Some(scale) => {
            let viewporter: WpViewporter = globals
                .bind(&qh, 1..=1, ())
                .context("the compositor has no wp_viewporter")?;
            let viewport = viewporter.get_viewport(&surface, &qh, ());
            viewport.set_destination(args.size.0 as i32, args.size.1 as i32);
            // Rounded to the nearest pixel, as the protocol suggests.
            let at_scale = |v: u32| (v * scale + 60) / 120;
            (at_scale(args.size.0), at_scale(args.size.1))
        }
        None => (args.size.0 * args.scale, args.size.1 * args.scale),
    };
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
        BufferKind::Shm if args.format == ShmFormat::Nv12 => {
            if args.color.is_some() {
                bail!("an NV12 buffer shows NV12_SAMPLES: it takes no --color");
            }
            nv12_buffer(&shm, &qh, (w, h))?
        }
        BufferKind::Shm => shm_buffer(&shm, &qh, (w, h), args.format.into(), &pixels)?,
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
