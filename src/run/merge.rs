//! One verdict from several processes: `--merge` joins the `--json` summaries of a run spread
//! over processes or machines (`--role publisher`, `--role subscriber`).
//!
//! No process alone can tell whether the group received each message exactly once: the
//! publisher knows what went out, each subscriber process only what reached its own members. A
//! message that reached *no* process, or two of them, shows only when every summary is read
//! together. So `--merge` replays them into the same [`Tally`] a single-process run uses: the
//! publisher's summary says which numbers were published, every subscriber's `members` which
//! member got which number. The verdict, the report and the exit code are then the ones you
//! know from a single run.
//!
//! What is not merged: latency (each process has its own clock and histogram: read it in its
//! own summary) and outages (each process lists its own connections).
//!
//! The summaries of different runs must not be mixed: their message numbers mean different
//! messages. Each summary carries its `run_id`, and a merge of two ids is refused.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::event::RunEvent;
use super::summary::{Source, Summary};
use super::tally::{SummaryContext, Tally};
use super::{Role, MAX_COUNT};
use crate::failure::Failure;

/// The fields of a `--json` summary line that a merge needs.
#[derive(Deserialize)]
struct ProcessSummary {
    role: Source,
    run_id: String,
    group: String,
    topic: String,
    qos: u8,
    count: u32,
    published: u32,
    #[serde(default)]
    unacknowledged: Vec<u32>,
    #[serde(default)]
    unrouted: Vec<u32>,
    /// In the JSON an object keyed by client id; `messages` repeats a number it got twice.
    members: HashMap<String, MemberMessages>,
    #[serde(default)]
    foreign: u64,
    elapsed_ms: u64,
    #[serde(default)]
    held_ms: u64,
    #[serde(default)]
    interrupted: bool,
    /// The publisher's re-sends after its reconnect, and after PUBACK 0x10: the causes of some
    /// duplicates, replayed so that the merged report names them as a single run would.
    #[serde(default)]
    sent_again: Vec<u32>,
    #[serde(default)]
    retried: Vec<u32>,
    /// A member's DUP redeliveries: the second receipt of each is replayed as one.
    #[serde(default)]
    redelivered: Vec<u32>,
    /// Present with several groups or `--control`, which a merge does not take apart (yet).
    groups: Option<serde_json::Value>,
    control: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct MemberMessages {
    messages: Vec<u32>,
}

/// Reads every summary in `inputs` (files, or `-` for stdin) and merges them into one.
pub fn merge(inputs: &[PathBuf]) -> Result<Summary, Failure> {
    let mut summaries = Vec::new();
    for input in inputs {
        let (name, text) = read(input)?;
        let before = summaries.len();
        for line in text.lines() {
            let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if value["event"] != "summary" {
                continue;
            }
            let summary: ProcessSummary = serde_json::from_value(value).map_err(|error| {
                Failure::input(format!(
                    "--merge: the summary in {name} is not one this version reads ({error}); \
                     merge outputs of this same tool version"
                ))
            })?;
            summaries.push((name.clone(), summary));
        }
        if summaries.len() == before {
            return Err(Failure::input(format!(
                "--merge: {name} holds no summary line: give it the --json output of a \
                 `--role publisher` or `--role subscriber` run"
            )));
        }
    }
    combine(summaries)
}

/// A file's text, or stdin's for `-`; and the name to call it in errors.
fn read(input: &Path) -> Result<(String, String), Failure> {
    if input == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|error| Failure::input(format!("--merge: cannot read stdin: {error}")))?;
        return Ok(("stdin".to_owned(), text));
    }
    let name = input.display().to_string();
    let text = std::fs::read_to_string(input)
        .map_err(|error| Failure::input(format!("--merge: cannot read {name}: {error}")))?;
    Ok((name, text))
}

/// The checks a merge needs, then the replay into one tally.
fn combine(summaries: Vec<(String, ProcessSummary)>) -> Result<Summary, Failure> {
    let Some((first_name, first)) = summaries.first() else {
        return Err(Failure::input("--merge: no summaries to merge"));
    };
    for (name, summary) in &summaries {
        if summary.run_id != first.run_id {
            return Err(Failure::input(format!(
                "--merge: {first_name} is run {} but {name} is run {}: merge the outputs of one run \
                 (the processes of a run share its --run-id)",
                first.run_id, summary.run_id
            )));
        }
        if summary.role.sees_everything() {
            return Err(Failure::input(format!(
                "--merge: {name} is a whole run already (role {}): its own verdict stands; merge \
                 the outputs of `--role publisher` and `--role subscriber` processes",
                summary.role
            )));
        }
        if summary.groups.is_some() || summary.control.is_some() {
            return Err(Failure::input(format!(
                "--merge: {name} comes from a run with several groups or --control; a merge \
                 judges one group: run each group's processes with one --group_identifier"
            )));
        }
        if summary.count > MAX_COUNT {
            return Err(Failure::input(format!(
                "--merge: {name} says count {}, more than a run can have ({MAX_COUNT})",
                summary.count
            )));
        }
        if (&summary.group, &summary.topic) != (&first.group, &first.topic) {
            return Err(Failure::input(format!(
                "--merge: {first_name} is group '{}' on '{}' but {name} is group '{}' on '{}'",
                first.group, first.topic, summary.group, summary.topic
            )));
        }
    }
    let publishers: Vec<&ProcessSummary> = summaries
        .iter()
        .map(|(_, summary)| summary)
        .filter(|summary| summary.role == Source::Process(Role::Publisher))
        .collect();
    let [publisher] = publishers[..] else {
        return Err(Failure::input(format!(
            "--merge: run {} needs exactly one publisher's summary (`--role publisher --json`), \
             found {}: without it nobody knows what was sent",
            first.run_id,
            publishers.len()
        )));
    };

    // Members in the order of the inputs; within one process, by client id.
    let mut member_ids: Vec<String> = Vec::new();
    // (number, member, the member's process redelivered it)
    let mut receipts: Vec<(u32, usize, bool)> = Vec::new();
    for (name, summary) in &summaries {
        let mut ids: Vec<&String> = summary.members.keys().collect();
        ids.sort_by_key(|id| (id.len(), id.as_str()));
        for id in ids {
            if member_ids.contains(id) {
                return Err(Failure::input(format!(
                    "--merge: member {id} appears twice ({name} too): two processes with the \
                     same --client_id take each other's connections; give each its own"
                )));
            }
            let row = member_ids.len();
            member_ids.push(id.clone());
            receipts.extend(
                summary.members[id]
                    .messages
                    .iter()
                    .map(|seq| (*seq, row, summary.redelivered.contains(seq))),
            );
        }
    }

    let mut tally = Tally::new(publisher.count, &member_ids).written_by(Source::Merge);
    // What the publisher sent more than once, before what the broker finally took.
    for seq in &publisher.retried {
        tally.record(&RunEvent::Resending { seq: *seq });
    }
    if !publisher.sent_again.is_empty() {
        tally.record(&RunEvent::SendingAgain {
            seqs: publisher.sent_again.clone(),
        });
    }
    let unacknowledged: HashSet<u32> = publisher.unacknowledged.iter().copied().collect();
    let unrouted: HashSet<u32> = publisher.unrouted.iter().copied().collect();
    for seq in (1..=publisher.published).filter(|seq| !unacknowledged.contains(seq)) {
        tally.record(&RunEvent::Published {
            seq,
            unrouted: unrouted.contains(&seq),
        });
    }
    if !unacknowledged.is_empty() {
        tally.record(&RunEvent::Unacknowledged {
            seqs: publisher.unacknowledged.clone(),
        });
    }
    // In publish order, which is close to the order the broker handed them out: the pattern
    // (round robin, random) is judged from it.
    receipts.sort_by_key(|(seq, _, _)| *seq);
    let mut seen: HashSet<(u32, usize)> = HashSet::new();
    for (seq, row, redelivered) in receipts {
        // The same member's second copy of a number its process saw redelivered (DUP).
        let dup = redelivered && !seen.insert((seq, row));
        tally.received_by(row, seq, dup, None);
    }
    tally.add_foreign(summaries.iter().map(|(_, summary)| summary.foreign).sum());

    Ok(tally.summary(SummaryContext {
        group: first.group.clone(),
        topic: first.topic.clone(),
        qos: publisher.qos,
        elapsed: Duration::from_millis(
            summaries
                .iter()
                .map(|(_, summary)| summary.elapsed_ms)
                .max()
                .unwrap_or(0),
        ),
        held: Duration::from_millis(publisher.held_ms),
        went_on_without: Vec::new(),
        interrupted: summaries.iter().any(|(_, summary)| summary.interrupted),
        run_id: first.run_id.clone(),
    }))
}
