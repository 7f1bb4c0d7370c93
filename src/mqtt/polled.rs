//! What a [`Connection`](super::Connection) hands out: rumqttc's events as they are, and the
//! two things rumqttc does not say in a way a run can act on, a connection that broke and a
//! reconnect with what the old connection left undone.

use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::Publish;
use rumqttc::v5::Event;

/// What [`Connection::poll`] saw.
// rumqttc's `Event` is large itself; it is handed over by value, as rumqttc hands it to us.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Polled {
    /// A packet went out or came in: rumqttc's event, unchanged.
    Event(Event),
    /// The connection just broke (already logged), for the reason given in words. The next
    /// `poll` pauses and reconnects.
    Lost(String),
    /// A new CONNACK after a break. Unless `session_present`, the broker started a new session:
    /// subscribe again, and send `unsent` again.
    Reconnected(Reconnected),
}

/// How a reconnect went, and what the old connection left undone.
#[derive(Debug)]
pub struct Reconnected {
    /// Attempts it took since the connection broke, the successful one included.
    pub attempts: u32,
    /// From the moment the connection broke to the new CONNACK.
    pub downtime: Duration,
    /// The broker kept our session (only with `--session-expiry`): our subscriptions are still
    /// there, and QoS 1 messages it queued for us while we were away come now.
    pub session_present: bool,
    /// Messages rumqttc held when the connection broke, taken out of its hands: QoS 1 messages
    /// written but not yet PUBACKed, one held back on a packet id collision, and messages still
    /// waiting in its queue. In no particular order. The publisher decides what to send again.
    pub unsent: Vec<Publish>,
}
