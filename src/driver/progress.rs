//! The progress line that stands in for a line per round at `info`: at most one every
//! [`PROGRESS_EVERY`] while rounds run, and a last one when the conductor ends. Each gives the
//! rounds done in all and since the last line, the rate, the round times' p50, p99 and maximum
//! over that stretch, and its slowest participant. Works in the core's virtual time, so tests
//! drive it without a clock; performs no I/O.

use std::fmt;

use lockstep_proto::time::{Duration, Instant};
use lockstep_proto::wire::Id;

/// The shortest time between two progress lines.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(5_000);

/// Counts the rounds and says when a progress line is due. See the module docs.
#[derive(Clone, Debug)]
pub struct Progress {
    every: Duration,
    total: u64,
    /// A wave went out and its round has not ended yet.
    running: bool,
    /// The stretch since the last line; `None` while no round runs or has run since then.
    stretch: Option<Stretch>,
}

/// Rounds since the last line.
#[derive(Clone, Debug)]
struct Stretch {
    since: Instant,
    rounds: u64,
    times: Histogram,
    max: Duration,
    slowest: Option<(Id, Duration)>,
}

/// What a progress line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Rounds done since the start.
    pub total: u64,
    /// Rounds done since the last line.
    pub rounds: u64,
    /// The time since the last line (or since the first wave after a pause).
    pub elapsed: Duration,
    /// The median round time, to within 2%.
    pub p50: Duration,
    /// The 99th percentile of round times, to within 2%.
    pub p99: Duration,
    /// The longest round.
    pub max: Duration,
    /// The participant whose Done came latest after its Go, and how late.
    pub slowest: Option<(Id, Duration)>,
}

impl Progress {
    /// A line at most every `every`.
    pub fn new(every: Duration) -> Self {
        Progress {
            every,
            total: 0,
            running: false,
            stretch: None,
        }
    }

    /// A wave went out at `now`.
    pub fn wave(&mut self, now: Instant) {
        self.running = true;
        self.stretch.get_or_insert_with(|| Stretch::new(now));
    }

    /// A round ended at `now`; returns the line if one is due.
    pub fn round_end(
        &mut self,
        now: Instant,
        duration: Duration,
        slowest: Option<(Id, Duration)>,
    ) -> Option<Report> {
        self.running = false;
        self.total += 1;
        let stretch = self.stretch.get_or_insert_with(|| Stretch::new(now));
        stretch.rounds += 1;
        stretch.times.add(duration);
        stretch.max = stretch.max.max(duration);
        if let Some((id, late)) = slowest {
            if stretch.slowest.is_none_or(|(_, worst)| late > worst) {
                stretch.slowest = Some((id, late));
            }
        }
        self.due(now)
    }

    /// When the next line is due: only while some round has ended since the last one.
    pub fn next_due(&self) -> Option<Instant> {
        let stretch = self.stretch.as_ref()?;
        (stretch.rounds > 0).then(|| stretch.since + self.every)
    }

    /// The line, if one is due at `now`. A round still running starts the next stretch.
    pub fn due(&mut self, now: Instant) -> Option<Report> {
        if self.next_due().is_none_or(|due| now < due) {
            return None;
        }
        self.report(now)
    }

    /// The last line, when the conductor ends: whatever ran since the previous one.
    pub fn finish(&mut self, now: Instant) -> Option<Report> {
        self.running = false;
        self.report(now)
    }

    fn report(&mut self, now: Instant) -> Option<Report> {
        let stretch = self.stretch.take()?;
        if self.running {
            self.stretch = Some(Stretch::new(now));
        }
        if stretch.rounds == 0 {
            return None;
        }
        Some(Report {
            total: self.total,
            rounds: stretch.rounds,
            elapsed: now - stretch.since,
            p50: stretch.times.quantile(0.50).min(stretch.max),
            p99: stretch.times.quantile(0.99).min(stretch.max),
            max: stretch.max,
            slowest: stretch.slowest,
        })
    }
}

impl Stretch {
    fn new(since: Instant) -> Self {
        Stretch {
            since,
            rounds: 0,
            times: Histogram::default(),
            max: Duration::ZERO,
            slowest: None,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.elapsed.as_micros() as f64 / 1e6;
        write!(
            f,
            "progress: {} rounds, {} in the last {seconds:.1} s ({} rounds/s); \
             round time p50 {}, p99 {}, max {}; slowest: ",
            Thousands(self.total),
            Thousands(self.rounds),
            Rate(self.rounds as f64 / seconds),
            self.p50,
            self.p99,
            self.max
        )?;
        match &self.slowest {
            Some((id, late)) => write!(f, "{id} ({late} after its Go)"),
            None => f.write_str("-"),
        }
    }
}

/// Rounds per second: whole and with commas from 1,000 on, with a tenth below.
struct Rate(f64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            r if !r.is_finite() => f.write_str("-"),
            r if r >= 1_000.0 => write!(f, "{}", Thousands(r.round() as u64)),
            r => write!(f, "{r:.1}"),
        }
    }
}

/// A count with a comma between thousands: `1,234,567`.
pub struct Thousands(pub u64);

impl fmt::Display for Thousands {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.0.to_string();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        Ok(())
    }
}

/// Sub-buckets per power of two: a bucket is at most 1/32 of its values wide.
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Exact buckets below `2 * SUB` µs, then `SUB` per power of two up to 2^64 µs.
const BUCKETS: usize = (64 - SUB_BITS as usize + 1) * SUB;

/// Round times in microseconds, in log-linear buckets: fixed memory and constant work per
/// round at any rate, quantiles to within 2% (half a bucket).
#[derive(Clone, Debug)]
struct Histogram {
    counts: Vec<u64>,
    n: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            n: 0,
        }
    }
}

impl Histogram {
    fn add(&mut self, d: Duration) {
        self.counts[bucket(d.as_micros())] += 1;
        self.n += 1;
    }

    /// The value below which a fraction `q` of the samples lie: the middle of its bucket.
    fn quantile(&self, q: f64) -> Duration {
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n.max(1));
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bounds(i);
                return Duration::from_micros(low + width / 2);
            }
        }
        Duration::ZERO
    }
}

fn bucket(us: u64) -> usize {
    if us < 2 * SUB as u64 {
        return us as usize;
    }
    let top = 63 - us.leading_zeros();
    let shift = top - SUB_BITS;
    (shift as usize + 1) * SUB + ((us >> shift) as usize & (SUB - 1))
}

/// The lowest value of bucket `i`, and how many values it holds.
fn bounds(i: usize) -> (u64, u64) {
    if i < 2 * SUB {
        return (i as u64, 1);
    }
    let shift = (i / SUB - 1) as u32;
    let low = ((SUB + i % SUB) as u64) << shift;
    (low, 1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    fn id(name: &str) -> Id {
        Id::new(name).unwrap()
    }

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for us in (0..5_000).chain([u64::MAX / 3, u64::MAX - 1, u64::MAX]) {
            let b = bucket(us);
            assert!(b >= last && b < BUCKETS, "{us} -> {b}");
            let (low, width) = bounds(b);
            assert!(low <= us && us - low < width, "{us} in {b} = {low}+{width}");
            last = b;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for us in 1..=10_000 {
            h.add(Duration::from_micros(us));
        }
        for (q, exact) in [(0.5, 5_000.0), (0.99, 9_900.0), (1.0, 10_000.0)] {
            let got = h.quantile(q).as_micros() as f64;
            assert!((got - exact).abs() / exact < 0.02, "q{q}: {got} vs {exact}");
        }
        let mut one = Histogram::default();
        one.add(Duration::from_micros(37));
        assert_eq!(one.quantile(0.5), Duration::from_micros(37));
    }

    #[test]
    fn a_line_comes_at_most_every_interval_while_rounds_run() {
        let mut p = Progress::new(Duration::from_millis(5_000));
        let mut lines = Vec::new();
        // A round every millisecond for 12 s: lines at 5 s and 10 s, not one per round.
        for t in 0..12_000 {
            p.wave(ms(t));
            let slow = (t == 7_000).then(|| (id("laggard"), Duration::from_micros(900)));
            if let Some(r) = p.round_end(
                ms(t) + Duration::from_micros(500),
                Duration::from_micros(500),
                slow,
            ) {
                lines.push((t, r));
            }
        }
        assert_eq!(lines.len(), 2, "{lines:?}");
        // The first stretch opened with the first wave; the round that ends past 5 s is in it.
        let (at, first) = &lines[0];
        assert_eq!(*at, 5_000);
        assert_eq!((first.total, first.rounds), (5_001, 5_001));
        assert_eq!(first.max, Duration::from_micros(500));
        assert_eq!(first.slowest, None);
        // The next one opened with the next wave.
        let (at, second) = &lines[1];
        assert_eq!(*at, 10_001);
        assert_eq!((second.total, second.rounds), (10_002, 5_001));
        assert_eq!(
            second.slowest,
            Some((id("laggard"), Duration::from_micros(900)))
        );
        // The end reports the rest.
        let last = p.finish(ms(12_000)).unwrap();
        assert_eq!((last.total, last.rounds), (12_000, 1_998));
        assert!(p.finish(ms(12_001)).is_none());
        assert_eq!(p.next_due(), None);
    }

    #[test]
    fn a_pause_ends_the_stretch_and_the_clock_wakes_for_its_line() {
        let mut p = Progress::new(Duration::from_millis(5_000));
        assert_eq!(p.next_due(), None);
        p.wave(ms(1_000));
        assert_eq!(p.next_due(), None, "no round has ended yet");
        assert!(p
            .round_end(ms(1_002), Duration::from_millis(2), None)
            .is_none());
        assert_eq!(p.next_due(), Some(ms(6_000)));
        assert!(p.due(ms(5_999)).is_none());
        let r = p.due(ms(6_000)).unwrap();
        assert_eq!(
            (r.total, r.rounds, r.elapsed),
            (1, 1, Duration::from_millis(5_000))
        );
        assert_eq!(
            (r.p50, r.p99, r.max),
            (
                Duration::from_millis(2),
                Duration::from_millis(2),
                Duration::from_millis(2)
            )
        );
        // Nothing ran since: no line, no wake-up; the next stretch starts at the next wave.
        assert_eq!(p.next_due(), None);
        p.wave(ms(60_000));
        assert!(p
            .round_end(ms(60_001), Duration::from_millis(1), None)
            .is_none());
        assert_eq!(p.next_due(), Some(ms(65_000)));
    }

    #[test]
    fn a_round_running_at_the_line_opens_the_next_stretch() {
        let mut p = Progress::new(Duration::from_millis(5_000));
        p.wave(ms(0));
        p.round_end(ms(1), Duration::from_millis(1), None);
        p.wave(ms(4_000));
        let r = p.due(ms(5_000)).unwrap();
        assert_eq!(r.rounds, 1);
        // The long round ends 20 s later: its line reports one round over those 20 s.
        let r = p
            .round_end(ms(25_000), Duration::from_millis(21_000), None)
            .unwrap();
        assert_eq!(
            (r.total, r.rounds, r.elapsed),
            (2, 1, Duration::from_millis(20_000))
        );
        assert_eq!(r.max, Duration::from_millis(21_000));
    }

    #[test]
    fn the_line_reads_well() {
        let report = Report {
            total: 1_234_567,
            rounds: 6_000,
            elapsed: Duration::from_millis(5_000),
            p50: Duration::from_micros(512),
            p99: Duration::from_micros(1_234),
            max: Duration::from_micros(3_456),
            slowest: Some((id("bob"), Duration::from_micros(3_400))),
        };
        assert_eq!(
            report.to_string(),
            "progress: 1,234,567 rounds, 6,000 in the last 5.0 s (1,200 rounds/s); \
             round time p50 0.512 ms, p99 1.234 ms, max 3.456 ms; slowest: bob (3.400 ms after its Go)"
        );
        assert_eq!(Thousands(0).to_string(), "0");
        assert_eq!(Thousands(999).to_string(), "999");
        assert_eq!(Thousands(1_000).to_string(), "1,000");
        assert_eq!(Rate(14_225.6).to_string(), "14,226");
        assert_eq!(Rate(0.25).to_string(), "0.2");
        assert_eq!(Rate(f64::INFINITY).to_string(), "-");
    }
}
