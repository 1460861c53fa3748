//! How an LLM answer's cell text is read: the rules the answer parser ([`super::parse`]) applies
//! to every cell and the grammar ([`super::grammar`]) must agree with, so that every row the
//! grammar lets an in-process model write is read back as written. One home, so the two cannot
//! drift apart. Not here: number and missing-value parsing of the table itself
//! (`ehrsynth_table::cell`), which both also use.

/// Quote characters trimmed around cells and header names.
pub(crate) const QUOTES: &[char] = &['"', '\'', '`', '“', '”', '‘', '’'];

/// Missing-value spellings beyond the table crate's, compared case-insensitively.
const EXTRA_MISSING: &[&str] = &[
    "-", "--", "—", "–", "?", "n/a", "na", "nan", "null", "none", "unknown", "missing",
];

/// `raw` without surrounding spaces and quote characters.
pub(crate) fn clean_text(raw: &str) -> &str {
    raw.trim_matches(|c: char| c.is_whitespace() || QUOTES.contains(&c))
}

/// Whether `t` is one of the answer-only missing spellings (`n/a`, `unknown`, ...).
pub(crate) fn is_extra_missing(t: &str) -> bool {
    EXTRA_MISSING.iter().any(|m| t.eq_ignore_ascii_case(m))
}

/// Case-insensitive equality, ASCII first and then Unicode lower case (category names).
pub(crate) fn eq_ci(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_cleaned_and_missing_spellings_known() {
        assert_eq!(clean_text("  “Female”  "), "Female");
        assert_eq!(clean_text("`'a b'`"), "a b");
        assert!(is_extra_missing("N/A") && is_extra_missing("—") && is_extra_missing("Unknown"));
        assert!(!is_extra_missing("0") && !is_extra_missing("no"));
        assert!(eq_ci("ÉLECTIF", "électif") && !eq_ci("male", "female"));
    }
}
