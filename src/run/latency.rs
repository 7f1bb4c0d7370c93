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
use serde::{Deserialize, Serialize};

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

    /// The group's 99th percentile so far, in ms, if any delay was recorded.
    pub fn group_p99_ms(&self) -> Option<f64> {
        let histogram = self.group.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.value_at_quantile(0.99) as f64 / 1000.0)
    }

    /// The percentiles, if any delay was recorded.
    pub fn summary(&self, member_ids: &[String]) -> Option<LatencySummary> {
        let histogram = self.group.as_ref()?;
        let group = percentiles(histogram)?;
        let members = member_ids
            .iter()
            .zip(&self.members)
            .filter_map(|(id, histogram)| Some((id.clone(), percentiles(histogram.as_ref()?)?)))
            .collect();
        Some(LatencySummary {
            group,
            members,
            bands: bands(histogram),
        })
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencySummary {
    pub group: Percentiles,
    pub members: ByMember<Percentiles>,
    /// The group's delays in bands (0.1, 0.2, 0.5, 1, 2, 5 ms, …), from the first band with any
    /// to the last: the shape behind the percentiles, for `--histogram`.
    pub bands: Vec<Band>,
}

/// How many delays were at least `from_ms` and below `below_ms`; `below_ms` is `null` for the
/// last band, everything longer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub from_ms: f64,
    pub below_ms: Option<f64>,
    pub count: u64,
}

/// Band limits in microseconds: 1-2-5 steps, from 0.1 ms to 10 s.
const BAND_LIMITS_US: [u64; 16] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000,
    1_000_000, 2_000_000, 5_000_000, 10_000_000,
];

fn bands(histogram: &Histogram<u32>) -> Vec<Band> {
    // Each of the histogram's buckets goes to one band, by its middle value: asking the
    // histogram for the count between two limits would count a bucket that straddles a limit
    // in both bands.
    let mut counts = [0u64; BAND_LIMITS_US.len() + 1];
    for bucket in histogram.iter_recorded() {
        let value = histogram.median_equivalent(bucket.value_iterated_to());
        let band = BAND_LIMITS_US
            .iter()
            .position(|&limit| value < limit)
            .unwrap_or(BAND_LIMITS_US.len());
        counts[band] += u64::from(bucket.count_at_value());
    }
    let mut bands: Vec<Band> = counts
        .iter()
        .enumerate()
        .map(|(index, &count)| Band {
            from_ms: index
                .checked_sub(1)
                .map_or(0.0, |before| BAND_LIMITS_US[before] as f64 / 1000.0),
            below_ms: BAND_LIMITS_US
                .get(index)
                .map(|&limit| limit as f64 / 1000.0),
            count,
        })
        .collect();
    // Keep the bands from the first with any delay to the last with any.
    let first = bands.iter().position(|band| band.count > 0).unwrap_or(0);
    let last = bands.iter().rposition(|band| band.count > 0).unwrap_or(0);
    bands.truncate(last + 1);
    bands.drain(..first);
    bands
}

/// Delays in milliseconds (to the microsecond).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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
        // 1..=100 ms and 250 ms and 7 ms: bands from "below 2 ms" (1 ms) to "below 500 ms".
        let bands = &summary.bands;
        assert_eq!(
            bands.first().map(|b| (b.below_ms, b.count)),
            Some((Some(2.0), 1))
        );
        assert_eq!(
            bands.last().map(|b| (b.below_ms, b.count)),
            Some((Some(500.0), 1))
        );
        assert_eq!(bands.iter().map(|b| b.count).sum::<u64>(), 102);
    }

    #[test]
    fn no_delays_no_summary() {
        assert!(Latencies::new(3).summary(&[]).is_none());
    }
}
