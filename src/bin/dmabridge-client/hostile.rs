//! `--hostile CASE`: one malformed `zwp_linux_buffer_params_v1` request,
//! and a check that the compositor answers with the error the protocol
//! names for it.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, bail};
use clap::ValueEnum;
use dmabridge::alloc::Udmabuf;
use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::fs::{MemfdFlags, memfd_create};
use wayland_client::Connection;
use wayland_protocols::wp::linux_dmabuf::zv1::client::{
    zwp_linux_buffer_params_v1, zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1,
};

use crate::app::App;
use crate::say;

/// The malformed `zwp_linux_buffer_params_v1` requests, each with the error
/// the protocol requires in answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Hostile {
    /// `add` with plane index 4: `plane_idx`.
    PlaneIndex,
    /// `add` twice for plane 0: `plane_set`.
    PlaneSet,
    /// `create_immed` of ARGB8888 (one plane) with two planes:
    /// `incomplete`.
    Incomplete,
    /// `create_immed` with a fourcc nobody knows: `invalid_format`.
    InvalidFormat,
    /// `create_immed` of 0×0: `invalid_dimensions`.
    InvalidDimensions,
    /// A plane that ends past its fd: `out_of_bounds`.
    OutOfBounds,
    /// `create` twice on one params object: `already_used` (the first may
    /// fail on its own; the params are used either way).
    AlreadyUsed,
    /// A memfd where a dma-buf belongs: `create_immed` fails with
    /// `invalid_wl_buffer`.
    NotDmabuf,
    /// A modifier the compositor did not advertise: `invalid_wl_buffer`
    /// (or `invalid_format`).
    UnsupportedModifier,
}

impl Hostile {
    /// The `zwp_linux_buffer_params_v1.error` codes accepted in answer.
    fn expected(self) -> &'static [zwp_linux_buffer_params_v1::Error] {
        use zwp_linux_buffer_params_v1::Error as E;
        match self {
            Self::PlaneIndex => &[E::PlaneIdx],
            Self::PlaneSet => &[E::PlaneSet],
            Self::Incomplete => &[E::Incomplete],
            Self::InvalidFormat => &[E::InvalidFormat],
            Self::InvalidDimensions => &[E::InvalidDimensions],
            Self::OutOfBounds => &[E::OutOfBounds],
            Self::AlreadyUsed => &[E::AlreadyUsed],
            Self::NotDmabuf => &[E::InvalidWlBuffer],
            Self::UnsupportedModifier => &[E::InvalidWlBuffer, E::InvalidFormat],
        }
    }
}

/// Sends the malformed request `case` and waits for the compositor's answer.
pub(crate) fn hostile(
    conn: &Connection,
    queue: &mut wayland_client::EventQueue<App>,
    app: &mut App,
    manager: &ZwpLinuxDmabufV1,
    case: Hostile,
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let udmabuf = Udmabuf::open();
    let (w, h) = (64u32, 64u32);
    let stride = w * 4;
    let fd = || -> anyhow::Result<OwnedFd> {
        match &udmabuf {
            Ok(u) => Ok(u.alloc(u64::from(stride * h))?),
            Err(_) => {
                // Without udmabuf, validation cases still need a fd; only
                // the cases that reach the import need a real dma-buf.
                let fd = memfd_create("dmabridge-client", MemfdFlags::CLOEXEC)?;
                rustix::fs::ftruncate(&fd, u64::from(stride * h))?;
                Ok(fd)
            }
        }
    };
    let linear: u64 = DrmModifier::Linear.into();
    let (hi, lo) = ((linear >> 32) as u32, linear as u32);
    let argb = DrmFourcc::Argb8888 as u32;
    let none = zwp_linux_buffer_params_v1::Flags::empty();
    let params = manager.create_params(&qh, ());
    match case {
        Hostile::PlaneIndex => params.add(fd()?.as_fd(), 4, 0, stride, hi, lo),
        Hostile::PlaneSet => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
        }
        Hostile::Incomplete => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.add(fd()?.as_fd(), 1, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
        Hostile::InvalidFormat => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, 0x2020_2020, none, &qh, ());
        }
        Hostile::InvalidDimensions => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(0, 0, argb, none, &qh, ());
        }
        Hostile::OutOfBounds => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, 2 * h as i32, argb, none, &qh, ());
        }
        Hostile::AlreadyUsed => {
            params.add(fd()?.as_fd(), 0, 0, stride, hi, lo);
            params.create(w as i32, h as i32, argb, none);
            params.create(w as i32, h as i32, argb, none);
        }
        Hostile::NotDmabuf => {
            let memfd = memfd_create("not-a-dmabuf", MemfdFlags::CLOEXEC)?;
            rustix::fs::ftruncate(&memfd, u64::from(stride * h))?;
            params.add(memfd.as_fd(), 0, 0, stride, hi, lo);
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
        Hostile::UnsupportedModifier => {
            // I915_FORMAT_MOD_X_TILED: no software device imports it.
            let tiled: u64 = DrmModifier::I915_x_tiled.into();
            params.add(
                fd()?.as_fd(),
                0,
                0,
                stride,
                (tiled >> 32) as u32,
                tiled as u32,
            );
            let _ = params.create_immed(w as i32, h as i32, argb, none, &qh, ());
        }
    }
    loop {
        match queue.roundtrip(app) {
            Ok(_) => {
                if app.failed {
                    bail!("the compositor sent `failed` where a protocol error was expected");
                }
                if case == Hostile::PlaneIndex || case == Hostile::PlaneSet {
                    // Errors at `add` arrive with the round trip's reply.
                    continue;
                }
                bail!("the compositor accepted a malformed request ({case:?})");
            }
            Err(err) => {
                let Some(protocol) = conn.protocol_error() else {
                    return Err(err).context("the connection failed without a protocol error");
                };
                say(format_args!(
                    "error {} {}",
                    protocol.code, protocol.object_interface
                ));
                let expected = case.expected();
                if protocol.object_interface == "zwp_linux_buffer_params_v1"
                    && expected.iter().any(|e| *e as u32 == protocol.code)
                {
                    return Ok(());
                }
                bail!(
                    "expected {expected:?} on zwp_linux_buffer_params_v1, got {} on {}: {}",
                    protocol.code,
                    protocol.object_interface,
                    protocol.message
                );
            }
        }
    }
}
