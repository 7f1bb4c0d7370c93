//! Where a run stands ([`Phase`]), and once it is leaving, why ([`Stop`]): the state the loop in
//! `machine/` moves through, with what each state means for the run's ending.

use anyhow::anyhow;
use tokio::time::Instant;

use super::{Ending, Plan};
use crate::failure::Failure;

/// Where the run stands.
pub enum Phase {
    /// Members are connecting and subscribing; the publisher waits for all of them.
    Joining,
    /// `--role subscriber`: every member is in, and the publisher is in another process. The
    /// members listen until the end-of-run marker, `--count` messages, or `until`: `--timeout`
    /// after the last message of ours.
    Listening { until: Instant },
    /// The publisher is running, and every member it waits for is subscribed.
    Publishing,
    /// A member is away: the gate is closed until every member is back, or until `until`.
    Holding { since: Instant, until: Instant },
    /// The broker took every message; the last deliveries may take until `until`.
    AwaitingDeliveries { until: Instant },
    /// The run is over: members leave, clients disconnect, the loop counts what still comes.
    /// `got_going`: it had left `Joining` (the books were open), so it ends with a summary.
    Leaving { stop: Stop, got_going: bool },
}

impl Phase {
    /// Ctrl-C or SIGTERM already stopped the run: a second signal is `shutdown.rs`'s business.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            Phase::Leaving {
                stop: Stop::Interrupted { .. },
                ..
            }
        )
    }

    /// Why the run stopped, and whether it had got going (left `Joining`). A run whose tasks
    /// all ended without leaving (none failed, none was told to) stopped done.
    pub fn stopped(self) -> (Stop, bool) {
        match self {
            Phase::Leaving { stop, got_going } => (stop, got_going),
            other => (Stop::Done, !matches!(other, Phase::Joining)),
        }
    }

    /// When this phase runs out of time, if it can.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Holding { until, .. }
            | Phase::AwaitingDeliveries { until }
            | Phase::Listening { until } => Some(*until),
            _ => None,
        }
    }
}

/// Why the run is leaving. The first cause stands, but Ctrl-C always ends in `Interrupted`.
pub enum Stop {
    /// Every message is accounted for, or (members alone) the publisher said it is done.
    Done,
    /// `--timeout` passed waiting for the last deliveries, or (members alone) in silence.
    OutOfTime,
    /// Ctrl-C or SIGTERM; `error` is a failure that came before or after it, only logged.
    Interrupted { error: Option<anyhow::Error> },
    /// A client failed.
    Failed(anyhow::Error),
}

impl Stop {
    /// A client failed while the run was leaving: the first failure stands, and one that
    /// comes with Ctrl-C is only logged; after any other cause, the run failed.
    pub fn failed(&mut self, error: anyhow::Error) {
        match self {
            Stop::Interrupted { error: first } => {
                first.get_or_insert(error);
            }
            Stop::Failed(_) => {}
            Stop::Done | Stop::OutOfTime => *self = Stop::Failed(error),
        }
    }

    /// Ctrl-C: whatever the cause was, the run ends interrupted, a failure only logged.
    pub fn interrupted(&mut self) {
        let error = match std::mem::replace(self, Stop::Done) {
            Stop::Failed(error) => Some(error),
            Stop::Interrupted { error } => error,
            Stop::Done | Stop::OutOfTime => None,
        };
        *self = Stop::Interrupted { error };
    }

    /// How a run that stopped for this reason ends. `got_going`: it had left `Joining`, so it has
    /// books to report; `heard_nothing`: members alone that heard nothing of their run, which is
    /// no delivery verdict, only a failure that says what to check.
    pub fn ending(self, got_going: bool, heard_nothing: Option<String>) -> Result<Ending, Failure> {
        Ok(match self {
            // A run that never got going has nothing to report: the error says it all.
            Stop::Failed(error) if !got_going => return Err(Failure::Connection(error)),
            Stop::Failed(error) => Ending::Failed(error),
            Stop::Interrupted { error } => {
                if let Some(error) = error {
                    tracing::error!("{error:#}");
                }
                Ending::Interrupted
            }
            Stop::Done | Stop::OutOfTime => match heard_nothing {
                Some(why) => Ending::Failed(anyhow!(why)),
                None => Ending::Finished,
            },
        })
    }
}

/// Why members alone that heard nothing of their run end in a failure: the publisher has not
/// run, or runs with another --run-id, topic or group.
pub fn heard_nothing(plan: &Plan) -> String {
    format!(
        "no message of run {} reached the members of this process within {} (--timeout): \
         start the publisher with --run-id {} and the same --topic and group",
        plan.run_id,
        humantime::format_duration(plan.timeout),
        plan.run_id
    )
}

/// Sleeps until `deadline`, or forever when there is none.
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
