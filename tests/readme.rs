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
