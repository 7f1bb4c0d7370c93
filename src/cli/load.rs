//! The load flags: how many publisher connections, how fast, how big, for how long, and how
//! often a long run in a pipe says how it goes. The knobs load testers know from emqtt-bench,
//! MQTTX bench and mqtt-benchmark; the run's side is in `run/numbers.rs`, `run/pace.rs` and
//! `run/publishing.rs`.

use std::time::Duration;

use super::values::{PayloadSize, Publishers, Rate, Span};
use super::Args;
use crate::failure::Failure;
use crate::message;
use crate::mqtt::MAX_INCOMING_PACKET;
use crate::run::{Asked, MAX_COUNT};

/// Room in a PUBLISH besides the payload: fixed header, packet id, properties (our three user
/// properties and the payload format). The topic is counted apart.
const PUBLISH_OVERHEAD: usize = 256;

/// Load: connections, rate, size, duration.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Load")]
pub struct LoadArgs {
    /// Publisher connections that share the numbers: publisher j of K sends j, j+K, j+2K, …
    /// as <ID>-publisher-j (one keeps <ID>-publisher), each with its own pace and re-sends
    #[arg(long, value_name = "K", default_value = "1", hide_short_help = true)]
    pub publishers: Publishers,

    /// Messages a second, all publishers together, steady (a schedule on the clock, not sleeps
    /// that drift); instead of --interval
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "interval",
        hide_short_help = true
    )]
    pub rate: Option<Rate>,

    /// Pad every payload to exactly BYTES, "<TEXT> [n]" first so the number stays readable; at
    /// most 131072 (128 KiB) on AWS IoT Core
    #[arg(long, value_name = "BYTES", hide_short_help = true)]
    pub payload_size: Option<PayloadSize>,

    /// Publish until this much time has passed since publishing began (e.g. 30s, 10m); the count
    /// follows. With --count as well, whichever comes first ends the publishing
    #[arg(long, value_name = "DURATION", hide_short_help = true)]
    pub duration: Option<Span>,

    /// When stderr is not a terminal (CI, a pipe, a file): a line this often with what was
    /// received, msg/s, the p99 delay and what is missing so far
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        hide_short_help = true
    )]
    pub stats_every: Span,

    /// `--count` was on the command line (with `--duration` it caps the run); set by
    /// `Args::try_parse_from`.
    #[arg(skip)]
    pub count_given: bool,
}

/// The load flags, checked against the rest: the plan's fields.
pub(super) struct Load {
    /// `--count`, or with `--duration` the most the run may send.
    pub count: u32,
    pub duration: Option<Duration>,
    pub publishers: u32,
    pub pace: Asked,
    pub payload_size: Option<usize>,
    pub stats_every: Duration,
}

impl Load {
    /// About how many messages the run sends: the count, or with `--duration` what the pace
    /// allows in that time (`None`: as many as the broker takes).
    pub fn expected(&self) -> Option<u32> {
        let Some(duration) = self.duration else {
            return Some(self.count);
        };
        let per_second = match self.pace {
            Asked::Free => return None,
            Asked::Rate(rate) => rate,
            Asked::Interval(pause) => f64::from(self.publishers) / pause.as_secs_f64(),
        };
        Some((per_second * duration.as_secs_f64()).min(f64::from(self.count)) as u32)
    }
}

impl Args {
    /// The load flags as the plan's fields, or the one line that says which flag to change.
    pub(super) fn load(&self) -> Result<Load, Failure> {
        let (load, messages) = (&self.load, &self.messages);
        let duration = load.duration.map(|Span(span)| span);
        // With --duration and no --count, the run may go up to the most any run sends.
        let count = match duration.is_some() && !load.count_given {
            true => MAX_COUNT,
            false => messages.count.0,
        };
        let pace = match (load.rate, messages.interval.0) {
            (Some(Rate(rate)), _) => Asked::Rate(rate),
            (None, pause) if pause.is_zero() => Asked::Free,
            (None, pause) => Asked::Interval(pause),
        };
        let Publishers(publishers) = load.publishers;
        if duration.is_some() && self.experiments.churn.is_some() {
            return Err(Failure::input(
                "--churn's points are message numbers or shares of --count, and with --duration \
                 the count is not known in advance: use --count with --churn, not --duration",
            ));
        }
        if duration.is_none() && publishers > count {
            return Err(Failure::input(format!(
                "--publishers {publishers} is more than --count {count}: each publisher needs a \
                 message of its own; use at most {count} publishers, or a larger --count"
            )));
        }
        let payload_size = load.payload_size.map(|PayloadSize(size)| size);
        if let Some(size) = payload_size {
            self.check_payload_size(size, count)?;
        }
        Ok(Load {
            count,
            duration,
            publishers,
            pace,
            payload_size,
            stats_every: load.stats_every.0,
        })
    }

    /// `--payload-size` must hold the message's text and its largest number, fit what the
    /// members accept, and (on AWS IoT Core) AWS's limit.
    fn check_payload_size(&self, size: usize, last: u32) -> Result<(), Failure> {
        let text = &self.messages.message;
        let needs = message::payload_needs(text, last);
        if size < needs {
            return Err(Failure::input(format!(
                "--payload-size {size} is too small: message {last} needs {needs} bytes \
                 (\"{}\"); use at least {needs}, or a shorter --message",
                message::payload(text, last)
            )));
        }
        let room = MAX_INCOMING_PACKET as usize - PUBLISH_OVERHEAD - self.messages.topic.len();
        if size > room {
            return Err(Failure::input(format!(
                "--payload-size {size}: the members take packets of up to {MAX_INCOMING_PACKET} \
                 bytes, topic and properties included; use at most {room}"
            )));
        }
        // AWS's 128 KB limit is one of AWS's limits (`aws.rs`, `check_aws_limits`).
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::client_ids;
    use super::*;

    fn plan(words: &[&str]) -> crate::run::Plan {
        let words = ["x", "--demo", "--client_id", "p"].iter().chain(words);
        let args = Args::try_parse_from(words).expect("valid flags");
        args.plan().expect("a plan")
    }

    #[test]
    fn every_publisher_is_among_the_client_ids() {
        let ids = client_ids(&plan(&["--publishers", "3"]));
        for j in 1..=3 {
            assert!(ids.contains(&format!("p-publisher-{j}")), "{ids:?}");
        }
        assert!(!ids.contains(&"p-publisher".to_owned()), "{ids:?}");
        assert_eq!(client_ids(&plan(&[]))[0], "p-publisher");
    }

    #[test]
    fn a_duration_runs_up_to_the_count_given_or_the_most_a_run_sends() {
        let open = plan(&["--duration", "5s"]);
        assert_eq!((open.count, open.fixed_count()), (MAX_COUNT, None));
        assert!(
            !open.per_message_logs,
            "as many as the broker takes: no line each"
        );
        let capped = plan(&["--duration", "5s", "--count", "100"]);
        assert_eq!(capped.count, 100);
        let paced = plan(&["--duration", "5s", "--rate", "100"]);
        assert!(paced.per_message_logs, "about 500 messages: a line each");
        assert_eq!(paced.pace, Asked::Rate(100.0));
        assert_eq!(plan(&[]).fixed_count(), Some(10));
    }
}
