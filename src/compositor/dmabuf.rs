//! `zwp_linux_dmabuf_v1`: smithay's implementation, with the renderer's
//! import test when a buffer is created and checks of the compositor's
//! own in front.
//!
//! * A buffer is import-tested when it is created, so one the renderer
//!   cannot use fails now, with the protocol's error, not at its first
//!   commit.
//! * A params object whose planes do not start at 0 and follow on without
//!   a gap (plane 1 alone, say) is `incomplete`; smithay 0.7 only catches
//!   a params object with no plane at all.
//! * What one client holds is counted
//!   ([`ClientLimits`](super::limits::ClientLimits)): params objects, each
//!   pinning up to four file descriptors until used, and dma-buf
//!   `wl_buffer`s.

use std::collections::HashMap;

use smithay::backend::allocator::dmabuf::Dmabuf;
use smithay::backend::renderer::ImportDma;
use smithay::reexports::wayland_protocols::wp::linux_dmabuf::zv1::server::{
    zwp_linux_buffer_params_v1::{self, ZwpLinuxBufferParamsV1},
    zwp_linux_dmabuf_feedback_v1::ZwpLinuxDmabufFeedbackV1,
    zwp_linux_dmabuf_v1::{self, ZwpLinuxDmabufV1},
};
use smithay::reexports::wayland_server::protocol::wl_buffer::WlBuffer;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, Resource,
    backend::{ClientId, ObjectId},
};
use smithay::wayland::dmabuf::{
    DmabufData, DmabufFeedbackData, DmabufGlobal, DmabufGlobalData, DmabufHandler,
    DmabufParamsData, DmabufState, ImportNotifier,
};
use tracing::debug;

use super::limits::{self, Held};
use super::state::State;
use crate::dmabuf::ParamsProtocolError;
use crate::render::RenderError;

/// linux-dmabuf's state: smithay's, and the planes each unused params
/// object was given.
#[derive(Debug)]
pub(crate) struct Dmabufs {
    state: DmabufState,
    _global: DmabufGlobal,
    /// For each params object, a bit for each plane index added.
    planes: HashMap<ObjectId, u8>,
}

impl Dmabufs {
    pub(crate) fn new(state: DmabufState, global: DmabufGlobal) -> Self {
        Self {
            state,
            _global: global,
            planes: HashMap::new(),
        }
    }
}

impl DmabufHandler for State {
    fn dmabuf_state(&mut self) -> &mut DmabufState {
        &mut self.dmabuf.state
    }

    fn dmabuf_imported(
        &mut self,
        _global: &DmabufGlobal,
        dmabuf: Dmabuf,
        notifier: ImportNotifier,
    ) {
        match self.renderer.import_dmabuf(&dmabuf, None) {
            Ok(_) => {
                let Ok(buffer) = notifier.successful::<Self>() else {
                    return;
                };
                let Some(client) = buffer.client() else {
                    return;
                };
                limits::hold_or_disconnect(&self.display, &client, Held::Dmabuf);
            }
            Err(err) => {
                debug!(%err, "refusing a dma-buf the renderer cannot import");
                // smithay checked indices, dimensions and bounds; the
                // project's validation also knows each format's planes.
                match &err {
                    RenderError::Params(params) => match params.protocol_error() {
                        ParamsProtocolError::Incomplete => notifier.incomplete(),
                        ParamsProtocolError::InvalidFormat => notifier.invalid_format(),
                        _ => notifier.failed(),
                    },
                    _ => notifier.failed(),
                }
            }
        }
    }
}

impl Dispatch<ZwpLinuxDmabufV1, DmabufData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        dmabuf: &ZwpLinuxDmabufV1,
        request: zwp_linux_dmabuf_v1::Request,
        data: &DmabufData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        if let zwp_linux_dmabuf_v1::Request::CreateParams { .. } = &request
            && !limits::hold_or_disconnect(dh, client, Held::DmabufParams)
        {
            return;
        }
        <DmabufState as Dispatch<ZwpLinuxDmabufV1, DmabufData, Self>>::request(
            state, client, dmabuf, request, data, dh, data_init,
        );
    }
}

impl Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        params: &ZwpLinuxBufferParamsV1,
        request: zwp_linux_buffer_params_v1::Request,
        data: &DmabufParamsData,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        match &request {
            zwp_linux_buffer_params_v1::Request::Add { plane_idx, .. } => {
                if let Some(bit) = 1u8.checked_shl(*plane_idx).filter(|_| *plane_idx < 4) {
                    *state.dmabuf.planes.entry(params.id()).or_default() |= bit;
                }
            }
            zwp_linux_buffer_params_v1::Request::Create { .. }
            | zwp_linux_buffer_params_v1::Request::CreateImmed { .. } => {
                let planes = state.dmabuf.planes.get(&params.id()).copied().unwrap_or(0);
                // 0b1, 0b11, 0b111 or 0b1111: planes 0 to n, no gap. No
                // plane at all is smithay's to refuse.
                if planes != 0 && planes & (planes + 1) != 0 {
                    params.post_error(
                        zwp_linux_buffer_params_v1::Error::Incomplete,
                        format!("planes {planes:#06b} do not start at 0 without a gap"),
                    );
                    return;
                }
            }
            _ => {}
        }
        <DmabufState as Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData, Self>>::request(
            state, client, params, request, data, dh, data_init,
        );
    }

    fn destroyed(
        state: &mut Self,
        client: ClientId,
        params: &ZwpLinuxBufferParamsV1,
        data: &DmabufParamsData,
    ) {
        state.dmabuf.planes.remove(&params.id());
        state.release_held(client.clone(), Held::DmabufParams);
        <DmabufState as Dispatch<ZwpLinuxBufferParamsV1, DmabufParamsData, Self>>::destroyed(
            state, client, params, data,
        );
    }
}

impl Dispatch<WlBuffer, Dmabuf> for State {
    fn request(
        state: &mut Self,
        client: &Client,
        buffer: &WlBuffer,
        request: <WlBuffer as Resource>::Request,
        data: &Dmabuf,
        dh: &DisplayHandle,
        data_init: &mut DataInit<'_, Self>,
    ) {
        <DmabufState as Dispatch<WlBuffer, Dmabuf, Self>>::request(
            state, client, buffer, request, data, dh, data_init,
        );
    }

    fn destroyed(state: &mut Self, client: ClientId, buffer: &WlBuffer, data: &Dmabuf) {
        state.release_held(client.clone(), Held::Dmabuf);
        <DmabufState as Dispatch<WlBuffer, Dmabuf, Self>>::destroyed(state, client, buffer, data);
    }
}

smithay::reexports::wayland_server::delegate_global_dispatch!(State: [ZwpLinuxDmabufV1: DmabufGlobalData] => DmabufState);
smithay::reexports::wayland_server::delegate_dispatch!(State: [ZwpLinuxDmabufFeedbackV1: DmabufFeedbackData] => DmabufState);
