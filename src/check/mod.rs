//! `--check`: a pre-flight of the whole chain, one link at a time, before a real run.
//!
//! A first run against AWS IoT Core can fail in a dozen places, and a failed run shows only the
//! first error, in the words of the layer that noticed. `--check` walks the chain in order and
//! stops at the first broken link, so the checklist says *where* it breaks:
//!
//! 1. **certificate and key**: both parse, the key belongs to the certificate (rustls compares
//!    the public keys), the dates are valid, the CA file (or the system store) loads;
//! 2. **DNS**: the endpoint resolves (an AWS name without `-ats` gets a hint); through an HTTP
//!    proxy, the *proxy's* name resolves instead: the proxy resolves the broker's name itself,
//!    and a network that needs a proxy often cannot resolve outside names at all;
//! 3. **TCP**: something listens on the port; through a proxy, the proxy accepts and answers
//!    our CONNECT to the broker with 200, which means it reached the broker;
//! 4. **TLS**: the handshake, with the broker's certificate verified for the endpoint's name and
//!    the ALPN protocol, if one is offered, agreed; and the broker's verdict on *our* certificate,
//!    which TLS 1.3 sends after the client has finished its side (`tls.rs`);
//! 5. **CONNACK**: the broker accepts this client, and every value its CONNACK sets (shared
//!    subscriptions, Receive Maximum, maximum QoS and packet size, Server Keep Alive, session
//!    expiry, …), marked where it changed what we asked;
//! 6. **SUBACK**: the `$share` subscription is granted; then it is taken back (UNSUBSCRIBE) and
//!    the client leaves.
//!
//! Each step prints a ✓ with what it found, or a ✗ with the fix; `--json` prints one object per
//! step instead (`checklist.rs`). Exit 0 when every step passes, 1 otherwise.
//!
//! It connects with the very [`Broker`] a run would use, and what goes wrong is said in the run's
//! words: `mqtt/diagnosis/` explains each stage, here as in a run.

use std::net::SocketAddr;

use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;
use tokio::time::{timeout, Instant};

use crate::failure::Failure;
use crate::mqtt::{self, reason_codes, Broker, Stage};
use crate::run::Plan;
use crate::tls::{self, TlsFiles};

mod checklist;
mod tls_step;

use checklist::Checklist;

/// Runs the checklist and prints it; true when every step passed.
///
/// `broker` is what a run would connect with, or why the certificate files could not make one:
/// the first step reports it.
pub async fn run(files: &TlsFiles, broker: Result<Broker, Failure>, plan: &Plan) -> bool {
    let mut steps = Checklist::new(plan.format);
    let files = steps.step("certificate and key", || {
        let broker = broker.map_err(|e| e.to_string())?;
        let what = tls::describe_certificate(files).unwrap_or_default();
        Ok((broker, format!("{what}; the key belongs to it")))
    });
    let Some(broker) = files else {
        return steps.finish();
    };
    let Some(address) = steps.step_async("DNS", dns(&broker)).await else {
        return steps.finish();
    };
    if steps
        .step_async("TCP", tcp(&broker, address))
        .await
        .is_none()
        || steps
            .step_async("TLS", tls_step::handshake(&broker, address))
            .await
            .is_none()
    {
        return steps.finish();
    }
    let client_id = plan.check_id();
    let Some((client, eventloop)) = steps
        .step_async("CONNACK", connack(&broker, &client_id))
        .await
    else {
        return steps.finish();
    };
    let filter = plan.filter().to_string();
    steps
        .step_async(
            "SUBACK",
            subscribe(&broker, client, eventloop, &filter, plan.qos),
        )
        .await;
    steps.finish()
}

/// Resolves the broker's name, or with a proxy the proxy's: the address the TCP step connects to.
async fn dns(broker: &Broker) -> Result<(SocketAddr, String), String> {
    let (host, port) = match &broker.proxy {
        Some(proxy) => (proxy.host.as_str(), proxy.port),
        None => (broker.host.as_str(), broker.port),
    };
    let found = timeout(broker.timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| mqtt::explain_silence(Stage::Dns, broker))?
        .map_err(|e| unresolved(e, broker))?;
    let addresses: Vec<SocketAddr> = found.collect();
    let Some(first) = addresses.first().copied() else {
        let none = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        return Err(unresolved(none, broker));
    };
    let shown: Vec<String> = addresses
        .iter()
        .take(3)
        .map(|a| a.ip().to_string())
        .collect();
    Ok(match &broker.proxy {
        Some(proxy) => (
            first,
            format!(
                "the HTTP proxy {host} (from {}) is {}; the proxy resolves {} itself",
                proxy.source, shown[0], broker.host
            ),
        ),
        None => (first, format!("{host} is {}", shown.join(", "))),
    })
}

/// A name that did not resolve, in the run's words: the broker's, or the proxy's.
fn unresolved(error: std::io::Error, broker: &Broker) -> String {
    match &broker.proxy {
        Some(_) => mqtt::explain_tunnel(&mqtt::TunnelError::Unreachable(error), broker),
        None => mqtt::explain_io(&error, Stage::Dns, broker),
    }
}

/// A TCP connection to the broker, or the proxy's tunnel to it.
async fn tcp(broker: &Broker, address: SocketAddr) -> Result<((), String), String> {
    let started = Instant::now();
    let connected = timeout(broker.timeout, open(broker, address))
        .await
        .map_err(|_| mqtt::explain_silence(Stage::Tcp, broker))?;
    connected?;
    let took = started.elapsed().as_millis();
    Ok((
        (),
        match &broker.proxy {
            Some(proxy) => format!(
                "connected to {}:{} via HTTP proxy {} (from {}): CONNECT answered 200 ({took} ms)",
                broker.host,
                broker.port,
                proxy.address(),
                proxy.source
            ),
            None => format!("{address} accepts connections ({took} ms)"),
        },
    ))
}

/// A connection to the broker: straight to `address`, or through the proxy at `address`.
async fn open(broker: &Broker, address: SocketAddr) -> Result<tokio::net::TcpStream, String> {
    match &broker.proxy {
        Some(proxy) => mqtt::tunnel(proxy, address, &broker.host, broker.port)
            .await
            .map_err(|e| mqtt::explain_tunnel(&e, broker)),
        None => tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| mqtt::explain_io(&e, Stage::Tcp, broker)),
    }
}

/// CONNECT as the check's client, and every value the CONNACK sets.
async fn connack(
    broker: &Broker,
    client_id: &str,
) -> Result<((rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop), String), String> {
    let (client, eventloop, connack) = mqtt::connect(broker, client_id)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let granted = mqtt::describe_connack(&connack, broker);
    if connack
        .properties
        .as_ref()
        .and_then(|p| p.shared_subscription_available)
        == Some(0)
    {
        return Err(format!(
            "the broker accepted {client_id} but says it has no shared subscriptions ({granted}); \
             use a broker with MQTT 5 shared subscriptions"
        ));
    }
    Ok((
        (client, eventloop),
        format!("{client_id} accepted; {granted}"),
    ))
}

async fn subscribe(
    broker: &Broker,
    client: rumqttc::v5::AsyncClient,
    mut eventloop: rumqttc::v5::EventLoop,
    filter: &str,
    qos: QoS,
) -> Result<((), String), String> {
    let answer = async {
        client
            .subscribe(filter, qos)
            .await
            .map_err(|e| e.to_string())?;
        let granted = loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(suback))) => match suback.return_codes.first() {
                    Some(SubscribeReasonCode::Success(granted)) => break *granted,
                    Some(code) => {
                        return Err(format!(
                            "the broker refused SUBSCRIBE {filter}: {}",
                            reason_codes::suback_refusal(*code, filter)
                        ))
                    }
                    None => return Err(format!("the SUBACK for {filter} carried no reason code")),
                },
                Ok(_) => continue,
                Err(e) => return Err(mqtt::explain(&e, broker)),
            }
        };
        client
            .unsubscribe(filter)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::UnsubAck(_))) => break,
                Ok(_) => continue,
                Err(e) => return Err(mqtt::explain(&e, broker)),
            }
        }
        Ok(granted)
    };
    let granted = timeout(broker.timeout, answer)
        .await
        .map_err(|_| format!("no SUBACK for {filter} within --timeout"))??;
    let _ = mqtt::disconnect(broker, &client, &mut eventloop, "check").await;
    Ok((
        (),
        format!(
            "{filter} granted at QoS {}; unsubscribed again",
            granted as u8
        ),
    ))
}
