//! From the tally to the summary: the verdict, and every list the summary names.
//!
//! [`Tally::summary`] runs once, when the run is over, and takes the tally: the members' lists
//! of numbers move into the summary instead of being copied.

use super::super::churning;
use super::super::fairness;
use super::super::slot::{
    Slot, NOT_A_MEMBER, PUBLISHED, REDELIVERED, RESENT_LOST, RESENT_UNACKNOWLEDGED,
    RESENT_UNROUTED, SENT, UNACKNOWLEDGED, UNROUTED,
};
use super::super::summary::{
    MemberSummary, Members, Ranges, Source, Summary, SummaryContext, Verdict, VERSION,
};
use super::super::Role;
use super::Tally;

impl Tally {
    /// Freezes the tally into the report. It takes the tally: the members' lists of numbers move
    /// into the summary instead of being copied (4 MB at a million messages).
    pub fn summary(mut self, context: SummaryContext) -> Summary {
        // Which member got each message first, in publish order: the broker's choices.
        let order = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.first_member != 0 && slot.first_member != NOT_A_MEMBER)
            .map(|(_, slot)| slot.first_member - 1);
        let fairness = fairness::judge(&self.member_counts, order);
        let latency_ms = self.latencies.summary(&self.member_ids);
        let members = self.member_lists();
        let churn = churning::effects(std::mem::take(&mut self.churn), &members, || {
            self.slots.numbers_where(Slot::missing)
        });
        let redelivered_without_dup = self.redelivered_without_dup();
        let seqs_where = |keep: &dyn Fn(&Slot) -> bool| self.slots.numbers_where(keep);
        let how_many = |keep: &dyn Fn(&Slot) -> bool| self.slots.count_where(keep);
        let missing = self.missing();
        let duplicated = seqs_where(&Slot::more_than_once);
        let verdict = self.verdict(&missing, &duplicated);
        let sent = Ranges::of(
            self.slots
                .iter()
                .filter(|(_, s)| s.is(SENT))
                .map(|(seq, _)| seq),
        );
        Summary {
            version: VERSION,
            role: self.source,
            run_id: context.run_id,
            group: context.group,
            topic: context.topic,
            qos: context.qos,
            count: self.slots.len(),
            published: how_many(&|s| s.is(SENT)),
            sent,
            acknowledged: how_many(&|s| s.is(PUBLISHED)),
            publishers: Default::default(),
            received: self.received,
            unique: how_many(&Slot::received),
            missing,
            duplicated,
            foreign: self.foreign,
            members,
            elapsed_ms: context.elapsed.as_millis() as u64,
            verdict,
            resent_unrouted: seqs_where(&|s| s.is(RESENT_UNROUTED)),
            resent_unacknowledged: seqs_where(&|s| s.is(RESENT_UNACKNOWLEDGED)),
            resent_lost: seqs_where(&|s| s.is(RESENT_LOST)),
            redelivered: seqs_where(&|s| s.is(REDELIVERED)),
            redelivered_without_dup,
            unacknowledged: seqs_where(&|s| s.is(UNACKNOWLEDGED) && !s.is(PUBLISHED)),
            reconnects: self.outages.reconnects(),
            outages: self.outages.into_list(),
            held_ms: context.held.as_millis() as u64,
            went_on_without: context.went_on_without,
            unrouted: seqs_where(&|s| s.is(UNROUTED) && !s.received()),
            interrupted: context.interrupted,
            latency_ms,
            fairness,
            groups: None,
            control: None,
            churn,
        }
    }

    /// Sent and never received; received implies sent, so `unique + missing == published`.
    /// What this process can know is missing: the publisher alone, what the broker did not take
    /// or routed to nobody; members alone, nothing (the rest may be in another process).
    fn missing(&self) -> Vec<u32> {
        let seqs_where = |keep: &dyn Fn(&Slot) -> bool| self.slots.numbers_where(keep);
        match self.source {
            Source::Process(Role::All) | Source::Merge => seqs_where(&Slot::missing),
            Source::Process(Role::Publisher) => {
                seqs_where(&|s| s.is(SENT) && (!s.is(PUBLISHED) || s.is(UNROUTED)))
            }
            Source::Process(Role::Subscriber) => Vec::new(),
        }
    }

    /// Missing wins over duplicated; a `--role` process that saw nothing wrong in its part has
    /// no more to say of the group.
    fn verdict(&self, missing: &[u32], duplicated: &[u32]) -> Verdict {
        if !missing.is_empty() {
            Verdict::Missing
        } else if !duplicated.is_empty() {
            Verdict::Duplicated
        } else if !self.source.sees_everything() {
            Verdict::Partial
        } else {
            Verdict::Ok
        }
    }

    /// The messages some member got again without DUP, in order, each once.
    fn redelivered_without_dup(&mut self) -> Vec<u32> {
        let mut seqs = std::mem::take(&mut self.redelivered_without_dup);
        seqs.sort_unstable();
        seqs.dedup();
        seqs
    }

    /// Each member's message numbers, sorted, built in one pass over the slots with exactly the
    /// room each list needs.
    fn member_lists(&mut self) -> Members {
        let mut lists: Vec<Vec<u32>> = self
            .member_counts
            .iter()
            .map(|&count| Vec::with_capacity(count as usize))
            .collect();
        for (seq, slot) in self.slots.iter() {
            if let Some(list) = lists.get_mut(usize::from(slot.first_member).wrapping_sub(1)) {
                list.push(seq);
            }
        }
        for &(seq, number) in &self.later_receipts {
            if let Some(list) = lists.get_mut(usize::from(number).wrapping_sub(1)) {
                list.push(seq);
            }
        }
        if !self.later_receipts.is_empty() {
            lists.iter_mut().for_each(|list| list.sort_unstable());
        }
        std::mem::take(&mut self.member_ids)
            .into_iter()
            .zip(lists)
            .map(|(id, messages)| {
                let count = messages.len() as u32;
                (id, MemberSummary { count, messages })
            })
            .collect()
    }
}
