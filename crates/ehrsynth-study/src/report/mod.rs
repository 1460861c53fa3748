//! The report: one self-contained HTML file (inline CSS and SVG, no script, no network) and a
//! Markdown summary, rendered from [`crate::results::StudyResults`], with the paper's published
//! numbers beside ours.
//!
//! - [`paper`]: the paper's numbers, each with its table or figure.
//! - `select`: which cells each table shows (methods, slices, seeds averaged, metrics).
//! - `tables`: the tables as text cells and the metric glossary; `summary`: the plain-words
//!   summary at the top.
//! - `words`: the words for the data at hand (eICU's, or the table's own outcome and sites).
//! - `svg`: the inline charts; `html` and `markdown`: the two renderings.

mod html;
mod markdown;
pub mod paper;
mod select;
mod summary;
mod svg;
mod tables;
mod words;

#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use crate::results::StudyResults;

/// The report as one self-contained HTML page.
pub fn render_html(results: &StudyResults) -> String {
    html::render(results)
}

/// A Markdown summary of the same findings (every table; figures as their numbers).
pub fn render_markdown(results: &StudyResults) -> String {
    markdown::render(results)
}

/// Writes `report.html` and `summary.md` into `out_dir` (created if missing).
pub fn write_report(results: &StudyResults, out_dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(out_dir)?;
    std::fs::write(out_dir.join("report.html"), render_html(results))?;
    std::fs::write(out_dir.join("summary.md"), render_markdown(results))
}
