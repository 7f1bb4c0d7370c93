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
use super::finding::{numbers, Must, Outcome, Verdict};
use super::probe::{Probe, Setup, SubAnswer};
use super::scene::{Scene, ANSWER};

pub const CASE: &str = "filters";
pub const CLAUSE: &str = "[MQTT-4.8.2-1], [MQTT-4.8.2-2], §4.7";

const MESSAGES: u32 = 6;
/// How long to wait for a refusal of an invalid filter.
const INVALID_ANSWER: Duration = Duration::from_secs(2);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let mut answers = Answers::default();
    wildcards(scene, &mut answers).await?;
    invalid_names(scene, &mut answers).await?;
    let observed = answers.parts.join("; ");
    let verdict = if let Some(must) = answers.violation {
        Verdict::Violates(must)
    } else if !answers.unsupported.is_empty() {
        Verdict::NotSupported(format!(
            "wildcards in a shared filter: {}",
            answers.unsupported.join(", ")
        ))
    } else if !answers.lenient.is_empty() {
        Verdict::AllowedVariant(format!(
            "lenient: grants {} (the spec's MUSTs bind the Client's filter; the Server may \
             refuse with 0x8F)",
            answers.lenient.join(", ")
        ))
    } else {
        Verdict::Conforms
    };
    Ok(Outcome { observed, verdict })
}

/// What the broker answered, filter by filter.
#[derive(Default)]
struct Answers {
    /// One part of the `observed` line per filter.
    parts: Vec<String>,
    violation: Option<Must>,
    /// Wildcard filters the broker refused.
    unsupported: Vec<String>,
    /// Invalid share names the broker granted.
    lenient: Vec<&'static str>,
}

/// Wildcards: two groups, one per filter, two members each. Both match `<topic>/a/x`.
async fn wildcards(scene: &Scene<'_>, answers: &mut Answers) -> anyhow::Result<()> {
    let topic = scene.topic();
    let mut groups: Vec<(&str, Vec<Probe>)> = Vec::new();
    for (label, group, filter) in [
        ("$share/g/t/a/+", "plus", format!("{topic}/a/+")),
        ("$share/g/t/#", "hash", format!("{topic}/#")),
    ] {
        match join(scene, group, &scene.shared(group, &filter)).await? {
            Ok(members) => groups.push((label, members)),
            Err(answer) => {
                let words = answer_words(&answer);
                answers.parts.push(format!("{label}: {words}"));
                answers.unsupported.push(format!("{label} ({words})"));
            }
        }
    }
    if groups.is_empty() {
        return Ok(());
    }
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene
        .publish(&publisher, &format!("{topic}/a/x"), 1..=MESSAGES)
        .await?;
    let all = groups
        .iter_mut()
        .flat_map(|(_, members)| members.iter_mut());
    scene.settle(&publisher, all).await?;
    for (label, members) in groups.iter_mut() {
        describe_group(label, members, answers);
    }
    publisher.close().await;
    for member in groups.into_iter().flat_map(|(_, members)| members) {
        member.close().await;
    }
    Ok(())
}

/// Two members of `group` subscribed to `shared` (and to the markers), or the broker's answer
/// to the first SUBSCRIBE it did not grant.
async fn join(
    scene: &Scene<'_>,
    group: &str,
    shared: &str,
) -> anyhow::Result<Result<Vec<Probe>, SubAnswer>> {
    let mut members = Vec::new();
    for k in 1..=2 {
        let member = scene
            .connect(&format!("{group}{k}"), Setup::default())
            .await?;
        match member.subscribe(shared, QoS::AtLeastOnce, ANSWER).await {
            SubAnswer::Granted(_) => {
                scene.watch_markers(&member, QoS::AtLeastOnce).await?;
                members.push(member);
            }
            other => return Ok(Err(other)),
        }
    }
    Ok(Ok(members))
}

/// What one wildcard group got of the messages: all, once each?
fn describe_group(label: &str, members: &mut [Probe], answers: &mut Answers) {
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
        answers.violation.get_or_insert(OWNERSHIP);
    }
    if !twice.is_empty() {
        text += &format!(", twice {}", numbers(&twice));
        answers.violation.get_or_insert(ONE_MEMBER);
    }
    answers.parts.push(text);
}

/// Forbidden share names, each on a connection of its own: the answer may be a DISCONNECT.
async fn invalid_names(scene: &Scene<'_>, answers: &mut Answers) -> anyhow::Result<()> {
    let topic = scene.topic();
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
        let answer = probe
            .subscribe(&filter, QoS::AtLeastOnce, INVALID_ANSWER)
            .await;
        if matches!(answer, SubAnswer::Granted(_)) {
            answers.lenient.push(label);
        }
        answers
            .parts
            .push(format!("{label}: {}", answer_words(&answer)));
        if probe.wait_for_end(Duration::ZERO).await.is_none() {
            probe.close().await;
        }
    }
    Ok(())
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
