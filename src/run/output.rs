//! Where a run's words go: log lines on stderr and a table on stdout, or NDJSON on stdout.
//!
//! Logs always go to stderr, so that stdout carries only what a script reads: the report, or with
//! `--json` one JSON object per line (every [`RunEvent`], then the summary). A run in CI can then
//! pipe stdout to `jq` and still show its log.

use serde::Serialize;

use super::event::RunEvent;
use super::summary::Summary;

/// How the run shows what happens (`--json` or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Events as log lines on stderr; the report as a table on stdout.
    Text,
    /// Events and the summary as NDJSON on stdout.
    Json,
}

impl Format {
    /// Shows one event as it happens.
    pub fn event(self, event: &RunEvent) {
        match self {
            Format::Text => event.log(),
            Format::Json => print_json_line(event),
        }
    }

    /// Shows the run's summary: the report, or the last NDJSON line.
    pub fn summary(self, summary: &Summary) {
        match self {
            Format::Text => print_stdout(&summary.render()),
            Format::Json => print_json_line(&Line::Summary(summary)),
        }
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

/// Prints `value` as one line of JSON on stdout.
fn print_json_line(value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => print_stdout(&format!("{line}\n")),
        // Our types always serialize; if that ever changes, say so instead of losing the event.
        Err(error) => tracing::error!("cannot serialize an event to JSON: {error}"),
    }
}

/// Writes `text` to stdout as it is.
///
/// `println!` panics when stdout is closed, and Rust programs ignore SIGPIPE, so
/// `... --json | head -1` would end in a panic. A reader that went away is not our error: drop
/// the output, and let the exit code still tell how the run went.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write to stdout: {error}");
        }
    }
}
