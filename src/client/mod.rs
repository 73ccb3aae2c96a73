//! A participant in Rust: a blocking client on `std::net` around the
//! [participant state machine](crate::participant). [`Client`] is the connection (hello, events, answers);
//! [`Runner`] turns a closure into a whole participant (`K`, heartbeat `W`, Done, the end).
//!
//! Unlike the core, this module does I/O: it owns a socket, reads the clock for timeouts and
//! the runner starts one heartbeat thread. Nothing in the core depends on it.
//!
//! ```no_run
//! use lockstep::client::{Client, Runner};
//!
//! let client = Client::connect("127.0.0.1:7878", "worker-1")?;
//! let summary = Runner::new(client).run(|step| {
//!     println!("working on step {step}");
//!     Ok(())
//! })?;
//! println!("{} steps done", summary.steps);
//! # Ok::<(), lockstep::client::ClientError>(())
//! ```
//!
//! The same by hand, for a program that wants to see every event:
//!
//! ```no_run
//! use lockstep::client::{Client, Event};
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
//! # Ok::<(), lockstep::client::ClientError>(())
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
mod runner;

pub use crate::participant::{Event, Moment, ProtocolError};
pub use connection::{Client, Sender, HELLO_TIMEOUT};
pub use error::ClientError;
pub use runner::{Runner, StepError, Summary, DEFAULT_HEARTBEAT};

#[cfg(test)]
mod tests;
