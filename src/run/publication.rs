//! What one publisher publishes, and what the run hands it besides: the [`Publication`] (its
//! numbers, payload, pace) and the lines [`FromTheRun`] (the gate, what to send again, the end).

use std::sync::Arc;

use rumqttc::v5::mqttbytes::QoS;
use tokio::sync::{mpsc, oneshot, watch};

use super::numbers::{Limit, Stripe};
use super::pace::Asked;
use super::receipts::Receipts;
use super::{Plan, Role};
use crate::message;

/// What to publish.
#[derive(Clone)]
pub struct Publication {
    pub client_id: String,
    pub topic: String,
    /// Message n's payload is `"<text> [n]"`, padded to `payload_size` bytes if set.
    pub text: String,
    pub payload_size: Option<usize>,
    /// Its numbers: j, j+K, j+2K, … of the run's (`numbers.rs`).
    pub stripe: Stripe,
    /// The run's last number, shared by every publisher: `--count`, or decided by `--duration`.
    pub limit: Arc<Limit>,
    pub qos: QoS,
    /// `--interval` or `--rate`, and how many publishers share the rate (`pace.rs`).
    pub asked: Asked,
    pub publishers: u32,
    pub run_id: String,
    /// `Plan::hold`: send again what went to nobody (PUBACK 0x10), and do not send again what a
    /// member already received; off with `--no-hold`.
    pub hold: bool,
    /// What the group has received so far (see `receipts.rs`).
    pub receipts: Arc<Receipts>,
    /// With `--role publisher`, for the first publisher: where to publish the end-of-run marker
    /// for members in other processes (see `message::end_of_run_topic`).
    pub end_of_run: Option<String>,
}

impl Publication {
    /// What publisher `j` (from 1) of `plan` publishes; `receipts` says what the group already
    /// has, `limit` up to which number the run goes.
    pub fn new(plan: &Plan, j: u32, receipts: Arc<Receipts>, limit: Arc<Limit>) -> Publication {
        Publication {
            client_id: plan.publisher_id(j),
            topic: plan.topic().to_owned(),
            text: plan.message.clone(),
            payload_size: plan.payload_size,
            stripe: Stripe::new(j, plan.publishers),
            limit,
            qos: plan.qos,
            asked: plan.pace,
            publishers: plan.publishers,
            run_id: plan.run_id.clone(),
            hold: plan.hold,
            receipts,
            end_of_run: (plan.role == Role::Publisher && j == 1)
                .then(|| message::end_of_run_topic(plan.topic())),
        }
    }

    /// How many of the run's numbers are its own, once the run's last number is decided.
    pub fn own_count(&self, last: Option<u32>) -> Option<u32> {
        last.map(|last| self.stripe.how_many(last))
    }
}

/// What the run hands a publisher besides what to publish.
pub struct FromTheRun {
    /// True while the run lets it publish (every member is subscribed); see the module doc.
    pub gate: watch::Receiver<bool>,
    /// What a member's broken session lost, to send again (see `lost.rs`); `None` when the run
    /// does not. With it, the publisher stays connected until `finish`.
    pub lost: Option<mpsc::UnboundedReceiver<Vec<u32>>>,
    /// With `--role publisher`, for the publisher that sends the end-of-run marker: how many
    /// messages the broker took from all publishers together, once the run is over.
    pub the_end: Option<oneshot::Receiver<u32>>,
}
