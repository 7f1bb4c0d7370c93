//! `--demo` end to end: the real binary, its embedded mTLS broker, no external process.

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
            "10 published · 10 delivered exactly once to group 'rust-sample' (2 members of this run) · 0 missing · 0 duplicated"
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

/// The README's --json section documents every kind the tool prints, and the parser above reads
/// it: a parser that read nothing would let any output through.
#[test]
fn the_readme_documents_every_json_line() {
    let documented = support::readme_json_fields();
    let kinds: Vec<&str> = documented.keys().map(String::as_str).collect();
    assert_eq!(
        kinds,
        [
            "churn",
            "connected",
            "connection_lost",
            "end_of_run",
            "holding",
            "published",
            "received",
            "reconnected",
            "resumed",
            "sending_again",
            "subscribed",
            "summary",
            "unacknowledged",
        ]
    );
    assert_eq!(
        documented["summary"].len(),
        36,
        "{:?}",
        documented["summary"]
    );
    assert!(
        !documented["published"]["no_matching_subscribers"],
        "sometimes"
    );
    assert!(documented["received"]["seq"], "always (null for foreign)");
    assert!(
        !documented["summary"]["groups"],
        "only with several groups or --control"
    );
}

/// Every line of a `--json` run is what the README's tables say: no field more, none missing.
#[test]
fn json_lines_match_the_readme() {
    let run = run_tool(&demo(&["--json", "--count", "20"]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["interrupted"], false, "{run}");
    // The demo broker, like mosquitto, takes strict turns.
    assert_eq!(summary["fairness"]["pattern"], "round_robin", "{summary}");
    support::assert_json_matches_readme(
        &run,
        &[
            "connected",
            "subscribed",
            "published",
            "received",
            "summary",
        ],
    );
}

#[test]
fn five_members_share_a_thousand_messages_at_qos1() {
    check_bulk_run("1");
}

#[test]
fn five_members_share_a_thousand_messages_at_qos0() {
    check_bulk_run("0");
}

/// The demo broker, too, gives each group its own copy and the control subscriber everything.
#[test]
fn the_demo_broker_serves_several_groups_and_a_control() {
    let run = run_tool(
        &demo(&["--groups", "a,b,c", "--control", "--count", "30", "--json"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    for group in ["a", "b", "c"] {
        let group = &summary["groups"][group];
        assert_eq!(group["unique"], 30, "{summary}");
        assert_eq!(
            group["duplicated"],
            serde_json::Value::Array(vec![]),
            "{summary}"
        );
    }
    assert_eq!(summary["control"]["unique"], 30, "{summary}");
    support::assert_json_matches_readme(
        &run,
        &[
            "connected",
            "subscribed",
            "published",
            "received",
            "summary",
        ],
    );
}

#[test]
fn keep_running_requires_demo() {
    let run = run_tool(&["--keep-running".into(), "/tmp/x".into()], LIMIT);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--demo"), "{run}");
}

/// `--keep-running DIR` keeps the broker up and prints command lines that really work: the
/// printed sample command joins the same broker with the certificates left in DIR.
#[cfg(unix)]
#[test]
fn keep_running_prints_a_command_that_joins_the_same_broker() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().expect("temp dir");
    let pki_dir = dir.path().join("demo-pki");
    let mut demo = support::without_tool_env(&mut Command::new(support::BIN))
        .args(["--demo", "-q", "--keep-running"])
        .arg(&pki_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start --demo --keep-running");
    let mut printed = String::new();
    let mut lines = BufReader::new(demo.stderr.take().expect("stderr")).lines();
    let sample_command = loop {
        let line = lines
            .next()
            .expect("the demo explains how to join before Ctrl-C")
            .expect("stderr line");
        printed.push_str(&line);
        printed.push('\n');
        if line.contains(" --endpoint 127.0.0.1 --port ") {
            break line;
        }
    };
    for file in ["ca.pem", "device.pem.crt", "private.pem.key"] {
        assert!(pki_dir.join(file).is_file(), "{file} not in DIR\n{printed}");
    }
    assert!(
        printed.contains("mosquitto_sub -V mqttv5 -h 127.0.0.1 -p "),
        "{printed}"
    );

    // Run the printed command as a user would paste it (it names this very binary).
    let words: Vec<String> = sample_command
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(words[0], support::BIN, "{sample_command}");
    let joined = run_tool(&words[1..], LIMIT);
    assert_eq!(joined.code, Some(0), "{joined}");
    assert!(
        joined.stdout.contains("10 delivered exactly once"),
        "{joined}"
    );

    // Ctrl-C stops the kept broker; the exit code is still the first run's verdict.
    Command::new("sh")
        .args(["-c", &format!("kill -INT {}", demo.id())])
        .status()
        .expect("send SIGINT");
    let deadline = std::time::Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = demo.try_wait().expect("wait") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

/// One member is "1 member", in the verdict line and wherever the report counts members.
#[test]
fn one_member_is_counted_in_the_singular() {
    let run = run_tool(&demo(&["--subscribers", "1"]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout
            .contains("delivered exactly once to group 'rust-sample' (1 member of this run)"),
        "{run}"
    );
    assert!(!run.stdout.contains("1 members"), "{run}");
}

/// The log follows the order things happened: the publisher's `published #1–#10` comes after
/// its own `connected` (it came first in 1 of 3 demo runs when the publisher logged it itself,
/// while its `connected` waited in the loop's queue). Five runs, as it was a race.
#[test]
fn the_publishers_lines_come_in_the_order_they_happened() {
    for _ in 0..5 {
        let run = run_tool(&demo(&["--client_id", "t-order"]), LIMIT);
        assert_eq!(run.code, Some(0), "{run}");
        let at = |words: &str| {
            run.stderr
                .lines()
                .position(|line| line.contains(words))
                .unwrap_or_else(|| panic!("no line with {words:?}\n{run}"))
        };
        let connected = at("[t-order-publisher] connected");
        let published = at("[t-order-publisher] published #1–#10");
        assert!(connected < published, "{run}");
        // And the publisher connects only once the group is in.
        assert!(at("subscribed to $share/") < connected, "{run}");
    }
}

/// Runs the binary with `args` in a shell whose open-file limits are `soft` and `hard`.
#[cfg(unix)]
fn with_open_file_limits(soft: u32, hard: u32, args: &str) -> support::Run {
    let mut command = std::process::Command::new("bash");
    command.args([
        "-c",
        &format!(
            "ulimit -Sn {soft} && ulimit -Hn {hard} && exec {} {args}",
            support::BIN
        ),
    ]);
    support::without_tool_env(&mut command);
    support::run_command(command, Duration::from_secs(60))
}

/// 300 members and the demo broker's ends of their connections are 600 sockets: more than a
/// soft limit of 256 open files, which the run raises itself (the hard limit allows it).
#[cfg(unix)]
#[test]
fn a_run_raises_its_open_file_limit_to_what_it_needs() {
    let run = with_open_file_limits(256, 4096, "--demo --subscribers 300 --count 300 -q");
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("300 delivered exactly once"), "{run}");
}

/// When the hard limit is too low, the run says so before it connects, and the failure names
/// the limit, not the network.
#[cfg(unix)]
#[test]
fn a_hard_limit_too_low_is_named() {
    let run = with_open_file_limits(256, 256, "--demo --subscribers 300 --count 300 -q");
    assert_eq!(run.code, Some(1), "{run}");
    assert!(run.stderr.contains("needs about"), "{run}");
    assert!(run.stderr.contains("ulimit -Hn"), "{run}");
    let error = run
        .stderr
        .lines()
        .find(|line| line.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line\n{run}"));
    assert!(error.contains("too many open files"), "{error}");
    assert!(!error.contains("network path"), "{error}");
}
