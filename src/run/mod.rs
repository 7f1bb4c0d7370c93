//! One run, start to finish: members join, the publisher publishes, the tally decides.
//!
//! This folder is the sample's own logic; it uses `mqtt/` for connections and never the reverse.
//! Read this file first, then:
//!
//! * `member.rs`: one group member: SUBSCRIBE, check the SUBACK, receive, subscribe again after
//!   a reconnect, leave cleanly;
//! * `publisher.rs`: numbered messages, pipelined, held while the group is incomplete, and what
//!   was not acknowledged (or went to nobody) sent again; `ack_tracker.rs` matches each PUBACK to
//!   its number across packet-id reuse and reconnects;
//! * `receipts.rs`: what the group has received, so the publisher does not send again what a
//!   member already has;
//! * `group.rs`: who is in the group, and the gate that holds the publisher while one is away;
//! * `event.rs`: what the tasks report, and the `Reporter` they report with;
//! * `churn.rs`: `--churn` and `--slow-member`; the loop below sets each step off when its
//!   message is acknowledged (`Churning`);
//! * `merge.rs`: one verdict from the `--json` summaries of a run spread over processes
//!   (`--role`, `--merge`), replayed into the same tally;
//! * `tally.rs` counts the events; `latency.rs` keeps the delays, `fairness.rs` judges the split
//!   and the broker's pattern; `summary.rs` is the result as data; `report.rs` writes it as a
//!   table and a verdict; `output.rs` decides where lines go (stderr, stdout, `--json`, a
//!   progress bar).
//!
//! ```text
//!   members 1..N ──connect──SUBSCRIBE $share/G/T──┐
//!                                                  │ all SUBACKed: the gate opens
//!   publisher ──connect──PUBLISH T #1..#count ─────┘ (only now: a group with no member loses messages)
//!        │                         │
//!        └── Published{seq} ───────┴── Received{client_id, seq} ──▶ this loop: log + tally
//!                                                   ▲   │ every message accounted for, or --timeout
//!   any client: ConnectionLost ──backoff, reconnect─┘   ▼
//!     a member away closes the gate: the publisher     members UNSUBSCRIBE, DISCONNECT ──▶ Summary
//!     holds until every member is subscribed again
//! ```
//!
//! Every task reports through one channel, and this loop is the only owner of the [`Tally`] and
//! of who is in the group. Tasks learn that the run is over from one [`CancellationToken`]:
//! cancelling it tells the publisher to stop and every member to leave the group. The loop keeps
//! reading events until every task has ended, so messages that arrive while members are leaving
//! are still counted.
//!
//! ## The group comes first
//!
//! A broken connection is each task's own business (`mqtt/link.rs` reconnects with backoff): a
//! member subscribes again, the publisher sends again what was not acknowledged. But while a
//! member is away, the broker hands its share to the others, and while *no* member is subscribed
//! (a restarted broker, with the publisher back first) it drops every message: PUBACK 0x10. So this
//! loop keeps every member's state, and a *gate* (a `watch` channel) that the publisher follows:
//! open while every member is subscribed, closed from the moment one drops until all are back, or
//! until `--timeout` passes; then the run goes on with the members it has, and says so.
//! `--no-hold` keeps the gate open, to watch the broker's own behaviour.
//!
//! The run moves through one `Phase` at a time: joining, publishing (or, members alone,
//! listening), holding, awaiting the last deliveries, leaving. Whatever way it ends (every
//! message accounted for, `--timeout`, Ctrl-C, a client that gave up) it ends with a summary
//! once the publisher has started (or the members listen), so the books of
//! what was sent and received are never lost.

use std::future::Future;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::failure::Failure;
use crate::mqtt::Broker;

mod ack_tracker;
mod books;
mod churn;
mod churning;
mod event;
mod fairness;
mod group;
mod hints;
mod latency;
mod machine;
mod member;
mod merge;
mod output;
mod phase;
mod pictures;
mod plan;
mod publisher;
mod receipts;
mod report;
mod roster;
mod slot;
mod summary;
mod tally;
mod tasks;

pub use churn::{parse_churn, parse_slow_member, ChurnAction, ChurnStep, DueStep, SlowMember};
use machine::Run;
pub use merge::merge;
pub use output::{Format, PER_MESSAGE_LOGS_UP_TO};
pub use plan::{Filters, Plan, Role, Subscription, MAX_COUNT, MAX_DURATION};
pub use summary::{Summary, Verdict};

/// How a run ended when it got as far as a report.
pub struct Outcome {
    pub summary: Summary,
    pub ending: Ending,
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
    // Every task reports on one channel, bounded (see `event::QUEUE`), and says on another
    // when it ends; `finish` tells them all that the run is over.
    let (events_tx, events) = mpsc::channel(event::QUEUE);
    let (ends_tx, ends) = mpsc::unbounded_channel();
    let finish = CancellationToken::new();
    let launch = tasks::spawner(broker, events_tx, ends_tx, finish.clone());
    Run::new(plan, launch, finish)
        .drive(events, ends, shutdown)
        .await
}
