//! End to end: a client committing as fast as frame callbacks allow, on
//! the headless output (60 Hz), measured as frames per second and
//! compositor CPU time (user + system, from `/proc`) per frame. Weston's
//! headless backend (Debian's weston, pixman renderer) serves the same
//! client in the same run as the peer: runs alternate between the two
//! compositors, so that a change in the machine's load touches both.
//!
//! The client is `dmabridge-client` with the test card in a `wl_shm`
//! buffer (a sealed memfd), re-attached with full damage every frame, so
//! every frame uploads and composites the whole picture: XRGB8888 (an
//! opaque window) and ARGB8888 (no opaque region: blended), at 1920×1080
//! and 3840×2160, each with its own output of that size.
//!
//! `cargo bench --bench compositor -- --soak` instead runs a 1920×1080
//! client for 10,000 frames on `dmabridge run`, an opaque one and then a
//! translucent one, each in a compositor of its own, and reports the
//! compositor's resident memory every 1,000 frames (about three minutes a
//! client at 60 fps).

#[path = "../tests/support/compositor.rs"]
mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Lines, Session};

const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// Alternating runs of each compositor per configuration.
const ROUNDS: usize = 3;

/// Frames of the soak run, and how often it samples memory.
const SOAK_FRAMES: u64 = 10_000;
const SOAK_STEP: u64 = 1_000;

/// An output size and the frames a run of it measures (fewer at 4K,
/// where a frame takes longer).
const SIZES: [(&str, u64); 2] = [("1920x1080", 120), ("3840x2160", 40)];

/// The client's buffer formats, by `dmabridge-client --format`.
const FORMATS: [(&str, &str); 2] = [
    ("xrgb8888", "opaque (XRGB8888)"),
    ("argb8888", "translucent (ARGB8888)"),
];

/// A compositor under measurement: where its clients connect and its pid.
struct Server {
    runtime: std::path::PathBuf,
    socket: String,
    pid: u32,
}

/// `/proc/<pid>/stat`'s fields after the command name.
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces.
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// CPU time (user + system) `pid` used so far.
fn cpu_time(pid: u32) -> Duration {
    let fields = stat_fields(pid);
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// Resident memory of `pid`, in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The one-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_owned()
}

/// Starts the client on `server`: `frames` frames of `size` in `format`.
fn client(server: &Server, size: &str, format: &str, frames: u64) -> (Child, Lines) {
    let mut child = Command::new(CLIENT)
        .args(["--size", size, "--format", format, "--frames"])
        .arg(frames.to_string())
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .env("WAYLAND_DISPLAY", &server.socket)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let lines = Lines::new(child.stdout.take().unwrap());
    (child, lines)
}

/// Runs a client for `frames + 1` frames on `server`; frames per second
/// and the compositor's CPU time per frame, from its first frame callback
/// to its last.
fn run(server: &Server, size: &str, format: &str, frames: u64) -> (f64, Duration) {
    let (mut child, lines) = client(server, size, format, frames + 1);
    lines.expect("frame 1", Duration::from_secs(120));
    let (start, cpu) = (Instant::now(), cpu_time(server.pid));
    lines.expect(&format!("frame {}", frames + 1), Duration::from_secs(600));
    let (time, used) = (start.elapsed(), cpu_time(server.pid) - cpu);
    child.wait().expect("the client");
    (frames as f64 / time.as_secs_f64(), used / frames as u32)
}

/// The mean of `runs`, with the range of their frame rates.
struct Summary {
    fps: f64,
    fps_min: f64,
    fps_max: f64,
    cpu: Duration,
}

fn summary(runs: &[(f64, Duration)]) -> Summary {
    let n = runs.len() as f64;
    let fps = runs.iter().map(|r| r.0).sum::<f64>() / n;
    let cpu = runs.iter().map(|r| r.1).sum::<Duration>().div_f64(n);
    let fps_min = runs.iter().map(|r| r.0).fold(f64::INFINITY, f64::min);
    let fps_max = runs.iter().map(|r| r.0).fold(0.0, f64::max);
    Summary {
        fps,
        fps_min,
        fps_max,
        cpu,
    }
}

fn row(name: &str, s: &Summary) -> String {
    format!(
        "  {name:<30} {:>6.1} fps ({:.1}–{:.1}) {:>8.2} ms CPU a frame\n",
        s.fps,
        s.fps_min,
        s.fps_max,
        s.cpu.as_secs_f64() * 1e3
    )
}

fn e2e() {
    let mut out = std::io::stdout().lock();
    for (size, frames) in SIZES {
        let session = Session::start_plain(&[format!("--size={size}"), "--refresh=60".into()]);
        let ours = Server {
            runtime: session.dir().join("runtime"),
            socket: session.socket().to_owned(),
            pid: session.pid(),
        };
        let peer = Weston::start(session.dir(), size);
        for (format, name) in FORMATS {
            let load_before = load();
            let (mut mine, mut theirs) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                mine.push(run(&ours, size, format, frames));
                if let Some(weston) = &peer {
                    theirs.push(run(&weston.server, size, format, frames));
                }
            }
            let mut table = format!(
                "\n{size} {name}, {frames} frames a run, {ROUNDS} runs each, \
                 alternating; load average {load_before} → {}\n",
                load()
            );
            let mine = summary(&mine);
            table += &row("dmabridge (Vulkan, lavapipe)", &mine);
            if theirs.is_empty() {
                table += "  weston: not installed (tools/setup installs it)\n";
            } else {
                let theirs = summary(&theirs);
                table += &row("weston 10 (headless, pixman)", &theirs);
                table += &format!(
                    "  ratio dmabridge / weston: fps {:.2}, CPU a frame {:.2}\n",
                    mine.fps / theirs.fps,
                    mine.cpu.as_secs_f64() / theirs.cpu.as_secs_f64()
                );
            }
            let _ = out.write_all(table.as_bytes());
            let _ = out.flush();
        }
    }
}

/// 10,000 frames of an opaque 1920×1080 client, then of a translucent
/// one; for each, the compositor's resident memory every [`SOAK_STEP`]
/// frames and its growth after the first step.
fn soak() {
    for (name, format) in [("opaque", "xrgb8888"), ("translucent", "argb8888")] {
        soak_one(name, format);
    }
}

fn soak_one(name: &str, format: &str) {
    let mut out = std::io::stdout().lock();
    let size = SIZES[0].0;
    let session = Session::start_plain(&[format!("--size={size}"), "--refresh=60".into()]);
    let server = Server {
        runtime: session.dir().join("runtime"),
        socket: session.socket().to_owned(),
        pid: session.pid(),
    };
    let _ = writeln!(
        out,
        "soak: {size} {name} client, {SOAK_FRAMES} frames; load average {}",
        load()
    );
    let (mut child, lines) = client(&server, size, format, SOAK_FRAMES);
    let start = Instant::now();
    let mut first = None;
    for frame in (SOAK_STEP..=SOAK_FRAMES).step_by(SOAK_STEP as usize) {
        lines.expect(&format!("frame {frame}"), Duration::from_secs(1200));
        let rss = rss_kib(server.pid);
        let base = *first.get_or_insert(rss);
        let _ = writeln!(
            out,
            "  frame {frame:>6}: RSS {rss} KiB ({:+} KiB since frame {SOAK_STEP}), {:.0} s",
            rss as i64 - base as i64,
            start.elapsed().as_secs_f64()
        );
        let _ = out.flush();
    }
    child.wait().expect("the client");
    let _ = writeln!(out, "soak: load average {} at the end", load());
}

/// Weston with its headless backend on a socket of its own.
struct Weston {
    child: Child,
    server: Server,
}

impl Weston {
    fn start(dir: &std::path::Path, size: &str) -> Option<Self> {
        let runtime = dir.join("weston-runtime");
        std::fs::create_dir_all(&runtime).ok()?;
        let (w, h) = size.split_once('x')?;
        let child = Command::new("weston")
            .args([
                "--backend=headless-backend.so",
                "--socket=weston-bench",
                "--idle-time=0",
            ])
            .arg(format!("--width={w}"))
            .arg(format!("--height={h}"))
            .env("XDG_RUNTIME_DIR", &runtime)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let socket = runtime.join("weston-bench");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let pid = child.id();
        Some(Self {
            child,
            server: Server {
                runtime,
                socket: "weston-bench".into(),
                pid,
            },
        })
    }
}

impl Drop for Weston {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo bench -- --soak` adds `--soak`.
    if std::env::args().any(|a| a == "--soak") {
        soak();
    } else {
        e2e();
    }
}
