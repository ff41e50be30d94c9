//! Binary semaphores with SYNC_FD payloads: the bridge between a submission
//! and the kernel's sync_files (`VK_KHR_external_semaphore_fd`).
//!
//! * [`Semaphore::from_sync_file`]: a submission waits for a kernel fence,
//!   e.g. a dma-buf's implicit write fence.
//! * [`Semaphore::exportable`]: a submission signals it, and afterwards its
//!   payload becomes a sync_file (`Submitted::export_sync_file` in
//!   `commands.rs`), e.g. to add to a dma-buf as a write fence.
//!
//! Whether SYNC_FD works is [`Capabilities::semaphore_sync_fd`](super::Capabilities::semaphore_sync_fd),
//! asked of the driver; creation alone proves nothing (lavapipe creates an
//! exportable semaphore where it cannot export one).

use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::sync::Arc;

use ash::vk;

use super::conv::{map_export_err, map_host_device_oom_err, map_import_err};
use super::{Device, VulkanError};
use crate::sync::SyncFile;

/// A binary semaphore of a [`Device`], destroyed on drop.
///
/// Submissions that wait on or signal it hold it until their fence
/// signalled (`commands.rs`), so it is never destroyed while in use.
pub(super) struct Semaphore {
    raw: vk::Semaphore,
    device: Arc<Device>,
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semaphore")
            .field("raw", &self.raw)
            .finish_non_exhaustive()
    }
}

impl Semaphore {
    fn create(
        device: &Arc<Device>,
        info: &vk::SemaphoreCreateInfo<'_>,
    ) -> Result<Self, VulkanError> {
        // SAFETY: a binary semaphore; the only structure ever chained is
        // VkExportSemaphoreCreateInfo with SYNC_FD, which the device exports
        // (checked by the caller, VUID-VkExportSemaphoreCreateInfo-handleTypes-01124).
        let raw = unsafe { device.raw().create_semaphore(info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateSemaphore", r))?;
        Ok(Self {
            raw,
            device: Arc::clone(device),
        })
    }

    /// A semaphore whose payload is `fence`, imported temporarily
    /// (`VK_SEMAPHORE_IMPORT_TEMPORARY_BIT`, the only way SYNC_FD imports):
    /// a submission that waits on it waits for the kernel fence.
    pub(super) fn from_sync_file(
        device: &Arc<Device>,
        fence: SyncFile,
    ) -> Result<Self, VulkanError> {
        let loader = match device.semaphore_fd() {
            Some(loader) if device.capabilities().semaphore_sync_fd.import => loader,
            _ => return Err(VulkanError::SyncFdUnsupported { what: "import" }),
        };
        let semaphore = Self::create(device, &vk::SemaphoreCreateInfo::default())?;
        let fd = fence.into_fd().into_raw_fd();
        let info = vk::ImportSemaphoreFdInfoKHR::default()
            .semaphore(semaphore.raw)
            .flags(vk::SemaphoreImportFlags::TEMPORARY)
            .handle_type(vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD)
            .fd(fd);
        // SAFETY: the semaphore is new, so no queue uses it
        // (VUID-vkImportSemaphoreFdKHR-semaphore-01142); SYNC_FD is imported
        // temporarily (VUID-VkImportSemaphoreFdInfoKHR-handleType-07307) and
        // the device imports it (Capabilities, checked above); `fd` is a
        // sync_file this call owns. On success the driver owns the fd.
        match unsafe { loader.import_semaphore_fd(&info) } {
            Ok(()) => Ok(semaphore),
            Err(result) => {
                // SAFETY: on failure ownership stays with the application
                // (VK_KHR_external_semaphore_fd; Mesa leaves the fd open), and
                // `fd` came from `into_raw_fd` above, closed nowhere else.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
                Err(map_import_err("vkImportSemaphoreFdKHR", result))
            }
        }
    }

    /// A semaphore whose payload can be exported as a sync_file once a
    /// submitted signal operation is pending on it.
    pub(super) fn exportable(device: &Arc<Device>) -> Result<Self, VulkanError> {
        if device.semaphore_fd().is_none() || !device.capabilities().semaphore_sync_fd.export {
            return Err(VulkanError::SyncFdUnsupported { what: "export" });
        }
        let mut export = vk::ExportSemaphoreCreateInfo::default()
            .handle_types(vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD);
        Self::create(
            device,
            &vk::SemaphoreCreateInfo::default().push_next(&mut export),
        )
    }

    /// The semaphore's handle.
    pub(super) fn raw(&self) -> vk::Semaphore {
        self.raw
    }

    /// The payload as a sync_file (`vkGetSemaphoreFdKHR`, SYNC_FD), or `None`
    /// when the driver reports it already signalled (fd -1).
    ///
    /// # Safety
    ///
    /// The semaphore was created [`exportable`](Self::exportable) and a
    /// signal operation on it has been submitted
    /// (VUID-VkSemaphoreGetFdInfoKHR-handleType-03254).
    pub(super) unsafe fn export_sync_file(&self) -> Result<Option<SyncFile>, VulkanError> {
        let loader = self
            .device
            .semaphore_fd()
            .ok_or(VulkanError::SyncFdUnsupported { what: "export" })?;
        let info = vk::SemaphoreGetFdInfoKHR::default()
            .semaphore(self.raw)
            .handle_type(vk::ExternalSemaphoreHandleTypeFlags::SYNC_FD);
        // SAFETY: the semaphore was created with SYNC_FD in its export handle
        // types (VUID-VkSemaphoreGetFdInfoKHR-handleType-01132) and has a
        // submitted signal operation (the caller's contract).
        let fd = unsafe { loader.get_semaphore_fd(&info) }
            .map_err(|r| map_export_err("vkGetSemaphoreFdKHR", r))?;
        if fd < 0 {
            return Ok(None);
        }
        // SAFETY: a successful export hands a new fd to the application.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Some(SyncFile::from_fd(fd)?))
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        // SAFETY: the submissions that use the semaphore hold it until their
        // fence signalled, so no batch that refers to it is pending
        // (VUID-vkDestroySemaphore-semaphore-05149).
        unsafe { self.device.raw().destroy_semaphore(self.raw, None) };
    }
}
