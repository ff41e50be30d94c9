//! The desktop's clipboard and primary selection in the nested compositor,
//! where the desktop is a Wayland compositor: text crosses both ways.
//!
//! * The desktop's side is smithay-clipboard on the `wl_display` winit
//!   opened. A bridge thread owns it and takes [`Request`]s over a channel:
//!   a load waits for the desktop's source client, so it never runs on the
//!   compositor's loop. Loaded text comes back through a calloop channel.
//! * Desktop to nested: when the window gains the desktop's keyboard focus,
//!   both selections are loaded. Text that did not just cross becomes a
//!   compositor-owned selection offered as text ([`TEXT_MIME_TYPES`]), and
//!   is written to a pasting client's pipe on the loop without blocking
//!   ([`send_text`]).
//! * Nested to desktop: a client's selection that offers text is read from
//!   its pipe on the loop ([`client_selection`]) and stored on the desktop.
//!   A desktop takes a selection only from a client with its keyboard
//!   focus, so while the window has none the text waits for the next focus.
//! * Each transfer is at most [`MAX_TEXT`] bytes and ends after
//!   [`TRANSFER_TIMEOUT`]. The text that crossed last, either way, is kept
//!   per selection, so that it does not cross back.
//!
//! An X11 desktop gets no bridge: there the selections stay among the
//! nested clients. So do selections that offer no text.
//!
//! The bridge uses winit's connection from its own thread: the host keeps
//! winit's event loop, which owns the `wl_display`, until the thread ended
//! ([`Bridge::stop`]).

use std::cell::Cell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use raw_window_handle::{HasDisplayHandle, RawDisplayHandle};
use rustix::io::Errno;
use smithay::reexports::calloop::channel::{self, Channel};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{Interest, Mode, PostAction, RegistrationToken};
use smithay::wayland::selection::data_device::{
    request_data_device_client_selection, set_data_device_selection,
};
use smithay::wayland::selection::primary_selection::{
    request_primary_client_selection, set_primary_selection,
};
use smithay::wayland::selection::{SelectionSource, SelectionTarget};
use smithay_clipboard::Clipboard;
use tracing::{debug, trace, warn};
use winit::event_loop::EventLoop;

use crate::compositor::state::State;

/// The mime types text crosses as, most preferred first: those
/// smithay-clipboard reads and offers.
const TEXT_MIME_TYPES: [&str; 3] = ["text/plain;charset=utf-8", "UTF8_STRING", "text/plain"];

/// The most text one selection carries across; larger text stays where it
/// is.
const MAX_TEXT: usize = 4 << 20;

/// How long a client has to send or take a selection's text.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a load is tried: the desktop's keyboard focus reaches
/// smithay-clipboard's queue on its own thread, maybe after winit's.
const LOAD_TRIES: u32 = 5;
const LOAD_RETRY: Duration = Duration::from_millis(100);

/// How long the host waits for the bridge thread to end.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// Both selections, in the order of [`DesktopSelections`]' arrays.
const TARGETS: [SelectionTarget; 2] = [SelectionTarget::Clipboard, SelectionTarget::Primary];

/// What the compositor asks of the bridge thread.
#[derive(Debug)]
enum Request {
    /// Load the desktop's selection; its text comes back on the loop.
    Load(SelectionTarget),
    /// Make this text the desktop's selection.
    Store(SelectionTarget, Arc<str>),
    /// End the thread.
    Stop,
}

/// The bridge thread, as the host holds it.
#[derive(Debug)]
pub(super) struct Bridge {
    requests: mpsc::Sender<Request>,
    /// The loaded text's channel, until [`install`] puts it on the loop.
    loaded: Option<Channel<(SelectionTarget, String)>>,
    /// Closed once the thread dropped its clipboard.
    stopped: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Bridge {
    /// Starts the bridge on the desktop `event_loop` is connected to: none
    /// on an X11 desktop.
    ///
    /// The caller keeps `event_loop` until [`stop`](Self::stop) returned
    /// true, and never drops it otherwise.
    pub(super) fn start(event_loop: &EventLoop<()>) -> anyhow::Result<Option<Self>> {
        let display = event_loop
            .display_handle()
            .context("the desktop's display handle")?
            .as_raw();
        let RawDisplayHandle::Wayland(display) = display else {
            debug!("not a Wayland desktop: the selections stay in the nested compositor");
            return Ok(None);
        };
        // SAFETY: `display` is the live wl_display of winit's event loop.
        // smithay-clipboard uses it until the Clipboard is dropped, which
        // the bridge thread does before it closes `stopped`; the caller
        // keeps the event loop until `stop` saw that, and leaks it where
        // the thread did not end.
        let clipboard = unsafe { Clipboard::new(display.display.as_ptr()) };
        let (requests, receive) = mpsc::channel();
        let (answer, loaded) = channel::channel();
        let (done, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("desktop-clipboard".to_owned())
            .spawn(move || bridge(clipboard, &receive, &answer, done))
            .context("starting the desktop clipboard's thread")?;
        Ok(Some(Self {
            requests,
            loaded: Some(loaded),
            stopped,
            thread: Some(thread),
        }))
    }

    /// Ends the thread; whether it ended within [`STOP_WAIT`] (a load the
    /// desktop never answers holds it).
    pub(super) fn stop(mut self) -> bool {
        let _ = self.requests.send(Request::Stop);
        if let Err(mpsc::RecvTimeoutError::Timeout) = self.stopped.recv_timeout(STOP_WAIT) {
            return false;
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        true
    }
}

/// The bridge thread: does what is asked, in order, until told to stop or
/// the compositor is gone; then drops `clipboard` and closes `done`.
fn bridge(
    clipboard: Clipboard,
    requests: &mpsc::Receiver<Request>,
    answer: &channel::Sender<(SelectionTarget, String)>,
    done: mpsc::Sender<()>,
) {
    for request in requests {
        match request {
            Request::Load(target) => {
                if let Some(text) = load(&clipboard, target) {
                    if answer.send((target, text)).is_err() {
                        break;
                    }
                }
            }
            Request::Store(target, text) => {
                match target {
                    SelectionTarget::Clipboard => clipboard.store(&*text),
                    SelectionTarget::Primary => clipboard.store_primary(&*text),
                }
                debug!(len = text.len(), ?target, "text offered to the desktop");
            }
            Request::Stop => break,
        }
    }
    // Its worker thread ends here, and then nothing uses the display.
    drop(clipboard);
    drop(done);
}

/// The desktop's selection `target`, where it has text; waits for the
/// desktop's source client.
fn load(clipboard: &Clipboard, target: SelectionTarget) -> Option<String> {
    for attempt in 1..=LOAD_TRIES {
        let loaded = match target {
            SelectionTarget::Clipboard => clipboard.load(),
            SelectionTarget::Primary => clipboard.load_primary(),
        };
        match loaded {
            Ok(text) => return Some(text),
            Err(err) if attempt == LOAD_TRIES => {
                debug!(%err, ?target, "no text from the desktop's selection");
            }
            Err(err) => {
                trace!(%err, ?target, attempt, "loading the desktop's selection");
                std::thread::sleep(LOAD_RETRY);
            }
        }
    }
    None
}

/// The desktop's selections as the compositor's loop sees them.
#[derive(Debug)]
pub(crate) struct DesktopSelections {
    requests: mpsc::Sender<Request>,
    /// The window has the desktop's keyboard focus.
    focused: bool,
    /// Per selection, the text that crossed last, either way.
    crossed: [Option<Arc<str>>; 2],
    /// Per selection, a client's text that waits for the window's focus to
    /// be stored on the desktop.
    unstored: [Option<Arc<str>>; 2],
}

impl DesktopSelections {
    fn request(&self, request: Request) {
        if self.requests.send(request).is_err() {
            warn!("the desktop clipboard's thread is gone");
        }
    }
}

fn index(target: SelectionTarget) -> usize {
    match target {
        SelectionTarget::Clipboard => 0,
        SelectionTarget::Primary => 1,
    }
}

/// Crosses selections between `state`'s clients and the desktop through
/// `bridge`, from now on.
pub(super) fn install(bridge: &mut Bridge, state: &mut State) -> anyhow::Result<()> {
    let Some(loaded) = bridge.loaded.take() else {
        return Ok(());
    };
    state
        .handle
        .insert_source(loaded, |event, (), state| {
            if let channel::Event::Msg((target, text)) = event {
                desktop_text(state, target, text);
            }
        })
        .map_err(|err| anyhow::anyhow!("inserting the desktop clipboard's channel: {err}"))?;
    state.selections.desktop = Some(DesktopSelections {
        requests: bridge.requests.clone(),
        focused: false,
        crossed: Default::default(),
        unstored: Default::default(),
    });
    Ok(())
}

/// The window gained (`true`) or lost the desktop's keyboard focus: on
/// gaining it, clients' text that waited is stored on the desktop, and the
/// desktop's other selections are loaded.
pub(super) fn window_focused(state: &mut State, focused: bool) {
    let Some(desktop) = state.selections.desktop.as_mut() else {
        return;
    };
    desktop.focused = focused;
    if !focused {
        return;
    }
    for target in TARGETS {
        // A client's newer text wins over what the desktop holds.
        match desktop.unstored[index(target)].take() {
            Some(text) => desktop.request(Request::Store(target, text)),
            None => desktop.request(Request::Load(target)),
        }
    }
}

/// Text loaded from the desktop's selection `target`: it becomes the
/// nested compositor's selection, unless it just crossed.
fn desktop_text(state: &mut State, target: SelectionTarget, text: String) {
    let Some(desktop) = state.selections.desktop.as_mut() else {
        return;
    };
    if text.len() > MAX_TEXT {
        warn!(
            len = text.len(),
            max = MAX_TEXT,
            ?target,
            "the desktop's selection is too large to cross"
        );
        return;
    }
    let crossed = &mut desktop.crossed[index(target)];
    if crossed.as_deref() == Some(text.as_str()) {
        return;
    }
    debug!(len = text.len(), ?target, "the desktop's text crosses in");
    let text: Arc<str> = text.into();
    *crossed = Some(Arc::clone(&text));
    let mime_types = TEXT_MIME_TYPES.map(str::to_owned).to_vec();
    match target {
        SelectionTarget::Clipboard => {
            set_data_device_selection(&state.display, &state.seat, mime_types, text);
        }
        SelectionTarget::Primary => {
            set_primary_selection(&state.display, &state.seat, mime_types, text);
        }
    }
}

/// A client sets the selection `target` (`source`; none: clears it):
/// where there is a desktop to cross to and the source offers text, its
/// text is read, to be stored on the desktop.
pub(crate) fn client_selection(
    state: &mut State,
    target: SelectionTarget,
    source: Option<SelectionSource>,
) {
    if state.selections.desktop.is_none() {
        return;
    }
    let Some(source) = source else {
        return;
    };
    let offered = source.mime_types();
    let Some(&mime_type) = TEXT_MIME_TYPES
        .iter()
        .find(|&&mime| offered.iter().any(|o| o == mime))
    else {
        debug!(?offered, ?target, "a selection without text does not cross");
        return;
    };
    // smithay makes the selection the seat's once this handler returned.
    state
        .handle
        .insert_idle(move |state| read_client_selection(state, target, mime_type));
}

/// Reads the client's selection `target` as `mime_type`, to be stored on
/// the desktop.
fn read_client_selection(state: &mut State, target: SelectionTarget, mime_type: &str) {
    let (read, write) = match rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) {
        Ok(pipe) => pipe,
        Err(err) => {
            warn!(%err, "no pipe for a client's selection");
            return;
        }
    };
    let requested = match target {
        SelectionTarget::Clipboard => {
            request_data_device_client_selection(&state.seat, mime_type.to_owned(), write)
                .map_err(|err| err.to_string())
        }
        SelectionTarget::Primary => {
            request_primary_client_selection(&state.seat, mime_type.to_owned(), write)
                .map_err(|err| err.to_string())
        }
    };
    if let Err(err) = requested {
        debug!(%err, ?target, "the client's selection is gone");
        return;
    }
    let mut text = Vec::new();
    transfer(state, read, Interest::READ, move |fd, state| {
        let mut chunk = [0; 64 * 1024];
        loop {
            match rustix::io::read(fd, &mut chunk) {
                Ok(0) => {
                    client_text(state, target, std::mem::take(&mut text));
                    return true;
                }
                Ok(n) if text.len() + n > MAX_TEXT => {
                    warn!(
                        max = MAX_TEXT,
                        ?target,
                        "a client's selection is too large to cross"
                    );
                    return true;
                }
                Ok(n) => text.extend_from_slice(&chunk[..n]),
                Err(Errno::AGAIN) => return false,
                Err(Errno::INTR) => {}
                Err(err) => {
                    warn!(%err, ?target, "reading a client's selection");
                    return true;
                }
            }
        }
    });
}

/// A client's selection `target` was read: it is stored on the desktop,
/// now or when the window next has the focus, unless it just crossed.
fn client_text(state: &mut State, target: SelectionTarget, text: Vec<u8>) {
    let Ok(text) = String::from_utf8(text) else {
        debug!(?target, "a selection that is not UTF-8 does not cross");
        return;
    };
    let Some(desktop) = state.selections.desktop.as_mut() else {
        return;
    };
    let crossed = &mut desktop.crossed[index(target)];
    if crossed.as_deref() == Some(text.as_str()) {
        return;
    }
    debug!(len = text.len(), ?target, "a client's text crosses out");
    let text: Arc<str> = text.into();
    *crossed = Some(Arc::clone(&text));
    if desktop.focused {
        desktop.request(Request::Store(target, text));
    } else {
        desktop.unstored[index(target)] = Some(text);
    }
}

/// Writes `text`, the compositor's selection, to a pasting client's `fd`
/// on the loop, without blocking.
pub(crate) fn send_text(state: &mut State, fd: OwnedFd, text: Arc<str>) {
    if let Err(err) = rustix::io::ioctl_fionbio(&fd, true) {
        warn!(%err, "a pasting client's fd");
        return;
    }
    let mut written = 0;
    transfer(state, fd, Interest::WRITE, move |fd, _| {
        loop {
            match rustix::io::write(fd, &text.as_bytes()[written..]) {
                Ok(n) => {
                    written += n;
                    if written == text.len() {
                        return true;
                    }
                }
                Err(Errno::AGAIN) => return false,
                Err(Errno::INTR) => {}
                Err(err) => {
                    debug!(%err, "a client stopped taking the selection");
                    return true;
                }
            }
        }
    });
}

/// Calls `step` whenever `fd` is ready for `interest`, until it says it is
/// done (true) or [`TRANSFER_TIMEOUT`] passed; then `fd` is closed.
fn transfer(
    state: &State,
    fd: OwnedFd,
    interest: Interest,
    mut step: impl FnMut(&OwnedFd, &mut State) -> bool + 'static,
) {
    let timer: Rc<Cell<Option<RegistrationToken>>> = Rc::default();
    let timer_on_done = Rc::clone(&timer);
    let source = state.handle.insert_source(
        Generic::new(fd, interest, Mode::Level),
        move |_, fd, state| {
            if !step(fd, state) {
                return Ok(PostAction::Continue);
            }
            if let Some(timer) = timer_on_done.take() {
                state.handle.remove(timer);
            }
            Ok(PostAction::Remove)
        },
    );
    let source = match source {
        Ok(source) => source,
        Err(err) => {
            warn!(%err, "inserting a selection's pipe");
            return;
        }
    };
    let timeout = state.handle.insert_source(
        Timer::from_duration(TRANSFER_TIMEOUT),
        move |_, (), state| {
            warn!(timeout = ?TRANSFER_TIMEOUT, "a selection's transfer timed out");
            state.handle.remove(source);
            TimeoutAction::Drop
        },
    );
    match timeout {
        Ok(token) => timer.set(Some(token)),
        Err(err) => warn!(%err, "inserting a selection's timeout"),
    }
}
