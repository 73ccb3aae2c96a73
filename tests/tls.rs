//! TLS end to end: mutual TLS with the Rust client, `conductor join` and the Python client in
//! the same rounds; ids bound to certificates; the certificate problems (none given, another
//! CA, expired, an id the certificate does not name) refused with words that name them; a
//! plaintext client on the TLS port and a TLS client on a plaintext conductor told what is
//! wrong, by the Rust and the Python client; a handshake a byte at a time and garbage after
//! the handshake began, which cost the others nothing. Certificates are made at test time.

// Tests drive the binary over real sockets (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::participants::{python3, python_dir, Participant};
use common::tls::{client_hello, with, Pki};
use common::{wait_for, Conductor, DEADLINE};
use lockstep::{Client, ClientError, Event, Runner, Summary, TlsConfig};

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
    conductor.wait_log("this conductor requires TLS");
}

/// Takes part in `rounds` rounds as a TLS participant: the proof that others are unaffected.
fn take_part(client: &mut Client, rounds: u32) {
    let mut done = 0;
    while done < rounds {
        match client.next_event().expect("the session goes on") {
            Event::Go(_) => {
                client.ack().expect("K");
                client.done().expect("Done");
                done += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
}

/// True once the conductor has closed `stream` (end of stream or reset), reading whatever it
/// sent before.
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn a_handshake_a_byte_at_a_time_is_closed_at_the_hello_timeout() {
    let pki = Pki::new();
    let alice = pki.participant("alice", &["alice"]);
    let args = pki.conductor_args(true);
    let conductor = Conductor::start(&with(&args, &["--hello-timeout-ms", "500"]));
    let hello = client_hello(&pki);
    let started = Instant::now();
    let mut slow = TcpStream::connect(conductor.addr).expect("connect");
    let mut alice = Client::connect_tls(&addr_of(&conductor), "alice", &pki.client(Some(&alice)))
        .expect("a session beside the slow one");
    let mut sent = 0;
    let closed_after = loop {
        // One byte at a time, paced: the conductor must not wait for the rest.
        if sent < hello.len() && slow.write_all(&hello[sent..=sent]).is_ok() {
            sent += 1;
        }
        take_part(&mut alice, 1);
        if closed(&mut slow) {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "still open after {sent} bytes"
        );
    };
    assert!(
        sent < hello.len(),
        "the whole ClientHello went out ({sent} bytes)"
    );
    assert!(
        closed_after >= Duration::from_millis(500),
        "{closed_after:?}"
    );
    conductor.wait_log("hello timeout: no hello within 500 ms");
    take_part(&mut alice, 5);
}

#[test]
fn garbage_after_the_handshake_began_is_refused_and_costs_the_others_nothing() {
    let pki = Pki::new();
    let alice = pki.participant("alice", &["alice"]);
    let conductor = Conductor::start(&with(&pki.conductor_args(true), &[]));
    let mut alice = Client::connect_tls(&addr_of(&conductor), "alice", &pki.client(Some(&alice)))
        .expect("a session");
    take_part(&mut alice, 2);
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for round in 0..20 {
        let mut bytes = client_hello(&pki);
        let cut = bytes.len() * round / 20;
        bytes.truncate(cut.max(1));
        for _ in 0..200 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            bytes.push(rng as u8);
        }
        let mut stream = TcpStream::connect(conductor.addr).expect("connect");
        let _ = stream.write_all(&bytes);
        wait_for("the conductor to close the connection", DEADLINE, || {
            closed(&mut stream).then_some(())
        });
        take_part(&mut alice, 1);
    }
    let refused = conductor.refusals_logged("", "TLS …");
    assert!(refused >= 1, "{}", conductor.log());
    conductor
        .wait_log("TLS handshake failed: the participant sent something that is not valid TLS");
}

#[test]
fn garbage_after_a_finished_handshake_drops_that_member_only() {
    let pki = Pki::new();
    let alice = pki.participant("alice", &["alice"]);
    let bob = pki.participant("bob", &["bob"]);
    let conductor = Conductor::start(&with(&pki.conductor_args(true), &[]));
    let addr = addr_of(&conductor);
    let mut alice = Client::connect_tls(&addr, "alice", &pki.client(Some(&alice))).expect("alice");
    let bob = Client::connect_tls(&addr, "bob", &pki.client(Some(&bob))).expect("bob");
    take_part(&mut alice, 1);
    conductor.wait_log("joined: bob");
    // Bytes that are no TLS record, straight into bob's socket.
    let fd = bob.watcher().expect("a second descriptor");
    let mut raw = TcpStream::from(fd);
    raw.write_all(&[0x17, 0x03, 0x03, 0x00, 0x20])
        .expect("a record header");
    raw.write_all(&[0x5a; 32])
        .expect("a record that does not decrypt");
    conductor.wait_log("refused: bob");
    conductor.wait_log("TLS failed: a record from the participant could not be decrypted");
    take_part(&mut alice, 3);
}

/// A Python participant over TLS printing each step: argv is id, port, CA, cert, key.
const PYTHON_TLS_PARTICIPANT: &str = "\
import sys, lockstep
name, port, ca, cert, key = sys.argv[1:6]
tls = lockstep.tls_context(ca, cert=cert, key=key)
with lockstep.connect(name, host='localhost', port=int(port), tls=tls) as conductor:
    for step in conductor:
        print(step)
";

#[test]
fn rust_join_and_python_share_mutual_tls_rounds() {
    let pki = Pki::new();
    let ids: Vec<_> = ["rust", "join", "python"]
        .iter()
        .map(|name| pki.participant(name, &[name]))
        .collect();
    let args = pki.conductor_args(true);
    let mut conductor = Conductor::start(&with(&args, &["--min-clients", "3", "--rounds", "5"]));
    let addr = format!("localhost:{}", conductor.addr.port());
    let rust_tls = pki.client(Some(&ids[0]));
    let rust = std::thread::spawn(move || {
        let client = Client::connect_tls(&addr, "rust", &rust_tls).expect("connect");
        let mut steps = Vec::new();
        Runner::new(client)
            .run(|step| {
                steps.push(step);
                Ok(())
            })
            .map(|_| steps)
    });
    let port = conductor.addr.port().to_string();
    let path = |p: &std::path::Path| p.display().to_string();
    let (ca, join_cert, join_key) = (path(&pki.ca_file()), path(&ids[1].cert), path(&ids[1].key));
    let mut join = std::process::Command::new(env!("CARGO_BIN_EXE_conductor"));
    let file = pki.dir.path("join.txt");
    let script = format!("echo \"$LOCKSTEP_STEP\" >> '{}'", file.display());
    join.args([
        "join",
        "--id",
        "join",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
    ])
    .args([
        "--tls-ca",
        &ca,
        "--tls-cert",
        &join_cert,
        "--tls-key",
        &join_key,
    ])
    .args(["--tls-name", "localhost", "--", "sh", "-c", &script]);
    let mut join = Participant::spawn(join);
    let mut python = python3();
    python
        .env("PYTHONPATH", python_dir())
        .args(["-c", PYTHON_TLS_PARTICIPANT, "python", &port, &ca])
        .args([path(&ids[2].cert), path(&ids[2].key)]);
    let mut python = Participant::spawn(python);

    assert_eq!(
        rust.join().expect("rust").expect("a clean end"),
        [0, 1, 2, 3, 4]
    );
    let status = python.wait_exit(DEADLINE);
    assert!(status.success(), "python: {status}; {}", python.stderr());
    assert_eq!(python.stdout(), "0\n1\n2\n3\n4\n");
    assert_eq!(
        join.wait_exit(DEADLINE).code(),
        Some(0),
        "{}",
        join.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("join's file"),
        "0\n1\n2\n3\n4\n"
    );
    let log = conductor.expect_exit(0);
    for id in ["rust", "python", "join"] {
        assert!(log.contains(&format!("joined: {id} ")), "{log}");
    }
}

/// A Python participant that prints the error connecting raises: argv is port, CA, and the
/// certificate and key (or `-`).
const PYTHON_TLS_FAILURE: &str = "\
import sys, lockstep
port, ca, cert, key = sys.argv[1:5]
tls = lockstep.tls_context(ca, cert=None if cert == '-' else cert, key=None if key == '-' else key)
try:
    with lockstep.connect('py', host='localhost', port=int(port), tls=tls) as conductor:
        for step in conductor:
            pass
except lockstep.LockstepError as err:
    print(type(err).__name__, err)
";

/// Runs [`PYTHON_TLS_FAILURE`] against `port` and returns what it printed.
fn python_failure(
    port: u16,
    ca: &std::path::Path,
    identity: Option<&common::tls::Identity>,
) -> String {
    let (cert, key) = identity.map_or(("-".to_string(), "-".to_string()), |id| {
        (id.cert.display().to_string(), id.key.display().to_string())
    });
    let mut python = python3();
    python
        .env("PYTHONPATH", python_dir())
        .args(["-c", PYTHON_TLS_FAILURE, &port.to_string()])
        .arg(ca)
        .args([cert, key]);
    let mut python = Participant::spawn(python);
    assert!(python.wait_exit(DEADLINE).success(), "{}", python.stderr());
    python.stdout()
}

#[test]
fn the_python_client_names_tls_problems() {
    let pki = Pki::new();
    let other = Pki::named("Another CA");
    let plain = Conductor::start(&["--min-clients", "2"]);
    assert_eq!(
        python_failure(plain.addr.port(), &pki.ca_file(), None),
        "NotTls the conductor does not speak TLS: it answered the TLS handshake with its \
         plaintext hello\n"
    );
    let mutual = Conductor::start(&with(&pki.conductor_args(true), &["--min-clients", "2"]));
    assert_eq!(
        python_failure(mutual.addr.port(), &pki.ca_file(), None),
        "TlsError the conductor refused the handshake: it requires a client certificate and \
         none was given\n"
    );
    let printed = python_failure(mutual.addr.port(), &other.ca_file(), None);
    assert!(
        printed.starts_with("TlsError the conductor's certificate cannot be trusted: "),
        "{printed}"
    );
    let py = pki.participant("py", &["not-py"]);
    assert_eq!(
        python_failure(mutual.addr.port(), &pki.ca_file(), Some(&py)),
        "Refused refused by the conductor before the first step: id py is not named in the \
         client certificate (names: not-py)\n"
    );
}
