//! Output that scales: a line per message for small runs, a progress bar on a terminal for long
//! ones, and in a pipe neither the bar nor a flood of lines. Against the embedded demo broker.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{run_command, run_tool, BIN};

const LIMIT: Duration = Duration::from_secs(60);

fn demo(more: &[&str]) -> Vec<String> {
    ["--demo", "--qos", "0", "--client_id", "out"]
        .iter()
        .chain(more)
        .map(|s| s.to_string())
        .collect()
}

/// `script` (util-linux) runs the tool on a pseudo-terminal, as a person at a terminal would.
fn script_or_skip(test: &str) -> bool {
    let found = Command::new("script").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: `script` (util-linux) is needed under CI"
        );
        eprintln!("SKIPPED {test}: `script` (util-linux) is not installed");
    }
    found
}

#[test]
fn a_long_run_on_a_terminal_shows_a_progress_bar() {
    if !script_or_skip("a_long_run_on_a_terminal_shows_a_progress_bar") {
        return;
    }
    let line = std::iter::once(BIN.to_owned())
        .chain(demo(&["--count", "5000"]))
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = Command::new("script");
    support::without_tool_env(&mut command).args(["-qec", &line, "/dev/null"]);
    let run = run_command(command, LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    // On a pty stdout and stderr are one stream: the bar's text is in it, and no line per message.
    assert!(run.stdout.contains("/5000 received · "), "{run}");
    assert!(run.stdout.contains(" msg/s · published "), "{run}");
    assert!(!run.stdout.contains(" received #"), "{run}");
    assert!(run.stdout.contains("5000 delivered exactly once"), "{run}");
}

#[test]
fn a_long_run_in_a_pipe_shows_neither_a_bar_nor_a_line_per_message() {
    let run = run_tool(&demo(&["--count", "5000"]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(!run.stderr.contains(" received · "), "{run}");
    assert!(!run.stderr.contains(" received #"), "{run}");
    // What does matter still shows: who joined, the publisher's line.
    assert!(run.stderr.contains("subscribed to $share/"), "{run}");
    assert!(run.stderr.contains("published #1–#5000"), "{run}");
}

#[test]
fn per_message_logs_are_on_for_small_runs_and_on_demand() {
    let small = run_tool(&demo(&["--count", "1000"]), LIMIT);
    assert_eq!(small.stderr.matches(" received #").count(), 1000, "{small}");
    let forced = run_tool(
        &demo(&["--count", "1500", "--per-message-logs", "on"]),
        LIMIT,
    );
    assert_eq!(
        forced.stderr.matches(" received #").count(),
        1500,
        "{forced}"
    );
    let quiet = run_tool(
        &demo(&["--count", "10", "--per-message-logs", "off"]),
        LIMIT,
    );
    assert_eq!(quiet.code, Some(0), "{quiet}");
    assert!(!quiet.stderr.contains(" received #"), "{quiet}");
}

/// `--json` keeps every event however long the run (it goes through a buffer, not a write per line).
#[test]
fn json_keeps_every_event_of_a_long_run() {
    let run = run_tool(&demo(&["--count", "5000", "--json"]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.events("received").len(), 5000);
    assert_eq!(run.events("published").len(), 5000);
    assert_eq!(run.summary()["unique"], 5000);
}

/// `--histogram` draws the split and the delays; each member's bar is there with its count, and
/// the delay bands add up to every receipt.
#[test]
fn histograms_show_the_split_and_the_delays() {
    let run = run_tool(
        &demo(&["--count", "300", "--subscribers", "3", "--histogram"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let split = run
        .stdout
        .split("split over the members:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no split histogram\n{run}"));
    let bars: Vec<&str> = split.lines().take(3).collect();
    for k in 1..=3 {
        let bar = bars
            .iter()
            .find(|line| line.starts_with(&format!("out-subscriber-{k} ")))
            .unwrap_or_else(|| panic!("no bar for member {k}\n{run}"));
        assert!(bar.contains('█') && bar.ends_with(" 100"), "{bar}");
    }
    let delays = run
        .stdout
        .split("delays, publish to receipt (the group):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no delay histogram\n{run}"));
    let total: u64 = delays
        .lines()
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 300, "{delays}");
}
