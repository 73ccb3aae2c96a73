//! One peer's TLS session on the conductor's side: a `rustls` server connection fed the
//! socket's bytes and handing back plaintext, the core's bytes encrypted on their way out,
//! and the helpful failures. Its phases:
//!
//! - **Waiting** for the first byte. A TLS handshake opens with a record of type 0x16; our
//!   plaintext hello opens with `A`. Anything but 0x16 turns the session **Plaintext**: the
//!   core refuses the peer with `this conductor requires TLS`, which goes out unencrypted so
//!   that a plaintext client can read it.
//! - **Handshaking**: records go back and forth. What the core queues meanwhile (its hello,
//!   or a refusal after `hello_timeout_ms`, or the ending) is held here, at most
//!   [`HELD_MAX`] bytes, and reported as written, so that the core can close the connection
//!   when it wants to without waiting for a handshake that may never finish.
//! - **Open**: the handshake is done; the held bytes go out first, encrypted, then the
//!   core's queue. A byte of the queue is reported written only once its record is in the
//!   socket, so the core's bound on a slow reader's queue still holds, and a connection the
//!   core closes after its last bytes has really sent them.
//! - **Failed**: the handshake or a record failed; the alert `rustls` made goes out, and
//!   whatever the core queues is discarded (its refusal cannot be delivered).

use std::io::{self, Write};
use std::sync::Arc;

use lockstep::tls::pump;
use lockstep::tls::words::{self, Side};
use mio::net::TcpStream;
use rustls::{Connection, ServerConfig, ServerConnection};

use super::names;
use crate::driver::peers::write_some;

/// Bytes of the core's queue held while the handshake runs: before a hello the core sends
/// only its own hello, perhaps a refusal (at most 536 bytes) and the ending's `C`/`E` and `X`.
pub const HELD_MAX: usize = 1024;

/// Plaintext handed to `rustls` at a time once the handshake is done: about one record.
const BATCH: usize = 16 * 1024;

/// The refusal of a plaintext client on a TLS port.
pub const TLS_REQUIRED: &str = "this conductor requires TLS";

#[derive(Debug)]
enum Phase {
    Waiting,
    Handshaking,
    Open,
    Plaintext,
    Failed,
}

/// A peer's TLS session. See the module docs.
#[derive(Debug)]
pub struct Session {
    config: Arc<ServerConfig>,
    /// Created at the first byte, when it opens a handshake.
    conn: Option<Connection>,
    phase: Phase,
    /// The peer's hello must claim a name of its certificate.
    bind_ids: bool,
    /// The core's bytes held until the handshake is done.
    held: Vec<u8>,
    /// Bytes at the front of the core's queue already handed to `rustls` whose records are
    /// not all in the socket yet.
    in_flight: usize,
}

/// What bytes from a peer did to its session, besides the plaintext they carried.
#[derive(Debug, Default)]
pub struct News {
    /// The handshake finished just now and proved these names (when ids are bound).
    pub identified: Option<Vec<String>>,
    /// The session failed: the refusal's reason.
    pub failed: Option<String>,
    /// The peer ended the session (`close_notify`).
    pub closed: bool,
}

impl Session {
    /// A session waiting for the peer's first byte.
    pub fn new(config: Arc<ServerConfig>, bind_ids: bool) -> Session {
        Session {
            config,
            conn: None,
            phase: Phase::Waiting,
            bind_ids,
            held: Vec::new(),
            in_flight: 0,
        }
    }

    /// Feeds bytes read from the socket; the plaintext they carried is appended to `plain`.
    pub fn receive(&mut self, raw: &[u8], plain: &mut Vec<u8>) -> News {
        if matches!(self.phase, Phase::Waiting) {
            let Some(&first) = raw.first() else {
                return News::default();
            };
            if first != pump::HANDSHAKE_RECORD {
                self.phase = Phase::Plaintext;
                // The core's hello is not for a peer that will only hear a refusal.
                self.held = Vec::new();
                return News {
                    failed: Some(TLS_REQUIRED.to_string()),
                    ..News::default()
                };
            }
            match ServerConnection::new(Arc::clone(&self.config)) {
                Ok(conn) => self.conn = Some(Connection::Server(conn)),
                Err(e) => {
                    self.phase = Phase::Failed;
                    return News {
                        failed: Some(format!("TLS handshake failed: {e}")),
                        ..News::default()
                    };
                }
            }
            self.phase = Phase::Handshaking;
        }
        let (Phase::Handshaking | Phase::Open, Some(conn)) = (&self.phase, &mut self.conn) else {
            // Plaintext or failed: what else arrives is ignored.
            return News::default();
        };
        let handshaking = conn.is_handshaking();
        match pump::receive(conn, raw, plain) {
            Err(error) => {
                self.phase = Phase::Failed;
                let stage = if handshaking {
                    "TLS handshake failed"
                } else {
                    "TLS failed"
                };
                News {
                    failed: Some(format!("{stage}: {}", words::error(&error, Side::Server))),
                    ..News::default()
                }
            }
            Ok(fed) => {
                let mut news = News {
                    closed: fed.closed,
                    ..News::default()
                };
                if handshaking && !conn.is_handshaking() {
                    self.phase = Phase::Open;
                    let held = std::mem::take(&mut self.held);
                    if let Err(e) = conn.writer().write_all(&held) {
                        news.failed = Some(format!("TLS failed: {e}"));
                    }
                    if self.bind_ids {
                        let certs = conn.peer_certificates().unwrap_or_default();
                        news.identified =
                            Some(certs.first().map_or_else(Vec::new, |c| names::of(c)));
                    }
                }
                news
            }
        }
    }

    /// Writes what the session has to send and as much of `pending`, the core's queue, as it
    /// can; returns how many bytes of `pending` are done with (written, held or discarded) and
    /// whether nothing is left to write.
    pub fn write(&mut self, stream: &mut TcpStream, pending: &[u8]) -> io::Result<(usize, bool)> {
        match (&self.phase, &mut self.conn) {
            (Phase::Waiting | Phase::Handshaking, conn) => {
                let records_sent = match conn {
                    Some(conn) => pump::send(conn, stream)?,
                    None => true,
                };
                let take = pending.len().min(HELD_MAX.saturating_sub(self.held.len()));
                self.held.extend_from_slice(&pending[..take]);
                Ok((take, records_sent && take == pending.len()))
            }
            (Phase::Open, Some(conn)) => {
                let mut done = 0;
                loop {
                    if !pump::send(conn, stream)? {
                        return Ok((done, false));
                    }
                    done += std::mem::take(&mut self.in_flight);
                    let rest = &pending[done.min(pending.len())..];
                    if rest.is_empty() {
                        return Ok((pending.len(), true));
                    }
                    let take = rest.len().min(BATCH);
                    conn.writer().write_all(&rest[..take])?;
                    self.in_flight = take;
                }
            }
            (Phase::Plaintext, _) => {
                let written = write_some(stream, pending)?;
                Ok((written, written == pending.len()))
            }
            (Phase::Failed, conn) | (Phase::Open, conn @ None) => {
                // The alert, if the socket takes it; nothing of the core's can be delivered.
                self.in_flight = 0;
                let sent = match conn {
                    Some(conn) => pump::send(conn, stream).unwrap_or(true),
                    None => true,
                };
                Ok((pending.len(), sent))
            }
        }
    }

    /// Says goodbye (`close_notify`) on an open session, as far as the socket takes it.
    pub fn close(&mut self, stream: &mut TcpStream) {
        if let (Phase::Open, Some(conn)) = (&self.phase, &mut self.conn) {
            conn.send_close_notify();
            let _ = pump::send(conn, stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    use crate::bench::certs::{Authority, Purpose};
    use lockstep::tls::{certificates_from_pem, private_key_from_pem};

    fn config() -> Arc<ServerConfig> {
        let ca = Authority::new("test CA").expect("CA");
        let issued = ca
            .issue(Purpose::Conductor, &["localhost"])
            .expect("certificate");
        let chain = certificates_from_pem(issued.cert_pem.as_bytes(), None).expect("chain");
        let key = private_key_from_pem(issued.key_pem.as_bytes(), None).expect("key");
        let config = ServerConfig::builder_with_provider(lockstep::tls::provider())
            .with_protocol_versions(lockstep::tls::VERSIONS)
            .expect("TLS 1.3")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server settings");
        Arc::new(config)
    }

    /// A connected pair: the conductor's non-blocking end and the peer's.
    fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let peer =
            std::net::TcpStream::connect(listener.local_addr().expect("address")).expect("connect");
        let (ours, _) = listener.accept().expect("accept");
        ours.set_nonblocking(true).expect("non-blocking");
        (TcpStream::from_std(ours), peer)
    }

    #[test]
    fn the_core_bytes_wait_for_the_handshake_and_plaintext_gets_only_the_refusal() {
        let (mut ours, mut peer) = pair();
        let mut session = Session::new(config(), false);
        // The core's hello, before any byte arrived: held, reported done, nothing written.
        assert_eq!(
            session.write(&mut ours, b"A1conductor   ").expect("write"),
            (14, true)
        );
        assert_eq!(session.held.len(), 14);
        let mut plain = Vec::new();
        let news = session.receive(b"A1alice       ", &mut plain);
        assert_eq!(news.failed.as_deref(), Some(TLS_REQUIRED));
        assert!(plain.is_empty() && session.held.is_empty());
        // What follows goes out as it is: the refusal.
        assert_eq!(
            session
                .write(&mut ours, b"R\x01\x00\x00\x00x")
                .expect("write"),
            (6, true)
        );
        let mut got = [0u8; 6];
        peer.read_exact(&mut got).expect("the refusal");
        assert_eq!(&got, b"R\x01\x00\x00\x00x");
        // Whatever else the peer sends is ignored.
        let news = session.receive(b"more", &mut plain);
        assert!(news.failed.is_none() && news.identified.is_none() && plain.is_empty());
    }

    #[test]
    fn bytes_that_are_no_handshake_fail_the_session_and_the_core_bytes_are_discarded() {
        let (mut ours, _peer) = pair();
        let mut session = Session::new(config(), false);
        let mut plain = Vec::new();
        let news = session.receive(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5], &mut plain);
        let failed = news.failed.expect("a failure");
        assert!(failed.starts_with("TLS handshake failed: "), "{failed}");
        assert_eq!(
            session.write(&mut ours, b"R-anything").expect("write").0,
            10
        );
    }
}
