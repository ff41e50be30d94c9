//! wlcs, the Wayland conformance suite (Debian's `wlcs` package), run on
//! this crate's module against the compositor; and the module's list of
//! extensions, which decides what wlcs runs, checked against what the
//! compositor advertises. `docs/wlcs.md` says what fails and why.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;

use dmabridge::compositor::OutputConfig;
use dmabridge::compositor::embedded::Server;
use dmabridge_wlcs::EXTENSIONS;
use smithay::utils::Transform;
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::wl_registry::{self, WlRegistry};
use wayland_client::{Connection, Dispatch, QueueHandle};

/// Where Debian's package puts the wlcs binary.
const WLCS: &str = "/usr/lib/x86_64-linux-gnu/wlcs/wlcs";

/// The tests that pass, as gtest filter patterns, each with the number of
/// tests it names in wlcs 1.5: a whole group where every test of it
/// passes, else the tests one by one.
const PASSING: &[(&str, usize)] = &[
    (
        "SelfTest.when_creating_second_client_nothing_bad_happens",
        1,
    ),
    ("SelfTest.given_second_client_when_roundtripping_*", 2),
    (
        "SelfTest.does_not_acquire_version_newer_than_wlcs_supports",
        1,
    ),
    ("WlOutputTest.*", 2),
    ("XdgOutputV1Test.*", 1),
    ("XdgSurfaceStableTest.supports_xdg_shell_stable_protocol", 1),
    (
        "XdgSurfaceStableTest.creating_xdg_surface_from_wl_surface_with_attached_buffer_is_an_error",
        1,
    ),
    (
        "XdgSurfaceStableTest.creating_xdg_surface_from_wl_surface_with_committed_buffer_is_an_error",
        1,
    ),
    (
        "XdgToplevelStableTest.pointer_respects_window_geom_offset",
        1,
    ),
    ("XdgToplevelStableTest.touch_respects_window_geom_offset", 1),
    ("XdgToplevelStableTest.parent_can_be_set", 1),
    ("XdgToplevelStableTest.null_parent_can_be_set", 1),
    ("XdgToplevelStableConfigurationTest.window_can_*", 4),
    (
        "XdgToplevelStableConfigurationTest.activated_state_follows_pointer",
        1,
    ),
];

/// The module cargo built with this test: beside the test binary, in
/// `deps/`.
fn module() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.parent()
        .expect("the test binary is in a directory")
        .join("libdmabridge_wlcs.so")
}

/// The number gtest gives on the line that starts with `tag`.
fn count(stdout: &str, tag: &str) -> Option<usize> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(tag))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[test]
fn wlcs_passes_every_test_the_passing_list_names_and_skips_none() {
    let module = module();
    assert!(
        module.exists(),
        "no wlcs module at {}: cargo builds it with this test",
        module.display()
    );
    assert!(
        std::path::Path::new(WLCS).exists(),
        "no {WLCS}: install Debian's wlcs package (tools/setup does)"
    );
    let filter = format!(
        "--gtest_filter={}",
        PASSING
            .iter()
            .map(|(pattern, _)| *pattern)
            .collect::<Vec<_>>()
            .join(":")
    );
    let expected: usize = PASSING.iter().map(|(_, n)| n).sum();

    let listed = Command::new(WLCS)
        .arg(&module)
        .arg("--gtest_list_tests")
        .arg(&filter)
        .output()
        .expect("running wlcs --gtest_list_tests");
    assert!(listed.status.success(), "wlcs --gtest_list_tests failed");
    let listed = String::from_utf8_lossy(&listed.stdout);
    let names = listed.lines().filter(|l| l.starts_with("  ")).count();
    assert_eq!(
        names, expected,
        "the filter names {names} tests, the list expects {expected}:\n{listed}"
    );

    let run = Command::new(WLCS)
        .arg(&module)
        .arg(&filter)
        .output()
        .expect("running wlcs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "wlcs failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert_eq!(
        count(&stdout, "[  PASSED  ]"),
        Some(expected),
        "not every test passed:\n{stdout}"
    );
    assert_eq!(
        count(&stdout, "[  SKIPPED ]"),
        None,
        "wlcs skipped tests:\n{stdout}"
    );
}

/// A client that only reads the registry.
struct Registry;

impl Dispatch<WlRegistry, GlobalListContents> for Registry {
    fn event(
        _: &mut Self,
        _: &WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

#[test]
fn the_module_lists_every_global_the_compositor_advertises_at_its_version() {
    let server = Server::start(OutputConfig {
        size: (640, 480),
        refresh_hz: 60.0,
        scale: 1.0,
        transform: Transform::Normal,
        dump_frames: None,
    })
    .expect("starting the compositor");
    let (ours, theirs) = UnixStream::pair().expect("a socket pair");
    server
        .remote()
        .insert_client(theirs)
        .expect("inserting the client");
    let connection = Connection::from_socket(ours).expect("connecting");
    let (globals, _queue) =
        registry_queue_init::<Registry>(&connection).expect("reading the registry");
    let mut advertised: Vec<(String, u32)> = globals
        .contents()
        .clone_list()
        .into_iter()
        // Only where a DRM device has timeline syncobjs.
        .filter(|global| global.interface != "wp_linux_drm_syncobj_manager_v1")
        .map(|global| {
            // Version 5, with feedback, where there is a DRM render node.
            let version = if global.interface == "zwp_linux_dmabuf_v1" {
                assert!([3, 5].contains(&global.version), "{global:?}");
                3
            } else {
                global.version
            };
            (global.interface, version)
        })
        .collect();
    let mut listed: Vec<(String, u32)> = EXTENSIONS
        .iter()
        .map(|(name, version)| (name.to_string_lossy().into_owned(), *version))
        .collect();
    advertised.sort();
    listed.sort();
    assert_eq!(advertised, listed);
    drop(connection);
    server.stop().expect("stopping the compositor");
}
