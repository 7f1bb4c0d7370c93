//! How evenly the broker spread the messages, and in what pattern.
//!
//! MQTT 5 leaves the choice of member to the broker, and brokers differ: mosquitto and the demo
//! broker go strictly round-robin, AWS IoT Core picks at random, some brokers stick to one member
//! for a while (to keep its TCP buffers warm), and any broker skips a member whose queue is full.
//! A count per member says how much each got; the *order* says how the broker chose. So this file
//! looks at both:
//!
//! * **Jain's fairness index**, `(Σx)² / (n·Σx²)`: 1.0 when every member got the same, `1/n` when
//!   one got everything. A standard, scale-free measure: 0.99 means "even" at any size.
//! * **max/min**: the busiest member's count over the idlest's (∞ when one got nothing).
//! * **the pattern**, read from which member got message 1, 2, 3, …: see [`Pattern`].

use serde::{Deserialize, Serialize};

/// The shape of the broker's choices, recognised from the order of receipts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Members take turns in a fixed cycle: 1 2 3 1 2 3 … (mosquitto, the demo broker).
    RoundRobin,
    /// No order to be seen, and an even split overall (AWS IoT Core).
    RandomLike,
    /// Long runs to the same member: 1 1 1 1 2 2 2 2 …
    Sticky,
    /// One member, or a few, got clearly more than the others (or nothing at all).
    Uneven,
    /// Too few messages, or one member: nothing to tell.
    #[default]
    Undecided,
}

impl Pattern {
    /// The pattern in a few words, for the report.
    pub fn in_words(self) -> &'static str {
        match self {
            Pattern::RoundRobin => "strict round-robin: the members took turns in a fixed order",
            Pattern::RandomLike => "random-like: no order, but an even split",
            Pattern::Sticky => "sticky: long runs of messages went to the same member",
            Pattern::Uneven => "uneven: some members got clearly more than others",
            Pattern::Undecided => "too few messages to tell a pattern",
        }
    }
}

/// The fairness figures of one run; the `fairness` object of the `--json` summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Fairness {
    /// Jain's index, `1/n` (one member got all) to 1.0 (all equal).
    pub jain: f64,
    /// The busiest member's count over the idlest's; `null` when one got nothing.
    pub max_min: Option<f64>,
    pub pattern: Pattern,
}

/// Fewer messages per member than this and a pattern is guesswork.
const MIN_PER_MEMBER: usize = 4;

/// Judges the split. `counts[m]`: what member `m` received; `order`: which member got each
/// message, in publish order (messages nobody got are left out). `order` is read once, as it
/// comes: a million-message run need not hold it in a list.
pub fn judge(counts: &[u32], order: impl IntoIterator<Item = u16>) -> Fairness {
    let members = counts.len();
    let total: f64 = counts.iter().map(|&c| f64::from(c)).sum();
    let squares: f64 = counts.iter().map(|&c| f64::from(c).powi(2)).sum();
    let jain = if squares == 0.0 {
        1.0
    } else {
        total * total / (members as f64 * squares)
    };
    let (max, min) = (
        counts.iter().copied().max().unwrap_or(0),
        counts.iter().copied().min().unwrap_or(0),
    );
    let max_min = (min > 0).then(|| f64::from(max) / f64::from(min));
    Fairness {
        jain: round3(jain),
        max_min: max_min.map(round3),
        pattern: pattern(members, min, max_min, Steps::count(members, order)),
    }
}

/// What the pattern is judged by, counted in one pass over the order of receipts.
struct Steps {
    /// Messages in the order.
    len: usize,
    /// Messages that went where the one `members` before went, and not where the one before
    /// went: what strict turns look like.
    in_cycle: usize,
    /// Messages that went to the same member as the one before.
    repeats: usize,
}

impl Steps {
    fn count(members: usize, order: impl IntoIterator<Item = u16>) -> Steps {
        // The last `members` choices: enough to look one cycle back.
        let mut recent = std::collections::VecDeque::with_capacity(members + 1);
        let mut steps = Steps {
            len: 0,
            in_cycle: 0,
            repeats: 0,
        };
        for member in order {
            let previous = recent.back().copied();
            if previous == Some(member) {
                steps.repeats += 1;
            }
            if recent.len() == members
                && recent.front() == Some(&member)
                && previous != Some(member)
            {
                steps.in_cycle += 1;
            }
            recent.push_back(member);
            if recent.len() > members {
                recent.pop_front();
            }
            steps.len += 1;
        }
        steps
    }
}

fn pattern(members: usize, min: u32, max_min: Option<f64>, steps: Steps) -> Pattern {
    if members < 2 || steps.len < MIN_PER_MEMBER * members {
        return Pattern::Undecided;
    }
    // A member with nothing, or one with half again as much as another: the split itself is
    // the story, whatever the order.
    if min == 0 || max_min.is_some_and(|ratio| ratio > 1.5) {
        return Pattern::Uneven;
    }
    // Round-robin: message i goes where message i-n went, and never to the one just served.
    if steps.in_cycle * 100 >= (steps.len - members) * 95 {
        return Pattern::RoundRobin;
    }
    // At random, the next message goes to the same member 1 time in n; always, if fully sticky.
    // Sticky: past halfway between the two.
    let at_random = 1.0 / members as f64;
    if steps.repeats as f64 / (steps.len - 1) as f64 > (at_random + 1.0) / 2.0 {
        return Pattern::Sticky;
    }
    Pattern::RandomLike
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(order: &[u16], members: usize) -> Vec<u32> {
        let mut counts = vec![0; members];
        for &m in order {
            counts[usize::from(m)] += 1;
        }
        counts
    }

    /// A small deterministic generator (xorshift), so the "random" test is the same every run.
    fn random_order(len: usize, members: u16, mut state: u64) -> Vec<u16> {
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % u64::from(members)) as u16
            })
            .collect()
    }

    #[test]
    fn round_robin_is_recognised_whoever_starts() {
        let order: Vec<u16> = (0..300).map(|i| ((i + 2) % 3) as u16).collect();
        let fairness = judge(&counts(&order, 3), order.iter().copied());
        assert_eq!(fairness.pattern, Pattern::RoundRobin);
        assert_eq!(fairness.jain, 1.0);
        assert_eq!(fairness.max_min, Some(1.0));
    }

    #[test]
    fn round_robin_survives_a_few_skips() {
        // A broker skips a member whose queue is full now and then.
        let mut order: Vec<u16> = (0..400).map(|i| (i % 4) as u16).collect();
        order.remove(100);
        order.remove(250);
        assert_eq!(
            judge(&counts(&order, 4), order.iter().copied()).pattern,
            Pattern::RoundRobin
        );
    }

    #[test]
    fn random_choices_are_random_like() {
        let order = random_order(3000, 3, 0x9E37_79B9_7F4A_7C15);
        let fairness = judge(&counts(&order, 3), order.iter().copied());
        assert_eq!(fairness.pattern, Pattern::RandomLike, "{fairness:?}");
        assert!(fairness.jain > 0.99, "{fairness:?}");
    }

    #[test]
    fn long_runs_are_sticky() {
        let order: Vec<u16> = (0..600).map(|i| ((i / 25) % 3) as u16).collect();
        assert_eq!(
            judge(&counts(&order, 3), order.iter().copied()).pattern,
            Pattern::Sticky
        );
    }

    #[test]
    fn a_starved_member_makes_it_uneven() {
        let order: Vec<u16> = (0..300).map(|i| (i % 2) as u16).collect();
        let fairness = judge(&counts(&order, 3), order.iter().copied());
        assert_eq!(fairness.pattern, Pattern::Uneven);
        assert_eq!(fairness.max_min, None);
        assert!((fairness.jain - 0.667).abs() < 0.001, "{fairness:?}");
    }

    #[test]
    fn a_lopsided_split_is_uneven() {
        // Member 0 gets two of every three.
        let order: Vec<u16> = (0..300).map(|i| if i % 3 == 2 { 1 } else { 0 }).collect();
        let fairness = judge(&counts(&order, 2), order.iter().copied());
        assert_eq!(fairness.pattern, Pattern::Uneven);
        assert_eq!(fairness.max_min, Some(2.0));
    }

    #[test]
    fn a_handful_of_messages_tells_nothing() {
        let order = [0u16, 1, 0];
        assert_eq!(
            judge(&counts(&order, 2), order.iter().copied()).pattern,
            Pattern::Undecided
        );
        assert_eq!(judge(&[10], [0; 10]).pattern, Pattern::Undecided);
    }
}
