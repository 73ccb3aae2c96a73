//! `lockstep_event`: what the conductor said, as C reads it, and `lockstep_next_event`, which
//! waits for it (answering the conductor's probes meanwhile). The event's text and reason are
//! strings the client keeps until the next event or `lockstep_close`.

use std::ffi::{c_char, c_int, CString};
use std::time::Duration;

use client::Event;

use super::error::{guard, Failure};
use super::handle::{handle, lockstep_client};

/// What kind of event a `lockstep_event` is.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum lockstep_event_kind {
    /// `!`: start the step in `number`. Answer with `lockstep_ack`, then `lockstep_done`.
    LOCKSTEP_EVENT_GO = 1,
    /// `T`: the round is taking longer than expected.
    LOCKSTEP_EVENT_SLOW = 2,
    /// `S n`: the conductor will end after `number` more steps, counting the next one.
    LOCKSTEP_EVENT_SHUTTING_DOWN = 3,
    /// `C`: the operator ends the run; `X` follows.
    LOCKSTEP_EVENT_CEASE = 4,
    /// `E`: the conductor is shutting down because of an error; `X` follows.
    LOCKSTEP_EVENT_ERROR_SHUTDOWN = 5,
    /// `X`: the conductor closes the connection. The session is over.
    LOCKSTEP_EVENT_EXIT = 6,
    /// `R`: the conductor refused this participant (`reason` says why) and closes the connection.
    LOCKSTEP_EVENT_REFUSED = 7,
    /// The first Go after a reconnection was for the step in `number`, completed before the
    /// connection was lost: Done is already sent. Do not run the step again.
    LOCKSTEP_EVENT_REPEATED = 8,
}

pub use lockstep_event_kind::*;

/// One thing the conductor said. Its strings belong to the client: they stay valid until the
/// next `lockstep_next_event` on it, or `lockstep_close` (and for the events `lockstep_run`
/// passes on, until the callback returns). The struct keeps this layout in later versions.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lockstep_event {
    /// What the conductor said.
    pub kind: lockstep_event_kind,
    /// The step for `LOCKSTEP_EVENT_GO` and `LOCKSTEP_EVENT_REPEATED`, the steps left for
    /// `LOCKSTEP_EVENT_SHUTTING_DOWN`, otherwise 0.
    pub number: u32,
    /// The event in plain words (`"shutting down after 3 more steps"`), the words the
    /// conductor's log and `conductor join` use. Never NULL.
    pub text: *const c_char,
    /// For `LOCKSTEP_EVENT_REFUSED`, the conductor's reason; otherwise NULL.
    pub reason: *const c_char,
}

/// An event's kind and number, `None` for those the client handles itself (the hello, probes
/// and their answers), which never reach the program.
fn kind(event: &Event) -> Option<(lockstep_event_kind, u32)> {
    Some(match event {
        Event::Go(step) => (LOCKSTEP_EVENT_GO, *step),
        Event::Repeated(step) => (LOCKSTEP_EVENT_REPEATED, *step),
        Event::Slow => (LOCKSTEP_EVENT_SLOW, 0),
        Event::ShuttingDown(n) => (LOCKSTEP_EVENT_SHUTTING_DOWN, *n),
        Event::Cease => (LOCKSTEP_EVENT_CEASE, 0),
        Event::ErrorShutdown => (LOCKSTEP_EVENT_ERROR_SHUTDOWN, 0),
        Event::Exit => (LOCKSTEP_EVENT_EXIT, 0),
        Event::Refused(_) => (LOCKSTEP_EVENT_REFUSED, 0),
        Event::Hello(_) | Event::Probed | Event::Here => return None,
    })
}

/// An event's strings, kept while C reads them.
pub(crate) struct Strings {
    /// The event in plain words.
    pub(crate) text: CString,
    /// A refusal's reason.
    pub(crate) reason: Option<CString>,
}

/// `event` for C, with its strings, which the returned event points into; `None` for the
/// events the client handles itself.
pub(crate) fn convert(event: &Event) -> Option<(lockstep_event, Strings)> {
    let (kind, number) = kind(event)?;
    // The protocol's text is printable ASCII, free of NULs.
    let text = CString::new(event.to_string()).unwrap_or_default();
    let reason = match event {
        Event::Refused(reason) => Some(CString::new(reason.as_str()).unwrap_or_default()),
        _ => None,
    };
    let event = lockstep_event {
        kind,
        number,
        text: text.as_ptr(),
        reason: reason.as_ref().map_or(std::ptr::null(), |r| r.as_ptr()),
    };
    Some((event, Strings { text, reason }))
}

/// Waits for the conductor's next event, at most `timeout_ms` milliseconds (a negative value
/// waits as long as it takes), answering its probes meanwhile. Returns 1 with the event in
/// `*event`, 0 when the time passed without one, or a negative error code (a lost connection,
/// `LOCKSTEP_ERR_OUT_OF_TURN` once `lockstep_run`, `lockstep_leave` or `lockstep_refuse` took
/// the client). The hello and probes are handled inside and never returned.
///
/// A connection lost without a goodbye is ridden out for `reconnect_ms` (see
/// `lockstep_options`): the call reconnects and waits on; the first Go after it, if for the
/// step completed last, comes as `LOCKSTEP_EVENT_REPEATED` (Done is already sent: do not run
/// the step again). A loss found while a step is in progress returns
/// `LOCKSTEP_ERR_CONNECTION_LOST` once; finish the step and call `lockstep_done` (nothing is
/// sent), and the next call reconnects.
///
/// # Safety
/// `client` is NULL or a live client; `event` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn lockstep_next_event(
    client: *mut lockstep_client,
    timeout_ms: i32,
    event: *mut lockstep_event,
) -> c_int {
    guard(
        |code| code,
        || {
            let call = "lockstep_next_event";
            // SAFETY: passed on from the caller.
            let handle = unsafe { handle(client, call) }?;
            if event.is_null() {
                return Err(Failure::argument(format!("{call}: event is NULL")));
            }
            let mut session = handle.session();
            let held = session.client(call)?;
            let deadline = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
            loop {
                let next = match deadline {
                    None => Some(held.next_event()),
                    Some(limit) => held.next_event_within(limit).transpose(),
                };
                let Some(next) = next else { return Ok(0) };
                let Some((converted, strings)) = convert(&next.map_err(Failure::from)?) else {
                    // Never returned by the client; should one come, wait on as it does.
                    continue;
                };
                // SAFETY: the caller gives writable memory for an event.
                unsafe { event.write(converted) };
                session.text = strings.text;
                session.reason = strings.reason;
                return Ok(1);
            }
        },
    )
}
