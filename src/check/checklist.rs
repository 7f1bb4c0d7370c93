//! The checklist as the user sees it: a ✓ or a ✗ per step, printed as soon as the step ends (so
//! that a step that hangs shows where), or one JSON object per step with `--json`.

use crate::run::Format;

/// What one step found: a detail when it passed, what went wrong and the fix when not.
struct Step {
    name: &'static str,
    outcome: Result<String, String>,
}

/// One step as a `--json` line: `{"event":"check","step":…,"ok":…,"detail":…}`.
#[derive(serde::Serialize)]
struct CheckLine<'a> {
    event: &'static str,
    step: &'static str,
    ok: bool,
    detail: &'a str,
}

/// Prints steps as they finish, so a step that hangs shows where.
pub(super) struct Checklist {
    format: Format,
    failed: bool,
}

impl Checklist {
    pub fn new(format: Format) -> Checklist {
        Checklist {
            format,
            failed: false,
        }
    }

    /// Runs `check` and prints its line; its value when it passed.
    pub fn step<T>(
        &mut self,
        name: &'static str,
        check: impl FnOnce() -> Result<(T, String), String>,
    ) -> Option<T> {
        let (value, outcome) = match check() {
            Ok((value, detail)) => (Some(value), Ok(detail)),
            Err(problem) => (None, Err(problem)),
        };
        self.print(&Step { name, outcome });
        value
    }

    /// [`Checklist::step`] for a step that waits on the network.
    pub async fn step_async<T>(
        &mut self,
        name: &'static str,
        check: impl std::future::Future<Output = Result<(T, String), String>>,
    ) -> Option<T> {
        let result = check.await;
        self.step(name, || result)
    }

    fn print(&mut self, step: &Step) {
        self.failed |= step.outcome.is_err();
        match self.format {
            Format::Json => {
                let (Ok(detail) | Err(detail)) = &step.outcome;
                let line = CheckLine {
                    event: "check",
                    step: step.name,
                    ok: step.outcome.is_ok(),
                    detail,
                };
                if let Ok(line) = serde_json::to_string(&line) {
                    say(&line);
                }
            }
            Format::Text { .. } => match &step.outcome {
                Ok(detail) => say(&format!("✓ {}: {detail}", step.name)),
                Err(problem) => say(&format!("✗ {}: {problem}", step.name)),
            },
        }
    }

    /// The closing line; true when every step passed.
    pub fn finish(self) -> bool {
        if let Format::Text { .. } = self.format {
            say(if self.failed {
                "the chain breaks at the ✗ above; fix it and run --check again"
            } else {
                "every step passed: a run with the same flags should work"
            });
        }
        !self.failed
    }
}

/// One line on stdout, for a reader that may go away (`--check | head -1`).
fn say(line: &str) {
    crate::stdout::line(line);
}
