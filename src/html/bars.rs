//! The timeline's bars: a rectangle per time bin and colour, stacked (fast delays at the
//! bottom), as high as the bin's count against the busiest bin of any member.
//!
//! A bin is not an element of its own: every rectangle of one colour in one lane goes into one
//! SVG *path* (`M x y h w v h h -w z`, repeated), so a lane of 240 bins in seven colours is seven
//! nodes for the browser. Hovering shows a bin's numbers through a transparent rectangle with a
//! `<title>`, as long as there are not too many of them.

use std::fmt::Write as _;

use super::escape::Esc;
use super::overlays::clock;
use super::timeline::{band_names, Frame};
use crate::run::{Bin, Lane, LaneOf, Timeline, BANDS};

/// Beyond this many hover targets a page gets slow: a run with more bins than that has none.
const MOST_TITLES: usize = 15_000;

/// The bars of every lane: a path per colour per lane, then the duplicate marks and the hover
/// targets.
pub fn draw(out: &mut String, frame: &Frame) {
    let lanes = frame.timeline.lanes();
    let busiest = |of_publisher: bool, count: fn(&Bin) -> u32| {
        let lanes = lanes
            .iter()
            .filter(|l| (l.of == LaneOf::Publisher) == of_publisher);
        let most = lanes.flat_map(|l| l.bins.iter()).map(count).max();
        most.unwrap_or(0).max(1) as f64
    };
    let most_received = busiest(false, Bin::received);
    let most_published = busiest(true, |bin| bin.published + bin.sent_again);
    let bins: usize = frame.places.iter().map(|(i, _)| lanes[*i].bins.len()).sum();
    let width = frame.width(frame.timeline.bin_ms());
    let bar = width - if width > 4.0 { 1.0 } else { 0.0 };
    for &(index, top) in &frame.places {
        let lane = &lanes[index];
        let bottom = top + frame.lane_height;
        let inner = frame.lane_height - 2.0;
        let mut paths: Vec<(&str, String)> = match lane.of {
            LaneOf::Publisher => ["pub", "again", "unrouted"]
                .map(|c| (c, String::new()))
                .to_vec(),
            _ => (0..BANDS)
                .map(|b| (BAND_CLASSES[b], String::new()))
                .chain([("nb", String::new())])
                .collect(),
        };
        let mut marks = String::new();
        for (k, bin) in lane.bins.iter().enumerate() {
            let x = frame.x(frame.timeline.origin_ms() + k as f64 * frame.timeline.bin_ms());
            let (counts, most) = stack(lane, bin, most_received, most_published);
            let mut y = bottom;
            for ((_, path), count) in paths.iter_mut().zip(counts) {
                let h = f64::from(count) / most * inner;
                if h > 0.0 {
                    y -= h;
                    let _ = write!(path, "M{x:.1} {y:.2}h{bar:.2}v{h:.2}h-{bar:.2}z");
                }
            }
            if bin.duplicates + bin.redelivered > 0 {
                let class = if bin.duplicates > 0 { "dup" } else { "redel" };
                let cx = x + bar / 2.0;
                let _ = write!(
                    marks,
                    "<path class=\"{class}\" d=\"M{:.1} {:.1}h8l-4 6z\"/>",
                    cx - 4.0,
                    top + 1.0
                );
            }
            if bins <= MOST_TITLES && (bin.received() + bin.published + bin.sent_again) > 0 {
                let _ = write!(
                    marks,
                    "<rect class=\"hit\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.2}\" height=\"{:.1}\"><title>{}</title></rect>",
                    frame.lane_height,
                    Esc(&tooltip(lane, k, bin, frame.timeline))
                );
            }
        }
        for (class, path) in paths.iter().filter(|(_, path)| !path.is_empty()) {
            let _ = write!(out, "<path class=\"{class}\" d=\"{path}\"/>");
        }
        out.push_str(&marks);
    }
}

const BAND_CLASSES: [&str; BANDS] = ["b0", "b1", "b2", "b3", "b4", "b5"];

/// A bin's counts in stacking order, and the count a full bar stands for.
fn stack(lane: &Lane, bin: &Bin, most_received: f64, most_published: f64) -> (Vec<u32>, f64) {
    match lane.of {
        LaneOf::Publisher => (
            vec![bin.published - bin.unrouted, bin.sent_again, bin.unrouted],
            most_published,
        ),
        _ => {
            let mut counts = bin.by_band.to_vec();
            counts.push(bin.unstamped);
            (counts, most_received)
        }
    }
}

/// A bin's numbers in words, for its hover title.
fn tooltip(lane: &Lane, k: usize, bin: &Bin, timeline: &Timeline) -> String {
    let (origin, bin_ms) = (timeline.origin_ms(), timeline.bin_ms());
    let when = format!(
        "{}–{}",
        clock(origin + k as f64 * bin_ms),
        clock(origin + (k + 1) as f64 * bin_ms)
    );
    if lane.of == LaneOf::Publisher {
        return format!(
            "{}, {when}: {} taken by the broker, {} sent again, {} to nobody (0x10)",
            lane.client_id, bin.published, bin.sent_again, bin.unrouted
        );
    }
    let mut text = format!("{}, {when}: {} received", lane.client_id, bin.received());
    for (name, count) in band_names().iter().zip(bin.by_band) {
        if count > 0 {
            let _ = write!(text, " · {name}: {count}");
        }
    }
    for (name, count) in [
        ("no time stamp", bin.unstamped),
        ("duplicates", bin.duplicates),
        ("redelivered", bin.redelivered),
    ] {
        if count > 0 {
            let _ = write!(text, " · {name}: {count}");
        }
    }
    text
}
