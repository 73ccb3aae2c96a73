//! A simulated client: how it says hello (properly or not), how it takes part in rounds, and
//! the faults it may commit. It decides what to send and when, as [`Effect`]s; the network
//! carries them. Performs no I/O.
//!
//! Its session is a [`Participant`] state machine: everything it reads goes through it, which
//! checks what the conductor sends (only whole messages, the hello first, no Go during a step,
//! nothing after an `R` or `X`), answers probes and encodes `K`, `!`, `X` and `R`. The faults
//! it commits on purpose (a bad or missing hello, garbage, wrong or partial messages, a long
//! refusal, a flood) are raw bytes the machine never sees. Those that may change what the
//! conductor has seen of it without its machine knowing (a bad or unfinished hello, garbage, a
//! stray `K` or `!` the conductor may take for an answer, an unfinished message) put the
//! client *off script*: a Go during a step then says its machine is stale, not that the
//! conductor is wrong, and at calm it closes its connection rather than carry on.

use crate::participant::{Event, OutOfTurn, Participant, ProtocolError, State};
use crate::time::Duration;
use crate::wire::{ClientMsg, Id, RawHello, Reason, ID_LEN, VERSION};

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
    /// Send the answers to probes its machine has queued.
    Answer,
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
    /// Its machine no longer describes what the conductor has seen of it (see the module
    /// docs).
    pub off_script: bool,
    /// It has sent `X`, `R`, closed or reset: it sends nothing more.
    pub quiet: bool,
    /// It has closed or reset its side of the connection.
    pub closed: bool,
    /// Its session.
    session: Participant,
    /// The hello it sends, proper or not.
    hello: Vec<u8>,
}

/// A hello with any version and id bytes, encoded by the codec.
fn raw_hello(version: u8, id: [u8; ID_LEN]) -> Vec<u8> {
    let mut bytes = Vec::new();
    ClientMsg::Hello(RawHello { version, id }).encode_into(&mut bytes);
    bytes
}

fn ms(rng: &mut Rng, lo: u64, hi: u64) -> Duration {
    Duration::from_micros(rng.range(lo * 1000, hi * 1000))
}

impl Client {
    /// A client called `name` (at most 12 printable characters).
    pub fn new(name: String, kind: Kind) -> Client {
        let id = |name: &str| {
            Id::new(name)
                .unwrap_or_else(|_| unreachable!("a name of at most 12 printable characters"))
        };
        // A duplicate's session is the other client's, hello and all.
        let mut session = Participant::new(id(match &kind {
            Kind::Duplicate(other) => other,
            _ => &name,
        }));
        let machine_hello = session.take_pending();
        let hello = match &kind {
            Kind::BadVersion => raw_hello(b'2', *id(&name).as_wire()),
            Kind::BlankId => raw_hello(VERSION, [b' '; ID_LEN]),
            Kind::BadId => {
                let mut bell = *id(&name).as_wire();
                bell[0] = 0x07;
                raw_hello(VERSION, bell)
            }
            _ => machine_hello,
        };
        let off_script = !matches!(kind, Kind::Honest | Kind::Duplicate(_) | Kind::Disallowed);
        Client {
            name,
            kind,
            generation: 0,
            reading: true,
            frozen: false,
            slow: false,
            off_script,
            quiet: false,
            closed: false,
            session,
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
        if let Err(error) = self.session.handle(bytes) {
            // Off script, the conductor may have taken a stray `!` for an answer and sent the
            // next Go: the machine is stale, and checks nothing more on this connection.
            let stale = self.off_script && matches!(error, ProtocolError::GoDuringStep { .. });
            if !stale {
                return Err(format!("{}: {error}", self.name));
            }
        }
        let mut effects = Vec::new();
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Go(_) if !self.quiet => effects.extend(self.plan_work(rng)),
                Event::Probed if !self.quiet => {
                    let delay = if self.slow {
                        ms(rng, 0, 400)
                    } else {
                        ms(rng, 0, 5)
                    };
                    effects.push(Effect::Later(delay, Act::Answer));
                }
                Event::Refused(reason) => effects.push(Effect::Refused(reason.as_str().into())),
                _ => {}
            }
        }
        Ok(effects)
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
        if matches!(self.session.state(), State::Working { .. }) {
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
        let session = &mut self.session;
        let queued = match act {
            Act::Ack => session.ack().is_ok(),
            Act::Done => session.done().is_ok(),
            Act::AckDone => {
                // `!` alone once `K` has gone.
                let _ = session.ack();
                session.done().is_ok()
            }
            Act::Answer => !session.pending().is_empty(),
            Act::HelloByte(i) => {
                return match self.hello.get(i) {
                    Some(&b) => vec![
                        Effect::Send(vec![b]),
                        Effect::Later(ms(rng, 1, 300), Act::HelloByte(i + 1)),
                    ],
                    None => Vec::new(),
                }
            }
            Act::Fault(fault) => return self.commit(fault, rng),
        };
        if queued {
            vec![Effect::Send(session.take_pending())]
        } else {
            Vec::new()
        }
    }

    fn commit(&mut self, fault: Fault, rng: &mut Rng) -> Vec<Effect> {
        match fault {
            Fault::Exit => {
                self.quiet = true;
                self.say_goodbye(Participant::leave)
            }
            Fault::Refuse => {
                self.quiet = true;
                let len = rng.below(30) as usize;
                let text: String = (0..len)
                    .map(|_| rng.range(0x20, 0x7e) as u8 as char)
                    .collect();
                self.say_goodbye(|session| session.refuse(Reason::lossy(&text)).map(drop))
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
                self.off_script = true;
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
                // The conductor may take a stray `K` or `!` for an answer.
                if matches!(bytes[..], [b'K' | b'!']) {
                    self.off_script = true;
                }
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
                self.off_script = true;
                let mut bytes = vec![b'R'];
                bytes
                    .extend_from_slice(&(rng.range(532, u64::from(u32::MAX)) as u32).to_le_bytes());
                vec![Effect::Send(bytes)]
            }
            Fault::Partial => {
                self.off_script = true;
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

    /// Sends `X` or `R` through its machine (nothing once the session has ended).
    fn say_goodbye(
        &mut self,
        goodbye: impl FnOnce(&mut Participant) -> Result<(), OutOfTurn>,
    ) -> Vec<Effect> {
        match goodbye(&mut self.session) {
            Ok(()) => vec![Effect::Send(self.session.take_pending())],
            Err(_) => Vec::new(),
        }
    }

    /// Faults stop: it reads again, speeds up, and either finishes its work or, off script
    /// (the conductor may even be waiting for the rest of a message that will never come, an
    /// `X` sent after it included), closes its connection.
    pub fn calm(&mut self, rng: &mut Rng) -> Vec<Effect> {
        self.generation += 1;
        self.reading = true;
        self.frozen = false;
        self.slow = false;
        if self.closed {
            return Vec::new();
        }
        if self.off_script {
            self.quiet = true;
            self.closed = true;
            return vec![Effect::Fin];
        }
        if self.session.step().is_some() && !self.quiet {
            return self.plan_work(rng);
        }
        Vec::new()
    }
}
