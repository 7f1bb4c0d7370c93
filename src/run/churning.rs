//! `--churn` as the run carries it out: each step set off once its message is acknowledged.
//!
//! The steps come from the plan in order (`churn.rs` parses them). The loop calls
//! [`Churning::set_off`] on every `published` event; the steps whose point that message reached
//! are told to their member on a line of its own (leave, drop), or start a new member (join), and
//! each is recorded as a `churn` event for the books.

use std::collections::{HashMap, VecDeque};

use tokio::sync::mpsc;

use super::books::Books;
use super::churn::{ChurnAction, DueStep};
use super::event::RunEvent;
use super::group::Group;
use super::member::Member;
use super::plan::Plan;
use super::roster::MemberRef;
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
