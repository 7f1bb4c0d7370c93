//! The page around the pictures: the document, its style, and the header that answers first
//! what a reader came for: did it work (the verdict in words), what code did it exit with, and
//! what was run (the command line, to run it again).

use std::fmt::Write as _;
use std::time::Duration;

use super::escape::Esc;
use crate::exit::Exit;
use crate::run::{counted, Summary, Verdict};

/// What a mode put on the page, before the ending is known.
pub struct Shown {
    pub title: String,
    /// Label and value pairs under the title (not escaped yet).
    pub facts: Vec<(String, String)>,
    pub judged: Judged,
    /// The sections, as HTML.
    pub body: String,
}

/// The verdict the page states, from what the mode found.
pub enum Judged {
    /// A run or a merge: its verdict, what broke exactly once (all groups together), and the
    /// terminal report's verdict line.
    Run {
        verdict: Verdict,
        missing: usize,
        duplicated: usize,
        line: String,
    },
    /// `--conformance`: how many cases broke a MUST, and the count of each verdict.
    Conformance { violations: usize, line: String },
}

impl Shown {
    /// The header of a run's (or a merge's) page, from its summary.
    pub fn of_summary(title: &str, summary: &Summary, body: String) -> Shown {
        let parts: Vec<&Summary> = match &summary.groups {
            Some(groups) => groups
                .iter()
                .map(|(_, group)| group)
                .chain(summary.control.as_deref())
                .collect(),
            None => vec![summary],
        };
        let groups = parts.iter().filter(|part| !part.group.is_empty());
        let group_names: Vec<&str> = groups.map(|part| part.group.as_str()).collect();
        let took = humantime::format_duration(Duration::from_millis(summary.elapsed_ms));
        let mut facts = vec![
            ("group".to_owned(), group_names.join(", ")),
            ("topic".to_owned(), summary.topic.clone()),
            ("QoS".to_owned(), summary.qos.to_string()),
            ("messages".to_owned(), summary.count.to_string()),
            ("members".to_owned(), summary.members.len().to_string()),
            ("took".to_owned(), took.to_string()),
            ("run id".to_owned(), summary.run_id.clone()),
        ];
        if summary.role.to_string() != "all" {
            facts.push(("written by".to_owned(), summary.role.to_string()));
        }
        Shown {
            title: title.to_owned(),
            facts,
            judged: Judged::Run {
                verdict: summary.verdict,
                missing: parts.iter().map(|part| part.missing.len()).sum(),
                duplicated: parts.iter().map(|part| part.duplicated.len()).sum(),
                line: summary.verdict_line(),
            },
            body,
        }
    }
}

/// The verdict in words: its look (a CSS class), its word for scripts (`data-verdict`), and the
/// sentence.
fn headline(
    judged: Option<&Judged>,
    exit: Exit,
    error: Option<&str>,
) -> (&'static str, String, String) {
    let verdict = match judged {
        Some(Judged::Run { verdict, .. }) => verdict.to_string(),
        Some(Judged::Conformance { violations: 0, .. }) => "conforms".into(),
        Some(Judged::Conformance { .. }) => "violates".into(),
        None => "none".into(),
    };
    let words = match (exit, judged, error) {
        (Exit::Interrupted, _, _) => {
            return ("partial", verdict, "Interrupted (Ctrl-C or SIGTERM): below is what got through until then".into())
        }
        (_, Some(_), Some(error)) => format!("The run failed after it started: {error}. Below is what got through"),
        (_, None, Some(error)) => format!("Failed before any message was sent: {error}"),
        (_, Some(Judged::Run { verdict: Verdict::Ok, .. }), None) => {
            return ("ok", verdict, "✓ Every message reached the group exactly once".into())
        }
        (_, Some(Judged::Run { verdict: Verdict::Partial, .. }), None) => {
            return ("partial", verdict, "◐ This process's part went without fault; the group's verdict is --merge's, from every process's --json output".into())
        }
        (_, Some(Judged::Run { missing, duplicated, .. }), None) => format!(
            "✗ Exactly once is broken: {} missing, {} duplicated",
            counted(*missing, "message", "messages"),
            counted(*duplicated, "message", "messages")
        ),
        (_, Some(Judged::Conformance { violations: 0, .. }), None) => {
            return ("ok", verdict, "✓ No case broke a MUST of MQTT 5".into())
        }
        (_, Some(Judged::Conformance { violations, .. }), None) => format!(
            "✗ {} broke a MUST of MQTT 5",
            counted(*violations, "case", "cases")
        ),
        (_, None, None) => "Nothing to judge".into(),
    };
    ("failed", verdict, words)
}

/// The whole document: the header for `shown` and how it ended, then the sections.
pub fn render(
    shown: Option<&Shown>,
    command_line: &str,
    exit: Exit,
    error: Option<&str>,
) -> String {
    let judged = shown.map(|shown| &shown.judged);
    let (look, verdict, words) = headline(judged, exit, error);
    let title = shown.map_or("mqtt5-shared-subscription", |shown| shown.title.as_str());
    let mut out = String::with_capacity(shown.map_or(0, |s| s.body.len()) + 16 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}: {}</title><style>{STYLE}</style></head>\n<body><main>\n\
         <header class=\"{look}\"><p class=\"kicker\">mqtt5-shared-subscription</p><h1>{}</h1>\
         <p id=\"verdict\" class=\"headline\" data-verdict=\"{}\" data-exit=\"{}\">{}</p>",
        Esc(title),
        Esc(&verdict),
        Esc(title),
        Esc(&verdict),
        exit.code(),
        Esc(&words),
    );
    match judged {
        Some(Judged::Run { line, .. } | Judged::Conformance { line, .. }) => {
            let _ = write!(out, "<p class=\"line\">{}</p>", Esc(line));
        }
        None => {}
    }
    if let Some(shown) = shown {
        out.push_str("<dl class=\"facts\">");
        for (label, value) in &shown.facts {
            let _ = write!(
                out,
                "<div><dt>{}</dt><dd>{}</dd></div>",
                Esc(label),
                Esc(value)
            );
        }
        out.push_str("</dl>");
    }
    let _ = writeln!(
        out,
        "<p class=\"exit\">exit code <b id=\"exit-code\">{}</b> · {}</p>\
         <pre class=\"command\"><span>$ </span>{}</pre></header>",
        exit.code(),
        Esc(exit.meaning()),
        Esc(command_line)
    );
    if let Some(shown) = shown {
        out.push_str(&shown.body);
    }
    let _ = write!(
        out,
        "<footer>mqtt5-shared-subscription {} · one self-contained file: no script, nothing \
         fetched · hover a mark for its numbers</footer>\n</main></body></html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// Opens a section: `<section id=..><h2>title</h2><p class=lede>lede</p>`; close it with
/// `</section>`.
pub fn open_section(out: &mut String, id: &str, title: &str, lede: &str) {
    let _ = write!(
        out,
        "<section id=\"{id}\"><h2>{}</h2><p class=\"lede\">{}</p>",
        Esc(title),
        Esc(lede)
    );
}

/// A paragraph that says what the page leaves out, and why.
pub fn note(out: &mut String, text: &str) {
    let _ = write!(out, "<p class=\"note\">{}</p>", Esc(text));
}

/// The heading of one group's sections (several groups, or the control subscriber).
pub fn group_heading(out: &mut String, group: &str) {
    match group {
        "" => {
            out.push_str("<h2 class=\"group\">The control subscriber (a plain subscription)</h2>")
        }
        group => {
            let _ = write!(out, "<h2 class=\"group\">Group ‘{}’</h2>", Esc(group));
        }
    }
}

/// `text`, cut to `most` characters with an ellipsis (the whole of it goes in a `<title>`).
pub fn shortened(text: &str, most: usize) -> String {
    match text.char_indices().nth(most) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The page's style: system fonts, one column up to 1200 px, and the colours the pictures share
/// (the delay bands `b0`…`b5`, duplicates, outages, holds).
const STYLE: &str = "\
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--part:#9a6700}
*{box-sizing:border-box}body{margin:0;background:#fff;color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px 28px 40px}
header{border-radius:10px;padding:18px 22px;margin-bottom:22px;border:1px solid var(--line);border-left:8px solid var(--muted);background:var(--bg)}
header.ok{border-left-color:var(--ok);background:#eefbf1}header.failed{border-left-color:var(--bad);background:#fff1f0}header.partial{border-left-color:var(--part);background:#fff8e5}
.kicker{margin:0;color:var(--muted);font-size:13px;letter-spacing:.04em;text-transform:uppercase}
h1{margin:2px 0 6px;font-size:24px}.headline{margin:0;font-size:21px;font-weight:650}
header.ok .headline{color:var(--ok)}header.failed .headline{color:var(--bad)}header.partial .headline{color:var(--part)}
.line{margin:6px 0 10px;color:var(--muted);font-size:14px}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:8px 0}.facts div{display:flex;gap:6px}.facts dt{color:var(--muted)}.facts dd{margin:0;font-weight:600;word-break:break-all}
.exit{margin:6px 0;color:var(--muted);font-size:13px}.exit b{color:var(--ink);font-size:15px}.command{margin:8px 0 0;padding:8px 12px;background:#24292f;color:#f0f3f6;border-radius:6px;white-space:pre-wrap;word-break:break-all;font-size:13px}.command span{color:#8c959f}
section{margin:26px 0}h2{font-size:19px;margin:0 0 4px}h2.group{margin-top:34px;padding-top:12px;border-top:2px solid var(--line)}
.lede{margin:0 0 10px;color:var(--muted);font-size:14px}.note{color:var(--muted);font-style:italic}
svg{display:block;width:100%;height:auto;font:11px system-ui,sans-serif}svg text{fill:var(--ink)}svg .muted{fill:var(--muted)}
.lane{fill:#f3f4f6}.slowlane{fill:#ece4fb}.grid{stroke:#d8dee4;stroke-width:1}
.b0{fill:#3b4cc0;background:#3b4cc0}.b1{fill:#6f92f3;background:#6f92f3}.b2{fill:#2ca25f;background:#2ca25f}.b3{fill:#e0a800;background:#e0a800}.b4{fill:#e6550d;background:#e6550d}.b5{fill:#b30000;background:#b30000}.nb{fill:#9e9e9e;background:#9e9e9e}
.pub{fill:#57606a;background:#57606a}.again{fill:#fb8500;background:#fb8500}.unrouted{fill:#cf222e;background:#cf222e}.dup{fill:#c51b8a;background:#c51b8a}.redel{fill:#6a00a8;background:#6a00a8}
.outage{fill:#cf222e;fill-opacity:.16;stroke:#cf222e;stroke-dasharray:3 2;background:#f5c6c9}.hold{fill:#ffb000;fill-opacity:.22;background:#ffe7a8}.slowlane{background:#ece4fb}
.tag{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.churn{stroke:#1f2328;stroke-width:1.5;stroke-dasharray:4 3}.hit{fill:transparent}.hit:hover{fill:#0000000f}
.key{display:flex;flex-wrap:wrap;gap:4px 16px;margin:8px 0;font-size:13px;color:var(--muted)}.key i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{color:var(--muted);font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}td.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;word-break:break-all}.split td.id,.latency td.id,.cases td.id{white-space:nowrap;word-break:normal}
.bar{height:12px;background:#e6e9ed;border-radius:3px;min-width:120px}.bar i{display:block;height:12px;border-radius:3px}
.list{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:13px;word-break:break-word}
.v-conforms{color:var(--ok);font-weight:600}.v-violates{color:var(--bad);font-weight:700}.v-allowed{color:#0969da;font-weight:600}.v-other{color:var(--part);font-weight:600}
footer{margin-top:36px;color:var(--muted);font-size:12px}
";
