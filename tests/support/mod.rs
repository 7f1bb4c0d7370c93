//! Test harness: a real mosquitto with mutual TLS, certificates made per test, and a way to run
//! the real binary with a time limit.
//!
//! Each test gets its own broker on a free loopback port and its own throw-away CA, so tests run
//! in parallel without seeing each other's messages. mosquitto comes from the Debian package; a
//! machine without it skips these tests with a message, except under `CI`, where a missing
//! mosquitto is a failure (a green CI that tested nothing would be a lie).

#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqtt5_shared_subscription::pki::{self, Pki};
use p256::pkcs8::DecodePrivateKey;
use tempfile::TempDir;

pub mod aws_like;
pub mod proxy;

/// The flags that point the binary at `host:port` with the test PKI's client certificate, key
/// and CA: what every test that starts its own server (TLS, proxy, scripted peer) passes.
pub fn client_args(files: &pki::PkiFiles, host: &str, port: u16) -> Vec<String> {
    vec![
        "--endpoint".into(),
        host.into(),
        "--port".into(),
        port.to_string(),
        "--cert".into(),
        files.client_cert.display().to_string(),
        "--key".into(),
        files.client_key.display().to_string(),
        "--ca_file".into(),
        files.ca.display().to_string(),
    ]
}

/// The binary under test, built by cargo for integration tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_mqtt5-shared-subscription");

/// Where mosquitto is, or `None` after printing why the test is skipped.
///
/// Panics when `CI` is set: there the test must run.
pub fn mosquitto_or_skip(test: &str) -> Option<PathBuf> {
    let candidates = [
        "/usr/sbin/mosquitto",
        "/usr/bin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ];
    if let Some(found) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) {
        return Some(found);
    }
    if let Ok(path) = which("mosquitto") {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: mosquitto is not installed, and CI is set: install it (apt-get install -y mosquitto)");
    }
    // Written straight to stderr: the test harness captures `eprintln!` of passing tests, and a
    // skip nobody sees would look like a pass.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: mosquitto is not installed (apt-get install -y mosquitto to run it)"
    );
    None
}

/// Where the program `name` is, or `None` after printing why `test` is skipped; panics when `CI`
/// is set, where the test must run (`.ci/run` installs `package`).
pub fn command_or_skip(name: &str, test: &str, package: &str) -> Option<PathBuf> {
    if let Ok(path) = which(name) {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: `{name}` is not installed, and CI is set: install it (apt-get install -y {package})");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: `{name}` is not installed (apt-get install -y {package} to run it)"
    );
    None
}

fn which(name: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or(())
}

/// A running mosquitto with mTLS on 127.0.0.1; killed when dropped.
pub struct Mosquitto {
    child: Child,
    pub port: u16,
    pub pki: Pki,
    pub files: pki::PkiFiles,
    pub dir: TempDir,
    log: PathBuf,
    /// What [`Mosquitto::restart`] needs to start the same broker again.
    binary: PathBuf,
    setup: Setup,
    starts: u32,
}

/// How a test broker differs from the default one (mTLS, any client certificate of our CA).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Serve a certificate made from these parameters (names, dates), signed by the broker's CA,
    /// instead of the PKI's `localhost`/`127.0.0.1` one.
    pub server_params: Option<rcgen::CertificateParams>,
    /// A plain-TCP listener, no TLS at all.
    pub plain: bool,
    /// More lines for mosquitto.conf, after ours. mosquitto takes the last value of a yes/no
    /// option, but refuses a second value for a file option such as `certfile`.
    pub extra: String,
}

impl Mosquitto {
    /// Starts mosquitto with `require_certificate true` and waits until it accepts connections.
    pub fn start(binary: &Path) -> Mosquitto {
        Mosquitto::start_with(binary, Setup::default())
    }

    /// Starts a mosquitto set up as `setup` says.
    pub fn start_with(binary: &Path, setup: Setup) -> Mosquitto {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new("mosquitto test CA").expect("CA");
        let mut files = pki.write_files(dir.path()).expect("PKI files");
        if let Some(params) = &setup.server_params {
            let key = rcgen::KeyPair::generate().expect("server key");
            let cert = pki.issue(params, &key).expect("server certificate");
            files.server_cert = dir.path().join("custom-server.pem.crt");
            files.server_key = dir.path().join("custom-server.pem.key");
            pki::write_file(&files.server_cert, &cert, false).expect("write server cert");
            pki::write_file(&files.server_key, &key.serialize_pem(), true).expect("write key");
        }
        // A free port can be taken by a parallel test between our look and mosquitto's bind;
        // then mosquitto exits at once and we try another port.
        for _attempt in 0..5 {
            let port = free_port();
            let log = dir.path().join(format!("mosquitto-{port}.log"));
            if let Some(child) = launch(binary, dir.path(), port, &files, &log, &setup) {
                return Mosquitto {
                    child,
                    port,
                    pki,
                    files,
                    dir,
                    log,
                    binary: binary.to_owned(),
                    setup,
                    starts: 1,
                };
            }
        }
        panic!("mosquitto did not start on any of 5 free ports");
    }

    /// Kills the broker with SIGKILL, as a crash or a power cut would: no DISCONNECT to anyone,
    /// and (with `persistence false`) every session and queued message gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the broker with SIGTERM, as a service manager would: mosquitto closes every
    /// connection and, with `persistence true`, saves its sessions to disk first.
    pub fn stop(&mut self) {
        // The shell's own `kill`: a fresh machine may have no /usr/bin/kill.
        let stopped = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status();
        assert!(stopped.is_ok_and(|s| s.success()), "kill -TERM mosquitto");
        let _ = self.child.wait();
    }

    /// Starts the same broker again, on the same port with the same certificates, after
    /// [`Mosquitto::kill`]. Its log starts afresh in a new file.
    pub fn restart(&mut self) {
        self.starts += 1;
        let log = self
            .dir
            .path()
            .join(format!("mosquitto-{}-start{}.log", self.port, self.starts));
        // The port is free again the moment the old process is gone, but another test could take
        // it in between; give it a few tries before failing the test.
        for _attempt in 0..20 {
            let launched = launch(
                &self.binary,
                self.dir.path(),
                self.port,
                &self.files,
                &log,
                &self.setup,
            );
            if let Some(child) = launched {
                self.child = child;
                self.log = log;
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mosquitto did not start again on port {}", self.port);
    }

    /// mosquitto's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The flags that point the binary at this broker with the demo client identity.
    pub fn args(&self) -> Vec<String> {
        self.args_with(&self.files.client_cert, &self.files.client_key)
    }

    /// The same with another certificate and key.
    pub fn args_with(&self, cert: &Path, key: &Path) -> Vec<String> {
        vec![
            "--endpoint".into(),
            "127.0.0.1".into(),
            "--port".into(),
            self.port.to_string(),
            "--cert".into(),
            cert.display().to_string(),
            "--key".into(),
            key.display().to_string(),
            "--ca_file".into(),
            self.files.ca.display().to_string(),
        ]
    }
}

/// True once mosquitto logged that it runs (its listener is bound) and still lives.
fn wait_until_running(child: &mut Child, port: u16, log: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // e.g. "Address already in use"
        }
        let running = std::fs::read_to_string(log).is_ok_and(|l| l.contains(" running"));
        if running && TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "mosquitto did not start within 10 s; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Writes the config and starts mosquitto on `port`; `None` if it did not come up (port taken).
fn launch(
    binary: &Path,
    dir: &Path,
    port: u16,
    files: &pki::PkiFiles,
    log: &Path,
    setup: &Setup,
) -> Option<Child> {
    let config_path = dir.join("mosquitto.conf");
    std::fs::write(&config_path, config_with(port, files, log, setup))
        .expect("write mosquitto.conf");
    let mut child = Command::new(binary)
        .arg("-c")
        .arg(&config_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    if wait_until_running(&mut child, port, log) {
        return Some(child);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// mosquitto.conf for `setup` on 127.0.0.1:`port`.
fn config_with(port: u16, files: &pki::PkiFiles, log: &Path, setup: &Setup) -> String {
    if setup.plain {
        return format!(
            "listener {port} 127.0.0.1\n\
             allow_anonymous true\n\
             persistence false\n\
             user root\n\
             log_dest file {log}\n\
             log_type all\n\
             {extra}\n",
            log = log.display(),
            extra = setup.extra,
        );
    }
    format!("{}{}\n", config(port, files, log), setup.extra)
}

/// mosquitto.conf for mTLS on 127.0.0.1:`port`.
fn config(port: u16, files: &pki::PkiFiles, log: &Path) -> String {
    format!(
        "listener {port} 127.0.0.1\n\
         cafile {ca}\n\
         certfile {cert}\n\
         keyfile {key}\n\
         require_certificate true\n\
         use_identity_as_username true\n\
         allow_anonymous true\n\
         persistence false\n\
         # unlimited queue: the default silently drops QoS 1 messages beyond 1000 queued per client\n\
         max_queued_messages 0\n\
         # as root, mosquitto drops to user mosquitto, who could not read our 0600 keys\n\
         user root\n\
         # send small packets (PUBACKs) at once instead of waiting out TCP's delayed ACK\n\
         set_tcp_nodelay true\n\
         log_dest file {log}\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         log_type subscribe\n\
         log_type unsubscribe\n",
        ca = files.ca.display(),
        cert = files.server_cert.display(),
        key = files.server_key.display(),
        log = log.display(),
    )
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("free port")
}

/// The private key forms a device key may come in.
#[derive(Debug, Clone, Copy)]
pub enum KeyForm {
    /// `BEGIN PRIVATE KEY`, EC P-256: what AWS IoT's "create certificate" gives for EC.
    Pkcs8Ec,
    /// `BEGIN EC PRIVATE KEY`: what `openssl ecparam -genkey` writes.
    Sec1Ec,
    /// `BEGIN RSA PRIVATE KEY`: what AWS IoT's console downloads as `private.pem.key`.
    Pkcs1Rsa,
}

/// Issues a client certificate from `pki` whose key is written in `form`; returns (cert, key) paths.
pub fn client_identity(pki: &Pki, dir: &Path, form: KeyForm) -> (PathBuf, PathBuf) {
    let (key_pair, key_pem) = match form {
        KeyForm::Pkcs8Ec => {
            let key = rcgen::KeyPair::generate().expect("EC key");
            let pem = key.serialize_pem();
            (key, pem)
        }
        KeyForm::Sec1Ec => {
            let key = rcgen::KeyPair::generate().expect("EC key");
            let secret = p256::SecretKey::from_pkcs8_der(&key.serialize_der()).expect("P-256 key");
            let pem = secret
                .to_sec1_pem(p256::pkcs8::LineEnding::LF)
                .expect("SEC1 PEM")
                .to_string();
            (key, pem)
        }
        KeyForm::Pkcs1Rsa => {
            // A throw-away key committed for the tests; it protects nothing (tests/data/README.md).
            // ring cannot generate RSA keys, so every run uses this one.
            let pkcs8_pem = include_str!("../data/test-only-rsa-2048.pk8.pem");
            let key = rcgen::KeyPair::from_pem(pkcs8_pem).expect("rcgen RSA key");
            // No conversion needed: for RSA, the PKCS#8 privateKey OCTET STRING *is* the PKCS#1
            // RSAPrivateKey DER; unwrap it and label it `RSA PRIVATE KEY`.
            let der = pem::parse(pkcs8_pem).expect("PKCS#8 PEM");
            let info = pkcs8::PrivateKeyInfo::try_from(der.contents()).expect("PKCS#8 key");
            let rsa_encryption = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
            assert_eq!(info.algorithm.oid, rsa_encryption, "not an RSA key");
            let pkcs1 = pem::Pem::new("RSA PRIVATE KEY", info.private_key);
            let lf = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
            (key, pem::encode_config(&pkcs1, lf))
        }
    };
    let params = pki::client_params(&format!("{form:?}")).expect("params");
    let cert_pem = pki.issue(&params, &key_pair).expect("issue");
    let cert = dir.join(format!("{form:?}.pem.crt"));
    let key = dir.join(format!("{form:?}.pem.key"));
    pki::write_file(&cert, &cert_pem, false).expect("write cert");
    pki::write_file(&key, &key_pem, true).expect("write key");
    (cert, key)
}

/// What a run of the binary printed and how it ended.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` events of `kind` (`"published"`, `"reconnected"`, ...), in order.
    pub fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| event["event"] == kind)
            .collect()
    }

    /// The last stdout line parsed as JSON (the `--json` summary).
    pub fn summary(&self) -> serde_json::Value {
        let line = self.stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("last stdout line is not JSON ({e}): {line:?}\n{self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs the binary with `args`; kills it and fails the test after `limit`.
pub fn run_tool(args: &[String], limit: Duration) -> Run {
    run_command(tool_command(args), limit)
}

/// The variables that would send the tool through a proxy: a user's shell may set them, and the
/// tests talk to brokers on loopback. `tests/proxy.rs` sets them again where it means to.
pub const PROXY_ENV: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

/// The binary with `args`, no `RUST_LOG`, no proxy or `MQTT5_*` variables and no standard
/// input: change it, then [`run_command`].
pub fn tool_command(args: &[String]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).stdin(Stdio::null());
    without_tool_env(&mut command);
    command
}

/// Removes from `command`'s environment what would change the tool's behaviour behind a test's
/// back: `RUST_LOG`, the proxy variables, and every `MQTT5_*` variable (the connection flags
/// read `MQTT5_ENDPOINT`, `MQTT5_CERT`, …; an encrypted key `MQTT5_KEY_PASSPHRASE`), which a
/// user's shell or a CI job may well set. A test that means to use one sets it again.
pub fn without_tool_env(command: &mut Command) -> &mut Command {
    command.env_remove("RUST_LOG");
    for name in PROXY_ENV {
        command.env_remove(name);
    }
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MQTT5_") {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` with its output captured; kills it and fails the test after `limit`.
pub fn run_command(mut command: Command, limit: Duration) -> Run {
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    // Read both pipes on threads so a chatty run cannot block on a full pipe.
    let mut stdout_pipe = child.stdout.take().expect("stdout");
    let mut stderr_pipe = child.stderr.take().expect("stderr");
    let stdout = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr_pipe.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the binary did not finish within {limit:?}: {args:?}\nstderr so far:\n{}",
                stderr.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// The run failed with `code` and exactly one `error:` line that contains every word in `words`,
/// without a panic or a private key in the output.
pub fn assert_one_line_error(run: &Run, code: i32, words: &[&str]) {
    assert_eq!(run.code, Some(code), "{run}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "expected one error line\n{run}");
    for word in words {
        assert!(
            errors[0].contains(word),
            "error line lacks {word:?}: {}",
            errors[0]
        );
    }
    assert!(!run.stderr.contains("panicked"), "{run}");
    assert!(
        !run.stderr.contains("BEGIN PRIVATE KEY"),
        "key material in the log\n{run}"
    );
}

/// `args` plus more flags, as owned strings.
pub fn with(mut args: Vec<String>, more: &[&str]) -> Vec<String> {
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// The binary running in the background, its output readable line by line while it runs.
pub struct Spawned {
    child: Child,
    args: Vec<String>,
    /// Each line as it comes, and whether it came on stderr.
    lines: std::sync::mpsc::Receiver<(bool, String)>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

/// Starts the binary with `args` and returns at once; see [`Spawned`].
pub fn spawn_tool(args: &[String]) -> Spawned {
    let mut child = tool_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let (sender, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    forward_lines(stdout, false, sender.clone());
    forward_lines(stderr, true, sender);
    Spawned {
        child,
        args: args.to_vec(),
        lines,
        stdout: Vec::new(),
        stderr: Vec::new(),
    }
}

/// Sends each line of `pipe` to `sender` from a thread, until the pipe closes.
fn forward_lines(
    pipe: impl Read + Send + 'static,
    is_stderr: bool,
    sender: std::sync::mpsc::Sender<(bool, String)>,
) {
    use std::io::BufRead;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send((is_stderr, line)).is_err() {
                break;
            }
        }
    });
}

impl Spawned {
    /// The process id, e.g. to send it a signal.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Reads output until a stdout line makes `wanted` true; false if none did within `limit`.
    pub fn wait_for_stdout(&mut self, wanted: impl FnMut(&str) -> bool, limit: Duration) -> bool {
        self.wait_for(false, wanted, limit)
    }

    /// Reads output until a stderr line makes `wanted` true; false if none did within `limit`.
    pub fn wait_for_stderr(&mut self, wanted: impl FnMut(&str) -> bool, limit: Duration) -> bool {
        self.wait_for(true, wanted, limit)
    }

    fn wait_for(
        &mut self,
        on_stderr: bool,
        mut wanted: impl FnMut(&str) -> bool,
        limit: Duration,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok((is_stderr, line)) = self.lines.recv_timeout(left) else {
                return false;
            };
            let found = is_stderr == on_stderr && wanted(&line);
            self.keep(is_stderr, line);
            if found {
                return true;
            }
        }
    }

    fn keep(&mut self, is_stderr: bool, line: String) {
        if is_stderr {
            self.stderr.push(line);
        } else {
            self.stdout.push(line);
        }
    }

    /// Waits for the binary to exit; kills it and fails the test after `limit`.
    pub fn finish(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        let status = loop {
            while let Ok((is_stderr, line)) = self.lines.try_recv() {
                self.keep(is_stderr, line);
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "the binary did not finish within {limit:?}: {:?}\nstderr so far:\n{}",
                    self.args,
                    self.stderr.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        // The reader threads end at end of file; take what they still hold.
        while let Ok((is_stderr, line)) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.keep(is_stderr, line);
        }
        Run {
            code: status.code(),
            stdout: self.stdout.join("\n"),
            stderr: self.stderr.join("\n"),
        }
    }
}

impl Drop for Spawned {
    /// A test that fails half-way must not leave the binary running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `--json` contract as the README's `### --json` section states it: for each event kind, its
/// fields, and whether each is always there (`false`: *sometimes*).
pub fn readme_json_fields() -> BTreeMap<String, BTreeMap<String, bool>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("### `--json`")
        .expect("README has a --json section");
    let section = &readme[start..];
    let end = section[4..].find("\n### ").map_or(section.len(), |i| i + 4);
    let mut events: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let mut kind: Option<String> = None;
    for line in section[..end].lines() {
        if let Some(heading) = line.strip_prefix("#### `") {
            let name = heading.split('`').next().expect("event name");
            kind = Some(name.to_owned());
            events.entry(name.to_owned()).or_default();
        } else if let (Some(kind), Some(row)) = (&kind, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let always = !cells.get(1).is_some_and(|ty| ty.contains("*sometimes*"));
            // `a`, `b` in one cell: both fields.
            for field in cells[0]
                .split('`')
                .step_by(2)
                .filter(|f| !f.trim().is_empty() && !f.contains(','))
            {
                events
                    .get_mut(kind)
                    .expect("kind")
                    .insert(field.trim().to_owned(), always);
            }
        }
    }
    events
}

/// Checks every `--json` line of `run` against the README's tables: each kind documented, no
/// undocumented field, every always-there field present. `must_see` are kinds this run must have
/// printed, so the check cannot pass by seeing nothing.
pub fn assert_json_matches_readme(run: &Run, must_see: &[&str]) {
    let documented = readme_json_fields();
    let mut seen = BTreeSet::new();
    for line in run.stdout.lines() {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line) else {
            continue;
        };
        let kind = object["event"]
            .as_str()
            .expect("`event` is a string")
            .to_owned();
        let fields = documented
            .get(&kind)
            .unwrap_or_else(|| panic!("event `{kind}` is not in the README's --json section"));
        let keys: BTreeSet<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|k| *k != "event")
            .collect();
        for key in &keys {
            assert!(
                fields.contains_key(*key),
                "`{kind}` has `{key}`, which the README does not document: {line}"
            );
        }
        for (field, always) in fields {
            assert!(
                !always || keys.contains(field.as_str()),
                "`{kind}` lacks `{field}`, which the README says is always there: {line}"
            );
        }
        seen.insert(kind);
    }
    for kind in must_see {
        assert!(seen.contains(*kind), "no `{kind}` line in this run\n{run}");
    }
}
