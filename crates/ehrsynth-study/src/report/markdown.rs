//! The Markdown summary: the plain-words summary and every table of the HTML report as pipe
//! tables (figures become their numbers; the distributions point to report.html).

use std::fmt::Write as _;

use super::tables::{self, ReportTable};
use crate::results::StudyResults;

/// Escapes text for Markdown: `&`, `<` and `>` (renderers pass raw HTML through), the pipe (it
/// would split a table cell) and newlines. Quotes stay readable as they are.
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace('\n', " ")
}

fn table_md(t: &ReportTable) -> String {
    let mut m = format!("## {}\n\n", cell(&t.title));
    for g in &t.gloss {
        let _ = writeln!(m, "{}  ", cell(g));
    }
    if let Some(note) = &t.note {
        let _ = writeln!(m, "\n> **Note:** {}", cell(note));
    }
    if !t.headers.is_empty() && !t.rows.is_empty() {
        let heads: Vec<String> = t.headers.iter().map(|h| cell(h)).collect();
        let _ = write!(
            m,
            "\n| {} |\n|{}|\n",
            heads.join(" | "),
            vec!["---"; heads.len()].join("|")
        );
        for row in &t.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            let _ = writeln!(m, "| {} |", cells.join(" | "));
        }
    }
    m.push('\n');
    m
}

/// The Markdown summary of a study.
pub fn render(results: &StudyResults) -> String {
    let words = super::words::Words::of(results);
    let mut m = format!(
        "# {}\n\n{} Data: {}. Outcome: {}. Written by ehrsynth {}. The full report with figures is report.html.\n\n## Summary\n\n",
        cell(&results.title),
        cell(words.lede()),
        cell(&results.data_description),
        cell(&words.outcome()),
        cell(&results.ehrsynth_version)
    );
    for sentence in super::summary::summary(results) {
        let _ = writeln!(m, "- {}", cell(&sentence));
    }
    m.push('\n');
    for t in tables::all_tables(results) {
        m.push_str(&table_md(&t));
    }
    m.push_str("Figure 4 (real vs synthetic distribution of every feature), the attack ROC curves and the cross-hospital heatmap are drawn in report.html.\n");
    m
}
