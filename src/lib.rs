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
//! 1. parse and check the flags (`cli`), build one TLS config from the certificate files (`tls`);
//! 2. start N members, each connects and subscribes to the `$share` filter (`subscriber`);
//! 3. once all are subscribed, a publisher sends numbered messages to the plain topic
//!    (`publisher`), and holds whenever a member drops out until it is back (`run`);
//! 4. every receipt flows as an event to one loop that logs and tallies it (`run`, `event`);
//! 5. when every message is accounted for, members leave, and the report gives the verdict (`report`).
//!
//! ## Where to start reading
//!
//! Start at `src/main.rs`: it is the story above, short enough to read in a minute. Then, by idea:
//!
//! * [`cli`]: the flags and their defaults, AWS's underscore spellings (`--ca_file`), and the
//!   checks that end a bad run with exit 2 before any network;
//! * [`share`]: how the `$share/<group>/<topic>` filter is built, and what makes one invalid;
//! * [`tls`]: certificate, key and CA into a `rustls::ClientConfig`; ALPN on port 443;
//!   * [`cert_file`]: `--cert` and `--ca_file`, and the device certificate's validity dates;
//!   * [`key_file`]: `--key` in its three forms, and decrypting an encrypted one;
//!   * [`input_file`]: PEM or DER, and what a file holds when it is not what the flag wants;
//! * [`connection`]: rumqttc's client/event-loop split, CONNACK, one `Link` state (up, down,
//!   draining), reconnecting with backoff (and what rumqttc drops when it reconnects), keep-alive
//!   on a dead path, kept sessions, clean DISCONNECT; `connection/diagnosis.rs` puts each
//!   connection error in words and decides whether another attempt could help;
//! * [`subscriber`]: one group member: SUBSCRIBE, check the SUBACK code, receive, subscribe again
//!   after a reconnect, leave cleanly;
//! * [`publisher`]: numbered messages, pipelined, held while the group is incomplete, and what was
//!   not acknowledged (or went to nobody) sent again; `publisher/ack_tracker.rs` matches each
//!   PUBACK to its number across packet-id reuse and reconnects;
//! * [`receipts`]: what the group has received, so the publisher does not send again what a
//!   member already has (a PUBACK lost in a crash is not a message lost);
//! * [`message`]: the payload and the MQTT 5 user properties that tell our messages from others';
//! * [`run`]: the tasks, the one channel they report through, who is in the group, the run's
//!   `Phase` and the gate that holds the publisher while a member is away;
//! * [`event`]: what the tasks report (connected, subscribed, received, …), printed as log lines
//!   or, with `--json`, as NDJSON;
//! * [`report`]: missing and duplicated messages, the per-member table, the `--json` summary;
//! * [`failure`] and [`shutdown`]: exit codes, Ctrl-C;
//! * [`pki`] and `demo`: a throw-away CA and an embedded broker, so `--demo` needs no AWS account;
//!   `demo_unavailable.rs` is the stand-in compiled without the `demo` feature.

pub mod cert_file;
pub mod cli;
pub mod connection;
pub mod event;
pub mod failure;
pub mod input_file;
pub mod key_file;
pub mod message;
pub mod pki;
pub mod publisher;
pub mod receipts;
pub mod report;
pub mod run;
pub mod share;
pub mod shutdown;
pub mod subscriber;
pub mod tls;

#[cfg(feature = "demo")]
pub mod demo;
#[cfg(not(feature = "demo"))]
#[path = "demo_unavailable.rs"]
pub mod demo;
