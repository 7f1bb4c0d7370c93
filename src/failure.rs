//! Why a run stopped early, and which exit code that earns.
//!
//! A tool that runs in CI is judged by its exit code, so every failure is sorted into one of a few
//! kinds *where it happens* (a bad file is an input problem, a refused TLS handshake is a connection
//! problem) and `main.rs` turns the kind into a number in one place. The message itself is one line
//! that names the flag or file at fault and what to do about it.
//!
//! | exit | meaning |
//! |------|---------|
//! | 0    | every message reached the group exactly once (a `--role` process: its part went without fault, verdict `partial`) |
//! | 1    | connection, TLS, broker refusal or timeout |
//! | 2    | usage error or unreadable/invalid input file (before any network) |
//! | 3    | delivery check failed: messages missing or duplicated |
//! | 130  | interrupted (Ctrl-C / SIGTERM) |

use std::fmt;

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
    /// The process exit code for this failure (see the table in the module doc).
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Input(_) => EXIT_INPUT,
            Failure::Connection(_) => EXIT_CONNECTION,
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

/// Exit code for a connection, TLS, broker refusal or timeout: [`Failure::Connection`].
pub const EXIT_CONNECTION: u8 = 1;
/// Exit code for a usage error or a bad input file, before any network: [`Failure::Input`].
pub const EXIT_INPUT: u8 = 2;
/// Exit code for a run whose messages were not all delivered exactly once.
pub const EXIT_DELIVERY_FAILED: u8 = 3;
/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells expect).
pub const EXIT_INTERRUPTED: u8 = 130;
