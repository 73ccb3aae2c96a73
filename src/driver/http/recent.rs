//! What the status page shows beyond the status snapshot, kept from the core's events in
//! bounded rings: the last [`ROUNDS_KEPT`] round durations, the rounds completed in each of the
//! last [`RATE_SECONDS`] seconds (for rounds per second), the last [`REMOVALS_KEPT`] members
//! removed and the last [`REFUSALS_KEPT`] connections refused before they joined. Served as
//! `/recent.json`. A round end costs one push into a ring that never grows and one count.

use std::collections::VecDeque;

use serde::Serialize;

use lockstep_proto::core::{Event, Leave, Who};
use lockstep_proto::time::Instant;

use super::metrics::{refusal_label, Cause};

/// Round durations kept for the page's chart.
pub const ROUNDS_KEPT: usize = 300;
/// Removals of members kept.
pub const REMOVALS_KEPT: usize = 50;
/// Refusals of connections that never joined kept (a flood of strangers replaces them fast).
pub const REFUSALS_KEPT: usize = 20;
/// The seconds over which rounds per second are counted: the current one and those before.
pub const RATE_SECONDS: u64 = 5;

/// One finished round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RoundTime {
    /// Its step.
    pub step: u32,
    /// From its wave to its end, microseconds.
    pub us: u64,
}

/// A member removed or a connection refused.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Departure {
    at: Instant,
    id: Option<String>,
    peer: String,
    cause: &'static str,
    reason: Option<String>,
}

/// A departure as `/recent.json` shows it.
#[derive(Serialize)]
struct Shown<'a> {
    ago_ms: u64,
    id: Option<&'a str>,
    peer: &'a str,
    cause: &'a str,
    reason: Option<&'a str>,
}

/// Rounds completed per second of the driver's clock, for the last [`RATE_SECONDS`] seconds:
/// slot `s % RATE_SECONDS` holds second `s` and its count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Rate {
    slots: [(u64, u64); RATE_SECONDS as usize],
}

impl Rate {
    fn count(&mut self, now: Instant) {
        let second = now.as_micros() / 1_000_000;
        let slot = &mut self.slots[(second % RATE_SECONDS) as usize];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += 1;
    }

    /// Rounds per second over the current second and the [`RATE_SECONDS`] - 1 before it (or
    /// since the start, when that is shorter).
    fn per_second(&self, now: Instant) -> f64 {
        let second = now.as_micros() / 1_000_000;
        let first = second.saturating_sub(RATE_SECONDS - 1);
        let rounds: u64 = self
            .slots
            .iter()
            .filter(|(s, _)| (first..=second).contains(s))
            .map(|(_, n)| n)
            .sum();
        let span_us = now.as_micros() - first * 1_000_000;
        if span_us == 0 {
            return 0.0;
        }
        rounds as f64 * 1e6 / span_us as f64
    }
}

/// The rings.
#[derive(Clone, Debug, Default)]
pub struct Recent {
    rounds: VecDeque<RoundTime>,
    rate: Rate,
    removals: VecDeque<Departure>,
    refusals: VecDeque<Departure>,
}

/// Appends `item`, dropping the oldest once `ring` holds `kept`.
fn push<T>(ring: &mut VecDeque<T>, kept: usize, item: T) {
    if ring.len() == kept {
        ring.pop_front();
    }
    ring.push_back(item);
}

fn departure(now: Instant, who: &Who, cause: &'static str, reason: Option<String>) -> Departure {
    Departure {
        at: now,
        id: who.id.map(|id| id.as_str().to_string()),
        peer: who.peer.to_string(),
        cause,
        reason,
    }
}

/// A ring of departures, newest first, with their age at `now`.
fn shown(ring: &VecDeque<Departure>, now: Instant) -> Vec<Shown<'_>> {
    ring.iter()
        .rev()
        .map(|d| Shown {
            ago_ms: (now - d.at).as_millis(),
            id: d.id.as_deref(),
            peer: &d.peer,
            cause: d.cause,
            reason: d.reason.as_deref(),
        })
        .collect()
}

impl Recent {
    /// Keeps what the page shows of one event that happened at `now`.
    pub fn record(&mut self, now: Instant, event: &Event) {
        if let Event::RoundEnd { step, duration, .. } = event {
            let round = RoundTime {
                step: *step,
                us: duration.as_micros(),
            };
            push(&mut self.rounds, ROUNDS_KEPT, round);
            self.rate.count(now);
            return;
        }
        if let Some(cause) = Cause::of(event) {
            let reason = match event {
                Event::Left {
                    how: Leave::Refusal(reason),
                    ..
                }
                | Event::Refused { reason, .. } => Some(reason.to_string()),
                _ => None,
            };
            let who = match event {
                Event::Left { who, .. }
                | Event::Refused { who, .. }
                | Event::DroppedNotReading { who, .. } => who,
                _ => return,
            };
            let gone = departure(now, who, cause.label(), reason);
            push(&mut self.removals, REMOVALS_KEPT, gone);
        } else if let Event::Refused { who, kind, reason } = event {
            let refused = departure(now, who, refusal_label(*kind), Some(reason.to_string()));
            push(&mut self.refusals, REFUSALS_KEPT, refused);
        }
    }

    /// `/recent.json` as of `now`: rounds per second, the rounds kept (oldest first), the
    /// removals and refusals kept (newest first), and the totals of removals by cause and of
    /// refusals before a hello by reason.
    pub fn to_json(
        &self,
        now: Instant,
        removed: &[(&str, u64)],
        refused: &[(&str, u64)],
        rounds_completed: u64,
    ) -> String {
        let shown = |ring| shown(ring, now);
        let totals = |pairs: &[(&str, u64)]| -> serde_json::Map<String, serde_json::Value> {
            pairs
                .iter()
                .map(|(k, n)| (k.to_string(), serde_json::Value::from(*n)))
                .collect()
        };
        let value = serde_json::json!({
            "rounds_completed": rounds_completed,
            "rounds_per_second": self.rate.per_second(now),
            "rounds": self.rounds,
            "removals": shown(&self.removals),
            "refusals": shown(&self.refusals),
            "removed": totals(removed),
            "refused": totals(refused),
        });
        let mut text = value.to_string();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_proto::core::{ConnId, RefusalKind};
    use lockstep_proto::time::Duration;
    use lockstep_proto::wire::{Id, Reason};

    fn who(id: Option<&str>, port: u16) -> Who {
        Who {
            conn: ConnId::from_index(0),
            peer: format!("127.0.0.1:{port}").parse().unwrap(),
            id: id.map(|i| Id::new(i).unwrap()),
        }
    }

    #[test]
    fn the_rings_keep_the_last_ones() {
        let mut recent = Recent::default();
        for step in 0..1000u32 {
            let end = Event::RoundEnd {
                step,
                duration: Duration::from_micros(u64::from(step)),
                slowest: None,
            };
            recent.record(Instant::from_millis(u64::from(step)), &end);
        }
        let steps: Vec<u32> = recent.rounds.iter().map(|r| r.step).collect();
        // 1,000 rounds in the first second (0 to 999 ms), counted at 999 ms.
        let rate = recent.rate.per_second(Instant::from_millis(999));
        assert!((rate - 1000.0 / 0.999).abs() < 1e-6, "{rate}");
        assert_eq!(steps.len(), ROUNDS_KEPT);
        assert_eq!(steps[0], 700);
        assert_eq!(*steps.last().unwrap(), 999);
        for port in 0..100u16 {
            let event = Event::Refused {
                who: who(None, port),
                kind: RefusalKind::Full,
                reason: Reason::new("full").unwrap(),
            };
            recent.record(Instant::ZERO, &event);
        }
        assert_eq!(recent.refusals.len(), REFUSALS_KEPT);
        assert!(recent.removals.is_empty());
    }

    #[test]
    fn the_rate_counts_the_last_seconds_and_falls_to_zero_when_rounds_stop() {
        let mut rate = Rate::default();
        // 100 rounds a second for 10 seconds.
        for ms in (0..10_000u64).step_by(10) {
            rate.count(Instant::from_millis(ms));
        }
        let at = |ms| rate.per_second(Instant::from_millis(ms));
        assert!((at(10_000) - 100.0).abs() < 1e-9, "{}", at(10_000));
        // Seconds 6 to 9 hold 400 rounds over the 4.5 s from 6 s to 10.5 s.
        assert!((at(10_500) - 400.0 / 4.5).abs() < 1e-9, "{}", at(10_500));
        assert_eq!(at(20_000), 0.0);
        assert_eq!(Rate::default().per_second(Instant::ZERO), 0.0);
    }

    #[test]
    fn json_shows_removals_newest_first_with_their_reason() {
        let mut recent = Recent::default();
        recent.record(
            Instant::from_millis(1_000),
            &Event::Left {
                who: who(Some("alice"), 1),
                how: Leave::Refusal(Reason::new("step 3: boom").unwrap()),
            },
        );
        recent.record(
            Instant::from_millis(2_000),
            &Event::Refused {
                who: who(Some("bob"), 2),
                kind: RefusalKind::LivenessTimeout,
                reason: Reason::new("liveness timeout").unwrap(),
            },
        );
        let json = recent.to_json(
            Instant::from_millis(2_500),
            &[("left", 0), ("liveness_timeout", 1)],
            &[("full", 0)],
            7,
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["rounds_completed"], 7);
        assert_eq!(v["removals"][0]["id"], "bob");
        assert_eq!(v["removals"][0]["cause"], "liveness_timeout");
        assert_eq!(v["removals"][0]["ago_ms"], 500);
        assert_eq!(v["removals"][1]["id"], "alice");
        assert_eq!(v["removals"][1]["cause"], "participant_refusal");
        assert_eq!(v["removals"][1]["reason"], "step 3: boom");
        assert_eq!(v["removed"]["liveness_timeout"], 1);
        assert_eq!(v["refusals"], serde_json::json!([]));
        assert_eq!(v["rounds"], serde_json::json!([]));
    }
}
