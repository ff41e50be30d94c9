//! `dmabridge probe`: the Vulkan device dma-bufs would be imported with, its
//! capabilities, and the table of importable (format, modifier) pairs that a
//! compositor advertises.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use dmabridge::vulkan::{
    Capabilities, Device, ExternalHandleSupport, ImportPath, ImportUsage, ImportableFormat,
    Instance, NodeId,
};
use drm_fourcc::DrmModifier;
use serde::Serialize;

/// Arguments of `dmabridge probe`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// The DRM node (`/dev/dri/renderD128`) whose Vulkan device to probe;
    /// the CPU device (lavapipe) by default.
    #[arg(long, value_name = "NODE")]
    device: Option<PathBuf>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let instance = Arc::new(Instance::new().context("creating the Vulkan instance")?);
    let device = Device::new(instance, args.device.as_deref()).context("choosing the device")?;
    let report = Report::new(&device);
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report).context("writing JSON")?;
        writeln!(out)?;
    } else {
        report.write_text(&mut out)?;
    }
    Ok(())
}

/// The report, shaped for JSON.
#[derive(Debug, Serialize)]
struct Report<'a> {
    device: DeviceReport<'a>,
    capabilities: CapsReport,
    extensions: &'a [String],
    importable: Vec<Row>,
}

#[derive(Debug, Serialize)]
struct DeviceReport<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    ty: String,
    api_version: String,
    driver_name: &'a str,
    driver_info: &'a str,
    /// `null` without `VK_EXT_physical_device_drm`.
    drm_nodes: Option<NodesReport>,
}

#[derive(Debug, Serialize)]
struct NodesReport {
    primary: Option<String>,
    render: Option<String>,
}

#[derive(Debug, Serialize)]
struct CapsReport {
    drm_format_modifier: bool,
    external_memory_dma_buf: bool,
    queue_family_foreign: bool,
    semaphore_sync_fd: Support,
    fence_sync_fd: Support,
    timeline_semaphore: bool,
    sampler_ycbcr_conversion: bool,
    synchronization2: bool,
}

#[derive(Debug, Serialize)]
struct Support {
    import: bool,
    export: bool,
}

impl From<ExternalHandleSupport> for Support {
    fn from(s: ExternalHandleSupport) -> Self {
        Support {
            import: s.import,
            export: s.export,
        }
    }
}

#[derive(Debug, Serialize)]
struct Row {
    /// The four characters, e.g. `AR24` for ARGB8888.
    fourcc: String,
    vk_format: String,
    modifier: String,
    modifier_name: String,
    planes: u32,
    path: &'static str,
    usage: Vec<&'static str>,
    max_extent: [u32; 2],
}

impl Row {
    fn new(f: &ImportableFormat) -> Self {
        let usage = [
            (ImportUsage::SAMPLED, "sampled"),
            (ImportUsage::TRANSFER_SRC, "transfer-src"),
            (ImportUsage::TRANSFER_DST, "transfer-dst"),
            (ImportUsage::COLOR_ATTACHMENT, "color-attachment"),
        ]
        .into_iter()
        .filter(|(flag, _)| f.usage.contains(*flag))
        .map(|(_, name)| name)
        .collect();
        Row {
            fourcc: f.fourcc.to_string(),
            vk_format: format!("{:?}", f.format),
            modifier: format!("0x{:016x}", u64::from(f.modifier)),
            modifier_name: modifier_name(f.modifier),
            planes: f.planes,
            path: match f.path {
                ImportPath::Image => "image",
                ImportPath::Buffer => "buffer",
            },
            usage,
            max_extent: [f.max_extent.width, f.max_extent.height],
        }
    }
}

fn modifier_name(modifier: DrmModifier) -> String {
    match modifier {
        DrmModifier::Linear => "LINEAR".to_owned(),
        DrmModifier::Invalid => "INVALID".to_owned(),
        other => format!("{other:?}"),
    }
}

fn node(id: Option<NodeId>) -> Option<String> {
    id.map(|id| id.to_string())
}

impl<'a> Report<'a> {
    fn new(device: &'a Device) -> Self {
        let caps: &'a Capabilities = device.capabilities();
        Report {
            device: DeviceReport {
                name: &caps.device_name,
                ty: caps.device_type.to_string(),
                api_version: caps.api_version.to_string(),
                driver_name: &caps.driver_name,
                driver_info: &caps.driver_info,
                drm_nodes: caps.drm_nodes.map(|n| NodesReport {
                    primary: node(n.primary),
                    render: node(n.render),
                }),
            },
            capabilities: CapsReport {
                drm_format_modifier: caps.drm_format_modifier,
                external_memory_dma_buf: caps.external_memory_dma_buf,
                queue_family_foreign: caps.queue_family_foreign,
                semaphore_sync_fd: caps.semaphore_sync_fd.into(),
                fence_sync_fd: caps.fence_sync_fd.into(),
                timeline_semaphore: caps.timeline_semaphore,
                sampler_ycbcr_conversion: caps.sampler_ycbcr_conversion,
                synchronization2: caps.synchronization2,
            },
            extensions: &caps.extensions,
            importable: device.importable_formats().iter().map(Row::new).collect(),
        }
    }

    fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let d = &self.device;
        let c = &self.capabilities;
        writeln!(
            out,
            "device     {} ({}, Vulkan {})",
            d.name, d.ty, d.api_version
        )?;
        writeln!(out, "driver     {}: {}", d.driver_name, d.driver_info)?;
        let nodes = match &d.drm_nodes {
            None => "unknown (no VK_EXT_physical_device_drm)".to_owned(),
            Some(n) => format!(
                "primary {}, render {}",
                n.primary.as_deref().unwrap_or("none"),
                n.render.as_deref().unwrap_or("none")
            ),
        };
        writeln!(out, "drm nodes  {nodes}")?;
        writeln!(out, "\ncapabilities:")?;
        for (name, value) in [
            ("drm format modifiers", c.drm_format_modifier),
            ("dma-buf memory", c.external_memory_dma_buf),
            ("foreign queue family", c.queue_family_foreign),
            ("timeline semaphores", c.timeline_semaphore),
            ("sampler YCbCr conversion", c.sampler_ycbcr_conversion),
            ("synchronization2", c.synchronization2),
        ] {
            writeln!(out, "  {name:<26} {}", yes_no(value))?;
        }
        for (name, s) in [
            ("semaphore SYNC_FD", &c.semaphore_sync_fd),
            ("fence SYNC_FD", &c.fence_sync_fd),
        ] {
            writeln!(
                out,
                "  {name:<26} import {}, export {}",
                yes_no(s.import),
                yes_no(s.export)
            )?;
        }
        writeln!(out, "\nimportable ({}):", self.importable.len())?;
        writeln!(
            out,
            "  {:<6} {:<40} {:<10} {:<18} {:>6}  {:<6} {:<11} usage",
            "fourcc", "vulkan format", "modifier", "", "planes", "path", "max extent"
        )?;
        for row in &self.importable {
            writeln!(
                out,
                "  {:<6} {:<40} {:<10} {:<18} {:>6}  {:<6} {:<11} {}",
                row.fourcc,
                row.vk_format,
                row.modifier_name,
                row.modifier,
                row.planes,
                row.path,
                format!("{}x{}", row.max_extent[0], row.max_extent[1]),
                row.usage.join(",")
            )?;
        }
        Ok(())
    }
}

fn yes_no(v: bool) -> &'static str {
    if v { "yes" } else { "no" }
}
