//! Command-line interface: one module per subcommand.

mod kernel;
mod probe;

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
    /// Report the kernel's buffer-sharing facilities and exercise them.
    Kernel(kernel::Args),
    /// Report the Vulkan device, its dma-buf capabilities, and the formats
    /// and modifiers it imports.
    Probe(probe::Args),
}

impl Cli {
    pub(crate) fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Kernel(args) => kernel::run(args),
            Command::Probe(args) => probe::run(args),
        }
    }
}
