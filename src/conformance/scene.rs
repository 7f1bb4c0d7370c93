//! Where one case plays: its own topic, its own groups and client ids, and its own clock.
//!
//! Each case runs on a topic and in groups nobody else uses (the run id and the case's name are
//! in them), so a case never sees another case's messages, an earlier run's sessions, or other
//! clients of a shared broker. Times in what a case reports count from the case's start.
//!
//! A scene also knows when the broker has nothing more to send: [`Scene::settle`] publishes a
//! *marker* after the case's messages, on the same connection, to a topic of its own that every
//! member subscribes to (not shared: each member gets every marker). MQTT 5.0 §4.6 orders what a
//! server forwards: "When a Server processes a message that has been published to an Ordered
//! Topic, it MUST send PUBLISH packets to consumers (for the same Topic and QoS) in the order that
//! they were received from any given Client" [MQTT-4.6.0-5], and every topic is an Ordered Topic
//! on a non-shared subscription [MQTT-4.6.0-6]. The clause binds one topic; the marker rides on the
//! brokers' way of meeting it, one outgoing queue per session filled in the order the publisher's
//! packets were read (mosquitto's per-client message list, the demo broker's session queue). So
//! once a member has the marker, what the broker made of the messages before it has arrived too:
//! "nothing else came" is an observation, not a guess after a sleep.
//!
//! AWS IoT Core promises no such order: "The message broker doesn't guarantee the order in which
//! messages and ACK are received" (developer guide, page "MQTT", section "AWS IoT differences
//! from MQTT specifications"). There a marker can overtake the messages before it, so on AWS
//! [`Scene::settle`] also waits, up to [`ANSWER`], until the members together have every message
//! the broker routed: slower where a message is really missing, never a false "missing".

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail};
use rumqttc::v5::mqttbytes::QoS;
use tokio::time::Instant;

use super::probe::{Numbered, Probe, PubAnswer, Setup, SubAnswer};
use crate::mqtt::Broker;

/// How long a case waits for one answer (a CONNACK, a SUBACK, a batch of PUBACKs) before it
/// calls the case inconclusive. Loopback answers take milliseconds; a busy broker, far less than
/// this.
pub const ANSWER: Duration = Duration::from_secs(5);

/// One case's topic, groups, client ids and clock.
pub struct Scene<'a> {
    broker: &'a Broker,
    run_id: &'a str,
    case: &'static str,
    start: Instant,
    /// How long silence must last to count as an answer (`quiet.rs`).
    quiet: Duration,
    /// The number of the last marker published.
    markers: AtomicU32,
    /// Whether a marker says that what came before it has arrived: not on AWS (module doc).
    ordered: bool,
    /// The messages the broker routed (PUBACK 0x00), for [`Scene::settle`] without order.
    routed: Mutex<BTreeSet<u32>>,
}

impl<'a> Scene<'a> {
    pub fn new(
        broker: &'a Broker,
        run_id: &'a str,
        case: &'static str,
        quiet: Duration,
    ) -> Scene<'a> {
        Scene {
            broker,
            run_id,
            case,
            start: Instant::now(),
            quiet,
            markers: AtomicU32::new(0),
            ordered: !broker.on_aws,
            routed: Mutex::new(BTreeSet::new()),
        }
    }

    /// How long a case waits when silence is the answer it tests (`quiet.rs`).
    pub fn quiet(&self) -> Duration {
        self.quiet
    }

    /// The case's topic: `mqtt5-conformance/<run id>/<case>`.
    pub fn topic(&self) -> String {
        format!("mqtt5-conformance/{}/{}", self.run_id, self.case)
    }

    /// The case's marker topic: `mqtt5-conformance/<run id>/markers/<case>`, beside the case's
    /// topic and never under it, so no filter of the case (`<topic>/#` included) matches it.
    pub fn marker_topic(&self) -> String {
        format!("mqtt5-conformance/{}/markers/{}", self.run_id, self.case)
    }

    /// A share name of the case's own: `<case>-<name>-<run id>` (no `/`, `+` or `#`).
    pub fn group(&self, name: &str) -> String {
        format!("{}-{name}-{}", self.case, self.run_id)
    }

    /// `$share/<the case's group name>/<filter>`.
    pub fn shared(&self, group: &str, filter: &str) -> String {
        format!("$share/{}/{filter}", self.group(group))
    }

    /// The client id of the case's client `name`; stable within the run, so that a member can
    /// come back to its session.
    pub fn client_id(&self, name: &str) -> String {
        format!("conf-{}-{}-{name}", self.run_id, self.case)
    }

    /// Seconds since the case started, for what it reports.
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Connects client `name`.
    pub async fn connect(&self, name: &str, setup: Setup) -> anyhow::Result<Probe> {
        self.connect_with_connack(name, setup)
            .await
            .map(|(probe, _)| probe)
    }

    /// Connects client `name`, and says whether the broker kept its session.
    pub async fn connect_with_connack(
        &self,
        name: &str,
        setup: Setup,
    ) -> anyhow::Result<(Probe, rumqttc::v5::mqttbytes::v5::ConnAck)> {
        let marker_topic = self.marker_topic();
        let numbered = Numbered {
            run_id: self.run_id,
            marker_topic: &marker_topic,
            start: self.start,
        };
        Probe::connect(self.broker, name, &self.client_id(name), setup, numbered)
            .await
            .map_err(|error| anyhow!("{name} could not connect: {error:#}"))
    }

    /// Connects client `name`, subscribes it to `filter` at `qos` and to the markers; an error
    /// unless both are granted.
    pub async fn member(
        &self,
        name: &str,
        filter: &str,
        qos: QoS,
        setup: Setup,
    ) -> anyhow::Result<Probe> {
        let probe = self.connect(name, setup).await?;
        granted(&probe, filter, qos).await?;
        self.watch_markers(&probe, qos).await?;
        Ok(probe)
    }

    /// Subscribes `probe` to the case's markers at `qos` (the QoS its messages come at, so that
    /// the marker takes the same queue).
    pub async fn watch_markers(&self, probe: &Probe, qos: QoS) -> anyhow::Result<()> {
        granted(probe, &self.marker_topic(), qos).await.map(|_| ())
    }

    /// Publishes the next marker from `from` and waits (at most [`ANSWER`]) until each of
    /// `members` has it: then what `from` published before it has reached them (see the module
    /// doc). A member the marker does not reach in time is left as it is; the case reports what
    /// arrived. Returns the marker's number.
    pub async fn settle<'p>(
        &self,
        from: &Probe,
        members: impl IntoIterator<Item = &'p mut Probe>,
    ) -> anyhow::Result<u32> {
        let marker = self.publish_marker(from).await?;
        let mut members: Vec<&mut Probe> = members.into_iter().collect();
        let deadline = Instant::now() + ANSWER;
        for member in members.iter_mut() {
            let left = deadline.saturating_duration_since(Instant::now());
            if !member.wait_for_marker(marker, left).await {
                tracing::debug!("marker {marker} did not reach {} in time", member.name);
            }
        }
        if !self.ordered {
            self.wait_for_routed(&mut members).await;
        }
        Ok(marker)
    }

    /// Without order (AWS IoT Core), waits at most [`ANSWER`] until `members` together have
    /// every message the broker routed. Polls: nothing here is worth a finer wake-up.
    async fn wait_for_routed(&self, members: &mut [&mut Probe]) {
        let routed = self
            .routed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let deadline = Instant::now() + ANSWER;
        loop {
            let got: BTreeSet<u32> = members.iter_mut().flat_map(|m| m.seqs()).collect();
            if routed.is_subset(&got) || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A marker from `member` itself, published after what it sent (its PUBACKs): what the broker
    /// does on reading those, it does before it reads the marker. If `member`'s connection has
    /// ended, nothing more comes to it, and the marker comes from `otherwise`.
    pub async fn marker_after(&self, member: &Probe, otherwise: &Probe) -> anyhow::Result<u32> {
        match self.publish_marker(member).await {
            Ok(marker) => Ok(marker),
            Err(_) => self.publish_marker(otherwise).await,
        }
    }

    /// Publishes the next marker from `from`, and returns its number once the broker has
    /// acknowledged it.
    pub async fn publish_marker(&self, from: &Probe) -> anyhow::Result<u32> {
        let marker = self.markers.fetch_add(1, Ordering::Relaxed) + 1;
        let topic = self.marker_topic();
        let answer = from.publish(&topic, Some(marker), QoS::AtLeastOnce, false);
        match tokio::time::timeout(ANSWER, answer).await {
            Ok(Ok(PubAnswer::Acked(_))) => Ok(marker),
            other => bail!(
                "{}'s marker {marker} was not acknowledged: {other:?}",
                from.name
            ),
        }
    }

    /// Publishes messages `seqs` to `topic` at QoS 1 from `publisher`, and fails unless the
    /// broker acknowledged each one within [`ANSWER`]. Returns the reason codes, in order.
    pub async fn publish(
        &self,
        publisher: &Probe,
        topic: &str,
        seqs: impl IntoIterator<Item = u32>,
    ) -> anyhow::Result<Vec<u8>> {
        let messages = seqs.into_iter().map(|seq| (topic.to_owned(), seq));
        self.publish_each(publisher, messages).await
    }

    /// [`Scene::publish`] with a topic for each message.
    pub async fn publish_each(
        &self,
        publisher: &Probe,
        messages: impl IntoIterator<Item = (String, u32)>,
    ) -> anyhow::Result<Vec<u8>> {
        let answers = publisher
            .publish_all(messages, QoS::AtLeastOnce, ANSWER)
            .await;
        answers
            .into_iter()
            .map(|(seq, answer)| match answer {
                PubAnswer::Acked(code) => {
                    if code == 0 {
                        let mut routed = self.routed.lock().unwrap_or_else(|p| p.into_inner());
                        routed.insert(seq);
                    }
                    Ok(code)
                }
                other => Err(anyhow!(
                    "the broker did not acknowledge message #{seq} within {ANSWER:?} ({other:?})"
                )),
            })
            .collect()
    }
}

/// Subscribes `probe` to `filter` at `qos`; an error unless the broker granted it.
pub async fn granted(probe: &Probe, filter: &str, qos: QoS) -> anyhow::Result<u8> {
    match probe.subscribe(filter, qos, ANSWER).await {
        SubAnswer::Granted(granted) => Ok(granted),
        other => bail!(
            "{}'s SUBSCRIBE {filter} was not granted: {other:?}",
            probe.name
        ),
    }
}
