//! A proxy that would not carry us to the broker, in words: it could not be reached, it refused
//! our CONNECT, or what answered was no HTTP proxy at all.

use rumqttc::v5::ConnectionError;

use super::{Broker, Diagnosis, Stage};
use crate::error_text;
use crate::mqtt::proxy::{Proxy, Source, TunnelError};

/// A failure to open the tunnel through the HTTP proxy, in words; `None` for any other error.
///
/// rumqttc reports it as `ConnectionError::Proxy(ProxyError)`, a type it does not export; its
/// `source()` is the cause, and the cause's type says which half failed: a socket error means the
/// proxy could not be reached, async-http-proxy's `HttpError` that the CONNECT itself failed
/// (the same crate and version `--check` uses, so the downcast finds it).
pub(super) fn diagnose_proxy(error: &ConnectionError, broker: &Broker) -> Option<Diagnosis> {
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

/// [`tunnel`](crate::mqtt::tunnel)'s error in words: the same as a run would say.
pub(in crate::mqtt) fn diagnose_tunnel(error: &TunnelError, broker: &Broker) -> Diagnosis {
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

/// The proxy's name did not resolve, or the proxy did not answer our CONNECT, within --timeout.
pub(super) fn diagnose_silent_proxy(stage: Stage, proxy: &Proxy) -> Diagnosis {
    let what = match stage {
        Stage::Dns => format!(
            "no answer resolving the HTTP proxy '{}' (from {}) within --timeout",
            proxy.host, proxy.source
        ),
        _ => format!(
            "no answer to our CONNECT from {} within --timeout",
            named(proxy)
        ),
    };
    Diagnosis::new(what, change(proxy), true)
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
    diagnose_proxy_status(code, proxy, broker)
}

/// The proxy answered our CONNECT with `code`, not 200.
fn diagnose_proxy_status(code: u16, proxy: &Proxy, broker: &Broker) -> Diagnosis {
    let proxy_named = named(proxy);
    let to = format!("{}:{}", broker.host, broker.port);
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
