//! The driver's table of peer sockets, indexed by the core's connection ids: registration,
//! reading into one shared buffer, writing with writable-interest only while bytes wait, and
//! closing without resetting bytes the peer has not read yet. A peer over TLS has its
//! session ([`tls::Session`]) between the socket and the core.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

use lockstep_proto::core::ConnId;

use super::tls;

/// Size of the shared read buffer.
pub const READ_CHUNK: usize = 64 * 1024;
/// Reads per peer per wake-up before the loop serves others and comes back.
pub const READS_PER_WAKE: usize = 8;

struct Peer {
    stream: TcpStream,
    /// Registered for writability (only while a write is pending).
    wants_write: bool,
    /// Its TLS session, when the conductor speaks TLS.
    tls: Option<Box<tls::Session>>,
}

/// What one read found.
pub enum ReadOutcome {
    /// This many bytes arrived; they are in [`Peers::received`].
    Data(usize),
    /// Nothing more to read for now (or the peer is no longer watched).
    Drained,
    /// The peer closed or reset the connection.
    Closed,
    /// This many bytes arrived for a TLS session; what they did is in the news, and the
    /// plaintext they carried in [`Peers::plaintext`].
    Tls(usize, tls::News),
}

/// What a write did.
pub enum WriteOutcome {
    /// This many bytes went to the socket (0 when it is full or the peer is gone).
    Wrote(usize),
    /// The connection failed.
    Failed,
}

/// The sockets of all connected peers.
pub struct Peers {
    slots: Vec<Option<Peer>>,
    buffer: Vec<u8>,
    /// The plaintext of the last TLS chunk read.
    plain: Vec<u8>,
    unfinished: Vec<ConnId>,
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            slots: Vec::new(),
            buffer: vec![0; READ_CHUNK],
            plain: Vec::new(),
            unfinished: Vec::new(),
        }
    }
}

fn token(conn: ConnId) -> Token {
    Token(conn.index() + 2)
}

impl Peers {
    /// Adds a freshly accepted socket, with its TLS session if the conductor speaks TLS, and
    /// watches it for reading.
    pub fn insert(
        &mut self,
        registry: &Registry,
        conn: ConnId,
        mut stream: TcpStream,
        tls: Option<Box<tls::Session>>,
    ) -> io::Result<()> {
        // Go and Done are tiny: send them at once rather than waiting to coalesce.
        stream.set_nodelay(true)?;
        registry.register(&mut stream, token(conn), Interest::READABLE)?;
        let index = conn.index();
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        self.slots[index] = Some(Peer {
            stream,
            wants_write: false,
            tls,
        });
        Ok(())
    }

    /// Reads one chunk of what the peer sent into the shared buffer.
    pub fn read_chunk(&mut self, conn: ConnId) -> ReadOutcome {
        let Some(Some(peer)) = self.slots.get_mut(conn.index()) else {
            return ReadOutcome::Drained;
        };
        loop {
            return match peer.stream.read(&mut self.buffer) {
                Ok(0) => ReadOutcome::Closed,
                Ok(n) => match &mut peer.tls {
                    None => ReadOutcome::Data(n),
                    Some(session) => {
                        self.plain.clear();
                        let news = session.receive(&self.buffer[..n], &mut self.plain);
                        ReadOutcome::Tls(n, news)
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ReadOutcome::Drained,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log::debug!("read from {conn} failed: {e}");
                    ReadOutcome::Closed
                }
            };
        }
    }

    /// The first `n` bytes of the shared buffer: what the last [`read_chunk`](Self::read_chunk)
    /// returned.
    pub fn received(&self, n: usize) -> &[u8] {
        &self.buffer[..n.min(self.buffer.len())]
    }

    /// The plaintext of the last TLS chunk read ([`ReadOutcome::Tls`]).
    pub fn plaintext(&self) -> &[u8] {
        &self.plain
    }

    /// The peer has used its reads for this wake-up but may have more: read it again on the
    /// next turn of the loop, after the others.
    pub fn defer_read(&mut self, conn: ConnId) {
        self.unfinished.push(conn);
    }

    /// True while some peer still has unread bytes from its last wake-up.
    pub fn has_unfinished_reads(&self) -> bool {
        !self.unfinished.is_empty()
    }

    /// The peers to read again.
    pub fn take_unfinished_reads(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.unfinished)
    }

    /// Writes as much of `bytes` as the socket takes; watches for writability while some is
    /// left, and stops watching once all is written.
    pub fn write(&mut self, registry: &Registry, conn: ConnId, bytes: &[u8]) -> WriteOutcome {
        let Some(Some(peer)) = self.slots.get_mut(conn.index()) else {
            return WriteOutcome::Wrote(0);
        };
        let (written, wants_write) = match &mut peer.tls {
            Some(session) => match session.write(&mut peer.stream, bytes) {
                Ok((done, finished)) => (done, !finished),
                Err(e) => {
                    log::debug!("write to {conn} failed: {e}");
                    return WriteOutcome::Failed;
                }
            },
            None => match write_some(&mut peer.stream, bytes) {
                Ok(written) => (written, written < bytes.len()),
                Err(e) => {
                    log::debug!("write to {conn} failed: {e}");
                    return WriteOutcome::Failed;
                }
            },
        };
        if wants_write != peer.wants_write {
            let interest = if wants_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .reregister(&mut peer.stream, token(conn), interest)
                .is_err()
            {
                return WriteOutcome::Failed;
            }
            peer.wants_write = wants_write;
        }
        WriteOutcome::Wrote(written)
    }

    /// Stops watching a peer and closes its socket. Unread input is discarded first so that
    /// closing does not reset the connection before the peer has read our last bytes.
    pub fn close(&mut self, registry: &Registry, conn: ConnId) {
        let Some(slot) = self.slots.get_mut(conn.index()) else {
            return;
        };
        let Some(mut peer) = slot.take() else { return };
        let _ = registry.deregister(&mut peer.stream);
        if let Some(session) = &mut peer.tls {
            session.close(&mut peer.stream);
        }
        for _ in 0..READS_PER_WAKE {
            match peer.stream.read(&mut self.buffer) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
        let _ = peer.stream.shutdown(Shutdown::Write);
    }

    /// Closes every socket still open.
    pub fn close_all(&mut self, registry: &Registry) {
        for index in 0..self.slots.len() {
            self.close(registry, ConnId::from_index(index));
        }
    }
}

/// Writes as much of `bytes` as the socket takes now (a plaintext peer, the TLS port's refusal
/// to a plaintext peer, the relay's upstream).
pub fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let mut written = 0;
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_peer_gets_nodelay_and_is_read_until_it_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let poll = mio::Poll::new().unwrap();
        let mut peers = Peers::default();
        let conn = ConnId::from_index(3);
        peers
            .insert(poll.registry(), conn, TcpStream::from_std(accepted), None)
            .unwrap();
        let peer = peers.slots[3].as_ref().unwrap();
        assert!(peer.stream.nodelay().unwrap());

        client.write_all(b"K!").unwrap();
        drop(client);
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match peers.read_chunk(conn) {
                ReadOutcome::Closed => break,
                ReadOutcome::Data(n) => got.extend_from_slice(peers.received(n)),
                ReadOutcome::Drained => assert!(std::time::Instant::now() < deadline),
                ReadOutcome::Tls(..) => unreachable!("no TLS here"),
            }
        }
        assert_eq!(got, b"K!");
        peers.close(poll.registry(), conn);
        assert!(peers.slots[3].is_none());
    }
}
