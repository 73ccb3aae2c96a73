//! TLS for `conductor bench`: the simulated clients' settings, and the conductor's files for a
//! run that starts its own. With `--spawn --tls` the run makes a CA, a conductor certificate
//! for `localhost` and `127.0.0.1`, and one client certificate per simulated client naming its
//! id, so the conductor binds ids to certificates as in production; with `--addr` and
//! `--tls-ca` every client shares the settings given.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lockstep::TlsConfig;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;

use super::certs::{Authority, Purpose};
pub use crate::tls_files::TlsFiles;

/// The simulated clients' TLS settings: one for all, or one per client.
#[derive(Clone, Debug)]
pub struct ClientTls {
    configs: Vec<Arc<ClientConfig>>,
    /// The name checked in the server's certificate.
    pub name: ServerName<'static>,
}

impl ClientTls {
    /// The settings of client number `i` of the run.
    pub fn config(&self, i: usize) -> Arc<ClientConfig> {
        Arc::clone(&self.configs[i % self.configs.len()])
    }

    /// Settings from files, shared by every client; `host` is the host of `--addr`.
    pub fn from_files(files: &TlsFiles, host: &str) -> Result<ClientTls, String> {
        let mut tls = TlsConfig::new(&files.ca).map_err(|e| e.to_string())?;
        if let Some((cert, key)) = &files.identity {
            tls = tls
                .client_certificate(cert, key)
                .map_err(|e| e.to_string())?;
        }
        if let Some(name) = &files.name {
            tls = tls.server_name(name).map_err(|e| e.to_string())?;
        }
        Ok(ClientTls {
            configs: vec![tls.client_config()],
            name: tls.name_for(host).map_err(|e| e.to_string())?,
        })
    }
}

/// Certificates for a run that starts its own conductor: its files in `dir`, and a client
/// certificate for each id.
pub fn spawned(dir: &Path, ids: &[String]) -> Result<(ServerFiles, ClientTls), String> {
    let ca = Authority::new("lockstep bench CA")?;
    let server = ca.issue(Purpose::Conductor, &["localhost", "127.0.0.1"])?;
    let files = ServerFiles {
        cert: dir.join("conductor.pem"),
        key: dir.join("conductor.key"),
        client_ca: dir.join("ca.pem"),
    };
    for (path, text) in [
        (&files.cert, &server.cert_pem),
        (&files.key, &server.key_pem),
        (&files.client_ca, &ca.cert_pem()),
    ] {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let trust = TlsConfig::from_ca_pem(ca.cert_pem().as_bytes()).map_err(|e| e.to_string())?;
    let configs = ids
        .iter()
        .map(|id| {
            let issued = ca.issue(Purpose::Participant, &[id])?;
            let tls = trust
                .clone()
                .client_certificate_pem(issued.cert_pem.as_bytes(), issued.key_pem.as_bytes())
                .map_err(|e| e.to_string())?;
            Ok(tls.client_config())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    Ok((files, ClientTls { configs, name }))
}

/// The conductor's TLS files for a run that starts it.
#[derive(Clone, Debug)]
pub struct ServerFiles {
    /// `tls_cert`.
    pub cert: PathBuf,
    /// `tls_key`.
    pub key: PathBuf,
    /// `tls_client_ca`.
    pub client_ca: PathBuf,
}
