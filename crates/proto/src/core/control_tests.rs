//! Run control through the whole core (PROTOCOL.md "Run control"): what participants receive
//! while the operator pauses, steps and holds, the pace's late waves as events, `T` during a
//! long pause, exemptions from the liveness deadlines, and the commands' answers.

use crate::core::{Command, ControlError, Event, Outcome, StopRequest};
use crate::harness::Harness;
use crate::round::{HoldCause, Phase};
use crate::time::Duration;
use crate::wire::{ConductorMsg, Id};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn id(name: &str) -> Id {
    Id::new(name).expect("a test id")
}

fn gos(msgs: &[ConductorMsg]) -> Vec<u32> {
    msgs.iter()
        .filter_map(|m| match m {
            ConductorMsg::Go(step) => Some(*step),
            _ => None,
        })
        .collect()
}

/// The participant answers every Go at once until none comes; returns their steps.
fn answer_every_go(h: &mut Harness, conn: crate::core::ConnId) -> Vec<u32> {
    let mut steps = Vec::new();
    loop {
        let got = gos(&h.take(conn));
        if got.is_empty() {
            return steps;
        }
        steps.extend(got);
        h.send(conn, b"K!");
    }
}

#[test]
fn a_pause_during_a_round_lets_it_finish_and_sends_no_next_wave_until_resumed() {
    let mut h = Harness::with(|c| c.rounds.min_clients = 2);
    let a = h.join("a");
    let b = h.join("b");
    assert_eq!(gos(&h.take(a)), [0]);
    h.take(b);
    assert_eq!(
        h.control(Command::Pause),
        Ok(Outcome::Paused {
            next_step: 1,
            finishing: Some(0)
        })
    );
    assert_eq!(h.core.phase(), Phase::Paused);
    h.send(a, b"K!");
    h.send(b, b"K!");
    assert!(h.core.rounds().last_round().is_some(), "round 0 finished");
    h.advance(ms(60_000));
    assert_eq!(h.take(a), [], "nothing while paused");
    assert_eq!(h.core.status(h.now).phase, "paused");
    assert_eq!(
        h.control(Command::Pause),
        Ok(Outcome::AlreadyPaused { next_step: 1 })
    );
    assert_eq!(
        h.control(Command::Resume),
        Ok(Outcome::Resumed { next_step: 1 })
    );
    assert_eq!(gos(&h.take(a)), [1], "the resume sent the next wave");
    assert_eq!(gos(&h.take(b)), [1]);
    assert_eq!(h.control(Command::Resume), Ok(Outcome::NotPaused));
}

#[test]
fn step_three_sends_exactly_three_waves() {
    let mut h = Harness::with(|_| {});
    h.control(Command::Pause).expect("pause");
    let a = h.join("a");
    assert_eq!(h.take(a), [], "paused before the first wave");
    h.keep_events = true;
    assert_eq!(
        h.control(Command::Step(3)),
        Ok(Outcome::Stepping { n: 3, next_step: 0 })
    );
    assert_eq!(answer_every_go(&mut h, a), [0, 1, 2]);
    assert!(h.core.rounds().control().is_paused());
    let held: Vec<&Event> = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Held { .. }))
        .collect();
    assert_eq!(
        held,
        [&Event::Held {
            step: 3,
            cause: HoldCause::Stepped
        }]
    );
}

#[test]
fn hold_at_pauses_before_that_step_and_says_so() {
    let mut h = Harness::with(|_| {});
    let a = h.join("a");
    assert_eq!(
        h.control(Command::HoldAt(Some(2))),
        Ok(Outcome::HoldSet {
            step: 2,
            next_step: 1
        })
    );
    h.keep_events = true;
    assert_eq!(answer_every_go(&mut h, a), [0, 1], "held before step 2");
    assert!(h.events.contains(&Event::Held {
        step: 2,
        cause: HoldCause::HoldAt
    }));
    assert_eq!(h.core.status(h.now).hold_at, None, "used up");
    h.control(Command::Resume).expect("resume");
    assert_eq!(gos(&h.take(a)), [2]);
    assert_eq!(h.control(Command::HoldAt(None)), Ok(Outcome::HoldCleared));
}

#[test]
fn a_paced_round_that_overruns_is_followed_at_once_with_a_late_wave_event() {
    let mut h = Harness::with(|c| c.rounds.pace = ms(10));
    let a = h.join("a");
    assert_eq!(gos(&h.take(a)), [0]);
    h.send(a, b"K!");
    h.advance(ms(9));
    assert_eq!(h.take(a), [], "not before its slot");
    h.advance(ms(1));
    assert_eq!(gos(&h.take(a)), [1]);
    h.keep_events = true;
    h.advance(ms(25));
    h.send(a, b"K!");
    assert_eq!(gos(&h.take(a)), [2], "at once after the overrun");
    assert!(h.events.contains(&Event::LateWave {
        step: 2,
        late_by: ms(15)
    }));
    let status = h.core.status(h.now);
    assert_eq!((status.pace_ms, status.late_waves), (10, 1));
    assert_eq!(h.control(Command::Pace(ms(50))), Ok(Outcome::Pace(ms(50))));
    h.send(a, b"K!");
    h.advance(ms(49));
    assert_eq!(h.take(a), []);
    h.advance(ms(1));
    assert_eq!(gos(&h.take(a)), [3], "the new pace counts from the command");
}

#[test]
fn a_long_pause_sends_t_and_its_probes_drop_nobody_who_answers() {
    let mut h = Harness::with(|c| {
        c.probe_after = ms(1_000);
        c.drop_after = ms(3_000);
        c.rounds.slow_round = ms(5_000);
    });
    let a = h.join("a");
    h.take(a);
    h.control(Command::Pause).expect("pause");
    h.send(a, b"K!");
    h.keep_events = true;
    // Two minutes paused, answering every probe as a participant does.
    let mut slow = 0;
    for _ in 0..120 {
        h.advance(ms(1_000));
        for msg in h.take(a) {
            match msg {
                ConductorMsg::Ping => h.send(a, b"."),
                ConductorMsg::Slow => slow += 1,
                other => panic!("{other:?} during a pause"),
            }
        }
    }
    assert!(!h.is_closed(a), "never dropped");
    assert_eq!(slow, 24, "T every slow_round_ms");
    assert!(h.events.contains(&Event::StillPaused {
        paused_for: ms(5_000)
    }));
    h.control(Command::Resume).expect("resume");
    assert_eq!(gos(&h.take(a)), [1]);
}

#[test]
fn an_exempt_participant_is_neither_asked_nor_dropped_until_its_exemption_ends() {
    let mut h = Harness::with(|c| {
        c.probe_after = ms(100);
        c.drop_after = ms(300);
        c.rounds.min_clients = 9;
    });
    let a = h.join("a");
    assert_eq!(
        h.control(Command::Exempt {
            id: id("a"),
            duration: ms(2_000)
        }),
        Ok(Outcome::Exempt {
            id: id("a"),
            duration: ms(2_000)
        })
    );
    assert_eq!(h.core.status(h.now).clients[0].exempt_ms, Some(2_000));
    h.advance(ms(1_999));
    assert_eq!(h.take(a), [], "silent and not asked");
    // Then as after a stall: asked first, dropped after the rest of the window.
    h.advance(ms(1));
    assert_eq!(h.take(a), [ConductorMsg::Ping]);
    h.advance(ms(199));
    assert!(!h.is_closed(a));
    h.advance(ms(101));
    assert!(h.is_closed(a), "dropped once the exemption ended");
}

#[test]
fn an_exemption_can_be_ended_early() {
    let mut h = Harness::with(|c| {
        c.probe_after = ms(0);
        c.drop_after = ms(300);
        c.rounds.min_clients = 9;
    });
    let a = h.join("a");
    let exempt = |duration| Command::Exempt {
        id: id("a"),
        duration,
    };
    h.control(exempt(ms(60_000))).expect("exempt");
    h.advance(ms(1_000));
    assert!(!h.is_closed(a));
    h.control(exempt(Duration::ZERO))
        .expect("end the exemption");
    let now = h.now;
    assert!(
        h.core.poll_timeout().is_some_and(|t| t <= now),
        "its drop is overdue"
    );
    h.advance(Duration::ZERO);
    assert!(h.is_closed(a));
}

#[test]
fn commands_that_cannot_be_carried_out_say_why() {
    let mut h = Harness::with(|c| {
        c.rounds.step_wrap = 10;
        c.rounds.shutdown_countdown = 2;
    });
    let a = h.join("a");
    h.take(a);
    assert_eq!(
        h.control(Command::HoldAt(Some(10))),
        Err(ControlError::StepNeverComes { step: 10, wrap: 10 })
    );
    assert_eq!(
        h.control(Command::Exempt {
            id: id("bob"),
            duration: ms(1)
        }),
        Err(ControlError::NoSuchParticipant(id("bob")))
    );
    h.control(Command::Pause).expect("pause");
    h.stop(StopRequest::Graceful);
    assert!(!h.core.rounds().control().is_paused(), "a stop releases");
    for command in [Command::Pause, Command::Step(1), Command::HoldAt(Some(1))] {
        assert_eq!(h.control(command), Err(ControlError::Stopping));
    }
    assert_eq!(h.control(Command::Pace(ms(5))), Ok(Outcome::Pace(ms(5))));
    h.stop(StopRequest::Interrupt);
    assert_eq!(h.control(Command::Resume), Err(ControlError::Ended));
}

#[test]
fn outcomes_and_errors_read_as_sentences() {
    let cases = [
        (
            Outcome::Paused {
                next_step: 42,
                finishing: Some(41),
            }
            .to_string(),
            "paused before step 42; the running round (step 41) finishes first",
        ),
        (
            Outcome::Stepping { n: 1, next_step: 7 }.to_string(),
            "stepping: 1 wave from step 7, then paused",
        ),
        (
            Outcome::Pace(ms(33)).to_string(),
            "pace 33 ms: the next wave leaves 33 ms from now at the earliest",
        ),
        (
            Outcome::Exempt {
                id: id("bob"),
                duration: ms(60_000),
            }
            .to_string(),
            "bob is exempt from the liveness checks for 60 s",
        ),
        (
            ControlError::StepNeverComes { step: 9, wrap: 4 }.to_string(),
            "step 9 never comes: steps count 0 to 3 (step_wrap 4)",
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, want);
    }
}

#[test]
fn a_following_core_refuses_what_its_upstream_decides_and_takes_exempt() {
    let mut h = Harness::with(|_| {});
    h.core.follow_upstream();
    let a = h.join("a");
    assert_eq!(h.take(a), [], "no wave of its own");
    for command in [
        Command::Pause,
        Command::Resume,
        Command::Step(1),
        Command::HoldAt(Some(3)),
        Command::HoldAt(None),
        Command::Pace(ms(5)),
    ] {
        assert_eq!(h.control(command), Err(ControlError::Relay));
    }
    assert!(!h.core.rounds().control().is_paused());
    assert_eq!(
        h.control(Command::Exempt {
            id: id("a"),
            duration: ms(1_000)
        }),
        Ok(Outcome::Exempt {
            id: id("a"),
            duration: ms(1_000)
        })
    );
    assert!(ControlError::Relay.to_string().contains("give pause"));
}
