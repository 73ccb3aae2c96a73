//! A simulated client: how it says hello (properly or not), how it takes part in rounds, and
//! the faults it may commit. It decides what to send and when, as [`Effect`]s; the network
//! carries them. It also checks what it receives: only whole conductor messages, nothing after
//! an `R` or an `X`. Performs no I/O.

use crate::time::Duration;
use crate::wire::{ConductorMsg, ID_LEN, VERSION};

use super::rng::Rng;

/// How a client opens its session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A proper hello at once.
    Honest,
    /// Connects and never says anything.
    NoHello,
    /// Sends its hello a byte at a time, slowly.
    Slowloris,
    /// A hello with another protocol version.
    BadVersion,
    /// A hello whose id is all spaces.
    BlankId,
    /// A hello whose id holds a byte that is not printable.
    BadId,
    /// A hello with the id of another client.
    Duplicate(String),
    /// Connects from an address outside `allow`.
    Disallowed,
}

/// Something a client does wrong at some moment of the fault phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Sends `X`.
    Exit,
    /// Sends `R` with a reason.
    Refuse,
    /// Closes its side of the connection.
    Close,
    /// Resets the connection: whatever is in flight is lost.
    Reset,
    /// Sends random bytes.
    Garbage,
    /// Sends a message that may not fit its state (`K`, `!`, a second hello...).
    Wrong,
    /// Stops reading.
    Stall,
    /// Stops reading and sending (a stopped process).
    Freeze,
    /// Sends a burst of `?` and stops reading the answers: often just enough to leave the
    /// conductor's queue for it a few bytes short of full, so that the next message overflows.
    Flood,
    /// Sends an `R` whose length is over the limit.
    LongRefusal,
    /// Sends part of a message and nothing more.
    Partial,
    /// Takes long over every step and answer.
    Slow,
}

/// Every fault, for picking one and for reports.
pub const FAULTS: [Fault; 12] = [
    Fault::Exit,
    Fault::Refuse,
    Fault::Close,
    Fault::Reset,
    Fault::Garbage,
    Fault::Wrong,
    Fault::Stall,
    Fault::Freeze,
    Fault::Flood,
    Fault::LongRefusal,
    Fault::Partial,
    Fault::Slow,
];

/// A client's action that waits for its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// Send `K`.
    Ack,
    /// Send `!`.
    Done,
    /// Send `K!` in one write.
    AckDone,
    /// Answer a probe with this byte (`.` or `W`).
    Answer(u8),
    /// Send byte `i` of a slow hello.
    HelloByte(usize),
    /// Commit a fault.
    Fault(Fault),
}

/// What a client wants the network (or the report) to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Carry out an act after this delay.
    Later(Duration, Act),
    /// Close the sending side.
    Fin,
    /// Reset the connection.
    Reset,
    /// The conductor refused this client with this reason.
    Refused(String),
    /// Send a burst of `?`, sized by the network (which knows how much room is left).
    Flood,
}

/// One simulated client.
#[derive(Clone, Debug)]
pub struct Client {
    /// Its display name (its id unless its kind says otherwise).
    pub name: String,
    /// How it opens its session.
    pub kind: Kind,
    /// Acts scheduled under an older generation are void.
    pub generation: u64,
    /// It reads what arrives.
    pub reading: bool,
    /// It neither reads nor sends.
    pub frozen: bool,
    /// It takes long over everything.
    pub slow: bool,
    /// Its byte stream is no longer a sequence of whole messages.
    pub broken: bool,
    /// It has sent `X`, `R`, closed or reset: it sends nothing more.
    pub quiet: bool,
    /// It has closed or reset its side of the connection.
    pub closed: bool,
    /// The step it works on.
    pub working: Option<u32>,
    /// It has sent `K` for that step.
    acked: bool,
    /// It has received `R` or `X`: nothing may follow.
    pub finished: bool,
    /// Bytes read and not yet a whole message.
    rx: Vec<u8>,
    hello: Vec<u8>,
}

fn hello_bytes(version: u8, id: [u8; ID_LEN]) -> Vec<u8> {
    let mut bytes = vec![b'A', version];
    bytes.extend_from_slice(&id);
    bytes
}

fn padded(name: &str) -> [u8; ID_LEN] {
    let mut id = [b' '; ID_LEN];
    for (slot, b) in id.iter_mut().zip(name.bytes()) {
        *slot = b;
    }
    id
}

fn ms(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_micros(rng.range(lo * 1000, hi * 1000))
}

impl Client {
    /// A client called `name` (at most 12 printable characters).
    pub fn new(name: String, kind: Kind) -> Client {
        let hello = match &kind {
            Kind::BadVersion => hello_bytes(b'2', padded(&name)),
            Kind::BlankId => hello_bytes(VERSION, [b' '; ID_LEN]),
            Kind::BadId => {
                let mut id = padded(&name);
                id[0] = 0x07;
                hello_bytes(VERSION, id)
            }
            Kind::Duplicate(other) => hello_bytes(VERSION, padded(other)),
            _ => hello_bytes(VERSION, padded(&name)),
        };
        let broken = matches!(kind, Kind::NoHello | Kind::Slowloris);
        Client {
            name,
            kind,
            generation: 0,
            reading: true,
            frozen: false,
            slow: false,
            broken,
            quiet: false,
            closed: false,
            working: None,
            acked: false,
            finished: false,
            rx: Vec::new(),
            hello,
        }
    }

    /// What it does on connecting.
    pub fn connected(&mut self, rng: &mut Rng) -> Vec<Effect> {
        match self.kind {
            Kind::NoHello => Vec::new(),
            Kind::Slowloris => vec![Effect::Later(ms(rng, 1, 300), Act::HelloByte(0))],
            _ => vec![Effect::Send(self.hello.clone())],
        }
    }

    /// Takes what it read; returns what it does about it, or what the conductor did wrong.
    pub fn receive(&mut self, bytes: &[u8], rng: &mut Rng) -> Result<Vec<Effect>, String> {
        self.rx.extend_from_slice(bytes);
        let mut effects = Vec::new();
        loop {
            let (msg, n) = match ConductorMsg::decode(&self.rx) {
                Ok(Some(found)) => found,
                Ok(None) => return Ok(effects),
                Err(e) => {
                    return Err(format!(
                        "{} received bytes that are no message: {e}",
                        self.name
                    ))
                }
            };
            self.rx.drain(..n);
            if self.finished {
                return Err(format!("{} received {msg:?} after R or X", self.name));
            }
            match msg {
                ConductorMsg::Hello(h) if h.version != VERSION => {
                    return Err(format!(
                        "{} received a hello of version {}",
                        self.name, h.version
                    ))
                }
                ConductorMsg::Go(step) if !self.quiet => {
                    self.working = Some(step);
                    self.acked = false;
                    effects.extend(self.plan_work(rng));
                }
                ConductorMsg::Ping if !self.quiet => {
                    let answer = if self.working.is_some() { b'W' } else { b'.' };
                    let delay = if self.slow {
                        ms(rng, 0, 400)
                    } else {
                        ms(rng, 0, 5)
                    };
                    effects.push(Effect::Later(delay, Act::Answer(answer)));
                }
                ConductorMsg::Refusal(reason) => {
                    self.finished = true;
                    effects.push(Effect::Refused(reason.as_str().to_string()));
                }
                ConductorMsg::Exit => self.finished = true,
                _ => {}
            }
        }
    }

    /// Schedules the work on the current step: `K` then `!`, `K!` at once, or just `!`.
    fn plan_work(&mut self, rng: &mut Rng) -> Vec<Effect> {
        let mut work = || {
            if self.slow {
                ms(rng, 50, 3_000)
            } else {
                ms(rng, 0, 30)
            }
        };
        let (first, second) = (work(), work());
        if self.acked {
            return vec![Effect::Later(first, Act::Done)];
        }
        match rng.below(3) {
            0 => vec![
                Effect::Later(first, Act::Ack),
                Effect::Later(
                    Duration::from_micros(first.as_micros() + second.as_micros()),
                    Act::Done,
                ),
            ],
            1 => vec![Effect::Later(first, Act::AckDone)],
            _ => vec![Effect::Later(first, Act::Done)],
        }
    }

    /// Carries out an act that has come due.
    pub fn act(&mut self, act: Act, rng: &mut Rng) -> Vec<Effect> {
        if self.quiet || self.frozen {
            return Vec::new();
        }
        match act {
            Act::Ack if self.working.is_some() && !self.acked => {
                self.acked = true;
                vec![Effect::Send(b"K".to_vec())]
            }
            Act::Done | Act::AckDone if self.working.is_some() => {
                self.working = None;
                let bytes = if act == Act::Done || self.acked {
                    "!"
                } else {
                    "K!"
                };
                vec![Effect::Send(bytes.as_bytes().to_vec())]
            }
            Act::Answer(byte) => vec![Effect::Send(vec![byte])],
            Act::HelloByte(i) => match self.hello.get(i) {
                Some(&b) => vec![
                    Effect::Send(vec![b]),
                    Effect::Later(ms(rng, 1, 300), Act::HelloByte(i + 1)),
                ],
                None => Vec::new(),
            },
            Act::Fault(fault) => self.commit(fault, rng),
            _ => Vec::new(),
        }
    }

    fn commit(&mut self, fault: Fault, rng: &mut Rng) -> Vec<Effect> {
        match fault {
            Fault::Exit => {
                self.quiet = true;
                vec![Effect::Send(b"X".to_vec())]
            }
            Fault::Refuse => {
                self.quiet = true;
                let len = rng.below(30) as usize;
                let mut bytes = vec![b'R'];
                bytes.extend_from_slice(&(len as u32).to_le_bytes());
                bytes.extend((0..len).map(|_| rng.range(0x20, 0x7e) as u8));
                vec![Effect::Send(bytes)]
            }
            Fault::Close => {
                self.quiet = true;
                self.closed = true;
                vec![Effect::Fin]
            }
            Fault::Reset => {
                self.quiet = true;
                self.closed = true;
                vec![Effect::Reset]
            }
            Fault::Garbage => {
                self.broken = true;
                let len = rng.range(1, 24) as usize;
                vec![Effect::Send(
                    (0..len).map(|_| rng.below(256) as u8).collect(),
                )]
            }
            Fault::Wrong => {
                let own_hello = self.hello.clone();
                let bytes = match rng.below(5) {
                    0 => b"K".to_vec(),
                    1 => b"!".to_vec(),
                    2 => own_hello,
                    3 => b"W".to_vec(),
                    _ => b"?".to_vec(),
                };
                vec![Effect::Send(bytes)]
            }
            Fault::Stall => {
                self.reading = false;
                Vec::new()
            }
            Fault::Freeze => {
                self.reading = false;
                self.frozen = true;
                self.generation += 1;
                Vec::new()
            }
            Fault::Flood => {
                self.reading = false;
                vec![Effect::Flood]
            }
            Fault::LongRefusal => {
                self.broken = true;
                let mut bytes = vec![b'R'];
                bytes
                    .extend_from_slice(&(rng.range(532, u64::from(u32::MAX)) as u32).to_le_bytes());
                vec![Effect::Send(bytes)]
            }
            Fault::Partial => {
                self.broken = true;
                let whole: &[u8] = if rng.chance(500) {
                    &self.hello
                } else {
                    b"R\x10\0\0\0sixteen letters!"
                };
                let cut = rng.range(1, whole.len() as u64 - 1) as usize;
                vec![Effect::Send(whole[..cut].to_vec())]
            }
            Fault::Slow => {
                self.slow = true;
                Vec::new()
            }
        }
    }

    /// Faults stop: it reads again, speeds up, and either finishes its work or, if its byte
    /// stream is broken (the conductor may be waiting for the rest of a message that will
    /// never come, even an `X` sent after it), closes its connection.
    pub fn calm(&mut self, rng: &mut Rng) -> Vec<Effect> {
        self.generation += 1;
        self.reading = true;
        self.frozen = false;
        self.slow = false;
        if self.closed {
            return Vec::new();
        }
        if self.broken {
            self.quiet = true;
            self.closed = true;
            return vec![Effect::Fin];
        }
        if self.working.is_some() && !self.quiet {
            return self.plan_work(rng);
        }
        Vec::new()
    }
}
