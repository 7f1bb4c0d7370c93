//! AWS IoT Core's quotas on topics, client ids, keep-alive, sessions and payloads, checked before
//! the first packet.
//!
//! Against AWS, breaking one of these does not earn a reason code a user could read: the broker
//! closes the connection, or quietly uses another value, and the run would report a hang-up with
//! no cause. So when the endpoint is AWS IoT Core the findings below are usage errors (exit 2);
//! against another broker, which may well accept a deep topic or a long client id, they are
//! warnings about what would break if the same flags were moved to AWS.
//!
//! Sources, beside each number: the AWS General Reference, "AWS IoT Core endpoints and quotas",
//! section "Message broker and protocol limits and quotas" (the quotas page), and the AWS IoT
//! Core developer guide's "Reserved topics" and "MQTT persistent sessions".

use std::time::Duration;

/// The longest topic AWS IoT Core accepts, in bytes of UTF-8. Quotas page, "Topic size".
pub const MAX_TOPIC_BYTES: usize = 256;
/// The most `/` a topic (or topic filter) may have on AWS IoT Core: 8 levels. Quotas page,
/// "Maximum number of slashes in topic and topic filter".
pub const MAX_TOPIC_SLASHES: usize = 7;
/// The longest client id AWS IoT Core accepts, in bytes of UTF-8. Quotas page, "Client ID size".
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// The shortest and longest keep-alive AWS IoT Core uses, in seconds. Quotas page, "Keep-alive
/// interval": shorter requests are raised to 30 s; 1200 s is the longest (and the one used for a
/// keep-alive of 0 or a longer one). The run's own timing follows what it asked for, so asking
/// for what AWS will not use is refused up front.
pub const KEEP_ALIVE_SECONDS: std::ops::RangeInclusive<u64> = 30..=1200;
/// The longest Session Expiry Interval AWS IoT Core can keep a session: 7 days. Quotas page,
/// "Persistent session expiry period" (adjustable up to this).
pub const MAX_SESSION_EXPIRY: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// What an account gets unless its quota was raised: 1 hour. Developer guide, "MQTT persistent
/// sessions": "Persistent sessions have a default expiry period of 1 hour"; the broker then
/// answers a longer request with the lower value in CONNACK.
pub const DEFAULT_ACCOUNT_SESSION_EXPIRY: Duration = Duration::from_secs(60 * 60);
/// The largest PUBLISH payload AWS IoT Core accepts: 128 KB. Quotas page, "Message size" ("The
/// payload for every publish request can be no larger than 128 KB"). Read as 128 × 1024 bytes;
/// if AWS means 128,000, payloads of 128,001 to 131,072 bytes pass here and fail there.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;

/// Whether `host` is an AWS IoT Core data endpoint: `<prefix>.iot.<region>.amazonaws.com`
/// (`-ats` or not, `iot-fips`, and China's `.amazonaws.com.cn`).
pub fn is_aws_endpoint(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let base = if host.ends_with(".amazonaws.com.cn") {
        3
    } else if host.ends_with(".amazonaws.com") {
        2
    } else {
        return false;
    };
    // prefix . iot . region . <base>
    labels.len() >= base + 3 && {
        let service = labels[labels.len() - base - 2];
        service == "iot" || service == "iot-fips"
    }
}

/// Every AWS IoT Core quota that `topic` or `client_ids` would break: one line each, naming the
/// flag and what to do. Empty when the run fits.
pub fn limit_findings(topic: &str, client_ids: &[String]) -> Vec<String> {
    let mut findings = Vec::new();
    if topic.len() > MAX_TOPIC_BYTES {
        findings.push(format!(
            "--topic is {} bytes long; AWS IoT Core allows at most {MAX_TOPIC_BYTES} bytes (UTF-8): \
             use a shorter --topic",
            topic.len()
        ));
    }
    // Only the topic's own slashes count, not the three of `$share/<group>/` in the SUBSCRIBE:
    // the limit is on topic *levels*, the publisher's PUBLISH carries the plain topic, and the
    // members receive on it. AWS documents the `$share/<group>/` prefix as shared-subscription
    // syntax around a topic filter, the way its quota page leaves out the `$aws/rules/<rule>/`
    // prefix of Basic Ingest topics. (Not verified against a live account: if AWS counted the
    // prefix, a topic with 5 to 7 slashes would pass here and its SUBSCRIBE fail there.)
    let slashes = topic.matches('/').count();
    if slashes > MAX_TOPIC_SLASHES {
        findings.push(format!(
            "--topic '{topic}' has {slashes} '/'; AWS IoT Core allows at most {MAX_TOPIC_SLASHES} \
             (8 levels): use a --topic with fewer levels"
        ));
    }
    // Developer guide, "Reserved topics": "Topics that begin with a dollar sign ($) are reserved
    // for use by AWS IoT ... you can't create new topics that begin with a dollar sign".
    if topic.starts_with('$') {
        findings.push(format!(
            "--topic '{topic}' begins with '$', and AWS IoT Core reserves topics that begin with $ \
             for itself (its services live under $aws/: shadows, jobs, rules, events): use a \
             topic of your own, e.g. --topic test/topic"
        ));
    }
    // Quotas page, "Client ID size": client ids that begin with `$` are reserved (the AWS IoT
    // Data Plane API Reference repeats it for SendDirectMessage: a client id "can't start with
    // a dollar sign ($)"). Every id of a run starts with --client_id.
    if let Some(reserved) = client_ids.iter().find(|id| id.starts_with('$')) {
        findings.push(format!(
            "--client_id: this run connects as '{reserved}', and AWS IoT Core reserves client \
             ids that begin with $: use a --client_id that does not, e.g. --client_id my-test"
        ));
    }
    if let Some(longest) = client_ids.iter().max_by_key(|id| id.len()) {
        if longest.len() > MAX_CLIENT_ID_BYTES {
            let over = longest.len() - MAX_CLIENT_ID_BYTES;
            findings.push(format!(
                "--client_id is too long: this run connects as '{longest}', {} bytes, and AWS IoT \
                 Core allows at most {MAX_CLIENT_ID_BYTES}: shorten --client_id by {over} byte{}",
                longest.len(),
                if over == 1 { "" } else { "s" }
            ));
        }
    }
    findings
}

/// The largest payload a run publishes, and where its size comes from.
#[derive(Debug, Clone, Copy)]
pub enum Payload {
    /// `--payload-size N`: every payload is N bytes.
    Sized(usize),
    /// `--message` and ` [<number>]`: the last message is the longest, this many bytes.
    Text(usize),
}

/// AWS IoT Core's ranges for the connection and the messages: keep-alive, session expiry,
/// payload. One line per finding, naming the flag and what to do; empty when the run fits.
pub fn connection_findings(
    keep_alive: Duration,
    session_expiry: Duration,
    largest_payload: Payload,
) -> Vec<String> {
    let mut findings = Vec::new();
    if !KEEP_ALIVE_SECONDS.contains(&keep_alive.as_secs()) {
        findings.push(format!(
            "--keep-alive {}: AWS IoT Core uses a keep-alive of {}s to {}s (20m) and would not \
             use this one: pick one in that range, e.g. --keep-alive 30s",
            humantime::format_duration(keep_alive),
            KEEP_ALIVE_SECONDS.start(),
            KEEP_ALIVE_SECONDS.end()
        ));
    }
    if session_expiry > MAX_SESSION_EXPIRY {
        findings.push(format!(
            "--session-expiry {}: AWS IoT Core keeps a session at most 7 days: use \
             --session-expiry 7days or less",
            humantime::format_duration(session_expiry)
        ));
    }
    match largest_payload {
        Payload::Sized(size) if size > MAX_PAYLOAD_BYTES => findings.push(format!(
            "--payload-size {size}: AWS IoT Core refuses a PUBLISH over 128 KB \
             ({MAX_PAYLOAD_BYTES} bytes): use at most {MAX_PAYLOAD_BYTES}"
        )),
        Payload::Text(size) if size > MAX_PAYLOAD_BYTES => findings.push(format!(
            "the last message's payload (--message and ' [<number>]') is {size} bytes, and AWS \
             IoT Core refuses a PUBLISH over 128 KB ({MAX_PAYLOAD_BYTES} bytes): use a shorter \
             --message"
        )),
        _ => {}
    }
    findings
}

/// What works on AWS IoT Core but not as asked: warnings for an AWS endpoint only.
pub fn aws_warnings(session_expiry: Duration) -> Vec<String> {
    let mut warnings = Vec::new();
    if session_expiry > DEFAULT_ACCOUNT_SESSION_EXPIRY && session_expiry <= MAX_SESSION_EXPIRY {
        warnings.push(format!(
            "--session-expiry {}: AWS IoT Core keeps sessions for 1 hour unless your account's \
             quota was raised (up to 7 days), and then answers with the lower value in CONNACK",
            humantime::format_duration(session_expiry)
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_aws_iot_endpoints() {
        for host in [
            "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com",
            "A1B2-ATS.IOT.US-EAST-1.AMAZONAWS.COM.",
            "a1b2.iot.cn-north-1.amazonaws.com.cn",
            "data.iot-fips.us-east-1.amazonaws.com",
        ] {
            assert!(is_aws_endpoint(host), "{host}");
        }
        for host in [
            "127.0.0.1",
            "iot.eu-west-1.amazonaws.com",
            "sqs.eu-west-1.amazonaws.com",
            "a.iot.eu-west-1.amazonaws.com.example.org",
            "broker.example.com",
        ] {
            assert!(!is_aws_endpoint(host), "{host}");
        }
    }

    #[test]
    fn finds_each_limit_at_its_boundary() {
        let ids = |n: usize| vec!["x".repeat(n)];
        assert!(limit_findings(&"t".repeat(256), &ids(128)).is_empty());
        assert!(limit_findings("a/b/c/d/e/f/g/h", &ids(1)).is_empty());
        for (topic, ids, words) in [
            ("t".repeat(257), ids(1), "257 bytes"),
            ("a/b/c/d/e/f/g/h/i".into(), ids(1), "has 8 '/'"),
            ("$aws/things/x/shadow/update".into(), ids(1), "reserves"),
            ("$SYS/broker".into(), ids(1), "begins with '$'"),
            ("t".into(), ids(129), "shorten --client_id by 1 byte"),
        ] {
            let findings = limit_findings(&topic, &ids);
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert!(findings[0].contains(words), "{findings:?}");
        }
        let two_over = limit_findings("t", &ids(130));
        assert!(two_over[0].ends_with("by 2 bytes"), "{two_over:?}");
    }

    #[test]
    fn client_ids_beginning_with_a_dollar_are_reserved() {
        let findings = limit_findings("t", &["$x-publisher".to_owned()]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].contains("'$x-publisher'"), "{findings:?}");
    }

    #[test]
    fn keep_alive_session_expiry_and_payload_at_their_boundaries() {
        let secs = Duration::from_secs;
        assert!(
            connection_findings(secs(30), secs(7 * 86_400), Payload::Text(MAX_PAYLOAD_BYTES))
                .is_empty()
        );
        assert!(connection_findings(secs(1200), Duration::ZERO, Payload::Text(1)).is_empty());
        for (keep_alive, expiry, payload, words) in [
            (
                secs(29),
                Duration::ZERO,
                Payload::Text(1),
                "--keep-alive 29s",
            ),
            (secs(1201), Duration::ZERO, Payload::Text(1), "30s to 1200s"),
            (
                secs(30),
                secs(7 * 86_400 + 1),
                Payload::Text(1),
                "at most 7 days",
            ),
            (
                secs(30),
                Duration::ZERO,
                Payload::Text(MAX_PAYLOAD_BYTES + 1),
                "131073 bytes",
            ),
            (
                secs(30),
                Duration::ZERO,
                Payload::Sized(MAX_PAYLOAD_BYTES + 1),
                "--payload-size 131073",
            ),
        ] {
            let findings = connection_findings(keep_alive, expiry, payload);
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert!(findings[0].contains(words), "{findings:?}");
        }
        assert!(aws_warnings(secs(3600)).is_empty());
        assert!(aws_warnings(secs(3601))[0].contains("1 hour"));
        // Over 7 days is an error, not also this warning.
        assert!(aws_warnings(secs(8 * 86_400)).is_empty());
    }
}
