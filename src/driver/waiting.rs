//! The line that says why a run does not go on: while no wave can go out because fewer than
//! `min_clients` participants are ready ([`Event::Waiting`]), the log says so at `info` when it
//! starts and again every [`WAITING_EVERY`] while it lasts, with the counts of the moment, not
//! once per join or leave. Works in the core's virtual time, so tests drive it without a
//! clock; performs no I/O.
//!
//! [`Event::Waiting`]: lockstep_proto::core::Event::Waiting

use std::fmt;

use lockstep_proto::time::{Duration, Instant};

use crate::status::{age, Shortfall};

/// How often the line is repeated while the wait lasts.
pub const WAITING_EVERY: Duration = Duration::from_millis(10_000);

/// The wait under way, if any. See the module docs.
#[derive(Clone, Debug, Default)]
pub struct Waiting {
    current: Option<Wait>,
}

#[derive(Clone, Copy, Debug)]
struct Wait {
    since: Instant,
    shortfall: Shortfall,
    next: Instant,
}

/// What a waiting line says: the shortfall, and how long it has lasted (`None` in the first
/// line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// Ready and needed.
    pub shortfall: Shortfall,
    /// Since the wait began.
    pub lasted: Option<Duration>,
}

impl Waiting {
    /// The counts at `now`: returns the first line when a wait begins; a change of the counts
    /// during a wait only updates them (the caller may note it at a lower level).
    pub fn update(&mut self, now: Instant, shortfall: Shortfall) -> Option<Line> {
        if let Some(wait) = &mut self.current {
            wait.shortfall = shortfall;
            return None;
        }
        self.current = Some(Wait {
            since: now,
            shortfall,
            next: now + WAITING_EVERY,
        });
        Some(Line {
            shortfall,
            lasted: None,
        })
    }

    /// The wait is over: a wave went out, or the conductor ends.
    pub fn stop(&mut self) {
        self.current = None;
    }

    /// When the next repetition is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.current.map(|w| w.next)
    }

    /// The repetition due at `now`, if one is; periods that passed unobserved are skipped, so
    /// a late call writes one line, not a burst.
    pub fn due(&mut self, now: Instant) -> Option<Line> {
        let wait = self.current.as_mut()?;
        if now < wait.next {
            return None;
        }
        while wait.next <= now {
            wait.next = wait.next + WAITING_EVERY;
        }
        Some(Line {
            shortfall: wait.shortfall,
            lasted: Some(now - wait.since),
        })
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lasted {
            None => write!(f, "{}", self.shortfall),
            Some(lasted) => write!(
                f,
                "still {} after {}",
                self.shortfall,
                age(lasted.as_millis())
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Instant {
        Instant::from_millis(n * 1000)
    }

    fn short(ready: u32, needed: u32) -> Shortfall {
        Shortfall { ready, needed }
    }

    #[test]
    fn said_when_it_starts_then_every_ten_seconds_with_the_counts_of_the_moment() {
        let mut w = Waiting::default();
        assert_eq!(w.next_due(), None);
        let first = w.update(s(3), short(1, 2)).expect("the first line");
        assert_eq!(
            first.to_string(),
            "waiting for 1 more participant (1 ready, 2 needed)"
        );
        assert_eq!(w.next_due(), Some(s(13)));
        assert_eq!(w.due(s(12)), None);
        // A join during the wait changes the counts, not the schedule.
        assert_eq!(w.update(s(5), short(2, 4)), None);
        let again = w.due(s(13)).expect("the repetition");
        assert_eq!(
            again.to_string(),
            "still waiting for 2 more participants (2 ready, 4 needed) after 10.0 s"
        );
        assert_eq!(w.next_due(), Some(s(23)));
        // Woken late: one line, and the schedule keeps its beat.
        let late = w.due(s(75)).expect("a late repetition");
        assert_eq!(late.lasted, Some(Duration::from_millis(72_000)));
        assert!(late.to_string().ends_with("after 1 min 12 s"), "{late}");
        assert_eq!(w.next_due(), Some(s(83)));
        w.stop();
        assert_eq!((w.next_due(), w.due(s(100))), (None, None));
        // A new wait starts afresh.
        assert!(w.update(s(200), short(0, 1)).is_some());
        assert_eq!(w.next_due(), Some(s(210)));
    }
}
