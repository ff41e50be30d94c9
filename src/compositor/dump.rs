//! `--dump-frames`: the headless output's frames as PNG files a person can
//! open.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use smithay::backend::renderer::Texture;

use crate::render::{VulkanRenderer, VulkanTexture};

/// Writes every `every`-th presented frame to `dir` as
/// `frame-NNNNNN.png` (the presentation sequence number), RGB, 8 bits.
#[derive(Debug)]
pub(crate) struct FrameDump {
    dir: PathBuf,
    every: u64,
}

impl FrameDump {
    pub(crate) fn new(dir: PathBuf, every: u64) -> Self {
        Self {
            dir,
            every: every.max(1),
        }
    }

    /// Writes frame `sequence` if it is one to keep. Blocks until the GPU
    /// finished it: dumping is for tests and debugging, not for speed.
    pub(crate) fn frame(
        &mut self,
        renderer: &mut VulkanRenderer,
        target: &VulkanTexture,
        sequence: u64,
    ) -> anyhow::Result<()> {
        if !sequence.is_multiple_of(self.every) {
            return Ok(());
        }
        let (width, height) = (target.width(), target.height());
        let pixels = renderer
            .read_pixels(target)
            .context("reading the frame back")?;
        let rgb = xrgb_to_rgb(&pixels);
        // Written under another name and renamed once complete, so whoever
        // watches the directory never reads half a frame.
        let path = self.dir.join(format!("frame-{sequence:06}.png"));
        let part = path.with_extension("png.part");
        let file = File::create(&part).with_context(|| format!("creating {}", part.display()))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&rgb)?;
        writer.finish()?;
        std::fs::rename(&part, &path)
            .with_context(|| format!("renaming {} to {}", part.display(), path.display()))?;
        Ok(())
    }
}

/// XRGB8888 (little-endian bytes B, G, R, X) to RGB bytes.
fn xrgb_to_rgb(pixels: &[u8]) -> Vec<u8> {
    pixels
        .chunks_exact(4)
        .flat_map(|p| [p[2], p[1], p[0]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrgb_bytes_become_rgb() {
        let pixel = 0xff12_3456u32.to_le_bytes();
        assert_eq!(xrgb_to_rgb(&pixel), vec![0x12, 0x34, 0x56]);
    }
}
