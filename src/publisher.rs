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
//! QoS 1; at QoS 0, when rumqttc hands it to the connection (all QoS 0 promises: a connection that
//! breaks right then loses it).
//!
//! ## When the connection breaks
//!
//! rumqttc drops, on a reconnect to a new session, every message it still held: those written but
//! not yet PUBACKed and those still waiting in its queue. The broker may never have seen them. So the
//! publisher sends them again, which takes knowing *which* numbers they were. rumqttc reports packet
//! ids, not our numbers; the `AckTracker` turns one into the other, and its doc says how it
//! stays right across a reconnect. A message sent again may reach the group twice (the broker had
//! routed it but its PUBACK was lost with the connection); the report counts that as duplicated,
//! which is honest: at-least-once is what QoS 1 promises.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use anyhow::{anyhow, bail};
use rumqttc::v5::mqttbytes::v5::{Packet, PubAck, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, Event as MqttEvent};
use rumqttc::Outgoing;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connection::{Broker, Connection, Polled, Reconnected};
use crate::event::Event;
use crate::message::{self, Origin};
use crate::report::compact_list;

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
    // Ctrl-C while connecting must not wait out --timeout.
    let (mut connection, connack) = tokio::select! {
        _ = stop.cancelled() => return Ok(()),
        opened = Connection::open(&broker, &publication.client_id) => opened?,
    };
    let _ = events.send(Event::Connected {
        client_id: publication.client_id.clone(),
        session_present: connack.session_present,
    });

    // The feeder tells the tracker each number it queues (`queued`), and takes numbers to send
    // again after a reconnect (`again`).
    let (queued_tx, queued_rx) = mpsc::unbounded_channel();
    let (again_tx, again_rx) = mpsc::unbounded_channel();
    let feeder = tokio::spawn(feed(
        connection.client().clone(),
        publication.clone(),
        queued_tx,
        again_rx,
        stop.clone(),
    ));
    let mut acks = AckTracker::new(publication.count, queued_rx);
    let published = publish_all(
        &broker,
        &publication,
        &mut connection,
        &mut acks,
        &again_tx,
        &events,
        &stop,
    )
    .await;
    feeder.abort();
    published?;
    connection.close().await
}

/// Polls until every message is acknowledged (or `stop`), sending lost messages again after a
/// reconnect.
async fn publish_all(
    broker: &Broker,
    publication: &Publication,
    connection: &mut Connection,
    acks: &mut AckTracker,
    again: &mpsc::UnboundedSender<Vec<u32>>,
    events: &mpsc::UnboundedSender<Event>,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let id = &publication.client_id;
    // A PUBACK may take up to --timeout; with a slow --interval the next publish may come later still.
    let patience = broker.timeout + publication.interval;
    let mut deadline = Instant::now() + patience;
    let mut told_about_no_subscribers = false;
    while acks.acknowledged < publication.count {
        let polled = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            polled = connection.poll_until(deadline) => polled?,
        };
        let Some(polled) = polled else {
            bail!(
                "[{id}] no PUBACK within {} (--timeout); {} of {} messages acknowledged",
                humantime::format_duration(patience),
                acks.acknowledged,
                publication.count
            );
        };
        match polled {
            Polled::Event(event) => {
                let Some(confirmed) = acks.confirmed(&event, publication)? else {
                    continue;
                };
                deadline = Instant::now() + patience;
                if confirmed.no_matching_subscribers && !told_about_no_subscribers {
                    told_about_no_subscribers = true;
                    tracing::warn!(
                        "[{id}] the broker took #{} but no member was subscribed (PUBACK 0x10, no matching subscribers): it went to nobody; the report counts all such messages",
                        confirmed.seq
                    );
                }
                let _ = events.send(Event::Published {
                    seq: confirmed.seq,
                    no_matching_subscribers: confirmed.no_matching_subscribers,
                });
            }
            Polled::Lost => {} // connection.rs logged it and reconnects on the next poll
            Polled::Reconnected(reconnected) => {
                deadline = Instant::now() + patience;
                let _ = events.send(Event::reconnected(id, &reconnected));
                let resend = acks.reconnected(&reconnected, &publication.run_id);
                if !resend.is_empty() {
                    tracing::info!(
                        "[{id}] sending {} messages again that the old connection left unacknowledged: {}",
                        resend.len(),
                        compact_list(&resend, 10)
                    );
                    // The feeder only ends once it cannot queue anymore; then polling fails too.
                    let _ = again.send(resend);
                }
            }
        }
    }
    tracing::debug!("[{id}] all {} messages published", publication.count);
    Ok(())
}

/// Queues messages 1..=count, `interval` apart, and first of all any message the publisher asks
/// to send again.
///
/// Before queueing a message it announces its number on `queued`, so by the time rumqttc writes the
/// message and reports its packet id, the tracker knows which number that is.
async fn feed(
    client: AsyncClient,
    publication: Publication,
    queued: mpsc::UnboundedSender<u32>,
    mut again: mpsc::UnboundedReceiver<Vec<u32>>,
    stop: CancellationToken,
) {
    let mut fresh = 1..=publication.count;
    // `None`: due now. Even a sleep until a moment already past waits for the timer's next tick
    // (about a millisecond), which would cap an --interval 0 run at ~1000 messages a second.
    let mut next_due: Option<Instant> = None;
    loop {
        let seqs: Vec<u32> = tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            resend = again.recv() => match resend {
                Some(seqs) => seqs,
                None => return,
            },
            _ = due(next_due), if !fresh.is_empty() => {
                next_due = (!publication.interval.is_zero())
                    .then(|| Instant::now() + publication.interval);
                fresh.next().into_iter().collect()
            }
        };
        for seq in seqs {
            if queued.send(seq).is_err() {
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
        }
    }
}

/// Completes at `when`, or at once for `None`.
async fn due(when: Option<Instant>) {
    if let Some(when) = when {
        tokio::time::sleep_until(when).await;
    }
}

/// A message the broker took responsibility for.
struct Confirmed {
    seq: u32,
    /// The PUBACK said 0x10: nobody was subscribed, the broker dropped it.
    no_matching_subscribers: bool,
}

/// Matches rumqttc's packet ids back to our sequence numbers, across reconnects.
///
/// rumqttc reports `Outgoing::Publish(pkid)` when it writes a message and `Incoming::PubAck` with
/// the same pkid when the broker takes it. Packet ids are reused (they cycle through the broker's
/// Receive Maximum), so they cannot name a message for long; our number is in the message's user
/// properties, but rumqttc's events do not carry the message. What ties the two together is
/// *order*: rumqttc writes messages in the order they were queued. So the tracker keeps the numbers
/// the feeder queued, in order (`queued`), and pairs each `Outgoing::Publish(pkid)` with the first
/// of them.
///
/// A reconnect breaks that order: see [`AckTracker::reconnected`].
struct AckTracker {
    /// Numbers announced by the feeder, in queue order, that rumqttc has not written yet. Filled
    /// from `announced` whenever it runs dry.
    queued: VecDeque<u32>,
    announced: mpsc::UnboundedReceiver<u32>,
    /// Written, waiting for the PUBACK.
    in_flight: HashMap<u16, u32>,
    /// rumqttc holds back a message whose pkid is still in flight ("collision") and writes it
    /// once that pkid is acknowledged; remember which number it carried.
    held_back: Option<(u16, u32)>,
    /// `done[seq - 1]`: the broker took message `seq`.
    done: Vec<bool>,
    /// How many of `done` are true.
    acknowledged: u32,
}

impl AckTracker {
    fn new(count: u32, announced: mpsc::UnboundedReceiver<u32>) -> AckTracker {
        AckTracker {
            queued: VecDeque::new(),
            announced,
            in_flight: HashMap::new(),
            held_back: None,
            done: vec![false; count as usize],
            acknowledged: 0,
        }
    }

    /// Returns the message the broker just took responsibility for, if any.
    fn confirmed(
        &mut self,
        event: &MqttEvent,
        publication: &Publication,
    ) -> anyhow::Result<Option<Confirmed>> {
        match event {
            MqttEvent::Outgoing(Outgoing::AwaitAck(pkid)) => {
                self.held_back = Some((*pkid, self.next_written()?));
                Ok(None)
            }
            MqttEvent::Outgoing(Outgoing::Publish(pkid)) => {
                let seq = match self.held_back {
                    Some((held, seq)) if held == *pkid => {
                        self.held_back = None;
                        seq
                    }
                    _ => self.next_written()?,
                };
                if publication.qos == QoS::AtMostOnce {
                    return Ok(self.mark_done(seq, false));
                }
                self.in_flight.insert(*pkid, seq);
                Ok(None)
            }
            MqttEvent::Incoming(Packet::PubAck(puback)) => {
                let Some(seq) = self.in_flight.remove(&puback.pkid) else {
                    return Ok(None);
                };
                let no_matching_subscribers = check_puback(puback, seq, publication)?;
                Ok(self.mark_done(seq, no_matching_subscribers))
            }
            _ => Ok(None),
        }
    }

    /// The number of the message rumqttc just took from its queue: the oldest one announced.
    fn next_written(&mut self) -> anyhow::Result<u32> {
        self.take_announced();
        self.queued.pop_front().ok_or_else(|| {
            anyhow!("internal error: rumqttc wrote a message the publisher did not queue")
        })
    }

    fn take_announced(&mut self) {
        while let Ok(seq) = self.announced.try_recv() {
            self.queued.push_back(seq);
        }
    }

    /// True once the broker took message `seq`.
    fn is_done(&self, seq: u32) -> bool {
        let slot = (seq as usize).checked_sub(1);
        slot.and_then(|slot| self.done.get(slot)).copied() == Some(true)
    }

    /// Marks `seq` done; returns it the first time only.
    fn mark_done(&mut self, seq: u32, no_matching_subscribers: bool) -> Option<Confirmed> {
        let slot = (seq as usize).checked_sub(1)?;
        if std::mem::replace(self.done.get_mut(slot)?, true) {
            return None;
        }
        self.acknowledged += 1;
        Some(Confirmed {
            seq,
            no_matching_subscribers,
        })
    }

    /// The new session knows none of the old packet ids: returns, in order, every number that
    /// must be sent again.
    ///
    /// 1. When the connection broke, rumqttc moved what it held into its `pending` list, and the
    ///    new, clean session cleared that list: messages in flight (written, not PUBACKed), one
    ///    held back on a packet id collision, and those already taken from its queue.
    ///    `connection.rs` rescued them ([`Reconnected::unsent`]); the numbers inside say exactly
    ///    which of `queued` are gone. Messages queued after the break are still in rumqttc's queue
    ///    and go out on the new connection, in order.
    /// 2. Every old packet id is forgotten (a new connection never acknowledges an old one), and
    ///    every number not yet acknowledged is returned. The feeder queues them behind what is
    ///    still in rumqttc's queue, announcing each as usual, so the order holds again.
    /// 3. Events rumqttc read just before the break (a PUBACK, say) come out after the reconnect
    ///    but before the new CONNACK, still with old packet ids. That is why this runs only at the
    ///    CONNACK, not when the connection breaks.
    fn reconnected(&mut self, reconnected: &Reconnected, run_id: &str) -> Vec<u32> {
        self.take_announced();
        let dropped: BTreeSet<u32> = reconnected
            .unsent
            .iter()
            .filter_map(|publish| match message::identify(publish, run_id) {
                Origin::Ours(seq) => Some(seq),
                Origin::Foreign => None,
            })
            .collect();
        // Gone with rumqttc's pending list; the rest of `queued` is still in its queue.
        self.queued.retain(|seq| !dropped.contains(seq));
        let mut again = dropped;
        // Written but never acknowledged: also in `unsent`, but our own books say so too.
        again.extend(self.in_flight.drain().map(|(_, seq)| seq));
        again.extend(self.held_back.take().map(|(_, seq)| seq));
        again.retain(|seq| !self.is_done(*seq));
        again.into_iter().collect()
    }
}

/// A PUBACK with a failure reason code means the broker refused message `seq`.
///
/// Returns true for "no matching subscribers" (0x10), which is not a failure: the broker took the
/// message, but nobody was subscribed. Our members subscribe before we publish, so this happens
/// only while the group has no member connected (a broker restart): the message will be missing.
fn check_puback(puback: &PubAck, seq: u32, publication: &Publication) -> anyhow::Result<bool> {
    let topic = &publication.topic;
    match puback.reason {
        PubAckReason::Success => Ok(false),
        PubAckReason::NoMatchingSubscribers => Ok(true),
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
