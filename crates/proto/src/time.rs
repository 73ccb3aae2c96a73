//! The only notion of time the core knows: [`Instant`] and [`Duration`] as plain microsecond
//! counts. The core never reads a clock; drivers convert their clock readings into these values
//! and tests build them from integers.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time, in microseconds since an origin the driver chooses (its start, say).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

/// A span of time in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

impl Instant {
    /// The origin.
    pub const ZERO: Instant = Instant(0);

    /// An instant `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms.saturating_mul(1000))
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1000))
    }

    /// Whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1000
    }

    /// Milliseconds as a float, for status reports.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// True for the zero duration, which configuration uses to mean "never".
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self` less `other`, zero if `other` is longer.
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }

    /// Multiplies, saturating at the largest duration.
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        std::time::Duration::from_micros(d.0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Whole numbers: cheaper than formatting a float, and the same text.
        write!(f, "{}.{:03} ms", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_wrapping() {
        let late = Instant::from_micros(u64::MAX - 1);
        assert_eq!((late + Duration::from_millis(5)).as_micros(), u64::MAX);
        assert_eq!(Instant::ZERO - late, Duration::ZERO);
        assert_eq!(
            Instant::from_millis(3) - Instant::from_millis(1),
            Duration::from_millis(2)
        );
    }

    #[test]
    fn displays_milliseconds_with_three_decimals() {
        assert_eq!(Duration::from_micros(2_500).to_string(), "2.500 ms");
        assert_eq!(Duration::from_micros(7).to_string(), "0.007 ms");
        assert_eq!(Duration::from_millis(12_000).to_string(), "12000.000 ms");
    }

    #[test]
    fn converts_to_and_from_std() {
        let d: Duration = std::time::Duration::from_millis(7).into();
        assert_eq!(d.as_millis(), 7);
        assert_eq!(
            std::time::Duration::from(d),
            std::time::Duration::from_millis(7)
        );
    }
}
