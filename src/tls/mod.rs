//! Mutual TLS: turning `--cert`, `--key` and `--ca_file` into one `rustls::ClientConfig`.
//!
//! AWS IoT Core authenticates a device by its X.509 certificate: during the TLS handshake the client
//! proves it holds the private key of a certificate the account registered. So the client needs
//! three things:
//!
//! * its certificate (`--cert`), sent to the broker;
//! * the matching private key (`--key`), which never leaves the machine;
//! * the CA that signed the *broker's* certificate (`--ca_file`), or the system trust store. AWS
//!   IoT's `-ats` endpoints chain to Amazon Root CA 1, which system stores already hold.
//!
//! Each may be PEM or DER; reading them, and every way they can be wrong, is the rest of this
//! folder, and this file puts them together:
//!
//! * `pem_or_der.rs`: a file's bytes into blocks, PEM or DER, and what a file holds when it is
//!   not what the flag wants (a key given as `--cert`, a PKCS#12 bundle, an empty file);
//! * `cert.rs`: `--cert` and `--ca_file`, and the device certificate's validity dates;
//! * `key.rs`: `--key` in its three forms (PKCS#8, SEC1, PKCS#1); `encrypted_key.rs`: decrypting
//!   an encrypted one.
//!
//! We build the config once, before any network, for two reasons: a bad file fails in
//! milliseconds with a message naming the flag, not after a connect timeout; and every connection
//! (N members plus the publisher) shares one `Arc<ClientConfig>`. rumqttc's
//! `TlsConfiguration::Simple` instead holds the PEM bytes and parses them again on every connect
//! and reconnect.
//!
//! The crypto provider is chosen explicitly (`ring`). With two providers compiled in (e.g. `ring`
//! and `aws-lc-rs`, when a dependency turns on the other one), rustls cannot pick one and panics
//! on the first connect.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustls::{ClientConfig, RootCertStore};

use crate::error_text;
use crate::failure::Failure;

mod cert;
#[cfg(feature = "encrypted-keys")]
mod encrypted_key;
mod key;
mod pem_or_der;

use cert::{check_dates, describe, is_ca_certificate, read_certificates};
use key::read_private_key;
pub use key::PASSPHRASE_ENV;
#[cfg(feature = "demo")]
pub(crate) use pem_or_der::shell_quote;

/// The ALPN protocol name AWS IoT Core expects for MQTT over TLS on port 443.
///
/// Port 443 is shared with HTTPS on AWS's side, so the client names the protocol it wants in the
/// TLS handshake. Corporate firewalls often allow only 443, which is why this matters.
pub const AWS_IOT_ALPN: &[u8] = b"x-amzn-mqtt-ca";

/// The files a client needs for mutual TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `None`: trust the system's CA store.
    pub ca: Option<PathBuf>,
}

/// The device certificate in a line (subject, issuer, end date), for `--check`; `None` when the
/// file cannot be read (`client_config` says why).
pub fn describe_certificate(files: &TlsFiles) -> Option<String> {
    read_certificates(&files.cert, "--cert")
        .ok()?
        .first()
        .and_then(describe)
}

/// The ALPN protocols to offer when `--alpn` says nothing: on port 443 the one AWS IoT Core needs
/// there, elsewhere none (a broker on 8883 expects plain MQTT over TLS).
pub fn default_alpn(port: u16) -> Vec<String> {
    if port == 443 {
        vec![String::from_utf8_lossy(AWS_IOT_ALPN).into_owned()]
    } else {
        Vec::new()
    }
}

/// Reads the certificate, key and CA and builds the client config shared by every connection,
/// offering the `alpn` protocols in the handshake (none when empty).
pub fn client_config(files: &TlsFiles, alpn: &[String]) -> Result<Arc<ClientConfig>, Failure> {
    let cert_chain = read_certificates(&files.cert, "--cert")?;
    // The first certificate is the device's own; any after it are intermediates.
    if let Some(device_cert) = cert_chain.first() {
        check_dates(&files.cert, device_cert, SystemTime::now())?;
    }
    let sent_a_ca = cert_chain.first().is_some_and(is_ca_certificate);
    let key = read_private_key(&files.key)?;
    let roots = match &files.ca {
        Some(ca) => roots_from_file(ca)?,
        None => system_roots()?,
    };

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::input(format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots)
        // rustls checks here that the key belongs to the certificate.
        .with_client_auth_cert(cert_chain, key)
        .map_err(|e| explain_pair_error(&e, files, sent_a_ca))?;
    config.alpn_protocols = alpn.iter().map(|name| name.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

/// Why rustls would not pair `--cert` with `--key`, in words. `sent_a_ca`: `--cert` holds a CA
/// certificate, not a device's.
fn explain_pair_error(error: &rustls::Error, files: &TlsFiles, sent_a_ca: bool) -> Failure {
    let (cert, key) = (files.cert.display(), files.key.display());
    match error {
        // The key is fine; the certificate is the wrong one.
        rustls::Error::InconsistentKeys(_) if sent_a_ca => Failure::input(format!(
            "--cert {cert}: this is a CA certificate (it signs other certificates), so it belongs \
             in --ca_file; --cert takes the device certificate that was issued for --key"
        )),
        rustls::Error::InconsistentKeys(_) => Failure::input(format!(
            "--key {key} does not belong to --cert {cert}; pass the private key that was created with this certificate"
        )),
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))
            if error_text::is_x509_v1_refusal(other) =>
        {
            Failure::input(format!(
                "--cert {cert}: an X.509 v1 certificate, which TLS libraries refuse; issue it as v3 \
                 (with openssl: add `-extfile` with e.g. `basicConstraints=CA:FALSE`)"
            ))
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
            Failure::input(format!(
                "--cert {cert}: the certificate is damaged (its PEM/DER holds no valid X.509 \
                 structure); download or export it again"
            ))
        }
        // The provider could not load the key: its bytes are damaged, or it is an algorithm
        // (DSA, an unusual curve) that TLS with `ring` cannot sign with.
        rustls::Error::General(message) if error_text::is_unloadable_private_key(message) => {
            Failure::input(format!(
                "--key {key}: the private key is damaged or of an unsupported type; \
                 expected an RSA, ECDSA (P-256, P-384) or Ed25519 key"
            ))
        }
        other => Failure::input(format!(
            "--cert {cert} / --key {key}: not usable for TLS ({other})"
        )),
    }
}

/// Trust exactly the CA certificates in `path`.
fn roots_from_file(path: &Path) -> Result<RootCertStore, Failure> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path, "--ca_file")? {
        roots.add(cert).map_err(|e| {
            let why = match e {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding) => {
                    "it is damaged (no valid X.509 structure); download it again".to_owned()
                }
                other => other.to_string(),
            };
            Failure::input(format!(
                "--ca_file {}: a certificate in it is not usable as a CA: {why}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// Trust the operating system's CA store (Amazon Root CA 1 is in every mainstream one).
fn system_roots() -> Result<RootCertStore, Failure> {
    let found = rustls_native_certs::load_native_certs();
    // A store that is partly unreadable (a broken file in /etc/ssl/certs, say) still holds the
    // rest; but when a handshake later fails with "unknown issuer", this is the line that says why.
    for error in &found.errors {
        tracing::warn!("reading the system's CA certificates: {error}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        tracing::debug!(
            "{ignored} system CA certificates are not usable by rustls and were skipped"
        );
    }
    if added == 0 {
        return Err(Failure::input(
            "no --ca_file given and no system CA certificates found; pass the broker's CA, \
             e.g. --ca_file AmazonRootCA1.pem",
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_443_offers_aws_alpn_and_other_ports_none() {
        assert_eq!(default_alpn(443), ["x-amzn-mqtt-ca"]);
        assert!(default_alpn(8883).is_empty());
    }
}
