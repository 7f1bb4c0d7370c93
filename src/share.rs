//! The shared-subscription filter: `$share/<group>/<topic>`.
//!
//! An ordinary subscription gives *every* subscriber a copy of each message. A shared subscription
//! puts subscribers into a named group, and the broker hands each message to *one* member of the
//! group. The group is named inside the topic filter itself:
//!
//! ```text
//! $share/rust-sample/test/topic
//! └────┘ └─────────┘ └────────┘
//! prefix   group       topic filter the publisher's topic must match
//! ```
//!
//! Publishers know nothing about groups: they publish to `test/topic`, and members receive the
//! message on `test/topic` too. Only the SUBSCRIBE (and UNSUBSCRIBE) carries `$share/...`.
//!
//! Brokers are lax about malformed filters (mosquitto 2.0 grants `$share//t` and `$share/g` without
//! complaint, see FACTS.md), so we check the parts ourselves and say what is wrong before connecting.

use std::fmt;

/// The prefix that marks a shared subscription (MQTT 5 §4.8.2).
pub const SHARE_PREFIX: &str = "$share/";

/// AWS IoT Core's limit on the share name, in characters.
pub const MAX_GROUP_CHARS: usize = 128;

/// A checked `$share/<group>/<topic>` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedFilter {
    group: String,
    topic: String,
}

impl SharedFilter {
    /// Checks `group` and `topic` and builds the filter, or says which flag is wrong and why.
    ///
    /// The topic must be a plain topic name (no `+`/`#`): this sample publishes to it, and a
    /// publish topic may not contain wildcards.
    pub fn new(group: &str, topic: &str) -> Result<SharedFilter, String> {
        check_group(group)?;
        check_topic(topic)?;
        Ok(SharedFilter {
            group: group.to_owned(),
            topic: topic.to_owned(),
        })
    }

    /// The share name (group).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The plain topic the publisher uses and the members receive on.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl fmt::Display for SharedFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SHARE_PREFIX}{}/{}", self.group, self.topic)
    }
}

fn check_group(group: &str) -> Result<(), String> {
    if group.is_empty() {
        return Err("--group_identifier is empty: give the group a name, e.g. --group_identifier rust-sample".into());
    }
    if let Some(bad) = group.chars().find(|c| matches!(c, '/' | '+' | '#')) {
        return Err(format!(
            "--group_identifier '{group}' contains '{bad}', which a share name may not contain (MQTT 5 §4.8.2); \
             use letters, digits, '-' or '_'"
        ));
    }
    let chars = group.chars().count();
    if chars > MAX_GROUP_CHARS {
        return Err(format!(
            "--group_identifier is {chars} characters long; AWS IoT Core allows at most {MAX_GROUP_CHARS}"
        ));
    }
    Ok(())
}

fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err(
            "--topic is empty: give the topic to publish to, e.g. --topic test/topic".into(),
        );
    }
    if topic.starts_with(SHARE_PREFIX) || topic.starts_with("$shared/") || topic == "$share" {
        return Err(format!(
            "--topic '{topic}' already starts with '$share': pass the plain topic (e.g. --topic test/topic) \
             and the group with --group_identifier; this tool builds the $share filter itself \
             (and AWS IoT Core disconnects a client that publishes to a $share topic)"
        ));
    }
    if let Some(bad) = topic.chars().find(|c| matches!(c, '+' | '#')) {
        return Err(format!(
            "--topic '{topic}' contains the wildcard '{bad}'; the publisher needs a plain topic name such as test/topic"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_share_filter() {
        let filter = SharedFilter::new("rust-sample", "test/topic").unwrap();
        assert_eq!(filter.to_string(), "$share/rust-sample/test/topic");
        assert_eq!(filter.topic(), "test/topic");
        assert_eq!(filter.group(), "rust-sample");
    }

    #[test]
    fn refuses_bad_groups_naming_the_flag() {
        for group in ["", "a/b", "g+", "g#", &"x".repeat(129)] {
            let error = SharedFilter::new(group, "t").unwrap_err();
            assert!(error.starts_with("--group_identifier"), "{error}");
        }
        assert!(SharedFilter::new(&"x".repeat(128), "t").is_ok());
    }

    #[test]
    fn refuses_bad_topics_naming_the_flag() {
        for topic in ["", "a/+/b", "a/#", "$share/g/t", "$shared/g/t"] {
            let error = SharedFilter::new("g", topic).unwrap_err();
            assert!(error.starts_with("--topic"), "{error}");
        }
    }
}
