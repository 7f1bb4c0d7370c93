//! The flags of the output: `--json` or a report (with histograms), a line per message or a
//! progress bar, a page to look at (`--html`), and how much the log says.

use std::path::PathBuf;

use clap::ArgAction;

use crate::run::{Format, PER_MESSAGE_LOGS_UP_TO};

/// What the run prints, and where.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// Events and the summary as JSON lines (NDJSON) on stdout
    #[arg(long)]
    pub json: bool,

    /// Add text histograms to the report: the split over the members, and the delays
    #[arg(long, conflicts_with = "json", hide_short_help = true)]
    pub histogram: bool,

    /// Also write the run as one self-contained HTML page to FILE: the timeline, the split, the
    /// delays, the verdict (a run, --merge or --conformance)
    ///
    /// No network needed to view it (inline SVG and CSS, no script): open it from a CI artifact
    /// or a mail attachment. Written at the end, whatever the ending
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["check", "print_policy"],
        hide_short_help = true
    )]
    pub html: Option<PathBuf>,

    /// A log line per message received: `auto` up to 1000 messages, `on`, or `off` (long runs on
    /// a terminal then show a progress bar)
    #[arg(
        long,
        value_name = "WHEN",
        value_enum,
        default_value_t = PerMessageLogs::Auto,
        hide_short_help = true
    )]
    pub per_message_logs: PerMessageLogs,

    /// More log output (-v debug, -vv trace)
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only warnings and errors in the log
    #[arg(short, long)]
    pub quiet: bool,

    /// Log level: error, warn, info, debug or trace (RUST_LOG works too)
    #[arg(
        long,
        value_name = "LEVEL",
        conflicts_with_all = ["verbose", "quiet"],
        hide_short_help = true
    )]
    pub verbosity: Option<tracing::Level>,
}

/// `--per-message-logs`: a line per message, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerMessageLogs {
    /// On for small runs (up to 1000 messages), off above.
    Auto,
    On,
    Off,
}

impl OutputArgs {
    /// How the run shows what happens: `--json`, or a report (with `--histogram`'s pictures).
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            Format::Text {
                histograms: self.histogram,
            }
        }
    }

    /// Whether a run of about `count` messages (`None`: as many as `--duration` allows) logs a
    /// line for each one received.
    pub(super) fn per_message_logs(&self, count: Option<u32>) -> bool {
        match self.per_message_logs {
            PerMessageLogs::Auto => count.is_some_and(|count| count <= PER_MESSAGE_LOGS_UP_TO),
            PerMessageLogs::On => true,
            PerMessageLogs::Off => false,
        }
    }

    /// The tracing filter the flags ask for; `RUST_LOG` applies when no flag says otherwise.
    pub fn log_filter(&self) -> String {
        let level = match (self.verbosity, self.verbose, self.quiet) {
            (Some(level), _, _) => level.to_string().to_lowercase(),
            (None, 0, true) => "warn".into(),
            (None, 1, _) => "debug".into(),
            (None, v, _) if v >= 2 => "trace".into(),
            _ => match std::env::var("RUST_LOG") {
                Ok(filter) if !filter.is_empty() => return filter,
                _ => "info".into(),
            },
        };
        // Our crate at the chosen level. Libraries (rumqttc, rustls, tokio) log at `warn`, or at
        // `error` when ours is `error`, so their chatter never drowns our lines; `trace` shows
        // everything, libraries included.
        match level.as_str() {
            "trace" => "trace".into(),
            "error" => "error".into(),
            _ => format!(
                "warn,{},{},mqtt5_shared_subscription={level}",
                crate::mqtt::LOG_FILTER,
                crate::demo::LOG_FILTER
            ),
        }
    }
}
