//! Certificates from `--cert` and `--ca_file`, and the validity dates of the device certificate.
//!
//! Both flags take X.509 certificates, PEM (one or more `BEGIN CERTIFICATE` blocks) or DER (one
//! certificate). When a file holds no certificate, what it holds instead says what went wrong:
//! a private key (swapped flags), a certificate *request* (the CSR sent to the CA, not what came
//! back), a PKCS#12 bundle (which needs unpacking).
//!
//! An expired device certificate fails only inside the TLS handshake, where the broker answers
//! with a bare "certificate expired" alert, or on AWS IoT just closes the connection. Checking the
//! dates here costs microseconds and lets the message say *which* dates.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pkcs8::der::oid::AssociatedOid;
use pkcs8::der::{DateTime, Decode};
use rustls::pki_types::CertificateDer;
use x509_cert::ext::pkix::BasicConstraints;
use x509_cert::time::Validity;

use super::pem_or_der::{self, Block, InputFile};
use crate::failure::Failure;

/// Reads the certificates in `path`, for `flag` (`--cert` or `--ca_file`), in file order.
pub fn read_certificates(
    path: &Path,
    flag: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let file = InputFile { flag, path };
    let blocks = pem_or_der::read_blocks(file)?;
    let hint = missing_certificate_hint(file, &blocks);
    let certs: Vec<_> = blocks
        .into_iter()
        .filter_map(|block| match block {
            Block::Certificate(cert) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(file.error(format!("no certificate in the file; {hint}")));
    }
    Ok(certs)
}

/// What to tell a user whose file has no certificate, judging by what it has instead.
fn missing_certificate_hint(file: InputFile, blocks: &[Block]) -> String {
    if blocks.iter().any(Block::is_private_key) {
        return if file.flag == "--cert" {
            "it holds a private key; did you swap --cert and --key?".into()
        } else {
            "it holds a private key; --ca_file takes the CA certificate that signed the broker's \
             certificate (for AWS IoT: AmazonRootCA1.pem)"
                .into()
        };
    }
    if blocks.iter().any(|b| matches!(b, Block::Pkcs12)) {
        return format!(
            "it is a PKCS#12 bundle (.p12/.pfx); take the certificate out of it with \
             `openssl pkcs12 -in {} -clcerts -nokeys -out device.pem.crt`",
            file.shell_path()
        );
    }
    let labels: Vec<&str> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Other(label) => Some(label.as_str()),
            _ => None,
        })
        .collect();
    if labels.iter().any(|l| l.contains("CERTIFICATE REQUEST")) {
        return "it holds a certificate signing request (CSR); pass the certificate the CA \
                issued for it"
            .into();
    }
    match labels.first() {
        Some(label) => format!("it holds '{label}'; expected '-----BEGIN CERTIFICATE-----'"),
        None => "expected '-----BEGIN CERTIFICATE-----'".into(),
    }
}

/// Refuses a certificate that has expired or is not valid yet, naming its dates.
///
/// A certificate we cannot parse is left to rustls, which checks it properly when it is used:
/// this check is a courtesy that explains the dates, not the gatekeeper.
pub fn check_dates(path: &Path, cert: &CertificateDer<'_>, now: SystemTime) -> Result<(), Failure> {
    let Ok(parsed) = x509_cert::Certificate::from_der(cert) else {
        return Ok(());
    };
    let Validity {
        not_before,
        not_after,
    } = parsed.tbs_certificate.validity;
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let file = InputFile {
        flag: "--cert",
        path,
    };
    let dates = format!(
        "valid from {} to {}, and this machine's clock says {}",
        not_before.to_date_time(),
        not_after.to_date_time(),
        DateTime::from_unix_duration(since_epoch)
            .map_or_else(|_| "a date out of range".to_owned(), |now| now.to_string()),
    );
    if since_epoch > not_after.to_unix_duration() {
        return Err(file.error(format!(
            "the certificate has expired ({dates}); the broker will refuse it: \
             issue a new certificate (or fix the clock if it is wrong)"
        )));
    }
    if since_epoch < not_before.to_unix_duration() {
        return Err(file.error(format!(
            "the certificate is not valid yet ({dates}); the broker will refuse it: \
             check the clock, or wait until it is valid"
        )));
    }
    Ok(())
}

/// `subject CN=…, issued by CN=…, valid until …`: what `--check` says of the device certificate.
pub fn describe(cert: &CertificateDer<'_>) -> Option<String> {
    let parsed = x509_cert::Certificate::from_der(cert).ok()?;
    let tbs = &parsed.tbs_certificate;
    Some(format!(
        "subject {}, issued by {}, valid until {}",
        tbs.subject,
        tbs.issuer,
        tbs.validity.not_after.to_date_time()
    ))
}

/// A CA's certificate rather than a device's: its Basic Constraints say `CA:TRUE`, or it signed
/// itself (issuer = subject). Passed as `--cert`, it is almost always the CA meant for
/// `--ca_file`, and rustls then only says that the key does not match.
pub fn is_ca_certificate(cert: &CertificateDer<'_>) -> bool {
    let Ok(parsed) = x509_cert::Certificate::from_der(cert) else {
        return false;
    };
    let tbs = &parsed.tbs_certificate;
    let says_ca = tbs.extensions.iter().flatten().any(|extension| {
        extension.extn_id == BasicConstraints::OID
            && BasicConstraints::from_der(extension.extn_value.as_bytes())
                .is_ok_and(|constraints| constraints.ca)
    });
    says_ca || tbs.issuer == tbs.subject
}
