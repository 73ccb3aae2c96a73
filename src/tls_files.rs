//! The TLS files a participant is given on the command line — `--tls-ca FILE [--tls-cert FILE
//! --tls-key FILE] [--tls-name NAME]`, as `conductor join` and `conductor bench --addr` take
//! them — read as flags and turned into the client's settings.

use std::path::PathBuf;

use lockstep::{TlsConfig, TlsError};
use pico_args::Arguments;

use crate::cli::flags;

/// The CA to trust, a client certificate and its key, the name the conductor's certificate
/// must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates to trust for the conductor's certificate.
    pub ca: PathBuf,
    /// A client certificate and its key, for a conductor that asks for one.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// The name the conductor's certificate must carry (default: the host connected to).
    pub name: Option<String>,
}

impl TlsFiles {
    /// Reads the flags; `None` without `--tls-ca`. A certificate without its key (or the
    /// reverse), or either without a CA, is a usage error.
    pub fn from_flags(args: &mut Arguments) -> Result<Option<TlsFiles>, String> {
        let ca: Option<PathBuf> = flags::path(args, "--tls-ca")?;
        let cert: Option<PathBuf> = flags::path(args, "--tls-cert")?;
        let key: Option<PathBuf> = flags::path(args, "--tls-key")?;
        let name: Option<String> = flags::value(args, "--tls-name")?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_string()),
        };
        match ca {
            Some(ca) => Ok(Some(TlsFiles { ca, identity, name })),
            None if identity.is_some() || name.is_some() => {
                Err("--tls-cert, --tls-key and --tls-name need --tls-ca".to_string())
            }
            None => Ok(None),
        }
    }

    /// The client's settings: reads the files; the conductor's certificate must name
    /// `--tls-name`, or else `host`.
    pub fn config(&self, host: &str) -> Result<TlsConfig, TlsError> {
        let mut tls = TlsConfig::new(&self.ca)?;
        if let Some((cert, key)) = &self.identity {
            tls = tls.client_certificate(cert, key)?;
        }
        tls.server_name(self.name.as_deref().unwrap_or(host))
    }
}
