//! Text from outside goes into the page as text, never as markup.
//!
//! A client id, a group or topic name, a broker's reason string and the command line are all
//! chosen by someone else: a topic `a/<script>` must show as those characters, not run. HTML has
//! five characters that can change the meaning of what follows (`&`, `<`, `>`, `"`, `'`); written
//! as their entities they are plain text, in an element and in a quoted attribute alike. So every
//! such value is written through [`Esc`], and nothing else is needed: the page has no script and
//! no URL built from input.

use std::ffi::OsString;
use std::fmt;

/// `text`, escaped for HTML text and quoted attribute values: `{}` of `Esc(topic)`.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// The command line as a person would type it again: the program's name without its path, and
/// each argument quoted for a POSIX shell where it needs it (`'a b'`, `'it'\''s'`). Not escaped
/// for HTML yet: that is the page's job, like every other text.
pub fn command_line(words: impl IntoIterator<Item = OsString>) -> String {
    let mut words = words
        .into_iter()
        .map(|word| word.to_string_lossy().into_owned());
    let program = words.next().unwrap_or_default();
    let program = std::path::Path::new(&program)
        .file_name()
        .map_or(program.clone(), |name| name.to_string_lossy().into_owned());
    std::iter::once(program)
        .chain(words.map(|word| shell_quoted(&word)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quoted(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_owned();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_becomes_text() {
        let topic = r#"a/<script>alert("x")</script>&'b'"#;
        assert_eq!(
            Esc(topic).to_string(),
            "a/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;b&#39;"
        );
        assert_eq!(Esc("plain é ✓").to_string(), "plain é ✓");
    }

    #[test]
    fn the_command_line_reads_as_typed() {
        let words = [
            "/work/target/debug/mqtt5-shared-subscription",
            "--demo",
            "--topic",
            "a b/<c>",
            "--message",
            "it's",
            "--count=10",
        ]
        .map(OsString::from);
        assert_eq!(
            command_line(words),
            r#"mqtt5-shared-subscription --demo --topic 'a b/<c>' --message 'it'\''s' --count=10"#
        );
    }
}
