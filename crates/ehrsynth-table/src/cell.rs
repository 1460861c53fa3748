//! Parsing single text cells into typed values, shared by the CSV reader, schema inference and
//! row validation (generators validate LLM output with the same rules).
//!
//! Missing values have one home, here. The rule:
//! - [`MISSING_TOKENS`] ("", `NA`, `NULL`, ...) are missing in every column, compared exactly.
//! - [`NUMERIC_MISSING_TOKENS`] (`?`, `.`, `-`, `na`, `n/a`, `missing`, ...) are missing only in
//!   numeric columns, compared ignoring ASCII case. Beside numbers they can only mean "no value",
//!   but in a categorical column they may be real categories ("-" for a negative test, "unknown"
//!   for an ethnicity), so there they are kept as written. Only the whole cell counts: "-3" and
//!   ".5" are numbers.
//! - A caller's extra tokens ([`MissingTokens::with_extra`]) are missing in every column.
//!
//! [`is_missing_in`] applies the built-in rule; [`MissingTokens`] adds the extra tokens.

use crate::schema::ColumnKind;

/// Texts read as a missing value in every column (after trimming spaces), compared exactly.
pub const MISSING_TOKENS: &[&str] = &["", "NA", "N/A", "NaN", "nan", "NULL", "null", "None"];

/// Texts read as a missing value in numeric columns only (after trimming spaces), compared
/// ignoring ASCII case. See the module documentation for why not in categorical columns.
pub const NUMERIC_MISSING_TOKENS: &[&str] = &[
    "?", ".", "-", "--", "—", "–", "na", "n/a", "#n/a", "nan", "null", "none", "nil", "missing",
    "unknown",
];

/// Longest text in [`NUMERIC_MISSING_TOKENS`], in bytes, so longer cells skip the comparisons.
const NUMERIC_MISSING_MAX_LEN: usize = 7;

/// True when `text` stands for a missing value in any column ([`MISSING_TOKENS`]).
pub fn is_missing_token(text: &str) -> bool {
    let text = text.trim();
    // Fast path: every token but "" starts with N or n; numbers never do.
    match text.as_bytes().first() {
        None => true,
        Some(b'N' | b'n') => MISSING_TOKENS.contains(&text),
        Some(_) => false,
    }
}

/// True when `text` stands for a missing value in a numeric column: [`MISSING_TOKENS`] or
/// [`NUMERIC_MISSING_TOKENS`].
pub fn is_numeric_missing_token(text: &str) -> bool {
    let text = text.trim();
    is_missing_token(text)
        || (text.len() <= NUMERIC_MISSING_MAX_LEN
            && NUMERIC_MISSING_TOKENS
                .iter()
                .any(|m| text.eq_ignore_ascii_case(m)))
}

/// True when `text` stands for a missing value in a column of `kind` (the built-in rule).
pub fn is_missing_in(kind: ColumnKind, text: &str) -> bool {
    if kind.is_numeric() {
        is_numeric_missing_token(text)
    } else {
        is_missing_token(text)
    }
}

/// The missing-value rule of one read: the built-in tokens plus a caller's extra ones (say `-99`
/// or `unknown` for a file that uses them), which are missing in every column and compared
/// ignoring ASCII case. The default has no extra tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MissingTokens {
    extra: Vec<String>,
}

impl MissingTokens {
    /// The built-in rule plus `extra` tokens (trimmed; empty ones are dropped).
    pub fn with_extra<S: AsRef<str>>(extra: impl IntoIterator<Item = S>) -> Self {
        let extra = extra
            .into_iter()
            .map(|s| s.as_ref().trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Self { extra }
    }

    /// The extra tokens.
    pub fn extra(&self) -> &[String] {
        &self.extra
    }

    /// True when `text` is missing in every column: a [`MISSING_TOKENS`] entry or an extra token.
    pub fn is_missing(&self, text: &str) -> bool {
        is_missing_token(text) || self.is_extra(text)
    }

    /// True when `text` is missing in a column of `kind`.
    pub fn is_missing_in(&self, kind: ColumnKind, text: &str) -> bool {
        is_missing_in(kind, text) || self.is_extra(text)
    }

    fn is_extra(&self, text: &str) -> bool {
        let text = text.trim();
        self.extra.iter().any(|m| text.eq_ignore_ascii_case(m))
    }
}

/// A finite real number, or `None`.
pub fn parse_number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A whole number. `strict` refuses texts that are not written as a whole number: it accepts
/// "3", "-3" and "3.0" / "3.00" (a decimal point followed by zeros only, as spreadsheets and
/// pandas write integer columns) but not "3.5" or "3e0". Schema inference uses it, so a column
/// of "1.0", "2.0" is an integer column.
pub fn parse_integer(text: &str, strict: bool) -> Option<i64> {
    let text = text.trim();
    if let Ok(i) = text.parse::<i64>() {
        return Some(i);
    }
    if strict {
        return parse_whole_decimal(text);
    }
    parse_number(text)
        .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
        .map(|x| x as i64)
}

/// "12.0", "-3.00", "7." as a whole number; `None` for anything else.
fn parse_whole_decimal(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.')?;
    let digits = int.strip_prefix(['-', '+']).unwrap_or(int);
    if digits.is_empty() || !frac.bytes().all(|b| b == b'0') {
        return None;
    }
    int.parse::<i64>().ok()
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

/// Whether two cell texts hold the same value: equal as text or as numbers ("1" and "1.0").
/// A condition's value (`is_female=1`) is matched against generated cells with this.
pub fn same_value(a: &str, b: &str) -> bool {
    a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
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

/// Writes a continuous value with a decimal point ("87.0", not "87"). Read back without a schema,
/// a column whose values are all whole still infers as integer; read it with its schema to keep
/// it continuous.
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

/// A count with thousands separators, as reports write it: 12,345.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parse_by_kind() {
        assert!(is_missing_token(" NA "));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number("inf"), None);
        assert_eq!(parse_integer("3.0", true), Some(3));
        assert_eq!(parse_integer("-12.00", true), Some(-12));
        assert_eq!(parse_integer("3.5", true), None);
        assert_eq!(parse_integer("1e3", true), None);
        assert_eq!(parse_integer(".0", true), None);
        assert_eq!(parse_integer("3.0", false), Some(3));
        assert_eq!(parse_integer("3.5", false), None);
        assert_eq!(parse_binary("TRUE"), Some(true));
        assert_eq!(parse_binary("2"), None);
        assert_eq!(format_continuous(87.0), "87.0");
        assert_eq!(format_continuous(0.1), "0.1");
    }

    #[test]
    fn numeric_missing_tokens_are_missing_only_in_numeric_columns() {
        for t in ["?", ".", "-", " na ", "n/a", "Missing", "UNKNOWN", "—"] {
            assert!(is_missing_in(ColumnKind::Continuous, t), "{t:?}");
            assert!(is_missing_in(ColumnKind::Integer, t), "{t:?}");
            assert!(!is_missing_in(ColumnKind::Categorical, t), "{t:?}");
        }
        for t in ["-3", ".5", "-.5", "0", "?1", "none of them"] {
            assert!(!is_missing_in(ColumnKind::Continuous, t), "{t:?}");
        }
        assert!(is_missing_in(ColumnKind::Categorical, "NA"));
        let rule = MissingTokens::with_extra(["-99", " ", "Not Recorded"]);
        assert_eq!(rule.extra(), ["-99", "Not Recorded"]);
        assert!(rule.is_missing(" -99 ") && rule.is_missing("not recorded"));
        assert!(rule.is_missing_in(ColumnKind::Categorical, "NOT RECORDED"));
        assert!(!rule.is_missing("-9") && !rule.is_missing("?"));
    }
}
