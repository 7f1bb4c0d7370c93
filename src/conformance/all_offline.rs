//! Case 6: every member of the group is offline, each with a kept session. Messages arrive.
//! Queued for the group, for one member, or dropped? Who gets them on return?
//!
//! The spec says little. §4.8.2 associates a shared subscription with *sessions*, not
//! connections ("A Shared Subscription can be associated with multiple subscribing MQTT
//! Sessions"), and a session outlives its connection for its expiry interval
//! ([MQTT-3.1.2-23] "The Client and Server MUST store the Session State after the Network
//! Connection is closed if the Session Expiry Interval is greater than 0"). Part of that state is
//! "QoS 1 and QoS 2 messages pending transmission to the Client" (§4.1). So the group still has
//! members, and a message the broker accepted must go to one of them ([MQTT-4.5.0-1]). Which one,
//! and whether it waits in that member's queue or the group's, is the broker's choice.
//!
//! A broker may also answer the publisher PUBACK 0x10 ("no matching subscribers") and drop the
//! message: then it does not count the offline sessions as members at all. That is named, as an
//! allowed variant: the spec's words on shared subscriptions do not rule on it.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{KEEP_SESSION, ONE_MEMBER, OWNERSHIP};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::Setup;
use super::scene::Scene;

pub const CASE: &str = "all-members-offline";
pub const CLAUSE: &str = "§4.8.2, [MQTT-3.1.2-23], [MQTT-4.5.0-1]";

const MESSAGES: u32 = 4;
const SESSION: Duration = Duration::from_secs(10);
const WATCH: Duration = Duration::from_secs(1);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let kept = Setup {
        session_expiry: SESSION,
        manual_acks: false,
    };
    let (m1, connack) = scene.connect_with_connack("m1", kept).await?;
    super::scene::granted(&m1, &filter, QoS::AtLeastOnce).await?;
    let mut m1 = m1;
    let mut m2 = scene.member("m2", &filter, QoS::AtLeastOnce, kept).await?;
    let no_sessions = connack
        .properties
        .as_ref()
        .and_then(|p| p.session_expiry_interval)
        == Some(0);
    m1.cut().await;
    m2.cut().await;
    // Let the broker notice both closed sockets before anything is published.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let publisher = scene.connect("publisher", Setup::default()).await?;
    let codes = scene.publish(&publisher, &topic, 1..=MESSAGES).await?;

    // m2 comes back first, then m1.
    let (mut m2, m2_back) = scene.connect_with_connack("m2", kept).await?;
    m2.wait_until(WATCH, |got| got.len() >= MESSAGES as usize)
        .await;
    let (mut m1, m1_back) = scene.connect_with_connack("m1", kept).await?;
    m1.wait_until(WATCH, |got| got.len() >= MESSAGES as usize)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let to_m2 = m2.seqs();
    let to_m1 = m1.seqs();

    let mut acks: Vec<String> = codes.iter().map(|c| format!("0x{c:02X}")).collect();
    acks.dedup();
    let mut observed = format!(
        "both members away with kept sessions ({} s{}); {} published (PUBACK {}); m2 back first \
         (session present: {}): got {}; then m1 (session present: {}): got {}",
        SESSION.as_secs(),
        if no_sessions {
            ", but the CONNACK set Session Expiry Interval 0"
        } else {
            ""
        },
        numbers(&(1..=MESSAGES).collect::<Vec<_>>()),
        acks.join(", "),
        m2_back.session_present,
        numbers(&to_m2),
        m1_back.session_present,
        numbers(&to_m1),
    );
    let lost: Vec<u32> = (1..=MESSAGES)
        .filter(|s| !to_m1.contains(s) && !to_m2.contains(s))
        .collect();
    let twice: Vec<u32> = (1..=MESSAGES)
        .filter(|s| to_m1.contains(s) && to_m2.contains(s))
        .collect();
    if !lost.is_empty() {
        observed += &format!("; never delivered: {}", numbers(&lost));
    }
    let unrouted = codes.iter().all(|c| *c == 0x10);
    let verdict = if !m1_back.session_present || !m2_back.session_present {
        if no_sessions {
            Verdict::NotSupported(
                "kept sessions: the broker's CONNACK set Session Expiry Interval 0".into(),
            )
        } else {
            Verdict::Violates(KEEP_SESSION)
        }
    } else if !twice.is_empty() {
        Verdict::Violates(ONE_MEMBER)
    } else if lost.len() == MESSAGES as usize && unrouted {
        Verdict::AllowedVariant(
            "dropped: with no member online the broker answered PUBACK 0x10 (no matching \
             subscribers), and the kept sessions got nothing"
                .into(),
        )
    } else if !lost.is_empty() {
        Verdict::Violates(OWNERSHIP)
    } else if to_m1.is_empty() {
        // With two members this cannot tell the group's queue from m2's own.
        Verdict::AllowedVariant(
            "all to the first member back (queued for the group, or for that member)".into(),
        )
    } else if to_m2.is_empty() {
        Verdict::AllowedVariant(
            "queued for one member: all of it waited for m1, though m2 was back first".into(),
        )
    } else {
        Verdict::AllowedVariant(format!(
            "queued per member: each offline member kept its turns (m2 {}, m1 {})",
            to_m2.len(),
            to_m1.len()
        ))
    };
    m1.close().await;
    m2.close().await;
    publisher.close().await;
    Ok(Outcome { observed, verdict })
}
