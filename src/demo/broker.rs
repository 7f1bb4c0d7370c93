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
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use mqtt5::broker::config::{AuthConfig, StorageBackend, StorageConfig, TlsConfig};
use mqtt5::broker::{BrokerConfig, BrokerShutdownHandle, MqttBroker};
use tokio::task::JoinHandle;

use super::authorizer::PolicyAuthorizer;
use super::pki::PkiFiles;
use crate::aws::iam::Policy;

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
        DemoBroker::launch(files, None).await
    }

    /// Like [`DemoBroker::start`], and every CONNECT, PUBLISH and SUBSCRIBE is checked against
    /// `policy` as AWS IoT Core would (`authorizer.rs`); `source` names the file in the log.
    pub async fn with_policy(
        files: &PkiFiles,
        policy: Policy,
        source: PathBuf,
    ) -> anyhow::Result<DemoBroker> {
        DemoBroker::launch(files, Some(PolicyAuthorizer::new(policy, source))).await
    }

    async fn launch(
        files: &PkiFiles,
        authorizer: Option<PolicyAuthorizer>,
    ) -> anyhow::Result<DemoBroker> {
        // mqtt5 builds its rustls `ServerConfig` with the process-wide crypto provider, and rustls
        // panics if it cannot tell which one that is (e.g. when another crate pulls in aws-lc-rs).
        // Choosing ring here makes the demo independent of that; if the process already chose a
        // provider, this returns an error we can ignore.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let loopback_any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut broker = MqttBroker::with_config(config(files, loopback_any_port))
            .await
            .context("cannot start the demo broker")?;
        if let Some(authorizer) = authorizer {
            // Replaces the anonymous-allowing provider of `config`'s `AuthConfig`: the TLS handshake
            // still checks the certificate, and the policy decides the rest.
            broker = broker.with_auth_provider(Arc::new(authorizer));
        }

        // Binding port 0 lets the OS pick a free port; the listener knows which one. Ask now: `run`
        // moves the listeners into its accept tasks, after which mqtt5 can no longer tell us.
        let addr = broker.tls_local_addr().ok_or_else(|| {
            anyhow!("the demo broker did not open its TLS listener on {loopback_any_port}")
        })?;

        let ready = broker.ready_receiver();
        let shutdown = broker.shutdown_handle();
        let task = tokio::spawn(async move { broker.run().await });
        let demo = DemoBroker {
            addr,
            shutdown,
            task,
        };
        demo.ready(ready).await
    }

    /// The broker once `ready` says it accepts connections, or why it never will.
    async fn ready(
        mut self,
        mut ready: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<DemoBroker> {
        // `run` flips `ready` to true once its accept loops are running. If `run` fails first, it
        // drops the sender and `wait_for` returns an error instead.
        let became_ready = tokio::time::timeout(START_TIMEOUT, ready.wait_for(|ready| *ready))
            .await
            .map(|waited| waited.is_ok());
        match became_ready {
            Ok(true) => {
                tracing::info!(addr = %self.addr, "demo broker accepting MQTT over mutual TLS");
                Ok(self)
            }
            Ok(false) => {
                let why = match self.stop_task().await {
                    Err(error) => error,
                    Ok(()) => anyhow!("its run loop returned before accepting connections"),
                };
                Err(why.context("the demo broker stopped while starting"))
            }
            // Dropping `self` signals shutdown.
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

/// The demo's broker configuration: TLS only on `bind` (loopback), client certificates required
/// against `files.ca`, sessions in memory, no `$SYS` topics, QoS 0 and 1 as on AWS IoT Core.
fn config(files: &PkiFiles, bind: SocketAddr) -> BrokerConfig {
    // mqtt5 reads these files once, while starting, so the caller may delete them afterwards.
    // Pitfall: `with_require_client_cert(true)` does nothing without `with_ca_file`; mqtt5 then
    // quietly builds a server that accepts anyone (mqtt5 src/broker/tls_acceptor.rs, the `else`
    // branch of `build_server_config`). The CA is what makes the requirement real.
    let tls = TlsConfig::new(files.server_cert.clone(), files.server_key.clone())
        .with_ca_file(files.ca.clone())
        .with_require_client_cert(true)
        .with_bind_address(bind);

    // A demo has nothing worth keeping after it exits. Persistence off means mqtt5 creates no
    // storage at all; Memory states the intent in case someone turns persistence back on.
    let storage = StorageConfig::new()
        .with_backend(StorageBackend::Memory)
        .with_persistence(false);

    BrokerConfig::new()
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
        .with_maximum_qos(1)
}

impl Drop for DemoBroker {
    fn drop(&mut self) {
        // Harmless after `stop`: a second signal to a stopped broker goes nowhere.
        self.shutdown.shutdown();
    }
}
