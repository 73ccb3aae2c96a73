//! `conductor bench` end to end: against a conductor it starts, the raw-barrier baseline, a
//! conductor already running, with one client per process, with clients spread over processes,
//! and a server that breaks the protocol. Asserts counts and the absence of violations, never
//! timings.

// A test server of its own: sockets and a thread (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn conductor_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_conductor"))
}

/// The baseline example, built beside the binary by `cargo test`.
fn baseline_exe() -> PathBuf {
    let dir = conductor_exe()
        .parent()
        .expect("binary directory")
        .to_path_buf();
    dir.join("examples").join("raw_barrier")
}

/// Runs `conductor bench ARGS --json` and returns its report.
fn bench(args: &[&str]) -> Value {
    let output = Command::new(conductor_exe())
        .arg("bench")
        .args(args)
        .arg("--json")
        .output()
        .expect("run conductor bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The checks every clean run passes.
fn assert_clean(report: &Value, clients: u64, procs: u64, rounds: u64) {
    assert_eq!(report["clients"], clients, "{report}");
    assert_eq!(report["procs"], procs, "{report}");
    assert_eq!(report["rounds"], rounds, "{report}");
    assert_eq!(report["violations_total"], 0, "{report}");
    assert!(report["rounds_per_sec"].as_f64().unwrap() > 0.0, "{report}");
    let round = &report["round_us"];
    assert!(round["p50"].as_u64() <= round["max"].as_u64(), "{report}");
    assert!(report["connect_ms"].as_f64().unwrap() > 0.0, "{report}");
}

#[test]
fn bench_against_a_spawned_conductor_sees_every_round_and_no_violation() {
    let report = bench(&["--spawn", "--clients", "3", "--rounds", "50"]);
    assert_clean(&report, 3, 1, 50);
    assert_eq!(report["target"], "conductor");
    assert_eq!(report["server_exit"], 0, "{report}");
    let memory = &report["server_memory"];
    assert!(memory["peak_rss_kib"].as_u64().unwrap() > 0, "{report}");
    assert!(
        report["server_cpu_us_per_round"].as_f64().unwrap() > 0.0,
        "{report}"
    );
    assert!(
        report["client_cpu_us_per_round"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn bench_can_give_the_spawned_conductor_a_state_file_synced_or_not() {
    for (flag, mode) in [("--state-file", "on"), ("--state-sync", "synced")] {
        let report = bench(&["--spawn", "--clients", "2", "--rounds", "50", flag]);
        assert_clean(&report, 2, 1, 50);
        // Every wave recorded (warm-up, measured, and the one that ends the last round), and
        // the planned end too.
        let state = &report["state_file"];
        assert_eq!(state["mode"], mode, "{report}");
        assert_eq!(state["waves_recorded"], 5 + 50 + 1, "{report}");
        assert_eq!(state["finished"], true, "{report}");
    }
    let plain = bench(&["--spawn", "--clients", "1", "--rounds", "10"]);
    assert!(plain.get("state_file").is_none(), "{plain}");
}

#[test]
fn bench_can_scrape_the_spawned_conductors_metrics_during_the_run() {
    let report = bench(&[
        "--spawn",
        "--clients",
        "2",
        "--rounds",
        "100",
        "--scrape-http",
    ]);
    assert_clean(&report, 2, 1, 100);
    assert_eq!(report["server_exit"], 0, "{report}");
    // The first scrape goes out before the clients start, the others every second.
    assert!(
        report["http_scrapes"]["ok"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["http_scrapes"]["failed"], 0, "{report}");
    // Without the flag the report has no scrapes at all.
    let plain = bench(&["--spawn", "--clients", "1", "--rounds", "10"]);
    assert!(plain.get("http_scrapes").is_none(), "{plain}");
}

#[test]
fn bench_with_simulated_work_waits_that_long_before_answering() {
    let report = bench(&[
        "--spawn",
        "--clients",
        "3",
        "--rounds",
        "50",
        "--work-us",
        "300",
    ]);
    assert_clean(&report, 3, 1, 50);
    assert_eq!(report["work_us"], 300);
    assert_eq!(report["server_exit"], 0, "{report}");
    // Not a speed check: no round can end before its work is done.
    assert!(
        report["round_us"]["p50"].as_u64().unwrap() >= 300,
        "{report}"
    );
}

#[test]
fn bench_with_a_pace_reports_the_wave_intervals_and_the_late_waves() {
    let report = bench(&[
        "--spawn",
        "--clients",
        "2",
        "--rounds",
        "20",
        "--pace-ms",
        "5",
    ]);
    assert_clean(&report, 2, 1, 20);
    assert_eq!(report["pace_ms"], 5, "{report}");
    assert!(report["late_waves"].is_u64(), "{report}");
    // Not a speed check: waves cannot come faster than the pace allows (a tenth of it may be
    // the timer's latency), so half of the intervals at least are that long.
    let round = &report["round_us"];
    assert!(round["p50"].as_u64().unwrap() >= 4_500, "{report}");
    assert!(round["min"].as_u64() <= round["p50"].as_u64(), "{report}");
    let output = Command::new(conductor_exe())
        .args(["bench", "--addr", "127.0.0.1:1", "--pace-ms", "5"])
        .output()
        .expect("run conductor bench");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--pace-ms sets the pace of a conductor this command starts"));
}

#[test]
fn bench_drives_the_raw_barrier_baseline() {
    let baseline = baseline_exe();
    let report = bench(&[
        "--baseline",
        baseline.to_str().expect("path"),
        "--clients",
        "4",
        "--rounds",
        "50",
    ]);
    assert_clean(&report, 4, 1, 50);
    assert_eq!(report["target"], "baseline");
    assert_eq!(report["server_exit"], 0, "{report}");
}

#[test]
fn bench_runs_one_client_per_process() {
    let report = bench(&["--spawn", "--procs", "3", "--rounds", "30"]);
    assert_clean(&report, 3, 3, 30);
    assert_eq!(report["server_exit"], 0, "{report}");
}

#[test]
fn bench_spreads_clients_over_processes() {
    let report = bench(&[
        "--spawn",
        "--clients",
        "7",
        "--procs",
        "3",
        "--rounds",
        "20",
    ]);
    assert_clean(&report, 7, 3, 20);
    assert_eq!(report["server_exit"], 0, "{report}");
}

#[test]
fn bench_drives_a_tree_of_relays_it_starts() {
    let report = bench(&[
        "--spawn",
        "--clients",
        "5",
        "--relays",
        "2",
        "--rounds",
        "30",
    ]);
    assert_clean(&report, 5, 1, 30);
    assert_eq!(report["target"], "conductor through 2 relays");
    assert_eq!(report["server_exit"], 0, "{report}");
}

#[test]
fn bench_rejects_more_processes_than_clients() {
    for (args, expected) in [
        (
            &["--clients", "2", "--relays", "3"][..],
            "--relays 3 is more than --clients 2",
        ),
        (
            &["--clients", "2", "--relays", "1", "--procs", "2"][..],
            "--relays starts its own tree",
        ),
        (
            &["--clients", "2", "--procs", "3"][..],
            "--procs 3 is more than --clients 2",
        ),
        (
            &["--procs", "0"],
            "--clients, --procs and --rounds must be at least 1",
        ),
    ] {
        let output = Command::new(conductor_exe())
            .args(["bench", "--spawn"])
            .args(args)
            .output()
            .expect("run conductor bench");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with(&format!("conductor bench: {expected}")),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn bench_drives_a_running_conductor_by_address() {
    let mut conductor = common::Conductor::start(&["--min-clients", "2"]);
    let addr = conductor.addr.to_string();
    let report = bench(&["--addr", &addr, "--clients", "2", "--rounds", "20"]);
    assert_clean(&report, 2, 1, 20);
    assert_eq!(report["target"], addr);
    assert!(report["server_exit"].is_null(), "{report}");
    // The clients said X and left; the conductor runs on, waiting for new ones.
    conductor.wait_log("left: bench0000001");
    assert!(conductor.child.try_wait().unwrap().is_none());
}

#[test]
fn bench_stops_on_a_server_that_breaks_the_protocol() {
    // A server that answers the hello with two hellos.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address").to_string();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut hello = [0u8; 14];
        stream.read_exact(&mut hello).expect("the client's hello");
        stream
            .write_all(b"A1fake        A1fake        ")
            .expect("write");
        // Until the client closes.
        let _ = stream.read(&mut hello);
    });
    let output = Command::new(conductor_exe())
        .args(["bench", "--addr", &addr, "--rounds", "5"])
        .output()
        .expect("run conductor bench");
    server.join().expect("server thread");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bench0000000: the conductor sent a second hello"),
        "{stderr}"
    );
}

#[test]
fn bench_rejects_an_ambiguous_target() {
    let output = Command::new(conductor_exe())
        .args(["bench", "--spawn", "--addr", "127.0.0.1:1"])
        .output()
        .expect("run conductor bench");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("exactly one of"));
}

#[test]
fn bench_rejects_numbers_it_cannot_measure() {
    for args in [
        ["--rounds", "0"],
        ["--rounds", "18446744073709551615"],
        ["--warmup", "18446744073709551615"],
    ] {
        let output = Command::new(conductor_exe())
            .args(["bench", "--spawn"])
            .args(args)
            .output()
            .expect("run conductor bench");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--rounds"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_thousand_mutual_tls_participants_connect_and_take_part() {
    let report = bench(&["--spawn", "--tls", "--clients", "1000", "--rounds", "3"]);
    assert_clean(&report, 1000, 1, 3);
    assert_eq!(report["tls"], true, "{report}");
    assert_eq!(report["server_exit"], 0, "{report}");
    let memory = &report["server_memory"];
    assert!(memory["rss_kib"].as_u64().unwrap() > 0, "{report}");
}

#[test]
fn bench_speaks_tls_to_a_running_conductor() {
    let pki = common::tls::Pki::new();
    let shared = pki.participant("fleet", &["fleet"]);
    let args = pki.conductor_args(true);
    let args = common::tls::with(&args, &["--min-clients", "2", "--tls-bind-ids", "false"]);
    let conductor = common::Conductor::start(&args);
    let addr = conductor.addr.to_string();
    let (ca, cert, key) = (
        pki.ca_file().display().to_string(),
        shared.cert.display().to_string(),
        shared.key.display().to_string(),
    );
    let report = bench(&[
        "--addr",
        &addr,
        "--clients",
        "2",
        "--rounds",
        "10",
        "--tls-ca",
        &ca,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--tls-name",
        "localhost",
    ]);
    assert_clean(&report, 2, 1, 10);
    assert_eq!(report["tls"], true, "{report}");
    // One certificate for the whole fleet: with tls_bind_ids false any id may join.
    conductor.wait_log("left: bench0000001");
}

#[test]
fn bench_rejects_tls_it_cannot_run() {
    let cases: [&[&str]; 4] = [
        &["--addr", "127.0.0.1:1", "--tls"],
        &["--spawn", "--tls", "--procs", "2"],
        &["--spawn", "--tls-ca", "ca.pem"],
        &["--spawn", "--tls", "--tls-cert", "c.pem"],
    ];
    for args in cases {
        let output = Command::new(conductor_exe())
            .arg("bench")
            .args(args)
            .output()
            .expect("run conductor bench");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--tls"), "{args:?}: {stderr}");
    }
}

#[test]
fn bench_over_tls_says_when_the_conductor_does_not_speak_it() {
    let pki = common::tls::Pki::new();
    let conductor = common::Conductor::start(&["--min-clients", "2"]);
    let ca = pki.ca_file().display().to_string();
    let output = Command::new(conductor_exe())
        .args([
            "bench",
            "--addr",
            &conductor.addr.to_string(),
            "--tls-ca",
            &ca,
        ])
        .args(["--tls-name", "localhost", "--rounds", "5"])
        .output()
        .expect("run conductor bench");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "bench0000000: the conductor does not speak TLS: it answered the TLS handshake \
             with its plaintext hello"
        ),
        "{stderr}"
    );
}
