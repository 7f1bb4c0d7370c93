//! The few places where this tool reads another library's error *text*, all in one file.
//!
//! Matching on words is a last resort: a new version of the library may reword them, and the
//! match then fails silently (the user gets a vaguer message, nothing worse). Each function here
//! says which library and version its text comes from, and the tests below pin the exact text,
//! so that an upgrade which rewords one shows up as a failing test rather than a worse hint.
//!
//! Everything else is matched on types and enum variants, which the compiler checks.

/// A DNS failure: std has no `io::ErrorKind` for it. A getaddrinfo error comes back as an
/// uncategorized error whose message starts "failed to lookup address information" (std's
/// `sys/net` on Unix, Rust 1.89 to 1.95), so the text is all there is.
pub fn is_dns_failure(error: &std::io::Error) -> bool {
    error.to_string().contains("failed to lookup address")
}

/// rustls 0.23 (`CertificateError::NotValidForNameContext { presented, .. }`) lists the names a
/// certificate carries in their Debug form, `DnsName("example.com")`: keep the name. Other
/// forms (`IpAddress(..)`) stay as they are.
pub fn presented_name(name: &str) -> &str {
    match (name.find("(\""), name.rfind("\")")) {
        (Some(start), Some(end)) if start + 2 <= end => &name[start + 2..end],
        _ => name,
    }
}

/// An X.509 v1 certificate: rustls-webpki 0.103 refuses it with `Error::UnsupportedCertVersion`,
/// which rustls 0.23 passes on only inside `CertificateError::Other`, as text.
pub fn is_x509_v1_refusal(error: &impl std::fmt::Display) -> bool {
    error.to_string().contains("UnsupportedCertVersion")
}

/// rustls 0.23's ring provider (`crypto/ring/sign.rs`) could not load a private key: damaged
/// bytes, or an algorithm it cannot sign with. It says so only in `Error::General` text, e.g.
/// "failed to parse private key as RSA, ECDSA, or EdDSA".
pub fn is_unloadable_private_key(message: &str) -> bool {
    message.contains("private key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_getaddrinfo_error_is_a_dns_failure() {
        let error = std::net::ToSocketAddrs::to_socket_addrs("no-such-host.invalid:8883")
            .expect_err("the .invalid top-level domain never resolves");
        assert!(is_dns_failure(&error), "std's text changed: {error}");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(!is_dns_failure(&refused));
    }

    #[test]
    fn certificate_names_lose_their_wrapping() {
        assert_eq!(
            presented_name(r#"DnsName("broker.example.com")"#),
            "broker.example.com"
        );
        assert_eq!(
            presented_name("IpAddress(127.0.0.1)"),
            "IpAddress(127.0.0.1)"
        );
    }

    #[test]
    fn rustls_still_words_a_bad_key_this_way() {
        let damaged =
            rustls::pki_types::PrivateKeyDer::Pkcs8(vec![0x30, 0x03, 0x02, 0x01, 0x00].into());
        let error = rustls::crypto::ring::default_provider()
            .key_provider
            .load_private_key(damaged)
            .expect_err("not a key");
        let rustls::Error::General(message) = &error else {
            panic!("rustls changed the error's kind: {error:?}");
        };
        assert!(
            is_unloadable_private_key(message),
            "rustls changed its text: {message}"
        );
    }

    #[test]
    fn rustls_still_names_the_v1_refusal() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["device".to_owned()])
            .and_then(|params| params.self_signed(&key))
            .expect("certificate");
        // An X.509 version is `[0] { INTEGER n }`, v3 being n = 2: A0 03 02 01 02. Make it v1
        // (n = 0): webpki reads the version before anything else, so nothing needs re-signing.
        let mut der = cert.der().to_vec();
        let at = der
            .windows(5)
            .position(|bytes| bytes == [0xA0, 0x03, 0x02, 0x01, 0x02])
            .expect("a version field");
        der[at + 4] = 0;
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let error = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(vec![der.into()], key)
        .expect_err("a v1 certificate");
        assert!(
            is_x509_v1_refusal(&error),
            "rustls changed its text: {error:?}"
        );
    }
}
