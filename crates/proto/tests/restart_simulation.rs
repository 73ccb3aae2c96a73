//! Deterministic simulation of restarts (see `lockstep_proto::sim::restart`): the real core
//! killed at random instants — between steps, in the middle of writing its record, by a
//! planned restart — and started again from its state file, against participants that
//! reconnect. Every participant must run every step of the run once, in order, and the run
//! must reach its planned end with the planned number of waves. `cargo test` runs 2000
//! seeds; a soak runs more:
//!
//! ```sh
//! LOCKSTEP_RESTART_SEEDS=100000 cargo test --release -p lockstep-proto --test restart_simulation -- --nocapture
//! ```

// Measures its own wall time for the report it prints.
#![allow(clippy::disallowed_methods)]

use lockstep_proto::sim::restart::{run_restarts, RestartStats};

/// Seeds `cargo test` runs unless `LOCKSTEP_RESTART_SEEDS` says otherwise.
const DEFAULT_SEEDS: u64 = 2_000;

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {text:?}")),
    )
}

#[test]
fn every_participant_runs_every_step_once_across_restarts() {
    let seeds = env_u64("LOCKSTEP_RESTART_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let first = env_u64("LOCKSTEP_RESTART_FIRST").unwrap_or(0);
    let started = std::time::Instant::now();
    let mut total = RestartStats::default();
    for seed in first..first + seeds {
        match run_restarts(seed) {
            Ok(outcome) => total.add(&outcome.stats),
            Err(failure) => panic!("{failure}"),
        }
    }
    println!(
        "restart simulation: seeds {first}..{}: {total:?}, in {:.1} s",
        first + seeds,
        started.elapsed().as_secs_f64()
    );
    if seeds >= 1_000 {
        // Every kind of death happened, runs resumed, and participants were asked to repeat a
        // step they had done.
        assert!(total.kills > 0 && total.torn_writes > 0 && total.restarts > 0);
        assert!(total.resumed > 0 && total.repeats > 0 && total.reconnections > 0);
    }
}

#[test]
fn a_restart_seed_replays_exactly() {
    for seed in 0..20 {
        let first = run_restarts(seed).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(first, run_restarts(seed).unwrap_or_else(|f| panic!("{f}")));
    }
}
