//! The AWS flags: `--aws`, and `--print-policy`'s `--region` and `--account`; AWS IoT Core's limits
//! held against the run (errors on AWS, warnings elsewhere), and the policy a run needs.

use tracing::warn;

use super::values::{AccountId, Region};
use super::{client_ids, Args, DEFAULT_CLIENT_ID_PREFIX};
use crate::aws;
use crate::failure::Failure;
use crate::run::{Plan, Role};

/// AWS IoT Core, named or implied.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "AWS")]
pub struct AwsArgs {
    /// Hold the run to AWS IoT Core's limits (topic length and depth, client id length, no topic
    /// or client id starting with $, keep-alive 30s-20m, session expiry up to 7 days, payloads up
    /// to 128 KB) as errors, and its quotas (a reconnect at most once a second per client id), as
    /// for an --endpoint named *.iot.*.amazonaws.com; use it for a custom domain or a VPC
    /// endpoint. Elsewhere, breaking the limits is only a warning
    #[arg(long, conflicts_with = "demo", hide_short_help = true)]
    pub aws: bool,

    /// With --print-policy: the AWS region in the policy's ARNs [default: the placeholder REGION]
    #[arg(long, hide_short_help = true)]
    pub region: Option<Region>,

    /// With --print-policy: the 12-digit AWS account id in the policy's ARNs [default: the
    /// placeholder ACCOUNT_ID]
    #[arg(long, hide_short_help = true)]
    pub account: Option<AccountId>,
}

impl Args {
    /// The run talks to AWS IoT Core: `--aws`, an `*.iot.*.amazonaws.com` endpoint, or a printed
    /// policy (which is for AWS by definition).
    pub(crate) fn on_aws(&self) -> bool {
        let host = self.connection.host_port().map(|(host, _)| host);
        self.aws.aws || self.modes.print_policy || host.is_some_and(|h| aws::is_aws_endpoint(&h))
    }

    /// `--region` and `--account` fill in the policy's ARNs and nothing else. Checked here, not
    /// with clap's `requires`: clap 4 let `--demo --region R` through, as `--demo` conflicts with
    /// `--print-policy` and clap then forgives the missing requirement.
    pub(super) fn check_policy_flags(&self) -> Result<(), Failure> {
        if (self.aws.region.is_some() || self.aws.account.is_some()) && !self.modes.print_policy {
            return Err(Failure::input(
                "--region and --account fill in the ARNs of --print-policy, and a run does not use \
                 them; add --print-policy, or leave them out",
            ));
        }
        Ok(())
    }

    /// AWS IoT Core's limits: an error for an AWS endpoint (it would close the connection with no
    /// reason given), a warning for any other broker (the same flags would fail on AWS).
    pub(super) fn check_aws_limits(&self, plan: &Plan) -> Result<(), Failure> {
        let mut findings = aws::limit_findings(plan.filter().topic(), &client_ids(plan));
        // What the largest message weighs: --payload-size, or "<text> [count]". A process of
        // members alone publishes nothing.
        let largest_payload = match (plan.role, plan.payload_size) {
            (Role::Subscriber, _) => aws::Payload::Text(0),
            (_, Some(size)) => aws::Payload::Sized(size),
            (_, None) => {
                aws::Payload::Text(crate::message::payload(&plan.message, plan.count).len())
            }
        };
        findings.extend(aws::connection_findings(
            self.connection.keep_alive.0,
            self.connection.session_expiry.0,
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
                    self.messages.role
                ));
            }
        }
        if self.on_aws() {
            if let Some(finding) = findings.into_iter().next() {
                return Err(Failure::input(finding));
            }
            for warning in aws::aws_warnings(self.connection.session_expiry.0) {
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
        let region = self.aws.region.as_ref().map(|Region(r)| r.as_str());
        let account = self.aws.account.as_ref().map(|AccountId(a)| a.as_str());
        let missing: Vec<(&str, &str)> = [
            (region.is_none(), "--region", aws::REGION_PLACEHOLDER),
            (account.is_none(), "--account", aws::ACCOUNT_PLACEHOLDER),
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
        // A run over processes also needs the end-of-run marker's side topic (`message.rs`).
        let end_of_run = (plan.role != Role::All)
            .then(|| crate::message::end_of_run_topic(plan.filter().topic()));
        let ids = client_ids(plan);
        let printed = aws::policy_document(&aws::PolicyFor {
            account: aws::Account { region, account },
            client_ids: match &self.connection.client_id {
                Some(_) => aws::ClientIds::Exact {
                    prefix: &plan.client_id,
                    ids: &ids,
                },
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
}
