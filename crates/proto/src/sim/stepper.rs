//! One checked step at a time: the [`Stepper`] feeds the core one input, carries out its
//! outputs the way the real driver does — writing as much of each queue as the (simulated)
//! socket takes and reporting it with `Input::Sent` — and then checks every invariant: those of
//! [`invariants`](crate::invariants) and the simulation's own bounds on the core's buffers. It
//! also folds every step into a trace hash, so two runs can be compared exactly. The simulator
//! and the whole-core fuzz target both drive the core through it. Performs no I/O.

use std::net::SocketAddr;

use crate::core::{
    Command, Conductor, ConnId, ControlError, CoreConfig, Input, Outcome, Output, StopRequest,
};
use crate::harness::Observed;
use crate::invariants::{check_state, check_step, Snapshot, Step, StepInput, Violation};
use crate::record::Record;
use crate::time::Instant;
use crate::wire::MAX_MESSAGE_LEN;

/// The sockets as the driver sees them: how much of a queue each one takes right now.
pub trait Sockets {
    /// The core has just accepted a connection as `conn`: its socket is ready before the
    /// core's first bytes for it are written.
    fn opened(&mut self, conn: ConnId);

    /// Offers `bytes` (the head of the core's queue for `conn`) to its socket; returns how many
    /// the socket took, 0 when it is full.
    fn write(&mut self, conn: ConnId, bytes: &[u8]) -> usize;

    /// The core asks for `record` to be persisted before anything more is carried out. False
    /// when the conductor's process dies during the write (a simulated crash): the stepper
    /// then carries out nothing more and checks nothing more.
    fn persist(&mut self, _record: &Record) -> bool {
        true
    }
}

/// Drives a [`Conductor`] one checked step at a time. See the module docs.
#[derive(Debug)]
pub struct Stepper {
    core: Conductor,
    now: Instant,
    observed: Observed,
    trace: u64,
    steps: u64,
    partial_writes: u64,
    /// The process died while persisting a record: nothing more is carried out.
    dead: bool,
}

/// FNV-1a, 64 bits: a stable hash of the trace that does not depend on the platform or the
/// standard library's hasher.
fn fold(hash: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        *hash ^= u64::from(b);
        *hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
}

impl Stepper {
    /// A conductor with `config` that started at `now`; checks the initial state.
    pub fn new(config: CoreConfig, now: Instant) -> Result<Stepper, Violation> {
        let mut stepper = Stepper {
            core: Conductor::new(config, now),
            now,
            observed: Observed::default(),
            trace: 0xcbf2_9ce4_8422_2325,
            steps: 0,
            partial_writes: 0,
            dead: false,
        };
        // A new conductor may already have a status write due; nothing can be written yet.
        stepper.drain(&mut NoSockets);
        check_state(&stepper.core)?;
        Ok(stepper)
    }

    /// The core, read-only.
    pub fn core(&self) -> &Conductor {
        &self.core
    }

    /// The time of the last step.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// True once the process died while persisting a record ([`Sockets::persist`]).
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Writes the sockets took only in part.
    pub fn partial_writes(&self) -> u64 {
        self.partial_writes
    }

    /// The hash of every step so far: inputs, times and everything the core did.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// What the last step wrote, closed and ended.
    pub fn observed(&self) -> &Observed {
        &self.observed
    }

    /// A new connection from `peer` at `now`: one step.
    pub fn accept(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        sockets: &mut impl Sockets,
    ) -> Result<ConnId, Violation> {
        let before = self.begin(now);
        let conn = self.core.accept(self.now, peer);
        sockets.opened(conn);
        fold(&mut self.trace, b"a");
        fold(&mut self.trace, peer.to_string().as_bytes());
        fold(&mut self.trace, &(conn.index() as u64).to_le_bytes());
        self.drain(sockets);
        self.end(&before, StepInput::Accepted(conn))?;
        Ok(conn)
    }

    /// Any input at `now`: one step.
    pub fn input(
        &mut self,
        now: Instant,
        input: Input<'_>,
        sockets: &mut impl Sockets,
    ) -> Result<(), Violation> {
        let before = self.begin(now);
        self.fold_input(&input);
        self.core.handle_input(self.now, input.clone());
        self.drain(sockets);
        self.end(&before, StepInput::Input(&input))
    }

    /// An operator's command at `now`: one step; returns the core's answer.
    pub fn control(
        &mut self,
        now: Instant,
        command: Command,
        sockets: &mut impl Sockets,
    ) -> Result<Result<Outcome, ControlError>, Violation> {
        let before = self.begin(now);
        fold(&mut self.trace, format!("{command:?}").as_bytes());
        let answer = self.core.control(self.now, command);
        fold(&mut self.trace, format!("{answer:?}").as_bytes());
        self.drain(sockets);
        self.end(&before, StepInput::Control(&command))?;
        Ok(answer)
    }

    /// The socket of `conn` has room again: writes what it takes of the queue, as one step.
    /// Nothing happens (and no step is counted) when the queue is empty or the socket takes
    /// nothing.
    pub fn writable(
        &mut self,
        now: Instant,
        conn: ConnId,
        sockets: &mut impl Sockets,
    ) -> Result<(), Violation> {
        let pending = self.core.pending(conn);
        if pending.is_empty() {
            return Ok(());
        }
        let before = self.begin(now);
        let n = self.flush(conn, sockets);
        if n == 0 {
            return Ok(());
        }
        fold(&mut self.trace, b"w");
        self.drain(sockets);
        self.end(&before, StepInput::Input(&Input::Sent { conn, n }))
    }

    fn begin(&mut self, now: Instant) -> Snapshot {
        // The clock never goes back: a driver's clock is monotonic.
        self.now = self.now.max(now);
        self.observed = Observed::default();
        fold(&mut self.trace, &self.now.as_micros().to_le_bytes());
        Snapshot::of(&self.core)
    }

    fn fold_input(&mut self, input: &Input<'_>) {
        let hash = &mut self.trace;
        match input {
            Input::Received { conn, bytes } => {
                fold(hash, b"r");
                fold(hash, &(conn.index() as u64).to_le_bytes());
                fold(hash, bytes);
            }
            Input::Sent { conn, n } => {
                fold(hash, b"s");
                fold(hash, &(conn.index() as u64).to_le_bytes());
                fold(hash, &(*n as u64).to_le_bytes());
            }
            Input::Closed { conn } => {
                fold(hash, b"c");
                fold(hash, &(conn.index() as u64).to_le_bytes());
            }
            Input::Identified { conn, names } => {
                fold(hash, b"n");
                fold(hash, &(conn.index() as u64).to_le_bytes());
                for name in names {
                    fold(hash, name.as_bytes());
                }
            }
            Input::TransportFailed { conn, reason } => {
                fold(hash, b"x");
                fold(hash, &(conn.index() as u64).to_le_bytes());
                fold(hash, reason.as_bytes());
            }
            Input::Tick => fold(hash, b"t"),
            Input::Stop(StopRequest::Graceful) => fold(hash, b"g"),
            Input::Stop(StopRequest::Interrupt) => fold(hash, b"i"),
            Input::Stop(StopRequest::Restart) => fold(hash, b"u"),
            Input::Fatal(e) => {
                fold(hash, b"f");
                fold(hash, e.as_bytes());
            }
        }
    }

    /// Writes what the socket takes of `conn`'s queue and reports it to the core.
    fn flush(&mut self, conn: ConnId, sockets: &mut impl Sockets) -> usize {
        let pending = self.core.pending(conn);
        if pending.is_empty() {
            return 0;
        }
        let n = sockets.write(conn, pending).min(pending.len());
        if n == 0 {
            return 0;
        }
        if n < pending.len() {
            self.partial_writes += 1;
        }
        self.observed
            .written
            .entry(conn)
            .or_default()
            .extend_from_slice(&pending[..n]);
        self.core.handle_input(self.now, Input::Sent { conn, n });
        n
    }

    /// Carries out every output, as a driver would.
    fn drain(&mut self, sockets: &mut impl Sockets) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Transmit(conn) => {
                    self.flush(conn, sockets);
                }
                Output::Close(conn) => self.observed.closed.push(conn),
                Output::StatusDue => {
                    // What the driver would write: building the snapshot must work in every
                    // state, and what it shows is part of the trace.
                    let status = format!("{:?}", self.core.status(self.now));
                    fold(&mut self.trace, &(status.len() as u64).to_le_bytes());
                }
                Output::Event(event) => self.observed.events.push(event),
                Output::Persist(record) => {
                    self.observed.persisted.push(record);
                    if !sockets.persist(&record) {
                        self.dead = true;
                        return;
                    }
                }
                Output::Exit(kind) => {
                    let _ = self.core.status(self.now);
                    self.observed.exit = Some(kind);
                }
            }
        }
    }

    /// Folds what the step did into the trace and checks every invariant.
    fn end(&mut self, before: &Snapshot, input: StepInput<'_>) -> Result<(), Violation> {
        self.steps += 1;
        if self.dead {
            // The process is gone: its state no longer describes anything.
            return Ok(());
        }
        let hash = &mut self.trace;
        for (conn, bytes) in &self.observed.written {
            fold(hash, &(conn.index() as u64).to_le_bytes());
            fold(hash, bytes);
        }
        for conn in &self.observed.closed {
            fold(hash, b"x");
            fold(hash, &(conn.index() as u64).to_le_bytes());
        }
        if let Some(kind) = &self.observed.exit {
            fold(hash, format!("{kind:?}").as_bytes());
        }
        let step = Step {
            input,
            written: &self.observed.written,
            closed: &self.observed.closed,
            exit: self.observed.exit.as_ref(),
        };
        check_step(before, &step, &self.core)?;
        check_state(&self.core)?;
        self.check_buffers()
    }

    /// No buffer of the core grows past its bound: a queue stays within `max_queued_bytes`
    /// (checked by `check_state`) and an incomplete message is shorter than the longest
    /// message.
    fn check_buffers(&self) -> Result<(), Violation> {
        for c in self.core.connections() {
            let held = self.core.incomplete_input(c.conn).len();
            if held >= MAX_MESSAGE_LEN {
                return Err(Violation(format!(
                    "{} holds {held} bytes of an incomplete message; a message is at most {MAX_MESSAGE_LEN}",
                    c.conn
                )));
            }
        }
        Ok(())
    }
}

/// Sockets that take nothing: for the conductor's start, before any connection exists.
struct NoSockets;

impl Sockets for NoSockets {
    fn opened(&mut self, _conn: ConnId) {}

    fn write(&mut self, _conn: ConnId, _bytes: &[u8]) -> usize {
        0
    }
}
