//! The transition table of SPEC §4 as one exhaustive match: every (state, event) pair maps to a
//! [`Rule`]. The core applies the rules; `fsm-diagrams/` is generated from this same function.

use super::StateKind;

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
    /// No hello within `hello_timeout_ms`.
    HelloTimeout,
    /// Nothing heard for `drop_after_ms`, or, after a stall of the conductor, no answer to a
    /// probe within the rest of that window (see `core::timers`).
    LivenessTimeout,
}

/// Every event, in table order.
pub const ALL_EVENTS: [Event; 13] = [
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
    Event::HelloTimeout,
    Event::LivenessTimeout,
];

/// Every state, in lifecycle order.
pub const ALL_STATES: [StateKind; 8] = [
    StateKind::AwaitingHello,
    StateKind::Idle,
    StateKind::GoSent,
    StateKind::Working,
    StateKind::Done,
    StateKind::Refused,
    StateKind::Closing,
    StateKind::Closed,
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
            Event::HelloTimeout => "hello timeout",
            Event::LivenessTimeout => "liveness timeout",
        }
    }
}

/// What the core does for an event in a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A hello: the client becomes Idle if its version, id, the capacity and its address pass;
    /// otherwise it is refused with the reason that failed.
    Admit,
    /// Move to this state.
    To(StateKind),
    /// `!` while GoSent: counts as `K` then Done.
    AckAndDone,
    /// Answer `?` with `.`; refresh liveness; stay.
    Answer,
    /// Only refresh liveness; stay.
    Refresh,
    /// Refuse: the message is not valid in this state (reason names both).
    Violation,
    /// Refuse with a timeout reason, then remove.
    TimedOut,
    /// Remove the client; nothing is sent back.
    Remove,
    /// An ending connection ignores everything while its queue is flushed.
    Ignore,
    /// The core never produces this event in this state.
    Never,
}

/// The transition table: one arm per row of SPEC §4.
pub fn rule(state: StateKind, event: Event) -> Rule {
    use Event as E;
    use StateKind as S;
    match (state, event) {
        // Any state: X, R from the client, or a closed connection, remove it; nothing is sent.
        // An ending connection ignores everything while its queue is flushed.
        (S::Refused | S::Closing | S::Closed, E::Eof) => Rule::Remove,
        (S::Refused | S::Closing | S::Closed, _) => Rule::Ignore,
        (_, E::Exit | E::Refusal | E::Eof) => Rule::Remove,

        // AwaitingHello: a valid A joins; anything else but X or R, or the timeout, refuses.
        (S::AwaitingHello, E::Hello) => Rule::Admit,
        (S::AwaitingHello, E::HelloTimeout) => Rule::TimedOut,
        (S::AwaitingHello, E::Go | E::LivenessTimeout) => Rule::Never,
        (S::AwaitingHello, _) => Rule::Violation,

        // After the hello: a Go wave reaches only clients ready for it.
        (S::Idle | S::Done, E::Go) => Rule::To(S::GoSent),
        (S::GoSent | S::Working, E::Go) => Rule::Never,

        // The round itself.
        (S::GoSent, E::Received) => Rule::To(S::Working),
        (S::GoSent, E::Done) => Rule::AckAndDone,
        (S::Working, E::Done) => Rule::To(S::Done),

        // Liveness traffic, in any state after the hello.
        (_, E::Ping) => Rule::Answer,
        (_, E::Here | E::Working) => Rule::Refresh,
        (_, E::LivenessTimeout) => Rule::TimedOut,
        (_, E::HelloTimeout) => Rule::Never,

        // K, ! or A where not listed above, and bytes that are no message: a violation.
        (_, E::Received | E::Done | E::Hello | E::Garbage) => Rule::Violation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_rows() {
        use Event as E;
        use StateKind as S;
        assert_eq!(rule(S::AwaitingHello, E::Hello), Rule::Admit);
        assert_eq!(rule(S::AwaitingHello, E::HelloTimeout), Rule::TimedOut);
        for e in [
            E::Received,
            E::Done,
            E::Working,
            E::Here,
            E::Ping,
            E::Garbage,
        ] {
            assert_eq!(rule(S::AwaitingHello, e), Rule::Violation, "{e:?}");
        }
        assert_eq!(rule(S::Idle, E::Go), Rule::To(S::GoSent));
        assert_eq!(rule(S::Done, E::Go), Rule::To(S::GoSent));
        assert_eq!(rule(S::GoSent, E::Received), Rule::To(S::Working));
        assert_eq!(rule(S::GoSent, E::Done), Rule::AckAndDone);
        assert_eq!(rule(S::Working, E::Done), Rule::To(S::Done));
        for s in [S::Idle, S::GoSent, S::Working, S::Done] {
            assert_eq!(rule(s, E::Ping), Rule::Answer);
            assert_eq!(rule(s, E::Here), Rule::Refresh);
            assert_eq!(rule(s, E::Working), Rule::Refresh);
            assert_eq!(rule(s, E::Hello), Rule::Violation);
            assert_eq!(rule(s, E::Garbage), Rule::Violation);
            assert_eq!(rule(s, E::LivenessTimeout), Rule::TimedOut);
        }
        for s in [S::Idle, S::Working, S::Done] {
            assert_eq!(rule(s, E::Received), Rule::Violation, "K in {s}");
        }
        for s in [S::Idle, S::Done] {
            assert_eq!(rule(s, E::Done), Rule::Violation, "! in {s}");
        }
        for s in ALL_STATES {
            assert_eq!(rule(s, E::Eof), Rule::Remove);
            if !s.is_ending() {
                assert_eq!(rule(s, E::Exit), Rule::Remove);
                assert_eq!(rule(s, E::Refusal), Rule::Remove);
            }
        }
        assert_eq!(rule(S::Refused, E::Done), Rule::Ignore);
    }

    #[test]
    fn only_ready_states_take_a_go() {
        for s in ALL_STATES {
            let moves = rule(s, Event::Go) == Rule::To(StateKind::GoSent);
            assert_eq!(moves, s.is_ready(), "{s}");
        }
    }
}
