//! [`Client`]: one participant's blocking connection. It opens the socket, lets the
//! [participant state machine](lockstep_proto::participant) do the hello, turn what the conductor sends
//! into [`Event`]s, answer probes and check each answer against the session (no Done without a
//! Go), and writes what the machine queues; after an outage it opens a new session that
//! continues the old one (see [`reconnect`](super::reconnect)).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{OwnedFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use super::error::ClientError;
use super::link::{self, Ended, Link, Shared};
use super::reconnect::{self, Outage, Reconnect};
use super::tls::{TlsConfig, TlsError};
use lockstep_proto::participant::{
    Ending, Event, Moment, OutOfTurn, Participant, ProtocolError, State,
};
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
///
/// # Outages
/// A connection lost without the conductor's `C`, `E` or `X` is an outage (the conductor may
/// be restarting): [`next_event`](Client::next_event) connects again with backoff, for up to
/// the reconnect window ([`reconnect_within`](Client::reconnect_within), 30 s by default; zero
/// = never), says hello with the same id and carries on; the outage is announced once
/// ([`on_outage`](Client::on_outage)). A Go for the step completed last, the first after a
/// reconnection, is answered at once and returned as [`Event::Repeated`]: do not run the step
/// again. Once the window has passed, [`ClientError::ConductorGone`]. While the window is
/// open, a write that fails is not an error (the read after it finds the outage). A loss
/// found while a step is in progress (reading during a step) is returned as
/// [`ClientError::ConnectionLost`] during that step; the client stays usable: [`done`](Client::done)
/// then records the step as completed (nothing is sent) and the next
/// [`next_event`](Client::next_event) reconnects.
#[derive(Debug)]
pub struct Client {
    link: Shared,
    /// The socket's descriptor, waited on without the lock.
    fd: RawFd,
    id: Id,
    conductor: Id,
    peer: SocketAddr,
    dial: Dial,
    reconnect: Reconnect,
    /// A loss found during a step, not yet ridden out.
    loss: Option<Loss>,
    /// Since the last reconnection, until the first event after the hello: the outage it
    /// ended (a `duplicate id` refusal then continues it).
    rejoining: Option<Loss>,
}

/// An outage being ridden out.
#[derive(Clone, Copy, Debug)]
struct Loss {
    /// When it began.
    since: Instant,
    /// Where the session was.
    at: Moment,
    /// The step the next session continues after.
    last_done: Option<u32>,
}

/// How to open a session: the conductor's addresses, TLS, how long a hello may take.
#[derive(Clone, Debug)]
struct Dial {
    addrs: Vec<SocketAddr>,
    tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    hello_within: Duration,
}

/// A session just opened, past the conductor's hello.
struct Opened {
    link: Link,
    fd: RawFd,
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
        Self::open_session(addr, id, hello_within, Some((tls.client_config(), name)))
    }

    fn open_session(
        addr: impl ToSocketAddrs,
        id: &str,
        hello_within: Duration,
        tls: Option<(Arc<rustls::ClientConfig>, ServerName<'static>)>,
    ) -> Result<Client, ClientError> {
        let id = Id::new(id).map_err(|error| ClientError::InvalidId {
            id: id.to_string(),
            error,
        })?;
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|error| ClientError::Connect { addr: None, error })?
            .collect();
        let dial = Dial {
            addrs,
            tls,
            hello_within,
        };
        let opened = dial.open(id, None, None)?;
        Ok(Client {
            link: Arc::new(Mutex::new(opened.link)),
            fd: opened.fd,
            id,
            conductor: opened.conductor,
            peer: opened.peer,
            dial,
            reconnect: Reconnect::logged(id.to_string()),
            loss: None,
            rejoining: None,
        })
    }

    /// Sets how long an outage is ridden out (see [Outages](Client#outages)); zero = never:
    /// a lost connection is the end, [`ClientError::ConnectionLost`].
    pub fn reconnect_within(mut self, window: Duration) -> Client {
        self.reconnect.window = window;
        self
    }

    /// Calls `announce` once at the start of each outage, instead of logging it as a warning
    /// with the `log` crate. Its text ([`Outage`]'s `Display`) is one line.
    pub fn on_outage(mut self, announce: impl FnMut(&Outage) + Send + 'static) -> Client {
        self.reconnect.announce = Box::new(announce);
        self
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
        if let Some(loss) = self.loss.take() {
            self.reopen(loss)?;
        }
        loop {
            let ended = match receive(&self.link, self.fd, deadline) {
                Ok(Some(Event::Hello(_) | Event::Probed | Event::Here)) => continue,
                Ok(Some(Event::Refused(reason))) if self.rejoining.is_some() => {
                    match self.rejoining.take() {
                        Some(loss) if reason.as_str().starts_with("duplicate id") => {
                            // The conductor has not noticed the old connection yet.
                            self.reopen(loss)?;
                            continue;
                        }
                        _ => return Ok(Some(Event::Refused(reason))),
                    }
                }
                Ok(event) => {
                    if event.is_some() {
                        self.rejoining = None;
                    }
                    return Ok(event);
                }
                Err(ended) => ended,
            };
            let Some(loss) = self.outage(&ended) else {
                return Err(failure(ended));
            };
            if let Moment::During(_) = loss.at {
                // The step's work may still run: the outage is ridden out once it is done.
                self.loss = Some(loss);
                return Err(failure(ended));
            }
            self.reopen(loss)?;
        }
    }

    /// The outage a lost connection begins (or continues, right after a reconnection), if it
    /// is one: lost without `C`, `E` or `X`, with a reconnect window; announced once.
    fn outage(&mut self, ended: &Ended) -> Option<Loss> {
        let Ended::Closed(at, error) = ended else {
            return None;
        };
        let link = link::lock(&self.link);
        let lost = matches!(link.participant.state(), State::Ended(Ending::Lost));
        if self.reconnect.window.is_zero() || !lost || link.participant.heard_farewell() {
            return None;
        }
        let last_done = link.participant.last_done();
        drop(link);
        if let Some(loss) = self.rejoining.take() {
            // Lost again right after reconnecting: the same outage goes on.
            return Some(Loss { last_done, ..loss });
        }
        (self.reconnect.announce)(&Outage {
            at: *at,
            error: error.as_ref().map(ToString::to_string),
            window: self.reconnect.window,
        });
        Some(Loss {
            since: Instant::now(),
            at: *at,
            last_done,
        })
    }

    /// Connects again within the outage's window and continues the session after its last
    /// step done.
    fn reopen(&mut self, loss: Loss) -> Result<(), ClientError> {
        let (id, dial) = (self.id, &self.dial);
        let opened = reconnect::retry(loss.since, self.reconnect.window, loss.at, |left| {
            dial.open(id, loss.last_done, Some(left))
        })?;
        *link::lock(&self.link) = opened.link;
        self.fd = opened.fd;
        self.conductor = opened.conductor;
        self.peer = opened.peer;
        self.rejoining = Some(loss);
        Ok(())
    }

    /// Sends `K`: the Go was received and work starts.
    pub fn ack(&mut self) -> Result<(), ClientError> {
        self.act(Participant::ack)
    }

    /// Sends `W`: still working on the step.
    pub fn working(&mut self) -> Result<(), ClientError> {
        self.act(Participant::working)
    }

    /// Sends Done (`!`) for the step in progress. After a loss found during the step (see
    /// [Outages](Client#outages)) it records the step as completed instead, and sends nothing.
    pub fn done(&mut self) -> Result<(), ClientError> {
        if let Some(loss) = &mut self.loss {
            if let Moment::During(step) = loss.at {
                loss.last_done = Some(step);
                loss.at = Moment::After(step);
                return Ok(());
            }
        }
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
    /// handler), even while this one waits for the conductor, and after reconnections.
    pub fn sender(&self) -> Sender {
        Sender {
            link: Arc::clone(&self.link),
        }
    }

    /// A second descriptor of the connection, for a thread that watches it for its end (with
    /// `poll` or an event loop). Reading from it or writing to it would break the session.
    /// After a reconnection it watches the old connection.
    pub fn watcher(&self) -> std::io::Result<OwnedFd> {
        let stream: TcpStream = link::lock(&self.link).try_clone_stream()?;
        Ok(OwnedFd::from(stream))
    }

    /// Lets the machine queue a message and writes it. While outages are ridden out, a failed
    /// write is no error: the next read finds the outage.
    fn act(
        &self,
        call: impl FnOnce(&mut Participant) -> Result<(), OutOfTurn>,
    ) -> Result<(), ClientError> {
        match act(&self.link, call) {
            Err(ClientError::ConnectionLost { .. }) if !self.reconnect.window.is_zero() => Ok(()),
            other => other,
        }
    }
}

impl Dial {
    /// Connects, sends the hello of a session continuing after `last_done`, and waits for the
    /// conductor's; with `limit`, connecting and the hello take at most that long.
    fn open(
        &self,
        id: Id,
        last_done: Option<u32>,
        limit: Option<Duration>,
    ) -> Result<Opened, ClientError> {
        let hello_within = limit.map_or(self.hello_within, |l| l.min(self.hello_within));
        let started = Instant::now();
        let stream = open(&self.addrs, limit)?;
        let lost = |error| ClientError::ConnectionLost {
            at: Moment::BeforeFirstStep,
            error: Some(error),
        };
        let peer = stream.peer_addr().map_err(lost)?;
        // Small messages must leave at once, not wait to be coalesced.
        stream.set_nodelay(true).map_err(lost)?;
        let tls = match &self.tls {
            Some((config, name)) => Some(
                rustls::ClientConnection::new(Arc::clone(config), name.clone()).map_err(|e| {
                    ClientError::TlsConfig(TlsError {
                        file: None,
                        problem: e.to_string(),
                    })
                })?,
            ),
            None => None,
        };
        let participant = Participant::reconnecting(id, last_done);
        let link = Link::new(stream, participant, tls).map_err(lost)?;
        let fd = link.fd();
        let shared = Arc::new(Mutex::new(link));
        link::lock(&shared).flush().map_err(lost)?;
        let deadline = started + hello_within;
        let conductor = match receive(&shared, fd, Some(deadline)) {
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
        let link = Arc::try_unwrap(shared)
            .map(|m| m.into_inner().unwrap_or_else(PoisonError::into_inner))
            .unwrap_or_else(|_| unreachable!("no other handle was made"));
        Ok(Opened {
            link,
            fd,
            conductor,
            peer,
        })
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

/// Connects to the first of `addrs` that accepts, each try taking at most `limit`.
fn open(addrs: &[SocketAddr], limit: Option<Duration>) -> Result<TcpStream, ClientError> {
    let mut last = None;
    for &candidate in addrs {
        let connected = match limit {
            Some(limit) => {
                TcpStream::connect_timeout(&candidate, limit.max(Duration::from_millis(1)))
            }
            None => TcpStream::connect(candidate),
        };
        match connected {
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
