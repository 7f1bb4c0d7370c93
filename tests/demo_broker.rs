//! The demo broker over real sockets and real mutual TLS, with rumqttc as the client.
//!
//! What these tests pin down: a device certificate from the demo CA gets in and a `$share` group
//! receives every message exactly once; a certificate from another CA, or none at all, is refused
//! during the TLS handshake, before MQTT says a word. With a policy (`--demo --policy`), the
//! broker answers as AWS IoT Core does: a CONNECT the policy does not allow is closed without a
//! CONNACK, a PUBLISH gets PUBACK 0x87, a SUBSCRIBE gets SUBACK 0x87.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::iam::Policy;
use mqtt5_shared_subscription::pki::{Identity, Pki};
use mqtt5_shared_subscription::{DemoBroker, MAX_PACKET_SIZE};
use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet, PubAckReason, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::{Error as DecodeError, QoS};
use rumqttc::v5::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, StateError, TlsError,
};
use rumqttc::{TlsConfiguration, Transport};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use rustls::AlertDescription;

/// Upper bound for any single step (connect, subscribe, receive); loopback needs far less.
const STEP: Duration = Duration::from_secs(10);

#[tokio::test]
async fn shared_subscriber_with_demo_ca_certificate_gets_every_message_once() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let pki = Pki::new("demo CA")?;
    let files = pki.write_files(dir.path())?;

    let started = Instant::now();
    let broker = DemoBroker::start(&files).await?;
    println!("start() took {:?}", started.elapsed());
    assert!(broker.addr().ip().is_loopback());

    let member_identity = Identity {
        cert_pem: std::fs::read_to_string(&files.client_cert)?,
        key_pem: std::fs::read_to_string(&files.client_key)?,
    };
    let (member, mut member_events, connack) =
        connect(&broker, "member-1", pki.ca_pem(), Some(&member_identity)).await?;
    // The settings demo/broker.rs chose reach the wire: a legal Maximum Packet Size and AWS IoT's QoS limit.
    let properties = connack
        .properties
        .ok_or_else(|| anyhow::anyhow!("CONNACK without properties"))?;
    assert_eq!(properties.max_packet_size, Some(MAX_PACKET_SIZE as u32));
    assert_eq!(properties.max_qos, Some(1));

    member.subscribe("$share/g/t", QoS::AtLeastOnce).await?;
    let granted = tokio::time::timeout(STEP, next_suback(&mut member_events)).await??;
    assert_eq!(
        granted,
        vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );

    // The publisher uses its own certificate from the same CA, as a second device would.
    let publisher_identity = pki.client("publisher")?;
    let (publisher, mut publisher_events, _) = connect(
        &broker,
        "publisher",
        pki.ca_pem(),
        Some(&publisher_identity),
    )
    .await?;
    // rumqttc only sends what its event loop polls; let it run in the background.
    let publisher_loop =
        tokio::spawn(async move { while publisher_events.poll().await.is_ok() {} });
    for n in 0..100 {
        publisher
            .publish("t", QoS::AtLeastOnce, false, n.to_string())
            .await?;
    }

    let mut received = Vec::new();
    tokio::time::timeout(STEP, async {
        while received.len() < 100 {
            if let Event::Incoming(Packet::Publish(publish)) = member_events.poll().await? {
                received.push(String::from_utf8(publish.payload.to_vec())?);
            }
        }
        anyhow::Ok(())
    })
    .await??;
    // Exactly once: nothing more turns up a little later, and no payload came twice.
    let extra = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = member_events.poll().await? {
                return anyhow::Ok(publish);
            }
        }
    })
    .await;
    assert!(extra.is_err(), "expected silence, got {extra:?}");
    let distinct: BTreeSet<u32> = received
        .iter()
        .map(|p| p.parse())
        .collect::<Result<_, _>>()?;
    assert_eq!(distinct, (0..100).collect());

    // Stop with both clients still connected, as a Ctrl-C during `--demo` would.
    let stopping = Instant::now();
    broker.stop().await;
    let stop_took = stopping.elapsed();
    println!("stop() took {stop_took:?}");
    assert!(
        stop_took < Duration::from_secs(5),
        "stop() took {stop_took:?}"
    );
    publisher_loop.abort();
    Ok(())
}

#[tokio::test]
async fn clients_without_a_certificate_from_the_demo_ca_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = Pki::new("demo CA")?;
    let files = pki.write_files(dir.path())?;
    let broker = DemoBroker::start(&files).await?;

    // A well-formed certificate, but signed by a CA the broker has never heard of.
    let intruder = Pki::new("some other CA")?.client("intruder")?;
    let refused = connect(&broker, "intruder", pki.ca_pem(), Some(&intruder)).await;
    assert_tls_alert(refused, AlertDescription::UnknownCA);

    // No certificate at all: the broker requires one.
    let anonymous = connect(&broker, "anonymous", pki.ca_pem(), None).await;
    assert_tls_alert(anonymous, AlertDescription::CertificateRequired);

    broker.stop().await;
    Ok(())
}

/// A policy in AWS's words: `ok-*` may connect, publish to `t` and join `$share/g/t`; `ok-bad`
/// may connect to nothing (an explicit Deny wins over the Allow).
const POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:REGION:ACCOUNT_ID:client/ok-*"},
    {"Effect": "Deny", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:REGION:ACCOUNT_ID:client/ok-bad"},
    {"Sid": "PublishT", "Effect": "Allow", "Action": "iot:Publish",
     "Resource": "arn:aws:iot:REGION:ACCOUNT_ID:topic/t"},
    {"Effect": "Allow", "Action": ["iot:Subscribe", "iot:Receive"],
     "Resource": ["arn:aws:iot:REGION:ACCOUNT_ID:topicfilter/$share/g/t",
                  "arn:aws:iot:REGION:ACCOUNT_ID:topic/$share/g/t"]}
  ]
}"#;

#[tokio::test]
async fn with_a_policy_the_broker_refuses_as_aws_does() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = Pki::new("demo CA")?;
    let files = pki.write_files(dir.path())?;
    let policy = Policy::parse(POLICY).map_err(anyhow::Error::msg)?;
    let broker = DemoBroker::with_policy(&files, policy, "policy.json".into()).await?;
    let identity = pki.client("device")?;

    // Connect: an id the policy does not name, and one it denies, get no CONNACK at all: the
    // connection closes after the CONNECT, as AWS closes it.
    for id in ["intruder", "ok-bad"] {
        match connect(&broker, id, pki.ca_pem(), Some(&identity)).await {
            Ok((_, _, connack)) => panic!("{id}: expected no CONNACK, got {connack:?}"),
            Err(error) => {
                let error = error
                    .downcast::<ConnectionError>()
                    .unwrap_or_else(|e| panic!("{id}: not a connection error: {e:?}"));
                assert!(
                    !matches!(error, ConnectionError::ConnectionRefused(_)),
                    "{id}: a CONNACK refusal instead of a silent close: {error:?}"
                );
            }
        }
    }

    // Subscribe: the shared filter the policy names is granted, a neighbour gets 0x87.
    let (member, mut member_events, _) =
        connect(&broker, "ok-member", pki.ca_pem(), Some(&identity)).await?;
    member.subscribe("$share/g/t", QoS::AtLeastOnce).await?;
    let granted = tokio::time::timeout(STEP, next_suback(&mut member_events)).await??;
    assert_eq!(
        granted,
        vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
    );
    for filter in ["t", "$share/other/t"] {
        member.subscribe(filter, QoS::AtLeastOnce).await?;
        let refused = tokio::time::timeout(STEP, next_suback(&mut member_events)).await??;
        assert_eq!(
            refused,
            vec![SubscribeReasonCode::NotAuthorized],
            "{filter}"
        );
    }

    // Publish: `t` is allowed and delivered; `u` gets PUBACK 0x87 and goes nowhere.
    let (publisher, mut publisher_events, _) =
        connect(&broker, "ok-publisher", pki.ca_pem(), Some(&identity)).await?;
    publisher
        .publish("u", QoS::AtLeastOnce, false, "no")
        .await?;
    publisher
        .publish("t", QoS::AtLeastOnce, false, "yes")
        .await?;
    let reasons = tokio::time::timeout(STEP, async {
        let mut reasons = Vec::new();
        while reasons.len() < 2 {
            if let Event::Incoming(Packet::PubAck(ack)) = publisher_events.poll().await? {
                reasons.push(ack.reason);
            }
        }
        anyhow::Ok(reasons)
    })
    .await??;
    assert_eq!(
        reasons,
        [PubAckReason::NotAuthorized, PubAckReason::Success]
    );
    let delivered = tokio::time::timeout(STEP, async {
        loop {
            if let Event::Incoming(Packet::Publish(publish)) = member_events.poll().await? {
                return anyhow::Ok(publish);
            }
        }
    })
    .await??;
    assert_eq!(
        (&delivered.topic[..], &delivered.payload[..]),
        (&b"t"[..], &b"yes"[..])
    );

    broker.stop().await;
    Ok(())
}

/// Connects over mutual TLS (or one-way TLS when `identity` is `None`) and waits for CONNACK.
///
/// rumqttc reports a failed handshake and a refused CONNACK as a [`ConnectionError`] from `poll`,
/// so `Ok` means the broker accepted the client.
async fn connect(
    broker: &DemoBroker,
    client_id: &str,
    ca_pem: &str,
    identity: Option<&Identity>,
) -> anyhow::Result<(AsyncClient, EventLoop, ConnAck)> {
    let tls = client_tls(ca_pem, identity)?;
    // Dial the IP, not "localhost": the server certificate has an IP SAN for 127.0.0.1.
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.addr().port());
    options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
        Arc::new(tls),
    )));
    let (client, mut events) = AsyncClient::new(options, 10);

    let connack = tokio::time::timeout(STEP, async {
        loop {
            if let Event::Incoming(Packet::ConnAck(connack)) = events.poll().await? {
                return Ok::<_, ConnectionError>(connack);
            }
        }
    })
    .await??;
    Ok((client, events, connack))
}

/// A rustls client config that trusts `ca_pem` and presents `identity`, using ring like the crate.
fn client_tls(ca_pem: &str, identity: Option<&Identity>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);

    let Some(identity) = identity else {
        return Ok(builder.with_no_client_auth());
    };
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes()).collect::<Result<_, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes())?;
    Ok(builder.with_client_auth_cert(chain, key)?)
}

/// Polls until the SUBACK arrives and returns its reason codes.
async fn next_suback(events: &mut EventLoop) -> anyhow::Result<Vec<SubscribeReasonCode>> {
    loop {
        if let Event::Incoming(Packet::SubAck(suback)) = events.poll().await? {
            return Ok(suback.return_codes);
        }
    }
}

/// Asserts the connection failed because the broker sent the TLS alert `expected`.
///
/// With TLS 1.3 the client finishes its half of the handshake before the server has checked the
/// client certificate, so the server's verdict arrives as an alert on the client's first read,
/// while rumqttc waits for CONNACK. rumqttc then wraps the rustls error in its packet decoder's
/// error; a handshake that fails on the client side is a `ConnectionError::Tls` instead.
fn assert_tls_alert(
    outcome: anyhow::Result<(AsyncClient, EventLoop, ConnAck)>,
    expected: AlertDescription,
) {
    let error = match outcome {
        Ok((_, _, connack)) => panic!("expected TLS alert {expected:?}, got CONNACK {connack:?}"),
        Err(error) => error,
    };
    let io_error = match error.downcast_ref::<ConnectionError>() {
        Some(ConnectionError::MqttState(StateError::Deserialization(DecodeError::Io(io)))) => io,
        Some(ConnectionError::Tls(TlsError::Io(io)) | ConnectionError::Io(io)) => io,
        _ => panic!("expected TLS alert {expected:?}, got {error:?}"),
    };
    let received = io_error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    assert_eq!(
        received,
        Some(&rustls::Error::AlertReceived(expected)),
        "expected TLS alert {expected:?}, got {error:?}"
    );
}
