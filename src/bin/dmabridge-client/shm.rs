//! `wl_shm` buffers: the pixels copied into a memfd shared as a pool.

use std::os::fd::AsFd;

use anyhow::bail;
use rustix::fs::{MemfdFlags, memfd_create};
use wayland_client::QueueHandle;
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
};

use crate::app::App;

/// A `wl_shm` buffer holding `pixels` (ARGB8888, tightly packed).
pub(crate) fn shm_buffer(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    w: u32,
    h: u32,
    pixels: &[u32],
) -> anyhow::Result<WlBuffer> {
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    let fd = memfd_create("dmabridge-client", MemfdFlags::CLOEXEC)?;
    rustix::fs::ftruncate(&fd, bytes.len() as u64)?;
    let written = rustix::io::pwrite(&fd, &bytes, 0)?;
    if written != bytes.len() {
        bail!("short write to the shm pool");
    }
    let pool: WlShmPool = shm.create_pool(fd.as_fd(), bytes.len() as i32, qh, ());
    let buffer = pool.create_buffer(
        0,
        w as i32,
        h as i32,
        (w * 4) as i32,
        wl_shm::Format::Argb8888,
        qh,
        (),
    );
    pool.destroy();
    Ok(buffer)
}
