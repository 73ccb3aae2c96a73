//! The conductor's log end to end: the start-up line with the bound address, one info line per
//! join, leave and refusal, waves and round ends at debug and a progress line instead at info,
//! refusals of strangers summarised, per-message detail only at trace, `--log-file`. (The `T`
//! line naming who a round waits on is checked in `rounds.rs`.)

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{hello_bytes, names, run_round, Conductor, TempDir};
use lockstep_proto::wire::ConductorMsg;

#[test]
fn the_start_up_line_gives_the_bound_address_even_for_port_0() {
    let conductor = Conductor::start_quiet(&["--log-level", "info"]);
    assert_ne!(conductor.addr.port(), 0);
    assert_eq!(conductor.addr.ip().to_string(), "127.0.0.1");
    conductor.wait_log(&format!(
        "[INFO] conductor conductor listening on {}",
        conductor.addr
    ));
}

#[test]
fn each_join_leave_and_refusal_has_one_info_line_and_waves_are_debug() {
    for level in ["info", "debug"] {
        let conductor = Conductor::start_quiet(&["--log-level", level, "--min-clients", "2"]);
        let mut clients = conductor.members(&names("logged", 2));
        let mut dup = conductor.connect();
        dup.expect_conductor_hello();
        dup.send(&hello_bytes("logged-0"));
        assert_eq!(dup.recv_refusal(), "duplicate id logged-0");
        assert_eq!(run_round(&mut clients), 0);
        assert_eq!(clients[0].recv_go(), 1);
        assert_eq!(clients[1].recv_go(), 1);
        clients[0].leave();
        clients[0].expect_closed();
        clients[1].finish();
        conductor.wait_log("left: logged-0");

        let one = |text: &str, tag: &str| {
            let lines = conductor.log_lines(text);
            assert_eq!(lines.len(), 1, "{text}: {lines:?}");
            assert!(lines[0].contains(tag), "{}", lines[0]);
            lines[0].clone()
        };
        one("joined: logged-0 from 127.0.0.1:", "[INFO]");
        one("joined: logged-1 from 127.0.0.1:", "[INFO]");
        let refusal = one("refused: 127.0.0.1:", "[INFO]");
        assert!(refusal.ends_with(": duplicate id logged-0"), "{refusal}");
        one("left: logged-0 (127.0.0.1:", "[INFO]");
        if level == "debug" {
            one("wave: step 0 to 2 client(s)", "[DEBUG]");
            one("round end: step 0 in", "[DEBUG]");
            one("wave: step 1 to 2 client(s)", "[DEBUG]");
            conductor.wait_log("round end: step 1 in");
            one("round end: step 1 in", "[DEBUG]");
        } else {
            // Nothing below info was written: no line per wave or per round end.
            let log = conductor.log();
            assert!(
                !log.contains("[DEBUG]") && !log.contains("[TRACE]"),
                "{log}"
            );
            assert!(
                !log.contains("wave:") && !log.contains("round end:"),
                "{log}"
            );
        }
    }
}

#[test]
fn ten_thousand_fast_rounds_log_a_few_lines_at_info() {
    const ROUNDS: u32 = 10_000;
    let mut conductor = Conductor::start_quiet(&[
        "--log-level",
        "info",
        "--rounds",
        &ROUNDS.to_string(),
        "--status-json",
        "",
        "--status-txt",
        "",
    ]);
    let mut c = conductor.join("fast");
    for step in 0..ROUNDS {
        let go = c.recv_skipping(|m| matches!(m, ConductorMsg::ShuttingDown(_)));
        assert_eq!(go, ConductorMsg::Go(step));
        c.send(b"K!");
    }
    assert_eq!(
        c.recv_skipping(|m| matches!(m, ConductorMsg::ShuttingDown(_))),
        ConductorMsg::Cease
    );
    conductor.expect_exit(0);
    conductor.wait_log("exiting with code 0");
    let log = conductor.log();
    let lines = log.lines().count();
    assert!(lines < 50, "{lines} lines for {ROUNDS} rounds:\n{log}");
    // The last progress line counts every round and names the only participant.
    let progress = conductor.log_lines("[INFO] progress: ");
    let last = progress
        .last()
        .unwrap_or_else(|| panic!("no progress line:\n{log}"));
    assert!(last.contains("progress: 10,000 rounds, "), "{last}");
    assert!(last.contains(" rounds/s); round time p50 "), "{last}");
    assert!(last.contains("; slowest: fast ("), "{last}");
    conductor.wait_log("shutting down after 3 more steps");
    assert_eq!(conductor.log_lines("shutting down after").len(), 1, "{log}");
    conductor.wait_log("[INFO] ending: planned end: every round has run");
}

#[test]
fn a_thousand_refused_strangers_log_a_handful_of_lines() {
    const STRANGERS: u64 = 1_000;
    let conductor = Conductor::start_quiet(&["--log-level", "info", "--allow", "10.0.0.0/8"]);
    let started = std::time::Instant::now();
    for _ in 0..STRANGERS {
        let mut c = conductor.connect();
        assert_eq!(c.recv_refusal(), "address 127.0.0.1 is not allowed");
    }
    // Each refusal is written or counted; the count comes out when its second is over.
    common::wait_for(
        "every refusal to be accounted for",
        common::DEADLINE,
        || {
            let logged = conductor.refusals_logged(
                "address 127.0.0.1 is not allowed",
                "address … is not allowed",
            );
            (logged == STRANGERS).then_some(())
        },
    );
    // At most one line in full and one count per second.
    let seconds = started.elapsed().as_secs() as usize;
    let lines = conductor.log_lines("is not allowed");
    assert!(lines.len() <= 2 * (seconds + 2), "{seconds} s: {lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("[INFO] … and ")
            && l.ends_with(" more refused `address … is not allowed` in the last second")),
        "{lines:#?}"
    );
}

#[test]
fn per_message_detail_is_logged_only_at_trace() {
    for (level, detailed) in [("info", false), ("debug", false), ("trace", true)] {
        let conductor = Conductor::start_quiet(&["--log-level", level]);
        let mut c = conductor.join("chatter");
        assert_eq!(c.recv_go(), 0);
        c.send(b"K?");
        c.expect(ConductorMsg::Here);
        conductor.wait_log("joined: chatter");
        if detailed {
            conductor.wait_log("[TRACE] #0 sent Ping");
            conductor.wait_log("#0 GoSent -> Working");
        } else {
            assert!(!conductor.log().contains("[TRACE]"), "{level}");
        }
        // Only the conductor's own records: no library tracing.
        assert!(!conductor.log().contains("mio"), "{level}");
    }
}

#[test]
fn log_file_takes_the_log_instead_of_stderr() {
    let dir = TempDir::new("log-file");
    let conductor = Conductor::start_in(dir, &["--log-file", "conductor.log"]);
    let mut c = conductor.join("to-the-file");
    assert_eq!(c.recv_go(), 0);
    let path = conductor.dir.path("conductor.log");
    common::wait_for("the join in the log file", common::DEADLINE, || {
        let text = std::fs::read_to_string(&path).ok()?;
        text.contains("joined: to-the-file").then_some(())
    });
    assert!(!conductor.log().contains("joined:"), "{}", conductor.log());
}
