//! A correct participant for the end-to-end tests: a TCP connection driven by the participant
//! state machine (`lockstep_proto::participant`), which says hello, checks and decodes what the
//! conductor sends, answers its probes and encodes every answer. Anything the conductor sends
//! that breaks the protocol fails the test. Tests that send wrong bytes on purpose use
//! [`Raw`](super::Raw) instead.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lockstep_proto::participant::{Event, OutOfTurn, Participant};
use lockstep_proto::wire::Id;

use super::raw::{next_within, read_within, Got};
use super::{Heard, Raw, DEADLINE};

/// A participant that keeps to the protocol.
pub struct Member {
    pub stream: TcpStream,
    session: Participant,
}

impl Member {
    /// Connects to `addr` as `name` and sends the hello at once, without waiting for the
    /// conductor's (which [`next_event`](Self::next_event) then returns first).
    pub fn connect(addr: SocketAddr, name: &str) -> Member {
        let mut member = Member::open(addr, name);
        member.flush();
        member
    }

    /// Connects as `name`, waits for the conductor's hello, then sends its own: nothing but
    /// the conductor's hello can have arrived before the join is complete.
    pub fn join(addr: SocketAddr, name: &str) -> Member {
        let mut member = Member::open(addr, name);
        let hello = member.session.take_pending();
        match member.next_event() {
            Event::Hello(_) => {}
            other => panic!("{name} expected the conductor's hello, got {other}"),
        }
        member.stream.write_all(&hello).expect("send the hello");
        member
    }

    /// A connection with the session's hello queued.
    fn open(addr: SocketAddr, name: &str) -> Member {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Member {
            stream,
            session: Participant::new(Id::new(name).expect("test id")),
        }
    }

    /// The connection, to go on with raw bytes. Only for a member that has received nothing
    /// since its hello.
    pub fn into_raw(mut self) -> Raw {
        if let Some(event) = self.session.poll_event() {
            panic!("{event} arrived before the member became raw");
        }
        Raw::from_stream(self.stream)
    }

    /// The next event within `wait`. A probe is answered before this returns.
    pub fn listen(&mut self, wait: Duration) -> Heard<Event> {
        if let Some(event) = self.session.poll_event() {
            return Heard::Msg(event);
        }
        let mut chunk = [0u8; 4096];
        match read_within(&mut self.stream, &mut chunk, wait) {
            Got::Bytes(n) => {
                if let Err(error) = self.session.handle(&chunk[..n]) {
                    panic!("{}: {error}", self.session.id());
                }
                self.flush();
                self.session.poll_event().map_or(Heard::Silence, Heard::Msg)
            }
            Got::Silence => Heard::Silence,
            Got::Closed => {
                self.session.closed();
                Heard::Closed
            }
        }
    }

    /// The next event, or `None` when the conductor closed the connection. Panics if nothing
    /// arrives within `within`.
    pub fn try_next_event_within(&mut self, within: Duration) -> Option<Event> {
        next_within(within, |left| self.listen(left))
    }

    /// The next event; panics on close or timeout.
    pub fn next_event(&mut self) -> Event {
        self.try_next_event_within(DEADLINE)
            .expect("the conductor closed the connection")
    }

    /// Every event until the conductor closes the connection.
    pub fn rest(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.try_next_event_within(DEADLINE)).collect()
    }

    /// Expects exactly `event` next.
    pub fn expect(&mut self, event: Event) {
        assert_eq!(self.next_event(), event);
    }

    /// Expects a Go next, past any probe (already answered), and returns its step.
    pub fn recv_go(&mut self) -> u32 {
        loop {
            match self.next_event() {
                Event::Go(step) => return step,
                Event::Probed => {}
                other => panic!("expected a Go, got {other}"),
            }
        }
    }

    /// Sends `K`.
    pub fn ack(&mut self) {
        self.call(Participant::ack);
    }

    /// Sends Done (`!`).
    pub fn done(&mut self) {
        self.call(Participant::done);
    }

    /// Sends `K!`: received and done, in one write.
    pub fn finish(&mut self) {
        self.call(|s| s.ack().and_then(|()| s.done()));
    }

    /// Sends `?`; the conductor's answer is [`Event::Here`].
    pub fn ping(&mut self) {
        self.call(Participant::ping);
    }

    /// Sends `X`.
    pub fn leave(&mut self) {
        self.call(Participant::leave);
    }

    /// Expects the conductor to close the connection with nothing more sent.
    pub fn expect_closed(&mut self) {
        if let Some(event) = self.try_next_event_within(DEADLINE) {
            panic!("expected the connection to close, got {event}");
        }
    }

    fn call(&mut self, call: impl FnOnce(&mut Participant) -> Result<(), OutOfTurn>) {
        if let Err(error) = call(&mut self.session) {
            panic!("{}: {error}", self.session.id());
        }
        self.flush();
    }

    /// Writes what the machine has queued.
    fn flush(&mut self) {
        let pending = self.session.pending();
        if !pending.is_empty() {
            self.stream.write_all(pending).expect("send");
            let n = pending.len();
            self.session.sent(n);
        }
    }
}

/// Every member receives a Go for the same step and answers `K!`; returns the step.
pub fn run_round(members: &mut [Member]) -> u32 {
    let mut step = None;
    for m in members.iter_mut() {
        let got = m.recv_go();
        assert_eq!(
            *step.get_or_insert(got),
            got,
            "participants got different steps"
        );
        m.finish();
    }
    step.expect("at least one member")
}
