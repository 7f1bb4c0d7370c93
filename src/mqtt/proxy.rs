//! Reaching the broker through an HTTP CONNECT proxy, as corporate networks often require.
//!
//! An HTTP proxy can carry any TCP connection, not only web pages: the client connects to the
//! proxy and sends one line of HTTP,
//!
//! ```text
//! CONNECT broker.example.com:8883 HTTP/1.1
//! Host: broker.example.com:8883
//! Proxy-Authorization: Basic dXNlcjpwYXNz      (only when the proxy wants a password)
//! ```
//!
//! and when the proxy answers `HTTP/1.1 200 …`, the socket is a plain byte pipe to the broker.
//! TLS then runs *through* that pipe, end to end: the proxy sees the broker's name and port, never
//! the MQTT traffic or the certificates. rumqttc's `proxy` feature does the CONNECT (with the
//! `async-http-proxy` crate) before its TLS handshake, on every connect and reconnect.
//!
//! What this file adds is the part a user meets first: *which* proxy, if any.
//!
//! * `--proxy_host`/`--proxy_port` (the AWS sample's names) win over everything;
//! * otherwise the environment, read as curl reads it: `https_proxy`, `HTTPS_PROXY`, then
//!   `all_proxy`, `ALL_PROXY`, each a URL `http://[user:pass@]host[:port]` (port 1080 when left
//!   out, as in curl); user and password are percent-decoded;
//! * `NO_PROXY`/`no_proxy` (a comma list) skips the environment's proxy for hosts it names: `*`
//!   for all, `example.com` or `.example.com` for that domain and every name under it, or an
//!   exact IP address.
//!
//! Only plain `http://` proxies: a TLS connection *to the proxy* (`https://`) and SOCKS are refused
//! with a usage error rather than silently ignored. The words for a proxy that says no are in
//! `diagnosis/proxy.rs`, with the other errors.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;

/// An HTTP CONNECT proxy every connection of the run goes through.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// Host name or IP address (without brackets for IPv6).
    pub host: String,
    pub port: u16,
    /// Basic authentication, from `user:pass@` in the proxy URL.
    pub credentials: Option<Credentials>,
    /// Where the proxy came from, so an error can say what to change.
    pub source: Source,
}

/// A user name and password for the proxy. `Debug` leaves the password out, so that no log line
/// or error can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Credentials {{ user: {:?}, password: <hidden> }}",
            self.user
        )
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials)
            .field("source", &self.source)
            .finish()
    }
}

/// Where a proxy setting came from: `--proxy_host`, or the environment variable named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flags,
    Env(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flags => write!(f, "--proxy_host"),
            Source::Env(name) => write!(f, "{name}"),
        }
    }
}

/// The variables that name a proxy, in the order curl reads them for a TLS connection: the
/// lower-case spelling first, the protocol's own before the catch-all.
const PROXY_VARS: [&str; 4] = ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"];
const NO_PROXY_VARS: [&str; 2] = ["no_proxy", "NO_PROXY"];

/// The port of a proxy URL that names none: curl's default.
const URL_DEFAULT_PORT: u16 = 1080;

impl Proxy {
    /// `host:port`, with brackets around an IPv6 address: how the proxy is named in messages, and
    /// the form a socket address parser takes.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The proxy the flags name. They take a bare host, as in the AWS sample: a password on
    /// the command line is visible to every user of the machine (`ps`), so credentials come
    /// only from the environment.
    pub fn from_flags(host: &str, port: u16) -> Result<Proxy, String> {
        let host = host.trim();
        if host.contains("://") || host.contains('@') || host.contains('/') {
            return Err(format!(
                "--proxy_host '{host}': pass only the proxy's host name or IP address (and its port with --proxy_port); \
                 a proxy URL, with user:pass@ if it needs them, goes in HTTPS_PROXY instead"
            ));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("--proxy_host is empty: give the proxy's host name or IP address".into());
        }
        Ok(Proxy {
            host: host.to_owned(),
            port,
            credentials: None,
            source: Source::Flags,
        })
    }

    /// The proxy the environment names for `broker_host`: `None` when no variable is set, or
    /// when `NO_PROXY` says to connect to this host directly. `env` reads one variable.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        broker_host: &str,
    ) -> Result<Option<Proxy>, String> {
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let Some((name, url)) = PROXY_VARS
            .iter()
            .find_map(|name| set(name).map(|value| (*name, value)))
        else {
            return Ok(None);
        };
        if let Some((no_proxy_var, no_proxy)) = NO_PROXY_VARS
            .iter()
            .find_map(|name| set(name).map(|value| (*name, value)))
        {
            if let Some(entry) = no_proxy_match(&no_proxy, broker_host) {
                tracing::info!(
                    "{no_proxy_var} has '{entry}', which matches {broker_host}: connecting directly, not via {name}"
                );
                return Ok(None);
            }
        }
        parse_url(&url, Source::Env(name)).map(Some)
    }

    /// The same proxy as rumqttc wants it in `MqttOptions::set_proxy`.
    pub(super) fn for_rumqttc(&self) -> rumqttc::Proxy {
        rumqttc::Proxy {
            ty: rumqttc::ProxyType::Http,
            auth: match &self.credentials {
                Some(c) => rumqttc::ProxyAuth::Basic {
                    username: c.user.clone(),
                    password: c.password.clone(),
                },
                None => rumqttc::ProxyAuth::None,
            },
            // rumqttc joins these as "{addr}:{port}" for its socket connect: an IPv6 address
            // needs its brackets there.
            addr: match self.host.contains(':') {
                true => format!("[{}]", self.host),
                false => self.host.clone(),
            },
            port: self.port,
        }
    }
}

/// Why a tunnel could not be opened: the proxy could not be reached at all, or it answered the
/// CONNECT with something other than 200.
#[derive(Debug)]
pub enum TunnelError {
    Unreachable(std::io::Error),
    Refused(async_http_proxy::HttpError),
}

/// Connects to `proxy` at `address` (resolved already) and asks it for a tunnel to `host:port`,
/// the way rumqttc does it (same crate, same request): `--check` uses this to test the proxy
/// step by step.
pub async fn tunnel(
    proxy: &Proxy,
    address: SocketAddr,
    host: &str,
    port: u16,
) -> Result<TcpStream, TunnelError> {
    let mut socket = TcpStream::connect(address)
        .await
        .map_err(TunnelError::Unreachable)?;
    let answered = match &proxy.credentials {
        None => async_http_proxy::http_connect_tokio(&mut socket, host, port).await,
        Some(c) => {
            async_http_proxy::http_connect_tokio_with_basic_auth(
                &mut socket,
                host,
                port,
                &c.user,
                &c.password,
            )
            .await
        }
    };
    answered.map_err(TunnelError::Refused)?;
    Ok(socket)
}

/// Parses `[http://][user[:pass]@]host[:port][/]`, percent-decoding user and password.
fn parse_url(url: &str, source: Source) -> Result<Proxy, String> {
    let url = url.trim();
    let bad = |why: &str| format!("{source}: {why}; expected http://[user:pass@]host:port");
    let rest = match url.split_once("://") {
        Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
            "http" => rest,
            "https" => {
                return Err(format!(
                    "{source}: an https:// proxy (TLS to the proxy itself) is not supported; use its http:// address \
                     (the MQTT connection inside the tunnel is TLS end to end either way), or unset {source}"
                ))
            }
            other => {
                return Err(format!(
                    "{source}: {other}:// proxies are not supported, only HTTP CONNECT proxies (http://host:port); \
                     unset {source}, or set NO_PROXY to the broker's name to connect directly"
                ))
            }
        },
        None => url,
    };
    // Anything after the authority (a path, `/`) is meaningless for a proxy, as in curl.
    let authority = rest.split('/').next().unwrap_or_default();
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None => None,
        Some(userinfo) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            // Never echo the password: name only the part that is broken.
            let user = percent_decode(user).map_err(|e| bad(&format!("the user name {e}")))?;
            let password =
                percent_decode(password).map_err(|e| bad(&format!("the password {e}")))?;
            Some(Credentials { user, password })
        }
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(&format!("'{port}' is not a port number")))?;
            (host, port)
        }
        _ => (host_port, URL_DEFAULT_PORT),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("no host name in it"));
    }
    Ok(Proxy {
        host: host.to_owned(),
        port,
        credentials,
        source,
    })
}

/// `%40` → `@` and so on, as in a URL's user and password.
fn percent_decode(text: &str) -> Result<String, &'static str> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("has a % not followed by two hex digits (write % itself as %25)")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "is not UTF-8 once percent-decoded")
}

/// The `NO_PROXY` entry that matches `host`, if one does: `*`; the host itself or a domain above
/// it (`example.com` and `.example.com` both match `a.example.com`); or the same IP address.
/// Case does not matter, nor a trailing dot.
fn no_proxy_match(no_proxy: &str, host: &str) -> Option<String> {
    let normal = |name: &str| {
        name.trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase()
    };
    let host = normal(host);
    let host_ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .find(|entry| {
            if *entry == "*" {
                return true;
            }
            let name = normal(entry);
            if let Ok(ip) = name.parse::<IpAddr>() {
                return host_ip == Some(ip);
            }
            let domain = name.trim_start_matches("*.").trim_start_matches('.');
            !domain.is_empty() && (host == domain || host.ends_with(&format!(".{domain}")))
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn urls_as_curl_reads_them() {
        let source = Source::Env("HTTPS_PROXY");
        let p = parse_url("http://proxy.corp:3128/", source).unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, &p.credentials),
            ("proxy.corp", 3128, &None)
        );
        let p = parse_url("proxy.corp", source).unwrap();
        assert_eq!(p.port, URL_DEFAULT_PORT);
        let p = parse_url("http://[::1]:8080", source).unwrap();
        assert_eq!(
            (p.host.as_str(), p.address().as_str()),
            ("::1", "[::1]:8080")
        );
        assert_eq!(p.for_rumqttc().addr, "[::1]");
        let p = parse_url("HTTP://al%40corp:p%3Ass@10.0.0.1:3128", source).unwrap();
        let c = p.credentials.unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("al@corp", "p:ss"));
        assert!(!format!("{c:?}").contains("p:ss"));
    }

    #[test]
    fn unsupported_proxies_are_refused_by_name() {
        let source = Source::Env("ALL_PROXY");
        assert!(parse_url("https://proxy:443", source)
            .unwrap_err()
            .contains("https:// proxy"));
        assert!(parse_url("socks5://proxy:1080", source)
            .unwrap_err()
            .contains("socks5://"));
        assert!(parse_url("http://proxy:80x", source)
            .unwrap_err()
            .contains("'80x'"));
        let error = parse_url("http://u:secr%zzet@proxy", source).unwrap_err();
        assert!(
            error.contains("password") && !error.contains("secr"),
            "{error}"
        );
        assert!(Proxy::from_flags("http://proxy", 8080).is_err());
        assert_eq!(Proxy::from_flags("[::1]", 3128).unwrap().host, "::1");
    }

    #[test]
    fn no_proxy_as_curl_reads_it() {
        let matches = |list: &str, host: &str| no_proxy_match(list, host).is_some();
        assert!(matches("*", "anything"));
        assert!(matches("localhost, .example.com", "a.b.example.com"));
        assert!(matches("example.com", "Example.COM."));
        assert!(matches("example.com", "iot.example.com"));
        assert!(!matches("example.com", "badexample.com"));
        assert!(matches("127.0.0.1", "127.0.0.1"));
        assert!(!matches("127.0.0.1", "127.0.0.10"));
        assert!(matches("[::1]", "::1"));
        assert!(!matches("", "example.com"));
    }

    #[test]
    fn the_environment_is_read_in_curls_order() {
        let vars = [
            ("HTTPS_PROXY", "http://upper:1"),
            ("https_proxy", "http://lower:2"),
        ];
        let p = Proxy::from_env(env(&vars), "broker").unwrap().unwrap();
        assert_eq!(
            (p.host.as_str(), p.source),
            ("lower", Source::Env("https_proxy"))
        );
        let vars = [("ALL_PROXY", "http://all:3"), ("https_proxy", "")];
        let p = Proxy::from_env(env(&vars), "broker").unwrap().unwrap();
        assert_eq!(p.source, Source::Env("ALL_PROXY"));
        let vars = [("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", ".corp")];
        assert_eq!(Proxy::from_env(env(&vars), "mqtt.corp").unwrap(), None);
        assert!(Proxy::from_env(env(&vars), "example.com")
            .unwrap()
            .is_some());
        assert_eq!(Proxy::from_env(env(&[]), "broker").unwrap(), None);
    }
}
