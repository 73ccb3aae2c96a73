//! PROTOCOL.md "A session" and "Connection states": every refusal the conductor sends, with its
//! reason, followed by the close; and that a refused client never disturbs the others.

mod common;

use common::{hello_bytes, Conductor, Raw};
use lockstep_proto::wire::ConductorMsg;

/// Connects, takes the conductor's hello, sends `bytes` and returns the refusal's reason.
fn refused_after(conductor: &Conductor, bytes: &[u8]) -> String {
    let mut c = conductor.connect();
    c.expect_conductor_hello();
    c.send(bytes);
    c.recv_refusal()
}

fn refusal_bytes(text: &[u8], announced: u32) -> Vec<u8> {
    let mut msg = vec![b'R'];
    msg.extend_from_slice(&announced.to_le_bytes());
    msg.extend_from_slice(text);
    msg
}

#[test]
fn a_hello_with_another_version_is_refused() {
    let conductor = Conductor::start_quiet(&[]);
    let mut hello = hello_bytes("future");
    hello[1] = b'2';
    assert_eq!(
        refused_after(&conductor, &hello),
        "unsupported protocol version '2' (0x32); this conductor speaks version 1"
    );
    conductor.wait_log("refused: 127.0.0.1:");
}

#[test]
fn invalid_ids_are_refused() {
    let conductor = Conductor::start_quiet(&[]);
    let blank = [b"A1".as_slice(), &[b' '; 12]].concat();
    assert_eq!(refused_after(&conductor, &blank), "invalid id: it is blank");
    let mut bell = hello_bytes("bad-id");
    bell[2 + 3] = 0x07;
    assert_eq!(
        refused_after(&conductor, &bell),
        "invalid id: byte 0x07 at offset 3 is not printable ASCII"
    );
}

#[test]
fn a_duplicate_id_is_refused_while_the_first_stays() {
    let conductor = Conductor::start_quiet(&[]);
    let mut first = conductor.join("twin");
    assert_eq!(first.recv_go(), 0);
    assert_eq!(
        refused_after(&conductor, &hello_bytes("twin")),
        "duplicate id twin"
    );
    first.send(b"K!");
    assert_eq!(first.recv_go(), 1);
}

#[test]
fn a_hello_over_max_clients_is_refused_with_full() {
    let conductor = Conductor::start_quiet(&[
        "--max-clients",
        "2",
        "--min-clients",
        "2",
        "--hello-timeout-ms",
        "0",
    ]);
    // A connection that has not said hello does not count.
    let mut silent = conductor.connect();
    silent.expect_conductor_hello();
    let mut a = conductor.join("a");
    let mut b = conductor.join("b");
    for c in [&mut a, &mut b] {
        assert_eq!(c.recv_go(), 0);
        c.send(b"?");
        c.expect(ConductorMsg::Here);
    }
    assert_eq!(refused_after(&conductor, &hello_bytes("c")), "full");
    conductor.wait_log("refused: 127.0.0.1:");
    // Once a member leaves there is room again.
    a.send(b"X");
    a.expect_closed();
    silent.send(&hello_bytes("late"));
    silent.send(b"?");
    silent.expect(ConductorMsg::Here);
}

#[test]
fn an_address_outside_allow_is_refused_instead_of_the_hello() {
    let conductor = Conductor::start_quiet(&["--allow", "10.0.0.0/8,::1/128"]);
    let mut c = conductor.connect();
    assert_eq!(c.recv_refusal(), "address 127.0.0.1 is not allowed");

    let allowed = Conductor::start_quiet(&["--allow", "10.0.0.0/8, 127.0.0.0/8"]);
    let mut ok = allowed.join("inside");
    assert_eq!(ok.recv_go(), 0);
}

#[test]
fn no_hello_within_the_timeout_is_refused() {
    let conductor = Conductor::start_quiet(&["--hello-timeout-ms", "200"]);
    let mut c = conductor.connect();
    c.expect_conductor_hello();
    assert_eq!(c.recv_refusal(), "hello timeout: no hello within 200 ms");
    conductor.wait_log("refused: 127.0.0.1:");
    // Half a hello is no hello either.
    let mut slow = conductor.connect();
    slow.expect_conductor_hello();
    slow.send(b"A1ha");
    assert_eq!(slow.recv_refusal(), "hello timeout: no hello within 200 ms");
}

#[test]
fn messages_before_the_hello_are_violations() {
    let conductor = Conductor::start_quiet(&[]);
    for (bytes, got) in [
        (&b"K"[..], "'K' (0x4b)"),
        (b"!", "'!' (0x21)"),
        (b"?", "'?' (0x3f)"),
        (b".", "'.' (0x2e)"),
        (b"W", "'W' (0x57)"),
    ] {
        assert_eq!(
            refused_after(&conductor, bytes),
            format!("protocol violation: received {got} in state AwaitingHello")
        );
    }
}

#[test]
fn messages_in_the_wrong_state_are_violations_naming_message_and_state() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    // Idle: K and ! are not expected.
    for (bytes, got) in [(&b"K"[..], "'K' (0x4b)"), (b"!", "'!' (0x21)")] {
        let mut c = conductor.join("idle");
        c.send(bytes);
        assert_eq!(
            c.recv_refusal(),
            format!("protocol violation: received {got} in state Idle")
        );
    }
    // Working: a second K, and a second hello.
    for (bytes, got) in [
        (b"KK".to_vec(), "'K' (0x4b)".to_string()),
        (
            [b"K".as_slice(), &hello_bytes("again")].concat(),
            "a hello 'A' (0x41)".to_string(),
        ),
    ] {
        let mut a = conductor.join("worker");
        let mut b = conductor.join("partner");
        assert_eq!(a.recv_go(), b.recv_go());
        a.send(&bytes);
        assert_eq!(
            a.recv_refusal(),
            format!("protocol violation: received {got} in state Working")
        );
        // The round stops waiting for the refused client.
        b.send(b"K!");
        b.send(b"X");
        b.expect_closed();
    }
    // Done: a second !.
    let mut a = conductor.join("doer");
    let mut b = conductor.join("holder");
    assert_eq!(a.recv_go(), b.recv_go());
    a.send(b"K!!");
    assert_eq!(
        a.recv_refusal(),
        "protocol violation: received '!' (0x21) in state Done"
    );
    b.send(b"X");
    b.expect_closed();
    conductor.wait_log("refused: doer (127.0.0.1:");
}

#[test]
fn unknown_bytes_are_violations_shown_printable_or_in_hex() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut c = conductor.join("typo");
    c.send(b"Z");
    assert_eq!(
        c.recv_refusal(),
        "protocol violation: received unknown message type 'Z' (0x5a) in state Idle"
    );
    let mut c = conductor.join("nul");
    c.send(&[0x00, 0xff]);
    assert_eq!(
        c.recv_refusal(),
        "protocol violation: received unknown message type 0x00 in state Idle"
    );
    assert_eq!(
        refused_after(&conductor, b"GET / HTTP/1.1\r\n\r\n"),
        "protocol violation: received unknown message type 'G' (0x47) in state AwaitingHello"
    );
}

#[test]
fn a_refusal_with_a_bad_length_is_caught_before_its_text() {
    let conductor = Conductor::start_quiet(&[]);
    let mut c = conductor.join("liar");
    assert_eq!(c.recv_go(), 0);
    // Only the header: the conductor must not wait for 600 bytes of text.
    c.send(&refusal_bytes(b"", 600));
    assert_eq!(
        c.recv_refusal(),
        "protocol violation: received an invalid refusal (refusal length 600 is over the \
         limit of 531) in state GoSent"
    );
    let mut c = conductor.join("unprintable");
    assert_eq!(c.recv_go(), 1);
    c.send(&refusal_bytes(b"bad\nline", 8));
    let reason = c.recv_refusal();
    assert!(
        reason.starts_with("protocol violation: received an invalid refusal (refusal text"),
        "{reason}"
    );
    assert!(reason.ends_with("in state GoSent"), "{reason}");
}

#[test]
fn bytes_after_a_violation_are_ignored_and_others_go_on() {
    let conductor = Conductor::start_quiet(&[]);
    let mut good = conductor.join("good");
    assert_eq!(good.recv_go(), 0);
    let mut bad = conductor.join("bad");
    // A violation followed by what would otherwise be valid messages.
    bad.send(b"K?X");
    let reason = bad.recv_refusal();
    assert_eq!(
        reason,
        "protocol violation: received 'K' (0x4b) in state Idle"
    );
    assert!(!reason.is_empty());
    for step in 1..=3 {
        good.send(b"K!");
        assert_eq!(good.recv_go(), step);
    }
    conductor.wait_log("refused: bad (127.0.0.1:");
    // The refused client's id is free again.
    let mut again = Raw::join(conductor.addr, "bad");
    again.send(b"?");
    again.expect(ConductorMsg::Here);
    good.send(b"K!");
    assert_eq!(good.recv_go(), 4);
    assert_eq!(again.recv_go(), 4);
}
