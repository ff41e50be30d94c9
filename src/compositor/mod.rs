//! The compositor: a smithay Wayland server whose clients' buffers go
//! through this crate's import, sync and rendering machinery.
//!
//! * `state`: smithay's protocol states and the handlers it calls. Commits
//!   are held (smithay blockers) until the attached buffer's implicit fence
//!   or explicit acquire point signalled, each watched on the event loop, so
//!   a client whose fence never signals keeps its previous content and
//!   delays nobody else. A linux-dmabuf buffer is import-tested when it is
//!   created.
//! * `output`: an output's frames, rendered every refresh through smithay's
//!   `Space` and `OutputDamageTracker` into a
//!   [`crate::render::VulkanRenderer`] texture, then
//!   frame callbacks and presentation feedback.
//! * `headless`: the offscreen output, needing neither display nor GPU.
//! * [`embedded`]: the headless compositor on a thread of its own, in
//!   another program, which inserts clients and drives the seat over a
//!   channel.
//! * `nested`: the output as a window on the user's desktop (winit, X11 or
//!   Wayland), through a Vulkan swapchain, with keyboard and pointer input.
//! * `cursor`: the pointer's cursor image (a client's surface, or the
//!   xcursor theme's image of a named cursor), for capture and the nested
//!   window.
//! * `xwayland`: X11 clients through Xwayland, spawned when the first of
//!   them connects to the display `dmabridge run` takes at start; their
//!   windows are placed, shown, focused and captured as toplevels are.
//! * `client`: the client command spawned with the compositor's socket.
//! * `dump`: frames as PNG files.
//!
//! The globals: wl_compositor (v6), wl_subcompositor, wl_shm, xdg_wm_base,
//! wl_output with xdg-output, wl_seat (a keyboard and a pointer, and a
//! touchscreen when embedded; the nested backend and the embedding program
//! give them input), wl_data_device_manager and
//! zwp_primary_selection_device_manager_v1 (`selection`),
//! zwp_linux_dmabuf_v1 (v5 with default feedback built from the
//! renderer's importable formats when a DRM render node exists, else v3
//! with the same formats), wp_presentation, wp_viewporter,
//! wp_single_pixel_buffer_manager_v1, zxdg_decoration_manager_v1
//! (`decoration`: always client-side), xdg_activation_v1 (`activation`),
//! wp_cursor_shape_manager_v1 (`cursor_shape`: named cursors, drawn from
//! the xcursor theme, `cursor`), zwp_relative_pointer_manager_v1 and
//! zwp_pointer_constraints_v1 (`pointer_lock`),
//! wp_fractional_scale_manager_v1 (`scale`: the output's scale, set by
//! `dmabridge run --scale`), wp_content_type_manager_v1 and
//! zwp_idle_inhibit_manager_v1 (`hints`: recorded, not acted on),
//! zwp_text_input_manager_v3 and zwp_input_method_manager_v2
//! (`text_input`: an input method writes into the text input of the
//! window with the keyboard; where the seat has a keyboard),
//! wp_linux_drm_syncobj_manager_v1 when that node supports timeline
//! syncobjs with eventfd, ext_foreign_toplevel_list_v1, and screen capture
//! (`capture`): ext-image-copy-capture-v1 with its output and toplevel
//! sources, and zwlr_screencopy_manager_v1; dmabridge_buffer_copy_manager_v1
//! (`buffer_copy`: copies between a client's buffers, on the copy
//! engine, completed by capture's writer); xwayland_shell_v1, which only
//! Xwayland sees (`xwayland`).

mod activation;
mod buffer_copy;
mod capture;
mod client;
mod cursor;
mod cursor_shape;
mod decoration;
mod dmabuf;
mod dump;
pub mod embedded;
mod headless;
mod hints;
mod input;
mod limits;
mod nested;
mod output;
mod panic;
mod pointer_lock;
mod scale;
mod selection;
mod shm;
mod state;
mod surface;
mod text_input;
mod upload_ahead;
mod xdg;
mod xwayland;

use std::cell::RefCell;
use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use smithay::backend::drm::DrmDeviceFd;
use smithay::backend::renderer::ImportDma;
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{EventLoop, Interest, Mode as PollMode, PostAction};
use smithay::reexports::wayland_server::{BindError, Display, ListeningSocket};
use smithay::utils::{DeviceFd, Transform};
use smithay::wayland::dmabuf::{DmabufFeedbackBuilder, DmabufState};
use smithay::wayland::drm_syncobj::{DrmSyncobjState, supports_syncobj_eventfd};
use tracing::{info, warn};

use self::limits::{Accepted, Listener};
use self::state::{Globals, State};
use crate::alloc::{DrmNode, NodeKind, drm_nodes};
use crate::render::VulkanRenderer;
use crate::vulkan::{Device, Instance, VulkanError};

/// Where the output is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An offscreen output: no display and no GPU needed.
    Headless,
    /// A window on the user's desktop (`DISPLAY` or `WAYLAND_DISPLAY`).
    Nested,
}

/// The output a compositor shows.
#[derive(Debug, Clone)]
pub struct OutputConfig {
    /// The output's size in pixels.
    pub size: (u32, u32),
    /// The output's refresh rate in Hz.
    pub refresh_hz: f64,
    /// The output's scale: logical pixels are this many of its pixels
    /// (fractional allowed; `wl_output.scale` gives clients it rounded
    /// up, wp_fractional_scale_v1 the scale itself).
    pub scale: f64,
    /// The output's transform (`wl_output.transform`): how the
    /// framebuffer is turned relative to the desktop it shows.
    pub transform: Transform,
    /// Where presented frames are written as PNG, and every how many.
    pub dump_frames: Option<(PathBuf, u64)>,
}

/// What `dmabridge run` was asked for.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the output is shown.
    pub backend: Backend,
    /// The output: its size is the nested window's first size.
    pub output: OutputConfig,
    /// The directory the socket is made in, which the client is given as
    /// its `XDG_RUNTIME_DIR`; `None`: the environment's `XDG_RUNTIME_DIR`.
    pub runtime_dir: Option<PathBuf>,
    /// The socket's name in that directory; the first free `wayland-N` when
    /// `None`.
    pub socket: Option<String>,
    /// A client command to spawn; the compositor exits with its status.
    pub client: Vec<OsString>,
}

/// Runs the compositor until its client exits (or, without one, until it
/// is stopped: the nested window closed). `on_socket` receives the socket
/// name and the X11 display's number (where X11 clients can connect:
/// the first of them starts Xwayland) once clients can connect. Returns
/// the client's exit code, or 0.
pub fn run(config: Config, on_socket: impl FnOnce(&OsString, Option<u32>)) -> anyhow::Result<i32> {
    panic::install();
    let mut compositor = Compositor::new(config.backend, &config.output)?;
    let (socket, socket_name) =
        bind_socket(config.runtime_dir.as_deref(), config.socket.as_deref())
            .context("binding the Wayland socket")?;
    compositor.listen(socket)?;
    info!(socket = %socket_name.to_string_lossy(), "listening");
    let x11_display = match xwayland::listen(&mut compositor.state) {
        Ok(display) => Some(display),
        Err(err) => {
            warn!("no X11 clients: {err:#}");
            None
        }
    };
    on_socket(&socket_name, x11_display);
    if !config.client.is_empty() {
        client::spawn(
            &compositor.state,
            &config.client,
            &socket_name,
            x11_display,
            config.runtime_dir.as_deref(),
        )?;
    }
    Ok(compositor.run()?.unwrap_or(0))
}

/// A compositor set up on its event loop, not yet running: the one setup
/// path of [`run`] and of the [`embedded`] server.
struct Compositor {
    /// Dropped first: the renderer and every protocol state go before the
    /// loop, which owns the display.
    state: State,
    event_loop: EventLoop<'static, State>,
}

impl Compositor {
    /// The Vulkan device and renderer, the output and every global, the
    /// display dispatched on the loop, and the backend started.
    fn new(backend: Backend, config: &OutputConfig) -> anyhow::Result<Self> {
        limits::raise_fd_limit();
        let event_loop: EventLoop<'static, State> =
            EventLoop::try_new().context("creating the event loop")?;
        let mut display: Display<State> = Display::new().context("creating the Wayland display")?;
        let dh = display.handle();

        let host = match backend {
            Backend::Headless => None,
            Backend::Nested => Some(nested::Host::open(config.size)?),
        };
        let instance = match &host {
            Some(host) => Instance::for_display(host.display_handle()?),
            None => Instance::new(),
        }
        .context("creating the Vulkan instance")?;
        let node = render_node();
        let device = vulkan_device(Arc::new(instance), node.as_ref())?;
        let renderer = VulkanRenderer::new(device).context("creating the renderer")?;

        let output = match &host {
            Some(host) => new_output("NESTED-1", "nested", host.size(), config)?,
            None => new_output("HEADLESS-1", "headless", config.size, config)?,
        };
        output.create_global::<State>(&dh);
        let device = node
            .as_ref()
            .map(|node| {
                rustix::fs::stat(&node.path)
                    .map(|stat| stat.st_rdev)
                    .with_context(|| format!("stat {}", node.path.display()))
            })
            .transpose()?;
        let dmabuf = dmabuf_global(&dh, &renderer, device)?;
        let syncobj = node.as_ref().and_then(|node| syncobj_state(&dh, node));
        let mut state = State::new(
            dh.clone(),
            event_loop.handle(),
            event_loop.get_signal(),
            renderer,
            Globals {
                output: output.clone(),
                dmabuf,
                syncobj,
                capture_device: device,
            },
        )?;

        // The display is dispatched when its fd is readable; the callback
        // gets the state from the loop and the display from this cell.
        let poll_fd = display
            .backend()
            .poll_fd()
            .try_clone_to_owned()
            .context("duplicating the display's fd")?;
        let display = RefCell::new(display);
        event_loop
            .handle()
            .insert_source(
                Generic::new(poll_fd, Interest::READ, PollMode::Level),
                move |_, _, state| {
                    display.borrow_mut().dispatch_clients(state)?;
                    Ok(PostAction::Continue)
                },
            )
            .map_err(|err| anyhow::anyhow!("inserting the display: {err}"))?;
        match host {
            Some(host) => nested::start(host, &mut state, &output, config)?,
            None => headless::start(&mut state, &output, config)?,
        }
        Ok(Self { state, event_loop })
    }

    /// Accepts clients on `socket`.
    fn listen(&mut self, socket: ListeningSocket) -> anyhow::Result<()> {
        // The loop polls a duplicate of the socket's fd; the callback owns
        // the socket and accepts on it.
        let socket_fd = socket
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating the socket's fd")?;
        let mut listener = Listener::new(socket);
        let token = self
            .event_loop
            .handle()
            .insert_source(
                Generic::new(socket_fd, Interest::READ, PollMode::Level),
                move |_, _, state| {
                    loop {
                        match listener.accept() {
                            Accepted::Client(stream) => {
                                state.insert_client(stream);
                            }
                            Accepted::None => return Ok(PostAction::Continue),
                            Accepted::Backoff => {
                                limits::listen_later(state);
                                return Ok(PostAction::Disable);
                            }
                        }
                    }
                },
            )
            .map_err(|err| anyhow::anyhow!("listening on the socket: {err}"))?;
        self.state.listener = Some(token);
        Ok(())
    }

    /// Runs the loop until something stops it (`State::signal`); the
    /// spawned client's exit code, if it exited.
    fn run(mut self) -> anyhow::Result<Option<i32>> {
        self.event_loop
            .run(None, &mut self.state, |state| {
                if let Err(err) = state.display.flush_clients() {
                    warn!(%err, "flushing clients");
                }
            })
            .context("running the event loop")?;
        Ok(self.state.client_exit)
    }
}

/// Binds the listening socket named `name` (the first free `wayland-N`
/// when `None`) in `dir`, or in `XDG_RUNTIME_DIR` when `dir` is `None`;
/// the socket and its name.
fn bind_socket(
    dir: Option<&Path>,
    name: Option<&str>,
) -> Result<(ListeningSocket, OsString), BindError> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|dir| dir.is_absolute())
            .ok_or(BindError::RuntimeDirNotSet)?,
    };
    if let Some(name) = name {
        return Ok((ListeningSocket::bind_absolute(dir.join(name))?, name.into()));
    }
    // wayland-0 is left alone: a client without WAYLAND_DISPLAY would take
    // it for the desktop's.
    for n in 1..=32 {
        let name = format!("wayland-{n}");
        match ListeningSocket::bind_absolute(dir.join(&name)) {
            Err(BindError::AlreadyInUse) => continue,
            bound => return Ok((bound?, name.into())),
        }
    }
    Err(BindError::AlreadyInUse)
}

/// The DRM render node clients should allocate on: one whose device has
/// timeline syncobjs (a real KMS device) if any, else the first.
fn render_node() -> Option<DrmNode> {
    let mut nodes: Vec<DrmNode> = drm_nodes()
        .into_iter()
        .filter(|n| n.kind == NodeKind::Render)
        .collect();
    nodes.sort_by_key(|n| !n.syncobj_timeline);
    nodes.into_iter().next()
}

/// The Vulkan device of `node` where the driver says which one that is
/// (`VK_EXT_physical_device_drm`), else the CPU device.
fn vulkan_device(instance: Arc<Instance>, node: Option<&DrmNode>) -> anyhow::Result<Arc<Device>> {
    if let Some(node) = node {
        match Device::new(Arc::clone(&instance), Some(&node.path)) {
            Ok(device) => return Ok(Arc::new(device)),
            Err(VulkanError::NoDeviceForNode { .. }) => {
                info!(node = %node.path.display(), "no Vulkan device for the node; using the CPU device");
            }
            Err(err) => return Err(err).context("creating the Vulkan device"),
        }
    }
    Ok(Arc::new(
        Device::new(instance, None).context("creating the Vulkan device")?,
    ))
}

/// An output named `name` of `size` pixels (its framebuffer) at the
/// configuration's refresh rate, transform and scale.
fn new_output(
    name: &str,
    model: &str,
    size: (u32, u32),
    config: &OutputConfig,
) -> anyhow::Result<Output> {
    let output = Output::new(
        name.into(),
        PhysicalProperties {
            size: (0, 0).into(),
            subpixel: Subpixel::Unknown,
            make: "dmabridge".into(),
            model: model.into(),
        },
    );
    let mode = Mode {
        size: (
            i32::try_from(size.0).context("output width")?,
            i32::try_from(size.1).context("output height")?,
        )
            .into(),
        refresh: (config.refresh_hz * 1000.0).round() as i32,
    };
    output.change_current_state(
        Some(mode),
        Some(config.transform),
        Some(Scale::Fractional(config.scale)),
        Some((0, 0).into()),
    );
    output.set_preferred(mode);
    Ok(output)
}

/// zwp_linux_dmabuf_v1 advertising exactly what the renderer imports: with
/// default feedback naming `device` (a DRM node's `dev_t`) as the main
/// device where there is one.
fn dmabuf_global(
    dh: &smithay::reexports::wayland_server::DisplayHandle,
    renderer: &VulkanRenderer,
    device: Option<u64>,
) -> anyhow::Result<(DmabufState, smithay::wayland::dmabuf::DmabufGlobal)> {
    let formats = renderer.dmabuf_formats();
    let mut state = DmabufState::new();
    let global = match device {
        Some(dev) => {
            let feedback = DmabufFeedbackBuilder::new(dev, formats)
                .build()
                .context("building the dma-buf feedback")?;
            state.create_global_with_default_feedback::<State>(dh, &feedback)
        }
        None => state.create_global::<State>(dh, formats),
    };
    Ok((state, global))
}

/// linux-drm-syncobj-v1 on `node`, where it has timeline syncobjs with
/// eventfd.
fn syncobj_state(
    dh: &smithay::reexports::wayland_server::DisplayHandle,
    node: &DrmNode,
) -> Option<DrmSyncobjState> {
    if !node.syncobj_timeline {
        return None;
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&node.path)
    {
        Ok(file) => file,
        Err(err) => {
            warn!(%err, node = %node.path.display(), "no explicit sync: cannot open the node");
            return None;
        }
    };
    let fd = DrmDeviceFd::new(DeviceFd::from(std::os::fd::OwnedFd::from(file)));
    if !supports_syncobj_eventfd(&fd) {
        info!(node = %node.path.display(), "no explicit sync: no syncobj eventfd");
        return None;
    }
    Some(DrmSyncobjState::new::<State>(dh, fd))
}
