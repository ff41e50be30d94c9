//! `wl_shm`: smithay's implementation, behind checks of the compositor's
//! own.
//!
//! smithay 0.7 gets three things wrong that a client can reach, so each
//! request passes through here first:
//! * `wl_shm_pool.resize` to a size of 0 or less posts an error and then
//!   panics on that size; here it is refused as the spec says (a pool
//!   cannot shrink: `invalid_fd`, as libwayland does) before smithay sees
//!   it.
//! * `wl_shm_pool.create_buffer` with a format the compositor does not
//!   advertise is reported as `invalid_stride`, because the stride is
//!   checked against the format's pixel size first; here it gets
//!   `invalid_format`.
//! * Nothing limits how many pools a client holds, each a file descriptor
//!   and a mapping, nor their size; here
//!   [`ClientLimits`](super::limits::ClientLimits) counts both.
//!
//! `wl_shm` also offers NV12, which smithay knows only as a code. An NV12
//! buffer is laid out as weston and wlroots read multi-planar `wl_shm`
//! buffers: its Y plane at `offset`, `stride` bytes a row, then its plane
//! of interleaved Cb and Cr samples (half the columns, half the rows) at
//! `offset + stride × height`, with the same stride. smithay checks the Y
//! plane only (the patched `wl_bytes_per_pixel` gives NV12 the Y plane's
//! byte a pixel); [`check_nv12`] checks the rest before smithay sees the
//! request, with the error smithay gives a buffer that does not fit,
//! `invalid_stride`: an odd width or height (the CbCr plane's samples cover
//! two by two pixels), a stride narrower than the width, a negative offset,
//! and both planes not inside the pool. A buffer that reaches the renderer
//! has been through all of it.

use smithay::backend::renderer::ImportMem;
use smithay::reexports::wayland_server::protocol::{
    wl_buffer::WlBuffer,
    wl_shm::{self, WlShm},
    wl_shm_pool::{self, WlShmPool},
};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, Resource, WEnum, backend::ClientId,
};
use smithay::wayland::shm::{ShmBufferUserData, ShmPoolUserData, ShmState, fourcc_to_shm_format};

use super::limits::{self, Held};
use super::state::State;
use crate::render::VulkanRenderer;

/// The formats `wl_shm` advertises: every one the renderer reads from
/// memory ([`ImportMem::mem_formats`]), ARGB8888 and XRGB8888 (which every
/// compositor must offer) among them, and NV12, which the renderer and
/// buffer copies read from a pool through the copy engine
/// ([`VulkanRenderer::import_shm_bytes`], [`VulkanRenderer::import_buffer`]).
pub(crate) fn formats(renderer: &VulkanRenderer) -> Vec<wl_shm::Format> {
    renderer
        .mem_formats()
        .filter_map(fourcc_to_shm_format)
        .chain([wl_shm::Format::Nv12])
        .collect()
}

/// Why an NV12 `wl_shm_pool.create_buffer` does not fit its pool of
/// `pool_size` bytes (see the module documentation), or `None`.
fn check_nv12(
    pool_size: usize,
    (offset, width, height, stride): (i32, i32, i32, i32),
) -> Option<String> {
    if width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0 {
        return Some(format!(
            "an NV12 buffer needs an even width and height, not {width}x{height}"
        ));
    }
    if stride < width {
        return Some(format!("stride {stride} is narrower than width {width}"));
    }
    let end = i64::from(offset) + i64::from(stride) * (i64::from(height) + i64::from(height / 2));
    if offset < 0 || end > i64::try_from(pool_size).unwrap_or(i64::MAX) {
        return Some(format!(
            "the NV12 planes span bytes {offset}..{end}, past the pool's {pool_size}"
        ));
    }
    None
}

impl Dispatch<WlShm, ()> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        shm: &WlShm,
        request: wl_shm::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let wl_shm::Request::CreatePool { size, .. } = &request {
            // A size smithay refuses makes no pool, so nothing is counted.
            if let Ok(bytes) = usize::try_from(*size)
                && bytes > 0
                && !(limits::hold_or_disconnect(dh, client, Held::ShmPool)
                    && limits::hold_or_disconnect(dh, client, Held::ShmBytes(bytes)))
            {
                return;
            }
        }
        <ShmState as Dispatch<WlShm, (), Self>>::request(
            state, client, shm, request, data, dh, data_init,
        );
    }
}

impl Dispatch<WlShmPool, ShmPoolUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        pool: &WlShmPool,
        request: wl_shm_pool::Request,
        data: &ShmPoolUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        match &request {
            wl_shm_pool::Request::Resize { size } if *size <= 0 => {
                pool.post_error(
                    wl_shm::Error::InvalidFd,
                    format!("cannot shrink a wl_shm_pool to {size} bytes"),
                );
                return;
            }
            wl_shm_pool::Request::Resize { size } => {
                // Only growth counts (smithay refuses shrinking).
                let growth =
                    usize::try_from(*size).map_or(0, |new| new.saturating_sub(data.size()));
                if growth > 0 && !limits::hold_or_disconnect(dh, client, Held::ShmBytes(growth)) {
                    return;
                }
            }
            wl_shm_pool::Request::CreateBuffer {
                format,
                offset,
                width,
                height,
                stride,
                ..
            } => {
                let known = matches!(format, WEnum::Value(f) if state.shm_formats.contains(f));
                if !known {
                    pool.post_error(
                        wl_shm::Error::InvalidFormat,
                        format!("format {format:?} is not advertised"),
                    );
                    return;
                }
                let layout = (*offset, *width, *height, *stride);
                if *format == WEnum::Value(wl_shm::Format::Nv12)
                    && let Some(why) = check_nv12(data.size(), layout)
                {
                    pool.post_error(wl_shm::Error::InvalidStride, why);
                    return;
                }
            }
            _ => {}
        }
        <ShmState as Dispatch<WlShmPool, ShmPoolUserData, Self>>::request(
            state, client, pool, request, data, dh, data_init,
        );
    }

    fn destroyed(state: &mut Self, client: ClientId, pool: &WlShmPool, data: &ShmPoolUserData) {
        state.release_held(client.clone(), Held::ShmPool);
        state.release_held(client.clone(), Held::ShmBytes(data.size()));
        <ShmState as Dispatch<WlShmPool, ShmPoolUserData, Self>>::destroyed(
            state, client, pool, data,
        );
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [WlShm: ()] => ShmState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [WlBuffer: ShmBufferUserData] => ShmState);
