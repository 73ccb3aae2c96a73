//! The pure round controller (PROTOCOL.md "Rounds" and "Ending"): decides when a Go wave goes
//! out and with which step, when `T` is due, the `S` countdown, and when the conductor ends. It
//! knows clients only as counts, keeps O(1) bookkeeping per message, takes time as an input and
//! performs no I/O.
//!
//! A wave takes two calls: [`RoundController::poll_decision`] proposes it (its step and
//! countdown) and changes nothing; the caller sends it (the `S` broadcast may lose clients whose
//! queues overflow, and so may the Go) and then [`RoundController::commit`]s it with the number
//! of participants that actually received the Go. The controller reports the end of a round
//! itself: the call that settles its last participant (or a commit with none) returns the
//! round's [`RoundSummary`].
//!
//! What the operator controls (a pace, a pause, steps, a hold at a step) lives beside it in
//! [`control`]: the controller asks it before every wave and tells it of every wave and round.

pub mod control;
#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod tests;

use std::hash::{Hash, Hasher};

use crate::time::{Duration, Instant};
use crate::wire::Id;

pub use control::{HoldCause, Notice, RunControl};

/// The settings that shape rounds (a subset of the configuration).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoundConfig {
    /// Ready clients needed before a wave is sent (≥ 1).
    pub min_clients: u32,
    /// Waves to run before a planned end; 0 = until stopped.
    pub rounds: u64,
    /// Steps count 0..step_wrap-1 (1 ≤ step_wrap ≤ 2^32).
    pub step_wrap: u64,
    /// The N of the `S` countdown.
    pub shutdown_countdown: u32,
    /// `T` period; zero = never.
    pub slow_round: Duration,
    /// Waves go out no more often than this; zero = as fast as the participants allow.
    pub pace: Duration,
}

impl Default for RoundConfig {
    /// The documented defaults: one client, no planned end, steps up to 2^32, `S 3`, `T` after
    /// 10 s, no pace.
    fn default() -> Self {
        RoundConfig {
            min_clients: 1,
            rounds: 0,
            step_wrap: 1 << 32,
            shutdown_countdown: 3,
            slow_round: Duration::from_millis(10_000),
            pace: Duration::ZERO,
        }
    }
}

/// Why the conductor ends.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EndKind {
    /// `rounds` waves were run.
    Planned,
    /// A graceful stop (SIGTERM) ran its countdown out.
    Graceful,
    /// The operator interrupted (SIGINT).
    Interrupt,
    /// A fatal error, with its description.
    Fatal(String),
    /// A planned restart (SIGUSR1): every connection is closed without a word, so that
    /// participants reconnect to the conductor started next (PROTOCOL.md "Surviving restarts").
    Restart,
    /// A participant failed and `end_on_failure` counts it (see
    /// [`EndOnFailure`](crate::core::EndOnFailure)).
    ParticipantFailed {
        /// The participant.
        id: Id,
        /// Its `R` reason, or how it was lost.
        reason: String,
    },
}

impl std::fmt::Display for EndKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndKind::Planned => f.write_str("planned end: every round has run"),
            EndKind::Graceful => f.write_str("graceful stop"),
            EndKind::Interrupt => f.write_str("interrupted by the operator"),
            EndKind::Fatal(error) => write!(f, "fatal error: {error}"),
            EndKind::Restart => f.write_str("restart: connections closed without a goodbye"),
            EndKind::ParticipantFailed { id, reason } => {
                write!(f, "participant {id} failed: {reason}")
            }
        }
    }
}

impl EndKind {
    /// The process exit code for this ending (PROTOCOL.md "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            EndKind::Fatal(_) => 1,
            EndKind::ParticipantFailed { .. } => 3,
            _ => 0,
        }
    }

    /// The broadcast that announces this ending: `E` for an error (the conductor's or a
    /// participant's), `C` otherwise.
    pub fn announces_error(&self) -> bool {
        matches!(self, EndKind::Fatal(_) | EndKind::ParticipantFailed { .. })
    }

    /// A short name for counts and labels: `planned`, `graceful`, `interrupt`, `fatal`,
    /// `restart`, `participant_failed`.
    pub fn label(&self) -> &'static str {
        match self {
            EndKind::Planned => "planned",
            EndKind::Graceful => "graceful",
            EndKind::Interrupt => "interrupt",
            EndKind::Fatal(_) => "fatal",
            EndKind::Restart => "restart",
            EndKind::ParticipantFailed { .. } => "participant_failed",
        }
    }

    /// Whether participants are told (`C` or `E`, then `X`); a restart tells them nothing.
    pub fn says_goodbye(&self) -> bool {
        !matches!(self, EndKind::Restart)
    }
}

/// What the controller asks the core to do next.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// A proposed wave: broadcast `S n` first if `countdown` is set, then send Go `step` to
    /// every client still ready, then [`commit`](RoundController::commit) it with how many
    /// received the Go.
    Wave {
        /// The step every participant receives.
        step: u32,
        /// The `n` of an `S n` to broadcast just before the Go.
        countdown: Option<u32>,
    },
    /// Broadcast `T`: the round runs longer than `slow_round_ms`.
    Slow,
    /// Broadcast `C` (or `E`), then `X`, close everything and exit.
    End(EndKind),
}

/// The controller's coarse phase, as status files name it (PROTOCOL.md "Status files").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Fewer than `min_clients` ready and no round running.
    Waiting,
    /// A round runs, or enough clients are ready for one.
    Running,
    /// Held by the operator: no new wave (the running round, if any, finishes).
    Paused,
    /// A planned end's countdown or a graceful stop is under way.
    Stopping,
    /// The conductor has ended.
    Stopped,
}

impl Phase {
    /// The name status files use.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Running => "running",
            Phase::Paused => "paused",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
        }
    }
}

/// The running round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Round {
    /// Its step.
    pub step: u32,
    /// When its wave was sent.
    pub started: Instant,
    /// Participants neither Done nor removed yet.
    pub outstanding: u32,
    /// Participants of the wave.
    pub participants: u32,
    /// When the next `T` is due, if slow rounds are reported.
    next_slow: Option<Instant>,
    /// How long after the Go the latest Done so far came.
    latest_done: Option<Duration>,
}

/// A finished round: what the controller reports when a round ends, and keeps for status
/// reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoundSummary {
    /// Its step.
    pub step: u32,
    /// From the wave to the last Done or removal.
    pub duration: Duration,
    /// How long after the Go the last Done came; `None` when nobody sent Done.
    pub slowest_done: Option<Duration>,
}

/// Decides waves, `T`, `S` and the end. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RoundController {
    config: RoundConfig,
    waves_sent: u64,
    last_step: Option<u32>,
    round: Option<Round>,
    last_round: Option<RoundSummary>,
    /// Total waves to send before ending: `rounds` for a planned end, lowered by a graceful stop.
    wave_limit: Option<u64>,
    graceful: bool,
    countdown_started: bool,
    ended: Option<EndKind>,
    /// Steps come from outside (a relay's upstream, see [`follow`](Self::follow)): the step
    /// of the wave offered and not sent yet, if any.
    follows: Option<Option<u32>>,
    /// The pace and the operator's holds.
    control: RunControl,
}

impl RoundController {
    /// A controller before its first wave.
    pub fn new(config: RoundConfig) -> Self {
        let wave_limit = (config.rounds > 0).then_some(config.rounds);
        RoundController {
            control: RunControl::new(config.pace, config.slow_round),
            config,
            waves_sent: 0,
            last_step: None,
            round: None,
            last_round: None,
            wave_limit,
            graceful: false,
            countdown_started: false,
            ended: None,
            follows: None,
        }
    }

    /// A controller that resumes a run whose state file recorded its `recorded`-th wave
    /// (PROTOCOL.md "Surviving restarts"): that wave is proposed first, with the step and the
    /// countdown it had, since its round may not have finished for everyone; the count of
    /// waves, the planned end and the countdown go on as if there had been no restart.
    /// `recorded` = 0 is a fresh start.
    pub fn resuming(config: RoundConfig, recorded: u64) -> Self {
        let mut rounds = RoundController::new(config);
        let Some(before) = recorded.checked_sub(1) else {
            return rounds;
        };
        let wrap = rounds.config.step_wrap;
        rounds.waves_sent = before;
        rounds.last_step = (before > 0).then(|| crate::record::Record::step_of_wave(before, wrap));
        // The wave before the recorded one began the countdown if it carried an `S`.
        let countdown = u64::from(rounds.config.shutdown_countdown);
        rounds.countdown_started = before > 0
            && rounds
                .wave_limit
                .is_some_and(|limit| limit.saturating_sub(before - 1) <= countdown);
        rounds
    }

    /// The settings.
    pub fn config(&self) -> &RoundConfig {
        &self.config
    }

    /// Waves sent so far.
    pub fn waves_sent(&self) -> u64 {
        self.waves_sent
    }

    /// The step of the last wave sent.
    pub fn last_step(&self) -> Option<u32> {
        self.last_step
    }

    /// The running round, if any.
    pub fn round(&self) -> Option<&Round> {
        self.round.as_ref()
    }

    /// The last finished round.
    pub fn last_round(&self) -> Option<RoundSummary> {
        self.last_round
    }

    /// How the conductor ended, once it has.
    pub fn ended(&self) -> Option<&EndKind> {
        self.ended.as_ref()
    }

    /// A graceful stop was asked for.
    pub fn stopping_gracefully(&self) -> bool {
        self.graceful
    }

    /// The pace and the operator's holds, read-only.
    pub fn control(&self) -> &RunControl {
        &self.control
    }

    /// Feeds into `state` what decides the controller's future decisions, with times relative
    /// to `now`: the next step and the waves left before an end (not the ever-growing count of
    /// waves), the running round's step, counts and next `T`, the stop flags. The figures only
    /// status reports show (round durations, the slowest Done) are left out.
    pub fn fingerprint<H: Hasher>(&self, now: Instant, state: &mut H) {
        self.next_step().hash(state);
        self.wave_limit
            .map(|limit| limit.saturating_sub(self.waves_sent))
            .hash(state);
        self.last_step.hash(state);
        self.round
            .as_ref()
            .map(|r| {
                let next_slow = r.next_slow.map(|t| crate::core::relative(t, now));
                (r.step, r.outstanding, r.participants, next_slow)
            })
            .hash(state);
        (self.graceful, self.countdown_started, &self.ended).hash(state);
        self.follows.hash(state);
        self.control.fingerprint(now, state);
    }

    /// The phase for status reports, given how many clients are ready. A countdown under way
    /// shows as stopping even while the operator holds it.
    pub fn phase(&self, ready: u32) -> Phase {
        if self.ended.is_some() {
            Phase::Stopped
        } else if self.graceful || self.countdown_started {
            Phase::Stopping
        } else if self.control.is_paused() {
            Phase::Paused
        } else if self.round.is_some() || ready >= self.config.min_clients {
            Phase::Running
        } else {
            Phase::Waiting
        }
    }

    /// The step the next wave will carry.
    fn next_step(&self) -> u32 {
        // step_wrap ≤ 2^32, so the remainder fits.
        (self.waves_sent % self.config.step_wrap.max(1)) as u32
    }

    /// Decides what happens at `now` that `ready` clients are Idle or Done: a wave, the end,
    /// or nothing. Call after every change. A wave is only proposed: nothing changes until it
    /// is [`commit`](Self::commit)ted, and until then the same wave is proposed again. A wave
    /// run control holds back (a pause, a hold, its slot ahead) is not proposed.
    pub fn poll_decision(&mut self, now: Instant, ready: u32) -> Option<Decision> {
        if self.ended.is_some() || self.round.is_some() {
            return None;
        }
        if let Some(offered) = self.follows {
            return offered.map(|step| Decision::Wave {
                step,
                countdown: None,
            });
        }
        if let Some(limit) = self.wave_limit {
            if self.waves_sent >= limit {
                let kind = if self.graceful {
                    EndKind::Graceful
                } else {
                    EndKind::Planned
                };
                return Some(self.end(kind));
            }
        }
        if ready < self.config.min_clients || ready == 0 {
            if self.graceful {
                return Some(self.end(EndKind::Graceful));
            }
            self.control.waiting_for_clients();
            return None;
        }
        let (step, countdown) = self.next_wave();
        if self.control.holds(now, step) {
            return None;
        }
        Some(Decision::Wave { step, countdown })
    }

    /// The step and countdown of the next wave.
    fn next_wave(&self) -> (u32, Option<u32>) {
        if let Some(offered) = self.follows {
            return (offered.unwrap_or(0), None);
        }
        let countdown = self.wave_limit.and_then(|limit| {
            let left = limit.saturating_sub(self.waves_sent);
            (left <= u64::from(self.config.shutdown_countdown)).then_some(left as u32)
        });
        (self.next_step(), countdown)
    }

    /// The proposed wave went out at `now` and reached `participants` clients: its round
    /// starts. A wave that reached nobody (the `S` broadcast or the Go dropped every client)
    /// ends at once, and its summary is returned. Does nothing unless a wave is due.
    pub fn commit(&mut self, now: Instant, participants: u32) -> Option<RoundSummary> {
        if self.ended.is_some() || self.round.is_some() {
            return None;
        }
        let (step, countdown) = self.next_wave();
        if countdown.is_some() {
            self.countdown_started = true;
        }
        if let Some(offered) = &mut self.follows {
            *offered = None;
        }
        self.waves_sent += 1;
        self.last_step = Some(step);
        self.control.committed(now, self.next_step());
        let slow = self.config.slow_round;
        self.round = Some(Round {
            step,
            started: now,
            outstanding: participants,
            participants,
            next_slow: (!slow.is_zero()).then(|| now + slow),
            latest_done: None,
        });
        if participants == 0 {
            return self.finish(now);
        }
        None
    }

    /// A participant of the running round sent Done. Returns the round's summary when that
    /// was the last one it waited for.
    pub fn participant_done(&mut self, now: Instant) -> Option<RoundSummary> {
        let round = self.round.as_mut()?;
        round.latest_done = Some(now - round.started);
        self.settle(now)
    }

    /// A participant of the running round was removed before it was Done. Returns the round's
    /// summary when that was the last one it waited for.
    pub fn participant_removed(&mut self, now: Instant) -> Option<RoundSummary> {
        self.settle(now)
    }

    fn settle(&mut self, now: Instant) -> Option<RoundSummary> {
        let round = self.round.as_mut()?;
        round.outstanding = round.outstanding.saturating_sub(1);
        if round.outstanding == 0 {
            return self.finish(now);
        }
        None
    }

    /// Closes the running round at `now` and reports it.
    fn finish(&mut self, now: Instant) -> Option<RoundSummary> {
        let round = self.round.take()?;
        let summary = RoundSummary {
            step: round.step,
            duration: now - round.started,
            slowest_done: round.latest_done,
        };
        self.last_round = Some(summary);
        self.control.round_ended(now);
        Some(summary)
    }

    /// The next time [`on_timeout`](Self::on_timeout) (or, for a wave waiting for its slot,
    /// [`poll_decision`](Self::poll_decision)) has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended.is_some() {
            return None;
        }
        match &self.round {
            Some(round) => round.next_slow,
            None => self.control.next_deadline(),
        }
    }

    /// Time has reached `now`: returns [`Decision::Slow`] when a `T` is due, for a slow round
    /// or for a pause longer than `slow_round_ms`. Calling it early is harmless.
    pub fn on_timeout(&mut self, now: Instant) -> Option<Decision> {
        let slow = self.config.slow_round;
        let Some(round) = self.round.as_mut() else {
            let paused_long = self.ended.is_none() && self.control.on_timeout(now);
            return paused_long.then_some(Decision::Slow);
        };
        let due = round.next_slow?;
        if now < due {
            return None;
        }
        // The next T is one period after this one was due, skipping periods that passed
        // unobserved so that a late call does not burst.
        let mut next = due + slow;
        while next <= now {
            next = next + slow;
        }
        round.next_slow = Some(next);
        Some(Decision::Slow)
    }

    /// A graceful stop (SIGTERM): count down `shutdown_countdown` more waves, or end after the
    /// running round when it is 0. A second request changes nothing.
    pub fn graceful_stop(&mut self) {
        if self.graceful || self.ended.is_some() {
            return;
        }
        self.graceful = true;
        self.control.release();
        let limit = self.waves_sent + u64::from(self.config.shutdown_countdown);
        self.wave_limit = Some(self.wave_limit.map_or(limit, |l| l.min(limit)));
    }

    /// From now on the steps come from outside, as a relay's come from its upstream: the
    /// controller proposes no wave, countdown or planned end of its own, only the waves
    /// [`offer`](Self::offer)ed to it; `rounds`, `step_wrap`, `shutdown_countdown` and
    /// `min_clients` no longer shape waves.
    pub fn follow(&mut self) {
        self.follows.get_or_insert(None);
    }

    /// True once [`follow`](Self::follow) was called.
    pub fn is_following(&self) -> bool {
        self.follows.is_some()
    }

    /// Offers a wave with `step` to a controller that [`follow`](Self::follow)s: it is
    /// proposed (to any number of ready clients, none included) as soon as no round runs,
    /// and forgotten once committed. A later offer before then replaces it. Does nothing to
    /// a controller that does not follow, or once it has ended.
    pub fn offer(&mut self, step: u32) {
        if self.ended.is_none() {
            if let Some(offered) = &mut self.follows {
                *offered = Some(step);
            }
        }
    }

    /// An `S` countdown was passed on from outside: the phase is `stopping` from now on.
    pub fn countdown_passed_on(&mut self) {
        self.countdown_started = true;
    }

    /// Pauses at `now`: no new wave after the running round, if any.
    pub fn pause(&mut self, now: Instant) {
        let running = self.round.is_some();
        self.control.pause(now, running);
    }

    /// Lets waves out again as the rounds allow (clearing a `step N`). Between rounds it goes
    /// past a hold at the step it is paused before: a resume always leads to the next wave.
    pub fn resume(&mut self) {
        self.pass_hold();
        self.control.resume();
    }

    /// Lets exactly `n` (≥ 1) more waves out, then pauses; like a resume, it goes past a hold
    /// at the step it is paused before.
    pub fn step(&mut self, n: u32) {
        self.pass_hold();
        self.control.step(n);
    }

    /// Clears a hold at the next step when no round runs: the pause it asked for is the one
    /// being released.
    fn pass_hold(&mut self) {
        if self.round.is_none() && self.control.hold_at() == Some(self.next_step()) {
            self.control.set_hold_at(None);
        }
    }

    /// Pauses before the wave of `step`, once; `None` clears the hold.
    pub fn hold_at(&mut self, step: Option<u32>) {
        self.control.set_hold_at(step);
    }

    /// Changes the pace at `now`: the next wave leaves no earlier than one new pace later.
    pub fn set_pace(&mut self, now: Instant, pace: Duration) {
        self.control.set_pace(now, pace);
    }

    /// What run control did since the last call (a late wave, a hold reached), oldest first.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.control.poll_notice()
    }

    /// The step the next wave will carry, whenever it goes.
    pub fn upcoming_step(&self) -> u32 {
        self.next_step()
    }

    /// Ends at once (interrupt or fatal error). Returns the decision unless already ended.
    pub fn end_now(&mut self, kind: EndKind) -> Option<Decision> {
        if self.ended.is_some() {
            return None;
        }
        Some(self.end(kind))
    }

    fn end(&mut self, kind: EndKind) -> Decision {
        self.round = None;
        self.ended = Some(kind.clone());
        Decision::End(kind)
    }
}
