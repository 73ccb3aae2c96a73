//! [`Client`]: one participant's blocking connection. It opens the socket, lets the
//! [participant state machine](lockstep_proto::participant) do the hello, turn what the conductor sends
//! into [`Event`]s, answer probes and check each answer against the session (no Done without a
//! Go), and writes what the machine queues.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::ClientError;
use super::link::{self, Ended, Link, Shared};
use super::tls::{TlsConfig, TlsError};
use lockstep_proto::participant::{Event, Moment, OutOfTurn, Participant, ProtocolError};
use lockstep_proto::wire::{Id, Reason};

/// How long [`Client::connect`] waits for the conductor's hello, which a live conductor sends
/// as soon as it accepts the connection.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Client::leave`] and [`Client::refuse`] wait for the conductor to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// A participant connected to a conductor, past the hello.
///
/// Call [`next_event`](Client::next_event) to wait for the conductor; answer a
/// [`Event::Go`] with [`ack`](Client::ack), then [`done`](Client::done) (or
/// [`refuse`](Client::refuse)). While waiting for an event the client answers the conductor's
/// `?` itself: `W` during a step (after a Go, before Done), `.` otherwise. A `?` that arrives
/// while the program is busy elsewhere is answered at the next call that reads, so during a long
/// step send [`working`](Client::working) now and then (the [`Runner`](super::Runner) does).
/// [`next_event`](Client::next_event) never returns [`Event::Hello`], [`Event::Probed`] or
/// [`Event::Here`]: the client handles those.
#[derive(Debug)]
pub struct Client {
    link: Shared,
    /// The socket's descriptor, waited on without the lock.
    fd: RawFd,
    id: Id,
    conductor: Id,
    peer: SocketAddr,
}

impl Client {
    /// Connects to the conductor at `addr` as `id` (1 to 12 printable ASCII characters),
    /// sends the hello and checks the conductor's. A refusal sent instead of the hello (an
    /// address outside `allow`) is returned as [`ClientError::Refused`]; a refusal of the hello
    /// itself (a duplicate id, `full`) comes as the first event.
    pub fn connect(addr: impl ToSocketAddrs, id: &str) -> Result<Client, ClientError> {
        Self::connect_within(addr, id, HELLO_TIMEOUT)
    }

    /// Like [`connect`](Client::connect), waiting at most `hello_within` for the hello.
    pub fn connect_within(
        addr: impl ToSocketAddrs,
        id: &str,
        hello_within: Duration,
    ) -> Result<Client, ClientError> {
        Self::open_session(addr, id, hello_within, None)
    }

    /// Like [`connect`](Client::connect), over TLS as `tls` says. `addr` is `host:port`; the
    /// conductor's certificate must name `host` unless `tls` gives another name. Certificate
    /// problems, and a conductor that does not speak TLS, are [`ClientError::Tls`] and
    /// [`ClientError::NotTls`].
    pub fn connect_tls(addr: &str, id: &str, tls: &TlsConfig) -> Result<Client, ClientError> {
        Self::connect_tls_within(addr, id, tls, HELLO_TIMEOUT)
    }

    /// Like [`connect_tls`](Client::connect_tls), waiting at most `hello_within` for the
    /// handshake and the hello.
    pub fn connect_tls_within(
        addr: &str,
        id: &str,
        tls: &TlsConfig,
        hello_within: Duration,
    ) -> Result<Client, ClientError> {
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
        let name = tls.name_for(host).map_err(ClientError::TlsConfig)?;
        let session = rustls::ClientConnection::new(tls.client_config(), name).map_err(|e| {
            ClientError::TlsConfig(TlsError {
                file: None,
                problem: e.to_string(),
            })
        })?;
        Self::open_session(addr, id, hello_within, Some(session))
    }

    fn open_session(
        addr: impl ToSocketAddrs,
        id: &str,
        hello_within: Duration,
        tls: Option<rustls::ClientConnection>,
    ) -> Result<Client, ClientError> {
        let id = Id::new(id).map_err(|error| ClientError::InvalidId {
            id: id.to_string(),
            error,
        })?;
        let stream = open(addr)?;
        let lost = |error| ClientError::ConnectionLost {
            at: Moment::BeforeFirstStep,
            error: Some(error),
        };
        let peer = stream.peer_addr().map_err(lost)?;
        // Small messages must leave at once, not wait to be coalesced.
        stream.set_nodelay(true).map_err(lost)?;
        let link = Link::new(stream, Participant::new(id), tls).map_err(lost)?;
        let fd = link.fd();
        let link = Arc::new(Mutex::new(link));
        link::lock(&link).flush().map_err(lost)?;
        let conductor = match receive(&link, fd, Some(Instant::now() + hello_within)) {
            Ok(Some(Event::Hello(conductor))) => conductor,
            Ok(Some(Event::Refused(reason))) => {
                return Err(ClientError::Refused {
                    reason,
                    at: Moment::BeforeFirstStep,
                })
            }
            // The machine lets nothing else through before the hello.
            Ok(Some(other)) => {
                return Err(ClientError::Protocol(ProtocolError::Unexpected {
                    got: other.to_string(),
                    expected: "its hello",
                    at: Moment::BeforeFirstStep,
                }))
            }
            Ok(None) => {
                return Err(ClientError::HelloTimeout {
                    waited: hello_within,
                })
            }
            Err(ended) => return Err(failure(ended)),
        };
        Ok(Client {
            link,
            fd,
            id,
            conductor,
            peer,
        })
    }

    /// This participant's id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The id the conductor gave in its hello.
    pub fn conductor_id(&self) -> Id {
        self.conductor
    }

    /// The conductor's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The step in progress (a Go arrived, Done not yet sent), if any.
    pub fn step(&self) -> Option<u32> {
        link::lock(&self.link).participant.step()
    }

    /// Where the session is, as used in error messages.
    pub fn moment(&self) -> Moment {
        link::lock(&self.link).participant.moment()
    }

    /// Waits for the next event, answering probes meanwhile.
    pub fn next_event(&mut self) -> Result<Event, ClientError> {
        loop {
            // Without a deadline a receive only returns with an event or an error.
            if let Some(event) = self.receive(None)? {
                return Ok(event);
            }
        }
    }

    /// Like [`next_event`](Client::next_event), giving up with `Ok(None)` after `limit`.
    pub fn next_event_within(&mut self, limit: Duration) -> Result<Option<Event>, ClientError> {
        self.receive(Some(Instant::now() + limit))
    }

    fn receive(&mut self, deadline: Option<Instant>) -> Result<Option<Event>, ClientError> {
        loop {
            return match receive(&self.link, self.fd, deadline) {
                Ok(Some(Event::Hello(_) | Event::Probed | Event::Here)) => continue,
                Ok(event) => Ok(event),
                Err(ended) => Err(failure(ended)),
            };
        }
    }

    /// Sends `K`: the Go was received and work starts.
    pub fn ack(&mut self) -> Result<(), ClientError> {
        self.act(Participant::ack)
    }

    /// Sends `W`: still working on the step.
    pub fn working(&mut self) -> Result<(), ClientError> {
        self.act(Participant::working)
    }

    /// Sends Done (`!`) for the step in progress.
    pub fn done(&mut self) -> Result<(), ClientError> {
        self.act(Participant::done)
    }

    /// Leaves with `X` and waits briefly for the conductor to close the connection.
    pub fn leave(self) -> Result<(), ClientError> {
        self.act(Participant::leave)?;
        link::lock(&self.link).finish(CLOSE_WAIT);
        Ok(())
    }

    /// Refuses to go on: sends `R` with `reason` (made printable and cut to 531 bytes) and
    /// waits briefly for the conductor to close the connection. Returns the reason as sent.
    pub fn refuse(self, reason: &str) -> Result<Reason, ClientError> {
        let reason = Reason::lossy(reason);
        let sent = reason.clone();
        self.act(move |p| p.refuse(reason).map(drop))?;
        link::lock(&self.link).finish(CLOSE_WAIT);
        Ok(sent)
    }

    /// A handle that sends through this client from another thread (a heartbeat, a signal
    /// handler), even while this one waits for the conductor.
    pub fn sender(&self) -> Sender {
        Sender {
            link: Arc::clone(&self.link),
        }
    }

    /// A second descriptor of the connection, for a thread that watches it for its end (with
    /// `poll` or an event loop). Reading from it or writing to it would break the session.
    pub fn watcher(&self) -> std::io::Result<OwnedFd> {
        let stream: TcpStream = link::lock(&self.link).try_clone_stream()?;
        Ok(OwnedFd::from(stream))
    }

    fn act(
        &self,
        call: impl FnOnce(&mut Participant) -> Result<(), OutOfTurn>,
    ) -> Result<(), ClientError> {
        act(&self.link, call)
    }
}

/// Sends through a [`Client`] from another thread: see [`Client::sender`].
#[derive(Clone, Debug)]
pub struct Sender {
    link: Shared,
}

impl Sender {
    /// Sends `W`: still working on the step in progress.
    pub fn working(&self) -> Result<(), ClientError> {
        act(&self.link, Participant::working)
    }

    /// Leaves with `X`. The client's own calls fail from then on; whatever the conductor still
    /// sends is ignored.
    pub fn leave(&self) -> Result<(), ClientError> {
        act(&self.link, Participant::leave)
    }
}

/// Lets the machine queue a message, then writes it.
fn act(
    link: &Shared,
    call: impl FnOnce(&mut Participant) -> Result<(), OutOfTurn>,
) -> Result<(), ClientError> {
    let mut link = link::lock(link);
    call(&mut link.participant).map_err(|e| ClientError::OutOfTurn {
        call: e.call,
        at: e.at,
    })?;
    let at = link.participant.moment();
    link.flush().map_err(|error| ClientError::ConnectionLost {
        at,
        error: Some(error),
    })
}

/// The next event, waiting for the socket until `deadline` (forever if `None`) without holding
/// the lock; `None` when the deadline passed.
fn receive(link: &Shared, fd: RawFd, deadline: Option<Instant>) -> Result<Option<Event>, Ended> {
    loop {
        if let Some(event) = link::lock(link).try_receive()? {
            return Ok(Some(event));
        }
        match link::wait(fd, libc::POLLIN, deadline) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(error) => {
                let mut link = link::lock(link);
                link.participant.closed();
                return Err(Ended::Closed(link.participant.moment(), Some(error)));
            }
        }
    }
}

/// The error for a connection that ended or broke.
fn failure(ended: Ended) -> ClientError {
    match ended {
        Ended::Closed(at, error) => ClientError::ConnectionLost { at, error },
        Ended::Broken(ProtocolError::VersionMismatch { theirs }) => {
            ClientError::VersionMismatch { theirs }
        }
        Ended::Broken(error) => ClientError::Protocol(error),
        Ended::Tls(at, problem) => ClientError::Tls { at, problem },
        Ended::NotTls(problem) => ClientError::NotTls { problem },
    }
}

/// Resolves `addr` and connects to the first address that accepts.
fn open(addr: impl ToSocketAddrs) -> Result<TcpStream, ClientError> {
    let addrs = addr
        .to_socket_addrs()
        .map_err(|error| ClientError::Connect { addr: None, error })?;
    let mut last = None;
    for candidate in addrs {
        match TcpStream::connect(candidate) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = Some((candidate, error)),
        }
    }
    Err(match last {
        Some((addr, error)) => ClientError::Connect {
            addr: Some(addr),
            error,
        },
        None => ClientError::Connect {
            addr: None,
            error: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the address resolves to nothing",
            ),
        },
    })
}
