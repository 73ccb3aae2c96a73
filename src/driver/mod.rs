//! The mio readiness loop: the only place that touches sockets, signals, files and the clock.
//! It feeds the sans-IO [`Conductor`] and carries out its outputs, nothing more; the core's
//! events become log lines in [`log_events`].
//!
//! Tokens: 0 is the listener, 1 the signal pipe, and connection `i` of the core is `i + 2`.
//! Peers are read until `WouldBlock` (a bounded number of chunks per wake-up, so one busy peer
//! cannot starve the others), written while the core has bytes for them, and registered for
//! writability only while a write is pending. Accepts are bounded the same way: at most
//! [`ACCEPTS_PER_WAKE`] per turn, after the peers' reads, so a flood of connects slows the
//! members' rounds by a bounded share and never leaves their bytes unread. Accept errors caused
//! by running out of file descriptors pause accepting for a moment instead of spinning.
//!
//! Each turn of the loop waits, reads the clock once, handles every event (reading what peers
//! sent), and only then enforces the core's deadlines that had passed at that reading. What
//! can block (writing out the log) comes after the deadlines and before the next wait; after
//! any stall the next wait is a poll with timeout zero, because a deadline has passed, so what
//! arrived meanwhile is read before the deadline is looked at. A participant whose `W` or `!`
//! waits in its socket is never dropped for silence it did not keep.
//!
//! With a pace (`pace_ms`, or `pace` through the control socket), the wave waiting for its
//! slot wakes the loop through a timerfd armed at the slot to the microsecond ([`TimerFd`]);
//! every other deadline keeps the loop's millisecond wake-ups. Without a pace it is never
//! armed.
//!
//! With the key `control`, the same loop serves the control socket (`control/`: `conductor
//! ctl`'s line protocol) on tokens of its own, with its own bounds per turn; its commands go
//! to the core as [`Conductor::control`] calls.
//!
//! With the key `http`, the same loop serves the HTTP endpoint (`http/`: metrics, the status
//! document and a status page) on tokens of its own, with its own bounds per wake-up; it is fed
//! the core's events as the log is.
//!
//! With the key `state_file`, the core's records go to the [`StateFile`] as they come out,
//! before the bytes of the wave they record (see `state_file`).
//!
//! Signals: SIGTERM, SIGHUP (a closing terminal or SSH session; the same graceful stop), a
//! first SIGINT and SIGUSR1 (a restart: the state recorded, every connection closed without a
//! word, exit 0 at once) reach the loop through `signal-hook-mio`. A second SIGINT never waits for the
//! loop: the signal handler itself ends the process with code 130, so it works even if the
//! loop is stuck (on a blocked log write, say). SIGQUIT keeps its default action: the process
//! ends at once and dumps core where that is enabled, an escape hatch for debugging.

// The one place for sockets, signals, files, the clock and the log (see clippy.toml).
#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    clippy::disallowed_macros
)]

mod accept_gate;
pub mod control;
mod http;
mod listen;
mod log_batch;
pub mod log_events;
mod peers;
mod progress;
mod repeats;
mod state_file;
mod status_files;
mod status_lock;
mod timer;
pub mod tls;
mod upstream;
mod waiting;

pub use listen::{bind, BACKLOG};
pub use log_batch::{BatchedWriter, LogBatch};
pub use log_events::EventLog;
pub use state_file::{OpenError, Start, StateFile};
pub use status_files::{write_atomically, StatusFiles};
pub use status_lock::{InUse, StatusLock};
pub use timer::TimerFd;
pub use upstream::Upstream;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;

use lockstep_proto::core::{Conductor, CoreConfig, Input, Output, StopRequest};
use lockstep_proto::relay::UpInput;
use lockstep_proto::round::EndKind;
use lockstep_proto::status::Status;
use lockstep_proto::time::{Duration, Instant};

use http::Http;
use peers::Peers;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);
/// The pace's timer: far above the peers' tokens, below the HTTP endpoint's.
const PACE_TIMER: Token = Token(usize::MAX / 4);

/// Connections accepted per turn of the loop before the ready peers are served again.
pub const ACCEPTS_PER_WAKE: usize = 64;
/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long queued bytes may take to drain after an interrupt (an interrupt must end within one
/// second).
const INTERRUPT_DRAIN: Duration = Duration::from_millis(500);
/// How long queued bytes may take to drain after any other ending.
const END_DRAIN: Duration = Duration::from_millis(2_000);

/// The exit code of a second SIGINT (PROTOCOL.md "Exit codes").
pub const FORCED_EXIT_CODE: i32 = 130;

/// The running conductor: a mio loop around the core.
pub struct Driver {
    poll: Poll,
    listener: TcpListener,
    listening: bool,
    signals: Signals,
    peers: Peers,
    core: Conductor,
    origin: std::time::Instant,
    /// The time of the last wake-up: the clock is read once per wake-up, not once per peer.
    /// The events of that wake-up and the deadlines enforced after them use this time, so a
    /// deadline is only ever enforced after everything that had arrived by then was read.
    clock: Instant,
    address: String,
    status_files: StatusFiles,
    last_status_error: Option<String>,
    accept_paused_until: Option<Instant>,
    /// The listener said it was ready and the backlog has not been seen empty since. The
    /// listener is edge-triggered and will not say so again: the loop comes back without
    /// waiting, as it does for deferred reads.
    accept_ready: bool,
    /// Accepts that failed for lack of descriptors since accepting last worked.
    accept_failures: u64,
    exiting: Option<(EndKind, Instant)>,
    /// The logger's batch, and since when it has held unwritten lines.
    log: LogBatch,
    log_unwritten_since: Option<Instant>,
    /// The core's events, as log lines.
    events: EventLog,
    /// The HTTP endpoint, when it is switched on.
    http: Option<Http>,
    /// The control socket, when it is switched on.
    control: Option<control::Control>,
    /// TLS on every new connection, when configured (see [`tls`]).
    tls: Option<tls::Settings>,
    /// A relay's upstream side (`conductor relay`); `None` for a conductor.
    upstream: Option<Upstream>,
    /// Wakes the loop at the pace's slot, and the slot it is armed for.
    pace_timer: TimerFd,
    pace_armed: Option<Instant>,
    /// The state file, when `state_file` is set.
    state: Option<StateFile>,
}

impl Driver {
    /// Sets up the loop around an already bound, non-blocking listener. The core reports
    /// every message and change of state when the log is at `trace`.
    pub fn new(
        listener: std::net::TcpListener,
        mut config: CoreConfig,
        status_files: StatusFiles,
    ) -> io::Result<Driver> {
        config.trace_events = log::log_enabled!(log::Level::Trace);
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?.to_string();
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        // The first SIGINT arms this flag; a SIGINT that finds it armed exits at once. The
        // check must be registered before the arming, or the first SIGINT would exit.
        let interrupted = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register_conditional_shutdown(
            SIGINT,
            FORCED_EXIT_CODE,
            Arc::clone(&interrupted),
        )?;
        signal_hook::flag::register(SIGINT, interrupted)?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let pace_timer = TimerFd::new()?;
        poll.registry()
            .register(&mut pace_timer.source(), PACE_TIMER, Interest::READABLE)?;
        let origin = std::time::Instant::now();
        Ok(Driver {
            poll,
            listener,
            listening: true,
            signals,
            peers: Peers::default(),
            core: Conductor::new(config, Instant::ZERO),
            origin,
            clock: Instant::ZERO,
            address,
            status_files,
            last_status_error: None,
            accept_paused_until: None,
            accept_ready: false,
            accept_failures: 0,
            exiting: None,
            log: LogBatch::default(),
            log_unwritten_since: None,
            events: EventLog::new(),
            http: None,
            control: None,
            tls: None,
            upstream: None,
            pace_timer,
            pace_armed: None,
            state: None,
        })
    }

    /// Makes this a relay: the core follows `relay`, which connects to `address`.
    pub fn relay(
        &mut self,
        config: lockstep_proto::relay::RelayConfig,
        address: String,
        tls: Option<crate::bench::tls::ClientTls>,
    ) {
        let relay = lockstep_proto::relay::Relay::new(config, &mut self.core);
        self.upstream = Some(Upstream::new(relay, address, tls));
        self.drain();
    }

    /// Writes the core's records to `state` (the core must have been made with `persist`).
    pub fn keep_state(&mut self, state: StateFile) {
        self.state = Some(state);
    }

    /// Serves the HTTP endpoint on an already bound listener; returns its address.
    pub fn serve_http(&mut self, listener: std::net::TcpListener) -> io::Result<SocketAddr> {
        let http = Http::new(listener, self.poll.registry())?;
        let address = http.local_addr()?;
        self.http = Some(http);
        Ok(address)
    }

    /// Serves the control socket on a listener bound with [`control::socket::bind`]; its file
    /// is removed when the driver ends.
    pub fn serve_control(
        &mut self,
        listener: std::os::unix::net::UnixListener,
        file: control::socket::SocketFile,
    ) -> io::Result<()> {
        let control = control::Control::new(listener, file, self.poll.registry())?;
        self.control = Some(control);
        Ok(())
    }

    /// Flushes the logger's batches (see [`BatchedWriter`]) within
    /// [`log_batch::FLUSH_AFTER`] of their first line.
    pub fn flush_log_batches(&mut self, batch: LogBatch) {
        self.log = batch;
    }

    /// The bound address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Reads the clock.
    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Runs until the conductor ends (a second SIGINT ends the process from its handler).
    pub fn run(mut self) -> EndKind {
        let mut events = Events::with_capacity(1024);
        self.drain();
        loop {
            // The deadlines passed at the last wake-up, whose events have all been handled.
            let woke = self.clock;
            if self.core.poll_timeout().is_some_and(|t| t <= woke) {
                self.core.handle_input(woke, Input::Tick);
                self.drain();
            }
            if let Some(up) = &mut self.upstream {
                if up.relay.poll_timeout().is_some_and(|t| t <= woke) {
                    up.relay.handle(&mut self.core, woke, UpInput::Tick);
                    self.drain();
                }
            }
            if self.accept_paused_until.is_some_and(|t| t <= woke) {
                self.accept_paused_until = None;
            }
            if let Some(kind) = self.finished(self.now()) {
                self.write_status();
                return kind;
            }
            // May block on a full pipe; the timeout below is computed after it.
            self.flush_log(self.now());
            self.arm_pace_timer();
            let http_waiting = self.http.as_ref().is_some_and(Http::has_work);
            let control_waiting = self
                .control
                .as_ref()
                .is_some_and(control::Control::has_work);
            let timeout = if self.peers.has_unfinished_reads()
                || self.accepts_waiting()
                || http_waiting
                || control_waiting
            {
                Some(StdDuration::ZERO)
            } else {
                self.poll_timeout(self.now())
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    // Also what a stop with SIGSTOP ends in: poll again before any deadline.
                    continue;
                }
                self.fail(format!("waiting for events failed: {e}"));
                let kind = self
                    .exiting
                    .take()
                    .map_or(EndKind::Fatal(e.to_string()), |(k, _)| k);
                self.write_status();
                return kind;
            }
            self.clock = self.now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_ready = true,
                    SIGNALS => self.take_signals(),
                    upstream::UPSTREAM => {
                        if let Some(up) = &mut self.upstream {
                            up.ready(self.poll.registry(), &mut self.core, self.clock, event);
                            self.drain();
                        }
                    }
                    PACE_TIMER => self.pace_timer.clear(),
                    token if Http::owns(token) => {
                        if let Some(http) = &mut self.http {
                            http.ready(self.poll.registry(), event, self.clock);
                        }
                    }
                    token if control::owns(token) => {
                        if let Some(control) = &mut self.control {
                            control.ready(event);
                        }
                    }
                    Token(t) => {
                        let conn = lockstep_proto::core::ConnId::from_index(t - 2);
                        if event.is_writable() {
                            self.flush(conn);
                            // Finishing a write may close the connection or let others on.
                            self.drain();
                        }
                        let closed = event.is_read_closed() || event.is_error();
                        if event.is_readable() || closed {
                            self.read(conn, closed);
                        }
                    }
                }
            }
            for conn in self.peers.take_unfinished_reads() {
                self.read(conn, true);
            }
            if self.accepts_waiting() {
                self.accept_some();
            }
            if let Some(http) = &mut self.http {
                let shown = Shown {
                    address: &self.address,
                    state_error: self.state.as_ref().and_then(StateFile::error),
                    upstream: self.upstream.as_ref(),
                };
                http.turn(self.poll.registry(), self.clock, &self.core, shown);
            }
            self.control_turn();
        }
    }

    /// One turn of the control socket: its commands go to the core, whose outputs are then
    /// carried out.
    fn control_turn(&mut self) {
        let Some(control) = &mut self.control else {
            return;
        };
        let (core, now) = (&mut self.core, self.clock);
        let shown = Shown {
            address: &self.address,
            state_error: self.state.as_ref().and_then(StateFile::error),
            upstream: self.upstream.as_ref(),
        };
        control.turn(self.poll.registry(), now, |request, peer| {
            control::carry_out(core, now, shown, request, peer)
        });
        self.drain();
    }

    /// The wait until the next deadline of the core, the accept back-off, the exit drain, a
    /// summary or progress line, or the log's flush.
    fn poll_timeout(&self, now: Instant) -> Option<StdDuration> {
        let deadlines = [
            self.core.poll_timeout(),
            self.accept_paused_until,
            self.exiting.as_ref().map(|(_, d)| *d),
            self.events.next_due(),
            self.log_unwritten_since.map(|t| t + log_batch::FLUSH_AFTER),
            self.http.as_ref().and_then(Http::next_deadline),
            self.upstream
                .as_ref()
                .and_then(|up| up.relay.poll_timeout()),
            self.control
                .as_ref()
                .and_then(control::Control::next_deadline),
        ];
        let next = deadlines.into_iter().flatten().min()?;
        // Round up to whole milliseconds so a wake-up is never a little early and busy.
        let wait = (next - now).as_micros().div_ceil(1000) * 1000;
        Some(Duration::from_micros(wait).into())
    }

    /// Arms the timerfd for the slot the next wave waits for, when that changed: the wave
    /// leaves at its slot to the microsecond, not at the next whole millisecond. A slot that
    /// has passed needs no timer (the next turn sends the wave), and a stale expiry only wakes
    /// the loop once for nothing.
    fn arm_pace_timer(&mut self) {
        let slot = self.core.rounds().control().awaiting_slot();
        if slot == self.pace_armed {
            return;
        }
        self.pace_armed = slot;
        let Some(at) = slot else {
            return;
        };
        let now = self.now();
        if at > now {
            if let Err(e) = self.pace_timer.arm((at - now).into()) {
                log::warn!("cannot arm the pace's timer ({e}); waves keep to the millisecond");
            }
        }
    }

    /// Writes the summary and progress lines due, then the log's batch once its first line
    /// has waited long enough.
    fn flush_log(&mut self, now: Instant) {
        self.events.tick(now, &mut log_events::Logger);
        if !self.log.has_unwritten() {
            self.log_unwritten_since = None;
            return;
        }
        let since = *self.log_unwritten_since.get_or_insert(now);
        if now >= since + log_batch::FLUSH_AFTER {
            log::logger().flush();
            self.log_unwritten_since = None;
        }
    }

    /// The ending, once the core has ended and every connection is closed or the drain time
    /// has run out.
    fn finished(&mut self, now: Instant) -> Option<EndKind> {
        let (_, deadline) = self.exiting.as_ref()?;
        let unwritten = self.upstream.as_ref().is_some_and(Upstream::has_unwritten);
        if (self.core.connection_count() > 0 || unwritten) && now < *deadline {
            return None;
        }
        self.peers.close_all(self.poll.registry());
        if let Some(up) = &mut self.upstream {
            up.close(self.poll.registry());
        }
        if let Some(http) = &mut self.http {
            http.close(self.poll.registry());
        }
        if let Some(control) = &mut self.control {
            control.close_all(self.poll.registry());
        }
        self.exiting.take().map(|(kind, _)| kind)
    }

    /// Carries out every output the core has, and a relay's: each core output is shown to
    /// the relay first, and what the relay does may give the core more to output.
    fn drain(&mut self) {
        loop {
            self.drain_core();
            if !self.drain_upstream() {
                return;
            }
        }
    }

    /// Carries out a relay's upstream outputs; false when it had none.
    fn drain_upstream(&mut self) -> bool {
        let Some(up) = &mut self.upstream else {
            return false;
        };
        up.relay.settle(&self.core);
        let mut any = false;
        while let Some(output) = up.relay.poll_output() {
            any = true;
            if let Some(event) = up.act(self.poll.registry(), &mut self.core, self.clock, output) {
                log_events::relay_event(&event);
            }
        }
        any
    }

    /// Carries out every output the core has.
    fn drain_core(&mut self) {
        while let Some(output) = self.core.poll_output() {
            if let Some(up) = &mut self.upstream {
                up.relay.observe(&mut self.core, self.clock, &output);
            }
            match output {
                Output::Transmit(conn) => self.flush(conn),
                Output::Close(conn) => self.peers.close(self.poll.registry(), conn),
                Output::StatusDue => self.write_status(),
                Output::Persist(record) => {
                    if let Some(state) = &mut self.state {
                        state.write(&record);
                    }
                }
                Output::Event(event) => {
                    if let Some(http) = &mut self.http {
                        http.record(self.clock, &event);
                    }
                    self.events
                        .record(self.clock, &event, &mut log_events::Logger);
                }
                Output::Exit(kind) => {
                    if let Some(state) = &mut self.state {
                        state.sync();
                    }
                    let drain = match kind {
                        EndKind::Interrupt => INTERRUPT_DRAIN,
                        // Every connection is closed already.
                        EndKind::Restart => Duration::ZERO,
                        _ => END_DRAIN,
                    };
                    self.exiting = Some((kind, self.now() + drain));
                    if self.listening {
                        self.listening = false;
                        let _ = self.poll.registry().deregister(&mut self.listener);
                    }
                }
            }
        }
    }

    /// True when connections may wait in the backlog and accepting is possible now.
    fn accepts_waiting(&self) -> bool {
        self.accept_ready && self.listening && self.accept_paused_until.is_none()
    }

    /// Accepts until the backlog is empty, or [`ACCEPTS_PER_WAKE`] times; in the second case
    /// the next turn comes back for more. Running out of descriptors pauses accepting for
    /// [`ACCEPT_BACKOFF`] at a time; it is logged once when it starts and once when it ends.
    fn accept_some(&mut self) {
        for _ in 0..ACCEPTS_PER_WAKE {
            if !self.listening || self.accept_paused_until.is_some() {
                return;
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.accepting_again();
                    let now = self.clock;
                    let conn = self.core.accept(now, peer);
                    let session = self.tls.as_ref().map(tls::Settings::session);
                    if let Err(e) = self
                        .peers
                        .insert(self.poll.registry(), conn, stream, session)
                    {
                        log::warn!("cannot watch the connection from {peer}: {e}");
                        self.core.handle_input(now, Input::Closed { conn });
                    }
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.accept_ready = false;
                    self.accepting_again();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_out_of_descriptors(&e) => {
                    if self.accept_failures == 0 {
                        log::warn!(
                            "cannot accept: {e}; retrying every {ACCEPT_BACKOFF} until descriptors free up"
                        );
                    }
                    self.accept_failures += 1;
                    self.accept_paused_until = Some(self.now() + ACCEPT_BACKOFF);
                }
                Err(e) if is_transient_accept_error(&e) => continue,
                Err(e) => {
                    self.fail(format!("the listening socket failed: {e}"));
                    return;
                }
            }
        }
    }

    /// Ends a stretch of failed accepts, if one was running.
    fn accepting_again(&mut self) {
        if self.accept_failures > 0 {
            log::info!(
                "accepting connections again after {} attempt(s) failed for lack of descriptors",
                self.accept_failures
            );
            self.accept_failures = 0;
        }
    }

    /// Reads what a peer sent, one chunk at a time, a bounded number of chunks per wake-up.
    /// Each chunk goes to the core and the core's outputs are carried out before the next
    /// chunk is read, so the answers to one chunk reach the socket before the next chunk adds
    /// more: only what the socket cannot take counts against the queue's bound.
    ///
    /// A chunk shorter than the buffer has drained the socket: the loop is edge-triggered, so
    /// bytes arriving later wake it again, and the read that would only say `WouldBlock` is
    /// saved. Only when the peer has also closed (`until_eof`, from the readiness event) does
    /// reading go on to the end of the stream, which no later event would report.
    fn read(&mut self, conn: lockstep_proto::core::ConnId, until_eof: bool) {
        let now = self.clock;
        for _ in 0..peers::READS_PER_WAKE {
            match self.peers.read_chunk(conn) {
                peers::ReadOutcome::Data(n) => {
                    let bytes = self.peers.received(n);
                    self.core.handle_input(now, Input::Received { conn, bytes });
                    self.drain();
                    if n < peers::READ_CHUNK && !until_eof {
                        return;
                    }
                }
                peers::ReadOutcome::Tls(n, news) => {
                    if self.on_tls(conn, news) || (n < peers::READ_CHUNK && !until_eof) {
                        return;
                    }
                }
                peers::ReadOutcome::Drained => return,
                peers::ReadOutcome::Closed => {
                    self.core.handle_input(now, Input::Closed { conn });
                    self.drain();
                    return;
                }
            }
        }
        self.peers.defer_read(conn);
    }

    /// Writes what the core has queued for a peer, as far as the socket takes it.
    fn flush(&mut self, conn: lockstep_proto::core::ConnId) {
        let now = self.clock;
        let result = self
            .peers
            .write(self.poll.registry(), conn, self.core.pending(conn));
        match result {
            peers::WriteOutcome::Wrote(0) => {}
            peers::WriteOutcome::Wrote(n) => self.core.handle_input(now, Input::Sent { conn, n }),
            peers::WriteOutcome::Failed => self.core.handle_input(now, Input::Closed { conn }),
        }
    }

    /// Handles pending signals. A second SIGINT never gets here: its handler exits.
    fn take_signals(&mut self) {
        let received: Vec<i32> = self.signals.pending().collect();
        for signal in received {
            let now = self.clock;
            if let Some(up) = &mut self.upstream {
                let request = match signal {
                    SIGINT => StopRequest::Interrupt,
                    SIGUSR1 => StopRequest::Restart,
                    _ => StopRequest::Graceful,
                };
                log::info!("{}", relay_stop_line(signal));
                up.relay.handle(&mut self.core, now, UpInput::Stop(request));
                self.drain();
                continue;
            }
            match signal {
                SIGTERM => {
                    log::info!("SIGTERM: stopping gracefully");
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Graceful));
                }
                SIGHUP => {
                    log::info!("SIGHUP: stopping gracefully, as for SIGTERM");
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Graceful));
                }
                SIGINT => {
                    log::info!("SIGINT: ceasing operation (a second SIGINT exits at once)");
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Interrupt));
                }
                SIGUSR1 => {
                    let kept = match &self.state {
                        Some(state) => format!("the state is in {}", state.path().display()),
                        None => "no state_file: the next conductor starts at step 0".to_string(),
                    };
                    log::info!(
                        "SIGUSR1: restarting: closing every connection without a word ({kept})"
                    );
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Restart));
                }
                _ => {}
            }
            self.drain();
        }
    }

    /// A fatal error: the core broadcasts `E` and `X` and ends.
    fn fail(&mut self, error: String) {
        log::error!("{error}");
        self.core.handle_input(self.clock, Input::Fatal(error));
        self.drain();
    }

    /// Renders the status and writes the files; failures are logged once until they change.
    fn write_status(&mut self) {
        let shown = Shown {
            address: &self.address,
            state_error: self.state.as_ref().and_then(StateFile::error),
            upstream: self.upstream.as_ref(),
        };
        let status = snapshot(&self.core, self.now(), shown);
        let errors = self.status_files.write(&status).join("; ");
        if errors.is_empty() {
            if self.last_status_error.take().is_some() {
                log::info!("status files are written again");
            }
        } else if self.last_status_error.as_deref() != Some(errors.as_str()) {
            log::warn!("{errors}; rounds go on");
            self.last_status_error = Some(errors);
        }
    }
}

/// What the driver adds to the core's status snapshot.
#[derive(Clone, Copy, Debug)]
struct Shown<'a> {
    /// The bound address.
    address: &'a str,
    /// The state file's last write error, while writes fail.
    state_error: Option<&'a str>,
    /// A relay's upstream side.
    upstream: Option<&'a Upstream>,
}

/// The status snapshot as of `now`, with what the driver adds: what the status files and
/// `/status.json` show.
fn snapshot(core: &Conductor, now: Instant, shown: Shown<'_>) -> Status {
    let mut status = core.status(now);
    status.address = shown.address.to_string();
    status.state_file_error = shown.state_error.map(str::to_string);
    status.upstream = shown.upstream.map(Upstream::status);
    status
}

/// What a relay logs when a signal asks it to stop.
fn relay_stop_line(signal: i32) -> &'static str {
    match signal {
        SIGINT => "SIGINT: ceasing operation downstream and leaving upstream (a second SIGINT exits at once)",
        SIGHUP => "SIGHUP: finishing the running round, then leaving, as for SIGTERM",
        SIGUSR1 => "SIGUSR1: restarting: closing every connection, upstream too, without a word",
        _ => "SIGTERM: finishing the running round, then leaving upstream and ending",
    }
}

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Errors that concern one connection, not the listener: it was aborted before it could be
/// accepted, a firewall rule refused it, or Linux passed on a network error pending on it
/// (accept(2) lists those as errors to retry).
fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || matches!(
        e.raw_os_error(),
        Some(
            libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENETUNREACH
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::EHOSTUNREACH
                | libc::ENONET
                | libc::EOPNOTSUPP
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn accept_errors_are_told_apart() {
        for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_out_of_descriptors(&os(code)), "{code}");
        }
        for code in [
            libc::ECONNABORTED,
            libc::ENETUNREACH,
            libc::EHOSTDOWN,
            libc::EPERM,
        ] {
            assert!(is_transient_accept_error(&os(code)), "{code}");
            assert!(!is_out_of_descriptors(&os(code)), "{code}");
        }
        // What a listener that was shut down reports: fatal.
        assert!(!is_transient_accept_error(&os(libc::EINVAL)));
        assert!(!is_out_of_descriptors(&os(libc::EINVAL)));
    }
}
