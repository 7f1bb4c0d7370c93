//! One verdict from several processes: `--merge` joins the `--json` summaries of a run spread
//! over processes or machines (`--role publisher`, `--role subscriber`).
//!
//! No process alone can tell whether the group received each message exactly once: the
//! publisher knows what went out, each subscriber process only what reached its own members. A
//! message that reached *no* process, or two of them, shows only when every summary is read
//! together. So `--merge` reads each summary back as the [`Summary`] it was written from (one
//! schema, its `version` checked) and replays them into the same [`Tally`] a single-process run
//! uses: the publisher's `sent` says which numbers went out, every subscriber's `members` which
//! member got which number. The verdict, the report and the exit code are then the ones you know
//! from a single run.
//!
//! What is not merged: latency (each process has its own clock and histogram: read it in its
//! own summary) and outages (each process lists its own connections).
//!
//! A merge input is a file from elsewhere. The summaries of different runs must not be mixed
//! (their message numbers mean different messages): each carries its `run_id`, and a merge of
//! two ids is refused. And every number in it is checked against the limits of a run before it
//! drives any work, so that a damaged or hostile file is refused in one line, not obeyed.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::event::{Resend, Via};
use super::slot::resent;
use super::slot::{SENT, UNACKNOWLEDGED};
use super::summary::SummaryContext;
use super::summary::{Source, Summary, VERSION};
use super::tally::Tally;
use super::{Role, MAX_COUNT};
use crate::failure::Failure;

/// A summary and the name of the file it came from, for the errors.
type Input = (String, Summary);

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
            let summary = parse(&name, value)?;
            check_limits(&name, &summary)?;
            summaries.push((name.clone(), summary));
        }
        if summaries.len() == before {
            return Err(Failure::input(format!(
                "--merge: {name} holds no summary line: give it the --json output of a \
                 `--role publisher` or `--role subscriber` run"
            )));
        }
    }
    let publisher = check_together(&summaries)?;
    Ok(replay(publisher, &summaries))
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

/// The summary line as this version's [`Summary`], or why not.
fn parse(name: &str, value: serde_json::Value) -> Result<Summary, Failure> {
    let version = value["version"].as_u64().unwrap_or(1);
    if version != u64::from(VERSION) {
        return Err(Failure::input(format!(
            "--merge: the summary in {name} has version {version}, and this tool reads version \
             {VERSION}: merge outputs of this same tool version"
        )));
    }
    serde_json::from_value(value).map_err(|error| {
        Failure::input(format!(
            "--merge: the summary in {name} is not one this version reads ({error}); \
             merge outputs of this same tool version"
        ))
    })
}

/// Every number a summary carries stays within what a run can have, before it drives any work:
/// a count sizes the books, a range is walked number by number.
fn check_limits(name: &str, summary: &Summary) -> Result<(), Failure> {
    let refuse = |field: &str, what: String| {
        Err(Failure::input(format!(
            "--merge: {name}: `{field}` {what}; a run has at most {MAX_COUNT} messages, \
             numbered from 1 (was the file changed?)"
        )))
    };
    if summary.count == 0 || summary.count > MAX_COUNT {
        return refuse("count", format!("is {}", summary.count));
    }
    // Increasing and apart, as the publisher writes them: then the walk is at most `count` long
    // (overlapping copies of 1..count would make a small file drive billions of steps).
    let mut previous_last = 0;
    for &(first, last) in summary.sent.bounds() {
        if first == 0 || first > last || last > summary.count {
            return refuse(
                "sent",
                format!("holds {first}..{last}, outside 1..{}", summary.count),
            );
        }
        if first <= previous_last {
            return refuse(
                "sent",
                format!("holds {first}..{last}, which overlaps or precedes the range before it"),
            );
        }
        previous_last = last;
    }
    if summary.sent.total() != u64::from(summary.published) {
        return refuse(
            "published",
            format!(
                "is {}, but `sent` holds {}",
                summary.published,
                summary.sent.total()
            ),
        );
    }
    let lists = [
        ("unacknowledged", &summary.unacknowledged),
        ("unrouted", &summary.unrouted),
        ("resent_unrouted", &summary.resent_unrouted),
        ("resent_unacknowledged", &summary.resent_unacknowledged),
        ("resent_lost", &summary.resent_lost),
        ("redelivered", &summary.redelivered),
        ("redelivered_without_dup", &summary.redelivered_without_dup),
    ];
    let members = summary.members.iter();
    let messages = members.map(|(_, member)| ("members", &member.messages));
    for (field, numbers) in lists.into_iter().chain(messages) {
        if let Some(seq) = numbers.iter().find(|seq| **seq == 0 || **seq > MAX_COUNT) {
            return refuse(field, format!("holds #{seq}"));
        }
    }
    Ok(())
}

/// The checks across summaries: one run, one group, one publisher, each member once. Returns
/// the publisher's summary.
fn check_together(summaries: &[Input]) -> Result<&Summary, Failure> {
    let Some((first_name, first)) = summaries.first() else {
        return Err(Failure::input("--merge: no summaries to merge"));
    };
    for (name, summary) in summaries {
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
        if (&summary.group, &summary.topic) != (&first.group, &first.topic) {
            return Err(Failure::input(format!(
                "--merge: {first_name} is group '{}' on '{}' but {name} is group '{}' on '{}'",
                first.group, first.topic, summary.group, summary.topic
            )));
        }
    }
    check_members_once(summaries)?;
    let publishers: Vec<&Summary> = summaries
        .iter()
        .map(|(_, summary)| summary)
        .filter(|summary| summary.role == Source::Process(Role::Publisher))
        .collect();
    match publishers[..] {
        [publisher] => Ok(publisher),
        _ => Err(Failure::input(format!(
            "--merge: run {} needs exactly one publisher's summary (`--role publisher --json`), \
             found {}: without it nobody knows what was sent",
            first.run_id,
            publishers.len()
        ))),
    }
}

/// Two processes with the same client ids take each other's connections.
fn check_members_once(summaries: &[Input]) -> Result<(), Failure> {
    let mut seen = HashSet::new();
    for (name, summary) in summaries {
        for (id, _) in summary.members.iter() {
            if !seen.insert(id) {
                return Err(Failure::input(format!(
                    "--merge: member {id} appears twice ({name} too): two processes with the \
                     same --client_id take each other's connections; give each its own"
                )));
            }
        }
    }
    Ok(())
}

/// What a member's process said of a number that member got more than once.
#[derive(Clone, Copy)]
enum Later {
    /// Nothing: a duplicate as it stands (or the number came once).
    Duplicate,
    /// `redelivered`: the broker's redelivery, flagged DUP.
    Redelivered,
    /// `redelivered_without_dup`: the broker's redelivery, told by its connection.
    RedeliveredWithoutDup,
}

/// The publisher's summary and every member's receipts, replayed into one tally.
fn replay(publisher: &Summary, summaries: &[Input]) -> Summary {
    // The publishers are the publisher process's own figures: nothing to merge.
    replay_receipts(publisher, summaries).with_publishers(publisher.publishers.clone())
}

/// The publisher's summary and every member's receipts, replayed into one tally.
fn replay_receipts(publisher: &Summary, summaries: &[Input]) -> Summary {
    // Members in the order of the inputs; within one process, by client id.
    let mut member_ids: Vec<String> = Vec::new();
    // (number, row, how the member's process saw a later copy of it: see `Later`)
    let mut receipts: Vec<(u32, usize, Later)> = Vec::new();
    for (_, summary) in summaries {
        // Looked up once per receipt: sets, not lists (a merge input need not be sorted).
        let redelivered: HashSet<u32> = summary.redelivered.iter().copied().collect();
        let without_dup: HashSet<u32> = summary.redelivered_without_dup.iter().copied().collect();
        let mut members: Vec<_> = summary.members.iter().collect();
        members.sort_by_key(|(id, _)| (id.len(), *id));
        for (id, member) in members {
            let row = member_ids.len();
            member_ids.push(id.to_owned());
            receipts.extend(member.messages.iter().map(|seq| {
                let later = match (redelivered.contains(seq), without_dup.contains(seq)) {
                    (_, true) => Later::RedeliveredWithoutDup,
                    (true, false) => Later::Redelivered,
                    (false, false) => Later::Duplicate,
                };
                (*seq, row, later)
            }));
        }
    }
    let mut tally = Tally::new(publisher.count, &member_ids).written_by(Source::Merge);
    // What the publisher sent more than once, and why; then what the broker finally took.
    for (seqs, cause) in [
        (&publisher.resent_unrouted, Resend::Unrouted),
        (&publisher.resent_unacknowledged, Resend::Unacknowledged),
        (&publisher.resent_lost, Resend::Lost),
    ] {
        tally.flag(seqs, SENT | resent(cause));
    }
    let unacknowledged: HashSet<u32> = publisher.unacknowledged.iter().copied().collect();
    let unrouted: HashSet<u32> = publisher.unrouted.iter().copied().collect();
    for seq in publisher.sent.numbers() {
        if !unacknowledged.contains(&seq) {
            tally.published(seq, unrouted.contains(&seq));
        }
    }
    tally.flag(&publisher.unacknowledged, SENT | UNACKNOWLEDGED);
    // In publish order, which is close to the order the broker handed them out: the pattern
    // (round robin, random) is judged from it.
    receipts.sort_by_key(|(seq, _, _)| *seq);
    let mut seen: HashSet<(u32, usize)> = HashSet::new();
    for (seq, row, later) in receipts {
        // The same member's second copy is replayed as its process judged it: flagged DUP, or
        // on a later connection of the session (a redelivery without DUP), or as it came.
        let again = !seen.insert((seq, row));
        let how = match later {
            Later::Redelivered if again => (true, Via::FIRST),
            Later::RedeliveredWithoutDup if again => (false, Via::FIRST.reconnected(true)),
            _ => (false, Via::FIRST),
        };
        tally.received_by(row, seq, how, None);
    }
    for (_, summary) in summaries {
        tally.add_foreign(summary.foreign);
    }
    let elapsed_ms = summaries
        .iter()
        .map(|(_, summary)| summary.elapsed_ms)
        .max();
    tally.summary(SummaryContext {
        group: publisher.group.clone(),
        topic: publisher.topic.clone(),
        qos: publisher.qos,
        elapsed: Duration::from_millis(elapsed_ms.unwrap_or(0)),
        held: Duration::from_millis(publisher.held_ms),
        went_on_without: Vec::new(),
        interrupted: summaries.iter().any(|(_, summary)| summary.interrupted),
        run_id: publisher.run_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary as a `--role` process writes it, with `more` fields on top.
    fn summary(role: &str, more: serde_json::Value) -> Summary {
        let mut value = serde_json::json!({
            "version": VERSION, "role": role, "run_id": "r", "group": "g", "topic": "t",
            "qos": 1, "count": 2, "published": 2, "sent": [[1, 2]], "members": {},
            "elapsed_ms": 5, "verdict": "partial",
        });
        for (key, field) in more.as_object().expect("an object") {
            value[key] = field.clone();
        }
        serde_json::from_value(value).expect("a summary")
    }

    /// A member's process judged its second copy of #2 a redelivery, with DUP or without it:
    /// the merge says the same, and keeps which it was.
    #[test]
    fn a_merge_keeps_how_a_process_told_a_redelivery() {
        let publisher = summary("publisher", serde_json::json!({}));
        for without_dup in [false, true] {
            let member = summary(
                "subscriber",
                serde_json::json!({
                    "members": {"a": {"count": 3, "messages": [1, 2, 2]}},
                    "redelivered": [2],
                    "redelivered_without_dup": if without_dup { vec![2] } else { vec![] },
                }),
            );
            let inputs = [
                ("p".to_owned(), publisher.clone()),
                ("s".to_owned(), member),
            ];
            let merged = replay(&publisher, &inputs);
            assert_eq!(merged.duplicated, [2]);
            assert_eq!(merged.redelivered, [2], "without DUP: {without_dup}");
            let expected: &[u32] = if without_dup { &[2] } else { &[] };
            assert_eq!(merged.redelivered_without_dup, expected);
        }
    }
}
