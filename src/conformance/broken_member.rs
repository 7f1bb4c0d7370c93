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
//! * Case 4, kept session (Session Expiry 10 s): m1 comes back after one quiet period
//!   (`quiet.rs`). Held for m1 and
//!   sent again on its return, or re-routed to m2 at once, are both allowed (the two MAYs). But
//!   a kept session owes its member what it had sent and not seen acknowledged, marked as sent
//!   before ([MQTT-4.4.0-1], [MQTT-3.3.1-1]): losing those, or sending them again without DUP,
//!   breaks a MUST.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;

use super::clauses::{DUP, KEEP_SESSION, OWNERSHIP, RESEND};
use super::finding::{numbers, Outcome, Verdict};
use super::probe::{Probe, Setup};
use super::scene::{granted, Scene, ANSWER};

pub const CASE_CLEAN: &str = "member-dies-clean-session";
pub const CASE_KEPT: &str = "member-dies-kept-session";
pub const CLAUSE_CLEAN: &str = "§4.8.2 (QoS 1, SHOULD)";
pub const CLAUSE_KEPT: &str = "§4.8.2 (QoS 1, MAY), [MQTT-4.4.0-1]";

const MESSAGES: u32 = 10;
/// Case 4's session: long enough to outlive m1's absence, short enough to leave nothing behind.
const KEPT_SESSION: Duration = Duration::from_secs(10);

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
    let (mut m1, m1_connack) = scene.connect_with_connack("m1", holder).await?;
    granted(&m1, &filter, QoS::AtLeastOnce).await?;
    // In m1's session too, for case 4: on its return, the markers show when the broker has
    // sent all it kept for it.
    scene.watch_markers(&m1, QoS::AtLeastOnce).await?;
    let mut m2 = scene
        .member("m2", &filter, QoS::AtLeastOnce, Setup::default())
        .await?;
    let publisher = scene.connect("publisher", Setup::default()).await?;
    scene
        .publish(&publisher, &scene.topic(), 1..=MESSAGES)
        .await?;

    // m1 holds what it got (one message: it acknowledges nothing, Receive Maximum 1); the
    // broker gave m2 its share, and may keep more back for m1.
    m1.wait_until(ANSWER, |got| !got.is_empty()).await;
    scene.settle(&publisher, [&mut m2]).await?;
    let Some(held) = Held::now(&mut m1, &mut m2) else {
        return Ok(Outcome {
            observed: format!(
                "m2 got {} and m1 nothing before its cut",
                numbers(&m2.seqs())
            ),
            verdict: Verdict::Inconclusive("the broker gave m1 no message to hold".into()),
        });
    };
    let cut_at = scene.now();
    m1.cut().await;
    let mut observed = held.describe(session, cut_at);

    let rerouted = rerouted(scene, &mut m2, &held, cut_at, &mut observed).await;
    let outcome = match session {
        Session::Clean => clean_verdict(observed, &held.owed, &rerouted),
        Session::Kept => {
            let expiry_refused = m1_connack
                .properties
                .as_ref()
                .and_then(|p| p.session_expiry_interval)
                == Some(0);
            let back = m1_returns(scene, &publisher, &mut m2, &held, &rerouted).await?;
            back.verdict(&held, &rerouted, expiry_refused, observed)
        }
    };
    m2.close().await;
    publisher.close().await;
    Ok(outcome)
}

/// What m2 gets of what m1 was owed, once m1 is cut. Re-routing is the broker's own move, with
/// no event of ours to wait for: listen one quiet period (in case 4, m1 stays away that long).
async fn rerouted(
    scene: &Scene<'_>,
    m2: &mut Probe,
    held: &Held,
    cut_at: f64,
    observed: &mut String,
) -> Vec<u32> {
    let before = held.m2_before.len();
    m2.wait_until(scene.quiet(), |got| {
        held.owed
            .iter()
            .all(|s| got.iter().any(|r| r.seq == Some(*s)))
    })
    .await;
    let rerouted: Vec<(u32, f64)> = m2.received()[before..]
        .iter()
        .filter_map(|r| r.seq.map(|s| (s, r.at.as_secs_f64())))
        .filter(|(s, _)| held.owed.contains(s))
        .collect();
    let seqs: Vec<u32> = rerouted.iter().map(|(s, _)| *s).collect();
    if let Some((_, first_at)) = rerouted.first() {
        *observed += &format!(
            "; m2 then got {} ({:.2} s after the cut)",
            numbers(&seqs),
            first_at - cut_at
        );
    }
    seqs
}

/// What m1 held and what the broker owed it when it was cut.
struct Held {
    /// Delivered to m1 and not acknowledged.
    held: Vec<u32>,
    /// Everything m2 did not get: what m1 holds, and what the broker kept back for it.
    owed: Vec<u32>,
    /// What m2 had got before the cut.
    m2_before: Vec<u32>,
}

impl Held {
    /// `None` when m1 holds nothing: then there is nothing to follow.
    fn now(m1: &mut Probe, m2: &mut Probe) -> Option<Held> {
        let held = m1.seqs();
        let m2_before = m2.seqs();
        if held.is_empty() {
            return None;
        }
        let owed = (1..=MESSAGES).filter(|s| !m2_before.contains(s)).collect();
        Some(Held {
            held,
            owed,
            m2_before,
        })
    }

    fn describe(&self, session: Session, cut_at: f64) -> String {
        let queued: Vec<u32> = self
            .owed
            .iter()
            .copied()
            .filter(|s| !self.held.contains(s))
            .collect();
        format!(
            "m1 ({}) held {} unacknowledged{}, m2 got {}; m1 cut at {cut_at:.2} s",
            match session {
                Session::Clean => "clean session".to_owned(),
                Session::Kept => format!("session expiry {} s", KEPT_SESSION.as_secs()),
            },
            numbers(&self.held),
            if queued.is_empty() {
                String::new()
            } else {
                format!(" (and {} not yet sent to it)", numbers(&queued))
            },
            numbers(&self.m2_before),
        )
    }
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

/// Case 4 after m1's absence: what came to m1 on its return to its session, and to m2.
struct Back {
    session_present: bool,
    back_at: f64,
    /// m1's messages on its return, with their DUP flags.
    again: Vec<(u32, bool)>,
    /// What m2 took of m1's only after m1's return.
    m2_late: Vec<u32>,
}

/// m1 comes back to its session; the markers say when the broker has sent it all it kept.
async fn m1_returns(
    scene: &Scene<'_>,
    publisher: &Probe,
    m2: &mut Probe,
    held: &Held,
    rerouted: &[u32],
) -> anyhow::Result<Back> {
    let returning = Setup {
        session_expiry: KEPT_SESSION,
        manual_acks: false,
    };
    let (mut m1, connack) = scene.connect_with_connack("m1", returning).await?;
    let back_at = scene.now();
    // Without its session m1 has no subscription, and nothing can come to it.
    if connack.session_present {
        scene.settle(publisher, [&mut m1, &mut *m2]).await?;
    } else {
        scene.settle(publisher, [&mut *m2]).await?;
    }
    let again = m1
        .received()
        .iter()
        .filter_map(|r| r.seq.map(|s| (s, r.dup)))
        .collect();
    let m2_late = m2
        .seqs()
        .into_iter()
        .filter(|s| held.owed.contains(s) && !rerouted.contains(s))
        .collect();
    m1.close().await;
    Ok(Back {
        session_present: connack.session_present,
        back_at,
        again,
        m2_late,
    })
}

impl Back {
    fn verdict(
        &self,
        held: &Held,
        rerouted: &[u32],
        expiry_refused: bool,
        mut observed: String,
    ) -> Outcome {
        observed += &self.describe(expiry_refused);
        let again: Vec<u32> = self.again.iter().map(|(s, _)| *s).collect();
        let without_dup = self
            .again
            .iter()
            .any(|(s, dup)| held.held.contains(s) && !dup);
        let reached =
            |s: &u32| again.contains(s) || rerouted.contains(s) || self.m2_late.contains(s);
        let lost_held: Vec<u32> = held.held.iter().copied().filter(|s| !reached(s)).collect();
        let lost: Vec<u32> = held.owed.iter().copied().filter(|s| !reached(s)).collect();
        if !lost.is_empty() {
            observed += &format!("; lost: {}", numbers(&lost));
        }
        let to_m1 = held.owed.iter().any(|s| again.contains(s));
        let to_m2 = !rerouted.is_empty() || !self.m2_late.is_empty();
        let verdict = if !self.session_present {
            if expiry_refused {
                Verdict::NotSupported(
                    "kept sessions: the broker's CONNACK set Session Expiry Interval 0".into(),
                )
            } else {
                Verdict::Violates(KEEP_SESSION)
            }
        } else if without_dup {
            Verdict::Violates(DUP)
        } else if !lost_held.is_empty() && !to_m2 {
            Verdict::Violates(RESEND)
        } else if !lost.is_empty() {
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
        Outcome { observed, verdict }
    }

    /// `; m1 back at …, got …; m2 got … after m1's return`.
    fn describe(&self, expiry_refused: bool) -> String {
        let mut text = format!(
            "; m1 back at {:.2} s (session present: {}{})",
            self.back_at,
            self.session_present,
            if expiry_refused {
                "; its first CONNACK set Session Expiry Interval 0"
            } else {
                ""
            }
        );
        if !self.again.is_empty() {
            let all: Vec<u32> = self.again.iter().map(|(s, _)| *s).collect();
            let dup: Vec<u32> = self
                .again
                .iter()
                .filter(|(_, d)| *d)
                .map(|(s, _)| *s)
                .collect();
            text += &format!(", got {} (DUP on {})", numbers(&all), numbers(&dup));
        }
        if !self.m2_late.is_empty() {
            text += &format!("; m2 got {} after m1's return", numbers(&self.m2_late));
        }
        text
    }
}
