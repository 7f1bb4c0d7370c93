//! Stand-in for `demo/` in a build without the `demo` feature (`--no-default-features`).
//!
//! The lean binary still understands `--demo`, so it can say how to get it instead of failing
//! with an unknown-flag error.

use std::convert::Infallible;
use std::path::Path;

use crate::failure::Failure;
use crate::mqtt::Target;
use crate::share::SharedFilter;

/// Never constructed: without the feature there is no demo broker.
pub struct Demo(Infallible);

impl Demo {
    pub fn target(&self) -> Target {
        match self.0 {}
    }

    pub async fn stop(self) {}

    pub async fn finish(self, _filter: &SharedFilter, _run_finished: bool) {}
}

/// The same filter as with the feature: no broker logs here, so it changes nothing.
pub const LOG_FILTER: &str =
    "rustls::msgs::handshake=error,mqtt5=error,mqtt5::broker::server=off,mqtt5::broker::tls_acceptor=off";

/// Explains how to get a binary with `--demo`.
pub async fn start(_keep_running: Option<&Path>, _policy: Option<&Path>) -> Result<Demo, Failure> {
    Err(Failure::input(
        "--demo: this binary was built without the `demo` feature; \
         rebuild with `cargo build --features demo` (it is on by default)",
    ))
}
