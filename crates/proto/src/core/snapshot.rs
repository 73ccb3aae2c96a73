//! The status snapshot (PROTOCOL.md "Status files") built from the core's state, and when it is
//! due: at once when the phase changes, and every `status_interval` otherwise, since the uptime
//! it shows always changes (with nobody connected too). Performs no I/O.

use crate::round::{EndKind, Phase};
use crate::status::{ClientStatus, Failure, Slowest, Status};
use crate::time::{Duration, Instant};

use super::{Conductor, Output};

/// The shortest status interval: a shorter one (0 included) acts as this, so that the files
/// are never rewritten at every event; at thousands of rounds a second that would cost more
/// than the rounds.
pub const MIN_STATUS_INTERVAL: Duration = Duration::from_millis(100);

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
                c.id().map(|id| ClientStatus {
                    id: id.as_str().to_string(),
                    peer: c.peer().to_string(),
                    state: c.state().kind().name().to_string(),
                    last_heard_ms_ago: (now - c.last_heard()).as_millis(),
                    exempt_ms: c
                        .exempt_until()
                        .filter(|&until| until > now)
                        .map(|until| (until - now).as_millis()),
                })
            })
            .collect();
        let last = self.rounds.last_round();
        let control = self.rounds.control();
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
            ready: self.ready,
            min_clients: self.rounds.config().min_clients,
            last_round_ms: last.map(|l| l.duration.as_millis_f64()),
            last_round_slowest: last.and_then(|l| {
                let ms = l.slowest_done?.as_millis_f64();
                self.last_round_slowest.map(|id| Slowest {
                    id: id.as_str().to_string(),
                    ms,
                })
            }),
            uptime_ms: (now - self.started).as_millis(),
            paused: control.is_paused(),
            steps_left: control.steps_left(),
            hold_at: control.hold_at(),
            pace_ms: control.pace().as_millis(),
            late_waves: control.late_waves(),
            state_file_error: None,
            failure: match self.rounds.ended() {
                Some(EndKind::ParticipantFailed { id, reason }) => Some(Failure {
                    id: id.as_str().to_string(),
                    reason: reason.clone(),
                }),
                _ => None,
            },
            upstream: None,
        }
    }

    /// How often status is due, with [`MIN_STATUS_INTERVAL`] as the floor; `None` when no
    /// status is written.
    pub(super) fn status_interval(&self) -> Option<Duration> {
        self.config
            .status_interval
            .map(|interval| interval.max(MIN_STATUS_INTERVAL))
    }

    /// When the next periodic status write is due.
    pub(super) fn status_deadline(&self) -> Option<Instant> {
        let interval = self.status_interval()?;
        if self.rounds.ended().is_some() {
            return None;
        }
        Some(self.status.last_due.map_or(self.started, |t| t + interval))
    }

    /// Emits `StatusDue` when the phase changed or the interval has passed. The final status
    /// is the driver's to write on `Exit`.
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
            self.outputs.push_back(Output::StatusDue);
        }
    }
}
