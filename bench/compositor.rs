//! End to end: a 1920×1080 client committing as fast as frame callbacks
//! allow, on the headless output (60 Hz), measured as frames per second and
//! compositor CPU time per frame. Weston's headless backend (Debian's
//! weston, pixman renderer) serves the same client in the same run as the
//! peer, and the table at the end gives the ratio.
//!
//! Each criterion iteration is one frame: the time from one frame callback
//! to the next, as the client sees it. The client is `dmabridge-client`
//! with the test card in a wl_shm buffer, re-attached with full damage every
//! frame, so every frame uploads and composites the whole picture.

#[path = "../tests/support/compositor.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

use support::{Lines, Session};

const SIZE: &str = "1920x1080";
const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");

/// A compositor under measurement: where its clients connect and its pid.
struct Server {
    runtime: std::path::PathBuf,
    socket: String,
    pid: u32,
}

/// CPU time (user + system) `pid` used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / rustix::param::clock_ticks_per_second() as f64)
}

/// Runs a client for `frames + 1` frames on `server`; the time and the
/// compositor's CPU time from its first frame callback to its last.
fn frames(server: &Server, frames: u64) -> (Duration, Duration) {
    let mut child: Child = Command::new(CLIENT)
        .args(["--size", SIZE, "--frames"])
        .arg((frames + 1).to_string())
        .env("XDG_RUNTIME_DIR", &server.runtime)
        .env("WAYLAND_DISPLAY", &server.socket)
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the client");
    let lines = Lines::new(child.stdout.take().unwrap());
    lines.expect("frame 1", Duration::from_secs(120));
    let (start, cpu) = (Instant::now(), cpu_time(server.pid));
    lines.expect(&format!("frame {}", frames + 1), Duration::from_secs(600));
    let result = (start.elapsed(), cpu_time(server.pid) - cpu);
    child.wait().expect("the client");
    result
}

/// Measures `server` with criterion and returns (frames per second, CPU
/// time per frame) from a separate run of `n` frames.
fn measure(c: &mut Criterion, name: &str, server: &Server, n: u64) -> (f64, Duration) {
    c.bench_function(&format!("e2e/{name}/frame"), |b| {
        b.iter_custom(|iters| frames(server, iters).0)
    });
    let (time, cpu) = frames(server, n);
    (n as f64 / time.as_secs_f64(), cpu / n as u32)
}

fn e2e(c: &mut Criterion) {
    let session = Session::start_plain(&[format!("--size={SIZE}"), "--refresh=60".into()]);
    let dmabridge = Server {
        runtime: session.dir().join("runtime"),
        socket: session.socket().to_owned(),
        pid: session.pid(),
    };
    let ours = measure(c, "dmabridge", &dmabridge, 60);

    let peer = Weston::start(session.dir());
    let theirs = peer.as_ref().map(|w| measure(c, "weston", &w.server, 60));
    let mut table = format!(
        "\n{:<28} {:>10} {:>14}\n{:<28} {:>10.1} {:>11.2} ms\n",
        "1920x1080 shm client, 60 Hz",
        "fps",
        "CPU / frame",
        "dmabridge (Vulkan, lavapipe)",
        ours.0,
        ours.1.as_secs_f64() * 1e3
    );
    match theirs {
        Some((fps, cpu)) => {
            table += &format!(
                "{:<28} {:>10.1} {:>11.2} ms\n{:<28} {:>10.2} {:>14.2}\n",
                "weston 10 (headless, pixman)",
                fps,
                cpu.as_secs_f64() * 1e3,
                "ratio dmabridge / weston",
                ours.0 / fps,
                ours.1.as_secs_f64() / cpu.as_secs_f64()
            )
        }
        None => table += "weston: not installed (tools/setup installs it); no peer measured\n",
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(table.as_bytes());
}

/// Weston with its headless backend on a socket of its own.
struct Weston {
    child: Child,
    server: Server,
}

impl Weston {
    fn start(dir: &std::path::Path) -> Option<Self> {
        let runtime = dir.join("weston-runtime");
        std::fs::create_dir_all(&runtime).ok()?;
        let (w, h) = SIZE.split_once('x')?;
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    targets = e2e
}
criterion_main!(benches);
