//! Ctrl-C and SIGTERM mid-run: stop publishing, leave the group, disconnect, print the partial
//! report, exit 130. Runs against the embedded demo broker, so it needs nothing installed.

#![cfg(all(feature = "demo", unix))]

mod support;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Starts a slow demo run, sends `signal` once messages flow, and returns (exit code, stdout, stderr).
fn interrupt_with(signal: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(support::BIN)
        .args([
            "--demo",
            "--count",
            "2000",
            "--interval",
            "5ms",
            "--client_id",
            "ctrl-c",
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (lines_tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // Wait until messages are flowing, so the run is really in the middle.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the run logs receipts")
        .contains(" received #")
    {
        assert!(Instant::now() < deadline, "no receipts within 30 s");
    }
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{signal} {}", child.id())])
        .status()
        .expect("send signal");
    assert!(status.success());

    let signalled = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if signalled.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the run did not end within 20 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    let _ = stdout.read_to_string(&mut out);
    (code, out, reader.join().unwrap_or_default())
}

fn check_partial_report(signal: &str) {
    let (code, stdout, stderr) = interrupt_with(signal);
    let context = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert_eq!(code, Some(130), "{context}");
    assert!(stderr.contains("interrupted"), "{context}");
    // The partial report: a verdict line with fewer than all 2000 published, and the reason.
    let verdict = stdout
        .lines()
        .find(|l| l.contains(" published · "))
        .unwrap_or_else(|| panic!("no verdict line\n{context}"));
    let published: u32 = verdict
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("published count");
    assert!(published > 0 && published < 2000, "{verdict}");
    assert!(
        stdout.contains("never published (the run stopped early)"),
        "{context}"
    );
    // Every member left the group and disconnected: no error, no panic.
    assert!(!stderr.contains("error:"), "{context}");
    assert!(!stderr.contains("panicked"), "{context}");
}

#[test]
fn ctrl_c_prints_the_partial_report_and_exits_130() {
    check_partial_report("INT");
}

#[test]
fn sigterm_prints_the_partial_report_and_exits_130() {
    check_partial_report("TERM");
}
