//! The compositor's state: smithay's protocol states, the windows in their
//! [`Space`], the output and the renderer, with the handlers smithay calls.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use smithay::backend::allocator::dmabuf::Dmabuf;
use smithay::backend::renderer::buffer_dimensions;
use smithay::backend::renderer::utils::{on_commit_buffer_handler, with_renderer_surface_state};
use smithay::desktop::{PopupManager, Space, Window};
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output};
use smithay::reexports::calloop::{LoopHandle, LoopSignal, RegistrationToken};
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::{
    wl_buffer, wl_shm,
    wl_surface::{self, WlSurface},
};
use smithay::reexports::wayland_server::{Client, DisplayHandle, Resource};
use smithay::utils::{Clock, Logical, Monotonic, Point, Serial, Size};
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    self, BufferAssignment, CompositorClientState, CompositorHandler, CompositorState,
    SurfaceAttributes, with_states,
};
use smithay::wayland::dmabuf::{DmabufGlobal, DmabufState, get_dmabuf};
use smithay::wayland::drm_syncobj::{DrmSyncobjCachedState, DrmSyncobjHandler, DrmSyncobjState};
use smithay::wayland::foreign_toplevel_list::{
    ForeignToplevelHandle, ForeignToplevelListHandler, ForeignToplevelListState,
};
use smithay::wayland::input_method::PopupSurface;
use smithay::wayland::output::{OutputHandler, OutputManagerState};
use smithay::wayland::presentation::PresentationState;
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::shell::xdg::{XdgShellState, XdgToplevelSurfaceData};
use smithay::wayland::shm::{ShmHandler, ShmState};
use smithay::wayland::single_pixel_buffer::SinglePixelBufferState;
use smithay::wayland::viewporter::ViewporterState;
use smithay::wayland::xdg_activation::XdgActivationState;
use smithay::wayland::xwayland_shell::XWaylandShellState;
use smithay::xwayland::XWaylandClientData;
use smithay::{
    delegate_drm_syncobj, delegate_foreign_toplevel_list, delegate_output, delegate_presentation,
    delegate_single_pixel_buffer, delegate_viewporter,
};
use tracing::{debug, warn};

use super::buffer_copy::BufferCopies;
use super::capture::{self, Capture, DmabufConstraints};
use super::cursor::theme::CursorTheme;
use super::dmabuf::Dmabufs;
use super::limits::ClientLimits;
use super::selection::Selections;
use super::xwayland::{self, Xwayland};
use crate::render::VulkanRenderer;
use crate::sync::{FenceSource, SyncAccess, SyncFile};

/// How far each cascaded window is placed right and down of the one
/// before ([`State::arrange`]).
const CASCADE_STEP: i32 = 32;

/// Everything the event loop's callbacks reach.
pub(crate) struct State {
    pub(crate) display: DisplayHandle,
    pub(crate) handle: LoopHandle<'static, State>,
    pub(crate) signal: LoopSignal,
    pub(crate) clock: Clock<Monotonic>,
    pub(crate) space: Space<Window>,
    pub(crate) popups: PopupManager,
    pub(crate) output: Output,
    pub(crate) renderer: VulkanRenderer,
    /// The spawned client's exit code, once it exited.
    pub(crate) client_exit: Option<i32>,
    /// The listening socket's source, once it is on the loop.
    pub(crate) listener: Option<RegistrationToken>,
    compositor: CompositorState,
    pub(crate) xdg_shell: XdgShellState,
    shm: ShmState,
    /// The formats `wl_shm` advertises.
    pub(crate) shm_formats: Vec<wl_shm::Format>,
    pub(crate) seat_state: SeatState<State>,
    /// linux-dmabuf: smithay's state and what the compositor tracks
    /// beside it.
    pub(crate) dmabuf: Dmabufs,
    syncobj: Option<DrmSyncobjState>,
    _output_manager: OutputManagerState,
    _presentation: PresentationState,
    _viewporter: ViewporterState,
    _single_pixel_buffer: SinglePixelBufferState,
    pub(crate) seat: Seat<State>,
    /// Where the pointer is on the output, once a backend with input moved
    /// it.
    pub(crate) pointer_location: Point<f64, Logical>,
    /// Whether the pointer is on the output (it entered and did not leave).
    pub(crate) pointer_on_output: bool,
    /// The serial of the last key press, button press or touch: the input
    /// event a popup's grab must name.
    pub(crate) last_press: Option<Serial>,
    /// The cursor the focused client asked for (`wl_pointer.set_cursor`,
    /// wp-cursor-shape-v1).
    pub(crate) cursor_image: CursorImageStatus,
    /// The images of named cursors.
    pub(crate) cursor_theme: CursorTheme,
    /// How many times the cursor's image changed (see
    /// [`State::cursor_image_changed`]).
    pub(crate) cursor_changes: u64,
    /// The clipboard and the primary selection.
    pub(crate) selections: Selections,
    /// xdg-activation's tokens.
    pub(crate) activation: XdgActivationState,
    /// The input method's popup, while it has one shown.
    pub(crate) input_popup: Option<PopupSurface>,
    /// Screen capture: sessions, damage, frames in flight.
    pub(crate) capture: Capture,
    /// Buffer copies waiting for the device.
    pub(crate) buffer_copies: BufferCopies,
    pub(crate) foreign_toplevels: ForeignToplevelListState,
    /// Each mapped toplevel's ext-foreign-toplevel-list handle.
    pub(crate) toplevel_handles: Vec<(Window, ForeignToplevelHandle)>,
    /// The X11 display, where the compositor serves one.
    pub(crate) xwayland: Option<Xwayland>,
    /// xwayland-shell-v1: how Xwayland names its windows' surfaces.
    pub(crate) xwayland_shell: XWaylandShellState,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("output", &self.output.name())
            .field("windows", &self.space.elements().count())
            .finish_non_exhaustive()
    }
}

/// What the globals are built from, besides the display and the loop.
pub(crate) struct Globals {
    /// The output every window is shown on.
    pub(crate) output: Output,
    /// The linux-dmabuf global, made by the caller: with default feedback
    /// where a DRM device is known, else version 3.
    pub(crate) dmabuf: (DmabufState, DmabufGlobal),
    /// linux-drm-syncobj-v1, where the DRM device supports timeline
    /// syncobjs with eventfd.
    pub(crate) syncobj: Option<DrmSyncobjState>,
    /// Where captures may be written into dma-bufs: the DRM device's
    /// `dev_t` (none without a DRM device).
    pub(crate) capture_device: Option<u64>,
}

impl State {
    pub(crate) fn new(
        display: DisplayHandle,
        handle: LoopHandle<'static, State>,
        signal: LoopSignal,
        renderer: VulkanRenderer,
        globals: Globals,
    ) -> anyhow::Result<Self> {
        let compositor = CompositorState::new_v6::<Self>(&display);
        let xdg_shell = XdgShellState::new::<Self>(&display);
        let shm_formats = super::shm::formats(&renderer);
        let shm = ShmState::new::<Self>(&display, shm_formats.iter().copied());
        let output_manager = OutputManagerState::new_with_xdg_output::<Self>(&display);
        let presentation = PresentationState::new::<Self>(&display, libc_monotonic());
        let viewporter = ViewporterState::new::<Self>(&display);
        let single_pixel_buffer = SinglePixelBufferState::new::<Self>(&display);
        super::decoration::create_global(&display);
        let activation = super::activation::create_global(&display);
        super::cursor_shape::create_global(&display);
        super::pointer_lock::create_globals(&display);
        super::scale::create_global(&display);
        super::hints::create_globals(&display);
        let selections = Selections::new(&display);
        let mut seat_state = SeatState::new();
        let seat = seat_state.new_wl_seat(&display, "seat0");
        let mut space = Space::default();
        space.map_output(&globals.output, (0, 0));
        let (dmabuf, dmabuf_global) = globals.dmabuf;
        let capture_dmabuf = globals
            .capture_device
            .and_then(|device| DmabufConstraints::new(device, &renderer));
        let capture = Capture::new(&handle, capture_dmabuf)?;
        capture::ext::create_globals(&display);
        capture::wlr::create_global(&display);
        super::buffer_copy::create_global(&display);
        let buffer_copies = BufferCopies::new(&handle)?;
        let foreign_toplevels = ForeignToplevelListState::new::<Self>(&display);
        let xwayland_shell = XWaylandShellState::new::<Self>(&display);
        Ok(Self {
            display,
            handle,
            signal,
            clock: Clock::new(),
            space,
            popups: PopupManager::default(),
            output: globals.output,
            renderer,
            client_exit: None,
            listener: None,
            compositor,
            xdg_shell,
            shm,
            shm_formats,
            seat_state,
            dmabuf: Dmabufs::new(dmabuf, dmabuf_global),
            syncobj: globals.syncobj,
            _output_manager: output_manager,
            _presentation: presentation,
            _viewporter: viewporter,
            _single_pixel_buffer: single_pixel_buffer,
            seat,
            pointer_location: Point::default(),
            pointer_on_output: false,
            last_press: None,
            cursor_image: CursorImageStatus::default_named(),
            cursor_theme: CursorTheme::from_env(),
            cursor_changes: 0,
            capture,
            buffer_copies,
            selections,
            activation,
            input_popup: None,
            foreign_toplevels,
            toplevel_handles: Vec::new(),
            xwayland: None,
            xwayland_shell,
        })
    }

    /// Makes `stream`'s peer a client; `None` (logged) if the display
    /// refuses it.
    pub(crate) fn insert_client(&mut self, stream: UnixStream) -> Option<Client> {
        match self
            .display
            .insert_client(stream, Arc::new(ClientState::default()))
        {
            Ok(client) => Some(client),
            Err(err) => {
                warn!(%err, "cannot accept a client");
                None
            }
        }
    }

    /// The window `handle` (ext-foreign-toplevel-list) names, while mapped.
    pub(crate) fn window_of_handle(&self, handle: &ForeignToplevelHandle) -> Option<Window> {
        let identifier = handle.identifier();
        self.toplevel_handles
            .iter()
            .find(|(_, h)| h.identifier() == identifier && !h.is_closed())
            .map(|(window, _)| window.clone())
    }

    /// The window whose toplevel surface (xdg or X11) is `surface`.
    pub(crate) fn window_of(&self, surface: &WlSurface) -> Option<Window> {
        self.space
            .elements()
            .find(|w| w.wl_surface().is_some_and(|s| *s == *surface))
            .cloned()
    }

    /// Whether `window` is a toplevel (xdg or X11), one that can have the
    /// keyboard, rather than an X11 menu or tooltip.
    pub(crate) fn is_toplevel(&self, window: &Window) -> bool {
        self.toplevel_handles.iter().any(|(w, _)| w == window)
    }

    /// Maps a new toplevel window (xdg or X11), lists it in
    /// ext-foreign-toplevel-list and gives it its place.
    pub(crate) fn add_toplevel(&mut self, window: Window) {
        let (title, app_id) = toplevel_names(&window);
        let handle = self.foreign_toplevels.new_toplevel::<Self>(&title, &app_id);
        self.toplevel_handles.push((window.clone(), handle));
        self.space.map_element(window, (0, 0), false);
        self.arrange();
    }

    /// A window went away: it leaves the output, its capture sessions
    /// stop, and it leaves ext-foreign-toplevel-list.
    pub(crate) fn window_gone(&mut self, window: &Window) {
        self.space.unmap_elem(window);
        self.arrange();
        self.capture_window_closed(window);
        if let Some(at) = self.toplevel_handles.iter().position(|(w, _)| w == window) {
            let (_, handle) = self.toplevel_handles.remove(at);
            self.foreign_toplevels.remove_toplevel(&handle);
        }
    }

    /// Sends a toplevel's title and app id to foreign-toplevel-list
    /// clients when they changed.
    pub(crate) fn update_toplevel_handle(&self, window: &Window) {
        let Some((_, handle)) = self.toplevel_handles.iter().find(|(w, _)| w == window) else {
            return;
        };
        let (title, app_id) = toplevel_names(window);
        if title == handle.title() && app_id == handle.app_id() {
            return;
        }
        handle.send_title(&title);
        handle.send_app_id(&app_id);
        handle.send_done();
    }

    /// The output's size in logical pixels (its mode turned upright, at
    /// its scale): the size windows are asked to take.
    pub(crate) fn output_size(&self) -> Option<Size<i32, Logical>> {
        self.space.output_geometry(&self.output).map(|g| g.size)
    }

    /// The output's mode is now `size` pixels, and every toplevel is asked to
    /// take that size. Whether anything changed.
    pub(crate) fn resize_output(&mut self, size: (u32, u32)) -> anyhow::Result<bool> {
        let old = self
            .output
            .current_mode()
            .context("the output has a mode")?;
        let mode = Mode {
            size: (
                i32::try_from(size.0).context("output width")?,
                i32::try_from(size.1).context("output height")?,
            )
                .into(),
            refresh: old.refresh,
        };
        if mode == old {
            return Ok(false);
        }
        self.output.delete_mode(old);
        self.output
            .change_current_state(Some(mode), None, None, None);
        self.output.set_preferred(mode);
        self.capture_constraints_changed();
        let logical = self.output_size();
        for window in self.space.elements() {
            if let Some(toplevel) = window.toplevel() {
                toplevel.with_pending_state(|state| state.size = logical);
                toplevel.send_pending_configure();
            }
        }
        Ok(true)
    }

    /// Places the windows, in the order they were made, so that each is
    /// seen on the output: side by side at the top while they fit (the
    /// first always starts the row), then each later one cascaded,
    /// [`CASCADE_STEP`] further right and down than the one before and
    /// back near the origin before it would leave the output. Windows
    /// placed where they were asked to be ([`State::place_window`]) stay
    /// there. Only a window whose place changed is moved.
    pub(crate) fn arrange(&mut self) {
        let Some(output) = self.space.output_geometry(&self.output) else {
            return;
        };
        let windows: Vec<Window> = self
            .toplevel_handles
            .iter()
            .map(|(window, _)| window)
            .filter(|window| window.user_data().get::<Placed>().is_none())
            .filter(|window| self.space.element_location(window).is_some())
            .cloned()
            .collect();
        let mut x: i32 = 0;
        let mut row_open = true;
        let mut cascaded = 0;
        for window in windows {
            let width = window.geometry().size.w;
            row_open &= x == 0 || x.saturating_add(width) <= output.size.w;
            let place = if row_open {
                let place = Point::from((x, 0));
                x = x.saturating_add(width);
                place
            } else {
                // Steps that stay inside the output's smaller side.
                let steps = (output.size.w.min(output.size.h) / CASCADE_STEP).max(2) - 1;
                cascaded += 1;
                let offset = CASCADE_STEP * ((cascaded - 1) % steps + 1);
                Point::from((offset, offset))
            };
            if self.space.element_location(&window) != Some(place) {
                xwayland::window_moved(&window, place);
                self.space.map_element(window, place, false);
            }
        }
    }

    /// Places the toplevel window whose surface is `surface` with its top
    /// left at `location` (in output coordinates), where it stays:
    /// [`State::arrange`] leaves it there. False when `surface` is no
    /// toplevel's.
    pub(crate) fn place_window(
        &mut self,
        surface: &WlSurface,
        location: Point<i32, Logical>,
    ) -> bool {
        let Some(window) = self.window_of(surface) else {
            return false;
        };
        window.user_data().insert_if_missing(|| Placed);
        self.space.map_element(window, location, false);
        self.arrange();
        true
    }

    /// Holds `surface`'s pending commit until the buffer it attaches is
    /// ready: its implicit write fence (a dma-buf) or its explicit acquire
    /// point (linux-drm-syncobj-v1) signalled. The wait runs on the event
    /// loop, so other clients' commits go on meanwhile.
    fn block_until_ready(&mut self, surface: &WlSurface) {
        let Some(client) = surface.client() else {
            return;
        };
        let (dmabuf, acquire) = with_states(surface, |states| {
            let mut attributes = states.cached_state.get::<SurfaceAttributes>();
            let dmabuf = match attributes.pending().buffer.as_ref() {
                Some(BufferAssignment::NewBuffer(buffer)) => get_dmabuf(buffer).ok().cloned(),
                _ => None,
            };
            let acquire = states
                .cached_state
                .get::<DrmSyncobjCachedState>()
                .pending()
                .acquire_point
                .clone();
            (dmabuf, acquire)
        });
        if let Some(acquire) = acquire {
            // Explicit sync replaces implicit sync for this commit.
            match acquire.generate_blocker() {
                Ok((blocker, source)) => {
                    let inserted = self.handle.insert_source(source, move |_, _, state| {
                        state.blocker_cleared(&client);
                        Ok(())
                    });
                    if inserted.is_ok() {
                        compositor::add_blocker(surface, blocker);
                    }
                }
                Err(err) => warn!(%err, "cannot wait for an acquire point; not blocking"),
            }
            return;
        }
        let Some(dmabuf) = dmabuf else {
            return;
        };
        let fence = match implicit_fence(&dmabuf, SyncAccess::Read) {
            Ok(Some(fence)) => fence,
            Ok(None) => return,
            Err(err) => {
                debug!(%err, "no implicit fence to wait for");
                return;
            }
        };
        if fence.is_signalled().unwrap_or(true) {
            return;
        }
        let blocker = FlagBlocker::default();
        let signalled = Arc::clone(&blocker.0);
        let inserted = self
            .handle
            .insert_source(FenceSource::new(fence), move |_, (), state| {
                signalled.store(true, Ordering::Release);
                state.blocker_cleared(&client);
            });
        match inserted {
            Ok(_) => compositor::add_blocker(surface, blocker),
            Err(err) => warn!(%err, "cannot watch a dma-buf fence; not blocking"),
        }
    }

    pub(super) fn blocker_cleared(&mut self, client: &Client) {
        let display = self.display.clone();
        self.client_compositor_state(client)
            .blocker_cleared(self, &display);
    }
}

/// A toplevel window's title and app id: an xdg toplevel's, or an X11
/// window's ([`xwayland::names`]).
fn toplevel_names(window: &Window) -> (String, String) {
    if let Some(names) = xwayland::names(window) {
        return names;
    }
    let Some(surface) = window.toplevel().map(|t| t.wl_surface().clone()) else {
        return Default::default();
    };
    let (title, app_id) = with_states(&surface, |states| {
        states
            .data_map
            .get::<XdgToplevelSurfaceData>()
            .and_then(|data| {
                data.lock()
                    .ok()
                    .map(|d| (d.title.clone(), d.app_id.clone()))
            })
            .unwrap_or_default()
    });
    (title.unwrap_or_default(), app_id.unwrap_or_default())
}

/// The clock id wp_presentation reports: `CLOCK_MONOTONIC`, the clock of
/// [`Clock<Monotonic>`].
fn libc_monotonic() -> u32 {
    rustix::time::ClockId::Monotonic as u32
}

/// The fence an access of `dmabuf` must wait for, merged over the buffers
/// its planes live in (a disjoint buffer has several): a reader waits for
/// its writers, a writer for its readers and writers.
pub(crate) fn implicit_fence(
    dmabuf: &Dmabuf,
    access: SyncAccess,
) -> Result<Option<SyncFile>, crate::sync::SyncError> {
    let mut merged: Option<SyncFile> = None;
    for fd in dmabuf.handles() {
        let fence = SyncFile::export_from_dmabuf(fd.as_fd(), access)?;
        merged = Some(match merged {
            Some(previous) => previous.merge(&fence, "dmabridge implicit fence")?,
            None => fence,
        });
    }
    Ok(merged)
}

/// Marks a window placed where it was asked to be
/// ([`State::place_window`]), which [`State::arrange`] does not move.
struct Placed;

/// A commit blocker that lifts once its flag is set: by the
/// [`FenceSource`] watching the buffer's fence, or once the buffer was
/// uploaded ahead (`upload_ahead.rs`).
#[derive(Debug, Default)]
pub(super) struct FlagBlocker(pub(super) Arc<AtomicBool>);

impl compositor::Blocker for FlagBlocker {
    fn state(&self) -> compositor::BlockerState {
        if self.0.load(Ordering::Acquire) {
            compositor::BlockerState::Released
        } else {
            compositor::BlockerState::Pending
        }
    }
}

/// Per-client data smithay needs.
#[derive(Debug, Default)]
pub(crate) struct ClientState {
    pub(crate) compositor: CompositorClientState,
    /// What the client holds of what it may hold only so much of.
    pub(crate) limits: ClientLimits,
}

impl ClientData for ClientState {
    fn initialized(&self, _client_id: ClientId) {}
    fn disconnected(&self, client_id: ClientId, reason: DisconnectReason) {
        debug!(?client_id, ?reason, "client disconnected");
    }
}

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        if let Some(xwayland) = client.get_data::<XWaylandClientData>() {
            return &xwayland.compositor_state;
        }
        &client
            .get_data::<ClientState>()
            .expect("every client is inserted with ClientState")
            .compositor
    }

    fn new_surface(&mut self, surface: &WlSurface) {
        compositor::add_pre_commit_hook::<Self, _>(surface, |state, _display, surface| {
            if !state.upload_ahead(surface) {
                state.block_until_ready(surface);
            }
        });
    }

    fn commit(&mut self, surface: &WlSurface) {
        on_commit_buffer_handler::<Self>(surface);
        if !buffer_fits_scale(surface) || !self.xdg_commit_allowed(surface) {
            return;
        }
        let mut root = surface.clone();
        while let Some(parent) = compositor::get_parent(&root) {
            root = parent;
        }
        if let Some(window) = self.window_of(&root) {
            window.on_commit();
            self.focus_when_mapped(&window);
            self.update_toplevel_handle(&window);
            if &root == surface {
                let configured = with_states(surface, |states| {
                    states
                        .data_map
                        .get::<XdgToplevelSurfaceData>()
                        .is_some_and(|data| {
                            data.lock().is_ok_and(|data| data.initial_configure_sent)
                        })
                });
                if !configured && let Some(toplevel) = window.toplevel() {
                    toplevel.send_configure();
                }
            }
            self.arrange();
            // A toplevel's capture constraints follow its size.
            self.capture_constraints_changed();
            self.capture_window_committed(&window);
        }
        if self.is_cursor_surface(&root) {
            self.cursor_image_changed();
        }
        self.dnd_icon_committed(surface);
        self.popups.commit(surface);
        self.configure_new_popup(surface);
    }
}

/// Checks that `surface`'s buffer is a whole number of surface pixels at
/// its buffer scale; if not, raises `wl_surface.invalid_size` and returns
/// false.
fn buffer_fits_scale(surface: &WlSurface) -> bool {
    let fits = with_renderer_surface_state(surface, |state| {
        let scale = state.buffer_scale();
        let size = state.buffer().and_then(|buffer| buffer_dimensions(buffer));
        size.is_none_or(|size| size.w % scale == 0 && size.h % scale == 0)
    });
    if fits == Some(false) {
        surface.post_error(
            wl_surface::Error::InvalidSize,
            "the buffer's size is not a multiple of its scale",
        );
        return false;
    }
    true
}

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, _buffer: &wl_buffer::WlBuffer) {}
}

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.shm
    }
}

impl OutputHandler for State {}

impl ForeignToplevelListHandler for State {
    fn foreign_toplevel_list_state(&mut self) -> &mut ForeignToplevelListState {
        &mut self.foreign_toplevels
    }
}

impl DrmSyncobjHandler for State {
    fn drm_syncobj_state(&mut self) -> Option<&mut DrmSyncobjState> {
        self.syncobj.as_mut()
    }
}

delegate_output!(State);
delegate_drm_syncobj!(State);
delegate_presentation!(State);
delegate_viewporter!(State);
delegate_single_pixel_buffer!(State);
delegate_foreign_toplevel_list!(State);
