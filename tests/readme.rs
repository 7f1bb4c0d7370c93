//! The README tells the truth: its sample output is what `--demo` prints today, and its
//! walkthroughs run as written.
//!
//! A README is the first thing a newcomer copies from, and the first thing to go stale: the demo
//! gained latency and spread lines long before its sample output did. These tests read the README
//! itself, so a change in what the tool prints, or in a flag a walkthrough uses, fails here until
//! the README says it too.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{run_tool, Run};

const LIMIT: Duration = Duration::from_secs(60);

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

/// The fenced block that follows the line containing `marker`.
fn block_after(readme: &str, marker: &str) -> String {
    let (_, after) = readme
        .split_once(marker)
        .unwrap_or_else(|| panic!("README has no {marker:?}"));
    let (_, fence) = after.split_once("```").expect("a fenced block after it");
    let (_, body) = fence.split_once('\n').expect("the fence's first line");
    let (body, _) = body.split_once("\n```").expect("the block's end");
    body.to_owned()
}

/// A line with what changes from run to run taken out: the time stamps, the random client id
/// prefix, every number (ports, counts, delays), column padding, and the marks of the grid.
fn shape(line: &str) -> String {
    let line = line.trim();
    // "   0.013064386s  INFO ..." → "INFO ...".
    let line = match line.split_once("s  ") {
        Some((stamp, rest)) if stamp.chars().all(|c| c.is_ascii_digit() || c == '.') => rest,
        _ => line,
    };
    let mut shaped = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == 't' && chars.clone().take(4).collect::<String>() == "est-" {
            // test-<8 hex>: the made-up --client_id.
            let id: String = chars.clone().skip(4).take(8).collect();
            if id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                shaped.push_str("ID");
                for _ in 0..12 {
                    chars.next();
                }
                continue;
            }
        }
        if c.is_ascii_digit() {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            shaped.push('#');
        } else if c == '●' || c == '·' {
            while chars.peek().is_some_and(|c| *c == '●' || *c == '·') {
                chars.next();
            }
            shaped.push_str("MARKS");
        } else if c == ' ' {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            shaped.push(' ');
        } else {
            shaped.push(c);
        }
    }
    shaped
}

/// Lines a demo prints in some runs and not in others: the publisher may finish before the last
/// receipts are in (then the run says what it still waits for), or after.
fn sometimes(shape: &str) -> bool {
    shape.contains("publishing done; waiting up to")
}

fn shapes(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(shape)
        .filter(|shape| !sometimes(shape))
        .collect()
}

#[test]
fn the_readmes_demo_output_is_what_the_demo_prints() {
    let readme = readme();
    let sample = block_after(&readme, "Real output of `cargo run -- --demo`");
    let run: Run = run_tool(&["--demo".to_owned()], LIMIT);
    assert_eq!(run.code, Some(0), "{run}");
    let printed = format!("{}{}", run.stderr, run.stdout);
    let (in_readme, in_run) = (shapes(&sample), shapes(&printed));
    let stale: Vec<&String> = in_readme.difference(&in_run).collect();
    let unshown: Vec<&String> = in_run.difference(&in_readme).collect();
    assert!(
        stale.is_empty() && unshown.is_empty(),
        "the README's demo output is not what `--demo` prints now (numbers, ids and times aside):\n\
         only in the README: {stale:#?}\nonly in the run: {unshown:#?}\n{run}"
    );
}

#[test]
fn shapes_keep_words_and_drop_what_changes() {
    assert_eq!(
        shape("   0.008137440s  INFO [test-11a9ac7d-subscriber-1] connected"),
        "INFO [ID-subscriber-#] connected"
    );
    assert_eq!(
        shape("test-11a9ac7d-subscriber-2  ·●·●·●·●·●"),
        "ID-subscriber-# MARKS"
    );
    assert_eq!(
        shape("group                          1.33ms     1.46ms"),
        "group #.#ms #.#ms"
    );
    // A word that merely starts like the id prefix stays.
    assert_eq!(shape("test-topic"), "test-topic");
}

// --- The walkthroughs, run as written -------------------------------------------------------

/// What marks a block this test runs: the block after the comment, in a shell, as a reader would
/// paste it; `cargo run` is this build's binary (see [`cargo_shim`]).
const RUNS: &str = "<!-- tests/readme.rs runs this block as written";
/// ...and, for a block that expects the connection in the environment, this at the end.
const WITH_EXPORTS: &str = "against `--demo --keep-running`'s exports";

/// The marked blocks: (whether it needs the exports, the script).
fn runnable_blocks(readme: &str) -> Vec<(bool, String)> {
    readme
        .match_indices(RUNS)
        .map(|(at, _)| {
            let marker = &readme[at..at + readme[at..].find("-->").expect("the comment ends")];
            (
                marker.contains(WITH_EXPORTS),
                block_after(&readme[at..], RUNS),
            )
        })
        .collect()
}

/// A `cargo` on PATH that runs this build instead of building: `cargo run [flags] -- ARGS` is
/// the tool with ARGS, `cargo run --example NAME -- ARGS` that example. What a reader types,
/// minus the compile (which `cargo test` has done).
fn cargo_shim(dir: &std::path::Path) {
    let examples = std::path::Path::new(support::BIN)
        .parent()
        .expect("target/debug")
        .join("examples");
    let script = format!(
        "#!/bin/sh\n\
         # tests/readme.rs: `cargo run … -- ARGS` without the build.\n\
         [ \"$1\" = run ] || {{ echo \"cargo shim: only 'cargo run' ($*)\" >&2; exit 99; }}\n\
         shift; exe={bin}\n\
         while [ $# -gt 0 ] && [ \"$1\" != -- ]; do\n\
           case \"$1\" in --example) exe={examples}/$2; shift ;; esac; shift\n\
         done\n\
         [ \"$1\" = -- ] && shift\n\
         exec \"$exe\" \"$@\"\n",
        bin = support::BIN,
        examples = examples.display(),
    );
    let path = dir.join("cargo");
    std::fs::write(&path, script).expect("write the shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs `script` with bash (`-e`: the first failing command fails it), in `dir`, with the shim
/// first on PATH and `env` set; the tool's own variables are cleared first, as in every test.
fn run_block(script: &str, dir: &std::path::Path, env: &[(String, String)]) -> Run {
    let mut command = std::process::Command::new("bash");
    command.args(["-e", "-c", script]).current_dir(dir);
    support::without_tool_env(&mut command);
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command.env("PATH", path).envs(env.iter().cloned());
    support::run_command(command, LIMIT)
}

/// The `export MQTT5_…=…` line a `--demo --keep-running` broker prints, as pairs.
fn exports(line: &str) -> Vec<(String, String)> {
    line.trim()
        .trim_start_matches("export ")
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.trim_matches('\'').to_owned()))
        .collect()
}

#[test]
fn the_readmes_marked_walkthroughs_run_as_written() {
    let readme = readme();
    let blocks = runnable_blocks(&readme);
    assert!(
        blocks.len() >= 3 && blocks.iter().any(|(exports, _)| *exports),
        "README lost its marked blocks: {blocks:#?}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    cargo_shim(dir.path());
    // The broker the exporting blocks talk to, as the README says to start it.
    let mut broker = support::spawn_tool(&[
        "--demo".into(),
        "--keep-running".into(),
        dir.path().join("demo-pki").display().to_string(),
        "--count".into(),
        "1".into(),
    ]);
    let mut export = String::new();
    assert!(
        broker.wait_for_stderr(
            |line| {
                let found = line.trim_start().starts_with("export MQTT5_");
                if found {
                    export = line.to_owned();
                }
                found
            },
            LIMIT
        ),
        "--demo --keep-running printed no export line"
    );
    let env = exports(&export);
    assert!(env.iter().any(|(name, _)| name == "MQTT5_PORT"), "{export}");
    for (needs_exports, script) in &blocks {
        let run = run_block(script, dir.path(), if *needs_exports { &env } else { &[] });
        assert_eq!(
            run.code,
            Some(0),
            "this README block failed as written:\n{script}\n{run}"
        );
    }
    // The multi-process walkthrough ends in the merge's report: one verdict for the group.
    let merged = blocks
        .iter()
        .find(|(_, script)| script.contains("--merge"))
        .expect("the multi-process block");
    let run = run_block(&merged.1, dir.path(), &env);
    assert!(
        run.stdout.contains("100 delivered exactly once"),
        "the merge did not find every message once:\n{run}"
    );
    let _ = std::process::Command::new("kill")
        .args(["-INT", &broker.id().to_string()])
        .status();
    broker.finish(LIMIT);
}
