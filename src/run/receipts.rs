//! What the group has received so far: one flag per message number, set by the member that got
//! it, read by the publisher.
//!
//! A QoS 1 PUBACK says the *broker* has a message, and a PUBACK lost with a broken connection
//! says nothing at all: the broker may have routed the message to a member a moment before it
//! crashed. A publisher that re-sends every unacknowledged message after a reconnect (as QoS 1
//! asks) then delivers some of them twice. An application that means exactly once closes that
//! gap end to end: the consumer's own acknowledgement. Here members and publisher share a process, so that
//! acknowledgement is a flag: before sending a message again the publisher asks whether any
//! member already has it.
//!
//! It is shared memory rather than a channel because the publisher needs the answer for a few
//! hundred numbers at the moment of a reconnect, not a stream of events; atomics make it one
//! write per receipt and no lock.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::message::PerMessage;

/// One flag per message number `1..=count`.
pub struct Receipts {
    received: PerMessage<AtomicBool>,
}

impl Receipts {
    pub fn new(count: u32) -> Receipts {
        Receipts {
            received: PerMessage::new(count, || AtomicBool::new(false)),
        }
    }

    /// A member received message `seq`. Numbers outside `1..=count` are ignored.
    pub fn mark(&self, seq: u32) {
        if let Some(flag) = self.received.get(seq) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// True once some member of this run received message `seq`.
    pub fn has(&self, seq: u32) -> bool {
        self.received
            .get(seq)
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_answers_by_number() {
        let receipts = Receipts::new(3);
        receipts.mark(2);
        receipts.mark(0); // not a message number: ignored, no panic
        receipts.mark(9);
        assert_eq!(
            (1..=4).map(|seq| receipts.has(seq)).collect::<Vec<_>>(),
            [false, true, false, false]
        );
    }
}
