//! The timeline: time across, one lane per client, and what happened in each lane.
//!
//! Each lane is a row of bars, one per time bin of the run's [`Timeline`]: its height is how
//! many messages arrived in that bin (against the busiest bin of any member, so lanes compare),
//! its colours how late they were (the delay bands, fast at the bottom). The publisher's lane
//! shows what the broker took, and what was sent again. Over the bars, `overlays.rs` draws what
//! explains them: outages, holds, `--churn` steps, the slow member, and the time axis.
//!
//! The bars themselves are `bars.rs`: a rectangle per bin, in one SVG path per colour per lane.

use std::fmt::Write as _;

use super::bars;
use super::document::{open_section, shortened};
use super::escape::Esc;
use super::overlays::{self, clock};
use crate::message::compact_list;
use crate::run::{Bin, Lane, LaneOf, Summary, Timeline, BAND_LIMITS_MS};

/// The drawing's width in SVG units; the browser scales it to the page.
pub const WIDTH: f64 = 1160.0;
/// Lane labels end here; the bars run from `X0` to `X1`; the receipt counts follow.
const LABEL_END: f64 = 200.0;
pub const X0: f64 = 210.0;
pub const X1: f64 = 1100.0;
/// Room above the lanes for the holds' labels.
pub const TOP: f64 = 20.0;

/// A row of the drawing: a group's name, or a lane (an index into `Timeline::lanes`).
enum Row {
    Group(String),
    Lane(usize),
}

/// Where everything goes: the time scale, and each row's place.
pub struct Frame<'a> {
    pub timeline: &'a Timeline,
    /// The time span drawn: from the first thing that happened (the time before, members
    /// connecting and subscribing, is left out when it is long) to the end.
    pub start_ms: f64,
    pub end_ms: f64,
    pub lane_height: f64,
    /// `(lane index, top y)` of each lane drawn.
    pub places: Vec<(usize, f64)>,
    rows: Vec<(Row, f64)>,
    pub bottom: f64,
}

impl<'a> Frame<'a> {
    fn new(timeline: &'a Timeline, summary: &Summary) -> Frame<'a> {
        let lanes = timeline.lanes();
        let used = lanes.iter().map(|lane| lane.bins.len()).max().unwrap_or(0);
        let end_ms = [
            timeline.ended_ms().unwrap_or(0) as f64,
            summary.elapsed_ms as f64,
            timeline.origin_ms() + used as f64 * timeline.bin_ms(),
        ]
        .into_iter()
        .fold(1.0, f64::max);
        let start_ms = first_activity(timeline, summary, end_ms);
        let rows = rows(lanes);
        let drawn = rows
            .iter()
            .filter(|row| matches!(row, Row::Lane(_)))
            .count();
        let lane_height = (600.0 / drawn.max(1) as f64).clamp(9.0, 34.0);
        let gap = (lane_height * 0.22).max(2.0);
        let mut y = TOP;
        let mut placed = Vec::new();
        let mut places = Vec::new();
        for row in rows {
            let top = y;
            match &row {
                Row::Group(_) => y += 18.0,
                Row::Lane(index) => {
                    places.push((*index, top));
                    y += lane_height + gap;
                }
            }
            placed.push((row, top));
        }
        Frame {
            timeline,
            start_ms,
            end_ms,
            lane_height,
            places,
            rows: placed,
            bottom: y,
        }
    }

    /// The x of a time since the start.
    pub fn x(&self, ms: f64) -> f64 {
        let at = (ms - self.start_ms) / (self.end_ms - self.start_ms);
        X0 + (X1 - X0) * at.clamp(0.0, 1.0)
    }

    /// The width of a span of `ms`.
    pub fn width(&self, ms: f64) -> f64 {
        (X1 - X0) * ms / (self.end_ms - self.start_ms)
    }

    /// The top y of `client_id`'s lane (a publisher's: the publishers' lane), if it is drawn.
    pub fn lane_top(&self, client_id: &str) -> Option<f64> {
        let lanes = self.timeline.lanes();
        let publisher = self.timeline.is_publisher(client_id);
        self.places
            .iter()
            .find(|(index, _)| match publisher {
                true => lanes[*index].of == LaneOf::Publisher,
                false => lanes[*index].client_id == client_id,
            })
            .map(|(_, top)| *top)
    }
}

/// Where the drawing starts: 0, or a little before the first mark, outage, hold or churn step
/// when the run spent more than a tenth of its time getting ready (connecting, subscribing).
fn first_activity(timeline: &Timeline, summary: &Summary, end_ms: f64) -> f64 {
    let bins = timeline.lanes().iter().filter_map(|lane| {
        let first = lane.bins.iter().position(|bin| *bin != Bin::default())?;
        Some(timeline.origin_ms() + first as f64 * timeline.bin_ms())
    });
    let outages = summary.outages.iter().map(|o| o.down_at_ms as f64);
    let holds = timeline.holds().iter().map(|h| h.from_ms as f64);
    let churn = summary.churn.iter().map(|c| c.at_ms as f64);
    let first = bins
        .chain(outages)
        .chain(holds)
        .chain(churn)
        .fold(end_ms, f64::min);
    let start = first - 0.05 * (end_ms - first);
    if start < 0.1 * end_ms {
        0.0
    } else {
        start
    }
}

/// The rows to draw: the publisher's lane (unless it has nothing: a process of members alone), then the
/// members, with each group's name above its lanes when there are several.
fn rows(lanes: &[Lane]) -> Vec<Row> {
    let members = lanes.iter().filter(|lane| lane.of != LaneOf::Publisher);
    let mut groups: Vec<&LaneOf> = members.map(|lane| &lane.of).collect();
    groups.dedup();
    let named = groups.len() > 1;
    let mut rows = Vec::new();
    let mut last: Option<&LaneOf> = None;
    for (index, lane) in lanes.iter().enumerate() {
        match &lane.of {
            // A process of members alone has no publisher to show.
            LaneOf::Publisher if lane.bins.is_empty() => continue,
            LaneOf::Publisher => {}
            LaneOf::Member { group } if named && last != Some(&lane.of) => {
                let name = match group {
                    Some(group) => format!("group ‘{group}’"),
                    None => "control subscriber".to_owned(),
                };
                rows.push(Row::Group(name));
            }
            LaneOf::Member { .. } => {}
        }
        last = Some(&lane.of);
        rows.push(Row::Lane(index));
    }
    rows
}

/// The timeline section: its key, the drawing, and the numbers that never arrived.
pub fn section(out: &mut String, timeline: &Timeline, summary: &Summary) {
    open_section(
        out,
        "timeline",
        "Timeline",
        &format!(
            "Time across, one lane per client. A bar is what arrived in {} of the run: its \
             height how many, its colours how late (publish to receipt). Hover a bar for its \
             numbers.",
            clock(timeline.bin_ms())
        ),
    );
    key(out, timeline, summary);
    let frame = Frame::new(timeline, summary);
    if frame.start_ms > 0.0 {
        let _ = write!(
            out,
            "<p class=\"note\">The first {} (members connecting and subscribing, nothing \
             published yet) are left out of the drawing.</p>",
            clock(frame.start_ms)
        );
    }
    let height = frame.bottom + 26.0;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-label=\"timeline\">"
    );
    labels(out, &frame);
    overlays::axis(out, &frame);
    overlays::holds(out, &frame);
    bars::draw(out, &frame);
    overlays::outages(out, &frame, summary);
    overlays::churn(out, &frame, summary);
    out.push_str("</svg>");
    if !summary.missing.is_empty() {
        let _ = write!(
            out,
            "<p>Never arrived ({}): <span class=\"list\">{}</span></p>",
            summary.missing.len(),
            compact_list(&summary.missing, 40)
        );
    }
    out.push_str("</section>");
}

/// The key: the delay bands' colours, and the marks this run has.
fn key(out: &mut String, timeline: &Timeline, summary: &Summary) {
    out.push_str("<div class=\"key\">");
    for (band, name) in band_names().iter().enumerate() {
        let _ = write!(out, "<span><i class=\"b{band}\"></i>{name}</span>");
    }
    let bins = || timeline.lanes().iter().flat_map(|lane| lane.bins.iter());
    let has = |mark: fn(&Bin) -> u32| bins().any(|bin| mark(bin) > 0);
    let marks: [(bool, &str, &str); 8] = [
        (has(|b| b.unstamped), "nb", "no time stamp"),
        (has(|b| b.published), "pub", "taken by the broker"),
        (has(|b| b.sent_again), "again", "sent again"),
        (has(|b| b.duplicates), "dup", "▲ duplicate"),
        (has(|b| b.redelivered), "redel", "◆ redelivered (DUP)"),
        (!summary.outages.is_empty(), "outage", "outage"),
        (!timeline.holds().is_empty(), "hold", "publisher held"),
        (timeline.slow_member().is_some(), "slowlane", "slow member"),
    ];
    for (_, class, name) in marks.iter().filter(|(shown, _, _)| *shown) {
        let _ = write!(out, "<span><i class=\"{class}\"></i>{name}</span>");
    }
    out.push_str("</div>");
}

/// `< 1 ms`, `1–5 ms`, …, `≥ 1 s`: the bands' names.
pub fn band_names() -> Vec<String> {
    let limits = BAND_LIMITS_MS.map(clock);
    let mut names = vec![format!("< {}", limits[0])];
    names.extend(limits.windows(2).map(|pair| {
        // `1–5 ms` rather than `1 ms–5 ms`, when both ends have the same unit.
        let (from, to) = (&pair[0], &pair[1]);
        match (from.split_once(' '), to.split_once(' ')) {
            (Some((number, unit)), Some((_, same))) if unit == same => format!("{number}–{to}"),
            _ => format!("{from}–{to}"),
        }
    }));
    names.push(format!("≥ {}", limits[limits.len() - 1]));
    names
}

/// Each lane's background and label, and its receipt count at the right.
fn labels(out: &mut String, frame: &Frame) {
    let lanes = frame.timeline.lanes();
    let slow = frame.timeline.slow_member();
    let size = (frame.lane_height - 3.0).min(12.0);
    for (row, top) in &frame.rows {
        let Row::Group(name) = row else { continue };
        let _ = write!(
            out,
            "<text x=\"4\" y=\"{:.1}\" font-weight=\"700\">{}</text>",
            top + 13.0,
            Esc(name)
        );
    }
    for &(index, top) in &frame.places {
        let lane = &lanes[index];
        let is_slow = slow.is_some_and(|(id, _)| id == lane.client_id);
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{X0}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            if is_slow { "slowlane" } else { "lane" },
            X1 - X0,
            frame.lane_height
        );
        let shown = match lane.of {
            // `<ID>-publisher`, or `<ID>-publisher-1..K` for several (`--publishers`).
            LaneOf::Publisher if lane.client_id.ends_with("-publisher") => "publisher".to_owned(),
            LaneOf::Publisher => "publishers".to_owned(),
            _ => shortened(&lane.client_id, 30),
        };
        let middle = top + frame.lane_height / 2.0 + size / 3.0;
        let _ = write!(
            out,
            "<text x=\"{LABEL_END}\" y=\"{middle:.1}\" text-anchor=\"end\" font-size=\"{size:.0}\" \
             data-lane=\"{}\"><title>{}</title>{}</text>",
            Esc(&lane.client_id),
            Esc(&lane.client_id),
            Esc(&shown)
        );
        if let Some((_, delay)) = slow.filter(|_| is_slow) {
            // Under its id, in the label column: in the lane, the bars would cover it.
            let _ = write!(
                out,
                "<text x=\"{LABEL_END}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"10\" class=\"muted\">\
                 slow: acks each after {}</text>",
                middle + 11.0,
                humantime::format_duration(delay)
            );
        }
        let total: u32 = lane
            .bins
            .iter()
            .map(|bin| bin.received() + bin.published)
            .sum();
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{middle:.1}\" class=\"muted\">{total}</text>",
            X1 + 6.0
        );
    }
}
