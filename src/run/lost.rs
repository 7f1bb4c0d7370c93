//! Messages lost with a member's session, and the moment the run can be sure of it.
//!
//! A QoS 1 PUBACK says the broker has taken a message, and mosquitto routes it to a member before
//! it answers. If that member's connection then breaks, a clean session keeps nothing: the
//! broker discards what it had routed to it, and nothing will ever send it again. (A fault run
//! of 1,500 messages through two cuts, a SIGKILL and a graceful restart lost two that way in one
//! round of nine.) The run can send such a message again, once the group is complete, but only
//! once it is sure the message is not merely slow: a copy sent while the first is still on its
//! way to a live member arrives twice.
//!
//! Being sure rests on order. MQTT 5 §4.6 asks a broker to deliver the messages of one topic to
//! each subscriber in the order it received them from a publisher, and mosquitto and the demo
//! broker keep one order per connection: so once a member has received a message the broker
//! took *after* message `c`, nothing of `c` is still on its way to that member. Number the
//! publisher's PUBACKs in the order they come (the order the broker took the messages in), keep
//! for each member the highest number it has received on its current session, and call the
//! lowest of those over every member with a live session the *frontier*: every unreceived
//! message below the frontier went to a session that is gone, or to nobody of this run.
//!
//! Only messages a broken session can explain are sent again: those the broker took after the
//! last one that member received before its break, and before the first it received on its new
//! session. Whatever else never arrives (a stranger in the group took it, say) is reported
//! missing, as before. The window of a break counts only once the member is back with a session
//! the broker started anew (`session_present` false): a kept session still delivers its queue.
//!
//! AWS IoT Core does not promise an order ("The message broker doesn't guarantee the order in
//! which messages and ACK are received": developer guide, page "MQTT", section "AWS IoT
//! differences from MQTT specifications"): there a message sent again may arrive twice, and the
//! summary names it (`resent_lost`), a duplicate with a cause.
//!
//! The order is per publisher connection: §4.6 speaks of the messages "received from any given
//! Client", and two publishers' PUBACKs reach the run in an order of their own, which need not be
//! the order the broker routed their messages in. So with `--publishers K` the run keeps one
//! watch per publisher, numbering that publisher's PUBACKs and each member's marks among its
//! messages alone, and hands what one watch finds lost back to the publisher that sent it
//! (`numbers.rs`: who sent a number is arithmetic).
//!
//! ## Without PUBACK 0x10
//!
//! mosquitto answers 0x10, *no matching subscribers*, for a message no member was subscribed
//! to take, and the publisher sends such a message again itself (`Resend::Unrouted`). AWS IoT
//! Core does not: the PUBACK reason codes it lists (developer guide, page "MQTT", section "MQTT
//! reason codes") have no 0x10, so it acknowledges such a message as a success and drops it.
//! This watch covers those too, because it never reads a reason code: a message the broker took
//! while every member was away has a PUBACK number above each member's mark at its break, so it
//! lies in their windows, and is named once they are back and past it. (It is named `lost`,
//! the one name for "acknowledged, and no member got it".) `tests/aws_like.rs` checks it with
//! mosquitto's 0x10 rewritten to 0x00. The hold itself follows the members' connections, not
//! the PUBACKs, so it does not wait for a 0x10 either.
//!
//! What it does not cover, so that such a message is reported missing once `--timeout` has
//! passed, as before:
//!
//! * a member whose session the broker kept (`--session-expiry`): its window closes on its
//!   reconnect, because the broker delivers the session's queue then, and AWS IoT Core sends a
//!   stored queue at most 10 messages a second (developer guide, "MQTT persistent sessions")
//!   while new messages may come first: order would not say that a message is gone;
//! * a member the run went on without (a hold that ran out): it never comes back to close its
//!   window;
//! * a message the broker dropped while no member *broke*: AWS IoT Core documents a delay
//!   between a SUBACK and the first message it routes to that subscription ("AWS IoT
//!   differences from MQTT specifications"), and what it drops then has no window;
//! * runs that send nothing again: `--no-hold`, QoS 0, `--role`, several groups or `--control`
//!   (`Plan::resends_lost`).

use std::collections::{BTreeMap, HashMap};

/// Unreceived messages kept before the watch forgets those order has settled.
const FORGET_ABOVE: usize = 4096;

/// The epoch of a receipt that came on a connection already broken: no session's.
const GONE: u32 = u32::MAX;

/// One member's current session, as far as order goes.
#[derive(Clone, Copy, Default)]
struct Session {
    /// The broker may deliver to it: connected (from the CONNACK on, which the loop hears of
    /// before the member can subscribe), and not gone.
    live: bool,
    /// The highest PUBACK number among what it received on this session; 0 for nothing yet.
    mark: u64,
    /// Counts the member's sessions, so that a receipt is credited to the one it came on.
    epoch: u32,
}

/// The messages a member's break may have lost: PUBACK numbers above `after` and below `before`.
struct Window {
    member: usize,
    after: u64,
    /// The first PUBACK number its next session received; unknown until then.
    before: Option<u64>,
    /// The member is back with a new session: the old one, and what it held, is gone.
    confirmed: bool,
}

/// Watches what the broker took and what the members received, and names what a broken
/// session lost once nothing of it can still arrive.
pub struct LostWatch {
    /// PUBACKs so far, numbering them in the order they came.
    acks: u64,
    /// Taken by the broker, not received yet: PUBACK number → message number.
    waiting: BTreeMap<u64, u32>,
    /// The PUBACK number of each message in `waiting`.
    ack_of: HashMap<u32, u64>,
    /// Received before their PUBACK came: by which member, on which session.
    early: HashMap<u32, (usize, u32)>,
    /// Messages whose PUBACK came at least once, one bit each: a receipt of one of them that is
    /// not waiting is a duplicate or a late copy, and says nothing of order.
    published: Vec<u64>,
    sessions: Vec<Session>,
    windows: Vec<Window>,
}

impl LostWatch {
    /// A watch over messages `1..=count` and `members` members (the rows of the group's books).
    pub fn new(count: u32, members: usize) -> LostWatch {
        LostWatch {
            acks: 0,
            waiting: BTreeMap::new(),
            ack_of: HashMap::new(),
            early: HashMap::new(),
            published: vec![0; (count as usize).div_ceil(64) + 1],
            sessions: vec![Session::default(); members],
            windows: Vec::new(),
        }
    }

    /// The broker took message `seq` (a PUBACK that routed it to someone).
    pub fn published(&mut self, seq: u32) {
        self.acks += 1;
        let ack = self.acks;
        // With `--duration` the count grows as the run goes: so does the bitmap.
        let word = seq as usize / 64;
        if word >= self.published.len() {
            self.published.resize(word + 1, 0);
        }
        self.published[word] |= 1 << (seq % 64);
        match self.early.remove(&seq) {
            Some((member, epoch)) => self.credit(member, epoch, ack),
            None => {
                self.waiting.insert(ack, seq);
                self.ack_of.insert(seq, ack);
            }
        }
        // Keep what waits to what order can still decide; rarely needed, so rarely done.
        if self.waiting.len() > FORGET_ABOVE && self.windows.is_empty() {
            if let Some(frontier) = self.frontier() {
                self.forget_below(frontier);
            }
        }
    }

    /// `member` received message `seq`: on its current session, or, between its break and its
    /// reconnect, on the old connection (rumqttc hands out what it read just before the error
    /// first: `mqtt/link.rs`, `Link::Draining`). Such a copy has arrived, but it says nothing of
    /// the new session: crediting it there would close the break's window before what the
    /// break lost.
    pub fn received(&mut self, member: usize, seq: u32) {
        let Some(session) = self.sessions.get(member).copied() else {
            return;
        };
        let epoch = match session.live {
            true => session.epoch,
            false => GONE,
        };
        match self.ack_of.remove(&seq) {
            Some(ack) => {
                self.waiting.remove(&ack);
                self.credit(member, epoch, ack);
            }
            None if self.was_published(seq) => {} // a duplicate, or a copy that came late
            // Before its PUBACK: credited when the PUBACK comes.
            None => {
                self.early.entry(seq).or_insert((member, epoch));
            }
        }
    }

    /// `member` is connected (its first CONNACK): the broker may route to it from now on.
    pub fn connected(&mut self, member: usize) {
        if let Some(session) = self.sessions.get_mut(member) {
            session.live = true;
        }
    }

    /// `member`'s connection broke: what its session held may be lost (see [`Window`]).
    pub fn broke(&mut self, member: usize) {
        let Some(session) = self.sessions.get_mut(member) else {
            return;
        };
        let after = session.mark;
        *session = Session {
            epoch: session.epoch + 1,
            ..Session::default()
        };
        self.windows.push(Window {
            member,
            after,
            before: None,
            confirmed: false,
        });
    }

    /// `member` is connected again; `kept`: the broker kept its session (and will deliver its
    /// queue), so its break lost nothing.
    pub fn reconnected(&mut self, member: usize, kept: bool) {
        self.windows.retain_mut(
            |window| match window.member == member && !window.confirmed {
                true if kept => false,
                true => {
                    window.confirmed = true;
                    true
                }
                false => true,
            },
        );
        self.connected(member);
    }

    /// `member` is gone for good (it left, or its task ended): nothing more arrives from it.
    pub fn gone(&mut self, member: usize) {
        if let Some(session) = self.sessions.get_mut(member) {
            session.live = false;
        }
    }

    /// The messages now known lost: in a confirmed window, not received, and below the
    /// frontier. Each is named once.
    pub fn lost(&mut self) -> Vec<u32> {
        if !self.windows.iter().any(|window| window.confirmed) {
            return Vec::new();
        }
        let Some(frontier) = self.frontier() else {
            return Vec::new();
        };
        let mut lost = Vec::new();
        for window in self.windows.iter().filter(|window| window.confirmed) {
            let until = window
                .before
                .unwrap_or(u64::MAX)
                .min(frontier.saturating_add(1));
            if window.after + 1 >= until {
                continue;
            }
            lost.extend(
                self.waiting
                    .range(window.after + 1..until)
                    .map(|(ack, seq)| (*ack, *seq)),
            );
        }
        lost.sort_unstable();
        lost.dedup();
        for (ack, seq) in &lost {
            self.waiting.remove(ack);
            self.ack_of.remove(seq);
        }
        self.forget_below(frontier);
        lost.into_iter().map(|(_, seq)| seq).collect()
    }

    /// The lowest mark of every live session: below it, nothing unreceived can still arrive.
    fn frontier(&self) -> Option<u64> {
        let live = self.sessions.iter().filter(|session| session.live);
        live.map(|session| session.mark).min()
    }

    fn was_published(&self, seq: u32) -> bool {
        let word = self.published.get(seq as usize / 64).copied().unwrap_or(0);
        word & (1 << (seq % 64)) != 0
    }

    /// Drops what no window can name any more: windows fully decided, and unreceived messages
    /// below the frontier outside every open window (not ours to send again).
    fn forget_below(&mut self, frontier: u64) {
        self.windows.retain(|window| {
            !(window.confirmed && window.before.is_some_and(|before| before <= frontier + 1))
        });
        let floor = self
            .windows
            .iter()
            .map(|window| window.after)
            .min()
            .unwrap_or(frontier);
        let forgotten: Vec<u64> = self
            .waiting
            .range(..=floor.min(frontier))
            .map(|(ack, _)| *ack)
            .collect();
        for ack in forgotten {
            if let Some(seq) = self.waiting.remove(&ack) {
                self.ack_of.remove(&seq);
            }
        }
    }

    /// `member` received the message of PUBACK `ack` on session `epoch`.
    fn credit(&mut self, member: usize, epoch: u32, ack: u64) {
        let Some(session) = self.sessions.get_mut(member) else {
            return;
        };
        if session.epoch != epoch {
            return; // a receipt of a session that is gone says nothing of this one
        }
        session.mark = session.mark.max(ack);
        // What a broken session held was taken before the first message of the next one.
        for window in self.windows.iter_mut().filter(|w| w.member == member) {
            window.before = Some(window.before.map_or(ack, |before| before.min(ack)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two members, both connected.
    fn watch() -> LostWatch {
        let mut watch = LostWatch::new(100, 2);
        watch.connected(0);
        watch.connected(1);
        watch
    }

    #[test]
    fn what_a_clean_session_held_is_lost_once_every_live_member_is_past_it() {
        let mut watch = watch();
        for seq in 1..=6 {
            watch.published(seq);
        }
        watch.received(0, 1);
        watch.received(1, 2);
        watch.received(0, 3);
        // Member 1 had #4 and #6 on their way when its connection broke.
        watch.broke(1);
        watch.received(0, 5);
        assert!(
            watch.lost().is_empty(),
            "not back yet: its session may be kept"
        );
        watch.reconnected(1, false);
        assert!(
            watch.lost().is_empty(),
            "its new session has received nothing yet"
        );
        for seq in 7..=8 {
            watch.published(seq);
        }
        watch.received(1, 7);
        // Member 0 has #5, taken after #4: #4 is not on its way to it. #6 may be.
        assert_eq!(watch.lost(), [4]);
        watch.received(0, 8);
        assert_eq!(watch.lost(), [6]);
        assert!(watch.lost().is_empty(), "named once");
    }

    #[test]
    fn a_kept_session_loses_nothing() {
        let mut watch = watch();
        (1..=4).for_each(|seq| watch.published(seq));
        watch.received(0, 1);
        watch.broke(1);
        watch.reconnected(1, true);
        watch.published(5);
        watch.received(1, 5);
        watch.received(0, 5);
        assert!(watch.lost().is_empty());
    }

    #[test]
    fn what_never_came_to_a_member_that_stayed_is_not_ours_to_send() {
        let mut watch = watch();
        (1..=4).for_each(|seq| watch.published(seq));
        // #1 went to a stranger in the group; nobody of ours broke.
        watch.received(1, 2);
        watch.received(0, 3);
        watch.received(1, 4);
        assert!(watch.lost().is_empty());
    }

    #[test]
    fn a_receipt_before_its_puback_counts_for_the_session_it_came_on() {
        let mut watch = watch();
        watch.received(0, 1);
        watch.received(1, 2);
        watch.published(1);
        watch.published(2);
        watch.published(3); // on its way to member 1
        watch.broke(1);
        watch.reconnected(1, false);
        watch.received(1, 4); // before #4's PUBACK
        watch.published(4);
        watch.received(0, 5);
        watch.published(5);
        assert_eq!(watch.lost(), [3]);
    }

    #[test]
    fn a_message_received_late_is_never_named() {
        let mut watch = watch();
        (1..=3).for_each(|seq| watch.published(seq));
        watch.broke(1);
        watch.reconnected(1, false);
        watch.received(0, 2); // #1 and #3 may still be on their way to member 0
        watch.received(0, 1);
        watch.published(4);
        watch.received(1, 4);
        watch.received(0, 3);
        assert!(watch.lost().is_empty(), "everything arrived");
    }

    /// A copy the old connection still hands out after the break (rumqttc drains what it had
    /// read) has arrived, but it must not close the break's window: #3 to #5 went to nobody.
    #[test]
    fn a_copy_drained_from_the_broken_connection_does_not_close_the_window() {
        let mut watch = watch();
        (1..=4).for_each(|seq| watch.published(seq));
        watch.received(0, 1);
        watch.received(1, 2);
        watch.broke(0);
        watch.broke(1);
        // Read before the break, handed out after it.
        watch.received(0, 3);
        watch.received(1, 4);
        // Acknowledged, routed to nobody.
        (5..=7).for_each(|seq| watch.published(seq));
        watch.reconnected(0, false);
        watch.reconnected(1, false);
        (8..=9).for_each(|seq| watch.published(seq));
        watch.received(0, 8);
        watch.received(1, 9);
        assert_eq!(watch.lost(), [5, 6, 7]);
    }

    /// AWS IoT Core answers 0x00 where mosquitto says 0x10: what the broker took while every
    /// member was away looks published like any message. It lies in both members' windows, and
    /// is named once both are back and past it.
    #[test]
    fn what_went_to_nobody_without_a_0x10_is_lost_once_the_members_are_past_it() {
        let mut watch = watch();
        (1..=2).for_each(|seq| watch.published(seq));
        watch.received(0, 1);
        watch.received(1, 2);
        watch.broke(0);
        watch.broke(1);
        // Acknowledged as a success, routed to nobody.
        (3..=5).for_each(|seq| watch.published(seq));
        watch.reconnected(0, false);
        watch.reconnected(1, false);
        (6..=7).for_each(|seq| watch.published(seq));
        watch.received(0, 6);
        assert!(watch.lost().is_empty(), "member 1 has received nothing yet");
        watch.received(1, 7);
        assert_eq!(watch.lost(), [3, 4, 5]);
    }

    /// With a kept session the broker delivers the member's queue itself (and AWS IoT Core at
    /// its own pace, not in order with new messages): nothing is named, and what never comes is
    /// reported missing.
    #[test]
    fn kept_sessions_leave_what_went_to_nobody_to_the_report() {
        let mut watch = watch();
        (1..=2).for_each(|seq| watch.published(seq));
        watch.received(0, 1);
        watch.received(1, 2);
        watch.broke(0);
        watch.broke(1);
        (3..=5).for_each(|seq| watch.published(seq));
        watch.reconnected(0, true);
        watch.reconnected(1, true);
        (6..=7).for_each(|seq| watch.published(seq));
        watch.received(0, 6);
        watch.received(1, 7);
        assert!(watch.lost().is_empty());
    }
}
