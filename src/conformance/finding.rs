//! What one case found: the row `--conformance` prints, and its verdict.
//!
//! A verdict is one of five, and says which words of the spec it rests on:
//!
//! * **conforms**: the broker did what the spec asks, or the one thing it recommends;
//! * **allowed variant**: the spec leaves the answer open (a MAY, a SHOULD not followed, or
//!   nothing said) and the broker picked one; the verdict names which;
//! * **violates**: the broker broke a MUST; the verdict quotes it, with its clause number;
//! * **not supported**: the broker said it does not do this (a SUBACK or CONNACK code);
//! * **inconclusive**: the case could not make the broker show its answer (a connection failed,
//!   the broker gave the member under test nothing to hold, ...); the verdict says why.
//!
//! Only `violates` fails the run (exit 3): a SHOULD the broker does not follow is worth knowing,
//! and the README's table says which brokers do what, but the spec allows it.

use std::fmt;
use std::time::Duration;

use serde_json::json;

/// A MUST of the spec, as its words and its number: what a `violates` quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Must {
    /// `[MQTT-4.8.2-6]`, or a section (`§4.8.2`) where the spec writes a MUST without a number.
    pub clause: &'static str,
    pub words: &'static str,
}

/// The verdict on one case; see the module doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Conforms,
    AllowedVariant(String),
    Violates(Must),
    NotSupported(String),
    Inconclusive(String),
}

impl Verdict {
    /// The verdict's kind, as `--json` writes it.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Conforms => "conforms",
            Verdict::AllowedVariant(_) => "allowed variant",
            Verdict::Violates(_) => "violates",
            Verdict::NotSupported(_) => "not supported",
            Verdict::Inconclusive(_) => "inconclusive",
        }
    }

    /// The variant's name, the MUST quoted, or the reason; empty for `conforms`.
    pub fn detail(&self) -> String {
        match self {
            Verdict::Conforms => String::new(),
            Verdict::AllowedVariant(name)
            | Verdict::NotSupported(name)
            | Verdict::Inconclusive(name) => name.clone(),
            Verdict::Violates(must) => format!("{} \"{}\"", must.clause, must.words),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Conforms => write!(f, "conforms"),
            other => write!(f, "{}: {}", other.kind(), other.detail()),
        }
    }
}

/// What a case hands back: what the broker did, and the verdict on it.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub observed: String,
    pub verdict: Verdict,
}

/// One case's row.
#[derive(Debug, Clone)]
pub struct Finding {
    /// 1 to 12, in the order of the README's table.
    pub number: u8,
    /// A short name, the same in the text and in `--json`: `distribution`, `no-local`, ...
    pub case: &'static str,
    /// The clauses the case reads: `§4.8.2`, `[MQTT-4.8.2-6]`, ...
    pub clause: &'static str,
    /// What the broker did, in numbers: which member got which message, when.
    pub observed: String,
    pub verdict: Verdict,
    /// How long the case took, setting up and cleaning up included (`--html` shows it).
    pub took: Duration,
}

impl Finding {
    /// The row for a terminal: the case, its clause and verdict, then what was observed.
    pub fn text(&self) -> String {
        format!(
            "{:>2}. {:<26} {}\n    did:     {}\n    verdict: {}\n",
            self.number, self.case, self.clause, self.observed, self.verdict
        )
    }

    /// The row as one JSON object (`--json`: one line per case).
    pub fn json(&self) -> String {
        json!({
            "number": self.number,
            "case": self.case,
            "clause": self.clause,
            "observed": self.observed,
            "verdict": self.verdict.kind(),
            "detail": self.verdict.detail(),
        })
        .to_string()
    }
}

/// Message numbers for an `observed` line, sorted: `#1 #3 #5-#8`, or `none`.
pub fn numbers(seqs: &[u32]) -> String {
    let mut sorted = seqs.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for seq in sorted {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == seq => *end = seq,
            _ => runs.push((seq, seq)),
        }
    }
    if runs.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(12)
        .map(|&(start, end)| match end - start {
            0 => format!("#{start}"),
            1 => format!("#{start} #{end}"),
            _ => format!("#{start}-#{end}"),
        })
        .collect();
    if runs.len() > 12 {
        parts.push("…".into());
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MUST: Must = Must {
        clause: "[MQTT-4.8.2-6]",
        words: "the Server MUST discard the Application Message",
    };

    #[test]
    fn a_violation_quotes_its_must_in_text_and_json() {
        let finding = Finding {
            number: 10,
            case: "negative-puback",
            clause: "[MQTT-4.8.2-6]",
            observed: "m1 answered #1 with PUBACK 0x80; m2 got #1 at 0.12 s".into(),
            verdict: Verdict::Violates(MUST),
            took: Duration::from_millis(120),
        };
        assert!(finding.text().contains(
            "verdict: violates: [MQTT-4.8.2-6] \"the Server MUST discard the Application Message\""
        ));
        let json: serde_json::Value = serde_json::from_str(&finding.json()).expect("JSON");
        assert_eq!(json["verdict"], "violates");
        assert_eq!(json["case"], "negative-puback");
        assert!(json["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("[MQTT-4.8.2-6]")));
    }

    #[test]
    fn numbers_are_sorted_and_runs_joined() {
        assert_eq!(numbers(&[5, 1, 3, 6, 7, 8]), "#1 #3 #5-#8");
        assert_eq!(numbers(&[2, 1]), "#1 #2");
        assert_eq!(numbers(&[]), "none");
    }

    #[test]
    fn conforms_has_no_detail() {
        assert_eq!(Verdict::Conforms.to_string(), "conforms");
        assert_eq!(Verdict::Conforms.detail(), "");
        assert_eq!(
            Verdict::AllowedVariant("round-robin".into()).to_string(),
            "allowed variant: round-robin"
        );
    }
}
