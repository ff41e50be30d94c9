//! Text input through `zwp_text_input_v3` and `zwp_input_method_v2`, one
//! side per client.
//!
//! `--input-method TEXT`: no window; the client becomes the seat's input
//! method and prints `input method ready`. It prints `input method
//! activate` and `input method deactivate` as they come, the content type
//! of the text input it writes into (`content type HINT PURPOSE`, the
//! protocol's numbers), and at each `done` that follows an `activate`
//! commits TEXT (`commit_string`, then `commit` with the number of `done`
//! events so far) and prints `committed TEXT`. A seat that has an input
//! method already answers `unavailable`: the client prints `input method
//! unavailable` and exits. With `--input-popup` it shows a popup
//! (`zwp_input_popup_surface_v2`): a square of [`POPUP_COLOUR`],
//! [`POPUP_SIZE`] pixels wide.
//!
//! `--text-input`: the window has a text input, which it enables on each
//! `enter` with the content type [`HINT`] and [`PURPOSE`] and the text
//! cursor at [`CURSOR`], printing `text-input enter` (and `text-input
//! leave`, disabling it again). At each `done` it prints what the input
//! method sent before it, in the order the protocol applies it:
//! `delete_surrounding_text BEFORE AFTER`, `commit_string TEXT`,
//! `preedit_string BEGIN END TEXT`.

use anyhow::Context;
use wayland_client::globals::GlobalList;
use wayland_client::protocol::{
    wl_compositor::WlCompositor,
    wl_seat::WlSeat,
    wl_shm::{self, WlShm},
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, delegate_noop};
use wayland_protocols::wp::text_input::zv3::client::{
    zwp_text_input_manager_v3::ZwpTextInputManagerV3,
    zwp_text_input_v3::{self, ContentHint, ContentPurpose, ZwpTextInputV3},
};
use wayland_protocols_misc::zwp_input_method_v2::client::{
    zwp_input_method_manager_v2::ZwpInputMethodManagerV2,
    zwp_input_method_v2::{self, ZwpInputMethodV2},
    zwp_input_popup_surface_v2::ZwpInputPopupSurfaceV2,
};

use crate::app::App;
use crate::say;
use crate::shm::shm_buffer;

/// The content type the text input declares.
pub(crate) const HINT: ContentHint = ContentHint::Spellcheck;
pub(crate) const PURPOSE: ContentPurpose = ContentPurpose::Email;

/// The text cursor's rectangle the text input declares, in surface
/// coordinates: x, y, width, height.
pub(crate) const CURSOR: (i32, i32, i32, i32) = (10, 20, 2, 16);

/// The input method's popup colour (ARGB8888), opaque: no other picture
/// of this client shows it.
pub(crate) const POPUP_COLOUR: u32 = 0xff12_3456;

/// The input method's popup's width and height.
pub(crate) const POPUP_SIZE: u32 = 16;

/// The input method side: what it writes, and where it stands.
#[derive(Debug)]
pub(crate) struct InputMethod {
    text: String,
    /// The `done` events received: the serial of the next `commit`.
    done: u32,
    /// Activated since the last `done`.
    activated: bool,
    /// Told `unavailable`.
    unavailable: bool,
}

/// The text input side: its object, and the lines waiting for `done`.
#[derive(Debug)]
pub(crate) struct TextInput {
    object: ZwpTextInputV3,
    deleted: Option<String>,
    committed: Option<String>,
    preedit: Option<String>,
}

/// `--input-method TEXT`: the seat's input method, with a popup (a
/// surface of `compositor` with a buffer of `shm`) where `popup` asks,
/// until the compositor goes away or another input method holds the seat.
pub(crate) fn input_method(
    globals: &GlobalList,
    seat: Option<&WlSeat>,
    (compositor, shm): (&WlCompositor, &WlShm),
    queue: &mut EventQueue<App>,
    app: &mut App,
    (text, popup): (String, bool),
) -> anyhow::Result<()> {
    let qh = queue.handle();
    let manager: ZwpInputMethodManagerV2 = globals
        .bind(&qh, 1..=1, ())
        .context("the compositor has no zwp_input_method_manager_v2")?;
    let seat = seat.context("the compositor has no wl_seat")?;
    let object = manager.get_input_method(seat, &qh, ());
    let _popup = if popup {
        let surface = compositor.create_surface(&qh, ());
        let role = object.get_input_popup_surface(&surface, &qh, ());
        let pixels = [POPUP_COLOUR; (POPUP_SIZE * POPUP_SIZE) as usize];
        let size = (POPUP_SIZE, POPUP_SIZE);
        let buffer = shm_buffer(shm, &qh, size, wl_shm::Format::Argb8888, &pixels)?;
        surface.attach(Some(&buffer), 0, 0);
        surface.commit();
        Some((surface, role))
    } else {
        None
    };
    app.input_method = Some(InputMethod {
        text,
        done: 0,
        activated: false,
        unavailable: false,
    });
    queue.roundtrip(app)?;
    say(format_args!("input method ready"));
    while !app.input_method.as_ref().is_some_and(|im| im.unavailable) {
        queue.blocking_dispatch(app)?;
    }
    object.destroy();
    Ok(())
}

impl TextInput {
    /// A text input on `seat`, for the window's surface.
    pub(crate) fn new(
        globals: &GlobalList,
        seat: &WlSeat,
        qh: &QueueHandle<App>,
    ) -> anyhow::Result<Self> {
        let manager: ZwpTextInputManagerV3 = globals
            .bind(qh, 1..=1, ())
            .context("the compositor has no zwp_text_input_manager_v3")?;
        Ok(Self {
            object: manager.get_text_input(seat, qh, ()),
            deleted: None,
            committed: None,
            preedit: None,
        })
    }
}

impl Dispatch<ZwpInputMethodV2, ()> for App {
    fn event(
        app: &mut Self,
        object: &ZwpInputMethodV2,
        event: zwp_input_method_v2::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(im) = &mut app.input_method else {
            return;
        };
        match event {
            zwp_input_method_v2::Event::Activate => {
                im.activated = true;
                say(format_args!("input method activate"));
            }
            zwp_input_method_v2::Event::Deactivate => {
                im.activated = false;
                say(format_args!("input method deactivate"));
            }
            zwp_input_method_v2::Event::ContentType { hint, purpose } => {
                let (hint, purpose) = (u32::from(hint), u32::from(purpose));
                say(format_args!("content type {hint} {purpose}"));
            }
            zwp_input_method_v2::Event::Done => {
                im.done += 1;
                if std::mem::take(&mut im.activated) {
                    object.commit_string(im.text.clone());
                    object.commit(im.done);
                    say(format_args!("committed {}", im.text));
                }
            }
            zwp_input_method_v2::Event::Unavailable => {
                im.unavailable = true;
                say(format_args!("input method unavailable"));
            }
            _ => {}
        }
    }
}

impl Dispatch<ZwpTextInputV3, ()> for App {
    fn event(
        app: &mut Self,
        _: &ZwpTextInputV3,
        event: zwp_text_input_v3::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(ti) = &mut app.text_input else {
            return;
        };
        match event {
            zwp_text_input_v3::Event::Enter { .. } => {
                let (x, y, width, height) = CURSOR;
                ti.object.enable();
                ti.object.set_content_type(HINT, PURPOSE);
                ti.object.set_cursor_rectangle(x, y, width, height);
                ti.object.commit();
                say(format_args!("text-input enter"));
            }
            zwp_text_input_v3::Event::Leave { .. } => {
                ti.object.disable();
                ti.object.commit();
                say(format_args!("text-input leave"));
            }
            zwp_text_input_v3::Event::DeleteSurroundingText {
                before_length,
                after_length,
            } => ti.deleted = Some(format!("{before_length} {after_length}")),
            zwp_text_input_v3::Event::CommitString { text } => {
                ti.committed = Some(text.unwrap_or_default());
            }
            zwp_text_input_v3::Event::PreeditString {
                text,
                cursor_begin,
                cursor_end,
            } => {
                let text = text.unwrap_or_default();
                ti.preedit = Some(format!("{cursor_begin} {cursor_end} {text}"));
            }
            zwp_text_input_v3::Event::Done { .. } => {
                if let Some(deleted) = ti.deleted.take() {
                    say(format_args!("delete_surrounding_text {deleted}"));
                }
                if let Some(text) = ti.committed.take() {
                    say(format_args!("commit_string {text}"));
                }
                if let Some(preedit) = ti.preedit.take() {
                    say(format_args!("preedit_string {preedit}"));
                }
            }
            _ => {}
        }
    }
}

delegate_noop!(App: ignore ZwpInputMethodManagerV2);
delegate_noop!(App: ignore ZwpInputPopupSurfaceV2);
delegate_noop!(App: ignore ZwpTextInputManagerV3);
