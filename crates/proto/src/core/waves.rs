//! Carrying out the round controller's decisions inside the core: Go waves (with the record of
//! the wave and the `S` countdown before them), `T` broadcasts with the event naming who holds
//! the round up (or how long the operator's pause has lasted), and the end (`C` or `E`, then
//! `X`, then closing everything; or, for a restart, closing everything without a word); turning
//! what run control did into events; and saying when no wave can go out for want of ready
//! participants. Each connection's table decides what it is sent; this module only says what
//! happens, in which order. Performs no I/O.

use crate::conn::{Change, Input, StateKind};
use crate::record::Record;
use crate::round::{Decision, EndKind, Notice, RoundSummary};
use crate::time::Instant;
use crate::wire::Id;

use super::{Conductor, Event, Output};

impl Conductor {
    /// Carries out one decision of the round controller.
    pub(super) fn apply_decision(&mut self, now: Instant, decision: Decision) {
        match decision {
            Decision::Wave { step, countdown } => self.send_wave(now, step, countdown),
            Decision::Slow => {
                let event = match self.rounds.round() {
                    Some(round) => Event::SlowRound {
                        step: round.step,
                        waiting_on: self.waiting_on(),
                    },
                    None => Event::StillPaused {
                        paused_for: self.rounds.control().paused_for(now).unwrap_or_default(),
                    },
                };
                self.emit(event);
                self.step_all(|| Input::Slow, |_| {});
            }
            Decision::End(kind) => {
                self.emit(Event::Ending(kind.clone()));
                self.record_end(&kind);
                if kind.says_goodbye() {
                    let error = kind.announces_error();
                    self.step_all(|| Input::End { error }, |_| {});
                } else {
                    self.step_all(|| Input::Abandon, |_| {});
                }
                self.outputs.push_back(Output::Exit(kind));
            }
        }
    }

    /// A proposed wave: `S n` to every member if a countdown runs (which may drop some that do
    /// not read), then Go to every member still ready, then the wave is committed with those
    /// that took the Go.
    fn send_wave(&mut self, now: Instant, step: u32, countdown: Option<u32>) {
        if self.config.persist {
            let record = Record {
                step,
                waves_sent: self.rounds.waves_sent() + 1,
                ..Record::start(&self.config.rounds)
            };
            self.record = Some(record);
            // Ahead of everything queued: a Transmit already queued for a connection would
            // write this wave's bytes too.
            self.outputs.push_front(Output::Persist(record));
        }
        if let Some(n) = countdown {
            self.emit(Event::Countdown { n });
            self.step_all(|| Input::Countdown(n), |_| {});
        }
        let participants = self.ready;
        self.emit(Event::Wave { step, participants });
        self.round_latest_done = None;
        let mut took_go = 0;
        let took = |change: Change| took_go += u32::from(change.to == StateKind::GoSent);
        self.step_all(|| Input::Go(step), took);
        let summary = self.rounds.commit(now, took_go);
        self.take_notices(step);
        if let Some(summary) = summary {
            self.round_ended(summary);
        }
    }

    /// What run control did (the wave of `step` was late, a hold was reached), as events.
    pub(super) fn take_notices(&mut self, step: u32) {
        while let Some(notice) = self.rounds.poll_notice() {
            let event = match notice {
                Notice::Late { by } => Event::LateWave { step, late_by: by },
                Notice::Held { step, cause } => Event::Held { step, cause },
            };
            self.emit(event);
        }
    }

    /// What the state file keeps of an ending: a planned end finishes the run, so that the
    /// next conductor starts at step 0; a restart records the last wave again, for the driver
    /// to make durable. Other endings leave the record of the last wave as it is.
    fn record_end(&mut self, kind: &EndKind) {
        if !self.config.persist {
            return;
        }
        let record = match kind {
            EndKind::Planned => Some(Record {
                finished: true,
                ..self
                    .record
                    .unwrap_or_else(|| Record::start(&self.config.rounds))
            }),
            EndKind::Restart => self.record,
            _ => None,
        };
        if let Some(record) = record {
            self.record = Some(record);
            self.outputs.push_back(Output::Persist(record));
        }
    }

    /// The controller reported the end of a round: remember who was slowest and say so.
    pub(super) fn round_ended(&mut self, summary: RoundSummary) {
        self.last_round_slowest = if summary.slowest_done.is_some() {
            self.round_latest_done.take()
        } else {
            None
        };
        self.emit(Event::RoundEnd {
            step: summary.step,
            duration: summary.duration,
            slowest: self.last_round_slowest.zip(summary.slowest_done),
        });
    }

    /// True when no wave can go out because fewer than `min_clients` members are ready: no
    /// round runs and the conductor has not ended.
    pub fn is_waiting_for_participants(&self) -> bool {
        self.ready < self.rounds.config().min_clients
            && self.rounds.round().is_none()
            && self.rounds.ended().is_none()
    }

    /// Emits [`Event::Waiting`] when the run starts waiting for participants, and when the
    /// ready count changes while it waits: a few comparisons per input.
    pub(super) fn note_waiting(&mut self) {
        if !self.is_waiting_for_participants() {
            self.waiting = None;
            return;
        }
        if self.waiting != Some(self.ready) {
            self.waiting = Some(self.ready);
            self.emit(Event::Waiting {
                ready: self.ready,
                needed: self.rounds.config().min_clients,
            });
        }
    }

    /// Ids of the running round's participants that are not Done yet.
    pub(super) fn waiting_on(&self) -> Vec<Id> {
        self.conns
            .iter()
            .filter(|(_, c)| c.state().kind().is_pending())
            .filter_map(|(_, c)| c.id())
            .collect()
    }
}
