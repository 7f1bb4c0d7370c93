//! A rumqttc error in words: what happened, what the user should change, and whether another
//! attempt may help.
//!
//! rumqttc's errors describe the layer that failed (`Io`, `Tls`, `MqttState(Deserialization(..))`),
//! not the cause a user can act on, and the same cause arrives in different wrappers: a rejected
//! client certificate is a TLS error during the handshake, but with TLS 1.3 it can also surface on
//! the first read after it, as an MQTT decoding error. So each error is unwrapped to its cause first
//! (a rustls error, a socket error, an MQTT reason code), and the words follow from the cause.

use std::time::{Duration, SystemTime};

use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, DisconnectReasonCode};
use rumqttc::v5::mqttbytes::Error as MqttError;
use rumqttc::v5::{ConnectionError, StateError};
use rumqttc::TlsError;
use rustls::{AlertDescription, CertificateError};

use super::Broker;

/// A rumqttc error in words, and whether trying again may help.
pub(super) struct Diagnosis {
    /// What happened.
    pub what: String,
    /// What the user should change.
    pub fix: String,
    /// A later attempt may succeed (the broker restarts, the network comes back).
    pub retry: bool,
    /// The broker said it about this one client (a CONNACK or DISCONNECT code), not about the
    /// network or the certificates that every client shares: the sentence names the client.
    about_client: Option<String>,
}

impl Diagnosis {
    fn new(what: impl Into<String>, fix: impl Into<String>, retry: bool) -> Diagnosis {
        Diagnosis {
            what: what.into(),
            fix: fix.into(),
            retry,
            about_client: None,
        }
    }

    fn about(mut self, client_id: &str) -> Diagnosis {
        if !client_id.is_empty() {
            self.about_client = Some(client_id.to_owned());
        }
        self
    }

    /// The whole error line: `[client] what happened; what to change`.
    pub fn sentence(&self) -> String {
        match &self.about_client {
            Some(client_id) => format!("[{client_id}] {}; {}", self.what, self.fix),
            None => format!("{}; {}", self.what, self.fix),
        }
    }
}

/// What `error` means, for `client_id` (empty: no client in particular).
pub(super) fn diagnose(error: &ConnectionError, broker: &Broker, client_id: &str) -> Diagnosis {
    let at = format!("{}:{}", broker.host, broker.port);
    // A TLS failure can surface in several wrappers: during the handshake as a TLS error, and
    // with TLS 1.3 also on the first read after it, because the broker checks our certificate
    // only after the client considers the handshake done. Look for rustls' own error first.
    if let Some(tls) = rustls_cause(error) {
        return diagnose_tls(tls, broker, &at);
    }
    if let Some(io) = io_cause(error) {
        return diagnose_io(io, broker, &at, matches!(error, ConnectionError::Tls(_)));
    }
    match error {
        ConnectionError::ConnectionRefused(code) => {
            let (words, fix, retry) = connack_code_in_words(*code);
            Diagnosis::new(
                format!("the broker at {at} refused the connection: {words}"),
                fix,
                retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(StateError::ServerDisconnect {
            reason_code,
            reason_string,
        }) => {
            let why = reason_string
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let (words, fix, retry) = disconnect_code_in_words(*reason_code, client_id);
            Diagnosis::new(
                format!("the broker at {at} disconnected us: {words}{why}"),
                fix,
                retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) => Diagnosis::new(
            format!("the broker at {at} closed the connection without a DISCONNECT"),
            "if this happens right after connecting, the broker refused us silently: AWS IoT does \
             that when the certificate is inactive or its policy lacks iot:Connect for this --client_id; \
             mosquitto does it when another client connects with the same client id",
            true,
        ),
        ConnectionError::MqttState(StateError::AwaitPingResp) => Diagnosis::new(
            format!("the broker at {at} stopped answering (no PINGRESP within the keep-alive)"),
            "check the network path to the broker",
            true,
        ),
        ConnectionError::MqttState(StateError::CollisionTimeout) => Diagnosis::new(
            format!("the broker at {at} did not acknowledge a message in time"),
            "check the broker's load",
            true,
        ),
        ConnectionError::MqttState(StateError::OutgoingPacketTooLarge { pkt_size, max }) => {
            Diagnosis::new(
                format!("a {pkt_size}-byte message exceeds the broker's maximum packet size of {max} bytes"),
                "use a shorter --message",
                false,
            )
        }
        ConnectionError::MqttState(other) => Diagnosis::new(
            format!("the MQTT conversation with {at} failed: {other}"),
            "is --endpoint/--port an MQTT 5 broker? if so, please report this with --verbosity debug output",
            false,
        ),
        // rumqttc's own limit for TCP + TLS + CONNECT/CONNACK, which we set to --timeout.
        ConnectionError::Timeout(_) => Diagnosis::new(
            format!(
                "no CONNACK from {at} within {} (--timeout)",
                humantime::format_duration(broker.timeout)
            ),
            "check --endpoint and --port (is an MQTT broker listening there?) and firewalls, or raise --timeout",
            true,
        ),
        ConnectionError::NotConnAck(packet) => Diagnosis::new(
            format!("the server at {at} answered CONNECT with {packet:?} instead of a CONNACK"),
            "is --endpoint/--port an MQTT 5 broker?",
            false,
        ),
        ConnectionError::Tls(other) => Diagnosis::new(
            format!("TLS set-up for {at} failed: {other}"),
            "check --endpoint: it must be a DNS name or an IP address",
            false,
        ),
        other => Diagnosis::new(
            format!("connection to {at} failed: {other}"),
            "check --endpoint, --port, --cert, --key and --ca_file",
            false,
        ),
    }
}

/// The `rustls::Error` behind `error`, if any.
///
/// rumqttc wraps the socket's `io::Error` in one of several variants, and tokio-rustls wraps
/// rustls' error in that `io::Error`, where only `get_ref()` finds it.
fn rustls_cause(error: &ConnectionError) -> Option<&rustls::Error> {
    if let ConnectionError::Tls(TlsError::TLS(tls)) = error {
        return Some(tls);
    }
    io_cause(error)
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The socket error behind `error`, whichever layer reported it.
fn io_cause(error: &ConnectionError) -> Option<&std::io::Error> {
    match error {
        ConnectionError::Io(io)
        | ConnectionError::Tls(TlsError::Io(io))
        | ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(MqttError::Io(io))) => Some(io),
        _ => None,
    }
}

/// Socket errors: no broker there, no such name, or the connection broke. All may pass.
fn diagnose_io(io: &std::io::Error, broker: &Broker, at: &str, in_handshake: bool) -> Diagnosis {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::ConnectionRefused => Diagnosis::new(
            format!("connection to {at} refused: nothing listens there"),
            "check --endpoint and --port (AWS IoT: 8883, or 443), and that the broker runs",
            true,
        ),
        // std has no `ErrorKind` for a DNS failure: a getaddrinfo error comes back as an
        // uncategorized error whose message starts "failed to lookup address information", so the
        // text is all we can match on.
        _ if io.to_string().contains("failed to lookup address") => Diagnosis::new(
            format!("cannot resolve --endpoint '{}' ({io})", broker.host),
            "check the name (AWS IoT: `aws iot describe-endpoint --endpoint-type iot:Data-ATS`)",
            true,
        ),
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
            if in_handshake =>
        {
            Diagnosis::new(
                format!("the server at {at} hung up during the TLS handshake ({:?})", io.kind()),
                "is --port a plain-MQTT port (e.g. 1883 instead of 8883)? otherwise the broker refused our --cert without saying why",
                true,
            )
        }
        // What a broker that crashes or restarts looks like from here: the socket just ends.
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => Diagnosis::new(
            format!("the broker at {at} closed the connection abruptly ({:?}): it stopped, restarted, or the network cut it", io.kind()),
            "check that the broker runs and the network path to it",
            true,
        ),
        _ => Diagnosis::new(
            format!("connection to {at} broke: {io}"),
            "check the network path to the broker (firewall, VPN, proxy)",
            true,
        ),
    }
}

/// TLS failures, in the words of what to fix. A certificate that was refused once will be refused
/// again, so none of these retries.
fn diagnose_tls(error: &rustls::Error, broker: &Broker, at: &str) -> Diagnosis {
    let failed = format!("TLS handshake with {at} failed");
    let theirs = "the broker's certificate";
    let (what, fix) = match error {
        rustls::Error::InvalidCertificate(cert_error) => match cert_error {
            CertificateError::UnknownIssuer => (
                format!("{failed}: {theirs} is not signed by a CA we trust"),
                "pass the CA that signed the broker's certificate with --ca_file (AWS IoT: AmazonRootCA1.pem)".to_owned(),
            ),
            CertificateError::NotValidForName => (
                format!("{failed}: {theirs} is not valid for the name '{}'", broker.host),
                "connect with a name the certificate was issued for (--endpoint)".to_owned(),
            ),
            CertificateError::NotValidForNameContext { presented, .. } => (
                format!(
                    "{failed}: {theirs} is not valid for the name '{}' (it is for {})",
                    broker.host,
                    presented
                        .iter()
                        .map(|name| name_in_words(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "connect with a name the certificate was issued for (--endpoint)".to_owned(),
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => (
                format!("{failed}: {theirs} {}", validity_in_words(cert_error)),
                "the broker needs a current certificate; also check this machine's clock".to_owned(),
            ),
            other => (
                format!("{failed}: {theirs} was rejected ({other:?})"),
                "check --ca_file and --endpoint".to_owned(),
            ),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied => (
                format!("{failed}: the broker rejected our client certificate (alert {alert:?})"),
                "use a --cert signed by a CA the broker trusts (AWS IoT: a registered, active device certificate)".to_owned(),
            ),
            AlertDescription::CertificateExpired => (
                format!("{failed}: the broker says our client certificate has expired"),
                "issue a new device certificate (--cert, --key)".to_owned(),
            ),
            AlertDescription::CertificateRevoked => (
                format!("{failed}: the broker says our client certificate is revoked"),
                "issue a new device certificate (--cert, --key)".to_owned(),
            ),
            AlertDescription::CertificateRequired => (
                format!("{failed}: the broker requires a client certificate and got none"),
                "pass --cert and --key".to_owned(),
            ),
            AlertDescription::NoApplicationProtocol => (
                format!("{failed}: the broker does not speak the ALPN protocol we offered"),
                "on AWS IoT use port 443 with ALPN, or 8883 without (--port)".to_owned(),
            ),
            other => (
                format!("{failed}: the broker sent the alert {other:?}"),
                "check --cert, --key, --ca_file and --port".to_owned(),
            ),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            format!("{failed}: the server does not speak TLS"),
            "is --port a plain-TCP port (e.g. 1883 instead of 8883)?".to_owned(),
        ),
        other => (
            format!("{failed}: {other}"),
            "check --cert, --key, --ca_file and --endpoint".to_owned(),
        ),
    };
    Diagnosis::new(what, fix, false)
}

/// rustls lists a certificate's names as `DnsName("example.com")` or `IpAddress(..)`: keep the
/// name.
fn name_in_words(name: &str) -> &str {
    match (name.find("(\""), name.rfind("\")")) {
        (Some(start), Some(end)) if start + 2 <= end => &name[start + 2..end],
        _ => name,
    }
}

/// "has expired (on <date>)" or "is not valid before <date>", with dates when rustls gives them.
fn validity_in_words(error: &CertificateError) -> String {
    let date = |t: &rustls::pki_types::UnixTime| {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs()))
    };
    match error {
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("expired on {}", date(not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("is not valid before {}", date(not_before))
        }
        CertificateError::NotValidYet => "is not valid yet".to_owned(),
        _ => "has expired".to_owned(),
    }
}

/// CONNACK reason codes in words (MQTT 5 §3.2.2.2): what, fix, and whether a retry may help.
fn connack_code_in_words(code: ConnectReturnCode) -> (String, &'static str, bool) {
    let (what, fix, retry) = match code {
        ConnectReturnCode::NotAuthorized => (
            "not authorized (0x87)",
            "the broker must let this certificate connect with this client id (AWS IoT: the certificate's policy needs iot:Connect on client/<--client_id>-*)",
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
        other => return (format!("{other:?}"), "check the broker's log", false),
    };
    (what.to_owned(), fix, retry)
}

/// DISCONNECT reason codes in words (MQTT 5 §3.14.2.1): what, fix, and whether a retry may help.
fn disconnect_code_in_words(code: DisconnectReasonCode, client_id: &str) -> (String, String, bool) {
    let (what, fix, retry) = match code {
        // Never retried: the other client would be kicked out in turn, and the two would take the
        // id from each other forever.
        DisconnectReasonCode::SessionTakenOver => {
            let fix = format!(
                "another client connected as '{client_id}': make --client_id unique (a run uses <--client_id>-publisher and <--client_id>-subscriber-N)"
            );
            return (
                "session taken over (0x8E)".to_owned(),
                fix,
                false,
            );
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
            return (what, "check the broker's log".to_owned(), false);
        }
    };
    (what.to_owned(), fix.to_owned(), retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_lose_their_wrapping() {
        assert_eq!(
            name_in_words(r#"DnsName("broker.example.com")"#),
            "broker.example.com"
        );
        assert_eq!(
            name_in_words("IpAddress(127.0.0.1)"),
            "IpAddress(127.0.0.1)"
        );
    }
}
