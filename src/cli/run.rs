//! `dmabridge run`: the compositor.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;
use clap::ValueEnum;

use dmabridge::compositor::{self, Config};

/// Where the output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Backend {
    /// An offscreen output: no display and no GPU needed.
    Headless,
    /// A window on the desktop this runs in (DISPLAY or WAYLAND_DISPLAY),
    /// with keyboard and pointer input.
    Nested,
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
    /// Socket name under XDG_RUNTIME_DIR (default: the first free wayland-N).
    #[arg(long)]
    socket: Option<String>,
    /// Write presented frames as PNG files into this directory.
    #[arg(long, value_name = "DIR")]
    dump_frames: Option<PathBuf>,
    /// With --dump-frames: keep every Nth frame.
    #[arg(long, value_name = "N", default_value_t = 1)]
    dump_every: u64,
    /// A client to start with WAYLAND_DISPLAY set; the compositor exits with
    /// its status when it exits.
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
    let config = Config {
        backend: match args.backend {
            Backend::Headless => compositor::Backend::Headless,
            Backend::Nested => compositor::Backend::Nested,
        },
        size: args.size,
        refresh_hz: args.refresh,
        socket: args.socket,
        dump_frames: args.dump_frames.map(|dir| (dir, args.dump_every)),
        client: args.client,
    };
    compositor::run(config, |socket| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "WAYLAND_DISPLAY={}", socket.to_string_lossy());
        let _ = out.flush();
    })
}
