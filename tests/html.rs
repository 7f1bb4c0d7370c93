//! `--html FILE` in a real browser: Debian's headless Chromium loads each page from disk, the
//! test reads back the DOM the browser built (each member, its count, the verdict) and decodes
//! the screenshot it took (not blank: many colours, much that is not white).
//!
//! A run of 10 messages and one of 100,000 (the page stays under 5 MB, and its DOM small: bins,
//! not a node per message), a merge of a run over processes (mosquitto), the conformance cases,
//! text that would be markup, and the endings without a summary. Without `chromium` the browser
//! tests print SKIPPED and pass, except under `CI`, where `.ci/run` installs it.

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{mosquitto_or_skip, run_tool, spawn_tool, with, Mosquitto, Run};

const LIMIT: Duration = Duration::from_secs(120);

/// Headless Chromium, each visit with a fresh profile and nothing fetched in the background.
struct Browser(PathBuf);

impl Browser {
    fn or_skip(test: &str) -> Option<Browser> {
        support::command_or_skip("chromium", test, "chromium").map(Browser)
    }

    fn visit(&self, page: &Path, what: &str) -> Run {
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut command = Command::new(&self.0);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(what)
            .arg(format!("file://{}", page.display()));
        let run = support::run_command(command, LIMIT);
        assert_eq!(run.code, Some(0), "chromium {what}: {run}");
        run
    }

    /// The DOM as the browser built it from the page.
    fn dom(&self, page: &Path) -> String {
        let run = self.visit(page, "--dump-dom");
        assert!(run.stdout.contains("</html>"), "no DOM: {run}");
        run.stdout
    }

    /// A 1400×900 screenshot: how many distinct colours, and the share of pixels that are not
    /// (nearly) white.
    fn screenshot(&self, page: &Path) -> (usize, f64) {
        let shot = page.with_extension("png");
        self.visit(page, &format!("--screenshot={}", shot.display()));
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&shot).expect("the screenshot"),
        ));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
        let frame = reader.next_frame(&mut pixels).expect("a frame");
        let channels = frame.color_type.samples();
        let pixels = &pixels[..frame.buffer_size()];
        let mut colours = HashSet::new();
        let mut ink = 0usize;
        for pixel in pixels.chunks(channels) {
            let rgb = &pixel[..3.min(channels)];
            colours.insert(rgb.to_vec());
            ink += usize::from(rgb.iter().any(|c| *c < 235));
        }
        (colours.len(), ink as f64 / (pixels.len() / channels) as f64)
    }
}

/// The page a browser shows is the run: each member's row with its count from the summary, its
/// lane on the timeline, the verdict and the exit code; and the screenshot is a picture.
fn assert_page_shows(browser: &Browser, page: &Path, summary: &Value, exit: i32) -> String {
    let dom = browser.dom(page);
    let members = summary["members"].as_object().expect("members");
    assert!(!members.is_empty(), "{summary}");
    for (id, member) in members {
        let row = format!("data-member=\"{id}\" data-count=\"{}\"", member["count"]);
        assert!(dom.contains(&row), "no row {row} in the page");
    }
    let verdict = summary["verdict"].as_str().expect("a verdict");
    let headline = format!("data-verdict=\"{verdict}\" data-exit=\"{exit}\"");
    assert!(dom.contains(&headline), "no {headline} in the page");
    let (colours, ink) = browser.screenshot(page);
    assert!(
        colours >= 40 && ink > 0.05,
        "a blank screenshot? {colours} colours, {:.1}% not white",
        ink * 100.0
    );
    dom
}

fn demo(page: &Path, more: &[&str]) -> Run {
    let args = with(
        vec!["--demo".into(), "--json".into(), "--html".into()],
        &[&page.display().to_string()],
    );
    run_tool(&with(args, more), LIMIT)
}

#[test]
fn a_ten_message_run_shows_each_member_its_count_and_the_verdict() {
    let Some(browser) =
        Browser::or_skip("a_ten_message_run_shows_each_member_its_count_and_the_verdict")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("ten.html");
    let run = demo(
        &page,
        &[
            "--count",
            "10",
            "--subscribers",
            "3",
            "--client_id",
            "t-html",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let summary = run.summary();
    let dom = assert_page_shows(&browser, &page, &summary, 0);
    // The timeline has a lane per member and the publisher's; the command line is on the page.
    for k in 1..=3 {
        assert!(
            dom.contains(&format!("data-lane=\"t-html-subscriber-{k}\"")),
            "lane {k}"
        );
    }
    assert!(dom.contains("data-lane=\"t-html-publisher\""));
    assert!(dom.contains("mqtt5-shared-subscription --demo --json --html"));
    assert!(dom.contains("Every message reached the group exactly once"));
    // The delays are the summary's, as the report writes them.
    let p50 = summary["latency_ms"]["group"]["p50"].as_f64().expect("p50");
    assert!(p50 > 0.0, "{summary}");
}

#[test]
fn a_100000_message_run_stays_under_5_mb_and_draws_bins_not_messages() {
    let Some(browser) =
        Browser::or_skip("a_100000_message_run_stays_under_5_mb_and_draws_bins_not_messages")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("big.html");
    let run = demo(&page, &["--count", "100000", "--qos", "0"]);
    assert_eq!(run.code, Some(0), "{run}");
    let size = std::fs::metadata(&page).expect("the page").len();
    assert!(size < 5 * 1024 * 1024, "{size} bytes");
    let summary = run.summary();
    assert_eq!(summary["unique"], 100_000, "{summary}");
    let dom = assert_page_shows(&browser, &page, &summary, 0);
    let elements = dom.matches('<').count();
    assert!(elements < 20_000, "{elements} tags for 100,000 messages");
}

/// Text from the command line (a topic, a group, the message) stays text: the browser builds no
/// element from it, and shows it as typed.
#[test]
fn text_that_looks_like_markup_stays_text() {
    let Some(browser) = Browser::or_skip("text_that_looks_like_markup_stays_text") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("odd.html");
    let topic = r#"html/<b id="injected">x</b>&'q'"#;
    let run = demo(
        &page,
        &[
            "--count",
            "4",
            "--topic",
            topic,
            "--group_identifier",
            "g<i>",
        ],
    );
    assert_eq!(run.code, Some(0), "{run}");
    let dom = browser.dom(&page);
    assert!(
        !dom.contains("<b id=\"injected\">"),
        "markup from the topic became an element"
    );
    assert!(
        !dom.contains("<i>"),
        "markup from the group became an element"
    );
    assert!(
        dom.contains("html/&lt;b id=\"injected\"&gt;x&lt;/b&gt;&amp;'q'"),
        "the topic as text"
    );
    assert!(dom.contains("g&lt;i&gt;"), "the group as text");
}

#[test]
fn a_merge_page_shows_the_members_of_every_process() {
    let test = "a_merge_page_shows_the_members_of_every_process";
    let (Some(browser), Some(mosquitto)) = (Browser::or_skip(test), mosquitto_or_skip(test)) else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let role = |role: &str, id: &str| {
        let flags = [
            "--role",
            role,
            "--run-id",
            "t-html-m",
            "--client_id",
            id,
            "--count",
            "100",
        ];
        with(broker.args(), &flags)
            .into_iter()
            .chain(["--json".to_owned()])
            .collect::<Vec<_>>()
    };
    let mut members = spawn_tool(&with(
        role("subscriber", "t-m"),
        &["--subscribers", "2", "--timeout", "20s"],
    ));
    let mut subscribed = 0;
    let all_in = members.wait_for_stdout(
        |line| {
            subscribed += usize::from(line.contains(r#""event":"subscribed""#));
            subscribed == 2
        },
        LIMIT,
    );
    assert!(all_in, "the members never subscribed");
    let publisher = run_tool(&role("publisher", "t-p"), LIMIT);
    assert_eq!(publisher.code, Some(0), "{publisher}");
    let members = members.finish(LIMIT);
    assert_eq!(members.code, Some(0), "{members}");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut inputs = Vec::new();
    for (name, run) in [("publisher", &publisher), ("members", &members)] {
        let file = dir.path().join(format!("{name}.json"));
        std::fs::write(&file, &run.stdout).expect("write an output");
        inputs.push(file.display().to_string());
    }
    let page = dir.path().join("merged.html");
    let page_flag = ["--json", "--html", &page.display().to_string()].map(str::to_owned);
    let merged = run_tool(
        &[vec!["--merge".to_owned()], inputs, page_flag.to_vec()].concat(),
        LIMIT,
    );
    assert_eq!(merged.code, Some(0), "{merged}");
    let summary = merged.summary();
    assert_eq!(summary["unique"], 100, "{summary}");
    let dom = assert_page_shows(&browser, &page, &summary, 0);
    assert!(dom.contains("A merged run"));
    assert!(dom.contains("Who got which message"));
}

#[test]
fn a_conformance_page_has_a_row_per_case_with_its_verdict() {
    let Some(browser) = Browser::or_skip("a_conformance_page_has_a_row_per_case_with_its_verdict")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("cases.html");
    let run = run_tool(
        &["--demo", "--conformance", "--json", "--html"]
            .map(str::to_owned)
            .into_iter()
            .chain([page.display().to_string()])
            .collect::<Vec<_>>(),
        LIMIT,
    );
    assert_eq!(run.code, Some(0), "{run}");
    let dom = browser.dom(&page);
    let cases: Vec<Value> = run
        .stdout
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    assert_eq!(cases.len(), 12, "{run}");
    for case in &cases {
        let row = format!(
            "data-case=\"{}\" data-verdict=\"{}\"",
            case["case"].as_str().unwrap_or(""),
            case["verdict"].as_str().unwrap_or("")
        );
        assert!(dom.contains(&row), "no {row} in the page");
    }
    assert!(
        dom.contains("data-verdict=\"conforms\" data-exit=\"0\""),
        "the headline"
    );
    let (colours, ink) = browser.screenshot(&page);
    assert!(colours >= 40 && ink > 0.05, "{colours} colours, {ink}");
}

/// Every ending gets its page, also one with nothing to draw; and a page that cannot be written
/// is said before anything is sent. (No browser needed: the file itself is read.)
#[test]
fn a_failure_still_writes_its_page_and_an_unwritable_path_is_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("failed.html");
    let missing = dir.path().join("no-such.pem").display().to_string();
    let args = [
        "--endpoint",
        "127.0.0.1",
        "--cert",
        &missing,
        "--key",
        &missing,
        "--html",
    ];
    let run = run_tool(
        &with(
            args.map(str::to_owned).to_vec(),
            &[&page.display().to_string()],
        ),
        LIMIT,
    );
    assert_eq!(run.code, Some(2), "{run}");
    let html = std::fs::read_to_string(&page).expect("the page of a failed run");
    assert!(html.contains("data-exit=\"2\""), "{html}");
    assert!(
        html.contains("Failed before any message was sent"),
        "{html}"
    );
    assert!(html.contains("no-such.pem"), "the error, on the page");

    let nowhere = dir
        .path()
        .join("no-dir")
        .join("page.html")
        .display()
        .to_string();
    let run = run_tool(&["--demo".to_owned(), "--html".to_owned(), nowhere], LIMIT);
    support::assert_one_line_error(&run, 2, &["--html", "cannot write", "no-dir"]);
    assert!(
        !run.stderr.contains("subscribed"),
        "it went on to run: {run}"
    );
}
