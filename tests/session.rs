//! PROTOCOL.md "A session" and "Connection states" end to end: the hello exchange, `?` in every
//! state, liveness-only messages, and every way a client leaves: `X`, `R`, close, reset,
//! half-close.

mod common;

use common::{hello_bytes, Conductor, Raw};
use lockstep_proto::wire::{ConductorMsg, ID_LEN};

#[test]
fn the_conductor_says_hello_at_once_and_the_client_need_not_wait() {
    let conductor = Conductor::start_quiet(&["--server-id", "boss"]);
    // The conductor's hello comes before the client has sent anything.
    let mut first = conductor.connect();
    match first.recv() {
        ConductorMsg::Hello(h) => {
            assert_eq!(h.version, b'1');
            assert_eq!(&h.id, b"boss        ");
        }
        other => panic!("expected the conductor's hello, got {other:?}"),
    }
    first.send(&hello_bytes("first"));
    assert_eq!(first.recv_go(), 0);

    // A client may send its hello before reading anything.
    let mut eager = conductor.connect();
    eager.send(&hello_bytes("eager"));
    eager.expect_conductor_hello();
    // Its hello has been taken once its `?` is answered: it joined during round 0.
    eager.send(b"?");
    eager.expect(ConductorMsg::Here);
    first.send(b"K!");
    assert_eq!(first.recv_go(), 1);
    assert_eq!(eager.recv_go(), 1);
    conductor.wait_log("joined: eager from 127.0.0.1:");
}

#[test]
fn a_ping_is_answered_in_every_state_after_the_hello() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.join("a");
    // Idle (one ready client is fewer than min_clients). `.` and `W` get no answer: the only
    // reply to `.W?` is the `.` for the `?`.
    a.send(b".W?");
    a.expect(ConductorMsg::Here);
    let mut b = conductor.join("b");
    assert_eq!(a.recv_go(), 0);
    assert_eq!(b.recv_go(), 0);
    // GoSent
    a.send(b"?");
    a.expect(ConductorMsg::Here);
    // Working
    a.send(b"K.W?");
    a.expect(ConductorMsg::Here);
    // Done (b still works, so no wave yet)
    a.send(b"!?");
    a.expect(ConductorMsg::Here);
    b.send(b"K!");
    assert_eq!(a.recv_go(), 1);
    assert_eq!(b.recv_go(), 1);
}

/// Joins `name`, lets it leave mid-round with `leave`, checks the log, and checks that the id
/// is free again at once and that the round stopped waiting for it. Returns the conductor.
fn leave_and_rejoin(name: &str, leave: impl FnOnce(Raw)) -> Conductor {
    let conductor = Conductor::start_quiet(&[]);
    let mut a = conductor.join(name);
    assert_eq!(a.recv_go(), 0);
    leave(a);
    conductor.wait_log(&format!("left: {name} (127.0.0.1:"));
    let mut again = conductor.join(name);
    assert_eq!(again.recv_go(), 1);
    conductor
}

#[test]
fn exit_removes_the_client_and_frees_its_id_at_once() {
    leave_and_rejoin("alice", |mut a| {
        a.send(b"X");
        // Nothing is sent back; the conductor closes the connection.
        a.expect_closed();
    });
}

#[test]
fn a_refusal_from_the_client_removes_it_and_its_reason_is_logged() {
    let conductor = leave_and_rejoin("quitter", |mut a| {
        let reason = b"disk full";
        let mut msg = vec![b'R'];
        msg.extend_from_slice(&(reason.len() as u32).to_le_bytes());
        msg.extend_from_slice(reason);
        a.send(&msg);
        a.expect_closed();
    });
    conductor.wait_log("refused: disk full");
}

#[test]
fn a_closed_connection_removes_the_client() {
    let conductor = leave_and_rejoin("closer", drop);
    conductor.wait_log("(connection closed)");
}

#[test]
fn a_reset_connection_removes_the_client() {
    leave_and_rejoin("resetter", Raw::reset);
}

/// A client that shuts down its sending side has reached end of stream: it is removed,
/// and the conductor closes the connection without sending anything more (PROTOCOL.md).
#[test]
fn a_half_closed_client_is_removed_and_its_connection_closed() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.join("half");
    a.send(b"?");
    a.expect(ConductorMsg::Here);
    a.shutdown_write();
    a.expect_closed();
    conductor.wait_log("left: half (127.0.0.1:");
    // The id is free, and nobody is left waiting for a wave with it.
    let mut b = conductor.join("half");
    let mut c = conductor.join("other");
    assert_eq!(b.recv_go(), 0);
    assert_eq!(c.recv_go(), 0);
}

#[test]
fn leaving_before_the_hello_is_quiet_and_harmless() {
    let conductor = Conductor::start_quiet(&[]);
    let mut x = conductor.connect();
    x.expect_conductor_hello();
    x.send(b"X");
    x.expect_closed();
    let mut closer = conductor.connect();
    closer.expect_conductor_hello();
    drop(closer);
    let mut a = conductor.join("after");
    assert_eq!(a.recv_go(), 0);
    // Log lines come out in order: once the wave's line is there, any leave would be too.
    conductor.wait_log("wave: step 0");
    assert!(
        conductor.log_lines("left:").is_empty(),
        "{}",
        conductor.log()
    );
}

#[test]
fn ids_are_padded_on_the_wire_and_trimmed_for_display() {
    let conductor = Conductor::start_quiet(&[]);
    let mut c = conductor.connect();
    c.expect_conductor_hello();
    let mut raw = b"A1".to_vec();
    raw.extend_from_slice(&[b' '; ID_LEN]);
    raw[2..8].copy_from_slice(b"padded");
    c.send(&raw);
    assert_eq!(c.recv_go(), 0);
    let status = conductor.wait_status("the client", |s| s["clients"][0]["id"] == "padded");
    assert_eq!(status["clients"].as_array().map(Vec::len), Some(1));
    drop(Raw::join(conductor.addr, "twelve-chars"));
    conductor.wait_log("joined: twelve-chars from");
}
