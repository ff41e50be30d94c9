//! The compositor embedded in another program: the headless backend on a
//! thread of its own, driven over a calloop channel.
//!
//! The program hands it clients (each a connected socket), places their
//! windows and drives the seat, which has a keyboard, a pointer and a
//! touchscreen: the pointer moves and clicks, touch points go down, move
//! and up. Input goes through the same seat code as the nested backend's,
//! so a click or a touch gives its window the keyboard. Commands are
//! applied in the order they were sent, on the compositor's thread,
//! between dispatches of the clients, and each returns once it was
//! applied and the events it made are on the clients' sockets: a client's
//! roundtrip begun after a click is answered after the events the click
//! sent it, as a conformance suite expects. So a [`Remote`] is for other
//! threads than the compositor's.
//!
//! ```no_run
//! use std::os::unix::net::UnixStream;
//!
//! use dmabridge::compositor::OutputConfig;
//! use dmabridge::compositor::embedded::Server;
//! use smithay::utils::Transform;
//!
//! let server = Server::start(OutputConfig {
//!     size: (1024, 768),
//!     refresh_hz: 60.0,
//!     scale: 1.0,
//!     transform: Transform::Normal,
//!     dump_frames: None,
//! })?;
//! let (ours, theirs) = UnixStream::pair()?;
//! let client = server.remote().insert_client(theirs)?;
//! // ... a Wayland client on `ours` makes a toplevel whose wl_surface has
//! // the protocol id 3 ...
//! server.remote().place_window(client, 3, (100, 50).into())?;
//! server.remote().pointer_to((120.0, 60.0).into())?;
//! server.stop()?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use anyhow::Context;
use smithay::backend::input::ButtonState;
use smithay::reexports::calloop::channel::{self, Channel, Event, Sender};
use smithay::reexports::wayland_server::Client;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{Logical, Point};
use tracing::warn;

use super::state::State;
use super::{Backend, Compositor, OutputConfig};

/// A compositor running on its own thread. Dropping it without
/// [`Server::stop`] leaves the thread running until every [`Remote`] is
/// gone.
#[derive(Debug)]
pub struct Server {
    remote: Remote,
    thread: JoinHandle<anyhow::Result<()>>,
}

/// Sends commands to a [`Server`]; clones send to the same one.
#[derive(Debug, Clone)]
pub struct Remote {
    sender: Sender<Sent>,
    next_client: Arc<AtomicU64>,
}

/// A command, and where the compositor's thread says it applied it: it
/// drops the sender once it did, or unapplied when it stops first.
type Sent = (Command, mpsc::Sender<()>);

/// A client inserted with [`Remote::insert_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(u64);

/// The server's thread has ended, so a command cannot reach it: it was
/// stopped, or its setup failed ([`Server::stop`] says why).
#[derive(Debug, thiserror::Error)]
#[error("the embedded compositor is not running")]
pub struct Stopped;

/// What a [`Remote`] asks of the compositor's thread.
#[derive(Debug)]
enum Command {
    InsertClient(ClientKey, UnixStream),
    PlaceWindow {
        client: ClientKey,
        surface: u32,
        location: Point<i32, Logical>,
    },
    PointerTo(Point<f64, Logical>),
    PointerBy(Point<f64, Logical>),
    Button {
        button: u32,
        state: ButtonState,
    },
    TouchDown {
        slot: u32,
        location: Point<f64, Logical>,
    },
    TouchMotion {
        slot: u32,
        location: Point<f64, Logical>,
    },
    TouchUp {
        slot: u32,
    },
    Stop,
}

impl Server {
    /// Starts a headless compositor showing `output` on a new thread, and
    /// returns at once: the Vulkan device and the globals are set up on
    /// that thread, while commands wait in the channel. An error here is
    /// the thread's; a failed setup is reported by [`Server::stop`].
    pub fn start(output: OutputConfig) -> std::io::Result<Self> {
        let (sender, channel) = channel::channel();
        let thread = std::thread::Builder::new()
            .name("dmabridge".into())
            .spawn(move || serve(&output, channel))?;
        Ok(Self {
            remote: Remote {
                sender,
                next_client: Arc::new(AtomicU64::new(0)),
            },
            thread,
        })
    }

    /// A handle that sends commands to this server.
    pub fn remote(&self) -> Remote {
        self.remote.clone()
    }

    /// Stops the compositor and returns once its loop, its clients and
    /// its Vulkan device are gone and the thread has ended; an error if
    /// the setup failed or the loop did.
    pub fn stop(self) -> anyhow::Result<()> {
        // A send fails only when the thread has already ended; the loop
        // ends before anyone would hear that it applied the command.
        let (applied, _) = mpsc::channel();
        let _ = self.remote.sender.send((Command::Stop, applied));
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the compositor's thread panicked"),
        }
    }
}

impl Remote {
    /// Makes the peer of `stream` a client of the compositor; the key names
    /// it in later commands.
    pub fn insert_client(&self, stream: UnixStream) -> Result<ClientKey, Stopped> {
        let key = ClientKey(self.next_client.fetch_add(1, Ordering::Relaxed));
        self.send(Command::InsertClient(key, stream))?;
        Ok(key)
    }

    /// Places the toplevel window of `client` whose wl_surface has the
    /// protocol object id `surface` with its top left at `location` on the
    /// output; it stays there instead of taking its place in the row of
    /// windows. Nothing happens (a warning is logged) if there is no such
    /// toplevel.
    pub fn place_window(
        &self,
        client: ClientKey,
        surface: u32,
        location: Point<i32, Logical>,
    ) -> Result<(), Stopped> {
        self.send(Command::PlaceWindow {
            client,
            surface,
            location,
        })
    }

    /// Moves the pointer to `location` on the output.
    pub fn pointer_to(&self, location: Point<f64, Logical>) -> Result<(), Stopped> {
        self.send(Command::PointerTo(location))
    }

    /// Moves the pointer by `delta`, as a mouse does: the focused surface
    /// hears it as relative motion too, and a pointer constraint of that
    /// surface holds the pointer in place or inside its region.
    pub fn pointer_by(&self, delta: Point<f64, Logical>) -> Result<(), Stopped> {
        self.send(Command::PointerBy(delta))
    }

    /// Presses or releases the pointer button `button`, an evdev code
    /// (`BTN_LEFT` is 0x110). A press gives the keyboard to the window
    /// under the pointer.
    pub fn pointer_button(&self, button: u32, state: ButtonState) -> Result<(), Stopped> {
        self.send(Command::Button { button, state })
    }

    /// Puts touch point `slot` down at `location` on the output.
    pub fn touch_down(&self, slot: u32, location: Point<f64, Logical>) -> Result<(), Stopped> {
        self.send(Command::TouchDown { slot, location })
    }

    /// Moves touch point `slot`, which is down, to `location`.
    pub fn touch_motion(&self, slot: u32, location: Point<f64, Logical>) -> Result<(), Stopped> {
        self.send(Command::TouchMotion { slot, location })
    }

    /// Lifts touch point `slot`.
    pub fn touch_up(&self, slot: u32) -> Result<(), Stopped> {
        self.send(Command::TouchUp { slot })
    }

    /// Sends `command` and returns once the compositor's thread applied
    /// it and sent the clients what it made.
    fn send(&self, command: Command) -> Result<(), Stopped> {
        let (applied, done) = mpsc::channel();
        self.sender.send((command, applied)).map_err(|_| Stopped)?;
        done.recv().map_err(|_| Stopped)
    }
}

/// The server's thread: the compositor's setup, then its loop, with the
/// channel's commands as one more source.
fn serve(output: &OutputConfig, commands: Channel<Sent>) -> anyhow::Result<()> {
    let mut compositor = Compositor::new(Backend::Headless, output)?;
    compositor.state.add_touch();
    let mut clients: HashMap<ClientKey, Client> = HashMap::new();
    compositor
        .event_loop
        .handle()
        .insert_source(commands, move |event, _, state| match event {
            Event::Msg((command, applied)) => {
                apply(state, &mut clients, command);
                if let Err(err) = state.display.flush_clients() {
                    warn!(%err, "flushing clients");
                }
                // The caller may have given up waiting.
                let _ = applied.send(());
            }
            // Every sender is gone: no one can stop it later.
            Event::Closed => state.signal.stop(),
        })
        .map_err(|err| anyhow::anyhow!("inserting the command channel: {err}"))?;
    compositor
        .run()
        .context("running the embedded compositor")?;
    Ok(())
}

fn apply(state: &mut State, clients: &mut HashMap<ClientKey, Client>, command: Command) {
    match command {
        Command::InsertClient(key, stream) => {
            // Forget the clients that are gone.
            clients.retain(|_, client| {
                state
                    .display
                    .backend_handle()
                    .get_client_data(client.id())
                    .is_ok()
            });
            if let Some(client) = state.insert_client(stream) {
                clients.insert(key, client);
            }
        }
        Command::PlaceWindow {
            client,
            surface,
            location,
        } => {
            let object = clients.get(&client).and_then(|client| {
                client
                    .object_from_protocol_id::<WlSurface>(&state.display, surface)
                    .ok()
            });
            let placed = object.is_some_and(|object| state.place_window(&object, location));
            if !placed {
                warn!(?client, surface, "no such toplevel to place");
            }
        }
        Command::PointerTo(location) => state.pointer_motion(location),
        Command::PointerBy(delta) => state.pointer_moved_by(delta),
        Command::Button { button, state: st } => state.pointer_button(button, st),
        Command::TouchDown { slot, location } => state.touch_down(slot, location),
        Command::TouchMotion { slot, location } => state.touch_motion(slot, location),
        Command::TouchUp { slot } => state.touch_up(slot),
        Command::Stop => state.signal.stop(),
    }
}
