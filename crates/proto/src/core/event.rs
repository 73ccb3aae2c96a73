//! What happened inside the core, as typed values the driver turns into log lines (or counts,
//! or ignores). The core never logs: a log call could block on a full pipe, and what to write,
//! at which level and how often is the driver's choice. Each event comes out as one
//! [`Output::Event`](super::Output::Event), in the order things happened.
//!
//! The per-message events ([`Event::MessageReceived`], [`Event::StateChanged`]) come out only
//! when [`CoreConfig::trace_events`](super::CoreConfig::trace_events) is set, so that they
//! cost nothing unless someone reads them.

use std::net::SocketAddr;

use crate::conn::StateKind;
use crate::round::{EndKind, HoldCause};
use crate::time::Duration;
use crate::wire::{ClientMsg, Id, Reason};

use super::ConnId;

/// A connection as events name it: its id once its hello was accepted, and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Who {
    /// The connection inside the core.
    pub conn: ConnId,
    /// The peer's address.
    pub peer: SocketAddr,
    /// The participant's id, once its hello was accepted.
    pub id: Option<Id>,
}

/// How a participant left on its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Leave {
    /// It sent `X`.
    Exit,
    /// It sent `R` with this reason.
    Refusal(Reason),
    /// It closed (or reset) the connection without a word.
    Closed,
}

/// Why the conductor refused a connection: what the refusal's text says, without the details
/// (addresses, ids, bytes) that differ from one refusal to the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefusalKind {
    /// The address is outside `allow`.
    NotAllowed,
    /// The hello names another protocol version.
    Version,
    /// The hello's id is blank or not printable.
    InvalidId,
    /// The hello's id belongs to a member already.
    DuplicateId,
    /// `max_clients` members are connected already.
    Full,
    /// No hello within `hello_timeout_ms`.
    HelloTimeout,
    /// Silent for `drop_after_ms`.
    LivenessTimeout,
    /// A message that is not allowed in the connection's state, or bytes that are no message.
    Violation,
    /// The hello's id is not among the names the transport proved ([`Input::Identified`]).
    ///
    /// [`Input::Identified`]: super::Input::Identified
    NotInCertificate,
    /// The transport failed ([`Input::TransportFailed`]): a TLS handshake, plaintext on a TLS
    /// port.
    ///
    /// [`Input::TransportFailed`]: super::Input::TransportFailed
    Transport,
}

impl RefusalKind {
    /// Every kind, for tests and tables.
    pub const ALL: [RefusalKind; 10] = [
        RefusalKind::NotAllowed,
        RefusalKind::Version,
        RefusalKind::InvalidId,
        RefusalKind::DuplicateId,
        RefusalKind::Full,
        RefusalKind::HelloTimeout,
        RefusalKind::LivenessTimeout,
        RefusalKind::Violation,
        RefusalKind::NotInCertificate,
        RefusalKind::Transport,
    ];

    /// The refusal's text with its details left out, e.g. `address … is not allowed`.
    pub fn label(self) -> &'static str {
        match self {
            RefusalKind::NotAllowed => "address … is not allowed",
            RefusalKind::Version => "unsupported protocol version",
            RefusalKind::InvalidId => "invalid id",
            RefusalKind::DuplicateId => "duplicate id",
            RefusalKind::Full => "full",
            RefusalKind::HelloTimeout => "hello timeout",
            RefusalKind::LivenessTimeout => "liveness timeout",
            RefusalKind::Violation => "protocol violation",
            RefusalKind::NotInCertificate => "id … is not named in the client certificate",
            RefusalKind::Transport => "TLS …",
        }
    }
}

/// Something that happened inside the core. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// A connection was accepted and sent the conductor's hello.
    Connected {
        /// The connection.
        conn: ConnId,
        /// The peer's address.
        peer: SocketAddr,
    },
    /// A hello was accepted: the participant is a member.
    Joined {
        /// The connection.
        conn: ConnId,
        /// Its id.
        id: Id,
        /// Its address.
        peer: SocketAddr,
    },
    /// A member left, or a connection before its hello sent `R`.
    Left {
        /// Who left.
        who: Who,
        /// How.
        how: Leave,
    },
    /// A connection closed (or sent `X`) before its hello.
    ClosedBeforeHello {
        /// The connection.
        who: Who,
    },
    /// The conductor sent `R` and closes the connection once it is flushed.
    Refused {
        /// Who was refused.
        who: Who,
        /// The kind of refusal.
        kind: RefusalKind,
        /// The text sent.
        reason: Reason,
    },
    /// A participant's queue passed its bound: it was dropped without a refusal.
    DroppedNotReading {
        /// Who was dropped.
        who: Who,
        /// The bytes that were queued for it.
        queued: usize,
    },
    /// `S n` went to every member, just before a wave.
    Countdown {
        /// The `n`.
        n: u32,
    },
    /// A Go wave went out.
    Wave {
        /// Its step.
        step: u32,
        /// The members it went to.
        participants: u32,
    },
    /// No wave can go out because fewer than `min_clients` members are ready, and no round
    /// runs. Comes out when this starts and again whenever `ready` changes while it lasts;
    /// it lasts until the next [`Event::Wave`] or [`Event::Ending`].
    Waiting {
        /// Members ready (Idle or Done).
        ready: u32,
        /// `min_clients`.
        needed: u32,
    },
    /// The running round ended: every participant is Done or gone.
    RoundEnd {
        /// Its step.
        step: u32,
        /// From the wave to the last Done or removal.
        duration: Duration,
        /// The participant whose Done came last and how long after the Go; `None` when
        /// nobody sent Done.
        slowest: Option<(Id, Duration)>,
    },
    /// `T` went out: the round runs longer than `slow_round_ms`.
    SlowRound {
        /// The running round's step.
        step: u32,
        /// The participants that are not Done yet.
        waiting_on: Vec<Id>,
    },
    /// A paced wave left more than its allowance after its slot (its round overran the slot,
    /// or the conductor could not run): counted late; the pace's schedule starts again from it.
    LateWave {
        /// Its step.
        step: u32,
        /// How long after its slot it left.
        late_by: Duration,
    },
    /// Run control paused by itself: the wave of `step` waits for a `resume` or a `step`.
    Held {
        /// The step of the wave that waits.
        step: u32,
        /// Why: a hold at that step, or the waves of a `step N` went out.
        cause: HoldCause,
    },
    /// `T` went out: the operator's pause has held between rounds for longer than
    /// `slow_round_ms`.
    StillPaused {
        /// For how long.
        paused_for: Duration,
    },
    /// A graceful stop was asked for (and the conductor had not ended yet).
    GracefulStopRequested,
    /// The conductor ends: `C` (or `E`) and `X` went out to everyone.
    Ending(EndKind),
    /// A closing connection did not take its last bytes within the linger time.
    GaveUpFlushing {
        /// The connection.
        who: Who,
        /// The linger time.
        after: Duration,
    },
    /// A complete message arrived (only with `trace_events`).
    MessageReceived {
        /// The connection.
        conn: ConnId,
        /// The message.
        msg: ClientMsg,
    },
    /// A connection changed state (only with `trace_events`).
    StateChanged {
        /// The connection.
        conn: ConnId,
        /// The state it left.
        old: StateKind,
        /// The state it entered.
        new: StateKind,
    },
}
