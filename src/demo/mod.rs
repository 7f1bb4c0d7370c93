//! `--demo`: the whole sample with no AWS account. A throw-away PKI and an MQTT 5 broker inside
//! this process, so a reader can watch a shared subscription at work in one command.
//!
//! * `pki.rs`: a CA, a server and a client certificate made with rcgen, written as PEM files;
//! * `broker.rs`: the [mqtt5] crate's broker on loopback, TLS only, client certificate required;
//! * `authorizer.rs`: `--policy FILE`, an AWS IoT policy applied to the broker's clients as AWS
//!   IoT Core applies it (Connect, Publish, Subscribe; not Receive);
//! * this file: the two put together, handed to the run as an ordinary `--endpoint`, `--cert`,
//!   `--key` and `--ca_file`, so a demo run takes the same code path as a real one;
//! * `unavailable.rs`: the stand-in built without the `demo` feature, which says how to get it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::aws::iam::Policy;

use crate::failure::Failure;
use crate::mqtt::Target;
use crate::share::SharedFilter;
use crate::shutdown;
use crate::tls::{shell_quote, TlsFiles};

mod authorizer;
mod broker;
pub mod pki;

/// Log filter directives for the broker's libraries, added to the tool's own (`cli/output.rs`).
///
/// The demo broker sees other clients' manners, and its libraries log them as warnings and
/// errors that are not problems on a laptop: rustls warns when a client sends an IP address as
/// its TLS server name (mosquitto_sub -h 127.0.0.1 does; `rustls::msgs::handshake`); mqtt5's
/// accept loop warns when a client goes away without a TLS close_notify (Ctrl-C or kill of a
/// member in another terminal: "Client handler error", `src/broker/server.rs`) and its TLS
/// acceptor logs errors when a client closes before its handshake (`--check`'s TCP step does:
/// "TLS handshake failed … tls handshake eof", `server.rs` and `src/broker/tls_acceptor.rs`).
/// Its client handler warns when a client closes before its CONNECT ("Connect error: … without
/// sending TLS close_notify"), in the same place as real trouble. mqtt5 cannot be filtered by
/// message, so the accept loop and the acceptor are silenced and the rest of mqtt5 shows its
/// errors only (its warnings, keep-alive timeouts among them, show with `-vv`). Nothing real is
/// lost: a client the broker refuses in the handshake (no certificate, another CA) hears why in
/// a TLS alert and says so itself, and the refusals of `--policy` are logged by this crate
/// (`authorizer.rs`). `-vv` (trace) shows everything.
pub const LOG_FILTER: &str =
    "rustls::msgs::handshake=error,mqtt5=error,mqtt5::broker::server=off,mqtt5::broker::tls_acceptor=off";

pub use broker::{DemoBroker, MAX_PACKET_SIZE};
use pki::{Pki, PkiFiles};

/// `--demo`: a throw-away PKI on disk and a [`DemoBroker`] that trusts it.
///
/// The client side gets the same three files a real device has (certificate, key, CA), and the
/// run reads them through the same `tls/` code path as `--cert`/`--key`/`--ca_file`.
pub struct Demo {
    broker: DemoBroker,
    files: PkiFiles,
    /// `--keep-running DIR`: where the files live, and that the broker outlives the run.
    keep_running: Option<PathBuf>,
    /// Otherwise the files live in a temporary directory, removed when this is dropped, or by a
    /// second Ctrl-C (see `shutdown.rs`), which skips destructors.
    _temporary: Option<(tempfile::TempDir, shutdown::ForcedExitGuard)>,
}

/// Makes a CA, server and client certificates, and starts the broker.
///
/// With `keep_running`, the PEM files go to that directory and stay there. With `policy`, the
/// broker applies that AWS IoT policy file to its clients; a file that is not a policy AWS would
/// take is a usage error (exit 2), before anything starts.
pub async fn start(keep_running: Option<&Path>, policy: Option<&Path>) -> Result<Demo, Failure> {
    let policy = match policy {
        Some(path) => {
            let read = Policy::read(path)
                .map_err(|why| Failure::input(format!("--policy {}: {why}", path.display())))?;
            tracing::info!(
                "the demo broker applies the AWS IoT policy in {} to its clients: iot:Connect, \
                 iot:Publish and iot:Subscribe (not iot:Receive: it has no hook for deliveries)",
                path.display()
            );
            Some((read, path.to_path_buf()))
        }
        None => None,
    };
    let (dir, temporary) = match keep_running {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Failure::input(format!(
                    "--keep-running {}: cannot create the directory ({e})",
                    dir.display()
                ))
            })?;
            (dir.to_path_buf(), None)
        }
        None => {
            let temporary = tempfile::tempdir()
                .context("cannot create a temporary directory for the demo certificates")
                .map_err(Failure::Connection)?;
            let guard = shutdown::remove_on_forced_exit(temporary.path());
            (temporary.path().to_path_buf(), Some((temporary, guard)))
        }
    };
    let files = Pki::new("mqtt5-shared-subscription demo CA")
        .and_then(|pki| pki.write_files(&dir))
        .context("cannot create the demo certificates")
        .map_err(Failure::Connection)?;
    let broker = match policy {
        Some((policy, source)) => DemoBroker::with_policy(&files, policy, source).await,
        None => DemoBroker::start(&files).await,
    }
    .map_err(Failure::Connection)?;
    Ok(Demo {
        broker,
        files,
        keep_running: keep_running.map(Path::to_path_buf),
        _temporary: temporary,
    })
}

impl Demo {
    /// What a real run gets from `--endpoint`, `--port`, `--cert`, `--key` and `--ca_file`.
    pub fn target(&self) -> Target {
        Target {
            // The server certificate names both; the IP avoids `localhost` resolving to ::1 first.
            host: "127.0.0.1".into(),
            port: self.broker.addr().port(),
            files: TlsFiles {
                cert: self.files.client_cert.clone(),
                key: self.files.client_key.clone(),
                ca: Some(self.files.ca.clone()),
            },
            alpn: Vec::new(),
            // The demo broker runs in this process, on loopback: a proxy from the environment
            // could not reach it, so none is used (and --proxy_host conflicts with --demo).
            proxy: None,
        }
    }

    /// Stops the broker (for a mode with no group to join, such as `--conformance`).
    pub async fn stop(self) {
        self.broker.stop().await;
    }

    /// Stops the broker, or with `--keep-running` says how to join it and waits for Ctrl-C first.
    /// `run_finished`: the run ended on its own, not by Ctrl-C or an error.
    pub async fn finish(self, filter: &SharedFilter, run_finished: bool) {
        if self.keep_running.is_some() && run_finished {
            eprintln!("{}", self.how_to_join(filter));
            shutdown::signalled().await;
        }
        self.broker.stop().await;
    }

    /// `export MQTT5_ENDPOINT=… MQTT5_PORT=… …`: this broker for every run of a shell that pastes
    /// it. The paths are absolute, as the other terminal may be in another directory.
    fn export_line(&self) -> String {
        let absolute = |p: &Path| {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            shell_quote(&p.display().to_string())
        };
        format!(
            "export MQTT5_ENDPOINT=127.0.0.1 MQTT5_PORT={} MQTT5_CERT={} MQTT5_KEY={} MQTT5_CA_FILE={}",
            self.broker.addr().port(),
            absolute(&self.files.client_cert),
            absolute(&self.files.client_key),
            absolute(&self.files.ca),
        )
    }

    /// The command lines that add members to the group from other terminals.
    fn how_to_join(&self, filter: &SharedFilter) -> String {
        let port = self.broker.addr().port();
        // Quoted for the shell: a directory with spaces, or a topic such as `$aws/things/x`
        // (the shell would expand `$aws` to nothing), must reach the program as it is.
        let path = |p: &Path| shell_quote(&p.display().to_string());
        let (ca, cert, key) = (
            path(&self.files.ca),
            path(&self.files.client_cert),
            path(&self.files.client_key),
        );
        let this = std::env::current_exe()
            .map(|exe| path(&exe))
            .unwrap_or_else(|_| "mqtt5-shared-subscription".into());
        // Every id below starts with `test-`, like the ids a run makes up, so the policy in
        // `policy/` (client/test-*) lets them in when the broker applies it (`--policy`).
        let (group, topic) = (shell_quote(filter.group()), shell_quote(filter.topic()));
        let filter = shell_quote(&filter.to_string());
        format!(
            "\nThe demo broker keeps running on 127.0.0.1:{port}; its certificates are in {dir}.\n\
             Add members to group {group} from other terminals (each stays until Ctrl-C):\n\n  \
             mosquitto_sub -V mqttv5 -h 127.0.0.1 -p {port} --cafile {ca} --cert {cert} --key {key} \
             -q 1 -i test-member-$RANDOM -t {filter} -v\n\n  \
             cargo run --example shared_member -- 127.0.0.1 {port} {cert} {key} {ca} {group} {topic}\n\n\
             Or set the connection once in another terminal and leave its flags out: every run there,\n\
             --role runs included, then talks to this broker:\n\n  \
             {export}\n\n\
             Then run the sample again into the same group, and watch the split change: the messages the\n\
             extra members take show as missing (exit code 3) once --timeout has passed without them:\n\n  \
             {this} --endpoint 127.0.0.1 --port {port} --cert {cert} --key {key} --ca_file {ca} \
             --group_identifier {group} --topic {topic} --timeout 5s\n\n\
             Ctrl-C stops the broker.",
            export = self.export_line(),
            dir = self
                .keep_running
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        )
    }
}
