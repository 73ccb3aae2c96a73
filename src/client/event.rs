//! What a participant hears from the conductor once the hello is done: a Go, a broadcast or a
//! refusal. Probes (`?`) and the conductor's `.` never reach the user: the client handles them.

use std::fmt;

use crate::wire::Reason;

/// One message from the conductor that the participant's program may care about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `!`: start this step. Answer with `K`, then Done (or a refusal).
    Go(u32),
    /// `T`: the round is taking longer than expected.
    Slow,
    /// `S n`: the conductor will end after n more steps, counting the next one.
    ShuttingDown(u32),
    /// `C`: the operator ends the run; `X` follows.
    Cease,
    /// `E`: the conductor is shutting down because of an error; `X` follows.
    ErrorShutdown,
    /// `X`: the conductor closes this connection.
    Exit,
    /// `R`: the conductor refused this participant and closes the connection.
    Refused(Reason),
}

impl fmt::Display for Event {
    /// The event in plain words, as `conductor join` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Go(step) => write!(f, "go for step {step}"),
            Event::Slow => f.write_str("this round is taking longer than expected"),
            Event::ShuttingDown(1) => f.write_str("shutting down after 1 more step"),
            Event::ShuttingDown(n) => write!(f, "shutting down after {n} more steps"),
            Event::Cease => f.write_str("ceasing operation by the operator's decision"),
            Event::ErrorShutdown => f.write_str("shutting down because of an error"),
            Event::Exit => f.write_str("closing the connection"),
            Event::Refused(reason) => write!(f, "refused: {reason}"),
        }
    }
}
