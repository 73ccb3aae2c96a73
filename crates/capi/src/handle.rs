//! `lockstep_client`: the participant C holds by pointer. It owns the Rust [`Client`] until
//! `lockstep_run`, `lockstep_leave` or `lockstep_refuse` takes it, a [`Sender`] that any
//! thread may send `W` through, and the strings the last event points to. Its session sits
//! behind a lock, so calls that overlap from several threads wait for each other instead of
//! racing; only `lockstep_close` must not overlap with anything.

use std::ffi::{c_char, CString};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use client::{Client, ClientError, Sender};

use super::error::{guard, Failure};
use super::options::{lockstep_options, settings};
use super::text::ascii;

/// A participant connected to a conductor. Opaque: made by `lockstep_connect`, freed by
/// `lockstep_close`.
pub struct lockstep_client {
    /// The id, for the words printed about it.
    pub(crate) id: String,
    /// The interval of `W` for `lockstep_run`.
    pub(crate) heartbeat: Option<Duration>,
    /// Sends `W` from any thread, even while another waits for the conductor.
    pub(crate) sender: Sender,
    /// The connection and what the last event left.
    session: Mutex<Session>,
    /// The text of the refusal should the running step's callback fail
    /// (`lockstep_step_error`).
    pub(crate) step_error: Mutex<Option<String>>,
}

/// The connection, while the program drives it.
pub(crate) struct Session {
    /// The client, until a call takes it.
    pub(crate) client: Option<Client>,
    /// The call that took it.
    taken_by: &'static str,
    /// The text of the last event returned, which the program may still be reading.
    pub(crate) text: CString,
    /// The reason of the last refusal returned.
    pub(crate) reason: Option<CString>,
}

impl Session {
    /// The client, or an error saying that `call` came too late.
    pub(crate) fn client(&mut self, call: &str) -> Result<&mut Client, Failure> {
        let taken_by = self.taken_by;
        self.client.as_mut().ok_or_else(|| {
            Failure::out_of_turn(format!(
                "{call}: this client can no longer be used: {taken_by} took it"
            ))
        })
    }

    /// Takes the client for `call`, which ends the program's use of it.
    pub(crate) fn take(&mut self, call: &'static str) -> Result<Client, Failure> {
        self.client(call)?;
        self.taken_by = call;
        self.client
            .take()
            .ok_or_else(|| Failure::out_of_turn(format!("{call}: the client is gone")))
    }
}

/// The client behind `client`, or an error naming `call`.
///
/// # Safety
/// `client` is NULL or a pointer from `lockstep_connect` not yet given to `lockstep_close`.
pub(crate) unsafe fn handle<'a>(
    client: *const lockstep_client,
    call: &str,
) -> Result<&'a lockstep_client, Failure> {
    // SAFETY: the caller gives a live client or NULL.
    unsafe { client.as_ref() }.ok_or_else(|| Failure::argument(format!("{call}: client is NULL")))
}

impl lockstep_client {
    /// The session, locked. No thread panics while holding it (calls that could panic run
    /// inside the entry points' guard, which has released it), so a poisoned lock is sound.
    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Connects to the conductor at `address` (`host:port`, printable ASCII) as `id` (1 to 12
/// printable ASCII characters, not all spaces) and waits for its hello. `options` may be NULL
/// for the defaults (see `lockstep_options`). Returns a client for the other calls, to be freed
/// with `lockstep_close`; NULL on failure, with the reason in `lockstep_last_error` (an
/// address outside the conductor's `allow` list is refused here; a refusal of the hello itself,
/// such as a duplicate id, comes as the first event).
///
/// # Safety
/// `address` and `id` are NULL or NUL-terminated; `options` is NULL or a `lockstep_options`
/// filled by `lockstep_options_init` (or of the size its `size` field says).
#[no_mangle]
pub unsafe extern "C" fn lockstep_connect(
    address: *const c_char,
    id: *const c_char,
    options: *const lockstep_options,
) -> *mut lockstep_client {
    guard(
        |_| std::ptr::null_mut(),
        || {
            let context = "lockstep_connect";
            // SAFETY (all three): passed on from the caller.
            let address = unsafe { ascii(address, "address") }.map_err(|f| f.within(context))?;
            let id = unsafe { ascii(id, "id") }.map_err(|f| f.within(context))?;
            let settings = unsafe { settings(options) }.map_err(|f| f.within(context))?;
            let client = match &settings.tls {
                Some(tls) => Client::connect_tls_within(address, id, tls, settings.hello_within),
                None => Client::connect_within(address, id, settings.hello_within),
            }
            .map_err(Failure::from)?
            .reconnect_within(settings.reconnect);
            // A C program has no logger: each outage is one line on stderr.
            let said = client.id();
            let client = client.on_outage(move |outage| eprintln!("lockstep: {said}: {outage}"));
            let handle = lockstep_client {
                id: client.id().to_string(),
                heartbeat: settings.heartbeat,
                sender: client.sender(),
                session: Mutex::new(Session {
                    client: Some(client),
                    taken_by: "nothing",
                    text: CString::default(),
                    reason: None,
                }),
                step_error: Mutex::new(None),
            };
            Ok(Box::into_raw(Box::new(handle)))
        },
    )
}

/// Frees `client`. If the program still holds its connection (no `lockstep_run`,
/// `lockstep_leave` or `lockstep_refuse` took it), it leaves first with `X`. NULL does nothing.
/// No other call on this client may be running or follow; the strings of its events are freed.
///
/// # Safety
/// `client` is NULL or a pointer from `lockstep_connect` not yet given to `lockstep_close`, and
/// no other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn lockstep_close(client: *mut lockstep_client) {
    guard(
        |_| (),
        || {
            if client.is_null() {
                return Ok(());
            }
            // SAFETY: the caller hands over a live client that nobody else uses.
            let handle = unsafe { Box::from_raw(client) };
            let held = handle.session().client.take();
            if let Some(held) = held {
                // After the conductor's end the connection is closed already: nothing to say.
                let _: Result<(), ClientError> = held.leave();
            }
            Ok(())
        },
    )
}
