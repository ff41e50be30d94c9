//! Data exchange between clients, on smithay's implementations: the
//! clipboard (`wl_data_device_manager`, with drag and drop) and the
//! primary selection (`zwp_primary_selection_device_manager_v1`).
//!
//! Both selections follow the keyboard: the client whose surface has the
//! keyboard focus is offered the current selections
//! ([`State::selection_focus_changed`]), and the data moves from the
//! source client to the receiving one over a pipe the compositor only
//! passes along. Drag and drop starts from a client's pointer grab, so it
//! needs pointer input (the nested backend).
//!
//! On a Wayland desktop, the nested backend crosses text selections
//! between its clients and the desktop (`nested/clipboard.rs`): the
//! desktop's text becomes a selection the compositor itself offers, and a
//! client's text is read from it and stored on the desktop.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use smithay::backend::renderer::element::Kind;
use smithay::backend::renderer::element::surface::{
    WaylandSurfaceRenderElement, render_elements_from_surface_tree,
};
use smithay::input::Seat;
use smithay::reexports::wayland_server::protocol::wl_data_source::WlDataSource;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{DisplayHandle, Resource};
use smithay::utils::{Logical, Point};
use smithay::wayland::compositor::{SurfaceAttributes, with_states};
use smithay::wayland::selection::data_device::{
    ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
    set_data_device_focus,
};
use smithay::wayland::selection::primary_selection::{
    PrimarySelectionHandler, PrimarySelectionState, set_primary_focus,
};
use smithay::wayland::selection::{SelectionHandler, SelectionSource, SelectionTarget};
use smithay::{delegate_data_device, delegate_primary_selection};

use super::nested::clipboard::{self, DesktopSelections};
use super::state::State;
use crate::render::VulkanRenderer;

/// The two selection globals' states.
#[derive(Debug)]
pub(crate) struct Selections {
    data_device: DataDeviceState,
    primary: PrimarySelectionState,
    /// The desktop's selections, where the nested backend crosses them.
    pub(crate) desktop: Option<DesktopSelections>,
    /// The icon of the drag in progress, drawn at the pointer.
    pub(crate) dnd_icon: Option<DndIcon>,
}

/// A drag's icon: its surface, and where its top left corner is from the
/// pointer (the sum of the offsets its commits moved it by; zero at
/// first).
#[derive(Debug)]
pub(crate) struct DndIcon {
    pub(crate) surface: WlSurface,
    offset: Point<i32, Logical>,
}

impl Selections {
    pub(crate) fn new(display: &DisplayHandle) -> Self {
        Self {
            data_device: DataDeviceState::new::<State>(display),
            primary: PrimarySelectionState::new::<State>(display),
            desktop: None,
            dnd_icon: None,
        }
    }
}

impl State {
    /// The icon of the drag in progress as render elements, at its offset
    /// from the pointer, in the output's pixels; none without a drag or an
    /// icon.
    pub(crate) fn dnd_icon_elements(&mut self) -> Vec<WaylandSurfaceRenderElement<VulkanRenderer>> {
        let Some(icon) = &self.selections.dnd_icon else {
            return Vec::new();
        };
        if !icon.surface.is_alive() {
            return Vec::new();
        }
        let scale = self.output.current_scale().fractional_scale();
        let at = (self.pointer_location + icon.offset.to_f64()).to_physical_precise_round(scale);
        let surface = icon.surface.clone();
        render_elements_from_surface_tree(
            &mut self.renderer,
            &surface,
            at,
            scale,
            1.0,
            Kind::Unspecified,
        )
    }

    /// A commit of `surface`: where it is the drag's icon, the offset its
    /// buffer moved by (`wl_surface.offset`, or `attach`'s) moves the icon.
    pub(crate) fn dnd_icon_committed(&mut self, surface: &WlSurface) {
        let Some(icon) = &mut self.selections.dnd_icon else {
            return;
        };
        if icon.surface != *surface {
            return;
        }
        let moved = with_states(surface, |states| {
            states
                .cached_state
                .get::<SurfaceAttributes>()
                .current()
                .buffer_delta
                .take()
        });
        icon.offset += moved.unwrap_or_default();
    }

    /// Offers the selections to the client of `focused`, which now has the
    /// keyboard (none: nobody is offered them).
    pub(crate) fn selection_focus_changed(&self, seat: &Seat<Self>, focused: Option<&WlSurface>) {
        let client = focused.and_then(|surface| self.display.get_client(surface.id()).ok());
        set_data_device_focus(&self.display, seat, client.clone());
        set_primary_focus(&self.display, seat, client);
    }
}

impl SelectionHandler for State {
    /// The text of a selection the compositor offers: the desktop's.
    type SelectionUserData = Arc<str>;

    fn new_selection(
        &mut self,
        target: SelectionTarget,
        source: Option<SelectionSource>,
        _: Seat<Self>,
    ) {
        clipboard::client_selection(self, target, source);
    }

    fn send_selection(
        &mut self,
        _: SelectionTarget,
        _: String,
        fd: OwnedFd,
        _: Seat<Self>,
        text: &Arc<str>,
    ) {
        clipboard::send_text(self, fd, Arc::clone(text));
    }
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.selections.data_device
    }
}

impl ClientDndGrabHandler for State {
    fn started(&mut self, _: Option<WlDataSource>, icon: Option<WlSurface>, _: Seat<Self>) {
        self.selections.dnd_icon = icon.map(|surface| DndIcon {
            surface,
            offset: Point::default(),
        });
    }

    fn dropped(&mut self, _: Option<WlSurface>, _: bool, _: Seat<Self>) {
        self.selections.dnd_icon = None;
    }
}

impl ServerDndGrabHandler for State {}

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.selections.primary
    }
}

delegate_data_device!(State);
delegate_primary_selection!(State);
