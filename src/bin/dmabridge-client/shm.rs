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
    let (_, buffer) = shm_image(shm, qh, (0, w, h, w * 4), format, &bytes)?;
    Ok(buffer)
}

/// The Y, Cb and Cr samples of every pixel of `--format nv12`'s buffer:
/// an orange that no other picture of this client shows.
pub(crate) const NV12_SAMPLES: [u8; 3] = [0x90, 0x50, 0xb0];

/// An NV12 `wl_shm` buffer of `width`×`height` (even), every pixel
/// [`NV12_SAMPLES`]: its Y plane, then its CbCr plane, rows tightly packed
/// (`width` bytes).
pub(crate) fn nv12_buffer(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    (w, h): (u32, u32),
) -> anyhow::Result<WlBuffer> {
    let [y, cb, cr] = NV12_SAMPLES;
    let mut bytes = vec![y; (w * h) as usize];
    bytes.extend([cb, cr].repeat((w / 2 * h / 2) as usize));
    let (_, buffer) = shm_image(shm, qh, (0, w, h, w), wl_shm::Format::Nv12, &bytes)?;
    Ok(buffer)
}

/// A `wl_shm` buffer of `format`, `(offset, width, height, stride)`, over
/// a new memfd holding `bytes` (the whole pool: the buffer's planes from
/// `offset` on, rows `stride` apart), and that memfd, for a client that
/// reads or rewrites the pixels later.
pub(crate) fn shm_image(
    shm: &WlShm,
    qh: &QueueHandle<App>,
    (offset, w, h, stride): (u32, u32, u32, u32),
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
    let buffer = pool.create_buffer(
        offset as i32,
        w as i32,
        h as i32,
        stride as i32,
        format,
        qh,
        (),
    );
    pool.destroy();
    Ok((fd, buffer))
}
