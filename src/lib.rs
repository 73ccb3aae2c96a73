//! Lockstep: a barrier service over TCP. A conductor sends every participant a Go for step
//! *n*; each answers Done; only when all are Done (or gone) does step *n+1* go out.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`time`] | the core's own `Instant`/`Duration`; the core never reads a clock |
//! | [`wire`] | SPEC §2: validated ids and reasons, messages, encoding and incremental decoding |
//! | [`conn`] | SPEC §4: a connection's states and the one transition table |
//! | [`round`] | SPEC §5–§6: the pure round controller (waves, steps, `T`, `S`, the end) |
//! | [`core`] | the sans-IO conductor: connections + controller behind three calls; it never logs, it outputs events |
//! | [`cidr`] | the `allow` address blocks |
//! | [`status`] | SPEC §8: the status snapshot and its JSON and text forms |
//! | [`harness`] | a deterministic in-memory driver for tests and simulations |
//! | [`sim`] | deterministic simulation: the core against a seeded hostile world, for tests and fuzzing |
//! | [`invariants`] | the rules every state and step must keep, checked from outside the core |
//! | [`diagram`] | `fsm-diagrams/`, generated from the transition table and the round controller |
//!
//! Everything above performs no I/O: time and bytes come in as inputs, actions come out, so
//! any event loop can drive the same core. Around it, and never used by it:
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | SPEC §7: the keys of `config.json`, defined once; file, flags, checks |
//! | [`driver`] | the mio event loop: sockets, signals, the clock, status files, the log of the core's events |
//! | [`cli`] | the command line: `conductor`, `conductor join`, `conductor status`, `conductor bench`, their help |
//! | [`client`] | a blocking participant on `std::net`: [`client::Client`], [`client::Runner`] |
//!
//! # Driving the core
//! After every input, drain the outputs, then read the next deadline:
//!
//! ```
//! use lockstep::core::{Conductor, CoreConfig, Input, Output};
//! use lockstep::time::Instant;
//! use lockstep::wire::Id;
//!
//! let mut core = Conductor::new(CoreConfig::new(Id::new("conductor").unwrap()), Instant::ZERO);
//! let peer = "127.0.0.1:50000".parse().unwrap();
//! let conn = core.accept(Instant::from_millis(1), peer);
//! core.handle_input(Instant::from_millis(2), Input::Received { conn, bytes: b"A1worker-1    " });
//! while let Some(output) = core.poll_output() {
//!     match output {
//!         Output::Transmit(c) => {
//!             let n = core.pending(c).len(); // write these bytes to the socket
//!             core.handle_input(Instant::from_millis(2), Input::Sent { conn: c, n });
//!         }
//!         Output::Close(_c) => { /* drop the socket */ }
//!         Output::StatusDue => { /* render core.status(now) */ }
//!         Output::Event(event) => { /* log it: joined, refused, wave, round end, ... */ let _ = event; }
//!         Output::Exit(kind) => { /* flush, write the final status, exit */ let _ = kind.exit_code(); }
//!     }
//! }
//! let _next_tick = core.poll_timeout();
//! ```
//!
//! [`driver`] runs this loop on mio; `examples/threaded_server.rs` runs it on plain threads
//! and a channel, as a starting point for other event loops.
//!
//! # Panic policy
//! Nothing a peer sends and no timing of inputs may panic the core. Indexing into the slab is
//! done only for connection ids the core has just checked or created; the remaining
//! `unwrap`-like calls are on values whose validity is established a line above and say so.

#![warn(missing_docs)]

pub mod bench;
pub mod cidr;
pub mod cli;
pub mod client;
pub mod config;
pub mod conn;
pub mod core;
pub mod diagram;
pub mod driver;
pub mod harness;
pub mod invariants;
pub mod round;
pub mod sim;
pub mod status;
pub mod time;
pub mod wire;
