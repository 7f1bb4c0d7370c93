//! The proof: who got which message, and whether each reached the group exactly once.
//!
//! A shared subscription promises that each message goes to *one* member of the group. Two things
//! can break that promise, and the report looks for both:
//!
//! * **missing**: published (the broker took it) but no member of this run received it. Usual
//!   causes: another client outside this run subscribes to the same group and got its share, or
//!   the broker dropped it (no member connected at that moment, a full queue).
//! * **duplicated**: received more than once across the group, e.g. a QoS 1 re-delivery after a
//!   reconnect, or a broker bug.
//!
//! The [`Tally`] is fed every event as it happens; [`Tally::summary`] freezes it into a
//! [`Summary`], which prints as a table and a verdict line, or as the `--json` summary object.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::event::Event;

/// Running counts, fed one event at a time.
pub struct Tally {
    /// `slots[seq - 1]`: what happened to message `seq`.
    slots: Vec<Slot>,
    /// Members in the order they were started, with the message numbers each received.
    members: Vec<(String, Vec<u32>)>,
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
}

/// What happened to one message. Kept small (12 bytes), as a run holds one per message: a
/// million-message run holds a million.
#[derive(Clone, Copy, Default)]
struct Slot {
    /// How many times the group received it.
    receipts: u32,
    /// Which member got it first: `members[first_member - 1]`; 0 for none yet. Members are at
    /// most 1000 (`cli.rs`), so a u16 holds them.
    first_member: u16,
    /// Sent again after a PUBACK 0x10, this many times (at most `publisher::MAX_RESENDS`).
    resent: u8,
    /// The publisher sent it at least once. We learn it from its PUBACK, from the publisher's
    /// list of unacknowledged messages when it stops, or from a member that received it.
    sent: bool,
    /// The broker took it for good: its final PUBACK at QoS 1, written at QoS 0.
    published: bool,
    /// The final PUBACK said "no matching subscribers": the broker dropped it on arrival, so it
    /// will never arrive and nobody needs to wait for it.
    unrouted: bool,
    /// Sent, and the publisher stopped before any PUBACK came for it.
    unacknowledged: bool,
    /// The same member got it again, flagged DUP: the broker delivered it again after a reconnect
    /// because our PUBACK never reached it (QoS 1 with a kept session).
    redelivered: bool,
}

impl Slot {
    /// Nothing left to wait for: published, and received or reported unrouted.
    fn settled(&self) -> bool {
        self.published && (self.receipts > 0 || self.unrouted)
    }
}

impl Tally {
    /// A tally for messages `1..=count` and the given member client ids.
    pub fn new(count: u32, member_ids: &[String]) -> Tally {
        Tally {
            slots: vec![Slot::default(); count as usize],
            members: member_ids
                .iter()
                .map(|id| (id.clone(), Vec::new()))
                .collect(),
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
        }
    }

    /// Adds one event.
    pub fn record(&mut self, event: &Event) {
        match event {
            Event::Published {
                seq,
                no_matching_subscribers,
            } => {
                self.update(*seq, |slot| {
                    slot.sent = true;
                    slot.published = true;
                    slot.unrouted = *no_matching_subscribers;
                });
            }
            // Not final: it goes out again once the group is complete.
            Event::Resending { seq } => {
                self.update(*seq, |slot| {
                    slot.sent = true;
                    slot.resent = slot.resent.saturating_add(1);
                });
            }
            Event::Unacknowledged { seqs } => {
                for seq in seqs {
                    self.update(*seq, |slot| {
                        slot.sent = true;
                        slot.unacknowledged = true;
                    });
                }
            }
            Event::ConnectionLost { client_id, reason } => self.outages.push(OutageSummary {
                client_id: client_id.clone(),
                down_at_ms: self.now_ms(),
                up_at_ms: None,
                attempts: 0,
                reason: reason.clone(),
            }),
            Event::Reconnected {
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
            Event::Received {
                client_id,
                seq: Some(seq),
                dup,
                ..
            } => {
                let member = self.member_index.get(client_id).copied();
                // Members are numbered from 1 in `first_member`; 0 means nobody yet.
                let number = member.map_or(u16::MAX, |index| {
                    u16::try_from(index + 1).unwrap_or(u16::MAX)
                });
                let counted = self.update(*seq, |slot| {
                    slot.sent = true;
                    slot.receipts += 1;
                    if slot.first_member == 0 {
                        slot.first_member = number;
                    } else if *dup && slot.first_member == number {
                        slot.redelivered = true;
                    }
                });
                if !counted {
                    // Carries our run id but a number we never sent: treat as foreign.
                    self.foreign += 1;
                    return;
                }
                if let Some(member) = member {
                    self.members[member].1.push(*seq);
                }
            }
            Event::Received { seq: None, .. } => self.foreign += 1,
            Event::Connected { .. }
            | Event::Subscribed { .. }
            | Event::Holding { .. }
            | Event::Resumed { .. } => {}
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Applies `change` to message `seq`'s slot and keeps `unsettled` right; false if we never
    /// sent a message with that number.
    fn update(&mut self, seq: u32, change: impl FnOnce(&mut Slot)) -> bool {
        let Some(slot) = (seq as usize)
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
        else {
            return false;
        };
        let was_settled = slot.settled();
        change(slot);
        if !was_settled && slot.settled() {
            self.unsettled -= 1;
        }
        true
    }

    /// True once every message was published and either received at least once or reported
    /// unrouted by the broker: nothing left to wait for.
    pub fn all_accounted_for(&self) -> bool {
        self.unsettled == 0
    }

    /// How many messages are not accounted for yet.
    pub fn outstanding(&self) -> u32 {
        self.unsettled
    }

    /// Freezes the tally into the report.
    pub fn summary(&self, context: SummaryContext) -> Summary {
        let seqs_where = |pred: &dyn Fn(&Slot) -> bool| -> Vec<u32> {
            (1..)
                .zip(&self.slots)
                .filter(|(_, slot)| pred(slot))
                .map(|(seq, _)| seq)
                .collect()
        };
        // Sent and never received; received implies sent, so `unique + missing == published`.
        let missing = seqs_where(&|s| s.sent && s.receipts == 0);
        let duplicated = seqs_where(&|s| s.receipts > 1);
        let unpublished = seqs_where(&|s| !s.sent).len() as u32;
        let verdict = if !missing.is_empty() {
            Verdict::Missing
        } else if !duplicated.is_empty() {
            Verdict::Duplicated
        } else {
            Verdict::Ok
        };
        let members = self
            .members
            .iter()
            .map(|(id, seqs)| {
                let mut messages = seqs.clone();
                messages.sort_unstable();
                (
                    id.clone(),
                    MemberSummary {
                        count: seqs.len() as u32,
                        messages,
                    },
                )
            })
            .collect();
        Summary {
            event: "summary",
            group: context.group,
            topic: context.topic,
            qos: context.qos,
            count: self.slots.len() as u32,
            published: self.slots.iter().filter(|s| s.sent).count() as u32,
            acknowledged: self.slots.iter().filter(|s| s.published).count() as u32,
            received: self.slots.iter().map(|s| s.receipts).sum(),
            unique: self.slots.iter().filter(|s| s.receipts > 0).count() as u32,
            missing,
            duplicated,
            foreign: self.foreign,
            members,
            elapsed_ms: context.elapsed.as_millis() as u64,
            verdict,
            retried: seqs_where(&|s| s.resent > 0),
            redelivered: seqs_where(&|s| s.redelivered),
            unacknowledged: seqs_where(&|s| s.unacknowledged && !s.published),
            outages: self.outages.clone(),
            held_ms: context.held.as_millis() as u64,
            went_on_without: context.went_on_without,
            member_order: self.members.iter().map(|(id, _)| id.clone()).collect(),
            unpublished,
            unrouted: seqs_where(&|s| s.unrouted && s.receipts == 0),
            reconnects: self.reconnects,
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
}

/// One connection that broke, in the summary's `outages`.
#[derive(Debug, Clone, Serialize)]
pub struct OutageSummary {
    pub client_id: String,
    /// When it broke, since the run started.
    pub down_at_ms: u64,
    /// When its new CONNACK came; `null` if it never did.
    pub up_at_ms: Option<u64>,
    /// Reconnect attempts, the successful one included.
    pub attempts: u32,
    /// Why it broke, in words.
    pub reason: String,
}

/// The outcome of a run. Its JSON form is the `--json` summary line, field for field.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Always `"summary"`, so NDJSON readers can pick this line out.
    pub event: &'static str,
    pub group: String,
    pub topic: String,
    pub qos: u8,
    /// Messages the run set out to publish (`--count`).
    pub count: u32,
    /// Messages sent at least once. (Before the publisher held for the group, this counted
    /// messages PUBACKed; now that is `acknowledged`.)
    pub published: u32,
    /// Messages the broker took for good: PUBACKed at QoS 1, written at QoS 0.
    pub acknowledged: u32,
    /// Receipts of this run's messages across the group, duplicates included.
    pub received: u32,
    /// Distinct message numbers received.
    pub unique: u32,
    pub missing: Vec<u32>,
    pub duplicated: Vec<u32>,
    /// Messages on the topic that were not from this run.
    pub foreign: u64,
    pub members: BTreeMap<String, MemberSummary>,
    pub elapsed_ms: u64,
    pub verdict: Verdict,
    /// Messages the broker routed to nobody (PUBACK 0x10, "no matching subscribers") and the
    /// publisher sent again once the group was complete. Delivered ones count as delivered.
    pub retried: Vec<u32>,
    /// Duplicates that were the broker delivering a message again to the same member (DUP flag),
    /// as opposed to one message reaching two members.
    pub redelivered: Vec<u32>,
    /// Sent, but the publisher stopped before the broker acknowledged them (QoS 1).
    pub unacknowledged: Vec<u32>,
    /// Every connection that broke during the run.
    pub outages: Vec<OutageSummary>,
    /// How long the publisher held while a member was away.
    pub held_ms: u64,
    /// Members the run went on without when a hold ran out of --timeout.
    pub went_on_without: Vec<String>,
    /// Members in start order, for the table (JSON objects have no order).
    #[serde(skip)]
    pub member_order: Vec<String>,
    /// Messages the publisher never got to (run stopped early).
    #[serde(skip)]
    pub unpublished: u32,
    /// Messages the broker took while no member was subscribed (PUBACK 0x10) and that never
    /// arrived, in order.
    pub unrouted: Vec<u32>,
    /// Connections that broke and came back during the run.
    pub reconnects: u32,
}

/// What one member received.
#[derive(Debug, Clone, Serialize)]
pub struct MemberSummary {
    pub count: u32,
    pub messages: Vec<u32>,
}

/// The delivery verdict; it decides the exit code (0 for `Ok`, 3 otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    Missing,
    Duplicated,
}

impl Summary {
    /// The per-member table, the verdict line, and hints when something is wrong.
    pub fn render(&self) -> String {
        let width = self
            .member_order
            .iter()
            .map(String::len)
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>6}  messages",
            "member", "count", "share"
        );
        for id in &self.member_order {
            let Some(member) = self.members.get(id) else {
                continue;
            };
            let share = if self.received == 0 {
                0.0
            } else {
                100.0 * f64::from(member.count) / f64::from(self.received)
            };
            let _ = writeln!(
                out,
                "{id:<width$}  {:>6}  {share:>5.1}%  {}",
                member.count,
                compact_list(&member.messages, 12)
            );
        }
        let outages = self.outage_lines();
        if !outages.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "outages:");
            for line in outages {
                let _ = writeln!(out, "  {line}");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", self.verdict_line());
        for hint in self.hints() {
            let _ = writeln!(out, "  {hint}");
        }
        out
    }

    /// One line a human (or grep) can judge the run by.
    pub fn verdict_line(&self) -> String {
        let exactly_once = self.unique - self.duplicated.len() as u32;
        let mut line = format!(
            "{} published · {exactly_once} delivered exactly once to group '{}' ({} members) · {} missing · {} duplicated",
            self.published,
            self.group,
            self.members.len(),
            self.missing.len(),
            self.duplicated.len(),
        );
        if self.foreign > 0 {
            let _ = write!(line, " · {} foreign", self.foreign);
        }
        let _ = write!(
            line,
            " · {}",
            humantime::format_duration(Duration::from_millis(self.elapsed_ms))
        );
        line
    }

    fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if !self.missing.is_empty() {
            hints.push(format!("missing: {}", compact_list(&self.missing, 20)));
            if !self.unrouted.is_empty() {
                hints.push(format!(
                    "the broker answered 'no matching subscribers' (PUBACK 0x10) for {}: no member was subscribed when they arrived",
                    compact_list(&self.unrouted, 10)
                ));
            }
            if !self.unacknowledged.is_empty() {
                hints.push(format!(
                    "sent but never acknowledged by the broker (the run stopped first): {}",
                    compact_list(&self.unacknowledged, 10)
                ));
            }
            if self.reconnects > 0 || !self.outages.is_empty() {
                hints.push(format!(
                    "{} during the run: messages published while members were disconnected are dropped by the broker, \
                     and so are those it had queued for a member whose connection broke",
                    self.reconnects_in_words()
                ));
            } else if self.unacknowledged.is_empty() {
                hints.push(format!(
                    "another subscriber outside this run may share group '{}' and got its share, or the broker dropped them; \
                     try a unique --group_identifier",
                    self.group
                ));
            }
        }
        if !self.duplicated.is_empty() {
            hints.push(format!(
                "duplicated: {}",
                compact_list(&self.duplicated, 20)
            ));
            if !self.redelivered.is_empty() {
                hints.push(format!(
                    "redelivered by the broker to the same member after a reconnect (DUP flag; our PUBACK was lost with the connection): {}",
                    compact_list(&self.redelivered, 10)
                ));
            }
            if self.reconnects > 0 && self.redelivered.len() < self.duplicated.len() {
                hints.push(
                    "after a reconnect the publisher sends again what the broker had not acknowledged; \
                     a message the broker had already routed then arrives twice (QoS 1 is at least once)"
                        .to_owned(),
                );
            }
        }
        if !self.retried.is_empty() {
            hints.push(format!(
                "sent again once the group was complete, because the broker first routed them to nobody (PUBACK 0x10): {}",
                compact_list(&self.retried, 10)
            ));
        }
        if self.held_ms > 0 {
            let held = humantime::format_duration(Duration::from_millis(self.held_ms));
            if self.went_on_without.is_empty() {
                hints.push(format!(
                    "the publisher held for {held} while members were reconnecting"
                ));
            } else {
                hints.push(format!(
                    "the publisher held for {held}, then went on without {} (--timeout)",
                    self.went_on_without.join(", ")
                ));
            }
        }
        if self.reconnects > 0 && self.missing.is_empty() && self.duplicated.is_empty() {
            hints.push(format!(
                "{} during the run, and still every message arrived exactly once",
                self.reconnects_in_words()
            ));
        }
        if self.unpublished > 0 {
            hints.push(format!(
                "{} of {} messages were never sent (the run stopped early)",
                self.unpublished, self.count
            ));
        }
        hints
    }

    /// One line per broken connection: who, when, for how long.
    fn outage_lines(&self) -> Vec<String> {
        self.outages
            .iter()
            .map(|outage| {
                let at = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
                match outage.up_at_ms {
                    Some(up) => format!(
                        "{} down at {}, back at {} after {} attempts: {}",
                        outage.client_id,
                        at(outage.down_at_ms),
                        at(up),
                        outage.attempts,
                        outage.reason
                    ),
                    None => format!(
                        "{} down at {}, never back: {}",
                        outage.client_id,
                        at(outage.down_at_ms),
                        outage.reason
                    ),
                }
            })
            .collect()
    }

    fn reconnects_in_words(&self) -> String {
        match (self.reconnects, self.outages.len()) {
            (1, _) => "1 reconnect".to_owned(),
            (0, 1) => "1 broken connection".to_owned(),
            (0, n) => format!("{n} broken connections"),
            (n, _) => format!("{n} reconnects"),
        }
    }
}

/// `1 2 3 5 7 8 9` → `1-3 5 7-9`, cut after `limit` runs with a count of what was left out.
pub fn compact_list(seqs: &[u32], limit: usize) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &seq in seqs {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => runs.push((seq, seq)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(limit)
        .map(|&(start, end)| match end - start {
            0 => start.to_string(),
            1 => format!("{start} {end}"),
            _ => format!("{start}-{end}"),
        })
        .collect();
    if runs.len() > limit {
        let rest: u32 = runs[limit..].iter().map(|(s, e)| e - s + 1).sum();
        parts.push(format!("… (+{rest} more)"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(client: &str, seq: u32) -> Event {
        Event::Received {
            client_id: client.into(),
            seq: Some(seq),
            topic: "t".into(),
            payload: String::new(),
            dup: false,
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
        }
    }

    #[test]
    fn a_slot_stays_small() {
        // One per message: 12 bytes is 12 MB at a million messages.
        assert_eq!(std::mem::size_of::<Slot>(), 12);
    }

    #[test]
    fn exactly_once_is_ok() {
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut tally = Tally::new(4, &ids);
        for seq in 1..=4 {
            tally.record(&Event::Published {
                seq,
                no_matching_subscribers: false,
            });
            tally.record(&received(if seq % 2 == 0 { "a" } else { "b" }, seq));
        }
        assert!(tally.all_accounted_for());
        let summary = tally.summary(context());
        assert_eq!(summary.verdict, Verdict::Ok);
        assert_eq!(summary.members["a"].messages, vec![2, 4]);
        assert!(summary
            .verdict_line()
            .starts_with("4 published · 4 delivered exactly once to group 'g' (2 members) · 0 missing · 0 duplicated"));
    }

    #[test]
    fn names_missing_and_duplicated_messages() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(3, &ids);
        for seq in 1..=3 {
            tally.record(&Event::Published {
                seq,
                no_matching_subscribers: false,
            });
        }
        tally.record(&received("a", 1));
        tally.record(&received("a", 1));
        tally.record(&received("a", 3));
        tally.record(&Event::Received {
            client_id: "a".into(),
            seq: None,
            topic: "t".into(),
            payload: "x".into(),
            dup: false,
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
        tally.record(&Event::Reconnected {
            client_id: "a".into(),
            attempts: 3,
            downtime_ms: 600,
            session_present: false,
        });
        for seq in 1..=4 {
            tally.record(&Event::Published {
                seq,
                no_matching_subscribers: seq == 3,
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
        assert!(
            !report.contains("another subscriber outside this run"),
            "{report}"
        );
        let json = serde_json::to_value(&summary).expect("json");
        assert_eq!(json["reconnects"], 1);
        assert_eq!(json["unrouted"], serde_json::json!([3]));
    }

    fn published(tally: &mut Tally, seq: u32, no_matching_subscribers: bool, resending: bool) {
        if resending {
            tally.record(&Event::Resending { seq });
            return;
        }
        tally.record(&Event::Published {
            seq,
            no_matching_subscribers,
        });
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
        tally.record(&Event::Unacknowledged { seqs: vec![5, 6] });
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
        if let Event::Received { dup, .. } = &mut again {
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
    fn outages_say_who_was_down_and_for_how_long() {
        let ids = vec!["a".to_string()];
        let mut tally = Tally::new(1, &ids);
        tally.record(&Event::ConnectionLost {
            client_id: "a".into(),
            reason: "the broker closed the connection".into(),
        });
        tally.record(&Event::ConnectionLost {
            client_id: "p".into(),
            reason: "reset".into(),
        });
        tally.record(&Event::Reconnected {
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
        tally.record(&Event::Published {
            seq: 1,
            no_matching_subscribers: false,
        });
        tally.record(&received("a", 1));
        let json = serde_json::to_value(tally.summary(context())).expect("serializes");
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
            "unrouted",
            "reconnects",
            "outages",
            "held_ms",
            "went_on_without",
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

    #[test]
    fn compacts_runs_of_numbers() {
        assert_eq!(compact_list(&[1, 2, 3, 5, 7, 8], 10), "1-3 5 7 8");
        assert_eq!(compact_list(&[1, 3, 5, 7], 2), "1 3 … (+2 more)");
        assert_eq!(compact_list(&[], 2), "");
    }
}
