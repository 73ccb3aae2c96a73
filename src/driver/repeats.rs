//! Repeats of one kind of log line, summarised: the first in a window of [`REPEAT_WINDOW`] is
//! written in full, the rest are only counted, and the count is written as one line when the
//! window ends. So a stranger who opens a thousand connections a second adds two lines a
//! second to the log, not a thousand. Works in the core's virtual time; performs no I/O.

use lockstep_proto::time::{Duration, Instant};

/// How long repeats are counted after a line written in full.
pub const REPEAT_WINDOW: Duration = Duration::from_millis(1_000);

/// One kind of line's window. See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repeats {
    /// The end of the running window, if one runs (or has run out and is not closed yet).
    until: Option<Instant>,
    /// Repeats counted in it.
    more: u64,
}

impl Repeats {
    /// One more occurrence at `now`; true when it is to be written in full, as the first of a
    /// window. Take [`due`](Self::due) first, or the count of a window that has run out would
    /// be lost.
    pub fn hit(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => {
                self.more += 1;
                false
            }
            _ => {
                self.until = Some(now + REPEAT_WINDOW);
                self.more = 0;
                true
            }
        }
    }

    /// When a count is due to be written: the end of a window that counted something.
    pub fn next_due(&self) -> Option<Instant> {
        self.until.filter(|_| self.more > 0)
    }

    /// Closes the window if it has run out by `now`; returns its count if it counted any.
    pub fn due(&mut self, now: Instant) -> Option<u64> {
        if self.until.is_none_or(|until| now < until) {
            return None;
        }
        self.finish()
    }

    /// Closes the window now (the conductor ends); returns its count if it counted any.
    pub fn finish(&mut self) -> Option<u64> {
        self.until = None;
        let more = std::mem::take(&mut self.more);
        (more > 0).then_some(more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    #[test]
    fn the_first_of_a_second_is_written_and_the_rest_counted() {
        let mut r = Repeats::default();
        assert_eq!(r.next_due(), None);
        assert!(r.hit(ms(100)));
        // A lone line: nothing to summarise, no wake-up.
        assert_eq!(r.next_due(), None);
        for t in 101..1_100 {
            assert!(r.due(ms(t)).is_none());
            assert!(!r.hit(ms(t)), "{t}");
        }
        assert_eq!(r.next_due(), Some(ms(1_100)));
        assert_eq!(r.due(ms(1_099)), None);
        assert_eq!(r.due(ms(1_100)), Some(999));
        assert_eq!(r.next_due(), None);
        // The next one opens a new window and is written in full again.
        assert!(r.hit(ms(1_100)));
        assert!(!r.hit(ms(1_500)));
        assert_eq!(r.finish(), Some(1));
        assert!(r.hit(ms(1_600)));
    }

    #[test]
    fn a_window_that_ran_out_quietly_closes_without_a_count() {
        let mut r = Repeats::default();
        assert!(r.hit(ms(0)));
        assert_eq!(r.due(ms(5_000)), None);
        assert_eq!(r, Repeats::default());
        assert!(r.hit(ms(5_000)));
    }
}
