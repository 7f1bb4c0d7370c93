//! `--conformance` and the command line: a flag only a run reads is refused in one line that
//! names it and says why (exit 2), before any broker is started or dialled; a value from the
//! environment is not refused (the cases just do not read it). The flags that do apply are used
//! by the suites of `tests/conformance.rs` (`--demo`, `--json`, `--timeout`, the connection and
//! TLS flags) and `tests/html.rs` (`--html`).

mod support;

use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::Pki;
use support::{assert_one_line_error, free_port, run_command, run_tool, tool_command, with};

/// A refusal comes before any network: well under this.
const REFUSAL_LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_run_only_flag_is_refused_by_name_with_exit_2() {
    for (flag, value, why) in [
        ("--count", Some("5"), "its cases choose their own counts"),
        (
            "--subscribers",
            Some("3"),
            "its cases choose their own members",
        ),
        (
            "--publishers",
            Some("2"),
            "its cases choose their own publishers",
        ),
        ("--rate", Some("100"), "its cases pace themselves"),
        (
            "--duration",
            Some("5s"),
            "each case ends when its question is answered",
        ),
        ("--qos", Some("0"), "its cases choose their own QoS"),
        (
            "--topic",
            Some("my/topic"),
            "its cases publish to topics of their own",
        ),
        ("--role", Some("publisher"), "it plays every part itself"),
        ("--no-hold", None, "its cases publish on their own terms"),
        ("--histogram", None, "it measures no delivery delays"),
        (
            "--keep-running",
            Some("/tmp/unused"),
            "the demo broker stops",
        ),
    ] {
        let mut args = vec![
            "--demo".to_owned(),
            "--conformance".to_owned(),
            flag.to_owned(),
        ];
        args.extend(value.map(str::to_owned));
        let started = Instant::now();
        let run = run_tool(&args, REFUSAL_LIMIT);
        let words = format!("{flag} does not apply to --conformance: {why}");
        assert_one_line_error(&run, 2, &[&words]);
        assert!(run.stdout.is_empty(), "no rows\n{run}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "refused before the demo broker starts\n{run}"
        );
    }
}

/// Against a broker given by --endpoint, the refusal comes before the dial: exit 2 with nobody
/// listening on the port, not the connection failure's exit 1.
#[test]
fn the_refusal_comes_before_the_broker_is_dialled() {
    let pki = Pki::new("conformance flags test CA").expect("CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let files = pki.write_files(dir.path()).expect("PKI files");
    let args = with(
        support::client_args(&files, "127.0.0.1", free_port()),
        &["--conformance", "--churn", "leave:2@30%"],
    );
    let run = run_tool(&args, REFUSAL_LIMIT);
    assert_one_line_error(
        &run,
        2,
        &["--churn does not apply to --conformance: its cases make their own faults"],
    );
}

/// `MQTT5_TOPIC` and `MQTT5_GROUP` in the environment (set for a shell's or a CI job's real runs)
/// are no reason to refuse: the run goes on to dial the broker, which here is not there (exit 1).
#[test]
fn a_run_value_from_the_environment_is_not_refused() {
    let pki = Pki::new("conformance flags test CA").expect("CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let files = pki.write_files(dir.path()).expect("PKI files");
    let port = free_port();
    let args = with(
        support::client_args(&files, "127.0.0.1", port),
        &["--conformance", "--timeout", "3s"],
    );
    let mut command = tool_command(&args);
    command
        .env("MQTT5_TOPIC", "from/the/environment")
        .env("MQTT5_GROUP", "env-group");
    let run = run_command(command, Duration::from_secs(30));
    assert_one_line_error(&run, 1, &["127.0.0.1"]);
    assert!(!run.stderr.contains("does not apply"), "{run}");
}
