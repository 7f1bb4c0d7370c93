//! Runs against mosquitto made to answer as AWS IoT Core documents, in the two bits a run
//! depends on: no DUP flag on a message sent again, and no PUBACK 0x10 when no member is
//! subscribed (AWS IoT Core developer guide, page "MQTT": "AWS IoT differences from MQTT
//! specifications" and "MQTT reason codes"). The tool talks mutual TLS to
//! `support/aws_like.rs`, a proxy that rewrites just those bits of what mosquitto sends; the
//! sessions, the routing and the queues are mosquitto's own.
//!
//! - A member cut while it still owes a PUBACK, its session kept (`--session-expiry`), gets the
//!   message again: with DUP from mosquitto, without it through the proxy. Either way the report
//!   names it a redelivery, not a duplicate nobody explains.
//! - A group left without a member while the publisher goes on, or a broker restart: the
//!   publisher hears 0x00 where mosquitto said 0x10, and the run must still end exactly once (it
//!   sends again what the broker took and no member got), or, with `--no-hold`, name what is
//!   missing and why.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::aws_like::{AwsLikeProxy, Rewrites};
use support::proxy::FaultProxy;
use support::{mosquitto_or_skip, spawn_tool, with, Mosquitto, Run, Setup, Spawned};

const LIMIT: Duration = Duration::from_secs(120);

/// A mosquitto with a plain listener on loopback, for the proxy to speak to; as the mTLS one of
/// `support` otherwise (no queue limit, PUBACKs sent at once).
fn plain_mosquitto(test: &str) -> Option<Mosquitto> {
    let mosquitto = mosquitto_or_skip(test)?;
    let setup = Setup {
        plain: true,
        extra: "max_queued_messages 0\nset_tcp_nodelay true\n".to_owned(),
        ..Setup::default()
    };
    Some(Mosquitto::start_with(&mosquitto, setup))
}

/// The tool against `port` with the broker's PKI: two members, the run's own client id.
fn spawn_run(broker: &Mosquitto, port: u16, client_id: &str, flags: &[&str]) -> Spawned {
    let mut args = broker.args();
    if let Some(at) = args.iter().position(|arg| arg == "--port") {
        args[at + 1] = port.to_string();
    }
    let ours = ["--subscribers", "2", "--client_id", client_id];
    spawn_tool(&with(with(args, &ours), flags))
}

/// The slow member's run: member 2 acknowledges each message 100 ms after it came, one at a
/// time, so at any moment it holds one message whose PUBACK mosquitto has not had; its session
/// is kept (`--session-expiry`), so mosquitto sends that message again after the cut.
const SLOW_MEMBER_RUN: [&str; 10] = [
    "--count",
    "40",
    "--interval",
    "10ms",
    "--slow-member",
    "2=100ms",
    "--session-expiry",
    "1m",
    "--timeout",
    "30s",
];

/// Cuts member 2 for a second once it has received a few messages, and waits for the end.
fn cut_the_slow_member(mut run: Spawned, cut: impl FnOnce(), json: bool) -> Run {
    let mut receipts = 0;
    let mut three = |line: &str| {
        receipts += usize::from(line.contains("subscriber-2") && line.contains("received"));
        receipts >= 3
    };
    // Events are JSON lines on stdout with --json, log lines on stderr without.
    let seen = match json {
        true => run.wait_for_stdout(&mut three, LIMIT),
        false => run.wait_for_stderr(&mut three, LIMIT),
    };
    assert!(seen, "member 2 received nothing");
    cut();
    run.finish(LIMIT)
}

/// Through the proxy, mosquitto's DUP flag is gone: the member's second copy looks new. It came
/// on the member's second connection of the same session, and the report says it is the
/// broker's redelivery, without DUP, in the words a user reads.
#[test]
fn a_redelivery_without_the_dup_flag_is_named_a_redelivery() {
    let Some(broker) = plain_mosquitto("a_redelivery_without_the_dup_flag_is_named_a_redelivery")
    else {
        return;
    };
    let proxy = AwsLikeProxy::start(&broker.files, broker.port, Rewrites::AWS);
    let run = spawn_run(&broker, proxy.port(), "t-nodup", &SLOW_MEMBER_RUN);
    let run = cut_the_slow_member(
        run,
        || assert_eq!(proxy.cut_for("subscriber-2", Duration::from_secs(1)), 1),
        false,
    );
    let redelivered = proxy.dup_cleared();
    assert!(redelivered >= 1, "mosquitto sent nothing again\n{run}");
    // Every message reached the group; the only duplicates are the redeliveries (a member got
    // the message twice, so the verdict is still `duplicated`, as with DUP).
    assert_eq!(run.code, Some(3), "{run}");
    let verdict = run
        .stdout
        .lines()
        .find(|line| line.starts_with("40 published · "))
        .unwrap_or_else(|| panic!("no verdict line\n{run}"));
    let duplicated: usize = verdict
        .split(" · ")
        .find(|part| part.contains(" duplicated"))
        .and_then(|part| part.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{verdict}"));
    assert!(
        verdict.contains(" · 0 missing · ")
            && verdict.contains(&format!(
                "{duplicated} duplicated ({duplicated} redelivered)"
            )),
        "{verdict}"
    );
    assert!(duplicated >= 1 && duplicated <= redelivered, "{verdict}");
    let words = match duplicated {
        1 => "which came without the DUP flag (AWS IoT Core sets none), known as such by coming on a later connection of the same kept session".to_owned(),
        n => format!("all {n} without the DUP flag (AWS IoT Core sets none)"),
    };
    assert!(run.stdout.contains(&words), "{run}");
    assert!(!run.stdout.contains("nothing explains it"), "{run}");
    assert!(!run.stdout.contains("reached two members"), "{run}");
}

/// The same in `--json`: each redelivered copy came with `dup: false` on connection 2 of the
/// session that began on connection 1, and the summary lists it in `redelivered` and
/// `redelivered_without_dup`.
#[test]
fn without_dup_the_summary_lists_the_redeliveries_and_their_connection() {
    let Some(broker) =
        plain_mosquitto("without_dup_the_summary_lists_the_redeliveries_and_their_connection")
    else {
        return;
    };
    let proxy = AwsLikeProxy::start(&broker.files, broker.port, Rewrites::AWS);
    let flags = [&SLOW_MEMBER_RUN[..], &["--json"]].concat();
    let run = spawn_run(&broker, proxy.port(), "t-nodup-json", &flags);
    let run = cut_the_slow_member(
        run,
        || assert_eq!(proxy.cut_for("subscriber-2", Duration::from_secs(1)), 1),
        true,
    );
    let summary = redeliveries_only(&run);
    let redelivered = numbers(&summary["redelivered"]);
    assert_eq!(numbers(&summary["redelivered_without_dup"]), redelivered);
    assert!(redelivered.len() <= proxy.dup_cleared(), "{summary}");
    for seq in &redelivered {
        let copies = copies_of(&run, *seq);
        assert_eq!(copies.len(), 2, "{copies:?}");
        assert!(copies.iter().all(|copy| copy["dup"] == false), "{copies:?}");
        let via = |copy: &Value| (copy["connection"].clone(), copy["session_since"].clone());
        assert_eq!(via(&copies[0]), (1.into(), 1.into()), "{copies:?}");
        assert_eq!(via(&copies[1]), (2.into(), 1.into()), "{copies:?}");
    }
    support::assert_json_matches_readme(&run, &["received", "reconnected", "summary"]);
}

/// mosquitto's own bytes (a TCP proxy, TLS end to end): the copy comes flagged DUP, and the
/// summary lists it in `redelivered` but not in `redelivered_without_dup`. The cut takes every
/// connection, the publisher's too, so a duplicate may also be the publisher's own re-send.
#[test]
fn with_dup_the_redeliveries_are_named_as_before() {
    let Some(mosquitto) = mosquitto_or_skip("with_dup_the_redeliveries_are_named_as_before") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let proxy = FaultProxy::start(broker.port);
    let flags = [&SLOW_MEMBER_RUN[..], &["--json"]].concat();
    let run = spawn_run(&broker, proxy.port(), "t-dup", &flags);
    let run = cut_the_slow_member(run, || proxy.cut_for(Duration::from_secs(1)), true);
    let summary = run.summary();
    assert_eq!(summary["missing"], Value::Array(vec![]), "{summary}");
    assert_eq!(summary["unique"], 40, "{summary}");
    let redelivered = numbers(&summary["redelivered"]);
    assert!(!redelivered.is_empty(), "nothing redelivered\n{summary}");
    assert_eq!(summary["redelivered_without_dup"], Value::Array(vec![]));
    for seq in &redelivered {
        let copies = copies_of(&run, *seq);
        assert!(copies.iter().any(|copy| copy["dup"] == true), "{copies:?}");
    }
    let named: Vec<u64> = ["redelivered", "resent_unacknowledged", "resent_lost"]
        .iter()
        .flat_map(|field| numbers(&summary[*field]))
        .collect();
    for seq in numbers(&summary["duplicated"]) {
        assert!(named.contains(&seq), "#{seq} has no cause\n{summary}");
    }
    assert_eq!(run.code, Some(3), "{run}");
}

/// Every message reached the group, and every duplicate is a redelivery: the summary.
fn redeliveries_only(run: &Run) -> Value {
    let summary = run.summary();
    assert_eq!(run.code, Some(3), "{summary}\n{run}");
    assert_eq!(summary["unique"], 40, "{summary}");
    assert_eq!(summary["missing"], Value::Array(vec![]), "{summary}");
    let duplicated = numbers(&summary["duplicated"]);
    assert!(!duplicated.is_empty(), "{summary}");
    assert_eq!(numbers(&summary["redelivered"]), duplicated, "{summary}");
    summary
}

/// The `received` events of message `seq`, in order.
fn copies_of(run: &Run, seq: u64) -> Vec<Value> {
    run.events("received")
        .into_iter()
        .filter(|event| event["seq"] == seq)
        .collect()
}

fn numbers(list: &Value) -> Vec<u64> {
    list.as_array()
        .map(|list| list.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

/// A bulk run, so that messages are in flight at any moment: 3000 QoS 1 messages as fast as the
/// broker takes them.
const BULK_RUN: [&str; 4] = ["--count", "3000", "--interval", "0"];

/// Waits until the members have received `some` messages, then cuts both of them (not the
/// publisher) for a second: the group has no member while the publisher's messages in flight
/// reach mosquitto, which answers 0x10 for each, and the proxy 0x00.
fn leave_the_group_without_members(run: &mut Spawned, proxy: &AwsLikeProxy, json: bool) {
    let mut receipts = 0;
    let mut some = |line: &str| {
        receipts += usize::from(line.contains("received"));
        receipts >= 300
    };
    let seen = match json {
        true => run.wait_for_stdout(&mut some, LIMIT),
        false => run.wait_for_stderr(&mut some, LIMIT),
    };
    assert!(seen, "the members received nothing");
    assert_eq!(proxy.cut_for("subscriber", Duration::from_secs(1)), 2);
}

/// No 0x10 comes, as on AWS IoT Core: the hold (driven by the members' broken connections, not
/// by PUBACKs) stops the publisher, and what the broker took while no member was there is sent
/// again once the members are back and past it (`resent_lost`). Every message arrives once.
#[test]
fn a_group_without_members_and_no_0x10_still_gets_every_message_once() {
    let test = "a_group_without_members_and_no_0x10_still_gets_every_message_once";
    let Some(broker) = plain_mosquitto(test) else {
        return;
    };
    let proxy = AwsLikeProxy::start(&broker.files, broker.port, Rewrites::AWS);
    let flags = [&BULK_RUN[..], &["--timeout", "20s", "--json"]].concat();
    let mut run = spawn_run(&broker, proxy.port(), "t-nobody", &flags);
    leave_the_group_without_members(&mut run, &proxy, true);
    let run = run.finish(LIMIT);
    let hidden = proxy.no_matching_hidden();
    let summary = run.summary();
    eprintln!(
        "{hidden} PUBACKs 0x10 answered 0x00; sent again as lost: {}",
        summary["resent_lost"]
    );
    assert!(
        hidden > 0,
        "nothing went to nobody: nothing was tested\n{run}"
    );
    assert_exactly_once(&run, 3000);
    // The tool never heard 0x10: nothing is unrouted, nothing sent again for it.
    assert_eq!(summary["unrouted"], Value::Array(vec![]), "{summary}");
    assert_eq!(
        summary["resent_unrouted"],
        Value::Array(vec![]),
        "{summary}"
    );
    assert!(
        numbers(&summary["resent_lost"]).len() >= hidden,
        "{summary}"
    );
    assert!(run
        .events("published")
        .iter()
        .all(|event| event.get("no_matching_subscribers").is_none()));
}

/// With `--no-hold` nothing is sent again: what went to nobody is missing, and the report says
/// why in words that hold without 0x10 (the members' reconnects), not "members outside this
/// run" and not "PUBACK 0x10".
#[test]
fn without_the_hold_what_went_to_nobody_is_missing_for_the_right_cause() {
    let test = "without_the_hold_what_went_to_nobody_is_missing_for_the_right_cause";
    let Some(broker) = plain_mosquitto(test) else {
        return;
    };
    let proxy = AwsLikeProxy::start(&broker.files, broker.port, Rewrites::AWS);
    // What went to nobody never comes: the run waits out --timeout for it, then names it.
    let more = ["--timeout", "5s", "--no-hold", "--per-message-logs", "on"];
    let flags = [&BULK_RUN[..], &more].concat();
    let mut run = spawn_run(&broker, proxy.port(), "t-nohold", &flags);
    leave_the_group_without_members(&mut run, &proxy, false);
    let run = run.finish(LIMIT);
    let hidden = proxy.no_matching_hidden();
    assert!(
        hidden > 0,
        "nothing went to nobody: nothing was tested\n{run}"
    );
    assert_eq!(run.code, Some(3), "{run}");
    let verdict = run
        .stdout
        .lines()
        .find(|line| line.starts_with("3000 published · "))
        .unwrap_or_else(|| panic!("no verdict line\n{run}"));
    let missing: usize = verdict
        .split(" · ")
        .find_map(|part| part.strip_suffix(" missing"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{verdict}"));
    assert!(missing >= hidden, "{hidden} went to nobody\n{verdict}");
    assert!(
        run.stdout.contains(
            "2 reconnects during the run: messages published while members were disconnected are dropped by the broker"
        ),
        "{run}"
    );
    assert!(!run.stdout.contains("members outside this run"), "{run}");
    assert!(!run.stdout.contains("0x10"), "{run}");
}

/// A broker killed and started again, its 0x10 hidden: the hold keeps the publisher back until
/// both members have subscribed again, and every message arrives exactly once.
#[test]
fn a_broker_restart_without_0x10_still_gets_every_message_once() {
    let test = "a_broker_restart_without_0x10_still_gets_every_message_once";
    let Some(mut broker) = plain_mosquitto(test) else {
        return;
    };
    let proxy = AwsLikeProxy::start(&broker.files, broker.port, Rewrites::AWS);
    let flags = [
        "--count",
        "300",
        "--interval",
        "10ms",
        "--timeout",
        "30s",
        "--json",
    ];
    let mut run = spawn_run(&broker, proxy.port(), "t-restart", &flags);
    let started = run.wait_for_stdout(|line| line.contains(r#""event":"published""#), LIMIT);
    assert!(started, "the run never got to publish");
    std::thread::sleep(Duration::from_secs(1));
    broker.kill();
    broker.restart();
    let run = run.finish(LIMIT);
    eprintln!(
        "{} PUBACKs 0x10 answered 0x00; summary: {}",
        proxy.no_matching_hidden(),
        run.summary()
    );
    assert_exactly_once(&run, 300);
    assert!(!run.events("reconnected").is_empty(), "{run}");
}

/// Exit 0, and each of `count` messages reached the group exactly once.
fn assert_exactly_once(run: &Run, count: u64) {
    let summary = run.summary();
    assert_eq!(run.code, Some(0), "{summary}\n{run}");
    assert_eq!(summary["verdict"], "ok", "{summary}");
    assert_eq!(summary["unique"], count, "{summary}");
    assert_eq!(summary["received"], count, "{summary}");
    assert_eq!(summary["missing"], Value::Array(vec![]), "{summary}");
    assert_eq!(summary["duplicated"], Value::Array(vec![]), "{summary}");
}
