//! ALPN: what the tool offers in the TLS handshake, and a full run through a TLS server that
//! insists on AWS IoT's `x-amzn-mqtt-ca`, as AWS does on port 443.
//!
//! Both servers here are real rustls servers. The first reads what the client offered and
//! refuses with the `no_application_protocol` alert, the way a server that requires ALPN does;
//! the second terminates mutual TLS, checks the protocol, and forwards to a plain mosquitto.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt5_shared_subscription::pki::{self, Pki};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{assert_one_line_error, mosquitto_or_skip, run_tool, Mosquitto, Setup};

const LIMIT: Duration = Duration::from_secs(30);
const AWS_ALPN: &str = "x-amzn-mqtt-ca";

/// What each connection offered, in order.
type Offers = Arc<Mutex<Vec<Vec<String>>>>;

fn files() -> (tempfile::TempDir, pki::PkiFiles) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = Pki::new("alpn test CA")
        .and_then(|pki| pki.write_files(dir.path()))
        .expect("PKI");
    (dir, files)
}

fn args(files: &pki::PkiFiles, port: u16, more: &[&str]) -> Vec<String> {
    let mut args = support::client_args(files, "127.0.0.1", port);
    args.extend(
        ["--timeout", "5s"]
            .iter()
            .chain(more)
            .map(|s| s.to_string()),
    );
    args
}

/// A server that reads each ClientHello, notes the ALPN protocols offered, and refuses with a
/// fatal `no_application_protocol` alert (a TLS record written by hand: rustls has no switch for
/// "require ALPN", and this is what such a server sends).
fn refusing_server() -> (u16, Offers) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let offers: Offers = Arc::default();
    let seen = offers.clone();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let _ = socket.set_read_timeout(Some(Duration::from_secs(10)));
            let mut acceptor = rustls::server::Acceptor::default();
            let accepted = loop {
                if acceptor.read_tls(&mut socket).unwrap_or(0) == 0 {
                    break None;
                }
                match acceptor.accept() {
                    Ok(Some(accepted)) => break Some(accepted),
                    Ok(None) => continue,
                    Err(_) => break None,
                }
            };
            let Some(accepted) = accepted else { continue };
            let offered: Vec<String> = accepted
                .client_hello()
                .alpn()
                .map(|names| {
                    names
                        .map(|name| String::from_utf8_lossy(name).into_owned())
                        .collect()
                })
                .unwrap_or_default();
            seen.lock().expect("offers").push(offered);
            // Alert record: type 21, TLS 1.2 framing, length 2, fatal (2), no_application_protocol (120).
            let _ = socket.write_all(&[21, 3, 3, 0, 2, 2, 120]);
        }
    });
    (port, offers)
}

#[test]
fn without_alpn_the_words_say_none_was_offered() {
    let (_dir, files) = files();
    let (port, offers) = refusing_server();
    let run = run_tool(&args(&files, port, &[]), LIMIT);
    assert_one_line_error(
        &run,
        1,
        &[
            "requires an ALPN protocol, and we offered none",
            "--alpn x-amzn-mqtt-ca",
        ],
    );
    let offers = offers.lock().expect("offers");
    assert!(!offers.is_empty(), "the server saw no handshake");
    assert!(offers.iter().all(Vec::is_empty), "{offers:?}");
}

#[test]
fn alpn_flags_are_offered_in_order_and_named_in_the_error() {
    let (_dir, files) = files();
    let (port, offers) = refusing_server();
    let run = run_tool(
        &args(&files, port, &["--alpn", "mqtt", "--alpn", "x-other"]),
        LIMIT,
    );
    assert_one_line_error(
        &run,
        1,
        &["accepts none of the ALPN protocols we offered (mqtt, x-other)"],
    );
    let offers = offers.lock().expect("offers");
    assert_eq!(
        offers.first(),
        Some(&vec!["mqtt".to_owned(), "x-other".to_owned()])
    );
}

/// A TLS terminator in front of a plain mosquitto: it requires our client certificate and
/// `x-amzn-mqtt-ca`, as AWS IoT does on 443, and forwards the MQTT bytes. A whole run through it
/// must deliver every message, and every connection must have negotiated the protocol.
#[test]
fn a_full_run_through_a_server_that_insists_on_aws_alpn() {
    let Some(mosquitto) = mosquitto_or_skip("a_full_run_through_a_server_that_insists_on_aws_alpn")
    else {
        return;
    };
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            plain: true,
            ..Setup::default()
        },
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (port, negotiated) = runtime.block_on(terminator(&broker.files, broker.port));
    let run = run_tool(
        &args(&broker.files, port, &["--alpn", AWS_ALPN, "--count", "20"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("20 delivered exactly once"), "{run}");
    let negotiated = negotiated.lock().expect("negotiated");
    // Two members and the publisher, each with the protocol the server insists on.
    assert_eq!(negotiated.len(), 3, "{negotiated:?}");
    assert!(
        negotiated.iter().all(|p| p.as_deref() == Some(AWS_ALPN)),
        "{negotiated:?}"
    );
    drop(runtime);
}

/// Starts the terminator on a free port; returns it and what each connection negotiated.
async fn terminator(files: &pki::PkiFiles, backend: u16) -> (u16, Arc<Mutex<Vec<Option<String>>>>) {
    use rumqttc::tokio_rustls::LazyConfigAcceptor;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&files.ca).expect("CA") {
        roots.add(ca.expect("CA cert")).expect("add CA");
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let certs: Vec<_> = CertificateDer::pem_file_iter(&files.server_cert)
        .expect("server cert")
        .collect::<Result<_, _>>()
        .expect("server cert");
    let key = PrivateKeyDer::from_pem_file(&files.server_key).expect("server key");
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = vec![AWS_ALPN.as_bytes().to_vec()];
    let config = Arc::new(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let negotiated: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let seen = negotiated.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (config, seen) = (config.clone(), seen.clone());
            tokio::spawn(async move {
                let acceptor = rustls::server::Acceptor::default();
                let Ok(start) = LazyConfigAcceptor::new(acceptor, socket).await else {
                    return;
                };
                let Ok(mut tls) = start.into_stream(config).await else {
                    return;
                };
                let protocol = tls
                    .get_ref()
                    .1
                    .alpn_protocol()
                    .map(|p| String::from_utf8_lossy(p).into_owned());
                seen.lock().expect("negotiated").push(protocol.clone());
                if protocol.as_deref() != Some(AWS_ALPN) {
                    return; // AWS closes such a connection
                }
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await
                else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (port, negotiated)
}
