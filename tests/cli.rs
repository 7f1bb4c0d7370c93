//! Bad input ends in one clear line and a defined exit code, before any network.
//!
//! These tests need no broker: every case fails while reading flags and files (exit 2), or on a
//! loopback port where nothing listens (exit 1).

mod support;

use std::time::Duration;

use mqtt5_shared_subscription::pki::Pki;
use support::{assert_one_line_error, free_port, run_tool};

const LIMIT: Duration = Duration::from_secs(30);

/// A CA and a client identity on disk, plus flags pointing at a closed loopback port.
struct Files {
    dir: tempfile::TempDir,
    files: mqtt5_shared_subscription::pki::PkiFiles,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = Pki::new("cli test CA")
        .and_then(|pki| pki.write_files(dir.path()))
        .expect("PKI");
    Files { dir, files }
}

fn args(files: &Files, cert: &str, key: &str, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--endpoint".into(),
        "127.0.0.1".into(),
        "--port".into(),
        free_port().to_string(),
        "--cert".into(),
        cert.into(),
        "--key".into(),
        key.into(),
        "--ca_file".into(),
        files.files.ca.display().to_string(),
        "--timeout".into(),
        "5s".into(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn good_args(files: &Files, more: &[&str]) -> Vec<String> {
    let cert = files.files.client_cert.display().to_string();
    let key = files.files.client_key.display().to_string();
    args(files, &cert, &key, more)
}

#[test]
fn unreadable_key_file_exits_2_naming_the_flag() {
    let files = files();
    let cert = files.files.client_cert.display().to_string();
    let missing = files.dir.path().join("no-such.key").display().to_string();
    let run = run_tool(&args(&files, &cert, &missing, &[]), LIMIT);
    assert_one_line_error(&run, 2, &["--key", "no-such.key", "cannot read"]);
}

#[test]
fn swapped_cert_and_key_are_recognised() {
    let files = files();
    let cert = files.files.client_cert.display().to_string();
    let key = files.files.client_key.display().to_string();
    let run = run_tool(&args(&files, &key, &cert, &[]), LIMIT);
    assert_one_line_error(&run, 2, &["--cert", "swap"]);
}

#[test]
fn key_of_another_certificate_is_refused() {
    let files = files();
    let other = Pki::new("other")
        .and_then(|pki| pki.client("other"))
        .expect("other identity");
    let other_key = files.dir.path().join("other.key");
    std::fs::write(&other_key, other.key_pem).expect("write key");
    let cert = files.files.client_cert.display().to_string();
    let run = run_tool(
        &args(&files, &cert, &other_key.display().to_string(), &[]),
        LIMIT,
    );
    assert_one_line_error(
        &run,
        2,
        &[
            "--cert",
            "--key",
            "does not belong",
            "private key that was created with this certificate",
        ],
    );
}

#[test]
fn qos_2_is_refused_with_the_reason() {
    let files = files();
    let run = run_tool(&good_args(&files, &["--qos", "2"]), LIMIT);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("does not support QoS 2"), "{run}");
}

#[test]
fn bad_group_and_topic_name_the_flag() {
    let files = files();
    let run = run_tool(&good_args(&files, &["--group_identifier", "a/b"]), LIMIT);
    assert_one_line_error(&run, 2, &["--group_identifier", "'/'"]);
    let run = run_tool(&good_args(&files, &["--topic", "$share/g/t"]), LIMIT);
    assert_one_line_error(&run, 2, &["--topic", "plain topic"]);
    let run = run_tool(&good_args(&files, &["--topic", "a/#"]), LIMIT);
    assert_one_line_error(&run, 2, &["--topic", "wildcard"]);
}

#[test]
fn missing_required_flags_is_a_usage_error() {
    let run = run_tool(&["--endpoint".into(), "example.com".into()], LIMIT);
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("--cert"), "{run}");
}

#[test]
fn closed_port_is_a_connection_failure() {
    let files = files();
    let run = run_tool(&good_args(&files, &[]), LIMIT);
    assert_one_line_error(&run, 1, &["refused", "--port"]);
}

#[test]
fn help_shows_an_example_and_the_exit_codes() {
    let run = run_tool(&["--help".into()], LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    for text in [
        "--endpoint",
        "--ca_file",
        "--group_identifier",
        "--demo",
        "Exit codes:",
        "3    delivery check failed",
    ] {
        assert!(
            run.stdout.contains(text),
            "--help lacks {text:?}\n{}",
            run.stdout
        );
    }
}

/// `--keep-running` only means something with `--demo`; with real flags it used to be ignored.
#[test]
fn keep_running_without_demo_is_a_usage_error() {
    let files = files();
    let dir = files.dir.path().join("kept").display().to_string();
    let run = run_tool(&good_args(&files, &["--keep-running", &dir]), LIMIT);
    assert_one_line_error(&run, 2, &["--keep-running", "needs --demo"]);
}

/// The CA certificate given as `--cert` (with the device key): the key is not what is wrong.
#[test]
fn a_ca_certificate_as_cert_is_sent_to_ca_file() {
    let files = files();
    let ca = files.files.ca.display().to_string();
    let key = files.files.client_key.display().to_string();
    let run = run_tool(&args(&files, &ca, &key, &[]), LIMIT);
    assert_one_line_error(
        &run,
        2,
        &["--cert", "a CA certificate", "belongs in --ca_file"],
    );
    assert!(!run.stderr.contains("does not belong to"), "{run}");
}

/// Several groups are named once each; a repeated name is a usage error, not a silent merge.
#[test]
fn a_group_named_twice_is_a_usage_error() {
    let files = files();
    let run = run_tool(&good_args(&files, &["--groups", "blue,green,blue"]), LIMIT);
    assert_one_line_error(&run, 2, &["--group_identifier blue is given twice"]);
    // Each name is checked like the one group's.
    let run = run_tool(
        &good_args(&files, &["--group", "ok", "--group", "a/b"]),
        LIMIT,
    );
    assert_eq!(run.code, Some(2), "{run}");
    assert!(run.stderr.contains("a/b"), "{run}");
}

/// `--churn` and `--slow-member` are checked against the run before any network.
#[test]
fn churn_steps_that_cannot_happen_are_usage_errors() {
    let files = files();
    let cases: [(&[&str], &[&str]); 10] = [
        (&["--churn", "leave:3@50%"], &["leave:3", "members 1 to 2"]),
        (
            &["--churn", "join@50%,leave:3@80%,leave:1@90%,leave:2@95%"],
            &["the last member would leave"],
        ),
        (
            &["--subscribers", "1", "--churn", "leave:1@10%,join@90%"],
            &["the last member would leave"],
        ),
        (
            &["--churn", "leave:3@20%,join@50%"],
            &["member 3 has not joined by then"],
        ),
        (&["--churn", "leave:1@500"], &["only 10 messages"]),
        (
            &["--churn", "leave:1@20%,leave:1@50%"],
            &["member 1 left the group before"],
        ),
        (
            &["--churn", "drop:1@50%", "--groups", "a,b"],
            &["one group"],
        ),
        (
            &["--slow-member", "3=10ms"],
            &["--slow-member 3", "members 1 to 2"],
        ),
        (&["--slow-member", "1=10ms", "--qos", "0"], &["--qos 1"]),
        (&["--churn", "leave:1"], &["--churn", "not when"]),
    ];
    for (more, words) in cases {
        let run = run_tool(&good_args(&files, more), LIMIT);
        assert_eq!(run.code, Some(2), "{more:?}: {run}");
        for word in words {
            assert!(run.stderr.contains(word), "{more:?}: no {word:?}\n{run}");
        }
    }
}

/// A first `cargo run` with no arguments: clap lists the missing flags, and the line after says
/// what works with no broker and no account.
#[test]
fn no_arguments_point_at_the_demo() {
    let run = run_tool(&[], LIMIT);
    assert_eq!(run.code, Some(2), "{run}");
    for words in [
        "--endpoint",
        "--cert",
        "--key",
        "`--demo` runs the whole sample",
    ] {
        assert!(run.stderr.contains(words), "no {words:?}\n{run}");
    }
}

/// `--qos 2` is refused in the words of the broker in use: only AWS IoT Core lacks QoS 2.
#[test]
fn qos_2_is_refused_in_words_that_fit_the_broker() {
    let files = files();
    let local = run_tool(&good_args(&files, &["--qos", "2"]), LIMIT);
    let demo = run_tool(&["--demo".into(), "--qos".into(), "2".into()], LIMIT);
    for run in [&local, &demo] {
        assert_one_line_error(run, 2, &["--qos 2", "does not support QoS 2", "use 0 or 1"]);
        assert!(
            !run.stderr.contains("AWS IoT Core does not support"),
            "{run}"
        );
    }
    assert!(
        local.stderr.contains("whatever 127.0.0.1 supports"),
        "{local}"
    );
    assert!(
        demo.stderr
            .contains("the demo broker takes QoS 0 and 1 only"),
        "{demo}"
    );
    let aws = run_tool(&good_args(&files, &["--qos", "2", "--aws"]), LIMIT);
    assert_one_line_error(&aws, 2, &["AWS IoT Core does not support QoS 2"]);
}
