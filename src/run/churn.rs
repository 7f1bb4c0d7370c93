//! Churn experiments: members that leave, come back or join while the messages flow
//! (`--churn`), and a member that acknowledges slowly (`--slow-member`).
//!
//! What users keep asking about shared subscriptions is what happens when the group changes:
//! does a leaving member take messages with it? Does a newcomer get a share at once? What
//! becomes of a slow member's share? Instead of answering from the spec, the sample lets the
//! broker answer: each step happens when the publisher has had a set number of messages
//! acknowledged, and the report puts it on the timeline with what followed.
//!
//! The syntax reads as a sentence, steps separated by commas:
//!
//! | step          | what happens                                                                  |
//! |---------------|-------------------------------------------------------------------------------|
//! | `leave:K@P`   | member K leaves for good: UNSUBSCRIBE, then DISCONNECT, a clean goodbye       |
//! | `drop:K@P`    | member K's connection is cut (no DISCONNECT), and it reconnects and rejoins    |
//! | `join@P`      | a new member joins the group: `<ID>-subscriber-<N+1>`, then N+2, ...          |
//!
//! `P` is a share of `--count` (`30%`) or a message number (`30`): the step happens once that
//! many messages are acknowledged. `--churn leave:2@30%,join@60%` reads "member 2 leaves at 30 %,
//! a new member joins at 60 %".

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One step of `--churn`, as parsed; [`ChurnStep::at`] is resolved against `--count` later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnStep {
    pub action: ChurnAction,
    pub at: At,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChurnAction {
    /// Member K (1-based, as in its client id) leaves the group for good.
    Leave(u16),
    /// Member K's connection is cut; it reconnects and subscribes again.
    Drop(u16),
    /// A new member joins.
    Join,
}

/// When a step happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Once this share of `--count` is acknowledged (0 < percent < 100).
    Percent(u8),
    /// Once message number N is acknowledged.
    Message(u32),
}

impl At {
    /// The message number this point stands for in a run of `count` messages (at least 1).
    pub fn message(self, count: u32) -> u32 {
        match self {
            At::Percent(percent) => (u64::from(count) * u64::from(percent)).div_ceil(100) as u32,
            At::Message(seq) => seq,
        }
        .max(1)
    }
}

impl ChurnAction {
    /// What kind of step it is, without the member's number.
    pub fn kind(self) -> ChurnKind {
        match self {
            ChurnAction::Leave(_) => ChurnKind::Leave,
            ChurnAction::Drop(_) => ChurnKind::Drop,
            ChurnAction::Join => ChurnKind::Join,
        }
    }
}

impl fmt::Display for ChurnAction {
    /// As on the command line: `leave:2`, `drop:1`, `join`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChurnAction::Leave(member) | ChurnAction::Drop(member) => {
                write!(f, "{}:{member}", self.kind())
            }
            ChurnAction::Join => write!(f, "{}", self.kind()),
        }
    }
}

/// A step's kind, as the `churn` event and the summary name it: `leave`, `drop` or `join` (the
/// member is named by its client id beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChurnKind {
    Leave,
    Drop,
    Join,
}

impl fmt::Display for ChurnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChurnKind::Leave => "leave",
            ChurnKind::Drop => "drop",
            ChurnKind::Join => "join",
        })
    }
}

/// A step of `--churn` resolved against `--count`: it happens once message `at_seq` is
/// acknowledged. The plan keeps them in order of `at_seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueStep {
    pub at_seq: u32,
    pub action: ChurnAction,
}

/// `--slow-member K=DELAY`: member K acknowledges each message DELAY after it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlowMember {
    /// K, as in `<ID>-subscriber-K`.
    pub member: u16,
    pub delay: Duration,
}

/// Parses `--churn`: `leave:2@30%,join@60%,drop:1@50`. The error is the one line the
/// command line shows after the flag's name.
pub fn parse_churn(value: &str) -> Result<Vec<ChurnStep>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|step| !step.is_empty())
        .map(parse_step)
        .collect()
}

fn parse_step(step: &str) -> Result<ChurnStep, String> {
    let example = "e.g. --churn leave:2@30%,join@60%,drop:1@50%";
    let Some((action, at)) = step.split_once('@') else {
        return Err(format!(
            "`{step}` says what but not when: add @<percent>% or @<message number>, {example}"
        ));
    };
    let action = match action.split_once(':') {
        None if action == "join" => ChurnAction::Join,
        Some((kind @ ("leave" | "drop"), member)) => {
            let member: u16 = member.parse().ok().filter(|k| *k > 0).ok_or_else(|| {
                format!("`{step}`: `{member}` is not a member number (1 for <ID>-subscriber-1), {example}")
            })?;
            if kind == "leave" {
                ChurnAction::Leave(member)
            } else {
                ChurnAction::Drop(member)
            }
        }
        _ => {
            return Err(format!(
                "`{step}`: the steps are leave:K, drop:K and join, {example}"
            ))
        }
    };
    let at = match at.strip_suffix('%') {
        Some(percent) => match percent.parse::<u8>() {
            Ok(percent) if (1..100).contains(&percent) => At::Percent(percent),
            _ => return Err(format!("`{step}`: a share from 1% to 99%, {example}")),
        },
        None => match at.parse::<u32>() {
            Ok(seq) if seq > 0 => At::Message(seq),
            _ => {
                return Err(format!(
                    "`{step}`: `{at}` is neither 30% nor a message number, {example}"
                ))
            }
        },
    };
    Ok(ChurnStep { action, at })
}

/// Parses `--slow-member K=DELAY`: member K acknowledges each message DELAY after it arrives.
pub fn parse_slow_member(value: &str) -> Result<SlowMember, String> {
    let example = "e.g. --slow-member 2=50ms";
    let Some((member, delay)) = value.split_once('=') else {
        return Err(format!("a member number and a delay, {example}"));
    };
    let member: u16 = member
        .trim()
        .parse()
        .ok()
        .filter(|k| *k > 0)
        .ok_or_else(|| format!("`{member}` is not a member number, {example}"))?;
    let delay = humantime::parse_duration(delay.trim())
        .map_err(|error| format!("`{delay}`: {error}, {example}"))?;
    if delay > Duration::from_secs(60) {
        return Err(format!("at most 60s per message, {example}"));
    }
    Ok(SlowMember { member, delay })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_the_help_says() {
        assert_eq!(
            parse_churn("leave:2@30%, join@60%,drop:1@50").expect("valid"),
            vec![
                ChurnStep {
                    action: ChurnAction::Leave(2),
                    at: At::Percent(30)
                },
                ChurnStep {
                    action: ChurnAction::Join,
                    at: At::Percent(60)
                },
                ChurnStep {
                    action: ChurnAction::Drop(1),
                    at: At::Message(50)
                },
            ]
        );
        assert_eq!(At::Percent(30).message(10), 3);
        assert_eq!(At::Percent(1).message(10), 1);
        assert_eq!(At::Percent(34).message(10), 4);
    }

    #[test]
    fn says_what_is_wrong() {
        for (bad, words) in [
            ("leave:2", "not when"),
            ("leave:x@30%", "not a member number"),
            ("leave:0@30%", "not a member number"),
            ("jump@30%", "the steps are"),
            ("join@100%", "from 1% to 99%"),
            ("join@0", "neither"),
        ] {
            let error = parse_churn(bad).expect_err(bad);
            assert!(error.contains(words), "{bad}: {error}");
        }
        assert_eq!(
            parse_slow_member("2=50ms"),
            Ok(SlowMember {
                member: 2,
                delay: Duration::from_millis(50)
            })
        );
        assert!(parse_slow_member("2").is_err());
        assert!(parse_slow_member("0=1s").is_err());
    }
}
