//! # mqtt5-shared-subscription
//!
//! A sample, and a diagnostic tool, that shows how an MQTT 5 **shared subscription** spreads
//! messages across the members of a group, and proves it did so exactly once.
//!
//! An ordinary subscription gives every subscriber a copy of each message. With a shared
//! subscription, clients subscribe to `$share/<group>/<topic>` and the broker hands each message
//! on `<topic>` to just *one* member of the group: a work queue built from plain MQTT. AWS IoT Core
//! (and mosquitto, EMQX, HiveMQ, …) support it; this tool connects over mutual TLS, as AWS requires.
//!
//! ## The flow of one run
//!
//! 1. parse and check the flags (`cli/`), build one TLS config from the certificate files
//!    (`tls/`);
//! 2. start N members, each connects (`mqtt/`) and subscribes to the `$share` filter (`share.rs`,
//!    `run/member.rs`);
//! 3. once all are subscribed, a publisher sends numbered messages (`message.rs`) to the plain
//!    topic (`run/publisher.rs`), and holds whenever a member drops out until it is back;
//! 4. every receipt flows as an event to one loop that logs and tallies it (`run/`);
//! 5. when every message is accounted for, members leave, and the report gives the verdict.
//!
//! ## Where to start reading
//!
//! Start at `src/main.rs`: it is the story above, short enough to read in a minute. Then the
//! folders, each with a `mod.rs` that says what it teaches. Arrows point one way: `run/` uses
//! `mqtt/` and `tls/`; `mqtt/` only carries `tls/`'s file paths (in `Target`); and nothing uses
//! `run/` but `main.rs`, `cli/` (which makes its `Plan`), `check/` (which reads it) and `exit.rs`
//! (which reads its verdict); `aws/` knows only `share.rs`: `cli/` calls it, `demo/` reads a
//! policy with it (`--policy`), and the report asks it how to name a missing `iot:Receive`.
//!
//! * `cli/`: the flags in groups, one per `--help` section, and their typed values; AWS's
//!   underscore spellings (`--ca_file`); the `MQTT5_*` variables; the checks that end a bad run
//!   with exit 2 before any network; `-h`, `--help`, completions and the man page;
//! * `share.rs`: how the `$share/<group>/<topic>` filter is built, and what makes one invalid;
//! * `message.rs`: the payload and the MQTT 5 user properties that tell our messages from
//!   others', and the helpers that keep message numbers (1, 2, 3, …) in one place;
//! * `tls/`: certificate, key and CA into a `rustls::ClientConfig`; PEM or DER; encrypted keys;
//!   ALPN on port 443;
//! * `mqtt/`: rumqttc's client/event-loop split, what the broker's CONNACK grants and why it
//!   wins (`connack.rs`), a `Connection` that reconnects with backoff through a broker restart or
//!   a network cut (`link.rs`, `outage.rs`), every reason code in words (`reason_codes.rs`),
//!   every connection error in words, stage by stage (`diagnosis/`), and the HTTP proxy every
//!   connection may tunnel through (`proxy.rs`: flags, `HTTPS_PROXY`, `NO_PROXY`);
//! * `run/`: the members, the publisher, the gate that holds it while a member is away, the
//!   events they report, the tally, and the report: the sample's own logic. Also the runs that
//!   go further: several groups and a control subscriber (one tally each), a run spread over
//!   processes and its `--merge` (`merge.rs`), churn experiments (`churn.rs`), and load: K
//!   publisher connections (`numbers.rs`), a pace that does not drift and AWS's 100 publishes a
//!   second per connection (`pace.rs`), `--duration` (`publishing.rs`);
//! * `demo/`: a throw-away CA and an embedded broker, so `--demo` needs no AWS account, and
//!   that can apply an AWS IoT policy to its clients (`--policy`);
//! * `aws/`: what is particular to AWS IoT Core, before any network: the least-privilege policy
//!   for a command line (`--print-policy`, with the policy language's escapes, within AWS's size
//!   limit), a reader that evaluates a policy as AWS does (`iam/`, used by `--demo --policy`
//!   and the tests), and AWS's limits on topics, client ids, keep-alive, sessions and payloads;
//! * `check/`: `--check`, the chain walked one link at a time (files, DNS, TCP, TLS, CONNACK,
//!   SUBACK) with the run's own broker settings, and a ✓ or a ✗ in the run's words for each;
//! * `exit.rs`: every exit code and what earns it (a run, `--check`, `--merge`, a failure), the
//!   table `--help` and the README print; `failure.rs`: the kinds of failure; `shutdown.rs`:
//!   Ctrl-C;
//! * `conformance/`: `--conformance`, the questions of MQTT 5's shared-subscription clauses
//!   (§4.8.2 and its neighbours) asked of the broker, one case per file, each with a verdict;
//! * `html/`: `--html FILE`, the run (or a merge, or the conformance cases) as one
//!   self-contained page: the timeline, who got which number, the split, the delays, the verdict;
//!   it reads `run/`'s summary and timeline, and nothing but `main.rs` uses it;
//! * `open_files.rs`: room for thousands of connections (the open-file limit);
//! * `stdout.rs`: writing to a reader that may go away (`… | head -1`) without a panic;
//! * `error_text.rs`: the few places we must read another library's error *text*, pinned by tests.
//!
//! The modules are private: the items below are what `main.rs`, the examples and the tests use.

mod aws;
mod check;
mod cli;
mod conformance;
mod error_text;
mod exit;
mod failure;
mod html;
mod message;
mod mqtt;
mod open_files;
mod run;
mod share;
mod shutdown;
mod stdout;
mod tls;

#[cfg(feature = "demo")]
mod demo;
#[cfg(not(feature = "demo"))]
#[path = "demo/unavailable.rs"]
mod demo;

/// How AWS IoT Core reads a policy: the demo broker's `--policy` and the tests use it.
pub use aws::iam;
pub use check::run as check;
pub use cli::{Args, Mode};
pub use conformance::run as conformance;
#[cfg(feature = "demo")]
pub use demo::{pki, DemoBroker, MAX_PACKET_SIZE};
pub use exit::Exit;
pub use failure::Failure;
pub use html::Page as HtmlPage;
pub use mqtt::{connect, disconnect, Broker};
pub use open_files::make_room_for;
pub use run::{merge, run, Ending, Format, Outcome, Summary, Verdict};
pub use shutdown::signalled;
/// A line on stdout that a reader may stop reading (`… | head -1`) without a panic.
pub use stdout::line as print_line;
pub use tls::{client_config, TlsFiles, PASSPHRASE_ENV};

/// `--demo`: start the embedded broker and its certificates (`demo/`).
pub use demo::start as start_demo;
