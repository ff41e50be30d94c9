//! A client's dma-buf: planes, validation, ownership, CPU access.

mod format;

pub use format::{FormatInfo, PlaneLayout};
