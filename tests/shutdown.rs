//! PROTOCOL.md "Ending" and "Exit codes" end to end: the planned end with its `S`
//! countdown, SIGTERM, SIGINT and a second SIGINT, a fatal error of the listening socket, and
//! an address that cannot be bound.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;

use common::{hello_bytes, names, run_round, run_to_exit, Conductor, Launch, Member, Raw, TempDir};
use lockstep_proto::participant::Event::{self, *};
use lockstep_proto::wire::ConductorMsg;

/// Everything a raw client receives until the conductor closes the connection.
fn rest_of(c: &mut Raw) -> Vec<ConductorMsg> {
    std::iter::from_fn(|| c.try_recv_within(common::DEADLINE)).collect()
}

/// Answers every Go with `K!` until the conductor closes; returns every event.
fn play_to_the_end(m: &mut Member) -> Vec<Event> {
    play_all_to_the_end(std::slice::from_mut(m)).remove(0)
}

/// Like [`play_to_the_end`] for members taking part in the same rounds: each answers its Go
/// in turn.
fn play_all_to_the_end(members: &mut [Member]) -> Vec<Vec<Event>> {
    let mut seen = vec![Vec::new(); members.len()];
    let mut open = vec![true; members.len()];
    while open.iter().any(|o| *o) {
        for (i, m) in members.iter_mut().enumerate() {
            while open[i] {
                let Some(event) = m.try_next_event_within(common::DEADLINE) else {
                    open[i] = false;
                    break;
                };
                seen[i].push(event.clone());
                if let Go(_) = event {
                    m.finish();
                    break;
                }
            }
        }
    }
    seen
}

#[test]
fn a_planned_end_counts_down_then_ceases() {
    let mut conductor = Conductor::start_quiet(&["--rounds", "2", "--shutdown-countdown", "5"]);
    let mut a = conductor.member("planner");
    // Every wave left (including the one about to go) is within the countdown.
    assert_eq!(
        play_to_the_end(&mut a),
        [ShuttingDown(2), Go(0), ShuttingDown(1), Go(1), Cease, Exit]
    );
    conductor.expect_exit(0);
    let status = conductor.status("status.json").expect("final status");
    assert_eq!(status["phase"], "stopped");
    assert_eq!(status["waves_sent"], 2);

    let mut silent = Conductor::start_quiet(&["--rounds", "3", "--shutdown-countdown", "0"]);
    let mut b = silent.member("no-countdown");
    assert_eq!(play_to_the_end(&mut b), [Go(0), Go(1), Go(2), Cease, Exit]);
    silent.expect_exit(0);
}

#[test]
fn sigterm_counts_down_from_the_next_wave_then_ceases() {
    let mut conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut clients = conductor.members(&names("term", 2));
    assert_eq!(run_round(&mut clients), 0);
    assert_eq!(clients[0].recv_go(), 1);
    assert_eq!(clients[1].recv_go(), 1);
    clients[0].finish();
    // Round 1 is running (waiting on term-1) when the signal comes.
    conductor.signal(libc::SIGTERM);
    conductor.wait_log("graceful stop requested");
    conductor.wait_status("phase stopping", |s| s["phase"] == "stopping");
    clients[1].finish();
    for seen in play_all_to_the_end(&mut clients) {
        assert_eq!(
            seen,
            [
                ShuttingDown(3),
                Go(2),
                ShuttingDown(2),
                Go(3),
                ShuttingDown(1),
                Go(4),
                Cease,
                Exit
            ]
        );
    }
    conductor.expect_exit(0);
    assert_eq!(conductor.status("status.json").unwrap()["phase"], "stopped");
}

#[test]
fn sighup_is_a_graceful_stop_like_sigterm() {
    let mut conductor = Conductor::start_quiet(&["--shutdown-countdown", "2"]);
    let mut a = conductor.member("hung-up");
    assert_eq!(a.recv_go(), 0);
    // A closing terminal or SSH session while round 0 runs.
    conductor.signal(libc::SIGHUP);
    conductor.wait_log("SIGHUP: stopping gracefully");
    conductor.wait_status("phase stopping", |s| s["phase"] == "stopping");
    a.finish();
    assert_eq!(
        play_to_the_end(&mut a),
        [ShuttingDown(2), Go(1), ShuttingDown(1), Go(2), Cease, Exit]
    );
    conductor.expect_exit(0);
    assert_eq!(conductor.status("status.json").unwrap()["phase"], "stopped");
    assert!(conductor.log().contains("exiting with code 0"));
}

#[test]
fn sigterm_with_countdown_zero_ends_after_the_running_round() {
    let mut conductor = Conductor::start_quiet(&["--shutdown-countdown", "0"]);
    let mut a = conductor.member("last-round");
    assert_eq!(a.recv_go(), 0);
    conductor.signal(libc::SIGTERM);
    conductor.wait_log("graceful stop requested");
    a.finish();
    assert_eq!(a.rest(), [Cease, Exit]);
    conductor.expect_exit(0);
}

#[test]
fn sigterm_ends_at_once_when_no_round_can_run() {
    let mut conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.member("alone");
    a.ping();
    a.expect(Here);
    conductor.signal(libc::SIGTERM);
    assert_eq!(a.rest(), [Cease, Exit]);
    conductor.expect_exit(0);

    let mut empty = Conductor::start_quiet(&[]);
    empty.signal(libc::SIGTERM);
    empty.expect_exit(0);
    assert_eq!(empty.status("status.json").unwrap()["phase"], "stopped");
}

#[test]
fn sigint_ceases_and_exits_0_whatever_the_clients_are_doing() {
    let mut conductor = Conductor::start_quiet(&["--min-clients", "2", "--hello-timeout-ms", "0"]);
    // Connected, no hello yet.
    let mut pending = conductor.connect();
    pending.expect_conductor_hello();
    // In a round, working.
    let mut clients = conductor.members(&names("busy", 2));
    for c in clients.iter_mut() {
        assert_eq!(c.recv_go(), 0);
        c.ack();
    }
    // Joined mid-round, idle.
    let mut idle = conductor.member("idle");
    idle.ping();
    idle.expect(Here);
    // Stopped reading while asking for answers it never takes.
    let mut stuck = Raw::connect_small_window(conductor.addr);
    stuck.send(&hello_bytes("stuck"));
    let _ = stuck.stream.write_all(&vec![b'?'; 256 * 1024]);

    conductor.signal(libc::SIGINT);
    assert_eq!(
        rest_of(&mut pending),
        [ConductorMsg::Cease, ConductorMsg::Exit]
    );
    clients.push(idle);
    for c in clients.iter_mut() {
        assert_eq!(c.rest(), [Cease, Exit]);
    }
    let log = conductor.expect_exit(0);
    assert!(log.contains("SIGINT"), "{log}");
    assert_eq!(conductor.status("status.json").unwrap()["phase"], "stopped");
}

#[test]
fn a_second_sigint_exits_at_once_with_130_even_if_the_conductor_is_stuck() {
    let mut conductor = Conductor::launch(
        &common::quiet(&["--log-level", "trace"]),
        Launch {
            stall_log: true,
            ..Launch::default()
        },
    );
    // Per-message trace lines fill the unread log pipe: the conductor blocks in logging.
    let mut c = conductor.join("chatty");
    c.send(&[b'?'; 5000]);
    common::wait_for(
        "the conductor to block on its log",
        common::DEADLINE,
        || conductor.blocked_writing_log().then_some(()),
    );
    conductor.signal(libc::SIGINT);
    // Two signals of a kind sent back to back may be merged by the kernel: let the first be
    // delivered (its handler runs although the loop stays stuck) before sending the second.
    common::wait_for("the first SIGINT to be delivered", common::DEADLINE, || {
        (!conductor.signal_pending(libc::SIGINT)).then_some(())
    });
    conductor.signal(libc::SIGINT);
    let status = conductor.wait_exit(common::DEADLINE);
    assert_eq!(status.code(), Some(130));
    // No final status on this way out.
    let phase = conductor.status("status.json").map(|s| s["phase"].clone());
    assert_ne!(phase, Some("stopped".into()));
}

#[test]
fn a_failing_listening_socket_is_fatal_error_then_exit_1() {
    let mut conductor = Conductor::start_quiet(&["--hello-timeout-ms", "0"]);
    let mut pending = conductor.connect();
    pending.expect_conductor_hello();
    let mut a = conductor.member("witness");
    assert_eq!(a.recv_go(), 0);
    // Shutting the listening socket down makes the next accept fail for good.
    let listener = conductor.steal_listener();
    listener
        .shutdown(std::net::Shutdown::Read)
        .expect("shutdown the listener");
    assert_eq!(
        rest_of(&mut pending),
        [ConductorMsg::Error, ConductorMsg::Exit]
    );
    assert_eq!(a.rest(), [ErrorShutdown, Exit]);
    let log = conductor.expect_exit(1);
    assert!(
        log.contains("conductor: error: the listening socket failed"),
        "{log}"
    );
    assert_eq!(conductor.status("status.json").unwrap()["phase"], "stopped");
}

#[test]
fn an_address_that_cannot_be_bound_exits_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("unbindable");
    let (code, out, err) = run_to_exit(&dir.0, &["--port", &port]);
    assert_eq!(code, Some(1), "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains(&format!("cannot bind 127.0.0.1:{port}")),
        "{err}"
    );
    // An address this machine does not have (TEST-NET-1).
    let (code, _, err) = run_to_exit(&dir.0, &["--host", "192.0.2.1", "--port", "0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot bind 192.0.2.1:0"), "{err}");
    // Nothing was started, so no status was written.
    assert!(!dir.path("status.json").exists());
}
