//! Every bad input ends in one `error:` line that names the flag or file and the fix, with exit
//! code 2, before any network traffic; never a panic, never a byte of a private key.
//!
//! Each test runs the real binary against a loopback port where nothing listens. So an input the
//! tool *accepts* (a DER file, a decrypted key, an endpoint URL) shows up as exit 1, "connection
//! refused": the TLS config was built and the tool went on to connect.
//!
//! The cases follow issue 5's "Bad input" list: files (missing, unreadable, a directory, empty,
//! garbage, the wrong kind, DER, damaged, another certificate's key, expired), encrypted keys,
//! group and topic, counts, and endpoints.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use mqtt5_shared_subscription::pki::{self, Pki, PkiFiles};
use mqtt5_shared_subscription::PASSPHRASE_ENV;
use pkcs8::pkcs5::pbes2;
use support::{
    assert_one_line_error, client_identity, free_port, run_command, tool_command, KeyForm, Run,
};

const LIMIT: Duration = Duration::from_secs(30);
const PASSPHRASE: &str = "correct horse battery staple";

/// A throw-away CA and device identity in a temp dir, and a port where nothing listens.
struct Setup {
    dir: tempfile::TempDir,
    pki: Pki,
    files: PkiFiles,
    port: u16,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new("bad input test CA").expect("CA");
        let files = pki.write_files(dir.path()).expect("PKI files");
        Setup {
            dir,
            pki,
            files,
            port: free_port(),
        }
    }

    /// Writes `contents` to `name` in the temp dir; returns the path as a flag value.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write test file");
        path.display().to_string()
    }

    fn cert(&self) -> String {
        self.files.client_cert.display().to_string()
    }
    fn key(&self) -> String {
        self.files.client_key.display().to_string()
    }
    fn ca(&self) -> String {
        self.files.ca.display().to_string()
    }
    /// The device key's PEM text.
    fn key_pem(&self) -> String {
        std::fs::read_to_string(&self.files.client_key).expect("key")
    }

    /// The flags for a run with these files, then `more`.
    fn args(&self, cert: &str, key: &str, ca: &str, more: &[&str]) -> Vec<String> {
        let port = self.port.to_string();
        let mut args: Vec<String> = [
            "--endpoint",
            "127.0.0.1",
            "--port",
            &port,
            "--cert",
            cert,
            "--key",
            key,
            "--ca_file",
            ca,
            "--timeout",
            "5s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(more.iter().map(|s| s.to_string()));
        args
    }

    /// Runs with these files and no passphrase in the environment.
    fn run(&self, cert: &str, key: &str, ca: &str) -> Run {
        self.run_env(cert, key, ca, None)
    }

    /// Runs with the good files and `more` flags.
    fn run_flags(&self, more: &[&str]) -> Run {
        let mut command = tool_command(&self.args(&self.cert(), &self.key(), &self.ca(), more));
        command.env_remove(PASSPHRASE_ENV);
        run_command(command, LIMIT)
    }

    /// Runs with `passphrase` in [`PASSPHRASE_ENV`] (or none).
    fn run_env(&self, cert: &str, key: &str, ca: &str, passphrase: Option<&str>) -> Run {
        let mut command = tool_command(&self.args(cert, key, ca, &[]));
        match passphrase {
            Some(passphrase) => command.env(PASSPHRASE_ENV, passphrase),
            None => command.env_remove(PASSPHRASE_ENV),
        };
        run_command(command, LIMIT)
    }

    /// A fresh key pair and a certificate for it, issued with `params` by this CA.
    fn identity(&self, params: rcgen::CertificateParams) -> (String, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        (self.pki.issue(&params, &key).expect("issue"), key)
    }
}

/// The tool accepted every input and went on to connect: exit 1, "refused" by the closed port.
fn assert_reached_the_network(run: &Run) {
    assert_one_line_error(run, 1, &["refused"]);
}

/// No line of `pem`'s base64 body (a private key) appears anywhere in the output.
fn assert_no_key_material(run: &Run, pem: &str) {
    for line in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
    {
        assert!(
            !run.stdout.contains(line) && !run.stderr.contains(line),
            "key material in the output\n{run}"
        );
    }
}

/// The DER inside a PEM text (the first block).
fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).expect("PEM").into_contents()
}

/// `key` (PKCS#8 DER) encrypted the way `openssl pkcs8 -topk8 -v2 aes-256-cbc` does it:
/// PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC. Returns the `EncryptedPrivateKeyInfo` DER.
fn encrypt(key_der: &[u8], passphrase: &str) -> Vec<u8> {
    let salt: [u8; 16] = rand::random();
    let iv: [u8; 16] = rand::random();
    let params = pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, &salt, &iv).expect("params");
    pkcs8::PrivateKeyInfo::try_from(key_der)
        .expect("PKCS#8")
        .encrypt_with_params(params, passphrase)
        .expect("encrypt")
        .as_bytes()
        .to_vec()
}

fn encrypted_pem(der: Vec<u8>) -> String {
    pem::encode(&pem::Pem::new("ENCRYPTED PRIVATE KEY", der))
}

// ---------------------------------------------------------------------------------------------
// Files that cannot be read

#[test]
fn missing_files_name_the_flag_and_the_path() {
    let setup = Setup::new();
    let missing = setup.dir.path().join("no-such.pem").display().to_string();
    for (flag, run) in [
        ("--cert", setup.run(&missing, &setup.key(), &setup.ca())),
        ("--key", setup.run(&setup.cert(), &missing, &setup.ca())),
        (
            "--ca_file",
            setup.run(&setup.cert(), &setup.key(), &missing),
        ),
    ] {
        assert_one_line_error(
            &run,
            2,
            &[flag, "no-such.pem", "does not exist", "check the path"],
        );
    }
}

/// chmod 000 stops everyone but root, and tests often run as root (CI does). Then the binary runs
/// as user `nobody` through `setpriv` (util-linux), so the permission check is real.
#[test]
fn unreadable_key_file_says_permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let chmod = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    // Everything readable to `nobody` except the key.
    chmod(setup.dir.path(), 0o755);
    for file in [&setup.files.client_cert, &setup.files.ca] {
        chmod(file, 0o644);
    }
    chmod(&setup.files.client_key, 0o000);
    let args = setup.args(&setup.cert(), &setup.key(), &setup.ca(), &[]);
    let privileged = std::fs::read(&setup.files.client_key).is_ok();
    let command = if !privileged {
        tool_command(&args)
    } else if Command::new("setpriv").arg("--version").output().is_ok() {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(support::BIN)
            .args(&args)
            .stdin(Stdio::null());
        command
    } else {
        eprintln!("SKIPPED unreadable_key_file_says_permission_denied: root, and no setpriv");
        return;
    };
    let run = run_command(command, LIMIT);
    assert_one_line_error(&run, 2, &["--key", "permission denied", "chmod u+r"]);
}

#[test]
fn a_directory_is_refused_for_each_flag() {
    let setup = Setup::new();
    let dir = setup.dir.path().display().to_string();
    for (flag, run) in [
        ("--cert", setup.run(&dir, &setup.key(), &setup.ca())),
        ("--key", setup.run(&setup.cert(), &dir, &setup.ca())),
        ("--ca_file", setup.run(&setup.cert(), &setup.key(), &dir)),
    ] {
        assert_one_line_error(
            &run,
            2,
            &[flag, "is a directory", "pass the file inside it"],
        );
    }
}

#[test]
fn empty_files_are_refused_for_each_flag() {
    let setup = Setup::new();
    let empty = setup.write("empty.pem", "\n  \n");
    for (flag, run) in [
        ("--cert", setup.run(&empty, &setup.key(), &setup.ca())),
        ("--key", setup.run(&setup.cert(), &empty, &setup.ca())),
        ("--ca_file", setup.run(&setup.cert(), &setup.key(), &empty)),
    ] {
        assert_one_line_error(&run, 2, &[flag, "empty.pem", "the file is empty"]);
    }
}

// ---------------------------------------------------------------------------------------------
// Files with the wrong contents

#[test]
fn garbage_is_neither_pem_nor_der() {
    let setup = Setup::new();
    let text = setup.write("notes.txt", "my device certificate is in the console\n");
    let binary = setup.write("random.bin", [0xffu8, 0x00, 0x13, 0x37, 0x42]);
    for garbage in [&text, &binary] {
        let run = setup.run(garbage, &setup.key(), &setup.ca());
        assert_one_line_error(&run, 2, &["--cert", "neither PEM nor DER", "-----BEGIN"]);
        let run = setup.run(&setup.cert(), garbage, &setup.ca());
        assert_one_line_error(&run, 2, &["--key", "neither PEM nor DER"]);
    }
    // Starts like DER (a SEQUENCE), but is not a certificate or key.
    let fake_der = setup.write("fake.der", [0x30, 0x03, 0x02, 0x01, 0x07]);
    let run = setup.run(&setup.cert(), &fake_der, &setup.ca());
    assert_one_line_error(
        &run,
        2,
        &["--key", "DER", "neither a certificate nor a private key"],
    );
}

#[test]
fn damaged_pem_is_reported_without_its_contents() {
    let setup = Setup::new();
    let ca_pem = setup.pki.ca_pem();
    let bad_base64 = setup.write(
        "bad64.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB$$$$\n-----END CERTIFICATE-----\n",
    );
    let run = setup.run(&bad_base64, &setup.key(), &setup.ca());
    assert_one_line_error(&run, 2, &["--cert", "damaged PEM", "base64"]);

    // A CA bundle cut off in its second certificate must not quietly lose it.
    let cut = format!("{ca_pem}{}", &ca_pem[..ca_pem.len() / 2]);
    let cut = setup.write("cut.pem", cut);
    let run = setup.run(&setup.cert(), &setup.key(), &cut);
    assert_one_line_error(&run, 2, &["--ca_file", "damaged PEM", "cut short"]);

    // Valid PEM framing around bytes that are not a certificate.
    let junk = pem::encode(&pem::Pem::new(
        "CERTIFICATE",
        vec![0x30, 0x03, 0x02, 0x01, 0x07],
    ));
    let junk = setup.write("junk.pem", junk);
    let run = setup.run(&junk, &setup.key(), &setup.ca());
    assert_one_line_error(&run, 2, &["--cert", "damaged", "X.509"]);
    let run = setup.run(&setup.cert(), &setup.key(), &junk);
    assert_one_line_error(&run, 2, &["--ca_file", "damaged"]);

    let junk_key = pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        vec![0x30, 0x03, 0x02, 0x01, 0x00],
    ));
    let junk_key = setup.write("junk.key", junk_key);
    let run = setup.run(&setup.cert(), &junk_key, &setup.ca());
    assert_one_line_error(&run, 2, &["--key", "damaged or of an unsupported type"]);
}

#[test]
fn a_key_passed_as_cert_or_ca_and_a_cert_passed_as_key_say_what_they_hold() {
    let setup = Setup::new();
    let key_pem = setup.key_pem();
    let run = setup.run(&setup.key(), &setup.cert(), &setup.ca());
    assert_one_line_error(&run, 2, &["--cert", "private key", "swap --cert and --key"]);
    assert_no_key_material(&run, &key_pem);

    let run = setup.run(&setup.cert(), &setup.cert(), &setup.ca());
    assert_one_line_error(&run, 2, &["--key", "only a certificate", "swap"]);

    // The same files in DER: still recognised by what they are.
    let key_der = setup.write("key.der", der(&key_pem));
    let run = setup.run(&key_der, &setup.key(), &setup.ca());
    assert_one_line_error(&run, 2, &["--cert", "swap --cert and --key"]);
}

#[test]
fn a_ca_file_without_certificates_says_what_to_pass() {
    let setup = Setup::new();
    let run = setup.run(&setup.cert(), &setup.key(), &setup.key());
    assert_one_line_error(
        &run,
        2,
        &[
            "--ca_file",
            "no certificate",
            "private key",
            "AmazonRootCA1.pem",
        ],
    );
    let public_key = setup.write(
        "public.pem",
        pem::encode(&pem::Pem::new("PUBLIC KEY", vec![0x30, 0x00])),
    );
    let run = setup.run(&setup.cert(), &setup.key(), &public_key);
    assert_one_line_error(
        &run,
        2,
        &[
            "--ca_file",
            "no certificate",
            "'PUBLIC KEY'",
            "BEGIN CERTIFICATE",
        ],
    );
}

#[test]
fn a_certificate_request_is_not_the_certificate() {
    let setup = Setup::new();
    let key = rcgen::KeyPair::generate().expect("key");
    let csr = pki::client_params("csr")
        .and_then(|params| Ok(params.serialize_request(&key)?.pem()?))
        .expect("CSR");
    let csr = setup.write("device.csr", csr);
    let run = setup.run(&csr, &setup.key(), &setup.ca());
    assert_one_line_error(&run, 2, &["--cert", "certificate signing request (CSR)"]);
}

#[test]
fn key_of_another_certificate_is_refused() {
    let setup = Setup::new();
    let other = Pki::new("other")
        .and_then(|pki| pki.client("other"))
        .expect("other identity");
    let other_key = setup.write("other.key", &other.key_pem);
    let run = setup.run(&setup.cert(), &other_key, &setup.ca());
    assert_one_line_error(&run, 2, &["--key", "does not belong to --cert"]);
    assert_no_key_material(&run, &other.key_pem);
}

// ---------------------------------------------------------------------------------------------
// DER instead of PEM: accepted

#[test]
fn der_certificate_key_and_ca_are_accepted() {
    let setup = Setup::new();
    let cert_pem = std::fs::read_to_string(&setup.files.client_cert).expect("cert");
    let key_pem = setup.key_pem();
    let cert = setup.write("device.der", der(&cert_pem));
    let key = setup.write("private.der", der(&key_pem));
    let ca = setup.write("ca.der", der(setup.pki.ca_pem()));
    assert_reached_the_network(&setup.run(&cert, &key, &ca));
}

#[test]
fn der_keys_in_pkcs1_and_sec1_form_are_accepted() {
    let setup = Setup::new();
    for form in [KeyForm::Sec1Ec, KeyForm::Pkcs1Rsa] {
        let (cert, key) = client_identity(&setup.pki, setup.dir.path(), form);
        let key_pem = std::fs::read_to_string(&key).expect("key");
        let key_der = setup.write(&format!("{form:?}.der"), der(&key_pem));
        let run = setup.run(&cert.display().to_string(), &key_der, &setup.ca());
        assert_reached_the_network(&run);
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate dates

#[test]
fn an_expired_certificate_is_refused_with_its_dates() {
    let setup = Setup::new();
    let mut params = pki::client_params("expired").expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 6, 30);
    let (cert, key) = setup.identity(params);
    let cert = setup.write("expired.pem", cert);
    let key = setup.write("expired.key", key.serialize_pem());
    let run = setup.run(&cert, &key, &setup.ca());
    assert_one_line_error(
        &run,
        2,
        &[
            "--cert",
            "expired.pem",
            "has expired",
            "2020-01-01",
            "2021-06-30",
            "clock says",
            "issue a new certificate",
        ],
    );
}

#[test]
fn a_certificate_not_valid_yet_is_refused_with_its_dates() {
    let setup = Setup::new();
    let mut params = pki::client_params("future").expect("params");
    params.not_before = rcgen::date_time_ymd(2090, 1, 1);
    params.not_after = rcgen::date_time_ymd(2091, 1, 1);
    let (cert, key) = setup.identity(params);
    let cert = setup.write("future.pem", cert);
    let key = setup.write("future.key", key.serialize_pem());
    let run = setup.run(&cert, &key, &setup.ca());
    assert_one_line_error(
        &run,
        2,
        &[
            "--cert",
            "not valid yet",
            "2090-01-01",
            "2091-01-01",
            "clock",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Encrypted private keys

#[test]
fn an_encrypted_key_without_a_passphrase_names_the_variable() {
    let setup = Setup::new();
    let key = encrypted_pem(encrypt(&der(&setup.key_pem()), PASSPHRASE));
    let key = setup.write("encrypted.key", key);
    let run = setup.run(&setup.cert(), &key, &setup.ca());
    assert_one_line_error(
        &run,
        2,
        &["--key", "encrypted", "no passphrase", PASSPHRASE_ENV],
    );
}

#[test]
fn an_encrypted_key_is_decrypted_with_the_passphrase_from_the_environment() {
    let setup = Setup::new();
    let encrypted = encrypt(&der(&setup.key_pem()), PASSPHRASE);
    let pem_file = setup.write("encrypted.key", encrypted_pem(encrypted.clone()));
    let der_file = setup.write("encrypted.der", encrypted);
    for key in [pem_file, der_file] {
        let run = setup.run_env(&setup.cert(), &key, &setup.ca(), Some(PASSPHRASE));
        assert_reached_the_network(&run);
        assert!(!run.stderr.contains(PASSPHRASE), "{run}");
    }
}

#[test]
fn a_wrong_passphrase_says_so() {
    let setup = Setup::new();
    let key = encrypted_pem(encrypt(&der(&setup.key_pem()), PASSPHRASE));
    let key = setup.write("encrypted.key", key);
    let run = setup.run_env(&setup.cert(), &key, &setup.ca(), Some("not-the-passphrase"));
    assert_one_line_error(&run, 2, &["--key", "wrong passphrase", PASSPHRASE_ENV]);
    assert!(!run.stderr.contains("not-the-passphrase"), "{run}");
}

/// The terminal prompt, through a real pseudo-terminal made by `script` (util-linux).
#[test]
fn an_encrypted_key_asks_for_the_passphrase_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED an_encrypted_key_asks_for_the_passphrase_on_a_terminal: no `script`");
        return;
    }
    let setup = Setup::new();
    let key = encrypted_pem(encrypt(&der(&setup.key_pem()), PASSPHRASE));
    let key = setup.write("encrypted.key", key);
    let args = setup.args(&setup.cert(), &key, &setup.ca(), &[]);

    let (code, screen) = run_on_a_terminal(&args, PASSPHRASE);
    assert!(screen.contains("Passphrase for --key"), "{screen}");
    assert_eq!(code, Some(1), "{screen}");
    assert!(screen.contains("refused"), "{screen}");

    let (code, screen) = run_on_a_terminal(&args, "guess");
    assert_eq!(code, Some(2), "{screen}");
    assert!(screen.contains("wrong passphrase"), "{screen}");
    assert!(screen.contains("type the passphrase"), "{screen}");
}

/// Runs the binary on a pseudo-terminal, types `typed` and Enter at the prompt; returns the exit
/// code and everything the terminal showed.
fn run_on_a_terminal(args: &[String], typed: &str) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    let command_line = std::iter::once(support::BIN.to_owned())
        .chain(args.iter().cloned())
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = support::without_tool_env(&mut Command::new("script"))
        .args([
            "--quiet",
            "--return",
            "--command",
            &command_line,
            "/dev/null",
        ])
        .env_remove(PASSPHRASE_ENV)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start script");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            if tx.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let deadline = std::time::Instant::now() + LIMIT;
    let mut typed_it = false;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(bytes) => screen.extend(bytes),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if !typed_it && String::from_utf8_lossy(&screen).contains("Passphrase for") {
            // The prompt is printed just before echo is switched off; give that a moment.
            std::thread::sleep(Duration::from_millis(300));
            stdin
                .write_all(format!("{typed}\r").as_bytes())
                .expect("type");
            typed_it = true;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no exit within {LIMIT:?}: {}",
            String::from_utf8_lossy(&screen)
        );
    }
    let status = child.wait().expect("wait");
    (status.code(), String::from_utf8_lossy(&screen).into_owned())
}

#[test]
fn legacy_openssl_encryption_gets_the_conversion_command() {
    let setup = Setup::new();
    // The shape `openssl ec -aes128` writes; we never decrypt it, so the body may be anything.
    let mut legacy = pem::Pem::new("EC PRIVATE KEY", vec![0x42; 48]);
    legacy
        .headers_mut()
        .add("Proc-Type", "4,ENCRYPTED")
        .expect("header");
    legacy
        .headers_mut()
        .add("DEK-Info", "AES-128-CBC,0123456789ABCDEF0123456789ABCDEF")
        .expect("header");
    let key = setup.write("legacy.key", pem::encode(&legacy));
    let run = setup.run(&setup.cert(), &key, &setup.ca());
    assert_one_line_error(
        &run,
        2,
        &[
            "--key",
            "legacy encryption",
            &format!("`openssl pkcs8 -topk8 -v2 aes-256-cbc -in {key} -out {key}.p8`"),
            PASSPHRASE_ENV,
        ],
    );
}

#[test]
fn an_old_encryption_scheme_gets_the_re_encryption_command() {
    let setup = Setup::new();
    // EncryptedPrivateKeyInfo with PBES1 pbeWithMD5AndDES-CBC (1.2.840.113549.1.5.3), as old
    // openssl wrote with `-v1`: salt, 2048 iterations, and 16 bytes standing in for the key.
    let mut der = vec![0x30, 0x37, 0x30, 0x1b];
    der.extend([
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x03,
    ]);
    der.extend([
        0x30, 0x0e, 0x04, 0x08, 1, 2, 3, 4, 5, 6, 7, 8, 0x02, 0x02, 0x08, 0x00,
    ]);
    der.extend([0x04, 0x18]);
    der.extend([0x5a; 24]);
    let key = setup.write("old.key", encrypted_pem(der));
    let run = setup.run_env(&setup.cert(), &key, &setup.ca(), Some(PASSPHRASE));
    assert_one_line_error(
        &run,
        2,
        &[
            "--key",
            "old scheme",
            "openssl pkcs8 -topk8 -v2 aes-256-cbc",
        ],
    );
}

#[test]
fn help_for_key_names_the_passphrase_variable() {
    let run = run_command(tool_command(&["--help".to_owned()]), LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains(PASSPHRASE_ENV), "{}", run.stdout);
    assert!(run.stdout.contains("PEM or DER"), "{}", run.stdout);
}

// ---------------------------------------------------------------------------------------------
// Group and topic

#[test]
fn bad_groups_name_the_flag_and_the_rule() {
    let setup = Setup::new();
    let long = "g".repeat(129);
    for (group, words) in [
        ("", &["--group_identifier", "is empty", "single quotes"][..]),
        ("a/b", &["--group_identifier 'a/b'", "contains '/'"]),
        ("g+", &["contains '+'", "MQTT 5"]),
        ("g#", &["contains '#'"]),
        (&long, &["129 characters", "at most 128"]),
        // What the shell leaves of "$share/workers"
        ("/workers", &["contains '/'", "single quotes"]),
        (
            "$share/workers",
            &["only the share name", "--group_identifier workers"],
        ),
        ("$shared", &["misspelt '$share'", "only the share name"]),
    ] {
        let run = setup.run_flags(&["--group_identifier", group]);
        assert_one_line_error(&run, 2, words);
    }
}

#[test]
fn bad_topics_name_the_flag_and_the_rule() {
    let setup = Setup::new();
    for (topic, words) in [
        ("", &["--topic", "is empty", "single quotes"][..]),
        ("a/+/b", &["--topic 'a/+/b'", "wildcard '+'"]),
        ("a/#", &["wildcard '#'"]),
        ("+", &["wildcard '+'"]),
        (
            "$share/g/t",
            &[
                "starts with '$share'",
                "--group_identifier g --topic t",
                "disconnects",
            ],
        ),
        (
            "$shared/g/t",
            &["misspelt '$share'", "--group_identifier g --topic t"],
        ),
        ("$SHARE/g/t", &["misspelt '$share'"]),
        ("$share", &["starts with '$share'"]),
        // What the shell leaves of "$share/G/T"
        (
            "/G/T",
            &[
                "starts with '/'",
                "\"$share/G/T\"",
                "single quotes",
                "--group_identifier G --topic T",
            ],
        ),
    ] {
        let run = setup.run_flags(&["--topic", topic]);
        assert_one_line_error(&run, 2, words);
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers and the endpoint

#[test]
fn qos_2_and_zero_counts_are_refused_with_the_reason() {
    let setup = Setup::new();
    for (flags, words) in [
        (
            ["--qos", "2"],
            &["--qos", "does not support QoS 2", "0 or 1"][..],
        ),
        (["--qos", "3"], &["--qos", "0 or 1"]),
        (
            ["--count", "0"],
            &["--count", "nothing to deliver", "1 or more"],
        ),
        (
            ["--subscribers", "0"],
            &["--subscribers", "at least one member"],
        ),
        (["--subscribers", "50000"], &["--subscribers", "1 to 10000"]),
    ] {
        let run = setup.run_flags(&flags);
        assert_one_line_error(&run, 2, words);
    }
}

#[test]
fn absurd_timeouts_and_intervals_are_refused_not_a_panic() {
    // `Instant + Duration` panics on overflow; a value like this once crashed the run later.
    let setup = Setup::new();
    let mut args = setup.args(&setup.cert(), &setup.key(), &setup.ca(), &[]);
    assert_eq!(args[10], "--timeout");
    args[11] = "300000000000years".to_owned();
    let run = run_command(tool_command(&args), LIMIT);
    assert_one_line_error(&run, 2, &["--timeout", "at most 24h"]);

    let run = setup.run_flags(&["--interval", "25h"]);
    assert_one_line_error(&run, 2, &["--interval", "at most 24h"]);
}

#[test]
fn keep_alive_and_session_expiry_out_of_range_are_refused() {
    // rumqttc panics on a keep-alive below 5 s: refuse it as a usage error instead.
    let setup = Setup::new();
    for (flags, words) in [
        (["--keep-alive", "2s"], &["--keep-alive", "at least 5s"][..]),
        (
            ["--keep-alive", "5500ms"],
            &["--keep-alive", "whole seconds"],
        ),
        (["--keep-alive", "20h"], &["--keep-alive", "65535s"]),
        (
            ["--session-expiry", "1.5s"],
            &["--session-expiry", "whole seconds"],
        ),
        (
            ["--session-expiry", "200years"],
            &["--session-expiry", "136 years"],
        ),
    ] {
        let run = setup.run_flags(&flags);
        assert_one_line_error(&run, 2, words);
    }
}

#[test]
fn an_endpoint_url_is_split_into_host_and_port() {
    let setup = Setup::new();
    // The port inside the URL wins over --port: the run tries exactly that one.
    let port = free_port().to_string();
    let mut args = setup.args(&setup.cert(), &setup.key(), &setup.ca(), &[]);
    args[1] = format!("mqtts://127.0.0.1:{port}/");
    let run = run_command(tool_command(&args), LIMIT);
    assert_one_line_error(&run, 1, &["refused", &format!("127.0.0.1:{port}")]);
}

#[test]
fn endpoints_that_cannot_be_split_say_what_to_pass() {
    let setup = Setup::new();
    for (endpoint, words) in [
        (
            "https://example.com",
            &["--endpoint", "'https://'", "not supported", "host name"][..],
        ),
        (
            "example.com/mqtt",
            &["--endpoint", "path", "only the host name"],
        ),
        (
            "example.com:eighty",
            &["'eighty' is not a port number", "--port"],
        ),
        ("mqtts://:8883", &["--endpoint", "no host name"]),
    ] {
        let mut args = setup.args(&setup.cert(), &setup.key(), &setup.ca(), &[]);
        args[1] = endpoint.to_owned();
        let run = run_command(tool_command(&args), LIMIT);
        assert_one_line_error(&run, 2, words);
    }
}

/// CI keeps secrets in variables, and the key's *contents* often land in `MQTT5_KEY` instead of
/// its path: the tool says so in one line, and neither `--help` nor the error shows a byte of it.
#[test]
fn a_key_pasted_into_mqtt5_key_is_refused_and_never_shown() {
    let setup = Setup::new();
    let pem = setup.key_pem();
    let mut args = setup.args(&setup.cert(), "unused", &setup.ca(), &[]);
    let at = args.iter().position(|a| a == "--key").expect("--key");
    args.drain(at..at + 2);
    let mut command = tool_command(&args);
    command.env("MQTT5_KEY", &pem);
    let run = run_command(command, LIMIT);
    assert_one_line_error(&run, 2, &["--key", "MQTT5_KEY", "PEM text", "path"]);
    assert_no_key_material(&run, &pem);

    // The same key given as the flag's value, and the certificate's text in MQTT5_CERT.
    let run = setup.run(&setup.cert(), &pem, &setup.ca());
    assert_one_line_error(&run, 2, &["--key", "PEM text"]);
    assert_no_key_material(&run, &pem);

    let mut command = tool_command(&["--help".to_owned()]);
    command.env("MQTT5_KEY", &pem);
    let help = run_command(command, LIMIT);
    assert_eq!(help.code, Some(0), "{help}");
    assert!(help.stdout.contains("MQTT5_KEY"), "{help}");
    assert_no_key_material(&help, &pem);
}
