//! `dmabridge capture`: a screen-capture client in the spirit of grim, on
//! any compositor that offers ext-image-copy-capture-v1 or, failing that,
//! wlr-screencopy-unstable-v1.
//!
//! * Protocols: ext-image-copy-capture-v1 with ext-image-capture-source-v1
//!   (outputs, and toplevels found through ext-foreign-toplevel-list-v1)
//!   where the compositor offers them ([`ext`]); zwlr_screencopy_manager_v1
//!   versions 1 to 3 otherwise, outputs only ([`wlr`]). `--protocol`
//!   forces one.
//! * Buffers: `wl_shm` over a memfd, in the first format the compositor
//!   names among XRGB8888, ARGB8888, XBGR8888 and ABGR8888; the connection,
//!   the registry, outputs and toplevels in [`client`].
//! * The image is made upright, cropped and scaled by the compositor where
//!   it offers dmabridge-buffer-copy-v1 ([`copy`]), else on the CPU
//!   ([`image`]), and written as an RGB PNG, or as a binary PPM on stdout
//!   for `-o -`.
//!
//! The rule: the client never waits without a deadline. Every wait, the
//! registry's included, goes through [`Client::wait`], which gives up with
//! an error once `--timeout` has passed since the start, so a capture of an
//! output that never presents fails visibly instead of hanging. A protocol
//! error the compositor raises is reported as
//! `error: <interface>@<id> code N: message` (the message is the error's
//! name in the protocol where libwayland keeps the compositor's own text
//! to its log), any other failure as
//! `error: <what was being done>: <why>`, and the exit status is then 1.
//!
//! Output (on stdout when writing a file, on stderr with `-o -`), one line
//! per captured frame, in the buffer's own coordinates:
//!
//! ```text
//! frame 1 1280x720 damage 0,0 1280x720
//! frame 2 1280x720 damage 10,20 64x64 300,0 8x8
//! ```
//!
//! The rectangles are the compositor's damage events in the order they came,
//! as `X,Y WxH`; `damage none` where it sent none. wlr-screencopy's `copy`
//! (its first frame, or every frame on version 1) reports no damage by
//! design and copies everything, so its line shows the whole buffer.
//!
//! `--list` prints `output NAME WxH [DESCRIPTION]` (the current mode) for
//! each output and `toplevel IDENTIFIER APP_ID "TITLE"` for each toplevel
//! (the title with Rust's string escapes, APP_ID `-` where empty).

mod client;
mod copy;
mod ext;
mod image;
mod wlr;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use drm_fourcc::DrmFourcc;
use tracing::debug;
use wayland_client::protocol::{
    wl_output,
    wl_shm::{self, WlShm},
};
use wayland_client::{Proxy, WEnum};
use wayland_protocols::ext::foreign_toplevel_list::v1::client::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;

use dmabridge::copy::Transform;

use self::client::{Client, ShmBuffer, State, ToplevelInfo};
use self::image::{Captured, Finish, Region};

/// Which capture protocol to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Protocol {
    /// ext-image-copy-capture-v1 where offered, else wlr-screencopy.
    Auto,
    /// ext-image-copy-capture-v1 only.
    Ext,
    /// wlr-screencopy-unstable-v1 only.
    Wlr,
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The output to capture, by its wl_output name (default: the first).
    #[arg(long, value_name = "NAME", conflicts_with = "toplevel")]
    output: Option<String>,
    /// Capture a toplevel instead, by its app_id, title or identifier
    /// (ext-image-copy-capture-v1 only).
    #[arg(long, value_name = "APP_ID|TITLE")]
    toplevel: Option<String>,
    /// Keep only this part of the captured image, "X,Y WxH" in its pixels.
    #[arg(long, value_name = "X,Y WxH", value_parser = image::parse_region)]
    region: Option<Region>,
    /// Scale the image by this factor (above 0), bilinearly.
    #[arg(long, value_name = "F", value_parser = image::parse_scale)]
    scale: Option<f64>,
    /// Paint the cursor into the image.
    #[arg(long)]
    cursor: bool,
    /// The PNG file to write; `-` writes a binary PPM to stdout.
    #[arg(short, long, value_name = "FILE", default_value = "capture.png")]
    out: PathBuf,
    /// Print the outputs and toplevels that can be captured, and exit.
    #[arg(long)]
    list: bool,
    /// The capture protocol.
    #[arg(long, value_enum, default_value_t = Protocol::Auto)]
    protocol: Protocol,
    /// Frames to capture in a row from one session; the last is written.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    frames: u32,
    /// Give up after this many seconds in all.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<i32> {
    match capture(args) {
        Ok(()) => Ok(0),
        Err(err) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {err:#}");
            Ok(1)
        }
    }
}

/// What to capture.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// An index into [`State::outputs`].
    Output(usize),
    /// An index into [`State::toplevels`].
    Toplevel(usize),
}

/// A captured frame, as the capture protocols hand it over.
#[derive(Debug)]
struct Frame {
    /// The buffer the compositor filled.
    buffer: ShmBuffer,
    /// Whether its rows are bottom up (wlr-screencopy's `y_invert`).
    y_invert: bool,
    /// The transform the compositor applied to the content.
    transform: Transform,
}

impl Frame {
    /// The pixels, top row first.
    fn captured(&self) -> Captured<'_> {
        let mut captured = self.buffer.read();
        if self.y_invert {
            let (stride, height) = (captured.stride, captured.height as usize);
            image::flip_rows(captured.bytes.to_mut(), stride, height);
        }
        captured
    }
}

fn capture(args: Args) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a number of seconds above 0");
    }
    if args.protocol == Protocol::Wlr && args.toplevel.is_some() {
        bail!("wlr-screencopy captures outputs only; --toplevel needs --protocol ext or auto");
    }
    let timeout = Duration::from_secs_f64(args.timeout.min(1e9));
    let mut client = Client::connect(timeout)?;
    if args.list || args.toplevel.is_some() {
        if client
            .global(ExtForeignToplevelListV1::interface().name)
            .is_some()
        {
            let _list: Option<ExtForeignToplevelListV1> = client.bind(1);
        } else if args.toplevel.is_some() {
            bail!("the compositor does not offer ext-foreign-toplevel-list-v1 to find toplevels");
        }
    }
    client.bind_outputs();
    client.roundtrip("the outputs' and toplevels' descriptions")?;
    if args.list {
        return list(&client.state);
    }

    let source = match &args.toplevel {
        Some(wanted) => Source::Toplevel(client.state.find_toplevel(wanted)?),
        None => Source::Output(client.state.find_output(args.output.as_deref())?),
    };
    let has = |name: &str| client.global(name).is_some();
    let ext_ready = has(ext::COPY_MANAGER)
        && match source {
            Source::Output(_) => has(ext::OUTPUT_SOURCES),
            Source::Toplevel(_) => has(ext::TOPLEVEL_SOURCES),
        };
    let use_ext = match (args.protocol, source) {
        (Protocol::Wlr, Source::Toplevel(_)) => unreachable!("refused above"),
        (Protocol::Ext | Protocol::Auto, Source::Toplevel(_)) | (Protocol::Ext, _) => {
            if !ext_ready {
                bail!(
                    "the compositor does not offer ext-image-copy-capture-v1 with {}",
                    match source {
                        Source::Output(_) => ext::OUTPUT_SOURCES,
                        Source::Toplevel(_) => ext::TOPLEVEL_SOURCES,
                    }
                );
            }
            true
        }
        (Protocol::Auto, Source::Output(_)) => {
            if !ext_ready && !has(wlr::MANAGER) {
                bail!(
                    "the compositor offers neither ext-image-copy-capture-v1 nor \
                     wlr-screencopy-unstable-v1"
                );
            }
            ext_ready
        }
        (Protocol::Wlr, Source::Output(_)) => {
            if !has(wlr::MANAGER) {
                bail!("the compositor does not offer wlr-screencopy-unstable-v1");
            }
            false
        }
    };
    let shm: WlShm = client
        .bind(1)
        .context("the compositor does not offer wl_shm")?;
    let lines = if args.out.as_os_str() == "-" {
        Lines::Stderr
    } else {
        Lines::Stdout
    };
    let request = Request {
        source,
        cursor: args.cursor,
        frames: args.frames,
        lines,
    };
    debug!(ext = use_ext, ?source, "capturing");
    let frame = if use_ext {
        ext::capture(&mut client, &shm, request)?
    } else {
        let Source::Output(output) = source else {
            unreachable!("toplevels are refused for wlr above");
        };
        wlr::capture(&mut client, &shm, output, request)?
    };
    let mut finish = Finish {
        transform: frame.transform,
        region: args.region,
        scale: args.scale,
    };
    // Where the compositor makes the picture upright, cropped and scaled,
    // the client is left with a plain one. wlr-screencopy's upside-down
    // rows are the client's to turn.
    let finished = match frame.y_invert {
        false => copy::finish_in_compositor(&mut client, &shm, &frame.buffer, finish)?,
        true => None,
    };
    let frame = match finished {
        Some(buffer) => {
            finish = Finish {
                transform: Transform::Normal,
                region: None,
                scale: None,
            };
            Frame {
                buffer,
                y_invert: false,
                transform: Transform::Normal,
            }
        }
        None => frame,
    };
    let captured = frame.captured();
    if lines == Lines::Stderr {
        let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
        if let Some(written) = image::stream_ppm(out, &captured, &finish) {
            return written.context("writing the image to stdout");
        }
    }
    let rgb = image::finish(&captured, finish)?;
    match lines {
        Lines::Stderr => image::write_ppm(std::io::stdout().lock(), &rgb)
            .context("writing the image to stdout")?,
        Lines::Stdout => {
            let path = &args.out;
            let file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            image::write_png(std::io::BufWriter::new(file), &rgb)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

/// `--list`: the outputs, then the toplevels.
fn list(state: &State) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for output in &state.outputs {
        let (w, h) = output.mode.unwrap_or((0, 0));
        let name = output.name.as_deref().unwrap_or("-");
        write!(out, "output {name} {w}x{h}")?;
        if let Some(description) = output.description.as_deref().filter(|d| !d.is_empty()) {
            write!(out, " {description}")?;
        }
        writeln!(out)?;
    }
    for toplevel in state.toplevels.iter().filter_map(ToplevelInfo::current) {
        let app_id = Some(toplevel.app_id.as_str())
            .filter(|a| !a.is_empty())
            .unwrap_or("-");
        writeln!(
            out,
            "toplevel {} {app_id} {:?}",
            toplevel.identifier, toplevel.title
        )?;
    }
    out.flush()?;
    Ok(())
}

/// What both capture paths are asked to do.
#[derive(Debug, Clone, Copy)]
struct Request {
    source: Source,
    cursor: bool,
    frames: u32,
    lines: Lines,
}

/// Where the per-frame lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Writing a file: stdout is free.
    Stdout,
    /// Writing the image to stdout: the lines go to stderr.
    Stderr,
}

/// A damage rectangle as the compositor reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Damage {
    x: i64,
    y: i64,
    width: i64,
    height: i64,
}

impl Lines {
    /// Writes `frame N WxH damage …` for a captured frame.
    fn frame(self, n: u32, (w, h): (u32, u32), damage: &[Damage]) -> anyhow::Result<()> {
        let line = frame_line(n, (w, h), damage);
        let written = match self {
            Self::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            }
            Self::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
        };
        written.context("writing the frame line")
    }
}

/// The line reporting frame `n`, without its newline.
fn frame_line(n: u32, (w, h): (u32, u32), damage: &[Damage]) -> String {
    let mut line = format!("frame {n} {w}x{h} damage");
    if damage.is_empty() {
        line.push_str(" none");
    }
    for d in damage {
        line.push_str(&format!(" {},{} {}x{}", d.x, d.y, d.width, d.height));
    }
    line
}

/// The pixel formats the client reads, by their `wl_shm` names.
fn shm_fourcc(format: WEnum<wl_shm::Format>) -> Option<DrmFourcc> {
    match format {
        WEnum::Value(wl_shm::Format::Xrgb8888) => Some(DrmFourcc::Xrgb8888),
        WEnum::Value(wl_shm::Format::Argb8888) => Some(DrmFourcc::Argb8888),
        WEnum::Value(wl_shm::Format::Xbgr8888) => Some(DrmFourcc::Xbgr8888),
        WEnum::Value(wl_shm::Format::Abgr8888) => Some(DrmFourcc::Abgr8888),
        _ => None,
    }
}

/// A `wl_output.transform` as the crate's [`Transform`]; `None` for a value
/// the protocol does not define.
fn transform_of(value: WEnum<wl_output::Transform>) -> Option<Transform> {
    match value {
        WEnum::Value(t) => Transform::from_wl(u32::from(t)),
        WEnum::Unknown(v) => Transform::from_wl(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lines_list_the_damage_in_the_order_it_came() {
        let d = |x, y, width, height| Damage {
            x,
            y,
            width,
            height,
        };
        assert_eq!(
            frame_line(1, (1280, 720), &[d(0, 0, 1280, 720)]),
            "frame 1 1280x720 damage 0,0 1280x720"
        );
        assert_eq!(
            frame_line(2, (64, 48), &[d(10, 20, 4, 4), d(0, 0, 1, 2)]),
            "frame 2 64x48 damage 10,20 4x4 0,0 1x2"
        );
        assert_eq!(frame_line(3, (64, 48), &[]), "frame 3 64x48 damage none");
    }

    #[test]
    fn only_the_four_packed_shm_formats_are_read() {
        use wl_shm::Format;
        assert_eq!(
            shm_fourcc(WEnum::Value(Format::Xrgb8888)),
            Some(DrmFourcc::Xrgb8888)
        );
        assert_eq!(
            shm_fourcc(WEnum::Value(Format::Argb8888)),
            Some(DrmFourcc::Argb8888)
        );
        assert_eq!(
            shm_fourcc(WEnum::Value(Format::Xbgr8888)),
            Some(DrmFourcc::Xbgr8888)
        );
        assert_eq!(
            shm_fourcc(WEnum::Value(Format::Abgr8888)),
            Some(DrmFourcc::Abgr8888)
        );
        assert_eq!(shm_fourcc(WEnum::Value(Format::Rgb565)), None);
        assert_eq!(shm_fourcc(WEnum::Unknown(0x1234)), None);
    }
}
