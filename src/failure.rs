//! Why a run stopped early: a kind decided where the failure happens, and one line for the user.
//!
//! A tool that runs in CI is judged by its exit code, so every failure is sorted into one of a few
//! kinds *where it happens* (a bad file is an input problem, a refused TLS handshake is a connection
//! problem); `exit.rs` turns the kind into a number, with every other ending. The message itself
//! is one line that names the flag or file at fault and what to do about it.

use std::fmt;

use crate::exit::Exit;

/// A failure that ends the run before a delivery verdict could be reached.
#[derive(Debug)]
pub enum Failure {
    /// A flag or an input file is wrong. Reported before any network traffic.
    Input(anyhow::Error),
    /// The network, TLS or the broker said no, a step took longer than `--timeout`, or the run
    /// could not start (e.g. the demo broker).
    Connection(anyhow::Error),
}

impl Failure {
    /// How the process ends after this failure.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Input(_) => Exit::Input,
            Failure::Connection(_) => Exit::Connection,
        }
    }

    /// Shorthand for an input failure with a plain message.
    pub fn input(message: impl fmt::Display) -> Failure {
        Failure::Input(anyhow::anyhow!("{message}"))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `{:#}` prints anyhow's whole context chain on one line: "outer: inner: root cause".
        match self {
            Failure::Input(error) | Failure::Connection(error) => write!(f, "{error:#}"),
        }
    }
}
