//! `/metrics`: counters kept from the core's events, and their encoding with the gauges of the
//! moment (from the status snapshot and `/proc`) in the Prometheus text format (0.0.4).
//!
//! Counting is a few integer additions per event: a wave, a round end (and its histogram
//! bucket), a join, a removal. The `prometheus-client` registry is built only when someone
//! scrapes, from these plain numbers, so the rounds never pay for locks or atomics. Names
//! follow Prometheus's conventions: the `lockstep_` prefix, `_total` for counters, base units
//! (`_seconds`, `_bytes`); every label value that can occur is present from the start, at 0, so
//! that `rate()` and `increase()` see the first change.

use std::fmt;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use lockstep_proto::core::{Event, Leave, RefusalKind};
use lockstep_proto::status::Status;

use super::process::ProcessStats;
use super::response::Code;

/// The upper bounds of the round-duration histogram's buckets, in seconds: 1, 2.5 and 5 in
/// every decade from 10 µs to 500 s, so that a round of a few microseconds and one held up for
/// minutes both land in a bucket of their own size.
pub const DURATION_BOUNDS: [f64; 24] = [
    1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0,
];

/// Why a member was removed, as the `cause` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// It sent `X`.
    Left,
    /// It sent `R`: it failed.
    ParticipantRefusal,
    /// It closed the connection without a word.
    Closed,
    /// Its queue passed the bound: it was not reading.
    NotReading,
    /// The conductor refused it, for this reason.
    Refused(RefusalKind),
}

impl Cause {
    /// The causes always shown: those that can happen to a member.
    const SHOWN: [Cause; 6] = [
        Cause::Left,
        Cause::ParticipantRefusal,
        Cause::Closed,
        Cause::NotReading,
        Cause::Refused(RefusalKind::LivenessTimeout),
        Cause::Refused(RefusalKind::Violation),
    ];
    /// The number of distinct causes.
    const COUNT: usize = 4 + RefusalKind::ALL.len();

    fn index(self) -> usize {
        match self {
            Cause::Left => 0,
            Cause::ParticipantRefusal => 1,
            Cause::Closed => 2,
            Cause::NotReading => 3,
            Cause::Refused(kind) => 4 + kind as usize,
        }
    }

    fn from_index(index: usize) -> Cause {
        match index {
            0 => Cause::Left,
            1 => Cause::ParticipantRefusal,
            2 => Cause::Closed,
            3 => Cause::NotReading,
            n => Cause::Refused(RefusalKind::ALL[(n - 4) % RefusalKind::ALL.len()]),
        }
    }

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            Cause::Left => "left",
            Cause::ParticipantRefusal => "participant_refusal",
            Cause::Closed => "closed",
            Cause::NotReading => "not_reading",
            Cause::Refused(kind) => refusal_label(kind),
        }
    }

    /// The cause of a removal event, `None` for events that remove no member.
    pub fn of(event: &Event) -> Option<Cause> {
        match event {
            Event::Left { who, how } if who.id.is_some() => Some(match how {
                Leave::Exit => Cause::Left,
                Leave::Refusal(_) => Cause::ParticipantRefusal,
                Leave::Closed => Cause::Closed,
            }),
            Event::Refused { who, kind, .. } if who.id.is_some() => Some(Cause::Refused(*kind)),
            Event::DroppedNotReading { .. } => Some(Cause::NotReading),
            _ => None,
        }
    }
}

/// A refusal's kind as a label value.
pub fn refusal_label(kind: RefusalKind) -> &'static str {
    match kind {
        RefusalKind::NotAllowed => "not_allowed",
        RefusalKind::Version => "version",
        RefusalKind::InvalidId => "invalid_id",
        RefusalKind::DuplicateId => "duplicate_id",
        RefusalKind::Full => "full",
        RefusalKind::HelloTimeout => "hello_timeout",
        RefusalKind::LivenessTimeout => "liveness_timeout",
        RefusalKind::Violation => "violation",
        RefusalKind::NotInCertificate => "not_in_certificate",
        RefusalKind::Transport => "transport",
    }
}

/// The phases a conductor can be in (PROTOCOL.md "Status files"), each a series of
/// `lockstep_phase`.
const PHASES: [&str; 5] = ["waiting", "running", "paused", "stopping", "stopped"];
/// The states of a member (PROTOCOL.md "Connection states"), each a series of
/// `lockstep_participants`.
const MEMBER_STATES: [&str; 4] = ["Idle", "GoSent", "Working", "Done"];

/// What the counters have seen since the start.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    connections: u64,
    joins: u64,
    waves: u64,
    rounds: u64,
    slow_rounds: u64,
    late_waves: u64,
    removals: [u64; Cause::COUNT],
    refusals: [u64; RefusalKind::ALL.len()],
    durations: Histogram,
}

/// The gauges of the moment, read when someone scrapes.
pub struct Now<'a> {
    /// The status snapshot.
    pub status: &'a Status,
    /// Open connections, whatever their state.
    pub connections: usize,
    /// This process, from `/proc`.
    pub process: &'a ProcessStats,
    /// The endpoint's answers so far, by status code.
    pub answers: &'a [(Code, u64)],
}

impl Metrics {
    /// Counts one event.
    pub fn record(&mut self, event: &Event) {
        if let Some(cause) = Cause::of(event) {
            self.removals[cause.index()] += 1;
        }
        match event {
            Event::Connected { .. } => self.connections += 1,
            Event::Joined { .. } => self.joins += 1,
            Event::Wave { .. } => self.waves += 1,
            Event::RoundEnd { duration, .. } => {
                self.rounds += 1;
                self.durations.observe(duration.as_micros());
            }
            Event::SlowRound { .. } | Event::StillPaused { .. } => self.slow_rounds += 1,
            Event::LateWave { .. } => self.late_waves += 1,
            Event::Refused { kind, .. } => self.refusals[*kind as usize] += 1,
            _ => {}
        }
    }

    /// Rounds completed so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Members removed so far, by cause: every cause that can happen to a member, and any
    /// other that did.
    pub fn removals(&self) -> Vec<(&'static str, u64)> {
        (0..Cause::COUNT)
            .map(Cause::from_index)
            .filter(|c| Cause::SHOWN.contains(c) || self.removals[c.index()] > 0)
            .map(|c| (c.label(), self.removals[c.index()]))
            .collect()
    }

    /// Refusals the conductor sent so far, by kind.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        RefusalKind::ALL
            .iter()
            .map(|&k| (refusal_label(k), self.refusals[k as usize]))
            .collect()
    }

    /// Refusals of connections that had not joined, by kind: every refusal but those that
    /// removed a member.
    pub fn refusals_before_hello(&self) -> Vec<(&'static str, u64)> {
        RefusalKind::ALL
            .iter()
            .map(|&k| {
                let members = self.removals[Cause::Refused(k).index()];
                (
                    refusal_label(k),
                    self.refusals[k as usize].saturating_sub(members),
                )
            })
            .collect()
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self, now: &Now<'_>) -> String {
        let mut registry = Registry::default();
        self.register_counters(&mut registry);
        register_gauges(&mut registry, now);
        now.process.register(&mut registry);
        let answers = now
            .answers
            .iter()
            .map(|(code, n)| (code.number().to_string(), *n))
            .collect();
        registry.register(
            "lockstep_http_responses",
            "Responses of this HTTP endpoint, by status code",
            Labelled::counters("code", answers),
        );
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
        text
    }

    fn register_counters(&self, registry: &mut Registry) {
        let counters = [
            (
                "lockstep_connections_accepted",
                "Connections accepted, before any hello",
                self.connections,
            ),
            (
                "lockstep_joins",
                "Hellos accepted: participants that joined",
                self.joins,
            ),
            ("lockstep_waves_sent", "Go waves sent", self.waves),
            (
                "lockstep_rounds_completed",
                "Rounds that ended: every participant Done or removed",
                self.rounds,
            ),
            (
                "lockstep_slow_round_broadcasts",
                "Broadcasts of T (this is taking longer than expected), every slow_round_ms of a \
                 slow round or of a pause",
                self.slow_rounds,
            ),
            (
                "lockstep_late_waves",
                "Paced waves that left late: their round overran the slot pace_ms gave them",
                self.late_waves,
            ),
        ];
        for (name, help, value) in counters {
            registry.register(name, help, counter(value));
        }
        let removals = self
            .removals()
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        registry.register(
            "lockstep_removals",
            "Participants removed after their hello, by cause: left (sent X), \
             participant_refusal (sent R), closed, not_reading, or the conductor's refusal reason",
            Labelled::counters("cause", removals),
        );
        let refusals = self
            .refusals()
            .into_iter()
            .map(|(r, n)| (r.to_string(), n))
            .collect();
        registry.register(
            "lockstep_refusals",
            "Refusals (R) the conductor sent, before or after a hello, by reason",
            Labelled::counters("reason", refusals),
        );
        registry.register(
            "lockstep_round_duration_seconds",
            "Time from a wave to the last Done or removal of its participants",
            self.durations.clone(),
        );
    }
}

fn register_gauges(registry: &mut Registry, now: &Now<'_>) {
    let status = now.status;
    if let Some(step) = status.step {
        registry.register(
            "lockstep_step",
            "The step of the last wave sent",
            gauge(i64::from(step)),
        );
    }
    let mut phases: Vec<(String, u64)> = PHASES
        .iter()
        .map(|p| (p.to_string(), u64::from(*p == status.phase)))
        .collect();
    if !PHASES.contains(&status.phase.as_str()) {
        phases.push((status.phase.clone(), 1));
    }
    registry.register(
        "lockstep_phase",
        "The conductor's phase: 1 for the current one, 0 for the others",
        Labelled::gauges("phase", phases),
    );
    let mut states: Vec<(String, u64)> = MEMBER_STATES.iter().map(|s| (s.to_string(), 0)).collect();
    for client in &status.clients {
        match states.iter_mut().find(|(s, _)| *s == client.state) {
            Some((_, n)) => *n += 1,
            None => states.push((client.state.clone(), 1)),
        }
    }
    registry.register(
        "lockstep_participants",
        "Participants past their hello, by state",
        Labelled::gauges("state", states),
    );
    let gauges = [
        (
            "lockstep_connections",
            "Open connections, whatever their state (before the hello and closing ones too)",
            now.connections as i64,
        ),
        (
            "lockstep_waiting_on",
            "Participants of the running round that are not Done yet",
            status.waiting_on.len() as i64,
        ),
        (
            "lockstep_paused",
            "1 while the operator holds the waves (conductor ctl pause, step, hold-at), else 0",
            i64::from(status.paused),
        ),
        (
            "lockstep_ready",
            "Participants ready for the next wave (Idle or Done)",
            i64::from(status.ready),
        ),
        (
            "lockstep_min_clients",
            "Participants that must be ready before a wave is sent",
            i64::from(status.min_clients),
        ),
    ];
    for (name, help, value) in gauges {
        registry.register(name, help, gauge(value));
    }
    let age = status
        .round_started_ms_ago
        .map_or(0.0, |ms| ms as f64 / 1e3);
    registry.register(
        "lockstep_round_age_seconds",
        "How long the running round has run; 0 between rounds",
        float_gauge(age),
    );
    registry.register(
        "lockstep_pace_seconds",
        "The pace: waves go out no more often than this; 0 = as fast as the participants allow",
        float_gauge(status.pace_ms as f64 / 1e3),
    );
}

/// A counter holding `value`.
pub(super) fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

/// A gauge holding `value`.
pub(super) fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

/// A gauge holding the fraction `value`.
pub(super) fn float_gauge(value: f64) -> Gauge<f64, AtomicU64> {
    let g = Gauge::default();
    g.set(value);
    g
}

/// Series with one label, in a fixed order: counters or gauges of whole numbers.
#[derive(Debug)]
pub(super) struct Labelled {
    key: &'static str,
    kind: MetricType,
    values: Vec<(String, u64)>,
}

impl Labelled {
    pub(super) fn counters(key: &'static str, values: Vec<(String, u64)>) -> Labelled {
        Labelled {
            key,
            kind: MetricType::Counter,
            values,
        }
    }

    pub(super) fn gauges(key: &'static str, values: Vec<(String, u64)>) -> Labelled {
        Labelled {
            key,
            kind: MetricType::Gauge,
            values,
        }
    }
}

impl EncodeMetric for Labelled {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        for (value, n) in &self.values {
            let labels = [(self.key, value.as_str())];
            let mut series = encoder.encode_family(&labels)?;
            if self.kind == MetricType::Counter {
                series.encode_counter::<NoLabelSet, _, u64>(n, None)?;
            } else {
                series.encode_gauge(n)?;
            }
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        self.kind
    }
}

/// The round durations: a count per bucket of [`DURATION_BOUNDS`] (the last one past them all)
/// and their sum. Observing is a binary search and two additions.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: [u64; DURATION_BOUNDS.len() + 1],
    sum_micros: u64,
    count: u64,
}

impl Histogram {
    /// Counts one duration.
    pub fn observe(&mut self, micros: u64) {
        let seconds = micros as f64 / 1e6;
        let bucket = DURATION_BOUNDS.partition_point(|&bound| bound < seconds);
        self.counts[bucket] += 1;
        self.sum_micros = self.sum_micros.saturating_add(micros);
        self.count += 1;
    }
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let buckets: Vec<(f64, u64)> = DURATION_BOUNDS
            .iter()
            .copied()
            .zip(self.counts.iter().copied())
            .collect();
        encoder.encode_histogram::<NoLabelSet>(
            self.sum_micros as f64 / 1e6,
            self.count,
            &buckets,
            None,
        )
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_proto::core::{ConnId, Who};
    use lockstep_proto::status::ClientStatus;
    use lockstep_proto::time::Duration;
    use lockstep_proto::wire::{Id, Reason};

    fn who(id: Option<&str>) -> Who {
        Who {
            conn: ConnId::from_index(0),
            peer: "127.0.0.1:5000".parse().unwrap(),
            id: id.map(|i| Id::new(i).unwrap()),
        }
    }

    fn status() -> Status {
        Status {
            server_id: "conductor".into(),
            address: "127.0.0.1:7878".into(),
            phase: "running".into(),
            step: Some(41),
            waves_sent: 42,
            round_started_ms_ago: Some(1500),
            clients: ["Done", "Working", "Working"]
                .iter()
                .enumerate()
                .map(|(i, state)| ClientStatus {
                    id: format!("w{i}"),
                    peer: "127.0.0.1:1".into(),
                    state: state.to_string(),
                    last_heard_ms_ago: 0,
                    exempt_ms: None,
                })
                .collect(),
            waiting_on: vec!["w1".into(), "w2".into()],
            ready: 1,
            min_clients: 3,
            last_round_ms: Some(2.5),
            last_round_slowest: None,
            uptime_ms: 10_000,
            pace_ms: 33,
            late_waves: 2,
            ..Status::default()
        }
    }

    fn encode(metrics: &Metrics) -> String {
        let status = status();
        let process = ProcessStats::default();
        metrics.encode(&Now {
            status: &status,
            connections: 4,
            process: &process,
            answers: &[(Code::Ok, 3), (Code::NotFound, 1)],
        })
    }

    /// The value of the series `name` (with its labels, as written) in `text`.
    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn events_move_their_counters() {
        let mut m = Metrics::default();
        let events = [
            Event::Joined {
                conn: ConnId::from_index(0),
                id: Id::new("w0").unwrap(),
                peer: "127.0.0.1:5000".parse().unwrap(),
            },
            Event::Wave {
                step: 0,
                participants: 1,
            },
            Event::RoundEnd {
                step: 0,
                duration: Duration::from_micros(30),
                slowest: None,
            },
            Event::Wave {
                step: 1,
                participants: 1,
            },
            Event::RoundEnd {
                step: 1,
                duration: Duration::from_millis(3_000),
                slowest: None,
            },
            Event::SlowRound {
                step: 1,
                waiting_on: vec![],
            },
            Event::StillPaused {
                paused_for: Duration::from_millis(10_000),
            },
            Event::LateWave {
                step: 1,
                late_by: Duration::from_millis(2),
            },
            Event::Left {
                who: who(Some("w0")),
                how: Leave::Closed,
            },
            // A stranger's refusal is a refusal, not a removal.
            Event::Refused {
                who: who(None),
                kind: RefusalKind::Full,
                reason: Reason::new("full").unwrap(),
            },
            Event::Refused {
                who: who(Some("w1")),
                kind: RefusalKind::LivenessTimeout,
                reason: Reason::new("liveness timeout").unwrap(),
            },
            Event::DroppedNotReading {
                who: who(Some("w2")),
                queued: 1,
            },
        ];
        for event in &events {
            m.record(event);
        }
        let before_hello = m.refusals_before_hello();
        assert!(before_hello.contains(&("full", 1)), "{before_hello:?}");
        assert!(
            before_hello.contains(&("liveness_timeout", 0)),
            "{before_hello:?}"
        );
        let text = encode(&m);
        assert_eq!(value(&text, "lockstep_joins_total"), 1.0);
        assert_eq!(value(&text, "lockstep_waves_sent_total"), 2.0);
        assert_eq!(value(&text, "lockstep_rounds_completed_total"), 2.0);
        assert_eq!(value(&text, "lockstep_slow_round_broadcasts_total"), 2.0);
        assert_eq!(value(&text, "lockstep_late_waves_total"), 1.0);
        for (cause, n) in [
            ("closed", 1.0),
            ("liveness_timeout", 1.0),
            ("not_reading", 1.0),
            ("left", 0.0),
            ("violation", 0.0),
        ] {
            let series = format!("lockstep_removals_total{{cause=\"{cause}\"}}");
            assert_eq!(value(&text, &series), n, "{cause}");
        }
        assert!(!text.contains("lockstep_removals_total{cause=\"full\"}"));
        assert_eq!(
            value(&text, "lockstep_refusals_total{reason=\"full\"}"),
            1.0
        );
        assert_eq!(
            value(
                &text,
                "lockstep_refusals_total{reason=\"liveness_timeout\"}"
            ),
            1.0
        );
        assert_eq!(
            value(&text, "lockstep_refusals_total{reason=\"version\"}"),
            0.0
        );
        // 30 µs falls in the bucket up to 50 µs, 3 s in the one up to 5 s.
        let bucket = |le: &str| {
            value(
                &text,
                &format!("lockstep_round_duration_seconds_bucket{{le=\"{le}\"}}"),
            )
        };
        assert_eq!(bucket("2.5e-05"), 0.0);
        assert_eq!(bucket("5e-05"), 1.0);
        assert_eq!(bucket("2.5"), 1.0);
        assert_eq!(bucket("5"), 2.0);
        assert_eq!(bucket("+Inf"), 2.0);
        assert_eq!(value(&text, "lockstep_round_duration_seconds_count"), 2.0);
        assert_eq!(value(&text, "lockstep_round_duration_seconds_sum"), 3.00003);
    }

    #[test]
    fn gauges_come_from_the_snapshot() {
        let text = encode(&Metrics::default());
        assert_eq!(value(&text, "lockstep_step"), 41.0);
        assert_eq!(value(&text, "lockstep_phase{phase=\"running\"}"), 1.0);
        assert_eq!(value(&text, "lockstep_phase{phase=\"waiting\"}"), 0.0);
        assert_eq!(
            value(&text, "lockstep_participants{state=\"Working\"}"),
            2.0
        );
        assert_eq!(value(&text, "lockstep_participants{state=\"Idle\"}"), 0.0);
        assert_eq!(value(&text, "lockstep_waiting_on"), 2.0);
        assert_eq!(value(&text, "lockstep_ready"), 1.0);
        assert_eq!(value(&text, "lockstep_min_clients"), 3.0);
        assert_eq!(value(&text, "lockstep_connections"), 4.0);
        assert_eq!(value(&text, "lockstep_round_age_seconds"), 1.5);
        assert_eq!(value(&text, "lockstep_pace_seconds"), 0.033);
        assert_eq!(value(&text, "lockstep_paused"), 0.0);
        assert_eq!(
            value(&text, "lockstep_http_responses_total{code=\"404\"}"),
            1.0
        );
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                name.starts_with("lockstep_") || name.starts_with("process_"),
                "{line}"
            );
            if line.ends_with(" counter") {
                assert!(name.ends_with("_total"), "{line}");
            }
        }
    }

    #[test]
    fn before_the_first_wave_there_is_no_step() {
        let status = Status {
            step: None,
            round_started_ms_ago: None,
            ..status()
        };
        let process = ProcessStats::default();
        let text = Metrics::default().encode(&Now {
            status: &status,
            connections: 0,
            process: &process,
            answers: &[],
        });
        assert!(!text.contains("lockstep_step"), "{text}");
        assert_eq!(value(&text, "lockstep_round_age_seconds"), 0.0);
    }
}
