//! The standard `process_*` metrics of this process, read from Linux's `/proc` when someone
//! scrapes: resident and virtual memory, open and allowed file descriptors, CPU seconds and the
//! start time, with the names and units every Prometheus client library uses. A value that
//! cannot be read is left out rather than shown wrong.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

use super::metrics::{float_gauge, gauge};

/// What is fixed for the life of the process: read once.
#[derive(Clone, Copy, Debug)]
pub struct Process {
    /// Clock ticks per second, the unit of `/proc/self/stat`'s times.
    ticks: f64,
    /// Bytes per memory page, the unit of its resident set.
    page_size: u64,
    /// Seconds since the Unix epoch when the process started.
    start_time: Option<f64>,
}

/// The process metrics of the moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident memory, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

/// The fields of `/proc/self/stat` used here, counted from 1 as proc(5) does.
const UTIME: usize = 14;
const STIME: usize = 15;
const STARTTIME: usize = 22;
const VSIZE: usize = 23;
const RSS: usize = 24;

impl Process {
    /// Reads the clock tick, the page size and the start time.
    pub fn new() -> Process {
        // SAFETY: sysconf only reads a system setting.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let ticks = if ticks > 0 { ticks as f64 } else { 100.0 };
        let page_size = u64::try_from(page).ok().filter(|&p| p > 0).unwrap_or(4096);
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|text| boot_time(&text));
        let started = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|text| stat_field(&text, STARTTIME));
        let start_time = boot.zip(started).map(|(b, s)| b as f64 + s as f64 / ticks);
        Process {
            ticks,
            page_size,
            start_time,
        }
    }

    /// The metrics of the moment.
    pub fn stats(&self) -> ProcessStats {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let field = |n| stat_field(&stat, n);
        let cpu = field(UTIME)
            .zip(field(STIME))
            .map(|(u, s)| (u + s) as f64 / self.ticks);
        ProcessStats {
            resident_bytes: field(RSS).map(|pages| pages * self.page_size),
            virtual_bytes: field(VSIZE),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as u64),
            max_fds: max_fds(),
            cpu_seconds: cpu,
            start_time_seconds: self.start_time,
        }
    }
}

impl ProcessStats {
    /// Adds the metrics that could be read to `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                self.resident_bytes,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                self.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                self.open_fds,
            ),
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                self.max_fds,
            ),
        ];
        for (name, help, value) in gauges {
            if let Some(v) = value {
                registry.register(name, help, gauge(i64::try_from(v).unwrap_or(i64::MAX)));
            }
        }
        if let Some(seconds) = self.cpu_seconds {
            let c = Counter::<f64, AtomicU64>::default();
            c.inc_by(seconds);
            registry.register(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                c,
            );
        }
        if let Some(start) = self.start_time_seconds {
            registry.register(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                float_gauge(start),
            );
        }
    }
}

/// Field `n` (from 1) of a `/proc/PID/stat` line. The command name, field 2, is in parentheses
/// and may hold spaces or parentheses itself: counting starts after its last `)`.
fn stat_field(stat: &str, n: usize) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n.checked_sub(3)?)?.parse().ok()
}

/// The boot time, seconds since the epoch, from `/proc/stat`'s `btime` line.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|n| n.trim().parse().ok())
}

/// The soft limit on open files.
fn max_fds() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (rc == 0).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_past_the_command_name() {
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 \
                    5000 123456789 300 18446744073709551615";
        assert_eq!(stat_field(stat, UTIME), Some(7));
        assert_eq!(stat_field(stat, STIME), Some(3));
        assert_eq!(stat_field(stat, STARTTIME), Some(5000));
        assert_eq!(stat_field(stat, VSIZE), Some(123_456_789));
        assert_eq!(stat_field(stat, RSS), Some(300));
        assert_eq!(stat_field("no parenthesis", 3), None);
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let stats = Process::new().stats();
        assert!(stats.resident_bytes.is_some_and(|b| b > 0), "{stats:?}");
        assert!(stats.virtual_bytes >= stats.resident_bytes, "{stats:?}");
        assert!(stats.open_fds.is_some_and(|n| n >= 3), "{stats:?}");
        assert!(stats.max_fds >= stats.open_fds, "{stats:?}");
        assert!(stats.cpu_seconds.is_some(), "{stats:?}");
        // Started after 2020 and not in the future (a day of slack for clocks).
        let start = stats.start_time_seconds.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(start > 1.58e9 && start < now + 86_400.0, "{start}");
    }
}
