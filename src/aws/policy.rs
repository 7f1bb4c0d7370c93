//! The AWS IoT policy for one command line: what `--print-policy` prints.
//!
//! A shared subscription needs five permissions, and the ones people miss are the third and the
//! fourth:
//!
//! | action          | resource                                 | who                       |
//! |-----------------|------------------------------------------|---------------------------|
//! | `iot:Connect`   | `client/<id>` for each client id         | every connection          |
//! | `iot:Publish`   | `topic/<topic>`                          | the publisher             |
//! | `iot:Subscribe` | `topicfilter/$share/<group>/<topic>`     | each member: the *shared* filter, not the topic |
//! | `iot:Receive`   | `topic/$share/<group>/<topic>`           | each member: AWS checks a shared subscriber's deliveries against the `$share` form |
//! | `iot:Receive`   | `topic/<topic>`                          | the `--control` subscriber, and any plain subscription |
//!
//! Receive on the `$share` form: FACTS.md ("AWS IoT Core"): the policy this project started from
//! grants both forms, and public code that runs shared subscriptions on AWS grants the `$share`
//! one; no AWS page stored here says it in words, so both forms are granted.
//!
//! With `--client_id`, each resource names exactly one thing, so the policy allows this run and
//! nothing else. That takes care: the values are written into the policy language, where some
//! characters mean more than themselves (see [`literal`]). Two things can make a wildcard the
//! better answer, and each is said on stderr:
//! - no `--client_id`: every run makes up `test-<8 hex digits>`, so a policy that names one
//!   run's ids fits no other; `client/test-*` fits them all (`policy/` ships that policy);
//! - size: AWS refuses a policy over 2,048 characters (see `iam/`), which exact ids pass at
//!   about 20 members. Then the narrowest wildcard that fits is used, step by step (see
//!   [`Breadth`]), and a run that cannot fit even then is refused (exit 2) with the reason.

use serde::Serialize;

use super::iam::{policy_characters, MAX_POLICY_CHARACTERS, POLICY_VERSION};
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

/// `--region`: it goes into every ARN, so letters, digits and dashes only (nothing in it can act
/// as a wildcard). An empty one is what `--region "$(aws configure get region)"` passes when no
/// region is configured: say so rather than print ARNs with a hole in them.
pub fn check_region(region: &str) -> Result<(), String> {
    if region.is_empty() {
        return Err(
            "--region is empty (does `aws configure get region` print nothing?): pass \
                    your region, e.g. --region eu-west-1, or set one with `aws configure set \
                    region eu-west-1`"
                .into(),
        );
    }
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "--region '{region}' is not an AWS region: lower-case letters, digits and '-', e.g. \
             --region eu-west-1"
        ));
    }
    Ok(())
}

/// `--account`: twelve digits.
pub fn check_account(account: &str) -> Result<(), String> {
    if account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) {
        return Ok(());
    }
    let what = if account.is_empty() {
        "--account is empty".to_owned()
    } else {
        format!("--account '{account}' is not an AWS account id")
    };
    Err(format!(
        "{what}: an account id is 12 digits, e.g. --account 123456789012 (`aws sts \
         get-caller-identity --query Account --output text` prints yours)"
    ))
}

/// Who connects: the run's exact client ids, or any id the run may make up.
#[derive(Debug, Clone, Copy)]
pub enum ClientIds<'a> {
    /// `--client_id PREFIX`: the run connects as exactly `ids`, all starting with `PREFIX-`.
    Exact { prefix: &'a str, ids: &'a [String] },
    /// No `--client_id`: every invocation makes up an id that starts with `prefix`.
    MadeUp { prefix: &'a str },
}

/// Everything the policy depends on.
#[derive(Debug, Clone, Copy)]
pub struct PolicyFor<'a> {
    pub account: Account<'a>,
    pub client_ids: ClientIds<'a>,
    /// Each group's `$share` filter; every group has the same topic (`cli.rs`).
    pub filters: &'a [SharedFilter],
    /// `--control`: a plain subscription to the topic as well.
    pub control: bool,
    /// A run spread over processes (`--role`): the end-of-run marker's topic.
    pub end_of_run: Option<&'a str>,
}

/// A policy ready to print, and what stderr should say about it.
#[derive(Debug)]
pub struct PrintedPolicy {
    /// Pretty-printed JSON.
    pub json: String,
    /// Where it allows more than the exact run, and why.
    pub notes: Vec<String>,
}

/// How far the policy widens, narrowest first: each step keeps the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Breadth {
    /// One ARN per client id, per group.
    Exact,
    /// A group's members as `<prefix>-subscriber-*`.
    Members,
    /// Every client of the run as `<--client_id>-*`.
    Clients,
    /// Every group as `$share/*/<topic>`.
    Groups,
}

const BREADTHS: [Breadth; 4] = [
    Breadth::Exact,
    Breadth::Members,
    Breadth::Clients,
    Breadth::Groups,
];

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

/// The policy that lets the run connect, publish to the topic, subscribe to each group's
/// `$share` filter (and with `control` to the plain topic) and receive what the broker delivers,
/// as pretty-printed JSON within AWS's size limit; or why no policy of that size can.
pub fn policy_document(request: &PolicyFor<'_>) -> Result<PrintedPolicy, String> {
    let mut notes = Vec::new();
    if let ClientIds::MadeUp { prefix } = request.client_ids {
        notes.push(format!(
            "no --client_id: each run makes up a client id ({prefix}<8 hex digits>), so this \
             policy allows iot:Connect on client/{prefix}*, any id that starts with '{prefix}'; \
             for a policy that names exactly the run's ids, pass --client_id, e.g. --client_id \
             my-test, here and to the runs"
        ));
    }
    let exact = policy_at(request, Breadth::Exact);
    let exact_size = policy_characters(&exact);
    if exact_size <= MAX_POLICY_CHARACTERS {
        return Ok(PrintedPolicy { json: exact, notes });
    }
    for breadth in &BREADTHS[1..] {
        let json = policy_at(request, *breadth);
        let size = policy_characters(&json);
        if size <= MAX_POLICY_CHARACTERS {
            notes.push(format!(
                "the exact policy for this run is {exact_size} characters, over the \
                 {MAX_POLICY_CHARACTERS} AWS IoT Core accepts (whitespace not counted), so this \
                 one allows {} ({size} characters); fewer --subscribers or --group_identifier \
                 values give an exact one",
                widened(request, *breadth)
            ));
            return Ok(PrintedPolicy { json, notes });
        }
    }
    let widest = policy_characters(&policy_at(request, Breadth::Groups));
    Err(format!(
        "no policy for this run fits AWS IoT Core's {MAX_POLICY_CHARACTERS} characters: even with \
         wildcards ({}) it is {widest}; use a shorter --topic or --client_id (each '*', '?' or \
         '${{' in them takes 4 characters in a policy)",
        widened(request, Breadth::Groups)
    ))
}

/// In words, what `breadth` allows beyond the exact ids and groups.
fn widened(request: &PolicyFor<'_>, breadth: Breadth) -> String {
    let prefix = match request.client_ids {
        ClientIds::Exact { prefix, .. } => format!("{prefix}-"),
        ClientIds::MadeUp { prefix } => prefix.to_owned(),
    };
    // A long topic would drown the sentence.
    let topic = match topic(request) {
        topic if topic.chars().count() <= 40 => topic,
        _ => "<--topic>",
    };
    match breadth {
        Breadth::Exact => "exactly the run's client ids and groups".to_owned(),
        Breadth::Members => {
            let members: Vec<String> = connect_resources(request.client_ids, breadth)
                .into_iter()
                .filter(|resource| resource.ends_with('*'))
                .map(|resource| format!("client/{resource}"))
                .collect();
            format!("the members as {}", members.join(", "))
        }
        Breadth::Clients => format!("every client of the run as client/{prefix}*"),
        Breadth::Groups => {
            format!("every client as client/{prefix}* and every group as $share/*/{topic}")
        }
    }
}

fn topic<'a>(request: &PolicyFor<'a>) -> &'a str {
    // A plan has at least one group (`cli.rs`).
    request.filters.first().map_or("", |filter| filter.topic())
}

/// The policy at one breadth, as pretty-printed JSON.
fn policy_at(request: &PolicyFor<'_>, breadth: Breadth) -> String {
    let arn = request.account.arn_prefix();
    let topic = topic(request);
    let connect: Vec<String> = connect_resources(request.client_ids, breadth)
        .into_iter()
        .map(|resource| format!("{arn}client/{resource}"))
        .collect();
    // Each group's `$share` form, or all of them at once.
    let shared: Vec<String> = if breadth >= Breadth::Groups {
        vec![format!("$share/*/{}", literal(topic))]
    } else {
        request
            .filters
            .iter()
            .map(|filter| literal(&filter.to_string()))
            .collect()
    };
    let mut subscribe: Vec<String> = shared
        .iter()
        .map(|filter| format!("{arn}topicfilter/{filter}"))
        .collect();
    if request.control {
        subscribe.push(format!("{arn}topicfilter/{}", literal(topic)));
    }
    let allow = |sid, action: &[&'static str], resource: Vec<String>| Statement {
        sid,
        effect: "Allow",
        action: action.to_vec(),
        resource,
    };
    let mut policy = Policy {
        // The only version AWS IoT takes, and the one that knows policy variables, which the
        // escapes below are.
        version: POLICY_VERSION,
        statement: vec![
            allow("ConnectAsEachClientOfTheRun", &["iot:Connect"], connect),
            allow(
                "PublishAndReceiveOnThePlainTopic",
                &["iot:Publish", "iot:Receive"],
                vec![format!("{arn}topic/{}", literal(topic))],
            ),
            allow(
                "ReceiveWhatTheGroupIsSent",
                &["iot:Receive"],
                shared
                    .iter()
                    .map(|filter| format!("{arn}topic/{filter}"))
                    .collect(),
            ),
            allow(
                "JoinTheSharedSubscriptionGroup",
                &["iot:Subscribe"],
                subscribe,
            ),
        ],
    };
    if let Some(marker) = request.end_of_run {
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

/// The `client/…` resources (after `client/`) at `breadth`, in the order the ids come.
fn connect_resources(client_ids: ClientIds<'_>, breadth: Breadth) -> Vec<String> {
    let (prefix, ids) = match client_ids {
        ClientIds::MadeUp { prefix } => return vec![format!("{}*", literal(prefix))],
        ClientIds::Exact { prefix, ids } => (prefix, ids),
    };
    if breadth >= Breadth::Clients {
        return vec![format!("{}-*", literal(prefix))];
    }
    let mut resources: Vec<String> = Vec::new();
    for id in ids {
        let resource = match (breadth, member_prefix(id)) {
            (Breadth::Members, Some(members)) => format!("{}*", literal(members)),
            _ => literal(id),
        };
        if !resources.contains(&resource) {
            resources.push(resource);
        }
    }
    resources
}

/// `<prefix>-subscriber-` when `id` is `<prefix>-subscriber-<number>`, a member's id.
fn member_prefix(id: &str) -> Option<&str> {
    let number = id.rsplit('-').next()?;
    let prefix = &id[..id.len() - number.len()];
    (!number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && prefix.ends_with("-subscriber-"))
    .then_some(prefix)
}

/// The hint for a run in which nothing arrived although every subscription was granted and the
/// broker took every message: on AWS IoT, the policy lacks `iot:Receive`. Used by the report.
/// `group` is empty for the books of a plain subscriber (`--control`).
pub fn missing_receive_hint(topic: &str, group: &str) -> String {
    let resources = match group {
        "" => format!("topic/{topic}"),
        group => format!(
            "topic/$share/{group}/{topic} for the members (and on topic/{topic} for plain \
             subscribers)"
        ),
    };
    format!(
        "no member received a single message, though every subscription was granted and the \
         broker took the messages: it is not allowed to deliver '{topic}' to these clients (AWS \
         IoT: the policy needs iot:Receive on {resources}, which --print-policy includes; the \
         demo broker does not check it; mosquitto: the ACL must allow read on {topic})"
    )
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

    #[test]
    fn members_are_told_from_the_other_clients() {
        assert_eq!(member_prefix("x-subscriber-12"), Some("x-subscriber-"));
        assert_eq!(member_prefix("x-g1-subscriber-1"), Some("x-g1-subscriber-"));
        assert_eq!(member_prefix("x-publisher"), None);
        assert_eq!(member_prefix("x-subscriber-"), None);
        assert_eq!(member_prefix("x-subscriber-1a"), None);
    }

    #[test]
    fn an_empty_region_or_account_says_where_it_came_from() {
        assert!(check_region("")
            .unwrap_err()
            .contains("aws configure get region"));
        assert!(check_region("EU")
            .unwrap_err()
            .contains("e.g. --region eu-west-1"));
        assert_eq!(check_region("eu-west-1"), Ok(()));
        assert!(check_account("")
            .unwrap_err()
            .starts_with("--account is empty"));
        assert!(check_account("12345").unwrap_err().contains("12 digits"));
        assert_eq!(check_account("123456789012"), Ok(()));
    }
}
