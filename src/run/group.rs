//! The run's view of the group: who is in, and the gate the publisher follows.
//!
//! Each member's state comes from its own events (subscribed, connection lost, reconnected);
//! the run asks two questions of it: is every member subscribed (then the gate may open), and
//! whom is it still waiting for (what the `holding` event names).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;

use super::event::RunEvent;

/// Where one member stands, as far as the group is concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Membership {
    /// Connecting, or connected and not yet subscribed.
    Joining,
    /// Holds its `$share` subscription: the broker may route messages to it.
    Subscribed,
    /// Its connection broke; it is reconnecting.
    Away,
}

/// The run's view of the group: who is in, and the gate the publisher follows.
pub struct Group {
    members: BTreeMap<String, Membership>,
    /// Members a hold ran out of time for: the run went on without them, and does not hold for
    /// them again until they are back.
    pub given_up: BTreeSet<String>,
    gate: watch::Sender<bool>,
    /// All holds so far, added up.
    pub held: Duration,
}

impl Group {
    /// A group of `member_ids`, all still joining, with the gate open.
    pub fn new(member_ids: &[String]) -> Group {
        let (gate, _) = watch::channel(true);
        Group {
            members: member_ids
                .iter()
                .map(|id| (id.clone(), Membership::Joining))
                .collect(),
            given_up: BTreeSet::new(),
            gate,
            held: Duration::ZERO,
        }
    }

    /// The publisher's side of the gate: true while it may publish.
    pub fn gate(&self) -> watch::Receiver<bool> {
        self.gate.subscribe()
    }

    /// Opens or closes the gate.
    pub fn set_gate(&self, open: bool) {
        self.gate.send_replace(open);
    }

    /// Follows the members' events (the publisher's own outages do not change the group).
    pub fn follow(&mut self, event: &RunEvent) {
        let (member, membership) = match event {
            RunEvent::Subscribed { member, .. } => (member, Membership::Subscribed),
            RunEvent::ConnectionLost { client, .. } => match client.member() {
                Some(member) => (member, Membership::Away),
                None => return,
            },
            // Connected again, but not back in the group until its SUBACK (even with a kept
            // session: see `member.rs`).
            RunEvent::Reconnected { client, .. } => match client.member() {
                Some(member) => (member, Membership::Joining),
                None => return,
            },
            _ => return,
        };
        if let Some(state) = self.members.get_mut(member.client_id()) {
            *state = membership;
            if membership == Membership::Subscribed {
                self.given_up.remove(member.client_id());
            }
        }
    }

    /// `--churn join`: a member that joins now. The group waits for its SUBACK like anyone's.
    pub fn join(&mut self, client_id: &str) {
        self.members
            .insert(client_id.to_owned(), Membership::Joining);
    }

    /// `--churn leave`: a member that leaves for good. The group no longer waits for it.
    pub fn leave(&mut self, client_id: &str) {
        self.members.remove(client_id);
        self.given_up.remove(client_id);
    }

    pub fn all_subscribed(&self) -> bool {
        self.members.values().all(|m| *m == Membership::Subscribed)
    }

    /// Members not subscribed right now that the run still waits for.
    pub fn waiting_for(&self) -> Vec<String> {
        self.members
            .iter()
            .filter(|(id, m)| **m != Membership::Subscribed && !self.given_up.contains(*id))
            .map(|(id, _)| id.clone())
            .collect()
    }
}
