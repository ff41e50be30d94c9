//! Random requests to every global.

use super::*;

/// Random requests, well-formed on the wire, to every global the
/// compositor advertises and every object made from them: each client
/// sends up to [`REQUESTS_PER_CLIENT`] of them, drawn from each request's
/// signature with values chosen to hurt (0, -1, `i32::MAX`, NULL strings,
/// objects of the wrong interface, ids never made, memfds), until the
/// compositor ends it with an error or it runs out. The compositor must
/// survive every client, and the observer keep its frames.
///
/// `DMABRIDGE_FUZZ_CLIENTS` (default 40) and `DMABRIDGE_FUZZ_SEED` (default
/// a fixed one, so that CI is repeatable) set the run; a failing seed and
/// client are printed to replay it.
#[test]
fn random_requests_to_every_global_harm_no_one() {
    let clients: u64 = env_number("DMABRIDGE_FUZZ_CLIENTS", 40);
    let seed: u64 = env_number("DMABRIDGE_FUZZ_SEED", 0x5eed_d15a_b1e5);
    let mut stage = Stage::start();
    // The errors the clients got, by (interface, code), as a summary.
    let mut errors = std::collections::BTreeMap::<String, u32>::new();
    for client in 0..clients {
        let mut rng = Rng(seed ^ client.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let name = format!("fuzz client {client} of seed {seed:#x}");
        let mut outcome = None;
        stage.run_any(&name, |w| {
            outcome = fuzz_client(w, &mut rng);
        });
        if let Some(error) = outcome {
            *errors.entry(error).or_default() += 1;
        }
    }
    // The summary for a long run (shown with --nocapture).
    let summary = format!("{clients} clients, errors they got: {errors:?}\n");
    std::io::Write::write_all(&mut std::io::stdout().lock(), summary.as_bytes()).unwrap();
    stage.finish();
}

/// How many requests one fuzzing client sends at most.
const REQUESTS_PER_CLIENT: usize = 40;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| {
            v.strip_prefix("0x")
                .map_or(v.parse().ok(), |hex| u64::from_str_radix(hex, 16).ok())
        })
        .unwrap_or(default)
}

/// xorshift64*: small, seeded, and good enough to pick requests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn int(&mut self) -> i32 {
        const HURT: [i32; 10] = [
            0,
            1,
            -1,
            2,
            64,
            4096,
            i32::MAX,
            i32::MIN,
            i32::MAX - 1,
            16384,
        ];
        match self.below(3) {
            0 => HURT[self.below(HURT.len())],
            1 => self.below(512) as i32,
            _ => self.next() as i32,
        }
    }
}

/// The server-side description of every global's interface, by name.
fn interfaces() -> Vec<&'static Interface> {
    use smithay::reexports::wayland_protocols::ext::foreign_toplevel_list::v1::server::ext_foreign_toplevel_list_v1::ExtForeignToplevelListV1;
    use smithay::reexports::wayland_protocols::ext::image_capture_source::v1::server::{
        ext_foreign_toplevel_image_capture_source_manager_v1::ExtForeignToplevelImageCaptureSourceManagerV1,
        ext_output_image_capture_source_manager_v1::ExtOutputImageCaptureSourceManagerV1,
    };
    use smithay::reexports::wayland_protocols::ext::image_copy_capture::v1::server::ext_image_copy_capture_manager_v1::ExtImageCopyCaptureManagerV1;
    use smithay::reexports::wayland_protocols::wp::cursor_shape::v1::server::wp_cursor_shape_manager_v1::WpCursorShapeManagerV1;
    use smithay::reexports::wayland_protocols::wp::linux_dmabuf::zv1::server::zwp_linux_dmabuf_v1::ZwpLinuxDmabufV1;
    use smithay::reexports::wayland_protocols::wp::linux_drm_syncobj::v1::server::wp_linux_drm_syncobj_manager_v1::WpLinuxDrmSyncobjManagerV1;
    use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation::WpPresentation;
    use smithay::reexports::wayland_protocols::wp::single_pixel_buffer::v1::server::wp_single_pixel_buffer_manager_v1::WpSinglePixelBufferManagerV1;
    use smithay::reexports::wayland_protocols::wp::viewporter::server::wp_viewporter::WpViewporter;
    use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_decoration_manager_v1::ZxdgDecorationManagerV1;
    use smithay::reexports::wayland_protocols::xdg::activation::v1::server::xdg_activation_v1::XdgActivationV1;
    use smithay::reexports::wayland_protocols::wp::relative_pointer::zv1::server::zwp_relative_pointer_manager_v1::ZwpRelativePointerManagerV1;
    use smithay::reexports::wayland_protocols::wp::pointer_constraints::zv1::server::zwp_pointer_constraints_v1::ZwpPointerConstraintsV1;
    use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_wm_base::XdgWmBase;
    use smithay::reexports::wayland_protocols::xdg::xdg_output::zv1::server::zxdg_output_manager_v1::ZxdgOutputManagerV1;
    use smithay::reexports::wayland_protocols_wlr::screencopy::v1::server::zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1;
    use smithay::reexports::wayland_server::protocol::{
        wl_compositor::WlCompositor, wl_data_device_manager::WlDataDeviceManager,
        wl_output::WlOutput, wl_seat::WlSeat, wl_shm::WlShm, wl_subcompositor::WlSubcompositor,
    };
    use smithay::reexports::wayland_protocols::wp::primary_selection::zv1::server::zwp_primary_selection_device_manager_v1::ZwpPrimarySelectionDeviceManagerV1;
    use dmabridge::protocols::buffer_copy::server::dmabridge_buffer_copy_manager_v1::DmabridgeBufferCopyManagerV1;
    use smithay::reexports::wayland_protocols::wp::content_type::v1::server::wp_content_type_manager_v1::WpContentTypeManagerV1;
    use smithay::reexports::wayland_protocols::wp::fractional_scale::v1::server::wp_fractional_scale_manager_v1::WpFractionalScaleManagerV1;
    use smithay::reexports::wayland_protocols::wp::idle_inhibit::zv1::server::zwp_idle_inhibit_manager_v1::ZwpIdleInhibitManagerV1;
    use smithay::reexports::wayland_protocols::wp::text_input::zv3::server::zwp_text_input_manager_v3::ZwpTextInputManagerV3;
    use smithay::reexports::wayland_protocols_misc::zwp_input_method_v2::server::zwp_input_method_manager_v2::ZwpInputMethodManagerV2;
    use smithay::reexports::wayland_server::Resource;
    vec![
        WlCompositor::interface(),
        WlSubcompositor::interface(),
        WlShm::interface(),
        WlOutput::interface(),
        WlSeat::interface(),
        WlDataDeviceManager::interface(),
        ZwpPrimarySelectionDeviceManagerV1::interface(),
        XdgWmBase::interface(),
        ZxdgOutputManagerV1::interface(),
        ZwpLinuxDmabufV1::interface(),
        WpLinuxDrmSyncobjManagerV1::interface(),
        WpPresentation::interface(),
        WpViewporter::interface(),
        WpSinglePixelBufferManagerV1::interface(),
        ZxdgDecorationManagerV1::interface(),
        XdgActivationV1::interface(),
        ZwpRelativePointerManagerV1::interface(),
        ZwpPointerConstraintsV1::interface(),
        ExtForeignToplevelListV1::interface(),
        ExtOutputImageCaptureSourceManagerV1::interface(),
        ExtForeignToplevelImageCaptureSourceManagerV1::interface(),
        ExtImageCopyCaptureManagerV1::interface(),
        ZwlrScreencopyManagerV1::interface(),
        WpCursorShapeManagerV1::interface(),
        DmabridgeBufferCopyManagerV1::interface(),
        WpFractionalScaleManagerV1::interface(),
        WpContentTypeManagerV1::interface(),
        ZwpIdleInhibitManagerV1::interface(),
        ZwpTextInputManagerV3::interface(),
        ZwpInputMethodManagerV2::interface(),
    ]
}

/// One fuzzing client's run: binds every global, then sends random
/// requests. Returns the error it got, as `interface.code`, if any.
fn fuzz_client(w: &mut Wire, rng: &mut Rng) -> Option<String> {
    let known = interfaces();
    let mut objects: Vec<(u32, &'static Interface, u32)> = Vec::new();
    let globals = w.globals.clone();
    for global in &globals {
        let interface = known
            .iter()
            .find(|i| i.name == global.interface)
            .unwrap_or_else(|| panic!("{} is advertised but not fuzzed", global.interface));
        let version = global.version.min(interface.version);
        objects.push((w.bind(&global.interface, version), interface, version));
    }
    let memfd = memfd(65536);
    let mut strings = Vec::new();
    for _ in 0..REQUESTS_PER_CLIENT {
        let (id, interface, version) = objects[rng.below(objects.len())];
        let requests: Vec<(u16, &MessageDesc)> = interface
            .requests
            .iter()
            .enumerate()
            .filter(|(_, r)| r.since <= version && (r.child_interface.is_some() || !has_new_id(r)))
            // Mostly requests whose object arguments exist, so that the
            // client lives long enough to reach deeper states.
            .filter(|(_, r)| satisfiable(r, &objects) || rng.below(16) == 0)
            .map(|(i, r)| (i as u16, r))
            .collect();
        if requests.is_empty() {
            continue;
        }
        let (opcode, request) = requests[rng.below(requests.len())];
        strings.clear();
        for _ in request.signature {
            strings.push("x".repeat(rng.below(3) * rng.below(40)));
        }
        let mut args = Vec::new();
        let mut made = None;
        let mut object_args = 0;
        for (n, kind) in request.signature.iter().enumerate() {
            args.push(match kind {
                ArgumentType::Int => Arg::Int(rng.int()),
                ArgumentType::Uint => Arg::Uint(rng.int() as u32),
                ArgumentType::Fixed => Arg::Fixed(rng.int()),
                ArgumentType::Str(_) if rng.below(8) == 0 => Arg::Str(None),
                ArgumentType::Str(_) => Arg::Str(Some(&strings[n])),
                ArgumentType::Array => Arg::Array(&[7; 16][..rng.below(17)]),
                ArgumentType::Fd => Arg::Fd(memfd.as_fd()),
                ArgumentType::Object(_) => {
                    // Mostly an object of the interface the request wants,
                    // so that requests get past the type check.
                    let wanted = request.arg_interfaces.get(object_args).map(|i| i.name);
                    object_args += 1;
                    let fitting: Vec<u32> = objects
                        .iter()
                        .filter(|(_, i, _)| Some(i.name) == wanted)
                        .map(|(o, _, _)| *o)
                        .collect();
                    Arg::Object(match rng.below(32) {
                        0 => 0,
                        1 => 9999,
                        2 | 3 => objects[rng.below(objects.len())].0,
                        _ if fitting.is_empty() => objects[rng.below(objects.len())].0,
                        _ => fitting[rng.below(fitting.len())],
                    })
                }
                ArgumentType::NewId => {
                    let id = w.new_id();
                    made = request.child_interface.map(|i| (id, i, version));
                    Arg::NewId(id)
                }
            });
        }
        w.send(id, opcode, &args);
        if request.is_destructor {
            objects.retain(|(o, _, _)| *o != id);
        }
        objects.extend(made);
        if rng.below(8) == 0 {
            w.roundtrip();
            if w.is_closed() {
                break;
            }
        }
    }
    let error = w.error()?;
    let interface = match objects.iter().find(|(o, _, _)| *o == error.object) {
        _ if error.object == 1 => "wl_display",
        Some((_, interface, _)) => interface.name,
        None => "a destroyed object",
    };
    Some(format!("{interface}.{}", error.code))
}

/// Whether an object of each interface `request` takes exists.
fn satisfiable(request: &MessageDesc, objects: &[(u32, &'static Interface, u32)]) -> bool {
    request
        .arg_interfaces
        .iter()
        .all(|wanted| objects.iter().any(|(_, i, _)| i.name == wanted.name))
}

/// Whether `request` makes an object of an interface it does not name
/// (`wl_registry.bind`): those the fuzzer cannot follow.
fn has_new_id(request: &MessageDesc) -> bool {
    request
        .signature
        .iter()
        .any(|a| matches!(a, ArgumentType::NewId))
}
