//! Faults end to end against the real binary: clients killed or frozen mid-round, a slowloris
//! hello, a client that never reads, a crowd beyond `max_clients`, running out of file
//! descriptors, status files that cannot be written, a log pipe nobody reads and a flood of
//! bare connects. In each the conductor keeps serving the others.

// End-to-end tests start processes, open sockets and watch the clock.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::faults::{
    connect_with_small_receive_buffer, cpu_seconds, join_all, limit_fds, lowest_free_fd,
    raise_fd_limit, round, wave, ProcessClient,
};
use common::{hello_bytes, wait_for, Conductor, Heard, Launch, Member, TempDir, DEADLINE};
use lockstep_proto::participant::Event;
use lockstep_proto::wire::ConductorMsg;

#[test]
fn clients_killed_with_sigkill_mid_round_do_not_hold_the_round() {
    let conductor = Conductor::start(&["--min-clients", "4", "--status-interval-ms", "20"]);
    // Two client processes: one acknowledges its Go (Working), one does not (GoSent).
    let mut working = ProcessClient::spawn(conductor.addr, "doomed-k", true);
    let mut go_sent = ProcessClient::spawn(conductor.addr, "doomed-go", false);
    working.expect_line("hello");
    go_sent.expect_line("hello");
    let mut live = join_all(&conductor, "live", 2);
    assert_eq!(working.expect_line("go"), "go 0");
    assert_eq!(go_sent.expect_line("go"), "go 0");
    assert_eq!(round(&mut live), 0);
    // The round now waits only on the two processes.
    wait_for("the round to wait on the two processes", DEADLINE, || {
        let status = conductor.status("status.json")?;
        let mut waiting: Vec<String> = status["waiting_on"]
            .as_array()?
            .iter()
            .filter_map(|v| Some(v.as_str()?.to_string()))
            .collect();
        waiting.sort();
        (waiting == ["doomed-go", "doomed-k"]).then_some(())
    });

    working.kill9();
    go_sent.kill9();

    conductor.wait_log("round end: step 0");
    let log = conductor.log();
    assert!(log.contains("left: doomed-k"), "{log}");
    assert!(log.contains("left: doomed-go"), "{log}");
    // The next wave needs four ready clients again; with two newcomers it goes out.
    live.extend(join_all(&conductor, "late", 2));
    assert_eq!(round(&mut live), 1);
    assert_eq!(round(&mut live), 2);
}

#[test]
fn a_frozen_client_is_dropped_after_drop_after_ms_and_the_round_completes() {
    const DROP_AFTER: Duration = Duration::from_millis(600);
    let conductor = Conductor::start(&["--probe-after-ms", "100", "--drop-after-ms", "600"]);
    let spawned = Instant::now();
    // The first client to be ready gets the first wave alone, acknowledges it, and then its
    // process is stopped: the socket stays open, the kernel keeps acknowledging, nobody answers.
    let mut frozen = ProcessClient::spawn(conductor.addr, "frozen", true);
    frozen.expect_line("hello");
    assert_eq!(frozen.expect_line("go"), "go 0");
    frozen.signal(libc::SIGSTOP);

    // Clients joining now wait for the next wave, answering probes meanwhile.
    let mut live = join_all(&conductor, "live", 2);
    assert_eq!(wave(&mut live), 1);
    let waited = spawned.elapsed();
    assert!(
        waited >= DROP_AFTER,
        "round 0 ended after {waited:?}, before drop_after_ms"
    );
    conductor.wait_log("liveness timeout");
    let log = conductor.log();
    assert!(log.contains("refused: frozen"), "{log}");
    for c in live.iter_mut() {
        c.finish();
    }
    assert_eq!(round(&mut live), 2);
    frozen.kill9();
}

#[test]
fn a_slowloris_hello_is_refused_at_the_hello_timeout() {
    const HELLO_TIMEOUT: Duration = Duration::from_millis(500);
    let conductor = Conductor::start(&["--hello-timeout-ms", "500"]);
    let mut honest = vec![conductor.member("honest")];
    // Taken before connecting: the conductor may accept (and start the hello timeout) before
    // connect() returns here.
    let connected = Instant::now();
    let mut slow = conductor.connect();
    assert!(matches!(slow.recv(), ConductorMsg::Hello(_)));

    let bytes = hello_bytes("slowloris");
    let mut sent = 0;
    let mut rounds = 0;
    // One byte of the hello every 100 ms (the whole hello would take 1.4 s); meanwhile the
    // honest client runs rounds.
    let answer = loop {
        assert!(
            connected.elapsed() < DEADLINE,
            "no answer to the slow hello"
        );
        if sent < bytes.len() && slow.stream.write_all(&bytes[sent..=sent]).is_ok() {
            sent += 1;
        }
        round(&mut honest);
        rounds += 1;
        match slow.listen(Duration::from_millis(100)) {
            Heard::Msg(msg) => break msg,
            Heard::Silence => {}
            Heard::Closed => panic!("closed without a refusal"),
        }
    };
    match answer {
        ConductorMsg::Refusal(reason) => {
            assert_eq!(reason.as_str(), "hello timeout: no hello within 500 ms")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(connected.elapsed() >= HELLO_TIMEOUT);
    assert!(
        sent < bytes.len(),
        "the whole hello went out ({sent} bytes)"
    );
    assert!(
        matches!(slow.listen(DEADLINE), Heard::Closed),
        "the connection stays open after the refusal"
    );
    assert!(rounds >= 3, "the honest client ran only {rounds} rounds");
    round(&mut honest);
}

#[test]
fn a_client_that_never_reads_is_dropped_when_its_queue_is_full() {
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let mut readers = join_all(&conductor, "reader", 2);
    assert_eq!(round(&mut readers), 0);
    // Round 1 runs; the readers hold it while the staller floods.
    assert_eq!(wave(&mut readers), 1);

    // The staller says hello, then sends pings without ever reading the answers.
    let mut staller = connect_with_small_receive_buffer(conductor.addr);
    staller.write_all(&hello_bytes("staller")).expect("hello");
    let flood = std::thread::spawn(move || {
        let pings = vec![b'?'; 64 * 1024];
        let mut total: u64 = 0;
        while total < (1 << 30) {
            if let Err(e) = staller.write_all(&pings) {
                return Err(e.to_string());
            }
            total += pings.len() as u64;
        }
        Ok(total)
    });

    // The readers are answered throughout.
    wait_for("the staller to be dropped", Duration::from_secs(60), || {
        for c in readers.iter_mut() {
            c.ping();
            c.expect(Event::Here);
        }
        conductor.log().contains("dropped: staller").then_some(())
    });
    let flooded = flood.join().expect("flood thread");
    assert!(
        flooded.is_err(),
        "the staller's connection outlived {flooded:?} bytes"
    );
    assert!(conductor.log().contains("not reading"));

    // The staller never took part in a round; the readers go on.
    for c in readers.iter_mut() {
        c.finish();
    }
    assert_eq!(round(&mut readers), 2);
    assert_eq!(round(&mut readers), 3);
}

#[test]
fn five_thousand_connections_beyond_max_clients_are_refused_full() {
    const CROWD: usize = 5000;
    let limit = raise_fd_limit();
    assert!(
        limit > CROWD as u64 + 200,
        "this test needs a descriptor limit above {CROWD} (hard limit {limit})"
    );
    let conductor = Conductor::start(&["--min-clients", "4", "--max-clients", "4"]);
    let mut members = join_all(&conductor, "member", 4);
    assert_eq!(round(&mut members), 0);

    let mut crowd: Vec<_> = (0..CROWD).map(|_| conductor.connect()).collect();
    for (i, c) in crowd.iter_mut().enumerate() {
        c.send(&hello_bytes(&format!("crowd-{i}")));
    }
    // The members' rounds go on while the crowd is turned away.
    assert_eq!(round(&mut members), 1);
    for c in crowd.iter_mut() {
        assert!(matches!(c.recv(), ConductorMsg::Hello(_)));
        assert_eq!(c.recv_refusal(), "full");
    }
    assert_eq!(round(&mut members), 2);
    drop(crowd);
    assert_eq!(round(&mut members), 3);
    // Logged or counted, each one; not a line each.
    wait_for("every refusal to be accounted for", DEADLINE, || {
        (conductor.refusals_logged(": full", "full") == CROWD as u64).then_some(())
    });
    assert!(conductor.log_lines(": full").len() < CROWD / 10);
}

#[test]
fn running_out_of_file_descriptors_keeps_rounds_going_without_spinning() {
    let conductor = Conductor::start(&[
        "--min-clients",
        "4",
        "--probe-after-ms",
        "1000",
        "--status-json",
        "",
        "--status-txt",
        "",
    ]);
    let pid = conductor.child.id();
    let mut members = join_all(&conductor, "member", 4);
    assert_eq!(round(&mut members), 0);

    // Leave the conductor no free descriptor, then let three newcomers connect. The kernel
    // queues them; the conductor cannot accept them.
    limit_fds(pid, lowest_free_fd(pid));
    let mut newcomers: Vec<_> = (0..3)
        .map(|i| Member::connect(conductor.addr, &format!("newcomer-{i}")))
        .collect();
    conductor.wait_log("cannot accept");

    // The members keep their rounds.
    assert_eq!(round(&mut members), 1);
    assert_eq!(round(&mut members), 2);

    // A quiet stretch while descriptors stay exhausted: the members acknowledge step 3 and
    // go silent until the conductor probes them (after 1 s). It must sleep meanwhile.
    assert_eq!(wave(&mut members), 3);
    for c in members.iter_mut() {
        c.ack();
    }
    let (wall_start, cpu_start) = (Instant::now(), cpu_seconds(pid));
    for c in members.iter_mut() {
        c.expect(Event::Probed);
    }
    let wall = wall_start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_start;
    println!("descriptors exhausted: {cpu:.3} s of CPU in {wall:.3} s");
    assert!(
        cpu < 0.5 * wall,
        "the conductor used {cpu:.3} s of CPU in {wall:.3} s: it spins"
    );
    let log = conductor.log();
    assert_eq!(
        log.matches("cannot accept").count(),
        1,
        "one warning for the whole stretch: {log}"
    );
    for c in newcomers.iter_mut() {
        assert!(
            matches!(c.listen(Duration::from_millis(1)), Heard::Silence),
            "a newcomer was served without a descriptor"
        );
    }
    for c in members.iter_mut() {
        c.done();
    }

    // Three members leave mid-round: their descriptors free up and the newcomers get in.
    assert_eq!(wave(&mut members), 4);
    members.truncate(1);
    for c in newcomers.iter_mut() {
        assert!(matches!(c.next_event(), Event::Hello(_)));
    }
    conductor.wait_log("accepting connections again");
    members[0].finish();
    members.extend(newcomers);
    assert_eq!(round(&mut members), 5);
    assert_eq!(round(&mut members), 6);
}

#[test]
fn an_unwritable_status_directory_is_logged_and_rounds_go_on() {
    let dir = TempDir::new("status-fault");
    let state = dir.path("state");
    std::fs::create_dir(&state).expect("state dir");
    let conductor = Conductor::start_in(
        dir,
        &[
            "--min-clients",
            "2",
            "--status-json",
            "state/status.json",
            "--status-txt",
            "state/status.txt",
            "--status-interval-ms",
            "20",
        ],
    );
    let mut clients = join_all(&conductor, "c", 2);
    let waves = |conductor: &Conductor| {
        conductor
            .status("state/status.json")
            .and_then(|s| s["waves_sent"].as_u64())
    };
    wait_for("status.json", DEADLINE, || {
        round(&mut clients);
        waves(&conductor).filter(|&w| w >= 2)
    });

    // Replace the directory by a plain file. (Removing write permission would not do: the
    // tests may run as root, whom permissions do not stop.) The directory is moved aside in
    // one step, since the conductor may be writing into it right now.
    std::fs::rename(&state, conductor.dir.path("state.old")).expect("move state dir");
    std::fs::write(&state, "not a directory").expect("state file");
    wait_for("the failure to be logged", DEADLINE, || {
        round(&mut clients);
        conductor
            .log()
            .contains("cannot write state/status.json")
            .then_some(())
    });
    assert!(conductor.log().contains("rounds go on"));
    let first = round(&mut clients);
    for i in 1..20 {
        assert_eq!(round(&mut clients), first + i);
    }
    let log = conductor.log();
    assert_eq!(
        log.matches("cannot write state/status.json").count(),
        1,
        "the same failure is logged once: {log}"
    );

    // Once the directory is back, the files are written again.
    std::fs::remove_file(&state).expect("remove state file");
    std::fs::create_dir(&state).expect("state dir again");
    let written = wait_for("status.json to be written again", DEADLINE, || {
        round(&mut clients);
        waves(&conductor).filter(|&w| w > u64::from(first) + 19)
    });
    assert!(written > 20);
    conductor.wait_log("status files are written again");
}

#[test]
fn a_client_pipelining_many_pings_while_reading_is_not_dropped() {
    const PINGS: usize = 1 << 20;
    let conductor = Conductor::start(&["--min-clients", "2"]);
    let mut client = conductor.join("pipeliner");
    let mut reader = client.stream.try_clone().expect("clone");
    let answers = std::thread::spawn(move || {
        use std::io::Read;
        reader
            .set_read_timeout(Some(DEADLINE))
            .expect("read timeout");
        let mut got = 0;
        let mut chunk = vec![0u8; 64 * 1024];
        while got < PINGS {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    assert!(chunk[..n].iter().all(|&b| b == b'.'), "not an answer");
                    got += n;
                }
            }
        }
        got
    });
    client.send(&vec![b'?'; PINGS]);
    assert_eq!(
        answers.join().expect("reader"),
        PINGS,
        "every ping answered"
    );
    assert!(!conductor.log().contains("dropped"), "{}", conductor.log());
}

/// Answers the conductor's probes until nothing more has arrived for a moment; a member that
/// was refused fails the test.
fn answer_probes(member: &mut Member) {
    loop {
        // The member's machine answers a probe as it reads it.
        match member.listen(Duration::from_millis(1)) {
            Heard::Msg(Event::Probed | Event::Here) => {}
            Heard::Silence => return,
            Heard::Msg(other) => panic!("the member got {other:?}"),
            Heard::Closed => panic!("the member's connection was closed"),
        }
    }
}

#[test]
fn a_log_pipe_nobody_reads_while_strangers_are_refused_gets_no_member_dropped() {
    const STRANGERS: usize = 2000;
    let limit = raise_fd_limit();
    assert!(
        limit > 2 * STRANGERS as u64 + 200,
        "this test needs a descriptor limit above {} (hard limit {limit})",
        2 * STRANGERS
    );
    let mut conductor = Conductor::launch(
        &[
            "--max-clients",
            "1",
            "--probe-after-ms",
            "100",
            "--drop-after-ms",
            "500",
            "--slow-round-ms",
            "0",
            // Refusals of strangers are summarised; at trace every message they send is a
            // line of its own, enough to fill the pipe.
            "--log-level",
            "trace",
        ],
        Launch {
            stall_log: true,
            ..Launch::default()
        },
    );
    let mut member = conductor.member("member");
    assert_eq!(member.recv_go(), 0);
    member.ack();
    // Strangers say hello and are refused `full`, each with several lines of log, until the log
    // pipe that nobody reads is full and the conductor blocks writing to it. The member
    // answers its probes throughout.
    let mut strangers = Vec::with_capacity(STRANGERS);
    for i in 0..STRANGERS {
        let mut stranger = conductor.connect();
        stranger.send(&hello_bytes(&format!("stranger{i}")));
        strangers.push(stranger);
        if i % 20 == 0 {
            answer_probes(&mut member);
        }
    }
    wait_for("the conductor to block on its log", DEADLINE, || {
        answer_probes(&mut member);
        conductor.blocked_writing_log().then_some(())
    });
    // It stays blocked for three times `drop_after_ms`.
    let blocked = Instant::now();
    while blocked.elapsed() < Duration::from_millis(1500) {
        answer_probes(&mut member);
    }
    assert!(
        conductor.blocked_writing_log(),
        "the log write went through"
    );

    // Once the log is read, the conductor goes on: it refuses every stranger, and the member,
    // which has heard nothing meanwhile and so had nothing to answer, is still a member.
    let log = common::collect(conductor.unread_stderr.take().expect("the unread stderr"));
    wait_for("every stranger to be refused", DEADLINE, || {
        answer_probes(&mut member);
        (common::refusals_in(&log.lock().unwrap(), ": full", "full") == STRANGERS as u64)
            .then_some(())
    });
    member.ping();
    loop {
        match member.next_event() {
            Event::Probed => {}
            event => {
                assert_eq!(event, Event::Here);
                break;
            }
        }
    }
    let log = log.lock().unwrap().clone();
    assert!(!log.contains("liveness timeout"), "{log}");
    drop(strangers);
}

#[test]
fn a_flood_of_bare_connects_does_not_starve_a_member() {
    const THREADS: usize = 8;
    const CONNECTS: usize = 1000;
    let limit = raise_fd_limit();
    assert!(
        limit > (2 * THREADS * CONNECTS) as u64 + 200,
        "this test needs a descriptor limit above {} (hard limit {limit})",
        2 * THREADS * CONNECTS
    );
    let conductor = Conductor::start(&[
        "--probe-after-ms",
        "100",
        "--drop-after-ms",
        "300",
        "--status-interval-ms",
        "0",
    ]);
    let mut member = vec![conductor.member("member")];
    assert_eq!(round(&mut member), 0);
    // Strangers connect from eight threads, faster than the conductor accepts them (at the
    // debug level each accept also logs a line), send nothing and stay connected.
    let addr = conductor.addr;
    let flood: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(move || {
                (0..CONNECTS)
                    .filter_map(|_| std::net::TcpStream::connect(addr).ok())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // The member's rounds go on during the flood and after it.
    let mut rounds = 0;
    while !flood.iter().all(|f| f.is_finished()) {
        round(&mut member);
        rounds += 1;
    }
    let strangers: Vec<_> = flood
        .into_iter()
        .flat_map(|f| f.join().expect("flood thread"))
        .collect();
    for _ in 0..10 {
        round(&mut member);
    }
    println!(
        "{rounds} rounds during a flood of {} connects",
        strangers.len()
    );
    let log = conductor.log();
    assert!(!log.contains("refused: member"), "{log}");
}
