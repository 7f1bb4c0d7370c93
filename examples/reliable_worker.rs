//! A shared-subscription worker a real service can start from: no message lost to a crash, none
//! processed twice.
//!
//! cargo run --example reliable_worker -- HOST PORT CERT KEY CA CLIENT_ID [GROUP] [TOPIC]
//!
//! Four choices make it reliable (the README's "A worker that survives crashes" says what each
//! buys, and what the broker's own answers mean for it):
//!
//! 1. manual acknowledgements: the PUBACK goes out only after the work is done, so a crash
//!    mid-work leaves the message unacknowledged, and the broker still owes it;
//! 2. a stable CLIENT_ID, Clean Start off, a Session Expiry Interval: the broker keeps the
//!    session (subscription and unacknowledged messages) while the worker is down, and sends
//!    them again when the same CLIENT_ID comes back (restart it with the same CLIENT_ID);
//! 3. a journal (`CLIENT_ID.processed`, in the working directory): each message's id is written
//!    and flushed to disk before the PUBACK, so a message sent again after a crash is recognised
//!    and only acknowledged. The id is the sample's message number (`[n]` at the end of the
//!    payload), with its run id when the message carries one;
//! 4. reconnecting after a broken connection, subscribing again after every CONNACK.
//!
//! It prints `processed <n>` on stdout for each message it processed, and the rest on stderr.
//! GROUP and TOPIC default to the sample's `rust-sample` and `test/topic`.
//!
//! To build it in a crate of your own, copy this file to `src/main.rs` and these dependencies
//! into `Cargo.toml` (`tests/example_headers.rs` checks this block against the code):
//!
//! ```toml
//! [dependencies]
//! # rumqttc's default TLS brings rustls' aws-lc-rs provider; this program names ring instead.
//! rumqttc = { version = "0.25", default-features = false, features = ["use-rustls-no-provider"] }
//! rustls = { version = "0.23", default-features = false, features = ["ring", "std", "tls12"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "time"] }
//! ```
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::{env, sync::Arc, time::Duration};

use rumqttc::v5::mqttbytes::{v5::Packet, v5::Publish, v5::SubscribeReasonCode, QoS};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// How long the broker keeps the session after the worker's connection ends.
const SESSION_EXPIRY_SECS: u32 = 3600;

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

/// The ids of the messages this worker processed, on disk, so that they survive a crash.
struct Journal {
    done: HashSet<String>,
    file: File,
}

impl Journal {
    fn open(path: &str) -> Result<Journal> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let done = BufReader::new(&file)
            .lines()
            .collect::<std::io::Result<_>>()?;
        Ok(Journal { done, file })
    }

    /// Written and flushed to the disk before returning: the point where the work commits.
    /// In a real service, write the work's result and the id in one transaction.
    fn record(&mut self, id: &str) -> Result<()> {
        writeln!(self.file, "{id}")?;
        self.file.sync_data()?;
        self.done.insert(id.to_owned());
        Ok(())
    }
}

/// The sample's message number (`... [n]`) and an id that is unique across runs.
fn message_id(message: &Publish) -> Option<(String, u32)> {
    let payload = std::str::from_utf8(&message.payload).ok()?.trim_end();
    let (_, number) = payload.strip_suffix(']')?.rsplit_once('[')?;
    let number: u32 = number.parse().ok()?;
    let mut properties = message.properties.iter().flat_map(|p| &p.user_properties);
    let run = properties.find(|(k, _)| k == "run-id");
    Some((format!("{} {number}", run.map_or("-", |(_, v)| v)), number))
}

const USAGE: &str = "usage: reliable_worker HOST PORT CERT KEY CA CLIENT_ID [GROUP] [TOPIC]";

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = env::args().skip(1).collect();
    let [host, port, cert, key, ca, client_id, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let group = rest.first().map_or("rust-sample", String::as_str);
    let topic = rest.get(1).map_or("test/topic", String::as_str);
    let mut journal = Journal::open(&format!("{client_id}.processed"))?;

    let mut options = MqttOptions::new(client_id.as_str(), host.as_str(), port.parse()?);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            Arc::new(tls_config(cert, key, ca)?),
        )))
        .set_clean_start(false) // resume the session a crash left behind
        .set_session_expiry_interval(Some(SESSION_EXPIRY_SECS))
        .set_manual_acks(true); // PUBACK only when client.ack() says so
    let (client, mut eventloop) = AsyncClient::new(options, 100); // room for a batch's PUBACKs
    let filter = format!("$share/{group}/{topic}");
    let mut connected_once = false;

    loop {
        let event = match eventloop.poll().await {
            Ok(event) => event,
            // A refused first connection is a wrong argument: say so and stop.
            Err(error) if !connected_once => return Err(error.into()),
            Err(error) => {
                eprintln!("connection lost ({error}); reconnecting in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await; // poll() would retry at once
                continue;
            }
        };
        match event {
            Event::Incoming(Packet::ConnAck(connack)) => {
                connected_once = true;
                eprintln!("connected, session present: {}", connack.session_present);
                // Again after every CONNACK: a broker that lost the session lost this too.
                client.subscribe(filter.as_str(), QoS::AtLeastOnce).await?;
            }
            Event::Incoming(Packet::SubAck(ack)) => match ack.return_codes.as_slice() {
                [SubscribeReasonCode::Success(_)] => eprintln!("subscribed to {filter}"),
                code => return Err(format!("SUBSCRIBE {filter} refused: {code:?}").into()),
            },
            Event::Incoming(Packet::Publish(message)) => {
                match message_id(&message) {
                    Some((id, _)) if journal.done.contains(&id) => {
                        eprintln!("already processed {id} (sent again after a crash)");
                    }
                    Some((id, number)) => {
                        // The work goes here; the journal entry is its commit point.
                        journal.record(&id)?;
                        println!("processed {number}");
                    }
                    None => eprintln!("not a numbered message; acknowledged unprocessed"),
                }
                client.ack(&message).await?; // only now may the broker forget it
            }
            _ => {}
        }
    }
}
