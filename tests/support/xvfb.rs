//! A private X server (Xvfb) for the nested backend's tests: its screen is
//! read back from the XWD file Xvfb keeps in `-fbdir`, its cursor through
//! the XFixes extension, and xdotool moves, resizes and types into its
//! windows.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use x11rb::protocol::xfixes::ConnectionExt as _;

use crate::support::Rgb;

/// The cursor the X server shows (XFixes `GetCursorImageAndName`): over a
/// window, the one that window set.
#[derive(Debug)]
pub(crate) struct XCursor {
    pub(crate) size: (u16, u16),
    pub(crate) hotspot: (u16, u16),
    /// The name a cursor loaded from a theme got (libXcursor names it);
    /// empty for others.
    pub(crate) name: String,
    /// Premultiplied ARGB words, rows packed.
    pub(crate) pixels: Vec<u32>,
}

/// A running Xvfb with one 24-bit screen.
pub(crate) struct Xvfb {
    child: Child,
    display: String,
    fbdir: PathBuf,
}

impl Xvfb {
    /// Starts Xvfb on the first free display, with a screen of `size`.
    pub(crate) fn start(size: (u32, u32)) -> Self {
        let fbdir = std::env::temp_dir().join(format!(
            "dmabridge-xvfb-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&fbdir);
        std::fs::create_dir_all(&fbdir).unwrap();
        // -displayfd: Xvfb picks a free display and prints its number once
        // it accepts connections.
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{}x{}x24", size.0, size.1))
            .arg("-fbdir")
            .arg(&fbdir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting Xvfb (Debian package xvfb, installed by tools/setup)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let number: u32 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("Xvfb printed {line:?}, not a display number"));
        Self {
            child,
            display: format!(":{number}"),
            fbdir,
        }
    }

    /// The display name, for `DISPLAY`.
    pub(crate) fn display(&self) -> &str {
        &self.display
    }

    /// Runs xdotool on this display with `args`; its stdout.
    pub(crate) fn xdotool(&self, args: &[&str]) -> String {
        let out = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &self.display)
            .output()
            .expect("running xdotool (Debian package xdotool, installed by tools/setup)");
        assert!(
            out.status.success(),
            "xdotool {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The id of the window titled `title`, waiting for it to be mapped.
    pub(crate) fn window(&self, title: &str) -> String {
        let pattern = format!("^{title}$");
        let out = self.xdotool(&["search", "--sync", "--onlyvisible", "--name", &pattern]);
        out.lines().next().expect("a window id").to_owned()
    }

    /// Where window `id` is on the screen and how large: x, y, width,
    /// height.
    pub(crate) fn geometry(&self, id: &str) -> (u32, u32, u32, u32) {
        let out = self.xdotool(&["getwindowgeometry", "--shell", id]);
        let value = |key: &str| -> u32 {
            out.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_else(|| panic!("no {key} in {out:?}"))
                .parse()
                .unwrap()
        };
        (value("X"), value("Y"), value("WIDTH"), value("HEIGHT"))
    }

    /// The part of the screen at `(x, y)` of `width` × `height`.
    pub(crate) fn screenshot(&self, (x0, y0, width, height): (u32, u32, u32, u32)) -> Rgb {
        let xwd = std::fs::read(self.fbdir.join("Xvfb_screen0")).unwrap();
        let field = |i: usize| u32::from_be_bytes(xwd[i * 4..i * 4 + 4].try_into().unwrap());
        let (header, format, screen_w, screen_h) = (field(0), field(2), field(4), field(5));
        let (byte_order, bits_per_pixel, bytes_per_line) = (field(7), field(11), field(12));
        let (red, green, blue, colours) = (field(14), field(15), field(16), field(19));
        assert_eq!(
            (format, bits_per_pixel, byte_order),
            (2, 32, 0),
            "an XWD ZPixmap of 32-bit LSB-first pixels"
        );
        assert_eq!((red, green, blue), (0xff0000, 0xff00, 0xff));
        assert!(x0 + width <= screen_w && y0 + height <= screen_h);
        let pixels = header as usize + colours as usize * 12;
        let mut bytes = Vec::with_capacity((width * height * 3) as usize);
        for y in y0..y0 + height {
            for x in x0..x0 + width {
                let i = pixels + y as usize * bytes_per_line as usize + x as usize * 4;
                bytes.extend_from_slice(&[xwd[i + 2], xwd[i + 1], xwd[i]]);
            }
        }
        Rgb {
            width,
            height,
            bytes,
        }
    }

    /// Waits up to `timeout` for the screen area `area` to equal `want`
    /// within `tolerance`; the number of pixels that still differ.
    pub(crate) fn wait_for(
        &self,
        area: (u32, u32, u32, u32),
        want: &Rgb,
        tolerance: u8,
        timeout: Duration,
        pictures: &std::path::Path,
    ) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.screenshot(area);
            let matches = got.bytes.len() == want.bytes.len()
                && got
                    .bytes
                    .iter()
                    .zip(&want.bytes)
                    .all(|(a, b)| a.abs_diff(*b) <= tolerance);
            if matches {
                return 0;
            }
            if Instant::now() > deadline {
                return got.count_differences(want, tolerance, pictures);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The cursor the X server shows now.
    pub(crate) fn cursor(&self) -> XCursor {
        let (conn, _) = x11rb::connect(Some(&self.display)).expect("connecting to Xvfb");
        // XFixes 2 brought cursor names.
        conn.xfixes_query_version(2, 0)
            .unwrap()
            .reply()
            .expect("Xvfb has XFixes");
        let reply = conn
            .xfixes_get_cursor_image_and_name()
            .unwrap()
            .reply()
            .unwrap();
        XCursor {
            size: (reply.width, reply.height),
            hotspot: (reply.xhot, reply.yhot),
            name: String::from_utf8_lossy(&reply.name).into_owned(),
            pixels: reply.cursor_image,
        }
    }

    /// Waits up to `timeout` for the cursor to satisfy `done`; the cursor
    /// last seen, and whether it did.
    pub(crate) fn wait_for_cursor(
        &self,
        timeout: Duration,
        done: impl Fn(&XCursor) -> bool,
    ) -> (XCursor, bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let cursor = self.cursor();
            if done(&cursor) {
                return (cursor, true);
            }
            if Instant::now() > deadline {
                return (cursor, false);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.fbdir);
    }
}
