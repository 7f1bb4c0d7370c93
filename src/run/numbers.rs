//! Which message numbers each publisher sends, and up to which number the run goes.
//!
//! ## K publishers, interleaved
//!
//! With `--publishers K`, publisher j (1..=K) sends j, j+K, j+2K, …: a [`Stripe`] of the
//! numbers. Interleaved rather than in blocks (1..=count/K to the first, and so on), because:
//!
//! * the numbers rise together with time, whoever sends them: message 30 % of the way is sent 30 %
//!   of the way into the run, so `--churn leave:2@30%` still means what it says, and the report's
//!   lists and pictures read in time order as with one publisher;
//! * blocks need the count before the first message, and with `--duration` nobody knows it yet:
//!   a stripe has no end, only a last number the run decides once (below);
//! * who sent a number is arithmetic (`(n - 1) % K`), so the run can hand a number that a member's
//!   broken session lost back to the very publisher that sent it (`lost.rs`), and keep the order
//!   that MQTT promises per publisher connection (MQTT 5 §4.6), not across them.
//!
//! Each publisher keeps its own books by its *own* count (`1`, `2`, `3`, … for j, j+K, j+2K):
//! K publishers cost no more memory than one.
//!
//! ## The last number, decided once
//!
//! With `--count`, the last number is known from the start. With `--duration`, the publishers
//! send until time is up, each at its own pace, so when the run says "stop" one publisher may be
//! a few numbers ahead of another. Stopping each where it stands would leave holes below the
//! highest number sent. So the [`Limit`] keeps the highest number any publisher has *taken*
//! (is about to send); closing it makes that number the last, and every publisher still sends
//! its own numbers up to it: the run's numbers are always `1..=count`, with no holes. Taking and
//! closing are one atomic word, so no publisher can take a number the close did not count.

use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;

/// The numbers of one publisher of K: j, j+K, j+2K, …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    /// j, from 1.
    index: u32,
    /// K, at least 1.
    of: u32,
}

impl Stripe {
    /// Publisher `index` (1..=`of`) of `of`.
    pub fn new(index: u32, of: u32) -> Stripe {
        let of = of.max(1);
        Stripe {
            index: index.clamp(1, of),
            of,
        }
    }

    /// The one publisher of a run: every number.
    #[cfg(test)]
    pub fn all() -> Stripe {
        Stripe::new(1, 1)
    }

    /// Which publisher (1..=K) sends `seq`.
    pub fn owner(seq: u32, of: u32) -> u32 {
        seq.saturating_sub(1) % of.max(1) + 1
    }

    /// Its `nth` number (from 1): j + (nth - 1)·K; `None` past `u32`.
    pub fn nth(&self, nth: u32) -> Option<u32> {
        let steps = nth.checked_sub(1)?;
        steps.checked_mul(self.of)?.checked_add(self.index)
    }

    /// Where `seq` stands among its own numbers (from 1); `None` if another publisher sends it.
    pub fn position(&self, seq: u32) -> Option<u32> {
        (seq >= self.index && (seq - self.index).is_multiple_of(self.of))
            .then(|| (seq - self.index) / self.of + 1)
    }

    /// How many of `1..=count` are its own.
    pub fn how_many(&self, count: u32) -> u32 {
        match count.checked_sub(self.index) {
            Some(above) => above / self.of + 1,
            None => 0,
        }
    }

    /// How many of the numbers in `ranges` (first, last, inclusive) are its own.
    pub fn how_many_in(&self, ranges: &[(u32, u32)]) -> u32 {
        ranges
            .iter()
            .map(|&(first, last)| self.how_many(last) - self.how_many(first.saturating_sub(1)))
            .sum()
    }
}

/// Set in [`Limit`]'s word once the last number is decided.
const CLOSED: u64 = 1 << 63;

/// Up to which number the publishers go: fixed (`--count`), or open until closed (`--duration`);
/// see the module doc.
pub struct Limit {
    /// The highest number taken so far (open) or the last number (closed), and [`CLOSED`].
    word: AtomicU64,
    /// No number above it is ever taken: `--count`, or `MAX_COUNT`.
    cap: u32,
    /// The last number once decided, for whoever waits for it.
    last: watch::Sender<Option<u32>>,
}

impl Limit {
    /// Numbers `1..=count`, decided from the start.
    pub fn fixed(count: u32) -> Limit {
        Limit {
            word: AtomicU64::new(CLOSED | u64::from(count)),
            cap: count,
            last: watch::channel(Some(count)).0,
        }
    }

    /// Numbers from 1 until [`Limit::close`], at most `cap`.
    pub fn open(cap: u32) -> Limit {
        Limit {
            word: AtomicU64::new(0),
            cap,
            last: watch::channel(None).0,
        }
    }

    /// May a publisher send `seq` as a new message? While open, it takes `seq` (the close will
    /// count it); a number above the cap closes the limit at the cap.
    pub fn take(&self, seq: u32) -> bool {
        if seq > self.cap {
            self.close_at(Some(self.cap));
            return false;
        }
        let taken = self
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
                (word & CLOSED == 0).then_some(word.max(u64::from(seq)))
            });
        match taken {
            Ok(_) => true,
            Err(closed) => u64::from(seq) <= closed & !CLOSED,
        }
    }

    /// Decides the last number: the highest taken so far. Returns it; a second close changes
    /// nothing.
    pub fn close(&self) -> u32 {
        self.close_at(None)
    }

    /// Closes at `at`, or at the highest number taken.
    fn close_at(&self, at: Option<u32>) -> u32 {
        let before = self
            .word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |word| {
                (word & CLOSED == 0).then(|| CLOSED | at.map_or(word, u64::from))
            });
        let last = match before {
            Ok(word) => at.unwrap_or((word & !CLOSED) as u32),
            Err(closed) => (closed & !CLOSED) as u32,
        };
        self.last.send_if_modified(|known| {
            let new = known.is_none();
            *known = Some(last);
            new
        });
        last
    }

    /// The last number, once decided.
    pub fn last(&self) -> Option<u32> {
        *self.last.borrow()
    }

    /// Follows the last number: `None` until it is decided.
    pub fn watch(&self) -> watch::Receiver<Option<u32>> {
        self.last.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_interleave_and_cover_every_number_once() {
        let stripes: Vec<Stripe> = (1..=4).map(|j| Stripe::new(j, 4)).collect();
        for seq in 1..=103 {
            let owners: Vec<u32> = (1..=4)
                .filter(|&j| stripes[j as usize - 1].position(seq).is_some())
                .collect();
            assert_eq!(owners, [Stripe::owner(seq, 4)], "#{seq}");
        }
        let third = stripes[2];
        assert_eq!(
            (1..=3).map(|n| third.nth(n)).collect::<Vec<_>>(),
            [Some(3), Some(7), Some(11)]
        );
        assert_eq!(third.position(11), Some(3));
        let counts: Vec<u32> = stripes.iter().map(|s| s.how_many(10)).collect();
        assert_eq!(counts, [3, 3, 2, 2]);
        assert_eq!(stripes[0].how_many_in(&[(1, 10), (13, 13)]), 4);
        assert_eq!(Stripe::all().how_many(7), 7);
        assert_eq!(Stripe::new(5, 4).nth(u32::MAX), None);
    }

    #[test]
    fn a_fixed_limit_is_the_count() {
        let limit = Limit::fixed(10);
        assert!(limit.take(10) && !limit.take(11));
        assert_eq!(limit.last(), Some(10));
        assert_eq!(limit.close(), 10);
    }

    #[test]
    fn closing_an_open_limit_keeps_every_number_below_the_highest_taken() {
        let limit = Limit::open(1000);
        let last = limit.watch();
        // Publisher 1 of 2 is ahead: it took 1, 3, 5; publisher 2 only 2.
        for seq in [1, 3, 5, 2] {
            assert!(limit.take(seq));
        }
        assert_eq!(*last.borrow(), None);
        assert_eq!(limit.close(), 5);
        assert_eq!(*last.borrow(), Some(5));
        // Publisher 2 still sends 4, not 6; publisher 1 nothing more.
        assert!(limit.take(4));
        assert!(!limit.take(6) && !limit.take(7));
        assert_eq!(limit.close(), 5, "decided once");
    }

    #[test]
    fn an_open_limit_closes_itself_at_its_cap() {
        let limit = Limit::open(6);
        assert!(limit.take(5) && limit.take(6));
        assert!(!limit.take(7));
        assert_eq!(limit.last(), Some(6));
        assert!(limit.take(4), "below the cap, still to be sent");
    }
}
