//! Turning an LLM's answer (synthetic rows of a table, as CSV or JSON) into validated rows.
//!
//! The model is given the schema's column names in order and asked for CSV with a header, or for
//! JSON rows. What comes back is messy; [`parse_answer`] extracts candidate rows, cleans their
//! cells, validates each row with [`Schema::validate_cells`] and says, for every rejected row, why.
//! It never panics, whatever the input.
//!
//! # CSV answers
//! - Markdown code fences (```` ``` ````, ```` ```csv ````, `~~~`) and blank lines are skipped.
//!   Markdown tables are read too: outer pipes are removed, `|---|` rules skipped, `|` separates.
//! - The header is the first line whose fields (trimmed, quotes removed, case-insensitive) are all
//!   distinct schema column names (at least two, unless the schema has one column). Its separator
//!   (`,`, `;`, tab or `|`, tried in that order) is the answer's separator. Fields are mapped to columns
//!   by name, so a reordered header or a subset of the columns works; columns absent from the
//!   header are missing (`""`). A later line that is again a header is skipped silently (and, if
//!   it lists other columns, the rows after it are mapped by it).
//! - Without a header the schema's order is assumed, for lines with exactly the schema's number
//!   of fields; the separator is the one that gives that number of fields on the most lines.
//! - Fields are split with CSV quoting (`"a, b"`, `""` for a quote); one record per line. A
//!   trailing empty field (`45,1,white,,0,`) is dropped.
//! - A line is prose when it ends with `:`, has no separator and starts with a letter (or has no
//!   digit), has four or more words and no digit, or has a field of three or more words (that is
//!   not a schema category). Prose before
//!   the first or after the last data line (preambles, notes) is dropped silently; prose between
//!   data lines is rejected as "not a data row". A line with the right number of fields counts as
//!   prose only when it also fails validation. An answer with no data line at all but some prose
//!   (a refusal, say) gives one rejection saying so.
//! - A line with the wrong number of fields is rejected ("expected 5 fields, found 4"), except
//!   the last non-blank line of the answer when it has fewer fields than expected or ends inside
//!   a quoted field: that line was cut off, so [`ParsedAnswer::truncated`] is set and it is
//!   rejected as "truncated (the answer was cut off)". A line followed by anything (a closing
//!   fence, a note) is not considered cut off.
//!
//! # JSON answers
//! - Code fences are removed and parsing starts at the first `[` or `{` (prose before it is
//!   ignored, as is prose after the JSON). Accepted: an array of objects, an object wrapping the
//!   array (`{"rows": [...]}`, `{"data": [...]}`, or any single array-valued key), one object per
//!   line (JSON Lines), and arrays of values in schema column order.
//! - Keys are matched to columns by name (exact, then case-insensitive); unknown keys are ignored,
//!   absent columns are missing (`""`). Numbers and strings become cell text, `null` is missing,
//!   booleans are `"1"`/`"0"` in binary columns. An object with none of the schema's columns is
//!   rejected.
//! - When the JSON does not parse as a whole (cut off, or a broken object among good ones) the
//!   complete innermost objects are recovered one by one; an object that is not valid JSON is
//!   rejected, and an object left open at the end of the answer sets `truncated` and is rejected.
//! - An answer with no JSON in it gives one rejection, "the answer is not JSON rows".
//!
//! # Cell cleaning (both formats)
//! - Spaces and quote characters around a cell are trimmed.
//! - Missing tokens ([`cell::is_missing_token`], plus `-`, `—`, `n/a`, `unknown` and a few more,
//!   any case) become `""`, except where they are a category of the column.
//! - Numeric columns: a unit or text after a number is dropped (`98 bpm`, `37.2°C`, `1.2 mg/dL`,
//!   `45 years`, `12%`); thousands separators are removed only in quoted cells (`"1,200"`) or JSON
//!   strings. Binary columns also take `true`/`false`/`yes`/`no` (any case) as `1`/`0`. Anything
//!   else is left for validation to reject.
//! - Categorical columns: an exact category match is kept, else a case-insensitive match is
//!   replaced by the schema's spelling.
//!
//! [`cell::is_missing_token`]: ehrsynth_table::cell::is_missing_token

use ehrsynth_table::cell::{is_missing_token, parse_number};

use super::cell_text::{QUOTES, clean_text, eq_ci, is_extra_missing};
use ehrsynth_table::{CellRejection, ColumnKind, ColumnSpec, Schema};
use serde_json::{Map, Value};

/// The format the model was asked to answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerFormat {
    /// CSV with a header line (comma-, semicolon- or tab-separated).
    Csv,
    /// JSON objects keyed by column name: an array, a wrapped array or JSON Lines.
    JsonRows,
}

/// A part of the answer that did not become a row, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line in the answer for CSV answers; 0 for JSON answers.
    pub line: usize,
    /// The offending line or object, shortened to about 200 characters.
    pub text: String,
    /// Why it was rejected (for failed rows, the schema's reasons joined by "; ").
    pub reason: String,
}

/// What an answer turned into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedAnswer {
    /// Rows that pass the schema, cells in schema column order; `""` is missing.
    pub rows: Vec<Vec<String>>,
    /// Everything rejected, in answer order.
    pub rejected: Vec<Rejection>,
    /// True when the answer was cut off (it hit the token limit) inside the last row.
    pub truncated: bool,
}

/// Parses an LLM answer in `format` into rows that pass `schema`, and rejections for the rest.
pub fn parse_answer(answer: &str, schema: &Schema, format: AnswerFormat) -> ParsedAnswer {
    let answer = answer.strip_prefix('\u{feff}').unwrap_or(answer);
    match format {
        AnswerFormat::Csv => parse_csv(answer, schema),
        AnswerFormat::JsonRows => parse_json(answer, schema),
    }
}

/// Reason given to a row that was cut off at the end of the answer.
const TRUNCATED: &str = "truncated (the answer was cut off)";
/// Reason given to prose between data rows.
const NOT_A_DATA_ROW: &str = "not a data row";
/// Reason given to a JSON-format answer without JSON.
const NOT_JSON: &str = "the answer is not JSON rows";
/// Longest text kept in a rejection, in characters.
const MAX_TEXT_CHARS: usize = 200;
/// Separators tried, in order of preference.
const DELIMITERS: [char; 4] = [',', ';', '\t', '|'];
/// Phrases that make a row-less prose answer look like a refusal.
const REFUSAL_WORDS: &[&str] = &[
    "sorry", "can't", "can’t", "cannot", "unable", "won't", "not able", "as an ai", "apologi",
];

fn rejection(line: usize, text: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        line,
        text: shorten(text),
        reason: reason.into(),
    }
}

/// `text` trimmed and cut to [`MAX_TEXT_CHARS`] characters (with an ellipsis when cut).
fn shorten(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(MAX_TEXT_CHARS) {
        None => t.to_string(),
        Some((i, _)) => format!("{}…", &t[..i]),
    }
}

fn join_reasons(failed: &[CellRejection]) -> String {
    failed
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Validates cleaned cells and files them as a row or as a rejection.
fn accept(out: &mut ParsedAnswer, schema: &Schema, cells: Vec<String>, line: usize, text: &str) {
    match schema.validate_cells(&cells) {
        Ok(()) => out.rows.push(cells),
        Err(failed) => out
            .rejected
            .push(rejection(line, text, join_reasons(&failed))),
    }
}

// ---------------------------------------------------------------------------------------------
// Cells

/// The schema's spelling of category `t`: exact match first, then case-insensitive.
fn match_category<'a>(spec: &'a ColumnSpec, t: &str) -> Option<&'a String> {
    spec.categories
        .iter()
        .find(|c| c.as_str() == t)
        .or_else(|| spec.categories.iter().find(|c| eq_ci(c, t)))
}

/// Cleans one cell for column `spec`; `quoted` allows thousands separators in numbers.
fn clean_cell(spec: &ColumnSpec, raw: &str, quoted: bool) -> String {
    let t = clean_text(raw);
    if is_missing_token(t) {
        return String::new();
    }
    if spec.kind == ColumnKind::Categorical {
        if let Some(category) = match_category(spec, t) {
            return category.clone();
        }
        return if is_extra_missing(t) {
            String::new()
        } else {
            t.to_string()
        };
    }
    if is_extra_missing(t) {
        return String::new();
    }
    if spec.kind == ColumnKind::Binary {
        if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("yes") {
            return "1".to_string();
        }
        if t.eq_ignore_ascii_case("false") || t.eq_ignore_ascii_case("no") {
            return "0".to_string();
        }
    }
    clean_number(t, quoted).unwrap_or_else(|| t.to_string())
}

/// The number in `t` when `t` is a number, possibly followed by a unit or other text.
fn clean_number(t: &str, allow_commas: bool) -> Option<String> {
    if parse_number(t).is_some() {
        return Some(t.to_string());
    }
    let (number, rest) = number_prefix(t, allow_commas)?;
    let rest = rest.trim_start();
    let unit_like = rest
        .chars()
        .next()
        .is_none_or(|c| c.is_alphabetic() || "%°‰(µ".contains(c));
    (unit_like && parse_number(&number).is_some()).then_some(number)
}

/// Splits `t` into a leading number (sign, digits, `,ddd` groups when allowed, fraction,
/// exponent; group commas removed) and the rest. `None` when `t` does not start with a number.
fn number_prefix(t: &str, allow_commas: bool) -> Option<(String, &str)> {
    let b = t.as_bytes();
    let len = b.len();
    let digits_from = |mut k: usize| {
        while k < len && b[k].is_ascii_digit() {
            k += 1;
        }
        k
    };
    let mut out = String::new();
    let mut i = 0;
    if i < len && (b[i] == b'+' || b[i] == b'-') {
        out.push(b[i] as char);
        i += 1;
    }
    let int_end = digits_from(i);
    let int_digits = int_end - i;
    out.push_str(&t[i..int_end]);
    i = int_end;
    if allow_commas && (1..=3).contains(&int_digits) {
        while i + 4 <= len
            && b[i] == b','
            && b[i + 1..i + 4].iter().all(u8::is_ascii_digit)
            && (i + 4 == len || !b[i + 4].is_ascii_digit())
        {
            out.push_str(&t[i + 1..i + 4]);
            i += 4;
        }
    }
    let mut frac_digits = 0;
    if i < len && b[i] == b'.' {
        let end = digits_from(i + 1);
        frac_digits = end - (i + 1);
        if int_digits > 0 || frac_digits > 0 {
            out.push_str(&t[i..end]);
            i = end;
        }
    }
    if int_digits == 0 && frac_digits == 0 {
        return None;
    }
    if i < len && (b[i] == b'e' || b[i] == b'E') {
        let mut k = i + 1;
        if k < len && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        let end = digits_from(k);
        if end > k {
            out.push_str(&t[i..end]);
            i = end;
        }
    }
    Some((out, &t[i..]))
}

// ---------------------------------------------------------------------------------------------
// CSV

/// One field of a CSV line.
struct Field {
    text: String,
    quoted: bool,
}

/// A CSV line split into fields; `open_quote` when it ends inside a quoted field.
struct Split {
    fields: Vec<Field>,
    open_quote: bool,
}

/// Splits `line` on `delim` outside double quotes; `""` inside quotes is a quote. A quote opens
/// a quoted field only at the start of a field (after spaces).
fn split_fields(line: &str, delim: char) -> Split {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut in_quotes = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && !quoted && cur.trim().is_empty() {
            cur.clear();
            in_quotes = true;
            quoted = true;
        } else if c == delim {
            fields.push(Field {
                text: std::mem::take(&mut cur),
                quoted,
            });
            quoted = false;
        } else {
            cur.push(c);
        }
    }
    fields.push(Field { text: cur, quoted });
    Split {
        fields,
        open_quote: in_quotes,
    }
}

fn is_fence(trimmed: &str) -> bool {
    trimmed.starts_with("```") || trimmed.starts_with("~~~")
}

/// A Markdown table rule such as `|---|:---:|`.
fn is_table_rule(trimmed: &str) -> bool {
    trimmed.contains('-')
        && trimmed
            .chars()
            .all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
}

/// A Markdown table line without its outer pipes (`| 45 | 1 |` becomes ` 45 | 1 `).
fn strip_table_pipes(line: &str) -> &str {
    let t = line.trim();
    match t.strip_prefix('|').and_then(|t| t.strip_suffix('|')) {
        Some(inner) if !inner.is_empty() => inner,
        _ => line,
    }
}

/// The schema index of column `name`: exact match first, then case-insensitive.
fn column_index(schema: &Schema, name: &str) -> Option<usize> {
    let columns = schema.columns();
    columns
        .iter()
        .position(|c| c.name == name)
        .or_else(|| columns.iter().position(|c| eq_ci(&c.name, name)))
}

/// The column of each field when the fields are distinct schema column names (a header).
fn header_map(fields: &[Field], schema: &Schema) -> Option<Vec<usize>> {
    if fields.len() < schema.columns().len().min(2) {
        return None;
    }
    let mut map = Vec::with_capacity(fields.len());
    for field in fields {
        let column = column_index(schema, clean_text(&field.text))?;
        if map.contains(&column) {
            return None;
        }
        map.push(column);
    }
    Some(map)
}

/// The separator giving exactly `n` fields on the most lines (ties go to the earlier one).
fn pick_delimiter(lines: &[(usize, &str)], n: usize) -> char {
    let mut best = (DELIMITERS[0], 0);
    for d in DELIMITERS {
        let count = lines
            .iter()
            .filter(|(_, l)| split_fields(l, d).fields.len() == n)
            .count();
        if count > best.1 {
            best = (d, count);
        }
    }
    best.0
}

/// A word for the prose test: at least two characters, letters (and apostrophes) only once
/// surrounding punctuation is removed.
fn is_word(token: &str) -> bool {
    let w = token.trim_matches(|c: char| c.is_ascii_punctuation() || QUOTES.contains(&c));
    w.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '’')
}

/// True when `t` is a category of some column or a column name (never prose).
fn is_schema_text(schema: &Schema, t: &str) -> bool {
    column_index(schema, t).is_some()
        || schema
            .columns()
            .iter()
            .any(|c| c.categories.iter().any(|cat| eq_ci(cat, t)))
}

/// Whether a CSV line reads as prose rather than data (see the module docs).
fn looks_like_prose(line: &str, fields: &[Field], expected: usize, schema: &Schema) -> bool {
    let t = line.trim();
    if t.ends_with(':') {
        return true;
    }
    if expected > 1 && fields.len() == 1 {
        let starts_with_letter = t.chars().next().is_some_and(char::is_alphabetic);
        let has_digit = t.chars().any(|c| c.is_ascii_digit());
        if starts_with_letter || (!has_digit && !t.starts_with('"')) {
            return true;
        }
    }
    // Several words and no number anywhere: a sentence split at its commas.
    let words = fields
        .iter()
        .flat_map(|f| f.text.split_whitespace())
        .filter(|w| is_word(w) && !is_schema_text(schema, clean_text(w)))
        .count();
    if words >= 4 && !t.chars().any(|c| c.is_ascii_digit()) {
        return true;
    }
    fields.iter().any(|f| {
        let text = clean_text(&f.text);
        let tokens = text.split_whitespace().count();
        tokens >= 3
            && text.split_whitespace().filter(|w| is_word(w)).count() >= 2
            && !is_schema_text(schema, text)
    })
}

/// What one CSV line turned out to be.
enum LineKind {
    /// A row that passed validation.
    Row(Vec<String>),
    /// A row that failed validation, with the schema's reasons.
    Invalid(String),
    /// Prose.
    Prose,
    /// The wrong number of fields: (expected, found).
    WrongCount(usize, usize),
    /// The last line, cut off.
    Cut,
}

fn parse_csv(answer: &str, schema: &Schema) -> ParsedAnswer {
    let mut out = ParsedAnswer::default();
    let n = schema.columns().len();
    let last_nonblank = answer
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, _)| i + 1)
        .last();
    let lines: Vec<(usize, &str)> = answer
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim();
            !t.is_empty() && !is_fence(t) && !is_table_rule(t)
        })
        .map(|(i, l)| (i + 1, strip_table_pipes(l)))
        .collect();
    if lines.is_empty() {
        return out;
    }

    let header = lines.iter().enumerate().find_map(|(idx, (_, line))| {
        DELIMITERS.iter().find_map(|&d| {
            header_map(&split_fields(line, d).fields, schema).map(|map| (idx, d, map))
        })
    });
    let (header_idx, delim, mut map) = match header {
        Some((idx, d, map)) => (Some(idx), d, map),
        None => (None, pick_delimiter(&lines, n), (0..n).collect()),
    };

    let mut items: Vec<(usize, &str, LineKind)> = Vec::new();
    for (idx, &(line_no, line)) in lines.iter().enumerate() {
        if Some(idx) == header_idx {
            continue;
        }
        let Split {
            mut fields,
            open_quote,
        } = split_fields(line, delim);
        if header_idx.is_some()
            && let Some(again) = header_map(&fields, schema)
        {
            map = again;
            continue;
        }
        let expected = map.len();
        if fields.len() == expected + 1 && fields.last().is_some_and(|f| f.text.trim().is_empty()) {
            fields.pop();
        }
        let is_last = Some(line_no) == last_nonblank;
        let prose = looks_like_prose(line, &fields, expected, schema);
        let kind = if fields.len() == expected {
            let mut cells = vec![String::new(); n];
            for (field, &column) in fields.iter().zip(&map) {
                cells[column] = clean_cell(&schema.columns()[column], &field.text, field.quoted);
            }
            match schema.validate_cells(&cells) {
                _ if is_last && open_quote => LineKind::Cut,
                Ok(()) => LineKind::Row(cells),
                Err(_) if prose => LineKind::Prose,
                Err(failed) => LineKind::Invalid(join_reasons(&failed)),
            }
        } else if prose {
            LineKind::Prose
        } else if is_last && (open_quote || fields.len() < expected) {
            LineKind::Cut
        } else {
            LineKind::WrongCount(expected, fields.len())
        };
        items.push((line_no, line, kind));
    }

    let is_data = |kind: &LineKind| !matches!(kind, LineKind::Prose);
    let Some(first) = items.iter().position(|(_, _, k)| is_data(k)) else {
        // No data at all: say so once, if there was anything to say it about.
        if let Some(&(line_no, _, _)) = items.first() {
            let prose: Vec<&str> = items.iter().map(|(_, l, _)| l.trim()).collect();
            let prose = prose.join(" ");
            let lower = prose.to_lowercase();
            let reason = if REFUSAL_WORDS.iter().any(|w| lower.contains(w)) {
                "the answer has no data rows (it looks like a refusal)"
            } else {
                "the answer has no data rows"
            };
            out.rejected.push(rejection(line_no, &prose, reason));
        }
        return out;
    };
    let last = items
        .iter()
        .rposition(|(_, _, k)| is_data(k))
        .unwrap_or(first);
    for (i, (line_no, line, kind)) in items.into_iter().enumerate() {
        match kind {
            LineKind::Row(cells) => out.rows.push(cells),
            LineKind::Invalid(reason) => out.rejected.push(rejection(line_no, line, reason)),
            LineKind::WrongCount(expected, found) => out.rejected.push(rejection(
                line_no,
                line,
                format!("expected {expected} fields, found {found}"),
            )),
            LineKind::Cut => {
                out.truncated = true;
                out.rejected.push(rejection(line_no, line, TRUNCATED));
            }
            LineKind::Prose if i > first && i < last => {
                out.rejected.push(rejection(line_no, line, NOT_A_DATA_ROW));
            }
            LineKind::Prose => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON

fn parse_json(answer: &str, schema: &Schema) -> ParsedAnswer {
    let mut out = ParsedAnswer::default();
    if answer.trim().is_empty() {
        return out;
    }
    let body = answer
        .lines()
        .filter(|l| !is_fence(l.trim()))
        .collect::<Vec<_>>()
        .join("\n");
    let Some(start) = body.find(['[', '{']) else {
        out.rejected.push(rejection(0, answer, NOT_JSON));
        return out;
    };
    let text = &body[start..];

    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut values = Vec::new();
    let mut failed = false;
    let mut end = 0;
    loop {
        match stream.next() {
            Some(Ok(value)) => {
                values.push(value);
                end = stream.byte_offset();
            }
            Some(Err(_)) => {
                failed = true;
                break;
            }
            None => break,
        }
    }
    // Whole values, possibly followed by prose without objects: read them as they are.
    let clean_tail = !failed || (!values.is_empty() && !text[end..].contains('{'));
    if clean_tail && !values.is_empty() {
        for value in values {
            json_value(&mut out, schema, value);
        }
    } else if !salvage_objects(&mut out, schema, text) {
        out.rejected.push(rejection(0, answer, NOT_JSON));
    }
    out
}

/// Files the rows of one parsed JSON value (an array of rows, a wrapper object, or a row).
fn json_value(out: &mut ParsedAnswer, schema: &Schema, value: Value) {
    match value {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_scalar) => {
            positional_row(out, schema, &items);
        }
        Value::Array(items) => json_items(out, schema, items),
        Value::Object(mut map) => {
            let is_row = map.keys().any(|k| column_index(schema, k.trim()).is_some());
            let wrapped = if is_row {
                None
            } else {
                ["rows", "data", "records", "patients"]
                    .iter()
                    .find_map(|k| map.get(*k).filter(|v| v.is_array()).map(|_| k.to_string()))
                    .or_else(|| {
                        map.iter()
                            .find(|(_, v)| v.is_array())
                            .map(|(k, _)| k.clone())
                    })
            };
            match wrapped.and_then(|k| map.remove(&k)) {
                Some(Value::Array(items)) => json_items(out, schema, items),
                _ => object_row(out, schema, &map),
            }
        }
        other => out
            .rejected
            .push(rejection(0, &other.to_string(), "not a JSON object")),
    }
}

/// Files the items of a JSON array of rows (objects, or arrays of values in column order).
fn json_items(out: &mut ParsedAnswer, schema: &Schema, items: Vec<Value>) {
    for item in items {
        match item {
            Value::Object(map) => object_row(out, schema, &map),
            Value::Array(values) if values.iter().all(is_scalar) => {
                positional_row(out, schema, &values);
            }
            other => out
                .rejected
                .push(rejection(0, &other.to_string(), "not a JSON object")),
        }
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

/// The cell text of a JSON value in column `spec`.
fn json_cell(spec: &ColumnSpec, value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) if spec.kind == ColumnKind::Binary => if *b { "1" } else { "0" }.to_string(),
        Value::Bool(b) => clean_cell(spec, &b.to_string(), false),
        Value::Number(x) => clean_cell(spec, &x.to_string(), false),
        Value::String(s) => clean_cell(spec, s, true),
        other => other.to_string(),
    }
}

/// Files one JSON object as a row (keys matched to columns by name).
fn object_row(out: &mut ParsedAnswer, schema: &Schema, map: &Map<String, Value>) {
    let text = serde_json::to_string(map).unwrap_or_default();
    let columns = schema.columns();
    let mut cells = vec![String::new(); columns.len()];
    let mut matched = false;
    let mut exact = vec![false; columns.len()];
    for (key, value) in map {
        let key = key.trim();
        let Some(column) = column_index(schema, key) else {
            continue;
        };
        // An exact key wins over a case-insensitive one for the same column.
        let is_exact = columns[column].name == key;
        if exact[column] && !is_exact {
            continue;
        }
        exact[column] |= is_exact;
        matched = true;
        cells[column] = json_cell(&columns[column], value);
    }
    if !matched {
        out.rejected.push(rejection(
            0,
            &text,
            "the object has none of the schema's columns",
        ));
        return;
    }
    accept(out, schema, cells, 0, &text);
}

/// Files a JSON array of values as a row in schema column order.
fn positional_row(out: &mut ParsedAnswer, schema: &Schema, values: &[Value]) {
    let text = Value::Array(values.to_vec()).to_string();
    let columns = schema.columns();
    if values.len() != columns.len() {
        out.rejected.push(rejection(
            0,
            &text,
            format!("expected {} values, found {}", columns.len(), values.len()),
        ));
        return;
    }
    let cells = columns
        .iter()
        .zip(values)
        .map(|(spec, v)| json_cell(spec, v))
        .collect();
    accept(out, schema, cells, 0, &text);
}

/// Recovers rows from JSON that does not parse as a whole: every complete innermost object is
/// parsed on its own; an object left open at the end is the cut-off last row. Returns whether
/// any object was found.
fn salvage_objects(out: &mut ParsedAnswer, schema: &Schema, text: &str) -> bool {
    struct Frame {
        open: u8,
        start: usize,
        has_child_object: bool,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut found = false;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' if !stack.is_empty() => in_string = true,
            b'{' | b'[' => stack.push(Frame {
                open: b,
                start: i,
                has_child_object: false,
            }),
            b'}' | b']' => {
                let want = if b == b'}' { b'{' } else { b'[' };
                let Some(pos) = stack.iter().rposition(|f| f.open == want) else {
                    continue;
                };
                stack.truncate(pos + 1);
                let Some(frame) = stack.pop() else { continue };
                if b == b'}' {
                    if !frame.has_child_object {
                        found = true;
                        salvaged_object(out, schema, &text[frame.start..=i]);
                    }
                    if let Some(parent) = stack.iter_mut().rev().find(|f| f.open == b'{') {
                        parent.has_child_object = true;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(top) = stack.last()
        && top.open == b'{'
        && !top.has_child_object
    {
        found = true;
        out.truncated = true;
        out.rejected
            .push(rejection(0, &text[top.start..], TRUNCATED));
    } else if found && !stack.is_empty() {
        // Cut off between rows: nothing partial to reject, but the answer is incomplete.
        out.truncated = true;
    }
    found
}

/// Parses one recovered object and files it.
fn salvaged_object(out: &mut ParsedAnswer, schema: &Schema, text: &str) {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => object_row(out, schema, &map),
        Ok(other) => out
            .rejected
            .push(rejection(0, &other.to_string(), "not a JSON object")),
        Err(e) => out
            .rejected
            .push(rejection(0, text, format!("not valid JSON ({e})"))),
    }
}

#[cfg(test)]
mod tests;
