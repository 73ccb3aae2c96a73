//! The conductor's invariants, checked from the outside through the core's public API, so that
//! every way of driving the core — the test harness, a seeded simulator, a fuzz target, the
//! model checker — can ask after each input whether a rule of PROTOCOL.md (sessions, states,
//! rounds, ending) was broken. Performs no I/O and never changes the core.
//!
//! Two checks, both to be called after the driver has drained [`Conductor::poll_output`]:
//!
//! - [`check_state`] looks at the state alone: the ready and member counts and the round's
//!   outstanding count agree with a scan of the connections (so a removed client never counts
//!   toward a round), every pending participant belongs to the running round, queues are
//!   bounded, ids are unique, no Closed connection is left once its `Close` is polled, a
//!   connection with nothing left to send is closed once it is refused or closing, nothing is
//!   left undecided, and after `C` or `E` every connection is closing.
//! - [`check_step`] looks at one step: a [`Snapshot`] taken before the input, the [`Step`]
//!   (the input and what the driver saw: bytes written per connection, closes, the exit) and
//!   the core after it. It checks that no client is sent Go while GoSent or Working, that no
//!   wave goes out while a participant of the running round is GoSent or Working, that
//!   successive waves' steps differ by exactly 1 modulo `step_wrap`, that refusals are
//!   non-empty and final, that the end sends `C` (or `E`) then `X` to every connection and
//!   nothing after it (a restart: nothing at all, and every connection closed at once), and
//!   that a participant's failure ends the run only in the step it went.
//!   Run control holds: no wave goes out while paused, no more waves than a `step N` has left
//!   (and it pauses after the last), none for the step of a hold, and none before the pace's
//!   slot (and at most one per step while a pace is set), unless the step's input was the
//!   command that released them.
//!
//! The bytes a step queued for a connection are recovered without help from the core: what was
//! written during the step followed by what is still pending, minus what was pending before.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::conn::StateKind;
use crate::core::{Command, Conductor, ConnId, ConnInfo, Input, StopRequest};
use crate::round::EndKind;
use crate::wire::{ClientMsg, ConductorMsg, Id};

/// A broken invariant, described for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Violation {}

/// Fails with a [`Violation`] built from a format string unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Violation(format!($($msg)+)));
        }
    };
}

/// What [`check_step`] needs to know about the core before an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    conns: BTreeMap<ConnId, ConnBefore>,
    waves_sent: u64,
    last_step: Option<u32>,
    ended: bool,
    /// A graceful stop runs (a `step` is refused then).
    stopping: bool,
    /// The core follows an upstream (a relay's): run control's commands are refused.
    following: bool,
    /// Run control: paused, the waves a `step N` has left, the hold, the pace's slot.
    paused: bool,
    steps_left: Option<u32>,
    hold_at: Option<u32>,
    slot: Option<crate::time::Instant>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ConnBefore {
    kind: StateKind,
    closing: bool,
    id: Option<Id>,
    pending: usize,
    /// The start of a message received before, waiting for its rest.
    incomplete: Vec<u8>,
}

impl Snapshot {
    /// Records the core as it is now (after the previous step's outputs were drained).
    pub fn of(core: &Conductor) -> Snapshot {
        Snapshot {
            conns: core
                .connections()
                .map(|c| {
                    let before = ConnBefore {
                        kind: c.state.kind(),
                        closing: c.closing,
                        id: c.client_id,
                        pending: c.pending.len(),
                        incomplete: core.incomplete_input(c.conn).to_vec(),
                    };
                    (c.conn, before)
                })
                .collect(),
            waves_sent: core.rounds().waves_sent(),
            last_step: core.rounds().last_step(),
            ended: core.rounds().ended().is_some(),
            stopping: core.rounds().stopping_gracefully(),
            following: core.rounds().is_following(),
            paused: core.rounds().control().is_paused(),
            steps_left: core.rounds().control().steps_left(),
            hold_at: core.rounds().control().hold_at(),
            slot: core.rounds().control().slot(),
        }
    }
}

/// The input a step handled.
#[derive(Clone, Copy, Debug)]
pub enum StepInput<'a> {
    /// [`Conductor::accept`] opened this connection.
    Accepted(ConnId),
    /// [`Conductor::handle_input`] was called with this input (the driver's own
    /// [`Input::Sent`] reports while draining belong to the same step).
    Input(&'a Input<'a>),
    /// [`Conductor::control`] carried out this command.
    Control(&'a Command),
}

/// One step as the driver saw it: an input, and everything up to the end of the drain.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a> {
    /// The input.
    pub input: StepInput<'a>,
    /// Bytes written to each connection's socket during the step, in order.
    pub written: &'a BTreeMap<ConnId, Vec<u8>>,
    /// Connections whose [`Output::Close`](crate::core::Output::Close) was polled.
    pub closed: &'a [ConnId],
    /// The [`Output::Exit`](crate::core::Output::Exit) polled, if any.
    pub exit: Option<&'a EndKind>,
}

/// Counts, round bookkeeping and limits that must hold in every state. See the module docs.
pub fn check_state(core: &Conductor) -> Result<(), Violation> {
    let config = core.config();
    let ended = core.rounds().ended().is_some();
    let round = core.rounds().round();
    let (mut ready, mut members, mut pending) = (0u32, 0u32, 0u32);
    let mut ids = BTreeSet::<Id>::new();
    for c in core.connections() {
        let kind = c.state.kind();
        ensure!(
            c.pending.len() <= config.max_queued_bytes,
            "{} holds {} queued bytes, over the bound of {}",
            c.conn,
            c.pending.len(),
            config.max_queued_bytes
        );
        ensure!(
            kind != StateKind::Closed,
            "{} is Closed but still open once its Close was polled",
            c.conn
        );
        ensure!(
            !(c.closing && c.pending.is_empty()),
            "{} is closing with nothing left to send but was not closed",
            c.conn
        );
        ensure!(
            !ended || c.closing,
            "the conductor has ended but {} ({kind}) is not closing",
            c.conn
        );
        if c.closing {
            continue;
        }
        ensure!(
            kind.is_joined() == c.client_id.is_some(),
            "{} is {kind} with id {:?}",
            c.conn,
            c.client_id
        );
        if let Some(id) = c.client_id {
            ensure!(ids.insert(id), "two members share the id {id}");
        }
        ready += u32::from(kind.is_ready());
        members += u32::from(kind.is_joined());
        if kind.is_pending() {
            pending += 1;
            let step = c.state.step();
            ensure!(
                round.is_some_and(|r| Some(r.step) == step),
                "{} is {kind} for step {step:?} but the running round is {:?}",
                c.conn,
                round.map(|r| r.step)
            );
        }
    }
    ensure!(
        core.ready_count() == ready,
        "the core counts {} ready clients, a scan finds {ready}",
        core.ready_count()
    );
    ensure!(
        core.member_count() == members,
        "the core counts {} members, a scan finds {members}",
        core.member_count()
    );
    match round {
        Some(r) => {
            ensure!(
                r.outstanding == pending,
                "the round waits for {} participants, a scan finds {pending} GoSent or Working",
                r.outstanding
            );
            ensure!(
                r.outstanding >= 1 && r.outstanding <= r.participants,
                "the round has {} outstanding of {} participants",
                r.outstanding,
                r.participants
            );
        }
        None => ensure!(
            pending == 0,
            "{pending} clients are GoSent or Working but no round runs"
        ),
    }
    if !ended && round.is_none() {
        let decision = core.rounds().clone().poll_decision(core.now(), ready);
        ensure!(
            decision.is_none(),
            "the controller has {decision:?} due with {ready} ready, but it was not carried out"
        );
    }
    Ok(())
}

/// The rules about what one step sent and changed. See the module docs.
pub fn check_step(before: &Snapshot, step: &Step<'_>, after: &Conductor) -> Result<(), Violation> {
    let after_conns: BTreeMap<ConnId, ConnInfo<'_>> =
        after.connections().map(|c| (c.conn, c)).collect();
    let view = StepView {
        queued: queued_messages(before, step, &after_conns)?,
        new_steps: new_wave_steps(before, after)?,
        sender: Sender::of(before, step),
        before,
        step,
        after_conns,
    };
    view.check_no_wave_while_pending()?;
    view.check_run_control(after)?;
    view.check_gos()?;
    view.check_refusals()?;
    view.check_end(after.rounds().ended())
}

/// The steps of the waves sent in this step, checked to follow the last wave's step by exactly
/// 1 modulo `step_wrap`.
fn new_wave_steps(before: &Snapshot, after: &Conductor) -> Result<Vec<u32>, Violation> {
    let wrap = after.config().rounds.step_wrap.max(1);
    let waves_sent = after.rounds().waves_sent();
    ensure!(
        waves_sent >= before.waves_sent,
        "waves_sent went back from {} to {waves_sent}",
        before.waves_sent
    );
    let first = before
        .last_step
        .map_or(0, |last| (u64::from(last) + 1) % wrap);
    let steps: Vec<u32> = (0..waves_sent - before.waves_sent)
        .map(|j| ((first + j) % wrap) as u32) // < wrap ≤ 2^32
        .collect();
    if let Some(&last) = steps.last() {
        ensure!(
            after.rounds().last_step() == Some(last),
            "after step {:?} the next wave must carry {last}, the controller says {:?}",
            before.last_step,
            after.rounds().last_step()
        );
    }
    Ok(steps)
}

/// The client whose bytes the step received; how often it may have become ready (Idle or
/// Done) by them: once by completing its hello, and once per `!` (an upper bound: a `!` may
/// also sit inside a text); and whether it left: the messages the step completed, including
/// one begun in an earlier step, hold an `X` or `R`.
struct Sender {
    conn: Option<ConnId>,
    readies: usize,
    /// Its messages completed by the step include an `X` or `R`: it left.
    leaves: bool,
}

impl Sender {
    fn of(before: &Snapshot, step: &Step<'_>) -> Sender {
        let StepInput::Input(Input::Received { conn, bytes }) = step.input else {
            return Sender {
                conn: None,
                readies: 0,
                leaves: false,
            };
        };
        let readies = match before.conns.get(conn) {
            Some(c) if !c.closing => {
                let dones = bytes.iter().filter(|&&b| b == b'!').count();
                dones + usize::from(c.kind == StateKind::AwaitingHello)
            }
            _ => 0,
        };
        let mut stream = before
            .conns
            .get(conn)
            .map(|c| c.incomplete.clone())
            .unwrap_or_default();
        stream.extend_from_slice(bytes);
        let mut rest = &stream[..];
        let mut leaves = false;
        while let Ok(Some((msg, n))) = ClientMsg::decode(rest) {
            leaves |= matches!(msg, ClientMsg::Exit | ClientMsg::Refusal(_));
            rest = &rest[n..];
        }
        Sender {
            conn: Some(*conn),
            readies,
            leaves,
        }
    }

    fn readies_of(&self, conn: ConnId) -> usize {
        if self.conn == Some(conn) {
            self.readies
        } else {
            0
        }
    }
}

/// Everything [`check_step`] looks at.
struct StepView<'a> {
    before: &'a Snapshot,
    step: &'a Step<'a>,
    after_conns: BTreeMap<ConnId, ConnInfo<'a>>,
    queued: BTreeMap<ConnId, Vec<ConductorMsg>>,
    new_steps: Vec<u32>,
    sender: Sender,
}

impl StepView<'_> {
    /// Closed, or closing, after the step.
    fn gone(&self, conn: ConnId) -> bool {
        self.after_conns.get(&conn).is_none_or(|c| c.closing)
    }

    /// No wave while a participant of the running round is GoSent or Working: each of them
    /// finished (by what it sent) or was removed during the step.
    fn check_no_wave_while_pending(&self) -> Result<(), Violation> {
        if self.new_steps.is_empty() {
            return Ok(());
        }
        for (&conn, c) in &self.before.conns {
            if c.closing || !c.kind.is_pending() {
                continue;
            }
            ensure!(
                self.gone(conn) || self.sender.readies_of(conn) > 0,
                "a wave went out while {conn} was still {} and neither Done nor removed",
                c.kind
            );
        }
        Ok(())
    }

    /// Run control holds waves back: see the module docs. A `resume`, a `step` or a graceful
    /// stop (which releases every hold) may let them out; a `hold-at` or `pace` changes the
    /// rules for this step.
    fn check_run_control(&self, after: &Conductor) -> Result<(), Violation> {
        let waves = self.new_steps.len() as u64;
        let before = self.before;
        let allowance = match self.step.input {
            StepInput::Control(Command::Step(n))
                if !before.stopping && !before.ended && !before.following =>
            {
                Some(u64::from((*n).max(1)))
            }
            StepInput::Control(Command::Resume)
            | StepInput::Input(Input::Stop(StopRequest::Graceful)) => None,
            _ if before.paused => Some(0),
            _ => before.steps_left.map(u64::from),
        };
        let control = after.rounds().control();
        if let Some(allowed) = allowance {
            ensure!(
                waves <= allowed,
                "{waves} wave(s) went out while run control allowed {allowed} ({:?} before,                  input {:?})",
                before.steps_left,
                self.step.input
            );
            let ended = after.rounds().ended().is_some();
            if allowed > 0 && !ended {
                let left = allowed - waves;
                ensure!(
                    control.is_paused() || u64::from(control.steps_left().unwrap_or(0)) == left,
                    "after {waves} of {allowed} stepped wave(s) the controller is neither paused                      nor has {left} left: {:?}",
                    control.steps_left()
                );
            }
        }
        // A resume or a step between rounds goes past a hold at the step it was paused before.
        let changes_hold = matches!(
            self.step.input,
            StepInput::Control(Command::HoldAt(_) | Command::Resume | Command::Step(_))
                | StepInput::Input(Input::Stop(StopRequest::Graceful))
        );
        if let (Some(step), false) = (before.hold_at, changes_hold) {
            ensure!(
                !self.new_steps.contains(&step),
                "a wave for step {step} went out although a hold was set at it"
            );
        }
        if !matches!(self.step.input, StepInput::Control(Command::Pace(_))) {
            if let (Some(slot), true) = (before.slot, waves > 0) {
                ensure!(
                    after.now() >= slot,
                    "a wave went out at {} µs, before its slot at {} µs",
                    after.now().as_micros(),
                    slot.as_micros()
                );
            }
            ensure!(
                control.pace().is_zero() || waves <= 1,
                "{waves} waves went out in one step with a pace of {}",
                control.pace()
            );
        }
        Ok(())
    }

    /// Every Go belongs to a wave of this step and goes to a client that was ready for it.
    fn check_gos(&self) -> Result<(), Violation> {
        for (&conn, msgs) in &self.queued {
            let gos: Vec<u32> = msgs
                .iter()
                .filter_map(|m| match m {
                    ConductorMsg::Go(s) => Some(*s),
                    _ => None,
                })
                .collect();
            let mut waves = self.new_steps.iter();
            for s in &gos {
                ensure!(
                    waves.any(|n| n == s),
                    "{conn} was sent Go {s} but this step's waves carry {:?}",
                    self.new_steps
                );
            }
            let was = self.before.conns.get(&conn);
            let ready_before = was.is_some_and(|c| !c.closing && c.kind.is_ready());
            ensure!(
                gos.len() <= usize::from(ready_before) + self.sender.readies_of(conn),
                "{conn} was sent Go {gos:?} while {}",
                was.map_or("not connected".to_string(), |c| format!(
                    "{}{}",
                    c.kind,
                    if c.closing { ", closing" } else { "" }
                ))
            );
            if let (Some(&s), Some(c)) = (gos.last(), self.after_conns.get(&conn)) {
                ensure!(
                    c.closing || c.state.step() == Some(s),
                    "{conn} was sent Go {s} but is {:?}",
                    c.state
                );
            }
        }
        Ok(())
    }

    /// A refusal has a reason, is the last thing its connection is sent, and closes it.
    fn check_refusals(&self) -> Result<(), Violation> {
        for (&conn, msgs) in &self.queued {
            for (i, m) in msgs.iter().enumerate() {
                let ConductorMsg::Refusal(reason) = m else {
                    continue;
                };
                ensure!(
                    !reason.as_str().is_empty(),
                    "{conn} was refused without a reason"
                );
                ensure!(
                    i + 1 == msgs.len() && self.gone(conn),
                    "{conn} was sent {:?} after its refusal",
                    &msgs[i + 1..]
                );
                ensure!(
                    self.before.conns.get(&conn).is_none_or(|c| !c.closing),
                    "{conn} was refused while already closing"
                );
            }
        }
        Ok(())
    }

    /// The end: `C` (or `E`), then `X`, to every connection, and nothing after it.
    fn check_end(&self, ended: Option<&EndKind>) -> Result<(), Violation> {
        let ended_now = !self.before.ended && ended.is_some();
        ensure!(
            self.step.exit.is_some() == ended_now,
            "Exit output {:?} but the conductor {} in this step",
            self.step.exit,
            if ended_now { "ended" } else { "did not end" }
        );
        if self.before.ended {
            ensure!(self.new_steps.is_empty(), "a wave went out after the end");
            for (conn, msgs) in &self.queued {
                ensure!(msgs.is_empty(), "{conn} was sent {msgs:?} after the end");
            }
            if let StepInput::Accepted(conn) = self.step.input {
                ensure!(
                    self.gone(conn),
                    "{conn} was accepted after the end and not closed"
                );
            }
        }
        let announce = match ended {
            Some(kind) if kind.announces_error() => ConductorMsg::Error,
            _ => ConductorMsg::Cease,
        };
        for (conn, msgs) in &self.queued {
            let Some(x) = msgs.iter().position(|m| *m == ConductorMsg::Exit) else {
                continue;
            };
            ensure!(
                ended_now,
                "{conn} was sent X although the conductor did not end"
            );
            ensure!(
                x + 1 == msgs.len() && x >= 1 && msgs[x - 1] == announce,
                "{conn} was sent {msgs:?} at the end: expected {announce:?} then Exit last"
            );
        }
        if !ended_now {
            return Ok(());
        }
        if ended.is_some_and(|kind| !kind.says_goodbye()) {
            return self.check_silent_end();
        }
        if let Some(EndKind::ParticipantFailed { id, .. }) = ended {
            // The participant named was a member, and went in this very step.
            let went = self.before.conns.iter().any(|(conn, c)| {
                c.id == Some(*id) && !c.closing && c.kind.is_joined() && self.gone(*conn)
            });
            ensure!(
                went,
                "the run ended on {id}'s failure, which did not go in this step"
            );
        }
        for (conn, c) in &self.before.conns {
            if c.closing {
                continue;
            }
            let msgs = self.queued.get(conn).map_or(&[][..], Vec::as_slice);
            let delivered = msgs.ends_with(&[ConductorMsg::Exit]);
            // Unless, in this step and before the end, it was refused, it left (an `X` or
            // `R` from it, which may still be flushing, or its connection closed), or it
            // stopped reading and was dropped (its queue given up).
            let refused = msgs.iter().any(|m| matches!(m, ConductorMsg::Refusal(_)));
            let left = self.sender.conn == Some(*conn) && self.sender.leaves && self.gone(*conn);
            ensure!(
                delivered || refused || left || self.step.closed.contains(conn),
                "{conn} was not sent {announce:?} and X at the end"
            );
        }
        Ok(())
    }
}

impl StepView<'_> {
    /// A restart: every connection open before the step is closed in it, and nobody was sent
    /// a `C`, `E` or `X`.
    fn check_silent_end(&self) -> Result<(), Violation> {
        for (conn, msgs) in &self.queued {
            let farewell = msgs.iter().find(|m| {
                matches!(
                    m,
                    ConductorMsg::Cease | ConductorMsg::Error | ConductorMsg::Exit
                )
            });
            ensure!(
                farewell.is_none(),
                "{conn} was sent {farewell:?} at a restart, which says nothing"
            );
        }
        for conn in self.before.conns.keys() {
            ensure!(
                self.step.closed.contains(conn),
                "{conn} was left open at a restart"
            );
        }
        Ok(())
    }
}

/// The messages each connection was sent during the step: what was written, then what is still
/// pending, without what was already pending before. A queue the core gave up on (the
/// connection closed) may end in part of a message.
fn queued_messages(
    before: &Snapshot,
    step: &Step<'_>,
    after: &BTreeMap<ConnId, ConnInfo<'_>>,
) -> Result<BTreeMap<ConnId, Vec<ConductorMsg>>, Violation> {
    let conns: BTreeSet<ConnId> = before
        .conns
        .keys()
        .chain(after.keys())
        .chain(step.written.keys())
        .copied()
        .collect();
    let mut queued = BTreeMap::new();
    for conn in conns {
        let mut stream = step.written.get(&conn).cloned().unwrap_or_default();
        if let Some(c) = after.get(&conn) {
            stream.extend_from_slice(c.pending);
        }
        let skip = before.conns.get(&conn).map_or(0, |c| c.pending);
        let mut rest = stream.get(skip..).unwrap_or_default();
        let mut msgs = Vec::new();
        loop {
            match ConductorMsg::decode(rest) {
                Ok(Some((msg, n))) => {
                    msgs.push(msg);
                    rest = &rest[n..];
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(Violation(format!(
                        "{conn} was sent bytes that are no message: {e}"
                    )))
                }
            }
        }
        ensure!(
            rest.is_empty() || !after.contains_key(&conn),
            "{conn} was sent an incomplete message {rest:?}"
        );
        queued.insert(conn, msgs);
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::StopRequest;
    use crate::harness::{Harness, Observed};

    /// A step as the harness recorded it, to be checked again after tampering with it.
    struct Recorded {
        h: Harness,
        before: Snapshot,
        seen: Observed,
        input: Input<'static>,
    }

    impl Recorded {
        /// Records `input` as the next step of `h`.
        fn step(mut h: Harness, input: Input<'static>) -> Recorded {
            let before = Snapshot::of(&h.core);
            h.input(input.clone());
            let seen = h.observed().clone();
            Recorded {
                h,
                before,
                seen,
                input,
            }
        }

        fn check(&self) -> Result<(), Violation> {
            let step = Step {
                input: StepInput::Input(&self.input),
                written: &self.seen.written,
                closed: &self.seen.closed,
                exit: self.seen.exit.as_ref(),
            };
            check_step(&self.before, &step, &self.h.core)
        }
    }

    /// The step in which `b`'s Done ends round 0 and wave 1 goes to `a`, `b` and the late
    /// joiner `c`.
    fn wave_step() -> (Recorded, [ConnId; 3]) {
        let mut h = Harness::with(|c| c.rounds.min_clients = 2);
        let a = h.join("a");
        let b = h.join("b");
        h.send(a, b"K!");
        let c = h.join("c");
        let step = Recorded::step(
            h,
            Input::Received {
                conn: b,
                bytes: b"!",
            },
        );
        let reached = step.seen.written.len();
        assert_eq!(reached, 3, "the wave reached a, b and c: {:?}", step.seen);
        (step, [a, b, c])
    }

    /// A quiet step after that wave, in which the harness claims to have written `bytes`.
    fn claimed(conn_bytes: impl FnOnce([ConnId; 3]) -> (ConnId, Vec<u8>)) -> Recorded {
        let (wave, conns) = wave_step();
        let mut quiet = Recorded::step(wave.h, Input::Tick);
        let (conn, bytes) = conn_bytes(conns);
        quiet.seen.written.insert(conn, bytes);
        quiet
    }

    fn fails(result: Result<(), Violation>, expected: &str) {
        match result {
            Err(v) => assert!(v.0.contains(expected), "expected {expected:?}, got: {v}"),
            Ok(()) => panic!("expected a violation {expected:?}"),
        }
    }

    #[test]
    fn a_real_wave_passes() {
        let (step, _) = wave_step();
        assert_eq!(step.check(), Ok(()));
        assert_eq!(check_state(&step.h.core), Ok(()));
    }

    #[test]
    fn a_wave_while_a_participant_works_is_caught() {
        let (mut step, [a, _, _]) = wave_step();
        step.before.conns.get_mut(&a).unwrap().kind = StateKind::Working;
        fails(step.check(), "while #0 was still Working");
    }

    #[test]
    fn a_go_to_a_client_not_ready_is_caught() {
        let (mut step, [_, _, c]) = wave_step();
        step.before.conns.get_mut(&c).unwrap().kind = StateKind::AwaitingHello;
        fails(step.check(), "#2 was sent Go [1] while AwaitingHello");
        let was = step.before.conns.get_mut(&c).unwrap();
        (was.kind, was.closing) = (StateKind::Idle, true);
        fails(step.check(), "while Idle, closing");
    }

    #[test]
    fn a_step_that_does_not_follow_the_last_is_caught() {
        let (mut step, _) = wave_step();
        step.before.last_step = Some(5);
        fails(step.check(), "must carry 6");
    }

    #[test]
    fn a_go_without_a_wave_is_caught() {
        let step = claimed(|[a, _, _]| (a, vec![b'!', 1, 0, 0, 0]));
        fails(step.check(), "this step's waves carry []");
    }

    #[test]
    fn exit_outside_the_end_and_bytes_after_a_refusal_are_caught() {
        let step = claimed(|[a, _, _]| (a, b"X".to_vec()));
        fails(step.check(), "although the conductor did not end");
        let step = claimed(|[a, _, _]| (a, b"R\x02\0\0\0no.".to_vec()));
        fails(step.check(), "after its refusal");
    }

    #[test]
    fn a_client_leaving_in_the_step_that_ends_the_conductor_is_owed_no_c_and_x() {
        // `b` leaves with bytes still queued for it (it stopped reading): it is closing, not
        // closed, when its departure ends the last round and so the conductor. Its `R` may
        // have begun in an earlier step.
        let leavings: [&[&[u8]]; 2] = [&[b"X"], &[b"R\x02\0\0", b"\0ok"]];
        for pieces in leavings {
            let mut h = Harness::with(|c| {
                c.rounds.min_clients = 2;
                c.rounds.rounds = 1;
            });
            let a = h.join("a");
            let b = h.join("b");
            h.set_stalled(b, true);
            h.send(b, b"?");
            h.send(a, b"K!");
            for piece in pieces {
                h.send(b, piece);
            }
            assert!(h.exit.is_some(), "the planned end came");
            assert!(!h.is_closed(b), "b is still flushing");
        }
    }

    #[test]
    fn an_end_without_c_then_x_is_caught() {
        let (wave, [a, _, _]) = wave_step();
        let mut end = Recorded::step(wave.h, Input::Stop(StopRequest::Interrupt));
        assert_eq!(end.check(), Ok(()));
        end.seen.written.insert(a, b"X".to_vec());
        fails(end.check(), "expected Cease then Exit last");
        end.seen.exit = None;
        fails(end.check(), "Exit output None but the conductor ended");
    }

    #[test]
    fn a_closed_connection_left_open_is_caught() {
        let mut h = Harness::with(|_| {});
        let a = h.join("a");
        // Its Close is queued but not polled: the driver has not drained yet.
        h.core.handle_input(h.now, Input::Closed { conn: a });
        fails(check_state(&h.core), "is Closed but still open");
        h.drain();
        assert_eq!(check_state(&h.core), Ok(()));
    }

    #[test]
    fn counts_that_disagree_with_the_connections_are_caught() {
        let (mut step, _) = wave_step();
        step.h.core.corrupt_ready_count(7);
        fails(
            check_state(&step.h.core),
            "counts 7 ready clients, a scan finds 0",
        );
    }
}
