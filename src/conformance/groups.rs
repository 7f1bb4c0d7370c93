//! Case 2: several groups on one topic each get a full copy; a plain subscriber gets everything;
//! and one share name on two topics is two shared subscriptions, not one.
//!
//! MQTT 5.0 §4.8.2:
//!
//! > Shared Subscriptions are defined at the scope of the MQTT Server, rather than of a Session.
//! > A ShareName is included in the Shared Subscription's Topic Filter so that there can be more
//! > than one Shared Subscription on a Server that has the same {filter} component.
//!
//! > Each Shared Subscription is independent from any other. It is possible to have two Shared
//! > Subscriptions with overlapping filters. In such cases a message that matches both Shared
//! > Subscriptions will be processed separately by both of them.
//!
//! A shared subscription is the pair (share name, filter): `$share/A/t` and `$share/A/t2` are
//! two. rumqttd 0.20 keys its groups by the share name alone, and loses messages for it (FACTS).
//! What the spec requires is [MQTT-4.5.0-1]: every subscription the message matches gets it.

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{ONE_MEMBER, OWNERSHIP};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::Scene;

pub const CASE: &str = "groups";
pub const CLAUSE: &str = "§4.8.2, [MQTT-4.5.0-1]";

/// Messages to the topic the groups share, and to the second topic.
const FIRST: u32 = 20;
const SECOND: u32 = 10;

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let second = format!("{topic}/second");
    let qos = QoS::AtLeastOnce;
    let setup = Setup::default();
    let group_a = [
        scene
            .member("a1", &scene.shared("A", &topic), qos, setup)
            .await?,
        scene
            .member("a2", &scene.shared("A", &topic), qos, setup)
            .await?,
    ];
    let group_b = [
        scene
            .member("b1", &scene.shared("B", &topic), qos, setup)
            .await?,
        scene
            .member("b2", &scene.shared("B", &topic), qos, setup)
            .await?,
    ];
    // The same share name A, on another topic: a shared subscription of its own.
    let a_second = scene
        .member("a3", &scene.shared("A", &second), qos, setup)
        .await?;
    let plain = scene.member("plain", &topic, qos, setup).await?;

    let publisher = scene.connect("publisher", setup).await?;
    scene.publish(&publisher, &topic, 1..=FIRST).await?;
    scene
        .publish(&publisher, &second, FIRST + 1..=FIRST + SECOND)
        .await?;

    let mut all: Vec<Probe> = group_a.into_iter().chain(group_b).collect();
    all.push(a_second);
    all.push(plain);
    scene.settle(&publisher, all.iter_mut()).await?;

    let first_topic: Vec<u32> = (1..=FIRST).collect();
    let second_topic: Vec<u32> = (FIRST + 1..=FIRST + SECOND).collect();
    let mut lines = Vec::new();
    let mut missing_any = false;
    let mut doubled_any = false;
    let (a, rest) = all.split_at_mut(2);
    let (b, rest) = rest.split_at_mut(2);
    let (a3, plain) = rest.split_at_mut(1);
    for (label, members, expected) in [
        ("group A", a, &first_topic),
        ("group B", b, &first_topic),
        ("group A on a second topic", a3, &second_topic),
        ("plain subscriber", plain, &first_topic),
    ] {
        let copy = Copy::of(members, expected);
        missing_any |= !copy.missing.is_empty();
        doubled_any |= !copy.doubled.is_empty() && members.len() > 1;
        lines.push(format!("{label}: {}", copy.describe(expected.len())));
    }
    let observed = lines.join("; ");
    let verdict = if missing_any {
        Verdict::Violates(OWNERSHIP)
    } else if doubled_any {
        Verdict::Violates(ONE_MEMBER)
    } else {
        Verdict::Conforms
    };
    for probe in all {
        probe.close().await;
    }
    publisher.close().await;
    Ok(Outcome { observed, verdict })
}

/// What one group (or one plain subscriber) received of the messages meant for it.
struct Copy {
    /// Messages of `expected` per member.
    per_member: Vec<usize>,
    missing: Vec<u32>,
    /// Received more than once in the group.
    doubled: Vec<u32>,
    /// Received though its filter does not match them.
    strays: Vec<u32>,
}

impl Copy {
    fn of(members: &mut [Probe], expected: &[u32]) -> Copy {
        let mut got: Vec<u32> = Vec::new();
        let mut per_member = Vec::new();
        let mut strays = Vec::new();
        for member in members.iter_mut() {
            let seqs = member.seqs();
            per_member.push(seqs.iter().filter(|s| expected.contains(s)).count());
            strays.extend(seqs.iter().filter(|s| !expected.contains(s)));
            got.extend(seqs.into_iter().filter(|s| expected.contains(s)));
        }
        got.sort_unstable();
        let missing = expected
            .iter()
            .copied()
            .filter(|s| got.binary_search(s).is_err())
            .collect();
        let doubled = got
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        Copy {
            per_member,
            missing,
            doubled,
            strays,
        }
    }

    fn describe(&self, expected: usize) -> String {
        let received: usize = self.per_member.iter().sum();
        let mut text = format!(
            "{} of {expected}",
            received - self.doubled.len().min(received)
        );
        if self.per_member.len() > 1 {
            let split: Vec<String> = self.per_member.iter().map(usize::to_string).collect();
            text += &format!(" ({})", split.join("+"));
        }
        if !self.missing.is_empty() {
            text += &format!(", missing {}", numbers(&self.missing));
        }
        if !self.doubled.is_empty() {
            text += &format!(", twice {}", numbers(&self.doubled));
        }
        if !self.strays.is_empty() {
            text += &format!(", also got the other topic's {}", numbers(&self.strays));
        }
        text
    }
}
