//! One run, start to finish: members join, the publisher publishes, the tally decides.
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
//! A broken connection is each task's own business (`connection.rs` reconnects with backoff): a
//! member subscribes again, the publisher sends again what was not acknowledged. But while a
//! member is away, the broker hands its share to the others, and while *no* member is subscribed
//! (a restarted broker, with the publisher back first) it drops every message: PUBACK 0x10. So this
//! loop keeps every member's state, and a *gate* (a `watch` channel) that the publisher follows:
//! open while every member is subscribed, closed from the moment one drops until all are back, or
//! until `--timeout` passes; then the run goes on with the members it has, and says so.
//! `--no-hold` keeps the gate open, to watch the broker's own behaviour.
//!
//! The run moves through one `Phase` at a time: joining, publishing, holding, awaiting the last
//! deliveries, leaving. Whatever way it ends (every message accounted for, `--timeout`, Ctrl-C,
//! a client that gave up) it ends with a summary once the publisher has started, so the books of
//! what was sent and received are never lost.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connection::Broker;
use crate::event::Event;
use crate::failure::Failure;
use crate::publisher::{self, Publication};
use crate::receipts::Receipts;
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
    /// Hold the publisher while a member is away, and send again what went to nobody.
    pub hold: bool,
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

/// Where the run stands.
enum Phase {
    /// Members are connecting and subscribing; the publisher waits for all of them.
    Joining,
    /// The publisher is running, and every member it waits for is subscribed.
    Publishing,
    /// A member is away: the gate is closed until every member is back, or until `until`.
    Holding { since: Instant, until: Instant },
    /// The publisher is done; the last deliveries may take until `until`.
    AwaitingDeliveries { until: Instant },
    /// The run is over: members leave, clients disconnect, the loop drains what still comes.
    Leaving,
}

impl Phase {
    /// When this phase runs out of time, if it can.
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Holding { until, .. } | Phase::AwaitingDeliveries { until } => Some(*until),
            _ => None,
        }
    }
}

/// Where one member stands, as far as the group is concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// Connecting, or connected and not yet subscribed.
    Joining,
    /// Holds its `$share` subscription: the broker may route messages to it.
    Subscribed,
    /// Its connection broke; it is reconnecting.
    Away,
}

/// Which task finished: the run treats the publisher's end differently.
enum Role {
    Member,
    Publisher,
}

/// The run's view of the group: who is in, and the gate the publisher follows.
struct Group {
    members: BTreeMap<String, Membership>,
    /// Members a hold ran out of time for: the run went on without them, and does not hold for
    /// them again until they are back.
    given_up: BTreeSet<String>,
    gate: watch::Sender<bool>,
    /// All holds so far, added up.
    held: Duration,
}

impl Group {
    /// Follows the members' events (the publisher's own outages do not change the group).
    fn follow(&mut self, event: &Event) {
        let (client_id, membership) = match event {
            Event::Subscribed { client_id, .. } => (client_id, Membership::Subscribed),
            Event::ConnectionLost { client_id, .. } => (client_id, Membership::Away),
            // Connected again, but not back in the group until its SUBACK (even with a kept
            // session: see `subscriber.rs`).
            Event::Reconnected { client_id, .. } => (client_id, Membership::Joining),
            _ => return,
        };
        if let Some(state) = self.members.get_mut(client_id) {
            *state = membership;
            if membership == Membership::Subscribed {
                self.given_up.remove(client_id);
            }
        }
    }

    fn all_subscribed(&self) -> bool {
        self.members.values().all(|m| *m == Membership::Subscribed)
    }

    /// Members not subscribed right now that the run still waits for.
    fn waiting_for(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(id, m)| **m != Membership::Subscribed && !self.given_up.contains(*id))
            .map(|(id, _)| id.clone())
            .collect()
    }
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
    let started = Instant::now();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let finish = CancellationToken::new();
    let member_ids = plan.member_ids();
    let mut tally = Tally::new(plan.count, &member_ids);
    let mut tasks = JoinSet::new();
    let (gate, gate_rx) = watch::channel(true);
    let receipts = Arc::new(Receipts::new(plan.count));
    let mut group = Group {
        members: member_ids
            .iter()
            .map(|id| (id.clone(), Membership::Joining))
            .collect(),
        given_up: BTreeSet::new(),
        gate,
        held: Duration::ZERO,
    };

    for client_id in member_ids {
        let member = Member {
            client_id,
            filter: plan.filter.clone(),
            qos: plan.qos,
            run_id: plan.run_id.clone(),
            receipts: receipts.clone(),
        };
        let task = subscriber::run(broker.clone(), member, events_tx.clone(), finish.clone());
        tasks.spawn(async move { (Role::Member, task.await) });
    }

    tokio::pin!(shutdown);
    let mut phase = Phase::Joining;
    let mut publisher_started = false;
    let mut interrupted = false;
    let mut first_error: Option<anyhow::Error> = None;

    loop {
        phase = next_phase(phase, &mut group, &plan, &mut tally);
        // Publish only once every member holds its subscription: a message sent to a group with
        // no member yet is dropped by the broker, and the report would blame the group.
        if matches!(phase, Phase::Joining) && group.all_subscribed() && !finish.is_cancelled() {
            phase = Phase::Publishing;
            publisher_started = true;
            let publication = Publication {
                client_id: plan.publisher_id(),
                topic: plan.filter.topic().to_owned(),
                text: plan.message.clone(),
                count: plan.count,
                qos: plan.qos,
                interval: plan.interval,
                run_id: plan.run_id.clone(),
                careful: plan.hold,
                receipts: receipts.clone(),
            };
            let task = publisher::run(
                broker.clone(),
                publication,
                events_tx.clone(),
                gate_rx.clone(),
                finish.clone(),
            );
            tasks.spawn(async move { (Role::Publisher, task.await) });
        }
        if finish.is_cancelled() && !matches!(phase, Phase::Leaving) {
            phase = leave(phase, &mut group);
        }

        // `events_tx` lives until this function returns (the publisher gets a clone later), so
        // `recv()` never sees a closed channel: the loop ends when the last task has ended, and
        // the drain after the loop counts what those tasks sent just before.
        tokio::select! {
            Some(event) = events.recv() => {
                group.follow(&event);
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
                            group.follow(&event);
                            record(&event, &mut tally, plan.json);
                        }
                        if tally.all_accounted_for() || finish.is_cancelled() {
                            finish.cancel();
                        } else {
                            tracing::info!(
                                "publishing done; waiting up to {} (--timeout) for {} messages not received yet",
                                humantime::format_duration(plan.timeout),
                                tally.outstanding()
                            );
                            // Nothing is left to publish, so nothing is left to hold for.
                            end_hold(phase, &mut group, &mut tally, &plan);
                            phase = Phase::AwaitingDeliveries { until: Instant::now() + plan.timeout };
                        }
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
            _ = sleep_until(phase.deadline()) => {
                if matches!(phase, Phase::Holding { .. }) {
                    // The hold ran out: go on with the members there are.
                    let away = group.waiting_for();
                    group.given_up.extend(away);
                    phase = end_hold(phase, &mut group, &mut tally, &plan);
                } else {
                    tracing::warn!(
                        "not every message arrived within {} (--timeout); reporting what did",
                        humantime::format_duration(plan.timeout)
                    );
                    finish.cancel();
                }
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

    let ending = match first_error {
        // A run that never got going has nothing to report: the error says it all.
        Some(error) if !interrupted && !publisher_started => {
            return Err(Failure::Connection(error))
        }
        Some(error) if !interrupted => Ending::Failed(error),
        Some(error) => {
            tracing::error!("{error:#}");
            Ending::Interrupted
        }
        None if interrupted => Ending::Interrupted,
        None => Ending::Finished,
    };
    let summary = tally.summary(SummaryContext {
        group: plan.filter.group().to_owned(),
        topic: plan.filter.topic().to_owned(),
        qos: plan.qos as u8,
        elapsed: started.elapsed(),
        held: group.held,
        went_on_without: group.given_up.iter().cloned().collect(),
    });
    Ok(Outcome { summary, ending })
}

/// Holds or resumes the publisher as the group changes.
fn next_phase(phase: Phase, group: &mut Group, plan: &Plan, tally: &mut Tally) -> Phase {
    match phase {
        Phase::Publishing if plan.hold && !group.waiting_for().is_empty() => {
            let _ = group.gate.send(false);
            let waiting_for = group.waiting_for();
            record(&Event::Holding { waiting_for }, tally, plan.json);
            let now = Instant::now();
            Phase::Holding {
                since: now,
                until: now + plan.timeout,
            }
        }
        Phase::Holding { .. } if group.waiting_for().is_empty() => {
            end_hold(phase, group, tally, plan)
        }
        other => other,
    }
}

/// Ends a hold, if one is on: the gate opens and the run says how long it held.
fn end_hold(phase: Phase, group: &mut Group, tally: &mut Tally, plan: &Plan) -> Phase {
    let Phase::Holding { since, .. } = phase else {
        return phase;
    };
    group.held += since.elapsed();
    let _ = group.gate.send(true);
    let without = group.given_up.iter().cloned().collect();
    record(
        &Event::Resumed {
            held_ms: ms(since.elapsed()),
            without,
        },
        tally,
        plan.json,
    );
    Phase::Publishing
}

/// The run is over: a hold ends where it stands (nothing more is published), and the gate stays
/// closed so that the publisher, if it still runs, sends nothing new.
fn leave(phase: Phase, group: &mut Group) -> Phase {
    if let Phase::Holding { since, .. } = phase {
        group.held += since.elapsed();
    }
    let _ = group.gate.send(false);
    Phase::Leaving
}

fn record(event: &Event, tally: &mut Tally, json: bool) {
    event.emit(json);
    tally.record(event);
}

fn ms(duration: Duration) -> u64 {
    duration.as_millis() as u64
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
