//! The TLS step: the handshake, and the broker's verdict on our certificate.
//!
//! In TLS 1.2 the broker checks our certificate before it finishes the handshake, so a finished
//! handshake means it took it. TLS 1.3 turns this around: the client sends its certificate with
//! its last flight and considers the handshake done at once; the broker checks the certificate
//! after that and answers either with an alert (refused) or, having accepted it, with session
//! tickets. A run learns of a refusal only on its first read, as a failed CONNACK. The checklist
//! waits for that answer here (one read), so that a refused certificate is a ✗ on the TLS line,
//! and a ✓ there never turns out wrong a line later.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::tokio_rustls::client::TlsStream;
use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::v5::ConnectionError;
use rumqttc::TlsError;
use rustls::pki_types::ServerName;
use rustls::ProtocolVersion;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{timeout, timeout_at, Instant};

use super::open;
use crate::mqtt::{self, Broker, Stage};

/// How long to wait for the broker's verdict after a TLS 1.3 handshake. Brokers answer within a
/// round trip (OpenSSL's and rustls' servers send their tickets, or their alert, at once); one
/// that sends no tickets is taken at its word after this.
const VERDICT_WAIT: Duration = Duration::from_secs(2);

/// The handshake with the broker at `address` (or through the proxy there), then its verdict.
pub(super) async fn handshake(
    broker: &Broker,
    address: SocketAddr,
) -> Result<((), String), String> {
    let name = ServerName::try_from(broker.host.clone()).map_err(|_| {
        format!(
            "'{}' is not a valid TLS server name; check --endpoint",
            broker.host
        )
    })?;
    let connector = TlsConnector::from(Arc::clone(&broker.tls));
    let attempt = async {
        let socket = open(broker, address).await?;
        connector
            .connect(name, socket)
            .await
            .map_err(|e| mqtt::explain(&ConnectionError::Tls(TlsError::Io(e)), broker))
    };
    let stream = timeout(broker.timeout, attempt)
        .await
        .map_err(|_| mqtt::explain_silence(Stage::Tls, broker))??;
    let session = stream.get_ref().1;
    let version = session
        .protocol_version()
        .map_or_else(|| "TLS".to_owned(), |v| format!("{v:?}").replace('_', "."));
    let alpn = match session.alpn_protocol() {
        Some(protocol) => format!("; ALPN {} agreed", String::from_utf8_lossy(protocol)),
        None if broker.tls.alpn_protocols.is_empty() => String::new(),
        None => "; the broker agreed to no ALPN protocol (it ignored ours)".to_owned(),
    };
    let verdict = match session.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => verdict(stream, broker).await?,
        _ => "; it accepted our certificate",
    };
    Ok((
        (),
        format!(
            "{version}, the broker's certificate is valid for {}{alpn}{verdict}",
            broker.host
        ),
    ))
}

/// Reads until the broker has said what it thinks of our certificate: an alert is the ✗, a
/// session ticket the ✓. Silence past [`VERDICT_WAIT`] passes too, saying so.
async fn verdict(stream: TlsStream<TcpStream>, broker: &Broker) -> Result<&'static str, String> {
    let refused = |error: ConnectionError| mqtt::explain(&error, broker);
    let (mut socket, mut session) = stream.into_inner();
    let deadline = Instant::now() + VERDICT_WAIT.min(broker.timeout);
    let mut buffer = [0u8; 16 * 1024];
    while session.tls13_tickets_received() == 0 {
        let read = match timeout_at(deadline, socket.read(&mut buffer)).await {
            Err(_) => return Ok("; it said nothing more (its verdict on our certificate may still come with CONNACK)"),
            Ok(read) => read.map_err(|e| refused(ConnectionError::Tls(TlsError::Io(e))))?,
        };
        if read == 0 {
            // The broker hung up without an alert: a refusal without a reason.
            let eof = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
            return Err(refused(ConnectionError::Tls(TlsError::Io(eof))));
        }
        let mut bytes = &buffer[..read];
        while !bytes.is_empty() {
            session
                .read_tls(&mut bytes)
                .map_err(|e| refused(ConnectionError::Tls(TlsError::Io(e))))?;
            session
                .process_new_packets()
                .map_err(|e| refused(ConnectionError::Tls(TlsError::TLS(e))))?;
        }
    }
    Ok("; it accepted our certificate")
}
