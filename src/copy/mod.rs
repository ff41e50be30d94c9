//! Copies between buffers: "copy this rectangle of X to that rectangle of Y
//! with this transform", asked for in one call.
//!
//! * [`Point`], [`Size`] and [`Rect`] carry their coordinate space,
//!   [`Buffer`] (source pixels) or [`Dest`] (destination pixels).
//! * [`Transform`] is a `wl_output.transform` value, applied to the source
//!   content on its way to the destination (its documentation states the
//!   convention and its relation to `wl_surface.set_buffer_transform`).
//! * [`CopyPlan::new`] validates a [`CopyRequest`] and yields the map from
//!   destination pixels to source coordinates that a blit or shader follows;
//!   no Vulkan, Wayland or fd is involved.
//! * [`reference`](mod@reference) carries a plan out on the CPU, simply: the definition the
//!   GPU path is tested against.
//! * [`Copier`] carries a plan out on a Vulkan device, as a [`CopyJob`]: a
//!   compute shader over storage buffers, any offset and stride; or, for a
//!   copy that moves bytes unchanged (`plain.rs`: no transform, no scaling,
//!   a packed format onto itself), `vkCmdCopyBuffer`.
//! * [`DrawPlan::new`] validates a [`DrawRequest`], a copy extended for
//!   composition (a solid colour or a fractional source rectangle, a clip
//!   rectangle, alpha, blending); [`Copier::submit_draws`] records a batch
//!   of [`Draw`]s into one submission.

mod band;
mod batch;
mod copier;
mod draw;
mod error;
mod fences;
mod geometry;
mod import;
mod job;
mod layout;
mod parts;
mod plain;
mod plan;
pub mod reference;
mod staging;
mod surface;
mod transform;
mod turn;

pub use batch::{Draw, DrawBatch};
pub use copier::Copier;
pub use draw::{
    Blend, CLIP_MARGIN, DrawError, DrawPlan, DrawRequest, DrawSource, clip_destination,
};
pub use error::CopyError;
pub use geometry::{Buffer, Dest, Point, Rect, Size};
pub use job::{CopyCompletion, CopyJob};
pub use plan::{CopyPlan, CopyRequest, Filter, MAX_EXTENT, PlanError, Side};
pub use staging::{Readback, Staging};
pub use surface::{DeviceBuffer, ImageDesc, PlaneDesc, Surface};
pub use transform::Transform;
