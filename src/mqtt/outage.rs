//! One outage of a [`Connection`](super::Connection), from the break to the new CONNACK: what the
//! broken connection left unsent, and the pauses between the attempts to reconnect.
//!
//! After an error rumqttc would reconnect at once, again and again (about 48,000 attempts in 4 s
//! against a stopped broker). So each attempt waits first: [`Backoff`] pauses 100 ms, doubling to
//! 5 s, each pause a random length between half and all of that, so that the members of a
//! restarted broker do not all knock at the same instant. Against AWS IoT Core no pause is shorter
//! than a second, its limit for one client id ([`AWS_CONNECT_INTERVAL`]).

use std::time::Duration;

use anyhow::anyhow;
use rand::RngExt;
use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::{EventLoop, Request};
use tokio::time::Instant;

use super::Broker;

/// The first pause before a reconnect attempt, and the longest one.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// AWS IoT Core takes at most one CONNECT a second for one client id (AWS IoT Core developer
/// guide, "AWS IoT Core endpoints and quotas", message broker limits: "Connect requests per
/// second per client ID", 1). Against AWS every pause before a reconnect lasts at least this
/// long, the first one included, so two attempts of one client are never closer than this.
pub const AWS_CONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// The state of one outage, from the error to the new CONNACK (and on, across breaks that follow
/// a reconnect within `link.rs`'s `STABLE`).
pub(super) struct Outage {
    /// When the connection first broke; `--timeout` counts from here.
    pub since: Instant,
    /// When it broke this time.
    pub broke: Instant,
    /// Why it broke this time, in words.
    pub cause: String,
    /// Why the latest attempt failed, in words.
    pub last_error: Option<String>,
    /// Attempts since it broke this time, and in the whole outage.
    pub attempts: u32,
    pub total_attempts: u32,
    /// How often it broke again soon after reconnecting.
    pub relapses: u32,
    pub backoff: Backoff,
    /// What rumqttc held when the connection broke (see `Reconnected::unsent`).
    pub unsent: Vec<Publish>,
}

impl Outage {
    pub fn new(cause: String, unsent: Vec<Publish>, broker: &Broker) -> Outage {
        let now = Instant::now();
        Outage {
            since: now,
            broke: now,
            cause,
            last_error: None,
            attempts: 0,
            total_attempts: 0,
            relapses: 0,
            backoff: Backoff::new(broker),
            unsent,
        }
    }

    /// The connection broke again soon after this outage ended: carry on with it.
    pub fn relapse(mut self, cause: String, unsent: Vec<Publish>) -> Outage {
        self.broke = Instant::now();
        self.cause = cause;
        self.last_error = None;
        self.attempts = 0;
        self.relapses += 1;
        self.unsent = unsent;
        self
    }

    /// Why `client_id` stops trying, once the broker stayed away for `--timeout`.
    pub fn gave_up(&self, client_id: &str, broker: &Broker) -> anyhow::Error {
        let timeout = humantime::format_duration(broker.timeout);
        if self.relapses > 0 {
            return anyhow!(
                "[{client_id}] gave up after {timeout} (--timeout): the connection broke {} times, each soon after reconnecting (last: {}); \
                 brokers such as mosquitto do that when another client connects with the same client id: make --client_id unique, \
                 or check the broker's log",
                self.relapses + 1,
                self.last_error.as_deref().unwrap_or(&self.cause),
            );
        }
        let last = match &self.last_error {
            Some(error) => error.clone(),
            None => format!(
                "no answer from {}:{} since the connection broke ({})",
                broker.host, broker.port, self.cause
            ),
        };
        anyhow!(
            "[{client_id}] gave up reconnecting after {timeout} (--timeout) and {} attempts: {last}; is the broker running? a longer --timeout waits longer",
            self.total_attempts,
        )
    }
}

/// What rumqttc held when a connection broke: the messages to send again.
///
/// rumqttc moves what it held into `pending` when a connection breaks, and clears `pending` on a
/// CONNACK without a session: take the messages out first, so the caller can send them again.
/// Anything else it held (a SUBSCRIBE, an UNSUBSCRIBE) is void in the new session anyway.
pub(super) fn take_unsent(eventloop: &mut EventLoop) -> Vec<Publish> {
    let mut unsent: Vec<Publish> = eventloop
        .pending
        .drain(..)
        .filter_map(|request| match request {
            Request::Publish(publish) => Some(publish),
            _ => None,
        })
        .collect();
    // A message held back on a packet id collision sits outside `pending`, and rumqttc does not
    // clear it: left there, it would block every later message on the new connection.
    if let Some(held_back) = eventloop.state.collision.take() {
        unsent.push(held_back);
    }
    unsent
}

/// Exponential backoff with jitter: 100 ms, 200 ms, 400 ms, ... up to 5 s, each pause a random
/// length between half and all of that, and never below the floor (a second on AWS IoT Core).
///
/// The doubling keeps a broker that is down from being hammered; the jitter keeps the N members of
/// a restarted broker from all reconnecting in the same millisecond, again and again.
pub(super) struct Backoff {
    next: Duration,
    floor: Duration,
}

impl Backoff {
    pub fn new(broker: &Broker) -> Backoff {
        Backoff {
            next: FIRST_PAUSE,
            floor: if broker.on_aws {
                AWS_CONNECT_INTERVAL
            } else {
                Duration::ZERO
            },
        }
    }

    pub fn next_pause(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(LONGEST_PAUSE);
        rand::rng()
            .random_range(ceiling / 2..=ceiling)
            .max(self.floor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backoff(floor: Duration) -> Backoff {
        Backoff {
            next: FIRST_PAUSE,
            floor,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut backoff = backoff(Duration::ZERO);
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.next_pause()).collect();
        // Never zero: rumqttc must not be polled again at once after an error.
        assert!(pauses[0] >= Duration::from_millis(50) && pauses[0] <= FIRST_PAUSE);
        assert!(pauses[1] >= Duration::from_millis(100) && pauses[1] <= 2 * FIRST_PAUSE);
        for pause in &pauses[8..] {
            assert!(
                *pause >= LONGEST_PAUSE / 2 && *pause <= LONGEST_PAUSE,
                "{pause:?}"
            );
        }
    }

    #[test]
    fn on_aws_no_pause_is_shorter_than_a_second() {
        let mut backoff = backoff(AWS_CONNECT_INTERVAL);
        let pauses: Vec<Duration> = (0..12).map(|_| backoff.next_pause()).collect();
        assert_eq!(pauses[0], AWS_CONNECT_INTERVAL, "the first retry too");
        assert!(pauses.iter().all(|pause| *pause >= AWS_CONNECT_INTERVAL));
        assert!(pauses[8..].iter().all(|pause| *pause >= LONGEST_PAUSE / 2));
    }
}
