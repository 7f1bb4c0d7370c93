//! Case 8: No Local on a shared subscription.
//!
//! No Local asks the broker not to send a client its own messages. On a shared subscription it
//! has no sensible meaning (the group, not the client, receives), so MQTT 5.0 §3.8.3.1 forbids
//! it, and §4.13.1 says what a broker does with a Protocol Error:
//!
//! > [MQTT-3.8.3-4] It is a Protocol Error to set the No Local bit to 1 on a Shared
//! > Subscription.
//!
//! > [MQTT-4.13.1-1] When a Server detects a Malformed Packet or Protocol Error, and a Reason
//! > Code is given in the specification, it MUST close the Network Connection.
//!
//! (The reason code it should send first is 0x82, Protocol Error.) A broker that grants the
//! subscription violates both; one that refuses it in the SUBACK keeps the connection open
//! where the spec says close it, but does not let the subscription through: named as a variant.
//! mosquitto refuses it only since 2.0.20 ("Shared subs aren't allowed to set no-local", its
//! commit 71ddbabb); 2.0.11, Debian 12's, grants it.

use rumqttc::v5::mqttbytes::v5::Filter;
use rumqttc::v5::mqttbytes::QoS;

use super::finding::{Must, Outcome, Verdict};
use super::probe::{Ending, Probe, PubAnswer, Setup, SubAnswer};
use super::scene::{Scene, ANSWER};

pub const CASE: &str = "no-local";
pub const CLAUSE: &str = "[MQTT-3.8.3-4], [MQTT-4.13.1-1]";

const PROTOCOL_ERROR: Must = Must {
    clause: "[MQTT-3.8.3-4], [MQTT-4.13.1-1]",
    words: "It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription … When \
            a Server detects a Malformed Packet or Protocol Error, and a Reason Code is given in \
            the specification, it MUST close the Network Connection",
};

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let mut filter = Filter::new(scene.shared("g", &topic), QoS::AtLeastOnce);
    filter.nolocal = true;
    let mut m1 = scene.connect("m1", Setup::default()).await?;
    let answer = m1.subscribe_with(filter, ANSWER).await;
    let (observed, verdict) = match answer {
        SubAnswer::Ended(Ending::Disconnected(code)) => (
            format!("SUBSCRIBE $share/g/t with No Local: DISCONNECT 0x{code:02X}"),
            Verdict::Conforms,
        ),
        SubAnswer::Ended(ending) => (
            format!("SUBSCRIBE $share/g/t with No Local: the connection was {ending}"),
            Verdict::Conforms,
        ),
        SubAnswer::Refused(code) => (
            format!(
                "SUBSCRIBE $share/g/t with No Local: SUBACK 0x{code:02X}, the connection stayed open"
            ),
            Verdict::AllowedVariant(format!(
                "refused in the SUBACK (0x{code:02X}) instead of closing the connection"
            )),
        ),
        SubAnswer::Granted(qos) => {
            // Granted: does the broker apply No Local to the client's own message?
            let came_back = own_message_returns(scene, &mut m1, &topic).await?;
            (
                format!(
                    "SUBSCRIBE $share/g/t with No Local: granted QoS {qos}, the connection stayed \
                     open; m1's own message #1 {}",
                    if came_back {
                        "came back to it"
                    } else {
                        "did not come back to it"
                    }
                ),
                Verdict::Violates(PROTOCOL_ERROR),
            )
        }
        SubAnswer::Silent => (
            format!("SUBSCRIBE $share/g/t with No Local: no answer within {ANSWER:?}"),
            Verdict::Inconclusive("the broker neither answered nor closed the connection".into()),
        ),
    };
    m1.close().await;
    Ok(Outcome { observed, verdict })
}

/// Publishes message #1 from `m1` to `topic`, then a marker (`scene.rs`) that m1 itself
/// subscribes to without No Local: whether #1 came back to m1 is known once the marker has.
async fn own_message_returns(
    scene: &Scene<'_>,
    m1: &mut Probe,
    topic: &str,
) -> anyhow::Result<bool> {
    scene.watch_markers(m1, QoS::AtLeastOnce).await?;
    let echo =
        tokio::time::timeout(ANSWER, m1.publish(topic, Some(1), QoS::AtLeastOnce, false)).await;
    if !matches!(echo, Ok(Ok(PubAnswer::Acked(code))) if code < 0x80) {
        return Ok(false);
    }
    let marker = scene.publish_marker(m1).await?;
    m1.wait_for_marker(marker, ANSWER).await;
    Ok(m1.seqs().contains(&1))
}
