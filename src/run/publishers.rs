//! The publishers' own line in the books: how many messages each sent, and how fast.
//!
//! Who sent a number is arithmetic (`numbers.rs`), so the loop needs no event of its own for it:
//! it notes when publishing began and when each publisher's last PUBACK came, and at the end
//! counts each publisher's numbers among what was sent.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::fairness::Pattern;
use super::numbers::Stripe;
use super::summary::{ByMember, Ranges, Summary};
use super::{Plan, Role};

/// One publisher in the summary's `publishers`; empty from members alone, and `--merge` takes
/// the publisher process's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PublisherSummary {
    /// Messages it sent at least once: its own numbers among the summary's `sent`.
    pub count: u32,
    /// Its messages a second, from the start of publishing to its last PUBACK; 0 with none.
    pub per_second: f64,
}

/// What the loop notes of the publishers as the run goes.
pub struct Publishers {
    ids: Vec<String>,
    /// When the publishers started.
    started: Option<Instant>,
    /// When each one's last message was taken by the broker.
    last: Vec<Option<Instant>>,
}

impl Publishers {
    /// The publishers of `plan` (none for members alone).
    pub fn new(plan: &Plan) -> Publishers {
        let ids = match plan.role {
            Role::Subscriber => Vec::new(),
            _ => plan.publisher_ids(),
        };
        Publishers {
            last: vec![None; ids.len()],
            ids,
            started: None,
        }
    }

    /// The publishers start now.
    pub fn started(&mut self) {
        self.started = Some(Instant::now());
    }

    /// The broker took message `seq`.
    pub fn published(&mut self, seq: u32) {
        let of = self.ids.len() as u32;
        let owner = Stripe::owner(seq, of) as usize;
        if let Some(last) = self.last.get_mut(owner.wrapping_sub(1)) {
            *last = Some(Instant::now());
        }
    }

    /// Each publisher's count and rate, by client id, given the numbers that were `sent`.
    pub fn summary(&self, sent: &Ranges) -> ByMember<PublisherSummary> {
        let of = self.ids.len() as u32;
        let (ids, ends) = (self.ids.iter(), self.last.iter());
        (1..)
            .zip(ids.zip(ends))
            .map(|(j, (id, end))| {
                let count = Stripe::new(j, of).how_many_in(sent.bounds());
                let seconds = match (self.started, end) {
                    (Some(started), Some(end)) => end.duration_since(started).as_secs_f64(),
                    _ => 0.0,
                };
                let per_second = match seconds {
                    s if s > 0.0 => (f64::from(count) / s * 10.0).round() / 10.0,
                    _ => 0.0,
                };
                (id.clone(), PublisherSummary { count, per_second })
            })
            .collect()
    }
}

impl Summary {
    /// The run's publishers (`--publishers`), in this summary and in each group's. With more
    /// than one, the pattern of the split is not judged: it is read from the order of the
    /// numbers, and K publishers' numbers reach the broker in an order of their own.
    pub fn with_publishers(mut self, publishers: ByMember<PublisherSummary>) -> Summary {
        if publishers.len() > 1 {
            self.fairness.pattern = Pattern::Undecided;
        }
        if let Some(groups) = self.groups.take() {
            let groups = groups.0.into_iter();
            let signed =
                groups.map(|(name, group)| (name, group.with_publishers(publishers.clone())));
            self.groups = Some(signed.collect());
        }
        if let Some(control) = self.control.take() {
            self.control = Some(Box::new(control.with_publishers(publishers.clone())));
        }
        self.publishers = publishers;
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::run::plan::tests::plan;

    #[tokio::test(start_paused = true)]
    async fn each_publisher_counts_its_own_numbers_at_its_own_rate() {
        let mut plan = plan();
        plan.publishers = 2;
        let mut publishers = Publishers::new(&plan);
        publishers.started();
        tokio::time::sleep(Duration::from_secs(2)).await;
        (1..=9).for_each(|seq| publishers.published(seq));
        tokio::time::sleep(Duration::from_secs(2)).await;
        publishers.published(10);
        let summary = publishers.summary(&Ranges::of(1..=10));
        let rows: Vec<(&str, u32, f64)> = summary
            .iter()
            .map(|(id, p)| (id, p.count, p.per_second))
            .collect();
        assert_eq!(rows, [("c-publisher-1", 5, 2.5), ("c-publisher-2", 5, 1.3)]);
    }
}
