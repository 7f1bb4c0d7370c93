//! The report's pictures: for a small run, the grid of who got which message; the spread and
//! the broker's pattern; and `--histogram`'s bars.

use std::fmt::Write as _;

use super::report::ms;
use super::summary::Summary;

/// The largest run that gets a grid of members × messages: 50 columns leave room for a 28-char
/// client id in 80.
const GRID_MAX_MESSAGES: usize = 50;

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
    /// For a small run, who got each message: one row per member, one column per message. A
    /// shared subscription puts exactly one mark in every column; a plain one would fill them
    /// all. `None` when it would not fit in 80 columns.
    pub fn grid(&self, width: usize) -> Option<String> {
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
        if members == 1 {
            let _ = writeln!(
                out,
                "a group of 1 member gets what a plain subscription to {} would: all {}",
                self.topic, self.published
            );
            return Some(out);
        }
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
    pub fn fairness_line(&self) -> String {
        let fairness = &self.fairness;
        let max_min = fairness.max_min.map_or_else(
            || "∞ (a member got nothing)".to_owned(),
            |r| format!("{r:.2}"),
        );
        // Several publishers: the numbers do not give the order the broker took them in.
        let pattern = match self.publishers.len() {
            k if k > 1 => format!(
                "not judged: {k} publishers send at once, and the numbers do not give the order \
                 the broker took them in"
            ),
            _ => fairness.pattern.in_words().to_owned(),
        };
        format!(
            "spread: Jain's index {:.3} (1 = even) · busiest/idlest {max_min}\npattern: {pattern}",
            fairness.jain,
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
}
