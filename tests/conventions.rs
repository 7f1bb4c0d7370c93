//! The conventions users of command-line tools expect: help in sections with a short `-h`,
//! settings from the environment (a flag wins), shell completions, a man page, a version that
//! names its commit, and one table of exit codes shared by `--help` and the README.

mod support;

use std::process::Command;
use std::time::Duration;

use support::{mosquitto_or_skip, run_command, run_tool, tool_command, Mosquitto, Run};

const LIMIT: Duration = Duration::from_secs(60);

fn tool(words: &[&str]) -> Run {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    run_tool(&words, LIMIT)
}

/// The tool with `words` and the environment variables `vars` (on top of a clean environment).
fn tool_with_env(words: &[String], vars: &[(&str, String)]) -> Run {
    let mut command = tool_command(words);
    for (name, value) in vars {
        command.env(name, value);
    }
    run_command(command, LIMIT)
}

const SECTIONS: [&str; 7] = [
    "Modes:",
    "Connection:",
    "TLS:",
    "Group and messages:",
    "Faults and experiments:",
    "Output:",
    "AWS:",
];

#[test]
fn short_help_is_one_screen_and_says_where_the_rest_is() {
    // clap wraps to the terminal's width (COLUMNS), and 100 columns without one.
    for columns in ["80", "100"] {
        let short = tool_with_env(&["-h".into()], &[("COLUMNS", columns.into())]);
        assert_eq!(short.code, Some(0), "{short}");
        let lines = short.stdout.lines().count();
        assert!(
            lines <= 60,
            "-h is {lines} lines at {columns} columns\n{}",
            short.stdout
        );
    }
    let short = tool(&["-h"]);
    for flag in [
        "--demo",
        "--endpoint",
        "--cert",
        "--key",
        "--ca_file",
        "--check",
    ] {
        assert!(
            short.stdout.contains(flag),
            "-h lacks {flag}\n{}",
            short.stdout
        );
    }
    assert!(!short.stdout.contains("--churn"), "{}", short.stdout);
    assert!(
        short.stdout.contains("--help shows every flag"),
        "{}",
        short.stdout
    );

    let long = tool(&["--help"]);
    assert_eq!(long.code, Some(0), "{long}");
    let mut at = 0;
    for section in SECTIONS {
        let found = long.stdout[at..]
            .find(&format!("\n{section}\n"))
            .unwrap_or_else(|| panic!("--help lacks the section {section} in order\n{long}"));
        at += found + 1;
    }
    // The examples and the exit codes are laid out by hand to fit 80 columns, where clap would
    // otherwise break their lines again.
    let laid_out = long.stdout.split_once("\nExamples:\n").expect("examples").1;
    for line in laid_out.lines() {
        assert!(
            line.chars().count() <= 80,
            "too wide for 80 columns: {line}"
        );
    }
    for flag in [
        "--churn",
        "--slow-member",
        "--merge",
        "--completions",
        "--man",
    ] {
        assert!(long.stdout.contains(flag), "--help lacks {flag}\n{long}");
    }
    for variable in [
        "MQTT5_ENDPOINT",
        "MQTT5_PORT",
        "MQTT5_CERT",
        "MQTT5_KEY",
        "MQTT5_CA_FILE",
        "MQTT5_CLIENT_ID",
        "MQTT5_GROUP",
        "MQTT5_TOPIC",
    ] {
        assert!(
            // The TLS variables' values are hidden: they may hold a secret by mistake.
            long.stdout.contains(&format!("[env: {variable}="))
                || long.stdout.contains(&format!("[env: {variable}]")),
            "--help does not show {variable}\n{long}"
        );
    }
}

/// The README's table and `--help`'s are both printed from `src/exit.rs`: the same rows.
#[test]
fn the_exit_codes_of_help_and_readme_are_one_table() {
    let help = tool(&["--help"]);
    let section = help
        .stdout
        .split_once("\nExit codes:\n")
        .map(|(_, rest)| rest)
        .expect("--help has an Exit codes section");
    let mut from_help: Vec<(String, String)> = Vec::new();
    for line in section.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(code) if line.starts_with("  ") && !line.starts_with("   ") => {
                from_help.push((code.to_string(), words[1..].join(" ")))
            }
            Some(_) => {
                let (_, meaning) = from_help.last_mut().expect("a row before");
                meaning.push(' ');
                meaning.push_str(&words.join(" "));
            }
            None => break,
        }
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split_once("### Exit codes\n")
        .expect("README has ### Exit codes")
        .1
        .split("\n#")
        .next()
        .unwrap_or_default();
    let from_readme: Vec<(String, String)> = table
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| code"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            (cells[0].trim().to_owned(), cells[1].trim().to_owned())
        })
        .collect();
    assert_eq!(from_help.len(), 5, "{section}");
    assert_eq!(
        from_readme, from_help,
        "the README's exit codes differ from --help's (src/exit.rs)"
    );
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let run = tool(&["--version"]);
    assert_eq!(run.code, Some(0), "{run}");
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    assert_eq!(
        run.stdout.trim(),
        format!(
            "mqtt5-shared-subscription {} (commit {commit})",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn the_bash_completion_script_completes_the_flags() {
    let run = tool(&["--completions", "bash"]);
    assert_eq!(run.code, Some(0), "{run}");
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("mqtt5-shared-subscription.bash");
    std::fs::write(&script, &run.stdout).expect("write the script");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash");
    assert!(syntax.status.success(), "bash -n: {syntax:?}");
    // What bash does on Tab after `mqtt5-shared-subscription --group_i`.
    let tab = r#"
        source "$1" || exit 3
        spec=$(complete -p mqtt5-shared-subscription) || exit 4
        fn=${spec#*-F }; fn=${fn%% *}
        COMP_LINE="mqtt5-shared-subscription --group_i"
        COMP_POINT=${#COMP_LINE}
        COMP_WORDS=(mqtt5-shared-subscription --group_i)
        COMP_CWORD=1
        "$fn" mqtt5-shared-subscription --group_i mqtt5-shared-subscription
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let completed = Command::new("bash")
        .args(["-c", tab, "bash"])
        .arg(&script)
        .output()
        .expect("bash");
    let offered = String::from_utf8_lossy(&completed.stdout);
    assert!(completed.status.success(), "{completed:?}");
    assert_eq!(offered.trim(), "--group_identifier", "{completed:?}");
    for shell in ["zsh", "fish", "powershell"] {
        let run = tool(&["--completions", shell]);
        assert_eq!(run.code, Some(0), "{run}");
        assert!(run.stdout.contains("group_identifier"), "{shell}: {run}");
    }
}

#[test]
fn the_man_page_renders() {
    let Some(man) = support::command_or_skip("man", "the_man_page_renders", "man-db") else {
        return;
    };
    let run = tool(&["--man"]);
    assert_eq!(run.code, Some(0), "{run}");
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("mqtt5-shared-subscription.1");
    std::fs::write(&page, &run.stdout).expect("write the page");
    let rendered = Command::new(man)
        .args(["-P", "cat", "-l"])
        .arg(&page)
        .env("MANWIDTH", "100")
        .output()
        .expect("man");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{rendered:?}");
    for words in [
        "NAME",
        "mqtt5-shared-subscription",
        "--group_identifier",
        "MQTT5_ENDPOINT",
    ] {
        assert!(text.contains(words), "the man page lacks {words:?}\n{text}");
    }
}

/// A run configured only through the environment works, and a flag on the command line wins
/// over its variable.
#[test]
fn the_environment_configures_a_run_and_flags_win() {
    let Some(mosquitto) = mosquitto_or_skip("the_environment_configures_a_run_and_flags_win")
    else {
        return;
    };
    let broker = Mosquitto::start(&mosquitto);
    let files = &broker.files;
    let path = |p: &std::path::Path| p.display().to_string();
    let vars = vec![
        ("MQTT5_ENDPOINT", "127.0.0.1".to_owned()),
        ("MQTT5_PORT", broker.port.to_string()),
        ("MQTT5_CERT", path(&files.client_cert)),
        ("MQTT5_KEY", path(&files.client_key)),
        ("MQTT5_CA_FILE", path(&files.ca)),
        ("MQTT5_CLIENT_ID", "from-env".to_owned()),
        ("MQTT5_GROUP", "env-group".to_owned()),
        ("MQTT5_TOPIC", "env/topic".to_owned()),
    ];
    let run = tool_with_env(&["--count".into(), "4".into()], &vars);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout
            .contains("4 delivered exactly once to group 'env-group'"),
        "{run}"
    );
    assert!(run.stdout.contains("from-env-subscriber-1"), "{run}");
    assert!(run.stderr.contains("$share/env-group/env/topic"), "{run}");

    // Flags win: the variables name a closed port and another group.
    let mut wrong = vars.clone();
    wrong[1].1 = support::free_port().to_string();
    let flags: Vec<String> = [
        "--port",
        &broker.port.to_string(),
        "--group_identifier",
        "flag-group",
        "--count",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let run = tool_with_env(&flags, &wrong);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(
        run.stdout
            .contains("2 delivered exactly once to group 'flag-group'"),
        "{run}"
    );

    // --demo brings its own broker: the variables of a real one are set aside, and said so.
    let run = tool_with_env(&["--demo".into(), "--count".into(), "2".into()], &vars);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stderr.contains("MQTT5_ENDPOINT"), "{run}");
    assert!(run.stderr.contains("set aside"), "{run}");
}
