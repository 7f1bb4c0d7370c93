//! TLS failures in words: the broker's certificate we refused, or ours the broker refused.
//!
//! A certificate that was refused once will be refused again, so none of these retries.

use std::time::{Duration, SystemTime};

use rustls::{AlertDescription, CertificateError};

use super::{Broker, Diagnosis};
use crate::error_text;

/// What a failed handshake with `at` means, and what to fix.
pub(super) fn diagnose_tls(error: &rustls::Error, broker: &Broker, at: &str) -> Diagnosis {
    let failed = format!("TLS handshake with {at} failed");
    let (what, fix) = match error {
        rustls::Error::InvalidCertificate(cert_error) => theirs_refused(cert_error, broker),
        rustls::Error::AlertReceived(alert) => ours_refused(*alert, broker),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            "the server does not speak TLS".to_owned(),
            "is --port a plain-TCP port (e.g. 1883 instead of 8883)?".to_owned(),
        ),
        other => (
            other.to_string(),
            "check --cert, --key, --ca_file and --endpoint".to_owned(),
        ),
    };
    Diagnosis::new(format!("{failed}: {what}"), fix, false)
}

/// We refused the broker's certificate: (what is wrong with it, what to fix).
fn theirs_refused(error: &CertificateError, broker: &Broker) -> (String, String) {
    let theirs = "the broker's certificate";
    match error {
        CertificateError::UnknownIssuer => (
            format!("{theirs} is not signed by a CA we trust"),
            "pass the CA that signed the broker's certificate with --ca_file (AWS IoT: AmazonRootCA1.pem)".to_owned(),
        ),
        CertificateError::NotValidForName => (
            format!("{theirs} is not valid for the name '{}'", broker.host),
            "connect with a name the certificate was issued for (--endpoint)".to_owned(),
        ),
        CertificateError::NotValidForNameContext { presented, .. } => (
            format!(
                "{theirs} is not valid for the name '{}' (it is for {})",
                broker.host,
                presented
                    .iter()
                    .map(|name| error_text::presented_name(name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "connect with a name the certificate was issued for (--endpoint)".to_owned(),
        ),
        CertificateError::Expired
        | CertificateError::ExpiredContext { .. }
        | CertificateError::NotValidYet
        | CertificateError::NotValidYetContext { .. } => (
            format!("{theirs} {}", validity_in_words(error)),
            "the broker needs a current certificate; also check this machine's clock".to_owned(),
        ),
        other => (
            format!("{theirs} was rejected ({other:?})"),
            "check --ca_file and --endpoint".to_owned(),
        ),
    }
}

/// The broker refused us with a TLS alert: (what it said, what to fix).
fn ours_refused(alert: AlertDescription, broker: &Broker) -> (String, String) {
    match alert {
        AlertDescription::UnknownCA
        | AlertDescription::BadCertificate
        | AlertDescription::CertificateUnknown
        | AlertDescription::AccessDenied => (
            format!("the broker rejected our client certificate (alert {alert:?})"),
            "use a --cert signed by a CA the broker trusts (AWS IoT: a registered, active device certificate)".to_owned(),
        ),
        AlertDescription::CertificateExpired => (
            "the broker says our client certificate has expired".to_owned(),
            "issue a new device certificate (--cert, --key)".to_owned(),
        ),
        AlertDescription::CertificateRevoked => (
            "the broker says our client certificate is revoked".to_owned(),
            "issue a new device certificate (--cert, --key)".to_owned(),
        ),
        AlertDescription::CertificateRequired => (
            "the broker requires a client certificate and got none".to_owned(),
            "pass --cert and --key".to_owned(),
        ),
        // Say what was really offered: nothing at all is the usual case, on a port that
        // wants ALPN (AWS IoT's 443 behind another port number, a TLS terminator).
        AlertDescription::NoApplicationProtocol => match offered_alpn(broker).as_str() {
            "" => (
                "the broker requires an ALPN protocol, and we offered none".to_owned(),
                "pass the one it wants with --alpn (AWS IoT: --alpn x-amzn-mqtt-ca, which port 443 offers by itself)".to_owned(),
            ),
            offered => (
                format!("the broker accepts none of the ALPN protocols we offered ({offered})"),
                "pass the one it wants with --alpn; on AWS IoT use port 443 with x-amzn-mqtt-ca, or 8883 without ALPN".to_owned(),
            ),
        },
        other => (
            format!("the broker sent the alert {other:?}"),
            "check --cert, --key, --ca_file and --port".to_owned(),
        ),
    }
}

/// The ALPN protocols this run offers, comma-separated ("" for none).
fn offered_alpn(broker: &Broker) -> String {
    broker
        .tls
        .alpn_protocols
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "has expired (on <date>)" or "is not valid before <date>", with dates when rustls gives them.
fn validity_in_words(error: &CertificateError) -> String {
    let date = |t: &rustls::pki_types::UnixTime| {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs()))
    };
    match error {
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("expired on {}", date(not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("is not valid before {}", date(not_before))
        }
        CertificateError::NotValidYet => "is not valid yet".to_owned(),
        _ => "has expired".to_owned(),
    }
}
