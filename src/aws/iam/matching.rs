//! Does a statement cover a request? Actions and resources as patterns: `*` and `?` as
//! wildcards, `${iot:ClientId}` and the escapes `${*}`, `${?}`, `${$}` as policy variables, and a
//! resource's ARN read in the partition, region and account it names (see `mod.rs`'s doc for
//! where AWS says each).

use super::{Request, Statement};

impl Statement {
    /// Whether one of its actions and one of its resources cover `request`.
    pub(super) fn applies_to(&self, request: &Request) -> bool {
        let action = request.action.to_ascii_lowercase();
        self.actions.iter().any(|pattern| {
            // Case-insensitive: "The prefix and the action name are case insensitive" (IAM
            // User Guide, "IAM JSON policy elements: Action").
            let pattern: Vec<Piece> = pattern
                .to_ascii_lowercase()
                .chars()
                .map(glob_piece)
                .collect();
            matches(&pattern, &action)
        }) && self
            .resources
            .iter()
            .any(|pattern| resource_matches(pattern, request))
    }
}

/// One position of a pattern: a character that must be there, or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Piece {
    Char(char),
    /// `*`: any run of characters, none included.
    AnyRun,
    /// `?`: any one character.
    AnyOne,
}

pub(super) fn glob_piece(c: char) -> Piece {
    match c {
        '*' => Piece::AnyRun,
        '?' => Piece::AnyOne,
        c => Piece::Char(c),
    }
}

/// Whether the resource `pattern` (an ARN, or `*`) covers `request`'s resource.
fn resource_matches(pattern: &str, request: &Request) -> bool {
    let Some(pieces) = compile(pattern, &request.client_id) else {
        // A variable with no value here: the resource matches nothing.
        return false;
    };
    // The request's ARN, in the partition, region and account the pattern names (see the
    // module's doc): `arn:<partition>:iot:<region>:<account>:<resource>`.
    let segments: Vec<&str> = pattern.splitn(6, ':').collect();
    let segment = |n: usize, otherwise: &'static str| {
        if segments.first() == Some(&"arn") {
            segments.get(n).copied().unwrap_or(otherwise)
        } else {
            otherwise
        }
    };
    let arn = format!(
        "arn:{}:iot:{}:{}:{}",
        segment(1, "aws"),
        segment(3, "REGION"),
        segment(4, "ACCOUNT_ID"),
        request.resource
    );
    matches(&pieces, &arn)
}

/// `pattern` as pieces, its policy variables replaced; `None` when it uses a variable that has
/// no value for this request.
fn compile(pattern: &str, client_id: &str) -> Option<Vec<Piece>> {
    let mut pieces = Vec::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("${") {
            if let Some((name, tail)) = after.split_once('}') {
                match name {
                    "*" | "?" | "$" => pieces.extend(name.chars().map(Piece::Char)),
                    name if name.eq_ignore_ascii_case("iot:ClientId") => {
                        pieces.extend(client_id.chars().map(Piece::Char))
                    }
                    _ => return None,
                }
                rest = tail;
                continue;
            }
        }
        pieces.push(glob_piece(c));
        rest = &rest[c.len_utf8()..];
    }
    Some(pieces)
}

/// Whether `pieces` match all of `text`. The classic wildcard walk: on a mismatch, go back to
/// the last `*` and let it take one more character.
pub(super) fn matches(pieces: &[Piece], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // The last `*` seen, and where in the text it started taking characters.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pieces.get(p) {
            Some(Piece::AnyOne) => {
                p += 1;
                t += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            Some(Piece::AnyRun) => {
                star = Some((p, t));
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pieces[p..].iter().all(|piece| *piece == Piece::AnyRun)
}
