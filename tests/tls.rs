//! TLS end to end: mutual TLS with the Rust client, `conductor join` and the Python client in
//! the same rounds; ids bound to certificates; the certificate problems (none given, another
//! CA, expired, an id the certificate does not name) refused with words that name them; a
//! plaintext client on the TLS port and a TLS client on a plaintext conductor told what is
//! wrong; a handshake a byte at a time and garbage after the handshake began, which cost the
//! others nothing. Certificates are made at test time.

// Tests drive the binary over real sockets (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::tls::{with, Pki};
use common::{Conductor, DEADLINE};
use lockstep::{Client, ClientError, Runner, Summary};

/// `127.0.0.1:PORT` of a conductor, as the TLS client takes it.
fn addr_of(conductor: &Conductor) -> String {
    conductor.addr.to_string()
}

#[test]
fn a_mutual_tls_session_runs_rounds_with_the_rust_client() {
    let pki = Pki::new();
    let alice = pki.participant("alice", &["alice"]);
    let args = pki.conductor_args(true);
    let mut conductor = Conductor::start(&with(&args, &["--min-clients", "1", "--rounds", "3"]));
    let client = Client::connect_tls(&addr_of(&conductor), "alice", &pki.client(Some(&alice)))
        .expect("a TLS session");
    let mut steps = Vec::new();
    let summary = Runner::new(client)
        .run(|step| {
            steps.push(step);
            Ok(())
        })
        .expect("a clean end");
    assert_eq!(steps, [0, 1, 2]);
    assert_eq!(
        summary,
        Summary {
            steps: 3,
            last_step: Some(2),
            ceased: true
        }
    );
    let log = conductor.expect_exit(0);
    assert!(log.contains("(TLS, client certificates required)"), "{log}");
    assert!(log.contains("joined: alice from 127.0.0.1:"), "{log}");
}

#[test]
fn an_id_the_certificate_does_not_name_is_refused() {
    let pki = Pki::new();
    let worker = pki.participant("worker-1", &["worker-1"]);
    let conductor = Conductor::start(&with(&pki.conductor_args(true), &["--min-clients", "2"]));
    let client = Client::connect_tls(&addr_of(&conductor), "worker-9", &pki.client(Some(&worker)))
        .expect("the handshake and hellos");
    let error = Runner::new(client).run(|_| Ok(())).expect_err("refused");
    assert_eq!(
        error.refusal_reason().map(|r| r.as_str()),
        Some("id worker-9 is not named in the client certificate (names: worker-1)"),
        "{error}"
    );
    conductor.wait_log("refused: ");
}

/// Connects to a fresh mutual-TLS conductor of `pki` as `id` with `tls`, which must fail;
/// returns the client's error and waits for the conductor's log to say `logged`.
fn refused(pki: &Pki, tls: &TlsConfig, id: &str, logged: &str) -> ClientError {
    let conductor = Conductor::start(&with(&pki.conductor_args(true), &["--min-clients", "2"]));
    let error = Client::connect_tls(&addr_of(&conductor), id, tls).expect_err("refused");
    conductor.wait_log(logged);
    error
}

#[test]
fn certificate_problems_are_named() {
    let pki = Pki::new();
    let other = Pki::named("Another CA");

    let error = refused(
        &pki,
        &pki.client(None),
        "nobody",
        "TLS handshake failed: the participant presented no certificate (a client certificate \
         is required)",
    );
    assert_eq!(
        error.to_string(),
        "TLS failed before the first step: the conductor refused the handshake: it requires a \
         client certificate and none was given"
    );

    let stranger = other.participant("stranger", &["stranger"]);
    let tls = pki
        .client(None)
        .client_certificate(&stranger.cert, &stranger.key)
        .expect("settings");
    let error = refused(
        &pki,
        &tls,
        "stranger",
        "TLS handshake failed: the participant's certificate is not signed by the CA in \
         tls_client_ca (unknown issuer)",
    );
    assert_eq!(
        error.to_string(),
        "TLS failed before the first step: the conductor refused the handshake: it does not \
         trust the CA that signed this participant's certificate (unknown CA)"
    );

    let expired = pki.expired_participant("old", "old");
    let error = refused(
        &pki,
        &pki.client(Some(&expired)),
        "old",
        "TLS handshake failed: the participant's certificate has expired (it was valid until \
         2020-12-31 00:00:00 UTC)",
    );
    assert!(
        error
            .to_string()
            .ends_with("this participant's certificate has expired or is not valid yet"),
        "{error}"
    );
}

#[test]
fn the_conductors_certificate_problems_are_named() {
    let pki = Pki::new();
    let other = Pki::named("Another CA");
    let conductor = Conductor::start(&with(&pki.conductor_args(false), &["--min-clients", "2"]));
    let addr = addr_of(&conductor);
    let error = Client::connect_tls(&addr, "wary", &other.client(None)).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "TLS failed before the first step: the conductor's certificate is not signed by the CA \
         this participant trusts (unknown issuer)"
    );
    let tls = pki
        .client(None)
        .server_name("elsewhere.example")
        .expect("a name");
    let error = Client::connect_tls(&addr, "wary", &tls).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "TLS failed before the first step: the conductor's certificate is not valid for the \
         name elsewhere.example (wrong name; it names localhost, 127.0.0.1)"
    );
    // Without client certificates any id may join.
    let client = Client::connect_tls(&addr, "anyone", &pki.client(None)).expect("a session");
    drop(client);
    conductor.wait_log("joined: anyone");
}

use lockstep::TlsConfig;

#[test]
fn a_tls_client_on_a_plaintext_conductor_is_told_so() {
    let pki = Pki::new();
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let error =
        Client::connect_tls(&addr_of(&conductor), "tls", &pki.client(None)).expect_err("no TLS");
    assert!(matches!(error, ClientError::NotTls { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the conductor does not speak TLS: it answered the TLS handshake with its plaintext hello"
    );
}

#[test]
fn a_plaintext_client_on_the_tls_port_gets_a_plaintext_refusal() {
    let pki = Pki::new();
    let conductor = Conductor::start(&with(&pki.conductor_args(true), &["--min-clients", "2"]));
    let error =
        Client::connect(conductor.addr, "plain").and_then(|c| Runner::new(c).run(|_| Ok(())));
    let error = error.expect_err("refused");
    assert_eq!(
        error.to_string(),
        "refused by the conductor before the first step: this conductor requires TLS"
    );
    let _ = DEADLINE;
}
