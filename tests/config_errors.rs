//! SPEC §7 (configuration) and the exit code 2 of §9 end to end: every kind of bad file or flag
//! is refused with a message naming the file (or the command line), the key and the problem;
//! good files and flags take effect, flags winning.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{run_to_exit, Conductor, TempDir};
use lockstep::wire::ConductorMsg;

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
fn help_is_printed_with_exit_0() {
    let dir = TempDir::new("help");
    let (code, out, _) = run_to_exit(&dir.0, &["--help"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("conductor status [--file status.json] [--watch]"),
        "{out}"
    );
    let (code, _, err) = run_to_exit(&dir.0, &["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown subcommand \"frobnicate\""), "{err}");
}
