//! A connection's states with the data each carries: the six of PROTOCOL.md, the two the conductor
//! uses to end a connection without a refusal (flushing what is queued, then closed), and the
//! refusal a protocol violation produces. Performs no I/O.

use std::fmt;
use std::hash::{Hash, Hasher};

use crate::time::Instant;
use crate::wire::Reason;

/// The name of a state, without its data; what the transition table, the diagrams and the
/// status files use. The first six are PROTOCOL.md's; `Closing` and `Closed` are the conductor's
/// own and never appear in a status file (only members are listed there).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum StateKind {
    /// Connected, the client's hello has not arrived yet.
    AwaitingHello,
    /// Past the hello, waiting for its first wave.
    Idle,
    /// Sent a Go, no `K` yet.
    GoSent,
    /// Acknowledged the Go with `K`, not Done yet.
    Working,
    /// Sent `!` for the current step.
    Done,
    /// Sent an `R`; the connection closes once it is flushed.
    Refused,
    /// Left (the client sent `X` or `R`) or the conductor ended: what is queued is flushed,
    /// then the connection closes. Nothing more is read.
    Closing,
    /// Its `Close` output is queued: the slot is freed once the driver polls it.
    Closed,
}

/// Every state, in lifecycle order.
pub const ALL_STATES: [StateKind; 8] = [
    StateKind::AwaitingHello,
    StateKind::Idle,
    StateKind::GoSent,
    StateKind::Working,
    StateKind::Done,
    StateKind::Refused,
    StateKind::Closing,
    StateKind::Closed,
];

impl StateKind {
    /// The state's name: PROTOCOL.md's for the first six.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::AwaitingHello => "AwaitingHello",
            StateKind::Idle => "Idle",
            StateKind::GoSent => "GoSent",
            StateKind::Working => "Working",
            StateKind::Done => "Done",
            StateKind::Refused => "Refused",
            StateKind::Closing => "Closing",
            StateKind::Closed => "Closed",
        }
    }

    /// Idle or Done: may take part in the next wave.
    pub const fn is_ready(self) -> bool {
        matches!(self, StateKind::Idle | StateKind::Done)
    }

    /// GoSent or Working: the running round waits for this client.
    pub const fn is_pending(self) -> bool {
        matches!(self, StateKind::GoSent | StateKind::Working)
    }

    /// A member: past the hello and not ending.
    pub const fn is_joined(self) -> bool {
        matches!(
            self,
            StateKind::Idle | StateKind::GoSent | StateKind::Working | StateKind::Done
        )
    }

    /// Refused, Closing or Closed: the connection counts for nothing and reads nothing.
    pub const fn is_ending(self) -> bool {
        matches!(
            self,
            StateKind::Refused | StateKind::Closing | StateKind::Closed
        )
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a connection is closing without a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Why {
    /// The client sent `X` or `R`.
    Left,
    /// The conductor ended: `C` (or `E`) and `X` are queued.
    Ended,
}

/// A connection's state with the data that state needs. Its tag is a plain byte in the order of
/// [`StateKind`], so that telling the state costs one load on the hot path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ConnState {
    /// See [`StateKind::AwaitingHello`].
    AwaitingHello {
        /// When the connection was accepted: the hello timeout counts from it.
        since: Instant,
    },
    /// See [`StateKind::Idle`].
    Idle,
    /// See [`StateKind::GoSent`].
    GoSent {
        /// The step of the Go.
        step: u32,
    },
    /// See [`StateKind::Working`].
    Working {
        /// The step being worked on.
        step: u32,
    },
    /// See [`StateKind::Done`].
    Done {
        /// The step last completed.
        step: u32,
    },
    /// See [`StateKind::Refused`].
    Refused {
        /// The reason sent in the `R`.
        reason: Reason,
        /// When it was refused: flushing is given up `linger` later.
        since: Instant,
    },
    /// See [`StateKind::Closing`].
    Closing {
        /// Why.
        why: Why,
        /// Since when: flushing is given up `linger` later.
        since: Instant,
    },
    /// See [`StateKind::Closed`].
    Closed,
}

impl ConnState {
    /// The state's name.
    pub fn kind(&self) -> StateKind {
        match self {
            ConnState::AwaitingHello { .. } => StateKind::AwaitingHello,
            ConnState::Idle => StateKind::Idle,
            ConnState::GoSent { .. } => StateKind::GoSent,
            ConnState::Working { .. } => StateKind::Working,
            ConnState::Done { .. } => StateKind::Done,
            ConnState::Refused { .. } => StateKind::Refused,
            ConnState::Closing { .. } => StateKind::Closing,
            ConnState::Closed => StateKind::Closed,
        }
    }

    /// The step this state refers to, if any.
    pub fn step(&self) -> Option<u32> {
        match self {
            ConnState::GoSent { step } | ConnState::Working { step } | ConnState::Done { step } => {
                Some(*step)
            }
            _ => None,
        }
    }

    /// Feeds into `state` what of this state decides the connection's future: its name and
    /// step. The instants it holds are left out (the connection's deadlines, taken relative to
    /// now, stand for them), and so are a refusal's reason (it is in the queue until flushed)
    /// and why a connection is closing (which changes nothing it does).
    pub fn fingerprint<H: Hasher>(&self, state: &mut H) {
        (self.kind(), self.step()).hash(state);
    }
}

/// A refusal the conductor sends because a client broke the protocol: what arrived and in
/// which state. Its text is the `R` reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolViolation {
    /// What was received, described for a person (e.g. `'K' (0x4b)`).
    pub got: String,
    /// The state it arrived in.
    pub state: StateKind,
}

impl fmt::Display for ProtocolViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protocol violation: received {} in state {}",
            self.got, self.state
        )
    }
}
