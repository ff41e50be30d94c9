//! Screen capture of a 1920×1080 output, whole client processes timed from
//! start to exit with the picture written: `dmabridge capture -o -` and
//! grim 1.4 (`-t ppm`) against `dmabridge run` (headless, lavapipe), and in
//! the same run grim against the peer, sway 1.7 from Debian with its
//! headless backend and pixman renderer. The output shows the test card of
//! `dmabridge-client`, committed once.
//!
//! sway refuses to run as root, so it runs as an unprivileged user
//! (`dmabridge-peer`, made if missing) with a runtime directory of its own.

#[path = "../tests/support/compositor.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

use support::{Lines, Session};

const SIZE: &str = "1920x1080";
const CLIENT: &str = env!("CARGO_BIN_EXE_dmabridge-client");
const DMABRIDGE: &str = env!("CARGO_BIN_EXE_dmabridge");

/// The user sway runs as.
const PEER_USER: &str = "dmabridge-peer";

/// A compositor's socket, as a client names it.
struct Server {
    runtime: PathBuf,
    socket: String,
}

impl Server {
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", &self.runtime)
            .env("WAYLAND_DISPLAY", &self.socket)
            .env_remove("DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Starts the test card client on the server and waits until it has
    /// committed its frame.
    fn show_card(&self) -> Child {
        let mut child = self
            .command(CLIENT)
            .args(["--size", SIZE, "--frames", "1", "--stay"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the client");
        let lines = Lines::new(child.stdout.take().unwrap());
        lines.expect("staying", Duration::from_secs(120));
        // A refresh or two for the frame to be composited.
        std::thread::sleep(Duration::from_millis(200));
        child
    }

    /// Runs one capture to completion: `program` with `args`, the picture
    /// written to stdout (discarded). Panics if it fails.
    fn capture(&self, program: &str, args: &[&str]) -> Duration {
        let start = Instant::now();
        let status = self
            .command(program)
            .args(args)
            .status()
            .expect("starting the capture client");
        assert!(status.success(), "{program} {args:?}: {status}");
        start.elapsed()
    }
}

/// Measures `program args` against `server` with criterion, then the mean
/// of `n` more runs for the table.
fn measure(
    c: &mut Criterion,
    name: &str,
    server: &Server,
    program: &str,
    args: &[&str],
) -> Duration {
    c.bench_function(&format!("capture/{name}"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| server.capture(program, args)).sum())
    });
    let n = 20;
    (0..n)
        .map(|_| server.capture(program, args))
        .sum::<Duration>()
        / n
}

fn capture(c: &mut Criterion) {
    let session = Session::start_plain(&[format!("--size={SIZE}"), "--refresh=60".into()]);
    let ours = Server {
        runtime: session.dir().join("runtime"),
        socket: session.socket().to_owned(),
    };
    let mut card = ours.show_card();
    let ppm = ["capture", "-o", "-"];
    let own = measure(c, "dmabridge-capture@dmabridge", &ours, DMABRIDGE, &ppm);
    let grim_ours = measure(c, "grim@dmabridge", &ours, "grim", &["-t", "ppm", "-"]);
    let _ = card.kill();
    let _ = card.wait();

    let peer = Sway::start(session.dir());
    let grim_peer = peer.as_ref().map(|sway| {
        let mut card = sway.server.show_card();
        let time = measure(c, "grim@sway", &sway.server, "grim", &["-t", "ppm", "-"]);
        let _ = card.kill();
        let _ = card.wait();
        time
    });

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mut table = format!(
        "\n{:<44} {:>10}\n{:<44} {:>7.1} ms\n{:<44} {:>7.1} ms\n",
        "1920x1080 output, one capture, process to exit",
        "time",
        "dmabridge capture -o -, dmabridge run",
        ms(own),
        "grim -t ppm, dmabridge run",
        ms(grim_ours),
    );
    match grim_peer {
        Some(peer) => {
            table += &format!(
                "{:<44} {:>7.1} ms\n{:<44} {:>10.2}\n{:<44} {:>10.2}\n",
                "grim -t ppm, sway 1.7 (headless, pixman)",
                ms(peer),
                "ratio dmabridge capture / grim on sway",
                own.as_secs_f64() / peer.as_secs_f64(),
                "ratio grim on dmabridge / grim on sway",
                grim_ours.as_secs_f64() / peer.as_secs_f64(),
            )
        }
        None => {
            table +=
                "sway: not installed or did not start (tools/setup installs it); no peer measured\n"
        }
    }
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(table.as_bytes());
}

/// sway with its headless backend and pixman renderer, as [`PEER_USER`].
struct Sway {
    child: Child,
    server: Server,
}

impl Sway {
    fn start(dir: &Path) -> Option<Self> {
        let exists = Command::new("id")
            .arg(PEER_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        if !exists {
            let made = Command::new("useradd")
                .args(["--system", "--no-create-home", PEER_USER])
                .status()
                .ok()?;
            if !made.success() {
                return None;
            }
        }
        let runtime = dir.join("sway-runtime");
        std::fs::create_dir_all(&runtime).ok()?;
        let owned = Command::new("chown")
            .arg(PEER_USER)
            .arg(&runtime)
            .status()
            .ok()?;
        let private = Command::new("chmod")
            .arg("0700")
            .arg(&runtime)
            .status()
            .ok()?;
        if !owned.success() || !private.success() {
            return None;
        }
        let config = dir.join("sway-config");
        std::fs::write(&config, format!("output * mode {SIZE}\n")).ok()?;
        let child = Command::new("runuser")
            .args(["-u", PEER_USER, "--", "sway", "-c"])
            .arg(&config)
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("WLR_BACKENDS", "headless")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .env("WLR_RENDERER", "pixman")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut sway = Self {
            child,
            server: Server {
                runtime: runtime.clone(),
                socket: String::new(),
            },
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let socket = std::fs::read_dir(&runtime)
                .ok()?
                .filter_map(Result::ok)
                .find_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name.starts_with("wayland-") && !name.ends_with(".lock")).then_some(name)
                });
            if let Some(socket) = socket {
                sway.server.socket = socket;
                return Some(sway);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // runuser's child outlives a killed runuser.
        let _ = Command::new("pkill")
            .args(["-u", PEER_USER, "sway"])
            .status();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = capture
}
criterion_main!(benches);
