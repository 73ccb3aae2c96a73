//! Diagrams of the two state machines, generated from the code that runs them: the connection
//! FSM from [`conn::rule`](crate::conn::rule) over every state and event, and the round
//! controller's phases by exploring the real [`RoundController`] under every abstract input.
//! Renders Graphviz `dot` and Mermaid text for `fsm-diagrams/`; performs no I/O.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use crate::conn::{rule, Event, Rule, StateKind, ALL_EVENTS, ALL_STATES};
use crate::round::{Decision, EndKind, Phase, RoundConfig, RoundController};
use crate::time::{Duration, Instant};

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

/// The connection FSM, from the transition table: one edge per state, rule and target, its
/// label listing the events in table order.
pub fn connection_graph() -> Graph {
    // Closed is where every removal ends; the diagram calls it "removed".
    let states = ALL_STATES.into_iter().filter(|&s| s != StateKind::Closed);
    let mut nodes = vec![START];
    nodes.extend(states.clone().map(|s| s.name()));
    nodes.push("removed");
    let mut g = Graph::new("Connection states", &nodes);
    g.edge(START, StateKind::AwaitingHello.name(), "accepted");
    for state in states {
        let from = state.name();
        // (target, what happens) -> the events, in table order.
        let mut groups: Vec<((&str, String), Vec<Event>)> = Vec::new();
        for event in ALL_EVENTS {
            for target in targets(state, rule(state, event)) {
                match groups.iter_mut().find(|(k, _)| *k == target) {
                    Some((_, events)) => events.push(event),
                    None => groups.push((target, vec![event])),
                }
            }
        }
        for ((to, what), events) in groups {
            let events: Vec<&str> = events.iter().map(|e| e.label()).collect();
            let events = events.join(", ");
            let label = if what.is_empty() {
                events
            } else {
                what.replace("{}", &events)
            };
            g.edge(from, to, &label);
        }
    }
    g.edge(StateKind::Refused.name(), "removed", "R flushed");
    g.edge(StateKind::Closing.name(), "removed", "flushed");
    g
}

/// Where a rule takes a connection in `state`, and a label template (`{}` stands for the
/// events; empty for the events alone).
fn targets(state: StateKind, rule: Rule) -> Vec<(&'static str, String)> {
    let here = state.name();
    let refused = StateKind::Refused.name();
    match rule {
        Rule::Admit => vec![
            (StateKind::Idle.name(), "{} valid".to_string()),
            (refused, "{} invalid, duplicate or full".to_string()),
        ],
        Rule::To(next) => vec![(next.name(), String::new())],
        Rule::AckAndDone => vec![(StateKind::Done.name(), "{} (as K then Done)".to_string())],
        Rule::Answer => vec![(here, "{} (answered with .)".to_string())],
        Rule::Refresh => vec![(here, "{} (liveness)".to_string())],
        Rule::Violation => vec![(refused, "violation {}".to_string())],
        Rule::TimedOut => vec![(refused, String::new())],
        Rule::Remove => vec![("removed", String::new())],
        Rule::Ignore | Rule::Never => vec![],
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
    Fatal,
}

const ACTIONS: [Action; 8] = [
    Action::ClientReady,
    Action::ReadyClientLeaves,
    Action::ParticipantDone,
    Action::ParticipantLeaves,
    Action::SlowTimer,
    Action::Sigterm,
    Action::Sigint,
    Action::Fatal,
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
            Action::Fatal => "fatal error",
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
        Decision::End(EndKind::Fatal(_)) => "E, X",
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
            Action::Fatal => out.extend(self.rounds.end_now(EndKind::Fatal(String::new()))),
            _ => return None,
        }
        while let Some(d) = self.rounds.poll_decision(self.ready) {
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
                "Every transition of one client connection, generated from the transition table \
                 `lockstep::conn::rule` that the conductor runs. Self-loops are liveness \
                 traffic; `removed` means the connection is closed and the client counts for \
                 nothing any more. Not part of the table: a connection from an address outside \
                 `allow` is refused as soon as it is accepted, and when the conductor ends every \
                 connection receives `C` (or `E`) and `X` and is closed.",
            ),
        ),
        ("round.dot", round.to_dot()),
        (
            "round.md",
            round.to_mermaid_page(
                "The round controller's phases (as `status.json` names them), found by driving \
                 the real `lockstep::round::RoundController` through every input with up to two \
                 clients (`min_clients` 1, `step_wrap` 2, `shutdown_countdown` 1), once running \
                 until stopped and once for a planned end after 2 rounds. States are told apart \
                 by the controller's fingerprint, which keeps the next step but not the count \
                 of waves, so the exploration ends. Labels read `input / broadcasts`; inputs \
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
        assert!(g.has_edge("AwaitingHello", "Idle", "A valid"));
        assert!(g.has_edge("AwaitingHello", "Refused", "A invalid, duplicate or full"));
        assert!(g.has_edge("AwaitingHello", "Refused", "hello timeout"));
        assert!(g.has_edge("AwaitingHello", "removed", "X, R, EOF"));
        assert!(g.has_edge("Idle", "GoSent", "Go wave"));
        assert!(g.has_edge("Done", "GoSent", "Go wave"));
        assert!(g.has_edge("GoSent", "Working", "K"));
        assert!(g.has_edge("GoSent", "Done", "! (as K then Done)"));
        assert!(g.has_edge("Working", "Done", "!"));
        assert!(g.has_edge("Working", "Working", "? (answered with .)"));
        assert!(g.has_edge("Working", "Working", "W, . (liveness)"));
        assert!(g.has_edge("Idle", "Refused", "violation A, K, !, garbage"));
        assert!(g.has_edge("Idle", "Refused", "liveness timeout"));
        assert!(g.has_edge("Refused", "removed", "EOF"));
        let go_from: Vec<&str> = g
            .edges
            .iter()
            .filter(|(_, _, label)| label == "Go wave")
            .map(|(from, _, _)| from.as_str())
            .collect();
        assert_eq!(go_from, ["Idle", "Done"], "only ready clients take a Go");
    }

    #[test]
    fn round_graph_reaches_every_phase_and_every_ending() {
        let g = round_graph();
        for phase in ["waiting", "running", "stopping", "stopped"] {
            assert!(
                g.edges.iter().any(|(_, to, _)| to == phase),
                "{phase} unreachable: {:?}",
                g.edges
            );
        }
        assert!(g.has_edge("running", "stopped", "SIGINT / C, X"));
        assert!(g.has_edge("running", "stopped", "fatal error / E, X"));
        assert!(g.has_edge("stopping", "stopped", "participant Done / C, X"));
        assert!(g.has_edge("running", "stopping", "participant Done / S n, Go"));
        assert!(g.has_edge("running", "running", "slow_round_ms passes / T"));
    }
}
