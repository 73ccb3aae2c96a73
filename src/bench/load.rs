//! The load generator of `conductor bench`: N simulated clients in one mio loop on one thread.
//! Each connects, sends its hello at once, and answers every Go with `K!`, at once or after a
//! simulated piece of work timed by a timerfd in the same loop (the loop never blocks on it).
//! Connections are opened a window at a time so a burst of thousands never overflows the
//! server's accept queue. Each socket stays registered for reading and writing (the loop is
//! edge-triggered, so an idle writable socket does not wake it), which saves re-registering
//! it whenever a write is left over. Each client's session is a
//! [`Participant`] state machine, which decodes and checks what the server sends, answers its
//! probes and encodes the answers; the loop only moves bytes and says when to answer a Go.
//! Over TLS each client also has a sans-IO `rustls` session between its socket and its
//! machine ([`lockstep::tls::pump`]).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use lockstep::tls::pump;
use lockstep::tls::words::{self, Side};
use lockstep_proto::participant::{Event, Participant};
use lockstep_proto::wire::Id;
use rustls::{ClientConnection, Connection};

use super::check::{Checker, Violations};
use crate::driver::TimerFd;

/// Connections opened but not yet greeted by the server, at most.
const CONNECT_WINDOW: usize = 512;
/// Size of the shared read buffer.
const READ_CHUNK: usize = 64 * 1024;
/// A run with no event for this long has stalled.
const STALL: Duration = Duration::from_secs(30);
/// The token of the work timer; clients use their index.
const TIMER: Token = Token(usize::MAX - 1);

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The server.
    pub addr: SocketAddr,
    /// When not empty, client i connects to `spread[i % len]` instead (the relays of a
    /// tree).
    pub spread: Vec<SocketAddr>,
    /// Simulated clients.
    pub clients: usize,
    /// Waves to take part in before leaving: warm-up, measured rounds and one more whose
    /// first Go ends the last measured round.
    pub waves: u64,
    /// Simulated work between a Go and its answer.
    pub work: Duration,
    /// The number in the first client's id (`bench0000000`); the others follow.
    pub first_id: u64,
    /// A server process whose peak memory is read once every client has its first Go, and
    /// whose CPU time is read when the measured rounds begin and end.
    pub server_pid: Option<u32>,
    /// Waves before the measured rounds.
    pub warmup: u64,
    /// TLS for every client; `None` = plaintext.
    pub tls: Option<super::tls::ClientTls>,
}

/// What the load generator saw.
#[derive(Clone, Debug)]
pub struct LoadOutcome {
    /// Until every client was connected with both hellos done.
    pub connect: Duration,
    /// When each wave began (its first Go), microseconds after the start.
    pub wave_starts_us: Vec<u64>,
    /// Protocol violations seen.
    pub violations: Violations,
    /// The server's VmHWM in KiB when every client had its first Go.
    pub server_peak_kib: Option<u64>,
    /// The server's VmRSS in KiB at the same moment: what the connected clients hold.
    pub server_rss_kib: Option<u64>,
    /// CPU time over the measured rounds, nanoseconds: the server's and this process's.
    pub server_cpu_ns: Option<u64>,
    /// This process's CPU time over the measured rounds, nanoseconds.
    pub client_cpu_ns: Option<u64>,
}

/// CPU times read when the measured rounds begin.
#[derive(Clone, Copy, Debug, Default)]
struct CpuMark {
    server: Option<u64>,
    client: Option<u64>,
}

impl CpuMark {
    fn read(server_pid: Option<u32>) -> CpuMark {
        CpuMark {
            server: server_pid.and_then(super::procfs::cpu_ns),
            client: super::procfs::cpu_ns(std::process::id()),
        }
    }
}

/// The id of client number `n`.
pub fn client_id(n: u64) -> Result<Id, String> {
    Id::new(&format!("bench{n:07}")).map_err(|e| format!("client number {n}: {e}"))
}

struct Client {
    stream: TcpStream,
    connected: bool,
    /// The session: what was received, what is still to be written.
    session: Participant,
    /// The TLS session, over TLS.
    tls: Option<Box<Connection>>,
    /// Some byte has arrived from the server.
    heard: bool,
}

struct Load {
    spec: LoadSpec,
    poll: Poll,
    start: Instant,
    /// The time of the events being handled.
    now: Instant,
    clients: Vec<Client>,
    ids: Vec<Id>,
    greeted: usize,
    connect_time: Option<Duration>,
    checker: Checker,
    /// Answers due, in deadline order (all works take the same time).
    due: VecDeque<(Instant, usize)>,
    timer: Option<TimerFd>,
    buffer: Vec<u8>,
    /// Plaintext of the last TLS chunk.
    plain: Vec<u8>,
    server_peak_kib: Option<u64>,
    server_rss_kib: Option<u64>,
    memory_read: bool,
    /// CPU times when the measured rounds began, and how much they grew by their end.
    cpu_start: Option<CpuMark>,
    cpu_used: Option<CpuMark>,
}

/// Runs the clients until they have taken part in `spec.waves` waves, then sends `X` and
/// closes. Fails on anything that stops the run: a refusal, a connection lost, a server that
/// breaks the protocol (bytes that are no message, a message out of turn), or no event for 30
/// seconds.
pub fn run(spec: LoadSpec) -> Result<LoadOutcome, String> {
    let poll = Poll::new().map_err(|e| format!("cannot create the event loop: {e}"))?;
    let timer = if spec.work.is_zero() {
        None
    } else {
        let timer = TimerFd::new().map_err(|e| format!("cannot create a timer: {e}"))?;
        poll.registry()
            .register(&mut timer.source(), TIMER, Interest::READABLE)
            .map_err(|e| format!("cannot watch the timer: {e}"))?;
        Some(timer)
    };
    let ids = (0..spec.clients as u64)
        .map(|i| client_id(spec.first_id + i))
        .collect::<Result<Vec<_>, _>>()?;
    let now = Instant::now();
    let mut load = Load {
        checker: Checker::new(spec.clients),
        clients: Vec::with_capacity(spec.clients),
        spec,
        poll,
        start: now,
        now,
        ids,
        greeted: 0,
        connect_time: None,
        due: VecDeque::new(),
        timer,
        buffer: vec![0; READ_CHUNK],
        plain: Vec::new(),
        server_peak_kib: None,
        server_rss_kib: None,
        memory_read: false,
        cpu_start: None,
        cpu_used: None,
    };
    load.run()?;
    Ok(LoadOutcome {
        connect: load.connect_time.unwrap_or_default(),
        wave_starts_us: load.checker.wave_starts().to_vec(),
        violations: load.checker.violations(),
        server_peak_kib: load.server_peak_kib,
        server_rss_kib: load.server_rss_kib,
        server_cpu_ns: load.cpu_used.and_then(|c| c.server),
        client_cpu_ns: load.cpu_used.and_then(|c| c.client),
    })
}

impl Load {
    fn run(&mut self) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        loop {
            self.open_connections()?;
            if let Err(e) = self.poll.poll(&mut events, Some(STALL)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(format!("waiting for events failed: {e}"));
            }
            self.now = Instant::now();
            if events.is_empty() {
                return Err(format!(
                    "nothing happened for {} s: {} of {} clients greeted, {} waves seen",
                    STALL.as_secs(),
                    self.greeted,
                    self.spec.clients,
                    self.checker.waves()
                ));
            }
            for event in events.iter() {
                if event.token() == TIMER {
                    self.on_timer()?;
                    continue;
                }
                let i = event.token().0;
                if event.is_writable() {
                    self.on_writable(i)?;
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.on_readable(i, event.is_read_closed() || event.is_error())?;
                }
            }
            if self.finished() {
                self.leave();
                return Ok(());
            }
        }
    }

    fn micros(&self) -> u64 {
        self.now.duration_since(self.start).as_micros() as u64
    }

    /// Starts connections while fewer than the window are waiting for their greeting.
    fn open_connections(&mut self) -> Result<(), String> {
        while self.clients.len() < self.spec.clients
            && self.clients.len() - self.greeted < CONNECT_WINDOW
        {
            let i = self.clients.len();
            let addr = match self.spec.spread.len() {
                0 => self.spec.addr,
                n => self.spec.spread[i % n],
            };
            let mut stream =
                TcpStream::connect(addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            self.poll
                .registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| format!("cannot watch a connection: {e}"))?;
            let tls = match &self.spec.tls {
                Some(tls) => Some(Box::new(Connection::Client(
                    ClientConnection::new(tls.config(i), tls.name.clone())
                        .map_err(|e| format!("cannot start a TLS session: {e}"))?,
                ))),
                None => None,
            };
            self.clients.push(Client {
                stream,
                connected: false,
                session: Participant::new(self.ids[i]),
                tls,
                heard: false,
            });
        }
        Ok(())
    }

    fn on_writable(&mut self, i: usize) -> Result<(), String> {
        let c = &mut self.clients[i];
        if !c.connected {
            if let Ok(Some(e)) | Err(e) = c.stream.take_error() {
                return Err(format!("cannot connect to {}: {e}", self.spec.addr));
            }
            match c.stream.peer_addr() {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
                Err(e) => return Err(format!("cannot connect to {}: {e}", self.spec.addr)),
            }
            c.connected = true;
            c.stream
                .set_nodelay(true)
                .map_err(|e| format!("cannot set TCP_NODELAY: {e}"))?;
        }
        self.flush(i)
    }

    /// Writes what client `i`'s session has queued, as far as the socket takes it; the rest
    /// stays queued for the next writable event. Over TLS it is encrypted first.
    fn flush(&mut self, i: usize) -> Result<(), String> {
        let c = &mut self.clients[i];
        if !c.connected {
            return Ok(());
        }
        let failed = |e: io::Error| format!("client {}: write failed: {e}", self.ids[i]);
        if let Some(tls) = &mut c.tls {
            let pending = c.session.pending();
            if !pending.is_empty() {
                tls.writer().write_all(pending).map_err(failed)?;
                let n = pending.len();
                c.session.sent(n);
            }
            pump::send(tls, &mut c.stream).map_err(failed)?;
            return Ok(());
        }
        while !c.session.pending().is_empty() {
            match c.stream.write(c.session.pending()) {
                Ok(n) => c.session.sent(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }

    /// Hands bytes read from client `i`'s socket to its machine, through TLS over TLS.
    fn arrived(&mut self, i: usize, n: usize) -> Result<(), String> {
        let c = &mut self.clients[i];
        let bytes = match &mut c.tls {
            None => &self.buffer[..n],
            Some(tls) => {
                if !c.heard {
                    c.heard = true;
                    if let Some(problem) = self.buffer.first().and_then(|&b| pump::not_tls(b)) {
                        return Err(format!("client {}: {problem}", self.ids[i]));
                    }
                }
                self.plain.clear();
                pump::receive(tls, &self.buffer[..n], &mut self.plain).map_err(|e| {
                    format!(
                        "client {}: TLS failed: {}",
                        self.ids[i],
                        words::error(&e, Side::Client)
                    )
                })?;
                &self.plain
            }
        };
        c.session
            .handle(bytes)
            .map_err(|e| format!("client {}: {e}", self.ids[i]))
    }

    /// Reads until the socket is drained. A read shorter than the buffer drained it (the
    /// loop is edge-triggered and wakes again for new bytes), unless the peer also closed,
    /// which only a read of zero shows.
    fn on_readable(&mut self, i: usize, closed: bool) -> Result<(), String> {
        loop {
            let result = self.clients[i].stream.read(&mut self.buffer);
            match result {
                // A server that ends the session itself may close as soon as the last
                // answer is in.
                Ok(0) if self.finished() => return Ok(()),
                Ok(0) => {
                    return Err(format!(
                        "client {}: the server closed the connection {} after {} waves",
                        self.ids[i],
                        self.clients[i].session.moment(),
                        self.checker.waves()
                    ))
                }
                Ok(n) => {
                    self.arrived(i, n)?;
                    while let Some(event) = self.clients[i].session.poll_event() {
                        self.on_event(i, event)?;
                    }
                    // Answers to probes, and to a Go when there is no work to wait for.
                    self.flush(i)?;
                    if n < self.buffer.len() && !closed {
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("client {}: read failed: {e}", self.ids[i])),
            }
        }
    }

    fn on_event(&mut self, i: usize, event: Event) -> Result<(), String> {
        match event {
            Event::Hello(_) => {
                self.greeted += 1;
                if self.greeted == self.spec.clients {
                    self.connect_time = Some(self.now.duration_since(self.start));
                }
            }
            Event::Go(step) => {
                let waves = self.checker.waves();
                self.checker.on_go(i, step, self.micros());
                if self.checker.waves() > waves {
                    self.on_wave_start();
                }
                if self.spec.work.is_zero() {
                    self.answer(i)?;
                } else {
                    self.due.push_back((self.now + self.spec.work, i));
                    if self.due.len() == 1 {
                        self.arm_timer()?;
                    }
                }
                if !self.memory_read && self.checker.wave_complete() {
                    self.memory_read = true;
                    let read = |key| {
                        self.spec
                            .server_pid
                            .and_then(|pid| super::procfs::status_kib(pid, key))
                    };
                    self.server_peak_kib = read("VmHWM");
                    self.server_rss_kib = read("VmRSS");
                }
            }
            Event::Refused(reason) => {
                return Err(format!("client {} was refused: {reason}", self.ids[i]))
            }
            Event::ErrorShutdown => {
                return Err("the server is shutting down because of an error (E)".to_string())
            }
            // Bench sessions are never reconnections.
            Event::Repeated(_)
            | Event::Probed
            | Event::Here
            | Event::Exit
            | Event::Cease
            | Event::Slow
            | Event::ShuttingDown(_) => {}
        }
        Ok(())
    }

    /// Reads the CPU times when the first measured wave and the one after the last begin.
    fn on_wave_start(&mut self) {
        let waves = self.checker.waves();
        if waves == self.spec.warmup + 1 {
            self.cpu_start = Some(CpuMark::read(self.spec.server_pid));
        } else if waves == self.spec.waves {
            if let Some(start) = self.cpu_start {
                let end = CpuMark::read(self.spec.server_pid);
                let used = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
                self.cpu_used = Some(CpuMark {
                    server: used(start.server, end.server),
                    client: used(start.client, end.client),
                });
            }
        }
    }

    /// Answers client `i`'s Go with `K!` (received and done); the caller writes them, in one
    /// write.
    fn answer(&mut self, i: usize) -> Result<(), String> {
        self.checker.on_done(i);
        let session = &mut self.clients[i].session;
        session
            .ack()
            .and_then(|()| session.done())
            .map_err(|e| format!("client {}: {e}", self.ids[i]))
    }

    fn arm_timer(&mut self) -> Result<(), String> {
        let (Some(timer), Some(&(at, _))) = (&self.timer, self.due.front()) else {
            return Ok(());
        };
        timer
            .arm(at.saturating_duration_since(Instant::now()))
            .map_err(|e| format!("cannot arm the timer: {e}"))
    }

    fn on_timer(&mut self) -> Result<(), String> {
        if let Some(timer) = &self.timer {
            timer.clear();
        }
        let now = Instant::now();
        while let Some(&(at, i)) = self.due.front() {
            if at > now {
                break;
            }
            self.due.pop_front();
            self.answer(i)?;
            self.flush(i)?;
        }
        self.arm_timer()
    }

    /// Every wave taken part in, the last one reached everybody and was answered.
    fn finished(&self) -> bool {
        self.checker.waves() >= self.spec.waves
            && self.checker.wave_complete()
            && self.checker.working() == 0
    }

    /// Says `X` on every connection and closes it, reading what is left first so closing
    /// does not reset the connection.
    fn leave(&mut self) {
        for c in &mut self.clients {
            while matches!(c.stream.read(&mut self.buffer), Ok(n) if n > 0) {}
            if c.session.leave().is_ok() {
                match &mut c.tls {
                    Some(tls) => {
                        let _ = tls.writer().write_all(c.session.pending());
                        tls.send_close_notify();
                        let _ = pump::send(tls, &mut c.stream);
                    }
                    None => {
                        let _ = c.stream.write(c.session.pending());
                    }
                }
            }
            let _ = c.stream.shutdown(Shutdown::Write);
        }
        self.clients.clear();
    }
}
