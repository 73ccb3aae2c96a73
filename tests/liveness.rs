//! PROTOCOL.md "A session", liveness end to end: probes while a client is silent, the liveness
//! drop, that a drop never holds a round up, and that a stall of the conductor itself (SIGSTOP)
//! gets nobody dropped who kept talking or would have answered a probe.

mod common;

use std::time::Duration;

use common::Conductor;
use lockstep_proto::wire::ConductorMsg;

#[test]
fn a_silent_client_is_probed_again_and_again_and_never_dropped_with_drop_off() {
    let conductor = Conductor::start_quiet(&[
        "--probe-after-ms",
        "100",
        "--drop-after-ms",
        "0",
        "--min-clients",
        "2",
    ]);
    let mut c = conductor.join("quiet");
    for _ in 0..4 {
        c.expect(ConductorMsg::Ping);
    }
    // Answering refreshes it; the probes go on while it is silent again.
    c.send(b".");
    c.expect(ConductorMsg::Ping);
    c.send(b"?");
    c.recv_skipping(|m| *m == ConductorMsg::Ping);
    assert!(conductor.log_lines("liveness timeout").is_empty());
}

#[test]
fn a_silent_client_is_refused_with_liveness_timeout() {
    let conductor = Conductor::start_quiet(&[
        "--probe-after-ms",
        "0",
        "--drop-after-ms",
        "300",
        "--min-clients",
        "2",
    ]);
    let mut c = conductor.join("mute");
    // With probes off, the refusal is the first thing after the hello.
    assert_eq!(c.recv_refusal(), "liveness timeout");
    conductor.wait_log("refused: mute (127.0.0.1:");
    // Its id is free again. The hello and a `?` go in one write, so that the answer cannot
    // be overtaken by the 300 ms drop however slowly this test runs.
    let mut again = conductor.connect();
    again.expect_conductor_hello();
    let mut hello_and_ping = common::hello_bytes("mute");
    hello_and_ping.push(b'?');
    again.send(&hello_and_ping);
    again.expect(ConductorMsg::Here);
}

#[test]
fn probes_and_the_drop_wait_for_the_hello() {
    let conductor = Conductor::start_quiet(&[
        "--probe-after-ms",
        "50",
        "--drop-after-ms",
        "100",
        "--hello-timeout-ms",
        "600",
    ]);
    let mut c = conductor.connect();
    c.expect_conductor_hello();
    // No probe and no liveness drop before the hello: only the hello timeout applies.
    assert_eq!(c.recv_refusal(), "hello timeout: no hello within 600 ms");
}

#[test]
fn a_dropped_participant_releases_the_round() {
    let conductor = Conductor::start_quiet(&[
        "--probe-after-ms",
        "100",
        "--drop-after-ms",
        "2000",
        "--min-clients",
        "2",
    ]);
    let mut keeper = conductor.join("keeper");
    // The sleeper joins and then never says anything again (nor reads).
    let sleeper = conductor.join("sleeper");
    let next_go = |keeper: &mut common::Raw| loop {
        match keeper.recv() {
            ConductorMsg::Ping => keeper.send(b"."),
            ConductorMsg::Go(step) => return step,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(next_go(&mut keeper), 0);
    keeper.send(b"K!");
    // The round waits for the sleeper until it is dropped, then ends; the next wave needs a
    // second client again. The keeper answers its probes meanwhile.
    while conductor
        .log_lines("refused: sleeper (127.0.0.1:")
        .is_empty()
    {
        keeper.expect(ConductorMsg::Ping);
        keeper.send(b".");
    }
    conductor.wait_log("round end: step 0");
    let line = conductor.log_lines("refused: sleeper").join("\n");
    assert!(line.ends_with("liveness timeout"), "{line}");
    let mut fresh = conductor.join("fresh");
    assert_eq!(next_go(&mut keeper), 1);
    assert_eq!(
        fresh.recv_skipping(|m| *m == ConductorMsg::Ping),
        ConductorMsg::Go(1)
    );
    drop(sleeper);
}

/// The settings of issue 9's reproduction: probe after 300 ms, drop after 1 s.
const STALL_SETTINGS: [&str; 6] = [
    "--probe-after-ms",
    "300",
    "--drop-after-ms",
    "1000",
    "--slow-round-ms",
    "0",
];

/// A member acknowledges its Go and says `W` every 100 ms while the conductor is stopped for
/// twice `drop_after_ms`; afterwards it is still a member and finishes its round.
fn a_member_sending_w_survives_a_stall(settings: &[&str]) {
    let conductor = Conductor::start(settings);
    let mut busy = conductor.join("busy");
    assert_eq!(busy.recv_go(), 0);
    busy.send(b"K");
    conductor.pause(Duration::from_secs(2), || busy.send(b"W"));
    busy.send(b"?");
    assert_eq!(
        busy.recv_skipping(|m| *m == ConductorMsg::Ping),
        ConductorMsg::Here
    );
    busy.send(b"!");
    assert_eq!(
        busy.recv_skipping(|m| *m == ConductorMsg::Ping),
        ConductorMsg::Go(1)
    );
    assert!(conductor.log_lines("liveness timeout").is_empty());
}

#[test]
fn a_member_sending_w_is_not_dropped_when_the_conductor_stalls() {
    a_member_sending_w_survives_a_stall(&STALL_SETTINGS);
}

#[test]
fn with_probes_off_the_ws_that_arrived_during_a_stall_are_read_before_the_drop() {
    // Without probes only reading first protects: the `W`s wait in the socket and must be
    // read before the drop deadline is looked at.
    a_member_sending_w_survives_a_stall(&[
        "--probe-after-ms",
        "0",
        "--drop-after-ms",
        "1000",
        "--slow-round-ms",
        "0",
    ]);
}

#[test]
fn an_idle_member_is_probed_not_dropped_after_the_conductor_stalls() {
    let mut settings = STALL_SETTINGS.to_vec();
    settings.extend(["--min-clients", "2"]);
    let conductor = Conductor::start(&settings);
    let mut idle = conductor.join("idle");
    let mut other = conductor.join("other");
    assert_eq!(idle.recv_go(), 0);
    assert_eq!(other.recv_go(), 0);
    idle.send(b"K!");
    other.send(b"X");
    // The round ends without the other; the idle member waits in Done for a second
    // participant, answering the conductor's probes and saying nothing otherwise.
    conductor.wait_log("round end: step 0");
    idle.expect(ConductorMsg::Ping);
    idle.send(b".");
    // Stopped for twice `drop_after_ms`: when it goes on, the member has been silent for
    // longer than that, but only because nobody asked. It is asked first.
    conductor.pause(Duration::from_secs(2), || {});
    idle.expect(ConductorMsg::Ping);
    idle.send(b".");
    idle.send(b"?");
    assert_eq!(
        idle.recv_skipping(|m| *m == ConductorMsg::Ping),
        ConductorMsg::Here
    );
    assert!(conductor.log_lines("liveness timeout").is_empty());
}
