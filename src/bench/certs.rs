//! Certificates made on the spot, for `conductor bench --spawn --tls` and the tests: a CA,
//! a conductor certificate for the loopback names, and one participant certificate per id.
//! ECDSA P-256 keys, as the README's `openssl` commands make. Pure: the caller writes the PEM
//! text where it wants.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};

pub use rcgen::date_time_ymd;
use time::OffsetDateTime;

/// A certificate and its private key, as PEM text.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS #8).
    pub key_pem: String,
}

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A conductor: TLS server authentication.
    Conductor,
    /// A participant: TLS client authentication.
    Participant,
}

/// A certificate authority that issues certificates.
pub struct Authority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

fn words(e: rcgen::Error) -> String {
    format!("cannot make a certificate: {e}")
}

impl Authority {
    /// A new self-signed CA named `name`.
    pub fn new(name: &str) -> Result<Authority, String> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(words)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(words)?;
        Ok(Authority { issuer })
    }

    /// The CA's certificate.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `purpose` naming `names` (DNS names, or IP addresses), valid from a
    /// day ago for a year.
    pub fn issue(&self, purpose: Purpose, names: &[&str]) -> Result<Issued, String> {
        let now = OffsetDateTime::now_utc();
        let day = time::Duration::days(1);
        self.issue_valid(purpose, names, now - day, now + day * 365)
    }

    /// Like [`issue`](Self::issue), valid from `not_before` to `not_after`.
    pub fn issue_valid(
        &self,
        purpose: Purpose,
        names: &[&str],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Result<Issued, String> {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).map_err(words)?;
        params.distinguished_name = DistinguishedName::new();
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.not_before = not_before;
        params.not_after = not_after;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match purpose {
            Purpose::Conductor => ExtendedKeyUsagePurpose::ServerAuth,
            Purpose::Participant => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        let key = KeyPair::generate().map_err(words)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(words)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
