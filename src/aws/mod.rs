//! What is particular to AWS IoT Core, decided before the network: the policy a run needs, how
//! AWS reads a policy, and the limits AWS enforces that a plain MQTT broker does not.
//!
//! AWS IoT Core authorizes every MQTT action against a policy attached to the certificate, and it
//! says little when the policy is short: a missing `iot:Connect` closes the connection without a
//! CONNACK, a missing `iot:Subscribe` is a bare SUBACK 0x87, a missing `iot:Receive` is silence.
//! So rather than a policy to edit by hand, `--print-policy` derives it from the same flags the
//! run uses (`policy.rs`); `iam/` reads a policy the way AWS does, for the demo broker
//! (`--demo --policy`) and for the tests that prove the printed policy allows exactly the run.
//! AWS's quotas (topic length and depth, client id length, reserved `$` names, keep-alive,
//! session expiry, payload size) also end a connection without a reason, so `limits.rs` checks
//! them first.
//!
//! Nothing here touches the network or knows about a run: `cli.rs` passes in the client ids and
//! the `$share` filter, and turns the answers into usage errors or warnings.

pub mod iam;
mod limits;
mod policy;

pub use limits::{aws_warnings, connection_findings, is_aws_endpoint, limit_findings, Payload};
pub use policy::{
    check_account, check_region, missing_receive_hint, policy_document, Account, ClientIds,
    PolicyFor, ACCOUNT_PLACEHOLDER, REGION_PLACEHOLDER,
};
