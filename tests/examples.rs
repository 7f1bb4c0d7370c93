//! The programs in `examples/` work: two `shared_member`s split what `numbered_publisher` sends.
//!
//! They run against the embedded demo broker (mTLS, client certificates required), so this test
//! needs nothing installed. `cargo test` builds the examples before it runs any test.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mqtt5_shared_subscription::pki::Pki;
use mqtt5_shared_subscription::DemoBroker;

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

/// Starts an example and forwards its stdout lines to a channel.
fn start(name: &str, args: &[String]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start example");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_the_publishers_messages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = Pki::new("examples CA")
        .and_then(|pki| pki.write_files(dir.path()))
        .expect("PKI");
    let broker = DemoBroker::start(&files).await.expect("demo broker");
    let connection = vec![
        "127.0.0.1".to_string(),
        broker.addr().port().to_string(),
        files.client_cert.display().to_string(),
        files.client_key.display().to_string(),
        files.ca.display().to_string(),
    ];

    let member_args = [
        connection.clone(),
        vec!["ex-group".into(), "ex/topic".into()],
    ]
    .concat();
    let mut members = Vec::new();
    for _ in 0..2 {
        let (child, lines) = start("shared_member", &member_args);
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("member says it subscribed");
        assert!(
            first.contains("subscribed to $share/ex-group/ex/topic"),
            "{first}"
        );
        // The example prints the granted QoS; a refusal would have ended it with an error.
        assert!(first.contains("AtLeastOnce"), "unexpected SUBACK: {first}");
        members.push((child, lines));
    }

    let publisher_args = [connection, vec!["ex/topic".into(), "10".into()]].concat();
    let publisher = tokio::task::spawn_blocking(move || {
        Command::new(example("numbered_publisher"))
            .args(&publisher_args)
            .output()
            .expect("run publisher")
    })
    .await
    .expect("publisher task");
    assert!(publisher.status.success(), "{publisher:?}");
    let acks = String::from_utf8_lossy(&publisher.stdout)
        .lines()
        .filter(|l| l.starts_with("PUBACK"))
        .count();
    assert_eq!(acks, 10);

    // Collect what each member printed until all ten messages are accounted for.
    let mut received: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while received.iter().map(Vec::len).sum::<usize>() < 10 && std::time::Instant::now() < deadline
    {
        for (k, (_, lines)) in members.iter().enumerate() {
            while let Ok(line) = lines.try_recv() {
                if let Some(payload) = line.strip_prefix("received: ") {
                    received[k].push(payload.to_owned());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (mut child, _) in members {
        let _ = child.kill();
        let _ = child.wait();
    }
    broker.stop().await;

    let mut all: Vec<String> = received.concat();
    all.sort();
    let mut expected: Vec<String> = (1..=10).map(|n| format!("Hello World! [{n}]")).collect();
    expected.sort();
    assert_eq!(all, expected, "each message exactly once across the group");
    assert!(
        received.iter().all(|r| !r.is_empty()),
        "both members got a share: {received:?}"
    );
}
