//! The core's per-connection deadlines: hello timeout, probe, liveness drop and the linger of a
//! closing connection. Each connection has at most one live entry in a min-heap, at its
//! earliest deadline; entries made stale by a later re-arm are skipped when they come up.
//! Messages never touch the heap: a refreshed connection is re-examined when its old entry
//! fires and re-armed later. Performs no I/O.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::conn::{rule, Event, Rule, StateKind};
use crate::time::Instant;
use crate::wire::{ConductorMsg, Reason};

use super::{Conductor, Conn, ConnId};

/// A min-heap of (deadline, slot, serial).
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Timers {
    /// The earliest entry (possibly stale: waking early is harmless).
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }
}

/// What a connection's deadlines demand at `now`.
enum Due {
    HelloTimeout,
    LivenessTimeout,
    Probe,
    Linger,
}

impl Conductor {
    /// The earliest deadline that matters for this connection in its current state.
    fn deadline(&self, c: &Conn) -> Option<Instant> {
        let cfg = &self.config;
        if c.close_queued {
            return None;
        }
        if c.closing {
            return c.closing_since.map(|t| t + cfg.linger);
        }
        match c.state.kind() {
            StateKind::AwaitingHello => {
                (!cfg.hello_timeout.is_zero()).then(|| c.accepted_at + cfg.hello_timeout)
            }
            StateKind::Refused => None,
            _ => {
                let drop = (!cfg.drop_after.is_zero()).then(|| c.last_heard + cfg.drop_after);
                let probe =
                    (!cfg.probe_after.is_zero()).then(|| Self::next_probe(c, cfg.probe_after));
                [drop, probe].into_iter().flatten().min()
            }
        }
    }

    /// Probes go out `probe_after` after the last thing heard, then every `probe_after`.
    fn next_probe(c: &Conn, every: crate::time::Duration) -> Instant {
        match c.last_probe {
            Some(p) if p >= c.last_heard => p + every,
            _ => c.last_heard + every,
        }
    }

    fn due(&self, c: &Conn, now: Instant) -> Option<Due> {
        let cfg = &self.config;
        if c.close_queued {
            return None;
        }
        if c.closing {
            return c
                .closing_since
                .filter(|t| now >= *t + cfg.linger)
                .map(|_| Due::Linger);
        }
        match c.state.kind() {
            StateKind::AwaitingHello => (!cfg.hello_timeout.is_zero()
                && now >= c.accepted_at + cfg.hello_timeout)
                .then_some(Due::HelloTimeout),
            StateKind::Refused => None,
            _ if !cfg.drop_after.is_zero() && now >= c.last_heard + cfg.drop_after => {
                Some(Due::LivenessTimeout)
            }
            _ if !cfg.probe_after.is_zero() && now >= Self::next_probe(c, cfg.probe_after) => {
                Some(Due::Probe)
            }
            _ => None,
        }
    }

    /// Makes sure the connection's heap entry is no later than its earliest deadline.
    pub(super) fn rearm(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(conn.0) else {
            return;
        };
        let Some(at) = self.deadline(c) else { return };
        if c.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let serial = c.serial;
        self.conns[conn.0].timer_at = Some(at);
        self.timers.heap.push(Reverse((at, conn.0, serial)));
    }

    /// Handles every connection deadline up to `now`, then the round's `T`, then status.
    pub(super) fn on_tick(&mut self, now: Instant) {
        while let Some(&Reverse((at, key, serial))) = self.timers.heap.peek() {
            if at > now {
                break;
            }
            self.timers.heap.pop();
            let live = self
                .conns
                .get(key)
                .is_some_and(|c| c.serial == serial && c.timer_at == Some(at));
            if !live {
                continue;
            }
            self.conns[key].timer_at = None;
            self.on_deadline(now, ConnId(key));
            self.rearm(ConnId(key));
        }
        if let Some(decision) = self.rounds.on_timeout(now) {
            self.apply(now, decision);
        }
    }

    fn on_deadline(&mut self, now: Instant, conn: ConnId) {
        let c = &self.conns[conn.0];
        let Some(due) = self.due(c, now) else { return };
        let kind = c.state.kind();
        match due {
            Due::HelloTimeout => {
                if rule(kind, Event::HelloTimeout) == Rule::TimedOut {
                    let ms = self.config.hello_timeout.as_millis();
                    self.refuse(
                        now,
                        conn,
                        Reason::lossy(&format!("hello timeout: no hello within {ms} ms")),
                    );
                }
            }
            Due::LivenessTimeout => {
                if rule(kind, Event::LivenessTimeout) == Rule::TimedOut {
                    self.refuse(now, conn, Reason::lossy("liveness timeout"));
                }
            }
            Due::Probe => {
                self.conns[conn.0].last_probe = Some(now);
                self.send(conn, &ConductorMsg::Ping);
            }
            Due::Linger => {
                log::debug!(
                    "{}: gave up flushing after {}",
                    self.describe(conn),
                    self.config.linger
                );
                self.close_now(conn);
            }
        }
    }
}
