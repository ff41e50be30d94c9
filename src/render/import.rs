//! Textures from memory, `wl_shm` buffers and dma-bufs.

use std::sync::{Arc, Mutex};

use drm_fourcc::{DrmFourcc, DrmModifier};
use smithay::backend::allocator::Buffer as _;
use smithay::backend::allocator::dmabuf::Dmabuf as SmithayDmabuf;
use smithay::backend::allocator::format::FormatSet;
use smithay::backend::renderer::{ImportDma, ImportDmaWl, ImportMem, ImportMemWl, Texture};
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::utils::{Buffer as BufferCoord, Rectangle, Size};
use smithay::wayland::compositor::SurfaceData;
use smithay::wayland::shm::shm_format_to_fourcc;

use super::shm::with_shm_bytes;
use super::{PACKED, RenderError, VulkanRenderer, VulkanTexture, checked_size};
use crate::dmabuf::{DmabufFlags, DmabufParams};

impl VulkanRenderer {
    /// The texture of a smithay dma-buf: cached by the buffer (a re-import
    /// creates no Vulkan object), else validated as a client's buffer,
    /// converted to the crate's [`Dmabuf`](crate::dmabuf::Dmabuf) over dups
    /// of its fds and imported by the copier.
    pub(super) fn import_smithay_dmabuf(
        &mut self,
        dmabuf: &SmithayDmabuf,
    ) -> Result<VulkanTexture, RenderError> {
        let cached = self
            .dmabuf_textures
            .iter()
            .find(|(weak, _)| weak.upgrade().is_some_and(|known| &known == dmabuf));
        if let Some((_, texture)) = cached {
            return Ok(texture.clone());
        }
        let format = dmabuf.format();
        if format.modifier != DrmModifier::Linear {
            return Err(RenderError::UnsupportedModifier {
                modifier: format.modifier,
            });
        }
        if dmabuf.y_inverted() {
            return Err(RenderError::Flipped);
        }
        let mut params = DmabufParams::new();
        let planes = dmabuf.handles().zip(dmabuf.offsets()).zip(dmabuf.strides());
        for (index, ((fd, offset), stride)) in (0..).zip(planes) {
            let fd = fd.try_clone_to_owned().map_err(RenderError::Dup)?;
            params.add(index, fd, offset, stride, format.modifier.into())?;
        }
        let size = dmabuf.size();
        let validated = params.create(size.w, size.h, format.code as u32, DmabufFlags::empty())?;
        let shared = Arc::new(Mutex::new(validated));
        self.copier.import(&shared)?;
        let texture = VulkanTexture::from_dmabuf(shared);
        self.dmabuf_textures.push((dmabuf.weak(), texture.clone()));
        Ok(texture)
    }
}

impl ImportMem for VulkanRenderer {
    fn import_memory(
        &mut self,
        data: &[u8],
        format: DrmFourcc,
        size: Size<i32, BufferCoord>,
        flipped: bool,
    ) -> Result<VulkanTexture, RenderError> {
        if flipped {
            return Err(RenderError::Flipped);
        }
        let (width, height) = checked_size(size)?;
        let needed = width as usize * height as usize * 4;
        let bytes = data.get(..needed).ok_or(RenderError::DataTooShort {
            len: data.len(),
            needed,
        })?;
        let texture = self.create_texture(format, size)?;
        let (buffer, _) = texture
            .device_buffer()
            .expect("a new texture is in device memory");
        // Later frames follow the upload on the same queue.
        let _uploaded = self.copier.upload(buffer, bytes)?;
        Ok(texture)
    }

    fn update_memory(
        &mut self,
        texture: &VulkanTexture,
        data: &[u8],
        region: Rectangle<i32, BufferCoord>,
    ) -> Result<(), RenderError> {
        let (buffer, desc) = texture.device_buffer().ok_or(RenderError::NotUpdatable)?;
        let inside = Rectangle::from_size(texture.size()).contains_rect(region);
        if !inside || region.is_empty() {
            return Err(RenderError::RegionOutOfBounds {
                width: desc.width,
                height: desc.height,
            });
        }
        // Whole rows of the region, from the texture-sized `data`.
        let stride = desc.width as usize * 4;
        let (first, rows) = (region.loc.y as usize, region.size.h as usize);
        let needed = (first + rows) * stride;
        let bytes = data
            .get(first * stride..needed)
            .ok_or(RenderError::DataTooShort {
                len: data.len(),
                needed,
            })?;
        let _uploaded = self
            .copier
            .upload_at(buffer, (first * stride) as u64, bytes)?;
        Ok(())
    }

    fn mem_formats(&self) -> Box<dyn Iterator<Item = DrmFourcc>> {
        Box::new(PACKED.into_iter())
    }
}

impl ImportMemWl for VulkanRenderer {
    fn import_shm_buffer(
        &mut self,
        buffer: &WlBuffer,
        _surface: Option<&SurfaceData>,
        _damage: &[Rectangle<i32, BufferCoord>],
    ) -> Result<VulkanTexture, RenderError> {
        let (pixels, format, size) = with_shm_bytes(buffer, |pool, data| {
            let format = shm_format_to_fourcc(data.format)
                .filter(|f| PACKED.contains(f))
                .ok_or(RenderError::UnsupportedShmFormat {
                    format: data.format,
                })?;
            let size = Size::from((data.width, data.height));
            let (width, height) = checked_size(size)?;
            let row = width as usize * 4;
            let (Ok(offset), Ok(stride)) =
                (usize::try_from(data.offset), usize::try_from(data.stride))
            else {
                return Err(RenderError::ShmLayout);
            };
            if stride < row {
                return Err(RenderError::ShmLayout);
            }
            // The rows, packed tightly; every range checked against the pool.
            let mut pixels = Vec::with_capacity(row * height as usize);
            for y in 0..height as usize {
                let start = offset + y * stride;
                let bytes = pool.get(start..start + row).ok_or(RenderError::ShmLayout)?;
                pixels.extend_from_slice(bytes);
            }
            Ok((pixels, format, size))
        })??;
        self.import_memory(&pixels, format, size, false)
    }
}

impl ImportDma for VulkanRenderer {
    fn dmabuf_formats(&self) -> FormatSet {
        let mut readable = PACKED.to_vec();
        readable.push(DrmFourcc::Nv12);
        self.linear_formats(&readable)
    }

    fn import_dmabuf(
        &mut self,
        dmabuf: &SmithayDmabuf,
        _damage: Option<&[Rectangle<i32, BufferCoord>]>,
    ) -> Result<VulkanTexture, RenderError> {
        self.import_smithay_dmabuf(dmabuf)
    }
}

impl ImportDmaWl for VulkanRenderer {}
