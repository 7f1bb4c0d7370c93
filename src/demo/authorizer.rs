//! `--demo --policy FILE`: the demo broker applies an AWS IoT policy to its clients, as AWS IoT
//! Core applies the policy attached to a certificate.
//!
//! A newcomer can print a policy, delete a statement, and see here what AWS would answer, before
//! any account exists. The policy is read by `aws/iam/` (the same reader the tests use), and
//! asked about each of the three things the [mqtt5] broker lets us refuse, through its
//! `AuthProvider` trait (mqtt5 `src/broker/auth/mod.rs`):
//!
//! | client sends | policy asked for                         | refused as AWS does                  |
//! |--------------|------------------------------------------|--------------------------------------|
//! | CONNECT      | `iot:Connect` on `client/<id>`            | connection closed, no CONNACK        |
//! | PUBLISH      | `iot:Publish` on `topic/<topic>`          | PUBACK 0x87 (QoS 1; QoS 0 is dropped)|
//! | SUBSCRIBE    | `iot:Subscribe` on `topicfilter/<filter>` | SUBACK 0x87                          |
//!
//! **`iot:Receive` is not checked.** AWS checks it for every message it delivers; mqtt5 has no
//! hook on delivery, so a policy without Receive passes here and fails on AWS (every message
//! missing). `README.md` and `--help` say so too.
//!
//! Which answer to a refused CONNECT: the AWS IoT developer guide, "MQTT", section "AWS IoT
//! differences from MQTT version 3.1.1 specification", says an unauthorized client gets no CONNACK
//! error code: its connection is closed ("error code 7 instead of the CONNACK error code 5", 7
//! being the client library's "connection lost"). That is what this broker does. On MQTT 5 AWS may
//! answer CONNACK 0x87 instead (FACTS.md); the tool reads both (`mqtt/reason_codes.rs`,
//! `mqtt/diagnosis.rs`), so rehearsing the silent close, the less helpful of the two, covers both.
//! mqtt5 closes the connection without a CONNACK when `authenticate` returns an error rather than
//! a refusal (`handle_authentication` in mqtt5 `src/broker/client_handler/connect.rs` sends CONNACK
//! with the refusal's code; an error ends the connection first).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use mqtt5::broker::{AuthProvider, AuthResult};
use mqtt5::packet::connect::ConnectPacket;
use mqtt5::MqttError;

use crate::aws::iam::{Policy, Request};

/// Answers the broker's three questions from one policy document.
pub struct PolicyAuthorizer {
    policy: Arc<Policy>,
    /// The file, for the log lines that say why a client was refused.
    source: PathBuf,
}

impl PolicyAuthorizer {
    pub fn new(policy: Policy, source: PathBuf) -> PolicyAuthorizer {
        PolicyAuthorizer {
            policy: Arc::new(policy),
            source,
        }
    }

    /// Whether the policy allows `request`; a refusal is logged with the statement that decided
    /// it, as AWS IoT's logs would show an authorization failure.
    fn allows(&self, request: &Request) -> bool {
        let decision = self.policy.decide(request);
        if !decision.is_allowed() {
            tracing::warn!(
                "demo broker: {} refuses [{}] {request}: {decision}",
                self.source.display(),
                request.client_id,
            );
        }
        decision.is_allowed()
    }
}

type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl AuthProvider for PolicyAuthorizer {
    fn authenticate<'a>(
        &'a self,
        connect: &'a ConnectPacket,
        _client_addr: SocketAddr,
    ) -> Answer<'a, mqtt5::Result<AuthResult>> {
        // The client certificate was already checked in the TLS handshake: here only the
        // policy speaks. An error, not `AuthResult::fail`, so that no CONNACK is sent (see the
        // module's doc).
        let allowed = self.allows(&Request::connect(&connect.client_id));
        Box::pin(async move {
            if allowed {
                Ok(AuthResult::success())
            } else {
                Err(MqttError::NotAuthorized)
            }
        })
    }

    fn authorize_publish<'a>(
        &'a self,
        client_id: &str,
        _user_id: Option<&'a str>,
        topic: &'a str,
    ) -> Answer<'a, bool> {
        let allowed = self.allows(&Request::publish(client_id, topic));
        Box::pin(async move { allowed })
    }

    fn authorize_subscribe<'a>(
        &'a self,
        client_id: &str,
        _user_id: Option<&'a str>,
        topic_filter: &'a str,
    ) -> Answer<'a, bool> {
        let allowed = self.allows(&Request::subscribe(client_id, topic_filter));
        Box::pin(async move { allowed })
    }
}
