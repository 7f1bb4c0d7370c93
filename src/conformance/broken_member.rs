//! Cases 3 and 4: a member's connection breaks while it holds QoS 1 messages it has not
//! acknowledged. Where do they go?
//!
//! MQTT 5.0 §4.8.2 answers with a MAY, a SHOULD and a MAY (the only MUSTs here are for QoS 2):
//!
//! > If the Server is in the process of sending a QoS 1 message to its chosen subscribing Client
//! > and the connection to that Client breaks before the Server has received an acknowledgement
//! > from the Client, the Server MAY wait for the Client to reconnect and retransmit the message
//! > to that Client. If the Client's Session terminates before the Client reconnects, the Server
//! > SHOULD send the Application Message to another Client that is subscribed to the same Shared
//! > Subscription. It MAY attempt to send the message to another Client as soon as it loses its
//! > connection to the first Client.
//!
//! The member under test, m1, acknowledges nothing (manual acks) and takes one message at a time
//! (Receive Maximum 1): it holds one message delivered but unacknowledged, and the broker may
//! queue more for it. Then m1's socket closes without DISCONNECT, as when its process crashes.
//!
//! * Case 3, clean session (Session Expiry 0): the session ends with the connection, so the
//!   SHOULD applies at once. Re-routed to m2: conforms. Dropped: an allowed variant, named.
//! * Case 4, kept session (Session Expiry 10 s): m1 comes back after a second. Held for m1 and
//!   sent again on its return, or re-routed to m2 at once, are both allowed (the two MAYs). But
//!   a kept session owes its member what it had sent and not seen acknowledged, marked as sent
//!   before ([MQTT-4.4.0-1], [MQTT-3.3.1-1]): losing those, or sending them again without DUP,
//!   breaks a MUST.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{DUP, KEEP_SESSION, OWNERSHIP, RESEND};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::Scene;

pub const CASE_CLEAN: &str = "member-dies-clean-session";
pub const CASE_KEPT: &str = "member-dies-kept-session";
pub const CLAUSE_CLEAN: &str = "§4.8.2 (QoS 1, SHOULD)";
pub const CLAUSE_KEPT: &str = "§4.8.2 (QoS 1, MAY), [MQTT-4.4.0-1]";

const MESSAGES: u32 = 10;
/// Case 4's session: long enough to outlive m1's absence, short enough to leave nothing behind.
const KEPT_SESSION: Duration = Duration::from_secs(10);
/// How long m1 stays away in case 4, and how long each case watches for re-routed messages.
const AWAY: Duration = Duration::from_secs(1);
const WATCH: Duration = Duration::from_millis(1500);

/// Which of the two cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    Clean,
    Kept,
}

pub async fn run(scene: &Scene<'_>, session: Session) -> anyhow::Result<Outcome> {
    let filter = scene.shared("g", &scene.topic());
    let holder = Setup {
        session_expiry: match session {
            Session::Clean => Duration::ZERO,
            Session::Kept => KEPT_SESSION,
        },
        manual_acks: true,
    };
    let (m1, m1_connack) = scene.connect_with_connack("m1", holder).await?;
    super::scene::granted(&m1, &filter, QoS::AtLeastOnce).await?;
    let mut m1 = m1;
    let mut m2 = scene
        .member("m2", &filter, QoS::AtLeastOnce, Setup::default())
        .await?;
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene
        .publish(&publisher, &scene.topic(), 1..=MESSAGES)
        .await?;

    // m1 holds what it got; the broker may have queued more for it.
    m1.wait_until(Duration::from_secs(2), |got| !got.is_empty())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = m1.seqs();
    let m2_before = m2.seqs();
    if held.is_empty() {
        return Ok(Outcome {
            observed: format!(
                "m2 got {} and m1 nothing before its cut",
                numbers(&m2_before)
            ),
            verdict: Verdict::Inconclusive("the broker gave m1 no message to hold".into()),
        });
    }
    // Everything m2 did not get: what m1 holds, and what the broker kept back for it.
    let owed: Vec<u32> = (1..=MESSAGES).filter(|s| !m2_before.contains(s)).collect();
    let queued: Vec<u32> = owed.iter().copied().filter(|s| !held.contains(s)).collect();
    let cut_at = scene.now();
    m1.cut().await;
    let mut observed = format!(
        "m1 ({}) held {} unacknowledged{}, m2 got {}; m1 cut at {cut_at:.2} s",
        match session {
            Session::Clean => "clean session".to_owned(),
            Session::Kept => format!("session expiry {} s", KEPT_SESSION.as_secs()),
        },
        numbers(&held),
        if queued.is_empty() {
            String::new()
        } else {
            format!(" (and {} not yet sent to it)", numbers(&queued))
        },
        numbers(&m2_before),
    );

    // Does m2 get them now?
    let watch = match session {
        Session::Clean => WATCH,
        Session::Kept => AWAY,
    };
    let before = m2_before.len();
    m2.wait_until(watch, |got| {
        owed.iter().all(|s| got.iter().any(|r| r.seq == Some(*s)))
    })
    .await;
    let rerouted: Vec<(u32, f64)> = m2.received()[before..]
        .iter()
        .filter_map(|r| r.seq.map(|s| (s, r.at.as_secs_f64())))
        .filter(|(s, _)| owed.contains(s))
        .collect();
    let rerouted_seqs: Vec<u32> = rerouted.iter().map(|(s, _)| *s).collect();
    if !rerouted.is_empty() {
        observed += &format!(
            "; m2 then got {} ({:.2} s after the cut)",
            numbers(&rerouted_seqs),
            rerouted[0].1 - cut_at
        );
    }

    let outcome = match session {
        Session::Clean => clean_verdict(observed, &owed, &rerouted_seqs),
        Session::Kept => {
            let back = Back {
                held: &held,
                owed: &owed,
                rerouted: &rerouted_seqs,
                expiry_refused: m1_connack
                    .properties
                    .as_ref()
                    .and_then(|p| p.session_expiry_interval)
                    == Some(0),
            };
            back.verdict(scene, &mut m2, observed).await?
        }
    };
    m2.close().await;
    publisher.close().await;
    Ok(outcome)
}

fn clean_verdict(mut observed: String, owed: &[u32], rerouted: &[u32]) -> Outcome {
    let lost: Vec<u32> = owed
        .iter()
        .copied()
        .filter(|s| !rerouted.contains(s))
        .collect();
    let verdict = if lost.is_empty() {
        // The session ended with the connection, and the broker did what the SHOULD asks.
        Verdict::Conforms
    } else {
        observed += &format!("; lost: {}", numbers(&lost));
        if rerouted.is_empty() {
            Verdict::AllowedVariant(
                "lost with the member's session: nothing sent to another member (the spec says \
                 SHOULD send it to another)"
                    .into(),
            )
        } else {
            Verdict::AllowedVariant(format!(
                "partly re-routed: {} of {} sent to another member, the rest lost (the spec says \
                 SHOULD send it to another)",
                rerouted.len(),
                owed.len()
            ))
        }
    };
    Outcome { observed, verdict }
}

/// Case 4 after m1's absence: it comes back to its session.
struct Back<'a> {
    held: &'a [u32],
    owed: &'a [u32],
    rerouted: &'a [u32],
    /// The broker's CONNACK gave m1 a Session Expiry Interval of 0: it keeps no sessions.
    expiry_refused: bool,
}

impl Back<'_> {
    async fn verdict(
        &self,
        scene: &Scene<'_>,
        m2: &mut Probe,
        mut observed: String,
    ) -> anyhow::Result<Outcome> {
        let returning = Setup {
            session_expiry: KEPT_SESSION,
            manual_acks: false,
        };
        let (mut m1, connack) = scene.connect_with_connack("m1", returning).await?;
        let back_at = scene.now();
        observed += &format!(
            "; m1 back at {back_at:.2} s (session present: {}{})",
            connack.session_present,
            if self.expiry_refused {
                "; its first CONNACK set Session Expiry Interval 0"
            } else {
                ""
            }
        );
        let still_owed: Vec<u32> = self
            .owed
            .iter()
            .copied()
            .filter(|s| !self.rerouted.contains(s))
            .collect();
        m1.wait_until(WATCH, |got| {
            still_owed
                .iter()
                .all(|s| got.iter().any(|r| r.seq == Some(*s)))
        })
        .await;
        let again: Vec<(u32, bool)> = m1
            .received()
            .iter()
            .filter_map(|r| r.seq.map(|s| (s, r.dup)))
            .collect();
        let again_seqs: Vec<u32> = again.iter().map(|(s, _)| *s).collect();
        let without_dup: Vec<u32> = again
            .iter()
            .filter(|(s, dup)| self.held.contains(s) && !dup)
            .map(|(s, _)| *s)
            .collect();
        if !again.is_empty() {
            observed += &format!(
                ", got {} (DUP on {})",
                numbers(&again_seqs),
                numbers(
                    &again
                        .iter()
                        .filter(|(_, d)| *d)
                        .map(|(s, _)| *s)
                        .collect::<Vec<_>>()
                )
            );
        }
        // m2 may take some only now, when m1's return settles the question.
        let m2_late: Vec<u32> = m2
            .seqs()
            .into_iter()
            .filter(|s| self.owed.contains(s) && !self.rerouted.contains(s))
            .collect();
        if !m2_late.is_empty() {
            observed += &format!("; m2 got {} after m1's return", numbers(&m2_late));
        }
        let reached =
            |s: &u32| again_seqs.contains(s) || self.rerouted.contains(s) || m2_late.contains(s);
        let lost_held: Vec<u32> = self.held.iter().copied().filter(|s| !reached(s)).collect();
        let lost_queued: Vec<u32> = self
            .owed
            .iter()
            .copied()
            .filter(|s| !self.held.contains(s) && !reached(s))
            .collect();
        if !lost_held.is_empty() || !lost_queued.is_empty() {
            observed += &format!(
                "; lost: {}",
                numbers(&[lost_held.clone(), lost_queued.clone()].concat())
            );
        }
        let to_m1 = self.owed.iter().any(|s| again_seqs.contains(s));
        let to_m2 = !self.rerouted.is_empty() || !m2_late.is_empty();
        let verdict = if !connack.session_present {
            if self.expiry_refused {
                Verdict::NotSupported(
                    "kept sessions: the broker's CONNACK set Session Expiry Interval 0".into(),
                )
            } else {
                Verdict::Violates(KEEP_SESSION)
            }
        } else if !without_dup.is_empty() {
            Verdict::Violates(DUP)
        } else if !lost_held.is_empty() && !to_m2 {
            Verdict::Violates(RESEND)
        } else if !lost_held.is_empty() || !lost_queued.is_empty() {
            Verdict::Violates(OWNERSHIP)
        } else if to_m1 && to_m2 {
            Verdict::AllowedVariant(
                "both: re-routed to another member and sent again to the member on its return \
                 (a duplicate, which QoS 1 allows)"
                    .into(),
            )
        } else if to_m2 {
            Verdict::AllowedVariant(
                "re-routed to another member as soon as the connection broke (the spec's MAY)"
                    .into(),
            )
        } else {
            Verdict::AllowedVariant(
                "held for the member and sent again on its return, with DUP (the spec's MAY)"
                    .into(),
            )
        };
        m1.close().await;
        Ok(Outcome { observed, verdict })
    }
}
