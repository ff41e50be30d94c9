//! [`Udmabuf`]: dma-bufs over memfd pages through `/dev/udmabuf`.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use super::{AllocError, open_node, sealed_memfd, sys};

/// The udmabuf device node.
const PATH: &str = "/dev/udmabuf";

/// `/dev/udmabuf`: turns sealed memfds into dma-bufs of plain system memory.
#[derive(Debug)]
pub struct Udmabuf {
    fd: OwnedFd,
}

impl Udmabuf {
    /// Opens `/dev/udmabuf`; [`AllocError::NotPresent`] on a kernel without
    /// `CONFIG_UDMABUF`.
    pub fn open() -> Result<Self, AllocError> {
        Ok(Self {
            fd: open_node(Path::new(PATH))?,
        })
    }

    /// A new dma-buf of `size` bytes rounded up to whole pages, zero-filled.
    ///
    /// The memory is a memfd created with `MFD_ALLOW_SEALING`, truncated to
    /// the rounded size and sealed with `F_SEAL_SHRINK` (udmabuf refuses an
    /// unsealed memfd with `EINVAL`); the memfd itself is closed before
    /// returning, the dma-buf keeps the pages. The kernel caps a udmabuf at
    /// the module's `size_limit_mb` (64 MiB by default).
    pub fn alloc(&self, size: u64) -> Result<OwnedFd, AllocError> {
        self.alloc_with_memfd(size).map(|(dmabuf, _memfd)| dmabuf)
    }

    /// Like [`alloc`](Self::alloc), and also returns the memfd behind the
    /// dma-buf (the dma-buf first). Writes through the memfd reach the
    /// dma-buf's pages without its CPU-access bracket and without waiting
    /// for its fences: what a device that writes the buffer does. Tests play
    /// such a producer with it.
    pub fn alloc_with_memfd(&self, size: u64) -> Result<(OwnedFd, OwnedFd), AllocError> {
        let size = page_rounded(size)?;
        let memfd = sealed_memfd("dmabridge-udmabuf", size)?;
        let dmabuf = sys::udmabuf_create(self.fd.as_fd(), memfd.as_fd(), 0, size)
            .map_err(AllocError::Udmabuf)?;
        Ok((dmabuf, memfd))
    }
}

/// `size` rounded up to the page size; zero and overflow are refused.
fn page_rounded(size: u64) -> Result<u64, AllocError> {
    let page = rustix::param::page_size() as u64;
    match size.checked_next_multiple_of(page) {
        Some(rounded) if size > 0 => Ok(rounded),
        _ => Err(AllocError::InvalidSize { size }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_pages() {
        let page = rustix::param::page_size() as u64;
        assert_eq!(page_rounded(1).unwrap(), page);
        assert_eq!(page_rounded(page).unwrap(), page);
        assert_eq!(page_rounded(page + 1).unwrap(), 2 * page);
        assert!(matches!(
            page_rounded(0),
            Err(AllocError::InvalidSize { size: 0 })
        ));
        assert!(matches!(
            page_rounded(u64::MAX),
            Err(AllocError::InvalidSize { .. })
        ));
    }

    /// On a machine without udmabuf (the build host) `open` says so with its
    /// own variant; where udmabuf exists it opens.
    #[test]
    fn open_reports_a_missing_device() {
        match Udmabuf::open() {
            Ok(_) => assert!(Path::new(PATH).exists()),
            Err(AllocError::NotPresent { path }) => {
                assert_eq!(path, Path::new(PATH));
                assert!(!Path::new(PATH).exists());
            }
            Err(err) => panic!("unexpected error: {err:?}"),
        }
    }
}
