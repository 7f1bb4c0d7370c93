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
//! Brokers are lax about malformed filters: mosquitto 2.0 grants `$share//t` (empty share name)
//! and `$share/g` (no topic) with a SUBACK reason code of success, though MQTT 5 (§4.8.2) forbids
//! both. So we check the parts ourselves and say what is wrong before connecting.

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
        return Err(format!(
            "--group_identifier is empty: give the group a name, e.g. --group_identifier rust-sample{SHELL_HINT}"
        ));
    }
    if let Some(prefix) = share_like_prefix(group) {
        let name = group.split_once('/').map_or("", |(_, name)| name);
        let example = if name.is_empty() { "rust-sample" } else { name };
        return Err(format!(
            "--group_identifier '{group}' starts with '{prefix}'{misspelt}; pass only the share name, \
             e.g. --group_identifier {example}: this tool builds the $share filter itself",
            misspelt = misspelt_note(prefix),
        ));
    }
    if let Some(bad) = group.chars().find(|c| matches!(c, '/' | '+' | '#')) {
        let hint = if group.starts_with('/') {
            SHELL_HINT
        } else {
            ""
        };
        return Err(format!(
            "--group_identifier '{group}' contains '{bad}', which a share name may not contain (MQTT 5 §4.8.2); \
             use letters, digits, '-' or '_'{hint}"
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
        return Err(format!(
            "--topic is empty: give the topic to publish to, e.g. --topic test/topic{SHELL_HINT}"
        ));
    }
    if let Some(prefix) = share_like_prefix(topic) {
        // `$share/<group>/<topic>` pasted whole: say which two flags it stands for.
        let suggestion = match topic.splitn(3, '/').collect::<Vec<_>>()[..] {
            [_, group, rest] if !group.is_empty() && !rest.is_empty() => {
                format!("--group_identifier {group} --topic {rest}")
            }
            _ => "--group_identifier <group> --topic <plain topic>".to_owned(),
        };
        return Err(format!(
            "--topic '{topic}' starts with '{prefix}'{misspelt}: pass the plain topic and the group \
             separately, e.g. {suggestion}; this tool builds the $share filter itself \
             (and AWS IoT Core disconnects a client that publishes to a $share topic)",
            misspelt = misspelt_note(prefix),
        ));
    }
    if let Some(rest) = topic.strip_prefix('/') {
        // A leading '/' is legal MQTT, but it is what the shell leaves of "$share/G/T": `$share`
        // is read as an (unset) variable and replaced by nothing.
        let suggestion = match rest.split_once('/') {
            Some((group, plain)) if !group.is_empty() && !plain.is_empty() => {
                format!("--group_identifier {group} --topic {plain}")
            }
            _ => format!("--topic {rest}"),
        };
        return Err(format!(
            "--topic '{topic}' starts with '/': if you typed \"$share{topic}\", the shell replaced \
             $share with nothing (single quotes keep a $ as it is); this tool builds the $share \
             filter itself, so pass {suggestion} (a leading '/' also makes an empty first topic \
             level, which AWS IoT advises against)"
        ));
    }
    if let Some(bad) = topic.chars().find(|c| matches!(c, '+' | '#')) {
        return Err(format!(
            "--topic '{topic}' contains the wildcard '{bad}'; the publisher needs a plain topic name such as test/topic"
        ));
    }
    Ok(())
}

/// Appended when a value looks like what a shell leaves of a `$...` word in double quotes.
const SHELL_HINT: &str = " (if you wrote \"$share...\" or another $word in double quotes, \
                          the shell replaced it: use single quotes)";

/// The first topic level if it looks like the `$share` prefix, misspelt or not: `$share`,
/// `$shared`, `$Share`, ... MQTT is case-sensitive, so only the exact `$share` is the real one.
fn share_like_prefix(value: &str) -> Option<&str> {
    let first_level = value.split('/').next().unwrap_or_default();
    first_level
        .to_ascii_lowercase()
        .starts_with("$share")
        .then_some(first_level)
}

fn misspelt_note(prefix: &str) -> &'static str {
    if prefix == "$share" {
        ""
    } else {
        " (a misspelt '$share')"
    }
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
        for topic in ["", "a/+/b", "a/#", "$share/g/t", "$shared/g/t", "/g/t"] {
            let error = SharedFilter::new("g", topic).unwrap_err();
            assert!(error.starts_with("--topic"), "{error}");
        }
    }

    #[test]
    fn topics_in_other_dollar_namespaces_are_fine() {
        // `$aws/...` topics are how AWS IoT's own services talk; only `$share` is ours to refuse.
        assert!(SharedFilter::new("g", "$aws/things/dev/shadow/update").is_ok());
        assert!(SharedFilter::new("g", "a//b/").is_ok());
    }

    // Property tests: the rules above hold for *any* input, not just the examples we thought of.
    // proptest generates hundreds of strings per property and shrinks a failure to the smallest.
    mod properties {
        use super::*;
        use proptest::prelude::*;
        use proptest::sample::select;

        /// Any share name MQTT 5 and AWS IoT accept: 1..=128 characters, none of `/`, `+`, `#`.
        fn group() -> impl Strategy<Value = String> {
            "[^/+#]{1,128}".prop_filter("not a $share prefix", |g| share_like_prefix(g).is_none())
        }

        /// Any plain topic: no wildcards, not starting with `/` or a `$share`-like level.
        fn topic() -> impl Strategy<Value = String> {
            "[^/+#][^+#]{0,80}"
                .prop_filter("not a $share prefix", |t| share_like_prefix(t).is_none())
        }

        fn forbidden_in_group() -> impl Strategy<Value = char> {
            select(vec!['/', '+', '#'])
        }

        proptest! {
            #[test]
            fn any_valid_group_and_topic_round_trip(group in group(), topic in topic()) {
                let filter = SharedFilter::new(&group, &topic).unwrap();
                prop_assert_eq!(filter.to_string(), format!("$share/{group}/{topic}"));
                prop_assert_eq!(filter.group(), group.as_str());
                prop_assert_eq!(filter.topic(), topic.as_str());
            }

            #[test]
            fn a_forbidden_char_in_the_group_is_refused_naming_the_flag(
                before in "[^/+#]{0,60}",
                bad in forbidden_in_group(),
                after in "\\PC{0,60}",
                topic in topic(),
            ) {
                let group = format!("{before}{bad}{after}");
                let error = SharedFilter::new(&group, &topic).unwrap_err();
                prop_assert!(error.starts_with("--group_identifier"), "{}", error);
            }

            #[test]
            fn a_group_over_128_chars_is_refused(group in "[^/+#]{129,200}", topic in topic()) {
                let error = SharedFilter::new(&group, &topic).unwrap_err();
                prop_assert!(error.starts_with("--group_identifier"), "{}", error);
            }

            #[test]
            fn a_wildcard_in_the_topic_is_refused_naming_the_flag(
                group in group(),
                before in "\\PC{0,40}",
                bad in select(vec!['+', '#']),
                after in "\\PC{0,40}",
            ) {
                let topic = format!("{before}{bad}{after}");
                let error = SharedFilter::new(&group, &topic).unwrap_err();
                prop_assert!(error.starts_with("--topic"), "{}", error);
            }

            #[test]
            fn a_share_prefix_in_the_topic_is_refused_in_any_spelling(
                group in group(),
                prefix in select(vec!["$share", "$shared", "$Share", "$SHARE", "$shares"]),
                rest in "[^+#]{0,40}",
            ) {
                let topic = format!("{prefix}/{rest}");
                let error = SharedFilter::new(&group, &topic).unwrap_err();
                prop_assert!(error.starts_with("--topic"), "{}", error);
                prop_assert!(error.contains("--group_identifier"), "{}", error);
            }
        }
    }
}
