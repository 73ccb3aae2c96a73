//! Deterministic simulation of the conductor: test support that runs the real core
//! ([`Conductor`](crate::core::Conductor)) against many simulated clients over a simulated
//! network, in virtual time, from one seed. Performs no I/O, reads no clock, starts no thread.
//!
//! A seed fixes everything: the conductor's settings, the clients (most honest, some saying
//! hello badly or not at all), their faults (garbage, wrong messages, partial messages,
//! leaving, closing, resetting, stalling, freezing, flooding, slowness), the network (latency,
//! jitter, long hold-ups, arbitrary splits of every write, order kept within a connection but
//! not across them, socket buffers from 16 bytes to 64 KiB, so writes are often partial),
//! operator stops and fatal errors at random times, and jumps of the clock. Then faults stop
//! ("calm"): every client behaves, broken ones close, and enough honest clients join.
//!
//! After every step — one input to the core and the drain of its outputs, see [`Stepper`] —
//! the [`invariants`](crate::invariants) are checked, and the simulation adds its own:
//! no buffer grows past its bound, clients (each driven by a
//! [`Participant`](crate::participant::Participant) state machine) receive only whole messages,
//! no Go during a step and nothing after an `R` or `X`, and once faults stop every round
//! completes within a bound, three more rounds complete, and a final stop ends the conductor
//! with every connection closed.
//!
//! [`run`] returns a [`Failure`] naming the seed; running that seed again replays the same
//! steps exactly (the [`Outcome::trace_hash`] covers every input, time and output).
//!
//! [`restart`] is a second world: the conductor killed and started again from its state file
//! at random instants, against participants that reconnect.

mod client;
mod net;
mod plan;
pub mod restart;
mod rng;
pub mod script;
mod stepper;
pub mod tree;

pub use client::{Fault, Kind, FAULTS};
pub use plan::{Op, Plan};
pub use rng::Rng;
pub use stepper::{Sockets, Stepper};

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::core::{Command, ConnId, Event as CoreEvent, Input, StopRequest};
use crate::invariants::Violation;
use crate::round::EndKind;
use crate::time::{Duration, Instant};
use crate::wire::Id;

use client::{Act, Client, Effect};
use net::{Event, LinkId, Up, World};

/// The refusals the conductor sends, by how their reasons start.
pub const REFUSALS: [&str; 8] = [
    "address",
    "duplicate id",
    "full",
    "hello timeout",
    "invalid id",
    "liveness timeout",
    "protocol violation",
    "unsupported protocol version",
];
/// How long after faults stop the conductor may take to finish, whatever happens.
const CALM_BOUND: Duration = Duration::from_millis(600_000);
/// A safety net against a run that never ends.
const MAX_STEPS: u64 = 5_000_000;

/// Counts of what the simulation did, summed over seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Seeds run.
    pub seeds: u64,
    /// Checked steps.
    pub steps: u64,
    /// Waves sent.
    pub waves: u64,
    /// Rounds that ended with every participant Done or removed.
    pub rounds: u64,
    /// Clients that connected.
    pub clients: u64,
    /// Simulated time, in microseconds.
    pub simulated_us: u64,
    /// Writes the sockets took only in part.
    pub partial_writes: u64,
    /// Jumps of the clock.
    pub time_jumps: u64,
    /// Faults committed and misbehaving hellos, by name.
    pub faults: BTreeMap<String, u64>,
    /// Refusals clients received, by the start of the reason.
    pub refusals: BTreeMap<String, u64>,
    /// How the conductor ended, by kind.
    pub ends: BTreeMap<String, u64>,
    /// The operator's commands given (`refused` counts those refused), and what run control
    /// did: `held`, `late wave`, `still paused`.
    pub control: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &Stats) {
        self.seeds += other.seeds;
        self.steps += other.steps;
        self.waves += other.waves;
        self.rounds += other.rounds;
        self.clients += other.clients;
        self.simulated_us += other.simulated_us;
        self.partial_writes += other.partial_writes;
        self.time_jumps += other.time_jumps;
        for (mine, theirs) in [
            (&mut self.faults, &other.faults),
            (&mut self.refusals, &other.refusals),
            (&mut self.ends, &other.ends),
            (&mut self.control, &other.control),
        ] {
            for (k, v) in theirs {
                *mine.entry(k.clone()).or_default() += v;
            }
        }
    }

    fn count(map: &mut BTreeMap<String, u64>, key: &str) {
        *map.entry(key.to_string()).or_default() += 1;
    }
}

/// A run that kept every invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// A hash of every step: equal for two runs of the same seed.
    pub trace_hash: u64,
    /// What happened.
    pub stats: Stats,
}

/// A broken invariant, with what is needed to replay it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The seed that breaks it.
    pub seed: u64,
    /// The simulated time.
    pub at: Instant,
    /// The step count.
    pub step: u64,
    /// What broke.
    pub violation: String,
    /// The seed's plan (settings and world), for a person.
    pub plan: String,
    /// The last steps, when the run was traced.
    pub trace: Vec<String>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation seed {} failed at {} µs, step {}: {}",
            self.seed,
            self.at.as_micros(),
            self.step,
            self.violation
        )?;
        writeln!(
            f,
            "replay it: LOCKSTEP_SIM_SEED={} cargo test -p lockstep-proto --test simulation replay -- --nocapture",
            self.seed
        )?;
        writeln!(f, "plan: {}", self.plan)?;
        for line in &self.trace {
            writeln!(f, "  {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// Runs one seed.
pub fn run(seed: u64) -> Result<Outcome, Failure> {
    run_traced(seed, 0)
}

/// Runs one seed keeping the last `lines` steps as text, for a failure report or a replay.
pub fn run_traced(seed: u64, lines: usize) -> Result<Outcome, Failure> {
    let mut rng = Rng::new(seed);
    let plan = Plan::new(&mut rng.fork());
    let world = World::new(rng.fork());
    let stepper = Stepper::new(plan.config.clone(), Instant::ZERO).map_err(|v| Failure {
        seed,
        at: Instant::ZERO,
        step: 0,
        violation: v.0,
        plan: format!("{plan:?}"),
        trace: Vec::new(),
    })?;
    Simulation {
        seed,
        plan,
        stepper,
        world,
        rng,
        next_link: 0,
        calm_since: None,
        calm_rounds: 0,
        final_stop: false,
        joining: 0,
        cut: 0,
        stats: Stats {
            seeds: 1,
            ..Stats::default()
        },
        trace: (lines > 0).then(|| (lines, VecDeque::new())),
    }
    .run()
}

/// One seeded run.
struct Simulation {
    seed: u64,
    plan: Plan,
    stepper: Stepper,
    world: World,
    rng: Rng,
    next_link: LinkId,
    calm_since: Option<Instant>,
    calm_rounds: u64,
    final_stop: bool,
    joining: u64,
    cut: u64,
    stats: Stats,
    trace: Option<(usize, VecDeque<String>)>,
}

impl Simulation {
    fn run(mut self) -> Result<Outcome, Failure> {
        match self.run_inner() {
            Ok(()) => {
                let rounds = self.completed_rounds();
                let stepper = &self.stepper;
                let trace_hash = stepper.trace_hash();
                let (steps, partial_writes) = (stepper.steps(), stepper.partial_writes());
                let waves = stepper.core().rounds().waves_sent();
                let mut stats = self.stats;
                stats.steps = steps;
                stats.partial_writes = partial_writes;
                stats.waves = waves;
                stats.rounds = rounds;
                stats.simulated_us = self.world.now.as_micros();
                Ok(Outcome {
                    seed: self.seed,
                    trace_hash,
                    stats,
                })
            }
            Err(violation) => Err(Failure {
                seed: self.seed,
                at: self.world.now,
                step: self.stepper.steps(),
                violation,
                plan: format!("{:?}", self.plan),
                trace: self.trace.map(|(_, t)| t.into()).unwrap_or_default(),
            }),
        }
    }

    fn run_inner(&mut self) -> Result<(), String> {
        self.schedule_world();
        loop {
            let stepper = &self.stepper;
            if stepper.core().is_finished() {
                return Ok(());
            }
            if stepper.steps() > MAX_STEPS {
                return Err(format!("no end after {MAX_STEPS} steps"));
            }
            self.check_progress()?;
            let next = [self.world.next_event(), self.stepper.core().poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else {
                return Err("stuck: nothing is scheduled, the conductor has no deadline and has not finished".to_string());
            };
            let mut now = self.world.now.max(next);
            if self.calm_since.is_none() && self.rng.chance(self.plan.jump_rate) {
                now = now + Duration::from_millis(self.rng.range(100, 10_000));
                self.stats.time_jumps += 1;
            }
            self.world.now = now;
            if self.stepper.core().poll_timeout().is_some_and(|t| t <= now) {
                self.feed(Input::Tick)?;
            }
            if let Some(event) = self.world.pop_due() {
                self.handle(event)?;
            }
        }
    }

    /// The clients of the fault phase, the operator's actions, and the calm.
    fn schedule_world(&mut self) {
        let calm_at = self.plan.calm_at;
        for _ in 0..self.plan.initial_clients {
            let at = Instant::from_micros(self.rng.below(20_000));
            self.world.schedule(at, Event::Connect { honest: false });
        }
        for _ in 0..self.plan.later_clients {
            let at = Instant::from_micros(self.rng.below(calm_at.as_micros()));
            self.world.schedule(at, Event::Connect { honest: false });
        }
        for (at, op) in self.plan.ops.clone() {
            self.world.schedule(at, Event::Op(op));
        }
        self.world.schedule(calm_at, Event::Calm);
    }

    /// Rounds that ended with every participant Done or removed.
    fn completed_rounds(&self) -> u64 {
        let rounds = self.stepper.core().rounds();
        rounds.waves_sent() - u64::from(rounds.round().is_some()) - self.cut
    }

    /// Once faults stop: the running round ends in time, enough honest clients are there, the
    /// goal of rounds is met and the final stop sent, and the conductor finishes in time.
    fn check_progress(&mut self) -> Result<(), String> {
        let Some(calm) = self.calm_since else {
            return Ok(());
        };
        let now = self.world.now;
        let config = &self.plan.config;
        let core = self.stepper.core();
        let ended = core.rounds().ended().is_some();
        if !ended {
            if let Some(round) = core.rounds().round() {
                let bound = Duration::from_micros(
                    30_000_000
                        + 2 * config.drop_after.as_micros()
                        + 2 * config.probe_after.as_micros(),
                );
                let since = round.started.max(calm);
                if now > since + bound {
                    return Err(format!(
                        "liveness: round {} has run {} since faults stopped (bound {bound}); it waits on {:?}",
                        round.step,
                        now - since,
                        core.status(now).waiting_on
                    ));
                }
            }
        }
        if now > calm + CALM_BOUND {
            return Err(format!(
                "liveness: the conductor has not finished {CALM_BOUND} after faults stopped"
            ));
        }
        if ended || self.final_stop {
            return Ok(());
        }
        if self.completed_rounds() >= self.calm_rounds + self.plan.calm_rounds {
            self.final_stop = true;
            let op = if self.rng.chance(500) {
                Op::Graceful
            } else {
                Op::Interrupt
            };
            self.world.schedule(now, Event::Op(op));
            return Ok(());
        }
        self.ensure_quorum();
        Ok(())
    }

    /// Connects honest clients until members and honest clients still joining reach
    /// `min_clients`.
    fn ensure_quorum(&mut self) {
        let core = self.stepper.core();
        let members = u64::from(core.member_count());
        let joining = core
            .connections()
            .filter(|c| !c.closing && !c.state.kind().is_joined())
            .filter(|c| {
                self.world
                    .by_core
                    .get(&c.conn)
                    .and_then(|id| self.world.links.get(id))
                    .is_some_and(|l| l.client.kind == Kind::Honest && !l.client.quiet)
            })
            .count() as u64;
        let need = u64::from(self.plan.config.rounds.min_clients);
        let have = members + joining + self.joining;
        for _ in have..need {
            self.joining += 1;
            self.world
                .schedule(self.world.now, Event::Connect { honest: true });
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), String> {
        match event {
            Event::ToConductor(id) => self.arrive_at_conductor(id),
            Event::ToClient(id) => self.arrive_at_client(id),
            Event::Client(id, generation, act) => {
                let calm = self.calm_since.is_some();
                let Some(link) = self.world.links.get_mut(&id) else {
                    return Ok(());
                };
                if link.client.generation != generation || (calm && matches!(act, Act::Fault(_))) {
                    return Ok(());
                }
                if let Act::Fault(fault) = act {
                    Stats::count(&mut self.stats.faults, &format!("{fault:?}"));
                }
                let effects = link.client.act(act, &mut self.rng);
                self.apply(id, effects)
            }
            Event::Connect { honest } => self.connect(honest),
            Event::Op(op) => {
                let input = match op {
                    Op::Graceful => Input::Stop(StopRequest::Graceful),
                    Op::Interrupt => Input::Stop(StopRequest::Interrupt),
                    Op::Fatal => Input::Fatal("the listening socket failed (simulated)".into()),
                    Op::Control(command) => return self.control(command),
                    Op::Exempt(duration) => {
                        let members: Vec<Id> = self
                            .stepper
                            .core()
                            .connections()
                            .filter_map(|c| c.client_id)
                            .collect();
                        let id = if members.is_empty() {
                            Id::new("nobody").unwrap_or_else(|_| unreachable!("a valid literal"))
                        } else {
                            members[self.rng.below(members.len() as u64) as usize]
                        };
                        return self.control(Command::Exempt { id, duration });
                    }
                    Op::Restart => Input::Stop(StopRequest::Restart),
                };
                self.feed(input)
            }
            Event::Calm => self.calm(),
        }
    }

    fn connect(&mut self, honest: bool) -> Result<(), String> {
        if honest {
            self.joining = self.joining.saturating_sub(1);
        }
        let id = self.next_link;
        self.next_link += 1;
        let name = format!("c{id}");
        let kind = if honest || !self.rng.chance(self.plan.fault_rate) {
            Kind::Honest
        } else {
            self.misbehaving_kind()
        };
        if kind != Kind::Honest {
            let label = match &kind {
                Kind::Duplicate(_) => "Duplicate".to_string(),
                other => format!("{other:?}"),
            };
            Stats::count(&mut self.stats.faults, &label);
        }
        let ip = if kind == Kind::Disallowed {
            IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
        } else {
            self.plan.home
        };
        let peer = SocketAddr::new(ip, 1024 + (id % 60_000) as u16);
        let mut client = Client::new(name, kind);
        let effects = client.connected(&mut self.rng);
        self.world.add_link(id, client);
        self.stats.clients += 1;
        self.world.accepting = Some(id);
        let now = self.world.now;
        let stepper = &mut self.stepper;
        let result = stepper.accept(now, peer, &mut self.world);
        self.world.accepting = None;
        self.after_step(|| format!("accept {peer}"), false, result.map(|_| ()))?;
        self.apply(id, effects)?;
        if !honest && self.calm_since.is_none() && self.rng.chance(self.plan.fault_rate) {
            for _ in 0..self.rng.range(1, 2) {
                let fault = self.rng.pick(&FAULTS);
                let left = self
                    .plan
                    .calm_at
                    .as_micros()
                    .saturating_sub(now.as_micros());
                let at = now + Duration::from_micros(self.rng.below(left + 1));
                self.world
                    .schedule(at, Event::Client(id, 0, Act::Fault(fault)));
            }
        }
        Ok(())
    }

    fn misbehaving_kind(&mut self) -> Kind {
        match self.rng.below(7) {
            0 => Kind::NoHello,
            1 => Kind::Slowloris,
            2 => Kind::BadVersion,
            3 => Kind::BlankId,
            4 => Kind::BadId,
            5 if !self.plan.config.allow.is_empty() => Kind::Disallowed,
            _ => {
                let names: Vec<&String> = self
                    .world
                    .links
                    .values()
                    .filter(|l| l.core.is_some())
                    .map(|l| &l.client.name)
                    .collect();
                if names.is_empty() {
                    Kind::NoHello
                } else {
                    let i = self.rng.below(names.len() as u64) as usize;
                    Kind::Duplicate(names[i].clone())
                }
            }
        }
    }

    /// Faults stop: clients behave, the network stops holding pieces up, and the operator
    /// lets go (resumes, clears the hold and every exemption; the pace stays).
    fn calm(&mut self) -> Result<(), String> {
        self.control(Command::Resume)?;
        self.control(Command::HoldAt(None))?;
        let exempt: Vec<Id> = self
            .stepper
            .core()
            .connections()
            .filter(|c| c.client_id.is_some())
            .filter_map(|c| c.client_id)
            .collect();
        for id in exempt {
            let duration = Duration::ZERO;
            self.control(Command::Exempt { id, duration })?;
        }
        self.calm_since = Some(self.world.now);
        self.calm_rounds = self.completed_rounds();
        self.world.spikes = false;
        let ids: Vec<LinkId> = self.world.links.keys().copied().collect();
        for id in ids {
            let Some(link) = self.world.links.get_mut(&id) else {
                continue;
            };
            let effects = link.client.calm(&mut self.rng);
            self.apply(id, effects)?;
            self.client_reads(id)?;
        }
        Ok(())
    }

    /// The oldest piece towards the conductor arrives (with, sometimes, the ones right behind
    /// it: one read may take several writes).
    fn arrive_at_conductor(&mut self, id: LinkId) -> Result<(), String> {
        let now = self.world.now;
        let Some(link) = self.world.links.get_mut(&id) else {
            return Ok(());
        };
        let Some(conn) = link.core else {
            link.up.clear();
            return Ok(());
        };
        if link.up.front().is_none_or(|(at, _)| *at > now) {
            return Ok(());
        }
        let mut bytes = match link.up.pop_front() {
            Some((_, Up::Data(bytes))) => bytes,
            Some((_, Up::Fin)) => {
                return self.feed(Input::Closed { conn });
            }
            None => return Ok(()),
        };
        while let Some((at, Up::Data(more))) = link.up.front() {
            if *at > now || !self.world.rng.chance(500) {
                break;
            }
            bytes.extend_from_slice(more);
            link.up.pop_front();
        }
        // The driver reads at most a queue's bound at a time and carries out the core's
        // outputs between reads, so a burst of requests is answered as it is read.
        let chunk = self.plan.config.max_queued_bytes.max(1);
        for piece in bytes.chunks(chunk) {
            self.feed(Input::Received { conn, bytes: piece })?;
        }
        Ok(())
    }

    /// Pieces towards the client arrive; a reading client reads them.
    fn arrive_at_client(&mut self, id: LinkId) -> Result<(), String> {
        let now = self.world.now;
        let Some(link) = self.world.links.get_mut(&id) else {
            return Ok(());
        };
        while link.down.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, piece)) = link.down.pop_front() {
                link.arrived.extend_from_slice(&piece);
            }
        }
        self.client_reads(id)
    }

    /// A reading client takes everything that arrived, reacts, and so frees socket space.
    fn client_reads(&mut self, id: LinkId) -> Result<(), String> {
        let Some(link) = self.world.links.get_mut(&id) else {
            return Ok(());
        };
        if !link.client.reading {
            return Ok(());
        }
        if link.conductor_closed && link.down.is_empty() && link.arrived.is_empty() {
            // End of the stream: nothing more can be sent.
            link.client.quiet = true;
        }
        if link.arrived.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut link.arrived);
        link.unread = link.unread.saturating_sub(bytes.len());
        let effects = link.client.receive(&bytes, &mut self.rng)?;
        let conn = link.core;
        self.apply(id, effects)?;
        if let Some(conn) = conn {
            self.writable(conn)?;
        }
        Ok(())
    }

    /// Carries out what a client wants.
    fn apply(&mut self, id: LinkId, effects: Vec<Effect>) -> Result<(), String> {
        for effect in effects {
            let Some(link) = self.world.links.get_mut(&id) else {
                return Ok(());
            };
            match effect {
                Effect::Send(bytes) => self.world.send_up(id, &bytes),
                Effect::Later(delay, act) => {
                    let generation = link.client.generation;
                    let at = self.world.now + delay;
                    self.world.schedule(at, Event::Client(id, generation, act));
                }
                Effect::Fin => self.world.fin_up(id),
                Effect::Flood => {
                    let room = link.room()
                        + link.core.map_or(0, |conn| {
                            self.plan
                                .config
                                .max_queued_bytes
                                .saturating_sub(self.stepper.core().pending(conn).len())
                        });
                    let pings = if self.rng.chance(500) {
                        room.saturating_sub(self.rng.below(12) as usize).max(1)
                    } else {
                        self.rng.range(50, 3_000) as usize
                    };
                    self.world.send_up(id, &vec![b'?'; pings]);
                }
                Effect::Reset => {
                    link.up.clear();
                    link.down.clear();
                    link.arrived.clear();
                    link.unread = 0;
                    link.client.reading = false;
                    if let Some(conn) = link.core {
                        self.feed(Input::Closed { conn })?;
                    }
                }
                Effect::Refused(reason) => {
                    let kind = REFUSALS
                        .iter()
                        .find(|prefix| reason.starts_with(*prefix))
                        .map_or("other", |p| p);
                    Stats::count(&mut self.stats.refusals, kind);
                }
            }
        }
        Ok(())
    }

    /// One input to the core, checked.
    fn feed(&mut self, input: Input<'_>) -> Result<(), String> {
        // Only an interrupt or a fatal error ends the conductor while a round runs; that round
        // is cut short rather than completed.
        let cuts = matches!(
            input,
            Input::Stop(StopRequest::Interrupt | StopRequest::Restart) | Input::Fatal(_)
        ) && self.stepper.core().rounds().round().is_some();
        let described = self.trace.as_ref().map(|_| format!("{input:?}"));
        let now = self.world.now;
        let stepper = &mut self.stepper;
        let result = stepper.input(now, input, &mut self.world);
        self.after_step(|| described.unwrap_or_default(), cuts, result)
    }

    /// An operator's command, checked.
    fn control(&mut self, command: Command) -> Result<(), String> {
        let now = self.world.now;
        let described = self.trace.as_ref().map(|_| format!("control {command:?}"));
        let stepper = &mut self.stepper;
        let result = stepper.control(now, command, &mut self.world);
        let result = result.map(|answer| {
            let name = match (command, answer) {
                (_, Err(_)) => "refused",
                (Command::Pause, _) => "pause",
                (Command::Resume, _) => "resume",
                (Command::Step(_), _) => "step",
                (Command::HoldAt(_), _) => "hold-at",
                (Command::Pace(_), _) => "pace",
                (Command::Exempt { .. }, _) => "exempt",
            };
            Stats::count(&mut self.stats.control, name);
        });
        self.after_step(|| described.unwrap_or_default(), false, result)
    }

    /// The socket of `conn` has room: the core writes more, checked.
    fn writable(&mut self, conn: ConnId) -> Result<(), String> {
        let now = self.world.now;
        let stepper = &mut self.stepper;
        let steps = stepper.steps();
        let result = stepper.writable(now, conn, &mut self.world);
        if self.stepper.steps() == steps {
            return result.map_err(|v| v.0);
        }
        self.after_step(|| format!("writable {conn}"), false, result)
    }

    /// After a step: the trace grows, the closes reach the network, an ending is counted.
    fn after_step(
        &mut self,
        describe: impl FnOnce() -> String,
        cuts: bool,
        result: Result<(), Violation>,
    ) -> Result<(), String> {
        let stepper = &self.stepper;
        let observed = stepper.observed().clone();
        if let Some((lines, trace)) = &mut self.trace {
            let mut line = format!("{} µs {}", self.world.now.as_micros(), describe());
            for (conn, bytes) in &observed.written {
                line.push_str(&format!(
                    " | {conn} <- {:?}",
                    String::from_utf8_lossy(bytes)
                ));
            }
            for conn in &observed.closed {
                line.push_str(&format!(" | close {conn}"));
            }
            if let Some(kind) = &observed.exit {
                line.push_str(&format!(" | exit {kind:?}"));
            }
            if trace.len() == *lines {
                trace.pop_front();
            }
            trace.push_back(line);
        }
        result.map_err(|v| v.0)?;
        for event in &observed.events {
            let name = match event {
                CoreEvent::Held { .. } => "held",
                CoreEvent::LateWave { .. } => "late wave",
                CoreEvent::StillPaused { .. } => "still paused",
                _ => continue,
            };
            Stats::count(&mut self.stats.control, name);
        }
        for conn in &observed.closed {
            self.world.conductor_closed(*conn);
        }
        if let Some(kind) = &observed.exit {
            let name = match kind {
                EndKind::Fatal(_) => "Fatal".to_string(),
                other => format!("{other:?}"),
            };
            Stats::count(&mut self.stats.ends, &name);
            if cuts {
                self.cut += 1;
            }
        }
        Ok(())
    }
}
