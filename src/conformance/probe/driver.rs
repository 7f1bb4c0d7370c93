//! The task behind a probe: it owns rumqttc's event loop, writes what the case commands, and
//! sends back everything the broker sends.
//!
//! It never polls again after the connection ends: rumqttc's next `poll()` would open a new
//! connection, and the case would no longer know which one it watches.

use std::collections::{HashMap, VecDeque};

use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PubAck, PubAckReason, Publish, Subscribe, SubscribeReasonCode,
};
use rumqttc::v5::mqttbytes::{Error as MqttError, QoS};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, Request, StateError};
use rumqttc::Outgoing;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::answers::{puback_code, suback_code, Ending, PubAnswer, SubAnswer};
use super::watch::{Incoming, Receipt};
use crate::message::{self, Origin};
use crate::mqtt::{disconnect, Broker};

/// What a case tells its probe to do.
pub(super) enum Command {
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

/// The task behind a probe: it owns the connection.
pub(super) struct Driver {
    pub broker: Broker,
    pub client_id: String,
    pub client: AsyncClient,
    pub eventloop: EventLoop,
    pub run_id: String,
    /// The topic of the scene's markers (`scene.rs`), which the driver tells apart from messages.
    pub marker_topic: String,
    pub start: Instant,
    pub incoming: mpsc::UnboundedSender<Incoming>,
    /// SUBSCRIBEs queued, waiting for rumqttc to give them a packet id, in order.
    pub subscribing: VecDeque<oneshot::Sender<SubAnswer>>,
    /// SUBSCRIBEs sent, by packet id, waiting for their SUBACK.
    pub subscribed: HashMap<u16, oneshot::Sender<SubAnswer>>,
    /// PUBLISHes queued, waiting to be written, in order.
    pub publishing: VecDeque<(QoS, oneshot::Sender<PubAnswer>)>,
    /// QoS 1 PUBLISHes written, by packet id, waiting for their PUBACK.
    pub published: HashMap<u16, oneshot::Sender<PubAnswer>>,
}

impl Driver {
    /// Drives the connection until it ends; a SUBSCRIBE still waiting for its SUBACK learns how.
    pub async fn run(mut self, inbox: mpsc::UnboundedReceiver<Command>) -> Ending {
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
            } => self.publish(topic, seq, qos, retain, reply).await,
            Command::Ack { pkid, reason } => self.ack(pkid, reason),
            Command::Cut | Command::Close => unreachable!("handled in run"),
        }
    }

    async fn publish(
        &mut self,
        topic: String,
        seq: Option<u32>,
        qos: QoS,
        retain: bool,
        reply: oneshot::Sender<PubAnswer>,
    ) {
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

    /// `AsyncClient::ack` can only say success; a PUBACK with another reason code goes into the
    /// queue rumqttc writes first.
    fn ack(&mut self, pkid: u16, reason: PubAckReason) {
        let puback = PubAck {
            pkid,
            reason,
            properties: None,
        };
        self.eventloop.pending.push_back(Request::PubAck(puback));
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

    fn note(&mut self, publish: &Publish) {
        let seq = match message::identify(publish, &self.run_id) {
            Origin::Ours(seq) => Some(seq),
            Origin::Foreign => None,
        };
        if publish.topic.as_ref() == self.marker_topic.as_bytes() {
            // A marker is the case's own bookkeeping, not a message under test: a probe with
            // manual acks acknowledges it here, so that it never holds up what comes after it.
            if self.broker.manual_acks && publish.qos != QoS::AtMostOnce {
                self.ack(publish.pkid, PubAckReason::Success);
            }
            if let Some(marker) = seq {
                let _ = self.incoming.send(Incoming::Marker(marker));
            }
            return;
        }
        let _ = self.incoming.send(Incoming::Message(Receipt {
            seq,
            qos: publish.qos as u8,
            dup: publish.dup,
            retain: publish.retain,
            pkid: publish.pkid,
            at: self.start.elapsed(),
        }));
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
