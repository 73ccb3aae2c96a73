//! TLS in the driver: the server settings read from `tls_cert`, `tls_key` and `tls_client_ca`
//! ([`Settings::load`], whose errors are configuration errors), one sans-IO `rustls` session
//! per peer ([`Session`], in `session.rs`), the names of a participant's certificate
//! (`names.rs`), and the driver's handling of what a session reports (`Driver::on_tls`).
//!
//! The core stays unaware of TLS: it gets the plaintext, the names a client certificate
//! proved ([`Input::Identified`]) and failures ([`Input::TransportFailed`]); the bytes it
//! queues are encrypted on their way to the socket. Its hello timer starts at the accept, so
//! `hello_timeout_ms` covers the handshake and the hello together.

mod names;
mod session;

pub use session::{News, Session};

use std::path::Path;
use std::sync::Arc;

use lockstep::tls::{self as shared, TlsError};
use lockstep_proto::core::{ConnId, Input};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::ServerConfig;

use super::Driver;
use crate::config::{Config, ConfigError};

/// The conductor's TLS settings, shared by every peer's session.
#[derive(Clone, Debug)]
pub struct Settings {
    config: Arc<ServerConfig>,
    /// Participants present certificates, and their hellos must claim a name of theirs.
    bind_ids: bool,
}

impl Settings {
    /// The settings the configuration asks for: `None` when `tls_cert` is empty. `source`
    /// names where the configuration came from, for errors: each names the key, the file and
    /// the problem (a file that cannot be read, holds no certificate or key, a key that does
    /// not belong to the certificate, a certificate that has expired).
    pub fn load(config: &Config, source: &str) -> Result<Option<Settings>, ConfigError> {
        if config.tls_cert.is_empty() {
            return Ok(None);
        }
        let error = |key: &str, e: TlsError| ConfigError {
            source: source.to_string(),
            key: Some(key.to_string()),
            problem: e.to_string(),
        };
        let cert_path = Path::new(&config.tls_cert);
        let chain = shared::read_certificates(cert_path).map_err(|e| error("tls_cert", e))?;
        names::check_validity(&chain[0], cert_path).map_err(|e| error("tls_cert", e))?;
        let key_path = Path::new(&config.tls_key);
        let key = shared::read_private_key(key_path).map_err(|e| error("tls_key", e))?;
        let provider = shared::provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(shared::VERSIONS)
            .map_err(|e| {
                error(
                    "tls_cert",
                    TlsError {
                        file: None,
                        problem: e.to_string(),
                    },
                )
            })?;
        let client_auth = !config.tls_client_ca.is_empty();
        let builder = if client_auth {
            let ca_path = Path::new(&config.tls_client_ca);
            let roots = shared::read_roots(ca_path).map_err(|e| error("tls_client_ca", e))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| {
                    let problem = format!("cannot verify client certificates with it: {e}");
                    error(
                        "tls_client_ca",
                        TlsError {
                            file: Some(ca_path.into()),
                            problem,
                        },
                    )
                })?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut server = builder.with_single_cert(chain, key).map_err(|e| {
            let problem = format!("does not belong to the certificate in tls_cert ({e})");
            error(
                "tls_key",
                TlsError {
                    file: Some(key_path.into()),
                    problem,
                },
            )
        })?;
        // Participants reconnect rarely: no session tickets or cache, which cost a round trip
        // of bytes and memory for every connection.
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(NoServerSessionStorage {});
        // The provider's order of suites, not the client's (see `lockstep::tls::provider`).
        server.ignore_client_order = true;
        Ok(Some(Settings {
            config: Arc::new(server),
            bind_ids: client_auth && config.tls_bind_ids,
        }))
    }

    /// A session for a freshly accepted peer.
    pub fn session(&self) -> Box<Session> {
        Box::new(Session::new(Arc::clone(&self.config), self.bind_ids))
    }
}

impl Driver {
    /// Speaks TLS on every connection accepted from now on, as `settings` say.
    pub fn use_tls(&mut self, settings: Option<Settings>) {
        self.tls = settings;
    }

    /// Carries out what a peer's session reported after bytes arrived: the names its
    /// certificate proved, the plaintext for the core, a failure, the end of the session;
    /// then writes what the session has to send (handshake records, an alert, the core's
    /// bytes once the handshake is done). True when the connection is done with.
    pub(super) fn on_tls(&mut self, conn: ConnId, news: News) -> bool {
        let now = self.clock;
        let done = news.closed || news.failed.is_some();
        if let Some(names) = news.identified {
            self.core
                .handle_input(now, Input::Identified { conn, names });
        }
        let plain = self.peers.plaintext();
        if !plain.is_empty() {
            self.core
                .handle_input(now, Input::Received { conn, bytes: plain });
        }
        self.drain();
        if let Some(reason) = news.failed {
            self.core
                .handle_input(now, Input::TransportFailed { conn, reason });
            self.drain();
        }
        self.flush(conn);
        self.drain();
        if news.closed {
            self.core.handle_input(now, Input::Closed { conn });
            self.drain();
        }
        done
    }
}
