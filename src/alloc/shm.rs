//! [`ShmFile`]: memory for a `wl_shm` pool, as a client makes it.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::{AllocError, sealed_memfd};
use crate::dmabuf::Mapping;

/// A memfd sealed against shrinking and mapped shared: the memory a client
/// hands a compositor through `wl_shm.create_pool`, and reads or writes in
/// place. The seal means no page of the mapping can vanish (no SIGBUS);
/// the compositor may write the pages while a slice is held, which the
/// protocols order (a capture's `ready`), and a compositor that breaks
/// that makes us read torn bytes, never memory we do not own.
///
/// Fields are in drop order: the mapping goes before the memfd.
#[derive(Debug)]
pub struct ShmFile {
    mapping: Mapping,
    memfd: OwnedFd,
}

impl ShmFile {
    /// A new zero-filled file of `len` bytes (at least 1), named `name`.
    pub fn new(name: &str, len: usize) -> Result<Self, AllocError> {
        if len == 0 {
            return Err(AllocError::InvalidSize { size: 0 });
        }
        let memfd = sealed_memfd(name, len as u64)?;
        let mapping = Mapping::new(memfd.as_fd(), len).map_err(|errno| AllocError::Memfd {
            step: "mmap",
            errno,
        })?;
        Ok(Self { mapping, memfd })
    }

    /// The memfd, for `wl_shm.create_pool`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.memfd.as_fd()
    }

    /// The bytes, as they are now.
    pub fn bytes(&self) -> &[u8] {
        self.mapping.bytes()
    }

    /// The bytes, to write.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.mapping
            .bytes_mut()
            .expect("a memfd of our own maps writable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_seen_through_the_memfd_and_the_file_cannot_shrink() {
        let mut file = ShmFile::new("dmabridge-test", 8192).unwrap();
        assert!(file.bytes().iter().all(|&b| b == 0));
        file.bytes_mut()[4097] = 7;
        let mut byte = [0];
        rustix::io::pread(file.fd(), &mut byte, 4097).unwrap();
        assert_eq!(byte, [7]);
        assert_eq!(
            rustix::fs::ftruncate(file.fd(), 4096),
            Err(rustix::io::Errno::PERM),
            "F_SEAL_SHRINK refuses a smaller size"
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(matches!(
            ShmFile::new("dmabridge-test", 0),
            Err(AllocError::InvalidSize { size: 0 })
        ));
    }
}
