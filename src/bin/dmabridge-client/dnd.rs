//! Drag and drop through `wl_data_device_manager`, one side per client.
//!
//! `--drag TEXT`: a left-button press on the window starts a drag of
//! `TEXT` as [`MIME`], with the copy action and the press's serial, and
//! an icon, a square of [`ICON_COLOUR`] [`ICON_SIZE`] pixels wide held
//! at [`ICON_HOTSPOT`]; the
//! client prints `drag started`, then what its `wl_data_source` hears:
//! `drag dropped` (`dnd_drop_performed`), `drag finished`
//! (`dnd_finished`) or `drag cancelled`. The drag over its own window is
//! offered to it too (`drag entered`); it declines, so a drop there is
//! cancelled.
//!
//! `--drop`: an offer that enters the window is accepted as [`MIME`] with
//! the copy action (`drop entered`); on the drop the client reads the
//! text through a pipe, prints `dropped TEXT`, finishes the offer and
//! prints `finish`.

use std::io::{Read, Write};
use std::os::fd::AsFd;

use wayland_client::protocol::{
    wl_compositor::WlCompositor,
    wl_data_device::{self, WlDataDevice},
    wl_data_device_manager::{DndAction, WlDataDeviceManager},
    wl_data_offer::WlDataOffer,
    wl_data_source::{self, WlDataSource},
    wl_seat::WlSeat,
    wl_shm::{self, WlShm},
    wl_surface::WlSurface,
};
use wayland_client::{
    Connection, Dispatch, Proxy, QueueHandle, delegate_noop, event_created_child,
};

use crate::app::App;
use crate::say;
use crate::shm::shm_buffer;

/// The one type dragged and accepted.
const MIME: &str = "text/plain;charset=utf-8";

/// The drag icon's colour (ARGB8888), opaque orange: no other picture of
/// this client shows it.
pub(crate) const ICON_COLOUR: u32 = 0xffff_8000;

/// The drag icon's width and height.
pub(crate) const ICON_SIZE: u32 = 16;

/// Where the pointer is on the drag icon: each drag moves the icon by
/// minus this (`wl_surface.offset`) once it started, from its first place
/// with its top left corner at the pointer.
pub(crate) const ICON_HOTSPOT: (i32, i32) = (4, 6);

/// Which side of a drag and drop this client takes.
#[derive(Debug)]
pub(crate) enum Dnd {
    /// Starts a drag on a left-button press.
    Drag(Box<Drag>),
    /// Accepts what is dropped on its window; the offer that entered it,
    /// until it leaves or is dropped.
    Drop { offer: Option<WlDataOffer> },
}

/// The drag side: a drag of `text` from `origin`, with `icon`.
#[derive(Debug)]
pub(crate) struct Drag {
    text: String,
    manager: WlDataDeviceManager,
    device: WlDataDevice,
    origin: WlSurface,
    /// The icon's surface, its buffer committed.
    icon: WlSurface,
}

impl Dnd {
    /// The side `drag` (the text of `--drag`) or, without it, the drop
    /// side, on `seat`'s data device; the drag's icon is a surface of
    /// `compositor` with a buffer of `shm`.
    pub(crate) fn new(
        manager: WlDataDeviceManager,
        seat: &WlSeat,
        surface: &WlSurface,
        drag: Option<String>,
        (compositor, shm): (&WlCompositor, &WlShm),
        qh: &QueueHandle<App>,
    ) -> anyhow::Result<Self> {
        let device = manager.get_data_device(seat, qh, ());
        Ok(match drag {
            Some(text) => {
                let icon = compositor.create_surface(qh, ());
                let pixels = [ICON_COLOUR; (ICON_SIZE * ICON_SIZE) as usize];
                let size = (ICON_SIZE, ICON_SIZE);
                let buffer = shm_buffer(shm, qh, size, wl_shm::Format::Argb8888, &pixels)?;
                icon.attach(Some(&buffer), 0, 0);
                icon.commit();
                Self::Drag(Box::new(Drag {
                    text,
                    manager,
                    device,
                    origin: surface.clone(),
                    icon,
                }))
            }
            None => Self::Drop { offer: None },
        })
    }

    /// The left button went down on the window with `serial`: the drag
    /// side starts a drag.
    pub(crate) fn pressed(&self, serial: u32, conn: &Connection, qh: &QueueHandle<App>) {
        let Self::Drag(drag) = self else {
            return;
        };
        let Drag {
            text,
            manager,
            device,
            origin,
            icon,
        } = &**drag;
        let source = manager.create_data_source(qh, text.clone());
        source.offer(MIME.to_owned());
        source.set_actions(DndAction::Copy);
        device.start_drag(Some(&source), origin, Some(icon), serial);
        if icon.version() >= 5 {
            icon.offset(-ICON_HOTSPOT.0, -ICON_HOTSPOT.1);
            icon.commit();
        }
        // Sent before the line, so that a test moving the pointer on it
        // moves a drag.
        let _ = conn.flush();
        say(format_args!("drag started"));
    }
}

impl Dispatch<WlDataDevice, ()> for App {
    fn event(
        state: &mut Self,
        _: &WlDataDevice,
        event: wl_data_device::Event,
        _: &(),
        conn: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(Dnd::Drop { offer: entered }) = &mut state.dnd else {
            // The drag side's own drag over its window is offered to it
            // too; it declines.
            match event {
                wl_data_device::Event::Enter {
                    id: Some(offer), ..
                } => {
                    offer.destroy();
                    say(format_args!("drag entered"));
                }
                wl_data_device::Event::Selection { id: Some(offer) } => offer.destroy(),
                _ => {}
            }
            return;
        };
        match event {
            wl_data_device::Event::Enter {
                serial,
                id: Some(offer),
                ..
            } => {
                offer.accept(serial, Some(MIME.to_owned()));
                offer.set_actions(DndAction::Copy, DndAction::Copy);
                say(format_args!("drop entered"));
                *entered = Some(offer);
            }
            wl_data_device::Event::Leave => {
                if let Some(offer) = entered.take() {
                    offer.destroy();
                }
            }
            wl_data_device::Event::Drop => {
                if let Some(offer) = entered.take() {
                    match receive(&offer, conn) {
                        Ok(text) => say(format_args!("dropped {text}")),
                        Err(err) => say(format_args!("drop failed: {err}")),
                    }
                    offer.finish();
                    offer.destroy();
                    say(format_args!("finish"));
                }
            }
            wl_data_device::Event::Selection { id: Some(offer) } => offer.destroy(),
            _ => {}
        }
    }

    event_created_child!(App, WlDataDevice, [
        wl_data_device::EVT_DATA_OFFER_OPCODE => (WlDataOffer, ()),
    ]);
}

/// The text `offer` holds as [`MIME`], read through a pipe.
fn receive(offer: &WlDataOffer, conn: &Connection) -> std::io::Result<String> {
    let (mut reader, writer) = std::io::pipe()?;
    offer.receive(MIME.to_owned(), writer.as_fd());
    // Only the source keeps a writing end: the read ends when it is done.
    drop(writer);
    conn.flush().map_err(std::io::Error::other)?;
    let mut text = String::new();
    reader.read_to_string(&mut text)?;
    Ok(text)
}

impl Dispatch<WlDataSource, String> for App {
    /// The events of a drag's source, which holds `text`.
    fn event(
        _: &mut Self,
        source: &WlDataSource,
        event: wl_data_source::Event,
        text: &String,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_data_source::Event::Send { fd, .. } => {
                let mut pipe = std::fs::File::from(fd);
                if let Err(err) = pipe.write_all(text.as_bytes()) {
                    say(format_args!("drag send failed: {err}"));
                }
            }
            wl_data_source::Event::DndDropPerformed => say(format_args!("drag dropped")),
            wl_data_source::Event::DndFinished => {
                say(format_args!("drag finished"));
                source.destroy();
            }
            wl_data_source::Event::Cancelled => {
                say(format_args!("drag cancelled"));
                source.destroy();
            }
            _ => {}
        }
    }
}

delegate_noop!(App: ignore WlDataDeviceManager);
delegate_noop!(App: ignore WlDataOffer);
