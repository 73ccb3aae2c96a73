//! The sans-IO core alone, no sockets: client messages per second for N clients per round.
//! Every client answers each Go with `K!` (two messages in one input, as a socket read usually
//! delivers them) and every queued byte is reported written at once, as a driver would. The
//! core's events go through the binary's event log at its default level (info), with the
//! output thrown away, so whatever is logged or counted per wave is paid for here as in the
//! binary.
//!
//! ```text
//! cargo bench --bench core            # N = 1, 10, 100, 1000, 10000
//! cargo bench --bench core -- 1000    # only N = 1000
//! ```

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::time::Instant as Clock;

use lockstep_conductor::driver::log_events::{EventLog, Logger};
use lockstep_proto::core::{Conductor, ConnId, CoreConfig, Input, Output};
use lockstep_proto::time::Instant;
use lockstep_proto::wire::{ClientMsg, Id, RawHello, VERSION};

/// Messages per figure: enough to take a noticeable fraction of a second.
const MESSAGES: u64 = 4_000_000;

fn drain(core: &mut Conductor, log: &mut EventLog, now: Instant) {
    while let Some(output) = core.poll_output() {
        match output {
            Output::Transmit(conn) => {
                let n = core.pending(conn).len();
                core.handle_input(now, Input::Sent { conn, n });
            }
            Output::Event(event) => log.record(now, &event, &mut Logger),
            Output::Close(_) | Output::StatusDue | Output::Persist(_) | Output::Exit(_) => {}
        }
    }
}

/// A conductor with `n` clients past their hello and the first wave sent.
fn setup(n: u32, log: &mut EventLog) -> (Conductor, Vec<ConnId>) {
    let mut config = CoreConfig::new(Id::new("conductor").expect("valid id"));
    config.rounds.min_clients = n;
    config.max_clients = n;
    config.status_interval = None;
    let mut core = Conductor::new(config, Instant::ZERO);
    let peer = "127.0.0.1:40000".parse().expect("address");
    let mut conns = Vec::new();
    let mut hello = Vec::new();
    for i in 0..n {
        let conn = core.accept(Instant::ZERO, peer);
        hello.clear();
        let id = Id::new(&format!("c{i}")).expect("valid id");
        ClientMsg::Hello(RawHello {
            version: VERSION,
            id: *id.as_wire(),
        })
        .encode_into(&mut hello);
        core.handle_input(
            Instant::ZERO,
            Input::Received {
                conn,
                bytes: &hello,
            },
        );
        drain(&mut core, log, Instant::ZERO);
        conns.push(conn);
    }
    (core, conns)
}

/// Runs `rounds` rounds and returns the messages handled and the seconds taken.
fn run(n: u32, rounds: u64) -> (u64, f64) {
    let mut log = EventLog::new();
    let (mut core, conns) = setup(n, &mut log);
    let started = Clock::now();
    let mut now = Instant::ZERO;
    for _ in 0..rounds {
        now = Instant::from_micros(now.as_micros() + 10);
        for &conn in &conns {
            core.handle_input(now, Input::Received { conn, bytes: b"K!" });
            drain(&mut core, &mut log, now);
        }
        if core.poll_timeout().is_some_and(|t| t <= now) {
            core.handle_input(now, Input::Tick);
            drain(&mut core, &mut log, now);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        core.rounds().waves_sent(),
        rounds + 1,
        "every round must have ended"
    );
    (2 * u64::from(n) * rounds, seconds)
}

fn main() {
    let config = simplelog::ConfigBuilder::new().build();
    simplelog::WriteLogger::init(log::LevelFilter::Info, config, std::io::sink())
        .expect("install the logger");
    let only: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if only.is_empty() {
        vec![1, 10, 100, 1000, 10_000]
    } else {
        only
    };
    println!("clients  rounds     messages   msgs/s (M)   ns/msg");
    for n in sizes {
        let rounds = (MESSAGES / (2 * u64::from(n))).max(1);
        let (messages, seconds) = run(n, rounds);
        println!(
            "{n:>7} {rounds:>7} {messages:>12} {:>12.2} {:>8.1}",
            messages as f64 / seconds / 1e6,
            seconds * 1e9 / messages as f64
        );
    }
}
