//! PROTOCOL.md "Run control" end to end: `conductor ctl` against the real binary — pause during
//! a round, resume, `step 3`, `hold-at`, a pace changed while running, `exempt` for a
//! participant frozen with SIGSTOP, a pause longer than `drop_after_ms` that drops nobody —
//! and the control socket itself: owner-only, removed on exit, a stale one replaced, one in use
//! refused, and garbage, a 1 MiB line and too many clients leaving the rounds alone — and a
//! pause seen in status.json, status.txt, `conductor status`, `/status.json` and `/metrics`.

// Drives the binary over real sockets and waits with deadlines (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use common::{participants, run_to_exit, wait_for, Conductor, Heard, Launch, Member, TempDir};
use lockstep_proto::participant::Event;

/// Nothing but probes (answered) arrives for `within`: no wave.
fn expect_no_wave(member: &mut Member, within: Duration) {
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        match member.listen(left) {
            Heard::Silence => return,
            Heard::Msg(Event::Probed | Event::Slow) => {}
            Heard::Msg(other) => panic!("expected no wave, got {other}"),
            Heard::Closed => panic!("the conductor closed the connection"),
        }
    }
}

#[test]
fn a_pause_lets_the_running_round_finish_and_a_resume_sends_the_next_wave() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut a = conductor.member("a");
    let mut b = conductor.member("b");
    assert_eq!(a.recv_go(), 0);
    assert_eq!(b.recv_go(), 0);
    assert_eq!(
        conductor.ctl_ok(&["pause"]),
        "paused before step 1; the running round (step 0) finishes first"
    );
    a.finish();
    b.finish();
    conductor.wait_log("round end: step 0");
    expect_no_wave(&mut a, Duration::from_millis(300));
    let status = conductor.ctl_status();
    assert_eq!(status["phase"], "paused", "{status}");
    assert_eq!(status["paused"], true, "{status}");
    conductor.wait_status("phase paused", |s| s["phase"] == "paused");
    let line = conductor.log_lines("control: pause by uid ").join("\n");
    assert!(
        line.contains(", pid ") && line.ends_with("finishes first"),
        "the log says who paused: {line}"
    );
    assert_eq!(
        conductor.ctl_ok(&["resume"]),
        "resumed: the next wave carries step 1"
    );
    assert_eq!(a.recv_go(), 1);
    assert_eq!(b.recv_go(), 1);
    assert_eq!(
        conductor.ctl_ok(&["resume"]),
        "not paused: waves go out as before"
    );
}

#[test]
fn step_3_sends_exactly_three_waves_then_pauses() {
    let conductor = Conductor::start_quiet(&[]);
    conductor.ctl_ok(&["pause"]);
    let mut a = conductor.member("a");
    expect_no_wave(&mut a, Duration::from_millis(200));
    assert_eq!(
        conductor.ctl_ok(&["step", "3"]),
        "stepping: 3 waves from step 0, then paused"
    );
    for step in 0..3 {
        assert_eq!(a.recv_go(), step);
        a.finish();
    }
    conductor.wait_log("paused before step 3: the stepped waves have gone out");
    expect_no_wave(&mut a, Duration::from_millis(300));
    assert_eq!(conductor.ctl_status()["waves_sent"], 3);
}

#[test]
fn hold_at_pauses_before_that_steps_wave() {
    let conductor = Conductor::start_quiet(&[]);
    assert_eq!(
        conductor.ctl_ok(&["hold-at", "3"]),
        "will pause before step 3 (the next wave carries step 0)"
    );
    let mut a = conductor.member("a");
    for step in 0..3 {
        assert_eq!(a.recv_go(), step);
        a.finish();
    }
    conductor.wait_log("paused before step 3: the hold set at it was reached");
    expect_no_wave(&mut a, Duration::from_millis(300));
    let status = conductor.ctl_status();
    assert_eq!(
        (&status["phase"], &status["hold_at"]),
        (&"paused".into(), &serde_json::Value::Null)
    );
    conductor.ctl_ok(&["resume"]);
    assert_eq!(a.recv_go(), 3);
}

#[test]
fn the_pace_can_be_changed_while_running() {
    // A pace of a minute: after the first wave nothing would come for the test's lifetime.
    let conductor = Conductor::start_quiet(&["--pace-ms", "60000"]);
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0, "the first wave goes at once");
    a.finish();
    expect_no_wave(&mut a, Duration::from_millis(200));
    assert_eq!(
        conductor.ctl_ok(&["pace", "20"]),
        "pace 20 ms: the next wave leaves 20 ms from now at the earliest"
    );
    assert_eq!(a.recv_go(), 1);
    assert_eq!(conductor.ctl_status()["pace_ms"], 20);
    a.finish();
    assert_eq!(
        conductor.ctl_ok(&["pace", "0"]),
        "pace off: waves go out as fast as the participants allow"
    );
    assert_eq!(a.recv_go(), 2);
}

/// `conductor join --id ID` for a conductor that never sends a wave: it only answers probes.
fn idle_participant(conductor: &Conductor, id: &str) -> participants::Participant {
    let p = participants::join(conductor, id, &["true"]);
    conductor.wait_log(&format!("joined: {id} from"));
    p
}

#[test]
fn an_exempt_participant_frozen_with_sigstop_is_dropped_only_after_its_exemption() {
    let conductor = Conductor::start_quiet(&[
        "--probe-after-ms",
        "100",
        "--drop-after-ms",
        "500",
        "--min-clients",
        "9",
    ]);
    let exempt = idle_participant(&conductor, "debugged");
    let other = idle_participant(&conductor, "frozen");
    assert_eq!(
        conductor.ctl_ok(&["exempt", "debugged", "3"]),
        "debugged is exempt from the liveness checks for 3 s"
    );
    let since = Instant::now();
    for p in [&exempt, &other] {
        // SAFETY: a signal to our own child.
        assert_eq!(unsafe { libc::kill(p.child.id() as i32, libc::SIGSTOP) }, 0);
    }
    // The one that is not exempt goes after its drop_after_ms; the exempt one stays.
    conductor.wait_log("refused: frozen (127.0.0.1:");
    let status = conductor.ctl_status();
    let ids: Vec<&str> = status["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["debugged"], "{status}");
    assert!(
        status["clients"][0]["exempt_ms"].as_u64().is_some(),
        "{status}"
    );
    // Once the exemption is over, it is asked and, frozen, dropped.
    wait_for(
        "the exempt participant's drop",
        Duration::from_secs(10),
        || {
            (!conductor
                .log_lines("refused: debugged (127.0.0.1:")
                .is_empty())
            .then_some(())
        },
    );
    assert!(
        since.elapsed() >= Duration::from_secs(3),
        "dropped after {:?}, during its exemption",
        since.elapsed()
    );
    assert!(conductor
        .log_lines("refused: debugged")
        .join("")
        .ends_with("liveness timeout"));
    for p in [&exempt, &other] {
        unsafe { libc::kill(p.child.id() as i32, libc::SIGCONT) };
    }
}

#[test]
fn a_pause_longer_than_drop_after_drops_nobody_and_sends_t() {
    let conductor = Conductor::start(&[
        "--probe-after-ms",
        "100",
        "--drop-after-ms",
        "300",
        "--slow-round-ms",
        "400",
    ]);
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0);
    conductor.ctl_ok(&["pause"]);
    a.finish();
    // Five times drop_after_ms, answering probes as a participant does, and hearing T.
    let mut slow = 0;
    let end = Instant::now() + Duration::from_millis(1_500);
    while Instant::now() < end {
        match a.listen(end.saturating_duration_since(Instant::now())) {
            Heard::Msg(Event::Slow) => slow += 1,
            Heard::Msg(Event::Probed) | Heard::Silence => {}
            other => panic!("during the pause: {other:?}"),
        }
    }
    assert!(
        slow >= 1,
        "T goes out during a pause longer than slow_round_ms"
    );
    conductor.wait_log("still paused after ");
    assert!(conductor.log_lines("liveness timeout").is_empty());
    conductor.ctl_ok(&["resume"]);
    assert_eq!(a.recv_go(), 1);
}

#[test]
fn the_socket_is_the_owners_alone_whatever_the_umask_and_goes_at_the_end() {
    let mut conductor = Conductor::launch(
        &["--rounds", "1", "--shutdown-countdown", "0"],
        Launch {
            umask: Some(0),
            ..Launch::default()
        },
    );
    let socket = conductor.control_socket();
    let meta = std::fs::symlink_metadata(&socket).expect("the socket is there");
    assert_eq!(meta.mode() & 0o777, 0o600, "{:o}", meta.mode());
    assert_eq!(meta.uid(), unsafe { libc::getuid() });
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0);
    a.finish();
    conductor.expect_exit(0);
    assert!(!socket.exists(), "removed on the way out");
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = TempDir::new("stale-control");
    let stale = dir.path("conductor.sock");
    drop(UnixListener::bind(&stale).expect("a socket nobody listens on"));
    let refused = UnixStream::connect(&stale).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let conductor = Conductor::start_in(dir, &[]);
    assert_eq!(
        conductor.ctl_status()["phase"],
        "waiting",
        "it answers there"
    );
}

#[test]
fn a_second_conductor_on_the_same_control_socket_refuses_to_start() {
    let first = Conductor::start(&[]);
    let socket = first.control_socket();
    let other = TempDir::new("second-control");
    let (code, _, err) = run_to_exit(
        &other.0,
        &["--port", "0", "--control", socket.to_str().unwrap()],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "key \"control\": {} is in use: another conductor answers on it",
            socket.display()
        )),
        "{err}"
    );
    assert_eq!(
        first.ctl_status()["phase"],
        "waiting",
        "the first one is fine"
    );
    // Something that is not a socket is never taken over.
    std::fs::write(other.path("taken"), "a file").unwrap();
    let (code, _, err) = run_to_exit(&other.0, &["--port", "0", "--control", "taken"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("taken exists and is not a socket"), "{err}");
    assert_eq!(
        std::fs::read_to_string(other.path("taken")).unwrap(),
        "a file"
    );
}

/// A raw connection to the control socket.
fn raw(conductor: &Conductor) -> UnixStream {
    let stream = UnixStream::connect(conductor.control_socket()).expect("connect");
    stream
        .set_read_timeout(Some(common::DEADLINE))
        .expect("timeout");
    stream
}

#[test]
fn garbage_a_1_mib_line_and_too_many_clients_leave_the_rounds_alone() {
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut members = [conductor.member("a"), conductor.member("b")];
    let mut next = 0;
    let mut rounds = |members: &mut [Member; 2], n: u32| {
        for _ in 0..n {
            assert_eq!(common::run_round(members), next);
            next += 1;
        }
    };
    rounds(&mut members, 5);

    // Garbage, then a real command on the same connection: each line gets its answer.
    let mut garbage = raw(&conductor);
    garbage
        .write_all(b"\xff\xfe\x00 binary\nfly away\n\nstatus\n")
        .unwrap();
    let mut reader = BufReader::new(garbage.try_clone().unwrap());
    let mut answers = Vec::new();
    for _ in 0..4 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("an answer per line");
        answers.push(line);
    }
    assert!(
        answers[0].starts_with("error: the line is not UTF-8 text"),
        "{answers:?}"
    );
    assert!(
        answers[1].starts_with("error: unknown command \"fly\""),
        "{answers:?}"
    );
    assert!(
        answers[2].starts_with("error: an empty line"),
        "{answers:?}"
    );
    assert!(answers[3].starts_with("{\"server_id\""), "{answers:?}");
    rounds(&mut members, 5);

    // A 1 MiB line: refused after 1 KiB, the connection closed (the rest is discarded).
    let mut huge = raw(&conductor);
    let writer = {
        let mut huge = huge.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = huge.write_all(&vec![b'p'; 1 << 20]);
        })
    };
    let mut answer = String::new();
    huge.read_to_string(&mut answer)
        .expect("the answer, then the end");
    assert_eq!(
        answer,
        "error: a line holds at most 1024 bytes; closing the connection\n"
    );
    writer.join().unwrap();
    drop(huge);
    rounds(&mut members, 5);

    // Clients that connect and say nothing take every slot (the two above may still hold
    // theirs for a moment); the next one is told, and the rounds go on.
    drop((garbage, reader));
    let mut silent = Vec::new();
    let rejected = loop {
        let stream = raw(&conductor);
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut line = String::new();
        match BufReader::new(&stream).read_line(&mut line) {
            Ok(n) if n > 0 => break line,
            Ok(_) => panic!("closed without a word"),
            Err(_) => silent.push(stream),
        }
        assert!(silent.len() <= 8, "more than 8 connections at once");
    };
    assert_eq!(
        rejected,
        "error: too many control connections (at most 8); try again\n"
    );
    assert!(silent.len() >= 6, "{} accepted", silent.len());
    rounds(&mut members, 5);
    drop(silent);
    wait_for("a free control slot", common::DEADLINE, || {
        let (code, out, _) = conductor.ctl(&["status"]);
        (code == Some(0)).then_some(out)
    });
    rounds(&mut members, 5);
    assert!(conductor.log_lines("refused").is_empty());
}

#[test]
fn ctl_says_what_went_wrong_with_exit_codes() {
    let conductor = Conductor::start_quiet(&[]);
    let (code, _, err) = conductor.ctl(&[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("conductor ctl: give a command: pause, resume"),
        "{err}"
    );
    let (code, _, err) = conductor.ctl(&["jump"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown command \"jump\""), "{err}");
    assert!(err.contains("try 'conductor ctl --help'"), "{err}");
    let (code, out, err) = conductor.ctl(&["exempt", "nobody", "5"]);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert_eq!(err, "conductor ctl: no participant nobody is connected\n");
    let (code, _, err) = run_to_exit(
        &conductor.dir.0,
        &["ctl", "status", "--control", "elsewhere.sock"],
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("no control socket at elsewhere.sock"), "{err}");
}

#[test]
fn a_control_socket_the_system_will_not_make_is_logged_and_the_rounds_run() {
    let conductor = Conductor::start_quiet(&["--control", "no/such/dir/c.sock"]);
    conductor.wait_log("control socket: cannot create no/such/dir/c.sock: ");
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0);
}

#[test]
fn paused_shows_in_the_status_files_conductor_status_and_http() {
    let conductor = Conductor::start_quiet(&["--http", "127.0.0.1:0", "--pace-ms", "5"]);
    let http = conductor.http.expect("the http address");
    let mut a = conductor.member("a");
    assert_eq!(a.recv_go(), 0);
    conductor.ctl_ok(&["pause"]);
    a.finish();
    conductor.wait_status("phase paused", |s| s["phase"] == "paused");
    wait_for("status.txt saying paused", common::DEADLINE, || {
        let text = std::fs::read_to_string(conductor.dir.path("status.txt")).ok()?;
        (text.contains("\nphase        paused\n")
            && text.contains("\ncontrol      paused; pace 5 ms, "))
        .then_some(())
    });
    let (code, out, err) = run_to_exit(&conductor.dir.0, &["status"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\nphase        paused\n"), "{out}");
    assert_eq!(common::http::status(http)["phase"], "paused");
    wait_for("lockstep_paused 1", common::DEADLINE, || {
        (common::http::metric(http, "lockstep_paused") == 1.0).then_some(())
    });
    // The first wave is never late: the counter is there, at zero.
    let late = common::http::metric(http, "lockstep_late_waves_total");
    assert_eq!(late, 0.0);
    conductor.ctl_ok(&["resume"]);
    assert_eq!(a.recv_go(), 1);
    assert_eq!(common::http::metric(http, "lockstep_paused"), 0.0);
}
