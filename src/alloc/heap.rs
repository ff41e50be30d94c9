//! [`DmaHeap`]: dma-bufs from the kernel's dma-heaps (`/dev/dma_heap/<name>`).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

use super::{AllocError, open_node, sys};

/// The directory of the dma-heap nodes.
const DIR: &str = "/dev/dma_heap";

/// An open dma-heap, e.g. `system` (`CONFIG_DMABUF_HEAPS_SYSTEM`).
#[derive(Debug)]
pub struct DmaHeap {
    fd: OwnedFd,
    name: String,
}

impl DmaHeap {
    /// Opens the `system` heap: page-backed, not physically contiguous.
    pub fn open_system() -> Result<Self, AllocError> {
        Self::open("system")
    }

    /// Opens `/dev/dma_heap/<name>`; [`AllocError::NotPresent`] if the kernel
    /// has no such heap.
    pub fn open(name: &str) -> Result<Self, AllocError> {
        let fd = open_node(&heap_path(name)?)?;
        Ok(Self {
            fd,
            name: name.to_owned(),
        })
    }

    /// The heap's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new dma-buf of at least `size` bytes (heaps round up to whole pages),
    /// opened `O_RDWR | O_CLOEXEC` (`DMA_HEAP_IOCTL_ALLOC`).
    pub fn alloc(&self, size: u64) -> Result<OwnedFd, AllocError> {
        if size == 0 {
            return Err(AllocError::InvalidSize { size });
        }
        let fd_flags = (OFlags::RDWR | OFlags::CLOEXEC).bits();
        sys::dma_heap_alloc(self.fd.as_fd(), size, fd_flags).map_err(|errno| AllocError::Heap {
            heap: self.name.clone(),
            errno,
        })
    }
}

/// The node of heap `name`; a name that is not one plain path component is
/// refused rather than resolved somewhere else.
fn heap_path(name: &str) -> Result<PathBuf, AllocError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(AllocError::InvalidHeapName {
            name: name.to_owned(),
        });
    }
    Ok(Path::new(DIR).join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_names_are_single_components() {
        assert_eq!(
            heap_path("system").unwrap(),
            Path::new("/dev/dma_heap/system")
        );
        for bad in ["", ".", "..", "../udmabuf", "a/b", "nul\0"] {
            assert!(
                matches!(heap_path(bad), Err(AllocError::InvalidHeapName { .. })),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn open_reports_a_missing_heap() {
        let name = "dmabridge-no-such-heap";
        let err = DmaHeap::open(name).unwrap_err();
        assert!(
            matches!(&err, AllocError::NotPresent { path } if path.ends_with(name)),
            "{err:?}"
        );
    }

    /// The build host has no dma-heaps; where the system heap exists it opens.
    #[test]
    fn open_system_matches_the_machine() {
        let path = Path::new("/dev/dma_heap/system");
        match DmaHeap::open_system() {
            Ok(heap) => assert_eq!(heap.name(), "system"),
            Err(AllocError::NotPresent { path: missing }) => {
                assert_eq!(missing, path);
                assert!(!path.exists());
            }
            Err(err) => panic!("unexpected error: {err:?}"),
        }
    }
}
