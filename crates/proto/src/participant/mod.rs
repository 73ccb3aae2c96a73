//! The participant's side of protocol version 1 as a sans-IO state machine: it consumes the
//! conductor's bytes in any split, yields [`Event`]s, knows where the participant is in the
//! step cycle, encodes what the participant sends (`A K ! W . ? X R`), answers `?` itself
//! according to its state, and reports a conductor that breaks the protocol as a typed
//! [`ProtocolError`]. It performs no I/O, reads no clock and starts no thread: a blocking
//! client, an event loop of simulated clients, a relay's upstream side or a test drives it.
//!
//! # The contract
//! 1. [`Participant::new`] queues the hello; write [`Participant::pending`] to the socket and
//!    report what it took with [`Participant::sent`] whenever it is non-empty (or move it all
//!    out with [`Participant::take_pending`]).
//! 2. Feed every received chunk to [`Participant::handle`], then drain
//!    [`Participant::poll_event`].
//! 3. Answer a Go with [`Participant::ack`] and then [`Participant::done`] (or
//!    [`Participant::refuse`]); leave with [`Participant::leave`]. Each call queues its bytes.
//! 4. When the connection ends, [`Participant::closed`] says whether that was the expected end
//!    or a lost connection, and when.
//!
//! # Reconnecting
//! A connection lost without the conductor's `C`, `E` or `X` (see
//! [`Participant::heard_farewell`]) is an outage: the conductor may have been restarted, and
//! the next one sends the last recorded wave again (PROTOCOL.md "Surviving restarts"). A new
//! session made with [`Participant::reconnecting`] and the step last completed
//! ([`Participant::last_done`]) answers a first Go for that very step with Done at once and
//! reports it as [`Event::Repeated`], not [`Event::Go`], so that the step's work runs at most
//! once.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;

use crate::wire::{
    ClientMsg, ConductorMsg, DecodeError, Id, RawHello, Reason, ShowByte, TextError,
    MAX_MESSAGE_LEN, VERSION,
};

/// Where the participant is in its session.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Our hello is queued or sent; the conductor's has not arrived.
    AwaitingHello,
    /// Between steps; the step last completed, if any.
    Waiting {
        /// The step whose Done was sent last.
        last_done: Option<u32>,
    },
    /// A Go arrived and `K` has not been sent.
    GoReceived {
        /// The Go's step.
        step: u32,
    },
    /// `K` was sent; Done has not.
    Working {
        /// The step being worked on.
        step: u32,
    },
    /// The session is over; nothing more is sent.
    Ended(Ending),
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ending {
    /// The conductor sent `X`.
    Exit,
    /// The conductor sent `R` with this reason.
    Refused(Reason),
    /// We sent `X`.
    Left,
    /// We sent `R` with this reason.
    RefusedByUs(Reason),
    /// The conductor broke the protocol.
    Broken,
    /// The connection ended without a goodbye.
    Lost,
}

/// Where in the session something happened, for messages that say when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Moment {
    /// No Go has arrived yet.
    BeforeFirstStep,
    /// A Go for this step arrived and its Done has not been sent.
    During(u32),
    /// Done was sent for this step and no Go has arrived since.
    After(u32),
}

impl fmt::Display for Moment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Moment::BeforeFirstStep => f.write_str("before the first step"),
            Moment::During(step) => write!(f, "during step {step}"),
            Moment::After(step) => write!(f, "after step {step}"),
        }
    }
}

/// What the conductor told the participant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The conductor's hello, with its id.
    Hello(Id),
    /// `!`: start this step. Answer with [`Participant::ack`], then [`Participant::done`].
    Go(u32),
    /// The first Go of a reconnected session was for the step completed last: Done is already
    /// queued. Do not run the step again.
    Repeated(u32),
    /// `T`: the round is taking longer than expected.
    Slow,
    /// `S n`: the conductor will end after n more steps, counting the next one.
    ShuttingDown(u32),
    /// `C`: the operator ends the run; `X` follows.
    Cease,
    /// `E`: the conductor is shutting down because of an error; `X` follows.
    ErrorShutdown,
    /// `X`: the conductor closes this connection.
    Exit,
    /// `R`: the conductor refused this participant and closes the connection.
    Refused(Reason),
    /// `?`: the conductor asked whether we are there; the answer is already queued.
    Probed,
    /// `.`: the conductor answered our `?`.
    Here,
}

impl fmt::Display for Event {
    /// The event in plain words, as a person would want to read it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Hello(id) => write!(f, "hello from conductor {id}"),
            Event::Go(step) => write!(f, "go for step {step}"),
            Event::Repeated(step) => write!(
                f,
                "go for step {step} again: done before the reconnection, answered Done \
                 without running it"
            ),
            Event::Slow => f.write_str("this round is taking longer than expected"),
            Event::ShuttingDown(1) => f.write_str("shutting down after 1 more step"),
            Event::ShuttingDown(n) => write!(f, "shutting down after {n} more steps"),
            Event::Cease => f.write_str("ceasing operation by the operator's decision"),
            Event::ErrorShutdown => f.write_str("shutting down because of an error"),
            Event::Exit => f.write_str("closing the connection"),
            Event::Refused(reason) => write!(f, "refused: {reason}"),
            Event::Probed => f.write_str("asked whether we are still there"),
            Event::Here => f.write_str("still there"),
        }
    }
}

/// A conductor that broke the protocol. The session has ended when one is returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Bytes that start no conductor message.
    Garbage {
        /// What the decoder found.
        error: DecodeError,
        /// When.
        at: Moment,
    },
    /// A Go while a step is in progress: its Done has not been sent.
    GoDuringStep {
        /// The new Go's step.
        step: u32,
        /// The step in progress.
        during: u32,
    },
    /// Any other well-formed message that is not valid in the participant's state.
    Unexpected {
        /// What arrived, e.g. "a Go for step 5", "a second hello".
        got: String,
        /// What the participant was waiting for, e.g. "its hello".
        expected: &'static str,
        /// When.
        at: Moment,
    },
    /// The conductor's hello names another protocol version.
    VersionMismatch {
        /// The version byte it sent.
        theirs: u8,
    },
    /// The conductor's hello carries an id that is not valid.
    InvalidConductorId(TextError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::Garbage { error, at } => {
                write!(
                    f,
                    "the conductor sent bytes that are no message ({error}) {at}"
                )
            }
            ProtocolError::GoDuringStep { step, during } => write!(
                f,
                "the conductor sent a Go for step {step} during step {during}, expected no Go \
                 before Done"
            ),
            ProtocolError::Unexpected { got, expected, at } => {
                write!(f, "the conductor sent {got} {at}, expected {expected}")
            }
            ProtocolError::VersionMismatch { theirs } => write!(
                f,
                "protocol version mismatch: the conductor speaks version {}, this participant \
                 speaks 1",
                ShowByte(*theirs)
            ),
            ProtocolError::InvalidConductorId(error) => {
                write!(f, "the conductor's hello carries an invalid id: {error}")
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// A call the session does not allow now (a Done with no step in progress, say); nothing was
/// queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfTurn {
    /// The call, e.g. `"done (!)"`.
    pub call: &'static str,
    /// When it was made.
    pub at: Moment,
    /// The session had already ended.
    pub ended: bool,
}

impl fmt::Display for OutOfTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ended {
            write!(f, "{} is not allowed: the session has ended", self.call)
        } else {
            write!(
                f,
                "{} is not allowed {}; nothing was sent",
                self.call, self.at
            )
        }
    }
}

impl std::error::Error for OutOfTurn {}

/// How the connection's end looks from the participant's state when it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Closed {
    /// After the conductor's `X` or `R`, or after we left: the expected end.
    AfterGoodbye(Ending),
    /// Without a goodbye: the connection was lost at this moment.
    Lost(Moment),
}

/// One participant's session. See the module docs for the calling contract.
#[derive(Clone, Debug)]
pub struct Participant {
    id: Id,
    state: State,
    conductor: Option<Id>,
    /// The start of a message not complete yet (shorter than one message).
    inbox: Vec<u8>,
    /// Bytes queued for the conductor and not written yet.
    outbox: Vec<u8>,
    events: VecDeque<Event>,
    /// The last step whose Go arrived, kept after the session ends for messages.
    moment: Moment,
    /// The last step completed: its Done sent, or (in a reconnected session, before its first
    /// Go) its work done in an earlier session.
    last_done: Option<u32>,
    /// A reconnected session's step completed before the reconnection: a first Go for it is
    /// answered at once. Cleared by the first Go.
    may_repeat: Option<u32>,
    /// The conductor said `C` or `E`.
    farewell: bool,
}

impl Participant {
    /// A session for `id`, with its hello queued.
    pub fn new(id: Id) -> Participant {
        Participant::reconnecting(id, None)
    }

    /// A session for `id` that continues one whose connection was lost (see the module docs),
    /// with its hello queued. `last_done` is the step completed last in the earlier sessions,
    /// whether or not its Done reached the conductor; `None` is a session like
    /// [`new`](Self::new)'s.
    pub fn reconnecting(id: Id, last_done: Option<u32>) -> Participant {
        let mut participant = Participant {
            id,
            state: State::AwaitingHello,
            conductor: None,
            inbox: Vec::new(),
            outbox: Vec::with_capacity(64),
            events: VecDeque::new(),
            moment: last_done.map_or(Moment::BeforeFirstStep, Moment::After),
            last_done,
            may_repeat: last_done,
            farewell: false,
        };
        participant.queue(&ClientMsg::Hello(RawHello {
            version: VERSION,
            id: *id.as_wire(),
        }));
        participant
    }

    /// This participant's id.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The conductor's id, once its hello has arrived.
    pub fn conductor_id(&self) -> Option<Id> {
        self.conductor
    }

    /// The session's state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Where the session is, for messages.
    pub fn moment(&self) -> Moment {
        self.moment
    }

    /// The step in progress (a Go arrived, Done not yet sent), if any.
    pub fn step(&self) -> Option<u32> {
        match self.state {
            State::GoReceived { step } | State::Working { step } => Some(step),
            _ => None,
        }
    }

    /// The last step completed: its Done was sent (in this session or, for a reconnected one,
    /// in an earlier one). Kept after the session ends: it is what a reconnection starts from.
    pub fn last_done(&self) -> Option<u32> {
        self.last_done
    }

    /// True once the conductor has said `C` or `E`: a connection lost afterwards is its end,
    /// not an outage.
    pub fn heard_farewell(&self) -> bool {
        self.farewell
    }

    /// True once the session is over.
    pub fn is_ended(&self) -> bool {
        matches!(self.state, State::Ended(_))
    }

    /// Bytes to write to the conductor.
    pub fn pending(&self) -> &[u8] {
        &self.outbox
    }

    /// The socket took the first `n` bytes of [`pending`](Self::pending).
    pub fn sent(&mut self, n: usize) {
        if n >= self.outbox.len() {
            // The usual case, and the cheapest.
            self.outbox.clear();
        } else {
            self.outbox.drain(..n);
        }
    }

    /// Takes every pending byte at once, for a caller that hands them on as a buffer of their
    /// own (a simulated network, say): afterwards nothing is pending.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outbox)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Consumes bytes from the conductor: every complete message becomes an event (a `?` is
    /// answered at once), an incomplete tail is kept for the next call. After an error, or
    /// once we have left, further bytes are ignored.
    pub fn handle(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        if bytes.is_empty() || self.ignores_input() {
            return Ok(());
        }
        let mut input = bytes;
        if !self.inbox.is_empty() {
            // Complete the held message from the new bytes; no message is longer than
            // MAX_MESSAGE_LEN, so the held part and a message's worth of input suffice.
            let mut held = std::mem::take(&mut self.inbox);
            let before = held.len();
            held.extend_from_slice(&input[..input.len().min(MAX_MESSAGE_LEN)]);
            let used = self.decode_all(&held)?;
            if used < before {
                // Still incomplete: every byte is held.
                held.drain(..used);
                self.inbox = held;
                return Ok(());
            }
            input = &input[used - before..];
        }
        let used = self.decode_all(input)?;
        if !self.ignores_input() {
            self.inbox.extend_from_slice(&input[used..]);
        }
        Ok(())
    }

    /// Sends `K`: the Go was received and work starts.
    pub fn ack(&mut self) -> Result<(), OutOfTurn> {
        match self.state {
            State::GoReceived { step } => {
                self.queue(&ClientMsg::Received);
                self.state = State::Working { step };
                Ok(())
            }
            _ => Err(self.out_of_turn("ack (K)")),
        }
    }

    /// Sends `W`: still working on the step.
    pub fn working(&mut self) -> Result<(), OutOfTurn> {
        match self.state {
            State::GoReceived { .. } | State::Working { .. } => {
                self.queue(&ClientMsg::Working);
                Ok(())
            }
            _ => Err(self.out_of_turn("working (W)")),
        }
    }

    /// Sends Done (`!`) for the step in progress; right after the Go it counts as `K` too.
    pub fn done(&mut self) -> Result<(), OutOfTurn> {
        match self.state {
            State::GoReceived { step } | State::Working { step } => {
                self.queue(&ClientMsg::Done);
                self.finished(step);
                Ok(())
            }
            _ => Err(self.out_of_turn("done (!)")),
        }
    }

    /// Sends `.`: here, not working (liveness only).
    pub fn here(&mut self) -> Result<(), OutOfTurn> {
        self.liveness(ClientMsg::Here, "here (.)")
    }

    /// Sends `?`: the conductor answers `.`, reported as [`Event::Here`].
    pub fn ping(&mut self) -> Result<(), OutOfTurn> {
        self.liveness(ClientMsg::Ping, "ping (?)")
    }

    /// Sends `X` and ends the session; whatever the conductor still sends is ignored.
    pub fn leave(&mut self) -> Result<(), OutOfTurn> {
        if self.is_ended() {
            return Err(self.out_of_turn("leave (X)"));
        }
        self.queue(&ClientMsg::Exit);
        self.state = State::Ended(Ending::Left);
        Ok(())
    }

    /// Sends `R` with `reason` and ends the session. Returns the reason as sent.
    pub fn refuse(&mut self, reason: Reason) -> Result<Reason, OutOfTurn> {
        if self.is_ended() {
            return Err(self.out_of_turn("refuse (R)"));
        }
        self.queue(&ClientMsg::Refusal(reason.clone()));
        self.state = State::Ended(Ending::RefusedByUs(reason.clone()));
        Ok(reason)
    }

    /// The connection ended (end of stream, reset, failure): says whether that was the
    /// expected end. Afterwards the session has ended.
    pub fn closed(&mut self) -> Closed {
        self.inbox.clear();
        match &self.state {
            State::Ended(Ending::Broken | Ending::Lost) => Closed::Lost(self.moment),
            State::Ended(ending) => Closed::AfterGoodbye(ending.clone()),
            _ => {
                self.state = State::Ended(Ending::Lost);
                Closed::Lost(self.moment)
            }
        }
    }

    /// The step's Done is queued.
    fn finished(&mut self, step: u32) {
        self.state = State::Waiting {
            last_done: Some(step),
        };
        self.moment = Moment::After(step);
        self.last_done = Some(step);
    }

    fn ignores_input(&self) -> bool {
        matches!(
            self.state,
            State::Ended(Ending::Left | Ending::RefusedByUs(_) | Ending::Broken | Ending::Lost)
        )
    }

    fn liveness(&mut self, msg: ClientMsg, call: &'static str) -> Result<(), OutOfTurn> {
        if matches!(self.state, State::Ended(_)) {
            return Err(self.out_of_turn(call));
        }
        self.queue(&msg);
        Ok(())
    }

    fn out_of_turn(&self, call: &'static str) -> OutOfTurn {
        OutOfTurn {
            call,
            at: self.moment,
            ended: self.is_ended(),
        }
    }

    fn queue(&mut self, msg: &ClientMsg) {
        msg.encode_into(&mut self.outbox);
    }

    /// Applies every complete message at the start of `buf`; returns the bytes used. Stops
    /// (using everything) once input is to be ignored.
    fn decode_all(&mut self, buf: &[u8]) -> Result<usize, ProtocolError> {
        let mut used = 0;
        while used < buf.len() {
            if self.ignores_input() {
                return Ok(buf.len());
            }
            match ConductorMsg::decode(&buf[used..]) {
                Ok(Some((msg, n))) => {
                    used += n;
                    self.on_message(msg)?;
                }
                Ok(None) => break,
                Err(error) => {
                    return Err(self.broken(ProtocolError::Garbage {
                        error,
                        at: self.moment,
                    }))
                }
            }
        }
        Ok(used)
    }

    /// The transition table: one arm per (state, message) that does anything, and the
    /// violations.
    fn on_message(&mut self, msg: ConductorMsg) -> Result<(), ProtocolError> {
        use ConductorMsg as M;
        let event = match (&self.state, msg) {
            // The hello: its version and id are checked; a refusal may come instead of it
            // (an address outside `allow`).
            (State::AwaitingHello, M::Hello(hello)) => {
                if hello.version != VERSION {
                    return Err(self.broken(ProtocolError::VersionMismatch {
                        theirs: hello.version,
                    }));
                }
                let id = Id::from_wire(hello.id)
                    .map_err(|e| self.broken(ProtocolError::InvalidConductorId(e)))?;
                self.conductor = Some(id);
                self.state = State::Waiting {
                    last_done: self.last_done,
                };
                Event::Hello(id)
            }
            (State::AwaitingHello, M::Refusal(reason)) => self.end_by_conductor(reason),
            (State::AwaitingHello, other) => {
                return Err(self.unexpected(describe(&other), "its hello"))
            }
            // Messages after the conductor's goodbye.
            (State::Ended(_), other) => {
                return Err(self.unexpected(describe(&other), "nothing after its goodbye"))
            }
            // A second hello is never valid.
            (_, M::Hello(_)) => return Err(self.unexpected("a second hello".into(), "no hello")),
            // A Go reaches a participant between steps only. The first of a reconnected
            // session may repeat the step completed before: answered at once.
            (State::Waiting { .. }, M::Go(step)) => {
                if self.may_repeat.take() == Some(step) {
                    self.queue(&ClientMsg::Done);
                    self.finished(step);
                    Event::Repeated(step)
                } else {
                    self.state = State::GoReceived { step };
                    self.moment = Moment::During(step);
                    Event::Go(step)
                }
            }
            (State::GoReceived { step: during } | State::Working { step: during }, M::Go(step)) => {
                let during = *during;
                return Err(self.broken(ProtocolError::GoDuringStep { step, during }));
            }
            // A probe is answered according to the state: W during a step, . otherwise.
            (state, M::Ping) => {
                let answer = match state {
                    State::GoReceived { .. } | State::Working { .. } => ClientMsg::Working,
                    _ => ClientMsg::Here,
                };
                self.queue(&answer);
                Event::Probed
            }
            (_, M::Here) => Event::Here,
            (_, M::Slow) => Event::Slow,
            (_, M::ShuttingDown(n)) => Event::ShuttingDown(n),
            (_, M::Cease) => {
                self.farewell = true;
                Event::Cease
            }
            (_, M::Error) => {
                self.farewell = true;
                Event::ErrorShutdown
            }
            (_, M::Exit) => {
                self.state = State::Ended(Ending::Exit);
                Event::Exit
            }
            (_, M::Refusal(reason)) => self.end_by_conductor(reason),
        };
        self.events.push_back(event);
        Ok(())
    }

    fn end_by_conductor(&mut self, reason: Reason) -> Event {
        self.state = State::Ended(Ending::Refused(reason.clone()));
        Event::Refused(reason)
    }

    fn unexpected(&mut self, got: String, expected: &'static str) -> ProtocolError {
        let at = self.moment;
        self.broken(ProtocolError::Unexpected { got, expected, at })
    }

    /// Ends the session on a protocol error.
    fn broken(&mut self, error: ProtocolError) -> ProtocolError {
        self.state = State::Ended(Ending::Broken);
        self.inbox.clear();
        error
    }
}

/// A conductor message described for a person, for protocol errors.
fn describe(msg: &ConductorMsg) -> String {
    match msg {
        ConductorMsg::Hello(_) => "a hello".to_string(),
        ConductorMsg::Go(step) => format!("a Go for step {step}"),
        ConductorMsg::Refusal(reason) => format!("a refusal ({reason})"),
        ConductorMsg::ShuttingDown(n) => format!("'S' {n}"),
        other => ShowByte(other.type_byte()).to_string(),
    }
}
