//! `--html FILE`: the run as one page a person would rather look at than read.
//!
//! The terminal report answers *what*: who got which message, how late, what is missing. The
//! questions people bring to a shared subscription are often about *when*: when did member 2 stop
//! receiving, what happened during the outage, how did the split change when a member joined. A
//! page can show that at a glance:
//!
//! ```text
//!  ┌ verdict in words · exit code · the command line ─────────────────────────────┐
//!  │ timeline   time →   publisher ▮▮▮▮▮▮   ░ hold ░    ▮▮▮▮▮▮                    │  timeline.rs
//!  │                     member 1  ▮▮▮▮▮▮   ▨ outage ▨  ▮▮▮▮▮▮  (colour = delay)  │
//!  │ who got which number  1 ……………………………………………… count                           │  numbers.rs
//!  │ the split (counts, shares) · the delays (percentiles, histogram)            │  split.rs, latency.rs
//!  │ what went wrong or was sent again: missing, duplicates, outages, holds       │  events.rs
//!  └──────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! What makes it work where it is needed, and keeps it honest:
//!
//! * **One file, no network.** The page is opened from a CI artifact or a mail attachment, often
//!   where nothing can be fetched. So the CSS and the pictures (SVG) are inline, and there is no
//!   script at all: a tooltip is an SVG `<title>`, which every browser shows on hover.
//! * **One source.** Every number the terminal report prints (counts, shares, percentiles, the
//!   verdict line) is read from the same [`Summary`], never counted again. Only *when* comes from
//!   elsewhere: the run's [`Timeline`](crate::run::Timeline), recorded with `--html`.
//! * **It scales.** A node per message would make a 100,000-message page of tens of megabytes
//!   that no browser draws smoothly. The timeline is drawn from time bins (at most a few hundred
//!   per lane, whatever the run's length), the number strip from bins of numbers, and each colour
//!   of a lane is one SVG path.
//! * **Everything user-supplied is escaped** (`escape.rs`): client ids, group and topic names,
//!   the broker's reason strings, the command line. A topic named `<script>` stays text.
//!
//! [`Page`] collects what a mode has to show ([`Page::show_run`], [`Page::show_merge`],
//! [`Page::show_conformance`]) and `main.rs` writes it once, at the very end, with the exit code
//! and the error, if any: every ending gets its page.

use std::path::{Path, PathBuf};

use crate::conformance::Findings;
use crate::exit::Exit;
use crate::failure::Failure;
use crate::run::{Summary, Timeline};

mod bars;
mod conformance;
mod document;
mod escape;
mod events;
mod latency;
mod numbers;
mod overlays;
mod split;
mod timeline;

use document::{Judged, Shown};

/// The `--html` page of this invocation, or nothing without the flag: every method is then a
/// no-op, so `main.rs` reads the same either way.
pub struct Page {
    file: Option<PathBuf>,
    command_line: String,
    shown: Option<Shown>,
}

impl Page {
    /// The page for `--html FILE`. The file is created now, so that a path that cannot be written
    /// ends the invocation with exit 2 before any network, not after a long run.
    pub fn for_flag(file: Option<&Path>) -> Result<Page, Failure> {
        if let Some(file) = file {
            std::fs::File::create(file).map_err(|error| {
                Failure::input(format!(
                    "--html: cannot write {}: {error}; give a file in a directory you can write to",
                    file.display()
                ))
            })?;
        }
        Ok(Page {
            file: file.map(Path::to_owned),
            command_line: escape::command_line(std::env::args_os()),
            shown: None,
        })
    }

    /// A run's page: its timeline (with `--html` a run records one), then the summary's split,
    /// delays and events.
    pub fn show_run(&mut self, summary: &Summary, timeline: Option<&Timeline>) {
        if self.file.is_none() {
            return;
        }
        let mut body = String::new();
        if let Some(timeline) = timeline {
            timeline::section(&mut body, timeline, summary);
        }
        Self::summary_sections(&mut body, summary);
        self.shown = Some(Shown::of_summary(
            "A shared-subscription run",
            summary,
            body,
        ));
    }

    /// `--merge`'s page: what the summaries carry. Each process had its own clock, so there is no
    /// timeline; the number strip shows which member took which part of the run.
    pub fn show_merge(&mut self, summary: &Summary) {
        if self.file.is_none() {
            return;
        }
        let mut body = String::new();
        document::note(
            &mut body,
            "A merge of several processes' --json summaries. Each process ran on its own clock \
             and kept its own delays, so this page has no timeline and no latency: open each \
             process's own --html page for those.",
        );
        Self::summary_sections(&mut body, summary);
        self.shown = Some(Shown::of_summary("A merged run", summary, body));
    }

    /// `--conformance`'s page: one row per case.
    pub fn show_conformance(&mut self, findings: &Findings) {
        if self.file.is_none() {
            return;
        }
        let mut body = String::new();
        conformance::section(&mut body, findings);
        self.shown = Some(Shown {
            title: "Shared subscriptions, clause by clause".into(),
            facts: vec![
                ("broker".into(), findings.broker.clone()),
                ("run".into(), findings.run_id.clone()),
            ],
            judged: Judged::Conformance {
                violations: findings.violations(),
                line: findings.tally(),
            },
            body,
        });
    }

    /// The sections every summary gets, one group (or the control subscriber) at a time.
    fn summary_sections(body: &mut String, summary: &Summary) {
        let parts: Vec<(&str, &Summary)> = match &summary.groups {
            Some(groups) => groups
                .iter()
                .chain(summary.control.as_deref().map(|c| ("", c)))
                .collect(),
            None => vec![(summary.group.as_str(), summary)],
        };
        let several = parts.len() > 1;
        for (group, part) in parts {
            if several {
                document::group_heading(body, group);
            }
            numbers::section(body, part);
            split::section(body, part);
            latency::section(body, part);
            events::section(body, part);
        }
    }

    /// Writes the page, with how the invocation ended. A page that cannot be written is said in
    /// one line; the exit code stays the run's.
    pub fn write(self, exit: Exit, error: Option<&Failure>) {
        let Some(file) = self.file else {
            return;
        };
        let error = error.map(ToString::to_string);
        let html = document::render(
            self.shown.as_ref(),
            &self.command_line,
            exit,
            error.as_deref(),
        );
        match std::fs::write(&file, html) {
            Ok(()) => tracing::info!("--html: wrote {}", file.display()),
            Err(error) => eprintln!("error: --html: cannot write {}: {error}", file.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    //! A page from a summary and a timeline made by hand (`run::sample_timeline`), read back as
    //! text: what the browser tests (tests/html.rs) cannot easily make happen, an outage, a hold,
    //! a churn step and a duplicate, all on one page.

    use super::*;

    /// The summary of `run::sample_timeline`'s run, with an outage, a churn step and a client id
    /// that would be markup.
    fn summary() -> Summary {
        let json = serde_json::json!({
            "version": 2, "role": "all", "run_id": "r", "group": "g<b>", "topic": "t",
            "qos": 1, "count": 20, "published": 20, "sent": [[1, 20]], "received": 21,
            "unique": 20, "duplicated": [7], "elapsed_ms": 21, "verdict": "duplicated",
            "members": {
                "c-subscriber-1": {"count": 11, "messages": [2, 4, 6, 7, 8, 10, 12, 14, 16, 18, 20]},
                "c-subscriber-2": {"count": 10, "messages": [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]}
            },
            "outages": [{"client_id": "c-subscriber-2", "down_at_ms": 5, "up_at_ms": 8,
                         "attempts": 1, "reason": "cut <by> the test"}],
            "churn": [{"at_ms": 12, "at_seq": 11, "client_id": "c-subscriber-1", "step": "drop",
                       "received_before": 6, "received_after": 5, "missing_since": []}],
        });
        serde_json::from_value(json).expect("a summary")
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_page_draws_its_outage_hold_churn_and_duplicate() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("page.html");
        let mut page = Page::for_flag(Some(&file)).expect("a page");
        let timeline = crate::run::sample_timeline().await;
        page.show_run(&summary(), Some(&timeline));
        page.write(Exit::DeliveryFailed, None);
        let html = std::fs::read_to_string(&file).expect("the page");
        for wanted in [
            "data-verdict=\"duplicated\" data-exit=\"3\"",
            "✗ Exactly once is broken: 0 messages missing, 1 message duplicated",
            "data-member=\"c-subscriber-1\" data-count=\"11\"",
            "data-lane=\"c-subscriber-2\"",
            "class=\"outage\"",
            "cut &lt;by&gt; the test",
            "class=\"hold\"",
            "hold · waiting for",
            "waiting for c-subscriber-2",
            "class=\"churn\"",
            "drop after #11",
            "class=\"dup\"",
            "data-list=\"duplicated\" data-count=\"1\"",
            "<dd>g&lt;b&gt;</dd>",
        ] {
            assert!(html.contains(wanted), "the page lacks {wanted}");
        }
        assert!(!html.contains("g<b>"), "a group name became markup");
        // The slow receipts (150 ms) are drawn in their band, the fast ones in theirs.
        assert!(html.contains("<path class=\"b0\"") && html.contains("<path class=\"b4\""));
    }

    #[test]
    fn without_the_flag_nothing_is_written() {
        let mut page = Page::for_flag(None).expect("no page");
        page.show_merge(&summary());
        assert!(page.shown.is_none());
        page.write(Exit::Success, None);
    }
}
