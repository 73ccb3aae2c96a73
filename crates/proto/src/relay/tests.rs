//! The relay against a scripted upstream and participants: bytes in, bytes out, in virtual
//! time.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use super::*;
use crate::core::{ConnId, CoreConfig};
use crate::wire::{ClientMsg, ConductorMsg, RawHello, VERSION};

/// A core and its relay, with everything they send kept and decoded.
struct Rig {
    core: Conductor,
    relay: Relay,
    now: Instant,
    /// What the relay sent upstream, decoded, since the last look.
    up: Vec<u8>,
    connects: usize,
    closes: usize,
    events: Vec<RelayEvent>,
    core_events: Vec<CoreEvent>,
    down: BTreeMap<ConnId, Vec<u8>>,
    exit: Option<EndKind>,
    port: u16,
}

fn id(name: &str) -> Id {
    Id::new(name).unwrap()
}

impl Rig {
    fn new(min_clients: u32) -> Rig {
        let mut config = CoreConfig::new(id("relay-1"));
        config.rounds.min_clients = min_clients;
        config.rounds.slow_round = Duration::ZERO;
        config.probe_after = Duration::ZERO;
        config.drop_after = Duration::ZERO;
        config.status_interval = None;
        let mut core = Conductor::new(config, Instant::ZERO);
        let relay = Relay::new(RelayConfig::new(id("relay-1")), &mut core);
        let mut rig = Rig {
            core,
            relay,
            now: Instant::ZERO,
            up: Vec::new(),
            connects: 0,
            closes: 0,
            events: Vec::new(),
            core_events: Vec::new(),
            down: BTreeMap::new(),
            exit: None,
            port: 50000,
        };
        rig.pump();
        rig
    }

    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(out) = self.core.poll_output() {
                busy = true;
                self.relay.observe(&mut self.core, self.now, &out);
                match out {
                    Output::Transmit(c) => {
                        let bytes = self.core.pending(c).to_vec();
                        self.down.entry(c).or_default().extend(&bytes);
                        let n = bytes.len();
                        self.core.handle_input(self.now, Input::Sent { conn: c, n });
                    }
                    Output::Event(e) => self.core_events.push(e),
                    Output::Exit(kind) => self.exit = Some(kind),
                    Output::Close(_) | Output::StatusDue | Output::Persist(_) => {}
                }
            }
            self.relay.settle(&self.core);
            while let Some(out) = self.relay.poll_output() {
                busy = true;
                match out {
                    UpOutput::Connect => self.connects += 1,
                    UpOutput::Transmit => {
                        let bytes = self.relay.pending().to_vec();
                        self.up.extend(&bytes);
                        self.relay
                            .handle(&mut self.core, self.now, UpInput::Sent(bytes.len()));
                    }
                    UpOutput::Close => self.closes += 1,
                    UpOutput::Event(e) => self.events.push(e),
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn up_input(&mut self, input: UpInput<'_>) {
        self.relay.handle(&mut self.core, self.now, input);
        self.pump();
    }

    /// The upstream conductor sends these messages.
    fn upstream_says(&mut self, msgs: &[ConductorMsg]) {
        let mut bytes = Vec::new();
        for m in msgs {
            m.encode_into(&mut bytes);
        }
        self.up_input(UpInput::Received(&bytes));
    }

    /// Connects upstream and completes the hellos.
    fn join_up(&mut self) {
        self.up_input(UpInput::Connected);
        self.upstream_says(&[ConductorMsg::Hello(RawHello {
            version: VERSION,
            id: *id("root").as_wire(),
        })]);
        assert_eq!(self.take_up(), vec![hello("relay-1")]);
    }

    fn take_up(&mut self) -> Vec<ClientMsg> {
        let bytes = std::mem::take(&mut self.up);
        decode_all(&bytes, ClientMsg::decode)
    }

    fn join_down(&mut self, name: &str) -> ConnId {
        self.port += 1;
        let peer = SocketAddr::from(([127, 0, 0, 1], self.port));
        let conn = self.core.accept(self.now, peer);
        self.pump();
        self.send_down(conn, &hello(name));
        let _ = self.take_down(conn);
        conn
    }

    fn send_down(&mut self, conn: ConnId, msg: &ClientMsg) {
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes);
        self.core.handle_input(
            self.now,
            Input::Received {
                conn,
                bytes: &bytes,
            },
        );
        self.pump();
    }

    fn take_down(&mut self, conn: ConnId) -> Vec<ConductorMsg> {
        let bytes = self.down.remove(&conn).unwrap_or_default();
        decode_all(&bytes, ConductorMsg::decode)
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
        self.up_input(UpInput::Tick);
        self.core.handle_input(self.now, Input::Tick);
        self.pump();
    }
}

fn hello(name: &str) -> ClientMsg {
    ClientMsg::Hello(RawHello {
        version: VERSION,
        id: *id(name).as_wire(),
    })
}

fn decode_all<M>(mut bytes: &[u8], decode: fn(&[u8]) -> crate::wire::Decoded<M>) -> Vec<M> {
    let mut out = Vec::new();
    while let Ok(Some((msg, n))) = decode(bytes) {
        out.push(msg);
        bytes = &bytes[n..];
    }
    assert!(bytes.is_empty(), "undecodable bytes left: {bytes:?}");
    out
}

#[test]
fn hello_upstream_waits_for_min_clients() {
    let mut rig = Rig::new(2);
    let _a = rig.join_down("a");
    assert_eq!(rig.connects, 0);
    assert_eq!(rig.relay.status().state, "waiting");
    let _b = rig.join_down("b");
    assert_eq!(rig.connects, 1);
    assert_eq!(rig.relay.status().state, "connecting");
    rig.join_up();
    assert!(rig.relay.is_joined());
    assert_eq!(rig.relay.status().state, "connected");
    // The relay never starts a wave of its own.
    assert!(rig.take_down(_a).is_empty());
}

#[test]
fn go_upstream_becomes_a_wave_with_the_same_step_and_done_goes_up_at_its_end() {
    let mut rig = Rig::new(2);
    let a = rig.join_down("a");
    let b = rig.join_down("b");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(41)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Received]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(41)]);
    assert_eq!(rig.take_down(b), vec![ConductorMsg::Go(41)]);
    rig.send_down(a, &ClientMsg::Done);
    assert!(
        rig.take_up().is_empty(),
        "Done before the whole subtree is done"
    );
    rig.send_down(b, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
    assert_eq!(rig.relay.last_step(), Some(41));
    // Steps are the upstream's: a wrap to 0 is passed on as it is.
    rig.upstream_says(&[ConductorMsg::Go(0)]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(0)]);
}

#[test]
fn nobody_ready_downstream_answers_done_at_once() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.core.handle_input(rig.now, Input::Closed { conn: a });
    rig.pump();
    rig.upstream_says(&[ConductorMsg::Go(3)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Received, ClientMsg::Done]);
}

#[test]
fn working_goes_up_every_heartbeat_and_for_a_probe() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(0)]);
    let _ = rig.take_up();
    rig.advance(999);
    assert!(rig.take_up().is_empty());
    rig.advance(1);
    assert_eq!(rig.take_up(), vec![ClientMsg::Working]);
    rig.advance(1000);
    assert_eq!(rig.take_up(), vec![ClientMsg::Working]);
    rig.upstream_says(&[ConductorMsg::Ping]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Working]);
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
    rig.advance(5000);
    assert!(rig.take_up().is_empty(), "no W between rounds");
    rig.upstream_says(&[ConductorMsg::Ping]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Here]);
}

#[test]
fn t_and_s_are_passed_down_in_order_with_the_go() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::ShuttingDown(2), ConductorMsg::Go(7)]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::ShuttingDown(2), ConductorMsg::Go(7)]
    );
    assert_eq!(rig.core.status(rig.now).phase, "stopping");
    rig.upstream_says(&[ConductorMsg::Slow]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Slow]);
    assert!(rig.core_events.iter().any(
        |e| matches!(e, CoreEvent::SlowRound { step: 7, waiting_on } if waiting_on.len() == 1)
    ));
}

#[test]
fn cease_upstream_ends_with_c_x_and_exit_0() {
    for last in [
        vec![ConductorMsg::Cease, ConductorMsg::Exit],
        vec![ConductorMsg::Exit],
    ] {
        let mut rig = Rig::new(1);
        let a = rig.join_down("a");
        rig.join_up();
        rig.upstream_says(&last);
        assert_eq!(
            rig.take_down(a),
            vec![ConductorMsg::Cease, ConductorMsg::Exit]
        );
        assert_eq!(rig.exit.as_ref().map(EndKind::exit_code), Some(0));
        assert!(
            rig.take_up().is_empty(),
            "nothing is said after the upstream's goodbye"
        );
        assert!(rig.relay.is_over());
    }
}

#[test]
fn error_upstream_ends_with_e_x_and_exit_1() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(0), ConductorMsg::Error, ConductorMsg::Exit]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Go(0), ConductorMsg::Error, ConductorMsg::Exit]
    );
    assert_eq!(rig.exit.as_ref().map(EndKind::exit_code), Some(1));
}

#[test]
fn a_protocol_error_or_a_refusal_upstream_ends_the_relay_with_e() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(0), ConductorMsg::Go(1)]);
    assert_eq!(rig.take_down(a).last(), Some(&ConductorMsg::Exit));
    assert_eq!(rig.exit.as_ref().map(EndKind::exit_code), Some(1));
    assert_eq!(rig.closes, 1);

    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.up_input(UpInput::Connected);
    rig.upstream_says(&[ConductorMsg::Refusal(Reason::new("full").unwrap())]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Error, ConductorMsg::Exit]
    );
    assert!(matches!(&rig.exit, Some(EndKind::Fatal(why)) if why.contains("full")));
}

#[test]
fn a_lost_upstream_is_reconnected_with_backoff_and_the_participants_stay() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    let _ = rig.take_up();
    rig.up_input(UpInput::Closed);
    assert!(matches!(
        rig.events.last(),
        Some(RelayEvent::Lost { at: Moment::During(5), retry_in, before_hello: false }) if *retry_in == FIRST_RETRY
    ));
    assert_eq!(rig.relay.status().state, "reconnecting");
    assert_eq!(rig.connects, 1);
    rig.advance(100);
    assert_eq!(rig.connects, 2);
    // The connection is refused: the pause doubles.
    rig.up_input(UpInput::Closed);
    rig.advance(199);
    assert_eq!(rig.connects, 2);
    rig.advance(1);
    assert_eq!(rig.connects, 3);
    // The downstream round of the lost session finishes; its Done is not sent on the new
    // connection.
    rig.join_up();
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(5)]);
    rig.send_down(a, &ClientMsg::Done);
    assert!(rig.take_up().is_empty());
    assert_eq!(rig.take_down(a), vec![]);
    rig.upstream_says(&[ConductorMsg::Go(9)]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(9)]);
    assert_eq!(rig.core.connection_count(), 1);
}

#[test]
fn a_go_on_the_new_connection_waits_for_the_old_round() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    let _ = rig.take_up();
    rig.up_input(UpInput::Closed);
    rig.advance(100);
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(6)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Received]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(5)]);
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(6)]);
    assert!(
        rig.take_up().is_empty(),
        "Done for 6 only when round 6 ends"
    );
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
}

#[test]
fn a_duplicate_id_refusal_is_tried_again_and_the_window_ends_the_relay() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.up_input(UpInput::Connected);
    rig.upstream_says(&[ConductorMsg::Refusal(
        Reason::new("duplicate id relay-1").unwrap(),
    )]);
    assert!(matches!(
        rig.events.last(),
        Some(RelayEvent::DuplicateId { .. })
    ));
    assert!(rig.exit.is_none());
    // Nobody answers for the whole window.
    for _ in 0..40 {
        rig.advance(1000);
        if rig.exit.is_some() {
            break;
        }
        rig.up_input(UpInput::Closed);
    }
    assert!(matches!(&rig.exit, Some(EndKind::Fatal(why)) if why.contains("reconnect window")));
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Error, ConductorMsg::Exit]
    );
}

#[test]
fn sigint_says_c_x_down_and_x_up() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(0)]);
    let _ = rig.take_up();
    rig.up_input(UpInput::Stop(StopRequest::Interrupt));
    assert_eq!(rig.take_up(), vec![ClientMsg::Exit]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Go(0), ConductorMsg::Cease, ConductorMsg::Exit]
    );
    assert_eq!(rig.exit, Some(EndKind::Interrupt));
}

#[test]
fn sigterm_finishes_the_round_then_done_and_x_up_then_c_x_down() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(0)]);
    let _ = rig.take_up();
    let _ = rig.take_down(a);
    rig.up_input(UpInput::Stop(StopRequest::Graceful));
    assert!(rig.exit.is_none());
    assert!(rig.take_up().is_empty());
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done, ClientMsg::Exit]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Cease, ConductorMsg::Exit]
    );
    assert_eq!(rig.exit, Some(EndKind::Graceful));

    // Between rounds it ends at once.
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.up_input(UpInput::Stop(StopRequest::Graceful));
    assert_eq!(rig.take_up(), vec![ClientMsg::Exit]);
    assert_eq!(
        rig.take_down(a),
        vec![ConductorMsg::Cease, ConductorMsg::Exit]
    );
}

#[test]
fn backoff_doubles_up_to_a_second() {
    let pauses: Vec<u64> = (0..6).map(|n| backoff(n).as_millis()).collect();
    assert_eq!(pauses, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(backoff(u32::MAX), MAX_RETRY);
}

/// A relay whose participant `a` finished step 5 and answered it upstream, or (with
/// `finish` false) still works on it, when the upstream connection is lost and made again.
fn reconnected_during_or_after(finish: bool) -> (Rig, ConnId) {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(5)]);
    if finish {
        rig.send_down(a, &ClientMsg::Done);
        assert_eq!(rig.take_up(), vec![ClientMsg::Received, ClientMsg::Done]);
    } else {
        assert_eq!(rig.take_up(), vec![ClientMsg::Received]);
    }
    rig.up_input(UpInput::Closed);
    rig.advance(100);
    rig.join_up();
    (rig, a)
}

#[test]
fn a_restarted_upstream_sending_a_finished_step_again_gets_done_at_once_and_no_wave() {
    let (mut rig, a) = reconnected_during_or_after(true);
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
    assert_eq!(rig.take_down(a), vec![], "no step twice below");
    assert!(rig.events.contains(&RelayEvent::Repeated { step: 5 }));
    rig.upstream_says(&[ConductorMsg::Go(6)]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(6)]);
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Received, ClientMsg::Done]);
}

#[test]
fn a_restarted_upstream_sending_a_running_step_again_gets_done_at_its_end() {
    let (mut rig, a) = reconnected_during_or_after(false);
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Received]);
    assert_eq!(rig.take_down(a), vec![], "no second wave");
    assert!(rig.events.contains(&RelayEvent::Resumed { step: 5 }));
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
    rig.upstream_says(&[ConductorMsg::Go(6)]);
    assert_eq!(rig.take_down(a), vec![ConductorMsg::Go(6)]);
}

#[test]
fn a_round_that_ends_between_the_reconnection_and_the_repeated_go_is_answered_at_once() {
    let (mut rig, a) = reconnected_during_or_after(false);
    rig.send_down(a, &ClientMsg::Done);
    assert_eq!(rig.take_up(), vec![], "not on the new connection unasked");
    rig.upstream_says(&[ConductorMsg::Go(5)]);
    assert_eq!(rig.take_up(), vec![ClientMsg::Done]);
    assert_eq!(rig.take_down(a), vec![]);
    assert!(rig.events.contains(&RelayEvent::Repeated { step: 5 }));
}

#[test]
fn a_planned_restart_closes_both_sides_without_a_word() {
    let mut rig = Rig::new(1);
    let a = rig.join_down("a");
    rig.join_up();
    rig.upstream_says(&[ConductorMsg::Go(2)]);
    let _ = (rig.take_up(), rig.take_down(a));
    rig.up_input(UpInput::Stop(StopRequest::Restart));
    assert_eq!(rig.take_up(), vec![], "no X upstream");
    assert_eq!(rig.closes, 1);
    assert_eq!(rig.take_down(a), vec![], "no C or X below");
    assert_eq!(rig.exit, Some(EndKind::Restart));
    assert!(rig.relay.is_over());
}
