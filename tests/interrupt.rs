//! Ctrl-C and SIGTERM mid-run: stop publishing, leave the group, disconnect, print the partial
//! report, exit 130. Runs against the embedded demo broker, so it needs nothing installed.

#![cfg(unix)]

mod support;

use std::process::Command;
use std::time::Duration;

use support::{spawn_tool, Run};

const LIMIT: Duration = Duration::from_secs(30);

/// Starts a slow demo run, sends `signal` once messages flow, and returns how it ended.
fn interrupt_with(signal: &str, more: &[&str]) -> Run {
    let mut args: Vec<String> = [
        "--demo",
        "--count",
        "2000",
        "--interval",
        "5ms",
        "--client_id",
        "ctrl-c",
        // 2000 messages are past the default's line-per-message limit; the test waits for one.
        "--per-message-logs",
        "on",
    ]
    .map(String::from)
    .into();
    args.extend(more.iter().map(|s| s.to_string()));
    let mut run = spawn_tool(&args);
    // Wait until messages are flowing, so the run is really in the middle.
    let flowing = if more.contains(&"--json") {
        run.wait_for_stdout(|line| line.contains(r#""event":"received""#), LIMIT)
    } else {
        run.wait_for_stderr(|line| line.contains(" received #"), LIMIT)
    };
    assert!(flowing, "no receipts within {LIMIT:?}");
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", run.id())])
        .status()
        .expect("send signal");
    assert!(status.success());
    run.finish(LIMIT)
}

fn check_partial_report(signal: &str) {
    let run = interrupt_with(signal, &[]);
    assert_eq!(run.code, Some(130), "{run}");
    assert!(run.stderr.contains("interrupted"), "{run}");
    // The partial report: a verdict line with fewer than all 2000 published, and the reason.
    let verdict = run
        .stdout
        .lines()
        .find(|l| l.contains(" published · "))
        .unwrap_or_else(|| panic!("no verdict line\n{run}"));
    let published: u32 = verdict
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("published count");
    assert!(published > 0 && published < 2000, "{verdict}");
    assert!(
        run.stdout
            .contains("of 2000 messages were never sent (the run stopped early)"),
        "{run}"
    );
    // Every member left the group and disconnected: no error, no panic.
    assert!(!run.stderr.contains("error:"), "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
}

#[test]
fn ctrl_c_prints_the_partial_report_and_exits_130() {
    check_partial_report("INT");
}

#[test]
fn sigterm_prints_the_partial_report_and_exits_130() {
    check_partial_report("TERM");
}

/// The books balance when the run is cut short: every message received counts as sent, every
/// sent one is received or missing, and nothing received is numbered above what was sent.
#[test]
fn an_interrupted_run_keeps_its_books_balanced() {
    let run = interrupt_with("INT", &["--json"]);
    assert_eq!(run.code, Some(130), "{run}");
    let summary = run.summary();
    assert_eq!(summary["interrupted"], true, "{summary}");
    support::assert_json_matches_readme(&run, &["received", "summary"]);
    let number = |key: &str| summary[key].as_u64().expect(key);
    let missing = summary["missing"].as_array().expect("missing").len() as u64;
    assert_eq!(number("unique") + missing, number("published"), "{summary}");
    assert!(number("published") < 2000, "{summary}");
    assert_eq!(number("count"), 2000, "{summary}");
    let highest = summary["members"]
        .as_object()
        .expect("members")
        .values()
        .flat_map(|member| member["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|seq| seq.as_u64())
        .max()
        .unwrap_or_default();
    assert!(highest <= number("published"), "{summary}");
    // Whatever was sent and never acknowledged is listed, and is a sent message.
    for seq in summary["unacknowledged"]
        .as_array()
        .expect("unacknowledged")
    {
        assert!(seq.as_u64() <= Some(number("published")), "{summary}");
    }
}

/// At full speed the publisher's request queue is full when Ctrl-C comes: leaving must not wait
/// for room in it (it used to wait out the whole --timeout, with the broker's keep-alive error,
/// and `docker stop` killed it before the report). Whether the queue is full at the moment of
/// the signal depends on timing, so three runs stop at three moments.
#[test]
fn ctrl_c_at_full_speed_ends_within_seconds() {
    for (round, after) in [1500u64, 2500, 3500].into_iter().enumerate() {
        let args: Vec<String> = [
            "--demo",
            "--count",
            "3000000",
            "-q",
            "--client_id",
            &format!("ctrl-c-fast-{round}"),
            "--timeout",
            "60s",
        ]
        .map(String::from)
        .into();
        let run = spawn_tool(&args);
        std::thread::sleep(Duration::from_millis(after));
        let stopped_at = std::time::Instant::now();
        Command::new("kill")
            .args(["-INT", &run.id().to_string()])
            .status()
            .expect("send signal");
        let run = run.finish(Duration::from_secs(90));
        let took = stopped_at.elapsed();
        assert_eq!(run.code, Some(130), "{run}");
        assert!(
            took < Duration::from_secs(15),
            "Ctrl-C {after} ms into the run took {took:?} to end it\n{run}"
        );
        assert!(!run.stderr.contains("DISCONNECT not sent"), "{run}");
    }
}
