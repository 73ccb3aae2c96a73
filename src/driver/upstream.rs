//! A relay's upstream connection (`conductor relay`): one non-blocking TCP stream to the
//! upstream conductor, TLS inside it when configured, opened when the sans-IO [`Relay`] asks,
//! written while it has bytes and read into it. What to send and when to reconnect is the
//! relay's; this module only moves bytes and reports what the socket did.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::{ClientConnection, Connection};

use lockstep::tls::pump;
use lockstep::tls::words::{self, Side};
use lockstep_proto::core::Conductor;
use lockstep_proto::relay::{Relay, UpInput, UpOutput};
use lockstep_proto::status::UpstreamStatus;
use lockstep_proto::time::Instant;

use crate::bench::tls::ClientTls;
use crate::driver::peers::write_some;

/// The upstream connection's token: below the HTTP endpoint's, far above any peer's.
pub const UPSTREAM: Token = Token(usize::MAX / 2 - 1);

/// Size of the read buffer.
const READ_CHUNK: usize = 16 * 1024;

/// The relay and its upstream socket.
pub struct Upstream {
    /// The sans-IO relay.
    pub relay: Relay,
    /// `HOST:PORT` as given.
    address: String,
    tls: Option<ClientTls>,
    link: Option<Link>,
    buffer: Vec<u8>,
    plain: Vec<u8>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("address", &self.address)
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

/// One connection.
struct Link {
    stream: TcpStream,
    connected: bool,
    tls: Option<Box<Connection>>,
    /// Anything arrived yet (over TLS the first byte tells plaintext apart).
    heard: bool,
    /// Close once what is pending is written.
    closing: bool,
}

impl Upstream {
    /// A relay that connects to `address` (over TLS with `tls`).
    pub fn new(relay: Relay, address: String, tls: Option<ClientTls>) -> Upstream {
        Upstream {
            relay,
            address,
            tls,
            link: None,
            buffer: vec![0; READ_CHUNK],
            plain: Vec::new(),
        }
    }

    /// The upstream side for the status files.
    pub fn status(&self) -> UpstreamStatus {
        UpstreamStatus {
            address: self.address.clone(),
            ..self.relay.status()
        }
    }

    /// True while bytes for upstream wait to be written on an open connection.
    pub fn has_unwritten(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.connected)
            && (!self.relay.pending().is_empty()
                || self
                    .link
                    .as_ref()
                    .and_then(|l| l.tls.as_ref())
                    .is_some_and(|t| t.wants_write()))
    }

    /// Carries out one of the relay's outputs; returns the log line of an event.
    pub fn act(
        &mut self,
        registry: &Registry,
        core: &mut Conductor,
        now: Instant,
        output: UpOutput,
    ) -> Option<lockstep_proto::relay::RelayEvent> {
        match output {
            UpOutput::Connect => self.connect(registry, core, now),
            UpOutput::Transmit => self.flush(registry, core, now),
            UpOutput::Close => {
                if let Some(link) = &mut self.link {
                    link.closing = true;
                }
                self.flush(registry, core, now);
            }
            UpOutput::Event(event) => return Some(event),
        }
        None
    }

    /// Opens a connection; a failure is reported to the relay as a closed connection.
    fn connect(&mut self, registry: &Registry, core: &mut Conductor, now: Instant) {
        self.drop_link(registry);
        match self.open(registry) {
            Ok(link) => self.link = Some(link),
            Err(e) => {
                log::debug!("upstream {}: {e}", self.address);
                self.relay.handle(core, now, UpInput::Closed);
            }
        }
    }

    fn open(&self, registry: &Registry) -> Result<Link, String> {
        let addr: SocketAddr = self
            .address
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve: {e}"))?
            .next()
            .ok_or("the name has no address")?;
        let mut stream = TcpStream::connect(addr).map_err(|e| format!("cannot connect: {e}"))?;
        registry
            .register(
                &mut stream,
                UPSTREAM,
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("cannot watch the connection: {e}"))?;
        let tls = match &self.tls {
            Some(tls) => Some(Box::new(Connection::Client(
                ClientConnection::new(tls.config(0), tls.name.clone())
                    .map_err(|e| format!("cannot start a TLS session: {e}"))?,
            ))),
            None => None,
        };
        Ok(Link {
            stream,
            connected: false,
            tls,
            heard: false,
            closing: false,
        })
    }

    /// Handles a readiness event of the upstream socket.
    pub fn ready(
        &mut self,
        registry: &Registry,
        core: &mut Conductor,
        now: Instant,
        event: &mio::event::Event,
    ) {
        let Some(link) = &mut self.link else {
            return;
        };
        if !link.connected && (event.is_writable() || event.is_error()) {
            let failed = matches!(link.stream.take_error(), Ok(Some(_)) | Err(_));
            match link.stream.peer_addr() {
                Ok(_) if !failed => {
                    link.connected = true;
                    let _ = link.stream.set_nodelay(true);
                    self.relay.handle(core, now, UpInput::Connected);
                }
                Err(e) if !failed && e.kind() == io::ErrorKind::NotConnected => return,
                _ => return self.lost(registry, core, now),
            }
        }
        if event.is_writable() {
            self.flush(registry, core, now);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(registry, core, now);
        }
    }

    /// Reads until the socket is drained, handing every chunk to the relay.
    fn read(&mut self, registry: &Registry, core: &mut Conductor, now: Instant) {
        loop {
            let Some(link) = &mut self.link else {
                return;
            };
            if !link.connected {
                return;
            }
            match link.stream.read(&mut self.buffer) {
                Ok(0) => return self.lost(registry, core, now),
                Ok(n) => {
                    let bytes: &[u8] = match &mut link.tls {
                        None => &self.buffer[..n],
                        Some(tls) => {
                            if !link.heard {
                                if let Some(problem) = pump::not_tls(self.buffer[0]) {
                                    log::error!("upstream {}: {problem}", self.address);
                                    return self.lost(registry, core, now);
                                }
                            }
                            self.plain.clear();
                            if let Err(e) = pump::receive(tls, &self.buffer[..n], &mut self.plain) {
                                log::error!(
                                    "upstream {}: TLS failed: {}",
                                    self.address,
                                    words::error(&e, Side::Client)
                                );
                                return self.lost(registry, core, now);
                            }
                            &self.plain
                        }
                    };
                    link.heard = true;
                    self.relay.handle(core, now, UpInput::Received(bytes));
                    // Answers (and a TLS handshake's records) go out at once.
                    self.flush(registry, core, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.lost(registry, core, now),
            }
        }
    }

    /// Writes what the relay has queued as far as the socket takes it; closes a closing
    /// connection once everything is out.
    fn flush(&mut self, registry: &Registry, core: &mut Conductor, now: Instant) {
        let Some(link) = &mut self.link else {
            return;
        };
        if !link.connected {
            return;
        }
        let pending = self.relay.pending();
        let result = match &mut link.tls {
            Some(tls) => {
                let n = pending.len();
                let written = if n > 0 {
                    tls.writer().write_all(pending).map(|()| n)
                } else {
                    Ok(0)
                };
                written.and_then(|n| pump::send(tls, &mut link.stream).map(|_| n))
            }
            None => write_some(&mut link.stream, pending),
        };
        match result {
            Ok(n) => {
                if n > 0 {
                    self.relay.handle(core, now, UpInput::Sent(n));
                }
                if self.link.as_ref().is_some_and(|l| l.closing) && !self.has_unwritten() {
                    if let Some(mut link) = self.link.take() {
                        if let Some(tls) = &mut link.tls {
                            tls.send_close_notify();
                            let _ = pump::send(tls, &mut link.stream);
                        }
                        let _ = link.stream.shutdown(Shutdown::Write);
                        let _ = registry.deregister(&mut link.stream);
                    }
                }
            }
            Err(_) => self.lost(registry, core, now),
        }
    }

    /// The connection failed or ended: the relay decides what follows.
    fn lost(&mut self, registry: &Registry, core: &mut Conductor, now: Instant) {
        let was_closing = self.link.as_ref().is_some_and(|l| l.closing);
        self.drop_link(registry);
        if !was_closing {
            self.relay.handle(core, now, UpInput::Closed);
        }
    }

    fn drop_link(&mut self, registry: &Registry) {
        if let Some(mut link) = self.link.take() {
            let _ = registry.deregister(&mut link.stream);
        }
    }

    /// Closes the connection on the way out.
    pub fn close(&mut self, registry: &Registry) {
        self.drop_link(registry);
    }
}
