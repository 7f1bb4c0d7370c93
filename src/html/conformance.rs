//! `--conformance`'s page: what the broker announced, and one row per case (the case, the
//! clauses it reads, what the broker did, the verdict), with how long each case took as a bar:
//! the cases that wait out a session expiry or a slow member stand out.

use std::fmt::Write as _;

use super::document::open_section;
use super::escape::Esc;
use super::overlays::clock;
use crate::conformance::Findings;

/// The section: the CONNACK line, then the table.
pub fn section(out: &mut String, findings: &Findings) {
    open_section(
        out,
        "cases",
        "The cases",
        "Each case asks the broker one question of MQTT 5's shared-subscription clauses (§4.8.2 \
         and its neighbours), in a group and on a topic of its own. Only a broken MUST fails the run.",
    );
    let _ = write!(
        out,
        "<p><b>CONNACK:</b> {}</p><table class=\"cases\"><thead><tr><th class=\"n\">#</th>\
         <th>case</th><th>clause</th><th>observed</th><th>verdict</th><th class=\"n\">took</th>\
         </tr></thead><tbody>",
        Esc(&findings.connack)
    );
    let longest = findings
        .rows
        .iter()
        .map(|row| row.took.as_secs_f64())
        .fold(0.001, f64::max);
    for row in &findings.rows {
        let kind = row.verdict.kind();
        let look = match kind {
            "conforms" => "v-conforms",
            "violates" => "v-violates",
            "allowed variant" => "v-allowed",
            _ => "v-other",
        };
        let detail = row.verdict.detail();
        let took = row.took.as_secs_f64();
        let _ = write!(
            out,
            "<tr data-case=\"{}\" data-verdict=\"{kind}\"><td class=\"n\">{}</td><td class=\"id\">{}</td>\
             <td>{}</td><td>{}</td><td><span class=\"{look}\">{kind}</span>{}{}</td>\
             <td class=\"n\">{}<div class=\"bar\"><i style=\"width:{:.1}%;background:#8c959f\"></i></div></td></tr>",
            Esc(row.case),
            row.number,
            Esc(row.case),
            Esc(row.clause),
            Esc(&row.observed),
            if detail.is_empty() { "" } else { ": " },
            Esc(&detail),
            clock(took * 1000.0),
            100.0 * took / longest
        );
    }
    let _ = write!(
        out,
        "</tbody></table><p class=\"line\">{}</p></section>",
        Esc(&findings.tally())
    );
}
