//! One run, start to finish: members join, the publisher publishes, the tally decides.
//!
//! ```text
//!   members 1..N ──connect──SUBSCRIBE $share/G/T──┐
//!                                                  │ all SUBACKed
//!   publisher ──connect──PUBLISH T #1..#count ─────┘ (only now: a group with no member loses messages)
//!        │                         │
//!        └── Published{seq} ───────┴── Received{client_id, seq} ──▶ this loop: log + tally
//!                                                   ▲   │ every message accounted for, or --timeout
//!   any client: connection broke ──backoff, reconnect┘   ▼
//!     Reconnected{client}: a member SUBSCRIBEs again,  members UNSUBSCRIBE, DISCONNECT ──▶ Summary
//!     the publisher re-sends what was not PUBACKed
//! ```
//!
//! Every task reports through one channel, and this loop is the only owner of the [`Tally`].
//! Tasks learn that the run is over from one [`CancellationToken`]: cancelling it tells the
//! publisher to stop and every member to leave the group. The loop keeps reading events until
//! every task has ended, so messages that arrive while members are leaving are still counted.
//!
//! A broken connection is each task's own business (`connection.rs` reconnects with backoff): a
//! member subscribes again, the publisher sends again what was not acknowledged, and each says so
//! with a `Reconnected` event. This loop only counts them for the report. A task that cannot
//! reconnect within `--timeout` ends with an error, and the first error ends the run.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connection::Broker;
use crate::event::Event;
use crate::failure::Failure;
use crate::publisher::{self, Publication};
use crate::report::{Summary, SummaryContext, Tally};
use crate::share::SharedFilter;
use crate::subscriber::{self, Member};

/// Everything a run needs besides the broker, checked and complete (built by `cli.rs`).
#[derive(Debug, Clone)]
pub struct Plan {
    pub filter: SharedFilter,
    /// Prefix of every client id of this run.
    pub client_id: String,
    /// Random id stamped on this run's messages (see `message.rs`).
    pub run_id: String,
    pub subscribers: u16,
    pub count: u32,
    pub qos: QoS,
    pub message: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub json: bool,
}

impl Plan {
    /// `<ID>-subscriber-1` ... `<ID>-subscriber-N`.
    pub fn member_ids(&self) -> Vec<String> {
        (1..=self.subscribers)
            .map(|k| format!("{}-subscriber-{k}", self.client_id))
            .collect()
    }

    /// `<ID>-publisher`.
    pub fn publisher_id(&self) -> String {
        format!("{}-publisher", self.client_id)
    }
}

/// How a run ended when it got as far as a report.
pub struct Outcome {
    pub summary: Summary,
    /// Ctrl-C or SIGTERM stopped the run; the summary is partial.
    pub interrupted: bool,
}

/// Which task finished: the run treats the publisher's end differently.
enum Role {
    Member,
    Publisher,
}

/// Runs the whole flow against `broker`. `shutdown` completes on Ctrl-C / SIGTERM.
pub async fn run(
    broker: Broker,
    plan: Plan,
    shutdown: impl Future<Output = ()>,
) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let finish = CancellationToken::new();
    let member_ids = plan.member_ids();
    let mut tally = Tally::new(plan.count, &member_ids);
    let mut tasks = JoinSet::new();

    for client_id in member_ids {
        let member = Member {
            client_id,
            filter: plan.filter.clone(),
            qos: plan.qos,
            run_id: plan.run_id.clone(),
        };
        let task = subscriber::run(broker.clone(), member, events_tx.clone(), finish.clone());
        tasks.spawn(async move { (Role::Member, task.await) });
    }

    tokio::pin!(shutdown);
    // Members that hold their subscription at least once; a member subscribes again after each
    // reconnect, so counting `Subscribed` events would overshoot.
    let mut subscribed = BTreeSet::new();
    let mut publisher_started = false;
    let mut interrupted = false;
    let mut first_error: Option<anyhow::Error> = None;
    // Armed when the publisher is done: the longest we then wait for the last deliveries.
    let mut deliveries_deadline: Option<Instant> = None;

    loop {
        // Publish only once every member holds its subscription: a message sent to a group with
        // no member yet is dropped by the broker, and the report would blame the group.
        if !publisher_started
            && subscribed.len() == usize::from(plan.subscribers)
            && !finish.is_cancelled()
        {
            publisher_started = true;
            let publication = Publication {
                client_id: plan.publisher_id(),
                topic: plan.filter.topic().to_owned(),
                text: plan.message.clone(),
                count: plan.count,
                qos: plan.qos,
                interval: plan.interval,
                run_id: plan.run_id.clone(),
            };
            let task = publisher::run(
                broker.clone(),
                publication,
                events_tx.clone(),
                finish.clone(),
            );
            tasks.spawn(async move { (Role::Publisher, task.await) });
        }

        // `events_tx` lives until this function returns (the publisher gets a clone later), so
        // `recv()` never sees a closed channel: the loop ends when the last task has ended, and
        // the drain after the loop counts what those tasks sent just before.
        tokio::select! {
            Some(event) = events.recv() => {
                if let Event::Subscribed { client_id, .. } = &event {
                    subscribed.insert(client_id.clone());
                }
                record(&event, &mut tally, plan.json);
                if tally.all_accounted_for() {
                    finish.cancel();
                }
            }
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break }; // every task has ended
                match joined {
                    Ok((Role::Publisher, Ok(()))) => {
                        // The publisher's events are all queued by now; count them first, so the
                        // line below says what is really still outstanding.
                        while let Ok(event) = events.try_recv() {
                            record(&event, &mut tally, plan.json);
                        }
                        if !tally.all_accounted_for() && !finish.is_cancelled() {
                            tracing::info!(
                                "publishing done; waiting up to {} (--timeout) for {} messages not received yet",
                                humantime::format_duration(plan.timeout),
                                tally.outstanding()
                            );
                        }
                        if tally.all_accounted_for() {
                            finish.cancel();
                        }
                        deliveries_deadline = Some(Instant::now() + plan.timeout);
                    }
                    Ok((_, Ok(()))) => {}
                    // Every message is accounted for and the clients are only leaving: a failed
                    // UNSUBSCRIBE or DISCONNECT does not change the verdict, so it is no failure.
                    Ok((_, Err(error))) if finish.is_cancelled() && tally.all_accounted_for() => {
                        tracing::warn!("{error:#}");
                    }
                    Ok((_, Err(error))) => {
                        first_error.get_or_insert(error);
                        finish.cancel();
                    }
                    Err(join_error) => {
                        first_error.get_or_insert(anyhow!("a client task failed: {join_error}"));
                        finish.cancel();
                    }
                }
            }
            _ = sleep_until(deliveries_deadline), if !finish.is_cancelled() => {
                tracing::warn!(
                    "not every message arrived within {} (--timeout); reporting what did",
                    humantime::format_duration(plan.timeout)
                );
                finish.cancel();
            }
            _ = &mut shutdown, if !interrupted => {
                tracing::warn!("interrupted: stopping, leaving the group, disconnecting (Ctrl-C again to quit at once)");
                interrupted = true;
                finish.cancel();
            }
        }
    }

    // Every task has ended, so every event it sent is already queued: count those too.
    while let Ok(event) = events.try_recv() {
        record(&event, &mut tally, plan.json);
    }

    if let Some(error) = first_error {
        if !interrupted {
            return Err(Failure::Connection(error));
        }
        tracing::error!("{error:#}");
    }
    let summary = tally.summary(SummaryContext {
        group: plan.filter.group().to_owned(),
        topic: plan.filter.topic().to_owned(),
        qos: plan.qos as u8,
        elapsed: started.elapsed(),
    });
    Ok(Outcome {
        summary,
        interrupted,
    })
}

fn record(event: &Event, tally: &mut Tally, json: bool) {
    event.emit(json);
    tally.record(event);
}

/// Sleeps until `deadline`, or forever when there is none yet.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
