//! The connection under a [`Client`](super::Client): a non-blocking socket and the participant
//! state machine, behind one lock so that other threads (the runner's heartbeat, a program's
//! signal handling) can send through the same machine. The lock is held only to read what has
//! arrived, to feed it to the machine and to write what the machine queues; waiting for the
//! conductor happens outside it, so another thread can always send. Every protocol decision is
//! the machine's.
//!
//! Over TLS the socket's bytes pass through a sans-IO `rustls` client connection
//! ([`pump`](crate::tls::pump)): what the machine queues is encrypted, what arrives is
//! decrypted before the machine sees it, all under the same lock and without blocking, so the
//! waiting still happens outside the lock.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use lockstep_proto::participant::{Event, Moment, Participant, ProtocolError};
use rustls::Connection;

use crate::tls::pump;
use crate::tls::words::{self, Side};

/// Why the connection produced no more events.
#[derive(Debug)]
pub(super) enum Ended {
    /// The connection ended (the operating system's error, if any) at this moment.
    Closed(Moment, Option<io::Error>),
    /// The conductor broke the protocol.
    Broken(ProtocolError),
    /// The TLS session failed (the words say how) at this moment.
    Tls(Moment, String),
    /// The conductor answered the TLS handshake with plaintext: it does not speak TLS.
    NotTls(String),
}

/// The TLS session of a link.
#[derive(Debug)]
struct Tls {
    conn: Connection,
    /// Some byte has arrived from the conductor.
    heard: bool,
    /// Plaintext decrypted and not yet given to the machine.
    plain: Vec<u8>,
}

/// A socket and its participant machine.
#[derive(Debug)]
pub(super) struct Link {
    stream: TcpStream,
    pub(super) participant: Participant,
    /// A protocol error found after events that are still to be delivered.
    broken: Option<ProtocolError>,
    /// The connection has ended; the next receive reports it.
    closed: Option<Option<io::Error>>,
    /// The TLS session, when the link speaks TLS.
    tls: Option<Box<Tls>>,
    /// The TLS session failed; the next receive reports it.
    tls_failed: Option<Ended>,
}

/// The link, shared between the threads that send through it.
pub(super) type Shared = Arc<Mutex<Link>>;

/// Locks the link; no thread panics while holding it, so a poisoned lock is still sound.
pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Link> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    /// Wraps a connected socket, which becomes non-blocking; with `tls`, everything passes
    /// through that client session (whose handshake starts with the first flush).
    pub(super) fn new(
        stream: TcpStream,
        participant: Participant,
        tls: Option<rustls::ClientConnection>,
    ) -> io::Result<Link> {
        stream.set_nonblocking(true)?;
        Ok(Link {
            stream,
            participant,
            broken: None,
            closed: None,
            tls: tls.map(|conn| {
                Box::new(Tls {
                    conn: Connection::Client(conn),
                    heard: false,
                    plain: Vec::new(),
                })
            }),
            tls_failed: None,
        })
    }

    /// The socket's descriptor, for waiting on it without the lock.
    pub(super) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// A second handle on the socket.
    pub(super) fn try_clone_stream(&self) -> io::Result<TcpStream> {
        self.stream.try_clone()
    }

    /// Writes everything the machine has queued, waiting for room in the socket if need be.
    /// Over TLS it is encrypted first (and held by `rustls` until the handshake is done).
    pub(super) fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            let pending = self.participant.pending();
            if !pending.is_empty() {
                tls.conn.writer().write_all(pending)?;
                let n = pending.len();
                self.participant.sent(n);
            }
            while !pump::send(&mut tls.conn, &mut self.stream)? {
                wait(self.stream.as_raw_fd(), libc::POLLOUT, None)?;
            }
            return Ok(());
        }
        while !self.participant.pending().is_empty() {
            match self.stream.write(self.participant.pending()) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.participant.sent(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait(self.fd(), libc::POLLOUT, None)?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Hands bytes read from the socket to the machine, through TLS when the link speaks it.
    fn arrived(&mut self, bytes: &[u8]) {
        let Some(tls) = &mut self.tls else {
            if let Err(error) = self.participant.handle(bytes) {
                // The events before the error are delivered first.
                self.broken = Some(error);
            }
            return;
        };
        if !tls.heard {
            tls.heard = true;
            if let Some(problem) = bytes.first().and_then(|&b| pump::not_tls(b)) {
                self.tls_failed = Some(Ended::NotTls(problem));
                return;
            }
        }
        let mut plain = std::mem::take(&mut tls.plain);
        plain.clear();
        let fed = pump::receive(&mut tls.conn, bytes, &mut plain);
        // The handshake's answers, a key update, or the alert that ends a failed session.
        let sent = pump::send(&mut tls.conn, &mut self.stream);
        match fed {
            Ok(fed) => {
                if let Err(error) = self.participant.handle(&plain) {
                    self.broken = Some(error);
                }
                if fed.closed && self.closed.is_none() {
                    self.closed = Some(None);
                }
                if let Err(e) = sent {
                    self.closed.get_or_insert(Some(e));
                }
            }
            Err(error) => {
                let words = words::error(&error, Side::Client);
                self.tls_failed = Some(Ended::Tls(self.participant.moment(), words));
            }
        }
        if let Some(tls) = &mut self.tls {
            tls.plain = plain;
        }
    }

    /// The next event if one has arrived, without waiting: reads what the socket holds into
    /// the machine and answers a `?` at once. `Ok(None)` means: wait for the socket.
    pub(super) fn try_receive(&mut self) -> Result<Option<Event>, Ended> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(event) = self.participant.poll_event() {
                // A failed write shows up as the next read's error.
                let _ = self.flush();
                return Ok(Some(event));
            }
            if let Some(error) = self.broken.take() {
                return Err(Ended::Broken(error));
            }
            if let Some(failed) = self.tls_failed.take() {
                self.participant.closed();
                return Err(failed);
            }
            if let Some(error) = self.closed.take() {
                self.participant.closed();
                return Err(Ended::Closed(self.participant.moment(), error));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = Some(None),
                Ok(n) => self.arrived(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.closed = Some(Some(e)),
            }
        }
    }

    /// Half-closes the sending side and reads until the conductor closes, for at most
    /// `within`, so that the connection ends with an orderly close on both sides.
    pub(super) fn finish(&mut self, within: Duration) {
        let _ = self.flush();
        if let Some(tls) = &mut self.tls {
            tls.conn.send_close_notify();
            let _ = pump::send(&mut tls.conn, &mut self.stream);
        }
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !matches!(wait(self.fd(), libc::POLLIN, Some(deadline)), Ok(true)) {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }
}

/// Waits until `fd` is ready for `events` (or has failed or hung up), or `deadline` passes:
/// true when it is ready.
pub(super) fn wait(
    fd: RawFd,
    events: libc::c_short,
    deadline: Option<Instant>,
) -> io::Result<bool> {
    loop {
        let timeout = match deadline {
            None => -1,
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                // Whole milliseconds, rounded up so that a wait never ends a little early.
                i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
            }
        };
        let mut poll = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd, and its count is 1.
        let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
        match ready {
            n if n > 0 => return Ok(true),
            0 => {}
            _ => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
        }
    }
}
