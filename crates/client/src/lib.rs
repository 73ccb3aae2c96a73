//! A Lockstep participant in Rust: a blocking client on `std::net` around the participant state
//! machine of `lockstep-proto` ([`lockstep_proto::participant`]), which makes every protocol
//! decision. The protocol is described in the repository's `PROTOCOL.md`.
//!
//! # Layout
//! | item | owns |
//! |---|---|
//! | [`Client`] | one session: the hello, the conductor's events, the answers (`K`, `W`, `!`, `X`, `R`), reconnecting after an outage |
//! | [`Sender`] | sending through a client from another thread (a heartbeat, a signal handler) |
//! | [`Runner`] | a closure turned into a whole participant: `K`, a heartbeat of `W`, Done, the end |
//! | [`ClientError`] | what can go wrong, in words that say when |
//! | [`TlsConfig`], [`tls`] | TLS: the CA to trust, a client certificate, the conductor's name; PEM files and the words for TLS failures, which the conductor shares |
//!
//! Unlike the protocol crate, this one does I/O: a client owns a socket and reads the clock
//! for its timeouts, and the runner starts one heartbeat thread.
//!
//! ```no_run
//! use lockstep::{Client, Runner};
//!
//! let client = Client::connect("127.0.0.1:7878", "worker-1")?;
//! let summary = Runner::new(client).run(|step| {
//!     println!("working on step {step}");
//!     Ok(())
//! })?;
//! println!("{} steps done", summary.steps);
//! # Ok::<(), lockstep::ClientError>(())
//! ```
//!
//! The same by hand, for a program that wants to see every event:
//!
//! ```no_run
//! use lockstep::{Client, Event};
//!
//! let mut client = Client::connect("127.0.0.1:7878", "worker-2")?;
//! loop {
//!     match client.next_event()? {
//!         Event::Go(step) => {
//!             client.ack()?;
//!             println!("working on step {step}");
//!             client.done()?;
//!         }
//!         Event::Exit => break,
//!         Event::Refused(reason) => panic!("refused: {reason}"),
//!         other => println!("{other}"),
//!     }
//! }
//! # Ok::<(), lockstep::ClientError>(())
//! ```

// A participant owns a socket, reads the clock for its timeouts, runs a heartbeat thread and
// logs the conductor's broadcasts (see clippy.toml: only the core is kept free of I/O).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

mod connection;
mod error;
mod heartbeat;
mod link;
mod reconnect;
mod runner;
pub mod tls;

pub use connection::{Client, Sender, HELLO_TIMEOUT};
pub use error::ClientError;
pub use lockstep_proto::participant::{Event, Moment, ProtocolError};
pub use reconnect::{Outage, DEFAULT_RECONNECT, MAX_BACKOFF};
pub use runner::{Runner, StepError, Summary, DEFAULT_HEARTBEAT};
pub use tls::{TlsConfig, TlsError};

#[cfg(test)]
mod tests;

/// Every Rust snippet of the repository's README, compiled (and, unless marked `no_run`,
/// run) as a doc test of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeSnippets;
