//! Case 7: a retained message, and a new shared subscription. Sent or not?
//!
//! MQTT 5.0 §3.3.1.3 ties retained messages to *non-shared* subscriptions:
//!
//! > When a new Non‑shared Subscription is made, the last retained message, if any, on each
//! > matching topic name is sent to the Client as directed by the Retain Handling Subscription
//! > Option.
//!
//! Nothing says the same of a shared one, and no MUST forbids it either. A retained message is
//! a topic's last known value: a group that splits work would take it as one more job for
//! whichever member subscribes first, or, worse, one for every member (emqx #1784). mosquitto
//! sent it before 2.0.13 ("Don't send retained messages when a shared subscription is made",
//! its ChangeLog) and does not since.
//!
//! Two members subscribe after a retained message was published; a plain subscriber then shows
//! that the broker does keep retained messages (otherwise the case proves nothing). The retained
//! message is cleared at the end (an empty retained PUBLISH, §3.3.1.3).

use rumqttc::v5::mqttbytes::QoS;

use super::finding::{Outcome, Verdict};
use super::probe::{Probe, PubAnswer, Setup};
use super::scene::{Scene, ANSWER};

pub const CASE: &str = "retained-message";
pub const CLAUSE: &str = "§3.3.1.3";

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let (publisher, connack) = scene
        .connect_with_connack("publisher", Setup::default())
        .await?;
    match tokio::time::timeout(
        ANSWER,
        publisher.publish(&topic, Some(1), QoS::AtLeastOnce, true),
    )
    .await
    {
        Ok(Ok(PubAnswer::Acked(code))) if code < 0x80 => {}
        other => anyhow::bail!("the retained message #1 was not accepted: {other:?}"),
    }
    let qos = QoS::AtLeastOnce;
    let mut m1 = scene.member("m1", &filter, qos, Setup::default()).await?;
    let mut m2 = scene.member("m2", &filter, qos, Setup::default()).await?;
    let mut plain = scene.member("plain", &topic, qos, Setup::default()).await?;
    // What a broker sends a new subscription as it makes it comes before a marker published
    // after the SUBACKs; one that hands retained messages on from a task of its own may send
    // later, and "no retained message" has no event of its own: then one quiet period more.
    scene
        .settle(&publisher, [&mut plain, &mut m1, &mut m2])
        .await?;
    tokio::time::sleep(scene.quiet()).await;

    let retain_available = connack.properties.as_ref().and_then(|p| p.retain_available);
    let outcome = judge([&mut m1, &mut m2, &mut plain], retain_available);
    // Clear the retained message: an empty payload with RETAIN 1.
    let _ = tokio::time::timeout(ANSWER, publisher.publish(&topic, None, qos, true)).await;
    for probe in [m1, m2, plain, publisher] {
        probe.close().await;
    }
    Ok(outcome)
}

/// The row, from what `m1`, `m2` and `plain` got, and the CONNACK's Retain Available.
fn judge([m1, m2, plain]: [&mut Probe; 3], retain_available: Option<u8>) -> Outcome {
    let got = |probe: &mut Probe| {
        let retain = probe.received().iter().any(|r| r.retain);
        match (probe.seqs().contains(&1), retain) {
            (true, true) => "got it (RETAIN 1)",
            (true, false) => "got it (RETAIN 0)",
            _ => "nothing",
        }
    };
    let observed = format!(
        "retained #1 published, then two members subscribed: m1 {}, m2 {}; a plain subscriber {}",
        got(m1),
        got(m2),
        got(plain),
    );
    let members_got = [m1, m2]
        .into_iter()
        .map(|m| m.seqs().contains(&1))
        .filter(|got| *got)
        .count();
    let verdict = if !plain.seqs().contains(&1) {
        if retain_available == Some(0) {
            Verdict::NotSupported("retained messages (CONNACK Retain Available 0)".into())
        } else {
            Verdict::Inconclusive(
                "the plain subscriber did not get the retained message either".into(),
            )
        }
    } else {
        match members_got {
            0 => Verdict::Conforms,
            1 => Verdict::AllowedVariant(
                "sent to a new member: the spec sends retained messages on a new Non-shared \
                 Subscription, and says nothing of shared ones"
                    .into(),
            ),
            _ => Verdict::AllowedVariant(
                "sent to every new member (one retained message, a copy per member): the spec \
                 sends retained messages on a new Non-shared Subscription, and says nothing of \
                 shared ones"
                    .into(),
            ),
        }
    };
    Outcome { observed, verdict }
}
