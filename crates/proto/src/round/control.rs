//! Run control (PROTOCOL.md "Run control"): the operator's say over when waves go out — a
//! steady pace, a pause, a number of steps, a hold before a given step — kept beside the round
//! controller, which asks it before every wave ([`RunControl::holds`]) and tells it of every
//! wave ([`RunControl::committed`]) and every round's end ([`RunControl::round_ended`]). Time is
//! an input; performs no I/O.
//!
//! The pace: the first wave goes at once and fixes the schedule; every later wave has a slot
//! one pace after the slot of the wave before it, and never leaves before its slot. A wave that
//! leaves within [`late_after`] of its slot is on time and the schedule keeps its fixed start:
//! the wake-up's latency is not carried over, so the pace does not drift. A wave that leaves
//! later (its round overran the slot, or the conductor could not run) is late: it is counted,
//! and the schedule starts again from it instead of sending the next waves in a burst to catch
//! up. A pause, a wait for participants and a change of pace break the schedule: the wave after
//! them starts it again and is not late.
//!
//! Pausing: while paused no wave is proposed; the running round finishes. `step N` lets exactly
//! N more waves out, then pauses; a hold at a step pauses before the wave of that step, once.
//! While paused between rounds for longer than `slow_round`, the controller asks for `T` as
//! during a slow round, and again each period.

use std::hash::{Hash, Hasher};

use crate::time::{Duration, Instant};

/// How long after its slot a wave may leave and still be on time: a tenth of the pace, at most
/// 1 ms. Within it, a later wake-up is the timer's latency; past it, the wave is late.
pub fn late_after(pace: Duration) -> Duration {
    Duration::from_micros((pace.as_micros() / 10).min(1_000))
}

/// Whether waves may go out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Hold {
    /// As the rounds allow.
    Free,
    /// This many more waves (at least one), then paused.
    Steps(u32),
    /// No new wave.
    Paused,
}

/// Why the controller paused by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HoldCause {
    /// A hold was set at this step (`hold-at`).
    HoldAt,
    /// The waves of a `step N` have all gone out.
    Stepped,
}

/// Something run control did that the conductor reports as an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notice {
    /// The wave just committed left this long after its slot: it is late.
    Late {
        /// How long after its slot.
        by: Duration,
    },
    /// The controller paused by itself: the wave of `step` waits for a `resume` or `step`.
    Held {
        /// The step of the wave that waits.
        step: u32,
        /// Why.
        cause: HoldCause,
    },
}

/// The pace, the schedule and the hold. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunControl {
    pace: Duration,
    /// The `T` period of a long pause, as of a slow round; zero = never.
    slow: Duration,
    /// The earliest the next wave may leave; `None` = as soon as the rounds allow.
    slot: Option<Instant>,
    /// The last wave left on the schedule and nothing has broken it since: a wave that leaves
    /// past its slot is late only then.
    on_schedule: bool,
    /// The last proposal waited for the slot alone: the slot is a deadline.
    awaiting_slot: bool,
    late_waves: u64,
    hold: Hold,
    hold_at: Option<u32>,
    /// Paused with no round running: since when.
    paused_idle_since: Option<Instant>,
    /// Then, when the next `T` is due (with `slow_round` on).
    next_paused_slow: Option<Instant>,
    /// What happened since the conductor last looked (at most a few entries).
    notices: Vec<Notice>,
}

impl RunControl {
    /// Free running at `pace` (zero = as fast as the participants allow); a pause longer than
    /// `slow` (zero = never) asks for `T`.
    pub fn new(pace: Duration, slow: Duration) -> Self {
        RunControl {
            pace,
            slow,
            slot: None,
            on_schedule: false,
            awaiting_slot: false,
            late_waves: 0,
            hold: Hold::Free,
            hold_at: None,
            paused_idle_since: None,
            next_paused_slow: None,
            notices: Vec::new(),
        }
    }

    /// The pace; zero = none.
    pub fn pace(&self) -> Duration {
        self.pace
    }

    /// Waves that left later than [`late_after`] past their slot.
    pub fn late_waves(&self) -> u64 {
        self.late_waves
    }

    /// No new wave goes out until `resume` or `step`.
    pub fn is_paused(&self) -> bool {
        self.hold == Hold::Paused
    }

    /// The waves a `step N` still lets out before pausing.
    pub fn steps_left(&self) -> Option<u32> {
        match self.hold {
            Hold::Steps(n) => Some(n),
            _ => None,
        }
    }

    /// The step before whose wave the controller will pause.
    pub fn hold_at(&self) -> Option<u32> {
        self.hold_at
    }

    /// The earliest the next wave may leave, when the pace sets one.
    pub fn slot(&self) -> Option<Instant> {
        self.slot
    }

    /// The slot the next wave waits for, when it waits for nothing else.
    pub fn awaiting_slot(&self) -> Option<Instant> {
        self.slot.filter(|_| self.awaiting_slot)
    }

    /// Whether the wave of `step`, possible otherwise, must wait at `now`: paused, a hold at
    /// this step (which pauses, once), or its slot still ahead.
    pub(super) fn holds(&mut self, now: Instant, step: u32) -> bool {
        self.awaiting_slot = false;
        if self.hold_at == Some(step) {
            self.hold_at = None;
            self.pause(now, false);
            self.notices.push(Notice::Held {
                step,
                cause: HoldCause::HoldAt,
            });
        }
        if self.hold == Hold::Paused {
            return true;
        }
        if self.slot.is_some_and(|slot| now < slot) {
            self.awaiting_slot = true;
            return true;
        }
        false
    }

    /// No wave is possible for want of participants: the schedule is broken.
    pub(super) fn waiting_for_clients(&mut self) {
        self.awaiting_slot = false;
        self.on_schedule = false;
    }

    /// A wave left at `now`; the one after it will carry `next_step`. Counts it late if it
    /// is, sets the next slot, and counts a `step N` down.
    pub(super) fn committed(&mut self, now: Instant, next_step: u32) {
        self.awaiting_slot = false;
        self.slot = if self.pace.is_zero() {
            None
        } else {
            match self.slot {
                Some(slot) if self.on_schedule && now <= slot + late_after(self.pace) => {
                    Some(slot + self.pace)
                }
                Some(slot) if self.on_schedule => {
                    self.late_waves += 1;
                    self.notices.push(Notice::Late { by: now - slot });
                    Some(now + self.pace)
                }
                _ => Some(now + self.pace),
            }
        };
        self.on_schedule = !self.pace.is_zero();
        match self.hold {
            Hold::Steps(1) => {
                self.hold = Hold::Paused;
                self.notices.push(Notice::Held {
                    step: next_step,
                    cause: HoldCause::Stepped,
                });
            }
            Hold::Steps(n) => self.hold = Hold::Steps(n - 1),
            Hold::Free | Hold::Paused => {}
        }
    }

    /// The running round ended at `now`: a pause now holds between rounds.
    pub(super) fn round_ended(&mut self, now: Instant) {
        if self.hold == Hold::Paused {
            self.idle(now);
        }
    }

    /// Paused between rounds from `now`: `T` falls due one `slow` period later.
    fn idle(&mut self, now: Instant) {
        self.paused_idle_since = Some(now);
        self.next_paused_slow = (!self.slow.is_zero()).then(|| now + self.slow);
    }

    /// The next time [`on_timeout`](Self::on_timeout) or a proposal has something to do.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [self.awaiting_slot(), self.next_paused_slow]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time has reached `now`: true when a `T` is due for a pause longer than `slow`. Calling
    /// it early is harmless.
    pub(super) fn on_timeout(&mut self, now: Instant) -> bool {
        let Some(due) = self.next_paused_slow else {
            return false;
        };
        if now < due {
            return false;
        }
        // One period after this one was due, skipping periods that passed unobserved.
        let mut next = due + self.slow;
        while next <= now {
            next = next + self.slow;
        }
        self.next_paused_slow = Some(next);
        true
    }

    /// How long the pause has held between rounds, as of `now`.
    pub fn paused_for(&self, now: Instant) -> Option<Duration> {
        self.paused_idle_since.map(|since| now - since)
    }

    /// Pauses at `now`: no new wave; with no round running (`round_running` false) the pause
    /// holds between rounds at once. Clears a `step N`.
    pub(super) fn pause(&mut self, now: Instant, round_running: bool) {
        self.awaiting_slot = false;
        self.on_schedule = false;
        if self.hold != Hold::Paused {
            self.hold = Hold::Paused;
            if !round_running {
                self.idle(now);
            }
        }
    }

    /// Waves go out again as the rounds allow; a `step N` is cleared, a hold at a later step
    /// stays.
    pub(super) fn resume(&mut self) {
        self.hold = Hold::Free;
        self.paused_idle_since = None;
        self.next_paused_slow = None;
    }

    /// Exactly `n` more waves (at least one), then paused.
    pub(super) fn step(&mut self, n: u32) {
        self.resume();
        self.hold = Hold::Steps(n.max(1));
    }

    /// Pauses before the wave of `step` (`None` clears the hold).
    pub(super) fn set_hold_at(&mut self, step: Option<u32>) {
        self.hold_at = step;
    }

    /// A new pace from `now`: the next wave leaves no earlier than one new pace from now (at
    /// once when zero), and starts the schedule again.
    pub(super) fn set_pace(&mut self, now: Instant, pace: Duration) {
        self.pace = pace;
        self.slot = (!pace.is_zero()).then(|| now + pace);
        self.on_schedule = false;
        self.awaiting_slot = false;
    }

    /// A graceful stop: every hold is released, so that the countdown's waves go out.
    pub(super) fn release(&mut self) {
        self.resume();
        self.hold_at = None;
    }

    /// The oldest thing that happened and was not taken yet.
    pub(super) fn poll_notice(&mut self) -> Option<Notice> {
        if self.notices.is_empty() {
            None
        } else {
            Some(self.notices.remove(0))
        }
    }

    /// Feeds into `state` what decides future behaviour, with times relative to `now`: a slot
    /// already past by more than [`late_after`] behaves as any other such slot (a late wave at
    /// once), so it is hashed as that bound. The count of late waves and since when the pause
    /// holds are for status reports and left out.
    pub(super) fn fingerprint<H: Hasher>(&self, now: Instant, state: &mut H) {
        let past = -i128::from(late_after(self.pace).as_micros()) - 1;
        let slot = self.slot.map(|t| crate::core::relative(t, now).max(past));
        let slow = self.next_paused_slow.map(|t| crate::core::relative(t, now));
        (self.pace, slot, self.on_schedule, self.awaiting_slot).hash(state);
        (
            self.hold,
            self.hold_at,
            self.paused_idle_since.is_some(),
            slow,
        )
            .hash(state);
        self.notices.hash(state);
    }
}
