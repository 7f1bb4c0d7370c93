//! What the tally keeps of one message: who got it first, how often, and a byte of facts.
//!
//! A run holds one [`Slot`] per message, so a million-message run holds a million: the slot is
//! kept at 4 bytes, and every fact is a bit.

use super::event::Resend;
use super::summary::Source;
use super::Role;

/// What happened to one message.
#[derive(Clone, Copy, Default)]
pub struct Slot {
    /// Which member got it first: row `first_member - 1` of the books; 0 for none yet,
    /// [`NOT_A_MEMBER`] for a client that is not a member of this run. Members are at most a
    /// few thousand (`cli/`), far below `u16::MAX`.
    pub first_member: u16,
    /// How many times the group received it, up to 255: only "none", "once" and "more than
    /// once" matter here (the total is `Tally::received`).
    pub receipts: u8,
    /// Yes/no facts, one bit each: [`SENT`], [`PUBLISHED`], [`UNROUTED`], [`UNACKNOWLEDGED`],
    /// [`REDELIVERED`], and why the publisher sent it more than once ([`RESENT_UNROUTED`],
    /// [`RESENT_UNACKNOWLEDGED`], [`RESENT_LOST`]).
    flags: u8,
}

/// `first_member` of a receipt by a client outside the books.
pub const NOT_A_MEMBER: u16 = u16::MAX;

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
/// The same member got it again, flagged DUP: the broker delivered it again after a reconnect
/// because our PUBACK never reached it (QoS 1 with a kept session).
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

    /// Nothing left to wait for, as far as a summary's writer can see: with the publisher and
    /// the members, published and received (or reported unrouted); the publisher alone,
    /// published; members alone, received.
    pub fn settled(&self, source: Source) -> bool {
        match source {
            Source::Process(Role::Publisher) => self.is(PUBLISHED),
            Source::Process(Role::Subscriber) => self.receipts > 0,
            Source::Process(Role::All) | Source::Merge => {
                self.is(PUBLISHED) && (self.receipts > 0 || self.is(UNROUTED))
            }
        }
    }

    /// Sent and never received.
    pub fn missing(&self) -> bool {
        self.is(SENT) && self.receipts == 0
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
}
