//! What a member makes of each PUBLISH the broker delivers: the end-of-run marker, one of our
//! numbered messages, or a stranger's; the PUBACK a slow member owes; and the receipt it reports.
//!
//! A receipt says which of the member's connections the message came on (`event::Via`), because
//! that is how a redelivery is told where the broker sets no DUP flag. AWS IoT Core is such a
//! broker (developer guide, "MQTT" page, "AWS IoT differences from MQTT specifications": it does
//! not support the DUP flag, and a message it sends again looks new). A member whose broken
//! connection left a message unacknowledged gets it again on its next connection if the broker
//! kept its session; the books (`slot.rs`) know it by the later connection of the same session.

use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;

use super::event::{self, Receipt, Reporter, RunEvent};
use super::member::Member;
use super::slow::Acker;
use crate::message::{self, Origin};

/// Reports a received PUBLISH; every other event is rumqttc's business.
pub async fn report(event: &Event, member: &Member, reporter: &Reporter, acker: Option<&Acker>) {
    let Event::Incoming(Packet::Publish(publish)) = event else {
        return;
    };
    // A slow member owes every QoS 1 message its PUBACK, ours or not.
    if let Some(acker) = acker {
        if publish.qos != QoS::AtMostOnce {
            acker.owe(publish);
        }
    }
    if let Some(marker) = &member.end_of_run {
        if publish.topic == marker.as_bytes() {
            match message::end_of_run(publish, &member.run_id) {
                Some(published) => {
                    reporter
                        .send(RunEvent::EndOfRun {
                            member: member.who.clone(),
                            published,
                        })
                        .await
                }
                None => tracing::debug!(
                    "[{}] an end-of-run marker of another run on {marker}",
                    member.who.client_id()
                ),
            }
            return;
        }
    }
    let seq = match message::identify(publish, &member.run_id) {
        Origin::Ours(seq) => {
            member.receipts.mark(seq);
            Some(seq)
        }
        Origin::Foreign => None,
    };
    let receipt = Receipt {
        member: member.who.clone(),
        seq,
        payload: if member.show_payload {
            event::shown(&publish.payload)
        } else {
            String::new()
        },
        dup: publish.dup,
        via: member.via,
        // Microsecond precision is all a millisecond figure needs.
        latency_ms: seq
            .and(message::age(publish))
            .map(|age| age.as_micros() as f64 / 1000.0),
    };
    reporter.send(RunEvent::Received(receipt)).await;
}
