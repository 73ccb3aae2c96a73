//! A conductor on plain threads: how to drive the sans-IO core from an event loop of your own.
//!
//! The `conductor` binary drives `lockstep_proto::core::Conductor` from a mio readiness loop. This
//! example drives the same core with nothing but the standard library: one thread accepts, each
//! connection has a reading and a writing thread, and one thread owns the core. Everything
//! reaches that thread as a message on one channel; it is the only one that reads the clock,
//! and it follows the core's contract: after every input, act on every output, then wait for
//! the next message or the core's next deadline, whichever comes first.
//!
//! ```sh
//! cargo run --example threaded_server -- 127.0.0.1:7878 2 5
//! ```
//!
//! serves rounds on 127.0.0.1:7878 as soon as 2 clients are ready and ends after 5 rounds.
//! Signals and status files are left out, and only a few of the core's events are printed;
//! the binary shows all three.

// An embedding does the I/O itself: sockets, threads and the clock (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;

use lockstep_proto::core::{Conductor, ConnId, CoreConfig, Event as CoreEvent, Input, Output};
use lockstep_proto::round::EndKind;
use lockstep_proto::time::{Duration, Instant};
use lockstep_proto::wire::Id;

/// How long queued bytes may take to reach the clients once the conductor has ended.
const DRAIN: Duration = Duration::from_millis(2_000);

/// What the I/O threads tell the core thread. Connections are named by a number of our own,
/// never reused: the core reuses a `ConnId` once that connection is closed, and a reading
/// thread may still report on the old one.
enum Event {
    Accepted(TcpStream, SocketAddr),
    Received(u64, Vec<u8>),
    /// The writing thread wrote this many bytes.
    Written(u64, usize),
    Closed(u64),
}

/// One open connection, as the core thread knows it.
struct Peer {
    conn: ConnId,
    stream: TcpStream,
    /// Hands bytes to the writing thread; dropped to stop it.
    writer: Sender<Vec<u8>>,
    /// Bytes are with the writing thread; the next batch waits for its report.
    writing: bool,
}

/// Tells the operator about joins, refusals and the end; the core outputs much more (waves,
/// round ends, leaves, ...), for a driver to log as it likes.
fn report(event: &CoreEvent) {
    match event {
        CoreEvent::Joined { id, peer, .. } => eprintln!("joined: {id} from {peer}"),
        CoreEvent::Refused { who, reason, .. } => eprintln!("refused: {}: {reason}", who.peer),
        CoreEvent::Ending(kind) => eprintln!("ending: {kind}"),
        _ => {}
    }
}

/// Runs a conductor on `listener` until it ends; returns how it ended.
pub fn serve(listener: TcpListener, config: CoreConfig) -> EndKind {
    let (events, inbox) = mpsc::channel();
    accept_on(listener, events.clone());
    let origin = std::time::Instant::now();
    let clock = || Instant::from_micros(origin.elapsed().as_micros() as u64);
    let mut core = Conductor::new(config, clock());
    let mut peers: HashMap<u64, Peer> = HashMap::new();
    let mut keys: HashMap<ConnId, u64> = HashMap::new();
    let mut next_key = 0;
    let mut exit: Option<(EndKind, Instant)> = None;
    loop {
        // Act on everything the core wants done.
        while let Some(output) = core.poll_output() {
            match output {
                Output::Transmit(conn) => {
                    if let Some(peer) = keys.get(&conn).and_then(|k| peers.get_mut(k)) {
                        write_next(&core, peer);
                    }
                }
                Output::Close(conn) => {
                    if let Some(peer) = keys.remove(&conn).and_then(|k| peers.remove(&k)) {
                        // Everything queued was written; the reading thread ends when the
                        // client closes its side.
                        let _ = peer.stream.shutdown(Shutdown::Write);
                    }
                }
                Output::StatusDue => {} // render core.status(now) here to keep status files
                Output::Persist(_) => {} // only with `persist`: write it before any more bytes
                Output::Event(event) => report(&event),
                Output::Exit(kind) => exit = Some((kind, clock() + DRAIN)),
            }
        }
        if let Some((kind, deadline)) = &exit {
            if core.connection_count() == 0 || clock() >= *deadline {
                return kind.clone();
            }
        }

        // Wait for the next event or deadline, then hand it to the core.
        let deadlines = [core.poll_timeout(), exit.as_ref().map(|(_, d)| *d)];
        let event = match deadlines.into_iter().flatten().min() {
            Some(at) => inbox.recv_timeout(at.saturating_since(clock()).into()),
            None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let now = clock();
        match event {
            Err(_) => core.handle_input(now, Input::Tick), // a deadline passed
            Ok(Event::Accepted(stream, addr)) => {
                let (Ok(reading), Ok(writing)) = (stream.try_clone(), stream.try_clone()) else {
                    continue; // out of descriptors: the client sees its connection close
                };
                let conn = core.accept(now, addr);
                let key = next_key;
                next_key += 1;
                read_from(key, reading, events.clone());
                let writer = write_to(key, writing, events.clone());
                let peer = Peer {
                    conn,
                    stream,
                    writer,
                    writing: false,
                };
                peers.insert(key, peer);
                keys.insert(conn, key);
            }
            Ok(Event::Received(key, bytes)) => {
                if let Some(peer) = peers.get(&key) {
                    let conn = peer.conn;
                    core.handle_input(
                        now,
                        Input::Received {
                            conn,
                            bytes: &bytes,
                        },
                    );
                }
            }
            Ok(Event::Written(key, n)) => {
                if let Some(peer) = peers.get_mut(&key) {
                    peer.writing = false;
                    core.handle_input(now, Input::Sent { conn: peer.conn, n });
                    write_next(&core, peer); // bytes queued while that batch was out
                }
            }
            Ok(Event::Closed(key)) => {
                if let Some(peer) = peers.get(&key) {
                    core.handle_input(now, Input::Closed { conn: peer.conn });
                }
            }
        }
        if core.poll_timeout().is_some_and(|at| at <= now) {
            core.handle_input(now, Input::Tick);
        }
    }
}

/// Hands what the core has queued for `peer` to its writing thread, one batch at a time: the
/// bytes stay counted in the core until the thread reports them written.
fn write_next(core: &Conductor, peer: &mut Peer) {
    let pending = core.pending(peer.conn);
    if !peer.writing && !pending.is_empty() && peer.writer.send(pending.to_vec()).is_ok() {
        peer.writing = true;
    }
}

/// Accepts connections for as long as the process runs.
fn accept_on(listener: TcpListener, events: Sender<Event>) {
    thread::spawn(move || {
        for stream in listener.incoming() {
            let accepted = stream.and_then(|s| Ok((s.peer_addr()?, s)));
            match accepted {
                Ok((addr, stream)) => {
                    let _ = stream.set_nodelay(true);
                    if events.send(Event::Accepted(stream, addr)).is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    });
}

/// Reads until the client closes its connection.
fn read_from(key: u64, mut stream: TcpStream, events: Sender<Event>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if events
                        .send(Event::Received(key, buf[..n].to_vec()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
        let _ = events.send(Event::Closed(key));
    });
}

/// Writes each batch it is handed and reports it; ends when the connection closes.
fn write_to(key: u64, mut stream: TcpStream, events: Sender<Event>) -> Sender<Vec<u8>> {
    let (batches, inbox) = mpsc::channel::<Vec<u8>>();
    thread::spawn(move || {
        for batch in inbox {
            let report = match stream.write_all(&batch) {
                Ok(()) => Event::Written(key, batch.len()),
                Err(_) => Event::Closed(key),
            };
            if events.send(report).is_err() {
                return;
            }
        }
    });
    batches
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let address = args.first().map_or("127.0.0.1:7878", String::as_str);
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let listener = match TcpListener::bind(address) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {address}: {e}");
            std::process::exit(1);
        }
    };
    let mut config = CoreConfig::new(Id::new("threaded").expect("a valid id"));
    config.rounds.min_clients = number(1, 1) as u32;
    config.rounds.rounds = number(2, 0);
    match listener.local_addr() {
        Ok(bound) => println!("listening on {bound}"),
        Err(_) => println!("listening on {address}"),
    }
    let end = serve(listener, config);
    println!("ended: {end:?}");
    std::process::exit(end.exit_code());
}
