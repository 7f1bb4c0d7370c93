//! The run as a state machine: one [`Run`] value owns where the run stands ([`Phase`]), the
//! group, the books, the churn and the tasks, and the loop hands it one input at a time.
//!
//! ```text
//!  Joining ──every member subscribed──▶ Publishing ◀──all back, or --timeout──┐
//!     │                                  │   │                                │
//!     │ (members alone)                  │   └──a member away──▶ Holding ─────┘
//!     ▼                                  ▼ the broker took every message
//!  Listening                     AwaitingDeliveries
//!     └────────────┬─────────────────────┘
//!                  ▼ all accounted for, the end-of-run marker, --timeout, Ctrl-C, a failure
//!               Leaving(Stop) ──every task ended──▶ finish(): the Outcome
//! ```
//!
//! Each input has one handler: [`Run::on_event`], [`Run::on_task_end`], [`Run::on_deadline`],
//! [`Run::on_signal`], [`Run::on_publishing`] (the count `--duration` decided, a stats line).
//! After each, [`Run::advance`] takes the steps the new state allows (`steps.rs`). Leaving is a phase like
//! the others, and it carries why ([`Stop`]): nothing else says how the run ends.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::books::Books;
use super::churning::Churning;
use super::event::{self, Resend, RunEvent};
use super::group::Group;
use super::member::Member;
use super::phase::{self, Phase, Stop};
use super::publishing::{Publishing, Step};
use super::receipts::Receipts;
use super::resender::Resender;
use super::roster::{MemberRef, Roster};
use super::tasks::{Launch, Start, TaskEnd, Tasks};
use super::{Ending, Outcome, Plan, Role, Subscription};
use crate::failure::Failure;

mod steps;

/// Events the loop takes from the queue in one go, once one has woken it (see `drive`).
const BATCH: usize = 64;

/// One run: its state, and everything the loop's handlers change.
pub struct Run {
    plan: Plan,
    phase: Phase,
    group: Group,
    books: Books,
    churn: Churning,
    tasks: Tasks,
    /// Cancelled on leaving: the publisher stops, every member leaves the group.
    finish: CancellationToken,
    /// What the group has received, for the publisher (see `receipts.rs`).
    receipts: Arc<Receipts>,
    /// Members this process starts, and those that got the end-of-run marker.
    members: usize,
    told_the_end: BTreeSet<String>,
    started: Instant,
    /// What a member's broken session lost, sent again (see `lost.rs`); `None` when the run does
    /// not (`Plan::resends_lost`).
    lost: Option<Resender>,
    /// The publishers, the count, and the clock of the stats line.
    publishing: Publishing,
}

impl Run {
    /// A run of `plan` whose clients `launch` starts; its members start now, the publisher once
    /// they are all in.
    pub fn new(plan: Plan, launch: Launch, finish: CancellationToken) -> Run {
        let (roster, seated) = Roster::of(&plan);
        // `--churn join` members come later: the group does not wait for them at the start.
        let starters: Vec<String> = seated
            .iter()
            .filter(|(subscription, _)| subscription.joins_at.is_none())
            .map(|(subscription, _)| subscription.client_id.clone())
            .collect();
        let mut run = Run {
            group: Group::new(&starters),
            books: Books::new(&plan, &roster),
            churn: Churning::new(&plan),
            tasks: Tasks::new(launch),
            finish,
            receipts: Arc::new(Receipts::new(plan.count)),
            members: seated.len(),
            told_the_end: BTreeSet::new(),
            started: Instant::now(),
            lost: plan
                .resends_lost()
                .then(|| Resender::new(plan.fixed_count(), roster.ids(0).len(), plan.publishers)),
            publishing: Publishing::new(&plan),
            phase: Phase::Joining,
            plan,
        };
        for (subscription, member) in seated {
            run.set_up(subscription, member);
        }
        run
    }

    /// Hands the run its inputs until every task has ended, then says how it went.
    pub async fn drive(
        mut self,
        mut events: mpsc::Receiver<RunEvent>,
        mut ends: mpsc::UnboundedReceiver<TaskEnd>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<Outcome, Failure> {
        tokio::pin!(shutdown);
        self.advance();
        while self.tasks.running() > 0 {
            let lost_due = self.lost_due();
            tokio::select! {
                Some(event) = events.recv() => {
                    self.on_event(event);
                    // What else is queued, now: a pass through this select costs a timer and
                    // a wake-up per event, which at tens of thousands a second shows. A bounded
                    // batch, so that a deadline or Ctrl-C waits for a few events at most.
                    for _ in 1..BATCH {
                        self.advance();
                        if self.books.output.is_full() {
                            break;
                        }
                        let Ok(event) = events.try_recv() else { break };
                        self.on_event(event);
                    }
                }
                Some(end) = ends.recv() => self.on_task_end(end),
                _ = phase::sleep_until(self.phase.deadline()) => self.on_deadline(),
                step = self.publishing.next() => self.on_publishing(step),
                _ = phase::sleep_until(lost_due) => self.send_lost_again(),
                _ = &mut shutdown, if !self.phase.is_interrupted() => self.on_signal(),
            }
            self.advance();
            if self.books.output.is_full() || events.is_empty() {
                // A reader that stalls holds the run here (it slows down instead of growing);
                // Ctrl-C must still get through.
                tokio::select! {
                    () = self.books.output.flush() => {}
                    _ = &mut shutdown, if !self.phase.is_interrupted() => self.on_signal(),
                }
            }
        }
        // Every task has ended, so every event it sent is already queued: count those too.
        while let Ok(event) = events.try_recv() {
            self.books.record(&event);
        }
        self.finish().await
    }

    /// What a client reported.
    fn on_event(&mut self, event: RunEvent) {
        let all_published = self.books.all_published();
        self.group.follow(&event);
        if let Some(lost) = &mut self.lost {
            lost.follow(&event);
        }
        self.books.record(&event);
        match &event {
            // Silence is measured from the last message of ours.
            RunEvent::Received(receipt) if receipt.seq.is_some() => {
                if let Phase::Listening { until } = &mut self.phase {
                    *until = Instant::now() + self.plan.timeout;
                }
            }
            // Once every member has its copy of the marker, everything routed to it before is
            // in or on its way; leaving (UNSUBSCRIBE, then UNSUBACK) waits for the rest on each
            // connection.
            RunEvent::EndOfRun { member, .. } => {
                self.told_the_end.insert(member.client_id().to_owned());
                if self.told_the_end.len() == self.members {
                    self.leave(Stop::Done);
                }
            }
            RunEvent::Published { seq, .. } => {
                self.publishing.published(*seq);
                let (plan, group, books) = (&self.plan, &mut self.group, &mut self.books);
                self.churn
                    .set_off(*seq, plan, group, books, &mut self.tasks);
                if !all_published && self.books.all_published() {
                    // Said here, in the order of the events, so that it never comes before the
                    // publisher's own `connected`.
                    let plan = &self.plan;
                    let count = self.publishing.count().unwrap_or(plan.count);
                    event::log_all_published(&plan.publishers_named(), count, plan.qos);
                }
            }
            _ => {}
        }
        if self.books.all_accounted_for() {
            self.leave(Stop::Done);
        }
        self.send_lost_again();
    }

    /// Once the group is complete, what a member's broken session lost goes out again.
    fn send_lost_again(&mut self) {
        if !self.may_send_lost() {
            return;
        }
        if let Some(seqs) = self.lost.as_mut().and_then(Resender::send_lost) {
            let cause = Resend::Lost;
            self.books.record(&RunEvent::SendingAgain { seqs, cause });
        }
    }

    /// Messages go out again only while the run publishes or waits for them, to a complete group.
    fn may_send_lost(&self) -> bool {
        let flowing = matches!(
            self.phase,
            Phase::Publishing | Phase::AwaitingDeliveries { .. }
        );
        flowing && self.group.waiting_for().is_empty()
    }

    /// When a message found lost has waited long enough to go out (on AWS IoT Core, see
    /// `resender.rs`); `None` while none waits or none may go.
    fn lost_due(&self) -> Option<Instant> {
        self.lost
            .as_ref()?
            .next_due()
            .filter(|_| self.may_send_lost())
    }

    /// A broker that keeps no order (AWS IoT Core): a message found lost waits `grace` before it
    /// goes out again, in case it was only late.
    pub fn doubt_the_order(mut self, grace: Duration) -> Run {
        if let Some(lost) = &mut self.lost {
            lost.wait_before_resending(grace);
        }
        self
    }

    /// A client's task ended.
    fn on_task_end(&mut self, end: TaskEnd) {
        self.tasks.ended();
        if let Some(lost) = &mut self.lost {
            lost.ended(&end.client);
        }
        let Err(error) = end.result else {
            return;
        };
        // Every message is accounted for (or, members alone, the publisher said it is done)
        // and the clients are only leaving: a failed UNSUBSCRIBE or DISCONNECT does not change
        // the verdict, so it is no failure.
        if self.only_leaving() {
            tracing::warn!("{error:#}");
            return;
        }
        match &mut self.phase {
            Phase::Leaving { stop, .. } => stop.failed(error),
            _ => self.leave(Stop::Failed(error)),
        }
    }

    /// The phase ran out of time.
    fn on_deadline(&mut self) {
        let timeout = humantime::format_duration(self.plan.timeout);
        match self.phase {
            Phase::Listening { .. } => {
                tracing::info!(
                    "nothing of run {} for {timeout} (--timeout): done listening",
                    self.plan.run_id
                );
                self.leave(Stop::OutOfTime);
            }
            Phase::Holding { .. } => {
                // The hold ran out: go on with the members there are.
                let away = self.group.waiting_for();
                self.group.given_up.extend(away);
                self.end_hold();
            }
            Phase::AwaitingDeliveries { .. } => {
                tracing::warn!(
                    "not every message arrived within {timeout} (--timeout); reporting what did"
                );
                self.leave(Stop::OutOfTime);
            }
            _ => {}
        }
    }

    /// What time brought the publishers (`publishing.rs`): the count, or a stats line.
    fn on_publishing(&mut self, step: Step) {
        match step {
            Step::Counted(count) => self.books.close(count),
            Step::Stats => self.publishing.say_how_it_goes(&self.plan, &self.books),
        }
        // Everything sent before time was up may have arrived already.
        if self.books.all_accounted_for() {
            self.leave(Stop::Done);
        }
    }

    /// Ctrl-C or SIGTERM: leave, whatever the phase, and say so in the ending.
    fn on_signal(&mut self) {
        tracing::warn!(
            "interrupted: stopping, leaving the group, disconnecting (Ctrl-C again to quit at once)"
        );
        self.leave(Stop::Interrupted { error: None });
        if let Phase::Leaving { stop, .. } = &mut self.phase {
            stop.interrupted();
        }
    }

    /// Sets up one subscribing client: started now, or (`--churn join`) at its step.
    fn set_up(&mut self, subscription: Subscription, who: MemberRef) {
        let joins_at = subscription.joins_at;
        let commands = self.churn.line(&who);
        let member = Member::new(&self.plan, subscription, who, &self.receipts, commands);
        match joins_at {
            Some(_) => self.churn.join_later(member),
            None => self.tasks.start(Start::Member(member)),
        }
    }

    /// Every task has ended: the ending, and the summary of what got through.
    async fn finish(mut self) -> Result<Outcome, Failure> {
        self.books.output.finish().await;
        let (stop, got_going) = std::mem::replace(&mut self.phase, Phase::Joining).stopped();
        let ending = stop.ending(got_going, self.heard_nothing())?;
        let interrupted = matches!(ending, Ending::Interrupted);
        let timeline = self.books.take_timeline();
        let summary = self
            .books
            .summary(&self.plan, &self.group, self.started, interrupted);
        let summary = self.publishing.sign(summary);
        Ok(Outcome {
            summary,
            ending,
            timeline,
        })
    }

    /// Members alone that heard nothing of their run: the publisher has not run, or runs with
    /// another --run-id, topic or group. Not a delivery verdict: nothing to judge, only why.
    fn heard_nothing(&self) -> Option<String> {
        let plan = &self.plan;
        let nothing = plan.role == Role::Subscriber
            && self.told_the_end.is_empty()
            && self.books.received() == 0;
        nothing.then(|| phase::heard_nothing(plan))
    }
}

#[cfg(test)]
mod tests {
    //! The loop's handlers in paused time: the test plays every client (its events and its end)
    //! through the same channels the real tasks use, and tokio's clock moves only when every
    //! task waits, so `--timeout`s of a minute pass at once and in order.

    use std::time::Duration;

    use tokio::sync::{oneshot, watch};
    use tokio::task::JoinHandle;

    use anyhow::anyhow;

    use super::*;
    use crate::run::event::{Receipt, Via};
    use crate::run::plan::tests::plan;
    use crate::run::roster::Client;
    use crate::run::summary::Summary;
    use crate::run::Verdict;

    const TIMEOUT: Duration = Duration::from_secs(60);

    /// A run whose clients are played by the test.
    struct Harness {
        events: mpsc::Sender<RunEvent>,
        ends: mpsc::UnboundedSender<TaskEnd>,
        starts: mpsc::UnboundedReceiver<Start>,
        /// Tasks the run started that the test has not ended yet, members first.
        running: Vec<Client>,
        members: Vec<MemberRef>,
        gate: Option<watch::Receiver<bool>>,
        /// The run's last number, as the publishers share it (`numbers.rs`).
        limit: Option<Arc<crate::run::numbers::Limit>>,
        /// The publishers the run started.
        publishers: Vec<String>,
        /// What the run asks the publisher to send again as lost.
        lost: Option<mpsc::UnboundedReceiver<Vec<u32>>>,
        finish: CancellationToken,
        signal: Option<oneshot::Sender<()>>,
        run: JoinHandle<Result<Outcome, Failure>>,
    }

    impl Harness {
        async fn start(plan: Plan) -> Harness {
            Harness::start_doubting(plan, Duration::ZERO).await
        }

        /// A run against a broker that keeps no order: what is found lost waits `grace`.
        async fn start_doubting(plan: Plan, grace: Duration) -> Harness {
            let (events, events_rx) = mpsc::channel(event_queue());
            let (ends, ends_rx) = mpsc::unbounded_channel();
            let (starts_tx, starts) = mpsc::unbounded_channel();
            let (signal, signalled) = oneshot::channel::<()>();
            let finish = CancellationToken::new();
            let launch: Launch = Box::new(move |start| {
                let _ = starts_tx.send(start);
            });
            let run = Run::new(plan, launch, finish.clone()).doubt_the_order(grace);
            let shutdown = async move {
                // A test that never signals drops the sender: that is no signal.
                if signalled.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            let mut harness = Harness {
                events,
                ends,
                starts,
                running: Vec::new(),
                members: Vec::new(),
                gate: None,
                limit: None,
                publishers: Vec::new(),
                lost: None,
                finish,
                signal: Some(signal),
                run: tokio::spawn(run.drive(events_rx, ends_rx, shutdown)),
            };
            harness.settle().await;
            for member in harness.members.clone() {
                let client = Client::Member(member);
                let session_present = false;
                harness
                    .send(RunEvent::Connected {
                        client,
                        session_present,
                    })
                    .await;
            }
            harness
        }

        /// Lets the run handle everything sent so far, and notes what it started.
        async fn settle(&mut self) {
            tokio::time::sleep(Duration::from_millis(1)).await;
            while let Ok(start) = self.starts.try_recv() {
                match start {
                    Start::Member(member) => {
                        self.running.insert(0, Client::Member(member.who.clone()));
                        self.members.push(member.who);
                    }
                    Start::Publisher {
                        publication,
                        from_the_run,
                    } => {
                        let id = publication.client_id.as_str().into();
                        self.running.push(Client::Publisher(id));
                        self.publishers.push(publication.client_id);
                        self.limit = Some(publication.limit);
                        self.gate = Some(from_the_run.gate);
                        self.lost = from_the_run.lost;
                    }
                }
            }
        }

        async fn send(&mut self, event: RunEvent) {
            self.events.send(event).await.expect("the run is listening");
            self.settle().await;
        }

        fn member(&self, k: usize) -> MemberRef {
            self.members[k].clone()
        }

        async fn subscribe(&mut self, k: usize) {
            let member = self.member(k);
            let filter = "$share/g/t".to_owned();
            self.send(RunEvent::Subscribed {
                member,
                filter,
                qos: 1,
            })
            .await;
        }

        async fn subscribe_all(&mut self) {
            for k in 0..self.members.len() {
                self.subscribe(k).await;
            }
        }

        async fn lose(&mut self, k: usize) {
            let client = Client::Member(self.member(k));
            let reason = "cut".to_owned();
            self.send(RunEvent::ConnectionLost { client, reason }).await;
        }

        async fn publish(&mut self, seqs: impl IntoIterator<Item = u32>) {
            for seq in seqs {
                // As a feeder does before it sends a new number.
                if let Some(limit) = &self.limit {
                    limit.take(seq);
                }
                let unrouted = false;
                self.send(RunEvent::Published { seq, unrouted }).await;
            }
        }

        async fn receive(&mut self, k: usize, seqs: impl IntoIterator<Item = u32>) {
            for seq in seqs {
                let member = self.member(k);
                let (payload, dup, latency_ms) = (String::new(), false, Some(1.0));
                let receipt = Receipt {
                    member,
                    seq: Some(seq),
                    payload,
                    dup,
                    via: Via::FIRST,
                    latency_ms,
                };
                self.send(RunEvent::Received(receipt)).await;
            }
        }

        fn publisher_started(&self) -> bool {
            self.gate.is_some()
        }

        fn gate_open(&self) -> bool {
            *self.gate.as_ref().expect("a publisher").borrow()
        }

        fn leaving(&self) -> bool {
            self.finish.is_cancelled()
        }

        async fn ctrl_c(&mut self) {
            let _ = self.signal.take().expect("one Ctrl-C").send(());
            self.settle().await;
        }

        async fn reconnect(&mut self, k: usize) {
            let client = Client::Member(self.member(k));
            let (attempts, downtime_ms, session_present) = (1, 100, false);
            let event = RunEvent::Reconnected {
                client,
                attempts,
                downtime_ms,
                session_present,
            };
            self.send(event).await;
        }

        /// What the run asked the publisher to send again as lost, so far.
        fn asked_to_resend(&mut self) -> Vec<u32> {
            let mut asked = Vec::new();
            if let Some(lost) = &mut self.lost {
                while let Ok(seqs) = lost.try_recv() {
                    asked.extend(seqs);
                }
            }
            asked
        }

        /// Ends one task (a member's, while there are any) with `result`.
        async fn end(&mut self, result: anyhow::Result<()>) {
            let client = self.running.remove(0);
            let _ = self.ends.send(TaskEnd { client, result });
            self.settle().await;
        }

        /// Ends every task cleanly and returns what the run says.
        async fn outcome(mut self) -> Result<Outcome, Failure> {
            while !self.running.is_empty() {
                self.end(Ok(())).await;
            }
            self.run.await.expect("the run does not panic")
        }
    }

    fn event_queue() -> usize {
        crate::run::event::QUEUE
    }

    fn finished(outcome: &Result<Outcome, Failure>) -> &Summary {
        match outcome {
            Ok(Outcome {
                summary,
                ending: Ending::Finished,
                ..
            }) => summary,
            Ok(Outcome { ending, .. }) => panic!("ended {}", ending_name(ending)),
            Err(failure) => panic!("failed: {failure}"),
        }
    }

    fn ending_name(ending: &Ending) -> &'static str {
        match ending {
            Ending::Finished => "finished",
            Ending::Interrupted => "interrupted",
            Ending::Failed(_) => "failed",
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_publisher_starts_once_every_member_is_in_and_the_run_ends_when_all_arrived() {
        let mut run = Harness::start(plan()).await;
        assert_eq!(run.members.len(), 2);
        run.subscribe(0).await;
        assert!(!run.publisher_started(), "one member is not in yet");
        run.subscribe(1).await;
        assert!(run.publisher_started());
        run.publish(1..=10).await;
        run.receive(0, (1..=10).filter(|seq| seq % 2 == 1)).await;
        assert!(!run.leaving(), "five messages still on their way");
        run.receive(1, (1..=10).filter(|seq| seq % 2 == 0)).await;
        assert!(run.leaving(), "every message accounted for");
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(summary.unique, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_away_holds_the_publisher_until_it_is_back() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.publish(1..=2).await;
        run.lose(1).await;
        assert!(!run.gate_open(), "holding while member 2 is away");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let client = Client::Member(run.member(1));
        let (attempts, downtime_ms, session_present) = (1, 5000, false);
        run.send(RunEvent::Reconnected {
            client,
            attempts,
            downtime_ms,
            session_present,
        })
        .await;
        assert!(!run.gate_open(), "connected is not subscribed");
        run.subscribe(1).await;
        assert!(run.gate_open(), "the group is complete again");
        run.publish(3..=10).await;
        run.receive(0, 1..=10).await;
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert!(summary.held_ms >= 5000, "held {} ms", summary.held_ms);
        assert!(summary.went_on_without.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_ends_after_the_timeout_without_the_member() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.lose(0).await;
        tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
        assert!(!run.gate_open(), "still within --timeout");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            run.gate_open(),
            "the hold ran out: on with the members there are"
        );
        run.publish(1..=10).await;
        run.receive(1, 1..=10).await;
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.went_on_without, ["c-subscriber-1"]);
        assert_eq!(summary.held_ms, TIMEOUT.as_millis() as u64);
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_deliveries_get_the_timeout_and_then_the_report_names_what_is_missing() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.publish(1..=10).await;
        run.receive(0, 1..=9).await;
        tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
        assert!(!run.leaving(), "#10 may still come");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(run.leaving(), "--timeout passed");
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.missing, [10]);
        assert_eq!(summary.verdict, Verdict::Missing);
    }

    #[tokio::test(start_paused = true)]
    async fn a_member_that_never_joins_fails_the_run_without_a_report() {
        let mut run = Harness::start(plan()).await;
        run.subscribe(0).await;
        // Member 2 never gets its SUBACK; its own --timeout ends its task with the reason.
        tokio::time::sleep(TIMEOUT).await;
        assert!(!run.publisher_started());
        run.end(Err(anyhow!("no SUBACK within 1m"))).await;
        assert!(run.leaving(), "the other member is told to leave");
        match run.outcome().await {
            Err(failure) => assert!(failure.to_string().contains("no SUBACK")),
            Ok(outcome) => panic!("ended {} with a report", ending_name(&outcome.ending)),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_after_the_start_still_reports_what_got_through() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.publish(1..=3).await;
        run.receive(0, 1..=3).await;
        run.end(Err(anyhow!("the broker stayed away"))).await;
        assert!(run.leaving());
        match run.outcome().await {
            Ok(Outcome {
                summary,
                ending: Ending::Failed(error),
                ..
            }) => {
                assert_eq!(summary.unique, 3);
                assert!(error.to_string().contains("stayed away"));
            }
            _ => panic!("expected a failure with a summary"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_while_only_leaving_does_not_change_the_verdict() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.publish(1..=10).await;
        run.receive(0, 1..=10).await;
        assert!(run.leaving());
        run.end(Err(anyhow!("no UNSUBACK"))).await;
        let outcome = run.outcome().await;
        assert_eq!(finished(&outcome).verdict, Verdict::Ok);
    }

    /// Brings a run to `phase`, as far as its clients can.
    async fn run_in(phase: &str) -> Harness {
        let mut subscriber = plan();
        subscriber.role = Role::Subscriber;
        let mut run = Harness::start(if phase == "listening" {
            subscriber
        } else {
            plan()
        })
        .await;
        if phase == "joining" {
            run.subscribe(0).await;
            return run;
        }
        run.subscribe_all().await;
        match phase {
            "publishing" => run.publish(1..=3).await,
            "holding" => run.lose(1).await,
            "awaiting deliveries" => run.publish(1..=10).await,
            "leaving" => {
                run.publish(1..=10).await;
                run.receive(0, 1..=10).await;
            }
            _ => {}
        }
        run
    }

    #[tokio::test(start_paused = true)]
    async fn ctrl_c_in_every_phase_stops_the_run_with_a_partial_report() {
        for phase in [
            "joining",
            "listening",
            "publishing",
            "holding",
            "awaiting deliveries",
            "leaving",
        ] {
            let mut run = run_in(phase).await;
            assert_eq!(run.leaving(), phase == "leaving", "{phase}");
            run.ctrl_c().await;
            assert!(run.leaving(), "{phase}: every task is told to finish");
            if run.publisher_started() {
                assert!(!run.gate_open(), "{phase}: nothing new is published");
            }
            match run.outcome().await {
                Ok(Outcome {
                    summary,
                    ending: Ending::Interrupted,
                    ..
                }) => assert!(summary.interrupted, "{phase}"),
                Ok(Outcome { ending, .. }) => panic!("{phase}: ended {}", ending_name(&ending)),
                Err(failure) => panic!("{phase}: {failure}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn members_alone_listen_until_silence_and_each_receipt_extends_it() {
        let mut run = run_in("listening").await;
        assert!(!run.publisher_started(), "the publisher is another process");
        tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
        run.receive(0, [1]).await;
        tokio::time::sleep(TIMEOUT - Duration::from_secs(1)).await;
        assert!(!run.leaving(), "a receipt restarted the silence");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(run.leaving(), "--timeout of silence");
        let outcome = run.outcome().await;
        assert_eq!(finished(&outcome).unique, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn members_alone_that_hear_nothing_fail_with_a_report() {
        let run = run_in("listening").await;
        tokio::time::sleep(TIMEOUT + Duration::from_secs(1)).await;
        match run.outcome().await {
            Ok(Outcome {
                ending: Ending::Failed(error),
                ..
            }) => assert!(error.to_string().contains("no message of run r")),
            _ => panic!("expected a failure that says why"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn members_alone_stop_once_each_has_the_end_of_run_marker() {
        let mut run = run_in("listening").await;
        run.receive(0, [1, 2]).await;
        for k in 0..2 {
            let member = run.member(k);
            run.send(RunEvent::EndOfRun {
                member,
                published: 2,
            })
            .await;
            assert_eq!(run.leaving(), k == 1, "after {} markers", k + 1);
        }
        let outcome = run.outcome().await;
        assert_eq!(finished(&outcome).unique, 2);
    }

    /// What the broker had routed to a member whose clean session ended is sent again, once
    /// both members have received something the broker took after it, and named `resent_lost`.
    #[tokio::test(start_paused = true)]
    async fn what_a_broken_clean_session_lost_is_sent_again_once_it_cannot_arrive() {
        let mut run = Harness::start(plan()).await;
        run.subscribe_all().await;
        run.publish(1..=6).await;
        run.receive(0, [1, 3, 5]).await;
        run.receive(1, [2]).await;
        // #4 and #6 were on their way to member 2 when its connection broke.
        run.lose(1).await;
        run.reconnect(1).await;
        run.subscribe(1).await;
        assert!(run.gate_open(), "the group is complete again");
        run.publish(7..=8).await;
        run.receive(1, [7]).await;
        // The first member has #5, taken after #4: #4 is not on its way to it; #6 may be.
        assert_eq!(run.asked_to_resend(), [4]);
        run.receive(0, [8]).await;
        assert_eq!(run.asked_to_resend(), [6]);
        // The copies go out, and arrive.
        run.publish([4, 6, 9, 10]).await;
        run.receive(0, [4, 9]).await;
        run.receive(1, [6, 10]).await;
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(summary.resent_lost, [4, 6]);
        assert!(summary.duplicated.is_empty());
    }

    /// On AWS IoT Core, which promises no order, what is found lost waits out the grace first,
    /// and then goes out even though nothing else happens: the loop wakes for it.
    #[tokio::test(start_paused = true)]
    async fn on_aws_what_was_lost_goes_out_after_the_grace_with_nothing_else_happening() {
        use crate::run::resender::AWS_ORDER_GRACE;

        let mut run = Harness::start_doubting(plan(), AWS_ORDER_GRACE).await;
        run.subscribe_all().await;
        run.publish(1..=6).await;
        run.receive(0, [1, 3, 5]).await;
        run.receive(1, [2]).await;
        run.lose(1).await;
        run.reconnect(1).await;
        run.subscribe(1).await;
        run.publish(7..=8).await;
        run.receive(1, [7]).await;
        run.receive(0, [8]).await;
        assert!(run.asked_to_resend().is_empty(), "nothing goes out at once");
        tokio::time::sleep(AWS_ORDER_GRACE).await;
        run.settle().await;
        assert_eq!(run.asked_to_resend(), [4, 6]);
        run.publish([4, 6]).await;
        run.receive(0, [4]).await;
        run.receive(1, [6]).await;
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(summary.resent_lost, [4, 6]);
    }

    /// With the hold off (`--no-hold`), what the broker loses stays lost: the report names it.
    #[tokio::test(start_paused = true)]
    async fn without_the_hold_nothing_is_sent_again() {
        let mut plan = plan();
        plan.hold = false;
        let mut run = Harness::start(plan).await;
        run.subscribe_all().await;
        run.publish(1..=10).await;
        run.receive(0, [1, 3, 5]).await;
        run.lose(1).await;
        run.reconnect(1).await;
        run.subscribe(1).await;
        run.receive(1, [8, 10]).await;
        run.receive(0, [7, 9]).await;
        assert!(run.asked_to_resend().is_empty());
        tokio::time::sleep(TIMEOUT + Duration::from_secs(1)).await;
        let outcome = run.outcome().await;
        assert_eq!(finished(&outcome).missing, [2, 4, 6]);
    }

    /// `--publishers 3`: three publisher tasks, each with its own client id, and the run ends
    /// once every number is accounted for, whoever sent it.
    #[tokio::test(start_paused = true)]
    async fn several_publishers_start_together_and_share_the_books() {
        let mut plan = plan();
        plan.publishers = 3;
        let mut run = Harness::start(plan).await;
        run.subscribe_all().await;
        assert_eq!(
            run.publishers,
            ["c-publisher-1", "c-publisher-2", "c-publisher-3"]
        );
        run.publish(1..=10).await;
        run.receive(0, 1..=10).await;
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!(summary.verdict, Verdict::Ok);
        let counts: Vec<u32> = summary.publishers.iter().map(|(_, p)| p.count).collect();
        assert_eq!(counts, [4, 3, 3], "1 4 7 10 · 2 5 8 · 3 6 9");
    }

    /// `--duration`: the books stay open while time runs, whatever has arrived; when it is up,
    /// the highest number taken is the count, and the run ends once those are accounted for.
    #[tokio::test(start_paused = true)]
    async fn a_duration_run_counts_what_was_sent_until_time_is_up() {
        let mut plan = plan();
        plan.duration = Some(Duration::from_secs(10));
        plan.count = crate::run::MAX_COUNT;
        let mut run = Harness::start(plan).await;
        run.subscribe_all().await;
        run.publish(1..=5).await;
        run.receive(0, 1..=5).await;
        assert!(!run.leaving(), "time is not up: more may come");
        tokio::time::sleep(Duration::from_secs(10)).await;
        run.settle().await;
        assert!(run.leaving(), "5 sent, 5 accounted for");
        let outcome = run.outcome().await;
        let summary = finished(&outcome);
        assert_eq!((summary.count, summary.unique), (5, 5));
        assert_eq!(summary.verdict, Verdict::Ok);
    }
}
