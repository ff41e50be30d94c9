//! Command-line interface: one module per subcommand.

mod capture;
mod kernel;
mod probe;
mod run;

use clap::{Parser, Subcommand};

/// Compositor-side dma-buf sharing for Wayland, Vulkan and DRM.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Capture an output or a toplevel of a Wayland compositor into a PNG
    /// (ext-image-copy-capture-v1, or wlr-screencopy as the fallback).
    Capture(capture::Args),
    /// Report the kernel's buffer-sharing facilities and exercise them.
    Kernel(kernel::Args),
    /// Report the Vulkan device, its dma-buf capabilities, and the formats
    /// and modifiers it imports.
    Probe(probe::Args),
    /// Run the compositor: a Wayland socket clients draw into, shown on a
    /// headless output.
    Run(run::Args),
}

impl Cli {
    /// Runs the subcommand; the process's exit code.
    pub(crate) fn run(self) -> anyhow::Result<i32> {
        match self.command {
            Command::Capture(args) => capture::run(args),
            Command::Kernel(args) => kernel::run(args).map(|()| 0),
            Command::Probe(args) => probe::run(args).map(|()| 0),
            Command::Run(args) => run::run(args),
        }
    }
}
