//! A broker that crashes and comes back mid-run: the run must still end in an honest report.
//!
//! mosquitto is killed with SIGKILL (no DISCONNECT to anyone, every session and queued message
//! gone, as in a crash) while the publisher is half-way through a few hundred QoS 1 messages, and
//! started again on the same port with the same certificates. Every client must back off,
//! reconnect, and repair what rumqttc does not: members subscribe again, the publisher re-sends
//! what was not acknowledged. Messages the broker dropped while the group had no member may be
//! missing; the report must say so, and the exit code must match.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{assert_one_line_error, mosquitto_or_skip, spawn_tool, with, Mosquitto, Run};

const LIMIT: Duration = Duration::from_secs(90);
const COUNT: u64 = 400;

/// Starts a run of `COUNT` messages 5 ms apart by two members, with `more` flags, and returns once
/// `after` are published (with `--json`) or received (without).
fn run_until_published(
    broker: &Mosquitto,
    client_id: &str,
    after: usize,
    more: &[&str],
) -> support::Spawned {
    let count = COUNT.to_string();
    let flags = [
        "--count",
        count.as_str(),
        "--interval",
        "5ms",
        "--client_id",
        client_id,
        "--subscribers",
        "2",
    ];
    run_until(broker, &[&flags, more].concat(), after)
}

/// Starts a run with `flags` and returns once `after` messages are published (with `--json`) or
/// received (without).
fn run_until(broker: &Mosquitto, flags: &[&str], after: usize) -> support::Spawned {
    let mut run = spawn_tool(&with(broker.args(), flags));
    let mut seen = 0;
    let reached = if flags.contains(&"--json") {
        run.wait_for_stdout(
            |line| {
                seen += usize::from(line.contains(r#""event":"published""#));
                seen >= after
            },
            Duration::from_secs(30),
        )
    } else {
        // Without --json, published messages are not logged at the default level; received are.
        run.wait_for_stderr(
            |line| {
                seen += usize::from(line.contains("] received #"));
                seen >= after
            },
            Duration::from_secs(30),
        )
    };
    assert!(reached, "only {seen} messages seen before the kill");
    run
}

/// Messages that went missing although the restarted broker acknowledged them with a plain
/// success: none should. A message is lost in a crash only if the old broker had it; one the new
/// broker took while no member was subscribed says so (PUBACK 0x10). Anything else would mean the
/// publisher paired a PUBACK with the wrong number, and never sent the right one again.
fn missing_without_a_reason(run: &Run, publisher: &str) -> Vec<u64> {
    let summary = run.summary();
    let missing: BTreeSet<u64> = numbers(&summary["missing"]).into_iter().collect();
    let mut after_reconnect = false;
    let mut unexplained = Vec::new();
    for line in run.stdout.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match event["event"].as_str() {
            Some("reconnected") if event["client_id"] == publisher => after_reconnect = true,
            Some("published") if after_reconnect => {
                let seq = event["seq"].as_u64().expect("seq");
                if missing.contains(&seq) && event.get("no_matching_subscribers").is_none() {
                    unexplained.push(seq);
                }
            }
            _ => {}
        }
    }
    unexplained
}

fn numbers(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|n| n.as_u64().expect("number"))
        .collect()
}

#[test]
fn broker_restart_mid_run_ends_in_an_honest_report() {
    let Some(mosquitto) = mosquitto_or_skip("broker_restart_mid_run_ends_in_an_honest_report")
    else {
        return;
    };
    let mut broker = Mosquitto::start(&mosquitto);
    // --no-hold: the broker's own behaviour, which the report must tell honestly. With the hold
    // (the default), `tests/outages.rs` shows every message arriving exactly once.
    let run = run_until_published(
        &broker,
        "t-restart",
        100,
        &["--json", "--timeout", "15s", "--no-hold"],
    );
    broker.kill();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    broker.restart();
    let run = run.finish(LIMIT);
    // Worth seeing in the test log: how the outage went.
    eprintln!("run ended {:?} after the kill", killed.elapsed());
    for event in run.events("reconnected") {
        eprintln!("{event}");
    }

    // The run finished with a report, and the exit code matches its verdict.
    let summary = run.summary();
    let expected_code = if summary["verdict"] == "ok" { 0 } else { 3 };
    assert_eq!(run.code, Some(expected_code), "{summary}\n{run}");

    // Every message was PUBACKed once the broker was back: nothing rumqttc dropped stayed lost.
    assert_eq!(summary["published"], COUNT, "{summary}\n{run}");

    // Each message is delivered (once or more) or missing, and nothing is counted twice.
    let missing: BTreeSet<u64> = numbers(&summary["missing"]).into_iter().collect();
    let unique = summary["unique"].as_u64().expect("unique");
    assert_eq!(unique + missing.len() as u64, COUNT, "{summary}");
    let mut delivered = BTreeSet::new();
    let mut receipts = 0;
    for member in summary["members"].as_object().expect("members").values() {
        let messages = numbers(&member["messages"]);
        receipts += messages.len() as u64;
        delivered.extend(messages);
    }
    assert_eq!(receipts, summary["received"], "{summary}");
    assert!(delivered.is_disjoint(&missing), "{summary}");
    assert_eq!(
        delivered.len() as u64 + missing.len() as u64,
        COUNT,
        "{summary}"
    );
    let duplicated = numbers(&summary["duplicated"]);
    assert!(
        duplicated.iter().all(|n| delivered.contains(n)),
        "{summary}"
    );
    let verdict = match (missing.is_empty(), duplicated.is_empty()) {
        (false, _) => "missing",
        (true, false) => "duplicated",
        (true, true) => "ok",
    };
    assert_eq!(summary["verdict"], verdict, "{summary}");

    let unexplained = missing_without_a_reason(&run, "t-restart-publisher");
    assert!(
        unexplained.is_empty(),
        "missing for no reason: {unexplained:?}\n{summary}"
    );

    // Every client reconnected, and said so in the JSON stream.
    let reconnected: BTreeSet<String> = run
        .events("reconnected")
        .iter()
        .map(|event| {
            assert_eq!(event["session_present"], false, "{event}");
            assert!(event["attempts"].as_u64() >= Some(1), "{event}");
            assert!(event["downtime_ms"].as_u64() >= Some(400), "{event}");
            event["client_id"].as_str().expect("client_id").to_owned()
        })
        .collect();
    for client in [
        "t-restart-publisher",
        "t-restart-subscriber-1",
        "t-restart-subscriber-2",
    ] {
        assert!(
            reconnected.contains(client),
            "no reconnected event for {client}\n{run}"
        );
    }
    // Both members hold the subscription again: each subscribed twice.
    assert_eq!(run.events("subscribed").len(), 4, "{run}");
    // The attempts were paced: a handful in half a second, not rumqttc's thousands.
    let attempts: u64 = run
        .events("reconnected")
        .iter()
        .map(|event| event["attempts"].as_u64().unwrap_or_default())
        .sum();
    assert!(attempts <= 3 * 6, "{attempts} attempts\n{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
    eprintln!(
        "verdict {verdict}: {} missing, {} duplicated",
        missing.len(),
        duplicated.len()
    );
}

/// A publisher going flat out has a full window of messages in flight and more in rumqttc's
/// queue when the broker dies; rumqttc drops them all on the reconnect. Every one must be sent
/// again and PUBACKed, each under its own number.
#[test]
fn fast_publisher_sends_again_what_was_not_acknowledged() {
    let Some(mosquitto) = mosquitto_or_skip("fast_publisher_sends_again_what_was_not_acknowledged")
    else {
        return;
    };
    let mut broker = Mosquitto::start(&mosquitto);
    let flags = [
        "--count",
        "5000",
        "--client_id",
        "t-fast",
        "--subscribers",
        "2",
        "--json",
        "--timeout",
        "15s",
        "--verbosity",
        "info",
    ];
    let run = run_until(&broker, &flags, 1000);
    broker.kill();
    std::thread::sleep(Duration::from_millis(300));
    broker.restart();
    let run = run.finish(LIMIT);

    let summary = run.summary();
    assert_eq!(summary["published"], 5000, "{summary}\n{run}");
    let missing = numbers(&summary["missing"]).len() as u64;
    assert_eq!(
        summary["unique"].as_u64().expect("unique") + missing,
        5000,
        "{summary}"
    );
    let expected_code = if summary["verdict"] == "ok" { 0 } else { 3 };
    assert_eq!(run.code, Some(expected_code), "{summary}\n{run}");
    // Each number was confirmed once, though some went out twice.
    let mut published: Vec<u64> = run
        .events("published")
        .iter()
        .map(|event| event["seq"].as_u64().expect("seq"))
        .collect();
    published.sort_unstable();
    assert_eq!(published, (1..=5000).collect::<Vec<u64>>());
    let unexplained = missing_without_a_reason(&run, "t-fast-publisher");
    assert!(
        unexplained.is_empty(),
        "missing for no reason: {unexplained:?}\n{summary}"
    );
    let resent = run
        .stderr
        .lines()
        .find(|line| line.contains("[t-fast-publisher] sending") && line.contains("again"));
    eprintln!("{}", resent.unwrap_or("nothing sent again"));
    eprintln!(
        "verdict {}: {missing} missing, {} duplicated",
        summary["verdict"],
        numbers(&summary["duplicated"]).len()
    );
}

/// The same, read by a human: the report names the reconnects as the reason for what went wrong.
#[test]
fn human_report_names_the_reconnects() {
    let Some(mosquitto) = mosquitto_or_skip("human_report_names_the_reconnects") else {
        return;
    };
    let mut broker = Mosquitto::start(&mosquitto);
    let run = run_until_published(&broker, "t-restart-human", 100, &["--timeout", "15s"]);
    broker.kill();
    std::thread::sleep(Duration::from_millis(300));
    broker.restart();
    let run = run.finish(LIMIT);
    eprintln!("{}", run.stdout);

    assert!(matches!(run.code, Some(0 | 3)), "{run}");
    assert!(run.stdout.contains(&format!("{COUNT} published")), "{run}");
    assert!(run.stdout.contains("reconnects during the run"), "{run}");
    if run.code == Some(3) {
        assert!(
            run.stdout.contains("dropped by the broker") || run.stdout.contains("arrives twice"),
            "{run}"
        );
    }
    // Each reconnect is a log line too.
    assert!(
        run.stderr
            .contains("[t-restart-human-publisher] reconnected after"),
        "{run}"
    );
    assert!(run.stderr.contains("connection lost"), "{run}");
}

/// A broker that never comes back: every client gives up after --timeout, and the run ends with
/// one error line and exit 1, not a hang; the summary before it says what got through.
#[test]
fn broker_that_never_comes_back_fails_after_timeout() {
    let Some(mosquitto) = mosquitto_or_skip("broker_that_never_comes_back_fails_after_timeout")
    else {
        return;
    };
    let mut broker = Mosquitto::start(&mosquitto);
    let run = run_until_published(&broker, "t-gone", 50, &["--json", "--timeout", "3s"]);
    broker.kill();
    let killed = Instant::now();
    let run = run.finish(LIMIT);
    let took = killed.elapsed();

    assert_one_line_error(
        &run,
        1,
        &[
            "gave up reconnecting after 3s (--timeout)",
            "attempts",
            "refused",
            "is the broker running?",
        ],
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(6),
        "gave up {took:?} after the kill, expected about 3 s"
    );
    // The books of what got through before the broker went away, balanced.
    let summary = run.summary();
    let published = summary["published"].as_u64().expect("published");
    assert!(published >= 50, "{summary}");
    let missing = numbers(&summary["missing"]).len() as u64;
    assert_eq!(
        summary["unique"].as_u64(),
        Some(published - missing),
        "{summary}"
    );
    let highest_received = summary["members"]
        .as_object()
        .expect("members")
        .values()
        .flat_map(|member| numbers(&member["messages"]))
        .max()
        .unwrap_or_default();
    assert!(highest_received <= published, "{summary}");
    assert!(
        summary["outages"].as_array().is_some_and(|o| o.len() >= 3),
        "{summary}"
    );
}
