//! `dmabridge kernel`: what this kernel offers for buffer sharing, and a run
//! of every dma-buf path on each allocator that exists.
//!
//! Absent devices are reported, not failures (the build machines have none);
//! a device that exists but fails a step makes the command exit non-zero.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, bail};
use dmabridge::alloc::{
    AllocError, DmaHeap, DmabufAllocator, GbmDevice, NodeKind, Udmabuf, Vgem, drm_nodes,
};
use dmabridge::dmabuf::{Access, AccessError, Dmabuf, probe};
use dmabridge::sync::SyncAccess;
use drm_fourcc::DrmFourcc;

/// Arguments of `dmabridge kernel`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Size of the buffers the exercise allocates, WIDTHxHEIGHT.
    #[arg(long, default_value = "256x256", value_parser = dmabridge::args::parse_size)]
    size: (u32, u32),
}

pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .context("reading /proc/sys/kernel/osrelease")?;
    writeln!(out, "kernel     {}", release.trim())?;
    writeln!(out, "udmabuf    {}", presence(Path::new("/dev/udmabuf")))?;
    let heaps = dma_heaps();
    writeln!(
        out,
        "dma-heaps  {}",
        if heaps.is_empty() {
            "none".to_owned()
        } else {
            heaps.join(", ")
        }
    )?;
    let nodes = drm_nodes();
    if nodes.is_empty() {
        writeln!(out, "drm        no nodes")?;
    }
    for node in &nodes {
        writeln!(
            out,
            "drm        {} {}: syncobj {}, timeline syncobj {}{}",
            node.path.display(),
            node.driver,
            yes_no(node.syncobj),
            yes_no(node.syncobj_timeline),
            if node.atomic { ", atomic KMS" } else { "" },
        )?;
    }

    writeln!(out, "\nexercise ({}x{}):", args.size.0, args.size.1)?;
    let mut failures = 0;
    let mut report = |name: &str, result: Result<String, Outcome>| -> io::Result<()> {
        match result {
            Ok(line) => writeln!(out, "  {name:<22} {line}"),
            Err(Outcome::Absent(why)) => writeln!(out, "  {name:<22} absent: {why}"),
            Err(Outcome::Failed(err)) => {
                failures += 1;
                writeln!(out, "  {name:<22} FAILED: {err:#}")
            }
        }
    };
    let (w, h) = args.size;
    let udmabuf = Udmabuf::open().map_err(Outcome::from);
    for format in [DrmFourcc::Xrgb8888, DrmFourcc::Nv12] {
        let result = udmabuf
            .as_ref()
            .map_err(Outcome::again)
            .and_then(|a| exercise(a, format, w, h));
        report(&format!("udmabuf {format}"), result)?;
    }
    report(
        "udmabuf END w/o START",
        udmabuf
            .as_ref()
            .map_err(Outcome::again)
            .and_then(|a| end_without_start(a, w, h)),
    )?;
    let heap = DmaHeap::open_system().map_err(Outcome::from);
    for format in [DrmFourcc::Xrgb8888, DrmFourcc::Nv12] {
        let result = heap
            .as_ref()
            .map_err(Outcome::again)
            .and_then(|a| exercise(a, format, w, h));
        report(&format!("dma-heap system {format}"), result)?;
    }
    let vgem = Vgem::open().map_err(Outcome::from);
    report(
        "vgem XR24",
        vgem.and_then(|a| exercise(&a, DrmFourcc::Xrgb8888, w, h)),
    )?;
    for node in nodes.iter().filter(|n| n.kind == NodeKind::Primary) {
        let name = format!("gbm {} XR24", node.driver);
        let result = GbmDevice::open(&node.path)
            .map_err(Outcome::from)
            .and_then(|a| exercise(&a, DrmFourcc::Xrgb8888, w, h));
        report(&name, result)?;
    }
    if failures > 0 {
        bail!("{failures} exercise(s) failed");
    }
    Ok(())
}

/// Why an exercise did not succeed.
#[derive(Debug)]
enum Outcome {
    /// The device does not exist here.
    Absent(String),
    /// The device exists and a step failed.
    Failed(anyhow::Error),
}

impl Outcome {
    /// The same outcome for a further use of an allocator that failed to open.
    fn again(err: &Outcome) -> Outcome {
        match err {
            Outcome::Absent(why) => Outcome::Absent(why.clone()),
            Outcome::Failed(err) => Outcome::Failed(anyhow::anyhow!("{err:#}")),
        }
    }
}

impl From<AllocError> for Outcome {
    fn from(err: AllocError) -> Self {
        match err {
            AllocError::NotPresent { .. } | AllocError::NoVgem => Outcome::Absent(err.to_string()),
            err => Outcome::Failed(err.into()),
        }
    }
}

impl From<anyhow::Error> for Outcome {
    fn from(err: anyhow::Error) -> Self {
        Outcome::Failed(err)
    }
}

/// Allocates, validates, writes and reads back inside CPU-access brackets,
/// and round-trips the buffer's implicit fence.
fn exercise(
    allocator: &dyn DmabufAllocator,
    format: DrmFourcc,
    width: u32,
    height: u32,
) -> Result<String, Outcome> {
    let mut buf = allocator
        .allocate(format, width, height)
        .context("allocating and validating")?;
    let steps = cpu_round_trip(&mut buf)
        .and_then(|cpu| Ok((cpu, fence_round_trip(&buf)?)))
        .map(|(cpu, fence)| {
            format!(
                "{} plane(s), modifier {:?}; {cpu}; {fence}; state {}",
                buf.planes().len(),
                buf.modifier(),
                buf.ownership()
            )
        })?;
    Ok(steps)
}

/// A byte pattern that differs per plane and per position.
fn pattern(plane: usize, i: usize) -> u8 {
    (i.wrapping_mul(31) ^ plane.wrapping_mul(101)) as u8
}

/// Writes a pattern and reads it back, each inside its bracket. A buffer
/// exported read-only (Mesa's GBM exports without `DRM_RDWR`) must refuse
/// the write bracket; it is then only read.
fn cpu_round_trip(buf: &mut Dmabuf) -> anyhow::Result<&'static str> {
    let planes = buf.planes().len();
    let read_only = match buf.begin_cpu_access(Access::Write) {
        Ok(mut access) => {
            for plane in 0..planes {
                let bytes = access.plane_mut(plane).context("plane for writing")?;
                for (i, b) in bytes.iter_mut().enumerate() {
                    *b = pattern(plane, i);
                }
            }
            false
        }
        Err(AccessError::ReadOnly) => true,
        Err(err) => return Err(err).context("SYNC START (write)"),
    };
    if read_only {
        {
            let access = buf
                .begin_cpu_access(Access::Read)
                .context("SYNC START (read)")?;
            let bytes: usize = (0..planes).map(|p| access.plane(p).len()).sum();
            if bytes == 0 {
                bail!("the read bracket shows no bytes");
            }
        }
        return Ok("read-only export: write bracket refused, CPU read ok");
    }
    let access = buf
        .begin_cpu_access(Access::Read)
        .context("SYNC START (read)")?;
    for plane in 0..planes {
        let bytes = access.plane(plane);
        if let Some(i) = (0..bytes.len()).find(|&i| bytes[i] != pattern(plane, i)) {
            bail!(
                "plane {plane} byte {i} reads back {} not {}",
                bytes[i],
                pattern(plane, i)
            );
        }
    }
    Ok("CPU write+read ok")
}

fn fence_round_trip(buf: &Dmabuf) -> anyhow::Result<String> {
    let fence = buf
        .export_sync_file(SyncAccess::Read)
        .context("DMA_BUF_IOCTL_EXPORT_SYNC_FILE")?;
    let signalled = fence.is_signalled().context("polling the sync_file")?;
    let info = fence.info().context("SYNC_IOC_FILE_INFO")?;
    buf.import_sync_file(&fence, SyncAccess::Write)
        .context("DMA_BUF_IOCTL_IMPORT_SYNC_FILE")?;
    let drivers: Vec<&str> = info.fences.iter().map(|f| f.driver.as_str()).collect();
    Ok(format!(
        "fence export ({}, {}) + import ok",
        if signalled { "signalled" } else { "pending" },
        if drivers.is_empty() {
            "no fences".to_owned()
        } else {
            drivers.join("+")
        }
    ))
}

fn end_without_start(allocator: &Udmabuf, width: u32, height: u32) -> Result<String, Outcome> {
    let buf = allocator
        .allocate(DrmFourcc::Xrgb8888, width, height)
        .context("allocating")?;
    Ok(match probe::sync_end_without_start(buf.planes()[0].fd()) {
        Err(errno) => format!("refused by the kernel ({errno}); CpuAccess cannot issue it"),
        Ok(()) => "accepted by this kernel; CpuAccess never issues it".to_owned(),
    })
}

fn dma_heaps() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/dev/dma_heap") else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

fn presence(path: &Path) -> String {
    if path.exists() {
        format!("{} present", path.display())
    } else {
        format!("{} absent", path.display())
    }
}

fn yes_no(v: bool) -> &'static str {
    if v { "yes" } else { "no" }
}
