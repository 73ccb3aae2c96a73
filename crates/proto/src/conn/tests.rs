//! One connection's table on its own, grouped by state: what each input does to the state, what
//! it queues, and what the [`Change`] tells the conductor. The whole core is tested against
//! PROTOCOL.md "Connection states" row by row in `core::tests`.

use std::collections::HashSet;

use super::*;
use crate::core::{CoreConfig, Leave, RefusalKind};
use crate::time::Duration;
use crate::wire::{ConductorMsg, RawHello, Reason, VERSION};

fn id(name: &str) -> Id {
    Id::new(name).expect("a valid id")
}

/// The settings and the conductor-wide facts of a test.
struct Fixture {
    config: CoreConfig,
    ids: HashSet<Id>,
    members: u32,
    ended: bool,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            config: CoreConfig::new(id("conductor")),
            ids: HashSet::from([id("taken")]),
            members: 1,
            ended: false,
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            now: Instant::from_millis(7),
            config: &self.config,
            ids: &self.ids,
            members: self.members,
            ended: self.ended,
        }
    }

    /// Feeds one input; returns the change and what the connection reports.
    fn feed(&self, c: &mut Conn, input: Input<'_>) -> (Change, Report) {
        let ch = c.handle(input, &self.ctx());
        let report = c.take_report();
        assert_eq!(
            ch.reported,
            report != Report::default(),
            "{ch:?} {report:?}"
        );
        (ch, report)
    }

    /// A connection brought into `kind` by real inputs, its queue flushed.
    fn conn_in(&self, kind: StateKind) -> Conn {
        let mut c = Conn::new(
            "127.0.0.1:40000".parse().expect("an address"),
            Instant::ZERO,
            0,
        );
        self.feed(&mut c, Input::Accepted);
        let path: &[Input<'_>] = match kind {
            StateKind::AwaitingHello => &[],
            StateKind::Idle => &[hello("a")],
            StateKind::GoSent => &[hello("a"), Input::Go(3)],
            StateKind::Working => &[hello("a"), Input::Go(3), msg(ClientMsg::Received)],
            StateKind::Done => &[hello("a"), Input::Go(3), msg(ClientMsg::Done)],
            other => panic!("no path to {other} here"),
        };
        for input in path {
            self.feed(&mut c, clone(input));
        }
        self.feed(&mut c, Input::Sent(usize::MAX));
        assert_eq!(c.state().kind(), kind, "set-up");
        c
    }
}

/// A message as an input; leaked, as a test may keep it.
fn msg(m: ClientMsg) -> Input<'static> {
    Input::Message(Box::leak(Box::new(m)))
}

fn hello(name: &str) -> Input<'static> {
    let mut raw = [b' '; 12];
    raw[..name.len()].copy_from_slice(name.as_bytes());
    msg(ClientMsg::Hello(RawHello {
        version: VERSION,
        id: raw,
    }))
}

/// The inputs the set-up paths use, again.
fn clone(input: &Input<'_>) -> Input<'static> {
    match input {
        Input::Message(m) => msg((*m).clone()),
        Input::Go(step) => Input::Go(*step),
        other => panic!("not used in set-ups: {other:?}"),
    }
}

/// The input changed nothing: no state, nothing queued, nothing to report.
fn unchanged((ch, report): (Change, Report)) -> bool {
    ch.from == ch.to && !ch.transmit && report == Report::default()
}

/// Decodes everything queued.
fn queued(c: &Conn) -> Vec<ConductorMsg> {
    let mut rest = c.pending();
    let mut msgs = Vec::new();
    while let Ok(Some((m, n))) = ConductorMsg::decode(rest) {
        msgs.push(m);
        rest = &rest[n..];
    }
    assert!(rest.is_empty(), "undecodable queue {rest:?}");
    msgs
}

// --- AwaitingHello ---------------------------------------------------------------------------

#[test]
fn accepted_says_hello_or_refuses_outside_allow_or_closes_after_the_end() {
    let mut f = Fixture::new();
    let mut c = Conn::new("127.0.0.1:1".parse().expect("an address"), Instant::ZERO, 0);
    let fresh = c.clone();
    let (ch, report) = f.feed(&mut c, Input::Accepted);
    assert_eq!(report.notice, Some(Notice::Connected));
    assert!(ch.transmit && ch.transitions().next().is_none());
    assert!(matches!(queued(&c)[..], [ConductorMsg::Hello(_)]));

    f.config.allow = vec!["10.0.0.0/8".parse().expect("a block")];
    let mut outside = fresh.clone();
    let (_, report) = f.feed(&mut outside, Input::Accepted);
    assert!(matches!(
        report.notice,
        Some(Notice::Refused {
            kind: RefusalKind::NotAllowed,
            ..
        })
    ));
    assert_eq!(outside.state().kind(), StateKind::Refused);
    assert!(matches!(queued(&outside)[..], [ConductorMsg::Refusal(_)]));

    f.ended = true;
    let mut late = fresh;
    let (ch, report) = f.feed(&mut late, Input::Accepted);
    assert!(ch.closed() && report.notice.is_none() && !ch.transmit);
    assert_eq!(late.pending(), b"");
}

#[test]
fn a_valid_hello_joins_and_becomes_ready() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::AwaitingHello);
    let (ch, report) = f.feed(&mut c, hello("a"));
    assert_eq!(report.notice, Some(Notice::Joined(id("a"))));
    assert!(ch.joined() && !ch.left());
    assert_eq!(ch.ready(), Some(true));
    assert_eq!(ch.round(), None);
    assert_eq!((c.state(), c.id()), (&ConnState::Idle, Some(id("a"))));
}

#[test]
fn a_hello_is_refused_for_a_taken_id_or_when_full() {
    let mut f = Fixture::new();
    let mut c = f.conn_in(StateKind::AwaitingHello);
    let (ch, report) = f.feed(&mut c, hello("taken"));
    let Some(Notice::Refused { kind, reason }) = &report.notice else {
        panic!("{ch:?}")
    };
    assert_eq!(
        (*kind, reason.as_str()),
        (RefusalKind::DuplicateId, "duplicate id taken")
    );
    assert!(!ch.joined() && ch.ready().is_none());
    assert_eq!(c.id(), None, "a refused hello names nobody");

    f.members = f.config.max_clients;
    let mut c = f.conn_in(StateKind::AwaitingHello);
    let (_, report) = f.feed(&mut c, hello("fresh"));
    assert!(matches!(
        report.notice,
        Some(Notice::Refused {
            kind: RefusalKind::Full,
            ..
        })
    ));
}

// --- Idle, GoSent, Working, Done -------------------------------------------------------------

#[test]
fn a_go_leaves_the_ready_and_a_done_rejoins_them() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::Idle);
    let (ch, _) = f.feed(&mut c, Input::Go(9));
    assert_eq!(c.state(), &ConnState::GoSent { step: 9 });
    assert_eq!(ch.ready(), Some(false));
    assert!(ch.transmit && ch.round().is_none());
    assert_eq!(queued(&c), [ConductorMsg::Go(9)]);

    let (ch, _) = f.feed(&mut c, msg(ClientMsg::Done));
    let hops: Vec<_> = ch.transitions().collect();
    assert_eq!(
        hops,
        [
            (StateKind::GoSent, StateKind::Working),
            (StateKind::Working, StateKind::Done)
        ],
        "! in GoSent counts as K then Done"
    );
    assert_eq!(ch.round(), Some(RoundExit::Done));
    assert_eq!(ch.ready(), Some(true));
    assert_eq!(c.state(), &ConnState::Done { step: 9 });
}

#[test]
fn k_and_liveness_traffic_change_nothing_the_conductor_counts() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::GoSent);
    let (ch, report) = f.feed(&mut c, msg(ClientMsg::Received));
    assert!(ch.ready().is_none() && ch.round().is_none() && report.notice.is_none());
    for m in [ClientMsg::Working, ClientMsg::Here] {
        assert!(unchanged(f.feed(&mut c, msg(m))));
    }
    let (ch, _) = f.feed(&mut c, msg(ClientMsg::Ping));
    assert!(ch.transmit && ch.transitions().next().is_none());
    assert_eq!(queued(&c), [ConductorMsg::Here]);
}

#[test]
fn a_participant_that_leaves_with_bytes_queued_closes_once_they_are_flushed() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::Working);
    f.feed(&mut c, Input::Slow);
    let (ch, report) = f.feed(&mut c, msg(ClientMsg::Exit));
    assert_eq!(report.notice, Some(Notice::Left(Leave::Exit)));
    assert!(ch.left() && !ch.closed());
    assert_eq!(ch.round(), Some(RoundExit::Removed));
    assert!(matches!(
        c.state(),
        ConnState::Closing { why: Why::Left, .. }
    ));
    assert!(unchanged(f.feed(&mut c, Input::Sent(0))));
    let (ch, _) = f.feed(&mut c, Input::Sent(1));
    assert!(ch.closed() && !ch.left(), "counted out once, when it left");
}

#[test]
fn a_member_that_does_not_read_is_dropped_when_its_queue_overflows() {
    let mut f = Fixture::new();
    let mut c = f.conn_in(StateKind::Idle);
    f.config.max_queued_bytes = 4;
    let (ch, report) = f.feed(&mut c, Input::Go(1));
    assert_eq!(report.dropped, Some(5), "the Go is five bytes");
    assert!(ch.closed() && ch.left() && !ch.transmit);
    assert_eq!(ch.round(), None, "it never took part in the round");
    assert_eq!(c.pending(), b"", "the queue is given up");
}

#[test]
fn the_end_says_c_and_x_and_closes_after_them() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::Done);
    let (ch, _) = f.feed(&mut c, Input::End { error: false });
    assert_eq!(queued(&c), [ConductorMsg::Cease, ConductorMsg::Exit]);
    assert!(ch.left() && !ch.closed());
    assert!(matches!(
        c.state(),
        ConnState::Closing {
            why: Why::Ended,
            ..
        }
    ));
    assert!(unchanged(f.feed(&mut c, Input::End { error: true })));
}

#[test]
fn a_restart_closes_every_state_at_once_and_says_nothing() {
    let f = Fixture::new();
    let member_states = [
        StateKind::AwaitingHello,
        StateKind::Idle,
        StateKind::GoSent,
        StateKind::Working,
        StateKind::Done,
    ];
    let mut conns: Vec<Conn> = member_states.iter().map(|&k| f.conn_in(k)).collect();
    // Refused with its `R` still queued, and closing with `C` and `X` queued.
    let mut refused = f.conn_in(StateKind::Idle);
    f.feed(&mut refused, msg(ClientMsg::Received));
    let mut closing = f.conn_in(StateKind::Idle);
    f.feed(&mut closing, Input::End { error: false });
    conns.extend([refused, closing]);
    for mut c in conns {
        let kind = c.state().kind();
        let (ch, _) = f.feed(&mut c, Input::Abandon);
        assert_eq!(c.state().kind(), StateKind::Closed, "from {kind}");
        assert_eq!(c.pending(), b"", "from {kind}: what was queued is given up");
        assert!(ch.closed() && !ch.transmit, "from {kind}");
        assert_eq!(ch.left(), kind.is_joined(), "from {kind}");
        assert!(
            unchanged(f.feed(&mut c, Input::Abandon)),
            "closed stays closed"
        );
    }
}

// --- Refused, Closing ------------------------------------------------------------------------

#[test]
fn a_refused_connection_reads_nothing_and_closes_once_flushed() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::Idle);
    let (ch, report) = f.feed(&mut c, msg(ClientMsg::Received));
    let reason = Reason::lossy("protocol violation: received 'K' (0x4b) in state Idle");
    assert_eq!(
        report.notice,
        Some(Notice::Refused {
            kind: RefusalKind::Violation,
            reason
        })
    );
    assert!(ch.left() && ch.ready() == Some(false));
    assert!(
        !c.hear(Instant::from_millis(9), b"K"),
        "it reads nothing more"
    );
    for input in [
        msg(ClientMsg::Done),
        Input::Go(2),
        Input::Timeout(Timer::Drop),
    ] {
        assert!(unchanged(f.feed(&mut c, input)));
    }
    let (ch, report) = f.feed(&mut c, Input::Timeout(Timer::Linger));
    assert_eq!(report.notice, Some(Notice::GaveUpFlushing));
    assert!(ch.closed());
}

// --- timers --------------------------------------------------------------------------------

#[test]
fn each_state_has_the_deadlines_of_its_timers_and_no_others() {
    let mut f = Fixture::new();
    f.config.hello_timeout = Duration::from_millis(100);
    f.config.probe_after = Duration::from_millis(300);
    f.config.drop_after = Duration::from_millis(1000);
    f.config.linger = Duration::from_millis(50);
    let all = [Timer::Hello, Timer::Probe, Timer::Drop, Timer::Linger];
    let mut refused = f.conn_in(StateKind::Idle);
    f.feed(&mut refused, msg(ClientMsg::Received));
    let mut asked = f.conn_in(StateKind::Working);
    f.feed(&mut asked, Input::Timeout(Timer::Probe));
    for c in [f.conn_in(StateKind::AwaitingHello), asked, refused] {
        let kind = c.state().kind();
        for timer in all {
            let has = c.deadline(timer, &f.config).is_some();
            assert_eq!(has, kind.timers().contains(timer), "{timer:?} in {kind}");
        }
    }
    let at = |ms| Instant::from_millis(ms);
    let c = f.conn_in(StateKind::AwaitingHello);
    assert_eq!(c.next_deadline(&f.config), Some(at(100)), "from the accept");
    let mut c = f.conn_in(StateKind::Idle);
    assert_eq!(c.deadline(Timer::Drop, &f.config), None, "not asked yet");
    assert_eq!(c.next_deadline(&f.config), Some(at(300)), "heard at 0");
    let asked_at = Context {
        now: at(2000),
        ..f.ctx()
    };
    c.handle(Input::Timeout(Timer::Probe), &asked_at);
    assert_eq!(c.deadline(Timer::Drop, &f.config), Some(at(2700)));
    assert_eq!(
        c.due(at(2700), &f.config),
        Some(Timer::Drop),
        "before a probe"
    );
    assert_eq!(c.due(at(2299), &f.config), None);
    assert_eq!(c.due(at(2300), &f.config), Some(Timer::Probe));
}

// --- reading ---------------------------------------------------------------------------------

#[test]
fn messages_are_read_across_any_split_and_garbage_takes_the_rest() {
    let f = Fixture::new();
    let mut c = f.conn_in(StateKind::AwaitingHello);
    let mut stream = Vec::new();
    ClientMsg::Hello(RawHello {
        version: VERSION,
        id: *id("slow").as_wire(),
    })
    .encode_into(&mut stream);
    stream.extend_from_slice(b"?Z?");
    let (first, second) = stream.split_at(5);
    let mut rest = first;
    assert!(c.next_message(&mut rest).is_none());
    assert_eq!((rest, c.incomplete_input()), (&b""[..], first));
    let mut rest = second;
    let read: Vec<_> = std::iter::from_fn(|| c.next_message(&mut rest)).collect();
    assert!(matches!(read[0], Ok(ClientMsg::Hello(_))));
    assert_eq!(read[1], Ok(ClientMsg::Ping));
    assert!(matches!(
        read[2],
        Err(DecodeError::UnknownType { byte: b'Z', .. })
    ));
    assert_eq!(read.len(), 3, "nothing after the garbage");
    assert_eq!(c.incomplete_input(), b"");
}
