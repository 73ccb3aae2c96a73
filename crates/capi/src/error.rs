//! The failure side of the C API: the negative codes the calls return, the thread-local text
//! of the last failure (`lockstep_last_error`), and [`guard`], which every entry point runs
//! its body in so that a panic becomes [`LOCKSTEP_ERR_INTERNAL`] instead of crossing into C.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_char, c_int, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use client::ClientError;

/// What a call came to: `LOCKSTEP_OK` or a negative error code. The calls return these values
/// as `int`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lockstep_status {
    /// Success.
    LOCKSTEP_OK = 0,
    /// An argument cannot be used: a NULL pointer, an id that is not 1 to 12 printable ASCII
    /// characters, text that is not printable ASCII, options of an unknown size or with settings
    /// that make no sense.
    LOCKSTEP_ERR_ARGUMENT = -1,
    /// No session could start: the address does not resolve, nobody listens there, or the
    /// conductor sent no hello in time.
    LOCKSTEP_ERR_CONNECT = -2,
    /// The conductor refused this participant (`R`): an address outside its `allow` list, a
    /// duplicate id, a full conductor, a broken rule. The message carries its reason.
    LOCKSTEP_ERR_REFUSED = -3,
    /// The conductor shut down because of an error (`E`).
    LOCKSTEP_ERR_CONDUCTOR_FAILED = -4,
    /// The connection closed or broke without the conductor saying goodbye, and the options
    /// said not to reconnect (`reconnect_ms` 0).
    LOCKSTEP_ERR_CONNECTION_LOST = -5,
    /// The conductor broke the protocol, or speaks another version of it.
    LOCKSTEP_ERR_PROTOCOL = -6,
    /// TLS failed: settings or files that cannot be used, a certificate refused on either side,
    /// or a conductor that does not speak TLS.
    LOCKSTEP_ERR_TLS = -7,
    /// The step callback returned non-zero: the step was refused (`step N: ...`) and the
    /// participant has ended.
    LOCKSTEP_ERR_STEP_FAILED = -8,
    /// The call is not allowed now, and nothing was sent: Done with no step in progress, a client
    /// that `lockstep_run`, `lockstep_leave` or `lockstep_refuse` has taken.
    LOCKSTEP_ERR_OUT_OF_TURN = -9,
    /// A bug in this library, caught before it reached the program. The message says what.
    LOCKSTEP_ERR_INTERNAL = -10,
    /// The connection was lost without the conductor saying goodbye and the conductor did not
    /// come back within the reconnect window (`reconnect_ms`). The message says when the
    /// connection was lost and why the last try to reconnect failed.
    LOCKSTEP_ERR_CONDUCTOR_GONE = -11,
}

pub use lockstep_status::*;

/// A failed call: its code and its words.
#[derive(Debug)]
pub struct Failure {
    /// Which kind of failure.
    pub code: lockstep_status,
    /// What happened, for `lockstep_last_error`.
    pub message: String,
}

impl Failure {
    /// An argument that cannot be used.
    pub fn argument(message: impl Into<String>) -> Failure {
        Failure {
            code: LOCKSTEP_ERR_ARGUMENT,
            message: message.into(),
        }
    }

    /// A call that is not allowed now.
    pub fn out_of_turn(message: impl Into<String>) -> Failure {
        Failure {
            code: LOCKSTEP_ERR_OUT_OF_TURN,
            message: message.into(),
        }
    }

    /// The same failure with `context` (the call, the setting) in front of its words.
    pub fn within(self, context: &str) -> Failure {
        Failure {
            code: self.code,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        // Every variant by name: a new one must be given a code here.
        let code = match &error {
            ClientError::InvalidId { .. } => LOCKSTEP_ERR_ARGUMENT,
            ClientError::Connect { .. } | ClientError::HelloTimeout { .. } => LOCKSTEP_ERR_CONNECT,
            ClientError::Refused { .. } => LOCKSTEP_ERR_REFUSED,
            ClientError::ConductorFailed { .. } => LOCKSTEP_ERR_CONDUCTOR_FAILED,
            ClientError::ConnectionLost { .. } => LOCKSTEP_ERR_CONNECTION_LOST,
            ClientError::ConductorGone { .. } => LOCKSTEP_ERR_CONDUCTOR_GONE,
            ClientError::VersionMismatch { .. } | ClientError::Protocol(_) => LOCKSTEP_ERR_PROTOCOL,
            ClientError::Tls { .. } | ClientError::NotTls { .. } | ClientError::TlsConfig(_) => {
                LOCKSTEP_ERR_TLS
            }
            ClientError::StepFailed { .. } => LOCKSTEP_ERR_STEP_FAILED,
            ClientError::OutOfTurn { .. } => LOCKSTEP_ERR_OUT_OF_TURN,
        };
        Failure {
            code,
            message: error.to_string(),
        }
    }
}

thread_local! {
    /// The words of this thread's last failure, as C reads them, and its code.
    static LAST: RefCell<(CString, c_int)> = RefCell::new((CString::default(), LOCKSTEP_OK as c_int));
}

/// Keeps `failure` as this thread's last error.
fn record(failure: &Failure) {
    // Our messages hold no NUL; should one ever, it must not cut the text short silently.
    let text = CString::new(failure.message.replace('\0', "\\0")).unwrap_or_default();
    // During the thread's teardown there is nobody left to read it.
    let _ = LAST.try_with(|last| *last.borrow_mut() = (text, failure.code as c_int));
}

/// The words of a panic's payload.
fn panic_words(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Runs an entry point's `body`: its value on success; on failure (or a panic) the failure is
/// recorded for `lockstep_last_error` and `failed(code)` is returned.
pub fn guard<T>(failed: impl FnOnce(c_int) -> T, body: impl FnOnce() -> Result<T, Failure>) -> T {
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        Err(Failure {
            code: LOCKSTEP_ERR_INTERNAL,
            message: format!(
                "internal error in liblockstep (please report it): {}",
                panic_words(payload.as_ref())
            ),
        })
    });
    match outcome {
        Ok(value) => value,
        Err(failure) => {
            record(&failure);
            failed(failure.code as c_int)
        }
    }
}

/// [`guard`] for the calls that return [`LOCKSTEP_OK`] or a code.
pub fn guard_code(body: impl FnOnce() -> Result<(), Failure>) -> c_int {
    guard(|code| code, || body().map(|()| LOCKSTEP_OK as c_int))
}

/// The message of the last failed call on the calling thread, or `""` if none failed yet.
/// Calls that succeed leave it as it is. The text belongs to the library and stays valid until
/// the next failing call on the same thread (or the thread's end): copy it to keep it. Never
/// NULL.
#[no_mangle]
pub extern "C" fn lockstep_last_error() -> *const c_char {
    LAST.try_with(|last| last.borrow().0.as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// The code of the last failed call on the calling thread (a negative `LOCKSTEP_ERR_*`), or
/// `LOCKSTEP_OK` if none failed yet: what `lockstep_connect` would have returned had it
/// returned a code.
#[no_mangle]
pub extern "C" fn lockstep_last_error_code() -> c_int {
    LAST.try_with(|last| last.borrow().1)
        .unwrap_or(LOCKSTEP_OK as c_int)
}
