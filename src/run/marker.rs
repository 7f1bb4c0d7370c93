//! The end-of-run marker, the publisher's side: with `--role publisher`, once every message is
//! acknowledged, it tells the members in other processes that the run is over (see
//! `message::end_of_run_topic`, and `member.rs` for the members' side).

use anyhow::anyhow;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;
use rumqttc::Outgoing;
use tokio::time::Instant;

use super::publication::Publication;
use crate::message;
use crate::mqtt::{Broker, Connection, Polled};

/// Publishes the end-of-run marker and waits for the broker to take it (its PUBACK at QoS 1).
pub async fn announce_the_end(
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
