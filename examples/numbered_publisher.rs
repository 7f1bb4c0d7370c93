//! A publisher of numbered messages over mutual TLS, waiting until the broker has each one.
//!
//! cargo run --example numbered_publisher -- HOST PORT CERT KEY CA [TOPIC] [COUNT]
//!
//! Publishers know nothing about shared subscriptions: they publish to the plain topic, and the
//! broker picks one member of each `$share` group for every message. TOPIC defaults to the
//! sample's `test/topic` and the client id is `test-<pid>-publisher`: on AWS IoT its policy needs
//! `iot:Connect` on `client/test-*` besides the topic statement of `policy/` (see policy/README.md).
//!
//! To build it in a crate of your own, copy this file to `src/main.rs` and these dependencies
//! into `Cargo.toml` (`tests/example_headers.rs` checks this block against the code):
//!
//! ```toml
//! [dependencies]
//! # rumqttc's default TLS brings rustls' aws-lc-rs provider; this program names ring instead.
//! rumqttc = { version = "0.25", default-features = false, features = ["use-rustls-no-provider"] }
//! rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```
use std::{env, sync::Arc};

use rumqttc::v5::mqttbytes::{v5::Packet, v5::PubAckReason, QoS};
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
        return Err("usage: numbered_publisher HOST PORT CERT KEY CA [TOPIC] [COUNT]".into());
    };
    let topic = rest.first().cloned().unwrap_or("test/topic".into());
    let count: u32 = rest.get(1).map_or(Ok(10), |n| n.parse())?;

    let client_id = format!("test-{}-publisher", std::process::id());
    let mut options = MqttOptions::new(client_id, host.as_str(), port.parse()?);
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls_config(cert, key, ca)?),
    )));
    let (client, mut eventloop) = AsyncClient::new(options, 100);

    // publish() only queues; the event loop below does the sending. Queue from another task so
    // both run at once and many messages are in flight together (pipelining).
    let publisher = client.clone();
    tokio::spawn(async move {
        for n in 1..=count {
            let payload = format!("Hello World! [{n}]");
            let queued = publisher.publish(topic.as_str(), QoS::AtLeastOnce, false, payload);
            if queued.await.is_err() {
                return; // the event loop ended; main reports why
            }
        }
    });

    // At QoS 1 the broker answers each PUBLISH with a PUBACK: only then is the message its job.
    let mut acknowledged = 0;
    while acknowledged < count {
        if let Event::Incoming(Packet::PubAck(ack)) = eventloop.poll().await? {
            // A PUBACK can also say no (e.g. NotAuthorized): the broker did not take the message.
            // NoMatchingSubscribers is a yes: it was taken, though nobody subscribes to the topic.
            match ack.reason {
                PubAckReason::Success | PubAckReason::NoMatchingSubscribers => acknowledged += 1,
                refused => return Err(format!("PUBLISH refused: {refused:?}").into()),
            }
            println!("PUBACK {acknowledged}/{count}: {:?}", ack.reason);
        }
    }
    client.disconnect().await?;
    while !matches!(
        eventloop.poll().await?,
        Event::Outgoing(rumqttc::Outgoing::Disconnect)
    ) {}
    Ok(())
}
