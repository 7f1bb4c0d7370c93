//! A probe: one MQTT client that a case steers packet by packet, and that writes down everything
//! the broker sends it.
//!
//! A run's member (`run/member.rs`) does the right thing for the user: it reconnects, subscribes
//! again, acknowledges at once. A case needs the opposite: a client that does exactly what the
//! case says and nothing more, so that what happens next is the broker's doing. So a probe
//!
//! * sends what it is told, even what rumqttc's `AsyncClient` would refuse to send: a
//!   SUBSCRIBE to `$share/g+/t`, or a PUBACK with reason code 0x80. rumqttc checks filters in
//!   `AsyncClient::subscribe`, and its `ack` can only say "success"; both packets can still be
//!   put straight into the event loop's `pending` queue, which rumqttc writes out first, as is;
//! * never reconnects: when the connection ends (the broker's DISCONNECT, a closed socket, or the
//!   case's own [`Probe::cut`]) the probe stops and says how it ended. Polling rumqttc's event loop
//!   again would open a new connection, and the case would no longer know which one it watches;
//! * acknowledges nothing by itself when made with manual acks (and then takes one message at a
//!   time: Receive Maximum 1, see `mqtt::connect`), so "delivered but not acknowledged" is a
//!   state a case can hold on purpose;
//! * notes each PUBLISH it gets as a [`Receipt`]: which message (by the run id and number of
//!   `message.rs`), when, at which QoS, with which DUP and RETAIN flags.
//!
//! Each probe is a task that owns rumqttc's event loop (`driver.rs`); the case talks to it
//! through a channel of commands (this file) and reads what it received from another
//! (`watch.rs`); `answers.rs` holds what the broker can answer.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{ConnAck, Filter, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::mqtt::{connect, Broker};

mod answers;
mod driver;
mod watch;

pub use answers::{Ending, PubAnswer, SubAnswer};
use driver::{Command, Driver};
use watch::Incoming;
pub use watch::Receipt;

/// How a probe connects: which session, which acknowledgements.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    /// Zero: a clean session that ends with the connection. Otherwise Clean Start is off and the
    /// broker keeps the session this long after the connection ends.
    pub session_expiry: Duration,
    /// The case acknowledges each QoS 1 message itself ([`Probe::ack`]), and the probe takes one
    /// message at a time (Receive Maximum 1).
    pub manual_acks: bool,
}

/// A client under a case's control; see the module doc.
pub struct Probe {
    /// The case's name for it in what it reports: `m1`, `m2`, `publisher`, ...
    pub name: String,
    commands: mpsc::UnboundedSender<Command>,
    incoming: mpsc::UnboundedReceiver<Incoming>,
    got: Vec<Receipt>,
    /// The scene's markers received, by number (`scene.rs`).
    markers: Vec<u32>,
    task: Option<JoinHandle<Ending>>,
    ending: Option<Ending>,
}

/// What a probe publishes and how it tells markers apart: our numbered messages, as
/// `message.rs` writes them, and the scene's marker topic.
pub struct Numbered<'a> {
    pub run_id: &'a str,
    pub marker_topic: &'a str,
    pub start: Instant,
}

impl Probe {
    /// Connects `client_id` to `broker` as `setup` says, and waits for the CONNACK.
    pub async fn connect(
        broker: &Broker,
        name: &str,
        client_id: &str,
        setup: Setup,
        numbered: Numbered<'_>,
    ) -> anyhow::Result<(Probe, ConnAck)> {
        let broker = Broker {
            session_expiry: setup.session_expiry,
            manual_acks: setup.manual_acks,
            ..broker.clone()
        };
        let (client, eventloop, connack) = connect(&broker, client_id).await?;
        let (commands, inbox) = mpsc::unbounded_channel();
        let (outbox, incoming) = mpsc::unbounded_channel();
        let driver = Driver {
            broker,
            client_id: client_id.to_owned(),
            client,
            eventloop,
            run_id: numbered.run_id.to_owned(),
            marker_topic: numbered.marker_topic.to_owned(),
            start: numbered.start,
            incoming: outbox,
            subscribing: Default::default(),
            subscribed: Default::default(),
            publishing: Default::default(),
            published: Default::default(),
        };
        let task = tokio::spawn(driver.run(inbox));
        let probe = Probe {
            name: name.to_owned(),
            commands,
            incoming,
            got: Vec::new(),
            markers: Vec::new(),
            task: Some(task),
            ending: None,
        };
        Ok((probe, connack))
    }

    /// SUBSCRIBE to `filter` at `qos`, and the broker's answer within `limit`.
    pub async fn subscribe(&self, filter: &str, qos: QoS, limit: Duration) -> SubAnswer {
        self.subscribe_with(Filter::new(filter, qos), limit).await
    }

    /// SUBSCRIBE with the subscription options of `filter` (No Local, retain handling, ...).
    pub async fn subscribe_with(&self, filter: Filter, limit: Duration) -> SubAnswer {
        let (reply, answer) = oneshot::channel();
        let command = Command::Subscribe {
            filters: vec![filter],
            reply,
        };
        if self.commands.send(command).is_err() {
            return SubAnswer::Ended(self.known_ending());
        }
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => SubAnswer::Ended(self.known_ending()),
            Err(_) => SubAnswer::Silent,
        }
    }

    /// Publishes our message `seq` to `topic` (or, with `seq` None, an empty payload: what clears
    /// a retained message), and returns a receiver for the broker's answer.
    pub fn publish(
        &self,
        topic: &str,
        seq: Option<u32>,
        qos: QoS,
        retain: bool,
    ) -> oneshot::Receiver<PubAnswer> {
        let (reply, answer) = oneshot::channel();
        let _ = self.commands.send(Command::Publish {
            topic: topic.to_owned(),
            seq,
            qos,
            retain,
            reply,
        });
        answer
    }

    /// Publishes each `(topic, seq)` at `qos` (pipelined, in order) and waits, at most `limit`,
    /// for the broker's answer to each.
    pub async fn publish_all(
        &self,
        messages: impl IntoIterator<Item = (String, u32)>,
        qos: QoS,
        limit: Duration,
    ) -> Vec<(u32, PubAnswer)> {
        let pending: Vec<(u32, oneshot::Receiver<PubAnswer>)> = messages
            .into_iter()
            .map(|(topic, seq)| (seq, self.publish(&topic, Some(seq), qos, false)))
            .collect();
        let deadline = Instant::now() + limit;
        let mut answers = Vec::with_capacity(pending.len());
        for (seq, answer) in pending {
            let answer = match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(answer)) => answer,
                _ => PubAnswer::Lost,
            };
            answers.push((seq, answer));
        }
        answers
    }

    /// Acknowledges a QoS 1 message with `reason` (manual acks only). A reason code of 0x80 or
    /// more tells the broker the message was not accepted (MQTT 5 §3.4.2.1).
    pub fn ack(&self, receipt: &Receipt, reason: PubAckReason) {
        let _ = self.commands.send(Command::Ack {
            pkid: receipt.pkid,
            reason,
        });
    }

    /// Drops the connection without DISCONNECT, as a crash would, and waits until it is gone.
    pub async fn cut(&mut self) {
        let _ = self.commands.send(Command::Cut);
        self.wait_for_end(Duration::from_secs(5)).await;
    }

    /// Leaves with DISCONNECT (a session with an expiry outlives it on the broker).
    pub async fn close(mut self) {
        let _ = self.commands.send(Command::Close);
        self.wait_for_end(Duration::from_secs(5)).await;
    }

    fn known_ending(&self) -> Ending {
        self.ending
            .clone()
            .unwrap_or_else(|| Ending::Broke("the connection ended".into()))
    }
}

impl Drop for Probe {
    /// A case that returns early must not leave a connection behind.
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}
