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

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::failure::Failure;
use crate::message;
use crate::mqtt::Broker;

mod ack_tracker;
mod churn;
mod event;
mod fairness;
mod group;
mod latency;
mod member;
mod merge;
mod output;
mod plan;
mod publisher;
mod receipts;
mod report;
mod summary;
mod tally;

pub use churn::{parse_churn, parse_slow_member, ChurnAction, ChurnStep, DueStep, SlowMember};
use event::{Reporter, RunEvent};
use group::Group;
use member::Member;
pub use merge::merge;
use output::Output;
pub use output::{Format, PER_MESSAGE_LOGS_UP_TO};
pub use plan::{Filters, Plan, Role, Subscription, MAX_COUNT, MAX_DURATION};
use publisher::Publication;
use receipts::Receipts;
pub use summary::{Source, Summary, Verdict};
use tally::{SummaryContext, Tally};

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
    /// `--role subscriber`: every member is in, and the publisher is in another process. The
    /// members listen until the end-of-run marker, `--count` messages, or `until`: `--timeout`
    /// after the last message of ours.
    Listening { until: Instant },
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
            Phase::Holding { until, .. }
            | Phase::AwaitingDeliveries { until }
            | Phase::Listening { until } => Some(*until),
            _ => None,
        }
    }
}

/// Which task finished: the run treats the publisher's end differently.
enum Task {
    Member,
    Publisher,
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
    let subscriptions = plan.subscriptions();
    let member_ids = plan.member_ids();
    let mut books = Books::new(&plan, &subscriptions);
    let mut tasks = JoinSet::new();
    let (gate, gate_rx) = watch::channel(true);
    let receipts = Arc::new(Receipts::new(plan.count));
    // With several groups (or a control subscriber), one group having a message says nothing of
    // the others: the publisher must not skip sending it again, so members mark nowhere it looks.
    let unread = Arc::new(Receipts::new(0));
    let one_book = plan.filters.len() == 1 && !plan.control;
    // `--churn join` members come later: the group does not wait for them at the start.
    let starters: Vec<String> = subscriptions
        .iter()
        .filter(|subscription| subscription.joins_at.is_none())
        .map(|subscription| subscription.client_id.clone())
        .collect();
    let mut group = Group::new(&starters, gate);
    let member_count = member_ids.len();
    let mut churn = Churning::new(&plan);
    // Members that got the end-of-run marker (`--role subscriber`).
    let mut told_the_end = std::collections::HashSet::new();
    if plan.role != Role::All {
        tracing::info!(
            "run id {}: this process is the {}; give every process of this run --run-id {}",
            plan.run_id,
            if plan.role == Role::Publisher {
                "publisher"
            } else {
                "subscribers"
            },
            plan.run_id
        );
    }

    for subscription in subscriptions {
        let reporter = Reporter::new(&subscription.client_id, events_tx.clone());
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let slow = plan
            .slow_member
            .filter(|slow| subscription.client_id == plan.member_id(slow.member))
            .map(|slow| slow.delay);
        let joins = subscription.joins_at.is_some();
        churn
            .commands
            .insert(subscription.client_id.clone(), commands_tx);
        let member = Member {
            client_id: subscription.client_id,
            filter: subscription.filter,
            qos: plan.qos,
            run_id: plan.run_id.clone(),
            receipts: if one_book {
                receipts.clone()
            } else {
                unread.clone()
            },
            end_of_run: (plan.role == Role::Subscriber)
                .then(|| message::end_of_run_topic(plan.filter().topic())),
            commands: Some(commands),
            slow,
        };
        if joins {
            churn.joiners.push_back((member, reporter));
            continue;
        }
        let task = member::run(broker.clone(), member, reporter, finish.clone());
        tasks.spawn(async move { (Task::Member, task.await) });
    }

    tokio::pin!(shutdown);
    let mut phase = Phase::Joining;
    // From here on, whatever happens ends with a summary: what was counted is never lost.
    let mut books_open = false;
    let mut interrupted = false;
    let mut first_error: Option<anyhow::Error> = None;

    loop {
        phase = next_phase(phase, &mut group, &plan, &mut books);
        // Publish only once every member holds its subscription: a message sent to a group with
        // no member yet is dropped by the broker, and the report would blame the group.
        let ready = matches!(phase, Phase::Joining) && group.all_subscribed();
        if ready && plan.role == Role::Subscriber && !finish.is_cancelled() {
            tracing::info!(
                "all {member_count} members are in the group; waiting for the publisher of run {} (until its end-of-run marker, {} messages, or {} of silence)",
                plan.run_id,
                plan.count,
                humantime::format_duration(plan.timeout)
            );
            phase = Phase::Listening {
                until: Instant::now() + plan.timeout,
            };
            books_open = true;
        }
        if ready && plan.role != Role::Subscriber && !finish.is_cancelled() {
            phase = Phase::Publishing;
            books_open = true;
            let publication = Publication {
                client_id: plan.publisher_id(),
                topic: plan.filter().topic().to_owned(),
                text: plan.message.clone(),
                count: plan.count,
                qos: plan.qos,
                interval: plan.interval,
                run_id: plan.run_id.clone(),
                careful: plan.hold,
                receipts: receipts.clone(),
                end_of_run: (plan.role == Role::Publisher)
                    .then(|| message::end_of_run_topic(plan.filter().topic())),
            };
            let reporter = Reporter::new(&publication.client_id, events_tx.clone());
            let task = publisher::run(
                broker.clone(),
                publication,
                reporter,
                gate_rx.clone(),
                finish.clone(),
            );
            tasks.spawn(async move { (Task::Publisher, task.await) });
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
                books.record(&event);
                match &event {
                    // Silence is measured from the last message of ours.
                    RunEvent::Received { seq: Some(_), .. } => {
                        if let Phase::Listening { until } = &mut phase {
                            *until = Instant::now() + plan.timeout;
                        }
                    }
                    // Once every member has its copy of the marker, everything routed to it
                    // before is in or on its way; leaving (UNSUBSCRIBE, then UNSUBACK) waits
                    // for the rest on each connection.
                    RunEvent::EndOfRun { client_id, .. } => {
                        told_the_end.insert(client_id.clone());
                        if told_the_end.len() == member_count {
                            finish.cancel();
                        }
                    }
                    RunEvent::Published { seq, .. } => {
                        churn.set_off(*seq, &plan, &mut group, &mut books, &mut tasks, &broker, &finish);
                    }
                    _ => {}
                }
                if books.all_accounted_for() {
                    finish.cancel();
                }
                if events.is_empty() {
                    books.output.flush();
                }
            }
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break }; // every task has ended
                match joined {
                    Ok((Task::Publisher, Ok(()))) => {
                        // The publisher's events are all queued by now; count them first, so the
                        // line below says what is really still outstanding.
                        while let Ok(event) = events.try_recv() {
                            group.follow(&event);
                            books.record(&event);
                            // A step at the last messages must not be skipped.
                            if let RunEvent::Published { seq, .. } = &event {
                                churn.set_off(*seq, &plan, &mut group, &mut books, &mut tasks, &broker, &finish);
                            }
                        }
                        if books.all_accounted_for() || finish.is_cancelled() {
                            finish.cancel();
                        } else {
                            tracing::info!(
                                "publishing done; waiting up to {} (--timeout) for {} messages not received yet",
                                humantime::format_duration(plan.timeout),
                                books.outstanding()
                            );
                            // Nothing is left to publish, so nothing is left to hold for.
                            end_hold(phase, &mut group, &mut books);
                            phase = Phase::AwaitingDeliveries { until: Instant::now() + plan.timeout };
                        }
                    }
                    Ok((_, Ok(()))) => {}
                    // Every message is accounted for (or, members alone, the publisher said it
                    // is done) and the clients are only leaving: a failed UNSUBSCRIBE or
                    // DISCONNECT does not change the verdict, so it is no failure.
                    Ok((_, Err(error))) if finish.is_cancelled() && (books.all_accounted_for() || (member_count > 0 && told_the_end.len() == member_count)) => {
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
                if matches!(phase, Phase::Listening { .. }) {
                    tracing::info!(
                        "nothing of run {} for {} (--timeout): done listening",
                        plan.run_id,
                        humantime::format_duration(plan.timeout)
                    );
                    finish.cancel();
                } else if matches!(phase, Phase::Holding { .. }) {
                    // The hold ran out: go on with the members there are.
                    let away = group.waiting_for();
                    group.given_up.extend(away);
                    phase = end_hold(phase, &mut group, &mut books);
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
        books.record(&event);
    }
    books.output.finish();
    // The tasks are gone; their shared receipts (a flag per message) need not outlive them.
    drop(receipts);

    let ending = match first_error {
        // A run that never got going has nothing to report: the error says it all.
        Some(error) if !interrupted && !books_open => return Err(Failure::Connection(error)),
        Some(error) if !interrupted => Ending::Failed(error),
        Some(error) => {
            tracing::error!("{error:#}");
            Ending::Interrupted
        }
        None if interrupted => Ending::Interrupted,
        None => Ending::Finished,
    };
    // Members alone that heard nothing of their run: the publisher has not run, or runs with
    // another --run-id, topic or group. Not a delivery verdict: nothing to judge.
    let ending = match ending {
        Ending::Finished
            if plan.role == Role::Subscriber
                && told_the_end.is_empty()
                && books.tallies.iter().all(|tally| tally.received() == 0) =>
        {
            Ending::Failed(anyhow!(
                "no message of run {} reached the members of this process within {} (--timeout): \
                 start the publisher with --run-id {} and the same --topic and group",
                plan.run_id,
                humantime::format_duration(plan.timeout),
                plan.run_id
            ))
        }
        other => other,
    };
    let context = |book: usize| SummaryContext {
        // The control subscriber's books have no group: `report.rs` names them.
        group: plan
            .filters
            .get(book)
            .map_or(String::new(), |filter| filter.group().to_owned()),
        topic: plan.filter().topic().to_owned(),
        qos: plan.qos as u8,
        elapsed: started.elapsed(),
        held: group.held,
        went_on_without: group.given_up.iter().cloned().collect(),
        interrupted: matches!(ending, Ending::Interrupted),
        run_id: plan.run_id.clone(),
    };
    let mut summaries: Vec<Summary> = books
        .tallies
        .into_iter()
        .enumerate()
        .map(|(book, tally)| tally.summary(context(book)))
        .collect();
    let control = if plan.control { summaries.pop() } else { None };
    // One tally per group, and `Plan::filters` is never empty (`cli.rs` gives it a default).
    let first = summaries.remove(0);
    let summary = if summaries.is_empty() && control.is_none() {
        first
    } else {
        Summary::of_groups(first, summaries, control)
    };
    Ok(Outcome { summary, ending })
}

/// Holds or resumes the publisher as the group changes.
fn next_phase(phase: Phase, group: &mut Group, plan: &Plan, books: &mut Books) -> Phase {
    match phase {
        Phase::Publishing if plan.hold && !group.waiting_for().is_empty() => {
            let _ = group.gate.send(false);
            let waiting_for = group.waiting_for();
            books.record(&RunEvent::Holding { waiting_for });
            let now = Instant::now();
            Phase::Holding {
                since: now,
                until: now + plan.timeout,
            }
        }
        Phase::Holding { .. } if group.waiting_for().is_empty() => end_hold(phase, group, books),
        other => other,
    }
}

/// Ends a hold, if one is on: the gate opens and the run says how long it held.
fn end_hold(phase: Phase, group: &mut Group, books: &mut Books) -> Phase {
    let Phase::Holding { since, .. } = phase else {
        return phase;
    };
    group.held += since.elapsed();
    let _ = group.gate.send(true);
    let without = group.given_up.iter().cloned().collect();
    books.record(&RunEvent::Resumed {
        held_ms: ms(since.elapsed()),
        without,
    });
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

/// `--churn` as the run carries it out: the steps still to come, the members that join later,
/// and a line to each member for its commands.
struct Churning {
    steps: std::collections::VecDeque<DueStep>,
    joiners: std::collections::VecDeque<(Member, Reporter)>,
    commands: HashMap<String, mpsc::UnboundedSender<ChurnAction>>,
    /// The next joiner's number: `--subscribers` + 1, then on.
    next_joiner: u16,
}

impl Churning {
    fn new(plan: &Plan) -> Churning {
        Churning {
            steps: plan.churn.iter().copied().collect(),
            joiners: std::collections::VecDeque::new(),
            commands: HashMap::new(),
            next_joiner: plan.subscribers + 1,
        }
    }

    /// The steps due once message `seq` is acknowledged, in order.
    fn due(&mut self, seq: u32) -> Vec<DueStep> {
        let mut due = Vec::new();
        while let Some(step) = self.steps.front().copied() {
            if step.at_seq > seq {
                break;
            }
            self.steps.pop_front();
            due.push(step);
        }
        due
    }

    /// Carries out the steps whose point the PUBACK of `seq` reached: tells each member, starts
    /// a joiner, and records the step.
    #[allow(clippy::too_many_arguments)] // the run loop's own state, lent for one call
    fn set_off(
        &mut self,
        seq: u32,
        plan: &Plan,
        group: &mut Group,
        books: &mut Books,
        tasks: &mut JoinSet<(Task, anyhow::Result<()>)>,
        broker: &Broker,
        finish: &CancellationToken,
    ) {
        for DueStep { at_seq, action } in self.due(seq) {
            let Some(client_id) = self.apply(action, plan, group) else {
                continue;
            };
            if action == ChurnAction::Join {
                if let Some((member, reporter)) = self.joiners.pop_front() {
                    let task = member::run(broker.clone(), member, reporter, finish.clone());
                    tasks.spawn(async move { (Task::Member, task.await) });
                }
            }
            books.record(&RunEvent::Churn {
                client_id,
                step: action.kind(),
                at_seq,
            });
        }
    }

    /// Tells the member what to do and updates the group: a leaving member is no longer waited
    /// for, a joining one is. Returns the member's client id.
    fn apply(&mut self, action: ChurnAction, plan: &Plan, group: &mut Group) -> Option<String> {
        let client_id = plan.member_id(match action {
            ChurnAction::Leave(k) | ChurnAction::Drop(k) => k,
            ChurnAction::Join => {
                self.next_joiner += 1;
                self.next_joiner - 1
            }
        });
        match action {
            ChurnAction::Leave(_) => group.leave(&client_id),
            ChurnAction::Join => group.join(&client_id),
            ChurnAction::Drop(_) => {}
        }
        if action != ChurnAction::Join {
            // A member that already ended (it failed) has nothing to do.
            self.commands.get(&client_id)?.send(action).ok()?;
        }
        Some(client_id)
    }
}

/// What the loop keeps of every event: the counts, and what it shows.
///
/// One [`Tally`] per group, and one for the control subscriber (`--control`): each group must get
/// every message exactly once, split among its own members, and the control gets every message.
/// What the publisher did counts in every tally; a receipt only in the receiver's.
struct Books {
    tallies: Vec<Tally>,
    /// Which tally counts each subscribing client's receipts (`Subscription::book`).
    book_of: HashMap<String, usize>,
    output: Output,
}

impl Books {
    fn new(plan: &Plan, subscriptions: &[Subscription]) -> Books {
        let books = plan.filters.len() + usize::from(plan.control);
        let tallies = (0..books)
            .map(|book| {
                let ids: Vec<String> = subscriptions
                    .iter()
                    .filter(|subscription| subscription.book == book)
                    .map(|subscription| subscription.client_id.clone())
                    .collect();
                Tally::new(plan.count, &ids).for_role(Source::Process(plan.role))
            })
            .collect();
        Books {
            tallies,
            book_of: subscriptions
                .iter()
                .map(|subscription| (subscription.client_id.clone(), subscription.book))
                .collect(),
            output: Output::new(plan.format, plan.per_message_logs, plan.count),
        }
    }

    /// Shows an event and counts it: every event goes through here.
    fn record(&mut self, event: &RunEvent) {
        self.output.event(event);
        match event {
            // A receipt, or a churn step, belongs to the receiver's books only.
            RunEvent::Received { client_id, .. } | RunEvent::Churn { client_id, .. } => {
                let book = self.book_of.get(client_id).copied().unwrap_or(0);
                if let Some(tally) = self.tallies.get_mut(book) {
                    tally.record(event);
                }
            }
            _ => {
                for tally in &mut self.tallies {
                    tally.record(event);
                }
            }
        }
    }

    fn all_accounted_for(&self) -> bool {
        self.tallies.iter().all(Tally::all_accounted_for)
    }

    /// Receipts still awaited, all groups together.
    fn outstanding(&self) -> u32 {
        self.tallies.iter().map(Tally::outstanding).sum()
    }
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
