//! Core tests through the in-memory harness, grouped by PROTOCOL.md's sections: session and
//! refusals, the transitions, rounds, liveness, shutdown, status and the bounded queue.

use std::net::{IpAddr, Ipv4Addr};

use crate::conn::{Event, StateKind, ALL_EVENTS, ALL_STATES};
use crate::core::{Conductor, CoreConfig, EndOnFailure, Input, Output, StopRequest};
use crate::harness::{client_bytes, hello, Harness};
use crate::record::Record;
use crate::round::EndKind;
use crate::time::{Duration, Instant};
use crate::wire::{ClientMsg, ConductorMsg, RawHello, Reason};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn refusal(msgs: &[ConductorMsg]) -> String {
    match msgs.last() {
        Some(ConductorMsg::Refusal(r)) => r.as_str().to_string(),
        other => panic!("expected a refusal last, got {other:?} in {msgs:?}"),
    }
}

fn state(h: &Harness, conn: crate::core::ConnId) -> StateKind {
    h.core
        .conn_state(conn)
        .map(|s| s.kind())
        .expect("connection is open")
}

// --- §3 session -------------------------------------------------------------------------

#[test]
fn conductor_says_hello_first() {
    let mut h = Harness::with(|_| {});
    let c = h.connect();
    let msgs = h.take(c);
    assert_eq!(msgs.len(), 1);
    let ConductorMsg::Hello(raw) = &msgs[0] else {
        panic!("{msgs:?}")
    };
    assert_eq!(raw.version, b'1');
    assert_eq!(&raw.id, b"conductor   ");
    assert_eq!(state(&h, c), StateKind::AwaitingHello);
}

#[test]
fn valid_hello_makes_the_client_idle_and_a_wave_follows() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.join("a");
    assert_eq!(state(&h, a), StateKind::Idle);
    assert_eq!(h.take(a), []);
    let b = h.join("b");
    assert_eq!(h.take(a), [ConductorMsg::Go(0)]);
    assert_eq!(state(&h, b), StateKind::GoSent);
}

#[test]
fn refusals_name_the_reason() {
    let cases: Vec<(ClientMsg, &str)> = vec![
        (
            ClientMsg::Hello(RawHello {
                version: b'2',
                id: *b"worker      ",
            }),
            "unsupported protocol version '2'",
        ),
        (
            ClientMsg::Hello(RawHello {
                version: b'1',
                id: [b' '; 12],
            }),
            "invalid id: it is blank",
        ),
        (
            ClientMsg::Hello(RawHello {
                version: b'1',
                id: *b"bad\x01        ",
            }),
            "invalid id: byte 0x01",
        ),
        (
            ClientMsg::Received,
            "received 'K' (0x4b) in state AwaitingHello",
        ),
        (
            ClientMsg::Done,
            "received '!' (0x21) in state AwaitingHello",
        ),
        (
            ClientMsg::Ping,
            "received '?' (0x3f) in state AwaitingHello",
        ),
    ];
    for (msg, expected) in cases {
        let mut h = Harness::with(|c| c.rounds.min_clients = 5);
        let c = h.connect();
        h.take(c);
        h.send_msg(c, &msg);
        let reason = refusal(&h.take(c));
        assert!(reason.contains(expected), "{msg:?}: {reason}");
        assert!(h.is_closed(c), "{msg:?} must close");
    }
}

#[test]
fn a_hello_must_claim_a_name_the_certificate_proved() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 5);
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let a = h.connect();
    h.take(a);
    h.input(Input::Identified {
        conn: a,
        names: names(&["worker-1", "worker-2"]),
    });
    h.send_msg(a, &hello("worker-2"));
    assert_eq!(state(&h, a), StateKind::Idle);

    let b = h.connect();
    h.take(b);
    h.input(Input::Identified {
        conn: b,
        names: names(&["worker-1"]),
    });
    h.send_msg(b, &hello("worker-9"));
    assert_eq!(
        refusal(&h.take(b)),
        "id worker-9 is not named in the client certificate (names: worker-1)"
    );
    assert!(h.is_closed(b));
    assert!(h.observed().events.iter().any(|e| matches!(
        e,
        crate::core::Event::Refused {
            kind: crate::core::RefusalKind::NotInCertificate,
            ..
        }
    )));

    // Whether the id is taken is not told to a certificate that does not name it.
    let c = h.connect();
    h.take(c);
    h.input(Input::Identified {
        conn: c,
        names: Vec::new(),
    });
    h.send_msg(c, &hello("worker-2"));
    assert_eq!(
        refusal(&h.take(c)),
        "id worker-2 is not named in the client certificate (names: none)"
    );

    // Without names nothing is checked.
    let d = h.join("anyone");
    assert_eq!(state(&h, d), StateKind::Idle);
}

#[test]
fn a_long_list_of_names_is_cut_in_the_refusal() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 5);
    let c = h.connect();
    h.take(c);
    let names: Vec<String> = (0..200).map(|i| format!("name-{i:04}")).collect();
    h.input(Input::Identified { conn: c, names });
    h.send_msg(c, &hello("other"));
    let reason = refusal(&h.take(c));
    assert!(
        reason.starts_with(
            "id other is not named in the client certificate (names: name-0000, name-0001"
        ),
        "{reason}"
    );
    assert!(reason.ends_with(", ... (173 more))"), "{reason}");
    assert!(reason.len() < 400, "{reason}");
}

#[test]
fn a_transport_failure_refuses_member_or_not() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 5);
    let a = h.connect();
    h.take(a);
    h.input(Input::TransportFailed {
        conn: a,
        reason: "this conductor requires TLS".to_string(),
    });
    assert_eq!(refusal(&h.take(a)), "this conductor requires TLS");
    assert!(h.is_closed(a));

    let b = h.join("member");
    assert_eq!(h.core.member_count(), 1);
    h.input(Input::TransportFailed {
        conn: b,
        reason: "TLS failed: a record could not be decrypted".to_string(),
    });
    assert_eq!(
        refusal(&h.take(b)),
        "TLS failed: a record could not be decrypted"
    );
    assert_eq!(h.core.member_count(), 0);
    // Names that arrive after the hello change nothing.
    let c = h.join("late");
    h.input(Input::Identified {
        conn: c,
        names: vec!["x".to_string()],
    });
    assert_eq!(state(&h, c), StateKind::Idle);
}

#[test]
fn duplicate_id_is_refused_and_freed_again_on_leave() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 5);
    let a = h.join("same");
    let b = h.connect();
    h.take(b);
    h.send_msg(b, &hello("same"));
    assert_eq!(refusal(&h.take(b)), "duplicate id same");
    h.send_msg(a, &ClientMsg::Exit);
    assert!(h.is_closed(a));
    let c = h.join("same");
    assert_eq!(state(&h, c), StateKind::Idle);
}

#[test]
fn full_when_max_clients_are_past_hello() {
    let mut h = Harness::with(|c| {
        c.max_clients = 2;
        c.rounds.min_clients = 5;
    });
    h.join("a");
    h.join("b");
    let c = h.connect();
    h.take(c);
    h.send_msg(c, &hello("c"));
    assert_eq!(refusal(&h.take(c)), "full");
}

#[test]
fn address_outside_allow_is_refused_without_hello() {
    let mut h = Harness::with(|c| c.allow = vec!["10.0.0.0/8".parse().unwrap()]);
    let outside = h.connect_from(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1)));
    let msgs = h.take(outside);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert_eq!(refusal(&msgs), "address 192.168.1.1 is not allowed");
    let inside = h.connect_from(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
    assert!(matches!(h.take(inside)[..], [ConductorMsg::Hello(_)]));
}

#[test]
fn an_ipv4_mapped_peer_is_ipv4_for_allow_logs_and_status() {
    let mut h = Harness::with(|c| c.allow = vec!["10.0.0.0/8".parse().unwrap()]);
    let mapped = |a, b, c, d| IpAddr::V6(Ipv4Addr::new(a, b, c, d).to_ipv6_mapped());
    let outside = h.connect_from(mapped(192, 168, 1, 1));
    assert_eq!(
        refusal(&h.take(outside)),
        "address 192.168.1.1 is not allowed"
    );
    let inside = h.connect_from(mapped(10, 1, 2, 3));
    assert!(matches!(h.take(inside)[..], [ConductorMsg::Hello(_)]));
    let info = h.core.connections().find(|c| c.conn == inside).unwrap();
    assert_eq!(info.peer.ip(), IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)));
}

#[test]
fn hello_timeout_refuses() {
    let mut h = Harness::with(|c| c.hello_timeout = ms(100));
    let c = h.connect();
    h.take(c);
    h.advance(ms(99));
    assert!(h.take(c).is_empty());
    h.advance(ms(1));
    assert_eq!(refusal(&h.take(c)), "hello timeout: no hello within 100 ms");
    assert!(h.is_closed(c));
}

#[test]
fn ping_is_answered_in_every_state_after_hello() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.join("a");
    h.send_msg(a, &ClientMsg::Ping);
    assert_eq!(h.take(a), [ConductorMsg::Here]);
    let b = h.join("b");
    h.take(a);
    h.send(a, b"?K?");
    assert_eq!(h.take(a), [ConductorMsg::Here, ConductorMsg::Here]);
    assert_eq!(state(&h, a), StateKind::Working);
    assert_eq!(h.take(b), [ConductorMsg::Go(0)]);
    h.send(b, b"!?");
    assert_eq!(h.take(b), [ConductorMsg::Here]);
    assert_eq!(state(&h, b), StateKind::Done);
}

#[test]
fn client_refusal_and_exit_remove_without_reply() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 9);
    let a = h.join("a");
    h.send_msg(a, &ClientMsg::Refusal(Reason::new("bye").unwrap()));
    assert!(h.take(a).is_empty());
    assert!(h.is_closed(a));
    let b = h.join("b");
    h.send_msg(b, &ClientMsg::Exit);
    assert!(h.take(b).is_empty());
    assert!(h.is_closed(b));
    assert_eq!(h.core.member_count(), 0);
}

// --- §4 transitions -----------------------------------------------------------------------

#[test]
fn violations_after_hello_name_message_and_state() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"K", "received 'K' (0x4b) in state Idle"),
        (b"!", "received '!' (0x21) in state Idle"),
        (
            b"A1again       ",
            "received a hello 'A' (0x41) in state Idle",
        ),
        (
            b"Z",
            "received unknown message type 'Z' (0x5a) in state Idle",
        ),
        (
            b"R\xff\xff\0\0",
            "invalid refusal (refusal length 65535 is over the limit of 531) in state Idle",
        ),
    ];
    for (bytes, expected) in cases {
        let mut h = Harness::with(|c| c.rounds.min_clients = 9);
        let a = h.join("a");
        h.send(a, bytes);
        let reason = refusal(&h.take(a));
        assert!(reason.contains(expected), "{bytes:?}: {reason}");
    }
}

/// A harness with client `a` in `kind` (and, past the hello, `b` in the same round).
fn client_in(kind: StateKind) -> (Harness, crate::core::ConnId) {
    let mut h = Harness::with(|c| {
        c.rounds.min_clients = 2;
        c.hello_timeout = ms(100);
        c.drop_after = ms(300);
    });
    let a = match kind {
        StateKind::AwaitingHello | StateKind::Refused => {
            let a = h.connect();
            h.take(a);
            a
        }
        _ => h.join("a"),
    };
    match kind {
        StateKind::AwaitingHello | StateKind::Idle => {}
        StateKind::Refused => {
            // A refusal it does not read: the connection stays Refused while the R waits.
            h.set_stalled(a, true);
            h.send(a, b"Z");
        }
        StateKind::Closing => {
            // It leaves without reading the answer to its `?`: Closing while the `.` waits.
            h.set_stalled(a, true);
            h.send(a, b"?X");
        }
        StateKind::Closed => unreachable!("a closed connection is gone once polled"),
        StateKind::GoSent | StateKind::Working | StateKind::Done => {
            h.join("b");
            match kind {
                StateKind::Working => h.send(a, b"K"),
                StateKind::Done => h.send(a, b"K!"),
                _ => {}
            }
        }
    }
    h.take(a);
    assert_eq!(state(&h, a), kind, "set-up");
    (h, a)
}

/// Delivers `event` to `conn` as a client (or the clock) would.
fn deliver(h: &mut Harness, conn: crate::core::ConnId, event: Event) {
    match event {
        Event::Eof => h.close(conn),
        Event::HelloTimeout => h.advance(ms(100)),
        Event::LivenessTimeout => h.advance(ms(300)),
        message => {
            let bytes = client_bytes(message, "fresh").expect("a message event");
            h.send(conn, &bytes);
        }
    }
}

/// What happens to a connection, as PROTOCOL.md's connection states say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    To(StateKind),
    /// Answered with `.`, same state.
    Answer,
    /// Nothing sent, same state.
    Refresh,
    Violation,
    TimedOut,
    /// Closed, nothing sent back.
    Remove,
    /// An ending connection: nothing more queued, same state.
    Ignore,
}

/// The oracle: PROTOCOL.md's table of connection states, written out again here independently
/// of the code under test.
/// `None` for what this test leaves to others (waves, broadcasts, probes, flushing) and for
/// timers a state does not have.
fn spec(kind: StateKind, event: Event) -> Option<Expect> {
    use Event as E;
    use Expect::*;
    use StateKind as S;
    let timeout = matches!(event, E::HelloTimeout | E::LivenessTimeout);
    Some(match (kind, event) {
        (S::Closed, _) => return None,
        (S::Refused | S::Closing, E::Eof) => Remove,
        (S::Refused | S::Closing, e) if e.is_from_client() || timeout => Ignore,
        (_, E::Exit | E::Refusal | E::Eof) => Remove,
        (S::AwaitingHello, E::Hello) => To(S::Idle),
        (S::AwaitingHello, E::HelloTimeout) => TimedOut,
        (S::AwaitingHello, e) if e.is_from_client() => Violation,
        (S::GoSent, E::Received) => To(S::Working),
        (S::GoSent | S::Working, E::Done) => To(S::Done),
        (k, E::Ping) if k.is_joined() => Answer,
        (k, E::Here | E::Working) if k.is_joined() => Refresh,
        (k, E::LivenessTimeout) if k.is_joined() => TimedOut,
        (k, E::Received | E::Done | E::Hello | E::Garbage) if k.is_joined() => Violation,
        _ => return None,
    })
}

#[test]
fn every_row_of_the_transition_table_holds_in_the_core() {
    let mut rows = 0;
    for kind in ALL_STATES {
        for event in ALL_EVENTS {
            let Some(expect) = spec(kind, event) else {
                continue;
            };
            rows += 1;
            let (mut h, a) = client_in(kind);
            let pending = h.core.pending(a).to_vec();
            deliver(&mut h, a, event);
            let case = format!("{event:?} in {kind}: {expect:?}");
            match expect {
                Expect::To(next) => assert_eq!(state(&h, a), next, "{case}"),
                Expect::Answer => {
                    assert_eq!(h.take(a), [ConductorMsg::Here], "{case}");
                    assert_eq!(state(&h, a), kind, "{case}");
                }
                Expect::Refresh => {
                    assert_eq!(h.take(a), [], "{case}");
                    assert_eq!(state(&h, a), kind, "{case}");
                }
                Expect::Violation => {
                    let reason = refusal(&h.take(a));
                    assert!(
                        reason.starts_with("protocol violation: received "),
                        "{case}: {reason}"
                    );
                    assert!(
                        reason.ends_with(&format!(" in state {kind}")),
                        "{case}: {reason}"
                    );
                    assert!(h.is_closed(a), "{case}");
                }
                Expect::TimedOut => {
                    let expected = match kind {
                        StateKind::AwaitingHello => "hello timeout: no hello within 100 ms",
                        _ => "liveness timeout",
                    };
                    assert_eq!(refusal(&h.take(a)), expected, "{case}");
                    assert!(h.is_closed(a), "{case}");
                }
                Expect::Remove => {
                    assert_eq!(h.take(a), [], "{case}: nothing is sent back");
                    assert!(h.is_closed(a), "{case}");
                }
                Expect::Ignore => {
                    assert_eq!(h.core.pending(a), pending, "{case}: nothing more is queued");
                    assert_eq!(state(&h, a), kind, "{case}");
                }
            }
        }
    }
    assert_eq!(
        rows, 79,
        "every state and event but waves, broadcasts, probes, flushing and impossible pairs"
    );
}

#[test]
fn refusals_for_bytes_that_are_no_message_show_them() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"\x00", "received unknown message type 0x00 in state Idle"),
        (b"'", "received unknown message type 0x27 in state Idle"),
        (
            b"R\x03\0\0\0ab\x07",
            "received an invalid refusal (refusal text is invalid: byte 0x07 at offset 2 is not \
             printable ASCII) in state Idle",
        ),
    ];
    for (bytes, expected) in cases {
        let mut h = Harness::with(|c| c.rounds.min_clients = 9);
        let a = h.join("a");
        h.send(a, bytes);
        assert_eq!(
            refusal(&h.take(a)),
            format!("protocol violation: {expected}")
        );
    }
}

#[test]
fn k_twice_and_done_twice_are_violations() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.join("a");
    let b = h.join("b");
    h.take(a);
    h.send(a, b"KK");
    assert!(refusal(&h.take(a)).contains("'K' (0x4b) in state Working"));
    h.send(b, b"!!");
    assert!(refusal(&h.take(b)).contains("'!' (0x21) in state Done"));
}

#[test]
fn bytes_after_a_violation_are_ignored() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 9);
    let a = h.join("a");
    h.send(a, b"Z?????");
    let msgs = h.take(a);
    assert_eq!(msgs.len(), 1, "only the refusal: {msgs:?}");
}

#[test]
fn messages_split_byte_by_byte_and_batched_are_the_same() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 1);
    let a = h.connect();
    h.take(a);
    let mut bytes = Vec::new();
    hello("slow").encode_into(&mut bytes);
    for b in &bytes {
        h.send(a, std::slice::from_ref(b));
    }
    assert_eq!(h.take(a), [ConductorMsg::Go(0)]);
    h.send(a, b"K!?");
    assert_eq!(h.take(a), [ConductorMsg::Here, ConductorMsg::Go(1)]);
    let mut refusal_msg = Vec::new();
    ClientMsg::Refusal(Reason::new("x".repeat(400)).unwrap()).encode_into(&mut refusal_msg);
    let mut stream = b"K!".to_vec();
    stream.extend_from_slice(&refusal_msg);
    for chunk in stream.chunks(7) {
        h.send(a, chunk);
    }
    assert!(h.is_closed(a));
}

// --- §5 rounds ----------------------------------------------------------------------------

#[test]
fn rounds_with_three_clients_wait_for_everyone() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 3);
    let ids: Vec<_> = ["a", "b", "c"].iter().map(|n| h.join(n)).collect();
    for step in 0..5u32 {
        for &c in &ids {
            assert_eq!(h.take(c), [ConductorMsg::Go(step)], "step {step}");
        }
        h.send(ids[0], b"K!");
        h.send(ids[1], b"!");
        assert!(h.take(ids[0]).is_empty(), "no wave before everyone is Done");
        h.send(ids[2], b"KW!");
    }
}

#[test]
fn late_joiner_waits_for_the_next_wave() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 1);
    let a = h.join("a");
    assert_eq!(h.take(a), [ConductorMsg::Go(0)]);
    let b = h.join("b");
    assert!(h.take(b).is_empty());
    assert_eq!(state(&h, b), StateKind::Idle);
    h.send(a, b"K!");
    assert_eq!(h.take(a), [ConductorMsg::Go(1)]);
    assert_eq!(h.take(b), [ConductorMsg::Go(1)]);
}

#[test]
fn leaving_mid_round_does_not_block_it() {
    for leave in ["exit", "close", "refusal"] {
        let mut h = Harness::with(|c| c.rounds.min_clients = 2);
        let a = h.join("a");
        let b = h.join("b");
        h.take(a);
        h.send(a, b"K!");
        match leave {
            "exit" => h.send(b, b"X"),
            "close" => h.close(b),
            _ => h.send_msg(b, &ClientMsg::Refusal(Reason::new("no").unwrap())),
        }
        // a alone is below min_clients=2: the round ended but no wave follows.
        assert!(h.core.rounds().round().is_none(), "{leave}");
        assert_eq!(
            h.core.rounds().last_round().unwrap().slowest_done,
            Some(Duration::ZERO)
        );
        h.join("c");
        assert_eq!(h.take(a), [ConductorMsg::Go(1)], "{leave}");
    }
}

#[test]
fn when_every_participant_leaves_the_round_ends_at_once() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 1);
    let a = h.join("a");
    h.close(a);
    assert!(h.core.rounds().round().is_none());
    assert_eq!(h.core.rounds().last_round().unwrap().slowest_done, None);
    let st = h.core.status(h.now);
    assert!(st.last_round_slowest.is_none());
}

/// The `Waiting` events of the last step, as (ready, needed).
fn waiting_events(h: &Harness) -> Vec<(u32, u32)> {
    h.observed()
        .events
        .iter()
        .filter_map(|e| match e {
            crate::core::Event::Waiting { ready, needed } => Some((*ready, *needed)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_short_of_participants_says_so_when_it_starts_and_when_the_count_changes() {
    let mut h = Harness::with(|c| {
        c.rounds.min_clients = 2;
        c.rounds.rounds = 5;
    });
    // From the start, nobody is ready: the new conductor's first event says so.
    let mut fresh = Conductor::new(h.core.config().clone(), h.now);
    assert_eq!(
        fresh.poll_output(),
        Some(Output::Event(crate::core::Event::Waiting {
            ready: 0,
            needed: 2
        }))
    );
    assert!(h.core.is_waiting_for_participants());
    let a = h.join("a");
    assert_eq!(waiting_events(&h), [(1, 2)]);
    // Nothing changed in the count: nothing to say.
    h.send(a, b"?");
    assert_eq!(waiting_events(&h), []);
    let b = h.join("b");
    assert_eq!(waiting_events(&h), [], "a wave went out");
    assert!(!h.core.is_waiting_for_participants());
    h.take(a);
    h.take(b);
    // Round 0 runs while b fails: a finishes it, then waits alone (the stuck run,
    // in the middle of a planned end's countdown).
    h.send_msg(b, &ClientMsg::Refusal(Reason::new("step 0: boom").unwrap()));
    assert_eq!(waiting_events(&h), [], "a round still runs");
    h.send(a, b"K!");
    assert_eq!(waiting_events(&h), [(1, 2)]);
    let status = h.core.status(h.now);
    assert_eq!((status.ready, status.min_clients), (1, 2));
    assert_eq!(status.round_started_ms_ago, None);
    // The wait lasts until a wave goes out, or the end.
    h.join("c");
    assert!(!h.core.is_waiting_for_participants());
    h.stop(StopRequest::Interrupt);
    assert_eq!(waiting_events(&h), []);
    assert!(!h.core.is_waiting_for_participants());
}

#[test]
fn step_wrap_is_honoured() {
    let mut h = Harness::with(|c| c.rounds.step_wrap = 2);
    let a = h.join("a");
    let mut steps = Vec::new();
    for _ in 0..5 {
        match h.take(a)[..] {
            [ConductorMsg::Go(s)] => steps.push(s),
            ref other => panic!("{other:?}"),
        }
        h.send(a, b"!");
    }
    assert_eq!(steps, [0, 1, 0, 1, 0]);
}

#[test]
fn slow_round_broadcasts_t_to_every_member() {
    let mut h = Harness::with(|c| {
        c.rounds.slow_round = ms(50);
        c.rounds.min_clients = 2;
    });
    let a = h.join("a");
    let b = h.join("b");
    h.take(a);
    h.take(b);
    h.send(a, b"K!");
    let waiting = h.join("late");
    h.advance(ms(50));
    assert_eq!(h.take(a), [ConductorMsg::Slow]);
    assert_eq!(h.take(waiting), [ConductorMsg::Slow]);
    assert_eq!(h.core.status(h.now).waiting_on, ["b"]);
    h.advance(ms(50));
    assert_eq!(h.take(b), [ConductorMsg::Slow, ConductorMsg::Slow]);
}

// --- §3.4 liveness -----------------------------------------------------------------------

#[test]
fn probes_repeat_while_silent_and_silence_drops() {
    let mut h = Harness::with(|c| {
        c.probe_after = ms(100);
        c.drop_after = ms(350);
        c.rounds.min_clients = 9;
    });
    let a = h.join("a");
    h.advance(ms(100));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(100));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.send(a, b".");
    h.advance(ms(99));
    assert!(h.take(a).is_empty(), "the answer restarted the silence");
    h.advance(ms(1));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(250));
    let msgs = h.take(a);
    assert_eq!(refusal(&msgs), "liveness timeout");
    assert!(h.is_closed(a));
}

/// A member that joined at time zero and waits for a wave that does not come, with probes
/// after `probe` ms and the drop after `drop` ms.
fn stall_setup(probe: u64, drop: u64) -> (Harness, crate::core::ConnId) {
    let mut h = Harness::with(|c| {
        c.probe_after = ms(probe);
        c.drop_after = ms(drop);
        c.rounds.min_clients = 9;
    });
    let a = h.join("a");
    (h, a)
}

/// The conductor was not running for a while: its clock jumps to `at` and only then does it
/// look at its deadlines.
fn wake_at(h: &mut Harness, at: u64) {
    h.now = crate::time::Instant::from_millis(at);
    h.input(Input::Tick);
}

#[test]
fn the_drop_comes_drop_after_the_last_byte_heard_when_the_conductor_keeps_time() {
    let (mut h, a) = stall_setup(300, 1000);
    h.advance(ms(300));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(699));
    assert_eq!(h.take(a), [ConductorMsg::Ping, ConductorMsg::Ping]);
    assert!(!h.is_closed(a));
    h.advance(ms(1));
    assert_eq!(refusal(&h.take(a)), "liveness timeout");
}

#[test]
fn after_a_stall_a_silent_member_is_asked_before_it_is_dropped() {
    let (mut h, a) = stall_setup(300, 1000);
    // Silent since time zero, never asked: at 2 s it is asked, not dropped.
    wake_at(&mut h, 2000);
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    // It has the rest of the window, 700 ms, to answer; later probes do not extend it.
    h.advance(ms(699));
    assert_eq!(h.take(a), [ConductorMsg::Ping, ConductorMsg::Ping]);
    assert!(!h.is_closed(a));
    h.advance(ms(1));
    assert_eq!(refusal(&h.take(a)), "liveness timeout");
}

#[test]
fn an_answer_after_a_stall_keeps_the_member_and_starts_a_new_window() {
    let (mut h, a) = stall_setup(300, 1000);
    wake_at(&mut h, 2000);
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(100));
    h.send(a, b".");
    // The next silence is asked about after 300 ms and dropped 700 ms after that.
    h.advance(ms(300));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(699));
    assert!(!h.is_closed(a));
    h.advance(ms(1));
    assert!(h.is_closed(a));
}

#[test]
fn a_byte_heard_at_the_instant_of_a_probe_restarts_the_whole_window() {
    let (mut h, a) = stall_setup(300, 1000);
    h.advance(ms(300));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    // Heard at the same instant as the probe went out: not silent since being asked.
    h.send(a, b"W");
    h.advance(ms(999));
    assert!(!h.is_closed(a));
    h.advance(ms(1));
    assert_eq!(refusal(&h.take(a)), "liveness timeout");
}

#[test]
fn a_member_asked_before_a_stall_that_never_answered_is_dropped_on_waking() {
    let (mut h, a) = stall_setup(300, 1000);
    h.advance(ms(300));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    // Its window ended at 1 s, and nothing from it was waiting to be read at 2 s.
    wake_at(&mut h, 2000);
    assert_eq!(refusal(&h.take(a)), "liveness timeout");
}

#[test]
fn without_probes_before_the_drop_a_stall_counts_as_silence() {
    // Probes off, or not before the drop: the drop is `drop_after` after the last byte.
    for (probe, drop) in [(0, 1000), (1000, 1000), (1500, 1000)] {
        let (mut h, a) = stall_setup(probe, drop);
        wake_at(&mut h, 2000);
        assert_eq!(
            refusal(&h.take(a)),
            "liveness timeout",
            "probe {probe}, drop {drop}"
        );
    }
}

#[test]
fn dropped_participant_releases_the_round() {
    let mut h = Harness::with(|c| {
        c.drop_after = ms(300);
        c.rounds.min_clients = 2;
    });
    let a = h.join("a");
    let b = h.join("b");
    h.take(a);
    h.take(b);
    h.send(a, b"K!");
    for _ in 0..3 {
        h.advance(ms(100));
        h.send(a, b"W");
    }
    assert!(h.is_closed(b));
    assert!(h.core.rounds().round().is_none());
}

// --- §6 shutdown -------------------------------------------------------------------------

#[test]
fn planned_end_sends_countdown_then_c_and_x() {
    let mut h = Harness::with(|c| {
        c.rounds.rounds = 4;
        c.rounds.shutdown_countdown = 2;
    });
    let a = h.join("a");
    let mut seen = Vec::new();
    while h.exit.is_none() {
        seen.extend(h.take(a));
        h.send(a, b"K!");
    }
    seen.extend(h.take(a));
    use ConductorMsg::*;
    assert_eq!(
        seen,
        [
            Go(0),
            Go(1),
            ShuttingDown(2),
            Go(2),
            ShuttingDown(1),
            Go(3),
            Cease,
            Exit
        ]
    );
    assert_eq!(h.exit, Some(EndKind::Planned));
    assert!(h.is_closed(a));
    assert!(h.core.is_finished());
    assert_eq!(h.core.status(h.now).phase, "stopped");
}

#[test]
fn graceful_stop_counts_down_and_ends_when_nobody_can_run() {
    let mut h = Harness::with(|c| c.rounds.shutdown_countdown = 1);
    let a = h.join("a");
    h.take(a);
    h.stop(StopRequest::Graceful);
    assert_eq!(h.core.status(h.now).phase, "stopping");
    h.send(a, b"!");
    assert_eq!(
        h.take(a),
        [ConductorMsg::ShuttingDown(1), ConductorMsg::Go(1)]
    );
    h.send(a, b"!");
    assert_eq!(h.take(a), [ConductorMsg::Cease, ConductorMsg::Exit]);
    assert_eq!(h.exit, Some(EndKind::Graceful));

    let mut idle = Harness::with(|c| c.rounds.min_clients = 3);
    idle.join("only");
    idle.stop(StopRequest::Graceful);
    assert_eq!(idle.exit, Some(EndKind::Graceful));
}

#[test]
fn interrupt_and_fatal_close_everything_at_once() {
    for (input, announce, code) in [
        (Input::Stop(StopRequest::Interrupt), ConductorMsg::Cease, 0),
        (
            Input::Fatal("listener failed".into()),
            ConductorMsg::Error,
            1,
        ),
    ] {
        let mut h = Harness::with(|c| c.rounds.min_clients = 2);
        let a = h.join("a");
        let b = h.join("b");
        let pending = h.connect();
        h.take(a);
        h.take(b);
        h.take(pending);
        h.input(input);
        for c in [a, b, pending] {
            assert_eq!(h.take(c), [announce.clone(), ConductorMsg::Exit]);
            assert!(h.is_closed(c));
        }
        assert_eq!(h.exit.as_ref().map(|k| k.exit_code()), Some(code));
        assert!(h.core.is_finished());
    }
}

#[test]
fn queued_bytes_are_flushed_before_close_unless_the_client_stopped_reading() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 3);
    let a = h.join("a");
    let stuck = h.join("stuck");
    h.set_stalled(a, true);
    h.set_stalled(stuck, true);
    h.stop(StopRequest::Interrupt);
    assert!(!h.is_closed(a), "bytes still queued");
    h.set_stalled(a, false);
    assert_eq!(h.take(a), [ConductorMsg::Cease, ConductorMsg::Exit]);
    assert!(h.is_closed(a));
    h.advance(h.core.config().linger);
    assert!(h.is_closed(stuck), "gave up after the linger");
}

// --- restarts: the state record, resuming, SIGUSR1 ----------------------------------------

fn record(step: u32, waves_sent: u64, rounds: u64, step_wrap: u64) -> Record {
    Record {
        step,
        waves_sent,
        rounds,
        step_wrap,
        finished: false,
    }
}

#[test]
fn each_wave_is_recorded_before_its_bytes_even_behind_a_queued_answer() {
    let mut config = CoreConfig::new(crate::wire::Id::new("conductor").unwrap());
    config.persist = true;
    config.rounds.shutdown_countdown = 0;
    let mut core = Conductor::new(config, Instant::ZERO);
    let conn = core.accept(Instant::ZERO, "127.0.0.1:40000".parse().unwrap());
    core.handle_input(
        Instant::ZERO,
        Input::Received {
            conn,
            bytes: b"A1a           ",
        },
    );
    let first: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    let persisted = first.iter().position(|o| matches!(o, Output::Persist(_)));
    let transmit = first.iter().position(|o| *o == Output::Transmit(conn));
    assert!(persisted < transmit, "{first:?}");
    let n = core.pending(conn).len();
    core.handle_input(Instant::ZERO, Input::Sent { conn, n });
    // `?` queues `.` (a Transmit) before `!` ends the round and the next Go joins the same
    // queue: the record still comes out first.
    core.handle_input(Instant::ZERO, Input::Received { conn, bytes: b"?!" });
    let outputs: Vec<Output> = std::iter::from_fn(|| core.poll_output()).collect();
    assert_eq!(
        outputs.first(),
        Some(&Output::Persist(record(1, 2, 0, 1 << 32))),
        "{outputs:?}"
    );
    assert!(outputs.contains(&Output::Transmit(conn)));
}

#[test]
fn a_planned_end_records_every_wave_then_the_finished_run() {
    let mut h = Harness::with(|c| {
        c.persist = true;
        c.rounds.rounds = 3;
        c.rounds.step_wrap = 2;
    });
    let a = h.join("a");
    let mut records = h.observed().persisted.clone();
    while h.exit.is_none() {
        h.take(a);
        h.send(a, b"!");
        records.extend(h.observed().persisted.iter().copied());
    }
    let done = Record {
        finished: true,
        ..record(0, 3, 3, 2)
    };
    assert_eq!(
        records,
        [
            record(0, 1, 3, 2),
            record(1, 2, 3, 2),
            record(0, 3, 3, 2),
            done
        ]
    );
    // Without `persist` nothing is recorded.
    let mut quiet = Harness::with(|c| c.rounds.rounds = 1);
    let a = quiet.join("a");
    quiet.send(a, b"!");
    assert_eq!(quiet.exit, Some(EndKind::Planned));
    assert!(quiet.observed().persisted.is_empty());
}

#[test]
fn a_resumed_run_sends_the_recorded_wave_again_and_ends_as_planned() {
    let mut h = Harness::with(|c| {
        c.persist = true;
        c.resume = Some(3);
        c.rounds.rounds = 4;
        c.rounds.step_wrap = 3;
        c.rounds.shutdown_countdown = 2;
    });
    // Before any wave: the step of the wave before the recorded one; that wave had no `S`.
    let status = h.core.status(h.now);
    assert_eq!((status.step, status.waves_sent), (Some(1), 2));
    assert_eq!(status.phase, "waiting");
    let a = h.join("a");
    assert_eq!(h.observed().persisted, [record(2, 3, 4, 3)]);
    let mut seen = h.take(a);
    h.send(a, b"!");
    seen.extend(h.take(a));
    h.send(a, b"!");
    seen.extend(h.take(a));
    use ConductorMsg::*;
    assert_eq!(
        seen,
        [ShuttingDown(2), Go(2), ShuttingDown(1), Go(0), Cease, Exit]
    );
    assert_eq!(h.exit, Some(EndKind::Planned));
    assert_eq!(h.core.rounds().waves_sent(), 4, "the same number of waves");
    assert_eq!(
        h.observed().persisted.last().map(|r| r.finished),
        Some(true)
    );
}

#[test]
fn a_restart_records_closes_everything_without_a_word_and_exits_0() {
    let mut h = Harness::with(|c| c.persist = true);
    let a = h.join("a");
    let b = h.join("b");
    h.take(a);
    h.send(a, b"!");
    h.take(a);
    h.take(b);
    h.stop(StopRequest::Restart);
    assert_eq!(h.exit, Some(EndKind::Restart));
    assert_eq!(EndKind::Restart.exit_code(), 0);
    assert_eq!(h.take(a), []);
    assert_eq!(h.take(b), []);
    assert!(h.is_closed(a) && h.is_closed(b));
    assert!(h.core.is_finished());
    assert_eq!(h.observed().persisted, [record(1, 2, 0, 1 << 32)]);
    // A restart before any wave has nothing to record.
    let mut early = Harness::with(|c| c.persist = true);
    early.stop(StopRequest::Restart);
    assert_eq!(early.exit, Some(EndKind::Restart));
    assert!(early.observed().persisted.is_empty());
}

// --- bounded queues ----------------------------------------------------------------------

#[test]
fn a_client_that_never_reads_is_dropped_and_others_go_on() {
    let mut h = Harness::with(|c| {
        c.max_queued_bytes = 64;
        c.rounds.min_clients = 1;
    });
    let good = h.join("good");
    let stuck = h.join("stuck");
    h.set_stalled(stuck, true);
    for _ in 0..40 {
        h.send(good, b"K!");
        h.send(stuck, b"K!");
    }
    assert!(h.is_closed(stuck));
    assert!(!h.is_closed(good));
    assert!(h.core.rounds().waves_sent() > 30);
}

// --- §8 status ---------------------------------------------------------------------------

#[test]
fn status_reports_clients_waiting_on_and_slowest() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.join("a");
    let b = h.join("b");
    let st = h.core.status(h.now);
    assert_eq!(st.phase, "running");
    assert_eq!(st.step, Some(0));
    assert_eq!(st.waiting_on, ["a", "b"]);
    h.send(a, b"K");
    h.advance(ms(5));
    h.send(a, b"!");
    h.advance(ms(7));
    h.send(b, b"!");
    let st = h.core.status(h.now);
    assert_eq!(st.last_round_ms, Some(12.0));
    let slowest = st.last_round_slowest.unwrap();
    assert_eq!((slowest.id.as_str(), slowest.ms), ("b", 12.0));
    assert_eq!(st.clients.len(), 2);
    assert_eq!(st.waves_sent, 2);
}

#[test]
fn status_is_due_on_phase_change_and_at_most_every_interval() {
    let mut h = Harness::with(|c| {
        c.status_interval = Some(ms(1000));
        c.rounds.min_clients = 1;
    });
    let initial = h.status_due;
    assert_eq!(initial, 1, "the first phase is written at once");
    let a = h.join("a");
    assert_eq!(h.status_due, 2, "waiting -> running is written at once");
    for _ in 0..1000 {
        h.send(a, b"!");
    }
    assert_eq!(h.status_due, 2, "no rewrite per wave");
    h.advance(ms(1000));
    assert_eq!(h.status_due, 3);
    // A connected member's silence ages in the file: rewritten every interval.
    h.advance(ms(5000));
    assert_eq!(h.status_due, 8, "once a second while a member is connected");
    // The last member leaves: back to waiting, written at once; the uptime still grows.
    h.send(a, b"X");
    assert_eq!(h.status_due, 9);
    h.advance(ms(5000));
    assert_eq!(h.status_due, 14, "once a second with nobody connected too");
}

#[test]
fn an_idle_conductor_with_nobody_connected_is_due_every_interval() {
    let mut h = Harness::with(|c| c.status_interval = Some(ms(1000)));
    assert_eq!(h.status_due, 1, "the first phase is written at once");
    assert_eq!(
        h.core.poll_timeout(),
        Some(crate::time::Instant::from_millis(1000))
    );
    h.advance(ms(3000));
    assert_eq!(h.status_due, 4);
    assert_eq!(h.core.status(h.now).uptime_ms, 3000);
}

#[test]
fn a_stalled_round_is_rewritten_every_interval() {
    let mut h = Harness::with(|c| {
        c.status_interval = Some(ms(100));
        c.rounds.min_clients = 1;
    });
    let a = h.join("a");
    h.send(a, b"K");
    let before = h.status_due;
    h.advance(ms(1000));
    assert_eq!(h.status_due, before + 10);
    let st = h.core.status(h.now);
    assert_eq!(st.round_started_ms_ago, Some(1000));
    assert_eq!(st.waiting_on, ["a"]);
}

#[test]
fn an_interval_below_the_floor_acts_as_the_floor() {
    use crate::core::MIN_STATUS_INTERVAL;
    for interval in [0, 1, 99] {
        let mut h = Harness::with(|c| c.status_interval = Some(ms(interval)));
        let a = h.join("a");
        let before = h.status_due;
        for _ in 0..100 {
            h.send(a, b"K!");
        }
        assert_eq!(
            h.status_due, before,
            "interval {interval}: not at every event"
        );
        h.advance(MIN_STATUS_INTERVAL);
        assert_eq!(h.status_due, before + 1, "interval {interval}");
        h.advance(MIN_STATUS_INTERVAL.saturating_mul(10));
        assert_eq!(h.status_due, before + 11, "interval {interval}");
    }
}

// --- fingerprint -------------------------------------------------------------------------

fn fingerprint(h: &Harness) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    h.core.fingerprint(h.now, &mut hasher);
    hasher.finish()
}

#[test]
fn fingerprints_ignore_absolute_time_and_the_count_of_waves() {
    let run = |idle_first: Duration, rounds: usize| {
        let mut h = Harness::with(|c| {
            c.rounds.step_wrap = 2;
            c.probe_after = ms(100);
            c.status_interval = None;
        });
        h.advance(idle_first);
        let a = h.join("a");
        for _ in 0..rounds {
            h.send(a, b"K!");
        }
        h.advance(ms(30));
        h
    };
    let early = run(ms(0), 2);
    assert_eq!(fingerprint(&early), fingerprint(&run(ms(5_000), 4)));
    assert_ne!(
        fingerprint(&early),
        fingerprint(&run(ms(0), 3)),
        "the next step differs"
    );
    let mut working = run(ms(0), 2);
    let a = working.core.connections().map(|c| c.conn).next().unwrap();
    working.send(a, b"K");
    assert_ne!(fingerprint(&early), fingerprint(&working));
    let mut later = run(ms(0), 2);
    later.advance(ms(10));
    assert_ne!(
        fingerprint(&early),
        fingerprint(&later),
        "the next probe is nearer"
    );
}

#[test]
fn a_client_dropped_by_the_countdown_broadcast_does_not_hold_the_wave_up() {
    // b stops reading after the conductor's hello; wave 0's Go and five answers to `?` fill
    // its queue to 10 of 14 bytes. The `S 1` before wave 1 takes it over the bound, so b is
    // dropped after the controller counted it as a participant and before the Go: the round
    // must not wait for it.
    let mut h = Harness::with(|c| {
        c.max_queued_bytes = 14;
        c.rounds.min_clients = 2;
        c.rounds.rounds = 2;
        c.rounds.shutdown_countdown = 1;
    });
    let a = h.join("a");
    let b = h.connect();
    h.take(b);
    h.set_stalled(b, true);
    h.send_msg(b, &hello("b"));
    assert_eq!(h.take(a), [ConductorMsg::Go(0)]);
    h.send(b, b"!?????");
    h.send(a, b"!");
    assert!(h.is_closed(b), "dropped as not reading");
    assert_eq!(
        h.take(a),
        [ConductorMsg::ShuttingDown(1), ConductorMsg::Go(1)]
    );
    h.send(a, b"!");
    assert_eq!(h.take(a), [ConductorMsg::Cease, ConductorMsg::Exit]);
    assert_eq!(h.exit, Some(EndKind::Planned));
}

#[test]
fn a_connection_accepted_after_the_end_is_closed_with_nothing_sent() {
    let mut h = Harness::with(|_| {});
    h.stop(StopRequest::Interrupt);
    assert!(h.core.is_finished());
    let late = h.connect();
    assert_eq!(h.take(late), []);
    assert!(h.is_closed(late));
}

// --- end_on_failure ----------------------------------------------------------------------

/// A conductor with `end_on_failure` set, two members in round 1 (`a` Done already) and a
/// connection still awaiting its hello.
fn failing_run(policy: EndOnFailure) -> (Harness, [crate::core::ConnId; 3]) {
    let mut h = Harness::with(|c| {
        c.end_on_failure = policy;
        c.rounds.min_clients = 1;
        c.drop_after = ms(100);
    });
    h.keep_events = true;
    let a = h.join("a"); // wave 0, to a alone
    let b = h.join("b");
    h.send(a, b"!"); // wave 1, to both
    h.send(a, b"!");
    let pending = h.connect();
    for c in [a, b, pending] {
        h.take(c);
    }
    assert_eq!(h.core.rounds().round().map(|r| r.step), Some(1));
    (h, [a, b, pending])
}

/// How the run ended, and what every other connection was sent last.
fn ended(h: &mut Harness, others: &[crate::core::ConnId]) -> Option<EndKind> {
    if h.exit.is_some() {
        for &c in others {
            assert_eq!(h.take(c), [ConductorMsg::Error, ConductorMsg::Exit]);
            assert!(h.is_closed(c));
        }
    }
    h.exit.clone()
}

#[test]
fn a_participants_refusal_ends_the_run_at_once_with_end_on_failure() {
    for policy in [EndOnFailure::Refusal, EndOnFailure::Closed] {
        let (mut h, [a, b, pending]) = failing_run(policy);
        h.send_msg(b, &ClientMsg::Refusal(Reason::new("step 1: boom").unwrap()));
        // a is Done, b is gone: without end_on_failure the next wave would go to a.
        let want = EndKind::ParticipantFailed {
            id: id("b"),
            reason: "step 1: boom".to_string(),
        };
        assert_eq!(
            ended(&mut h, &[a, pending]),
            Some(want.clone()),
            "{policy:?}"
        );
        assert_eq!(want.exit_code(), 3);
        assert_eq!(h.core.rounds().waves_sent(), 2, "no wave after the failure");
        let status = h.core.status(h.now);
        assert_eq!(status.phase, "stopped");
        let failure = status.failure.expect("the failure in the final status");
        assert_eq!(
            (failure.id.as_str(), failure.reason.as_str()),
            ("b", "step 1: boom")
        );
        // The departure, then the end of the round it left, then the ending.
        let tail: Vec<&Happened> = h.events.iter().rev().take(3).collect();
        assert!(
            matches!(
                tail[..],
                [
                    Happened::Ending(EndKind::ParticipantFailed { .. }),
                    Happened::RoundEnd { .. },
                    Happened::Left {
                        how: Leave::Refusal(_),
                        ..
                    },
                ]
            ),
            "{tail:?}"
        );
    }
}

#[test]
fn with_end_on_failure_true_only_a_participants_refusal_ends_the_run() {
    let (mut h, [_, b, pending]) = failing_run(EndOnFailure::Refusal);
    // An R before the hello is no participant's failure.
    h.send_msg(pending, &ClientMsg::Refusal(Reason::new("no").unwrap()));
    h.send(b, b"X");
    assert_eq!(h.exit, None);
    let (mut h, [a, b, _]) = failing_run(EndOnFailure::Refusal);
    h.close(b);
    h.advance(ms(500));
    assert_eq!(
        h.exit, None,
        "a closed connection and a liveness drop go on"
    );
    assert!(h.is_closed(a), "a was dropped for silence");
    let status = h.core.status(h.now);
    assert_eq!(status.failure, None);
}

#[test]
fn with_end_on_failure_closed_any_loss_but_x_ends_the_run() {
    let (mut h, [a, b, pending]) = failing_run(EndOnFailure::Closed);
    h.send(a, b"X");
    assert_eq!(h.exit, None, "X is leaving, not failing");
    h.close(b);
    assert_eq!(
        ended(&mut h, &[pending]),
        Some(EndKind::ParticipantFailed {
            id: id("b"),
            reason: "connection closed without X".to_string()
        })
    );

    let (mut h, [a, _, pending]) = failing_run(EndOnFailure::Closed);
    h.advance(ms(50));
    h.send(a, b"W");
    h.advance(ms(50));
    assert_eq!(
        ended(&mut h, &[a, pending]),
        Some(EndKind::ParticipantFailed {
            id: id("b"),
            reason: "liveness timeout".to_string()
        })
    );

    let (mut h, [a, b, pending]) = failing_run(EndOnFailure::Closed);
    h.send(b, b"Z");
    let kind = ended(&mut h, &[a, pending]).expect("a violation ends the run");
    assert!(
        kind.to_string()
            .starts_with("participant b failed: protocol violation"),
        "{kind}"
    );
    // Closing before the hello is nobody's failure.
    let (mut h, [.., pending]) = failing_run(EndOnFailure::Closed);
    h.close(pending);
    assert_eq!(h.exit, None);
}

// --- events ------------------------------------------------------------------------------

use crate::conn::StateKind::{GoSent, Idle, Working};
use crate::core::{ConnId, Event as Happened, Leave, RefusalKind, Who};
use crate::wire::Id;

fn id(name: &str) -> Id {
    Id::new(name).expect("a valid id")
}

/// An open connection as events name it.
fn who(h: &Harness, conn: ConnId) -> Who {
    let info = h
        .core
        .connections()
        .find(|c| c.conn == conn)
        .expect("connection is open");
    Who {
        conn,
        peer: info.peer,
        id: info.client_id,
    }
}

/// The kind of the refusal the last step produced.
fn refused_kind(h: &Harness) -> RefusalKind {
    match &h.observed().events[..] {
        [Happened::Refused { kind, .. }] => *kind,
        other => panic!("expected one refusal, got {other:?}"),
    }
}

#[test]
fn joins_waves_and_round_ends_come_out_as_events() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.connect();
    let peer = who(&h, a).peer;
    assert_eq!(h.observed().events, [Happened::Connected { conn: a, peer }]);
    h.take(a);
    h.send_msg(a, &hello("a"));
    assert_eq!(
        h.observed().events,
        [
            Happened::Joined {
                conn: a,
                id: id("a"),
                peer
            },
            Happened::Waiting {
                ready: 1,
                needed: 2
            }
        ]
    );
    let b = h.join("b");
    assert_eq!(
        h.observed().events.last(),
        Some(&Happened::Wave {
            step: 0,
            participants: 2
        })
    );
    h.now = h.now + ms(3);
    h.send(a, b"K!");
    assert_eq!(h.observed().events, [], "no per-message events by default");
    h.now = h.now + ms(2);
    h.send(b, b"K!");
    assert_eq!(
        h.observed().events,
        [
            Happened::RoundEnd {
                step: 0,
                duration: ms(5),
                slowest: Some((id("b"), ms(5))),
            },
            Happened::Wave {
                step: 1,
                participants: 2
            },
        ]
    );
    // A round that ends by a removal has no slowest Done.
    h.send(a, b"X");
    h.close(b);
    assert!(matches!(
        h.observed().events[..],
        [
            Happened::Left {
                how: Leave::Closed,
                ..
            },
            Happened::RoundEnd { slowest: None, .. },
            Happened::Waiting {
                ready: 0,
                needed: 2
            },
        ]
    ));
}

#[test]
fn per_message_events_come_only_with_trace_events() {
    for trace in [false, true] {
        let mut h = Harness::with(|c| c.trace_events = trace);
        let a = h.join("a");
        let joined = h.observed().events.clone();
        h.send(a, b"K");
        let want = [
            Happened::MessageReceived {
                conn: a,
                msg: ClientMsg::Received,
            },
            Happened::StateChanged {
                conn: a,
                old: GoSent,
                new: Working,
            },
        ];
        if trace {
            assert_eq!(h.observed().events, want);
            assert!(joined.contains(&Happened::StateChanged {
                conn: a,
                old: StateKind::AwaitingHello,
                new: Idle
            }));
        } else {
            assert_eq!(h.observed().events, []);
            assert_eq!(joined.len(), 2, "joined and the wave: {joined:?}");
        }
    }
}

#[test]
fn each_refusal_says_its_kind() {
    let refuse_hello = |msg: ClientMsg, change: fn(&mut crate::core::CoreConfig)| {
        let mut h = Harness::with(change);
        h.join("taken");
        let c = h.connect();
        h.send_msg(c, &msg);
        refused_kind(&h)
    };
    let raw = |version, id: &[u8; 12]| ClientMsg::Hello(RawHello { version, id: *id });
    assert_eq!(
        refuse_hello(raw(b'2', b"worker      "), |_| {}),
        RefusalKind::Version
    );
    assert_eq!(
        refuse_hello(raw(b'1', &[b' '; 12]), |_| {}),
        RefusalKind::InvalidId
    );
    assert_eq!(
        refuse_hello(hello("taken"), |_| {}),
        RefusalKind::DuplicateId
    );
    assert_eq!(
        refuse_hello(hello("one-more"), |c| c.max_clients = 1),
        RefusalKind::Full
    );
    assert_eq!(
        refuse_hello(ClientMsg::Done, |_| {}),
        RefusalKind::Violation
    );

    let mut h = Harness::with(|c| c.allow = vec!["10.0.0.0/8".parse().expect("a block")]);
    h.connect();
    assert_eq!(refused_kind(&h), RefusalKind::NotAllowed);

    let mut h = Harness::with(|c| c.hello_timeout = ms(100));
    h.connect();
    assert!(h.fire_next_timer());
    assert_eq!(refused_kind(&h), RefusalKind::HelloTimeout);

    let mut h = Harness::with(|c| c.drop_after = ms(100));
    h.join("mute");
    assert!(h.fire_next_timer());
    assert!(matches!(
        &h.observed().events[..],
        [
            Happened::Refused {
                who: Who { id: Some(_), .. },
                kind: RefusalKind::LivenessTimeout,
                ..
            },
            Happened::RoundEnd { .. },
            Happened::Waiting { ready: 0, .. }
        ]
    ));

    let mut h = Harness::with(|_| {});
    let c = h.join("garbage");
    h.send(c, b"Z");
    let Happened::Refused { who, kind, reason } = &h.observed().events[0] else {
        panic!("{:?}", h.observed().events)
    };
    assert_eq!(
        (who.id, *kind),
        (Some(id("garbage")), RefusalKind::Violation)
    );
    assert_eq!(
        reason.as_str(),
        "protocol violation: received unknown message type 'Z' (0x5a) in state GoSent"
    );
}

#[test]
fn leaving_closing_early_stalling_and_ending_come_out_as_events() {
    let mut h = Harness::with(|c| {
        c.rounds.min_clients = 4;
        c.rounds.slow_round = ms(50);
        c.max_queued_bytes = 64;
    });
    h.keep_events = true;
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|name| h.join(name));
    let (who_a, who_b, who_c) = (who(&h, a), who(&h, b), who(&h, c));
    h.send(a, b"K!");
    h.advance(ms(50));
    let early = h.connect();
    let who_early = who(&h, early);
    h.close(early);
    h.send(a, b"X");
    h.send_msg(
        b,
        &ClientMsg::Refusal(Reason::new("bye").expect("a reason")),
    );
    h.close(c);
    h.set_stalled(d, true);
    h.send(d, &[b'?'; 70]);
    h.stop(StopRequest::Graceful);
    let events: Vec<Happened> = h
        .events
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Happened::Joined { .. } | Happened::Connected { .. } | Happened::Waiting { .. }
            )
        })
        .cloned()
        .collect();
    assert_eq!(
        events[..7],
        [
            Happened::Wave {
                step: 0,
                participants: 4
            },
            Happened::SlowRound {
                step: 0,
                waiting_on: vec![id("b"), id("c"), id("d")]
            },
            Happened::ClosedBeforeHello { who: who_early },
            Happened::Left {
                who: who_a,
                how: Leave::Exit
            },
            Happened::Left {
                who: who_b,
                how: Leave::Refusal(Reason::new("bye").expect("a reason"))
            },
            Happened::Left {
                who: who_c,
                how: Leave::Closed
            },
            Happened::DroppedNotReading {
                who: Who {
                    conn: d,
                    peer: events_peer(&h.events, d),
                    id: Some(id("d")),
                },
                queued: 65,
            },
        ]
    );
    assert_eq!(
        events[7..],
        [
            // The only Done came from `a`, at once, before it left.
            Happened::RoundEnd {
                step: 0,
                duration: ms(50),
                slowest: Some((id("a"), ms(0)))
            },
            Happened::GracefulStopRequested,
            Happened::Ending(EndKind::Graceful),
        ]
    );
}

/// The address a connection had, from its `Connected` event.
fn events_peer(events: &[Happened], conn: ConnId) -> std::net::SocketAddr {
    events
        .iter()
        .find_map(|e| match e {
            Happened::Connected { conn: c, peer } if *c == conn => Some(*peer),
            _ => None,
        })
        .expect("a Connected event")
}

#[test]
fn a_connection_that_does_not_take_its_last_bytes_is_given_up() {
    let mut h = Harness::with(|c| c.linger = ms(300));
    let stuck = h.join("stuck");
    h.set_stalled(stuck, true);
    let stuck_who = who(&h, stuck);
    h.stop(StopRequest::Interrupt);
    assert_eq!(h.observed().events, [Happened::Ending(EndKind::Interrupt)]);
    assert!(h.fire_next_timer());
    assert_eq!(
        h.observed().events,
        [Happened::GaveUpFlushing {
            who: stuck_who,
            after: ms(300)
        }]
    );
}
