//! The publisher's feeder: it queues the publisher's numbered messages at its pace, and first of
//! all any number to send again; but only while the gate is open (see `group.rs`).
//!
//! Its numbers are its stripe of the run's (`numbers.rs`: all of them with one publisher), up to
//! the run's last number, which `--duration` decides only when time is up. Its pace, if it has
//! one (`pace.rs`), applies to every PUBLISH it queues, a message sent again too: AWS IoT Core
//! counts them all against its 100 a second.

use rumqttc::v5::AsyncClient;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::pace::Pace;
use super::publication::Publication;
use crate::message;

/// Queues the publisher's numbers in order, at its pace, and first of all any number the
/// publisher asks to send again; but only while the gate is open.
///
/// Before queueing a message it announces its number on `queued`, so by the time rumqttc writes the
/// message and reports its packet id, the tracker knows which number that is.
pub async fn feed(
    client: AsyncClient,
    publication: Publication,
    mut pace: Option<Pace>,
    queued: mpsc::UnboundedSender<u32>,
    mut again: mpsc::UnboundedReceiver<Vec<u32>>,
    mut gate: watch::Receiver<bool>,
    finish: CancellationToken,
) {
    // Its next new number, by position in its stripe: 1 is its first.
    let mut nth = 1;
    let mut fresh_left = true;
    loop {
        let seqs: Vec<u32> = tokio::select! {
            biased;
            _ = finish.cancelled() => return,
            resend = again.recv() => match resend {
                Some(seqs) => seqs,
                None => return,
            },
            _ = std::future::ready(()), if fresh_left => {
                let next = publication.stripe.nth(nth).filter(|seq| publication.limit.take(*seq));
                nth += 1;
                fresh_left = next.is_some();
                next.into_iter().collect()
            }
        };
        for seq in seqs {
            if !wait_for_its_turn(&mut pace, &mut gate, &finish).await {
                return;
            }
            if queued.send(seq).is_err() {
                return;
            }
            let queued = client
                .publish_with_properties(
                    publication.topic.as_str(),
                    publication.qos,
                    false,
                    message::payload_of_size(&publication.text, seq, publication.payload_size),
                    message::properties(&publication.run_id, seq),
                )
                .await;
            if queued.is_err() {
                return; // the event loop is gone; the polling side reports why
            }
        }
    }
}

/// Waits until the gate is open and the pace lets the next message go, both at once, and books
/// it with the pace. False when the run is over.
///
/// The pace books the moment the message really goes, after a hold too: time spent at a closed
/// gate is not saved up and spent in a burst.
async fn wait_for_its_turn(
    pace: &mut Option<Pace>,
    gate: &mut watch::Receiver<bool>,
    finish: &CancellationToken,
) -> bool {
    loop {
        // Hold while a member is away. `wait_for` returns at once when the gate is open.
        tokio::select! {
            _ = finish.cancelled() => return false,
            open = gate.wait_for(|open| *open) => if open.is_err() { return false },
        }
        let Some(pace) = pace.as_mut() else {
            return true;
        };
        if let Some(due) = pace.due() {
            tokio::select! {
                _ = finish.cancelled() => return false,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
        if *gate.borrow() {
            pace.book();
            return true;
        }
    }
}
