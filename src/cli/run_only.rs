//! The flags only a run reads, and how `--conformance` refuses them.
//!
//! `--conformance` does not run the sample: each of its cases makes its own members, groups,
//! topics, counts, sessions and pace, and judges the broker by them. A run's flag given with it
//! would change nothing, and a user who typed `--count 1000` would believe the cases used it. So
//! such a flag is refused, in one line that names it and says why (exit 2), before anything
//! connects.
//!
//! What does apply: the connection and TLS flags (`--endpoint`, `--port`, `--cert`, `--key`,
//! `--ca_file`, `--alpn`, the proxy, `--keep-alive`, and `--timeout`, which caps each step of a
//! case, itself at most 5 s), `--demo` and its `--policy`, `--aws`, and the output flags
//! (`--json`, `--html`, `-v`, `-q`, `--verbosity`). A value from the environment (`MQTT5_TOPIC`,
//! `MQTT5_GROUP`, set for the real runs of a shell or a CI job) is not refused; the cases just
//! do not read it.

use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::failure::Failure;

/// A run's flag that `--conformance` refuses: clap's id for it, the flag as `--help` shows it,
/// and why it does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOnly {
    pub id: &'static str,
    pub flag: &'static str,
    pub why: &'static str,
}

/// Every run-only flag, in the order of `--help`.
pub const RUN_ONLY: [RunOnly; 25] = [
    run_only(
        "keep_running",
        "--keep-running",
        "the demo broker stops when the cases are done",
    ),
    run_only(
        "client_id",
        "--client_id",
        "its cases name their own clients (conf-<run>-<case>-<member>)",
    ),
    run_only(
        "session_expiry",
        "--session-expiry",
        "its cases choose each member's session",
    ),
    run_only(
        "group",
        "--group_identifier",
        "its cases make groups of their own",
    ),
    run_only(
        "topic",
        "--topic",
        "its cases publish to topics of their own",
    ),
    run_only(
        "subscribers",
        "--subscribers",
        "its cases choose their own members",
    ),
    run_only("count", "--count", "its cases choose their own counts"),
    run_only("qos", "--qos", "its cases choose their own QoS (0 and 1)"),
    run_only("message", "--message", "its cases write their own payloads"),
    run_only("interval", "--interval", "its cases pace themselves"),
    run_only(
        "control",
        "--control",
        "its cases make their own plain subscribers",
    ),
    run_only(
        "role",
        "--role",
        "it plays every part itself, in one process",
    ),
    run_only("run_id", "--run-id", "it makes its own run id"),
    run_only(
        "publishers",
        "--publishers",
        "its cases choose their own publishers",
    ),
    run_only("rate", "--rate", "its cases pace themselves"),
    run_only(
        "payload_size",
        "--payload-size",
        "its cases write their own payloads",
    ),
    run_only(
        "duration",
        "--duration",
        "each case ends when its question is answered",
    ),
    run_only(
        "stats_every",
        "--stats-every",
        "it prints one row per case, not a run's progress",
    ),
    run_only("churn", "--churn", "its cases make their own faults"),
    run_only(
        "slow_member",
        "--slow-member",
        "case 11 brings its own slow member",
    ),
    run_only(
        "no_hold",
        "--no-hold",
        "its cases publish on their own terms",
    ),
    run_only("histogram", "--histogram", "it measures no delivery delays"),
    run_only(
        "per_message_logs",
        "--per-message-logs",
        "its rows say who got which message",
    ),
    run_only(
        "region",
        "--region",
        "it writes no policy (--print-policy does)",
    ),
    run_only(
        "account",
        "--account",
        "it writes no policy (--print-policy does)",
    ),
];

const fn run_only(id: &'static str, flag: &'static str, why: &'static str) -> RunOnly {
    RunOnly { id, flag, why }
}

/// The run-only flags given on the command line (a value from the environment or a default is
/// not "given").
pub fn given(matches: &ArgMatches) -> Vec<RunOnly> {
    RUN_ONLY
        .into_iter()
        .filter(|flag| matches.value_source(flag.id) == Some(ValueSource::CommandLine))
        .collect()
}

/// Exit 2, in one line, for the first run-only flag in `given`: `--count does not apply to
/// --conformance: its cases choose their own counts`.
pub fn refuse(given: &[RunOnly], mode: &str) -> Result<(), Failure> {
    match given.first() {
        Some(flag) => Err(Failure::input(format!(
            "{} does not apply to {mode}: {}; leave it out",
            flag.flag, flag.why
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each id is a real argument, and its flag is the one `--help` shows.
    #[test]
    fn every_run_only_flag_is_an_argument_of_the_command_line() {
        let command = super::super::help::command();
        for flag in RUN_ONLY {
            let argument = command
                .get_arguments()
                .find(|a| a.get_id() == flag.id)
                .unwrap_or_else(|| panic!("no argument {}", flag.id));
            assert_eq!(
                argument.get_long().map(|l| format!("--{l}")).as_deref(),
                Some(flag.flag),
                "{flag:?}"
            );
        }
    }
}
