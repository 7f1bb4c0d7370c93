//! The split: how many messages each member got, and its share of those published, as in the
//! terminal report's table (the same numbers: the summary's `members`), with a bar each, the
//! spread and the broker's pattern under it.
//!
//! Each row carries its numbers as attributes too (`data-member`, `data-count`), so a test (or a
//! script reading the page) finds them without parsing the words.

use std::fmt::Write as _;

use super::document::open_section;
use super::escape::Esc;
use crate::message::compact_list;
use crate::run::Summary;

/// The section, unless this summary has no members (a `--role publisher` process).
pub fn section(out: &mut String, summary: &Summary) {
    if summary.members.is_empty() {
        return;
    }
    open_section(
        out,
        "split",
        "The split",
        "Each member's count and its share of the messages published, as in the terminal report.",
    );
    // Shares of what was *published*, as the report computes them, so that what went elsewhere
    // is a row of its own instead of swelling the members' shares.
    let share = |n: usize| match summary.published {
        0 => 0.0,
        published => 100.0 * n as f64 / f64::from(published),
    };
    out.push_str(
        "<table class=\"split\"><thead><tr><th>member</th><th class=\"n\">count</th>\
         <th class=\"n\">share</th><th style=\"width:30%\"></th><th>messages</th></tr></thead><tbody>",
    );
    let mut rows: Vec<(&str, usize, String, &str)> = summary
        .members
        .iter()
        .map(|(id, member)| {
            (
                id,
                member.count as usize,
                compact_list(&member.messages, 12),
                "",
            )
        })
        .collect();
    if !summary.missing.is_empty() {
        let missing = compact_list(&summary.missing, 12);
        rows.push((
            "not received by this run",
            summary.missing.len(),
            missing,
            "missing",
        ));
    }
    for (id, count, messages, kind) in rows {
        let colour = if kind.is_empty() {
            "#2f81f7"
        } else {
            "#cf222e"
        };
        let _ = write!(
            out,
            "<tr data-member=\"{}\" data-count=\"{count}\"{}><td class=\"id\">{}</td>\
             <td class=\"n count\">{count}</td><td class=\"n\">{:.1}%</td>\
             <td><div class=\"bar\"><i style=\"width:{:.2}%;background:{colour}\"></i></div></td>\
             <td class=\"list\">{}</td></tr>",
            Esc(id),
            if kind.is_empty() {
                ""
            } else {
                " data-kind=\"missing\""
            },
            Esc(id),
            share(count),
            share(count).min(100.0),
            Esc(&messages)
        );
    }
    out.push_str("</tbody></table>");
    // The spread and the pattern judge how a *group* splits; the control subscriber has none.
    if !summary.group.is_empty() {
        let _ = write!(
            out,
            "<p>{}</p>",
            Esc(&summary.fairness_line())
                .to_string()
                .replace('\n', "<br>")
        );
    }
    out.push_str("</section>");
}
