//! The proof, as data: who got which message, and whether each reached the group exactly once.
//!
//! A shared subscription promises that each message goes to *one* member of the group. Two things
//! can break that promise, and the summary looks for both:
//!
//! * **missing**: sent, but no member of this run received it. Usual causes: another client
//!   outside this run subscribes to the same group and got its share, or the broker dropped it
//!   (no member connected at that moment, a full queue).
//! * **duplicated**: received more than once across the group, e.g. a QoS 1 re-delivery after a
//!   reconnect (`redelivered`, with or without the DUP flag), or a broker bug.
//!
//! `tally/summing.rs` fills a [`Summary`] in; `report.rs` writes it as a table and a verdict
//! line, and `output.rs` as the `--json` summary line. This file holds only the data.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::churn::ChurnKind;
use super::fairness::Fairness;
use super::latency::LatencySummary;
use super::publishers::PublisherSummary;
use super::Role;

/// Who wrote a summary, its JSON `role`: a process of the run, by the role it played (`all`,
/// `publisher`, `subscriber`), or `--merge` from several processes' summaries (`merged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Process(Role),
    Merge,
}

impl Source {
    /// True when it saw the whole run, the publisher's side and every member's: only then can
    /// it tell what is missing.
    pub fn sees_everything(self) -> bool {
        matches!(self, Source::Process(Role::All) | Source::Merge)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Process(role) => role.fmt(f),
            Source::Merge => f.write_str("merged"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Source, D::Error> {
        let word = String::deserialize(deserializer)?;
        match word.as_str() {
            "merged" => Ok(Source::Merge),
            _ => Role::deserialize(serde::de::value::StrDeserializer::<D::Error>::new(&word))
                .map(Source::Process),
        }
    }
}

/// The summary's schema, its `version`. 2 (this tool's first to say it): added `version`, `sent`,
/// `resent_lost` and the verdict `partial`; `retried` became `resent_unrouted` and `sent_again`
/// `resent_unacknowledged`. A summary without a version is 1. `--merge` reads this version only.
pub const VERSION: u32 = 2;

/// One connection that broke, in the summary's `outages`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The outcome of a run. Its JSON form is the `--json` summary line, field for field (the line's
/// `"event":"summary"` tag is added by `output.rs`), and `--merge` reads it back with the same
/// type: one list of fields. Fields a merge works out again may be left out of what it reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The schema: `VERSION` (2 since issue 19; see the README for what changed).
    pub version: u32,
    /// What the process that wrote it played (`--role`), or `merged` for `--merge`'s summary.
    pub role: Source,
    /// The run's id: `--merge` joins the summaries of one run only.
    pub run_id: String,
    pub group: String,
    pub topic: String,
    pub qos: u8,
    /// Messages the run set out to publish (`--count`).
    pub count: u32,
    /// Messages sent at least once. (Before the publisher held for the group, this counted
    /// messages PUBACKed; now that is `acknowledged`.)
    pub published: u32,
    /// Which numbers were sent, as ranges: what `--merge` replays as published.
    pub sent: Ranges,
    /// Messages the broker took for good: PUBACKed at QoS 1, written at QoS 0.
    #[serde(default)]
    pub acknowledged: u32,
    /// Each publisher (`--publishers`) by client id: its count and rate (`publishers.rs`).
    #[serde(default)]
    pub publishers: ByMember<PublisherSummary>,
    /// Receipts of this run's messages across the group, duplicates included.
    #[serde(default)]
    pub received: u32,
    /// Distinct message numbers received.
    #[serde(default)]
    pub unique: u32,
    #[serde(default)]
    pub missing: Vec<u32>,
    #[serde(default)]
    pub duplicated: Vec<u32>,
    /// Messages on the topic that were not from this run.
    #[serde(default)]
    pub foreign: u64,
    pub members: Members,
    pub elapsed_ms: u64,
    pub verdict: Verdict,
    /// Messages the broker routed to nobody (PUBACK 0x10, "no matching subscribers") and the
    /// publisher sent again once the group was complete. Delivered ones count as delivered.
    #[serde(default)]
    pub resent_unrouted: Vec<u32>,
    /// Messages the publisher sent again after its own reconnect, because the PUBACK was lost with
    /// the old connection. If the broker had routed the first copy, they arrive twice: QoS 1 is at
    /// least once, and the broker cannot tell the copy from a new message.
    #[serde(default)]
    pub resent_unacknowledged: Vec<u32>,
    /// Messages the broker had taken and routed to a member whose connection then broke, with a
    /// clean session that kept nothing: sent again once nothing of them could still arrive.
    #[serde(default)]
    pub resent_lost: Vec<u32>,
    /// Duplicates that were the broker delivering a message again to the same member after its
    /// reconnect, its session kept (flagged DUP, or on a later connection of that session), as
    /// opposed to one message reaching two members, or a duplicate nobody explains.
    #[serde(default)]
    pub redelivered: Vec<u32>,
    /// Those of `redelivered` without the DUP flag, known by their connection: all of them on
    /// AWS IoT Core ("MQTT" page, "AWS IoT differences from MQTT specifications").
    #[serde(default)]
    pub redelivered_without_dup: Vec<u32>,
    /// Sent, but the publisher stopped before the broker acknowledged them (QoS 1).
    #[serde(default)]
    pub unacknowledged: Vec<u32>,
    /// Every connection that broke during the run.
    #[serde(default)]
    pub outages: Vec<OutageSummary>,
    /// How long the publisher held while a member was away.
    #[serde(default)]
    pub held_ms: u64,
    /// Members the run went on without when a hold ran out of --timeout.
    #[serde(default)]
    pub went_on_without: Vec<String>,
    /// Messages the broker took while no member was subscribed (PUBACK 0x10) and that never
    /// arrived, in order.
    #[serde(default)]
    pub unrouted: Vec<u32>,
    /// Connections that broke and came back during the run.
    #[serde(default)]
    pub reconnects: u32,
    /// Ctrl-C or SIGTERM stopped the run: the summary is partial.
    #[serde(default)]
    pub interrupted: bool,
    /// Delays from publish to receipt, for the group and per member; `null` when nothing of
    /// ours arrived.
    #[serde(default)]
    pub latency_ms: Option<LatencySummary>,
    /// How evenly, and in what pattern, the broker spread the messages.
    #[serde(default)]
    pub fairness: Fairness,
    /// With several groups (`--groups g1,g2`) or `--control`: each group's own summary, by
    /// name. The fields above are then the first group's, and `verdict` the worst of all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<ByMember<Summary>>,
    /// `--churn`: each step, when it happened, and what followed it. Absent without `--churn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub churn: Vec<ChurnSummary>,
    /// With `--control`: the plain subscriber's summary (its `group` is empty). It should have
    /// every message exactly once, as any subscriber without `$share` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<Box<Summary>>,
}

impl Summary {
    /// Messages the publisher never got to (the run stopped early).
    pub fn unpublished(&self) -> u32 {
        self.count.saturating_sub(self.published)
    }

    /// One summary of several sets of books: the first group's, the other groups', and the
    /// control subscriber's. The first group's fields stay on top, so a script written for one
    /// group still reads them; `verdict` is the worst of all, as the exit code must be.
    pub fn of_groups(first: Summary, others: Vec<Summary>, control: Option<Summary>) -> Summary {
        let verdict = std::iter::once(&first)
            .chain(&others)
            .chain(&control)
            .map(|summary| summary.verdict)
            .max()
            .unwrap_or(Verdict::Ok);
        let mut top = first.clone();
        top.verdict = verdict;
        top.groups = Some(
            std::iter::once(first)
                .chain(others)
                .map(|summary| (summary.group.clone(), summary))
                .collect(),
        );
        top.control = control.map(Box::new);
        top
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

/// One `--churn` step in the summary: when, who, and what followed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChurnSummary {
    /// When the run told the member, since the run started.
    pub at_ms: u64,
    /// The step's point: the message number whose PUBACK set it off.
    pub at_seq: u32,
    pub client_id: String,
    /// `leave`, `drop` or `join`.
    pub step: ChurnKind,
    /// The member's receipts numbered up to `at_seq`, and after it.
    pub received_before: u32,
    pub received_after: u32,
    /// Messages never received, from the member's last receipt before the step up to the next
    /// step: what was on its way to it, or published while it was gone.
    pub missing_since: Vec<u32>,
}

/// What each member received, in the order the members were started: the report's table lists
/// `subscriber-10` after `subscriber-9`, not after `subscriber-1`. In JSON, an object keyed by
/// client id.
pub type Members = ByMember<MemberSummary>;

/// One `T` per member, in start order; in JSON an object keyed by client id.
#[derive(Debug, Clone, Default)]
pub struct ByMember<T>(pub(super) Vec<(String, T)>);

impl<T> ByMember<T> {
    /// `(client id, value)`, in start order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.0.iter().map(|(id, value)| (id.as_str(), value))
    }

    /// `client_id`'s value, if it is a member.
    pub fn get(&self, client_id: &str) -> Option<&T> {
        self.iter()
            .find(|(id, _)| *id == client_id)
            .map(|(_, value)| value)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T> FromIterator<(String, T)> for ByMember<T> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(values: I) -> ByMember<T> {
        ByMember(values.into_iter().collect())
    }
}

impl<T: Serialize> Serialize for ByMember<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByMember<T> {
    /// From a JSON object, in the order of its keys: the start order it was written in.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ByMember<T>, D::Error> {
        struct InOrder<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for InOrder<T> {
            type Value = ByMember<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object keyed by client id")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    all.push(entry);
                }
                Ok(ByMember(all))
            }
        }
        deserializer.deserialize_map(InOrder(std::marker::PhantomData))
    }
}

/// What one member received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberSummary {
    pub count: u32,
    pub messages: Vec<u32>,
}

/// Message numbers as ranges, `[[1,100],[102,200]]`: a run's numbers in a few bytes, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges(Vec<(u32, u32)>);

impl Ranges {
    /// The ranges of `numbers`, which come in increasing order.
    pub fn of(numbers: impl IntoIterator<Item = u32>) -> Ranges {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for seq in numbers {
            match ranges.last_mut() {
                Some((_, last)) if last.checked_add(1) == Some(seq) => *last = seq,
                _ => ranges.push((seq, seq)),
            }
        }
        Ranges(ranges)
    }

    /// `(first, last)` of each range, as written.
    pub fn bounds(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Every number in the ranges, in order.
    pub fn numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().flat_map(|&(first, last)| first..=last)
    }

    /// How many numbers the ranges hold.
    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .map(|&(first, last)| u64::from(last.saturating_sub(first)) + 1)
            .sum()
    }
}

/// The delivery verdict: with the ending, it decides the exit code (see [`Verdict::failed`]).
/// Ordered from best to worst, so that the worst of several groups is their `max`: a message
/// that never arrived is worse than one that arrived twice, and either is worse than not knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every message reached the group exactly once.
    Ok,
    /// A `--role` process saw nothing wrong, but only its part of the run: the group's verdict
    /// is `--merge`'s, from every process's summary.
    Partial,
    Duplicated,
    Missing,
}

impl Verdict {
    /// Exactly once is broken: some message is missing or arrived twice (exit 3).
    pub fn failed(self) -> bool {
        matches!(self, Verdict::Duplicated | Verdict::Missing)
    }
}

impl fmt::Display for Verdict {
    /// As in the JSON: `ok`, `partial`, `duplicated`, `missing`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Partial => "partial",
            Verdict::Duplicated => "duplicated",
            Verdict::Missing => "missing",
        })
    }
}
