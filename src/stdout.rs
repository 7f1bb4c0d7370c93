//! Writing to stdout, whose reader may go away.
//!
//! stdout is what scripts read: the report, `--json` lines, a policy, a checklist. And scripts
//! stop reading: `… --json | head -1`, `--conformance | grep violates -m1`. Rust ignores SIGPIPE,
//! so the next write fails with `BrokenPipe`, and `println!` turns that failure into a panic
//! (exit 101, "failed printing to stdout"). A reader that went away is not our error: what it
//! did not read is dropped, and the exit code still says how the run went. Any other write error
//! (a full disk behind `> file`) is worth a line on stderr.

use std::fmt::Display;
use std::io::Write;

/// Writes `text` and a newline to stdout.
pub fn line(text: impl Display) {
    let mut stdout = std::io::stdout().lock();
    written(writeln!(stdout, "{text}").and_then(|()| stdout.flush()));
}

/// Writes `bytes` to stdout as they are.
pub fn bytes(bytes: &[u8]) {
    let mut stdout = std::io::stdout().lock();
    written(stdout.write_all(bytes).and_then(|()| stdout.flush()));
}

/// Says what went wrong with a write to stdout, unless the reader has simply gone.
pub fn written(result: std::io::Result<()>) {
    if let Err(error) = result {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write to stdout: {error}");
        }
    }
}
