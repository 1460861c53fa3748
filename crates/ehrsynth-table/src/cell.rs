//! Parsing single text cells into typed values, shared by the CSV reader, schema inference and
//! row validation (generators validate LLM output with the same rules).

use crate::schema::ColumnKind;

/// Texts read as a missing value (after trimming spaces).
pub const MISSING_TOKENS: &[&str] = &["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"];

/// True when `text` stands for a missing value.
pub fn is_missing_token(text: &str) -> bool {
    let text = text.trim();
    // Fast path: every token but "" starts with N or n; numbers never do.
    match text.as_bytes().first() {
        None => true,
        Some(b'N' | b'n') => MISSING_TOKENS.contains(&text),
        Some(_) => false,
    }
}

/// A finite real number, or `None`.
pub fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A whole number. `strict` refuses texts with a decimal point ("3.0"), which schema inference
/// uses to keep whole-valued continuous columns continuous.
pub fn parse_integer(text: &str, strict: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Some(i);
    }
    if strict {
        return None;
    }
    parse_number(text)
        .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
        .map(|x| x as i64)
}

/// A 0/1 flag: "0", "1", "0.0", "1.0", "true", "false" (any case).
pub fn parse_binary(text: &str) -> Option<bool> {
    match text.trim() {
        "1" | "1.0" => Some(true),
        "0" | "0.0" => Some(false),
        t if t.eq_ignore_ascii_case("true") => Some(true),
        t if t.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// What a column of `kind` accepts, for error messages.
pub fn expected_text(kind: ColumnKind) -> &'static str {
    match kind {
        ColumnKind::Continuous => "a number (or an empty cell for missing)",
        ColumnKind::Integer => "a whole number (or an empty cell for missing)",
        ColumnKind::Binary => "0 or 1 (or an empty cell for missing)",
        ColumnKind::Categorical => "a category",
    }
}

/// Writes a continuous value so that reading it back infers a continuous column ("87.0", not "87").
pub fn format_continuous(x: f64) -> String {
    let mut out = String::new();
    push_continuous(&mut out, x);
    out
}

/// Appends a continuous value as [`format_continuous`] writes it, without allocating.
pub fn push_continuous(out: &mut String, x: f64) {
    use std::fmt::Write as _;
    let _ = if x.fract() == 0.0 && x.abs() < 1e15 {
        write!(out, "{x:.1}")
    } else {
        write!(out, "{x}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_by_kind() {
        assert!(is_missing_token(" NA "));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_integer("3.0", true), None);
        assert_eq!(parse_integer("3.0", false), Some(3));
        assert_eq!(parse_integer("3.5", false), None);
        assert_eq!(parse_binary("TRUE"), Some(true));
        assert_eq!(parse_binary("2"), None);
        assert_eq!(format_continuous(87.0), "87.0");
        assert_eq!(format_continuous(0.1), "0.1");
    }
}
