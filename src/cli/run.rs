//! `dmabridge run`: the compositor.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::ValueEnum;
use smithay::utils::Transform;
use tracing::warn;

use dmabridge::compositor::{self, Config, OutputConfig};

/// Where the output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// An offscreen output: no display and no GPU needed.
    Headless,
    /// A window on the desktop this runs in (DISPLAY or WAYLAND_DISPLAY),
    /// with keyboard and pointer input.
    Nested,
}

/// The eight `wl_output.transform` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputTransform {
    /// No transform.
    Normal,
    /// Turned 90° counter-clockwise.
    #[value(name = "90")]
    Rotate90,
    /// Turned 180°.
    #[value(name = "180")]
    Rotate180,
    /// Turned 270° counter-clockwise.
    #[value(name = "270")]
    Rotate270,
    /// Mirrored left to right.
    Flipped,
    /// Mirrored, then turned 90°.
    #[value(name = "flipped-90")]
    Flipped90,
    /// Mirrored, then turned 180°.
    #[value(name = "flipped-180")]
    Flipped180,
    /// Mirrored, then turned 270°.
    #[value(name = "flipped-270")]
    Flipped270,
}

impl From<OutputTransform> for Transform {
    fn from(transform: OutputTransform) -> Self {
        match transform {
            OutputTransform::Normal => Self::Normal,
            OutputTransform::Rotate90 => Self::_90,
            OutputTransform::Rotate180 => Self::_180,
            OutputTransform::Rotate270 => Self::_270,
            OutputTransform::Flipped => Self::Flipped,
            OutputTransform::Flipped90 => Self::Flipped90,
            OutputTransform::Flipped180 => Self::Flipped180,
            OutputTransform::Flipped270 => Self::Flipped270,
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the output is shown.
    #[arg(long, value_enum, default_value_t = Backend::Headless)]
    backend: Backend,
    /// Output size, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = dmabridge::args::parse_size)]
    size: (u32, u32),
    /// Output refresh rate in Hz.
    #[arg(long, default_value_t = 60.0)]
    refresh: f64,
    /// Output transform, as wl_output.transform names it: how the output's
    /// framebuffer is turned (a monitor on its side is `90` or `270`).
    #[arg(long, value_enum, default_value_t = OutputTransform::Normal)]
    transform: OutputTransform,
    /// Output scale, fractional allowed (1, 1.25, 1.5, 2 …): clients that
    /// use wp_fractional_scale_v1 draw at the output's pixels; others are
    /// scaled up.
    #[arg(long, default_value_t = 1.0, value_parser = dmabridge::args::parse_scale)]
    scale: f64,
    /// Socket name under XDG_RUNTIME_DIR (default: the first free wayland-N).
    /// Without XDG_RUNTIME_DIR, the socket is made in a private directory
    /// in TMPDIR, printed as XDG_RUNTIME_DIR=… and given to the client.
    #[arg(long)]
    socket: Option<String>,
    /// Write presented frames as PNG files into this directory.
    #[arg(long, value_name = "DIR")]
    dump_frames: Option<PathBuf>,
    /// With --dump-frames: keep every Nth frame.
    #[arg(long, value_name = "N", default_value_t = 1)]
    dump_every: u64,
    /// A client to start with WAYLAND_DISPLAY (and DISPLAY, for X11
    /// clients) set; the compositor exits with its status when it exits.
    #[arg(last = true, value_name = "CLIENT")]
    client: Vec<OsString>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<i32> {
    if !(args.refresh.is_finite() && args.refresh >= 1.0 && args.refresh <= 1000.0) {
        bail!("--refresh must be between 1 and 1000 Hz");
    }
    if let Some(dir) = &args.dump_frames {
        std::fs::create_dir_all(dir)?;
    }
    // Where the environment names no runtime directory, one of our own.
    let set = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|dir| !dir.is_empty());
    let private = if set {
        None
    } else {
        Some(private_runtime_dir()?)
    };
    let config = Config {
        backend: match args.backend {
            Backend::Headless => compositor::Backend::Headless,
            Backend::Nested => compositor::Backend::Nested,
        },
        output: OutputConfig {
            size: args.size,
            refresh_hz: args.refresh,
            scale: args.scale,
            transform: args.transform.into(),
            dump_frames: args.dump_frames.map(|dir| (dir, args.dump_every)),
        },
        runtime_dir: private.clone(),
        socket: args.socket,
        client: args.client,
    };
    let result = compositor::run(config, |socket, x11_display| {
        let mut out = std::io::stdout().lock();
        if let Some(dir) = &private {
            let _ = writeln!(out, "XDG_RUNTIME_DIR={}", dir.display());
        }
        if let Some(display) = x11_display {
            let _ = writeln!(out, "DISPLAY=:{display}");
        }
        let _ = writeln!(out, "WAYLAND_DISPLAY={}", socket.to_string_lossy());
        let _ = out.flush();
    });
    if let Some(dir) = private {
        // Empty once the socket is gone; left in place otherwise.
        let _ = std::fs::remove_dir(dir);
    }
    result
}

/// A private runtime directory, mode 0700, in the temporary directory: for
/// where there is no `XDG_RUNTIME_DIR` (a container, a CI job, a login
/// without a session manager).
fn private_runtime_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("dmabridge-runtime-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("creating a runtime directory {}", dir.display()))?;
    warn!(dir = %dir.display(), "XDG_RUNTIME_DIR is not set: using a private one");
    Ok(dir)
}
