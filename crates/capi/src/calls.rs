//! The answers of a hand-driven loop: `lockstep_ack` (`K`), `lockstep_working` (`W`),
//! `lockstep_done` (Done), `lockstep_leave` (`X`) and `lockstep_refuse` (`R`). The participant
//! machine under the Rust client checks each against the session: an answer out of turn is
//! `LOCKSTEP_ERR_OUT_OF_TURN` and sends nothing.

use std::ffi::{c_char, c_int};

use client::Client;

use super::error::{guard_code, Failure};
use super::handle::{handle, lockstep_client};
use super::text::ascii;

/// Runs `answer` on the client the program still holds.
///
/// # Safety
/// `client` is NULL or a live client.
unsafe fn answer(
    client: *const lockstep_client,
    call: &'static str,
    answer: impl FnOnce(&mut Client) -> Result<(), client::ClientError>,
) -> c_int {
    guard_code(|| {
        // SAFETY: passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        let mut session = handle.session();
        answer(session.client(call)?).map_err(|e| Failure::from(e).within(call))
    })
}

/// Sends `K`: the Go was received and work starts. Returns `LOCKSTEP_OK` or a negative code.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn lockstep_ack(client: *mut lockstep_client) -> c_int {
    // SAFETY: passed on from the caller.
    unsafe { answer(client, "lockstep_ack", Client::ack) }
}

/// Sends `W`: still working on the step in progress. Unlike the other calls it may come from
/// any thread at any time, even while another thread waits in `lockstep_next_event` or runs
/// `lockstep_run`: a heartbeat thread of the program's own. Returns `LOCKSTEP_OK` or a
/// negative code.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn lockstep_working(client: *mut lockstep_client) -> c_int {
    guard_code(|| {
        let call = "lockstep_working";
        // SAFETY: passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        handle
            .sender
            .working()
            .map_err(|e| Failure::from(e).within(call))
    })
}

/// Sends Done for the step in progress. Returns `LOCKSTEP_OK` or a negative code.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn lockstep_done(client: *mut lockstep_client) -> c_int {
    // SAFETY: passed on from the caller.
    unsafe { answer(client, "lockstep_done", Client::done) }
}

/// Leaves with `X` and waits briefly (2 s at most) for the conductor to close the connection.
/// The client can then only be closed. Returns `LOCKSTEP_OK` or a negative code.
///
/// # Safety
/// `client` is NULL or a live client.
#[no_mangle]
pub unsafe extern "C" fn lockstep_leave(client: *mut lockstep_client) -> c_int {
    guard_code(|| {
        let call = "lockstep_leave";
        // SAFETY: passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        let held = handle.session().take(call)?;
        held.leave().map_err(|e| Failure::from(e).within(call))
    })
}

/// Refuses to go on: sends `R` with `reason` (printable ASCII, cut to 531 bytes) and waits
/// briefly (2 s at most) for the conductor to close the connection. The client can then only
/// be closed. Returns `LOCKSTEP_OK` or a negative code.
///
/// # Safety
/// `client` is NULL or a live client; `reason` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn lockstep_refuse(
    client: *mut lockstep_client,
    reason: *const c_char,
) -> c_int {
    guard_code(|| {
        let call = "lockstep_refuse";
        // SAFETY (both): passed on from the caller.
        let handle = unsafe { handle(client, call) }?;
        let reason = unsafe { ascii(reason, "reason") }.map_err(|f| f.within(call))?;
        let held = handle.session().take(call)?;
        held.refuse(reason)
            .map(drop)
            .map_err(|e| Failure::from(e).within(call))
    })
}
