//! Two workers advancing one shared toy model in lockstep, with the Rust client library.
//!
//! The model is a row of 31 cells that evolves by rule 90: at each step every cell becomes
//! the exclusive or of its two neighbours. Worker `left` computes cells 0..16 of each new row
//! and worker `right` cells 16..31. A new row needs the whole previous one, so neither worker
//! may start step n+1 before both have finished step n: the conductor's barrier gives exactly
//! that. Start a conductor that waits for both and runs 15 steps, then this example:
//!
//! ```sh
//! cargo run --release -- --min-clients 2 --rounds 15
//! cargo run --release --example two_workers          # in a second terminal
//! ```
//!
//! It prints the 16 rows, a Sierpinski triangle. `--port P` picks another conductor port.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use lockstep::{Client, ClientError, Runner};

/// Cells in a row.
const WIDTH: usize = 31;

/// The shared model: the finished rows and the row being computed.
struct Model {
    rows: Vec<Vec<bool>>,
    next: Vec<bool>,
    /// The step `next` belongs to.
    step: Option<u32>,
}

impl Model {
    /// One live cell in the middle.
    fn new() -> Model {
        let mut first = vec![false; WIDTH];
        first[WIDTH / 2] = true;
        Model {
            rows: vec![first.clone()],
            next: first,
            step: None,
        }
    }

    /// Computes `cells` of the new row for `step` from the last finished row.
    fn advance(&mut self, step: u32, cells: Range<usize>) {
        if self.step != Some(step) {
            // The first worker into a step files the row of the step before. Both workers
            // have finished that row: the conductor sends this step's Go only when all are Done.
            if self.step.is_some() {
                self.rows.push(self.next.clone());
            }
            self.step = Some(step);
        }
        let last = &self.rows[self.rows.len() - 1];
        for i in cells {
            self.next[i] = last[(i + WIDTH - 1) % WIDTH] ^ last[(i + 1) % WIDTH];
        }
    }

    /// The rows as text, the row of the last step included.
    fn picture(&self) -> String {
        let last = self.step.map(|_| &self.next);
        let mut text = String::new();
        for row in self.rows.iter().chain(last) {
            let line: String = row.iter().map(|&c| if c { '#' } else { ' ' }).collect();
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

/// Runs both workers against the conductor on `port` until it ends the run; returns the
/// picture.
pub fn simulate(port: u16) -> Result<String, ClientError> {
    let model = Arc::new(Mutex::new(Model::new()));
    let workers: Vec<_> = [("left", 0..WIDTH / 2 + 1), ("right", WIDTH / 2 + 1..WIDTH)]
        .into_iter()
        .map(|(name, cells)| {
            let model = Arc::clone(&model);
            std::thread::spawn(move || {
                let client = Client::connect(("127.0.0.1", port), name)?;
                Runner::new(client).run(|step| {
                    let mut model = model.lock().unwrap_or_else(PoisonError::into_inner);
                    model.advance(step, cells.clone());
                    Ok(())
                })
            })
        })
        .collect();
    for worker in workers {
        match worker.join() {
            Ok(result) => {
                result?;
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
    let model = model.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(model.picture())
}

fn main() {
    let mut port = 7878;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|p| p.parse())) {
            ("--port", Some(Ok(p))) => port = p,
            _ => {
                eprintln!("usage: two_workers [--port P]");
                std::process::exit(2);
            }
        }
    }
    match simulate(port) {
        Ok(picture) => print!("{picture}"),
        Err(e) => {
            eprintln!("two_workers: {e}");
            std::process::exit(1);
        }
    }
}
