//! The flags of the group and the messages: which groups, how many members, what to publish, and
//! what this process plays in the run.

use rumqttc::v5::mqttbytes::QoS;

use super::values::{Count, Interval, Members, Qos, RunId};
use super::{random_hex, BrokerInUse};
use crate::failure::Failure;
use crate::run::{Filters, Role};
use crate::share::SharedFilter;

/// The group, the messages, and this process's part in the run.
#[derive(clap::Args, Debug, Clone)]
#[command(next_help_heading = "Group and messages")]
pub struct MessageArgs {
    /// Share name: the group the members join
    ///
    /// Several (`--groups g1,g2`, or the flag repeated) start --subscribers members in each:
    /// every group gets its own full copy
    #[arg(
        long = "group_identifier",
        visible_aliases = ["group-identifier", "group", "groups"],
        value_name = "GROUP",
        value_delimiter = ',',
        action = clap::ArgAction::Append,
        env = "MQTT5_GROUP",
        default_value = "rust-sample"
    )]
    pub group: Vec<String>,

    /// Topic to publish to; members subscribe to $share/<group>/<topic>
    #[arg(long, env = "MQTT5_TOPIC", default_value = "test/topic")]
    pub topic: String,

    /// How many members join the group
    #[arg(long, default_value = "2")]
    pub subscribers: Members,

    /// How many messages to publish
    #[arg(long, default_value = "10")]
    pub count: Count,

    /// QoS for the subscriptions and the publishes: 0 or 1
    #[arg(long, default_value = "1")]
    pub qos: Qos,

    /// Payload text; message n carries "<TEXT> [n]"
    #[arg(long, default_value = "Hello World!", hide_short_help = true)]
    pub message: String,

    /// Pause between publishes, e.g. 0, 50ms, 1s
    #[arg(long, default_value = "0s", hide_short_help = true)]
    pub interval: Interval,

    /// Add one plain (not shared) subscriber on the topic, `<ID>-control`: it gets every
    /// message, as every client without `$share` does, for the report to compare with
    #[arg(long, hide_short_help = true)]
    pub control: bool,

    /// What this process plays: `all` (publisher and members), `publisher`, or `subscriber`
    /// (--subscribers members). Spread a run over processes or machines with the same --run-id
    /// everywhere, then --merge their --json outputs for one verdict
    #[arg(long, value_enum, default_value_t = RoleFlag::All, hide_short_help = true)]
    pub role: RoleFlag,

    /// Ties the processes of one run together: members count only messages carrying this id.
    /// Required with --role publisher or subscriber [default: random]
    #[arg(
        long = "run-id",
        visible_alias = "run_id",
        value_name = "ID",
        hide_short_help = true
    )]
    pub run_id: Option<RunId>,
}

/// `--role`'s values. The run has its own [`Role`] (which also names a merged summary); this is
/// what the command line offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleFlag {
    /// The publisher and every member in this process
    All,
    /// Only the publisher
    Publisher,
    /// Only members
    Subscriber,
}

impl From<RoleFlag> for Role {
    fn from(flag: RoleFlag) -> Role {
        match flag {
            RoleFlag::All => Role::All,
            RoleFlag::Publisher => Role::Publisher,
            RoleFlag::Subscriber => Role::Subscriber,
        }
    }
}

impl std::fmt::Display for RoleFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RoleFlag::All => "all",
            RoleFlag::Publisher => "publisher",
            RoleFlag::Subscriber => "subscriber",
        })
    }
}

impl MessageArgs {
    /// One checked `$share` filter per group, each group named once.
    pub(super) fn filters(&self) -> Result<Filters, Failure> {
        let mut filters: Vec<SharedFilter> = Vec::new();
        for group in &self.group {
            let filter = SharedFilter::new(group, &self.topic).map_err(Failure::input)?;
            if filters.iter().any(|known| known.group() == filter.group()) {
                return Err(Failure::input(format!(
                    "--group_identifier {group} is given twice: name each group once"
                )));
            }
            filters.push(filter);
        }
        Filters::try_from(filters).map_err(Failure::input)
    }

    /// `--run-id`, or a random one for a run in one process; the other roles need the same id
    /// in every process, so they cannot make one up.
    pub(super) fn run_id(&self) -> Result<String, Failure> {
        match (&self.run_id, self.role) {
            (Some(RunId(id)), _) => Ok(id.clone()),
            (None, RoleFlag::All) => Ok(random_hex(8)),
            (None, role) => Err(Failure::input(format!(
                "--role {role} needs --run-id: the same id in every process of the run \
                 (publisher and subscribers), e.g. --run-id demo-1"
            ))),
        }
    }

    /// `--qos` for a run against `broker`. QoS 2 is refused in words that fit that broker: AWS
    /// IoT Core has none (it never acknowledges a QoS 2 PUBLISH: AWS IoT Core developer guide,
    /// "MQTT", QoS), while other brokers have it and this sample does not use it.
    pub(super) fn qos(&self, broker: &BrokerInUse) -> Result<QoS, Failure> {
        match self.qos {
            Qos(0) => Ok(QoS::AtMostOnce),
            Qos(1) => Ok(QoS::AtLeastOnce),
            _ => Err(Failure::input(match broker {
                BrokerInUse::Aws => "--qos 2: AWS IoT Core does not support QoS 2 (it never \
                                     acknowledges a QoS 2 message); use 0 or 1"
                    .to_owned(),
                BrokerInUse::Demo => format!(
                    "--qos 2: the demo broker takes QoS 0 and 1 only, as AWS IoT Core does (its \
                     CONNACK says Maximum QoS 1), and this sample does not support QoS 2: \
                     {WHY_NO_QOS_2}; use 0 or 1"
                ),
                BrokerInUse::Other(host) => format!(
                    "--qos 2: whatever {host} supports, this sample does not support QoS 2: \
                     {WHY_NO_QOS_2}; use 0 or 1"
                ),
            })),
        }
    }
}

/// Why the sample stops at QoS 1, for a broker that would take QoS 2.
const WHY_NO_QOS_2: &str = "it is written for AWS IoT Core, which has no QoS 2, and proves \
                            exactly-once delivery itself, from the message numbers it checks at \
                            QoS 1";
