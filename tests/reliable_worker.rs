//! `examples/reliable_worker.rs` survives a crash: two workers share a group on mosquitto (mutual
//! TLS, started by the test), one is killed with SIGKILL mid-run and started again under the same
//! client id, and the group processes every message exactly once.
//!
//! "Processed" is what the workers' journals say (`CLIENT_ID.processed`): the journal entry is
//! the worker's commit point, written before its `processed <n>` line and before its PUBACK. A
//! SIGKILL between the entry and the line leaves one message processed without its line, so the
//! test allows that one, for the killed worker only; it allows no message twice, anywhere.
//!
//! Why mosquitto gets this right: it keeps the killed worker's session (Session Expiry 1 h) with
//! its unacknowledged and queued messages, and sends them again when the same client id comes
//! back (the `--conformance` cases 4 and 5 show it). A broker that re-routed them to the other
//! worker at once would make the second worker process what the first already had (the journal
//! is per worker): see the README.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{mosquitto_or_skip, with, Mosquitto, BIN};

const MESSAGES: u32 = 300;
const RUN_ID: &str = "worker-test";

/// target/debug/examples/<name>, next to this test's own executable in target/debug/deps.
fn example(name: &str) -> PathBuf {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("examples").join(name)))
        .expect("target directory");
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --examples` (plain `cargo test` builds it)",
        path.display()
    );
    path
}

/// One worker process, its output read line by line as it comes.
struct Worker {
    child: Child,
    /// (is stderr, line)
    lines: mpsc::Receiver<(bool, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Worker {
    fn start(broker: &Mosquitto, dir: &Path, client_id: &str) -> Worker {
        let args = [
            "127.0.0.1".to_string(),
            broker.port.to_string(),
            broker.files.client_cert.display().to_string(),
            broker.files.client_key.display().to_string(),
            broker.files.ca.display().to_string(),
            client_id.into(),
            "workers".into(),
            "worker/jobs".into(),
        ];
        let mut child = Command::new(example("reliable_worker"))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reliable_worker");
        let (sender, lines) = mpsc::channel();
        for (is_stderr, pipe) in [
            (
                false,
                Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            ),
            (true, Box::new(child.stderr.take().expect("stderr"))),
        ] {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if sender.send((is_stderr, line)).is_err() {
                        return;
                    }
                }
            });
        }
        let mut worker = Worker {
            child,
            lines,
            stdout: Vec::new(),
            stderr: Vec::new(),
        };
        assert!(
            worker.wait_for(Duration::from_secs(20), |w| w
                .stderr
                .iter()
                .any(|l| l.starts_with("subscribed to $share/workers/worker/jobs"))),
            "{client_id} did not subscribe: {:?}",
            worker.stderr
        );
        worker
    }

    /// Reads output until `done` holds or `limit` passes; true if it held.
    fn wait_for(&mut self, limit: Duration, done: impl Fn(&Worker) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok((true, line)) => self.stderr.push(line),
                Ok((false, line)) => self.stdout.push(line),
                Err(_) if Instant::now() >= deadline => return done(self),
                Err(_) => {}
            }
        }
    }

    /// The numbers of its `processed <n>` lines so far.
    fn processed(&mut self) -> Vec<u32> {
        self.wait_for(Duration::ZERO, |_| false);
        self.stdout
            .iter()
            .filter_map(|l| l.strip_prefix("processed ")?.parse().ok())
            .collect()
    }

    /// SIGKILL: no DISCONNECT, no flush, no clean-up, as a crash.
    fn kill(mut self) -> Worker {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What it wrote before it died is still in the pipes.
        self.wait_for(Duration::from_millis(300), |_| false);
        self
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message numbers in a worker's journal (entries `<run id> <n>`).
fn journal(dir: &Path, client_id: &str) -> Vec<u32> {
    std::fs::read_to_string(dir.join(format!("{client_id}.processed")))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.strip_prefix(&format!("{RUN_ID} "))?.parse().ok())
        .collect()
}

#[test]
fn a_worker_killed_mid_run_and_restarted_processes_nothing_twice_and_loses_nothing() {
    let Some(binary) = mosquitto_or_skip(
        "a_worker_killed_mid_run_and_restarted_processes_nothing_twice_and_loses_nothing",
    ) else {
        return;
    };
    let broker = Mosquitto::start(&binary);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut a = Worker::start(&broker, dir.path(), "worker-a");
    let mut b = Worker::start(&broker, dir.path(), "worker-b");

    // The sample's own publisher, in a process of its own: numbered messages at 200 a second.
    let publisher_args = with(
        broker.args(),
        &[
            "--role",
            "publisher",
            "--run-id",
            RUN_ID,
            "--client_id",
            "worker-test-pub",
            "--group_identifier",
            "workers",
            "--topic",
            "worker/jobs",
            "--count",
            "300",
            "--interval",
            "5ms",
            "--per-message-logs",
            "off",
        ],
    );
    let mut publisher = Command::new(BIN)
        .args(&publisher_args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the publisher");

    // Kill worker A once it is well into its share, and start it again half a second later.
    assert!(
        a.wait_for(Duration::from_secs(30), |w| w
            .stdout
            .iter()
            .filter(|l| l.starts_with("processed "))
            .count()
            >= 30),
        "worker A processed too little: {:?}",
        a.stderr
    );
    let mut a_before = a.kill();
    let killed_after = a_before.processed();
    std::thread::sleep(Duration::from_millis(500));
    let mut a_after = Worker::start(&broker, dir.path(), "worker-a");

    let deadline = Instant::now() + Duration::from_secs(60);
    let published = loop {
        if let Some(status) = publisher.try_wait().expect("wait for the publisher") {
            break status;
        }
        assert!(Instant::now() < deadline, "the publisher did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(published.success(), "publisher exit {published:?}");

    // Wait until the journals account for every message (or stop changing).
    let all_done = |dir: &Path| {
        let mut done = journal(dir, "worker-a");
        done.extend(journal(dir, "worker-b"));
        done.into_iter().collect::<BTreeSet<u32>>().len() == MESSAGES as usize
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !all_done(dir.path()) && Instant::now() < deadline {
        a_after.processed();
        b.processed();
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));

    let journal_a = journal(dir.path(), "worker-a");
    let journal_b = journal(dir.path(), "worker-b");
    let lines: BTreeMap<&str, Vec<u32>> = [
        ("A before the kill", killed_after.clone()),
        ("A after the restart", a_after.processed()),
        ("B", b.processed()),
    ]
    .into_iter()
    .collect();
    let report = format!(
        "journal A: {} entries, journal B: {} entries; lines: {:?}\nA after restart, stderr: {:?}",
        journal_a.len(),
        journal_b.len(),
        lines.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        a_after.stderr
    );

    // Exactly once, by the journals: every number, once, in one journal only.
    let mut all: Vec<u32> = journal_a.iter().chain(&journal_b).copied().collect();
    all.sort_unstable();
    let expected: Vec<u32> = (1..=MESSAGES).collect();
    assert_eq!(
        all, expected,
        "each message processed exactly once\n{report}"
    );

    // The lines agree: nothing printed twice, each printed number in its worker's journal, and
    // at most one processed without its line (the instant of the SIGKILL), in A's journal.
    let mut printed: Vec<u32> = lines.values().flatten().copied().collect();
    printed.sort_unstable();
    let before = printed.len();
    printed.dedup();
    assert_eq!(printed.len(), before, "a `processed` line twice\n{report}");
    for (label, numbers) in &lines {
        let own = if label.starts_with('A') {
            &journal_a
        } else {
            &journal_b
        };
        assert!(
            numbers.iter().all(|n| own.contains(n)),
            "{label} printed a number its journal lacks\n{report}"
        );
    }
    let unprinted: Vec<u32> = expected
        .iter()
        .copied()
        .filter(|n| printed.binary_search(n).is_err())
        .collect();
    assert!(
        unprinted.len() <= 1 && unprinted.iter().all(|n| journal_a.contains(n)),
        "processed without a line: {unprinted:?}\n{report}"
    );

    // The restarted worker came back to its session, and both took a share.
    assert!(
        a_after
            .stderr
            .iter()
            .any(|l| l == "connected, session present: true"),
        "{report}"
    );
    assert!(
        !journal_b.is_empty() && !lines["A after the restart"].is_empty(),
        "{report}"
    );
    eprintln!("{report}");
    drop(a_before);
}
