//! How fast each publisher may go: `--interval`, `--rate`, and AWS IoT Core's 100 publishes a
//! second per connection, as one [`Pace`] per publisher connection.
//!
//! ## A schedule, not sleeps
//!
//! "Sleep 2.5 ms after each message" does not give 400 messages a second: every sleep ends a
//! little late (tokio's timer ticks once a millisecond, and a busy machine adds more), and the
//! lateness adds up, message after message. A [`Pace`] keeps a *schedule* instead: message k is
//! due at `start + k·period`, on tokio's clock, and a message that goes out late does not move
//! the next one. This is a token bucket in its GCRA form (the "generic cell rate algorithm" of
//! ATM networks): one instant, `due`, instead of a count of tokens and a refill task.
//!
//! Catching up is bounded by `slack`: a message may go out at most `slack` before its place in
//! a schedule that started afresh when it was late; beyond that the schedule restarts from now
//! (after a hold at the gate, say, the publisher does not burst to make up for the lost time).
//! So the rate never exceeds what was asked, on average, and a burst is at most
//! `slack / period + 1` messages.
//!
//! ## Which pace
//!
//! * `--interval D`: each publisher waits D between two of its publishes (no slack: a pause is a
//!   pause), as it always did;
//! * `--rate N`: N messages a second in all, each of the K publishers N/K, steady;
//! * on AWS IoT Core (an `*.iot.*.amazonaws.com` endpoint, or `--aws`): at most 100 publishes a
//!   second *per connection* ([`AWS_PUBLISHES_PER_SECOND`]), whatever the flags ask, unless they
//!   already ask for less. Every PUBLISH counts, a message sent again too, so the pace applies to
//!   all of them. Against any other broker nothing is paced unless asked.
//!
//! With neither flag, and not on AWS, there is no pace at all: messages go out as fast as the
//! broker's Receive Maximum and its PUBACKs allow (see `publisher.rs`).

use std::time::Duration;

use tokio::time::Instant;

/// AWS IoT Core takes at most this many PUBLISH requests a second on one connection, and drops
/// the excess; the quota cannot be raised. Source: AWS IoT Core developer guide, "AWS IoT Core
/// endpoints and quotas" → "AWS IoT Core message broker and protocol limits and quotas",
/// "Publish requests per second per connection": 100, not adjustable.
pub const AWS_PUBLISHES_PER_SECOND: u32 = 100;

/// The pace each connection keeps on AWS: one below the quota. With the one message of slack a
/// [`Pace`] allows (to absorb a late timer), 99 a second keeps *every* window of one second at
/// 100 messages or fewer: 100 periods of 1/99 s, less one period of slack, are exactly one second.
/// AWS does not say how it counts its second; this bound holds however it does.
const AWS_PACE_PER_SECOND: f64 = (AWS_PUBLISHES_PER_SECOND - 1) as f64;

/// Below this much slack, a late timer tick (tokio's timer has a 1 ms resolution, a busy
/// machine adds more) would make a fast `--rate` drift.
const LEAST_SLACK: Duration = Duration::from_millis(10);

/// One publisher's schedule; see the module doc.
#[derive(Debug, Clone)]
pub struct Pace {
    period: Duration,
    slack: Duration,
    /// When the next message is due; `None` until the first.
    due: Option<Instant>,
}

impl Pace {
    /// One message every `period`, catching up at most `slack` when late.
    pub fn new(period: Duration, slack: Duration) -> Pace {
        Pace {
            period,
            slack,
            due: None,
        }
    }

    /// `per_second` messages a second, steady.
    pub fn per_second(per_second: f64) -> Pace {
        // Rounded up to the nanosecond: never faster than asked (see `AWS_PACE_PER_SECOND`).
        let period = Duration::from_nanos((1e9 / per_second).ceil() as u64);
        Pace::new(period, period.max(LEAST_SLACK))
    }

    /// The time between two messages.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// When the next message is due, if that is still to come. (A sleep until a moment already
    /// past still waits for the timer's next tick, a millisecond: only sleep when there is
    /// something to wait for.)
    pub fn due(&self) -> Option<Instant> {
        self.due.filter(|due| *due > Instant::now())
    }

    /// Waits until the next message is due, and books it.
    #[cfg(test)]
    pub async fn wait(&mut self) {
        if let Some(due) = self.due() {
            tokio::time::sleep_until(due).await;
        }
        self.book();
    }

    /// A message goes out now: the next is due a period after its place in the schedule.
    pub fn book(&mut self) {
        let now = Instant::now();
        let place = match self.due {
            Some(due) => due.max(now.checked_sub(self.slack).unwrap_or(now)),
            None => now,
        };
        self.due = Some(place + self.period);
    }
}

/// What the flags ask of the publishers' pace, before the broker is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Asked {
    /// As fast as the broker acknowledges.
    Free,
    /// `--interval`: this pause between two publishes of each publisher.
    Interval(Duration),
    /// `--rate`: this many messages a second, all publishers together.
    Rate(f64),
}

/// The pace one of `publishers` connections keeps for `asked`, on AWS or not; `None` for none.
pub fn pace_for(asked: Asked, publishers: u32, on_aws: bool) -> Option<Pace> {
    let asked_per_second = match asked {
        Asked::Free => None,
        Asked::Interval(pause) if pause.is_zero() => None,
        Asked::Interval(pause) => Some(1.0 / pause.as_secs_f64()),
        Asked::Rate(total) => Some(total / f64::from(publishers.max(1))),
    };
    let aws_caps = on_aws && asked_per_second.is_none_or(|asked| asked > AWS_PACE_PER_SECOND);
    if aws_caps {
        return Some(Pace::per_second(AWS_PACE_PER_SECOND));
    }
    match asked {
        Asked::Free => None,
        Asked::Interval(pause) if pause.is_zero() => None,
        Asked::Interval(pause) => Some(Pace::new(pause, Duration::ZERO)),
        Asked::Rate(_) => asked_per_second.map(Pace::per_second),
    }
}

/// The line a run on AWS says once, when AWS's quota slows its publishers down; `None` when the
/// flags already ask for no more than it allows.
pub fn aws_note(asked: Asked, publishers: u32) -> Option<String> {
    let capped = pace_for(asked, publishers, true)?;
    if pace_for(asked, publishers, false).is_some_and(|own| own.period() >= capped.period()) {
        return None;
    }
    let each = match publishers {
        1 => "the publisher paces itself".to_owned(),
        k => format!(
            "each of the {k} publishers paces itself (about {} a second in all)",
            k * AWS_PACE_PER_SECOND as u32
        ),
    };
    Some(format!(
        "AWS IoT Core takes at most {AWS_PUBLISHES_PER_SECOND} publishes a second per connection \
         and drops the excess (quota \"Publish requests per second per connection\"): {each} \
         to {} a second; for more, add publisher connections with --publishers",
        AWS_PACE_PER_SECOND as u32
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` messages through `pace`, each `late` after it was due, and returns when each
    /// went out, from the first.
    async fn send(pace: &mut Pace, n: usize, late: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..n {
            pace.wait().await;
            times.push(start.elapsed());
            tokio::time::sleep(late).await;
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn a_rate_does_not_drift_when_the_timer_is_late() {
        // 400 a second, each wake-up a millisecond late: 2,000 messages still take 5 s.
        let mut pace = Pace::per_second(400.0);
        let times = send(&mut pace, 2001, Duration::from_millis(1)).await;
        let last = times[2000].as_secs_f64();
        assert!((4.99..=5.01).contains(&last), "took {last} s");
    }

    #[tokio::test(start_paused = true)]
    async fn on_aws_no_second_holds_more_than_100() {
        let mut pace = pace_for(Asked::Free, 1, true).expect("paced on AWS");
        // On time (as far as the timer's millisecond goes), and now and then late by more than
        // two periods: the pace then catches up at once, the worst case for a window of a
        // second. (At 100 a second this test finds 101 in a window.)
        let mut times = Vec::new();
        let start = Instant::now();
        for k in 0..600u64 {
            pace.wait().await;
            times.push(start.elapsed());
            if k % 200 == 49 {
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        for (k, first) in times.iter().enumerate() {
            let within = times[k..]
                .iter()
                .take_while(|t| **t < *first + Duration::from_secs(1))
                .count();
            assert!(
                within <= 100,
                "{within} publishes in the second from {first:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_is_a_pause_and_a_hold_does_not_burst() {
        let mut pace = pace_for(Asked::Interval(Duration::from_millis(50)), 1, false).unwrap();
        pace.wait().await;
        let start = Instant::now();
        pace.wait().await;
        assert_eq!(start.elapsed(), Duration::from_millis(50));
        // Held for a second: the next goes at once, the one after a full pause later.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = Instant::now();
        pace.wait().await;
        pace.wait().await;
        assert_eq!(start.elapsed(), Duration::from_millis(50));
    }

    #[test]
    fn aws_caps_only_what_is_faster() {
        let period = |asked, k, aws| pace_for(asked, k, aws).map(|p| p.period());
        assert_eq!(period(Asked::Free, 1, false), None);
        let aws = period(Asked::Free, 1, true).expect("paced");
        assert!(aws > Duration::from_millis(10) && aws < Duration::from_micros(10_200));
        // 1,000 a second over 4 connections is 250 each: capped. 200 over 4 is 50 each: not.
        assert_eq!(period(Asked::Rate(1000.0), 4, true), Some(aws));
        assert_eq!(
            period(Asked::Rate(200.0), 4, true),
            Some(Duration::from_millis(20))
        );
        let slow = Asked::Interval(Duration::from_secs(1));
        assert_eq!(period(slow, 1, true), Some(Duration::from_secs(1)));
        assert!(aws_note(slow, 1).is_none());
        let note = aws_note(Asked::Free, 3).expect("said once");
        assert!(note.contains("each of the 3 publishers") && note.contains("99 a second"));
    }
}
