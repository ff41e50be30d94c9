//! [`SyncFile`]: an owned kernel sync_file, and the dma-buf ioctls that move
//! fences between sync_files and a dma-buf's implicit-sync reservation object.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use tracing::debug;

use super::sys;

/// `DMA_BUF_MAGIC` from `<uapi/linux/magic.h>`: `f_type` of a dma-buf's file system.
const DMA_BUF_MAGIC: u32 = 0x444d_4142;

/// Errors of the sync_file operations.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The kernel does not know the ioctl (`ENOTTY` on an fd of the right
    /// kind). `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` and `_IMPORT_SYNC_FILE` need
    /// Linux 5.20/6.0 or newer; callers fall back to implicit sync.
    #[error("the kernel does not support {op}")]
    Unsupported {
        /// The ioctl the kernel rejected, as the UAPI header names it.
        op: &'static str,
    },
    /// The fd passed as a dma-buf is not one (its file system is not the
    /// dma-buf file system), so the dma-buf ioctls do not apply to it.
    #[error("the fd is not a dma-buf")]
    NotADmabuf,
    /// [`SyncFile::from_fd`] was given an fd that does not answer
    /// `SYNC_IOC_FILE_INFO`: a pipe, a memfd, a dma-buf, anything but a
    /// sync_file. The fd has been closed.
    #[error("the fd is not a sync_file")]
    NotASyncFile,
    /// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE` failed: `ENOMEM` when the kernel could
    /// not build the fence array, `EMFILE` when the fd table is full.
    #[error("exporting a {access:?} sync_file from a dma-buf")]
    Export {
        /// The access the sync_file was asked for.
        access: SyncAccess,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE` failed: `ENOMEM` when the reservation
    /// object could not grow, `EINVAL` if the kernel no longer sees a sync_file.
    #[error("importing a sync_file into a dma-buf for {access:?} access")]
    Import {
        /// The access the fence was added for.
        access: SyncAccess,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
    /// `SYNC_IOC_MERGE` failed: `ENOMEM` when the merged fence array could not
    /// be allocated, `EMFILE` when the fd table is full.
    #[error("merging two sync_files")]
    Merge(#[source] Errno),
    /// `SYNC_IOC_FILE_INFO` failed on a sync_file: `ENOMEM` when the kernel
    /// could not allocate the per-fence records.
    #[error("querying a sync_file")]
    Info(#[source] Errno),
    /// `poll()` on the sync_file failed (`ENOMEM`), or reported an error
    /// condition instead of readability (`EIO`; the sync_file poll
    /// implementation never does).
    #[error("waiting on a sync_file")]
    Wait(#[source] Errno),
}

/// Which access a fence guards, in the dma-buf UAPI's terms
/// (`DMA_BUF_SYNC_READ` / `DMA_BUF_SYNC_WRITE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncAccess {
    /// Reading the buffer.
    Read,
    /// Writing the buffer.
    Write,
}

impl SyncAccess {
    fn flags(self) -> u32 {
        match self {
            Self::Read => sys::DMA_BUF_SYNC_READ,
            Self::Write => sys::DMA_BUF_SYNC_WRITE,
        }
    }
}

/// What [`SyncFile::wait`] ended with.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The fence signalled (possibly with an error status, see
    /// [`SyncFile::info`]).
    Signalled,
    /// The timeout passed first.
    TimedOut,
}

/// State of a fence as the kernel reports it (`dma_fence_get_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceStatus {
    /// Not signalled yet.
    Active,
    /// Signalled without error.
    Signalled,
    /// Signalled with an error the driver set on the fence (a GPU hang, a
    /// timeout).
    Error(Errno),
}

impl FenceStatus {
    fn from_kernel(status: i32) -> Self {
        match status {
            0 => Self::Active,
            s if s > 0 => Self::Signalled,
            s => Self::Error(Errno::from_raw_os_error(-s)),
        }
    }
}

/// What `SYNC_IOC_FILE_INFO` says about a sync_file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncFileInfo {
    /// The name given at creation or merge (at most 31 bytes).
    pub name: String,
    /// The status of the whole sync_file: signalled once every fence is.
    pub status: FenceStatus,
    /// One record per fence the sync_file holds.
    pub fences: Vec<FenceInfo>,
}

/// One fence inside a sync_file (`struct sync_fence_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceInfo {
    /// The driver that created the fence (`driver_name`), e.g. `vgem`.
    pub driver: String,
    /// The fence's timeline (`obj_name`).
    pub timeline: String,
    /// The fence's status.
    pub status: FenceStatus,
    /// When the fence signalled, on `CLOCK_MONOTONIC`; `None` while active.
    pub signalled_at: Option<Duration>,
}

/// An owned sync_file: a kernel fence (or set of fences) as an fd.
///
/// A sync_file is readable (`POLLIN`) once every fence it holds has signalled;
/// [`wait`](Self::wait) blocks on that, [`FenceSource`](super::FenceSource)
/// waits for it on a calloop event loop without blocking.
#[must_use = "a SyncFile is a fence; dropping it forgets what must be waited for"]
#[derive(Debug)]
pub struct SyncFile(OwnedFd);

impl SyncFile {
    /// Takes ownership of `fd` after checking that it is a sync_file
    /// (`SYNC_IOC_FILE_INFO` succeeds on it).
    ///
    /// On error `fd` is closed.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, SyncError> {
        match sys::file_info_header(fd.as_fd()) {
            Ok(_) => Ok(Self(fd)),
            Err(Errno::NOTTY | Errno::INVAL) => Err(SyncError::NotASyncFile),
            Err(errno) => Err(SyncError::Info(errno)),
        }
    }

    /// Gives up ownership of the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.0
    }

    /// Snapshots the fences of `dmabuf` that `access` must wait for
    /// (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`).
    ///
    /// From the kernel UAPI (`<linux/dma-buf.h>`):
    /// * [`SyncAccess::Read`]: the sync_file waits on the **writers** of the
    ///   dma-buf: what a reader must wait for. Equivalent to `poll()` with
    ///   `POLLIN` on the dma-buf.
    /// * [`SyncAccess::Write`]: the sync_file waits on **all users**, readers
    ///   and writers: what a writer must wait for. Equivalent to `poll()` with
    ///   `POLLOUT`.
    ///
    /// A dma-buf without such fences gives an already-signalled sync_file.
    /// The snapshot does not follow fences added later.
    pub fn export_from_dmabuf(
        dmabuf: BorrowedFd<'_>,
        access: SyncAccess,
    ) -> Result<Self, SyncError> {
        match sys::export_sync_file(dmabuf, access.flags()) {
            Ok(fd) => Ok(Self(fd)),
            Err(Errno::NOTTY) => Err(not_supported_or_not_dmabuf(
                dmabuf,
                "DMA_BUF_IOCTL_EXPORT_SYNC_FILE",
            )),
            Err(errno) => Err(SyncError::Export { access, errno }),
        }
    }

    /// Adds this sync_file's fence to `dmabuf` as a fence for `access`
    /// (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`), so that implicitly synchronized
    /// users of the buffer wait for it.
    ///
    /// From the kernel UAPI (`<linux/dma-buf.h>`):
    /// * [`SyncAccess::Read`]: a read-only fence: later implicitly
    ///   synchronized writes wait on it, reads do not.
    /// * [`SyncAccess::Write`]: a write fence: every later implicitly
    ///   synchronized access waits on it.
    pub fn import_into_dmabuf(
        &self,
        dmabuf: BorrowedFd<'_>,
        access: SyncAccess,
    ) -> Result<(), SyncError> {
        match sys::import_sync_file(dmabuf, access.flags(), self.0.as_fd()) {
            Ok(()) => Ok(()),
            Err(Errno::NOTTY) => Err(not_supported_or_not_dmabuf(
                dmabuf,
                "DMA_BUF_IOCTL_IMPORT_SYNC_FILE",
            )),
            Err(errno) => Err(SyncError::Import { access, errno }),
        }
    }

    /// A new sync_file that signals once both `self` and `other` have
    /// (`SYNC_IOC_MERGE`).
    ///
    /// `name` is a debugging label: the kernel keeps 31 bytes of it, so it is
    /// cut at the last character boundary that fits and at the first NUL.
    pub fn merge(&self, other: &SyncFile, name: &str) -> Result<SyncFile, SyncError> {
        match sys::merge(self.0.as_fd(), other.0.as_fd(), kernel_name(name)) {
            Ok(fd) => Ok(Self(fd)),
            Err(Errno::NOTTY) => Err(unsupported("SYNC_IOC_MERGE")),
            Err(errno) => Err(SyncError::Merge(errno)),
        }
    }

    /// Blocks until the fence signals or `timeout` passes (`None`: no
    /// timeout). Interrupted `poll()` calls are resumed with the time left
    /// until the original deadline.
    ///
    /// Never call this from an event loop; use
    /// [`FenceSource`](super::FenceSource) there.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<WaitOutcome, SyncError> {
        wait_readable(self.0.as_fd(), timeout)
    }

    /// Whether the fence has signalled, without blocking.
    pub fn is_signalled(&self) -> Result<bool, SyncError> {
        Ok(self.wait(Some(Duration::ZERO))? == WaitOutcome::Signalled)
    }

    /// The sync_file's name, status, and its fences (`SYNC_IOC_FILE_INFO`,
    /// called once for the fence count and once for the records).
    pub fn info(&self) -> Result<SyncFileInfo, SyncError> {
        let map = |errno| match errno {
            Errno::NOTTY => unsupported("SYNC_IOC_FILE_INFO"),
            errno => SyncError::Info(errno),
        };
        let (_, count) = sys::file_info_header(self.0.as_fd()).map_err(map)?;
        let (info, fences) = sys::file_info(self.0.as_fd(), count).map_err(map)?;
        Ok(SyncFileInfo {
            name: c_string(&info.name),
            status: FenceStatus::from_kernel(info.status),
            fences: fences
                .iter()
                .map(|fence| {
                    let status = FenceStatus::from_kernel(fence.status);
                    FenceInfo {
                        driver: c_string(&fence.driver_name),
                        timeline: c_string(&fence.obj_name),
                        status,
                        signalled_at: (status != FenceStatus::Active)
                            .then(|| Duration::from_nanos(fence.timestamp_ns)),
                    }
                })
                .collect(),
        })
    }
}

impl AsFd for SyncFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<SyncFile> for OwnedFd {
    fn from(sync_file: SyncFile) -> Self {
        sync_file.into_fd()
    }
}

/// `poll()` for `POLLIN` until `timeout` (`None`: forever), resuming after
/// `EINTR` with the time left until the original deadline.
fn wait_readable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<WaitOutcome, SyncError> {
    // A timeout too long to represent as a deadline is no timeout.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let left = deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
            .and_then(|left| Timespec::try_from(left).ok());
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, left.as_ref()) {
            Ok(0) => return Ok(WaitOutcome::TimedOut),
            Ok(_) if fds[0].revents().contains(PollFlags::IN) => {
                return Ok(WaitOutcome::Signalled);
            }
            Ok(_) => return Err(SyncError::Wait(Errno::IO)),
            Err(Errno::INTR) => continue,
            Err(errno) => return Err(SyncError::Wait(errno)),
        }
    }
}

fn unsupported(op: &'static str) -> SyncError {
    debug!(op, "kernel does not support the ioctl (ENOTTY)");
    SyncError::Unsupported { op }
}

/// `ENOTTY` from a dma-buf ioctl means either an old kernel or an fd that is
/// not a dma-buf; the file system magic tells which.
fn not_supported_or_not_dmabuf(fd: BorrowedFd<'_>, op: &'static str) -> SyncError {
    if is_dmabuf(fd) {
        unsupported(op)
    } else {
        SyncError::NotADmabuf
    }
}

fn is_dmabuf(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstatfs(fd).is_ok_and(|st| st.f_type == rustix::fs::FsWord::from(DMA_BUF_MAGIC))
}

/// `name` as the kernel's `char name[32]`: at most 31 bytes, cut at a
/// character boundary and at the first NUL, NUL-terminated.
fn kernel_name(name: &str) -> [u8; 32] {
    let name = name.split('\0').next().unwrap_or_default();
    let mut end = name.len().min(31);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = [0; 32];
    out[..end].copy_from_slice(&name.as_bytes()[..end]);
    out
}

/// A kernel `char[32]` name: up to the first NUL (the whole array if none),
/// invalid UTF-8 replaced.
fn c_string(bytes: &[u8; 32]) -> String {
    match CStr::from_bytes_until_nul(bytes) {
        Ok(name) => name.to_string_lossy().into_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rustix::fs::{MemfdFlags, memfd_create};
    use rustix::pipe::pipe;

    #[test]
    fn from_fd_rejects_a_pipe() {
        let (reader, _writer) = pipe().unwrap();
        assert!(matches!(
            SyncFile::from_fd(reader),
            Err(SyncError::NotASyncFile)
        ));
    }

    #[test]
    fn from_fd_rejects_a_memfd() {
        let memfd = memfd_create("not-a-sync-file", MemfdFlags::CLOEXEC).unwrap();
        assert!(matches!(
            SyncFile::from_fd(memfd),
            Err(SyncError::NotASyncFile)
        ));
    }

    #[test]
    fn export_from_a_memfd_is_not_a_dmabuf() {
        let memfd = memfd_create("not-a-dmabuf", MemfdFlags::CLOEXEC).unwrap();
        for access in [SyncAccess::Read, SyncAccess::Write] {
            let err = SyncFile::export_from_dmabuf(memfd.as_fd(), access).unwrap_err();
            assert!(matches!(err, SyncError::NotADmabuf), "{err:?}");
        }
    }

    #[test]
    fn wait_times_out_after_the_deadline_then_sees_readiness() {
        let (reader, writer) = pipe().unwrap();
        assert_eq!(
            wait_readable(reader.as_fd(), Some(Duration::ZERO)).unwrap(),
            WaitOutcome::TimedOut
        );

        let start = Instant::now();
        let outcome = wait_readable(reader.as_fd(), Some(Duration::from_millis(30))).unwrap();
        assert_eq!(outcome, WaitOutcome::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(30));

        rustix::io::write(&writer, b"x").unwrap();
        assert_eq!(
            wait_readable(reader.as_fd(), None).unwrap(),
            WaitOutcome::Signalled
        );
        assert_eq!(
            wait_readable(reader.as_fd(), Some(Duration::MAX)).unwrap(),
            WaitOutcome::Signalled
        );
    }

    #[test]
    fn kernel_name_is_cut_to_31_bytes_at_a_char_boundary() {
        let short = kernel_name("merged");
        assert_eq!(&short[..7], b"merged\0");

        let long = kernel_name(&"x".repeat(40));
        assert_eq!(&long[..31], "x".repeat(31).as_bytes());
        assert_eq!(long[31], 0);

        // 30 ASCII bytes + a 2-byte 'é' would end at byte 32: the 'é' is dropped.
        let accented = kernel_name(&format!("{}é", "a".repeat(30)));
        assert_eq!(c_string(&accented), "a".repeat(30));

        assert_eq!(c_string(&kernel_name("fence\0tail")), "fence");
    }

    #[test]
    fn c_string_reads_up_to_nul_or_the_whole_array() {
        let mut bytes = [0; 32];
        bytes[..4].copy_from_slice(b"vgem");
        assert_eq!(c_string(&bytes), "vgem");
        assert_eq!(c_string(&[b'a'; 32]), "a".repeat(32));
    }

    #[test]
    fn fence_status_follows_dma_fence_get_status() {
        assert_eq!(FenceStatus::from_kernel(0), FenceStatus::Active);
        assert_eq!(FenceStatus::from_kernel(1), FenceStatus::Signalled);
        assert_eq!(
            FenceStatus::from_kernel(-Errno::TIMEDOUT.raw_os_error()),
            FenceStatus::Error(Errno::TIMEDOUT)
        );
    }

    #[test]
    fn access_flags_are_the_uapi_values() {
        assert_eq!(SyncAccess::Read.flags(), 1);
        assert_eq!(SyncAccess::Write.flags(), 2);
    }
}
