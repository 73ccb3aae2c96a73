//! The operator's commands (PROTOCOL.md "Run control", `conductor ctl`): pause, resume, a
//! number of steps, a hold before a step and a new pace go to the round controller; an
//! exemption from the liveness deadlines goes to one participant's connection. Each is answered
//! at once with what it did ([`Outcome`]) or why it could not ([`ControlError`]), in words a
//! person reads. Performs no I/O.

use std::fmt;

use crate::time::{Duration, Instant};
use crate::wire::Id;

use super::{Conductor, ConnId};

/// An operator's command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// No new wave after the running round.
    Pause,
    /// Waves go out again as the rounds allow (a `step N` under way is cleared).
    Resume,
    /// Exactly this many more waves (at least one), then paused.
    Step(u32),
    /// Pause before the wave of this step, once; `None` clears the hold.
    HoldAt(Option<u32>),
    /// Waves go out no more often than this (zero = as fast as the participants allow), from
    /// now on.
    Pace(Duration),
    /// This participant's liveness deadlines (probe and drop) wait until this much time from
    /// now has passed (a debugger holds it); zero ends an exemption.
    Exempt {
        /// The participant.
        id: Id,
        /// For how long.
        duration: Duration,
    },
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Paused before the wave of `next_step`; the round of `finishing` runs to its end first.
    Paused {
        /// The step the next wave will carry.
        next_step: u32,
        /// The step of the running round, if one runs.
        finishing: Option<u32>,
    },
    /// It was paused already.
    AlreadyPaused {
        /// The step the next wave will carry.
        next_step: u32,
    },
    /// Waves go out again, from `next_step`.
    Resumed {
        /// The step the next wave will carry.
        next_step: u32,
    },
    /// Nothing was paused.
    NotPaused,
    /// `n` more waves from `next_step`, then paused.
    Stepping {
        /// How many.
        n: u32,
        /// The step the first of them carries.
        next_step: u32,
    },
    /// The controller pauses before the wave of `step`.
    HoldSet {
        /// That step.
        step: u32,
        /// The step the next wave will carry.
        next_step: u32,
    },
    /// No hold is set any more.
    HoldCleared,
    /// The pace is now this (zero = none).
    Pace(Duration),
    /// The participant is exempt for this long (zero: no longer).
    Exempt {
        /// The participant.
        id: Id,
        /// For how long.
        duration: Duration,
    },
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Paused {
                next_step,
                finishing: Some(step),
            } => write!(
                f,
                "paused before step {next_step}; the running round (step {step}) finishes first"
            ),
            Outcome::Paused {
                next_step,
                finishing: None,
            } => write!(f, "paused before step {next_step}"),
            Outcome::AlreadyPaused { next_step } => {
                write!(f, "already paused before step {next_step}")
            }
            Outcome::Resumed { next_step } => {
                write!(f, "resumed: the next wave carries step {next_step}")
            }
            Outcome::NotPaused => f.write_str("not paused: waves go out as before"),
            Outcome::Stepping { n, next_step } => {
                let waves = if *n == 1 { "wave" } else { "waves" };
                write!(
                    f,
                    "stepping: {n} {waves} from step {next_step}, then paused"
                )
            }
            Outcome::HoldSet { step, next_step } => write!(
                f,
                "will pause before step {step} (the next wave carries step {next_step})"
            ),
            Outcome::HoldCleared => f.write_str("no hold is set"),
            Outcome::Pace(pace) if pace.is_zero() => {
                f.write_str("pace off: waves go out as fast as the participants allow")
            }
            Outcome::Pace(pace) => write!(
                f,
                "pace {} ms: the next wave leaves {} ms from now at the earliest",
                pace.as_millis(),
                pace.as_millis()
            ),
            Outcome::Exempt { id, duration } if duration.is_zero() => {
                write!(f, "{id} is no longer exempt from the liveness checks")
            }
            Outcome::Exempt { id, duration } => write!(
                f,
                "{id} is exempt from the liveness checks for {} s",
                duration.as_millis() / 1000
            ),
        }
    }
}

/// Why a command could not be carried out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ControlError {
    /// The conductor has ended.
    Ended,
    /// A graceful stop runs: its countdown's waves go out, nothing holds them.
    Stopping,
    /// A step beyond the steps this conductor counts: it never comes.
    StepNeverComes {
        /// The step asked for.
        step: u32,
        /// `step_wrap`.
        wrap: u64,
    },
    /// No participant past its hello has this id.
    NoSuchParticipant(Id),
    /// A relay follows its upstream's waves: pausing, stepping, holds and the pace are the
    /// root's to set.
    Relay,
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Ended => f.write_str("the conductor is ending"),
            ControlError::Stopping => f.write_str(
                "the conductor is stopping gracefully: the countdown's waves go out and \
                 nothing holds them (pace and exempt still apply)",
            ),
            ControlError::StepNeverComes { step, wrap } => write!(
                f,
                "step {step} never comes: steps count 0 to {} (step_wrap {wrap})",
                wrap - 1
            ),
            ControlError::NoSuchParticipant(id) => write!(f, "no participant {id} is connected"),
            ControlError::Relay => f.write_str(
                "this is a relay: its waves are its upstream's; give pause, resume, step, \
                 hold-at and pace to the root conductor (exempt and status work here)",
            ),
        }
    }
}

impl std::error::Error for ControlError {}

impl Conductor {
    /// Carries out an operator's command at `now` and says what it did. Drain
    /// [`poll_output`](Self::poll_output) afterwards: a `resume` or a `step` may send a wave at
    /// once, a hold may pause at once.
    pub fn control(&mut self, now: Instant, command: Command) -> Result<Outcome, ControlError> {
        self.now = now;
        let outcome = self.command(now, command);
        self.after_input(now);
        outcome
    }

    fn command(&mut self, now: Instant, command: Command) -> Result<Outcome, ControlError> {
        if self.rounds.ended().is_some() {
            return Err(ControlError::Ended);
        }
        if self.rounds.is_following() && !matches!(command, Command::Exempt { .. }) {
            return Err(ControlError::Relay);
        }
        let holds = matches!(
            command,
            Command::Pause | Command::Step(_) | Command::HoldAt(_)
        );
        if holds && self.rounds.stopping_gracefully() {
            return Err(ControlError::Stopping);
        }
        let next_step = self.rounds.upcoming_step();
        let paused = self.rounds.control().is_paused();
        Ok(match command {
            Command::Pause if paused => Outcome::AlreadyPaused { next_step },
            Command::Pause => {
                self.rounds.pause(now);
                Outcome::Paused {
                    next_step,
                    finishing: self.rounds.round().map(|r| r.step),
                }
            }
            Command::Resume if paused || self.rounds.control().steps_left().is_some() => {
                self.rounds.resume();
                Outcome::Resumed { next_step }
            }
            Command::Resume => Outcome::NotPaused,
            Command::Step(n) => {
                let n = n.max(1);
                self.rounds.step(n);
                Outcome::Stepping { n, next_step }
            }
            Command::HoldAt(None) => {
                self.rounds.hold_at(None);
                Outcome::HoldCleared
            }
            Command::HoldAt(Some(step)) => {
                let wrap = self.rounds.config().step_wrap;
                if u64::from(step) >= wrap {
                    return Err(ControlError::StepNeverComes { step, wrap });
                }
                self.rounds.hold_at(Some(step));
                Outcome::HoldSet { step, next_step }
            }
            Command::Pace(pace) => {
                self.rounds.set_pace(now, pace);
                Outcome::Pace(pace)
            }
            Command::Exempt { id, duration } => {
                let key = self
                    .conns
                    .iter()
                    .find(|(_, c)| c.is_member() && c.id() == Some(id))
                    .map(|(key, _)| key)
                    .ok_or(ControlError::NoSuchParticipant(id))?;
                let until = (!duration.is_zero()).then(|| now + duration);
                self.conns[key].exempt(until);
                self.rearm(ConnId(key));
                Outcome::Exempt { id, duration }
            }
        })
    }
}
