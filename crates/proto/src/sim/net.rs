//! The simulated network: one [`Link`] per connection with its two directions in flight, the
//! socket buffer between the conductor and a client that may stop reading, and the queue of
//! timed events. Bytes keep their order within a connection, never across connections; every
//! write may arrive in pieces, late, or (in the fault phase) very late. Performs no I/O.

use std::collections::{BTreeMap, VecDeque};

use crate::core::ConnId;
use crate::time::{Duration, Instant};

use super::client::{Act, Client};
use super::plan::Op;
use super::rng::Rng;
use super::stepper::Sockets;

/// Names a link for the whole run (core connection ids are reused, these are not).
pub type LinkId = u64;

/// Something due at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The oldest piece in flight towards the conductor may have arrived.
    ToConductor(LinkId),
    /// The oldest piece in flight towards the client may have arrived.
    ToClient(LinkId),
    /// A client's act, scheduled under the given generation.
    Client(LinkId, u64, Act),
    /// A client connects; `honest` forces a well-behaved one.
    Connect {
        /// Whether the client must behave.
        honest: bool,
    },
    /// An operator action or a fatal error.
    Op(Op),
    /// Faults stop.
    Calm,
}

/// What travels from a client to the conductor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Up {
    /// Bytes.
    Data(Vec<u8>),
    /// The client closed its side.
    Fin,
}

/// One connection: a client, the core's id for it while open, and what is in flight.
#[derive(Debug)]
pub struct Link {
    /// The client at the far end.
    pub client: Client,
    /// The core's id while the core has it open.
    pub core: Option<ConnId>,
    latency: Duration,
    jitter: u64,
    /// Socket buffer space from the conductor to the client.
    capacity: usize,
    /// Bytes the conductor wrote that the client has not read.
    pub unread: usize,
    /// In flight towards the conductor, in order, with arrival times.
    pub up: VecDeque<(Instant, Up)>,
    up_last: Instant,
    /// In flight towards the client, in order, with arrival times.
    pub down: VecDeque<(Instant, Vec<u8>)>,
    down_last: Instant,
    /// Arrived at the client, not read yet.
    pub arrived: Vec<u8>,
    /// The conductor closed the connection: the client reads the rest, then end of file.
    pub conductor_closed: bool,
}

impl Link {
    /// Socket space left from the conductor to the client.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.unread)
    }
}

/// Everything outside the core: links, clock, events, the network's randomness.
#[derive(Debug)]
pub struct World {
    /// The current time.
    pub now: Instant,
    /// Randomness for delays, splits and capacities.
    pub rng: Rng,
    /// Every link of the run, open or not.
    pub links: BTreeMap<LinkId, Link>,
    /// Open core connections and their links.
    pub by_core: BTreeMap<ConnId, LinkId>,
    events: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    /// Fault phase: some pieces are held up for long.
    pub spikes: bool,
    /// The link whose connection is being accepted.
    pub accepting: Option<LinkId>,
}

impl World {
    /// An empty world at time zero.
    pub fn new(rng: Rng) -> World {
        World {
            now: Instant::ZERO,
            rng,
            links: BTreeMap::new(),
            by_core: BTreeMap::new(),
            events: BTreeMap::new(),
            seq: 0,
            spikes: true,
            accepting: None,
        }
    }

    /// Schedules `event` at `at` (after the events already scheduled for that time).
    pub fn schedule(&mut self, at: Instant, event: Event) {
        self.seq += 1;
        self.events.insert((at, self.seq), event);
    }

    /// When the next event is due.
    pub fn next_event(&self) -> Option<Instant> {
        self.events.keys().next().map(|(at, _)| *at)
    }

    /// Takes the next event due by now.
    pub fn pop_due(&mut self) -> Option<Event> {
        let (&(at, _), _) = self.events.iter().next()?;
        if at > self.now {
            return None;
        }
        self.events.pop_first().map(|(_, e)| e)
    }

    /// Adds a link for a new client; the caller accepts it in the core.
    pub fn add_link(&mut self, id: LinkId, client: Client) {
        let rng = &mut self.rng;
        let link = Link {
            client,
            core: None,
            latency: Duration::from_micros(rng.range(0, 5_000)),
            jitter: rng.pick(&[0, 100, 2_000, 10_000]),
            capacity: rng.pick(&[16, 64, 600, 4_096, 4_096, 65_536, 65_536]),
            unread: 0,
            up: VecDeque::new(),
            up_last: Instant::ZERO,
            down: VecDeque::new(),
            down_last: Instant::ZERO,
            arrived: Vec::new(),
            conductor_closed: false,
        };
        self.links.insert(id, link);
    }

    /// When a piece sent now on `link` arrives: latency, jitter, now and then a long hold-up
    /// in the fault phase, and never before the piece sent before it.
    fn arrival(&mut self, id: LinkId, towards_conductor: bool) -> Instant {
        let spike = self.spikes && self.rng.chance(20);
        let extra = if spike {
            Duration::from_millis(self.rng.range(50, 800))
        } else {
            Duration::ZERO
        };
        let draw = self.rng.next_u64();
        let now = self.now;
        let Some(link) = self.links.get_mut(&id) else {
            return now;
        };
        let jitter = Duration::from_micros(draw % (link.jitter + 1));
        let last = if towards_conductor {
            &mut link.up_last
        } else {
            &mut link.down_last
        };
        let at = (now + link.latency + jitter + extra).max(*last);
        *last = at;
        at
    }

    /// A client sends bytes: they travel in one or more pieces.
    pub fn send_up(&mut self, id: LinkId, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let take = if self.rng.chance(500) {
                rest.len()
            } else {
                self.rng.range(1, rest.len() as u64) as usize
            };
            let at = self.arrival(id, true);
            if let Some(link) = self.links.get_mut(&id) {
                link.up.push_back((at, Up::Data(rest[..take].to_vec())));
            }
            self.schedule(at, Event::ToConductor(id));
            rest = &rest[take..];
        }
    }

    /// A client closes its side: the conductor sees it after the bytes sent before.
    pub fn fin_up(&mut self, id: LinkId) {
        let at = self.arrival(id, true);
        if let Some(link) = self.links.get_mut(&id) {
            link.up.push_back((at, Up::Fin));
        }
        self.schedule(at, Event::ToConductor(id));
    }

    /// The core closed `conn`: nothing more reaches the conductor; the client reads what is in
    /// flight, then sees the end of the stream.
    pub fn conductor_closed(&mut self, conn: ConnId) {
        let Some(id) = self.by_core.remove(&conn) else {
            return;
        };
        let at = match self.links.get_mut(&id) {
            Some(link) => {
                link.core = None;
                link.conductor_closed = true;
                link.up.clear();
                link.down_last.max(self.now)
            }
            None => return,
        };
        self.schedule(at, Event::ToClient(id));
    }
}

impl Sockets for World {
    fn opened(&mut self, conn: ConnId) {
        if let Some(id) = self.accepting.take() {
            self.by_core.insert(conn, id);
            if let Some(link) = self.links.get_mut(&id) {
                link.core = Some(conn);
            }
        }
    }

    fn write(&mut self, conn: ConnId, bytes: &[u8]) -> usize {
        let Some(&id) = self.by_core.get(&conn) else {
            return 0;
        };
        let Some(link) = self.links.get(&id) else {
            return 0;
        };
        let n = link.room().min(bytes.len());
        if n == 0 {
            return 0;
        }
        let at = self.arrival(id, false);
        if let Some(link) = self.links.get_mut(&id) {
            link.unread += n;
            link.down.push_back((at, bytes[..n].to_vec()));
        }
        self.schedule(at, Event::ToClient(id));
        n
    }
}
