//! The status snapshot (SPEC §8) built from the core's state, and when it is due: every
//! `status_interval` while something in it changes, at once when the phase changes. Performs
//! no I/O.

use crate::round::Phase;
use crate::status::{ClientStatus, Slowest, Status};
use crate::time::{Duration, Instant};

use super::{Conductor, Output};

impl Conductor {
    /// The phase the status files show.
    pub fn phase(&self) -> Phase {
        self.rounds.phase(self.ready)
    }

    /// Everything the status files show, as of `now`. The driver fills in `address`.
    pub fn status(&self, now: Instant) -> Status {
        let clients = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_member())
            .filter_map(|(_, c)| {
                c.id.map(|id| ClientStatus {
                    id: id.as_str().to_string(),
                    peer: c.peer.to_string(),
                    state: c.state.kind().name().to_string(),
                    last_heard_ms_ago: (now - c.last_heard).as_millis(),
                })
            })
            .collect();
        let last = self.rounds.last_round();
        Status {
            server_id: self.config.server_id.as_str().to_string(),
            address: String::new(),
            phase: self.phase().name().to_string(),
            step: self.rounds.last_step(),
            waves_sent: self.rounds.waves_sent(),
            round_started_ms_ago: self.rounds.round().map(|r| (now - r.started).as_millis()),
            clients,
            waiting_on: self
                .waiting_on()
                .iter()
                .map(|id| id.as_str().to_string())
                .collect(),
            last_round_ms: last.map(|l| l.duration.as_millis_f64()),
            last_round_slowest: last.and_then(|l| {
                let ms = l.slowest_done?.as_millis_f64();
                self.last_round_slowest.map(|id| Slowest {
                    id: id.as_str().to_string(),
                    ms,
                })
            }),
            uptime_ms: (now - self.started).as_millis(),
        }
    }

    /// True while the status changes: an event since the last write, or time alone moving
    /// it on (a member's `last_heard_ms_ago`, a running round's `round_started_ms_ago`). With
    /// nobody connected and nothing happening, only the uptime would change, and the files
    /// are left alone. An interval of zero means "at every event", never "continuously".
    fn status_changing(&self, interval: Duration) -> bool {
        let aging = self.members > 0 || self.rounds.round().is_some();
        self.status.dirty || (aging && !interval.is_zero())
    }

    /// When a deferred status write becomes due.
    pub(super) fn status_deadline(&self) -> Option<Instant> {
        let interval = self.config.status_interval?;
        if !self.status_changing(interval) || self.rounds.ended().is_some() {
            return None;
        }
        Some(self.status.last_due.map_or(self.started, |t| t + interval))
    }

    /// Emits `StatusDue` when the phase changed, or when something changed and the interval
    /// has passed. The final status is the driver's to write on `Exit`.
    pub(super) fn schedule_status(&mut self, now: Instant) {
        if self.config.status_interval.is_none() || self.rounds.ended().is_some() {
            return;
        }
        let phase = self.phase();
        let phase_changed = self.status.last_phase != Some(phase);
        let interval_passed = self.status_deadline().is_some_and(|t| now >= t);
        if phase_changed || interval_passed {
            self.status.last_phase = Some(phase);
            self.status.last_due = Some(now);
            self.status.dirty = false;
            self.outputs.push_back(Output::StatusDue);
        }
    }
}
