//! The sans-IO conductor: a slab of connection state machines plus the round controller behind
//! a three-call contract. It performs no I/O, reads no clock and starts no thread.
//!
//! # The contract
//! 1. Feed an event: [`Conductor::accept`] for a new connection, or
//!    [`Conductor::handle_input`] for bytes received, bytes written, a closed connection, what
//!    the transport learnt (the names a certificate proved, a failure), time passing, a stop
//!    request or a fatal error. Every call carries `now`.
//! 2. Drain [`Conductor::poll_output`] until it returns `None`, acting on each [`Output`].
//! 3. Read [`Conductor::poll_timeout`] and call `handle_input(now, Input::Tick)` once that
//!    instant has passed (earlier is harmless).
//!
//! Outgoing bytes stay in the core, one bounded queue per connection: on
//! [`Output::Transmit`] the driver writes [`Conductor::pending`] and reports how much the socket
//! took with [`Input::Sent`]. A connection's [`ConnId`] is dead once [`Output::Close`] has been
//! polled; its slot may then be reused by a later `accept`.
//!
//! The core never logs: what happens comes out as [`Output::Event`] (see [`Event`]), and the
//! driver decides what to write.
//!
//! The operator's commands (`conductor ctl`: pause, resume, step, hold at a step, pace, exempt)
//! come in through [`Conductor::control`], which answers at once; drain the outputs after it
//! as after any input.
//!
//! The core knows nothing of encryption: a driver that speaks TLS hands it the plaintext, and
//! tells it what the handshake proved ([`Input::Identified`]) or that it failed
//! ([`Input::TransportFailed`]).
//!
//! With [`CoreConfig::persist`] the core says what to record before each wave
//! ([`Output::Persist`]), and it comes out ahead of every output already queued: a driver that
//! carries out the outputs in order has recorded the wave before it writes any byte of the
//! wave's `S` or Go. A conductor started later from that record
//! ([`CoreConfig::resume`]) sends the recorded wave again first (PROTOCOL.md "Surviving
//! restarts").

mod control;
mod event;
mod failure;
mod fingerprint;
mod follow;
mod session;
mod snapshot;
mod timers;
mod waves;

#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::net::SocketAddr;

use slab::Slab;

use crate::cidr::Cidr;
use crate::conn::{self, Conn, ConnState};
use crate::record::Record;
use crate::round::{EndKind, RoundConfig, RoundController};
use crate::time::{Duration, Instant};
use crate::wire::Id;

pub use control::{Command, ControlError, Outcome};
pub use event::{Event, Leave, RefusalKind, Who};
pub use failure::EndOnFailure;
pub(crate) use fingerprint::relative;
pub use follow::PassDown;
pub use snapshot::MIN_STATUS_INTERVAL;
use timers::Timers;

/// Names one connection inside the core; the driver maps it to its socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(usize);

impl ConnId {
    /// The slab index behind this id, for drivers that key their own tables by it.
    pub fn index(self) -> usize {
        self.0
    }

    /// Rebuilds an id from [`index`](Self::index).
    pub fn from_index(index: usize) -> Self {
        ConnId(index)
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The settings the core needs: the protocol-relevant part of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CoreConfig {
    /// The conductor's id, sent in its hello.
    pub server_id: Id,
    /// Waves, steps, countdowns, slow rounds.
    pub rounds: RoundConfig,
    /// Clients past their hello beyond this are refused with `full`.
    pub max_clients: u32,
    /// Time allowed for a client's hello; zero = unlimited.
    pub hello_timeout: Duration,
    /// Silence before `?` is sent, and its period; zero = never probe.
    pub probe_after: Duration,
    /// Silence before a client is refused with `liveness timeout`; zero = never.
    pub drop_after: Duration,
    /// How often status is rewritten; shorter than [`MIN_STATUS_INTERVAL`] (0 included) acts
    /// as that. `None` = no status outputs at all.
    pub status_interval: Option<Duration>,
    /// Addresses allowed to connect; empty = all.
    pub allow: Vec<Cidr>,
    /// Bytes queued for one client beyond which it is dropped as not reading.
    pub max_queued_bytes: usize,
    /// How long a refused or leaving connection may take to flush before it is closed anyway.
    pub linger: Duration,
    /// Output the per-message events too ([`Event::MessageReceived`],
    /// [`Event::StateChanged`]); off, they cost nothing.
    pub trace_events: bool,
    /// Say what to record before each wave and at the end ([`Output::Persist`]): a state file
    /// is kept.
    pub persist: bool,
    /// Resume a run whose state file recorded this many waves: the last of them is sent again
    /// first, and the count of waves, the planned end and the `S` countdown go on from it
    /// ([`RoundController::resuming`]). `None` (or 0) starts at step 0.
    pub resume: Option<u64>,
    /// Which departures of a participant end the run.
    pub end_on_failure: EndOnFailure,
}

impl CoreConfig {
    /// The documented defaults, with `server_id` "conductor".
    pub fn new(server_id: Id) -> Self {
        CoreConfig {
            server_id,
            rounds: RoundConfig::default(),
            max_clients: 10_000,
            hello_timeout: Duration::from_millis(5_000),
            probe_after: Duration::from_millis(5_000),
            drop_after: Duration::from_millis(30_000),
            status_interval: Some(Duration::from_millis(1_000)),
            allow: Vec::new(),
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            linger: Duration::from_millis(2_000),
            trace_events: false,
            persist: false,
            resume: None,
            end_on_failure: EndOnFailure::Never,
        }
    }
}

/// Default bound of a connection's outgoing queue: far more than any honest client lets pile
/// up (a wave adds at most 10 bytes), small enough that 10,000 stalled clients cost little.
pub const DEFAULT_MAX_QUEUED_BYTES: usize = 64 * 1024;

/// How the operator asks the conductor to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopRequest {
    /// SIGTERM or SIGHUP: count down and end after the running round(s).
    Graceful,
    /// SIGINT: `C`, `X` and end now.
    Interrupt,
    /// SIGUSR1: record the state, close every connection without a word and end now, for a
    /// conductor started next to resume.
    Restart,
}

/// An event for the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Bytes arrived on a connection.
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes, any split of the stream.
        bytes: &'a [u8],
    },
    /// The socket accepted `n` bytes of [`Conductor::pending`].
    Sent {
        /// The connection.
        conn: ConnId,
        /// How many bytes were written.
        n: usize,
    },
    /// The peer closed or reset the connection, or it failed.
    Closed {
        /// The connection.
        conn: ConnId,
    },
    /// The transport proved who is at the other end before the hello: the names of the
    /// certificate the peer presented (TLS with client certificates). The hello must then
    /// claim one of them as its id, or it is refused with [`RefusalKind::NotInCertificate`].
    Identified {
        /// The connection.
        conn: ConnId,
        /// The names; a hello's id must equal one of them.
        names: Vec<String>,
    },
    /// The transport under the connection failed (a TLS handshake refused, plaintext on a TLS
    /// port, a broken record): the connection is refused with `reason`
    /// ([`RefusalKind::Transport`]); the driver delivers the refusal if the transport still
    /// can, and discards it otherwise.
    TransportFailed {
        /// The connection.
        conn: ConnId,
        /// What failed, in words.
        reason: String,
    },
    /// Time has passed; deadlines up to `now` are due.
    Tick,
    /// The operator asked to stop.
    Stop(StopRequest),
    /// A fatal error: `E`, `X` and exit 1.
    Fatal(String),
}

/// An action for the driver.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// The connection's queue went from empty to non-empty: write [`Conductor::pending`] as
    /// the socket allows, reporting each write with [`Input::Sent`], until it is empty.
    Transmit(ConnId),
    /// Close the connection; everything queued for it has been written (or given up). The id
    /// is dead from now on.
    Close(ConnId),
    /// The status files are due: render [`Conductor::status`].
    StatusDue,
    /// Record this in the state file (only with [`CoreConfig::persist`]): before each wave,
    /// ahead of every output already queued, so that none of the wave's bytes can be written
    /// before it; and at the end (a finished run after a planned end, the last record again
    /// on a restart, for the driver to make it durable).
    Persist(Record),
    /// Something happened that a person may want to read about: log it, count it or ignore
    /// it.
    Event(Event),
    /// The conductor has ended: keep flushing until every connection is closed (or a deadline
    /// the driver picks passes), write the final status and exit with [`EndKind::exit_code`].
    Exit(EndKind),
}

/// A read-only view of one open connection: for checks, tests and drivers that want to show
/// more than the status snapshot.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo<'a> {
    /// The connection.
    pub conn: ConnId,
    /// The peer's address.
    pub peer: SocketAddr,
    /// Its state, with its data.
    pub state: &'a ConnState,
    /// The client's id, once its hello was accepted.
    pub client_id: Option<Id>,
    /// Ending (refused, left, dropped or the conductor ended): it counts for nothing and its
    /// input is ignored.
    pub closing: bool,
    /// Bytes queued for it and not written yet.
    pub pending: &'a [u8],
}

/// The sans-IO conductor. See the module docs for the calling contract.
#[derive(Clone, Debug)]
pub struct Conductor {
    config: CoreConfig,
    conns: Slab<Conn>,
    /// The ids of the members.
    ids: HashSet<Id>,
    rounds: RoundController,
    /// Members in Idle or Done.
    ready: u32,
    /// Members (past hello, not ending).
    members: u32,
    outputs: VecDeque<Output>,
    timers: Timers,
    next_serial: u64,
    started: Instant,
    /// The time of the input being handled.
    now: Instant,
    /// The member whose Done came last in the running round, and in the last finished one.
    round_latest_done: Option<Id>,
    last_round_slowest: Option<Id>,
    status: StatusSchedule,
    /// While no wave can go out for want of ready members: the ready count last reported in
    /// [`Event::Waiting`].
    waiting: Option<u32>,
    /// A participant's failure that ends the run, noted while an input is handled and acted on
    /// before its end (`end_on_failure`).
    failure: Option<EndKind>,
    /// Reused for the slots a broadcast goes through.
    keys: Vec<usize>,
    /// The last record output (or resumed from), with [`CoreConfig::persist`].
    record: Option<Record>,
}

/// When status was last due and with which phase.
#[derive(Clone, Debug, Default)]
struct StatusSchedule {
    last_due: Option<Instant>,
    last_phase: Option<crate::round::Phase>,
}

impl Conductor {
    /// A conductor that started at `now`, with nobody connected.
    pub fn new(config: CoreConfig, now: Instant) -> Self {
        let resume = config.resume.unwrap_or(0);
        let rounds = RoundController::resuming(config.rounds.clone(), resume);
        let record = (config.persist && resume > 0).then(|| Record {
            step: Record::step_of_wave(resume, config.rounds.step_wrap),
            waves_sent: resume,
            ..Record::start(&config.rounds)
        });
        let mut core = Conductor {
            config,
            conns: Slab::new(),
            ids: HashSet::new(),
            rounds,
            ready: 0,
            members: 0,
            outputs: VecDeque::new(),
            timers: Timers::default(),
            next_serial: 0,
            started: now,
            now,
            round_latest_done: None,
            last_round_slowest: None,
            status: StatusSchedule::default(),
            waiting: None,
            failure: None,
            keys: Vec::new(),
            record,
        };
        core.after_input(now);
        core
    }

    /// The settings.
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }

    /// The round controller, read-only.
    pub fn rounds(&self) -> &RoundController {
        &self.rounds
    }

    /// Clients past their hello and not leaving.
    pub fn member_count(&self) -> u32 {
        self.members
    }

    /// Members in Idle or Done: those the next wave would go to.
    pub fn ready_count(&self) -> u32 {
        self.ready
    }

    /// Open connections, whatever their state.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Every open connection, in slot order.
    pub fn connections(&self) -> impl Iterator<Item = ConnInfo<'_>> + '_ {
        self.conns.iter().map(|(key, c)| ConnInfo {
            conn: ConnId(key),
            peer: c.peer(),
            state: c.state(),
            client_id: c.id(),
            closing: c.state().kind().is_ending(),
            pending: c.pending(),
        })
    }

    /// True once the conductor has ended and no connection is left to flush.
    pub fn is_finished(&self) -> bool {
        self.rounds.ended().is_some() && self.conns.is_empty() && self.outputs.is_empty()
    }

    /// The state of a connection, if it is open.
    pub fn conn_state(&self, conn: ConnId) -> Option<&ConnState> {
        self.conns.get(conn.0).map(Conn::state)
    }

    /// Bytes queued for a connection, to be written to its socket.
    pub fn pending(&self, conn: ConnId) -> &[u8] {
        self.conns.get(conn.0).map_or(&[], Conn::pending)
    }

    /// The start of an incomplete message received on a connection, kept until the rest
    /// arrives: always shorter than one message (under
    /// [`MAX_MESSAGE_LEN`](crate::wire::MAX_MESSAGE_LEN) bytes).
    pub fn incomplete_input(&self, conn: ConnId) -> &[u8] {
        self.conns.get(conn.0).map_or(&[], Conn::incomplete_input)
    }

    /// The next action for the driver, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        let out = self.outputs.pop_front()?;
        if let Output::Close(conn) = out {
            // The slot is freed only now, so its index cannot be reused before the driver
            // has seen this Close.
            if self.conns.contains(conn.0) {
                self.conns.remove(conn.0);
            }
        }
        Some(out)
    }

    /// The next instant at which `Input::Tick` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let status = self.status_deadline();
        [self.timers.next(), self.rounds.poll_timeout(), status]
            .into_iter()
            .flatten()
            .min()
    }

    /// A new connection from `peer`. The conductor's hello (or, for an address outside
    /// `allow`, a refusal) is queued at once. An IPv4 peer that a dual-stack socket reports in
    /// its IPv4-mapped form (`::ffff:a.b.c.d`) is kept, logged and shown as plain IPv4.
    pub fn accept(&mut self, now: Instant, peer: SocketAddr) -> ConnId {
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        self.now = now;
        let serial = self.next_serial;
        self.next_serial += 1;
        let key = self.conns.insert(Conn::new(peer, now, serial));
        let conn = ConnId(key);
        self.step(conn, conn::Input::Accepted);
        self.rearm(conn);
        self.after_input(now);
        conn
    }

    /// Feeds one event. Drain [`poll_output`](Self::poll_output) afterwards.
    pub fn handle_input(&mut self, now: Instant, input: Input<'_>) {
        self.now = now;
        match input {
            Input::Received { conn, bytes } => self.on_received(now, conn, bytes),
            Input::Sent { conn, n } => _ = self.step(conn, conn::Input::Sent(n)),
            Input::Closed { conn } => _ = self.step(conn, conn::Input::Eof),
            Input::Identified { conn, names } => {
                _ = self.step(conn, conn::Input::Identified(names))
            }
            Input::TransportFailed { conn, reason } => {
                _ = self.step(conn, conn::Input::TransportFailed(&reason))
            }
            Input::Tick => self.on_tick(now),
            Input::Stop(StopRequest::Graceful) => {
                if self.rounds.ended().is_none() {
                    self.emit(Event::GracefulStopRequested);
                }
                self.rounds.graceful_stop();
            }
            Input::Stop(StopRequest::Interrupt) => {
                if let Some(decision) = self.rounds.end_now(EndKind::Interrupt) {
                    self.apply_decision(now, decision);
                }
            }
            Input::Stop(StopRequest::Restart) => {
                if let Some(decision) = self.rounds.end_now(EndKind::Restart) {
                    self.apply_decision(now, decision);
                }
            }
            Input::Fatal(error) => {
                if let Some(decision) = self.rounds.end_now(EndKind::Fatal(error)) {
                    self.apply_decision(now, decision);
                }
            }
        }
        self.after_input(now);
    }

    /// Breaks the ready count, to show that the invariant checks notice.
    #[cfg(test)]
    pub(crate) fn corrupt_ready_count(&mut self, ready: u32) {
        self.ready = ready;
    }

    /// Queues an event for the driver.
    fn emit(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }

    /// The time of the last input.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Runs the controller until it has nothing more to decide, turns what run control did
    /// into events, says whether the run waits for participants, then schedules status.
    fn after_input(&mut self, now: Instant) {
        self.end_on_failure(now);
        while let Some(decision) = self.rounds.poll_decision(now, self.ready) {
            self.apply_decision(now, decision);
        }
        // A failure noted while a wave went out (a participant dropped by the `S` broadcast).
        self.end_on_failure(now);
        self.take_notices(self.rounds.upcoming_step());
        self.note_waiting();
        self.prune_stale_timers();
        self.schedule_status(now);
    }
}
