//! Case 10: a member answers a message with PUBACK 0x80 ("unspecified error"). Discarded, or
//! given to another member?
//!
//! MQTT 5.0 §4.8.2 and §4.4:
//!
//! > [MQTT-4.8.2-6] If a Client responds with a PUBACK or PUBREC containing a Reason Code of 0x80
//! > or greater to a PUBLISH packet from the Server, the Server MUST discard the Application
//! > Message and not attempt to send it to any other Subscriber.
//!
//! > [MQTT-4.4.0-2] If PUBACK or PUBREC is received containing a Reason Code of 0x80 or greater
//! > the corresponding PUBLISH packet is treated as acknowledged, and MUST NOT be retransmitted.
//!
//! So MQTT has no "nack and requeue": a member that cannot take a message and says so loses it
//! for the whole group. A worker that wants another member to try must not answer at all (and
//! let its session end, cases 3 to 5), or publish the message again itself.
//!
//! rumqttc's `AsyncClient::ack` can only say success; the probe writes this PUBACK itself
//! (`probe/answers.rs`). m1 takes one message at a time and refuses its first; everything else it
//! acknowledges.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::PubAckReason;
use rumqttc::v5::mqttbytes::QoS;
use tokio::time::Instant;

use super::clauses::OWNERSHIP;
use super::finding::{numbers, Must, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::{granted, Scene, ANSWER};

pub const CASE: &str = "negative-puback";
pub const CLAUSE: &str = "[MQTT-4.8.2-6], [MQTT-4.4.0-2]";

const DISCARD: Must = Must {
    clause: "[MQTT-4.8.2-6]",
    words: "If a Client responds with a PUBACK or PUBREC containing a Reason Code of 0x80 or \
            greater to a PUBLISH packet from the Server, the Server MUST discard the Application \
            Message and not attempt to send it to any other Subscriber",
};

const NOT_AGAIN: Must = Must {
    clause: "[MQTT-4.4.0-2]",
    words: "If PUBACK or PUBREC is received containing a Reason Code of 0x80 or greater the \
            corresponding PUBLISH packet is treated as acknowledged, and MUST NOT be \
            retransmitted",
};

const MESSAGES: u32 = 6;

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let manual = Setup {
        manual_acks: true,
        ..Setup::default()
    };
    let mut m1 = scene.connect("m1", manual).await?;
    granted(&m1, &filter, QoS::AtLeastOnce).await?;
    scene.watch_markers(&m1, QoS::AtLeastOnce).await?;
    let mut m2 = scene
        .member("m2", &filter, QoS::AtLeastOnce, Setup::default())
        .await?;
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene.publish(&publisher, &topic, 1..=MESSAGES).await?;
    let marker = scene.settle(&publisher, [&mut m2]).await?;
    let refused = answer(scene, &mut m1, marker).await;
    // Then a marker from m1 itself, after its PUBACKs on the same connection: whatever the
    // broker does with the refused message (give it to m2, or to m1 again), it does on reading
    // the PUBACK, before it reads the marker.
    let after = scene.marker_after(&m1, &publisher).await?;
    for member in [&mut m1, &mut m2] {
        member.wait_for_marker(after, ANSWER).await;
    }
    let ended = m1.wait_for_end(Duration::ZERO).await;

    let outcome = match refused {
        Some((seq, at)) => {
            let mut outcome = judge(seq, at, m1.seqs(), m2.seqs());
            if let Some(ending) = ended {
                outcome.observed += &format!("; m1's connection was then {ending}");
            }
            outcome
        }
        None => Outcome {
            observed: format!("m1 got nothing to refuse; m2 got {}", numbers(&m2.seqs())),
            verdict: Verdict::Inconclusive("the broker gave m1 no message".into()),
        },
    };
    m1.close().await;
    m2.close().await;
    publisher.close().await;
    Ok(outcome)
}

/// m1's work: it refuses the first message it gets (PUBACK 0x80) and accepts the rest, until
/// `marker`, published after the messages, reaches it too. The refused message and when.
async fn answer(scene: &Scene<'_>, m1: &mut Probe, marker: u32) -> Option<(u32, f64)> {
    let mut refused: Option<(u32, f64)> = None;
    let mut answered = 0;
    let deadline = Instant::now() + ANSWER;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let more = m1
            .wait(left, |got, markers| {
                got.len() > answered || markers.contains(&marker)
            })
            .await;
        let receipts: Vec<_> = m1.received()[answered..].to_vec();
        for receipt in receipts {
            answered += 1;
            match (refused, receipt.seq) {
                (None, Some(seq)) => {
                    m1.ack(&receipt, PubAckReason::UnspecifiedError);
                    refused = Some((seq, scene.now()));
                }
                _ => m1.ack(&receipt, PubAckReason::Success),
            }
        }
        if !more || (m1.has_marker(marker) && m1.received().len() == answered) {
            return refused;
        }
    }
}

fn judge(seq: u32, at: f64, m1_seqs: Vec<u32>, m2_seqs: Vec<u32>) -> Outcome {
    let to_m2 = m2_seqs.contains(&seq);
    let again = m1_seqs.iter().filter(|s| **s == seq).count() > 1;
    let lost: Vec<u32> = (1..=MESSAGES)
        .filter(|s| *s != seq && !m1_seqs.contains(s) && !m2_seqs.contains(s))
        .collect();
    let mut observed = format!(
        "m1 answered #{seq} with PUBACK 0x80 at {at:.2} s; then #{seq} {}; m1 got {}, m2 got {}",
        match (to_m2, again) {
            (false, false) => "went to nobody".to_owned(),
            (true, false) => "went to m2".to_owned(),
            (false, true) => "came to m1 again".to_owned(),
            (true, true) => "went to m2 and came to m1 again".to_owned(),
        },
        numbers(&m1_seqs),
        numbers(&m2_seqs),
    );
    if !lost.is_empty() {
        observed += &format!("; the others never delivered: {}", numbers(&lost));
    }
    let verdict = if to_m2 {
        Verdict::Violates(DISCARD)
    } else if again {
        Verdict::Violates(NOT_AGAIN)
    } else if !lost.is_empty() {
        Verdict::Violates(OWNERSHIP)
    } else {
        Verdict::Conforms
    };
    Outcome { observed, verdict }
}
