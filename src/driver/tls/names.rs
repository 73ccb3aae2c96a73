//! What the driver reads inside certificates: the names of a participant's certificate (its
//! DNS subject alternative names, or its common name when it has none), which its hello's id
//! must be one of, and whether the conductor's own certificate is valid now. Reads the clock
//! for the second.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use lockstep::tls::words::utc;
use lockstep::tls::TlsError;
use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The names a certificate gives its holder: its DNS subject alternative names, or its common
/// name(s) when it has none. Empty for a certificate that cannot be parsed (which the
/// handshake has already verified, so that does not happen).
pub fn of(cert: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = X509Certificate::from_der(cert.as_ref()) else {
        return Vec::new();
    };
    let dns: Vec<String> = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_string()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    if !dns.is_empty() {
        return dns;
    }
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .map(str::to_string)
        .collect()
}

/// Refuses a certificate that is not valid now: every participant would refuse it.
pub fn check_validity(cert: &CertificateDer<'_>, file: &Path) -> Result<(), TlsError> {
    let problem = |problem: String| TlsError {
        file: Some(file.to_path_buf()),
        problem,
    };
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|e| problem(format!("its first certificate cannot be parsed: {e}")))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let validity = parsed.validity();
    let shown = |t: i64| utc(u64::try_from(t).unwrap_or(0));
    if now > validity.not_after.timestamp() {
        return Err(problem(format!(
            "the certificate has expired (it was valid until {})",
            shown(validity.not_after.timestamp())
        )));
    }
    if now < validity.not_before.timestamp() {
        return Err(problem(format!(
            "the certificate is not valid yet (it is valid from {})",
            shown(validity.not_before.timestamp())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    fn cert(sans: &[&str], cn: Option<&str>) -> CertificateDer<'static> {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(sans).expect("names");
        params.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        let key = KeyPair::generate().expect("key");
        params.self_signed(&key).expect("certificate").der().clone()
    }

    #[test]
    fn dns_names_first_the_common_name_without_them() {
        assert_eq!(
            of(&cert(&["worker-1", "worker-2"], Some("ignored"))),
            ["worker-1", "worker-2"]
        );
        assert_eq!(of(&cert(&[], Some("worker-7"))), ["worker-7"]);
        // An address is no id.
        assert_eq!(of(&cert(&["10.0.0.1"], Some("node"))), ["node"]);
        assert!(of(&cert(&[], None)).is_empty());
        assert!(of(&CertificateDer::from(vec![1, 2, 3])).is_empty());
    }

    #[test]
    fn a_certificate_valid_now_passes_and_garbage_is_named() {
        let file = Path::new("c.pem");
        assert_eq!(check_validity(&cert(&["a"], None), file), Ok(()));
        let e = check_validity(&CertificateDer::from(vec![1, 2, 3]), file).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.pem: its first certificate cannot be parsed"),
            "{e}"
        );
    }
}
