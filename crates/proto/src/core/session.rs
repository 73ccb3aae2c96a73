//! The conductor's side of its connections: feeding each input to the connection's table, and
//! the one place where what a transition changed is applied (counts, ids, the round, outputs,
//! events, the failures `end_on_failure` counts, timers). Performs no I/O.

use crate::conn::{Change, Context, Input, Notice, RoundExit};
use crate::time::Instant;

use super::{Conductor, ConnId, Event, Output, Who};

impl Conductor {
    /// Feeds one input to a connection's table and applies what it changed; returns the
    /// change (none for a connection that is gone).
    pub(super) fn step(&mut self, conn: ConnId, input: Input<'_>) -> Option<Change> {
        let c = self.conns.get_mut(conn.0)?;
        let ctx = Context {
            now: self.now,
            config: &self.config,
            ids: &self.ids,
            members: self.members,
            ended: self.rounds.ended().is_some(),
        };
        let change = c.handle(input, &ctx);
        // Most inputs (a `K`, a write) leave nothing to count, report or transmit.
        if change.transmit || change.reported || change.recounts() || self.traces(change) {
            self.apply(conn, change);
        }
        Some(change)
    }

    /// Feeds the same input to every connection, in slot order, and shows `each` what it
    /// changed.
    pub(super) fn step_all(
        &mut self,
        input: impl Fn() -> Input<'static>,
        mut each: impl FnMut(Change),
    ) {
        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        keys.extend(self.conns.iter().map(|(key, _)| key));
        for &key in &keys {
            if let Some(change) = self.step(ConnId(key), input()) {
                each(change);
            }
        }
        self.keys = keys;
    }

    /// Decodes and feeds every complete message in `bytes`; the connection keeps an
    /// incomplete tail.
    pub(super) fn on_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if !c.hear(now, bytes) {
            return;
        }
        let mut rest = bytes;
        while let Some(read) = self.conns[conn.0].next_message(&mut rest) {
            match read {
                Ok(msg) => {
                    if self.config.trace_events {
                        let msg = msg.clone();
                        self.emit(Event::MessageReceived { conn, msg });
                    }
                    self.step(conn, Input::Message(&msg));
                }
                Err(error) => _ = self.step(conn, Input::Garbage(&error)),
            }
        }
    }

    /// Whether a change of state is traced as an event.
    fn traces(&self, change: Change) -> bool {
        self.config.trace_events && change.from != change.to
    }

    /// The one place a transition's consequences are applied: the trace of state changes, the
    /// events, the ready and member counts and the ids, the round controller (which reports a
    /// round's end), the outputs and the connection's timer. Kept out of `step`, which most
    /// inputs leave without calling it.
    #[inline(never)]
    fn apply(&mut self, conn: ConnId, change: Change) {
        if self.config.trace_events {
            for (old, new) in change.transitions() {
                self.emit(Event::StateChanged { conn, old, new });
            }
        }
        if change.reported {
            self.report(conn);
        }
        if change.recounts() {
            self.recount(conn, change);
        }
        if change.transmit {
            self.outputs.push_back(Output::Transmit(conn));
        }
    }

    /// A change of state: the counts, the ids, the round, the close and the timer.
    fn recount(&mut self, conn: ConnId, change: Change) {
        match change.ready() {
            Some(true) => self.ready += 1,
            Some(false) => self.ready -= 1,
            None => {}
        }
        if change.joined() || change.left() {
            self.count_member(conn, change.joined());
        }
        let now = self.now;
        let round_end = match change.round() {
            Some(RoundExit::Done) => {
                self.round_latest_done = self.conns[conn.0].id();
                self.rounds.participant_done(now)
            }
            Some(RoundExit::Removed) => self.rounds.participant_removed(now),
            None => None,
        };
        if let Some(summary) = round_end {
            self.round_ended(summary);
        }
        if change.closed() {
            self.outputs.push_back(Output::Close(conn));
        } else if change.retimes() {
            self.rearm(conn);
        }
    }

    /// A member joined, or one stopped being a member: the count and the ids.
    #[cold]
    fn count_member(&mut self, conn: ConnId, joined: bool) {
        let id = self.conns[conn.0].id();
        if joined {
            self.members += 1;
            self.ids.extend(id);
        } else {
            self.members -= 1;
            if let Some(id) = id {
                self.ids.remove(&id);
            }
        }
    }

    /// What happened, in words: the connection's report becomes events.
    #[cold]
    fn report(&mut self, conn: ConnId) {
        let c = &mut self.conns[conn.0];
        let report = c.take_report();
        let (id, peer) = (c.id(), c.peer());
        let who = Who { conn, peer, id };
        if let Some(notice) = report.notice {
            let event = match notice {
                Notice::Connected => Event::Connected { conn, peer },
                Notice::Joined(id) => Event::Joined { conn, id, peer },
                Notice::Refused { kind, reason } => Event::Refused { who, kind, reason },
                Notice::Left(how) => Event::Left { who, how },
                Notice::ClosedBeforeHello => Event::ClosedBeforeHello { who },
                Notice::GaveUpFlushing => Event::GaveUpFlushing {
                    who,
                    after: self.config.linger,
                },
            };
            self.note_failure(&event);
            self.emit(event);
        }
        if let Some(queued) = report.dropped {
            let event = Event::DroppedNotReading { who, queued };
            self.note_failure(&event);
            self.emit(event);
        }
    }
}
