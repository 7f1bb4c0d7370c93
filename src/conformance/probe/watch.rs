//! What a probe has seen, and waiting for what it has not seen yet: messages as [`Receipt`]s,
//! the scene's markers (`scene.rs`), and the end of its connection.

use std::time::Duration;

use tokio::time::Instant;

use super::answers::Ending;
use super::Probe;

/// One PUBLISH the broker sent to a probe.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Our message number, or `None` for a message of someone else (another run, another tool).
    pub seq: Option<u32>,
    /// The QoS it came with.
    pub qos: u8,
    /// The DUP flag: the broker says it sent this message to this session before.
    pub dup: bool,
    /// The RETAIN flag: a retained message, sent because of a new subscription.
    pub retain: bool,
    /// The packet identifier, which a manual PUBACK must carry.
    pub pkid: u16,
    /// When it arrived, since the case started.
    pub at: Duration,
}

/// What the probe's task passes on: a message under test, or one of the scene's markers (kept
/// apart, so that counting messages never counts a marker).
pub(super) enum Incoming {
    Message(Receipt),
    Marker(u32),
}

impl Probe {
    /// Everything received so far, in order of arrival (markers aside).
    pub fn received(&mut self) -> &[Receipt] {
        while let Ok(incoming) = self.incoming.try_recv() {
            self.take(incoming);
        }
        &self.got
    }

    /// Our message numbers received so far, in order of arrival (repeats included).
    pub fn seqs(&mut self) -> Vec<u32> {
        self.received().iter().filter_map(|r| r.seq).collect()
    }

    /// Waits until `done` holds for what was received, or `limit` passes; true if it held.
    pub async fn wait_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[Receipt]) -> bool,
    ) -> bool {
        self.wait(limit, |got, _| done(got)).await
    }

    /// Waits until marker `marker` has arrived, or `limit` passes; true if it arrived.
    pub async fn wait_for_marker(&mut self, marker: u32, limit: Duration) -> bool {
        self.wait(limit, |_, markers| markers.contains(&marker))
            .await
    }

    /// Whether marker `marker` has arrived.
    pub fn has_marker(&mut self, marker: u32) -> bool {
        self.received();
        self.markers.contains(&marker)
    }

    /// Waits until `done` holds for the messages and the markers received, or `limit` passes;
    /// true if it held.
    pub async fn wait(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[Receipt], &[u32]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.received();
            if done(&self.got, &self.markers) {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(incoming)) => self.take(incoming),
                // The connection ended: nothing more will come.
                Ok(None) => return done(&self.got, &self.markers),
                Err(_) => return false,
            }
        }
    }

    fn take(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Message(receipt) => self.got.push(receipt),
            Incoming::Marker(marker) => self.markers.push(marker),
        }
    }

    /// How the connection ended, if it has; waits at most `limit` for it to end.
    pub async fn wait_for_end(&mut self, limit: Duration) -> Option<Ending> {
        if let Some(task) = &mut self.task {
            match tokio::time::timeout(limit, task).await {
                Ok(Ok(ending)) => self.ending = Some(ending),
                Ok(Err(join)) => self.ending = Some(Ending::Broke(join.to_string())),
                Err(_) => return None,
            }
            self.task = None;
        }
        // What came before the end is still in the channel.
        self.received();
        self.ending.clone()
    }
}
