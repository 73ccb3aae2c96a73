//! The figures `conductor bench` reports: round-time percentiles, the report itself as JSON
//! (one object) or as text for a person, and the aggregation of several processes' reports.
//! Performs no I/O.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::check::Violations;
use super::scrape::{Scrapes, EVERY};

/// Round-time percentiles in microseconds (nearest rank).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Shortest.
    #[serde(default)]
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Longest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// The percentiles of `samples` (sorted in place); all zero when there are none.
    pub fn of(samples: &mut [u64]) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let i = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        let sum: u64 = samples.iter().sum();
        Percentiles {
            min: samples[0],
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: samples[samples.len() - 1],
            mean: sum as f64 / samples.len() as f64,
        }
    }
}

/// The server's memory, from `/proc/PID/status`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Resident set before any client connected, KiB.
    pub idle_rss_kib: u64,
    /// Peak resident set (VmHWM) once every client was connected and had its first Go, KiB.
    pub peak_rss_kib: u64,
    /// `(peak - idle) / clients`, bytes.
    pub bytes_per_client: u64,
    /// Resident set (VmRSS) at the same moment as the peak, KiB: what the connected clients
    /// hold once connecting is over.
    #[serde(default)]
    pub rss_kib: u64,
    /// `(rss - idle) / clients`, bytes: the memory per idle connected client.
    #[serde(default)]
    pub rss_bytes_per_client: u64,
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// What was measured: `conductor`, `baseline` or the address given.
    pub target: String,
    /// The clients spoke TLS.
    #[serde(default)]
    pub tls: bool,
    /// Simulated clients in all.
    pub clients: u32,
    /// Processes the clients ran in.
    pub procs: u32,
    /// Rounds measured.
    pub rounds: u64,
    /// Waves before the measured ones.
    pub warmup: u64,
    /// Simulated work per Go, microseconds.
    pub work_us: u64,
    /// Time until every client was connected and both hellos were done, milliseconds.
    pub connect_ms: f64,
    /// Measured rounds per second.
    pub rounds_per_sec: f64,
    /// Round time (first Go of a wave to the first Go of the next) in microseconds.
    pub round_us: Percentiles,
    /// Protocol violations seen, by kind.
    pub violations: Violations,
    /// All violations added up.
    pub violations_total: u64,
    /// The server's memory, when its process id is known.
    pub server_memory: Option<Memory>,
    /// The server's CPU time (user and system) per measured round, microseconds, when its
    /// process id is known: a figure that the machine's other load disturbs far less than
    /// rounds per second.
    pub server_cpu_us_per_round: Option<f64>,
    /// The clients' CPU time per measured round, microseconds (all processes together).
    pub client_cpu_us_per_round: Option<f64>,
    /// The exit code of a server this command started.
    pub server_exit: Option<i32>,
    /// The pace the spawned conductor ran at (`--pace-ms`), in milliseconds: `round_us` is then
    /// the distribution of the intervals between waves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_ms: Option<u64>,
    /// Waves the spawned conductor counted late (its final status), with a pace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_waves: Option<u64>,
    /// Scrapes of the server's `/metrics` during the run (`--scrape-http`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_scrapes: Option<Scrapes>,
    /// The spawned conductor's state file (`--state-file`, `--state-sync`), as it was left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<StateRecorded>,
    /// Every round time, only when asked for (to aggregate processes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_us: Vec<u64>,
}

impl Report {
    /// Rounds per second and percentiles from the wave start times, keeping the `rounds`
    /// intervals that follow the first `warmup` waves.
    pub fn timing(wave_starts_us: &[u64], warmup: u64, rounds: u64) -> (f64, Vec<u64>) {
        let from = warmup as usize;
        let to = (warmup + rounds) as usize;
        let Some(window) = wave_starts_us.get(from..=to) else {
            return (0.0, Vec::new());
        };
        let samples: Vec<u64> = window.windows(2).map(|w| w[1] - w[0]).collect();
        let span = window[window.len() - 1] - window[0];
        let per_sec = if span == 0 {
            0.0
        } else {
            rounds as f64 * 1e6 / span as f64
        };
        (per_sec, samples)
    }

    /// Combines the reports of processes that each ran some clients of the same rounds: the
    /// slowest connect, the median rate, percentiles over every process's round times.
    pub fn aggregate(target: String, parts: &[Report]) -> Report {
        let mut samples: Vec<u64> = parts.iter().flat_map(|p| p.samples_us.clone()).collect();
        let mut rates: Vec<f64> = parts.iter().map(|p| p.rounds_per_sec).collect();
        rates.sort_by(f64::total_cmp);
        let mut violations = Violations::default();
        for p in parts {
            violations.add(&p.violations);
        }
        let first = parts.first();
        Report {
            target,
            tls: parts.iter().any(|p| p.tls),
            clients: parts.iter().map(|p| p.clients).sum(),
            procs: parts.len() as u32,
            rounds: first.map_or(0, |p| p.rounds),
            warmup: first.map_or(0, |p| p.warmup),
            work_us: first.map_or(0, |p| p.work_us),
            connect_ms: parts.iter().map(|p| p.connect_ms).fold(0.0, f64::max),
            rounds_per_sec: rates.get(rates.len() / 2).copied().unwrap_or(0.0),
            round_us: Percentiles::of(&mut samples),
            violations,
            violations_total: violations.total(),
            server_memory: parts.iter().find_map(|p| p.server_memory),
            server_cpu_us_per_round: parts.iter().find_map(|p| p.server_cpu_us_per_round),
            client_cpu_us_per_round: parts.iter().map(|p| p.client_cpu_us_per_round).sum(),
            server_exit: None,
            pace_ms: first.and_then(|p| p.pace_ms),
            late_waves: None,
            http_scrapes: None,
            state_file: None,
            samples_us: Vec::new(),
        }
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The report for a person.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let per_round = if self.rounds_per_sec > 0.0 {
            1e6 / self.rounds_per_sec
        } else {
            0.0
        };
        let tls = if self.tls { " (TLS)" } else { "" };
        let _ = writeln!(s, "target       {}{tls}", self.target);
        let _ = writeln!(
            s,
            "clients      {} in {} process(es)",
            self.clients, self.procs
        );
        let _ = writeln!(
            s,
            "rounds       {} measured after {} warm-up, {} µs of work per Go",
            self.rounds, self.warmup, self.work_us
        );
        let _ = writeln!(
            s,
            "connect      {:.1} ms for {} clients (connect and both hellos)",
            self.connect_ms, self.clients
        );
        let _ = writeln!(
            s,
            "rounds/s     {:.1} ({per_round:.1} µs per round)",
            self.rounds_per_sec
        );
        let r = &self.round_us;
        let _ = writeln!(
            s,
            "round time   p50 {} µs, p90 {} µs, p99 {} µs, max {} µs",
            r.p50, r.p90, r.p99, r.max
        );
        if let Some(pace) = self.pace_ms {
            let late = self.late_waves.map_or("?".to_string(), |n| n.to_string());
            let _ = writeln!(
                s,
                "pace         {pace} ms: the round time is the wave interval, min {} µs; {late} \
                 late wave(s)",
                r.min
            );
        }
        let v = &self.violations;
        let _ = writeln!(
            s,
            "violations   {} (go before done {}, step not next {}, mixed steps {}, early wave {})",
            self.violations_total, v.go_before_done, v.step_not_next, v.mixed_steps, v.early_wave
        );
        if let Some(m) = &self.server_memory {
            let _ = writeln!(
                s,
                "server rss   {} KiB idle, {} KiB peak with {} clients: {} bytes per client",
                m.idle_rss_kib, m.peak_rss_kib, self.clients, m.bytes_per_client
            );
            let _ = writeln!(
                s,
                "             {} KiB once connected: {} bytes per connected client",
                m.rss_kib, m.rss_bytes_per_client
            );
        }
        if let Some(cpu) = self.server_cpu_us_per_round {
            let _ = writeln!(s, "server cpu   {cpu:.2} µs per round");
        }
        if let Some(cpu) = self.client_cpu_us_per_round {
            let _ = writeln!(s, "client cpu   {cpu:.2} µs per round");
        }
        if let Some(state) = self.state_file {
            let synced = if state.mode == super::StateFileMode::Synced {
                ", synced after each record"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "state file   {} waves recorded{synced}{}",
                state.waves_recorded,
                if state.finished { "; finished" } else { "" }
            );
        }
        if let Some(scrapes) = self.http_scrapes {
            let _ = writeln!(
                s,
                "http         {} scrape(s) of /metrics, every {} s; {} failed",
                scrapes.ok,
                EVERY.as_secs(),
                scrapes.failed
            );
        }
        if let Some(code) = self.server_exit {
            let _ = writeln!(s, "server exit  {code}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples: Vec<u64> = (1..=100).rev().collect();
        let p = Percentiles::of(&mut samples);
        assert_eq!((p.min, p.p50, p.p90, p.p99, p.max), (1, 50, 90, 99, 100));
        assert_eq!(p.mean, 50.5);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn timing_skips_the_warm_up_and_counts_intervals() {
        let starts = [0, 50, 100, 110, 130, 160];
        let (rate, samples) = Report::timing(&starts, 2, 3);
        assert_eq!(samples, vec![10, 20, 30]);
        assert_eq!(rate, 3.0 * 1e6 / 60.0);
        assert_eq!(Report::timing(&starts, 2, 4).1, Vec::<u64>::new());
    }
}

/// What the spawned conductor's state file held at the end of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecorded {
    /// Recorded, or recorded and synced after each record.
    pub mode: super::StateFileMode,
    /// The waves of the last record: every wave of the run.
    pub waves_recorded: u64,
    /// The run was recorded as finished (its planned end came).
    pub finished: bool,
}
