//! Every MQTT 5 reason code this tool may meet, in words, in one place.
//!
//! MQTT 5 answers most packets with a one-byte reason code: below 0x80 it went well, from 0x80 on
//! it did not (MQTT 5 §2.4). rumqttc hands these codes over as plain values, and only a refused
//! CONNACK becomes an error; a refused SUBSCRIBE or PUBLISH is an ordinary event that a program must
//! read itself, or it runs on, silently, with nothing arriving. Each table below says what a code
//! means for *this* tool, what to change (often an AWS IoT policy), and, for the connection codes,
//! whether another attempt may help.
//!
//! The functions take plain values (a code, a filter, a topic), not run types, so that the code
//! that meets a code (`diagnosis/`, `run/member.rs`, `run/publisher.rs`) can share one table.

use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, PubAckReason, SubscribeReasonCode, UnsubAckReason,
};

/// A connection's reason code in words.
#[derive(Debug)]
pub struct Meaning {
    /// What the broker said.
    pub what: String,
    /// What the user should change.
    pub fix: String,
    /// A later attempt may succeed (the broker is busy or restarting).
    pub retry: bool,
}

impl Meaning {
    fn new(what: impl Into<String>, fix: impl Into<String>, retry: bool) -> Meaning {
        Meaning {
            what: what.into(),
            fix: fix.into(),
            retry,
        }
    }
}

/// CONNACK reason codes (MQTT 5 §3.2.2.2), the broker's answer to CONNECT.
pub fn connack(code: ConnectReturnCode) -> Meaning {
    let (what, fix, retry) = match code {
        ConnectReturnCode::NotAuthorized => (
            "not authorized (0x87)",
            "the broker must let this certificate connect with this client id (AWS IoT: the certificate's policy needs iot:Connect on client/<this client id>; --print-policy with the same --client_id prints one)",
            false,
        ),
        ConnectReturnCode::BadUserNamePassword => (
            "bad user name or password (0x86)",
            "the sample signs in with its client certificate only: configure the broker to take the identity from the certificate (mosquitto: use_identity_as_username true)",
            false,
        ),
        ConnectReturnCode::ClientIdentifierNotValid => (
            "client identifier not valid (0x85)",
            "choose another --client_id (short; letters, digits and '-')",
            false,
        ),
        ConnectReturnCode::Banned => ("this client is banned (0x8A)", "ask the broker's operator", false),
        ConnectReturnCode::BadAuthenticationMethod => (
            "bad authentication method (0x8C)",
            "the broker wants another way to sign in than a client certificate",
            false,
        ),
        ConnectReturnCode::ServerUnavailable
        | ConnectReturnCode::ServiceUnavailable
        | ConnectReturnCode::ServerBusy => (
            "the server is unavailable or busy (0x88/0x89)",
            "try again later",
            true,
        ),
        ConnectReturnCode::ConnectionRateExceeded => (
            "connection rate exceeded (0x9F)",
            "fewer --subscribers, or try again later",
            true,
        ),
        ConnectReturnCode::QuotaExceeded => (
            "quota exceeded (0x97): too many connections",
            "fewer --subscribers, or raise the account's limits",
            false,
        ),
        ConnectReturnCode::UseAnotherServer | ConnectReturnCode::ServerMoved => (
            "the broker redirects to another server (0x9C/0x9D)",
            "check --endpoint",
            false,
        ),
        ConnectReturnCode::UnsupportedProtocolVersion
        | ConnectReturnCode::RefusedProtocolVersion => (
            "unsupported protocol version (0x84)",
            "this sample needs an MQTT 5 broker",
            false,
        ),
        other => return Meaning::new(format!("{other:?}"), "check the broker's log", false),
    };
    Meaning::new(what, fix, retry)
}

/// DISCONNECT reason codes (MQTT 5 §3.14.2.1), when the broker ends a connection.
pub fn disconnect(code: DisconnectReasonCode, client_id: &str) -> Meaning {
    let (what, fix, retry) = match code {
        // Never retried: the other client would be kicked out in turn, and the two would take the
        // id from each other forever.
        DisconnectReasonCode::SessionTakenOver => {
            let fix = format!(
                "another client connected as '{client_id}': make --client_id unique (a run uses <--client_id>-publisher and <--client_id>-subscriber-N)"
            );
            return Meaning::new("session taken over (0x8E)", fix, false);
        }
        DisconnectReasonCode::NotAuthorized => (
            "not authorized (0x87)",
            "the broker's authorization (AWS IoT: the certificate's policy) must allow iot:Publish and iot:Receive on topic/<--topic> and iot:Subscribe on topicfilter/$share/<group>/<topic>",
            false,
        ),
        DisconnectReasonCode::TopicFilterInvalid => (
            "topic filter invalid (0x8F)",
            "check --group_identifier and --topic",
            false,
        ),
        DisconnectReasonCode::TopicNameInvalid => ("topic name invalid (0x90)", "check --topic", false),
        DisconnectReasonCode::SharedSubscriptionNotSupported => (
            "shared subscriptions not supported (0x9E)",
            "this sample needs a broker with MQTT 5 shared subscriptions",
            false,
        ),
        DisconnectReasonCode::ProtocolError | DisconnectReasonCode::MalformedPacket => (
            "protocol error (0x81/0x82)",
            "check --group_identifier and --topic; otherwise please report it with --verbosity debug output",
            false,
        ),
        DisconnectReasonCode::PacketTooLarge => ("packet too large (0x95)", "use a shorter --message", false),
        DisconnectReasonCode::QuotaExceeded | DisconnectReasonCode::MessageRateTooHigh => (
            "quota or message rate exceeded (0x96/0x97)",
            "slow down with --interval",
            false,
        ),
        DisconnectReasonCode::AdministrativeAction => (
            "disconnected by an administrator (0x98)",
            "ask the broker's operator",
            false,
        ),
        DisconnectReasonCode::UseAnotherServer | DisconnectReasonCode::ServerMoved => (
            "the broker redirects to another server (0x9C/0x9D)",
            "check --endpoint",
            false,
        ),
        // The broker goes away or pushes back for a while: worth waiting for.
        DisconnectReasonCode::ServerShuttingDown => (
            "the server is shutting down (0x8B)",
            "wait for it to come back, or raise --timeout",
            true,
        ),
        DisconnectReasonCode::ServerBusy | DisconnectReasonCode::ConnectionRateExceeded => {
            ("the server is busy (0x89/0x9F)", "try again later", true)
        }
        DisconnectReasonCode::KeepAliveTimeout | DisconnectReasonCode::MaximumConnectTime => (
            "the connection timed out (0x8D/0xA0)",
            "check the network path to the broker",
            true,
        ),
        other => {
            let what = format!("{other:?} (0x{:02X})", other as u8);
            return Meaning::new(what, "check the broker's log", false);
        }
    };
    Meaning::new(what, fix, retry)
}

/// SUBACK failure codes (MQTT 5 §3.9.3) for `filter`, in words, with AWS IoT's usual cause.
pub fn suback_refusal(code: SubscribeReasonCode, filter: &str) -> String {
    match code {
        SubscribeReasonCode::NotAuthorized => format!(
            "not authorized (0x87): the broker does not let this client subscribe to it \
             (AWS IoT: the certificate's policy needs iot:Subscribe on topicfilter/{filter}; \
             --print-policy prints one that has it)"
        ),
        SubscribeReasonCode::TopicFilterInvalid => {
            format!("topic filter invalid (0x8F): check --group_identifier and --topic ({filter})")
        }
        SubscribeReasonCode::SharedSubscriptionsNotSupported => {
            "shared subscriptions not supported (0x9E): use a broker with MQTT 5 shared subscriptions \
             (AWS IoT Core, mosquitto 2, EMQX, HiveMQ), or ask its operator to enable them"
                .to_owned()
        }
        SubscribeReasonCode::QuotaExceeded => {
            "quota exceeded (0x97): fewer --subscribers, or raise the broker's limits".to_owned()
        }
        SubscribeReasonCode::WildcardSubscriptionsNotSupported => {
            "wildcard subscriptions not supported (0xA2): use a --topic without + or #".to_owned()
        }
        SubscribeReasonCode::ImplementationSpecific => {
            "implementation-specific error (0x83): see the broker's log".to_owned()
        }
        other => format!("{other:?}: see the broker's log"),
    }
}

/// Where a message went that the broker accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// To the subscribers of its topic (or there was nothing to tell, at QoS 0).
    Routed,
    /// To nobody: "no matching subscribers" (0x10). Not a refusal, the broker took the message,
    /// but nobody was subscribed, so it dropped it. Our members subscribe before we publish, so
    /// this happens only while the group has no member connected (a broker restart).
    Unrouted,
}

/// A PUBACK's reason code (MQTT 5 §3.4.2.1) for a message on `topic`: accepted, or why not.
pub fn puback(reason: PubAckReason, topic: &str) -> Result<Accepted, String> {
    match reason {
        PubAckReason::Success => Ok(Accepted::Routed),
        PubAckReason::NoMatchingSubscribers => Ok(Accepted::Unrouted),
        PubAckReason::NotAuthorized => Err(format!(
            "not authorized (0x87): the IoT policy lacks iot:Publish on topic/{topic}"
        )),
        PubAckReason::TopicNameInvalid => Err(format!(
            "topic name invalid (0x90): check --topic '{topic}'"
        )),
        PubAckReason::QuotaExceeded => {
            Err("quota exceeded (0x97); slow down with --interval".to_owned())
        }
        other => Err(format!("{other:?}; see the broker's log")),
    }
}

/// UNSUBACK failure codes (MQTT 5 §3.11.2.2) in words, or `None` for success. A failed
/// UNSUBSCRIBE changes no verdict (the run is over, and DISCONNECT ends the session anyway), so
/// these are only worth a warning.
pub fn unsuback_failure(reason: UnsubAckReason) -> Option<&'static str> {
    match reason {
        UnsubAckReason::Success => None,
        UnsubAckReason::NoSubscriptionExisted => {
            Some("no subscription existed (0x11): the broker had already dropped it")
        }
        UnsubAckReason::NotAuthorized => Some("not authorized (0x87)"),
        UnsubAckReason::TopicFilterInvalid => Some("topic filter invalid (0x8F)"),
        UnsubAckReason::PacketIdentifierInUse => Some("packet identifier in use (0x91)"),
        UnsubAckReason::UnspecifiedError | UnsubAckReason::ImplementationSpecificError => {
            Some("refused (0x80/0x83): see the broker's log")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_connection_says_whether_to_try_again() {
        assert!(!connack(ConnectReturnCode::NotAuthorized).retry);
        assert!(connack(ConnectReturnCode::ServerBusy).retry);
        let taken = disconnect(DisconnectReasonCode::SessionTakenOver, "run-publisher");
        assert!(
            !taken.retry,
            "two clients with one id would kick each other out forever"
        );
        assert!(taken.fix.contains("'run-publisher'"), "{}", taken.fix);
        assert!(disconnect(DisconnectReasonCode::ServerShuttingDown, "c").retry);
    }

    #[test]
    fn a_refused_subscription_names_the_policy_resource() {
        let words = suback_refusal(SubscribeReasonCode::NotAuthorized, "$share/g/t");
        assert!(words.contains("0x87"), "{words}");
        assert!(words.contains("topicfilter/$share/g/t"), "{words}");
    }

    #[test]
    fn no_matching_subscribers_is_accepted_not_refused() {
        assert_eq!(puback(PubAckReason::Success, "t"), Ok(Accepted::Routed));
        assert_eq!(
            puback(PubAckReason::NoMatchingSubscribers, "t"),
            Ok(Accepted::Unrouted)
        );
        let refused = puback(PubAckReason::NotAuthorized, "test/topic");
        assert!(matches!(&refused, Err(words) if words.contains("topic/test/topic")));
    }
}
