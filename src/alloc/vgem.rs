//! [`Vgem`]: the virtual GEM driver, for dumb dma-bufs and controllable fences.
//!
//! vgem (`drivers/gpu/drm/vgem`, `modprobe vgem`) drives no hardware. Tests
//! use it as the one fence producer they control: attach a fence to a
//! buffer, watch everything that waits on the buffer stay pending, signal the
//! fence when the test decides.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use drm::buffer::{Buffer as _, DrmFourcc, Handle};
use drm::control::Device as _;
use rustix::fs::SeekFrom;
use rustix::io::Errno;
use tracing::{debug, error};

use super::node::{Card, drm_nodes};
use super::{AllocError, sys};

/// A vgem DRM node.
#[derive(Debug)]
pub struct Vgem {
    card: Arc<Card>,
    path: PathBuf,
}

/// Which access a vgem fence stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FenceAccess {
    /// A read fence: later writers wait for it, readers do not.
    Read,
    /// A write fence (`VGEM_FENCE_WRITE`): every later user waits for it.
    Write,
}

/// A GEM object in a [`Vgem`] file: a dumb buffer or an imported dma-buf.
/// Dropping it closes the handle (`DRM_IOCTL_GEM_CLOSE`); the memory lives on
/// while any dma-buf fd refers to it.
#[derive(Debug)]
pub struct GemHandle {
    handle: Handle,
    card: Arc<Card>,
}

impl GemHandle {
    /// The handle's number in its vgem file.
    pub fn raw(&self) -> u32 {
        self.handle.into()
    }
}

impl AsRef<GemHandle> for GemHandle {
    fn as_ref(&self) -> &GemHandle {
        self
    }
}

impl Drop for GemHandle {
    fn drop(&mut self) {
        if let Err(err) = self.card.close_buffer(self.handle) {
            error!(?err, handle = self.raw(), "closing a vgem GEM handle");
        }
    }
}

/// A vgem dumb buffer: its dma-buf and its layout.
#[derive(Debug)]
pub struct VgemBuffer {
    dmabuf: OwnedFd,
    gem: GemHandle,
    width: u32,
    height: u32,
    format: DrmFourcc,
    stride: u32,
    size: u64,
}

impl VgemBuffer {
    /// The buffer's dma-buf.
    pub fn dmabuf(&self) -> BorrowedFd<'_> {
        self.dmabuf.as_fd()
    }

    /// Gives up the GEM handle and keeps the dma-buf, which holds the memory.
    pub fn into_dmabuf(self) -> OwnedFd {
        self.dmabuf
    }

    /// The GEM object, for [`Vgem::attach_fence`].
    pub fn gem(&self) -> &GemHandle {
        &self.gem
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The format the buffer was created for (dumb buffers only know `bpp`).
    pub fn format(&self) -> DrmFourcc {
        self.format
    }

    /// Bytes per row, as the driver chose it.
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// The buffer's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl AsRef<GemHandle> for VgemBuffer {
    fn as_ref(&self) -> &GemHandle {
        &self.gem
    }
}

/// A fence attached by [`Vgem::attach_fence`], pending until
/// [`Vgem::signal`].
///
/// An unsignalled vgem fence does not block forever: the kernel signals it
/// itself about 10 s after it was attached (`VGEM_FENCE_TIMEOUT`), and when
/// the vgem file is closed. A clone names the same fence; signalling it a
/// second time is [`AllocError::FenceNotFound`].
#[must_use = "a vgem fence keeps its buffer busy until signalled (or the kernel's ~10 s timeout)"]
#[derive(Debug, Clone)]
pub struct VgemFence {
    id: u32,
    card: Arc<Card>,
}

impl VgemFence {
    /// The fence's id in its vgem file.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Vgem {
    /// Finds and opens the vgem DRM node: the first of `/dev/dri/card*`, then
    /// `/dev/dri/renderD*`, whose driver is named `vgem`. Primary (`card`)
    /// nodes come first because `DRM_IOCTL_MODE_CREATE_DUMB` is refused on
    /// render nodes. Nodes that cannot be opened are skipped (logged at
    /// `debug`).
    pub fn open() -> Result<Self, AllocError> {
        let node = drm_nodes()
            .into_iter()
            .find(|node| node.driver == "vgem")
            .ok_or(AllocError::NoVgem)?;
        debug!(path = %node.path.display(), "found vgem");
        Ok(Self {
            card: Arc::new(node.open()?),
            path: node.path,
        })
    }

    /// The node that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new dumb buffer of `width` × `height` pixels of `bpp` bits, exported
    /// as a dma-buf (`DRM_CLOEXEC | DRM_RDWR`). `format` is recorded, not
    /// interpreted: dumb buffers only know `bpp`.
    pub fn alloc(
        &self,
        width: u32,
        height: u32,
        format: DrmFourcc,
        bpp: u32,
    ) -> Result<VgemBuffer, AllocError> {
        let dumb = self
            .card
            .create_dumb_buffer((width, height), format, bpp)
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_MODE_CREATE_DUMB",
                source,
            })?;
        let gem = GemHandle {
            handle: dumb.handle(),
            card: Arc::clone(&self.card),
        };
        let dmabuf = self
            .card
            .buffer_to_prime_fd(gem.handle, drm::CLOEXEC | drm::RDWR)
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_PRIME_HANDLE_TO_FD",
                source,
            })?;
        let size = dmabuf_size(dmabuf.as_fd()).map_err(|errno| AllocError::Drm {
            op: "lseek on the dma-buf",
            source: errno.into(),
        })?;
        let (width, height) = dumb.size();
        Ok(VgemBuffer {
            dmabuf,
            gem,
            width,
            height,
            format,
            stride: dumb.pitch(),
            size,
        })
    }

    /// Imports a foreign dma-buf (a udmabuf, a heap buffer) as a GEM object,
    /// so that [`attach_fence`](Self::attach_fence) can put vgem fences on it.
    pub fn import_prime_fd(&self, dmabuf: BorrowedFd<'_>) -> Result<GemHandle, AllocError> {
        let handle = self
            .card
            .prime_fd_to_buffer(dmabuf)
            .map_err(|source| AllocError::Drm {
                op: "DRM_IOCTL_PRIME_FD_TO_HANDLE",
                source,
            })?;
        Ok(GemHandle {
            handle,
            card: Arc::clone(&self.card),
        })
    }

    /// Attaches a new unsignalled fence to `object`'s reservation object
    /// (`DRM_IOCTL_VGEM_FENCE_ATTACH`), as a write fence for
    /// [`FenceAccess::Write`]. Until [`signal`](Self::signal), `poll()` on the
    /// buffer's dma-buf and sync_files exported from it stay pending.
    pub fn attach_fence(
        &self,
        object: &impl AsRef<GemHandle>,
        access: FenceAccess,
    ) -> Result<VgemFence, AllocError> {
        let gem = object.as_ref();
        if !Arc::ptr_eq(&gem.card, &self.card) {
            return Err(AllocError::WrongDevice);
        }
        let flags = match access {
            FenceAccess::Read => 0,
            FenceAccess::Write => sys::VGEM_FENCE_WRITE,
        };
        match sys::vgem_fence_attach(self.card.as_fd(), gem.raw(), flags) {
            Ok(id) => Ok(VgemFence {
                id,
                card: Arc::clone(&self.card),
            }),
            Err(Errno::BUSY) => Err(AllocError::FenceConflict),
            Err(errno) => Err(AllocError::VgemFence {
                op: "DRM_IOCTL_VGEM_FENCE_ATTACH",
                errno,
            }),
        }
    }

    /// Signals `fence` (`DRM_IOCTL_VGEM_FENCE_SIGNAL`).
    ///
    /// [`AllocError::FenceNotFound`] if it was signalled before (through a
    /// clone), [`AllocError::FenceTimedOut`] if the kernel's timeout got there
    /// first.
    pub fn signal(&self, fence: VgemFence) -> Result<(), AllocError> {
        if !Arc::ptr_eq(&fence.card, &self.card) {
            return Err(AllocError::WrongDevice);
        }
        match sys::vgem_fence_signal(self.card.as_fd(), fence.id) {
            Ok(()) => Ok(()),
            Err(Errno::NOENT) => Err(AllocError::FenceNotFound { fence: fence.id }),
            Err(Errno::TIMEDOUT) => Err(AllocError::FenceTimedOut { fence: fence.id }),
            Err(errno) => Err(AllocError::VgemFence {
                op: "DRM_IOCTL_VGEM_FENCE_SIGNAL",
                errno,
            }),
        }
    }
}

/// A dma-buf's size: `lseek(SEEK_END)`, the one seek dma-bufs support besides
/// rewinding, which follows so the fd is left as it came.
fn dmabuf_size(dmabuf: BorrowedFd<'_>) -> Result<u64, Errno> {
    let size = rustix::fs::seek(dmabuf, SeekFrom::End(0))?;
    rustix::fs::seek(dmabuf, SeekFrom::Start(0))?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::DRI_DIR;

    /// The build host has no DRM at all; where vgem is loaded it opens.
    #[test]
    fn open_matches_the_machine() {
        match Vgem::open() {
            Ok(vgem) => assert!(vgem.path().starts_with(DRI_DIR)),
            Err(AllocError::NoVgem) => {}
            Err(err) => panic!("unexpected error: {err:?}"),
        }
    }
}
