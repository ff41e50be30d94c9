//! Building a [`Dmabuf`] from a client's planes, with every check of
//! `zwp_linux_buffer_params_v1`.
//!
//! [`DmabufParams::add`] makes the checks the protocol ties to `add`;
//! [`DmabufParams::create`] the rest: first the cheap ones on the numbers the
//! client sent, then the ones that ask the kernel about each fd. The checks
//! follow the protocol text and wlroots' `params_create_common`, with plane
//! sizes computed per plane (chroma subsampling) where wlroots only checks
//! plane 0.

use std::os::fd::{AsFd, OwnedFd};

use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::io::Errno;

use super::buffer::{Backing, Dmabuf, Plane};
use super::format::FormatInfo;
use super::geometry::{check_fits, plane_span};
use super::sys;

/// Planes a buffer may have (`zwp_linux_buffer_params_v1.add`: "plane index
/// out of bounds" past 3).
const MAX_PLANES: usize = 4;

bitflags::bitflags! {
    /// `zwp_linux_buffer_params_v1.flags`. The protocol layer converts the
    /// client's `u32` with `from_bits` and refuses unknown bits itself.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct DmabufFlags: u32 {
        /// Contents are y-inverted.
        const Y_INVERT = 1;
        /// Content is interlaced.
        const INTERLACED = 2;
        /// Bottom field first.
        const BOTTOM_FIRST = 4;
    }
}

/// The error codes of `zwp_linux_buffer_params_v1`, with the protocol's
/// values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ParamsProtocolError {
    /// `already_used`: the params object was already used to create a
    /// buffer. [`DmabufParams::create`] consumes the params, so it never
    /// returns this; the protocol layer raises it for a second request.
    AlreadyUsed = 0,
    /// `plane_idx`: plane index out of bounds.
    PlaneIdx = 1,
    /// `plane_set`: the plane index was already set.
    PlaneSet = 2,
    /// `incomplete`: missing or too many planes to create a buffer.
    Incomplete = 3,
    /// `invalid_format`: format not supported.
    InvalidFormat = 4,
    /// `invalid_dimensions`: invalid width or height.
    InvalidDimensions = 5,
    /// `out_of_bounds`: offset + stride × height goes out of the dmabuf bounds.
    OutOfBounds = 6,
    /// `invalid_wl_buffer`: invalid `wl_buffer` resulted from importing
    /// dmabufs via the `create_immed` request.
    InvalidWlBuffer = 7,
}

/// The system call that failed on a client's fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdCall {
    /// `fstatfs`, asking which filesystem the fd belongs to.
    Fstatfs,
    /// `fstat`, asking which inode the fd refers to.
    Fstat,
    /// `lseek(fd, 0, SEEK_END)`, asking for the buffer's size.
    Lseek,
}

impl std::fmt::Display for FdCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fstatfs => "fstatfs",
            Self::Fstat => "fstat",
            Self::Lseek => "lseek",
        })
    }
}

/// Why a client's buffer parameters were refused.
///
/// Plane numbers are the client's plane indices. Each variant maps to one
/// protocol code through [`ParamsError::protocol_error`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// `add` with a plane index of 4 or more.
    #[error("plane index {index} out of bounds (at most {} planes)", MAX_PLANES)]
    PlaneIndex {
        /// The index the client sent.
        index: u32,
    },
    /// `add` for a plane index that was already added.
    #[error("plane {index} was already set")]
    PlaneSet {
        /// The index the client sent twice.
        index: u32,
    },
    /// `add` with a modifier different from the one of the planes added
    /// before (the protocol requires one modifier for all planes).
    #[error("plane {plane} has modifier {modifier:#x}, earlier planes {expected:#x}")]
    ModifierMismatch {
        /// The plane with the odd modifier.
        plane: u32,
        /// Its modifier.
        modifier: u64,
        /// The modifier of the planes added before it.
        expected: u64,
    },
    /// `create` while plane `index` is missing: no plane at all, or a gap
    /// (planes must be 0, 1, … without holes).
    #[error("plane {index} is missing")]
    MissingPlane {
        /// The first missing plane index.
        index: u32,
    },
    /// `create` with a number of planes other than the format has.
    #[error("{format} has {expected} planes, {got} were added")]
    PlaneCount {
        /// The buffer's format.
        format: DrmFourcc,
        /// Planes the format has.
        expected: usize,
        /// Planes the client added.
        got: usize,
    },
    /// `create` with a width or height of zero or less.
    #[error("invalid dimensions {width}×{height}")]
    InvalidDimensions {
        /// The width the client sent.
        width: i32,
        /// The height the client sent.
        height: i32,
    },
    /// `create` with a fourcc this crate does not know (an unknown code, or a
    /// real format missing from [`FormatInfo::all`]).
    #[error("unsupported format {fourcc:#010x}")]
    UnsupportedFormat {
        /// The fourcc code the client sent.
        fourcc: u32,
    },
    /// A stride of zero, or, with the LINEAR modifier, a stride smaller than
    /// one row of the plane's pixels. Code `out_of_bounds`: the last row of
    /// such a plane would reach past `offset + stride × height`, the bound
    /// the protocol names (wlroots answers a zero stride the same way).
    #[error("plane {plane}: stride {stride} is below the {min} bytes of a row")]
    StrideTooSmall {
        /// The plane.
        plane: u32,
        /// Its stride.
        stride: u32,
        /// The smallest stride accepted.
        min: u64,
    },
    /// `offset + stride × plane height` does not fit a mapping (`isize::MAX`
    /// bytes): no fd can be that large.
    #[error("plane {plane}: offset {offset} + stride {stride} × {rows} rows overflows")]
    PlaneOverflow {
        /// The plane.
        plane: u32,
        /// Its offset.
        offset: u32,
        /// Its stride.
        stride: u32,
        /// Its height in rows (after subsampling).
        rows: u32,
    },
    /// The plane reaches beyond the end of its fd's buffer.
    #[error("plane {plane} ends at byte {end}, its buffer has {fd_size}")]
    PlaneOutOfBounds {
        /// The plane.
        plane: u32,
        /// `offset + stride × plane height`.
        end: u64,
        /// The buffer's size (`lseek(fd, 0, SEEK_END)`).
        fd_size: u64,
    },
    /// The fd is not a dma-buf (a pipe, a regular file, a memfd, a device
    /// node): `fstatfs` reports a filesystem other than `DMA_BUF_MAGIC`.
    ///
    /// Code `invalid_wl_buffer`: the numbers were valid, the import failed.
    /// After `create` the protocol layer answers an import failure with the
    /// `failed` event; after `create_immed` the protocol lets it raise
    /// `invalid_wl_buffer` (or send `failed`), as wlroots does.
    #[error("plane {plane}: the fd is not a dma-buf (filesystem magic {fs_type:#x})")]
    NotDmabuf {
        /// The plane.
        plane: u32,
        /// The fd's filesystem magic (`f_type`).
        fs_type: u64,
    },
    /// The kernel would not describe the fd. Safe Rust cannot hand us a
    /// closed fd (`OwnedFd`), so this means the fd was closed behind our back
    /// (`EBADF`: the unsafe code that did it is the bug) or the call failed
    /// for its own reasons (`EIO`, `EOVERFLOW` for a size beyond this
    /// process's address space). Code `invalid_wl_buffer`, as for
    /// [`ParamsError::NotDmabuf`].
    #[error("plane {plane}: {call} on the fd failed")]
    FdQuery {
        /// The plane.
        plane: u32,
        /// The failed call.
        call: FdCall,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
}

impl ParamsError {
    /// The `zwp_linux_buffer_params_v1` error code for this refusal.
    pub fn protocol_error(&self) -> ParamsProtocolError {
        match self {
            Self::PlaneIndex { .. } => ParamsProtocolError::PlaneIdx,
            Self::PlaneSet { .. } => ParamsProtocolError::PlaneSet,
            Self::ModifierMismatch { .. } | Self::UnsupportedFormat { .. } => {
                ParamsProtocolError::InvalidFormat
            }
            Self::MissingPlane { .. } | Self::PlaneCount { .. } => ParamsProtocolError::Incomplete,
            Self::InvalidDimensions { .. } => ParamsProtocolError::InvalidDimensions,
            Self::StrideTooSmall { .. }
            | Self::PlaneOverflow { .. }
            | Self::PlaneOutOfBounds { .. } => ParamsProtocolError::OutOfBounds,
            Self::NotDmabuf { .. } | Self::FdQuery { .. } => ParamsProtocolError::InvalidWlBuffer,
        }
    }
}

/// A plane as the client added it.
#[derive(Debug)]
struct PendingPlane {
    fd: OwnedFd,
    offset: u32,
    stride: u32,
    modifier: u64,
}

/// The planes of a buffer being built, as `zwp_linux_buffer_params_v1`
/// collects them.
#[derive(Debug, Default)]
pub struct DmabufParams {
    planes: [Option<PendingPlane>; MAX_PLANES],
}

impl DmabufParams {
    /// Parameters without planes.
    pub fn new() -> Self {
        Self::default()
    }

    /// `zwp_linux_buffer_params_v1.add`: adds plane `plane_idx`.
    ///
    /// Refuses an index of 4 or more ([`ParamsError::PlaneIndex`]), an index
    /// added before ([`ParamsError::PlaneSet`]) and a modifier other than the
    /// earlier planes' ([`ParamsError::ModifierMismatch`]). On error `fd` is
    /// closed.
    pub fn add(
        &mut self,
        plane_idx: u32,
        fd: OwnedFd,
        offset: u32,
        stride: u32,
        modifier: u64,
    ) -> Result<(), ParamsError> {
        let earlier_modifier = self.planes.iter().flatten().map(|p| p.modifier).next();
        let slot = usize::try_from(plane_idx)
            .ok()
            .and_then(|i| self.planes.get_mut(i))
            .ok_or(ParamsError::PlaneIndex { index: plane_idx })?;
        if slot.is_some() {
            return Err(ParamsError::PlaneSet { index: plane_idx });
        }
        if let Some(expected) = earlier_modifier
            && expected != modifier
        {
            return Err(ParamsError::ModifierMismatch {
                plane: plane_idx,
                modifier,
                expected,
            });
        }
        *slot = Some(PendingPlane {
            fd,
            offset,
            stride,
            modifier,
        });
        Ok(())
    }

    /// `zwp_linux_buffer_params_v1.create` / `create_immed`: checks the
    /// planes against the image and the kernel and builds the buffer.
    ///
    /// In order: planes 0‥n present without gaps ([`ParamsError::MissingPlane`]),
    /// positive dimensions, a known format, n equal to the format's plane
    /// count, each plane's stride and extent; then for each fd: a dma-buf
    /// ([`ParamsError::NotDmabuf`]), large enough
    /// ([`ParamsError::PlaneOutOfBounds`]). On error every fd is closed.
    pub fn create(
        self,
        width: i32,
        height: i32,
        format: u32,
        flags: DmabufFlags,
    ) -> Result<Dmabuf, ParamsError> {
        let added = self.planes.iter().take_while(|p| p.is_some()).count();
        if added == 0 || self.planes[added..].iter().any(Option::is_some) {
            return Err(ParamsError::MissingPlane {
                index: plane_number(added),
            });
        }
        let pending: Vec<PendingPlane> = self.planes.into_iter().flatten().collect();

        let (Some(w), Some(h)) = (positive(width), positive(height)) else {
            return Err(ParamsError::InvalidDimensions { width, height });
        };
        let info = DrmFourcc::try_from(format)
            .ok()
            .and_then(FormatInfo::of)
            .ok_or(ParamsError::UnsupportedFormat { fourcc: format })?;
        if pending.len() != info.plane_count() {
            return Err(ParamsError::PlaneCount {
                format: info.fourcc(),
                expected: info.plane_count(),
                got: pending.len(),
            });
        }
        let modifier = pending[0].modifier;
        let linear = DrmModifier::from(modifier) == DrmModifier::Linear;
        let spans = pending
            .iter()
            .zip(info.planes())
            .enumerate()
            .map(|(i, (p, layout))| {
                plane_span(plane_number(i), *layout, w, h, p.offset, p.stride, linear)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut backings: Vec<((u64, u64), Backing)> = Vec::with_capacity(pending.len());
        let mut planes = Vec::with_capacity(pending.len());
        for (i, (p, span)) in pending.into_iter().zip(spans).enumerate() {
            let plane = plane_number(i);
            let fd = p.fd.as_fd();
            let query = |call| move |errno| ParamsError::FdQuery { plane, call, errno };
            let fs_type = sys::fs_type(fd).map_err(query(FdCall::Fstatfs))?;
            if !sys::is_dmabuf_fs(fs_type) {
                return Err(ParamsError::NotDmabuf {
                    plane,
                    fs_type: fs_type as u64,
                });
            }
            let inode = sys::inode(fd).map_err(query(FdCall::Fstat))?;
            let fd_size = sys::size(fd).map_err(query(FdCall::Lseek))?;
            check_fits(plane, span.end, fd_size)?;
            let backing = match backings.iter().position(|(id, _)| *id == inode) {
                Some(index) => index,
                None => {
                    let size = usize::try_from(fd_size)
                        .map_err(|_| query(FdCall::Lseek)(Errno::OVERFLOW))?;
                    backings.push((inode, Backing { plane: i, size }));
                    backings.len() - 1
                }
            };
            planes.push(Plane {
                fd: p.fd,
                offset: p.offset,
                stride: p.stride,
                backing,
                start: span.start,
                len: span.len,
            });
        }
        let backings = backings.into_iter().map(|(_, backing)| backing).collect();
        Ok(Dmabuf::new(
            info.fourcc(),
            modifier,
            w,
            h,
            flags,
            planes,
            backings,
        ))
    }
}

/// A plane index as the protocol numbers planes (`i < MAX_PLANES`).
fn plane_number(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// `value` if it is a valid image dimension (positive).
fn positive(value: i32) -> Option<u32> {
    u32::try_from(value).ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use rustix::fs::MemfdFlags;

    use super::*;

    const LINEAR: u64 = 0;
    const ARGB8888: u32 = DrmFourcc::Argb8888 as u32;
    const NV12: u32 = DrmFourcc::Nv12 as u32;

    fn dev_null() -> OwnedFd {
        File::open("/dev/null").unwrap().into()
    }

    fn memfd(size: u64) -> OwnedFd {
        let fd = rustix::fs::memfd_create("dmabridge-test", MemfdFlags::CLOEXEC).unwrap();
        rustix::fs::ftruncate(&fd, size).unwrap();
        fd
    }

    fn one_plane(fd: OwnedFd, stride: u32) -> DmabufParams {
        let mut params = DmabufParams::new();
        params.add(0, fd, 0, stride, LINEAR).unwrap();
        params
    }

    fn create(params: DmabufParams, w: i32, h: i32, format: u32) -> ParamsError {
        params
            .create(w, h, format, DmabufFlags::empty())
            .unwrap_err()
    }

    #[test]
    fn plane_index_out_of_range() {
        let err = DmabufParams::new()
            .add(4, dev_null(), 0, 64, LINEAR)
            .unwrap_err();
        assert_eq!(err, ParamsError::PlaneIndex { index: 4 });
        assert_eq!(err.protocol_error(), ParamsProtocolError::PlaneIdx);
        let err = DmabufParams::new()
            .add(u32::MAX, dev_null(), 0, 64, LINEAR)
            .unwrap_err();
        assert_eq!(err.protocol_error(), ParamsProtocolError::PlaneIdx);
    }

    #[test]
    fn plane_set_twice() {
        let mut params = one_plane(dev_null(), 64);
        let err = params.add(0, dev_null(), 0, 64, LINEAR).unwrap_err();
        assert_eq!(err, ParamsError::PlaneSet { index: 0 });
        assert_eq!(err.protocol_error(), ParamsProtocolError::PlaneSet);
    }

    #[test]
    fn modifier_mismatch() {
        let mut params = one_plane(dev_null(), 64);
        let err = params.add(1, dev_null(), 0, 64, 1 << 56 | 1).unwrap_err();
        assert_eq!(
            err,
            ParamsError::ModifierMismatch {
                plane: 1,
                modifier: 1 << 56 | 1,
                expected: LINEAR
            }
        );
        assert_eq!(err.protocol_error(), ParamsProtocolError::InvalidFormat);
    }

    #[test]
    fn no_planes() {
        let err = create(DmabufParams::new(), 16, 16, ARGB8888);
        assert_eq!(err, ParamsError::MissingPlane { index: 0 });
        assert_eq!(err.protocol_error(), ParamsProtocolError::Incomplete);
    }

    #[test]
    fn gap_between_planes() {
        let mut params = one_plane(dev_null(), 16);
        params.add(2, dev_null(), 0, 16, LINEAR).unwrap();
        assert_eq!(
            create(params, 16, 16, DrmFourcc::Yuv420 as u32),
            ParamsError::MissingPlane { index: 1 }
        );
    }

    #[test]
    fn plane_count_must_match_the_format() {
        let err = create(one_plane(dev_null(), 16), 16, 16, NV12);
        assert_eq!(
            err,
            ParamsError::PlaneCount {
                format: DrmFourcc::Nv12,
                expected: 2,
                got: 1
            }
        );
        assert_eq!(err.protocol_error(), ParamsProtocolError::Incomplete);

        let mut params = one_plane(dev_null(), 64);
        params.add(1, dev_null(), 0, 64, LINEAR).unwrap();
        let err = create(params, 16, 16, ARGB8888);
        assert_eq!(err.protocol_error(), ParamsProtocolError::Incomplete);
    }

    #[test]
    fn zero_or_negative_size() {
        for (w, h) in [(0, 16), (16, 0), (-1, 16), (16, i32::MIN)] {
            let err = create(one_plane(dev_null(), 64), w, h, ARGB8888);
            assert_eq!(
                err,
                ParamsError::InvalidDimensions {
                    width: w,
                    height: h
                }
            );
            assert_eq!(err.protocol_error(), ParamsProtocolError::InvalidDimensions);
        }
    }

    #[test]
    fn unknown_and_unsupported_formats() {
        for fourcc in [0, u32::from_le_bytes(*b"ZZZZ"), DrmFourcc::Yuyv as u32] {
            let err = create(one_plane(dev_null(), 64), 16, 16, fourcc);
            assert_eq!(err, ParamsError::UnsupportedFormat { fourcc });
            assert_eq!(err.protocol_error(), ParamsProtocolError::InvalidFormat);
        }
    }

    #[test]
    fn linear_stride_below_row_bytes() {
        let err = create(one_plane(dev_null(), 63), 16, 16, ARGB8888);
        assert_eq!(
            err,
            ParamsError::StrideTooSmall {
                plane: 0,
                stride: 63,
                min: 64
            }
        );
        assert_eq!(err.protocol_error(), ParamsProtocolError::OutOfBounds);
    }

    #[test]
    fn zero_stride_with_any_modifier() {
        let mut params = DmabufParams::new();
        params.add(0, dev_null(), 0, 0, 1 << 56 | 2).unwrap();
        let err = create(params, 16, 16, ARGB8888);
        assert_eq!(
            err,
            ParamsError::StrideTooSmall {
                plane: 0,
                stride: 0,
                min: 1
            }
        );
    }

    #[test]
    fn tiled_stride_is_not_compared_with_the_row() {
        // A tiled layout's stride need not hold a linear row; the fd check
        // comes next (and refuses /dev/null).
        let mut params = DmabufParams::new();
        params.add(0, dev_null(), 0, 16, 1 << 56 | 2).unwrap();
        assert!(matches!(
            create(params, 16, 16, ARGB8888),
            ParamsError::NotDmabuf { .. }
        ));
    }

    #[test]
    fn overflow_is_caught_before_the_fd_is_looked_at() {
        let mut params = DmabufParams::new();
        // 1 + 64 KiB × 64 Ki rows: one byte past 4 GiB.
        params.add(0, dev_null(), 1, 1 << 16, LINEAR).unwrap();
        let err = create(params, 1 << 14, 1 << 16, ARGB8888);
        assert_eq!(
            err,
            ParamsError::PlaneOverflow {
                plane: 0,
                offset: 1,
                stride: 1 << 16,
                rows: 1 << 16
            }
        );
        assert_eq!(err.protocol_error(), ParamsProtocolError::OutOfBounds);
    }

    #[test]
    fn nv12_chroma_plane_is_checked_with_subsampled_size() {
        // UV of a 5×3 NV12 image: 2 rows of 3 two-byte samples.
        let mut params = one_plane(dev_null(), 5);
        params.add(1, dev_null(), 100, 5, LINEAR).unwrap();
        let err = create(params, 5, 3, NV12);
        assert_eq!(
            err,
            ParamsError::StrideTooSmall {
                plane: 1,
                stride: 5,
                min: 6
            }
        );
    }

    fn assert_not_dmabuf(fd: OwnedFd) {
        let err = create(one_plane(fd, 64), 16, 16, ARGB8888);
        assert!(
            matches!(err, ParamsError::NotDmabuf { plane: 0, .. }),
            "{err:?}"
        );
        assert_eq!(err.protocol_error(), ParamsProtocolError::InvalidWlBuffer);
    }

    #[test]
    fn pipe_is_not_a_dmabuf() {
        let (reader, _writer) = rustix::pipe::pipe().unwrap();
        assert_not_dmabuf(reader);
    }

    #[test]
    fn memfd_is_not_a_dmabuf() {
        // Large enough for the plane: only the filesystem check can refuse it.
        assert_not_dmabuf(memfd(64 * 16));
    }

    #[test]
    fn regular_file_is_not_a_dmabuf() {
        let file = File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        assert_not_dmabuf(file.into());
    }

    #[test]
    fn device_node_is_not_a_dmabuf() {
        assert_not_dmabuf(dev_null());
    }

    #[test]
    fn every_error_has_its_protocol_code() {
        use ParamsProtocolError as P;
        let cases = [
            (ParamsError::PlaneIndex { index: 4 }, P::PlaneIdx, 1),
            (ParamsError::PlaneSet { index: 0 }, P::PlaneSet, 2),
            (ParamsError::MissingPlane { index: 0 }, P::Incomplete, 3),
            (
                ParamsError::UnsupportedFormat { fourcc: 0 },
                P::InvalidFormat,
                4,
            ),
            (
                ParamsError::InvalidDimensions {
                    width: 0,
                    height: 0,
                },
                P::InvalidDimensions,
                5,
            ),
            (
                ParamsError::PlaneOutOfBounds {
                    plane: 0,
                    end: 2,
                    fd_size: 1,
                },
                P::OutOfBounds,
                6,
            ),
            (
                ParamsError::FdQuery {
                    plane: 0,
                    call: FdCall::Lseek,
                    errno: Errno::BADF,
                },
                P::InvalidWlBuffer,
                7,
            ),
        ];
        for (err, code, value) in cases {
            assert_eq!(err.protocol_error(), code, "{err}");
            assert_eq!(code as u32, value);
        }
        assert_eq!(P::AlreadyUsed as u32, 0);
    }
}
