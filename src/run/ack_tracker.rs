//! Which of our numbered messages did the broker take? Matching rumqttc's packet ids back to our
//! sequence numbers, across packet-id reuse, collisions and reconnects.
//!
//! rumqttc reports `Outgoing::Publish(pkid)` when it writes a message and `Incoming::PubAck` with
//! the same pkid when the broker takes it. Packet ids are reused (they cycle through the broker's
//! Receive Maximum), so they cannot name a message for long; our number is in the message's user
//! properties, but rumqttc's events do not carry the message. What ties the two together is
//! *order*: rumqttc writes messages in the order they were queued. So the tracker keeps the numbers
//! the feeder queued, in order (`queued`), and pairs each `Outgoing::Publish(pkid)` with the first
//! of them.
//!
//! A reconnect breaks that order: see [`AckTracker::reconnected`].
//!
//! With `--publishers K`, each publisher has its own tracker for its own numbers (its
//! [`Stripe`]), kept by position (j, j+K, j+2K, … are rows 1, 2, 3, …); with `--duration` the
//! rows grow as the feeder announces numbers.

use std::collections::{BTreeSet, HashMap, VecDeque};

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::v5::{Packet, PubAck, PubAckReason};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;
use rumqttc::Outgoing;
use tokio::sync::mpsc;

use super::numbers::Stripe;
use crate::message::{self, Origin, PerMessage};
use crate::mqtt::Reconnected;

/// What the tracker knows about one message number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Not written to a connection yet.
    NotSent,
    /// Written at least once; no PUBACK for it yet.
    Sent,
    /// The publisher will send it again: the broker answered "no matching subscribers" (0x10),
    /// or a member's broken session lost it.
    Again,
    /// The broker took it (PUBACK, or written at QoS 0). Final.
    Done,
}

/// A PUBACK (or, at QoS 0, a write) that settles one of our messages.
#[derive(Debug, PartialEq, Eq)]
pub struct Confirmed {
    pub seq: u32,
    /// The PUBACK's reason code; `Success` at QoS 0.
    pub reason: PubAckReason,
}

/// Matches packet ids to sequence numbers; see the module doc.
pub struct AckTracker {
    qos: QoS,
    /// Whose numbers these are.
    stripe: Stripe,
    /// Numbers announced by the feeder, in queue order, that rumqttc has not written yet. Filled
    /// from `announced` whenever it runs dry.
    queued: VecDeque<u32>,
    announced: mpsc::UnboundedReceiver<u32>,
    /// Written, waiting for the PUBACK.
    in_flight: HashMap<u16, u32>,
    /// rumqttc holds back a message whose pkid is still in flight ("collision") and writes it
    /// once that pkid is acknowledged; remember which number it carried.
    held_back: Option<(u16, u32)>,
    /// Where each message stands, by its position in the stripe.
    progress: PerMessage<Progress>,
    /// How many are `Done`.
    acknowledged: u32,
}

impl AckTracker {
    /// A tracker for the numbers of `stripe` up to `count` (growing as they come, when the
    /// count is not known yet); the feeder announces each number on `announced` just before it
    /// queues the message.
    pub fn new(
        stripe: Stripe,
        count: Option<u32>,
        qos: QoS,
        announced: mpsc::UnboundedReceiver<u32>,
    ) -> AckTracker {
        let rows = count.map_or(0, |count| stripe.how_many(count));
        AckTracker {
            qos,
            stripe,
            queued: VecDeque::new(),
            announced,
            in_flight: HashMap::new(),
            held_back: None,
            progress: PerMessage::new(rows, || Progress::NotSent),
            acknowledged: 0,
        }
    }

    /// How many messages the broker took for good.
    pub fn acknowledged(&self) -> u32 {
        self.acknowledged
    }

    /// Returns the message this event settles, if any. PUBACK reason codes are the caller's to
    /// judge; an unknown pkid (an old connection's PUBACK) settles nothing.
    pub fn confirmed(&mut self, event: &Event) -> anyhow::Result<Option<Confirmed>> {
        match event {
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                self.held_back = Some((*pkid, self.next_written()?));
                Ok(None)
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let seq = match self.held_back {
                    Some((held, seq)) if held == *pkid => {
                        self.held_back = None;
                        seq
                    }
                    _ => self.next_written()?,
                };
                if self.qos == QoS::AtMostOnce {
                    return Ok(self.settle(seq, PubAckReason::Success));
                }
                self.set(seq, Progress::Sent);
                self.in_flight.insert(*pkid, seq);
                Ok(None)
            }
            Event::Incoming(Packet::PubAck(PubAck { pkid, reason, .. })) => {
                let Some(seq) = self.in_flight.remove(pkid) else {
                    return Ok(None);
                };
                Ok(self.settle(seq, *reason))
            }
            _ => Ok(None),
        }
    }

    /// The publisher will send `seq` again (the broker routed it to nobody, PUBACK 0x10, or a
    /// member's broken session lost it): it is not done until a later PUBACK says so.
    pub fn will_resend(&mut self, seq: u32) {
        if self.progress(seq) == Some(Progress::Done) {
            self.acknowledged -= 1;
        }
        self.set(seq, Progress::Again);
    }

    /// True once the broker took `seq` for good.
    pub fn is_done(&self, seq: u32) -> bool {
        self.progress(seq) == Some(Progress::Done)
    }

    /// A member received `seq` although its PUBACK never came: the broker had it. Settles it;
    /// true the first time.
    pub fn delivered_elsewhere(&mut self, seq: u32) -> bool {
        self.settle(seq, PubAckReason::Success).is_some()
    }

    /// Messages written at least once and never acknowledged, in order (for the books when the
    /// publisher stops early).
    pub fn unacknowledged(&self) -> Vec<u32> {
        let rows = self
            .progress
            .numbers_where(|progress| *progress == Progress::Sent);
        rows.into_iter()
            .filter_map(|row| self.stripe.nth(row))
            .collect()
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
            // A number past the rows (the count was not known): make room for it.
            if let Some(row) = self.stripe.position(seq) {
                self.progress.grow_to(row, || Progress::NotSent);
            }
            self.queued.push_back(seq);
        }
    }

    /// True if `seq` went out on a connection at least once (written, whether acknowledged or
    /// not); false for one still waiting in rumqttc's queue.
    pub fn was_written(&self, seq: u32) -> bool {
        !matches!(self.progress(seq), None | Some(Progress::NotSent))
    }

    fn progress(&self, seq: u32) -> Option<Progress> {
        self.progress.get(self.stripe.position(seq)?).copied()
    }

    fn set(&mut self, seq: u32, progress: Progress) {
        let row = self.stripe.position(seq);
        if let Some(slot) = row.and_then(|row| self.progress.get_mut(row)) {
            *slot = progress;
        }
    }

    /// Marks `seq` done; returns it the first time only (a re-send may be acknowledged twice).
    fn settle(&mut self, seq: u32, reason: PubAckReason) -> Option<Confirmed> {
        if self.progress(seq)? == Progress::Done {
            return None;
        }
        self.set(seq, Progress::Done);
        self.acknowledged += 1;
        Some(Confirmed { seq, reason })
    }

    /// The new connection knows none of the old packet ids: returns, in order, every number that
    /// must be sent again.
    ///
    /// 1. When the connection broke, rumqttc moved what it held into its `pending` list, and
    ///    `mqtt/link.rs` took the messages out ([`Reconnected::unsent`]): messages in flight
    ///    (written, not PUBACKed), one held back on a packet id collision, and those already taken
    ///    from its queue. The numbers inside say exactly which of `queued` are gone. Messages
    ///    queued after the break are still in rumqttc's queue and go out on the new connection,
    ///    in order.
    /// 2. Every old packet id is forgotten (a new connection never acknowledges an old one), and
    ///    every number not yet acknowledged is returned. The feeder queues them behind what is
    ///    still in rumqttc's queue, announcing each as usual, so the order holds again.
    /// 3. Events rumqttc read just before the break (a PUBACK, say) come out after the reconnect
    ///    but before the new CONNACK, still with old packet ids. That is why this runs only at the
    ///    CONNACK, not when the connection breaks.
    ///
    /// Messages waiting to be sent again (after a 0x10, or lost) are the publisher's business,
    /// not returned.
    pub fn reconnected(&mut self, reconnected: &Reconnected, run_id: &str) -> Vec<u32> {
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
        again.retain(|seq| {
            matches!(
                self.progress(*seq),
                Some(Progress::Sent | Progress::NotSent)
            )
        });
        again.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rumqttc::v5::mqttbytes::v5::Publish;

    use super::*;

    const RUN: &str = "0123456789abcdef";

    /// A tracker and the feeder's side of its channel.
    fn tracker(count: u32) -> (AckTracker, mpsc::UnboundedSender<u32>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let acks = AckTracker::new(Stripe::all(), Some(count), QoS::AtLeastOnce, rx);
        (acks, tx)
    }

    fn written(pkid: u16) -> Event {
        Event::Outgoing(Outgoing::Publish(pkid))
    }

    fn puback(pkid: u16, reason: PubAckReason) -> Event {
        let mut puback = PubAck::new(pkid, None);
        puback.reason = reason;
        Event::Incoming(Packet::PubAck(puback))
    }

    fn acked(tracker: &mut AckTracker, pkid: u16) -> Option<u32> {
        let confirmed = tracker.confirmed(&puback(pkid, PubAckReason::Success));
        confirmed.expect("no error").map(|c| c.seq)
    }

    fn reconnect(unsent: &[u32]) -> Reconnected {
        Reconnected {
            attempts: 1,
            downtime: Duration::from_millis(500),
            session_present: false,
            unsent: unsent
                .iter()
                .map(|&seq| {
                    Publish::new(
                        "t",
                        QoS::AtLeastOnce,
                        message::payload("m", seq),
                        Some(message::properties(RUN, seq)),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn pubacks_out_of_order_settle_the_right_numbers() {
        let (mut acks, feeder) = tracker(3);
        for seq in 1..=3 {
            feeder.send(seq).unwrap();
        }
        for pkid in 1..=3 {
            assert_eq!(acks.confirmed(&written(pkid)).unwrap(), None);
        }
        assert_eq!(acked(&mut acks, 3), Some(3));
        assert_eq!(acked(&mut acks, 1), Some(1));
        assert_eq!(acks.unacknowledged(), vec![2]);
        assert_eq!(acked(&mut acks, 2), Some(2));
        assert_eq!(acks.acknowledged(), 3);
        // A second PUBACK for a pkid no longer in flight settles nothing.
        assert_eq!(acked(&mut acks, 2), None);
    }

    #[test]
    fn a_reused_packet_id_names_the_newer_message() {
        let (mut acks, feeder) = tracker(3);
        feeder.send(1).unwrap();
        feeder.send(2).unwrap();
        acks.confirmed(&written(1)).unwrap();
        assert_eq!(acked(&mut acks, 1), Some(1));
        // The broker's Receive Maximum lets pkid 1 come round again, now for message 2.
        acks.confirmed(&written(1)).unwrap();
        assert_eq!(acked(&mut acks, 1), Some(2));
    }

    #[test]
    fn a_message_held_back_on_a_collision_keeps_its_number() {
        let (mut acks, feeder) = tracker(3);
        for seq in 1..=3 {
            feeder.send(seq).unwrap();
        }
        acks.confirmed(&written(1)).unwrap();
        acks.confirmed(&written(2)).unwrap();
        // rumqttc wants pkid 1 again while it is still in flight: it holds message 3 back...
        acks.confirmed(&Event::Outgoing(Outgoing::AwaitAck(1)))
            .unwrap();
        assert_eq!(acked(&mut acks, 1), Some(1));
        // ...and writes it once pkid 1 is free.
        acks.confirmed(&written(1)).unwrap();
        assert_eq!(acked(&mut acks, 2), Some(2));
        assert_eq!(acked(&mut acks, 1), Some(3));
    }

    #[test]
    fn after_a_reconnect_what_was_not_acknowledged_is_sent_again_in_order() {
        let (mut acks, feeder) = tracker(6);
        for seq in 1..=5 {
            feeder.send(seq).unwrap();
        }
        for pkid in 1..=3 {
            acks.confirmed(&written(pkid)).unwrap();
        }
        assert_eq!(acked(&mut acks, 2), Some(2));
        // The connection breaks with 1 and 3 in flight and 4 taken from the queue; 5 is still in
        // rumqttc's queue and goes out on the new connection by itself.
        let again = acks.reconnected(&reconnect(&[1, 3, 4]), RUN);
        assert_eq!(again, vec![1, 3, 4]);
        // An old connection's PUBACK, read just before the break, settles nothing now.
        assert_eq!(acked(&mut acks, 1), None);
        // New connection: 5 first (still queued), then the feeder's re-sends, then 6.
        for seq in [1, 3, 4, 6] {
            feeder.send(seq).unwrap();
        }
        for pkid in 1..=5 {
            acks.confirmed(&written(pkid)).unwrap();
        }
        let settled: Vec<Option<u32>> = (1..=5).map(|pkid| acked(&mut acks, pkid)).collect();
        assert_eq!(settled, [Some(5), Some(1), Some(3), Some(4), Some(6)]);
        assert_eq!(acks.acknowledged(), 6);
        assert!(acks.unacknowledged().is_empty());
    }

    #[test]
    fn a_message_routed_to_nobody_is_not_done_until_it_is_sent_again() {
        let (mut acks, feeder) = tracker(2);
        feeder.send(1).unwrap();
        feeder.send(2).unwrap();
        acks.confirmed(&written(1)).unwrap();
        acks.confirmed(&written(2)).unwrap();
        let unrouted = acks
            .confirmed(&puback(1, PubAckReason::NoMatchingSubscribers))
            .unwrap();
        assert_eq!(
            unrouted,
            Some(Confirmed {
                seq: 1,
                reason: PubAckReason::NoMatchingSubscribers
            })
        );
        acks.will_resend(1);
        assert_eq!(acks.acknowledged(), 0);
        // Waiting for the group is not "sent and unacknowledged", and a reconnect leaves it alone.
        assert_eq!(acks.unacknowledged(), vec![2]);
        assert_eq!(acks.reconnected(&reconnect(&[2]), RUN), vec![2]);
        feeder.send(2).unwrap();
        feeder.send(1).unwrap();
        acks.confirmed(&written(7)).unwrap();
        acks.confirmed(&written(8)).unwrap();
        assert_eq!(acked(&mut acks, 8), Some(1));
        assert_eq!(acked(&mut acks, 7), Some(2));
        assert_eq!(acks.acknowledged(), 2);
    }

    #[test]
    fn a_message_a_member_already_has_is_settled_once_without_its_puback() {
        let (mut acks, feeder) = tracker(2);
        feeder.send(1).unwrap();
        acks.confirmed(&written(1)).unwrap();
        assert_eq!(acks.reconnected(&reconnect(&[1]), RUN), vec![1]);
        assert!(acks.delivered_elsewhere(1));
        assert!(!acks.delivered_elsewhere(1));
        assert_eq!(acks.acknowledged(), 1);
        assert!(acks.unacknowledged().is_empty());
    }

    #[test]
    fn a_write_nobody_announced_is_an_error_not_a_guess() {
        let (mut acks, _feeder) = tracker(1);
        let error = acks.confirmed(&written(1)).unwrap_err();
        assert!(error.to_string().contains("did not queue"), "{error}");
    }

    #[test]
    fn at_qos_0_a_write_is_all_there_is() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut acks = AckTracker::new(Stripe::all(), Some(2), QoS::AtMostOnce, rx);
        tx.send(1).unwrap();
        let confirmed = acks.confirmed(&written(0)).unwrap();
        assert_eq!(confirmed.map(|c| c.seq), Some(1));
        assert_eq!(acks.acknowledged(), 1);
        assert!(acks.unacknowledged().is_empty());
    }

    /// Publisher 2 of 3, its count not known yet: rows grow as numbers come, and what it
    /// reports is in the run's numbers.
    #[test]
    fn a_stripe_of_unknown_length_tracks_its_own_numbers() {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut acks = AckTracker::new(Stripe::new(2, 3), None, QoS::AtLeastOnce, rx);
        for seq in [2, 5, 8] {
            tx.send(seq).unwrap();
        }
        for pkid in 1..=3 {
            acks.confirmed(&written(pkid)).unwrap();
        }
        assert_eq!(acked(&mut acks, 2), Some(5));
        assert_eq!(acks.unacknowledged(), vec![2, 8]);
        assert!(acks.is_done(5) && !acks.is_done(4));
        assert_eq!(acks.acknowledged(), 1);
    }
}
