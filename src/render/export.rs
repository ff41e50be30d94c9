//! Reading textures and framebuffers back into host memory.

use drm_fourcc::DrmFourcc;
use smithay::backend::renderer::{ExportMem, Texture};
use smithay::utils::{Buffer as BufferCoord, Rectangle};

use super::{PACKED, RenderError, VulkanFramebuffer, VulkanMapping, VulkanRenderer, VulkanTexture};
use crate::copy::{CopyJob, CopyPlan, CopyRequest, Point, Rect, Size, Surface};

impl VulkanRenderer {
    /// The whole of `texture` in host memory: tightly packed rows of its
    /// format (for PNG frame dumps). Blocks until the GPU copied it.
    pub fn read_pixels(&mut self, texture: &VulkanTexture) -> Result<Vec<u8>, RenderError> {
        let region = Rectangle::from_size(texture.size());
        let mapping = self.copy_texture(texture, region, texture.fourcc())?;
        Ok(self.map_texture(&mapping)?.to_vec())
    }
}

impl ExportMem for VulkanRenderer {
    type TextureMapping = VulkanMapping;

    fn copy_framebuffer(
        &mut self,
        target: &VulkanFramebuffer<'_>,
        region: Rectangle<i32, BufferCoord>,
        format: DrmFourcc,
    ) -> Result<VulkanMapping, RenderError> {
        self.copy_texture(target.texture(), region, format)
    }

    /// A copy job from `region` of the texture into a device buffer of
    /// `format` (the shader converts between the packed formats), then a
    /// readback through a host-visible staging buffer. A dma-buf is read by
    /// the GPU through its import, never mapped by the CPU here.
    fn copy_texture(
        &mut self,
        texture: &VulkanTexture,
        region: Rectangle<i32, BufferCoord>,
        format: DrmFourcc,
    ) -> Result<VulkanMapping, RenderError> {
        if !PACKED.contains(&format) {
            return Err(RenderError::UnsupportedFormat { format });
        }
        let size = texture.size();
        if region.is_empty() || !Rectangle::from_size(size).contains_rect(region) {
            return Err(RenderError::RegionOutOfBounds {
                width: texture.width(),
                height: texture.height(),
            });
        }
        // Upright, whatever the texture's row order.
        let (y, upright) = texture.stored_rows(region.loc.y.into(), region.size.h.into());
        let plan = CopyPlan::new(CopyRequest {
            src_size: Size::new(size.w, size.h),
            dst_size: Size::new(region.size.w, region.size.h),
            src_rect: Rect::new(
                Point::new(region.loc.x, y as i32),
                Size::new(region.size.w, region.size.h),
            ),
            dst_rect: Rect::new(Point::new(0, 0), Size::new(region.size.w, region.size.h)),
            transform: upright,
            filter: None,
        })?;
        let staging = self.create_texture(format, region.size)?;
        let (buffer, desc) = staging
            .device_buffer()
            .expect("a new texture is in device memory");
        let job = CopyJob::new(&plan, texture.surface(), Surface::Buffer { buffer, desc });
        // The readback follows the copy on the same queue.
        let _copied = self.copier.submit(&job)?;
        let readback = self.copier.readback(buffer)?;
        Ok(VulkanMapping::new(
            desc.width,
            desc.height,
            format,
            readback,
        ))
    }

    fn can_read_texture(&mut self, _texture: &VulkanTexture) -> Result<bool, RenderError> {
        Ok(true)
    }

    fn map_texture<'a>(&mut self, mapping: &'a VulkanMapping) -> Result<&'a [u8], RenderError> {
        mapping.bytes()
    }
}
