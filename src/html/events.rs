//! What went wrong, or was done again, by name: the summary's lists of numbers (missing,
//! duplicated, sent again and why), every broken connection, the `--churn` steps and what
//! followed each, and the report's hints. The timeline shows *when*; this says *which*.

use std::fmt::Write as _;
use std::time::Duration;

use super::document::open_section;
use super::escape::Esc;
use super::overlays::clock;
use crate::message::compact_list;
use crate::run::Summary;

/// The summary's lists of numbers, each with what it means.
fn lists(summary: &Summary) -> [(&'static str, &[u32], &'static str); 8] {
    [
        (
            "missing",
            &summary.missing,
            "sent, and never received by a member of this run",
        ),
        (
            "duplicated",
            &summary.duplicated,
            "received more than once across the group",
        ),
        (
            "redelivered",
            &summary.redelivered,
            "delivered again to the same member, flagged DUP",
        ),
        (
            "resent_unrouted",
            &summary.resent_unrouted,
            "routed to nobody (PUBACK 0x10), sent again once the group was complete",
        ),
        (
            "resent_unacknowledged",
            &summary.resent_unacknowledged,
            "sent again after the publisher's reconnect: the PUBACK was lost",
        ),
        (
            "resent_lost",
            &summary.resent_lost,
            "routed to a member whose clean session broke, sent again",
        ),
        (
            "unrouted",
            &summary.unrouted,
            "went to nobody (PUBACK 0x10) and never arrived",
        ),
        (
            "unacknowledged",
            &summary.unacknowledged,
            "sent, but the run stopped before the broker acknowledged them",
        ),
    ]
}

/// The section, when there is anything to say.
pub fn section(out: &mut String, summary: &Summary) {
    let lists = lists(summary);
    let hints = summary.hints();
    let listed = lists.iter().any(|(_, seqs, _)| !seqs.is_empty());
    let held = summary.held_ms > 0 || !summary.went_on_without.is_empty();
    if !listed
        && hints.is_empty()
        && summary.outages.is_empty()
        && summary.churn.is_empty()
        && !held
    {
        return;
    }
    open_section(
        out,
        "events",
        "What went wrong, or was done again",
        "By message number, as the summary names them.",
    );
    if listed {
        out.push_str("<table><tbody>");
        for (name, seqs, meaning) in lists.iter().filter(|(_, seqs, _)| !seqs.is_empty()) {
            let _ = write!(
                out,
                "<tr data-list=\"{name}\" data-count=\"{}\"><th>{name}</th><td class=\"n\">{}</td>\
                 <td>{meaning}<br><span class=\"list\">{}</span></td></tr>",
                seqs.len(),
                seqs.len(),
                compact_list(seqs, 40)
            );
        }
        out.push_str("</tbody></table>");
    }
    if held {
        held_line(out, summary);
    }
    outages(out, summary);
    churn(out, summary);
    if !hints.is_empty() {
        out.push_str("<ul class=\"hints\">");
        for hint in &hints {
            let _ = write!(out, "<li>{}</li>", Esc(hint));
        }
        out.push_str("</ul>");
    }
    out.push_str("</section>");
}

/// How long the publisher held for the group, and whom it went on without.
fn held_line(out: &mut String, summary: &Summary) {
    let without = match summary.went_on_without.is_empty() {
        true => String::new(),
        false => format!(
            ", and went on without {} when --timeout ran out",
            Esc(&summary.went_on_without.join(", "))
        ),
    };
    let _ = write!(
        out,
        "<p>The publisher held for the group {} in all{without}.</p>",
        humantime::format_duration(Duration::from_millis(summary.held_ms)),
    );
}

/// Every broken connection: who, when, for how long, why.
fn outages(out: &mut String, summary: &Summary) {
    if summary.outages.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Outages</h3><table><thead><tr><th>client</th><th class=\"n\">lost at</th>\
         <th class=\"n\">back at</th><th class=\"n\">attempts</th><th>why</th></tr></thead><tbody>",
    );
    for outage in &summary.outages {
        let back = outage
            .up_at_ms
            .map_or("never".to_owned(), |up| clock(up as f64));
        let _ = write!(
            out,
            "<tr><td class=\"id\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            Esc(&outage.client_id),
            clock(outage.down_at_ms as f64),
            back,
            outage.attempts,
            Esc(&outage.reason)
        );
    }
    out.push_str("</tbody></table>");
}

/// `--churn`: each step, and what followed it.
fn churn(out: &mut String, summary: &Summary) {
    if summary.churn.is_empty() {
        return;
    }
    out.push_str(
        "<h3>Churn steps</h3><table><thead><tr><th>member</th><th>step</th><th class=\"n\">at</th>\
         <th class=\"n\">received before</th><th class=\"n\">after</th><th>missing since</th>\
         </tr></thead><tbody>",
    );
    for step in &summary.churn {
        let missing = match step.missing_since.is_empty() {
            true => "nothing".to_owned(),
            false => compact_list(&step.missing_since, 20),
        };
        let _ = write!(
            out,
            "<tr><td class=\"id\">{}</td><td>{} after #{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"list\">{}</td></tr>",
            Esc(&step.client_id),
            step.step,
            step.at_seq,
            clock(step.at_ms as f64),
            step.received_before,
            step.received_after,
            missing
        );
    }
    out.push_str("</tbody></table>");
}
