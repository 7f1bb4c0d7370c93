//! What happened during a run, as a stream of events.
//!
//! Members and the publisher run as separate tokio tasks. Instead of sharing a table behind a
//! mutex, each task *sends* an [`Event`] down one channel; a single loop in `run.rs` receives them,
//! logs each one, and adds it to the tally. One owner of the tally, no locks, and the order of
//! events in the log is the order the tally saw them.
//!
//! With `--json`, every event becomes one line of JSON on stdout (NDJSON), `event` naming its kind:
//! `connected`, `subscribed`, `published`, `resending`, `received`, `connection_lost`, `reconnected`,
//! `holding`, `resumed`, `unacknowledged`; the last line is the `summary`
//! from `report.rs`. Without it, events are log lines on stderr and stdout gets only the report.

use serde::Serialize;

use crate::connection::Reconnected;

/// One thing that happened; the JSON form is `{"event":"<kind>", ...fields}`.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
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
        /// no member was subscribed, so it went to nobody. Only in the JSON when true.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        no_matching_subscribers: bool,
    },
    /// The broker routed message `seq` to nobody (PUBACK 0x10) and the publisher sends it again
    /// once every member is back (see `run.rs`, "the group comes first"): not lost yet, and not
    /// `published` yet either, so that each number is `published` exactly once.
    Resending { seq: u32 },
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
    },
    /// A client's connection broke (see `connection.rs`); it is reconnecting.
    ConnectionLost {
        client_id: String,
        /// Why, in words.
        reason: String,
    },
    /// A client's connection broke and came back (see `connection.rs`). Unless `session_present`,
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
    /// and subscribed, or `--timeout` passes (`run.rs`).
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

impl Event {
    /// The event for `client_id`'s reconnect.
    pub fn reconnected(client_id: &str, reconnected: &Reconnected) -> Event {
        Event::Reconnected {
            client_id: client_id.to_owned(),
            attempts: reconnected.attempts,
            downtime_ms: reconnected.downtime.as_millis() as u64,
            session_present: reconnected.session_present,
        }
    }

    /// Shows the event: a JSON line on stdout, or a log line on stderr.
    pub fn emit(&self, json: bool) {
        if json {
            print_json_line(self);
            return;
        }
        match self {
            Event::Connected { client_id, .. } => tracing::info!("[{client_id}] connected"),
            Event::Reconnected {
                client_id,
                attempts,
                downtime_ms,
                session_present,
            } => tracing::warn!(
                "[{client_id}] reconnected after {} ({attempts} attempts, session_present={session_present})",
                humantime::format_duration(std::time::Duration::from_millis(*downtime_ms))
            ),
            Event::Subscribed {
                client_id, filter, ..
            } => tracing::info!("[{client_id}] subscribed to {filter}"),
            Event::Resending { seq } => tracing::info!(
                "[publisher] #{seq} went to nobody (PUBACK 0x10); sending it again once the group is complete"
            ),
            Event::Published { seq, .. } => tracing::debug!("[publisher] published #{seq}"),
            Event::Unacknowledged { seqs } => tracing::warn!(
                "[publisher] stopped with {} messages sent but never acknowledged",
                seqs.len()
            ),
            // `connection.rs` already logged it, with the reason.
            Event::ConnectionLost { .. } => {}
            Event::Holding { waiting_for } => tracing::warn!(
                "{} left the group: holding the publisher until every member is back and subscribed (at most --timeout)",
                waiting_for.join(", ")
            ),
            Event::Resumed { held_ms, without } if without.is_empty() => tracing::info!(
                "the group is complete again: publishing on after holding {}",
                humantime::format_duration(std::time::Duration::from_millis(*held_ms))
            ),
            Event::Resumed { held_ms, without } => tracing::warn!(
                "held for {} (--timeout) and {} still not back: publishing on without them",
                humantime::format_duration(std::time::Duration::from_millis(*held_ms)),
                without.join(", ")
            ),
            Event::Received {
                client_id,
                seq: Some(seq),
                topic,
                payload,
                ..
            } => tracing::info!("[{client_id}] received #{seq} on {topic}: {payload:?}"),
            Event::Received {
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

/// Prints `value` as one line of JSON on stdout.
pub fn print_json_line(value: &impl Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => print_stdout(&format!("{line}\n")),
        // Our types always serialize; if that ever changes, say so instead of losing the event.
        Err(error) => tracing::error!("cannot serialize an event to JSON: {error}"),
    }
}

/// Writes `text` to stdout as it is.
///
/// `println!` panics when stdout is closed, and Rust programs ignore SIGPIPE, so
/// `... --json | head -1` would end in a panic. A reader that went away is not our error: drop
/// the output, and let the exit code still tell how the run went.
pub fn print_stdout(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(error) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        if error.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::error!("cannot write to stdout: {error}");
        }
    }
}
