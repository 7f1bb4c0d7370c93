//! The tool through an HTTP CONNECT proxy: a small but real proxy written here, the real binary,
//! and mosquitto behind the proxy.
//!
//! The proxy reads `CONNECT host:port HTTP/1.1` and its headers, records what it saw, and then
//! does what the test asked: open the tunnel (answer 200 and copy bytes both ways), insist on a
//! `Proxy-Authorization` header (407 otherwise), or refuse with a status of the test's choosing.
//! That is all a corporate proxy does for a TLS connection, so these tests show the tool's side of
//! it; what they cannot show (NTLM, Kerberos, a TLS-intercepting proxy) is listed in the README.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mqtt5_shared_subscription::pki::{Pki, PkiFiles};
use support::{
    assert_one_line_error, free_port, mosquitto_or_skip, run_command, tool_command, with,
    Mosquitto, Run,
};

/// Generous for a run of a few messages; the error cases finish within `--timeout 5s`.
const LIMIT: Duration = Duration::from_secs(60);

/// What the test proxy does with a CONNECT.
#[derive(Clone)]
enum Answer {
    /// 200, then a byte pipe to the host and port asked for.
    Tunnel,
    /// A tunnel only with `Proxy-Authorization: Basic <this>`; 407 otherwise.
    TunnelWithPassword(&'static str),
    /// This status line, and the connection closed.
    Refuse(&'static str),
}

/// One CONNECT the proxy received.
#[derive(Debug, Clone)]
struct Seen {
    /// `host:port` from the request line.
    target: String,
    /// The `Proxy-Authorization` header's value, if any.
    authorization: Option<String>,
}

/// A tiny HTTP CONNECT proxy on 127.0.0.1; stops accepting when dropped.
struct ConnectProxy {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl ConnectProxy {
    fn start(answer: Answer) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by_loop, stop_loop) = (Arc::clone(&seen), Arc::clone(&stop));
        thread::spawn(move || {
            while !stop_loop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (answer, seen) = (answer.clone(), Arc::clone(&seen_by_loop));
                        thread::spawn(move || serve(client, &answer, &seen));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        ConnectProxy { port, seen, stop }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .map(|seen| seen.clone())
            .unwrap_or_default()
    }

    /// `HTTPS_PROXY` for this proxy, with `userinfo@` if given.
    fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}127.0.0.1:{}", self.port)
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One client of the proxy: read the request, record it, answer it.
fn serve(mut client: TcpStream, answer: &Answer, seen: &Mutex<Vec<Seen>>) {
    client.set_nonblocking(false).expect("blocking");
    let Some(request) = read_head(&mut client) else {
        return;
    };
    let mut lines = request.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut words = request_line.split(' ');
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    let authorization = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, value)| value.trim().to_owned());
    if let Ok(mut seen) = seen.lock() {
        seen.push(Seen {
            target: target.to_owned(),
            authorization: authorization.clone(),
        });
    }
    match answer {
        Answer::Refuse(status) => {
            let _ = client
                .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
        Answer::TunnelWithPassword(expected)
            if authorization.as_deref() != Some(&format!("Basic {expected}")) =>
        {
            let _ = client.write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
            );
        }
        Answer::Tunnel | Answer::TunnelWithPassword(_) => tunnel(client, target),
    }
}

/// The request line and headers, up to the blank line; one byte at a time, so nothing after them
/// is swallowed.
fn read_head(client: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).ok()? == 0 || head.len() > 8192 {
            return None;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).ok()
}

/// 200, then bytes both ways until either side closes.
fn tunnel(mut client: TcpStream, target: &str) {
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .is_err()
    {
        return;
    }
    let (Ok(client_reader), Ok(upstream_writer)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    thread::spawn(move || copy(client_reader, upstream_writer));
    copy(upstream, client);
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Certificates for runs that never reach a broker (the proxy refuses first).
fn identity() -> (tempfile::TempDir, PkiFiles) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pki = Pki::new("proxy test CA").expect("CA");
    let files = pki.write_files(dir.path()).expect("PKI files");
    (dir, files)
}

/// Flags for a broker at 127.0.0.1:`port` that the proxy never reaches.
fn unreached_broker(files: &PkiFiles, port: u16) -> Vec<String> {
    support::with(
        support::client_args(files, "127.0.0.1", port),
        &["--timeout", "5s"],
    )
}

fn run_with_env(args: &[String], env: &[(&str, &str)]) -> Run {
    let mut command = tool_command(args);
    command.envs(env.iter().copied());
    let run = run_command(command, LIMIT);
    // One sentence, not a wrapped source line: no runs of spaces in any error.
    for line in run.stderr.lines().filter(|l| l.starts_with("error:")) {
        assert!(!line.contains("  "), "spaces in the error line: {line}");
    }
    run
}

/// Every message once, over all the members.
fn assert_delivered(run: &Run, count: u64) {
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    assert_eq!(summary["verdict"], "ok", "{run}");
    assert_eq!(summary["unique"], count, "{run}");
    assert_eq!(summary["received"], count, "{run}");
}

/// `n` CONNECTs, each to mosquitto's address.
fn assert_connects(proxy: &ConnectProxy, broker: &Mosquitto, n: usize) {
    let seen = proxy.seen();
    let expected = format!("127.0.0.1:{}", broker.port);
    assert_eq!(seen.len(), n, "{seen:?}");
    assert!(seen.iter().all(|s| s.target == expected), "{seen:?}");
}

#[test]
fn a_run_goes_through_the_proxy_named_by_the_flags() {
    let Some(mosquitto) = mosquitto_or_skip("a_run_goes_through_the_proxy_named_by_the_flags")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let proxy = ConnectProxy::start(Answer::Tunnel);
    let args = with(
        broker.args(),
        &[
            "--proxy_host",
            "127.0.0.1",
            "--proxy-port",
            &proxy.port.to_string(),
            "--subscribers",
            "3",
            "--count",
            "30",
            "--json",
        ],
    );
    // A proxy in the environment too: the flags win.
    let run = run_with_env(&args, &[("HTTPS_PROXY", "http://127.0.0.1:9")]);
    assert_delivered(&run, 30);
    // The publisher and three members: one tunnel each.
    assert_connects(&proxy, &broker, 4);
    assert!(
        run.stderr.contains(&format!(
            "via HTTP proxy 127.0.0.1:{} (from --proxy_host)",
            proxy.port
        )),
        "{run}"
    );
}

#[test]
fn https_proxy_in_the_environment_is_used() {
    let Some(mosquitto) = mosquitto_or_skip("https_proxy_in_the_environment_is_used") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let proxy = ConnectProxy::start(Answer::Tunnel);
    let args = with(broker.args(), &["--count", "10", "--json"]);
    let run = run_with_env(&args, &[("HTTPS_PROXY", &proxy.url(""))]);
    assert_delivered(&run, 10);
    assert_connects(&proxy, &broker, 3);
    assert!(
        run.stderr.contains(&format!(
            "via HTTP proxy 127.0.0.1:{} (from HTTPS_PROXY)",
            proxy.port
        )),
        "{run}"
    );
}

#[test]
fn no_proxy_sends_the_run_around_the_proxy() {
    let Some(mosquitto) = mosquitto_or_skip("no_proxy_sends_the_run_around_the_proxy") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let proxy = ConnectProxy::start(Answer::Tunnel);
    let args = with(broker.args(), &["--count", "10", "--json"]);
    let run = run_with_env(
        &args,
        &[
            ("https_proxy", &proxy.url("")),
            ("NO_PROXY", "example.com, 127.0.0.1"),
        ],
    );
    assert_delivered(&run, 10);
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert!(run.stderr.contains("connecting directly"), "{run}");
}

#[test]
fn basic_auth_from_the_url_reaches_the_proxy() {
    let Some(mosquitto) = mosquitto_or_skip("basic_auth_from_the_url_reaches_the_proxy") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    // base64("alice:p@ss:word"): the password percent-encoded in the URL, decoded on the wire.
    let proxy = ConnectProxy::start(Answer::TunnelWithPassword("YWxpY2U6cEBzczp3b3Jk"));
    let args = with(broker.args(), &["--count", "5", "--json", "-v"]);
    let run = run_with_env(
        &args,
        &[("HTTPS_PROXY", &proxy.url("alice:p%40ss%3Aword@"))],
    );
    assert_delivered(&run, 5);
    assert_connects(&proxy, &broker, 3);
    let sent: Vec<_> = proxy.seen().into_iter().map(|s| s.authorization).collect();
    assert!(
        sent.iter()
            .all(|a| a.as_deref() == Some("Basic YWxpY2U6cEBzczp3b3Jk")),
        "{sent:?}"
    );
    assert!(run.stderr.contains("as user 'alice'"), "{run}");
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !output.contains("p@ss") && !output.contains("p%40ss"),
        "password in the output\n{run}"
    );
}

#[test]
fn an_unreachable_proxy_is_named_with_where_it_came_from() {
    let (_dir, files) = identity();
    let nothing = free_port();
    let args = with(
        unreached_broker(&files, free_port()),
        &[
            "--proxy_host",
            "127.0.0.1",
            "--proxy_port",
            &nothing.to_string(),
        ],
    );
    let run = run_with_env(&args, &[]);
    assert_one_line_error(
        &run,
        1,
        &[
            &format!(
                "connection to the HTTP proxy 127.0.0.1:{nothing} (from --proxy_host) refused"
            ),
            "check --proxy_host and --proxy_port",
        ],
    );

    let url = format!("http://127.0.0.1:{nothing}");
    let run = run_with_env(
        &unreached_broker(&files, free_port()),
        &[("ALL_PROXY", &url)],
    );
    assert_one_line_error(
        &run,
        1,
        &[
            &format!("connection to the HTTP proxy 127.0.0.1:{nothing} (from ALL_PROXY) refused"),
            "check ALL_PROXY",
        ],
    );
}

#[test]
fn a_proxy_that_refuses_the_connect_is_quoted() {
    let (_dir, files) = identity();
    let proxy = ConnectProxy::start(Answer::Refuse("403 Forbidden"));
    let port = free_port();
    let run = run_with_env(
        &unreached_broker(&files, port),
        &[("HTTPS_PROXY", &proxy.url(""))],
    );
    assert_one_line_error(
        &run,
        1,
        &[
            &format!(
                "the HTTP proxy 127.0.0.1:{} (from HTTPS_PROXY) refused to open a tunnel to 127.0.0.1:{port} (HTTP 403 Forbidden)",
                proxy.port
            ),
            "--port 443",
        ],
    );
    // The members connect at once; the first refusal ends the run, so no reconnects and no
    // publisher: at most one attempt per member.
    let attempts = proxy.seen().len();
    assert!((1..=2).contains(&attempts), "{:?}", proxy.seen());
}

#[test]
fn a_proxy_that_wants_a_password_says_where_to_put_it() {
    let (_dir, files) = identity();
    let proxy = ConnectProxy::start(Answer::TunnelWithPassword("YWxpY2U6cEBzczp3b3Jk"));
    let run = run_with_env(
        &unreached_broker(&files, free_port()),
        &[("HTTPS_PROXY", &proxy.url(""))],
    );
    assert_one_line_error(
        &run,
        1,
        &[
            "requires a user name and password (HTTP 407 Proxy Authentication Required)",
            &format!(
                "put them in HTTPS_PROXY as http://user:pass@127.0.0.1:{}",
                proxy.port
            ),
        ],
    );

    let run = run_with_env(
        &unreached_broker(&files, free_port()),
        &[("HTTPS_PROXY", &proxy.url("alice:wrong-secret@"))],
    );
    assert_one_line_error(
        &run,
        1,
        &[
            "refused the user name and password of 'alice' (HTTP 407 Proxy Authentication Required)",
            "check them in HTTPS_PROXY",
        ],
    );
    assert!(
        !run.stderr.contains("wrong-secret"),
        "password in the output\n{run}"
    );
}

#[test]
fn https_and_socks_proxies_are_usage_errors() {
    let (_dir, files) = identity();
    let args = unreached_broker(&files, free_port());
    let run = run_with_env(&args, &[("HTTPS_PROXY", "https://proxy.example:443")]);
    assert_one_line_error(
        &run,
        2,
        &["HTTPS_PROXY: an https:// proxy", "not supported"],
    );
    let run = run_with_env(&args, &[("all_proxy", "socks5://127.0.0.1:1080")]);
    assert_one_line_error(&run, 2, &["all_proxy: socks5:// proxies are not supported"]);
}

#[test]
fn check_walks_the_chain_through_the_proxy() {
    let Some(mosquitto) = mosquitto_or_skip("check_walks_the_chain_through_the_proxy") else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let proxy = ConnectProxy::start(Answer::Tunnel);
    let args = with(broker.args(), &["--check"]);
    let run = run_with_env(&args, &[("HTTPS_PROXY", &proxy.url(""))]);
    assert_eq!(run.code, Some(0), "{run}");
    let line = |step: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("✓ {step}:")))
            .unwrap_or_else(|| panic!("no ✓ {step} line\n{run}"))
            .to_owned()
    };
    assert!(
        line("DNS").contains("the HTTP proxy 127.0.0.1 (from HTTPS_PROXY)"),
        "{run}"
    );
    assert!(
        line("TCP").contains(&format!(
            "connected to 127.0.0.1:{} via HTTP proxy 127.0.0.1:{} (from HTTPS_PROXY)",
            broker.port, proxy.port
        )),
        "{run}"
    );
    line("TLS");
    line("CONNACK");
    line("SUBACK");
    // TCP, TLS and CONNACK each open a tunnel of their own.
    assert_connects(&proxy, &broker, 3);
}

#[test]
fn check_says_where_the_proxy_refuses() {
    let (_dir, files) = identity();
    let proxy = ConnectProxy::start(Answer::Refuse("403 Forbidden"));
    let args = with(
        unreached_broker(&files, free_port()),
        &[
            "--check",
            "--proxy_host",
            "127.0.0.1",
            "--proxy_port",
            &proxy.port.to_string(),
        ],
    );
    let run = run_with_env(&args, &[]);
    assert_eq!(run.code, Some(1), "{run}");
    assert!(
        run.stdout.lines().any(|l| l.starts_with("✗ TCP:")
            && l.contains("(from --proxy_host) refused to open a tunnel")
            && l.contains("HTTP 403 Forbidden")),
        "{run}"
    );
}
