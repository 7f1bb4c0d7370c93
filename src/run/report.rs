//! The proof, in words: the per-member table, the verdict line, and hints that name the likely
//! cause when something is wrong.
//!
//! ```text
//! member                    count   share  messages
//! sample-ab12-subscriber-1      5   50.0%  1 3 5 7 9
//! sample-ab12-subscriber-2      5   50.0%  2 4 6 8 10
//!
//! 10 published · 10 delivered exactly once to group 'rust-sample' (2 members) · 0 missing · 0 duplicated · 61ms
//! ```
//!
//! The same [`Summary`] is the `--json` summary line (`output.rs`); this file is only how it reads.

use std::fmt::Write as _;
use std::time::Duration;

use super::summary::Summary;
use crate::message::compact_list;

impl Summary {
    /// The per-member table, the verdict line, and hints when something is wrong.
    pub fn render(&self) -> String {
        let width = self
            .members
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>6}  messages",
            "member", "count", "share"
        );
        for (id, member) in self.members.iter() {
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
        if self.unpublished() > 0 {
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
