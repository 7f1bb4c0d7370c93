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
//! * rumqttd and RMQTT (`rmqttd`), only where they are installed (on PATH, or
//!   `MQTT5_RUMQTTD=/path/to/rumqttd`, `MQTT5_RMQTTD=/path/to/rmqttd`): each test says SKIPPED
//!   otherwise, in CI too (CI installs mosquitto only).

mod support;

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::Pki;
use support::{
    assert_one_line_error, free_port, mosquitto_or_skip, run_tool, with, Mosquitto, Run,
};

/// A whole suite takes 6 to 8 s on loopback; this leaves room for a busy machine.
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
    let broker = Mosquitto::start(&binary);
    let run = run_tool(
        &with(broker.args(), &["--conformance", "--json"]),
        SUITE_LIMIT,
    );
    expect_mosquitto(&run, mosquitto_version(&binary));
}

/// With `--aws` a marker proves nothing (AWS IoT Core promises no order), so each case also
/// waits for the messages the broker routed: against mosquitto every verdict stays the same.
#[test]
fn mosquitto_answers_the_same_when_markers_cannot_be_trusted_as_on_aws() {
    let test = "mosquitto_answers_the_same_when_markers_cannot_be_trusted_as_on_aws";
    let Some(binary) = mosquitto_or_skip(test) else {
        return;
    };
    let broker = Mosquitto::start(&binary);
    let run = run_tool(
        &with(broker.args(), &["--conformance", "--json", "--aws"]),
        SUITE_LIMIT,
    );
    expect_mosquitto(&run, mosquitto_version(&binary));
}

/// What mosquitto `version` answers, case by case.
fn expect_mosquitto(run: &Run, version: (u32, u32, u32)) {
    let rows = rows(run);

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

/// `--conformance --json | head -1`: the reader goes after the first case; the suite still
/// finishes and says its verdict in the exit code, with no panic (it used `println!`).
#[test]
fn a_reader_that_stops_after_one_line_is_no_panic() {
    let mut command = std::process::Command::new("bash");
    command.args([
        "-c",
        &format!(
            "{} --demo --conformance --json | head -1; exit ${{PIPESTATUS[0]}}",
            support::BIN
        ),
    ]);
    support::without_tool_env(&mut command);
    let run = support::run_command(command, SUITE_LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(!run.stderr.contains("panicked"), "{run}");
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

/// A broker binary where installed: named by the variable `env`, or `name` on PATH. Says
/// SKIPPED, with how to install it, otherwise.
fn installed_or_skip(test: &str, name: &str, env: &str, install: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: {name} is not installed ({install}, or set {env})"
        );
    }
    found
}

/// A broker process started by a test; killed when dropped.
struct Started {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    files: mqtt5_shared_subscription::pki::PkiFiles,
}

impl Started {
    /// Writes a throw-away PKI and `config(port, files)` to `file_name` in a temporary
    /// directory, starts `binary` with `args` and the config's path, and waits until the port
    /// accepts connections.
    fn start(
        binary: &std::path::Path,
        args: &[&str],
        file_name: &str,
        config: impl Fn(u16, &Path, &mqtt5_shared_subscription::pki::PkiFiles) -> String,
    ) -> Started {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new("broker test CA").expect("CA");
        let files = pki.write_files(dir.path()).expect("PKI files");
        let port = free_port();
        let path = dir.path().join(file_name);
        std::fs::write(&path, config(port, dir.path(), &files)).expect("write the config");
        let child = Command::new(binary)
            .args(args)
            .arg(&path)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the broker");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} did not listen within 10 s",
                binary.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Started {
            child,
            port,
            _dir: dir,
            files,
        }
    }

    /// `--conformance --json` against it.
    fn conformance(&self) -> Run {
        let args = with(
            support::client_args(&self.files, "127.0.0.1", self.port),
            &["--conformance", "--json"],
        );
        run_tool(&args, SUITE_LIMIT)
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `binary --version`'s output.
fn version_of(binary: &std::path::Path, flag: &str) -> String {
    Command::new(binary)
        .arg(flag)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[test]
fn rumqttd_answers_each_case_where_installed() {
    let test = "rumqttd_answers_each_case_where_installed";
    let install = "cargo install rumqttd --version 0.20.0 --features verify-client-cert";
    let Some(binary) = installed_or_skip(test, "rumqttd", "MQTT5_RUMQTTD", install) else {
        return;
    };
    let version = version_of(&binary, "--version");
    // rumqttd 0.20's own sample config, cut to one MQTT 5 listener on loopback with TLS;
    // `capath` makes it verify client certificates (feature `verify-client-cert`).
    let broker = Started::start(&binary, &["-q", "-c"], "rumqttd.toml", |port, _, files| {
        format!(
            "id = 0\n\n[router]\nid = 0\nmax_connections = 10010\nmax_outgoing_packet_count = 200\n\
             max_segment_size = 104857600\nmax_segment_count = 10\n\n\
             [v5.1]\nname = \"v5-1\"\nlisten = \"127.0.0.1:{port}\"\nnext_connection_delay_ms = 1\n\
             [v5.1.tls]\ncapath = \"{ca}\"\ncertpath = \"{cert}\"\nkeypath = \"{key}\"\n\
             [v5.1.connections]\nconnection_timeout_ms = 60000\nmax_payload_size = 20480\n\
             max_inflight_count = 100\n",
            ca = files.ca.display(),
            cert = files.server_cert.display(),
            key = files.server_key.display(),
        )
    });
    let run = broker.conformance();
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

#[test]
fn rmqtt_answers_each_case_where_installed() {
    let test = "rmqtt_answers_each_case_where_installed";
    let install = "cargo install rmqttd --version 0.24.0, which needs cmake and protoc";
    let Some(binary) = installed_or_skip(test, "rmqttd", "MQTT5_RMQTTD", install) else {
        return;
    };
    let version = version_of(&binary, "-V");
    // TLS on loopback only, client certificates required and checked against our CA
    // (`cross_certificate`), the shared-subscription and retained-message plugins on, the
    // HTTP API and the plain TCP listeners off.
    let broker = Started::start(&binary, &["-f"], "rmqtt.toml", |port, dir, files| {
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugins dir");
        for (name, text) in [
            (
                "rmqtt-shared-subscription.toml",
                "strategy = \"round_robin\"\n",
            ),
            (
                "rmqtt-retainer.toml",
                "storage.type = \"ram\"\nmax_retained_messages = 0\n",
            ),
            ("rmqtt-acl.toml", "rules = [[\"allow\", \"all\"]]\n"),
        ] {
            std::fs::write(plugins.join(name), text).expect("plugin config");
        }
        let rpc = free_port();
        let (tcp, internal) = (free_port(), free_port());
        format!(
            "node.id = 1\nrpc.server_addr = \"127.0.0.1:{rpc}\"\nlog.to = \"console\"\n\
             log.level = \"warn\"\nlog.dir = \"{dir}\"\nlog.file = \"rmqtt.log\"\n\
             plugins.dir = \"{plugins}\"\n\
             plugins.default_startups = [\"rmqtt-retainer\", \"rmqtt-shared-subscription\"]\n\
             plugins.disabled_default_startups = [\"rmqtt-http-api\", \"rmqtt-counter\"]\n\
             listener.tcp.external.enable = false\n\
             listener.tcp.external.addr = \"127.0.0.1:{tcp}\"\n\
             listener.tcp.internal.enable = false\n\
             listener.tcp.internal.addr = \"127.0.0.1:{internal}\"\n\
             listener.tls.external.addr = \"127.0.0.1:{port}\"\n\
             listener.tls.external.cross_certificate = true\n\
             listener.tls.external.cert = \"{cert}\"\n\
             listener.tls.external.key = \"{key}\"\n\
             listener.tls.external.client_ca_certs = \"{ca}\"\n\
             listener.tls.external.allow_anonymous = true\n",
            dir = dir.display(),
            plugins = plugins.display(),
            ca = files.ca.display(),
            cert = files.server_cert.display(),
            key = files.server_key.display(),
        )
    });
    let run = broker.conformance();
    let rows = rows(&run);
    if !version.contains("0.24.") {
        eprintln!("rmqttd {version}: verdicts not checked (measured for 0.24.0)\n{run}");
        return;
    }
    // Measured with rmqttd 0.24.0 (see the README's table).
    assert_eq!(run.code, Some(3), "{run}");
    expect(&rows, "distribution", "allowed variant", &["round-robin"]);
    expect(&rows, "groups", "conforms", &[]);
    expect(
        &rows,
        "member-dies-clean-session",
        "allowed variant",
        &["lost"],
    );
    expect(
        &rows,
        "member-dies-kept-session",
        "allowed variant",
        &["held for the member", "DUP on #"],
    );
    expect(
        &rows,
        "member-session-expires",
        "allowed variant",
        &["2 of 10 lost"],
    );
    // All four to one offline member, whichever the broker picked.
    let offline = &rows["all-members-offline"];
    assert_eq!(offline.verdict, "allowed variant", "{offline:#?}");
    assert!(
        offline.detail.starts_with("all to the first member back")
            || offline.detail.starts_with("queued for one member"),
        "{offline:#?}"
    );
    expect(
        &rows,
        "retained-message",
        "allowed variant",
        &["sent to every new member"],
    );
    expect(&rows, "no-local", "violates", &["[MQTT-3.8.3-4]"]);
    expect(&rows, "granted-qos", "conforms", &[]);
    expect(&rows, "negative-puback", "conforms", &[]);
    expect(&rows, "slow-member", "allowed variant", &["strict turns"]);
    expect(
        &rows,
        "filters",
        "allowed variant",
        &[
            "lenient: grants $share/g+/t, $share//t",
            "$share/g: SUBACK 0x8F",
        ],
    );
}
