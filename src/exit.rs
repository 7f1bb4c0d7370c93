//! How the process ends: every exit code, what earns it, and the table that `--help` prints.
//!
//! A tool that runs in CI is judged by its exit code. A failure is sorted into its kind where it
//! happens (`failure.rs`: a bad file is an input problem, a refused handshake a connection
//! problem); this file is the one place that turns each ending into a number: a run's outcome,
//! `--merge`'s verdict, `--check`'s checklist, and a [`Failure`]. The README's "Exit codes" table
//! is this table too, and `tests/cli.rs` keeps the two equal.

use crate::failure::Failure;
use crate::run::{Ending, Outcome, Verdict};

/// The ways the process can end, one exit code each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every message reached the group exactly once, every `--check` step passed, or what was
    /// asked for (a policy, a completion script, the man page) was printed.
    Success,
    /// The network, TLS or the broker said no, or a step took longer than `--timeout`.
    Connection,
    /// A flag or an input file is wrong; nothing was sent.
    Input,
    /// Messages went missing or arrived twice.
    DeliveryFailed,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl Exit {
    /// Every ending, in the order of their codes: the rows of the table.
    pub const ALL: [Exit; 5] = [
        Exit::Success,
        Exit::Connection,
        Exit::Input,
        Exit::DeliveryFailed,
        Exit::Interrupted,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Connection => 1,
            Exit::Input => 2,
            Exit::DeliveryFailed => 3,
            // 128 + SIGINT, as shells expect of a process stopped by Ctrl-C.
            Exit::Interrupted => 130,
        }
    }

    /// What the code means, for `--help` and the README.
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => {
                "every message was delivered exactly once to the group (a run, --merge); a \
                 --role process's part went without fault (verdict partial: --merge judges the \
                 group); every step passed (--check); no case broke a MUST (--conformance)"
            }
            Exit::Connection => {
                "connection, TLS, broker refusal or timeout (once the publisher had started, the \
                 summary of what got through comes first); a step failed (--check)"
            }
            Exit::Input => {
                "usage error, or an unreadable/invalid input file (reported before any network \
                 traffic)"
            }
            Exit::DeliveryFailed => {
                "delivery check failed: messages missing or duplicated (the report names them); the \
                 broker broke a MUST of the spec (--conformance)"
            }
            Exit::Interrupted => {
                "interrupted (Ctrl-C or SIGTERM): a partial report is printed first"
            }
        }
    }

    /// A delivery verdict's exit code: a finished run's, or `--merge`'s.
    pub fn of_verdict(verdict: Verdict) -> Exit {
        match verdict {
            // A `--role` process judges only its part: `partial` is no failure; `--merge` of
            // every process's summary gives the group's verdict.
            Verdict::Ok | Verdict::Partial => Exit::Success,
            Verdict::Duplicated | Verdict::Missing => Exit::DeliveryFailed,
        }
    }

    /// The exit of a run that got as far as a report; a client that failed after the publisher
    /// started still fails the run, with its error line.
    pub fn of_run(outcome: Outcome) -> Result<Exit, Failure> {
        match outcome.ending {
            Ending::Finished => Ok(Exit::of_verdict(outcome.summary.verdict)),
            Ending::Interrupted => Ok(Exit::Interrupted),
            Ending::Failed(error) => Err(Failure::Connection(error)),
        }
    }

    /// `--conformance`'s exit: a case saw the broker break a MUST of the spec, or none did.
    pub fn of_conformance(violated: bool) -> Exit {
        if violated {
            Exit::DeliveryFailed
        } else {
            Exit::Success
        }
    }

    /// `--check`'s exit: every step passed, or one broke (whichever link it was).
    pub fn of_check(passed: bool) -> Exit {
        if passed {
            Exit::Success
        } else {
            Exit::Connection
        }
    }

    /// The table as `--help` prints it: the code, then its meaning wrapped to `width` columns.
    pub fn help_table(width: usize) -> String {
        const INDENT: usize = 7;
        let mut table = String::new();
        for exit in Exit::ALL {
            let mut line = format!("  {:<4} ", exit.code());
            for word in exit.meaning().split_whitespace() {
                if line.len() + 1 + word.len() > width && line.trim_end().len() > INDENT {
                    table.push_str(line.trim_end());
                    table.push('\n');
                    line = " ".repeat(INDENT);
                }
                if !line.ends_with(' ') {
                    line.push(' ');
                }
                line.push_str(word);
            }
            table.push_str(&line);
            table.push('\n');
        }
        table
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_help_table_wraps_under_its_meanings() {
        let table = Exit::help_table(60);
        assert!(table.starts_with("  0    every message"), "{table}");
        assert!(table.contains("\n  3    delivery check failed"), "{table}");
        for line in table.lines() {
            assert!(line.len() <= 60, "{line}");
            assert!(line.starts_with("  "), "{line}");
        }
        // Unwrapped, each row is the meaning itself.
        let joined = table.split_whitespace().collect::<Vec<_>>().join(" ");
        for exit in Exit::ALL {
            assert!(joined.contains(exit.meaning()), "{joined}");
        }
    }
}
