//! What the broker answers a probe: to a SUBSCRIBE, to a PUBLISH, and how the connection ended;
//! and the reason codes of rumqttc's enums as the bytes the spec numbers them by.

use rumqttc::v5::mqttbytes::v5::{PubAckReason, SubscribeReasonCode};

/// The broker's answer to one SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubAnswer {
    /// SUBACK with a success code: the QoS granted.
    Granted(u8),
    /// SUBACK with a failure code (0x80 or above).
    Refused(u8),
    /// No SUBACK: the connection ended first (see [`Ending`]).
    Ended(Ending),
    /// No SUBACK within the time the case allowed.
    Silent,
}

/// The broker's answer to one PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubAnswer {
    /// PUBACK and its reason code (0x00 success, 0x10 no matching subscribers, ...).
    Acked(u8),
    /// A QoS 0 message was written to the connection; nothing more comes back at QoS 0.
    Sent,
    /// No PUBACK: the connection ended first, or the case stopped waiting.
    Lost,
}

/// How a probe's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The case cut it: the socket closed without DISCONNECT, as when a process crashes.
    Cut,
    /// The case closed it with DISCONNECT.
    Closed,
    /// The broker sent DISCONNECT with this reason code.
    Disconnected(u8),
    /// The broker closed the connection with no DISCONNECT that rumqttc could read. rumqttc
    /// 0.25.1 cannot parse a DISCONNECT that carries a reason code but no property length (a
    /// Remaining Length of 1, which §3.14.2.2.1 allows and mosquitto sends: `e0 01 81`); it
    /// waits for the missing byte, then sees the socket close. So this also covers "DISCONNECT
    /// with a reason code and no properties".
    Dropped,
    /// The connection failed otherwise, in words.
    Broke(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Cut => write!(f, "cut by the case"),
            Ending::Closed => write!(f, "closed with DISCONNECT"),
            Ending::Disconnected(code) => write!(f, "DISCONNECT 0x{code:02X} from the broker"),
            Ending::Dropped => write!(f, "closed by the broker (no DISCONNECT rumqttc could read)"),
            Ending::Broke(why) => write!(f, "broken ({why})"),
        }
    }
}

/// A SUBACK reason code as its byte (MQTT 5 §3.9.3).
pub(super) fn suback_code(code: SubscribeReasonCode) -> u8 {
    match code {
        SubscribeReasonCode::Success(qos) => qos as u8,
        SubscribeReasonCode::Failure | SubscribeReasonCode::Unspecified => 0x80,
        SubscribeReasonCode::ImplementationSpecific => 0x83,
        SubscribeReasonCode::NotAuthorized => 0x87,
        SubscribeReasonCode::TopicFilterInvalid => 0x8F,
        SubscribeReasonCode::PkidInUse => 0x91,
        SubscribeReasonCode::QuotaExceeded => 0x97,
        SubscribeReasonCode::SharedSubscriptionsNotSupported => 0x9E,
        SubscribeReasonCode::SubscriptionIdNotSupported => 0xA1,
        SubscribeReasonCode::WildcardSubscriptionsNotSupported => 0xA2,
    }
}

/// A PUBACK reason code as its byte (MQTT 5 §3.4.2.1).
pub(super) fn puback_code(reason: PubAckReason) -> u8 {
    match reason {
        PubAckReason::Success => 0x00,
        PubAckReason::NoMatchingSubscribers => 0x10,
        PubAckReason::UnspecifiedError => 0x80,
        PubAckReason::ImplementationSpecificError => 0x83,
        PubAckReason::NotAuthorized => 0x87,
        PubAckReason::TopicNameInvalid => 0x90,
        PubAckReason::PacketIdentifierInUse => 0x91,
        PubAckReason::QuotaExceeded => 0x97,
        PubAckReason::PayloadFormatInvalid => 0x99,
    }
}
