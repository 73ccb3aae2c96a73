//! `lockstep_run`: the whole participant around a step callback, by the Rust client's
//! [`Runner`]. For each Go it sends `K`, calls the callback on the calling thread while the
//! runner's helper thread sends `W` every heartbeat, and sends Done when the callback returns 0.
//! A non-zero return refuses the step (`step N: callback returned V`, or the text given with
//! `lockstep_step_error`) and ends the run.

use std::ffi::{c_char, c_int, c_void};
use std::sync::PoisonError;

use client::{Event, Runner, StepError};

use super::error::{guard_code, Failure};
use super::event::{convert, lockstep_event};
use super::handle::{handle, lockstep_client};
use super::text::ascii;

/// A step callback: called with the step number and the `user` pointer given to
/// `lockstep_run`; returns 0 when the step's work is done, anything else to refuse the step.
pub type lockstep_step_fn = Option<unsafe extern "C" fn(step: u32, user: *mut c_void) -> c_int>;

/// An event callback: called with each event other than Go, and the `user` pointer given to
/// `lockstep_run_with_events`. The event and its strings are valid during the call only.
pub type lockstep_event_fn =
    Option<unsafe extern "C" fn(event: *const lockstep_event, user: *mut c_void)>;

/// What becomes of the events other than Go.
enum Observer {
    /// Printed to stderr, as `conductor join` does: `T`, `S n`, `C` and `E`.
    Print,
    /// Given to the program's callback (none: dropped).
    Call(lockstep_event_fn),
}

/// Runs the participant until the conductor ends the session: for each Go, `K`, then
/// `step(number, user)` on the calling thread while a helper thread sends `W` every heartbeat
/// (`heartbeat_ms` of the options), then Done. A non-zero return from `step` refuses the step
/// with `step N: callback returned V` (or the text given to `lockstep_step_error` during the
/// call) and ends the run with `LOCKSTEP_ERR_STEP_FAILED`. The broadcasts `T`, `S n`, `C` and
/// `E` are printed to stderr (`lockstep: worker-1: the conductor says: shutting down after 3
/// more steps`); `lockstep_run_with_events` hands them to a callback instead. A connection
/// lost without a goodbye is ridden out for `reconnect_ms` (see `lockstep_options`): a step
/// the restarted conductor sends again is answered without calling `step`, so `step` runs at
/// most once per step number.
///
/// Returns `LOCKSTEP_OK` after the conductor's normal end (`C` or `X`); otherwise a negative
/// code: `LOCKSTEP_ERR_REFUSED` (a duplicate id, `full`), `LOCKSTEP_ERR_CONDUCTOR_FAILED`,
/// `LOCKSTEP_ERR_CONDUCTOR_GONE` (after the reconnect window), `LOCKSTEP_ERR_CONNECTION_LOST`
/// (with `reconnect_ms` 0), .... The run takes the client: afterwards only
/// `lockstep_close` remains to be called. `step` must return (not `longjmp`, not throw).
///
/// # Safety
/// `client` is NULL or a live client; `step` is NULL or a function of this type; `user` is
/// whatever `step` expects.
#[no_mangle]
pub unsafe extern "C" fn lockstep_run(
    client: *mut lockstep_client,
    step: lockstep_step_fn,
    user: *mut c_void,
) -> c_int {
    // SAFETY: passed on from the caller.
    unsafe { run(client, step, Observer::Print, user, "lockstep_run") }
}

/// Like `lockstep_run`, handing every event other than Go (`T`, `S n`, `C`, `E`, `X`, `R`, and
/// `LOCKSTEP_EVENT_REPEATED` after a reconnection) to
/// `on_event` with `user` instead of printing any; NULL drops them.
///
/// # Safety
/// As for `lockstep_run`; `on_event` is NULL or a function of its type.
#[no_mangle]
pub unsafe extern "C" fn lockstep_run_with_events(
    client: *mut lockstep_client,
    step: lockstep_step_fn,
    on_event: lockstep_event_fn,
    user: *mut c_void,
) -> c_int {
    // SAFETY: passed on from the caller.
    unsafe {
        run(
            client,
            step,
            Observer::Call(on_event),
            user,
            "lockstep_run_with_events",
        )
    }
}

/// Both runs.
///
/// # Safety
/// As for `lockstep_run`.
unsafe fn run(
    client: *mut lockstep_client,
    step: lockstep_step_fn,
    observer: Observer,
    user: *mut c_void,
    call: &'static str,
) -> c_int {
    guard_code(|| {
        // SAFETY: passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        let Some(step) = step else {
            return Err(Failure::argument(format!("{call}: step is NULL")));
        };
        let held = handle.session().take(call)?;
        let id = handle.id.as_str();
        let runner = Runner::new(held)
            .heartbeat(handle.heartbeat)
            .on_event(|event: &Event| match &observer {
                Observer::Print => {
                    if matches!(
                        event,
                        Event::Slow | Event::ShuttingDown(_) | Event::Cease | Event::ErrorShutdown
                    ) {
                        eprintln!("lockstep: {id}: the conductor says: {event}");
                    }
                }
                Observer::Call(None) => {}
                Observer::Call(Some(on_event)) => {
                    if let Some((converted, _strings)) = convert(event) {
                        // SAFETY: the program's callback, with the pointer it gave; the event
                        // and its strings live until it returns.
                        unsafe { on_event(&converted, user) };
                    }
                }
            });
        runner
            .run(|number| {
                let error = || {
                    handle
                        .step_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                };
                *error() = None;
                // SAFETY: the program's callback, with the pointer it gave.
                let returned = unsafe { step(number, user) };
                if returned == 0 {
                    return Ok(());
                }
                let text = error().take();
                Err(StepError::new(
                    text.unwrap_or_else(|| format!("callback returned {returned}")),
                ))
            })
            .map(drop)
            .map_err(Failure::from)
    })
}

/// Gives the text of the refusal should the running step's callback return non-zero: the
/// conductor then reads `step N: <text>` instead of `step N: callback returned V`. Call it from
/// the step callback (any thread will do); the text is copied. `text` must be printable ASCII;
/// the whole reason is cut to 531 bytes. Returns `LOCKSTEP_OK` or a negative code.
///
/// # Safety
/// `client` is NULL or a live client; `text` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lockstep_step_error(
    client: *mut lockstep_client,
    text: *const c_char,
) -> c_int {
    guard_code(|| {
        let call = "lockstep_step_error";
        // SAFETY (both): passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        let text = unsafe { ascii(text, "text") }.map_err(|f| f.within(call))?;
        *handle
            .step_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(text.to_string());
        Ok(())
    })
}
