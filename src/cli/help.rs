//! What the tool says about itself: `-h` (the flags of a first run), `--help` (every flag, in
//! sections, with examples and the exit codes), `--version`, the shell completion scripts and the
//! man page. All of them come from the one clap definition in this folder, so none can drift.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use super::Args;
use crate::exit::Exit;

/// The binary's name, as shells and `man` know it.
pub const BIN_NAME: &str = "mqtt5-shared-subscription";

/// `--version`: the crate's version and the git commit it was built from (`build.rs`; "unknown"
/// when built outside a git checkout, e.g. from a source tarball).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("MQTT5_GIT_COMMIT"),
    ")"
);

/// Under `-h`: where the rest is.
const SHORT_AFTER_HELP: &str = "These are the flags of a first run. --help shows every flag, in \
sections (modes, connection, TLS, group and messages, faults and experiments, output, AWS), with \
examples and the exit codes.\n\nNo broker and no AWS account yet? --demo runs the whole sample \
on an embedded broker.";

/// Under `--help`: examples, then the exit codes (from `exit.rs`). Lines stay within
/// [`TEXT_WIDTH`] columns, so that clap, which wraps to the terminal, leaves them as they are.
const EXAMPLES: &str = "\
Examples:
  # No broker and no AWS account: an embedded mTLS broker
  mqtt5-shared-subscription --demo

  # The least-privilege AWS IoT policy for these flags (nothing is sent)
  mqtt5-shared-subscription --print-policy --client_id my-test \\
      --region eu-west-1 --account 123456789012

  # AWS IoT Core
  mqtt5-shared-subscription \\
      --endpoint xxxxxxxx-ats.iot.eu-west-1.amazonaws.com \\
      --cert device.pem.crt --key private.pem.key --client_id my-test

  # The same, with the connection in the environment (a flag wins over it)
  export MQTT5_ENDPOINT=xxxxxxxx-ats.iot.eu-west-1.amazonaws.com
  export MQTT5_CERT=device.pem.crt MQTT5_KEY=private.pem.key
  mqtt5-shared-subscription --client_id my-test";

/// The width of the texts laid out by hand: an 80-column terminal shows them unwrapped.
const TEXT_WIDTH: usize = 78;

/// The command line as clap knows it, with the texts that are put together at run time.
pub fn command() -> clap::Command {
    Args::command()
        .version(VERSION)
        .after_help(SHORT_AFTER_HELP)
        .after_long_help(format!(
            "{EXAMPLES}\n\nExit codes:\n{}",
            Exit::help_table(TEXT_WIDTH).trim_end()
        ))
}

/// A usage error, as clap prints it, with a pointer to `--demo` when the broker's flags are
/// missing: the one command that works with no account and no broker.
pub fn usage_error(mut error: clap::Error) -> clap::Error {
    if error.kind() == ErrorKind::MissingRequiredArgument {
        error.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![
                "no broker or AWS account yet? `--demo` runs the whole sample on an embedded \
                 broker, with certificates made for it"
                    .into(),
            ]),
        );
    }
    error
}

/// `--completions SHELL`: the completion script, on stdout.
pub fn print_completions(shell: clap_complete::Shell) {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), BIN_NAME, &mut script);
    print(&script);
}

/// `--man`: the man page in roff, on stdout.
pub fn print_man_page() -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command()).render(&mut page)?;
    print(&page);
    Ok(())
}

/// For a reader that may go away (`--man | head`).
fn print(bytes: &[u8]) {
    crate::stdout::bytes(bytes);
}
