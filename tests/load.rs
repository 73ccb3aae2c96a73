//! Robustness under load, end to end: a client that never reads, a thousand connections opened
//! and closed, two hundred clients sending garbage, and running out of file descriptors. In
//! each, the well-behaved clients must go on exactly as if alone.

// Tests and examples use sockets, clocks, files and threads freely (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};

use common::{hello_bytes, names, raise_fd_limit, run_round, Conductor, Launch, Member, Raw};
use lockstep_proto::participant::Event;
use lockstep_proto::wire::ConductorMsg;

/// Runs `n` rounds with `clients` and checks the steps follow on from `first`.
fn run_rounds(clients: &mut [Member], first: u32, n: u32) {
    for step in first..first + n {
        assert_eq!(run_round(clients), step);
    }
}

#[test]
fn a_client_that_never_reads_is_dropped_while_the_others_run_1000_rounds() {
    let mut conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut good = conductor.members(&names("good", 2));
    assert_eq!(run_round(&mut good), 0);
    // It joins, then asks `?` without end and never reads a single answer.
    let mut deaf = Raw::connect_small_window(conductor.addr);
    deaf.send(&hello_bytes("deaf"));
    let flood = std::thread::spawn(move || {
        let chunk = [b'?'; 16 * 1024];
        let mut sent = 0usize;
        loop {
            match deaf.stream.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) => return (sent, e.kind()),
            }
        }
    });
    run_rounds(&mut good, 1, 1000);
    let (sent, error) = flood.join().expect("flood thread");
    // The conductor dropped it: its writes ended in a closed connection.
    assert!(
        matches!(
            error,
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        ),
        "{error:?} after {sent} bytes"
    );
    conductor.wait_log("dropped: deaf (127.0.0.1:");
    assert!(conductor.log_lines("dropped: deaf")[0].contains("not reading"));
    let s = conductor.wait_status("only the good clients", |s| {
        s["clients"].as_array().is_some_and(|c| c.len() == 2)
    });
    assert!(s["clients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"] != "deaf"));
    conductor.signal(libc::SIGINT);
    conductor.expect_exit(0);
    println!("the client that never read sent {sent} bytes of '?' before it was dropped");
}

#[test]
fn a_thousand_connections_opened_and_closed_rapidly_do_not_disturb_service() {
    let limit = raise_fd_limit(2600);
    let held = (limit.saturating_sub(200) / 2).min(1000) as usize;
    let conductor = Conductor::start_quiet(&["--min-clients", "2"]);
    let mut good = conductor.members(&names("steady", 2));
    let mut step = 0;
    // One after another, in every way of leaving early.
    for i in 0..1000 {
        let mut s = TcpStream::connect(conductor.addr).expect("connect");
        match i % 4 {
            0 => {}
            1 => socket2::SockRef::from(&s)
                .set_linger(Some(std::time::Duration::ZERO))
                .expect("SO_LINGER"),
            2 => s
                .write_all(&hello_bytes("churn")[..5])
                .expect("half a hello"),
            _ => s
                .write_all(&hello_bytes(&format!("churn-{i}")))
                .expect("hello"),
        }
        drop(s);
        if i % 100 == 0 {
            run_rounds(&mut good, step, 1);
            step += 1;
        }
    }
    // All at once, then all gone.
    let crowd: Vec<TcpStream> = (0..held)
        .map(|_| TcpStream::connect(conductor.addr).expect("connect"))
        .collect();
    run_rounds(&mut good, step, 5);
    step += 5;
    drop(crowd);
    run_rounds(&mut good, step, 5);
    step += 5;
    // Still serving newcomers, and none of the churn is left.
    good.push(conductor.member("newcomer"));
    let s = conductor.wait_status("three members", |s| {
        s["clients"].as_array().is_some_and(|c| c.len() == 3)
    });
    assert_eq!(s["phase"], "running");
    // The round running when it joined goes on without it; the next wave includes it.
    assert_eq!(run_round(&mut good[..2]), step);
    run_rounds(&mut good, step + 1, 3);
    println!("{held} connections were held at once");
}

/// A small deterministic generator for garbage bytes.
struct Garbage(u64);

impl Garbage {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }

    /// A first byte that starts no client message, then random bytes.
    fn burst(&mut self, len: usize) -> Vec<u8> {
        let mut bytes: Vec<u8> = (0..len).map(|_| self.next()).collect();
        while b"AK!W.?XR".contains(&bytes[0]) {
            bytes[0] = self.next();
        }
        bytes
    }
}

/// What a garbage client gets: a hello, then a refusal, then the close.
fn expect_refused(addr: SocketAddr, mut s: TcpStream) -> String {
    s.set_read_timeout(Some(common::DEADLINE)).unwrap();
    let mut got = Vec::new();
    match s.read_to_end(&mut got) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("reading from {addr}: {e}"),
    }
    let mut rest = &got[..];
    let mut msgs = Vec::new();
    while let Ok(Some((msg, n))) = ConductorMsg::decode(rest) {
        msgs.push(msg);
        rest = &rest[n..];
    }
    // A hello that arrives apart from the garbage after it may make it a participant first.
    match msgs.as_slice() {
        [ConductorMsg::Hello(_), gos @ .., ConductorMsg::Refusal(reason)]
            if gos.iter().all(|m| matches!(m, ConductorMsg::Go(_))) =>
        {
            reason.as_str().to_string()
        }
        other => panic!("expected a hello and a refusal, got {other:?}"),
    }
}

#[test]
fn two_hundred_clients_sending_garbage_leave_five_good_ones_unaffected() {
    raise_fd_limit(1024);
    let conductor = Conductor::start_quiet(&["--min-clients", "5", "--max-clients", "300"]);
    let addr = conductor.addr;
    let mut good = conductor.members(&names("good", 5));
    let vandals = std::thread::spawn(move || {
        let mut garbage = Garbage(0x9e37_79b9_7f4a_7c15);
        let mut reasons = Vec::new();
        for batch in 0..2 {
            let mut streams: Vec<TcpStream> = (0..200)
                .map(|_| TcpStream::connect(addr).expect("connect"))
                .collect();
            for (i, s) in streams.iter_mut().enumerate() {
                let bytes = match i % 4 {
                    // Bytes that start no message.
                    0 => garbage.burst(2048),
                    // A good hello, then garbage.
                    1 => [hello_bytes(&format!("v{batch}-{i}")), garbage.burst(512)].concat(),
                    // A refusal whose length is far over the limit.
                    2 => [b"R".as_slice(), &u32::MAX.to_le_bytes(), &garbage.burst(64)].concat(),
                    // A hello of another version.
                    _ => {
                        let mut h = hello_bytes("vandal");
                        h[1] = garbage.next() | 0x80;
                        h
                    }
                };
                let _ = s.write_all(&bytes);
            }
            for s in streams {
                reasons.push(expect_refused(addr, s));
            }
        }
        reasons
    });
    run_rounds(&mut good, 0, 300);
    let reasons = vandals.join().expect("vandals");
    assert_eq!(reasons.len(), 400);
    assert!(reasons.iter().all(|r| !r.is_empty()));
    assert!(
        reasons.iter().any(|r| r.contains("unknown message type")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("refusal length")));
    assert!(reasons
        .iter()
        .any(|r| r.contains("unsupported protocol version")));
    run_rounds(&mut good, 300, 10);
    let s = conductor.wait_status("the five good members", |s| {
        s["clients"].as_array().is_some_and(|c| c.len() == 5)
    });
    assert!(s["clients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["id"].as_str().unwrap().starts_with("good-")));
}

#[test]
fn running_out_of_file_descriptors_backs_off_and_keeps_serving() {
    let conductor = Conductor::launch(
        &common::quiet(&["--min-clients", "2", "--hello-timeout-ms", "0"]),
        Launch {
            max_fds: Some(48),
            ..Launch::default()
        },
    );
    let mut good = conductor.members(&names("serve", 2));
    run_rounds(&mut good, 0, 3);
    // More connections than the conductor has descriptors for; the kernel queues the rest.
    let mut extra: Vec<TcpStream> = (0..80)
        .map(|_| TcpStream::connect(conductor.addr).expect("connect"))
        .collect();
    conductor.wait_log("cannot accept: ");
    run_rounds(&mut good, 3, 50);
    assert_eq!(
        conductor.log_lines("cannot accept: ").len(),
        1,
        "warned once per shortage"
    );
    // Freeing descriptors lets it accept again: the queued connections and a newcomer.
    extra.clear();
    let mut newcomer = conductor.member("newcomer");
    newcomer.ping();
    newcomer.expect(Event::Here);
    conductor.wait_log("accepting connections again");
    let _ = run_round(&mut good);
    good.push(newcomer);
    run_rounds(&mut good, 54, 3);
}
