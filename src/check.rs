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
//!    the ALPN protocol, if one is offered, agreed;
//! 5. **CONNACK**: the broker accepts this client, and what it says it can do (shared
//!    subscriptions, Receive Maximum, maximum QoS and packet size, topic aliases);
//! 6. **SUBACK**: the `$share` subscription is granted; then it is taken back (UNSUBSCRIBE) and
//!    the client leaves.
//!
//! Each step prints a ✓ with what it found, or a ✗ with the fix; `--json` prints one object per
//! step instead. Exit 0 when every step passes, 1 otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use rumqttc::tokio_rustls::TlsConnector;
use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{ConnectionError, Event};
use rumqttc::TlsError;
use rustls::pki_types::ServerName;
use tokio::time::{timeout, Instant};

use crate::failure::Failure;
use crate::mqtt::{self, reason_codes, Broker, Proxy};
use crate::run::{Format, Plan};
use crate::tls::{self, TlsFiles};

/// What one step found: a detail when it passed, what went wrong and the fix when not.
struct Step {
    name: &'static str,
    outcome: Result<String, String>,
}

/// Runs the checklist and prints it; true when every step passed.
///
/// `broker` is what a run would connect with, or why the certificate files could not make one:
/// the first step reports it.
pub async fn run(files: &TlsFiles, broker: Result<Broker, Failure>, plan: &Plan) -> bool {
    let mut steps = Checklist {
        format: plan.format,
        failed: false,
    };
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
            .step_async("TLS", handshake(&broker, address))
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

/// One step as a `--json` line: `{"event":"check","step":…,"ok":…,"detail":…}`.
#[derive(serde::Serialize)]
struct CheckLine<'a> {
    event: &'static str,
    step: &'static str,
    ok: bool,
    detail: &'a str,
}

/// Prints steps as they finish, so a step that hangs shows where.
struct Checklist {
    format: Format,
    failed: bool,
}

impl Checklist {
    fn step<T>(
        &mut self,
        name: &'static str,
        check: impl FnOnce() -> Result<(T, String), String>,
    ) -> Option<T> {
        let (value, outcome) = match check() {
            Ok((value, detail)) => (Some(value), Ok(detail)),
            Err(problem) => (None, Err(problem)),
        };
        self.print(&Step { name, outcome });
        value
    }

    async fn step_async<T>(
        &mut self,
        name: &'static str,
        check: impl std::future::Future<Output = Result<(T, String), String>>,
    ) -> Option<T> {
        let result = check.await;
        self.step(name, || result)
    }

    fn print(&mut self, step: &Step) {
        self.failed |= step.outcome.is_err();
        match self.format {
            Format::Json => {
                let (Ok(detail) | Err(detail)) = &step.outcome;
                let line = CheckLine {
                    event: "check",
                    step: step.name,
                    ok: step.outcome.is_ok(),
                    detail,
                };
                if let Ok(line) = serde_json::to_string(&line) {
                    say(&line);
                }
            }
            Format::Text { .. } => match &step.outcome {
                Ok(detail) => say(&format!("✓ {}: {detail}", step.name)),
                Err(problem) => say(&format!("✗ {}: {problem}", step.name)),
            },
        }
    }

    fn finish(self) -> bool {
        if let Format::Text { .. } = self.format {
            say(if self.failed {
                "the chain breaks at the ✗ above; fix it and run --check again"
            } else {
                "every step passed: a run with the same flags should work"
            });
        }
        !self.failed
    }
}

/// One line on stdout. `println!` would panic if the reader went away (`--check | head -1`).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Resolves the broker's name, or with a proxy the proxy's: the address the TCP step connects to.
async fn dns(broker: &Broker) -> Result<(SocketAddr, String), String> {
    if let Some(proxy) = &broker.proxy {
        return dns_proxy(broker, proxy).await;
    }
    let host = broker.host.as_str();
    let hint = if host.ends_with(".amazonaws.com") && !host.contains("-ats.") {
        "; AWS IoT endpoints look like xxxxxxxx-ats.iot.<region>.amazonaws.com \
         (`aws iot describe-endpoint --endpoint-type iot:Data-ATS`)"
    } else {
        "; check --endpoint"
    };
    let found = timeout(broker.timeout, tokio::net::lookup_host((host, broker.port)))
        .await
        .map_err(|_| format!("no answer resolving '{host}' within --timeout{hint}"))?
        .map_err(|e| format!("cannot resolve '{host}' ({e}){hint}"))?;
    let addresses: Vec<SocketAddr> = found.collect();
    let first = *addresses
        .first()
        .ok_or_else(|| format!("'{host}' resolves to no address{hint}"))?;
    let shown: Vec<String> = addresses
        .iter()
        .take(3)
        .map(|a| a.ip().to_string())
        .collect();
    Ok((first, format!("{host} is {}", shown.join(", "))))
}

async fn dns_proxy(broker: &Broker, proxy: &Proxy) -> Result<(SocketAddr, String), String> {
    let host = proxy.host.as_str();
    let change = match proxy.source {
        mqtt::ProxySource::Flags => "check --proxy_host".to_owned(),
        mqtt::ProxySource::Env(name) => format!("check {name}"),
    };
    let found = timeout(broker.timeout, tokio::net::lookup_host((host, proxy.port)))
        .await
        .map_err(|_| {
            format!("no answer resolving the HTTP proxy '{host}' within --timeout; {change}")
        })?
        .map_err(|e| {
            format!(
                "cannot resolve the HTTP proxy '{host}' (from {}): {e}; {change}",
                proxy.source
            )
        })?;
    let address = found
        .into_iter()
        .next()
        .ok_or_else(|| format!("the HTTP proxy '{host}' resolves to no address; {change}"))?;
    Ok((
        address,
        format!(
            "the HTTP proxy {host} (from {}) is {}; the proxy resolves {} itself",
            proxy.source,
            address.ip(),
            broker.host
        ),
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
            .map_err(|e| mqtt::explain(&ConnectionError::Io(e), broker)),
    }
}

async fn tcp(broker: &Broker, address: SocketAddr) -> Result<((), String), String> {
    let started = Instant::now();
    if let Some(proxy) = &broker.proxy {
        let tunnel = timeout(broker.timeout, open(broker, address))
            .await
            .map_err(|_| {
                format!(
                    "no answer to our CONNECT from the HTTP proxy {} (from {}) within --timeout",
                    proxy.address(),
                    proxy.source
                )
            })?;
        tunnel?;
        return Ok((
            (),
            format!(
                "connected to {}:{} via HTTP proxy {} (from {}): CONNECT answered 200 ({} ms)",
                broker.host,
                broker.port,
                proxy.address(),
                proxy.source,
                started.elapsed().as_millis()
            ),
        ));
    }
    match timeout(broker.timeout, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Ok(((), format!("{address} accepts connections ({} ms)", started.elapsed().as_millis()))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(format!(
            "nothing listens on {address}; check --port (AWS IoT: 8883, or 443 with ALPN) and that the broker runs"
        )),
        Ok(Err(e)) => Err(format!("cannot connect to {address}: {e}; check the network path (firewall, VPN, proxy)")),
        Err(_) => Err(format!(
            "no answer from {address} within --timeout: a firewall drops the packets, or the host is down"
        )),
    }
}

async fn handshake(broker: &Broker, address: SocketAddr) -> Result<((), String), String> {
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
        .map_err(|_| "the TLS handshake did not finish within --timeout".to_owned())??;
    let session = stream.get_ref().1;
    let version = session
        .protocol_version()
        .map_or_else(|| "TLS".to_owned(), |v| format!("{v:?}").replace('_', "."));
    let alpn = match session.alpn_protocol() {
        Some(protocol) => format!("; ALPN {} agreed", String::from_utf8_lossy(protocol)),
        None if broker.tls.alpn_protocols.is_empty() => String::new(),
        None => "; the broker agreed to no ALPN protocol (it ignored ours)".to_owned(),
    };
    Ok((
        (),
        format!(
            "{version}, the broker's certificate is valid for {}{alpn}",
            broker.host
        ),
    ))
}

async fn connack(
    broker: &Broker,
    client_id: &str,
) -> Result<((rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop), String), String> {
    let (client, eventloop, connack) = mqtt::connect(broker, client_id)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let capabilities = capabilities(&connack);
    if connack
        .properties
        .as_ref()
        .and_then(|p| p.shared_subscription_available)
        == Some(0)
    {
        return Err(format!(
            "the broker accepted {client_id} but says it has no shared subscriptions ({capabilities}); \
             use a broker with MQTT 5 shared subscriptions"
        ));
    }
    Ok((
        (client, eventloop),
        format!("{client_id} accepted; {capabilities}"),
    ))
}

/// What the CONNACK says the broker can do, in words. A property left out means the MQTT 5
/// default: shared subscriptions available, QoS 2, no limit.
fn capabilities(connack: &ConnAck) -> String {
    let Some(p) = &connack.properties else {
        return "no properties: MQTT 5 defaults (shared subscriptions available, no limits)"
            .to_owned();
    };
    let shared = match p.shared_subscription_available {
        Some(0) => "no",
        _ => "yes",
    };
    let mut words = vec![format!("shared subscriptions: {shared}")];
    if let Some(receive_max) = p.receive_max {
        words.push(format!("Receive Maximum {receive_max}"));
    }
    if let Some(max_qos) = p.max_qos {
        words.push(format!("maximum QoS {max_qos}"));
    }
    if let Some(size) = p.max_packet_size {
        words.push(format!("maximum packet {size} bytes"));
    }
    if let Some(aliases) = p.topic_alias_max {
        words.push(format!("topic aliases up to {aliases}"));
    }
    if let Some(expiry) = p.session_expiry_interval {
        words.push(format!("session expiry {expiry} s"));
    }
    words.join(", ")
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
