//! [`Client`]: one participant's blocking connection. It does the hello, turns what the
//! conductor sends into [`Event`]s, answers probes itself and sends the participant's answers,
//! checking that each fits the session (no Done without a Go).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::error::{ClientError, Moment};
use super::event::Event;
use super::framed::{Framed, Recv, RecvError};
use crate::wire::{ClientMsg, ConductorMsg, Id, RawHello, Reason, VERSION};

/// How long [`Client::connect`] waits for the conductor's hello, which a live conductor sends
/// as soon as it accepts the connection.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Client::leave`] and [`Client::refuse`] wait for the conductor to close.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Where the participant is in the step cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No step in progress; the last one finished, if any.
    Waiting(Option<u32>),
    /// A Go arrived and `K` has not been sent.
    GoReceived(u32),
    /// `K` was sent; Done has not.
    Working(u32),
}

impl Phase {
    fn moment(self) -> Moment {
        match self {
            Phase::Waiting(None) => Moment::BeforeFirstStep,
            Phase::Waiting(Some(step)) => Moment::After(step),
            Phase::GoReceived(step) | Phase::Working(step) => Moment::During(step),
        }
    }
}

/// A participant connected to a conductor, past the hello.
///
/// Call [`next_event`](Client::next_event) to wait for the conductor; answer a
/// [`Event::Go`] with [`ack`](Client::ack), then [`done`](Client::done) (or
/// [`refuse`](Client::refuse)). While waiting for an event the client answers the conductor's
/// `?` itself: `W` during a step (after a Go, before Done), `.` otherwise. A `?` that arrives
/// while the program is busy elsewhere is answered at the next call that reads, so during a long
/// step send [`working`](Client::working) now and then (the [`Runner`](super::Runner) does).
#[derive(Debug)]
pub struct Client {
    framed: Framed,
    id: Id,
    conductor: Id,
    peer: SocketAddr,
    phase: Phase,
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
        let mut framed = Framed::new(stream);
        framed
            .send(&ClientMsg::Hello(RawHello {
                version: VERSION,
                id: *id.as_wire(),
            }))
            .map_err(lost)?;
        let conductor = read_hello(&mut framed, Instant::now() + hello_within, hello_within)?;
        Ok(Client {
            framed,
            id,
            conductor,
            peer,
            phase: Phase::Waiting(None),
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
        match self.phase {
            Phase::GoReceived(step) | Phase::Working(step) => Some(step),
            Phase::Waiting(_) => None,
        }
    }

    /// Where the session is, as used in error messages.
    pub fn moment(&self) -> Moment {
        self.phase.moment()
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
            let at = self.moment();
            let Some(msg) = recv(&mut self.framed, deadline, at)? else {
                return Ok(None);
            };
            let event = match msg {
                ConductorMsg::Ping => {
                    let answer = match self.phase {
                        Phase::Waiting(_) => ClientMsg::Here,
                        Phase::GoReceived(_) | Phase::Working(_) => ClientMsg::Working,
                    };
                    // A failed write means the connection is gone; the next read says so.
                    let _ = self.framed.send(&answer);
                    continue;
                }
                ConductorMsg::Here => continue,
                ConductorMsg::Hello(_) => {
                    return Err(ClientError::unexpected("a second hello", at))
                }
                ConductorMsg::Go(step) => match self.phase {
                    Phase::Waiting(_) => {
                        self.phase = Phase::GoReceived(step);
                        Event::Go(step)
                    }
                    _ => {
                        return Err(ClientError::unexpected(
                            format_args!("a Go for step {step}"),
                            at,
                        ))
                    }
                },
                ConductorMsg::Refusal(reason) => Event::Refused(reason),
                ConductorMsg::Exit => Event::Exit,
                ConductorMsg::Slow => Event::Slow,
                ConductorMsg::ShuttingDown(n) => Event::ShuttingDown(n),
                ConductorMsg::Error => Event::ErrorShutdown,
                ConductorMsg::Cease => Event::Cease,
            };
            return Ok(Some(event));
        }
    }

    /// Sends `K`: the Go was received and work starts.
    pub fn ack(&mut self) -> Result<(), ClientError> {
        match self.phase {
            Phase::GoReceived(step) => {
                self.send(&ClientMsg::Received)?;
                self.phase = Phase::Working(step);
                Ok(())
            }
            _ => Err(self.out_of_turn("ack (K)")),
        }
    }

    /// Sends `W`: still working on the step.
    pub fn working(&mut self) -> Result<(), ClientError> {
        match self.phase {
            Phase::GoReceived(_) | Phase::Working(_) => self.send(&ClientMsg::Working),
            Phase::Waiting(_) => Err(self.out_of_turn("working (W)")),
        }
    }

    /// Sends Done (`!`) for the step in progress.
    pub fn done(&mut self) -> Result<(), ClientError> {
        match self.phase {
            Phase::GoReceived(step) | Phase::Working(step) => {
                self.send(&ClientMsg::Done)?;
                self.phase = Phase::Waiting(Some(step));
                Ok(())
            }
            Phase::Waiting(_) => Err(self.out_of_turn("done (!)")),
        }
    }

    /// Leaves with `X` and waits briefly for the conductor to close the connection.
    pub fn leave(mut self) -> Result<(), ClientError> {
        self.send(&ClientMsg::Exit)?;
        self.framed.finish(CLOSE_WAIT);
        Ok(())
    }

    /// Refuses to go on: sends `R` with `reason` (made printable and cut to 531 bytes) and
    /// waits briefly for the conductor to close the connection. Returns the reason as sent.
    pub fn refuse(mut self, reason: &str) -> Result<Reason, ClientError> {
        let reason = Reason::lossy(reason);
        self.send(&ClientMsg::Refusal(reason.clone()))?;
        self.framed.finish(CLOSE_WAIT);
        Ok(reason)
    }

    /// A second handle on the socket, for a thread that must watch the connection or write
    /// to it while this one blocks: the runner's heartbeat, `conductor join`'s signal
    /// handling. What it writes must be whole messages, one write each, so that they never
    /// interleave with this client's own.
    pub fn clone_stream(&self) -> std::io::Result<TcpStream> {
        self.framed.stream.try_clone()
    }

    fn send(&mut self, msg: &ClientMsg) -> Result<(), ClientError> {
        let at = self.moment();
        self.framed
            .send(msg)
            .map_err(|error| ClientError::ConnectionLost {
                at,
                error: Some(error),
            })
    }

    fn out_of_turn(&self, call: &'static str) -> ClientError {
        ClientError::OutOfTurn {
            call,
            at: self.moment(),
        }
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

/// The next message, `None` when `deadline` passes; a closed or broken connection and bytes
/// that are no message are errors.
fn recv(
    framed: &mut Framed,
    deadline: Option<Instant>,
    at: Moment,
) -> Result<Option<ConductorMsg>, ClientError> {
    match framed.recv(deadline) {
        Ok(Recv::Msg(msg)) => Ok(Some(msg)),
        Ok(Recv::TimedOut) => Ok(None),
        Ok(Recv::Closed) => Err(ClientError::ConnectionLost { at, error: None }),
        Err(RecvError::Io(error)) => Err(ClientError::ConnectionLost {
            at,
            error: Some(error),
        }),
        Err(RecvError::Garbage(e)) => Err(ClientError::unexpected(
            format_args!("bytes that are no message ({e})"),
            at,
        )),
    }
}

/// Reads the conductor's hello and returns its id.
fn read_hello(framed: &mut Framed, deadline: Instant, waited: Duration) -> Result<Id, ClientError> {
    let at = Moment::BeforeFirstStep;
    let hello = match recv(framed, Some(deadline), at)? {
        Some(ConductorMsg::Hello(hello)) => hello,
        Some(ConductorMsg::Refusal(reason)) => return Err(ClientError::Refused { reason, at }),
        Some(other) => {
            return Err(ClientError::unexpected(
                format_args!("{other:?} instead of its hello"),
                at,
            ))
        }
        None => return Err(ClientError::HelloTimeout { waited }),
    };
    if hello.version != VERSION {
        return Err(ClientError::VersionMismatch {
            theirs: hello.version,
        });
    }
    Id::from_wire(hello.id)
        .map_err(|e| ClientError::unexpected(format_args!("a hello with an invalid id ({e})"), at))
}
