//! `conductor join -- CMD` against the real conductor: every participant runs its command for
//! every step in order, a failing command is refused and the others finish, and refusals,
//! signals and missing conductors give the documented exit codes.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use lockstep_proto::participant::Event;

use common::participants::{join, join_port, join_with};
use common::{run_to_exit, wait_for, Conductor, TempDir, DEADLINE};

/// A shell command appending the step to `file`, then exiting `status` at `fail_at`.
fn append_step(file: &std::path::Path, fail_at: Option<(u32, i32)>) -> String {
    let mut script = format!("echo \"$LOCKSTEP_STEP\" >> '{}'", file.display());
    if let Some((step, status)) = fail_at {
        script += &format!("; test \"$LOCKSTEP_STEP\" != {step} || exit {status}");
    }
    script
}

#[test]
fn three_joined_commands_run_every_step_in_order() {
    let mut conductor = Conductor::start(&["--min-clients", "3", "--rounds", "5"]);
    let dir = TempDir::new("join-three");
    let files: Vec<_> = (1..=3).map(|n| dir.path(&format!("p{n}.txt"))).collect();
    let mut participants: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(n, file)| {
            let script = append_step(file, None);
            join(&conductor, &format!("p{}", n + 1), &["sh", "-c", &script])
        })
        .collect();
    for (n, (participant, file)) in participants.iter_mut().zip(&files).enumerate() {
        let status = participant.wait_exit(DEADLINE);
        assert_eq!(status.code(), Some(0), "stderr: {}", participant.stderr());
        let written = std::fs::read_to_string(file).expect("the step file");
        assert_eq!(written, "0\n1\n2\n3\n4\n");
        // The countdown and the end, in plain words: the countdown in the conductor's own.
        let said = participant.stderr();
        assert!(said.contains("shutting down after 1 more step"), "{said}");
        assert!(said.contains("ceasing operation"), "{said}");
        assert!(
            said.contains(&format!(
                "conductor join: p{}: the conductor says: shutting down after 3 more steps\n",
                n + 1
            )),
            "{said}"
        );
    }
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
    conductor.wait_log("[INFO] shutting down after 3 more steps");
}

#[test]
fn the_command_sees_its_step_id_and_server() {
    let mut conductor = Conductor::start(&["--rounds", "2"]);
    let dir = TempDir::new("join-env");
    let file = dir.path("env.txt");
    let script = format!(
        "echo \"$LOCKSTEP_STEP $LOCKSTEP_ID $LOCKSTEP_SERVER\" >> '{}'",
        file.display()
    );
    let mut participant = join(&conductor, "env-1", &["sh", "-c", &script]);
    assert_eq!(participant.wait_exit(DEADLINE).code(), Some(0));
    let addr = conductor.addr;
    assert_eq!(
        std::fs::read_to_string(&file).expect("the env file"),
        format!("0 env-1 {addr}\n1 env-1 {addr}\n")
    );
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn a_failing_command_is_refused_and_the_others_finish() {
    let mut conductor = Conductor::start(&["--min-clients", "3", "--rounds", "5"]);
    let dir = TempDir::new("join-fail");
    let files: Vec<_> = (1..=3).map(|n| dir.path(&format!("f{n}.txt"))).collect();
    let mut good: Vec<_> = files[..2]
        .iter()
        .enumerate()
        .map(|(n, file)| {
            join(
                &conductor,
                &format!("good-{}", n + 1),
                &["sh", "-c", &append_step(file, None)],
            )
        })
        .collect();
    let script = append_step(&files[2], Some((4, 7)));
    let mut failing = join(&conductor, "failing", &["sh", "-c", &script]);

    assert_eq!(failing.wait_exit(DEADLINE).code(), Some(7));
    let said = failing.stderr();
    assert!(
        said.contains("step 4: command exited with status 7"),
        "{said}"
    );
    conductor.wait_log("left: failing");
    conductor.wait_log("refused: step 4: command exited with status 7");
    for (participant, file) in good.iter_mut().zip(&files) {
        assert_eq!(participant.wait_exit(DEADLINE).code(), Some(0));
        assert_eq!(
            std::fs::read_to_string(file).expect("the step file"),
            "0\n1\n2\n3\n4\n"
        );
    }
    assert_eq!(conductor.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn a_run_left_short_of_participants_says_why_it_waits() {
    // The stuck run: two participants needed, one fails at step 2; the survivor and the
    // conductor wait, and the log and the status say for what.
    let mut conductor = Conductor::start(&["--min-clients", "2", "--rounds", "5"]);
    let dir = TempDir::new("join-short");
    let (kept, lost) = (dir.path("survivor.txt"), dir.path("failing.txt"));
    let mut survivor = join(
        &conductor,
        "survivor",
        &["sh", "-c", &append_step(&kept, None)],
    );
    let script = append_step(&lost, Some((2, 7)));
    let mut failing = join(&conductor, "failing", &["sh", "-c", &script]);
    assert_eq!(failing.wait_exit(DEADLINE).code(), Some(7));

    let sentence = "waiting for 1 more participant (1 ready, 2 needed)";
    conductor.wait_log(&format!("[INFO] {sentence}"));
    let status = conductor.wait_status("the survivor alone, ready", |s| {
        s["ready"] == 1 && s["round_started_ms_ago"].is_null()
    });
    assert_eq!(status["min_clients"], 2);
    assert_eq!(status["waves_sent"], 3);
    // status.txt is written after status.json: wait for it too rather than read it once.
    let wanted = format!("round        none: {sentence}");
    wait_for("status.txt saying why it waits", DEADLINE, || {
        std::fs::read_to_string(conductor.dir.path("status.txt"))
            .ok()
            .filter(|text| text.contains(&wanted))
    });
    let (code, shown, err) = run_to_exit(&conductor.dir.0, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(shown.contains(sentence), "{shown}");
    // Both still wait: nothing ended the run.
    assert!(survivor.child.try_wait().expect("try_wait").is_none());
    assert!(conductor.child.try_wait().expect("try_wait").is_none());
    assert_eq!(
        std::fs::read_to_string(&kept).expect("the step file"),
        "0\n1\n2\n"
    );

    conductor.signal(libc::SIGINT);
    assert_eq!(survivor.wait_exit(DEADLINE).code(), Some(0));
    conductor.expect_exit(0);
}

#[test]
fn with_end_on_failure_a_failing_command_ends_the_run_with_exit_code_3() {
    let mut conductor = Conductor::start(&[
        "--min-clients",
        "3",
        "--rounds",
        "5",
        "--end-on-failure",
        "true",
    ]);
    let dir = TempDir::new("join-end-on-failure");
    let files: Vec<_> = (1..=2).map(|n| dir.path(&format!("g{n}.txt"))).collect();
    let mut good: Vec<_> = files
        .iter()
        .enumerate()
        .map(|(n, file)| {
            join(
                &conductor,
                &format!("good-{}", n + 1),
                &["sh", "-c", &append_step(file, None)],
            )
        })
        .collect();
    let script = append_step(&dir.path("failing.txt"), Some((2, 7)));
    let mut failing = join(&conductor, "failing", &["sh", "-c", &script]);
    assert_eq!(failing.wait_exit(DEADLINE).code(), Some(7));

    let log = conductor.expect_exit(3);
    let reason = "step 2: command exited with status 7";
    assert!(
        log.contains(&format!(
            "[ERROR] ending (end_on_failure): participant failing failed: {reason}"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "conductor: ended: participant failing failed: {reason}"
        )),
        "{log}"
    );
    // The others hear `E`, in the conductor's words, and no step after the failing one.
    for (participant, file) in good.iter_mut().zip(&files) {
        assert_eq!(participant.wait_exit(DEADLINE).code(), Some(1));
        let said = participant.stderr();
        assert!(
            said.contains("the conductor says: shutting down because of an error"),
            "{said}"
        );
        let steps = std::fs::read_to_string(file).expect("the step file");
        assert!(
            steps.starts_with("0\n1\n") && !steps.contains('3'),
            "{steps}"
        );
    }
    let status = conductor.status("status.json").expect("the final status");
    assert_eq!(status["phase"], "stopped");
    assert_eq!(status["failure"]["id"], "failing");
    assert_eq!(status["failure"]["reason"], reason);
    let text = std::fs::read_to_string(conductor.dir.path("status.txt")).expect("status.txt");
    assert!(
        text.contains(&format!("failed       failing: {reason}")),
        "{text}"
    );
}

#[test]
fn end_on_failure_closed_ends_the_run_on_a_connection_lost_without_x() {
    // With `true` a lost connection is a departure like any other; with "closed" it is a
    // failure. An `X` is never one. Three needed: no wave goes out, and participants that
    // wait count all the same.
    for (setting, ends) in [("true", false), ("closed", true)] {
        let mut conductor =
            Conductor::start_quiet(&["--min-clients", "3", "--end-on-failure", setting]);
        let mut stays = conductor.member("stays");
        let mut polite = conductor.member("polite");
        conductor.wait_log("joined: polite");
        polite.leave();
        conductor.wait_log("left: polite");
        let lost = conductor.join("lost");
        conductor.wait_log("joined: lost");
        lost.reset();
        conductor.wait_log("left: lost");
        if ends {
            assert_eq!(stays.rest(), [Event::ErrorShutdown, Event::Exit]);
            let log = conductor.expect_exit(3);
            assert!(
                log.contains("participant lost failed: connection closed without X"),
                "{log}"
            );
        } else {
            assert!(conductor.child.try_wait().expect("try_wait").is_none());
            conductor.signal(libc::SIGINT);
            assert_eq!(stays.rest(), [Event::Cease, Event::Exit]);
            conductor.expect_exit(0);
        }
    }
}

#[test]
fn signals_and_missing_commands_give_shell_exit_codes() {
    let conductor = Conductor::start(&[]);
    let mut killed = join(&conductor, "killed", &["sh", "-c", "kill -9 $$"]);
    assert_eq!(killed.wait_exit(DEADLINE).code(), Some(137));
    conductor.wait_log("step 0: command exited with status 137 (killed by signal 9)");
}

#[test]
fn a_command_that_cannot_run_is_reported_before_connecting() {
    // Nobody listens on the port: a command found to be missing never gets that far.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let dir = TempDir::new("join-unrunnable");
    let not_executable = dir.path("step.sh");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    let not_executable = not_executable.display().to_string();
    let cases = [
        (
            "/nonexistent/step-command",
            127,
            "cannot run command /nonexistent/step-command: no such file".to_string(),
        ),
        (
            "no-such-step-command",
            127,
            "cannot run command no-such-step-command: not found in PATH".to_string(),
        ),
        (
            not_executable.as_str(),
            126,
            format!(
                "cannot run command {not_executable}: {not_executable} is not an executable file"
            ),
        ),
    ];
    for (command, code, message) in cases {
        let mut participant = join_port(port, "w1", &[command]);
        assert_eq!(
            participant.wait_exit(DEADLINE).code(),
            Some(code),
            "{command}"
        );
        let said = participant.stderr();
        assert_eq!(said, format!("conductor join: w1: {message}\n"));
    }
    // A name in PATH is found there, and then join connects (and finds nobody).
    let mut found = join_port(port, "w1", &["true"]);
    assert_eq!(found.wait_exit(DEADLINE).code(), Some(1));
    assert!(
        found.stderr().contains("cannot connect"),
        "{}",
        found.stderr()
    );
}

#[test]
fn a_refused_join_exits_3_with_the_reason() {
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let _holder = conductor.join("taken");
    conductor.wait_log("joined: taken");
    let mut second = join(&conductor, "taken", &["true"]);
    assert_eq!(second.wait_exit(DEADLINE).code(), Some(3));
    let said = second.stderr();
    assert!(
        said.contains("refused by the conductor before the first step: duplicate id taken"),
        "{said}"
    );
}

#[test]
fn no_conductor_exits_1_and_says_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let mut lone = join_port(port, "lone", &["true"]);
    assert_eq!(lone.wait_exit(DEADLINE).code(), Some(1));
    assert!(
        lone.stderr().contains("cannot connect"),
        "{}",
        lone.stderr()
    );
}

/// Whether process `pid` is gone: no such process, or a zombie waiting for its parent.
fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command name in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits for `file` to hold a pid written by a step command.
fn pid_in(file: &std::path::Path) -> i32 {
    wait_for("the step command to write its pid", DEADLINE, || {
        std::fs::read_to_string(file)
            .ok()
            .and_then(|text| text.trim().parse().ok())
    })
}

#[test]
fn join_killed_by_a_signal_stops_its_command_and_leaves_with_x() {
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let conductor = Conductor::start(&[]);
        let dir = TempDir::new("join-signal");
        let (shell, child) = (dir.path("shell.pid"), dir.path("child.pid"));
        // The shell, and a child of its own in the same process group.
        let script = format!(
            "sleep 1000 & echo $! > '{}'; echo $$ > '{}'; wait",
            child.display(),
            shell.display()
        );
        let mut participant = join(&conductor, "signalled", &["sh", "-c", &script]);
        let (shell_pid, child_pid) = (pid_in(&shell), pid_in(&child));
        conductor.wait_status("the step running", |s| {
            s["clients"][0]["state"] == "Working"
        });
        // SAFETY: kill has no memory effects.
        assert_eq!(
            unsafe { libc::kill(participant.child.id() as i32, signal) },
            0
        );
        let status = participant.wait_exit(DEADLINE);
        assert_eq!(status.code(), Some(code), "{}", participant.stderr());
        let said = participant.stderr();
        assert!(said.contains("passed on to step 0's command"), "{said}");
        // The shell's background job ignores SIGINT (as in any non-interactive shell): join
        // ends what is left of the group once the shell is gone.
        for pid in [shell_pid, child_pid] {
            wait_for("the command and its child to be gone", DEADLINE, || {
                gone(pid).then_some(())
            });
        }
        // The conductor heard X: the participant left, not a closed connection.
        conductor.wait_log("left: signalled");
        let left = conductor.log_lines("left: signalled");
        assert!(!left[0].contains("connection closed"), "{left:?}");
    }
}

#[test]
fn join_killed_between_steps_leaves_with_x() {
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let mut participant = join(&conductor, "idle", &["true"]);
    conductor.wait_log("joined: idle");
    // SAFETY: kill has no memory effects.
    assert_eq!(
        unsafe { libc::kill(participant.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert_eq!(participant.wait_exit(DEADLINE).code(), Some(143));
    conductor.wait_log("left: idle");
    assert!(!conductor.log_lines("left: idle")[0].contains("connection closed"));
}

#[test]
fn without_reconnecting_join_says_at_once_when_the_conductor_goes_during_a_long_step() {
    let mut conductor = Conductor::start(&[]);
    let dir = TempDir::new("join-orphaned");
    let pid_file = dir.path("step.pid");
    let script = format!("echo $$ > '{}'; exec sleep 1000", pid_file.display());
    let port = conductor.addr.port();
    let flags = ["--reconnect-ms", "0"];
    let mut participant = join_with(port, "long-step", &flags, &["sh", "-c", &script]);
    let step_pid = pid_in(&pid_file);
    conductor.wait_status("the step running", |s| {
        s["clients"][0]["state"] == "Working"
    });
    conductor.signal(libc::SIGKILL);
    conductor.wait_exit(DEADLINE);
    wait_for("join's notice", DEADLINE, || {
        participant
            .stderr()
            .contains("the connection to the conductor ended during step 0")
            .then_some(())
    });
    // Said while the command still runs, not after it.
    assert!(participant.child.try_wait().unwrap().is_none());
    assert!(!gone(step_pid));
    // SAFETY: kill has no memory effects.
    assert_eq!(
        unsafe { libc::kill(participant.child.id() as i32, libc::SIGTERM) },
        0
    );
    assert_eq!(participant.wait_exit(DEADLINE).code(), Some(143));
    wait_for("the command to be gone", DEADLINE, || {
        gone(step_pid).then_some(())
    });
}
