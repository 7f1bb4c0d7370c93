//! What the broker says in its CONNACK wins over what we asked (MQTT 5 §3.2.2.3), against a real
//! mosquitto set to say something: `max_keepalive 10` answers a requested 30 s keep-alive with a
//! Server Keep Alive of 10 s, and `max_qos 0` allows QoS 0 publishes only.

mod support;

use std::time::Duration;

use support::{mosquitto_or_skip, run_tool, with, Mosquitto, Setup};

const LIMIT: Duration = Duration::from_secs(60);

fn mosquitto_saying(extra: &str, test: &str) -> Option<Mosquitto> {
    let binary = mosquitto_or_skip(test)?;
    Some(Mosquitto::start_with(
        &binary,
        Setup {
            extra: extra.to_owned(),
            ..Setup::default()
        },
    ))
}

/// `--check` lists the value, marked as changed; a run logs the change once and goes on.
#[test]
fn a_lowered_keep_alive_is_listed_and_logged() {
    let test = "a_lowered_keep_alive_is_listed_and_logged";
    let Some(broker) = mosquitto_saying("max_keepalive 10\n", test) else {
        return;
    };
    let check = run_tool(
        &with(broker.args(), &["--check", "--keep-alive", "30s"]),
        LIMIT,
    );
    assert_eq!(check.code, Some(0), "{check}");
    let connack = check
        .stdout
        .lines()
        .find(|line| line.starts_with("✓ CONNACK: "))
        .unwrap_or_else(|| panic!("no CONNACK line\n{check}"));
    assert!(
        connack.contains("Server Keep Alive 10 s (we asked 30 s)"),
        "{connack}"
    );
    assert!(connack.contains("Receive Maximum 20"), "{connack}");

    let run = run_tool(
        &with(broker.args(), &["--keep-alive", "30s", "--count", "5"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let changed: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("keep-alive 10s instead of the 30s asked"))
        .collect();
    // Once for the run, not once for each of its three clients.
    assert_eq!(changed.len(), 1, "{run}");

    // Asking for what the broker allows changes nothing, and says nothing.
    let run = run_tool(
        &with(broker.args(), &["--keep-alive", "10s", "--count", "5"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    assert!(!run.stderr.contains("instead of the"), "{run}");
}

/// A broker that allows QoS 0 only stops a QoS 1 run at its first CONNACK, with the fix; at
/// QoS 0 the run works.
#[test]
fn a_maximum_qos_below_the_run_stops_it_with_the_fix() {
    let test = "a_maximum_qos_below_the_run_stops_it_with_the_fix";
    let Some(broker) = mosquitto_saying("max_qos 0\n", test) else {
        return;
    };
    let run = run_tool(&with(broker.args(), &["--qos", "1"]), LIMIT);
    support::assert_one_line_error(
        &run,
        1,
        &[
            "accepts messages up to QoS 0 only",
            "Maximum QoS",
            "use --qos 0",
        ],
    );
    let check = run_tool(&with(broker.args(), &["--check"]), LIMIT);
    assert_eq!(check.code, Some(1), "{check}");
    assert!(
        check.stdout.contains("✗ CONNACK: ") && check.stdout.contains("use --qos 0"),
        "{check}"
    );
    let run = run_tool(&with(broker.args(), &["--qos", "0", "--count", "5"]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
}
