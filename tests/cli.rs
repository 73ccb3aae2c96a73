//! The command line for a person: each command's `--help` (and `conductor help COMMAND`) lists
//! every flag with its default, the conductor's page every configuration key; `--version`;
//! errors in one format, naming the command and the flag.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{run_to_exit, TempDir};
use lockstep_conductor::config::Config;

/// Runs `conductor ARGS` in a fresh directory: exit code, stdout, stderr.
fn conductor(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = TempDir::new("cli");
    run_to_exit(&dir.0, args)
}

/// `text` with its lines joined, so that wrapped entries can be searched.
fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The page `args` prints, which must succeed and say nothing on stderr.
fn page(args: &[&str]) -> String {
    let (code, out, err) = conductor(args);
    assert_eq!(code, Some(0), "{args:?}: {err}");
    assert!(err.is_empty(), "{args:?}: {err}");
    assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
    out
}

#[test]
fn the_conductors_help_lists_every_key_with_its_default_and_meaning() {
    let out = page(&["--help"]);
    assert_eq!(page(&["-h"]), out);
    assert_eq!(page(&["help"]), out);
    let text = unwrapped(&out);
    for s in Config::settings() {
        let meaning = s.meaning.replace('`', "");
        let entry = format!(
            "{} {} {meaning} (default: {})",
            s.flag, s.placeholder, s.default
        );
        assert!(text.contains(&entry), "{entry:?} missing from:\n{out}");
    }
    for flag in [
        "--config FILE",
        "--log-level L",
        "--log-file FILE",
        "--version",
    ] {
        assert!(out.contains(flag), "{flag} missing from:\n{out}");
    }
    assert!(text.contains("Exit codes: 0 after a planned end"), "{out}");
}

#[test]
fn each_command_has_its_own_help_with_every_flag_and_default() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "join",
            &[
                "--id ID",
                "--host HOST the conductor's address (default: 127.0.0.1)",
                "--port PORT the conductor's port (default: 7878)",
                "--heartbeat-ms N send W every N ms while COMMAND runs; 0 = never (default: 1000)",
                "127 if COMMAND is not found",
            ],
        ),
        (
            "status",
            &[
                "--file FILE the status file (default: status.json)",
                "--watch redraw every 1 s",
            ],
        ),
        (
            "bench",
            &[
                "--spawn",
                "--addr HOST:PORT",
                "--baseline PATH",
                "--clients N simulated clients (default: 1",
                "--procs P spread the clients over P processes",
                "--rounds R rounds to measure (default: 1000)",
                "--warmup W",
                "--work-us U",
                "(default: 0)",
                "--server-pid PID",
                "--json",
            ],
        ),
    ];
    let main_page = page(&["--help"]);
    for (command, expected) in cases {
        let out = page(&[command, "--help"]);
        assert_ne!(out, main_page, "{command} has a page of its own");
        assert!(
            out.starts_with(&format!("conductor {command}: ")),
            "{command}: {out}"
        );
        assert_eq!(page(&[command, "-h"]), out);
        assert_eq!(page(&["help", command]), out);
        let text = unwrapped(&out);
        for entry in expected {
            assert!(text.contains(entry), "{command}: {entry:?} missing:\n{out}");
        }
    }
    // Asking for help wins over a command line that would fail.
    assert_eq!(
        page(&["join", "--help", "--port", "x"]),
        page(&["help", "join"])
    );
}

#[test]
fn version_prints_the_package_version() {
    let expected = format!("conductor {}\n", env!("CARGO_PKG_VERSION"));
    for args in [&["--version"][..], &["-V"], &["join", "--version"]] {
        assert_eq!(page(args), expected, "{args:?}");
    }
}

/// Runs `args`, which must fail with exit code 2 before doing anything, and returns stderr.
fn usage_error(args: &[&str]) -> String {
    let (code, out, err) = conductor(args);
    assert_eq!(code, Some(2), "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: {out}");
    err
}

#[test]
fn errors_name_the_command_the_flag_and_where_help_is() {
    let cases: [(&[&str], &str, &str); 9] = [
        (
            &["--log-level"],
            "conductor: --log-level needs a value",
            "try 'conductor --help'",
        ),
        (
            &["sttaus"],
            "conductor: unknown command \"sttaus\"",
            "try 'conductor --help'",
        ),
        (
            &["help", "sttaus"],
            "conductor: help: no command \"sttaus\"",
            "try 'conductor --help'",
        ),
        (
            &["join", "--id", "w", "--port", "http", "--", "true"],
            "conductor join: --port: cannot read \"http\": invalid digit found in string",
            "try 'conductor join --help'",
        ),
        (
            &["join", "--id", "w", "--heartbeat-ms", "-1", "--", "true"],
            "conductor join: --heartbeat-ms: cannot read \"-1\"",
            "try 'conductor join --help'",
        ),
        (
            &["join", "--", "true"],
            "conductor join: --id is required",
            "try 'conductor join --help'",
        ),
        (
            &["status", "--file"],
            "conductor status: --file needs a value",
            "try 'conductor status --help'",
        ),
        (
            &["status", "--wathc"],
            "conductor status: unexpected argument(s): --wathc",
            "try 'conductor status --help'",
        ),
        (
            &["bench", "--spawn", "--rounds", "many"],
            "conductor bench: --rounds: cannot read \"many\"",
            "try 'conductor bench --help'",
        ),
    ];
    for (args, message, hint) in cases {
        let err = usage_error(args);
        let lines: Vec<&str> = err.lines().collect();
        assert!(lines[0].starts_with(message), "{args:?}: {err}");
        assert_eq!(lines[1..], [hint], "{args:?}: {err}");
    }
}

#[test]
fn a_setting_flag_is_checked_like_the_key_in_config_json() {
    let err = usage_error(&["--port", "http"]);
    assert_eq!(
        err,
        "conductor: command line: key \"--port\": expected a whole number, got \"http\"\n"
    );
}

#[test]
fn join_without_a_command_says_the_command_is_missing() {
    let err = usage_error(&["join", "--id", "w1"]);
    assert!(
        err.starts_with(
            "conductor join: the command is missing: give it after '--', as in \
             'conductor join --id w1 -- ./step.sh'"
        ),
        "{err}"
    );
    // The command given without `--`.
    let err = usage_error(&["join", "--id", "w1", "./step.sh", "fast"]);
    assert!(
        err.starts_with(
            "conductor join: the command is missing: put '--' before it, as in \
             'conductor join --id w1 -- ./step.sh fast'"
        ),
        "{err}"
    );
}
