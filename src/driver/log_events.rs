//! The core's events as log lines: which events are written at which level and in which
//! words. At `info`: joins, leaves, refusals, drops, the `S` countdown, waves, round ends and
//! the ending; at `warn` the `T` warning naming who a round waits on; at `debug` connections
//! and those that close before their hello; at `trace` the per-message events.
//!
//! Lines go to a [`Sink`]: the `log` facade in the binary, a vector in tests.

use std::fmt;

use log::Level;

use crate::core::{Event, Leave, Who};
use crate::round::EndKind;
use crate::time::Instant;
use crate::wire::Id;

/// Where log lines go.
pub trait Sink {
    /// Writes one line at `level` (or drops it, if that level is off).
    fn line(&mut self, level: Level, args: fmt::Arguments<'_>);
}

/// The `log` facade: the lines go to whatever logger is installed, filtered by its level
/// before they are formatted.
#[derive(Clone, Copy, Debug, Default)]
pub struct Logger;

impl Sink for Logger {
    fn line(&mut self, level: Level, args: fmt::Arguments<'_>) {
        log::log!(level, "{args}");
    }
}

/// Turns events into lines. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct EventLog;

impl EventLog {
    /// An event log.
    pub fn new() -> Self {
        EventLog
    }

    /// Writes one event that happened at `now`.
    pub fn record(&mut self, _now: Instant, event: &Event, out: &mut impl Sink) {
        match event {
            Event::Connected { conn, peer } => {
                out.line(Level::Debug, format_args!("connection {conn} from {peer}"));
            }
            Event::Joined { id, peer, .. } => {
                out.line(Level::Info, format_args!("joined: {id} from {peer}"));
            }
            Event::Left { who, how } => {
                let who = Named(who);
                match how {
                    Leave::Exit => out.line(Level::Info, format_args!("left: {who}")),
                    Leave::Refusal(reason) => {
                        out.line(Level::Info, format_args!("left: {who} refused: {reason}"));
                    }
                    Leave::Closed => {
                        out.line(Level::Info, format_args!("left: {who} (connection closed)"));
                    }
                }
            }
            Event::ClosedBeforeHello { who } => {
                let who = Named(who);
                out.line(
                    Level::Debug,
                    format_args!("connection {who} closed before its hello"),
                );
            }
            Event::Refused { who, reason, .. } => {
                let who = Named(who);
                out.line(Level::Info, format_args!("refused: {who}: {reason}"));
            }
            Event::DroppedNotReading { who, queued } => {
                let who = Named(who);
                out.line(
                    Level::Info,
                    format_args!("dropped: {who}: not reading ({queued} bytes queued)"),
                );
            }
            Event::Countdown { n } => {
                out.line(Level::Info, format_args!("shutting down in {n} step(s)"));
            }
            Event::Wave { step, participants } => {
                out.line(
                    Level::Info,
                    format_args!("wave: step {step} to {participants} client(s)"),
                );
            }
            Event::RoundEnd {
                step,
                duration,
                slowest,
            } => {
                let name = slowest.as_ref().map_or("-", |(id, _)| id.as_str());
                out.line(
                    Level::Info,
                    format_args!("round end: step {step} in {duration} (slowest: {name})"),
                );
            }
            Event::SlowRound { step, waiting_on } => {
                let ids = Ids(waiting_on);
                out.line(
                    Level::Warn,
                    format_args!("round {step} is taking longer than expected; waiting on: {ids}"),
                );
            }
            Event::GracefulStopRequested => {
                out.line(Level::Info, format_args!("graceful stop requested"));
            }
            Event::Ending(kind) => match kind {
                EndKind::Fatal(error) => out.line(
                    Level::Error,
                    format_args!("ending on a fatal error: {error}"),
                ),
                other => out.line(Level::Info, format_args!("ending: {other}")),
            },
            Event::GaveUpFlushing { who, after } => {
                let who = Named(who);
                out.line(
                    Level::Debug,
                    format_args!("{who}: gave up flushing after {after}"),
                );
            }
            Event::MessageReceived { conn, msg } => {
                out.line(Level::Trace, format_args!("{conn} sent {msg:?}"));
            }
            Event::StateChanged { conn, old, new } => {
                out.line(Level::Trace, format_args!("{conn} {old} -> {new}"));
            }
        }
    }
}

/// A connection in a line: `id (address)` once its hello was accepted, else its address.
struct Named<'a>(&'a Who);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.id {
            Some(id) => write!(f, "{id} ({})", self.0.peer),
            None => write!(f, "{}", self.0.peer),
        }
    }
}

/// Ids separated by commas.
struct Ids<'a>(&'a [Id]);

impl fmt::Display for Ids<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ConnId;
    use crate::time::Duration;
    use crate::wire::Reason;

    /// The lines written, at their levels.
    #[derive(Default)]
    struct Lines(Vec<(Level, String)>);

    impl Sink for Lines {
        fn line(&mut self, level: Level, args: fmt::Arguments<'_>) {
            self.0.push((level, args.to_string()));
        }
    }

    impl Lines {
        fn take(&mut self) -> Vec<(Level, String)> {
            std::mem::take(&mut self.0)
        }
    }

    fn id(name: &str) -> Id {
        Id::new(name).unwrap()
    }

    fn stranger(port: u16) -> Who {
        Who {
            conn: ConnId::from_index(port as usize),
            peer: format!("127.0.0.1:{port}").parse().unwrap(),
            id: None,
        }
    }

    fn refused(port: u16, reason: &str) -> Event {
        Event::Refused {
            who: stranger(port),
            kind: crate::core::RefusalKind::Full,
            reason: Reason::new(reason).unwrap(),
        }
    }

    #[test]
    fn lines_keep_their_words() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        let who = Who {
            id: Some(id("alice")),
            ..stranger(5000)
        };
        let events = [
            Event::Joined {
                conn: who.conn,
                id: id("alice"),
                peer: who.peer,
            },
            Event::Left {
                who,
                how: Leave::Refusal(Reason::new("step 4: boom").unwrap()),
            },
            Event::Left {
                who,
                how: Leave::Closed,
            },
            Event::DroppedNotReading {
                who,
                queued: 70_000,
            },
            Event::SlowRound {
                step: 7,
                waiting_on: vec![id("bob"), id("carol")],
            },
            Event::Ending(EndKind::Fatal("the listening socket failed".into())),
            Event::StateChanged {
                conn: who.conn,
                old: crate::conn::StateKind::GoSent,
                new: crate::conn::StateKind::Working,
            },
        ];
        for event in &events {
            log.record(Instant::ZERO, event, &mut out);
        }
        let want = [
            (Level::Info, "joined: alice from 127.0.0.1:5000"),
            (
                Level::Info,
                "left: alice (127.0.0.1:5000) refused: step 4: boom",
            ),
            (
                Level::Info,
                "left: alice (127.0.0.1:5000) (connection closed)",
            ),
            (
                Level::Info,
                "dropped: alice (127.0.0.1:5000): not reading (70000 bytes queued)",
            ),
            (
                Level::Warn,
                "round 7 is taking longer than expected; waiting on: bob, carol",
            ),
            (
                Level::Error,
                "ending on a fatal error: the listening socket failed",
            ),
            (Level::Trace, "#5000 GoSent -> Working"),
        ];
        let got = out.take();
        let got: Vec<(Level, &str)> = got.iter().map(|(l, s)| (*l, s.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rounds_and_refusals_have_a_line_each() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        let events = [
            Event::Wave {
                step: 0,
                participants: 2,
            },
            Event::RoundEnd {
                step: 0,
                duration: Duration::from_micros(400),
                slowest: Some((id("bob"), Duration::from_micros(390))),
            },
            Event::RoundEnd {
                step: 1,
                duration: Duration::from_micros(400),
                slowest: None,
            },
            refused(7, "full"),
            refused(8, "full"),
            Event::Countdown { n: 3 },
            Event::Ending(EndKind::Planned),
        ];
        for event in &events {
            log.record(Instant::ZERO, event, &mut out);
        }
        let lines: Vec<String> = out.take().into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            lines,
            [
                "wave: step 0 to 2 client(s)",
                "round end: step 0 in 0.400 ms (slowest: bob)",
                "round end: step 1 in 0.400 ms (slowest: -)",
                "refused: 127.0.0.1:7: full",
                "refused: 127.0.0.1:8: full",
                "shutting down in 3 step(s)",
                "ending: planned end: every round has run",
            ]
        );
    }
}
