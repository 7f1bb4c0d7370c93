//! The command line: flags in groups, one mode, typed values, and the checks that end a bad run
//! with exit 2 before a single packet is sent.
//!
//! Flag names follow AWS's original sample (`--ca_file`, `--client_id`, `--group_identifier`, with
//! underscores) so its instructions still work; the dashed spellings are accepted too. The flags
//! come in groups, one struct each, flattened into [`Args`] and shown under their own heading in
//! `--help`:
//!
//! * `connection.rs`: the connection and TLS (endpoint, port, proxy, client id, timeouts; cert,
//!   key, CA, ALPN), also read from `MQTT5_*` environment variables;
//! * `messages.rs`: the group and the messages (groups, topic, members, count, QoS, role);
//! * `load.rs`: the load knobs (`--publishers`, `--rate`, `--payload-size`, `--duration`,
//!   `--stats-every`);
//! * `experiments.rs`: faults and experiments (`--churn`, `--slow-member`, `--no-hold`);
//! * `output.rs`: JSON or a report, `--html`'s page, and the log level;
//! * `modes.rs`: `--demo`, `--check`, `--print-policy`, `--merge`, `--conformance`, as one
//!   [`Mode`];
//! * `aws.rs`: `--aws`, `--region`, `--account`: AWS's limits and the policy a run needs;
//! * `values.rs`: the typed values (counts, durations, the endpoint, ids): each checks itself, so
//!   clap refuses a bad one with its reason;
//! * `help.rs`: `-h`, `--help`, `--version`, shell completions and the man page;
//! * `run_only.rs`: the flags only a run reads, which `--conformance` refuses.
//!
//! What needs several flags together (a churn step against `--count`, QoS 2 against the broker in
//! use, AWS's limits against the client ids) is checked by [`Args::plan`], which turns the flags
//! into the run's `Plan`.

// The doc comments of the flags are clap's `--help` text, written for a terminal: `<group>` and
// `[n]` there are plain text, not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgGroup, FromArgMatches, Parser};
use rand::RngExt;

use crate::failure::Failure;
use crate::run::{Format, Plan};

mod aws;
mod connection;
mod experiments;
mod help;
mod load;
mod messages;
mod modes;
mod output;
mod run_only;
mod values;

use aws::AwsArgs;
use connection::{ConnectionArgs, TlsArgs};
use experiments::{ExperimentArgs, RunShape};
use load::LoadArgs;
use messages::MessageArgs;
pub use modes::Mode;
use modes::ModeArgs;
use output::OutputArgs;
use values::ClientIdPrefix;

/// The flags that make `--endpoint`, `--cert` and `--key` unnecessary: the modes that bring their
/// own broker, or need none.
const NO_BROKER_NEEDED: [&str; 5] = ["demo", "print_policy", "merge", "completions", "man"];

/// Shows, and proves, how an MQTT 5 shared subscription spreads messages across a group.
///
/// Starts N members subscribed to $share/<group>/<topic> over mutual TLS, publishes numbered
/// messages to <topic>, logs which member got which, and checks that every message reached the
/// group exactly once.
#[derive(Parser, Debug, Clone)]
#[command(
    name = help::BIN_NAME,
    group(ArgGroup::new("mode").args(["check", "print_policy", "merge", "conformance"]))
)]
pub struct Args {
    // The sections of `--help`, in this order: what to do first, then what to connect to.
    #[command(flatten)]
    pub modes: ModeArgs,
    #[command(flatten)]
    pub connection: ConnectionArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub messages: MessageArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub experiments: ExperimentArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// The environment variables that named a broker or a certificate, set aside by `--demo`.
    #[arg(skip)]
    set_aside: Vec<&'static str>,
    /// The flags on the command line that only a run reads (`run_only.rs`).
    #[arg(skip)]
    run_only_given: Vec<run_only::RunOnly>,
}

/// The broker a run talks to, as far as the words of an error should fit it.
pub(super) enum BrokerInUse {
    Aws,
    Demo,
    Other(String),
}

impl Args {
    /// The flags of this process. Like clap's own `--help` and `--version`, `--completions` and
    /// `--man` print their text and exit here, and a usage error exits with code 2.
    pub fn from_command_line() -> Args {
        let args = Args::try_parse_from(std::env::args_os())
            .unwrap_or_else(|error| help::usage_error(error).exit());
        if let Some(shell) = args.modes.completions {
            help::print_completions(shell);
            std::process::exit(0);
        }
        if args.modes.man {
            let written = help::print_man_page();
            std::process::exit(i32::from(written.is_err()));
        }
        args
    }

    /// Parses `words` (the program's name first) as the command line.
    pub fn try_parse_from<I, T>(words: I) -> Result<Args, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = help::command();
        let matches = command.try_get_matches_from_mut(words)?;
        let mut args = Args::from_arg_matches(&matches)?;
        args.load.count_given = matches.value_source("count") == Some(ValueSource::CommandLine);
        args.run_only_given = run_only::given(&matches);
        args.set_aside_for_demo(&matches)
            .map_err(|message| command.error(ErrorKind::ArgumentConflict, message))?;
        Ok(args)
    }

    /// `--demo` brings its own broker and certificates: on the command line, `--endpoint`,
    /// `--cert`, `--key` and `--ca_file` contradict it; from the environment (`MQTT5_ENDPOINT`,
    /// set for the real runs) they are set aside. clap would refuse both alike, as it counts a
    /// variable as given.
    fn set_aside_for_demo(&mut self, matches: &clap::ArgMatches) -> Result<(), String> {
        if !self.modes.demo {
            return Ok(());
        }
        let flags = [
            ("endpoint", "--endpoint", "MQTT5_ENDPOINT"),
            ("cert", "--cert", "MQTT5_CERT"),
            ("key", "--key", "MQTT5_KEY"),
            ("ca_file", "--ca_file", "MQTT5_CA_FILE"),
        ];
        for (id, flag, variable) in flags {
            match matches.value_source(id) {
                Some(ValueSource::CommandLine) => {
                    return Err(format!(
                        "the argument '--demo' cannot be used with '{flag}': the demo brings its \
                         own broker and certificates"
                    ))
                }
                Some(ValueSource::EnvVariable) => self.set_aside.push(variable),
                _ => {}
            }
        }
        self.connection.endpoint = None;
        self.tls.cert = None;
        self.tls.key = None;
        self.tls.ca_file = None;
        Ok(())
    }

    /// What this invocation does.
    pub fn mode(&self) -> Mode {
        self.modes.mode()
    }

    /// How the run shows what happens: `--json`, or a report.
    pub fn format(&self) -> Format {
        self.output.format()
    }

    /// The tracing filter the flags ask for.
    pub fn log_filter(&self) -> String {
        self.output.log_filter()
    }

    /// `--conformance`'s own check: no flag that only a run reads (`run_only.rs`), and the demo's
    /// flags with `--demo`. Its cases need no `Plan`.
    pub fn check_conformance_flags(&self) -> Result<(), Failure> {
        run_only::refuse(&self.run_only_given, "--conformance")?;
        self.modes.check_demo_flags()
    }

    /// Checks the flags that clap cannot check alone, and turns them into a `Plan`.
    pub fn plan(&self) -> Result<Plan, Failure> {
        self.modes.check_demo_flags()?;
        self.check_policy_flags()?;
        if !self.set_aside.is_empty() {
            tracing::info!(
                "--demo brings its own broker and certificates: {} from the environment set aside",
                self.set_aside.join(", ")
            );
        }
        let messages = &self.messages;
        let filters = messages.filters()?;
        let qos = messages.qos(&self.broker_in_use())?;
        let client_id = match &self.connection.client_id {
            Some(ClientIdPrefix(id)) => id.clone(),
            None => format!("{DEFAULT_CLIENT_ID_PREFIX}{}", random_hex(4)),
        };
        let run_id = messages.run_id()?;
        let load = self.load()?;
        let churn = self.experiments.churn_steps(&RunShape {
            count: messages.count.0,
            subscribers: messages.subscribers.0,
            qos,
            role: messages.role,
            groups: filters.len(),
        })?;
        let plan = Plan {
            churn,
            slow_member: self.experiments.slow_member,
            filters,
            control: messages.control,
            client_id,
            run_id,
            role: messages.role.into(),
            subscribers: messages.subscribers.0,
            count: load.count,
            duration: load.duration,
            publishers: load.publishers,
            pace: load.pace,
            payload_size: load.payload_size,
            stats_every: load.stats_every,
            qos,
            message: messages.message.clone(),
            timeout: self.connection.timeout.0,
            hold: !self.experiments.no_hold,
            per_message_logs: self.output.per_message_logs(load.expected()),
            timeline: self.output.html.is_some(),
            format: self.output.format(),
        };
        self.check_aws_limits(&plan)?;
        Ok(plan)
    }

    /// AWS IoT Core, the demo broker, or another one (by its name).
    fn broker_in_use(&self) -> BrokerInUse {
        if self.on_aws() {
            BrokerInUse::Aws
        } else if self.modes.demo {
            BrokerInUse::Demo
        } else {
            match self.connection.host_port() {
                Some((host, _)) => BrokerInUse::Other(host),
                None => BrokerInUse::Other("the broker".to_owned()),
            }
        }
    }
}

/// What a made-up client id starts with (then 8 hex digits): AWS's sample's `test-` prefix, which
/// the policy in `policy/` allows (`client/test-*`).
pub(super) const DEFAULT_CLIENT_ID_PREFIX: &str = "test-";

/// Every client id a run with these flags connects as: each publisher (`--publishers`), each
/// member, and the one `--check` uses. The policy allows exactly these, and AWS's length limit
/// applies to each.
fn client_ids(plan: &Plan) -> Vec<String> {
    let mut ids = plan.publisher_ids();
    ids.extend(plan.member_ids());
    ids.push(plan.check_id());
    ids
}

/// `bytes` random bytes as lower-case hex.
fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(words: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("x").chain(words.iter().copied()))
    }

    #[test]
    fn libraries_log_at_warn_or_error() {
        let filter = |words: &[&str]| {
            let mut all = vec!["--demo"];
            all.extend_from_slice(words);
            parse(&all).expect("valid flags").log_filter()
        };
        assert_eq!(filter(&["--verbosity", "error"]), "error");
        let quiet = format!("{},{}", crate::mqtt::LOG_FILTER, crate::demo::LOG_FILTER);
        assert_eq!(
            filter(&["-q"]),
            format!("warn,{quiet},mqtt5_shared_subscription=warn")
        );
        assert_eq!(
            filter(&["-v"]),
            format!("warn,{quiet},mqtt5_shared_subscription=debug")
        );
    }

    #[test]
    fn qos_two_is_refused_in_the_words_of_the_broker_in_use() {
        let plan = |words: &[&str]| parse(words).expect("valid flags").plan();
        let error = |words: &[&str]| plan(words).expect_err("QoS 2").to_string();
        let aws = error(&["--print-policy", "--qos", "2"]);
        assert!(aws.contains("AWS IoT Core does not support QoS 2"), "{aws}");
        let demo = error(&["--demo", "--qos", "2"]);
        assert!(
            demo.contains("the demo broker takes QoS 0 and 1 only"),
            "{demo}"
        );
        let other = error(&[
            "--endpoint",
            "mqtt.local",
            "--cert",
            "c",
            "--key",
            "k",
            "--qos",
            "2",
        ]);
        assert!(other.contains("whatever mqtt.local supports"), "{other}");
        for words in [&demo, &other] {
            assert!(!words.contains("AWS IoT Core does not support"), "{words}");
            assert!(words.contains("does not support QoS 2"), "{words}");
        }
        assert!(plan(&["--demo", "--qos", "0"]).is_ok());
    }

    #[test]
    fn one_mode_at_a_time() {
        let error = parse(&["--demo", "--check", "--print-policy"]).expect_err("two modes");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        let args = parse(&["--demo", "--check"]).expect("--check against the demo broker");
        assert_eq!(args.mode(), Mode::Check);
        let args = parse(&["--merge", "a.json", "b.json"]).expect("merge");
        assert_eq!(
            args.mode(),
            Mode::Merge(vec!["a.json".into(), "b.json".into()])
        );
    }

    #[test]
    fn the_demo_refuses_a_broker_on_the_command_line() {
        let error = parse(&["--demo", "--endpoint", "example.com"]).expect_err("conflict");
        assert_eq!(error.kind(), ErrorKind::ArgumentConflict);
        assert!(error.to_string().contains("'--endpoint'"), "{error}");
    }
}
