//! Who got which message number: the terminal report's grid (members × numbers), at any size.
//!
//! Message numbers run across, in publish order; a row per member, coloured where it got a
//! number. A shared subscription colours each column exactly once, in one of the members' rows;
//! a column in the "never arrived" row is a message missing, one in "arrived twice" a duplicate.
//! Up to [`CELLS`] messages a column is one number; above, a column covers several numbers, and
//! its strength is the share of them the row got (round-robin over three members shows three
//! rows of a third each; a member that stopped shows a gap).
//!
//! Read from the summary's `members`, `missing` and `duplicated` only, so a `--merge` draws it
//! as well as a run does.

use std::fmt::Write as _;

use super::document::{open_section, shortened};
use super::escape::Esc;
use super::timeline::{WIDTH, X0, X1};
use crate::run::Summary;

/// The most columns: about four units each across the drawing.
const CELLS: u32 = 240;
/// Beyond this many hover targets, none.
const MOST_TITLES: usize = 6_000;
/// The members' colours, in start order (red is kept for what never arrived).
const PALETTE: [&str; 9] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
    "#7f7f7f",
];
const ROW: f64 = 22.0;

/// The section, unless this summary has no members (a `--role publisher` process).
pub fn section(out: &mut String, summary: &Summary) {
    let highest = summary
        .members
        .iter()
        .filter_map(|(_, member)| member.messages.last().copied())
        .max()
        .unwrap_or(0);
    let count = summary.count.max(highest);
    if summary.members.is_empty() || count == 0 {
        return;
    }
    let per = count.div_ceil(CELLS);
    let cells = count.div_ceil(per);
    let lede = match per {
        1 => "Message numbers across, a row per member: a shared subscription colours each column exactly once.".to_owned(),
        per => format!(
            "Message numbers across ({per} to a column), a row per member: a column's strength is the share of its numbers the member got."
        ),
    };
    open_section(out, "numbers", "Who got which message", &lede);
    // Borrowed, not copied: at a million messages the members' lists are 4 MB.
    let mut rows: Vec<(&str, &[u32], &str)> = summary
        .members
        .iter()
        .enumerate()
        .map(|(k, (id, member))| (id, &member.messages[..], PALETTE[k % PALETTE.len()]))
        .collect();
    if !summary.missing.is_empty() {
        rows.push(("never arrived", &summary.missing, "#cf222e"));
    }
    if !summary.duplicated.is_empty() {
        rows.push(("arrived twice", &summary.duplicated, "#c51b8a"));
    }
    let height = 8.0 + rows.len() as f64 * ROW + 24.0;
    let _ = write!(out, "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"who got which message\">");
    let columns = Columns {
        per,
        cells,
        count,
        width: (X1 - X0) / f64::from(cells),
        titled: rows.len() * cells as usize <= MOST_TITLES,
    };
    for (k, named) in rows.iter().enumerate() {
        row(out, *named, 8.0 + k as f64 * ROW, &columns);
    }
    ruler(out, &columns, 8.0 + rows.len() as f64 * ROW);
    out.push_str("</svg></section>");
}

/// How the numbers `1..=count` fall into columns: `per` numbers each, `width` wide.
struct Columns {
    per: u32,
    cells: u32,
    count: u32,
    width: f64,
    /// Whether each column gets a hover title.
    titled: bool,
}

/// One row: its label, a path per strength (five steps), and the hover targets.
fn row(
    out: &mut String,
    (name, numbers, colour): (&str, &[u32], &str),
    top: f64,
    columns: &Columns,
) {
    let Columns {
        per,
        cells,
        count,
        width,
        titled,
    } = *columns;
    let mut got = vec![0u32; cells as usize];
    for &seq in numbers {
        if let Some(cell) = got.get_mut((seq.max(1) - 1) as usize / per as usize) {
            *cell += 1;
        }
    }
    let _ = write!(
        out,
        "<rect class=\"lane\" x=\"{X0}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
         <text x=\"200\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\"><title>{}</title>{}</text>\
         <text x=\"{:.1}\" y=\"{:.1}\" class=\"muted\">{}</text>",
        X1 - X0,
        ROW - 5.0,
        top + 12.0,
        Esc(name),
        Esc(&shortened(name, 30)),
        X1 + 6.0,
        top + 12.0,
        numbers.len()
    );
    let mut paths = vec![String::new(); 5];
    let mut titles = String::new();
    // A gap between single numbers; none between columns of many, which would read as stripes.
    let bar = if per == 1 && width > 3.0 {
        width - 1.0
    } else {
        width
    };
    for (k, &n) in got.iter().enumerate().filter(|(_, n)| **n > 0) {
        let first = k as u32 * per + 1;
        let size = per.min(count - first + 1);
        let strength = ((f64::from(n) / f64::from(size)) * 5.0)
            .ceil()
            .clamp(1.0, 5.0) as usize;
        let x = X0 + k as f64 * width;
        let _ = write!(
            paths[strength - 1],
            "M{x:.1} {top:.1}h{bar:.2}v{:.1}h-{bar:.2}z",
            ROW - 5.0
        );
        if titled {
            let what = match per {
                1 => format!("#{first}: {name}"),
                _ => format!("#{first}–#{}: {n} of {size} to {name}", first + size - 1),
            };
            let _ = write!(titles, "<rect class=\"hit\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.2}\" height=\"{:.1}\"><title>{}</title></rect>", ROW - 5.0, Esc(&what));
        }
    }
    for (k, path) in paths.iter().enumerate().filter(|(_, p)| !p.is_empty()) {
        let _ = write!(
            out,
            "<path fill=\"{colour}\" fill-opacity=\"{:.1}\" d=\"{path}\"/>",
            (k + 1) as f64 / 5.0
        );
    }
    out.push_str(&titles);
}

/// Message numbers under the columns: each one for a short run, round numbers for a long one.
fn ruler(out: &mut String, columns: &Columns, y: f64) {
    let Columns {
        per, count, width, ..
    } = *columns;
    let step = match count {
        0..=30 => 1,
        _ => {
            let rough = f64::from(count) / 10.0;
            let power = 10f64.powf(rough.log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .into_iter()
                .map(|f| f * power)
                .find(|s| *s >= rough);
            step.unwrap_or(rough) as u32
        }
    };
    let at = |seq: u32| X0 + (f64::from(seq - 1) / f64::from(per) + 0.5) * width;
    let marks = std::iter::once(1).chain((step.max(2)..=count).step_by(step.max(1) as usize));
    let mut last = f64::MIN;
    for seq in marks {
        let x = at(seq);
        if x - last < 24.0 {
            continue;
        }
        last = x;
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{seq}</text>",
            y + 12.0
        );
    }
    let _ = write!(
        out,
        "<text x=\"{X1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"muted\">message number →</text>",
        y + 23.0
    );
}
