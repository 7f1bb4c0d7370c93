//! `--slow-member K=DELAY`: a member that acknowledges each message DELAY after its turn, one
//! at a time, like a consumer that takes DELAY per message. Its PUBACKs are manual
//! (`Broker::manual_acks`), so the broker holds its share back in its queue, not anyone else's.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::AsyncClient;
use tokio::sync::mpsc;

/// A slow member's (`--slow-member`) queue of what it must acknowledge, and the task that
/// works through it. Dropping it stops the task at once, PUBACKs still queued included: after a
/// break they would carry the old connection's packet ids.
pub struct Acker {
    queue: mpsc::UnboundedSender<Publish>,
    task: tokio::task::AbortHandle,
}

impl Acker {
    /// Queues `publish`'s PUBACK, its turn after those before it.
    pub fn owe(&self, publish: &Publish) {
        let _ = self.queue.send(publish.clone());
    }
}

impl Drop for Acker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Acknowledges one message at a time, `delay` after it is its turn: a consumer that takes
/// `delay` per message.
pub fn slow_acks(client: AsyncClient, delay: Duration) -> Acker {
    let (queue, mut pending) = mpsc::unbounded_channel::<Publish>();
    let task = tokio::spawn(async move {
        while let Some(publish) = pending.recv().await {
            tokio::time::sleep(delay).await;
            if client.ack(&publish).await.is_err() {
                break; // the connection is gone for good
            }
        }
    });
    Acker {
        queue,
        task: task.abort_handle(),
    }
}
