//! A rumqttc error in words: what happened, what the user should change, and whether another
//! attempt may help.
//!
//! rumqttc's errors describe the layer that failed (`Io`, `Tls`, `MqttState(Deserialization(..))`),
//! not the cause a user can act on, and the same cause arrives in different wrappers: a rejected
//! client certificate is a TLS error during the handshake, but with TLS 1.3 it can also surface on
//! the first read after it, as an MQTT decoding error. So each error is unwrapped to its cause first
//! (a rustls error, a socket error, an MQTT reason code), and the words follow from the cause.
//!
//! `--check` walks the same stages one at a time and says what goes wrong in these same words:
//! [`diagnose_io`] and [`diagnose_silence`] take the [`Stage`] it got to.
//!
//! * `tls.rs`: a certificate we refused, or one the broker refused;
//! * `proxy.rs`: an HTTP proxy that could not be reached, or would not open the tunnel.

use rumqttc::v5::mqttbytes::Error as MqttError;
use rumqttc::v5::{ConnectionError, StateError};
use rumqttc::TlsError;

use super::{reason_codes, Broker};
use crate::error_text;

mod proxy;
mod tls;

use proxy::diagnose_proxy;
pub(super) use proxy::diagnose_tunnel;
use tls::diagnose_tls;

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
    pub(super) fn new(what: impl Into<String>, fix: impl Into<String>, retry: bool) -> Diagnosis {
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
    if let Some(diagnosis) = diagnose_proxy(error, broker) {
        return diagnosis;
    }
    let at = format!("{}:{}", broker.host, broker.port);
    // A TLS failure can surface in several wrappers: during the handshake as a TLS error, and
    // with TLS 1.3 also on the first read after it, because the broker checks our certificate
    // only after the client considers the handshake done. Look for rustls' own error first.
    if let Some(tls) = rustls_cause(error) {
        return diagnose_tls(tls, broker, &at);
    }
    if let Some((io, stage)) = io_cause(error) {
        return diagnose_io(io, broker, stage);
    }
    match error {
        ConnectionError::ConnectionRefused(code) => {
            let meaning = reason_codes::connack(*code);
            Diagnosis::new(
                format!(
                    "the broker at {at} refused the connection: {}",
                    meaning.what
                ),
                meaning.fix,
                meaning.retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(state) => diagnose_state(state, &at, client_id),
        // rumqttc's own limit for TCP + TLS + CONNECT/CONNACK, which we set to --timeout.
        ConnectionError::Timeout(_) => diagnose_silence(Stage::Mqtt, broker),
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

/// What went wrong in the MQTT conversation itself, once connected.
fn diagnose_state(state: &StateError, at: &str, client_id: &str) -> Diagnosis {
    match state {
        StateError::ServerDisconnect {
            reason_code,
            reason_string,
        } => {
            let why = reason_string
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let meaning = reason_codes::disconnect(*reason_code, client_id);
            Diagnosis::new(
                format!("the broker at {at} disconnected us: {}{why}", meaning.what),
                meaning.fix,
                meaning.retry,
            )
            .about(client_id)
        }
        StateError::ConnectionAborted => Diagnosis::new(
            format!("the broker at {at} closed the connection without a DISCONNECT"),
            "if this happens right after connecting, the broker refused us silently: AWS IoT does \
             that when the certificate is inactive or its policy lacks iot:Connect for this client id \
             (--print-policy prints one that allows it); \
             mosquitto does it when another client connects with the same client id",
            true,
        ),
        StateError::AwaitPingResp => Diagnosis::new(
            format!("the broker at {at} stopped answering (no PINGRESP within the keep-alive)"),
            "check the network path to the broker",
            true,
        ),
        StateError::CollisionTimeout => Diagnosis::new(
            format!("the broker at {at} did not acknowledge a message in time"),
            "check the broker's load",
            true,
        ),
        StateError::OutgoingPacketTooLarge { pkt_size, max } => Diagnosis::new(
            format!("a {pkt_size}-byte message exceeds the broker's maximum packet size of {max} bytes"),
            "use a shorter --message",
            false,
        ),
        other => Diagnosis::new(
            format!("the MQTT conversation with {at} failed: {other}"),
            "is --endpoint/--port an MQTT 5 broker? if so, please report this with --verbosity debug output",
            false,
        ),
    }
}

/// What `error` means when it ends the *first* attempt, before any CONNACK.
///
/// A broker that hangs up right after our CONNECT has refused us without a word, whether it closed
/// TLS cleanly (close_notify) or just dropped the socket: AWS IoT does either when the certificate
/// is inactive or its policy does not allow `iot:Connect` for this client id. Later in a run the
/// same hang-up means a restart or a network cut, which is what [`diagnose`] says.
pub(super) fn diagnose_first_connect(
    error: &ConnectionError,
    broker: &Broker,
    client_id: &str,
) -> Diagnosis {
    if !hung_up_after_handshake(error) {
        return diagnose(error, broker, client_id);
    }
    // The resource names this very client, so a reader can search the policy for it; and
    // `--print-policy` (`aws/`) prints one that has it, from the same flags.
    let resource = match client_id {
        "" => "client/<client id>".to_owned(),
        id => format!("client/{id}"),
    };
    Diagnosis::new(
        format!(
            "the broker at {}:{} closed the connection after our CONNECT without answering it (no CONNACK)",
            broker.host, broker.port
        ),
        format!(
            "a broker refuses a client silently this way: AWS IoT when the certificate is inactive, \
             not attached to a policy, or its policy lacks iot:Connect on {resource} (--print-policy \
             with the same flags prints one that allows this run); other brokers when an ACL or \
             plugin turns the client away: check the broker's log"
        ),
        false,
    )
    .about(client_id)
}

/// The peer closed the connection after the TLS handshake, cleanly or not, and said nothing.
fn hung_up_after_handshake(error: &ConnectionError) -> bool {
    use std::io::ErrorKind;
    // A TLS alert says why; a hang-up *during* the handshake has its own hint (a plain port?).
    if rustls_cause(error).is_some() || matches!(error, ConnectionError::Tls(_)) {
        return false;
    }
    if matches!(
        error,
        ConnectionError::MqttState(StateError::ConnectionAborted)
    ) {
        return true;
    }
    io_cause(error).is_some_and(|(io, _)| {
        matches!(
            io.kind(),
            ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
        )
    })
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
        .and_then(|(io, _)| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The socket error behind `error`, and the stage it broke in (rumqttc's wrapper says which).
fn io_cause(error: &ConnectionError) -> Option<(&std::io::Error, Stage)> {
    match error {
        ConnectionError::Io(io) => Some((io, Stage::Tcp)),
        ConnectionError::Tls(TlsError::Io(io)) => Some((io, Stage::Tls)),
        ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(MqttError::Io(io))) => {
            Some((io, Stage::Mqtt))
        }
        _ => None,
    }
}

/// How far opening a connection got: what a socket error or a silence means depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Resolving the broker's name (or the proxy's).
    Dns,
    /// Opening the TCP connection (or the proxy's tunnel).
    Tcp,
    /// The TLS handshake.
    Tls,
    /// CONNECT and CONNACK, or anything after them.
    Mqtt,
}

/// Socket errors: no broker there, no such name, or the connection broke. All may pass.
pub(super) fn diagnose_io(io: &std::io::Error, broker: &Broker, stage: Stage) -> Diagnosis {
    use std::io::ErrorKind;
    let at = format!("{}:{}", broker.host, broker.port);
    let ended = matches!(
        io.kind(),
        ErrorKind::UnexpectedEof
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
    );
    // EMFILE (Linux 24): this process, not the network, ran out of file descriptors.
    const TOO_MANY_OPEN_FILES: i32 = 24;
    match io.kind() {
        _ if io.raw_os_error() == Some(TOO_MANY_OPEN_FILES) => Diagnosis::new(
            format!("cannot open another connection to {at}: this process has too many open files ({io})"),
            "raise the limit (`ulimit -n`, up to `ulimit -Hn`) or run fewer --subscribers",
            false,
        ),
        ErrorKind::ConnectionRefused => Diagnosis::new(
            format!("connection to {at} refused: nothing listens there"),
            "check --endpoint and --port (AWS IoT: 8883, or 443 with ALPN), and that the broker runs",
            true,
        ),
        // std has no `ErrorKind` for a DNS failure: only its text tells.
        _ if stage == Stage::Dns || error_text::is_dns_failure(io) => Diagnosis::new(
            format!("cannot resolve --endpoint '{}' ({io})", broker.host),
            endpoint_hint(&broker.host),
            true,
        ),
        _ if ended && stage == Stage::Tls => Diagnosis::new(
            format!("the server at {at} hung up during the TLS handshake ({:?})", io.kind()),
            "is --port a plain-MQTT port (e.g. 1883 instead of 8883)? otherwise the broker refused our --cert without saying why",
            true,
        ),
        // What a broker that crashes or restarts looks like from here: the socket just ends.
        _ if ended => Diagnosis::new(
            format!("the broker at {at} closed the connection abruptly ({:?}): it stopped, restarted, or the network cut it", io.kind()),
            "check that the broker runs and the network path to it",
            true,
        ),
        _ if stage == Stage::Tcp => Diagnosis::new(
            format!("cannot connect to {at}: {io}"),
            "check the network path to the broker (firewall, VPN, proxy)",
            true,
        ),
        _ => Diagnosis::new(
            format!("connection to {at} broke: {io}"),
            "check the network path to the broker (firewall, VPN, proxy)",
            true,
        ),
    }
}

/// What to check when the broker's name does not resolve; an AWS IoT name without `-ats` is the
/// legacy endpoint, whose certificates chain to a CA most trust stores dropped.
fn endpoint_hint(host: &str) -> String {
    let describe = "`aws iot describe-endpoint --endpoint-type iot:Data-ATS`";
    if host.ends_with(".amazonaws.com") && !host.contains("-ats.") {
        format!(
            "check the name: AWS IoT endpoints look like xxxxxxxx-ats.iot.<region>.amazonaws.com \
             ({describe})"
        )
    } else {
        format!("check the name (AWS IoT: {describe})")
    }
}

/// `stage` got no answer within `--timeout`: what that silence says about the path.
pub(super) fn diagnose_silence(stage: Stage, broker: &Broker) -> Diagnosis {
    if let (Some(proxy), Stage::Dns | Stage::Tcp) = (&broker.proxy, stage) {
        return proxy::diagnose_silent_proxy(stage, proxy);
    }
    let at = format!("{}:{}{}", broker.host, broker.port, broker.via());
    let within = format!(
        "within {} (--timeout)",
        humantime::format_duration(broker.timeout)
    );
    let (what, fix) = match stage {
        Stage::Dns => (
            format!("no answer resolving '{}' {within}", broker.host),
            endpoint_hint(&broker.host),
        ),
        Stage::Tcp => (
            format!("no answer from {at} {within}"),
            "a firewall drops the packets, or the host is down: check the network path".to_owned(),
        ),
        Stage::Tls => (
            format!("the TLS handshake with {at} did not finish {within}"),
            "is --port a TLS port? check the network path, or raise --timeout".to_owned(),
        ),
        Stage::Mqtt => (
            format!("no CONNACK from {at} {within}"),
            "check --endpoint and --port (is an MQTT broker listening there?) and firewalls, or \
             raise --timeout"
                .to_owned(),
        ),
    };
    Diagnosis::new(what, fix, true)
}
