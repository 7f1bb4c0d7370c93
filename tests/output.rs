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

/// The highest resident memory (`VmHWM`) the process has had so far, in KiB; `None` once it is
/// gone.
#[cfg(target_os = "linux")]
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `--json` with stdout in a pipe that nobody reads for `stall`, then reads it to the end;
/// returns the highest resident memory seen, in KiB, how many lines came, and whether the run
/// was still going when the stall ended (held back by the reader, not buffering in memory).
#[cfg(target_os = "linux")]
fn peak_with_a_slow_reader(count: &str, stall: Duration) -> (u64, usize, bool) {
    use std::io::Read;
    use std::process::Stdio;

    let args = demo(&["--count", count, "--json", "-q"]);
    let mut child = support::tool_command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the binary");
    let pid = child.id();
    let mut peak = 0;
    let stalled = std::time::Instant::now();
    while stalled.elapsed() < stall {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let held = child.try_wait().expect("the run's status").is_none();
    let mut stdout = child.stdout.take().expect("stdout");
    let (mut text, mut chunk) = (Vec::new(), vec![0; 64 * 1024]);
    loop {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        match stdout.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&chunk[..n]),
        }
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "the run failed");
    let text = String::from_utf8(text).expect("UTF-8");
    (peak, text.lines().count(), held)
}

/// A reader that falls behind slows the run down; it must not make it grow. Before the queue was
/// bounded, 100,000 QoS 0 messages into a pipe nobody read for 3 s took the process from 30 MiB
/// (a 1,000-message run) to 57 MiB, every line and event waiting in memory; now it stays within a
/// MiB or two of the small run. The bound, 12 MiB over the small run, leaves room for allocator
/// and timing noise and is still less than half of the old growth.
#[cfg(target_os = "linux")]
#[test]
fn a_slow_reader_of_json_slows_the_run_instead_of_growing_it() {
    let (small, _, _) = peak_with_a_slow_reader("1000", Duration::ZERO);
    let (stalled, lines, held) = peak_with_a_slow_reader("100000", Duration::from_secs(3));
    // Its ~10 MB of lines cannot fit the pipe and the bounded queue: a run that ended while
    // nobody read kept them in memory.
    assert!(held, "the run finished while nobody read its output");
    // Every event and the summary came through, however slowly they were read.
    assert!(lines > 200_000, "{lines} lines");
    let grew = stalled.saturating_sub(small) / 1024;
    eprintln!(
        "peak: {} MiB for 1,000 messages, {} MiB for 100,000 read late (+{grew} MiB)",
        small / 1024,
        stalled / 1024
    );
    assert!(grew < 12, "grew by {grew} MiB with a slow reader");
}

/// Ctrl-C or SIGTERM gets through while a reader of `--json` has stalled and holds the run back:
/// the run says it is stopping at once, and ends once the reader reads again.
#[cfg(target_os = "linux")]
#[test]
fn a_signal_gets_through_while_the_json_reader_stalls() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    let args = demo(&["--count", "1000000", "--json", "-q"]);
    let mut child = support::tool_command(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = said.send(line);
        }
    });
    // Nobody reads stdout: within a moment the run is held by the full pipe.
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().expect("status").is_none(), "the run ended");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    let stopping = std::iter::from_fn(|| heard.recv_timeout(Duration::from_secs(5)).ok())
        .any(|line| line.contains("interrupted"));
    assert!(
        stopping,
        "no 'interrupted' within 5 s of SIGTERM while stdout stalled"
    );
    // Now read: the run finishes, with its partial summary last.
    let mut rest = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut rest)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(130));
    let last = rest.lines().last().unwrap_or_default();
    assert!(last.contains(r#""event":"summary""#), "{last}");
}
