//! The flags that change what the tool does: a run (against `--demo`'s embedded broker or a real
//! one), or instead `--check`, `--print-policy`, `--merge` or `--conformance`; and the texts it can print about
//! itself (`--completions`, `--man`).
//!
//! `--check`, `--print-policy`, `--merge` and `--conformance` exclude each other (the `mode` group in `mod.rs`);
//! [`Mode`] is the one value the rest of the program looks at.

use std::path::PathBuf;

use crate::failure::Failure;

/// What the tool does instead of, or besides, a plain run.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Modes")]
pub struct ModeArgs {
    /// Run against an embedded mTLS broker with generated certificates: no AWS account needed
    #[arg(long, conflicts_with_all = ["print_policy", "merge"])]
    pub demo: bool,

    /// With --demo: write the demo certificates to DIR and keep the broker up after the run,
    /// printing the commands that add members from other terminals
    #[arg(long, value_name = "DIR", hide_short_help = true)]
    pub keep_running: Option<PathBuf>,

    /// With --demo: the demo broker applies this AWS IoT policy (JSON) to its clients as AWS IoT
    /// Core would: iot:Connect, iot:Publish and iot:Subscribe are checked, iot:Receive is not
    /// (the broker has no hook for deliveries)
    #[arg(long, value_name = "FILE", hide_short_help = true)]
    pub policy: Option<PathBuf>,

    /// Instead of running, check the chain link by link: a ✓, or a ✗ and the fix
    ///
    /// The links: certificate and key, DNS, TCP, TLS, CONNACK (with what the broker announced),
    /// SUBACK; exit 0 when all pass
    #[arg(long)]
    pub check: bool,

    /// Print the AWS IoT policy this command line needs, and exit
    ///
    /// The least-privilege policy (JSON) for this command line's client ids, topic and group:
    /// nothing is sent, and --endpoint, --cert and --key are not needed
    #[arg(long)]
    pub print_policy: bool,

    /// Instead of a run, ask the broker what it does with a shared subscription
    ///
    /// The cases of MQTT 5 §4.8.2 and its neighbours (distribution, several groups, members that
    /// die or stay away, retained messages, No Local, QoS, PUBACK 0x80, a slow member, wildcards
    /// and invalid share names), each in its own group and topic, a verdict each; exit 0 unless
    /// one breaks a MUST (3). The cases choose their own members, counts and topics: a flag only
    /// a run reads (--count, --subscribers, --churn, ...) is refused (exit 2)
    #[arg(long)]
    pub conformance: bool,

    /// Read the --json outputs of one run's processes (files, or - for stdin) and print one
    /// report with the exactly-once verdict and its exit code; no network
    #[arg(long, value_name = "FILE", num_args = 1.., hide_short_help = true)]
    pub merge: Vec<PathBuf>,

    /// Print a completion script for SHELL and exit (see the README for where to put it)
    #[arg(long, value_name = "SHELL", value_enum, hide_short_help = true)]
    pub completions: Option<clap_complete::Shell>,

    /// Print the man page (roff) and exit: `--man > mqtt5-shared-subscription.1`
    #[arg(long, hide_short_help = true)]
    pub man: bool,
}

/// What this invocation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Publish and count: the sample itself (`--demo` only changes where the broker comes from).
    Run,
    /// `--check`: walk the chain link by link instead of running.
    Check,
    /// `--print-policy`: the AWS IoT policy these flags need, on stdout; nothing is sent.
    PrintPolicy,
    /// `--merge FILE…`: one verdict from the `--json` outputs of a run's processes; no network.
    Merge(Vec<PathBuf>),
    /// `--conformance`: the shared-subscription cases of MQTT 5 asked of the broker, instead of a
    /// run.
    Conformance,
}

impl ModeArgs {
    /// The mode the flags ask for; clap has already refused two at once.
    pub(super) fn mode(&self) -> Mode {
        if !self.merge.is_empty() {
            Mode::Merge(self.merge.clone())
        } else if self.print_policy {
            Mode::PrintPolicy
        } else if self.check {
            Mode::Check
        } else if self.conformance {
            Mode::Conformance
        } else {
            Mode::Run
        }
    }

    /// `--keep-running` keeps the *demo* broker up, and `--policy` is the demo broker's. Checked here rather than with clap's
    /// `requires`, whose message would not say what the flag is for.
    pub(super) fn check_demo_flags(&self) -> Result<(), Failure> {
        if self.keep_running.is_some() && !self.demo {
            return Err(Failure::input(
                "--keep-running keeps the demo broker up after the run, so it needs --demo; \
                 add --demo, or leave --keep-running out",
            ));
        }
        if self.policy.is_some() && !self.demo {
            return Err(Failure::input(
                "--policy is applied by the demo broker, so it needs --demo (AWS IoT Core applies \
                 the policy attached to your certificate); add --demo, or leave --policy out",
            ));
        }
        Ok(())
    }
}
