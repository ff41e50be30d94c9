//! The client's side of the connection: the registry, the outputs and
//! foreign toplevels it describes, one event queue whose waits all keep the
//! `--timeout` deadline, and `wl_shm` buffers over a memfd.
//!
//! The rule: nothing here blocks without the deadline, and every failure of
//! the connection is an error that says whether the compositor raised a
//! protocol error (`interface@id code N: message`) or went away.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use drm_fourcc::DrmFourcc;
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use wayland_client::backend::WaylandError;
use wayland_client::protocol::{
    wl_buffer::WlBuffer,
    wl_callback::{self, WlCallback},
    wl_output::{self, WlOutput},
    wl_registry::{self, WlRegistry},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
};
use wayland_client::{
    Connection, Dispatch, DispatchError, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop,
    event_created_child,
};
use wayland_protocols::ext::foreign_toplevel_list::v1::client::{
    ext_foreign_toplevel_handle_v1::{self, ExtForeignToplevelHandleV1},
    ext_foreign_toplevel_list_v1::{self, ExtForeignToplevelListV1},
};

use dmabridge::alloc::ShmFile;
use dmabridge::copy::Transform;

use super::image::{self, Captured};
use super::{copy, ext, transform_of, wlr};

/// A `wl_shm` buffer over a sealed memfd, read in place.
#[derive(Debug)]
pub(super) struct ShmBuffer {
    file: ShmFile,
    pool: WlShmPool,
    pub(super) buffer: WlBuffer,
    pub(super) format: DrmFourcc,
    pub(super) wl_format: wl_shm::Format,
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) stride: u32,
}

impl ShmBuffer {
    pub(super) fn new(
        client: &Client,
        shm: &WlShm,
        (format, wl_format): (DrmFourcc, wl_shm::Format),
        (width, height): (u32, u32),
        stride: u32,
    ) -> anyhow::Result<Self> {
        let len = image::buffer_len(width, height, stride)?;
        let file = ShmFile::new("dmabridge-capture", len).context("creating the capture buffer")?;
        // buffer_len checked that all of these fit in an i32.
        let int = |v: u32| i32::try_from(v).expect("checked by buffer_len");
        let size = i32::try_from(len).expect("checked by buffer_len");
        let pool = shm.create_pool(file.fd(), size, &client.qh, ());
        let buffer = pool.create_buffer(
            0,
            int(width),
            int(height),
            int(stride),
            wl_format,
            &client.qh,
            (),
        );
        Ok(Self {
            file,
            pool,
            buffer,
            format,
            wl_format,
            width,
            height,
            stride,
        })
    }

    /// Whether the buffer is what a `format`, `size`, `stride` request
    /// asks for.
    pub(super) fn fits(&self, format: DrmFourcc, (width, height): (u32, u32), stride: u32) -> bool {
        (self.format, self.width, self.height, self.stride) == (format, width, height, stride)
    }

    /// The buffer's pixels as they are now, in place.
    pub(super) fn read(&self) -> Captured<'_> {
        Captured {
            format: self.format,
            width: self.width,
            height: self.height,
            stride: self.stride as usize,
            bytes: Cow::Borrowed(self.file.bytes()),
        }
    }
}

impl Drop for ShmBuffer {
    fn drop(&mut self) {
        self.buffer.destroy();
        self.pool.destroy();
    }
}

/// The connection, its one event queue, and the deadline every wait keeps.
#[derive(Debug)]
pub(super) struct Client {
    conn: Connection,
    queue: EventQueue<State>,
    pub(super) qh: QueueHandle<State>,
    registry: WlRegistry,
    pub(super) state: State,
    started: Instant,
    timeout: Duration,
}

impl Client {
    /// Connects to `WAYLAND_DISPLAY` and reads the registry.
    pub(super) fn connect(timeout: Duration) -> anyhow::Result<Self> {
        let started = Instant::now();
        let conn = Connection::connect_to_env()
            .context("connecting to the wayland compositor (WAYLAND_DISPLAY)")?;
        let queue = conn.new_event_queue();
        let qh = queue.handle();
        let registry = conn.display().get_registry(&qh, ());
        let mut client = Self {
            conn,
            queue,
            qh,
            registry,
            state: State::default(),
            started,
            timeout,
        };
        client.roundtrip("the registry")?;
        Ok(client)
    }

    /// The global of `interface` the compositor announced first.
    pub(super) fn global(&self, interface: &str) -> Option<&Global> {
        self.state
            .globals
            .iter()
            .find(|global| global.interface == interface)
    }

    /// Names and versions of all globals of `interface`, in announcement
    /// order.
    fn global_names(&self, interface: &str) -> Vec<(u32, u32)> {
        self.state
            .globals
            .iter()
            .filter(|global| global.interface == interface)
            .map(|global| (global.name, global.version))
            .collect()
    }

    /// Binds every `wl_output`, at version 4 at most (for its name), in
    /// the order the registry announced them.
    pub(super) fn bind_outputs(&mut self) {
        let outputs = self.global_names(WlOutput::interface().name);
        for (i, (name, version)) in outputs.into_iter().enumerate() {
            let output: WlOutput = self.registry.bind(name, version.min(4), &self.qh, i);
            self.state.outputs.push(OutputInfo::new(output));
        }
    }

    /// Binds the first global of `I`'s interface, at its version or
    /// `max_version`, whichever is lower.
    pub(super) fn bind<I>(&self, max_version: u32) -> Option<I>
    where
        I: Proxy + 'static,
        State: Dispatch<I, ()>,
    {
        let global = self.global(I::interface().name)?;
        Some(
            self.registry
                .bind(global.name, global.version.min(max_version), &self.qh, ()),
        )
    }

    /// Sends `wl_display.sync` and waits for its callback: every event sent
    /// before it has then been dispatched.
    pub(super) fn roundtrip(&mut self, what: &str) -> anyhow::Result<()> {
        let target = self.state.syncs + 1;
        self.conn.display().sync(&self.qh, ());
        self.wait(what, |state| state.syncs >= target)
    }

    /// Dispatches events until `done` holds, the compositor raises a
    /// protocol error, the connection fails, or the deadline passes.
    pub(super) fn wait(&mut self, what: &str, done: impl Fn(&State) -> bool) -> anyhow::Result<()> {
        let deadline = self.started + self.timeout;
        loop {
            self.queue
                .dispatch_pending(&mut self.state)
                .map_err(|err| self.dispatch_error(err))?;
            if done(&self.state) {
                return Ok(());
            }
            match self.queue.flush() {
                Err(WaylandError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                result => result.map_err(|err| self.wayland_error(err))?,
            }
            let Some(guard) = self.queue.prepare_read() else {
                continue;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "timed out after {} s waiting for {what}",
                    self.timeout.as_secs_f64()
                );
            }
            let left = Timespec::try_from(left).unwrap_or(Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            });
            let fd = guard.connection_fd();
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            match poll(&mut fds, Some(&left)) {
                Ok(0) => {}
                Ok(_) => match guard.read() {
                    Ok(_) => {}
                    Err(WaylandError::Io(err)) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(err) => return Err(self.wayland_error(err)),
                },
                Err(rustix::io::Errno::INTR) => {}
                Err(err) => return Err(err).context("waiting for the compositor"),
            }
        }
    }

    fn dispatch_error(&self, err: DispatchError) -> anyhow::Error {
        match err {
            DispatchError::Backend(err) => self.wayland_error(err),
            err => anyhow!(err).context("reading the compositor's events"),
        }
    }

    /// A protocol error as `interface@id code N: message`; any other
    /// failure of the connection as itself.
    fn wayland_error(&self, err: WaylandError) -> anyhow::Error {
        let protocol = match err {
            WaylandError::Protocol(ref err) => Some(err.clone()),
            WaylandError::Io(_) => self.conn.protocol_error(),
        };
        match protocol {
            Some(e) => {
                // libwayland (the backend winit brings in) keeps the
                // compositor's message to its log; the error's name from
                // the protocol stands in for it.
                let message = Some(e.message.as_str())
                    .filter(|m| !m.is_empty())
                    .or_else(|| error_name(&e.object_interface, e.code))
                    .unwrap_or("(no message)");
                anyhow!(
                    "{}@{} code {}: {message}",
                    e.object_interface,
                    e.object_id,
                    e.code
                )
            }
            None => anyhow!(err).context("connection to the compositor"),
        }
    }
}

/// The name the protocol gives error `code` of `interface`, for the
/// interfaces this client uses.
fn error_name(interface: &str, code: u32) -> Option<&'static str> {
    Some(match (interface, code) {
        ("wl_display", 0) => "invalid_object",
        ("wl_display", 1) => "invalid_method",
        ("wl_display", 2) => "no_memory",
        ("wl_display", 3) => "implementation",
        ("wl_shm", 0) => "invalid_format",
        ("wl_shm", 1) => "invalid_stride",
        ("wl_shm", 2) => "invalid_fd",
        ("ext_image_copy_capture_manager_v1", 1) => "invalid_option",
        ("ext_image_copy_capture_session_v1", 1) => "duplicate_frame",
        ("ext_image_copy_capture_frame_v1", 1) => "no_buffer",
        ("ext_image_copy_capture_frame_v1", 2) => "invalid_buffer_damage",
        ("ext_image_copy_capture_frame_v1", 3) => "already_captured",
        ("zwlr_screencopy_frame_v1", 0) => "already_used",
        ("zwlr_screencopy_frame_v1", 1) => "invalid_buffer",
        _ => return None,
    })
}

/// A global the registry announced.
#[derive(Debug, Clone)]
pub(super) struct Global {
    name: u32,
    interface: String,
    version: u32,
}

/// What a `wl_output` told about itself.
#[derive(Debug)]
pub(super) struct OutputInfo {
    pub(super) output: WlOutput,
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    /// The current mode, in pixels.
    pub(super) mode: Option<(i32, i32)>,
    pub(super) transform: Transform,
}

impl OutputInfo {
    fn new(output: WlOutput) -> Self {
        Self {
            output,
            name: None,
            description: None,
            mode: None,
            transform: Transform::Normal,
        }
    }
}

/// The properties of a foreign toplevel.
#[derive(Debug, Clone, Default)]
pub(super) struct ToplevelProps {
    pub(super) identifier: String,
    pub(super) app_id: String,
    pub(super) title: String,
}

/// A foreign toplevel: its properties as of its last `done`, and those
/// sent since.
#[derive(Debug)]
pub(super) struct ToplevelInfo {
    pub(super) handle: ExtForeignToplevelHandleV1,
    pending: ToplevelProps,
    current: Option<ToplevelProps>,
    closed: bool,
}

impl ToplevelInfo {
    /// The properties of a toplevel that is still open and complete.
    pub(super) fn current(&self) -> Option<&ToplevelProps> {
        self.current.as_ref().filter(|_| !self.closed)
    }
}

/// Everything the compositor has told the client.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) globals: Vec<Global>,
    /// `wl_display.sync` callbacks done.
    pub(super) syncs: u64,
    pub(super) outputs: Vec<OutputInfo>,
    pub(super) toplevels: Vec<ToplevelInfo>,
    pub(super) ext: ext::Events,
    pub(super) wlr: wlr::Events,
    /// The answer to the last dmabridge-buffer-copy-v1 copy.
    pub(super) copy: copy::Answer,
}

impl State {
    /// The output named `wanted`, or the first one.
    pub(super) fn find_output(&self, wanted: Option<&str>) -> anyhow::Result<usize> {
        if self.outputs.is_empty() {
            bail!("the compositor has no output");
        }
        let Some(wanted) = wanted else {
            return Ok(0);
        };
        if let Some(i) = self
            .outputs
            .iter()
            .position(|o| o.name.as_deref() == Some(wanted))
        {
            return Ok(i);
        }
        let names: Vec<&str> = self
            .outputs
            .iter()
            .map(|o| {
                o.name
                    .as_deref()
                    .unwrap_or("(unnamed: wl_output before version 4)")
            })
            .collect();
        bail!(
            "no output is named {wanted:?}; there are {}",
            names.join(", ")
        )
    }

    /// The first open toplevel whose app_id, title or identifier is
    /// `wanted`.
    pub(super) fn find_toplevel(&self, wanted: &str) -> anyhow::Result<usize> {
        self.toplevels
            .iter()
            .position(|t| {
                t.current().is_some_and(|p| {
                    p.app_id == wanted || p.title == wanted || p.identifier == wanted
                })
            })
            .with_context(|| format!("no toplevel has the app_id or title {wanted:?}"))
    }
}

impl Dispatch<WlRegistry, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_registry::Event::Global {
                name,
                interface,
                version,
            } => state.globals.push(Global {
                name,
                interface,
                version,
            }),
            wl_registry::Event::GlobalRemove { name } => {
                state.globals.retain(|global| global.name != name);
            }
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { .. } = event {
            state.syncs += 1;
        }
    }
}

impl Dispatch<WlOutput, usize> for State {
    fn event(
        state: &mut Self,
        _: &WlOutput,
        event: wl_output::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(output) = state.outputs.get_mut(*index) else {
            return;
        };
        match event {
            wl_output::Event::Geometry { transform, .. } => {
                output.transform = transform_of(transform).unwrap_or(Transform::Normal);
            }
            wl_output::Event::Mode {
                flags: WEnum::Value(flags),
                width,
                height,
                ..
            } if flags.contains(wl_output::Mode::Current) => output.mode = Some((width, height)),
            wl_output::Event::Name { name } => output.name = Some(name),
            wl_output::Event::Description { description } => {
                output.description = Some(description);
            }
            _ => {}
        }
    }
}

impl Dispatch<ExtForeignToplevelListV1, ()> for State {
    fn event(
        state: &mut Self,
        _: &ExtForeignToplevelListV1,
        event: ext_foreign_toplevel_list_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let ext_foreign_toplevel_list_v1::Event::Toplevel { toplevel } = event {
            state.toplevels.push(ToplevelInfo {
                handle: toplevel,
                pending: ToplevelProps::default(),
                current: None,
                closed: false,
            });
        }
    }

    event_created_child!(State, ExtForeignToplevelListV1, [
        ext_foreign_toplevel_list_v1::EVT_TOPLEVEL_OPCODE => (ExtForeignToplevelHandleV1, ()),
    ]);
}

impl Dispatch<ExtForeignToplevelHandleV1, ()> for State {
    fn event(
        state: &mut Self,
        handle: &ExtForeignToplevelHandleV1,
        event: ext_foreign_toplevel_handle_v1::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(toplevel) = state.toplevels.iter_mut().find(|t| t.handle == *handle) else {
            return;
        };
        match event {
            ext_foreign_toplevel_handle_v1::Event::Identifier { identifier } => {
                toplevel.pending.identifier = identifier;
            }
            ext_foreign_toplevel_handle_v1::Event::AppId { app_id } => {
                toplevel.pending.app_id = app_id;
            }
            ext_foreign_toplevel_handle_v1::Event::Title { title } => {
                toplevel.pending.title = title;
            }
            ext_foreign_toplevel_handle_v1::Event::Done => {
                toplevel.current = Some(toplevel.pending.clone());
            }
            ext_foreign_toplevel_handle_v1::Event::Closed => toplevel.closed = true,
            _ => {}
        }
    }
}

delegate_noop!(State: ignore WlShm);
delegate_noop!(State: WlShmPool);
delegate_noop!(State: ignore WlBuffer);
