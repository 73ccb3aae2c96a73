//! Deterministic simulation: the real core against seeded hostile worlds (see
//! `lockstep_proto::sim`), every invariant checked after every step. `cargo test` runs a few thousand
//! seeds; a soak runs more:
//!
//! ```sh
//! LOCKSTEP_SIM_SEEDS=100000 cargo test --release -p lockstep-proto --test simulation -- --nocapture
//! ```
//!
//! `LOCKSTEP_SIM_FIRST` moves the first seed (default 0); `LOCKSTEP_SIM_SEED=n` replays one
//! seed with its trace (the `replay` test).

// Measures its own wall time for the report it prints.
#![allow(clippy::disallowed_methods)]

use lockstep_proto::sim::{self, Stats, FAULTS, REFUSALS};

/// Seeds `cargo test` runs unless `LOCKSTEP_SIM_SEEDS` says otherwise.
const DEFAULT_SEEDS: u64 = 5_000;

fn env_u64(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a whole number, got {text:?}")),
    )
}

/// Runs `seeds` seeds from `first`; on a failure, replays it with a trace and panics with the
/// seed and how to replay it.
fn run_seeds(first: u64, seeds: u64) -> Stats {
    let mut total = Stats::default();
    for seed in first..first + seeds {
        match sim::run(seed) {
            Ok(outcome) => total.add(&outcome.stats),
            Err(failure) => {
                let traced = sim::run_traced(seed, 60).err().unwrap_or(failure);
                panic!("{traced}");
            }
        }
    }
    total
}

#[test]
fn every_seed_keeps_every_invariant() {
    let seeds = env_u64("LOCKSTEP_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    let first = env_u64("LOCKSTEP_SIM_FIRST").unwrap_or(0);
    let started = std::time::Instant::now();
    let total = run_seeds(first, seeds);
    println!(
        "simulation: seeds {first}..{}: {} simulated rounds ({} waves), {} steps, {} clients, \
         {:.0} s simulated, in {:.1} s",
        first + seeds,
        total.rounds,
        total.waves,
        total.steps,
        total.clients,
        total.simulated_us as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    println!("  faults: {:?}", total.faults);
    println!("  refusals: {:?}", total.refusals);
    println!("  ends: {:?}", total.ends);
    println!("  run control: {:?}", total.control);
    println!(
        "  partial writes: {}, time jumps: {}",
        total.partial_writes, total.time_jumps
    );
    if seeds >= 1_000 {
        // The hostile world really is hostile: every fault, every refusal and every way of
        // ending occurred.
        for fault in FAULTS {
            let name = format!("{fault:?}");
            assert!(total.faults.get(&name).is_some_and(|&n| n > 0), "no {name}");
        }
        for kind in [
            "NoHello",
            "Slowloris",
            "BadVersion",
            "BlankId",
            "BadId",
            "Duplicate",
        ] {
            assert!(total.faults.get(kind).is_some_and(|&n| n > 0), "no {kind}");
        }
        for reason in REFUSALS {
            assert!(
                total.refusals.get(reason).is_some_and(|&n| n > 0),
                "no {reason}"
            );
        }
        for end in ["Planned", "Graceful", "Interrupt", "Fatal", "Restart"] {
            assert!(total.ends.get(end).is_some_and(|&n| n > 0), "no {end} end");
        }
        assert!(total.partial_writes > 0 && total.time_jumps > 0);
        // Every command of `conductor ctl` was given, some refused, and run control paused at
        // holds, counted late waves and sent `T` during long pauses.
        for name in [
            "pause",
            "resume",
            "step",
            "hold-at",
            "pace",
            "exempt",
            "refused",
            "held",
            "late wave",
            "still paused",
        ] {
            assert!(
                total.control.get(name).is_some_and(|&n| n > 0),
                "no {name}: {:?}",
                total.control
            );
        }
    }
}

#[test]
fn a_seed_replays_exactly() {
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let first = sim::run(seed).unwrap_or_else(|f| panic!("{f}"));
        let second = sim::run(seed).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(first, second, "seed {seed} did not replay exactly");
        let traced = sim::run_traced(seed, 10).unwrap_or_else(|f| panic!("{f}"));
        assert_eq!(first, traced, "tracing changed seed {seed}");
        hashes.insert(first.trace_hash);
    }
    assert_eq!(hashes.len(), 20, "different seeds gave the same trace");
}

#[test]
fn replay() {
    let Some(seed) = env_u64("LOCKSTEP_SIM_SEED") else {
        return;
    };
    match sim::run_traced(seed, 100_000) {
        Ok(outcome) => println!("{outcome:?}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Trees of relays in the simulator: seeded shapes (one to three relays with one to three
/// participants each, some on the root), participants leaving, relays dying and relays' upstream
/// connections cut (the relay reconnects) for a while, then calm; the whole tree's invariants
/// after every action (one barrier, steps up by one) and the root's planned end once faults
/// stop.
#[test]
fn trees_of_relays_are_one_barrier_and_reach_their_end() {
    let seeds = env_u64("LOCKSTEP_TREE_SEEDS").unwrap_or(300);
    let (mut completed_steps, mut cuts, mut reconnected) = (0, 0, 0);
    for seed in 0..seeds {
        let tree = sim::tree::simulate(seed).unwrap_or_else(|e| panic!("{e}"));
        cuts += tree.cuts;
        reconnected += tree.reconnected_after_cut;
        // The calm end reached everyone still connected.
        for (leaf, steps, goodbye) in tree.survivors() {
            assert!(goodbye, "seed {seed}: leaf-{leaf} did not hear the end");
            completed_steps += steps.len();
        }
    }
    assert!(completed_steps > 0);
    println!(
        "{seeds} trees: {cuts} upstreams cut, {reconnected} relays connected again after a cut"
    );
    if seeds >= 100 {
        assert!(
            cuts > 0 && reconnected > 0,
            "{cuts} cuts, {reconnected} reconnections"
        );
    }
}
