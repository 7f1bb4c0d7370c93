//! `mqtt5-shared-subscription`: the story of one run, top to bottom.
//!
//! Parse the flags → build the TLS config → start the members and the publisher → print the
//! report (and with `--html`, draw it) → exit with a code that says how it went. Each step
//! lives in its own module; see `lib.rs` for the map.

use std::io::IsTerminal;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

use mqtt5_shared_subscription::{
    check, client_config, conformance, make_room_for, merge, print_line, run, signalled,
    start_demo, Args, Ending, Exit, Failure, HtmlPage, Mode, Outcome,
};
use rumqttc::v5::mqttbytes::QoS;

/// Up to this many members, one thread runs every client (see `runtime_for`).
const MEMBERS_ON_ONE_THREAD: u16 = 1000;

fn main() -> ExitCode {
    // A usage error ends here with exit code 2, as do --help, --version, --completions and --man
    // (exit 0) once they have printed their text.
    let args = Args::from_command_line();
    match runtime_for(&args) {
        Ok(runtime) => runtime.block_on(run_main(args)),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// One thread runs every client: a message then goes from a member's socket to the tally
/// without waking another thread, and those wake-ups (futex, a task switch each) were most of
/// the CPU a message cost on two (scripts/bench.sh, README "Speed"). The tasks still wait for
/// each other through bounded channels, so nothing piles up. Two cases take the worker threads
/// of a multi-threaded runtime instead: `--demo`, which runs a broker in this process as well,
/// and thousands of members, whose TLS handshakes are most of the run (10,000 members: 16.6 s on
/// one thread, 11.7 s on two; 1,000 members: 0.86 s either way).
fn runtime_for(args: &Args) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if args.modes.demo || args.messages.subscribers.0 > MEMBERS_ON_ONE_THREAD {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    builder.enable_all().build()
}

async fn run_main(args: Args) -> ExitCode {
    // Logs go to stderr, so stdout carries only the report (or NDJSON with --json). Time is
    // shown since start, which makes delivery delays easy to read off.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new(args.log_filter()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_timer(tracing_subscriber::fmt::time::uptime())
        .with_target(false)
        .init();

    // --html FILE: a page of the run, written at the very end whatever the ending (without the
    // flag, a page that writes nothing). A file that cannot be written is exit 2, right now.
    let (ended, page) = match HtmlPage::for_flag(args.output.html.as_deref()) {
        Ok(mut page) => (run_sample(args, &mut page).await, Some(page)),
        Err(failure) => (Err(failure), None),
    };
    let exit = match &ended {
        Ok(exit) => *exit,
        Err(failure) => {
            eprintln!("error: {failure}");
            failure.exit()
        }
    };
    if let Some(page) = page {
        page.write(exit, ended.as_ref().err());
    }
    exit.into()
}

async fn run_sample(args: Args, page: &mut HtmlPage) -> Result<Exit, Failure> {
    let mode = args.mode();
    // --merge reads the outputs of a run spread over processes instead of running one.
    if let Mode::Merge(files) = &mode {
        let summary = merge(files)?;
        args.format().summary(&summary);
        page.show_merge(&summary);
        return Ok(Exit::of_verdict(summary.verdict));
    }
    // --conformance asks the broker the shared-subscription cases of MQTT 5 instead of running.
    if mode == Mode::Conformance {
        return ask_conformance(&args, page).await;
    }

    // 1. Check the flags: group, topic, ids, counts. Nothing has touched the network yet.
    let plan = args.plan()?;

    // --print-policy: the AWS IoT policy these flags need, on stdout; nothing is sent.
    if mode == Mode::PrintPolicy {
        print_line(args.policy(&plan)?);
        return Ok(Exit::Success);
    }

    // 2. Where is the broker? With --demo, we start one in this process first. Every client is a
    //    socket (with --demo, the broker's end too): make room for them all.
    let clients = (plan.member_ids().len() + plan.publisher_ids().len()) as u64;
    make_room_for(if args.modes.demo {
        2 * clients
    } else {
        clients
    });
    let demo = if args.modes.demo {
        let modes = &args.modes;
        Some(start_demo(modes.keep_running.as_deref(), modes.policy.as_deref()).await?)
    } else {
        None
    };
    let target = match &demo {
        Some(demo) => demo.target(),
        None => args.target()?,
    };

    // 3. Read the certificate, key and CA once, into the TLS config every connection shares.
    let broker =
        client_config(&target.files, &target.alpn).map(|tls| args.broker(&target, tls, plan.qos));

    // --check walks the chain link by link instead of running, with the broker a run would use.
    if mode == Mode::Check {
        return Ok(Exit::of_check(check(&target.files, broker, &plan).await));
    }

    // 4. Members join the group, the publisher publishes, the tally counts.
    let (format, filter) = (plan.format, plan.filter().clone());
    let outcome = run(broker?, plan, signalled()).await;

    // 5. The report (in every ending once the publisher started: what got through is never
    //    lost), and an exit code that says whether every message arrived exactly once.
    if let Ok(outcome) = &outcome {
        format.summary(&outcome.summary);
        page.show_run(&outcome.summary, outcome.timeline.as_ref());
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
    Exit::of_run(outcome?)
}

/// `--conformance`: no plan (its cases choose their own members, counts and topics, so a run's
/// flag is refused), the broker, the cases, a row each, and exit 3 if one broke a MUST. A case
/// holds at most 8 connections at once: the open-file limit needs no raising.
async fn ask_conformance(args: &Args, page: &mut HtmlPage) -> Result<Exit, Failure> {
    args.check_conformance_flags()?;
    let demo = if args.modes.demo {
        Some(start_demo(None, args.modes.policy.as_deref()).await?)
    } else {
        None
    };
    let target = match &demo {
        Some(demo) => demo.target(),
        None => args.target()?,
    };
    // QoS 1: the highest any case uses (a broker whose CONNACK allows less cannot answer them).
    let broker = client_config(&target.files, &target.alpn)
        .map(|tls| args.broker(&target, tls, QoS::AtLeastOnce));
    let findings = match broker {
        Ok(broker) => conformance(&broker, args.output.json).await,
        Err(failure) => Err(failure),
    };
    if let Some(demo) = demo {
        demo.stop().await;
    }
    let findings = findings?;
    page.show_conformance(&findings);
    Ok(findings.exit())
}
