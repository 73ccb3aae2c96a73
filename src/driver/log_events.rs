//! The core's events as log lines: which events are written at which level, in which words,
//! and which are summarised instead of written one by one. At `info` a person sees joins,
//! leaves, refusals, drops, the `T` warning, the start of a countdown, the ending, a progress
//! line (`progress.rs`) at most every five seconds instead of a line per wave and per round
//! end (those are at `debug`), and, while fewer than `min_clients` are ready, why no wave goes
//! out (`waiting.rs`): when that starts and every ten seconds while it lasts. Refusals of one kind within a second of connections
//! that never joined, and connections closed before their hello, are
//! summarised (`repeats.rs`): a stranger can open any number of those, and nothing else
//! limits their lines. A member's refusal is always written in full, with its id: there are
//! never more of those than lines for joins. The per-message events are at `trace`.
//!
//! Lines go to a [`Sink`]: the `log` facade in the binary, a vector in tests.

use std::fmt;

use log::Level;

use lockstep_proto::core::{Event, Leave, RefusalKind, Who};
use lockstep_proto::relay::RelayEvent;
use lockstep_proto::round::{EndKind, HoldCause};
use lockstep_proto::time::Instant;
use lockstep_proto::wire::Id;

use super::progress::{Progress, Thousands, PROGRESS_EVERY};
use super::repeats::Repeats;
use super::waiting::Waiting;
use crate::status::Shortfall;

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
#[derive(Clone, Debug)]
pub struct EventLog {
    progress: Progress,
    /// One window per kind of refusal, indexed by `RefusalKind as usize`.
    refused: [Repeats; RefusalKind::ALL.len()],
    closed_early: Repeats,
    /// The countdown's first `S` has been logged.
    counting_down: bool,
    waiting: Waiting,
}

impl Default for EventLog {
    fn default() -> Self {
        EventLog::new()
    }
}

impl EventLog {
    /// Progress lines every 5 seconds.
    pub fn new() -> Self {
        EventLog {
            progress: Progress::new(PROGRESS_EVERY),
            refused: Default::default(),
            closed_early: Repeats::default(),
            counting_down: false,
            waiting: Waiting::default(),
        }
    }

    /// Writes (or counts) one event that happened at `now`, after whatever lines were due.
    pub fn record(&mut self, now: Instant, event: &Event, out: &mut impl Sink) {
        self.tick(now, out);
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
                if self.closed_early.hit(now) {
                    let who = Named(who);
                    out.line(
                        Level::Debug,
                        format_args!("connection {who} closed before its hello"),
                    );
                }
            }
            Event::Refused { who, kind, reason } => {
                if who.id.is_some() || self.refused[*kind as usize].hit(now) {
                    let who = Named(who);
                    out.line(Level::Info, format_args!("refused: {who}: {reason}"));
                }
            }
            Event::DroppedNotReading { who, queued } => {
                let who = Named(who);
                out.line(
                    Level::Info,
                    format_args!("dropped: {who}: not reading ({queued} bytes queued)"),
                );
            }
            Event::Countdown { n } => {
                let level = if self.counting_down {
                    Level::Debug
                } else {
                    Level::Info
                };
                self.counting_down = true;
                // In the words `conductor join` and the clients use for `S n`.
                let steps = if *n == 1 { "step" } else { "steps" };
                out.line(level, format_args!("shutting down after {n} more {steps}"));
            }
            Event::Waiting { ready, needed } => {
                let shortfall = Shortfall {
                    ready: *ready,
                    needed: *needed,
                };
                match self.waiting.update(now, shortfall) {
                    Some(line) => out.line(Level::Info, format_args!("{line}")),
                    None => out.line(Level::Debug, format_args!("{shortfall}")),
                }
            }
            Event::Wave { step, participants } => {
                self.waiting.stop();
                self.progress.wave(now);
                out.line(
                    Level::Debug,
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
                    Level::Debug,
                    format_args!("round end: step {step} in {duration} (slowest: {name})"),
                );
                if let Some(report) = self.progress.round_end(now, *duration, *slowest) {
                    out.line(Level::Info, format_args!("{report}"));
                }
            }
            Event::SlowRound { step, waiting_on } => {
                let ids = Ids(waiting_on);
                out.line(
                    Level::Warn,
                    format_args!("round {step} is taking longer than expected; waiting on: {ids}"),
                );
            }
            Event::LateWave { step, late_by } => {
                out.line(
                    Level::Debug,
                    format_args!("late wave: step {step} left {late_by} after its slot"),
                );
            }
            Event::Held { step, cause } => {
                let why = match cause {
                    HoldCause::HoldAt => "the hold set at it was reached",
                    HoldCause::Stepped => "the stepped waves have gone out",
                };
                out.line(
                    Level::Info,
                    format_args!("paused before step {step}: {why}"),
                );
            }
            Event::StillPaused { paused_for } => {
                let secs = paused_for.as_millis_f64() / 1e3;
                out.line(
                    Level::Info,
                    format_args!("still paused after {secs:.1} s: T sent to every participant"),
                );
            }
            Event::GracefulStopRequested => {
                out.line(Level::Info, format_args!("graceful stop requested"));
            }
            Event::Ending(kind) => {
                self.waiting.stop();
                self.finish(now, out);
                match kind {
                    EndKind::Fatal(error) => out.line(
                        Level::Error,
                        format_args!("ending on a fatal error: {error}"),
                    ),
                    EndKind::ParticipantFailed { .. } => out.line(
                        Level::Error,
                        format_args!("ending (end_on_failure): {kind}"),
                    ),
                    other => out.line(Level::Info, format_args!("ending: {other}")),
                }
            }
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

    /// When the next summary, progress or waiting line is due, for the driver's wake-up.
    pub fn next_due(&self) -> Option<Instant> {
        let repeats = self.refused.iter().chain([&self.closed_early]);
        repeats
            .filter_map(Repeats::next_due)
            .chain(self.progress.next_due())
            .chain(self.waiting.next_due())
            .min()
    }

    /// Writes the summaries, the progress line and the waiting line due by `now`.
    pub fn tick(&mut self, now: Instant, out: &mut impl Sink) {
        for kind in RefusalKind::ALL {
            if let Some(more) = self.refused[kind as usize].due(now) {
                refused_more(out, kind, more);
            }
        }
        if let Some(more) = self.closed_early.due(now) {
            closed_early_more(out, more);
        }
        if let Some(report) = self.progress.due(now) {
            out.line(Level::Info, format_args!("{report}"));
        }
        if let Some(line) = self.waiting.due(now) {
            out.line(Level::Info, format_args!("{line}"));
        }
    }

    /// The conductor ends: every count and the last progress line are written now.
    fn finish(&mut self, now: Instant, out: &mut impl Sink) {
        for kind in RefusalKind::ALL {
            if let Some(more) = self.refused[kind as usize].finish() {
                refused_more(out, kind, more);
            }
        }
        if let Some(more) = self.closed_early.finish() {
            closed_early_more(out, more);
        }
        if let Some(report) = self.progress.finish(now) {
            out.line(Level::Info, format_args!("{report}"));
        }
    }
}

fn refused_more(out: &mut impl Sink, kind: RefusalKind, more: u64) {
    let (more, label) = (Thousands(more), kind.label());
    out.line(
        Level::Info,
        format_args!("… and {more} more refused `{label}` in the last second"),
    );
}

fn closed_early_more(out: &mut impl Sink, more: u64) {
    let more = Thousands(more);
    out.line(
        Level::Debug,
        format_args!("… and {more} more closed before their hello in the last second"),
    );
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

/// Writes a relay's upstream event (`conductor relay`): joining, outages, the end.
pub fn relay_event(event: &RelayEvent) {
    match event {
        RelayEvent::Quorum { ready } => {
            log::info!("{ready} participant(s) ready: connecting upstream")
        }
        RelayEvent::Joined { conductor, retries } if *retries > 0 => log::info!(
            "joined upstream conductor {conductor} again after {retries} failed attempt(s)"
        ),
        RelayEvent::Joined { conductor, .. } => {
            log::info!("joined upstream conductor {conductor}")
        }
        RelayEvent::Lost {
            before_hello: true,
            retry_in,
            ..
        } => log::debug!("upstream not reachable; trying again in {retry_in}"),
        RelayEvent::Lost { at, retry_in, .. } => log::warn!(
            "upstream connection lost {at}; reconnecting (next try in {retry_in}), participants stay connected"
        ),
        RelayEvent::Repeated { step } => log::info!(
            "upstream sent step {step} again: its round had ended here, answered Done without a second wave"
        ),
        RelayEvent::Resumed { step } => log::info!(
            "upstream sent step {step} again: its round still runs here, Done goes up at its end"
        ),
        RelayEvent::DuplicateId { retry_in } => log::warn!(
            "upstream refused our id as a duplicate (it still holds the old connection); trying again in {retry_in}"
        ),
        RelayEvent::Ended { why } => log::info!("upstream: {why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_proto::core::ConnId;
    use lockstep_proto::time::Duration;
    use lockstep_proto::wire::Reason;

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

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
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

    fn refused(port: u16, kind: RefusalKind, reason: &str) -> Event {
        Event::Refused {
            who: stranger(port),
            kind,
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
            Event::Ending(EndKind::ParticipantFailed {
                id: id("alice"),
                reason: "step 4: boom".into(),
            }),
            Event::StateChanged {
                conn: who.conn,
                old: lockstep_proto::conn::StateKind::GoSent,
                new: lockstep_proto::conn::StateKind::Working,
            },
        ];
        for event in &events {
            log.record(ms(0), event, &mut out);
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
            (
                Level::Error,
                "ending (end_on_failure): participant alice failed: step 4: boom",
            ),
            (Level::Trace, "#5000 GoSent -> Working"),
        ];
        let got = out.take();
        let got: Vec<(Level, &str)> = got.iter().map(|(l, s)| (*l, s.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn waves_and_round_ends_are_debug_and_info_gets_a_progress_line() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        for step in 0..10_000u32 {
            let at = ms(u64::from(step));
            log.record(
                at,
                &Event::Wave {
                    step,
                    participants: 2,
                },
                &mut out,
            );
            let end = Event::RoundEnd {
                step,
                duration: Duration::from_micros(400),
                slowest: Some((id("bob"), Duration::from_micros(390))),
            };
            log.record(at + Duration::from_micros(400), &end, &mut out);
        }
        log.record(ms(10_000), &Event::Ending(EndKind::Planned), &mut out);
        let lines = out.take();
        let info: Vec<&str> = lines
            .iter()
            .filter(|(l, _)| *l <= Level::Info)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(info.len(), 3, "{info:?}");
        assert!(
            info[0].starts_with("progress: 5,000 rounds, 5,000 in the last 5.0 s (1,000 rounds/s)"),
            "{}",
            info[0]
        );
        assert!(info[1].starts_with("progress: 10,000 rounds, 5,000 in the last 5.0 s"));
        assert!(
            info[1].ends_with("slowest: bob (0.390 ms after its Go)"),
            "{}",
            info[1]
        );
        assert_eq!(info[2], "ending: planned end: every round has run");
        assert_eq!(
            lines[0],
            (Level::Debug, "wave: step 0 to 2 client(s)".into())
        );
        assert_eq!(
            lines[1],
            (
                Level::Debug,
                "round end: step 0 in 0.400 ms (slowest: bob)".into()
            )
        );
    }

    #[test]
    fn refusals_of_one_kind_are_summarised_each_second() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        let full = |port| refused(port, RefusalKind::Full, "full");
        // 1,500 refusals `full` within 0.75 s, and one of another kind among them.
        for i in 0..1_500u16 {
            log.record(ms(u64::from(i) / 2), &full(i), &mut out);
        }
        let not_allowed = refused(
            9,
            RefusalKind::NotAllowed,
            "address 127.0.0.1 is not allowed",
        );
        log.record(ms(600), &not_allowed, &mut out);
        assert_eq!(
            out.take(),
            [
                (Level::Info, "refused: 127.0.0.1:0: full".to_string()),
                (
                    Level::Info,
                    "refused: 127.0.0.1:9: address 127.0.0.1 is not allowed".to_string()
                ),
            ]
        );
        // The driver wakes when the second is over, and the count comes out.
        assert_eq!(log.next_due(), Some(ms(1_000)));
        log.tick(ms(999), &mut out);
        assert!(out.0.is_empty());
        log.tick(ms(1_000), &mut out);
        assert_eq!(
            out.take(),
            [(
                Level::Info,
                "… and 1,499 more refused `full` in the last second".to_string()
            )]
        );
        // The lone `not allowed` needs no summary; the next refusal is written in full.
        assert_eq!(log.next_due(), None);
        log.record(ms(1_700), &full(7), &mut out);
        assert_eq!(
            out.take(),
            [(Level::Info, "refused: 127.0.0.1:7: full".to_string())]
        );
    }

    #[test]
    fn members_refusals_are_always_written_in_full() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        for (port, name) in [(1, "a"), (2, "b"), (3, "c")] {
            let member = Who {
                id: Some(id(name)),
                ..stranger(port)
            };
            let event = Event::Refused {
                who: member,
                kind: RefusalKind::LivenessTimeout,
                reason: Reason::new("liveness timeout").unwrap(),
            };
            log.record(ms(port.into()), &event, &mut out);
        }
        let lines: Vec<String> = out.take().into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            lines,
            [
                "refused: a (127.0.0.1:1): liveness timeout",
                "refused: b (127.0.0.1:2): liveness timeout",
                "refused: c (127.0.0.1:3): liveness timeout",
            ]
        );
        assert_eq!(log.next_due(), None);
    }

    #[test]
    fn a_count_due_is_written_before_the_next_line_and_at_the_end() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        for t in [0, 10, 20] {
            log.record(
                ms(t),
                &Event::ClosedBeforeHello { who: stranger(1) },
                &mut out,
            );
        }
        // No tick came: the next event writes the count first.
        log.record(
            ms(1_500),
            &Event::ClosedBeforeHello { who: stranger(2) },
            &mut out,
        );
        log.record(
            ms(1_600),
            &Event::ClosedBeforeHello { who: stranger(3) },
            &mut out,
        );
        log.record(ms(1_700), &Event::Ending(EndKind::Interrupt), &mut out);
        let lines: Vec<String> = out.take().into_iter().map(|(_, s)| s).collect();
        assert_eq!(
            lines,
            [
                "connection 127.0.0.1:1 closed before its hello",
                "… and 2 more closed before their hello in the last second",
                "connection 127.0.0.1:2 closed before its hello",
                "… and 1 more closed before their hello in the last second",
                "ending: interrupted by the operator",
            ]
        );
    }

    #[test]
    fn a_run_short_of_participants_says_so_when_it_starts_and_every_ten_seconds() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        let waiting = |ready| Event::Waiting { ready, needed: 2 };
        log.record(ms(1_000), &waiting(0), &mut out);
        log.record(ms(2_000), &waiting(1), &mut out);
        log.record(ms(3_000), &waiting(0), &mut out);
        assert_eq!(log.next_due(), Some(ms(11_000)));
        log.tick(ms(11_000), &mut out);
        log.tick(ms(12_000), &mut out);
        log.record(ms(15_000), &waiting(1), &mut out);
        log.tick(ms(21_000), &mut out);
        let wave = Event::Wave {
            step: 0,
            participants: 2,
        };
        log.record(ms(22_000), &wave, &mut out);
        assert_eq!(log.next_due(), None, "the wait is over");
        let lines = out.take();
        let got: Vec<(Level, &str)> = lines.iter().map(|(l, s)| (*l, s.as_str())).collect();
        assert_eq!(
            got,
            [
                (
                    Level::Info,
                    "waiting for 2 more participants (0 ready, 2 needed)"
                ),
                (
                    Level::Debug,
                    "waiting for 1 more participant (1 ready, 2 needed)"
                ),
                (
                    Level::Debug,
                    "waiting for 2 more participants (0 ready, 2 needed)"
                ),
                (
                    Level::Info,
                    "still waiting for 2 more participants (0 ready, 2 needed) after 10.0 s"
                ),
                (
                    Level::Debug,
                    "waiting for 1 more participant (1 ready, 2 needed)"
                ),
                (
                    Level::Info,
                    "still waiting for 1 more participant (1 ready, 2 needed) after 20.0 s"
                ),
                (Level::Debug, "wave: step 0 to 2 client(s)"),
            ]
        );
        // The next wait begins with an info line of its own; the ending closes it.
        log.record(ms(30_000), &waiting(1), &mut out);
        log.record(ms(31_000), &Event::Ending(EndKind::Interrupt), &mut out);
        assert_eq!(log.next_due(), None);
        let levels: Vec<Level> = out.take().into_iter().map(|(l, _)| l).collect();
        assert_eq!(levels, [Level::Info, Level::Info]);
    }

    #[test]
    fn only_the_countdowns_first_step_is_info() {
        let mut log = EventLog::new();
        let mut out = Lines::default();
        for n in [3, 2, 1] {
            log.record(ms(0), &Event::Countdown { n }, &mut out);
        }
        let levels: Vec<Level> = out.take().into_iter().map(|(l, _)| l).collect();
        assert_eq!(levels, [Level::Info, Level::Debug, Level::Debug]);
    }
}
