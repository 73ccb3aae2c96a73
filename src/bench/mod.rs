//! `conductor bench`: a load generator that measures a barrier server the way its clients
//! see it — connect time, rounds per second, round-time percentiles, protocol violations and,
//! for a server it started itself, the server's memory per client.
//!
//! Layout: [`check`] verifies the waves (pure), [`report`] computes and renders the figures
//! (pure), [`load`] runs N clients in one mio loop, [`server`] starts a conductor or the
//! baseline on a free port, [`procs`] spreads the clients over processes, [`procfs`] reads
//! `/proc` and raises the open-files limit, [`scrape`] scrapes a spawned conductor's
//! `/metrics` during the run, [`tls`] and [`certs`] give the clients TLS (and a spawned
//! conductor its certificates). This is an I/O module like the driver; the core knows nothing
//! of it.

// The load generator owns sockets, reads the clock and starts servers (see clippy.toml: only
// the core is kept free of I/O).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod certs;
pub mod check;
pub mod load;
pub mod procfs;
pub mod procs;
pub mod report;
pub mod scrape;
pub mod server;
pub mod tls;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use load::LoadSpec;
use report::{Memory, Percentiles, Report};
use scrape::Scraper;
use server::{ConductorRun, Server};

/// What to measure and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Which server.
    pub target: Target,
    /// Simulated clients.
    pub clients: u32,
    /// Processes to spread them over (as evenly as they go); `None` = all in this process.
    pub procs: Option<u32>,
    /// Rounds to measure.
    pub rounds: u64,
    /// Waves before the measured ones; `None` = a tenth of the rounds, 2 to 100.
    pub warmup: Option<u64>,
    /// Simulated work per Go, microseconds.
    pub work_us: u64,
    /// A server process whose memory to report (when this command did not start it).
    pub server_pid: Option<u32>,
    /// The number in the first client's id.
    pub first_id: u64,
    /// Put every round time in the report (for aggregating processes).
    pub samples: bool,
    /// Switch the spawned conductor's HTTP endpoint on and scrape its `/metrics` every second.
    pub scrape_http: bool,
    /// TLS for the simulated clients; `None` = plaintext.
    pub tls: Option<BenchTls>,
    /// `--spawn --relays K`: K relays between the spawned conductor and the clients, which
    /// are spread over them in turn; 0 = the clients connect to the conductor.
    pub relays: u32,
    /// The spawned conductor's `pace_ms`; `None` = its default (none).
    pub pace_ms: Option<u64>,
    /// Whether the spawned conductor keeps a state file, and syncs it.
    pub state_file: StateFileMode,
}

/// `--state-file` and `--state-sync`: what the spawned conductor records its run in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateFileMode {
    /// No state file (the default).
    #[default]
    Off,
    /// A state file in its scratch directory.
    On,
    /// A state file synced after each record (`state_sync`).
    Synced,
}

/// How the simulated clients speak TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BenchTls {
    /// `--spawn --tls`: the run makes a CA, the conductor's certificate and one client
    /// certificate per client, and starts the conductor with client certificates required.
    Generated,
    /// `--tls-ca` (and a client certificate): the settings every client shares.
    Files(tls::TlsFiles),
}

/// The server a run measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A server already listening at this address.
    Addr(String),
    /// A conductor this command starts (`--spawn`).
    Spawn,
    /// The baseline executable at this path, started by this command (`--baseline`).
    Baseline(PathBuf),
}

impl Options {
    /// The warm-up waves.
    pub fn warmup(&self) -> u64 {
        self.warmup.unwrap_or((self.rounds / 10).clamp(2, 100))
    }

    /// Refuses numbers no run can measure.
    pub fn check(&self) -> Result<(), String> {
        if self.clients == 0 || self.rounds == 0 || self.procs == Some(0) {
            return Err("--clients, --procs and --rounds must be at least 1".to_string());
        }
        if let Some(procs) = self.procs.filter(|&p| p > self.clients) {
            return Err(format!(
                "--procs {procs} is more than --clients {}: each process runs at least one client",
                self.clients
            ));
        }
        if self.scrape_http && self.target != Target::Spawn {
            return Err(
                "--scrape-http scrapes a conductor this command starts: add --spawn".into(),
            );
        }
        if self.state_file != StateFileMode::Off && self.target != Target::Spawn {
            return Err(
                "--state-file and --state-sync set up a conductor this command starts: add \
                 --spawn"
                    .into(),
            );
        }
        match (&self.tls, &self.target, self.procs) {
            (Some(_), _, Some(_)) => {
                return Err("--tls runs all clients in one process: drop --procs".to_string())
            }
            (Some(BenchTls::Generated), Target::Addr(_) | Target::Baseline(_), _) => {
                return Err(
                    "--tls makes its own certificates for --spawn only; with --addr \
                            give --tls-ca (and --tls-cert, --tls-key)"
                        .to_string(),
                )
            }
            (Some(BenchTls::Files(_)), Target::Spawn | Target::Baseline(_), _) => {
                return Err("--tls-ca is for --addr; --spawn --tls makes its own".to_string())
            }
            _ => {}
        }
        if self.relays > 0 {
            if self.target != Target::Spawn || self.tls.is_some() || self.procs.is_some() {
                return Err(
                    "--relays starts its own tree: it needs --spawn, without --tls or --procs"
                        .to_string(),
                );
            }
            if self.relays > self.clients {
                return Err(format!(
                    "--relays {} is more than --clients {}: each relay has at least one client",
                    self.relays, self.clients
                ));
            }
        }
        if self.pace_ms.is_some() && self.target != Target::Spawn {
            return Err(
                "--pace-ms sets the pace of a conductor this command starts: add --spawn".into(),
            );
        }
        if self.pace_ms.is_some_and(|p| p > crate::config::MAX_PACE_MS) {
            return Err(format!(
                "--pace-ms must be at most {}",
                crate::config::MAX_PACE_MS
            ));
        }
        if self.rounds > MAX_ROUNDS || self.warmup() > MAX_ROUNDS {
            return Err(format!(
                "--rounds and --warmup must be at most {MAX_ROUNDS}"
            ));
        }
        Ok(())
    }

    /// Every wave the clients take part in: warm-up, measured rounds, and the wave whose Go
    /// ends the last measured round.
    pub fn waves(&self) -> u64 {
        self.warmup() + self.rounds + 1
    }
}

/// The most rounds (and warm-up waves) one run measures: a run keeps every wave's start time,
/// and a billion waves is days of rounds at any speed.
pub const MAX_ROUNDS: u64 = 1_000_000_000;

/// Runs the benchmark and returns its report.
pub fn run(options: &Options) -> Result<Report, String> {
    options.check()?;
    if options.procs.is_none() {
        procfs::raise_open_files(u64::from(options.clients) + 64)?;
    }
    let mut client_tls = None;
    let mut server = match &options.target {
        Target::Addr(_) => None,
        Target::Spawn => {
            let ids = (0..u64::from(options.clients))
                .map(|i| load::client_id(options.first_id + i).map(|id| id.as_str().to_string()))
                .collect::<Result<Vec<_>, _>>()?;
            let tls_ids = (options.tls == Some(BenchTls::Generated)).then_some(ids.as_slice());
            let (server, tls) = Server::conductor(
                ConductorRun {
                    clients: if options.relays > 0 {
                        options.relays
                    } else {
                        options.clients
                    },
                    waves: options.waves(),
                    http: options.scrape_http,
                    pace_ms: options.pace_ms.unwrap_or(0),
                    state_file: options.state_file,
                },
                tls_ids,
            )?;
            client_tls = tls;
            Some(server)
        }
        Target::Baseline(path) => Some(Server::baseline(path, options.clients)?),
    };
    // The relays, each waiting for its share of the clients, which connect to them in turn.
    let relays: Vec<Server> = match &server {
        Some(root) if options.relays > 0 => (0..options.relays)
            .map(|r| Server::relay(root.addr, r, share(options.clients, options.relays, r)))
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let spread: Vec<SocketAddr> = relays.iter().map(|r| r.addr).collect();
    let (addr, target) = match (&options.target, &server) {
        (Target::Addr(a), _) => (resolve(a)?, a.clone()),
        (Target::Spawn, Some(_)) if options.relays > 0 => (
            spread[0],
            format!("conductor through {} relays", options.relays),
        ),
        (Target::Spawn, Some(s)) => (s.addr, "conductor".to_string()),
        (_, Some(s)) => (s.addr, "baseline".to_string()),
        (_, None) => return Err("no server".to_string()),
    };
    if let (Some(BenchTls::Files(files)), Target::Addr(a)) = (&options.tls, &options.target) {
        let host = a.rsplit_once(':').map_or(a.as_str(), |(host, _)| host);
        client_tls = Some(tls::ClientTls::from_files(files, host)?);
    }
    let pid = server.as_ref().map(Server::pid).or(options.server_pid);
    let idle_kib = pid.and_then(|p| procfs::status_kib(p, "VmRSS"));
    let scraper = server.as_ref().and_then(|s| s.http).map(Scraper::start);
    let measured = match options.procs {
        Some(procs) => procs::run(options, addr, procs, pid),
        None => measure(options, addr, &spread, pid, client_tls),
    };
    let scrapes = scraper.map(Scraper::stop);
    let mut report = match measured {
        Ok(r) => r,
        Err(e) => {
            let hint = server.as_mut().map_or(String::new(), Server::keep_log);
            return Err(format!("{e}{hint}"));
        }
    };
    report.target = target;
    report.http_scrapes = scrapes;
    if let (Some(idle), Some(m)) = (idle_kib, report.server_memory.as_mut()) {
        m.idle_rss_kib = idle;
        m.bytes_per_client =
            m.peak_rss_kib.saturating_sub(idle) * 1024 / u64::from(options.clients);
        m.rss_bytes_per_client = m.rss_kib.saturating_sub(idle) * 1024 / u64::from(options.clients);
    }
    if let Some(s) = server.as_mut() {
        report.server_exit = Some(s.wait()?);
        if options.pace_ms.is_some() {
            report.late_waves = s.late_waves();
        }
        if options.state_file != StateFileMode::Off {
            report.state_file = Some(s.state_recorded(options.state_file)?);
        }
    }
    for mut relay in relays {
        let code = relay.wait()?;
        if code != 0 {
            return Err(format!("a relay exited with {code}{}", relay.keep_log()));
        }
    }
    report.pace_ms = options.pace_ms;
    Ok(report)
}

/// How many of `clients` relay `r` of `relays` gets when they are dealt in turn.
fn share(clients: u32, relays: u32, r: u32) -> u32 {
    clients / relays + u32::from(r < clients % relays)
}

/// All clients in this process.
fn measure(
    options: &Options,
    addr: SocketAddr,
    spread: &[SocketAddr],
    pid: Option<u32>,
    tls: Option<tls::ClientTls>,
) -> Result<Report, String> {
    let tls_on = tls.is_some();
    let outcome = load::run(LoadSpec {
        addr,
        spread: spread.to_vec(),
        clients: options.clients as usize,
        waves: options.waves(),
        work: Duration::from_micros(options.work_us),
        first_id: options.first_id,
        server_pid: pid,
        warmup: options.warmup(),
        tls,
    })?;
    let per_round = |ns: Option<u64>| ns.map(|ns| ns as f64 / 1e3 / options.rounds as f64);
    let (rounds_per_sec, mut samples) =
        Report::timing(&outcome.wave_starts_us, options.warmup(), options.rounds);
    Ok(Report {
        target: String::new(),
        tls: tls_on,
        clients: options.clients,
        procs: 1,
        rounds: options.rounds,
        warmup: options.warmup(),
        work_us: options.work_us,
        connect_ms: outcome.connect.as_secs_f64() * 1e3,
        rounds_per_sec,
        round_us: Percentiles::of(&mut samples),
        violations: outcome.violations,
        violations_total: outcome.violations.total(),
        server_memory: outcome.server_peak_kib.map(|peak| Memory {
            idle_rss_kib: 0,
            peak_rss_kib: peak,
            bytes_per_client: 0,
            rss_kib: outcome.server_rss_kib.unwrap_or(0),
            rss_bytes_per_client: 0,
        }),
        server_cpu_us_per_round: per_round(outcome.server_cpu_ns),
        client_cpu_us_per_round: per_round(outcome.client_cpu_ns),
        server_exit: None,
        pace_ms: None,
        late_waves: None,
        http_scrapes: None,
        state_file: None,
        samples_us: if options.samples { samples } else { Vec::new() },
    })
}

fn resolve(addr: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| format!("--addr {addr:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("--addr {addr:?} has no address"))
}

#[cfg(test)]
mod tests {
    use super::share;

    #[test]
    fn clients_are_dealt_to_relays_in_turn() {
        let shares: Vec<u32> = (0..3).map(|r| share(10, 3, r)).collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!((0..4).map(|r| share(4, 4, r)).sum::<u32>(), 4);
    }
}
