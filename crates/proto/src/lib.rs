//! The Lockstep protocol (version 1) without I/O: everything a conductor and a participant
//! decide, and nothing they do to sockets, clocks, files or threads. Time and bytes come in as
//! inputs, actions and events come out, so any event loop can drive it: the `conductor`
//! binary's mio loop, the blocking Rust participant (the `lockstep` crate), a simulator, a
//! relay, or an embedder's own runtime. The protocol itself is described in the repository's
//! `PROTOCOL.md`.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`time`] | our own `Instant`/`Duration`; nothing here reads a clock |
//! | [`wire`] | the bytes: validated ids and reasons, messages of each direction, encoding and incremental decoding |
//! | [`conn`] | one connection as the conductor sees it: its states and the transition table |
//! | [`round`] | the pure round controller: waves, steps, `T`, the `S` countdown, the end |
//! | [`core`] | the conductor: connections + controller behind three calls; it outputs bytes, closes, status, events and the state to record |
//! | [`record`] | the state record a conductor persists before each wave, and the state file's two slots |
//! | [`participant`] | the participant's side: bytes in, events and answers out |
//! | [`relay`] | a relay: the core downstream and a participant upstream, glued |
//! | [`cidr`] | the `allow` address blocks |
//! | [`status`] | the status snapshot the conductor's status files show |
//!
//! With the `testing` feature (for tests and fuzz targets), also: `harness` (a deterministic
//! in-memory driver), `sim` (the core against a seeded hostile world), `invariants` (the rules
//! every state and step must keep) and `diagram` (the state machine diagrams, generated from
//! the code that runs).
//!
//! # Driving the conductor core
//! After every input, drain the outputs, then read the next deadline:
//!
//! ```
//! use lockstep_proto::core::{Conductor, CoreConfig, Input, Output};
//! use lockstep_proto::time::Instant;
//! use lockstep_proto::wire::Id;
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
//!         Output::Persist(record) => { /* write it to the state file, before any more bytes */ let _ = record; }
//!         Output::Event(event) => { /* log it: joined, refused, wave, round end, ... */ let _ = event; }
//!         Output::Exit(kind) => { /* flush, write the final status, exit */ let _ = kind.exit_code(); }
//!     }
//! }
//! let _next_tick = core.poll_timeout();
//! ```
//!
//! The `conductor` binary runs this loop on mio; its `examples/threaded_server.rs` runs it on
//! plain threads and a channel, as a starting point for other event loops. The participant's
//! side works the same way: see [`participant::Participant`].
//!
//! # Panic policy
//! Nothing a peer sends and no timing of inputs may panic the core or the participant machine.
//! Indexing into the slab is done only for connection ids the core has just checked or
//! created; the remaining `unwrap`-like calls are on values whose validity is established a
//! line above and say so.

#![warn(missing_docs)]

pub mod cidr;
pub mod conn;
pub mod core;
pub mod participant;
pub mod record;
pub mod relay;
pub mod round;
pub mod status;
pub mod time;
pub mod wire;

#[cfg(any(test, feature = "testing"))]
pub mod diagram;
#[cfg(any(test, feature = "testing"))]
pub mod harness;
#[cfg(any(test, feature = "testing"))]
pub mod invariants;
#[cfg(any(test, feature = "testing"))]
pub mod sim;
