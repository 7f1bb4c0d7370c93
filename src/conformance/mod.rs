//! `--conformance`: what *your* broker does with a shared subscription, clause by clause.
//!
//! MQTT 5.0 (OASIS Standard, 7 March 2019) defines shared subscriptions in §4.8.2:
//!
//! > A Shared Subscription can be associated with multiple subscribing MQTT Sessions. Like a
//! > Non‑shared Subscription, it has a Topic Filter and Subscription Options; however, a
//! > publication that matches its Topic Filter is only sent to one of its subscribing Sessions.
//! > Shared Subscriptions are useful where several consuming Clients share the processing of
//! > the publications in parallel.
//!
//! The rest of §4.8.2 is short, and leaves much open: how the member is chosen; what happens to
//! a QoS 1 message whose member died before acknowledging it ("MAY wait", "SHOULD send to
//! another", "MAY attempt … as soon as"); what a group with no member online gets. Brokers
//! answer differently, and the differences are what people trip over in production (a crashed
//! worker's messages lost, an offline member still given its turn). This mode asks the broker in
//! front of you, one case at a time, and prints what it did, in numbers, with a verdict against
//! the spec's words.
//!
//! Each case lives in its own file, with the clauses it reads quoted beside its code:
//!
//! | # | file | question |
//! |---|------|----------|
//! | 1 | `distribution.rs` | round-robin, random, sticky or hashed? |
//! | 2 | `groups.rs` | does each group get its own full copy, and a plain subscriber everything? |
//! | 3, 4 | `broken_member.rs` | a member dies holding unacknowledged QoS 1 messages: clean session, kept session |
//! | 5 | `expired_session.rs` | a member stays away until its session expires, while messages keep coming |
//! | 6 | `all_offline.rs` | every member offline with a session: who gets what on return? |
//! | 7 | `retained.rs` | does a new shared subscription get the retained message? |
//! | 8 | `no_local.rs` | No Local on a shared subscription: a protocol error? |
//! | 9 | `granted_qos.rs` | members at QoS 0, publisher at QoS 1: granted QoS respected? |
//! | 10 | `negative_puback.rs` | a member answers PUBACK 0x80: discarded, or sent to another? |
//! | 11 | `slow_member.rs` | a slow member (Receive Maximum 1): strict turns, or routed around? |
//! | 12 | `filters.rs` | wildcards in a shared filter, and invalid share names |
//!
//! How they are built: `probe/` is a client a case steers packet by packet (it can cut its
//! own connection, or answer PUBACK 0x80); `scene.rs` gives each case its own topic, groups and
//! clock, and a marker that says when the broker has sent all it will; `quiet.rs` measures how
//! long silence must last where silence is the answer; `finding.rs` is the row and its verdict;
//! `clauses.rs` the spec's words several cases quote. Each case is bounded in time, and cases
//! with faults make the faults themselves.
//!
//! Exit code: 0 when no case violates a MUST, 3 when one does, 1 when the broker cannot be
//! reached at all.

use std::time::{Duration, Instant};

use rand::RngExt;
use rumqttc::v5::mqttbytes::v5::ConnAck;

use crate::exit::Exit;
use crate::failure::Failure;
use crate::mqtt::Broker;

mod all_offline;
mod broken_member;
mod clauses;
mod distribution;
mod expired_session;
mod filters;
mod finding;
mod granted_qos;
mod groups;
mod negative_puback;
mod no_local;
mod probe;
mod quiet;
mod retained;
mod scene;
mod slow_member;

pub use finding::Finding;
use finding::{Outcome, Verdict};
use probe::Setup;
use scene::Scene;

/// The cases, in the order of the README's table: number, name, clauses read.
const CASES: [(u8, &str, &str); 12] = [
    (1, distribution::CASE, distribution::CLAUSE),
    (2, groups::CASE, groups::CLAUSE),
    (3, broken_member::CASE_CLEAN, broken_member::CLAUSE_CLEAN),
    (4, broken_member::CASE_KEPT, broken_member::CLAUSE_KEPT),
    (5, expired_session::CASE, expired_session::CLAUSE),
    (6, all_offline::CASE, all_offline::CLAUSE),
    (7, retained::CASE, retained::CLAUSE),
    (8, no_local::CASE, no_local::CLAUSE),
    (9, granted_qos::CASE, granted_qos::CLAUSE),
    (10, negative_puback::CASE, negative_puback::CLAUSE),
    (11, slow_member::CASE, slow_member::CLAUSE),
    (12, filters::CASE, filters::CLAUSE),
];

/// The longest one case may take before it is called inconclusive. The slowest case waits out a
/// session expiry (a few seconds); this leaves room for a busy machine.
const CASE_LIMIT: Duration = Duration::from_secs(30);

/// What `--conformance` found: the broker asked, and one row per case.
pub struct Findings {
    /// `host:port`.
    pub broker: String,
    pub run_id: String,
    /// What the broker's CONNACK announced of the features the cases use.
    pub connack: String,
    pub rows: Vec<Finding>,
}

impl Findings {
    /// Cases that saw the broker break a MUST.
    pub fn violations(&self) -> usize {
        self.count("violates")
    }

    fn count(&self, kind: &str) -> usize {
        self.rows
            .iter()
            .filter(|f| f.verdict.kind() == kind)
            .count()
    }

    /// `12 cases: 10 conform, 2 allowed variants, …`: the closing line.
    pub fn tally(&self) -> String {
        format!(
            "{} cases: {} conform, {} allowed variants, {} violate, {} not supported, {} inconclusive",
            self.rows.len(),
            self.count("conforms"),
            self.count("allowed variant"),
            self.violations(),
            self.count("not supported"),
            self.count("inconclusive"),
        )
    }

    /// 0, or 3 when a case found a MUST broken.
    pub fn exit(&self) -> Exit {
        Exit::of_conformance(self.violations() > 0)
    }
}

/// Runs every case against `broker`, prints a row for each (a JSON object each with `json`),
/// and returns the rows; [`Findings::exit`] is the exit code: 0, or 3 when a case found a MUST
/// broken.
///
/// Fails (exit 1) only when the broker cannot be reached at all.
pub async fn run(broker: &Broker, json: bool) -> Result<Findings, Failure> {
    // Each step of a case waits seconds, not the minute `--timeout` allows a run.
    let broker = Broker {
        timeout: broker.timeout.min(scene::ANSWER),
        ..broker.clone()
    };
    let run_id = format!("{:08x}", rand::rng().random::<u32>());

    // Can we reach the broker at all? What does its CONNACK say it supports, and how long is a
    // round trip?
    let hello = Scene::new(&broker, &run_id, "hello", quiet::AT_LEAST);
    let (probe, connack) = hello
        .connect_with_connack("hello", Setup::default())
        .await
        .map_err(Failure::Connection)?;
    let (quiet, round_trip) = quiet::measure(&probe, &hello.topic(), scene::ANSWER).await;
    probe.close().await;
    let announced = announced(&connack);
    if !json {
        crate::stdout::line(format!(
            "MQTT 5 shared subscriptions on {}:{}, clause by clause (run {run_id})\nCONNACK: \
             {announced}\nRound trip (PUBLISH to PUBACK, slowest of 5): {:.1} ms; a case that \
             listens for silence listens {} ms\n",
            broker.host,
            broker.port,
            round_trip.as_secs_f64() * 1000.0,
            quiet.as_millis()
        ));
    }
    let unsupported = connack
        .properties
        .as_ref()
        .and_then(|p| p.shared_subscription_available)
        == Some(0);

    let mut findings = Findings {
        broker: format!("{}:{}", broker.host, broker.port),
        run_id: run_id.clone(),
        connack: announced,
        rows: Vec::new(),
    };
    for (number, case, clause) in CASES {
        let started = Instant::now();
        let outcome = if unsupported {
            Outcome {
                observed: "not run".into(),
                verdict: Verdict::NotSupported(
                    "the CONNACK says Shared Subscription Available 0".into(),
                ),
            }
        } else {
            let scene = Scene::new(&broker, &run_id, case, quiet);
            bounded(play(number, &scene)).await
        };
        let finding = Finding {
            number,
            case,
            clause,
            observed: outcome.observed,
            verdict: outcome.verdict,
            took: started.elapsed(),
        };
        if json {
            crate::stdout::line(finding.json());
        } else {
            crate::stdout::line(finding.text());
        }
        findings.rows.push(finding);
    }
    if !json {
        crate::stdout::line(findings.tally());
    }
    Ok(findings)
}

/// A case's outcome within [`CASE_LIMIT`]; a case that fails or takes longer is inconclusive.
async fn bounded(case: impl std::future::Future<Output = anyhow::Result<Outcome>>) -> Outcome {
    match tokio::time::timeout(CASE_LIMIT, case).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(error)) => Outcome {
            observed: format!("{error:#}"),
            verdict: Verdict::Inconclusive("the case could not finish".into()),
        },
        Err(_) => Outcome {
            observed: format!("stopped after {CASE_LIMIT:?}"),
            verdict: Verdict::Inconclusive(format!("the case took longer than {CASE_LIMIT:?}")),
        },
    }
}

/// Plays case `number` in `scene`.
async fn play(number: u8, scene: &Scene<'_>) -> anyhow::Result<Outcome> {
    match number {
        1 => distribution::run(scene).await,
        2 => groups::run(scene).await,
        3 => broken_member::run(scene, broken_member::Session::Clean).await,
        4 => broken_member::run(scene, broken_member::Session::Kept).await,
        5 => expired_session::run(scene).await,
        6 => all_offline::run(scene).await,
        7 => retained::run(scene).await,
        8 => no_local::run(scene).await,
        9 => granted_qos::run(scene).await,
        10 => negative_puback::run(scene).await,
        11 => slow_member::run(scene).await,
        12 => filters::run(scene).await,
        _ => unreachable!("CASES lists cases 1 to 12"),
    }
}

/// What the broker's CONNACK says about the features the cases use; "(not sent)" means the
/// spec's default (Receive Maximum 65,535, Maximum QoS 2, retained messages, wildcards and
/// shared subscriptions available).
fn announced(connack: &ConnAck) -> String {
    let Some(p) = &connack.properties else {
        return "no properties (every feature at the spec's default)".into();
    };
    let show = |name: &str, value: Option<String>| {
        format!("{name} {}", value.unwrap_or_else(|| "(not sent)".into()))
    };
    [
        show("Receive Maximum", p.receive_max.map(|v| v.to_string())),
        show("Maximum QoS", p.max_qos.map(|v| v.to_string())),
        show(
            "Retain Available",
            p.retain_available.map(|v| v.to_string()),
        ),
        show(
            "Wildcard Subscription Available",
            p.wildcard_subscription_available.map(|v| v.to_string()),
        ),
        show(
            "Shared Subscription Available",
            p.shared_subscription_available.map(|v| v.to_string()),
        ),
        show(
            "Session Expiry Interval",
            p.session_expiry_interval.map(|v| format!("{v} s")),
        ),
    ]
    .join("; ")
}
