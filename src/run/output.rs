//! Where a run's words go: log lines on stderr and a table on stdout, or NDJSON on stdout.
//!
//! Logs always go to stderr, so that stdout carries only what a script reads: the report, or with
//! `--json` one JSON object per line (every [`RunEvent`], then the summary). A run in CI can then
//! pipe stdout to `jq` and still show its log.
//!
//! Output must scale with the run. A line per message is the point of a ten-message demo and a
//! flood at a hundred thousand: the terminal, not the broker, becomes the bottleneck. So:
//!
//! * per-message log lines (`received #7`) are on up to [`PER_MESSAGE_LOGS_UP_TO`] messages, off
//!   above (`--per-message-logs on|off` decides instead);
//! * without them, on a terminal, a progress bar on stderr shows received, published, msg/s and
//!   elapsed time; in a pipe or a file there is no bar, only the log lines that matter, and every
//!   `--stats-every` (10 s) one line of how the run goes ([`stats_line`]): a CI log of a long run
//!   shows it is alive, and how well;
//! * `--json` keeps every event. The loop writes the lines into a batch and hands each batch to a
//!   writer task of its own, when the batch is full or the run has nothing else queued (a line per
//!   write call would cost a system call per event). Only [`BATCHES`] batches may wait for the
//!   writer: a reader that takes its time (a pipe into a slow consumer) holds the loop up, and
//!   with it every task that reports to it, down to the broker. The run slows down; it does not
//!   pile up lines in memory.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::event::RunEvent;
use super::summary::Summary;

/// Runs of up to this many messages log a line per message by default.
pub const PER_MESSAGE_LOGS_UP_TO: u32 = 1000;

/// A batch of `--json` lines goes to the writer once it holds this many bytes.
const BATCH: usize = 32 * 1024;
/// How many batches may wait for the writer: with [`BATCH`], at most a few hundred KiB.
const BATCHES: usize = 4;

/// How the run shows what happens (`--json` or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Events as log lines on stderr; the report as a table on stdout, with text histograms of
    /// the split and of the delays when `histograms` (`--histogram`).
    Text { histograms: bool },
    /// Events and the summary as NDJSON on stdout.
    Json,
}

impl Format {
    /// Shows the run's summary: the report, or the last NDJSON line.
    pub fn summary(self, summary: &Summary) {
        let mut stdout = std::io::stdout().lock();
        let written = match self {
            Format::Text { histograms } => {
                let mut report = summary.render();
                if histograms {
                    report.push('\n');
                    report.push_str(&summary.histograms());
                }
                stdout.write_all(report.as_bytes())
            }
            Format::Json => serde_json::to_writer(&mut stdout, &Line::Summary(summary))
                .map_err(std::io::Error::from)
                .and_then(|()| stdout.write_all(b"\n")),
        };
        report_write_error(written.and_then(|()| stdout.flush()));
    }
}

/// The `--json` lines that are not events, tagged like the events: `{"event":"summary", ...}`.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Line<'a> {
    Summary(&'a Summary),
}

/// The summary's `--json` line (without the newline).
#[cfg(test)]
pub fn summary_line(summary: &Summary) -> serde_json::Result<String> {
    serde_json::to_string(&Line::Summary(summary))
}

/// Shows the events of one run as they happen; owned by the run's loop.
pub struct Output {
    format: Format,
    /// Log a line for every message received.
    per_message: bool,
    /// Long runs on a terminal: received of count, msg/s, and published as its message.
    progress: Option<ProgressBar>,
    published: u32,
    /// `--json` lines wait here until [`Output::flush`] hands them to the writer.
    batch: Vec<u8>,
    /// The `--json` writer: its queue and its task.
    writer: Option<(mpsc::Sender<Vec<u8>>, JoinHandle<()>)>,
}

impl Output {
    /// Output for a run of `count` messages (`None`: not known yet, `--duration`).
    /// `per_message`: log each received message.
    pub fn new(format: Format, per_message: bool, count: Option<u32>) -> Output {
        let progress = (!per_message && std::io::stderr().is_terminal()).then(|| {
            let length = count.map(u64::from);
            let bar = ProgressBar::with_draw_target(length, ProgressDrawTarget::stderr());
            // Without a count there is no bar to fill, only the numbers.
            let template = match count {
                Some(_) => "{elapsed:>4} [{bar:30}] {pos}/{len} received · {rate} · {msg}",
                None => "{elapsed:>4} {pos} received · {rate} · {msg}",
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                let style = style.progress_chars("=> ").with_key(
                    "rate",
                    |state: &ProgressState, out: &mut dyn fmt::Write| {
                        let _ = write!(out, "{:.0} msg/s", state.per_sec());
                    },
                );
                bar.set_style(style);
            }
            bar.set_message("published 0");
            bar
        });
        Output {
            format,
            per_message,
            progress,
            published: 0,
            batch: Vec::new(),
            writer: (format == Format::Json).then(writer),
        }
    }

    /// Shows one event as it happens.
    pub fn event(&mut self, event: &RunEvent) {
        self.count(event);
        match self.format {
            Format::Json => {
                // Writing into a Vec fails only for a value JSON cannot hold, which no event is.
                if serde_json::to_writer(&mut self.batch, event).is_ok() {
                    self.batch.push(b'\n');
                }
            }
            Format::Text { .. } if !self.per_message && is_per_message(event) => {}
            Format::Text { .. } => match &self.progress {
                // A log line would tear through the bar: take it off the screen meanwhile.
                Some(bar) => bar.suspend(|| event.log()),
                None => event.log(),
            },
        }
    }

    /// The run's count is decided (`--duration` passed): the bar now knows its length.
    pub fn counted(&mut self, count: u32) {
        if let Some(bar) = &self.progress {
            bar.set_length(u64::from(count));
        }
    }

    /// True when the batch of `--json` lines should go to the writer now.
    pub fn is_full(&self) -> bool {
        self.batch.len() >= BATCH
    }

    /// Hands the `--json` lines waiting in the batch to the writer, waiting while it is behind.
    /// The loop calls it when the batch is full or no event is queued, so a reader sees every
    /// line within moments, and a burst costs one write. Cancelling it loses nothing.
    pub async fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        // Wait for room first, then hand the batch over: cancelled while it waits (Ctrl-C with a
        // reader that stalls), nothing is lost, and the next flush sends it.
        if let Some((lines, _)) = &self.writer {
            if let Ok(room) = lines.reserve().await {
                room.send(std::mem::take(&mut self.batch));
            }
        }
    }

    /// The run is over: the bar goes, the last lines go out, and the writer is done before the
    /// summary line follows them.
    pub async fn finish(&mut self) {
        if let Some(bar) = self.progress.take() {
            bar.finish_and_clear();
        }
        self.flush().await;
        if let Some((lines, task)) = self.writer.take() {
            drop(lines);
            let _ = task.await;
        }
    }

    fn count(&mut self, event: &RunEvent) {
        let Some(bar) = &self.progress else {
            return;
        };
        match event {
            RunEvent::Received(receipt) if receipt.seq.is_some() => bar.inc(1),
            RunEvent::Published { .. } => {
                self.published += 1;
                // A new String per message would cost more than the bar is worth.
                if self.published.is_multiple_of(256)
                    || Some(u64::from(self.published)) == bar.length()
                {
                    bar.set_message(format!("published {}", self.published));
                }
            }
            _ => {}
        }
    }
}

/// The `--json` writer: a task that writes each batch to stdout as it comes. Writing to a pipe
/// blocks while the reader is behind, so it runs where blocking is allowed, apart from the loop.
fn writer() -> (mpsc::Sender<Vec<u8>>, JoinHandle<()>) {
    let (lines, mut batches) = mpsc::channel::<Vec<u8>>(BATCHES);
    let task = tokio::task::spawn_blocking(move || {
        let mut stdout = std::io::stdout().lock();
        let mut gone = false;
        while let Some(batch) = batches.blocking_recv() {
            // Once the reader is gone, the rest is dropped, not left to block the run.
            if !gone {
                let written = stdout.write_all(&batch).and_then(|()| stdout.flush());
                gone = written.is_err();
                report_write_error(written);
            }
        }
    });
    (lines, task)
}

/// How the run goes so far: what the periodic line says.
pub struct SoFar {
    /// Receipts of this run's messages, all groups together.
    pub received: u32,
    /// Messages the broker took for good.
    pub acknowledged: u32,
    /// The group's 99th percentile delay, if anything arrived.
    pub p99_ms: Option<f64>,
    /// Taken by the broker and not received by any member yet: on its way, or lost.
    pub not_received: u32,
}

/// Whether the periodic line is wanted: stderr is not a terminal (a terminal has the progress
/// bar, or a line per message).
pub fn wants_stats_lines() -> bool {
    !std::io::stderr().is_terminal()
}

/// The periodic line on stderr, `elapsed` after publishing began: e.g.
/// `so far (12s): 2400 acknowledged · 2398 received, 199.8 msg/s · p99 3.10ms · 2 missing so far`,
/// where "missing so far" counts what the broker took and no member has yet: on its way, or lost.
/// `receiving`: members in this process; `publishing`: a publisher in it.
pub fn stats_line(elapsed: Duration, so_far: &SoFar, publishing: bool, receiving: bool) -> String {
    let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
    let rate = |n: u32| f64::from(n) / seconds;
    let mut parts = Vec::new();
    if publishing {
        parts.push(format!("{} acknowledged", so_far.acknowledged));
    }
    if receiving {
        parts.push(format!(
            "{} received, {:.1} msg/s",
            so_far.received,
            rate(so_far.received)
        ));
        if let Some(p99) = so_far.p99_ms {
            parts.push(format!("p99 {}", super::report::ms(p99)));
        }
    } else {
        parts.push(format!("{:.1} msg/s", rate(so_far.acknowledged)));
    }
    if publishing && receiving {
        parts.push(format!("{} missing so far", so_far.not_received));
    }
    format!(
        "so far ({}): {}",
        humantime::format_duration(Duration::from_secs(elapsed.as_secs())),
        parts.join(" · ")
    )
}

/// A line per message: what `--per-message-logs off` leaves out.
fn is_per_message(event: &RunEvent) -> bool {
    matches!(event, RunEvent::Received(_) | RunEvent::Published { .. })
}

/// `println!` panics when stdout is closed, and Rust programs ignore SIGPIPE, so
/// `... --json | head -1` would end in a panic. A reader that went away is not our error: drop
/// the output, and let the exit code still tell how the run went.
fn report_write_error(written: std::io::Result<()>) {
    if let Err(error) = written {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write to stdout: {error}");
        }
    }
}
