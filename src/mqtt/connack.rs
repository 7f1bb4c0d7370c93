//! What the broker says in its CONNACK wins over what we asked for in CONNECT.
//!
//! An MQTT 5 broker answers CONNECT with values of its own (MQTT 5 §3.2.2.3), and the client must
//! live by them:
//!
//! * **Server Keep Alive** (§3.2.2.3.14): "the Client MUST use this value instead of the Keep
//!   Alive value the Client sent on CONNECT" [MQTT-3.2.2-21]. mosquitto's `max_keepalive 10`
//!   lowers a requested 30 s to 10 s; AWS IoT Core raises anything below 30 s to 30 s
//!   (quotas page, "Keep-alive interval"; see `aws/limits.rs`). rumqttc
//!   pings at the broker's value; our dead-path timer (`link.rs`) must count with it too, or a
//!   raised keep-alive would look like a dead connection.
//! * **Session Expiry Interval** (§3.2.2.3.2): how long the broker will really keep the session,
//!   when it differs from `--session-expiry`.
//! * **Maximum QoS** (§3.2.2.3.4): the client "MUST NOT send PUBLISH packets at a QoS level
//!   exceeding" it [MQTT-3.2.2-11]; a run whose `--qos` is higher stops at its first CONNACK.
//! * **Receive Maximum** (§3.2.2.3.3): how many QoS 1 publishes may wait for their PUBACK at once
//!   [MQTT-3.3.4-7]; rumqttc holds the rest back.
//! * **Maximum Packet Size** (§3.2.2.3.6): the largest packet the broker takes [MQTT-3.2.2-15];
//!   rumqttc refuses to send a larger one (`diagnosis/` says "use a shorter --message").
//!
//! [`Granted`] reads them once per CONNACK; `--check` lists them; `connect` logs what the broker
//! changed from what was asked, once per run.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::ConnAck;
use rumqttc::v5::mqttbytes::QoS;

use super::Broker;

/// The values a connection lives by after its CONNACK: the broker's where it sent one, ours
/// (or MQTT 5's default) where it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    /// The keep-alive both sides count with.
    pub keep_alive: Duration,
    /// How long the broker keeps the session after the connection breaks (zero: not at all).
    pub session_expiry: Duration,
    /// The highest QoS the broker accepts in a PUBLISH (2 when it says nothing).
    pub max_qos: u8,
    /// How many QoS 1 publishes may wait for their PUBACK at once (65,535 when it says nothing).
    pub receive_max: u16,
    /// The largest packet the broker accepts, in bytes (no limit when it says nothing).
    pub max_packet_size: Option<u32>,
}

impl Granted {
    /// What `connack` grants a client that asked for what `broker` holds.
    pub fn read(connack: &ConnAck, broker: &Broker) -> Granted {
        let p = connack.properties.as_ref();
        Granted {
            keep_alive: server_keep_alive(connack).unwrap_or(broker.keep_alive),
            session_expiry: p
                .and_then(|p| p.session_expiry_interval)
                .map_or(broker.session_expiry, |s| Duration::from_secs(u64::from(s))),
            max_qos: p.and_then(|p| p.max_qos).unwrap_or(2),
            receive_max: p.and_then(|p| p.receive_max).unwrap_or(u16::MAX),
            max_packet_size: p.and_then(|p| p.max_packet_size),
        }
    }

    /// What the broker changed from what `broker` asked, one phrase each.
    pub fn changes(&self, broker: &Broker) -> Vec<String> {
        let seconds = |d: Duration| humantime::format_duration(d).to_string();
        let mut changes = Vec::new();
        if self.keep_alive != broker.keep_alive {
            changes.push(format!(
                "keep-alive {} instead of the {} asked (--keep-alive; its Server Keep Alive, \
                 which MQTT 5 makes the client use)",
                seconds(self.keep_alive),
                seconds(broker.keep_alive)
            ));
        }
        if self.session_expiry != broker.session_expiry {
            changes.push(format!(
                "sessions kept {} after a break instead of the {} asked (--session-expiry)",
                seconds(self.session_expiry),
                seconds(broker.session_expiry)
            ));
        }
        changes
    }

    /// A run that publishes at `qos` breaks the broker's Maximum QoS: the reason, or `None`.
    pub fn refuses(&self, qos: QoS) -> Option<String> {
        let asked = qos as u8;
        (asked > self.max_qos).then(|| {
            format!(
                "the broker accepts messages up to QoS {} only (Maximum QoS in its CONNACK), and \
                 --qos {asked} asks for more; use --qos {}",
                self.max_qos, self.max_qos
            )
        })
    }
}

/// The Server Keep Alive `connack` sets, if any. One of 0 turns keep-alive off (§3.1.2.10): we
/// keep counting with ours then, so that a dead path is still noticed.
pub fn server_keep_alive(connack: &ConnAck) -> Option<Duration> {
    let seconds = connack.properties.as_ref()?.server_keep_alive?;
    (seconds > 0).then(|| Duration::from_secs(u64::from(seconds)))
}

/// Every value `connack` carries, in words, for `--check`; a value the broker changed from what
/// `broker` asked says so. A property left out means MQTT 5's default, said once at the end.
pub fn describe(connack: &ConnAck, broker: &Broker) -> String {
    let Some(p) = &connack.properties else {
        return "no properties: MQTT 5 defaults (shared subscriptions available, no limits)"
            .to_owned();
    };
    let granted = Granted::read(connack, broker);
    let shared = match p.shared_subscription_available {
        Some(0) => "no",
        _ => "yes",
    };
    let mut words = vec![format!("shared subscriptions: {shared}")];
    let mut add = |value: Option<String>| words.extend(value);
    add(p.receive_max.map(|n| format!("Receive Maximum {n}")));
    add(p.max_qos.map(|qos| format!("maximum QoS {qos}")));
    add(p
        .max_packet_size
        .map(|size| format!("maximum packet {size} bytes")));
    add(p
        .topic_alias_max
        .map(|n| format!("topic aliases up to {n}")));
    add(p.server_keep_alive.map(|s| {
        let what = format!("Server Keep Alive {s} s");
        marked(what, granted.keep_alive, broker.keep_alive)
    }));
    add(p.session_expiry_interval.map(|s| {
        let what = format!("session expiry {s} s");
        marked(what, granted.session_expiry, broker.session_expiry)
    }));
    add(p
        .subscription_identifiers_available
        .map(|s| format!("subscription identifiers: {}", yes_no(s))));
    add(p
        .retain_available
        .map(|r| format!("retained messages: {}", yes_no(r))));
    add(p
        .wildcard_subscription_available
        .map(|w| format!("wildcard subscriptions: {}", yes_no(w))));
    words.join(", ")
}

fn yes_no(flag: u8) -> &'static str {
    if flag == 0 {
        "no"
    } else {
        "yes"
    }
}

/// `what` the broker granted, with what we asked beside it when the two differ.
fn marked(what: String, granted: Duration, asked: Duration) -> String {
    if granted == asked {
        what
    } else {
        format!("{what} (we asked {} s)", asked.as_secs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::v5::mqttbytes::v5::{ConnAckProperties, ConnectReturnCode};
    use std::sync::Arc;

    fn broker() -> Broker {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        Broker::new("broker", 8883, Arc::new(tls), Duration::from_secs(5))
    }

    /// A CONNACK property set with nothing in it (rumqttc has no `Default` for it).
    fn none() -> ConnAckProperties {
        ConnAckProperties {
            session_expiry_interval: None,
            receive_max: None,
            max_qos: None,
            retain_available: None,
            max_packet_size: None,
            assigned_client_identifier: None,
            topic_alias_max: None,
            reason_string: None,
            user_properties: Vec::new(),
            wildcard_subscription_available: None,
            subscription_identifiers_available: None,
            shared_subscription_available: None,
            server_keep_alive: None,
            response_information: None,
            server_reference: None,
            authentication_method: None,
            authentication_data: None,
        }
    }

    fn connack(properties: Option<ConnAckProperties>) -> ConnAck {
        ConnAck {
            session_present: false,
            code: ConnectReturnCode::Success,
            properties,
        }
    }

    #[test]
    fn what_the_broker_sends_wins() {
        let broker = broker();
        let lowered = ConnAckProperties {
            server_keep_alive: Some(10),
            max_qos: Some(0),
            receive_max: Some(20),
            session_expiry_interval: Some(60),
            ..none()
        };
        let granted = Granted::read(&connack(Some(lowered.clone())), &broker);
        assert_eq!(granted.keep_alive, Duration::from_secs(10));
        assert_eq!(granted.session_expiry, Duration::from_secs(60));
        assert_eq!((granted.max_qos, granted.receive_max), (0, 20));
        let changes = granted.changes(&broker);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes[0].contains("keep-alive 10s instead of the 30s asked"));
        assert!(granted.refuses(QoS::AtLeastOnce).is_some());
        assert!(granted.refuses(QoS::AtMostOnce).is_none());
        let words = describe(&connack(Some(lowered)), &broker);
        assert!(
            words.contains("Server Keep Alive 10 s (we asked 30 s)"),
            "{words}"
        );
        assert!(words.contains("maximum QoS 0"), "{words}");
    }

    #[test]
    fn a_silent_broker_leaves_ours_and_mqtts_defaults() {
        let broker = broker();
        let granted = Granted::read(&connack(None), &broker);
        assert_eq!(granted.keep_alive, broker.keep_alive);
        assert_eq!((granted.max_qos, granted.receive_max), (2, u16::MAX));
        assert!(granted.changes(&broker).is_empty());
        // A Server Keep Alive of 0 (keep-alive off) leaves our own dead-path timer running.
        let off = ConnAckProperties {
            server_keep_alive: Some(0),
            ..none()
        };
        assert_eq!(
            Granted::read(&connack(Some(off)), &broker).keep_alive,
            broker.keep_alive
        );
    }
}
