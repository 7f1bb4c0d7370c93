//! Every connection that broke during a run, and when it came back: the summary's `outages`
//! and `reconnects`, kept as the events come.

use tokio::time::Instant;

use super::roster::Client;
use super::summary::OutageSummary;

/// The broken connections so far, in order, on the run's clock.
pub struct Outages {
    list: Vec<OutageSummary>,
    /// Connections that broke and came back, all clients together.
    reconnects: u32,
    started: Instant,
}

impl Outages {
    pub fn new() -> Outages {
        Outages {
            list: Vec::new(),
            reconnects: 0,
            started: Instant::now(),
        }
    }

    /// `client`'s connection broke, for `reason`.
    pub fn lost(&mut self, client: &Client, reason: &str) {
        self.list.push(OutageSummary {
            client_id: client.client_id().to_owned(),
            down_at_ms: self.now_ms(),
            up_at_ms: None,
            attempts: 0,
            reason: reason.to_owned(),
        });
    }

    /// `client`'s connection came back after `attempts`.
    pub fn back(&mut self, client: &Client, attempts: u32) {
        self.reconnects += 1;
        let up_at_ms = self.now_ms();
        let open = self
            .list
            .iter_mut()
            .rev()
            .find(|outage| outage.client_id == client.client_id() && outage.up_at_ms.is_none());
        if let Some(outage) = open {
            outage.up_at_ms = Some(up_at_ms);
            outage.attempts = attempts;
        }
    }

    pub fn reconnects(&self) -> u32 {
        self.reconnects
    }

    pub fn into_list(self) -> Vec<OutageSummary> {
        self.list
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}
