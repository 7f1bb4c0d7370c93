//! The publisher's feeder: it queues the numbered messages, `--interval` apart, and first of all
//! any number to send again; but only while the gate is open (see `group.rs`).

use rumqttc::v5::AsyncClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::publisher::Publication;
use crate::message;

/// Queues messages 1..=count, `interval` apart, and first of all any message the publisher asks
/// to send again; but only while the gate is open.
///
/// Before queueing a message it announces its number on `queued`, so by the time rumqttc writes the
/// message and reports its packet id, the tracker knows which number that is.
pub async fn feed(
    client: AsyncClient,
    publication: Publication,
    queued: mpsc::UnboundedSender<u32>,
    mut again: mpsc::UnboundedReceiver<Vec<u32>>,
    mut gate: watch::Receiver<bool>,
    finish: CancellationToken,
) {
    let mut fresh = 1..=publication.count;
    // `None`: due now. Even a sleep until a moment already past waits for the timer's next tick
    // (about a millisecond), which would cap an --interval 0 run at ~1000 messages a second.
    let mut next_due: Option<Instant> = None;
    loop {
        let seqs: Vec<u32> = tokio::select! {
            biased;
            _ = finish.cancelled() => return,
            resend = again.recv() => match resend {
                Some(seqs) => seqs,
                None => return,
            },
            _ = due(next_due), if !fresh.is_empty() => {
                next_due = (!publication.interval.is_zero())
                    .then(|| Instant::now() + publication.interval);
                fresh.next().into_iter().collect()
            }
        };
        for seq in seqs {
            // Hold while a member is away. `wait_for` returns at once when the gate is open.
            tokio::select! {
                _ = finish.cancelled() => return,
                open = gate.wait_for(|open| *open) => if open.is_err() { return },
            }
            if queued.send(seq).is_err() {
                return;
            }
            let queued = client
                .publish_with_properties(
                    publication.topic.as_str(),
                    publication.qos,
                    false,
                    message::payload(&publication.text, seq),
                    message::properties(&publication.run_id, seq),
                )
                .await;
            if queued.is_err() {
                return; // the event loop is gone; the polling side reports why
            }
        }
    }
}

/// Completes at `when`, or at once for `None`.
async fn due(when: Option<Instant>) {
    if let Some(when) = when {
        tokio::time::sleep_until(when).await;
    }
}
