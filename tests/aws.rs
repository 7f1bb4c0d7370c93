//! AWS IoT Core, before the network: `--print-policy` allows exactly what a run uses, and AWS's
//! limits end a run with exit 2 against an AWS endpoint, a warning elsewhere.
//!
//! None of these needs a broker or an AWS account: the policy is printed without connecting, and
//! the limits are checked before the certificate files are even read.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

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

#[test]
fn a_random_client_id_is_called_out_on_stderr() {
    let (policy, run) = print_policy(&["--region", "eu-west-1", "--account", "123456789012"]);
    assert!(run.stderr.contains("no --client_id"), "{run}");
    assert!(run.stderr.contains("--client_id my-test"), "{run}");
    // The ids in the policy are the made-up ones the warning speaks of.
    let connects = grants(&policy)
        .into_iter()
        .filter(|(action, _)| action == "iot:Connect")
        .count();
    assert_eq!(connects, 4, "publisher, 2 members, --check");
}

#[test]
fn the_policy_file_in_the_repository_is_the_printed_one() {
    // policy/README.md documents this command line; regenerate the file with it.
    let (_, run) = print_policy(&["--client_id", "my-test"]);
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policy/shared-subscription-policy.json"
    ))
    .expect("policy/shared-subscription-policy.json");
    assert_eq!(
        file, run.stdout,
        "regenerate it: cargo run -- --print-policy --client_id my-test > policy/shared-subscription-policy.json"
    );
}

#[test]
fn region_and_account_without_print_policy_are_refused() {
    let run = tool(&["--demo", "--region", "eu-west-1"]);
    assert_one_line_error(&run, 2, &["--region", "--print-policy"]);
    let run = tool(&["--print-policy", "--account", "12345"]);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("12 digits"), "{run}");
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
        &["--topic", "a/b/c/d/e/f/g/h/i", "--client_id", &id],
    );
    // The run went past the limits to the next check, the certificate file.
    assert_one_line_error(&run, 2, &["--cert"]);
    let warnings: Vec<&str> = run.stderr.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warnings.len(), 2, "{run}");
    assert!(warnings[0].contains("--topic") && warnings[0].contains("at most 7"));
    assert!(warnings[1].contains("--client_id") && warnings[1].contains("at most 128"));
    assert!(warnings
        .iter()
        .all(|w| w.contains("an error against AWS IoT Core")));
}
