//! Compute pipelines over storage buffers, and one-shot command buffers that
//! record transfers, barriers and dispatches and are submitted once.
//!
//! * [`ComputePipeline`]: a SPIR-V compute shader whose descriptor set 0
//!   holds `bindings` storage buffers (bindings 0, 1, …), then one of
//!   parameters, and whose push constants are `push_size` bytes at
//!   offset 0.
//! * [`Commands`]: a command buffer in its own command pool, with its own
//!   descriptor pools, recording begun. Every buffer, image, pipeline and
//!   semaphore it records is held until the work completed, so none is
//!   destroyed while the GPU may use it, and a `Commands` has nothing to
//!   share with another: no external synchronization between jobs.
//! * [`Submitted`]: the commands after `vkQueueSubmit`, with the [`Fence`]
//!   that tells when they completed: the value the submission signals on
//!   the device's timeline semaphore. Dropping it waits for that value
//!   before anything is destroyed; once it is reached,
//!   [`Submitted::recycle`] resets the pools and begins recording again, so
//!   a caller that keeps its spare `Commands` creates no pool per job.
//!
//! A dispatch's parameters are what its push constants cannot hold (the
//! copy shaders' list of rectangles, one dispatch writing many): the
//! `Commands` writes them into host-visible memory of its own and binds
//! them after the buffers.

use std::ffi::CStr;
use std::sync::Arc;
use std::time::Duration;

use ash::vk;
use tracing::{error, trace};

use super::buffer::{Buffer, BufferKind};
use super::conv::map_host_device_oom_err;
use super::image::ImportedImage;
use super::semaphore::Semaphore;
use super::{Device, VulkanError};
use crate::sync::SyncFile;

/// Descriptor sets a descriptor pool of [`Commands`] holds.
const SETS_PER_POOL: u32 = 64;

/// The most storage-buffer bindings a [`ComputePipeline`] may have, its
/// parameters' included: each descriptor pool holds this many descriptors
/// for each of its sets.
const MAX_BINDINGS: u32 = 6;

/// The smallest parameters buffer of a [`Commands`], in bytes.
const MIN_PARAMETERS: u64 = 4096;

/// The completion of one submission: the value it signals on the
/// device's timeline semaphore. It outlives the commands when someone keeps
/// it (a frame's sync point), so the commands can be recycled while the
/// completion is still asked about. It owns no Vulkan object.
pub(crate) struct Fence {
    value: u64,
    device: Arc<Device>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("value", &self.value)
            .finish_non_exhaustive()
    }
}

impl Fence {
    /// Whether the submission completed (`vkGetSemaphoreCounterValue`).
    pub(crate) fn is_done(&self) -> Result<bool, VulkanError> {
        self.device.timeline_reached(self.value)
    }

    /// Blocks until the submission completed or `timeout` passed (`None`:
    /// no limit); whether it completed.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<bool, VulkanError> {
        self.device.wait_timeline(self.value, timeout)
    }
}

/// A compute pipeline and its layout: descriptor set 0 of `bindings`
/// storage buffers and the parameters, push constants of `push_size`
/// bytes.
///
/// Fields are in destruction order; the device is released last.
pub(crate) struct ComputePipeline {
    pipeline: vk::Pipeline,
    layout: vk::PipelineLayout,
    set_layout: vk::DescriptorSetLayout,
    bindings: u32,
    push_size: u32,
    device: Arc<Device>,
}

impl std::fmt::Debug for ComputePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputePipeline")
            .field("pipeline", &self.pipeline)
            .field("bindings", &self.bindings)
            .field("push_size", &self.push_size)
            .finish_non_exhaustive()
    }
}

impl ComputePipeline {
    /// Builds the pipeline of the compute shader `spirv` (entry point
    /// `main`), whose interface is `bindings` storage buffers in set 0,
    /// then its parameters as binding `bindings` (a read-only storage
    /// buffer), and `push_size` bytes of push constants.
    ///
    /// Panics when `spirv` is not whole 32-bit words or `push_size` is not a
    /// multiple of 4: the shaders are built into the crate, so either is a
    /// bug of the build.
    pub(crate) fn new(
        device: &Arc<Device>,
        spirv: &[u8],
        bindings: u32,
        push_size: u32,
        name: &CStr,
    ) -> Result<Self, VulkanError> {
        let code = ash::util::read_spv(&mut std::io::Cursor::new(spirv))
            .expect("the embedded SPIR-V is whole 32-bit words");
        assert!(
            push_size.is_multiple_of(4),
            "push constants are whole words"
        );
        assert!(
            bindings < MAX_BINDINGS,
            "a descriptor pool holds {MAX_BINDINGS} descriptors a set"
        );
        if push_size > device.limits().max_push_constants_size {
            return Err(VulkanError::LimitExceeded {
                limit: "maxPushConstantsSize",
                value: u64::from(push_size),
                max: u64::from(device.limits().max_push_constants_size),
            });
        }
        let raw = device.raw();
        let mut this = Self {
            pipeline: vk::Pipeline::null(),
            layout: vk::PipelineLayout::null(),
            set_layout: vk::DescriptorSetLayout::null(),
            bindings,
            push_size,
            device: Arc::clone(device),
        };
        // From here on a failure drops `this`, destroying what exists.
        let layout_bindings: Vec<_> = (0..=bindings)
            .map(|binding| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(binding)
                    .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                    .descriptor_count(1)
                    .stage_flags(vk::ShaderStageFlags::COMPUTE)
            })
            .collect();
        let info = vk::DescriptorSetLayoutCreateInfo::default().bindings(&layout_bindings);
        // SAFETY: binding numbers are distinct
        // (VUID-VkDescriptorSetLayoutCreateInfo-binding-00279), of one
        // storage-buffer descriptor each, for the compute stage.
        this.set_layout = unsafe { raw.create_descriptor_set_layout(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateDescriptorSetLayout", r))?;
        let set_layouts = [this.set_layout];
        let ranges = [vk::PushConstantRange::default()
            .stage_flags(vk::ShaderStageFlags::COMPUTE)
            .offset(0)
            .size(push_size)];
        let mut info = vk::PipelineLayoutCreateInfo::default().set_layouts(&set_layouts);
        if push_size > 0 {
            info = info.push_constant_ranges(&ranges);
        }
        // SAFETY: one set layout of this device; the push constant range is
        // a non-zero multiple of 4 within maxPushConstantsSize (checked
        // above: VUID-VkPushConstantRange-size-00296, -size-00297, -size-00298).
        this.layout = unsafe { raw.create_pipeline_layout(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreatePipelineLayout", r))?;
        let info = vk::ShaderModuleCreateInfo::default().code(&code);
        // SAFETY: `code` is the SPIR-V naga wrote and validated at build time
        // (VUID-VkShaderModuleCreateInfo-pCode-08737; the validation layer
        // checks it again in debug builds).
        let module = unsafe { raw.create_shader_module(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateShaderModule", r))?;
        let stage = vk::PipelineShaderStageCreateInfo::default()
            .stage(vk::ShaderStageFlags::COMPUTE)
            .module(module)
            .name(c"main");
        let info = [vk::ComputePipelineCreateInfo::default()
            .stage(stage)
            .layout(this.layout)];
        // SAFETY: the module's entry point `main` is a compute shader whose
        // resources are set 0's storage buffers and push constants within
        // the layout's range (VUID-VkComputePipelineCreateInfo-layout-07987,
        // -07988, -07990: the shader's interface is built for this layout);
        // no pipeline cache and no derivative flags.
        let created =
            unsafe { raw.create_compute_pipelines(vk::PipelineCache::null(), &info, None) };
        // SAFETY: the module was used only by the call above, which has
        // returned; a pipeline does not need its module afterwards.
        unsafe { raw.destroy_shader_module(module, None) };
        this.pipeline =
            created.map_err(|(_, r)| map_host_device_oom_err("vkCreateComputePipelines", r))?[0];
        device.set_name(this.pipeline, name)?;
        Ok(this)
    }
}

impl Drop for ComputePipeline {
    fn drop(&mut self) {
        let raw = self.device.raw();
        // SAFETY: commands that use the pipeline hold an Arc to it until
        // their fence signalled (VUID-vkDestroyPipeline-pipeline-00765), and
        // the layouts outlive every command buffer recorded with them for
        // the same reason. Null handles (a failed construction) are ignored.
        unsafe {
            raw.destroy_pipeline(self.pipeline, None);
            raw.destroy_pipeline_layout(self.layout, None);
            raw.destroy_descriptor_set_layout(self.set_layout, None);
        }
    }
}

/// A buffer bound to a binding of a dispatch ([`Commands::dispatch`]):
/// the whole buffer, or `range` bytes of it from `offset` on (a window of a
/// buffer larger than `maxStorageBufferRange`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) buffer: &'a Arc<Buffer>,
    /// `(offset, range)`; `None` binds the whole buffer.
    pub(crate) window: Option<(u64, u64)>,
}

impl Binding<'_> {
    /// The offset and range bound.
    fn bound(&self) -> (u64, u64) {
        self.window.unwrap_or((0, self.buffer.size()))
    }
}

/// Bytes [`Commands::copy`] moves: `size` bytes from `src_offset` of one
/// buffer to `dst_offset` of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BufferRegion {
    /// Where the bytes start in the source buffer.
    pub(crate) src_offset: u64,
    /// Where they go in the destination buffer.
    pub(crate) dst_offset: u64,
    /// How many there are.
    pub(crate) size: u64,
}

/// A memory dependency between commands of the same queue, recorded with
/// [`Commands::barrier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Barrier {
    /// Earlier transfer and shader writes, and earlier reads, before shader
    /// reads and writes.
    BeforeShader,
    /// Earlier transfer and shader writes, and earlier reads, before
    /// transfers.
    BeforeTransfer,
    /// Transfer and shader writes before host reads (after the fence).
    ToHost,
}

impl Barrier {
    fn masks(
        self,
    ) -> (
        vk::PipelineStageFlags,
        vk::AccessFlags,
        vk::PipelineStageFlags,
        vk::AccessFlags,
    ) {
        let gpu_stages = vk::PipelineStageFlags::TRANSFER | vk::PipelineStageFlags::COMPUTE_SHADER;
        let gpu_writes = vk::AccessFlags::TRANSFER_WRITE | vk::AccessFlags::SHADER_WRITE;
        match self {
            Self::BeforeShader => (
                gpu_stages,
                gpu_writes,
                vk::PipelineStageFlags::COMPUTE_SHADER,
                vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE,
            ),
            Self::BeforeTransfer => (
                gpu_stages,
                gpu_writes,
                vk::PipelineStageFlags::TRANSFER,
                vk::AccessFlags::TRANSFER_READ | vk::AccessFlags::TRANSFER_WRITE,
            ),
            Self::ToHost => (
                gpu_stages,
                gpu_writes,
                vk::PipelineStageFlags::HOST,
                vk::AccessFlags::HOST_READ,
            ),
        }
    }
}

/// The direction of a queue family ownership transfer between the device
/// and the dma-buf's other users, recorded with [`Commands::foreign`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ownership {
    /// From the foreign (or external) queue family to ours, before the
    /// shader uses the buffer.
    Acquire,
    /// From ours back to the foreign queue family, after the shader.
    Release,
}

/// A primary command buffer in its own pool, recording; see the module
/// documentation.
///
/// Fields are in destruction order: `Drop` waits for the fence of the
/// submission the commands are part of, then destroys the descriptor and
/// command pools (freeing the sets and the command buffer); then what the
/// commands used is released, the device last.
pub(crate) struct Commands {
    pool: vk::CommandPool,
    cmd: vk::CommandBuffer,
    /// Pools of [`SETS_PER_POOL`] sets; `pools_used` of them (the last one
    /// partly, `sets_left` sets left) hold this recording's sets.
    descriptor_pools: Vec<vk::DescriptorPool>,
    pools_used: usize,
    sets_left: u32,
    waits: Vec<Semaphore>,
    signal: Option<Semaphore>,
    buffers: Vec<Arc<Buffer>>,
    images: Vec<Arc<ImportedImage>>,
    pipelines: Vec<Arc<ComputePipeline>>,
    /// Host-visible memory the dispatches' parameters are written into,
    /// `parameters_used` bytes of the last buffer so far: a larger buffer
    /// replaces a full one, which is kept until the submission completed.
    parameters: Vec<Buffer>,
    parameters_used: u64,
    /// The fence of the submission, once submitted.
    fence: Option<Arc<Fence>>,
    device: Arc<Device>,
}

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("cmd", &self.cmd)
            .field("buffers", &self.buffers.len())
            .field("waits", &self.waits.len())
            .field("descriptor_pools", &self.descriptor_pools.len())
            .finish_non_exhaustive()
    }
}

impl Commands {
    /// A new command buffer, named `name`, with recording begun
    /// (`ONE_TIME_SUBMIT`).
    pub(crate) fn begin(device: &Arc<Device>, name: &CStr) -> Result<Self, VulkanError> {
        let raw = device.raw();
        let info = vk::CommandPoolCreateInfo::default()
            .flags(vk::CommandPoolCreateFlags::TRANSIENT)
            .queue_family_index(device.queue_family());
        // SAFETY: the queue family is the device's one queue's
        // (VUID-vkCreateCommandPool-queueFamilyIndex-01937).
        let pool = unsafe { raw.create_command_pool(&info, None) }
            .map_err(|r| map_host_device_oom_err("vkCreateCommandPool", r))?;
        let mut this = Self {
            pool,
            cmd: vk::CommandBuffer::null(),
            descriptor_pools: Vec::new(),
            pools_used: 0,
            sets_left: 0,
            waits: Vec::new(),
            signal: None,
            buffers: Vec::new(),
            images: Vec::new(),
            pipelines: Vec::new(),
            parameters: Vec::new(),
            parameters_used: 0,
            fence: None,
            device: Arc::clone(device),
        };
        let info = vk::CommandBufferAllocateInfo::default()
            .command_pool(pool)
            .level(vk::CommandBufferLevel::PRIMARY)
            .command_buffer_count(1);
        // SAFETY: the pool is this device's and only this object uses it.
        this.cmd = unsafe { raw.allocate_command_buffers(&info) }
            .map_err(|r| map_host_device_oom_err("vkAllocateCommandBuffers", r))?[0];
        this.restart(name)?;
        Ok(this)
    }

    /// Begins recording into the command buffer, which is in the initial
    /// state (new, or reset by [`Submitted::recycle`]), and names it `name`.
    pub(crate) fn restart(&mut self, name: &CStr) -> Result<(), VulkanError> {
        let info = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        // SAFETY: a primary command buffer in the initial state
        // (VUID-vkBeginCommandBuffer-commandBuffer-00049); its pool is
        // externally synchronized by `&mut self`.
        unsafe { self.device.raw().begin_command_buffer(self.cmd, &info) }
            .map_err(|r| map_host_device_oom_err("vkBeginCommandBuffer", r))?;
        self.device.set_name(self.cmd, name)
    }

    /// A descriptor set of `pipeline`'s layout, from the pools this object
    /// keeps: a pool is created only when the ones it has are used up.
    fn descriptor_set(
        &mut self,
        pipeline: &ComputePipeline,
    ) -> Result<vk::DescriptorSet, VulkanError> {
        let raw = self.device.raw();
        if self.sets_left == 0 {
            if self.pools_used == self.descriptor_pools.len() {
                let sizes = [vk::DescriptorPoolSize::default()
                    .ty(vk::DescriptorType::STORAGE_BUFFER)
                    .descriptor_count(SETS_PER_POOL * MAX_BINDINGS)];
                let info = vk::DescriptorPoolCreateInfo::default()
                    .max_sets(SETS_PER_POOL)
                    .pool_sizes(&sizes);
                // SAFETY: a non-zero number of sets and of storage-buffer
                // descriptors (VUID-VkDescriptorPoolSize-descriptorCount-00302,
                // VUID-VkDescriptorPoolCreateInfo-maxSets-00301).
                let pool = unsafe { raw.create_descriptor_pool(&info, None) }
                    .map_err(|r| map_host_device_oom_err("vkCreateDescriptorPool", r))?;
                self.descriptor_pools.push(pool);
            }
            self.pools_used += 1;
            self.sets_left = SETS_PER_POOL;
        }
        let layouts = [pipeline.set_layout];
        let info = vk::DescriptorSetAllocateInfo::default()
            .descriptor_pool(self.descriptor_pools[self.pools_used - 1])
            .set_layouts(&layouts);
        // SAFETY: the pool has a set left, and MAX_BINDINGS descriptors for
        // each of its sets, at least the layout's (asserted when the
        // pipeline was built), so neither VK_ERROR_OUT_OF_POOL_MEMORY nor
        // fragmentation can happen (either is reported as unexpected); the
        // pool is externally synchronized by `&mut self`.
        let set = unsafe { raw.allocate_descriptor_sets(&info) }
            .map_err(|r| map_host_device_oom_err("vkAllocateDescriptorSets", r))?[0];
        self.sets_left -= 1;
        Ok(set)
    }

    /// Writes `bytes` (not empty) into the parameters memory, after what
    /// this recording wrote there, and returns the buffer and the range
    /// they are bound as: at an offset aligned to
    /// `minStorageBufferOffsetAlignment`, within `maxStorageBufferRange`.
    fn write_parameters(&mut self, bytes: &[u8]) -> Result<(vk::Buffer, (u64, u64)), VulkanError> {
        let limits = self.device.limits();
        let len = bytes.len() as u64;
        assert!(
            len > 0 && len <= u64::from(limits.max_storage_buffer_range),
            "{len} bytes of parameters"
        );
        let align = limits.min_storage_buffer_offset_alignment.max(1);
        let at = self.parameters_used.next_multiple_of(align);
        let fits = self
            .parameters
            .last()
            .is_some_and(|buffer| at + len <= buffer.size());
        let at = if fits {
            at
        } else {
            let size = self
                .parameters
                .last()
                .map_or(MIN_PARAMETERS, |last| last.size() * 2)
                .max(len.next_power_of_two());
            let buffer = Buffer::new(
                &self.device,
                size,
                BufferKind::Parameters,
                c"dmabridge dispatch parameters",
            )?;
            self.parameters.push(buffer);
            0
        };
        let buffer = self.parameters.last_mut().expect("a buffer was made above");
        buffer.write(at, bytes)?;
        self.parameters_used = at + len;
        Ok((buffer.raw(), (at, len)))
    }

    /// Records `barrier`: a global memory barrier.
    pub(crate) fn barrier(&mut self, barrier: Barrier) {
        let (src_stage, src_access, dst_stage, dst_access) = barrier.masks();
        let memory = [vk::MemoryBarrier::default()
            .src_access_mask(src_access)
            .dst_access_mask(dst_access)];
        // SAFETY: recording (begun in `begin`, ended only by `submit`); each
        // access mask is supported by its stage mask
        // (VUID-vkCmdPipelineBarrier-srcAccessMask-02815, -dstAccessMask-02816),
        // and no stage needs a feature; outside a render pass.
        unsafe {
            self.device.raw().cmd_pipeline_barrier(
                self.cmd,
                src_stage,
                dst_stage,
                vk::DependencyFlags::empty(),
                &memory,
                &[],
                &[],
            );
        }
    }

    /// Records the ownership transfer `op` of all of `buffer` between the
    /// device's queue family and the dma-buf's other users
    /// (`VK_QUEUE_FAMILY_FOREIGN_EXT` with `VK_EXT_queue_family_foreign`,
    /// else `VK_QUEUE_FAMILY_EXTERNAL`).
    ///
    /// The acquire's first scope is the compute stage, one of the stages
    /// where the fences of [`wait_sync_file`](Self::wait_sync_file) are
    /// waited for, so it follows them.
    pub(crate) fn foreign(&mut self, buffer: &Arc<Buffer>, op: Ownership) {
        let foreign = self.foreign_family();
        let ours = self.device.queue_family();
        let shader = vk::PipelineStageFlags::COMPUTE_SHADER;
        let shader_access = vk::AccessFlags::SHADER_READ | vk::AccessFlags::SHADER_WRITE;
        let (src, dst, src_stage, src_access, dst_stage, dst_access) = match op {
            Ownership::Acquire => (
                foreign,
                ours,
                shader,
                vk::AccessFlags::empty(),
                shader,
                shader_access,
            ),
            Ownership::Release => (
                ours,
                foreign,
                shader,
                vk::AccessFlags::SHADER_WRITE,
                vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                vk::AccessFlags::empty(),
            ),
        };
        let barrier = [vk::BufferMemoryBarrier::default()
            .src_access_mask(src_access)
            .dst_access_mask(dst_access)
            .src_queue_family_index(src)
            .dst_queue_family_index(dst)
            .buffer(buffer.raw())
            .offset(0)
            .size(vk::WHOLE_SIZE)];
        // SAFETY: recording; the buffer was created with EXCLUSIVE sharing
        // and external memory, so FOREIGN (with its extension enabled) or
        // EXTERNAL may stand on the other side of the transfer
        // (VUID-VkBufferMemoryBarrier-srcQueueFamilyIndex-04087 and
        // VUID-VkBufferMemoryBarrier-buffer-09095 with VK_EXT_queue_family_foreign);
        // the range is the whole buffer; the access masks are supported by
        // their stages.
        unsafe {
            self.device.raw().cmd_pipeline_barrier(
                self.cmd,
                src_stage,
                dst_stage,
                vk::DependencyFlags::empty(),
                &[],
                &barrier,
                &[],
            );
        }
        self.buffers.push(Arc::clone(buffer));
    }

    /// Records a copy of every plane of `image` into `dst`, laid out as
    /// [`ImportedImage::staging_planes`] says, between an acquire of the
    /// image from the dma-buf's other users and its release back to them
    /// (as [`foreign`](Self::foreign) does for buffers). A later
    /// [`Barrier::BeforeShader`] makes the bytes visible to a shader.
    ///
    /// Panics when `dst` is smaller than [`ImportedImage::staging_size`].
    pub(crate) fn stage_image(&mut self, image: &Arc<ImportedImage>, dst: &Arc<Buffer>) {
        assert!(
            dst.size() >= image.staging_size(),
            "a staging buffer of {} bytes for an image of {}",
            dst.size(),
            image.staging_size()
        );
        let foreign = self.foreign_family();
        let ours = self.device.queue_family();
        let transfer = vk::PipelineStageFlags::TRANSFER;
        let range = vk::ImageSubresourceRange::default()
            .aspect_mask(vk::ImageAspectFlags::COLOR)
            .level_count(1)
            .layer_count(1);
        // The dma-buf's producers use it in GENERAL, the only layout the
        // foreign queue family knows; it goes back in GENERAL.
        let acquire = [vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::empty())
            .dst_access_mask(vk::AccessFlags::TRANSFER_READ)
            .old_layout(vk::ImageLayout::GENERAL)
            .new_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .src_queue_family_index(foreign)
            .dst_queue_family_index(ours)
            .image(image.raw())
            .subresource_range(range)];
        let release = [vk::ImageMemoryBarrier::default()
            .src_access_mask(vk::AccessFlags::empty())
            .dst_access_mask(vk::AccessFlags::empty())
            .old_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .new_layout(vk::ImageLayout::GENERAL)
            .src_queue_family_index(ours)
            .dst_queue_family_index(foreign)
            .image(image.raw())
            .subresource_range(range)];
        let regions = image.copy_regions();
        let raw = self.device.raw();
        // SAFETY: recording, outside a render pass. The image was created
        // EXCLUSIVE with external memory, so FOREIGN (its extension enabled)
        // or EXTERNAL may stand on the other side of the transfers
        // (VUID-VkImageMemoryBarrier-srcQueueFamilyIndex-04070,
        // VUID-VkImageMemoryBarrier-image-09117); the range is the whole
        // image with the COLOR aspect, which names every plane of a
        // multi-planar format (VUID-VkImageMemoryBarrier-image-01672); the
        // acquire's first scope is the transfer stage, where the submission
        // waits for the dma-buf's fences. The copy reads the image in
        // TRANSFER_SRC_OPTIMAL (VUID-vkCmdCopyImageToBuffer-srcImageLayout-00189);
        // it has TRANSFER_SRC usage, `dst` TRANSFER_DST (BufferKind::Storage);
        // each region is one plane aspect of the format with that plane's
        // extent (VUID-vkCmdCopyImageToBuffer-imageSubresource-07970,
        // -srcImage-01558: PLANE_i only for multi-planar formats) and lands
        // inside `dst` (asserted above, -pRegions-00183) at a 4-byte aligned
        // offset (-srcImage-07975, -commandBuffer-07737).
        unsafe {
            raw.cmd_pipeline_barrier(
                self.cmd,
                transfer,
                transfer,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &acquire,
            );
            raw.cmd_copy_image_to_buffer(
                self.cmd,
                image.raw(),
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                dst.raw(),
                &regions,
            );
            raw.cmd_pipeline_barrier(
                self.cmd,
                transfer,
                vk::PipelineStageFlags::BOTTOM_OF_PIPE,
                vk::DependencyFlags::empty(),
                &[],
                &[],
                &release,
            );
        }
        self.images.push(Arc::clone(image));
        self.buffers.push(Arc::clone(dst));
    }

    /// Records a copy of each of `regions` from `src` to `dst`, two
    /// distinct buffers that allow transfers ([`Buffer::transfers`]).
    /// Panics when `regions` is empty, a region is empty or passes the end
    /// of either buffer, or the buffers do not qualify: callers check their
    /// inputs with typed errors first, so a panic here is a bug.
    pub(crate) fn copy(&mut self, src: &Arc<Buffer>, dst: &Arc<Buffer>, regions: &[BufferRegion]) {
        assert!(
            !Arc::ptr_eq(src, dst) && src.transfers() && dst.transfers(),
            "a copy between two distinct buffers with transfer usage"
        );
        assert!(!regions.is_empty(), "a copy of no region");
        let inside = |offset: u64, size: u64, buffer: &Buffer| {
            offset
                .checked_add(size)
                .is_some_and(|end| end <= buffer.size())
        };
        let raw_regions: Vec<vk::BufferCopy> = regions
            .iter()
            .map(|r| {
                assert!(
                    r.size > 0
                        && inside(r.src_offset, r.size, src)
                        && inside(r.dst_offset, r.size, dst),
                    "{r:?} between buffers of {} and {} bytes",
                    src.size(),
                    dst.size()
                );
                vk::BufferCopy::default()
                    .src_offset(r.src_offset)
                    .dst_offset(r.dst_offset)
                    .size(r.size)
            })
            .collect();
        // SAFETY: recording, outside a render pass; every region is
        // non-empty (VUID-VkBufferCopy-size-01988) and inside both buffers
        // (VUID-vkCmdCopyBuffer-srcOffset-00113, -dstOffset-00114,
        // -size-00115, -size-00116: asserted above); the buffers are distinct, so no source region
        // overlaps a destination region (-pRegions-00117); they have
        // TRANSFER_SRC and TRANSFER_DST usage (-srcBuffer-00118,
        // -dstBuffer-00120, asserted above) and are bound to memory
        // (-srcBuffer-00119, -dstBuffer-00121).
        unsafe {
            self.device
                .raw()
                .cmd_copy_buffer(self.cmd, src.raw(), dst.raw(), &raw_regions);
        }
        self.buffers.push(Arc::clone(src));
        self.buffers.push(Arc::clone(dst));
    }

    /// Records `vkCmdFillBuffer` of `word` over each `(offset, size)` of
    /// `regions` in `dst`, a buffer that allows transfers
    /// ([`Buffer::transfers`]). Panics when a region is empty, passes the
    /// end of `dst` or is not whole words, or `dst` does not qualify:
    /// callers check their inputs first, so a panic here is a bug.
    pub(crate) fn fill(&mut self, dst: &Arc<Buffer>, regions: &[(u64, u64)], word: u32) {
        assert!(dst.transfers(), "a fill of a buffer with transfer usage");
        for &(offset, size) in regions {
            assert!(
                size > 0
                    && offset.is_multiple_of(4)
                    && size.is_multiple_of(4)
                    && offset
                        .checked_add(size)
                        .is_some_and(|end| end <= dst.size()),
                "a fill of {size} bytes at {offset} in a buffer of {}",
                dst.size()
            );
            // SAFETY: recording, outside a render pass; the region is whole
            // words inside the buffer (VUID-vkCmdFillBuffer-dstOffset-00024,
            // -00025, -size-00026, -size-00027, -size-00028: asserted
            // above); the buffer has TRANSFER_DST usage (-dstBuffer-00029,
            // asserted above) and is bound to memory (-dstBuffer-00031).
            unsafe {
                self.device
                    .raw()
                    .cmd_fill_buffer(self.cmd, dst.raw(), offset, size, word);
            }
        }
        self.buffers.push(Arc::clone(dst));
    }

    /// The queue family of a dma-buf's other users:
    /// `VK_QUEUE_FAMILY_FOREIGN_EXT` with `VK_EXT_queue_family_foreign`,
    /// else `VK_QUEUE_FAMILY_EXTERNAL`.
    fn foreign_family(&self) -> u32 {
        if self.device.capabilities().queue_family_foreign {
            vk::QUEUE_FAMILY_FOREIGN_EXT
        } else {
            vk::QUEUE_FAMILY_EXTERNAL
        }
    }

    /// Records a dispatch of `groups` workgroups of `pipeline`, with
    /// `bindings` as bindings 0, 1, … of set 0, `parameters` (not empty,
    /// copied into this object's memory) bound after them where the shader
    /// reads any, and `push` as its push constants.
    ///
    /// Panics when the numbers do not fit the pipeline or the device's
    /// limits: callers bind at most `maxStorageBufferRange` bytes at an
    /// offset aligned to `minStorageBufferOffsetAlignment`, with a typed
    /// error first where they cannot, so a panic here is a bug.
    pub(crate) fn dispatch(
        &mut self,
        pipeline: &Arc<ComputePipeline>,
        bindings: &[Binding<'_>],
        push: &[u8],
        parameters: Option<&[u8]>,
        groups: [u32; 2],
    ) -> Result<(), VulkanError> {
        let parameters = parameters
            .map(|bytes| self.write_parameters(bytes))
            .transpose()?;
        let limits = self.device.limits();
        assert_eq!(
            bindings.len(),
            pipeline.bindings as usize,
            "one buffer a binding"
        );
        assert_eq!(
            push.len(),
            pipeline.push_size as usize,
            "push constant size"
        );
        let max = u64::from(limits.max_storage_buffer_range);
        let align = limits.min_storage_buffer_offset_alignment.max(1);
        assert!(
            bindings.iter().all(|b| {
                let (offset, range) = b.bound();
                offset.is_multiple_of(align)
                    && range > 0
                    && range <= max
                    && offset
                        .checked_add(range)
                        .is_some_and(|end| end <= b.buffer.size())
            }),
            "a binding is not an aligned range of at most maxStorageBufferRange inside its buffer"
        );
        assert!(
            groups[0] <= limits.max_compute_work_group_count[0]
                && groups[1] <= limits.max_compute_work_group_count[1],
            "{groups:?} workgroups are more than maxComputeWorkGroupCount"
        );
        let set = self.descriptor_set(pipeline)?;
        let raw = self.device.raw();
        let infos: Vec<[vk::DescriptorBufferInfo; 1]> = bindings
            .iter()
            .map(|b| (b.buffer.raw(), b.bound()))
            .chain(parameters)
            .map(|(buffer, (offset, range))| {
                [vk::DescriptorBufferInfo::default()
                    .buffer(buffer)
                    .offset(offset)
                    .range(range)]
            })
            .collect();
        let writes: Vec<_> = (0..)
            .zip(&infos)
            .map(|(binding, info)| {
                vk::WriteDescriptorSet::default()
                    .dst_set(set)
                    .dst_binding(binding)
                    .descriptor_type(vk::DescriptorType::STORAGE_BUFFER)
                    .buffer_info(info)
            })
            .collect();
        // SAFETY: each write names a binding of the set's layout with its
        // type and one descriptor; the buffers have STORAGE_BUFFER usage
        // (VUID-VkWriteDescriptorSet-descriptorType-00331); each offset is a
        // multiple of minStorageBufferOffsetAlignment
        // (VUID-VkWriteDescriptorSet-descriptorType-00328), each range is
        // not empty, inside its buffer (VUID-VkDescriptorBufferInfo-offset-00340,
        // VUID-VkDescriptorBufferInfo-range-00341) and within
        // maxStorageBufferRange (VUID-VkWriteDescriptorSet-descriptorType-00333),
        // all asserted above, and so placed by `write_parameters` for the
        // parameters; the set is not in use by any command buffer yet.
        unsafe { raw.update_descriptor_sets(&writes, &[]) };
        // SAFETY: recording, outside a render pass; the pipeline is a compute
        // pipeline whose layout the set and the push constant range come
        // from (VUID-vkCmdBindDescriptorSets-pDescriptorSets-00358,
        // VUID-vkCmdPushConstants-offset-01795: the range covers offset 0
        // and push.len() bytes, asserted above); every binding the shader
        // uses is written (the parameters' where the caller has them: a
        // shader the caller gives none does not read them); the group counts are within
        // maxComputeWorkGroupCount (VUID-vkCmdDispatch-groupCountX-00386,
        // asserted above).
        unsafe {
            raw.cmd_bind_pipeline(self.cmd, vk::PipelineBindPoint::COMPUTE, pipeline.pipeline);
            raw.cmd_bind_descriptor_sets(
                self.cmd,
                vk::PipelineBindPoint::COMPUTE,
                pipeline.layout,
                0,
                &[set],
                &[],
            );
            if !push.is_empty() {
                raw.cmd_push_constants(
                    self.cmd,
                    pipeline.layout,
                    vk::ShaderStageFlags::COMPUTE,
                    0,
                    push,
                );
            }
            raw.cmd_dispatch(self.cmd, groups[0], groups[1], 1);
        }
        self.pipelines.push(Arc::clone(pipeline));
        self.buffers
            .extend(bindings.iter().map(|b| Arc::clone(b.buffer)));
        Ok(())
    }

    /// Makes the submission wait, at the transfer and compute stages, for
    /// the kernel fence `fence`, imported as a semaphore's SYNC_FD payload.
    /// [`VulkanError::SyncFdUnsupported`] where the device cannot import
    /// SYNC_FD.
    pub(crate) fn wait_sync_file(&mut self, fence: SyncFile) -> Result<(), VulkanError> {
        self.waits
            .push(Semaphore::from_sync_file(&self.device, fence)?);
        Ok(())
    }

    /// Makes the submission signal a new SYNC_FD-exportable semaphore when
    /// every command completed, for [`Submitted::export_sync_file`].
    /// [`VulkanError::SyncFdUnsupported`] where the device cannot export
    /// SYNC_FD. Once a submission.
    pub(crate) fn signal_sync_file(&mut self) -> Result<(), VulkanError> {
        assert!(self.signal.is_none(), "one signal semaphore a submission");
        self.signal = Some(Semaphore::exportable(&self.device)?);
        Ok(())
    }

    /// Ends recording and submits the commands to the device's queue, with
    /// a new fence named `name`.
    pub(crate) fn submit(mut self, name: &CStr) -> Result<Submitted, VulkanError> {
        let raw = self.device.raw();
        // SAFETY: recording was begun and nothing is left open (no render
        // pass, no query) (VUID-vkEndCommandBuffer-commandBuffer-00059).
        unsafe { raw.end_command_buffer(self.cmd) }
            .map_err(|r| map_host_device_oom_err("vkEndCommandBuffer", r))?;
        let waits: Vec<vk::Semaphore> = self.waits.iter().map(Semaphore::raw).collect();
        let stage = vk::PipelineStageFlags::TRANSFER | vk::PipelineStageFlags::COMPUTE_SHADER;
        let signal = self.signal.as_ref().map(Semaphore::raw);
        // SAFETY: the command buffer is executable (ended above) and
        // submitted once (ONE_TIME_SUBMIT); each wait semaphore carries an
        // imported payload and is waited on once; the signal semaphore is
        // new and unsignalled. Every object is this device's.
        let value = unsafe {
            self.device
                .submit_signalling(self.cmd, &waits, stage, signal)
        }?;
        trace!(name = ?name, value, "submitted");
        let fence = Fence {
            value,
            device: Arc::clone(&self.device),
        };
        self.fence = Some(Arc::new(fence));
        Ok(Submitted { commands: self })
    }
}

impl Drop for Commands {
    fn drop(&mut self) {
        if let Some(fence) = &self.fence
            && let Err(err) = fence.wait(None)
        {
            error!(%err, "waiting for a submission before releasing it");
        }
        let raw = self.device.raw();
        // SAFETY: the commands were never submitted, or their fence
        // signalled (waited above), so the command buffer and the
        // descriptor sets are not pending
        // (VUID-vkDestroyCommandPool-commandPool-00041,
        // VUID-vkDestroyDescriptorPool-descriptorPool-00303). Destroying a
        // pool frees what was allocated from it.
        unsafe {
            for &pool in &self.descriptor_pools {
                raw.destroy_descriptor_pool(pool, None);
            }
            raw.destroy_command_pool(self.pool, None);
        }
    }
}

/// Submitted [`Commands`] and the fence that signals when they completed.
///
/// Dropping it waits for the fence (a bug in the caller if that blocks: keep
/// it until [`is_done`](Self::is_done)), then releases everything.
#[derive(Debug)]
pub(crate) struct Submitted {
    commands: Commands,
}

impl Submitted {
    /// The submission's fence.
    fn fence_ref(&self) -> &Arc<Fence> {
        self.commands
            .fence
            .as_ref()
            .expect("submitted commands have a fence")
    }

    /// The submission's fence, for whoever needs to know when it completed
    /// after the commands are recycled.
    pub(crate) fn fence(&self) -> Arc<Fence> {
        Arc::clone(self.fence_ref())
    }

    /// Whether the commands completed (`vkGetFenceStatus`).
    pub(crate) fn is_done(&self) -> Result<bool, VulkanError> {
        self.fence_ref().is_done()
    }

    /// The signal semaphore's payload as a sync_file that signals when the
    /// commands completed; `None` when the driver reports it signalled
    /// already. Panics without [`Commands::signal_sync_file`]. Call it once:
    /// exporting a SYNC_FD payload unsignals the semaphore.
    pub(crate) fn export_sync_file(&self) -> Result<Option<SyncFile>, VulkanError> {
        let semaphore = self
            .commands
            .signal
            .as_ref()
            .expect("export from a submission with a signal semaphore");
        // SAFETY: the semaphore was created exportable
        // (`Commands::signal_sync_file`) and its signal operation was
        // submitted with this submission.
        unsafe { semaphore.export_sync_file() }
    }

    /// The commands of a completed submission, reset: the command and
    /// descriptor pools are kept, what the commands used is released;
    /// [`Commands::restart`] records again. Waits for the fence first, which
    /// has signalled when the caller checked [`is_done`](Self::is_done).
    pub(crate) fn recycle(self) -> Result<Commands, VulkanError> {
        self.fence_ref().wait(None)?;
        let mut commands = self.commands;
        commands.fence = None;
        commands.waits.clear();
        commands.signal = None;
        commands.buffers.clear();
        commands.images.clear();
        commands.pipelines.clear();
        // The largest parameters buffer serves the next recording.
        let last = commands.parameters.len().saturating_sub(1);
        commands.parameters.drain(..last);
        commands.parameters_used = 0;
        let raw = commands.device.raw();
        // SAFETY: the submission completed (its fence signalled), so
        // neither the command buffer nor any set is pending
        // (VUID-vkResetCommandPool-commandPool-00040,
        // VUID-vkResetDescriptorPool-descriptorPool-00313); both pools are
        // externally synchronized by owning `commands`.
        unsafe {
            raw.reset_command_pool(commands.pool, vk::CommandPoolResetFlags::empty())
                .map_err(|r| map_host_device_oom_err("vkResetCommandPool", r))?;
            for &pool in &commands.descriptor_pools {
                raw.reset_descriptor_pool(pool, vk::DescriptorPoolResetFlags::empty())
                    .map_err(|r| map_host_device_oom_err("vkResetDescriptorPool", r))?;
            }
        }
        commands.pools_used = 0;
        commands.sets_left = 0;
        Ok(commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vulkan::Instance;

    /// Submissions signal the device's timeline in submission order, so the
    /// completion of a later one implies every earlier one's.
    #[test]
    fn completions_follow_submission_order_on_the_timeline() {
        let instance = Arc::new(Instance::new().expect("creating the instance"));
        let device = Arc::new(Device::new(Arc::clone(&instance), None).expect("a device"));
        let first = Commands::begin(&device, c"first")
            .and_then(|c| c.submit(c"first"))
            .expect("submitting");
        let second = Commands::begin(&device, c"second")
            .and_then(|c| c.submit(c"second"))
            .expect("submitting");
        let (first, second) = (first.fence(), second.fence());
        assert!(second.value > first.value);
        assert!(second.wait(Some(Duration::from_secs(10))).expect("waiting"));
        assert!(first.is_done().expect("asking"));
        assert!(second.is_done().expect("asking"));
        assert_eq!(instance.validation_errors(), 0);
    }
}
