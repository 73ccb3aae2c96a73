//! The C API from C, C++ and Fortran, against the real conductor. `tests/native/api.c`,
//! compiled with the system's `cc` against liblockstep, runs a whole participant
//! (`lockstep_run`), a hand-driven loop (`lockstep_next_event`), refused connects, a failing
//! step, conductors that end (as planned, by a signal, by dying for good or to come back from
//! their state file), TLS with a client
//! certificate, and every NULL pointer, invalid id and non-ASCII text it can pass;
//! `wrapper.cpp` checks lockstep.hpp's exceptions, `by_hand.f90` the Fortran module's events
//! and errors. What the programs print and what the conductor logs are both checked.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock, PoisonError};

use common::native::{compile, library_dir, Compiler, Link};
use common::participants::Participant;
use common::tls::{with, Pki};
use common::{wait_for, Conductor, TempDir, DEADLINE};

/// `tests/native/api.c`, compiled once for the tests of this file; `None` without a C compiler.
/// It links the static library: the examples' tests link the shared one.
fn api() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<(TempDir, PathBuf)>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = TempDir::new("capi");
            let exe = compile(
                Compiler::C,
                &["tests/native/api.c"],
                Link::Static,
                &dir,
                "api",
            )?;
            Some((dir, exe))
        })
        .as_ref()
        .map(|(_, exe)| exe.clone())
}

/// `api ARGS...` as a participant process; `None` without a C compiler.
fn spawn(args: &[&str]) -> Option<Participant> {
    let mut command = Command::new(api()?);
    command.args(args);
    Some(Participant::spawn(command))
}

/// Runs `api ARGS...` to its end: its exit code and what it printed.
fn run(args: &[&str]) -> Option<(Option<i32>, String)> {
    run_program(spawn(args)?)
}

/// Runs a participant program to its end: its exit code and what it printed.
fn run_program(mut program: Participant) -> Option<(Option<i32>, String)> {
    let status = program.wait_exit(DEADLINE);
    Some((status.code(), program.stdout() + &program.stderr()))
}

/// Compiles `sources` with `compiler` (linking the shared library), once for the tests of
/// this file, and runs the program with `args` to its end; `None` without the compiler.
fn compile_and_run(
    compiler: Compiler,
    sources: &[&str],
    args: &[&str],
) -> Option<(Option<i32>, String)> {
    static BUILT: Mutex<Vec<(String, TempDir, PathBuf)>> = Mutex::new(Vec::new());
    let key = sources.join(" ");
    let exe = {
        let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        match built.iter().find(|(k, _, _)| *k == key) {
            Some((_, _, exe)) => exe.clone(),
            None => {
                let dir = TempDir::new("capi-program");
                let exe = compile(compiler, sources, Link::Shared, &dir, "program")?;
                built.push((key, dir, exe.clone()));
                exe
            }
        }
    };
    let mut command = Command::new(exe);
    command.args(args);
    run_program(Participant::spawn(command))
}

fn address(conductor: &Conductor) -> String {
    conductor.addr.to_string()
}

#[test]
fn null_pointers_invalid_ids_and_non_ascii_text_are_errors_not_crashes() {
    // Two participants needed: no Go ever comes, so the client stays between steps.
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let Some((code, out)) = run(&["arguments", &address(&conductor)]) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("\n0 failed\n"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
    // Only the one valid client reached the conductor, and it left with X.
    conductor.wait_log("left: arguments (");
    assert_eq!(
        conductor.log_lines("joined: ").len(),
        1,
        "{}",
        conductor.log()
    );
}

#[test]
fn a_whole_run_steps_through_every_round_and_ends_with_ok() {
    let mut conductor = Conductor::start(&["--rounds", "3"]);
    let Some((code, out)) = run(&["run", &address(&conductor), "c-run"]) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("step 0\nstep 1\nstep 2\nrun: LOCKSTEP_OK"),
        "{out}"
    );
    // lockstep_run prints the countdown in conductor join's words.
    assert!(
        out.contains("lockstep: c-run: the conductor says: shutting down after 1 more step"),
        "{out}"
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn events_go_to_the_callback_instead_of_stderr() {
    let mut conductor = Conductor::start(&["--rounds", "2"]);
    let Some((code, out)) = run(&["run", &address(&conductor), "c-events", "--events"]) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    for line in [
        "event 3: shutting down after 2 more steps\nstep 0\n",
        "event 3: shutting down after 1 more step\nstep 1\n",
        "event 4: ceasing operation by the operator's decision\n",
        "event 6: closing the connection\nrun: LOCKSTEP_OK",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
    assert!(!out.contains("the conductor says"), "{out}");
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn a_hand_driven_loop_sees_every_event_until_exit() {
    let mut conductor = Conductor::start(&["--rounds", "2"]);
    let Some((code, out)) = run(&["by-hand", &address(&conductor), "c-hand"]) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        "event 3: shutting down after 2 more steps\n\
         go 0\n\
         event 3: shutting down after 1 more step\n\
         go 1\n\
         event 4: ceasing operation by the operator's decision\n\
         event 6: closing the connection\n"
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn a_connect_the_conductor_refuses_returns_null_with_its_reason() {
    let conductor = Conductor::start_quiet(&["--allow", "10.0.0.0/8"]);
    let Some((code, out)) = run(&["run", &address(&conductor), "outsider"]) else {
        return;
    };
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains(
            "connect: LOCKSTEP_ERR_REFUSED: refused by the conductor before the first step: \
             address 127.0.0.1 is not allowed"
        ),
        "{out}"
    );
}

#[test]
fn a_connect_nobody_answers_returns_null_saying_so() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let Some((code, out)) = run(&["run", &format!("127.0.0.1:{port}"), "lonely"]) else {
        return;
    };
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains(&format!(
            "connect: LOCKSTEP_ERR_CONNECT: cannot connect to the conductor at 127.0.0.1:{port}"
        )),
        "{out}"
    );
}

#[test]
fn a_duplicate_id_ends_the_run_with_the_refusal() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let _first = conductor.member("twin");
    let Some((code, out)) = run(&["run", &address(&conductor), "twin"]) else {
        return;
    };
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("run: LOCKSTEP_ERR_REFUSED: refused by the conductor"),
        "{out}"
    );
    assert!(out.contains("twin"), "{out}");
}

#[test]
fn a_failing_step_is_refused_with_the_callbacks_value() {
    let conductor = Conductor::start(&["--rounds", "5"]);
    let args = [
        "run",
        &address(&conductor),
        "c-fail",
        "--fail-at",
        "2",
        "--fail-code",
        "7",
    ];
    let Some((code, out)) = run(&args) else {
        return;
    };
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("step 0\nstep 1\nstep 2\nrun: "), "{out}");
    assert!(!out.contains("step 3"), "{out}");
    assert!(
        out.contains(
            "run: LOCKSTEP_ERR_STEP_FAILED: step failed, refusal sent to the conductor: \
             step 2: callback returned 7"
        ),
        "{out}"
    );
    conductor.wait_log("left: c-fail (127.0.0.1:");
    assert!(
        conductor
            .log()
            .contains("refused: step 2: callback returned 7"),
        "{}",
        conductor.log()
    );
}

#[test]
fn a_failing_step_can_say_why() {
    let conductor = Conductor::start(&["--rounds", "3"]);
    let args = [
        "run",
        &address(&conductor),
        "c-why",
        "--fail-at",
        "1",
        "--fail-text",
        "the model diverged",
    ];
    let Some((code, out)) = run(&args) else {
        return;
    };
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("step 1: the model diverged"), "{out}");
    conductor.wait_log("refused: step 1: the model diverged");
}

#[test]
fn a_conductor_stopped_by_a_signal_ends_the_run_with_ok() {
    let conductor = Conductor::start(&[]);
    let Some(mut api) = spawn(&["run", &address(&conductor), "c-stop"]) else {
        return;
    };
    wait_for("two steps", DEADLINE, || {
        api.stdout().contains("step 2\n").then_some(())
    });
    conductor.signal(libc::SIGTERM);
    let status = api.wait_exit(DEADLINE);
    let out = api.stdout() + &api.stderr();
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(out.contains("run: LOCKSTEP_OK"), "{out}");
}

#[test]
fn a_conductor_that_dies_ends_the_run_with_the_connection_lost_without_reconnecting() {
    let mut conductor = Conductor::start(&[]);
    let args = [
        "run",
        &address(&conductor),
        "c-orphan",
        "--reconnect-ms",
        "0",
    ];
    let Some(mut api) = spawn(&args) else {
        return;
    };
    wait_for("two steps", DEADLINE, || {
        api.stdout().contains("step 2\n").then_some(())
    });
    conductor.child.kill().expect("kill the conductor");
    let status = api.wait_exit(DEADLINE);
    let out = api.stdout() + &api.stderr();
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        out.contains("run: LOCKSTEP_ERR_CONNECTION_LOST: connection to the conductor lost"),
        "{out}"
    );
}

#[test]
fn a_conductor_that_never_comes_back_ends_the_run_after_the_reconnect_window() {
    let mut conductor = Conductor::start(&[]);
    let args = [
        "run",
        &address(&conductor),
        "c-alone",
        "--reconnect-ms",
        "300",
    ];
    let Some(mut api) = spawn(&args) else {
        return;
    };
    wait_for("two steps", DEADLINE, || {
        api.stdout().contains("step 2\n").then_some(())
    });
    conductor.child.kill().expect("kill the conductor");
    let status = api.wait_exit(DEADLINE);
    let out = api.stdout() + &api.stderr();
    assert_eq!(status.code(), Some(1), "{out}");
    // One line for the outage on stderr, then the end after the window.
    assert!(
        out.contains("lockstep: c-alone: connection to the conductor lost after step"),
        "{out}"
    );
    assert!(
        out.contains(
            "run: LOCKSTEP_ERR_CONDUCTOR_GONE: the conductor did not come back within 300 ms"
        ),
        "{out}"
    );
}

/// A conductor with a state file, `--min-clients 2`, no countdown, quiet (see
/// [`Conductor::start_quiet`]), on a free port or on `port` (the one a conductor before it had).
fn resumable(state: &str, port: Option<u16>, rounds: &str) -> Conductor {
    let port = port.map_or("0".to_string(), |p| p.to_string());
    Conductor::start_quiet(&[
        "--state-file",
        state,
        "--min-clients",
        "2",
        "--rounds",
        rounds,
        "--shutdown-countdown",
        "0",
        "--port",
        &port,
    ])
}

#[test]
fn a_participant_rides_out_a_killed_conductor_and_runs_no_step_twice() {
    let files = TempDir::new("capi-restart");
    let state = files.path("run.state");
    let state = state.to_str().expect("a path in UTF-8");
    let mut first = resumable(state, None, "4");
    let Some(mut api) = spawn(&["by-hand", &address(&first), "c-hand", "30000"]) else {
        return;
    };
    let mut m = first.member("m");
    assert_eq!(m.recv_go(), 0);
    m.finish();
    // Step 1: the C participant is Done, m holds the round up when the conductor dies.
    assert_eq!(m.recv_go(), 1);
    first.wait_status("c-hand Done with step 1", |s| {
        s["clients"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["id"] == "c-hand" && c["state"] == "Done")
        })
    });
    first.signal(libc::SIGKILL);
    first.wait_exit(DEADLINE);

    let second = resumable(state, Some(first.addr.port()), "4");
    let mut m = second.member("m");
    for step in 1..4 {
        assert_eq!(m.recv_go(), step);
        m.finish();
    }
    let status = api.wait_exit(DEADLINE);
    let (out, err) = (api.stdout(), api.stderr());
    assert_eq!(status.code(), Some(0), "{out}{err}");
    // Step 1 again is answered without being run; every step once, in order.
    let steps: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("go ") || l.starts_with("repeated "))
        .collect();
    assert_eq!(
        steps,
        ["go 0", "go 1", "repeated 1", "go 2", "go 3"],
        "{out}"
    );
    assert!(
        err.contains("lockstep: c-hand: connection to the conductor lost after step 1"),
        "{err}"
    );
}

#[test]
fn tls_with_a_client_certificate_from_the_options() {
    let pki = Pki::new();
    let me = pki.participant("c-tls", &["c-tls"]);
    let args = pki.conductor_args(true);
    let mut conductor = Conductor::start(&with(&args, &["--rounds", "2"]));
    let (ca, cert, key) = (
        pki.ca_file().display().to_string(),
        me.cert.display().to_string(),
        me.key.display().to_string(),
    );
    let addr = address(&conductor);
    // Without the certificate the conductor turns the handshake down.
    let Some((code, out)) = run(&["run", &addr, "c-tls", "--tls-ca", &ca]) else {
        return;
    };
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("connect: LOCKSTEP_ERR_TLS: TLS failed"),
        "{out}"
    );

    let tls = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    let Some((code, out)) = run(&[&["run", &addr, "c-tls"], &tls[..]].concat()) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("step 0\nstep 1\nrun: LOCKSTEP_OK"), "{out}");
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn cpp_an_exception_in_the_step_refuses_it_and_comes_out_of_run() {
    let conductor = Conductor::start(&["--rounds", "4"]);
    let args = ["throw", &address(&conductor), "cpp-throw", "1"];
    let source = ["tests/native/wrapper.cpp"];
    let Some((code, out)) = compile_and_run(Compiler::Cxx, &source, &args) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("step 0\nstep 1\ncaught: the model diverged\n"),
        "{out}"
    );
    conductor.wait_log("refused: step 1: the model diverged");
}

#[test]
fn cpp_failures_throw_with_the_code_and_the_words() {
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let source = ["tests/native/wrapper.cpp"];
    let Some((code, out)) = compile_and_run(
        Compiler::Cxx,
        &source,
        &["connect", &address(&conductor), ""],
    ) else {
        return;
    };
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out, "error -1: invalid id \"\": it is blank\n");
    // A client moved from is empty, and only the one it moved to leaves.
    let args = ["connect", &address(&conductor), "cpp-moved"];
    let (code, out) = compile_and_run(Compiler::Cxx, &source, &args).expect("compiled");
    assert_eq!((code, out.as_str()), (Some(0), "connected 1\n"));
    conductor.wait_log("left: cpp-moved (");
}

#[test]
fn cpp_a_hand_driven_loop_with_timeouts_sees_every_event() {
    let mut conductor = Conductor::start(&["--rounds", "2"]);
    let args = ["by-hand", &address(&conductor), "cpp-hand"];
    let source = ["tests/native/wrapper.cpp"];
    let Some((code, out)) = compile_and_run(Compiler::Cxx, &source, &args) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        "event: shutting down after 2 more steps\n\
         go 0\n\
         event: shutting down after 1 more step\n\
         go 1\n\
         event: ceasing operation by the operator's decision\n\
         event: closing the connection\n"
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn fortran_a_hand_driven_loop_reads_the_events_and_the_errors() {
    let sources = ["include/lockstep.f90", "tests/native/by_hand.f90"];
    let mut conductor = Conductor::start(&["--rounds", "2"]);
    let Some((code, out)) = compile_and_run(
        Compiler::Fortran,
        &sources,
        &[&address(&conductor), "f-hand"],
    ) else {
        return;
    };
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out,
        "event: shutting down after 2 more steps\n\
         go 0\n\
         event: shutting down after 1 more step\n\
         go 1\n\
         event: ceasing operation by the operator's decision\n\
         event: closing the connection\n"
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));

    // The conductor is gone: the error's code and words come through the module.
    let (code, out) = compile_and_run(
        Compiler::Fortran,
        &sources,
        &[&address(&conductor), "f-hand"],
    )
    .expect("compiled");
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with(&format!(
            "failed -2: cannot connect to the conductor at {}",
            address(&conductor)
        )),
        "{out}"
    );
}

#[test]
fn the_bench_participants_in_c_and_rust_report_the_rounds_they_measured() {
    // The conductor's waves are steps 0 to 11; from step 3 on, 8 rounds are measured.
    let conductor = Conductor::start(&["--min-clients", "2", "--rounds", "12"]);
    let dir = TempDir::new("bench-participant");
    let Some(c) = compile(
        Compiler::C,
        &["benches/participant.c"],
        Link::Shared,
        &dir,
        "c",
    ) else {
        return;
    };
    let rust = library_dir().join("examples/bench_participant");
    let address = address(&conductor);
    let mut participants: Vec<Participant> = [(c, "bench-c"), (rust, "bench-rust")]
        .into_iter()
        .map(|(exe, id)| {
            let mut command = Command::new(exe);
            command.args([address.as_str(), id, "3"]);
            Participant::spawn(command)
        })
        .collect();
    for (p, lang) in participants.iter_mut().zip(["c", "rust"]) {
        let status = p.wait_exit(DEADLINE);
        assert!(status.success(), "{status}: {}", p.stderr());
        let report: serde_json::Value = serde_json::from_str(p.stdout().trim())
            .unwrap_or_else(|e| panic!("{e}: {}", p.stdout()));
        assert_eq!(report["lang"], lang);
        assert_eq!(report["steps"], 12, "{report}");
        assert_eq!(report["rounds"], 8, "{report}");
        for figure in ["wall_us", "cpu_us"] {
            assert!(
                report[figure].as_f64().is_some_and(|v| v >= 0.0),
                "{report}"
            );
        }
    }
}
