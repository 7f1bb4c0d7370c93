//! The publishing side of the loop: it starts the K publishers, ends `--duration` and learns the
//! count it decided, notes each publisher's progress, tells the end of the run to the publisher
//! that announces it, and times the periodic stats line.
//!
//! The loop in `machine/` owns one [`Publishing`] and asks it [`Publishing::next`] beside its
//! events: what time brought (the duration is over, the count is decided, a stats line is due).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::books::Books;
use super::numbers::Limit;
use super::output;
use super::phase;
use super::publication::{FromTheRun, Publication};
use super::publishers::Publishers;
use super::receipts::Receipts;
use super::resender::Resender;
use super::summary::Summary;
use super::tasks::{Start, Tasks};
use super::{Plan, Role};

/// What time brought the publishing side.
pub enum Step {
    /// The run's count is decided (`--duration` has passed): the books can close at it.
    Counted(u32),
    /// Time for the periodic line (`output::stats_line`).
    Stats,
}

/// The loop's side of the publishers; see the module doc.
pub struct Publishing {
    /// The run's last number, shared with every publisher (`numbers.rs`).
    limit: Arc<Limit>,
    /// Follows it, until the books know it.
    last: watch::Receiver<Option<u32>>,
    counted: bool,
    duration: Option<Duration>,
    /// When `--duration` is over, once publishing has begun.
    ends: Option<Instant>,
    publishers: Publishers,
    /// With `--role publisher`: tells the publisher that sends the end-of-run marker that the
    /// run is over, and how many messages the broker took.
    the_end: Option<oneshot::Sender<u32>>,
    stats_every: Duration,
    stats: Option<Interval>,
    /// When publishing (or, members alone, listening) began: the clock of the stats line.
    since: Option<Instant>,
}

impl Publishing {
    pub fn new(plan: &Plan) -> Publishing {
        let limit = Arc::new(match plan.fixed_count() {
            Some(count) => Limit::fixed(count),
            None => Limit::open(plan.count),
        });
        Publishing {
            last: limit.watch(),
            counted: plan.fixed_count().is_some(),
            limit,
            duration: plan.duration,
            ends: None,
            publishers: Publishers::new(plan),
            the_end: None,
            stats_every: plan.stats_every,
            stats: None,
            since: None,
        }
    }

    /// Starts the publishers of `plan`: each its own stripe of the numbers, and the run's lines
    /// to it (the gate, what a member's broken session lost, the end of the run).
    pub fn start(
        &mut self,
        plan: &Plan,
        receipts: &Arc<Receipts>,
        gate: &watch::Receiver<bool>,
        mut lost: Option<&mut Resender>,
        tasks: &mut Tasks,
    ) {
        self.began();
        self.ends = self.duration.map(|duration| Instant::now() + duration);
        self.publishers.started();
        for j in 1..=plan.publishers {
            let publication = Publication::new(plan, j, receipts.clone(), self.limit.clone());
            let the_end = (plan.role == Role::Publisher && j == 1).then(|| {
                let (tell, told) = oneshot::channel();
                self.the_end = Some(tell);
                told
            });
            let from_the_run = FromTheRun {
                gate: gate.clone(),
                lost: lost.as_deref_mut().and_then(|lost| lost.publisher_end(j)),
                the_end,
            };
            tasks.start(Start::Publisher {
                publication,
                from_the_run,
            });
        }
    }

    /// Members alone: every one is in, and the publisher is another process's. Says so, and
    /// starts the clock of the stats line.
    pub fn listen(&mut self, plan: &Plan, members: usize) {
        let who = match members {
            1 => "the 1 member is".to_owned(),
            n => format!("all {n} members are"),
        };
        let silence = humantime::format_duration(plan.timeout);
        // With --duration nobody knows the count: only the marker or silence ends the wait.
        let until = match plan.fixed_count() {
            Some(count) => {
                format!("its end-of-run marker, {count} messages, or {silence} of silence")
            }
            None => format!("its end-of-run marker, or {silence} of silence"),
        };
        tracing::info!(
            "{who} in the group; waiting for the publisher of run {} (until {until})",
            plan.run_id
        );
        self.began();
    }

    /// Publishing (or, members alone, listening) begins: the stats line's clock starts.
    fn began(&mut self) {
        let now = Instant::now();
        self.since = Some(now);
        if output::wants_stats_lines() {
            let mut every = tokio::time::interval_at(now + self.stats_every, self.stats_every);
            every.set_missed_tick_behavior(MissedTickBehavior::Delay);
            self.stats = Some(every);
        }
    }

    /// The broker took message `seq`.
    pub fn published(&mut self, seq: u32) {
        self.publishers.published(seq);
    }

    /// The run's last number, once decided.
    pub fn count(&self) -> Option<u32> {
        self.limit.last()
    }

    /// How long since publishing (or listening) began.
    pub fn elapsed(&self) -> Duration {
        self.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// What time brings next; see [`Step`]. When `--duration` is over, the run's last number
    /// is decided here: the highest any publisher has taken (`numbers.rs`).
    pub async fn next(&mut self) -> Step {
        loop {
            tokio::select! {
                _ = phase::sleep_until(self.ends) => {
                    self.ends = None;
                    let last = self.limit.close();
                    tracing::info!(
                        "--duration {} has passed: no new messages after #{last}",
                        humantime::format_duration(self.duration.unwrap_or_default())
                    );
                }
                Ok(()) = self.last.changed(), if !self.counted => {
                    self.counted = true;
                    return Step::Counted(self.last.borrow().unwrap_or(0));
                }
                _ = tick(&mut self.stats) => return Step::Stats,
            }
        }
    }

    /// The periodic line: how the run of `plan` goes, by its `books`.
    pub fn say_how_it_goes(&self, plan: &Plan, books: &Books) {
        let publishing = plan.role != Role::Subscriber;
        let receiving = plan.role != Role::Publisher;
        let so_far = books.so_far();
        let line = output::stats_line(self.elapsed(), &so_far, publishing, receiving);
        tracing::info!("{line}");
    }

    /// The run is over: the publisher that announces it learns that, and how many of its
    /// messages the broker took (`acknowledged`).
    pub fn tell_the_end(&mut self, acknowledged: u32) {
        if let Some(tell) = self.the_end.take() {
            let _ = tell.send(acknowledged);
        }
    }

    /// The run's summary with each publisher's count and rate in it.
    pub fn sign(&self, summary: Summary) -> Summary {
        let publishers = self.publishers.summary(&summary.sent);
        summary.with_publishers(publishers)
    }
}

/// The next tick, or never without a ticker.
async fn tick(stats: &mut Option<Interval>) {
    match stats {
        Some(every) => {
            every.tick().await;
        }
        None => std::future::pending().await,
    }
}
