//! The configuration (README "Configuration") and its exit code 2 end to end: every kind of bad
//! file or flag is refused with a message naming the file (or the command line), the key and
//! the problem; good files and flags take effect, flags winning.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{run_to_exit, Conductor, TempDir};
use lockstep_proto::wire::ConductorMsg;

/// Runs the conductor with `config.json` holding `contents` and `args` after `--config`;
/// expects exit 2 before start-up and returns stderr.
fn rejected(contents: &str, args: &[&str]) -> (String, String) {
    let dir = TempDir::new("config");
    let path = dir.path("config.json");
    std::fs::write(&path, contents).unwrap();
    let path = path.to_str().unwrap().to_string();
    let mut all = vec!["--config", &path, "--port", "0"];
    all.extend_from_slice(args);
    let (code, out, err) = run_to_exit(&dir.0, &all);
    assert_eq!(code, Some(2), "{contents} {args:?}: {err}");
    assert!(out.is_empty(), "nothing may start: {out}");
    assert!(!dir.path("status.json").exists());
    (path, err)
}

#[test]
fn bad_values_in_the_file_name_the_file_the_key_and_the_problem() {
    let cases = [
        (r#"{"prot": 7878}"#, "key \"prot\": unknown key"),
        (
            r#"{"port": "7878"}"#,
            "key \"port\": expected a whole number from 0 to 65535, got \"7878\"",
        ),
        (
            r#"{"port": 7878.5}"#,
            "key \"port\": expected a whole number",
        ),
        (
            r#"{"port": 70000}"#,
            "key \"port\": 70000 is out of range 0..=65535",
        ),
        (
            r#"{"min_clients": 0}"#,
            "key \"min_clients\": 0 is out of range 1..=",
        ),
        (
            r#"{"max_clients": 0}"#,
            "key \"max_clients\": 0 is out of range 1..=",
        ),
        (
            r#"{"step_wrap": 0}"#,
            "key \"step_wrap\": 0 is out of range 1..=4294967296",
        ),
        (
            r#"{"step_wrap": 4294967297}"#,
            "key \"step_wrap\": 4294967297 is out of range",
        ),
        (
            r#"{"server_id": "thirteen-char"}"#,
            "key \"server_id\": \"thirteen-char\" is not a valid id",
        ),
        (
            r#"{"server_id": ""}"#,
            "key \"server_id\": \"\" is not a valid id",
        ),
        (
            r#"{"host": 127}"#,
            "key \"host\": expected a string, got 127",
        ),
        (
            r#"{"allow": "10.0.0.0/8"}"#,
            "key \"allow\": expected a list",
        ),
        (
            r#"{"allow": ["10.0.0.0/33"]}"#,
            "key \"allow\": \"10.0.0.0/33\"",
        ),
        (
            r#"{"rounds": -1}"#,
            "key \"rounds\": expected a whole number",
        ),
        (
            r#"{"status_json": null}"#,
            "key \"status_json\": expected a string",
        ),
    ];
    for (contents, expected) in cases {
        let (path, err) = rejected(contents, &[]);
        assert!(
            err.contains(&format!("{path}: {expected}")),
            "{contents}: {err}"
        );
    }
}

#[test]
fn a_file_that_is_not_a_json_object_is_refused() {
    let (path, err) = rejected("{\"port\": 1", &[]);
    assert!(err.contains(&format!("{path}: not valid JSON")), "{err}");
    let (path, err) = rejected("[1, 2]", &[]);
    assert!(
        err.contains(&format!("{path}: the top level must be a JSON object")),
        "{err}"
    );
}

#[test]
fn settings_that_contradict_each_other_are_refused() {
    let (path, err) = rejected(r#"{"max_clients": 2}"#, &["--min-clients", "5"]);
    assert!(
        err.contains(&format!(
            "{path} and the command line: key \"min_clients\": 5 is more than max_clients (2)"
        )),
        "{err}"
    );
}

#[test]
fn without_a_config_file_messages_name_only_the_command_line() {
    let dir = TempDir::new("config-none");
    let (code, out, err) = run_to_exit(&dir.0, &["--min-clients", "5", "--max-clients", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with(
            "conductor: command line: key \"min_clients\": 5 is more than max_clients (2)"
        ),
        "{err}"
    );
    assert!(!err.contains("config.json"), "{err}");
}

#[test]
fn a_given_file_that_is_missing_is_an_error() {
    let dir = TempDir::new("config-missing");
    let (code, out, err) = run_to_exit(&dir.0, &["--config", "nowhere/config.json"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("nowhere/config.json: cannot read the file"),
        "{err}"
    );
}

#[test]
fn bad_flags_name_the_flag_and_the_problem() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--min-clients", "0"],
            "command line: key \"--min-clients\": 0 is out of range",
        ),
        (
            &["--rounds", "many"],
            "command line: key \"--rounds\": expected a whole number, got \"many\"",
        ),
        (&["--allow", "10.0.0.0/99"], "command line: key \"--allow\""),
        (&["--server-id", " "], "command line: key \"--server-id\""),
        (
            &["--log-level", "loud"],
            "--log-level: \"loud\" is not one of",
        ),
        (&["--bogus", "1"], "unexpected argument(s): --bogus 1"),
    ];
    for (args, expected) in cases {
        let (_, err) = rejected("{}", args);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    // A flag without its value.
    let dir = TempDir::new("config-flag");
    let (code, _, err) = run_to_exit(&dir.0, &["--port"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--port"), "{err}");
}

#[test]
fn without_a_config_file_the_defaults_apply() {
    // Conductor::start runs in an empty directory, without --config.
    let conductor = Conductor::start_quiet(&[]);
    let mut c = conductor.connect();
    match c.recv() {
        ConductorMsg::Hello(h) => assert_eq!(&h.id, b"conductor   "),
        other => panic!("{other:?}"),
    }
    let s = conductor.wait_status("the first write", |_| true);
    assert_eq!(s["server_id"], "conductor");
}

#[test]
fn the_file_applies_and_flags_override_it() {
    let dir = TempDir::new("config-good");
    std::fs::write(
        dir.path("config.json"),
        r#"{"server_id": "from-file", "min_clients": 3, "probe_after_ms": 0}"#,
    )
    .unwrap();
    // ./config.json is read without --config; --min-clients beats the file's 3.
    let conductor = Conductor::start_in(dir, &["--min-clients", "1"]);
    let mut c = conductor.connect();
    match c.recv() {
        ConductorMsg::Hello(h) => assert_eq!(&h.id, b"from-file   "),
        other => panic!("{other:?}"),
    }
    c.send(&common::hello_bytes("just-one"));
    assert_eq!(c.recv_go(), 0);
}

#[test]
fn the_shipped_config_json_runs() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/config.json");
    let mut conductor = Conductor::start(&["--config", shipped]);
    assert!(conductor.addr.ip().is_loopback());
    let mut a = conductor.join("shipped");
    assert_eq!(a.recv_go(), 0);
    conductor.signal(libc::SIGINT);
    a.expect(ConductorMsg::Cease);
    a.expect(ConductorMsg::Exit);
    conductor.expect_exit(0);
}

#[test]
fn a_key_given_twice_is_refused_naming_the_key() {
    let (path, err) = rejected(
        "{\n  \"rounds\": 5,\n  \"port\": 0,\n  \"rounds\": 0\n}",
        &[],
    );
    assert!(
        err.contains(&format!(
            "{path}: key \"rounds\": given more than once (each key may appear once) (line 4)"
        )),
        "{err}"
    );
}

#[test]
fn one_path_for_both_status_files_is_refused() {
    let (path, err) = rejected(r#"{"status_json": "status.txt"}"#, &[]);
    assert!(
        err.contains(&format!(
            "{path} and the command line: key \"status_txt\": \"status.txt\" is also status_json"
        )),
        "{err}"
    );
    let (_, err) = rejected("{}", &["--status-txt", "./status.json"]);
    assert!(err.contains("is also status_json"), "{err}");
}

#[test]
fn an_allow_block_with_host_bits_says_what_was_probably_meant() {
    let (path, err) = rejected(r#"{"allow": ["10.0.0.1/8"]}"#, &[]);
    assert!(
        err.contains(&format!(
            "{path}: key \"allow\": \"10.0.0.1/8\" has host bits set beyond the /8 prefix: \
             the block holding 10.0.0.1 is 10.0.0.0/8; for that one address write 10.0.0.1/32"
        )),
        "{err}"
    );
    let (_, err) = rejected("{}", &["--allow", "127.0.0.0/8,fe80::1/10"]);
    assert!(
        err.contains("command line: key \"--allow\": \"fe80::1/10\" has host bits set"),
        "{err}"
    );
}

#[test]
fn messages_cut_a_huge_value_short() {
    let huge = "x".repeat(10 << 20);
    for contents in [
        format!(r#"{{"server_id": "{huge}"}}"#),
        format!(r#"{{"port": "{huge}"}}"#),
        format!(r#"{{"{huge}": 1}}"#),
    ] {
        let (_, err) = rejected(&contents, &[]);
        assert!(err.len() < 1000, "{} bytes of stderr", err.len());
        assert!(err.contains("xxx…"), "{err}");
    }
    let (_, err) = rejected("{}", &["--allow", &huge[..100_000]]);
    assert!(err.len() < 1000, "{} bytes of stderr", err.len());
    assert!(err.contains("key \"--allow\": \"xxx"), "{err}");
}

#[test]
fn a_byte_order_mark_at_the_start_is_skipped() {
    let dir = TempDir::new("config-bom");
    std::fs::write(
        dir.path("config.json"),
        "\u{feff}{\"server_id\": \"with-bom\"}",
    )
    .unwrap();
    let conductor = Conductor::start_in(dir, &[]);
    let mut c = conductor.connect();
    match c.recv() {
        ConductorMsg::Hello(h) => assert_eq!(&h.id, b"with-bom    "),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_ipv6_host_in_brackets_is_bound_without_them() {
    let dir = TempDir::new("config-brackets");
    std::fs::write(dir.path("config.json"), r#"{"host": "[::1]"}"#).unwrap();
    let conductor = Conductor::start_in(dir, &[]);
    assert_eq!(
        conductor.addr.ip(),
        "::1".parse::<std::net::IpAddr>().unwrap()
    );
    let mut a = conductor.join("bracketed");
    assert_eq!(a.recv_go(), 0);
    // The flag is read the same way.
    let flagged = Conductor::start_quiet(&["--host", "[::1]"]);
    assert!(flagged.addr.is_ipv6(), "{}", flagged.addr);
}

#[test]
fn on_a_dual_stack_socket_ipv4_clients_are_plain_ipv4_and_match_ipv4_blocks() {
    let v4 =
        |conductor: &Conductor| std::net::SocketAddr::from(([127, 0, 0, 1], conductor.addr.port()));
    // Allowed by an IPv4 block and by the same block in the mapped spelling.
    for allow in ["127.0.0.0/8", "::ffff:127.0.0.0/104"] {
        let conductor = Conductor::start_quiet(&["--host", "::", "--allow", allow]);
        assert!(conductor.addr.is_ipv6());
        let mut a = common::Raw::join(v4(&conductor), "dual");
        assert_eq!(a.recv_go(), 0);
        conductor.wait_log("joined: dual from 127.0.0.1:");
        let status = conductor.wait_status("the client", |s| s["clients"][0]["id"] == "dual");
        let peer = status["clients"][0]["peer"].as_str().unwrap().to_string();
        assert!(peer.starts_with("127.0.0.1:"), "{allow}: {peer}");
    }
    // Refused by a block that does not hold it, named as IPv4.
    let conductor = Conductor::start_quiet(&["--host", "::", "--allow", "10.0.0.0/8"]);
    let mut c = common::Raw::connect(v4(&conductor));
    assert_eq!(c.recv_refusal(), "address 127.0.0.1 is not allowed");
}

#[test]
fn bad_certificate_files_name_the_key_the_file_and_the_problem() {
    let pki = common::tls::Pki::new();
    let other = common::tls::Pki::named("Another CA");
    let cert = pki.dir.path("conductor.pem").display().to_string();
    let key = pki.dir.path("conductor.key").display().to_string();
    let other_key = other.dir.path("conductor.key").display().to_string();
    let ca = pki.ca_file().display().to_string();
    let junk = pki.dir.path("junk.pem");
    std::fs::write(&junk, "not a certificate\n").unwrap();
    let junk = junk.display().to_string();
    let broken = pki.dir.path("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAAA\n").unwrap();
    let broken = broken.display().to_string();
    let expired = pki.expired_participant("expired", "localhost");
    let expired_cert = expired.cert.display().to_string();
    let expired_key = expired.key.display().to_string();
    let missing = pki.dir.path("missing.pem").display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            vec!["--tls-cert", &missing, "--tls-key", &key],
            format!("key \"tls_cert\": {missing}: cannot read the file: No such file"),
        ),
        (
            vec!["--tls-cert", &junk, "--tls-key", &key],
            format!("key \"tls_cert\": {junk}: holds no certificate"),
        ),
        (
            vec!["--tls-cert", &broken, "--tls-key", &key],
            format!("key \"tls_cert\": {broken}: not valid PEM: a section has no end line"),
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &cert],
            format!("key \"tls_key\": {cert}: holds no private key"),
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &other_key],
            format!("key \"tls_key\": {other_key}: does not belong to the certificate in tls_cert"),
        ),
        (
            vec!["--tls-cert", &expired_cert, "--tls-key", &expired_key],
            format!(
                "key \"tls_cert\": {expired_cert}: the certificate has expired (it was valid \
                 until 2020-12-31 00:00:00 UTC)"
            ),
        ),
        (
            vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &junk,
            ],
            format!("key \"tls_client_ca\": {junk}: holds no certificate"),
        ),
        (
            vec!["--tls-cert", &cert],
            "key \"tls_key\": is empty but tls_cert is set".to_string(),
        ),
        (
            vec!["--tls-client-ca", &ca],
            "key \"tls_client_ca\": is set but tls_cert is not".to_string(),
        ),
    ];
    for (args, expected) in cases {
        let (path, err) = rejected("{}", &args);
        assert!(
            err.contains(&format!("{path} and the command line: {expected}")),
            "{args:?}: {err}"
        );
    }
}
