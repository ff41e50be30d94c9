//! Runs `dmabridge run` and `dmabridge-client` as real processes on a real
#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]
//! socket, in a fresh `XDG_RUNTIME_DIR`, and reads the frames the headless
//! output dumped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The compositor's background colour, (0.1, 0.1, 0.1) in 8 bits.
pub(crate) const CLEAR: [u8; 3] = [26, 26, 26];

/// A directory of its own for each session: runtime dir and frames.
pub(crate) fn fresh_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dmabridge-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("runtime")).unwrap();
    std::fs::create_dir_all(dir.join("frames")).unwrap();
    dir
}

/// The lines a child prints, as they come.
pub(crate) struct Lines(Receiver<(Instant, String)>);

impl Lines {
    /// Follows `output`, a child's stdout or stderr.
    pub(crate) fn new(output: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Self(rx)
    }

    /// The next line that starts with `prefix`, waiting at most `timeout`.
    pub(crate) fn expect(&self, prefix: &str, timeout: Duration) -> String {
        let mut lines = self.until(prefix, timeout);
        lines.pop().expect("the line found")
    }

    /// Every line up to and including the next that starts with `prefix`,
    /// waiting at most `timeout`.
    pub(crate) fn until(&self, prefix: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((_, line)) => {
                    let found = line.starts_with(prefix);
                    lines.push(line);
                    if found {
                        return lines;
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!("no {prefix:?} line within {timeout:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("output ended before {prefix:?}"),
            }
        }
    }

    /// Every line printed so far.
    pub(crate) fn drain(&self) -> Vec<String> {
        self.0.try_iter().map(|(_, line)| line).collect()
    }

    /// Every line printed so far, each with when it was read.
    pub(crate) fn drain_timed(&self) -> Vec<(Instant, String)> {
        self.0.try_iter().collect()
    }
}

/// A running compositor.
pub(crate) struct Session {
    dir: PathBuf,
    child: Option<Child>,
    socket: String,
    /// The X11 display (`:N`) the compositor printed, if it did.
    x11_display: Option<String>,
    /// The compositor's stdout after the socket line: what its own client
    /// printed (it inherits the compositor's stdout).
    lines: Lines,
}

impl Session {
    /// Starts `dmabridge run` with an output of `size` at 30 Hz, dumping
    /// every frame, with `client` (a full command) if given.
    pub(crate) fn start(size: (u32, u32), client: &[&str]) -> Self {
        Self::start_with(size, &[], client)
    }

    /// As [`start`](Self::start), with more options for `dmabridge run`.
    pub(crate) fn start_with(size: (u32, u32), options: &[&str], client: &[&str]) -> Self {
        let dir = fresh_dir();
        let mut args = vec![
            "--refresh".to_owned(),
            "30".to_owned(),
            format!("--size={}x{}", size.0, size.1),
            format!("--dump-frames={}", dir.join("frames").display()),
        ];
        args.extend(options.iter().map(|&o| o.to_owned()));
        Self::launch(dir, &args, client, None)
    }

    /// As [`start`](Self::start), with the nested backend: a window on the
    /// X server `display` (`:N`).
    pub(crate) fn start_nested(display: &str, size: (u32, u32), client: &[&str]) -> Self {
        Self::start_nested_with(display, size, &[], client)
    }

    /// As [`start_nested`](Self::start_nested), with more options for
    /// `dmabridge run`.
    pub(crate) fn start_nested_with(
        display: &str,
        size: (u32, u32),
        options: &[&str],
        client: &[&str],
    ) -> Self {
        let dir = fresh_dir();
        let mut args = vec![
            "--refresh".to_owned(),
            "30".to_owned(),
            format!("--size={}x{}", size.0, size.1),
            format!("--dump-frames={}", dir.join("frames").display()),
        ];
        args.extend(options.iter().map(|&o| o.to_owned()));
        Self::launch(dir, &args, client, Some(display))
    }

    /// Starts `dmabridge run --backend headless` with `args`, without
    /// dumping frames: for measurements.
    pub(crate) fn start_plain(args: &[String]) -> Self {
        Self::launch(fresh_dir(), args, &[], None)
    }

    /// Runs the compositor headless, or nested on the X server `x_display`.
    fn launch(dir: PathBuf, args: &[String], client: &[&str], x_display: Option<&str>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dmabridge"));
        match x_display {
            Some(display) => cmd
                .args(["run", "--backend", "nested"])
                .env("DISPLAY", display),
            None => cmd
                .args(["run", "--backend", "headless"])
                .env_remove("DISPLAY"),
        };
        // Named cursors from the default theme at its default size,
        // whatever the user running the tests chose.
        cmd.args(args)
            .env_remove("XCURSOR_THEME")
            .env("XCURSOR_SIZE", "24")
            .env("XDG_RUNTIME_DIR", dir.join("runtime"))
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::piped());
        if !client.is_empty() {
            cmd.arg("--").args(client);
        }
        let mut child = cmd.spawn().expect("starting dmabridge run");
        let lines = Lines::new(child.stdout.take().unwrap());
        let mut ready = lines.until("WAYLAND_DISPLAY=", Duration::from_secs(60));
        let socket = ready
            .pop()
            .expect("the line found")
            .trim_start_matches("WAYLAND_DISPLAY=")
            .to_owned();
        let x11_display = ready
            .iter()
            .find_map(|line| line.strip_prefix("DISPLAY="))
            .map(str::to_owned);
        Self {
            dir,
            child: Some(child),
            socket,
            x11_display,
            lines,
        }
    }

    /// The lines the compositor's own client prints, as they come.
    pub(crate) fn lines(&self) -> &Lines {
        &self.lines
    }

    /// What the compositor's own client printed so far.
    pub(crate) fn client_log(&self) -> Vec<String> {
        self.lines.drain()
    }

    /// What the compositor's own client printed up to and including its
    /// next line that starts with `prefix`, waiting at most `timeout`.
    pub(crate) fn client_log_until(&self, prefix: &str, timeout: Duration) -> Vec<String> {
        self.lines.until(prefix, timeout)
    }

    /// The compositor's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// A `dmabridge-client` command for this compositor.
    pub(crate) fn client(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_dmabridge-client"));
        cmd.args(args);
        cmd
    }

    /// A command that connects to this compositor as its desktop: the
    /// runtime dir and `WAYLAND_DISPLAY` set, `DISPLAY` removed, stdout
    /// piped.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("XDG_RUNTIME_DIR", self.dir.join("runtime"))
            .env("WAYLAND_DISPLAY", &self.socket)
            .env_remove("DISPLAY")
            .stdout(Stdio::piped());
        cmd
    }

    /// Starts a client and follows its output.
    pub(crate) fn spawn_client(&self, args: &[&str]) -> (Child, Lines) {
        let mut child = self.client(args).spawn().expect("starting the client");
        let lines = Lines::new(child.stdout.take().unwrap());
        (child, lines)
    }

    /// Waits for the compositor to exit (it does when its own client
    /// does), at most `timeout`.
    pub(crate) fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the compositor did not exit in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the compositor still runs.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    /// The dumped frames, oldest first.
    pub(crate) fn frames(&self) -> Vec<PathBuf> {
        let mut frames: Vec<PathBuf> = std::fs::read_dir(self.dir.join("frames"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        frames.sort();
        frames
    }

    /// The socket's name, for `WAYLAND_DISPLAY`.
    pub(crate) fn socket(&self) -> &str {
        &self.socket
    }

    /// The X11 display (`:N`) the compositor printed as `DISPLAY=`, for X11
    /// clients.
    pub(crate) fn x11_display(&self) -> Option<&str> {
        self.x11_display.as_deref()
    }

    /// Waits at most `timeout` until a dumped frame shows more than the
    /// background: a client's first frame was presented.
    pub(crate) fn wait_for_content(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self
            .frames()
            .iter()
            .any(|frame| Rgb::load(frame).has_content())
        {
            assert!(Instant::now() < deadline, "no frame shows a client");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The newest dumped frame that shows more than the background: a
    /// client that exits unmaps its window, and the compositor may present
    /// the empty output before it notices the exit.
    pub(crate) fn last_frame_with_content(&self) -> Rgb {
        self.frames()
            .iter()
            .rev()
            .map(|path| Rgb::load(path))
            .find(Rgb::has_content)
            .expect("a frame shows a client")
    }

    /// Checks that the newest frame showing a client is the background with
    /// the test cards `cards` (x, size) on it, within `tolerance`.
    pub(crate) fn assert_shows_cards(
        &self,
        size: (u32, u32),
        cards: &[(u32, (u32, u32))],
        tolerance: u8,
    ) {
        self.assert_shows(&Rgb::expected(size, cards), tolerance);
    }

    /// Checks that the newest frame showing a client is `want`, within
    /// `tolerance` per channel.
    pub(crate) fn assert_shows(&self, want: &Rgb, tolerance: u8) {
        let got = self.last_frame_with_content();
        let bad = got.count_differences(want, tolerance, self.dir());
        assert_eq!(
            bad,
            0,
            "{bad} pixels differ (pictures in {})",
            self.dir().display()
        );
    }

    /// Where failing tests leave their pictures.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether an RGB pixel is the background, which rounds either way.
fn is_background(pixel: &[u8]) -> bool {
    pixel.iter().zip(CLEAR).all(|(a, b)| a.abs_diff(b) <= 1)
}

/// An RGB picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rgb {
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) bytes: Vec<u8>,
}

impl Rgb {
    pub(crate) fn load(path: &Path) -> Self {
        let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut bytes = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut bytes).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        bytes.truncate(info.buffer_size());
        Self {
            width: info.width,
            height: info.height,
            bytes,
        }
    }

    /// Whether any pixel is not the background.
    pub(crate) fn has_content(&self) -> bool {
        self.bytes.chunks(3).any(|p| !is_background(p))
    }

    /// How many pixels of `area` (x, y, width, height) are not the
    /// background.
    pub(crate) fn drawn(&self, (x0, y0, w, h): (u32, u32, u32, u32)) -> usize {
        (y0..y0 + h)
            .flat_map(|y| (x0..x0 + w).map(move |x| (x, y)))
            .filter(|&(x, y)| !is_background(&self.pixel(x, y)))
            .count()
    }

    pub(crate) fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.bytes[i], self.bytes[i + 1], self.bytes[i + 2]]
    }

    /// The frame of a compositor of `size` that shows no window.
    pub(crate) fn background(size: (u32, u32)) -> Self {
        Self {
            width: size.0,
            height: size.1,
            bytes: CLEAR.repeat((size.0 * size.1) as usize),
        }
    }

    /// Paints the rectangle at `at` of `size` (clipped to the picture) in
    /// `colour`.
    pub(crate) fn fill(&mut self, at: (u32, u32), size: (u32, u32), colour: [u8; 3]) {
        for y in at.1..(at.1 + size.1).min(self.height) {
            for x in at.0..(at.0 + size.0).min(self.width) {
                let i = ((y * self.width + x) * 3) as usize;
                self.bytes[i..i + 3].copy_from_slice(&colour);
            }
        }
    }

    /// The frame a compositor of `size` shows with the test card of
    /// `card` at `(x, 0)` and nothing else.
    pub(crate) fn expected(size: (u32, u32), cards: &[(u32, (u32, u32))]) -> Self {
        let Self { mut bytes, .. } = Self::background(size);
        for &(x0, (w, h)) in cards {
            let card = dmabridge::testcard::test_card(w, h);
            for y in 0..h.min(size.1) {
                for x in 0..w.min(size.0.saturating_sub(x0)) {
                    let p = card[(y * w + x) as usize];
                    let i = ((y * size.0 + x0 + x) * 3) as usize;
                    bytes[i..i + 3].copy_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
                }
            }
        }
        Self {
            width: size.0,
            height: size.1,
            bytes,
        }
    }

    /// How many pixels differ from `other` by more than `tolerance` in a
    /// channel; writes both pictures next to `dir` when any do.
    pub(crate) fn count_differences(&self, other: &Rgb, tolerance: u8, dir: &Path) -> usize {
        assert_eq!((self.width, self.height), (other.width, other.height));
        let bad = self
            .bytes
            .chunks(3)
            .zip(other.bytes.chunks(3))
            .filter(|(a, b)| {
                a.iter()
                    .zip(b.iter())
                    .any(|(x, y)| x.abs_diff(*y) > tolerance)
            })
            .count();
        if bad > 0 {
            self.save(&dir.join("actual.png"));
            other.save(&dir.join("expected.png"));
        }
        bad
    }

    fn save(&self, path: &Path) {
        let file = std::fs::File::create(path).unwrap();
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&self.bytes)
            .unwrap();
    }
}
