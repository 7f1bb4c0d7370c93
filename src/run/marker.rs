//! The end-of-run marker, the publisher's side: with `--role publisher`, once every message is
//! acknowledged, it tells the members in other processes that the run is over (see
//! `message::end_of_run_topic`, and `member.rs` for the members' side).
//!
//! With `--publishers K`, the first publisher sends it, once the run says that *every* publisher's
//! messages are acknowledged: so the broker had taken them all before the marker. (MQTT orders
//! messages per publishing connection only; the members keep counting while they leave, and a
//! broker that queues per subscriber, as mosquitto does, delivers them first.)

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;
use rumqttc::Outgoing;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::publication::Publication;
use crate::message;
use crate::mqtt::{Broker, Connection, Polled};

/// Waits until the run is over (`the_end` brings how many messages the broker took from every
/// publisher), then publishes the marker. Without it the members still stop, after --timeout of
/// silence: a warning, no failure.
pub async fn at_the_end(
    broker: &Broker,
    connection: &mut Connection,
    publication: &Publication,
    the_end: oneshot::Receiver<u32>,
    finish: &CancellationToken,
) {
    let Some(marker) = &publication.end_of_run else {
        return;
    };
    // The run tells the end before it cancels `finish`: the news comes first.
    let total = tokio::select! {
        biased;
        total = the_end => total.ok(),
        _ = finish.cancelled() => None,
    };
    let Some(total) = total else {
        return;
    };
    if let Err(error) = announce_the_end(broker, connection, publication, marker, total).await {
        tracing::warn!(
            "[{}] {error:#}; members in other processes will stop after --timeout of silence",
            publication.client_id
        );
    }
}

/// Publishes the end-of-run marker and waits for the broker to take it (its PUBACK at QoS 1).
async fn announce_the_end(
    broker: &Broker,
    connection: &mut Connection,
    publication: &Publication,
    marker: &str,
    count: u32,
) -> anyhow::Result<()> {
    connection
        .client()
        .publish_with_properties(
            marker,
            publication.qos,
            false,
            format!(
                "end of run {}: {count} messages published",
                publication.run_id
            ),
            message::end_of_run_properties(&publication.run_id, count),
        )
        .await?;
    let deadline = Instant::now() + broker.timeout;
    let mut sent = None;
    loop {
        let polled = connection
            .poll_or(deadline, || {
                anyhow!("no PUBACK for the end-of-run marker on {marker} within --timeout")
            })
            .await?;
        match polled {
            Polled::Event(Event::Outgoing(Outgoing::Publish(pkid))) => {
                if publication.qos == QoS::AtMostOnce {
                    break;
                }
                sent = Some(pkid);
            }
            Polled::Event(Event::Incoming(Packet::PubAck(puback))) if Some(puback.pkid) == sent => {
                break;
            }
            Polled::Event(_) => {}
            Polled::Lost(reason) => {
                return Err(anyhow!(
                    "the connection broke before the end-of-run marker went out: {reason}"
                ))
            }
            Polled::Reconnected(_) => {}
        }
    }
    tracing::info!(
        "[{}] told the members the run is over (end-of-run marker on {marker})",
        publication.client_id
    );
    Ok(())
}
