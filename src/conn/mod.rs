//! One client connection, completely: its data (peer, id, incomplete input, outgoing queue,
//! liveness bookkeeping, timer entry) and its state machine (SPEC §4): the states with the data
//! each carries, ending included, the events a connection can see, and [`rule`], the single
//! transition table that both the core and the generated diagrams use. Performs no I/O and
//! reads no clock.

mod state;
mod table;

pub use state::{ConnState, ProtocolViolation, StateKind, Why};
pub use table::{rule, Event, Rule, ALL_EVENTS, ALL_STATES};

use std::net::SocketAddr;

use crate::time::Instant;
use crate::wire::Id;

/// One connection as the core sees it.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) state: ConnState,
    /// The client's id, once its hello was accepted; kept after it leaves, to name it.
    pub(crate) id: Option<Id>,
    /// Bytes of a message not complete yet (less than one message).
    pub(crate) inbox: Vec<u8>,
    /// Bytes queued for the peer.
    pub(crate) outbox: Vec<u8>,
    pub(crate) last_heard: Instant,
    pub(crate) last_probe: Option<Instant>,
    /// When the first probe after the last byte heard went out: the liveness drop counts from
    /// it (see `core::timers`). A value not later than `last_heard` belongs to a silence that
    /// ended.
    pub(crate) first_probe: Option<Instant>,
    /// The deadline of this connection's entry in the timer queue.
    pub(crate) timer_at: Option<Instant>,
    /// Distinguishes this connection from earlier ones in the same slot.
    pub(crate) serial: u64,
}

impl Conn {
    /// A connection from `peer` accepted at `now`, awaiting its hello.
    pub(crate) fn new(peer: SocketAddr, now: Instant, serial: u64) -> Conn {
        Conn {
            peer,
            state: ConnState::AwaitingHello { since: now },
            id: None,
            inbox: Vec::new(),
            outbox: Vec::new(),
            last_heard: now,
            last_probe: None,
            first_probe: None,
            timer_at: None,
            serial,
        }
    }

    /// Past the hello and not ending.
    pub(crate) fn is_member(&self) -> bool {
        self.state.kind().is_joined()
    }
}
