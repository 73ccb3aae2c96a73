//! One participant in Rust (the `lockstep` crate's Runner) that measures what its rounds cost,
//! for `benches/participants.sh`; the twin of `benches/participant.c`, which does the same over
//! liblockstep:
//!
//! ```sh
//! bench_participant ADDRESS ID WARMUP
//! ```
//!
//! runs the Runner with a step that does nothing but read the clocks, until the conductor ends
//! the run, then prints one JSON line: the steps done, the rounds measured (from the Go of step
//! WARMUP to the Go of the last step), their wall time as this participant saw it and this
//! process's CPU time (user + system, the heartbeat thread included) over them, in
//! microseconds. Events other than Go are not printed.

// Examples use clocks freely (see clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use lockstep::{Client, Runner};

/// This process's CPU time so far, user and system, in microseconds.
fn cpu_us() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) as f64;
    let micros = (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) as f64;
    seconds * 1e6 + micros
}

/// The clocks at the start and the end of the measurement.
struct Measure {
    warmup: u32,
    steps: u64,
    start: Option<(u32, Instant, f64)>,
    end: Option<(u32, Instant, f64)>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, id, warmup] = args.as_slice() else {
        eprintln!("usage: bench_participant ADDRESS ID WARMUP");
        std::process::exit(2);
    };
    let Ok(warmup) = warmup.parse() else {
        eprintln!("bench_participant: WARMUP is a number of steps, not {warmup:?}");
        std::process::exit(2);
    };
    let mut m = Measure {
        warmup,
        steps: 0,
        start: None,
        end: None,
    };
    let run = Client::connect(address.as_str(), id).and_then(|client| {
        Runner::new(client).on_event(|_| {}).run(|step| {
            m.steps += 1;
            if m.start.is_none() && step >= m.warmup {
                m.start = Some((step, Instant::now(), cpu_us()));
            }
            if m.start.is_some() {
                m.end = Some((step, Instant::now(), cpu_us()));
            }
            Ok(())
        })
    });
    if let Err(e) = run {
        eprintln!("bench_participant {id}: {e}");
        std::process::exit(1);
    }
    let (rounds, wall_us, cpu) = match (m.start, m.end) {
        (Some((first, t0, c0)), Some((last, t1, c1))) => (
            last - first,
            t1.duration_since(t0).as_secs_f64() * 1e6,
            c1 - c0,
        ),
        _ => (0, 0.0, 0.0),
    };
    println!(
        "{{\"lang\": \"rust\", \"id\": \"{id}\", \"steps\": {}, \"rounds\": {rounds}, \
         \"wall_us\": {wall_us:.1}, \"cpu_us\": {cpu:.1}}}",
        m.steps
    );
}
