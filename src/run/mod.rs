//! One run, start to finish: members join, the publisher publishes, the tally decides.
//!
//! This folder is the sample's own logic; it uses `mqtt/` for connections and never the reverse.
//! Read this file first, then `machine/`, the loop, and the rest as you need it:
//!
//! * the run's shape: `plan.rs` (what the flags ask for, the `Role`, the shared limits),
//!   `machine/` (the `Run`: one handler per input; `steps.rs`, the moves between phases) and
//!   `phase.rs` (where it stands, and why it stops), `tasks.rs` (how the clients start, and how the loop hears that one ended);
//! * the clients: `member.rs` (SUBSCRIBE, check the SUBACK, receive, subscribe again after a
//!   reconnect, leave cleanly), with `delivery.rs` (each PUBLISH it gets, and which of its
//!   connections it came on), and `publisher.rs` (numbered messages, pipelined, held while the
//!   group is incomplete, sent again for a named cause), with `publication.rs` (what it sends),
//!   `feeder.rs` (what it queues, when), `pace.rs` (how fast: `--interval`, `--rate`, AWS's 100 a
//!   second per connection), `ack_tracker.rs` (each PUBACK matched to its number) and `marker.rs`
//!   (the end-of-run marker), and `slow.rs` (a member that acknowledges slowly, `--slow-member`);
//! * the publishers together: `numbers.rs` (K publishers' interleaved numbers, and the count
//!   `--duration` decides), `publishing.rs` (the loop's side: start them, end `--duration`, the
//!   periodic stats line) and `publishers.rs` (each one's count and rate);
//! * what ties them together: `event.rs` (what the tasks report, and the `Reporter`), `roster.rs`
//!   (who is who, and where each member's receipts count), `group.rs` (who is in, and the gate),
//!   `receipts.rs` (what the group has, so the publisher does not send it twice), `lost.rs` (what
//!   a member's broken session lost, and when that is sure) and `resender.rs` (each publisher's
//!   lost messages back to it), `churning.rs` (`--churn` carried
//!   out; `churn.rs` parses it);
//! * the books: `books.rs` (one `Tally` per group), `tally/` (counts as events come;
//!   `summing.rs`, the verdict), `slot.rs` and `outages.rs` (the counts), `latency.rs`, `fairness.rs`; `summary.rs` (the result as data, one schema), `report.rs`,
//!   `hints.rs` and `pictures.rs` (the same in words); `output.rs` (where lines go: stderr,
//!   stdout, `--json`, a progress bar); `merge.rs` (one verdict from several processes);
//!   `timeline.rs` (when things happened, in bounded memory, for `--html`'s picture).
//!
//! ```text
//!   members 1..N ──connect──SUBSCRIBE $share/G/T──┐
//!                                                  │ all SUBACKed: the gate opens
//!   publisher ──connect──PUBLISH T #1..#count ─────┘ (only now: a group with no member loses messages)
//!        │                         │
//!        └── Published{seq} ───────┴── Received{member, seq} ──▶ the loop: log + tally
//!                                                   ▲   │ every message accounted for, or --timeout
//!   any client: ConnectionLost ──backoff, reconnect─┘   ▼
//!     a member away closes the gate: the publisher     members UNSUBSCRIBE, DISCONNECT ──▶ Summary
//!     holds until every member is subscribed again
//! ```
//!
//! Every task reports through one channel, bounded so that a loop held up holds the tasks up
//! (`event::QUEUE`), and the loop is the only owner of the books and of who is in the group.
//! Tasks learn that the run is over from one [`CancellationToken`]: cancelling it tells the
//! publisher to stop and every member to leave the group. The loop keeps reading events until
//! every task has ended, so messages that arrive while members are leaving are still counted.
//!
//! ## The group comes first
//!
//! A broken connection is each task's own business (`mqtt/link.rs` reconnects with backoff): a
//! member subscribes again, the publisher sends again what was not acknowledged. But while a
//! member is away, the broker hands its share to the others, and while *no* member is subscribed
//! (a restarted broker, with the publisher back first) it drops every message: PUBACK 0x10. So the
//! loop keeps every member's state, and a *gate* (a `watch` channel) that the publisher follows:
//! open while every member is subscribed, closed from the moment one drops until all are back, or
//! until `--timeout` passes; then the run goes on with the members it has, and says so. And what
//! the broker had routed to a member whose clean session broke is sent again once it cannot
//! arrive any more (`lost.rs`). `--no-hold` keeps the gate open and sends nothing again, to watch
//! the broker's own behaviour.
//!
//! The run moves through one `Phase` at a time: joining, publishing (or, members alone,
//! listening), holding, awaiting the last deliveries, leaving. Whatever way it ends (every
//! message accounted for, `--timeout`, Ctrl-C, a client that gave up) it ends with a summary
//! once the publisher has started (or the members listen), so the books of what was sent and
//! received are never lost.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::failure::Failure;
use crate::mqtt::Broker;

mod ack_tracker;
mod books;
mod churn;
mod churning;
mod delivery;
mod event;
mod fairness;
mod feeder;
mod group;
mod hints;
mod latency;
mod lost;
mod machine;
mod marker;
mod member;
mod merge;
mod numbers;
mod outages;
mod output;
mod pace;
mod phase;
mod pictures;
mod plan;
mod publication;
mod publisher;
mod publishers;
mod publishing;
mod receipts;
mod report;
mod resender;
mod roster;
mod slot;
mod slow;
mod summary;
mod tally;
mod tasks;
mod timeline;

pub use churn::{parse_churn, parse_slow_member, ChurnAction, ChurnStep, DueStep, SlowMember};
pub use latency::Percentiles;
use machine::Run;
pub use merge::merge;
pub use output::{Format, PER_MESSAGE_LOGS_UP_TO};
pub use pace::Asked;
pub use plan::{Filters, Plan, Role, Subscription, MAX_COUNT, MAX_DURATION};
pub use report::{counted, ms};
pub use summary::{Summary, Verdict};
#[cfg(test)]
pub use timeline::tests::sample as sample_timeline;
pub use timeline::{band as delay_band, Bin, Lane, LaneOf, Timeline, BANDS, BAND_LIMITS_MS};

/// How a run ended when it got as far as a report.
pub struct Outcome {
    pub summary: Summary,
    pub ending: Ending,
    /// When things happened, for `--html`'s picture; `None` without `--html` (`timeline.rs`).
    pub timeline: Option<Timeline>,
}

/// Why the run stopped.
pub enum Ending {
    /// Every message accounted for, or `--timeout` passed waiting for the rest: the verdict says.
    Finished,
    /// Ctrl-C or SIGTERM stopped the run; the summary is partial.
    Interrupted,
    /// A client failed after the publisher had started (the broker stayed away past
    /// `--timeout`, say); the summary says what got through before.
    Failed(anyhow::Error),
}

/// Runs the whole flow against `broker`. `shutdown` completes on Ctrl-C / SIGTERM.
///
/// Fails without a summary only when the run could not get going (a member could not join);
/// after that, every ending comes with one.
pub async fn run(
    broker: Broker,
    plan: Plan,
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Failure> {
    if plan.role != Role::All {
        tracing::info!(
            "run id {}: this process is the {}; give every process of this run --run-id {}",
            plan.run_id,
            match plan.role {
                Role::Publisher => "publisher",
                _ => "subscribers",
            },
            plan.run_id
        );
    }
    // AWS IoT Core's 100 publishes a second per connection: said once for the run, not once per
    // publisher (`pace.rs`).
    if broker.on_aws && plan.role != Role::Subscriber {
        if let Some(note) = pace::aws_note(plan.pace, plan.publishers) {
            tracing::info!("{note}");
        }
    }
    // Every task reports on one channel, bounded (see `event::QUEUE`), and says on another
    // when it ends; `finish` tells them all that the run is over.
    let (events_tx, events) = mpsc::channel(event::QUEUE);
    let (ends_tx, ends) = mpsc::unbounded_channel();
    let finish = CancellationToken::new();
    let on_aws = broker.on_aws;
    let launch = tasks::spawner(broker, events_tx, ends_tx, finish.clone());
    let mut run = Run::new(plan, launch, finish);
    if on_aws {
        run = run.doubt_the_order(resender::AWS_ORDER_GRACE);
    }
    run.drive(events, ends, shutdown).await
}
