//! The transition table of PROTOCOL.md ("Connection states"), executed: [`Conn::handle`] is one
//! `match (state, input)` that decides and acts. It changes the state (always through
//! `set_state`, the one place), queues the connection's own bytes (the hello, `.` answers,
//! probes, Go, `S`, `T`, the `R`,
//! `C`/`E` and `X`), and reports in a [`Change`] what the conductor must update: its counts, its
//! ids, the round, its outputs and events. Beside it, the timers of each state
//! ([`StateKind::timers`]) and when each falls due ([`Conn::deadline`]). Performs no I/O.
//!
//! The liveness drop: with probing on and `probe_after` shorter than `drop_after`, a member is
//! dropped only once it was sent `?` and stayed silent for the rest of the drop window: the
//! drop falls due `drop_after - probe_after` after the first probe that followed the last byte
//! heard. Probes go out `probe_after` into a silence, so this is `drop_after` after the last
//! byte heard, as PROTOCOL.md says, whenever the conductor keeps its own timing; but time the
//! conductor did not spend listening (stopped, or blocked on a write) is never counted against
//! a member: after such a stall a silent member is asked first and gets the rest of the window
//! to answer. With probing off, or not shorter than `drop_after`, the drop falls due
//! `drop_after` after the last byte heard.
//!
//! An exemption (`conductor ctl exempt`) moves a member's probe and drop deadlines that fall
//! before its end to its end: while a debugger holds the participant nothing is asked and
//! nobody is dropped; once it ends, what was due happens.

use std::collections::HashSet;

use crate::core::{CoreConfig, Leave, RefusalKind};
use crate::time::{Duration, Instant};
use crate::wire::{ClientMsg, ConductorMsg, DecodeError, Id, RawHello, Reason, ShowByte, VERSION};

use super::{Conn, ConnState, ProtocolViolation, StateKind, Why, ALL_STATES};

/// A connection's timers (PROTOCOL.md "A session", liveness included; the linger of an ending
/// connection). Which a state has is [`StateKind::timers`]; when each falls due,
/// [`Conn::deadline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// No hello within `hello_timeout`.
    Hello,
    /// A member was silent for `probe_after`: send `?`.
    Probe,
    /// A member was asked and stayed silent: the liveness drop.
    Drop,
    /// An ending connection did not take its last bytes within `linger`.
    Linger,
}

impl Timer {
    /// Every timer, in the order they win when several are due at once (a drop before a
    /// probe).
    pub const ALL: [Timer; 4] = [Timer::Linger, Timer::Hello, Timer::Drop, Timer::Probe];
}

/// A set of timers: those a state has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerSet(u8);

impl TimerSet {
    const fn of(timers: &[Timer]) -> TimerSet {
        let mut bits = 0;
        let mut i = 0;
        while i < timers.len() {
            bits |= 1 << timers[i] as u8;
            i += 1;
        }
        TimerSet(bits)
    }

    /// True if `timer` is in the set.
    pub fn contains(self, timer: Timer) -> bool {
        self.0 & (1 << timer as u8) != 0
    }

    /// The timers of the set, in the order they win (see [`Timer::ALL`]).
    pub fn iter(self) -> impl Iterator<Item = Timer> {
        Timer::ALL.into_iter().filter(move |&t| self.contains(t))
    }
}

/// An input to one connection's table.
#[derive(Debug)]
pub enum Input<'a> {
    /// The connection was just accepted.
    Accepted,
    /// A complete message from the client.
    Message(&'a ClientMsg),
    /// Bytes that are no valid client message.
    Garbage(&'a DecodeError),
    /// The peer closed or reset the connection.
    Eof,
    /// A Go wave for this step.
    Go(u32),
    /// The `S n` broadcast before a wave.
    Countdown(u32),
    /// The `T` broadcast.
    Slow,
    /// The conductor ends: `E` then `X` if `error`, `C` then `X` otherwise.
    End {
        /// A fatal error ends it.
        error: bool,
    },
    /// The conductor restarts: the connection closes at once, with nothing more sent, so that
    /// the participant takes it for an outage and reconnects.
    Abandon,
    /// One of the connection's timers fell due.
    Timeout(Timer),
    /// The socket took this many bytes of the queue.
    Sent(usize),
    /// The transport proved who is at the other end, before the hello: the names of the
    /// client's certificate. The hello's id must be one of them.
    Identified(Vec<String>),
    /// The transport failed (a TLS handshake, say), with why.
    TransportFailed(&'a str),
}

/// What the table needs to know beyond the connection: the time, the settings, and the
/// conductor-wide facts a hello is admitted by.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The time of the input.
    pub now: Instant,
    /// The settings.
    pub config: &'a CoreConfig,
    /// The members' ids: a hello with one of them is a duplicate.
    pub ids: &'a HashSet<Id>,
    /// How many members there are: at `max_clients` a hello is refused with `full`.
    pub members: u32,
    /// The conductor has ended: a connection accepted now is closed at once.
    pub ended: bool,
}

/// Something that happened to a connection that the conductor reports as an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Accepted and sent the conductor's hello.
    Connected,
    /// Its hello was accepted: a member now, with this id.
    Joined(Id),
    /// Refused: the `R` is queued.
    Refused {
        /// The kind of refusal.
        kind: RefusalKind,
        /// The text sent.
        reason: Reason,
    },
    /// It left on its own (a member, or `R` before the hello).
    Left(Leave),
    /// It closed or sent `X` before its hello.
    ClosedBeforeHello,
    /// It did not take its last bytes within the linger time.
    GaveUpFlushing,
}

/// How a participant of the running round stopped being one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundExit {
    /// It sent Done.
    Done,
    /// It left, was refused or dropped before it was Done.
    Removed,
}

/// What one input did that the conductor reports as events: kept on the connection until the
/// conductor takes it ([`Conn::take_report`]), as [`Change::reported`] says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// What happened.
    pub notice: Option<Notice>,
    /// Its queue passed `max_queued_bytes` with this many bytes: dropped as not reading, the
    /// queue given up.
    pub dropped: Option<usize>,
}

/// What one input changed, for the conductor: a few bytes, so that the hot path (K, !, Go, a
/// write) moves nothing more. The counts, the ids and the round follow from the state before
/// and after ([`joined`](Self::joined), [`ready`](Self::ready), [`round`](Self::round), ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The state before the input.
    pub from: StateKind,
    /// The state after it.
    pub to: StateKind,
    /// The state passed through, when the input entered two (`!` in GoSent enters Working then
    /// Done; a refusal whose `R` overflows the queue enters Refused then Closed).
    via: Option<StateKind>,
    /// Its queue went from empty to not empty: the driver has bytes to write.
    pub transmit: bool,
    /// There is a [`Report`] to take.
    pub reported: bool,
}

impl Change {
    /// Every change of state, `(old, new)`, in order.
    pub fn transitions(&self) -> impl Iterator<Item = (StateKind, StateKind)> {
        let steps = match self.via {
            Some(via) => [Some((self.from, via)), Some((via, self.to))],
            None if self.from != self.to => [Some((self.from, self.to)), None],
            None => [None, None],
        };
        steps.into_iter().flatten()
    }

    /// The change moves the connection between what the conductor keeps about it: its
    /// counts, the round, its timers, whether it is closed. (GoSent to Working does not.)
    pub fn recounts(&self) -> bool {
        standing(self.from) != standing(self.to)
    }

    /// Became a member (its hello was accepted).
    pub fn joined(&self) -> bool {
        !self.from.is_joined() && self.to.is_joined()
    }

    /// Stopped being a member (left, refused, dropped, or the conductor ended).
    pub fn left(&self) -> bool {
        self.from.is_joined() && !self.to.is_joined()
    }

    /// `Some(true)` when it became ready for the next wave, `Some(false)` when it stopped
    /// being ready.
    pub fn ready(&self) -> Option<bool> {
        let (was, is) = (self.from.is_ready(), self.to.is_ready());
        (was != is).then_some(is)
    }

    /// How it stopped being a participant the running round waits for, if it did.
    pub fn round(&self) -> Option<RoundExit> {
        if !self.from.is_pending() || self.to.is_pending() {
            None
        } else if self.to == StateKind::Done {
            Some(RoundExit::Done)
        } else {
            Some(RoundExit::Removed)
        }
    }

    /// It closed with this input: the conductor queues its `Close`.
    pub fn closed(&self) -> bool {
        self.from != StateKind::Closed && self.to == StateKind::Closed
    }

    /// It entered a state with other timers: the conductor re-arms it.
    pub fn retimes(&self) -> bool {
        self.from.timers() != self.to.timers()
    }
}

impl StateKind {
    /// The timers each state has, beside the table that handles them: the hello timeout
    /// before the hello (PROTOCOL.md "A session"); a member's probe and liveness drop; an ending
    /// connection's linger.
    pub const fn timers(self) -> TimerSet {
        const HELLO: TimerSet = TimerSet::of(&[Timer::Hello]);
        const LIVENESS: TimerSet = TimerSet::of(&[Timer::Probe, Timer::Drop]);
        const LINGER: TimerSet = TimerSet::of(&[Timer::Linger]);
        match self {
            StateKind::AwaitingHello => HELLO,
            StateKind::Idle | StateKind::GoSent | StateKind::Working | StateKind::Done => LIVENESS,
            StateKind::Refused | StateKind::Closing => LINGER,
            StateKind::Closed => TimerSet::of(&[]),
        }
    }
}

/// What the conductor keeps about a connection in each state, as bits (ready, member, round
/// participant, closed, and its timers), indexed by [`StateKind`]: two states with the same
/// bits count the same.
const STANDING: [u8; 8] = {
    let mut bits = [0; 8];
    let mut i = 0;
    while i < ALL_STATES.len() {
        let kind = ALL_STATES[i];
        bits[kind as usize] = kind.is_ready() as u8
            | (kind.is_joined() as u8) << 1
            | (kind.is_pending() as u8) << 2
            | (matches!(kind, StateKind::Closed) as u8) << 3
            | kind.timers().0 << 4;
        i += 1;
    }
    bits
};

fn standing(kind: StateKind) -> u8 {
    // Eight states: the mask only tells the compiler the index is in bounds.
    STANDING[kind as usize & 7]
}

/// The states of a member (past the hello, not ending), as a pattern.
macro_rules! member {
    () => {
        ConnState::Idle
            | ConnState::GoSent { .. }
            | ConnState::Working { .. }
            | ConnState::Done { .. }
    };
}

impl Conn {
    /// Feeds one input to the table; see the module docs.
    pub fn handle(&mut self, input: Input<'_>, ctx: &Context<'_>) -> Change {
        let from = self.state.kind();
        let was_empty = self.outbox.is_empty();
        (self.moved, self.via, self.reported) = (false, None, false);
        self.table(input, ctx);
        // Built here from values read one by one, never kept in a struct the table updates
        // piece by piece: a word read back from stores of single bytes stalls the processor
        // (the stores cannot be forwarded to the load), which cost more time on the hot path
        // than all the rest of the table.
        Change {
            from,
            to: self.state.kind(),
            via: self.via,
            transmit: was_empty && !self.outbox.is_empty(),
            reported: self.reported,
        }
    }

    /// The table: one arm per row of PROTOCOL.md's table, the conductor's own inputs, and the
    /// catch-all violation. The arms come in the order of how often they run, the round's first
    /// (it is most of the traffic); only the ending states' arms must come before the arms that
    /// match any state (`_`), since they shadow them.
    fn table(&mut self, input: Input<'_>, ctx: &Context<'_>) {
        use ClientMsg as M;
        use ConnState as S;
        use Input as I;
        let now = ctx.now;
        match (&self.state, input) {
            // Idle | Go wave sent to it | GoSent, and Done | next Go wave | GoSent.
            (S::Idle | S::Done { .. }, I::Go(step)) => {
                self.set_state(S::GoSent { step });
                self.push(&ConductorMsg::Go(step), ctx);
            }
            // GoSent | K | Working.
            (&S::GoSent { step }, I::Message(M::Received)) => {
                self.set_state(S::Working { step });
            }
            // GoSent | ! | Done: it counts as K then Done.
            (&S::GoSent { step }, I::Message(M::Done)) => {
                self.set_state(S::Working { step });
                self.set_state(S::Done { step });
            }
            // Working | ! | Done.
            (&S::Working { step }, I::Message(M::Done)) => self.set_state(S::Done { step }),

            // Bytes written (not in the table): they leave the queue. A refused or closing
            // connection closes once its queue is empty.
            (member!() | S::AwaitingHello { .. }, I::Sent(n)) => self.take_sent(n),
            (S::Refused { .. } | S::Closing { .. }, I::Sent(n)) => {
                self.take_sent(n);
                if self.outbox.is_empty() {
                    self.close();
                }
            }

            // Ending, in two steps (quinn's closing, then drained): a refused or closing
            // connection reads and sends nothing more; it closes once its queue is flushed
            // (above), when the peer goes, or when the linger passes.
            (S::Refused { .. } | S::Closing { .. }, I::Eof) => self.close(),
            (S::Refused { .. } | S::Closing { .. }, I::Timeout(Timer::Linger)) => {
                self.notify(Notice::GaveUpFlushing);
                self.close();
            }
            // A restart (not in the table): every connection closes at once, whatever is
            // queued, without a word.
            (S::Refused { .. } | S::Closing { .. }, I::Abandon) => self.close(),
            (S::Refused { .. } | S::Closing { .. } | S::Closed, _) => {}

            // Accepted (not in the table): the conductor's hello; an address outside `allow`
            // is refused instead, and after the end the connection is closed with nothing sent.
            (S::AwaitingHello { .. }, I::Accepted) => self.accepted(ctx),

            // The end (not in the table): `C` (or `E`) and `X` to every open connection, which
            // then closes once they are flushed.
            (_, I::End { error }) => self.end(error, ctx),
            (_, I::Abandon) => self.close(),

            // any | X, R | removed: nothing is sent back.
            (_, I::Message(M::Exit)) => self.leave(Leave::Exit, now),
            (_, I::Message(M::Refusal(reason))) => {
                self.leave(Leave::Refusal(reason.clone()), now);
            }
            // any | EOF | removed: nothing more can be delivered.
            (_, I::Eof) => {
                self.notify(self.leaving(Leave::Closed));
                self.close();
            }

            // The transport (not in the table): the names a certificate proved bind the hello
            // to come; a failure of the transport refuses the connection.
            (S::AwaitingHello { .. }, I::Identified(names)) => {
                self.names = Some(names.into_boxed_slice());
            }
            (_, I::TransportFailed(reason)) => self.refuse(RefusalKind::Transport, reason, ctx),

            // AwaitingHello | valid A | Idle; an invalid one (version, id, not named by the
            // certificate, duplicate, full) is refused with an R that names why.
            (S::AwaitingHello { .. }, I::Message(&M::Hello(hello))) => self.admit(hello, ctx),
            // AwaitingHello | hello timeout | Refused.
            (S::AwaitingHello { .. }, I::Timeout(Timer::Hello)) => {
                let ms = ctx.config.hello_timeout.as_millis();
                let reason = format!("hello timeout: no hello within {ms} ms");
                self.refuse(RefusalKind::HelloTimeout, &reason, ctx);
            }

            // any after hello | ? | same, answered with `.`.
            (member!(), I::Message(M::Ping)) => {
                self.push(&ConductorMsg::Here, ctx);
            }
            // any after hello | `.`, W | same: they only refresh liveness, as every byte does.
            (member!(), I::Message(M::Here | M::Working)) => {}
            // Liveness (§3.4, not in the table): a member silent for `probe_after` is asked.
            (member!(), I::Timeout(Timer::Probe)) => {
                if self.first_probe.is_none_or(|p| p <= self.last_heard) {
                    self.first_probe = Some(now);
                }
                self.last_probe = Some(now);
                self.push(&ConductorMsg::Ping, ctx);
            }
            // any after hello | liveness timeout | Refused, then removed.
            (member!(), I::Timeout(Timer::Drop)) => {
                self.refuse(RefusalKind::LivenessTimeout, "liveness timeout", ctx);
            }
            // `S n` and `T` (not in the table) go to every member, in the round or not.
            (member!(), I::Countdown(n)) => {
                self.push(&ConductorMsg::ShuttingDown(n), ctx);
            }
            (member!(), I::Slow) => {
                self.push(&ConductorMsg::Slow, ctx);
            }

            // What the conductor never gives these states: a Go to a client that is not ready,
            // `S` or `T` before the hello, a timer the state does not have, a second accept.
            (
                _,
                I::Go(_)
                | I::Countdown(_)
                | I::Slow
                | I::Timeout(_)
                | I::Accepted
                | I::Identified(_),
            ) => {}

            // The catch-all: K, ! or A where not listed above, any message but X or R before
            // the hello, and bytes that are no message: a protocol violation, refused.
            (_, I::Message(msg)) => self.violation(Err(msg), ctx),
            (_, I::Garbage(error)) => self.violation(Ok(error), ctx),
        }
    }

    /// When `timer` falls due in the current state: `None` for a timer the state does not
    /// have, or one switched off (a zero duration). See the module docs for the drop.
    pub fn deadline(&self, timer: Timer, cfg: &CoreConfig) -> Option<Instant> {
        let on = |d: Duration| (!d.is_zero()).then_some(d);
        match (&self.state, timer) {
            // AwaitingHello: `hello_timeout` from the accept.
            (&ConnState::AwaitingHello { since }, Timer::Hello) => {
                on(cfg.hello_timeout).map(|d| since + d)
            }
            // A member: probes `probe_after` after the later of the last byte heard and the
            // last probe.
            (member!(), Timer::Probe) => on(cfg.probe_after)
                .map(|every| match self.last_probe {
                    Some(p) if p >= self.last_heard => p + every,
                    _ => self.last_heard + every,
                })
                .map(|at| self.after_exemption(at)),
            // A member: the drop, once asked (or without probes before it, from the last byte).
            (member!(), Timer::Drop) => {
                let drop = on(cfg.drop_after)?;
                let at = match on(cfg.probe_after) {
                    Some(probe) if probe < drop => {
                        let asked = self.first_probe.filter(|&p| p > self.last_heard)?;
                        asked + drop.saturating_sub(probe)
                    }
                    _ => self.last_heard + drop,
                };
                Some(self.after_exemption(at))
            }
            // Refused or Closing: flushing is given up `linger` after it began.
            (
                &ConnState::Refused { since, .. } | &ConnState::Closing { since, .. },
                Timer::Linger,
            ) => Some(since + cfg.linger),
            _ => None,
        }
    }

    /// A liveness deadline, moved to the end of an exemption that outlasts it.
    fn after_exemption(&self, at: Instant) -> Instant {
        self.exempt_until.map_or(at, |until| at.max(until))
    }

    /// The earliest deadline of the current state's timers.
    pub fn next_deadline(&self, cfg: &CoreConfig) -> Option<Instant> {
        let timers = self.state.kind().timers().iter();
        timers.filter_map(|t| self.deadline(t, cfg)).min()
    }

    /// The timer due at `now`, if any; when several are, the one that wins (a drop before a
    /// probe).
    pub fn due(&self, now: Instant, cfg: &CoreConfig) -> Option<Timer> {
        let mut timers = self.state.kind().timers().iter();
        timers.find(|&t| self.deadline(t, cfg).is_some_and(|at| at <= now))
    }

    /// The one place the state changes. An ending connection reads nothing more, so the start
    /// of a message it held goes. A second change within one input keeps the state it passes
    /// through, for [`Change::transitions`]. Inlined into each arm, where the new state is
    /// known, so that a change on the hot path is a few stores.
    #[inline(always)]
    fn set_state(&mut self, next: ConnState) {
        if next.kind().is_ending() {
            self.inbox = Vec::new();
        }
        if self.moved {
            self.via = Some(self.state.kind());
        }
        self.moved = true;
        self.state = next;
    }

    /// Just accepted: see the table.
    #[cold]
    fn accepted(&mut self, ctx: &Context<'_>) {
        let ip = self.peer.ip();
        let allow = &ctx.config.allow;
        if ctx.ended {
            self.close();
        } else if !allow.is_empty() && !allow.iter().any(|block| block.contains(ip)) {
            let reason = format!("address {ip} is not allowed");
            self.refuse(RefusalKind::NotAllowed, &reason, ctx);
        } else {
            self.notify(Notice::Connected);
            let id = *ctx.config.server_id.as_wire();
            let version = VERSION;
            self.push(&ConductorMsg::Hello(RawHello { version, id }), ctx);
        }
    }

    /// The conductor ends: see the table.
    #[cold]
    fn end(&mut self, error: bool, ctx: &Context<'_>) {
        let announce = if error {
            ConductorMsg::Error
        } else {
            ConductorMsg::Cease
        };
        self.push(&announce, ctx);
        self.push(&ConductorMsg::Exit, ctx);
        if !matches!(self.state, ConnState::Closed) {
            let why = Why::Ended;
            let since = ctx.now;
            self.set_state(ConnState::Closing { why, since });
        }
    }

    /// A message not allowed in this state (`Err`), or bytes that are no message (`Ok`):
    /// refused with a reason that names what arrived and the state.
    #[cold]
    fn violation(&mut self, what: Result<&DecodeError, &ClientMsg>, ctx: &Context<'_>) {
        let got = match what {
            Err(ClientMsg::Hello(_)) => "a hello 'A' (0x41)".to_string(),
            Err(msg) => ShowByte(msg.type_byte()).to_string(),
            Ok(DecodeError::UnknownType { byte, .. }) => {
                format!("unknown message type {}", ShowByte(*byte))
            }
            Ok(other) => format!("an invalid refusal ({other})"),
        };
        let state = self.state.kind();
        let reason = ProtocolViolation { got, state }.to_string();
        self.refuse(RefusalKind::Violation, &reason, ctx);
    }

    /// Checks a hello: version, id, the certificate's names, uniqueness, capacity. Admits the
    /// client as Idle or refuses.
    #[cold]
    fn admit(&mut self, hello: RawHello, ctx: &Context<'_>) {
        let verdict = if hello.version != VERSION {
            Err((
                RefusalKind::Version,
                format!(
                    "unsupported protocol version {}; this conductor speaks version 1",
                    ShowByte(hello.version)
                ),
            ))
        } else {
            match Id::from_wire(hello.id) {
                Err(e) => Err((RefusalKind::InvalidId, format!("invalid id: {e}"))),
                // Before the duplicate check: who holds an id is not told to a peer whose
                // certificate does not name it.
                Ok(id) if !self.certified(id) => {
                    Err((RefusalKind::NotInCertificate, self.not_certified(id)))
                }
                Ok(id) if ctx.ids.contains(&id) => {
                    Err((RefusalKind::DuplicateId, format!("duplicate id {id}")))
                }
                Ok(_) if ctx.members >= ctx.config.max_clients => {
                    Err((RefusalKind::Full, "full".to_string()))
                }
                Ok(id) => Ok(id),
            }
        };
        match verdict {
            Ok(id) => {
                self.id = Some(id);
                self.set_state(ConnState::Idle);
                self.notify(Notice::Joined(id));
            }
            Err((kind, reason)) => self.refuse(kind, &reason, ctx),
        }
    }

    /// True when `id` may be claimed: no names were proved, or `id` is one of them.
    fn certified(&self, id: Id) -> bool {
        self.names
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == id.as_str()))
    }

    /// The refusal of an id that the certificate does not name, with the names it does
    /// (shortened: a refusal holds at most 531 bytes).
    fn not_certified(&self, id: Id) -> String {
        let names = self.names.as_deref().unwrap_or_default();
        let mut listed = String::new();
        for (i, name) in names.iter().enumerate() {
            if listed.len() + name.len() > 300 {
                listed.push_str(&format!(", ... ({} more)", names.len() - i));
                break;
            }
            if i > 0 {
                listed.push_str(", ");
            }
            listed.push_str(name);
        }
        if names.is_empty() {
            listed.push_str("none");
        }
        format!("id {id} is not named in the client certificate (names: {listed})")
    }

    /// Queues `R reason` and becomes Refused until it is flushed.
    #[cold]
    fn refuse(&mut self, kind: RefusalKind, reason: &str, ctx: &Context<'_>) {
        let reason = Reason::lossy(reason);
        let notice = Notice::Refused {
            kind,
            reason: reason.clone(),
        };
        self.notify(notice);
        let since = ctx.now;
        self.set_state(ConnState::Refused {
            reason: reason.clone(),
            since,
        });
        self.push(&ConductorMsg::Refusal(reason), ctx);
    }

    /// What leaving this way is reported as: before the hello, closing or `X` is no departure
    /// of a member.
    fn leaving(&self, how: Leave) -> Notice {
        match how {
            Leave::Exit | Leave::Closed if !self.state.kind().is_joined() => {
                Notice::ClosedBeforeHello
            }
            how => Notice::Left(how),
        }
    }

    /// Something to report.
    fn notify(&mut self, notice: Notice) {
        self.report.notice = Some(notice);
        self.reported = true;
    }

    /// What the inputs since the last call did that the conductor reports.
    pub fn take_report(&mut self) -> Report {
        std::mem::take(&mut self.report)
    }

    /// The client left (`X` or `R`): what is queued is still flushed.
    #[cold]
    fn leave(&mut self, how: Leave, now: Instant) {
        self.notify(self.leaving(how));
        let why = Why::Left;
        self.set_state(ConnState::Closing { why, since: now });
        if self.outbox.is_empty() {
            self.close();
        }
    }

    /// Closed: whatever is still queued is given up, and no timer is left.
    fn close(&mut self) {
        self.outbox = Vec::new();
        self.timer_at = None;
        self.set_state(ConnState::Closed);
    }

    /// Queues a message; a queue that passes `max_queued_bytes` is given up and the connection
    /// closed: a client that does not read is dropped. Inlined, like `set_state`, so that the
    /// message is encoded straight into the queue.
    #[inline(always)]
    fn push(&mut self, msg: &ConductorMsg, ctx: &Context<'_>) {
        if matches!(self.state, ConnState::Closed) {
            return;
        }
        msg.encode_into(&mut self.outbox);
        if self.outbox.len() > ctx.config.max_queued_bytes {
            self.report.dropped = Some(self.outbox.len());
            self.reported = true;
            self.close();
        }
    }

    /// `n` bytes of the queue reached the socket.
    fn take_sent(&mut self, n: usize) {
        if n < self.outbox.len() {
            self.outbox.drain(..n);
        } else if self.outbox.capacity() > 4096 {
            self.outbox = Vec::new();
        } else {
            self.outbox.clear();
        }
    }
}
