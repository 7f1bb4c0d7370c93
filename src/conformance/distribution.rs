//! Case 1: how the broker picks the member of a group for each message.
//!
//! The spec defines the *what* and leaves the *how* to the broker (MQTT 5.0 §4.8.2):
//!
//! > A Shared Subscription can be associated with multiple subscribing MQTT Sessions. Like a
//! > Non‑shared Subscription, it has a Topic Filter and Subscription Options; however, a
//! > publication that matches its Topic Filter is only sent to one of its subscribing Sessions.
//!
//! So each message must reach one member, and the choice is the broker's: mosquitto takes the
//! members in strict turns (its `subs.c` moves the member it just used to the end of the list),
//! AWS IoT Core picks at random, EMQX can be set to sticky or hashed strategies. Three members
//! take 300 messages over three subtopics (`<topic>/a`, `/b`, `/c`, in runs of 7, under one
//! `$share/g/<topic>/+` filter), so that a hash of the topic shows as such, and the pattern is named from the numbers:
//! who got which message, in publish order.

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{ONE_MEMBER, OWNERSHIP};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup, SubAnswer};
use super::scene::{Scene, ANSWER};

pub const CASE: &str = "distribution";
pub const CLAUSE: &str = "§4.8.2";

const MEMBERS: usize = 3;
const MESSAGES: u32 = 300;
const SUBTOPICS: [&str; 3] = ["a", "b", "c"];

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let first = scene.connect("m1", Setup::default()).await?;
    let (filter, topics) = subscribe_first(scene, &first).await?;
    scene.watch_markers(&first, QoS::AtLeastOnce).await?;
    let mut members: Vec<Probe> = vec![first];
    for k in 2..=MEMBERS {
        let name = format!("m{k}");
        members.push(
            scene
                .member(&name, &filter, QoS::AtLeastOnce, Setup::default())
                .await?,
        );
    }
    let publisher = scene.connect("publisher", Setup::default()).await?;
    // Runs of 7 messages per subtopic: a topic hash then shows as runs of one member, which
    // strict turns never make (with 3 subtopics in turn, a hash would look like round-robin).
    let topic_of: Vec<usize> = (0..MESSAGES as usize)
        .map(|i| (i / 7) % topics.len())
        .collect();
    let messages = (1..=MESSAGES).map(|seq| (topics[topic_of[seq as usize - 1]].clone(), seq));
    scene.publish_each(&publisher, messages).await?;
    scene.settle(&publisher, members.iter_mut()).await?;

    // Who got each message, in publish order.
    let mut owners: Vec<Vec<usize>> = vec![Vec::new(); MESSAGES as usize];
    for (index, member) in members.iter_mut().enumerate() {
        for seq in member.seqs() {
            if let Some(slot) = owners.get_mut(seq as usize - 1) {
                slot.push(index);
            }
        }
    }
    let outcome = judge(&owners, &topic_of, topics.len());
    for member in members {
        member.close().await;
    }
    publisher.close().await;
    Ok(outcome)
}

/// Subscribes m1 to `$share/g/<topic>/+`, so that a hash of the topic can show; a broker that
/// refuses wildcards in a shared filter (case 12 says so) still gets its pattern measured on one
/// plain topic. The filter the members share, and the topics to publish to.
async fn subscribe_first(
    scene: &Scene<'_>,
    first: &Probe,
) -> anyhow::Result<(String, Vec<String>)> {
    let topic = scene.topic();
    let wildcard = scene.shared("g", &format!("{topic}/+"));
    if let SubAnswer::Granted(_) = first.subscribe(&wildcard, QoS::AtLeastOnce, ANSWER).await {
        let topics = SUBTOPICS.iter().map(|sub| format!("{topic}/{sub}"));
        return Ok((wildcard, topics.collect()));
    }
    let plain = scene.shared("plain", &topic);
    match first.subscribe(&plain, QoS::AtLeastOnce, ANSWER).await {
        SubAnswer::Granted(_) => Ok((plain, vec![topic])),
        other => anyhow::bail!("m1's SUBSCRIBE {plain} was not granted: {other:?}"),
    }
}

/// The row, from `owners[i]`: the members that got message i+1.
fn judge(owners: &[Vec<usize>], topic_of: &[usize], topics: usize) -> Outcome {
    let missing: Vec<u32> = seqs_where(owners, |o| o.is_empty());
    let doubled: Vec<u32> = seqs_where(owners, |o| o.len() > 1);
    let (single, single_topics): (Vec<usize>, Vec<usize>) = owners
        .iter()
        .zip(topic_of)
        .filter_map(|(o, &t)| o.first().map(|&o| (o, t)))
        .unzip();
    let pattern = Pattern::of(&single, &single_topics, MEMBERS, topics);

    let counts: Vec<String> = (0..MEMBERS)
        .map(|m| {
            let got = single.iter().filter(|&&o| o == m).count();
            format!("m{} {got}", m + 1)
        })
        .collect();
    let mut observed = format!(
        "{MESSAGES} messages over {} to {MEMBERS} members: {}; {}",
        if topics > 1 {
            "3 subtopics (one $share/g/t/+ filter)"
        } else {
            "one topic (the broker refused the wildcard filter)"
        },
        counts.join(", "),
        pattern.evidence
    );
    if !missing.is_empty() {
        observed += &format!("; never delivered: {}", numbers(&missing));
    }
    if !doubled.is_empty() {
        observed += &format!("; delivered to two members: {}", numbers(&doubled));
    }
    let verdict = if !missing.is_empty() {
        Verdict::Violates(OWNERSHIP)
    } else if !doubled.is_empty() {
        Verdict::Violates(ONE_MEMBER)
    } else {
        Verdict::AllowedVariant(pattern.name)
    };
    Outcome { observed, verdict }
}

fn seqs_where(owners: &[Vec<usize>], keep: impl Fn(&Vec<usize>) -> bool) -> Vec<u32> {
    owners
        .iter()
        .enumerate()
        .filter(|(_, o)| keep(o))
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

/// The distribution pattern a sequence of owners shows, with the numbers behind the name.
#[derive(Debug, PartialEq, Eq)]
pub struct Pattern {
    pub name: String,
    pub evidence: String,
}

impl Pattern {
    /// `owners[i]`: the member that got message i+1 (messages delivered exactly once only, in
    /// publish order); `topic_of[i]`: its subtopic.
    pub fn of(owners: &[usize], topic_of: &[usize], members: usize, topics: usize) -> Pattern {
        let total = owners.len().max(1);
        let most = (0..members)
            .map(|m| owners.iter().filter(|&&o| o == m).count())
            .max()
            .unwrap_or(0);
        // Every window of `members` consecutive messages reaches every member: strict turns.
        let windows: Vec<&[usize]> = owners.windows(members).collect();
        let full = windows
            .iter()
            .filter(|w| {
                let mut seen = w.to_vec();
                seen.sort_unstable();
                seen.dedup();
                seen.len() == members
            })
            .count();
        let longest_run = owners
            .chunk_by(|a, b| a == b)
            .map(<[usize]>::len)
            .max()
            .unwrap_or(0);
        // Each subtopic's messages all went to one member.
        let per_topic_owner = (0..topics).all(|t| {
            let mut owners_of_t: Vec<usize> = owners
                .iter()
                .zip(topic_of)
                .filter(|(_, &topic)| topic == t)
                .map(|(&o, _)| o)
                .collect();
            owners_of_t.sort_unstable();
            owners_of_t.dedup();
            owners_of_t.len() <= 1
        });
        let used = {
            let mut used = owners.to_vec();
            used.sort_unstable();
            used.dedup();
            used.len()
        };
        let evidence = format!(
            "windows of {members} consecutive messages that reached all {members}: {full} of {}; \
             longest run to one member: {longest_run}",
            windows.len()
        );
        let name = if windows.is_empty() {
            "too few messages to tell".to_owned()
        } else if most * 100 >= total * 95 {
            "sticky: one member takes (nearly) everything (a hash of the publisher looks the same)"
                .to_owned()
        } else if full * 100 >= windows.len() * 95 {
            "round-robin: strict turns".to_owned()
        } else if topics > 1 && per_topic_owner && used > 1 {
            "hashed by topic: each subtopic always to the same member".to_owned()
        } else {
            "random (or another strategy): no fixed turn, no fixed owner".to_owned()
        };
        Pattern { name, evidence }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(n: usize) -> Vec<usize> {
        (0..n).map(|i| (i / 7) % 3).collect()
    }

    #[test]
    fn strict_turns_are_round_robin_whoever_starts() {
        let owners: Vec<usize> = (0..300).map(|i| (i + 2) % 3).collect();
        let pattern = Pattern::of(&owners, &topics(300), 3, 3);
        assert!(pattern.name.starts_with("round-robin"), "{pattern:?}");
        assert!(pattern.evidence.contains("298 of 298"), "{pattern:?}");
    }

    #[test]
    fn one_owner_is_sticky_and_a_topic_hash_is_named() {
        let sticky = Pattern::of(&[1; 300], &topics(300), 3, 3);
        assert!(sticky.name.starts_with("sticky"), "{sticky:?}");
        // Subtopic a → member 2, b → 0, c → 1.
        let hashed: Vec<usize> = topics(300).iter().map(|&t| [2, 0, 1][t]).collect();
        let pattern = Pattern::of(&hashed, &topics(300), 3, 3);
        assert!(pattern.name.starts_with("hashed by topic"), "{pattern:?}");
    }

    #[test]
    fn a_shuffle_is_random() {
        // A fixed pseudo-random sequence (a linear congruential generator).
        let mut x: u64 = 7;
        let owners: Vec<usize> = (0..300)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) % 3) as usize
            })
            .collect();
        let pattern = Pattern::of(&owners, &topics(300), 3, 3);
        assert!(pattern.name.starts_with("random"), "{pattern:?}");
    }
}
