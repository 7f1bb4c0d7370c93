//! How long messages took, from the publisher queueing one to a member receiving it.
//!
//! The publisher stamps each message with the time (`message.rs`, `sent-at-us`); the member that
//! receives it subtracts. The delay includes everything a user's application would see: rumqttc's
//! queue on the publisher's side, TLS, the broker's routing, and the member's socket. So under
//! bulk load, where the publisher queues far ahead of the broker, it measures the backlog too.
//!
//! A run keeps one HDR histogram for the group and one per member: percentiles in constant memory
//! (a few kilobytes each) whatever the number of messages, to 1 % precision.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::summary::ByMember;

/// The longest delay a histogram holds; longer ones count as this (an hour).
const LONGEST_US: u64 = 3_600_000_000;

/// Delays of the group and of each member.
pub struct Latencies {
    group: Option<Histogram<u32>>,
    members: Vec<Option<Histogram<u32>>>,
}

impl Latencies {
    pub fn new(members: usize) -> Latencies {
        Latencies {
            group: histogram(),
            members: (0..members).map(|_| histogram()).collect(),
        }
    }

    /// Member `member` (its index in start order) received a message `micros` after it was sent.
    pub fn record(&mut self, member: Option<usize>, micros: u64) {
        let member = member.and_then(|index| self.members.get_mut(index));
        for histogram in [self.group.as_mut(), member.and_then(Option::as_mut)]
            .into_iter()
            .flatten()
        {
            histogram.saturating_record(micros.clamp(1, LONGEST_US));
        }
    }

    /// The percentiles, if any delay was recorded.
    pub fn summary(&self, member_ids: &[String]) -> Option<LatencySummary> {
        let group = percentiles(self.group.as_ref()?)?;
        let members = member_ids
            .iter()
            .zip(&self.members)
            .filter_map(|(id, histogram)| Some((id.clone(), percentiles(histogram.as_ref()?)?)))
            .collect();
        Some(LatencySummary { group, members })
    }
}

/// 1 µs to an hour, two significant figures (1 %): about 3,000 counters.
fn histogram() -> Option<Histogram<u32>> {
    Histogram::new_with_bounds(1, LONGEST_US, 2).ok()
}

fn percentiles(histogram: &Histogram<u32>) -> Option<Percentiles> {
    if histogram.is_empty() {
        return None;
    }
    let ms = |micros: u64| (micros as f64 / 1000.0 * 1000.0).round() / 1000.0;
    Some(Percentiles {
        p50: ms(histogram.value_at_quantile(0.50)),
        p90: ms(histogram.value_at_quantile(0.90)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
        count: histogram.len(),
    })
}

/// The summary's `latency_ms`.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    pub group: Percentiles,
    pub members: ByMember<Percentiles>,
}

/// Delays in milliseconds (to the microsecond).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    /// How many delays these are made of.
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_per_member_and_for_the_group() {
        let mut latencies = Latencies::new(2);
        for ms in 1..=100 {
            latencies.record(Some(0), ms * 1000);
        }
        latencies.record(Some(1), 250_000);
        latencies.record(None, 7_000); // a receipt by someone not in the table still counts
        let ids = ["a".to_owned(), "b".to_owned()];
        let summary = latencies.summary(&ids).expect("delays");
        let a = summary.members.get("a").expect("a");
        assert!((a.p50 - 50.0).abs() <= 0.5, "{a:?}");
        assert!((a.p99 - 99.0).abs() <= 1.0, "{a:?}");
        assert_eq!(a.count, 100);
        assert!((summary.members.get("b").expect("b").max - 250.0).abs() <= 2.5);
        assert_eq!(summary.group.count, 102);
    }

    #[test]
    fn no_delays_no_summary() {
        assert!(Latencies::new(3).summary(&[]).is_none());
    }
}
