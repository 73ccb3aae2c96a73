//! A relay: a participant upstream and a conductor downstream, so that a tree of relays is one
//! barrier of any size (PROTOCOL.md "Relays"). This module is the glue between the two halves
//! and nothing else: the downstream side is the conductor core itself, following its upstream
//! ([`Conductor::follow_upstream`]); the upstream side is the participant's state machine,
//! one session per connection. It performs no I/O, reads no clock and starts no thread.
//!
//! # The contract
//! The driver owns the core and a [`Relay`] beside it, and one upstream connection at a time.
//! 1. Every core input goes to the core as for a conductor, except the operator's stop
//!    requests, which go to [`Relay::handle`] (a relay stops differently).
//! 2. Every [`Output`] the core gives is shown to [`Relay::observe`] before the driver acts on
//!    it; after draining the core, call [`Relay::settle`]. Both may feed the core (a wave, an
//!    end), so drain the core again until both are quiet.
//! 3. Drain [`Relay::poll_output`]: [`UpOutput::Connect`] asks for a new upstream connection
//!    (report [`UpInput::Connected`] or [`UpInput::Closed`]), [`UpOutput::Transmit`] for
//!    [`Relay::pending`] to be written (report [`UpInput::Sent`]), [`UpOutput::Close`] for the
//!    connection to be dropped once what is pending is written.
//! 4. Upstream bytes go to [`UpInput::Received`], its end to [`UpInput::Closed`], and
//!    [`UpInput::Tick`] once [`Relay::poll_timeout`] has passed.
//!
//! # What it does
//! It connects upstream once `min_clients` of its participants are ready. An upstream Go(n) is
//! answered `K` and offered to the core as a wave with step n; when that downstream round
//! ends, Done goes upstream (at once when nobody was ready). `W` goes upstream every
//! heartbeat while the round runs. `T` and `S n` are passed down; `C` or `X` end the core
//! with `C`, `X` (exit 0), `E` with `E`, `X` (exit 1). An upstream lost without a goodbye is
//! reconnected with backoff, hello again with the same id, for up to the reconnect window,
//! while the participants stay connected; the Done of a round whose Go came on a lost
//! connection is never sent on the next, unless the next connection's first Go is for that
//! very step (an upstream restarted from its state file sends its last wave again): then the
//! relay answers it as a participant that reconnects does (PROTOCOL.md "Surviving restarts"),
//! Done at once if that round has ended downstream, else at its end, and never a second
//! downstream wave, so its participants see no step twice. A planned restart
//! ([`StopRequest::Restart`]) closes both sides without a word.

#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use crate::core::{Conductor, Event as CoreEvent, Input, Output, PassDown, StopRequest};
use crate::participant::{Closed, Event as UpEvent, Moment, Participant};
use crate::round::EndKind;
use crate::status::UpstreamStatus;
use crate::time::{Duration, Instant};
use crate::wire::{Id, Reason};

/// The first pause before reconnecting; it doubles after each failed try.
pub const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest pause between two tries.
pub const MAX_RETRY: Duration = Duration::from_millis(1_000);
/// The default reconnect window.
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(30_000);
/// The default period of `W` upstream while a round runs.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(1_000);

/// The relay's own settings; its downstream side is configured as a conductor's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RelayConfig {
    /// The id it says hello with upstream.
    pub id: Id,
    /// `W` upstream every this long while its round runs; zero = only to answer `?`.
    pub heartbeat: Duration,
    /// How long an upstream outage may last before the relay gives up (`E`, `X`, exit 1);
    /// zero = give up at once.
    pub window: Duration,
}

impl RelayConfig {
    /// The defaults for `id`.
    pub fn new(id: Id) -> Self {
        RelayConfig {
            id,
            heartbeat: DEFAULT_HEARTBEAT,
            window: DEFAULT_WINDOW,
        }
    }
}

/// An event from the upstream side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpInput<'a> {
    /// The connection asked for by [`UpOutput::Connect`] is open.
    Connected,
    /// Bytes arrived from upstream, any split of the stream.
    Received(&'a [u8]),
    /// The socket took `n` bytes of [`Relay::pending`].
    Sent(usize),
    /// The connection could not be made, or it ended.
    Closed,
    /// Time has passed.
    Tick,
    /// The operator asked the relay to stop.
    Stop(StopRequest),
}

/// An action for the driver's upstream side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpOutput {
    /// Open a connection upstream.
    Connect,
    /// Write [`Relay::pending`] as far as the socket takes it.
    Transmit,
    /// Write what is pending, then close the connection.
    Close,
    /// Something to log.
    Event(RelayEvent),
}

/// What happened upstream, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayEvent {
    /// Enough participants are ready: the first connection upstream is asked for.
    Quorum {
        /// Participants ready.
        ready: u32,
    },
    /// The upstream conductor's hello arrived.
    Joined {
        /// Its id.
        conductor: Id,
        /// Connections tried before this one since the last was lost (0 the first time).
        retries: u32,
    },
    /// The upstream connection was lost (or could not be made) without a goodbye.
    Lost {
        /// When in the session.
        at: Moment,
        /// The next try comes after this pause.
        retry_in: Duration,
        /// The relay had not joined upstream on this connection.
        before_hello: bool,
    },
    /// The reconnected upstream sent the Go of a step whose downstream round had ended:
    /// answered Done at once, without a second wave.
    Repeated {
        /// The step.
        step: u32,
    },
    /// The reconnected upstream sent the Go of a step whose downstream round still runs:
    /// its end is answered on this connection, without a second wave.
    Resumed {
        /// The step.
        step: u32,
    },
    /// The upstream refused a hello with `duplicate id`: it has not noticed the old
    /// connection is gone. Tried again like a lost connection.
    DuplicateId {
        /// The next try comes after this pause.
        retry_in: Duration,
    },
    /// The upstream said goodbye, broke the protocol or stayed away too long: the relay ends.
    Ended {
        /// Why, in words.
        why: String,
    },
}

/// Where the upstream link is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Link {
    /// Fewer than `min_clients` participants have been ready so far.
    Quorum,
    /// A connection was asked for; no hello from upstream yet.
    Connecting,
    /// The upstream's hello arrived.
    Up,
    /// Lost; the next try is due then.
    Down { retry_at: Instant },
    /// Over: the relay ends or has ended.
    Over,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Quorum => "waiting",
            Link::Connecting => "connecting",
            Link::Up => "connected",
            Link::Down { .. } => "reconnecting",
            Link::Over => "closed",
        }
    }
}

/// The relay's glue. See the module docs.
#[derive(Clone, Debug)]
pub struct Relay {
    config: RelayConfig,
    link: Link,
    /// The session on the current connection, from [`UpInput::Connected`] on.
    session: Option<Participant>,
    outputs: VecDeque<UpOutput>,
    /// The downstream wave (counted from 0) whose end is answered with Done upstream, and
    /// its step.
    owed: Option<(u64, u32)>,
    /// A downstream wave whose Go came on a connection lost since, while it runs, and its
    /// step: a first Go for that step on the next connection takes it over.
    orphan: Option<(u64, u32)>,
    /// The step of the last downstream round that ended for an upstream Go, answered or not:
    /// a first Go for it on the next connection is answered at once.
    completed: Option<u32>,
    /// No Go has arrived yet on the current connection.
    first_go: bool,
    /// Downstream rounds that have ended, counted from [`CoreEvent::RoundEnd`].
    rounds_ended: u64,
    next_heartbeat: Option<Instant>,
    /// A graceful stop waits for the owed round.
    stopping: bool,
    last_step: Option<u32>,
    /// When the current outage began, and the tries since.
    lost_since: Option<Instant>,
    retries: u32,
}

impl Relay {
    /// A relay that has not connected upstream yet. Makes `core` follow its upstream.
    pub fn new(config: RelayConfig, core: &mut Conductor) -> Self {
        core.follow_upstream();
        Relay {
            config,
            link: Link::Quorum,
            session: None,
            outputs: VecDeque::new(),
            owed: None,
            orphan: None,
            completed: None,
            first_go: false,
            rounds_ended: 0,
            next_heartbeat: None,
            stopping: false,
            last_step: None,
            lost_since: None,
            retries: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The session on the current upstream connection, if one is open.
    pub fn session(&self) -> Option<&Participant> {
        self.session.as_ref()
    }

    /// True once the relay has joined upstream on the current connection.
    pub fn is_joined(&self) -> bool {
        self.link == Link::Up
    }

    /// True once the relay ends: nothing more is asked of the upstream.
    pub fn is_over(&self) -> bool {
        self.link == Link::Over
    }

    /// The step of the last Go from upstream.
    pub fn last_step(&self) -> Option<u32> {
        self.last_step
    }

    /// The upstream side for the status files; `address` is left empty for the driver.
    pub fn status(&self) -> UpstreamStatus {
        UpstreamStatus {
            address: String::new(),
            state: self.link.name().to_string(),
            last_step: self.last_step,
        }
    }

    /// Feeds into `state` what decides the relay's future (times relative to the core's
    /// latest input), for model checkers; see [`Conductor::fingerprint`].
    pub fn fingerprint<H: std::hash::Hasher>(&self, now: Instant, state: &mut H) {
        use std::hash::Hash;
        let rel = |t: Instant| crate::core::relative(t, now);
        match self.link {
            Link::Down { retry_at } => (4u8, rel(retry_at)).hash(state),
            other => (other.name(), 0i128).hash(state),
        }
        self.session
            .as_ref()
            .map(|s| (s.state(), s.pending()))
            .hash(state);
        let relative = |(wave, step): (u64, u32)| (wave.wrapping_sub(self.rounds_ended), step);
        self.owed.map(relative).hash(state);
        self.orphan.map(relative).hash(state);
        (self.completed, self.first_go).hash(state);
        self.next_heartbeat.map(rel).hash(state);
        (self.stopping, self.last_step, self.retries).hash(state);
        self.lost_since.map(rel).hash(state);
    }

    /// Bytes to write upstream.
    pub fn pending(&self) -> &[u8] {
        self.session.as_ref().map_or(&[], Participant::pending)
    }

    /// The next action for the driver's upstream side.
    pub fn poll_output(&mut self) -> Option<UpOutput> {
        self.outputs.pop_front()
    }

    /// When [`UpInput::Tick`] has something to do next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retry = match self.link {
            Link::Down { retry_at } => Some(retry_at),
            _ => None,
        };
        [retry, self.next_heartbeat].into_iter().flatten().min()
    }

    /// Feeds one upstream event; drain the core and [`poll_output`](Self::poll_output)
    /// afterwards.
    pub fn handle(&mut self, core: &mut Conductor, now: Instant, input: UpInput<'_>) {
        match input {
            UpInput::Connected => {
                if self.link == Link::Connecting && self.session.is_none() {
                    self.first_go = true;
                    self.session = Some(Participant::reconnecting(self.config.id, self.completed));
                    self.outputs.push_back(UpOutput::Transmit);
                }
            }
            UpInput::Received(bytes) => self.received(core, now, bytes),
            UpInput::Sent(n) => {
                if let Some(session) = &mut self.session {
                    session.sent(n);
                }
            }
            UpInput::Closed => self.closed(core, now),
            UpInput::Tick => self.tick(now),
            UpInput::Stop(StopRequest::Interrupt) => {
                self.leave();
                core.handle_input(now, Input::Stop(StopRequest::Interrupt));
            }
            UpInput::Stop(StopRequest::Restart) => {
                // Without a word upstream: the relay comes back as the same participant.
                if self.link != Link::Over {
                    self.link = Link::Over;
                    self.next_heartbeat = None;
                    if self.session.is_some() {
                        self.outputs.push_back(UpOutput::Close);
                    }
                }
                core.handle_input(now, Input::Stop(StopRequest::Restart));
            }
            UpInput::Stop(StopRequest::Graceful) => {
                self.stopping = true;
                if self.owed.is_none() {
                    self.leave();
                    core.end_now(now, EndKind::Graceful);
                }
            }
        }
    }

    /// Looks at one of the core's outputs before the driver acts on it: a downstream round's
    /// end owes Done upstream, the core's end says goodbye upstream.
    pub fn observe(&mut self, core: &mut Conductor, now: Instant, output: &Output) {
        match output {
            Output::Event(CoreEvent::RoundEnd { .. }) => {
                let ended = self.rounds_ended;
                self.rounds_ended += 1;
                if let Some((_, step)) = self.orphan.filter(|&(wave, _)| wave == ended) {
                    self.orphan = None;
                    self.completed = Some(step);
                }
                if let Some((_, step)) = self.owed.filter(|&(wave, _)| wave == ended) {
                    self.owed = None;
                    self.completed = Some(step);
                    self.next_heartbeat = None;
                    if let Some(session) = &mut self.session {
                        if session.done().is_ok() {
                            self.outputs.push_back(UpOutput::Transmit);
                        }
                    }
                    if self.stopping {
                        self.leave();
                        core.end_now(now, EndKind::Graceful);
                    }
                }
            }
            Output::Exit(_) => self.leave(),
            _ => {}
        }
    }

    /// After the core's outputs are drained: connect upstream once `min_clients` are ready.
    pub fn settle(&mut self, core: &Conductor) {
        let ready = core.ready_count();
        if self.link == Link::Quorum && ready >= core.rounds().config().min_clients {
            self.link = Link::Connecting;
            self.outputs
                .push_back(UpOutput::Event(RelayEvent::Quorum { ready }));
            self.outputs.push_back(UpOutput::Connect);
        }
    }

    /// Says `X` upstream (if a session is open) and stops asking anything of the upstream.
    fn leave(&mut self) {
        if self.link == Link::Over {
            return;
        }
        self.link = Link::Over;
        self.next_heartbeat = None;
        if let Some(session) = &mut self.session {
            if session.leave().is_ok() {
                self.outputs.push_back(UpOutput::Transmit);
            }
            self.outputs.push_back(UpOutput::Close);
        }
    }

    /// The relay ends because of its upstream: the core ends with `kind`.
    fn end(&mut self, core: &mut Conductor, now: Instant, kind: EndKind, why: String) {
        if self.link == Link::Over {
            return;
        }
        self.link = Link::Over;
        self.next_heartbeat = None;
        self.outputs
            .push_back(UpOutput::Event(RelayEvent::Ended { why }));
        if self.session.is_some() {
            self.outputs.push_back(UpOutput::Close);
        }
        core.end_now(now, kind);
    }

    fn received(&mut self, core: &mut Conductor, now: Instant, bytes: &[u8]) {
        let Some(session) = &mut self.session else {
            return;
        };
        if let Err(error) = session.handle(bytes) {
            let why = format!("upstream: {error}");
            self.end(core, now, EndKind::Fatal(why.clone()), why);
            return;
        }
        if !session.pending().is_empty() {
            // A `?` the session answered itself.
            self.outputs.push_back(UpOutput::Transmit);
        }
        while let Some(event) = self.session.as_mut().and_then(Participant::poll_event) {
            self.on_upstream(core, now, event);
        }
    }

    /// One message from upstream, in order.
    fn on_upstream(&mut self, core: &mut Conductor, now: Instant, event: UpEvent) {
        if self.link == Link::Over {
            return;
        }
        match event {
            UpEvent::Hello(conductor) => {
                self.link = Link::Up;
                let retries = std::mem::take(&mut self.retries);
                self.lost_since = None;
                self.outputs
                    .push_back(UpOutput::Event(RelayEvent::Joined { conductor, retries }));
            }
            UpEvent::Go(step) => {
                let first = std::mem::take(&mut self.first_go);
                self.last_step = Some(step);
                self.outputs.push_back(UpOutput::Transmit);
                let Some(session) = &mut self.session else {
                    return;
                };
                if first && self.completed == Some(step) {
                    // Its round ended after this connection was made: the session could not
                    // know. Valid: the session has just taken a Go.
                    let _ = session.done();
                    self.outputs
                        .push_back(UpOutput::Event(RelayEvent::Repeated { step }));
                    return;
                }
                // Valid: the session has just taken a Go.
                let _ = session.ack();
                if !self.config.heartbeat.is_zero() {
                    self.next_heartbeat = Some(now + self.config.heartbeat);
                }
                match self
                    .orphan
                    .filter(|&(_, orphaned)| first && orphaned == step)
                {
                    Some(orphan) => {
                        self.orphan = None;
                        self.owed = Some(orphan);
                        self.outputs
                            .push_back(UpOutput::Event(RelayEvent::Resumed { step }));
                    }
                    None => {
                        let wave = core.rounds().waves_sent();
                        // An orphan offered but never sent is replaced by this wave.
                        self.orphan = self.orphan.filter(|&(orphaned, _)| orphaned < wave);
                        self.owed = Some((wave, step));
                        core.offer_wave(now, step);
                    }
                }
            }
            UpEvent::Repeated(step) => {
                self.first_go = false;
                self.last_step = Some(step);
                self.outputs.push_back(UpOutput::Transmit);
                self.outputs
                    .push_back(UpOutput::Event(RelayEvent::Repeated { step }));
            }
            UpEvent::Slow => core.pass_down(now, PassDown::Slow),
            UpEvent::ShuttingDown(n) => core.pass_down(now, PassDown::Countdown(n)),
            UpEvent::Cease => self.end(
                core,
                now,
                EndKind::Planned,
                "the upstream conductor ceased operation (C)".into(),
            ),
            UpEvent::Exit => self.end(
                core,
                now,
                EndKind::Planned,
                "the upstream conductor closed the connection (X)".into(),
            ),
            UpEvent::ErrorShutdown => {
                let why = "the upstream conductor shut down because of an error (E)".to_string();
                self.end(core, now, EndKind::Fatal(why.clone()), why);
            }
            UpEvent::Refused(reason) => self.refused(core, now, reason),
            UpEvent::Probed | UpEvent::Here => {}
        }
    }

    /// A refusal from upstream: `duplicate id` is an outage the upstream has not noticed yet;
    /// anything else ends the relay.
    fn refused(&mut self, core: &mut Conductor, now: Instant, reason: Reason) {
        if reason.as_str().starts_with("duplicate id") {
            self.session = None;
            self.orphan_owed();
            self.outputs.push_back(UpOutput::Close);
            if let Some(retry_in) = self.retry(core, now) {
                self.outputs
                    .push_back(UpOutput::Event(RelayEvent::DuplicateId { retry_in }));
            }
            return;
        }
        let why = format!("refused by the upstream conductor: {reason}");
        self.end(core, now, EndKind::Fatal(why.clone()), why);
    }

    fn closed(&mut self, core: &mut Conductor, now: Instant) {
        let Some(mut session) = self.session.take() else {
            // A connection that could not be made.
            if self.link == Link::Connecting {
                if let Some(retry_in) = self.retry(core, now) {
                    self.outputs.push_back(UpOutput::Event(RelayEvent::Lost {
                        at: Moment::BeforeFirstStep,
                        retry_in,
                        before_hello: true,
                    }));
                }
            }
            return;
        };
        let Closed::Lost(at) = session.closed() else {
            // After a goodbye, which has been acted on.
            return;
        };
        if self.link == Link::Over {
            return;
        }
        let before_hello = self.link != Link::Up;
        self.orphan_owed();
        self.next_heartbeat = None;
        if self.stopping {
            self.link = Link::Over;
            core.end_now(now, EndKind::Graceful);
            return;
        }
        if let Some(retry_in) = self.retry(core, now) {
            self.outputs.push_back(UpOutput::Event(RelayEvent::Lost {
                at,
                retry_in,
                before_hello,
            }));
        }
    }

    /// The connection the owed round's Go came on is lost: its Done is not sent on the next,
    /// unless that one's first Go takes it over.
    fn orphan_owed(&mut self) {
        if let Some(owed) = self.owed.take() {
            self.orphan = Some(owed);
        }
    }

    /// Schedules the next try, or ends the relay when the window has passed. Returns the
    /// pause before the next try.
    fn retry(&mut self, core: &mut Conductor, now: Instant) -> Option<Duration> {
        let since = *self.lost_since.get_or_insert(now);
        if now - since >= self.config.window {
            let why = format!(
                "the upstream conductor stayed unreachable for {} (the reconnect window)",
                self.config.window
            );
            self.end(core, now, EndKind::Fatal(why.clone()), why);
            return None;
        }
        let pause = backoff(self.retries);
        self.retries += 1;
        self.link = Link::Down {
            retry_at: now + pause,
        };
        Some(pause)
    }

    fn tick(&mut self, now: Instant) {
        if let Link::Down { retry_at } = self.link {
            if now >= retry_at {
                self.link = Link::Connecting;
                self.outputs.push_back(UpOutput::Connect);
            }
        }
        if let Some(due) = self.next_heartbeat {
            if now >= due {
                self.next_heartbeat = Some(now + self.config.heartbeat);
                if let Some(session) = &mut self.session {
                    if session.working().is_ok() {
                        self.outputs.push_back(UpOutput::Transmit);
                    }
                }
            }
        }
    }
}

/// The pause before try number `retries` (counted from 0): doubling from [`FIRST_RETRY`] up
/// to [`MAX_RETRY`].
pub fn backoff(retries: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << retries.min(10))
        .min(MAX_RETRY)
}
