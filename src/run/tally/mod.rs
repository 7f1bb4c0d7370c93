//! The live tally: every event of the run, counted as it happens.
//!
//! The run's loop feeds the [`Tally`] each event as it comes; [`Tally::summary`] freezes it into
//! the [`Summary`] (`summary.rs`) once the run is over. The tally also tells the loop when
//! nothing is left to wait for ([`Tally::all_accounted_for`]), which is how a run ends on its own.

use tokio::time::Instant;

use super::event::{Receipt, RunEvent, Via};
use super::latency::Latencies;
use super::outages::Outages;
use super::slot::{
    resent, Slot, NOT_A_MEMBER, PUBLISHED, REDELIVERED, SENT, UNACKNOWLEDGED, UNROUTED,
};
use super::summary::{ChurnSummary, Source};
use super::{Role, MAX_COUNT};
use crate::message::PerMessage;

mod summing;

/// Running counts, fed one event at a time.
pub struct Tally {
    /// What happened to each message.
    slots: PerMessage<Slot>,
    /// Members' client ids in the order they were started: the rows of the books.
    member_ids: Vec<String>,
    /// How many receipts each member had, duplicates included.
    member_counts: Vec<u32>,
    /// Receipts after a message's first one, with who got them (`Slot::first_member` numbering).
    /// Rare: a duplicate is a broker's slip or a redelivery after a reconnect. The members' lists
    /// of numbers are built from the slots and these at the end, instead of growing a list per
    /// member as messages arrive (up to twice the memory, with a Vec's spare capacity).
    later_receipts: Vec<(u32, u16)>,
    /// Messages a member got again after its reconnect without the DUP flag (AWS IoT Core sets
    /// none; see `slot.rs`): rare, as `later_receipts`.
    redelivered_without_dup: Vec<u32>,
    /// Receipts of our messages, duplicates included.
    received: u32,
    foreign: u64,

    /// Messages not settled yet (see [`Slot::settled`]). A counter, because the run asks after
    /// every event whether it is done, and scanning every slot each time made 100,000-message runs
    /// quadratic.
    unsettled: u32,
    /// Messages the broker took for good (`PUBLISHED`), counted for the same reason.
    published: u32,
    /// Every connection that broke, and when it came back.
    outages: Outages,
    /// When the run started: the clock of the churn steps.
    started: Instant,
    /// Delays from publish to receipt, per member and for the group.
    latencies: Latencies,
    /// Who writes the summary, and so when a message counts as settled.
    source: Source,
    /// `--churn`'s steps as they happened; their effects are worked out in the summary.
    churn: Vec<ChurnSummary>,
    /// `--duration`: the count is not decided yet (see [`Tally::close`]); the books grow.
    open: bool,
}

impl Tally {
    /// A tally for messages `1..=count` and the given member client ids (the rows of the books,
    /// as [`Seat::index`](super::roster::Seat) numbers them).
    pub fn new(count: u32, member_ids: &[String]) -> Tally {
        Tally {
            slots: PerMessage::new(count, Slot::default),
            member_ids: member_ids.to_vec(),
            member_counts: vec![0; member_ids.len()],
            later_receipts: Vec::new(),
            redelivered_without_dup: Vec::new(),
            received: 0,
            foreign: 0,
            unsettled: count,
            published: 0,
            outages: Outages::new(),
            started: Instant::now(),
            latencies: Latencies::new(member_ids.len()),
            source: Source::Process(Role::All),
            churn: Vec::new(),
            open: false,
        }
    }

    /// A tally whose count is decided later (`--duration`): nothing is all accounted for, or
    /// all published, until [`Tally::close`] says how many messages there are.
    pub fn open_ended(self) -> Tally {
        Tally { open: true, ..self }
    }

    /// The run's count is now known: `count` messages, each still to be accounted for.
    pub fn close(&mut self, count: u32) {
        let before = self.slots.len();
        self.slots.grow_to(count, Slot::default);
        self.unsettled += self.slots.len() - before;
        self.open = false;
    }

    /// For the periodic stats line: messages the broker took for good, the group's p99 delay in
    /// ms, and what the broker took and no member has received yet (a scan of every slot).
    pub fn so_far(&self) -> (u32, Option<f64>, u32) {
        let waiting = |s: &Slot| s.is(PUBLISHED) && !s.is(UNROUTED) && !s.received();
        let p99 = self.latencies.group_p99_ms();
        (self.published, p99, self.slots.count_where(waiting))
    }

    /// A tally whose summary someone other than a whole run writes (a `--role` process, or
    /// `--merge`): it decides when a message counts as settled.
    pub fn written_by(mut self, source: Source) -> Tally {
        self.source = source;
        self
    }

    /// Adds one event.
    pub fn record(&mut self, event: &RunEvent) {
        match event {
            RunEvent::Published { seq, unrouted } => self.published(*seq, *unrouted),
            // Not final: it goes out again once the group is complete.
            RunEvent::SendingAgain { seqs, cause } => self.flag(seqs, SENT | resent(*cause)),
            RunEvent::Unacknowledged { seqs } => self.flag(seqs, SENT | UNACKNOWLEDGED),
            RunEvent::Churn {
                member,
                step,
                at_seq,
            } => self.churn.push(ChurnSummary {
                at_ms: self.now_ms(),
                at_seq: *at_seq,
                client_id: member.client_id().to_owned(),
                step: *step,
                received_before: 0,
                received_after: 0,
                missing_since: Vec::new(),
            }),
            RunEvent::ConnectionLost { client, reason } => self.outages.lost(client, reason),
            RunEvent::Reconnected {
                client, attempts, ..
            } => self.outages.back(client, *attempts),
            RunEvent::Received(receipt) => self.receipt(receipt),
            // The run's loop decides what these change; the tally has nothing to count.
            RunEvent::EndOfRun { .. }
            | RunEvent::Connected { .. }
            | RunEvent::Subscribed { .. }
            | RunEvent::Holding { .. }
            | RunEvent::Resumed { .. } => {}
        }
    }

    /// The broker took `seq` (its PUBACK, or written at QoS 0); `unrouted`: to nobody (0x10).
    pub fn published(&mut self, seq: u32, unrouted: bool) {
        let mut newly = false;
        self.update(seq, |slot| {
            newly = !slot.is(PUBLISHED);
            slot.set(SENT | PUBLISHED, true);
            slot.set(UNROUTED, unrouted);
        });
        if newly {
            self.published += 1;
        }
    }

    /// Sets `flag` on each of `seqs`.
    pub fn flag(&mut self, seqs: &[u32], flag: u8) {
        for seq in seqs {
            self.update(*seq, |slot| slot.set(flag, true));
        }
    }

    fn receipt(&mut self, receipt: &Receipt) {
        match receipt.seq {
            Some(seq) => self.received_by(
                receipt.member.seat().index,
                seq,
                (receipt.dup, receipt.via),
                receipt.latency_ms,
            ),
            None => self.foreign += 1,
        }
    }

    /// Row `member` of the books received `seq`; `how`: whether the broker flagged it DUP, and
    /// which of the member's connections it came on.
    ///
    /// A later copy at the member that got the first one is the broker's redelivery if it says
    /// so (DUP), or if it came on a later connection of the same kept session (`Slot::came_again`):
    /// AWS IoT Core sends messages again without DUP. Any other later copy is a duplicate: at the
    /// same member on the same connection, nobody explains it; at another member, the message
    /// reached two members.
    pub fn received_by(
        &mut self,
        member: usize,
        seq: u32,
        (dup, via): (bool, Via),
        latency_ms: Option<f64>,
    ) {
        let member = (member < self.member_counts.len()).then_some(member);
        // Members are numbered from 1 in `first_member`; 0 means nobody yet.
        let number = member.map_or(NOT_A_MEMBER, |index| {
            u16::try_from(index + 1).unwrap_or(NOT_A_MEMBER)
        });
        let (mut later, mut without_dup) = (false, false);
        let counted = self.update(seq, |slot| {
            slot.set(SENT, true);
            slot.add_receipt(via);
            if slot.first_member == 0 {
                slot.first_member = number;
                return;
            }
            later = true;
            if slot.first_member == number && number != NOT_A_MEMBER {
                without_dup = !dup && slot.came_again(via);
                if dup || without_dup {
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
                self.later_receipts.push((seq, number));
            }
        }
        if without_dup {
            self.redelivered_without_dup.push(seq);
        }
        if let Some(latency_ms) = latency_ms {
            self.latencies
                .record(member, (latency_ms * 1000.0).round() as u64);
        }
    }

    /// `count` messages not from this run.
    pub fn add_foreign(&mut self, count: u64) {
        self.foreign = self.foreign.saturating_add(count);
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Applies `change` to message `seq`'s slot and keeps the counters right; false if we never
    /// sent a message with that number.
    fn update(&mut self, seq: u32, change: impl FnOnce(&mut Slot)) -> bool {
        // Members in a process of their own do not know how many the publisher sends: a number
        // above --count makes room rather than being lost. (The run still stops once --count
        // messages have arrived: `unsettled` counts down from --count.)
        if (self.source == Source::Process(Role::Subscriber) || self.open)
            && seq > self.slots.len()
            && seq <= MAX_COUNT
        {
            // With --duration, every number sent is one more to account for.
            self.unsettled += if self.open { seq - self.slots.len() } else { 0 };
            self.slots.grow_to(seq, Slot::default);
        }
        let source = self.source;
        let Some(slot) = self.slots.get_mut(seq) else {
            return false;
        };
        let was_settled = slot.settled(source);
        change(slot);
        if !was_settled && slot.settled(source) {
            self.unsettled = self.unsettled.saturating_sub(1);
        }
        true
    }

    /// True once every message was published and either received at least once or reported
    /// unrouted by the broker: nothing left to wait for.
    pub fn all_accounted_for(&self) -> bool {
        !self.open && self.unsettled == 0
    }

    /// True once the broker took every message for good: nothing is left to publish.
    pub fn all_published(&self) -> bool {
        !self.open && self.published >= self.slots.len()
    }

    /// Receipts of this run's messages so far, duplicates included.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// How many messages are not accounted for yet.
    pub fn outstanding(&self) -> u32 {
        self.unsettled
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::run::event::Resend;
    use crate::run::output;
    use crate::run::roster::{Client, MemberRef, Roster};
    use crate::run::summary::{SummaryContext, Verdict};

    /// Members `a` and `b`, seated in that order in the books of group 0.
    fn member(client: &str) -> MemberRef {
        let mut roster = Roster::new();
        let a = roster.seat("a", "t", 0);
        let b = roster.seat("b", "t", 0);
        match client {
            "a" => a,
            "b" => b,
            _ => roster.seat(client, "t", 0),
        }
    }

    fn receipt(client: &str, seq: Option<u32>) -> Receipt {
        Receipt {
            member: member(client),
            seq,
            payload: String::new(),
            dup: false,
            via: Via::FIRST,
            latency_ms: seq.map(|_| 1.5),
        }
    }

    fn received(client: &str, seq: u32) -> RunEvent {
        RunEvent::Received(receipt(client, Some(seq)))
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
        tally.record(&RunEvent::Received(receipt("a", None)));
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

    /// AWS IoT Core may route to a new subscription only a moment after its SUBACK: when what
    /// is missing is the run's start, the report says so; a gap later on is something else.
    #[test]
    fn missing_first_messages_point_at_a_subscription_not_yet_routing() {
        for (gone, said) in [([1, 2], true), ([2, 3], false)] {
            let ids = vec!["a".to_string()];
            let mut tally = Tally::new(4, &ids);
            for seq in 1..=4 {
                published(&mut tally, seq, false, false);
                if !gone.contains(&seq) {
                    tally.record(&received("a", seq));
                }
            }
            let report = tally.summary(context()).render();
            assert_eq!(
                report
                    .contains("they are the run's first messages, before any member received one"),
                said,
                "{report}"
            );
        }
    }

    #[test]
    fn reconnects_explain_what_went_missing() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(4, &ids);
        tally.record(&RunEvent::Reconnected {
            client: Client::Member(member("a")),
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
            let (seqs, cause) = (vec![seq], Resend::Unrouted);
            tally.record(&RunEvent::SendingAgain { seqs, cause });
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
        assert_eq!(summary.resent_unrouted, vec![2]);
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
        let mut again = receipt("a", Some(1));
        again.dup = true;
        tally.record(&RunEvent::Received(again));
        tally.record(&received("b", 2));
        let summary = tally.summary(context());
        assert_eq!(summary.duplicated, vec![1, 2]);
        assert_eq!(summary.redelivered, vec![1]);
        assert!(summary.redelivered_without_dup.is_empty());
        assert_eq!(summary.verdict, Verdict::Duplicated);
        let report = summary.render();
        assert!(report.contains(", flagged DUP: 1\n"), "{report}");
    }

    /// A receipt by `client` of `seq`, which came `via`, without DUP: as AWS IoT Core sends.
    fn came_via(client: &str, seq: u32, via: Via) -> RunEvent {
        let mut receipt = receipt(client, Some(seq));
        receipt.via = via;
        RunEvent::Received(receipt)
    }

    /// AWS IoT Core sets no DUP flag: a copy that came again on a later connection of a kept
    /// session is still the broker's redelivery, and the report says how it was told.
    #[test]
    fn a_redelivery_without_dup_is_known_by_its_connection() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(4, &ids);
        for seq in 1..=4 {
            published(&mut tally, seq, false, false);
        }
        let kept = Via::FIRST.reconnected(true);
        let anew = kept.reconnected(false);
        tally.record(&received("a", 1));
        tally.record(&came_via("a", 1, kept)); // after a's reconnect, session kept
        tally.record(&received("a", 2));
        tally.record(&received("a", 2)); // same connection: nobody explains it
        tally.record(&received("a", 3));
        tally.record(&came_via("a", 3, anew)); // across a new session: no broker keeps that
        tally.record(&received("a", 4));
        tally.record(&came_via("b", 4, kept)); // another member
        let summary = tally.summary(context());
        assert_eq!(summary.duplicated, vec![1, 2, 3, 4]);
        assert_eq!(summary.redelivered, vec![1]);
        assert_eq!(summary.redelivered_without_dup, vec![1]);
        assert_eq!(summary.verdict, Verdict::Duplicated);
        let report = summary.render();
        assert!(report.contains("4 duplicated (1 redelivered)"), "{report}");
        assert!(
            report.contains("after its reconnect, its session kept")
                && report.contains("which came without the DUP flag (AWS IoT Core sets none)")
                && report.contains("a later connection of the same kept session: 1\n"),
            "{report}"
        );
        assert!(
            report.contains("reached two members of the group, which a shared subscription must not do (MQTT 5 §4.8.2): 4\n"),
            "{report}"
        );
        assert!(
            report.contains("received twice by the same member with no reconnect of a kept session in between, and not flagged DUP: nothing explains it (a broker's slip): 2 3\n"),
            "{report}"
        );
    }

    #[test]
    fn a_duplicate_the_publisher_sent_again_is_named_in_the_report() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(3, &ids);
        // #2's PUBACK was lost with the publisher's connection: sent again, routed twice.
        tally.record(&received("a", 1));
        tally.record(&received("b", 2));
        let (seqs, cause) = (vec![2, 3], Resend::Unacknowledged);
        tally.record(&RunEvent::SendingAgain { seqs, cause });
        tally.record(&received("a", 2));
        tally.record(&received("b", 3));
        for seq in 1..=3 {
            published(&mut tally, seq, false, false);
        }
        let summary = tally.summary(context());
        assert_eq!(summary.resent_unacknowledged, vec![2, 3]);
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
        let mut tally = Tally::new(2, &ids).written_by(Source::Process(Role::Subscriber));
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
        // Members alone cannot know what is missing: other processes may hold it. Their
        // verdict says so instead of claiming exactly once (issue 19).
        assert!(summary.missing.is_empty());
        assert_eq!(summary.verdict, Verdict::Partial);
    }

    #[test]
    fn outages_say_who_was_down_and_for_how_long() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(1, &ids);
        tally.record(&RunEvent::ConnectionLost {
            client: Client::Member(member("a")),
            reason: "the broker closed the connection".into(),
        });
        tally.record(&RunEvent::ConnectionLost {
            client: Client::Publisher("p".into()),
            reason: "reset".into(),
        });
        tally.record(&RunEvent::Reconnected {
            client: Client::Member(member("a")),
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
            "redelivered",
            "unacknowledged",
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
            // Version 2: the schema's version, what was sent, and one name per cause of a
            // re-send (`retried` and `sent_again` before).
            "version",
            "sent",
            "resent_unrouted",
            "resent_unacknowledged",
            "resent_lost",
            // Redeliveries told without the DUP flag, which AWS IoT Core does not set.
            "redelivered_without_dup",
            // --publishers: each publisher's count and rate.
            "publishers",
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
