//! The publisher: sends messages 1..=count to the plain topic and waits until the broker has them.
//!
//! The publisher knows nothing about the group; it publishes to `test/topic` like any client.
//! The broker sees the `$share` subscriptions and picks one member per message.
//!
//! Two things happen at once here, so they are two tasks:
//!
//! * a *feeder* queues the numbered messages with `AsyncClient::publish` (which returns as soon as
//!   the message is queued, not when it is acknowledged);
//! * this task polls the event loop, which writes the queued messages and reads the PUBACKs.
//!
//! That is what "pipelined" means: rumqttc keeps up to the broker's Receive Maximum messages in
//! flight (20 on mosquitto, 100 on AWS IoT) instead of one round trip per message. The reference
//! Python sample waited for each PUBACK and slept a second: 15 s for 10 messages.
//!
//! A message counts as *published* when the broker took responsibility for it: its PUBACK at
//! QoS 1, or when it was written to the socket at QoS 0 (which is all QoS 0 promises).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail};
use rumqttc::v5::mqttbytes::v5::{Packet, PubAck, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event as MqttEvent};
use rumqttc::Outgoing;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::connection::{self, Broker};
use crate::event::Event;
use crate::message;

/// What to publish.
#[derive(Clone)]
pub struct Publication {
    pub client_id: String,
    pub topic: String,
    /// Message n's payload is `"<text> [n]"`.
    pub text: String,
    pub count: u32,
    pub qos: QoS,
    /// Pause between two publishes; zero sends as fast as the broker acknowledges.
    pub interval: Duration,
    pub run_id: String,
}

/// Publishes every message, waits for the broker to take each one, and disconnects.
/// Stops early, without error, when `stop` is cancelled.
pub async fn run(
    broker: Broker,
    publication: Publication,
    events: mpsc::UnboundedSender<Event>,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let (client, mut eventloop, connack) =
        connection::connect(&broker, &publication.client_id).await?;
    let _ = events.send(Event::Connected {
        client_id: publication.client_id.clone(),
        session_present: connack.session_present,
    });

    let feeder = tokio::spawn(feed(client.clone(), publication.clone(), stop.clone()));

    let mut acks = AckTracker::default();
    let mut published = 0;
    // A PUBACK may take up to --timeout; with a slow --interval the next publish may come later still.
    let patience = broker.timeout + publication.interval;
    while published < publication.count {
        let polled = tokio::select! {
            _ = stop.cancelled() => break,
            polled = tokio::time::timeout(patience, eventloop.poll()) => polled,
        };
        let event = polled
            .map_err(|_| {
                anyhow!(
                    "[{}] no PUBACK within {} (--timeout); {published} of {} messages acknowledged",
                    publication.client_id,
                    humantime::format_duration(patience),
                    publication.count
                )
            })?
            .map_err(|e| anyhow!(connection::explain(&e, &broker)))?;
        if let Some(seq) = acks.confirmed(&event, &publication)? {
            published += 1;
            let _ = events.send(Event::Published { seq });
        }
    }
    feeder.abort();
    if published == publication.count {
        tracing::info!(
            "[{}] all {published} messages published",
            publication.client_id
        );
    }
    connection::disconnect(&broker, &client, &mut eventloop, &publication.client_id).await
}

/// Queues messages 1..=count, pausing `interval` between them.
async fn feed(client: AsyncClient, publication: Publication, stop: CancellationToken) {
    for seq in 1..=publication.count {
        if stop.is_cancelled() {
            return;
        }
        let queued = client
            .publish_with_properties(
                publication.topic.as_str(),
                publication.qos,
                false,
                message::payload(&publication.text, seq),
                message::properties(&publication.run_id, seq),
            )
            .await;
        if queued.is_err() {
            return; // the event loop is gone; the polling side reports why
        }
        if !publication.interval.is_zero() && seq < publication.count {
            tokio::time::sleep(publication.interval).await;
        }
    }
}

/// Matches rumqttc's packet ids back to our sequence numbers.
///
/// rumqttc reports `Outgoing::Publish(pkid)` when it writes a message, in the order they were
/// queued, and `Incoming::PubAck` with the same pkid when the broker takes it. Packet ids are
/// reused, so the map only holds messages in flight.
#[derive(Default)]
struct AckTracker {
    /// The sequence number the next written message carries.
    next_seq: u32,
    in_flight: HashMap<u16, u32>,
    /// rumqttc holds back a message whose pkid is still in flight ("collision") and writes it
    /// once that pkid is acknowledged; remember which number it carried.
    held_back: Option<(u16, u32)>,
}

impl AckTracker {
    /// Returns the sequence number the broker just took responsibility for, if any.
    fn confirmed(
        &mut self,
        event: &MqttEvent,
        publication: &Publication,
    ) -> anyhow::Result<Option<u32>> {
        match event {
            MqttEvent::Outgoing(Outgoing::AwaitAck(pkid)) => {
                self.held_back = Some((*pkid, self.take_seq()));
                Ok(None)
            }
            MqttEvent::Outgoing(Outgoing::Publish(pkid)) => {
                let seq = match self.held_back {
                    Some((held, seq)) if held == *pkid => {
                        self.held_back = None;
                        seq
                    }
                    _ => self.take_seq(),
                };
                if publication.qos == QoS::AtMostOnce {
                    return Ok(Some(seq));
                }
                self.in_flight.insert(*pkid, seq);
                Ok(None)
            }
            MqttEvent::Incoming(Packet::PubAck(puback)) => {
                let Some(seq) = self.in_flight.remove(&puback.pkid) else {
                    return Ok(None);
                };
                check_puback(puback, seq, publication)?;
                Ok(Some(seq))
            }
            _ => Ok(None),
        }
    }

    fn take_seq(&mut self) -> u32 {
        self.next_seq += 1;
        self.next_seq
    }
}

/// A PUBACK with a failure reason code means the broker refused message `seq`.
fn check_puback(puback: &PubAck, seq: u32, publication: &Publication) -> anyhow::Result<()> {
    let topic = &publication.topic;
    match puback.reason {
        PubAckReason::Success => Ok(()),
        // Not a failure: the broker took the message but nobody (yet) subscribes. Our members
        // subscribed before we published, so this means the message will be missing.
        PubAckReason::NoMatchingSubscribers => {
            tracing::warn!("[{}] #{seq}: the broker reports no matching subscribers on {topic}", publication.client_id);
            Ok(())
        }
        PubAckReason::NotAuthorized => bail!(
            "[{}] PUBLISH #{seq} refused: not authorized (0x87): the IoT policy lacks iot:Publish on topic/{topic}",
            publication.client_id
        ),
        PubAckReason::TopicNameInvalid => bail!(
            "[{}] PUBLISH #{seq} refused: topic name invalid (0x90): check --topic '{topic}'",
            publication.client_id
        ),
        PubAckReason::QuotaExceeded => bail!(
            "[{}] PUBLISH #{seq} refused: quota exceeded (0x97); slow down with --interval",
            publication.client_id
        ),
        other => bail!(
            "[{}] PUBLISH #{seq} refused by the broker: {other:?}",
            publication.client_id
        ),
    }
}
