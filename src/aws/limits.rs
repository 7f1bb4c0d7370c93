//! AWS IoT Core's quotas on topics and client ids, checked before the first packet.
//!
//! Against AWS, breaking one of these does not earn a reason code a user could read: the broker
//! closes the connection, and the run would report a hang-up with no cause. So when the endpoint
//! is AWS IoT Core the findings below are usage errors (exit 2); against another broker, which
//! may well accept a deep topic or a long client id, they are warnings about what would break if
//! the same flags were moved to AWS.
//!
//! The numbers are from the AWS IoT Core developer guide ("AWS IoT Core message broker and
//! protocol limits and quotas", and "Topics" for the reserved namespace).

/// The longest topic AWS IoT Core accepts, in bytes of UTF-8.
pub const MAX_TOPIC_BYTES: usize = 256;
/// The most `/` a topic (or topic filter) may have on AWS IoT Core: 8 levels.
pub const MAX_TOPIC_SLASHES: usize = 7;
/// The longest client id AWS IoT Core accepts, in bytes of UTF-8.
pub const MAX_CLIENT_ID_BYTES: usize = 128;
/// AWS IoT Core's own topics (shadows, jobs, rules, events) live under this prefix.
const RESERVED_PREFIX: &str = "$aws/";

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
    // `$aws/...` is case-sensitive MQTT, but AWS's own pages spell it `$AWS/` too: treat both as
    // reserved rather than let a run publish into a service's namespace.
    if topic.to_ascii_lowercase().starts_with(RESERVED_PREFIX) {
        findings.push(format!(
            "--topic '{topic}' is under $aws/, which AWS IoT Core reserves for its own services \
             (shadows, jobs, rules, events): use a topic of your own, e.g. --topic test/topic"
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
            ("t".into(), ids(129), "shorten --client_id by 1 byte"),
        ] {
            let findings = limit_findings(&topic, &ids);
            assert_eq!(findings.len(), 1, "{findings:?}");
            assert!(findings[0].contains(words), "{findings:?}");
        }
        let two_over = limit_findings("t", &ids(130));
        assert!(two_over[0].ends_with("by 2 bytes"), "{two_over:?}");
    }
}
