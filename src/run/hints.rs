//! The report's hints: when a message is missing or arrived twice, the likely cause in words,
//! from what the summary knows (the broker's answers, the outages, what was sent again, and why).

use std::time::Duration;

use super::summary::{Source, Summary};
use super::Role;
use crate::message::compact_list;

impl Summary {
    /// Hints that name the likely cause of what is wrong, and say what a run went through.
    pub fn hints(&self) -> Vec<String> {
        let mut hints = Vec::new();
        if !self.missing.is_empty() {
            self.missing_hints(&mut hints);
        }
        if !self.duplicated.is_empty() {
            self.duplicate_hints(&mut hints);
        }
        self.resend_hints(&mut hints);
        if self.held_ms > 0 {
            let held = humantime::format_duration(Duration::from_millis(self.held_ms));
            hints.push(match self.went_on_without.is_empty() {
                true => format!("the publisher held for {held} while members were reconnecting"),
                false => format!(
                    "the publisher held for {held}, then went on without {} (--timeout)",
                    self.went_on_without.join(", ")
                ),
            });
        }
        if self.reconnects > 0 && self.missing.is_empty() && self.duplicated.is_empty() {
            hints.push(format!(
                "{} during the run, and still every message arrived exactly once",
                self.reconnects_in_words()
            ));
        }
        // Members alone never know what was sent: the publisher's process does.
        if self.unpublished() > 0 && self.role != Source::Process(Role::Subscriber) {
            hints.push(format!(
                "{} of {} messages were never sent (the run stopped early)",
                self.unpublished(),
                self.count
            ));
        }
        hints
    }

    /// Where the missing messages may have gone.
    fn missing_hints(&self, hints: &mut Vec<String>) {
        hints.push(format!("missing: {}", compact_list(&self.missing, 20)));
        if self.role == Source::Merge {
            hints.push(
                "a subscriber process whose output is not in this merge may hold them; \
                 --merge every process's --json output of the run"
                    .to_owned(),
            );
        }
        if !self.unrouted.is_empty() {
            hints.push(format!(
                "the broker answered 'no matching subscribers' (PUBACK 0x10) for {}: no member was subscribed when they arrived",
                compact_list(&self.unrouted, 10)
            ));
        }
        if !self.unacknowledged.is_empty() {
            hints.push(format!(
                "sent but never acknowledged by the broker (the run stopped first): {}",
                compact_list(&self.unacknowledged, 10)
            ));
        }
        if self.reconnects > 0 || !self.outages.is_empty() {
            hints.push(format!(
                "{} during the run: messages published while members were disconnected are dropped by the broker, \
                 and so are those it had queued for a member whose connection broke",
                self.reconnects_in_words()
            ));
        } else if self.unique == 0 && self.acknowledged > 0 && self.unrouted.is_empty() {
            // Every subscription was granted and the broker took every message, yet nothing
            // came: a broker that lets a client subscribe but not receive (AWS IoT checks
            // iot:Subscribe and iot:Receive separately; mosquitto's ACL checks `read` only
            // when it delivers).
            hints.push(crate::aws::missing_receive_hint(&self.topic, &self.group));
        } else if self.unacknowledged.is_empty() {
            hints.push(format!(
                "the group may have members outside this run (another client subscribed to $share/{}/{}) that got their share, \
                 or the broker dropped them; try a unique --group_identifier",
                self.group, self.topic
            ));
            if self.missing_came_first() {
                // AWS IoT Core developer guide, "MQTT", "AWS IoT differences from MQTT
                // specifications": there may be a delay between a SUBACK and the first message
                // delivered to that subscription.
                hints.push(
                    "they are the run's first messages, before any member received one: a broker that \
                     starts routing to a subscription only a moment after its SUBACK drops them \
                     (AWS IoT Core documents such a delay)"
                        .to_owned(),
                );
            }
        }
    }

    /// True when every missing message came before the first one any member received.
    fn missing_came_first(&self) -> bool {
        let first_received = self
            .members
            .iter()
            .filter_map(|(_, m)| m.messages.first())
            .min();
        matches!((self.missing.last(), first_received), (Some(last), Some(first)) if last < first)
    }

    /// What made the duplicates: the broker's redelivery, or a copy the publisher sent again.
    fn duplicate_hints(&self, hints: &mut Vec<String>) {
        hints.push(format!(
            "duplicated: {}",
            compact_list(&self.duplicated, 20)
        ));
        if !self.redelivered.is_empty() {
            hints.push(format!(
                "redelivered by the broker to the same member after its reconnect, its session kept \
                 (the member's PUBACK was lost with the connection; QoS 1 is at least once){}: {}",
                self.without_dup_in_words(),
                compact_list(&self.redelivered, 10)
            ));
        }
        let also = |list: &[u32]| -> Vec<u32> {
            let duplicated = self.duplicated.iter().copied();
            duplicated
                .filter(|seq| list.binary_search(seq).is_ok())
                .collect()
        };
        let unacknowledged = also(&self.resent_unacknowledged);
        if !unacknowledged.is_empty() {
            hints.push(format!(
                "sent again by the publisher after its reconnect (the PUBACK was lost with the connection; \
                 the broker had already routed the first copy, and QoS 1 is at least once): {}",
                compact_list(&unacknowledged, 10)
            ));
        }
        let lost = also(&self.resent_lost);
        if !lost.is_empty() {
            hints.push(format!(
                "sent again as lost with a member's connection, and the first copy came after all \
                 (a broker that does not keep one order per connection): {}",
                compact_list(&lost, 10)
            ));
        }
        let named = |seq: &u32| {
            [
                &self.redelivered,
                &self.resent_unacknowledged,
                &self.resent_lost,
            ]
            .iter()
            .any(|list| list.binary_search(seq).is_ok())
        };
        let unexplained: Vec<u32> = self
            .duplicated
            .iter()
            .copied()
            .filter(|s| !named(s))
            .collect();
        if unexplained.is_empty() {
            return;
        }
        let (two_members, one_member) = self.who_got_twice(&unexplained);
        if !two_members.is_empty() {
            hints.push(format!(
                "reached two members of the group, which a shared subscription must not do (MQTT 5 §4.8.2): {}",
                compact_list(&two_members, 10)
            ));
        }
        if !one_member.is_empty() {
            hints.push(format!(
                "received twice by the same member with no reconnect of a kept session in between, \
                 and not flagged DUP: nothing explains it (a broker's slip): {}",
                compact_list(&one_member, 10)
            ));
        }
    }

    /// Splits `seqs` (each received more than once) into those that reached two members and
    /// those one member got twice. Looks through every member's list: only when something is
    /// wrong, and once.
    fn who_got_twice(&self, seqs: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let mut receivers: std::collections::BTreeMap<u32, (usize, u32)> =
            seqs.iter().map(|seq| (*seq, (usize::MAX, 0))).collect();
        for (row, (_, member)) in self.members.iter().enumerate() {
            for seq in &member.messages {
                if let Some((first, others)) = receivers.get_mut(seq) {
                    match *first {
                        usize::MAX => *first = row,
                        same if same == row => {}
                        _ => *others += 1,
                    }
                }
            }
        }
        let (two, one): (Vec<_>, Vec<_>) = receivers
            .into_iter()
            .partition(|(_, (_, others))| *others > 0);
        let numbers =
            |list: Vec<(u32, (usize, u32))>| list.into_iter().map(|(seq, _)| seq).collect();
        (numbers(two), numbers(one))
    }

    /// How the redeliveries were told: by the DUP flag, or by the connection they came on.
    fn without_dup_in_words(&self) -> String {
        // AWS IoT Core does not set DUP (developer guide, "MQTT" page, "AWS IoT differences from
        // MQTT specifications"): a copy it sends again looks new but for the connection.
        let without = self.redelivered_without_dup.len();
        let known = "known as such by coming on a later connection of the same kept session";
        match (without, self.redelivered.len()) {
            (0, _) => ", flagged DUP".to_owned(),
            (1, 1) => {
                format!(", which came without the DUP flag (AWS IoT Core sets none), {known}")
            }
            (n, all) if n == all => {
                format!(", all {n} without the DUP flag (AWS IoT Core sets none), {known}")
            }
            (n, all) => format!(", {n} of the {all} without the DUP flag, {known}"),
        }
    }

    /// What the publisher sent again so that the group would get it.
    fn resend_hints(&self, hints: &mut Vec<String>) {
        if !self.resent_unrouted.is_empty() {
            hints.push(format!(
                "sent again once the group was complete, because the broker first routed them to nobody (PUBACK 0x10): {}",
                compact_list(&self.resent_unrouted, 10)
            ));
        }
        if !self.resent_lost.is_empty() {
            hints.push(format!(
                "sent again once the group was complete, because the broker acknowledged them and no member got \
                 them: routed to a member whose connection then broke (a clean session keeps nothing), or, \
                 while no member was subscribed, to nobody (a broker that does not answer PUBACK 0x10, as \
                 AWS IoT Core): {}",
                compact_list(&self.resent_lost, 10)
            ));
        }
    }

    /// One line per broken connection: who, when, for how long.
    pub fn outage_lines(&self) -> Vec<String> {
        self.outages
            .iter()
            .map(|outage| {
                let at = |ms: u64| format!("{:.1}s", ms as f64 / 1000.0);
                match outage.up_at_ms {
                    Some(up) => format!(
                        "{} down at {}, back at {} after {} attempts: {}",
                        outage.client_id,
                        at(outage.down_at_ms),
                        at(up),
                        outage.attempts,
                        outage.reason
                    ),
                    None => format!(
                        "{} down at {}, never back: {}",
                        outage.client_id,
                        at(outage.down_at_ms),
                        outage.reason
                    ),
                }
            })
            .collect()
    }

    fn reconnects_in_words(&self) -> String {
        match (self.reconnects, self.outages.len()) {
            (1, _) => "1 reconnect".to_owned(),
            (0, 1) => "1 broken connection".to_owned(),
            (0, n) => format!("{n} broken connections"),
            (n, _) => format!("{n} reconnects"),
        }
    }
}
