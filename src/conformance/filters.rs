//! Case 12: wildcards in a shared filter, and share names the spec forbids.
//!
//! MQTT 5.0 §4.8.2 gives the filter's form, as MUSTs on the filter a Client sends:
//!
//! > [MQTT-4.8.2-1] A Shared Subscription's Topic Filter MUST start with $share/ and MUST
//! > contain a ShareName that is at least one character long.
//!
//! > [MQTT-4.8.2-2] The ShareName MUST NOT contain the characters "/", "+" or "#", but MUST be
//! > followed by a "/" character. This "/" character MUST be followed by a Topic Filter as
//! > described in section 4.7.
//!
//! and `{filter}`, the rest, "has the same syntax and semantics as a Topic Filter in a
//! non-shared subscription", wildcards included. So `$share/g/t/a/+` and `$share/g/t/#` are
//! ordinary shared subscriptions; a broker may still refuse wildcards altogether (SUBACK 0xA2,
//! "Wildcard Subscriptions not supported", and Wildcard Subscription Available 0 in CONNACK).
//!
//! For the forbidden names (`$share/g+/t`, `$share//t`, `$share/g`), the spec gives the Server a
//! way to say no (SUBACK 0x8F "Topic Filter invalid", or DISCONNECT for a malformed packet) but
//! no MUST of its own: a broker that grants them is lenient, not in breach. That is why this
//! tool checks group and topic before it connects (`share.rs`): mosquitto 2.0 grants two of
//! the three.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{ONE_MEMBER, OWNERSHIP};
use super::distribution::wait_for_all;
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup, SubAnswer};
use super::scene::{Scene, ANSWER};

pub const CASE: &str = "filters";
pub const CLAUSE: &str = "[MQTT-4.8.2-1], [MQTT-4.8.2-2], §4.7";

const MESSAGES: u32 = 6;
/// How long to wait for a refusal of an invalid filter.
const INVALID_ANSWER: Duration = Duration::from_secs(2);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let qos = QoS::AtLeastOnce;
    let mut parts = Vec::new();
    let mut violation = None;
    let mut unsupported = Vec::new();

    // Wildcards: two groups, one per filter, two members each. Both match `<topic>/a/x`.
    let mut groups: Vec<(&str, Vec<Probe>)> = Vec::new();
    for (label, group, filter) in [
        ("$share/g/t/a/+", "plus", format!("{topic}/a/+")),
        ("$share/g/t/#", "hash", format!("{topic}/#")),
    ] {
        let shared = scene.shared(group, &filter);
        let mut members = Vec::new();
        let mut refused = None;
        for k in 1..=2 {
            let member = scene
                .connect(&format!("{group}{k}"), Setup::default())
                .await?;
            match member.subscribe(&shared, qos, ANSWER).await {
                SubAnswer::Granted(_) => members.push(member),
                other => {
                    refused = Some(other);
                    break;
                }
            }
        }
        match refused {
            None => groups.push((label, members)),
            Some(answer) => {
                let words = answer_words(&answer);
                parts.push(format!("{label}: {words}"));
                unsupported.push(format!("{label} ({words})"));
            }
        }
    }
    if !groups.is_empty() {
        let publisher = scene.connect("publisher", Setup::default()).await?;
        scene
            .publish(&publisher, &format!("{topic}/a/x"), 1..=MESSAGES)
            .await?;
        for (label, members) in groups.iter_mut() {
            wait_for_all(members, MESSAGES).await;
            let mut got: Vec<u32> = Vec::new();
            let mut split = Vec::new();
            for member in members.iter_mut() {
                let seqs = member.seqs();
                split.push(seqs.len().to_string());
                got.extend(seqs);
            }
            got.sort_unstable();
            let missing: Vec<u32> = (1..=MESSAGES).filter(|s| !got.contains(s)).collect();
            let twice: Vec<u32> = got
                .windows(2)
                .filter(|w| w[0] == w[1])
                .map(|w| w[0])
                .collect();
            let mut text = format!(
                "{label}: granted, {} of {MESSAGES} ({})",
                MESSAGES as usize - missing.len(),
                split.join("+")
            );
            if !missing.is_empty() {
                text += &format!(", missing {}", numbers(&missing));
                violation.get_or_insert(OWNERSHIP);
            }
            if !twice.is_empty() {
                text += &format!(", twice {}", numbers(&twice));
                violation.get_or_insert(ONE_MEMBER);
            }
            parts.push(text);
        }
        publisher.close().await;
    }
    for (_, members) in groups {
        for member in members {
            member.close().await;
        }
    }

    // Forbidden share names, each on a connection of its own: the answer may be a DISCONNECT.
    let mut lenient = Vec::new();
    let invalid = [
        (
            "$share/g+/t",
            format!("$share/{}+/{topic}", scene.group("bad")),
        ),
        ("$share//t", format!("$share//{topic}")),
        ("$share/g", format!("$share/{}", scene.group("notopic"))),
    ];
    for (k, (label, filter)) in invalid.into_iter().enumerate() {
        let name = format!("invalid{}", k + 1);
        let mut probe = scene.connect(&name, Setup::default()).await?;
        let answer = probe.subscribe(&filter, qos, INVALID_ANSWER).await;
        if matches!(answer, SubAnswer::Granted(_)) {
            lenient.push(label);
        }
        parts.push(format!("{label}: {}", answer_words(&answer)));
        if probe.wait_for_end(Duration::ZERO).await.is_none() {
            probe.close().await;
        }
    }

    let observed = parts.join("; ");
    let verdict = if let Some(must) = violation {
        Verdict::Violates(must)
    } else if !unsupported.is_empty() {
        Verdict::NotSupported(format!(
            "wildcards in a shared filter: {}",
            unsupported.join(", ")
        ))
    } else if !lenient.is_empty() {
        Verdict::AllowedVariant(format!(
            "lenient: grants {} (the spec's MUSTs bind the Client's filter; the Server may \
             refuse with 0x8F)",
            lenient.join(", ")
        ))
    } else {
        Verdict::Conforms
    };
    Ok(Outcome { observed, verdict })
}

/// A SUBSCRIBE's answer in a few words.
fn answer_words(answer: &SubAnswer) -> String {
    match answer {
        SubAnswer::Granted(qos) => format!("granted QoS {qos}"),
        SubAnswer::Refused(code) => format!("SUBACK 0x{code:02X}"),
        SubAnswer::Ended(ending) => format!("{ending}"),
        SubAnswer::Silent => format!("no answer within {INVALID_ANSWER:?}"),
    }
}
