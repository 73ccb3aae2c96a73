//! One client connection, completely: its data (peer, id, incomplete input, outgoing queue,
//! liveness bookkeeping, timer entry) and its state machine (PROTOCOL.md "Connection states"):
//! the states with the data each carries, ending included ([`ConnState`]), the transition table
//! that both decides and acts ([`Conn::handle`]), reporting to the conductor in a [`Change`]
//! what it must update, and beside it the timers of each state ([`Conn::deadline`]). Performs
//! no I/O and reads no clock.
//!
//! The conductor owns many connections and the facts about all of them (the ids taken, the
//! member count, whether it has ended); it passes those in a [`Context`], applies each
//! [`Change`] in one place and takes the connection's [`Report`] to turn it into events.

mod event;
mod state;
mod table;

#[cfg(test)]
mod tests;

pub use event::{Event, ALL_EVENTS};
pub use state::{ConnState, ProtocolViolation, StateKind, Why, ALL_STATES};
pub use table::{Change, Context, Input, Notice, Report, RoundExit, Timer, TimerSet};

use std::net::SocketAddr;

use crate::time::Instant;
use crate::wire::{ClientMsg, DecodeError, Id, MAX_MESSAGE_LEN};

/// One connection: what the table reads and changes. See the module docs.
#[derive(Clone, Debug)]
pub struct Conn {
    peer: SocketAddr,
    state: ConnState,
    /// The client's id, once its hello was accepted; kept after it leaves, to name it.
    id: Option<Id>,
    /// The names the transport proved ([`Input::Identified`]); the hello's id must be one.
    names: Option<Box<[String]>>,
    /// The start of a message not complete yet (shorter than one message).
    inbox: Vec<u8>,
    /// Bytes queued for the peer.
    outbox: Vec<u8>,
    last_heard: Instant,
    last_probe: Option<Instant>,
    /// When the first probe after the last byte heard went out: the liveness drop counts from
    /// it (see [`Conn::deadline`]). A value not later than `last_heard` belongs to a silence
    /// that ended.
    first_probe: Option<Instant>,
    /// Until then the liveness deadlines (probe and drop) wait: the operator exempted it
    /// (`conductor ctl exempt`, a debugger holds it).
    exempt_until: Option<Instant>,
    /// The deadline of this connection's entry in the conductor's timer queue, if it has one.
    pub(crate) timer_at: Option<Instant>,
    /// Distinguishes this connection from earlier ones in the same slot.
    serial: u64,
    /// What the table did that the conductor has not taken yet.
    report: Report,
    /// While an input is handled ([`Conn::handle`]): it has changed the state already, the
    /// state it passed through on the way to a second change, and whether it wrote to
    /// `report`.
    moved: bool,
    via: Option<StateKind>,
    reported: bool,
}

impl Conn {
    /// A connection from `peer` accepted at `now`, awaiting its hello; feed it
    /// [`Input::Accepted`] next.
    pub fn new(peer: SocketAddr, now: Instant, serial: u64) -> Conn {
        Conn {
            peer,
            state: ConnState::AwaitingHello { since: now },
            id: None,
            names: None,
            inbox: Vec::new(),
            outbox: Vec::new(),
            last_heard: now,
            last_probe: None,
            first_probe: None,
            exempt_until: None,
            timer_at: None,
            serial,
            report: Report::default(),
            moved: false,
            via: None,
            reported: false,
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The state, with its data.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// The client's id, once its hello was accepted.
    pub fn id(&self) -> Option<Id> {
        self.id
    }

    /// The names the transport proved, if it did.
    pub fn names(&self) -> Option<&[String]> {
        self.names.as_deref()
    }

    /// Past the hello and not ending.
    pub fn is_member(&self) -> bool {
        self.state.kind().is_joined()
    }

    /// Bytes queued for the peer and not written yet.
    pub fn pending(&self) -> &[u8] {
        &self.outbox
    }

    /// The start of a message received and not complete yet.
    pub fn incomplete_input(&self) -> &[u8] {
        &self.inbox
    }

    /// When a byte last arrived.
    pub fn last_heard(&self) -> Instant {
        self.last_heard
    }

    /// Distinguishes this connection from earlier ones in the same slot.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Until when its liveness deadlines wait, if the operator exempted it.
    pub fn exempt_until(&self) -> Option<Instant> {
        self.exempt_until
    }

    /// Its liveness deadlines (probe and drop) wait until `until` (`None`: they no longer
    /// wait). The conductor re-arms its timer afterwards.
    pub fn exempt(&mut self, until: Option<Instant>) {
        self.exempt_until = until;
    }

    /// Bytes arrived at `now`: true if the connection reads them. Any byte, even part of a
    /// message, counts as hearing from the peer; an ending connection reads nothing.
    pub fn hear(&mut self, now: Instant, bytes: &[u8]) -> bool {
        if self.state.kind().is_ending() || bytes.is_empty() {
            return false;
        }
        self.last_heard = now;
        true
    }

    /// The next complete message from the held input followed by `rest`, taking its bytes
    /// from `rest`; `None` once `rest` holds no complete message (its start is held for the
    /// next read) or the connection is ending (the rest is dropped). A decoding error takes
    /// everything: after it the connection is refused and reads nothing more.
    #[inline]
    pub fn next_message(&mut self, rest: &mut &[u8]) -> Option<Result<ClientMsg, DecodeError>> {
        if rest.is_empty() || self.state.kind().is_ending() {
            *rest = &[];
            return None;
        }
        if self.inbox.is_empty() {
            return match ClientMsg::decode(rest) {
                Ok(Some((msg, n))) => {
                    *rest = &rest[n..];
                    Some(Ok(msg))
                }
                Ok(None) => {
                    self.inbox.extend_from_slice(rest);
                    *rest = &[];
                    None
                }
                Err(error) => {
                    *rest = &[];
                    Some(Err(error))
                }
            };
        }
        // Complete the held start from the new bytes, on the stack: the held bytes are less
        // than one message and no message is longer than MAX_MESSAGE_LEN, so this holds it.
        let mut joined = [0u8; 2 * MAX_MESSAGE_LEN];
        let held = self.inbox.len().min(MAX_MESSAGE_LEN);
        let take = rest.len().min(joined.len() - held);
        joined[..held].copy_from_slice(&self.inbox[..held]);
        joined[held..held + take].copy_from_slice(&rest[..take]);
        match ClientMsg::decode(&joined[..held + take]) {
            Ok(Some((msg, n))) => {
                // The held bytes alone were no message, so this one ends in `rest`.
                *rest = &rest[n.saturating_sub(held).min(rest.len())..];
                self.inbox.clear();
                Some(Ok(msg))
            }
            Ok(None) => {
                self.inbox.extend_from_slice(&rest[..take]);
                *rest = &rest[take..];
                None
            }
            Err(error) => {
                self.inbox.clear();
                *rest = &[];
                Some(Err(error))
            }
        }
    }
}
