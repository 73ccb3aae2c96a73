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

/// The names of the four flags.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
    name: &'static str,
}

impl Flags {
    /// A participant's: `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-name`.
    pub const PARTICIPANT: Flags = Flags {
        ca: "--tls-ca",
        cert: "--tls-cert",
        key: "--tls-key",
        name: "--tls-name",
    };
    /// A relay's upstream side: `--upstream-tls-ca` and so on.
    pub const UPSTREAM: Flags = Flags {
        ca: "--upstream-tls-ca",
        cert: "--upstream-tls-cert",
        key: "--upstream-tls-key",
        name: "--upstream-tls-name",
    };
}

impl TlsFiles {
    /// Reads the flags; `None` without `--tls-ca`. A certificate without its key (or the
    /// reverse), or either without a CA, is a usage error.
    pub fn from_flags(args: &mut Arguments) -> Result<Option<TlsFiles>, String> {
        Self::from_named_flags(args, &Flags::PARTICIPANT)
    }

    /// The same, under other names: `conductor relay` takes its upstream's as
    /// [`Flags::UPSTREAM`], since `--tls-cert` and `--tls-key` are its own side's.
    pub fn from_named_flags(
        args: &mut Arguments,
        names: &Flags,
    ) -> Result<Option<TlsFiles>, String> {
        let (f_ca, f_cert, f_key, f_name) = (names.ca, names.cert, names.key, names.name);
        let ca: Option<PathBuf> = flags::path(args, f_ca)?;
        let cert: Option<PathBuf> = flags::path(args, f_cert)?;
        let key: Option<PathBuf> = flags::path(args, f_key)?;
        let name: Option<String> = flags::value(args, f_name)?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(format!("{f_cert} and {f_key} go together")),
        };
        match ca {
            Some(ca) => Ok(Some(TlsFiles { ca, identity, name })),
            None if identity.is_some() || name.is_some() => {
                Err(format!("{f_cert}, {f_key} and {f_name} need {f_ca}"))
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
