//! Run control tests, through the round controller: the pace's schedule and late waves, pause
//! and resume, steps, holds, a change of pace, `T` during a long pause, and how a stop meets a
//! pause.

use super::*;

fn config(pace_ms: u64) -> RoundConfig {
    RoundConfig {
        slow_round: Duration::ZERO,
        pace: Duration::from_millis(pace_ms),
        ..RoundConfig::default()
    }
}

fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// Sends the wave proposed at `now` to one client and returns its step, or `None` when no
/// wave is proposed.
fn wave(c: &mut RoundController, now: Instant) -> Option<u32> {
    match c.poll_decision(now, 1) {
        Some(Decision::Wave { step, .. }) => {
            assert_eq!(c.commit(now, 1), None);
            Some(step)
        }
        None => None,
        other => panic!("expected a wave, got {other:?}"),
    }
}

/// The one participant is Done at `now`: the round ends.
fn done(c: &mut RoundController, now: Instant) {
    assert!(c.participant_done(now).is_some(), "the round ends");
}

fn notices(c: &mut RoundController) -> Vec<Notice> {
    std::iter::from_fn(|| c.poll_notice()).collect()
}

#[test]
fn the_pace_keeps_a_fixed_schedule_whatever_the_wake_ups_add() {
    let mut c = RoundController::new(config(10));
    assert_eq!(wave(&mut c, ms(0)), Some(0), "the first wave goes at once");
    done(&mut c, ms(2));
    assert_eq!(c.poll_decision(ms(2), 1), None, "its slot is ahead");
    assert_eq!(c.poll_timeout(), Some(ms(10)), "the slot is the deadline");
    // The wake-up comes 0.8 ms late (within a tenth of the pace): on time, and the next slot
    // is 20 ms, not 20.8.
    assert_eq!(wave(&mut c, us(10_800)), Some(1));
    done(&mut c, ms(12));
    assert_eq!(c.poll_decision(us(19_999), 1), None);
    assert_eq!(c.poll_timeout(), Some(ms(20)));
    assert_eq!(wave(&mut c, ms(20)), Some(2));
    assert_eq!(c.control().late_waves(), 0);
    assert_eq!(notices(&mut c), []);
}

#[test]
fn a_round_that_overruns_its_slot_is_followed_at_once_and_counted_late() {
    let mut c = RoundController::new(config(10));
    wave(&mut c, ms(0));
    assert_eq!(c.poll_timeout(), None, "no deadline while the round runs");
    done(&mut c, ms(25));
    // The slot was 10 ms: the next wave goes at once, late by 15 ms.
    assert_eq!(wave(&mut c, ms(25)), Some(1));
    assert_eq!(c.control().late_waves(), 1);
    assert_eq!(
        notices(&mut c),
        [Notice::Late {
            by: Duration::from_millis(15)
        }]
    );
    // No burst to catch up: the schedule starts again from the late wave.
    done(&mut c, ms(26));
    assert_eq!(c.poll_decision(ms(34), 1), None);
    assert_eq!(c.poll_timeout(), Some(ms(35)));
    assert_eq!(wave(&mut c, ms(35)), Some(2));
    // A wake-up past the allowance (1 ms at this pace) is late too.
    done(&mut c, ms(36));
    assert_eq!(wave(&mut c, us(46_100)), Some(3));
    assert_eq!(c.control().late_waves(), 2);
}

#[test]
fn a_wait_for_participants_breaks_the_schedule_without_lateness() {
    let mut c = RoundController::new(config(10));
    wave(&mut c, ms(0));
    done(&mut c, ms(1));
    // The participant leaves before the slot; another joins long after it.
    assert_eq!(c.poll_decision(ms(5), 0), None);
    assert_eq!(c.poll_timeout(), None, "no wave to wait for");
    assert_eq!(wave(&mut c, ms(50)), Some(1));
    assert_eq!(c.control().late_waves(), 0);
    assert_eq!(c.control().slot(), Some(ms(60)));
}

#[test]
fn pause_lets_the_running_round_finish_and_holds_the_next_wave() {
    let mut c = RoundController::new(config(0));
    wave(&mut c, ms(0));
    c.pause(ms(1));
    assert_eq!(c.phase(0), Phase::Paused);
    assert!(c.round().is_some(), "the running round goes on");
    done(&mut c, ms(2));
    for t in [2, 100, 10_000] {
        assert_eq!(c.poll_decision(ms(t), 1), None, "no wave while paused");
    }
    assert_eq!(
        c.poll_timeout(),
        None,
        "slow rounds are off: nothing to wake for"
    );
    c.resume();
    assert_eq!(c.phase(1), Phase::Running);
    assert_eq!(
        wave(&mut c, ms(10_001)),
        Some(1),
        "a resume leads to the next wave"
    );
}

#[test]
fn a_resume_waits_for_a_slot_still_ahead_and_is_never_late() {
    let mut c = RoundController::new(config(10));
    wave(&mut c, ms(0));
    done(&mut c, ms(1));
    c.pause(ms(2));
    c.resume();
    assert_eq!(c.poll_decision(ms(3), 1), None, "the pace still holds");
    assert_eq!(c.poll_timeout(), Some(ms(10)));
    assert_eq!(wave(&mut c, ms(10)), Some(1));
    done(&mut c, ms(11));
    c.pause(ms(11));
    c.resume();
    assert_eq!(
        wave(&mut c, ms(500)),
        Some(2),
        "long after its slot: at once"
    );
    assert_eq!(
        c.control().late_waves(),
        0,
        "the pause made it late, not its round"
    );
}

#[test]
fn step_sends_exactly_n_waves_then_pauses() {
    let mut c = RoundController::new(config(0));
    c.pause(ms(0));
    assert_eq!(c.poll_decision(ms(0), 1), None);
    c.step(3);
    assert_eq!(c.control().steps_left(), Some(3));
    for step in 0..3 {
        assert_eq!(wave(&mut c, ms(u64::from(step))), Some(step));
        done(&mut c, ms(u64::from(step)));
    }
    assert_eq!(c.poll_decision(ms(5), 1), None, "paused after the third");
    assert!(c.control().is_paused());
    assert_eq!(
        notices(&mut c),
        [Notice::Held {
            step: 3,
            cause: HoldCause::Stepped
        }]
    );
    // Stepping while running: the running round does not count.
    c.resume();
    wave(&mut c, ms(6));
    c.step(1);
    done(&mut c, ms(7));
    assert_eq!(wave(&mut c, ms(7)), Some(4));
    done(&mut c, ms(8));
    assert_eq!(c.poll_decision(ms(8), 1), None);
    // A resume clears what a step has left.
    c.step(5);
    wave(&mut c, ms(9));
    c.resume();
    assert_eq!(c.control().steps_left(), None);
    assert!(!c.control().is_paused());
}

#[test]
fn hold_at_pauses_before_that_steps_wave_once_and_a_resume_goes_past_it() {
    let mut c = RoundController::new(RoundConfig {
        step_wrap: 4,
        ..config(0)
    });
    c.hold_at(Some(2));
    for step in 0..2 {
        assert_eq!(wave(&mut c, ms(0)), Some(step));
        done(&mut c, ms(0));
    }
    assert_eq!(c.poll_decision(ms(1), 1), None, "held before step 2");
    assert!(c.control().is_paused());
    assert_eq!(c.control().hold_at(), None, "a hold is used once");
    assert_eq!(
        notices(&mut c),
        [Notice::Held {
            step: 2,
            cause: HoldCause::HoldAt
        }]
    );
    c.resume();
    assert_eq!(wave(&mut c, ms(2)), Some(2));
    // Set again while paused before that very step: a resume still leads to its wave.
    done(&mut c, ms(2));
    c.pause(ms(2));
    c.hold_at(Some(3));
    c.resume();
    assert_eq!(wave(&mut c, ms(3)), Some(3));
}

#[test]
fn a_new_pace_counts_from_the_command() {
    let mut c = RoundController::new(config(100));
    wave(&mut c, ms(0));
    done(&mut c, ms(1));
    c.set_pace(ms(5), Duration::from_millis(10));
    assert_eq!(c.poll_decision(ms(14), 1), None);
    assert_eq!(wave(&mut c, ms(15)), Some(1));
    done(&mut c, ms(16));
    c.set_pace(ms(16), Duration::ZERO);
    assert_eq!(wave(&mut c, ms(16)), Some(2), "no pace: at once");
    done(&mut c, ms(17));
    assert_eq!(wave(&mut c, ms(17)), Some(3));
    assert_eq!(c.control().late_waves(), 0);
}

#[test]
fn a_long_pause_asks_for_t_each_slow_round_period() {
    let mut c = RoundController::new(RoundConfig {
        slow_round: Duration::from_millis(100),
        ..config(0)
    });
    wave(&mut c, ms(0));
    c.pause(ms(10));
    done(&mut c, ms(50));
    assert_eq!(
        c.poll_timeout(),
        Some(ms(150)),
        "T a period after the pause began to hold"
    );
    assert_eq!(c.on_timeout(ms(149)), None);
    assert_eq!(c.on_timeout(ms(150)), Some(Decision::Slow));
    assert_eq!(
        c.control().paused_for(ms(150)),
        Some(Duration::from_millis(100))
    );
    // A late call does not burst.
    assert_eq!(c.on_timeout(ms(420)), Some(Decision::Slow));
    assert_eq!(c.on_timeout(ms(420)), None);
    assert_eq!(c.poll_timeout(), Some(ms(450)));
    c.resume();
    wave(&mut c, ms(421));
    assert_eq!(c.poll_timeout(), Some(ms(521)), "the round's own T now");
}

#[test]
fn a_graceful_stop_releases_every_hold_and_stopping_shows_over_a_pause() {
    let mut c = RoundController::new(RoundConfig {
        shutdown_countdown: 1,
        ..config(0)
    });
    c.hold_at(Some(7));
    c.pause(ms(0));
    c.graceful_stop();
    assert!(!c.control().is_paused());
    assert_eq!(c.control().hold_at(), None);
    assert_eq!(c.phase(1), Phase::Stopping);
    assert_eq!(
        c.poll_decision(ms(1), 1),
        Some(Decision::Wave {
            step: 0,
            countdown: Some(1)
        })
    );
    // A planned end's countdown may be paused; its phase stays `stopping`.
    let mut c = RoundController::new(RoundConfig {
        rounds: 2,
        shutdown_countdown: 2,
        ..config(0)
    });
    wave(&mut c, ms(0));
    c.pause(ms(0));
    done(&mut c, ms(1));
    assert_eq!(c.poll_decision(ms(1), 1), None);
    assert_eq!(c.phase(1), Phase::Stopping);
    assert!(c.control().is_paused());
}

#[test]
fn the_fingerprint_tells_holds_apart_and_forgets_how_long_ago_a_slot_passed() {
    use std::hash::Hasher;
    let print = |c: &RoundController, now: Instant| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        c.fingerprint(now, &mut h);
        h.finish()
    };
    let mut a = RoundController::new(config(10));
    let b = a.clone();
    a.pause(ms(0));
    assert_ne!(print(&a, ms(0)), print(&b, ms(0)));
    let mut c = RoundController::new(config(10));
    wave(&mut c, ms(0));
    assert_ne!(
        print(&c, ms(10)),
        print(&c, us(11_001)),
        "within the allowance or past it"
    );
    assert_eq!(print(&c, ms(50)), print(&c, ms(5_000)), "past is past");
}
