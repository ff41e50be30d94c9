//! Textures from memory, `wl_shm` buffers and dma-bufs.

use std::sync::{Arc, Mutex};

use drm_fourcc::{DrmFourcc, DrmModifier};
use smithay::backend::allocator::Buffer as _;
use smithay::backend::allocator::Format;
use smithay::backend::allocator::dmabuf::Dmabuf as SmithayDmabuf;
use smithay::backend::allocator::format::FormatSet;
use smithay::backend::renderer::{ImportDma, ImportDmaWl, ImportMem, ImportMemWl, Texture};
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::utils::user_data::UserDataMap;
use smithay::utils::{Buffer as BufferCoord, Rectangle, Size};
use smithay::wayland::compositor::SurfaceData;
use smithay::wayland::shm::{BufferData, shm_format_to_fourcc};
use tracing::debug;

use super::shm::with_shm_bytes;
use super::shm_cache::{CachedTexture, SurfaceShmTextures, byte_ranges, damaged_spans};
use super::{PACKED, RenderError, VulkanRenderer, VulkanTexture, checked_size};
use crate::dmabuf::{DmabufFlags, DmabufParams, exporter};

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
        // The implicit modifier is LINEAR where every plane comes from an
        // exporter that makes nothing else (`dmabuf::exporter`).
        let implicitly_linear = || {
            dmabuf.handles().all(|fd| {
                exporter::exporter(fd)
                    .is_some_and(|name| exporter::implicitly_linear(&name, self.drm_exports_linear))
            })
        };
        let modifier = match format.modifier {
            DrmModifier::Linear => DrmModifier::Linear,
            DrmModifier::Invalid if implicitly_linear() => DrmModifier::Linear,
            modifier => return Err(RenderError::UnsupportedModifier { modifier }),
        };
        let mut params = DmabufParams::new();
        let planes = dmabuf.handles().zip(dmabuf.offsets()).zip(dmabuf.strides());
        for (index, ((fd, offset), stride)) in (0..).zip(planes) {
            let fd = fd.try_clone_to_owned().map_err(RenderError::Dup)?;
            params.add(index, fd, offset, stride, modifier.into())?;
        }
        let size = dmabuf.size();
        let validated = params.create(size.w, size.h, format.code as u32, DmabufFlags::empty())?;
        let shared = Arc::new(Mutex::new(validated));
        self.copier.import(&shared)?;
        // A y-inverted buffer is stored as it is; draws and readbacks
        // turn it upright (`VulkanTexture::stored_rows`).
        let texture = VulkanTexture::from_dmabuf(shared, dmabuf.y_inverted());
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

impl VulkanRenderer {
    /// What [`import_shm_buffer`](ImportMemWl::import_shm_buffer) does once
    /// smithay lent it the bytes of the buffer's `pool` and the buffer's
    /// layout in it, `data`: the pixels in the texture kept in `surface`
    /// (a surface's data map), uploading only those `damage` covers, when
    /// the size and format match; else in a new texture, kept there for the
    /// next commit (see `render/shm_cache.rs`).
    pub fn import_shm_bytes(
        &mut self,
        pool: &[u8],
        data: BufferData,
        surface: Option<&UserDataMap>,
        damage: &[Rectangle<i32, BufferCoord>],
    ) -> Result<VulkanTexture, RenderError> {
        let format = shm_format_to_fourcc(data.format)
            .filter(|f| PACKED.contains(f))
            .ok_or(RenderError::UnsupportedShmFormat {
                format: data.format,
            })?;
        let size = Size::from((data.width, data.height));
        let (width, height) = checked_size(size)?;
        let (width, height) = (width as usize, height as usize);
        let row = width * 4;
        let (Ok(offset), Ok(stride)) = (usize::try_from(data.offset), usize::try_from(data.stride))
        else {
            return Err(RenderError::ShmLayout);
        };
        // Every row inside the pool, so no span below can fail half-way.
        let end = stride
            .checked_mul(height - 1)
            .and_then(|n| n.checked_add(offset + row));
        if stride < row || end.is_none_or(|end| end > pool.len()) {
            return Err(RenderError::ShmLayout);
        }

        let cache = surface.map(|map| map.get_or_insert_threadsafe(SurfaceShmTextures::default));
        let kept = cache
            .and_then(|cache| cache.take(&self.context))
            .filter(|kept| kept.texture.fourcc() == format && kept.texture.size() == size);
        let (mut kept, spans) = match kept {
            Some(kept) => (kept, damaged_spans(width, height, damage)),
            None => {
                debug!(%format, width, height, "new texture for a wl_shm surface");
                let kept = CachedTexture {
                    context: self.context.clone(),
                    texture: self.create_texture(format, size)?,
                    staging: Vec::new(),
                };
                self.shm_buffers_created += 1;
                (kept, damaged_spans(width, height, &[]))
            }
        };
        let free = match kept.free_staging() {
            Some(index) => Some(index),
            None => {
                self.copier.collect()?;
                kept.free_staging()
            }
        };
        let index = match free {
            Some(index) => index,
            None => {
                debug!("no free staging memory for a wl_shm texture: new");
                let staging = self.copier.create_staging((row * height) as u64)?;
                self.shm_buffers_created += 1;
                kept.add_staging(staging)
            }
        };
        let staging = kept.staging[index]
            .bytes_mut()
            .expect("no submitted upload holds free or new staging memory");
        for span in &spans {
            let (from, to) = (offset + span.y * stride, span.y * row);
            let columns = span.x.start * 4..span.x.end * 4;
            let source = pool
                .get(from + columns.start..from + columns.end)
                .ok_or(RenderError::ShmLayout)?;
            staging[to + columns.start..to + columns.end].copy_from_slice(source);
        }
        let (buffer, _) = kept
            .texture
            .device_buffer()
            .expect("shm textures are in device memory");
        // Later frames follow the upload on the same queue.
        let _uploaded =
            self.copier
                .upload_ranges(&kept.staging[index], buffer, &byte_ranges(width, &spans))?;
        let texture = kept.texture.clone();
        if let Some(cache) = cache {
            cache.put(kept);
        }
        Ok(texture)
    }
}

impl ImportMemWl for VulkanRenderer {
    fn import_shm_buffer(
        &mut self,
        buffer: &WlBuffer,
        surface: Option<&SurfaceData>,
        damage: &[Rectangle<i32, BufferCoord>],
    ) -> Result<VulkanTexture, RenderError> {
        let surface = surface.map(|states| &states.data_map);
        with_shm_bytes(buffer, |pool, data| {
            self.import_shm_bytes(pool, data, surface, damage)
        })?
    }
}

impl ImportDma for VulkanRenderer {
    /// Each readable format with LINEAR and with the implicit modifier
    /// (read as LINEAR where the exporter allows, refused otherwise).
    fn dmabuf_formats(&self) -> FormatSet {
        let mut readable = PACKED.to_vec();
        readable.push(DrmFourcc::Nv12);
        let linear = self.linear_formats(&readable);
        let implicit: Vec<Format> = linear
            .iter()
            .map(|format| Format {
                code: format.code,
                modifier: DrmModifier::Invalid,
            })
            .collect();
        linear.into_iter().chain(implicit).collect()
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
