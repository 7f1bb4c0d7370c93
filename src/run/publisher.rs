//! The publisher: sends messages 1..=count to the plain topic and waits until the broker has them.
//!
//! The publisher knows nothing about the group; it publishes to `test/topic` like any client.
//! The broker sees the `$share` subscriptions and picks one member per message.
//!
//! Two things happen at once here, so they are two tasks:
//!
//! * a *feeder* queues the numbered messages with `AsyncClient::publish` (which returns as soon as
//!   the message is queued, not when it is acknowledged);
//! * this task polls the event loop, which writes the queued messages and reads the PUBACKs.
//!
//! That is what "pipelined" means: rumqttc keeps up to the broker's Receive Maximum messages in
//! flight (20 on mosquitto; 100 on AWS IoT, whose quotas page lists 100 unacknowledged QoS 1
//! publishes per connection, "AWS IoT Core endpoints and quotas", message broker limits) instead
//! of one round trip per message. The reference
//! Python sample waited for each PUBACK and slept a second: 15 s for 10 messages.
//!
//! A message counts as *published* when the broker took responsibility for it: its PUBACK at
//! QoS 1; at QoS 0, when rumqttc hands it to the connection (all QoS 0 promises: a connection that
//! breaks right then loses it).
//!
//! ## When the connection breaks
//!
//! rumqttc drops, on a reconnect to a new session, every message it still held: those written but
//! not yet PUBACKed and those still waiting in its queue. The broker may never have seen them. So the
//! publisher sends them again, which takes knowing *which* numbers they were. rumqttc reports packet
//! ids, not our numbers; the `AckTracker` turns one into the other, and its doc says how it
//! stays right across a reconnect. A message the broker had routed just before the break, with
//! its PUBACK lost on the way, would reach the group twice: at-least-once is all QoS 1 promises. So
//! the publisher first asks `receipts.rs` whether a member already has it, and sends only what
//! no member has (with `--no-hold`, everything, and the report counts the duplicates).
//!
//! ## When the group is not complete
//!
//! A message published while a member is away goes to the members that are left, and while none
//! is left, to nobody: the broker answers PUBACK 0x10, "no matching subscribers", and drops it. So
//! the publisher follows a *gate* that the run opens only while every member is connected and
//! subscribed (`group.rs`, opened and closed by `machine/`): the feeder queues nothing, new or re-sent, while it is closed. A message
//! that still went to nobody (it was on its way when a member dropped) is sent again once the gate
//! opens, at most [`MAX_RESENDS`] times. `--no-hold` leaves the gate open and sends nothing again,
//! to show what the broker does on its own.
//!
//! ## Several publishers, each at its pace
//!
//! One connection carries at most the broker's Receive Maximum in flight (mosquitto: 20), and AWS
//! IoT Core takes at most 100 publishes a second on one: `--publishers K` opens K connections,
//! each one of these tasks with its own feeder, tracker and re-sends, sending its own stripe of
//! the numbers (`numbers.rs`) at its own pace (`pace.rs`). They share what the run shares: the
//! gate, what the group has received (`receipts.rs`), and the run's last number.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::anyhow;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ack_tracker::{AckTracker, Confirmed};
use super::event::{Reporter, Resend, RunEvent};
use super::pace;
use super::publication::{FromTheRun, Publication};
use super::MAX_DURATION;
use crate::message::compact_list;
use crate::mqtt::reason_codes::{self, Accepted};
use crate::mqtt::{Broker, Connection, Polled, Reconnected};

/// How often one message answered "no matching subscribers" (PUBACK 0x10) is sent again. Each
/// re-send waits for the whole group, so more than one is needed only when a member drops again
/// right then; the bound keeps a group that keeps falling apart from looping forever.
pub const MAX_RESENDS: u32 = 3;

/// Publishes every message of its stripe, waits for the broker to take each one, and
/// disconnects. Stops early, without error, when `finish` is cancelled.
pub async fn run(
    broker: Broker,
    publication: Publication,
    reporter: Reporter,
    from_the_run: FromTheRun,
    finish: CancellationToken,
) -> anyhow::Result<()> {
    // Ctrl-C while connecting must not wait out --timeout.
    let (mut connection, connack) = tokio::select! {
        _ = finish.cancelled() => return Ok(()),
        opened = Connection::open(&broker, &publication.client_id) => opened?,
    };
    reporter.connected(connack.session_present).await;

    // The feeder tells the tracker each number it queues (`queued`), and takes numbers to send
    // again (`again`).
    let pace = pace::pace_for(publication.asked, publication.publishers, broker.on_aws);
    let period = pace.as_ref().map_or(Duration::ZERO, pace::Pace::period);
    let (queued_tx, queued_rx) = mpsc::unbounded_channel();
    let (again_tx, again_rx) = mpsc::unbounded_channel();
    let FromTheRun {
        gate,
        lost,
        the_end,
    } = from_the_run;
    let feeder = tokio::spawn(super::feeder::feed(
        connection.client().clone(),
        publication.clone(),
        pace,
        queued_tx,
        again_rx,
        gate.clone(),
        finish.clone(),
    ));
    let count = publication.limit.last();
    let mut publisher = Publisher {
        // A PUBACK may take up to --timeout; at a slow pace the next publish may come later
        // still.
        patience: broker.timeout + period,
        publication: &publication,
        acks: AckTracker::new(publication.stripe, count, publication.qos, queued_rx),
        again: again_tx,
        reporter: &reporter,
        resends: HashMap::new(),
        told_about_unrouted: false,
        lost,
    };
    let published = publisher.publish_all(&mut connection, gate, &finish).await;
    feeder.abort();
    // The books must balance in every ending: say what went out and was never acknowledged.
    let unacknowledged = publisher.acks.unacknowledged();
    if !unacknowledged.is_empty() {
        reporter
            .send(RunEvent::Unacknowledged {
                seqs: unacknowledged,
            })
            .await;
    }
    published?;
    if let Some(the_end) = the_end {
        super::marker::at_the_end(&broker, &mut connection, &publication, the_end, &finish).await;
    }
    connection.close().await
}

/// The polling side of the publisher: what it needs to know while it waits for PUBACKs.
struct Publisher<'a> {
    /// How long a PUBACK may take: `--timeout`, and a period of the pace.
    patience: Duration,
    publication: &'a Publication,
    acks: AckTracker,
    /// Numbers the feeder must send again.
    again: mpsc::UnboundedSender<Vec<u32>>,
    reporter: &'a Reporter,
    /// How often each message was sent again after a PUBACK 0x10.
    resends: HashMap<u32, u32>,
    /// A PUBACK 0x10 that is not sent again is worth one warning, not one per message.
    told_about_unrouted: bool,
    /// What the run asks to send again as lost with a member's session; `None` without.
    lost: Option<mpsc::UnboundedReceiver<Vec<u32>>>,
}

impl Publisher<'_> {
    /// Polls until every message of its stripe is acknowledged (or `finish`; with `lost`, until
    /// `finish` only), sending messages again after a reconnect, a PUBACK 0x10, or when the run
    /// says a member's session lost them.
    async fn publish_all(
        &mut self,
        connection: &mut Connection,
        mut gate: watch::Receiver<bool>,
        finish: &CancellationToken,
    ) -> anyhow::Result<()> {
        let id = &self.publication.client_id;
        // While the gate is closed nothing is sent, so nothing is awaited: the run opens it again
        // within --timeout, and the wait starts over then.
        let patience = self.patience;
        let mut deadline = Instant::now() + patience;
        let mut gate_open = true;
        // The run's last number: known from the start, or once --duration has passed.
        let mut last = self.publication.limit.watch();
        loop {
            let acknowledged = self.acks.acknowledged();
            let own = self.publication.own_count(*last.borrow());
            let all = own.is_some_and(|own| acknowledged >= own);
            if all && self.lost.is_none() {
                return Ok(());
            }
            // Nothing is awaited while the gate is closed, or once everything is acknowledged.
            let until = if gate_open && !all {
                deadline
            } else {
                far_future()
            };
            let silent = || {
                let of = own.map_or(String::new(), |own| format!(" of {own}"));
                anyhow!(
                    "[{id}] no PUBACK within {} (--timeout); {acknowledged}{of} messages acknowledged",
                    humantime::format_duration(patience),
                )
            };
            // What rumqttc has read already comes first (`Connection::buffered`): at most nine
            // packets, so the gate, the count and what was lost wait no longer than that.
            let buffered = connection.buffered();
            let polled = if let Some(polled) = buffered {
                polled
            } else {
                tokio::select! {
                _ = finish.cancelled() => return Ok(()),
                changed = gate.changed() => {
                    if changed.is_err() {
                        return Ok(()); // the run is gone
                    }
                    gate_open = *gate.borrow_and_update();
                    deadline = Instant::now() + patience;
                    continue;
                }
                // The limit lives as long as the publication: this never fails.
                Ok(()) = last.changed() => continue,
                Some(seqs) = next_lost(&mut self.lost) => {
                    self.send_lost_again(seqs);
                    deadline = Instant::now() + patience;
                    continue;
                }
                polled = connection.poll_or(until, silent) => polled?,
                }
            };
            self.reporter.link_news(&polled).await;
            match polled {
                Polled::Event(event) => {
                    let Some(confirmed) = self.acks.confirmed(&event)? else {
                        continue;
                    };
                    deadline = Instant::now() + patience;
                    self.confirmed(confirmed).await?;
                }
                Polled::Lost(_) => {}
                Polled::Reconnected(reconnected) => {
                    deadline = Instant::now() + patience;
                    self.reconnected(&reconnected).await;
                }
            }
        }
    }

    /// The connection came back: what the old one left unacknowledged goes out again.
    async fn reconnected(&mut self, reconnected: &Reconnected) {
        let mut resend = self.acks.reconnected(reconnected, &self.publication.run_id);
        if self.publication.hold {
            self.skip_delivered(&mut resend).await;
        }
        // Only those written before are sent *again*; the rest were still queued.
        let again: Vec<u32> = resend
            .iter()
            .copied()
            .filter(|seq| self.acks.was_written(*seq))
            .collect();
        if !again.is_empty() {
            let (seqs, cause) = (again, Resend::Unacknowledged);
            self.reporter
                .send(RunEvent::SendingAgain { seqs, cause })
                .await;
        }
        if !resend.is_empty() {
            // The feeder only ends once it cannot queue anymore; then polling fails too.
            let _ = self.again.send(resend);
        }
    }

    /// The run found `seqs` lost with a member's session: the broker had taken them, so they are
    /// acknowledged no more until the copies are.
    fn send_lost_again(&mut self, seqs: Vec<u32>) {
        let seqs: Vec<u32> = seqs
            .into_iter()
            .filter(|seq| self.acks.is_done(*seq))
            .collect();
        for seq in &seqs {
            self.acks.will_resend(*seq);
        }
        // The feeder waits for the gate: they go out once the group is complete.
        let _ = self.again.send(seqs);
    }

    /// Takes out of `resend` what a member already received: the broker had routed it, and its
    /// PUBACK was lost with the connection. Sending it again would deliver it twice. It counts as
    /// published, as the broker did take it.
    async fn skip_delivered(&mut self, resend: &mut Vec<u32>) {
        let delivered: Vec<u32> = resend
            .iter()
            .copied()
            .filter(|seq| self.publication.receipts.has(*seq))
            .collect();
        if delivered.is_empty() {
            return;
        }
        resend.retain(|seq| !delivered.contains(seq));
        tracing::info!(
            "[{}] not sending {} again: a member already received them, though their PUBACK was lost with the connection",
            self.publication.client_id,
            compact_list(&delivered, 10)
        );
        for seq in delivered {
            if self.acks.delivered_elsewhere(seq) {
                self.reporter
                    .send(RunEvent::Published {
                        seq,
                        unrouted: false,
                    })
                    .await;
            }
        }
    }

    /// Judges the PUBACK's reason code, sends a message routed to nobody again, and tells the run.
    async fn confirmed(&mut self, confirmed: Confirmed) -> anyhow::Result<()> {
        let seq = confirmed.seq;
        // Which publisher sent which number, for a reader of -v (and the tests).
        tracing::debug!("[{}] #{seq} acknowledged", self.publication.client_id);
        let accepted =
            reason_codes::puback(confirmed.reason, &self.publication.topic).map_err(|refusal| {
                anyhow!(
                    "[{}] PUBLISH #{seq} refused: {refusal}",
                    self.publication.client_id
                )
            })?;
        let unrouted = accepted == Accepted::Unrouted;
        if unrouted && self.publication.hold {
            let resends = self.resends.entry(seq).or_default();
            if *resends < MAX_RESENDS {
                *resends += 1;
                self.acks.will_resend(seq);
                // The feeder waits for the gate: this goes out once the group is complete.
                let _ = self.again.send(vec![seq]);
                let (seqs, cause) = (vec![seq], Resend::Unrouted);
                self.reporter
                    .send(RunEvent::SendingAgain { seqs, cause })
                    .await;
                return Ok(());
            }
        }
        if unrouted && !self.told_about_unrouted {
            self.told_about_unrouted = true;
            tracing::warn!(
                "[{}] the broker took #{seq} but no member was subscribed (PUBACK 0x10, no matching subscribers): it went to nobody; the report counts all such messages",
                self.publication.client_id,
            );
        }
        self.reporter
            .send(RunEvent::Published { seq, unrouted })
            .await;
        Ok(())
    }
}

/// The run's next request to send lost messages again; never, for a publisher that takes none.
async fn next_lost(lost: &mut Option<mpsc::UnboundedReceiver<Vec<u32>>>) -> Option<Vec<u32>> {
    match lost {
        Some(lost) => lost.recv().await,
        None => std::future::pending().await,
    }
}

/// A deadline that does not come: a day on, the longest `--timeout`.
fn far_future() -> Instant {
    Instant::now() + MAX_DURATION
}
