//! Each publisher's messages found lost go back to that publisher: the run's side of `lost.rs`.
//!
//! The order `lost.rs` rests on is per publisher connection (MQTT 5 §4.6: the messages "received
//! from any given Client"), so with `--publishers K` the run keeps one [`LostWatch`] per
//! publisher, numbering that publisher's PUBACKs and each member's marks among its own messages
//! (`numbers.rs`: who sent a number is arithmetic), and feeds every watch from the run's events.
//! What a watch finds lost goes down a line to the publisher that sent it, which sends it again.

use tokio::sync::mpsc;

use super::event::RunEvent;
use super::lost::LostWatch;
use super::numbers::Stripe;
use super::roster::Client;

/// The run's side: one watch per publisher, fed from the events, and a line to each publisher
/// that sends what its watch finds lost again.
pub struct Resender {
    /// Publisher j's numbers and its watch, which counts them by their position among its own
    /// (see `numbers.rs`), at index j - 1.
    watches: Vec<(Stripe, LostWatch)>,
    lines: Vec<mpsc::UnboundedSender<Vec<u32>>>,
    /// The publishers' ends of the lines, until each publisher starts.
    publishers: Vec<Option<mpsc::UnboundedReceiver<Vec<u32>>>>,
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

    /// What is now known lost, each number sent to its own publisher to send again; all of
    /// them, in order, or `None` when nothing is.
    pub fn send_lost(&mut self) -> Option<Vec<u32>> {
        let mut all = Vec::new();
        for ((stripe, watch), line) in self.watches.iter_mut().zip(&self.lines) {
            let lost: Vec<u32> = watch
                .lost()
                .into_iter()
                .filter_map(|row| stripe.nth(row))
                .collect();
            if !lost.is_empty() {
                all.extend_from_slice(&lost);
                let _ = line.send(lost);
            }
        }
        all.sort_unstable();
        (!all.is_empty()).then_some(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two publishers: each keeps its own order, and what one's watch finds lost goes back to
    /// the publisher that sent it. Publisher 2 (even numbers) had #4 and #6 on their way to
    /// member 2 when its connection broke; publisher 1's odd numbers all arrived.
    #[test]
    fn a_lost_message_goes_back_to_the_publisher_that_sent_it() {
        use crate::run::event::Receipt;
        use crate::run::roster::Roster;

        let mut roster = Roster::new();
        let members = [roster.seat("m1", "t", 0), roster.seat("m2", "t", 0)];
        let mut resender = Resender::new(Some(12), 2, 2);
        let (mut first, mut second) = (
            resender.publisher_end(1).expect("line 1"),
            resender.publisher_end(2).expect("line 2"),
        );
        let client = |k: usize| Client::Member(members[k].clone());
        let receive = |resender: &mut Resender, k: usize, seq: u32| {
            resender.follow(&RunEvent::Received(Receipt {
                member: members[k].clone(),
                seq: Some(seq),
                payload: String::new(),
                dup: false,
                via: crate::run::event::Via::FIRST,
                latency_ms: None,
            }))
        };
        for k in 0..2 {
            let (client, session_present) = (client(k), false);
            resender.follow(&RunEvent::Connected {
                client,
                session_present,
            });
        }
        for seq in 1..=6 {
            let unrouted = false;
            resender.follow(&RunEvent::Published { seq, unrouted });
        }
        for seq in [1, 3, 5] {
            receive(&mut resender, 0, seq);
        }
        receive(&mut resender, 1, 2);
        let reason = "cut".to_owned();
        resender.follow(&RunEvent::ConnectionLost {
            client: client(1),
            reason,
        });
        resender.follow(&RunEvent::Reconnected {
            client: client(1),
            attempts: 1,
            downtime_ms: 100,
            session_present: false,
        });
        for seq in 7..=10 {
            let unrouted = false;
            resender.follow(&RunEvent::Published { seq, unrouted });
        }
        for (k, seq) in [(1, 7), (1, 8), (0, 9), (0, 10)] {
            receive(&mut resender, k, seq);
        }
        assert_eq!(resender.send_lost(), Some(vec![4, 6]));
        assert!(first.try_recv().is_err(), "publisher 1 lost nothing");
        assert_eq!(second.try_recv().ok(), Some(vec![4, 6]));
    }
}
