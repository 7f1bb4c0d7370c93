//! The least-privilege AWS IoT policy for one command line: what `--print-policy` prints.
//!
//! A shared subscription needs four permissions, and the one people miss is the third:
//!
//! | action          | resource                                 | who                       |
//! |-----------------|------------------------------------------|---------------------------|
//! | `iot:Connect`   | `client/<id>` for each client id         | every connection          |
//! | `iot:Publish`   | `topic/<topic>`                          | the publisher             |
//! | `iot:Subscribe` | `topicfilter/$share/<group>/<topic>`     | each member: the *shared* filter, not the topic |
//! | `iot:Receive`   | `topic/<topic>`                          | each member: messages arrive on the plain topic |
//!
//! Each resource names exactly one thing, so the policy allows this run and nothing else. That
//! takes care: the values are written into the policy language, where some characters mean more
//! than themselves (see [`literal`]).

use serde::Serialize;

use crate::share::SharedFilter;

/// What the ARNs say when `--region` or `--account` is not given: words a reader sees at once
/// and a `sed` can replace (`policy/README.md` shows how).
pub const REGION_PLACEHOLDER: &str = "REGION";
pub const ACCOUNT_PLACEHOLDER: &str = "ACCOUNT_ID";

/// Where the ARNs point: `--region` and `--account`, or placeholders.
#[derive(Debug, Clone, Copy, Default)]
pub struct Account<'a> {
    pub region: Option<&'a str>,
    pub account: Option<&'a str>,
}

impl Account<'_> {
    /// `arn:<partition>:iot:<region>:<account>:`, what every resource starts with.
    fn arn_prefix(&self) -> String {
        let region = self.region.unwrap_or(REGION_PLACEHOLDER);
        let account = self.account.unwrap_or(ACCOUNT_PLACEHOLDER);
        // ARNs carry the partition: China's and GovCloud's regions are not in `aws`.
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        format!("arn:{partition}:iot:{region}:{account}:")
    }
}

// The field names and their order are the policy language's; serde keeps the order we write.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    version: &'static str,
    statement: Vec<Statement>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    sid: &'static str,
    effect: &'static str,
    action: Vec<&'static str>,
    resource: Vec<String>,
}

/// The policy that lets `client_ids` connect, publish to the topic, subscribe to each group's
/// `$share` filter (and with `control` to the plain topic) and receive what they deliver, as
/// pretty-printed JSON. With `end_of_run` (a run spread
/// over processes, `--role`), also publish, subscribe to and receive that topic: the marker the
/// publisher sends every member when it is done.
pub fn policy_json(
    account: Account<'_>,
    client_ids: &[String],
    filters: &[SharedFilter],
    control: bool,
    end_of_run: Option<&str>,
) -> String {
    let arn = account.arn_prefix();
    // Every group has the same topic (`cli.rs`); a plan has at least one group.
    let topic = filters.first().map_or("", |filter| filter.topic());
    // Each group's `$share` filter; with `--control`, the plain topic too.
    let mut subscribe: Vec<String> = filters
        .iter()
        .map(|filter| format!("{arn}topicfilter/{}", literal(&filter.to_string())))
        .collect();
    if control {
        subscribe.push(format!("{arn}topicfilter/{}", literal(topic)));
    }
    let allow = |sid, action: &[&'static str], resource: Vec<String>| Statement {
        sid,
        effect: "Allow",
        action: action.to_vec(),
        resource,
    };
    let mut policy = Policy {
        // The only version that knows policy variables, which the escapes below are.
        version: "2012-10-17",
        statement: vec![
            allow(
                "ConnectAsEachClientOfTheRun",
                &["iot:Connect"],
                client_ids
                    .iter()
                    .map(|id| format!("{arn}client/{}", literal(id)))
                    .collect(),
            ),
            allow(
                "PublishAndReceiveOnThePlainTopic",
                &["iot:Publish", "iot:Receive"],
                vec![format!("{arn}topic/{}", literal(topic))],
            ),
            allow(
                "JoinTheSharedSubscriptionGroup",
                &["iot:Subscribe"],
                subscribe,
            ),
        ],
    };
    if let Some(marker) = end_of_run {
        policy.statement.push(allow(
            "TheEndOfRunMarkerOfARunOverProcesses",
            &["iot:Publish", "iot:Receive"],
            vec![format!("{arn}topic/{}", literal(marker))],
        ));
        policy.statement.push(allow(
            "ListenForTheEndOfRunMarker",
            &["iot:Subscribe"],
            vec![format!("{arn}topicfilter/{}", literal(marker))],
        ));
    }
    // Only strings inside: serializing cannot fail.
    serde_json::to_string_pretty(&policy).expect("a policy of plain strings serializes")
}

/// `value` written so that a policy resource matches it and nothing else.
///
/// In a resource string, `*` matches any run of characters and `?` any one character, always;
/// and `${...}` is a policy variable, replaced before matching. The policy language has fixed
/// variables for the three characters themselves: `${*}`, `${?}` and `${$}`. Sources: the IAM
/// User Guide, "IAM policy elements: Variables and tags", section "Special characters"
/// (docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html), which AWS IoT's
/// developer guide points to from "AWS IoT Core policy variables" (iot-policy-variables.html):
/// "You can also use predefined policy variables with fixed values to represent characters that
/// otherwise have special meaning".
///
/// A `$` is only special where a `{` follows it, so `$share/...` stays as it is: escaping every
/// `$` would be correct too, but would make the one filter a reader must recognise unreadable.
/// MQTT's own wildcards, `+` and `#`, mean nothing in a policy (and `share.rs` keeps them out of
/// the topic and the group anyway).
fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' if chars.peek() == Some(&'{') => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_variable_starts_are_escaped() {
        assert_eq!(literal("test/topic"), "test/topic");
        assert_eq!(literal("a*b?c"), "a${*}b${?}c");
        assert_eq!(literal("${iot:ClientId}"), "${$}{iot:ClientId}");
        // A `$` before anything but `{` is a plain character.
        assert_eq!(literal("$share/g/t"), "$share/g/t");
        assert_eq!(literal("$"), "$");
        assert_eq!(literal("$$*"), "$$${*}");
    }

    #[test]
    fn arns_carry_the_partition_region_and_account() {
        let placeholders = Account::default().arn_prefix();
        assert_eq!(placeholders, "arn:aws:iot:REGION:ACCOUNT_ID:");
        let china = Account {
            region: Some("cn-north-1"),
            account: Some("123456789012"),
        };
        assert_eq!(
            china.arn_prefix(),
            "arn:aws-cn:iot:cn-north-1:123456789012:"
        );
    }
}
