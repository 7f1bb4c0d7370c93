//! The command line: flags, their defaults, and the checks that run before any network.
//!
//! Flag names follow AWS's original sample (`--ca_file`, `--client_id`, `--group_identifier`, with
//! underscores) so its instructions still work; the dashed spellings are accepted too.
//! Everything a user can get wrong here is caught by [`Args::plan`] with a message that names the
//! flag, and ends the process with exit code 2 before a single packet is sent.

// The doc comments on `Args` are clap's `--help` text, written for a terminal: `<group>` and
// `[n]` there are plain text, not HTML or links.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser};
use rand::RngExt;
use rumqttc::v5::mqttbytes::QoS;

use tracing::warn;

use crate::aws;
use crate::failure::Failure;
use crate::mqtt::{Proxy, Target};
use crate::run::{
    parse_churn, parse_slow_member, ChurnAction, ChurnStep, Format, Plan, Role,
    PER_MESSAGE_LOGS_UP_TO,
};
use crate::share::SharedFilter;
use crate::tls::{default_alpn, TlsFiles};

const AFTER_HELP: &str = "\
Examples:
  # No broker, no AWS account: an embedded mTLS broker with throw-away certificates
  mqtt5-shared-subscription --demo

  # The least-privilege AWS IoT policy for a run with these flags (nothing is sent)
  mqtt5-shared-subscription --print-policy --client_id my-test --region eu-west-1 --account 123456789012

  # AWS IoT Core
  mqtt5-shared-subscription --endpoint xxxxxxxx-ats.iot.eu-west-1.amazonaws.com \\
      --cert device.pem.crt --key private.pem.key --ca_file AmazonRootCA1.pem --client_id my-test

Exit codes:
  0    every message was delivered exactly once to the group
  1    connection, TLS, broker refusal or timeout
  2    usage error or unreadable/invalid input file (before any network)
  3    delivery check failed: messages missing or duplicated
  130  interrupted (Ctrl-C or SIGTERM)";

/// Shows, and proves, how an MQTT 5 shared subscription spreads messages across a group.
///
/// Starts N members subscribed to $share/<group>/<topic> over mutual TLS, publishes numbered
/// messages to <topic>, logs which member got which, and checks that every message reached the
/// group exactly once.
#[derive(Parser, Debug, Clone)]
#[command(name = "mqtt5-shared-subscription", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Broker host name or IP (AWS IoT: your account's ATS endpoint); `host:port` and
    /// `mqtts://host:port` are accepted too
    #[arg(long, required_unless_present_any = ["demo", "print_policy", "merge"])]
    pub endpoint: Option<String>,

    /// Broker port; 443 offers the ALPN name AWS IoT Core needs there
    #[arg(long, default_value_t = 8883)]
    pub port: u16,

    /// HTTP proxy to tunnel through (HTTP CONNECT), host name or IP; wins over HTTPS_PROXY and
    /// NO_PROXY. A proxy that needs a password: set HTTPS_PROXY=http://user:pass@host:port
    /// instead. Without it, https_proxy/HTTPS_PROXY/all_proxy/ALL_PROXY and NO_PROXY are read as
    /// curl reads them
    #[arg(
        long = "proxy_host",
        visible_alias = "proxy-host",
        value_name = "HOST",
        conflicts_with = "demo"
    )]
    pub proxy_host: Option<String>,

    /// Port of --proxy_host
    #[arg(
        long = "proxy_port",
        visible_alias = "proxy-port",
        value_name = "PORT",
        default_value_t = 8080,
        requires = "proxy_host",
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    pub proxy_port: u16,

    /// Device certificate, PEM or DER
    #[arg(long, required_unless_present_any = ["demo", "print_policy", "merge"])]
    pub cert: Option<PathBuf>,

    /// Device private key, PEM or DER (PKCS#8, PKCS#1 RSA or SEC1 EC). An encrypted PKCS#8 key
    /// ("BEGIN ENCRYPTED PRIVATE KEY") is decrypted with the passphrase in the environment
    /// variable MQTT5_KEY_PASSPHRASE, or one typed at the prompt when run in a terminal
    #[arg(long, required_unless_present_any = ["demo", "print_policy", "merge"])]
    pub key: Option<PathBuf>,

    /// CA certificate(s) to trust for the broker, PEM or DER [default: the system trust store]
    #[arg(long = "ca_file", visible_alias = "ca-file")]
    pub ca_file: Option<PathBuf>,

    /// Check the chain instead of running: files, DNS, TCP, TLS, CONNACK, SUBACK, each with a
    /// ✓ or a ✗ and its fix; exit 0 when all pass
    #[arg(long)]
    pub check: bool,

    /// ALPN protocol to offer in the TLS handshake; repeat for several [default: x-amzn-mqtt-ca
    /// on port 443, none elsewhere]
    #[arg(long, value_name = "PROTO", action = ArgAction::Append)]
    pub alpn: Vec<String>,

    /// Client id prefix: the publisher is <ID>-publisher, members <ID>-subscriber-<k>
    /// [default: test-<8 random hex digits>]
    #[arg(long = "client_id", visible_alias = "client-id")]
    pub client_id: Option<String>,

    /// Share name: the group the members join. Several (`--groups g1,g2`, or the flag
    /// repeated) start --subscribers members in each: every group gets its own full copy
    #[arg(
        long = "group_identifier",
        visible_aliases = ["group-identifier", "group", "groups"],
        value_name = "GROUP",
        value_delimiter = ',',
        action = ArgAction::Append,
        default_value = "rust-sample"
    )]
    pub group: Vec<String>,

    /// Add one plain (not shared) subscriber on the topic, `<ID>-control`: it gets every
    /// message, as every client without `$share` does, for the report to compare with
    #[arg(long)]
    pub control: bool,

    /// Topic to publish to; members subscribe to $share/<group>/<topic>
    #[arg(long, default_value = "test/topic")]
    pub topic: String,

    /// Payload text; message n carries "<TEXT> [n]"
    #[arg(long, default_value = "Hello World!")]
    pub message: String,

    /// How many messages to publish
    #[arg(long, default_value_t = 10, value_parser = parse_count)]
    pub count: u32,

    /// How many members join the group
    #[arg(long, default_value_t = 2, value_parser = parse_subscribers)]
    pub subscribers: u16,

    /// QoS for the subscriptions and the publishes: 0 or 1
    #[arg(long, default_value = "1", value_parser = parse_qos)]
    pub qos: QoS,

    /// Pause between publishes, e.g. 0, 50ms, 1s
    #[arg(long, default_value = "0s", value_parser = parse_interval)]
    pub interval: Duration,

    /// The longest any step may wait (connect, SUBACK, PUBACK, final deliveries)
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,

    /// Don't hold the publisher while a member is reconnecting, and don't send again what the
    /// broker routed to nobody (PUBACK 0x10): watch the broker's raw behaviour through an outage
    #[arg(long)]
    pub no_hold: bool,

    /// Change the group while messages flow, steps at a share of --count or a message number:
    /// leave:K@P (member K leaves for good), drop:K@P (its connection is cut; it comes back),
    /// join@P (a new member joins), e.g. --churn leave:2@30%,join@60%
    #[arg(long, value_name = "STEPS", value_parser = parse_churn_flag)]
    pub churn: Option<Churn>,

    /// Member K acknowledges each message DELAY after it arrives (manual PUBACKs, one at a
    /// time), e.g. --slow-member 2=50ms: watch what the broker does with a slow member's share
    #[arg(long, value_name = "K=DELAY", value_parser = parse_slow_member)]
    pub slow_member: Option<(u16, Duration)>,

    /// What this process plays: `all` (publisher and members), `publisher`, or `subscriber`
    /// (--subscribers members). Spread a run over processes or machines with the same --run-id
    /// everywhere, then --merge their --json outputs for one verdict
    #[arg(long, value_enum, default_value_t = Role::All)]
    pub role: Role,

    /// Ties the processes of one run together: members count only messages carrying this id.
    /// Required with --role publisher or subscriber [default: random]
    #[arg(long = "run-id", visible_alias = "run_id", value_name = "ID")]
    pub run_id: Option<String>,

    /// Read the --json outputs of one run's processes (files, or - for stdin) and print one
    /// report with the exactly-once verdict and its exit code; no network
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["demo", "check", "print_policy"])]
    pub merge: Vec<PathBuf>,

    /// Keep each client's session this long after its connection breaks (MQTT 5 Session Expiry
    /// Interval, with Clean Start off): the broker keeps the subscriptions and queues QoS 1
    /// messages while a member is away. 0 starts every connection clean
    #[arg(long, default_value = "0s", value_parser = parse_session_expiry)]
    pub session_expiry: Duration,

    /// MQTT keep-alive: a PINGREQ after this much silence; a connection whose PINGRESP does not
    /// come within the next period counts as broken (AWS IoT Core accepts 30s to 20m)
    #[arg(long, default_value = "30s", value_parser = parse_keep_alive)]
    pub keep_alive: Duration,

    /// Print events and the summary as JSON lines (NDJSON) on stdout
    #[arg(long)]
    pub json: bool,

    /// Add text histograms to the report: the split over the members, and the delays
    #[arg(long, conflicts_with = "json")]
    pub histogram: bool,

    /// A log line per message received: `auto` up to 1000 messages, `on`, or `off` (long runs on
    /// a terminal then show a progress bar)
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = PerMessageLogs::Auto)]
    pub per_message_logs: PerMessageLogs,

    /// More log output (-v debug, -vv trace)
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only warnings and errors in the log
    #[arg(short, long)]
    pub quiet: bool,

    /// Log level: error, warn, info, debug or trace (RUST_LOG works too)
    #[arg(long, value_name = "LEVEL", conflicts_with_all = ["verbose", "quiet"])]
    pub verbosity: Option<tracing::Level>,

    /// Run against an embedded mTLS broker with generated certificates: no AWS account needed
    #[arg(long, conflicts_with_all = ["endpoint", "cert", "key", "ca_file"])]
    pub demo: bool,

    /// With --demo: write the demo certificates to DIR and keep the broker up after the run,
    /// printing the commands that add members from other terminals
    // `requires` catches `--keep-running DIR` alone, but clap 4 lets it through when --endpoint,
    // --cert and --key are given (the flags --demo conflicts with); `plan()` catches that.
    #[arg(long, value_name = "DIR", requires = "demo")]
    pub keep_running: Option<PathBuf>,

    /// Print the least-privilege AWS IoT policy (JSON) for this command line's client ids, topic
    /// and group, and exit: nothing is sent, and --endpoint, --cert and --key are not needed
    #[arg(long, conflicts_with_all = ["demo", "check"])]
    pub print_policy: bool,

    /// With --print-policy: the AWS region in the policy's ARNs [default: the placeholder REGION]
    // Checked in `plan()` (aws::check_region), for one error line instead of clap's three.
    #[arg(long)]
    pub region: Option<String>,

    /// With --print-policy: the 12-digit AWS account id in the policy's ARNs [default: the
    /// placeholder ACCOUNT_ID]
    #[arg(long)]
    pub account: Option<String>,

    /// With --demo: the demo broker applies this AWS IoT policy (JSON) to its clients as AWS IoT
    /// Core would: iot:Connect, iot:Publish and iot:Subscribe are checked, iot:Receive is not
    /// (the broker has no hook for deliveries)
    #[arg(long, value_name = "FILE", requires = "demo")]
    pub policy: Option<PathBuf>,

    /// Hold the run to AWS IoT Core's limits (topic length and depth, client id length, no $aws/
    /// topics) as errors, as for an --endpoint named *.iot.*.amazonaws.com; use it for a custom
    /// domain or a VPC endpoint. Elsewhere, breaking them is only a warning
    #[arg(long, conflicts_with = "demo")]
    pub aws: bool,
}

/// `--churn`'s steps; a type of its own, as clap reads a bare `Vec` as a repeated flag.
#[derive(Debug, Clone)]
pub struct Churn(pub Vec<ChurnStep>);

fn parse_churn_flag(value: &str) -> Result<Churn, String> {
    parse_churn(value).map(Churn)
}

/// `--per-message-logs`: a line per message, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerMessageLogs {
    /// On for small runs (up to 1000 messages), off above.
    Auto,
    On,
    Off,
}

fn parse_qos(value: &str) -> Result<QoS, String> {
    match value {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => {
            Err("AWS IoT Core does not support QoS 2 (it never acknowledges it); use 0 or 1".into())
        }
        _ => Err("QoS must be 0 or 1".into()),
    }
}

/// The most messages one run publishes: enough for a load test, few enough to track one by one.
const MAX_COUNT: u32 = 10_000_000;
/// The most members one run starts: each is a TLS connection and a task.
const MAX_SUBSCRIBERS: u16 = 1000;

// clap prints these as `error: invalid value '0' for '--count <COUNT>': <our reason>`.
fn parse_count(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(0) => Err("with no messages there is nothing to deliver or check; use 1 or more".into()),
        Ok(count) if count <= MAX_COUNT => Ok(count),
        _ => Err(format!(
            "a whole number from 1 to {MAX_COUNT}, e.g. --count 100"
        )),
    }
}

fn parse_subscribers(value: &str) -> Result<u16, String> {
    match value.parse::<u16>() {
        Ok(0) => Err("a group needs at least one member to receive anything; use 1 or more".into()),
        Ok(n) if n <= MAX_SUBSCRIBERS => Ok(n),
        _ => Err(format!(
            "a whole number from 1 to {MAX_SUBSCRIBERS}, e.g. --subscribers 3"
        )),
    }
}

/// The longest `--timeout` or `--interval`: a day is more than any run needs, and the cap keeps
/// `Instant + Duration` from overflowing (it panics) on values like `300000000000years`.
const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

fn parse_timeout(value: &str) -> Result<Duration, String> {
    let timeout = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if timeout < Duration::from_millis(100) {
        return Err("must be at least 100ms, e.g. 10s".into());
    }
    if timeout > MAX_DURATION {
        return Err("must be at most 24h, e.g. 10s".into());
    }
    Ok(timeout)
}

/// rumqttc panics on a keep-alive below 5 s, and MQTT counts it in whole seconds up to 65,535.
fn parse_keep_alive(value: &str) -> Result<Duration, String> {
    let keep_alive = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if keep_alive < Duration::from_secs(5) {
        return Err("must be at least 5s (the MQTT client library's minimum), e.g. 30s".into());
    }
    if keep_alive.subsec_nanos() != 0 || keep_alive > Duration::from_secs(u64::from(u16::MAX)) {
        return Err("whole seconds from 5s to 65535s (MQTT's limit), e.g. 30s".into());
    }
    Ok(keep_alive)
}

/// MQTT 5 counts the Session Expiry Interval in whole seconds, in a u32 (0xFFFFFFFF: never expires).
fn parse_session_expiry(value: &str) -> Result<Duration, String> {
    let expiry = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if expiry.subsec_nanos() != 0 || expiry >= Duration::from_secs(u64::from(u32::MAX)) {
        return Err("whole seconds below 136 years, e.g. 5m".into());
    }
    Ok(expiry)
}

fn parse_interval(value: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if interval > MAX_DURATION {
        return Err("must be at most 24h, e.g. 50ms".into());
    }
    Ok(interval)
}

impl Args {
    /// Checks the flags that clap cannot check alone, and turns them into a `Plan`.
    pub fn plan(&self) -> Result<Plan, Failure> {
        if self.keep_running.is_some() && !self.demo {
            return Err(Failure::input(
                "--keep-running keeps the demo broker up after the run, so it needs --demo; \
                 add --demo, or leave --keep-running out",
            ));
        }
        // Checked here, not with clap's `requires`: clap 4 let `--demo --region R` through with
        // `requires = "print_policy"` (as it lets `--keep-running` through, see there).
        if (self.region.is_some() || self.account.is_some()) && !self.print_policy {
            return Err(Failure::input(
                "--region and --account fill in the ARNs of --print-policy, and a run does not use \
                 them; add --print-policy, or leave them out",
            ));
        }
        if let Some(region) = &self.region {
            aws::check_region(region).map_err(Failure::input)?;
        }
        if let Some(account) = &self.account {
            aws::check_account(account).map_err(Failure::input)?;
        }
        // As with --keep-running, clap's `requires` lets this through next to --endpoint.
        if self.policy.is_some() && !self.demo {
            return Err(Failure::input(
                "--policy is applied by the demo broker, so it needs --demo (AWS IoT Core applies \
                 the policy attached to your certificate); add --demo, or leave --policy out",
            ));
        }
        let mut filters: Vec<SharedFilter> = Vec::new();
        for group in &self.group {
            let filter = SharedFilter::new(group, &self.topic).map_err(Failure::input)?;
            if filters.iter().any(|known| known.group() == filter.group()) {
                return Err(Failure::input(format!(
                    "--group_identifier {group} is given twice: name each group once"
                )));
            }
            filters.push(filter);
        }
        let client_id = match &self.client_id {
            Some(id) if id.trim().is_empty() => return Err(Failure::input(
                "--client_id is empty: give a prefix such as --client_id my-test, or leave it out",
            )),
            Some(id) => id.clone(),
            None => format!("{DEFAULT_CLIENT_ID_PREFIX}{}", random_hex(4)),
        };
        let run_id = match (&self.run_id, self.role) {
            (Some(id), _)
                if id.is_empty() || id.len() > 64 || id.chars().any(char::is_whitespace) =>
            {
                return Err(Failure::input(
                    "--run-id must be 1 to 64 characters without spaces, e.g. --run-id demo-1",
                ))
            }
            (Some(id), _) => id.clone(),
            (None, Role::All) => random_hex(8),
            (None, role) => {
                return Err(Failure::input(format!(
                    "--role {} needs --run-id: the same id in every process of the run \
                     (publisher and subscribers), e.g. --run-id demo-1",
                    if role == Role::Publisher {
                        "publisher"
                    } else {
                        "subscriber"
                    }
                )))
            }
        };
        let churn = self.churn_steps(filters.len())?;
        let plan = Plan {
            churn,
            slow_member: self.slow_member,
            filters,
            control: self.control,
            client_id,
            run_id,
            role: self.role,
            subscribers: self.subscribers,
            count: self.count,
            qos: self.qos,
            message: self.message.clone(),
            interval: self.interval,
            timeout: self.timeout,
            hold: !self.no_hold,
            per_message_logs: match self.per_message_logs {
                PerMessageLogs::Auto => self.count <= PER_MESSAGE_LOGS_UP_TO,
                PerMessageLogs::On => true,
                PerMessageLogs::Off => false,
            },
            format: self.format(),
        };
        self.check_aws_limits(&plan)?;
        Ok(plan)
    }

    /// `--churn`'s steps as message numbers, in order, checked against --count, --subscribers
    /// and the rest of the run; and `--slow-member`'s number.
    fn churn_steps(&self, groups: usize) -> Result<Vec<(u32, ChurnAction)>, Failure> {
        let steps = self.churn.as_ref().map_or(&[][..], |churn| &churn.0[..]);
        if steps.is_empty() && self.slow_member.is_none() {
            return Ok(Vec::new());
        }
        let flag = if steps.is_empty() {
            "--slow-member"
        } else {
            "--churn"
        };
        if self.role != Role::All {
            return Err(Failure::input(format!(
                "{flag} needs the publisher and the members in one process (--role all): the \
                 steps follow the publisher's progress"
            )));
        }
        if groups > 1 {
            return Err(Failure::input(format!(
                "{flag} works on one group; leave out the extra --group_identifier values"
            )));
        }
        let joins = steps
            .iter()
            .filter(|step| step.action == ChurnAction::Join)
            .count();
        let members = usize::from(self.subscribers) + joins;
        if let Some((member, _)) = self.slow_member {
            if self.qos == QoS::AtMostOnce {
                return Err(Failure::input(
                    "--slow-member acknowledges slowly, and QoS 0 messages get no acknowledgement: \
                     use --qos 1",
                ));
            }
            if member > self.subscribers {
                return Err(Failure::input(format!(
                    "--slow-member {member}: the group has members 1 to {}; pick one of them",
                    self.subscribers
                )));
            }
        }
        let mut resolved: Vec<(u32, ChurnAction)> = Vec::new();
        for step in steps {
            let at = step.at.message(self.count);
            if at > self.count {
                return Err(Failure::input(format!(
                    "--churn {}@{at}: the run has only {} messages (--count); pick a point within",
                    step.action, self.count
                )));
            }
            if let ChurnAction::Leave(member) | ChurnAction::Drop(member) = step.action {
                if usize::from(member) > members {
                    return Err(Failure::input(format!(
                        "--churn {}: the group has members 1 to {members} (--subscribers, then \
                         one per join); pick one of them",
                        step.action
                    )));
                }
            }
            resolved.push((at, step.action));
        }
        // Stable: steps at the same point keep the order they were given in.
        resolved.sort_by_key(|(at, _)| *at);
        // Walk the steps in order: a member acts only once it is in the group (a joiner after
        // its join), leaves once, and the group never empties (the rest would go to nobody).
        let mut present: Vec<u16> = (1..=self.subscribers).collect();
        let mut joined = self.subscribers;
        for (at, action) in &resolved {
            match *action {
                ChurnAction::Join => {
                    joined += 1;
                    present.push(joined);
                }
                ChurnAction::Leave(member) | ChurnAction::Drop(member) if member > joined => {
                    return Err(Failure::input(format!(
                        "--churn {action}@{at}: member {member} has not joined by then; put its \
                         join@ step before this one"
                    )));
                }
                ChurnAction::Leave(member) | ChurnAction::Drop(member)
                    if !present.contains(&member) =>
                {
                    return Err(Failure::input(format!(
                        "--churn {action}@{at}: member {member} left the group before; it cannot \
                         leave or drop again"
                    )));
                }
                ChurnAction::Leave(member) => {
                    present.retain(|k| *k != member);
                    if present.is_empty() {
                        return Err(Failure::input(format!(
                            "--churn {action}@{at}: the last member would leave, and the rest of \
                             the messages would go to nobody; keep one member, or join one before"
                        )));
                    }
                }
                ChurnAction::Drop(_) => {}
            }
        }
        Ok(resolved)
    }

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

    /// AWS IoT Core's limits: an error for an AWS endpoint (it would close the connection with no
    /// reason given), a warning for any other broker (the same flags would fail on AWS).
    fn check_aws_limits(&self, plan: &Plan) -> Result<(), Failure> {
        let mut findings = aws::limit_findings(plan.filter().topic(), &client_ids(plan));
        let largest_payload = crate::message::payload(&self.message, self.count).len();
        findings.extend(aws::connection_findings(
            self.keep_alive,
            self.session_expiry,
            largest_payload,
        ));
        // A run over processes also publishes its end-of-run marker one level down.
        if plan.role != Role::All && findings.is_empty() {
            let marker = crate::message::end_of_run_topic(plan.filter().topic());
            if !aws::limit_findings(&marker, &[]).is_empty() {
                findings.push(format!(
                    "--role {} also uses the end-of-run marker's topic '{marker}', one level \
                     below --topic, and AWS IoT Core allows at most 7 '/' and 256 bytes: use a \
                     --topic one level shorter",
                    if plan.role == Role::Publisher {
                        "publisher"
                    } else {
                        "subscriber"
                    }
                ));
            }
        }
        let host = self
            .endpoint
            .as_deref()
            .and_then(|endpoint| split_endpoint(endpoint, self.port).ok())
            .map(|(host, _)| host);
        // A printed policy is for AWS by definition.
        let on_aws =
            self.aws || self.print_policy || host.is_some_and(|h| aws::is_aws_endpoint(&h));
        if on_aws {
            if let Some(finding) = findings.into_iter().next() {
                return Err(Failure::input(finding));
            }
            for warning in aws::aws_warnings(self.session_expiry) {
                warn!("{warning}");
            }
            return Ok(());
        }
        for finding in findings {
            warn!("{finding} (a warning here; an error against AWS IoT Core)");
        }
        Ok(())
    }

    /// `--print-policy`: the AWS IoT policy `plan` needs, as JSON. Notes for the reader (a
    /// wildcard and why, placeholders in the ARNs) go to the log, so stdout is the policy alone
    /// and can go straight to a file. A run no policy within AWS's size limit can allow is an
    /// error.
    pub fn policy(&self, plan: &Plan) -> Result<String, Failure> {
        let missing: Vec<(&str, &str)> = [
            (self.region.is_none(), "--region", aws::REGION_PLACEHOLDER),
            (
                self.account.is_none(),
                "--account",
                aws::ACCOUNT_PLACEHOLDER,
            ),
        ]
        .into_iter()
        .filter_map(|(missing, flag, word)| missing.then_some((flag, word)))
        .collect();
        if !missing.is_empty() {
            let (flags, words): (Vec<&str>, Vec<&str>) = missing.into_iter().unzip();
            warn!(
                "the policy's ARNs say {}: pass {}, or replace {} before `aws iot create-policy`",
                words.join(" and "),
                flags.join(" and "),
                if words.len() == 1 { "it" } else { "them" }
            );
        }
        let account = aws::Account {
            region: self.region.as_deref(),
            account: self.account.as_deref(),
        };
        // A run over processes also needs the end-of-run marker's side topic (`message.rs`).
        let end_of_run = (plan.role != Role::All)
            .then(|| crate::message::end_of_run_topic(plan.filter().topic()));
        let ids = client_ids(plan);
        let printed = aws::policy_document(&aws::PolicyFor {
            account,
            client_ids: match &self.client_id {
                Some(prefix) => aws::ClientIds::Exact { prefix, ids: &ids },
                None => aws::ClientIds::MadeUp {
                    prefix: DEFAULT_CLIENT_ID_PREFIX,
                },
            },
            filters: &plan.filters,
            control: plan.control,
            end_of_run: end_of_run.as_deref(),
        })
        .map_err(Failure::input)?;
        for note in printed.notes {
            warn!("{note}");
        }
        Ok(printed.json)
    }

    /// The broker and the files from `--endpoint`, `--port`, `--cert`, `--key` and `--ca_file`.
    ///
    /// People paste endpoints from consoles and docs, so `mqtts://host:8883` and `host:8883` are
    /// taken apart rather than refused; a port inside the endpoint wins over `--port`.
    pub fn target(&self) -> Result<Target, Failure> {
        let (Some(endpoint), Some(cert), Some(key)) = (&self.endpoint, &self.cert, &self.key)
        else {
            return Err(Failure::input(
                "--endpoint, --cert and --key are required (or use --demo)",
            ));
        };
        let (host, port) = split_endpoint(endpoint, self.port)?;
        let proxy = self.proxy(&host, port, |name| std::env::var(name).ok())?;
        Ok(Target {
            host,
            port,
            files: TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                ca: self.ca_file.clone(),
            },
            alpn: if self.alpn.is_empty() {
                default_alpn(port)
            } else {
                self.alpn.clone()
            },
            proxy,
        })
    }

    /// The HTTP proxy for the broker at `host:port`: `--proxy_host`, else the environment
    /// (`env` reads one variable) unless `NO_PROXY` names the host. Says which, once, in the log.
    fn proxy(
        &self,
        host: &str,
        port: u16,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, Failure> {
        let proxy = match &self.proxy_host {
            Some(proxy_host) => Some(Proxy::from_flags(proxy_host, self.proxy_port)),
            None => Proxy::from_env(env, host).transpose(),
        };
        let Some(proxy) = proxy.transpose().map_err(Failure::input)? else {
            return Ok(None);
        };
        // rumqttc writes `CONNECT {host}:{port}` with no brackets, which no proxy can read
        // for an IPv6 address.
        if host.contains(':') {
            return Err(Failure::input(format!(
                "--endpoint '{host}' is an IPv6 address, which cannot go through an HTTP proxy here \
                 ({} from {}); use the broker's host name, or leave the proxy out (NO_PROXY={host})",
                proxy.address(),
                proxy.source
            )));
        }
        let user = match &proxy.credentials {
            Some(credentials) => format!(" as user '{}'", credentials.user),
            None => String::new(),
        };
        tracing::info!(
            "connecting to {host}:{port} via HTTP proxy {}{user} (from {})",
            proxy.address(),
            proxy.source
        );
        Ok(Some(proxy))
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
                "warn,{},mqtt5_shared_subscription={level}",
                crate::demo::LOG_FILTER
            ),
        }
    }
}

/// Every client id a run with these flags connects as: the publisher, each member, and the one
/// `--check` uses. The policy allows exactly these, and AWS's length limit applies to each.
fn client_ids(plan: &Plan) -> Vec<String> {
    let mut ids = vec![plan.publisher_id()];
    ids.extend(plan.member_ids());
    ids.push(plan.check_id());
    ids
}

fn split_endpoint(endpoint: &str, default_port: u16) -> Result<(String, u16), Failure> {
    let trimmed = endpoint.trim();
    let without_scheme = match trimmed.split_once("://") {
        // The scheme is dropped, not obeyed: this tool always speaks TLS, so even `mqtt://` and
        // `tcp://` (plain TCP elsewhere) lead to a TLS connection on the port.
        Some(("mqtts" | "ssl" | "tls" | "mqtt" | "tcp", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Failure::input(format!(
                "--endpoint '{endpoint}': scheme '{scheme}://' is not supported; pass the host name, e.g. --endpoint xxxxxxxx-ats.iot.us-east-1.amazonaws.com"
            )))
        }
        None => trimmed,
    };
    let host_port = without_scheme.trim_end_matches('/');
    if host_port.contains('/') {
        return Err(Failure::input(format!(
            "--endpoint '{endpoint}': looks like a URL with a path; pass only the host name"
        )));
    }
    let (host, port) = match host_port.rsplit_once(':') {
        // An IPv6 literal has colons of its own; only [..]:port carries a port.
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            let port = port.parse().map_err(|_| {
                Failure::input(format!(
                    "--endpoint '{endpoint}': '{port}' is not a port number; pass the port with --port"
                ))
            })?;
            (host, port)
        }
        _ => (host_port, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(Failure::input(format!(
            "--endpoint '{endpoint}': no host name in it"
        )));
    }
    Ok((host.to_owned(), port))
}

/// What a made-up client id starts with (then 8 hex digits): AWS's sample's `test-` prefix.
const DEFAULT_CLIENT_ID_PREFIX: &str = "test-";

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

    #[test]
    fn splits_endpoints_people_paste() {
        let split = |e: &str| split_endpoint(e, 8883).unwrap();
        assert_eq!(split("example.com"), ("example.com".into(), 8883));
        assert_eq!(split("example.com:443"), ("example.com".into(), 443));
        assert_eq!(
            split("mqtts://example.com:8884/"),
            ("example.com".into(), 8884)
        );
        assert_eq!(split("[::1]:1884"), ("::1".into(), 1884));
        assert!(split_endpoint("https://example.com", 8883).is_err());
        assert!(split_endpoint("example.com:port", 8883).is_err());
    }

    #[test]
    fn counts_of_zero_are_refused_with_the_reason() {
        assert!(parse_count("0").unwrap_err().contains("nothing to deliver"));
        assert!(parse_count("10000001").is_err());
        assert!(parse_count("-1").is_err());
        assert_eq!(parse_count("10000000"), Ok(10_000_000));
        assert!(parse_subscribers("0")
            .unwrap_err()
            .contains("at least one member"));
        assert!(parse_subscribers("1001").is_err());
        assert_eq!(parse_subscribers("1"), Ok(1));
    }

    #[test]
    fn durations_are_capped_at_a_day() {
        assert!(parse_timeout("300000000000years")
            .unwrap_err()
            .contains("at most 24h"));
        assert!(parse_interval("25h").unwrap_err().contains("at most 24h"));
        assert_eq!(parse_timeout("24h"), Ok(MAX_DURATION));
        assert_eq!(parse_interval("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn libraries_log_at_warn_or_error() {
        let filter = |args: &[&str]| {
            let mut all = vec!["x", "--demo"];
            all.extend_from_slice(args);
            Args::parse_from(all).log_filter()
        };
        assert_eq!(filter(&["--verbosity", "error"]), "error");
        let quiet = crate::demo::LOG_FILTER;
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
    fn qos_two_is_refused_with_the_reason() {
        assert!(parse_qos("2").unwrap_err().contains("QoS 2"));
        assert_eq!(parse_qos("0").unwrap(), QoS::AtMostOnce);
    }
}
