//! Buffer producers for clients and tests.
//!
//! Each allocator hands out raw dma-buf fds plus the layout numbers the
//! producer chose; turning them into validated [`crate::dmabuf`] buffers is the
//! caller's business, or [`DmabufAllocator::allocate`]'s: it lays out a
//! format (or lets the driver do it) and validates the result as a client's
//! buffer would be.
//!
//! * [`Udmabuf`]: `/dev/udmabuf`, dma-bufs over sealed memfds (plain memory).
//! * [`DmaHeap`]: `/dev/dma_heap/<name>`, e.g. the `system` heap.
//! * [`Vgem`]: the virtual GEM driver: dumb buffers, and fences that a test
//!   attaches to a buffer and signals when it chooses.
//! * [`GbmDevice`]: GBM on a DRM node, for buffers laid out by a real driver.
//! * [`Timeline`]: a DRM timeline syncobj, the explicit fence of
//!   linux-drm-syncobj-v1.
//! * [`ShmFile`]: a sealed memfd mapped shared, the memory of a client's
//!   `wl_shm` pool.
//!
//! A device node that does not exist is [`AllocError::NotPresent`] (or
//! [`AllocError::NoVgem`]), so callers can tell "this machine has no such
//! device" from a failure.

mod gbm;
mod heap;
mod image;
mod node;
mod shm;
#[expect(unsafe_code, reason = "udmabuf, dma-heap and vgem fence ioctls")]
mod sys;
mod timeline;
mod udmabuf;
mod vgem;

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

pub use self::gbm::{GbmBuffer, GbmDevice, GbmPlane};
pub use heap::DmaHeap;
pub use image::{
    DmabufAllocator, LINEAR_PITCH_ALIGN, LinearLayout, MAX_DIMENSION, PLANE_OFFSET_ALIGN, PlaneSpan,
};
pub use node::{DRI_DIR, DrmNode, NodeKind, drm_nodes};
pub use shm::ShmFile;
pub use timeline::Timeline;
pub use udmabuf::Udmabuf;
pub use vgem::{FenceAccess, GemHandle, Vgem, VgemBuffer, VgemFence};

/// Errors of the allocators.
#[derive(Debug, thiserror::Error)]
pub enum AllocError {
    /// The device node does not exist (`ENOENT` on open): the kernel lacks the
    /// driver (`CONFIG_UDMABUF`, `CONFIG_DMABUF_HEAPS_SYSTEM`, a DRM driver) or
    /// the node was never created.
    #[error("{} does not exist", path.display())]
    NotPresent {
        /// The node that was opened.
        path: PathBuf,
    },
    /// No DRM node under `/dev/dri` is driven by vgem, or none of them could be
    /// opened: the `vgem` module is not loaded (`modprobe vgem`).
    #[error("no accessible DRM node is driven by vgem (is the vgem module loaded?)")]
    NoVgem,
    /// Opening a device node failed for another reason than its absence:
    /// `EACCES` without permission, `ENXIO`/`ENODEV` when the driver is gone.
    #[error("opening {}", path.display())]
    Open {
        /// The node that was opened.
        path: PathBuf,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// The requested size is zero, or overflows when rounded up to whole pages.
    #[error("invalid buffer size {size}")]
    InvalidSize {
        /// The size asked for, in bytes.
        size: u64,
    },
    /// A dma-heap name that is empty or is not a single path component.
    #[error("invalid dma-heap name {name:?}")]
    InvalidHeapName {
        /// The name asked for.
        name: String,
    },
    /// Preparing a sealed memfd (behind a udmabuf, or a [`ShmFile`]) failed:
    /// `memfd_create` (`EMFILE`, `ENOMEM`), `ftruncate` (`EFBIG`, `ENOSPC`),
    /// adding `F_SEAL_SHRINK`, or mapping it (`mmap`).
    #[error("preparing a sealed memfd: {step}")]
    Memfd {
        /// The call that failed.
        step: &'static str,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// `UDMABUF_CREATE` refused: `EINVAL` when the size exceeds the module's
    /// `size_limit_mb` (64 MiB by default) or the memfd is not sealed against
    /// shrinking, `ENOMEM` when pinning the pages failed.
    #[error("UDMABUF_CREATE")]
    Udmabuf(#[source] Errno),
    /// `DMA_HEAP_IOCTL_ALLOC` failed: `ENOMEM` when the heap is out of memory,
    /// `EINVAL` for a size or flags the heap refuses.
    #[error("allocating from dma-heap {heap}")]
    Heap {
        /// The heap's name.
        heap: String,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// A DRM ioctl made through the `drm` crate failed; `op` names it
    /// (e.g. `EACCES` from `DRM_IOCTL_MODE_CREATE_DUMB` on a render node).
    #[error("DRM {op}")]
    Drm {
        /// The DRM operation.
        op: &'static str,
        /// The error the `drm` crate returned.
        #[source]
        source: io::Error,
    },
    /// `DRM_IOCTL_VGEM_FENCE_ATTACH` answered `EBUSY`: the buffer already
    /// carries an unsignalled fence that conflicts (a write fence needs every
    /// earlier fence signalled, a read fence needs the write fence signalled).
    #[error("the buffer has an unsignalled conflicting fence")]
    FenceConflict,
    /// `DRM_IOCTL_VGEM_FENCE_SIGNAL` answered `ENOENT`: the fence was already
    /// signalled through this call (or never existed in this vgem file).
    #[error("vgem fence {fence} is unknown or already signalled")]
    FenceNotFound {
        /// The fence's id.
        fence: u32,
    },
    /// `DRM_IOCTL_VGEM_FENCE_SIGNAL` answered `ETIMEDOUT`: the kernel had
    /// already signalled the fence itself after its ~10 s timeout.
    #[error("vgem fence {fence} had already timed out")]
    FenceTimedOut {
        /// The fence's id.
        fence: u32,
    },
    /// Another vgem fence ioctl error (`ENOMEM`, `EINVAL`).
    #[error("{op}")]
    VgemFence {
        /// The ioctl that failed.
        op: &'static str,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// A GEM object or fence from one [`Vgem`] was handed to another: GEM
    /// handles and fence ids only mean something in the file that made them.
    #[error("the object belongs to a different vgem device file")]
    WrongDevice,
    /// The width or height is zero or larger than [`MAX_DIMENSION`].
    #[error("invalid buffer dimensions {width}x{height}")]
    InvalidDimensions {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The allocator cannot lay out this format: it is not in the format
    /// table, or it has several planes and the allocator (vgem's dumb
    /// buffers) makes only one.
    #[error("cannot allocate format {format}")]
    UnsupportedFormat {
        /// The format asked for.
        format: drm_fourcc::DrmFourcc,
    },
    /// Duplicating a plane's fd failed (`EMFILE`).
    #[error("duplicating a dma-buf fd")]
    Dup(#[source] io::Error),
    /// The allocated buffer failed the checks a client's buffer meets: the
    /// allocator and the validation disagree, a bug in one of them.
    #[error("the allocated buffer failed validation")]
    Params(#[from] crate::dmabuf::ParamsError),
    /// A GBM call failed; `op` names it (`gbm_create_device` on a node
    /// without a GBM backend, `gbm_bo_create` for an unsupported format or
    /// modifier list).
    #[error("GBM {op}")]
    Gbm {
        /// The GBM call.
        op: &'static str,
        /// The error the `gbm` crate returned.
        #[source]
        source: io::Error,
    },
    /// GBM could not export plane `plane` of a buffer object as a dma-buf
    /// (`gbm_bo_get_fd_for_plane` returned -1).
    #[error("GBM could not export plane {plane} as a dma-buf")]
    GbmExport {
        /// The plane's index.
        plane: u32,
    },
}

/// Opens a device node read-write and close-on-exec; `ENOENT` is
/// [`AllocError::NotPresent`].
fn open_node(path: &Path) -> Result<OwnedFd, AllocError> {
    rustix::fs::open(path, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|errno| {
        match errno {
            Errno::NOENT => AllocError::NotPresent {
                path: path.to_owned(),
            },
            errno => AllocError::Open {
                path: path.to_owned(),
                errno,
            },
        }
    })
}

/// A new memfd named `name` of `size` bytes, zero-filled, sealed against
/// shrinking (`F_SEAL_SHRINK`): no page of it can disappear under a mapping
/// or an importer.
fn sealed_memfd(name: &str, size: u64) -> Result<OwnedFd, AllocError> {
    use rustix::fs::{MemfdFlags, SealFlags, fcntl_add_seals, ftruncate, memfd_create};
    let memfd =
        memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).map_err(|errno| {
            AllocError::Memfd {
                step: "memfd_create",
                errno,
            }
        })?;
    ftruncate(&memfd, size).map_err(|errno| AllocError::Memfd {
        step: "ftruncate",
        errno,
    })?;
    fcntl_add_seals(&memfd, SealFlags::SHRINK).map_err(|errno| AllocError::Memfd {
        step: "F_ADD_SEALS",
        errno,
    })?;
    Ok(memfd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_node_is_not_present() {
        let path = Path::new("/dev/dmabridge-no-such-node");
        assert!(matches!(open_node(path), Err(AllocError::NotPresent { path: p }) if p == path));
    }

    #[test]
    fn other_open_failures_carry_the_errno() {
        // A directory cannot be opened read-write.
        let err = open_node(Path::new("/")).unwrap_err();
        assert!(
            matches!(
                err,
                AllocError::Open {
                    errno: Errno::ISDIR,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
