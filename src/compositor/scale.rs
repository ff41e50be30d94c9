//! wp-fractional-scale-v1: every surface is told the output's scale.
//!
//! The compositor has one output, whose scale is set when it starts
//! (`dmabridge run --scale`) and does not change, so a surface is told it
//! (`preferred_scale`, in 120ths as the protocol counts) as soon as its
//! client asks for a `wp_fractional_scale_v1`. A client that follows it
//! draws its buffer at the output's pixels and gives the surface its
//! logical size with `wp_viewport`; the renderer then copies the buffer
//! one to one. The output's `wl_output.scale` is the scale rounded up
//! (smithay's `Scale::Fractional`), for clients without this protocol;
//! their buffers are scaled to the output's pixels by the renderer, as
//! smithay's `render_output` asks it to.

use smithay::delegate_fractional_scale;
use smithay::reexports::wayland_server::DisplayHandle;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::wayland::compositor::with_states;
use smithay::wayland::fractional_scale::{
    FractionalScaleHandler, FractionalScaleManagerState, with_fractional_scale,
};

use super::state::State;

/// Makes the `wp_fractional_scale_manager_v1` global.
pub(crate) fn create_global(display: &DisplayHandle) {
    // The state only holds the global's id, which nothing removes.
    let _ = FractionalScaleManagerState::new::<State>(display);
}

impl FractionalScaleHandler for State {
    fn new_fractional_scale(&mut self, surface: WlSurface) {
        let scale = self.output.current_scale().fractional_scale();
        with_states(&surface, |states| {
            with_fractional_scale(states, |fractional| fractional.set_preferred_scale(scale));
        });
    }
}

delegate_fractional_scale!(State);
