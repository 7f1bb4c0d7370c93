//! What the tally keeps of one message: who got it first, how often, on which connection, and a
//! byte of facts.
//!
//! A run holds one [`Slot`] per message, so a million-message run holds a million: the slot is
//! kept at 4 bytes, and every fact is a bit.
//!
//! ## Telling a redelivery from a duplicate
//!
//! A member that receives a message a second time was either sent it *again* by the broker (its
//! PUBACK was lost with a broken connection, and the broker kept the session and delivers again
//! what was not acknowledged: MQTT 5 §4.4) or the broker slipped. mosquitto flags the second copy
//! with DUP. AWS IoT Core does not: its developer guide ("MQTT" page, "AWS IoT differences from
//! MQTT specifications") says it does not support the DUP flag, and a message it sends again
//! looks new. So the slot also keeps *which of its first receiver's connections* the first copy
//! came on (see [`Via`]): a second copy at the same member on a later connection of the same
//! kept session is a redelivery, DUP or not. On the same connection, or across a session the
//! broker started anew, it stays a duplicate nobody explained.
//!
//! Only "none, once, more than once" of the receipt count matters (the total is
//! `Tally::received`), so the count takes two bits of a byte and the connection the other six.

use super::event::{Resend, Via};
use super::summary::Source;
use super::Role;

/// What happened to one message.
#[derive(Clone, Copy, Default)]
pub struct Slot {
    /// Which member got it first: row `first_member - 1` of the books; 0 for none yet,
    /// [`NOT_A_MEMBER`] for a client that is not a member of this run. Members are at most a
    /// few thousand (`cli/`), far below `u16::MAX`.
    pub first_member: u16,
    /// Two things in one byte: how many times the group received it ([`RECEIPTS`]: none, once,
    /// more than once), and which of the first receiver's connections the first copy came on,
    /// counted modulo 64 (the bits above).
    receipts: u8,
    /// Yes/no facts, one bit each: [`SENT`], [`PUBLISHED`], [`UNROUTED`], [`UNACKNOWLEDGED`],
    /// [`REDELIVERED`], and why the publisher sent it more than once ([`RESENT_UNROUTED`],
    /// [`RESENT_UNACKNOWLEDGED`], [`RESENT_LOST`]).
    flags: u8,
}

/// `first_member` of a receipt by a client outside the books.
pub const NOT_A_MEMBER: u16 = u16::MAX;

/// The bits of `receipts` that count them: 0, 1, or 2 for "more than once".
const RECEIPTS: u8 = 0b11;
/// The first copy's connection sits above the count, modulo 64.
const CONNECTION_SHIFT: u32 = 2;
const CONNECTIONS: u32 = 1 << (8 - CONNECTION_SHIFT);

/// The publisher sent it at least once. We learn it from its PUBACK, from the publisher's list of
/// unacknowledged messages when it stops, or from a member that received it.
pub const SENT: u8 = 1;
/// The broker took it for good: its final PUBACK at QoS 1, written at QoS 0.
pub const PUBLISHED: u8 = 1 << 1;
/// The final PUBACK said "no matching subscribers": the broker dropped it on arrival, so it will
/// never arrive and nobody needs to wait for it.
pub const UNROUTED: u8 = 1 << 2;
/// Sent, and the publisher stopped before any PUBACK came for it.
pub const UNACKNOWLEDGED: u8 = 1 << 3;
/// The same member got it again: the broker delivered it again after a reconnect because our
/// PUBACK never reached it (QoS 1 with a kept session). Known by the DUP flag, or, where the
/// broker sets none (AWS IoT Core), by the connection the copy came on ([`Slot::came_again`]).
pub const REDELIVERED: u8 = 1 << 4;
/// Sent again once the group was complete, because the broker first routed it to nobody (PUBACK
/// 0x10).
pub const RESENT_UNROUTED: u8 = 1 << 5;
/// Sent again after the publisher's own reconnect, because the old connection broke before the
/// PUBACK came: if the broker had already routed the first copy, the group gets it twice.
pub const RESENT_UNACKNOWLEDGED: u8 = 1 << 6;
/// Sent again because it was lost with a member's connection: the broker had taken it and routed
/// it to a member whose clean session then ended.
pub const RESENT_LOST: u8 = 1 << 7;

/// The flag that says a message was sent again for `cause`.
pub fn resent(cause: Resend) -> u8 {
    match cause {
        Resend::Unrouted => RESENT_UNROUTED,
        Resend::Unacknowledged => RESENT_UNACKNOWLEDGED,
        Resend::Lost => RESENT_LOST,
    }
}

impl Slot {
    pub fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    pub fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// True once the group received it.
    pub fn received(&self) -> bool {
        self.receipts & RECEIPTS > 0
    }

    /// True once the group received it more than once.
    pub fn more_than_once(&self) -> bool {
        self.receipts & RECEIPTS > 1
    }

    /// Counts one receipt, which came `via`; the first one's connection is kept.
    pub fn add_receipt(&mut self, via: Via) {
        let count = self.receipts & RECEIPTS;
        if count == 0 {
            let connection = (via.connection % CONNECTIONS) as u8;
            self.receipts = connection << CONNECTION_SHIFT;
        }
        self.receipts = (self.receipts & !RECEIPTS) | (count + 1).min(2);
    }

    /// True when a later copy at the first receiver, which came `via`, is the broker sending
    /// again what that member's broken connection left unacknowledged: it came on a later
    /// connection than the first copy, and the session of that connection had already begun
    /// when the first copy came (the broker kept it through the reconnects in between). Call it
    /// after the copy is counted.
    ///
    /// Connections are kept modulo 64, so the first copy's connection is known only up to a
    /// multiple of 64: it is one of `c`, `c - 64`, … where `c` is the latest it can be. The
    /// copy is excused only if even the earliest of those (at least 1) lies in the session it
    /// came on. Below 64 connections that is exact; above, a doubtful copy stays unexplained
    /// rather than excused.
    pub fn came_again(&self, via: Via) -> bool {
        let first = u32::from(self.receipts >> CONNECTION_SHIFT);
        let since_first = (via.connection % CONNECTIONS + CONNECTIONS - first) % CONNECTIONS;
        if since_first == 0 || via.connection <= since_first {
            return false; // the same connection (or 64 later: which, we cannot tell)
        }
        let earliest = (via.connection - since_first - 1) % CONNECTIONS + 1;
        earliest >= via.session_since
    }

    /// Nothing left to wait for, as far as a summary's writer can see: with the publisher and
    /// the members, published and received (or reported unrouted); the publisher alone,
    /// published; members alone, received.
    pub fn settled(&self, source: Source) -> bool {
        match source {
            Source::Process(Role::Publisher) => self.is(PUBLISHED),
            Source::Process(Role::Subscriber) => self.received(),
            Source::Process(Role::All) | Source::Merge => {
                self.is(PUBLISHED) && (self.received() || self.is(UNROUTED))
            }
        }
    }

    /// Sent and never received.
    pub fn missing(&self) -> bool {
        self.is(SENT) && !self.received()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_stays_small() {
        // One per message: 4 bytes is 4 MB at a million messages.
        assert_eq!(std::mem::size_of::<Slot>(), 4);
    }

    #[test]
    fn flags_are_bits_of_their_own() {
        let all = [
            SENT,
            PUBLISHED,
            UNROUTED,
            UNACKNOWLEDGED,
            REDELIVERED,
            RESENT_UNROUTED,
            RESENT_UNACKNOWLEDGED,
            RESENT_LOST,
        ];
        assert_eq!(all.iter().fold(0u8, |bits, flag| bits | flag), u8::MAX);
        let mut slot = Slot::default();
        slot.set(UNROUTED, true);
        assert!(slot.is(UNROUTED) && !slot.is(SENT));
        slot.set(UNROUTED, false);
        assert!(!slot.is(UNROUTED));
    }

    fn via(connection: u32, session_since: u32) -> Via {
        Via {
            connection,
            session_since,
        }
    }

    #[test]
    fn the_count_stops_at_more_than_once_and_keeps_the_first_connection() {
        let mut slot = Slot::default();
        assert!(!slot.received());
        slot.add_receipt(via(3, 1));
        assert!(slot.received() && !slot.more_than_once());
        for _ in 0..300 {
            slot.add_receipt(via(9, 9));
        }
        assert!(slot.more_than_once());
        // The first copy came on connection 3; the latest ones did not change that.
        assert!(slot.came_again(via(4, 1)));
        assert!(!slot.came_again(via(3, 1)));
    }

    #[test]
    fn a_later_copy_is_a_redelivery_only_on_a_later_connection_of_a_kept_session() {
        let mut slot = Slot::default();
        slot.add_receipt(via(1, 1));
        slot.add_receipt(via(1, 1));
        assert!(
            !slot.came_again(via(1, 1)),
            "same connection: a broker's slip"
        );
        assert!(slot.came_again(via(2, 1)), "reconnected, session kept");
        assert!(slot.came_again(via(5, 1)), "kept through four reconnects");
        assert!(
            !slot.came_again(via(2, 2)),
            "a new session: the broker kept nothing to send again"
        );
        assert!(
            !slot.came_again(via(3, 2)),
            "kept since connection 2, but the first copy came on 1, before that session"
        );
    }

    #[test]
    fn connections_wrap_at_64_without_excusing_a_copy_on_the_same_connection() {
        let mut slot = Slot::default();
        slot.add_receipt(via(70, 1));
        assert!(!slot.came_again(via(70, 1)));
        assert!(slot.came_again(via(71, 1)));
        // 64 reconnects later looks like the same connection: not excused.
        assert!(!slot.came_again(via(134, 1)));
    }

    /// The first copy came on connection 1; a new session began on 60; a copy on 66 looks 1
    /// connection later (66 - 1 = 65, modulo 64), but the first copy may have come on 1, before
    /// that session: not excused. Whereas a session kept since connection 1 excuses it.
    #[test]
    fn past_64_connections_a_copy_before_the_session_is_not_excused() {
        let mut slot = Slot::default();
        slot.add_receipt(via(1, 1));
        assert!(!slot.came_again(via(66, 60)));
        assert!(
            !slot.came_again(via(66, 2)),
            "kept since 2: 1 may be before it"
        );
        assert!(
            slot.came_again(via(66, 1)),
            "kept since the first connection"
        );
        // Exhaustively below 64 connections: excused exactly when the first copy came on an
        // earlier connection of the same session.
        for first in 1..64u32 {
            let mut slot = Slot::default();
            slot.add_receipt(via(first, 1));
            for connection in 1..64u32 {
                for since in 1..=connection {
                    let truth = first < connection && first >= since;
                    assert_eq!(slot.came_again(via(connection, since)), truth);
                }
            }
        }
    }
}
