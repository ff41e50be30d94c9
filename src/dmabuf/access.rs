//! Bracketed CPU access to a dma-buf's bytes.
//!
//! The kernel's rule (`Documentation/driver-api/dma-buf.rst`, "CPU Access to
//! DMA Buffer Objects"): userspace brackets every access through a mapping
//! with `DMA_BUF_IOCTL_SYNC` START and END, naming the direction, so the
//! exporter can flush and invalidate caches. Here START is creating a
//! [`CpuAccess`], END is dropping it (also on unwind), and the byte slices
//! borrow from the guard, so no slice outlives the bracket and no END comes
//! without its START.

use rustix::io::Errno;

use super::buffer::{Backing, Dmabuf, Plane};
use super::ownership::{Ownership, OwnershipError, OwnershipOp, OwnershipState};
use super::sys::{self, Mapping, SyncFlags};

/// What the CPU will do with the bytes, passed to `DMA_BUF_IOCTL_SYNC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read only (`DMA_BUF_SYNC_READ`).
    Read,
    /// Write only (`DMA_BUF_SYNC_WRITE`): the exporter need not make the
    /// device's writes visible first, so bytes read meanwhile may be stale.
    Write,
    /// Read and write (`DMA_BUF_SYNC_RW`).
    ReadWrite,
}

impl Access {
    fn sync_flags(self) -> SyncFlags {
        match self {
            Self::Read => SyncFlags::READ,
            Self::Write => SyncFlags::WRITE,
            Self::ReadWrite => SyncFlags::READ | SyncFlags::WRITE,
        }
    }

    fn writes(self) -> bool {
        matches!(self, Self::Write | Self::ReadWrite)
    }
}

/// Why CPU access to a dma-buf was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// `mmap` of one of the buffers failed (ENOMEM, or an exporter that
    /// cannot be mapped: ENODEV/EINVAL).
    #[error("mapping the dma-buf failed")]
    Map(#[source] Errno),
    /// Write access was asked for, but a plane's fd was not opened for
    /// writing, so the buffer could only be mapped read-only.
    #[error("the dma-buf maps read-only: a plane's fd is not writable")]
    ReadOnly,
    /// [`CpuAccess::plane_mut`] on a guard begun with [`Access::Read`].
    #[error("CPU access was begun for reading only")]
    NotWritable,
    /// `DMA_BUF_IOCTL_SYNC` answered ENOTTY: the fd does not implement it.
    #[error("the fd does not support DMA_BUF_IOCTL_SYNC")]
    SyncUnsupported,
    /// `DMA_BUF_IOCTL_SYNC` START failed (EINTR, or the exporter's own
    /// error, e.g. EINVAL); no access was begun.
    #[error("DMA_BUF_IOCTL_SYNC START failed")]
    Sync(#[source] Errno),
    /// The ownership state machine refused the mapping or the access. A bug
    /// in this crate: the guard's borrow rules out every refused sequence.
    #[error(transparent)]
    Ownership(#[from] OwnershipError),
}

/// The error for a refused SYNC START.
fn sync_start_error(errno: Errno) -> AccessError {
    if errno == Errno::NOTTY {
        tracing::debug!("DMA_BUF_IOCTL_SYNC unsupported (ENOTTY)");
        AccessError::SyncUnsupported
    } else {
        AccessError::Sync(errno)
    }
}

/// The CPU mappings of a [`Dmabuf`]'s buffers, one per [`Backing`] and in
/// the same order: whole buffers, `MAP_SHARED`.
#[derive(Debug)]
pub(super) struct CpuMapping {
    maps: Vec<Mapping>,
}

impl CpuMapping {
    fn new(planes: &[Plane], backings: &[Backing]) -> Result<Self, AccessError> {
        let maps = backings
            .iter()
            .map(|b| Mapping::new(planes[b.plane].fd(), b.size).map_err(AccessError::Map))
            .collect::<Result<_, _>>()?;
        Ok(Self { maps })
    }

    /// The buffer's mapping, made the first time (`MapCpu`).
    pub(super) fn ensure<'a>(
        cpu: &'a mut Option<Self>,
        planes: &[Plane],
        backings: &[Backing],
        ownership: &mut Ownership,
    ) -> Result<&'a mut Self, AccessError> {
        if cpu.is_none() {
            let mapping = Self::new(planes, backings)?;
            ownership.apply(OwnershipOp::MapCpu)?;
            *cpu = Some(mapping);
        }
        Ok(cpu.as_mut().expect("mapped above"))
    }

    fn writable(&self) -> bool {
        self.maps.iter().all(Mapping::writable)
    }
}

/// The fds to sync: one per distinct buffer.
fn sync_fds<'a>(
    planes: &'a [Plane],
    backings: &'a [Backing],
) -> impl Iterator<Item = std::os::fd::BorrowedFd<'a>> {
    backings.iter().map(|b| planes[b.plane].fd())
}

/// Issues SYNC END on the first `count` buffers. A failure is the exporter
/// misbehaving (START succeeded), so it is logged and the rest still ended.
fn end_sync(planes: &[Plane], backings: &[Backing], count: usize, flags: SyncFlags) {
    for fd in sync_fds(planes, backings).take(count) {
        if let Err(err) = sys::sync(fd, flags | SyncFlags::END) {
            tracing::warn!(?err, ?flags, "DMA_BUF_IOCTL_SYNC END failed");
        }
    }
}

/// CPU access to a [`Dmabuf`]'s bytes, between `DMA_BUF_IOCTL_SYNC` START
/// (made by [`Dmabuf::begin_cpu_access`]) and END (made by drop, also on
/// unwind).
///
/// Beginning maps the buffer on first use and applies the state machine's
/// `mmap` (un-owned or device-owned → CPU-mapped). From Device-Owned
/// CPU/Device-Mapped it applies `begin_cpu_access`. In the CPU-owned states
/// the CPU owns the buffer already and the reference has no
/// `begin_cpu_access` edge from them, so only the kernel is told. Drop
/// applies `end_cpu_access`.
#[derive(Debug)]
pub struct CpuAccess<'a> {
    mapping: &'a mut CpuMapping,
    planes: &'a [Plane],
    backings: &'a [Backing],
    ownership: &'a mut Ownership,
    access: Access,
}

impl<'a> CpuAccess<'a> {
    pub(super) fn begin(buf: &'a mut Dmabuf, access: Access) -> Result<Self, AccessError> {
        let Dmabuf {
            cpu,
            planes,
            backings,
            ownership,
            ..
        } = buf;
        let mapping = CpuMapping::ensure(cpu, planes, backings, ownership)?;
        if access.writes() && !mapping.writable() {
            return Err(AccessError::ReadOnly);
        }
        let flags = access.sync_flags();
        for (started, fd) in sync_fds(planes, backings).enumerate() {
            if let Err(errno) = sys::sync(fd, flags) {
                end_sync(planes, backings, started, flags);
                return Err(sync_start_error(errno));
            }
        }
        if ownership.state() == OwnershipState::DeviceOwnedCpuDeviceMapped
            && let Err(err) = ownership.apply(OwnershipOp::BeginCpuAccess)
        {
            end_sync(planes, backings, backings.len(), flags);
            return Err(err.into());
        }
        Ok(Self {
            mapping,
            planes,
            backings,
            ownership,
            access,
        })
    }

    /// The access this guard was begun with.
    pub fn access(&self) -> Access {
        self.access
    }

    /// The bytes of plane `index`: from its offset, `stride × plane height`
    /// bytes (the plane's rows after subsampling).
    ///
    /// # Panics
    ///
    /// If `index` is not below the buffer's plane count.
    pub fn plane(&self, index: usize) -> &[u8] {
        let plane = &self.planes[index];
        let bytes = self.mapping.maps[plane.backing].bytes();
        clip(bytes, plane.start, plane.len)
    }

    /// The bytes of plane `index`, writable. Refused for a guard begun with
    /// [`Access::Read`].
    ///
    /// # Panics
    ///
    /// If `index` is not below the buffer's plane count.
    pub fn plane_mut(&mut self, index: usize) -> Result<&mut [u8], AccessError> {
        if !self.access.writes() {
            return Err(AccessError::NotWritable);
        }
        let plane = &self.planes[index];
        let bytes = self.mapping.maps[plane.backing]
            .bytes_mut()
            .ok_or(AccessError::ReadOnly)?;
        Ok(clip_mut(bytes, plane.start, plane.len))
    }
}

impl Drop for CpuAccess<'_> {
    fn drop(&mut self) {
        end_sync(
            self.planes,
            self.backings,
            self.backings.len(),
            self.access.sync_flags(),
        );
        let ended = self.ownership.apply(OwnershipOp::EndCpuAccess);
        if let Err(err) = &ended {
            tracing::error!(%err, "ending CPU access refused by the ownership state machine");
        }
        debug_assert!(ended.is_ok() || std::thread::panicking(), "{ended:?}");
    }
}

/// `bytes[start..start + len]`, cut to what `bytes` holds. Validation made
/// every plane fit its buffer, so nothing is cut in practice.
fn clip(bytes: &[u8], start: usize, len: usize) -> &[u8] {
    let tail = bytes.get(start..).unwrap_or_default();
    &tail[..len.min(tail.len())]
}

/// [`clip`] for a mutable slice.
fn clip_mut(bytes: &mut [u8], start: usize, len: usize) -> &mut [u8] {
    let tail = bytes.get_mut(start..).unwrap_or_default();
    let end = len.min(tail.len());
    &mut tail[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_flags_match_the_uapi() {
        assert_eq!(Access::Read.sync_flags().bits(), 1);
        assert_eq!(Access::Write.sync_flags().bits(), 2);
        assert_eq!(Access::ReadWrite.sync_flags().bits(), 3);
        assert_eq!((Access::ReadWrite.sync_flags() | SyncFlags::END).bits(), 7);
    }

    #[test]
    fn enotty_is_unsupported() {
        assert_eq!(sync_start_error(Errno::NOTTY), AccessError::SyncUnsupported);
        assert_eq!(
            sync_start_error(Errno::INVAL),
            AccessError::Sync(Errno::INVAL)
        );
    }

    #[test]
    fn clipping_never_panics() {
        let mut bytes = [1, 2, 3, 4];
        assert_eq!(clip(&bytes, 1, 2), &[2, 3]);
        assert_eq!(clip(&bytes, 3, 5), &[4]);
        assert_eq!(clip(&bytes, 9, 1), &[] as &[u8]);
        assert_eq!(clip_mut(&mut bytes, 2, usize::MAX), &mut [3, 4]);
    }
}
