//! One client connection's state machine (SPEC §4): the six states with the data each carries,
//! the events a connection can see, and [`rule`], the single transition table that both the core
//! and the generated diagrams use. Performs no I/O and reads no clock.

mod table;

pub use table::{rule, Event, Rule, ALL_EVENTS, ALL_STATES};

use std::fmt;

use crate::wire::Reason;

/// The name of a state, without its data; what the transition table and status files use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
}

impl StateKind {
    /// The SPEC's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            StateKind::AwaitingHello => "AwaitingHello",
            StateKind::Idle => "Idle",
            StateKind::GoSent => "GoSent",
            StateKind::Working => "Working",
            StateKind::Done => "Done",
            StateKind::Refused => "Refused",
        }
    }

    /// Idle or Done: may take part in the next wave.
    pub fn is_ready(self) -> bool {
        matches!(self, StateKind::Idle | StateKind::Done)
    }

    /// GoSent or Working: the running round waits for this client.
    pub fn is_pending(self) -> bool {
        matches!(self, StateKind::GoSent | StateKind::Working)
    }

    /// Past the hello and not refused.
    pub fn is_joined(self) -> bool {
        !matches!(self, StateKind::AwaitingHello | StateKind::Refused)
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A connection's state with the data that state needs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// See [`StateKind::AwaitingHello`].
    AwaitingHello,
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
    },
}

impl ConnState {
    /// The state's name.
    pub fn kind(&self) -> StateKind {
        match self {
            ConnState::AwaitingHello => StateKind::AwaitingHello,
            ConnState::Idle => StateKind::Idle,
            ConnState::GoSent { .. } => StateKind::GoSent,
            ConnState::Working { .. } => StateKind::Working,
            ConnState::Done { .. } => StateKind::Done,
            ConnState::Refused { .. } => StateKind::Refused,
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

    /// Builds the state named `kind`, carrying `step` where that state needs one. Refused is
    /// never built here: it needs a reason.
    pub fn with_step(kind: StateKind, step: u32) -> Option<ConnState> {
        match kind {
            StateKind::AwaitingHello => Some(ConnState::AwaitingHello),
            StateKind::Idle => Some(ConnState::Idle),
            StateKind::GoSent => Some(ConnState::GoSent { step }),
            StateKind::Working => Some(ConnState::Working { step }),
            StateKind::Done => Some(ConnState::Done { step }),
            StateKind::Refused => None,
        }
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

impl ProtocolViolation {
    /// The refusal reason for this violation.
    pub fn reason(&self) -> Reason {
        Reason::lossy(&self.to_string())
    }
}
