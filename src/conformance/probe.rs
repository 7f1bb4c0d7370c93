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
//! Each probe is a task that owns rumqttc's event loop; the case talks to it through a channel
//! of commands and reads its receipts from another.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{
    ConnAck, Filter, Packet, PubAck, PubAckReason, Publish, Subscribe, SubscribeReasonCode,
};
use rumqttc::v5::mqttbytes::{Error as MqttError, QoS};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, Request, StateError};
use rumqttc::Outgoing;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::message::{self, Origin};
use crate::mqtt::{connect, disconnect, Broker};

/// One PUBLISH the broker sent to a probe.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Our message number, or `None` for a message of someone else (another run, another tool).
    pub seq: Option<u32>,
    /// The QoS it came with.
    pub qos: u8,
    /// The DUP flag: the broker says it sent this message to this session before.
    pub dup: bool,
    /// The RETAIN flag: a retained message, sent because of a new subscription.
    pub retain: bool,
    /// The packet identifier, which a manual PUBACK must carry.
    pub pkid: u16,
    /// When it arrived, since the case started.
    pub at: Duration,
}

/// The broker's answer to one SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubAnswer {
    /// SUBACK with a success code: the QoS granted.
    Granted(u8),
    /// SUBACK with a failure code (0x80 or above).
    Refused(u8),
    /// No SUBACK: the connection ended first (see [`Ending`]).
    Ended(Ending),
    /// No SUBACK within the time the case allowed.
    Silent,
}

/// The broker's answer to one PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubAnswer {
    /// PUBACK and its reason code (0x00 success, 0x10 no matching subscribers, ...).
    Acked(u8),
    /// A QoS 0 message was written to the connection; nothing more comes back at QoS 0.
    Sent,
    /// No PUBACK: the connection ended first, or the case stopped waiting.
    Lost,
}

/// How a probe's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The case cut it: the socket closed without DISCONNECT, as when a process crashes.
    Cut,
    /// The case closed it with DISCONNECT.
    Closed,
    /// The broker sent DISCONNECT with this reason code.
    Disconnected(u8),
    /// The broker closed the connection with no DISCONNECT that rumqttc could read. rumqttc
    /// 0.25.1 cannot parse a DISCONNECT that carries a reason code but no property length (a
    /// Remaining Length of 1, which §3.14.2.2.1 allows and mosquitto sends: `e0 01 81`); it
    /// waits for the missing byte, then sees the socket close. So this also covers "DISCONNECT
    /// with a reason code and no properties".
    Dropped,
    /// The connection failed otherwise, in words.
    Broke(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Cut => write!(f, "cut by the case"),
            Ending::Closed => write!(f, "closed with DISCONNECT"),
            Ending::Disconnected(code) => write!(f, "DISCONNECT 0x{code:02X} from the broker"),
            Ending::Dropped => write!(f, "closed by the broker (no DISCONNECT rumqttc could read)"),
            Ending::Broke(why) => write!(f, "broken ({why})"),
        }
    }
}

/// What a case tells its probe to do.
enum Command {
    Subscribe {
        filters: Vec<Filter>,
        reply: oneshot::Sender<SubAnswer>,
    },
    Publish {
        topic: String,
        seq: Option<u32>,
        qos: QoS,
        retain: bool,
        reply: oneshot::Sender<PubAnswer>,
    },
    Ack {
        pkid: u16,
        reason: PubAckReason,
    },
    Cut,
    Close,
}

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
    receipts: mpsc::UnboundedReceiver<Receipt>,
    got: Vec<Receipt>,
    task: Option<JoinHandle<Ending>>,
    ending: Option<Ending>,
}

/// What a probe publishes: our numbered messages, as `message.rs` writes them.
pub struct Numbered<'a> {
    pub run_id: &'a str,
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
        let (outbox, receipts) = mpsc::unbounded_channel();
        let driver = Driver {
            broker,
            client_id: client_id.to_owned(),
            client,
            eventloop,
            run_id: numbered.run_id.to_owned(),
            start: numbered.start,
            receipts: outbox,
            subscribing: VecDeque::new(),
            subscribed: HashMap::new(),
            publishing: VecDeque::new(),
            published: HashMap::new(),
        };
        let task = tokio::spawn(driver.run(inbox));
        let probe = Probe {
            name: name.to_owned(),
            commands,
            receipts,
            got: Vec::new(),
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

    /// Everything received so far, in order of arrival.
    pub fn received(&mut self) -> &[Receipt] {
        while let Ok(receipt) = self.receipts.try_recv() {
            self.got.push(receipt);
        }
        &self.got
    }

    /// Waits until `done` holds for what was received, or `limit` passes; true if it held.
    pub async fn wait_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[Receipt]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self.received()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.receipts.recv()).await {
                Ok(Some(receipt)) => self.got.push(receipt),
                // The connection ended: nothing more will come.
                Ok(None) => return done(self.received()),
                Err(_) => return false,
            }
        }
    }

    /// Our message numbers received so far, in order of arrival (repeats included).
    pub fn seqs(&mut self) -> Vec<u32> {
        self.received().iter().filter_map(|r| r.seq).collect()
    }

    /// How the connection ended, if it has; waits at most `limit` for it to end.
    pub async fn wait_for_end(&mut self, limit: Duration) -> Option<Ending> {
        if let Some(task) = &mut self.task {
            match tokio::time::timeout(limit, task).await {
                Ok(Ok(ending)) => self.ending = Some(ending),
                Ok(Err(join)) => self.ending = Some(Ending::Broke(join.to_string())),
                Err(_) => return None,
            }
            self.task = None;
        }
        // What came before the end is still in the channel.
        self.received();
        self.ending.clone()
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

/// The task behind a [`Probe`]: it owns the connection.
struct Driver {
    broker: Broker,
    client_id: String,
    client: AsyncClient,
    eventloop: EventLoop,
    run_id: String,
    start: Instant,
    receipts: mpsc::UnboundedSender<Receipt>,
    /// SUBSCRIBEs queued, waiting for rumqttc to give them a packet id, in order.
    subscribing: VecDeque<oneshot::Sender<SubAnswer>>,
    /// SUBSCRIBEs sent, by packet id, waiting for their SUBACK.
    subscribed: HashMap<u16, oneshot::Sender<SubAnswer>>,
    /// PUBLISHes queued, waiting to be written, in order.
    publishing: VecDeque<(QoS, oneshot::Sender<PubAnswer>)>,
    /// QoS 1 PUBLISHes written, by packet id, waiting for their PUBACK.
    published: HashMap<u16, oneshot::Sender<PubAnswer>>,
}

impl Driver {
    /// Drives the connection until it ends; a SUBSCRIBE still waiting for its SUBACK learns how.
    async fn run(mut self, inbox: mpsc::UnboundedReceiver<Command>) -> Ending {
        let ending = self.drive(inbox).await;
        let waiting = self
            .subscribing
            .drain(..)
            .chain(self.subscribed.drain().map(|(_, r)| r));
        for reply in waiting {
            let _ = reply.send(SubAnswer::Ended(ending.clone()));
        }
        ending
    }

    async fn drive(&mut self, mut inbox: mpsc::UnboundedReceiver<Command>) -> Ending {
        loop {
            let event = tokio::select! {
                command = inbox.recv() => match command {
                    // The probe was dropped: leave as a crash would.
                    None | Some(Command::Cut) => return Ending::Cut,
                    Some(Command::Close) => {
                        return match disconnect(&self.broker, &self.client, &mut self.eventloop, &self.client_id).await {
                            Ok(()) => Ending::Closed,
                            Err(error) => Ending::Broke(format!("{error:#}")),
                        };
                    }
                    Some(command) => {
                        self.queue(command).await;
                        continue;
                    }
                },
                polled = self.eventloop.poll() => polled,
            };
            match event {
                Ok(event) => self.handle(event),
                // Never poll again after an error: rumqttc would reconnect (see the module doc).
                Err(ConnectionError::MqttState(StateError::ServerDisconnect {
                    reason_code,
                    ..
                })) => return Ending::Disconnected(reason_code as u8),
                Err(error) if closed_by_peer(&error) => return Ending::Dropped,
                Err(error) => return Ending::Broke(error.to_string()),
            }
        }
    }

    async fn queue(&mut self, command: Command) {
        match command {
            Command::Subscribe { filters, reply } => {
                // Straight into rumqttc's queue, past `AsyncClient::subscribe`'s own checks:
                // the broker must judge the filter, not the client library.
                let subscribe = Subscribe::new_many(filters, None);
                self.eventloop
                    .pending
                    .push_back(Request::Subscribe(subscribe));
                self.subscribing.push_back(reply);
            }
            Command::Publish {
                topic,
                seq,
                qos,
                retain,
                reply,
            } => {
                let (payload, properties) = match seq {
                    Some(seq) => (
                        message::payload("conformance", seq),
                        message::properties(&self.run_id, seq),
                    ),
                    None => (String::new(), Default::default()),
                };
                // Through the client's queue, which respects the broker's Receive Maximum.
                let queued = self
                    .client
                    .publish_with_properties(topic, qos, retain, payload, properties)
                    .await;
                if queued.is_ok() {
                    self.publishing.push_back((qos, reply));
                } else {
                    let _ = reply.send(PubAnswer::Lost);
                }
            }
            Command::Ack { pkid, reason } => {
                // `AsyncClient::ack` can only say success; a PUBACK with another reason code
                // goes into the queue rumqttc writes first.
                let puback = PubAck {
                    pkid,
                    reason,
                    properties: None,
                };
                self.eventloop.pending.push_back(Request::PubAck(puback));
            }
            Command::Cut | Command::Close => unreachable!("handled in run"),
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                if let Some(reply) = self.subscribing.pop_front() {
                    self.subscribed.insert(pkid, reply);
                }
            }
            Event::Incoming(Packet::SubAck(suback)) => {
                if let Some(reply) = self.subscribed.remove(&suback.pkid) {
                    let answer = match suback.return_codes.first() {
                        Some(SubscribeReasonCode::Success(qos)) => SubAnswer::Granted(*qos as u8),
                        Some(code) => SubAnswer::Refused(suback_code(*code)),
                        None => SubAnswer::Refused(0x80),
                    };
                    let _ = reply.send(answer);
                }
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                if let Some((qos, reply)) = self.publishing.pop_front() {
                    if qos == QoS::AtMostOnce {
                        let _ = reply.send(PubAnswer::Sent);
                    } else {
                        self.published.insert(pkid, reply);
                    }
                }
            }
            Event::Incoming(Packet::PubAck(puback)) => {
                if let Some(reply) = self.published.remove(&puback.pkid) {
                    let _ = reply.send(PubAnswer::Acked(puback_code(puback.reason)));
                }
            }
            Event::Incoming(Packet::Publish(publish)) => self.note(&publish),
            _ => {}
        }
    }

    fn note(&self, publish: &Publish) {
        let seq = match message::identify(publish, &self.run_id) {
            Origin::Ours(seq) => Some(seq),
            Origin::Foreign => None,
        };
        let _ = self.receipts.send(Receipt {
            seq,
            qos: publish.qos as u8,
            dup: publish.dup,
            retain: publish.retain,
            pkid: publish.pkid,
            at: self.start.elapsed(),
        });
    }
}

/// The peer closed the socket (TCP FIN or reset, a TLS stream cut short): how a broker that
/// says nothing ends a connection.
fn closed_by_peer(error: &ConnectionError) -> bool {
    let closed = |e: &std::io::Error| {
        use std::io::ErrorKind::*;
        matches!(
            e.kind(),
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
        )
    };
    match error {
        ConnectionError::MqttState(StateError::ConnectionAborted) => true,
        ConnectionError::Io(e) | ConnectionError::MqttState(StateError::Io(e)) => closed(e),
        ConnectionError::MqttState(StateError::Deserialization(MqttError::Io(e))) => closed(e),
        _ => false,
    }
}

/// A SUBACK reason code as its byte (MQTT 5 §3.9.3).
pub fn suback_code(code: SubscribeReasonCode) -> u8 {
    match code {
        SubscribeReasonCode::Success(qos) => qos as u8,
        SubscribeReasonCode::Failure | SubscribeReasonCode::Unspecified => 0x80,
        SubscribeReasonCode::ImplementationSpecific => 0x83,
        SubscribeReasonCode::NotAuthorized => 0x87,
        SubscribeReasonCode::TopicFilterInvalid => 0x8F,
        SubscribeReasonCode::PkidInUse => 0x91,
        SubscribeReasonCode::QuotaExceeded => 0x97,
        SubscribeReasonCode::SharedSubscriptionsNotSupported => 0x9E,
        SubscribeReasonCode::SubscriptionIdNotSupported => 0xA1,
        SubscribeReasonCode::WildcardSubscriptionsNotSupported => 0xA2,
    }
}

/// A PUBACK reason code as its byte (MQTT 5 §3.4.2.1).
pub fn puback_code(reason: PubAckReason) -> u8 {
    match reason {
        PubAckReason::Success => 0x00,
        PubAckReason::NoMatchingSubscribers => 0x10,
        PubAckReason::UnspecifiedError => 0x80,
        PubAckReason::ImplementationSpecificError => 0x83,
        PubAckReason::NotAuthorized => 0x87,
        PubAckReason::TopicNameInvalid => 0x90,
        PubAckReason::PacketIdentifierInUse => 0x91,
        PubAckReason::QuotaExceeded => 0x97,
        PubAckReason::PayloadFormatInvalid => 0x99,
    }
}
