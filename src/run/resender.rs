//! Each publisher's messages found lost go back to that publisher: the run's side of `lost.rs`.
//!
//! The order `lost.rs` rests on is per publisher connection (MQTT 5 §4.6: the messages "received
//! from any given Client"), so with `--publishers K` the run keeps one [`LostWatch`] per
//! publisher, numbering that publisher's PUBACKs and each member's marks among its own messages
//! (`numbers.rs`: who sent a number is arithmetic), and feeds every watch from the run's events.
//! What a watch finds lost goes down a line to the publisher that sent it, which sends it again.
//!
//! ## Waiting a moment on AWS IoT Core
//!
//! mosquitto and the demo broker keep that order, so what a watch finds lost is gone, and goes
//! out at once. AWS IoT Core does not promise it: "The message broker doesn't guarantee the order
//! in which messages and ACK are received" (developer guide, page "MQTT", section "AWS IoT
//! differences from MQTT specifications"). There a message the watch finds lost may only be
//! late, and sending it at once would make a duplicate of it. So on AWS a message found lost
//! waits [`AWS_ORDER_GRACE`] first, and goes out only if it has not arrived by then; one that
//! arrives meanwhile was late, not lost. (How late AWS delivers out of order could not be
//! measured here: nothing reaches AWS. The grace narrows the window; it cannot close it.)

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::event::RunEvent;
use super::lost::LostWatch;
use super::numbers::Stripe;
use super::roster::Client;

/// How long a message found lost waits on AWS IoT Core before it is sent again (see above).
pub const AWS_ORDER_GRACE: Duration = Duration::from_secs(2);

/// The run's side: one watch per publisher, fed from the events, and a line to each publisher
/// that sends what its watch finds lost again.
pub struct Resender {
    /// Publisher j's numbers and its watch, which counts them by their position among its own
    /// (see `numbers.rs`), at index j - 1.
    watches: Vec<(Stripe, LostWatch)>,
    lines: Vec<mpsc::UnboundedSender<Vec<u32>>>,
    /// The publishers' ends of the lines, until each publisher starts.
    publishers: Vec<Option<mpsc::UnboundedReceiver<Vec<u32>>>>,
    /// How long a message found lost waits before it goes out: zero where order holds.
    grace: Duration,
    /// Found lost and waiting out `grace`, in the order they were found: when, and the number.
    suspects: Vec<(Instant, u32)>,
}

impl Resender {
    /// For messages `1..=count` (growing, with `None`), the `members` rows of the (one) group's
    /// books, and `publishers` publishers.
    pub fn new(count: Option<u32>, members: usize, publishers: u32) -> Resender {
        let publishers = publishers.max(1);
        let mut resender = Resender {
            watches: Vec::new(),
            lines: Vec::new(),
            publishers: Vec::new(),
            grace: Duration::ZERO,
            suspects: Vec::new(),
        };
        for j in 1..=publishers {
            let stripe = Stripe::new(j, publishers);
            let rows = count.map_or(0, |count| stripe.how_many(count));
            let (line, publisher) = mpsc::unbounded_channel();
            resender
                .watches
                .push((stripe, LostWatch::new(rows, members)));
            resender.lines.push(line);
            resender.publishers.push(Some(publisher));
        }
        resender
    }

    /// Messages found lost wait `grace` before they go out: for a broker that does not keep
    /// one order (AWS IoT Core).
    pub fn wait_before_resending(&mut self, grace: Duration) {
        self.grace = grace;
    }

    /// When the first message found lost has waited long enough; `None` when none waits.
    pub fn next_due(&self) -> Option<Instant> {
        let (found, _) = self.suspects.first()?;
        Some(*found + self.grace)
    }

    /// Publisher `j`'s end of its line (once), j from 1.
    pub fn publisher_end(&mut self, j: u32) -> Option<mpsc::UnboundedReceiver<Vec<u32>>> {
        self.publishers.get_mut(j.checked_sub(1)? as usize)?.take()
    }

    /// The watch of the publisher that sent `seq`, and `seq`'s place among its numbers.
    fn watch_of(&mut self, seq: u32) -> Option<(&mut LostWatch, u32)> {
        let of = self.watches.len() as u32;
        let (stripe, watch) = self.watches.get_mut(Stripe::owner(seq, of) as usize - 1)?;
        Some((watch, stripe.position(seq)?))
    }

    /// Follows what the broker took, what the members received, and their sessions.
    pub fn follow(&mut self, event: &RunEvent) {
        let member = |client: &Client| client.member().map(|member| member.seat().index);
        let every = |resender: &mut Resender, apply: &dyn Fn(&mut LostWatch)| {
            resender
                .watches
                .iter_mut()
                .for_each(|(_, watch)| apply(watch));
        };
        match event {
            RunEvent::Published {
                seq,
                unrouted: false,
            } => {
                if let Some((watch, row)) = self.watch_of(*seq) {
                    watch.published(row);
                }
            }
            RunEvent::Received(receipt) => {
                // Late, not lost: it no longer waits to go out again.
                if let Some(seq) = receipt.seq {
                    self.suspects.retain(|(_, suspect)| *suspect != seq);
                }
                let index = receipt.member.seat().index;
                if let Some((watch, row)) = receipt.seq.and_then(|seq| self.watch_of(seq)) {
                    watch.received(index, row);
                }
            }
            RunEvent::Connected { client, .. } => {
                if let Some(m) = member(client) {
                    every(self, &|watch| watch.connected(m));
                }
            }
            RunEvent::ConnectionLost { client, .. } => {
                if let Some(m) = member(client) {
                    every(self, &|watch| watch.broke(m));
                }
            }
            RunEvent::Reconnected {
                client,
                session_present,
                ..
            } => {
                if let Some(m) = member(client) {
                    every(self, &|watch| watch.reconnected(m, *session_present));
                }
            }
            _ => {}
        }
    }

    /// `client`'s task ended: a member sends nothing more.
    pub fn ended(&mut self, client: &Client) {
        if let Some(member) = client.member() {
            let index = member.seat().index;
            self.watches
                .iter_mut()
                .for_each(|(_, watch)| watch.gone(index));
        }
    }

    /// What is now known lost and has waited out the grace, each number sent to its own
    /// publisher to send again; all of them, in order, or `None` when nothing is.
    pub fn send_lost(&mut self) -> Option<Vec<u32>> {
        let now = Instant::now();
        for (stripe, watch) in &mut self.watches {
            let found = watch.lost().into_iter().filter_map(|row| stripe.nth(row));
            self.suspects.extend(found.map(|seq| (now, seq)));
        }
        let waited = self
            .suspects
            .iter()
            .take_while(|(found, _)| *found + self.grace <= now)
            .count();
        let mut due: Vec<u32> = self.suspects.drain(..waited).map(|(_, seq)| seq).collect();
        due.sort_unstable();
        let of = self.lines.len() as u32;
        for (j, line) in (1..).zip(&self.lines) {
            let its: Vec<u32> = due
                .iter()
                .copied()
                .filter(|seq| Stripe::owner(*seq, of) == j)
                .collect();
            if !its.is_empty() {
                let _ = line.send(its);
            }
        }
        (!due.is_empty()).then_some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::event::{Receipt, Via};
    use crate::run::roster::{MemberRef, Roster};

    /// Two members and two publishers, 12 messages; their lines as the publishers hold them.
    struct Scene {
        members: [MemberRef; 2],
        resender: Resender,
        first: mpsc::UnboundedReceiver<Vec<u32>>,
        second: mpsc::UnboundedReceiver<Vec<u32>>,
    }

    impl Scene {
        fn new() -> Scene {
            let mut roster = Roster::new();
            let members = [roster.seat("m1", "t", 0), roster.seat("m2", "t", 0)];
            let mut resender = Resender::new(Some(12), 2, 2);
            let first = resender.publisher_end(1).expect("line 1");
            let second = resender.publisher_end(2).expect("line 2");
            Scene {
                members,
                resender,
                first,
                second,
            }
        }

        fn client(&self, k: usize) -> Client {
            Client::Member(self.members[k].clone())
        }

        fn receive(&mut self, k: usize, seq: u32) {
            self.resender.follow(&RunEvent::Received(Receipt {
                member: self.members[k].clone(),
                seq: Some(seq),
                payload: String::new(),
                dup: false,
                via: Via::FIRST,
                latency_ms: None,
            }));
        }

        fn publish(&mut self, seqs: std::ops::RangeInclusive<u32>) {
            for seq in seqs {
                let unrouted = false;
                self.resender.follow(&RunEvent::Published { seq, unrouted });
            }
        }

        /// Publisher 2 (even numbers) had #4 and #6 on their way to member 2 when its
        /// connection broke; publisher 1's odd numbers all arrived. Then #7 to #10 arrive.
        fn member_2_breaks_with_4_and_6_on_their_way(&mut self) {
            for k in 0..2 {
                let (client, session_present) = (self.client(k), false);
                self.resender.follow(&RunEvent::Connected {
                    client,
                    session_present,
                });
            }
            self.publish(1..=6);
            for seq in [1, 3, 5] {
                self.receive(0, seq);
            }
            self.receive(1, 2);
            let (client, reason) = (self.client(1), "cut".to_owned());
            self.resender
                .follow(&RunEvent::ConnectionLost { client, reason });
            self.resender.follow(&RunEvent::Reconnected {
                client: self.client(1),
                attempts: 1,
                downtime_ms: 100,
                session_present: false,
            });
            self.publish(7..=10);
            for (k, seq) in [(1, 7), (1, 8), (0, 9), (0, 10)] {
                self.receive(k, seq);
            }
        }
    }

    /// Two publishers: each keeps its own order, and what one's watch finds lost goes back to
    /// the publisher that sent it.
    #[test]
    fn a_lost_message_goes_back_to_the_publisher_that_sent_it() {
        let mut scene = Scene::new();
        scene.member_2_breaks_with_4_and_6_on_their_way();
        assert_eq!(scene.resender.send_lost(), Some(vec![4, 6]));
        assert!(scene.first.try_recv().is_err(), "publisher 1 lost nothing");
        assert_eq!(scene.second.try_recv().ok(), Some(vec![4, 6]));
        assert_eq!(scene.resender.next_due(), None, "nothing waits");
    }

    /// On AWS IoT Core (no order promised) a message found lost waits out the grace; one that
    /// arrives meanwhile was late, and is not sent again.
    #[tokio::test(start_paused = true)]
    async fn on_aws_a_message_found_lost_waits_and_a_late_one_is_not_sent_again() {
        let mut scene = Scene::new();
        scene.resender.wait_before_resending(AWS_ORDER_GRACE);
        let start = Instant::now();
        scene.member_2_breaks_with_4_and_6_on_their_way();
        assert_eq!(scene.resender.send_lost(), None, "nothing goes out at once");
        assert_eq!(scene.resender.next_due(), Some(start + AWS_ORDER_GRACE));
        tokio::time::advance(AWS_ORDER_GRACE / 2).await;
        scene.receive(1, 4);
        assert_eq!(scene.resender.send_lost(), None, "#6 still waits");
        tokio::time::advance(AWS_ORDER_GRACE / 2).await;
        assert_eq!(scene.resender.send_lost(), Some(vec![6]), "#4 came late");
        assert_eq!(scene.second.try_recv().ok(), Some(vec![6]));
        assert_eq!(scene.resender.next_due(), None);
    }
}
