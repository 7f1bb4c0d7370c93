//! Network and broker faults: each ends with exit 1 and one `error:` line that names what the user
//! must change, within `--timeout`.
//!
//! Every case is made real on loopback: a name under `.invalid` (reserved, never resolves), a
//! mosquitto set up to say no in a particular way, or a tiny server in the test that speaks just
//! enough TLS and MQTT to give the answer we want to see. A closed port is in `tests/cli.rs`.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::{self, Pki};
use mqtt5_shared_subscription::{client_config, connect, Broker, DemoBroker, TlsFiles};
use support::{
    assert_one_line_error, free_port, mosquitto_or_skip, run_tool, spawn_tool, with, Mosquitto,
    Run, Setup,
};

/// Far more than any case needs; each asserts its own, tighter, bound too.
const LIMIT: Duration = Duration::from_secs(60);
/// The `--timeout` every case runs with: a fault must be reported within it.
const TIMEOUT: &str = "5s";
const TIMEOUT_SECS: u64 = 5;

/// Runs the binary with `args` plus `--timeout`, and checks the outcome: exit 1, exactly one
/// `error:` line holding every one of `words`, within `--timeout`, no panic.
fn assert_fault(args: Vec<String>, words: &[&str]) -> Run {
    let started = Instant::now();
    let run = run_tool(&with(args, &["--timeout", TIMEOUT]), LIMIT);
    let took = started.elapsed();
    check_fault(&run, words);
    assert!(
        took < Duration::from_secs(TIMEOUT_SECS),
        "took {took:?}, more than --timeout\n{run}"
    );
    run
}

fn check_fault(run: &Run, words: &[&str]) {
    assert_one_line_error(run, 1, words);
    assert!(
        !run.stdout.contains(r#""event":"summary""#),
        "a report after a fault\n{run}"
    );
}

/// A CA and a client identity on disk, for cases that need no broker of ours.
fn files() -> (tempfile::TempDir, pki::PkiFiles) {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = Pki::new("faults test CA")
        .and_then(|pki| pki.write_files(dir.path()))
        .expect("PKI");
    (dir, files)
}

/// Server certificate parameters for `names`, as a broker's certificate would have.
fn server_params(names: &[&str]) -> rcgen::CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = rcgen::CertificateParams::new(names).expect("params");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params
}

/// Replaces the value of `flag` in `args`.
fn set(mut args: Vec<String>, flag: &str, value: &Path) -> Vec<String> {
    let at = args.iter().position(|a| a == flag).expect("flag present") + 1;
    args[at] = value.display().to_string();
    args
}

#[test]
fn unresolvable_host_names_the_endpoint() {
    let (_dir, files) = files();
    assert_fault(
        support::client_args(&files, "no-such-broker.invalid", 8883),
        &[
            "cannot resolve --endpoint 'no-such-broker.invalid'",
            "check the name",
        ],
    );
}

/// Something that is not TLS at all answers on the port (an SSH server, say).
#[test]
fn tls_to_a_server_that_does_not_speak_tls() {
    let (_dir, files) = files();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut socket, _)) = listener.accept() {
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
            let mut buffer = [0; 1024];
            let _ = socket.read(&mut buffer);
            std::thread::sleep(Duration::from_secs(2));
        }
    });
    assert_fault(
        support::client_args(&files, "127.0.0.1", port),
        &["does not speak TLS", "--port", "1883 instead of 8883"],
    );
}

/// A plain MQTT listener (1883 style) gets our TLS ClientHello.
#[test]
fn tls_to_a_plain_mqtt_port() {
    let Some(mosquitto) = mosquitto_or_skip("tls_to_a_plain_mqtt_port") else {
        return;
    };
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            plain: true,
            ..Setup::default()
        },
    );
    assert_fault(
        broker.args(),
        &["TLS handshake", "plain-MQTT port", "--port"],
    );
}

/// A server that accepts the connection and then says nothing at all.
#[test]
fn silent_server_times_out_naming_the_timeout() {
    let (_dir, files) = files();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let _held = listener.accept();
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = Instant::now();
    let run = run_tool(
        &with(
            support::client_args(&files, "127.0.0.1", port),
            &["--timeout", "2s"],
        ),
        LIMIT,
    );
    check_fault(&run, &["within 2s (--timeout)", "--endpoint", "--port"]);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// The broker's certificate is signed by the CA we trust, but for another name.
#[test]
fn server_certificate_for_another_name() {
    let Some(mosquitto) = mosquitto_or_skip("server_certificate_for_another_name") else {
        return;
    };
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            server_params: Some(server_params(&["broker.example.com"])),
            ..Setup::default()
        },
    );
    assert_fault(
        broker.args(),
        &[
            "not valid for the name '127.0.0.1'",
            "broker.example.com",
            "--endpoint",
        ],
    );
}

#[test]
fn server_certificate_that_has_expired() {
    let Some(mosquitto) = mosquitto_or_skip("server_certificate_that_has_expired") else {
        return;
    };
    let mut params = server_params(&["127.0.0.1"]);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            server_params: Some(params),
            ..Setup::default()
        },
    );
    assert_fault(
        broker.args(),
        &["the broker's certificate expired on 2021-01-01", "clock"],
    );
}

/// `--ca_file` holds a CA, but not the one that signed the broker's certificate.
#[test]
fn server_certificate_from_an_untrusted_ca() {
    let Some(mosquitto) = mosquitto_or_skip("server_certificate_from_an_untrusted_ca") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let (_dir, other) = files();
    assert_fault(
        set(broker.args(), "--ca_file", &other.ca),
        &["not signed by a CA we trust", "--ca_file"],
    );
}

/// Our certificate is signed by a CA the broker does not know.
#[test]
fn broker_rejects_a_client_certificate_from_another_ca() {
    let Some(mosquitto) = mosquitto_or_skip("broker_rejects_a_client_certificate_from_another_ca")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let (_dir, other) = files();
    let args = broker.args_with(&other.client_cert, &other.client_key);
    assert_fault(args, &["rejected our client certificate", "--cert"]);
}

/// The broker takes the TLS handshake but refuses the MQTT connection: it wants a user name, and
/// is not told to take it from the certificate.
#[test]
fn connack_refusal_in_words() {
    let Some(mosquitto) = mosquitto_or_skip("connack_refusal_in_words") else {
        return;
    };
    let broker = Mosquitto::start_with(
        &mosquitto,
        Setup {
            extra: "allow_anonymous false\nuse_identity_as_username false".into(),
            ..Setup::default()
        },
    );
    assert_fault(
        broker.args(),
        &[
            "-subscriber-",
            "refused the connection: not authorized (0x87)",
            "iot:Connect",
            "--client_id",
        ],
    );
}

/// A second client connects with a member's client id mid-run, and keeps reconnecting as plain
/// rumqttc does. mosquitto 2.0 then closes the older connection each time, without a DISCONNECT
/// (no 0x8E: it looks like a network fault), so the two would take the id from each other
/// forever. The member must see that its connection keeps breaking right after each reconnect,
/// give up within --timeout, and point at the client id.
#[test]
fn a_second_client_with_a_members_id_makes_the_connection_flap() {
    let Some(mosquitto) =
        mosquitto_or_skip("a_second_client_with_a_members_id_makes_the_connection_flap")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let args = with(
        broker.args(),
        &[
            "--client_id",
            "t-twin",
            "--count",
            "2000",
            "--interval",
            "20ms",
            "--json",
            "--timeout",
            TIMEOUT,
        ],
    );
    let mut run = spawn_tool(&args);
    let publishing = run.wait_for_stdout(|line| line.contains(r#""event":"published""#), LIMIT);
    assert!(publishing, "the run never got to publish");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let target = broker_of(&broker.files, broker.port);
    let twin = runtime.spawn(async move {
        let (_client, mut eventloop, _) = connect(&target, "t-twin-subscriber-1")
            .await
            .expect("the twin connects");
        loop {
            if eventloop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    let started = Instant::now();
    let run = run.finish(LIMIT);
    twin.abort();

    assert_one_line_error(
        &run,
        1,
        &[
            "[t-twin-subscriber-1] gave up after 5s (--timeout)",
            "each soon after reconnecting",
            "same client id",
            "make --client_id unique",
        ],
    );
    // The publisher had started, so the books come too: what got through before the end.
    let summary = run.summary();
    let published = summary["published"].as_u64().expect("published");
    let missing = summary["missing"].as_array().expect("missing").len() as u64;
    assert!(published > 0, "{summary}");
    assert_eq!(
        summary["unique"].as_u64(),
        Some(published - missing),
        "{summary}"
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "took {took:?}");
}

/// A broker that refuses a connection's session with DISCONNECT 0x8E, as AWS IoT Core does when a
/// second client connects with the same client id. No retry: the other client would be kicked
/// out in turn.
#[test]
fn server_disconnect_session_taken_over_stops_at_once() {
    let (_dir, files) = files();
    let script = Script {
        disconnect: Some(0x8E),
        ..Script::default()
    };
    let port = scripted_broker(&files, script);
    let run = assert_fault(
        with(
            support::client_args(&files, "127.0.0.1", port),
            &["--client_id", "t-taken"],
        ),
        &[
            "disconnected us: session taken over (0x8E)",
            "another client connected as 't-taken-subscriber-",
            "make --client_id unique",
        ],
    );
    assert!(!run.stderr.contains("reconnecting"), "{run}");
}

/// The flags' TLS files and port as a `Broker`, for a client of our own in the test.
fn broker_of(files: &pki::PkiFiles, port: u16) -> Broker {
    let tls_files = TlsFiles {
        cert: files.client_cert.clone(),
        key: files.client_key.clone(),
        ca: Some(files.ca.clone()),
    };
    Broker::new(
        "127.0.0.1",
        port,
        client_config(&tls_files, &[]).expect("tls"),
        Duration::from_secs(5),
    )
}

/// What the scripted broker answers.
#[derive(Clone, Copy, Default)]
struct Script {
    /// CONNACK reason code (0 = success).
    connack: u8,
    /// SUBACK reason code for every SUBSCRIBE (0 = granted QoS 0).
    suback: u8,
    /// After the SUBACK, send DISCONNECT with this reason code.
    disconnect: Option<u8>,
    /// Answer CONNECT by hanging up instead of a CONNACK, as AWS IoT does when a policy lacks
    /// iot:Connect.
    hang_up: Option<HangUp>,
}

/// How the scripted broker hangs up.
#[derive(Clone, Copy)]
enum HangUp {
    /// TLS close_notify, then the socket closes.
    CleanTls,
    /// The socket closes with no close_notify (a FIN mid-stream).
    Abrupt,
}

/// A broker that speaks just enough TLS and MQTT 5 to give a scripted answer: what mosquitto cannot
/// be made to say (mosquitto 2.0 grants every SUBSCRIBE and applies its ACL only on delivery, and
/// has no way to turn shared subscriptions off). Serves the PKI's server certificate from
/// `files` and returns its port.
fn scripted_broker(files: &pki::PkiFiles, script: Script) -> u16 {
    use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
    let certs: Vec<_> = CertificateDer::pem_file_iter(&files.server_cert)
        .expect("cert")
        .collect::<Result<_, _>>()
        .expect("server cert");
    let key = PrivateKeyDer::from_pem_file(&files.server_key).expect("server key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || serve(socket, config, script));
        }
    });
    port
}

/// One scripted connection: CONNACK, then a SUBACK for each SUBSCRIBE, PINGRESP for PINGREQ.
fn serve(socket: TcpStream, config: Arc<rustls::ServerConfig>, script: Script) {
    let _ = socket.set_read_timeout(Some(Duration::from_secs(20)));
    let Ok(connection) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while let Some((kind, body)) = read_packet(&mut stream) {
        if let (1, Some(hang_up)) = (kind >> 4, script.hang_up) {
            if let HangUp::CleanTls = hang_up {
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
            let _ = stream.sock.shutdown(std::net::Shutdown::Both);
            return;
        }
        let mut answer: Vec<u8> = match kind >> 4 {
            1 => vec![0x20, 3, 0, script.connack, 0], // CONNACK: no session, code, no properties
            8 if body.len() >= 2 => vec![0x90, 4, body[0], body[1], 0, script.suback], // SUBACK
            12 => vec![0xD0, 0],                      // PINGRESP
            _ => return,                              // DISCONNECT, or anything we do not script
        };
        if let (8, Some(reason)) = (kind >> 4, script.disconnect) {
            answer.extend([0xE0, 2, reason, 0]); // DISCONNECT: reason code, no properties
        }
        if stream
            .write_all(&answer)
            .and_then(|()| stream.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Reads one MQTT packet: its first byte and its body.
fn read_packet(stream: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).ok()?;
    let kind = byte[0];
    let (mut length, mut shift) = (0usize, 0);
    loop {
        stream.read_exact(&mut byte).ok()?;
        length |= usize::from(byte[0] & 0x7F) << shift;
        shift += 7;
        if byte[0] & 0x80 == 0 || shift > 21 {
            break;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some((kind, body))
}

#[test]
fn suback_not_authorized_names_the_policy() {
    let (_dir, files) = files();
    let port = scripted_broker(
        &files,
        Script {
            suback: 0x87,
            ..Script::default()
        },
    );
    assert_fault(
        support::client_args(&files, "127.0.0.1", port),
        &[
            "refused SUBSCRIBE $share/rust-sample/test/topic",
            "not authorized (0x87)",
            "policy needs iot:Subscribe on topicfilter/$share/rust-sample/test/topic",
        ],
    );
}

#[test]
fn suback_shared_subscriptions_not_supported() {
    let (_dir, files) = files();
    let port = scripted_broker(
        &files,
        Script {
            suback: 0x9E,
            ..Script::default()
        },
    );
    assert_fault(
        support::client_args(&files, "127.0.0.1", port),
        &[
            "shared subscriptions not supported (0x9E)",
            "use a broker with MQTT 5 shared subscriptions",
        ],
    );
}

#[test]
fn suback_topic_filter_invalid() {
    let (_dir, files) = files();
    let port = scripted_broker(
        &files,
        Script {
            suback: 0x8F,
            ..Script::default()
        },
    );
    assert_fault(
        support::client_args(&files, "127.0.0.1", port),
        &[
            "topic filter invalid (0x8F)",
            "--group_identifier",
            "--topic",
        ],
    );
}

/// A broker that hangs up after CONNECT, with or without closing TLS first: before the first
/// CONNACK both are a silent refusal, and the hint says what AWS IoT refuses that way. (A scripted
/// peer: mosquitto always answers CONNECT.)
#[test]
fn a_hang_up_after_connect_points_at_the_policy_both_ways() {
    for hang_up in [HangUp::CleanTls, HangUp::Abrupt] {
        let (_dir, files) = files();
        let port = scripted_broker(
            &files,
            Script {
                hang_up: Some(hang_up),
                ..Script::default()
            },
        );
        let run = assert_fault(
            support::client_args(&files, "127.0.0.1", port),
            &[
                "closed the connection after our CONNECT without answering it (no CONNACK)",
                "not attached to a policy, or its policy lacks iot:Connect on client/",
                "(--print-policy with the same flags prints one that allows this run)",
            ],
        );
        assert!(!run.stderr.contains("network cut it"), "{run}");
    }
}

// --- `--check`: the chain walked link by link ----------------------------------------------------

/// Runs `--check` with `args`.
fn check(args: Vec<String>) -> Run {
    run_tool(&with(args, &["--check", "--timeout", TIMEOUT]), LIMIT)
}

/// The checklist passes every step before `step`, fails `step` with `words`, and stops there.
fn assert_breaks_at(run: &Run, step: &str, words: &[&str]) {
    const STEPS: [&str; 6] = [
        "certificate and key",
        "DNS",
        "TCP",
        "TLS",
        "CONNACK",
        "SUBACK",
    ];
    assert_eq!(run.code, Some(1), "{run}");
    let at = STEPS.iter().position(|s| *s == step).expect("a step");
    for before in &STEPS[..at] {
        assert!(
            run.stdout.contains(&format!("✓ {before}: ")),
            "{before} did not pass\n{run}"
        );
    }
    let failed = run
        .stdout
        .lines()
        .find(|line| line.starts_with(&format!("✗ {step}: ")))
        .unwrap_or_else(|| panic!("no ✗ for {step}\n{run}"));
    for word in words {
        assert!(failed.contains(word), "the ✗ line lacks {word:?}: {failed}");
    }
    for after in &STEPS[at + 1..] {
        assert!(
            !run.stdout.contains(&format!(" {after}: ")),
            "{after} ran after the break\n{run}"
        );
    }
    assert!(!run.stderr.contains("panicked"), "{run}");
}

#[test]
fn check_passes_every_step_against_mosquitto() {
    let Some(mosquitto) = mosquitto_or_skip("check_passes_every_step_against_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let run = check(broker.args());
    assert_eq!(run.code, Some(0), "{run}");
    for line in [
        "✓ certificate and key: subject CN=",
        "the key belongs to it",
        "✓ DNS: 127.0.0.1 is 127.0.0.1",
        "✓ TCP: ",
        "✓ TLS: TLSv1.3, the broker's certificate is valid for 127.0.0.1",
        "✓ CONNACK: ",
        "shared subscriptions: yes, Receive Maximum 20",
        "✓ SUBACK: $share/rust-sample/test/topic granted at QoS 1; unsubscribed again",
        "every step passed",
    ] {
        assert!(run.stdout.contains(line), "no {line:?}\n{run}");
    }
    // The same as one JSON object per step.
    let json = check(with(broker.args(), &["--json"]));
    assert_eq!(json.code, Some(0), "{json}");
    let steps = json.events("check");
    assert_eq!(steps.len(), 6, "{json}");
    assert!(steps.iter().all(|step| step["ok"] == true), "{json}");
    assert_eq!(steps[5]["step"], "SUBACK");
}

#[test]
fn check_stops_at_a_closed_port() {
    let (_dir, files) = files();
    let run = check(support::client_args(&files, "127.0.0.1", free_port()));
    assert_breaks_at(&run, "TCP", &["nothing listens", "--port"]);
}

#[test]
fn check_stops_at_a_key_of_another_certificate() {
    let (dir, files) = files();
    let other = Pki::new("other")
        .and_then(|pki| pki.client("other"))
        .expect("identity");
    let key = dir.path().join("other.key");
    pki::write_file(&key, &other.key_pem, true).expect("write key");
    let run = check(set(
        support::client_args(&files, "127.0.0.1", free_port()),
        "--key",
        &key,
    ));
    assert_breaks_at(&run, "certificate and key", &["does not belong to --cert"]);
}

#[test]
fn check_stops_at_an_expired_device_certificate() {
    let (dir, files) = files();
    let pki = Pki::new("expired test CA").expect("CA");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = pki::client_params("expired").expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = dir.path().join("expired.crt");
    let key_file = dir.path().join("expired.key");
    pki::write_file(&cert, &pki.issue(&params, &key).expect("issue"), false).expect("cert");
    pki::write_file(&key_file, &key.serialize_pem(), true).expect("key");
    let args = set(
        set(
            support::client_args(&files, "127.0.0.1", free_port()),
            "--cert",
            &cert,
        ),
        "--key",
        &key_file,
    );
    assert_breaks_at(
        &check(args),
        "certificate and key",
        &["has expired", "2021"],
    );
}

#[test]
fn check_stops_at_the_tls_handshake_for_the_usual_reasons() {
    let Some(mosquitto) =
        mosquitto_or_skip("check_stops_at_the_tls_handshake_for_the_usual_reasons")
    else {
        return;
    };
    // The broker's certificate names another host.
    let wrong_name = Mosquitto::start_with(
        &mosquitto,
        Setup {
            server_params: Some(server_params(&["broker.example.com"])),
            ..Setup::default()
        },
    );
    assert_breaks_at(
        &check(wrong_name.args()),
        "TLS",
        &["not valid for the name '127.0.0.1'", "--endpoint"],
    );
    // --ca_file does not hold the CA that signed the broker's certificate.
    let broker = Mosquitto::start(&mosquitto);
    let (_dir, other) = files();
    assert_breaks_at(
        &check(set(broker.args(), "--ca_file", &other.ca)),
        "TLS",
        &["not signed by a CA we trust", "--ca_file"],
    );
}

/// The broker refuses our client certificate. With TLS 1.3 the client finishes its handshake
/// before the broker checks the certificate, so the refusal arrives with the first MQTT read:
/// the checklist shows it at CONNACK, in the same words.
#[test]
fn check_shows_a_refused_client_certificate() {
    let Some(mosquitto) = mosquitto_or_skip("check_shows_a_refused_client_certificate") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let (_dir, other) = files();
    let run = check(broker.args_with(&other.client_cert, &other.client_key));
    let step = if run.stdout.contains("✗ TLS: ") {
        "TLS"
    } else {
        "CONNACK"
    };
    assert_breaks_at(&run, step, &["rejected our client certificate", "--cert"]);
}

/// The same refusal, seen where it happens: with TLS 1.3 the TLS step waits for the broker's
/// verdict on our certificate, so the ✗ stands on the TLS line and no ✓ there contradicts it.
/// Against mosquitto (OpenSSL) and the demo broker (rustls) alike.
#[test]
fn a_refused_client_certificate_is_the_tls_steps_cross() {
    let Some(mosquitto) = mosquitto_or_skip("a_refused_client_certificate_is_the_tls_steps_cross")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let (_dir, other) = files();
    let run = check(broker.args_with(&other.client_cert, &other.client_key));
    assert_breaks_at(&run, "TLS", &["rejected our client certificate", "--cert"]);
    assert!(!run.stdout.contains("✓ TLS"), "{run}");

    // A certificate the broker takes: the TLS line says so, without waiting out the verdict.
    let started = Instant::now();
    let run = check(broker.args());
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout.contains("; it accepted our certificate"),
        "{run}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // The demo broker (the mqtt5 crate, over rustls) answers the same way.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let demo_dir = tempfile::tempdir().expect("temp dir");
    let demo_files = Pki::new("demo CA of the TLS check")
        .and_then(|pki| pki.write_files(demo_dir.path()))
        .expect("PKI");
    let demo = runtime
        .block_on(DemoBroker::start(&demo_files))
        .expect("demo broker");
    let port = demo.addr().port();
    let refused = check(set(
        set(
            support::client_args(&demo_files, "127.0.0.1", port),
            "--cert",
            &other.client_cert,
        ),
        "--key",
        &other.client_key,
    ));
    assert_breaks_at(
        &refused,
        "TLS",
        &["rejected our client certificate", "--cert"],
    );
    let accepted = check(support::client_args(&demo_files, "127.0.0.1", port));
    assert_eq!(accepted.code, Some(0), "{accepted}");
    assert!(
        accepted.stdout.contains("; it accepted our certificate"),
        "{accepted}"
    );
    drop(demo);
}

/// A SUBACK refusal, from the scripted peer (mosquitto grants every SUBSCRIBE).
#[test]
fn check_stops_at_a_refused_subscription() {
    let (_dir, files) = files();
    let port = scripted_broker(
        &files,
        Script {
            suback: 0x87,
            ..Script::default()
        },
    );
    assert_breaks_at(
        &check(support::client_args(&files, "127.0.0.1", port)),
        "SUBACK",
        &[
            "not authorized (0x87)",
            "iot:Subscribe on topicfilter/$share/rust-sample/test/topic",
        ],
    );
}
