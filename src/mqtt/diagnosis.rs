//! A rumqttc error in words: what happened, what the user should change, and whether another
//! attempt may help.
//!
//! rumqttc's errors describe the layer that failed (`Io`, `Tls`, `MqttState(Deserialization(..))`),
//! not the cause a user can act on, and the same cause arrives in different wrappers: a rejected
//! client certificate is a TLS error during the handshake, but with TLS 1.3 it can also surface on
//! the first read after it, as an MQTT decoding error. So each error is unwrapped to its cause first
//! (a rustls error, a socket error, an MQTT reason code), and the words follow from the cause.

use std::time::{Duration, SystemTime};

use rumqttc::v5::mqttbytes::Error as MqttError;
use rumqttc::v5::{ConnectionError, StateError};
use rumqttc::TlsError;
use rustls::{AlertDescription, CertificateError};

use super::proxy::{Proxy, Source, TunnelError};
use super::{reason_codes, Broker};
use crate::error_text;

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
    if let Some(diagnosis) = diagnose_proxy(error, broker) {
        return diagnosis;
    }
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
            let meaning = reason_codes::connack(*code);
            Diagnosis::new(
                format!("the broker at {at} refused the connection: {}", meaning.what),
                meaning.fix,
                meaning.retry,
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
            let meaning = reason_codes::disconnect(*reason_code, client_id);
            Diagnosis::new(
                format!("the broker at {at} disconnected us: {}{why}", meaning.what),
                meaning.fix,
                meaning.retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) => Diagnosis::new(
            format!("the broker at {at} closed the connection without a DISCONNECT"),
            "if this happens right after connecting, the broker refused us silently: AWS IoT does \
             that when the certificate is inactive or its policy lacks iot:Connect for this client id \
             (--print-policy prints one that allows it); \
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
                "no CONNACK from {at}{} within {} (--timeout)",
                broker.via(),
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
    io_cause(error).is_some_and(|io| {
        matches!(
            io.kind(),
            ErrorKind::UnexpectedEof
                | ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
        )
    })
}

/// A failure to open the tunnel through the HTTP proxy, in words; `None` for any other error.
///
/// rumqttc reports it as `ConnectionError::Proxy(ProxyError)`, a type it does not export; its
/// `source()` is the cause, and the cause's type says which half failed: a socket error means the
/// proxy could not be reached, async-http-proxy's `HttpError` that the CONNECT itself failed
/// (the same crate and version `--check` uses, so the downcast finds it).
fn diagnose_proxy(error: &ConnectionError, broker: &Broker) -> Option<Diagnosis> {
    let ConnectionError::Proxy(proxy_error) = error else {
        return None;
    };
    let proxy = broker.proxy.as_ref()?;
    let cause = std::error::Error::source(proxy_error)?;
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        return Some(diagnose_unreachable_proxy(io, proxy));
    }
    let http = cause.downcast_ref::<async_http_proxy::HttpError>()?;
    Some(diagnose_proxy_answer(http, proxy, broker))
}

/// [`tunnel`](super::tunnel)'s error in words: the same as a run would say.
pub(super) fn diagnose_tunnel(error: &TunnelError, broker: &Broker) -> Diagnosis {
    let Some(proxy) = &broker.proxy else {
        return Diagnosis::new(
            "no HTTP proxy is set",
            "this is a bug: please report it",
            false,
        );
    };
    match error {
        TunnelError::Unreachable(io) => diagnose_unreachable_proxy(io, proxy),
        TunnelError::Refused(http) => diagnose_proxy_answer(http, proxy, broker),
    }
}

/// "the HTTP proxy host:port (from HTTPS_PROXY)": which proxy, and where the setting is.
fn named(proxy: &Proxy) -> String {
    format!("the HTTP proxy {} (from {})", proxy.address(), proxy.source)
}

/// Where to change the proxy setting.
fn change(proxy: &Proxy) -> String {
    match proxy.source {
        Source::Flags => "check --proxy_host and --proxy_port".to_owned(),
        Source::Env(name) => {
            format!("check {name}, or unset it (or add the broker to NO_PROXY) to connect directly")
        }
    }
}

/// The proxy itself could not be reached: nothing there, no such name, no route.
fn diagnose_unreachable_proxy(io: &std::io::Error, proxy: &Proxy) -> Diagnosis {
    let proxy_named = named(proxy);
    if io.kind() == std::io::ErrorKind::ConnectionRefused {
        return Diagnosis::new(
            format!("connection to {proxy_named} refused: nothing listens there"),
            format!("{}, and that the proxy runs", change(proxy)),
            true,
        );
    }
    if error_text::is_dns_failure(io) {
        return Diagnosis::new(
            format!(
                "cannot resolve the HTTP proxy '{}' (from {}): {io}",
                proxy.host, proxy.source
            ),
            change(proxy),
            true,
        );
    }
    Diagnosis::new(
        format!("cannot reach {proxy_named}: {io}"),
        format!("{} and the network path to the proxy", change(proxy)),
        true,
    )
}

/// The proxy answered our CONNECT, but not with 200, or not in HTTP at all.
fn diagnose_proxy_answer(
    http: &async_http_proxy::HttpError,
    proxy: &Proxy,
    broker: &Broker,
) -> Diagnosis {
    use async_http_proxy::HttpError;
    let proxy_named = named(proxy);
    let to = format!("{}:{}", broker.host, broker.port);
    let code = match http {
        HttpError::HttpCode200(code) => *code,
        HttpError::EndOfFile => {
            return Diagnosis::new(
                format!("{proxy_named} closed the connection without answering our CONNECT"),
                format!("is it an HTTP proxy? {}", change(proxy)),
                true,
            )
        }
        HttpError::IoError(io) => {
            return Diagnosis::new(
                format!("the connection to {proxy_named} broke during CONNECT: {io}"),
                format!("{} and the network path to the proxy", change(proxy)),
                true,
            )
        }
        // Parse errors, a missing code, an over-long header: whatever answered is not an HTTP
        // proxy. (The over-long header's error carries the whole answer: leave it out.)
        _ => {
            return Diagnosis::new(
                format!("{proxy_named} did not answer our CONNECT in HTTP"),
                format!(
                    "is it an HTTP proxy (not SOCKS, not the broker itself)? {}",
                    change(proxy)
                ),
                false,
            )
        }
    };
    let status = match http_reason(code) {
        "" => format!("HTTP {code}"),
        reason => format!("HTTP {code} {reason}"),
    };
    match (code, &proxy.credentials) {
        (407, None) => Diagnosis::new(
            format!("{proxy_named} requires a user name and password ({status})"),
            match proxy.source {
                Source::Env(name) => format!(
                    "put them in {name} as http://user:pass@{} (percent-encode @, : and / in them)",
                    proxy.address()
                ),
                Source::Flags => format!(
                    "set HTTPS_PROXY=http://user:pass@{} instead of --proxy_host (flags take no password: \
                     other users could read it on the command line)",
                    proxy.address()
                ),
            },
            false,
        ),
        (407, Some(credentials)) => Diagnosis::new(
            format!(
                "{proxy_named} refused the user name and password of '{}' ({status})",
                credentials.user
            ),
            format!(
                "check them in {} (percent-encode @, : and / in them); a proxy that wants NTLM or \
                 Kerberos instead of Basic authentication is not supported",
                proxy.source
            ),
            false,
        ),
        // The proxy reached for the broker and failed: a restarting broker looks like this, so
        // another attempt may well succeed.
        (502..=504, _) => Diagnosis::new(
            format!("{proxy_named} could not reach {to} ({status})"),
            "check --endpoint and --port, and that the broker runs (the proxy resolves and connects to it for us)",
            true,
        ),
        _ if broker.port == 443 => Diagnosis::new(
            format!("{proxy_named} refused to open a tunnel to {to} ({status})"),
            format!("ask the proxy's administrators to allow CONNECT to {to}"),
            false,
        ),
        _ => Diagnosis::new(
            format!("{proxy_named} refused to open a tunnel to {to} ({status})"),
            format!(
                "proxies often allow CONNECT only to port 443: on AWS IoT use --port 443 (the ALPN name it needs \
                 there is offered by itself), or ask the proxy's administrators to allow {to}"
            ),
            false,
        ),
    }
}

/// The standard reason phrase of the statuses a proxy answers CONNECT with: async-http-proxy
/// keeps only the number.
fn http_reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        407 => "Proxy Authentication Required",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
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
        // std has no `ErrorKind` for a DNS failure: only its text tells.
        _ if error_text::is_dns_failure(io) => Diagnosis::new(
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
                        .map(|name| error_text::presented_name(name))
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
            // Say what was really offered: nothing at all is the usual case, on a port that
            // wants ALPN (AWS IoT's 443 behind another port number, a TLS terminator).
            AlertDescription::NoApplicationProtocol => match offered_alpn(broker).as_str() {
                "" => (
                    format!("{failed}: the broker requires an ALPN protocol, and we offered none"),
                    "pass the one it wants with --alpn (AWS IoT: --alpn x-amzn-mqtt-ca, which port 443 offers by itself)".to_owned(),
                ),
                offered => (
                    format!("{failed}: the broker accepts none of the ALPN protocols we offered ({offered})"),
                    "pass the one it wants with --alpn; on AWS IoT use port 443 with x-amzn-mqtt-ca, or 8883 without ALPN".to_owned(),
                ),
            },
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

/// The ALPN protocols this run offers, comma-separated ("" for none).
fn offered_alpn(broker: &Broker) -> String {
    broker
        .tls
        .alpn_protocols
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect::<Vec<_>>()
        .join(", ")
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
