//! `wl_compositor` and `wl_subcompositor`: smithay's implementation, with
//! each client's surfaces counted against
//! [`MAX_SURFACES`](super::limits::MAX_SURFACES).

use smithay::reexports::wayland_server::protocol::{
    wl_callback::WlCallback,
    wl_compositor::{self, WlCompositor},
    wl_region::WlRegion,
    wl_subcompositor::WlSubcompositor,
    wl_subsurface::WlSubsurface,
    wl_surface::{self, WlSurface},
};
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, backend::ClientId, delegate_dispatch,
    delegate_global_dispatch,
};
use smithay::wayland::compositor::{
    CompositorState, RegionUserData, SubsurfaceUserData, SurfaceUserData,
};

use super::limits::{self, Held};
use super::state::State;

impl Dispatch<WlCompositor, ()> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        compositor: &WlCompositor,
        request: wl_compositor::Request,
        data: &(),
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let wl_compositor::Request::CreateSurface { .. } = &request
            && !limits::hold_or_disconnect(dh, client, Held::Surface)
        {
            return;
        }
        <CompositorState as Dispatch<WlCompositor, (), Self>>::request(
            state, client, compositor, request, data, dh, data_init,
        );
    }
}

impl Dispatch<WlSurface, SurfaceUserData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        surface: &WlSurface,
        request: wl_surface::Request,
        data: &SurfaceUserData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::request(
            state, client, surface, request, data, dh, data_init,
        );
    }

    fn destroyed(state: &mut Self, client: ClientId, surface: &WlSurface, data: &SurfaceUserData) {
        state.release_held(client.clone(), Held::Surface);
        <CompositorState as Dispatch<WlSurface, SurfaceUserData, Self>>::destroyed(
            state, client, surface, data,
        );
    }
}

delegate_global_dispatch!(State: [WlCompositor: ()] => CompositorState);
delegate_global_dispatch!(State: [WlSubcompositor: ()] => CompositorState);
delegate_dispatch!(State: [WlRegion: RegionUserData] => CompositorState);
delegate_dispatch!(State: [WlCallback: ()] => CompositorState);
delegate_dispatch!(State: [WlSubcompositor: ()] => CompositorState);
delegate_dispatch!(State: [WlSubsurface: SubsurfaceUserData] => CompositorState);
