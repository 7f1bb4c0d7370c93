//! `--demo` end to end: the real binary, its embedded mTLS broker, no external process.

#![cfg(feature = "demo")]

mod support;

use std::time::Duration;

use support::run_tool;

const LIMIT: Duration = Duration::from_secs(60);

fn demo(more: &[&str]) -> Vec<String> {
    std::iter::once("--demo")
        .chain(more.iter().copied())
        .map(String::from)
        .collect()
}

#[test]
fn default_demo_delivers_ten_messages_exactly_once() {
    let run = run_tool(&demo(&[]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains(
            "10 published · 10 delivered exactly once to group 'rust-sample' (2 members) · 0 missing · 0 duplicated"
        ),
        "{run}"
    );
    assert_eq!(run.stderr.matches(" received #").count(), 10, "{run}");
    // The report's table has one row per member, each with its share.
    assert!(run.stdout.contains("-subscriber-1  "), "{run}");
    assert!(run.stdout.contains("-subscriber-2  "), "{run}");
}

fn check_bulk_run(qos: &str) {
    let run = run_tool(
        &demo(&[
            "--subscribers",
            "5",
            "--count",
            "1000",
            "--qos",
            qos,
            "--json",
            "-q",
        ]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["qos"].to_string(), qos);
    assert_eq!(summary["published"], 1000);
    assert_eq!(summary["received"], 1000);
    assert_eq!(summary["unique"], 1000);
    assert_eq!(summary["missing"].as_array().map(Vec::len), Some(0));
    assert_eq!(summary["duplicated"].as_array().map(Vec::len), Some(0));
    assert_eq!(summary["verdict"], "ok");
    let members = summary["members"].as_object().expect("members");
    assert_eq!(members.len(), 5);
    let total: u64 = members
        .values()
        .map(|m| {
            let count = m["count"].as_u64().expect("count");
            assert!(count > 0, "a member got nothing: {summary}");
            count
        })
        .sum();
    assert_eq!(total, 1000);
}

#[test]
fn five_members_share_a_thousand_messages_at_qos1() {
    check_bulk_run("1");
}

#[test]
fn five_members_share_a_thousand_messages_at_qos0() {
    check_bulk_run("0");
}

#[test]
fn keep_running_requires_demo() {
    let run = run_tool(&["--keep-running".into(), "/tmp/x".into()], LIMIT);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--demo"), "{run}");
}
