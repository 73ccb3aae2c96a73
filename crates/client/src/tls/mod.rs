//! TLS for a participant, and the pieces of it the conductor shares: [`TlsConfig`] says which
//! CA to trust for the conductor's certificate, which certificate to show when the conductor
//! asks for one, and which name to check; [`read_certificates`] and [`read_private_key`] read
//! PEM files with errors that name the file and the problem; [`words`] says what a TLS failure
//! means in plain words; [`pump`] moves bytes between a socket and a sans-IO `rustls`
//! connection. TLS 1.3 only, with the `ring` provider ([`provider`]).
//!
//! ```no_run
//! use lockstep::{Client, TlsConfig};
//!
//! let tls = TlsConfig::new("ca.pem")?.client_certificate("worker-1.pem", "worker-1.key")?;
//! let client = Client::connect_tls("conductor.example:7878", "worker-1", &tls)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod pump;
pub mod words;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// The crypto provider every TLS connection of the project uses: `ring`, preferring
/// AES-128-GCM with SHA-256, the cheapest of its suites for the many tiny records of a round
/// and the many handshakes of a fleet starting at once.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::{cipher_suite, default_provider};
    Arc::new(CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        ..default_provider()
    })
}

/// The only protocol version spoken: TLS 1.3.
pub const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A TLS file that cannot be used, or a TLS setting that makes no sense: the file (if any)
/// and the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsError {
    /// The file concerned, if any.
    pub file: Option<PathBuf>,
    /// What is wrong.
    pub problem: String,
}

impl TlsError {
    fn new(file: Option<&Path>, problem: impl Into<String>) -> TlsError {
        TlsError {
            file: file.map(Path::to_path_buf),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(file) => write!(f, "{}: {}", file.display(), self.problem),
            None => f.write_str(&self.problem),
        }
    }
}

impl std::error::Error for TlsError {}

/// How a participant speaks TLS to the conductor. See the module docs.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    roots: Arc<RootCertStore>,
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl TlsConfig {
    /// Trusts the CA certificates in the PEM file `ca_file` for the conductor's certificate;
    /// shows no certificate of its own.
    pub fn new(ca_file: impl AsRef<Path>) -> Result<TlsConfig, TlsError> {
        let ca_file = ca_file.as_ref();
        let pem = read_file(ca_file)?;
        Self::from_ca_pem(&pem).map_err(|e| TlsError::new(Some(ca_file), e.problem))
    }

    /// Like [`new`](Self::new), with the CA certificates given as PEM text.
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsConfig, TlsError> {
        let roots = Arc::new(roots_from_pem(pem, None)?);
        let config = builder(&roots)?.with_no_client_auth();
        Ok(TlsConfig {
            roots,
            config: Arc::new(config),
            server_name: None,
        })
    }

    /// Shows the certificate chain in the PEM file `cert_file`, with the private key in the
    /// PEM file `key_file`, when the conductor asks for a client certificate.
    pub fn client_certificate(
        self,
        cert_file: impl AsRef<Path>,
        key_file: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let chain = read_certificates(cert_file.as_ref())?;
        let key = read_private_key(key_file.as_ref())?;
        self.with_identity(chain, key)
            .map_err(|e| TlsError::new(Some(cert_file.as_ref()), e.problem))
    }

    /// Like [`client_certificate`](Self::client_certificate), with PEM text.
    pub fn client_certificate_pem(
        self,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<TlsConfig, TlsError> {
        let chain = certificates_from_pem(cert_pem, None)?;
        let key = private_key_from_pem(key_pem, None)?;
        self.with_identity(chain, key)
    }

    fn with_identity(
        mut self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsConfig, TlsError> {
        let config = builder(&self.roots)?
            .with_client_auth_cert(chain, key)
            .map_err(|e| {
                TlsError::new(None, format!("the key does not suit the certificate: {e}"))
            })?;
        self.config = Arc::new(config);
        Ok(self)
    }

    /// Checks the conductor's certificate against `name` (a DNS name or an IP address)
    /// instead of the host the client connects to.
    pub fn server_name(mut self, name: &str) -> Result<TlsConfig, TlsError> {
        let name = ServerName::try_from(name.to_string()).map_err(|_| {
            TlsError::new(
                None,
                format!("{name:?} is neither a DNS name nor an IP address"),
            )
        })?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// The name to check the conductor's certificate against: the one set, else `host`.
    pub fn name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        ServerName::try_from(host.to_string()).map_err(|_| {
            TlsError::new(
                None,
                format!(
                    "{host:?} is neither a DNS name nor an IP address to check the conductor's \
                     certificate against; give one with a server name"
                ),
            )
        })
    }

    /// The `rustls` settings, for an event loop that runs its own sessions (a load
    /// generator).
    pub fn client_config(&self) -> Arc<ClientConfig> {
        Arc::clone(&self.config)
    }
}

fn builder(
    roots: &Arc<RootCertStore>,
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, TlsError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| TlsError::new(None, e.to_string()))?
        .with_root_certificates(Arc::clone(roots)))
}

/// Reads a whole file, with an error naming it.
#[allow(clippy::disallowed_methods)] // reading the files it is given is this module's job
fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::new(Some(path), format!("cannot read the file: {e}")))
}

/// The certificates of a PEM file (a chain: the certificate first, then its issuers).
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certificates_from_pem(&read_file(path)?, Some(path))
}

/// The private key of a PEM file (PKCS #8, SEC1 or PKCS #1).
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    private_key_from_pem(&read_file(path)?, Some(path))
}

/// The CA certificates of a PEM file, as trust anchors.
pub fn read_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    roots_from_pem(&read_file(path)?, Some(path))
}

/// Every PEM section of `pem`: its kind and its bytes; an error for text that is not PEM.
fn sections(pem: &[u8], file: Option<&Path>) -> Result<Vec<(SectionKind, Vec<u8>)>, TlsError> {
    <(SectionKind, Vec<u8>)>::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(file, format!("not valid PEM: {}", pem_words(&e))))
}

fn pem_words(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "a section has no end line {:?}",
            String::from_utf8_lossy(end_marker)
        ),
        pem::Error::IllegalSectionStart { line } => format!(
            "a section starts with the malformed line {:?}",
            String::from_utf8_lossy(line)
        ),
        pem::Error::Base64Decode(e) => format!("a section is not valid base64 ({e})"),
        other => other.to_string(),
    }
}

/// The certificates in PEM text.
pub fn certificates_from_pem(
    pem: &[u8],
    file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = sections(pem, file)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if certs.is_empty() {
        return Err(TlsError::new(
            file,
            "holds no certificate (a PEM block \"-----BEGIN CERTIFICATE-----\")",
        ));
    }
    Ok(certs)
}

/// The private key in PEM text: exactly one.
pub fn private_key_from_pem(
    pem: &[u8],
    file: Option<&Path>,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let mut keys = sections(pem, file)?
        .into_iter()
        .filter_map(|(kind, der)| match kind {
            SectionKind::PrivateKey => Some(PrivateKeyDer::Pkcs8(der.into())),
            SectionKind::EcPrivateKey => Some(PrivateKeyDer::Sec1(der.into())),
            SectionKind::RsaPrivateKey => Some(PrivateKeyDer::Pkcs1(der.into())),
            _ => None,
        });
    match (keys.next(), keys.next()) {
        (Some(key), None) => Ok(key),
        (None, _) => Err(TlsError::new(
            file,
            "holds no private key (a PEM block \"-----BEGIN PRIVATE KEY-----\", \
             \"-----BEGIN EC PRIVATE KEY-----\" or \"-----BEGIN RSA PRIVATE KEY-----\"; \
             an encrypted key must be decrypted first)",
        )),
        (Some(_), Some(_)) => Err(TlsError::new(
            file,
            "holds more than one private key: give the certificate's own key alone",
        )),
    }
}

/// The CA certificates in PEM text, as trust anchors.
pub fn roots_from_pem(pem: &[u8], file: Option<&Path>) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates_from_pem(pem, file)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(
                file,
                format!(
                    "holds a certificate that cannot be a CA: {}",
                    words::error(&e, words::Side::Client)
                ),
            )
        })?;
    }
    Ok(roots)
}
