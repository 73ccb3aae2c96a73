//! Per-connection handling inside the core: accepting, decoding received bytes, applying the
//! transition table's rules, admitting hellos, refusals, removals and the bounded outgoing
//! queue. Performs no I/O.

use crate::conn::{self, rule, ConnState, ProtocolViolation, Rule, StateKind, Why};
use crate::time::Instant;
use crate::wire::{ClientMsg, ConductorMsg, DecodeError, Id, RawHello, Reason, ShowByte, VERSION};

use super::{Conductor, ConnId, Event, Leave, Output, RefusalKind, Who};

fn event_of(msg: &ClientMsg) -> conn::Event {
    match msg {
        ClientMsg::Hello(_) => conn::Event::Hello,
        ClientMsg::Received => conn::Event::Received,
        ClientMsg::Done => conn::Event::Done,
        ClientMsg::Working => conn::Event::Working,
        ClientMsg::Here => conn::Event::Here,
        ClientMsg::Ping => conn::Event::Ping,
        ClientMsg::Exit => conn::Event::Exit,
        ClientMsg::Refusal(_) => conn::Event::Refusal,
    }
}

impl Conductor {
    /// Sends the hello, or refuses an address outside `allow`, and arms the hello timer.
    pub(super) fn on_accept(&mut self, now: Instant, conn: ConnId) {
        let peer = self.conns[conn.0].peer;
        if self.rounds.ended().is_some() {
            self.close_now(conn);
            return;
        }
        if !self.config.allow.is_empty() && !self.config.allow.iter().any(|c| c.contains(peer.ip()))
        {
            let reason = Reason::lossy(&format!("address {} is not allowed", peer.ip()));
            self.refuse(now, conn, RefusalKind::NotAllowed, reason);
            return;
        }
        self.emit(Event::Connected { conn, peer });
        let hello = ConductorMsg::Hello(RawHello {
            version: VERSION,
            id: *self.config.server_id.as_wire(),
        });
        self.send(conn, &hello);
        self.rearm(conn);
    }

    /// Decodes and applies every complete message in `bytes`, keeping an incomplete tail.
    pub(super) fn on_received(&mut self, now: Instant, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if c.state.kind().is_ending() || bytes.is_empty() {
            return;
        }
        c.last_heard = now;
        let mut input = bytes;
        if !c.inbox.is_empty() {
            // Complete the pending message from the new bytes (no message exceeds 536 bytes),
            // then decode the rest straight from the input.
            let mut inbox = std::mem::take(&mut c.inbox);
            let held = inbox.len();
            let take = input.len().min(crate::wire::MAX_MESSAGE_LEN);
            inbox.extend_from_slice(&input[..take]);
            let used = self.decode_all(now, conn, &inbox);
            if used >= held {
                input = &input[used - held..];
            } else {
                // Still incomplete: every new byte is held.
                inbox.drain(..used);
                self.keep_tail(conn, inbox);
                return;
            }
        }
        let used = self.decode_all(now, conn, input);
        let tail = &input[used.min(input.len())..];
        if !tail.is_empty() {
            self.keep_tail(conn, tail.to_vec());
        }
    }

    fn keep_tail(&mut self, conn: ConnId, tail: Vec<u8>) {
        if let Some(c) = self.conns.get_mut(conn.0) {
            if !c.state.kind().is_ending() {
                c.inbox = tail;
            }
        }
    }

    /// Applies each complete message at the start of `buf`; returns the bytes consumed. Stops
    /// early (consuming everything) once the connection starts closing.
    fn decode_all(&mut self, now: Instant, conn: ConnId, buf: &[u8]) -> usize {
        let mut used = 0;
        while used < buf.len() {
            if self
                .conns
                .get(conn.0)
                .is_none_or(|c| c.state.kind().is_ending())
            {
                return buf.len();
            }
            match ClientMsg::decode(&buf[used..]) {
                Ok(Some((msg, n))) => {
                    used += n;
                    if self.config.trace_events {
                        let msg = msg.clone();
                        self.emit(Event::MessageReceived { conn, msg });
                    }
                    self.on_message(now, conn, msg);
                }
                Ok(None) => break,
                Err(error) => {
                    self.on_garbage(now, conn, &error);
                    return buf.len();
                }
            }
        }
        used
    }

    fn on_garbage(&mut self, now: Instant, conn: ConnId, error: &DecodeError) {
        let state = self.conns[conn.0].state.kind();
        let got = match error {
            DecodeError::UnknownType { byte, .. } => {
                format!("unknown message type {}", ShowByte(*byte))
            }
            other => format!("an invalid refusal ({other})"),
        };
        let reason = ProtocolViolation { got, state }.reason();
        self.refuse(now, conn, RefusalKind::Violation, reason);
    }

    /// Applies the transition table's rule for one message.
    fn on_message(&mut self, now: Instant, conn: ConnId, msg: ClientMsg) {
        let state = self.conns[conn.0].state.kind();
        match rule(state, event_of(&msg)) {
            Rule::Admit => {
                if let ClientMsg::Hello(hello) = msg {
                    self.admit(now, conn, hello);
                }
            }
            Rule::To(next) => {
                let step = self.conns[conn.0].state.step().unwrap_or(0);
                let next = match next {
                    StateKind::Working => ConnState::Working { step },
                    _ => ConnState::Done { step },
                };
                self.set_state(conn, next);
            }
            Rule::AckAndDone => {
                let step = self.conns[conn.0].state.step().unwrap_or(0);
                self.set_state(conn, ConnState::Working { step });
                self.set_state(conn, ConnState::Done { step });
            }
            Rule::Answer => self.send(conn, &ConductorMsg::Here),
            Rule::Refresh | Rule::Ignore | Rule::Never => {}
            Rule::Violation => {
                let got = match &msg {
                    ClientMsg::Hello(_) => "a hello 'A' (0x41)".to_string(),
                    other => ShowByte(other.type_byte()).to_string(),
                };
                let reason = ProtocolViolation { got, state }.reason();
                self.refuse(now, conn, RefusalKind::Violation, reason);
            }
            Rule::Remove => {
                let leave = match msg {
                    ClientMsg::Refusal(reason) => Leave::Refusal(reason),
                    _ => Leave::Exit,
                };
                self.remove(now, conn, leave);
            }
            Rule::TimedOut => {}
        }
    }

    /// Checks a hello: version, id, uniqueness, capacity. Admits the client as Idle or refuses.
    fn admit(&mut self, now: Instant, conn: ConnId, hello: RawHello) {
        let verdict = if hello.version != VERSION {
            Err((
                RefusalKind::Version,
                format!(
                    "unsupported protocol version {}; this conductor speaks version 1",
                    ShowByte(hello.version)
                ),
            ))
        } else {
            match Id::from_wire(hello.id) {
                Err(e) => Err((RefusalKind::InvalidId, format!("invalid id: {e}"))),
                Ok(id) if self.ids.contains(&id) => {
                    Err((RefusalKind::DuplicateId, format!("duplicate id {id}")))
                }
                Ok(_) if self.members >= self.config.max_clients => {
                    Err((RefusalKind::Full, "full".to_string()))
                }
                Ok(id) => Ok(id),
            }
        };
        match verdict {
            Err((kind, reason)) => self.refuse(now, conn, kind, Reason::lossy(&reason)),
            Ok(id) => {
                let c = &mut self.conns[conn.0];
                c.id = Some(id);
                let peer = c.peer;
                self.set_state(conn, ConnState::Idle);
                self.emit(Event::Joined { conn, id, peer });
                self.rearm(conn);
            }
        }
    }

    /// The one place a connection's state changes: keeps the counts, the ids and the round,
    /// and reports `old -> new`.
    pub(super) fn set_state(&mut self, conn: ConnId, next: ConnState) {
        let now = self.now;
        let c = &mut self.conns[conn.0];
        let old = c.state.kind();
        let new = next.kind();
        c.state = next;
        if new.is_ending() {
            c.inbox = Vec::new();
        }
        let id = c.id;
        self.ready = self.ready + u32::from(new.is_ready()) - u32::from(old.is_ready());
        self.members = self.members + u32::from(new.is_joined()) - u32::from(old.is_joined());
        match (old.is_joined(), new.is_joined(), id) {
            (false, true, Some(id)) => _ = self.ids.insert(id),
            (true, false, Some(id)) => _ = self.ids.remove(&id),
            _ => {}
        }
        if self.config.trace_events {
            self.emit(Event::StateChanged { conn, old, new });
        }
        if old.is_pending() && !new.is_pending() {
            let ended = if new == StateKind::Done {
                self.round_latest_done = id;
                self.rounds.participant_done(now)
            } else {
                self.rounds.participant_removed(now)
            };
            if let Some(summary) = ended {
                self.round_ended(summary);
            }
        }
    }

    /// Sends `R reason` and closes once the refusal is flushed.
    pub(super) fn refuse(&mut self, now: Instant, conn: ConnId, kind: RefusalKind, reason: Reason) {
        let Some(c) = self.conns.get(conn.0) else {
            return;
        };
        if c.state.kind().is_ending() {
            return;
        }
        let who = self.who(conn);
        self.emit(Event::Refused {
            who,
            kind,
            reason: reason.clone(),
        });
        let msg = ConductorMsg::Refusal(reason.clone());
        self.set_state(conn, ConnState::Refused { reason, since: now });
        self.send(conn, &msg);
        self.rearm(conn);
        self.close_if_flushed(conn);
    }

    /// Removes a client that left (`X`, `R`, EOF); nothing is sent back.
    fn remove(&mut self, now: Instant, conn: ConnId, how: Leave) {
        let who = self.who(conn);
        let was_member = self.conns[conn.0].is_member();
        match how {
            Leave::Exit | Leave::Closed if !was_member => {
                self.emit(Event::ClosedBeforeHello { who });
            }
            how => self.emit(Event::Left { who, how }),
        }
        let why = Why::Left;
        self.set_state(conn, ConnState::Closing { why, since: now });
        self.rearm(conn);
        self.close_if_flushed(conn);
    }

    /// The peer closed or reset the connection: nothing more can be delivered.
    pub(super) fn on_closed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(conn.0) else {
            return;
        };
        if !c.state.kind().is_ending() {
            self.remove(now, conn, Leave::Closed);
        }
        self.close_now(conn);
    }

    /// `n` bytes of the queue reached the socket.
    pub(super) fn on_sent(&mut self, conn: ConnId, n: usize) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        let n = n.min(c.outbox.len());
        c.outbox.drain(..n);
        if c.outbox.is_empty() && c.outbox.capacity() > 4096 {
            c.outbox = Vec::new();
        }
        self.close_if_flushed(conn);
    }

    /// Queues a message; a client whose queue passes the bound is dropped as not reading.
    pub(super) fn send(&mut self, conn: ConnId, msg: &ConductorMsg) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        msg.encode_into(&mut scratch);
        self.send_bytes(conn, &scratch);
        self.scratch = scratch;
    }

    /// Queues already-encoded bytes; see [`send`](Self::send).
    pub(super) fn send_bytes(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if c.state == ConnState::Closed {
            return;
        }
        let was_empty = c.outbox.is_empty();
        c.outbox.extend_from_slice(bytes);
        if c.outbox.len() > self.config.max_queued_bytes {
            let queued = c.outbox.len();
            let who = self.who(conn);
            self.emit(Event::DroppedNotReading { who, queued });
            self.drop_stalled(conn);
        } else if was_empty {
            self.outputs.push_back(Output::Transmit(conn));
        }
    }

    fn drop_stalled(&mut self, conn: ConnId) {
        self.close_now(conn);
    }

    /// Closes a refused or closing connection once its queue is empty.
    pub(super) fn close_if_flushed(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(conn.0) {
            let kind = c.state.kind();
            if matches!(kind, StateKind::Refused | StateKind::Closing) && c.outbox.is_empty() {
                self.close_now(conn);
            }
        }
    }

    /// Queues the Close output; whatever is still queued is given up.
    pub(super) fn close_now(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get_mut(conn.0) else {
            return;
        };
        if c.state == ConnState::Closed {
            return;
        }
        c.outbox = Vec::new();
        c.timer_at = None;
        self.set_state(conn, ConnState::Closed);
        self.outputs.push_back(Output::Close(conn));
    }

    /// A connection as events name it. Only for connections the caller knows are open.
    pub(super) fn who(&self, conn: ConnId) -> Who {
        let c = &self.conns[conn.0];
        Who {
            conn,
            peer: c.peer,
            id: c.id,
        }
    }
}
