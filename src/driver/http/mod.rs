//! The HTTP endpoint (key `http`): `/metrics` for Prometheus, `/status.json` (the status file's
//! document, current at the request), `/recent.json` (the last rounds, removals and refusals)
//! and `/`, a status page that refreshes itself from those two. It is served from the driver's
//! own mio loop, so the rounds and the answers never race for the core; and it is bounded so
//! that it can never slow the rounds by more than a small share: per turn of the loop at most
//! [`ACCEPTS_PER_WAKE`](server::ACCEPTS_PER_WAKE) accepts and [`ANSWERS_PER_WAKE`] answers
//! rendered, and a turn with nothing for it costs one test. Everything it shows comes from the
//! core's events and its status snapshot; the core knows nothing of it.
//!
//! | module | owns |
//! |---|---|
//! | [`server`] | the listener and the connections: accept, read a head, write an answer, time out |
//! | [`request`] | reading a request head (`httparse`): the path, or the status that refuses it |
//! | [`response`] | the bytes of an answer |
//! | [`metrics`] | counters from the events, and the Prometheus text (`prometheus-client`) |
//! | [`process`] | the `process_*` metrics, from `/proc` |
//! | [`recent`] | the rings of recent round durations, removals and refusals |
//! | [`page`] | the status page |

mod metrics;
mod page;
mod process;
mod recent;
mod request;
mod response;
mod server;

use std::io;
use std::net::SocketAddr;

use mio::{Registry, Token};

use lockstep_proto::core::{Conductor, Event};
use lockstep_proto::time::Instant;

use super::Shown;
use crate::status::Render;

use metrics::{Metrics, Now};
use process::Process;
use recent::Recent;
use request::Request;
use response::Code;
use server::Server;

/// Answers rendered per turn of the loop; more requests wait for the next turn.
pub const ANSWERS_PER_WAKE: usize = 4;

/// The endpoint: its sockets and what it counts.
pub struct Http {
    server: Server,
    metrics: Metrics,
    recent: Recent,
    process: Process,
}

impl Http {
    /// Serves on an already bound listener, registered with `registry`.
    pub fn new(listener: std::net::TcpListener, registry: &Registry) -> io::Result<Http> {
        Ok(Http {
            server: Server::new(listener, registry)?,
            metrics: Metrics::default(),
            recent: Recent::default(),
            process: Process::new(),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// Whether `token` belongs to the endpoint.
    pub fn owns(token: Token) -> bool {
        server::owns(token)
    }

    /// Handles a readiness event for one of its tokens.
    pub fn ready(&mut self, registry: &Registry, event: &mio::event::Event, now: Instant) {
        self.server.ready(registry, event, now);
    }

    /// Counts and keeps what it shows of one of the core's events.
    pub fn record(&mut self, now: Instant, event: &Event) {
        self.metrics.record(event);
        self.recent.record(now, event);
    }

    /// True when the next turn has work without waiting for an event.
    pub fn has_work(&self) -> bool {
        self.server.has_work()
    }

    /// When a connection times out next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.server.next_deadline()
    }

    /// One turn of the loop: times connections out, accepts, and answers the requests read.
    pub fn turn(&mut self, registry: &Registry, now: Instant, core: &Conductor, shown: Shown<'_>) {
        if self.server.is_idle() {
            return;
        }
        self.server.expire(registry, now);
        self.server.accept_some(registry, now);
        for _ in 0..ANSWERS_PER_WAKE {
            let Some((slot, request)) = self.server.next_request() else {
                break;
            };
            let (code, bytes) = self.render(&request, now, core, shown);
            self.server.answer(registry, slot, code, bytes, now);
        }
    }

    /// Closes the listener and every connection.
    pub fn close(&mut self, registry: &Registry) {
        self.server.close_all(registry);
    }

    /// The answer to a request.
    fn render(
        &self,
        request: &Request,
        now: Instant,
        core: &Conductor,
        shown: Shown<'_>,
    ) -> (Code, Vec<u8>) {
        let head_only = request.head_only;
        let (content_type, body) = match request.path.as_str() {
            "/" | "/index.html" => ("text/html; charset=utf-8", page::PAGE.to_string()),
            "/metrics" => {
                let status = super::snapshot(core, now, shown);
                let process = self.process.stats();
                let answers = self.server.answered();
                let text = self.metrics.encode(&Now {
                    status: &status,
                    connections: core.connection_count(),
                    process: &process,
                    answers: &answers,
                });
                (
                    prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
                    text,
                )
            }
            "/status.json" => (
                "application/json",
                super::snapshot(core, now, shown).to_json(),
            ),
            "/recent.json" => {
                let text = self.recent.to_json(
                    now,
                    &self.metrics.removals(),
                    &self.metrics.refusals_before_hello(),
                    self.metrics.rounds(),
                );
                ("application/json", text)
            }
            _ => return (Code::NotFound, response::error(Code::NotFound)),
        };
        (
            Code::Ok,
            response::ok(content_type, body.as_bytes(), head_only),
        )
    }
}
