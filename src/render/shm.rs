//! The bytes of a client's `wl_shm` buffer, which smithay lends as a raw
//! pointer for the duration of a callback.

use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::wayland::shm::{BufferAccessError, BufferData, with_buffer_contents};

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
