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

use rumqttc::v5::mqttbytes::v5::ConnAck;
use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{KEEP_SESSION, ONE_MEMBER, OWNERSHIP};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::{granted, Scene};

pub const CASE: &str = "all-members-offline";
pub const CLAUSE: &str = "§4.8.2, [MQTT-3.1.2-23], [MQTT-4.5.0-1]";

const MESSAGES: u32 = 4;
const SESSION: Duration = Duration::from_secs(10);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let kept = Setup {
        session_expiry: SESSION,
        manual_acks: false,
    };
    let (mut m1, connack) = scene.connect_with_connack("m1", kept).await?;
    granted(&m1, &filter, QoS::AtLeastOnce).await?;
    scene.watch_markers(&m1, QoS::AtLeastOnce).await?;
    let mut m2 = scene.member("m2", &filter, QoS::AtLeastOnce, kept).await?;
    let no_sessions = connack
        .properties
        .as_ref()
        .and_then(|p| p.session_expiry_interval)
        == Some(0);
    m1.cut().await;
    m2.cut().await;
    // Let the broker notice both closed sockets before anything is published: nothing announces
    // that it did, so this is a quiet period.
    tokio::time::sleep(scene.quiet()).await;

    let publisher = scene.connect("publisher", Setup::default()).await?;
    let codes = scene.publish(&publisher, &topic, 1..=MESSAGES).await?;

    // m2 comes back first, then m1; each time, a marker says when the broker has sent what it
    // kept. A member whose session is gone has no subscription: nothing can come to it.
    let (mut m2, m2_back) = scene.connect_with_connack("m2", kept).await?;
    scene.settle(&publisher, present(&mut m2, &m2_back)).await?;
    let (mut m1, m1_back) = scene.connect_with_connack("m1", kept).await?;
    let both = present(&mut m1, &m1_back)
        .into_iter()
        .chain(present(&mut m2, &m2_back));
    scene.settle(&publisher, both).await?;
    let back = Back {
        no_sessions,
        codes,
        m2_present: m2_back.session_present,
        m1_present: m1_back.session_present,
        to_m2: m2.seqs(),
        to_m1: m1.seqs(),
    };
    m1.close().await;
    m2.close().await;
    publisher.close().await;
    Ok(back.judge())
}

/// `probe`, if the broker kept its session.
fn present<'p>(probe: &'p mut Probe, back: &ConnAck) -> Option<&'p mut Probe> {
    back.session_present.then_some(probe)
}

/// What the members found when they came back.
struct Back {
    no_sessions: bool,
    /// The PUBACK codes the publisher got.
    codes: Vec<u8>,
    m2_present: bool,
    m1_present: bool,
    to_m2: Vec<u32>,
    to_m1: Vec<u32>,
}

impl Back {
    fn judge(&self) -> Outcome {
        let (to_m1, to_m2) = (&self.to_m1, &self.to_m2);
        let mut acks: Vec<String> = self.codes.iter().map(|c| format!("0x{c:02X}")).collect();
        acks.dedup();
        let mut observed = format!(
            "both members away with kept sessions ({} s{}); {} published (PUBACK {}); m2 back \
             first (session present: {}): got {}; then m1 (session present: {}): got {}",
            SESSION.as_secs(),
            if self.no_sessions {
                ", but the CONNACK set Session Expiry Interval 0"
            } else {
                ""
            },
            numbers(&(1..=MESSAGES).collect::<Vec<_>>()),
            acks.join(", "),
            self.m2_present,
            numbers(to_m2),
            self.m1_present,
            numbers(to_m1),
        );
        let lost: Vec<u32> = (1..=MESSAGES)
            .filter(|s| !to_m1.contains(s) && !to_m2.contains(s))
            .collect();
        let twice = (1..=MESSAGES).any(|s| to_m1.contains(&s) && to_m2.contains(&s));
        if !lost.is_empty() {
            observed += &format!("; never delivered: {}", numbers(&lost));
        }
        let unrouted = self.codes.iter().all(|c| *c == 0x10);
        let verdict = if !self.m1_present || !self.m2_present {
            if self.no_sessions {
                Verdict::NotSupported(
                    "kept sessions: the broker's CONNACK set Session Expiry Interval 0".into(),
                )
            } else {
                Verdict::Violates(KEEP_SESSION)
            }
        } else if twice {
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
        Outcome { observed, verdict }
    }
}
