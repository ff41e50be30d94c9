//! `wl_shm` buffers: the pixels copied into a memfd shared as a pool,
//! sealed against shrinking as toolkits seal theirs (Qt's and GLFW's
//! pools are), so a compositor may read it without guarding against a
//! truncation.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::bail;
use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, memfd_create};
use wayland_client::QueueHandle;
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
};

use crate::app::App;

/// A `wl_shm` buffer holding `pixels` (ARGB8888 words, tightly packed),
/// shared as `format` (XRGB8888 reads the same words as opaque).
pub(crate) fn shm_buffer(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    (w, h): (u32, u32),
    format: wl_shm::Format,
    pixels: &[u32],
) -> anyhow::Result<WlBuffer> {
    let bytes: Vec<u8> = pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    let (_, buffer) = shm_image(shm, qh, (w, h, w * 4), format, &bytes)?;
    Ok(buffer)
}

/// A `wl_shm` buffer of `format`, `(width, height, stride)`, over a new
/// memfd holding `bytes` (its rows, `stride` apart), and that memfd, for a
/// client that reads or rewrites the pixels later.
pub(crate) fn shm_image(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    (w, h, stride): (u32, u32, u32),
    format: wl_shm::Format,
    bytes: &[u8],
) -> anyhow::Result<(OwnedFd, WlBuffer)> {
    let fd = memfd_create(
        "dmabridge-client",
        MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
    )?;
    rustix::fs::ftruncate(&fd, bytes.len() as u64)?;
    fcntl_add_seals(&fd, SealFlags::SHRINK)?;
    let written = rustix::io::pwrite(&fd, bytes, 0)?;
    if written != bytes.len() {
        bail!("short write to the shm pool");
    }
    let pool: WlShmPool = shm.create_pool(fd.as_fd(), bytes.len() as i32, qh, ());
    let buffer = pool.create_buffer(0, w as i32, h as i32, stride as i32, format, qh, ());
    pool.destroy();
    Ok((fd, buffer))
}
