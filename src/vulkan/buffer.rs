//! Buffers of device memory: storage buffers a compute shader reads and
//! writes, host-visible staging buffers for uploads and readback, dma-buf
//! fds imported as storage buffers, and host memory imported for the
//! device to read in place (`host.rs`).
//!
//! A [`Buffer`] owns its `VkBuffer` and `VkDeviceMemory` and destroys both
//! when dropped; recorded commands keep an `Arc<Buffer>` until their fence
//! signalled, so a buffer is never destroyed while the GPU may use it.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;

use ash::vk;
use tracing::debug;

use super::conv::{map_host_device_oom_err, map_import_err, map_map_memory_err};
use super::host::HostRegion;
use super::import::DeviceMapping;
use super::{Device, VulkanError};

/// What a [`Buffer`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BufferKind {
    /// Read and written by shaders, and by transfers from and to staging
    /// buffers; in device-local memory where the device has it.
    Storage,
    /// Host-visible and mapped for its whole life: the CPU side of uploads
    /// and readback.
    Staging,
    /// Written by shaders and transfers, read by the CPU: host-visible
    /// (cached where the device offers it) and mapped for its whole life.
    HostRead,
    /// Written by the CPU, read by shaders: the parameters of dispatches
    /// that do not fit their push constants. Host-visible (coherent where
    /// the device offers it) and mapped for its whole life.
    Parameters,
}

/// A persistent host mapping of a staging buffer's memory.
#[derive(Debug)]
struct HostMapping {
    ptr: NonNull<u8>,
    /// Whether the memory is `HOST_COHERENT`; if not, writes are flushed and
    /// reads invalidated explicitly.
    coherent: bool,
}

/// A `VkBuffer` bound to its own `VkDeviceMemory` at offset 0.
///
/// Fields are in destruction order: the buffer and memory are destroyed in
/// `Drop` (which unmaps the memory too), then an imported dma-buf's device
/// mapping or imported host memory is released, then the device.
pub(crate) struct Buffer {
    raw: vk::Buffer,
    memory: vk::DeviceMemory,
    size: u64,
    usage: vk::BufferUsageFlags,
    mapping: Option<HostMapping>,
    /// Released after the Vulkan objects: for a dma-buf import, the record
    /// that the dma-buf is mapped for the device.
    _device_mapping: Option<Arc<DeviceMapping>>,
    /// Released after the Vulkan objects: for a host memory import, the
    /// mapping the memory is.
    _host: Option<HostRegion>,
    device: Arc<Device>,
}

// SAFETY: the mapping pointer is only dereferenced through `mapped_mut`
// (which takes `&mut self`) and `read`, whose callers order their accesses with the
// GPU's through fences; the Vulkan handles are plain identifiers whose host
// synchronization rules (destroy, map) are met by ownership.
unsafe impl Send for Buffer {}
// SAFETY: as above: shared references only read the mapping.
unsafe impl Sync for Buffer {}

impl std::fmt::Debug for Buffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffer")
            .field("raw", &self.raw)
            .field("size", &self.size)
            .field("mapped", &self.mapping.is_some())
            .finish_non_exhaustive()
    }
}

impl Buffer {
    /// A new buffer of `size` bytes (at least 1) of `kind`, named `name`.
    pub(crate) fn new(
        device: &Arc<Device>,
        size: u64,
        kind: BufferKind,
        name: &CStr,
    ) -> Result<Self, VulkanError> {
        let usage = match kind {
            BufferKind::Storage => {
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST
            }
            BufferKind::Staging => {
                vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST
            }
            BufferKind::HostRead => {
                vk::BufferUsageFlags::STORAGE_BUFFER
                    | vk::BufferUsageFlags::TRANSFER_SRC
                    | vk::BufferUsageFlags::TRANSFER_DST
            }
            BufferKind::Parameters => vk::BufferUsageFlags::STORAGE_BUFFER,
        };
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        let raw = create_buffer(device, &info)?;
        let mut this = Self {
            raw,
            memory: vk::DeviceMemory::null(),
            size,
            usage,
            mapping: None,
            _device_mapping: None,
            _host: None,
            device: Arc::clone(device),
        };
        // From here on a failure drops `this`, destroying what exists.
        // SAFETY: `raw` is a buffer of this device.
        let requirements = unsafe { device.raw().get_buffer_memory_requirements(raw) };
        let (required, preferred) = match kind {
            BufferKind::Storage => (
                vk::MemoryPropertyFlags::empty(),
                vk::MemoryPropertyFlags::DEVICE_LOCAL,
            ),
            BufferKind::Staging | BufferKind::Parameters => (
                vk::MemoryPropertyFlags::HOST_VISIBLE,
                vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_COHERENT,
            ),
            BufferKind::HostRead => (
                vk::MemoryPropertyFlags::HOST_VISIBLE,
                vk::MemoryPropertyFlags::HOST_VISIBLE | vk::MemoryPropertyFlags::HOST_CACHED,
            ),
        };
        let (index, flags) = device
            .memory_type(requirements.memory_type_bits, preferred)
            .or_else(|| device.memory_type(requirements.memory_type_bits, required))
            .ok_or(VulkanError::NoMemoryType { what: "buffer" })?;
        let allocate = vk::MemoryAllocateInfo::default()
            .allocation_size(requirements.size)
            .memory_type_index(index);
        // SAFETY: the size is the buffer's requirement and the type index one
        // its memoryTypeBits allows (VUID-vkBindBufferMemory-memory-01035).
        this.memory = unsafe { device.raw().allocate_memory(&allocate, None) }
            .map_err(|r| map_host_device_oom_err("vkAllocateMemory", r))?;
        this.bind()?;
        if kind != BufferKind::Storage {
            // SAFETY: the memory is HOST_VISIBLE (required above), not mapped
            // yet (VUID-vkMapMemory-memory-00678), and the whole range is
            // mapped (offset 0, VK_WHOLE_SIZE).
            let ptr = unsafe {
                device
                    .raw()
                    .map_memory(this.memory, 0, vk::WHOLE_SIZE, vk::MemoryMapFlags::empty())
            }
            .map_err(map_map_memory_err)?;
            let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(VulkanError::MemoryMapFailed)?;
            this.mapping = Some(HostMapping {
                ptr,
                coherent: flags.contains(vk::MemoryPropertyFlags::HOST_COHERENT),
            });
        }
        device.set_name(raw, name)?;
        Ok(this)
    }

    /// A buffer of `size` bytes for `usage`, made to be bound to imported
    /// memory of `handle_type`, with no memory yet, and its memory
    /// requirements. [`VulkanError::ImportTooSmall`] where it needs more
    /// than `size` bytes: a dedicated allocation is exactly the buffer's
    /// requirement (VUID-VkMemoryDedicatedAllocateInfo-buffer-02965), and
    /// memory smaller than the allocation does not import (lavapipe answers
    /// VK_ERROR_OUT_OF_DEVICE_MEMORY).
    fn external(
        device: &Arc<Device>,
        size: u64,
        usage: vk::BufferUsageFlags,
        handle_type: vk::ExternalMemoryHandleTypeFlags,
    ) -> Result<(Self, vk::MemoryRequirements), VulkanError> {
        let mut external = vk::ExternalMemoryBufferCreateInfo::default().handle_types(handle_type);
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .push_next(&mut external);
        let raw = create_buffer(device, &info)?;
        let this = Self {
            raw,
            memory: vk::DeviceMemory::null(),
            size,
            usage,
            mapping: None,
            _device_mapping: None,
            _host: None,
            device: Arc::clone(device),
        };
        // SAFETY: `raw` is a buffer of this device.
        let requirements = unsafe { device.raw().get_buffer_memory_requirements(raw) };
        if requirements.size > size {
            return Err(VulkanError::ImportTooSmall {
                needed: requirements.size,
                size,
            });
        }
        Ok((this, requirements))
    }

    /// Imports a dma-buf of `size` bytes as a storage buffer over all of it:
    /// a dedicated allocation (`VkImportMemoryFdInfoKHR`,
    /// `VK_EXTERNAL_MEMORY_HANDLE_TYPE_DMA_BUF_BIT_EXT`) that takes `fd`.
    /// Importing hands the fd to the driver, and lavapipe closes it even
    /// when the import fails (ENVIRONMENT.md): callers pass a dup, never a
    /// client's fd.
    ///
    /// `mapping` is released after the buffer and its memory are destroyed:
    /// the record that the dma-buf is mapped for the device.
    pub(super) fn import_dmabuf(
        device: &Arc<Device>,
        fd: OwnedFd,
        size: u64,
        mapping: Arc<DeviceMapping>,
        name: &CStr,
    ) -> Result<Self, VulkanError> {
        let (mut this, requirements) = Self::external(
            device,
            size,
            vk::BufferUsageFlags::STORAGE_BUFFER,
            vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT,
        )?;
        this._device_mapping = Some(mapping);
        let raw = this.raw;
        this.memory = import_memory(device, fd, requirements, Dedicated::Buffer(raw))?;
        this.bind()?;
        device.set_name(raw, name)?;
        debug!(size, "imported a dma-buf as a buffer");
        Ok(this)
    }

    /// Imports `region`, this process's mapping of a sealed memfd, as a
    /// buffer over all of it (`VkImportMemoryHostPointerInfoEXT`) that
    /// transfers and shaders read in place. The buffer keeps the region
    /// mapped until its memory is freed. [`VulkanError::HostMemoryUnsupported`]
    /// on a device without `VK_EXT_external_memory_host`.
    pub(crate) fn import_host(
        device: &Arc<Device>,
        region: HostRegion,
        name: &CStr,
    ) -> Result<Self, VulkanError> {
        let memory_host = device
            .memory_host()
            .ok_or(VulkanError::HostMemoryUnsupported)?;
        let handle_type = vk::ExternalMemoryHandleTypeFlags::HOST_ALLOCATION_EXT;
        let (ptr, size) = (
            region.ptr().as_ptr().cast::<std::ffi::c_void>(),
            region.len() as u64,
        );
        let usage = vk::BufferUsageFlags::STORAGE_BUFFER
            | vk::BufferUsageFlags::TRANSFER_SRC
            | vk::BufferUsageFlags::TRANSFER_DST;
        let (mut this, requirements) = Self::external(device, size, usage, handle_type)?;
        this._host = Some(region);
        let mut properties = vk::MemoryHostPointerPropertiesEXT::default();
        // SAFETY: the extension is enabled (its table exists); the handle
        // type is HOST_ALLOCATION (VUID-vkGetMemoryHostPointerPropertiesEXT-handleType-01752)
        // and `ptr` is a page-aligned mapping of this process, a multiple of
        // minImportedHostPointerAlignment (`HostRegion::map`,
        // VUID-vkGetMemoryHostPointerPropertiesEXT-pHostPointer-01753).
        unsafe {
            (memory_host.fp().get_memory_host_pointer_properties_ext)(
                device.raw().handle(),
                handle_type,
                ptr,
                &mut properties,
            )
        }
        .result()
        .map_err(|r| map_import_err("vkGetMemoryHostPointerPropertiesEXT", r))?;
        let (index, _) = device
            .memory_type(
                requirements.memory_type_bits & properties.memory_type_bits,
                vk::MemoryPropertyFlags::empty(),
            )
            .ok_or(VulkanError::NoMemoryType {
                what: "imported host memory",
            })?;
        let mut import = vk::ImportMemoryHostPointerInfoEXT::default()
            .handle_type(handle_type)
            .host_pointer(ptr);
        let allocate = vk::MemoryAllocateInfo::default()
            .allocation_size(size)
            .memory_type_index(index)
            .push_next(&mut import);
        // SAFETY: `ptr` and the allocation size are multiples of
        // minImportedHostPointerAlignment (VUID-VkImportMemoryHostPointerInfoEXT-pHostPointer-01749,
        // VUID-VkMemoryAllocateInfo-allocationSize-01745); the memory type is
        // one vkGetMemoryHostPointerPropertiesEXT allows for the pointer
        // (VUID-VkMemoryAllocateInfo-memoryTypeIndex-01744) and the buffer's
        // requirements allow; the mapping stays valid until the memory is
        // freed, as the buffer holds the region until after `Drop` freed it.
        this.memory = unsafe { device.raw().allocate_memory(&allocate, None) }
            .map_err(|r| map_import_err("vkAllocateMemory", r))?;
        this.bind()?;
        device.set_name(this.raw, name)?;
        debug!(size, "imported host memory as a buffer");
        Ok(this)
    }

    fn bind(&self) -> Result<(), VulkanError> {
        // SAFETY: the buffer has no memory bound yet
        // (VUID-vkBindBufferMemory-buffer-07459); the memory was allocated
        // for its requirements (type and size), at offset 0, which every
        // alignment divides (VUID-vkBindBufferMemory-memoryOffset-01036,
        // -size-01037); a dedicated allocation names this buffer
        // (VUID-vkBindBufferMemory-memory-01508).
        unsafe {
            self.device
                .raw()
                .bind_buffer_memory(self.raw, self.memory, 0)
        }
        .map_err(|r| map_host_device_oom_err("vkBindBufferMemory", r))
    }

    /// The buffer's handle.
    pub(crate) fn raw(&self) -> vk::Buffer {
        self.raw
    }

    /// The buffer's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Whether transfers may read and write the buffer
    /// (`TRANSFER_SRC` and `TRANSFER_DST` usage): buffers this crate
    /// creates, not imported dma-bufs, which are storage buffers only.
    pub(crate) fn transfers(&self) -> bool {
        self.usage
            .contains(vk::BufferUsageFlags::TRANSFER_SRC | vk::BufferUsageFlags::TRANSFER_DST)
    }

    /// Copies `bytes` into a staging or parameters buffer at `offset`, and
    /// flushes them for the device where the memory is not coherent.
    /// Panics on a buffer the host does not write
    /// ([`BufferKind::Staging`], [`BufferKind::Parameters`]) or a range
    /// past its end: both are bugs of the caller.
    ///
    /// The caller writes before submitting the commands that read the
    /// buffer (submission makes host writes visible to the device).
    pub(crate) fn write(&mut self, offset: u64, bytes: &[u8]) -> Result<(), VulkanError> {
        let end = offset.checked_add(bytes.len() as u64);
        assert!(
            end.is_some_and(|end| end <= self.size),
            "write past the end of a staging buffer"
        );
        let start = usize::try_from(offset).expect("inside a mapped buffer");
        self.mapped_mut()[start..start + bytes.len()].copy_from_slice(bytes);
        self.flush()
    }

    /// The whole mapped memory of a staging buffer, for the host to write
    /// in place; [`flush`](Self::flush) before the device reads it. Panics
    /// on a buffer that is not [`BufferKind::Staging`].
    ///
    /// The caller has no GPU work on the buffer pending.
    pub(crate) fn mapped_mut(&mut self) -> &mut [u8] {
        let mapping = self.mapping.as_ref().expect("write to a staging buffer");
        let len = usize::try_from(self.size).expect("inside a mapped buffer");
        // SAFETY: the mapping covers the whole buffer, `size` bytes, for the
        // buffer's life; `&mut self` excludes every other host access for
        // the slice's lifetime, and the caller has no GPU work on the
        // buffer pending.
        unsafe { std::slice::from_raw_parts_mut(mapping.ptr.as_ptr(), len) }
    }

    /// Makes host writes to a staging buffer visible to the device where
    /// its memory is not coherent (a no-op where it is). Panics on a buffer
    /// that is not [`BufferKind::Staging`].
    pub(crate) fn flush(&self) -> Result<(), VulkanError> {
        let mapping = self.mapping.as_ref().expect("flush a staging buffer");
        if !mapping.coherent {
            let range = self.whole_range();
            // SAFETY: the memory is mapped, and the range is the whole
            // allocation (offset 0, VK_WHOLE_SIZE), which meets the
            // nonCoherentAtomSize rules (VUID-VkMappedMemoryRange-size-01389).
            unsafe { self.device.raw().flush_mapped_memory_ranges(&[range]) }
                .map_err(|r| map_host_device_oom_err("vkFlushMappedMemoryRanges", r))?;
        }
        Ok(())
    }

    /// The bytes of a staging buffer, invalidated first where the memory is
    /// not coherent. Panics on a buffer that is not mapped
    /// ([`BufferKind::Staging`] or [`BufferKind::HostRead`]).
    ///
    /// The caller reads after the fence of the last write signalled, and the
    /// commands made that write available to the host (a barrier to
    /// `HOST_READ`).
    pub(crate) fn read(&self) -> Result<Vec<u8>, VulkanError> {
        self.read_with(<[u8]>::to_vec)
    }

    /// Whether the buffer is mapped for the host ([`BufferKind::Staging`]
    /// or [`BufferKind::HostRead`]).
    pub(crate) fn is_mapped(&self) -> bool {
        self.mapping.is_some()
    }

    /// Calls `f` with the bytes of a mapped buffer, in place, under the
    /// same rules as [`read`](Self::read).
    pub(crate) fn read_with<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, VulkanError> {
        let mapping = self.mapping.as_ref().expect("read from a mapped buffer");
        if !mapping.coherent {
            let range = self.whole_range();
            // SAFETY: as in `flush`.
            unsafe { self.device.raw().invalidate_mapped_memory_ranges(&[range]) }
                .map_err(|r| map_host_device_oom_err("vkInvalidateMappedMemoryRanges", r))?;
        }
        let len = usize::try_from(self.size).expect("inside a mapped buffer");
        // SAFETY: the mapping covers the whole buffer for its life; no GPU
        // write is pending (the caller waited for it) and host writes take
        // `&mut self`, so nothing writes the bytes while `f` reads them.
        let bytes = unsafe { std::slice::from_raw_parts(mapping.ptr.as_ptr(), len) };
        Ok(f(bytes))
    }

    fn whole_range(&self) -> vk::MappedMemoryRange<'static> {
        vk::MappedMemoryRange::default()
            .memory(self.memory)
            .offset(0)
            .size(vk::WHOLE_SIZE)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        let device = self.device.raw();
        // SAFETY: commands that use the buffer hold an Arc to it until their
        // fence signalled, so none is pending
        // (VUID-vkDestroyBuffer-buffer-00922, VUID-vkFreeMemory-memory-00677);
        // `&mut self` excludes other users. Freeing mapped memory unmaps it.
        // Null handles (a failed construction) are ignored by both calls.
        unsafe {
            device.destroy_buffer(self.raw, None);
            device.free_memory(self.memory, None);
        }
    }
}

/// What a memory import is dedicated to (`VkMemoryDedicatedAllocateInfo`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Dedicated {
    /// A buffer, bound to the whole allocation.
    Buffer(vk::Buffer),
    /// A non-disjoint image, bound to the whole allocation.
    Image(vk::Image),
    /// Nothing: one plane of a disjoint image, which cannot have a
    /// dedicated allocation (VUID-VkMemoryDedicatedAllocateInfo-image-01797).
    None,
}

/// Imports the dma-buf `fd` as device memory of `requirements` (type and
/// size of the object it will be bound to), dedicated to `dedicated`.
///
/// The caller checked that `requirements.size` does not exceed the fd's
/// size (lavapipe answers `VK_ERROR_OUT_OF_DEVICE_MEMORY` otherwise) and
/// passes a dup: importing hands the fd to the driver, and lavapipe closes
/// it even when the import fails (ENVIRONMENT.md).
pub(super) fn import_memory(
    device: &Device,
    fd: OwnedFd,
    requirements: vk::MemoryRequirements,
    dedicated: Dedicated,
) -> Result<vk::DeviceMemory, VulkanError> {
    let handle_type = vk::ExternalMemoryHandleTypeFlags::DMA_BUF_EXT;
    let mut props = vk::MemoryFdPropertiesKHR::default();
    // SAFETY: the handle type is DMA_BUF, which VK_EXT_external_memory_dma_buf
    // (required of every Device) defines for fds
    // (VUID-vkGetMemoryFdPropertiesKHR-handleType-00674: not OPAQUE_FD);
    // `fd` is open for the duration of the call, which does not take it.
    unsafe {
        device
            .memory_fd()
            .get_memory_fd_properties(handle_type, fd.as_raw_fd(), &mut props)
    }
    .map_err(|r| map_import_err("vkGetMemoryFdPropertiesKHR", r))?;
    let (index, _) = device
        .memory_type(
            requirements.memory_type_bits & props.memory_type_bits,
            vk::MemoryPropertyFlags::empty(),
        )
        .ok_or(VulkanError::NoMemoryType {
            what: "imported dma-buf",
        })?;
    let mut import = vk::ImportMemoryFdInfoKHR::default()
        .handle_type(handle_type)
        .fd(fd.into_raw_fd());
    let mut allocate = vk::MemoryAllocateInfo::default()
        .allocation_size(requirements.size)
        .memory_type_index(index)
        .push_next(&mut import);
    let mut info = vk::MemoryDedicatedAllocateInfo::default();
    match dedicated {
        Dedicated::Buffer(buffer) => info = info.buffer(buffer),
        Dedicated::Image(image) => info = info.image(image),
        Dedicated::None => {}
    }
    if !matches!(dedicated, Dedicated::None) {
        allocate = allocate.push_next(&mut info);
    }
    // SAFETY: the fd is one this call owns, a dma-buf at least as large as
    // the allocation (the caller's check) and of the handle type the object
    // was created for (VUID-VkImportMemoryFdInfoKHR-handleType-00670); the
    // memory type is one vkGetMemoryFdPropertiesKHR allows for it
    // (VUID-VkMemoryAllocateInfo-memoryTypeIndex-00648 by way of
    // VkMemoryFdPropertiesKHR); a dedicated allocation names an object not
    // yet bound, with its exact requirement as size
    // (VUID-VkMemoryDedicatedAllocateInfo-buffer-02965, -image-02964), and
    // never a disjoint image (-image-01797). On success the driver owns the
    // fd. On failure it is left alone: lavapipe closes it even then, so
    // closing it here could close an unrelated fd that took the number; a
    // driver that keeps to the specification leaks one fd per failed import
    // instead.
    unsafe { device.raw().allocate_memory(&allocate, None) }
        .map_err(|r| map_import_err("vkAllocateMemory", r))
}

fn create_buffer(
    device: &Device,
    info: &vk::BufferCreateInfo<'_>,
) -> Result<vk::Buffer, VulkanError> {
    // SAFETY: the size is non-zero (callers pass at least 1:
    // VUID-VkBufferCreateInfo-size-00912), the usage is not empty, sharing
    // is exclusive, and the only chained structure is
    // VkExternalMemoryBufferCreateInfo with DMA_BUF, defined by the required
    // VK_EXT_external_memory_dma_buf, or with HOST_ALLOCATION, chained only
    // where VK_EXT_external_memory_host is enabled.
    unsafe { device.raw().create_buffer(info, None) }
        .map_err(|r| map_host_device_oom_err("vkCreateBuffer", r))
}
