//! The report: one self-contained HTML file (inline SVG, no network) and a Markdown summary,
//! rendered from [`crate::results::StudyResults`].
