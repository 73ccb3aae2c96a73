//! PROTOCOL.md "Surviving restarts", the conductor's side, end to end: a conductor killed with
//! SIGKILL, restarted with SIGUSR1, stopped with SIGTERM or SIGINT resumes from its state file
//! with the recorded step; a finished run begins again at 0; `--fresh`; and state files that
//! cannot be resumed from (corrupt, truncated, of another `step_wrap`, not a state file, in use)
//! are refused with exit 2, naming the file and the problem.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{run_round, run_to_exit, Conductor, Member, TempDir, DEADLINE};
use lockstep_proto::participant::Event::{self, *};
use lockstep_proto::record::{self, Record, SLOT_STRIDE};

/// Every event until the conductor closes, answering each Go with `K!`.
fn play_to_the_end(m: &mut Member) -> Vec<Event> {
    let mut seen = Vec::new();
    while let Some(event) = m.try_next_event_within(DEADLINE) {
        if let Go(_) = event {
            m.finish();
        }
        seen.push(event);
    }
    seen
}

/// The record a state file holds now.
fn recorded(path: &std::path::Path) -> Record {
    let bytes = std::fs::read(path).expect("the state file");
    record::read(&bytes)
        .expect("a state file")
        .expect("a record")
        .0
}

#[test]
fn a_killed_conductor_resumes_from_the_recorded_step_and_ends_as_planned() {
    let files = TempDir::new("restart-kill");
    let state = files.path("run.state");
    let state = state.to_str().expect("a path in UTF-8");
    let args = [
        "--state-file",
        state,
        "--rounds",
        "6",
        "--shutdown-countdown",
        "2",
    ];
    let mut first = Conductor::start_quiet(&args);
    first.wait_log(&format!("recording the run in {state}"));
    let mut m = first.member("m");
    for step in 0..3 {
        assert_eq!(m.recv_go(), step);
        m.finish();
    }
    // The fourth wave's Go arrived and is not answered when the conductor dies.
    assert_eq!(m.recv_go(), 3);
    assert_eq!(recorded(state.as_ref()).waves_sent, 4);
    first.signal(libc::SIGKILL);
    first.wait_exit(DEADLINE);

    let mut second = Conductor::start_quiet(&args);
    second.wait_log(&format!(
        "resuming after step 3 from {state}; --fresh starts at 0"
    ));
    let mut m = second.member("m");
    // The recorded wave again, then the rest of the run, its countdown as planned.
    assert_eq!(
        play_to_the_end(&mut m),
        [
            Go(3),
            ShuttingDown(2),
            Go(4),
            ShuttingDown(1),
            Go(5),
            Cease,
            Exit
        ]
    );
    second.expect_exit(0);
    let status = second.status("status.json").expect("the final status");
    assert_eq!(status["waves_sent"], 6);
    assert!(status["state_file_error"].is_null());
    let done = recorded(state.as_ref());
    assert!(done.finished && done.waves_sent == 6, "{done:?}");

    // The run finished: the next start begins at step 0.
    let third = Conductor::start_quiet(&args);
    third.wait_log("holds a run that had finished; starting at step 0");
    let mut m = third.member("m");
    assert_eq!(m.recv_go(), 0);
}

#[test]
fn sigusr1_closes_every_connection_without_a_word_and_the_next_conductor_resumes() {
    let files = TempDir::new("restart-usr1");
    let state = files.path("run.state");
    let state = state.to_str().expect("a path in UTF-8");
    let args = ["--state-file", state, "--min-clients", "2"];
    let mut first = Conductor::start_quiet(&args);
    let mut members = vec![first.member("a"), first.member("b")];
    assert_eq!(run_round(&mut members), 0);
    // Round 1 runs: a is Done, b works on it.
    assert_eq!(members[0].recv_go(), 1);
    members[0].finish();
    assert_eq!(members[1].recv_go(), 1);
    members[1].ack();
    first.wait_status("a Done, b Working", |s| {
        s["clients"][0]["state"] == "Done" && s["clients"][1]["state"] == "Working"
    });
    first.signal(libc::SIGUSR1);
    for m in &mut members {
        m.expect_closed();
    }
    let log = first.expect_exit(0);
    assert!(
        log.contains("SIGUSR1: restarting: closing every connection without a word"),
        "{log}"
    );
    assert!(!log.contains("ceasing"), "{log}");
    let status = first.status("status.json").expect("the last status");
    assert_eq!(status["phase"], "stopped");
    assert_eq!(status["waves_sent"], 2);

    let second = Conductor::start_quiet(&args);
    second.wait_log(&format!("resuming after step 1 from {state}"));
    let mut members = vec![second.member("a"), second.member("b")];
    assert_eq!(run_round(&mut members), 1, "the recorded step, sent again");
    assert_eq!(run_round(&mut members), 2);
}

#[test]
fn after_sigterm_or_sigint_new_participants_carry_on_from_the_recorded_step() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let files = TempDir::new("restart-stop");
        let state = files.path("run.state");
        let state = state.to_str().expect("a path in UTF-8");
        let args = ["--state-file", state, "--shutdown-countdown", "0"];
        let mut first = Conductor::start_quiet(&args);
        let mut m = first.member("m");
        for step in 0..2 {
            assert_eq!(m.recv_go(), step);
            m.finish();
        }
        assert_eq!(m.recv_go(), 2);
        first.signal(signal);
        if signal == libc::SIGTERM {
            // The round running ends first.
            first.wait_log("graceful stop requested");
            m.finish();
        }
        assert_eq!(play_to_the_end(&mut m), [Cease, Exit]);
        first.expect_exit(0);

        let second = Conductor::start_quiet(&args);
        second.wait_log(&format!("resuming after step 2 from {state}"));
        let mut newcomer = second.member("new");
        assert_eq!(newcomer.recv_go(), 2, "signal {signal}");
        newcomer.finish();
        assert_eq!(newcomer.recv_go(), 3);
    }
}

#[test]
fn fresh_starts_at_step_0_and_overwrites_the_file() {
    let files = TempDir::new("restart-fresh");
    let state = files.path("run.state");
    let state_text = state.to_str().expect("a path in UTF-8");
    let mut first = Conductor::start_quiet(&["--state-file", state_text]);
    let mut m = first.member("m");
    for step in 0..3 {
        assert_eq!(m.recv_go(), step);
        m.finish();
    }
    assert_eq!(m.recv_go(), 3);
    first.signal(libc::SIGKILL);
    first.wait_exit(DEADLINE);
    assert_eq!(recorded(&state).waves_sent, 4);

    let second = Conductor::start_quiet(&["--state-file", state_text, "--fresh"]);
    second.wait_log(&format!(
        "starting at step 0 (--fresh): {state_text} is overwritten"
    ));
    let mut m = second.member("m");
    assert_eq!(m.recv_go(), 0);
    assert_eq!(recorded(&state).waves_sent, 1);
}

#[test]
fn state_files_that_cannot_be_resumed_from_are_refused_naming_the_file() {
    let dir = TempDir::new("restart-bad");
    let wave = |waves_sent: u64, step_wrap: u64| Record {
        step: Record::step_of_wave(waves_sent, step_wrap),
        waves_sent,
        rounds: 0,
        step_wrap,
        finished: false,
    };
    let good = wave(5, 1 << 32).new_file();
    let mut corrupt = good.clone();
    corrupt[20] ^= 0x40;
    corrupt[SLOT_STRIDE + 20] ^= 0x40;
    corrupt[SLOT_STRIDE..SLOT_STRIDE + 8].copy_from_slice(&record::MAGIC);
    let cases: Vec<(&str, Vec<u8>, String)> = vec![
        (
            "corrupt",
            corrupt,
            "corrupt: neither of its two slots holds a whole record".into(),
        ),
        (
            "truncated",
            good[..100].to_vec(),
            "truncated: 100 bytes, a state file has 4160".into(),
        ),
        (
            "other-wrap",
            wave(5, 7).new_file(),
            "written for step_wrap 7, but step_wrap is 4294967296: its steps would not continue \
             this run"
                .into(),
        ),
        (
            "stranger",
            b"{\"rounds\": 3}\n".to_vec(),
            "not a Lockstep state file".into(),
        ),
    ];
    for (name, bytes, problem) in cases {
        let path = dir.path(name);
        std::fs::write(&path, &bytes).unwrap();
        let path = path.to_str().unwrap();
        let (code, out, err) = run_to_exit(&dir.0, &["--port", "0", "--state-file", path]);
        assert_eq!(code, Some(2), "{name}: {err}");
        assert_eq!(out, "", "{name}: nothing listens");
        assert!(
            err.contains(&format!(
                "state file {path}: {problem}; --fresh starts at step 0 and overwrites it"
            )),
            "{name}: {err}"
        );
        assert_eq!(
            std::fs::read(path).unwrap(),
            bytes,
            "{name}: left as it was"
        );
    }
    let (code, _, err) = run_to_exit(&dir.0, &["--port", "0", "--state-file", "/dev/null"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("state file /dev/null: is not a regular file"),
        "{err}"
    );
    let (code, _, err) = run_to_exit(&dir.0, &["--state-file", "s", "--step-wrap", "1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("key \"state_file\": needs a step_wrap of 2 or more"),
        "{err}"
    );
}

#[test]
fn a_second_conductor_on_the_same_state_file_is_refused() {
    let files = TempDir::new("restart-twice");
    let state = files.path("run.state");
    let state = state.to_str().expect("a path in UTF-8");
    let _first = Conductor::start_quiet(&["--state-file", state]);
    let (code, _, err) = run_to_exit(&files.0, &["--port", "0", "--state-file", state]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "state file {state}: another conductor is using it"
        )),
        "{err}"
    );
}
