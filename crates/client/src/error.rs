//! What can go wrong for a participant, in words that say what happened: refused (with the
//! conductor's reason), version mismatch, connection lost during step N, and the rest.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use lockstep_proto::participant::{Moment, ProtocolError};
use lockstep_proto::wire::{Reason, ShowByte, TextError};

use crate::tls::TlsError;

/// Everything [`Client`](super::Client) and [`Runner`](super::Runner) report as a failure.
#[derive(Debug)]
pub enum ClientError {
    /// The id is not 1 to 12 printable ASCII characters, or only spaces.
    InvalidId {
        /// The id as given.
        id: String,
        /// What is wrong with it.
        error: TextError,
    },
    /// No TCP connection could be made.
    Connect {
        /// The last address tried; `None` when the address could not be resolved.
        addr: Option<SocketAddr>,
        /// The operating system's error.
        error: io::Error,
    },
    /// The conductor's hello names a protocol version this client does not speak.
    VersionMismatch {
        /// The version byte the conductor sent.
        theirs: u8,
    },
    /// The conductor's hello did not arrive in time.
    HelloTimeout {
        /// How long the client waited.
        waited: Duration,
    },
    /// The conductor refused this participant and closed the connection.
    Refused {
        /// The conductor's words.
        reason: Reason,
        /// When it happened.
        at: Moment,
    },
    /// The conductor broadcast `E`: it is shutting down because of an error.
    ConductorFailed {
        /// When it happened.
        at: Moment,
    },
    /// The connection closed or broke without the conductor saying goodbye.
    ConnectionLost {
        /// When it happened.
        at: Moment,
        /// The operating system's error, or `None` when the conductor simply closed.
        error: Option<io::Error>,
    },
    /// The conductor sent something that is not valid here.
    Protocol(ProtocolError),
    /// The TLS session failed: a certificate problem (unknown issuer, expired, wrong name, a
    /// client certificate missing or refused) or a broken record, in words.
    Tls {
        /// When it happened.
        at: Moment,
        /// What failed.
        problem: String,
    },
    /// The conductor answered the TLS handshake with plaintext: it does not speak TLS.
    NotTls {
        /// What arrived, in words.
        problem: String,
    },
    /// The TLS settings cannot be used (a name that is no DNS name or IP address).
    TlsConfig(TlsError),
    /// The step's work failed; the reason was sent to the conductor as a refusal (if the
    /// connection still allowed it).
    StepFailed {
        /// The step.
        step: u32,
        /// The refusal sent, `step N: ...`.
        reason: Reason,
    },
    /// The connection was lost without a goodbye and the conductor did not come back within
    /// the reconnect window.
    ConductorGone {
        /// The window.
        window: Duration,
        /// Where the session was when the connection was lost.
        at: Moment,
        /// Why the last try to reconnect failed.
        last: Box<ClientError>,
    },
    /// A method was called when the session does not allow it (for example `done` with no
    /// step in progress); nothing was sent.
    OutOfTurn {
        /// The call.
        call: &'static str,
        /// When it was made.
        at: Moment,
    },
}

impl ClientError {
    /// The reason the conductor gave, for a refusal.
    pub fn refusal_reason(&self) -> Option<&Reason> {
        match self {
            ClientError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::InvalidId { id, error } => write!(f, "invalid id {id:?}: {error}"),
            ClientError::Connect {
                addr: Some(addr),
                error,
            } => write!(f, "cannot connect to the conductor at {addr}: {error}"),
            ClientError::Connect { addr: None, error } => {
                write!(f, "cannot find the conductor's address: {error}")
            }
            ClientError::VersionMismatch { theirs } => write!(
                f,
                "protocol version mismatch: the conductor speaks version {}, this client speaks 1",
                ShowByte(*theirs)
            ),
            ClientError::HelloTimeout { waited } => {
                write!(f, "the conductor sent no hello within {waited:?}")
            }
            ClientError::Refused { reason, at } => {
                write!(f, "refused by the conductor {at}: {reason}")
            }
            ClientError::ConductorFailed { at } => write!(
                f,
                "the conductor is shutting down because of an error (received {at})"
            ),
            ClientError::ConnectionLost { at, error: None } => {
                write!(
                    f,
                    "connection to the conductor lost {at}: closed without a goodbye"
                )
            }
            ClientError::ConnectionLost {
                at,
                error: Some(error),
            } => write!(f, "connection to the conductor lost {at}: {error}"),
            ClientError::Protocol(error) => write!(f, "protocol error: {error}"),
            ClientError::Tls { at, problem } => write!(f, "TLS failed {at}: {problem}"),
            ClientError::NotTls { problem } => f.write_str(problem),
            ClientError::TlsConfig(error) => write!(f, "TLS settings: {error}"),
            ClientError::StepFailed { reason, .. } => {
                write!(f, "step failed, refusal sent to the conductor: {reason}")
            }
            ClientError::ConductorGone { window, at, last } => write!(
                f,
                "the conductor did not come back within {} (connection lost {at}; last try: \
                 {last})",
                crate::reconnect::seconds(*window)
            ),
            ClientError::OutOfTurn { call, at } => {
                write!(f, "{call} is not allowed {at}; nothing was sent")
            }
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect { error, .. } => Some(error),
            ClientError::ConnectionLost {
                error: Some(error), ..
            } => Some(error),
            ClientError::InvalidId { error, .. } => Some(error),
            ClientError::Protocol(error) => Some(error),
            ClientError::TlsConfig(error) => Some(error),
            ClientError::ConductorGone { last, .. } => Some(last.as_ref()),
            _ => None,
        }
    }
}
