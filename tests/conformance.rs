//! `--conformance` against real brokers, every case's verdict asserted:
//!
//! * mosquitto 2.0 (the Debian package), started by the test with mutual TLS. Its answers are
//!   known from its source: `subs.c` hands a group's messages out in strict turns, offline
//!   members included (`subs__shared_process` moves the member it used to the end of the list,
//!   online or not); a QoS 1 message queued for a member that goes away is kept in that member's
//!   session or lost with it; before 2.0.13 it sent a retained message to a new shared subscriber
//!   (fixed by "Don't send retained messages when a shared subscription is made", commit
//!   7061569b) and before 2.0.20 it granted No Local on a shared subscription ("Shared subs
//!   aren't allowed to set no-local", commit 71ddbabb). The expectations follow the installed
//!   version;
//! * the embedded demo broker (mqtt5 0.49), in this process's binary;
//! * rumqttd, only where it is installed (on PATH, or `MQTT5_RUMQTTD=/path/to/rumqttd`): the
//!   test says SKIPPED otherwise, in CI too (CI installs mosquitto only).

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::Pki;
use support::{
    assert_one_line_error, free_port, mosquitto_or_skip, run_tool, with, Mosquitto, Run,
};

/// A whole suite takes 15 to 20 s on loopback; this leaves room for a busy machine.
const SUITE_LIMIT: Duration = Duration::from_secs(120);

/// One case's `--json` object.
#[derive(Debug)]
struct Row {
    verdict: String,
    detail: String,
    observed: String,
}

/// The `--json` rows by case name; every line on stdout must be one.
fn rows(run: &Run) -> BTreeMap<String, Row> {
    let mut rows = BTreeMap::new();
    for line in run.stdout.lines() {
        let object: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}\n{run}"));
        for field in ["number", "case", "clause", "observed", "verdict", "detail"] {
            assert!(object.get(field).is_some(), "no `{field}` in {line}");
        }
        let text = |field: &str| object[field].as_str().unwrap_or_default().to_owned();
        rows.insert(
            text("case"),
            Row {
                verdict: text("verdict"),
                detail: text("detail"),
                observed: text("observed"),
            },
        );
    }
    assert_eq!(rows.len(), 12, "one row per case\n{run}");
    rows
}

/// Case `case` has verdict `verdict`, and its detail (or what was observed) says each of `words`.
fn expect(rows: &BTreeMap<String, Row>, case: &str, verdict: &str, words: &[&str]) {
    let row = rows
        .get(case)
        .unwrap_or_else(|| panic!("no row for {case}: {rows:#?}"));
    assert_eq!(row.verdict, verdict, "{case}: {row:#?}");
    for word in words {
        assert!(
            row.detail.contains(word) || row.observed.contains(word),
            "{case}: {word:?} in neither detail nor observed: {row:#?}"
        );
    }
}

/// mosquitto's version as (major, minor, patch), from `mosquitto -h`.
fn mosquitto_version(binary: &std::path::Path) -> (u32, u32, u32) {
    let output = Command::new(binary)
        .arg("-h")
        .output()
        .expect("mosquitto -h");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let version = text
        .split_whitespace()
        .skip_while(|word| *word != "version")
        .nth(1)
        .unwrap_or_else(|| panic!("no version in `mosquitto -h`: {text}"));
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    (parts[0], parts[1], parts.get(2).copied().unwrap_or(0))
}

#[test]
fn mosquitto_answers_each_case_as_its_source_says() {
    let Some(binary) = mosquitto_or_skip("mosquitto_answers_each_case_as_its_source_says") else {
        return;
    };
    let version = mosquitto_version(&binary);
    let broker = Mosquitto::start(&binary);
    let run = run_tool(
        &with(broker.args(), &["--conformance", "--json"]),
        SUITE_LIMIT,
    );
    let rows = rows(&run);

    expect(
        &rows,
        "distribution",
        "allowed variant",
        &["round-robin", "m1 100, m2 100, m3 100"],
    );
    expect(
        &rows,
        "groups",
        "conforms",
        &["group A: 20 of 20", "plain subscriber: 20 of 20"],
    );
    // A member that dies takes its unacknowledged and queued messages with it.
    expect(
        &rows,
        "member-dies-clean-session",
        "allowed variant",
        &["lost with the member's session"],
    );
    // A kept session holds them, and mosquitto sends them again on return, the one it had
    // sent marked DUP.
    expect(
        &rows,
        "member-dies-kept-session",
        "allowed variant",
        &["held for the member", "session present: true", "DUP on #"],
    );
    // The absent member keeps its turns until its session expires; its share is lost then.
    expect(
        &rows,
        "member-session-expires",
        "allowed variant",
        &["kept its turns", "after the expiry m2 got 4 of 4"],
    );
    expect(
        &rows,
        "all-members-offline",
        "allowed variant",
        &["queued per member", "m2 2, m1 2"],
    );
    if version < (2, 0, 13) {
        expect(
            &rows,
            "retained-message",
            "allowed variant",
            &["sent to every new member"],
        );
    } else {
        expect(
            &rows,
            "retained-message",
            "conforms",
            &["m1 nothing, m2 nothing"],
        );
    }
    if version < (2, 0, 20) {
        expect(
            &rows,
            "no-local",
            "violates",
            &["[MQTT-3.8.3-4]", "granted QoS 1"],
        );
        assert_eq!(run.code, Some(3), "a MUST broken is exit 3\n{run}");
    } else {
        expect(&rows, "no-local", "conforms", &["closed by the broker"]);
        assert_eq!(run.code, Some(0), "{run}");
    }
    expect(&rows, "granted-qos", "conforms", &["all at QoS 0"]);
    expect(&rows, "negative-puback", "conforms", &["went to nobody"]);
    expect(
        &rows,
        "slow-member",
        "allowed variant",
        &["strict turns", "got 10 of 30"],
    );
    // Wildcards work; `$share/g+/t` ends the connection (mosquitto sends DISCONNECT 0x81, with
    // no properties, which rumqttc cannot read), and the other two invalid names are granted.
    expect(
        &rows,
        "filters",
        "allowed variant",
        &[
            "lenient: grants $share//t, $share/g",
            "$share/g+/t: closed by the broker",
            "$share/g/t/#: granted, 6 of 6",
        ],
    );
}

#[test]
fn the_demo_broker_answers_each_case() {
    let run = run_tool(
        &["--demo".into(), "--conformance".into(), "--json".into()],
        SUITE_LIMIT,
    );
    assert_eq!(run.code, Some(0), "no MUST broken\n{run}");
    let rows = rows(&run);
    expect(&rows, "distribution", "allowed variant", &["round-robin"]);
    expect(&rows, "groups", "conforms", &[]);
    expect(
        &rows,
        "member-dies-clean-session",
        "allowed variant",
        &["lost with the member's session"],
    );
    // The demo keeps sessions in memory with persistence off: it keeps none, and says so.
    expect(
        &rows,
        "member-dies-kept-session",
        "not supported",
        &["Session Expiry Interval 0"],
    );
    expect(
        &rows,
        "all-members-offline",
        "not supported",
        &["Session Expiry Interval 0"],
    );
    // It routes to online members only: what the absent member held is all that is lost.
    expect(
        &rows,
        "member-session-expires",
        "allowed variant",
        &["m2 got #5-#10 at once"],
    );
    expect(
        &rows,
        "retained-message",
        "conforms",
        &["m1 nothing, m2 nothing"],
    );
    expect(&rows, "no-local", "conforms", &["closed by the broker"]);
    expect(&rows, "granted-qos", "conforms", &[]);
    expect(&rows, "negative-puback", "conforms", &["went to nobody"]);
    expect(&rows, "slow-member", "allowed variant", &["strict turns"]);
    expect(
        &rows,
        "filters",
        "allowed variant",
        &[
            "lenient: grants $share//t",
            "$share/g+/t: SUBACK 0x8F",
            "$share/g: SUBACK 0x8F",
        ],
    );
}

#[test]
fn the_text_report_has_a_row_per_case_and_a_count() {
    let run = run_tool(&["--demo".into(), "--conformance".into()], SUITE_LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    for number in 1..=12 {
        assert!(
            run.stdout.contains(&format!("{number:>2}. ")),
            "no row {number}\n{run}"
        );
    }
    assert!(run.stdout.contains("    verdict: "), "{run}");
    assert!(
        run.stdout.lines().any(|l| l.starts_with("12 cases: ")),
        "no count line\n{run}"
    );
}

#[test]
fn an_unreachable_broker_is_exit_1() {
    let pki = Pki::new("conformance test CA").expect("CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let files = pki.write_files(dir.path()).expect("PKI files");
    let port = free_port();
    let args = with(
        support::client_args(&files, "127.0.0.1", port),
        &["--conformance", "--timeout", "3s"],
    );
    let run = run_tool(&args, Duration::from_secs(30));
    assert_one_line_error(&run, 1, &["127.0.0.1"]);
    assert!(run.stdout.is_empty(), "no rows without a broker\n{run}");
}

/// rumqttd, where installed: on PATH or named by `MQTT5_RUMQTTD`.
fn rumqttd_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MQTT5_RUMQTTD") {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("rumqttd"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: rumqttd is not installed (cargo install rumqttd --version 0.20.0 \
             --features verify-client-cert, or set MQTT5_RUMQTTD)"
        );
    }
    found
}

/// A rumqttd with one MQTT 5 listener, mutual TLS, on loopback; killed when dropped.
struct Rumqttd {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    files: mqtt5_shared_subscription::pki::PkiFiles,
}

impl Rumqttd {
    fn start(binary: &std::path::Path) -> Rumqttd {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new("rumqttd test CA").expect("CA");
        let files = pki.write_files(dir.path()).expect("PKI files");
        let port = free_port();
        // rumqttd 0.20's own sample config, cut to one MQTT 5 listener on loopback with TLS;
        // `capath` makes it verify client certificates (feature `verify-client-cert`).
        let config = format!(
            "id = 0\n\n[router]\nid = 0\nmax_connections = 10010\nmax_outgoing_packet_count = 200\n\
             max_segment_size = 104857600\nmax_segment_count = 10\n\n\
             [v5.1]\nname = \"v5-1\"\nlisten = \"127.0.0.1:{port}\"\nnext_connection_delay_ms = 1\n\
             [v5.1.tls]\ncapath = \"{ca}\"\ncertpath = \"{cert}\"\nkeypath = \"{key}\"\n\
             [v5.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 20480\n\
             max_inflight_count = 100\n",
            ca = files.ca.display(),
            cert = files.server_cert.display(),
            key = files.server_key.display(),
        );
        let path = dir.path().join("rumqttd.toml");
        std::fs::write(&path, config).expect("write rumqttd.toml");
        let child = Command::new(binary)
            .arg("-q")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rumqttd");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "rumqttd did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Rumqttd {
            child,
            port,
            _dir: dir,
            files,
        }
    }
}

impl Drop for Rumqttd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn rumqttd_answers_each_case_where_installed() {
    let Some(binary) = rumqttd_or_skip("rumqttd_answers_each_case_where_installed") else {
        return;
    };
    let version = Command::new(&binary)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let broker = Rumqttd::start(&binary);
    let args = with(
        support::client_args(&broker.files, "127.0.0.1", broker.port),
        &["--conformance", "--json"],
    );
    let run = run_tool(&args, SUITE_LIMIT);
    let rows = rows(&run);
    if !version.contains("0.20.") {
        eprintln!("rumqttd {version}: verdicts not checked (measured for 0.20.0)\n{run}");
        return;
    }
    // Measured with rumqttd 0.20.0 (see the README's table).
    assert_eq!(run.code, Some(3), "{run}");
    expect(&rows, "distribution", "allowed variant", &["round-robin"]);
    // Groups keyed by share name alone: `$share/A/t` and `$share/A/t/second` share turns.
    expect(&rows, "groups", "violates", &["[MQTT-4.5.0-1]", "missing"]);
    expect(
        &rows,
        "member-dies-clean-session",
        "allowed variant",
        &["lost"],
    );
    expect(
        &rows,
        "member-dies-kept-session",
        "violates",
        &["[MQTT-4.4.0-1]"],
    );
    expect(&rows, "member-session-expires", "conforms", &[]);
    expect(
        &rows,
        "all-members-offline",
        "violates",
        &["only sent to one of its subscribing"],
    );
    expect(&rows, "retained-message", "conforms", &[]);
    expect(&rows, "no-local", "violates", &["[MQTT-3.8.3-4]"]);
    expect(&rows, "granted-qos", "conforms", &[]);
    expect(&rows, "negative-puback", "conforms", &[]);
    expect(&rows, "slow-member", "violates", &["[MQTT-3.3.4-9]"]);
    expect(
        &rows,
        "filters",
        "allowed variant",
        &["lenient: grants $share/g+/t, $share//t, $share/g"],
    );
}
