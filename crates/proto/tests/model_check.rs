//! Exhaustive model checking of the real conductor core (PROTOCOL.md: sessions, states, rounds,
//! ending).
//!
//! Clients drive the real `Conductor` through the test harness. From every reached state every
//! possible next event is tried: each client connecting, sending a hello, `K`, `!`, `W`, `.`,
//! `?`, `X` or a byte that is no message (not `R`, which leaves exactly as `X` does unless
//! `end_on_failure` is on), or closing its connection; time jumping to the core's
//! next deadline; a graceful stop (SIGTERM), an interrupt (SIGINT), a restart (SIGUSR1) and a
//! fatal error; in the second model, each client stopping and resuming reading; in the third,
//! the operator's commands through the control socket (pause, resume, step, hold at a step, a
//! change of pace, an exemption from the liveness deadlines); in the fourth, `R` too, with
//! every departure but `X` ending the run (`end_on_failure` "closed"). The harness checks the
//! invariants of `lockstep_proto::invariants` after every step, so every state and every transition
//! of the search is checked.
//!
//! States are told apart by the core's fingerprint (times relative to now, the next step
//! instead of the count of waves) plus what each client holds; with time moving only to the
//! next deadline the state space is finite and the search is complete.
//!
//! Besides the invariants, the search checks that no state is stuck: from every reached state
//! some sequence of client inputs and time (without the operator's stop, interrupt or error,
//! which end anything, and without the operator's commands) leads to the next wave or to the
//! end. A paused state is held by the operator on purpose and is exempt from this; instead, a
//! resume from every paused state leads to a state that is not paused (and so, like every
//! other, leads to the next wave without further help). The invariants check the rest of run
//! control after every step: a paused conductor sends no wave, a `step N` sends no more than N
//! and then pauses, no wave goes out for the step of a hold or before the pace's slot. A
//! conductor still stepping is not paused, so the progress check holds for it: its waves do
//! go out, and a `step N` sends exactly N.
//!
//! Why a breadth-first search written out here rather than a model-checking crate: "no state
//! is stuck" needs the whole state graph (from *every* state *some* path leads on), which a
//! search that keeps its edges answers with one backward pass; the whole checker stays a page
//! of code with no new dependency.
//!
//! Figures: `cargo test -p lockstep-proto --test model_check -- --nocapture`.

// The search times itself (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Instant as Clock;

use lockstep_proto::conn::{Event, ALL_EVENTS};
use lockstep_proto::core::{Command, ConnId, CoreConfig, EndOnFailure, Input, StopRequest};
use lockstep_proto::harness::{client_bytes, Harness};
use lockstep_proto::round::EndKind;
use lockstep_proto::time::Duration;
use lockstep_proto::wire::Id;

/// One event of the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Connect(usize),
    Send(usize, Event),
    Close(usize),
    /// The client stops reading.
    Stall(usize),
    /// The client reads again, taking everything queued for it.
    Resume(usize),
    /// Time jumps to the core's next deadline.
    Tick,
    Sigterm,
    Sigint,
    Sigusr1,
    Fatal,
    /// An operator's command through the control socket.
    Control(Command),
    /// `exempt` for this client, for this long.
    Exempt(usize, Duration),
}

impl Action {
    /// The operator's events end the conductor from anywhere or hold it on purpose, so they do
    /// not count as a way for a state to make progress.
    fn is_operator(self) -> bool {
        matches!(
            self,
            Action::Sigterm
                | Action::Sigint
                | Action::Sigusr1
                | Action::Fatal
                | Action::Control(_)
                | Action::Exempt(..)
        )
    }
}

/// A model: how many clients, which message events of the transition table they send, the
/// conductor's settings, whether clients may stop reading, the operator's commands and how
/// long an exemption lasts (zero: none are given).
struct Setup {
    clients: usize,
    sends: fn(Event) -> bool,
    config: fn(&mut CoreConfig),
    stalls: bool,
    commands: &'static [Command],
    exempt_for: Duration,
}

/// A client as the model sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Client {
    conn: Option<ConnId>,
    stalled: bool,
}

/// A state of the model: the harness around the core, and each client.
#[derive(Clone)]
struct State {
    h: Harness,
    clients: Vec<Client>,
}

impl State {
    fn initial(setup: &Setup) -> State {
        State {
            h: Harness::with(setup.config),
            clients: vec![Client::default(); setup.clients],
        }
    }

    fn ended(&self) -> bool {
        self.h.core.rounds().ended().is_some()
    }

    fn paused(&self) -> bool {
        self.h.core.rounds().control().is_paused()
    }

    fn fingerprint(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.h.core.fingerprint(self.h.now, &mut hasher);
        self.clients.hash(&mut hasher);
        hasher.finish()
    }

    /// Every event possible now. After the end only closing, resuming and time are left: the
    /// conductor ignores what closing connections send.
    fn actions(&self, setup: &Setup) -> Vec<Action> {
        let ended = self.ended();
        let mut actions = Vec::new();
        for (i, client) in self.clients.iter().enumerate() {
            if client.conn.is_none() {
                if !ended {
                    actions.push(Action::Connect(i));
                }
                continue;
            }
            if !ended {
                let sent = ALL_EVENTS.into_iter().filter(|&e| (setup.sends)(e));
                let messages = sent.filter(|&e| client_bytes(e, "any").is_some());
                actions.extend(messages.map(|e| Action::Send(i, e)));
            }
            actions.push(Action::Close(i));
            if setup.stalls && client.stalled {
                actions.push(Action::Resume(i));
            } else if setup.stalls && !ended {
                actions.push(Action::Stall(i));
            }
        }
        if self.h.core.poll_timeout().is_some() {
            actions.push(Action::Tick);
        }
        if !ended {
            actions.extend([
                Action::Sigterm,
                Action::Sigint,
                Action::Sigusr1,
                Action::Fatal,
            ]);
            actions.extend(setup.commands.iter().map(|&c| Action::Control(c)));
            if !setup.exempt_for.is_zero() {
                let connected = self
                    .clients
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.conn.is_some());
                actions.extend(connected.map(|(i, _)| Action::Exempt(i, setup.exempt_for)));
            }
        }
        actions
    }

    /// Applies one event (the harness checks the invariants) and forgets closed connections.
    /// True when a wave went out or the conductor ended.
    fn apply(&mut self, action: Action) -> bool {
        let waves = self.h.core.rounds().waves_sent();
        let conn = |i: usize| self.clients[i].conn.expect("the action needs a connection");
        match action {
            Action::Connect(i) => self.clients[i].conn = Some(self.h.connect()),
            Action::Send(i, event) => {
                let bytes = client_bytes(event, &format!("client-{i}"));
                self.h.send(conn(i), &bytes.expect("a message event"));
            }
            Action::Close(i) => self.h.close(conn(i)),
            Action::Stall(i) => {
                self.h.set_stalled(conn(i), true);
                self.clients[i].stalled = true;
            }
            Action::Resume(i) => {
                self.h.set_stalled(conn(i), false);
                self.clients[i].stalled = false;
            }
            Action::Tick => {
                self.h.fire_next_timer();
            }
            Action::Sigterm => self.h.stop(StopRequest::Graceful),
            Action::Sigint => self.h.stop(StopRequest::Interrupt),
            Action::Sigusr1 => self.h.stop(StopRequest::Restart),
            Action::Fatal => self.h.input(Input::Fatal("model".to_string())),
            Action::Control(command) => _ = self.h.control(command),
            Action::Exempt(i, duration) => {
                let id = Id::new(&format!("client-{i}")).expect("a model id");
                _ = self.h.control(Command::Exempt { id, duration });
            }
        }
        let closed = self.h.observed().closed.clone();
        for client in &mut self.clients {
            if client.conn.is_some_and(|c| closed.contains(&c)) {
                *client = Client::default();
            }
        }
        for client in &self.clients {
            if let (Some(conn), false) = (client.conn, client.stalled) {
                self.h.take(conn);
            }
        }
        self.h.core.rounds().waves_sent() > waves || self.h.observed().exit.is_some()
    }
}

/// The explored graph: states by fingerprint, and the edges the progress check needs.
struct Search {
    index: HashMap<u64, u32>,
    /// How each state was first reached: (parent, action); the initial state has no action.
    parent: Vec<(u32, Option<Action>)>,
    /// The conductor has ended, or an edge of client inputs or time sends a wave or ends it.
    progresses: Vec<bool>,
    /// The other edges of client inputs and time, as (from, to), for the backward pass.
    edges: Vec<(u32, u32)>,
    /// Paused (held by the operator, exempt from the progress check).
    paused: Vec<bool>,
    /// Where a resume from a paused state led, as (from, to).
    resumes: Vec<(u32, u32)>,
    transitions: u64,
    depth: u32,
    /// How many transitions ended the conductor, by ending.
    ends: HashMap<&'static str, u64>,
}

impl Search {
    fn run(setup: &Setup) -> Search {
        let initial = State::initial(setup);
        let mut search = Search {
            index: HashMap::from([(initial.fingerprint(), 0)]),
            parent: vec![(0, None)],
            progresses: vec![false],
            edges: Vec::new(),
            paused: vec![initial.paused()],
            resumes: Vec::new(),
            transitions: 0,
            depth: 0,
            ends: HashMap::new(),
        };
        let mut queue = VecDeque::from([(initial, 0u32, 0u32)]);
        while let Some((state, id, depth)) = queue.pop_front() {
            search.depth = search.depth.max(depth);
            if state.ended() {
                search.progresses[id as usize] = true;
            }
            for action in state.actions(setup) {
                let mut next = state.clone();
                let progress = apply_or_report(&mut next, action, || search.path(id));
                search.transitions += 1;
                if let Some(exit) = &next.h.observed().exit {
                    *search.ends.entry(exit.label()).or_default() += 1;
                }
                let fingerprint = next.fingerprint();
                let to = match search.index.get(&fingerprint) {
                    Some(&to) => to,
                    None => {
                        let to = search.parent.len() as u32;
                        search.index.insert(fingerprint, to);
                        search.parent.push((id, Some(action)));
                        search.progresses.push(false);
                        search.paused.push(next.paused());
                        queue.push_back((next, to, depth + 1));
                        to
                    }
                };
                if action == Action::Control(Command::Resume) && state.paused() {
                    search.resumes.push((id, to));
                }
                if action.is_operator() {
                    continue;
                }
                if progress {
                    search.progresses[id as usize] = true;
                } else if to != id {
                    search.edges.push((id, to));
                }
            }
        }
        search
    }

    fn states(&self) -> usize {
        self.parent.len()
    }

    /// The actions from the initial state to `id`.
    fn path(&self, mut id: u32) -> Vec<Action> {
        let mut actions = Vec::new();
        while let (parent, Some(action)) = self.parent[id as usize] {
            actions.push(action);
            id = parent;
        }
        actions.reverse();
        actions
    }

    /// States from which no client inputs and time lead to a wave or the end, leaving out the
    /// paused ones (held on purpose).
    fn stuck(&self) -> Vec<u32> {
        let n = self.states();
        let mut into: Vec<Vec<u32>> = vec![Vec::new(); n];
        for &(from, to) in &self.edges {
            into[to as usize].push(from);
        }
        let mut good: Vec<bool> = (0..n)
            .map(|s| self.progresses[s] || self.paused[s])
            .collect();
        let mut queue: VecDeque<u32> = (0..n as u32).filter(|&s| good[s as usize]).collect();
        while let Some(s) = queue.pop_front() {
            for &from in &into[s as usize] {
                if !good[from as usize] {
                    good[from as usize] = true;
                    queue.push_back(from);
                }
            }
        }
        (0..n as u32).filter(|&s| !good[s as usize]).collect()
    }

    /// Searches, prints the figures and checks that nothing is stuck.
    fn check(name: &str, setup: &Setup) -> Search {
        let started = Clock::now();
        let search = Search::run(setup);
        let stuck = search.stuck();
        println!(
            "model check ({name}): {} states, {} transitions, depth {}, ends {:?}, in {:.1} s",
            search.states(),
            search.transitions,
            search.depth,
            search.ends,
            started.elapsed().as_secs_f64()
        );
        if let Some(&s) = stuck.first() {
            panic!(
                "{} stuck states, e.g. after {:?}",
                stuck.len(),
                search.path(s)
            );
        }
        for &(from, to) in &search.resumes {
            assert!(
                !search.paused[to as usize],
                "a resume left the conductor paused, e.g. after {:?}",
                search.path(from)
            );
        }
        for end in ["planned", "graceful", "interrupt", "fatal", "restart"] {
            assert!(
                search.ends.contains_key(end),
                "no {end} end reached: {:?}",
                search.ends
            );
        }
        search
    }

    /// Asserts that each state along `run` (from the initial state) was explored, and returns
    /// the last.
    fn assert_covers(&self, setup: &Setup, run: &[Action]) -> State {
        let mut state = State::initial(setup);
        for (n, &action) in run.iter().enumerate() {
            let before = &run[..n];
            assert!(
                state.actions(setup).contains(&action),
                "{action:?} is not possible after {before:?}"
            );
            state.apply(action);
            assert!(
                self.index.contains_key(&state.fingerprint()),
                "the state after {before:?} and {action:?} was not explored"
            );
        }
        state
    }
}

/// Applies an action; if an invariant breaks (the harness panics), prints the path first.
fn apply_or_report(state: &mut State, action: Action, path: impl FnOnce() -> Vec<Action>) -> bool {
    let applied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.apply(action)));
    applied.unwrap_or_else(|panic| {
        eprintln!("invariant broken by {action:?} after {:?}", path());
        std::panic::resume_unwind(panic)
    })
}

/// Three clients, every liveness timer and the slow-round `T` on, a planned end after three
/// waves with a countdown of one, steps wrapping at two. Durations of one or two milliseconds
/// of virtual time (probe 1, drop 2, hello timeout 1, `T` every 2) make probes, drops, hello
/// timeouts and `T` interleave while the search still takes seconds; longer ones multiply the
/// relative times a state can hold without adding new orders of events.
const TIMERS: Setup = Setup {
    clients: 3,
    // Every message; `R` removes a client exactly as `X` does.
    sends: |e| e != Event::Refusal,
    config: |c| {
        c.rounds.min_clients = 2;
        c.rounds.rounds = 3;
        c.rounds.step_wrap = 2;
        c.rounds.shutdown_countdown = 1;
        c.rounds.slow_round = Duration::from_millis(2);
        c.max_clients = 3;
        c.hello_timeout = Duration::from_millis(1);
        c.probe_after = Duration::from_millis(1);
        c.drop_after = Duration::from_millis(2);
        c.status_interval = None;
    },
    stalls: false,
    commands: &[],
    exempt_for: Duration::ZERO,
};

/// Two clients that may stop reading, a queue bound that just holds the conductor's hello, a
/// planned end after two waves with a countdown of two (so `S` and Go can each overflow a
/// queue); no timers but the linger of closing connections. `?` is left out here: each answer
/// adds a byte to a stalled queue and only multiplies the queue contents (the first model
/// covers it).
const SLOW_READERS: Setup = Setup {
    clients: 2,
    sends: |e| !matches!(e, Event::Refusal | Event::Ping),
    config: |c| {
        c.rounds.min_clients = 1;
        c.rounds.rounds = 2;
        c.rounds.shutdown_countdown = 2;
        c.max_queued_bytes = 14;
        c.hello_timeout = Duration::ZERO;
        c.linger = Duration::from_millis(1);
        c.status_interval = None;
    },
    stalls: true,
    commands: &[],
    exempt_for: Duration::ZERO,
};

/// Two clients and the operator: a pace of 1 ms, `T` every 2 ms (during slow rounds and long
/// pauses), a planned end after three waves with a countdown of one, steps wrapping at two,
/// and a liveness drop after 3 ms of silence (no probes) so that an exemption of 2 ms matters.
/// The operator pauses, resumes, steps two waves, holds at step 1, switches the pace off and on
/// again, and exempts either client. Clients say hello, `!` or leave; the first model covers
/// the rest of the table.
const CONTROL: Setup = Setup {
    clients: 2,
    sends: |e| matches!(e, Event::Hello | Event::Done | Event::Exit),
    config: |c| {
        c.rounds.min_clients = 1;
        c.rounds.rounds = 3;
        c.rounds.step_wrap = 2;
        c.rounds.shutdown_countdown = 1;
        c.rounds.slow_round = Duration::from_millis(2);
        c.rounds.pace = Duration::from_millis(1);
        c.max_clients = 2;
        c.hello_timeout = Duration::ZERO;
        c.probe_after = Duration::ZERO;
        c.drop_after = Duration::from_millis(3);
        c.status_interval = None;
    },
    stalls: false,
    commands: &[
        Command::Pause,
        Command::Resume,
        Command::Step(2),
        Command::HoldAt(Some(1)),
        Command::Pace(Duration::ZERO),
        Command::Pace(Duration::from_millis(1)),
    ],
    exempt_for: Duration::from_millis(2),
};

/// Two clients whose every departure but `X` ends the run (`end_on_failure` "closed"): `R`,
/// closing, garbage, the liveness drop; a planned end after two waves with a countdown of one,
/// probes and drops on as in the first model.
const FAILURES: Setup = Setup {
    clients: 2,
    sends: |_| true,
    config: |c| {
        c.end_on_failure = EndOnFailure::Closed;
        c.rounds.min_clients = 2;
        c.rounds.rounds = 2;
        c.rounds.shutdown_countdown = 1;
        c.max_clients = 2;
        c.hello_timeout = Duration::from_millis(1);
        c.probe_after = Duration::from_millis(1);
        c.drop_after = Duration::from_millis(2);
        c.status_interval = None;
    },
    stalls: false,
    commands: &[],
    exempt_for: Duration::ZERO,
};

#[test]
fn three_clients_with_timers_keep_the_invariants_and_never_get_stuck() {
    let search = Search::check("timers", &TIMERS);

    // Two full rounds with a join and a leave, then the planned end, are among the states.
    use Action::*;
    use Event::*;
    let run = [
        Connect(0),
        Send(0, Hello),
        Connect(1),
        Send(1, Hello), // wave 0 to clients 0 and 1
        Connect(2),
        Send(2, Hello), // client 2 joins during round 0 and waits
        Send(0, Received),
        Send(0, Done),
        Send(1, Done), // round 0 ends; wave 1 to all three
        Close(1),      // client 1 leaves during round 1
        Send(0, Done),
        Tick, // a probe
        Send(2, Received),
        Send(2, Done), // round 1 ends; S 1 and wave 2, the last
        Send(0, Done),
        Send(2, Done), // round 2 ends: C, X, the planned end
    ];
    let end = search.assert_covers(&TIMERS, &run);
    assert_eq!(end.h.exit, Some(EndKind::Planned));
    assert_eq!(end.h.core.rounds().waves_sent(), 3);

    // Pinned: a change to the model or to the core's behaviour shows here first. Check that
    // the change is intended, then update the figure.
    assert_eq!(search.states(), 95_322, "unique states explored");
}

#[test]
fn clients_that_stop_reading_keep_the_invariants_and_never_get_stuck() {
    let search = Search::check("slow readers", &SLOW_READERS);

    // The case that once held a round up for ever: a client that stopped reading is dropped
    // by the `S` broadcast just before the last wave; the other finishes and the end comes.
    use Action::*;
    use Event::*;
    let run = [
        Connect(0),
        Stall(0),
        Send(0, Hello), // wave 0: S 2 and Go 0 wait in client 0's queue, 10 of 14 bytes
        Connect(1),
        Send(1, Hello), // waits, Idle, for the next wave
        Send(0, Done),  // wave 1: S 1 overflows client 0's queue, Go 1 to client 1 alone
        Send(1, Done),  // round 1 ends: the planned end
    ];
    let end = search.assert_covers(&SLOW_READERS, &run);
    assert_eq!(end.h.exit, Some(EndKind::Planned));
    assert_eq!(end.h.core.rounds().waves_sent(), 2);
    assert_eq!(search.states(), 1_657, "unique states explored");
}

#[test]
fn the_operators_commands_keep_the_invariants_and_a_resume_always_leads_on() {
    let search = Search::check("run control", &CONTROL);

    // Pause during round 0: it finishes, no wave follows; the resume sends wave 1 at its slot.
    use Action::*;
    use Event::*;
    let run = [
        Connect(0),
        Send(0, Hello), // wave 0 at once: the first wave fixes the schedule
        Control(Command::Pause),
        Send(0, Done),             // round 0 ends; paused, nothing follows
        Tick,                      // 2 ms of pause: T
        Control(Command::Resume),  // wave 1: its slot has passed
        Control(Command::Step(2)), // the running round does not count
        Send(0, Done),
        Tick,          // the slot of wave 2: S 1 and the last wave
        Send(0, Done), // round 2 ends: the planned end
    ];
    let end = search.assert_covers(&CONTROL, &run);
    assert_eq!(end.h.exit, Some(EndKind::Planned));
    assert_eq!(end.h.core.rounds().waves_sent(), 3);
    assert_eq!(search.states(), 75_018, "unique states explored");
}

#[test]
fn failures_that_end_the_run_keep_the_invariants_and_never_get_stuck() {
    let search = Search::check("failures", &FAILURES);
    assert!(
        search.ends.contains_key("participant_failed"),
        "{:?}",
        search.ends
    );

    // A participant's `R` in the middle of a round ends the run at once: `E`, `X`, exit 3.
    use Action::*;
    use Event::*;
    let run = [
        Connect(0),
        Send(0, Hello),
        Connect(1),
        Send(1, Hello), // wave 0
        Send(0, Done),
        Send(1, Refusal), // client 1 fails: the end
    ];
    let end = search.assert_covers(&FAILURES, &run);
    assert!(
        matches!(&end.h.exit, Some(EndKind::ParticipantFailed { id, .. }) if id.as_str() == "client-1"),
        "{:?}",
        end.h.exit
    );
    assert_eq!(end.h.exit.as_ref().map(EndKind::exit_code), Some(3));
    assert_eq!(search.states(), 735, "unique states explored");
}

/// A small tree, exhaustively: a root, one relay, a participant under the relay and one on
/// the root, two rounds.
/// Every order of packet deliveries, Done, a participant leaving and the relay dying is
/// tried from every state (a cut upstream, after which the relay reconnects, is left to the
/// seeded tree simulation: its reconnect timers multiply the states by a thousand); the tree's invariants (one barrier, steps up by one, each core's
/// own) hold after every action, and every state with nothing left to do has the root ended
/// or nobody left to wait for.
#[test]
fn a_root_a_relay_and_two_participants_keep_one_barrier() {
    use lockstep_proto::sim::tree::{Shape, Tree};
    let shape = Shape {
        relays: vec![1],
        on_root: 1,
        root_min: 2,
        relay_min: 1,
        rounds: 2,
        step_wrap: 1 << 32,
    };
    let started = Clock::now();
    let first = Tree::new(&shape);
    let mut seen = std::collections::HashSet::new();
    seen.insert(first.fingerprint());
    let mut queue = VecDeque::from([first]);
    let (mut transitions, mut ends, mut relay_deaths) = (0u64, 0u64, 0u64);
    while let Some(state) = queue.pop_front() {
        let mut actions = state.actions(true);
        actions.retain(|a| !matches!(a, lockstep_proto::sim::tree::Action::Cut(_)));
        if actions.is_empty() {
            assert!(
                state.is_settled() || !state.someone_works(),
                "stuck with someone working and nothing to do"
            );
            ends += u64::from(state.root_exit.is_some());
        }
        for action in actions {
            let mut next = state.clone();
            transitions += 1;
            if let Err(e) = next.apply(action) {
                panic!("{action:?} broke an invariant: {e}");
            }
            relay_deaths += u64::from(matches!(action, lockstep_proto::sim::tree::Action::Kill(_)));
            if seen.insert(next.fingerprint()) {
                queue.push_back(next);
            }
        }
    }
    println!(
        "tree model: {} states, {transitions} transitions, {ends} ended, {relay_deaths} relay deaths, {:?}",
        seen.len(),
        started.elapsed()
    );
    assert!(ends > 0, "some path reaches the planned end");
    assert!(relay_deaths > 0);
    assert!(
        seen.len() > 1000,
        "the tree model explores a real state space"
    );
}
