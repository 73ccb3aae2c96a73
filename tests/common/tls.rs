//! Certificates for the TLS tests, made at test time: a CA, the conductor's certificate for
//! `localhost` and `127.0.0.1`, and participant certificates naming whatever a test asks for
//! (expired ones, ones from another CA), written as PEM files into a scratch directory.

use std::path::PathBuf;

use lockstep::TlsConfig;
use lockstep_conductor::bench::certs::{date_time_ymd, Authority, Issued, Purpose};

use super::TempDir;

/// A CA and the files of the certificates it issued.
pub struct Pki {
    pub dir: TempDir,
    ca: Authority,
}

/// A participant certificate's two files.
#[derive(Clone, Debug)]
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    /// A new CA (`ca.pem`) and a conductor certificate (`conductor.pem`, `conductor.key`).
    pub fn new() -> Pki {
        Pki::named("Lockstep test CA")
    }

    /// Like [`new`](Self::new), with the CA named `name`.
    pub fn named(name: &str) -> Pki {
        let pki = Pki {
            dir: TempDir::new("pki"),
            ca: Authority::new(name).expect("CA"),
        };
        std::fs::write(pki.ca_file(), pki.ca.cert_pem()).expect("write ca.pem");
        let conductor = pki
            .ca
            .issue(Purpose::Conductor, &["localhost", "127.0.0.1"])
            .expect("conductor certificate");
        pki.write("conductor", &conductor);
        pki
    }

    fn write(&self, stem: &str, issued: &Issued) -> Identity {
        let identity = Identity {
            cert: self.dir.path(&format!("{stem}.pem")),
            key: self.dir.path(&format!("{stem}.key")),
        };
        std::fs::write(&identity.cert, &issued.cert_pem).expect("write certificate");
        std::fs::write(&identity.key, &issued.key_pem).expect("write key");
        identity
    }

    /// The CA's certificate file.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }

    /// A participant certificate naming `names`, in files named after `stem`.
    pub fn participant(&self, stem: &str, names: &[&str]) -> Identity {
        let issued = self
            .ca
            .issue(Purpose::Participant, names)
            .expect("participant certificate");
        self.write(stem, &issued)
    }

    /// A participant certificate for `name` that expired at the end of 2020.
    pub fn expired_participant(&self, stem: &str, name: &str) -> Identity {
        let issued = self
            .ca
            .issue_valid(
                Purpose::Participant,
                &[name],
                date_time_ymd(2020, 1, 1),
                date_time_ymd(2020, 12, 31),
            )
            .expect("expired certificate");
        self.write(stem, &issued)
    }

    /// The conductor's settings for TLS, with client certificates when `mutual`.
    pub fn conductor_args(&self, mutual: bool) -> Vec<String> {
        let mut args = vec![
            "--tls-cert".to_string(),
            self.dir.path("conductor.pem").display().to_string(),
            "--tls-key".to_string(),
            self.dir.path("conductor.key").display().to_string(),
        ];
        if mutual {
            args.push("--tls-client-ca".to_string());
            args.push(self.ca_file().display().to_string());
        }
        args
    }

    /// A client's TLS settings trusting this CA, showing `identity` if given.
    pub fn client(&self, identity: Option<&Identity>) -> TlsConfig {
        let tls = TlsConfig::new(self.ca_file()).expect("trust the CA");
        match identity {
            Some(id) => tls
                .client_certificate(&id.cert, &id.key)
                .expect("client certificate"),
            None => tls,
        }
    }
}

/// The first flight of a TLS 1.3 client that trusts `pki`'s CA: its ClientHello record.
pub fn client_hello(pki: &Pki) -> Vec<u8> {
    let roots = lockstep::tls::read_roots(&pki.ca_file()).expect("the CA");
    let config = rustls::ClientConfig::builder_with_provider(lockstep::tls::provider())
        .with_protocol_versions(lockstep::tls::VERSIONS)
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a name");
    let mut conn =
        rustls::ClientConnection::new(std::sync::Arc::new(config), name).expect("a client");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("write to a vector");
    }
    hello
}

/// `args` and `more`, as the `&[&str]` that starting a conductor takes.
pub fn with<'a>(args: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    args.iter()
        .map(String::as_str)
        .chain(more.iter().copied())
        .collect()
}
