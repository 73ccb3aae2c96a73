//! Deterministic simulation of restarts (PROTOCOL.md "Surviving restarts"): the real core with
//! a state file, killed at random instants — between two steps, in the middle of writing a
//! record (a torn write), or by a planned restart (SIGUSR1) — and started again from what the
//! file holds, the way the `conductor` binary starts, against participants that reconnect.
//! Performs no I/O, reads no clock, starts no thread.
//!
//! A seed fixes the run (participants, all of which `min_clients` waits for; `rounds`;
//! `step_wrap`; the countdown), the instants and kinds of the deaths, how long each restart
//! takes, and the network (latency, writes split anywhere, and whether a dying conductor's last
//! bytes still arrive or are cut by a reset). Each participant is a
//! [`Participant`] state machine that runs a step's work when a Go arrives, finishes work that
//! was running when its connection was lost, and then reconnects with backoff as
//! [`Participant::reconnecting`] with the step it last completed.
//!
//! Besides the invariants the [`Stepper`] checks after every step of every lifetime, the run
//! must show: every participant runs each step at most once, and all of them (none ever stops)
//! every step of the run, in order, across all the conductor's lifetimes; the run reaches its
//! planned end having sent exactly `rounds` waves; and the state file then says the run has
//! finished, so that the next conductor would begin at step 0.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::core::{ConnId, CoreConfig, Input, StopRequest};
use crate::participant::{Event as Heard, Participant};
use crate::record::{self, Record, SLOT_LEN};
use crate::round::{EndKind, RoundConfig};
use crate::time::{Duration, Instant};
use crate::wire::Id;

use super::rng::Rng;
use super::stepper::{Sockets, Stepper};
use super::Failure;

/// A safety net against a run that never ends.
const MAX_STEPS: u64 = 2_000_000;
/// The longest a participant waits between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_millis(1_000);

/// How a conductor's lifetime ends before the run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Death {
    /// SIGKILL between two steps: whatever the sockets hold may or may not arrive.
    Kill,
    /// Killed while writing its next record: only part of the slot reaches the file.
    TornWrite,
    /// SIGUSR1: every connection closed without a word, then exit.
    Restart,
}

/// What one seed fixes.
#[derive(Clone, Debug)]
pub struct RestartPlan {
    /// The conductor's settings (persisting, probes and drops off).
    pub config: CoreConfig,
    /// Participants; `min_clients` waits for all of them.
    pub participants: usize,
    /// When each death comes (skipped while the conductor is down), in order.
    pub deaths: Vec<(Instant, Death)>,
}

impl RestartPlan {
    fn new(rng: &mut Rng) -> RestartPlan {
        let participants = rng.range(1, 5) as usize;
        let rounds = rng.range(1, 40);
        let mut config =
            CoreConfig::new(Id::new("conductor").unwrap_or_else(|_| unreachable!("valid")));
        config.rounds = RoundConfig {
            min_clients: participants as u32,
            rounds,
            // Small wraps repeat step numbers often; a repeated Go must still be told apart
            // from the next wave (PROTOCOL.md: a state file needs a step_wrap of 2 or more).
            step_wrap: rng.pick(&[2, 3, 5, 1 << 32]),
            shutdown_countdown: rng.range(0, 3) as u32,
            slow_round: Duration::ZERO,
            ..RoundConfig::default()
        };
        config.max_clients = participants as u32;
        config.hello_timeout = Duration::ZERO;
        config.probe_after = Duration::ZERO;
        config.drop_after = Duration::ZERO;
        config.status_interval = None;
        config.persist = true;
        let horizon = rounds * 15_000 + 100_000;
        let mut deaths: Vec<(Instant, Death)> = (0..rng.range(0, 4))
            .map(|_| {
                let at = Instant::from_micros(rng.below(horizon));
                let death = rng.pick(&[Death::Kill, Death::Kill, Death::TornWrite, Death::Restart]);
                (at, death)
            })
            .collect();
        deaths.sort_by_key(|(at, _)| *at);
        RestartPlan {
            config,
            participants,
            deaths,
        }
    }
}

/// Counts of what a restart simulation did, summed over seeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestartStats {
    /// Seeds run.
    pub seeds: u64,
    /// Lifetimes of the conductor.
    pub lifetimes: u64,
    /// Deaths, by kind.
    pub kills: u64,
    /// Deaths while writing a record whose write was cut short.
    pub torn_writes: u64,
    /// Planned restarts.
    pub restarts: u64,
    /// Lifetimes that resumed from a record.
    pub resumed: u64,
    /// Go messages answered at once as repeats.
    pub repeats: u64,
    /// Steps the participants ran.
    pub steps_run: u64,
    /// Connections lost and made again.
    pub reconnections: u64,
}

impl RestartStats {
    /// Adds another run's counts.
    pub fn add(&mut self, other: &RestartStats) {
        self.seeds += other.seeds;
        self.lifetimes += other.lifetimes;
        self.kills += other.kills;
        self.torn_writes += other.torn_writes;
        self.restarts += other.restarts;
        self.resumed += other.resumed;
        self.repeats += other.repeats;
        self.steps_run += other.steps_run;
        self.reconnections += other.reconnections;
    }
}

/// Something due at a time.
#[derive(Clone, Debug)]
enum Due {
    /// Bytes reach a participant over its connection number `link`.
    Down {
        peer: usize,
        link: u64,
        bytes: Vec<u8>,
    },
    /// The end of the stream reaches a participant.
    DownEnd { peer: usize, link: u64 },
    /// Bytes reach the conductor of lifetime `life`.
    Up {
        peer: usize,
        link: u64,
        life: u64,
        bytes: Vec<u8>,
    },
    /// The participant closed its side.
    UpEnd { peer: usize, link: u64, life: u64 },
    /// A participant's work on a step is finished.
    WorkDone { peer: usize, step: u32 },
    /// A participant tries to connect.
    Connect { peer: usize },
    /// The conductor's process starts.
    Start,
    /// The conductor dies, if it is up.
    Death(Death),
}

/// One participant, across all its connections.
#[derive(Debug)]
struct Peer {
    id: Id,
    session: Option<Participant>,
    conn: Option<ConnId>,
    /// Numbers its connections; what is in flight on an older one is void.
    link: u64,
    down_last: Instant,
    up_last: Instant,
    /// The step whose work is running.
    working: Option<u32>,
    /// The step completed last, across sessions.
    last_done: Option<u32>,
    /// Every step whose work ran, across every connection and lifetime.
    ran: Vec<u32>,
    /// The conductor said goodbye (`X`): the run is over for it.
    finished: bool,
    backoff: Duration,
}

/// Everything outside the core: the network, the participants, the state file, the clock.
struct Net {
    now: Instant,
    rng: Rng,
    due: BTreeMap<(Instant, u64), Due>,
    seq: u64,
    peers: Vec<Peer>,
    by_conn: BTreeMap<ConnId, usize>,
    accepting: Option<usize>,
    /// The lifetime the core belongs to.
    life: u64,
    /// The state file's bytes; empty before it is created.
    file: Vec<u8>,
    /// The sequence number of the last write to the file.
    file_seq: u64,
    /// The next record's write is cut short: the process dies in it.
    tear_next: bool,
    torn: u64,
}

impl Net {
    fn schedule(&mut self, at: Instant, due: Due) {
        self.seq += 1;
        self.due.insert((at, self.seq), due);
    }

    /// When bytes sent now on a connection arrive: latency, in order within the direction.
    fn arrival(&mut self, peer: usize, down: bool) -> Instant {
        let latency = Duration::from_micros(self.rng.range(0, 3_000));
        let now = self.now;
        let p = &mut self.peers[peer];
        let last = if down {
            &mut p.down_last
        } else {
            &mut p.up_last
        };
        let at = (now + latency).max(*last);
        *last = at;
        at
    }

    /// A participant sends bytes: in pieces, each arriving in order.
    fn send_up(&mut self, peer: usize, bytes: Vec<u8>) {
        let (link, life) = (self.peers[peer].link, self.life);
        self.send_in_pieces(peer, false, &bytes, |bytes| Due::Up {
            peer,
            link,
            life,
            bytes,
        });
    }

    /// Schedules `bytes` in random pieces on the peer's link (towards it when `down`), each
    /// arriving in order as the event `due` makes of it.
    fn send_in_pieces(
        &mut self,
        peer: usize,
        down: bool,
        bytes: &[u8],
        due: impl Fn(Vec<u8>) -> Due,
    ) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = self.rng.range(1, rest.len() as u64) as usize;
            let at = self.arrival(peer, down);
            self.schedule(at, due(rest[..take].to_vec()));
            rest = &rest[take..];
        }
    }
}

impl Sockets for Net {
    fn opened(&mut self, conn: ConnId) {
        if let Some(peer) = self.accepting.take() {
            self.by_conn.insert(conn, peer);
            self.peers[peer].conn = Some(conn);
        }
    }

    fn write(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        let Some(&peer) = self.by_conn.get(&conn) else {
            return bytes.len();
        };
        let link = self.peers[peer].link;
        self.send_in_pieces(peer, true, bytes, |bytes| Due::Down { peer, link, bytes });
        bytes.len()
    }

    fn persist(&mut self, record: &Record) -> bool {
        self.file_seq += 1;
        let slot = record.encode(self.file_seq);
        let at = Record::offset(self.file_seq);
        if !self.tear_next {
            self.file[at..at + SLOT_LEN].copy_from_slice(&slot);
            return true;
        }
        // The process dies in the write: some run of the slot's bytes reached the file, the
        // rest is what was there (or, now and then, the whole slot did).
        self.tear_next = false;
        self.torn += 1;
        let start = self.rng.below(SLOT_LEN as u64) as usize;
        let end = self.rng.range(start as u64, SLOT_LEN as u64) as usize;
        self.file[at + start..at + end].copy_from_slice(&slot[start..end]);
        false
    }
}

/// A finished restart simulation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestartOutcome {
    /// The seed.
    pub seed: u64,
    /// What happened.
    pub stats: RestartStats,
}

/// Runs one seed of the restart simulation.
pub fn run_restarts(seed: u64) -> Result<RestartOutcome, Failure> {
    let mut rng = Rng::new(seed);
    let plan = RestartPlan::new(&mut rng.fork());
    let peers = (0..plan.participants)
        .map(|i| Peer {
            id: Id::new(&format!("p{i}")).unwrap_or_else(|_| unreachable!("a short id")),
            session: None,
            conn: None,
            link: 0,
            down_last: Instant::ZERO,
            up_last: Instant::ZERO,
            working: None,
            last_done: None,
            ran: Vec::new(),
            finished: false,
            backoff: Duration::from_millis(10),
        })
        .collect();
    let mut sim = RestartSim {
        plan,
        rng: rng.fork(),
        net: Net {
            now: Instant::ZERO,
            rng: rng.fork(),
            due: BTreeMap::new(),
            seq: 0,
            peers,
            by_conn: BTreeMap::new(),
            accepting: None,
            life: 0,
            file: Vec::new(),
            file_seq: 0,
            tear_next: false,
            torn: 0,
        },
        conductor: None,
        ended: false,
        steps: 0,
        stats: RestartStats {
            seeds: 1,
            ..RestartStats::default()
        },
    };
    match sim.run() {
        Ok(()) => {
            let mut stats = sim.stats;
            stats.torn_writes = sim.net.torn;
            Ok(RestartOutcome { seed, stats })
        }
        Err(violation) => Err(Failure {
            seed,
            at: sim.net.now,
            step: sim.steps,
            violation,
            plan: format!("{:?}", sim.plan),
            trace: Vec::new(),
        }),
    }
}

/// One seeded run.
struct RestartSim {
    plan: RestartPlan,
    rng: Rng,
    net: Net,
    /// The core of the running lifetime; `None` while the conductor is down.
    conductor: Option<Stepper>,
    /// The planned end came.
    ended: bool,
    steps: u64,
    stats: RestartStats,
}

impl RestartSim {
    fn run(&mut self) -> Result<(), String> {
        self.net.schedule(Instant::ZERO, Due::Start);
        for (at, death) in self.plan.deaths.clone() {
            self.net.schedule(at, Due::Death(death));
        }
        for peer in 0..self.plan.participants {
            let at = Instant::from_micros(self.rng.below(50_000));
            self.net.schedule(at, Due::Connect { peer });
        }
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(format!("no end after {MAX_STEPS} steps"));
            }
            let timeout = self
                .conductor
                .as_ref()
                .and_then(|s| s.core().poll_timeout());
            let next = self.net.due.keys().next().map(|(at, _)| *at);
            let Some(at) = [timeout, next].into_iter().flatten().min() else {
                break;
            };
            self.net.now = self.net.now.max(at);
            if timeout.is_some_and(|t| t <= self.net.now) {
                self.feed(Input::Tick)?;
                continue;
            }
            if let Some(((_, _), due)) = self.net.due.pop_first() {
                self.handle(due)?;
            }
        }
        self.check_the_end()
    }

    /// What must hold once nothing is left to happen.
    fn check_the_end(&self) -> Result<(), String> {
        let rounds = self.plan.config.rounds.rounds;
        let wrap = self.plan.config.rounds.step_wrap;
        if !self.ended {
            return Err("the run never reached its planned end".into());
        }
        let expected: Vec<u32> = (1..=rounds)
            .map(|w| Record::step_of_wave(w, wrap))
            .collect();
        for p in &self.net.peers {
            if !p.finished {
                return Err(format!("{} never heard the conductor's goodbye", p.id));
            }
            if p.ran != expected {
                return Err(format!(
                    "{} ran steps {:?}, the run's steps are {expected:?}",
                    p.id, p.ran
                ));
            }
        }
        match record::read(&self.net.file) {
            Ok(Some((r, _))) if r.finished && r.waves_sent == rounds => Ok(()),
            other => Err(format!(
                "after the planned end the state file holds {other:?}, not the finished run"
            )),
        }
    }

    fn handle(&mut self, due: Due) -> Result<(), String> {
        match due {
            Due::Start => self.start(),
            Due::Death(death) => self.die(death),
            Due::Connect { peer } => self.connect(peer),
            Due::Up {
                peer,
                link,
                life,
                bytes,
            } => {
                let Some(conn) = self.live_conn(peer, link, life) else {
                    return Ok(());
                };
                self.feed(Input::Received {
                    conn,
                    bytes: &bytes,
                })
            }
            Due::UpEnd { peer, link, life } => {
                let Some(conn) = self.live_conn(peer, link, life) else {
                    return Ok(());
                };
                self.feed(Input::Closed { conn })
            }
            Due::Down { peer, link, bytes } => self.arrive(peer, link, &bytes),
            Due::DownEnd { peer, link } => self.lost(peer, link),
            Due::WorkDone { peer, step } => self.work_done(peer, step),
        }
    }

    /// The core's connection of `peer`'s connection `link`, if it belongs to the running
    /// lifetime `life`.
    fn live_conn(&self, peer: usize, link: u64, life: u64) -> Option<ConnId> {
        let p = &self.net.peers[peer];
        let up = self.conductor.is_some() && life == self.net.life;
        (up && p.link == link).then_some(p.conn).flatten()
    }

    /// The conductor starts, as the binary does: it reads the state file and resumes from its
    /// newest whole record, or creates the file and starts at step 0.
    fn start(&mut self) -> Result<(), String> {
        if self.ended || self.conductor.is_some() {
            return Ok(());
        }
        let mut config = self.plan.config.clone();
        let found = record::read(&self.net.file)
            .map_err(|e| format!("lifetime {}: the state file is {e}", self.net.life + 1))?;
        let resume = match found {
            Some((r, seq)) => {
                self.net.file_seq = seq;
                r.resume_point(&config.rounds)
                    .map_err(|e| format!("the state file: {e}"))?
            }
            None => None,
        };
        if resume.is_none() {
            self.net.file = Record::start(&config.rounds).new_file();
            self.net.file_seq = 0;
        } else {
            self.stats.resumed += 1;
        }
        config.resume = resume;
        self.net.life += 1;
        self.stats.lifetimes += 1;
        let stepper = Stepper::new(config, self.net.now).map_err(|v| v.0)?;
        self.conductor = Some(stepper);
        Ok(())
    }

    fn die(&mut self, death: Death) -> Result<(), String> {
        if self.conductor.is_none() {
            return Ok(());
        }
        match death {
            Death::Kill => {
                self.stats.kills += 1;
                self.kill();
                Ok(())
            }
            Death::TornWrite => {
                self.net.tear_next = true;
                Ok(())
            }
            Death::Restart => {
                self.stats.restarts += 1;
                self.feed(Input::Stop(StopRequest::Restart))
            }
        }
    }

    /// The process is gone: every connection ends, after what was in flight or cut short by
    /// a reset; the conductor starts again a little later.
    fn kill(&mut self) {
        self.conductor = None;
        self.net.tear_next = false;
        let conns: Vec<(ConnId, usize)> =
            std::mem::take(&mut self.net.by_conn).into_iter().collect();
        for (_, peer) in conns {
            let reset = self.rng.chance(300);
            self.end_stream(peer, reset);
        }
        let delay = Duration::from_micros(self.rng.range(0, 1_500_000));
        let at = self.net.now + delay;
        self.net.schedule(at, Due::Start);
    }

    /// `peer`'s connection ends: after the bytes in flight, or, with a reset, at once and
    /// without them.
    fn end_stream(&mut self, peer: usize, reset: bool) {
        let now = self.net.now;
        let p = &mut self.net.peers[peer];
        p.conn = None;
        if reset {
            p.link += 1;
            p.down_last = now;
        }
        let (link, at) = (p.link, p.down_last.max(now));
        self.net.schedule(at, Due::DownEnd { peer, link });
    }

    /// One input to the running core, checked; then what it closed and how it ended.
    fn feed(&mut self, input: Input<'_>) -> Result<(), String> {
        let Some(stepper) = self.conductor.as_mut() else {
            return Ok(());
        };
        stepper
            .input(self.net.now, input, &mut self.net)
            .map_err(|v| format!("lifetime {}: {v}", self.net.life))?;
        self.after_step()
    }

    fn after_step(&mut self) -> Result<(), String> {
        let Some(stepper) = self.conductor.as_ref() else {
            return Ok(());
        };
        if stepper.is_dead() {
            self.stats.kills += 1;
            self.kill();
            return Ok(());
        }
        let observed = stepper.observed().clone();
        let waves = stepper.core().rounds().waves_sent();
        for conn in observed.closed {
            if let Some(peer) = self.net.by_conn.remove(&conn) {
                self.end_stream(peer, false);
            }
        }
        match observed.exit {
            Some(EndKind::Planned) => {
                let rounds = self.plan.config.rounds.rounds;
                if waves != rounds {
                    return Err(format!(
                        "the planned end came after {waves} waves, not {rounds}"
                    ));
                }
                self.ended = true;
                self.conductor = None;
            }
            Some(EndKind::Restart) => {
                self.conductor = None;
                let delay = Duration::from_micros(self.rng.range(0, 1_500_000));
                let at = self.net.now + delay;
                self.net.schedule(at, Due::Start);
            }
            Some(other) => return Err(format!("the conductor ended with {other:?}")),
            None => {}
        }
        Ok(())
    }

    /// A participant tries to connect: refused while the conductor is down (it tries again
    /// after a backoff), otherwise a new session that continues the earlier ones.
    fn connect(&mut self, peer: usize) -> Result<(), String> {
        let p = &mut self.net.peers[peer];
        if p.finished || p.session.as_ref().is_some_and(|s| !s.is_ended()) {
            return Ok(());
        }
        if self.ended {
            // The run is over: nobody answers any more.
            return Ok(());
        }
        if self.conductor.is_none() {
            let retry = p.backoff;
            p.backoff = Duration::from_micros(p.backoff.as_micros() * 2).min(MAX_BACKOFF);
            let at = self.net.now + retry;
            self.net.schedule(at, Due::Connect { peer });
            return Ok(());
        }
        p.link += 1;
        if p.session.is_some() {
            self.stats.reconnections += 1;
        }
        let mut session = Participant::reconnecting(p.id, p.last_done);
        let hello = session.take_pending();
        p.session = Some(session);
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1000 + peer as u16);
        self.net.accepting = Some(peer);
        let now = self.net.now;
        if let Some(stepper) = self.conductor.as_mut() {
            stepper
                .accept(now, addr, &mut self.net)
                .map_err(|v| format!("lifetime {}: {v}", self.net.life))?;
        }
        self.after_step()?;
        self.net.send_up(peer, hello);
        Ok(())
    }

    /// Bytes reach a participant: its machine reads them, it reacts.
    fn arrive(&mut self, peer: usize, link: u64, bytes: &[u8]) -> Result<(), String> {
        let wrap = self.plan.config.rounds.step_wrap;
        let net = &mut self.net;
        let p = &mut net.peers[peer];
        if p.link != link {
            return Ok(());
        }
        let Some(session) = p.session.as_mut() else {
            return Ok(());
        };
        session
            .handle(bytes)
            .map_err(|e| format!("{}: {e}", p.id))?;
        let mut work = None;
        while let Some(event) = session.poll_event() {
            match event {
                Heard::Hello(_) => p.backoff = Duration::from_millis(10),
                Heard::Go(step) => {
                    let expected = Record::step_of_wave(p.ran.len() as u64 + 1, wrap);
                    if step != expected {
                        return Err(format!(
                            "{} was made to run step {step} after {:?}; the next step is \
                             {expected}",
                            p.id, p.ran
                        ));
                    }
                    p.ran.push(step);
                    p.working = Some(step);
                    self.stats.steps_run += 1;
                    if net.rng.chance(500) {
                        let _ = session.ack();
                    }
                    work = Some(step);
                }
                Heard::Repeated(step) => {
                    self.stats.repeats += 1;
                    if p.ran.last() != Some(&step) {
                        return Err(format!(
                            "{} took Go {step} for a repeat, but the step it ran last is {:?}",
                            p.id,
                            p.ran.last()
                        ));
                    }
                }
                Heard::Exit => p.finished = true,
                Heard::Refused(reason) => return Err(format!("{} was refused: {reason}", p.id)),
                Heard::Probed
                | Heard::Here
                | Heard::Slow
                | Heard::ShuttingDown(_)
                | Heard::Cease
                | Heard::ErrorShutdown => {}
            }
        }
        let out = session.take_pending();
        let finished = p.finished;
        if !out.is_empty() {
            net.send_up(peer, out);
        }
        if let Some(step) = work {
            let at = net.now + Duration::from_micros(net.rng.range(0, 20_000));
            net.schedule(at, Due::WorkDone { peer, step });
        }
        if finished {
            // It closes its side after the conductor's goodbye.
            let (link, life) = (net.peers[peer].link, net.life);
            let at = net.arrival(peer, false);
            net.schedule(at, Due::UpEnd { peer, link, life });
        }
        Ok(())
    }

    /// A participant's connection ended: the run's end after `X`, otherwise an outage that
    /// it waits out (finishing the step's work first) and then reconnects.
    fn lost(&mut self, peer: usize, link: u64) -> Result<(), String> {
        let net = &mut self.net;
        let p = &mut net.peers[peer];
        if p.link != link {
            return Ok(());
        }
        let Some(session) = p.session.as_mut() else {
            return Ok(());
        };
        session.closed();
        if p.finished {
            return Ok(());
        }
        p.last_done = session.last_done();
        if p.working.is_none() {
            let at = net.now + p.backoff;
            net.schedule(at, Due::Connect { peer });
        }
        Ok(())
    }

    /// A step's work is finished: Done on the connection it came on, if that is still there;
    /// otherwise the step counts as completed for the next session, which is made now.
    fn work_done(&mut self, peer: usize, step: u32) -> Result<(), String> {
        let net = &mut self.net;
        let p = &mut net.peers[peer];
        p.working = None;
        let alive = p
            .session
            .as_ref()
            .is_some_and(|s| !s.is_ended() && s.step() == Some(step));
        if alive {
            let session = p
                .session
                .as_mut()
                .unwrap_or_else(|| unreachable!("checked"));
            session.done().map_err(|e| format!("{}: {e}", p.id))?;
            let out = session.take_pending();
            net.send_up(peer, out);
            return Ok(());
        }
        p.last_done = Some(step);
        let at = net.now + p.backoff;
        net.schedule(at, Due::Connect { peer });
        Ok(())
    }
}
