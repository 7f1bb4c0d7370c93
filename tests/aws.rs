//! AWS IoT Core, before the network: `--print-policy` allows exactly what a run uses, within
//! AWS's 2,048 characters, and AWS's limits end a run with exit 2 against an AWS endpoint, a
//! warning elsewhere.
//!
//! None of these needs a broker or an AWS account: the policy is printed without connecting, and
//! the limits are checked before the certificate files are even read. The printed policies are
//! read back with the crate's policy reader (`aws/iam/`, which its unit tests check against
//! AWS's own examples), asked about every action a run takes and about its neighbours.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use mqtt5_shared_subscription::iam::{policy_characters, Policy, Request, MAX_POLICY_CHARACTERS};
use serde_json::Value;
use support::{assert_one_line_error, run_tool, Run};

const LIMIT: Duration = Duration::from_secs(30);
const AWS_ENDPOINT: &str = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com";

fn tool(args: &[&str]) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    run_tool(&args, LIMIT)
}

/// `--print-policy` with `args`: it must succeed, and print JSON only.
fn print_policy(args: &[&str]) -> (Value, Run) {
    let mut all = vec!["--print-policy"];
    all.extend_from_slice(args);
    let run = tool(&all);
    assert_eq!(run.code, Some(0), "{run}");
    let policy = serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"));
    (policy, run)
}

/// A resource as the policy language reads it, back to the literal it matches: `${*}`, `${?}`
/// and `${$}` are the characters themselves, and anything else that would widen the match (a
/// bare `*` or `?`, another `${...}` variable) fails the test.
fn literal(resource: &str) -> String {
    let mut out = String::new();
    let mut rest = resource;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("${") {
            let (name, tail) = after.split_once('}').expect("a closed ${...}");
            assert!(
                matches!(name, "*" | "?" | "$"),
                "a policy variable ${{{name}}} in {resource}"
            );
            out.push_str(name);
            rest = tail;
        } else {
            let c = rest.chars().next().expect("not empty");
            assert!(c != '*' && c != '?', "an unescaped wildcard in {resource}");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Every (action, literal resource) the policy allows. Fails on anything but plain Allow
/// statements, so a Deny or a NotResource cannot hide in it.
fn grants(policy: &Value) -> BTreeSet<(String, String)> {
    assert_eq!(policy["Version"], "2012-10-17");
    let mut grants = BTreeSet::new();
    for statement in policy["Statement"].as_array().expect("Statement list") {
        let keys: BTreeSet<&str> = statement
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["Sid", "Effect", "Action", "Resource"]),
            "{statement}"
        );
        assert_eq!(statement["Effect"], "Allow");
        let list = |key: &str| -> Vec<String> {
            match &statement[key] {
                Value::String(one) => vec![one.clone()],
                Value::Array(many) => many
                    .iter()
                    .map(|v| v.as_str().expect("a string").to_owned())
                    .collect(),
                other => panic!("{key}: {other}"),
            }
        };
        for action in list("Action") {
            for resource in list("Resource") {
                grants.insert((action.clone(), literal(&resource)));
            }
        }
    }
    grants
}

/// What a run with these ids, topic and group does on AWS IoT Core, under `arn`.
fn expected(arn: &str, ids: &[&str], topic: &str, group: &str) -> BTreeSet<(String, String)> {
    let mut expected: BTreeSet<(String, String)> = ids
        .iter()
        .map(|id| ("iot:Connect".into(), format!("{arn}client/{id}")))
        .collect();
    for action in ["iot:Publish", "iot:Receive"] {
        expected.insert((action.into(), format!("{arn}topic/{topic}")));
    }
    // A member's deliveries are checked against the `$share` form (FACTS.md, "AWS IoT Core").
    expected.insert((
        "iot:Receive".into(),
        format!("{arn}topic/$share/{group}/{topic}"),
    ));
    expected.insert((
        "iot:Subscribe".into(),
        format!("{arn}topicfilter/$share/{group}/{topic}"),
    ));
    expected
}

#[test]
fn the_policy_allows_each_client_the_topic_and_the_share_filter_and_nothing_else() {
    // An endpoint that does not resolve and files that do not exist: printing the policy needs
    // neither the network nor the certificate.
    let (policy, run) = print_policy(&[
        "--client_id",
        "run-1",
        "--subscribers",
        "3",
        "--topic",
        "plant/line-4/temperature",
        "--group_identifier",
        "workers",
        "--region",
        "eu-west-1",
        "--account",
        "123456789012",
        "--endpoint",
        "no-such-host.invalid",
        "--cert",
        "/no/such/device.pem.crt",
        "--key",
        "/no/such/private.pem.key",
    ]);
    let ids = [
        "run-1-publisher",
        "run-1-subscriber-1",
        "run-1-subscriber-2",
        "run-1-subscriber-3",
        "run-1-check",
    ];
    assert_eq!(
        grants(&policy),
        expected(
            "arn:aws:iot:eu-west-1:123456789012:",
            &ids,
            "plant/line-4/temperature",
            "workers"
        )
    );
    assert!(!run.stderr.contains("WARN"), "{run}");
}

/// A run over processes (`--role`) also needs the end-of-run marker's side topic, and only
/// then: the subscriber processes' members, the publisher's process, the marker.
#[test]
fn a_run_over_processes_is_also_allowed_the_end_of_run_marker() {
    let arn = "arn:aws:iot:eu-west-1:123456789012:";
    let common = [
        "--client_id",
        "east",
        "--run-id",
        "r-1",
        "--region",
        "eu-west-1",
        "--account",
        "123456789012",
    ];
    let (policy, _) = print_policy(&[&common[..], &["--role", "subscriber"]].concat());
    let mut wanted = expected(
        arn,
        &[
            "east-publisher",
            "east-subscriber-1",
            "east-subscriber-2",
            "east-check",
        ],
        "test/topic",
        "rust-sample",
    );
    for (action, resource) in [
        ("iot:Publish", "topic/test/topic/end-of-run"),
        ("iot:Receive", "topic/test/topic/end-of-run"),
        ("iot:Subscribe", "topicfilter/test/topic/end-of-run"),
    ] {
        wanted.insert((action.to_owned(), format!("{arn}{resource}")));
    }
    assert_eq!(grants(&policy), wanted);
    // The publisher's process starts no members, so its policy names none.
    let (policy, _) = print_policy(&[&common[..], &["--role", "publisher"]].concat());
    let connects: Vec<String> = grants(&policy)
        .into_iter()
        .filter(|(action, _)| action == "iot:Connect")
        .map(|(_, resource)| resource)
        .collect();
    assert_eq!(
        connects,
        [
            format!("{arn}client/east-check"),
            format!("{arn}client/east-publisher")
        ]
    );
}

/// Several groups and a control subscriber: each member's own filter, and the plain topic.
#[test]
fn several_groups_and_a_control_are_each_allowed_their_filter() {
    let (policy, _) = print_policy(&[
        "--client_id",
        "c",
        "--subscribers",
        "1",
        "--groups",
        "blue,green",
        "--control",
    ]);
    let arn = "arn:aws:iot:REGION:ACCOUNT_ID:";
    let subscribe: Vec<String> = grants(&policy)
        .into_iter()
        .filter(|(action, _)| action == "iot:Subscribe")
        .map(|(_, resource)| resource)
        .collect();
    assert_eq!(
        subscribe,
        [
            format!("{arn}topicfilter/$share/blue/test/topic"),
            format!("{arn}topicfilter/$share/green/test/topic"),
            format!("{arn}topicfilter/test/topic"),
        ]
    );
    let connects: Vec<String> = grants(&policy)
        .into_iter()
        .filter(|(action, _)| action == "iot:Connect")
        .map(|(_, resource)| resource.replace(arn, ""))
        .collect();
    assert_eq!(
        connects,
        [
            "client/c-blue-subscriber-1",
            "client/c-check",
            "client/c-control",
            "client/c-green-subscriber-1",
            "client/c-publisher",
        ]
    );
}

#[test]
fn wildcards_dollars_and_variables_in_the_flags_are_escaped() {
    let (id, topic, group) = ("dev*?${iot:ClientId}", "a?/b*/${aws:username}/$x", "g$*?");
    let (policy, run) = print_policy(&[
        "--client_id",
        id,
        "--topic",
        topic,
        "--group_identifier",
        group,
        "--subscribers",
        "1",
    ]);
    let ids = [
        format!("{id}-publisher"),
        format!("{id}-subscriber-1"),
        format!("{id}-check"),
    ];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    // `literal()` inside `grants()` already failed on any bare `*`, `?` or variable.
    assert_eq!(
        grants(&policy),
        expected("arn:aws:iot:REGION:ACCOUNT_ID:", &ids, topic, group)
    );
    // The escapes as AWS documents them, and `$share` left readable.
    assert!(
        run.stdout
            .contains("topic/a${?}/b${*}/${$}{aws:username}/$x\""),
        "{run}"
    );
    assert!(
        run.stdout.contains("topicfilter/$share/g$${*}${?}/a${?}"),
        "{run}"
    );
}

#[test]
fn placeholders_stand_in_for_a_missing_region_and_account() {
    let (policy, run) = print_policy(&["--client_id", "my-test"]);
    for (_, resource) in grants(&policy) {
        assert!(
            resource.starts_with("arn:aws:iot:REGION:ACCOUNT_ID:"),
            "{resource}"
        );
    }
    assert!(run.stderr.contains("REGION and ACCOUNT_ID"), "{run}");
    assert!(run.stderr.contains("--region and --account"), "{run}");

    let (policy, run) = print_policy(&["--client_id", "my-test", "--region", "cn-north-1"]);
    for (_, resource) in grants(&policy) {
        assert!(
            resource.starts_with("arn:aws-cn:iot:cn-north-1:ACCOUNT_ID:"),
            "{resource}"
        );
    }
    assert!(run.stderr.contains("--account"), "{run}");
    assert!(!run.stderr.contains("--region"), "{run}");
}

/// The `Resource` list of the statement that grants `action` alone, as written.
fn resources_of(policy: &Value, action: &str) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .expect("Statement list")
        .iter()
        .filter(|statement| statement["Action"] == serde_json::json!([action]))
        .flat_map(|statement| {
            statement["Resource"]
                .as_array()
                .expect("Resource list")
                .clone()
        })
        .map(|resource| resource.as_str().expect("a string").to_owned())
        .collect()
}

/// Without --client_id every run makes up `test-<8 hex>`: the policy allows `client/test-*`,
/// which fits all of them (a list of one invocation's ids would fit no later run), and says so.
#[test]
fn without_a_client_id_the_policy_allows_every_id_the_runs_make_up() {
    let (policy, run) = print_policy(&["--region", "eu-west-1", "--account", "123456789012"]);
    assert!(run.stderr.contains("no --client_id"), "{run}");
    assert!(run.stderr.contains("client/test-*"), "{run}");
    assert!(run.stderr.contains("--client_id my-test"), "{run}");
    assert_eq!(
        resources_of(&policy, "iot:Connect"),
        ["arn:aws:iot:eu-west-1:123456789012:client/test-*"]
    );
}

const POLICY_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/policy/shared-subscription-policy.json"
);

/// policy/README.md says the file is `--print-policy` with no other flag: the policy of the
/// default command (`cargo run -- --endpoint E --cert C --key K`).
#[test]
fn the_policy_file_in_the_repository_is_the_printed_one() {
    let (_, run) = print_policy(&[]);
    let file =
        std::fs::read_to_string(POLICY_FILE).expect("policy/shared-subscription-policy.json");
    assert_eq!(
        file, run.stdout,
        "regenerate it: cargo run -- --print-policy > policy/shared-subscription-policy.json"
    );
}

/// The shipped file is a policy AWS takes (the reader refuses what AWS would, size included),
/// and it allows what the default command does with the ids it makes up, and nothing more.
#[test]
fn the_shipped_policy_fits_the_default_command() {
    let file =
        std::fs::read_to_string(POLICY_FILE).expect("policy/shared-subscription-policy.json");
    let policy = Policy::parse(&file).unwrap_or_else(|e| panic!("{e}"));
    // A made-up id as cli.rs makes it: `test-` and 8 hex digits.
    let shape = Shape {
        made_up: true,
        ..Shape::one_group("test-5fabbb44", "test/topic", "rust-sample", 2)
    };
    assert_allows_the_run_and_refuses_neighbours(&policy, &shape, true);
    // The examples connect as test-<pid>-member and test-<pid>-publisher.
    assert!(policy
        .decide(&Request::connect("test-4242-member"))
        .is_allowed());
    assert!(!policy
        .decide(&Request::connect("my-test-publisher"))
        .is_allowed());
}

#[test]
fn region_and_account_without_print_policy_are_refused() {
    let run = tool(&["--demo", "--region", "eu-west-1"]);
    assert_one_line_error(&run, 2, &["--region", "--print-policy"]);
    let run = tool(&["--print-policy", "--account", "12345"]);
    assert_one_line_error(&run, 2, &["--account '12345'", "12 digits"]);
}

/// `--region "$(aws configure get region)"` with no region configured passes an empty string:
/// one line that says where it came from, and nothing on stdout (the README's walkthrough
/// writes stdout to policy.json).
#[test]
fn an_empty_region_is_one_clear_line_and_no_policy() {
    let run = tool(&["--print-policy", "--client_id", "my-test", "--region", ""]);
    assert_one_line_error(
        &run,
        2,
        &[
            "--region is empty",
            "aws configure get region",
            "--region eu-west-1",
        ],
    );
    assert_eq!(run.stdout, "", "{run}");
    let run = tool(&["--print-policy", "--account", ""]);
    assert_one_line_error(&run, 2, &["--account is empty", "sts get-caller-identity"]);
}

// --- The policy read back, as AWS reads it ---------------------------------------------------

/// What a run asks AWS for, from the naming the README and `--help` document: the publisher
/// `<ID>-publisher`, members `<ID>-subscriber-<k>` (with several groups
/// `<ID>-<group>-subscriber-<k>`), `<ID>-control`, and `<ID>-check` for `--check`.
struct Shape {
    id: String,
    topic: String,
    groups: Vec<String>,
    members_per_group: u16,
    control: bool,
    /// No --client_id: the policy allows any id that starts with `test-`, so an id that only
    /// starts like this run's is no neighbour.
    made_up: bool,
}

impl Shape {
    fn one_group(id: &str, topic: &str, group: &str, members: u16) -> Shape {
        Shape {
            id: id.into(),
            topic: topic.into(),
            groups: vec![group.into()],
            members_per_group: members,
            control: false,
            made_up: false,
        }
    }

    fn publisher(&self) -> String {
        format!("{}-publisher", self.id)
    }

    /// Each member's id and its `$share` filter.
    fn members(&self) -> Vec<(String, String)> {
        let mut members = Vec::new();
        for group in &self.groups {
            let prefix = match self.groups.len() {
                1 => self.id.clone(),
                _ => format!("{}-{group}", self.id),
            };
            for k in 1..=self.members_per_group {
                members.push((
                    format!("{prefix}-subscriber-{k}"),
                    format!("$share/{group}/{}", self.topic),
                ));
            }
        }
        members
    }

    /// Every (action, resource) the run uses.
    fn requests(&self) -> Vec<Request> {
        let topic = &self.topic;
        let mut requests = vec![
            Request::connect(&self.publisher()),
            Request::connect(&format!("{}-check", self.id)),
            Request::publish(&self.publisher(), topic),
        ];
        for (member, filter) in self.members() {
            requests.push(Request::connect(&member));
            requests.push(Request::subscribe(&member, &filter));
            // AWS checks a member's deliveries against the `$share` form; grant the plain one
            // too, as the policy does.
            requests.push(Request::receive(&member, &filter));
            requests.push(Request::receive(&member, topic));
        }
        if self.control {
            let control = format!("{}-control", self.id);
            requests.push(Request::connect(&control));
            requests.push(Request::subscribe(&control, topic));
            requests.push(Request::receive(&control, topic));
        }
        requests
    }

    /// Requests next to the run's that the policy must refuse: another client id, another
    /// topic, another group (where the policy names the groups), a publish into `$share`, a
    /// plain subscription without --control, MQTT wildcards, another action.
    fn neighbours(&self, groups_named: bool) -> Vec<Request> {
        let (id, topic) = (&self.id, &self.topic);
        let member = self.members()[0].0.clone();
        let publisher = self.publisher();
        let mut neighbours = vec![
            Request::connect("other-publisher"),
            Request::connect(&format!("x{id}-publisher")),
            Request::publish(&publisher, &format!("{topic}/x")),
            Request::publish(&publisher, &format!("{topic}x")),
            Request::publish(&publisher, &format!("$share/{}/{topic}", self.groups[0])),
            Request::publish(&publisher, "#"),
            Request::subscribe(&member, "#"),
            Request::subscribe(&member, &format!("{topic}/#")),
            Request::subscribe(&member, &format!("$share/{}/{topic}/x", self.groups[0])),
            Request::receive(&member, &format!("{topic}/x")),
            Request {
                action: "iot:UpdateThingShadow",
                resource: format!("thing/{id}"),
                client_id: member.clone(),
            },
        ];
        if !self.made_up {
            neighbours.push(Request::connect(&format!("{id}x-subscriber-1")));
        }
        if !self.control {
            neighbours.push(Request::subscribe(&member, topic));
        }
        if groups_named {
            neighbours.push(Request::subscribe(
                &member,
                &format!("$share/other/{topic}"),
            ));
            neighbours.push(Request::receive(&member, &format!("$share/other/{topic}")));
        }
        neighbours
    }
}

fn assert_allows_the_run_and_refuses_neighbours(
    policy: &Policy,
    shape: &Shape,
    groups_named: bool,
) {
    for request in shape.requests() {
        let decision = policy.decide(&request);
        assert!(
            decision.is_allowed(),
            "[{}] {request}: {decision}",
            request.client_id
        );
    }
    for request in shape.neighbours(groups_named) {
        let decision = policy.decide(&request);
        assert!(
            !decision.is_allowed(),
            "[{}] {request}: {decision}",
            request.client_id
        );
    }
}

/// Prints the policy for `flags`, checks it is within AWS's size limit, and reads it back.
fn printed(flags: &[&str]) -> (Policy, Run) {
    let (_, run) = print_policy(flags);
    let size = policy_characters(&run.stdout);
    assert!(size <= MAX_POLICY_CHARACTERS, "{size} characters\n{run}");
    let policy = Policy::parse(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{run}"));
    (policy, run)
}

#[test]
fn the_printed_policy_allows_exactly_what_a_run_uses() {
    let (policy, run) = printed(&["--client_id", "my-test"]);
    assert_allows_the_run_and_refuses_neighbours(
        &policy,
        &Shape::one_group("my-test", "test/topic", "rust-sample", 2),
        true,
    );
    assert!(!run.stderr.contains("characters"), "exact, no note: {run}");
    // Real ARNs read the same.
    let (policy, _) = printed(&[
        "--client_id",
        "my-test",
        "--region",
        "eu-west-1",
        "--account",
        "123456789012",
    ]);
    assert_allows_the_run_and_refuses_neighbours(
        &policy,
        &Shape::one_group("my-test", "test/topic", "rust-sample", 2),
        true,
    );
    // Several groups and a control subscriber.
    let (policy, _) = printed(&[
        "--client_id",
        "c",
        "--groups",
        "blue,green",
        "--subscribers",
        "3",
        "--control",
    ]);
    let shape = Shape {
        id: "c".into(),
        topic: "test/topic".into(),
        groups: vec!["blue".into(), "green".into()],
        members_per_group: 3,
        control: true,
        made_up: false,
    };
    assert_allows_the_run_and_refuses_neighbours(&policy, &shape, true);
}

/// 100 members: the exact policy would be over 6,000 characters, which AWS refuses; the printed
/// one names the members `my-test-subscriber-*`, says so, and still refuses the neighbours.
#[test]
fn a_hundred_members_fit_with_one_wildcard_for_the_members() {
    let (policy, run) = printed(&["--client_id", "my-test", "--subscribers", "100"]);
    assert!(run.stderr.contains("client/my-test-subscriber-*"), "{run}");
    assert!(run.stderr.contains("over the 2048"), "{run}");
    assert_allows_the_run_and_refuses_neighbours(
        &policy,
        &Shape::one_group("my-test", "test/topic", "rust-sample", 100),
        true,
    );
    // The publisher and --check are still named exactly.
    assert!(!policy
        .decide(&Request::connect("my-test-publisher2"))
        .is_allowed());
}

/// 5 groups of 20 members (100 in all) with real ARNs: one wildcard per group's members, every
/// group named exactly.
#[test]
fn five_groups_of_twenty_fit_with_a_wildcard_per_group() {
    let (policy, run) = printed(&[
        "--client_id",
        "my-test",
        "--groups",
        "g1,g2,g3,g4,g5",
        "--subscribers",
        "20",
        "--region",
        "eu-west-1",
        "--account",
        "123456789012",
    ]);
    assert!(
        run.stderr.contains("client/my-test-g5-subscriber-*"),
        "{run}"
    );
    let shape = Shape {
        id: "my-test".into(),
        topic: "test/topic".into(),
        groups: (1..=5).map(|g| format!("g{g}")).collect(),
        members_per_group: 20,
        control: false,
        made_up: false,
    };
    assert_allows_the_run_and_refuses_neighbours(&policy, &shape, true);
    // A member of one group is not allowed to connect under another group's name pattern
    // beyond the run: g6 is no group of this run.
    assert!(!policy
        .decide(&Request::connect("my-test-g6-subscriber-1"))
        .is_allowed());
}

/// So many groups that even their names do not fit: every client as `<ID>-*` and every group as
/// `$share/*/<topic>`, said on stderr.
#[test]
fn forty_groups_fit_only_with_a_group_wildcard() {
    let groups: Vec<String> = (1..=40).map(|g| format!("group{g}")).collect();
    let list = groups.join(",");
    let (policy, run) = printed(&[
        "--client_id",
        "my-test",
        "--groups",
        &list,
        "--subscribers",
        "1",
    ]);
    assert!(run.stderr.contains("client/my-test-*"), "{run}");
    assert!(run.stderr.contains("$share/*/test/topic"), "{run}");
    let shape = Shape {
        id: "my-test".into(),
        topic: "test/topic".into(),
        groups,
        members_per_group: 1,
        control: false,
        made_up: false,
    };
    assert_allows_the_run_and_refuses_neighbours(&policy, &shape, false);
}

/// When not even the widest policy fits, no policy is printed: exit 2 with the reason. A topic
/// of `*` characters takes 4 characters each in a policy (`${*}`), in four resources.
#[test]
fn a_run_no_policy_can_fit_is_refused_with_the_reason() {
    let topic = "*".repeat(200);
    let run = tool(&[
        "--print-policy",
        "--client_id",
        "my-test",
        "--topic",
        &topic,
    ]);
    assert_one_line_error(
        &run,
        2,
        &["no policy for this run fits", "2048", "shorter --topic"],
    );
    assert_eq!(run.stdout, "", "{run}");
}

/// The escapes survive the round trip: the reader takes `${*}` as a star, not a wildcard.
#[test]
fn escaped_flags_are_allowed_as_themselves_only() {
    let (id, topic, group) = ("dev*?", "a?/b*", "g*");
    let (policy, _) = printed(&[
        "--client_id",
        id,
        "--topic",
        topic,
        "--group_identifier",
        group,
        "--subscribers",
        "1",
    ]);
    assert_allows_the_run_and_refuses_neighbours(
        &policy,
        &Shape::one_group(id, topic, group, 1),
        true,
    );
    // What a wildcard would have let in.
    assert!(!policy
        .decide(&Request::connect("devXY-publisher"))
        .is_allowed());
    assert!(!policy
        .decide(&Request::publish("dev*?-publisher", "aX/bYZ"))
        .is_allowed());
}

// --- AWS's limits ---------------------------------------------------------------------------------

/// A run against `endpoint` with certificate files that do not exist: a limit refused on AWS
/// ends it first (exit 2 naming the limit); elsewhere it goes on to fail on `--cert`.
fn against(endpoint: &str, more: &[&str]) -> Run {
    let mut args = vec![
        "--endpoint",
        endpoint,
        "--cert",
        "/no/such/device.pem.crt",
        "--key",
        "/no/such/private.pem.key",
    ];
    args.extend_from_slice(more);
    tool(&args)
}

#[test]
fn a_topic_over_256_bytes_is_refused_on_aws() {
    let topic = "t".repeat(257);
    let run = against(AWS_ENDPOINT, &["--topic", &topic]);
    assert_one_line_error(&run, 2, &["--topic", "257 bytes", "at most 256"]);
}

#[test]
fn a_topic_with_more_than_7_slashes_is_refused_on_aws() {
    let run = against(AWS_ENDPOINT, &["--topic", "a/b/c/d/e/f/g/h/i"]);
    assert_one_line_error(&run, 2, &["--topic", "8 '/'", "at most 7"]);
    // Seven are fine: the `$share/<group>/` prefix does not count (see aws/limits.rs).
    let run = against(AWS_ENDPOINT, &["--topic", "a/b/c/d/e/f/g/h"]);
    assert_one_line_error(&run, 2, &["--cert"]);
}

#[test]
fn a_client_id_over_128_bytes_is_refused_on_aws_counting_the_member_suffix() {
    // 115 + "-subscriber-2" = 128 bytes: fits. 116 + "-subscriber-10" = 130: does not.
    let id = "x".repeat(115);
    let run = against(AWS_ENDPOINT, &["--client_id", &id]);
    assert_one_line_error(&run, 2, &["--cert"]);
    let id = "x".repeat(116);
    let run = against(
        AWS_ENDPOINT,
        &["--client_id", &id, "--subscribers", "10", "--aws"],
    );
    assert_one_line_error(
        &run,
        2,
        &["--client_id", "-subscriber-10', 130 bytes", "by 2 bytes"],
    );
}

/// A run over processes publishes its end-of-run marker one level below the topic: a topic at
/// the limit leaves it no room.
#[test]
fn a_role_run_needs_room_for_the_end_of_run_marker_on_aws() {
    let topic = "a/b/c/d/e/f/g/h";
    let run = against(
        "abc123-ats.iot.eu-west-1.amazonaws.com",
        &["--topic", topic, "--role", "subscriber", "--run-id", "r"],
    );
    support::assert_one_line_error(
        &run,
        2,
        &[
            "end-of-run marker",
            "a/b/c/d/e/f/g/h/end-of-run",
            "one level shorter",
        ],
    );
    // The same topic in a single-process run is fine.
    let run = against(
        "abc123-ats.iot.eu-west-1.amazonaws.com",
        &["--topic", topic, "--timeout", "100ms"],
    );
    assert!(!run.stderr.contains("end-of-run"), "{run}");
}

#[test]
fn a_topic_under_dollar_aws_is_refused_on_aws() {
    let run = against(AWS_ENDPOINT, &["--topic", "$aws/things/dev/shadow/update"]);
    assert_one_line_error(&run, 2, &["--topic", "$aws/", "reserves"]);
}

/// AWS reserves every topic and client id that begins with `$`, not only `$aws/`.
#[test]
fn topics_and_client_ids_beginning_with_a_dollar_are_refused_on_aws() {
    let run = against(AWS_ENDPOINT, &["--topic", "$SYS/broker/load"]);
    assert_one_line_error(&run, 2, &["--topic '$SYS/broker/load'", "begin with $"]);
    let run = against(AWS_ENDPOINT, &["--client_id", "$me"]);
    assert_one_line_error(&run, 2, &["--client_id", "'$me-publisher'", "begin with $"]);
}

#[test]
fn keep_alive_outside_30s_to_20m_is_refused_on_aws() {
    let run = against(AWS_ENDPOINT, &["--keep-alive", "10s"]);
    assert_one_line_error(&run, 2, &["--keep-alive 10s", "30s to 1200s"]);
    let run = against(AWS_ENDPOINT, &["--keep-alive", "21m"]);
    assert_one_line_error(&run, 2, &["--keep-alive 21m", "30s to 1200s"]);
    // Both ends are fine: the run goes on to the certificate.
    for keep_alive in ["30s", "20m"] {
        let run = against(AWS_ENDPOINT, &["--keep-alive", keep_alive]);
        assert_one_line_error(&run, 2, &["--cert"]);
    }
}

#[test]
fn session_expiry_over_7_days_is_refused_and_over_an_hour_is_a_warning_on_aws() {
    let run = against(AWS_ENDPOINT, &["--session-expiry", "8days"]);
    assert_one_line_error(&run, 2, &["--session-expiry 8days", "at most 7 days"]);
    let run = against(AWS_ENDPOINT, &["--session-expiry", "2h"]);
    assert_one_line_error(&run, 2, &["--cert"]);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{run}");
    assert!(
        warnings[0].contains("1 hour") && warnings[0].contains("CONNACK"),
        "{run}"
    );
    // An hour is the default account maximum itself: nothing to say.
    let run = against(AWS_ENDPOINT, &["--session-expiry", "1h"]);
    assert!(!run.stderr.contains("WARN"), "{run}");
}

/// 128 KB of payload at most. The payload is `<--message> [<n>]`: with --count 10 the longest is
/// `... [10]`, 5 bytes more than --message.
#[test]
fn a_payload_over_128_kb_is_refused_on_aws() {
    let fits = "m".repeat(128 * 1024 - 5);
    let run = against(AWS_ENDPOINT, &["--message", &fits]);
    assert_one_line_error(&run, 2, &["--cert"]);
    let over = "m".repeat(128 * 1024 - 4);
    let run = against(AWS_ENDPOINT, &["--message", &over]);
    assert_one_line_error(&run, 2, &["131073 bytes", "128 KB", "shorter --message"]);
}

#[test]
fn the_aws_flag_applies_the_limits_to_any_endpoint_and_print_policy_always_does() {
    let run = against(
        "iot.example.com",
        &["--aws", "--topic", "a/b/c/d/e/f/g/h/i"],
    );
    assert_one_line_error(&run, 2, &["--topic", "at most 7"]);
    let run = tool(&["--print-policy", "--topic", "$aws/rules/r"]);
    assert_one_line_error(&run, 2, &["--topic", "reserves"]);
}

#[test]
fn elsewhere_the_limits_are_warnings_and_the_run_goes_on() {
    let id = "x".repeat(130);
    let run = against(
        "127.0.0.1",
        &[
            "--topic",
            "a/b/c/d/e/f/g/h/i",
            "--client_id",
            &id,
            "--keep-alive",
            "10s",
            "--session-expiry",
            "8days",
        ],
    );
    // The run went past the limits to the next check, the certificate file.
    assert_one_line_error(&run, 2, &["--cert"]);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 4, "{run}");
    assert!(warnings[0].contains("--topic") && warnings[0].contains("at most 7"));
    assert!(warnings[1].contains("--client_id") && warnings[1].contains("at most 128"));
    assert!(warnings[2].contains("--keep-alive 10s"));
    assert!(warnings[3].contains("--session-expiry 8days"));
    assert!(warnings
        .iter()
        .all(|w| w.contains("an error against AWS IoT Core")));
    // AWS's default account maximum is about AWS only: not a warning elsewhere.
    let run = against("127.0.0.1", &["--session-expiry", "2h"]);
    assert!(!run.stderr.contains("WARN"), "{run}");
}
