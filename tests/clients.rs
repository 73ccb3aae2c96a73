//! The Rust client library against the real conductor binary: planned rounds with the runner,
//! and a duplicate id refused with the conductor's reason.

mod common;

use common::Conductor;
use lockstep::client::{Client, ClientError, Event, Runner, Summary};

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
