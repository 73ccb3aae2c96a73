//! `conductor relay` end to end: trees of real processes (a root conductor, relays and `join`
//! participants) are one barrier, on the loopback and across network namespaces; a relay that
//! dies takes only its subtree with it; a relay started before its root connects once the
//! root is up; a root SIGKILLed and resumed from its state file runs no step twice under a
//! relay; run control, `state_file`, `pace_ms` and `--fresh` are the root's.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::participants::{join_port, join_with, python3, Participant};
use common::{wait_for, Conductor, Launch, TempDir, DEADLINE};

/// A step command that records, with the system's monotonic clock, when it started and ended
/// each step: `start N T` and `end N T` lines in `file`. It takes a few milliseconds, longer
/// for some steps, so that a Go sent before every Done would show.
fn recorder(file: &Path) -> Vec<String> {
    let script = "import os, random, sys, time\n\
                  step = os.environ['LOCKSTEP_STEP']\n\
                  with open(sys.argv[1], 'a') as f:\n\
                  \x20   f.write('start %s %d\\n' % (step, time.monotonic_ns()))\n\
                  \x20   f.flush()\n\
                  \x20   time.sleep(random.random() * 0.02)\n\
                  \x20   f.write('end %s %d\\n' % (step, time.monotonic_ns()))\n";
    vec![
        python3().get_program().to_string_lossy().into_owned(),
        "-c".into(),
        script.into(),
        file.display().to_string(),
    ]
}

/// `conductor join` for `id` on `port`, recording into `dir/id.steps`.
fn recording(dir: &TempDir, port: u16, id: &str) -> (Participant, PathBuf) {
    let file = dir.path(&format!("{id}.steps"));
    let command = recorder(&file);
    let command: Vec<&str> = command.iter().map(String::as_str).collect();
    (join_port(port, id, &command), file)
}

/// Each step's start and end times, read from a recorder's file, checking that the steps
/// started are `0..rounds` in order.
fn read_steps(file: &Path, rounds: u32) -> BTreeMap<u32, (u64, u64)> {
    let text = std::fs::read_to_string(file).expect("the step file");
    let mut steps = BTreeMap::new();
    let mut started = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let (what, step, at) = (
            words[0],
            words[1].parse().unwrap(),
            words[2].parse().unwrap(),
        );
        let entry = steps.entry(step).or_insert((0, 0));
        if what == "start" {
            started.push(step);
            entry.0 = at;
        } else {
            entry.1 = at;
        }
    }
    assert_eq!(
        started,
        (0..rounds).collect::<Vec<u32>>(),
        "{}: {text}",
        file.display()
    );
    steps
}

/// Where the tree's processes run: all on the loopback, or each node in a network namespace
/// of its own.
trait Place {
    /// Starts a conductor for `node` (a relay with `launch.before` set).
    fn conductor(&self, node: &str, args: &[&str], launch: Launch) -> Conductor;
    /// The address others reach `conductor` of `node` at.
    fn address(&self, node: &str, conductor: &Conductor) -> SocketAddr;
    /// `conductor join` for `id` from `node`, to `to`, recording into `file`.
    fn join(&self, node: &str, id: &str, to: SocketAddr, file: &Path) -> Participant;
}

/// Everything on the loopback.
struct Loopback;

impl Place for Loopback {
    fn conductor(&self, _node: &str, args: &[&str], launch: Launch) -> Conductor {
        Conductor::launch(args, launch)
    }
    fn address(&self, _node: &str, conductor: &Conductor) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], conductor.addr.port()))
    }
    fn join(&self, _node: &str, id: &str, to: SocketAddr, file: &Path) -> Participant {
        let command = recorder(file);
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        join_port(to.port(), id, &command)
    }
}

/// The tree of the issue: a root with one participant of its own, two relays with two
/// participants each, 20 rounds. Every participant runs steps 0..19 in order, and no step
/// n+1 starts anywhere before every step n has ended everywhere.
fn tree_is_one_barrier(place: &dyn Place) {
    let rounds = 20;
    let mut root = place.conductor(
        "root",
        &["--host", "0.0.0.0", "--min-clients", "3", "--rounds", "20"],
        Launch::default(),
    );
    let upstream = place.address("root", &root).to_string();
    let mut relays: Vec<Conductor> = ["r1", "r2"]
        .iter()
        .map(|id| {
            let args = ["--host", "0.0.0.0", "--min-clients", "2"];
            place.conductor(id, &args, Launch::relay(&upstream, id))
        })
        .collect();
    let dir = TempDir::new("relay-tree");
    let file = |id: &str| dir.path(&format!("{id}.steps"));
    let mut participants = vec![(
        place.join("p0", "p0", place.address("root", &root), &file("p0")),
        file("p0"),
    )];
    for (r, relay) in relays.iter().enumerate() {
        let at = place.address(&format!("r{}", r + 1), relay);
        for n in 0..2 {
            let id = format!("r{}p{}", r + 1, n + 1);
            participants.push((place.join(&id, &id, at, &file(&id)), file(&id)));
        }
    }
    for (participant, _) in &mut participants {
        let status = participant.wait_exit(DEADLINE * 3);
        assert_eq!(status.code(), Some(0), "{}", participant.stderr());
        assert!(participant.stderr().contains("ceasing operation"));
    }
    assert_eq!(root.wait_exit(DEADLINE).code(), Some(0), "{}", root.log());
    for relay in &mut relays {
        assert_eq!(relay.wait_exit(DEADLINE).code(), Some(0), "{}", relay.log());
        relay.wait_log("joined upstream conductor conductor");
        relay.wait_log("upstream: the upstream conductor ceased operation (C)");
    }
    // One barrier: every participant's Go for step n+1 (the start of its step) comes after
    // every participant's Done for step n (which follows the end of its step).
    let steps: Vec<_> = participants
        .iter()
        .map(|(_, file)| read_steps(file, rounds))
        .collect();
    for n in 0..rounds - 1 {
        let last_end = steps.iter().map(|s| s[&n].1).max().unwrap();
        let first_start = steps.iter().map(|s| s[&(n + 1)].0).min().unwrap();
        assert!(
            first_start > last_end,
            "step {} started at {first_start} before step {n} ended at {last_end}",
            n + 1
        );
    }
    // The relays' status files show their upstream.
    // Named after the relay, so that a root and its relays can share a directory.
    let status = relays[0]
        .status("status-r1.json")
        .expect("the relay's status-r1.json");
    assert_eq!(status["upstream"]["address"], upstream.as_str());
    assert_eq!(status["upstream"]["state"], "closed");
    assert_eq!(status["upstream"]["last_step"], rounds - 1);
    assert_eq!(status["server_id"], "r1");
    // The root saw the relays from their own addresses.
    let r1 = place.address("r1", &relays[0]).ip().to_string();
    root.wait_log(&format!("joined: r1 from {r1}:"));
}

#[test]
fn a_tree_of_two_relays_is_one_barrier() {
    tree_is_one_barrier(&Loopback);
}

/// Each node in a network namespace of its own, all joined by veth pairs to a bridge in a
/// hub namespace: root, relays and participants have distinct addresses, as on separate
/// machines. Needs root (CI runs as root and must run it); elsewhere it says why it skips.
#[test]
fn the_same_tree_across_network_namespaces() {
    let nodes = ["root", "r1", "r2", "p0", "r1p1", "r1p2", "r2p1", "r2p2"];
    let net = match Net::new(&nodes) {
        Ok(net) => net,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: network namespaces cannot be made here ({why}); run as root");
            return;
        }
        Err(why) => panic!("network namespaces are required under CI: {why}"),
    };
    tree_is_one_barrier(&net);
}

/// Network namespaces made for one test, deleted on drop.
struct Net {
    hub: String,
    /// Each node's namespace and address.
    nodes: Vec<(String, String, IpAddr)>,
}

impl Net {
    fn new(names: &[&str]) -> Result<Net, String> {
        let tag = format!("ls{}", std::process::id() % 100_000);
        let mut net = Net {
            hub: format!("{tag}hub"),
            nodes: Vec::new(),
        };
        ip(&["netns", "add", &net.hub])?;
        ip(&["-n", &net.hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &net.hub, "link", "set", "br0", "up"])?;
        for (i, name) in names.iter().enumerate() {
            let ns = format!("{tag}n{i}");
            let addr: IpAddr = format!("10.77.0.{}", i + 1).parse().unwrap();
            ip(&["netns", "add", &ns])?;
            net.nodes.push((name.to_string(), ns.clone(), addr));
            let (inner, outer) = (format!("{tag}a{i}"), format!("{tag}b{i}"));
            ip(&[
                "link", "add", &inner, "type", "veth", "peer", "name", &outer,
            ])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["link", "set", &outer, "netns", &net.hub])?;
            ip(&["-n", &net.hub, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &net.hub, "link", "set", &outer, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &inner,
            ])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    fn node(&self, name: &str) -> (&str, IpAddr) {
        let (_, ns, addr) = self
            .nodes
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no node {name}"));
        (ns, *addr)
    }
}

impl Place for Net {
    fn conductor(&self, node: &str, args: &[&str], launch: Launch) -> Conductor {
        let (ns, _) = self.node(node);
        Conductor::launch(
            args,
            Launch {
                netns: Some(ns.to_string()),
                ..launch
            },
        )
    }
    fn address(&self, node: &str, conductor: &Conductor) -> SocketAddr {
        SocketAddr::new(self.node(node).1, conductor.addr.port())
    }
    fn join(&self, node: &str, id: &str, to: SocketAddr, file: &Path) -> Participant {
        let (ns, _) = self.node(node);
        let mut join = Command::new("ip");
        join.args(["netns", "exec", ns, env!("CARGO_BIN_EXE_conductor")])
            .args(["join", "--id", id, "--host"])
            .arg(to.ip().to_string())
            .arg("--port")
            .arg(to.port().to_string())
            .arg("--")
            .args(recorder(file));
        Participant::spawn(join)
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends in it, and with them their peers.
        for (_, ns, _) in &self.nodes {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["netns", "del", &self.hub]);
    }
}

/// Runs `ip ARGS`; its stderr is the error.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

#[test]
fn a_relay_killed_mid_round_leaves_the_root_going_and_its_participants_see_the_end() {
    let mut root = Conductor::start(&["--status-interval-ms", "100"]);
    let mut relay = Conductor::start_relay(&root.addr.to_string(), "r1", &[]);
    let dir = TempDir::new("relay-killed");
    let marker = dir.path("working");
    // A step takes long under the relay; the root's own participant is quick.
    let slow = format!("touch '{}'; sleep 3", marker.display());
    // It rides out an outage of up to a second (a relay restarted), then gives up.
    let window = ["--reconnect-ms", "1000"];
    let mut under = join_with(relay.addr.port(), "under", &window, &["sh", "-c", &slow]);
    let (mut quick, _) = recording(&dir, root.addr.port(), "quick");
    wait_for("the slow step under the relay", DEADLINE, || {
        marker.exists().then_some(())
    });
    relay.child.kill().expect("SIGKILL the relay");
    let _ = relay.child.wait();
    // The root's round completes without the relay, and the next ones go on.
    root.wait_log("left: r1 (127.0.0.1");
    root.wait_log("(connection closed)");
    let step = |root: &Conductor| {
        root.status("status.json")
            .and_then(|s| s["step"].as_u64())
            .unwrap_or(0)
    };
    let after_kill = step(&root);
    wait_for("two more rounds at the root", DEADLINE, || {
        (step(&root) >= after_kill + 2).then_some(())
    });
    let status = under.wait_exit(DEADLINE);
    assert_eq!(status.code(), Some(4), "{}", under.stderr());
    assert!(under.stderr().contains("lost"), "{}", under.stderr());
    root.signal(libc::SIGINT);
    assert_eq!(root.wait_exit(DEADLINE).code(), Some(0));
    assert_eq!(quick.wait_exit(DEADLINE).code(), Some(0));
}

#[test]
fn a_relay_started_before_its_root_connects_when_the_root_comes_up() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("its address").port()
    };
    let mut relay = Conductor::start_relay(&format!("127.0.0.1:{port}"), "r1", &[]);
    let dir = TempDir::new("relay-first");
    let (mut under, file) = recording(&dir, relay.addr.port(), "under");
    relay.wait_log("connecting upstream");
    wait_for("a retry or two", DEADLINE, || {
        relay
            .status("status-r1.json")
            .filter(|s| s["upstream"]["state"] == "reconnecting")
    });
    let mut root = Conductor::start(&["--port", &port.to_string(), "--rounds", "3"]);
    assert_eq!(
        under.wait_exit(DEADLINE).code(),
        Some(0),
        "{}",
        under.stderr()
    );
    read_steps(&file, 3);
    assert_eq!(root.wait_exit(DEADLINE).code(), Some(0));
    assert_eq!(relay.wait_exit(DEADLINE).code(), Some(0));
    relay.wait_log("joined upstream conductor conductor");
}

/// `conductor join` for `id` on `port` whose steps append their number to `dir/id.txt`,
/// riding out outages of up to 30 s.
fn appending(dir: &TempDir, port: u16, id: &str) -> (Participant, PathBuf) {
    let file = dir.path(&format!("{id}.txt"));
    let script = format!(
        "sleep 0.02; echo \"$LOCKSTEP_STEP\" >> '{}'",
        file.display()
    );
    let flags = ["--reconnect-ms", "30000"];
    (join_with(port, id, &flags, &["sh", "-c", &script]), file)
}

/// The steps written to `file` so far.
fn steps_in(file: &Path) -> Vec<u32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("not a step: {l:?}")))
        .collect()
}

#[test]
fn a_root_killed_and_resumed_from_its_state_file_runs_no_step_twice_under_a_relay() {
    const ROUNDS: u32 = 40;
    let dir = TempDir::new("relay-resume");
    let state = dir.path("run.state").display().to_string();
    let rounds = ROUNDS.to_string();
    let root_args = |port: &str| {
        let args = ["--state-file", &state, "--rounds", &rounds];
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        // The relay and the root's own participant: a resumed wave waits for both.
        args.extend(["--min-clients", "2", "--port", port].map(String::from));
        args
    };
    let start_root = |port: &str| {
        let args = root_args(port);
        Conductor::start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let mut root = start_root("0");
    let port = root.addr.port().to_string();
    let upstream = root.addr.to_string();
    let mut relay = Conductor::start_relay(&upstream, "r1", &["--min-clients", "2"]);
    let mut workers = vec![
        appending(&dir, relay.addr.port(), "under1"),
        appending(&dir, relay.addr.port(), "under2"),
        appending(&dir, root.addr.port(), "top"),
    ];
    for kill_at in [8, 20] {
        wait_for(&format!("step {kill_at}"), DEADLINE * 3, || {
            let done = workers.iter().map(|(_, f)| steps_in(f).len()).max();
            (done >= Some(kill_at)).then_some(())
        });
        root.signal(libc::SIGKILL);
        root.wait_exit(DEADLINE);
        root = start_root(&port);
    }
    for (process, file) in &mut workers {
        let status = process.wait_exit(DEADLINE * 6);
        let said = process.stderr();
        assert_eq!(status.code(), Some(0), "{}: {said}", file.display());
        assert_eq!(
            steps_in(file),
            (0..ROUNDS).collect::<Vec<_>>(),
            "{}: {said}",
            file.display()
        );
    }
    assert_eq!(relay.wait_exit(DEADLINE).code(), Some(0), "{}", relay.log());
    assert_eq!(root.wait_exit(DEADLINE).code(), Some(0), "{}", root.log());
    assert!(relay.log().contains("reconnecting"), "{}", relay.log());
}

#[test]
fn run_control_on_a_relay_is_the_roots_but_exempt_and_status_work() {
    let root = Conductor::start(&["--min-clients", "1"]);
    let relay = Conductor::start_relay(&root.addr.to_string(), "r1", &["--min-clients", "1"]);
    let mut a = relay.member("a");
    assert_eq!(a.recv_go(), 0);
    for command in [
        &["pause"][..],
        &["resume"],
        &["step", "2"],
        &["hold-at", "5"],
        &["pace", "100"],
    ] {
        let (code, out, err) = relay.ctl(command);
        assert_eq!((code, out.as_str()), (Some(1), ""), "{command:?}: {err}");
        assert!(
            err.contains("this is a relay") && err.contains("to the root conductor"),
            "{command:?}: {err}"
        );
    }
    let exempt = relay.ctl_ok(&["exempt", "a", "60"]);
    assert!(exempt.contains('a'), "{exempt}");
    let status = relay.ctl_status();
    assert_eq!(status["upstream"]["state"], "connected", "{status}");
    assert_eq!(status["paused"], false, "{status}");
    // The root takes them: a pause there holds the whole tree.
    root.ctl_ok(&["pause"]);
    a.finish();
    root.wait_status("phase paused", |s| s["phase"] == "paused");
}

#[test]
fn a_relay_takes_no_state_file_nor_pace() {
    for (args, key) in [
        (&["--state-file", "run.state"][..], "state_file"),
        (&["--pace-ms", "10"], "pace_ms"),
    ] {
        let mut line = vec!["relay", "--upstream", "127.0.0.1:9", "--id", "r1"];
        line.extend(args);
        let dir = TempDir::new("relay-refuses");
        let (code, _, err) = common::run_to_exit(&dir.0, &line);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains(key) && err.contains("root"), "{err}");
    }
    let dir = TempDir::new("relay-fresh");
    let line = [
        "relay",
        "--upstream",
        "127.0.0.1:9",
        "--id",
        "r1",
        "--fresh",
    ];
    let (code, _, err) = common::run_to_exit(&dir.0, &line);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no state file"), "{err}");
}
