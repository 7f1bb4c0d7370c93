//! Churn experiments against mosquitto: members that leave, join or crash while the messages
//! flow (`--churn`), and a slow member (`--slow-member`). The expectations are what mosquitto
//! 2.0 does, measured here: a clean leave loses nothing, a newcomer gets a share from its first
//! SUBACK on, a crashed member loses what was on its way to it, and a slow member still gets its
//! whole share, late.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{mosquitto_or_skip, run_tool, with, Mosquitto, Run};

const LIMIT: Duration = Duration::from_secs(60);

fn churn_run(broker: &Mosquitto, more: &[&str]) -> Run {
    let args = with(
        broker.args(),
        &[
            &["--client_id", "t-churn", "--json", "--timeout", "5s"][..],
            more,
        ]
        .concat(),
    );
    let run = run_tool(&args, LIMIT);
    eprintln!("{}", run.summary());
    run
}

fn messages(summary: &Value, member: &str) -> Vec<u64> {
    summary["members"][member]["messages"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

#[test]
fn a_member_that_leaves_cleanly_takes_nothing_with_it() {
    let Some(mosquitto) = mosquitto_or_skip("a_member_that_leaves_cleanly_takes_nothing_with_it")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = churn_run(
        &broker,
        &[
            "--subscribers",
            "3",
            "--count",
            "60",
            "--interval",
            "5ms",
            "--churn",
            "leave:2@50%",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    let step = &summary["churn"][0];
    assert_eq!(step["step"], "leave", "{summary}");
    assert_eq!(step["at_seq"], 30, "{summary}");
    assert_eq!(step["missing_since"], Value::Array(vec![]), "{summary}");
    // It stopped getting a share soon after its point (what was in flight still came), and the
    // other two took over.
    let left = messages(&summary, "t-churn-subscriber-2");
    assert!(left.iter().all(|seq| *seq <= 40), "{left:?}");
    let mut others: Vec<u64> = [1, 3]
        .iter()
        .flat_map(|k| messages(&summary, &format!("t-churn-subscriber-{k}")))
        .filter(|seq| *seq > 40)
        .collect();
    others.sort_unstable();
    assert_eq!(others, (41..=60).collect::<Vec<u64>>(), "{summary}");
    assert_eq!(run.events("churn").len(), 1, "{run}");
    support::assert_json_matches_readme(&run, &["churn", "summary"]);
}

#[test]
fn a_member_that_joins_gets_a_share_from_then_on() {
    let Some(mosquitto) = mosquitto_or_skip("a_member_that_joins_gets_a_share_from_then_on") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = churn_run(
        &broker,
        &[
            "--subscribers",
            "2",
            "--count",
            "60",
            "--interval",
            "5ms",
            "--churn",
            "join@50%",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    let joined = messages(&summary, "t-churn-subscriber-3");
    assert!(!joined.is_empty(), "the newcomer got nothing: {summary}");
    assert!(joined.iter().all(|seq| *seq > 30), "{joined:?}");
    // mosquitto takes turns among three from then on: about a third of the last 30.
    assert!((5..=15).contains(&joined.len()), "{joined:?}");
    assert_eq!(summary["churn"][0]["received_before"], 0, "{summary}");
}

#[test]
fn a_crashed_member_comes_back_and_the_report_says_what_went_with_it() {
    let Some(mosquitto) =
        mosquitto_or_skip("a_crashed_member_comes_back_and_the_report_says_what_went_with_it")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    // As fast as the broker takes them: messages are on their way to the member when it dies.
    let run = churn_run(
        &broker,
        &[
            "--subscribers",
            "2",
            "--count",
            "2000",
            "--churn",
            "drop:1@50%",
            "--no-hold",
        ],
    );
    let summary = run.summary();
    let step = &summary["churn"][0];
    assert_eq!(step["step"], "drop", "{summary}");
    // The cut is an outage like any other, in the report's words.
    let outage = &summary["outages"][0];
    assert_eq!(outage["client_id"], "t-churn-subscriber-1", "{summary}");
    assert!(
        outage["reason"]
            .as_str()
            .is_some_and(|reason| reason.contains("cut by --churn")),
        "{summary}"
    );
    // What mosquitto did with what was on its way, in the report's words: every missing
    // message is named by the step, and the verdict (exit code) follows.
    let missing = summary["missing"].as_array().expect("missing").clone();
    assert_eq!(
        step["missing_since"],
        Value::Array(missing.clone()),
        "{summary}"
    );
    let code = if missing.is_empty() { 0 } else { 3 };
    assert_eq!(run.code, Some(code), "{run}");
    if !missing.is_empty() {
        // The run waited --timeout for them, long enough for the member to come back (at full
        // speed the publisher may be done by then: nothing left for it to receive).
        assert_eq!(summary["reconnects"], 1, "{summary}");
    }
    eprintln!(
        "mosquitto lost {} messages with the crashed member",
        missing.len()
    );
}

#[test]
fn a_slow_member_still_gets_its_share_late() {
    let Some(mosquitto) = mosquitto_or_skip("a_slow_member_still_gets_its_share_late") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = churn_run(
        &broker,
        &[
            "--subscribers",
            "3",
            "--count",
            "90",
            "--slow-member",
            "1=20ms",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    // mosquitto keeps its strict turns: the slow member's share waits in its queue.
    for k in 1..=3 {
        let id = format!("t-churn-subscriber-{k}");
        assert_eq!(summary["members"][&id]["count"], 30, "{id}: {summary}");
    }
    let p50 = |k: u32| {
        summary["latency_ms"]["members"][format!("t-churn-subscriber-{k}")]["p50"]
            .as_f64()
            .expect("p50")
    };
    assert!(
        p50(1) > 5.0 * p50(2).max(p50(3)) && p50(1) > 50.0,
        "slow {} ms, others {} and {} ms",
        p50(1),
        p50(2),
        p50(3)
    );
}
