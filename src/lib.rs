//! The `conductor` binary's package: the drivers and tools around the protocol crate
//! (`lockstep-proto`), which holds every protocol decision and performs no I/O.
//!
//! # Layout
//! | module | owns |
//! |---|---|
//! | [`config`] | the keys of `config.json`, defined once; file, flags, checks |
//! | [`driver`] | the mio event loop: sockets, signals, the clock, status files, the log of the core's events, the HTTP endpoint |
//! | [`status`] | the status files' two forms: JSON for scripts, a table for people |
//! | [`cli`] | the command line: `conductor`, `conductor join`, `conductor status`, `conductor bench`, their help |
//! | [`tls_files`] | the TLS files a participant is given on the command line (`join`, `bench --addr`) |
//! | [`bench`] | `conductor bench`: the load generator, its checks and its report |
//!
//! The protocol is described in the repository's `PROTOCOL.md`; a participant written in Rust
//! uses the `lockstep` crate.

#![warn(missing_docs)]

pub mod bench;
pub mod cli;
pub mod config;
pub mod driver;
pub mod status;
pub mod tls_files;
