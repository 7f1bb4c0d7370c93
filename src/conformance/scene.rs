//! Where one case plays: its own topic, its own groups and client ids, and its own clock.
//!
//! Each case runs on a topic and in groups nobody else uses (the run id and the case's name are
//! in them), so a case never sees another case's messages, an earlier run's sessions, or other
//! clients of a shared broker. Times in what a case reports count from the case's start.

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
}

impl<'a> Scene<'a> {
    pub fn new(broker: &'a Broker, run_id: &'a str, case: &'static str) -> Scene<'a> {
        Scene {
            broker,
            run_id,
            case,
            start: Instant::now(),
        }
    }

    /// The case's topic: `mqtt5-conformance/<run id>/<case>`.
    pub fn topic(&self) -> String {
        format!("mqtt5-conformance/{}/{}", self.run_id, self.case)
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
        let numbered = Numbered {
            run_id: self.run_id,
            start: self.start,
        };
        Probe::connect(self.broker, name, &self.client_id(name), setup, numbered)
            .await
            .map_err(|error| anyhow!("{name} could not connect: {error:#}"))
    }

    /// Connects client `name` and subscribes it to `filter` at `qos`; an error unless granted.
    pub async fn member(
        &self,
        name: &str,
        filter: &str,
        qos: QoS,
        setup: Setup,
    ) -> anyhow::Result<Probe> {
        let probe = self.connect(name, setup).await?;
        granted(&probe, filter, qos).await?;
        Ok(probe)
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
                PubAnswer::Acked(code) => Ok(code),
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
