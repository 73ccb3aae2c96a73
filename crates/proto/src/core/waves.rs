//! Carrying out the round controller's decisions inside the core: Go waves (with the `S`
//! countdown before them), `T` broadcasts with the event naming who holds the round up, and the end
//! (`C` or `E`, then `X`, then closing everything). Performs no I/O.

use crate::conn::{rule, ConnState, Event, Rule, StateKind};
use crate::round::Decision;
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
                    let c = &mut self.conns[key];
                    if !c.closing {
                        c.closing = true;
                        c.closing_since = Some(now);
                    }
                    self.rearm(conn);
                    self.close_if_flushed(conn);
                }
                self.ready = 0;
                self.members = 0;
                self.outputs.push_back(Output::Exit(kind));
            }
        }
    }

    /// `S n` to every member if a countdown runs, then Go to every ready member.
    fn send_wave(&mut self, now: Instant, step: u32, countdown: Option<u32>) {
        if let Some(n) = countdown {
            self.emit(super::Event::Countdown { n });
            let counted = self.ready;
            self.broadcast(&ConductorMsg::ShuttingDown(n));
            // The controller counted every ready client as a participant; one that `S`
            // dropped for not reading will never be Done.
            for _ in self.ready..counted {
                self.rounds.participant_removed(now);
            }
            self.after_round_change();
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
            .filter(|(_, c)| {
                !c.closing && rule(c.state.kind(), Event::Go) == Rule::To(StateKind::GoSent)
            })
            .map(|(k, _)| k)
            .collect();
        for key in keys {
            self.set_state(ConnId(key), ConnState::GoSent { step });
            self.send_bytes(ConnId(key), &go);
        }
        self.scratch = go;
    }

    /// Sends a message to every member (clients past their hello).
    fn broadcast(&mut self, msg: &ConductorMsg) {
        self.broadcast_where(msg, |c| c.is_member());
    }

    /// Sends a message to every connection that is not closing.
    fn broadcast_to_all(&mut self, msg: &ConductorMsg) {
        self.broadcast_where(msg, |c| !c.closing);
    }

    fn broadcast_where(&mut self, msg: &ConductorMsg, pick: impl Fn(&super::Conn) -> bool) {
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

    /// After a Done or a removal: reports the round's end once the controller has closed it.
    pub(super) fn after_round_change(&mut self) {
        if self.rounds.round().is_some() {
            return;
        }
        let Some(summary) = self.rounds.last_round() else {
            return;
        };
        if self.rounds.last_step().is_none() {
            return;
        }
        // The controller has just closed the round (it was running before this call).
        self.last_round_slowest = if summary.slowest_done.is_some() {
            self.round_latest_done.take()
        } else {
            None
        };
        self.emit(super::Event::RoundEnd {
            step: self.rounds.last_step().unwrap_or(0),
            duration: summary.duration,
            slowest: self.last_round_slowest.zip(summary.slowest_done),
        });
    }

    /// Ids of the running round's participants that are not Done yet.
    pub(super) fn waiting_on(&self) -> Vec<Id> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.closing && c.state.kind().is_pending())
            .filter_map(|(_, c)| c.id)
            .collect()
    }
}
