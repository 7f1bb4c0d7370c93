//! A run spread over processes, as it would be over machines: `--role subscriber` processes hold
//! the members, a `--role publisher` process publishes, and `--merge` reads their `--json`
//! outputs into one exactly-once verdict. Against mosquitto, started by the test.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{mosquitto_or_skip, run_tool, spawn_tool, with, Mosquitto, Run, Spawned};

const LIMIT: Duration = Duration::from_secs(60);

/// A subscriber process with `members` members, its client ids prefixed `client_id`.
fn subscribers(broker: &Mosquitto, run_id: &str, client_id: &str, members: &str) -> Spawned {
    let args = with(
        broker.args(),
        &[
            "--role",
            "subscriber",
            "--run-id",
            run_id,
            "--subscribers",
            members,
            "--client_id",
            client_id,
            "--count",
            "200",
            "--timeout",
            "20s",
            "--json",
        ],
    );
    let mut process = spawn_tool(&args);
    let mut subscribed = 0;
    let all_in = process.wait_for_stdout(
        |line| {
            if line.contains(r#""event":"subscribed""#) {
                subscribed += 1;
            }
            subscribed == members.parse::<usize>().expect("a number")
        },
        LIMIT,
    );
    assert!(all_in, "{client_id}'s members never all subscribed");
    process
}

/// The merged report of `outputs`, each a process's `--json` stdout, written to files.
fn merge(outputs: &[&Run], more: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["--merge".to_owned()];
    for (k, output) in outputs.iter().enumerate() {
        let path = dir.path().join(format!("process-{k}.json"));
        std::fs::write(&path, &output.stdout).expect("write an output");
        args.push(path.display().to_string());
    }
    run_tool(&with(args, more), LIMIT)
}

#[test]
fn two_subscriber_processes_and_a_publisher_merge_into_one_exactly_once_verdict() {
    let Some(mosquitto) = mosquitto_or_skip(
        "two_subscriber_processes_and_a_publisher_merge_into_one_exactly_once_verdict",
    ) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let first = subscribers(&broker, "t-roles-1", "t-east", "2");
    let second = subscribers(&broker, "t-roles-1", "t-west", "1");
    let publisher = run_tool(
        &with(
            broker.args(),
            &[
                "--role",
                "publisher",
                "--run-id",
                "t-roles-1",
                "--client_id",
                "t-pub",
                "--count",
                "200",
                "--json",
            ],
        ),
        LIMIT,
    );
    assert_eq!(publisher.code, Some(0), "{publisher}");
    let published = publisher.summary();
    assert_eq!(published["role"], "publisher", "{published}");
    assert_eq!(published["acknowledged"], 200, "{published}");
    assert!(
        publisher.stderr.contains("end-of-run marker"),
        "{publisher}"
    );

    // The marker ends both subscriber processes long before their 20 s of silence.
    let (first, second) = (first.finish(LIMIT), second.finish(LIMIT));
    for process in [&first, &second] {
        assert_eq!(process.code, Some(0), "{process}");
        assert_eq!(process.summary()["role"], "subscriber", "{process}");
        assert!(
            process.summary()["elapsed_ms"].as_u64() < Some(15_000),
            "{process}"
        );
        assert!(!process.events("end_of_run").is_empty(), "{process}");
    }
    // Every line is what the README's --json tables say.
    support::assert_json_matches_readme(&publisher, &["connected", "published", "summary"]);
    support::assert_json_matches_readme(
        &first,
        &[
            "connected",
            "subscribed",
            "received",
            "end_of_run",
            "summary",
        ],
    );
    // Each process saw only its share...
    let got = |run: &Run| run.summary()["unique"].as_u64().expect("unique");
    assert!(got(&first) > 0 && got(&second) > 0, "{first}\n{second}");
    assert_eq!(got(&first) + got(&second), 200, "{first}\n{second}");

    // ...and the merge sees the group: every message exactly once, three members in two processes.
    let merged = merge(&[&publisher, &first, &second], &["--json"]);
    assert_eq!(merged.code, Some(0), "{merged}");
    let summary = merged.summary();
    assert_eq!(summary["role"], "merged", "{summary}");
    assert_eq!(summary["run_id"], "t-roles-1", "{summary}");
    assert_eq!(summary["verdict"], "ok", "{summary}");
    assert_eq!(summary["unique"], 200, "{summary}");
    assert_eq!(summary["missing"], Value::Array(vec![]), "{summary}");
    assert_eq!(summary["duplicated"], Value::Array(vec![]), "{summary}");
    let members = summary["members"].as_object().expect("members");
    assert_eq!(members.len(), 3, "{summary}");
    for id in [
        "t-east-subscriber-1",
        "t-east-subscriber-2",
        "t-west-subscriber-1",
    ] {
        assert!(members[id]["count"].as_u64() > Some(0), "{id}: {summary}");
    }
    // The human report is the one a single run prints.
    let report = merge(&[&publisher, &first, &second], &[]);
    assert_eq!(report.code, Some(0), "{report}");
    assert!(
        report.stdout.contains(
            "200 published · 200 delivered exactly once to group 'rust-sample' (3 members"
        ),
        "{report}"
    );
}

#[test]
fn a_process_that_joins_late_shows_up_in_the_merge_and_a_lost_share_is_named() {
    let Some(mosquitto) = mosquitto_or_skip(
        "a_process_that_joins_late_shows_up_in_the_merge_and_a_lost_share_is_named",
    ) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let early = subscribers(&broker, "t-roles-2", "t-early", "1");
    let mut publisher = spawn_tool(&with(
        broker.args(),
        &[
            "--role",
            "publisher",
            "--run-id",
            "t-roles-2",
            "--client_id",
            "t-pub2",
            "--count",
            "200",
            "--interval",
            "10ms",
            "--json",
        ],
    ));
    let publishing = publisher.wait_for_stdout(|line| line.contains(r#""seq":20}"#), LIMIT);
    assert!(publishing, "the publisher never got going");
    let late = subscribers(&broker, "t-roles-2", "t-late", "1");
    let publisher = publisher.finish(LIMIT);
    assert_eq!(publisher.code, Some(0), "{publisher}");
    let (early, late) = (early.finish(LIMIT), late.finish(LIMIT));
    assert_eq!(early.code, Some(0), "{early}");
    assert_eq!(late.code, Some(0), "{late}");
    let late_got = late.summary()["unique"].as_u64().expect("unique");
    assert!(late_got > 0, "the late member got nothing: {late}");

    let merged = merge(&[&publisher, &early, &late], &["--json"]);
    assert_eq!(merged.code, Some(0), "{merged}");
    let summary = merged.summary();
    assert_eq!(summary["unique"], 200, "{summary}");
    assert_eq!(
        summary["members"]["t-late-subscriber-1"]["count"], late_got,
        "{summary}"
    );

    // Leave the late process out: its share is missing, by number, and the exit code says so.
    let partial = merge(&[&publisher, &early], &["--json"]);
    assert_eq!(partial.code, Some(3), "{partial}");
    let summary = partial.summary();
    assert_eq!(summary["verdict"], "missing", "{summary}");
    let missing = summary["missing"].as_array().expect("missing").len() as u64;
    assert_eq!(missing, late_got, "{summary}");
}

/// What a merge refuses: outputs of two runs, no publisher, the same member twice.
#[test]
fn merge_refuses_what_does_not_add_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let summary = |role: &str, run_id: &str, member: &str| {
        format!(
            r#"{{"event":"summary","version":2,"role":"{role}","run_id":"{run_id}","group":"g","topic":"t","qos":1,"count":4,"published":4,"sent":[[1,4]],"unacknowledged":[],"unrouted":[],"members":{{{member}}},"foreign":0,"elapsed_ms":10,"verdict":"partial","held_ms":0,"interrupted":false}}"#
        )
    };
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let publisher = write("pub.json", summary("publisher", "r1", ""));
    let a = write(
        "a.json",
        summary("subscriber", "r1", r#""m-1":{"count":2,"messages":[1,3]}"#),
    );
    let b = write(
        "b.json",
        summary("subscriber", "r1", r#""m-2":{"count":2,"messages":[2,4]}"#),
    );
    let other_run = write(
        "c.json",
        summary("subscriber", "r2", r#""m-3":{"count":1,"messages":[1]}"#),
    );
    let same_member = write(
        "d.json",
        summary("subscriber", "r1", r#""m-1":{"count":1,"messages":[2]}"#),
    );
    let garbage = write("e.json", "not json\n".into());
    let several_groups = write(
        "f.json",
        summary("subscriber", "r1", r#""m-4":{"count":1,"messages":[1]}"#).replace(
            r#""interrupted":false"#,
            r#""interrupted":false,"groups":{}"#,
        ),
    );

    // What adds up passes: 4 messages, two members, once each.
    let ok = run_tool(
        &["--merge".into(), publisher.clone(), a.clone(), b.clone()],
        LIMIT,
    );
    assert_eq!(ok.code, Some(0), "{ok}");
    assert!(
        ok.stdout.contains("4 published · 4 delivered exactly once"),
        "{ok}"
    );

    let refusal = |inputs: &[&String], words: &[&str]| {
        let mut args = vec!["--merge".to_owned()];
        args.extend(inputs.iter().map(|s| s.to_string()));
        let run = run_tool(&args, LIMIT);
        support::assert_one_line_error(&run, 2, words);
    };
    refusal(
        &[&publisher, &a, &other_run],
        &["is run r1 but", "is run r2", "--run-id"],
    );
    refusal(
        &[&a, &b],
        &["needs exactly one publisher's summary", "found 0"],
    );
    refusal(
        &[&publisher, &a, &same_member],
        &["member m-1 appears twice", "--client_id"],
    );
    refusal(
        &[&publisher, &garbage],
        &["holds no summary line", "--json"],
    );
    refusal(
        &[&publisher, &several_groups],
        &["several groups", "one --group_identifier"],
    );
    refusal(
        &[
            &publisher,
            &dir.path().join("nope.json").display().to_string(),
        ],
        &["cannot read", "nope.json"],
    );
}

/// The roles need a run id, and say so before any network.
#[test]
fn a_role_without_a_run_id_is_a_usage_error() {
    for role in ["publisher", "subscriber"] {
        let run = run_tool(
            &[
                "--endpoint".into(),
                "127.0.0.1".into(),
                "--cert".into(),
                "c.pem".into(),
                "--key".into(),
                "k.pem".into(),
                "--role".into(),
                role.into(),
            ],
            LIMIT,
        );
        support::assert_one_line_error(&run, 2, &[&format!("--role {role} needs --run-id")]);
    }
}

/// Members whose publisher never comes: after --timeout of silence, exit 1 with the likely
/// cause, and still a summary (an empty one) for a script.
#[test]
fn subscribers_that_hear_nothing_say_why() {
    let Some(mosquitto) = mosquitto_or_skip("subscribers_that_hear_nothing_say_why") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = run_tool(
        &with(
            broker.args(),
            &[
                "--role",
                "subscriber",
                "--run-id",
                "nobody",
                "--timeout",
                "1s",
                "--json",
            ],
        ),
        LIMIT,
    );
    support::assert_one_line_error(&run, 1, &["no message of run nobody", "--run-id nobody"]);
    assert_eq!(run.summary()["unique"], 0, "{run}");
}

/// A process that holds part of the group's messages cannot know the group's verdict: it says
/// `partial` (in JSON and in words, naming `--json` as what merges), exits 0 for a part that went
/// without fault, and the merge still judges the group.
#[test]
fn a_process_with_part_of_the_messages_says_partial_and_the_merge_judges() {
    let Some(mosquitto) =
        mosquitto_or_skip("a_process_with_part_of_the_messages_says_partial_and_the_merge_judges")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let json = subscribers(&broker, "t-roles-3", "t-json", "1");
    // The other process prints its report, not --json: nothing a merge can read.
    let text = {
        let args = with(
            broker.args(),
            &[
                "--role",
                "subscriber",
                "--run-id",
                "t-roles-3",
                "--client_id",
                "t-text",
                "--subscribers",
                "1",
                "--count",
                "20",
                "--timeout",
                "20s",
            ],
        );
        let mut process = spawn_tool(&args);
        let in_group = process.wait_for_stderr(|line| line.contains("in the group"), LIMIT);
        assert!(in_group, "the text process's member never got in");
        process
    };
    let publisher = run_tool(
        &with(
            broker.args(),
            &[
                "--role",
                "publisher",
                "--run-id",
                "t-roles-3",
                "--client_id",
                "t-pub3",
                "--count",
                "20",
                "--json",
            ],
        ),
        LIMIT,
    );
    assert_eq!(publisher.code, Some(0), "{publisher}");
    assert_eq!(publisher.summary()["verdict"], "partial", "{publisher}");
    let (json, text) = (json.finish(LIMIT), text.finish(LIMIT));

    // Each process: its part, no claim on the group, exit 0.
    let summary = json.summary();
    assert_eq!(json.code, Some(0), "{json}");
    assert_eq!(summary["verdict"], "partial", "{summary}");
    let held = summary["unique"].as_u64().expect("unique");
    assert!(held > 0 && held < 20, "one member of two got {held}");
    assert_eq!(summary["missing"], Value::Array(vec![]), "{summary}");
    assert_eq!(text.code, Some(0), "{text}");
    assert!(
        text.stdout.contains(
            "partial: the group's verdict is --merge's, from the --json output of this process"
        ),
        "{text}"
    );
    assert!(!text.stdout.contains("exactly once"), "{text}");

    // The merge of what can be merged judges the group: the text process's share is missing.
    let merged = merge(&[&publisher, &json], &["--json"]);
    assert_eq!(merged.code, Some(3), "{merged}");
    let summary = merged.summary();
    assert_eq!(summary["verdict"], "missing", "{summary}");
    let missing = summary["missing"].as_array().expect("missing").len() as u64;
    assert_eq!(missing, 20 - held, "{summary}");
}

/// A merge input is a file from elsewhere: every count it carries is bounded before it drives
/// any work. A foreign count of a trillion once made the merge build one event per message
/// (it never ended); now it is a number added, and the answer is immediate. What no run can
/// have is refused in one line naming the file and the field.
#[test]
fn merge_bounds_every_count_a_file_carries() {
    let dir = tempfile::tempdir().expect("temp dir");
    let line = |role: &str, fields: &str, member: &str| {
        format!(
            r#"{{"event":"summary","version":2,"role":"{role}","run_id":"r","group":"g","topic":"t","qos":1,{fields},"members":{{{member}}},"elapsed_ms":10,"verdict":"partial"}}"#
        )
    };
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let fine = r#""count":4,"published":4,"sent":[[1,4]]"#;
    let publisher = write("pub.json", line("publisher", fine, ""));
    let members = r#""m-1":{"count":4,"messages":[1,2,3,4]}"#;
    let foreign = write(
        "foreign.json",
        line(
            "subscriber",
            &format!(r#"{fine},"foreign":1000000000000"#),
            members,
        ),
    );
    let started = std::time::Instant::now();
    let run = run_tool(&["--merge".into(), publisher.clone(), foreign], LIMIT);
    let took = started.elapsed();
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("· 1000000000000 foreign"), "{run}");
    // Well under a second here; 10 s leaves room for a loaded CI machine, and the old loop over
    // a trillion foreign messages never ended.
    assert!(took < Duration::from_secs(10), "the merge took {took:?}");

    let members = write("m.json", line("subscriber", fine, members));
    for (name, fields, member, words) in [
        (
            "count.json",
            r#""count":20000000,"published":0,"sent":[]"#,
            "",
            "`count` is 20000000",
        ),
        (
            "sent.json",
            r#""count":4,"published":4000000000,"sent":[[1,4000000000]]"#,
            "",
            "`sent` holds 1..4000000000",
        ),
        (
            "overlap.json",
            r#""count":4,"published":8,"sent":[[1,4],[1,4]]"#,
            "",
            "overlaps or precedes",
        ),
        (
            "published.json",
            r#""count":4,"published":4000000000,"sent":[[1,4]]"#,
            "",
            "`published` is 4000000000",
        ),
        (
            "zero.json",
            fine,
            r#""m-2":{"count":1,"messages":[0]}"#,
            "`members` holds #0",
        ),
        (
            "huge.json",
            fine,
            r#""m-2":{"count":1,"messages":[4294967295]}"#,
            "`members` holds #4294967295",
        ),
    ] {
        let role = if member.is_empty() {
            "publisher"
        } else {
            "subscriber"
        };
        let bad = write(name, line(role, fields, member));
        let inputs = if member.is_empty() {
            [bad, members.clone()]
        } else {
            [publisher.clone(), bad]
        };
        let mut args = vec!["--merge".to_owned()];
        args.extend(inputs);
        let run = run_tool(&args, LIMIT);
        support::assert_one_line_error(&run, 2, &[name, words]);
    }
    // A summary of another schema is refused too, by its version.
    let old = write(
        "old.json",
        line("subscriber", fine, r#""m-3":{"count":1,"messages":[1]}"#)
            .replace(r#""version":2,"#, ""),
    );
    let run = run_tool(&["--merge".into(), publisher, old], LIMIT);
    support::assert_one_line_error(&run, 2, &["old.json", "version 1", "version 2"]);
}
