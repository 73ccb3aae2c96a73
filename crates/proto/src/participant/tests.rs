//! Participant state machine tests, grouped by state: the hello and its failures, every event,
//! every split of the stream, the answers to `?`, the calls in and out of turn, every protocol
//! error, and the end of the connection.

use proptest::prelude::*;

use super::*;

fn id(name: &str) -> Id {
    Id::new(name).unwrap()
}

fn bytes_of(msgs: &[ConductorMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for msg in msgs {
        msg.encode_into(&mut out);
    }
    out
}

fn conductor_hello() -> ConductorMsg {
    ConductorMsg::Hello(RawHello {
        version: VERSION,
        id: *id("boss").as_wire(),
    })
}

fn drain(p: &mut Participant) -> Vec<Event> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn take_sent(p: &mut Participant) -> Vec<u8> {
    let out = p.pending().to_vec();
    p.sent(out.len());
    out
}

/// A participant past the hello, with nothing queued.
fn greeted() -> Participant {
    let mut p = Participant::new(id("worker-1"));
    take_sent(&mut p);
    p.handle(&bytes_of(&[conductor_hello()])).unwrap();
    assert_eq!(drain(&mut p), vec![Event::Hello(id("boss"))]);
    p
}

// AwaitingHello

#[test]
fn the_hello_is_queued_at_once() {
    let mut p = Participant::new(id("worker-1"));
    assert_eq!(p.state(), &State::AwaitingHello);
    assert_eq!(take_sent(&mut p), b"A1worker-1    ");
    assert!(p.pending().is_empty());
    assert_eq!(p.conductor_id(), None);
}

#[test]
fn pending_bytes_leave_in_parts_or_all_at_once() {
    let mut p = Participant::new(id("worker-1"));
    p.sent(2);
    assert_eq!(p.pending(), b"worker-1    ");
    assert_eq!(p.take_pending(), b"worker-1    ");
    assert!(p.pending().is_empty());
    assert!(p.take_pending().is_empty());
    // What is queued later is pending again; a report past the end takes it all.
    p.handle(&bytes_of(&[conductor_hello(), ConductorMsg::Go(0)]))
        .unwrap();
    p.ack().unwrap();
    p.done().unwrap();
    assert_eq!(p.pending(), b"K!");
    p.sent(5);
    assert!(p.pending().is_empty());
}

#[test]
fn the_conductors_hello_is_checked() {
    let p = greeted();
    assert_eq!(p.state(), &State::Waiting { last_done: None });
    assert_eq!(p.conductor_id(), Some(id("boss")));
    assert_eq!(p.moment(), Moment::BeforeFirstStep);

    let mut p = Participant::new(id("w"));
    let err = p.handle(b"A2boss        ").unwrap_err();
    assert_eq!(err, ProtocolError::VersionMismatch { theirs: b'2' });
    assert!(err.to_string().contains("speaks version '2'"), "{err}");
    assert!(p.is_ended());

    let mut p = Participant::new(id("w"));
    let err = p.handle(b"A1            ").unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidConductorId(_)));
    assert!(err.to_string().contains("invalid id"), "{err}");

    let mut p = Participant::new(id("w"));
    let err = p.handle(b"A1bo\x07s        ").unwrap_err();
    assert!(matches!(err, ProtocolError::InvalidConductorId(_)), "{err}");
}

#[test]
fn a_refusal_may_come_instead_of_the_hello() {
    let mut p = Participant::new(id("w"));
    let reason = Reason::new("address 10.1.1.1 is not allowed").unwrap();
    p.handle(&bytes_of(&[ConductorMsg::Refusal(reason.clone())]))
        .unwrap();
    assert_eq!(drain(&mut p), vec![Event::Refused(reason.clone())]);
    assert_eq!(p.state(), &State::Ended(Ending::Refused(reason.clone())));
    assert_eq!(p.closed(), Closed::AfterGoodbye(Ending::Refused(reason)));
}

#[test]
fn anything_else_before_the_hello_is_an_error() {
    for msg in [
        ConductorMsg::Go(0),
        ConductorMsg::Ping,
        ConductorMsg::Exit,
        ConductorMsg::Slow,
        ConductorMsg::Cease,
    ] {
        let mut p = Participant::new(id("w"));
        let err = p.handle(&bytes_of(std::slice::from_ref(&msg))).unwrap_err();
        let ProtocolError::Unexpected { expected, at, .. } = &err else {
            panic!("{msg:?}: {err:?}");
        };
        assert_eq!((*expected, *at), ("its hello", Moment::BeforeFirstStep));
        assert!(p.is_ended());
    }
}

// Waiting, GoReceived, Working: the step cycle

#[test]
fn a_step_goes_go_ack_done() {
    let mut p = greeted();
    p.handle(&bytes_of(&[ConductorMsg::Go(7)])).unwrap();
    assert_eq!(drain(&mut p), vec![Event::Go(7)]);
    assert_eq!(p.state(), &State::GoReceived { step: 7 });
    assert_eq!((p.step(), p.moment()), (Some(7), Moment::During(7)));
    p.ack().unwrap();
    assert_eq!(p.state(), &State::Working { step: 7 });
    p.working().unwrap();
    p.done().unwrap();
    assert_eq!(take_sent(&mut p), b"KW!");
    assert_eq!(p.state(), &State::Waiting { last_done: Some(7) });
    assert_eq!((p.step(), p.moment()), (None, Moment::After(7)));

    // Done straight after the Go counts as K then Done.
    p.handle(&bytes_of(&[ConductorMsg::Go(8)])).unwrap();
    p.done().unwrap();
    assert_eq!(take_sent(&mut p), b"!");
    assert_eq!(drain(&mut p), vec![Event::Go(8)]);
}

#[test]
fn probes_are_answered_by_state() {
    let mut p = greeted();
    p.handle(b"?").unwrap();
    assert_eq!(take_sent(&mut p), b".");
    p.handle(b"!\0\0\0\0?").unwrap();
    assert_eq!(take_sent(&mut p), b"W");
    p.ack().unwrap();
    p.handle(b"?").unwrap();
    assert_eq!(take_sent(&mut p), b"KW");
    p.done().unwrap();
    p.handle(b"?").unwrap();
    assert_eq!(take_sent(&mut p), b"!.");
    assert_eq!(
        drain(&mut p),
        vec![
            Event::Probed,
            Event::Go(0),
            Event::Probed,
            Event::Probed,
            Event::Probed
        ]
    );
}

#[test]
fn every_broadcast_becomes_an_event() {
    let mut p = greeted();
    p.handle(&bytes_of(&[
        ConductorMsg::Slow,
        ConductorMsg::ShuttingDown(3),
        ConductorMsg::Here,
        ConductorMsg::Cease,
        ConductorMsg::Error,
        ConductorMsg::Exit,
    ]))
    .unwrap();
    assert_eq!(
        drain(&mut p),
        vec![
            Event::Slow,
            Event::ShuttingDown(3),
            Event::Here,
            Event::Cease,
            Event::ErrorShutdown,
            Event::Exit
        ]
    );
    assert_eq!(p.state(), &State::Ended(Ending::Exit));
    assert_eq!(p.closed(), Closed::AfterGoodbye(Ending::Exit));
}

#[test]
fn a_refusal_during_a_step_ends_the_session() {
    let mut p = greeted();
    let reason = Reason::new("liveness timeout").unwrap();
    p.handle(&bytes_of(&[
        ConductorMsg::Go(2),
        ConductorMsg::Refusal(reason.clone()),
    ]))
    .unwrap();
    assert_eq!(
        drain(&mut p),
        vec![Event::Go(2), Event::Refused(reason.clone())]
    );
    assert_eq!(p.moment(), Moment::During(2));
    let err = p.done().unwrap_err();
    assert!(err.ended, "{err}");
    assert!(p.pending().is_empty());
}

#[test]
fn calls_out_of_turn_queue_nothing() {
    let mut p = greeted();
    for (call, result) in [
        ("ack (K)", p.clone().ack()),
        ("working (W)", p.clone().working()),
        ("done (!)", p.clone().done()),
    ] {
        let err = result.unwrap_err();
        assert_eq!(
            (err.call, err.at, err.ended),
            (call, Moment::BeforeFirstStep, false)
        );
        assert!(err.to_string().contains("before the first step"), "{err}");
    }
    p.handle(b"!\x01\0\0\0").unwrap();
    p.ack().unwrap();
    assert_eq!(p.ack().unwrap_err().at, Moment::During(1));
    p.done().unwrap();
    assert_eq!(p.done().unwrap_err().at, Moment::After(1));
    assert_eq!(take_sent(&mut p), b"K!");
    // Liveness calls work in any state before the end.
    p.here().unwrap();
    p.ping().unwrap();
    assert_eq!(take_sent(&mut p), b".?");
}

// Protocol errors

#[test]
fn a_go_while_a_step_runs_is_an_error() {
    let mut p = greeted();
    p.handle(b"!\x05\0\0\0").unwrap();
    let err = p.handle(b"!\x06\0\0\0").unwrap_err();
    assert_eq!(err, ProtocolError::GoDuringStep { step: 6, during: 5 });
    assert_eq!(
        err.to_string(),
        "the conductor sent a Go for step 6 during step 5, expected no Go before Done"
    );
    assert_eq!(p.state(), &State::Ended(Ending::Broken));
    // Whatever follows is ignored.
    p.handle(b"?").unwrap();
    assert!(p.pending().is_empty());
    assert_eq!(p.closed(), Closed::Lost(Moment::During(5)));
}

#[test]
fn a_second_hello_is_an_error() {
    let mut p = greeted();
    let err = p.handle(&bytes_of(&[conductor_hello()])).unwrap_err();
    assert!(err.to_string().contains("a second hello"), "{err}");
}

#[test]
fn bytes_that_are_no_message_are_an_error_naming_the_byte() {
    let mut p = greeted();
    let err = p.handle(b"Z").unwrap_err();
    let ProtocolError::Garbage { error, at } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*at, Moment::BeforeFirstStep);
    assert!(matches!(error, DecodeError::UnknownType { byte: b'Z', .. }));
    assert!(err.to_string().contains("'Z' (0x5a)"), "{err}");

    let mut p = greeted();
    let err = p.handle(b"R\xff\xff\0\0").unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
}

#[test]
fn messages_after_the_conductors_goodbye_are_an_error() {
    let mut p = greeted();
    let err = p.handle(b"XT").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected nothing after its goodbye"),
        "{err}"
    );
    assert_eq!(drain(&mut p), vec![Event::Exit]);
}

// Ending

#[test]
fn after_leaving_everything_is_ignored() {
    let mut p = greeted();
    p.leave().unwrap();
    assert_eq!(take_sent(&mut p), b"X");
    p.handle(b"!\0\0\0\0?TXgarbage").unwrap();
    assert!(drain(&mut p).is_empty());
    assert!(p.pending().is_empty());
    assert!(p.leave().is_err());
    assert_eq!(p.closed(), Closed::AfterGoodbye(Ending::Left));

    let mut p = greeted();
    p.handle(b"!\x03\0\0\0").unwrap();
    let reason = Reason::new("step 3: disk full").unwrap();
    assert_eq!(p.refuse(reason.clone()).unwrap(), reason);
    assert_eq!(take_sent(&mut p), b"R\x11\0\0\0step 3: disk full");
    assert_eq!(
        p.closed(),
        Closed::AfterGoodbye(Ending::RefusedByUs(reason))
    );
}

#[test]
fn a_connection_that_ends_without_goodbye_is_lost_at_its_moment() {
    let mut p = greeted();
    p.handle(b"!\x04\0\0\0C").unwrap();
    assert_eq!(p.closed(), Closed::Lost(Moment::During(4)));
    assert_eq!(p.state(), &State::Ended(Ending::Lost));
    assert!(p.ack().is_err());
}

// Reconnecting

/// A session that continues after `last_done`, past the hello, with nothing queued.
fn reconnected(last_done: Option<u32>) -> Participant {
    let mut p = Participant::reconnecting(id("worker-1"), last_done);
    assert_eq!(take_sent(&mut p), b"A1worker-1    ", "the same hello");
    p.handle(&bytes_of(&[conductor_hello()])).unwrap();
    assert_eq!(drain(&mut p), vec![Event::Hello(id("boss"))]);
    p
}

#[test]
fn a_first_go_for_the_step_done_before_is_answered_at_once_and_only_the_first() {
    let mut p = reconnected(Some(6));
    assert_eq!(p.moment(), Moment::After(6));
    assert_eq!(p.last_done(), Some(6));
    p.handle(&bytes_of(&[ConductorMsg::Go(6)])).unwrap();
    assert_eq!(drain(&mut p), vec![Event::Repeated(6)]);
    assert_eq!(take_sent(&mut p), b"!", "Done, which counts as K too");
    assert_eq!(p.state(), &State::Waiting { last_done: Some(6) });
    assert!(p.ack().is_err() && p.done().is_err(), "nothing to answer");
    // The next Go is a step to run, whatever its number.
    p.handle(&bytes_of(&[ConductorMsg::Go(7)])).unwrap();
    assert_eq!(drain(&mut p), vec![Event::Go(7)]);
    p.done().unwrap();
    assert_eq!(take_sent(&mut p), b"!");
    assert_eq!(p.last_done(), Some(7));
    // With a wrapping step the same number comes again later: a step to run.
    let mut q = reconnected(Some(0));
    q.handle(&bytes_of(&[ConductorMsg::Go(0), ConductorMsg::Go(0)]))
        .unwrap();
    assert_eq!(drain(&mut q), vec![Event::Repeated(0), Event::Go(0)]);
}

#[test]
fn a_first_go_for_another_step_runs_it() {
    for last_done in [Some(6), None] {
        let mut p = reconnected(last_done);
        p.handle(&bytes_of(&[ConductorMsg::Go(7)])).unwrap();
        assert_eq!(drain(&mut p), vec![Event::Go(7)]);
        assert_eq!(p.step(), Some(7));
        assert!(p.pending().is_empty());
    }
    // A fresh session never takes a Go for a repeat.
    let mut fresh = greeted();
    fresh.handle(&bytes_of(&[ConductorMsg::Go(0)])).unwrap();
    assert_eq!(drain(&mut fresh), vec![Event::Go(0)]);
}

#[test]
fn the_last_step_done_and_a_farewell_outlive_the_session() {
    let mut p = greeted();
    assert_eq!(p.last_done(), None);
    p.handle(&bytes_of(&[ConductorMsg::Go(3)])).unwrap();
    p.ack().unwrap();
    p.done().unwrap();
    p.handle(&bytes_of(&[ConductorMsg::Go(4)])).unwrap();
    p.ack().unwrap();
    assert_eq!(p.closed(), Closed::Lost(Moment::During(4)));
    assert_eq!(p.last_done(), Some(3), "step 4 was not done");
    assert!(!p.heard_farewell(), "a loss without a word is an outage");
    for farewell in [ConductorMsg::Cease, ConductorMsg::Error] {
        let mut q = greeted();
        q.handle(&bytes_of(&[farewell])).unwrap();
        drain(&mut q);
        q.closed();
        assert!(q.heard_farewell());
    }
    assert_eq!(
        Event::Repeated(5).to_string(),
        "go for step 5 again: done before the reconnection, answered Done without running it"
    );
}

// Splits

/// Every message a conductor may send in a session, and the events and answers they give.
fn session() -> (Vec<u8>, Vec<Event>, Vec<u8>) {
    let msgs = [
        conductor_hello(),
        ConductorMsg::Ping,
        ConductorMsg::Go(0),
        ConductorMsg::Slow,
        ConductorMsg::Ping,
        ConductorMsg::ShuttingDown(1),
        ConductorMsg::Here,
        ConductorMsg::Cease,
        ConductorMsg::Exit,
    ];
    let events = vec![
        Event::Hello(id("boss")),
        Event::Probed,
        Event::Go(0),
        Event::Slow,
        Event::Probed,
        Event::ShuttingDown(1),
        Event::Here,
        Event::Cease,
        Event::Exit,
    ];
    (bytes_of(&msgs), events, b"A1worker-1    .W".to_vec())
}

fn feed_in_chunks(chunks: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
    let mut p = Participant::new(id("worker-1"));
    for chunk in chunks {
        p.handle(chunk).unwrap();
    }
    let events = drain(&mut p);
    (events, take_sent(&mut p))
}

#[test]
fn every_split_in_two_gives_the_same_events() {
    let (bytes, events, answers) = session();
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(
            feed_in_chunks(&[a, b]),
            (events.clone(), answers.clone()),
            "split at {at}"
        );
    }
}

#[test]
fn a_long_refusal_may_arrive_a_byte_at_a_time() {
    let reason = Reason::new("r".repeat(crate::wire::MAX_REASON_LEN)).unwrap();
    let mut bytes = bytes_of(&[conductor_hello(), ConductorMsg::Refusal(reason.clone())]);
    bytes.push(b'T');
    let mut p = Participant::new(id("w"));
    let mut result = Ok(());
    for byte in &bytes {
        result = p.handle(std::slice::from_ref(byte));
    }
    // The T after the refusal is a message after the goodbye.
    assert!(result.is_err());
    assert_eq!(
        drain(&mut p),
        vec![Event::Hello(id("boss")), Event::Refused(reason)]
    );
}

proptest! {
    #[test]
    fn any_chunking_gives_the_same_events(cuts in proptest::collection::vec(0usize..200, 0..12)) {
        let (bytes, events, answers) = session();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&bytes[start..cut]);
            start = cut;
        }
        chunks.push(&bytes[start..]);
        prop_assert_eq!(feed_in_chunks(&chunks), (events, answers));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut p = Participant::new(id("w"));
        let _ = p.handle(&bytes);
        let _ = p.ack();
        let _ = p.done();
        let _ = p.closed();
        prop_assert!(p.is_ended());
    }
}
