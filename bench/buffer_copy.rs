//! dmabridge-buffer-copy-v1 at 1920×1080 and 3840×2160: a `wl_shm`
//! ARGB8888 buffer copied into an XRGB8888 one turned by 90°, through the
//! protocol against `dmabridge run` (headless, lavapipe), timed in the
//! client from `submit` to `done`, and the same copy as a plain loop on
//! the client's CPU (`dmabridge-client --copy-bench`, which also checks
//! that both give the same bytes). Prints the client's medians.

#[path = "../tests/support/compositor.rs"]
mod support;

use support::Session;

fn main() {
    for size in ["1920x1080", "3840x2160"] {
        let session = Session::start_plain(&["--size".to_owned(), "64x64".to_owned()]);
        let out = session
            .client(&["--copy-bench", size])
            .output()
            .expect("running dmabridge-client --copy-bench");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, &out.stdout).expect("writing the results");
    }
}
