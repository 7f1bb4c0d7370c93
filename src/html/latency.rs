//! The delays, from the publisher queueing a message to a member receiving it: the percentiles
//! per member and for the group, and the group's histogram, the same numbers as the terminal
//! report and `--histogram` (the summary's `latency_ms`, formatted by the report's own `ms`).
//!
//! Beside the table, each member's percentiles on one logarithmic axis: p50 to max as a line,
//! a dot per percentile. A member whose line sits to the right was slower; a long line, uneven.

use std::fmt::Write as _;

use super::document::open_section;
use super::escape::Esc;
use super::overlays::clock;
use super::timeline::WIDTH;
use crate::run::{delay_band, ms, Percentiles, Summary};

/// The section, if any delay was measured.
pub fn section(out: &mut String, summary: &Summary) {
    let Some(latency) = &summary.latency_ms else {
        return;
    };
    open_section(
        out,
        "latency",
        "Delays",
        "From the publisher queueing a message to a member receiving it (under bulk load this \
         includes the publisher's own queue). Percentiles per member, as in the terminal report.",
    );
    let rows: Vec<(&str, &Percentiles)> = std::iter::once(("group", &latency.group))
        .chain(latency.members.iter())
        .collect();
    out.push_str(
        "<table class=\"latency\"><thead><tr><th>latency</th><th class=\"n\">p50</th>\
         <th class=\"n\">p90</th><th class=\"n\">p99</th><th class=\"n\">max</th>\
         <th class=\"n\">count</th></tr></thead><tbody>",
    );
    for (name, p) in &rows {
        let _ = write!(
            out,
            "<tr data-latency=\"{}\"><td class=\"id\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            Esc(name),
            Esc(name),
            ms(p.p50),
            ms(p.p90),
            ms(p.p99),
            ms(p.max),
            p.count
        );
    }
    out.push_str("</tbody></table>");
    ranges(out, &rows);
    histogram(out, summary);
    out.push_str("</section>");
}

/// Each row's p50 to max on a logarithmic axis, a dot per percentile in its delay's colour.
fn ranges(out: &mut String, rows: &[(&str, &Percentiles)]) {
    let lowest = rows.iter().map(|(_, p)| p.p50).fold(f64::MAX, f64::min);
    let highest = rows.iter().map(|(_, p)| p.max).fold(0.0, f64::max);
    let (lo, hi) = (
        (lowest / 1.5).max(0.001),
        (highest * 1.3).max(lowest * 2.0).max(0.002),
    );
    let (left, right, row) = (210.0, WIDTH - 60.0, 20.0);
    let x = |value: f64| {
        let at = (value.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln());
        left + (right - left) * at.clamp(0.0, 1.0)
    };
    let bottom = 6.0 + rows.len() as f64 * row;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {:.0}\" role=\"img\" aria-label=\"percentiles\">",
        bottom + 30.0
    );
    // Grid lines at 1, 2 and 5 times each power of ten in range.
    let mut power = 10f64.powf(lo.log10().floor());
    while power <= hi {
        for tick in [power, 2.0 * power, 5.0 * power]
            .into_iter()
            .filter(|t| *t >= lo && *t <= hi)
        {
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{0:.1}\" y1=\"4\" x2=\"{0:.1}\" y2=\"{bottom:.1}\"/>\
                 <text x=\"{0:.1}\" y=\"{1:.1}\" text-anchor=\"middle\" class=\"muted\">{2}</text>",
                x(tick),
                bottom + 14.0,
                clock(tick)
            );
        }
        power *= 10.0;
    }
    for (k, (name, p)) in rows.iter().enumerate() {
        let y = 6.0 + k as f64 * row + row / 2.0;
        let title = format!(
            "{name}: p50 {} · p90 {} · p99 {} · max {} ({} delays)",
            ms(p.p50),
            ms(p.p90),
            ms(p.p99),
            ms(p.max),
            p.count
        );
        let _ = write!(
            out,
            "<text x=\"200\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"12\">{}</text>\
             <line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#8c959f\" stroke-width=\"3\"><title>{}</title></line>",
            y + 4.0,
            Esc(name),
            x(p.p50),
            x(p.max),
            Esc(&title)
        );
        for (label, value) in [
            ("p50", p.p50),
            ("p90", p.p90),
            ("p99", p.p99),
            ("max", p.max),
        ] {
            let _ = write!(
                out,
                "<circle class=\"b{}\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\"><title>{} {label}: {}</title></circle>",
                delay_band(value),
                x(value),
                Esc(name),
                ms(value)
            );
        }
    }
    let _ = write!(
        out,
        "<text x=\"{right}\" y=\"{:.1}\" text-anchor=\"end\" class=\"muted\">delay (log scale) →</text></svg>",
        bottom + 26.0
    );
}

/// The group's delays in 1-2-5 bands: a bar each, coloured as the timeline colours that delay.
fn histogram(out: &mut String, summary: &Summary) {
    let Some(bands) = summary.latency_ms.as_ref().map(|l| &l.bands) else {
        return;
    };
    if bands.is_empty() {
        return;
    }
    let most = bands.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64;
    let (left, top, height) = (210.0, 18.0, 110.0);
    let slot = ((WIDTH - 60.0 - left) / bands.len() as f64).min(90.0);
    let _ = write!(
        out,
        "<h3>The group's delays</h3><svg viewBox=\"0 0 {WIDTH} {:.0}\" role=\"img\" aria-label=\"delay histogram\">",
        top + height + 40.0
    );
    for (k, band) in bands.iter().enumerate() {
        let h = band.count as f64 / most * height;
        let x = left + k as f64 * slot;
        let colour = delay_band(band.from_ms);
        let name = match band.below_ms {
            Some(below) => format!("{}–{}", clock(band.from_ms), clock(below)),
            None => format!("≥ {}", clock(band.from_ms)),
        };
        let _ = write!(
            out,
            "<rect class=\"b{colour}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\">\
             <title>{name}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{name}</text>",
            x + 3.0,
            top + height - h,
            slot - 6.0,
            band.count,
            x + slot / 2.0,
            top + height - h - 4.0,
            band.count,
            x + slot / 2.0,
            top + height + 16.0,
        );
    }
    out.push_str("</svg>");
}
