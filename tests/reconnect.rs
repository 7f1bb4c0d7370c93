//! How fast a client knocks again after its connection breaks: at once, backing off, on most
//! brokers; never sooner than a second on AWS IoT Core, which takes one CONNECT a second per
//! client id ("AWS IoT Core endpoints and quotas": "Connect requests per second per client ID").
//!
//! One member alone (`--role subscriber`), so every connection the cutting proxy sees is one
//! client id's attempt; the proxy cuts it and refuses new connections for a while, and the test
//! reads the spacing of the attempts off the proxy's accept times.

mod support;

use std::time::{Duration, Instant};

use support::proxy::FaultProxy;
use support::{mosquitto_or_skip, spawn_tool, with, Mosquitto};

const LIMIT: Duration = Duration::from_secs(60);
const CUT: Duration = Duration::from_secs(4);

/// The times of the member's reconnect attempts after a cut of [`CUT`], and when the cut began.
fn attempts_after_a_cut(broker: &Mosquitto, more: &[&str]) -> (Instant, Vec<Instant>) {
    let proxy = FaultProxy::start(broker.port);
    let mut args = broker.args();
    args[3] = proxy.port().to_string();
    assert_eq!(args[2], "--port");
    let args = with(
        args,
        &[
            "--role",
            "subscriber",
            "--run-id",
            "pace",
            "--subscribers",
            "1",
            "--timeout",
            "20s",
        ],
    );
    let mut run = spawn_tool(&with(args, more));
    assert!(
        run.wait_for_stderr(
            |line| line.contains("in the group; waiting for the publisher"),
            LIMIT
        ),
        "the member never joined"
    );
    let cut = Instant::now();
    proxy.cut_for(CUT);
    assert!(
        run.wait_for_stderr(|line| line.contains("reconnected after"), LIMIT),
        "the member never came back"
    );
    let _ = std::process::Command::new("kill")
        .args(["-INT", &run.id().to_string()])
        .status();
    run.finish(LIMIT);
    let attempts = proxy
        .accepted_at()
        .into_iter()
        .filter(|at| *at > cut)
        .collect();
    (cut, attempts)
}

#[test]
fn on_aws_attempts_of_one_client_are_a_second_apart() {
    let Some(mosquitto) = mosquitto_or_skip("on_aws_attempts_of_one_client_are_a_second_apart")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    // The proxy notes an accept within its 10 ms poll: allow that much.
    let second = Duration::from_millis(990);

    let (cut, attempts) = attempts_after_a_cut(&broker, &["--aws"]);
    assert!(attempts.len() >= 3, "{} attempts", attempts.len());
    assert!(
        attempts[0] - cut >= second,
        "the first retry came {:?} after the cut",
        attempts[0] - cut
    );
    for pair in attempts.windows(2) {
        assert!(
            pair[1] - pair[0] >= second,
            "two attempts {:?} apart: {:?}",
            pair[1] - pair[0],
            attempts.iter().map(|at| *at - cut).collect::<Vec<_>>()
        );
    }

    // Elsewhere the first retry comes at once (50 to 100 ms), and the pauses grow from there.
    let (cut, attempts) = attempts_after_a_cut(&broker, &[]);
    assert!(
        attempts[0] - cut < Duration::from_millis(500),
        "{:?}",
        attempts[0] - cut
    );
    assert!(attempts.len() >= 4, "{} attempts", attempts.len());
}
