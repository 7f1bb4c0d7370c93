//! A [`Connection`] that survives a broker restart or a network cut.
//!
//! After an error, rumqttc's next `poll()` reconnects at once, and so on forever: against a stopped
//! broker that is about 48,000 attempts in 4 seconds. And when the session starts clean (the
//! default), the new session knows nothing of the old one: the broker forgot our subscription, and
//! rumqttc *drops* every request it still held, including QoS 1 messages the broker never
//! acknowledged. [`Connection`] wraps the event loop and does what an application has to do
//! instead:
//!
//! * it notices a dead path: rumqttc's keep-alive pings after a keep-alive of silence (the one
//!   the broker's CONNACK set, `connack.rs`) and fails when the PINGRESP is still missing a
//!   keep-alive later, so a stalled connection is found within about two keep-alives; a poll that
//!   returns nothing at all for longer counts as broken too;
//! * it pauses before each attempt, 100 ms doubling to 5 s, with random jitter so that the members
//!   of a restarted broker do not all knock at the same instant, and never less than a second
//!   against AWS IoT Core, which takes one CONNECT a second per client id (`outage.rs`);
//! * it bounds each attempt by a keep-alive, so an attempt into a path that swallows packets fails
//!   and the next one starts, instead of hanging;
//! * it gives up once the broker has been unreachable for `--timeout`, counting a connection that
//!   breaks again within 10 s of a reconnect as still down (`STABLE`: mosquitto silently closes
//!   the older of two connections with one client id, and each reconnect would "succeed");
//! * it stops at once on errors no retry can fix: a rejected certificate, "not authorized", or
//!   "session taken over" (two clients with one client id would otherwise kick each other out
//!   forever);
//! * it reports the break as [`Polled::Lost`], so the run can hold the publisher, and the new
//!   CONNACK as [`Polled::Reconnected`], with the messages rumqttc held, so a member can subscribe
//!   again (unless the broker kept its session) and the publisher can send them again.
//!
//! Its state is one `Link` value: up, down, or draining the old connection's last events.
//!
//! What each error means, and whether it is worth another attempt, is in `diagnosis/`.
//!
//! A client that has never been connected does not retry: a refused *first* connection almost
//! always means a wrong flag, and the user should hear that now rather than after `--timeout`.

use std::time::Duration;

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet, Publish};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop};
use tokio::time::Instant;

use super::connack::server_keep_alive;
use super::diagnosis::diagnose;
use super::outage::{take_unsent, Outage};
use super::polled::{Polled, Reconnected};
use super::{connect, disconnect, Broker};

/// A connection that reconnects with backoff when it breaks; see the module doc.
pub struct Connection {
    client: AsyncClient,
    eventloop: EventLoop,
    broker: Broker,
    client_id: String,
    /// The keep-alive this connection counts with: the broker's Server Keep Alive when its
    /// CONNACK sent one (MQTT 5 §3.2.2.3.14), else `--keep-alive`.
    keep_alive: Duration,
    link: Link,
}

/// What rumqttc's `poll()` returns.
type Answer = Result<Event, ConnectionError>;

/// Where a [`Connection`] stands. One value, so the states cannot contradict each other.
enum Link {
    /// Connected since `since`. `after` is the outage this connection ended, kept until the
    /// connection has stayed up for [`STABLE`]: a break sooner than that continues it.
    Up {
        since: Instant,
        after: Option<Outage>,
    },
    /// Broken: the next poll pauses (backoff), then tries to reconnect.
    Down(Outage),
    /// An attempt got through. rumqttc now hands out the old connection's last events (read just
    /// before the error), then the new CONNACK; no pause and no attempt limit until then.
    Draining(Outage),
}

/// How long a connection must stay up before a new break counts as a new outage, with a fresh
/// backoff and a fresh `--timeout`. A break sooner than that continues the last outage instead.
///
/// Some brokers accept a connection and close it again at once, over and over: mosquitto closes the
/// older of two connections with the same client id without a word, so two clients sharing an id
/// would take it from each other forever, each reconnect a success. Counting those breaks as one
/// outage lets the backoff grow and `--timeout` end it.
const STABLE: Duration = Duration::from_secs(10);

impl Connection {
    /// Connects `client_id`; fails at once if the first attempt fails (see the module doc).
    pub async fn open(broker: &Broker, client_id: &str) -> anyhow::Result<(Connection, ConnAck)> {
        let (client, eventloop, connack) = connect(broker, client_id).await?;
        let connection = Connection {
            client,
            eventloop,
            broker: broker.clone(),
            client_id: client_id.to_owned(),
            keep_alive: server_keep_alive(&connack).unwrap_or(broker.keep_alive),
            link: Link::Up {
                since: Instant::now(),
                after: None,
            },
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
        matches!(self.link, Link::Up { .. })
    }

    /// An event rumqttc has already read and holds, at once; `None` when it holds none, and then
    /// [`Connection::poll`] waits for the next.
    ///
    /// rumqttc reads up to nine packets from the socket at a time and hands them out one per
    /// `poll()`. But each `poll()` builds a future of about 3 KB (ours around rumqttc's), and
    /// at tens of thousands of messages a second copying those was the largest cost of our own
    /// code in the profile (memmove, README "Speed"). What is already read needs no future.
    pub fn buffered(&mut self) -> Option<Polled> {
        // Only while up: then rumqttc's `poll()` would hand this event out first, unchanged.
        // Across a break, `poll()` decides what comes next.
        if !self.is_up() {
            return None;
        }
        self.eventloop.state.events.pop_front().map(Polled::Event)
    }

    /// The next event; across a broken connection, [`Polled::Lost`] and later
    /// [`Polled::Reconnected`].
    ///
    /// Fails with one sentence when the error is one no retry can fix, or when the broker stayed
    /// unreachable for `--timeout`. Cancelling it while it reconnects is safe: the next call
    /// starts the attempt again.
    pub async fn poll(&mut self) -> anyhow::Result<Polled> {
        loop {
            let answer = match &self.link {
                Link::Down(_) => match self.attempt().await? {
                    Some(answer) => answer,
                    // The attempt ran out of time (noted in the outage): pause, try again.
                    None => continue,
                },
                Link::Draining(_) => self.eventloop.poll().await,
                Link::Up { .. } => match self.poll_up().await {
                    Ok(answer) => answer,
                    Err(lost) => return Ok(lost),
                },
            };
            if let Some(polled) = self.take(answer)? {
                return Ok(polled);
            }
        }
    }

    /// One reconnect attempt, after the backoff's pause: rumqttc's answer, or `None` when the
    /// attempt got none in time. Fails once the broker has been away for `--timeout`.
    async fn attempt(&mut self) -> anyhow::Result<Option<Answer>> {
        let Link::Down(outage) = &mut self.link else {
            return Ok(None);
        };
        // rumqttc would reconnect inside this poll() at once; pause first.
        let deadline = outage.since + self.broker.timeout;
        if Instant::now() >= deadline {
            return Err(outage.gave_up(&self.client_id, &self.broker));
        }
        let pause = outage.backoff.next_pause();
        tokio::time::sleep_until(deadline.min(Instant::now() + pause)).await;
        outage.attempts += 1;
        outage.total_attempts += 1;
        // One attempt into a dead path (a host that drops packets, a stalled link) would hang in
        // the TLS handshake: give each one a keep-alive at most, and the last, right at the
        // deadline, a fair second.
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .min(self.keep_alive)
            .max(Duration::from_secs(1));
        match tokio::time::timeout(limit, self.eventloop.poll()).await {
            Ok(answer) => Ok(Some(answer)),
            Err(_) => {
                outage.last_error = Some(format!(
                    "an attempt got no CONNACK from {}:{} within {}",
                    self.broker.host,
                    self.broker.port,
                    humantime::format_duration(limit)
                ));
                Ok(None)
            }
        }
    }

    /// The next answer of a connection that is up, or [`Polled::Lost`] after too long a silence.
    ///
    /// rumqttc pings after a keep-alive of silence and fails when the PINGRESP is still missing a
    /// keep-alive later. But its ping waits behind a write that a dead path never takes (a full
    /// socket buffer): nothing at all for two and a half keep-alives means the connection is gone.
    async fn poll_up(&mut self) -> Result<Answer, Polled> {
        let silence = self.keep_alive * 5 / 2;
        match tokio::time::timeout(silence, self.eventloop.poll()).await {
            Ok(answer) => Ok(answer),
            Err(_) => {
                // Drop the socket, and move what rumqttc held into `pending`.
                self.eventloop.clean();
                let unsent = self.take_unsent();
                let cause = format!(
                    "nothing came or went for {} although the keep-alive pings every {}",
                    humantime::format_duration(silence),
                    humantime::format_duration(self.keep_alive)
                );
                Err(self.broke(cause, unsent))
            }
        }
    }

    /// What rumqttc's `answer` means for the link: something to hand to the caller, or `None`
    /// when an attempt failed and the next one should follow. Fails on an error no retry fixes.
    fn take(&mut self, answer: Answer) -> anyhow::Result<Option<Polled>> {
        let error = match answer {
            Ok(Event::Incoming(Packet::ConnAck(connack))) => {
                return Ok(Some(match self.take_link() {
                    Link::Down(outage) | Link::Draining(outage) => {
                        self.reconnected(outage, &connack)
                    }
                    up => {
                        self.link = up;
                        Polled::Event(Event::Incoming(Packet::ConnAck(connack)))
                    }
                }));
            }
            Ok(event) => {
                self.link = match self.take_link() {
                    Link::Down(outage) => Link::Draining(outage),
                    other => other,
                };
                return Ok(Some(Polled::Event(event)));
            }
            Err(error) => error,
        };
        let diagnosis = diagnose(&error, &self.broker, &self.client_id);
        if !diagnosis.retry {
            return Err(anyhow!(diagnosis.sentence()));
        }
        let unsent = self.take_unsent();
        match self.take_link() {
            // An attempt failed: pause longer, and try again.
            Link::Down(mut outage) | Link::Draining(mut outage) => {
                outage.last_error = Some(diagnosis.what);
                outage.unsent.extend(unsent);
                self.link = Link::Down(outage);
                Ok(None)
            }
            up => {
                self.link = up;
                Ok(Some(self.broke(diagnosis.what, unsent)))
            }
        }
    }

    /// Cuts the connection as a crash would: the socket closes without a DISCONNECT, so the
    /// broker treats it as a client that died (`--churn drop:K`). The next `poll` reconnects as
    /// after any break. Nothing to cut while the connection is down.
    pub fn cut(&mut self, cause: &str) -> Option<Polled> {
        if !self.is_up() {
            return None;
        }
        self.eventloop.clean();
        let unsent = self.take_unsent();
        // A fresh outage, even right after another: a cut made on purpose is no relapse of an
        // unstable link, and its --timeout starts now.
        tracing::warn!(
            "[{}] connection lost: {cause}; reconnecting, for up to {} (--timeout)",
            self.client_id,
            humantime::format_duration(self.broker.timeout)
        );
        self.link = Link::Down(Outage::new(cause.to_owned(), unsent, &self.broker));
        Some(Polled::Lost(cause.to_owned()))
    }

    /// Takes the link out to move it into its next state; the placeholder never stays.
    fn take_link(&mut self) -> Link {
        let placeholder = Link::Up {
            since: Instant::now(),
            after: None,
        };
        std::mem::replace(&mut self.link, placeholder)
    }

    /// The connection was up and just broke: start an outage, or continue the last one if it
    /// ended less than [`STABLE`] ago.
    fn broke(&mut self, cause: String, unsent: Vec<Publish>) -> Polled {
        let outage = match self.take_link() {
            Link::Up {
                since,
                after: Some(outage),
            } if since.elapsed() < STABLE => {
                tracing::warn!(
                    "[{}] connection lost again {} after reconnecting: {cause}; reconnecting",
                    self.client_id,
                    humantime::format_duration(round_ms(since.elapsed())),
                );
                outage.relapse(cause.clone(), unsent)
            }
            _ => {
                tracing::warn!(
                    "[{}] connection lost: {cause}; reconnecting, for up to {} (--timeout)",
                    self.client_id,
                    humantime::format_duration(self.broker.timeout)
                );
                Outage::new(cause.clone(), unsent, &self.broker)
            }
        };
        self.link = Link::Down(outage);
        Polled::Lost(cause)
    }

    /// [`poll`](Connection::poll) for an answer that must come by `deadline`: fails with
    /// `silent()`'s error once it passes while the connection is up (the broker is connected yet
    /// says nothing). While the connection is down the deadline does not count: reconnecting has
    /// its own limit (`--timeout`), and a cut-off attempt would only start over.
    pub async fn poll_or(
        &mut self,
        deadline: Instant,
        silent: impl FnOnce() -> anyhow::Error,
    ) -> anyhow::Result<Polled> {
        let up = self.is_up();
        tokio::select! {
            polled = self.poll() => polled,
            _ = tokio::time::sleep_until(deadline), if up => Err(silent()),
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

    /// What rumqttc held for the broken connection ([`take_unsent`]).
    fn take_unsent(&mut self) -> Vec<Publish> {
        take_unsent(&mut self.eventloop)
    }

    fn reconnected(&mut self, mut outage: Outage, connack: &ConnAck) -> Polled {
        // rumqttc asked for the keep-alive it counts with; a new Server Keep Alive replaces it.
        if let Some(keep_alive) = server_keep_alive(connack) {
            self.keep_alive = keep_alive;
        }
        if connack.session_present && self.broker.session_expiry.is_zero() {
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
        self.link = Link::Up {
            since: Instant::now(),
            after: Some(outage),
        };
        Polled::Reconnected(reconnected)
    }
}

/// `d` to the millisecond, for log lines.
fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
