//! The mio readiness loop: the only place that touches sockets, signals, files and the clock.
//! It feeds the sans-IO [`Conductor`] and carries out its outputs, nothing more.
//!
//! Tokens: 0 is the listener, 1 the signal pipe, and connection `i` of the core is `i + 2`.
//! Peers are read until `WouldBlock` (a bounded number of chunks per wake-up, so one busy peer
//! cannot starve the others), written while the core has bytes for them, and registered for
//! writability only while a write is pending. Accept errors caused by running out of file
//! descriptors pause accepting for a moment instead of spinning.

// The one place for sockets, signals, files and the clock (see clippy.toml).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod listen;
mod peers;
mod status_files;

pub use listen::{bind, BACKLOG};
pub use status_files::{write_atomically, StatusFiles};

use std::io;
use std::time::Duration as StdDuration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::core::{Conductor, CoreConfig, Input, Output, StopRequest};
use crate::round::EndKind;
use crate::time::{Duration, Instant};

use peers::Peers;

const LISTENER: Token = Token(0);
const SIGNALS: Token = Token(1);

/// How long accepting pauses after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long queued bytes may take to drain after an interrupt (the SPEC allows one second).
const INTERRUPT_DRAIN: Duration = Duration::from_millis(500);
/// How long queued bytes may take to drain after any other ending.
const END_DRAIN: Duration = Duration::from_millis(2_000);

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// The core ended (planned end, graceful stop, interrupt or fatal error).
    Ended(EndKind),
    /// A second SIGINT: exit at once with code 130.
    ForcedInterrupt,
}

impl RunEnd {
    /// The process exit code (SPEC §9).
    pub fn exit_code(&self) -> i32 {
        match self {
            RunEnd::Ended(kind) => kind.exit_code(),
            RunEnd::ForcedInterrupt => 130,
        }
    }
}

/// The running conductor: a mio loop around the core.
pub struct Driver {
    poll: Poll,
    listener: TcpListener,
    listening: bool,
    signals: Signals,
    interrupts: u32,
    peers: Peers,
    core: Conductor,
    origin: std::time::Instant,
    address: String,
    status_files: StatusFiles,
    last_status_error: Option<String>,
    accept_paused_until: Option<Instant>,
    /// Accepts that failed for lack of descriptors since accepting last worked.
    accept_failures: u64,
    exiting: Option<(EndKind, Instant)>,
}

impl Driver {
    /// Sets up the loop around an already bound, non-blocking listener.
    pub fn new(
        listener: std::net::TcpListener,
        config: CoreConfig,
        status_files: StatusFiles,
    ) -> io::Result<Driver> {
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?.to_string();
        let mut listener = TcpListener::from_std(listener);
        let poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        let origin = std::time::Instant::now();
        Ok(Driver {
            poll,
            listener,
            listening: true,
            signals,
            interrupts: 0,
            peers: Peers::default(),
            core: Conductor::new(config, Instant::ZERO),
            origin,
            address,
            status_files,
            last_status_error: None,
            accept_paused_until: None,
            accept_failures: 0,
            exiting: None,
        })
    }

    /// The bound address.
    pub fn address(&self) -> &str {
        &self.address
    }

    fn now(&self) -> Instant {
        Instant::from_micros(u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Runs until the conductor ends.
    pub fn run(mut self) -> RunEnd {
        let mut events = Events::with_capacity(1024);
        self.drain();
        loop {
            let now = self.now();
            if self.core.poll_timeout().is_some_and(|t| t <= now) {
                self.core.handle_input(now, Input::Tick);
                self.drain();
            }
            if self.accept_paused_until.is_some_and(|t| t <= now) {
                self.accept_paused_until = None;
                self.accept_all();
            }
            if let Some(kind) = self.finished(now) {
                self.write_status();
                return RunEnd::Ended(kind);
            }
            let timeout = if self.peers.has_unfinished_reads() {
                Some(StdDuration::ZERO)
            } else {
                self.poll_timeout(now)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.fail(format!("waiting for events failed: {e}"));
                let kind = self
                    .exiting
                    .take()
                    .map_or(EndKind::Fatal(e.to_string()), |(k, _)| k);
                self.write_status();
                return RunEnd::Ended(kind);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_all(),
                    SIGNALS => {
                        if self.take_signals() {
                            return RunEnd::ForcedInterrupt;
                        }
                    }
                    Token(t) => {
                        let conn = crate::core::ConnId::from_index(t - 2);
                        if event.is_writable() {
                            self.flush(conn);
                        }
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(conn);
                        }
                    }
                }
            }
            for conn in self.peers.take_unfinished_reads() {
                self.read(conn);
            }
        }
    }

    /// The wait until the next deadline of the core, the accept back-off or the exit drain.
    fn poll_timeout(&self, now: Instant) -> Option<StdDuration> {
        let deadlines = [
            self.core.poll_timeout(),
            self.accept_paused_until,
            self.exiting.as_ref().map(|(_, d)| *d),
        ];
        let next = deadlines.into_iter().flatten().min()?;
        // Round up to whole milliseconds so a wake-up is never a little early and busy.
        let wait = (next - now).as_micros().div_ceil(1000) * 1000;
        Some(Duration::from_micros(wait).into())
    }

    /// The ending, once the core has ended and every connection is closed or the drain time
    /// has run out.
    fn finished(&mut self, now: Instant) -> Option<EndKind> {
        let (_, deadline) = self.exiting.as_ref()?;
        if self.core.connection_count() > 0 && now < *deadline {
            return None;
        }
        self.peers.close_all(self.poll.registry());
        self.exiting.take().map(|(kind, _)| kind)
    }

    /// Carries out every output the core has.
    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Transmit(conn) => self.flush(conn),
                Output::Close(conn) => self.peers.close(self.poll.registry(), conn),
                Output::StatusDue => self.write_status(),
                Output::Exit(kind) => {
                    let drain = if kind == EndKind::Interrupt {
                        INTERRUPT_DRAIN
                    } else {
                        END_DRAIN
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

    /// Accepts until the backlog is empty. Running out of descriptors pauses accepting for
    /// [`ACCEPT_BACKOFF`] at a time; it is logged once when it starts and once when it ends.
    fn accept_all(&mut self) {
        while self.listening && self.accept_paused_until.is_none() {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.accepting_again();
                    let now = self.now();
                    let conn = self.core.accept(now, peer);
                    if let Err(e) = self.peers.insert(self.poll.registry(), conn, stream) {
                        log::warn!("cannot watch the connection from {peer}: {e}");
                        self.core.handle_input(now, Input::Closed { conn });
                    }
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
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
    fn read(&mut self, conn: crate::core::ConnId) {
        for _ in 0..peers::READS_PER_WAKE {
            let now = self.now();
            match self.peers.read_chunk(conn) {
                peers::ReadOutcome::Data(n) => {
                    let bytes = self.peers.received(n);
                    self.core.handle_input(now, Input::Received { conn, bytes });
                    self.drain();
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
    fn flush(&mut self, conn: crate::core::ConnId) {
        let now = self.now();
        let result = self
            .peers
            .write(self.poll.registry(), conn, self.core.pending(conn));
        match result {
            peers::WriteOutcome::Wrote(0) => {}
            peers::WriteOutcome::Wrote(n) => self.core.handle_input(now, Input::Sent { conn, n }),
            peers::WriteOutcome::Failed => self.core.handle_input(now, Input::Closed { conn }),
        }
    }

    /// Handles pending signals; true on a second SIGINT.
    fn take_signals(&mut self) -> bool {
        let received: Vec<i32> = self.signals.pending().collect();
        for signal in received {
            let now = self.now();
            match signal {
                SIGTERM => {
                    log::info!("SIGTERM: stopping gracefully");
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Graceful));
                }
                SIGINT => {
                    self.interrupts += 1;
                    if self.interrupts > 1 {
                        log::warn!("second SIGINT: exiting at once");
                        return true;
                    }
                    log::info!("SIGINT: ceasing operation");
                    self.core
                        .handle_input(now, Input::Stop(StopRequest::Interrupt));
                }
                _ => {}
            }
            self.drain();
        }
        false
    }

    /// A fatal error: the core broadcasts `E` and `X` and ends.
    fn fail(&mut self, error: String) {
        log::error!("{error}");
        let now = self.now();
        self.core.handle_input(now, Input::Fatal(error));
        self.drain();
    }

    /// Renders the status and writes the files; failures are logged once until they change.
    fn write_status(&mut self) {
        let mut status = self.core.status(self.now());
        status.address = self.address.clone();
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

fn is_out_of_descriptors(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) || matches!(
        e.raw_os_error(),
        Some(libc::EPROTO | libc::EPERM | libc::ENETDOWN | libc::EHOSTUNREACH)
    )
}
