//! Riding out an outage (PROTOCOL.md "Surviving restarts"): a connection lost without the
//! conductor's `C`, `E` or `X` is a pause, not an end. The client tries to connect again with
//! backoff (at most [`MAX_BACKOFF`] between tries) for up to its window, says hello with the
//! same id, and continues the session from the step it completed last (see
//! [`Participant::reconnecting`](lockstep_proto::participant::Participant::reconnecting)). A
//! `duplicate id` refusal within the window means the conductor has not noticed the old
//! connection yet: it is tried again. Each outage is announced once, through the client's
//! outage hook ([`Outage`]).
//!
//! This module holds the settings, the announcement, which failures are worth another try, and
//! the loop; [`Client`](super::Client) opens the sessions.

use std::fmt;
use std::time::{Duration, Instant};

use lockstep_proto::participant::Moment;

use super::error::ClientError;

/// The reconnect window unless [`Client::reconnect_within`](super::Client::reconnect_within)
/// says otherwise.
pub const DEFAULT_RECONNECT: Duration = Duration::from_secs(30);
/// The longest wait between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The first wait between two tries; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);

/// An outage, as announced once when it begins: the line a person reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outage {
    /// Where the session was when the connection was lost.
    pub at: Moment,
    /// The operating system's error, or `None` when the conductor closed without a word.
    pub error: Option<String>,
    /// How long the client tries to reconnect.
    pub window: Duration,
}

impl fmt::Display for Outage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = self.error.as_deref().unwrap_or("closed without a goodbye");
        write!(
            f,
            "connection to the conductor lost {} ({how}); reconnecting for up to {}",
            self.at,
            seconds(self.window)
        )
    }
}

/// A duration for a person: whole seconds when it is whole, else milliseconds.
pub(crate) fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// How a client rides out outages.
pub(crate) struct Reconnect {
    /// Zero: an outage is the end.
    pub(crate) window: Duration,
    /// Told once per outage.
    pub(crate) announce: Box<dyn FnMut(&Outage) + Send>,
}

impl fmt::Debug for Reconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconnect")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Reconnect {
    /// The default window; each outage logged as a warning with the `log` crate, after `id`.
    pub(crate) fn logged(id: String) -> Reconnect {
        Reconnect {
            window: DEFAULT_RECONNECT,
            announce: Box::new(move |outage| log::warn!("{id}: {outage}")),
        }
    }
}

/// Whether a failed try is worth another within the window: the conductor is not there yet
/// (nothing listens, the connection breaks, no hello comes) or has not yet noticed the old
/// connection (`duplicate id`). A refusal of another kind, a protocol or TLS problem, will not
/// mend by itself.
pub(crate) fn worth_retrying(error: &ClientError) -> bool {
    match error {
        ClientError::Connect { .. }
        | ClientError::ConnectionLost { .. }
        | ClientError::HelloTimeout { .. } => true,
        ClientError::Refused { reason, .. } => reason.as_str().starts_with("duplicate id"),
        _ => false,
    }
}

/// Tries `attempt` (given the time left) until it works, fails for good, or the window that
/// began at `since` has passed; waits between tries, doubling from [`FIRST_BACKOFF`] up to
/// [`MAX_BACKOFF`]. After the window: [`ClientError::ConductorGone`] with the last failure.
pub(crate) fn retry<T>(
    since: Instant,
    window: Duration,
    at: Moment,
    mut attempt: impl FnMut(Duration) -> Result<T, ClientError>,
) -> Result<T, ClientError> {
    let deadline = since + window;
    let mut backoff = FIRST_BACKOFF;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let failure = match attempt(left) {
            Ok(done) => return Ok(done),
            Err(e) if worth_retrying(&e) => e,
            Err(e) => return Err(e),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::ConductorGone {
                window,
                at,
                last: Box::new(failure),
            });
        }
        std::thread::sleep(backoff.min(left));
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_proto::wire::Reason;

    #[test]
    fn an_outage_is_one_line_that_says_when_how_and_for_how_long() {
        let outage = Outage {
            at: Moment::After(5),
            error: None,
            window: DEFAULT_RECONNECT,
        };
        assert_eq!(
            outage.to_string(),
            "connection to the conductor lost after step 5 (closed without a goodbye); \
             reconnecting for up to 30 s"
        );
        let reset = Outage {
            error: Some("Connection reset by peer".into()),
            window: Duration::from_millis(1500),
            ..outage
        };
        assert!(reset
            .to_string()
            .ends_with("(Connection reset by peer); reconnecting for up to 1500 ms"));
    }

    #[test]
    fn only_failures_that_can_mend_are_tried_again() {
        let refused = |text: &str| ClientError::Refused {
            reason: Reason::new(text).unwrap(),
            at: Moment::BeforeFirstStep,
        };
        assert!(worth_retrying(&refused("duplicate id w")));
        assert!(!worth_retrying(&refused("full")));
        assert!(worth_retrying(&ClientError::HelloTimeout {
            waited: Duration::ZERO
        }));
        assert!(!worth_retrying(&ClientError::VersionMismatch {
            theirs: b'2'
        }));
    }

    #[test]
    fn tries_go_on_until_the_window_has_passed_then_say_so() {
        let mut tries = 0;
        let started = Instant::now();
        let error = retry(
            started,
            Duration::from_millis(200),
            Moment::After(1),
            |_| {
                tries += 1;
                Err::<(), _>(ClientError::HelloTimeout {
                    waited: Duration::ZERO,
                })
            },
        )
        .unwrap_err();
        assert!(tries >= 2, "{tries} tries");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(
            error.to_string().starts_with(
                "the conductor did not come back within 200 ms (connection lost after step 1; \
                 last try: the conductor sent no hello within"
            ),
            "{error}"
        );
        let mut n = 0;
        let got = retry(Instant::now(), DEFAULT_RECONNECT, Moment::After(1), |_| {
            n += 1;
            if n < 3 {
                Err(ClientError::HelloTimeout {
                    waited: Duration::ZERO,
                })
            } else {
                Ok(n)
            }
        });
        assert_eq!(got.unwrap(), 3);
    }
}
