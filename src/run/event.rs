//! What happened during a run, as a stream of events.
//!
//! Members and the publisher run as separate tokio tasks. Instead of sharing a table behind a
//! mutex, each task *sends* a [`RunEvent`] down one channel, through its [`Reporter`]; a single
//! loop in `run/mod.rs` receives them, shows each one (`output.rs`), and adds it to the tally.
//! One owner of the tally, no locks, and the order of events in the log is the order the tally
//! saw them.
//!
//! With `--json`, every event becomes one line of JSON on stdout (NDJSON), `event` naming its kind:
//! `connected`, `subscribed`, `published`, `resending`, `sending_again`, `received`, `end_of_run`, `churn`, `connection_lost`, `reconnected`,
//! `holding`, `resumed`, `unacknowledged`; the last line is the `summary`. Without it, events are
//! log lines on stderr ([`RunEvent::log`]) and stdout gets only the report.

use serde::Serialize;
use tokio::sync::mpsc;

use super::churn::ChurnKind;
use crate::message::compact_list;
use crate::mqtt::{Polled, Reconnected};

/// One thing that happened; the JSON form is `{"event":"<kind>", ...fields}`.
///
/// Named `RunEvent` to keep it apart from rumqttc's `Event` (a packet in or out), which the
/// members and the publisher handle too.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    /// A client got a successful CONNACK.
    Connected {
        client_id: String,
        session_present: bool,
    },
    /// A member's SUBACK granted its `$share` subscription.
    Subscribed {
        client_id: String,
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
    /// The broker routed message `seq` to nobody (PUBACK 0x10) and the publisher sends it again
    /// once every member is back (see `run/mod.rs`, "the group comes first"): not lost yet, and not
    /// `published` yet either, so that each number is `published` exactly once.
    Resending { seq: u32 },
    /// The publisher's connection came back, and it sends again what the old one left without a
    /// PUBACK (with `--no-hold`, even those a member already received).
    SendingAgain { seqs: Vec<u32> },
    /// A member got the publisher's end-of-run marker (`--role subscriber`; see
    /// `message::end_of_run_topic`): the publisher is done, having published `published`.
    EndOfRun { client_id: String, published: u32 },
    /// `--churn`: once message `at_seq` was acknowledged, the run told `client_id` to `step`
    /// (`leave`, `drop` or `join`).
    Churn {
        client_id: String,
        step: ChurnKind,
        at_seq: u32,
    },
    /// The publisher stopped (the run ended, or it failed) with these messages sent but never
    /// acknowledged by a PUBACK. Only sent when there are some.
    Unacknowledged { seqs: Vec<u32> },
    /// A member received a message. `seq` is `None` for a foreign message (not from this run).
    Received {
        client_id: String,
        seq: Option<u32>,
        topic: String,
        payload: String,
        /// The broker flagged it as a re-delivery (QoS 1 DUP flag).
        dup: bool,
        /// From the publisher queueing it to now, by its `sent-at-us` stamp (`run/latency.rs`);
        /// `None` for a message without one.
        latency_ms: Option<f64>,
    },
    /// A client's connection broke (see `mqtt/link.rs`); it is reconnecting.
    ConnectionLost {
        client_id: String,
        /// Why, in words.
        reason: String,
    },
    /// A client's connection broke and came back (see `mqtt/link.rs`). Unless `session_present`,
    /// the broker started a new session: a member subscribes again; the publisher re-sends what
    /// was not yet PUBACKed either way.
    Reconnected {
        client_id: String,
        /// Attempts it took, the successful one included.
        attempts: u32,
        /// From the break to the new CONNACK.
        downtime_ms: u64,
        session_present: bool,
    },
    /// A member dropped out of the group: the publisher sends nothing until every member is back
    /// and subscribed, or `--timeout` passes (`run/mod.rs`).
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

impl RunEvent {
    /// The event as a log line on stderr (without `--json`).
    pub fn log(&self) {
        match self {
            RunEvent::Connected { client_id, .. } => tracing::info!("[{client_id}] connected"),
            RunEvent::Reconnected {
                client_id,
                attempts,
                downtime_ms,
                session_present,
            } => tracing::warn!(
                "[{client_id}] reconnected after {} ({attempts} attempts, session_present={session_present})",
                humantime::format_duration(std::time::Duration::from_millis(*downtime_ms))
            ),
            RunEvent::Subscribed {
                client_id, filter, ..
            } => tracing::info!("[{client_id}] subscribed to {filter}"),
            RunEvent::Resending { seq } => tracing::info!(
                "[publisher] #{seq} went to nobody (PUBACK 0x10); sending it again once the group is complete"
            ),
            RunEvent::Published { seq, .. } => tracing::debug!("[publisher] published #{seq}"),
            RunEvent::SendingAgain { seqs } => tracing::info!(
                "[publisher] sending {} messages again that the old connection left unacknowledged: {}",
                seqs.len(),
                compact_list(seqs, 10)
            ),
            RunEvent::EndOfRun {
                client_id,
                published,
            } => tracing::info!(
                "[{client_id}] end of run: the publisher is done, {published} messages published"
            ),
            RunEvent::Churn {
                client_id,
                step,
                at_seq,
            } => tracing::warn!(
                "[{client_id}] --churn {step}, now that #{at_seq} is acknowledged"
            ),
            RunEvent::Unacknowledged { seqs } => tracing::warn!(
                "[publisher] stopped with {} messages sent but never acknowledged",
                seqs.len()
            ),
            // `mqtt/link.rs` already logged it, with the reason.
            RunEvent::ConnectionLost { .. } => {}
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
            RunEvent::Received {
                client_id,
                seq: Some(seq),
                topic,
                payload,
                ..
            } => tracing::info!("[{client_id}] received #{seq} on {topic}: {payload:?}"),
            RunEvent::Received {
                client_id,
                seq: None,
                topic,
                payload,
                ..
            } => tracing::warn!(
                "[{client_id}] received a foreign message on {topic} (not from this run): {:?}",
                shortened(payload)
            ),
        }
    }
}

/// A foreign payload can be anyone's 256 KiB message: log its start only.
fn shortened(payload: &str) -> String {
    const SHOWN: usize = 80;
    match payload.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &payload[..cut]),
        None => payload.to_owned(),
    }
}

/// A task's handle on the run's one channel. It knows its task's client id, so the events about
/// the connection (connected, lost, reconnected) name the right client by construction.
#[derive(Clone)]
pub struct Reporter {
    client_id: String,
    events: mpsc::UnboundedSender<RunEvent>,
}

impl Reporter {
    pub fn new(client_id: &str, events: mpsc::UnboundedSender<RunEvent>) -> Reporter {
        Reporter {
            client_id: client_id.to_owned(),
            events,
        }
    }

    /// Sends `event` to the run's loop. If the loop is gone, the run is over anyway.
    pub fn send(&self, event: RunEvent) {
        let _ = self.events.send(event);
    }

    /// The first CONNACK.
    pub fn connected(&self, session_present: bool) {
        self.send(RunEvent::Connected {
            client_id: self.client_id.clone(),
            session_present,
        });
    }

    /// A break or a reconnect is the run's business too: it holds the publisher while a member
    /// is away, and counts the outages. Call it with everything a connection polled; packets
    /// are the task's own business and are not sent.
    pub fn link_news(&self, polled: &Polled) {
        match polled {
            Polled::Event(_) => {}
            Polled::Lost(reason) => self.send(RunEvent::ConnectionLost {
                client_id: self.client_id.clone(),
                reason: reason.clone(),
            }),
            Polled::Reconnected(reconnected) => self.send(self.reconnected(reconnected)),
        }
    }

    fn reconnected(&self, reconnected: &Reconnected) -> RunEvent {
        RunEvent::Reconnected {
            client_id: self.client_id.clone(),
            attempts: reconnected.attempts,
            downtime_ms: reconnected.downtime.as_millis() as u64,
            session_present: reconnected.session_present,
        }
    }
}
