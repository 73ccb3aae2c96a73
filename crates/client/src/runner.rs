//! [`Runner`]: the whole participant loop around a closure. For each Go it sends `K`, calls
//! the closure on the caller's thread while a helper thread sends `W` every heartbeat, and
//! sends Done when the closure returns. It ends cleanly on `C`/`X` and returns an error that
//! carries the conductor's words on `E` or `R`. Outages are ridden out by the client (see
//! [`Client`]): a step repeated after a reconnection ([`Event::Repeated`]) is answered without
//! calling the closure, so that it runs at most once per step.
//!
//! Design: the closure runs on the calling thread, so it may borrow anything and need not be
//! `Send`. The heartbeat thread only sends `W`, through the same participant machine, while a step
//! runs; the caller writes nothing during a step and stops the heartbeat before sending Done
//! (see the heartbeat module), so socket writes never overlap. Nobody reads during a step: a
//! `?` or broadcast that arrives meanwhile is handled when the step ends (the `W` heartbeat
//! keeps the conductor from counting a busy participant as silent).

use std::fmt;
use std::time::Duration;

use super::connection::Client;
use super::error::ClientError;
use super::heartbeat::Heartbeat;
use lockstep_proto::participant::{Event, Moment};
use lockstep_proto::wire::Reason;

/// The heartbeat interval unless [`Runner::heartbeat`] says otherwise; well under the
/// conductor's default `probe_after_ms` of 5 s.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(1);

/// Why a step's work failed; its text becomes the refusal `step N: <text>`.
///
/// Whatever converts into `Box<dyn Error + Send + Sync>` converts into it — any error type that
/// is `Send + Sync`, such a box, a `String`, a `&str` — so `?` works inside the step closure on
/// what the functions it calls return. For a message of your own use [`StepError::new`] or
/// `Err("…".into())`. (A `Box<dyn Error>` without `Send + Sync` cannot convert: pass its text,
/// `.map_err(|e| e.to_string())?`.)
pub struct StepError(String);

impl StepError {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> StepError {
        StepError(message.into())
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for StepError {
    fn from(error: E) -> StepError {
        StepError(error.into().to_string())
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StepError({:?})", self.0)
    }
}

/// How a run that ended cleanly went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Steps done.
    pub steps: u64,
    /// The last step done.
    pub last_step: Option<u32>,
    /// The conductor said `C` (ceasing operation) before closing.
    pub ceased: bool,
}

/// Runs a participant: connect a [`Client`], wrap it, then [`run`](Runner::run).
///
/// Events other than Go (`T`, `S n`, `C`, `E`, `X`, `R`) go to the observer set with
/// [`on_event`](Runner::on_event); without one they are logged at info level with the `log`
/// crate (shown only if the program installs a logger).
pub struct Runner<'a> {
    client: Client,
    heartbeat: Option<Duration>,
    observer: Box<dyn FnMut(&Event) + 'a>,
}

impl<'a> Runner<'a> {
    /// A runner with the default heartbeat and the logging observer.
    pub fn new(client: Client) -> Runner<'a> {
        Runner {
            client,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            observer: Box::new(|event| log::info!("conductor: {event}")),
        }
    }

    /// Sets the interval of `W` while a step runs; `None` or zero sends none.
    pub fn heartbeat(mut self, every: Option<Duration>) -> Runner<'a> {
        self.heartbeat = every.filter(|d| !d.is_zero());
        self
    }

    /// Calls `observer` with every event other than Go, as it arrives ([`Event::Repeated`]
    /// included: the step is not run again).
    pub fn on_event(mut self, observer: impl FnMut(&Event) + 'a) -> Runner<'a> {
        self.observer = Box::new(observer);
        self
    }

    /// Runs until the conductor ends the session. `step` is called with each step number; an
    /// error from it is sent to the conductor as the refusal `step N: <error>` and returned as
    /// [`ClientError::StepFailed`].
    ///
    /// Ends with `Ok` on `X` (or when the connection closes after `C`); with
    /// [`ClientError::Refused`] on `R`, [`ClientError::ConductorFailed`] on `E` (once `X`
    /// follows or the connection closes), and, when the connection ends without a word,
    /// [`ClientError::ConductorGone`] once the client's reconnect window has passed
    /// ([`ClientError::ConnectionLost`] at once with reconnecting switched off).
    pub fn run<F>(mut self, mut step: F) -> Result<Summary, ClientError>
    where
        F: FnMut(u32) -> Result<(), StepError>,
    {
        let heartbeat = match self.heartbeat {
            Some(every) => Some(Heartbeat::start(self.client.sender(), every).map_err(
                |error| ClientError::ConnectionLost {
                    at: self.client.moment(),
                    error: Some(error),
                },
            )?),
            None => None,
        };
        let mut summary = Summary::default();
        let mut failed_at: Option<Moment> = None;
        loop {
            let event = match self.client.next_event() {
                Ok(event) => event,
                Err(ClientError::ConnectionLost { .. }) if summary.ceased => return Ok(summary),
                Err(lost @ ClientError::ConnectionLost { .. }) => {
                    return Err(failed_at.map_or(lost, |at| ClientError::ConductorFailed { at }))
                }
                Err(e) => return Err(e),
            };
            let number = match event {
                Event::Go(number) => number,
                other => {
                    (self.observer)(&other);
                    match other {
                        Event::Cease => summary.ceased = true,
                        Event::ErrorShutdown => failed_at = Some(self.client.moment()),
                        Event::Exit => {
                            return match failed_at {
                                Some(at) => Err(ClientError::ConductorFailed { at }),
                                None => Ok(summary),
                            }
                        }
                        Event::Refused(reason) => {
                            return Err(ClientError::Refused {
                                reason,
                                at: self.client.moment(),
                            })
                        }
                        _ => {}
                    }
                    continue;
                }
            };
            // A failed write means the connection is gone: skip to the read that says how.
            if self.client.ack().is_err() {
                continue;
            }
            let outcome = {
                let _beating = heartbeat.as_ref().map(Heartbeat::begin);
                step(number)
            };
            match outcome {
                Ok(()) => {
                    if self.client.done().is_ok() {
                        summary.steps += 1;
                        summary.last_step = Some(number);
                    }
                }
                Err(error) => {
                    drop(heartbeat);
                    let reason = Reason::lossy(&format!("step {number}: {error}"));
                    // Sent if the connection still allows; the step's failure is the news.
                    let _ = self.client.refuse(reason.as_str());
                    return Err(ClientError::StepFailed {
                        step: number,
                        reason,
                    });
                }
            }
        }
    }
}
