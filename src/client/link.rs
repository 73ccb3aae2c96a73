//! The connection under a [`Client`](super::Client): a socket and the participant state
//! machine, behind one lock so that the runner's heartbeat thread can send `W` through the
//! same machine. It reads into the machine, writes what the machine queues, and waits with
//! read deadlines; every protocol decision is the machine's.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::participant::{Event, Moment, Participant, ProtocolError};

/// Why waiting for the next event produced none.
#[derive(Debug)]
pub(super) enum Ended {
    /// The connection ended (the operating system's error, if any) at this moment.
    Closed(Moment, Option<io::Error>),
    /// The conductor broke the protocol.
    Broken(ProtocolError),
}

/// A socket and its participant machine.
#[derive(Debug)]
pub(super) struct Link {
    stream: TcpStream,
    pub(super) participant: Participant,
    /// Whether a read timeout is set on the socket.
    timed: bool,
    /// A protocol error found after events that are still to be delivered.
    broken: Option<ProtocolError>,
}

/// The link, shared with the heartbeat thread.
pub(super) type Shared = Arc<Mutex<Link>>;

/// Locks the link; neither thread panics while holding it, so a poisoned lock is still sound.
pub(super) fn lock(shared: &Shared) -> MutexGuard<'_, Link> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Link {
    pub(super) fn new(stream: TcpStream, participant: Participant) -> Link {
        Link {
            stream,
            participant,
            timed: false,
            broken: None,
        }
    }

    /// Writes everything the machine has queued.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        let pending = self.participant.pending();
        if pending.is_empty() {
            return Ok(());
        }
        let n = pending.len();
        let result = self.stream.write_all(pending);
        self.participant.sent(n);
        result
    }

    /// The next event, reading from the socket until `deadline` (forever if `None`); `None`
    /// when the deadline passed. A `?` is answered before this returns.
    pub(super) fn receive(&mut self, deadline: Option<Instant>) -> Result<Option<Event>, Ended> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(event) = self.participant.poll_event() {
                // An answer to a `?` goes out at once; a failed write shows up as the next
                // read's error.
                let _ = self.flush();
                return Ok(Some(event));
            }
            if let Some(error) = self.broken.take() {
                return Err(Ended::Broken(error));
            }
            match self.arm(deadline) {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => return Err(self.closed(Some(e))),
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(self.closed(None)),
                Ok(n) => {
                    if let Err(error) = self.participant.handle(&chunk[..n]) {
                        // The events before the error are delivered first.
                        self.broken = Some(error);
                    }
                }
                Err(e) if again(&e) => {}
                Err(e) => return Err(self.closed(Some(e))),
            }
        }
    }

    /// Tells the machine the connection ended.
    fn closed(&mut self, error: Option<io::Error>) -> Ended {
        self.participant.closed();
        Ended::Closed(self.participant.moment(), error)
    }

    /// Sets the socket's read timeout for `deadline`; false when it has already passed.
    fn arm(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        match deadline {
            None if self.timed => {
                self.stream.set_read_timeout(None)?;
                self.timed = false;
            }
            None => {}
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                self.stream.set_read_timeout(Some(left))?;
                self.timed = true;
            }
        }
        Ok(true)
    }

    /// Half-closes the sending side and reads until the conductor closes, for at most
    /// `within`, so that the connection ends with an orderly close on both sides.
    pub(super) fn finish(&mut self, within: Duration) {
        let _ = self.flush();
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 4096];
        while matches!(self.arm(Some(deadline)), Ok(true)) {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if again(&e) => {}
                Err(_) => return,
            }
        }
    }
}

/// A read that ended without data and without harm (its timeout, a signal): read again.
fn again(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
