//! One member of a shared-subscription group over mutual TLS: the smallest complete program.
//!
//! cargo run --example shared_member -- HOST PORT CERT KEY CA [GROUP] [TOPIC] [MESSAGES]
//!
//! Start two copies and publish to TOPIC: each message goes to one of them, not both. GROUP and
//! TOPIC default to the sample's `rust-sample` and `test/topic`, and the client id is
//! `test-<pid>-member`: on AWS IoT its policy needs `iot:Connect` on `client/test-*` besides the
//! topic and filter statements of `policy/` (see policy/README.md).
//!
//! To build it in a crate of your own, copy this file to `src/main.rs` and these dependencies
//! into `Cargo.toml`. The PEM files are read by rustls' own `pki_types::pem::PemObject`, so no
//! other crate is needed (`tests/example_headers.rs` checks this block against the code):
//!
//! ```toml
//! [dependencies]
//! # rumqttc's default TLS brings rustls' aws-lc-rs provider; this program names ring instead.
//! rumqttc = { version = "0.25", default-features = false, features = ["use-rustls-no-provider"] }
//! rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
use std::{env, sync::Arc};

use rumqttc::v5::mqttbytes::{v5::Packet, v5::SubscribeReasonCode, QoS};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Certificate + key prove who we are; the CA decides which broker we trust.
fn tls_config(cert: &str, key: &str, ca: &str) -> Result<rustls::ClientConfig> {
    let certs = CertificateDer::pem_file_iter(cert)?.collect::<std::result::Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("private key {key}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for ca_cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(ca_cert?)?;
    }
    // Name the crypto provider: rustls will not guess when several are compiled in.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)?)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let [host, port, cert, key, ca, rest @ ..] = args.as_slice() else {
        return Err("usage: shared_member HOST PORT CERT KEY CA [GROUP] [TOPIC] [MESSAGES]".into());
    };
    let group = rest.first().map_or("rust-sample", String::as_str);
    let topic = rest.get(1).map_or("test/topic", String::as_str);
    let wanted: usize = rest.get(2).map_or(Ok(usize::MAX), |n| n.parse())?;

    // Unique per process: a second connection with the same id kicks the first one off.
    let client_id = format!("test-{}-member", std::process::id());
    let mut options = MqttOptions::new(client_id, host.as_str(), port.parse()?);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls_config(cert, key, ca)?),
    )));
    let (client, mut eventloop) = AsyncClient::new(options, 10);

    // The group lives in the filter. The publisher still publishes to the plain TOPIC.
    let filter = format!("$share/{group}/{topic}");
    client.subscribe(filter.as_str(), QoS::AtLeastOnce).await?; // queued; sent once poll() runs

    let mut received = 0;
    while received < wanted {
        match eventloop.poll().await? {
            // A refusal is an event, not an error: check the reason code (one per filter).
            Event::Incoming(Packet::SubAck(ack)) => match ack.return_codes.as_slice() {
                [ok @ SubscribeReasonCode::Success(_)] => {
                    println!("subscribed to {filter}: {ok:?}")
                }
                code => return Err(format!("SUBSCRIBE {filter} refused: {code:?}").into()),
            },
            Event::Incoming(Packet::Publish(message)) => {
                received += 1;
                println!("received: {}", String::from_utf8_lossy(&message.payload));
            }
            _ => {}
        }
    }
    // Leave cleanly: the broker stops routing to us, then we say goodbye with DISCONNECT.
    client.unsubscribe(filter).await?;
    client.disconnect().await?;
    while !matches!(
        eventloop.poll().await?,
        Event::Outgoing(rumqttc::Outgoing::Disconnect)
    ) {}
    Ok(())
}
