//! The conductor's log end to end: the start-up line with the bound address, one info line per
//! join, leave, refusal, wave and round end, per-message detail only at trace, `--log-file`.
//! (The `T` line naming who a round waits on is checked in `rounds.rs`.)

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use common::{hello_bytes, names, run_round, Conductor, TempDir};
use lockstep::wire::ConductorMsg;

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
fn each_join_leave_refusal_wave_and_round_end_has_one_info_line() {
    let conductor = Conductor::start_quiet(&["--log-level", "info", "--min-clients", "2"]);
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
    conductor.wait_log("round end: step 1");

    let one = |text: &str| {
        let lines = conductor.log_lines(text);
        assert_eq!(lines.len(), 1, "{text}: {lines:?}");
        assert!(lines[0].contains("[INFO]"), "{}", lines[0]);
        lines[0].clone()
    };
    one("joined: logged-0 from 127.0.0.1:");
    one("joined: logged-1 from 127.0.0.1:");
    let refusal = one("refused: 127.0.0.1:");
    assert!(refusal.ends_with(": duplicate id logged-0"), "{refusal}");
    one("wave: step 0 to 2 client(s)");
    one("round end: step 0 in");
    one("wave: step 1 to 2 client(s)");
    one("round end: step 1 in");
    one("left: logged-0 (127.0.0.1:");
    // Nothing below info was written.
    let log = conductor.log();
    assert!(
        !log.contains("[DEBUG]") && !log.contains("[TRACE]"),
        "{log}"
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
