//! The queue of the connections' deadlines: which timers a state has and when each falls due
//! is the connection's ([`Conn::deadline`], beside its table); this module keeps them in order
//! and feeds the table the timer that is due. Performs no I/O.
//!
//! Each connection has at most one live entry in a min-heap, at its earliest deadline; entries
//! made stale by a later re-arm or a close are skipped when they come up and pruned from the
//! top after every input, so the next deadline reported is live. Messages never touch the
//! heap: a refreshed connection is re-examined when its old entry fires and re-armed later; a
//! connection is re-armed when it enters a state with other timers.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::conn::{Conn, Input};
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

impl Conductor {
    /// Makes sure the connection's heap entry is no later than its earliest deadline.
    pub(super) fn rearm(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(conn.0) else {
            return;
        };
        let Some(at) = c.next_deadline(&self.config) else {
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
        if let Some(timer) = self.conns[conn.0].due(now, &self.config) {
            self.step(conn, Input::Timeout(timer));
        }
    }
}
