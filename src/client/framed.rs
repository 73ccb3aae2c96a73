//! The participant's side of the byte stream: encodes client messages with the wire codec and
//! decodes the conductor's from a buffer that accepts any split of the stream. Knows nothing of
//! the session; the caller interprets what arrives.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::wire::{ClientMsg, ConductorMsg, DecodeError};

/// What one receive produced.
#[derive(Debug)]
pub(super) enum Recv {
    /// A complete message.
    Msg(ConductorMsg),
    /// The conductor closed the connection (end of stream).
    Closed,
    /// The deadline passed with no complete message.
    TimedOut,
}

/// Why a receive failed.
#[derive(Debug)]
pub(super) enum RecvError {
    /// The socket failed.
    Io(io::Error),
    /// The bytes are no conductor message.
    Garbage(DecodeError),
}

/// A TCP stream with its receive buffer.
#[derive(Debug)]
pub(super) struct Framed {
    pub(super) stream: TcpStream,
    inbox: Vec<u8>,
    /// The encoding of the message being sent, kept to be reused.
    outbox: Vec<u8>,
    /// Whether a read timeout is set on the socket.
    timed: bool,
}

impl Framed {
    pub(super) fn new(stream: TcpStream) -> Framed {
        Framed {
            stream,
            inbox: Vec::new(),
            outbox: Vec::with_capacity(crate::wire::MAX_MESSAGE_LEN),
            timed: false,
        }
    }

    /// Writes one message whole.
    pub(super) fn send(&mut self, msg: &ClientMsg) -> io::Result<()> {
        self.outbox.clear();
        msg.encode_into(&mut self.outbox);
        self.stream.write_all(&self.outbox)
    }

    /// The next message: from the buffer if one is complete there, else from the socket,
    /// waiting until `deadline` (forever if `None`).
    pub(super) fn recv(&mut self, deadline: Option<Instant>) -> Result<Recv, RecvError> {
        let mut chunk = [0u8; 4096];
        loop {
            match ConductorMsg::decode(&self.inbox) {
                Ok(Some((msg, used))) => {
                    self.inbox.drain(..used);
                    return Ok(Recv::Msg(msg));
                }
                Ok(None) => {}
                Err(e) => return Err(RecvError::Garbage(e)),
            }
            if !self.arm(deadline).map_err(RecvError::Io)? {
                return Ok(Recv::TimedOut);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(Recv::Closed),
                Ok(n) => self.inbox.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(RecvError::Io(e)),
            }
        }
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
        let _ = self.stream.shutdown(Shutdown::Write);
        let deadline = Instant::now() + within;
        self.inbox.clear();
        let mut chunk = [0u8; 4096];
        while matches!(self.arm(Some(deadline)), Ok(true)) {
            match self.stream.read(&mut chunk) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        }
    }
}
