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
use super::summary::{ByMember, Summary, Verdict};
use super::Role;
use crate::message::compact_list;

/// The table's row for messages no member of this run received.
const NOT_RECEIVED: &str = "not received by this run";

/// The largest run that gets a grid of members × messages: 50 columns leave room for a 28-char
/// client id in 80.
const GRID_MAX_MESSAGES: usize = 50;

/// `1.234ms`, `12.3ms`, `1.23s`: three significant figures at most.
fn ms(value: f64) -> String {
    match value {
        v if v >= 1000.0 => format!("{:.2}s", v / 1000.0),
        v if v >= 100.0 => format!("{v:.0}ms"),
        v if v >= 10.0 => format!("{v:.1}ms"),
        v => format!("{v:.2}ms"),
    }
}

/// `1        10        20`: message numbers above the grid's columns, at 1 and every tenth.
fn ruler(count: usize) -> String {
    let mut ruler = String::new();
    for seq in (1..=count).filter(|seq| *seq == 1 || seq % 10 == 0) {
        let column = seq - 1;
        if ruler.len() > column {
            continue; // the previous label still covers this column
        }
        ruler.push_str(&" ".repeat(column - ruler.len()));
        ruler.push_str(&seq.to_string());
    }
    ruler
}

impl Summary {
    /// The per-member table, the verdict line, and hints when something is wrong.
    pub fn render(&self) -> String {
        if let Some(groups) = &self.groups {
            return self.render_groups(groups);
        }
        // The publisher's own process has no members: what the broker took is its whole story.
        if self.role == Role::Publisher {
            let mut out = format!("{}\n", self.verdict_line());
            for hint in self.hints() {
                let _ = writeln!(out, "  {hint}");
            }
            return out;
        }
        let width = self
            .members
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
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
        if let Some(latency) = &self.latency_ms {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:<width$}  {:>9}  {:>9}  {:>9}  {:>9}",
                "latency", "p50", "p90", "p99", "max"
            );
            let row = |out: &mut String, name: &str, p: &Percentiles| {
                let _ = writeln!(
                    out,
                    "{name:<width$}  {:>9}  {:>9}  {:>9}  {:>9}",
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p99),
                    ms(p.max)
                );
            };
            row(&mut out, "group", &latency.group);
            for (id, percentiles) in latency.members.iter() {
                row(&mut out, id, percentiles);
            }
        }
        // A spread and a grid show how a *group* splits; the control subscriber has no group.
        if !self.group.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "{}", self.fairness_line());
            if let Some(grid) = self.grid(width) {
                let _ = writeln!(out);
                out.push_str(&grid);
            }
        }
        if !self.churn.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "churn (--churn), on the timeline of acknowledged messages:"
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

    /// Several groups (and the control subscriber): each one's report, then one line per group
    /// that shows the point: every group got its own full copy, split among its own members.
    fn render_groups(&self, groups: &ByMember<Summary>) -> String {
        let mut out = String::new();
        for (name, group) in groups.iter() {
            let _ = writeln!(out, "── group '{name}' ──");
            out.push_str(&group.render());
            let _ = writeln!(out);
        }
        if let Some(control) = &self.control {
            let _ = writeln!(
                out,
                "── control: a plain subscription to '{}' ──",
                control.topic
            );
            out.push_str(&control.render());
            let _ = writeln!(out);
        }
        // The closing lines judge whole copies: only a process that saw the whole run can.
        if !matches!(self.role, Role::All | Role::Merged) {
            return out;
        }
        for (name, group) in groups.iter() {
            let _ = writeln!(
                out,
                "group '{name}': {} of {} messages exactly once, split among its {} members ({})",
                group.unique - group.duplicated.len() as u32,
                group.published,
                group.members.len(),
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

    /// For a small run, who got each message: one row per member, one column per message. A
    /// shared subscription puts exactly one mark in every column; a plain one would fill them
    /// all. `None` when it would not fit in 80 columns.
    fn grid(&self, width: usize) -> Option<String> {
        let count = self.count as usize;
        if count == 0 || count > GRID_MAX_MESSAGES || width + 2 + count > 80 {
            return None;
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "who got which message (a shared subscription: one mark per column):"
        );
        let _ = writeln!(out, "{:<width$}  {}", "", ruler(count));
        for (id, member) in self.members.iter() {
            let marks: String = (1..=self.count)
                .map(
                    |seq| match member.messages.iter().filter(|m| **m == seq).count() {
                        0 => '·',
                        1 => '●',
                        _ => '2',
                    },
                )
                .collect();
            let _ = writeln!(out, "{id:<width$}  {marks}");
        }
        let members = self.members.len() as u32;
        // The contrast that makes the point, in two lines that fit 80 columns.
        let _ = writeln!(
            out,
            "a plain subscription to {} would have given all {} messages to each of the",
            self.topic, self.published
        );
        let _ = writeln!(
            out,
            "{members} members ({} copies); the shared subscription delivered {}",
            self.published * members,
            self.received
        );
        Some(out)
    }

    /// How evenly the broker spread the messages, and the pattern it followed (two lines).
    fn fairness_line(&self) -> String {
        let fairness = &self.fairness;
        let max_min = fairness.max_min.map_or_else(
            || "∞ (a member got nothing)".to_owned(),
            |r| format!("{r:.2}"),
        );
        format!(
            "spread: Jain's index {:.3} (1 = even) · busiest/idlest {max_min}\npattern: {}",
            fairness.jain,
            fairness.pattern.in_words()
        )
    }

    /// `--histogram`: bars for the split over the members and for the group's delays, 40
    /// characters at the longest, so a picture shows what the table says.
    pub fn histograms(&self) -> String {
        const LONGEST: f64 = 40.0;
        let bar = |n: u64, most: u64| {
            let cells = if most == 0 {
                0
            } else {
                (n as f64 / most as f64 * LONGEST).round() as usize
            };
            // A band with any delay at all shows, however thin.
            "█".repeat(if n > 0 { cells.max(1) } else { 0 })
        };
        let mut out = String::new();
        let width = self
            .members
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(6);
        let most = self
            .members
            .iter()
            .map(|(_, m)| u64::from(m.count))
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "split over the members:");
        for (id, member) in self.members.iter() {
            let _ = writeln!(
                out,
                "{id:<width$}  {} {}",
                bar(u64::from(member.count), most),
                member.count
            );
        }
        if let Some(latency) = &self.latency_ms {
            let most = latency.bands.iter().map(|b| b.count).max().unwrap_or(0);
            let _ = writeln!(out, "delays, publish to receipt (the group):");
            for band in &latency.bands {
                let label = match band.below_ms {
                    Some(below) => format!("{}–{}", ms(band.from_ms), ms(below)),
                    None => format!("≥ {}", ms(band.from_ms)),
                };
                let _ = writeln!(out, "{label:>15}  {} {}", bar(band.count, most), band.count);
            }
        }
        out
    }

    /// One line a human (or grep) can judge the run by.
    pub fn verdict_line(&self) -> String {
        match self.role {
            Role::Publisher => {
                return format!(
                    "run {}: {} published · {} acknowledged by the broker · {} went to nobody · {}; \
                     --merge this output with the subscribers' for the group's verdict",
                    self.run_id,
                    self.published,
                    self.acknowledged,
                    self.unrouted.len(),
                    humantime::format_duration(Duration::from_millis(self.elapsed_ms))
                )
            }
            Role::Subscriber => {
                return format!(
                    "run {}: {} messages received by {} members of this process · {} duplicated · {}; \
                     --merge this output with the publisher's and the other processes' for the group's verdict",
                    self.run_id,
                    self.unique,
                    self.members.len(),
                    self.duplicated.len(),
                    humantime::format_duration(Duration::from_millis(self.elapsed_ms))
                )
            }
            Role::All | Role::Merged => {}
        }
        let exactly_once = self.unique - self.duplicated.len() as u32;
        // The control subscriber's books have no group (`run/mod.rs`).
        let to_whom = if self.group.is_empty() {
            "the control subscriber".to_owned()
        } else {
            format!(
                "group '{}' ({} members of this run)",
                self.group,
                self.members.len()
            )
        };
        let mut line = format!(
            "{} published · {exactly_once} delivered exactly once to {to_whom} · {} missing · {} duplicated",
            self.published,
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
            if self.role == Role::Merged {
                hints.push(
                    "a subscriber process whose output is not in this merge may hold them; \
                     --merge every process's --json output of the run"
                        .to_owned(),
                );
            }
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
            } else if self.unique == 0 && self.acknowledged > 0 && self.unrouted.is_empty() {
                // Every subscription was granted and the broker took every message, yet nothing
                // came: a broker that lets a client subscribe but not receive (AWS IoT checks
                // iot:Subscribe and iot:Receive separately; mosquitto's ACL checks `read` only
                // when it delivers).
                hints.push(crate::aws::missing_receive_hint(&self.topic, &self.group));
            } else if self.unacknowledged.is_empty() {
                hints.push(format!(
                    "the group may have members outside this run (another client subscribed to $share/{}/{}) that got their share, \
                     or the broker dropped them; try a unique --group_identifier",
                    self.group, self.topic
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
            let sent_again: Vec<u32> = self
                .duplicated
                .iter()
                .copied()
                .filter(|seq| self.sent_again.binary_search(seq).is_ok())
                .collect();
            if !sent_again.is_empty() {
                hints.push(format!(
                    "sent again by the publisher after its reconnect (the PUBACK was lost with the connection; \
                     the broker had already routed the first copy, and QoS 1 is at least once): {}",
                    compact_list(&sent_again, 10)
                ));
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
        // Members alone never know what was sent: the publisher's process does.
        if self.unpublished() > 0 && self.role != Role::Subscriber {
            hints.push(format!(
                "{} of {} messages were never sent (the run stopped early)",
                self.unpublished(),
                self.count
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

/// A verdict in one word, for the per-group lines.
fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Ok => "ok",
        Verdict::Missing => "MISSING",
        Verdict::Duplicated => "DUPLICATED",
    }
}
