//! What a numbered message looks like on the wire, and how a member recognises one of ours.
//!
//! The payload stays human: `Hello World! [7]`, as in AWS's original sample. But a payload is a poor
//! place to hide bookkeeping: anyone can publish `Hello World! [7]` to `test/topic`, and an earlier
//! run's messages may still be queued on the broker. So each message also carries two MQTT 5 *user
//! properties*, key/value pairs in the PUBLISH header that brokers (AWS IoT Core included) forward
//! to subscribers untouched:
//!
//! | key      | value                                   |
//! |----------|-----------------------------------------|
//! | `run-id` | random hex, fresh for every run          |
//! | `seq`    | the message number, 1..=count           |
//! | `sent-at-us` | when the publisher queued it: microseconds since the Unix epoch |
//!
//! The time stamp lets a member work out each message's latency on receipt (`run/latency.rs`).
//! Wall-clock time, not a monotonic clock, so that it still means something when members run in
//! another process; across machines it is only as good as their clocks' agreement.
//!
//! A received message counts for this run only if its `run-id` matches; everything else is
//! *foreign*, counted separately, and never confused with ours.
//!
//! Message numbers start at 1, as people count. Two small helpers keep that in one place:
//! [`PerMessage`] holds one value per number (the tally, the publisher's acknowledgements, the
//! group's receipts), and [`compact_list`] writes a list of numbers for a log line or the report.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::v5::mqttbytes::v5::{Publish, PublishProperties};

/// User property key carrying the run id.
pub const RUN_ID_KEY: &str = "run-id";
/// User property key carrying the sequence number.
pub const SEQ_KEY: &str = "seq";
/// User property key carrying the publish time, in microseconds since the Unix epoch.
pub const SENT_AT_KEY: &str = "sent-at-us";

/// The payload of message `seq`: `"<text> [<seq>]"`.
pub fn payload(text: &str, seq: u32) -> String {
    format!("{text} [{seq}]")
}

/// The payload of message `seq` at exactly `size` bytes (`--payload-size`): `"<text> [<seq>]"`
/// first, so that the number stays readable wherever the payload is shown, then `.` up to the
/// size. Without a size, or one too small for the number (`cli/` refuses those), the plain
/// payload.
pub fn payload_of_size(text: &str, seq: u32, size: Option<usize>) -> String {
    let mut payload = payload(text, seq);
    if let Some(size) = size {
        if let Some(padding) = size.checked_sub(payload.len()) {
            payload.reserve_exact(padding);
            payload.extend(std::iter::repeat_n('.', padding));
        }
    }
    payload
}

/// The bytes the payload of message `last` needs before any padding: the smallest
/// `--payload-size` that keeps every number up to `last` readable.
pub fn payload_needs(text: &str, last: u32) -> usize {
    payload(text, last).len()
}

/// The PUBLISH properties that mark message `seq` of run `run_id`, stamped with the time now.
pub fn properties(run_id: &str, seq: u32) -> PublishProperties {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    PublishProperties {
        // 1 = the payload is UTF-8 text, so tools such as the AWS IoT MQTT test client show it as text.
        payload_format_indicator: Some(1),
        user_properties: vec![
            (RUN_ID_KEY.to_owned(), run_id.to_owned()),
            (SEQ_KEY.to_owned(), seq.to_string()),
            (SENT_AT_KEY.to_owned(), now.as_micros().to_string()),
        ],
        ..PublishProperties::default()
    }
}

/// How long ago `publish` was sent, by its `sent-at-us` stamp; `None` without a stamp (or with
/// one from the future: clocks of two machines disagree).
pub fn age(publish: &Publish) -> Option<Duration> {
    let stamp: u64 = user_property(publish, SENT_AT_KEY)?.parse().ok()?;
    SystemTime::now()
        .duration_since(UNIX_EPOCH + Duration::from_micros(stamp))
        .ok()
}

/// Where a received message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Message number `seq` of this run.
    Ours(u32),
    /// Someone else's message on the same topic (another publisher, an earlier run).
    Foreign,
}

/// Tells whether `publish` belongs to run `run_id`, and which number it is.
pub fn identify(publish: &Publish, run_id: &str) -> Origin {
    let property = |key| user_property(publish, key);
    match (property(RUN_ID_KEY), property(SEQ_KEY)) {
        (Some(id), Some(seq)) if id == run_id => match seq.parse() {
            Ok(seq) if seq > 0 => Origin::Ours(seq),
            _ => Origin::Foreign,
        },
        _ => Origin::Foreign,
    }
}

/// User property key carrying, on the end-of-run marker, how many messages were published.
pub const PUBLISHED_KEY: &str = "published";

/// The topic of the end-of-run marker: `<topic>/end-of-run`.
///
/// When the members run in other processes (`--role subscriber`), they need to learn that the
/// publisher is done. A last message on the shared topic would not do: the group delivers it to
/// *one* member of *one* process, which is the very point of a shared subscription. So the marker
/// goes to a side topic that every member also subscribes to plainly (not shared): each member
/// gets its own copy. It is not retained: a retained marker would outlive the run and greet the
/// next one; a process that starts after the end waits for `--timeout` of silence instead.
pub fn end_of_run_topic(topic: &str) -> String {
    format!("{topic}/end-of-run")
}

/// The end-of-run marker's properties: this run's id, and how many messages went out.
pub fn end_of_run_properties(run_id: &str, published: u32) -> PublishProperties {
    PublishProperties {
        payload_format_indicator: Some(1),
        user_properties: vec![
            (RUN_ID_KEY.to_owned(), run_id.to_owned()),
            (PUBLISHED_KEY.to_owned(), published.to_string()),
        ],
        ..PublishProperties::default()
    }
}

/// The number of messages run `run_id` published, if `publish` is that run's end-of-run marker.
pub fn end_of_run(publish: &Publish, run_id: &str) -> Option<u32> {
    if user_property(publish, RUN_ID_KEY)? != run_id {
        return None;
    }
    user_property(publish, PUBLISHED_KEY)?.parse().ok()
}

/// The value of user property `key` in `publish`, if it has one.
fn user_property<'a>(publish: &'a Publish, key: &str) -> Option<&'a str> {
    publish
        .properties
        .as_ref()?
        .user_properties
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, value)| value.as_str())
}

/// One `T` per message number `1..=count`. Numbers start at 1 and vectors at 0: this is the one
/// place that knows, so no caller writes `seq - 1`.
pub struct PerMessage<T>(Vec<T>);

impl<T> PerMessage<T> {
    /// `count` values, each made by `make`.
    pub fn new(count: u32, make: impl FnMut() -> T) -> PerMessage<T> {
        PerMessage(std::iter::repeat_with(make).take(count as usize).collect())
    }

    /// Message `seq`'s value; `None` for a number outside `1..=count`.
    pub fn get(&self, seq: u32) -> Option<&T> {
        self.0.get(Self::index(seq)?)
    }

    pub fn get_mut(&mut self, seq: u32) -> Option<&mut T> {
        self.0.get_mut(Self::index(seq)?)
    }

    /// `(seq, value)` for every message, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        (1..).zip(&self.0)
    }

    /// The message numbers whose value passes `keep`, in order.
    pub fn numbers_where(&self, mut keep: impl FnMut(&T) -> bool) -> Vec<u32> {
        self.iter()
            .filter(|(_, value)| keep(value))
            .map(|(seq, _)| seq)
            .collect()
    }

    /// How many messages' values pass `keep`.
    pub fn count_where(&self, mut keep: impl FnMut(&T) -> bool) -> u32 {
        self.0.iter().filter(|value| keep(value)).count() as u32
    }

    /// Makes room for numbers up to `count` (never shrinks), new values made by `make`.
    pub fn grow_to(&mut self, count: u32, make: impl FnMut() -> T) {
        let more = (count as usize).saturating_sub(self.0.len());
        self.0.extend(std::iter::repeat_with(make).take(more));
    }

    /// How many messages there are: `count`.
    pub fn len(&self) -> u32 {
        self.0.len() as u32
    }

    fn index(seq: u32) -> Option<usize> {
        (seq as usize).checked_sub(1)
    }
}

/// `1 2 3 5 7 8 9` → `1-3 5 7-9`, cut after `limit` runs with a count of what was left out.
pub fn compact_list(seqs: &[u32], limit: usize) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &seq in seqs {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => runs.push((seq, seq)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(limit)
        .map(|&(start, end)| match end - start {
            0 => start.to_string(),
            1 => format!("{start} {end}"),
            _ => format!("{start}-{end}"),
        })
        .collect();
    if runs.len() > limit {
        let rest: u32 = runs[limit..].iter().map(|(s, e)| e - s + 1).sum();
        parts.push(format!("… (+{rest} more)"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::v5::mqttbytes::QoS;

    fn publish(properties: Option<PublishProperties>) -> Publish {
        Publish::new(
            "test/topic",
            QoS::AtLeastOnce,
            "Hello World! [7]",
            properties,
        )
    }

    #[test]
    fn recognises_our_numbered_message() {
        let message = publish(Some(properties("abc123", 7)));
        assert_eq!(identify(&message, "abc123"), Origin::Ours(7));
        assert_eq!(payload("Hello World!", 7), "Hello World! [7]");
    }

    #[test]
    fn other_runs_and_bare_messages_are_foreign() {
        assert_eq!(
            identify(&publish(Some(properties("other", 7))), "abc123"),
            Origin::Foreign
        );
        assert_eq!(identify(&publish(None), "abc123"), Origin::Foreign);
        let mut zero = properties("abc123", 0);
        assert_eq!(
            identify(&publish(Some(zero.clone())), "abc123"),
            Origin::Foreign
        );
        zero.user_properties[1].1 = "seven".into();
        assert_eq!(identify(&publish(Some(zero)), "abc123"), Origin::Foreign);
    }

    // Property tests: whatever the run id and number, a member tells ours from everyone else's.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Run ids as `cli/` makes them: 16 hex digits.
        fn run_id() -> impl Strategy<Value = String> {
            "[0-9a-f]{16}"
        }

        proptest! {
            #[test]
            fn our_numbered_message_is_ours(run_id in run_id(), seq in 1u32..) {
                let message = publish(Some(properties(&run_id, seq)));
                prop_assert_eq!(identify(&message, &run_id), Origin::Ours(seq));
            }

            #[test]
            fn other_user_properties_do_not_confuse_it(
                run_id in run_id(),
                seq in 1u32..,
                extra in prop::collection::vec(("[a-z]{1,8}", "\\PC{0,16}"), 0..5),
            ) {
                // Brokers and other tools may add user properties (mqtt5 adds x-mqtt-client-id).
                prop_assume!(extra.iter().all(|(k, _)| k != RUN_ID_KEY && k != SEQ_KEY));
                let mut props = properties(&run_id, seq);
                props.user_properties.splice(0..0, extra);
                prop_assert_eq!(identify(&publish(Some(props)), &run_id), Origin::Ours(seq));
            }

            #[test]
            fn another_runs_message_is_foreign(
                ours in run_id(),
                theirs in "\\PC{0,32}",
                seq in any::<u32>(),
            ) {
                prop_assume!(ours != theirs);
                let message = publish(Some(properties(&theirs, seq)));
                prop_assert_eq!(identify(&message, &ours), Origin::Foreign);
            }

            #[test]
            fn a_seq_that_is_not_a_positive_number_is_foreign(
                run_id in run_id(),
                seq in "\\PC{0,12}",
            ) {
                prop_assume!(!matches!(seq.parse::<u32>(), Ok(n) if n > 0));
                let mut props = properties(&run_id, 1);
                props.user_properties[1].1 = seq;
                prop_assert_eq!(identify(&publish(Some(props)), &run_id), Origin::Foreign);
            }

            #[test]
            fn the_payload_ends_with_the_number_in_brackets(text in "\\PC{0,40}", seq in any::<u32>()) {
                let payload = payload(&text, seq);
                prop_assert!(payload.starts_with(&text));
                let number = format!(" [{seq}]");
                prop_assert!(payload.ends_with(&number));
            }
        }
    }

    #[test]
    fn a_padded_payload_keeps_its_number_first() {
        let padded = payload_of_size("Hi", 7, Some(12));
        assert_eq!(padded, "Hi [7]......");
        assert_eq!(padded.len(), 12);
        assert_eq!(payload_of_size("é", 7, Some(4096)).len(), 4096);
        assert_eq!(
            payload_of_size("Hi", 7, Some(3)),
            "Hi [7]",
            "too small: unpadded"
        );
        assert_eq!(payload_needs("Hi", 1000), "Hi [1000]".len());
    }

    #[test]
    fn compacts_runs_of_numbers() {
        assert_eq!(compact_list(&[1, 2, 3, 5, 7, 8], 10), "1-3 5 7 8");
        assert_eq!(compact_list(&[1, 3, 5, 7], 2), "1 3 … (+2 more)");
        assert_eq!(compact_list(&[], 2), "");
    }
}
