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
//! write per receipt and no lock. With `--publishers K`, every publisher reads the same flags.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Numbers per chunk of flags: a chunk is made the first time one of its numbers arrives, so a
/// `--duration` run, whose count nobody knows in advance, pays only for the numbers it sends.
const CHUNK: u32 = 64 * 1024;

/// One flag per message number `1..=count`, in chunks made as they are needed.
pub struct Receipts {
    chunks: Box<[OnceLock<Box<[AtomicBool]>>]>,
    count: u32,
}

impl Receipts {
    /// Flags for `1..=count` (with `--duration`, the most the run may send).
    pub fn new(count: u32) -> Receipts {
        Receipts {
            chunks: (0..count.div_ceil(CHUNK))
                .map(|_| OnceLock::new())
                .collect(),
            count,
        }
    }

    /// A member received message `seq`. Numbers outside `1..=count` are ignored.
    pub fn mark(&self, seq: u32) {
        let Some((chunk, at)) = self.place(seq) else {
            return;
        };
        // The last chunk holds only what is left of `count`: a 10-message run keeps 10 flags.
        let first = chunk as u32 * CHUNK;
        let size = CHUNK.min(self.count - first);
        let flags =
            self.chunks[chunk].get_or_init(|| (0..size).map(|_| AtomicBool::new(false)).collect());
        flags[at].store(true, Ordering::Relaxed);
    }

    /// True once some member of this run received message `seq`.
    pub fn has(&self, seq: u32) -> bool {
        self.place(seq)
            .and_then(|(chunk, at)| self.chunks[chunk].get().map(|flags| &flags[at]))
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    /// Which chunk holds `seq`, and where in it.
    fn place(&self, seq: u32) -> Option<(usize, usize)> {
        if seq == 0 || seq > self.count {
            return None;
        }
        let index = seq - 1;
        Some(((index / CHUNK) as usize, (index % CHUNK) as usize))
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
        assert!(!receipts.has(0));
        assert_eq!(
            (1..=4).map(|seq| receipts.has(seq)).collect::<Vec<_>>(),
            [false, true, false, false]
        );
        // Numbers far apart, in chunks of their own.
        let receipts = Receipts::new(10_000_000);
        receipts.mark(9_999_999);
        assert!(receipts.has(9_999_999) && !receipts.has(1) && !receipts.has(10_000_001));
    }
}
