//! One MQTT 5 connection over mutual TLS that survives a broker restart: the code members and the
//! publisher share.
//!
//! rumqttc splits a connection into two halves:
//!
//! * [`AsyncClient`]: a cheap handle that *queues* requests (publish, subscribe, disconnect).
//!   Its methods return as soon as the request is queued, not when the broker acknowledged it.
//! * [`EventLoop`]: owns the socket. Nothing happens, not even the TCP connect, until someone calls
//!   `poll()` in a loop. Each `poll()` returns one [`Event`]: a packet that came in
//!   (`Incoming`) or one that went out (`Outgoing`).
//!
//! So "connect" here means: build the options, then poll until the broker's CONNACK arrives.
//!
//! ## When the connection breaks
//!
//! After an error, rumqttc's next `poll()` reconnects at once, and so on forever: against a stopped
//! broker that is about 48,000 attempts in 4 seconds. And because every session here starts clean,
//! the new session knows nothing of the old one: the broker forgot our subscription, and rumqttc
//! *drops* every request it still held, including QoS 1 messages the broker never acknowledged.
//! [`Connection`] wraps the event loop and does what an application has to do instead:
//!
//! * it pauses before each attempt, 100 ms doubling to 5 s, with random jitter so that the members
//!   of a restarted broker do not all knock at the same instant (`Backoff`);
//! * it gives up once the broker has been unreachable for `--timeout`, counting a connection that
//!   breaks again within 10 s of a reconnect as still down (`STABLE`: mosquitto silently closes
//!   the older of two connections with one client id, and each reconnect would "succeed");
//! * it stops at once on errors no retry can fix: a rejected certificate, "not authorized", or
//!   "session taken over" (two clients with one client id would otherwise kick each other out
//!   forever);
//! * it reports the new CONNACK as [`Polled::Reconnected`], with the messages rumqttc dropped, so a
//!   member can subscribe again and the publisher can send them again.
//!
//! A client that has never been connected does not retry: a refused *first* connection almost
//! always means a wrong flag, and the user should hear that now rather than after `--timeout`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context};
use rand::Rng;
use rumqttc::v5::mqttbytes::v5::{
    ConnAck, ConnectReturnCode, DisconnectReasonCode, Packet, Publish,
};
use rumqttc::v5::mqttbytes::Error as MqttError;
use rumqttc::v5::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Request, StateError,
};
use rumqttc::{Outgoing, TlsConfiguration, TlsError, Transport};
use rustls::{AlertDescription, CertificateError};
use tokio::time::Instant;

use crate::tls::TlsFiles;

/// Where the broker is and which files prove who we are: what the user asked for, before any
/// file is read.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub files: TlsFiles,
}

/// Where the broker is and how to talk to it; shared by every connection of a run.
#[derive(Clone)]
pub struct Broker {
    /// DNS name or IP address; also the name the broker's certificate must carry (SNI).
    pub host: String,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    /// The longest one step (connect, SUBACK, PUBACK, ...) may take, and the longest the broker may
    /// stay unreachable before a connection gives up.
    pub timeout: Duration,
}

/// Largest packet we accept from the broker. rumqttc's default is 10 KiB; AWS IoT Core allows
/// payloads up to 128 KiB, so leave room for those plus headers.
const MAX_INCOMING_PACKET: u32 = 256 * 1024;

/// How many requests may wait in rumqttc's queue before `publish().await` waits for room.
const REQUEST_QUEUE: usize = 1024;

/// The first pause before a reconnect attempt, and the longest one.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// Connects `client_id` to `broker` and waits for a successful CONNACK. No retries: see the
/// module doc. [`Connection::open`] is the same plus reconnects.
pub async fn connect(
    broker: &Broker,
    client_id: &str,
) -> anyhow::Result<(AsyncClient, EventLoop, ConnAck)> {
    let mut options = MqttOptions::new(client_id, broker.host.as_str(), broker.port);
    options
        .set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            broker.tls.clone(),
        )))
        .set_keep_alive(Duration::from_secs(30))
        // A fresh session every time: no queued messages from an earlier run leak in. A reconnect
        // therefore always gets `session_present == false` (MQTT 5 §3.2.2.1.1) and has to
        // subscribe again and re-send what was not acknowledged.
        .set_clean_start(true)
        .set_max_packet_size(Some(MAX_INCOMING_PACKET))
        .set_connection_timeout(broker.timeout.as_secs().max(1));
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);

    let connack = tokio::time::timeout(broker.timeout, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => return Ok(connack),
                Ok(_) => continue,
                Err(error) => return Err(anyhow!(diagnose(&error, broker, client_id).sentence())),
            }
        }
    })
    .await
    .map_err(|_| {
        anyhow!(
            "no CONNACK from {}:{} within {} (--timeout); check --endpoint and --port (is an MQTT broker listening there?) and firewalls, or raise --timeout",
            broker.host,
            broker.port,
            humantime::format_duration(broker.timeout)
        )
    })??;
    Ok((client, eventloop, connack))
}

/// Sends DISCONNECT and polls until rumqttc has written it.
///
/// Polling must stop right after: another `poll()` would open a new connection.
pub async fn disconnect(
    broker: &Broker,
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    client_id: &str,
) -> anyhow::Result<()> {
    tokio::time::timeout(broker.timeout, async {
        // Inside the time limit: with a full request queue, even queueing the DISCONNECT waits.
        client.disconnect().await?;
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(anyhow!(diagnose(&e, broker, client_id).sentence())),
            }
        }
    })
    .await
    .with_context(|| format!("[{client_id}] DISCONNECT not sent within --timeout"))?
}

/// A connection that reconnects with backoff when it breaks; see the module doc.
pub struct Connection {
    client: AsyncClient,
    eventloop: EventLoop,
    broker: Broker,
    client_id: String,
    /// `Some` from the moment the connection broke until the new CONNACK.
    outage: Option<Outage>,
    /// The outage that ended last, and when, until the connection has stayed up for [`STABLE`].
    recovered: Option<(Instant, Outage)>,
}

/// How long a connection must stay up before a new break counts as a new outage, with a fresh
/// backoff and a fresh `--timeout`. A break sooner than that continues the last outage instead.
///
/// Some brokers accept a connection and close it again at once, over and over: mosquitto closes the
/// older of two connections with the same client id without a word, so two clients sharing an id
/// would take it from each other forever, each reconnect a success. Counting those breaks as one
/// outage lets the backoff grow and `--timeout` end it.
const STABLE: Duration = Duration::from_secs(10);

/// What [`Connection::poll`] saw.
// rumqttc's `Event` is large itself; it is handed over by value, as rumqttc hands it to us.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Polled {
    /// A packet went out or came in: rumqttc's event, unchanged.
    Event(Event),
    /// The connection just broke (already logged). The next `poll` pauses and reconnects.
    Lost,
    /// A new CONNACK after a break. The broker started a new session: subscribe again, and send
    /// `unsent` again.
    Reconnected(Reconnected),
}

/// How a reconnect went, and what the old connection left undone.
#[derive(Debug)]
pub struct Reconnected {
    /// Attempts it took since the connection broke, the successful one included.
    pub attempts: u32,
    /// From the moment the connection broke to the new CONNACK.
    pub downtime: Duration,
    /// Always `false` here, as every session starts clean; kept to show what to check.
    pub session_present: bool,
    /// Messages rumqttc held when the connection broke and then dropped, because the new session
    /// does not know them: QoS 1 messages written but not yet PUBACKed, one held back on a packet
    /// id collision, and messages still waiting in its queue. In no particular order.
    pub unsent: Vec<Publish>,
}

/// The state of one outage, from the error to the new CONNACK (and on, across breaks that follow
/// a reconnect within [`STABLE`]).
struct Outage {
    /// When the connection first broke; `--timeout` counts from here.
    since: Instant,
    /// When it broke this time.
    broke: Instant,
    /// Why it broke this time, in words.
    cause: String,
    /// Why the latest attempt failed, in words.
    last_error: Option<String>,
    /// Attempts since it broke this time, and in the whole outage.
    attempts: u32,
    total_attempts: u32,
    /// How often it broke again soon after reconnecting.
    relapses: u32,
    backoff: Backoff,
    /// An attempt got through. rumqttc now hands out the old connection's last events (read just
    /// before the error) and then the new CONNACK.
    connected: bool,
    unsent: Vec<Publish>,
}

impl Outage {
    fn new(cause: String, unsent: Vec<Publish>) -> Outage {
        let now = Instant::now();
        Outage {
            since: now,
            broke: now,
            cause,
            last_error: None,
            attempts: 0,
            total_attempts: 0,
            relapses: 0,
            backoff: Backoff::new(),
            connected: false,
            unsent,
        }
    }

    /// The connection broke again soon after this outage ended: carry on with it.
    fn relapse(mut self, cause: String, unsent: Vec<Publish>) -> Outage {
        self.broke = Instant::now();
        self.cause = cause;
        self.last_error = None;
        self.attempts = 0;
        self.relapses += 1;
        self.connected = false;
        self.unsent = unsent;
        self
    }
}

impl Connection {
    /// Connects `client_id`; fails at once if the first attempt fails (see the module doc).
    pub async fn open(broker: &Broker, client_id: &str) -> anyhow::Result<(Connection, ConnAck)> {
        let (client, eventloop, connack) = connect(broker, client_id).await?;
        let connection = Connection {
            client,
            eventloop,
            broker: broker.clone(),
            client_id: client_id.to_owned(),
            outage: None,
            recovered: None,
        };
        Ok((connection, connack))
    }

    /// The handle for queueing requests. Requests queued while the connection is down wait in
    /// rumqttc's queue and go out after the reconnect.
    pub fn client(&self) -> &AsyncClient {
        &self.client
    }

    /// True unless the connection broke and has not reconnected yet.
    pub fn is_up(&self) -> bool {
        self.outage.is_none()
    }

    /// The next event; across a broken connection, [`Polled::Lost`] and later
    /// [`Polled::Reconnected`].
    ///
    /// Fails with one sentence when the error is one no retry can fix, or when the broker stayed
    /// unreachable for `--timeout`. Cancelling it while it reconnects is safe: the next call
    /// starts the attempt again.
    pub async fn poll(&mut self) -> anyhow::Result<Polled> {
        loop {
            let polled = match &mut self.outage {
                Some(outage) if !outage.connected => {
                    // rumqttc would reconnect inside this poll() at once; pause first.
                    let deadline = outage.since + self.broker.timeout;
                    if Instant::now() >= deadline {
                        return Err(self.gave_up());
                    }
                    let pause = outage.backoff.next_pause();
                    tokio::time::sleep_until(deadline.min(Instant::now() + pause)).await;
                    outage.attempts += 1;
                    outage.total_attempts += 1;
                    // Keep a hanging attempt (a host that drops packets) within --timeout too,
                    // but give the last attempt, right at the deadline, a fair second.
                    let limit = deadline
                        .saturating_duration_since(Instant::now())
                        .max(Duration::from_secs(1));
                    match tokio::time::timeout(limit, self.eventloop.poll()).await {
                        Ok(polled) => polled,
                        Err(_) => return Err(self.gave_up()),
                    }
                }
                _ => self.eventloop.poll().await,
            };
            let error = match polled {
                Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                    if let Some(outage) = self.outage.take() {
                        return Ok(self.reconnected(outage, &connack));
                    }
                    return Ok(Polled::Event(Event::Incoming(Packet::ConnAck(connack))));
                }
                Ok(event) => {
                    if let Some(outage) = &mut self.outage {
                        outage.connected = true;
                    }
                    return Ok(Polled::Event(event));
                }
                Err(error) => error,
            };
            let diagnosis = diagnose(&error, &self.broker, &self.client_id);
            if !diagnosis.retry {
                return Err(anyhow!(diagnosis.sentence()));
            }
            let unsent = self.take_unsent();
            if let Some(outage) = &mut self.outage {
                // An attempt failed: pause longer, and try again.
                outage.connected = false;
                outage.last_error = Some(diagnosis.what);
                outage.unsent.extend(unsent);
                continue;
            }
            let outage = match self.recovered.take() {
                Some((at, outage)) if at.elapsed() < STABLE => {
                    tracing::warn!(
                        "[{}] connection lost again {} after reconnecting: {}; reconnecting",
                        self.client_id,
                        humantime::format_duration(round_ms(at.elapsed())),
                        diagnosis.what
                    );
                    outage.relapse(diagnosis.what, unsent)
                }
                _ => {
                    tracing::warn!(
                        "[{}] connection lost: {}; reconnecting, for up to {} (--timeout)",
                        self.client_id,
                        diagnosis.what,
                        humantime::format_duration(self.broker.timeout)
                    );
                    Outage::new(diagnosis.what, unsent)
                }
            };
            self.outage = Some(outage);
            return Ok(Polled::Lost);
        }
    }

    /// [`poll`](Connection::poll), but returns `None` once `deadline` passes while the connection
    /// is up: the broker is connected yet silent. While it is down the deadline does not count:
    /// reconnecting has its own limit (`--timeout`), and a cut-off attempt would only start over.
    pub async fn poll_until(&mut self, deadline: Instant) -> anyhow::Result<Option<Polled>> {
        let up = self.is_up();
        tokio::select! {
            polled = self.poll() => polled.map(Some),
            _ = tokio::time::sleep_until(deadline), if up => Ok(None),
        }
    }

    /// Leaves cleanly: DISCONNECT, so the broker does not treat it as a crash. A connection that
    /// is down has nothing to close: its clean session ended when it broke.
    pub async fn close(mut self) -> anyhow::Result<()> {
        if !self.is_up() {
            return Ok(());
        }
        disconnect(
            &self.broker,
            &self.client,
            &mut self.eventloop,
            &self.client_id,
        )
        .await
    }

    /// rumqttc moves what it held into `pending` when a connection breaks, and clears `pending` on
    /// a CONNACK without a session: take the messages out first, so the caller can send them again.
    /// Anything else it held (a SUBSCRIBE, an UNSUBSCRIBE) is void in the new session anyway.
    fn take_unsent(&mut self) -> Vec<Publish> {
        let mut unsent: Vec<Publish> = self
            .eventloop
            .pending
            .drain(..)
            .filter_map(|request| match request {
                Request::Publish(publish) => Some(publish),
                _ => None,
            })
            .collect();
        // A message held back on a packet id collision sits outside `pending`, and rumqttc does
        // not clear it: left there, it would block every later message on the new connection.
        if let Some(held_back) = self.eventloop.state.collision.take() {
            unsent.push(held_back);
        }
        unsent
    }

    fn reconnected(&mut self, mut outage: Outage, connack: &ConnAck) -> Polled {
        if connack.session_present {
            tracing::warn!(
                "[{}] the broker resumed a session although we asked for a clean start; sending unacknowledged messages again anyway",
                self.client_id
            );
        }
        let reconnected = Reconnected {
            attempts: outage.attempts,
            downtime: outage.broke.elapsed(),
            session_present: connack.session_present,
            unsent: std::mem::take(&mut outage.unsent),
        };
        self.recovered = Some((Instant::now(), outage));
        Polled::Reconnected(reconnected)
    }

    fn gave_up(&self) -> anyhow::Error {
        let Some(outage) = &self.outage else {
            return anyhow!("[{}] gave up reconnecting", self.client_id);
        };
        let timeout = humantime::format_duration(self.broker.timeout);
        if outage.relapses > 0 {
            return anyhow!(
                "[{}] gave up after {timeout} (--timeout): the connection broke {} times, each soon after reconnecting (last: {}); \
                 brokers such as mosquitto do that when another client connects with the same client id: make --client_id unique, \
                 or check the broker's log",
                self.client_id,
                outage.relapses + 1,
                outage.last_error.as_deref().unwrap_or(&outage.cause),
            );
        }
        let last = match &outage.last_error {
            Some(error) => error.clone(),
            None => format!(
                "no answer from {}:{} since the connection broke ({})",
                self.broker.host, self.broker.port, outage.cause
            ),
        };
        anyhow!(
            "[{}] gave up reconnecting after {timeout} (--timeout) and {} attempts: {last}; is the broker running? a longer --timeout waits longer",
            self.client_id,
            outage.total_attempts,
        )
    }
}

/// `d` to the millisecond, for log lines.
fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

/// Exponential backoff with jitter: 100 ms, 200 ms, 400 ms, ... up to 5 s, each pause a random
/// length between half and all of that.
///
/// The doubling keeps a broker that is down from being hammered; the jitter keeps the N members of
/// a restarted broker from all reconnecting in the same millisecond, again and again.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: FIRST_PAUSE }
    }

    fn next_pause(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(LONGEST_PAUSE);
        rand::rng().random_range(ceiling / 2..=ceiling)
    }
}

/// Turns a rumqttc error into one sentence that says what the user should change.
pub fn explain(error: &ConnectionError, broker: &Broker) -> String {
    diagnose(error, broker, "").sentence()
}

/// A rumqttc error in words, and whether trying again may help.
struct Diagnosis {
    /// What happened.
    what: String,
    /// What the user should change.
    fix: String,
    /// A later attempt may succeed (the broker restarts, the network comes back).
    retry: bool,
    /// The broker said it about this one client (a CONNACK or DISCONNECT code), not about the
    /// network or the certificates that every client shares: the sentence names the client.
    about_client: Option<String>,
}

impl Diagnosis {
    fn new(what: impl Into<String>, fix: impl Into<String>, retry: bool) -> Diagnosis {
        Diagnosis {
            what: what.into(),
            fix: fix.into(),
            retry,
            about_client: None,
        }
    }

    fn about(mut self, client_id: &str) -> Diagnosis {
        if !client_id.is_empty() {
            self.about_client = Some(client_id.to_owned());
        }
        self
    }

    /// The whole error line: `[client] what happened; what to change`.
    fn sentence(&self) -> String {
        match &self.about_client {
            Some(client_id) => format!("[{client_id}] {}; {}", self.what, self.fix),
            None => format!("{}; {}", self.what, self.fix),
        }
    }
}

fn diagnose(error: &ConnectionError, broker: &Broker, client_id: &str) -> Diagnosis {
    let at = format!("{}:{}", broker.host, broker.port);
    // A TLS failure can surface in several wrappers: during the handshake as a TLS error, and
    // with TLS 1.3 also on the first read after it, because the broker checks our certificate
    // only after the client considers the handshake done. Look for rustls' own error first.
    if let Some(tls) = rustls_cause(error) {
        return diagnose_tls(tls, broker, &at);
    }
    if let Some(io) = io_cause(error) {
        return diagnose_io(io, broker, &at, matches!(error, ConnectionError::Tls(_)));
    }
    match error {
        ConnectionError::ConnectionRefused(code) => {
            let (words, fix, retry) = connack_code_in_words(*code);
            Diagnosis::new(
                format!("the broker at {at} refused the connection: {words}"),
                fix,
                retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(StateError::ServerDisconnect {
            reason_code,
            reason_string,
        }) => {
            let why = reason_string
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let (words, fix, retry) = disconnect_code_in_words(*reason_code, client_id);
            Diagnosis::new(
                format!("the broker at {at} disconnected us: {words}{why}"),
                fix,
                retry,
            )
            .about(client_id)
        }
        ConnectionError::MqttState(StateError::ConnectionAborted) => Diagnosis::new(
            format!("the broker at {at} closed the connection without a DISCONNECT"),
            "if this happens right after connecting, the broker refused us silently: AWS IoT does \
             that when the certificate is inactive or its policy lacks iot:Connect for this --client_id; \
             mosquitto does it when another client connects with the same client id",
            true,
        ),
        ConnectionError::MqttState(StateError::AwaitPingResp) => Diagnosis::new(
            format!("the broker at {at} stopped answering (no PINGRESP within the keep-alive)"),
            "check the network path to the broker",
            true,
        ),
        ConnectionError::MqttState(StateError::CollisionTimeout) => Diagnosis::new(
            format!("the broker at {at} did not acknowledge a message in time"),
            "check the broker's load",
            true,
        ),
        ConnectionError::MqttState(StateError::OutgoingPacketTooLarge { pkt_size, max }) => {
            Diagnosis::new(
                format!("a {pkt_size}-byte message exceeds the broker's maximum packet size of {max} bytes"),
                "use a shorter --message",
                false,
            )
        }
        ConnectionError::MqttState(other) => Diagnosis::new(
            format!("the MQTT conversation with {at} failed: {other}"),
            "is --endpoint/--port an MQTT 5 broker? if so, please report this with --verbosity debug output",
            false,
        ),
        // rumqttc's own limit for TCP + TLS + CONNECT/CONNACK, which we set to --timeout.
        ConnectionError::Timeout(_) => Diagnosis::new(
            format!(
                "no CONNACK from {at} within {} (--timeout)",
                humantime::format_duration(broker.timeout)
            ),
            "check --endpoint and --port (is an MQTT broker listening there?) and firewalls, or raise --timeout",
            true,
        ),
        ConnectionError::NotConnAck(packet) => Diagnosis::new(
            format!("the server at {at} answered CONNECT with {packet:?} instead of a CONNACK"),
            "is --endpoint/--port an MQTT 5 broker?",
            false,
        ),
        ConnectionError::Tls(other) => Diagnosis::new(
            format!("TLS set-up for {at} failed: {other}"),
            "check --endpoint: it must be a DNS name or an IP address",
            false,
        ),
        other => Diagnosis::new(
            format!("connection to {at} failed: {other}"),
            "check --endpoint, --port, --cert, --key and --ca_file",
            false,
        ),
    }
}

/// The `rustls::Error` behind `error`, if any.
///
/// rumqttc wraps the socket's `io::Error` in one of several variants, and tokio-rustls wraps
/// rustls' error in that `io::Error`, where only `get_ref()` finds it.
fn rustls_cause(error: &ConnectionError) -> Option<&rustls::Error> {
    if let ConnectionError::Tls(TlsError::TLS(tls)) = error {
        return Some(tls);
    }
    io_cause(error)
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The socket error behind `error`, whichever layer reported it.
fn io_cause(error: &ConnectionError) -> Option<&std::io::Error> {
    match error {
        ConnectionError::Io(io)
        | ConnectionError::Tls(TlsError::Io(io))
        | ConnectionError::MqttState(StateError::Io(io))
        | ConnectionError::MqttState(StateError::Deserialization(MqttError::Io(io))) => Some(io),
        _ => None,
    }
}

/// Socket errors: no broker there, no such name, or the connection broke. All may pass.
fn diagnose_io(io: &std::io::Error, broker: &Broker, at: &str, in_handshake: bool) -> Diagnosis {
    use std::io::ErrorKind;
    match io.kind() {
        ErrorKind::ConnectionRefused => Diagnosis::new(
            format!("connection to {at} refused: nothing listens there"),
            "check --endpoint and --port (AWS IoT: 8883, or 443), and that the broker runs",
            true,
        ),
        _ if io.to_string().contains("failed to lookup address") => Diagnosis::new(
            format!("cannot resolve --endpoint '{}' ({io})", broker.host),
            "check the name (AWS IoT: `aws iot describe-endpoint --endpoint-type iot:Data-ATS`)",
            true,
        ),
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
            if in_handshake =>
        {
            Diagnosis::new(
                format!("the server at {at} hung up during the TLS handshake ({:?})", io.kind()),
                "is --port a plain-MQTT port (e.g. 1883 instead of 8883)? otherwise the broker refused our --cert without saying why",
                true,
            )
        }
        // What a broker that crashes or restarts looks like from here: the socket just ends.
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => Diagnosis::new(
            format!("the broker at {at} closed the connection abruptly ({:?}): it stopped, restarted, or the network cut it", io.kind()),
            "check that the broker runs and the network path to it",
            true,
        ),
        _ => Diagnosis::new(
            format!("connection to {at} broke: {io}"),
            "check the network path to the broker (firewall, VPN, proxy)",
            true,
        ),
    }
}

/// TLS failures, in the words of what to fix. A certificate that was refused once will be refused
/// again, so none of these retries.
fn diagnose_tls(error: &rustls::Error, broker: &Broker, at: &str) -> Diagnosis {
    let failed = format!("TLS handshake with {at} failed");
    let theirs = "the broker's certificate";
    let (what, fix) = match error {
        rustls::Error::InvalidCertificate(cert_error) => match cert_error {
            CertificateError::UnknownIssuer => (
                format!("{failed}: {theirs} is not signed by a CA we trust"),
                "pass the CA that signed the broker's certificate with --ca_file (AWS IoT: AmazonRootCA1.pem)".to_owned(),
            ),
            CertificateError::NotValidForName => (
                format!("{failed}: {theirs} is not valid for the name '{}'", broker.host),
                "connect with a name the certificate was issued for (--endpoint)".to_owned(),
            ),
            CertificateError::NotValidForNameContext { presented, .. } => (
                format!(
                    "{failed}: {theirs} is not valid for the name '{}' (it is for {})",
                    broker.host,
                    presented
                        .iter()
                        .map(|name| name_in_words(name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "connect with a name the certificate was issued for (--endpoint)".to_owned(),
            ),
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => (
                format!("{failed}: {theirs} {}", validity_in_words(cert_error)),
                "the broker needs a current certificate; also check this machine's clock".to_owned(),
            ),
            other => (
                format!("{failed}: {theirs} was rejected ({other:?})"),
                "check --ca_file and --endpoint".to_owned(),
            ),
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::AccessDenied => (
                format!("{failed}: the broker rejected our client certificate (alert {alert:?})"),
                "use a --cert signed by a CA the broker trusts (AWS IoT: a registered, active device certificate)".to_owned(),
            ),
            AlertDescription::CertificateExpired => (
                format!("{failed}: the broker says our client certificate has expired"),
                "issue a new device certificate (--cert, --key)".to_owned(),
            ),
            AlertDescription::CertificateRevoked => (
                format!("{failed}: the broker says our client certificate is revoked"),
                "issue a new device certificate (--cert, --key)".to_owned(),
            ),
            AlertDescription::CertificateRequired => (
                format!("{failed}: the broker requires a client certificate and got none"),
                "pass --cert and --key".to_owned(),
            ),
            AlertDescription::NoApplicationProtocol => (
                format!("{failed}: the broker does not speak the ALPN protocol we offered"),
                "on AWS IoT use port 443 with ALPN, or 8883 without (--port)".to_owned(),
            ),
            other => (
                format!("{failed}: the broker sent the alert {other:?}"),
                "check --cert, --key, --ca_file and --port".to_owned(),
            ),
        },
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => (
            format!("{failed}: the server does not speak TLS"),
            "is --port a plain-TCP port (e.g. 1883 instead of 8883)?".to_owned(),
        ),
        other => (
            format!("{failed}: {other}"),
            "check --cert, --key, --ca_file and --endpoint".to_owned(),
        ),
    };
    Diagnosis::new(what, fix, false)
}

/// rustls lists a certificate's names as `DnsName("example.com")` or `IpAddress(..)`: keep the
/// name.
fn name_in_words(name: &str) -> &str {
    match (name.find("(\""), name.rfind("\")")) {
        (Some(start), Some(end)) if start + 2 <= end => &name[start + 2..end],
        _ => name,
    }
}

/// "has expired (on <date>)" or "is not valid before <date>", with dates when rustls gives them.
fn validity_in_words(error: &CertificateError) -> String {
    let date = |t: &rustls::pki_types::UnixTime| {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(t.as_secs()))
    };
    match error {
        CertificateError::ExpiredContext { not_after, .. } => {
            format!("expired on {}", date(not_after))
        }
        CertificateError::NotValidYetContext { not_before, .. } => {
            format!("is not valid before {}", date(not_before))
        }
        CertificateError::NotValidYet => "is not valid yet".to_owned(),
        _ => "has expired".to_owned(),
    }
}

/// CONNACK reason codes in words (MQTT 5 §3.2.2.2): what, fix, and whether a retry may help.
fn connack_code_in_words(code: ConnectReturnCode) -> (String, &'static str, bool) {
    let (what, fix, retry) = match code {
        ConnectReturnCode::NotAuthorized => (
            "not authorized (0x87)",
            "the broker must let this certificate connect with this client id (AWS IoT: the certificate's policy needs iot:Connect on client/<--client_id>-*)",
            false,
        ),
        ConnectReturnCode::BadUserNamePassword => (
            "bad user name or password (0x86)",
            "the sample signs in with its client certificate only: configure the broker to take the identity from the certificate (mosquitto: use_identity_as_username true)",
            false,
        ),
        ConnectReturnCode::ClientIdentifierNotValid => (
            "client identifier not valid (0x85)",
            "choose another --client_id (short; letters, digits and '-')",
            false,
        ),
        ConnectReturnCode::Banned => ("this client is banned (0x8A)", "ask the broker's operator", false),
        ConnectReturnCode::BadAuthenticationMethod => (
            "bad authentication method (0x8C)",
            "the broker wants another way to sign in than a client certificate",
            false,
        ),
        ConnectReturnCode::ServerUnavailable
        | ConnectReturnCode::ServiceUnavailable
        | ConnectReturnCode::ServerBusy => (
            "the server is unavailable or busy (0x88/0x89)",
            "try again later",
            true,
        ),
        ConnectReturnCode::ConnectionRateExceeded => (
            "connection rate exceeded (0x9F)",
            "fewer --subscribers, or try again later",
            true,
        ),
        ConnectReturnCode::QuotaExceeded => (
            "quota exceeded (0x97): too many connections",
            "fewer --subscribers, or raise the account's limits",
            false,
        ),
        ConnectReturnCode::UseAnotherServer | ConnectReturnCode::ServerMoved => (
            "the broker redirects to another server (0x9C/0x9D)",
            "check --endpoint",
            false,
        ),
        ConnectReturnCode::UnsupportedProtocolVersion
        | ConnectReturnCode::RefusedProtocolVersion => (
            "unsupported protocol version (0x84)",
            "this sample needs an MQTT 5 broker",
            false,
        ),
        other => return (format!("{other:?}"), "check the broker's log", false),
    };
    (what.to_owned(), fix, retry)
}

/// DISCONNECT reason codes in words (MQTT 5 §3.14.2.1): what, fix, and whether a retry may help.
fn disconnect_code_in_words(code: DisconnectReasonCode, client_id: &str) -> (String, String, bool) {
    let (what, fix, retry) = match code {
        // Never retried: the other client would be kicked out in turn, and the two would take the
        // id from each other forever.
        DisconnectReasonCode::SessionTakenOver => {
            let fix = format!(
                "another client connected as '{client_id}': make --client_id unique (a run uses <--client_id>-publisher and <--client_id>-subscriber-N)"
            );
            return (
                "session taken over (0x8E)".to_owned(),
                fix,
                false,
            );
        }
        DisconnectReasonCode::NotAuthorized => (
            "not authorized (0x87)",
            "the broker's authorization (AWS IoT: the certificate's policy) must allow iot:Publish and iot:Receive on topic/<--topic> and iot:Subscribe on topicfilter/$share/<group>/<topic>",
            false,
        ),
        DisconnectReasonCode::TopicFilterInvalid => (
            "topic filter invalid (0x8F)",
            "check --group_identifier and --topic",
            false,
        ),
        DisconnectReasonCode::TopicNameInvalid => ("topic name invalid (0x90)", "check --topic", false),
        DisconnectReasonCode::SharedSubscriptionNotSupported => (
            "shared subscriptions not supported (0x9E)",
            "this sample needs a broker with MQTT 5 shared subscriptions",
            false,
        ),
        DisconnectReasonCode::ProtocolError | DisconnectReasonCode::MalformedPacket => (
            "protocol error (0x81/0x82)",
            "check --group_identifier and --topic; otherwise please report it with --verbosity debug output",
            false,
        ),
        DisconnectReasonCode::PacketTooLarge => ("packet too large (0x95)", "use a shorter --message", false),
        DisconnectReasonCode::QuotaExceeded | DisconnectReasonCode::MessageRateTooHigh => (
            "quota or message rate exceeded (0x96/0x97)",
            "slow down with --interval",
            false,
        ),
        DisconnectReasonCode::AdministrativeAction => (
            "disconnected by an administrator (0x98)",
            "ask the broker's operator",
            false,
        ),
        DisconnectReasonCode::UseAnotherServer | DisconnectReasonCode::ServerMoved => (
            "the broker redirects to another server (0x9C/0x9D)",
            "check --endpoint",
            false,
        ),
        // The broker goes away or pushes back for a while: worth waiting for.
        DisconnectReasonCode::ServerShuttingDown => (
            "the server is shutting down (0x8B)",
            "wait for it to come back, or raise --timeout",
            true,
        ),
        DisconnectReasonCode::ServerBusy | DisconnectReasonCode::ConnectionRateExceeded => {
            ("the server is busy (0x89/0x9F)", "try again later", true)
        }
        DisconnectReasonCode::KeepAliveTimeout | DisconnectReasonCode::MaximumConnectTime => (
            "the connection timed out (0x8D/0xA0)",
            "check the network path to the broker",
            true,
        ),
        other => {
            let what = format!("{other:?} (0x{:02X})", other as u8);
            return (what, "check the broker's log".to_owned(), false);
        }
    };
    (what.to_owned(), fix.to_owned(), retry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.next_pause()).collect();
        // Never zero: rumqttc must not be polled again at once after an error.
        assert!(pauses[0] >= Duration::from_millis(50) && pauses[0] <= FIRST_PAUSE);
        assert!(pauses[1] >= Duration::from_millis(100) && pauses[1] <= 2 * FIRST_PAUSE);
        for pause in &pauses[8..] {
            assert!(
                *pause >= LONGEST_PAUSE / 2 && *pause <= LONGEST_PAUSE,
                "{pause:?}"
            );
        }
    }

    #[test]
    fn certificate_names_lose_their_wrapping() {
        assert_eq!(
            name_in_words(r#"DnsName("broker.example.com")"#),
            "broker.example.com"
        );
        assert_eq!(
            name_in_words("IpAddress(127.0.0.1)"),
            "IpAddress(127.0.0.1)"
        );
    }
}
