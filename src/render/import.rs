//! Textures from memory, `wl_shm` buffers and dma-bufs.

use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use drm_fourcc::{DrmFourcc, DrmModifier};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use smithay::backend::allocator::Buffer as _;
use smithay::backend::allocator::Format;
use smithay::backend::allocator::dmabuf::Dmabuf as SmithayDmabuf;
use smithay::backend::allocator::format::FormatSet;
use smithay::backend::renderer::{ImportDma, ImportDmaWl, ImportMem, ImportMemWl, Texture};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::utils::user_data::UserDataMap;
use smithay::utils::{Buffer as BufferCoord, Rectangle, Size};
use smithay::wayland::compositor::SurfaceData;
use smithay::wayland::shm::{
    BufferData, shm_format_to_fourcc, with_buffer_contents, with_buffer_pool_fd,
};
use tracing::debug;

use super::shm::with_shm_bytes;
use super::shm_cache::{
    CachedTexture, Span, SurfaceShmTextures, byte_ranges, damaged_rects, damaged_spans,
};
use super::{
    DmabufTexture, PACKED, RenderError, ShmUploads, VulkanRenderer, VulkanTexture, checked_size,
};
use crate::copy::{
    self, Copier, CopyCompletion, CopyJob, CopyPlan, CopyRequest, DeviceBuffer, ImageDesc,
    PlaneDesc, Surface, Transform,
};
use crate::dmabuf::{Access, DmabufFlags, DmabufParams, SharedDmabuf, exporter};

/// A `wl_shm` pool as the renderer reads it: its bytes, which smithay maps
/// and guards against a client truncating the file under a read, and its
/// file where known, which the device may then read in place
/// (`render/shm_cache.rs`).
#[derive(Debug, Clone, Copy)]
pub struct ShmPool<'a> {
    /// The pool's bytes.
    pub bytes: &'a [u8],
    /// The pool's file.
    pub fd: Option<BorrowedFd<'a>>,
}

/// Which pixels of a `wl_shm` buffer [`VulkanRenderer::import_shm_bytes`]
/// uploads into its surface's texture.
#[derive(Debug, Clone)]
pub enum ShmUpload<'a> {
    /// The commit that shows `buffer` (the renderer's import): the pixels
    /// `damage` covers (every pixel where the texture is new), or none
    /// where the buffer was all uploaded ahead.
    Commit {
        /// The buffer committed, where known.
        buffer: Option<&'a ObjectId>,
        /// Its damage since the texture was last brought up to date.
        damage: &'a [Rectangle<i32, BufferCoord>],
    },
    /// Rows of `buffer`, committed and not yet shown, uploaded ahead of
    /// the commit that shows it (`compositor/upload_ahead.rs`): into the
    /// surface's texture of its size and format, or a new one. The rows
    /// that end the buffer leave the texture holding all of it.
    Ahead {
        /// The buffer committed.
        buffer: &'a ObjectId,
        /// Rows of it.
        rows: Range<usize>,
    },
}

impl<'a> ShmUpload<'a> {
    /// A commit of an unknown buffer with `damage`.
    pub fn damage(damage: &'a [Rectangle<i32, BufferCoord>]) -> Self {
        Self::Commit {
            buffer: None,
            damage,
        }
    }
}

impl VulkanRenderer {
    /// Whether `surface` (a surface's data map) keeps no texture of
    /// `buffer`'s size and format, a `wl_shm` buffer of one of the packed
    /// formats larger than `bytes`: its next import would upload every
    /// pixel at once.
    pub fn shm_upload_is_large(
        &self,
        buffer: &WlBuffer,
        surface: &UserDataMap,
        bytes: usize,
    ) -> bool {
        let Some((format, size)) = large_shm_buffer(buffer, bytes) else {
            return false;
        };
        !surface.get::<SurfaceShmTextures>().is_some_and(|cache| {
            cache.holds(&self.context, |kept| {
                kept.texture.fourcc() == format && kept.texture.size() == size
            })
        })
    }

    /// Whether `buffer` is a `wl_shm` buffer of one of the packed formats
    /// larger than `bytes`.
    pub fn shm_buffer_is_large(buffer: &WlBuffer, bytes: usize) -> bool {
        large_shm_buffer(buffer, bytes).is_some()
    }

    /// Whether `surface`'s texture holds a buffer uploaded ahead whose
    /// commit was not imported yet.
    pub fn holds_shm_ahead(&self, surface: &UserDataMap) -> bool {
        surface
            .get::<SurfaceShmTextures>()
            .is_some_and(|cache| cache.holds(&self.context, |kept| kept.ahead.is_some()))
    }

    /// Uploads `rows` of the `wl_shm` `buffer`, committed to the surface
    /// whose data map is `surface` and not yet shown, ahead of that commit
    /// ([`ShmUpload::Ahead`]).
    pub fn upload_shm_ahead(
        &mut self,
        buffer: &WlBuffer,
        surface: &UserDataMap,
        rows: Range<usize>,
    ) -> Result<(), RenderError> {
        let id = buffer.id();
        let upload = ShmUpload::Ahead { buffer: &id, rows };
        with_buffer_pool_fd(buffer, |fd, _, _| {
            with_shm_bytes(buffer, |bytes, data| {
                let pool = ShmPool {
                    bytes,
                    fd: Some(fd),
                };
                self.import_shm_bytes(pool, data, Some(surface), upload)
                    .map(drop)
            })
        })??
    }

    /// Whether the last band of rows uploaded ahead is still being
    /// uploaded by the device: the next band waits for it, so that a frame
    /// never queues behind more than one band.
    pub fn band_ahead_in_flight(&mut self) -> bool {
        let done = self
            .band_ahead
            .as_ref()
            .is_none_or(|band| band.is_done().unwrap_or(true));
        if done {
            self.band_ahead = None;
        }
        !done
    }

    /// Forgets that `surface`'s texture holds `buffer` uploaded ahead: the
    /// buffer was committed again, and the client may have changed its
    /// pixels since it was released.
    pub fn forget_shm_ahead(&self, surface: &UserDataMap, buffer: &ObjectId) {
        if let Some(cache) = surface.get::<SurfaceShmTextures>() {
            cache.forget_ahead(buffer);
        }
    }

    /// The texture of a smithay dma-buf: cached by the buffer (a re-import
    /// creates no Vulkan object), else validated as a client's buffer,
    /// converted to the crate's [`Dmabuf`](crate::dmabuf::Dmabuf) over dups
    /// of its fds and imported by the copier. Where `copies` allows, a
    /// packed dma-buf the device cannot import but the CPU can map for
    /// reading gets a texture in device memory instead, which each commit
    /// copies it into ([`Copies`]).
    pub(super) fn import_smithay_dmabuf(
        &mut self,
        dmabuf: &SmithayDmabuf,
        copies: Copies,
    ) -> Result<VulkanTexture, RenderError> {
        let cached = self
            .dmabuf_textures
            .iter()
            .position(|(weak, _)| weak.upgrade().is_some_and(|known| &known == dmabuf));
        if let Some(index) = cached {
            let (weak, mut entry) = self.dmabuf_textures.swap_remove(index);
            let result = match (&mut entry, copies) {
                (DmabufTexture::Imported(texture), _) => Ok(texture.clone()),
                (DmabufTexture::Copied { .. }, Copies::No) => Err(RenderError::NotImported),
                (DmabufTexture::Copied { kept, .. }, Copies::Mapped) => Ok(kept.texture.clone()),
                (DmabufTexture::Copied { dmabuf, kept }, Copies::Read) => self
                    .copy_dmabuf(dmabuf, kept)
                    .map(|()| kept.texture.clone()),
            };
            self.dmabuf_textures.push((weak, entry));
            return result;
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
        let entry = match self.copier.import(&shared) {
            // A y-inverted buffer is stored as it is; draws and readbacks
            // turn it upright (`VulkanTexture::stored_rows`).
            Ok(()) => {
                DmabufTexture::Imported(VulkanTexture::from_dmabuf(shared, dmabuf.y_inverted()))
            }
            Err(err) if copies != Copies::No && PACKED.contains(&format.code) => {
                lock(&shared).map_cpu().map_err(|_| err)?;
                debug!(
                    format = %format.code,
                    "a dma-buf the device cannot import: copied by the CPU at each commit"
                );
                let texture = self.create_texture_rows(format.code, size, dmabuf.y_inverted())?;
                let mut kept = CachedTexture::new(self.context.clone(), texture);
                if copies == Copies::Read {
                    self.copy_dmabuf(&shared, &mut kept)?;
                }
                DmabufTexture::Copied {
                    dmabuf: shared,
                    kept,
                }
            }
            Err(err) => return Err(err.into()),
        };
        let texture = match &entry {
            DmabufTexture::Imported(texture) => texture.clone(),
            DmabufTexture::Copied { kept, .. } => kept.texture.clone(),
        };
        self.dmabuf_textures.push((dmabuf.weak(), entry));
        Ok(texture)
    }

    /// Copies the whole of `dmabuf`, a packed LINEAR buffer, into `kept`'s
    /// texture: its plane read by the CPU inside a read bracket
    /// (`DMA_BUF_IOCTL_SYNC`) into staging memory, and from there by one
    /// transfer. Only once its write fences signalled, so that the bracket
    /// never waits; until then the texture keeps the last copy.
    fn copy_dmabuf(
        &mut self,
        dmabuf: &SharedDmabuf,
        kept: &mut CachedTexture,
    ) -> Result<(), RenderError> {
        let mut locked = lock(dmabuf);
        // A commit is held until its fences signalled, but a client may add
        // a write after it: the read bracket would wait for that on the
        // loop. Such a commit keeps the copy made before.
        // A dma-buf polls readable once its write fences signalled.
        let written = locked.buffers().all(|(fd, _)| {
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            matches!(poll(&mut fds, Some(&Timespec::default())), Ok(1))
        });
        if !written {
            debug!("a copied dma-buf still being written: its last copy stays");
            return Ok(());
        }
        let stride = locked.planes()[0].stride();
        let (width, height) = (locked.width() as usize, locked.height() as usize);
        let access = locked
            .begin_cpu_access(Access::Read)
            .map_err(RenderError::DmabufAccess)?;
        let layout = PlaneDesc { offset: 0, stride };
        let spans = damaged_spans(width, height, &[]);
        self.upload_through_staging(access.plane(0), layout, kept, &spans)?;
        self.shm_uploads.dmabuf_copies += 1;
        Ok(())
    }
}

/// `fd`'s first `len` bytes, a `wl_shm` pool, imported as host memory for
/// the device to read in place, counted in `uploads`; `None` where it
/// cannot be (not a memfd sealed against shrinking, or a device without
/// `VK_EXT_external_memory_host`: `vulkan/host.rs`).
pub(super) fn import_pool(
    copier: &Copier,
    uploads: &mut ShmUploads,
    fd: BorrowedFd<'_>,
    len: usize,
) -> Option<DeviceBuffer> {
    match copier.import_host_memory(fd, len as u64) {
        Ok(buffer) => {
            uploads.pool_imports += 1;
            Some(buffer)
        }
        Err(err) => {
            debug!(%err, "a wl_shm pool the device cannot read in place");
            None
        }
    }
}

/// Whether a dma-buf the device cannot import may be copied by the CPU
/// instead ([`VulkanRenderer::import_smithay_dmabuf`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Copies {
    /// No: the device must read or write the buffer itself (a target, a
    /// capture's or a copy's buffer).
    No,
    /// Yes, but the buffer is only mapped, its bytes not read: its
    /// creation, when the client may still be drawing into it, and no
    /// fence of the client's is waited for.
    Mapped,
    /// Yes, and a copied buffer is copied again: a commit, whose fences
    /// have signalled.
    Read,
}

/// The dma-buf behind `shared`, locked; a panic elsewhere while it was
/// held does not make it unusable.
fn lock(shared: &SharedDmabuf) -> MutexGuard<'_, crate::dmabuf::Dmabuf> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// smithay lent it the buffer's `pool` and the buffer's layout in it,
    /// `data`: the pixels in the texture kept in `surface` (a surface's data
    /// map), uploading only those `upload` names, when the size and format
    /// match; else in a new texture, kept there for the next commit. The
    /// device copies them straight from a pool it can import, else from
    /// staging memory the CPU copied them into (see `render/shm_cache.rs`).
    pub fn import_shm_bytes(
        &mut self,
        pool: ShmPool<'_>,
        data: BufferData,
        surface: Option<&UserDataMap>,
        upload: ShmUpload<'_>,
    ) -> Result<VulkanTexture, RenderError> {
        if shm_format_to_fourcc(data.format) == Some(DrmFourcc::Nv12) {
            return self.import_shm_whole(pool.bytes, data, surface);
        }
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
        if stride < row || end.is_none_or(|end| end > pool.bytes.len()) {
            return Err(RenderError::ShmLayout);
        }

        let cache = surface.map(|map| map.get_or_insert_threadsafe(SurfaceShmTextures::default));
        let kept = cache
            .and_then(|cache| cache.take(&self.context))
            .filter(|kept| kept.texture.fourcc() == format && kept.texture.size() == size);
        let mut kept = match kept {
            Some(kept) => kept,
            None => {
                debug!(%format, width, height, "new texture for a wl_shm surface");
                self.shm_buffers_created += 1;
                CachedTexture::new(self.context.clone(), self.create_texture(format, size)?)
            }
        };
        let spans = match upload {
            // Uploaded ahead, all of it: nothing is left to upload.
            ShmUpload::Commit {
                buffer: Some(buffer),
                ..
            } if kept.ahead.take().as_ref() == Some(buffer) => Vec::new(),
            // A texture that holds no frame yet gets every pixel.
            ShmUpload::Commit { .. } if kept.fresh => damaged_spans(width, height, &[]),
            ShmUpload::Commit { damage, .. } => damaged_spans(width, height, damage),
            ShmUpload::Ahead { buffer, ref rows } => {
                if rows.end >= height {
                    kept.ahead = Some(buffer.clone());
                }
                let (w, h) = (data.width, i32::try_from(rows.len()).unwrap_or(i32::MAX));
                let y = i32::try_from(rows.start).unwrap_or(i32::MAX);
                damaged_spans(
                    width,
                    height,
                    &[Rectangle::new((0, y).into(), (w, h).into())],
                )
            }
        };
        kept.fresh &= !matches!(upload, ShmUpload::Commit { .. });
        let imported = pool.fd.and_then(|fd| {
            let len = pool.bytes.len();
            kept.pools.get_or_import(fd, len, || {
                import_pool(&self.copier, &mut self.shm_uploads, fd, len)
            })
        });
        let layout = PlaneDesc {
            offset: offset as u64,
            stride: stride as u32,
        };
        let uploaded = match imported {
            Some(buffer) => self.upload_from_pool(&buffer, layout, &kept.texture, &spans)?,
            None => {
                self.shm_uploads.staged += 1;
                self.upload_through_staging(pool.bytes, layout, &mut kept, &spans)?
            }
        };
        if matches!(upload, ShmUpload::Ahead { .. }) {
            self.band_ahead = uploaded;
        }
        let texture = kept.texture.clone();
        if let Some(cache) = cache {
            cache.put(kept);
        }
        Ok(texture)
    }

    /// The planes of a `wl_shm` buffer, `data` in the pool `bytes`, copied
    /// as they are into device memory: the texture kept in `surface` (a
    /// surface's data map) where its layout is the same, else a new one,
    /// kept there for the next commit. The whole buffer each time, through
    /// staging memory: the path of NV12 buffers, whose damage the
    /// per-pixel uploads do not cover, and of a buffer copy's source in a
    /// pool the device cannot read in place.
    pub(super) fn import_shm_whole(
        &mut self,
        bytes: &[u8],
        data: BufferData,
        surface: Option<&UserDataMap>,
    ) -> Result<VulkanTexture, RenderError> {
        let (desc, span) = shm_layout(data, bytes.len())?;
        let desc = ImageDesc {
            planes: desc
                .planes
                .iter()
                .map(|plane| PlaneDesc {
                    offset: plane.offset - span.start as u64,
                    stride: plane.stride,
                })
                .collect(),
            ..desc
        };
        let cache = surface.map(|map| map.get_or_insert_threadsafe(SurfaceShmTextures::default));
        let kept = cache
            .and_then(|cache| cache.take(&self.context))
            .filter(|kept| {
                kept.texture
                    .device_buffer()
                    .is_some_and(|(_, d)| *d == desc)
            });
        let kept = match kept {
            Some(kept) => kept,
            None => {
                debug!(format = %desc.format, desc.width, desc.height, "new texture for a wl_shm buffer");
                let buffer = self.copier.create_buffer(span.len() as u64)?;
                self.shm_buffers_created += 1;
                let texture = VulkanTexture::from_buffer(buffer, desc, false);
                CachedTexture::new(self.context.clone(), texture)
            }
        };
        let (buffer, _) = kept
            .texture
            .device_buffer()
            .expect("shm textures are in device memory");
        // Later frames and copies follow the upload on the same queue.
        let _uploaded = self.copier.upload(buffer, &bytes[span])?;
        self.shm_uploads.staged += 1;
        let texture = kept.texture.clone();
        if let Some(cache) = cache {
            cache.put(kept);
        }
        Ok(texture)
    }

    /// Copies the pixels `spans` cover from `pool`, the buffer's pool
    /// imported, where `layout` places the buffer, into `texture`: one
    /// transfer a damaged rectangle.
    fn upload_from_pool(
        &mut self,
        pool: &DeviceBuffer,
        layout: PlaneDesc,
        texture: &VulkanTexture,
        spans: &[Span],
    ) -> Result<Option<CopyCompletion>, RenderError> {
        let (_, desc) = texture
            .device_buffer()
            .expect("shm textures are in device memory");
        let source = ImageDesc {
            planes: vec![layout],
            ..desc.clone()
        };
        let (width, height) = (texture.size().w, texture.size().h);
        let mut uploaded = None;
        for (rows, columns) in damaged_rects(spans) {
            // Inside the texture, whose size fits i32.
            let [x, y, w, h] = [columns.start, rows.start, columns.len(), rows.len()]
                .map(|n| i32::try_from(n).expect("inside the texture"));
            let plan = CopyPlan::new(CopyRequest {
                src_size: copy::Size::new(width, height),
                dst_size: copy::Size::new(width, height),
                src_rect: copy::Rect::new(copy::Point::new(x, y), copy::Size::new(w, h)),
                dst_rect: copy::Rect::new(copy::Point::new(x, y), copy::Size::new(w, h)),
                transform: Transform::Normal,
                filter: None,
            })?;
            let src = Surface::Buffer {
                buffer: pool,
                desc: &source,
            };
            // Later frames follow the upload on the same queue.
            uploaded = Some(
                self.copier
                    .submit(&CopyJob::new(&plan, src, texture.surface()))?,
            );
        }
        self.shm_uploads.from_pool += 1;
        Ok(uploaded)
    }

    /// Copies the pixels `spans` cover from `pool`, the bytes of the
    /// buffer's pool, where `layout` places the buffer, into staging memory
    /// `kept` has free (or new staging memory), and from there into its
    /// texture in one transfer; its completion, where anything was
    /// submitted.
    fn upload_through_staging(
        &mut self,
        pool: &[u8],
        layout: PlaneDesc,
        kept: &mut CachedTexture,
        spans: &[Span],
    ) -> Result<Option<CopyCompletion>, RenderError> {
        let (width, height) = (
            kept.texture.width() as usize,
            kept.texture.height() as usize,
        );
        let row = width * 4;
        let (offset, stride) = (layout.offset as usize, layout.stride as usize);
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
        for span in spans {
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
        Ok(self
            .copier
            .upload_ranges(&kept.staging[index], buffer, &byte_ranges(width, spans))?)
    }
}

/// The format and size of `buffer`, a `wl_shm` buffer of one of the packed
/// formats larger than `bytes`; `None` for any other buffer.
fn large_shm_buffer(
    buffer: &WlBuffer,
    bytes: usize,
) -> Option<(DrmFourcc, Size<i32, BufferCoord>)> {
    with_buffer_contents(buffer, |_, _, data| {
        let format = shm_format_to_fourcc(data.format).filter(|f| PACKED.contains(f))?;
        let large = usize::try_from(data.stride)
            .ok()
            .and_then(|stride| stride.checked_mul(usize::try_from(data.height).ok()?))
            .is_some_and(|len| len > bytes);
        large.then(|| (format, Size::from((data.width, data.height))))
    })
    .ok()
    .flatten()
}

/// Where a `wl_shm` buffer's planes lie in its pool of `pool_len` bytes:
/// its image, with each plane's offset counted from the start of the pool,
/// and the bytes its planes span there. A packed buffer is one plane of
/// 4-byte pixels. An NV12 buffer is its Y plane, then, at `offset + stride
/// × height` with the same stride, its plane of interleaved Cb and Cr
/// samples, half as many rows: the layout weston and wlroots read
/// multi-planar `wl_shm` buffers in, which `wl_shm_pool.create_buffer`
/// checked against the pool (`compositor/shm.rs`). [`RenderError::ShmLayout`]
/// where a plane reaches past the pool all the same.
pub(super) fn shm_layout(
    data: BufferData,
    pool_len: usize,
) -> Result<(ImageDesc, Range<usize>), RenderError> {
    let format = shm_format_to_fourcc(data.format)
        .filter(|f| PACKED.contains(f) || *f == DrmFourcc::Nv12)
        .ok_or(RenderError::UnsupportedShmFormat {
            format: data.format,
        })?;
    let (width, height) = checked_size(Size::from((data.width, data.height)))?;
    let (Ok(offset), Ok(stride)) = (u64::try_from(data.offset), u32::try_from(data.stride)) else {
        return Err(RenderError::ShmLayout);
    };
    let luma = PlaneDesc { offset, stride };
    let rows = |n: u32| u64::from(stride) * u64::from(n);
    let (planes, end) = if format == DrmFourcc::Nv12 {
        let chroma = PlaneDesc {
            offset: offset + rows(height),
            stride,
        };
        (vec![luma, chroma], chroma.offset + rows(height.div_ceil(2)))
    } else {
        (vec![luma], offset + rows(height))
    };
    let (Ok(start), Ok(end)) = (usize::try_from(offset), usize::try_from(end)) else {
        return Err(RenderError::ShmLayout);
    };
    if end > pool_len {
        return Err(RenderError::ShmLayout);
    }
    let desc = ImageDesc {
        format,
        width,
        height,
        planes,
    };
    Ok((desc, start..end))
}

impl ImportMemWl for VulkanRenderer {
    fn import_shm_buffer(
        &mut self,
        buffer: &WlBuffer,
        surface: Option<&SurfaceData>,
        damage: &[Rectangle<i32, BufferCoord>],
    ) -> Result<VulkanTexture, RenderError> {
        let surface = surface.map(|states| &states.data_map);
        with_buffer_pool_fd(buffer, |fd, _, _| {
            with_shm_bytes(buffer, |bytes, data| {
                let pool = ShmPool {
                    bytes,
                    fd: Some(fd),
                };
                let buffer = buffer.id();
                let upload = ShmUpload::Commit {
                    buffer: Some(&buffer),
                    damage,
                };
                self.import_shm_bytes(pool, data, surface, upload)
            })
        })??
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
        damage: Option<&[Rectangle<i32, BufferCoord>]>,
    ) -> Result<VulkanTexture, RenderError> {
        // smithay imports a buffer without damage when the client creates
        // it, and with its damage when it is committed.
        let copies = if damage.is_some() {
            Copies::Read
        } else {
            Copies::Mapped
        };
        self.import_smithay_dmabuf(dmabuf, copies)
    }
}

impl ImportDmaWl for VulkanRenderer {}
