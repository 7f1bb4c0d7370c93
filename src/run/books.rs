//! The books of a run: one [`Tally`] per group and one for the control subscriber, and the
//! output that shows every event as it is counted.
//!
//! Each group must get every message exactly once, split among its own members, and the control
//! subscriber (`--control`) must get every message. So what the publisher did counts in every
//! tally, and a receipt only in its receiver's: the [`Seat`](super::roster::Seat) a member's
//! events carry says which, and which row.

use tokio::time::Instant;

use super::event::RunEvent;
use super::group::Group;
use super::output::{Output, SoFar};
use super::plan::Plan;
use super::roster::Roster;
use super::summary::SummaryContext;
use super::summary::{Source, Summary};
use super::tally::Tally;
use super::timeline::Timeline;

/// What the loop keeps of every event: the counts, and what it shows.
pub struct Books {
    tallies: Vec<Tally>,
    pub output: Output,
    /// When things happened, for `--html`'s picture (`timeline.rs`); `None` without it.
    timeline: Option<Timeline>,
}

impl Books {
    /// Books for `plan`, one row per member seated in `roster`.
    pub fn new(plan: &Plan, roster: &Roster) -> Books {
        // With --duration the count is decided later (`numbers.rs`): the books start empty.
        let count = plan.fixed_count();
        let tallies = (0..plan.books())
            .map(|book| {
                let tally = Tally::new(count.unwrap_or(0), &roster.ids(book))
                    .written_by(Source::Process(plan.role));
                match count {
                    Some(_) => tally,
                    None => tally.open_ended(),
                }
            })
            .collect();
        let members: Vec<Vec<String>> = (0..plan.books()).map(|book| roster.ids(book)).collect();
        Books {
            tallies,
            output: Output::new(plan.format, plan.per_message_logs, count),
            timeline: plan.timeline.then(|| Timeline::new(plan, &members)),
        }
    }

    /// The run's count is decided (`--duration` passed): every set of books closes at it.
    pub fn close(&mut self, count: u32) {
        self.tallies.iter_mut().for_each(|tally| tally.close(count));
        self.output.counted(count);
    }

    /// Messages the broker took for good so far (the first group's books: every set counts the
    /// publisher's side alike).
    pub fn acknowledged(&self) -> u32 {
        self.tallies.first().map_or(0, |tally| tally.so_far().0)
    }

    /// How the run goes so far, for the periodic stats line (`output.rs`).
    pub fn so_far(&self) -> SoFar {
        let (acknowledged, p99_ms, not_received) =
            self.tallies.first().map_or((0, None, 0), Tally::so_far);
        SoFar {
            received: self.received(),
            acknowledged,
            p99_ms,
            not_received,
        }
    }

    /// Shows an event and counts it: every event goes through here.
    pub fn record(&mut self, event: &RunEvent) {
        self.output.event(event);
        if let Some(timeline) = &mut self.timeline {
            timeline.record(event);
        }
        // A receipt, or a churn step, belongs to the receiver's books only.
        let member = match event {
            RunEvent::Received(receipt) => Some(&receipt.member),
            RunEvent::Churn { member, .. } => Some(member),
            _ => None,
        };
        match member {
            Some(member) => match self.tallies.get_mut(member.seat().book) {
                Some(tally) => tally.record(event),
                // A seat comes from the roster these books were made from: this cannot be.
                None => tracing::error!(
                    "internal error: {} has no books; its receipt is not counted",
                    member.client_id()
                ),
            },
            None => self
                .tallies
                .iter_mut()
                .for_each(|tally| tally.record(event)),
        }
    }

    /// The timeline, its clock stopped: the run is over.
    pub fn take_timeline(&mut self) -> Option<Timeline> {
        let mut timeline = self.timeline.take()?;
        timeline.end();
        Some(timeline)
    }

    /// Nothing left to wait for in any set of books.
    pub fn all_accounted_for(&self) -> bool {
        self.tallies.iter().all(Tally::all_accounted_for)
    }

    /// The broker took every message: the publisher has nothing left to send.
    pub fn all_published(&self) -> bool {
        self.tallies.iter().all(Tally::all_published)
    }

    /// Receipts still awaited, all groups together.
    pub fn outstanding(&self) -> u32 {
        self.tallies.iter().map(Tally::outstanding).sum()
    }

    /// Receipts of this run's messages so far, all books together.
    pub fn received(&self) -> u32 {
        self.tallies.iter().map(Tally::received).sum()
    }

    /// One summary of all the books: the first group's on top, the others' and the control's
    /// in it. `group` and `started` say what the counts do not: holds, and the run's length.
    pub fn summary(
        self,
        plan: &Plan,
        group: &Group,
        started: Instant,
        interrupted: bool,
    ) -> Summary {
        let context = |book: usize| SummaryContext {
            // The control subscriber's books have no group: `report.rs` names them.
            group: plan
                .filters
                .get(book)
                .map_or(String::new(), |filter| filter.group().to_owned()),
            topic: plan.topic().to_owned(),
            qos: plan.qos as u8,
            elapsed: started.elapsed(),
            held: group.held,
            went_on_without: group.given_up.iter().cloned().collect(),
            interrupted,
            run_id: plan.run_id.clone(),
        };
        let mut summaries: Vec<Summary> = self
            .tallies
            .into_iter()
            .enumerate()
            .map(|(book, tally)| tally.summary(context(book)))
            .collect();
        let control = if plan.control { summaries.pop() } else { None };
        // One tally per group, and `Plan::filters` is never empty.
        let first = summaries.remove(0);
        if summaries.is_empty() && control.is_none() {
            return first;
        }
        Summary::of_groups(first, summaries, control)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::event::Receipt;
    use crate::run::plan::tests::plan;
    use crate::run::plan::Filters;
    use crate::share::SharedFilter;

    /// Each receipt is counted in its member's own books, found from its seat: with two groups
    /// and a control subscriber, a receipt of group `b` counts in `b`'s books only. (Before the
    /// seat, an id the books did not know went to the first group's, without a word.)
    #[test]
    fn a_receipt_counts_in_its_members_books_only() {
        let mut plan = plan();
        let filter = |group: &str| SharedFilter::new(group, "t").expect("valid");
        plan.filters = Filters::try_from(vec![filter("a"), filter("b")]).expect("two groups");
        plan.control = true;
        plan.count = 1;
        let mut roster = Roster::new();
        let seated: Vec<_> = plan
            .subscriptions()
            .iter()
            .map(|s| roster.seat(&s.client_id, "t", s.book))
            .collect();
        let mut books = Books::new(&plan, &roster);
        books.record(&RunEvent::Published {
            seq: 1,
            unrouted: false,
        });
        let in_b = seated
            .iter()
            .find(|member| member.client_id() == "c-b-subscriber-2")
            .expect("member 2 of b");
        books.record(&RunEvent::Received(Receipt {
            member: in_b.clone(),
            seq: Some(1),
            payload: String::new(),
            dup: false,
            via: crate::run::event::Via::FIRST,
            latency_ms: None,
        }));
        let summary = books.summary(&plan, &Group::new(&[]), Instant::now(), false);
        let groups = summary.groups.expect("one summary per group");
        let unique = |name: &str| groups.get(name).map(|group| group.unique);
        assert_eq!((unique("a"), unique("b")), (Some(0), Some(1)));
        assert_eq!(summary.control.map(|control| control.unique), Some(0));
        let b = groups.get("b").expect("b");
        assert_eq!(b.members.get("c-b-subscriber-2").map(|m| m.count), Some(1));
    }
}
