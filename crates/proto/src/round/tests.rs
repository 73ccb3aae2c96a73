//! Round controller tests: waves, steps and wrap, T timing, the countdowns and the endings.

use super::*;

fn config() -> RoundConfig {
    RoundConfig {
        slow_round: Duration::ZERO,
        ..RoundConfig::default()
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Proposes a wave for `n` ready clients and commits it with all of them; returns the
/// decision.
fn start(c: &mut RoundController, now: Instant, n: u32) -> Option<Decision> {
    let d = c.poll_decision(at(0), n);
    if let Some(Decision::Wave { .. }) = d {
        assert_eq!(c.commit(now, n), None, "a wave to {n} does not end at once");
    }
    d
}

/// Runs one full round with `n` participants who all finish.
fn run_round(c: &mut RoundController, now: Instant, n: u32) -> Option<Decision> {
    let d = start(c, now, n);
    if let Some(Decision::Wave { .. }) = d {
        for i in 0..n {
            let end = c.participant_done(now);
            assert_eq!(
                end.is_some(),
                i + 1 == n,
                "only the last Done ends the round"
            );
        }
    }
    d
}

#[test]
fn waits_for_min_clients() {
    let mut c = RoundController::new(RoundConfig {
        min_clients: 3,
        ..config()
    });
    assert_eq!(c.poll_decision(at(0), 2), None);
    assert_eq!(c.phase(2), Phase::Waiting);
    let wave = Some(Decision::Wave {
        step: 0,
        countdown: None,
    });
    assert_eq!(c.poll_decision(at(0), 3), wave);
    assert_eq!(
        c.poll_decision(at(0), 3),
        wave,
        "a proposal changes nothing"
    );
    assert_eq!(c.waves_sent(), 0);
    assert_eq!(c.commit(at(0), 3), None);
    assert_eq!(c.phase(0), Phase::Running);
    assert_eq!(c.round().map(|r| r.participants), Some(3));
}

#[test]
fn no_wave_while_a_round_runs() {
    let mut c = RoundController::new(config());
    assert!(matches!(
        start(&mut c, at(0), 2),
        Some(Decision::Wave { step: 0, .. })
    ));
    assert_eq!(c.poll_decision(at(0), 5), None);
    assert_eq!(c.commit(at(1), 5), None, "a commit without a proposal");
    assert_eq!(c.round().map(|r| r.participants), Some(2));
    assert_eq!(c.participant_done(at(2)), None);
    assert_eq!(
        c.poll_decision(at(0), 5),
        None,
        "one participant still outstanding"
    );
    let summary = c.participant_removed(at(3)).expect("the round ended");
    assert_eq!(c.round(), None);
    assert_eq!(c.last_round(), Some(summary));
    assert_eq!(summary.step, 0);
    assert_eq!(summary.duration, Duration::from_millis(3));
    assert_eq!(summary.slowest_done, Some(Duration::from_millis(2)));
    assert_eq!(
        c.poll_decision(at(0), 5),
        Some(Decision::Wave {
            step: 1,
            countdown: None
        })
    );
}

#[test]
fn round_where_everyone_left_has_no_slowest() {
    let mut c = RoundController::new(config());
    start(&mut c, at(0), 1);
    let summary = c.participant_removed(at(4)).expect("the round ended");
    assert_eq!(summary.slowest_done, None);
}

#[test]
fn a_wave_committed_with_nobody_ends_at_once() {
    // The `S` broadcast (or the Go) dropped every client the wave was proposed for.
    let mut c = RoundController::new(RoundConfig {
        rounds: 2,
        ..config()
    });
    assert!(matches!(
        c.poll_decision(at(0), 2),
        Some(Decision::Wave {
            step: 0,
            countdown: Some(2)
        })
    ));
    let summary = c.commit(at(5), 0).expect("the round ended at once");
    assert_eq!(
        summary,
        RoundSummary {
            step: 0,
            duration: Duration::ZERO,
            slowest_done: None
        }
    );
    assert_eq!((c.waves_sent(), c.last_step()), (1, Some(0)));
    assert_eq!(c.round(), None);
    assert_eq!(c.phase(0), Phase::Stopping, "the countdown has begun");
}

#[test]
fn steps_wrap() {
    let mut c = RoundController::new(RoundConfig {
        step_wrap: 3,
        ..config()
    });
    let steps: Vec<u32> = (0..7)
        .map(|i| match run_round(&mut c, at(i), 1) {
            Some(Decision::Wave { step, .. }) => step,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(steps, [0, 1, 2, 0, 1, 2, 0]);
}

#[test]
fn step_wrap_of_one_always_sends_zero() {
    let mut c = RoundController::new(RoundConfig {
        step_wrap: 1,
        ..config()
    });
    for i in 0..3 {
        assert_eq!(
            run_round(&mut c, at(i), 1),
            Some(Decision::Wave {
                step: 0,
                countdown: None
            })
        );
    }
}

#[test]
fn largest_wrap_reaches_u32_max() {
    let mut c = RoundController::new(config());
    c.waves_sent = u64::from(u32::MAX);
    assert_eq!(
        run_round(&mut c, at(0), 1),
        Some(Decision::Wave {
            step: u32::MAX,
            countdown: None
        })
    );
    assert_eq!(
        run_round(&mut c, at(0), 1),
        Some(Decision::Wave {
            step: 0,
            countdown: None
        })
    );
}

#[test]
fn planned_end_counts_down_then_ends() {
    let mut c = RoundController::new(RoundConfig {
        rounds: 5,
        ..config()
    });
    let got: Vec<Option<Decision>> = (0..6).map(|i| run_round(&mut c, at(i), 2)).collect();
    let wave = |step, countdown| Some(Decision::Wave { step, countdown });
    assert_eq!(
        got,
        [
            wave(0, None),
            wave(1, None),
            wave(2, Some(3)),
            wave(3, Some(2)),
            wave(4, Some(1)),
            Some(Decision::End(EndKind::Planned)),
        ]
    );
    assert_eq!(c.phase(2), Phase::Stopped);
    assert_eq!(c.poll_decision(at(0), 2), None, "nothing after the end");
}

#[test]
fn planned_end_shorter_than_countdown_starts_at_rounds() {
    let mut c = RoundController::new(RoundConfig {
        rounds: 2,
        ..config()
    });
    assert_eq!(
        run_round(&mut c, at(0), 1),
        Some(Decision::Wave {
            step: 0,
            countdown: Some(2)
        })
    );
    assert_eq!(
        c.phase(0),
        Phase::Stopping,
        "stopping wins over waiting after the first S"
    );
}

#[test]
fn graceful_stop_counts_down_from_the_next_wave() {
    let mut c = RoundController::new(config());
    start(&mut c, at(0), 1);
    c.graceful_stop();
    assert_eq!(c.phase(0), Phase::Stopping);
    c.participant_done(at(1));
    let got: Vec<Option<Decision>> = (0..4).map(|i| run_round(&mut c, at(2 + i), 1)).collect();
    assert_eq!(
        got[0],
        Some(Decision::Wave {
            step: 1,
            countdown: Some(3)
        })
    );
    assert_eq!(
        got[1],
        Some(Decision::Wave {
            step: 2,
            countdown: Some(2)
        })
    );
    assert_eq!(
        got[2],
        Some(Decision::Wave {
            step: 3,
            countdown: Some(1)
        })
    );
    assert_eq!(got[3], Some(Decision::End(EndKind::Graceful)));
}

#[test]
fn graceful_stop_with_zero_countdown_ends_after_the_running_round() {
    let mut c = RoundController::new(RoundConfig {
        shutdown_countdown: 0,
        ..config()
    });
    start(&mut c, at(0), 1);
    c.graceful_stop();
    assert_eq!(c.poll_decision(at(0), 0), None, "the round still runs");
    assert!(c.participant_done(at(2)).is_some());
    assert_eq!(
        c.poll_decision(at(0), 1),
        Some(Decision::End(EndKind::Graceful))
    );
}

#[test]
fn graceful_stop_without_enough_clients_ends_at_once() {
    let mut c = RoundController::new(RoundConfig {
        min_clients: 2,
        ..config()
    });
    c.graceful_stop();
    assert_eq!(
        c.poll_decision(at(0), 1),
        Some(Decision::End(EndKind::Graceful))
    );
}

#[test]
fn graceful_stop_keeps_an_earlier_planned_end() {
    let mut c = RoundController::new(RoundConfig {
        rounds: 2,
        shutdown_countdown: 5,
        ..config()
    });
    c.graceful_stop();
    assert_eq!(
        run_round(&mut c, at(0), 1),
        Some(Decision::Wave {
            step: 0,
            countdown: Some(2)
        })
    );
    assert_eq!(
        run_round(&mut c, at(1), 1),
        Some(Decision::Wave {
            step: 1,
            countdown: Some(1)
        })
    );
    assert_eq!(
        run_round(&mut c, at(2), 1),
        Some(Decision::End(EndKind::Graceful))
    );
}

#[test]
fn slow_round_repeats_every_period_without_bursting() {
    let mut c = RoundController::new(RoundConfig {
        slow_round: Duration::from_millis(10),
        ..config()
    });
    start(&mut c, at(0), 1);
    assert_eq!(c.poll_timeout(), Some(at(10)));
    assert_eq!(c.on_timeout(at(9)), None, "early calls are harmless");
    assert_eq!(c.on_timeout(at(10)), Some(Decision::Slow));
    assert_eq!(c.poll_timeout(), Some(at(20)));
    assert_eq!(c.on_timeout(at(45)), Some(Decision::Slow));
    assert_eq!(c.on_timeout(at(45)), None);
    assert_eq!(c.poll_timeout(), Some(at(50)));
    c.participant_done(at(46));
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn interrupt_ends_even_mid_round_and_only_once() {
    let mut c = RoundController::new(config());
    start(&mut c, at(0), 3);
    assert_eq!(
        c.end_now(EndKind::Interrupt),
        Some(Decision::End(EndKind::Interrupt))
    );
    assert_eq!(c.end_now(EndKind::Fatal("x".into())), None);
    assert_eq!(c.ended(), Some(&EndKind::Interrupt));
    assert_eq!(EndKind::Fatal("x".into()).exit_code(), 1);
}

#[test]
fn phases_through_a_planned_end() {
    let mut c = RoundController::new(RoundConfig {
        min_clients: 2,
        rounds: 2,
        shutdown_countdown: 1,
        ..config()
    });
    assert_eq!(c.phase(1), Phase::Waiting);
    assert_eq!(c.phase(2), Phase::Running, "enough are ready for a wave");
    run_round(&mut c, at(0), 2);
    assert_eq!(c.phase(2), Phase::Running, "no S yet");
    run_round(&mut c, at(1), 2);
    assert_eq!(
        c.phase(0),
        Phase::Stopping,
        "S 1 went out before the last wave"
    );
    assert_eq!(
        c.poll_decision(at(0), 2),
        Some(Decision::End(EndKind::Planned))
    );
    assert_eq!(c.phase(2), Phase::Stopped);
    assert_eq!(c.poll_decision(at(0), 2), None, "nothing after the end");
}

#[test]
fn reports_outside_a_round_and_stops_after_the_end_change_nothing() {
    let mut c = RoundController::new(config());
    let fresh = c.clone();
    assert_eq!(c.participant_done(at(1)), None);
    assert_eq!(c.participant_removed(at(1)), None);
    assert_eq!(c.on_timeout(at(1)), None);
    assert_eq!(c, fresh);
    c.end_now(EndKind::Interrupt);
    let ended = c.clone();
    c.graceful_stop();
    assert_eq!(c, ended, "a stop after the end");
}

fn fingerprint(c: &RoundController, now: Instant) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    c.fingerprint(now, &mut h);
    h.finish()
}

#[test]
fn fingerprint_keeps_the_next_step_not_the_count_of_waves() {
    let mut c = RoundController::new(RoundConfig {
        step_wrap: 3,
        slow_round: Duration::from_millis(10),
        ..config()
    });
    let mut prints = Vec::new();
    for wave in 0..7u64 {
        run_round(&mut c, at(wave * 100), 1);
        prints.push(fingerprint(&c, at(wave * 100 + 5)));
    }
    assert_eq!(
        prints[0], prints[3],
        "waves 1 and 4 leave the same next step"
    );
    assert_eq!(prints[1], prints[4]);
    assert_ne!(prints[0], prints[1]);
    start(&mut c, at(1000), 1);
    let running = fingerprint(&c, at(1003));
    assert_ne!(running, fingerprint(&c, at(1004)), "the next T is nearer");
    c.graceful_stop();
    assert_ne!(running, fingerprint(&c, at(1003)), "the waves left count");
}

#[test]
fn endings_read_as_words() {
    assert_eq!(
        EndKind::Interrupt.to_string(),
        "interrupted by the operator"
    );
    assert_eq!(EndKind::Graceful.to_string(), "graceful stop");
    assert_eq!(
        EndKind::Fatal("the listener failed".into()).to_string(),
        "fatal error: the listener failed"
    );
}

#[test]
fn a_follower_sends_only_the_steps_offered_to_it() {
    let mut c = RoundController::new(RoundConfig {
        rounds: 2,
        min_clients: 3,
        ..config()
    });
    c.follow();
    assert!(c.is_following());
    assert_eq!(c.poll_decision(at(0), 5), None, "no wave of its own");
    c.offer(41);
    // Offered waves go to whoever is ready, none included, and carry no countdown.
    let wave = Decision::Wave {
        step: 41,
        countdown: None,
    };
    assert_eq!(c.poll_decision(at(0), 0), Some(wave.clone()));
    assert_eq!(c.commit(at(1), 2), None);
    assert_eq!(c.last_step(), Some(41));
    // An offer while a round runs waits for its end.
    c.offer(7);
    assert_eq!(c.poll_decision(at(0), 2), None);
    c.participant_done(at(2));
    assert!(c.participant_done(at(3)).is_some());
    assert_eq!(
        c.poll_decision(at(0), 2)
            .map(|d| matches!(d, Decision::Wave { step: 7, .. })),
        Some(true)
    );
    let summary = c.commit(at(4), 0).expect("a wave to nobody ends at once");
    assert_eq!(summary.step, 7);
    // `rounds` is not this controller's to count: no planned end after two waves.
    assert_eq!(c.poll_decision(at(0), 2), None);
    assert!(c.ended().is_none());
    c.countdown_passed_on();
    assert_eq!(c.phase(2), Phase::Stopping);
}

#[test]
fn a_resumed_controller_proposes_every_recorded_wave_again_exactly_as_before() {
    // For each wave a run of 6 rounds, wrap 4, countdown 3 could have recorded, the resumed
    // controller proposes from it on what the uninterrupted one did.
    let c = RoundConfig {
        rounds: 6,
        step_wrap: 4,
        ..config()
    };
    let mut straight = RoundController::new(c.clone());
    let mut proposed = Vec::new();
    let mut phases_before = vec![straight.phase(0)];
    while let Some(d) = run_round(&mut straight, at(0), 1) {
        proposed.push((d, straight.phase(1)));
        phases_before.push(straight.phase(0));
    }
    assert_eq!(proposed.len(), 7, "six waves, then the end");
    for recorded in 1..=6u64 {
        let mut resumed = RoundController::resuming(c.clone(), recorded);
        assert_eq!(resumed.waves_sent(), recorded - 1);
        assert_eq!(resumed.phase(0), phases_before[recorded as usize - 1]);
        let mut rest = Vec::new();
        while let Some(d) = run_round(&mut resumed, at(0), 1) {
            rest.push((d, resumed.phase(1)));
        }
        assert_eq!(
            rest[..],
            proposed[recorded as usize - 1..],
            "from wave {recorded}"
        );
        assert_eq!(resumed.waves_sent(), 6);
    }
    assert_eq!(
        RoundController::resuming(c.clone(), 0),
        RoundController::new(c)
    );
}
