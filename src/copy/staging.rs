//! Buffers of device memory and the host: [`Copier::create_buffer`] and
//! [`Copier::create_host_buffer`] make [`DeviceBuffer`]s,
//! [`Copier::import_host_memory`] makes one over a client's sealed memfd,
//! and
//! [`Copier::upload`] and [`Copier::readback`] move bytes between host
//! memory and a [`DeviceBuffer`] through host-visible staging buffers
//! ([`Staging`] where the caller keeps one from one upload to the next).

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use super::{Copier, CopyCompletion, CopyError, DeviceBuffer};
use crate::vulkan::{Barrier, Buffer, BufferKind, BufferRegion, Fence, HostRegion, VulkanError};

/// Host-visible memory that uploads are staged in, kept by its owner from
/// one upload to the next (a texture that is updated every frame), made by
/// [`Copier::create_staging`].
///
/// Its bytes can be written only while no submitted upload still reads
/// them: every submission holds the buffer until the copier collected it
/// after its fence signalled, and [`bytes_mut`](Self::bytes_mut) answers
/// `None` while one does.
#[derive(Debug)]
pub struct Staging {
    buffer: Arc<Buffer>,
}

impl Staging {
    /// The whole staging memory to write, or `None` while a submitted
    /// upload from it has not been collected ([`Copier::collect`]).
    pub fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Arc::get_mut(&mut self.buffer).map(Buffer::mapped_mut)
    }
}

/// A submitted readback of a [`DeviceBuffer`]: [`wait`](Self::wait) blocks
/// until the bytes arrived in host memory and returns them.
#[must_use = "the bytes are only available through wait()"]
#[derive(Debug)]
pub struct Readback {
    fence: Arc<Fence>,
    staging: Arc<Buffer>,
}

impl Readback {
    /// Blocks until the copy into host-visible memory completed, then
    /// returns the buffer's bytes (invalidated first where the memory is not
    /// host-coherent). Never call this on an event loop.
    pub fn wait(self) -> Result<Vec<u8>, CopyError> {
        self.fence.wait(None)?;
        Ok(self.staging.read()?)
    }
}

impl Copier {
    /// A new buffer of at least `size` bytes in device memory: rounded up to
    /// whole 32-bit words, the unit the copy shader reads, so that a plane
    /// ending inside the last word can be read whole.
    pub fn create_buffer(&self, size: u64) -> Result<DeviceBuffer, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size.next_multiple_of(4),
            BufferKind::Storage,
            c"dmabridge copy buffer",
        )?;
        Ok(DeviceBuffer {
            buffer: Arc::new(buffer),
        })
    }

    /// A new buffer of at least `size` bytes that copies write and the CPU
    /// then reads in place ([`DeviceBuffer::read_host`]): host-visible
    /// memory, cached where the device has it, mapped for its life. A
    /// readback without a transfer: for results the CPU consumes whole.
    pub fn create_host_buffer(&self, size: u64) -> Result<DeviceBuffer, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size.next_multiple_of(4),
            BufferKind::HostRead,
            c"dmabridge host-readable buffer",
        )?;
        Ok(DeviceBuffer {
            buffer: Arc::new(buffer),
        })
    }

    /// A buffer over the first `len` bytes of `fd`, a memfd sealed against
    /// shrinking (a client's `wl_shm` pool), that copies read in place:
    /// host memory the device imports (`VK_EXT_external_memory_host`), so
    /// a copy from it into a texture is the only copy of its pixels. The
    /// client may write the memory at any time, as with any shared memory.
    /// [`CopyError::Vulkan`] where the device cannot import host memory, or
    /// the file is not sealed or holds fewer than `len` bytes (a device
    /// thread reading a truncated file would crash the process).
    pub fn import_host_memory(
        &self,
        fd: BorrowedFd<'_>,
        len: u64,
    ) -> Result<DeviceBuffer, CopyError> {
        let alignment = self
            .device
            .host_import_alignment()
            .ok_or(VulkanError::HostMemoryUnsupported)?;
        let region = HostRegion::map(fd, len, alignment)?;
        let buffer = Buffer::import_host(&self.device, region, c"dmabridge host memory")?;
        Ok(DeviceBuffer {
            buffer: Arc::new(buffer),
        })
    }

    /// Writes `bytes` to the start of `buffer`, through a staging buffer.
    /// Later copies and readbacks see them (each records a barrier after
    /// earlier transfers and shader writes).
    pub fn upload(
        &mut self,
        buffer: &DeviceBuffer,
        bytes: &[u8],
    ) -> Result<CopyCompletion, CopyError> {
        self.upload_at(buffer, 0, bytes)
    }

    /// Writes `bytes` to `buffer` from byte `offset` on, through a staging
    /// buffer, like [`upload`](Self::upload).
    pub fn upload_at(
        &mut self,
        buffer: &DeviceBuffer,
        offset: u64,
        bytes: &[u8],
    ) -> Result<CopyCompletion, CopyError> {
        let len = bytes.len() as u64;
        if offset
            .checked_add(len)
            .is_none_or(|end| end > buffer.size())
        {
            return Err(CopyError::UploadTooLarge {
                len: offset.saturating_add(len),
                size: buffer.size(),
            });
        }
        if len == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let mut staging = Buffer::new(
            &self.device,
            len,
            BufferKind::Staging,
            c"dmabridge upload staging",
        )?;
        staging.write(0, bytes)?;
        let mut commands = self.commands(c"dmabridge upload")?;
        commands.barrier(Barrier::BeforeTransfer);
        commands.copy(
            &Arc::new(staging),
            &buffer.buffer,
            &[BufferRegion {
                src_offset: 0,
                dst_offset: offset,
                size: len,
            }],
        );
        let fence = self.track(commands.submit(c"dmabridge upload")?)?;
        Ok(CopyCompletion {
            fence,
            sync_file: None,
        })
    }

    /// New staging memory of `size` bytes (at least 1), for
    /// [`upload_ranges`](Self::upload_ranges).
    pub fn create_staging(&self, size: u64) -> Result<Staging, CopyError> {
        if size == 0 {
            return Err(CopyError::EmptyBuffer);
        }
        let buffer = Buffer::new(
            &self.device,
            size,
            BufferKind::Staging,
            c"dmabridge upload staging",
        )?;
        Ok(Staging {
            buffer: Arc::new(buffer),
        })
    }

    /// Copies the byte ranges `ranges` of `staging` (written through
    /// [`Staging::bytes_mut`]) to the same offsets of `buffer`, in one
    /// command, like [`upload`](Self::upload): later copies and readbacks
    /// see them, and the copy follows every job submitted before, so a
    /// buffer that earlier jobs still read is overwritten only after they
    /// read it. The ranges are in order, disjoint and non-empty; no range
    /// is nothing to do (`None`).
    pub fn upload_ranges(
        &mut self,
        staging: &Staging,
        buffer: &DeviceBuffer,
        ranges: &[std::ops::Range<u64>],
    ) -> Result<Option<CopyCompletion>, CopyError> {
        let ordered = ranges.iter().all(|r| r.start < r.end)
            && ranges.windows(2).all(|w| w[0].end <= w[1].start);
        if !ordered {
            return Err(CopyError::UploadRanges);
        }
        let Some(last) = ranges.last() else {
            return Ok(None);
        };
        let end = staging.buffer.size().min(buffer.size());
        if last.end > end {
            return Err(CopyError::UploadTooLarge {
                len: last.end,
                size: end,
            });
        }
        staging.buffer.flush()?;
        let mut commands = self.commands(c"dmabridge upload")?;
        // Orders the copy after earlier transfers and shaders, the reads of
        // `buffer` included: a write after a read needs only this execution
        // dependency, and a barrier's first scope is every command submitted
        // earlier to the queue.
        commands.barrier(Barrier::BeforeTransfer);
        let regions: Vec<BufferRegion> = ranges
            .iter()
            .map(|r| BufferRegion {
                src_offset: r.start,
                dst_offset: r.start,
                size: r.end - r.start,
            })
            .collect();
        commands.copy(&staging.buffer, &buffer.buffer, &regions);
        let fence = self.track(commands.submit(c"dmabridge upload")?)?;
        Ok(Some(CopyCompletion {
            fence,
            sync_file: None,
        }))
    }

    /// Reads all of `buffer` back into host memory, through a host-visible
    /// staging buffer, after the copies and uploads submitted before.
    pub fn readback(&mut self, buffer: &DeviceBuffer) -> Result<Readback, CopyError> {
        let staging = Arc::new(Buffer::new(
            &self.device,
            buffer.size(),
            BufferKind::Staging,
            c"dmabridge readback staging",
        )?);
        let mut commands = self.commands(c"dmabridge readback")?;
        commands.barrier(Barrier::BeforeTransfer);
        commands.copy(
            &buffer.buffer,
            &staging,
            &[BufferRegion {
                src_offset: 0,
                dst_offset: 0,
                size: buffer.size(),
            }],
        );
        commands.barrier(Barrier::ToHost);
        let fence = self.track(commands.submit(c"dmabridge readback")?)?;
        Ok(Readback { fence, staging })
    }
}
