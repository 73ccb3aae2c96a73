//! The participant libraries against the real conductor binary: the Rust runner through
//! planned rounds, a duplicate id refused with the conductor's reason, Rust, Python and
//! `conductor join` participants in the same rounds, and the Python client's own unit tests.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::participants::{join, python3, python_dir, python_test_modules, Participant};
use common::{Conductor, TempDir, DEADLINE};
use lockstep::{Client, ClientError, Event, Runner, Summary};

#[test]
fn runners_take_part_in_planned_rounds() {
    let mut conductor = Conductor::start(&["--min-clients", "2", "--rounds", "5"]);
    let addr = conductor.addr;
    let workers: Vec<_> = ["rust-a", "rust-b"]
        .into_iter()
        .map(|name| {
            std::thread::spawn(move || {
                let client = Client::connect(addr, name).expect("connect");
                let mut steps = Vec::new();
                let mut events = Vec::new();
                let summary = Runner::new(client)
                    .on_event(|e| events.push(e.clone()))
                    .run(|step| {
                        steps.push(step);
                        Ok(())
                    });
                (summary.expect("a clean end"), steps, events)
            })
        })
        .collect();
    for worker in workers {
        let (summary, steps, events) = worker.join().expect("worker thread");
        assert_eq!(steps, [0, 1, 2, 3, 4]);
        assert_eq!(
            summary,
            Summary {
                steps: 5,
                last_step: Some(4),
                ceased: true
            }
        );
        // The default countdown of 3, then the planned end.
        assert_eq!(
            events,
            [
                Event::ShuttingDown(3),
                Event::ShuttingDown(2),
                Event::ShuttingDown(1),
                Event::Cease,
                Event::Exit
            ]
        );
    }
    assert_eq!(conductor.wait_exit(common::DEADLINE).code(), Some(0));
}

#[test]
fn a_duplicate_id_is_refused_with_the_conductors_reason() {
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let _holder = conductor.join("twin");
    conductor.wait_log("joined: twin");
    let client = Client::connect(conductor.addr, "twin").expect("the hello exchange");
    let error = Runner::new(client)
        .run(|_| Ok(()))
        .expect_err("a duplicate is refused");
    assert!(
        matches!(&error, ClientError::Refused { reason, .. } if reason.as_str() == "duplicate id twin"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "refused by the conductor before the first step: duplicate id twin"
    );
    conductor.wait_log("refused: ");
}

/// A Python participant printing each step on its own line.
const PYTHON_PARTICIPANT: &str = "\
import sys, lockstep
with lockstep.connect(sys.argv[1], port=int(sys.argv[2])) as conductor:
    for step in conductor:
        print(step)
";

#[test]
fn rust_python_and_join_participants_share_the_rounds() {
    let mut conductor = Conductor::start(&["--min-clients", "3", "--rounds", "5"]);
    let addr = conductor.addr;
    let rust = std::thread::spawn(move || {
        let client = Client::connect(addr, "rust").expect("connect");
        let mut steps = Vec::new();
        Runner::new(client)
            .run(|step| {
                steps.push(step);
                Ok(())
            })
            .map(|_| steps)
    });
    let mut command = python3();
    command
        .env("PYTHONPATH", python_dir())
        .args(["-c", PYTHON_PARTICIPANT, "python"])
        .arg(addr.port().to_string());
    let mut python = Participant::spawn(command);
    let dir = TempDir::new("mixed");
    let file = dir.path("join.txt");
    let script = format!("echo \"$LOCKSTEP_STEP\" >> '{}'", file.display());
    let mut joined = join(&conductor, "join", &["sh", "-c", &script]);

    assert_eq!(
        rust.join().expect("rust participant").expect("a clean end"),
        [0, 1, 2, 3, 4]
    );
    let status = python.wait_exit(DEADLINE);
    assert!(status.success(), "python: {status}; {}", python.stderr());
    assert_eq!(python.stdout(), "0\n1\n2\n3\n4\n");
    assert_eq!(joined.wait_exit(DEADLINE).code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(&file).expect("the join file"),
        "0\n1\n2\n3\n4\n"
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
    let log = conductor.log();
    for id in ["rust", "python", "join"] {
        assert!(log.contains(&format!("joined: {id} ")), "{log}");
    }
}

/// Without being told, the Python tests find the conductor `cargo test` built, so that
/// `python3 -m unittest` in `clients/python` after a build runs every test.
#[test]
fn python_tests_find_the_built_conductor_by_themselves() {
    let dir = TempDir::new("python-find");
    let output = python3()
        .current_dir(&dir.0)
        .env("PYTHONPATH", python_dir())
        .env_remove("LOCKSTEP_CONDUCTOR")
        .args([
            "-c",
            "from tests import real_conductor; print(real_conductor.CONDUCTOR)",
        ])
        .output()
        .expect("run python3");
    let found = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let found = std::path::Path::new(&found);
    assert_eq!(
        found.file_name().and_then(|n| n.to_str()),
        Some("conductor"),
        "{found:?}"
    );
    let built = std::path::Path::new(env!("CARGO_BIN_EXE_conductor"));
    // The same target directory (the newest of its debug and release builds).
    let target = |p: &std::path::Path| {
        p.canonicalize()
            .ok()
            .and_then(|p| p.parent()?.parent().map(std::path::Path::to_path_buf))
    };
    assert_eq!(target(found), target(built), "{found:?} beside {built:?}");
}

/// The Python client's unit tests, found by `unittest` in `clients/python/tests` as the
/// README runs them, with its real-conductor tests run against this binary.
#[test]
fn python_client_unit_tests_pass() {
    let output = python3()
        .current_dir(python_dir())
        .env("LOCKSTEP_CONDUCTOR", env!("CARGO_BIN_EXE_conductor"))
        .args(["-m", "unittest", "-v"])
        .output()
        .expect("run python3 -m unittest");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "Python unit tests failed:\n{report}"
    );
    assert!(report.contains("\nOK"), "{report}");
    // Every test module was found, and the real-conductor tests ran, not skipped.
    for module in python_test_modules() {
        assert!(
            report.contains(&format!("(tests.{module}.")),
            "{module}: {report}"
        );
    }
    assert!(!report.contains("skipped"), "{report}");
}
