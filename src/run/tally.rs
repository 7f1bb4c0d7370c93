//! The live tally: every event of the run, counted as it happens.
//!
//! The run's loop feeds the [`Tally`] each event as it comes; [`Tally::summary`] freezes it into
//! the [`Summary`] (`summary.rs`) once the run is over. The tally also tells the loop when
//! nothing is left to wait for ([`Tally::all_accounted_for`]), which is how a run ends on its own.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::churn::ChurnKind;
use super::event::RunEvent;
use super::fairness;
use super::latency::Latencies;
use super::summary::Source;
use super::summary::{ChurnSummary, MemberSummary, Members, OutageSummary, Summary, Verdict};
use super::{Role, MAX_COUNT};
use crate::message::PerMessage;

/// Running counts, fed one event at a time.
pub struct Tally {
    /// What happened to each message.
    slots: PerMessage<Slot>,
    /// Members' client ids in the order they were started.
    member_ids: Vec<String>,
    /// How many receipts each member had, duplicates included.
    member_counts: Vec<u32>,
    /// Receipts after a message's first one, with who got them (`Slot::first_member` numbering).
    /// Rare: a duplicate is a broker's slip or a redelivery after a reconnect. The members' lists
    /// of numbers are built from the slots and these at the end, instead of growing a list per
    /// member as messages arrive (up to twice the memory, with a Vec's spare capacity).
    later_receipts: Vec<(u32, u16)>,
    /// Receipts of our messages, duplicates included.
    received: u32,
    /// Where each member's client id is in `members`: a receipt must not scan 1000 names.
    member_index: HashMap<String, usize>,
    foreign: u64,
    /// How many times a connection broke and came back, all clients together.
    reconnects: u32,
    /// Messages not settled yet (see [`Slot::settled`]). A counter, because the run asks after
    /// every event whether it is done, and scanning every slot each time made 100,000-message runs
    /// quadratic.
    unsettled: u32,
    /// Every connection that broke, in order, and when it came back.
    outages: Vec<OutageSummary>,
    /// When the run started: the clock of `outages`.
    started: Instant,
    /// Delays from publish to receipt, per member and for the group.
    latencies: Latencies,
    /// What this process sees of each message, and so when one counts as settled.
    role: Source,
    /// `--churn`'s steps as they happened; their effects are worked out in the summary.
    churn: Vec<ChurnSummary>,
}

/// What happened to one message. Kept small (4 bytes), as a run holds one per message: a
/// million-message run holds a million, and every byte here is a megabyte there.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// Which member got it first: `member_ids[first_member - 1]`; 0 for none yet, `u16::MAX`
    /// for a client that is not a member of this run. Members are at most 1000 (`cli.rs`).
    first_member: u16,
    /// How many times the group received it, up to 255: only "none", "once" and "more than
    /// once" matter here (the total is `Tally::received`).
    receipts: u8,
    /// Yes/no facts, one bit each ([`SENT`], [`PUBLISHED`], [`UNROUTED`], [`UNACKNOWLEDGED`],
    /// [`REDELIVERED`], [`SENT_AGAIN`]), and in the top two bits how often it was sent again after a PUBACK 0x10
    /// (at most `publisher::MAX_RESENDS`, 3).
    flags: u8,
}

/// The publisher sent it at least once. We learn it from its PUBACK, from the publisher's list of
/// unacknowledged messages when it stops, or from a member that received it.
const SENT: u8 = 1;
/// The broker took it for good: its final PUBACK at QoS 1, written at QoS 0.
const PUBLISHED: u8 = 1 << 1;
/// The final PUBACK said "no matching subscribers": the broker dropped it on arrival, so it will
/// never arrive and nobody needs to wait for it.
const UNROUTED: u8 = 1 << 2;
/// Sent, and the publisher stopped before any PUBACK came for it.
const UNACKNOWLEDGED: u8 = 1 << 3;
/// The same member got it again, flagged DUP: the broker delivered it again after a reconnect
/// because our PUBACK never reached it (QoS 1 with a kept session).
const REDELIVERED: u8 = 1 << 4;
/// The publisher sent it again after its own reconnect, because the old connection broke before
/// the PUBACK came: if the broker had already routed the first copy, the group gets it twice.
const SENT_AGAIN: u8 = 1 << 5;
/// The top two bits: times sent again after a PUBACK 0x10.
const RESENT_SHIFT: u8 = 6;

impl Slot {
    fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    fn resent(&self) -> u8 {
        self.flags >> RESENT_SHIFT
    }

    /// One more re-send; the count stops at 3, which `MAX_RESENDS` never passes.
    fn add_resend(&mut self) {
        let resent = (self.resent() + 1).min(3);
        self.flags = (self.flags & !(0b11 << RESENT_SHIFT)) | (resent << RESENT_SHIFT);
    }

    /// Nothing left to wait for, as far as this process can see: with the publisher and the
    /// members, published and received (or reported unrouted); the publisher alone, published;
    /// members alone, received.
    fn settled(&self, role: Source) -> bool {
        match role {
            Source::Process(Role::Publisher) => self.is(PUBLISHED),
            Source::Process(Role::Subscriber) => self.receipts > 0,
            Source::Process(Role::All) | Source::Merge => {
                self.is(PUBLISHED) && (self.receipts > 0 || self.is(UNROUTED))
            }
        }
    }
}

impl Tally {
    /// A tally for messages `1..=count` and the given member client ids.
    pub fn new(count: u32, member_ids: &[String]) -> Tally {
        Tally {
            slots: PerMessage::new(count, Slot::default),
            member_ids: member_ids.to_vec(),
            member_counts: vec![0; member_ids.len()],
            later_receipts: Vec::new(),
            received: 0,
            member_index: member_ids
                .iter()
                .enumerate()
                .map(|(index, id)| (id.clone(), index))
                .collect(),
            foreign: 0,
            reconnects: 0,
            unsettled: count,
            outages: Vec::new(),
            started: Instant::now(),
            latencies: Latencies::new(member_ids.len()),
            role: Source::Process(Role::All),
            churn: Vec::new(),
        }
    }

    /// A tally for a process that plays only part of the run (`--role`): it decides when a
    /// message counts as settled.
    pub fn for_role(mut self, role: Source) -> Tally {
        self.role = role;
        self
    }

    /// Adds one event.
    pub fn record(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Published { seq, unrouted } => {
                self.update(*seq, |slot| {
                    slot.set(SENT | PUBLISHED, true);
                    slot.set(UNROUTED, *unrouted);
                });
            }
            // Not final: it goes out again once the group is complete.
            RunEvent::Resending { seq } => {
                self.update(*seq, |slot| {
                    slot.set(SENT, true);
                    slot.add_resend();
                });
            }
            RunEvent::SendingAgain { seqs } => {
                for seq in seqs {
                    self.update(*seq, |slot| slot.set(SENT | SENT_AGAIN, true));
                }
            }
            // The run's loop decides what the marker ends; the tally has nothing to count.
            RunEvent::EndOfRun { .. } => {}
            RunEvent::Churn {
                client_id,
                step,
                at_seq,
            } => self.churn.push(ChurnSummary {
                at_ms: self.now_ms(),
                at_seq: *at_seq,
                client_id: client_id.clone(),
                step: *step,
                received_before: 0,
                received_after: 0,
                missing_since: Vec::new(),
            }),
            RunEvent::Unacknowledged { seqs } => {
                for seq in seqs {
                    self.update(*seq, |slot| {
                        slot.set(SENT | UNACKNOWLEDGED, true);
                    });
                }
            }
            RunEvent::ConnectionLost { client_id, reason } => self.outages.push(OutageSummary {
                client_id: client_id.clone(),
                down_at_ms: self.now_ms(),
                up_at_ms: None,
                attempts: 0,
                reason: reason.clone(),
            }),
            RunEvent::Reconnected {
                client_id,
                attempts,
                ..
            } => {
                self.reconnects += 1;
                let up_at_ms = self.now_ms();
                let open = self
                    .outages
                    .iter_mut()
                    .rev()
                    .find(|outage| outage.client_id == *client_id && outage.up_at_ms.is_none());
                if let Some(outage) = open {
                    outage.up_at_ms = Some(up_at_ms);
                    outage.attempts = *attempts;
                }
            }
            RunEvent::Received {
                client_id,
                seq: Some(seq),
                dup,
                latency_ms,
                ..
            } => {
                let member = self.member_index.get(client_id).copied();
                // Members are numbered from 1 in `first_member`; 0 means nobody yet.
                let number = member.map_or(u16::MAX, |index| {
                    u16::try_from(index + 1).unwrap_or(u16::MAX)
                });
                let mut later = false;
                let counted = self.update(*seq, |slot| {
                    slot.set(SENT, true);
                    slot.receipts = slot.receipts.saturating_add(1);
                    if slot.first_member == 0 {
                        slot.first_member = number;
                    } else {
                        later = true;
                        if *dup && slot.first_member == number {
                            slot.set(REDELIVERED, true);
                        }
                    }
                });
                if !counted {
                    // Carries our run id but a number we never sent: treat as foreign.
                    self.foreign += 1;
                    return;
                }
                self.received += 1;
                if let Some(member) = member {
                    self.member_counts[member] += 1;
                    if later {
                        self.later_receipts.push((*seq, number));
                    }
                }
                if let Some(latency_ms) = latency_ms {
                    self.latencies
                        .record(member, (latency_ms * 1000.0).round() as u64);
                }
            }
            RunEvent::Received { seq: None, .. } => self.foreign += 1,
            RunEvent::Connected { .. }
            | RunEvent::Subscribed { .. }
            | RunEvent::Holding { .. }
            | RunEvent::Resumed { .. } => {}
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Applies `change` to message `seq`'s slot and keeps `unsettled` right; false if we never
    /// sent a message with that number.
    fn update(&mut self, seq: u32, change: impl FnOnce(&mut Slot)) -> bool {
        // Members in a process of their own do not know how many the publisher sends: a number
        // above --count makes room rather than being lost. (The run still stops once --count
        // messages have arrived: `unsettled` counts down from --count.)
        if self.role == Source::Process(Role::Subscriber)
            && seq > self.slots.len()
            && seq <= MAX_COUNT
        {
            self.slots.grow_to(seq, Slot::default);
        }
        let Some(slot) = self.slots.get_mut(seq) else {
            return false;
        };
        let was_settled = slot.settled(self.role);
        change(slot);
        if !was_settled && slot.settled(self.role) {
            self.unsettled = self.unsettled.saturating_sub(1);
        }
        true
    }

    /// What each `--churn` step was followed by: the member's receipts before and after its
    /// point, and the messages missing from its point to the next step's.
    fn churn_effects(&mut self, members: &Members) -> Vec<ChurnSummary> {
        let mut churn = std::mem::take(&mut self.churn);
        let points: Vec<u32> = churn.iter().map(|step| step.at_seq).collect();
        for (k, step) in churn.iter_mut().enumerate() {
            let messages = members
                .get(&step.client_id)
                .map_or(&[][..], |member| &member.messages[..]);
            step.received_before =
                messages.iter().filter(|seq| **seq <= step.at_seq).count() as u32;
            step.received_after = messages.len() as u32 - step.received_before;
            // From the member's last receipt before the step: what was on its way to it then
            // belongs to the step too. Up to the next step, which answers for what follows it.
            // A joiner had nothing on its way before its point.
            let since = if step.step == ChurnKind::Join {
                step.at_seq
            } else {
                messages
                    .iter()
                    .copied()
                    .filter(|seq| *seq <= step.at_seq)
                    .max()
                    .unwrap_or(0)
            };
            let until = points.get(k + 1).copied().unwrap_or(u32::MAX);
            step.missing_since = self
                .slots
                .numbers_where(|slot| slot.is(SENT) && slot.receipts == 0)
                .into_iter()
                .filter(|seq| *seq > since && *seq <= until)
                .collect();
        }
        churn
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

    /// True once every message was published and either received at least once or reported
    /// unrouted by the broker: nothing left to wait for.
    pub fn all_accounted_for(&self) -> bool {
        self.unsettled == 0
    }

    /// Receipts of this run's messages so far, duplicates included.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// How many messages are not accounted for yet.
    pub fn outstanding(&self) -> u32 {
        self.unsettled
    }

    /// Freezes the tally into the report. It takes the tally: the members' lists of numbers move
    /// into the summary instead of being copied (4 MB at a million messages).
    pub fn summary(mut self, context: SummaryContext) -> Summary {
        // Which member got each message first, in publish order: the broker's choices.
        let order = self
            .slots
            .iter()
            .filter(|(_, slot)| slot.first_member != 0 && slot.first_member != u16::MAX)
            .map(|(_, slot)| slot.first_member - 1);
        let fairness = fairness::judge(&self.member_counts, order);
        let latency_ms = self.latencies.summary(&self.member_ids);
        let members = self.member_lists();
        let churn = self.churn_effects(&members);
        let seqs_where = |keep: &dyn Fn(&Slot) -> bool| self.slots.numbers_where(keep);
        let how_many = |keep: &dyn Fn(&Slot) -> bool| self.slots.count_where(keep);
        // Sent and never received; received implies sent, so `unique + missing == published`.
        // What this process can know is missing: the publisher alone, what the broker did not
        // take or routed to nobody; members alone, nothing (the rest may be in another process).
        let missing = match self.role {
            Source::Process(Role::All) | Source::Merge => {
                seqs_where(&|s| s.is(SENT) && s.receipts == 0)
            }
            Source::Process(Role::Publisher) => {
                seqs_where(&|s| s.is(SENT) && (!s.is(PUBLISHED) || s.is(UNROUTED)))
            }
            Source::Process(Role::Subscriber) => Vec::new(),
        };
        let duplicated = seqs_where(&|s| s.receipts > 1);
        let verdict = if !missing.is_empty() {
            Verdict::Missing
        } else if !duplicated.is_empty() {
            Verdict::Duplicated
        } else {
            Verdict::Ok
        };
        Summary {
            role: self.role,
            run_id: context.run_id,
            group: context.group,
            topic: context.topic,
            qos: context.qos,
            count: self.slots.len(),
            published: how_many(&|s| s.is(SENT)),
            acknowledged: how_many(&|s| s.is(PUBLISHED)),
            received: self.received,
            unique: how_many(&|s| s.receipts > 0),
            missing,
            duplicated,
            foreign: self.foreign,
            members,
            elapsed_ms: context.elapsed.as_millis() as u64,
            verdict,
            retried: seqs_where(&|s| s.resent() > 0),
            redelivered: seqs_where(&|s| s.is(REDELIVERED)),
            sent_again: seqs_where(&|s| s.is(SENT_AGAIN)),
            unacknowledged: seqs_where(&|s| s.is(UNACKNOWLEDGED) && !s.is(PUBLISHED)),
            outages: std::mem::take(&mut self.outages),
            held_ms: context.held.as_millis() as u64,
            went_on_without: context.went_on_without,
            unrouted: seqs_where(&|s| s.is(UNROUTED) && s.receipts == 0),
            reconnects: self.reconnects,
            interrupted: context.interrupted,
            latency_ms,
            fairness,
            groups: None,
            control: None,
            churn,
        }
    }
}

/// What the summary needs besides the counts.
pub struct SummaryContext {
    pub group: String,
    pub topic: String,
    pub qos: u8,
    pub elapsed: Duration,
    /// How long the publisher held for the group, all holds together.
    pub held: Duration,
    /// Members the run went on without after a hold ran out of --timeout.
    pub went_on_without: Vec<String>,
    /// Ctrl-C or SIGTERM stopped the run.
    pub interrupted: bool,
    /// Ties the processes of one run together (`--run-id`).
    pub run_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::output;

    fn received(client: &str, seq: u32) -> RunEvent {
        RunEvent::Received {
            client_id: client.into(),
            seq: Some(seq),
            topic: "t".into(),
            payload: String::new(),
            dup: false,
            latency_ms: Some(1.5),
        }
    }

    fn context() -> SummaryContext {
        SummaryContext {
            group: "g".into(),
            topic: "t".into(),
            qos: 1,
            elapsed: Duration::from_millis(5),
            held: Duration::ZERO,
            went_on_without: Vec::new(),
            interrupted: false,
            run_id: "r".into(),
        }
    }

    #[test]
    fn a_slot_stays_small() {
        // One per message: 4 bytes is 4 MB at a million messages.
        assert_eq!(std::mem::size_of::<Slot>(), 4);
    }

    #[test]
    fn exactly_once_is_ok() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(4, &ids);
        for seq in 1..=4 {
            tally.record(&RunEvent::Published {
                seq,
                unrouted: false,
            });
            tally.record(&received(if seq % 2 == 0 { "a" } else { "b" }, seq));
        }
        assert!(tally.all_accounted_for());
        let summary = tally.summary(context());
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(
            summary.members.get("a").expect("member a").messages,
            vec![2, 4]
        );
        assert!(summary
            .verdict_line()
            .starts_with("4 published · 4 delivered exactly once to group 'g' (2 members of this run) · 0 missing · 0 duplicated"));
    }

    #[test]
    fn names_missing_and_duplicated_messages() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(3, &ids);
        for seq in 1..=3 {
            tally.record(&RunEvent::Published {
                seq,
                unrouted: false,
            });
        }
        tally.record(&received("a", 1));
        tally.record(&received("a", 1));
        tally.record(&received("a", 3));
        tally.record(&RunEvent::Received {
            client_id: "a".into(),
            seq: None,
            topic: "t".into(),
            payload: "x".into(),
            dup: false,
            latency_ms: None,
        });
        assert!(!tally.all_accounted_for());
        let summary = tally.summary(context());
        assert_eq!(summary.missing, vec![2]);
        assert_eq!(summary.duplicated, vec![1]);
        assert_eq!(summary.verdict, Verdict::Missing);
        assert_eq!(
            (summary.received, summary.unique, summary.foreign),
            (3, 2, 1)
        );
        assert!(summary.render().contains("missing: 2"));
    }

    #[test]
    fn reconnects_explain_what_went_missing() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(4, &ids);
        tally.record(&RunEvent::Reconnected {
            client_id: "a".into(),
            attempts: 3,
            downtime_ms: 600,
            session_present: false,
        });
        for seq in 1..=4 {
            tally.record(&RunEvent::Published {
                seq,
                unrouted: seq == 3,
            });
        }
        for seq in [1, 2, 4] {
            tally.record(&received("a", seq));
        }
        // #3 went to nobody and never will arrive: no reason to wait for it.
        assert!(tally.all_accounted_for());
        let summary = tally.summary(context());
        assert_eq!(summary.missing, vec![3]);
        assert_eq!(summary.verdict, Verdict::Missing);
        let report = summary.render();
        assert!(
            report.contains("'no matching subscribers' (PUBACK 0x10) for 3"),
            "{report}"
        );
        assert!(report.contains("1 reconnect during the run: messages published while members were disconnected are dropped by the broker"), "{report}");
        assert!(!report.contains("members outside this run"), "{report}");
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["reconnects"], 1);
        assert_eq!(json["unrouted"], serde_json::json!([3]));
    }

    fn published(tally: &mut Tally, seq: u32, unrouted: bool, resending: bool) {
        if resending {
            tally.record(&RunEvent::Resending { seq });
            return;
        }
        tally.record(&RunEvent::Published { seq, unrouted });
    }

    #[test]
    fn a_message_sent_again_after_0x10_counts_once_delivered() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(2, &ids);
        published(&mut tally, 1, false, false);
        published(&mut tally, 2, true, true);
        tally.record(&received("a", 1));
        // #2 went to nobody but is on its way again: the run must wait for it.
        assert!(!tally.all_accounted_for());
        published(&mut tally, 2, false, false);
        tally.record(&received("a", 2));
        assert!(tally.all_accounted_for());
        let summary = tally.summary(context());
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(summary.retried, vec![2]);
        assert!(summary.unrouted.is_empty());
        assert_eq!((summary.published, summary.unique), (2, 2));
        assert!(summary
            .render()
            .contains("routed them to nobody (PUBACK 0x10): 2"));
    }

    #[test]
    fn the_books_balance_when_the_run_stops_early() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(10, &ids);
        for seq in 1..=4 {
            published(&mut tally, seq, false, false);
            tally.record(&received("a", seq));
        }
        // Received before its PUBACK came (or before the publisher said anything about it).
        tally.record(&received("b", 5));
        // The publisher stopped with #5 and #6 sent and unacknowledged.
        tally.record(&RunEvent::Unacknowledged { seqs: vec![5, 6] });
        let summary = tally.summary(context());
        assert_eq!(summary.published, 6, "#5 was received, #6 sent: both count");
        assert_eq!(summary.acknowledged, 4);
        assert_eq!(
            summary.unique + summary.missing.len() as u32,
            summary.published
        );
        assert_eq!(summary.missing, vec![6]);
        assert_eq!(summary.unacknowledged, vec![5, 6]);
        assert!(summary
            .render()
            .contains("4 of 10 messages were never sent"));
    }

    #[test]
    fn a_redelivery_to_the_same_member_is_told_apart_from_a_second_member() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(2, &ids);
        for seq in 1..=2 {
            published(&mut tally, seq, false, false);
            tally.record(&received("a", seq));
        }
        let mut again = received("a", 1);
        if let RunEvent::Received { dup, .. } = &mut again {
            *dup = true;
        }
        tally.record(&again);
        tally.record(&received("b", 2));
        let summary = tally.summary(context());
        assert_eq!(summary.duplicated, vec![1, 2]);
        assert_eq!(summary.redelivered, vec![1]);
        assert_eq!(summary.verdict, Verdict::Duplicated);
    }

    #[test]
    fn a_duplicate_the_publisher_sent_again_is_named_in_the_report() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(3, &ids);
        // #2's PUBACK was lost with the publisher's connection: sent again, routed twice.
        tally.record(&received("a", 1));
        tally.record(&received("b", 2));
        tally.record(&RunEvent::SendingAgain { seqs: vec![2, 3] });
        tally.record(&received("a", 2));
        tally.record(&received("b", 3));
        for seq in 1..=3 {
            published(&mut tally, seq, false, false);
        }
        let summary = tally.summary(context());
        assert_eq!(summary.sent_again, vec![2, 3]);
        assert_eq!(summary.duplicated, vec![2]);
        assert!(summary.redelivered.is_empty());
        let report = summary.render();
        assert!(
            report.contains("sent again by the publisher after its reconnect")
                && report.contains("at least once): 2\n"),
            "{report}"
        );
    }

    #[test]
    fn a_subscriber_process_makes_room_for_numbers_above_count_and_stops_at_count() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(2, &ids).for_role(Source::Process(Role::Subscriber));
        tally.record(&received("a", 7));
        assert!(!tally.all_accounted_for());
        tally.record(&received("a", 3));
        assert!(
            tally.all_accounted_for(),
            "two of this run's messages arrived"
        );
        let summary = tally.summary(context());
        assert_eq!(
            summary.members.get("a").map(|m| m.messages.clone()),
            Some(vec![3, 7])
        );
        // Members alone cannot know what is missing: other processes may hold it.
        assert!(summary.missing.is_empty());
        assert_eq!(summary.verdict, Verdict::Ok);
    }

    #[test]
    fn outages_say_who_was_down_and_for_how_long() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(1, &ids);
        tally.record(&RunEvent::ConnectionLost {
            client_id: "a".into(),
            reason: "the broker closed the connection".into(),
        });
        tally.record(&RunEvent::ConnectionLost {
            client_id: "p".into(),
            reason: "reset".into(),
        });
        tally.record(&RunEvent::Reconnected {
            client_id: "a".into(),
            attempts: 4,
            downtime_ms: 1200,
            session_present: false,
        });
        let summary = tally.summary(context());
        assert_eq!(summary.outages.len(), 2);
        assert_eq!(summary.outages[0].attempts, 4);
        assert!(summary.outages[0].up_at_ms.is_some());
        assert!(summary.outages[1].up_at_ms.is_none());
        let report = summary.render();
        assert!(
            report.contains(
                "a down at 0.0s, back at 0.0s after 4 attempts: the broker closed the connection"
            ),
            "{report}"
        );
        assert!(
            report.contains("p down at 0.0s, never back: reset"),
            "{report}"
        );
    }

    /// The `--json` summary's fields are a contract with CI scripts: exactly these, no more.
    #[test]
    fn json_summary_has_exactly_the_documented_fields() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(1, &ids);
        tally.record(&RunEvent::Published {
            seq: 1,
            unrouted: false,
        });
        tally.record(&received("a", 1));
        let line = output::summary_line(&tally.summary(context())).expect("serializes");
        assert!(line.starts_with(r#"{"event":"summary","#), "{line}");
        let json: serde_json::Value = serde_json::from_str(&line).expect("one JSON object");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "event",
            "group",
            "topic",
            "qos",
            "published",
            "received",
            "unique",
            "missing",
            "duplicated",
            "foreign",
            "members",
            "elapsed_ms",
            "verdict",
            // Added with the hold and the outages; the ones above keep their meaning, except
            // `published`, which now counts messages sent (`acknowledged` is the old meaning).
            "count",
            "acknowledged",
            "retried",
            "redelivered",
            "unacknowledged",
            // Added so that every duplicate after an outage has a named cause.
            "sent_again",
            // Added for runs spread over processes (`--role`, `--merge`).
            "role",
            "run_id",
            "unrouted",
            "reconnects",
            "outages",
            "held_ms",
            "went_on_without",
            // Added for scripts that must tell a partial summary from a finished one.
            "interrupted",
            // The insight no other tool gives: delays, and how evenly the broker spread them.
            "latency_ms",
            "fairness",
        ];
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys_sorted, expected);
        let member: Vec<&String> = json["members"]["a"]
            .as_object()
            .expect("member object")
            .keys()
            .collect();
        assert_eq!(member, ["count", "messages"]);
        assert_eq!(json["verdict"], "ok");
    }
}
