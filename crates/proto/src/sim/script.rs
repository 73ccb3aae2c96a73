//! Arbitrary bytes read as a script of inputs to the core, for the whole-core fuzz target and
//! its regression tests: the first bytes pick the settings (queue bounds as small as 20 bytes,
//! socket buffers as small as 16, so that bounds are reached; `end_on_failure` in any of its
//! values), then each instruction accepts a
//! connection, delivers bytes (raw or a well-formed message), closes one, moves the clock a
//! little or jumps it, lets a client stop or resume reading, or stops, interrupts or fails the
//! conductor. Every step goes through the [`Stepper`], so every invariant is checked. At the
//! end the conductor is interrupted, every client reads, and it must finish within its linger
//! time. Any byte string is a valid script. Performs no I/O.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::cidr::Cidr;
use crate::core::{ConnId, CoreConfig, EndOnFailure, Input, StopRequest};
use crate::invariants::Violation;
use crate::round::RoundConfig;
use crate::time::{Duration, Instant};
use crate::wire::{ClientMsg, Id, RawHello, Reason, VERSION};

use super::stepper::{Sockets, Stepper};

/// Reads the script one byte at a time; past the end every byte is 0.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.next(), self.next()])
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The clients' side of each socket: how much it holds unread, and whether they read.
struct Peers {
    /// Socket space per connection and bytes written but not read yet.
    sockets: BTreeMap<ConnId, (usize, usize)>,
    /// Connections whose clients stopped reading.
    stalled: BTreeMap<ConnId, bool>,
    /// The socket space of the next connection.
    next_capacity: usize,
}

impl Sockets for Peers {
    fn opened(&mut self, conn: ConnId) {
        self.sockets.insert(conn, (self.next_capacity, 0));
    }

    fn write(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        let Some((capacity, unread)) = self.sockets.get_mut(&conn) else {
            return 0;
        };
        let n = capacity.saturating_sub(*unread).min(bytes.len());
        *unread += n;
        n
    }
}

/// The settings a script starts with: from its first eleven bytes.
fn config(b: &mut Bytes<'_>) -> CoreConfig {
    let ms = |x: u8, unit: u64| Duration::from_millis(u64::from(x) * unit);
    let min_clients = u32::from(b.next() % 4) + 1;
    // One byte: its low bits switch `allow` on, its next ones `end_on_failure`.
    let second = b.next();
    let end_on_failure = [
        EndOnFailure::Never,
        EndOnFailure::Never,
        EndOnFailure::Refusal,
        EndOnFailure::Closed,
    ][usize::from(second >> 2) % 4];
    let allow = if second.is_multiple_of(4) {
        vec!["127.0.0.0/8"
            .parse::<Cidr>()
            .unwrap_or_else(|_| unreachable!("a valid block"))]
    } else {
        Vec::new()
    };
    CoreConfig {
        server_id: Id::new("conductor").unwrap_or_else(|_| unreachable!("a valid literal")),
        rounds: RoundConfig {
            min_clients,
            rounds: u64::from(b.next() % 8),
            step_wrap: [1, 2, 3, 1 << 32][usize::from(b.next() % 4)],
            shutdown_countdown: u32::from(b.next() % 4),
            slow_round: ms(b.next(), 10),
            pace: Duration::ZERO,
        },
        max_clients: min_clients + u32::from(b.next() % 4),
        hello_timeout: ms(b.next(), 10),
        probe_after: ms(b.next(), 10),
        drop_after: ms(b.next(), 20),
        status_interval: Some(Duration::from_millis(100)),
        allow,
        max_queued_bytes: [20, 64, 600][usize::from(b.next() % 3)],
        linger: Duration::from_millis(500),
        // The per-message events too: every event the core can output is exercised.
        trace_events: true,
        persist: true,
        resume: None,
        end_on_failure,
    }
}

/// A well-formed client message picked by one byte (and a second for its detail).
fn message(kind: u8, detail: u8) -> Vec<u8> {
    let msg = match kind % 9 {
        0 | 1 => {
            let name = format!("c{}", detail % 8);
            let id = Id::new(&name).unwrap_or_else(|_| unreachable!("a short printable name"));
            ClientMsg::Hello(RawHello {
                version: if kind.is_multiple_of(9) {
                    VERSION
                } else {
                    detail
                },
                id: *id.as_wire(),
            })
        }
        2 => ClientMsg::Received,
        3 => ClientMsg::Done,
        4 => ClientMsg::Working,
        5 => ClientMsg::Here,
        6 => ClientMsg::Ping,
        7 => ClientMsg::Exit,
        _ => ClientMsg::Refusal(Reason::lossy(&"r".repeat(usize::from(detail)))),
    };
    let mut bytes = Vec::new();
    msg.encode_into(&mut bytes);
    bytes
}

/// What a script run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptRun {
    /// Checked steps.
    pub steps: u64,
    /// Waves the conductor sent.
    pub waves: u64,
}

/// Runs `data` as a script; returns the first broken invariant.
pub fn run(data: &[u8]) -> Result<ScriptRun, Violation> {
    let mut b = Bytes { data };
    let config = config(&mut b);
    let linger = config.linger;
    let mut now = Instant::ZERO;
    let mut stepper = Stepper::new(config, now)?;
    let mut peers = Peers {
        sockets: BTreeMap::new(),
        stalled: BTreeMap::new(),
        next_capacity: 4_096,
    };
    let mut open: Vec<ConnId> = Vec::new();
    let mut port: u16 = 1024;
    while !b.is_empty() {
        let op = b.next();
        let pick = |open: &[ConnId], byte: u8| {
            (!open.is_empty()).then(|| open[usize::from(byte) % open.len()])
        };
        match op % 12 {
            0 => {
                port = port.wrapping_add(1);
                let detail = b.next();
                peers.next_capacity = [16, 64, 4_096, 65_536][usize::from(detail >> 6)];
                let ip = if detail.is_multiple_of(8) {
                    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
                } else {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                };
                let conn = stepper.accept(now, SocketAddr::new(ip, port), &mut peers)?;
                open.push(conn);
            }
            1..=5 => {
                // Raw bytes (1, 2) or a well-formed message (3, 4, 5).
                let target = pick(&open, b.next());
                let bytes = if op % 12 <= 2 {
                    let len = usize::from(b.next() % 32);
                    b.take(len).to_vec()
                } else {
                    message(b.next(), b.next())
                };
                if let Some(conn) = target {
                    let input = Input::Received {
                        conn,
                        bytes: &bytes,
                    };
                    stepper.input(now, input, &mut peers)?;
                }
            }
            6 => {
                if let Some(conn) = pick(&open, b.next()) {
                    stepper.input(now, Input::Closed { conn }, &mut peers)?;
                }
            }
            7 => {
                now = now + Duration::from_millis(u64::from(b.u16() % 2_000));
                stepper.input(now, Input::Tick, &mut peers)?;
            }
            8 => {
                now = now + Duration::from_millis(u64::from(b.next()) * 1_000);
                stepper.input(now, Input::Tick, &mut peers)?;
            }
            9 => {
                // A client stops reading, or starts again and reads everything.
                if let Some(conn) = pick(&open, b.next()) {
                    let stalled = peers.stalled.entry(conn).or_default();
                    *stalled = !*stalled;
                    if !*stalled {
                        read_all(&mut stepper, &mut peers, now, conn)?;
                    }
                }
            }
            10 => {
                // Every client that reads takes what arrived.
                for conn in open.clone() {
                    if !peers.stalled.get(&conn).copied().unwrap_or(false) {
                        read_all(&mut stepper, &mut peers, now, conn)?;
                    }
                }
            }
            _ => {
                let input = match b.next() % 3 {
                    0 => Input::Stop(StopRequest::Graceful),
                    1 => Input::Stop(StopRequest::Interrupt),
                    _ => Input::Fatal("fuzzed".to_string()),
                };
                stepper.input(now, input, &mut peers)?;
            }
        }
        forget_closed(&stepper, &mut peers, &mut open);
    }
    // The end: an interrupt, every client reads, and within the linger everything is closed.
    stepper.input(now, Input::Stop(StopRequest::Interrupt), &mut peers)?;
    forget_closed(&stepper, &mut peers, &mut open);
    peers.stalled.clear();
    for conn in open.clone() {
        read_all(&mut stepper, &mut peers, now, conn)?;
    }
    let deadline = now + linger;
    while !stepper.core().is_finished() {
        match stepper.core().poll_timeout() {
            Some(at) if at <= deadline => {
                now = now.max(at);
                stepper.input(now, Input::Tick, &mut peers)?;
            }
            _ => {
                return Err(Violation(format!(
                    "{} connection(s) still open {linger} after an interrupt",
                    stepper.core().connection_count()
                )))
            }
        }
    }
    Ok(ScriptRun {
        steps: stepper.steps(),
        waves: stepper.core().rounds().waves_sent(),
    })
}

/// The client of `conn` reads everything that reached it; the core writes more while it can.
fn read_all(
    stepper: &mut Stepper,
    peers: &mut Peers,
    now: Instant,
    conn: ConnId,
) -> Result<(), Violation> {
    loop {
        match peers.sockets.get_mut(&conn) {
            Some((_, unread)) if *unread > 0 => *unread = 0,
            _ => return Ok(()),
        }
        let before = stepper.steps();
        stepper.writable(now, conn, peers)?;
        if stepper.steps() == before {
            return Ok(());
        }
    }
}

/// Forgets the connections the core has closed (a step may close several, an instruction may
/// take several steps).
fn forget_closed(stepper: &Stepper, peers: &mut Peers, open: &mut Vec<ConnId>) {
    let core = stepper.core();
    open.retain(|c| core.conn_state(*c).is_some());
    peers.sockets.retain(|c, _| core.conn_state(*c).is_some());
    peers.stalled.retain(|c, _| core.conn_state(*c).is_some());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_bytes_are_a_script() {
        assert!(run(&[]).is_ok());
        assert!(run(&[0xff; 64]).is_ok());
        let mut rng = super::super::Rng::new(3);
        for _ in 0..200 {
            let data: Vec<u8> = (0..rng.below(400)).map(|_| rng.below(256) as u8).collect();
            if let Err(v) = run(&data) {
                panic!("{v} for {data:?}");
            }
        }
    }

    #[test]
    fn a_script_can_run_rounds() {
        // Two clients needed, no allow list, no planned end, timers off, 600-byte queues.
        let mut data = vec![1, 1, 0, 3, 0, 0, 0, 0, 0, 0, 2];
        // Two connections from 127.0.0.1 with 4 KiB sockets, each says hello.
        data.extend_from_slice(&[0, 0x81, 0, 0x81, 3, 0, 0, 0, 3, 1, 0, 1]);
        // Five times: both read, both send `!`.
        for _ in 0..5 {
            data.extend_from_slice(&[10, 3, 0, 3, 0, 3, 1, 3, 0]);
        }
        let run = run(&data).unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(run.waves, 6, "{run:?}");
    }
}
