//! Case 11: a slow member. Strict turns, or routed around?
//!
//! A member that takes one message at a time (Receive Maximum 1, MQTT 5.0 §3.1.2.11.3) and
//! acknowledges each after 100 ms of work shares a group with two fast members. The spec does
//! not say whether the broker should skip a busy member; it says only that it must not flood
//! one:
//!
//! > [MQTT-3.3.4-9] The Server MUST NOT send more than Receive Maximum QoS 1 and QoS 2 PUBLISH
//! > packets for which it has not received PUBACK, PUBCOMP, or PUBREC with a Reason Code of 128
//! > or greater from the Client.
//!
//! Strict turns (mosquitto) keep the slow member's share waiting in the broker's queue: fair in
//! counts, slow in time. Routing around it (skipping a member whose window is full) moves its
//! share to the others. Both are allowed; which one a broker does decides how
//! one slow worker affects latency for the whole group.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::PubAckReason;
use rumqttc::v5::mqttbytes::QoS;
use tokio::time::Instant;

use super::clauses::{OWNERSHIP, RECEIVE_MAXIMUM};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::{granted, Scene, ANSWER};

pub const CASE: &str = "slow-member";
pub const CLAUSE: &str = "§4.8.2, [MQTT-3.3.4-9]";

const MESSAGES: u32 = 30;
/// How long the slow member works on each message before it acknowledges it.
const WORK: Duration = Duration::from_millis(100);
/// Its share, ten messages, takes a second of work; this leaves room for a busy machine.
const LIMIT: Duration = Duration::from_secs(8);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let slow_setup = Setup {
        manual_acks: true,
        ..Setup::default()
    };
    let mut slow = scene.connect("m1", slow_setup).await?;
    granted(&slow, &filter, QoS::AtLeastOnce).await?;
    scene.watch_markers(&slow, QoS::AtLeastOnce).await?;
    let mut fast: Vec<Probe> = Vec::new();
    for name in ["m2", "m3"] {
        fast.push(
            scene
                .member(name, &filter, QoS::AtLeastOnce, Setup::default())
                .await?,
        );
    }
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene.publish(&publisher, &topic, 1..=MESSAGES).await?;
    let acked_at = work(scene, &mut slow, &mut fast).await;
    // Then a marker from the slow member, after its last PUBACK on the same connection: what
    // the broker sends because of those PUBACKs comes before it, to every member.
    let marker = scene.marker_after(&slow, &publisher).await?;
    for member in std::iter::once(&mut slow).chain(fast.iter_mut()) {
        member.wait_for_marker(marker, ANSWER).await;
    }
    let outcome = judge(&mut slow, &mut fast, &acked_at);
    slow.close().await;
    for member in fast {
        member.close().await;
    }
    publisher.close().await;
    Ok(outcome)
}

/// The slow member's work loop: each message, WORK, then its PUBACK, until every message
/// reached the group and the slow member has answered all it got. When each PUBACK went out.
async fn work(scene: &Scene<'_>, slow: &mut Probe, fast: &mut [Probe]) -> Vec<f64> {
    let deadline = Instant::now() + LIMIT;
    let mut acked_at: Vec<f64> = Vec::new();
    loop {
        let total = slow.seqs().len() + fast.iter_mut().map(|m| m.seqs().len()).sum::<usize>();
        let acked = acked_at.len();
        let owed = slow.received().len() > acked;
        if (total >= MESSAGES as usize && !owed) || Instant::now() >= deadline {
            return acked_at;
        }
        let left = deadline - Instant::now();
        if !slow
            .wait_until(left.min(WORK), |got| got.len() > acked)
            .await
        {
            continue;
        }
        tokio::time::sleep(WORK).await;
        let receipt = slow.received()[acked].clone();
        acked_at.push(scene.now());
        slow.ack(&receipt, PubAckReason::Success);
    }
}

fn judge(slow: &mut Probe, fast: &mut [Probe], acked_at: &[f64]) -> Outcome {
    // A message that arrived before the PUBACK of the one before it went out came while the
    // member owed a PUBACK: more than Receive Maximum 1 in flight.
    let flooded: Vec<u32> = slow
        .received()
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, r)| {
            acked_at
                .get(i - 1)
                .is_none_or(|acked| r.at.as_secs_f64() < *acked)
        })
        .filter_map(|(_, r)| r.seq)
        .collect();

    let slow_seqs = slow.seqs();
    let slow_last = slow.received().last().map(|r| r.at.as_secs_f64());
    let mut fast_counts = Vec::new();
    let mut fast_last: f64 = 0.0;
    let mut all: Vec<u32> = slow_seqs.clone();
    for member in fast.iter_mut() {
        let seqs = member.seqs();
        fast_counts.push(seqs.len());
        all.extend(seqs);
        if let Some(last) = member.received().last() {
            fast_last = fast_last.max(last.at.as_secs_f64());
        }
    }
    let missing: Vec<u32> = (1..=MESSAGES).filter(|s| !all.contains(s)).collect();
    let share = MESSAGES as usize / 3;
    let mut observed = format!(
        "m1 (Receive Maximum 1, acknowledges {} ms after each) got {} of {MESSAGES}, the last at \
         {:.2} s; m2 and m3 got {} and {}, the last at {fast_last:.2} s",
        WORK.as_millis(),
        slow_seqs.len(),
        slow_last.unwrap_or(0.0),
        fast_counts[0],
        fast_counts[1],
    );
    if !flooded.is_empty() {
        observed += &format!(
            "; m1 got {} while it still owed a PUBACK",
            numbers(&flooded)
        );
    }
    if !missing.is_empty() {
        observed += &format!("; never delivered: {}", numbers(&missing));
    }
    let verdict = if !flooded.is_empty() {
        Verdict::Violates(RECEIVE_MAXIMUM)
    } else if !missing.is_empty() {
        Verdict::Violates(OWNERSHIP)
    } else if slow_seqs.len() + 1 >= share {
        Verdict::AllowedVariant(
            "strict turns: the slow member keeps its share, which waits for it in the broker"
                .into(),
        )
    } else if slow_seqs.len() * 2 <= share {
        Verdict::AllowedVariant(
            "routed around: the broker gives the slow member's turns to the others".into(),
        )
    } else {
        Verdict::AllowedVariant(
            "partly routed around: the slow member gets less than its share".into(),
        )
    };
    Outcome { observed, verdict }
}
