//! A deterministic in-memory driver for the core, for tests, simulations and model checking:
//! connections are numbers, the clock is a value that only moves when told, and everything the
//! core sends is kept per connection and decoded. After every step (one input and the drain of
//! its outputs) it checks the [`invariants`](crate::invariants) and panics, naming the input,
//! when one is broken. Performs no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::conn::Event;
use crate::core::{
    self, Command, Conductor, ConnId, ControlError, CoreConfig, Input, Outcome, Output, StopRequest,
};
use crate::invariants::{check_state, check_step, Snapshot, Step, StepInput};
use crate::record::Record;
use crate::round::EndKind;
use crate::time::{Duration, Instant};
use crate::wire::{ClientMsg, ConductorMsg, Id, RawHello, Reason, VERSION};

/// What the driver saw during one step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Bytes written to each connection, in order.
    pub written: BTreeMap<ConnId, Vec<u8>>,
    /// Connections closed, in order.
    pub closed: Vec<ConnId>,
    /// The ending, if the core exited in this step.
    pub exit: Option<EndKind>,
    /// The events the core output, in order.
    pub events: Vec<core::Event>,
    /// The records the core asked to persist, in order.
    pub persisted: Vec<Record>,
}

/// Drives a [`Conductor`] in virtual time and records what it does.
#[derive(Clone, Debug)]
pub struct Harness {
    /// The core under test.
    pub core: Conductor,
    /// The virtual clock.
    pub now: Instant,
    /// Bytes the core wrote to each connection and the client has not taken yet.
    inbound: BTreeMap<ConnId, Vec<u8>>,
    /// Connections whose client does not read: their queues are not flushed.
    stalled: BTreeSet<ConnId>,
    /// Connections the core closed, in order.
    pub closed: Vec<ConnId>,
    /// How the core ended, once it has.
    pub exit: Option<EndKind>,
    /// How many times status was due.
    pub status_due: usize,
    /// Keep every event in [`events`](Self::events), not only the last step's (off by
    /// default: the model checker clones harnesses and wants them small).
    pub keep_events: bool,
    /// Every event output while `keep_events` was on, in order.
    pub events: Vec<core::Event>,
    next_port: u16,
    /// What the last step did.
    observed: Observed,
}

impl Harness {
    /// A harness at time zero.
    pub fn new(config: CoreConfig) -> Self {
        let now = Instant::ZERO;
        let mut h = Harness {
            core: Conductor::new(config, now),
            now,
            inbound: BTreeMap::new(),
            stalled: BTreeSet::new(),
            closed: Vec::new(),
            exit: None,
            status_due: 0,
            keep_events: false,
            events: Vec::new(),
            next_port: 40000,
            observed: Observed::default(),
        };
        h.drain();
        if let Err(v) = check_state(&h.core) {
            panic!("invariant broken in the initial state: {v}");
        }
        h
    }

    /// A harness with the defaults, liveness timers off, and the given changes.
    pub fn with(change: impl FnOnce(&mut CoreConfig)) -> Self {
        let mut config = CoreConfig::new(Id::new("conductor").unwrap_or_else(|_| unreachable!()));
        config.probe_after = Duration::ZERO;
        config.drop_after = Duration::ZERO;
        config.rounds.slow_round = Duration::ZERO;
        change(&mut config);
        Harness::new(config)
    }

    /// Opens a connection from 127.0.0.1.
    pub fn connect(&mut self) -> ConnId {
        self.connect_from(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// Opens a connection from `ip`.
    pub fn connect_from(&mut self, ip: IpAddr) -> ConnId {
        self.next_port = self.next_port.wrapping_add(1);
        let before = self.begin_step();
        let conn = self
            .core
            .accept(self.now, SocketAddr::new(ip, self.next_port));
        self.inbound.insert(conn, Vec::new());
        self.drain();
        self.end_step(&before, StepInput::Accepted(conn));
        conn
    }

    /// Opens a connection, discards the conductor's hello and completes the client's as
    /// `name`. Whatever the conductor sends after that is left to [`take`](Self::take).
    pub fn join(&mut self, name: &str) -> ConnId {
        let conn = self.connect();
        let _ = self.take(conn);
        self.send_msg(conn, &hello(name));
        conn
    }

    /// Delivers raw bytes from a client.
    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.input(Input::Received { conn, bytes });
    }

    /// Delivers one encoded message from a client.
    pub fn send_msg(&mut self, conn: ConnId, msg: &ClientMsg) {
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes);
        self.send(conn, &bytes);
    }

    /// The client closes its connection.
    pub fn close(&mut self, conn: ConnId) {
        self.input(Input::Closed { conn });
    }

    /// Feeds any input as one step: handles it, drains the outputs, checks the invariants.
    pub fn input(&mut self, input: Input<'_>) {
        let before = self.begin_step();
        self.core.handle_input(self.now, input.clone());
        self.drain();
        self.end_step(&before, StepInput::Input(&input));
    }

    /// What the last step wrote, closed and ended.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    fn begin_step(&mut self) -> Snapshot {
        self.observed = Observed::default();
        Snapshot::of(&self.core)
    }

    /// Checks the invariants; a broken one panics with the input that broke it.
    fn end_step(&self, before: &Snapshot, input: StepInput<'_>) {
        let step = Step {
            input,
            written: &self.observed.written,
            closed: &self.observed.closed,
            exit: self.observed.exit.as_ref(),
        };
        let result = check_step(before, &step, &self.core).and_then(|()| check_state(&self.core));
        if let Err(v) = result {
            panic!(
                "invariant broken at {} µs after {input:?}: {v}",
                self.now.as_micros()
            );
        }
    }

    /// An operator's command, as one step; returns the core's answer.
    pub fn control(&mut self, command: Command) -> Result<Outcome, ControlError> {
        let before = self.begin_step();
        let answer = self.core.control(self.now, command);
        self.drain();
        self.end_step(&before, StepInput::Control(&command));
        answer
    }

    /// Asks the conductor to stop.
    pub fn stop(&mut self, how: StopRequest) {
        self.input(Input::Stop(how));
    }

    /// Moves the clock forward by `by`, firing every deadline on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let end = self.now + by;
        while let Some(at) = self.core.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.input(Input::Tick);
        }
        self.now = end;
        self.input(Input::Tick);
    }

    /// Jumps to the core's next deadline and fires it; false when there is none.
    pub fn fire_next_timer(&mut self) -> bool {
        match self.core.poll_timeout() {
            Some(at) => {
                self.now = self.now.max(at);
                self.input(Input::Tick);
                true
            }
            None => false,
        }
    }

    /// Stops (or resumes) reading for a connection. Resuming is a step: the queue is written.
    pub fn set_stalled(&mut self, conn: ConnId, stalled: bool) {
        if stalled {
            self.observed = Observed::default();
            self.stalled.insert(conn);
        } else {
            self.stalled.remove(&conn);
            let n = self.core.pending(conn).len();
            let before = self.begin_step();
            self.flush(conn);
            self.drain();
            self.end_step(&before, StepInput::Input(&Input::Sent { conn, n }));
        }
    }

    /// Acts on every output: flushes queues of reading clients, records closes and the end.
    pub fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Transmit(conn) => self.flush(conn),
                Output::Close(conn) => {
                    self.closed.push(conn);
                    self.observed.closed.push(conn);
                    self.stalled.remove(&conn);
                }
                Output::StatusDue => self.status_due += 1,
                Output::Persist(record) => self.observed.persisted.push(record),
                Output::Event(event) => {
                    if self.keep_events {
                        self.events.push(event.clone());
                    }
                    self.observed.events.push(event);
                }
                Output::Exit(kind) => {
                    self.observed.exit = Some(kind.clone());
                    self.exit = Some(kind);
                }
            }
        }
    }

    fn flush(&mut self, conn: ConnId) {
        if self.stalled.contains(&conn) {
            return;
        }
        let pending = self.core.pending(conn);
        if pending.is_empty() {
            return;
        }
        let n = pending.len();
        self.inbound
            .entry(conn)
            .or_default()
            .extend_from_slice(pending);
        self.observed
            .written
            .entry(conn)
            .or_default()
            .extend_from_slice(pending);
        self.core.handle_input(self.now, Input::Sent { conn, n });
    }

    /// Takes and decodes everything the conductor sent to `conn` so far.
    pub fn take(&mut self, conn: ConnId) -> Vec<ConductorMsg> {
        let bytes = self
            .inbound
            .get_mut(&conn)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut msgs = Vec::new();
        let mut rest = &bytes[..];
        while let Ok(Some((msg, n))) = ConductorMsg::decode(rest) {
            msgs.push(msg);
            rest = &rest[n..];
        }
        assert!(
            rest.is_empty(),
            "undecodable bytes from the conductor: {rest:?}"
        );
        msgs
    }

    /// True once the core closed `conn`.
    pub fn is_closed(&self, conn: ConnId) -> bool {
        self.closed.contains(&conn)
    }
}

/// The bytes a client named `name` sends for a message event of the transition table (`garbage`
/// is a `Z`, a byte that starts no message); `None` for the events that are no message.
pub fn client_bytes(event: Event, name: &str) -> Option<Vec<u8>> {
    let msg = match event {
        Event::Hello => hello(name),
        Event::Received => ClientMsg::Received,
        Event::Done => ClientMsg::Done,
        Event::Working => ClientMsg::Working,
        Event::Here => ClientMsg::Here,
        Event::Ping => ClientMsg::Ping,
        Event::Exit => ClientMsg::Exit,
        Event::Refusal => ClientMsg::Refusal(Reason::lossy("leaving")),
        Event::Garbage => return Some(b"Z".to_vec()),
        Event::Eof
        | Event::Go
        | Event::Countdown
        | Event::Slow
        | Event::End
        | Event::Abandon
        | Event::HelloTimeout
        | Event::Probe
        | Event::LivenessTimeout
        | Event::Linger
        | Event::Flushed => return None,
    };
    let mut bytes = Vec::new();
    msg.encode_into(&mut bytes);
    Some(bytes)
}

/// A valid client hello for `name`.
pub fn hello(name: &str) -> ClientMsg {
    let id = Id::new(name).unwrap_or_else(|e| panic!("test id {name:?}: {e}"));
    ClientMsg::Hello(RawHello {
        version: VERSION,
        id: *id.as_wire(),
    })
}
