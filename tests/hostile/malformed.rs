//! Malformed and out-of-spec requests: each gets the error the spec names.

use super::*;

/// Requests that panicked a dependency or the compositor's own
/// arithmetic, and the spec's errors for the misuse a conforming
/// compositor must refuse.
#[test]
fn malformed_requests_get_the_spec_error_and_harm_no_one() {
    let mut stage = Stage::start();

    stage.run("wl_shm_pool.resize(0)", |w| {
        let (_, pool) = pool(w, 4096);
        w.send(pool, 2, &[Arg::Int(0)]);
        Some((pool, 2)) // wl_shm.invalid_fd
    });
    stage.run("wl_shm_pool.resize(-1)", |w| {
        let (_, pool) = pool(w, 4096);
        w.send(pool, 2, &[Arg::Int(-1)]);
        Some((pool, 2))
    });
    stage.run("wl_shm_pool.create_buffer with an unknown format", |w| {
        let (_, pool) = pool(w, 4096);
        let buffer = w.new_id();
        let args = [
            Arg::NewId(buffer),
            Arg::Int(0),
            Arg::Int(4),
            Arg::Int(4),
            Arg::Int(16),
            Arg::Uint(0x3132_564e), // NV21: not a wl_shm format here
        ];
        w.send(pool, 0, &args);
        Some((pool, 0)) // wl_shm.invalid_format
    });
    // NV12: a Y plane, then a CbCr plane of half its rows at offset +
    // stride × height, the same stride. Each layout that does not fit is
    // wl_shm.invalid_stride, raised before the buffer exists.
    for (name, pool_size, (offset, width, height, stride)) in [
        ("an odd width", 4096, (0, 15, 16, 16)),
        ("an odd height", 4096, (0, 16, 15, 16)),
        ("a stride narrower than its width", 4096, (0, 16, 16, 8)),
        ("a CbCr plane past the pool", 4096, (0, 64, 64, 64)),
        ("a CbCr plane one byte past the pool", 384, (1, 16, 16, 16)),
        ("a negative offset", 4096, (-16, 16, 16, 16)),
    ] {
        stage.run(
            &format!("wl_shm_pool.create_buffer NV12 with {name}"),
            |w| {
                let (_, pool) = pool(w, pool_size);
                let buffer = w.new_id();
                let args = [
                    Arg::NewId(buffer),
                    Arg::Int(offset),
                    Arg::Int(width),
                    Arg::Int(height),
                    Arg::Int(stride),
                    Arg::Uint(0x3231_564e), // NV12
                ];
                w.send(pool, 0, &args);
                Some((pool, 1)) // wl_shm.invalid_stride
            },
        );
    }
    stage.run("xdg_toplevel.set_title(NULL)", |w| {
        let (_, _, toplevel) = toplevel(w);
        w.send(toplevel, 2, &[Arg::Str(None)]);
        Some((1, INVALID_METHOD))
    });
    stage.run("wl_registry.bind with a NULL interface", |w| {
        let name = w.global("wl_compositor").unwrap().name;
        let id = w.new_id();
        let registry = w.registry();
        let args = [
            Arg::Uint(name),
            Arg::Str(None),
            Arg::Uint(1),
            Arg::NewId(id),
        ];
        w.send(registry, 0, &args);
        Some((1, INVALID_METHOD))
    });
    stage.run("a message shorter than its header", |w| {
        w.send_raw(&[1, 0, 0, 0, 0, 0, 4, 0], &[]);
        Some((1, INVALID_METHOD))
    });
    stage.run("an opcode wl_display does not have", |w| {
        w.send(1, 7, &[]);
        Some((1, INVALID_METHOD))
    });
    stage.run("a request to an object that does not exist", |w| {
        w.send(4000, 0, &[]);
        Some((1, 0)) // wl_display.invalid_object
    });
    stage.run("wl_surface.set_buffer_transform(8)", |w| {
        let (_, surface) = surface(w);
        w.send(surface, 7, &[Arg::Int(8)]);
        Some((surface, 1)) // wl_surface.invalid_transform
    });
    stage.run("wl_surface.set_buffer_scale(0)", |w| {
        let (_, surface) = surface(w);
        w.send(surface, 8, &[Arg::Int(0)]);
        Some((surface, 0)) // wl_surface.invalid_scale
    });
    stage.run("xdg_surface.get_toplevel twice", |w| {
        let (_, xdg, _) = toplevel(w);
        let again = w.new_id();
        w.send(xdg, 1, &[Arg::NewId(again)]);
        Some((xdg, 2)) // xdg_surface.already_constructed
    });
    stage.run(
        "zxdg_decoration_manager_v1.get_toplevel_decoration twice",
        |w| {
            let (_, _, toplevel) = toplevel(w);
            let manager = w.bind("zxdg_decoration_manager_v1", 1);
            for _ in 0..2 {
                let decoration = w.new_id();
                w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
            }
            // zxdg_toplevel_decoration_v1.already_constructed, on the manager
            // (the new object does not exist yet), as wlroots raises it.
            Some((manager, 1))
        },
    );
    stage.run_any("a decoration for a toplevel whose wl_surface went", |w| {
        let (surface, _, toplevel) = toplevel(w);
        let manager = w.bind("zxdg_decoration_manager_v1", 1);
        w.send(surface, 0, &[]);
        let decoration = w.new_id();
        w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
        w.roundtrip();
    });
    stage.run_any("decoration requests after the wl_surface went", |w| {
        let (surface, _, toplevel) = toplevel(w);
        let manager = w.bind("zxdg_decoration_manager_v1", 1);
        let decoration = w.new_id();
        w.send(manager, 1, &[Arg::NewId(decoration), Arg::Object(toplevel)]);
        w.send(surface, 0, &[]);
        w.send(decoration, 1, &[Arg::Uint(2)]);
        w.send(decoration, 2, &[]);
        w.roundtrip();
    });
    stage.run("xdg_activation_token_v1.set_app_id after commit", |w| {
        let activation = w.bind("xdg_activation_v1", 1);
        let token = w.new_id();
        w.send(activation, 1, &[Arg::NewId(token)]);
        w.send(token, 3, &[]);
        w.send(token, 1, &[Arg::Str(Some("late"))]);
        Some((token, 0)) // xdg_activation_token_v1.already_used
    });
    stage.run("a buffer committed to an xdg_surface without a role", |w| {
        let (_, surface, xdg) = xdg_surface(w);
        let picture = buffer(w, 8, 8);
        w.send(
            surface,
            1,
            &[Arg::Object(picture), Arg::Int(0), Arg::Int(0)],
        );
        w.send(surface, 6, &[]);
        Some((xdg, 3)) // xdg_surface.unconfigured_buffer
    });
    stage.run("xdg_surface.ack_configure of a serial never sent", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        w.roundtrip();
        w.send(xdg, 4, &[Arg::Uint(0xdead_beef)]);
        Some((xdg, 4)) // xdg_surface.invalid_serial
    });
    stage.run("xdg_surface.set_window_geometry of zero size", |w| {
        let (_, xdg, _) = toplevel(w);
        w.send(
            xdg,
            3,
            &[Arg::Int(0), Arg::Int(0), Arg::Int(0), Arg::Int(0)],
        );
        Some((xdg, 5)) // xdg_surface.invalid_size
    });
    stage.run("wl_subsurface of a surface under itself", |w| {
        let (_, surface) = surface(w);
        let subcompositor = w.bind("wl_subcompositor", 1);
        let sub = w.new_id();
        let args = [Arg::NewId(sub), Arg::Object(surface), Arg::Object(surface)];
        w.send(subcompositor, 1, &args);
        Some((subcompositor, 1)) // wl_subcompositor.bad_parent
    });
    stage.run("zwp_linux_buffer_params_v1 with plane 1 alone", |w| {
        let dmabuf = w.bind("zwp_linux_dmabuf_v1", 3);
        let params = w.new_id();
        w.send(dmabuf, 1, &[Arg::NewId(params)]);
        let fd = memfd(4096);
        let add = [
            Arg::Fd(fd.as_fd()),
            Arg::Uint(1),
            Arg::Uint(0),
            Arg::Uint(64),
            Arg::Uint(0),
            Arg::Uint(0),
        ];
        w.send(params, 1, &add);
        let buffer = w.new_id();
        let create = [
            Arg::NewId(buffer),
            Arg::Int(16),
            Arg::Int(16),
            Arg::Uint(0x3432_5241), // ARGB8888
            Arg::Uint(0),
        ];
        w.send(params, 3, &create);
        Some((params, 3)) // zwp_linux_buffer_params_v1.incomplete
    });

    stage.run("a 63x63 buffer at scale 2", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        ack(w, xdg);
        let buffer = buffer(w, 63, 63);
        w.send(surface, 8, &[Arg::Int(2)]);
        w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(surface, 6, &[]);
        Some((surface, 2)) // wl_surface.invalid_size
    });
    stage.run(
        "xdg_wm_base.get_xdg_surface on a surface with a buffer",
        |w| {
            let (_, surface) = surface(w);
            let buffer = buffer(w, 16, 16);
            w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
            w.send(surface, 6, &[]);
            let wm_base = w.bind("xdg_wm_base", 6);
            let xdg = w.new_id();
            w.send(wm_base, 2, &[Arg::NewId(xdg), Arg::Object(surface)]);
            Some((wm_base, 4)) // xdg_wm_base.invalid_surface_state
        },
    );
    stage.run("a buffer committed before the first ack_configure", |w| {
        let (surface, xdg, _) = toplevel(w);
        w.send(surface, 6, &[]);
        let buffer = buffer(w, 16, 16);
        w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(surface, 6, &[]);
        Some((xdg, 3)) // xdg_surface.unconfigured_buffer
    });
    stage.run("xdg_toplevel min size over its max size", |w| {
        let (surface, _, toplevel) = toplevel(w);
        w.send(toplevel, 7, &[Arg::Int(100), Arg::Int(100)]);
        w.send(toplevel, 8, &[Arg::Int(200), Arg::Int(50)]);
        w.send(surface, 6, &[]);
        Some((toplevel, 2)) // xdg_toplevel.invalid_size
    });
    stage.run("xdg_surface.get_popup with an incomplete positioner", |w| {
        let (_, xdg, _) = mapped(w, 16, 16);
        let (wm_base, _, popup_xdg) = xdg_surface(w);
        let positioner = w.new_id();
        w.send(wm_base, 1, &[Arg::NewId(positioner)]);
        // An anchor rectangle but no size.
        let anchor = [Arg::Int(0), Arg::Int(0), Arg::Int(4), Arg::Int(4)];
        w.send(positioner, 2, &anchor);
        let popup = w.new_id();
        let args = [Arg::NewId(popup), Arg::Object(xdg), Arg::Object(positioner)];
        w.send(popup_xdg, 2, &args);
        Some((wm_base, 5)) // xdg_wm_base.invalid_positioner
    });
    stage.run("a popup gets its first configure", |w| {
        let (_, xdg, _) = mapped(w, 16, 16);
        let (wm_base, popup_surface, popup_xdg) = xdg_surface(w);
        let positioner = w.new_id();
        w.send(wm_base, 1, &[Arg::NewId(positioner)]);
        w.send(positioner, 1, &[Arg::Int(10), Arg::Int(10)]);
        let anchor = [Arg::Int(0), Arg::Int(0), Arg::Int(4), Arg::Int(4)];
        w.send(positioner, 2, &anchor);
        let popup = w.new_id();
        let args = [Arg::NewId(popup), Arg::Object(xdg), Arg::Object(positioner)];
        w.send(popup_xdg, 2, &args);
        w.send(popup_surface, 6, &[]);
        w.roundtrip();
        let configured = w.events_of(popup).any(|e| e.opcode == 0)
            && w.events_of(popup_xdg).any(|e| e.opcode == 0);
        assert!(configured, "the popup got no configure");
        None
    });
    stage.run("a second wp_viewport for a surface", |w| {
        let (_, surface) = surface(w);
        let viewporter = w.bind("wp_viewporter", 1);
        for _ in 0..2 {
            let viewport = w.new_id();
            w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        }
        Some((viewporter, 0)) // wp_viewporter.viewport_exists
    });
    stage.run("wl_seat.get_touch without the capability", |w| {
        let seat = w.bind("wl_seat", 7);
        let touch = w.new_id();
        w.send(seat, 2, &[Arg::NewId(touch)]);
        Some((seat, 0)) // wl_seat.missing_capability
    });

    // Legal however extreme: no error, and nobody's frames stop.
    stage.run("a viewport destination near i32::MAX", |w| {
        let (surface, _, _) = mapped(w, 16, 16);
        let viewporter = w.bind("wp_viewporter", 1);
        let viewport = w.new_id();
        w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        w.send(viewport, 2, &[Arg::Int(i32::MAX), Arg::Int(i32::MAX)]);
        w.send(surface, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("a subsurface placed near i32::MAX", |w| {
        let (parent, _, _) = mapped(w, 16, 16);
        let (_, child) = surface(w);
        let subcompositor = w.bind("wl_subcompositor", 1);
        let sub = w.new_id();
        let args = [Arg::NewId(sub), Arg::Object(child), Arg::Object(parent)];
        w.send(subcompositor, 1, &args);
        w.send(sub, 1, &[Arg::Int(i32::MAX), Arg::Int(i32::MAX)]);
        let buffer = buffer(w, 16, 16);
        w.send(child, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
        w.send(child, 6, &[]);
        w.send(parent, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("a window 20000 pixels wide through its viewport", |w| {
        let (surface, _, _) = mapped(w, 16, 16);
        let viewporter = w.bind("wp_viewporter", 1);
        let viewport = w.new_id();
        w.send(viewporter, 1, &[Arg::NewId(viewport), Arg::Object(surface)]);
        w.send(viewport, 2, &[Arg::Int(20000), Arg::Int(100)]);
        w.send(surface, 6, &[]);
        w.roundtrip();
        None
    });
    stage.run("xdg_toplevel.set_min_size(-1, -1)", |w| {
        let (_, _, toplevel) = toplevel(w);
        w.send(toplevel, 8, &[Arg::Int(-1), Arg::Int(-1)]);
        Some((toplevel, 2)) // xdg_toplevel.invalid_size
    });
    stage.run("wp_cursor_shape_device_v1.set_shape(9999)", |w| {
        let device = cursor_shape_device(w, 2);
        w.send(device, 1, &[Arg::Uint(0), Arg::Uint(9999)]);
        Some((device, 1)) // wp_cursor_shape_device_v1.invalid_shape
    });
    stage.run(
        "wp_cursor_shape_device_v1.set_shape(dnd_ask) at version 1",
        |w| {
            let device = cursor_shape_device(w, 1);
            w.send(device, 1, &[Arg::Uint(0), Arg::Uint(35)]);
            Some((device, 1))
        },
    );
    stage.run(
        "zwp_input_method_v2.get_input_popup_surface of a toplevel's surface",
        |w| {
            let (_, input_method) = input_method(w);
            let (surface, _, _) = toplevel(w);
            let popup = w.new_id();
            let args = [Arg::NewId(popup), Arg::Object(surface)];
            w.send(input_method, 4, &args);
            // The protocol's role error, which it gives no enum.
            Some((input_method, 0))
        },
    );
    // Unknown enum values panicked smithay's text input; the protocol
    // names no error for them.
    for (name, opcode, args) in [
        ("set_text_change_cause(7)", 4, vec![Arg::Uint(7)]),
        (
            "set_content_type with hint 1 << 20",
            5,
            vec![Arg::Uint(1 << 20), Arg::Uint(0)],
        ),
        (
            "set_content_type with purpose 99",
            5,
            vec![Arg::Uint(0), Arg::Uint(99)],
        ),
    ] {
        stage.run(&format!("zwp_text_input_v3.{name}"), |w| {
            let input_method = enabled_text_input(w, opcode, &args);
            // The commit reached the input method, past the request.
            assert!(
                w.events_of(input_method).any(|e| e.opcode == 0),
                "the input method was not activated"
            );
            None
        });
    }
    stage.run(
        "zwp_text_input_v3.set_cursor_rectangle(i32::MAX × 4) under an input popup",
        |w| {
            let max = Arg::Int(i32::MAX);
            let args = [max, max, max, max];
            let input_method = enabled_text_input(w, 6, &args);
            let (_, surface) = surface(w);
            let popup = w.new_id();
            w.send(input_method, 4, &[Arg::NewId(popup), Arg::Object(surface)]);
            w.send(surface, 6, &[]);
            w.roundtrip();
            // A few refreshes place the popup under that rectangle.
            std::thread::sleep(Duration::from_millis(100));
            w.roundtrip();
            None
        },
    );
    stage.finish();
}

/// The seat's input method, as the client's first; (seat, the
/// zwp_input_method_v2).
fn input_method(w: &mut Wire) -> (u32, u32) {
    let seat = w.bind("wl_seat", 7);
    let manager = w.bind("zwp_input_method_manager_v2", 1);
    let input_method = w.new_id();
    w.send(manager, 0, &[Arg::Object(seat), Arg::NewId(input_method)]);
    (seat, input_method)
}

/// A mapped window, which takes the keyboard, with a text input that is
/// enabled and committed with request `opcode` (`args`) in between, while
/// the client is the seat's input method too; the input method, after a
/// roundtrip.
fn enabled_text_input(w: &mut Wire, opcode: u16, args: &[Arg<'_>]) -> u32 {
    let (seat, input_method) = input_method(w);
    mapped(w, 16, 16);
    let manager = w.bind("zwp_text_input_manager_v3", 1);
    let text_input = w.new_id();
    w.send(manager, 1, &[Arg::NewId(text_input), Arg::Object(seat)]);
    w.send(text_input, 1, &[]); // enable
    w.send(text_input, opcode, args);
    w.send(text_input, 7, &[]); // commit
    w.roundtrip();
    input_method
}
