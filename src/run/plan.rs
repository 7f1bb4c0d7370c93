//! What a run is asked to do: the [`Plan`] that `cli/` builds from the flags, checked and
//! complete, the [`Role`] this process plays, and the limits every part of the tool shares.
//!
//! A plan is data only. Where a field has a rule that must always hold (a run has at least one
//! group), its type keeps it, so that the loop never has to ask.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS;
use serde::{Deserialize, Serialize};

use super::churn::{ChurnAction, DueStep, SlowMember};
use super::output::Format;
use super::pace::Asked;
use crate::share::SharedFilter;

/// The most messages one run publishes (`--count`), and so the most any summary may speak of:
/// enough for a load test, few enough to track one by one (a run keeps 4 bytes per message).
pub const MAX_COUNT: u32 = 10_000_000;

/// The longest `--timeout` or `--interval`, and the deadline of a wait that has none: a day is
/// more than any run needs, and the cap keeps `Instant + Duration` from overflowing (it panics)
/// on values like `300000000000years`.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything a run needs besides the broker, checked and complete (built by `cli/`).
#[derive(Debug, Clone)]
pub struct Plan {
    /// One `$share` filter per group (`--group_identifier`, repeated or comma-separated). Most
    /// runs have one.
    pub filters: Filters,
    /// One plain subscriber on the topic besides the groups (`--control`).
    pub control: bool,
    /// Prefix of every client id of this run.
    pub client_id: String,
    /// Random id stamped on this run's messages (see `message.rs`).
    pub run_id: String,
    pub subscribers: u16,
    /// `--count`: how many messages; with `--duration`, the most the run may send.
    pub count: u32,
    /// `--duration`: publish until this much time has passed since publishing began; the count
    /// is then decided when it has (`numbers.rs`), at most `count`.
    pub duration: Option<Duration>,
    /// `--publishers K`: publisher connections that share the numbers (`numbers.rs`).
    pub publishers: u32,
    /// `--interval` or `--rate`: how fast the publishers go (`pace.rs`).
    pub pace: Asked,
    /// `--payload-size`: every payload padded to this many bytes.
    pub payload_size: Option<usize>,
    /// `--stats-every`: a line of how the run goes this often, when stderr is not a terminal.
    pub stats_every: Duration,
    pub qos: QoS,
    pub message: String,
    pub timeout: Duration,
    /// Hold the publisher while a member is away, and send again what the group did not get
    /// (went to nobody, or was lost with a member's connection); `--no-hold` turns it off.
    pub hold: bool,
    /// How the run shows what happens: log lines, or `--json`.
    pub format: Format,
    /// Log a line for every message received (see `output.rs`).
    pub per_message_logs: bool,
    /// Record when things happened, for `--html`'s timeline (`timeline.rs`).
    pub timeline: bool,
    /// What this process plays: the whole run, or the publisher or the members of one spread
    /// over several processes (`--role`).
    pub role: Role,
    /// `--churn`: when (a message number) members leave, drop or join, in order.
    pub churn: Vec<DueStep>,
    /// `--slow-member K=DELAY`: member K acknowledges each message DELAY after it arrives.
    pub slow_member: Option<SlowMember>,
}

impl Plan {
    /// The first group's filter: the one group of most runs.
    pub fn filter(&self) -> &SharedFilter {
        self.filters.first()
    }

    /// The topic every message goes to and arrives on.
    pub fn topic(&self) -> &str {
        self.filter().topic()
    }

    /// Every subscribing client: N members per group, then the control subscriber; none in the
    /// publisher's own process.
    pub fn subscriptions(&self) -> Vec<Subscription> {
        if self.role == Role::Publisher {
            return Vec::new();
        }
        let mut all = Vec::new();
        for (group, filter) in self.filters.iter().enumerate() {
            // One group keeps the names of every earlier version: `<ID>-subscriber-k`.
            let prefix = match self.filters.len() {
                1 => self.client_id.clone(),
                _ => format!("{}-{}", self.client_id, filter.group()),
            };
            all.extend((1..=self.subscribers).map(|k| Subscription {
                client_id: format!("{prefix}-subscriber-{k}"),
                filter: filter.to_string(),
                book: group,
                joins_at: None,
            }));
        }
        // `--churn join@P`: members N+1, N+2, ... of the (one) group, started when their time
        // comes; known from the start, so that the books have a place for them.
        let joins = self
            .churn
            .iter()
            .filter(|step| step.action == ChurnAction::Join);
        for (k, step) in (self.subscribers + 1..).zip(joins) {
            all.push(Subscription {
                client_id: self.member_id(k),
                filter: self.filter().to_string(),
                book: 0,
                joins_at: Some(step.at_seq),
            });
        }
        if self.control {
            all.push(Subscription {
                client_id: format!("{}-control", self.client_id),
                filter: self.topic().to_owned(),
                book: self.filters.len(),
                joins_at: None,
            });
        }
        all
    }

    /// Member K's client id in a run of one group: `<ID>-subscriber-K`.
    pub fn member_id(&self, k: u16) -> String {
        format!("{}-subscriber-{k}", self.client_id)
    }

    /// The client ids of [`Plan::subscriptions`].
    pub fn member_ids(&self) -> Vec<String> {
        self.subscriptions()
            .into_iter()
            .map(|subscription| subscription.client_id)
            .collect()
    }

    /// Publisher j's client id (j from 1): `<ID>-publisher` when it is the only one, as ever;
    /// `<ID>-publisher-j` of several.
    pub fn publisher_id(&self, j: u32) -> String {
        match self.publishers {
            1 => format!("{}-publisher", self.client_id),
            _ => format!("{}-publisher-{j}", self.client_id),
        }
    }

    /// Every publisher's client id, in order (in a process of members alone too: they are the
    /// run's, and its policy allows them).
    pub fn publisher_ids(&self) -> Vec<String> {
        (1..=self.publishers)
            .map(|j| self.publisher_id(j))
            .collect()
    }

    /// How publisher ids read in a line: `<ID>-publisher`, or `<ID>-publisher-1..K`.
    pub fn publishers_named(&self) -> String {
        match self.publishers {
            1 => self.publisher_id(1),
            k => format!("{}-publisher-1..{k}", self.client_id),
        }
    }

    /// The count when it is known from the start: `None` with `--duration`.
    pub fn fixed_count(&self) -> Option<u32> {
        self.duration.is_none().then_some(self.count)
    }

    /// `<ID>-check`: the one client `--check` connects as.
    pub fn check_id(&self) -> String {
        format!("{}-check", self.client_id)
    }

    /// Whether the run sends again what a member's broken session lost (`lost.rs`): with the
    /// hold on, at QoS 1, the publisher and the members in this process, and one set of books
    /// (with several groups, the others already have what one group's member lost).
    pub fn resends_lost(&self) -> bool {
        self.hold && self.qos == QoS::AtLeastOnce && self.role == Role::All && self.books() == 1
    }

    /// One set of books per group, and one for the control subscriber.
    pub fn books(&self) -> usize {
        self.filters.len() + usize::from(self.control)
    }
}

/// The run's `$share` filters, one per group: never empty, so that "the first group" always
/// exists. Reads as a slice of filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters(Vec<SharedFilter>);

impl Filters {
    /// A run of one group.
    pub fn one(filter: SharedFilter) -> Filters {
        Filters(vec![filter])
    }

    /// The first group's filter.
    pub fn first(&self) -> &SharedFilter {
        &self.0[0]
    }
}

impl TryFrom<Vec<SharedFilter>> for Filters {
    type Error = &'static str;

    /// Refuses a run of no group.
    fn try_from(filters: Vec<SharedFilter>) -> Result<Filters, Self::Error> {
        if filters.is_empty() {
            return Err("a run needs at least one group: pass --group_identifier");
        }
        Ok(Filters(filters))
    }
}

impl Deref for Filters {
    type Target = [SharedFilter];

    fn deref(&self) -> &[SharedFilter] {
        &self.0
    }
}

/// One subscribing client of the run: a group member, or the control subscriber.
pub struct Subscription {
    pub client_id: String,
    /// `$share/<group>/<topic>`, or the plain topic for the control subscriber.
    pub filter: String,
    /// Which set of books counts what it receives: its group's (in `Plan::filters` order), or
    /// the control subscriber's, after the groups.
    pub book: usize,
    /// `--churn join@P`: it joins once this message number is acknowledged, not at the start.
    pub joins_at: Option<u32>,
}

/// What this process plays in the run (`--role`). A shared subscription is how consumers scale
/// over processes and machines, so the members may live in several processes, the publisher in
/// another: each prints its own summary, and `--merge` joins them into one verdict (`merge.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The publisher and every member in this process: the verdict is complete.
    All,
    /// Only the publisher: it publishes, tells the members it is done (the end-of-run marker),
    /// and says what the broker acknowledged.
    Publisher,
    /// Only members: they count what reaches this process, until the publisher's end-of-run
    /// marker, `--count` messages, or `--timeout` of silence.
    Subscriber,
}

impl fmt::Display for Role {
    /// The `--role` value: `all`, `publisher` or `subscriber`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::All => "all",
            Role::Publisher => "publisher",
            Role::Subscriber => "subscriber",
        })
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A plan of one group `g` on `t`, two members, ten QoS 1 messages: change what a test needs.
    pub fn plan() -> Plan {
        Plan {
            filters: Filters::one(SharedFilter::new("g", "t").expect("a valid filter")),
            control: false,
            client_id: "c".into(),
            run_id: "r".into(),
            subscribers: 2,
            count: 10,
            duration: None,
            publishers: 1,
            pace: Asked::Free,
            payload_size: None,
            stats_every: Duration::from_secs(10),
            qos: QoS::AtLeastOnce,
            message: "m".into(),
            timeout: Duration::from_secs(60),
            hold: true,
            format: Format::Text { histograms: false },
            per_message_logs: true,
            timeline: false,
            role: Role::All,
            churn: Vec::new(),
            slow_member: None,
        }
    }

    #[test]
    fn a_run_has_at_least_one_group() {
        assert!(Filters::try_from(Vec::new()).is_err());
        let plan = plan();
        assert_eq!(plan.filter().group(), "g");
        assert_eq!(plan.member_ids(), ["c-subscriber-1", "c-subscriber-2"]);
    }

    #[test]
    fn one_publisher_keeps_its_name_and_several_are_numbered() {
        let mut plan = plan();
        assert_eq!(plan.publisher_ids(), ["c-publisher"]);
        plan.publishers = 3;
        assert_eq!(
            plan.publisher_ids(),
            ["c-publisher-1", "c-publisher-2", "c-publisher-3"]
        );
        assert_eq!(plan.publishers_named(), "c-publisher-1..3");
    }

    #[test]
    fn roles_read_as_their_flag_values() {
        let words: Vec<String> = [Role::All, Role::Publisher, Role::Subscriber]
            .iter()
            .map(Role::to_string)
            .collect();
        assert_eq!(words, ["all", "publisher", "subscriber"]);
    }
}
