//! Tests of the C API's pieces from Rust: the panic guard, the thread-local last error, the
//! options and their size, the events as C sees them, and errors without a conductor.
//! `tests/capi.rs` at the top of the repository runs the API from C against the conductor.

// Tests start threads and write files freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::ffi::{c_char, CStr};
use std::ptr;
use std::time::Duration;

use client::{ClientError, Event, Moment};
use lockstep_proto::wire::Reason;

use super::error::{guard_code, Failure};
use super::handle::lockstep_connect;
use super::options::{lockstep_options, lockstep_options_init, settings};
use super::*;

fn last_error() -> String {
    // SAFETY: never NULL, valid until the next failure on this thread.
    unsafe { CStr::from_ptr(lockstep_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn text(ptr: *const c_char) -> String {
    assert!(!ptr.is_null());
    // SAFETY: a string the library keeps alive for this test.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_panic_becomes_the_internal_error_with_its_message() {
    let code = guard_code(|| panic!("an invariant broke"));
    assert_eq!(code, LOCKSTEP_ERR_INTERNAL as i32);
    assert!(last_error().contains("internal error in liblockstep"));
    assert!(last_error().ends_with("an invariant broke"));
}

#[test]
fn the_last_error_belongs_to_its_thread_and_stays_until_the_next_failure() {
    let code = guard_code(|| Err(Failure::argument("mine")));
    assert_eq!(code, LOCKSTEP_ERR_ARGUMENT as i32);
    let theirs = std::thread::spawn(|| {
        let before = (last_error(), lockstep_last_error_code());
        guard_code(|| Err(Failure::out_of_turn("theirs")));
        (before, (last_error(), lockstep_last_error_code()))
    })
    .join()
    .expect("the other thread");
    assert_eq!(theirs.0, (String::new(), LOCKSTEP_OK as i32));
    assert_eq!(
        theirs.1,
        ("theirs".to_string(), LOCKSTEP_ERR_OUT_OF_TURN as i32)
    );
    assert_eq!(guard_code(|| Ok(())), LOCKSTEP_OK as i32);
    assert_eq!(last_error(), "mine");
    assert_eq!(lockstep_last_error_code(), LOCKSTEP_ERR_ARGUMENT as i32);
}

#[test]
fn a_nul_in_a_message_does_not_cut_it_short() {
    guard_code(|| Err(Failure::argument("before\0after")));
    assert_eq!(last_error(), "before\\0after");
}

#[test]
fn every_client_error_has_its_code() {
    let cases = [
        (
            ClientError::Refused {
                reason: Reason::lossy("full"),
                at: Moment::BeforeFirstStep,
            },
            LOCKSTEP_ERR_REFUSED,
        ),
        (
            ClientError::ConnectionLost {
                at: Moment::During(3),
                error: None,
            },
            LOCKSTEP_ERR_CONNECTION_LOST,
        ),
        (
            ClientError::ConductorFailed {
                at: Moment::After(2),
            },
            LOCKSTEP_ERR_CONDUCTOR_FAILED,
        ),
        (
            ClientError::HelloTimeout {
                waited: Duration::from_secs(1),
            },
            LOCKSTEP_ERR_CONNECT,
        ),
        (
            ClientError::VersionMismatch { theirs: 2 },
            LOCKSTEP_ERR_PROTOCOL,
        ),
        (
            ClientError::NotTls {
                problem: "plaintext".to_string(),
            },
            LOCKSTEP_ERR_TLS,
        ),
        (
            ClientError::StepFailed {
                step: 4,
                reason: Reason::lossy("step 4: callback returned 1"),
            },
            LOCKSTEP_ERR_STEP_FAILED,
        ),
        (
            ClientError::OutOfTurn {
                call: "done (!)",
                at: Moment::BeforeFirstStep,
            },
            LOCKSTEP_ERR_OUT_OF_TURN,
        ),
        (
            ClientError::ConductorGone {
                window: Duration::from_secs(30),
                at: Moment::BeforeFirstStep,
                last: Box::new(ClientError::HelloTimeout {
                    waited: Duration::from_secs(1),
                }),
            },
            LOCKSTEP_ERR_CONDUCTOR_GONE,
        ),
    ];
    for (error, code) in cases {
        let words = error.to_string();
        let failure = Failure::from(error);
        assert_eq!(failure.code, code, "{words}");
        assert_eq!(failure.message, words);
    }
}

#[test]
fn init_fills_the_defaults_and_null_options_mean_the_same() {
    let mut options = lockstep_options {
        size: 0,
        heartbeat_ms: 7,
        hello_timeout_ms: 7,
        reconnect_ms: 7,
        tls_ca: c"x".as_ptr(),
        tls_cert: ptr::null(),
        tls_key: ptr::null(),
        tls_server_name: ptr::null(),
    };
    // SAFETY: a live struct.
    assert_eq!(unsafe { lockstep_options_init(&mut options) }, 0);
    assert_eq!(
        options.size as usize,
        std::mem::size_of::<lockstep_options>()
    );
    assert_eq!(
        (options.heartbeat_ms, options.hello_timeout_ms),
        (1000, 10_000)
    );
    assert_eq!(options.reconnect_ms, 30_000);
    assert!(options.tls_ca.is_null());
    for given in [ptr::null(), ptr::addr_of!(options)] {
        // SAFETY: NULL or a filled struct.
        let s = unsafe { settings(given) }.expect("the defaults");
        assert_eq!(s.heartbeat, Some(Duration::from_secs(1)));
        assert_eq!(s.hello_within, client::HELLO_TIMEOUT);
        assert_eq!(s.reconnect, client::DEFAULT_RECONNECT);
        assert!(s.tls.is_none());
    }
}

#[test]
fn zero_means_no_heartbeat_but_the_default_hello_timeout() {
    let options = lockstep_options {
        heartbeat_ms: 0,
        hello_timeout_ms: 0,
        ..lockstep_options::default()
    };
    // SAFETY: a filled struct.
    let s = unsafe { settings(&options) }.expect("settings");
    assert_eq!(s.heartbeat, None);
    assert_eq!(s.hello_within, client::HELLO_TIMEOUT);
}

#[test]
fn options_of_a_size_this_library_does_not_know_are_refused() {
    for size in [0, 8, std::mem::size_of::<lockstep_options>() as u32 + 8] {
        let options = lockstep_options {
            size,
            ..lockstep_options::default()
        };
        // SAFETY: a struct at least as long as the sizes below ours; the larger size is
        // refused before anything past the size field is read.
        let error = unsafe { settings(&options) }.err().expect("refused");
        assert_eq!(error.code, LOCKSTEP_ERR_ARGUMENT);
        assert!(
            error.message.contains(&format!("size is {size}")),
            "{}",
            error.message
        );
    }
}

#[test]
fn a_ca_file_without_certificates_is_a_tls_error() {
    let dir = std::env::temp_dir().join(format!("lockstep-capi-ca-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let ca = dir.join("empty.pem");
    std::fs::write(&ca, "").expect("write a file");
    let path = std::ffi::CString::new(ca.display().to_string()).expect("a path");
    let options = lockstep_options {
        tls_ca: path.as_ptr(),
        ..lockstep_options::default()
    };
    // SAFETY: a filled struct whose strings live through the call.
    let error = unsafe { settings(&options) }.err().expect("refused");
    assert_eq!(error.code, LOCKSTEP_ERR_TLS);
    assert!(error.message.contains("empty.pem"), "{}", error.message);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_carry_their_kind_number_words_and_reason() {
    let (go, _strings) = event::convert(&Event::Go(41)).expect("a Go");
    assert_eq!((go.kind, go.number), (LOCKSTEP_EVENT_GO, 41));
    assert_eq!(text(go.text), "go for step 41");
    assert!(go.reason.is_null());

    let (countdown, _strings) = event::convert(&Event::ShuttingDown(3)).expect("S 3");
    assert_eq!(
        (countdown.kind, countdown.number),
        (LOCKSTEP_EVENT_SHUTTING_DOWN, 3)
    );
    assert_eq!(text(countdown.text), "shutting down after 3 more steps");

    let refusal = Event::Refused(Reason::lossy("duplicate id"));
    let (refused, _strings) = event::convert(&refusal).expect("R");
    assert_eq!(refused.kind, LOCKSTEP_EVENT_REFUSED);
    assert_eq!(text(refused.reason), "duplicate id");
    assert_eq!(text(refused.text), "refused: duplicate id");

    for handled in [Event::Probed, Event::Here] {
        assert!(event::convert(&handled).is_none());
    }
}

#[test]
fn nobody_listening_is_a_connect_error_and_no_client() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let address = std::ffi::CString::new(format!("127.0.0.1:{port}")).expect("an address");
    // SAFETY: valid strings, NULL options.
    let client = unsafe { lockstep_connect(address.as_ptr(), c"w".as_ptr(), ptr::null()) };
    assert!(client.is_null());
    assert_eq!(lockstep_last_error_code(), LOCKSTEP_ERR_CONNECT as i32);
    assert!(
        last_error().starts_with(&format!(
            "cannot connect to the conductor at 127.0.0.1:{port}"
        )),
        "{}",
        last_error()
    );
}

#[test]
fn the_version_is_the_workspaces() {
    assert_eq!(text(lockstep_version()), env!("CARGO_PKG_VERSION"));
}
