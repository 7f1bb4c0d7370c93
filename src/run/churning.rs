//! `--churn` as the run carries it out: each step set off once its message is acknowledged.
//!
//! The steps come from the plan in order (`churn.rs` parses them). The loop calls
//! [`Churning::set_off`] on every `published` event; the steps whose point that message reached
//! are told to their member on a line of its own (leave, drop), or start a new member (join), and
//! each is recorded as a `churn` event for the books.

use std::collections::{HashMap, VecDeque};

use tokio::sync::mpsc;

use super::books::Books;
use super::churn::{ChurnAction, ChurnKind, DueStep};
use super::event::RunEvent;
use super::group::Group;
use super::member::Member;
use super::plan::Plan;
use super::roster::MemberRef;
use super::summary::{ChurnSummary, Members};
use super::tasks::{Start, Tasks};

/// The steps still to come, the members that join later, and a line to each member.
pub struct Churning {
    steps: VecDeque<DueStep>,
    /// `join@P` members, set up at the start and started when their step comes, in order.
    joiners: VecDeque<Member>,
    /// Each member's line for its commands, by client id.
    lines: HashMap<String, (MemberRef, mpsc::UnboundedSender<ChurnAction>)>,
    /// The next joiner's number: `--subscribers` + 1, then on.
    next_joiner: u16,
}

impl Churning {
    pub fn new(plan: &Plan) -> Churning {
        Churning {
            steps: plan.churn.iter().copied().collect(),
            joiners: VecDeque::new(),
            lines: HashMap::new(),
            next_joiner: plan.subscribers + 1,
        }
    }

    /// A line for `member`'s commands: the member keeps the receiving end.
    pub fn line(&mut self, member: &MemberRef) -> mpsc::UnboundedReceiver<ChurnAction> {
        let (line, commands) = mpsc::unbounded_channel();
        self.lines
            .insert(member.client_id().to_owned(), (member.clone(), line));
        commands
    }

    /// A member that joins when its `join@P` step comes.
    pub fn join_later(&mut self, member: Member) {
        self.joiners.push_back(member);
    }

    /// Carries out the steps whose point the PUBACK of `seq` reached: tells each member, starts
    /// a joiner, and records the step.
    pub fn set_off(
        &mut self,
        seq: u32,
        plan: &Plan,
        group: &mut Group,
        books: &mut Books,
        tasks: &mut Tasks,
    ) {
        while let Some(step) = self.steps.front().copied() {
            if step.at_seq > seq {
                break;
            }
            self.steps.pop_front();
            let Some(member) = self.apply(step.action, plan, group) else {
                continue;
            };
            if step.action == ChurnAction::Join {
                if let Some(joiner) = self.joiners.pop_front() {
                    tasks.start(Start::Member(joiner));
                }
            }
            books.record(&RunEvent::Churn {
                member,
                step: step.action.kind(),
                at_seq: step.at_seq,
            });
        }
    }

    /// Tells the member what to do and updates the group: a leaving member is no longer waited
    /// for, a joining one is. Returns the member.
    fn apply(&mut self, action: ChurnAction, plan: &Plan, group: &mut Group) -> Option<MemberRef> {
        let client_id = plan.member_id(match action {
            ChurnAction::Leave(k) | ChurnAction::Drop(k) => k,
            ChurnAction::Join => {
                self.next_joiner += 1;
                self.next_joiner - 1
            }
        });
        let (member, line) = self.lines.get(&client_id)?;
        match action {
            ChurnAction::Leave(_) => group.leave(&client_id),
            ChurnAction::Join => group.join(&client_id),
            ChurnAction::Drop(_) => {}
        }
        if action != ChurnAction::Join {
            // A member that already ended (it failed) has nothing to do.
            line.send(action).ok()?;
        }
        Some(member.clone())
    }
}

/// What each `--churn` step was followed by: the member's receipts before and after its point,
/// and the messages missing from its point to the next step's. `missing` gives every message
/// sent and never received, asked only when there are steps.
pub fn effects(
    mut churn: Vec<ChurnSummary>,
    members: &Members,
    missing: impl FnOnce() -> Vec<u32>,
) -> Vec<ChurnSummary> {
    if churn.is_empty() {
        return churn;
    }
    let missing = missing();
    let points: Vec<u32> = churn.iter().map(|step| step.at_seq).collect();
    for (k, step) in churn.iter_mut().enumerate() {
        let messages = members
            .get(&step.client_id)
            .map_or(&[][..], |member| &member.messages[..]);
        step.received_before = messages.iter().filter(|seq| **seq <= step.at_seq).count() as u32;
        step.received_after = messages.len() as u32 - step.received_before;
        // From the member's last receipt before the step: what was on its way to it then
        // belongs to the step too. Up to the next step, which answers for what follows it.
        // A joiner had nothing on its way before its point.
        let since = if step.step == ChurnKind::Join {
            step.at_seq
        } else {
            messages
                .iter()
                .copied()
                .filter(|seq| *seq <= step.at_seq)
                .max()
                .unwrap_or(0)
        };
        let until = points.get(k + 1).copied().unwrap_or(u32::MAX);
        step.missing_since = missing
            .iter()
            .copied()
            .filter(|seq| *seq > since && *seq <= until)
            .collect();
    }
    churn
}
