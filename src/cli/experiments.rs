//! The flags of faults and experiments: `--churn`, `--slow-member`, `--no-hold`, and the checks
//! that a churn plan can happen in this run before any member connects.
//!
//! Each step is parsed by `run/churn.rs` (clap calls it); what needs the rest of the command line
//! is checked here: a point within `--count`, a member that exists and is in the group by then,
//! and a group that never empties.

use rumqttc::v5::mqttbytes::QoS;

use super::messages::RoleFlag;
use crate::failure::Failure;
use crate::run::{parse_churn, parse_slow_member, ChurnAction, ChurnStep, DueStep, SlowMember};

/// Experiments with the group and the broker.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Faults and experiments")]
pub struct ExperimentArgs {
    /// Change the group while messages flow, steps at a share of --count or a message number:
    /// leave:K@P (member K leaves for good), drop:K@P (its connection is cut; it comes back),
    /// join@P (a new member joins), e.g. --churn leave:2@30%,join@60%
    #[arg(long, value_name = "STEPS", hide_short_help = true)]
    pub churn: Option<Churn>,

    /// Member K acknowledges each message DELAY after it arrives (manual PUBACKs, one at a
    /// time), e.g. --slow-member 2=50ms: watch what the broker does with a slow member's share
    #[arg(long, value_name = "K=DELAY", value_parser = parse_slow_member, hide_short_help = true)]
    pub slow_member: Option<SlowMember>,

    /// Don't hold the publisher while a member is reconnecting, and don't send again what the
    /// broker routed to nobody (PUBACK 0x10): watch the broker's raw behaviour through an outage
    #[arg(long, hide_short_help = true)]
    pub no_hold: bool,
}

/// `--churn`'s steps; a type of its own, as clap reads a bare `Vec` as a repeated flag.
#[derive(Debug, Clone)]
pub struct Churn(pub Vec<ChurnStep>);

impl std::str::FromStr for Churn {
    type Err = String;
    fn from_str(value: &str) -> Result<Churn, String> {
        parse_churn(value).map(Churn)
    }
}

/// The rest of the run, as far as the experiments care.
pub(super) struct RunShape {
    pub count: u32,
    pub subscribers: u16,
    pub qos: QoS,
    pub role: RoleFlag,
    pub groups: usize,
}

impl ExperimentArgs {
    /// `--churn`'s steps as message numbers, in order, checked against the run; and
    /// `--slow-member`'s number.
    pub(super) fn churn_steps(&self, run: &RunShape) -> Result<Vec<DueStep>, Failure> {
        let steps = self.churn.as_ref().map_or(&[][..], |churn| &churn.0[..]);
        if steps.is_empty() && self.slow_member.is_none() {
            return Ok(Vec::new());
        }
        let flag = if steps.is_empty() {
            "--slow-member"
        } else {
            "--churn"
        };
        if run.role != RoleFlag::All {
            return Err(Failure::input(format!(
                "{flag} needs the publisher and the members in one process (--role all): the \
                 steps follow the publisher's progress"
            )));
        }
        if run.groups > 1 {
            return Err(Failure::input(format!(
                "{flag} works on one group; leave out the extra --group_identifier values"
            )));
        }
        self.check_slow_member(run)?;
        let resolved = place(steps, run)?;
        walk(&resolved, run.subscribers)?;
        Ok(resolved
            .into_iter()
            .map(|(at_seq, action)| DueStep { at_seq, action })
            .collect())
    }

    /// A slow member acknowledges, so it needs QoS 1, and it must be one of the first members.
    fn check_slow_member(&self, run: &RunShape) -> Result<(), Failure> {
        let Some(SlowMember { member, .. }) = self.slow_member else {
            return Ok(());
        };
        if run.qos == QoS::AtMostOnce {
            return Err(Failure::input(
                "--slow-member acknowledges slowly, and QoS 0 messages get no acknowledgement: \
                 use --qos 1",
            ));
        }
        if member > run.subscribers {
            return Err(Failure::input(format!(
                "--slow-member {member}: the group has members 1 to {}; pick one of them",
                run.subscribers
            )));
        }
        Ok(())
    }
}

/// Each step at its message number, within `--count` and naming a member the run will have;
/// sorted, and stable, so steps at the same point keep the order they were given in.
fn place(steps: &[ChurnStep], run: &RunShape) -> Result<Vec<(u32, ChurnAction)>, Failure> {
    let joins = steps
        .iter()
        .filter(|step| step.action == ChurnAction::Join)
        .count();
    let members = usize::from(run.subscribers) + joins;
    let mut resolved = Vec::with_capacity(steps.len());
    for step in steps {
        let at = step.at.message(run.count);
        if at > run.count {
            return Err(Failure::input(format!(
                "--churn {}@{at}: the run has only {} messages (--count); pick a point within",
                step.action, run.count
            )));
        }
        if let ChurnAction::Leave(member) | ChurnAction::Drop(member) = step.action {
            if usize::from(member) > members {
                return Err(Failure::input(format!(
                    "--churn {}: the group has members 1 to {members} (--subscribers, then one \
                     per join); pick one of them",
                    step.action
                )));
            }
        }
        resolved.push((at, step.action));
    }
    resolved.sort_by_key(|(at, _)| *at);
    Ok(resolved)
}

/// Walks the steps in order: a member acts only once it is in the group (a joiner after its
/// join), leaves once, and the group never empties (the rest would go to nobody).
fn walk(steps: &[(u32, ChurnAction)], subscribers: u16) -> Result<(), Failure> {
    let mut present: Vec<u16> = (1..=subscribers).collect();
    let mut joined = subscribers;
    for (at, action) in steps {
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
                        "--churn {action}@{at}: the last member would leave, and the rest of the \
                         messages would go to nobody; keep one member, or join one before"
                    )));
                }
            }
            ChurnAction::Drop(_) => {}
        }
    }
    Ok(())
}
