//! The client command of `dmabridge run -- CLIENT…`: spawned with the
//! compositor's `WAYLAND_DISPLAY` (and `DISPLAY`, where it serves X11
//! clients), watched through a pidfd on the event
//! loop, and its exit status becomes the compositor's.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Child, Command};

use anyhow::Context;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{Interest, Mode, PostAction};
use tracing::info;

use super::state::State;

/// Starts `command` as a client of the socket `socket` (in `runtime_dir`,
/// which it is given as its `XDG_RUNTIME_DIR`, when there is one) and of
/// the X11 display `x11_display` where there is one, and
/// stops the event loop when it exits, with its exit code in
/// [`State::client_exit`].
pub(crate) fn spawn(
    state: &State,
    command: &[OsString],
    socket: &OsString,
    x11_display: Option<u32>,
    runtime_dir: Option<&Path>,
) -> anyhow::Result<()> {
    let (program, args) = command.split_first().context("an empty client command")?;
    let mut child = Command::new(program);
    child
        .args(args)
        .env("WAYLAND_DISPLAY", socket)
        .env_remove("WAYLAND_SOCKET");
    if let Some(dir) = runtime_dir {
        child.env("XDG_RUNTIME_DIR", dir);
    }
    if let Some(display) = x11_display {
        child.env("DISPLAY", format!(":{display}"));
    }
    let mut child = child
        .spawn()
        .with_context(|| format!("starting {}", program.to_string_lossy()))?;
    let pid = Pid::from_child(&child);
    let pidfd = pidfd_open(pid, PidfdFlags::empty()).context("pidfd_open on the client")?;
    info!(pid = pid.as_raw_nonzero().get(), "client started");
    state
        .handle
        .insert_source(
            Generic::new(pidfd, Interest::READ, Mode::Level),
            move |_, _, state| {
                if let Some(code) = exit_code(&mut child)? {
                    info!(code, "client exited");
                    state.client_exit = Some(code);
                    state.signal.stop();
                    return Ok(PostAction::Remove);
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|err| anyhow::anyhow!("watching the client: {err}"))?;
    Ok(())
}

/// The exit code of `child` once it exited: its status, or 128 + the signal
/// that killed it, as shells report it.
fn exit_code(child: &mut Child) -> std::io::Result<Option<i32>> {
    use std::os::unix::process::ExitStatusExt;
    Ok(child.try_wait()?.map(|status| {
        status
            .code()
            .or_else(|| status.signal().map(|signal| 128 + signal))
            .unwrap_or(1)
    }))
}
