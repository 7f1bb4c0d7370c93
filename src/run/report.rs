//! The proof, in words: the per-member table, the verdict line, and hints that name the likely
//! cause when something is wrong.
//!
//! ```text
//! member                    count   share  messages
//! sample-ab12-subscriber-1      5   50.0%  1 3 5 7 9
//! sample-ab12-subscriber-2      5   50.0%  2 4 6 8 10
//!
//! 10 published · 10 delivered exactly once to group 'rust-sample' (2 members of this run) · 0 missing · 0 duplicated · 61ms
//! ```
//!
//! The same [`Summary`] is the `--json` summary line (`output.rs`); this file is only how it reads.

use std::fmt::Write as _;
use std::time::Duration;

use super::latency::Percentiles;
use super::summary::{ByMember, Source, Summary, Verdict};
use super::Role;
use crate::message::compact_list;

/// What a `--role` process's verdict line says of the group: only a merge can judge it, and only
/// `--json` output merges.
const PARTIAL: &str =
    "partial: the group's verdict is --merge's, from the --json output of this process";

/// The table's row for messages no member of this run received.
const NOT_RECEIVED: &str = "not received by this run";

/// `1 member`, `2 members`: a count with its noun, singular for one.
pub fn counted(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// `1.234ms`, `12.3ms`, `1.23s`: three significant figures at most.
pub fn ms(value: f64) -> String {
    match value {
        v if v >= 1000.0 => format!("{:.2}s", v / 1000.0),
        v if v >= 100.0 => format!("{v:.0}ms"),
        v if v >= 10.0 => format!("{v:.1}ms"),
        v => format!("{v:.2}ms"),
    }
}

impl Summary {
    /// The per-member table, the verdict line, and hints when something is wrong.
    pub fn render(&self) -> String {
        if let Some(groups) = &self.groups {
            return self.render_groups(groups);
        }
        let mut out = String::new();
        self.publisher_table(&mut out);
        out.push_str(&self.render_one());
        out
    }

    /// One group's (or the control subscriber's) report, without the publishers.
    fn render_one(&self) -> String {
        let mut out = String::new();
        // The publisher's own process has no members: what the broker took is its whole story.
        if self.role != Source::Process(Role::Publisher) {
            let width = self.column_width();
            self.member_table(&mut out, width);
            self.latency_table(&mut out, width);
            // A spread and a grid show how a *group* splits; the control subscriber has none.
            if !self.group.is_empty() {
                let _ = writeln!(out, "\n{}", self.fairness_line());
                if let Some(grid) = self.grid(width) {
                    let _ = writeln!(out);
                    out.push_str(&grid);
                }
            }
            self.churn_lines(&mut out);
            let outages = self.outage_lines();
            if !outages.is_empty() {
                let _ = writeln!(out, "\noutages:");
                for line in outages {
                    let _ = writeln!(out, "  {line}");
                }
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "{}", self.verdict_line());
        for hint in self.hints() {
            let _ = writeln!(out, "  {hint}");
        }
        out
    }

    /// With several publishers (`--publishers`), a row each: how many it sent, and how fast.
    /// One publisher's figures are the run's own, in the verdict line.
    fn publisher_table(&self, out: &mut String) {
        if self.publishers.len() < 2 {
            return;
        }
        let longest = self.publishers.iter().map(|(id, _)| id.len()).max();
        let width = longest.unwrap_or(9).max(9);
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>8}",
            "publisher", "count", "msg/s"
        );
        for (id, publisher) in self.publishers.iter() {
            let _ = writeln!(
                out,
                "{id:<width$}  {:>6}  {:>8.1}",
                publisher.count, publisher.per_second
            );
        }
        let _ = writeln!(out);
    }

    /// The width of the first column: the longest client id.
    fn column_width(&self) -> usize {
        let longest = self.members.iter().map(|(id, _)| id.len()).max();
        longest.unwrap_or(6).max(6)
    }

    /// A row per member: how many it got, its share of what was published, which.
    fn member_table(&self, out: &mut String, width: usize) {
        // Shares of what was *published*, so that what went elsewhere shows as a row of its own
        // instead of inflating the members' shares.
        let share = |n: usize| match self.published {
            0 => 0.0,
            published => 100.0 * n as f64 / f64::from(published),
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>6}  messages",
            "member", "count", "share"
        );
        for (id, member) in self.members.iter() {
            let _ = writeln!(
                out,
                "{id:<width$}  {:>6}  {:>5.1}%  {}",
                member.count,
                share(member.count as usize),
                compact_list(&member.messages, 12)
            );
        }
        if !self.missing.is_empty() {
            let width = width.max(NOT_RECEIVED.len());
            let _ = writeln!(
                out,
                "{NOT_RECEIVED:<width$}  {:>6}  {:>5.1}%  {}",
                self.missing.len(),
                share(self.missing.len()),
                compact_list(&self.missing, 12)
            );
        }
    }

    /// Delays from publish to receipt: p50, p90, p99 and max, for the group and each member.
    fn latency_table(&self, out: &mut String, width: usize) {
        let Some(latency) = &self.latency_ms else {
            return;
        };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}",
            "latency", "p50", "p90", "p99", "max"
        );
        let mut row = |name: &str, p: &Percentiles| {
            let (p50, p90, p99, max) = (ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max));
            let _ = writeln!(
                out,
                "{name:<width$}  {p50:>9}  {p90:>9}  {p99:>9}  {max:>9}"
            );
        };
        row("group", &latency.group);
        for (id, percentiles) in latency.members.iter() {
            row(id, percentiles);
        }
    }

    /// `--churn`: each step on the timeline, and what followed it.
    fn churn_lines(&self, out: &mut String) {
        if self.churn.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\nchurn (--churn), on the timeline of acknowledged messages:"
        );
        for step in &self.churn {
            let missing = if step.missing_since.is_empty() {
                "nothing missing since".to_owned()
            } else {
                format!("missing since: {}", compact_list(&step.missing_since, 10))
            };
            let _ = writeln!(
                out,
                "  after #{} ({}): {} {}: received {} before, {} after; {missing}",
                step.at_seq,
                humantime::format_duration(Duration::from_millis(step.at_ms)),
                step.client_id,
                step.step,
                step.received_before,
                step.received_after,
            );
        }
    }

    /// Several groups (and the control subscriber): each one's report, then one line per group
    /// that shows the point: every group got its own full copy, split among its own members.
    fn render_groups(&self, groups: &ByMember<Summary>) -> String {
        let mut out = String::new();
        self.publisher_table(&mut out);
        for (name, group) in groups.iter() {
            let _ = writeln!(out, "── group '{name}' ──");
            out.push_str(&group.render_one());
            let _ = writeln!(out);
        }
        if let Some(control) = &self.control {
            let _ = writeln!(
                out,
                "── control: a plain subscription to '{}' ──",
                control.topic
            );
            out.push_str(&control.render_one());
            let _ = writeln!(out);
        }
        // The closing lines judge whole copies: only a process that saw the whole run can.
        if !self.role.sees_everything() {
            return out;
        }
        for (name, group) in groups.iter() {
            let _ = writeln!(
                out,
                "group '{name}': {} of {} messages exactly once, split among its {} ({})",
                group.unique - group.duplicated.len() as u32,
                group.published,
                counted(group.members.len(), "member", "members"),
                verdict_word(group.verdict)
            );
        }
        if let Some(control) = &self.control {
            let _ = writeln!(
                out,
                "control: {} of {} messages, as a plain subscription gets them all ({})",
                control.unique - control.duplicated.len() as u32,
                control.published,
                verdict_word(control.verdict)
            );
        }
        if self.verdict == Verdict::Ok {
            let _ = writeln!(
                out,
                "every group received its own full copy of the {} messages{}",
                self.published,
                if self.control.is_some() {
                    ", and the control subscriber all of them"
                } else {
                    ""
                }
            );
        }
        out
    }

    /// One line a human (or grep) can judge the run by.
    pub fn verdict_line(&self) -> String {
        match self.role {
            Source::Process(Role::Publisher) => {
                return format!(
                "run {}: {} published · {} acknowledged by the broker · {} went to nobody · {}; \
                     {PARTIAL} and of every subscriber process",
                self.run_id,
                self.published,
                self.acknowledged,
                self.unrouted.len(),
                humantime::format_duration(Duration::from_millis(self.elapsed_ms))
            )
            }
            Source::Process(Role::Subscriber) => {
                return format!(
                    "run {}: {} messages received by {} of this process · {} duplicated · {}; \
                     {PARTIAL}, the publisher's and every other subscriber process's",
                    self.run_id,
                    self.unique,
                    counted(self.members.len(), "member", "members"),
                    self.duplicated.len(),
                    humantime::format_duration(Duration::from_millis(self.elapsed_ms))
                )
            }
            Source::Process(Role::All) | Source::Merge => {}
        }
        let exactly_once = self.unique - self.duplicated.len() as u32;
        // The control subscriber's books have no group (`books.rs`).
        let to_whom = if self.group.is_empty() {
            "the control subscriber".to_owned()
        } else {
            format!(
                "group '{}' ({} of this run)",
                self.group,
                counted(self.members.len(), "member", "members")
            )
        };
        let mut line = format!(
            "{} published · {exactly_once} delivered exactly once to {to_whom} · {} missing · {} duplicated",
            self.published,
            self.missing.len(),
            self.duplicated.len(),
        );
        // A redelivery is still a duplicate (the member got the message twice), but the one
        // duplicate a kept session explains: say so in the line a reader judges the run by.
        if !self.redelivered.is_empty() {
            let _ = write!(line, " ({} redelivered)", self.redelivered.len());
        }
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
}

/// A verdict in one word, for the per-group lines: what breaks exactly once in capitals.
fn verdict_word(verdict: Verdict) -> String {
    match verdict.failed() {
        true => verdict.to_string().to_uppercase(),
        false => verdict.to_string(),
    }
}
