//! `lockstep_options`: how to connect, beyond the address and the id. The struct starts with
//! its own size, so that fields can be added at its end without breaking programs compiled
//! against an older `lockstep.h`: the library reads only the bytes the program's struct has
//! and takes the defaults for the rest ([`settings`]).

use std::ffi::{c_char, c_int};
use std::mem::size_of;
use std::time::Duration;

use client::{TlsConfig, DEFAULT_HEARTBEAT, DEFAULT_RECONNECT, HELLO_TIMEOUT};

use super::error::{guard_code, Failure};
use super::text::{ascii_or_null, path_or_null};

/// How to connect. Fill it with `lockstep_options_init`, then change the fields you need; the
/// strings are read during `lockstep_connect` only and stay the program's.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct lockstep_options {
    /// `sizeof(lockstep_options)` as the program was compiled: set by
    /// `lockstep_options_init`. Fields added in later versions go at the end; the library
    /// takes their defaults when the program's struct is shorter.
    pub size: u32,
    /// How often `lockstep_run` sends `W` while a step callback runs, in milliseconds; 0 sends
    /// none. Default 1000, well under the conductor's default `probe_after_ms` of 5000.
    pub heartbeat_ms: u32,
    /// How long `lockstep_connect` waits for the conductor's hello (and, over TLS, the
    /// handshake), in milliseconds; 0 means the default, 10000.
    pub hello_timeout_ms: u32,
    /// How long a connection lost without the conductor's goodbye (the conductor was killed
    /// or restarted) is ridden out, in milliseconds: the client connects again with backoff
    /// (at most 1 s between tries), says hello with the same id and carries on, announcing the
    /// outage in one line on stderr; a step sent again is answered without running it
    /// (`LOCKSTEP_EVENT_REPEATED`). After the window: `LOCKSTEP_ERR_CONDUCTOR_GONE`. 0: a lost
    /// connection is the end (`LOCKSTEP_ERR_CONNECTION_LOST`). Default 30000.
    pub reconnect_ms: u32,
    /// Speak TLS, trusting the CA certificates in this PEM file for the conductor's
    /// certificate; NULL for the plain protocol.
    pub tls_ca: *const c_char,
    /// The participant's certificate chain (PEM file), shown when the conductor asks for one;
    /// needs `tls_key`. NULL for none.
    pub tls_cert: *const c_char,
    /// The private key (PEM file) of `tls_cert`. NULL for none.
    pub tls_key: *const c_char,
    /// The name (DNS name or IP address) the conductor's certificate must carry, when it is
    /// not the host in the address. NULL for the host.
    pub tls_server_name: *const c_char,
}

/// The size of the first version of the struct: no program's struct is shorter.
const FIRST_SIZE: usize = size_of::<lockstep_options>();

impl Default for lockstep_options {
    fn default() -> lockstep_options {
        lockstep_options {
            size: size_of::<lockstep_options>() as u32,
            heartbeat_ms: millis(DEFAULT_HEARTBEAT),
            hello_timeout_ms: millis(HELLO_TIMEOUT),
            reconnect_ms: millis(DEFAULT_RECONNECT),
            tls_ca: std::ptr::null(),
            tls_cert: std::ptr::null(),
            tls_key: std::ptr::null(),
            tls_server_name: std::ptr::null(),
        }
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// Fills `options` with the defaults: heartbeat 1000 ms, hello timeout 10000 ms, reconnect
/// window 30000 ms, no TLS. Returns
/// `LOCKSTEP_OK`, or `LOCKSTEP_ERR_ARGUMENT` when `options` is NULL.
///
/// # Safety
/// `options` is NULL or points to writable memory for a `lockstep_options`.
#[no_mangle]
pub unsafe extern "C" fn lockstep_options_init(options: *mut lockstep_options) -> c_int {
    guard_code(|| {
        if options.is_null() {
            return Err(Failure::argument("lockstep_options_init: options is NULL"));
        }
        // SAFETY: the caller gives writable memory for the struct.
        unsafe { options.write(lockstep_options::default()) };
        Ok(())
    })
}

/// What `lockstep_connect` and `lockstep_run` do with the options.
pub struct Settings {
    /// The interval of `W` during a step; `None` sends none.
    pub heartbeat: Option<Duration>,
    /// How long to wait for the hello.
    pub hello_within: Duration,
    /// How long an outage is ridden out; zero: never.
    pub reconnect: Duration,
    /// TLS, when asked for.
    pub tls: Option<TlsConfig>,
}

/// The settings of `options` (the defaults when NULL).
///
/// # Safety
/// `options` is NULL or points to a `lockstep_options` at least as long as its `size` field
/// says, whose strings are NULL or NUL-terminated.
pub unsafe fn settings(options: *const lockstep_options) -> Result<Settings, Failure> {
    let mut read = lockstep_options::default();
    if !options.is_null() {
        // SAFETY: the caller's struct starts with its size.
        let size = unsafe { std::ptr::addr_of!((*options).size).read_unaligned() } as usize;
        if !(FIRST_SIZE..=size_of::<lockstep_options>()).contains(&size) {
            return Err(Failure::argument(format!(
                "options: size is {size}, not the {} bytes of this library's lockstep_options; \
                 fill the options with lockstep_options_init",
                size_of::<lockstep_options>()
            )));
        }
        // SAFETY: the caller's struct has `size` bytes, no more than ours.
        unsafe {
            std::ptr::copy_nonoverlapping(
                options.cast::<u8>(),
                std::ptr::addr_of_mut!(read).cast::<u8>(),
                size,
            );
        }
    }
    let hello_within = match read.hello_timeout_ms {
        0 => HELLO_TIMEOUT,
        ms => Duration::from_millis(u64::from(ms)),
    };
    Ok(Settings {
        heartbeat: (read.heartbeat_ms > 0)
            .then(|| Duration::from_millis(u64::from(read.heartbeat_ms))),
        hello_within,
        reconnect: Duration::from_millis(u64::from(read.reconnect_ms)),
        // SAFETY: the strings are NULL or NUL-terminated, as the caller promises.
        tls: unsafe { tls(&read) }?,
    })
}

/// The TLS settings of `options`, if it asks for TLS.
///
/// # Safety
/// The strings of `options` are NULL or NUL-terminated.
unsafe fn tls(options: &lockstep_options) -> Result<Option<TlsConfig>, Failure> {
    // SAFETY (all four): passed on from the caller.
    let ca = unsafe { path_or_null(options.tls_ca, "options: tls_ca") }?;
    let cert = unsafe { path_or_null(options.tls_cert, "options: tls_cert") }?;
    let key = unsafe { path_or_null(options.tls_key, "options: tls_key") }?;
    let name = unsafe { ascii_or_null(options.tls_server_name, "options: tls_server_name") }?;
    let tls_failure = |e: client::TlsError| Failure::from(client::ClientError::TlsConfig(e));
    let Some(ca) = ca else {
        return match (cert, key, name) {
            (None, None, None) => Ok(None),
            _ => Err(Failure::argument(
                "options: tls_cert, tls_key and tls_server_name need tls_ca, the CA to trust",
            )),
        };
    };
    let mut tls = TlsConfig::new(ca).map_err(tls_failure)?;
    tls = match (cert, key) {
        (Some(cert), Some(key)) => tls.client_certificate(cert, key).map_err(tls_failure)?,
        (None, None) => tls,
        _ => {
            return Err(Failure::argument(
                "options: tls_cert and tls_key go together: give both or neither",
            ))
        }
    };
    if let Some(name) = name {
        tls = tls.server_name(name).map_err(tls_failure)?;
    }
    Ok(Some(tls))
}
