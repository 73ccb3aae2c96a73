//! The binary runs rounds end to end and ends a planned run with the countdown, `C` and `X`.

mod common;

use common::Conductor;
use lockstep_proto::wire::ConductorMsg;

#[test]
fn two_clients_run_a_planned_end() {
    let mut conductor = Conductor::start(&[
        "--min-clients",
        "2",
        "--rounds",
        "3",
        "--shutdown-countdown",
        "2",
    ]);
    let mut a = conductor.join("a");
    let mut b = conductor.join("b");
    let mut seen = Vec::new();
    for _ in 0..3 {
        for c in [&mut a, &mut b] {
            let mut msg = c.recv();
            if let ConductorMsg::ShuttingDown(_) = msg {
                seen.push(msg.clone());
                msg = c.recv();
            }
            assert!(matches!(msg, ConductorMsg::Go(_)), "{msg:?}");
            seen.push(msg);
            c.send(b"K!");
        }
    }
    for c in [&mut a, &mut b] {
        assert_eq!(c.recv(), ConductorMsg::Cease);
        assert_eq!(c.recv(), ConductorMsg::Exit);
        c.expect_closed();
    }
    use ConductorMsg::*;
    assert_eq!(
        seen,
        [
            Go(0),
            Go(0),
            ShuttingDown(2),
            Go(1),
            ShuttingDown(2),
            Go(1),
            ShuttingDown(1),
            Go(2),
            ShuttingDown(1),
            Go(2)
        ]
    );
    let status = conductor.wait_exit(common::DEADLINE);
    assert_eq!(status.code(), Some(0));
    let json = conductor.status("status.json").expect("final status.json");
    assert_eq!(json["phase"], "stopped");
    assert_eq!(json["waves_sent"], 3);
}
