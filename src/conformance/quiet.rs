//! How long silence must last before a case takes it as the broker's answer.
//!
//! Most waits in the cases end on an event: a SUBACK, a PUBACK, a marker (`scene.rs`). A few
//! questions are about something *not* happening, where no event can say "never": the broker
//! re-routes nothing when a member's connection breaks (cases 3 and 4), sends no retained message
//! to a new shared subscriber (case 7); or the broker must have noticed a closed socket before
//! the next step, which it does not announce (cases 5 and 6). Those wait one quiet period.
//!
//! A fixed sleep is too short on a loaded CI machine and too long on an idle one. So the quiet
//! period is measured against the broker in front of us: [`ROUND_TRIPS`] times the slowest of a
//! few PUBLISH → PUBACK round trips, and never less than [`AT_LEAST`].

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use tokio::time::Instant;

use super::probe::{Probe, PubAnswer};

/// The shortest quiet period: on loopback a round trip takes well under a millisecond, and a
/// broker's own timers (noticing a closed socket, handing on a message) run on a scale of tens.
pub const AT_LEAST: Duration = Duration::from_millis(200);

/// The longest: a broker whose round trips are slower than a tenth of this (or that did not
/// answer a sample at all) gets no longer, so a suite against it is slow, not endless; every
/// other wait of a case ends at 5 s too (`scene::ANSWER`).
pub const AT_MOST: Duration = Duration::from_secs(5);

/// How many round trips of silence make an answer.
pub const ROUND_TRIPS: u32 = 10;

/// How many PUBLISH → PUBACK round trips to time.
const SAMPLES: u32 = 5;

/// The quiet period for this broker, and the slowest round trip it was measured from: times
/// PUBLISH → PUBACK from `probe` to `topic` (a topic nobody subscribes to), one at a time.
pub async fn measure(probe: &Probe, topic: &str, limit: Duration) -> (Duration, Duration) {
    let mut slowest = Duration::ZERO;
    for seq in 1..=SAMPLES {
        let sent = Instant::now();
        let answer = probe.publish(topic, Some(seq), QoS::AtLeastOnce, false);
        match tokio::time::timeout(limit, answer).await {
            Ok(Ok(PubAnswer::Acked(_))) => slowest = slowest.max(sent.elapsed()),
            // No PUBACK in time: the broker is slow indeed; count the whole wait.
            _ => slowest = slowest.max(limit),
        }
    }
    ((slowest * ROUND_TRIPS).clamp(AT_LEAST, AT_MOST), slowest)
}
