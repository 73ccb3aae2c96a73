//! The core's per-connection deadlines: hello timeout, probe, liveness drop and the linger of a
//! closing connection. Performs no I/O.
//!
//! Each connection has at most one live entry in a min-heap, at its earliest deadline; entries
//! made stale by a later re-arm or a close are skipped when they come up and pruned from the
//! top after every input, so the next deadline reported is live. Messages never touch the
//! heap: a refreshed connection is re-examined when its old entry fires and re-armed later.
//!
//! With probing on and `probe_after` shorter than `drop_after`, a member is dropped only once
//! it was sent `?` and stayed silent for the rest of the drop window: the drop falls due
//! `drop_after - probe_after` after the first probe that followed the last byte heard. Probes
//! go out `probe_after` into a silence, so this is `drop_after` after the last byte heard, as
//! SPEC §3.4 says, whenever the conductor keeps its own timing; but time the conductor did
//! not spend listening (stopped, or blocked on a write) is never counted against a member:
//! after such a stall a silent member is asked first and gets the rest of the window to
//! answer. With probing off, or not shorter than `drop_after`, the drop falls due
//! `drop_after` after the last byte heard.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::conn::{Conn, ConnState, Input, Timer};
use crate::time::Instant;

use super::{Conductor, ConnId};

/// A min-heap of (deadline, slot, serial).
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize, u64)>>,
}

impl Timers {
    /// The earliest entry. After every input the stale entries on top are pruned, so this is
    /// the earliest live deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }
}

/// True when the heap entry is the connection's current one (not replaced, not closed).
fn is_live(conns: &slab::Slab<Conn>, at: Instant, key: usize, serial: u64) -> bool {
    conns
        .get(key)
        .is_some_and(|c| c.serial() == serial && c.timer_at == Some(at))
}

/// A connection's deadlines in its current state; those that do not apply are `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Deadlines {
    /// Awaiting the hello: the hello timeout.
    pub(super) hello: Option<Instant>,
    /// A member: the liveness drop.
    pub(super) drop: Option<Instant>,
    /// A member: the next probe.
    pub(super) probe: Option<Instant>,
    /// Closing: when flushing is given up.
    pub(super) linger: Option<Instant>,
}

impl Deadlines {
    fn earliest(&self) -> Option<Instant> {
        [self.hello, self.drop, self.probe, self.linger]
            .into_iter()
            .flatten()
            .min()
    }

    /// The first deadline passed at `now`; a drop wins over a probe due at the same time.
    fn due(&self, now: Instant) -> Option<Timer> {
        let passed = |t: Option<Instant>| t.is_some_and(|t| now >= t);
        if passed(self.linger) {
            Some(Timer::Linger)
        } else if passed(self.hello) {
            Some(Timer::Hello)
        } else if passed(self.drop) {
            Some(Timer::Drop)
        } else if passed(self.probe) {
            Some(Timer::Probe)
        } else {
            None
        }
    }
}

impl Conductor {
    /// The deadlines that matter for this connection in its current state.
    pub(super) fn deadlines(&self, c: &Conn) -> Deadlines {
        let cfg = &self.config;
        let mut d = Deadlines::default();
        match *c.state() {
            ConnState::AwaitingHello { since } => {
                d.hello = (!cfg.hello_timeout.is_zero()).then(|| since + cfg.hello_timeout);
            }
            ConnState::Refused { since, .. } | ConnState::Closing { since, .. } => {
                d.linger = Some(since + cfg.linger);
            }
            ConnState::Closed => {}
            ConnState::Idle
            | ConnState::GoSent { .. }
            | ConnState::Working { .. }
            | ConnState::Done { .. } => {
                d.drop = self.drop_deadline(c);
                d.probe =
                    (!cfg.probe_after.is_zero()).then(|| Self::next_probe(c, cfg.probe_after));
            }
        }
        d
    }

    /// When a member's silence gets it dropped (see the module docs); `None` while it has not
    /// yet been asked, when asking comes first.
    fn drop_deadline(&self, c: &Conn) -> Option<Instant> {
        let (probe, drop) = (self.config.probe_after, self.config.drop_after);
        if drop.is_zero() {
            None
        } else if probe.is_zero() || probe >= drop {
            Some(c.last_heard() + drop)
        } else {
            let asked = c.first_probe().filter(|&p| p > c.last_heard())?;
            Some(asked + drop.saturating_sub(probe))
        }
    }

    /// Probes go out `probe_after` after the last thing heard, then every `probe_after`.
    fn next_probe(c: &Conn, every: crate::time::Duration) -> Instant {
        match c.last_probe() {
            Some(p) if p >= c.last_heard() => p + every,
            _ => c.last_heard() + every,
        }
    }

    /// Makes sure the connection's heap entry is no later than its earliest deadline.
    pub(super) fn rearm(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(conn.0) else {
            return;
        };
        let Some(at) = self.deadlines(c).earliest() else {
            return;
        };
        if c.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        let serial = c.serial();
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
            if !is_live(&self.conns, at, key, serial) {
                continue;
            }
            self.conns[key].timer_at = None;
            self.on_deadline(now, ConnId(key));
            self.rearm(ConnId(key));
        }
        if let Some(decision) = self.rounds.on_timeout(now) {
            self.apply_decision(now, decision);
        }
    }

    /// Drops stale entries from the top of the heap, so that the next deadline reported is a
    /// live one and the driver does not wake for nothing.
    pub(super) fn prune_stale_timers(&mut self) {
        while let Some(&Reverse((at, key, serial))) = self.timers.heap.peek() {
            if is_live(&self.conns, at, key, serial) {
                break;
            }
            self.timers.heap.pop();
        }
    }

    /// Feeds the connection's table the timer that is due, if one is.
    fn on_deadline(&mut self, now: Instant, conn: ConnId) {
        if let Some(timer) = self.deadlines(&self.conns[conn.0]).due(now) {
            self.step(conn, Input::Timeout(timer));
        }
    }
}
