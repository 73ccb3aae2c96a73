//! Carrying out the round controller's decisions inside the core: Go waves (with the `S`
//! countdown before them), `T` broadcasts with the event naming who holds the round up, and the end
//! (`C` or `E`, then `X`, then closing everything). Performs no I/O.

use crate::conn::{rule, Conn, ConnState, Event, Rule, StateKind, Why};
use crate::round::{Decision, RoundSummary};
use crate::time::Instant;
use crate::wire::{ConductorMsg, Id};

use super::{Conductor, ConnId, Output};

impl Conductor {
    /// Carries out one decision of the round controller.
    pub(super) fn apply(&mut self, now: Instant, decision: Decision) {
        match decision {
            Decision::Wave { step, countdown } => self.send_wave(now, step, countdown),
            Decision::Slow => {
                self.emit(super::Event::SlowRound {
                    step: self.rounds.round().map_or(0, |r| r.step),
                    waiting_on: self.waiting_on(),
                });
                self.broadcast(&ConductorMsg::Slow);
            }
            Decision::End(kind) => {
                let announce = if kind.announces_error() {
                    ConductorMsg::Error
                } else {
                    ConductorMsg::Cease
                };
                self.emit(super::Event::Ending(kind.clone()));
                self.broadcast_to_all(&announce);
                self.broadcast_to_all(&ConductorMsg::Exit);
                let keys: Vec<usize> = self.conns.iter().map(|(k, _)| k).collect();
                for key in keys {
                    let conn = ConnId(key);
                    if !self.conns[key].state.kind().is_ending() {
                        let why = Why::Ended;
                        self.set_state(conn, ConnState::Closing { why, since: now });
                    }
                    self.rearm(conn);
                    self.close_if_flushed(conn);
                }
                self.outputs.push_back(Output::Exit(kind));
            }
        }
    }

    /// A proposed wave: `S n` to every member if a countdown runs, then Go to every member
    /// still ready, then the wave is committed with the participants that took the Go.
    fn send_wave(&mut self, now: Instant, step: u32, countdown: Option<u32>) {
        if let Some(n) = countdown {
            self.emit(super::Event::Countdown { n });
            self.broadcast(&ConductorMsg::ShuttingDown(n));
        }
        let participants = self.ready;
        self.emit(super::Event::Wave { step, participants });
        self.round_latest_done = None;
        let mut go = std::mem::take(&mut self.scratch);
        go.clear();
        ConductorMsg::Go(step).encode_into(&mut go);
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| rule(c.state.kind(), Event::Go) == Rule::To(StateKind::GoSent))
            .map(|(k, _)| k)
            .collect();
        let mut took_go = 0;
        for key in keys {
            self.set_state(ConnId(key), ConnState::GoSent { step });
            self.send_bytes(ConnId(key), &go);
            took_go += u32::from(self.conns[key].state.kind() == StateKind::GoSent);
        }
        self.scratch = go;
        if let Some(summary) = self.rounds.commit(now, took_go) {
            self.round_ended(summary);
        }
    }

    /// Sends a message to every member (clients past their hello).
    fn broadcast(&mut self, msg: &ConductorMsg) {
        self.broadcast_where(msg, |c| c.is_member());
    }

    /// Sends a message to every connection that is not ending.
    fn broadcast_to_all(&mut self, msg: &ConductorMsg) {
        self.broadcast_where(msg, |c| !c.state.kind().is_ending());
    }

    fn broadcast_where(&mut self, msg: &ConductorMsg, pick: impl Fn(&Conn) -> bool) {
        let mut bytes = Vec::with_capacity(8);
        msg.encode_into(&mut bytes);
        let keys: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| pick(c))
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.send_bytes(ConnId(key), &bytes);
        }
    }

    /// The controller reported the end of a round: remember who was slowest and say so.
    pub(super) fn round_ended(&mut self, summary: RoundSummary) {
        self.last_round_slowest = if summary.slowest_done.is_some() {
            self.round_latest_done.take()
        } else {
            None
        };
        self.emit(super::Event::RoundEnd {
            step: summary.step,
            duration: summary.duration,
            slowest: self.last_round_slowest.zip(summary.slowest_done),
        });
    }

    /// Ids of the running round's participants that are not Done yet.
    pub(super) fn waiting_on(&self) -> Vec<Id> {
        self.conns
            .iter()
            .filter(|(_, c)| c.state.kind().is_pending())
            .filter_map(|(_, c)| c.id)
            .collect()
    }
}
