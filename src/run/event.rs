//! What happened during a run, as a stream of events.
//!
//! Members and the publisher run as separate tokio tasks. Instead of sharing a table behind a
//! mutex, each task *sends* a [`RunEvent`] down one channel, through its [`Reporter`]; a single
//! loop in `machine/` receives them, shows each one (`output.rs`), and adds it to the tally.
//! One owner of the tally, no locks, and the order of events in the log is the order the tally
//! saw them.
//!
//! With `--json`, every event becomes one line of JSON on stdout (NDJSON), `event` naming its kind:
//! `connected`, `subscribed`, `published`, `sending_again`, `received`, `end_of_run`, `churn`,
//! `connection_lost`, `reconnected`, `holding`, `resumed`, `unacknowledged`; the last line is the
//! `summary`. Without it, events are
//! log lines on stderr ([`RunEvent::log`]) and stdout gets only the report.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use tokio::sync::mpsc;

use super::churn::ChurnKind;
use super::roster::{Client, MemberRef};
use crate::message::compact_list;
use crate::mqtt::{Polled, Reconnected};

/// How many events may wait for the loop. A bound, so that a loop held up (by a slow reader of
/// `--json`, say) holds the tasks up in turn instead of letting the queue grow: the run slows
/// down, it does not swell. A thousand keeps the tasks from waiting on each other's bursts.
pub const QUEUE: usize = 1024;

/// A received payload is shown (log line, `--json`) up to this many characters: an event
/// carries what the books and the output need, not a copy of every message.
pub const PAYLOAD_SHOWN: usize = 80;

/// One thing that happened; the JSON form is `{"event":"<kind>", ...fields}`.
///
/// Named `RunEvent` to keep it apart from rumqttc's `Event` (a packet in or out), which the
/// members and the publisher handle too.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// A client got a successful CONNACK.
    Connected {
        #[serde(rename = "client_id")]
        client: Client,
        session_present: bool,
    },
    /// A member's SUBACK granted its `$share` subscription.
    Subscribed {
        #[serde(rename = "client_id")]
        member: MemberRef,
        filter: String,
        qos: u8,
    },
    /// The broker took message `seq`: its PUBACK at QoS 1; at QoS 0, rumqttc handed it to the
    /// connection (all QoS 0 promises: a connection that breaks right then loses it).
    Published {
        seq: u32,
        /// The PUBACK said "no matching subscribers" (0x10): the broker accepted the message while
        /// no member was subscribed, so it went to nobody. Only in the JSON when true, under the
        /// reason code's own name; the summary lists such messages as `unrouted`.
        #[serde(
            rename = "no_matching_subscribers",
            skip_serializing_if = "std::ops::Not::not"
        )]
        unrouted: bool,
    },
    /// The publisher sends `seqs` again, for `cause` (see [`Resend`]).
    SendingAgain { seqs: Vec<u32>, cause: Resend },
    /// A member got the publisher's end-of-run marker (`--role subscriber`; see
    /// `message::end_of_run_topic`): the publisher is done, having published `published`.
    EndOfRun {
        #[serde(rename = "client_id")]
        member: MemberRef,
        published: u32,
    },
    /// `--churn`: once message `at_seq` was acknowledged, the run told `client_id` to `step`
    /// (`leave`, `drop` or `join`).
    Churn {
        #[serde(rename = "client_id")]
        member: MemberRef,
        step: ChurnKind,
        at_seq: u32,
    },
    /// The publisher stopped (the run ended, or it failed) with these messages sent but never
    /// acknowledged by a PUBACK. Only sent when there are some.
    Unacknowledged { seqs: Vec<u32> },
    /// A member received a message.
    Received(Receipt),
    /// A client's connection broke (see `mqtt/link.rs`); it is reconnecting.
    ConnectionLost {
        #[serde(rename = "client_id")]
        client: Client,
        /// Why, in words.
        reason: String,
    },
    /// A client's connection broke and came back (see `mqtt/link.rs`). Unless `session_present`,
    /// the broker started a new session: a member subscribes again; the publisher re-sends what
    /// was not yet PUBACKed either way.
    Reconnected {
        #[serde(rename = "client_id")]
        client: Client,
        /// Attempts it took, the successful one included.
        attempts: u32,
        /// From the break to the new CONNACK.
        downtime_ms: u64,
        session_present: bool,
    },
    /// A member dropped out of the group: the publisher sends nothing until every member is back
    /// and subscribed, or `--timeout` passes (`machine/`, `group.rs`).
    Holding {
        /// Members not connected and subscribed right now.
        waiting_for: Vec<String>,
    },
    /// The publisher goes on.
    Resumed {
        /// How long it held.
        held_ms: u64,
        /// Members still missing: the hold ran out (`--timeout`) and the run goes on without them.
        /// Empty when the whole group came back.
        without: Vec<String>,
    },
}

/// Why the publisher sends a message again: one name per cause, in the `sending_again` event's
/// `cause` and in the summary's `resent_<cause>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resend {
    /// The broker routed it to nobody (PUBACK 0x10): it goes out again once every member is back
    /// (see `run/mod.rs`, "the group comes first"). Not lost yet, and not `published` yet
    /// either, so that a number is `published` once its PUBACK says the group has it.
    Unrouted,
    /// The publisher's connection came back, and the old one had left it without a PUBACK (with
    /// `--no-hold`, even one a member already received).
    Unacknowledged,
    /// The broker took it and routed it to a member whose connection then broke: a clean session
    /// keeps nothing, so it would never arrive (see `lost.rs`). Its PUBACK was `published`; the
    /// copy's PUBACK is `published` again.
    Lost,
}

impl std::fmt::Display for Resend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Resend::Unrouted => "unrouted",
            Resend::Unacknowledged => "unacknowledged",
            Resend::Lost => "lost",
        })
    }
}

/// A member received a message: what the books and the output need of it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub member: MemberRef,
    /// `None` for a foreign message (not from this run).
    pub seq: Option<u32>,
    /// The payload as text, cut after [`PAYLOAD_SHOWN`] characters; empty when nothing shows it.
    pub payload: String,
    /// The broker flagged it as a re-delivery (QoS 1 DUP flag). AWS IoT Core never does (its
    /// developer guide, "MQTT" page, "AWS IoT differences from MQTT specifications"): `via`
    /// tells a redelivery there.
    pub dup: bool,
    /// Which of the member's connections it came on, and since which one its session lasts.
    pub via: Via,
    /// From the publisher queueing it to now, by its `sent-at-us` stamp (`run/latency.rs`);
    /// `None` for a message without one.
    pub latency_ms: Option<f64>,
}

/// Which of a member's connections a message came on: `connection` 1 is its first, and each
/// reconnect adds one; `session_since` is the connection its session began on. The two differ
/// once the broker kept the member's session through a reconnect (`--session-expiry`): only then
/// can the broker send a message again, and a second copy that came on a later connection of
/// the same session is such a redelivery, whether or not it carries DUP (see `slot.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    pub connection: u32,
    pub session_since: u32,
}

impl Via {
    /// A member's first connection, and the session it began.
    pub const FIRST: Via = Via {
        connection: 1,
        session_since: 1,
    };

    /// The connection after a reconnect; `kept`: the broker kept the session (CONNACK's
    /// `session_present`), else the new connection begins a new one.
    pub fn reconnected(self, kept: bool) -> Via {
        let connection = self.connection.saturating_add(1);
        Via {
            connection,
            session_since: if kept { self.session_since } else { connection },
        }
    }
}

impl Serialize for Receipt {
    /// `client_id`, `seq`, `topic`, `payload`, `dup`, `connection`, `session_since`,
    /// `latency_ms`: the topic comes from the member, as every message of a run arrives on the
    /// one topic it subscribed to.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_struct("Receipt", 8)?;
        fields.serialize_field("client_id", self.member.client_id())?;
        fields.serialize_field("seq", &self.seq)?;
        fields.serialize_field("topic", self.member.topic())?;
        fields.serialize_field("payload", &self.payload)?;
        fields.serialize_field("dup", &self.dup)?;
        fields.serialize_field("connection", &self.via.connection)?;
        fields.serialize_field("session_since", &self.via.session_since)?;
        fields.serialize_field("latency_ms", &self.latency_ms)?;
        fields.end()
    }
}

impl RunEvent {
    /// The event as a log line on stderr (without `--json`).
    pub fn log(&self) {
        match self {
            RunEvent::Received(receipt) => receipt.log(),
            RunEvent::Connected { .. }
            | RunEvent::Reconnected { .. }
            | RunEvent::Subscribed { .. }
            | RunEvent::EndOfRun { .. }
            | RunEvent::Churn { .. }
            // `mqtt/link.rs` already logged it, with the reason.
            | RunEvent::ConnectionLost { .. } => self.log_client(),
            _ => self.log_run(),
        }
    }

    /// What a client did.
    fn log_client(&self) {
        match self {
            RunEvent::Connected { client, .. } => tracing::info!("[{}] connected", client.client_id()),
            RunEvent::Reconnected {
                client,
                attempts,
                downtime_ms,
                session_present,
            } => tracing::warn!(
                "[{}] reconnected after {} ({attempts} attempts, session_present={session_present})",
                client.client_id(),
                humantime::format_duration(std::time::Duration::from_millis(*downtime_ms))
            ),
            RunEvent::Subscribed { member, filter, .. } => {
                tracing::info!("[{}] subscribed to {filter}", member.client_id())
            }
            RunEvent::EndOfRun { member, published } => tracing::info!(
                "[{}] end of run: the publisher is done, {published} messages published",
                member.client_id()
            ),
            RunEvent::Churn {
                member,
                step,
                at_seq,
            } => tracing::warn!(
                "[{}] --churn {step}, now that #{at_seq} is acknowledged",
                member.client_id()
            ),
            _ => {}
        }
    }

    /// What the publisher did, and what the run did with the group.
    fn log_run(&self) {
        match self {
            RunEvent::SendingAgain { seqs, cause } => log_resend(seqs, *cause),
            RunEvent::Published { seq, .. } => tracing::debug!("[publisher] published #{seq}"),
            RunEvent::Unacknowledged { seqs } => tracing::warn!(
                "[publisher] stopped with {} messages sent but never acknowledged",
                seqs.len()
            ),
            RunEvent::Holding { waiting_for } => tracing::warn!(
                "{} not subscribed (away, or joining): holding the publisher until every member is subscribed (at most --timeout)",
                waiting_for.join(", ")
            ),
            RunEvent::Resumed { held_ms, without } if without.is_empty() => tracing::info!(
                "the group is complete again: publishing on after holding {}",
                humantime::format_duration(std::time::Duration::from_millis(*held_ms))
            ),
            RunEvent::Resumed { held_ms, without } => tracing::warn!(
                "held for {} (--timeout) and {} still not back: publishing on without them",
                humantime::format_duration(std::time::Duration::from_millis(*held_ms)),
                without.join(", ")
            ),
            _ => {}
        }
    }
}

/// The publisher's side of the story at the default log level, once the broker took every
/// message: publisher → broker, while the `received` lines show broker → one member.
pub fn log_all_published(id: &str, count: u32, qos: rumqttc::v5::mqttbytes::QoS) {
    match qos {
        rumqttc::v5::mqttbytes::QoS::AtMostOnce => tracing::info!(
            "[{id}] published #1–#{count}: all written to the connection (QoS 0: no PUBACKs)"
        ),
        _ => tracing::info!("[{id}] published #1–#{count}: {count} PUBACKs from the broker"),
    }
}

/// What the publisher sends again, and why.
fn log_resend(seqs: &[u32], cause: Resend) {
    let list = compact_list(seqs, 10);
    match cause {
        Resend::Unrouted => tracing::info!(
            "[publisher] #{list} went to nobody (PUBACK 0x10); sending it again once the group is complete"
        ),
        Resend::Unacknowledged => tracing::info!(
            "[publisher] sending {} messages again that the old connection left unacknowledged: {list}",
            seqs.len()
        ),
        Resend::Lost => tracing::warn!(
            "[publisher] sending {} messages again that the broker acknowledged and no member got: routed to a member whose connection then broke (a clean session keeps nothing), or, with no member subscribed, to nobody: {list}",
            seqs.len()
        ),
    }
}

impl Receipt {
    fn log(&self) {
        let (id, topic, payload) = (self.member.client_id(), self.member.topic(), &self.payload);
        match self.seq {
            Some(seq) => tracing::info!("[{id}] received #{seq} on {topic}: {payload:?}"),
            None => tracing::warn!(
                "[{id}] received a foreign message on {topic} (not from this run): {payload:?}"
            ),
        }
    }
}

/// A payload as shown: its first [`PAYLOAD_SHOWN`] characters (a payload can be anyone's
/// 256 KiB message), then `…`.
pub fn shown(payload: &[u8]) -> String {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(4 * PAYLOAD_SHOWN)]);
    match text.char_indices().nth(PAYLOAD_SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None if payload.len() > 4 * PAYLOAD_SHOWN => format!("{text}…"),
        None => text.into_owned(),
    }
}

/// A task's handle on the run's one channel. It knows its task's client, so the events about
/// the connection (connected, lost, reconnected) name the right client by construction.
#[derive(Clone)]
pub struct Reporter {
    client: Client,
    events: mpsc::Sender<RunEvent>,
}

impl Reporter {
    pub fn new(client: Client, events: mpsc::Sender<RunEvent>) -> Reporter {
        Reporter { client, events }
    }

    /// Sends `event` to the run's loop, waiting while the queue is full (see [`QUEUE`]). If the
    /// loop is gone, the run is over anyway.
    pub async fn send(&self, event: RunEvent) {
        let _ = self.events.send(event).await;
    }

    /// The first CONNACK.
    pub async fn connected(&self, session_present: bool) {
        self.send(RunEvent::Connected {
            client: self.client.clone(),
            session_present,
        })
        .await;
    }

    /// A break or a reconnect is the run's business too: it holds the publisher while a member
    /// is away, and counts the outages. Call it with everything a connection polled; packets
    /// are the task's own business and are not sent.
    pub async fn link_news(&self, polled: &Polled) {
        match polled {
            Polled::Event(_) => {}
            Polled::Lost(reason) => {
                self.send(RunEvent::ConnectionLost {
                    client: self.client.clone(),
                    reason: reason.clone(),
                })
                .await
            }
            Polled::Reconnected(reconnected) => self.send(self.reconnected(reconnected)).await,
        }
    }

    fn reconnected(&self, reconnected: &Reconnected) -> RunEvent {
        RunEvent::Reconnected {
            client: self.client.clone(),
            attempts: reconnected.attempts,
            downtime_ms: reconnected.downtime.as_millis() as u64,
            session_present: reconnected.session_present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_payload_is_shown_by_its_start() {
        assert_eq!(shown(b"Hello World! [7]"), "Hello World! [7]");
        let long = shown("é".repeat(100_000).as_bytes());
        assert_eq!(long.chars().count(), PAYLOAD_SHOWN + 1);
        assert!(long.ends_with('…'));
        assert_eq!(shown(&[b'x'; 81]), format!("{}…", "x".repeat(80)));
    }

    #[test]
    fn a_reconnect_counts_a_connection_and_a_new_session_unless_kept() {
        let kept = Via::FIRST.reconnected(true);
        assert_eq!((kept.connection, kept.session_since), (2, 1));
        let anew = kept.reconnected(false);
        assert_eq!((anew.connection, anew.session_since), (3, 3));
    }
}
