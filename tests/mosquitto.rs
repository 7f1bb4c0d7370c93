//! The sample end to end against a real mosquitto 2.0 with mutual TLS.
//!
//! Each test starts its own broker and CA (see `support`), runs the real binary, and checks what
//! a user would check: the exit code, the verdict line, the JSON summary, the broker's own log.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::{
    client_identity, mosquitto_or_skip, run_tool, spawn_tool, with, KeyForm, Mosquitto, Setup,
};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn default_run_splits_ten_messages_between_two_members() {
    let Some(mosquitto) = mosquitto_or_skip("default_run_splits_ten_messages_between_two_members")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = run_tool(&with(broker.args(), &["--client_id", "t-default"]), LIMIT);

    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains(
            "10 published · 10 delivered exactly once to group 'rust-sample' (2 members of this run) · 0 missing · 0 duplicated"
        ),
        "{run}"
    );
    // Every message is logged with the member that got it, and both members got some.
    let receipts: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains(" received #"))
        .collect();
    assert_eq!(receipts.len(), 10, "{run}");
    for member in ["t-default-subscriber-1", "t-default-subscriber-2"] {
        assert!(
            receipts
                .iter()
                .any(|l| l.contains(&format!("[{member}] received #"))),
            "{member} got nothing\n{run}"
        );
    }
    assert!(
        receipts
            .iter()
            .any(|l| l.contains(r#"on test/topic: "Hello World! ["#)),
        "{run}"
    );
    // The broker itself saw both members subscribe to the shared filter, not the plain topic.
    let log = broker.log();
    for member in ["t-default-subscriber-1", "t-default-subscriber-2"] {
        assert!(
            log.contains(&format!("{member} 1 $share/rust-sample/test/topic")),
            "mosquitto log lacks the $share SUBSCRIBE of {member}:\n{log}"
        );
    }
    // ...and saw each of them disconnect cleanly rather than drop the socket.
    assert!(
        log.matches("disconnected.").count() >= 3,
        "expected clean DISCONNECTs from 3 clients:\n{log}"
    );
}

#[test]
fn five_members_json_summary_has_every_field() {
    let Some(mosquitto) = mosquitto_or_skip("five_members_json_summary_has_every_field") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--subscribers",
            "5",
            "--count",
            "100",
            "--json",
            "--client_id",
            "t-json",
            "--group_identifier",
            "workers",
            "--topic",
            "jobs/new",
        ],
    );
    let run = run_tool(&args, LIMIT);
    assert_eq!(run.code, Some(0), "{run}");

    let summary = run.summary();
    let expected_keys: BTreeSet<&str> = [
        "event",
        "group",
        "topic",
        "qos",
        "published",
        "received",
        "unique",
        "missing",
        "duplicated",
        "foreign",
        "members",
        "elapsed_ms",
        "verdict",
        // Added for outages; the fields above keep their names and meanings (`published` now
        // counts messages sent, which in a fair-weather run is the same number).
        "count",
        "acknowledged",
        "redelivered",
        "unacknowledged",
        "unrouted",
        "reconnects",
        "outages",
        "held_ms",
        "went_on_without",
        // Added so that a script can tell a partial summary (Ctrl-C) from a finished one.
        "interrupted",
        "latency_ms",
        "fairness",
        // Added for runs spread over processes (`--role`, `--merge`).
        "role",
        "run_id",
        // Version 2: the schema's version, which numbers were sent, and one name per cause of a
        // re-send (`retried` and `sent_again` before; see the README).
        "version",
        "sent",
        "resent_unrouted",
        "resent_unacknowledged",
        "resent_lost",
        // Redeliveries told without the DUP flag (AWS IoT Core sets none).
        "redelivered_without_dup",
        // --publishers: each publisher's count and rate (one, `<ID>-publisher`, by default).
        "publishers",
    ]
    .into();
    let keys: BTreeSet<&str> = summary
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, expected_keys, "{summary}");
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["group"], "workers");
    assert_eq!(summary["topic"], "jobs/new");
    assert_eq!(summary["qos"], 1);
    assert_eq!(summary["published"], 100);
    // One publisher keeps the name it always had.
    let publishers = summary["publishers"].as_object().expect("publishers");
    assert_eq!(publishers.len(), 1, "{summary}");
    assert_eq!(publishers["t-json-publisher"]["count"], 100, "{summary}");
    assert_eq!(summary["received"], 100);
    assert_eq!(summary["unique"], 100);
    assert_eq!(summary["missing"], Value::Array(vec![]));
    assert_eq!(summary["duplicated"], Value::Array(vec![]));
    assert_eq!(summary["foreign"], 0);
    assert_eq!(summary["verdict"], "ok");
    assert!(summary["elapsed_ms"].as_u64().is_some_and(|ms| ms > 0));
    assert_eq!(summary["count"], 100);
    assert_eq!(summary["acknowledged"], 100);
    assert_eq!(summary["reconnects"], 0);
    assert_eq!(summary["held_ms"], 0);
    // mosquitto hands a $share group's messages out in strict turns (FACTS), and the report
    // recognises it from the order of receipts.
    assert_eq!(summary["fairness"]["pattern"], "round_robin", "{summary}");
    assert_eq!(summary["fairness"]["jain"], 1.0, "{summary}");
    // Every receipt has a delay, per member and for the group.
    let latency = &summary["latency_ms"];
    assert_eq!(latency["group"]["count"], 100, "{summary}");
    for member in (1..=5).map(|k| format!("t-json-subscriber-{k}")) {
        let p = &latency["members"][&member];
        let (p50, p99, max) = (p["p50"].as_f64(), p["p99"].as_f64(), p["max"].as_f64());
        assert!(p50 > Some(0.0) && p50 <= p99 && p99 <= max, "{member}: {p}");
    }
    for empty in [
        "resent_unrouted",
        "redelivered",
        "resent_unacknowledged",
        "resent_lost",
        "unacknowledged",
        "unrouted",
        "outages",
    ] {
        assert_eq!(summary[empty], Value::Array(vec![]), "{empty}");
    }

    // Five members, each with at least one message, together exactly 1..=100 once.
    let members = summary["members"].as_object().expect("members object");
    let ids: BTreeSet<String> = (1..=5).map(|k| format!("t-json-subscriber-{k}")).collect();
    assert_eq!(members.keys().cloned().collect::<BTreeSet<_>>(), ids);
    let mut all = Vec::new();
    for (id, member) in members {
        let messages: Vec<u64> = member["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m.as_u64().expect("number"))
            .collect();
        assert!(!messages.is_empty(), "{id} received nothing: {summary}");
        assert_eq!(member["count"], messages.len(), "{id}");
        all.extend(messages);
    }
    all.sort_unstable();
    assert_eq!(all, (1..=100).collect::<Vec<u64>>());

    // Every line before the summary is an event with a known kind.
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    for line in run.stdout.lines() {
        let event: Value = serde_json::from_str(line).expect("NDJSON line");
        *kinds
            .entry(event["event"].as_str().expect("event").to_owned())
            .or_default() += 1;
    }
    assert_eq!(kinds["connected"], 6, "{kinds:?}");
    assert_eq!(kinds["subscribed"], 5, "{kinds:?}");
    assert_eq!(kinds["published"], 100, "{kinds:?}");
    assert_eq!(kinds["received"], 100, "{kinds:?}");
    assert_eq!(kinds["summary"], 1, "{kinds:?}");
}

#[test]
fn qos0_run_delivers_exactly_once() {
    let Some(mosquitto) = mosquitto_or_skip("qos0_run_delivers_exactly_once") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--qos",
            "0",
            "--subscribers",
            "3",
            "--count",
            "300",
            "--json",
            "-q",
        ],
    );
    let run = run_tool(&args, LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["qos"], 0);
    assert_eq!(summary["unique"], 300);
    assert_eq!(summary["received"], 300);
    assert_eq!(summary["verdict"], "ok");
}

#[test]
fn twenty_members_share_two_thousand_messages() {
    let Some(mosquitto) = mosquitto_or_skip("twenty_members_share_two_thousand_messages") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &["--subscribers", "20", "--count", "2000", "--json", "-q"],
    );
    let run = run_tool(&args, LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["unique"], 2000);
    assert_eq!(summary["received"], 2000);
    let members = summary["members"].as_object().expect("members");
    assert_eq!(members.len(), 20);
    // mosquitto hands out round-robin, so nobody is starved.
    assert!(
        members.values().all(|m| m["count"].as_u64() > Some(0)),
        "{summary}"
    );
}

/// The upper end the sample promises: 10,000 messages, at both QoS levels.
#[test]
fn ten_thousand_messages_reach_three_members_exactly_once() {
    let Some(mosquitto) =
        mosquitto_or_skip("ten_thousand_messages_reach_three_members_exactly_once")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    for qos in ["1", "0"] {
        let args = with(
            broker.args(),
            &["--subscribers", "3", "--count", "10000", "--qos", qos, "-q"],
        );
        let run = run_tool(&args, LIMIT);
        assert_eq!(run.code, Some(0), "QoS {qos}: {run}");
        assert!(
            run.stdout.contains(
                "10000 published · 10000 delivered exactly once to group 'rust-sample' (3 members of this run) · 0 missing · 0 duplicated"
            ),
            "QoS {qos}: {run}"
        );
    }
}

#[test]
fn every_private_key_form_connects() {
    let Some(mosquitto) = mosquitto_or_skip("every_private_key_form_connects") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    for form in [KeyForm::Pkcs8Ec, KeyForm::Sec1Ec, KeyForm::Pkcs1Rsa] {
        let (cert, key) = client_identity(&broker.pki, broker.dir.path(), form);
        let args = with(broker.args_with(&cert, &key), &["--count", "4", "--json"]);
        let run = run_tool(&args, LIMIT);
        assert_eq!(run.code, Some(0), "{form:?}: {run}");
        assert_eq!(run.summary()["unique"], 4, "{form:?}");
    }
}

/// A subscriber outside this run joins the same group: the broker gives it a share of our
/// messages, so our members miss them. The report must name exactly those, and exit 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_in_the_group_makes_messages_missing() {
    let Some(mosquitto) = mosquitto_or_skip("a_stranger_in_the_group_makes_messages_missing")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let stolen = stranger::join_group(&broker, "$share/rust-sample/test/topic").await;

    let args = with(
        broker.args(),
        &["--count", "30", "--json", "--timeout", "2s"],
    );
    let run = tokio::task::spawn_blocking(move || run_tool(&args, LIMIT))
        .await
        .expect("run");
    assert_eq!(run.code, Some(3), "{run}");
    let summary = run.summary();
    assert_eq!(summary["verdict"], "missing");
    assert_eq!(summary["published"], 30);

    let mut stolen = stolen.lock().expect("stolen").clone();
    stolen.sort_unstable();
    assert!(!stolen.is_empty(), "the stranger got no share");
    let missing: Vec<u32> = summary["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| m.as_u64().expect("number") as u32)
        .collect();
    assert_eq!(
        missing, stolen,
        "the report must name exactly the messages the stranger took"
    );
    assert_eq!(summary["unique"], 30 - stolen.len());
}

/// Two groups and a control subscriber on one topic: each group gets its own full copy, split
/// among its own members, and the plain subscriber gets everything.
#[test]
fn every_group_gets_a_full_copy_and_the_control_gets_everything() {
    let Some(mosquitto) =
        mosquitto_or_skip("every_group_gets_a_full_copy_and_the_control_gets_everything")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--groups",
            "blue,green",
            "--control",
            "--subscribers",
            "2",
            "--count",
            "40",
            "--client_id",
            "t-groups",
            "--json",
        ],
    );
    let run = run_tool(&args, LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["verdict"], "ok", "{summary}");
    // The first group's fields stay on top, for scripts written for one group.
    assert_eq!(summary["group"], "blue", "{summary}");
    let groups = summary["groups"].as_object().expect("groups");
    assert_eq!(groups.keys().collect::<Vec<_>>(), ["blue", "green"]);
    for (name, group) in groups {
        assert_eq!(group["unique"], 40, "{name}: {group}");
        assert_eq!(group["duplicated"], Value::Array(vec![]), "{name}: {group}");
        let members = group["members"].as_object().expect("members");
        assert_eq!(members.len(), 2, "{name}: {group}");
        for (id, member) in members {
            assert!(
                id.starts_with(&format!("t-groups-{name}-subscriber-")),
                "{id}"
            );
            // mosquitto takes strict turns within each group.
            assert_eq!(member["count"], 20, "{id}: {group}");
        }
    }
    let control = &summary["control"];
    assert_eq!(control["unique"], 40, "{control}");
    assert_eq!(
        control["members"]["t-groups-control"]["count"], 40,
        "{control}"
    );
    // mosquitto's log shows the three kinds of subscription.
    let log = broker.log();
    for filter in ["$share/blue/test/topic", "$share/green/test/topic"] {
        assert!(
            log.contains(filter),
            "{filter} not in mosquitto's log:\n{log}"
        );
    }

    let text = run_tool(&with(args[..args.len() - 1].to_vec(), &["-q"]), LIMIT);
    assert_eq!(text.code, Some(0), "{text}");
    for line in [
        "group 'blue': 40 of 40 messages exactly once, split among its 2 members (ok)",
        "group 'green': 40 of 40 messages exactly once, split among its 2 members (ok)",
        "control: 40 of 40 messages, as a plain subscription gets them all (ok)",
        "every group received its own full copy of the 40 messages, and the control subscriber all of them",
    ] {
        assert!(text.stdout.contains(line), "no {line:?}\n{text}");
    }
}

/// A stranger in one of two groups takes part of *that* group's copy only: the other group and
/// the control still get everything, and the verdict (exit 3) names the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_in_one_group_leaves_the_other_whole() {
    let Some(mosquitto) = mosquitto_or_skip("a_stranger_in_one_group_leaves_the_other_whole")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let stolen = stranger::join_group(&broker, "$share/green/test/topic").await;
    let args = with(
        broker.args(),
        &[
            "--groups",
            "blue,green",
            "--control",
            "--count",
            "30",
            "--timeout",
            "2s",
            "--json",
        ],
    );
    let run = tokio::task::spawn_blocking(move || run_tool(&args, LIMIT))
        .await
        .expect("run");
    assert_eq!(run.code, Some(3), "{run}");
    let summary = run.summary();
    assert_eq!(summary["verdict"], "missing", "{summary}");
    assert_eq!(summary["groups"]["blue"]["verdict"], "ok", "{summary}");
    assert_eq!(
        summary["groups"]["green"]["verdict"], "missing",
        "{summary}"
    );
    assert_eq!(summary["control"]["unique"], 30, "{summary}");
    let stolen = stolen.lock().expect("stolen").len();
    assert!(stolen > 0, "the stranger got nothing");
    assert_eq!(
        summary["groups"]["green"]["missing"]
            .as_array()
            .map(Vec::len),
        Some(stolen),
        "{summary}"
    );
}

/// The same stranger, as a person reads the report: shares of what was published, a row for
/// what went elsewhere, "members of this run", and a grid whose empty columns are the stranger's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_shows_in_the_human_report() {
    let Some(mosquitto) = mosquitto_or_skip("a_stranger_shows_in_the_human_report") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let stolen = stranger::join_group(&broker, "$share/rust-sample/test/topic").await;
    let args = with(broker.args(), &["--count", "10", "--timeout", "2s"]);
    let run = tokio::task::spawn_blocking(move || run_tool(&args, LIMIT))
        .await
        .expect("run");
    assert_eq!(run.code, Some(3), "{run}");
    let stolen = stolen.lock().expect("stolen").clone();
    assert!(!stolen.is_empty(), "the stranger got no share");
    let row = run
        .stdout
        .lines()
        .find(|line| line.starts_with("not received by this run"))
        .unwrap_or_else(|| panic!("no row for the stranger's share\n{run}"));
    let share = format!("{:.1}%", 100.0 * stolen.len() as f64 / 10.0);
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        fields[5..7],
        [stolen.len().to_string().as_str(), &share],
        "{row}"
    );
    assert!(run.stdout.contains("(2 members of this run)"), "{run}");
    assert!(run.stdout.contains("members outside this run"), "{run}");
    // The grid: one row per member; a column nobody marked is a message the stranger took.
    assert!(run.stdout.contains("who got which message"), "{run}");
    let rows: Vec<&str> = run
        .stdout
        .lines()
        .filter(|line| line.contains("-subscriber-") && line.contains('●'))
        .collect();
    assert_eq!(rows.len(), 2, "{run}");
    let marks = |row: &str| -> Vec<char> {
        row.chars()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    };
    for seq in 1..=10u32 {
        let marked = rows
            .iter()
            .filter(|row| marks(row)[seq as usize - 1] == '●')
            .count();
        let expected = usize::from(!stolen.contains(&seq));
        assert_eq!(marked, expected, "column #{seq}\n{run}");
    }
}

#[test]
fn human_report_names_missing_messages() {
    let Some(mosquitto) = mosquitto_or_skip("human_report_names_missing_messages") else {
        return;
    };
    // Two runs in the same group at once: the broker spreads both runs' messages over all four
    // members, so each run sees foreign messages and misses some of its own. The short run starts
    // only once the long one delivers, and ends well before it.
    let broker = Mosquitto::start(&mosquitto);
    let group = ["--group_identifier", "busy", "--timeout", "2s"];
    let long = with(
        broker.args(),
        &[&group[..], &["--count", "60", "--interval", "50ms"]].concat(),
    );
    let short = with(
        broker.args(),
        &[&group[..], &["--count", "20", "--interval", "20ms"]].concat(),
    );
    let mut first = spawn_tool(&long);
    assert!(
        first.wait_for_stderr(|line| line.contains(" received #"), LIMIT),
        "the long run never delivered"
    );
    let second = run_tool(&short, LIMIT);
    let first = first.finish(LIMIT);
    for run in [&first, &second] {
        assert_eq!(run.code, Some(3), "{run}");
        assert!(run.stdout.contains("missing: "), "{run}");
        assert!(run.stdout.contains(" foreign"), "{run}");
    }
}

mod stranger {
    //! A plain MQTT client that joins a group and records which of our messages it got.

    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use mqtt5_shared_subscription::{client_config, connect, Broker, TlsFiles};
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;

    use super::Mosquitto;

    pub async fn join_group(broker: &Mosquitto, filter: &str) -> Arc<Mutex<Vec<u32>>> {
        let files = TlsFiles {
            cert: broker.files.client_cert.clone(),
            key: broker.files.client_key.clone(),
            ca: Some(broker.files.ca.clone()),
        };
        let target = Broker::new(
            "127.0.0.1",
            broker.port,
            client_config(&files, &[]).expect("tls"),
            Duration::from_secs(10),
        );
        let (client, mut eventloop, _) = connect(&target, "stranger")
            .await
            .expect("stranger connects");
        client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("subscribe");
        loop {
            match eventloop.poll().await.expect("poll") {
                Event::Incoming(Packet::SubAck(_)) => break,
                _ => continue,
            }
        }
        let stolen = Arc::new(Mutex::new(Vec::new()));
        let record = stolen.clone();
        tokio::spawn(async move {
            let _client = client; // dropping it would end the event loop
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(Packet::Publish(publish)) = event {
                    let seq = publish
                        .properties
                        .iter()
                        .flat_map(|p| p.user_properties.iter())
                        .find(|(k, _)| k == "seq")
                        .and_then(|(_, v)| v.parse().ok());
                    if let Some(seq) = seq {
                        record.lock().expect("record").push(seq);
                    }
                }
            }
        });
        stolen
    }
}

/// Subscribing is allowed but receiving is not: what an AWS IoT policy without `iot:Receive` looks
/// like, reproduced with a mosquitto ACL that allows only `write` on the topic (mosquitto grants
/// every SUBSCRIBE and checks `read` when it delivers). Every message goes missing, and the hint
/// must name the receive permission, not a stranger in the group.
#[test]
fn nothing_received_names_the_receive_permission() {
    let Some(mosquitto) = mosquitto_or_skip("nothing_received_names_the_receive_permission") else {
        return;
    };
    let acl_dir = tempfile::tempdir().expect("temp dir");
    let acl = acl_dir.path().join("acl");
    std::fs::write(&acl, "pattern write test/topic\n").expect("write ACL");
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            extra: format!("acl_file {}\n", acl.display()),
            ..Setup::default()
        },
    );
    let run = run_tool(
        &with(broker.args(), &["--count", "5", "--timeout", "2s"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(3), "{run}");
    assert!(run.stdout.contains("0 delivered exactly once"), "{run}");
    assert!(
        run.stdout.contains("no member received a single message"),
        "{run}"
    );
    // AWS checks a member's deliveries against the `$share` form (FACTS.md, "AWS IoT Core").
    assert!(
        run.stdout
            .contains("iot:Receive on topic/$share/rust-sample/test/topic for the members"),
        "{run}"
    );
    assert!(
        run.stdout.contains("the ACL must allow read on test/topic"),
        "{run}"
    );
    assert!(!run.stdout.contains("members outside this run"), "{run}");
}
