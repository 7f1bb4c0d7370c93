//! What explains the timeline's bars, drawn over them: the time axis, the holds (the publisher
//! waiting for the group), each connection's outage on its own lane, and the `--churn` steps.
//!
//! The outages and the churn steps come from the summary (`outages`, `churn`), with the times
//! the terminal report prints; the holds from the timeline, the one thing the summary keeps only
//! as a total (`held_ms`).

use std::fmt::Write as _;

use super::escape::Esc;
use super::timeline::{Frame, TOP, X0, X1};
use crate::run::Summary;

/// A time since the start, as the axis and the titles show it: `0`, `750 µs`, `12 ms`, `1.5 s`,
/// `2 min 5 s`.
pub fn clock(ms: f64) -> String {
    match ms {
        ms if ms <= 0.0 => "0".to_owned(),
        ms if ms < 1.0 => format!("{:.0} µs", ms * 1000.0),
        ms if ms < 1000.0 => format!("{} ms", trimmed(ms)),
        ms if ms < 60_000.0 => format!("{} s", trimmed(ms / 1000.0)),
        ms => {
            let seconds = (ms / 1000.0).round() as u64;
            format!("{} min {} s", seconds / 60, seconds % 60)
        }
    }
}

/// A tick's time, as precise as the step between ticks needs: 2 ms apart a second in, `1.012 s`
/// (where [`clock`] would round two ticks to the same `1.01 s`).
fn tick(ms: f64, step: f64) -> String {
    if ms < 1000.0 || step >= 100.0 {
        return clock(ms);
    }
    let decimals = (-(step / 1000.0).log10()).ceil().max(0.0) as usize;
    match ms < 60_000.0 {
        true => format!("{:.*} s", decimals, ms / 1000.0),
        false => clock(ms),
    }
}

/// Up to three significant figures, without trailing zeros: `1.5`, `12`, `250`.
fn trimmed(value: f64) -> String {
    let text = match value {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    };
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_owned(),
        false => text,
    }
}

/// A round step (1, 2 or 5 times a power of ten, in ms) that cuts `span_ms` into at most `most`.
fn step(span_ms: f64, most: f64) -> f64 {
    let rough = span_ms / most;
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|factor| factor * power)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * power)
}

/// Grid lines and their times along the bottom.
pub fn axis(out: &mut String, frame: &Frame) {
    let step = step(frame.end_ms - frame.start_ms, 9.0);
    let (top, bottom) = (TOP - 4.0, frame.bottom);
    let mut at = (frame.start_ms / step).ceil() * step;
    while at <= frame.end_ms + step * 1e-9 {
        let x = frame.x(at);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"muted\">{}</text>",
            bottom + 14.0,
            tick(at, step)
        );
        at += step;
    }
    let _ = write!(
        out,
        "<text x=\"{X1}\" y=\"{:.1}\" text-anchor=\"end\" class=\"muted\">time since the start →</text>",
        bottom + 25.0
    );
}

/// Each hold, shaded across every lane, with who the publisher waited for.
pub fn holds(out: &mut String, frame: &Frame) {
    let (top, bottom) = (TOP - 2.0, frame.bottom - 4.0);
    for hold in frame.timeline.holds() {
        let until = hold.until_ms.map_or(frame.end_ms, |until| until as f64);
        let (x, end) = (frame.x(hold.from_ms as f64), frame.x(until));
        let width = (end - x).max(2.0);
        let waiting = hold.waiting_for.join(", ");
        let mut title = format!(
            "the publisher held from {} to {}, waiting for {waiting}",
            clock(hold.from_ms as f64),
            clock(until)
        );
        if !hold.without.is_empty() {
            let _ = write!(
                title,
                "; went on without {} (--timeout)",
                hold.without.join(", ")
            );
        }
        let label = fitted(&format!("hold · waiting for {waiting}"), width);
        let _ = write!(
            out,
            "<rect class=\"hold\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
             <title>{}</title></rect><text x=\"{:.1}\" y=\"{:.1}\" class=\"tag\" font-size=\"10\">{}</text>",
            bottom - top,
            Esc(&title),
            x + 2.0,
            TOP - 6.0,
            Esc(&label)
        );
    }
}

/// As much of `text` as fits in `width` units at the labels' size (about 5.6 units a character).
fn fitted(text: &str, width: f64) -> String {
    let room = (width / 5.6) as usize;
    match text.chars().count() {
        n if n <= room => text.to_owned(),
        _ if room < 6 => String::new(),
        _ => format!("{}…", text.chars().take(room - 1).collect::<String>()),
    }
}

/// Each broken connection, on its client's lane, from the break to the new CONNACK (or the end).
pub fn outages(out: &mut String, frame: &Frame, summary: &Summary) {
    for outage in &summary.outages {
        let Some(top) = frame.lane_top(&outage.client_id) else {
            continue;
        };
        let up = outage.up_at_ms.map_or(frame.end_ms, |up| up as f64);
        let x = frame.x(outage.down_at_ms as f64);
        let width = (frame.x(up) - x).max(2.0);
        let back = match outage.up_at_ms {
            Some(up) => format!(
                "back at {} after {} attempts",
                clock(up as f64),
                outage.attempts
            ),
            None => "never back".to_owned(),
        };
        let title = format!(
            "{}: connection lost at {} ({}); {back}",
            outage.client_id,
            clock(outage.down_at_ms as f64),
            outage.reason
        );
        let _ = write!(
            out,
            "<rect class=\"outage\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\">\
             <title>{}</title></rect>",
            frame.lane_height,
            Esc(&title)
        );
        if frame.lane_height >= 14.0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" class=\"tag\" font-size=\"10\">{}</text>",
                x + 3.0,
                top + frame.lane_height - 3.0,
                Esc(&fitted("outage", width))
            );
        }
    }
}

/// Each `--churn` step, a dashed line on its member's lane with what it was.
pub fn churn(out: &mut String, frame: &Frame, summary: &Summary) {
    for step in &summary.churn {
        let Some(top) = frame.lane_top(&step.client_id) else {
            continue;
        };
        let x = frame.x(step.at_ms as f64);
        let label = format!("{} after #{}", step.step, step.at_seq);
        let title = format!(
            "--churn: {} {} at {}, once #{} was acknowledged; received {} before, {} after",
            step.client_id,
            step.step,
            clock(step.at_ms as f64),
            step.at_seq,
            step.received_before,
            step.received_after
        );
        let _ = write!(
            out,
            "<line class=\"churn\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"><title>{}</title></line>\
             <text x=\"{:.1}\" y=\"{:.1}\" class=\"tag\" font-size=\"10\" font-weight=\"600\">{}</text>",
            top - 3.0,
            top + frame.lane_height + 3.0,
            Esc(&title),
            (x + 3.0).clamp(X0, X1 - 70.0),
            top + 10.0,
            Esc(&label)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_people_say_them() {
        let said = [0.0, 0.25, 1.0, 12.5, 250.0, 1500.0, 60_000.0, 125_000.0].map(clock);
        assert_eq!(
            said,
            [
                "0",
                "250 µs",
                "1 ms",
                "12.5 ms",
                "250 ms",
                "1.5 s",
                "1 min 0 s",
                "2 min 5 s"
            ]
        );
    }

    #[test]
    fn steps_are_round_and_few() {
        assert_eq!(step(23.0, 9.0), 5.0);
        assert_eq!(step(3_400.0, 9.0), 500.0);
        assert_eq!(step(10.0, 9.0), 2.0);
        assert_eq!(fitted("hold · waiting for a, b", 60.0), "hold · wa…");
        assert_eq!(
            [1010.0, 1012.0].map(|ms| tick(ms, 2.0)),
            ["1.010 s", "1.012 s"]
        );
        assert_eq!(tick(1500.0, 500.0), "1.5 s");
    }
}
