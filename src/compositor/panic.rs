//! A panic names the client whose request was being dispatched.
//!
//! No request should make the compositor panic (the hostile suite and the
//! carried patches see to that), but if one does, the log says which
//! client sent which request, so that the bug can be found from a user's
//! log. The hook only logs: the default hook runs after it, and the panic
//! goes on as it would have; nothing catches it.

use std::fmt::Display;
use std::panic;

use tracing::error;
use wayland_backend::protocol::Interface;
use wayland_backend::server::{self as backend, ClientId};

/// Logs every panic of the process, with the request the panicking thread
/// was dispatching, before the default hook.
pub(crate) fn install() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        error!("{}", describe(info, backend::dispatching()));
        default(info);
    }));
}

/// What is logged of a panic `what`, `dispatching` a request or not.
fn describe(what: &dyn Display, dispatching: Option<(ClientId, &Interface, u16)>) -> String {
    let Some((client, interface, opcode)) = dispatching else {
        return format!("the compositor panicked: {what}");
    };
    let request = interface
        .requests
        .get(usize::from(opcode))
        .map_or("an unknown request", |request| request.name);
    format!(
        "the compositor panicked dispatching {}.{request} from client {client:?}: {what}",
        interface.name
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    use smithay::reexports::wayland_server::protocol::wl_seat::{self, WlSeat};
    use smithay::reexports::wayland_server::{
        Client, DataInit, Dispatch, Display, DisplayHandle, GlobalDispatch, New, Resource,
    };

    use super::*;

    /// What the seat's request handler saw.
    #[derive(Default)]
    struct Seen(Option<String>);

    impl GlobalDispatch<WlSeat, ()> for Seen {
        fn bind(
            _: &mut Self,
            _: &DisplayHandle,
            _: &Client,
            resource: New<WlSeat>,
            _: &(),
            data_init: &mut DataInit<'_, Self>,
        ) {
            data_init.init(resource, ());
        }
    }

    impl Dispatch<WlSeat, ()> for Seen {
        fn request(
            state: &mut Self,
            _: &Client,
            seat: &WlSeat,
            _: wl_seat::Request,
            _: &(),
            _: &DisplayHandle,
            _: &mut DataInit<'_, Self>,
        ) {
            let dispatching = backend::dispatching();
            assert_eq!(
                dispatching.as_ref().map(|(client, ..)| client),
                seat.client().map(|c| c.id()).as_ref()
            );
            state.0 = Some(describe(&"a test", dispatching));
        }
    }

    struct NoData;
    impl backend::ClientData for NoData {}

    /// Encodes a request: the object, the opcode and the arguments' words.
    fn request(object: u32, opcode: u32, args: &[u32]) -> Vec<u8> {
        let size = 8 + 4 * args.len() as u32;
        [object, size << 16 | opcode]
            .iter()
            .chain(args)
            .flat_map(|word| word.to_ne_bytes())
            .collect()
    }

    #[test]
    fn a_panic_names_the_request_and_client_being_dispatched() {
        let mut display: Display<Seen> = Display::new().unwrap();
        let mut handle = display.handle();
        handle.create_global::<Seen, WlSeat, ()>(5, ());
        let (server, mut client) = UnixStream::pair().unwrap();
        let id = handle.insert_client(server, Arc::new(NoData)).unwrap().id();
        // wl_display.get_registry(2); wl_registry.bind(1, "wl_seat", 5, 3)
        // (the seat is the first global); wl_seat.release().
        let name = b"wl_seat\0";
        let mut bind = vec![1, name.len() as u32];
        bind.extend(
            name.chunks(4)
                .map(|c| u32::from_ne_bytes(c.try_into().unwrap())),
        );
        bind.extend([5, 3]);
        let mut bytes = request(1, 1, &[2]);
        bytes.extend(request(2, 0, &bind));
        bytes.extend(request(3, 3, &[]));
        client.write_all(&bytes).unwrap();

        let mut seen = Seen::default();
        for _ in 0..10 {
            display.dispatch_clients(&mut seen).unwrap();
            if seen.0.is_some() {
                break;
            }
        }
        let want = format!(
            "the compositor panicked dispatching wl_seat.release from client {id:?}: a test"
        );
        assert_eq!(seen.0, Some(want));
        // Outside a dispatch, no request is named.
        assert!(backend::dispatching().is_none());
        assert_eq!(describe(&"a test", None), "the compositor panicked: a test");
    }
}
