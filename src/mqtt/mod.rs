//! MQTT 5 over mutual TLS with rumqttc: the code members and the publisher share.
//!
//! rumqttc splits a connection into two halves:
//!
//! * [`AsyncClient`]: a cheap handle that *queues* requests (publish, subscribe, disconnect).
//!   Its methods return as soon as the request is queued, not when the broker acknowledged it.
//! * [`EventLoop`]: owns the socket. Nothing happens, not even the TCP connect, until someone calls
//!   `poll()` in a loop. Each `poll()` returns one [`Event`]: a packet that came in
//!   (`Incoming`) or one that went out (`Outgoing`).
//!
//! So "connect" here means: build the options, then poll until the broker's CONNACK arrives.
//!
//! The rest of this folder:
//!
//! * `link.rs`: a [`Connection`] that survives a broker restart or a network cut: keep-alive on
//!   a dead path, kept sessions, and what rumqttc drops when it reconnects; `polled.rs`: what it
//!   hands out; `outage.rs`: one outage and the backoff between its attempts (a second at least
//!   on AWS IoT Core);
//! * `connack.rs`: what the broker's CONNACK grants (keep-alive, session expiry, maximum QoS,
//!   Receive Maximum, packet size), which wins over what we asked;
//! * `diagnosis/`: a rumqttc error in words, and whether another attempt could help;
//! * `proxy.rs`: which HTTP CONNECT proxy to go through, if any (flags, `HTTPS_PROXY`,
//!   `NO_PROXY`), and the tunnel `--check` opens through it;
//! * `reason_codes.rs`: every MQTT 5 reason code this tool may meet (CONNACK, DISCONNECT,
//!   SUBACK, PUBACK) in words, in one place.
//!
//! Nothing here knows about groups, runs or reports: `run/` uses this folder, never the reverse.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{anyhow, Context};
use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{Outgoing, TlsConfiguration, Transport};

use crate::tls::TlsFiles;

mod connack;
mod diagnosis;
mod link;
mod outage;
mod polled;
mod proxy;
pub mod reason_codes;

pub use connack::describe as describe_connack;

/// Log filter directives for rumqttc, added to the tool's own (`cli/output.rs`).
///
/// rumqttc logs a warning for every SUBACK, UNSUBACK and PUBACK whose reason code is a refusal
/// ("SubAck Pkid = 1, Reason = NotAuthorized", in its `v5::state`). This folder reads each of
/// those codes itself and says what it means and what to change (`reason_codes.rs`), so the
/// library's line would only repeat it in Rust debug notation. Its errors stay visible.
pub const LOG_FILTER: &str = "rumqttc::v5::state=error";
use connack::Granted;

pub use diagnosis::Stage;
use diagnosis::{diagnose, diagnose_first_connect, diagnose_io, diagnose_silence};
pub use link::Connection;
pub use polled::{Polled, Reconnected};
pub use proxy::{tunnel, Proxy, TunnelError};

/// Where the broker is and which files prove who we are: what the user asked for, before any
/// file is read.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub files: TlsFiles,
    /// ALPN protocols to offer in the TLS handshake (`--alpn`, or `x-amzn-mqtt-ca` on 443).
    pub alpn: Vec<String>,
    /// The HTTP proxy to tunnel through (`--proxy_host`, `HTTPS_PROXY`), if any.
    pub proxy: Option<Proxy>,
}

/// Where the broker is and how to talk to it; shared by every connection of a run.
#[derive(Clone)]
pub struct Broker {
    /// DNS name or IP address; also the name the broker's certificate must carry (SNI).
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    /// The longest one step (connect, SUBACK, PUBACK, ...) may take, and the longest the broker may
    /// stay unreachable before a connection gives up.
    pub timeout: Duration,
    /// MQTT keep-alive (`--keep-alive`). Also bounds one reconnect attempt: on a dead path the
    /// TLS handshake would otherwise wait forever.
    pub keep_alive: Duration,
    /// `--session-expiry`. Zero: every connection starts a clean session. Otherwise Clean Start
    /// is off and the broker keeps the session (subscriptions, queued QoS 1 messages) this long
    /// after a connection breaks.
    pub session_expiry: Duration,
    /// Acknowledge received QoS 1 messages ourselves (`AsyncClient::ack`) instead of at once,
    /// and take them one at a time (Receive Maximum 1): `--slow-member`, one client only.
    pub manual_acks: bool,
    /// An HTTP CONNECT proxy between us and the broker. Kept here, with the broker's address, so
    /// that every connection (members, publisher, each reconnect, `--check`) goes through it.
    pub proxy: Option<Proxy>,
    /// The QoS the run publishes at (`--qos`). A broker whose CONNACK allows less (Maximum QoS,
    /// MQTT 5 §3.2.2.3.4) refuses the run at the first CONNACK, before a message is lost to it.
    pub qos: QoS,
    /// This connection publishes QoS 1 messages (the publisher, `--check`, the conformance
    /// probes). A member only receives: rumqttc still keeps a slot per outgoing message it may
    /// have in flight, allocated up front (about 200 bytes each), so a member asks for one slot,
    /// not [`MAX_IN_FLIGHT`]: 1,000 members took 286 MB with 1,000 slots each, 78 MB with one.
    pub publishes: bool,
    /// AWS IoT Core's per-client limits apply (an `*.iot.*.amazonaws.com` endpoint, or `--aws`):
    /// reconnect attempts of one client id are a second apart at least (`outage.rs`).
    pub on_aws: bool,
    /// What the first CONNACK granted, so that the log says what the broker changed once per
    /// run, not once per client.
    pub(crate) first_granted: Arc<OnceLock<Granted>>,
    /// First connections under way at once, at most [`CONNECTING_AT_ONCE`]: shared by every
    /// client of the run.
    pub(crate) connecting: Arc<tokio::sync::Semaphore>,
}

/// How many clients of a run may be in their first TLS handshake and CONNECT at the same time.
///
/// A run of thousands of members would otherwise open thousands of TCP connections in the same
/// millisecond. The broker's listen queue (the kernel's, at most `net.core.somaxconn`, and the
/// backlog the broker asks for) then overflows, and the kernel answers the rest with a reset:
/// measured here with mosquitto 2.0 and 10,000 members, "hung up during the TLS handshake
/// (ConnectionReset)". A first connection is not retried (`link.rs`), so that ended the run.
/// Handshakes take a millisecond or two each on loopback: 64 at a time costs nothing in speed.
pub const CONNECTING_AT_ONCE: usize = 64;

impl Broker {
    /// A broker with the defaults of the command line: keep-alive 30 s, clean sessions, no proxy.
    pub fn new(host: &str, port: u16, tls: Arc<rustls::ClientConfig>, timeout: Duration) -> Broker {
        Broker {
            host: host.to_owned(),
            port,
            tls,
            timeout,
            keep_alive: Duration::from_secs(30),
            session_expiry: Duration::ZERO,
            proxy: None,
            manual_acks: false,
            publishes: true,
            qos: QoS::AtMostOnce,
            on_aws: false,
            first_granted: Arc::default(),
            connecting: Arc::new(tokio::sync::Semaphore::new(CONNECTING_AT_ONCE)),
        }
    }

    /// Logs what the broker granted `client_id` where it differs from what was asked: once for
    /// the run, and again only for a client that was granted something else.
    fn log_granted(&self, granted: &Granted, client_id: &str) {
        let first = self.first_granted.get_or_init(|| {
            for change in granted.changes(self) {
                tracing::info!("the broker at {}:{} set {change}", self.host, self.port);
            }
            granted.clone()
        });
        if first != granted {
            for change in granted.changes(self) {
                tracing::info!("[{client_id}] the broker set {change}");
            }
        }
    }

    /// " via HTTP proxy host:port" when there is one, for messages about the broker's address.
    fn via(&self) -> String {
        self.proxy
            .as_ref()
            .map(|p| format!(" via HTTP proxy {}", p.address()))
            .unwrap_or_default()
    }
}

/// Largest packet we accept from the broker. rumqttc's default is 10 KiB; AWS IoT Core allows
/// payloads up to 128 KiB, so leave room for those plus headers.
pub(crate) const MAX_INCOMING_PACKET: u32 = 256 * 1024;

/// How many requests may wait in rumqttc's queue before `publish().await` waits for room.
const REQUEST_QUEUE: usize = 1024;

/// The most QoS 1 messages in flight (sent, not yet PUBACKed) on one connection. The broker's
/// CONNACK may lower it (Receive Maximum: 20 on mosquitto, 100 on AWS IoT Core). rumqttc's default
/// is 65,535, and it allocates a slot for each up front: about 7 MB per connection for nothing.
const MAX_IN_FLIGHT: u16 = 1000;

/// Connects `client_id` to `broker` and waits for a successful CONNACK. No retries: a refused
/// *first* connection almost always means a wrong flag (see `link.rs`). `Connection::open` is
/// the same plus reconnects.
pub async fn connect(
    broker: &Broker,
    client_id: &str,
) -> anyhow::Result<(AsyncClient, EventLoop, ConnAck)> {
    let (client, mut eventloop) = AsyncClient::new(options(broker, client_id), REQUEST_QUEUE);
    // Waiting for a turn is not part of --timeout: the handshake itself is.
    let _turn = broker.connecting.acquire().await;
    let connack = tokio::time::timeout(broker.timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => return Ok(connack),
                Ok(_) => continue,
                Err(error) => {
                    return Err(anyhow!(
                        diagnose_first_connect(&error, broker, client_id).sentence()
                    ))
                }
            }
        }
    })
    .await
    .map_err(|_| anyhow!(diagnose_silence(Stage::Mqtt, broker).sentence()))??;
    // What the broker says in its CONNACK wins over what we asked (`connack.rs`).
    let granted = Granted::read(&connack, broker);
    if let Some(refusal) = granted.refuses(broker.qos) {
        return Err(anyhow!("[{client_id}] {refusal}"));
    }
    broker.log_granted(&granted, client_id);
    Ok((client, eventloop, connack))
}

/// rumqttc's options for one client of `broker`.
fn options(broker: &Broker, client_id: &str) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, broker.host.as_str(), broker.port);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            broker.tls.clone(),
        )))
        // rumqttc asserts at least 5 s; `cli/` refuses less before we get here.
        .set_keep_alive(broker.keep_alive)
        // By default a fresh session every time: no queued messages from an earlier run leak in.
        // A reconnect then always gets `session_present == false` (MQTT 5 §3.2.2.1.1) and has to
        // subscribe again and re-send what was not acknowledged. With --session-expiry the
        // broker keeps the session across a break instead, and `session_present` says it did.
        .set_clean_start(broker.session_expiry.is_zero())
        .set_manual_acks(broker.manual_acks)
        .set_max_packet_size(Some(MAX_INCOMING_PACKET))
        .set_outgoing_inflight_upper_limit(if broker.publishes { MAX_IN_FLIGHT } else { 1 })
        // rumqttc counts whole seconds: round up, so `--timeout 2.5s` gives it 3 s, not 2.
        .set_connection_timeout(
            broker.timeout.as_secs() + u64::from(broker.timeout.subsec_nanos() > 0),
        );
    if !broker.session_expiry.is_zero() {
        // After `set_max_packet_size`: both live in the CONNECT properties, and this adds to them.
        // `cli/` keeps the value below u32::MAX seconds.
        options.set_session_expiry_interval(Some(
            u32::try_from(broker.session_expiry.as_secs()).unwrap_or(u32::MAX - 1),
        ));
    }
    if broker.manual_acks {
        // A slow consumer takes one message at a time (MQTT 5 Receive Maximum 1): the broker
        // sends the next only after our PUBACK, and keeps the rest of our share queued. Without
        // it the broker would hand over everything at once and only our PUBACKs would lag.
        options.set_receive_maximum(Some(1));
    }
    // Small packets must go out at once. With Nagle's algorithm on, a PUBLISH written while the
    // previous one is unacknowledged at TCP level waits for the peer's delayed ACK (40 ms on Linux).
    let mut network = options.network_options();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    // rumqttc opens the tunnel (HTTP CONNECT) before its TLS handshake, on every reconnect too;
    // TLS still checks the *broker's* certificate and name, end to end through the proxy.
    if let Some(proxy) = &broker.proxy {
        options.set_proxy(proxy.for_rumqttc());
    }
    options
}

/// A connection error in one sentence (what happened; what to change), as a run would say it.
pub fn explain(error: &rumqttc::v5::ConnectionError, broker: &Broker) -> String {
    diagnose(error, broker, "").sentence()
}

/// A socket error at `stage` in one sentence, as a run would say it (`--check` meets them one
/// stage at a time).
pub fn explain_io(error: &std::io::Error, stage: Stage, broker: &Broker) -> String {
    diagnose_io(error, broker, stage).sentence()
}

/// No answer within `--timeout` at `stage`, in one sentence.
pub fn explain_silence(stage: Stage, broker: &Broker) -> String {
    diagnose_silence(stage, broker).sentence()
}

/// A failed [`tunnel`] in one sentence, as a run would say it.
pub fn explain_tunnel(error: &TunnelError, broker: &Broker) -> String {
    diagnosis::diagnose_tunnel(error, broker).sentence()
}

/// Sends DISCONNECT and polls until rumqttc has written it.
///
/// Polling must stop right after: another `poll()` would open a new connection.
pub async fn disconnect(
    broker: &Broker,
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    client_id: &str,
) -> anyhow::Result<()> {
    tokio::time::timeout(broker.timeout, async {
        // Queue the DISCONNECT *while* polling: a publisher stopped at full speed has a full
        // request queue, and only polling empties it. Awaiting the queueing first would wait
        // for room that never comes, until --timeout (and the broker's keep-alive) ran out.
        let queued = client.disconnect();
        tokio::pin!(queued);
        let mut in_queue = false;
        loop {
            tokio::select! {
                done = &mut queued, if !in_queue => {
                    done?;
                    in_queue = true;
                }
                polled = eventloop.poll() => match polled {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                    Ok(_) => continue,
                    Err(e) => return Err(anyhow!(diagnose(&e, broker, client_id).sentence())),
                },
            }
        }
    })
    .await
    .with_context(|| format!("[{client_id}] DISCONNECT not sent within --timeout"))?
}
