//! Case 5: a member stays away until its session expires, while messages keep coming.
//!
//! MQTT 5.0 §4.8.2 (the paragraph of cases 3 and 4):
//!
//! > If the Client's Session terminates before the Client reconnects, the Server SHOULD send the
//! > Application Message to another Client that is subscribed to the same Shared Subscription.
//!
//! and §3.1.2.11.2: the session ends when its expiry interval has passed
//! ([MQTT-4.1.0-2] "The Server MUST discard the Session State when the Network Connection is
//! closed and the Session Expiry Interval has passed").
//!
//! m1 (session expiry 2 s, holding one message unacknowledged) is cut and never comes back;
//! while it is away, six more messages are published, then, once its session has expired, four
//! more. Two questions: does the broker keep giving the absent member its turn (vernemq #751,
//! emqx #3243 ask this), and what happens to what was queued for it when the session ends? Both
//! answers are open (a SHOULD); only the last four, published when m2 is the only member left,
//! must all reach m2 ([MQTT-4.5.0-1]).

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::OWNERSHIP;
use super::finding::{numbers, Outcome, Verdict};
use super::probe::Setup;
use super::scene::{granted, Scene, ANSWER};

pub const CASE: &str = "member-session-expires";
pub const CLAUSE: &str = "§4.8.2 (QoS 1, SHOULD), [MQTT-4.1.0-2]";

const EXPIRY: Duration = Duration::from_secs(2);
/// Published before the cut, while m1 is away, and after its session has expired.
const BEFORE: u32 = 4;
const AWAY: u32 = 6;
const AFTER: u32 = 4;
/// While m1 is away, one message this often: the broker gets time to give m1 its turns, or not.
const PACE: Duration = Duration::from_millis(100);
/// After the expiry, how long to wait before calling the session gone: a broker looks for expired
/// sessions on a timer of its own (mosquitto about once a second), not at the instant.
const MARGIN: Duration = Duration::from_millis(1500);

pub async fn run(scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    let topic = scene.topic();
    let filter = scene.shared("g", &topic);
    let setup = Setup {
        session_expiry: EXPIRY,
        manual_acks: true,
    };
    let (mut m1, connack) = scene.connect_with_connack("m1", setup).await?;
    let no_sessions = connack
        .properties
        .as_ref()
        .and_then(|p| p.session_expiry_interval)
        == Some(0);
    granted(&m1, &filter, QoS::AtLeastOnce).await?;
    let mut m2 = scene
        .member("m2", &filter, QoS::AtLeastOnce, Setup::default())
        .await?;
    let publisher = scene.connect("publisher", Setup::default()).await?;

    scene.publish(&publisher, &topic, 1..=BEFORE).await?;
    m1.wait_until(ANSWER, |got| !got.is_empty()).await;
    scene.settle(&publisher, [&mut m2]).await?;
    let held = m1.seqs();
    let m2_before = m2.seqs();
    let cut_at = scene.now();
    m1.cut().await;
    // Let the broker see the socket close: a message published in the same instant may still
    // go to the connection it has not yet noticed is gone, which is another question (case 3).
    // Nothing announces that the broker noticed, so this is a quiet period.
    tokio::time::sleep(scene.quiet()).await;

    // While m1 is away: one message every PACE.
    for seq in BEFORE + 1..=BEFORE + AWAY {
        scene.publish(&publisher, &topic, [seq]).await?;
        tokio::time::sleep(PACE).await;
    }
    scene.settle(&publisher, [&mut m2]).await?;
    let m2_during: Vec<u32> = m2.seqs().into_iter().filter(|s| *s > BEFORE).collect();
    // Wait out the session (counted from the cut), then publish to a group of one.
    let expired_at = cut_at + EXPIRY.as_secs_f64() + MARGIN.as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64((expired_at - scene.now()).max(0.0))).await;
    let m2_at_expiry = m2.seqs();
    scene
        .publish(
            &publisher,
            &topic,
            BEFORE + AWAY + 1..=BEFORE + AWAY + AFTER,
        )
        .await?;
    scene.settle(&publisher, [&mut m2]).await?;
    let seen = Seen {
        no_sessions,
        cut_at,
        held,
        m2_before,
        m2_during,
        m2_at_expiry,
        m2_all: m2.seqs(),
    };
    m2.close().await;
    publisher.close().await;
    Ok(seen.judge())
}

/// What m2 had at each step, and what m1 held when it was cut.
struct Seen {
    no_sessions: bool,
    cut_at: f64,
    held: Vec<u32>,
    m2_before: Vec<u32>,
    /// m2's messages of those published while m1 was away, right after they were.
    m2_during: Vec<u32>,
    m2_at_expiry: Vec<u32>,
    m2_all: Vec<u32>,
}

impl Seen {
    fn judge(&self) -> Outcome {
        let last = BEFORE + AWAY + AFTER;
        let m2_all = &self.m2_all;
        let away: Vec<u32> = (BEFORE + 1..=BEFORE + AWAY).collect();
        let lost: Vec<u32> = (1..=BEFORE + AWAY)
            .filter(|s| !m2_all.contains(s))
            .collect();
        let lost_after = (BEFORE + AWAY + 1..=last).any(|s| !m2_all.contains(&s));
        let mut observed = self.describe(&away);
        if !lost.is_empty() {
            observed += &format!("; never delivered: {}", numbers(&lost));
        }
        // Messages published while m1 was away that m2 did not get at once: the broker still
        // gave the absent member its turns.
        let turns_kept = self.m2_during.len() < AWAY as usize;
        let verdict = if lost_after {
            Verdict::Violates(OWNERSHIP)
        } else if lost.is_empty() {
            Verdict::Conforms
        } else {
            Verdict::AllowedVariant(format!(
                "{}dropped with the ended session: {} of {} lost (the spec says SHOULD send them \
                 to another member)",
                if turns_kept {
                    "the absent member kept its turns; its messages were queued for it and "
                } else {
                    ""
                },
                lost.len(),
                BEFORE + AWAY
            ))
        };
        Outcome { observed, verdict }
    }

    fn describe(&self, away: &[u32]) -> String {
        let owed_before: Vec<u32> = (1..=BEFORE)
            .filter(|s| !self.m2_before.contains(s))
            .collect();
        let rerouted_before: Vec<u32> = owed_before
            .into_iter()
            .filter(|s| self.m2_all.contains(s))
            .collect();
        let away_to_m2_late: Vec<u32> = away
            .iter()
            .copied()
            .filter(|s| !self.m2_during.contains(s) && self.m2_at_expiry.contains(s))
            .collect();
        let mut observed = format!(
            "m1 (session expiry {} s{}) held {} unacknowledged when cut at {:.2} s; m2 had {}",
            EXPIRY.as_secs(),
            if self.no_sessions {
                ", which the CONNACK cut to 0"
            } else {
                ""
            },
            numbers(&self.held),
            self.cut_at,
            numbers(&self.m2_before)
        );
        if !rerouted_before.is_empty() {
            observed += &format!("; m2 later got m1's {}", numbers(&rerouted_before));
        }
        observed += &format!(
            "; while m1 was away {} were published: m2 got {} at once{}",
            numbers(away),
            numbers(&self.m2_during),
            if away_to_m2_late.is_empty() {
                String::new()
            } else {
                format!(" and {} by the expiry", numbers(&away_to_m2_late))
            }
        );
        observed += &format!(
            "; after the expiry m2 got {} of {AFTER}",
            (BEFORE + AWAY + 1..=BEFORE + AWAY + AFTER)
                .filter(|s| self.m2_all.contains(s))
                .count(),
        );
        observed
    }
}
