//! The endpoint's sockets, in the driver's mio loop: its listener and at most
//! [`MAX_CONNECTIONS`] connections, each reading one request head, then writing one answer and
//! closing. Whatever a client does, the work per wake-up is bounded: [`ACCEPTS_PER_WAKE`]
//! accepts, a head of at most [`MAX_HEAD`](super::request::MAX_HEAD) bytes per connection,
//! writes until the socket is full. A connection past the limit is answered 503 at once; a head
//! not complete within [`HEAD_TIMEOUT`] is answered 408, and an answer not taken within
//! [`ANSWER_TIMEOUT`] is abandoned, so slow clients cannot keep the slots.
//!
//! Tokens: the listener is [`BASE`] and connection slot `i` is `BASE + 1 + i`, far above the
//! peers' tokens.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use lockstep_proto::time::{Duration, Instant};

use super::request::{self, Parsed, Refusal, Request, MAX_HEAD};
use super::response::{self, Code};
use crate::driver::accept_gate::AcceptGate;

/// Connections open at once; more are answered 503.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections accepted per turn of the loop.
pub const ACCEPTS_PER_WAKE: usize = 8;
/// Time from the accept to a complete request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Time from the request to the answer's last byte written.
pub const ANSWER_TIMEOUT: Duration = Duration::from_millis(10_000);
/// The listener's token; the connections' follow it.
pub const BASE: usize = usize::MAX / 2;
/// Reads of discarded input before a connection is closed.
const DRAIN_READS: usize = 4;

/// Whether `token` is one of the endpoint's.
pub fn owns(token: Token) -> bool {
    (BASE..=BASE + MAX_CONNECTIONS).contains(&token.0)
}

/// Where a connection is.
#[derive(Debug)]
enum Stage {
    /// Reading the request head.
    Reading,
    /// The head is read; the answer is not rendered yet.
    Waiting,
    /// Writing the answer; this much of it is written.
    Writing(usize),
}

struct Conn {
    stream: TcpStream,
    stage: Stage,
    head: Vec<u8>,
    answer: Vec<u8>,
    deadline: Instant,
    wants_write: bool,
}

/// The listener and its connections.
pub struct Server {
    listener: TcpListener,
    /// Whether connections wait to be accepted (edge-triggered), or accepting pauses.
    gate: AcceptGate,
    slots: Vec<Option<Conn>>,
    /// Slots in use.
    open: usize,
    /// Slots whose request waits for its answer, in arrival order.
    waiting: VecDeque<(usize, Request)>,
    /// Answers sent, by code, in the order of [`Code::ALL`].
    answered: [u64; Code::ALL.len()],
    scratch: Vec<u8>,
}

fn slot_token(slot: usize) -> Token {
    Token(BASE + 1 + slot)
}

impl Server {
    /// Watches an already bound, non-blocking listener.
    pub fn new(listener: std::net::TcpListener, registry: &Registry) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(listener);
        registry.register(&mut listener, Token(BASE), Interest::READABLE)?;
        Ok(Server {
            listener,
            // Whatever connected before the registration is accepted on the first turn.
            gate: AcceptGate::new("http"),
            slots: (0..MAX_CONNECTIONS).map(|_| None).collect(),
            open: 0,
            waiting: VecDeque::new(),
            answered: [0; Code::ALL.len()],
            scratch: vec![0; 4096],
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers sent so far, by code.
    pub fn answered(&self) -> Vec<(Code, u64)> {
        Code::ALL.into_iter().zip(self.answered).collect()
    }

    /// True when the next turn has something to do without waiting: connections that may wait
    /// in the backlog, or requests to answer.
    pub fn has_work(&self) -> bool {
        self.gate.waiting() || !self.waiting.is_empty()
    }

    /// True when no connection is open, nothing waits and accepting is not paused: a turn has
    /// nothing to do.
    pub fn is_idle(&self) -> bool {
        self.open == 0 && self.gate.paused_until().is_none() && !self.has_work()
    }

    /// The earliest deadline of a connection, or the end of a pause in accepting.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.open == 0 {
            return self.gate.paused_until();
        }
        let connections = self.slots.iter().flatten().map(|c| c.deadline);
        connections.chain(self.gate.paused_until()).min()
    }

    /// Handles a readiness event for one of the endpoint's tokens.
    pub fn ready(&mut self, registry: &Registry, event: &mio::event::Event, now: Instant) {
        let token = event.token();
        if token == Token(BASE) {
            self.gate.readable();
            return;
        }
        let slot = token.0 - BASE - 1;
        let Some(Some(conn)) = self.slots.get(slot) else {
            return;
        };
        match conn.stage {
            Stage::Reading if event.is_readable() || event.is_read_closed() || event.is_error() => {
                self.read(registry, slot, now);
            }
            Stage::Writing(_) if event.is_writable() || event.is_error() => {
                self.write(registry, slot);
            }
            _ => {}
        }
    }

    /// Accepts up to [`ACCEPTS_PER_WAKE`] connections; one that finds every slot taken is
    /// answered 503 and closed. An accept that fails for want of descriptors or memory pauses
    /// accepting for [`ACCEPT_BACKOFF`](crate::driver::accept_gate::ACCEPT_BACKOFF) rather than trying again at once.
    pub fn accept_some(&mut self, registry: &Registry, now: Instant) {
        for _ in 0..ACCEPTS_PER_WAKE {
            let listener = &self.listener;
            let Some(mut stream) = self.gate.next(now, || listener.accept().map(|(s, _)| s)) else {
                return;
            };
            let Some(slot) = self.slots.iter().position(Option::is_none) else {
                self.count(Code::Unavailable);
                let _ = stream.write(&response::error(Code::Unavailable));
                close_gently(stream, &mut self.scratch);
                continue;
            };
            if let Err(e) = registry.register(&mut stream, slot_token(slot), Interest::READABLE) {
                log::debug!("http: cannot watch a connection: {e}");
                continue;
            }
            self.slots[slot] = Some(Conn {
                stream,
                stage: Stage::Reading,
                head: Vec::new(),
                answer: Vec::new(),
                deadline: now + HEAD_TIMEOUT,
                wants_write: false,
            });
            self.open += 1;
            // Its request may have arrived with the connection: no event would say so.
            self.read(registry, slot, now);
        }
    }

    /// Reads the request head until the socket is empty or the head is complete, too large,
    /// or no request at all.
    fn read(&mut self, registry: &Registry, slot: usize, now: Instant) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        loop {
            // Room is left: a full head ends the loop below.
            let chunk = (MAX_HEAD - conn.head.len()).min(self.scratch.len());
            match conn.stream.read(&mut self.scratch[..chunk]) {
                Ok(0) => {
                    // Closed before its head was complete.
                    self.close(registry, slot);
                    return;
                }
                Ok(n) => {
                    conn.head.extend_from_slice(&self.scratch[..n]);
                    if conn.head.len() < MAX_HEAD {
                        // Parse when the socket is drained or the head is full.
                        continue;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(registry, slot);
                    return;
                }
            }
            break;
        }
        match request::parse(&conn.head) {
            Parsed::Incomplete => {}
            Parsed::Request(request) => {
                conn.stage = Stage::Waiting;
                conn.head = Vec::new();
                self.waiting.push_back((slot, request));
            }
            Parsed::Refused(refusal) => {
                let code = match refusal {
                    Refusal::BadRequest => Code::BadRequest,
                    Refusal::MethodNotAllowed => Code::MethodNotAllowed,
                    Refusal::HeadTooLarge => Code::HeadTooLarge,
                };
                self.answer(registry, slot, code, response::error(code), now);
            }
        }
    }

    /// The next request waiting for its answer, with its slot.
    pub fn next_request(&mut self) -> Option<(usize, Request)> {
        self.waiting.pop_front()
    }

    /// Starts writing `bytes`, an answer with status `code`, to the connection in `slot`.
    pub fn answer(
        &mut self,
        registry: &Registry,
        slot: usize,
        code: Code,
        bytes: Vec<u8>,
        now: Instant,
    ) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        conn.answer = bytes;
        conn.stage = Stage::Writing(0);
        conn.deadline = now + ANSWER_TIMEOUT;
        self.count(code);
        self.write(registry, slot);
    }

    /// Writes what the socket takes; closes once the answer is written, or the connection
    /// failed; watches for writability while some is left.
    fn write(&mut self, registry: &Registry, slot: usize) {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return;
        };
        let Stage::Writing(mut sent) = conn.stage else {
            return;
        };
        while sent < conn.answer.len() {
            match conn.stream.write(&conn.answer[sent..]) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.stage = Stage::Writing(sent);
                    if !conn.wants_write {
                        conn.wants_write = true;
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        if registry
                            .reregister(&mut conn.stream, slot_token(slot), interest)
                            .is_err()
                        {
                            break;
                        }
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.close(registry, slot);
    }

    /// Answers 408 to heads that are late, and gives up on answers not taken in time.
    pub fn expire(&mut self, registry: &Registry, now: Instant) {
        if self.open == 0 {
            return;
        }
        for slot in 0..self.slots.len() {
            let Some(conn) = &mut self.slots[slot] else {
                continue;
            };
            if conn.deadline > now {
                continue;
            }
            if matches!(conn.stage, Stage::Reading) {
                let _ = conn.stream.write(&response::error(Code::RequestTimeout));
                self.count(Code::RequestTimeout);
            }
            self.close(registry, slot);
        }
    }

    /// Closes every connection.
    pub fn close_all(&mut self, registry: &Registry) {
        for slot in 0..self.slots.len() {
            self.close(registry, slot);
        }
        let _ = registry.deregister(&mut self.listener);
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        let Some(mut conn) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = registry.deregister(&mut conn.stream);
        self.open -= 1;
        self.waiting.retain(|(s, _)| *s != slot);
        close_gently(conn.stream, &mut self.scratch);
    }

    fn count(&mut self, code: Code) {
        if let Some(i) = Code::ALL.iter().position(|&c| c == code) {
            self.answered[i] += 1;
        }
    }
}

/// Closes a connection after reading (a bounded amount of) what it sent, so that the close
/// does not reset the connection before the client has read the answer.
fn close_gently(mut stream: TcpStream, scratch: &mut [u8]) {
    for _ in 0..DRAIN_READS {
        match stream.read(scratch) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
}
