//! `end_on_failure` (PROTOCOL.md "Ending"): which departures of a participant count as its
//! failure, and ending the run when one does: `E`, then `X` to everyone, and
//! [`EndKind::ParticipantFailed`] (exit code 3). The departure is noted where the core turns a
//! connection's report into events, and acted on when the input's consequences have been
//! applied, before any further wave is decided. Performs no I/O.

use crate::round::EndKind;
use crate::time::Instant;

use super::{Conductor, Event, Leave};

/// Which departures of a participant past its hello end the run (`end_on_failure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EndOnFailure {
    /// None (`false`): a participant that fails is removed and the others go on.
    #[default]
    Never,
    /// Its `R` (`true`): the participant said that it failed.
    Refusal,
    /// Any departure but its own `X` (`"closed"`): its `R`, its connection closed or reset
    /// without a word, or the conductor removing it (liveness timeout, not reading, a protocol
    /// violation, a broken TLS session).
    Closed,
}

impl EndOnFailure {
    /// The ending `event` causes under this setting: `Some` when it is the departure of a
    /// participant past its hello that counts as a failure.
    pub fn ending(self, event: &Event) -> Option<EndKind> {
        let (who, reason) = match (self, event) {
            (EndOnFailure::Never, _) => return None,
            (_, Event::Left { who, how }) => match how {
                Leave::Refusal(reason) => (who, reason.as_str().to_string()),
                Leave::Closed if self == EndOnFailure::Closed => {
                    (who, "connection closed without X".to_string())
                }
                Leave::Exit | Leave::Closed => return None,
            },
            (EndOnFailure::Closed, Event::Refused { who, reason, .. }) => {
                (who, reason.as_str().to_string())
            }
            (EndOnFailure::Closed, Event::DroppedNotReading { who, queued }) => {
                (who, format!("not reading ({queued} bytes queued)"))
            }
            _ => return None,
        };
        let id = who.id?;
        Some(EndKind::ParticipantFailed { id, reason })
    }
}

impl Conductor {
    /// Notes the failure an event reports, if `end_on_failure` counts it; the first one noted
    /// is the one that ends the run.
    pub(super) fn note_failure(&mut self, event: &Event) {
        if self.failure.is_none() {
            self.failure = self.config.end_on_failure.ending(event);
        }
    }

    /// Ends the run on the failure noted, if any (unless it has ended already).
    pub(super) fn end_on_failure(&mut self, now: Instant) {
        if let Some(kind) = self.failure.take() {
            if let Some(decision) = self.rounds.end_now(kind) {
                self.apply_decision(now, decision);
            }
        }
    }
}
