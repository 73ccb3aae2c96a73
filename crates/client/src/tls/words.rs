//! What a TLS failure means, in plain words, from either end: the participant's (whose peer
//! is the conductor) or the conductor's (whose peer is a participant). Certificate problems
//! are named: unknown issuer, expired, not yet valid, wrong name, no certificate. Pure.

use rustls::{AlertDescription, CertificateError, Error};

/// Which end is describing the failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// A participant: its peer is the conductor.
    Client,
    /// The conductor: its peer is a participant.
    Server,
}

impl Side {
    /// The peer's certificate, as a sentence starts with it.
    fn peers_certificate(self) -> &'static str {
        match self {
            Side::Client => "the conductor's certificate",
            Side::Server => "the participant's certificate",
        }
    }

    /// The trusted CA, as this side's settings call it.
    fn trusted(self) -> &'static str {
        match self {
            Side::Client => "the CA this participant trusts",
            Side::Server => "the CA in tls_client_ca",
        }
    }

    fn peer(self) -> &'static str {
        match self {
            Side::Client => "the conductor",
            Side::Server => "the participant",
        }
    }
}

/// `error` in words, as seen from `side`.
pub fn error(error: &Error, side: Side) -> String {
    match error {
        Error::InvalidCertificate(e) => certificate(e, side),
        Error::NoCertificatesPresented => format!(
            "{} presented no certificate (a client certificate is required)",
            side.peer()
        ),
        Error::AlertReceived(alert) => {
            format!(
                "{} refused the handshake: {}",
                side.peer(),
                alert_words(*alert, side)
            )
        }
        Error::InvalidMessage(_)
        | Error::InappropriateMessage { .. }
        | Error::InappropriateHandshakeMessage { .. } => {
            format!(
                "{} sent something that is not valid TLS ({error})",
                side.peer()
            )
        }
        Error::PeerIncompatible(why) => {
            format!("{} cannot speak TLS 1.3 with us ({why:?})", side.peer())
        }
        Error::DecryptError => format!("a record from {} could not be decrypted", side.peer()),
        other => other.to_string(),
    }
}

/// A certificate problem in words.
fn certificate(e: &CertificateError, side: Side) -> String {
    let whose = side.peers_certificate();
    match e {
        CertificateError::UnknownIssuer => {
            format!(
                "{whose} is not signed by {} (unknown issuer)",
                side.trusted()
            )
        }
        CertificateError::Expired => format!("{whose} has expired"),
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "{whose} has expired (it was valid until {})",
            utc(not_after.as_secs())
        ),
        CertificateError::NotValidYet => format!("{whose} is not valid yet"),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "{whose} is not valid yet (it is valid from {})",
            utc(not_before.as_secs())
        ),
        CertificateError::NotValidForName => {
            format!("{whose} is not valid for the name used (wrong name)")
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "{whose} is not valid for the name {} (wrong name; it names {})",
            expected.to_str(),
            if presented.is_empty() {
                "nothing".to_string()
            } else {
                presented
                    .iter()
                    .map(|n| bare_name(n))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        CertificateError::BadSignature => format!("{whose} has a signature that does not verify"),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            format!("{whose} is not meant for this use ({e})")
        }
        CertificateError::Revoked => format!("{whose} has been revoked"),
        other => format!("{whose} cannot be used: {other}"),
    }
}

/// A presented name without the wrapping `rustls` shows it in (`DnsName("x")`,
/// `IpAddress(1.2.3.4)`).
fn bare_name(name: &str) -> &str {
    name.strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            name.strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
        .unwrap_or(name)
}

/// What the peer's alert says of our own certificate or of the handshake.
fn alert_words(alert: AlertDescription, side: Side) -> String {
    let ours = match side {
        Side::Client => "this participant's certificate",
        Side::Server => "the conductor's certificate",
    };
    match alert {
        AlertDescription::UnknownCA => {
            format!("it does not trust the CA that signed {ours} (unknown CA)")
        }
        AlertDescription::CertificateRequired => {
            "it requires a client certificate and none was given".to_string()
        }
        AlertDescription::CertificateExpired => {
            format!("{ours} has expired or is not valid yet")
        }
        AlertDescription::BadCertificate => format!("{ours} is not acceptable (bad certificate)"),
        AlertDescription::CertificateRevoked => format!("{ours} has been revoked"),
        AlertDescription::UnsupportedCertificate => format!("{ours} is not meant for this use"),
        AlertDescription::CertificateUnknown => format!("{ours} is not acceptable"),
        AlertDescription::AccessDenied => "access denied".to_string(),
        AlertDescription::DecryptError => {
            format!("{ours} or a handshake signature does not verify")
        }
        AlertDescription::ProtocolVersion | AlertDescription::HandshakeFailure => {
            "no TLS version or cipher suite in common (TLS 1.3 is required)".to_string()
        }
        other => format!("alert {other:?}"),
    }
}

/// Seconds since 1970 as a UTC date and time, `2025-01-31 23:59:59 UTC`.
pub fn utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Howard Hinnant's civil-from-days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_735_689_599), "2024-12-31 23:59:59 UTC");
    }

    #[test]
    fn certificate_problems_are_named_from_either_side() {
        let unknown = Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            error(&unknown, Side::Server),
            "the participant's certificate is not signed by the CA in tls_client_ca (unknown issuer)"
        );
        assert_eq!(
            error(&unknown, Side::Client),
            "the conductor's certificate is not signed by the CA this participant trusts \
             (unknown issuer)"
        );
        let expired = Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(
            error(&expired, Side::Client),
            "the conductor's certificate has expired"
        );
        assert_eq!(
            error(
                &Error::AlertReceived(AlertDescription::CertificateRequired),
                Side::Client
            ),
            "the conductor refused the handshake: it requires a client certificate and none was \
             given"
        );
        assert_eq!(
            error(&Error::NoCertificatesPresented, Side::Server),
            "the participant presented no certificate (a client certificate is required)"
        );
    }
}
