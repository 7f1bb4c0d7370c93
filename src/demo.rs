//! An MQTT 5 broker inside this process, for `--demo` and for the tests.
//!
//! Shared subscriptions are a broker feature, so showing them needs a broker. AWS IoT Core is the real
//! one, but it needs an account, a registered certificate and a network. [`DemoBroker`] starts the
//! [mqtt5] crate's broker on loopback instead, so `--demo` works offline and the tests are hermetic.
//!
//! It is not a shortcut around security: the broker speaks TLS only, *requires* a client certificate
//! and verifies it against the demo CA, exactly like AWS IoT Core on port 8883. The member and the
//! publisher therefore run the same mutual-TLS code path in a demo as in a real run; a client with no
//! certificate, or one signed by another CA, fails the handshake (`tests/demo_broker.rs` proves it).
//!
//! One thing differs on purpose and is worth knowing before you compare numbers: *how* a group shares
//! the messages. MQTT 5 leaves that to the broker. mqtt5 uses strict round-robin over the members
//! that are online, skipping a member whose queue is full (mqtt5 `src/broker/router.rs`, the
//! `share_group_counters` lookup), so a demo run splits almost perfectly evenly. AWS IoT Core picks a
//! member at random, so a real run splits roughly evenly and differs from run to run. mqtt5 also
//! adds a user property `x-mqtt-client-id` (the publisher's client id) to every delivered message;
//! AWS IoT does not.
//!
//! mqtt5's defaults suit a standalone server, not a sample that runs on a laptop, so [`DemoBroker::start`]
//! turns these off:
//! - plain MQTT listeners on `0.0.0.0:1883` and `[::]:1883` (unencrypted, and reachable from the LAN);
//! - TLS on `0.0.0.0:8883` and `[::]:8883` (we bind `127.0.0.1`, port 0, and ask which port we got);
//! - file storage under `./mqtt_storage` in the working directory (we keep sessions in memory);
//! - `$SYS/#` statistics topics (noise for subscribers of `#`, and a timer task we don't need);
//! - a Maximum Packet Size of 268,435,456 in CONNACK, one more than MQTT allows (see [`MAX_PACKET_SIZE`]).
//!
//! WebSocket and QUIC listeners need mqtt5 features that Cargo.toml leaves off, so they cannot start.
//!
//! One limit to know: mqtt5 runs each TLS handshake inside its accept loop, with no timeout, so a
//! peer that connects and never finishes its handshake holds up every later connection. Harmless on
//! loopback with our own clients; one more reason this is a demo broker, not a server.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context};
use mqtt5::broker::config::{AuthConfig, StorageBackend, StorageConfig, TlsConfig};
use mqtt5::broker::{BrokerConfig, BrokerShutdownHandle, MqttBroker};
use tokio::task::JoinHandle;

use crate::connection::Target;
use crate::failure::Failure;
use crate::input_file::shell_quote;
use crate::pki::{Pki, PkiFiles};
use crate::share::SharedFilter;
use crate::tls::TlsFiles;

/// The largest MQTT packet the broker accepts and announces in CONNACK.
///
/// mqtt5 announces 268,435,456 by default, one more than the largest length MQTT can encode
/// (268,435,455), and strict clients reject such a CONNACK as malformed. 1 MiB is far more than the
/// demo publishes and well above AWS IoT Core's 128 KiB message limit, so nothing legal is refused.
pub const MAX_PACKET_SIZE: usize = 1024 * 1024;

/// How long [`DemoBroker::start`] waits for the broker to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`DemoBroker::stop`] waits for the broker's task to end.
///
/// mqtt5 itself gives open connections up to 5 s to close before `run` returns (`finish_shutdown`
/// in mqtt5 `src/broker/server.rs`); waiting longer would only wait for that.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running in-process broker; stop it with [`DemoBroker::stop`].
///
/// Dropping it without `stop` still tells the broker to shut down (so an early `?` in the caller
/// doesn't leave a broker running), but doesn't wait for it to finish.
pub struct DemoBroker {
    /// Where the TLS listener is bound: 127.0.0.1 and the port the OS picked.
    addr: SocketAddr,
    /// Tells the broker's `run` loop to close listeners and connections and return.
    shutdown: BrokerShutdownHandle,
    /// The task driving `MqttBroker::run`; it ends after a shutdown signal.
    task: JoinHandle<mqtt5::Result<()>>,
}

impl DemoBroker {
    /// Starts an MQTT 5 broker inside this process: TLS only, on 127.0.0.1 with a free port, server
    /// certificate and key from `files`, client certificates required and verified against `files.ca`.
    ///
    /// Returns once the broker accepts connections, or an error after `START_TIMEOUT`.
    pub async fn start(files: &PkiFiles) -> anyhow::Result<DemoBroker> {
        // mqtt5 builds its rustls `ServerConfig` with the process-wide crypto provider, and rustls
        // panics if it cannot tell which one that is (e.g. when another crate pulls in aws-lc-rs).
        // Choosing ring here makes the demo independent of that; if the process already chose a
        // provider, this returns an error we can ignore.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let loopback_any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));

        // mqtt5 reads these files once, while starting, so the caller may delete them afterwards.
        // Pitfall: `with_require_client_cert(true)` does nothing without `with_ca_file`; mqtt5 then
        // quietly builds a server that accepts anyone (mqtt5 src/broker/tls_acceptor.rs, the `else`
        // branch of `build_server_config`). The CA is what makes the requirement real.
        let tls = TlsConfig::new(files.server_cert.clone(), files.server_key.clone())
            .with_ca_file(files.ca.clone())
            .with_require_client_cert(true)
            .with_bind_address(loopback_any_port);

        // A demo has nothing worth keeping after it exits. Persistence off means mqtt5 creates no
        // storage at all; Memory states the intent in case someone turns persistence back on.
        let storage = StorageConfig::new()
            .with_backend(StorageBackend::Memory)
            .with_persistence(false);

        let config = BrokerConfig::new()
            // The default is plain, unencrypted MQTT on 0.0.0.0:1883 and [::]:1883. An empty list
            // means TLS is the only way in, as on AWS IoT Core.
            .with_bind_addresses(Vec::new())
            .with_tls(tls)
            // The client certificate *is* the authentication, as on AWS IoT Core with X.509: the TLS
            // handshake has already refused anyone without a valid one, so the MQTT layer must
            // accept a CONNECT that carries no username or password ("anonymous" in mqtt5's terms).
            .with_auth(AuthConfig::new().with_allow_anonymous(true))
            .with_storage(storage)
            // `$SYS/#` would publish broker statistics every 10 s to anyone subscribed to `#`.
            .with_sys_topics_enabled(false)
            .with_max_packet_size(MAX_PACKET_SIZE)
            // AWS IoT Core supports QoS 0 and 1, not 2. Announcing the same maximum keeps the demo
            // honest: what works here works there.
            .with_maximum_qos(1);

        let mut broker = MqttBroker::with_config(config)
            .await
            .context("cannot start the demo broker")?;

        // Binding port 0 lets the OS pick a free port; the listener knows which one. Ask now: `run`
        // moves the listeners into its accept tasks, after which mqtt5 can no longer tell us.
        let addr = broker.tls_local_addr().ok_or_else(|| {
            anyhow!("the demo broker did not open its TLS listener on {loopback_any_port}")
        })?;

        let mut ready = broker.ready_receiver();
        let shutdown = broker.shutdown_handle();
        let task = tokio::spawn(async move { broker.run().await });
        let mut demo = DemoBroker {
            addr,
            shutdown,
            task,
        };

        // `run` flips `ready` to true once its accept loops are running. If `run` fails first, it
        // drops the sender and `wait_for` returns an error instead.
        let became_ready = tokio::time::timeout(START_TIMEOUT, ready.wait_for(|ready| *ready))
            .await
            .map(|waited| waited.is_ok());
        match became_ready {
            Ok(true) => {
                tracing::info!(%addr, "demo broker accepting MQTT over mutual TLS");
                Ok(demo)
            }
            Ok(false) => {
                let why = match demo.stop_task().await {
                    Err(error) => error,
                    Ok(()) => anyhow!("its run loop returned before accepting connections"),
                };
                Err(why.context("the demo broker stopped while starting"))
            }
            // Dropping `demo` signals shutdown.
            Err(_) => Err(anyhow!(
                "the demo broker did not become ready within {START_TIMEOUT:?}"
            )),
        }
    }

    /// The address clients dial: `127.0.0.1` and the broker's port.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the broker and waits (at most `STOP_TIMEOUT`) until its task has ended.
    pub async fn stop(mut self) {
        // Nothing for the caller to do about a broker that stopped badly; the run is over anyway.
        match self.stop_task().await {
            Ok(()) => tracing::debug!("demo broker stopped"),
            Err(error) => tracing::warn!("{error:#}"),
        }
    }

    /// Signals shutdown and waits for the broker's task to end, at most `STOP_TIMEOUT`.
    async fn stop_task(&mut self) -> anyhow::Result<()> {
        self.shutdown.shutdown();
        match tokio::time::timeout(STOP_TIMEOUT, &mut self.task).await {
            Ok(Ok(outcome)) => outcome.context("the demo broker stopped with an error"),
            Ok(Err(join_error)) => Err(anyhow!("the demo broker's task failed: {join_error}")),
            Err(_) => {
                // Dropping `run`'s future closes its listeners; aborting the task does that now.
                self.task.abort();
                Err(anyhow!(
                    "the demo broker did not stop within {STOP_TIMEOUT:?}; abandoned it"
                ))
            }
        }
    }
}

impl Drop for DemoBroker {
    fn drop(&mut self) {
        // Harmless after `stop`: a second signal to a stopped broker goes nowhere.
        self.shutdown.shutdown();
    }
}

/// `--demo`: a throw-away PKI on disk and a [`DemoBroker`] that trusts it.
///
/// The client side gets the same three files a real device has (certificate, key, CA), and the
/// run reads them through the same `tls.rs` code path as `--cert`/`--key`/`--ca_file`.
pub struct Demo {
    broker: DemoBroker,
    files: PkiFiles,
    /// `--keep-running DIR`: where the files live, and that the broker outlives the run.
    keep_running: Option<PathBuf>,
    /// Otherwise the files live in a temporary directory, removed when this is dropped.
    _temporary: Option<tempfile::TempDir>,
}

/// Makes a CA, server and client certificates, and starts the broker.
///
/// With `keep_running`, the PEM files go to that directory and stay there.
pub async fn start(keep_running: Option<&Path>) -> Result<Demo, Failure> {
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
            (temporary.path().to_path_buf(), Some(temporary))
        }
    };
    let files = Pki::new("mqtt5-shared-subscription demo CA")
        .and_then(|pki| pki.write_files(&dir))
        .context("cannot create the demo certificates")
        .map_err(Failure::Connection)?;
    let broker = DemoBroker::start(&files)
        .await
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
        }
    }

    /// Stops the broker, or with `--keep-running` says how to join it and waits for Ctrl-C first.
    /// `run_finished`: the run ended on its own, not by Ctrl-C or an error.
    pub async fn finish(self, filter: &SharedFilter, run_finished: bool) {
        if self.keep_running.is_some() && run_finished {
            eprintln!("{}", self.how_to_join(filter));
            crate::shutdown::signalled().await;
        }
        self.broker.stop().await;
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
        let (group, topic) = (shell_quote(filter.group()), shell_quote(filter.topic()));
        let filter = shell_quote(&filter.to_string());
        format!(
            "\nThe demo broker keeps running on 127.0.0.1:{port}; its certificates are in {dir}.\n\
             Add members to group {group} from other terminals (each stays until Ctrl-C):\n\n  \
             mosquitto_sub -V mqttv5 -h 127.0.0.1 -p {port} --cafile {ca} --cert {cert} --key {key} \
             -q 1 -i member-$RANDOM -t {filter} -v\n\n  \
             cargo run --example shared_member -- 127.0.0.1 {port} {cert} {key} {ca} {group} {topic}\n\n\
             Then run the sample again into the same group, and watch the split change: the messages the\n\
             extra members take show as missing (exit code 3) once --timeout has passed without them:\n\n  \
             {this} --endpoint 127.0.0.1 --port {port} --cert {cert} --key {key} --ca_file {ca} \
             --group_identifier {group} --topic {topic} --timeout 5s\n\n\
             Ctrl-C stops the broker.",
            dir = self
                .keep_running
                .as_deref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        )
    }
}
