//! A client's validated dma-buf: its planes, its fds and its ownership state.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use drm_fourcc::{DrmFourcc, DrmModifier};

use super::access::{Access, AccessError, CpuAccess, CpuMapping};
use super::ownership::{Ownership, OwnershipError, OwnershipOp, OwnershipState};
use super::params::DmabufFlags;

/// One plane of a [`Dmabuf`]: an fd and where the plane's bytes lie in it.
#[derive(Debug)]
pub struct Plane {
    pub(super) fd: OwnedFd,
    pub(super) offset: u32,
    pub(super) stride: u32,
    /// Index into [`Dmabuf::backings`] of the buffer this fd refers to.
    pub(super) backing: usize,
    /// `offset` as a byte index.
    pub(super) start: usize,
    /// `stride × plane height`: the plane's bytes from `start`.
    pub(super) len: usize,
}

impl Plane {
    /// The plane's fd. Pass a dup to anything that takes ownership (lavapipe
    /// closes an imported fd even when the import fails).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Byte offset of the plane's first row in the buffer.
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// Bytes from one row of the plane to the next.
    pub fn stride(&self) -> u32 {
        self.stride
    }

    /// Which of [`Dmabuf::buffers`] the plane lies in.
    pub(crate) fn buffer_index(&self) -> usize {
        self.backing
    }

    /// The byte after the plane's last row: `offset + stride × rows`.
    pub(crate) fn end(&self) -> u64 {
        // Validation bounded it by MAX_PLANE_END, a u32.
        (self.start + self.len) as u64
    }
}

/// One distinct buffer (inode) behind a [`Dmabuf`]'s planes. Planes that
/// share a buffer, through the same fd number sent twice or a dup, share a
/// backing: it is mapped and synced once.
#[derive(Debug)]
pub(super) struct Backing {
    /// The first plane whose fd refers to this buffer; its fd maps and syncs it.
    pub(super) plane: usize,
    /// The buffer's size (`lseek(fd, 0, SEEK_END)`), the length of its mapping.
    pub(super) size: usize,
}

/// A dma-buf whose planes passed every check of `zwp_linux_buffer_params_v1`
/// ([`DmabufParams::create`](super::DmabufParams::create)), with its
/// ownership state machine.
///
/// Starts [`OwnershipState::UnownedUnmapped`] and must be back there when
/// dropped: every [`Dmabuf::map_device`] needs its
/// [`Dmabuf::unmap_device`] first. Dropping unmaps the cached CPU mapping.
#[derive(Debug)]
pub struct Dmabuf {
    /// The CPU mapping, made by the first [`Dmabuf::begin_cpu_access`] and
    /// kept until drop: map/unmap pairs are frequent (reference 003).
    pub(super) cpu: Option<CpuMapping>,
    pub(super) planes: Vec<Plane>,
    pub(super) backings: Vec<Backing>,
    pub(super) ownership: Ownership,
    format: DrmFourcc,
    modifier: u64,
    width: u32,
    height: u32,
    flags: DmabufFlags,
}

impl Dmabuf {
    /// A buffer from checked parts, un-owned and un-mapped.
    pub(super) fn new(
        format: DrmFourcc,
        modifier: u64,
        width: u32,
        height: u32,
        flags: DmabufFlags,
        planes: Vec<Plane>,
        backings: Vec<Backing>,
    ) -> Self {
        Self {
            cpu: None,
            planes,
            backings,
            ownership: Ownership::new(),
            format,
            modifier,
            width,
            height,
            flags,
        }
    }

    /// The pixel format.
    pub fn format(&self) -> DrmFourcc {
        self.format
    }

    /// The format modifier, the same for every plane.
    pub fn modifier(&self) -> DrmModifier {
        DrmModifier::from(self.modifier)
    }

    /// Width in pixels, at least 1.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels, at least 1.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The client's flags.
    pub fn flags(&self) -> DmabufFlags {
        self.flags
    }

    /// The planes, in plane-index order; as many as the format has.
    pub fn planes(&self) -> &[Plane] {
        &self.planes
    }

    /// The distinct buffers (inodes) behind the planes, in order of first
    /// use: an fd of each and its size (`lseek(SEEK_END)` at validation).
    pub(crate) fn buffers(&self) -> impl Iterator<Item = (BorrowedFd<'_>, u64)> {
        self.backings
            .iter()
            .map(|b| (self.planes[b.plane].fd(), b.size as u64))
    }

    /// Whether the planes lie in more than one buffer (different inodes by
    /// `fstat` `st_dev`/`st_ino`). Vulkan imports such a buffer with
    /// `VK_IMAGE_CREATE_DISJOINT_BIT`.
    pub fn is_disjoint(&self) -> bool {
        self.backings.len() > 1
    }

    /// Where the buffer stands in the ownership state machine.
    pub fn ownership(&self) -> OwnershipState {
        self.ownership.state()
    }

    /// Takes the buffer for CPU access: maps it (the first time), issues
    /// `DMA_BUF_IOCTL_SYNC` START on each distinct buffer, and returns the
    /// guard whose drop issues END. See [`CpuAccess`].
    pub fn begin_cpu_access(&mut self, access: Access) -> Result<CpuAccess<'_>, AccessError> {
        CpuAccess::begin(self, access)
    }

    /// Maps the buffer for the CPU, as [`begin_cpu_access`](Self::begin_cpu_access)
    /// does the first time, without touching its bytes or waiting for its
    /// fences: whether the CPU can read it is then known before any
    /// access.
    pub fn map_cpu(&mut self) -> Result<(), AccessError> {
        CpuMapping::ensure(
            &mut self.cpu,
            &self.planes,
            &self.backings,
            &mut self.ownership,
        )
        .map(|_| ())
    }

    /// Records that a device mapped the buffer (`map_dma_buf`): the Vulkan
    /// layer calls it when it imports the planes. Counted: each call needs
    /// its [`Dmabuf::unmap_device`].
    pub fn map_device(&mut self) -> Result<(), OwnershipError> {
        self.ownership.apply(OwnershipOp::MapDevice)
    }

    /// Records that a device dropped a mapping (`unmap_dma_buf`): the Vulkan
    /// layer calls it when it frees an import. Refused when no device
    /// mapping is counted.
    pub fn unmap_device(&mut self) -> Result<(), OwnershipError> {
        self.ownership.apply(OwnershipOp::UnmapDevice)
    }
}

impl Drop for Dmabuf {
    fn drop(&mut self) {
        if self.cpu.take().is_some()
            && let Err(err) = self.ownership.apply(OwnershipOp::UnmapCpu)
        {
            tracing::error!(%err, "dma-buf CPU mapping released out of order");
        }
        let state = self.ownership.state();
        if state != OwnershipState::UnownedUnmapped {
            tracing::error!(
                %state,
                device_maps = self.ownership.device_maps(),
                fourcc = %self.format,
                "dma-buf released while still mapped: a map_device without unmap_device"
            );
        }
        debug_assert!(
            state == OwnershipState::UnownedUnmapped || std::thread::panicking(),
            "dma-buf released in state {state}, not Un-Owned Un-Mapped"
        );
    }
}
