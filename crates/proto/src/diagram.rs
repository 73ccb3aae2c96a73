//! Diagrams of the two state machines, generated from the code that runs them: the connection
//! FSM by feeding every event to the real table ([`Conn::handle`]) in every state it reaches,
//! and the round controller's phases by exploring the real [`RoundController`] under every
//! abstract input.
//! Renders Graphviz `dot` and Mermaid text for `fsm-diagrams/`; performs no I/O.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;

use crate::cidr::Cidr;
use crate::conn::{
    Change, Conn, Context, Event, Input, Notice, StateKind, Timer, ALL_EVENTS, ALL_STATES,
};
use crate::core::{CoreConfig, RefusalKind};
use crate::harness::client_bytes;
use crate::round::{Decision, EndKind, Phase, RoundConfig, RoundController};
use crate::time::{Duration, Instant};
use crate::wire::{ClientMsg, DecodeError, Id, RawHello, VERSION};

/// The name of the pseudo-node before the first state and after the last.
const START: &str = "start";
const END: &str = "end";

/// A directed graph with labelled edges; two nodes may be joined by several edges.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// The title.
    pub name: String,
    /// Nodes in display order.
    pub nodes: Vec<String>,
    /// `(from, to, label)`, in display order, without duplicates.
    pub edges: Vec<(String, String, String)>,
}

impl Graph {
    fn new(name: &str, nodes: &[&str]) -> Graph {
        Graph {
            name: name.to_string(),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            edges: Vec::new(),
        }
    }

    fn edge(&mut self, from: &str, to: &str, label: &str) {
        let edge = (from.to_string(), to.to_string(), label.to_string());
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// True if an edge from `from` to `to` has exactly this label.
    pub fn has_edge(&self, from: &str, to: &str, label: &str) -> bool {
        self.edges
            .iter()
            .any(|(f, t, l)| f == from && t == to && l == label)
    }

    /// Graphviz text.
    pub fn to_dot(&self) -> String {
        let mut out = format!(
            "// Generated from the code; do not edit by hand.\ndigraph \"{}\" {{\n",
            self.name
        );
        out.push_str("  rankdir=LR;\n  node [shape=box, style=rounded];\n");
        for node in &self.nodes {
            let shape = if node == START || node == END {
                " [shape=point]"
            } else {
                ""
            };
            out.push_str(&format!("  \"{node}\"{shape};\n"));
        }
        for (from, to, label) in &self.edges {
            let label = label.replace('"', "\\\"");
            out.push_str(&format!("  \"{from}\" -> \"{to}\" [label=\"{label}\"];\n"));
        }
        out.push_str("}\n");
        out
    }

    /// A Markdown page with `intro` and the graph as a Mermaid `stateDiagram-v2`.
    pub fn to_mermaid_page(&self, intro: &str) -> String {
        let mut out = format!(
            "# {}\n\n{intro}\n\n<!-- Generated from the code; do not edit by hand. -->\n\n\
             ```mermaid\nstateDiagram-v2\n",
            self.name
        );
        let node = |n: &str| if n == START || n == END { "[*]" } else { n }.to_string();
        for (from, to, label) in &self.edges {
            // A Mermaid label ends at ';' and a ':' in it would be misread.
            let label = label.replace([':', ';'], " -");
            out.push_str(&format!("    {} --> {}: {label}\n", node(from), node(to)));
        }
        out.push_str("```\n");
        out
    }
}

/// The connection FSM, by running the real table ([`Conn::handle`]): every event (each verdict
/// on a hello among them) is fed to one connection in each state reached from a fresh one, and
/// every change of state it causes becomes an edge, labelled by the events that cause it in
/// table order. Self-loops are drawn for what the client sends; the conductor's own sends that
/// leave the state as it is (`S n`, `T`, probes) are not.
pub fn connection_graph() -> Graph {
    let mut nodes = vec![START];
    nodes.extend(ALL_STATES.iter().map(|s| s.name()));
    let mut g = Graph::new("Connection states", &nodes);
    let world = World::new();
    let fresh = Conn::new(world.peer, Instant::ZERO, 0);
    let outside = Context {
        config: &world.guarded,
        ..world.context()
    };
    let ended = Context {
        ended: true,
        ..world.context()
    };
    let accepts = [
        (world.context(), "accepted"),
        (outside, "accepted from outside allow"),
        (ended, "accepted after the end"),
    ];
    for (ctx, label) in accepts {
        let mut c = fresh.clone();
        let to = c.handle(Input::Accepted, &ctx).to;
        g.edge(START, to.name(), label);
    }
    // One connection in each state, as the exploration first reached it.
    let mut first = fresh;
    first.handle(Input::Accepted, &world.context());
    let mut reached = vec![(first.state().kind(), first)];
    let mut i = 0;
    while let Some((state, conn)) = reached.get(i).cloned() {
        i += 1;
        // (target, what happens, from the client) -> the events, in table order.
        let mut groups: Vec<(EdgeKey, Vec<Event>)> = Vec::new();
        for event in ALL_EVENTS {
            for (input, ctx) in world.inputs(event) {
                let mut next = conn.clone();
                let change = next.handle(input, &ctx);
                let notice = next.take_report().notice;
                let sent = next
                    .pending()
                    .get(conn.pending().len()..)
                    .unwrap_or_default();
                let Some(what) = template(state, event, &change, notice, sent) else {
                    continue;
                };
                // What the client does and what the conductor or time does are told apart.
                let key = (change.to, what, event.is_from_client());
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, events)) if !events.contains(&event) => events.push(event),
                    Some(_) => {}
                    None => groups.push((key, vec![event])),
                }
                if reached.iter().all(|(s, _)| *s != change.to) {
                    reached.push((change.to, next));
                }
            }
        }
        for ((to, what, _), events) in groups {
            let events: Vec<&str> = events.iter().map(|e| e.label()).collect();
            g.edge(
                state.name(),
                to.name(),
                &what.replace("{}", &events.join(", ")),
            );
        }
    }
    // In node order, whatever order the exploration found the states in.
    let rank = |n: &String| g.nodes.iter().position(|m| m == n);
    g.edges.sort_by_key(|(from, _, _)| rank(from));
    g
}

/// What sets an edge apart: its target, its label's template, and whether the client or the
/// conductor (or time) causes it.
type EdgeKey = (StateKind, &'static str, bool);

/// How an edge is labelled (`{}` stands for its events), or `None` when the event leaves the
/// state as it is and is not drawn.
fn template(
    from: StateKind,
    event: Event,
    change: &Change,
    notice: Option<Notice>,
    sent: &[u8],
) -> Option<&'static str> {
    if change.to == from {
        return (event.is_from_client() && !from.is_ending()).then_some(if sent == b"." {
            "{} (answered with .)"
        } else {
            "{} (liveness)"
        });
    }
    Some(match notice {
        Some(Notice::Refused {
            kind: RefusalKind::Violation,
            ..
        }) => "violation {}",
        Some(Notice::Refused {
            kind: RefusalKind::Version | RefusalKind::InvalidId,
            ..
        })
        | Some(Notice::Refused {
            kind: RefusalKind::DuplicateId | RefusalKind::Full,
            ..
        }) => "{} invalid, duplicate or full",
        Some(Notice::Joined(_)) => "{} valid",
        _ if change.transitions().count() > 1 && change.to == StateKind::Done => {
            "{} (as K then Done)"
        }
        _ if event == Event::Flushed && from == StateKind::Refused => "R {}",
        _ => "{}",
    })
}

/// The settings and the conductor-wide facts the exploration feeds the table: one member id
/// taken, room for one more member.
struct World {
    config: CoreConfig,
    /// The same, with an `allow` list the peer is outside of.
    guarded: CoreConfig,
    peer: SocketAddr,
    taken: HashSet<Id>,
    /// A valid hello, then one of another version, one with a blank id, one with a taken id.
    hellos: [ClientMsg; 4],
    /// What a client sends for each of the other events it causes, decoded: a message, or
    /// the error bytes that are no message decode to.
    said: Vec<(Event, Result<ClientMsg, DecodeError>)>,
}

impl World {
    fn new() -> World {
        let id = |name: &str| Id::new(name).unwrap_or_else(|e| unreachable!("{name}: {e}"));
        let mut config = CoreConfig::new(id("conductor"));
        config.max_clients = 2;
        let mut guarded = config.clone();
        let block = "10.0.0.0/8".parse::<Cidr>();
        guarded.allow = vec![block.unwrap_or_else(|e| unreachable!("10.0.0.0/8: {e}"))];
        World {
            config,
            guarded,
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            taken: HashSet::from([id("taken")]),
            hellos: [
                (VERSION, "fresh"),
                (b'2', "fresh"),
                (VERSION, ""),
                (VERSION, "taken"),
            ]
            .map(|(version, name)| {
                let mut id = [b' '; 12];
                id[..name.len()].copy_from_slice(name.as_bytes());
                ClientMsg::Hello(RawHello { version, id })
            }),
            said: ALL_EVENTS
                .into_iter()
                .filter(|&e| e != Event::Hello)
                .filter_map(|e| Some((e, client_bytes(e, "fresh")?)))
                .map(|(e, bytes)| (e, ClientMsg::decode(&bytes).map(|m| m.map(|(m, _)| m))))
                .filter_map(|(e, read)| Some((e, read.transpose()?)))
                .collect(),
        }
    }

    fn context(&self) -> Context<'_> {
        Context {
            now: Instant::from_millis(1),
            config: &self.config,
            ids: &self.taken,
            members: 1,
            ended: false,
        }
    }

    /// What stands for `event`: the input or inputs, each with its context.
    fn inputs(&self, event: Event) -> Vec<(Input<'_>, Context<'_>)> {
        let one = |input| vec![(input, self.context())];
        let full = Context {
            members: self.config.max_clients,
            ..self.context()
        };
        let said = self.said.iter().filter(|(e, _)| *e == event);
        match event {
            Event::Hello => {
                let mut inputs: Vec<_> = (self.hellos.iter())
                    .map(|hello| (Input::Message(hello), self.context()))
                    .collect();
                inputs.push((Input::Message(&self.hellos[0]), full));
                inputs
            }
            Event::Received
            | Event::Done
            | Event::Working
            | Event::Here
            | Event::Ping
            | Event::Exit
            | Event::Refusal
            | Event::Garbage => said
                .map(|(_, read)| match read {
                    Ok(msg) => (Input::Message(msg), self.context()),
                    Err(error) => (Input::Garbage(error), self.context()),
                })
                .collect(),
            Event::Eof => one(Input::Eof),
            Event::Go => one(Input::Go(1)),
            Event::Countdown => one(Input::Countdown(1)),
            Event::Slow => one(Input::Slow),
            Event::End => one(Input::End { error: false }),
            Event::Abandon => one(Input::Abandon),
            Event::HelloTimeout => one(Input::Timeout(Timer::Hello)),
            Event::Probe => one(Input::Timeout(Timer::Probe)),
            Event::LivenessTimeout => one(Input::Timeout(Timer::Drop)),
            Event::Linger => one(Input::Timeout(Timer::Linger)),
            Event::Flushed => one(Input::Sent(usize::MAX)),
        }
    }
}

/// What can happen to the controller, abstractly.
#[derive(Clone, Copy, Debug)]
enum Action {
    ClientReady,
    ReadyClientLeaves,
    ParticipantDone,
    ParticipantLeaves,
    SlowTimer,
    Sigterm,
    Sigint,
    Sigusr1,
    Fatal,
    ParticipantFails,
    Pause,
    Resume,
}

const ACTIONS: [Action; 12] = [
    Action::ClientReady,
    Action::ReadyClientLeaves,
    Action::ParticipantDone,
    Action::ParticipantLeaves,
    Action::SlowTimer,
    Action::Sigterm,
    Action::Sigint,
    Action::Sigusr1,
    Action::Fatal,
    Action::ParticipantFails,
    Action::Pause,
    Action::Resume,
];

impl Action {
    fn label(self) -> &'static str {
        match self {
            Action::ClientReady => "client ready",
            Action::ReadyClientLeaves => "ready client leaves",
            Action::ParticipantDone => "participant Done",
            Action::ParticipantLeaves => "participant leaves",
            Action::SlowTimer => "slow_round_ms passes",
            Action::Sigterm => "SIGTERM",
            Action::Sigint => "SIGINT",
            Action::Sigusr1 => "SIGUSR1",
            Action::Fatal => "fatal error",
            Action::ParticipantFails => "participant fails (end_on_failure)",
            Action::Pause => "ctl pause",
            Action::Resume => "ctl resume",
        }
    }
}

/// What a decision makes the conductor broadcast.
fn decision_label(d: &Decision) -> &'static str {
    match d {
        Decision::Wave {
            countdown: None, ..
        } => "Go",
        Decision::Wave {
            countdown: Some(_), ..
        } => "S n, Go",
        Decision::Slow => "T",
        Decision::End(kind) if kind.announces_error() => "E, X",
        Decision::End(EndKind::Restart) => "close all, say nothing",
        Decision::End(_) => "C, X",
    }
}

/// The explored state: the controller, the clock, and the clients it counts.
#[derive(Clone)]
struct Model {
    rounds: RoundController,
    now: Instant,
    /// Clients in Idle or Done.
    ready: u32,
    /// Participants of the running round that are GoSent or Working.
    pending: u32,
}

/// Clients in the exploration: two are enough to tell every phase change apart.
const MAX_CLIENTS: u32 = 2;

impl Model {
    fn new(config: RoundConfig) -> Model {
        Model {
            rounds: RoundController::new(config),
            now: Instant::ZERO,
            ready: 0,
            pending: 0,
        }
    }

    /// What identifies the state: the controller's fingerprint (times relative to `now`, the
    /// next step rather than the ever-growing count of waves) and the counts.
    fn key(&self) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.rounds.fingerprint(self.now, &mut h);
        (self.ready, self.pending).hash(&mut h);
        h.finish()
    }

    /// Applies an action; returns the decisions it led to, or `None` if it cannot happen now.
    fn step(&mut self, action: Action) -> Option<Vec<Decision>> {
        let now = self.now;
        let mut out = Vec::new();
        match action {
            Action::ClientReady if self.ready + self.pending < MAX_CLIENTS => self.ready += 1,
            Action::ReadyClientLeaves if self.ready > 0 => self.ready -= 1,
            Action::ParticipantDone if self.pending > 0 => {
                self.pending -= 1;
                self.ready += 1;
                self.rounds.participant_done(now);
            }
            Action::ParticipantLeaves if self.pending > 0 => {
                self.pending -= 1;
                self.rounds.participant_removed(now);
            }
            Action::SlowTimer => {
                self.now = self.rounds.poll_timeout()?;
                out.extend(self.rounds.on_timeout(self.now));
            }
            Action::Sigterm if self.rounds.ended().is_none() => self.rounds.graceful_stop(),
            Action::Sigint => out.extend(self.rounds.end_now(EndKind::Interrupt)),
            Action::Pause | Action::Resume
                if self.rounds.ended().is_some() || self.rounds.stopping_gracefully() =>
            {
                return None
            }
            Action::Pause => self.rounds.pause(now),
            Action::Resume => self.rounds.resume(),
            Action::Sigusr1 => out.extend(self.rounds.end_now(EndKind::Restart)),
            Action::Fatal => out.extend(self.rounds.end_now(EndKind::Fatal(String::new()))),
            Action::ParticipantFails if self.ready + self.pending > 0 => {
                let id = Id::new("p").unwrap_or_else(|_| unreachable!("a valid literal id"));
                let reason = String::new();
                out.extend(
                    self.rounds
                        .end_now(EndKind::ParticipantFailed { id, reason }),
                );
            }
            _ => return None,
        }
        while let Some(d) = self.rounds.poll_decision(self.now, self.ready) {
            if let Decision::Wave { .. } = d {
                self.pending = self.ready;
                self.ready = 0;
                self.rounds.commit(self.now, self.pending);
            }
            out.push(d);
        }
        Some(out)
    }

    fn phase(&self) -> Phase {
        self.rounds.phase(self.ready)
    }
}

/// The round controller's phases, by exploring the real controller under every action with
/// up to two clients, for a run until stopped and for a planned end.
pub fn round_graph() -> Graph {
    let phases = [
        Phase::Waiting,
        Phase::Running,
        Phase::Paused,
        Phase::Stopping,
        Phase::Stopped,
    ];
    let mut nodes = vec![START];
    nodes.extend(phases.map(Phase::name));
    nodes.push(END);
    let mut g = Graph::new("Round controller phases", &nodes);
    for rounds in [0, 2] {
        let start = Model::new(RoundConfig {
            min_clients: 1,
            rounds,
            step_wrap: 2,
            shutdown_countdown: 1,
            slow_round: Duration::from_millis(10),
            pace: Duration::ZERO,
        });
        let mut seen = HashSet::from([start.key()]);
        let mut queue = VecDeque::from([start]);
        while let Some(model) = queue.pop_front() {
            for action in ACTIONS {
                let mut next = model.clone();
                let Some(decisions) = next.step(action) else {
                    continue;
                };
                let (before, after) = (model.phase(), next.phase());
                if before != after || !decisions.is_empty() {
                    g.edge(before.name(), after.name(), &edge_label(action, &decisions));
                }
                if seen.insert(next.key()) {
                    queue.push_back(next);
                }
            }
        }
    }
    // In node order, whatever order the exploration found the edges in.
    let rank = |n: &String| g.nodes.iter().position(|m| m == n);
    let mut edges = std::mem::take(&mut g.edges);
    edges.sort_by_key(|(from, to, label)| (rank(from), rank(to), label.clone()));
    g.edge(START, Phase::Waiting.name(), "started");
    g.edges.extend(edges);
    g.edge(Phase::Stopped.name(), END, "exit");
    g
}

/// `input / broadcasts`, or just the input when nothing is broadcast.
fn edge_label(action: Action, decisions: &[Decision]) -> String {
    if decisions.is_empty() {
        return action.label().to_string();
    }
    let outputs: Vec<&str> = decisions.iter().map(decision_label).collect();
    format!("{} / {}", action.label(), outputs.join(", "))
}

/// The files of `fsm-diagrams/`, by name, with their generated contents.
pub fn files() -> Vec<(&'static str, String)> {
    let conn = connection_graph();
    let round = round_graph();
    vec![
        ("connection.dot", conn.to_dot()),
        (
            "connection.md",
            conn.to_mermaid_page(
                "Every transition of one client connection, generated by running the table \
                 `lockstep_proto::conn::Conn::handle` that the conductor runs: each event is fed to a \
                 connection in each state reached. The first six states are the protocol's; \
                 `Closing` (the client left, or the conductor ended, and what is queued is \
                 still flushed) and `Closed` (its slot is freed) are the conductor's own, and a \
                 client in them, as in `Refused`, counts for nothing. Self-loops are what the \
                 client sends that leaves the state as it is; the conductor's `S n`, `T` and \
                 probes are not drawn. Not drawn either: from any state, a connection whose \
                 queue passes `max_queued_bytes` is dropped (Closed) at once.",
            ),
        ),
        ("round.dot", round.to_dot()),
        (
            "round.md",
            round.to_mermaid_page(
                "The round controller's phases (as `status.json` names them), found by driving \
                 the real `lockstep_proto::round::RoundController` through every input with up to two \
                 clients (`min_clients` 1, `step_wrap` 2, `shutdown_countdown` 1), once running \
                 until stopped and once for a planned end after 2 rounds. States are told apart \
                 by the controller's fingerprint, which keeps the next step but not the count \
                 of waves, so the exploration ends. `ctl pause` and `ctl resume` are the \
                 operator's commands through the control socket. Labels read `input / broadcasts`; inputs \
                 that change neither the phase nor send anything are left out.",
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_graph_has_every_spec_row() {
        let g = connection_graph();
        assert!(g.has_edge("start", "AwaitingHello", "accepted"));
        assert!(g.has_edge("start", "Refused", "accepted from outside allow"));
        assert!(g.has_edge("AwaitingHello", "Idle", "A valid"));
        assert!(g.has_edge("AwaitingHello", "Refused", "A invalid, duplicate or full"));
        assert!(g.has_edge("AwaitingHello", "Refused", "hello timeout"));
        assert!(g.has_edge("AwaitingHello", "Closing", "X, R"));
        assert!(g.has_edge("AwaitingHello", "Closed", "EOF"));
        assert!(g.has_edge("Idle", "GoSent", "Go wave"));
        assert!(g.has_edge("Done", "GoSent", "Go wave"));
        assert!(g.has_edge("GoSent", "Working", "K"));
        assert!(g.has_edge("GoSent", "Done", "! (as K then Done)"));
        assert!(g.has_edge("Working", "Done", "!"));
        assert!(g.has_edge("Working", "Working", "? (answered with .)"));
        assert!(g.has_edge("Working", "Working", "W, . (liveness)"));
        assert!(g.has_edge("Idle", "Refused", "violation A, K, !, garbage"));
        assert!(g.has_edge("Idle", "Refused", "liveness timeout"));
        assert!(g.has_edge("Idle", "Closing", "conductor ends (C or E, X)"));
        assert!(g.has_edge("Refused", "Closed", "R flushed"));
        assert!(g.has_edge("Refused", "Closed", "EOF"));
        assert!(g.has_edge(
            "Closing",
            "Closed",
            "conductor restarts (nothing sent), linger passed, flushed"
        ));
        assert!(g.has_edge("Working", "Closed", "conductor restarts (nothing sent)"));
        let go_from: Vec<&str> = g
            .edges
            .iter()
            .filter(|(_, _, label)| label == "Go wave")
            .map(|(from, _, _)| from.as_str())
            .collect();
        assert_eq!(go_from, ["Idle", "Done"], "only ready clients take a Go");
        let from_ending = g
            .edges
            .iter()
            .filter(|(from, _, _)| from == "Refused" || from == "Closing" || from == "Closed");
        assert!(
            from_ending.clone().all(|(_, to, _)| to == "Closed"),
            "an ending connection only closes: {:?}",
            from_ending.collect::<Vec<_>>()
        );
    }

    #[test]
    fn round_graph_reaches_every_phase_and_every_ending() {
        let g = round_graph();
        for phase in ["waiting", "running", "paused", "stopping", "stopped"] {
            assert!(
                g.edges.iter().any(|(_, to, _)| to == phase),
                "{phase} unreachable: {:?}",
                g.edges
            );
        }
        assert!(g.has_edge("running", "stopped", "SIGINT / C, X"));
        assert!(g.has_edge("running", "stopped", "fatal error / E, X"));
        assert!(g.has_edge(
            "running",
            "stopped",
            "participant fails (end_on_failure) / E, X"
        ));
        assert!(g.has_edge("stopping", "stopped", "participant Done / C, X"));
        assert!(g.has_edge("running", "stopping", "participant Done / S n, Go"));
        assert!(g.has_edge("running", "running", "slow_round_ms passes / T"));
        assert!(g.has_edge("running", "paused", "ctl pause"));
        assert!(g.has_edge("paused", "running", "ctl resume / Go"));
        assert!(g.has_edge("paused", "paused", "slow_round_ms passes / T"));
        assert!(g.has_edge("paused", "stopping", "SIGTERM / S n, Go"));
        let from_paused = g.edges.iter().filter(|(from, _, _)| from == "paused");
        for (_, to, label) in from_paused {
            assert!(
                to != "running" || label.starts_with("ctl resume"),
                "only a resume (or a stop) ends a pause: {label}"
            );
            assert!(
                !label.contains("Go")
                    || label.starts_with("ctl resume")
                    || label.starts_with("SIGTERM"),
                "a paused controller sends no wave but on a resume or a stop: {label}"
            );
        }
    }
}
