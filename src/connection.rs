//! Opening one MQTT 5 connection over mutual TLS: the code members and the publisher share.
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
//! rumqttc would reconnect at once, forever, if we kept polling after an error; we stop at the
//! first one and turn it into a sentence (see [`explain`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use rumqttc::v5::mqttbytes::v5::{ConnAck, ConnectReturnCode, DisconnectReasonCode, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError};
use rumqttc::{Outgoing, TlsConfiguration, Transport};

use crate::tls::TlsFiles;

/// Where the broker is and which files prove who we are: what the user asked for, before any
/// file is read.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub files: TlsFiles,
}

/// Where the broker is and how to talk to it; shared by every connection of a run.
#[derive(Clone)]
pub struct Broker {
    /// DNS name or IP address; also the name the broker's certificate must carry (SNI).
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    /// The longest one step (connect, SUBACK, PUBACK, ...) may take.
    pub timeout: Duration,
}

/// Largest packet we accept from the broker. rumqttc's default is 10 KiB; AWS IoT Core allows
/// payloads up to 128 KiB, so leave room for those plus headers.
const MAX_INCOMING_PACKET: u32 = 256 * 1024;

/// How many requests may wait in rumqttc's queue before `publish().await` waits for room.
const REQUEST_QUEUE: usize = 1024;

/// Connects `client_id` to `broker` and waits for a successful CONNACK.
pub async fn connect(
    broker: &Broker,
    client_id: &str,
) -> anyhow::Result<(AsyncClient, EventLoop, ConnAck)> {
    let mut options = MqttOptions::new(client_id, broker.host.as_str(), broker.port);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            broker.tls.clone(),
        )))
        .set_keep_alive(Duration::from_secs(30))
        // A fresh session every run: no queued messages from an earlier run leak in. Reconnects
        // therefore get `session_present == false` and must subscribe again.
        .set_clean_start(true)
        .set_max_packet_size(Some(MAX_INCOMING_PACKET))
        .set_connection_timeout(broker.timeout.as_secs().max(1));
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);

    let connack = tokio::time::timeout(broker.timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => return Ok(connack),
                Ok(_) => continue,
                Err(error) => return Err(anyhow!(explain(&error, broker))),
            }
        }
    })
    .await
    .map_err(|_| {
        anyhow!(
            "no CONNACK from {}:{} within {} (--timeout); check --endpoint and --port",
            broker.host,
            broker.port,
            humantime::format_duration(broker.timeout)
        )
    })??;
    Ok((client, eventloop, connack))
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
    client.disconnect().await?;
    tokio::time::timeout(broker.timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(anyhow!(explain(&e, broker))),
            }
        }
    })
    .await
    .with_context(|| format!("[{client_id}] DISCONNECT not sent within --timeout"))?
}

/// Turns a rumqttc error into one sentence that says what the user should change.
pub fn explain(error: &ConnectionError, broker: &Broker) -> String {
    let at = format!("{}:{}", broker.host, broker.port);
    match error {
        ConnectionError::Io(e) => match e.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("connection to {at} refused: nothing listens there; check --endpoint and --port")
            }
            _ if e.to_string().contains("failed to lookup address") => format!(
                "cannot resolve --endpoint '{}': {e}; check the name (AWS IoT: `aws iot describe-endpoint --endpoint-type iot:Data-ATS`)",
                broker.host
            ),
            _ => format!("network error talking to {at}: {e}"),
        },
        ConnectionError::Tls(e) => explain_tls(&e.to_string(), &at),
        ConnectionError::ConnectionRefused(code) => format!(
            "the broker at {at} refused the connection: {}",
            connect_code_in_words(*code)
        ),
        ConnectionError::MqttState(StateError::ServerDisconnect {
            reason_code,
            reason_string,
        }) => {
            let why = reason_string
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            format!(
                "the broker at {at} disconnected us: {}{why}",
                disconnect_code_in_words(*reason_code)
            )
        }
        ConnectionError::MqttState(StateError::Io(e)) => {
            format!("connection to {at} lost: {e}")
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) => {
            format!("connection to {at} closed by the broker without a DISCONNECT; if it happens right after connecting, the broker may have rejected the client certificate or the IoT policy")
        }
        ConnectionError::Timeout(_) => {
            format!("connecting to {at} timed out; check --endpoint, --port and firewalls")
        }
        other => format!("connection to {at} failed: {other}"),
    }
}

/// TLS failures, in the words of what to fix. The strings are rustls' error texts.
fn explain_tls(error: &str, at: &str) -> String {
    let fix = if error.contains("UnknownIssuer") {
        "the broker's certificate is not signed by a CA we trust; pass the broker's CA with --ca_file"
    } else if error.contains("NotValidForName") {
        "the broker's certificate is not valid for this name; use the endpoint name the certificate was issued for (--endpoint)"
    } else if error.contains("UnknownCA") || error.contains("BadCertificate") {
        "the broker rejected our client certificate: it is not signed by a CA the broker trusts (--cert)"
    } else if error.contains("CertificateExpired") || error.contains("Expired") {
        "a certificate has expired (ours, --cert, or the broker's)"
    } else if error.contains("CertificateRequired") {
        "the broker wants a client certificate and did not accept ours (--cert)"
    } else if error.contains("CorruptMessage") || error.contains("InvalidContentType") {
        "the server did not answer in TLS; is --port a plain-TCP port (e.g. 1883 instead of 8883)?"
    } else {
        "check --cert, --key, --ca_file and --endpoint"
    };
    format!("TLS handshake with {at} failed: {error}; {fix}")
}

/// CONNACK reason codes in words (MQTT 5 §3.2.2.2).
fn connect_code_in_words(code: ConnectReturnCode) -> String {
    let words = match code {
        ConnectReturnCode::NotAuthorized => {
            "not authorized (0x87): the IoT policy attached to the certificate must allow iot:Connect on this --client_id"
        }
        ConnectReturnCode::BadUserNamePassword => "bad user name or password (0x86)",
        ConnectReturnCode::ClientIdentifierNotValid => {
            "client identifier not valid (0x85): choose another --client_id"
        }
        ConnectReturnCode::Banned => "this client is banned (0x8A)",
        ConnectReturnCode::ServerUnavailable | ConnectReturnCode::ServerBusy => {
            "the server is unavailable or busy; try again later"
        }
        ConnectReturnCode::QuotaExceeded => "quota exceeded (0x97): too many connections",
        _ => return format!("{code:?}"),
    };
    words.to_owned()
}

/// DISCONNECT reason codes in words (MQTT 5 §3.14.2.1).
fn disconnect_code_in_words(code: DisconnectReasonCode) -> String {
    let words = match code {
        DisconnectReasonCode::SessionTakenOver => {
            "session taken over (0x8E): another client connected with the same client id; pick a unique --client_id"
        }
        DisconnectReasonCode::NotAuthorized => {
            "not authorized (0x87): the IoT policy does not allow this action"
        }
        DisconnectReasonCode::TopicFilterInvalid => "topic filter invalid (0x8F)",
        DisconnectReasonCode::TopicNameInvalid => "topic name invalid (0x90)",
        DisconnectReasonCode::SharedSubscriptionNotSupported => {
            "shared subscriptions not supported (0x9E) by this broker"
        }
        DisconnectReasonCode::ServerShuttingDown => "the server is shutting down (0x8B)",
        DisconnectReasonCode::KeepAliveTimeout => "keep-alive timeout (0x8D)",
        DisconnectReasonCode::ProtocolError => "protocol error (0x82)",
        _ => return format!("{code:?}"),
    };
    words.to_owned()
}
