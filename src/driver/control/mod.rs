//! The control socket (key `control`; PROTOCOL.md "Run control"): how `conductor ctl` pauses,
//! resumes, steps, holds, paces and exempts, and asks for the status document. A Unix socket
//! served from the driver's own mio loop, like the HTTP endpoint, so a command and the rounds
//! never race for the core. A line protocol: each command one line, each answer one line,
//! `ok: …` with what it did, `error: …` with why not, or the status document as one line of
//! JSON.
//!
//! Whatever a client does, the work per turn of the loop is bounded and the rounds go on: at
//! most [`MAX_CONNECTIONS`] connections (the next ones are answered with an error and closed),
//! [`ACCEPTS_PER_WAKE`] accepts and [`LINES_PER_WAKE`] commands per turn, one answer at a
//! time per connection (its next line waits until the answer is written), a line of at most
//! [`MAX_LINE`] bytes (a longer one is answered with an error and the connection closed: the
//! conductor shuts its side and discards what else arrives, at most [`DRAIN_PER_WAKE`] bytes
//! a turn, until the client closes, so that the client can read the error before the end), and
//! [`TIMEOUT`] from the accept or the last answer to the next complete line, or for an answer
//! to be taken, before the connection is closed.
//!
//! | module | owns |
//! |---|---|
//! | [`request`] | the line protocol: a line into a request, a request into its line |
//! | [`socket`] | the socket file (the owner's alone, a stale one replaced, removed at the end) and who connected |
//!
//! Tokens: the listener is [`BASE`] and connection slot `i` is `BASE + 1 + i`, between the
//! peers' tokens and the HTTP endpoint's.

pub mod request;
pub mod socket;

use std::io::{self, Read, Write};
use std::path::Path;

use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use lockstep_proto::core::Conductor;
use lockstep_proto::time::{Duration, Instant};

use request::Request;
use socket::{Peer, SocketFile};

use super::accept_gate::AcceptGate;

/// Connections open at once; more are answered with an error and closed.
pub const MAX_CONNECTIONS: usize = 8;
/// The longest line, without its line ending.
pub const MAX_LINE: usize = 1024;
/// Connections accepted per turn of the loop.
pub const ACCEPTS_PER_WAKE: usize = 4;
/// Commands carried out per turn of the loop, over every connection.
pub const LINES_PER_WAKE: usize = 8;
/// Time for the next complete line (from the accept or the last answer), or for an answer to
/// be taken.
pub const TIMEOUT: Duration = Duration::from_millis(10_000);
/// Bytes of a refused connection's input discarded per turn of the loop.
pub const DRAIN_PER_WAKE: usize = 16 * 1024;
/// The listener's token; the connections' follow it.
pub const BASE: usize = usize::MAX / 4 + 1;

/// Whether `token` is one of the control socket's.
pub fn owns(token: Token) -> bool {
    (BASE..=BASE + MAX_CONNECTIONS).contains(&token.0)
}

fn slot_token(slot: usize) -> Token {
    Token(BASE + 1 + slot)
}

/// One `conductor ctl` (or any local client).
struct Conn {
    stream: UnixStream,
    /// Who connected, if the system said.
    peer: Option<Peer>,
    /// Bytes read and not yet taken as lines: at most one line and its end, or `MAX_LINE` + 1.
    inbox: Vec<u8>,
    /// The answer being written, and how much of it is.
    outbox: Vec<u8>,
    sent: usize,
    /// Bytes may wait in the socket: no read has said `WouldBlock` since the last event.
    readable: bool,
    /// The socket may take more: no write has said `WouldBlock` since the last event.
    writable: bool,
    /// Registered for writability too.
    watching_writes: bool,
    /// The client closed its side (or the connection broke): closed once answered.
    eof: bool,
    /// Refused (a line too long): once the answer is written, its side is shut and what else
    /// arrives is discarded until the client closes.
    closing: bool,
    /// The answer of a refused connection is written and its side shut.
    draining: bool,
    deadline: Instant,
}

impl Conn {
    /// The first complete line, without its line ending, if one has arrived.
    fn take_line(&mut self) -> Option<Vec<u8>> {
        let end = self.inbox.iter().position(|&b| b == b'\n')?;
        let mut line: Vec<u8> = self.inbox.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }

    fn has_line(&self) -> bool {
        self.inbox.contains(&b'\n')
    }

    /// Reads until the socket is empty, a line is complete, or more than a line's worth has
    /// arrived.
    fn read(&mut self) {
        let mut chunk = [0u8; 512];
        while self.inbox.len() <= MAX_LINE && !self.has_line() {
            let room = (MAX_LINE + 1 - self.inbox.len()).min(chunk.len());
            match self.stream.read(&mut chunk[..room]) {
                Ok(0) => {
                    (self.eof, self.readable) = (true, false);
                    return;
                }
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    (self.eof, self.readable) = (true, false);
                    self.inbox.clear();
                    return;
                }
            }
        }
    }

    /// Starts writing `answer` and its line ending.
    fn answer(&mut self, registry: &Registry, slot: usize, answer: &str, now: Instant) {
        self.outbox.clear();
        self.outbox.extend_from_slice(answer.as_bytes());
        self.outbox.push(b'\n');
        self.sent = 0;
        self.deadline = now + TIMEOUT;
        self.write(registry, slot);
    }

    /// Writes what the socket takes; watches for writability while some is left. False when
    /// the connection broke.
    fn write(&mut self, registry: &Registry, slot: usize) -> bool {
        while self.sent < self.outbox.len() {
            match self.stream.write(&self.outbox[self.sent..]) {
                Ok(0) => return false,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.writable = false;
                    if !self.watching_writes {
                        self.watching_writes = true;
                        let interest = Interest::READABLE | Interest::WRITABLE;
                        return registry
                            .reregister(&mut self.stream, slot_token(slot), interest)
                            .is_ok();
                    }
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        self.outbox.clear();
        self.sent = 0;
        true
    }

    fn answering(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Discards what a refused client still sends, a bounded amount; false once it closed.
    fn drain(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        let mut taken = 0;
        while taken < DRAIN_PER_WAKE {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// The control socket's listener and connections. See the module docs.
pub struct Control {
    listener: UnixListener,
    /// Removed when the conductor ends (dropped with this).
    file: SocketFile,
    /// Whether connections wait to be accepted (edge-triggered), or accepting pauses.
    gate: AcceptGate,
    slots: Vec<Option<Conn>>,
    /// Slots in use.
    open: usize,
    /// The slot served first next turn, so that no connection always goes last.
    next: usize,
}

impl Control {
    /// Serves on a bound listener (see [`socket::bind`]), registered with `registry`.
    pub fn new(
        listener: std::os::unix::net::UnixListener,
        file: SocketFile,
        registry: &Registry,
    ) -> io::Result<Control> {
        listener.set_nonblocking(true)?;
        let mut listener = UnixListener::from_std(listener);
        registry.register(&mut listener, Token(BASE), Interest::READABLE)?;
        Ok(Control {
            listener,
            file,
            // Whatever connected before the registration is accepted on the first turn.
            gate: AcceptGate::new("control"),
            slots: (0..MAX_CONNECTIONS).map(|_| None).collect(),
            open: 0,
            next: 0,
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Handles a readiness event for one of its tokens.
    pub fn ready(&mut self, event: &mio::event::Event) {
        let token = event.token();
        if token == Token(BASE) {
            self.gate.readable();
            return;
        }
        let Some(Some(conn)) = self.slots.get_mut(token.0 - BASE - 1) else {
            return;
        };
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            conn.readable = true;
        }
        if event.is_writable() || event.is_error() {
            conn.writable = true;
        }
    }

    /// True when the next turn has something to do without waiting for an event.
    pub fn has_work(&self) -> bool {
        self.gate.waiting()
            || self.slots.iter().flatten().any(|c| {
                if c.answering() {
                    c.writable
                } else if c.draining {
                    c.readable
                } else {
                    c.has_line() || c.readable || c.eof || c.closing
                }
            })
    }

    /// When a connection times out next, or accepting resumes.
    pub fn next_deadline(&self) -> Option<Instant> {
        let connections = self.slots.iter().flatten().map(|c| c.deadline);
        connections.chain(self.gate.paused_until()).min()
    }

    /// One turn of the loop: times connections out, accepts, writes answers, reads lines and
    /// answers up to [`LINES_PER_WAKE`] of them with `handle`, which carries out a request
    /// from a peer and returns the answer (one line, without its line ending).
    pub fn turn(
        &mut self,
        registry: &Registry,
        now: Instant,
        mut handle: impl FnMut(Request, Option<Peer>) -> String,
    ) {
        if self.open == 0 && !self.gate.waiting() && self.gate.paused_until().is_none() {
            return;
        }
        self.expire(registry, now);
        self.accept_some(registry, now);
        let mut budget = LINES_PER_WAKE;
        for k in 0..MAX_CONNECTIONS {
            let slot = (self.next + k) % MAX_CONNECTIONS;
            if !self.serve(registry, slot, now, &mut budget, &mut handle) {
                self.close(registry, slot);
            }
        }
        self.next = (self.next + 1) % MAX_CONNECTIONS;
    }

    /// Serves one connection; false when it is to be closed.
    fn serve(
        &mut self,
        registry: &Registry,
        slot: usize,
        now: Instant,
        budget: &mut usize,
        handle: &mut impl FnMut(Request, Option<Peer>) -> String,
    ) -> bool {
        let Some(Some(conn)) = self.slots.get_mut(slot) else {
            return true;
        };
        if conn.answering() {
            if !conn.writable {
                return true;
            }
            if !conn.write(registry, slot) {
                return false;
            }
            if conn.answering() {
                return true;
            }
        }
        if conn.draining {
            return !conn.readable || conn.drain();
        }
        if conn.closing {
            conn.draining = true;
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            return conn.drain();
        }
        if conn.readable && !conn.has_line() {
            conn.read();
        }
        if *budget == 0 {
            return true;
        }
        let answer = match conn.take_line() {
            Some(line) => answer_line(&line, conn.peer, handle),
            None if conn.inbox.len() > MAX_LINE => {
                conn.closing = true;
                conn.inbox.clear();
                log::debug!("control: a line longer than {MAX_LINE} bytes; closing");
                format!("error: a line holds at most {MAX_LINE} bytes; closing the connection")
            }
            None => return !conn.eof,
        };
        *budget -= 1;
        conn.answer(registry, slot, &answer, now);
        true
    }

    /// Accepts up to [`ACCEPTS_PER_WAKE`] connections; one that finds every slot taken is
    /// answered with an error and closed.
    fn accept_some(&mut self, registry: &Registry, now: Instant) {
        for _ in 0..ACCEPTS_PER_WAKE {
            let listener = &self.listener;
            let Some(mut stream) = self.gate.next(now, || listener.accept().map(|(s, _)| s)) else {
                return;
            };
            let Some(slot) = self.slots.iter().position(Option::is_none) else {
                let busy = format!(
                    "error: too many control connections (at most {MAX_CONNECTIONS}); try again\n"
                );
                let _ = stream.write(busy.as_bytes());
                continue;
            };
            if let Err(e) = registry.register(&mut stream, slot_token(slot), Interest::READABLE) {
                log::debug!("control: cannot watch a connection: {e}");
                continue;
            }
            self.slots[slot] = Some(Conn {
                peer: Peer::of(&stream),
                stream,
                inbox: Vec::new(),
                outbox: Vec::new(),
                sent: 0,
                // Its line may have arrived with the connection: no event would say so.
                readable: true,
                writable: true,
                watching_writes: false,
                eof: false,
                closing: false,
                draining: false,
                deadline: now + TIMEOUT,
            });
            self.open += 1;
        }
    }

    /// Closes the connections whose time is up.
    fn expire(&mut self, registry: &Registry, now: Instant) {
        for slot in 0..MAX_CONNECTIONS {
            if self.slots[slot].as_ref().is_some_and(|c| c.deadline <= now) {
                self.close(registry, slot);
            }
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize) {
        if let Some(mut conn) = self.slots.get_mut(slot).and_then(Option::take) {
            let _ = registry.deregister(&mut conn.stream);
            self.open -= 1;
        }
    }

    /// Closes the listener and every connection; the socket file goes when this is dropped.
    pub fn close_all(&mut self, registry: &Registry) {
        for slot in 0..MAX_CONNECTIONS {
            self.close(registry, slot);
        }
        let _ = registry.deregister(&mut self.listener);
    }
}

/// The answer to one line: an error for a line that is not a request, else what `handle`
/// says.
fn answer_line(
    line: &[u8],
    peer: Option<Peer>,
    handle: &mut impl FnMut(Request, Option<Peer>) -> String,
) -> String {
    let parsed = std::str::from_utf8(line)
        .map_err(|_| "the line is not UTF-8 text".to_string())
        .and_then(request::parse);
    match parsed {
        Ok(request) => handle(request, peer),
        Err(e) => {
            log::debug!("control: {}: {e}", Who(peer));
            format!("error: {e}")
        }
    }
}

/// Carries out a request for the conductor at `now` and words the answer: the status document
/// (with what the driver adds: the bound address, the state file's trouble) as one line of JSON, or what a command did. Every command is
/// logged with who gave it.
pub(super) fn carry_out(
    core: &mut Conductor,
    now: Instant,
    shown: super::Shown<'_>,
    request: Request,
    peer: Option<Peer>,
) -> String {
    let Request::Command(command) = request else {
        let status = super::snapshot(core, now, shown);
        return serde_json::to_string(&status).unwrap_or_default();
    };
    match core.control(now, command) {
        Ok(outcome) => {
            log::info!("control: {request} by {}: {outcome}", Who(peer));
            format!("ok: {outcome}")
        }
        Err(e) => {
            log::info!("control: {request} by {} refused: {e}", Who(peer));
            format!("error: {e}")
        }
    }
}

/// A peer in a log line.
struct Who(Option<Peer>);

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(peer) => write!(f, "{peer}"),
            None => f.write_str("an unknown peer"),
        }
    }
}
