//! Reading a policy document as AWS does: `Version`, `Statement`, and in each statement
//! `Effect`, `Action` and `Resource`, with one line naming what AWS would refuse (or what this
//! reader will not guess at). The rules and where AWS states them are in `mod.rs`'s doc.

use std::path::Path;

use serde_json::{Map, Value};

use super::{policy_characters, Effect, Policy, Statement, MAX_POLICY_CHARACTERS, POLICY_VERSION};

impl Policy {
    /// Reads the policy in `path`. The error says what is wrong, without the file's name (the
    /// caller knows which flag named it).
    pub fn read(path: &Path) -> Result<Policy, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read the file ({e})"))?;
        Policy::parse(&text)
    }

    /// Reads a policy document, or says in one line what AWS would refuse in it (or what this
    /// reader cannot evaluate).
    pub fn parse(text: &str) -> Result<Policy, String> {
        let characters = policy_characters(text);
        if characters > MAX_POLICY_CHARACTERS {
            return Err(format!(
                "{characters} characters (whitespace not counted); AWS IoT Core accepts at most \
                 {MAX_POLICY_CHARACTERS} in a policy"
            ));
        }
        let document: Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON document: {e}"))?;
        let Value::Object(document) = document else {
            return Err("a policy is a JSON object with Version and Statement".into());
        };
        for key in document.keys() {
            if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
                return Err(format!(
                    "unknown element \"{key}\" (a policy has Version and Statement)"
                ));
            }
        }
        match document.get("Version") {
            Some(Value::String(version)) if version == POLICY_VERSION => {}
            Some(other) => {
                return Err(format!(
                    "Version is {other}; AWS IoT policies must say \"{POLICY_VERSION}\""
                ))
            }
            None => return Err(format!("no Version; add \"Version\": \"{POLICY_VERSION}\"")),
        }
        let statements = match document.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect::<Vec<_>>(),
            Some(one @ Value::Object(_)) => vec![one],
            Some(_) => return Err("Statement must be a statement or a non-empty list".into()),
            None => return Err("no Statement".into()),
        };
        let statements = statements
            .into_iter()
            .enumerate()
            .map(|(index, statement)| Statement::parse(index + 1, statement))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy { statements })
    }
}

impl Statement {
    pub(super) fn parse(number: usize, value: &Value) -> Result<Statement, String> {
        let Value::Object(fields) = value else {
            return Err(format!("statement {number} is not a JSON object"));
        };
        let sid = match fields.get("Sid") {
            Some(Value::String(sid)) => Some(sid.clone()),
            Some(_) => return Err(format!("statement {number}: Sid must be a string")),
            None => None,
        };
        let name = match &sid {
            Some(sid) => format!("statement {number} (\"{sid}\")"),
            None => format!("statement {number}"),
        };
        for key in fields.keys() {
            match key.as_str() {
                "Sid" | "Effect" | "Action" | "Resource" => {}
                "Condition" | "NotAction" | "NotResource" | "Principal" | "NotPrincipal" => {
                    return Err(format!(
                        "{name} has {key}, which this reader does not evaluate (the demo broker \
                         knows no things, certificate fields or conditions); rehearse without it"
                    ))
                }
                other => return Err(format!("{name}: unknown element \"{other}\"")),
            }
        }
        let effect = match fields.get("Effect") {
            Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
            Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
            Some(other) => {
                return Err(format!(
                    "{name}: Effect is {other}; it must be \"Allow\" or \"Deny\""
                ))
            }
            None => return Err(format!("{name} has no Effect")),
        };
        Ok(Statement {
            actions: strings(fields, "Action", &name)?,
            resources: strings(fields, "Resource", &name)?,
            name,
            effect,
        })
    }
}

/// `Action` or `Resource`: a string, or a non-empty list of strings.
fn strings(fields: &Map<String, Value>, key: &str, name: &str) -> Result<Vec<String>, String> {
    let wrong = || format!("{name}: {key} must be a string or a non-empty list of strings");
    match fields.get(key) {
        Some(Value::String(one)) if !one.is_empty() => Ok(vec![one.clone()]),
        Some(Value::Array(many)) if !many.is_empty() => many
            .iter()
            .map(|value| match value {
                Value::String(one) if !one.is_empty() => Ok(one.clone()),
                _ => Err(wrong()),
            })
            .collect(),
        Some(_) => Err(wrong()),
        None => Err(format!("{name} has no {key}")),
    }
}
