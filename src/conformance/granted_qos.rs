//! Case 9: members subscribed at QoS 0, a publisher at QoS 1. At which QoS do members get it?
//!
//! MQTT 5.0 §4.8.2, and the general rule of §3.8.4:
//!
//! > [MQTT-4.8.2-3] The Server MUST respect the granted QoS for the Client's subscription.
//!
//! > [MQTT-3.8.4-8] The QoS of Payload Messages sent in response to a Subscription MUST be the
//! > minimum of the QoS of the originally published message and the Maximum QoS granted by the
//! > Server.
//!
//! Each member's QoS is its own, even inside one group: a message published at QoS 1 reaches a
//! QoS 0 member at QoS 0, with no PUBACK and no redelivery. Losses at QoS 0 are allowed, so
//! they are reported, not judged.

use rumqttc::v5::mqttbytes::QoS;

use super::finding::{numbers, Must, Outcome, Verdict};
use super::probe::Setup;
use super::scene::{granted, Scene};

pub const CASE: &str = "granted-qos";
pub const CLAUSE: &str = "[MQTT-4.8.2-3]";

const GRANTED_QOS: Must = Must {
    clause: "[MQTT-4.8.2-3]",
    words: "The Server MUST respect the granted QoS for the Client's subscription",
};

const MESSAGES: u32 = 10;

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let m1 = scene.connect("m1", Setup::default()).await?;
    let m2 = scene.connect("m2", Setup::default()).await?;
    let g1 = granted(&m1, &filter, QoS::AtMostOnce).await?;
    let g2 = granted(&m2, &filter, QoS::AtMostOnce).await?;
    for member in [&m1, &m2] {
        scene.watch_markers(member, QoS::AtMostOnce).await?;
    }
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene.publish(&publisher, &topic, 1..=MESSAGES).await?;
    let mut members = [m1, m2];
    scene.settle(&publisher, members.iter_mut()).await?;

    let mut too_high = Vec::new();
    let mut per_member = Vec::new();
    let mut got = Vec::new();
    for (member, granted) in members.iter_mut().zip([g1, g2]) {
        let receipts = member.received();
        per_member.push(receipts.iter().filter(|r| r.seq.is_some()).count());
        for receipt in receipts {
            if let Some(seq) = receipt.seq {
                got.push(seq);
                if receipt.qos > granted {
                    too_high.push(seq);
                }
            }
        }
    }
    let missing: Vec<u32> = (1..=MESSAGES).filter(|s| !got.contains(s)).collect();
    let mut observed = format!(
        "asked for QoS 0, granted {g1} and {g2}; {MESSAGES} published at QoS 1: {} arrived \
         (m1 {}, m2 {})",
        MESSAGES as usize - missing.len(),
        per_member[0],
        per_member[1]
    );
    if too_high.is_empty() {
        observed += ", all at QoS 0";
    } else {
        observed += &format!(", at QoS 1: {}", numbers(&too_high));
    }
    if !missing.is_empty() {
        observed += &format!("; lost (QoS 0 allows it): {}", numbers(&missing));
    }
    let verdict = if !too_high.is_empty() {
        Verdict::Violates(GRANTED_QOS)
    } else if missing.len() == MESSAGES as usize {
        Verdict::Inconclusive("no message arrived".into())
    } else {
        Verdict::Conforms
    };
    for probe in members {
        probe.close().await;
    }
    publisher.close().await;
    Ok(Outcome { observed, verdict })
}
