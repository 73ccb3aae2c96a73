//! A raw TCP client for the end-to-end tests: it sends whatever bytes a test gives it and
//! decodes what the conductor sends with the wire codec, judging nothing, so that tests can
//! send wrong bytes on purpose and see exactly what comes back. Also the reading with a
//! timeout that [`Member`](super::Member) shares.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lockstep_proto::participant::Participant;
use lockstep_proto::wire::{ClientMsg, ConductorMsg, Id, VERSION};

use super::{Member, DEADLINE};

/// The encoded bytes of a valid client hello, for tests that send it as raw bytes.
pub fn hello_bytes(name: &str) -> Vec<u8> {
    Participant::new(Id::new(name).expect("test id")).take_pending()
}

/// What waiting for the next message heard.
#[derive(Debug)]
pub enum Heard<T> {
    /// A whole message (or event).
    Msg(T),
    /// Nothing complete within the wait.
    Silence,
    /// The conductor closed or reset the connection.
    Closed,
}

/// The first thing `listen` hears within `within` (it is given the time left), or `None` when
/// the connection closed first. Panics if nothing arrives in time.
pub(super) fn next_within<T>(
    within: Duration,
    mut listen: impl FnMut(Duration) -> Heard<T>,
) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "nothing from the conductor within {within:?}"
        );
        match listen(left) {
            Heard::Msg(msg) => return Some(msg),
            Heard::Silence => {}
            Heard::Closed => return None,
        }
    }
}

/// What one read with a timeout got.
pub(super) enum Got {
    /// This many bytes.
    Bytes(usize),
    /// Nothing within the wait.
    Silence,
    /// The end of the stream, or a reset.
    Closed,
}

/// Reads once into `chunk`, waiting at most `wait` (at least a millisecond).
pub(super) fn read_within(stream: &mut TcpStream, chunk: &mut [u8], wait: Duration) -> Got {
    stream
        .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
        .expect("timeout");
    match stream.read(chunk) {
        Ok(0) => Got::Closed,
        Ok(n) => Got::Bytes(n),
        // A signal (a child process ending, say) may cut the wait short.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            ) =>
        {
            Got::Silence
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Got::Closed,
        Err(e) => panic!("read failed: {e}"),
    }
}

/// A raw TCP client: it sends whatever bytes a test gives it and decodes what the conductor
/// sends, judging nothing.
pub struct Raw {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects to `addr`.
    pub fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw::from_stream(stream)
    }

    /// A raw client on a connection with nothing read from it yet.
    pub(super) fn from_stream(stream: TcpStream) -> Raw {
        Raw {
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects with a small receive buffer, so that not reading soon stops the conductor's
    /// writes.
    pub fn connect_small_window(addr: SocketAddr) -> Raw {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        socket.connect(&addr.into()).expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        Raw::from_stream(socket.into())
    }

    /// Joins as `name` the way a correct participant does, then speaks raw bytes.
    pub fn join(addr: SocketAddr, name: &str) -> Raw {
        Member::join(addr, name).into_raw()
    }

    /// Expects the conductor's hello (version 1).
    pub fn expect_conductor_hello(&mut self) {
        match self.recv() {
            ConductorMsg::Hello(h) => assert_eq!(h.version, VERSION),
            other => panic!("expected the conductor's hello, got {other:?}"),
        }
    }

    /// Closes the connection with a reset (SO_LINGER 0) instead of a FIN.
    pub fn reset(self) {
        socket2::SockRef::from(&self.stream)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(self);
    }

    /// Expects exactly `msg` next.
    pub fn expect(&mut self, msg: ConductorMsg) {
        assert_eq!(self.recv(), msg);
    }

    /// The next message that `skip` does not pass over.
    pub fn recv_skipping(&mut self, skip: impl Fn(&ConductorMsg) -> bool) -> ConductorMsg {
        loop {
            let msg = self.recv();
            if !skip(&msg) {
                return msg;
            }
        }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Sends one message.
    pub fn send_msg(&mut self, msg: &ClientMsg) {
        let mut bytes = Vec::new();
        msg.encode_into(&mut bytes);
        self.send(&bytes);
    }

    /// The next message within `wait`, without failing on silence.
    pub fn listen(&mut self, wait: Duration) -> Heard<ConductorMsg> {
        let decode = |buf: &mut Vec<u8>| match ConductorMsg::decode(buf) {
            Ok(Some((msg, n))) => {
                buf.drain(..n);
                Some(msg)
            }
            Ok(None) => None,
            Err(e) => panic!("conductor sent undecodable bytes: {e}"),
        };
        if let Some(msg) = decode(&mut self.buf) {
            return Heard::Msg(msg);
        }
        let mut chunk = [0u8; 4096];
        match read_within(&mut self.stream, &mut chunk, wait) {
            Got::Bytes(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                decode(&mut self.buf).map_or(Heard::Silence, Heard::Msg)
            }
            Got::Silence => Heard::Silence,
            Got::Closed => Heard::Closed,
        }
    }

    /// The next message, or `None` when the conductor closed the connection. Panics if
    /// nothing arrives within `within`.
    pub fn try_recv_within(&mut self, within: Duration) -> Option<ConductorMsg> {
        next_within(within, |left| self.listen(left))
    }

    /// The next message; panics on close or timeout.
    pub fn recv(&mut self) -> ConductorMsg {
        self.try_recv_within(DEADLINE)
            .expect("the conductor closed the connection")
    }

    /// Expects a Go and returns its step.
    pub fn recv_go(&mut self) -> u32 {
        match self.recv() {
            ConductorMsg::Go(step) => step,
            other => panic!("expected a Go, got {other:?}"),
        }
    }

    /// Expects a refusal and returns its text; then expects the connection to close.
    pub fn recv_refusal(&mut self) -> String {
        let reason = match self.recv() {
            ConductorMsg::Refusal(r) => r.as_str().to_string(),
            other => panic!("expected a refusal, got {other:?}"),
        };
        self.expect_closed();
        reason
    }

    /// Expects the conductor to close the connection with nothing more sent.
    pub fn expect_closed(&mut self) {
        if let Some(msg) = self.try_recv_within(DEADLINE) {
            panic!("expected the connection to close, got {msg:?}");
        }
    }

    /// Nothing arrives for `quiet` (the connection stays open and silent).
    pub fn expect_silence(&mut self, quiet: Duration) {
        self.stream.set_read_timeout(Some(quiet)).expect("timeout");
        if !self.buf.is_empty() {
            panic!("unexpected bytes pending: {:?}", self.buf);
        }
        let mut chunk = [0u8; 64];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("connection closed, expected silence"),
            Ok(n) => panic!("expected silence, got {:?}", &chunk[..n]),
            Err(_) => {}
        }
    }

    /// Half-closes the writing side.
    pub fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
