//! A client's dma-buf: planes, validation, ownership, CPU access.
//!
//! * [`DmabufParams`] collects planes as `zwp_linux_buffer_params_v1` does
//!   and [`DmabufParams::create`] makes every check of that protocol before a
//!   [`Dmabuf`] exists. Refusals are [`ParamsError`]s, each with the
//!   protocol's code ([`ParamsError::protocol_error`]); no Wayland type
//!   appears here.
//! * [`format`](FormatInfo) knows the plane layout of the formats accepted.
//! * Each [`Dmabuf`] tracks the ownership state machine of reference 001
//!   ([`OwnershipState`]): [`Dmabuf::map_device`] / [`Dmabuf::unmap_device`]
//!   for device imports, [`CpuAccess`] for the CPU.
//! * [`CpuAccess`] is the only way to the bytes: `DMA_BUF_IOCTL_SYNC` START
//!   when it is created, END when it is dropped. The CPU mapping behind it is
//!   made once and cached for the buffer's life (reference 003).
//! * [`Dmabuf::export_sync_file`] / [`Dmabuf::import_sync_file`] move the
//!   buffer's implicit fences to and from [`crate::sync::SyncFile`]s.
//! * [`SharedDmabuf`] is how a buffer is handed to importers, which keep it
//!   until their import is destroyed.
//! * [`exporter`] tells which driver exported a dma-buf, and whether its
//!   implicit modifier means LINEAR.
//! * Every system call, and all `unsafe`, is in `sys.rs`.

mod access;
mod buffer;
pub mod exporter;
mod fence;
mod format;
mod geometry;
mod ownership;
mod params;
pub mod probe;
#[expect(
    unsafe_code,
    reason = "ioctl and mmap/munmap on client dma-bufs; every block has a SAFETY comment"
)]
mod sys;

pub(crate) use self::sys::Mapping;

use std::sync::{Arc, Mutex};

pub use access::{Access, AccessError, CpuAccess};
pub use buffer::{Dmabuf, Plane};
pub use format::{FormatInfo, PlaneLayout};
pub use ownership::{OwnershipError, OwnershipOp, OwnershipState};
pub use params::{DmabufFlags, DmabufParams, FdCall, ParamsError, ParamsProtocolError};

/// A [`Dmabuf`] shared between its owner (the compositor's `wl_buffer`) and
/// the devices that import it. An importer keeps a reference for as long as
/// its import lives, so the buffer outlives every device mapping of it and
/// is released, un-owned and un-mapped, by whoever holds it last.
pub type SharedDmabuf = Arc<Mutex<Dmabuf>>;
