//! A tree of conductors in one deterministic world: a root core, relays (each a core and its
//! [`Relay`]) and participants (each a [`Participant`] machine), joined by in-order links
//! whose packets are delivered one action at a time. The same [`Tree`] serves the seeded
//! simulation ([`simulate`]: random actions, time jumps, participants that leave, relays that
//! die and relays whose upstream is cut and that reconnect, then calm) and the model checker
//! (which tries every [`Action`] but cuts from every state).
//! Performs no I/O.
//!
//! After every action the whole tree's invariants are checked, besides each core's own
//! ([`check_state`]): it is one barrier (no participant anywhere receives a Go while another
//! participant still works on an earlier step, unless that one has been removed: it left, or
//! its relay died or was cut off from the root), and each participant's steps go up by one
//! modulo `step_wrap` (after its relay was cut off it may miss steps; it must still hear the
//! end).

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::core::{Conductor, ConnId, CoreConfig, Input, Output};
use crate::invariants::check_state;
use crate::participant::{Event as LeafEvent, Participant, State as LeafState};
use crate::relay::{Relay, RelayConfig, UpInput, UpOutput};
use crate::round::EndKind;
use crate::time::{Duration, Instant};
use crate::wire::Id;

use super::Rng;

/// A node of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Node {
    /// The root conductor.
    Root,
    /// Relay number i.
    Relay(usize),
    /// Participant number i.
    Leaf(usize),
}

/// What travels on a link.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Packet {
    Bytes(Vec<u8>),
    /// The sender closed the connection.
    Eof,
}

/// One step of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The oldest packet on the link from the first node to the second arrives.
    Deliver(Node, Node),
    /// Participant i finishes its step: Done.
    Work(usize),
    /// Participant i closes its connection (a fault).
    Leave(usize),
    /// Relay i dies: every connection it has ends (a fault).
    Kill(usize),
    /// Relay i's upstream connection breaks while the relay lives (a fault): the root sees
    /// the end at once and what was on its way up is lost; the relay sees it once what was on
    /// its way down has arrived, and reconnects.
    Cut(usize),
    /// Time jumps to the next deadline of any node.
    Tick,
}

/// A relay node.
#[derive(Clone, Debug)]
struct RelayNode {
    core: Conductor,
    relay: Relay,
    /// Its connection as the root knows it.
    up: Option<ConnId>,
    alive: bool,
    /// Its upstream connection has been closed (on its way out, or cut).
    up_closed: bool,
    /// Its upstream was cut and it has not connected again since.
    was_cut: bool,
}

/// A participant.
#[derive(Clone, Debug)]
struct Leaf {
    parent: Node,
    /// Its connection as its parent's core knows it, until the core closes it.
    conn: Option<ConnId>,
    /// Its own end of the connection is open.
    open: bool,
    session: Participant,
    /// Counts for the barrier: connected, and neither left nor cut off with its relay.
    counted: bool,
    /// The steps it received, in order.
    steps: Vec<u32>,
    /// Its relay's upstream was cut: the root went on without that subtree, so from then on it
    /// is out of the barrier checks and may miss steps; it must still hear the end.
    cut_off: bool,
    /// It received `C` (or `E`) and `X`.
    said_goodbye: bool,
}

/// The shape and settings of a tree.
#[derive(Clone, Debug)]
pub struct Shape {
    /// For each relay, how many participants it has.
    pub relays: Vec<usize>,
    /// Participants on the root itself.
    pub on_root: usize,
    /// The root's `min_clients`.
    pub root_min: u32,
    /// Each relay's `min_clients`.
    pub relay_min: u32,
    /// The root's `rounds`.
    pub rounds: u64,
    /// The root's `step_wrap`.
    pub step_wrap: u64,
}

/// The world. See the module docs.
#[derive(Clone, Debug)]
pub struct Tree {
    /// The virtual clock.
    pub now: Instant,
    root: Conductor,
    relays: Vec<RelayNode>,
    leaves: Vec<Leaf>,
    links: BTreeMap<(Node, Node), VecDeque<Packet>>,
    /// The root's connections: who is at the other end.
    root_conns: BTreeMap<ConnId, Node>,
    /// How the root ended.
    pub root_exit: Option<EndKind>,
    step_wrap: u64,
    /// Relay upstreams cut so far.
    pub cuts: u64,
    /// Relays that connected to the root again after a cut.
    pub reconnected_after_cut: u64,
}

fn id(name: &str) -> Id {
    Id::new(name).unwrap_or_else(|_| unreachable!("the tree's names are valid ids"))
}

fn peer(n: usize) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000 + n as u16)
}

/// A core with every timer off: the tree moves by its actions alone (and `Tick`s for the
/// relays' retries).
fn quiet(name: &str, min: u32, rounds: u64, step_wrap: u64) -> CoreConfig {
    let mut config = CoreConfig::new(id(name));
    config.rounds.min_clients = min;
    config.rounds.rounds = rounds;
    config.rounds.step_wrap = step_wrap;
    config.rounds.slow_round = Duration::ZERO;
    config.hello_timeout = Duration::ZERO;
    config.probe_after = Duration::ZERO;
    config.drop_after = Duration::ZERO;
    config.status_interval = None;
    config
}

impl Tree {
    /// Every participant connected (hellos queued), relays waiting for their quorum.
    pub fn new(shape: &Shape) -> Tree {
        let now = Instant::ZERO;
        let root = Conductor::new(
            quiet("root", shape.root_min, shape.rounds, shape.step_wrap),
            now,
        );
        let mut tree = Tree {
            now,
            root,
            relays: Vec::new(),
            leaves: Vec::new(),
            links: BTreeMap::new(),
            root_conns: BTreeMap::new(),
            root_exit: None,
            step_wrap: shape.step_wrap,
            cuts: 0,
            reconnected_after_cut: 0,
        };
        for (r, &n) in shape.relays.iter().enumerate() {
            let mut core = Conductor::new(quiet(&format!("relay-{r}"), shape.relay_min, 0, 1), now);
            let mut config = RelayConfig::new(id(&format!("relay-{r}")));
            config.heartbeat = Duration::ZERO;
            let relay = Relay::new(config, &mut core);
            tree.relays.push(RelayNode {
                core,
                relay,
                up: None,
                alive: true,
                up_closed: false,
                was_cut: false,
            });
            for _ in 0..n {
                tree.add_leaf(Node::Relay(r));
            }
        }
        for _ in 0..shape.on_root {
            tree.add_leaf(Node::Root);
        }
        tree.pump();
        tree
    }

    fn add_leaf(&mut self, parent: Node) {
        let i = self.leaves.len();
        let conn = match parent {
            Node::Relay(r) => self.relays[r].core.accept(self.now, peer(i)),
            _ => {
                let conn = self.root.accept(self.now, peer(i));
                self.root_conns.insert(conn, Node::Leaf(i));
                conn
            }
        };
        self.leaves.push(Leaf {
            parent,
            conn: Some(conn),
            open: true,
            session: Participant::new(id(&format!("leaf-{i}"))),
            counted: true,
            steps: Vec::new(),
            cut_off: false,
            said_goodbye: false,
        });
    }

    /// Every action possible now; `faults` adds leaving, relay deaths and cut upstreams.
    pub fn actions(&self, faults: bool) -> Vec<Action> {
        let mut actions: Vec<Action> = self
            .links
            .iter()
            .filter(|(_, q)| !q.is_empty())
            .map(|(&(from, to), _)| Action::Deliver(from, to))
            .collect();
        for (i, leaf) in self.leaves.iter().enumerate() {
            if leaf.open && leaf.session.step().is_some() {
                actions.push(Action::Work(i));
            }
            if faults && leaf.open && !leaf.session.is_ended() {
                actions.push(Action::Leave(i));
            }
        }
        if faults {
            for (r, node) in self.relays.iter().enumerate() {
                if node.alive && !node.relay.is_over() {
                    actions.push(Action::Kill(r));
                    if node.up.is_some() && !node.up_closed {
                        actions.push(Action::Cut(r));
                    }
                }
            }
        }
        if self.next_deadline().is_some() {
            actions.push(Action::Tick);
        }
        actions
    }

    fn next_deadline(&self) -> Option<Instant> {
        let relays = self
            .relays
            .iter()
            .filter(|n| n.alive)
            .flat_map(|n| [n.core.poll_timeout(), n.relay.poll_timeout()]);
        relays.chain([self.root.poll_timeout()]).flatten().min()
    }

    /// Carries out one action, then checks every invariant.
    pub fn apply(&mut self, action: Action) -> Result<(), String> {
        match action {
            Action::Deliver(from, to) => {
                let packet = self
                    .links
                    .get_mut(&(from, to))
                    .and_then(VecDeque::pop_front);
                if let Some(packet) = packet {
                    self.deliver(from, to, packet)?;
                }
            }
            Action::Work(i) => {
                let leaf = &mut self.leaves[i];
                if leaf.session.done().is_ok() {
                    self.send_up(i);
                }
            }
            Action::Leave(i) => {
                let leaf = &mut self.leaves[i];
                leaf.counted = false;
                let _ = leaf.session.closed();
                if std::mem::take(&mut leaf.open) {
                    let parent = leaf.parent;
                    self.push(Node::Leaf(i), parent, Packet::Eof);
                }
            }
            Action::Kill(r) => self.kill(r),
            Action::Cut(r) => self.cut(r),
            Action::Tick => {
                if let Some(t) = self.next_deadline() {
                    self.now = self.now.max(t);
                }
                self.tick();
            }
        }
        self.pump();
        self.check()
    }

    /// Moves the clock by `by` and lets every node see the time.
    pub fn advance(&mut self, by: Duration) -> Result<(), String> {
        self.now = self.now + by;
        self.tick();
        self.pump();
        self.check()
    }

    fn tick(&mut self) {
        let now = self.now;
        self.root.handle_input(now, Input::Tick);
        for node in self.relays.iter_mut().filter(|n| n.alive) {
            node.core.handle_input(now, Input::Tick);
            node.relay.handle(&mut node.core, now, UpInput::Tick);
        }
    }

    /// A relay dies: its links vanish, everyone it was connected to sees the end.
    fn kill(&mut self, r: usize) {
        let node = &mut self.relays[r];
        node.alive = false;
        let me = Node::Relay(r);
        self.links.retain(|&(from, to), _| from != me && to != me);
        if node.up.is_some() && !node.up_closed {
            node.up_closed = true;
            self.push(me, Node::Root, Packet::Eof);
        }
        for i in 0..self.leaves.len() {
            let leaf = &mut self.leaves[i];
            if leaf.parent == me && leaf.conn.take().is_some() {
                leaf.counted = false;
                if leaf.open {
                    self.push(me, Node::Leaf(i), Packet::Eof);
                }
            }
        }
    }

    /// Relay `r`'s upstream connection breaks; see [`Action::Cut`].
    fn cut(&mut self, r: usize) {
        let me = Node::Relay(r);
        let node = &mut self.relays[r];
        let Some(conn) = node.up.take() else { return };
        if std::mem::replace(&mut node.up_closed, true) {
            return;
        }
        self.cuts += 1;
        node.was_cut = true;
        self.links.remove(&(me, Node::Root));
        if self.root_conns.remove(&conn).is_some() {
            self.root.handle_input(self.now, Input::Closed { conn });
        }
        self.push(Node::Root, me, Packet::Eof);
        for leaf in self.leaves.iter_mut().filter(|l| l.parent == me) {
            leaf.counted = false;
            leaf.cut_off = true;
        }
    }

    fn push(&mut self, from: Node, to: Node, packet: Packet) {
        self.links.entry((from, to)).or_default().push_back(packet);
    }

    fn send_up(&mut self, i: usize) {
        let leaf = &mut self.leaves[i];
        let bytes = leaf.session.take_pending();
        if leaf.open && !bytes.is_empty() {
            let parent = leaf.parent;
            self.push(Node::Leaf(i), parent, Packet::Bytes(bytes));
        }
    }

    fn deliver(&mut self, from: Node, to: Node, packet: Packet) -> Result<(), String> {
        let now = self.now;
        match to {
            Node::Root => {
                let conn = self
                    .root_conns
                    .iter()
                    .find(|(_, &n)| n == from)
                    .map(|(&c, _)| c);
                let Some(conn) = conn else { return Ok(()) };
                match packet {
                    Packet::Bytes(bytes) => self.root.handle_input(
                        now,
                        Input::Received {
                            conn,
                            bytes: &bytes,
                        },
                    ),
                    Packet::Eof => {
                        self.root.handle_input(now, Input::Closed { conn });
                    }
                }
            }
            Node::Relay(r) => {
                let node = &mut self.relays[r];
                if !node.alive {
                    return Ok(());
                }
                match (from, packet) {
                    (Node::Root, Packet::Bytes(bytes)) => {
                        node.relay
                            .handle(&mut node.core, now, UpInput::Received(&bytes))
                    }
                    (Node::Root, Packet::Eof) => {
                        node.relay.handle(&mut node.core, now, UpInput::Closed)
                    }
                    (Node::Leaf(i), packet) => {
                        let Some(conn) = self.leaves[i].conn else {
                            return Ok(());
                        };
                        match packet {
                            Packet::Bytes(bytes) => node.core.handle_input(
                                now,
                                Input::Received {
                                    conn,
                                    bytes: &bytes,
                                },
                            ),
                            Packet::Eof => node.core.handle_input(now, Input::Closed { conn }),
                        }
                    }
                    _ => {}
                }
            }
            Node::Leaf(i) => self.deliver_to_leaf(i, packet)?,
        }
        Ok(())
    }

    fn deliver_to_leaf(&mut self, i: usize, packet: Packet) -> Result<(), String> {
        match packet {
            Packet::Eof => {
                let leaf = &mut self.leaves[i];
                leaf.counted = false;
                leaf.open = false;
                let _ = leaf.session.closed();
            }
            Packet::Bytes(bytes) => {
                if !self.leaves[i].open {
                    return Ok(());
                }
                self.leaves[i]
                    .session
                    .handle(&bytes)
                    .map_err(|e| format!("leaf-{i}: {e}"))?;
                while let Some(event) = self.leaves[i].session.poll_event() {
                    match event {
                        LeafEvent::Go(step) => self.on_go(i, step)?,
                        LeafEvent::Exit => self.leaves[i].said_goodbye = true,
                        LeafEvent::Refused(reason) => {
                            return Err(format!("leaf-{i} was refused: {reason}"))
                        }
                        _ => {}
                    }
                }
                self.send_up(i);
            }
        }
        Ok(())
    }

    /// The barrier and the steps, as a Go reaches participant `i`.
    fn on_go(&mut self, i: usize, step: u32) -> Result<(), String> {
        if self.leaves[i].cut_off {
            // Its subtree left the root's barrier with the cut: nothing to check it against.
            self.leaves[i].steps.push(step);
            return Ok(());
        }
        for (k, other) in self.leaves.iter().enumerate() {
            if k == i || !other.counted {
                continue;
            }
            if let Some(working) = other.session.step() {
                if working != step {
                    return Err(format!(
                        "one barrier: leaf-{i} received Go {step} while leaf-{k} still works on \
                         step {working}"
                    ));
                }
            }
        }
        let leaf = &mut self.leaves[i];
        if let Some(&last) = leaf.steps.last() {
            let expected = ((u64::from(last) + 1) % self.step_wrap.max(1)) as u32;
            if step != expected {
                return Err(format!(
                    "leaf-{i} received Go {step} after Go {last}, expected {expected}"
                ));
            }
        }
        leaf.steps.push(step);
        Ok(())
    }

    /// Carries out every node's outputs until all are quiet.
    fn pump(&mut self) {
        loop {
            let mut busy = false;
            while let Some(out) = self.root.poll_output() {
                busy = true;
                self.root_output(out);
            }
            for r in 0..self.relays.len() {
                busy |= self.pump_relay(r);
            }
            if !busy {
                return;
            }
        }
    }

    fn root_output(&mut self, out: Output) {
        match out {
            Output::Transmit(conn) => {
                let bytes = self.root.pending(conn).to_vec();
                let n = bytes.len();
                self.root.handle_input(self.now, Input::Sent { conn, n });
                if let Some(&to) = self.root_conns.get(&conn) {
                    self.push(Node::Root, to, Packet::Bytes(bytes));
                }
            }
            Output::Close(conn) => {
                if let Some(to) = self.root_conns.remove(&conn) {
                    if let Node::Leaf(i) = to {
                        self.leaves[i].conn = None;
                        self.leaves[i].counted = false;
                    }
                    self.push(Node::Root, to, Packet::Eof);
                }
            }
            Output::Exit(kind) => self.root_exit = Some(kind),
            Output::Event(_) | Output::StatusDue | Output::Persist(_) => {}
        }
    }

    /// One round of a relay's outputs; true if there were any.
    fn pump_relay(&mut self, r: usize) -> bool {
        let now = self.now;
        let me = Node::Relay(r);
        if !self.relays[r].alive {
            return false;
        }
        let mut busy = false;
        let mut to_push = Vec::new();
        {
            let leaves = &self.leaves;
            let node = &mut self.relays[r];
            while let Some(out) = node.core.poll_output() {
                busy = true;
                node.relay.observe(&mut node.core, now, &out);
                match out {
                    Output::Transmit(conn) => {
                        let bytes = node.core.pending(conn).to_vec();
                        let n = bytes.len();
                        node.core.handle_input(now, Input::Sent { conn, n });
                        if let Some(i) = leaf_at(leaves, me, conn) {
                            to_push.push((me, Node::Leaf(i), Packet::Bytes(bytes)));
                        }
                    }
                    Output::Close(conn) => {
                        if let Some(i) = leaf_at(leaves, me, conn) {
                            to_push.push((me, Node::Leaf(i), Packet::Eof));
                        }
                    }
                    Output::Exit(_) | Output::Event(_) | Output::StatusDue | Output::Persist(_) => {
                    }
                }
            }
            node.relay.settle(&node.core);
        }
        for (from, to, p) in to_push {
            if let (Packet::Eof, Node::Leaf(i)) = (&p, to) {
                // The connection id is dead once closed.
                self.leaves[i].conn = None;
                self.leaves[i].counted = false;
            }
            if let Node::Leaf(i) = to {
                if !self.leaves[i].open {
                    continue;
                }
            }
            self.push(from, to, p);
        }
        while let Some(out) = self.relays[r].relay.poll_output() {
            busy = true;
            match out {
                UpOutput::Connect => {
                    let conn = self.root.accept(now, peer(1000 + r));
                    self.root_conns.insert(conn, me);
                    let node = &mut self.relays[r];
                    if std::mem::take(&mut node.was_cut) {
                        self.reconnected_after_cut += 1;
                    }
                    node.up = Some(conn);
                    node.up_closed = false;
                    node.relay.handle(&mut node.core, now, UpInput::Connected);
                }
                UpOutput::Transmit => {
                    let node = &mut self.relays[r];
                    let bytes = node.relay.pending().to_vec();
                    node.relay
                        .handle(&mut node.core, now, UpInput::Sent(bytes.len()));
                    if !bytes.is_empty() && !node.up_closed {
                        self.push(me, Node::Root, Packet::Bytes(bytes));
                    }
                }
                UpOutput::Close => {
                    let node = &mut self.relays[r];
                    if !node.up_closed {
                        node.up_closed = true;
                        self.push(me, Node::Root, Packet::Eof);
                    }
                }
                UpOutput::Event(_) => {}
            }
        }
        // A relay whose core has ended and flushed closes its upstream on the way out.
        let node = &mut self.relays[r];
        if node.core.is_finished() && !node.up_closed && node.up.is_some() {
            node.up_closed = true;
            self.push(me, Node::Root, Packet::Eof);
        }
        busy
    }

    fn check(&self) -> Result<(), String> {
        check_state(&self.root).map_err(|v| format!("root: {v}"))?;
        for (r, node) in self.relays.iter().enumerate() {
            if node.alive {
                check_state(&node.core).map_err(|v| format!("relay-{r}: {v}"))?;
            }
        }
        Ok(())
    }

    /// True once the root has ended and nothing is in flight.
    pub fn is_settled(&self) -> bool {
        self.root_exit.is_some() && self.links.values().all(VecDeque::is_empty)
    }

    /// A hash of everything that decides what happens next, for the model checker.
    pub fn fingerprint(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.root.fingerprint(self.now, &mut h);
        for node in &self.relays {
            node.alive.hash(&mut h);
            node.up_closed.hash(&mut h);
            node.core.fingerprint(self.now, &mut h);
            node.relay.fingerprint(self.now, &mut h);
        }
        for leaf in &self.leaves {
            (
                leaf.conn,
                leaf.open,
                leaf.counted,
                leaf.cut_off,
                leaf.said_goodbye,
            )
                .hash(&mut h);
            leaf.session.state().hash(&mut h);
            leaf.steps.last().hash(&mut h);
        }
        self.links.hash(&mut h);
        self.root_exit.hash(&mut h);
        h.finish()
    }

    /// Participants that are still connected, with the steps they received.
    pub fn survivors(&self) -> Vec<(usize, &[u32], bool)> {
        self.leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| l.counted || l.said_goodbye || (l.cut_off && l.open))
            .map(|(i, l)| (i, l.steps.as_slice(), l.said_goodbye))
            .collect()
    }

    /// Whether any participant still waits on a step (for the progress check).
    pub fn someone_works(&self) -> bool {
        self.leaves.iter().any(|l| {
            l.open
                && matches!(
                    l.session.state(),
                    LeafState::GoReceived { .. } | LeafState::Working { .. }
                )
        })
    }
}

/// The participant behind a relay's connection.
fn leaf_at(leaves: &[Leaf], parent: Node, conn: ConnId) -> Option<usize> {
    leaves
        .iter()
        .position(|l| l.parent == parent && l.conn == Some(conn))
}

/// Runs one seeded tree: a random shape, faults for a while (participants leaving, relays
/// dying, time jumping), then calm until the root's planned end. Returns an error naming the
/// seed when an invariant breaks or the run does not end.
pub fn simulate(seed: u64) -> Result<Tree, String> {
    let mut rng = Rng::new(seed);
    let relays = (0..rng.range(1, 4))
        .map(|_| rng.range(1, 4) as usize)
        .collect::<Vec<_>>();
    let shape = Shape {
        relays,
        on_root: rng.range(0, 3) as usize,
        root_min: 1,
        relay_min: 1,
        rounds: rng.range(3, 12),
        step_wrap: rng.pick(&[3, 7, 1 << 32]),
    };
    let mut tree = Tree::new(&shape);
    let fault_steps = rng.range(0, 200);
    let fail = |step: u64, e: String| format!("seed {seed}, step {step}: {e}");
    for step in 0..20_000u64 {
        let faults = step < fault_steps;
        let mut actions = tree.actions(faults);
        // Faults are rare among the other actions, and one relay always survives.
        let alive = tree.relays.iter().filter(|r| r.alive).count();
        actions.retain(|a| match a {
            Action::Kill(_) => alive > 1 && rng.chance(20),
            Action::Cut(_) => rng.chance(20),
            Action::Leave(_) => rng.chance(20),
            _ => true,
        });
        if actions.is_empty() {
            break;
        }
        if rng.chance(30) {
            tree.advance(Duration::from_millis(rng.range(1, 500)))
                .map_err(|e| fail(step, e))?;
            continue;
        }
        let action = rng.pick(&actions);
        tree.apply(action).map_err(|e| fail(step, e))?;
    }
    let nobody = tree.root.member_count() == 0 && tree.links.values().all(VecDeque::is_empty);
    if nobody && tree.root_exit.is_none() {
        // Every participant left before its relay had its quorum: nobody to run rounds with.
        return Ok(tree);
    }
    if !tree.is_settled() {
        return Err(format!(
            "seed {seed}: the tree did not reach its planned end once faults stopped ({shape:?}); \
             root members {}, ready {}, round {:?}, links {:?}, relays alive {:?}",
            tree.root.member_count(),
            tree.root.ready_count(),
            tree.root.rounds().round(),
            tree.links
                .iter()
                .filter(|(_, q)| !q.is_empty())
                .collect::<Vec<_>>(),
            tree.relays
                .iter()
                .map(|r| (r.alive, r.relay.status().state))
                .collect::<Vec<_>>(),
        ));
    }
    if tree.root_exit != Some(EndKind::Planned) {
        return Err(format!(
            "seed {seed}: the root ended with {:?}",
            tree.root_exit
        ));
    }
    Ok(tree)
}
