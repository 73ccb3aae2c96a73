//! A canonical hash of the conductor's state, for model checkers and fuzzers that must tell
//! states apart: only what decides future behaviour, with every time taken relative to `now`.
//! Performs no I/O.

use std::hash::{Hash, Hasher};

use crate::time::Instant;

use super::Conductor;

/// `t` relative to `now`, in microseconds; negative for the past.
pub(crate) fn relative(t: Instant, now: Instant) -> i128 {
    i128::from(t.as_micros()) - i128::from(now.as_micros())
}

impl Conductor {
    /// Feeds into `state` everything that decides how the conductor reacts to future inputs,
    /// with times relative to `now` (normally the time of the last input). Two conductors with
    /// the same configuration and equal fingerprints at their `now`s send the same bytes and
    /// make the same decisions for the same inputs at the same relative times.
    ///
    /// Left out are what only status reports show (the counters of waves, uptime, round
    /// durations, who was slowest, when each client was last heard) and the numbering of
    /// future connections' slots. That is what makes the state space of a model checker finite:
    /// with `rounds` = 0 the waves sent count without end, but only the next step and the waves
    /// left before an end matter.
    pub fn fingerprint<H: Hasher>(&self, now: Instant, state: &mut H) {
        let rel = |t: Option<Instant>| t.map(|t| relative(t, now));
        self.conns.len().hash(state);
        for (key, c) in &self.conns {
            key.hash(state);
            c.peer().ip().hash(state);
            c.state().fingerprint(state);
            c.id().hash(state);
            c.names().hash(state);
            c.incomplete_input().hash(state);
            c.pending().hash(state);
            for timer in c.state().kind().timers().iter() {
                rel(c.deadline(timer, &self.config)).hash(state);
            }
            rel(c.timer_at).hash(state);
        }
        self.ready.hash(state);
        self.members.hash(state);
        self.outputs.hash(state);
        self.rounds.fingerprint(now, state);
        if let Some(interval) = self.status_interval() {
            self.status.last_phase.hash(state);
            // When the next write may come; any time already past is the same as now.
            let next_write = self.status.last_due.map(|t| t + interval);
            rel(next_write.filter(|&t| t > now)).hash(state);
        }
    }
}
