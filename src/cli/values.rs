//! The typed values of the flags: each parses and checks itself (`FromStr`), so that clap refuses a
//! bad value with its own line, `error: invalid value '0' for '--count <COUNT>': <our reason>`,
//! before anything else runs.
//!
//! A value that only makes sense together with other flags (a churn step against `--count`, QoS 2
//! against the broker in use) is checked later, in the file of its group.

use std::str::FromStr;
use std::time::Duration;

use crate::run::{MAX_COUNT, MAX_DURATION};

/// The most members one run starts: each is a TLS connection and a task.
const MAX_SUBSCRIBERS: u16 = 10_000;

/// `--count`: how many messages to publish, 1 to [`MAX_COUNT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u32);

impl FromStr for Count {
    type Err = String;
    fn from_str(value: &str) -> Result<Count, String> {
        match value.parse::<u32>() {
            Ok(0) => {
                Err("with no messages there is nothing to deliver or check; use 1 or more".into())
            }
            Ok(count) if count <= MAX_COUNT => Ok(Count(count)),
            _ => Err(format!(
                "a whole number from 1 to {MAX_COUNT}, e.g. --count 100"
            )),
        }
    }
}

/// `--subscribers`: how many members join each group, 1 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Members(pub u16);

impl FromStr for Members {
    type Err = String;
    fn from_str(value: &str) -> Result<Members, String> {
        match value.parse::<u16>() {
            Ok(0) => {
                Err("a group needs at least one member to receive anything; use 1 or more".into())
            }
            Ok(n) if n <= MAX_SUBSCRIBERS => Ok(Members(n)),
            _ => Err(format!(
                "a whole number from 1 to {MAX_SUBSCRIBERS}, e.g. --subscribers 3"
            )),
        }
    }
}

/// `--qos` as asked: 0, 1 or 2. QoS 2 is a valid MQTT level, refused later with words that fit
/// the broker in use (`messages.rs`), which clap cannot know yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos(pub u8);

impl FromStr for Qos {
    type Err = String;
    fn from_str(value: &str) -> Result<Qos, String> {
        match value {
            "0" | "1" | "2" => Ok(Qos(value.as_bytes()[0] - b'0')),
            _ => Err("QoS must be 0 or 1".into()),
        }
    }
}

/// A duration as people write it (`50ms`, `1s`, `5m`), parsed by humantime.
fn duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| e.to_string())
}

/// `--timeout`: the longest any step may wait, 100 ms to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout(pub Duration);

impl FromStr for Timeout {
    type Err = String;
    fn from_str(value: &str) -> Result<Timeout, String> {
        let timeout = duration(value)?;
        if timeout < Duration::from_millis(100) {
            return Err("must be at least 100ms, e.g. 10s".into());
        }
        if timeout > MAX_DURATION {
            return Err("must be at most 24h, e.g. 10s".into());
        }
        Ok(Timeout(timeout))
    }
}

/// `--interval`: the pause between publishes, 0 to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl FromStr for Interval {
    type Err = String;
    fn from_str(value: &str) -> Result<Interval, String> {
        let interval = duration(value)?;
        if interval > MAX_DURATION {
            return Err("must be at most 24h, e.g. 50ms".into());
        }
        Ok(Interval(interval))
    }
}

/// The most publisher connections one run opens (`--publishers`): each is a TLS connection and
/// a task, and a hundred at AWS's 100 a second each is already 10,000 a second.
pub const MAX_PUBLISHERS: u32 = 100;

/// `--publishers`: how many publisher connections share the numbers, 1 to [`MAX_PUBLISHERS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publishers(pub u32);

impl FromStr for Publishers {
    type Err = String;
    fn from_str(value: &str) -> Result<Publishers, String> {
        match value.parse::<u32>() {
            Ok(k) if (1..=MAX_PUBLISHERS).contains(&k) => Ok(Publishers(k)),
            _ => Err(format!(
                "a whole number from 1 to {MAX_PUBLISHERS}, e.g. --publishers 4"
            )),
        }
    }
}

/// `--rate`: messages a second, all publishers together: more than 0, at most a million.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl FromStr for Rate {
    type Err = String;
    fn from_str(value: &str) -> Result<Rate, String> {
        match value.parse::<f64>() {
            Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0 => Ok(Rate(rate)),
            _ => Err("messages a second, more than 0 and at most 1000000, e.g. --rate 400".into()),
        }
    }
}

/// `--payload-size`: bytes of every payload, 1 to 16 MiB here; what the run's message needs,
/// what the members accept and AWS's limit are checked with the other flags (`load.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadSize(pub usize);

impl FromStr for PayloadSize {
    type Err = String;
    fn from_str(value: &str) -> Result<PayloadSize, String> {
        match value.parse::<usize>() {
            Ok(size) if (1..=16 * 1024 * 1024).contains(&size) => Ok(PayloadSize(size)),
            _ => Err("a number of bytes, e.g. --payload-size 4096".into()),
        }
    }
}

/// `--duration`, `--stats-every`: a span from a second to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl FromStr for Span {
    type Err = String;
    fn from_str(value: &str) -> Result<Span, String> {
        let span = duration(value)?;
        if span < Duration::from_secs(1) || span > MAX_DURATION {
            return Err("from 1s to 24h, e.g. 30s or 10m".into());
        }
        Ok(Span(span))
    }
}

/// `--keep-alive`: rumqttc panics below 5 s, and MQTT counts it in whole seconds up to 65,535
/// (MQTT 5 §3.1.2.10, a two-byte integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive(pub Duration);

impl FromStr for KeepAlive {
    type Err = String;
    fn from_str(value: &str) -> Result<KeepAlive, String> {
        let keep_alive = duration(value)?;
        if keep_alive < Duration::from_secs(5) {
            return Err("must be at least 5s (the MQTT client library's minimum), e.g. 30s".into());
        }
        if keep_alive.subsec_nanos() != 0 || keep_alive > Duration::from_secs(u64::from(u16::MAX)) {
            return Err("whole seconds from 5s to 65535s (MQTT's limit), e.g. 30s".into());
        }
        Ok(KeepAlive(keep_alive))
    }
}

/// `--session-expiry`: MQTT 5 counts the Session Expiry Interval in whole seconds, in a u32
/// (§3.1.2.11.2; 0xFFFFFFFF means "never expires", which a run has no use for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpiry(pub Duration);

impl FromStr for SessionExpiry {
    type Err = String;
    fn from_str(value: &str) -> Result<SessionExpiry, String> {
        let expiry = duration(value)?;
        if expiry.subsec_nanos() != 0 || expiry >= Duration::from_secs(u64::from(u32::MAX)) {
            return Err("whole seconds below 136 years, e.g. 5m".into());
        }
        Ok(SessionExpiry(expiry))
    }
}

/// `--endpoint` as people paste it from consoles and docs: `host`, `host:port`, `mqtts://host:port/`.
/// The scheme is dropped, not obeyed: this tool always speaks TLS, so even `mqtt://` and
/// `tcp://` (plain TCP elsewhere) lead to a TLS connection. A port inside it wins over `--port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: Option<u16>,
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(endpoint: &str) -> Result<Endpoint, String> {
        let trimmed = endpoint.trim();
        let without_scheme = match trimmed.split_once("://") {
            Some(("mqtts" | "ssl" | "tls" | "mqtt" | "tcp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "scheme '{scheme}://' is not supported; pass the host name, e.g. --endpoint \
                     xxxxxxxx-ats.iot.us-east-1.amazonaws.com"
                ))
            }
            None => trimmed,
        };
        let host_port = without_scheme.trim_end_matches('/');
        if host_port.contains('/') {
            return Err("looks like a URL with a path; pass only the host name".into());
        }
        let (host, port) = match host_port.rsplit_once(':') {
            // An IPv6 literal has colons of its own; only [..]:port carries a port.
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port = port.parse().map_err(|_| {
                    format!("'{port}' is not a port number; pass the port with --port")
                })?;
                (host, Some(port))
            }
            _ => (host_port, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("no host name in it".into());
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
        })
    }
}

/// `--client_id`: the prefix of every client id of the run; not blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdPrefix(pub String);

impl FromStr for ClientIdPrefix {
    type Err = String;
    fn from_str(value: &str) -> Result<ClientIdPrefix, String> {
        if value.trim().is_empty() {
            return Err(
                "it is blank: give a prefix such as --client_id my-test, or leave it out".into(),
            );
        }
        Ok(ClientIdPrefix(value.to_owned()))
    }
}

/// `--run-id`: 1 to 64 characters without spaces, the same in every process of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunId(pub String);

impl FromStr for RunId {
    type Err = String;
    fn from_str(id: &str) -> Result<RunId, String> {
        if id.is_empty() || id.len() > 64 || id.chars().any(char::is_whitespace) {
            return Err("must be 1 to 64 characters without spaces, e.g. --run-id demo-1".into());
        }
        Ok(RunId(id.to_owned()))
    }
}

/// `--region`: it goes into every ARN of the policy, so letters, digits and dashes only: nothing
/// in it can act as a wildcard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region(pub String);

impl FromStr for Region {
    type Err = String;
    fn from_str(value: &str) -> Result<Region, String> {
        crate::aws::check_region(value)?;
        Ok(Region(value.to_owned()))
    }
}

/// `--account`: a 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountId(pub String);

impl FromStr for AccountId {
    type Err = String;
    fn from_str(value: &str) -> Result<AccountId, String> {
        crate::aws::check_account(value)?;
        Ok(AccountId(value.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_endpoints_people_paste() {
        let split = |e: &str| {
            let endpoint: Endpoint = e.parse().unwrap();
            (endpoint.host, endpoint.port)
        };
        assert_eq!(split("example.com"), ("example.com".into(), None));
        assert_eq!(split("example.com:443"), ("example.com".into(), Some(443)));
        assert_eq!(
            split("mqtts://example.com:8884/"),
            ("example.com".into(), Some(8884))
        );
        assert_eq!(split("[::1]:1884"), ("::1".into(), Some(1884)));
        assert_eq!(split("::1"), ("::1".into(), None));
        assert!("https://example.com".parse::<Endpoint>().is_err());
        assert!("example.com:port".parse::<Endpoint>().is_err());
        assert!("mqtts://:8883".parse::<Endpoint>().is_err());
    }

    #[test]
    fn counts_of_zero_are_refused_with_the_reason() {
        assert!("0"
            .parse::<Count>()
            .unwrap_err()
            .contains("nothing to deliver"));
        assert!("10000001".parse::<Count>().is_err());
        assert!("-1".parse::<Count>().is_err());
        assert_eq!("10000000".parse::<Count>(), Ok(Count(10_000_000)));
        assert!("0"
            .parse::<Members>()
            .unwrap_err()
            .contains("at least one member"));
        assert!("10001".parse::<Members>().is_err());
        assert_eq!("1".parse::<Members>(), Ok(Members(1)));
    }

    #[test]
    fn durations_are_capped_at_a_day() {
        assert!("300000000000years"
            .parse::<Timeout>()
            .unwrap_err()
            .contains("at most 24h"));
        assert!("25h"
            .parse::<Interval>()
            .unwrap_err()
            .contains("at most 24h"));
        assert_eq!("24h".parse::<Timeout>(), Ok(Timeout(MAX_DURATION)));
        assert_eq!("0s".parse::<Interval>(), Ok(Interval(Duration::ZERO)));
        assert!("4s"
            .parse::<KeepAlive>()
            .unwrap_err()
            .contains("at least 5s"));
        assert!("1.5s"
            .parse::<SessionExpiry>()
            .unwrap_err()
            .contains("whole seconds"));
    }

    #[test]
    fn load_values_are_bounded() {
        assert!("0".parse::<Publishers>().is_err());
        assert!("101".parse::<Publishers>().is_err());
        assert_eq!("4".parse::<Publishers>(), Ok(Publishers(4)));
        for bad in ["0", "-1", "NaN", "inf", "fast"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        assert_eq!("0.5".parse::<Rate>(), Ok(Rate(0.5)));
        assert!("0".parse::<PayloadSize>().is_err());
        assert!("999ms".parse::<Span>().is_err());
        assert_eq!("6s".parse::<Span>(), Ok(Span(Duration::from_secs(6))));
    }

    #[test]
    fn ids_and_arn_parts_are_checked() {
        assert!(" ".parse::<ClientIdPrefix>().is_err());
        assert!("a b".parse::<RunId>().is_err());
        assert!("eu-west-*".parse::<Region>().is_err());
        assert!("12345"
            .parse::<AccountId>()
            .unwrap_err()
            .contains("12 digits"));
        assert_eq!("2".parse::<Qos>(), Ok(Qos(2)));
        assert!("3".parse::<Qos>().is_err());
    }
}
