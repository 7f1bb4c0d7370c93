//! One member of the shared-subscription group.
//!
//! A member is an ordinary MQTT client that subscribes to `$share/<group>/<topic>` instead of
//! `<topic>`. Its life:
//!
//! 1. connect (shared code in `mqtt/`);
//! 2. SUBSCRIBE and wait for the SUBACK. rumqttc treats a refused subscription as a normal event,
//!    not an error, so we read the reason code ourselves: AWS IoT answers 0x87 (not authorized) when
//!    the policy lacks `iot:Subscribe` on `topicfilter/$share/...`, and everything after that would
//!    be a silent run with zero messages;
//! 3. report each PUBLISH it receives, until told to stop. If the connection breaks, `mqtt/link.rs`
//!    reconnects; the broker then starts a new session that has forgotten our subscription, and
//!    rumqttc does not renew it, so we SUBSCRIBE again (and check the SUBACK again). Until then the
//!    group has one member less, and while it has none the broker drops what is published: so the
//!    run holds the publisher until we are back (`machine/`). With `--session-expiry` the broker
//!    may keep the session instead (`session_present`): the subscription is still there, and the
//!    QoS 1 messages it queued for us while we were away arrive now. We subscribe again even
//!    then, because a restarted mosquitto 2.0 restores a shared subscription that routes nothing;
//! 4. UNSUBSCRIBE and wait for the UNSUBACK, still counting what arrives meanwhile. The brokers we
//!    know (mosquitto, mqtt5) send a member its messages in order on one connection, so once the
//!    UNSUBACK is in, nothing routed to this member is still in flight. (MQTT 5 §3.10.4 lets a
//!    broker deliver messages it had buffered even later; those would show as missing);
//! 5. DISCONNECT cleanly, so the broker does not treat it as a crash.
//!
//! Note what a member does *not* set: the MQTT 5 "No Local" option. On a shared subscription it is
//! a protocol error (MQTT 5 §3.8.3.1), and brokers disconnect the client for it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};

use rumqttc::v5::mqttbytes::v5::{Filter, Packet, SubAck, SubscribeReasonCode};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::Event;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::churn::ChurnAction;
use super::delivery;
use super::event::{Reporter, RunEvent, Via};
use super::receipts::Receipts;
use super::roster::MemberRef;
use super::slow::{slow_acks, Acker};
use super::{Format, Plan, Role, Subscription};
use crate::message;
use crate::mqtt::{reason_codes, Broker, Connection, Polled};

/// What a member needs to know.
pub struct Member {
    /// Its client id, and where the run counts what it receives.
    pub who: MemberRef,
    /// `$share/<group>/<topic>`; for the control subscriber (`--control`), the plain topic.
    pub filter: String,
    pub qos: QoS,
    /// Messages carrying this run id are ours; see `message.rs`.
    pub run_id: String,
    /// Where the member notes each message of ours it received (see `receipts.rs`).
    pub receipts: Arc<Receipts>,
    /// With `--role subscriber`: the end-of-run marker's topic, which the member also subscribes
    /// to plainly, so that it learns when the publisher in another process is done.
    pub end_of_run: Option<String>,
    /// `--churn`: what the run tells this member to do (leave for good, or drop its connection).
    pub commands: Option<mpsc::UnboundedReceiver<ChurnAction>>,
    /// `--slow-member`: acknowledge each message this long after it arrived, one at a time.
    /// The broker then holds the member's share back in its queue, not anyone else's.
    pub slow: Option<Duration>,
    /// Keep the start of each payload for the log or `--json` (see `event::shown`); off when
    /// nothing shows it, so a bulk run does not copy every message.
    pub show_payload: bool,
    /// Which connection it is on now, and since which its session lasts: every receipt carries
    /// it, so that the books can tell the broker's redelivery from a duplicate without the DUP
    /// flag, which AWS IoT Core does not set (see `slot.rs`).
    pub via: Via,
}

impl Member {
    /// The member `plan` wants for `subscription`, named `who`: it notes what it receives in
    /// `receipts` (with one group), and takes `--churn` commands from `commands`.
    pub fn new(
        plan: &Plan,
        subscription: Subscription,
        who: MemberRef,
        receipts: &Arc<Receipts>,
        commands: mpsc::UnboundedReceiver<ChurnAction>,
    ) -> Member {
        // With several groups (or a control subscriber), one group having a message says
        // nothing of the others: the publisher must not skip sending it again, so members mark
        // nowhere it looks.
        let receipts = match plan.books() {
            1 => receipts.clone(),
            _ => Arc::new(Receipts::new(0)),
        };
        Member {
            commands: Some(commands),
            slow: plan
                .slow_member
                .filter(|slow| subscription.client_id == plan.member_id(slow.member))
                .map(|slow| slow.delay),
            filter: subscription.filter,
            qos: plan.qos,
            run_id: plan.run_id.clone(),
            receipts,
            end_of_run: (plan.role == Role::Subscriber)
                .then(|| message::end_of_run_topic(plan.topic())),
            show_payload: plan.per_message_logs || plan.format == Format::Json,
            via: Via::FIRST,
            who,
        }
    }

    fn client_id(&self) -> &str {
        self.who.client_id()
    }

    /// Follows the connection: after a reconnect, what arrives comes on the next one.
    fn follow(&mut self, polled: &Polled) {
        if let Polled::Reconnected(reconnected) = polled {
            self.via = self.via.reconnected(reconnected.session_present);
        }
    }
}

/// Runs one member until `finish` is cancelled, telling the run what happens through `reporter`.
pub async fn run(
    broker: Broker,
    mut member: Member,
    reporter: Reporter,
    finish: CancellationToken,
) -> anyhow::Result<()> {
    let broker = Broker {
        manual_acks: member.slow.is_some(),
        // A member publishes nothing: no room for outgoing messages (`Broker::publishes`).
        publishes: false,
        ..broker
    };
    // Ctrl-C while connecting or subscribing must not wait out --timeout.
    let (mut connection, connack) = tokio::select! {
        _ = finish.cancelled() => return Ok(()),
        opened = Connection::open(&broker, member.client_id()) => opened?,
    };
    reporter.connected(connack.session_present).await;
    let mut slow = member
        .slow
        .map(|delay| slow_acks(connection.client().clone(), delay));
    let mut commands = member.commands.take();

    tokio::select! {
        _ = finish.cancelled() => return connection.close().await,
        subscribed = subscribe(&broker, &mut connection, &mut member, &reporter, slow.as_ref()) => subscribed?,
    }

    // Receive until the run is over or the member leaves (`next`).
    while let Some(polled) = next(&mut connection, &mut commands, &member, &finish).await? {
        reporter.link_news(&polled).await;
        member.follow(&polled);
        match polled {
            Polled::Event(event) => {
                delivery::report(&event, &member, &reporter, slow.as_ref()).await
            }
            // A slow member's PUBACKs still queued belong to the old connection: on the new one
            // their packet ids would acknowledge other messages. The broker sends those again.
            Polled::Lost(_) => {
                slow = member
                    .slow
                    .map(|delay| slow_acks(connection.client().clone(), delay));
            }
            Polled::Reconnected(reconnected) => {
                if reconnected.session_present {
                    say_why_we_subscribe_again(&member);
                }
                subscribe(
                    &broker,
                    &mut connection,
                    &mut member,
                    &reporter,
                    slow.as_ref(),
                )
                .await?;
            }
        }
    }

    leave(&broker, connection, &member, &reporter, slow.as_ref()).await
}

/// --session-expiry: the broker kept the session, and by MQTT 5 the subscription in it; it now
/// sends what it queued for us while we were away. But mosquitto 2.0.11, restarted with
/// `persistence true`, restores a kept `$share` subscription that routes nothing (PUBACK 0x10 for
/// every message; measured in tests/outages.rs). A SUBSCRIBE to the same filter replaces the
/// subscription (MQTT 5 §3.8.4), so renewing it costs one round trip and no messages.
fn say_why_we_subscribe_again(member: &Member) {
    tracing::info!(
        "[{}] the broker kept our session; subscribing again all the same, as a restarted broker may not route a restored $share subscription",
        member.client_id()
    );
}

/// SUBSCRIBE to the `$share` filter and check the SUBACK's reason code.
///
/// If the connection breaks before the SUBACK, the new session knows nothing of our SUBSCRIBE (and
/// rumqttc dropped it): send it again.
async fn subscribe(
    broker: &Broker,
    connection: &mut Connection,
    member: &mut Member,
    reporter: &Reporter,
    acker: Option<&Acker>,
) -> anyhow::Result<()> {
    let filter = member.filter.clone();
    'subscribe: loop {
        // One SUBSCRIBE for both filters, so one SUBACK says whether the member is in.
        let filters = std::iter::once(filter.as_str())
            .chain(member.end_of_run.as_deref())
            .map(|path| Filter::new(path, member.qos));
        connection.client().subscribe_many(filters).await?;
        let deadline = Instant::now() + broker.timeout;
        loop {
            let polled = connection
                .poll_or(deadline, || {
                    anyhow!(
                        "[{}] no SUBACK for {filter} within {} (--timeout); the broker may not support shared subscriptions, or a longer --timeout may help",
                        member.client_id(),
                        humantime::format_duration(broker.timeout)
                    )
                })
                .await?;
            reporter.link_news(&polled).await;
            member.follow(&polled);
            match polled {
                Polled::Event(Event::Incoming(Packet::SubAck(suback))) => {
                    return check_suback(&suback, member, &filter, reporter).await;
                }
                Polled::Event(event) => delivery::report(&event, member, reporter, acker).await,
                Polled::Lost(_) => {}
                // Even a kept session may not hold a SUBSCRIBE the broker never answered.
                Polled::Reconnected(_) => continue 'subscribe,
            }
        }
    }
}

/// A SUBACK's reason code decides: subscribed, or a refusal in words.
async fn check_suback(
    suback: &SubAck,
    member: &Member,
    filter: &str,
    reporter: &Reporter,
) -> anyhow::Result<()> {
    // The marker's filter, when there is one, comes second: a refusal of it is a refusal too (on
    // AWS IoT the policy needs iot:Subscribe on it; see --print-policy).
    if let (Some(marker), Some(code)) = (&member.end_of_run, suback.return_codes.get(1)) {
        if !matches!(code, SubscribeReasonCode::Success(_)) {
            bail!(
                "[{}] the broker refused SUBSCRIBE {marker} (the end-of-run marker): {}",
                member.client_id(),
                reason_codes::suback_refusal(*code, marker)
            );
        }
    }
    match suback.return_codes.first() {
        Some(SubscribeReasonCode::Success(granted)) => {
            // A broker may grant less than asked; at QoS 0 it may then drop messages we count on.
            if (*granted as u8) < (member.qos as u8) {
                tracing::warn!(
                    "[{}] asked for QoS {} on {filter} but the broker granted QoS {}; messages may be lost",
                    member.client_id(),
                    member.qos as u8,
                    *granted as u8
                );
            }
            reporter
                .send(RunEvent::Subscribed {
                    member: member.who.clone(),
                    filter: filter.to_owned(),
                    qos: *granted as u8,
                })
                .await;
            Ok(())
        }
        Some(code) => bail!(
            "[{}] the broker refused SUBSCRIBE {filter}: {}",
            member.client_id(),
            reason_codes::suback_refusal(*code, filter)
        ),
        None => bail!(
            "[{}] SUBACK for {filter} carried no reason code",
            member.client_id()
        ),
    }
}

/// UNSUBSCRIBE, count what still arrives until the UNSUBACK, then DISCONNECT.
///
/// A member whose connection is down has nothing to leave: its session, and the subscription in
/// it, ended with the connection.
async fn leave(
    broker: &Broker,
    mut connection: Connection,
    member: &Member,
    reporter: &Reporter,
    acker: Option<&Acker>,
) -> anyhow::Result<()> {
    if connection.is_up() {
        // The marker's subscription ends with the session (clean start) or expires with it:
        // leaving the group is what matters.
        connection
            .client()
            .unsubscribe(member.filter.clone())
            .await?;
        let deadline = Instant::now() + broker.timeout;
        loop {
            let polled = connection
                .poll_or(deadline, || {
                    anyhow!(
                        "[{}] no UNSUBACK within {} (--timeout)",
                        member.client_id(),
                        humantime::format_duration(broker.timeout)
                    )
                })
                .await?;
            reporter.link_news(&polled).await;
            match polled {
                Polled::Event(Event::Incoming(Packet::UnsubAck(unsuback))) => {
                    let failed = unsuback
                        .reasons
                        .iter()
                        .find_map(|reason| reason_codes::unsuback_failure(*reason));
                    if let Some(words) = failed {
                        tracing::warn!("[{}] UNSUBSCRIBE answered: {words}", member.client_id());
                    }
                    break;
                }
                Polled::Event(event) => delivery::report(&event, member, reporter, acker).await,
                // Broke while leaving: the subscription ended with the session. Nothing to wait for.
                Polled::Lost(_) | Polled::Reconnected(_) => break,
            }
        }
    }
    connection.close().await
}

/// The next `--churn` command for this member; never, for a member that gets none.
/// What the member handles next: what rumqttc has read already, the effect of a `--churn`
/// command, or the broker's next packet; `None` once the run is over or the member leaves.
async fn next(
    connection: &mut Connection,
    commands: &mut Option<mpsc::UnboundedReceiver<ChurnAction>>,
    member: &Member,
    finish: &CancellationToken,
) -> anyhow::Result<Option<Polled>> {
    // What rumqttc has read already comes first, without a select! (`Connection::buffered`):
    // a batch is at most nine packets, so a command or the end of the run waits no longer.
    if let Some(polled) = connection.buffered() {
        return Ok(Some(polled));
    }
    loop {
        tokio::select! {
            _ = finish.cancelled() => return Ok(None),
            Some(command) = next_command(commands) => match command {
                ChurnAction::Leave(_) => {
                    tracing::info!("[{}] leaving the group (--churn)", member.client_id());
                    return Ok(None);
                }
                ChurnAction::Drop(_) => {
                    if let Some(lost) = connection.cut("cut by --churn, as a crash would") {
                        return Ok(Some(lost));
                    }
                }
                ChurnAction::Join => {}
            },
            polled = connection.poll() => return polled.map(Some),
        }
    }
}

async fn next_command(
    commands: &mut Option<mpsc::UnboundedReceiver<ChurnAction>>,
) -> Option<ChurnAction> {
    match commands {
        Some(commands) => commands.recv().await,
        None => std::future::pending().await,
    }
}
