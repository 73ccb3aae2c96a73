//! PROTOCOL.md "Rounds" end to end: waves with 1, 3 and 50 clients, `min_clients`, late joiners,
//! any split of the byte stream, leaving mid-round in every way, `step_wrap` and `T`.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::{hello_bytes, names, run_round, Conductor, Raw};
use lockstep_proto::wire::ConductorMsg;

#[test]
fn one_client_runs_rounds_alone() {
    let conductor = Conductor::start_quiet(&[]);
    let mut a = conductor.member("solo");
    for step in 0..10 {
        assert_eq!(run_round(std::slice::from_mut(&mut a)), step);
    }
    conductor.wait_log("wave: step 9 to 1 client(s)");
    conductor.wait_log("round end: step 8 in");
}

#[test]
fn three_clients_advance_only_when_all_are_done() {
    let conductor = Conductor::start_quiet(&["--min-clients", "3"]);
    let mut clients = conductor.join_all(&names("trio", 3));
    for step in 0..6u32 {
        for c in clients.iter_mut() {
            assert_eq!(c.recv_go(), step);
        }
        // Everyone but one is done; the one holding the round up rotates.
        let last = step as usize % 3;
        for (i, c) in clients.iter_mut().enumerate() {
            if i != last {
                c.send(b"K!");
            }
        }
        // No wave while one participant still works: the answer to a later `?` comes first.
        let early = (last + 1) % 3;
        clients[early].send(b"?");
        clients[early].expect(ConductorMsg::Here);
        clients[last].send(b"K!");
    }
}

#[test]
fn fifty_clients_run_rounds_in_lockstep() {
    let conductor = Conductor::start_quiet(&["--min-clients", "50"]);
    let mut clients = conductor.members(&names("fifty", 50));
    for step in 0..20 {
        assert_eq!(run_round(&mut clients), step);
    }
    conductor.wait_log("wave: step 19 to 50 client(s)");
}

#[test]
fn no_wave_goes_out_before_min_clients_are_ready() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.join("first");
    a.send(b"?");
    a.expect(ConductorMsg::Here);
    conductor.wait_status("phase waiting", |s| s["phase"] == "waiting");
    let mut b = conductor.join("second");
    assert_eq!(a.recv_go(), 0);
    assert_eq!(b.recv_go(), 0);
}

#[test]
fn a_client_joining_mid_round_waits_idle_for_the_next_wave() {
    let conductor = Conductor::start_quiet(&["--status-interval-ms", "20"]);
    let mut a = conductor.join("early");
    assert_eq!(a.recv_go(), 0);
    let mut late = conductor.join("late");
    late.send(b"?");
    late.expect(ConductorMsg::Here);
    let status = conductor.wait_status("the late joiner", |s| {
        s["clients"].as_array().is_some_and(|c| c.len() == 2)
    });
    let state_of = |id: &str| {
        status["clients"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["id"] == id))
            .map(|c| c["state"].clone())
    };
    assert_eq!(state_of("late"), Some("Idle".into()), "{status}");
    assert_eq!(state_of("early"), Some("GoSent".into()), "{status}");
    assert_eq!(status["waiting_on"], serde_json::json!(["early"]));
    a.send(b"K!");
    assert_eq!(a.recv_go(), 1);
    assert_eq!(late.recv_go(), 1);
}

/// Pacing only: it makes the bytes travel in separate segments; the outcome does not depend
/// on it.
fn trickle(c: &mut Raw, bytes: &[u8]) {
    for b in bytes {
        c.send(std::slice::from_ref(b));
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_client_whose_bytes_arrive_one_at_a_time() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut steady = conductor.join("steady");
    let mut slow = conductor.connect();
    slow.expect_conductor_hello();
    trickle(&mut slow, &hello_bytes("trickler"));
    for step in 0..3 {
        assert_eq!(steady.recv_go(), step);
        assert_eq!(slow.recv_go(), step);
        steady.send(b"K!");
        trickle(&mut slow, b"KW.?");
        slow.expect(ConductorMsg::Here);
        trickle(&mut slow, b"!");
    }
    // A refusal of its own, a byte at a time, is read whole.
    let mut leave = vec![b'R'];
    leave.extend_from_slice(&5u32.to_le_bytes());
    leave.extend_from_slice(b"bye!!");
    assert_eq!(steady.recv_go(), 3);
    assert_eq!(slow.recv_go(), 3);
    trickle(&mut slow, &leave);
    slow.expect_closed();
    conductor.wait_log("left: trickler (127.0.0.1:");
    conductor.wait_log("refused: bye!!");
}

#[test]
fn a_client_that_sends_several_messages_in_one_write() {
    let conductor = Conductor::start_quiet(&[]);
    let mut c = conductor.connect();
    c.expect_conductor_hello();
    // Hello and a ping together.
    c.send(&[hello_bytes("batcher").as_slice(), b"?"].concat());
    c.expect(ConductorMsg::Here);
    assert_eq!(c.recv_go(), 0);
    // Everything for a round in one write, and then some.
    c.send(b"K.W?!?");
    c.expect(ConductorMsg::Here);
    c.expect(ConductorMsg::Here);
    assert_eq!(c.recv_go(), 1);
    // `!` straight after the Go counts as K then Done.
    c.send(b"!");
    assert_eq!(c.recv_go(), 2);
    // Done and leave at once.
    c.send(b"K!X");
    c.expect_closed();
    conductor.wait_log("left: batcher (127.0.0.1:");
}

#[derive(Clone, Copy, Debug)]
enum Leave {
    Exit,
    Close,
    Reset,
}

fn leaving_mid_round(how: Leave) {
    let conductor = Conductor::start_quiet(&["--min-clients", "3"]);
    let mut a = conductor.join("stays-a");
    let mut b = conductor.join("stays-b");
    let mut leaver = conductor.join("leaver");
    for c in [&mut a, &mut b, &mut leaver] {
        assert_eq!(c.recv_go(), 0);
    }
    a.send(b"K");
    b.send(b"K!");
    leaver.send(b"K");
    // The leaver is Working when it goes.
    leaver.send(b"?");
    leaver.expect(ConductorMsg::Here);
    match how {
        Leave::Exit => {
            leaver.send(b"X");
            leaver.expect_closed();
        }
        Leave::Close => drop(leaver),
        Leave::Reset => leaver.reset(),
    }
    conductor.wait_log("left: leaver (127.0.0.1:");
    a.send(b"!");
    // The round ends without the leaver; with two ready the next wave needs a third.
    conductor.wait_log("round end: step 0");
    let mut c = conductor.join("newcomer");
    for c in [&mut a, &mut b, &mut c] {
        assert_eq!(c.recv_go(), 1, "{how:?}");
    }
}

#[test]
fn leaving_mid_round_by_exit_releases_the_round() {
    leaving_mid_round(Leave::Exit);
}

#[test]
fn leaving_mid_round_by_close_releases_the_round() {
    leaving_mid_round(Leave::Close);
}

#[test]
fn leaving_mid_round_by_reset_releases_the_round() {
    leaving_mid_round(Leave::Reset);
}

#[test]
fn when_every_participant_leaves_the_round_ends_at_once() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.join("gone-a");
    let mut b = conductor.join("gone-b");
    assert_eq!(a.recv_go(), 0);
    assert_eq!(b.recv_go(), 0);
    b.send(b"K");
    drop(a);
    b.reset();
    conductor.wait_log_count("left: gone-", 2);
    conductor.wait_log("round end: step 0 in");
    let mut fresh = conductor.members(&names("fresh", 2));
    assert_eq!(run_round(&mut fresh), 1);
}

#[test]
fn steps_return_to_zero_after_step_wrap_minus_one() {
    let conductor = Conductor::start_quiet(&["--step-wrap", "3"]);
    let mut a = conductor.member("wrapper");
    let steps: Vec<u32> = (0..7)
        .map(|_| run_round(std::slice::from_mut(&mut a)))
        .collect();
    assert_eq!(steps, [0, 1, 2, 0, 1, 2, 0]);
    // The answer to the seventh Go let the eighth wave out.
    assert_eq!(a.recv_go(), 1);
    let status = conductor.wait_status("eight waves", |s| s["waves_sent"] == 8);
    assert_eq!(status["step"], 1);

    let single = Conductor::start_quiet(&["--step-wrap", "1"]);
    let mut b = single.member("always-0");
    let steps: Vec<u32> = (0..3)
        .map(|_| run_round(std::slice::from_mut(&mut b)))
        .collect();
    assert_eq!(steps, [0, 0, 0]);
}

#[test]
fn a_slow_round_broadcasts_t_and_logs_who_holds_it_up() {
    let conductor = Conductor::start_quiet(&["--slow-round-ms", "150", "--min-clients", "2"]);
    let mut quick = conductor.join("quick");
    let mut slow = conductor.join("slowpoke");
    assert_eq!(quick.recv_go(), 0);
    assert_eq!(slow.recv_go(), 0);
    quick.send(b"K!");
    slow.send(b"K");
    // A client that joins mid-round is past its hello: it hears T as well.
    let mut idle = conductor.join("bystander");
    for c in [&mut quick, &mut slow, &mut idle] {
        c.expect(ConductorMsg::Slow);
        c.expect(ConductorMsg::Slow);
    }
    conductor.wait_log_count("taking longer than expected; waiting on: slowpoke", 2);
    let lines = conductor.log_lines("taking longer than expected");
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        assert!(line.ends_with("waiting on: slowpoke"), "{line}");
    }
    slow.send(b"!");
    let is_t = |m: &ConductorMsg| *m == ConductorMsg::Slow;
    for c in [&mut quick, &mut slow, &mut idle] {
        assert_eq!(c.recv_skipping(is_t), ConductorMsg::Go(1));
    }
}
