//! The flags of the connection and of TLS: where the broker is, how to reach it, who we are.
//!
//! The connection flags also read the environment (`MQTT5_ENDPOINT`, `MQTT5_CERT`, …: the prefix
//! of the older `MQTT5_KEY_PASSPHRASE`), because the paths to a certificate and key are the first
//! thing people put in a CI variable; a flag on the command line wins over its variable.

use std::path::PathBuf;
use std::sync::Arc;

use clap::ArgAction;

use super::values::{ClientIdPrefix, Endpoint, KeepAlive, SessionExpiry, Timeout};
use super::NO_BROKER_NEEDED;
use crate::failure::Failure;
use crate::mqtt::{Broker, Proxy, Target};
use crate::tls::{default_alpn, TlsFiles};
use rumqttc::v5::mqttbytes::QoS;

/// Where the broker is and how every connection behaves.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Connection")]
pub struct ConnectionArgs {
    /// Broker host name or IP (AWS IoT: your account's ATS endpoint)
    ///
    /// `host:port` and `mqtts://host:port` are accepted too (a port in it wins over --port). AWS
    /// IoT endpoints look like xxxxxxxx-ats.iot.<region>.amazonaws.com
    #[arg(long, env = "MQTT5_ENDPOINT", required_unless_present_any = NO_BROKER_NEEDED)]
    pub endpoint: Option<Endpoint>,

    /// Broker port (on 443, the ALPN name AWS IoT Core needs there is offered)
    #[arg(long, env = "MQTT5_PORT", default_value_t = 8883)]
    pub port: u16,

    /// Client id prefix [default: test-<8 hex digits>]
    ///
    /// The publisher is <ID>-publisher, the members <ID>-subscriber-<k>
    #[arg(
        long = "client_id",
        visible_alias = "client-id",
        env = "MQTT5_CLIENT_ID",
        value_name = "CLIENT_ID"
    )]
    pub client_id: Option<ClientIdPrefix>,

    /// The longest any step may wait (connect, SUBACK, PUBACK, final deliveries)
    #[arg(long, default_value = "60s", hide_short_help = true)]
    pub timeout: Timeout,

    /// MQTT keep-alive: a PINGREQ after this much silence; a connection whose PINGRESP does not
    /// come within the next period counts as broken (AWS IoT Core accepts 30s to 20m)
    #[arg(long, default_value = "30s", hide_short_help = true)]
    pub keep_alive: KeepAlive,

    /// Keep each client's session this long after its connection breaks (MQTT 5 Session Expiry
    /// Interval, with Clean Start off): the broker keeps the subscriptions and queues QoS 1
    /// messages while a member is away. 0 starts every connection clean
    #[arg(long, default_value = "0s", hide_short_help = true)]
    pub session_expiry: SessionExpiry,

    /// HTTP proxy to tunnel through (HTTP CONNECT), host name or IP; wins over HTTPS_PROXY and
    /// NO_PROXY. A proxy that needs a password: set HTTPS_PROXY=http://user:pass@host:port
    /// instead. Without it, https_proxy/HTTPS_PROXY/all_proxy/ALL_PROXY and NO_PROXY are read as
    /// curl reads them
    #[arg(
        long = "proxy_host",
        visible_alias = "proxy-host",
        value_name = "HOST",
        conflicts_with = "demo",
        hide_short_help = true
    )]
    pub proxy_host: Option<String>,

    /// Port of --proxy_host
    #[arg(
        long = "proxy_port",
        visible_alias = "proxy-port",
        value_name = "PORT",
        default_value_t = 8080,
        requires = "proxy_host",
        value_parser = clap::value_parser!(u16).range(1..),
        hide_short_help = true
    )]
    pub proxy_port: u16,
}

/// The files that prove who we are, and what to offer in the handshake.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "TLS")]
pub struct TlsArgs {
    /// Device certificate, PEM or DER
    // `allow_hyphen_values`: pasted PEM text starts with "-----"; clap would otherwise call it an
    // unknown flag and echo it whole (see `refuse_pem_text`).
    #[arg(
        long,
        env = "MQTT5_CERT",
        hide_env_values = true,
        allow_hyphen_values = true,
        required_unless_present_any = NO_BROKER_NEEDED
    )]
    pub cert: Option<PathBuf>,

    /// Device private key, PEM or DER
    ///
    /// PKCS#8, PKCS#1 RSA or SEC1 EC. An encrypted PKCS#8 key ("BEGIN ENCRYPTED PRIVATE KEY") is
    /// decrypted with the passphrase in the environment variable MQTT5_KEY_PASSPHRASE, or one
    /// typed at the prompt when run in a terminal
    #[arg(
        long,
        env = "MQTT5_KEY",
        hide_env_values = true,
        allow_hyphen_values = true,
        required_unless_present_any = NO_BROKER_NEEDED
    )]
    pub key: Option<PathBuf>,

    /// CA to trust for the broker [default: the system trust store]
    ///
    /// One or more CA certificates, PEM or DER. AWS IoT Core's server certificate chains to Amazon
    /// Root CA 1, which the system trust store has
    #[arg(
        long = "ca_file",
        visible_alias = "ca-file",
        env = "MQTT5_CA_FILE",
        hide_env_values = true,
        allow_hyphen_values = true,
        value_name = "CA_FILE"
    )]
    pub ca_file: Option<PathBuf>,

    /// ALPN protocol to offer in the TLS handshake; repeat for several [default: x-amzn-mqtt-ca
    /// on port 443, none elsewhere]
    #[arg(long, value_name = "PROTO", action = ArgAction::Append, hide_short_help = true)]
    pub alpn: Vec<String>,
}

impl ConnectionArgs {
    /// The broker's host and port: a port inside `--endpoint` wins over `--port`.
    pub fn host_port(&self) -> Option<(String, u16)> {
        let endpoint = self.endpoint.as_ref()?;
        Some((endpoint.host.clone(), endpoint.port.unwrap_or(self.port)))
    }

    /// The HTTP proxy for the broker at `host:port`: `--proxy_host`, else the environment
    /// (`env` reads one variable) unless `NO_PROXY` names the host. Says which, once, in the log.
    pub(super) fn proxy(
        &self,
        host: &str,
        port: u16,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, Failure> {
        let proxy = match &self.proxy_host {
            Some(proxy_host) => Some(Proxy::from_flags(proxy_host, self.proxy_port)),
            None => Proxy::from_env(env, host).transpose(),
        };
        let Some(proxy) = proxy.transpose().map_err(Failure::input)? else {
            return Ok(None);
        };
        // rumqttc writes `CONNECT {host}:{port}` with no brackets, which no proxy can read
        // for an IPv6 address.
        if host.contains(':') {
            return Err(Failure::input(format!(
                "--endpoint '{host}' is an IPv6 address, which cannot go through an HTTP proxy here \
                 ({} from {}); use the broker's host name, or leave the proxy out (NO_PROXY={host})",
                proxy.address(),
                proxy.source
            )));
        }
        let user = match &proxy.credentials {
            Some(credentials) => format!(" as user '{}'", credentials.user),
            None => String::new(),
        };
        tracing::info!(
            "connecting to {host}:{port} via HTTP proxy {}{user} (from {})",
            proxy.address(),
            proxy.source
        );
        Ok(Some(proxy))
    }
}

impl super::Args {
    /// The broker and the files from `--endpoint`, `--port`, `--cert`, `--key` and `--ca_file`.
    pub fn target(&self) -> Result<Target, Failure> {
        let (Some((host, port)), Some(cert), Some(key)) =
            (self.connection.host_port(), &self.tls.cert, &self.tls.key)
        else {
            return Err(Failure::input(
                "--endpoint, --cert and --key are required (or use --demo)",
            ));
        };
        for (flag, variable, path) in [
            ("--cert", "MQTT5_CERT", Some(cert)),
            ("--key", "MQTT5_KEY", Some(key)),
            ("--ca_file", "MQTT5_CA_FILE", self.tls.ca_file.as_ref()),
        ] {
            refuse_pem_text(flag, variable, path)?;
        }
        let proxy = self
            .connection
            .proxy(&host, port, |name| std::env::var(name).ok())?;
        Ok(Target {
            files: TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: self.tls.ca_file.clone(),
            },
            alpn: if self.tls.alpn.is_empty() {
                default_alpn(port)
            } else {
                self.tls.alpn.clone()
            },
            host,
            port,
            proxy,
        })
    }

    /// How every connection talks to `target`, once `tls` is built from its files, publishing and
    /// subscribing at `qos` (the plan's, or `--conformance`'s 1): the run, `--check` and
    /// `--conformance` connect with this same value.
    pub fn broker(&self, target: &Target, tls: Arc<rustls::ClientConfig>, qos: QoS) -> Broker {
        Broker {
            keep_alive: self.connection.keep_alive.0,
            session_expiry: self.connection.session_expiry.0,
            proxy: target.proxy.clone(),
            qos,
            on_aws: self.on_aws(),
            ..Broker::new(&target.host, target.port, tls, self.connection.timeout.0)
        }
    }
}

/// CI systems keep secrets in variables, and a key's *contents* end up in `MQTT5_KEY` as often as
/// its path. Every later message names the "path", so PEM text must stop here, unechoed: one line
/// that says what to do, and not a byte of the key on the screen or in a CI log. (The variables'
/// values are hidden from `--help` for the same reason: `hide_env_values`.)
fn refuse_pem_text(flag: &str, variable: &str, path: Option<&PathBuf>) -> Result<(), Failure> {
    let Some(text) = path.and_then(|path| path.to_str()) else {
        return Ok(());
    };
    if text.contains("-----BEGIN") || text.contains('\n') {
        return Err(Failure::input(format!(
            "{flag} (or {variable}) holds PEM text, not the path of a file: write it to a file \
             (e.g. printf '%s\\n' \"${variable}\" > file.pem) and pass that file's path"
        )));
    }
    Ok(())
}
