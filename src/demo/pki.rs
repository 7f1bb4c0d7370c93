//! A throw-away PKI for mutual TLS on loopback: one CA, a server certificate for
//! `localhost`/`127.0.0.1`, and as many client certificates as you like.
//!
//! Mutual TLS means *both* sides show a certificate signed by a CA the other trusts. AWS IoT Core
//! plays the server's part with Amazon's CA and checks your device certificate against the CA you
//! registered. `--demo` and the tests need the same shape without AWS, so this module makes it with
//! [rcgen]: every run gets fresh keys, nothing is reused, nothing is secret.
//!
//! Keys are ECDSA P-256 in PKCS#8 form, the kind `rcgen` and `ring` produce fastest. Tests that need
//! other key forms (SEC1, PKCS#1 RSA) make the key themselves and call [`Pki::issue`].

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA that can sign certificates for servers and clients.
pub struct Pki {
    ca: Issuer<'static, KeyPair>,
    ca_pem: String,
}

/// A certificate and its private key, both PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Where [`Pki::write_files`] put the PEM files.
#[derive(Debug, Clone)]
pub struct PkiFiles {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

impl Pki {
    /// Makes a new CA named `common_name`.
    pub fn new(common_name: &str) -> anyhow::Result<Pki> {
        let mut params = CertificateParams::new(Vec::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate()?;
        let ca_pem = params.self_signed(&key)?.pem();
        Ok(Pki {
            ca: Issuer::new(params, key),
            ca_pem,
        })
    }

    /// The CA certificate: what a broker trusts for clients, and a client for the broker.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A server certificate valid for `localhost` and `127.0.0.1`, the names the tests dial.
    pub fn server(&self) -> anyhow::Result<Identity> {
        let mut params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue_with_new_key(params)
    }

    /// A client (device) certificate with `common_name` as its subject.
    pub fn client(&self, common_name: &str) -> anyhow::Result<Identity> {
        self.issue_with_new_key(client_params(common_name)?)
    }

    /// Signs `params` for the public half of `key`; returns the certificate PEM.
    ///
    /// For callers that bring their own key (another algorithm, another file form) or their own
    /// validity dates.
    pub fn issue(&self, params: &CertificateParams, key: &KeyPair) -> anyhow::Result<String> {
        Ok(params.signed_by(key, &self.ca)?.pem())
    }

    fn issue_with_new_key(&self, params: CertificateParams) -> anyhow::Result<Identity> {
        let key = KeyPair::generate()?;
        Ok(Identity {
            cert_pem: self.issue(&params, &key)?,
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes the CA, a server identity and one client identity into `dir` as PEM files.
    ///
    /// Keys are written owner-only (0600), as a real key should be.
    pub fn write_files(&self, dir: &Path) -> anyhow::Result<PkiFiles> {
        let server = self.server()?;
        let client = self.client("demo-device")?;
        let files = PkiFiles {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem.crt"),
            server_key: dir.join("server.pem.key"),
            client_cert: dir.join("device.pem.crt"),
            client_key: dir.join("private.pem.key"),
        };
        write_file(&files.ca, &self.ca_pem, false)?;
        write_file(&files.server_cert, &server.cert_pem, false)?;
        write_file(&files.server_key, &server.key_pem, true)?;
        write_file(&files.client_cert, &client.cert_pem, false)?;
        write_file(&files.client_key, &client.key_pem, true)?;
        Ok(files)
    }
}

/// Parameters for a client certificate; public so tests can change the validity dates.
pub fn client_params(common_name: &str) -> anyhow::Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// Writes `contents` to `path`; private keys get mode 0600 on Unix.
pub fn write_file(path: &Path, contents: &str, private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    use std::io::Write;
    options
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .with_context(|| format!("cannot write {}", path.display()))
}
