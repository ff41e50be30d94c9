//! A window's swapchain, for the nested backend: the compositor renders
//! its output into a device buffer as it does headless, and each presented
//! frame is copied from that buffer into the acquired swapchain image
//! (`vkCmdCopyBufferToImage`), which is then queued for presentation.
//!
//! Nothing here blocks the caller on the window system: images are
//! acquired with a zero timeout, and a frame whose slot is still in flight
//! is skipped ([`Presented::Busy`]), so the event loop never waits for the
//! display. Presentation prefers `MAILBOX`, then `IMMEDIATE`, then `FIFO`
//! (the one mode every driver has).
//!
//! The copy reads the buffer after the renderer's work on it: both are on
//! the device's one queue, and the copy's barrier orders it after every
//! write submitted before.

use std::sync::Arc;

use ash::vk;
use drm_fourcc::DrmFourcc;
use raw_window_handle::{HasDisplayHandle, HasWindowHandle};
use tracing::{debug, error};

use super::conv::{map_host_device_oom_and_lost_err, map_host_device_oom_err};
use super::{Buffer, Device, VulkanError};

/// Frames that can be in flight at once.
const SLOTS: usize = 2;

/// What [`Swapchain::present`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presented {
    /// The frame was queued for presentation.
    Queued,
    /// No image or slot was free: the previous frames are still in flight.
    /// Nothing was done; present a later frame.
    Busy,
    /// The surface changed (the window was resized): call
    /// [`Swapchain::resize`] before the next frame.
    OutOfDate,
}

/// One frame in flight: its command buffer, the semaphore its image's
/// acquisition signals, the fence its copy signals, and the buffer the copy
/// reads, kept alive until the fence signalled.
struct Slot {
    cmd: vk::CommandBuffer,
    acquired: vk::Semaphore,
    fence: vk::Fence,
    source: Option<Arc<Buffer>>,
}

/// A surface of a window and the swapchain presenting to it.
///
/// Fields are in destruction order (`Drop` waits for the queue first); the
/// device is released last.
pub(crate) struct Swapchain {
    slots: Vec<Slot>,
    next: usize,
    pool: vk::CommandPool,
    /// One per image: signalled by the copy into it, waited on by its
    /// presentation.
    copied: Vec<vk::Semaphore>,
    images: Vec<vk::Image>,
    swapchain: vk::SwapchainKHR,
    format: vk::SurfaceFormatKHR,
    present_mode: vk::PresentModeKHR,
    extent: vk::Extent2D,
    surface: vk::SurfaceKHR,
    surface_fn: ash::khr::surface::Instance,
    device: Arc<Device>,
}

impl std::fmt::Debug for Swapchain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Swapchain")
            .field("format", &self.format.format)
            .field("present_mode", &self.present_mode)
            .field("extent", &self.extent)
            .field("images", &self.images.len())
            .finish_non_exhaustive()
    }
}

impl Swapchain {
    /// A surface for `window` and a swapchain of `size` (the window's inner
    /// size in pixels). The device's instance must have been made with
    /// [`Instance::for_display`](super::Instance::for_display) for the
    /// window's display.
    pub(crate) fn new(
        device: &Arc<Device>,
        window: &(impl HasDisplayHandle + HasWindowHandle),
        size: (u32, u32),
    ) -> Result<Self, VulkanError> {
        let swapchain_fn = device.swapchain().ok_or(VulkanError::CannotPresent {
            reason: "no VK_KHR_swapchain (or no surface extensions on the instance)",
        })?;
        let instance = device.instance();
        let display = window
            .display_handle()
            .map_err(|_| VulkanError::CannotPresent {
                reason: "the window has no display handle",
            })?;
        let handle = window
            .window_handle()
            .map_err(|_| VulkanError::CannotPresent {
                reason: "the window has no window handle",
            })?;
        // SAFETY: the instance was made with the display's surface
        // extensions (checked by `device.swapchain()` being there); the
        // handles are of a live window, which outlives the surface (the
        // caller keeps the window until this swapchain is dropped).
        let surface = unsafe {
            ash_window::create_surface(
                instance.entry(),
                instance.ash(),
                display.as_raw(),
                handle.as_raw(),
                None,
            )
        }
        .map_err(|r| map_host_device_oom_err("vkCreate*SurfaceKHR", r))?;
        let surface_fn = ash::khr::surface::Instance::new(instance.entry(), instance.ash());
        // From here on, a failure destroys the surface (Drop).
        let mut this = Self {
            slots: Vec::new(),
            next: 0,
            pool: vk::CommandPool::null(),
            copied: Vec::new(),
            images: Vec::new(),
            swapchain: vk::SwapchainKHR::null(),
            format: vk::SurfaceFormatKHR::default(),
            present_mode: vk::PresentModeKHR::FIFO,
            extent: vk::Extent2D::default(),
            surface,
            surface_fn,
            device: Arc::clone(device),
        };
        // SAFETY: the surface and the physical device are this instance's;
        // the queue family index is the device's.
        let supported = unsafe {
            this.surface_fn.get_physical_device_surface_support(
                device.physical(),
                device.queue_family(),
                surface,
            )
        }
        .map_err(|r| map_host_device_oom_err("vkGetPhysicalDeviceSurfaceSupportKHR", r))?;
        if !supported {
            return Err(VulkanError::CannotPresent {
                reason: "the device's queue cannot present to the window's surface",
            });
        }
        this.format = this.choose_format()?;
        this.present_mode = this.choose_present_mode()?;
        this.slots = (0..SLOTS)
            .map(|_| this.new_slot())
            .collect::<Result<_, _>>()?;
        this.create_swapchain(size, swapchain_fn)?;
        debug!(swapchain = ?this, "swapchain created");
        Ok(this)
    }

    /// The fourcc whose bytes the swapchain's images hold, so the
    /// compositor renders into a buffer of the same layout.
    pub(crate) fn fourcc(&self) -> DrmFourcc {
        match self.format.format {
            vk::Format::R8G8B8A8_UNORM | vk::Format::R8G8B8A8_SRGB => DrmFourcc::Xbgr8888,
            _ => DrmFourcc::Xrgb8888,
        }
    }

    /// Makes the swapchain anew for a window of `size`, after the window
    /// was resized or [`Presented::OutOfDate`]. Waits for the frames in
    /// flight when there is a swapchain to retire.
    pub(crate) fn resize(&mut self, size: (u32, u32)) -> Result<(), VulkanError> {
        let device = Arc::clone(&self.device);
        let swapchain_fn = device.swapchain().ok_or(VulkanError::CannotPresent {
            reason: "no VK_KHR_swapchain",
        })?;
        self.create_swapchain(size, swapchain_fn)
    }

    /// Copies the `width` × `height` image at the start of `source`, rows
    /// `stride` bytes apart and 4 bytes a pixel in [`fourcc`](Self::fourcc)
    /// layout, into the next image and queues it for presentation. Parts
    /// outside either size are left out (the window may have been resized
    /// since the frame was drawn).
    pub(crate) fn present(
        &mut self,
        source: &Arc<Buffer>,
        stride: u32,
        width: u32,
        height: u32,
    ) -> Result<Presented, VulkanError> {
        let raw = self.device.raw();
        let Some(swapchain_fn) = self.device.swapchain() else {
            return Err(VulkanError::CannotPresent {
                reason: "no VK_KHR_swapchain",
            });
        };
        if self.swapchain == vk::SwapchainKHR::null() {
            return Ok(Presented::OutOfDate);
        }
        let slot = &mut self.slots[self.next];
        // SAFETY: the fence is this device's.
        let idle = unsafe { raw.get_fence_status(slot.fence) }
            .map_err(|r| map_host_device_oom_and_lost_err("vkGetFenceStatus", r))?;
        if !idle {
            return Ok(Presented::Busy);
        }
        // SAFETY: the swapchain and the semaphore are this device's; the
        // semaphore has no pending operation (its last wait was in the
        // slot's previous submission, whose fence signalled); a zero timeout
        // never blocks.
        let acquired = unsafe {
            swapchain_fn.acquire_next_image(self.swapchain, 0, slot.acquired, vk::Fence::null())
        };
        let index = match acquired {
            Ok((index, _suboptimal)) => index,
            Err(vk::Result::NOT_READY | vk::Result::TIMEOUT) => return Ok(Presented::Busy),
            Err(vk::Result::ERROR_OUT_OF_DATE_KHR) => return Ok(Presented::OutOfDate),
            Err(vk::Result::ERROR_SURFACE_LOST_KHR) => {
                return Err(VulkanError::CannotPresent {
                    reason: "the window's surface is lost",
                });
            }
            Err(r) => return Err(map_host_device_oom_and_lost_err("vkAcquireNextImageKHR", r)),
        };
        let image = self.images[index as usize];
        let copied = self.copied[index as usize];
        slot.source = Some(Arc::clone(source));
        let region = vk::Extent3D {
            width: width.min(self.extent.width),
            height: height.min(self.extent.height),
            depth: 1,
        };
        // SAFETY: the fence signalled (checked above), so the command buffer
        // is not pending and may be reset (its pool has
        // RESET_COMMAND_BUFFER); the fence is reset before its next
        // submission.
        unsafe {
            raw.reset_fences(&[slot.fence])
                .map_err(|r| map_host_device_oom_err("vkResetFences", r))?;
            raw.begin_command_buffer(
                slot.cmd,
                &vk::CommandBufferBeginInfo::default()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )
            .map_err(|r| map_host_device_oom_err("vkBeginCommandBuffer", r))?;
        }
        record_copy(raw, slot.cmd, source.raw(), stride, image, region);
        // SAFETY: recording was begun above and nothing is left open.
        unsafe { raw.end_command_buffer(slot.cmd) }
            .map_err(|r| map_host_device_oom_err("vkEndCommandBuffer", r))?;
        let waits = [slot.acquired];
        let stages = [vk::PipelineStageFlags::TRANSFER];
        let cmds = [slot.cmd];
        let signals = [copied];
        let submit = [vk::SubmitInfo::default()
            .wait_semaphores(&waits)
            .wait_dst_stage_mask(&stages)
            .command_buffers(&cmds)
            .signal_semaphores(&signals)];
        // SAFETY: the command buffer is executable; the acquire semaphore
        // has a pending signal (the acquisition above); the image's `copied`
        // semaphore is unsignalled (its last signal was waited on by the
        // image's previous presentation, which completed since the image
        // was acquired again); the fence was reset above.
        unsafe { self.device.submit(&submit, slot.fence) }?;
        self.next = (self.next + 1) % SLOTS;

        let swapchains = [self.swapchain];
        let indices = [index];
        let info = vk::PresentInfoKHR::default()
            .wait_semaphores(&signals)
            .swapchains(&swapchains)
            .image_indices(&indices);
        // SAFETY: the image was acquired above and its copy, which leaves it
        // in PRESENT_SRC_KHR, signals the semaphore waited on.
        let presented = unsafe { self.device.present(&info) };
        match presented {
            Some(Ok(false)) => Ok(Presented::Queued),
            Some(Ok(true) | Err(vk::Result::ERROR_OUT_OF_DATE_KHR)) => Ok(Presented::OutOfDate),
            Some(Err(vk::Result::ERROR_SURFACE_LOST_KHR)) => Err(VulkanError::CannotPresent {
                reason: "the window's surface is lost",
            }),
            Some(Err(r)) => Err(map_host_device_oom_and_lost_err("vkQueuePresentKHR", r)),
            None => Err(VulkanError::CannotPresent {
                reason: "no VK_KHR_swapchain",
            }),
        }
    }

    /// The surface's format for 8-bit BGRA or RGBA, BGRA first: the
    /// compositor's buffers are XRGB8888, which is BGRA in memory.
    fn choose_format(&self) -> Result<vk::SurfaceFormatKHR, VulkanError> {
        // SAFETY: the surface and the physical device are this instance's.
        let formats = unsafe {
            self.surface_fn
                .get_physical_device_surface_formats(self.device.physical(), self.surface)
        }
        .map_err(|r| map_host_device_oom_err("vkGetPhysicalDeviceSurfaceFormatsKHR", r))?;
        [
            vk::Format::B8G8R8A8_UNORM,
            vk::Format::B8G8R8A8_SRGB,
            vk::Format::R8G8B8A8_UNORM,
            vk::Format::R8G8B8A8_SRGB,
        ]
        .iter()
        .find_map(|&wanted| formats.iter().find(|f| f.format == wanted).copied())
        .ok_or(VulkanError::CannotPresent {
            reason: "the surface offers no 8-bit BGRA or RGBA format",
        })
    }

    /// `MAILBOX`, else `IMMEDIATE`, else `FIFO`: the modes in which
    /// presenting never waits for a vertical blank.
    fn choose_present_mode(&self) -> Result<vk::PresentModeKHR, VulkanError> {
        // SAFETY: the surface and the physical device are this instance's.
        let modes = unsafe {
            self.surface_fn
                .get_physical_device_surface_present_modes(self.device.physical(), self.surface)
        }
        .map_err(|r| map_host_device_oom_err("vkGetPhysicalDeviceSurfacePresentModesKHR", r))?;
        Ok([vk::PresentModeKHR::MAILBOX, vk::PresentModeKHR::IMMEDIATE]
            .into_iter()
            .find(|mode| modes.contains(mode))
            .unwrap_or(vk::PresentModeKHR::FIFO))
    }

    /// A slot's command buffer (from the pool, made with the first slot),
    /// semaphore and signalled fence.
    fn new_slot(&mut self) -> Result<Slot, VulkanError> {
        let raw = self.device.raw();
        if self.pool == vk::CommandPool::null() {
            let info = vk::CommandPoolCreateInfo::default()
                .flags(vk::CommandPoolCreateFlags::RESET_COMMAND_BUFFER)
                .queue_family_index(self.device.queue_family());
            // SAFETY: the queue family is the device's one queue's.
            self.pool = unsafe { raw.create_command_pool(&info, None) }
                .map_err(|r| map_host_device_oom_err("vkCreateCommandPool", r))?;
        }
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(self.pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool is this device's and only this object uses it.
        let cmd = unsafe { raw.allocate_command_buffers(&info) }
            .map_err(|r| map_host_device_oom_err("vkAllocateCommandBuffers", r))?[0];
        // SAFETY: a plain binary semaphore, nothing chained.
        let acquired = unsafe { raw.create_semaphore(&vk::SemaphoreCreateInfo::default(), None) }
            .map_err(|r| map_host_device_oom_err("vkCreateSemaphore", r))?;
        let signalled = vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::SIGNALED);
        // SAFETY: a signalled fence, nothing chained.
        let fence = match unsafe { raw.create_fence(&signalled, None) } {
            Ok(fence) => fence,
            Err(r) => {
                // SAFETY: just made, never used.
                unsafe { raw.destroy_semaphore(acquired, None) };
                return Err(map_host_device_oom_err("vkCreateFence", r));
            }
        };
        Ok(Slot {
            cmd,
            acquired,
            fence,
            source: None,
        })
    }

    /// (Re)creates the swapchain for a window of `size` from the surface's
    /// current capabilities, retiring the previous one once the queue is
    /// idle. A minimised window (no extent) gets no swapchain, and asking
    /// again while it stays minimised waits for nothing.
    fn create_swapchain(
        &mut self,
        size: (u32, u32),
        swapchain_fn: &ash::khr::swapchain::Device,
    ) -> Result<(), VulkanError> {
        let physical = self.device.physical();
        // SAFETY: the surface and the physical device are this instance's.
        let caps = unsafe {
            self.surface_fn
                .get_physical_device_surface_capabilities(physical, self.surface)
        }
        .map_err(|r| map_host_device_oom_err("vkGetPhysicalDeviceSurfaceCapabilitiesKHR", r))?;
        if !caps
            .supported_usage_flags
            .contains(vk::ImageUsageFlags::TRANSFER_DST)
        {
            return Err(VulkanError::CannotPresent {
                reason: "the surface's images cannot be copied into",
            });
        }
        // A current extent of u32::MAX means the swapchain decides (Wayland).
        let extent = if caps.current_extent.width == u32::MAX {
            vk::Extent2D {
                width: size
                    .0
                    .clamp(caps.min_image_extent.width, caps.max_image_extent.width),
                height: size
                    .1
                    .clamp(caps.min_image_extent.height, caps.max_image_extent.height),
            }
        } else {
            caps.current_extent
        };
        let old = self.swapchain;
        if old == vk::SwapchainKHR::null() && (extent.width == 0 || extent.height == 0) {
            // Still minimised: nothing to retire, nothing to wait for.
            self.extent = extent;
            return Ok(());
        }
        if old != vk::SwapchainKHR::null() {
            // The old swapchain's images and semaphores may still be in use.
            self.device.wait_idle()?;
            for slot in &mut self.slots {
                slot.source = None;
            }
        }
        self.destroy_images();
        if extent.width == 0 || extent.height == 0 {
            // A minimised window: nothing to present to until it is shown.
            self.destroy_swapchain(old);
            self.swapchain = vk::SwapchainKHR::null();
            self.extent = extent;
            return Ok(());
        }
        let mut images = caps.min_image_count + 1;
        if caps.max_image_count != 0 {
            images = images.min(caps.max_image_count);
        }
        let alpha = [
            vk::CompositeAlphaFlagsKHR::OPAQUE,
            vk::CompositeAlphaFlagsKHR::INHERIT,
            vk::CompositeAlphaFlagsKHR::PRE_MULTIPLIED,
            vk::CompositeAlphaFlagsKHR::POST_MULTIPLIED,
        ]
        .into_iter()
        .find(|&a| caps.supported_composite_alpha.contains(a))
        .unwrap_or(vk::CompositeAlphaFlagsKHR::OPAQUE);
        let info = vk::SwapchainCreateInfoKHR::default()
            .surface(self.surface)
            .min_image_count(images)
            .image_format(self.format.format)
            .image_color_space(self.format.color_space)
            .image_extent(extent)
            .image_array_layers(1)
            .image_usage(vk::ImageUsageFlags::TRANSFER_DST)
            .image_sharing_mode(vk::SharingMode::EXCLUSIVE)
            .pre_transform(caps.current_transform)
            .composite_alpha(alpha)
            .present_mode(self.present_mode)
            .clipped(true)
            .old_swapchain(old);
        // SAFETY: the surface is this instance's and supported by the
        // queue (checked in `new`); the format, colour space, present mode,
        // usage, composite alpha, transform and extent are among those the
        // surface reports; `old` is this surface's previous swapchain or null.
        let created = unsafe { swapchain_fn.create_swapchain(&info, None) };
        self.destroy_swapchain(old);
        self.swapchain = vk::SwapchainKHR::null();
        self.swapchain = created.map_err(|r| map_host_device_oom_err("vkCreateSwapchainKHR", r))?;
        self.extent = extent;
        // SAFETY: the swapchain was just created on this device.
        self.images = unsafe { swapchain_fn.get_swapchain_images(self.swapchain) }
            .map_err(|r| map_host_device_oom_err("vkGetSwapchainImagesKHR", r))?;
        let raw = self.device.raw();
        for _ in &self.images {
            // SAFETY: a plain binary semaphore.
            let semaphore =
                unsafe { raw.create_semaphore(&vk::SemaphoreCreateInfo::default(), None) }
                    .map_err(|r| map_host_device_oom_err("vkCreateSemaphore", r))?;
            self.copied.push(semaphore);
        }
        Ok(())
    }

    /// Destroys the per-image semaphores and forgets the images (owned by
    /// the swapchain). The caller made sure nothing in flight uses them.
    fn destroy_images(&mut self) {
        let raw = self.device.raw();
        for semaphore in self.copied.drain(..) {
            // SAFETY: no queue operation waits on or signals it any more.
            unsafe { raw.destroy_semaphore(semaphore, None) };
        }
        self.images.clear();
    }

    fn destroy_swapchain(&self, swapchain: vk::SwapchainKHR) {
        if swapchain == vk::SwapchainKHR::null() {
            return;
        }
        if let Some(swapchain_fn) = self.device.swapchain() {
            // SAFETY: the queue is idle (the caller waited), so no
            // acquisition or presentation of its images is pending
            // (VUID-vkDestroySwapchainKHR-swapchain-01282).
            unsafe { swapchain_fn.destroy_swapchain(swapchain, None) };
        }
    }
}

/// Records the copy of `region` from `source` (rows `stride` bytes apart)
/// into the acquired `image`, with the barriers around it: the renderer's
/// writes before the read, UNDEFINED to TRANSFER_DST before, and
/// PRESENT_SRC after.
fn record_copy(
    raw: &ash::Device,
    cmd: vk::CommandBuffer,
    source: vk::Buffer,
    stride: u32,
    image: vk::Image,
    region: vk::Extent3D,
) {
    let range = vk::ImageSubresourceRange::default()
        .aspect_mask(vk::ImageAspectFlags::COLOR)
        .level_count(1)
        .layer_count(1);
    let writes = [vk::MemoryBarrier::default()
        .src_access_mask(vk::AccessFlags::SHADER_WRITE | vk::AccessFlags::TRANSFER_WRITE)
        .dst_access_mask(vk::AccessFlags::TRANSFER_READ)];
    let to_dst = [vk::ImageMemoryBarrier::default()
        .old_layout(vk::ImageLayout::UNDEFINED)
        .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
        .dst_access_mask(vk::AccessFlags::TRANSFER_WRITE)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image)
        .subresource_range(range)];
    let copy = [vk::BufferImageCopy::default()
        .buffer_row_length(stride / 4)
        .image_subresource(
            vk::ImageSubresourceLayers::default()
                .aspect_mask(vk::ImageAspectFlags::COLOR)
                .layer_count(1),
        )
        .image_extent(region)];
    let to_present = [vk::ImageMemoryBarrier::default()
        .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
        .new_layout(vk::ImageLayout::PRESENT_SRC_KHR)
        .src_access_mask(vk::AccessFlags::TRANSFER_WRITE)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image)
        .subresource_range(range)];
    // SAFETY: recording; the buffer holds `region` at `stride` (the
    // caller's size, clamped to the image) and has TRANSFER_SRC usage; the
    // image is a swapchain image made with TRANSFER_DST usage, acquired,
    // and in no render pass. The first barrier's source stages cover every
    // earlier write to the buffer on this queue (compute and transfer) and
    // the acquisition's wait stage (transfer); the last one makes the
    // image presentable, with no access after it.
    unsafe {
        raw.cmd_pipeline_barrier(
            cmd,
            vk::PipelineStageFlags::COMPUTE_SHADER | vk::PipelineStageFlags::TRANSFER,
            vk::PipelineStageFlags::TRANSFER,
            vk::DependencyFlags::empty(),
            &writes,
            &[],
            &to_dst,
        );
        if region.width > 0 && region.height > 0 {
            raw.cmd_copy_buffer_to_image(
                cmd,
                source,
                image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &copy,
            );
        }
        raw.cmd_pipeline_barrier(
            cmd,
            vk::PipelineStageFlags::TRANSFER,
            vk::PipelineStageFlags::BOTTOM_OF_PIPE,
            vk::DependencyFlags::empty(),
            &[],
            &[],
            &to_present,
        );
    }
}

impl Drop for Swapchain {
    fn drop(&mut self) {
        if let Err(err) = self.device.wait_idle() {
            error!(%err, "waiting for the queue before destroying a swapchain");
        }
        let device = Arc::clone(&self.device);
        let raw = device.raw();
        for slot in self.slots.drain(..) {
            // SAFETY: the queue is idle, so neither object is in use; the
            // command buffer is freed with its pool below.
            unsafe {
                raw.destroy_semaphore(slot.acquired, None);
                raw.destroy_fence(slot.fence, None);
            }
        }
        self.destroy_images();
        self.destroy_swapchain(self.swapchain);
        // SAFETY: the queue is idle; destroying the pool frees its command
        // buffers. The surface's swapchain is destroyed above
        // (VUID-vkDestroySurfaceKHR-surface-01266).
        unsafe {
            if self.pool != vk::CommandPool::null() {
                raw.destroy_command_pool(self.pool, None);
            }
            self.surface_fn.destroy_surface(self.surface, None);
        }
    }
}
