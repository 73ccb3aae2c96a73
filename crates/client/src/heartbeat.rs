//! The runner's heartbeat: a helper thread that sends `W` every interval while a step's work
//! runs on the caller's thread.
//!
//! The helper sends through the shared link (the participant machine queues the `W`, the link
//! writes it), and only while holding the lock whose flag says a step is running. The caller
//! clears that flag (taking the same lock) before it sends Done, so every `W` of a step goes
//! out before that step's Done. The helper never reads: the conductor's messages stay in the
//! socket for the caller.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::connection::Sender;

#[derive(Default)]
struct State {
    /// A step's work is running.
    working: bool,
    /// Counts the steps started, so that a new step restarts the interval.
    epoch: u64,
    /// The helper must end.
    stop: bool,
}

#[derive(Default)]
struct Beat {
    state: Mutex<State>,
    wake: Condvar,
}

impl Beat {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Neither thread can panic while holding the lock; take the state either way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The helper thread; stopped and joined on drop.
pub(super) struct Heartbeat {
    shared: Arc<Beat>,
    thread: Option<JoinHandle<()>>,
}

/// A step in progress: the helper beats until this is dropped.
pub(super) struct Beating<'a> {
    shared: &'a Beat,
}

impl Heartbeat {
    /// Starts the helper, idle, sending through `sender`.
    pub(super) fn start(sender: Sender, every: Duration) -> std::io::Result<Heartbeat> {
        let shared = Arc::new(Beat::default());
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("lockstep-heartbeat".to_string())
            .spawn(move || beat(&theirs, &sender, every))?;
        Ok(Heartbeat {
            shared,
            thread: Some(thread),
        })
    }

    /// Marks a step's work as started: a `W` goes out every interval until the returned guard
    /// is dropped. Dropping it waits for a `W` being written to finish.
    pub(super) fn begin(&self) -> Beating<'_> {
        let mut state = self.shared.lock();
        state.working = true;
        state.epoch += 1;
        self.shared.wake.notify_one();
        Beating {
            shared: &self.shared,
        }
    }
}

impl Drop for Beating<'_> {
    fn drop(&mut self) {
        self.shared.lock().working = false;
        self.shared.wake.notify_one();
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The helper's loop: idle until a step starts, then a `W` each time the interval passes.
fn beat(shared: &Beat, sender: &Sender, every: Duration) {
    let mut state = shared.lock();
    loop {
        if state.stop {
            return;
        }
        if !state.working {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
            continue;
        }
        let epoch = state.epoch;
        let mut due = Instant::now() + every;
        while state.working && state.epoch == epoch && !state.stop {
            let now = Instant::now();
            if now >= due {
                // A failed write means the connection is gone; the caller's next read says so.
                let _ = sender.working();
                due = now + every;
            } else {
                state = shared
                    .wake
                    .wait_timeout(state, due - now)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
    }
}
