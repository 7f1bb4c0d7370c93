//! When things happened, in bounded memory: the times behind `--html`'s timeline.
//!
//! The summary says *what* happened (who got which number, how late, what was lost); a picture of
//! the run needs *when*: when member 2 stopped receiving, how the rate changed while a member was
//! away, when the delays climbed. Keeping a time per message would cost 8 bytes a message (8 MB at
//! a million) for a picture a thousand pixels wide. So the timeline keeps what the picture can
//! show: for each client a *lane* of time *bins*, and in each bin counts: receipts by delay band,
//! duplicates, redeliveries; on the publisher's lane, what the broker took, what was sent again.
//!
//! ```text
//!   bin width 10 µs, from the first mark on:  |3|2|0|4|1|…   (a few hundred at most)
//!   the run outgrows them: the width doubles and each pair of neighbours merges into one
//!   bin width 20 µs:  | 5 | 5 |…
//! ```
//!
//! Merging keeps every count (a bin's counts are sums) and bounds the memory whatever the run's
//! length: at most [`BIN_BUDGET`] bins across all lanes, 48 bytes each. What is not binned is rare
//! and kept as it came: the holds (from `Holding` to `Resumed`). Outages and `--churn` steps are in
//! the summary already, with their times, and the page reads them there.
//!
//! The timeline is recorded only with `--html` (`Plan::timeline`): fed by `books.rs` with every
//! event, and handed out with the [`Outcome`](super::Outcome). It is not part of the `--json`
//! summary: its bins are a drawing's resolution, not a result a script should rely on, and each
//! process of a run has its own clock (see `merge.rs` for why latency is not merged either).

use std::time::Duration;

use tokio::time::Instant;

use super::event::RunEvent;
use super::plan::{Plan, Role};
use super::roster::Seat;
use super::MAX_COUNT;

/// The delay bands a receipt is coloured by, in milliseconds: below 1, 1–5, 5–20, 20–100,
/// 100–1000, and 1 s or more. Fixed, so that two runs' pictures compare at a glance.
pub const BAND_LIMITS_MS: [f64; 5] = [1.0, 5.0, 20.0, 100.0, 1000.0];

/// How many delay bands: the limits, and one above the last.
pub const BANDS: usize = BAND_LIMITS_MS.len() + 1;

/// The most bins all lanes together keep (at 48 bytes each, about 3 MB). A lane gets its share,
/// between [`MIN_BINS`] and [`MAX_BINS`].
pub const BIN_BUDGET: usize = 65_536;
const MIN_BINS: usize = 24;
/// A page's timeline is about a thousand pixels wide: more bins than this would be thinner than
/// four pixels each.
const MAX_BINS: usize = 240;

/// The first bins are 10 µs wide: the ten messages of a demo arrive within a few milliseconds,
/// and should still get a bar each. Each doubling costs one pass over the bins; an hour-long run
/// takes about twenty.
const FIRST_BIN_US: u64 = 10;

/// What happened in one lane during one bin's time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bin {
    /// Receipts of this run's messages, by delay band ([`BAND_LIMITS_MS`]).
    pub by_band: [u32; BANDS],
    /// Receipts without a time stamp, whose delay is unknown.
    pub unstamped: u32,
    /// Receipts of a number the member's group already had.
    pub duplicates: u32,
    /// Receipts the broker flagged as a redelivery (DUP).
    pub redelivered: u32,
    /// The publisher's lane: messages the broker took, of them routed to nobody (PUBACK 0x10),
    /// and numbers sent again.
    pub published: u32,
    pub unrouted: u32,
    pub sent_again: u32,
}

impl Bin {
    /// Receipts in the bin, duplicates included.
    pub fn received(&self) -> u32 {
        self.by_band.iter().sum::<u32>() + self.unstamped
    }

    fn add(&mut self, other: &Bin) {
        for (band, more) in self.by_band.iter_mut().zip(other.by_band) {
            *band += more;
        }
        self.unstamped += other.unstamped;
        self.duplicates += other.duplicates;
        self.redelivered += other.redelivered;
        self.published += other.published;
        self.unrouted += other.unrouted;
        self.sent_again += other.sent_again;
    }
}

/// The band of a delay, an index into [`Bin::by_band`].
pub fn band(latency_ms: f64) -> usize {
    BAND_LIMITS_MS
        .iter()
        .position(|limit| latency_ms < *limit)
        .unwrap_or(BAND_LIMITS_MS.len())
}

/// Whose lane it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaneOf {
    Publisher,
    /// A member of the group named, or (`None`) the control subscriber.
    Member {
        group: Option<String>,
    },
}

/// One client's row of bins.
#[derive(Debug, Clone)]
pub struct Lane {
    pub client_id: String,
    pub of: LaneOf,
    /// Bin `i` covers `[i·width, (i+1)·width)` since the start; only as many as were reached.
    pub bins: Vec<Bin>,
}

/// A time the publisher held for the group (`RunEvent::Holding` to `Resumed`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub from_ms: u64,
    /// `None` while it lasts: the run ended holding.
    pub until_ms: Option<u64>,
    pub waiting_for: Vec<String>,
    /// Members the run went on without when the hold ran out of `--timeout`.
    pub without: Vec<String>,
}

/// The holds worth keeping: a run that holds more often than this is drawn with the first ones.
const MOST_HOLDS: usize = 1_000;

/// The lanes of a run, and the holds.
pub struct Timeline {
    started: Instant,
    bin_us: u64,
    /// When the first bin starts: the first mark's time. Members may wait long for a publisher
    /// in another process, or to connect; the bins are spent on the part with messages.
    origin_us: Option<u64>,
    /// Bins per lane before they merge.
    capacity: usize,
    lanes: Vec<Lane>,
    /// The lane of book `b`'s first member: `1 + first[b]` (lane 0 is the publisher's).
    first: Vec<usize>,
    /// Per book, the numbers its members have received: a second receipt is a duplicate.
    seen: Vec<Numbers>,
    holds: Vec<Hold>,
    ended_ms: Option<u64>,
    slow: Option<(String, Duration)>,
    /// Every publisher's client id: their outages go on the publishers' lane.
    publisher_ids: Vec<String>,
}

impl Timeline {
    /// A timeline for `plan`'s publisher and the members of each book (`members[b]`, in seat
    /// order); the clock starts now.
    pub fn new(plan: &Plan, members: &[Vec<String>]) -> Timeline {
        // One lane for the publishers: a `published` event does not say which of them sent it.
        let mut lanes = vec![Lane {
            client_id: plan.publishers_named(),
            of: LaneOf::Publisher,
            bins: Vec::new(),
        }];
        let mut first = Vec::new();
        for (book, ids) in members.iter().enumerate() {
            first.push(lanes.len() - 1);
            let group = plan.filters.get(book).map(|f| f.group().to_owned());
            lanes.extend(ids.iter().map(|id| Lane {
                client_id: id.clone(),
                of: LaneOf::Member {
                    group: group.clone(),
                },
                bins: Vec::new(),
            }));
        }
        // Members in a process of their own may hear numbers above --count.
        let numbers = match plan.role {
            Role::Subscriber => MAX_COUNT,
            _ => plan.count,
        };
        Timeline {
            started: Instant::now(),
            bin_us: FIRST_BIN_US,
            origin_us: None,
            capacity: (BIN_BUDGET / lanes.len()).clamp(MIN_BINS, MAX_BINS),
            seen: members.iter().map(|_| Numbers::new(numbers)).collect(),
            first,
            lanes,
            holds: Vec::new(),
            ended_ms: None,
            slow: plan
                .slow_member
                .map(|slow| (plan.member_id(slow.member), slow.delay)),
            publisher_ids: plan.publisher_ids(),
        }
    }

    /// Adds one event, at the time now.
    pub fn record(&mut self, event: &RunEvent) {
        let now_us = self.started.elapsed().as_micros() as u64;
        match event {
            RunEvent::Published { unrouted, .. } => self.mark(0, now_us, |bin| {
                bin.published += 1;
                bin.unrouted += u32::from(*unrouted);
            }),
            RunEvent::SendingAgain { seqs, .. } => {
                let again = seqs.len() as u32;
                self.mark(0, now_us, |bin| bin.sent_again += again);
            }
            RunEvent::Received(receipt) => {
                let Some(seq) = receipt.seq else {
                    return; // foreign: the summary counts it
                };
                let seat = receipt.member.seat();
                // A number we never sent counts as foreign, as in the tally.
                let Some(first) = self.seen.get_mut(seat.book).and_then(|s| s.insert(seq)) else {
                    return;
                };
                let duplicate = !first;
                let (dup, latency) = (receipt.dup, receipt.latency_ms);
                self.mark(self.lane(seat), now_us, |bin| {
                    match latency {
                        Some(ms) => bin.by_band[band(ms)] += 1,
                        None => bin.unstamped += 1,
                    }
                    bin.duplicates += u32::from(duplicate);
                    bin.redelivered += u32::from(dup);
                });
            }
            RunEvent::Holding { waiting_for } if self.holds.len() < MOST_HOLDS => {
                self.holds.push(Hold {
                    from_ms: now_us / 1000,
                    until_ms: None,
                    waiting_for: waiting_for.clone(),
                    without: Vec::new(),
                })
            }
            RunEvent::Resumed { without, .. } => {
                if let Some(hold) = self.holds.last_mut().filter(|h| h.until_ms.is_none()) {
                    hold.until_ms = Some(now_us / 1000);
                    hold.without = without.clone();
                }
            }
            _ => {}
        }
    }

    /// The run is over: the clock stops here.
    pub fn end(&mut self) {
        self.ended_ms = Some(self.started.elapsed().as_millis() as u64);
    }

    /// The lane of a seated member.
    fn lane(&self, seat: Seat) -> usize {
        self.first
            .get(seat.book)
            .map_or(0, |first| 1 + first + seat.index)
    }

    /// Counts in `lane`'s bin for the time `now_us`, merging bins first if the run outgrew them.
    fn mark(&mut self, lane: usize, now_us: u64, count: impl FnOnce(&mut Bin)) {
        let since = now_us - *self.origin_us.get_or_insert(now_us);
        let mut index = (since / self.bin_us) as usize;
        while index >= self.capacity {
            self.coarsen();
            index = (since / self.bin_us) as usize;
        }
        let Some(lane) = self.lanes.get_mut(lane) else {
            return;
        };
        if lane.bins.len() <= index {
            lane.bins.resize(index + 1, Bin::default());
        }
        count(&mut lane.bins[index]);
    }

    /// Doubles the bins' width: each pair of neighbours becomes one bin with both's counts.
    fn coarsen(&mut self) {
        self.bin_us *= 2;
        for lane in &mut self.lanes {
            let merged = lane
                .bins
                .chunks(2)
                .map(|pair| {
                    let mut bin = pair[0];
                    if let Some(second) = pair.get(1) {
                        bin.add(second);
                    }
                    bin
                })
                .collect();
            lane.bins = merged;
        }
    }

    /// Whether `client_id` is one of the run's publishers (whose lane is the first).
    pub fn is_publisher(&self, client_id: &str) -> bool {
        self.publisher_ids.iter().any(|id| id == client_id)
    }

    /// The publisher's lane first, then each book's members in seat order.
    pub fn lanes(&self) -> &[Lane] {
        &self.lanes
    }

    /// How wide one bin is, in milliseconds.
    pub fn bin_ms(&self) -> f64 {
        self.bin_us as f64 / 1000.0
    }

    /// When bin 0 starts, in milliseconds since the run started: the first mark's time.
    pub fn origin_ms(&self) -> f64 {
        self.origin_us.unwrap_or(0) as f64 / 1000.0
    }

    pub fn holds(&self) -> &[Hold] {
        &self.holds
    }

    /// When the run ended, since its start (`None` before [`Timeline::end`]).
    pub fn ended_ms(&self) -> Option<u64> {
        self.ended_ms
    }

    /// `--slow-member`: its client id, and the delay of each of its acknowledgements.
    pub fn slow_member(&self) -> Option<(&str, Duration)> {
        self.slow.as_ref().map(|(id, delay)| (id.as_str(), *delay))
    }
}

/// A set of message numbers, a bit each: 125 KB at a million.
struct Numbers {
    bits: Vec<u64>,
    most: u32,
}

impl Numbers {
    fn new(most: u32) -> Numbers {
        Numbers {
            bits: Vec::new(),
            most,
        }
    }

    /// Adds `seq`: whether it is new, or `None` for a number outside `1..=most`.
    fn insert(&mut self, seq: u32) -> Option<bool> {
        if seq == 0 || seq > self.most {
            return None;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.bits.len() <= word {
            // Grows as numbers come, so a subscriber process does not pay for MAX_COUNT up front.
            self.bits.resize(word + 1, 0);
        }
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        Some(new)
    }
}

#[cfg(test)]
pub mod tests {
    //! In paused time: the clock moves only when the test says, so each event lands in a known bin.

    use super::*;
    use crate::run::event::Receipt;
    use crate::run::plan::tests::plan;
    use crate::run::roster::{MemberRef, Roster};

    fn members(n: usize) -> (Timeline, Vec<MemberRef>) {
        let mut plan = plan();
        plan.count = 1_000_000;
        let mut roster = Roster::new();
        let refs: Vec<MemberRef> = (1..=n)
            .map(|k| roster.seat(&format!("c-subscriber-{k}"), "t", 0))
            .collect();
        (Timeline::new(&plan, &[roster.ids(0)]), refs)
    }

    fn received(member: &MemberRef, seq: u32, latency_ms: f64) -> RunEvent {
        RunEvent::Received(Receipt {
            member: member.clone(),
            seq: Some(seq),
            payload: String::new(),
            dup: false,
            via: crate::run::event::Via::FIRST,
            latency_ms: Some(latency_ms),
        })
    }

    /// A run of 20 messages over two members `c-subscriber-1` and `-2`, 1 ms apart, with a hold
    /// from 5 to 8 ms, #7 arriving twice, and slow receipts towards the end: for the page's tests.
    pub async fn sample() -> Timeline {
        let (mut timeline, m) = members(2);
        for seq in 1..=20u32 {
            tokio::time::advance(Duration::from_millis(1)).await;
            timeline.record(&RunEvent::Published {
                seq,
                unrouted: false,
            });
            let latency = if seq > 15 { 150.0 } else { 0.5 };
            timeline.record(&received(&m[seq as usize % 2], seq, latency));
            if seq == 5 {
                let waiting_for = vec!["c-subscriber-2".to_owned()];
                timeline.record(&RunEvent::Holding { waiting_for });
            }
            if seq == 8 {
                let (held_ms, without) = (3, Vec::new());
                timeline.record(&RunEvent::Resumed { held_ms, without });
                timeline.record(&received(&m[0], 7, 2.0));
            }
        }
        timeline.end();
        timeline
    }

    fn total(lane: &Lane) -> u32 {
        lane.bins.iter().map(Bin::received).sum()
    }

    #[tokio::test(start_paused = true)]
    async fn receipts_land_in_their_members_lane_and_band() {
        let (mut timeline, m) = members(2);
        timeline.record(&RunEvent::Published {
            seq: 1,
            unrouted: false,
        });
        timeline.record(&received(&m[0], 1, 0.4));
        tokio::time::advance(Duration::from_millis(5)).await;
        timeline.record(&received(&m[1], 2, 30.0));
        timeline.record(&received(&m[0], 2, 2000.0));
        let lanes = timeline.lanes();
        assert_eq!(lanes.len(), 3, "the publisher and two members");
        // 5 ms is more than the first bins cover: they have merged, and 5 ms is in bin `at`.
        let at = (5.0 / timeline.bin_ms()) as usize;
        assert!(at > 0 && at < MAX_BINS, "{at}");
        assert_eq!(lanes[0].bins[0].published, 1);
        assert_eq!(lanes[1].bins[0].by_band[0], 1, "0.4 ms: below 1 ms");
        assert_eq!(lanes[2].bins[at].by_band[3], 1, "30 ms, 5 ms in: 20-100 ms");
        assert_eq!(lanes[1].bins[at].by_band[5], 1, "2 s: the open band");
        assert_eq!(
            lanes[1].bins[at].duplicates, 1,
            "#2 reached the group twice"
        );
        assert_eq!(
            lanes[2].bins[at].duplicates, 0,
            "the first copy is no duplicate"
        );
    }

    /// A long run merges its bins: a million receipts over an hour stay within the bin budget,
    /// and not one count is lost.
    #[tokio::test(start_paused = true)]
    async fn a_long_run_merges_bins_and_keeps_every_count() {
        let (mut timeline, m) = members(3);
        for seq in 1..=1_000_000u32 {
            if seq % 300 == 0 {
                tokio::time::advance(Duration::from_millis(1000)).await;
            }
            timeline.record(&received(&m[seq as usize % 3], seq, 3.0));
        }
        let lanes = timeline.lanes();
        assert!(lanes.iter().all(|lane| lane.bins.len() <= MAX_BINS));
        assert_eq!(lanes.iter().map(total).sum::<u32>(), 1_000_000);
        let hour_ms = 3_333.0 * 1000.0;
        assert!(timeline.bin_ms() * MAX_BINS as f64 >= hour_ms);
        assert!(timeline.bin_ms() * (MAX_BINS as f64) < 2.0 * hour_ms + 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_are_kept_from_holding_to_resumed() {
        let (mut timeline, _) = members(2);
        tokio::time::advance(Duration::from_millis(100)).await;
        let waiting_for = vec!["c-subscriber-2".to_owned()];
        timeline.record(&RunEvent::Holding { waiting_for });
        tokio::time::advance(Duration::from_millis(250)).await;
        timeline.record(&RunEvent::Resumed {
            held_ms: 250,
            without: Vec::new(),
        });
        timeline.record(&RunEvent::Holding {
            waiting_for: Vec::new(),
        });
        timeline.end();
        let holds = timeline.holds();
        assert_eq!((holds[0].from_ms, holds[0].until_ms), (100, Some(350)));
        assert_eq!(holds[1].until_ms, None, "the run ended holding");
        assert_eq!(timeline.ended_ms(), Some(350));
    }

    #[test]
    fn bands_have_fixed_limits() {
        assert_eq!(
            [0.2, 1.0, 4.9, 19.0, 99.0, 999.0, 1000.0].map(band),
            [0, 1, 1, 2, 3, 4, 5]
        );
    }

    #[test]
    fn a_number_is_new_once_and_out_of_range_is_not_ours() {
        let mut numbers = Numbers::new(100);
        assert_eq!(numbers.insert(64), Some(true));
        assert_eq!(numbers.insert(64), Some(false));
        assert_eq!(numbers.insert(100), Some(true));
        assert_eq!((numbers.insert(0), numbers.insert(101)), (None, None));
    }
}
