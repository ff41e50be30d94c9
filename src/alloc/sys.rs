//! The allocation ioctls: all of the `unsafe` of [`crate::alloc`].
//!
//! Struct layouts are copied from the kernel UAPI headers `<linux/udmabuf.h>`,
//! `<linux/dma-heap.h>` and `<drm/vgem_drm.h>`; their sizes are asserted at
//! compile time and the opcodes are checked against the values the C headers
//! produce in the tests at the bottom of this file.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use rustix::io;
use rustix::ioctl::{Ioctl, IoctlOutput, Opcode, Updater, ioctl, opcode};

/// `UDMABUF_FLAGS_CLOEXEC` from `<linux/udmabuf.h>`.
const UDMABUF_FLAGS_CLOEXEC: u32 = 0x01;
/// `VGEM_FENCE_WRITE` from `<drm/vgem_drm.h>`.
pub(super) const VGEM_FENCE_WRITE: u32 = 0x1;
/// `DRM_COMMAND_BASE` from `<drm/drm.h>`: driver ioctls start here.
const DRM_COMMAND_BASE: u8 = 0x40;

/// `struct udmabuf_create` from `<linux/udmabuf.h>`.
#[repr(C)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}

/// `struct dma_heap_allocation_data` from `<linux/dma-heap.h>`.
#[repr(C)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

/// `struct drm_vgem_fence_attach` from `<drm/vgem_drm.h>`.
#[repr(C)]
struct DrmVgemFenceAttach {
    handle: u32,
    flags: u32,
    out_fence: u32,
    pad: u32,
}

/// `struct drm_vgem_fence_signal` from `<drm/vgem_drm.h>`.
#[repr(C)]
struct DrmVgemFenceSignal {
    fence: u32,
    flags: u32,
}

/// `struct drm_virtgpu_getparam` from `<drm/virtgpu_drm.h>`: `value` is
/// the address of an `int` the kernel writes.
#[repr(C)]
struct DrmVirtgpuGetparam {
    param: u64,
    value: u64,
}

const _: () = assert!(size_of::<UdmabufCreate>() == 24);
const _: () = assert!(size_of::<DmaHeapAllocationData>() == 24);
const _: () = assert!(size_of::<DrmVgemFenceAttach>() == 16);
const _: () = assert!(size_of::<DrmVgemFenceSignal>() == 8);
const _: () = assert!(size_of::<DrmVirtgpuGetparam>() == 16);

/// `UDMABUF_CREATE`: `_IOW('u', 0x42, struct udmabuf_create)`.
const UDMABUF_CREATE: Opcode = opcode::write::<UdmabufCreate>(b'u', 0x42);
/// `DMA_HEAP_IOCTL_ALLOC`: `_IOWR('H', 0x0, struct dma_heap_allocation_data)`.
const DMA_HEAP_IOCTL_ALLOC: Opcode = opcode::read_write::<DmaHeapAllocationData>(b'H', 0x0);
/// `DRM_IOCTL_VGEM_FENCE_ATTACH`: `DRM_IOWR(DRM_COMMAND_BASE + 0x1, struct drm_vgem_fence_attach)`.
const DRM_IOCTL_VGEM_FENCE_ATTACH: Opcode =
    opcode::read_write::<DrmVgemFenceAttach>(b'd', DRM_COMMAND_BASE + 0x1);
/// `DRM_IOCTL_VGEM_FENCE_SIGNAL`: `DRM_IOWR(DRM_COMMAND_BASE + 0x2, struct drm_vgem_fence_signal)`.
const DRM_IOCTL_VGEM_FENCE_SIGNAL: Opcode =
    opcode::read_write::<DrmVgemFenceSignal>(b'd', DRM_COMMAND_BASE + 0x2);

/// `DRM_IOCTL_VIRTGPU_GETPARAM`: `DRM_IOWR(0x43, struct drm_virtgpu_getparam)`.
const DRM_IOCTL_VIRTGPU_GETPARAM: Opcode =
    opcode::read_write::<DrmVirtgpuGetparam>(b'd', DRM_COMMAND_BASE + 0x3);

/// `VIRTGPU_PARAM_3D_FEATURES`: whether the host renders in 3D (virgl).
const VIRTGPU_PARAM_3D_FEATURES: u64 = 1;

/// `UDMABUF_CREATE`, whose result is the new dma-buf fd as the ioctl's return
/// value rather than a struct field, hence no stock rustix pattern.
struct CreateUdmabuf(UdmabufCreate);

// SAFETY: the opcode is `_IOW('u', 0x42, struct udmabuf_create)` and `as_ptr`
// points at that struct (repr(C), u32 + u32 + u64 + u64, size asserted above),
// which the kernel only reads (so not mutating). On success the ioctl's return
// value is a new fd the kernel installed for us, which `output_from_ptr` wraps.
unsafe impl Ioctl for CreateUdmabuf {
    type Output = OwnedFd;

    const IS_MUTATING: bool = false;

    fn opcode(&self) -> Opcode {
        UDMABUF_CREATE
    }

    fn as_ptr(&mut self) -> *mut std::ffi::c_void {
        (&raw mut self.0).cast()
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _: *mut std::ffi::c_void,
    ) -> io::Result<Self::Output> {
        // SAFETY: `out` is the return value of a successful UDMABUF_CREATE: a
        // dma-buf fd just installed in this process' table that nothing else
        // refers to, so this `OwnedFd` is its only owner.
        Ok(unsafe { OwnedFd::from_raw_fd(out) })
    }
}

/// `UDMABUF_CREATE`: a dma-buf over `size` bytes of `memfd` from `offset`,
/// close-on-exec. The kernel takes its own reference to the memfd's pages.
pub(super) fn udmabuf_create(
    udmabuf: BorrowedFd<'_>,
    memfd: BorrowedFd<'_>,
    offset: u64,
    size: u64,
) -> io::Result<OwnedFd> {
    let memfd = u32::try_from(memfd.as_raw_fd()).map_err(|_| io::Errno::BADF)?;
    let arg = CreateUdmabuf(UdmabufCreate {
        memfd,
        flags: UDMABUF_FLAGS_CLOEXEC,
        offset,
        size,
    });
    // SAFETY: see the `Ioctl` impl above for the layout. `udmabuf` and `memfd`
    // are borrowed from the caller and stay open for the call.
    unsafe { ioctl(udmabuf, arg) }
}

/// `DMA_HEAP_IOCTL_ALLOC`: a `len`-byte dma-buf from the heap, opened with
/// `fd_flags` (`O_RDWR | O_CLOEXEC`).
pub(super) fn dma_heap_alloc(heap: BorrowedFd<'_>, len: u64, fd_flags: u32) -> io::Result<OwnedFd> {
    let mut arg = DmaHeapAllocationData {
        len,
        fd: 0,
        fd_flags,
        heap_flags: 0,
    };
    // SAFETY: the opcode is `_IOWR('H', 0x0, struct dma_heap_allocation_data)`
    // and `arg` is that struct (repr(C), u64 + u32 + u32 + u64, size asserted
    // above); the kernel reads `len`/`fd_flags`/`heap_flags` and writes `fd`
    // through the exclusive borrow. `heap` is borrowed for the call only.
    unsafe { ioctl(heap, Updater::<DMA_HEAP_IOCTL_ALLOC, _>::new(&mut arg)) }?;
    let fd = i32::try_from(arg.fd).map_err(|_| io::Errno::BADF)?;
    // SAFETY: the ioctl succeeded, so the kernel installed a new dma-buf fd and
    // wrote it to `arg.fd`; nothing else refers to it, so this `OwnedFd` is its
    // only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `DRM_IOCTL_VGEM_FENCE_ATTACH`: a new fence on GEM object `handle`'s
/// reservation object (a write fence with [`VGEM_FENCE_WRITE`]); returns the
/// fence's id in the vgem file.
pub(super) fn vgem_fence_attach(vgem: BorrowedFd<'_>, handle: u32, flags: u32) -> io::Result<u32> {
    let mut arg = DrmVgemFenceAttach {
        handle,
        flags,
        out_fence: 0,
        pad: 0,
    };
    // SAFETY: the opcode is `DRM_IOWR(0x41, struct drm_vgem_fence_attach)` and
    // `arg` is that struct (repr(C), four u32, size asserted above); the kernel
    // reads `handle`/`flags`/`pad` and writes `out_fence` through the exclusive
    // borrow. `vgem` is borrowed for the call only.
    unsafe {
        ioctl(
            vgem,
            Updater::<DRM_IOCTL_VGEM_FENCE_ATTACH, _>::new(&mut arg),
        )
    }?;
    Ok(arg.out_fence)
}

/// `DRM_IOCTL_VGEM_FENCE_SIGNAL`: signals fence `fence` of the vgem file.
pub(super) fn vgem_fence_signal(vgem: BorrowedFd<'_>, fence: u32) -> io::Result<()> {
    let mut arg = DrmVgemFenceSignal { fence, flags: 0 };
    // SAFETY: the opcode is `DRM_IOWR(0x42, struct drm_vgem_fence_signal)` and
    // `arg` is that struct (repr(C), two u32, size asserted above); the kernel
    // reads it (the direction is IOWR, so it is passed as mutable). `vgem` is
    // borrowed for the call only.
    unsafe {
        ioctl(
            vgem,
            Updater::<DRM_IOCTL_VGEM_FENCE_SIGNAL, _>::new(&mut arg),
        )
    }
}

/// Whether the virtio-gpu device `gpu` renders in 3D on the host
/// (`VIRTGPU_PARAM_3D_FEATURES`); without it, its buffers are plain guest
/// memory.
pub(super) fn virtgpu_3d(gpu: BorrowedFd<'_>) -> io::Result<bool> {
    let mut value: i32 = 0;
    let mut arg = DrmVirtgpuGetparam {
        param: VIRTGPU_PARAM_3D_FEATURES,
        value: std::ptr::addr_of_mut!(value) as u64,
    };
    // SAFETY: the opcode is `DRM_IOWR(0x43, struct drm_virtgpu_getparam)`
    // and `arg` is that struct (repr(C), two u64, size asserted above). The
    // kernel reads `param` and writes one `int` at `value`, the address of
    // the local `value`, which lives until the call returns. `gpu` is
    // borrowed for the call only.
    unsafe { ioctl(gpu, Updater::<DRM_IOCTL_VIRTGPU_GETPARAM, _>::new(&mut arg)) }?;
    Ok(value != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by a C program including `<linux/udmabuf.h>`,
    /// `<linux/dma-heap.h>`, `<drm/virtgpu_drm.h>` and the vgem definitions
    /// (x86_64).
    #[test]
    fn opcodes_match_the_kernel_headers() {
        assert_eq!(UDMABUF_CREATE, 0x4018_7542);
        assert_eq!(DMA_HEAP_IOCTL_ALLOC, 0xc018_4800);
        assert_eq!(DRM_IOCTL_VGEM_FENCE_ATTACH, 0xc010_6441);
        assert_eq!(DRM_IOCTL_VGEM_FENCE_SIGNAL, 0xc008_6442);
        assert_eq!(DRM_IOCTL_VIRTGPU_GETPARAM, 0xc010_6443);
    }
}
