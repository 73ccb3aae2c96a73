//! PROTOCOL.md "Surviving restarts" with the participants we ship, end to end: three
//! `conductor join` participants and one Python participant share a run of 60 rounds, each
//! step appending its number to the participant's file, while the conductor is SIGKILLed three
//! times at random moments, or restarted three times with SIGUSR1, and started again at once
//! with the same state file: every file holds 0..59 once each, in order, and every participant
//! exits 0. After SIGTERM or SIGINT the participants end with the conductor and new ones carry
//! on from the recorded step. A participant whose conductor never comes back fails after its
//! reconnect window: `join` with exit 4, Python with `lockstep.ConductorGone`.
//!
//! The moments are drawn from a seed printed with any failure (`LOCKSTEP_RESUME_SEED` sets
//! it): each stop comes 2 to 12 steps after the last, once some participant has written the
//! step before; where the others are then (running their step, done, reconnecting) is chance.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::participants::{join_with, python3, python_dir, Participant};
use common::{wait_for, Conductor, TempDir};

/// The rounds of every run here.
const ROUNDS: u32 = 60;
/// What a whole run may take, restarts and reconnections included.
const RUN_DEADLINE: Duration = Duration::from_secs(60);

/// The Python participant: `PORT FILE ID RECONNECT`; appends each step to FILE. Its steps
/// take a little time (15 ms), so that the run lasts long enough for the test to stop the
/// conductor where it means to, however slow the machine.
const PYTHON_PARTICIPANT: &str = "
import sys, time, lockstep
port, path, name, window = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
with lockstep.connect(name, port=port, reconnect=window) as conductor:
    for step in conductor:
        time.sleep(0.015)
        with open(path, 'a') as f:
            f.write(f'{step}\\n')
";

/// A participant process and the file its steps go to.
struct Worker {
    id: String,
    file: PathBuf,
    process: Participant,
}

/// Three `join` participants and a Python one on `port`, writing into `dir` (file names
/// start with `prefix`), riding out outages for `reconnect_ms`.
fn crew(port: u16, dir: &TempDir, prefix: &str, reconnect_ms: u32) -> Vec<Worker> {
    let mut workers = Vec::new();
    let window = reconnect_ms.to_string();
    for n in 1..=3 {
        let id = format!("{prefix}join{n}");
        let file = dir.path(&format!("{id}.txt"));
        let script = format!("echo \"$LOCKSTEP_STEP\" >> '{}'", file.display());
        let flags = ["--reconnect-ms", &window];
        let process = join_with(port, &id, &flags, &["sh", "-c", &script]);
        workers.push(Worker { id, file, process });
    }
    let id = format!("{prefix}py");
    let file = dir.path(&format!("{id}.txt"));
    let mut command = python3();
    command
        .env("PYTHONPATH", python_dir())
        .args(["-c", PYTHON_PARTICIPANT, &port.to_string()])
        .arg(&file)
        .args([&id, &(f64::from(reconnect_ms) / 1000.0).to_string()]);
    workers.push(Worker {
        id,
        file,
        process: Participant::spawn(command),
    });
    workers
}

/// The steps written to `file` so far.
fn steps_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a step: {l:?}")))
        .collect()
}

/// The conductor's arguments: the state file, the run, all four participants needed for a
/// wave (so that a resumed wave waits for everyone to be back), on `port` (0: a free one).
fn args<'a>(state: &'a str, port: &'a str) -> Vec<&'a str> {
    vec![
        "--state-file",
        state,
        "--rounds",
        "60",
        "--min-clients",
        "4",
        "--port",
        port,
        "--log-level",
        "info",
    ]
}

/// A small xorshift generator: the test's only randomness, from a seed it prints.
struct Moments(u64);

impl Moments {
    fn new() -> Moments {
        let seed = std::env::var("LOCKSTEP_RESUME_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                u64::from(now.subsec_nanos()) | 1
            });
        Moments(seed)
    }

    /// A number in `low..=high`.
    fn within(&mut self, low: u32, high: u32) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        low + (x % u64::from(high - low + 1)) as u32
    }
}

/// How far the run has come: the most steps any worker has written.
fn progress(workers: &[Worker]) -> u32 {
    workers
        .iter()
        .map(|w| steps_in(&w.file).len() as u32)
        .max()
        .unwrap_or(0)
}

/// Waits until some worker has written `step - 1`.
fn wait_for_step(workers: &[Worker], step: u32, context: &str) {
    wait_for(&format!("step {step} ({context})"), RUN_DEADLINE, || {
        (progress(workers) >= step).then_some(())
    });
}

/// Runs the crew through a run whose conductor is stopped by `signal` at three random moments
/// and started again at once; checks every file and exit.
fn three_restarts(signal: i32, tag: &str) {
    let dir = TempDir::new(tag);
    let state = dir.path("run.state");
    let state = state.to_str().expect("a path in UTF-8").to_string();
    let mut moments = Moments::new();
    let seed = moments.0;
    let mut context = format!("seed {seed}; stopped at steps");

    let mut conductor = Conductor::start(&args(&state, "0"));
    let port = conductor.addr.port().to_string();
    let mut workers = crew(conductor.addr.port(), &dir, "", 30_000);
    for lifetime in 0..3 {
        // A few steps on from where the run is: all three stops well before the end, so that
        // the run cannot reach it before the signal lands.
        let step = progress(&workers) + moments.within(2, 12);
        wait_for_step(&workers, step, &context);
        conductor.signal(signal);
        context += &format!(" {step}");
        if signal == libc::SIGUSR1 {
            let log = conductor.expect_exit(0);
            assert!(log.contains("SIGUSR1: restarting"), "{context}: {log}");
        } else {
            conductor.wait_exit(RUN_DEADLINE);
        }
        if lifetime > 0 && signal == libc::SIGUSR1 {
            // Its log is whole now (SIGKILL loses the lines still in memory): it had resumed.
            let log = conductor.log();
            let resumed = format!("from {state}; --fresh starts at 0");
            assert!(log.contains(&resumed), "{context}: {log}");
        }
        // Started again at once, on the same port, from the same file.
        conductor = Conductor::start(&args(&state, &port));
    }
    for w in &mut workers {
        let status = w.process.wait_exit(RUN_DEADLINE);
        let said = w.process.stderr();
        assert_eq!(status.code(), Some(0), "{}, {context}: {said}", w.id);
        assert_eq!(
            steps_in(&w.file),
            (0..ROUNDS).collect::<Vec<_>>(),
            "{}, {context}: {said}",
            w.id
        );
        assert!(
            said.contains("connection to the conductor lost"),
            "{}, {context}: the outages were not announced: {said}",
            w.id
        );
    }
    let log = conductor.expect_exit(0);
    assert!(log.contains("planned end"), "{context}: {log}");
    assert!(
        log.contains(&format!("from {state}; --fresh")),
        "{context}: {log}"
    );
}

#[test]
fn participants_ride_out_a_conductor_killed_three_times() {
    three_restarts(libc::SIGKILL, "resume-kill");
}

#[test]
fn participants_ride_out_three_planned_restarts() {
    three_restarts(libc::SIGUSR1, "resume-usr1");
}

#[test]
fn after_sigterm_or_sigint_new_participants_carry_on_from_the_recorded_step() {
    for (signal, tag) in [(libc::SIGTERM, "resume-term"), (libc::SIGINT, "resume-int")] {
        let dir = TempDir::new(tag);
        let state = dir.path("run.state");
        let state = state.to_str().expect("a path in UTF-8").to_string();
        let mut conductor = Conductor::start(&args(&state, "0"));
        let port = conductor.addr.port();
        let mut old = crew(port, &dir, "old", 30_000);
        wait_for_step(&old, 20, tag);
        conductor.signal(signal);
        conductor.expect_exit(0);
        // The participants end with the conductor.
        let mut last = Vec::new();
        for w in &mut old {
            let status = w.process.wait_exit(RUN_DEADLINE);
            assert_eq!(status.code(), Some(0), "{}: {}", w.id, w.process.stderr());
            let steps = steps_in(&w.file);
            assert_eq!(
                steps,
                (0..steps.len() as u32).collect::<Vec<_>>(),
                "{}",
                w.id
            );
            last.push(steps.len() as u32 - 1);
        }

        let port_text = port.to_string();
        let mut conductor = Conductor::start(&args(&state, &port_text));
        let resumed: u32 = wait_for("the resume line", RUN_DEADLINE, || {
            let log = conductor.log();
            let rest = log.split("resuming after step ").nth(1)?;
            rest.split(' ').next()?.parse().ok()
        });
        // The recorded step is the last wave sent: done by everyone, or by some.
        for (w, &done) in old.iter().zip(&last) {
            assert!(
                resumed == done || resumed == done + 1,
                "{tag}: {} ended after step {done}, the run resumes at {resumed}",
                w.id
            );
        }
        let mut new = crew(port, &dir, "new", 30_000);
        for w in &mut new {
            let status = w.process.wait_exit(RUN_DEADLINE);
            assert_eq!(status.code(), Some(0), "{}: {}", w.id, w.process.stderr());
            assert_eq!(
                steps_in(&w.file),
                (resumed..ROUNDS).collect::<Vec<_>>(),
                "{tag}: {}",
                w.id
            );
        }
        conductor.expect_exit(0);
    }
}

#[test]
fn participants_whose_conductor_never_comes_back_fail_after_their_window() {
    let dir = TempDir::new("resume-gone");
    let state = dir.path("run.state");
    let state = state.to_str().expect("a path in UTF-8").to_string();
    let mut conductor = Conductor::start(&args(&state, "0"));
    let mut workers = crew(conductor.addr.port(), &dir, "", 300);
    wait_for_step(&workers, 5, "the conductor never comes back");
    conductor.signal(libc::SIGKILL);
    conductor.wait_exit(RUN_DEADLINE);
    for w in &mut workers {
        let status = w.process.wait_exit(RUN_DEADLINE);
        let said = w.process.stderr();
        if w.id.ends_with("py") {
            assert_eq!(status.code(), Some(1), "{said}");
            assert!(
                said.contains(
                    "lockstep.errors.ConductorGone: the conductor did not come back within 0.3 s"
                ),
                "{said}"
            );
        } else {
            assert_eq!(status.code(), Some(4), "{}: {said}", w.id);
            assert!(
                said.contains("the conductor did not come back within 300 ms"),
                "{}: {said}",
                w.id
            );
        }
    }
}
