//! What can happen to a connection, named without the data: the vocabulary of the diagrams,
//! the model check and the tests, one name for each kind of [`Input`](super::Input) (a hello,
//! each message, garbage, the end of the stream, each of the conductor's sends, each timer, the
//! flushed queue).

/// What can happen to a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    /// `A` received.
    Hello,
    /// `K` received.
    Received,
    /// `!` received.
    Done,
    /// `W` received.
    Working,
    /// `.` received.
    Here,
    /// `?` received.
    Ping,
    /// `X` received.
    Exit,
    /// `R` received.
    Refusal,
    /// Bytes that are no valid client message.
    Garbage,
    /// The connection was closed or reset by the peer.
    Eof,
    /// The conductor sends this client a Go.
    Go,
    /// The conductor broadcasts `S n` before a wave.
    Countdown,
    /// The conductor broadcasts `T`.
    Slow,
    /// The conductor ends: `C` (or `E`) and `X` to every connection.
    End,
    /// The conductor restarts: every connection closes at once, nothing sent.
    Abandon,
    /// No hello within `hello_timeout_ms`.
    HelloTimeout,
    /// A member silent for `probe_after_ms` is asked with `?`.
    Probe,
    /// A member asked and still silent at the end of the drop window (see
    /// [`Conn::deadline`](super::Conn::deadline)).
    LivenessTimeout,
    /// A refused or closing connection did not take its last bytes within `linger`.
    Linger,
    /// The socket took everything queued.
    Flushed,
}

/// Every event, in table order.
pub const ALL_EVENTS: [Event; 20] = [
    Event::Hello,
    Event::Received,
    Event::Done,
    Event::Working,
    Event::Here,
    Event::Ping,
    Event::Exit,
    Event::Refusal,
    Event::Garbage,
    Event::Eof,
    Event::Go,
    Event::Countdown,
    Event::Slow,
    Event::End,
    Event::Abandon,
    Event::HelloTimeout,
    Event::Probe,
    Event::LivenessTimeout,
    Event::Linger,
    Event::Flushed,
];

impl Event {
    /// A short label: the message byte, or the event's name.
    pub fn label(self) -> &'static str {
        match self {
            Event::Hello => "A",
            Event::Received => "K",
            Event::Done => "!",
            Event::Working => "W",
            Event::Here => ".",
            Event::Ping => "?",
            Event::Exit => "X",
            Event::Refusal => "R",
            Event::Garbage => "garbage",
            Event::Eof => "EOF",
            Event::Go => "Go wave",
            Event::Countdown => "S n",
            Event::Slow => "T",
            Event::End => "conductor ends (C or E, X)",
            Event::Abandon => "conductor restarts (nothing sent)",
            Event::HelloTimeout => "hello timeout",
            Event::Probe => "probe ?",
            Event::LivenessTimeout => "liveness timeout",
            Event::Linger => "linger passed",
            Event::Flushed => "flushed",
        }
    }

    /// Sent by the client (a message, garbage or the end of its stream).
    pub fn is_from_client(self) -> bool {
        matches!(
            self,
            Event::Hello
                | Event::Received
                | Event::Done
                | Event::Working
                | Event::Here
                | Event::Ping
                | Event::Exit
                | Event::Refusal
                | Event::Garbage
                | Event::Eof
        )
    }
}
