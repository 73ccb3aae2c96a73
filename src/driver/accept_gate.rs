//! Accepting on a side listener (the HTTP endpoint, the control socket) without letting it take
//! the participants' time: readiness remembered between events, at most a fixed number of
//! accepts per turn (the owner's loop), and a pause after an accept failed for want of
//! descriptors or memory instead of trying again at once. Owns no socket: the owner passes the
//! accept call.

use std::io;

use lockstep_proto::time::{Duration, Instant};

/// How long accepting pauses after an accept failed for a reason other than an empty backlog.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Whether a listener has connections waiting, and whether accepting is paused.
#[derive(Debug)]
pub struct AcceptGate {
    /// `name: ` is the start of the gate's log lines.
    name: &'static str,
    /// A readiness event came and no accept has said `WouldBlock` since.
    ready: bool,
    /// Accepting is paused until then after a failed accept.
    paused_until: Option<Instant>,
}

impl AcceptGate {
    /// A gate for a listener just registered: its backlog may already hold connections.
    pub fn new(name: &'static str) -> AcceptGate {
        AcceptGate {
            name,
            ready: true,
            paused_until: None,
        }
    }

    /// The listener's readiness event.
    pub fn readable(&mut self) {
        self.ready = true;
    }

    /// True when an accept could take a connection now (or once the pause ends).
    pub fn waiting(&self) -> bool {
        self.ready && self.paused_until.is_none()
    }

    /// When the pause after a failed accept ends, while one runs.
    pub fn paused_until(&self) -> Option<Instant> {
        self.paused_until
    }

    /// The next connection, or `None` when the backlog is empty or accepting is paused: a
    /// failed accept (other than an interrupted call or a connection already gone) pauses
    /// accepting for [`ACCEPT_BACKOFF`].
    pub fn next<S>(
        &mut self,
        now: Instant,
        mut accept: impl FnMut() -> io::Result<S>,
    ) -> Option<S> {
        match self.paused_until {
            Some(until) if now < until => return None,
            Some(_) => self.paused_until = None,
            None => {}
        }
        while self.ready {
            match accept() {
                Ok(stream) => return Some(stream),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready = false,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    log::debug!(
                        "{}: cannot accept: {e}; pausing for {ACCEPT_BACKOFF}",
                        self.name
                    );
                    self.paused_until = Some(now + ACCEPT_BACKOFF);
                    return None;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn an_empty_backlog_closes_the_gate_until_the_next_event() {
        let mut gate = AcceptGate::new("test");
        let mut backlog = vec![Ok(1), Err(io::ErrorKind::Interrupted.into()), Ok(2)];
        backlog.reverse();
        let mut accept = || {
            backlog
                .pop()
                .unwrap_or(Err(io::ErrorKind::WouldBlock.into()))
        };
        assert_eq!(gate.next(at(0), &mut accept), Some(1));
        assert_eq!(gate.next(at(0), &mut accept), Some(2));
        assert_eq!(gate.next(at(0), &mut accept), None);
        assert!(!gate.waiting());
        let mut calls = 0;
        assert_eq!(
            gate.next(at(0), || {
                calls += 1;
                Ok(3)
            }),
            None
        );
        assert_eq!(calls, 0, "no accept without a readiness event");
        gate.readable();
        assert_eq!(gate.next(at(0), || Ok(3)), Some(3));
    }

    #[test]
    fn a_failed_accept_pauses_accepting_for_the_backoff() {
        let mut gate = AcceptGate::new("test");
        let fail = || -> io::Result<u32> { Err(io::Error::from_raw_os_error(libc::EMFILE)) };
        assert_eq!(gate.next(at(0), fail), None);
        assert_eq!(gate.paused_until(), Some(at(100)));
        assert!(!gate.waiting());
        assert_eq!(gate.next(at(99), || Ok(1)), None);
        assert_eq!(gate.next(at(100), || Ok(1)), Some(1));
        assert_eq!(gate.paused_until(), None);
    }
}
