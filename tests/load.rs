//! The load knobs end to end against a real mosquitto with mutual TLS: several publisher
//! connections (`--publishers`), a steady `--rate`, AWS IoT Core's 100 publishes a second per
//! connection (`--aws`), `--payload-size` on the wire, and `--duration` with its periodic lines.
//!
//! Timings are checked with the margins a user would accept (±10 % on a rate), on a machine that
//! other work shares: a run that is paced can only be slower than its pace, never faster.

mod support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    assert_one_line_error, command_or_skip, mosquitto_or_skip, run_tool, with, Mosquitto, Run,
    Setup,
};

const LIMIT: Duration = Duration::from_secs(90);

/// The run's summary, after checking that it ended exactly once.
fn exactly_once(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["verdict"], "ok", "{summary}");
    assert_eq!(summary["unique"], summary["count"], "{summary}");
    summary
}

/// Each publisher's `(client id, count, per_second)` from the summary.
fn publishers(summary: &Value) -> Vec<(String, u64, f64)> {
    let all = summary["publishers"].as_object().expect("publishers");
    all.iter()
        .map(|(id, p)| {
            let count = p["count"].as_u64().expect("count");
            (id.clone(), count, p["per_second"].as_f64().expect("rate"))
        })
        .collect()
}

fn elapsed(summary: &Value) -> Duration {
    Duration::from_millis(summary["elapsed_ms"].as_u64().expect("elapsed_ms"))
}

#[test]
fn four_publishers_share_the_numbers_and_the_group_gets_each_once() {
    let test = "four_publishers_share_the_numbers_and_the_group_gets_each_once";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    // The broker's own log names the client of every PUBLISH it receives.
    let setup = Setup {
        extra: "log_type all\n".into(),
        ..Setup::default()
    };
    let broker = Mosquitto::start_with(&mosquitto, setup);
    let args = with(
        broker.args(),
        &[
            "--publishers",
            "4",
            "--count",
            "2000",
            "--subscribers",
            "3",
            "--client_id",
            "t-four",
            "--json",
            "-v",
        ],
    );
    let run = run_tool(&args, LIMIT);
    let summary = exactly_once(&run);
    assert_eq!(summary["count"], 2000, "{summary}");
    support::assert_json_matches_readme(&run, &["connected", "published", "summary"]);

    // The summary: each publisher by its id, a quarter of the messages each, at some rate.
    let rows = publishers(&summary);
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "t-four-publisher-1",
            "t-four-publisher-2",
            "t-four-publisher-3",
            "t-four-publisher-4"
        ]
    );
    for (id, count, rate) in &rows {
        assert_eq!(*count, 500, "{id}: {summary}");
        assert!(*rate > 0.0, "{id}: {summary}");
    }
    // Each publisher's own acknowledgements (-v): disjoint, and together every number once.
    let mut sent_by: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); 4];
    for line in run.stderr.lines().filter(|l| l.contains(" acknowledged")) {
        let Some((_, rest)) = line.split_once("[t-four-publisher-") else {
            continue;
        };
        let (j, rest) = rest.split_once("] #").expect("[id] #n acknowledged");
        let seq = rest.split_whitespace().next().expect("a number");
        let (j, seq): (usize, u32) = (j.parse().expect("j"), seq.parse().expect("n"));
        assert!(
            sent_by[j - 1].insert(seq),
            "#{seq} twice from publisher {j}"
        );
    }
    let mut all = BTreeSet::new();
    for (j, numbers) in sent_by.iter().enumerate() {
        assert_eq!(numbers.len(), 500, "publisher {}", j + 1);
        for seq in numbers {
            assert!(all.insert(*seq), "#{seq} sent by two publishers");
        }
    }
    assert_eq!(all, (1..=2000).collect::<BTreeSet<u32>>());
    // The broker saw four connections publish, 500 messages each.
    let log = broker.log();
    for j in 1..=4 {
        let from = format!("Received PUBLISH from t-four-publisher-{j} ");
        assert_eq!(
            log.matches(&from).count(),
            500,
            "publisher {j} in the broker's log"
        );
    }
    // The report, in words: a row per publisher.
    let text = run_tool(
        &with(broker.args(), &["--publishers", "2", "--count", "20"]),
        LIMIT,
    );
    assert_eq!(text.code, Some(0), "{text}");
    assert!(text.stdout.contains("publisher "), "{text}");
    assert!(text.stdout.contains("-publisher-2      10"), "{text}");
}

#[test]
fn on_aws_each_connection_publishes_at_most_100_a_second() {
    let test = "on_aws_each_connection_publishes_at_most_100_a_second";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = |more: &[&str]| {
        let mut words = vec!["--count", "300", "--json"];
        words.extend_from_slice(more);
        run_tool(&with(broker.args(), &words), LIMIT)
    };
    // One connection: 300 messages at 99 a second take at least 299 periods, about 3 s.
    let paced = run(&["--aws", "--client_id", "t-aws-1"]);
    let summary = exactly_once(&paced);
    assert!(
        elapsed(&summary) >= Duration::from_millis(2900),
        "{summary}"
    );
    let said: Vec<&str> = paced
        .stderr
        .lines()
        .filter(|l| l.contains("publishes a second per connection"))
        .collect();
    assert_eq!(said.len(), 1, "said once\n{paced}");
    assert!(said[0].contains("99 a second"), "{paced}");
    for (id, _, rate) in publishers(&summary) {
        assert!(rate <= 100.0, "{id} at {rate} a second: {summary}");
    }
    // Three connections: a third of the time, each still within AWS's quota.
    let three = run(&["--aws", "--client_id", "t-aws-3", "--publishers", "3"]);
    let summary = exactly_once(&three);
    let took = elapsed(&summary);
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(2500),
        "{summary}"
    );
    let rows = publishers(&summary);
    assert_eq!(rows.len(), 3, "{summary}");
    for (id, count, rate) in rows {
        assert_eq!(count, 100, "{id}: {summary}");
        assert!(rate <= 100.0, "{id} at {rate} a second: {summary}");
    }
    assert!(three.stderr.contains("each of the 3 publishers"), "{three}");
    // Not on AWS: nothing is paced, and nothing says so.
    let free = run(&["--client_id", "t-free"]);
    let summary = exactly_once(&free);
    assert!(elapsed(&summary) < Duration::from_millis(2000), "{summary}");
    assert!(!free.stderr.contains("per connection"), "{free}");
}

#[test]
fn a_rate_of_400_sends_2000_messages_in_5_seconds() {
    let Some(mosquitto) = mosquitto_or_skip("a_rate_of_400_sends_2000_messages_in_5_seconds")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--rate",
            "400",
            "--count",
            "2000",
            "--client_id",
            "t-rate",
            "--json",
        ],
    );
    let started = Instant::now();
    let run = run_tool(&args, LIMIT);
    let wall = started.elapsed();
    let summary = exactly_once(&run);
    // 1,999 periods of 2.5 ms from the first message; the run adds its connects and the last
    // delivery, well under half a second here.
    let took = elapsed(&summary);
    assert!(
        took >= Duration::from_millis(4500) && took <= Duration::from_millis(5500),
        "took {took:?}: {summary}"
    );
    assert!(wall <= Duration::from_secs(7), "the process took {wall:?}");
    let (_, _, rate) = &publishers(&summary)[0];
    assert!((360.0..=440.0).contains(rate), "{rate} a second: {summary}");
}

#[test]
fn a_payload_size_puts_that_many_bytes_on_the_wire() {
    let test = "a_payload_size_puts_that_many_bytes_on_the_wire";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    let Some(mosquitto_sub) = command_or_skip("mosquitto_sub", test, "mosquitto-clients") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    // A plain subscriber of our own, outside the tool, prints the length of each payload.
    let files = &broker.files;
    let plain = Command::new(mosquitto_sub)
        .args([
            "-V",
            "mqttv5",
            "-h",
            "127.0.0.1",
            "-p",
            &broker.port.to_string(),
        ])
        .args(["--cafile", &files.ca.display().to_string()])
        .args(["--cert", &files.client_cert.display().to_string()])
        .args(["--key", &files.client_key.display().to_string()])
        .args([
            "-i",
            "t-plain-sub",
            "-t",
            "test/topic",
            "-q",
            "1",
            "-C",
            "20",
        ])
        .args(["-F", "%l"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto_sub");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !broker.log().contains("t-plain-sub 1 test/topic") {
        assert!(Instant::now() < deadline, "mosquitto_sub never subscribed");
        std::thread::sleep(Duration::from_millis(20));
    }
    let args = with(
        broker.args(),
        &[
            "--payload-size",
            "4096",
            "--count",
            "20",
            "--client_id",
            "t-size",
            "--json",
        ],
    );
    let run = run_tool(&args, LIMIT);
    exactly_once(&run);
    let output = plain.wait_with_output().expect("mosquitto_sub's output");
    let lengths: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lengths, vec!["4096".to_owned(); 20]);
    // The members' copies start with the readable text and number.
    let received = run.events("received");
    assert_eq!(received.len(), 20, "{run}");
    for event in received {
        let seq = event["seq"].as_u64().expect("seq");
        let payload = event["payload"].as_str().expect("payload");
        assert!(
            payload.starts_with(&format!("Hello World! [{seq}]....")),
            "{payload}"
        );
    }
}

#[test]
fn a_payload_size_that_cannot_fit_is_refused_in_one_line() {
    let fake = [
        "--cert",
        "/no/such/device.pem.crt",
        "--key",
        "/no/such/private.pem.key",
    ];
    let tool = |endpoint: &str, more: &[&str]| {
        let mut words = vec!["--endpoint", endpoint];
        words.extend_from_slice(&fake);
        words.extend_from_slice(more);
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        run_tool(&words, LIMIT)
    };
    let small = tool("127.0.0.1", &["--payload-size", "10", "--count", "1000"]);
    assert_one_line_error(
        &small,
        2,
        &["--payload-size 10", "19 bytes", "Hello World! [1000]"],
    );
    let aws = "a1b2c3d4e5f6g7-ats.iot.eu-west-1.amazonaws.com";
    let big = tool(aws, &["--payload-size", "200000"]);
    assert_one_line_error(
        &big,
        2,
        &["--payload-size 200000", "AWS IoT Core", "131072"],
    );
    // Elsewhere the same size is only a warning: the run goes on to the missing certificate.
    let elsewhere = tool("127.0.0.1", &["--payload-size", "200000"]);
    assert_one_line_error(&elsewhere, 2, &["--cert"]);
    assert!(
        elsewhere.stderr.contains("an error against AWS IoT Core"),
        "{elsewhere}"
    );
    let huge = tool("127.0.0.1", &["--payload-size", "1000000"]);
    assert_one_line_error(&huge, 2, &["--payload-size 1000000", "use at most"]);
}

#[test]
fn a_duration_run_ends_on_time_with_every_message_once_and_periodic_lines() {
    let test = "a_duration_run_ends_on_time_with_every_message_once_and_periodic_lines";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--duration",
            "6s",
            "--rate",
            "200",
            "--stats-every",
            "2s",
            "--publishers",
            "2",
            "--client_id",
            "t-duration",
            "--json",
        ],
    );
    let run = run_tool(&args, LIMIT);
    let summary = exactly_once(&run);
    let count = summary["count"].as_u64().expect("count");
    assert!(
        (1150..=1250).contains(&count),
        "{count} messages: {summary}"
    );
    let took = elapsed(&summary);
    assert!(
        took >= Duration::from_secs(6) && took <= Duration::from_millis(7500),
        "took {took:?}"
    );
    // stderr is a pipe here: a line every 2 s, with the rate, p99 and what is missing so far.
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("so far ("))
        .collect();
    assert!(lines.len() >= 2, "{run}");
    assert!(
        lines[0].contains("msg/s")
            && lines[0].contains("p99")
            && lines[0].contains("missing so far"),
        "{}",
        lines[0]
    );
    assert!(run.stderr.contains("--duration 6s has passed"), "{run}");
    support::assert_json_matches_readme(&run, &["published", "summary"]);
    // --count with --duration: whichever comes first ends the publishing.
    let capped = with(
        broker.args(),
        &[
            "--duration",
            "1m",
            "--count",
            "100",
            "--client_id",
            "t-capped",
            "--json",
        ],
    );
    let capped = run_tool(&capped, LIMIT);
    let summary = exactly_once(&capped);
    assert_eq!(summary["count"], 100, "{summary}");
    assert!(elapsed(&summary) < Duration::from_secs(10), "{summary}");
}

#[test]
fn several_publishers_in_a_publisher_process_merge_into_one_verdict() {
    let test = "several_publishers_in_a_publisher_process_merge_into_one_verdict";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let members = with(
        broker.args(),
        &[
            "--role",
            "subscriber",
            "--run-id",
            "t-load-roles",
            "--client_id",
            "t-load-subs",
            "--count",
            "300",
            "--json",
        ],
    );
    let mut members = support::spawn_tool(&members);
    let mut subscribed = 0;
    let all_in = members.wait_for_stdout(
        |line| {
            subscribed += usize::from(line.contains(r#""event":"subscribed""#));
            subscribed == 2
        },
        LIMIT,
    );
    assert!(all_in, "the members never subscribed");
    let publisher = with(
        broker.args(),
        &[
            "--role",
            "publisher",
            "--run-id",
            "t-load-roles",
            "--client_id",
            "t-load-pub",
            "--publishers",
            "3",
            "--count",
            "300",
            "--json",
        ],
    );
    let publisher = run_tool(&publisher, LIMIT);
    assert_eq!(publisher.code, Some(0), "{publisher}");
    let rows = publishers(&publisher.summary());
    assert_eq!(rows.iter().map(|(_, count, _)| count).sum::<u64>(), 300);
    assert!(
        publisher.stderr.contains("end-of-run marker"),
        "{publisher}"
    );
    let members = members.finish(LIMIT);
    assert_eq!(members.code, Some(0), "{members}");
    let dir = tempfile::tempdir().expect("temp dir");
    let (one, two) = (dir.path().join("pub.json"), dir.path().join("subs.json"));
    std::fs::write(&one, &publisher.stdout).expect("write");
    std::fs::write(&two, &members.stdout).expect("write");
    let words = [
        "--merge",
        &one.display().to_string(),
        &two.display().to_string(),
        "--json",
    ];
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    let merged = run_tool(&words, LIMIT);
    let summary = exactly_once(&merged);
    assert_eq!(summary["unique"], 300, "{summary}");
    assert_eq!(publishers(&summary).len(), 3, "{summary}");
}

#[test]
fn load_flags_that_contradict_are_refused_before_any_network() {
    let run = |words: &[&str]| {
        let mut all = vec!["--demo"];
        all.extend_from_slice(words);
        let all: Vec<String> = all.iter().map(|w| w.to_string()).collect();
        run_tool(&all, LIMIT)
    };
    let many = run(&["--publishers", "5", "--count", "3"]);
    assert_one_line_error(&many, 2, &["--publishers 5", "--count 3"]);
    let churn = run(&["--duration", "5s", "--churn", "leave:1@50%"]);
    assert_one_line_error(&churn, 2, &["--churn", "--duration"]);
    let both = run(&["--rate", "10", "--interval", "1s"]);
    assert_eq!(both.code, Some(2), "{both}");
    assert!(both.stderr.contains("--interval"), "{both}");
    let zero = run(&["--rate", "0"]);
    assert_eq!(zero.code, Some(2), "{zero}");
    assert!(zero.stderr.contains("--rate"), "{zero}");
}

/// A broker crash in the middle of a run of three publishers: each reconnects, sends again what
/// its own connection left unacknowledged (but not what a member already has), holds while the
/// members are away, and the group still gets every number exactly once.
#[test]
fn three_publishers_through_a_broker_crash_deliver_each_message_once() {
    let test = "three_publishers_through_a_broker_crash_deliver_each_message_once";
    let Some(mosquitto) = mosquitto_or_skip(test) else {
        return;
    };
    let mut broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--publishers",
            "3",
            "--rate",
            "300",
            "--count",
            "900",
            "--timeout",
            "30s",
            "--client_id",
            "t-crash3",
            "--json",
        ],
    );
    let mut run = support::spawn_tool(&args);
    let started = run.wait_for_stdout(|line| line.contains(r#""event":"published""#), LIMIT);
    assert!(started, "the run never got to publish");
    std::thread::sleep(Duration::from_secs(1));
    broker.kill();
    broker.restart();
    let run = run.finish(LIMIT);
    let summary = exactly_once(&run);
    assert_eq!(summary["count"], 900, "{summary}");
    assert_eq!(summary["received"], 900, "{summary}");
    let reconnected: BTreeSet<String> = run
        .events("reconnected")
        .iter()
        .filter_map(|event| event["client_id"].as_str().map(str::to_owned))
        .collect();
    for j in 1..=3 {
        let id = format!("t-crash3-publisher-{j}");
        assert!(reconnected.contains(&id), "{id} never reconnected\n{run}");
    }
    let counts: Vec<u64> = publishers(&summary).iter().map(|(_, c, _)| *c).collect();
    assert_eq!(counts, [300, 300, 300], "{summary}");
    assert!(summary["held_ms"].as_u64() > Some(0), "{summary}");
    eprintln!(
        "crash with 3 publishers: held {} ms, sent again after a reconnect {}, after 0x10 {}, lost \
         with a member {}",
        summary["held_ms"],
        summary["resent_unacknowledged"],
        summary["resent_unrouted"],
        summary["resent_lost"]
    );
}
