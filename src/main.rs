//! `mqtt5-shared-subscription`: the story of one run, top to bottom.
//!
//! Parse the flags → build the TLS config → start the members and the publisher → print the
//! report → exit with a code that says how it went. Each step lives in its own module; see
//! `lib.rs` for the map.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use mqtt5_shared_subscription::{
    check, client_config, merge, run, signalled, start_demo, Args, Broker, Ending, Failure,
    Outcome, Verdict, EXIT_DELIVERY_FAILED, EXIT_INTERRUPTED,
};

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints usage errors itself and exits with code 2.
    let args = Args::parse();
    // Logs go to stderr, so stdout carries only the report (or NDJSON with --json). Time is
    // shown since start, which makes delivery delays easy to read off.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(args.log_filter()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false)
        .init();

    match run_sample(args).await {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run_sample(args: Args) -> Result<u8, Failure> {
    // --merge reads the outputs of a run spread over processes instead of running one.
    if !args.merge.is_empty() {
        let summary = merge(&args.merge)?;
        args.format().summary(&summary);
        return Ok(if summary.verdict == Verdict::Ok {
            0
        } else {
            EXIT_DELIVERY_FAILED
        });
    }

    // 1. Check the flags: group, topic, ids, counts. Nothing has touched the network yet.
    let plan = args.plan()?;

    // --print-policy: the AWS IoT policy these flags need, on stdout; nothing is sent. Written,
    // not `println!`ed, which panics when the reader has gone (`--print-policy | head`).
    if args.print_policy {
        let _ = writeln!(std::io::stdout(), "{}", args.policy(&plan)?);
        return Ok(0);
    }

    // 2. Where is the broker? With --demo, we start one in this process first.
    let demo = if args.demo {
        Some(start_demo(args.keep_running.as_deref(), args.policy.as_deref()).await?)
    } else {
        None
    };
    let target = match &demo {
        Some(demo) => demo.target(),
        None => args.target()?,
    };

    // --check walks the chain link by link instead of running.
    if args.check {
        return Ok(check(&target, &plan, args.keep_alive).await);
    }

    // 3. Read the certificate, key and CA once, into the TLS config every connection shares.
    let broker = Broker {
        tls: client_config(&target.files, &target.alpn)?,
        host: target.host,
        port: target.port,
        timeout: plan.timeout,
        keep_alive: args.keep_alive,
        session_expiry: args.session_expiry,
        proxy: target.proxy,
        manual_acks: false,
    };

    // 4. Members join the group, the publisher publishes, the tally counts.
    let (format, filter) = (plan.format, plan.filter().clone());
    let outcome = run(broker, plan, signalled()).await;

    // 5. The report (in every ending once the publisher started: what got through is never
    //    lost), and an exit code that says whether every message arrived exactly once.
    if let Ok(outcome) = &outcome {
        format.summary(&outcome.summary);
    }
    if let Some(demo) = demo {
        // --keep-running keeps the broker up only after a run that finished on its own.
        let finished = matches!(
            &outcome,
            Ok(Outcome {
                ending: Ending::Finished,
                ..
            })
        );
        demo.finish(&filter, finished).await;
    }
    let outcome = outcome?;
    match outcome.ending {
        Ending::Interrupted => Ok(EXIT_INTERRUPTED),
        Ending::Failed(error) => Err(Failure::Connection(error)),
        Ending::Finished if outcome.summary.verdict == Verdict::Ok => Ok(0),
        Ending::Finished => Ok(EXIT_DELIVERY_FAILED),
    }
}
