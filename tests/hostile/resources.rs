//! Clients that take too much: oversized windows, truncated pools, stray
//! file descriptors, memory held, the process's file descriptors used up.

use super::*;

/// Windows of any size the protocol allows are drawn, and cost the
/// others no frame: buffers larger than the device's storage-buffer range
/// go through in bands.
#[test]
fn oversized_windows_do_not_stall_the_others() {
    // Each window stays until a frame of it was drawn: its first upload
    // happens while the observer is watched.
    let until_drawn = |w: &mut Wire, surface: u32, name: &str| {
        let callback = w.new_id();
        w.send(surface, 3, &[Arg::NewId(callback)]);
        w.send(surface, 6, &[]);
        assert!(wait_for(w, callback, 0).is_some(), "{name}: never drawn");
    };
    let mut stage = Stage::start();
    let name = "a 3840x2160 wl_shm window";
    stage.run(name, |w| {
        let (surface, ..) = mapped(w, 3840, 2160);
        until_drawn(w, surface, name);
        None
    });
    // The first buffer of a large window goes up a band a refresh before
    // the window shows it, from a pool the device reads in place (sealed
    // against shrinking) or through staging memory.
    for (width, height) in [(6000, 6000), (7680, 4320)] {
        let name = format!("a {width}x{height} wl_shm window, sealed pool");
        stage.run(&name, |w| {
            let fd = sealed_memfd((width * height * 4) as u64);
            let (surface, ..) = mapped_from(w, fd.as_fd(), width, height);
            until_drawn(w, surface, &name);
            None
        });
    }
    for (width, height) in [(6000, 6000), (7680, 4320)] {
        let name = format!("a {width}x{height} wl_shm window");
        stage.run(&name, |w| {
            let (surface, ..) = mapped(w, width, height);
            until_drawn(w, surface, &name);
            None
        });
    }
    // Sizes changed faster than the first is uploaded: the later buffers
    // are uploaded ahead in turn, each once the one before was shown.
    let name = "a 6000x6000 window, then 7680x4320 and 6000x6000 before it shows";
    stage.run(name, |w| {
        let (surface, ..) = mapped(w, 6000, 6000);
        for (width, height) in [(7680, 4320), (6000, 6000)] {
            let buffer = buffer_in(w, memfd((width * height * 4) as u64).as_fd(), width, height);
            w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
            w.send(surface, 6, &[]);
        }
        until_drawn(w, surface, name);
        None
    });
    stage.finish();
}

/// `wl_shm.error.invalid_fd`.
const SHM_INVALID_FD: u32 = 2;

/// A client truncates the file of the pool its window shows, then commits
/// the window again. An unsealed pool is read by the CPU under smithay's
/// SIGBUS guard, which turns the fault into `invalid_fd` on the buffer for
/// that client alone. A pool sealed against shrinking, which the device
/// reads in place, cannot be truncated (the kernel refuses), and the
/// window keeps being drawn. The compositor survives both, and nobody else
/// notices.
#[test]
fn a_client_truncating_its_pool_harms_no_one() {
    let mut stage = Stage::start();
    for sealed in [false, true] {
        let name = if sealed {
            "truncating a sealed pool under a window"
        } else {
            "truncating an unsealed pool under a window"
        };
        stage.run(name, |w| {
            let (surface, xdg, _) = toplevel(w);
            w.send(surface, 6, &[]);
            ack(w, xdg);
            let (width, height) = (64, 64);
            let size = width * height * 4;
            let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
            let fd = memfd_create("hostile", flags).unwrap();
            rustix::fs::ftruncate(&fd, size as u64).unwrap();
            if sealed {
                rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK).unwrap();
            }
            let (_, pool) = pool_in(w, fd.as_fd(), size);
            let buffer = w.new_id();
            let format_argb = 0;
            let args = [
                Arg::NewId(buffer),
                Arg::Int(0),
                Arg::Int(width),
                Arg::Int(height),
                Arg::Int(width * 4),
                Arg::Uint(format_argb),
            ];
            w.send(pool, 0, &args);
            // Attach, damage, a frame callback, commit: until it was drawn.
            let commit = |w: &mut Wire| {
                w.send(surface, 1, &[Arg::Object(buffer), Arg::Int(0), Arg::Int(0)]);
                let whole = [Arg::Int(0), Arg::Int(0), Arg::Int(width), Arg::Int(height)];
                w.send(surface, 9, &whole);
                let callback = w.new_id();
                w.send(surface, 3, &[Arg::NewId(callback)]);
                w.send(surface, 6, &[]);
                callback
            };
            let drawn = commit(w);
            assert!(wait_for(w, drawn, 0).is_some(), "{name}: the first frame");
            let truncated = rustix::fs::ftruncate(&fd, 0);
            assert_eq!(truncated.is_err(), sealed, "{name}: {truncated:?}");
            let again = commit(w);
            let deadline = Instant::now() + Duration::from_secs(10);
            while w.error().is_none() && w.events_of(again).next().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{name}: neither drawn nor refused"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            (!sealed).then_some((buffer, SHM_INVALID_FD))
        });
    }
    stage.finish();
}

/// The process's open file descriptors.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// Asserts that the compositor `pid` holds about the `before` file
/// descriptors it held before a client that is now gone.
fn assert_fds_back(pid: u32, before: usize) {
    std::thread::sleep(Duration::from_millis(200));
    let after = open_fds(pid);
    assert!(
        after <= before + 4,
        "the compositor holds {after} fds, {before} before the client"
    );
}

/// The process's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// A client that attaches file descriptors to requests that take none is
/// disconnected before it can exhaust the compositor's, and what it held
/// is given back.
#[test]
fn a_flood_of_stray_fds_disconnects_only_the_flooder() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    let fds_before = open_fds(pid);
    let rss_before = rss_kib(pid);
    stage.run("wl_display.sync with 28 fds, over and over", |w| {
        let fds: Vec<OwnedFd> = (0..28).map(|_| memfd(4096)).collect();
        let borrowed: Vec<_> = fds.iter().map(AsFd::as_fd).collect();
        for _ in 0..200 {
            let callback = w.new_id();
            let (bytes, _) = wire::encode(1, 0, &[Arg::NewId(callback)]);
            w.send_raw(&bytes, &borrowed);
        }
        Some((1, IMPLEMENTATION))
    });
    stage.finish();
    // The flooder is gone: its descriptors and memory with it.
    assert_fds_back(pid, fds_before);
    let rss_after = rss_kib(pid);
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "the compositor's RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// A client that holds more pools, surfaces or captures than any client
/// needs is disconnected with `no_memory`, and what it held is given back.
#[test]
fn clients_holding_too_much_are_disconnected() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    let fds_before = open_fds(pid);
    stage.run("wl_shm.create_pool, 1000 times", |w| {
        let shm = w.bind("wl_shm", 1);
        let fd = memfd(4096);
        for _ in 0..1000 {
            let pool = w.new_id();
            let args = [Arg::NewId(pool), Arg::Fd(fd.as_fd()), Arg::Int(4096)];
            w.send(shm, 0, &args);
        }
        Some((1, NO_MEMORY))
    });
    assert_fds_back(pid, fds_before);
    // Pools are mapped but never touched here, so they cost address space
    // only; the cap is on what they could make the renderer copy.
    stage.run("wl_shm pools of 1.5 GiB and 768 MiB", |w| {
        pool(w, 3 << 29);
        pool(w, 3 << 28);
        Some((1, NO_MEMORY))
    });
    stage.run("wl_shm_pool.resize past 2 GiB in all", |w| {
        pool(w, 3 << 29);
        let (_, small) = pool(w, 1 << 28);
        w.send(small, 2, &[Arg::Int(3 << 28)]);
        Some((1, NO_MEMORY))
    });
    stage.run(
        "wl_shm pools of 2 GiB in all, made and destroyed twice",
        |w| {
            for _ in 0..2 {
                let (_, big) = pool(w, 3 << 29);
                let (_, small) = pool(w, 1 << 28);
                w.send(small, 2, &[Arg::Int(1 << 29)]);
                w.send(big, 1, &[]);
                w.send(small, 1, &[]);
            }
            None
        },
    );
    assert_fds_back(pid, fds_before);
    stage.run("100000 wl_display.sync in a row", |w| {
        // Legal one by one; the flood must not hold the loop.
        for _ in 0..100_000 {
            let id = w.new_id();
            w.send(1, 0, &[Arg::NewId(id)]);
        }
        None
    });
    stage.run("200000 wl_surface.set_buffer_scale in one write", |w| {
        // Requests without replies, written faster than any server
        // dispatches them: the loop must still give the others their turn.
        let compositor = w.bind("wl_compositor", 6);
        let surface = w.new_id();
        w.send(compositor, 0, &[Arg::NewId(surface)]);
        let (one, _) = wire::encode(surface, 8, &[Arg::Int(1)]);
        w.send_raw(&one.repeat(200_000), &[]);
        None
    });
    stage.run("wl_compositor.create_surface, 1100 times", |w| {
        let compositor = w.bind("wl_compositor", 6);
        for _ in 0..1100 {
            let surface = w.new_id();
            w.send(compositor, 0, &[Arg::NewId(surface)]);
        }
        Some((1, NO_MEMORY))
    });
    stage.run(
        "zwlr_screencopy_manager_v1.capture_output, 100 times",
        |w| {
            let output = w.bind("wl_output", 4);
            let screencopy = w.bind("zwlr_screencopy_manager_v1", 3);
            for _ in 0..100 {
                let frame = w.new_id();
                let args = [Arg::NewId(frame), Arg::Int(0), Arg::Object(output)];
                w.send(screencopy, 0, &args);
            }
            Some((1, NO_MEMORY))
        },
    );
    stage.run(
        "as many surfaces as a client may hold, made and destroyed twice",
        |w| {
            // What is destroyed no longer counts.
            let compositor = w.bind("wl_compositor", 6);
            for _ in 0..2 {
                let surfaces: Vec<u32> = (0..1024).map(|_| w.new_id()).collect();
                for &surface in &surfaces {
                    w.send(compositor, 0, &[Arg::NewId(surface)]);
                }
                for &surface in &surfaces {
                    w.send(surface, 0, &[]);
                }
            }
            None
        },
    );
    stage.finish();
}

/// With no file descriptor left to accept a client with, the compositor
/// neither spins nor stops: it turns connections away while it must, and
/// accepts them again once descriptors are free.
#[test]
fn running_out_of_fds_turns_clients_away_without_spinning() {
    let mut stage = Stage::start();
    let pid = stage.session.pid();
    // Lower the compositor's limit to just above what it holds now and
    // keeps in reserve, so that a few clients use up what is left.
    let open = open_fds(pid) as u64;
    let limit = rustix::process::Rlimit {
        current: Some(open + 64 + 8),
        maximum: Some(open + 64 + 8),
    };
    rustix::process::prlimit(
        Some(rustix::process::Pid::from_raw(pid as i32).unwrap()),
        rustix::process::Resource::Nofile,
        limit,
    )
    .expect("prlimit on the compositor");
    let mut held: Vec<Wire> = Vec::new();
    for _ in 0..16 {
        let mut wire = stage.connect();
        wire.roundtrip();
        held.push(wire);
    }
    let turned_away = held.iter().filter(|w| w.is_closed()).count();
    assert!(
        turned_away > 0,
        "every client was accepted: the limit did not bite"
    );
    // While turning clients away, the compositor does not spin: it uses
    // well under a core.
    let cpu = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu(pid);
    let start = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu(pid) - before;
    let ticks_per_second = 100; // USER_HZ on Linux
    let share = ticks as f64 / ticks_per_second as f64 / start.elapsed().as_secs_f64();
    assert!(
        share < 0.6,
        "the compositor used {share:.2} of a core while out of fds"
    );
    stage.assert_observer_drew("out of fds");
    // Clients leave: new ones are accepted again.
    held.clear();
    std::thread::sleep(Duration::from_millis(300));
    let mut newcomer = stage.connect();
    newcomer.roundtrip();
    assert!(
        !newcomer.is_closed(),
        "no client accepted after fds were freed"
    );
    assert!(stage.session.is_running());
}
