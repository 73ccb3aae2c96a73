//! A conductor that follows another: what a relay's upstream tells its downstream core. The
//! waves carry steps given from outside, and `T`, `S n` and the end are passed on when the
//! upstream sends them instead of being decided here. The end of each downstream round comes
//! out as [`Event::RoundEnd`], as it always does. Performs no I/O.

use crate::conn::Input;
use crate::round::{Decision, EndKind};
use crate::time::Instant;

use super::{Conductor, Event};

/// A broadcast passed on from outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PassDown {
    /// `T`: the round takes longer than expected.
    Slow,
    /// `S n`: the run ends after n more steps.
    Countdown(u32),
}

impl Conductor {
    /// From now on the steps come from outside: the core sends no wave of its own, only those
    /// [`offer_wave`](Self::offer_wave) gives it, and no `S` countdown or planned end (see
    /// [`RoundController::follow`](crate::round::RoundController::follow)). For a relay's
    /// downstream side; call it before any input.
    pub fn follow_upstream(&mut self) {
        self.rounds.follow();
    }

    /// A wave with `step` to every ready member: at once if no round runs, else as soon as
    /// the running round ends. With nobody ready the round ends at once. Its end comes out as
    /// [`Event::RoundEnd`]. Only for a core that follows.
    pub fn offer_wave(&mut self, now: Instant, step: u32) {
        self.now = now;
        self.rounds.offer(step);
        self.after_input(now);
    }

    /// Broadcasts `T` or `S n` to every member now, as if decided here.
    pub fn pass_down(&mut self, now: Instant, what: PassDown) {
        self.now = now;
        if self.rounds.ended().is_some() {
            return;
        }
        match what {
            PassDown::Slow => self.apply_decision(now, Decision::Slow),
            PassDown::Countdown(n) => {
                self.emit(Event::Countdown { n });
                self.step_all(|| Input::Countdown(n), |_| {});
                self.rounds.countdown_passed_on();
            }
        }
        self.after_input(now);
    }

    /// Ends now with `kind`: `C` (or `E` for an error), then `X` to everyone, and
    /// [`Output::Exit`](super::Output::Exit). Does nothing once ended.
    pub fn end_now(&mut self, now: Instant, kind: EndKind) {
        self.now = now;
        if let Some(decision) = self.rounds.end_now(kind) {
            self.apply_decision(now, decision);
        }
        self.after_input(now);
    }
}
