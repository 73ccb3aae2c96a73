//! What the simulated clients of `conductor bench` verify about the Go waves they receive:
//! every client of a wave gets the same step, each client's steps go up by one (or wrap to
//! 0), no client gets a Go before it has answered the last one, and no wave starts before
//! the previous one reached every client and was answered. Also records when each wave began
//! (its first Go). Pure: times are given in microseconds, no I/O, no clock. A Go before Done
//! is also a protocol error for the clients' participant machines, which stop the load
//! generator's run before it is counted here.

use serde::{Deserialize, Serialize};

/// Counts of protocol violations seen, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    /// A client got a Go while it had not yet answered its previous one.
    pub go_before_done: u64,
    /// A client's step was neither its previous step + 1 nor 0 (a wrap).
    pub step_not_next: u64,
    /// A client got a step other than the one the rest of its wave got.
    pub mixed_steps: u64,
    /// A wave began before every client had received and answered the previous one.
    pub early_wave: u64,
}

impl Violations {
    /// All violations added up.
    pub fn total(&self) -> u64 {
        self.go_before_done + self.step_not_next + self.mixed_steps + self.early_wave
    }

    /// Adds another set of counts (from another process).
    pub fn add(&mut self, other: &Violations) {
        self.go_before_done += other.go_before_done;
        self.step_not_next += other.step_not_next;
        self.mixed_steps += other.mixed_steps;
        self.early_wave += other.early_wave;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct ClientView {
    last_step: Option<u32>,
    /// Got a Go and has not answered it yet.
    working: bool,
}

#[derive(Clone, Copy, Debug)]
struct Wave {
    step: u32,
    received: u32,
}

/// The checks and the wave clock for one group of clients that all take part in every wave.
#[derive(Debug)]
pub struct Checker {
    clients: Vec<ClientView>,
    wave: Option<Wave>,
    /// Clients that got a Go and have not answered it.
    working: u32,
    wave_starts: Vec<u64>,
    violations: Violations,
}

fn follows(step: u32, previous: u32) -> bool {
    step == previous.wrapping_add(1) || step == 0
}

impl Checker {
    /// A checker for `clients` clients, numbered from 0.
    pub fn new(clients: usize) -> Self {
        Checker {
            clients: vec![ClientView::default(); clients],
            wave: None,
            working: 0,
            wave_starts: Vec::new(),
            violations: Violations::default(),
        }
    }

    /// Client `client` received Go `step` at `now_us`.
    pub fn on_go(&mut self, client: usize, step: u32, now_us: u64) {
        let total = self.clients.len() as u32;
        let Some(view) = self.clients.get_mut(client) else {
            return;
        };
        if view.working {
            self.violations.go_before_done += 1;
        } else {
            view.working = true;
            self.working += 1;
        }
        if view.last_step.is_some_and(|p| !follows(step, p)) {
            self.violations.step_not_next += 1;
        }
        view.last_step = Some(step);
        match &mut self.wave {
            Some(wave) if wave.received < total && wave.step == step => wave.received += 1,
            Some(wave) if wave.received < total => {
                // A different step while the wave is still arriving: record it and treat it
                // as the start of the next wave so the clock keeps going.
                self.violations.mixed_steps += 1;
                self.violations.early_wave += 1;
                self.begin(step, now_us);
            }
            Some(wave) => {
                if !follows(step, wave.step) {
                    self.violations.step_not_next += 1;
                }
                // Only this client has a Go of the new wave: anyone else still working was
                // not waited for.
                if self.working > 1 {
                    self.violations.early_wave += 1;
                }
                self.begin(step, now_us);
            }
            None => self.begin(step, now_us),
        }
    }

    fn begin(&mut self, step: u32, now_us: u64) {
        self.wave = Some(Wave { step, received: 1 });
        self.wave_starts.push(now_us);
    }

    /// Client `client` answered its Go (its Done is written).
    pub fn on_done(&mut self, client: usize) {
        if let Some(view) = self.clients.get_mut(client) {
            if view.working {
                view.working = false;
                self.working -= 1;
            }
        }
    }

    /// Waves begun so far.
    pub fn waves(&self) -> u64 {
        self.wave_starts.len() as u64
    }

    /// True when the latest wave reached every client.
    pub fn wave_complete(&self) -> bool {
        self.wave
            .is_some_and(|w| w.received as usize == self.clients.len())
    }

    /// Clients that got a Go and have not answered it.
    pub fn working(&self) -> u32 {
        self.working
    }

    /// When each wave began (its first Go), in microseconds.
    pub fn wave_starts(&self) -> &[u64] {
        &self.wave_starts
    }

    /// The violations seen so far.
    pub fn violations(&self) -> Violations {
        self.violations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs full waves: every client gets `step`, then answers.
    fn wave(c: &mut Checker, step: u32, at: u64) {
        for i in 0..c.clients.len() {
            c.on_go(i, step, at + i as u64);
        }
        for i in 0..c.clients.len() {
            c.on_done(i);
        }
    }

    #[test]
    fn clean_waves_and_a_wrap_are_no_violation() {
        let mut c = Checker::new(3);
        for (n, step) in [u32::MAX - 1, u32::MAX, 0, 1].into_iter().enumerate() {
            wave(&mut c, step, 100 * n as u64);
        }
        assert_eq!(c.violations(), Violations::default());
        assert_eq!(c.wave_starts(), &[0, 100, 200, 300]);
        assert!(c.wave_complete());
    }

    #[test]
    fn a_go_before_done_is_seen() {
        let mut c = Checker::new(1);
        c.on_go(0, 0, 0);
        c.on_go(0, 1, 10);
        assert_eq!(c.violations().go_before_done, 1);
    }

    #[test]
    fn a_skipped_step_is_seen() {
        let mut c = Checker::new(2);
        wave(&mut c, 4, 0);
        wave(&mut c, 6, 10);
        // Once per client and once for the wave.
        assert_eq!(c.violations().step_not_next, 3);
        assert_eq!(c.violations().total(), 3);
    }

    #[test]
    fn different_steps_in_one_wave_are_seen() {
        let mut c = Checker::new(2);
        c.on_go(0, 0, 0);
        c.on_go(1, 1, 1);
        assert_eq!(c.violations().mixed_steps, 1);
        assert_eq!(c.waves(), 2);
    }

    #[test]
    fn a_wave_that_does_not_wait_for_everyone_is_seen() {
        let mut c = Checker::new(2);
        c.on_go(0, 0, 0);
        c.on_go(1, 0, 1);
        c.on_done(0);
        // Client 1 is still working when client 0 gets the next Go.
        c.on_go(0, 1, 2);
        assert_eq!(c.violations().early_wave, 1);
        assert_eq!(c.working(), 2);
    }
}
