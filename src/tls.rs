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
//! We build the config once, before any network, for two reasons: a bad file fails in
//! milliseconds with a message naming the flag, not after a connect timeout; and every connection
//! (N members plus the publisher) shares one `Arc<ClientConfig>` instead of re-reading the files, as
//! rumqttc's `TlsConfiguration::Simple` would on every reconnect.
//!
//! The crypto provider is chosen explicitly (`ring`). rustls refuses to guess when more than one
//! provider is compiled in, and guessing wrong panics on the first connect (see FACTS.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use rustls_pemfile::Item;

use crate::failure::Failure;

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

/// Reads the certificate, key and CA and builds the client config shared by every connection.
///
/// On port 443 it offers the ALPN name AWS IoT Core needs there.
pub fn client_config(files: &TlsFiles, port: u16) -> Result<Arc<ClientConfig>, Failure> {
    let cert_chain = read_certificates(&files.cert, "--cert")?;
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
        .map_err(|e| explain_pair_error(&e, files))?;
    if port == 443 {
        config.alpn_protocols = vec![AWS_IOT_ALPN.to_vec()];
    }
    Ok(Arc::new(config))
}

/// Why rustls would not pair `--cert` with `--key`, in words.
fn explain_pair_error(error: &rustls::Error, files: &TlsFiles) -> Failure {
    let (cert, key) = (files.cert.display(), files.key.display());
    match error {
        rustls::Error::InconsistentKeys(_) => Failure::input(format!(
            "--key {key} does not belong to --cert {cert}; pass the private key that was created with this certificate"
        )),
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))
            if other.to_string().contains("UnsupportedCertVersion") =>
        {
            Failure::input(format!(
                "--cert {cert}: an X.509 v1 certificate, which TLS libraries refuse; issue it as v3 \
                 (with openssl: add `-extfile` with e.g. `basicConstraints=CA:FALSE`)"
            ))
        }
        other => Failure::input(format!(
            "--cert {cert} / --key {key}: not usable for TLS ({other})"
        )),
    }
}

/// Reads a file for `flag`, with an error that names both.
fn read_file(path: &Path, flag: &str) -> Result<Vec<u8>, Failure> {
    if path.is_dir() {
        return Err(Failure::input(format!(
            "{flag} {}: is a directory; pass the PEM file inside it",
            path.display()
        )));
    }
    let bytes = fs::read(path).map_err(|e| {
        Failure::input(format!(
            "{flag} {}: cannot read the file ({e}); check the path",
            path.display()
        ))
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::input(format!(
            "{flag} {}: the file is empty",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Every PEM section in `bytes`, or an error saying the file is not PEM.
fn pem_items(bytes: &[u8], path: &Path, flag: &str) -> Result<Vec<Item>, Failure> {
    let mut reader = bytes;
    let items: Result<Vec<Item>, _> = rustls_pemfile::read_all(&mut reader).collect();
    let items = items
        .map_err(|e| Failure::input(format!("{flag} {}: not valid PEM ({e})", path.display())))?;
    if items.is_empty() {
        let hint = if bytes.first() == Some(&0x30) {
            // 0x30 is an ASN.1 SEQUENCE: almost certainly DER, the binary form of the same data.
            format!(
                "it looks like DER (binary); convert it with `openssl x509 -inform der -in {0} -out {0}.pem` \
                 (for a key: `openssl pkey -inform der -in {0} -out {0}.pem`)",
                path.display()
            )
        } else {
            "expected a PEM file with a '-----BEGIN ...-----' line".to_owned()
        };
        return Err(Failure::input(format!(
            "{flag} {}: no PEM data found; {hint}",
            path.display()
        )));
    }
    Ok(items)
}

fn read_certificates(path: &Path, flag: &str) -> Result<Vec<CertificateDer<'static>>, Failure> {
    let bytes = read_file(path, flag)?;
    let items = pem_items(&bytes, path, flag)?;
    let has_key = items.iter().any(is_private_key);
    let certs: Vec<_> = items
        .into_iter()
        .filter_map(|item| match item {
            Item::X509Certificate(cert) => Some(cert),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        let hint = if has_key {
            "it holds a private key; did you swap --cert and --key?"
        } else {
            "expected '-----BEGIN CERTIFICATE-----'"
        };
        return Err(Failure::input(format!(
            "{flag} {}: no certificate in the file; {hint}",
            path.display()
        )));
    }
    Ok(certs)
}

fn is_private_key(item: &Item) -> bool {
    matches!(
        item,
        Item::Pkcs1Key(_) | Item::Pkcs8Key(_) | Item::Sec1Key(_)
    )
}

/// Reads the device's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), all PEM.
///
/// The key's bytes never appear in a message, only the file's name.
fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Failure> {
    let bytes = read_file(path, "--key")?;
    if contains(&bytes, b"ENCRYPTED") {
        return Err(Failure::input(format!(
            "--key {}: the private key is encrypted; decrypt it with \
             `openssl pkey -in {0} -out {0}.plain` and pass that file",
            path.display()
        )));
    }
    let items = pem_items(&bytes, path, "--key")?;
    let has_cert = items
        .iter()
        .any(|item| matches!(item, Item::X509Certificate(_)));
    let key = items.into_iter().find_map(|item| match item {
        Item::Pkcs1Key(key) => Some(PrivateKeyDer::Pkcs1(key)),
        Item::Pkcs8Key(key) => Some(PrivateKeyDer::Pkcs8(key)),
        Item::Sec1Key(key) => Some(PrivateKeyDer::Sec1(key)),
        _ => None,
    });
    key.ok_or_else(|| {
        let hint = if has_cert {
            "it holds a certificate; did you swap --cert and --key?"
        } else {
            "expected '-----BEGIN PRIVATE KEY-----', '-----BEGIN RSA PRIVATE KEY-----' or '-----BEGIN EC PRIVATE KEY-----'"
        };
        Failure::input(format!(
            "--key {}: no private key in the file; {hint}",
            path.display()
        ))
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Trust exactly the CA certificates in `path`.
fn roots_from_file(path: &Path) -> Result<RootCertStore, Failure> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path, "--ca_file")? {
        roots.add(cert).map_err(|e| {
            Failure::input(format!(
                "--ca_file {}: a certificate in it is not usable as a CA ({e})",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// Trust the operating system's CA store (Amazon Root CA 1 is in every mainstream one).
fn system_roots() -> Result<RootCertStore, Failure> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(Failure::input(
            "no --ca_file given and no system CA certificates found; pass the broker's CA, \
             e.g. --ca_file AmazonRootCA1.pem",
        ));
    }
    Ok(roots)
}
