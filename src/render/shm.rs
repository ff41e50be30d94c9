//! The bytes of a client's `wl_shm` buffer, which smithay lends as a raw
//! pointer for the duration of a callback.

use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::wayland::shm::{
    BufferAccessError, BufferData, with_buffer_contents, with_buffer_contents_mut,
};

/// Calls `f` with the bytes of `buffer`'s whole pool and the buffer's
/// layout in it.
pub(super) fn with_shm_bytes<T>(
    buffer: &WlBuffer,
    f: impl FnOnce(&[u8], BufferData) -> T,
) -> Result<T, BufferAccessError> {
    with_buffer_contents(buffer, |ptr, len, data| {
        // SAFETY: smithay passes the pool's mapping, `len` bytes from `ptr`,
        // valid until the callback returns (a SIGBUS from a client that
        // shrank its file is caught by smithay's handler); the slice does
        // not escape `f`. The client may write the pool meanwhile, as with
        // any shared memory: the bytes are only copied, never trusted.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        f(bytes, data)
    })
}

/// Calls `f` with the writable bytes of `buffer`'s whole pool and the
/// buffer's layout in it: where a capture's pixels are written back.
pub(super) fn with_shm_bytes_mut<T>(
    buffer: &WlBuffer,
    f: impl FnOnce(&mut [u8], BufferData) -> T,
) -> Result<T, BufferAccessError> {
    with_buffer_contents_mut(buffer, |ptr, len, data| {
        // SAFETY: as in `with_shm_bytes`: smithay passes the pool's mapping,
        // `len` writable bytes from `ptr`, valid until the callback returns,
        // with its SIGBUS handler armed; the slice does not escape `f`. The
        // client may read or write its memory meanwhile, which the capture
        // protocols forbid until `ready` and which cannot harm this process.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        f(bytes, data)
    })
}
